/* config-settings.c - [csms], [auth] and [daemon]: the table of settings,
 * their values, and the checks of the settings as a whole.  A setting may
 * be set again by a later file (config.h). */
#include "config-parser.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credentials.h"
#include "strtable.h"
#include "values.h"

static const char *const section_kind_table[N_NAMED_SECTIONS] = {
	[SECTION_CSMS] = "csms",
	[SECTION_AUTH] = "auth",
	[SECTION_DAEMON] = "daemon",
};
static STRING_TABLE_FROM_STRING(section_kind)

#define M(method) (1u << (method))

enum file_kind {
	FILE_NONE,
	FILE_CREDENTIAL,        /* a secret: credentials.c finds and judges it */
	FILE_PUBLIC,            /* ca_file: only needs to be a readable file */
};

struct setting {
	enum section_kind section;
	const char *key;
	int (*parse)(struct parser *p, const struct setting *s, const char *value);
	size_t offset;          /* of the field in struct config */
	uint64_t min, max;      /* numbers and time spans */
	unsigned methods;       /* [auth]: the methods that use the key */
	unsigned required;      /* [auth]: the methods that need it */
	enum file_kind file;
	int (*from_string)(const char *s);     /* parse_enum: the names */
	const char *choices;                    /* parse_enum: the names, for messages */
	bool region_template;   /* parse_url: may hold "{region}" */
};

#define FIELD(p, s, type) ((type *) (void *) ((char *) (p)->c + (s)->offset))

static int set_string(struct parser *p, const struct setting *s, char *value)
{
	char **field = FIELD(p, s, char *);

	if (!value)
		return cfg_fail_oom(p);
	free(*field);
	*field = value;
	return 0;
}

static int parse_text_value(struct parser *p, const struct setting *s, const char *value)
{
	if (!*value)
		return cfg_fail(p, p->line, "%s is empty", s->key);
	if (has_control(value))
		return cfg_fail(p, p->line, "%s: control characters are not allowed", s->key);
	return set_string(p, s, strdup(value));
}

static int dup_value(struct parser *p, const char *value, char **ret)
{
	*ret = strdup(value);
	return *ret ? 0 : cfg_fail_oom(p);
}

int cfg_region(struct parser *p, unsigned line, const char *value, char **ret)
{
	QUOTED(q);

	/* It becomes part of host names. */
	if (!*value || strlen(value) > 63 || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(value))
		return cfg_fail(p, line, "region '%s' is not a region name (like cn-north-4: a-z, 0-9 and '-')",
		                cfg_quote(&q, value));
	return dup_value(p, value, ret);
}

static int parse_region(struct parser *p, const struct setting *s, const char *value)
{
	char *v;
	int r = cfg_region(p, p->line, value, &v);

	return r < 0 ? r : set_string(p, s, v);
}

