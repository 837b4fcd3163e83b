/* config.c - the configuration model: names of its enums, lookups, and
 * freeing.  Reading it is config-load.c and the modules it names
 * (config-parser.h). */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "config-parser.h"
#include "strtable.h"

static const char *const auth_method_table[] = {
	[AUTH_AKSK] = "aksk",
	[AUTH_PASSWORD] = "password",
	[AUTH_TOKEN] = "token",
	[AUTH_ECS] = "ecs",
	[AUTH_AGENCY] = "agency",
};
STRING_TABLE_TO_STRING(auth_method, enum auth_method, "unknown")
STRING_TABLE_FROM_STRING(auth_method)

int agency_base_from_string(const char *s)
{
	int m = auth_method_from_string(s);

	return m == AUTH_AKSK || m == AUTH_ECS ? m : -EINVAL;
}

static const char *const agency_api_table[] = {
	[AGENCY_API_STS] = "sts",
	[AGENCY_API_IAM] = "iam",
};
STRING_TABLE_TO_STRING(agency_api, enum agency_api, "unknown")
STRING_TABLE_FROM_STRING(agency_api)

void agency_settings_free(struct agency_settings *s)
{
	free(s->name);
	free(s->account_id);
	free(s->domain);
	free(s->session_name);
	free(s->external_id_file);
	*s = (struct agency_settings) {};
}

static int copy_optional(const char *s, char **ret)
{
	*ret = NULL;
	return s && !(*ret = strdup(s)) ? -ENOMEM : 0;
}

int agency_settings_copy(const struct agency_settings *src, struct agency_settings *dst)
{
	*dst = (struct agency_settings) { .api = src->api, .duration_usec = src->duration_usec };
	if (copy_optional(src->name, &dst->name) < 0 ||
	    copy_optional(src->account_id, &dst->account_id) < 0 ||
	    copy_optional(src->domain, &dst->domain) < 0 ||
	    copy_optional(src->session_name, &dst->session_name) < 0 ||
	    copy_optional(src->external_id_file, &dst->external_id_file) < 0) {
		agency_settings_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static const char *const observe_mode_table[] = {
	[OBSERVE_AUTO] = "auto",
	[OBSERVE_RESOURCE_INSTANCES] = "resource_instances",
	[OBSERVE_LIST_SECRETS] = "list_secrets",
};
STRING_TABLE_TO_STRING(observe_mode, enum observe_mode, "unknown")
STRING_TABLE_FROM_STRING(observe_mode)

void config_free(struct config *c)
{
	if (!c)
		return;
	if (c->parent) {
		cfg_view_free(c);
		return;
	}
	free(c->path);
	cfg_strv_free(c->files, c->n_files);
	free(c->csms.region);
	free(c->csms.project_id);
	free(c->csms.endpoint);
	free(c->csms.iam_endpoint);
	free(c->csms.metadata_endpoint);
	free(c->csms.sts_endpoint);
	free(c->csms.organizations_endpoint);
	free(c->csms.ca_file);
	free(c->csms.account_id);
	free(c->csms.account_name);
	free(c->csms.target_name);
	free(c->auth.access_key_file);
	free(c->auth.secret_key_file);
	free(c->auth.security_token_file);
	free(c->auth.password_file);
	free(c->auth.token_file);
	free(c->auth.user);
	free(c->auth.domain);
	agency_settings_free(&c->auth.agency);
	cfg_strv_free(c->daemon.protect, c->daemon.n_protect);
	free(c->daemon.metrics_file);
	for (size_t i = 0; i < c->n_sections; i++) {
		struct section *s = &c->sections[i];

		for (size_t j = 0; j < s->n_rules; j++) {
			free(s->rules[j].key);
			cfg_strv_free(s->rules[j].values, s->rules[j].n_values);
		}
		free(s->rules);
		free(s->pattern);
		cfg_strv_free(s->required, s->n_required);
		scope_clear(&s->scope);
	}
	free(c->sections);
	for (size_t i = 0; i < c->n_exemptions; i++) {
		struct exemption *e = &c->exemptions[i];

		free(e->name);
		free(e->secret);
		free(e->key);
		free(e->value);
		free(e->reason);
		scope_clear(&e->scope);
	}
	free(c->exemptions);
	for (size_t i = 0; i < c->n_targets; i++)
		target_clear(&c->targets[i]);
	free(c->targets);
	cfg_strv_free(c->discover.regions, c->discover.n_regions);
	cfg_strv_free(c->discover.accounts, c->discover.n_accounts);
	free(c->daemon.state_directory);
	free(c);
}

/* ---- lookups ------------------------------------------------------------- */

const struct section *config_section_for(const struct config *c, const char *secret_name)
{
	for (size_t i = 0; i < c->n_sections; i++)
		if (!c->sections[i].is_glob && strcmp(c->sections[i].pattern, secret_name) == 0)
			return &c->sections[i];
	/* Flags 0: a secret name is a flat string, '*' matches '/' and '.'. */
	for (size_t i = 0; i < c->n_sections; i++)
		if (c->sections[i].is_glob && fnmatch(c->sections[i].pattern, secret_name, 0) == 0)
			return &c->sections[i];
	return NULL;
}

uint64_t config_grace_for(const struct config *c, const struct section *section)
{
	return section && section->has_grace ? section->grace_usec : c->daemon.grace_usec;
}

bool config_uses_grace(const struct config *c)
{
	if (c->daemon.grace_usec > 0)
		return true;
	for (size_t i = 0; i < c->n_sections; i++)
		if (c->sections[i].has_grace && c->sections[i].grace_usec > 0)
			return true;
	return false;
}

const char *config_file_name(const struct config *c, unsigned file)
{
	return file < c->n_files ? c->files[file] : (c->path ? c->path : "");
}