int cfg_project_id(struct parser *p, const char *value, char **ret)
{
	static const char allowed[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
	QUOTED(q);

	/* It becomes a path segment of every request. */
	if (!*value || strlen(value) > 64 || strspn(value, allowed) != strlen(value))
		return cfg_fail(p, p->line, "project_id '%s' is not a project id (1 to 64 of A-Z, a-z, 0-9, '_', '-')",
		                cfg_quote(&q, value));
	return dup_value(p, value, ret);
}

static int parse_project_id(struct parser *p, const struct setting *s, const char *value)
{
	char *v;
	int r = cfg_project_id(p, value, &v);

	return r < 0 ? r : set_string(p, s, v);
}

static int parse_url(struct parser *p, const struct setting *s, const char *value)
{
	char *url = NULL;
	QUOTED(q);
	int r;

	if (!s->region_template && strstr(value, ENDPOINT_REGION))
		return cfg_fail(p, p->line, "%s: %s is replaced in endpoint, iam_endpoint and sts_endpoint only",
		                s->key, ENDPOINT_REGION);
	r = (s->region_template ? endpoint_template_normalize : endpoint_normalize)(value, &url);
	if (r == -ENOMEM)
		return cfg_fail_oom(p);
	if (r < 0)
		return cfg_fail(p, p->line, "%s '%s' is not an http:// or https:// URL without a path "
		                "(like https://kms.cn-north-4.myhuaweicloud.com)", s->key, cfg_quote(&q, value));
	return set_string(p, s, url);
}

static int parse_absolute_path(struct parser *p, const struct setting *s, const char *value)
{
	QUOTED(q);

	if (value[0] != '/' || has_control(value))
		return cfg_fail(p, p->line, "%s '%s' is not an absolute path", s->key, cfg_quote(&q, value));
	return set_string(p, s, strdup(value));
}

/* node_exporter's textfile collector reads only "*.prom" files, and the
 * file is written (atomically) by the daemon, not read: no file check. */
static int parse_metrics_path(struct parser *p, const struct setting *s, const char *value)
{
	size_t len = strlen(value);
	QUOTED(q);

	if (len < 6 || strcmp(value + len - 5, ".prom") != 0 || value[len - 6] == '/')
		return cfg_fail(p, p->line, "%s '%s' must name a file ending in .prom (node_exporter's "
		                "textfile collector reads only those)", s->key, cfg_quote(&q, value));
	return parse_absolute_path(p, s, value);
}

/* Stored as the path it stands for, resolved once, by credentials.c. */
static int parse_credential_name(struct parser *p, const struct setting *s, const char *value)
{
	char *path = NULL, *error = NULL;
	int r;

	if (!*value)
		return cfg_fail(p, p->line, "%s is empty", s->key);
	r = credential_resolve(s->key, value, &path, &error);
	if (r == -ENOMEM)
		return cfg_fail_oom(p);
	if (r < 0) {
		r = cfg_fail(p, p->line, "%s", error);
		free(error);
		return r;
	}
	return set_string(p, s, path);
}

/* A name of an enum (auth method, observe mode): its _from_string(). */
static int parse_enum(struct parser *p, const struct setting *s, const char *value)
{
	int v = s->from_string(value);
	QUOTED(q);

	if (v < 0)
		return cfg_fail(p, p->line, "%s '%s' is not one of %s", s->key, cfg_quote(&q, value), s->choices);
	*FIELD(p, s, int) = v;
	return 0;
}
_Static_assert(sizeof(enum auth_method) == sizeof(int) && sizeof(enum observe_mode) == sizeof(int) &&
               sizeof(enum agency_api) == sizeof(int),
               "parse_enum() stores an enum setting as an int");

int cfg_timespan(struct parser *p, const char *key, const char *value, uint64_t min, uint64_t max,
                 uint64_t *ret)
{
	char lo[32], hi[32];
	uint64_t v;
	QUOTED(q);

	if (parse_timespan(value, &v) < 0)
		return cfg_fail(p, p->line, "%s '%s' is not a time span (like 30s, 5min, 1h 30min, 250ms)",
		                key, cfg_quote(&q, value));
	if (v < min || v > max)
		return cfg_fail(p, p->line, "%s '%s' is out of range (%s to %s)", key, cfg_quote(&q, value),
		                min ? format_timespan(lo, sizeof(lo), min) : "0",
		                format_timespan(hi, sizeof(hi), max));
	*ret = v;
	return 0;
}

static int parse_timespan_value(struct parser *p, const struct setting *s, const char *value)
{
	return cfg_timespan(p, s->key, value, s->min, s->max, FIELD(p, s, uint64_t));
}

static int parse_unsigned(struct parser *p, const struct setting *s, const char *value)
{
	uint64_t v;
	QUOTED(q);

	if (parse_uint64(value, &v) < 0 || v < s->min || v > s->max)
		return cfg_fail(p, p->line, "%s '%s' is not a whole number from %" PRIu64 " to %" PRIu64,
		                s->key, cfg_quote(&q, value), s->min, s->max);
	*FIELD(p, s, unsigned) = (unsigned) v;
	return 0;
}

static int parse_rate(struct parser *p, const struct setting *s, const char *value)
{
	double v;
	QUOTED(q);

	if (parse_decimal(value, &v) < 0 || v > (double) s->max)
		return cfg_fail(p, p->line, "%s '%s' is not a number from 0 to %" PRIu64 " (0: unlimited)",
		                s->key, cfg_quote(&q, value), s->max);
	*FIELD(p, s, double) = v;
	return 0;
}

static int parse_bool(struct parser *p, const struct setting *s, const char *value)
{
	int b = parse_boolean(value);
	QUOTED(q);

	if (b < 0)
		return cfg_fail(p, p->line, "%s '%s' is not a boolean (yes, no, true, false, 1, 0)",
		                s->key, cfg_quote(&q, value));
	*FIELD(p, s, bool) = b;
	return 0;
}

static int parse_protect(struct parser *p, const struct setting *s, const char *value)
{
	p->list = LIST_PROTECT;
	p->list_key = s->key;
	return cfg_list_add_line(p, value, false);
}

int cfg_protect_add(struct parser *p, unsigned line, const char *raw)
{
	struct daemon_settings *d = &p->c->daemon;
	char *glob;
	int r;

	r = cfg_decode_list_key(p, line, "protect key glob", raw, true, &glob);
	if (r < 0)
		return r;
	if (cfg_strv_push(&d->protect, &d->n_protect, glob) < 0) {
		free(glob);
		return cfg_fail_oom(p);
	}
	return 0;
}

/* Agency, account and session names go into JSON bodies and an agency
 * URN "iam::ACCOUNT:agency:NAME": the character set of IAM names (1 to 64
 * of A-Z a-z 0-9 _ + = , . @ -), at least S->min long. */
int cfg_iam_name(struct parser *p, const char *key, const char *value, size_t min, char **ret)
{
	static const char allowed[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+=,.@-";
	size_t len = strlen(value);
	QUOTED(q);

	if (len < min || len > 64 || strspn(value, allowed) != len)
		return cfg_fail(p, p->line, "%s '%s' is not a name (%zu to 64 of A-Z, a-z, 0-9, _+=,.@-)",
		                key, cfg_quote(&q, value), min);
	return dup_value(p, value, ret);
}

static int parse_agency_name(struct parser *p, const struct setting *s, const char *value)
{
	char *v;
	int r = cfg_iam_name(p, s->key, value, s->min ? s->min : 1, &v);

	return r < 0 ? r : set_string(p, s, v);
}

/* An account (domain) id: 32 hex digits on Huawei Cloud; accept 1 to 64
 * of a-z A-Z 0-9, which keeps the URN's ':' structure intact. */
int cfg_account_id(struct parser *p, const char *key, const char *value, char **ret)
{
	static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t len = strlen(value);
	QUOTED(q);

	if (len < 1 || len > 64 || strspn(value, allowed) != len)
		return cfg_fail(p, p->line, "%s '%s' is not an account id (like 0b1f...: 1 to 64 of "
		                "A-Z, a-z, 0-9)", key, cfg_quote(&q, value));
	return dup_value(p, value, ret);
}

static int parse_account_id(struct parser *p, const struct setting *s, const char *value)
{
	char *v;
	int r = cfg_account_id(p, s->key, value, &v);

	return r < 0 ? r : set_string(p, s, v);
}

#define CSMS(name, field) \
	.section = SECTION_CSMS, .key = name, .offset = offsetof(struct config, csms.field)
#define AUTH(name, field) \
	.section = SECTION_AUTH, .key = name, .offset = offsetof(struct config, auth.field)
#define DAEMON(name, field) \
	.section = SECTION_DAEMON, .key = name, .offset = offsetof(struct config, daemon.field)
#define DAYS_365 (365 * USEC_PER_DAY)

static const struct setting settings[] = {
	{ CSMS("region", region), .parse = parse_region },
	{ CSMS("project_id", project_id), .parse = parse_project_id },
	{ CSMS("endpoint", endpoint), .parse = parse_url, .region_template = true },
	{ CSMS("iam_endpoint", iam_endpoint), .parse = parse_url, .region_template = true },
	{ CSMS("metadata_endpoint", metadata_endpoint), .parse = parse_url },
	{ CSMS("sts_endpoint", sts_endpoint), .parse = parse_url, .region_template = true },
	{ CSMS("organizations_endpoint", organizations_endpoint), .parse = parse_url },
	{ CSMS("ca_file", ca_file), .parse = parse_absolute_path, .file = FILE_PUBLIC },

	{ AUTH("method", method), .parse = parse_enum, .from_string = auth_method_from_string,
	  .choices = "aksk, password, token, ecs, agency" },
	/* With method agency, the AK/SK files are the base identity's (base aksk). */
	{ AUTH("access_key_file", access_key_file), .parse = parse_credential_name,
	  .methods = M(AUTH_AKSK) | M(AUTH_AGENCY), .required = M(AUTH_AKSK), .file = FILE_CREDENTIAL },
	{ AUTH("secret_key_file", secret_key_file), .parse = parse_credential_name,
	  .methods = M(AUTH_AKSK) | M(AUTH_AGENCY), .required = M(AUTH_AKSK), .file = FILE_CREDENTIAL },
	{ AUTH("security_token_file", security_token_file), .parse = parse_credential_name,
	  .methods = M(AUTH_AKSK) | M(AUTH_AGENCY), .file = FILE_CREDENTIAL },
	{ AUTH("user", user), .parse = parse_text_value,
	  .methods = M(AUTH_PASSWORD), .required = M(AUTH_PASSWORD) },
	{ AUTH("domain", domain), .parse = parse_text_value,
	  .methods = M(AUTH_PASSWORD), .required = M(AUTH_PASSWORD) },
	{ AUTH("password_file", password_file), .parse = parse_credential_name,
	  .methods = M(AUTH_PASSWORD), .required = M(AUTH_PASSWORD), .file = FILE_CREDENTIAL },
	{ AUTH("token_file", token_file), .parse = parse_credential_name,
	  .methods = M(AUTH_TOKEN), .required = M(AUTH_TOKEN), .file = FILE_CREDENTIAL },
	{ AUTH("base", base), .parse = parse_enum, .from_string = agency_base_from_string,
	  .choices = "aksk, ecs", .methods = M(AUTH_AGENCY) },
	{ AUTH("api", agency.api), .parse = parse_enum, .from_string = agency_api_from_string,
	  .choices = "sts, iam", .methods = M(AUTH_AGENCY) },
	{ AUTH("agency_name", agency.name), .parse = parse_agency_name,
	  .methods = M(AUTH_AGENCY), .required = M(AUTH_AGENCY) },
	{ AUTH("agency_account_id", agency.account_id), .parse = parse_account_id,
	  .methods = M(AUTH_AGENCY) },
	{ AUTH("agency_domain", agency.domain), .parse = parse_agency_name,
	  .methods = M(AUTH_AGENCY) },
	{ AUTH("agency_session_name", agency.session_name), .parse = parse_agency_name,
	  .min = 2, .methods = M(AUTH_AGENCY) },
	{ AUTH("agency_duration", agency.duration_usec), .parse = parse_timespan_value,
	  .min = AGENCY_DURATION_MIN, .max = AGENCY_DURATION_MAX_IAM, .methods = M(AUTH_AGENCY) },
	{ AUTH("external_id_file", agency.external_id_file), .parse = parse_credential_name,
	  .methods = M(AUTH_AGENCY), .file = FILE_CREDENTIAL },

	{ DAEMON("interval", interval_usec), .parse = parse_timespan_value,
	  .min = USEC_PER_SEC, .max = DAYS_365 },
	{ DAEMON("jitter", jitter_usec), .parse = parse_timespan_value, .max = DAYS_365 },
	{ DAEMON("request_timeout", request_timeout_usec), .parse = parse_timespan_value,
	  .min = USEC_PER_MSEC, .max = 24 * USEC_PER_HOUR },
	{ DAEMON("pass_timeout", pass_timeout_usec), .parse = parse_timespan_value,
	  .min = USEC_PER_SEC, .max = DAYS_365 },
	{ DAEMON("dry_run", dry_run), .parse = parse_bool },
	{ DAEMON("max_deletes_per_pass", max_deletes_per_pass), .parse = parse_unsigned, .max = 1000000 },
	{ DAEMON("max_parallel_requests", max_parallel_requests), .parse = parse_unsigned,
	  .min = 1, .max = 256 },
	{ DAEMON("max_requests_per_second", max_requests_per_second), .parse = parse_rate, .max = 100000 },
	{ DAEMON("total_requests_per_second", total_requests_per_second), .parse = parse_rate, .max = 100000 },
	{ DAEMON("max_parallel_targets", max_parallel_targets), .parse = parse_unsigned,
	  .min = 1, .max = 1024 },
	{ DAEMON("observe", observe), .parse = parse_enum, .from_string = observe_mode_from_string,
	  .choices = "auto, resource_instances, list_secrets" },
	{ DAEMON("protect", protect), .parse = parse_protect },
	{ DAEMON("grace", grace_usec), .parse = parse_timespan_value, .max = DAYS_365 },
	{ DAEMON("state_directory", state_directory), .parse = parse_absolute_path },
	{ DAEMON("metrics_file", metrics_file), .parse = parse_metrics_path },
};

const size_t cfg_n_settings = ELEMENTSOF(settings);

static int find_setting(enum section_kind section, const char *key)
{
	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if (settings[i].section == section && strcmp(settings[i].key, key) == 0)
			return (int) i;
	return -ENOENT;
}

int cfg_set_setting(struct parser *p, const char *key, const char *value)
{
	const char *section = section_kind_table[p->section];
	int i = find_setting(p->section, key);
	QUOTED(q);

	if (i < 0)
		return cfg_fail(p, p->line, "unknown key '%s' in [%s]", cfg_quote(&q, key), section);
	if (p->setting_line[i] && p->setting_file[i] == p->file)
		return cfg_fail(p, p->line, "duplicate key '%s' in [%s] (first at line %u)",
		                key, section, p->setting_line[i]);
	if (p->setting_line[i] && settings[i].parse == parse_protect) {
		/* Set again by a later file: its list replaces the earlier one. */
		cfg_strv_free(p->c->daemon.protect, p->c->daemon.n_protect);
		p->c->daemon.protect = NULL;
		p->c->daemon.n_protect = 0;
	}
	p->setting_line[i] = p->line;
	p->setting_file[i] = p->file;
	p->list_key = settings[i].key;
	return settings[i].parse(p, &settings[i], value);
}

int cfg_enter_named_section(struct parser *p, const char *word)
{
	int i = section_kind_from_string(word);

	if (i < 0)
		return -ENOENT;
	if (p->section_line[i] && p->section_file[i] == p->file)
		return cfg_fail(p, p->line, "duplicate section [%s] (first at line %u)",
		                word, p->section_line[i]);
	p->section_line[i] = p->line;
	p->section_file[i] = p->file;
	p->section = (enum section_kind) i;
	return 0;
}

void cfg_set_defaults(struct config *c)
{
	c->daemon = (struct daemon_settings) {
		.interval_usec = 5 * USEC_PER_MIN,
		.jitter_usec = 30 * USEC_PER_SEC,
		.request_timeout_usec = 30 * USEC_PER_SEC,
		.pass_timeout_usec = 10 * USEC_PER_MIN,
		.dry_run = false,
		.max_deletes_per_pass = 50,
		.max_parallel_requests = 8,
		.max_requests_per_second = 10,
		.total_requests_per_second = 0,
		.max_parallel_targets = 8,
		.observe = OBSERVE_AUTO,
	};
	c->auth.base = AUTH_AKSK;
	c->auth.agency.api = AGENCY_API_STS;
	c->auth.agency.duration_usec = AGENCY_DURATION_DEFAULT;
}

/* ---- checks of the settings as a whole ------------------------------------ */

/* The setting with the lowest line after AFTER, or -1: checks of the whole
 * file go in file order, so the first error reported is the first one. */
static uint64_t setting_position(const struct parser *p, size_t i)
{
	return (uint64_t) p->setting_file[i] << 32 | p->setting_line[i];
}

/* The set setting next in file order after the one at index AFTER (-1:
 * the first), or -1: checks of the whole configuration go in file order,
 * so the first error reported is the first one. */
static int next_setting(const struct parser *p, int after)
{
	uint64_t from = after < 0 ? 0 : setting_position(p, (size_t) after);
	int best = -1;

	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if (p->setting_line[i] && setting_position(p, i) > from &&
		    (best < 0 || setting_position(p, i) < setting_position(p, (size_t) best)))
			best = (int) i;
	return best;
}

/* The line of a setting, 0 when unset; messages are about its file from
 * now on. */
static unsigned setting_line(struct parser *p, enum section_kind section, const char *key)
{
	int i = find_setting(section, key);

	if (i < 0 || !p->setting_line[i])
		return 0;
	cfg_in_file(p, p->setting_file[i]);
	return p->setting_line[i];
}

/* The line of a [csms], [auth] or [daemon] header, 0 when absent; messages
 * are about its file (the main file when absent) from now on. */
static unsigned section_header_line(struct parser *p, enum section_kind section)
{
	cfg_in_file(p, p->section_line[section] ? p->section_file[section] : 0);
	return p->section_line[section];
}

/* An endpoint default or template with the region put in: the effective
 * endpoint of the one target. */
static int expand_region(struct parser *p, char **endpoint, const char *region)
{
	char *expanded;

	if (endpoint_expand(*endpoint, region, &expanded) < 0)
		return cfg_fail_oom(p);
	free(*endpoint);
	*endpoint = expanded;
	return 0;
}

/* Defaults of the endpoints that are not set; "{region}" stays in those
 * that take it. */
static int default_endpoints(struct parser *p)
{
	struct csms_settings *cs = &p->c->csms;

	/* CSMS is served by the KMS host name. */
	if (!cs->endpoint)
		cs->endpoint = strdup("https://kms." ENDPOINT_REGION ".myhuaweicloud.com");
	if (!cs->iam_endpoint)
		cs->iam_endpoint = strdup("https://iam." ENDPOINT_REGION ".myhuaweicloud.com");
	if (!cs->metadata_endpoint)
		cs->metadata_endpoint = strdup("http://169.254.169.254");
	if (!cs->sts_endpoint)
		cs->sts_endpoint = strdup("https://sts." ENDPOINT_REGION ".myhuaweicloud.com");
	if (!cs->organizations_endpoint)
		cs->organizations_endpoint = strdup("https://organizations.myhuaweicloud.com");
	if (!cs->endpoint || !cs->iam_endpoint || !cs->metadata_endpoint || !cs->sts_endpoint ||
	    !cs->organizations_endpoint)
		return cfg_fail_oom(p);
	return 0;
}

/* In organisation mode every target has its own region and project: one
 * in [csms] would be a target the author did not declare as one. */
static int finish_csms_organisation(struct parser *p)
{
	static const char *const per_target[] = { "region", "project_id" };

	for (size_t i = 0; i < ELEMENTSOF(per_target); i++) {
		unsigned line = setting_line(p, SECTION_CSMS, per_target[i]);

		if (line)
			return cfg_fail(p, line, "%s is set per target ([target] or [discover]); remove it "
			                "from [csms]", per_target[i]);
	}
	return default_endpoints(p);
}

static int finish_csms(struct parser *p)
{
	struct csms_settings *cs = &p->c->csms;
	unsigned line;
	int r;

	if (p->c->organisation)
		return finish_csms_organisation(p);
	line = section_header_line(p, SECTION_CSMS);
	if (!cs->region)
		return cfg_fail(p, line, "[csms] region is required (like region = cn-north-4)");
	if (!cs->project_id)
		return cfg_fail(p, line, "[csms] project_id is required");
	if ((p->flags & CONFIG_REFUSE_PLACEHOLDER) && !cs->endpoint &&
	    streq_ptr(cs->project_id, CONFIG_PLACEHOLDER_PROJECT_ID))
		return cfg_fail(p, setting_line(p, SECTION_CSMS, "project_id"), "project_id %s is the placeholder "
		                "of the shipped file, not a project: set the id of the project whose secrets are "
		                "governed (IAM console, My Credentials, Projects)", cs->project_id);
	r = default_endpoints(p);
	/* One target: the endpoints are its own from the start. */
	if (r >= 0)
		r = expand_region(p, &cs->endpoint, cs->region);
	if (r >= 0)
		r = expand_region(p, &cs->iam_endpoint, cs->region);
	if (r >= 0)
		r = expand_region(p, &cs->sts_endpoint, cs->region);
	return r;
}

/* The agency method's settings as a whole: which keys the base identity
 * and the API need or exclude (the table's masks are per method). */
static int finish_agency(struct parser *p, unsigned method_line)
{
	const struct auth_settings *a = &p->c->auth;
	const struct agency_settings *g = &a->agency;
	unsigned line;

	if (a->base == AUTH_AKSK && (!a->access_key_file || !a->secret_key_file))
		return cfg_fail(p, method_line, "method agency with base aksk needs access_key_file and "
		                "secret_key_file in [auth] (the identity that assumes the agency)");
	if (a->base == AUTH_ECS && (line = setting_line(p, SECTION_AUTH, a->access_key_file ?
	                                                "access_key_file" : a->secret_key_file ?
	                                                "secret_key_file" : "security_token_file")))
		return cfg_fail(p, line, "base ecs takes its keys from the metadata service: remove the "
		                "key files");
	/* In organisation mode the base assumes the agency in each target's
	 * account: [target] account_id, or the member accounts discovered. */
	if (p->c->organisation && (line = setting_line(p, SECTION_AUTH, g->account_id ?
	                                               "agency_account_id" : "agency_domain")))
		return cfg_fail(p, line, "%s is not used with [target] or [discover] sections: the agency "
		                "is assumed in each target's account (its account_id)",
		                g->account_id ? "agency_account_id" : "agency_domain");
	if (!p->c->organisation && g->api == AGENCY_API_STS && !g->account_id)
		return cfg_fail(p, method_line, "method agency needs agency_account_id in [auth] (the "
		                "account that owns agency %s)", g->name);
	if (!p->c->organisation && g->api == AGENCY_API_IAM && !g->account_id && !g->domain)
		return cfg_fail(p, method_line, "method agency with api iam needs agency_account_id or "
		                "agency_domain in [auth]");
	if (g->api == AGENCY_API_STS && (line = setting_line(p, SECTION_AUTH, "agency_domain")))
		return cfg_fail(p, line, "agency_domain is used by api iam only; STS names the account "
		                "by agency_account_id");
	if (g->api == AGENCY_API_IAM && (line = setting_line(p, SECTION_AUTH, "external_id_file")))
		return cfg_fail(p, line, "external_id_file needs api sts: the IAM v3.0 call has no "
		                "external id");
	line = setting_line(p, SECTION_AUTH, "agency_duration");
	/* STS caps a session at 12 h, and at 1 h when the caller signs with
	 * temporary keys itself (ECS keys, or a security token). */
	if (g->api == AGENCY_API_STS && g->duration_usec > AGENCY_DURATION_MAX_STS)
		return cfg_fail(p, line, "agency_duration is at most 12h with api sts");
	if ((a->base == AUTH_ECS || a->security_token_file) &&
	    g->duration_usec > AGENCY_DURATION_MAX_CHAINED)
		return cfg_fail(p, line ? line : method_line, "agency_duration is at most 1h when the "
		                "base identity uses temporary keys (base ecs or security_token_file)");
	return 0;
}

static int finish_auth(struct parser *p)
{
	enum auth_method m = p->c->auth.method;
	unsigned method_line;

	if (!setting_line(p, SECTION_AUTH, "method"))
		return cfg_fail(p, section_header_line(p, SECTION_AUTH),
		                "[auth] method is required (aksk, password, token, ecs or agency)");
	/* A key the method ignores is a mistake that would otherwise go
	 * unnoticed until the credentials cfg_fail. */
	for (int i = next_setting(p, -1); i >= 0; i = next_setting(p, i))
		if (settings[i].methods && !(settings[i].methods & M(m))) {
			cfg_in_file(p, p->setting_file[i]);
			return cfg_fail(p, p->setting_line[i], "%s is not used by method %s",
			                settings[i].key, auth_method_to_string(m));
		}
	method_line = setting_line(p, SECTION_AUTH, "method");
	/* A password or token method yields one project-scoped token. */
	if (p->c->organisation && (m == AUTH_PASSWORD || m == AUTH_TOKEN))
		return cfg_fail(p, method_line, "method %s cannot be used with [target] or [discover] "
		                "sections: one token cannot serve many projects; use aksk, ecs or agency",
		                auth_method_to_string(m));
	for (size_t i = 0; i < ELEMENTSOF(settings); i++)
		if ((settings[i].required & M(m)) && !p->setting_line[i])
			return cfg_fail(p, method_line, "method %s needs %s in [auth]",
			                auth_method_to_string(m), settings[i].key);
	return m == AUTH_AGENCY ? finish_agency(p, method_line) : 0;
}

/* Shortest decimal of at least V with two significant digits, for a
 * minimum in a message: writing it must pass the check. */
static void format_minimum(char *buf, size_t size, double v)
{
	double scale = 1;

	for (int decimals = 0; decimals < 12; decimals++, scale *= 10) {
		double scaled = v * scale, up = (double) (uint64_t) scaled;

		if (up < scaled)
			up += 1;        /* round up: the minimum itself must pass */
		up /= scale;
		if (up <= v * 1.1 || decimals == 11) {
			snprintf(buf, size, "%.*f", decimals, up);
			return;
		}
	}
}

/* The rate paces every request of a pass, and pass_timeout ends a pass.  A
 * pass makes at least one listing request and, when it deletes, one
 * request per deletion, up to max_deletes_per_pass: a rate at which even
 * those cannot be made in pass_timeout means every pass that has work
 * times out - never what was meant (0.0000000001 is one request in 317
 * years).  The minimum is (1 + max_deletes_per_pass) / pass_timeout; 0.085
 * per second with the defaults. */
static int check_rate(struct parser *p)
{
	const struct daemon_settings *d = &p->c->daemon;
	double needed = 1.0 + d->max_deletes_per_pass;
	double seconds = (double) d->pass_timeout_usec / (double) USEC_PER_SEC;
	double minimum = needed / seconds;
	unsigned line;
	char min[32], timeout[32];

	cfg_in_file(p, 0);
	line = setting_line(p, SECTION_DAEMON, "max_requests_per_second");
	if (d->max_requests_per_second == 0 || d->max_requests_per_second >= minimum)
		return 0;
	if (!line)
		line = setting_line(p, SECTION_DAEMON, "max_deletes_per_pass");
	if (!line)
		line = setting_line(p, SECTION_DAEMON, "pass_timeout");
	format_minimum(min, sizeof(min), minimum);
	return cfg_fail(p, line, "max_requests_per_second is too low: a pass makes up to %.0f requests "
	                "(1 listing + max_deletes_per_pass), which must fit in pass_timeout %s; "
	                "write at least %s, or 0 for no limit", needed,
	                format_timespan(timeout, sizeof(timeout), d->pass_timeout_usec), min);
}

/* ca_file only needs to be a non-empty regular file: the TLS library reads
 * it.  Opened without blocking, like every file the config names. */
static int check_public_file(struct parser *p, const struct setting *s, unsigned line, const char *path)
{
	struct stat st;
	QUOTED(q);
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return cfg_fail(p, line, "%s: %s: %m", s->key, cfg_quote(&q, path));
	if (fstat(fd, &st) < 0)
		r = cfg_fail(p, line, "%s: %s: %m", s->key, cfg_quote(&q, path));
	else if (!S_ISREG(st.st_mode))
		r = cfg_fail(p, line, "%s: %s is not a regular file", s->key, cfg_quote(&q, path));
	else if (st.st_size == 0)
		r = cfg_fail(p, line, "%s: %s is empty", s->key, cfg_quote(&q, path));
	close(fd);
	return r;
}

/* Every file the config names, in file order.  Credentials are read and
 * judged by credentials.c exactly as the daemon will read them, then
 * wiped: the check passes only if start-up would. */
static int check_files(struct parser *p)
{
	for (int i = next_setting(p, -1); i >= 0; i = next_setting(p, i)) {
		char *value = NULL, *error = NULL;
		const char *path;
		int r;

		if (settings[i].file == FILE_NONE)
			continue;
		path = *FIELD(p, &settings[i], char *);
		cfg_in_file(p, p->setting_file[i]);
		if (settings[i].file == FILE_PUBLIC)
			r = check_public_file(p, &settings[i], p->setting_line[i], path);
		else {
			r = credential_read(settings[i].key, path, &value, &error);
			credential_free(value);
			if (r < 0)
				r = cfg_fail_with(p, r, error);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int cfg_check_settings(struct parser *p)
{
	int r = cfg_check_targets(p);

	if (r >= 0)
		r = finish_csms(p);
	if (r >= 0)
		r = finish_auth(p);
	if (r >= 0)
		r = check_rate(p);
	if (r >= 0)
		r = cfg_check_discover(p);
	if (r >= 0 && (p->flags & CONFIG_CHECK_CREDENTIALS))
		r = check_files(p);
	return r;
}
