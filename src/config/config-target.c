/* config-target.c - targets: [target "NAME"] sections (account_id,
 * account_name, region, project_id), their checks, and the target model
 * (discovered targets, selection by --target).  See config.h. */
#include "config-parser.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "strtable.h"

#define MAX_TARGET_NAME_CHARS 128

static const char *const target_key_table[N_TARGET_KEYS] = {
	[TARGET_ACCOUNT_ID] = "account_id",
	[TARGET_ACCOUNT_NAME] = "account_name",
	[TARGET_REGION] = "region",
	[TARGET_PROJECT_ID] = "project_id",
};
static STRING_TABLE_FROM_STRING(target_key)

static struct target *current_target(struct parser *p)
{
	return &p->c->targets[p->c->n_targets - 1];
}

int cfg_add_target(struct parser *p, const char *raw_name)
{
	struct target *v;
	char *name;
	QUOTED(q);
	int r;

	r = cfg_decode_text(p, p->line, "target name", raw_name, 1, MAX_TARGET_NAME_CHARS, &name);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->c->n_targets; i++)
		if (strcmp(p->c->targets[i].name, name) == 0) {
			const struct target *e = &p->c->targets[i];
			char at[PATH_MAX + 16];

			free(name);
			return cfg_fail(p, p->line, "duplicate section [target \"%s\"] (first at %s)%s",
			                cfg_quote(&q, raw_name), cfg_earlier_at(p, e->file, e->line, at, sizeof(at)),
			                e->file == p->file ? "" : AMBIGUOUS);
		}
	v = realloc(p->c->targets, (p->c->n_targets + 1) * sizeof(*v));
	if (!v) {
		free(name);
		return cfg_fail_oom(p);
	}
	p->c->targets = v;
	v[p->c->n_targets++] = (struct target) { .name = name, .line = p->line, .file = p->file };
	memset(p->target_line, 0, sizeof(p->target_line));
	p->section = SECTION_TARGET;
	return 0;
}

/* The project id is the target's key: two targets of one project would
 * run two passes over the same secrets. */
static int check_project_unique(struct parser *p, const struct target *t)
{
	QUOTED(q);

	for (size_t i = 0; i + 1 < p->c->n_targets; i++) {
		const struct target *e = &p->c->targets[i];
		char at[PATH_MAX + 16];

		if (streq_ptr(e->project_id, t->project_id))
			return cfg_fail(p, p->line, "project_id %s is also that of [target \"%s\"] at %s: a project "
			                "is one target", t->project_id, cfg_quote(&q, e->name),
			                cfg_earlier_at(p, e->file, e->line, at, sizeof(at)));
	}
	return 0;
}

int cfg_add_target_entry(struct parser *p, const char *key, const char *value)
{
	struct target *t = current_target(p);
	int k = target_key_from_string(key), r;
	QUOTED(q);
	QUOTED(q2);

	if (k < 0)
		return cfg_fail(p, p->line, "unknown key '%s' in [target \"%s\"] (account_id, account_name, "
		                "region, project_id)", cfg_quote(&q, key), cfg_quote(&q2, t->name));
	if (p->target_line[k])
		return cfg_fail(p, p->line, "duplicate key '%s' in [target] (first at line %u)", key,
		                p->target_line[k]);
	p->target_line[k] = p->line;
	switch ((enum target_key) k) {
	case TARGET_ACCOUNT_ID:
		return cfg_account_id(p, key, value, &t->account_id);
	case TARGET_ACCOUNT_NAME:
		return cfg_iam_name(p, key, value, 1, &t->account_name);
	case TARGET_REGION:
		return cfg_region(p, p->line, value, &t->region);
	case TARGET_PROJECT_ID:
		r = cfg_project_id(p, value, &t->project_id);
		return r < 0 ? r : check_project_unique(p, t);
	case N_TARGET_KEYS:
		break;
	}
	return -EINVAL;         /* not reached: target_key_from_string() found the key */
}

int cfg_finish_target(struct parser *p)
{
	const struct target *t;
	QUOTED(q);

	if (p->section != SECTION_TARGET)
		return 0;
	t = current_target(p);
	if (!t->region || !t->project_id)
		return cfg_fail(p, t->line, "[target \"%s\"] needs %s = ... (a target is a project in a region: "
		                "region and project_id are required, account_id and account_name optional)",
		                cfg_quote(&q, t->name), t->region ? "project_id" : "region");
	return 0;
}

int cfg_check_targets(struct parser *p)
{
	QUOTED(q);

	/* As [csms] project_id (config.h): before the endpoint defaults are
	 * filled in. */
	if (!(p->flags & CONFIG_REFUSE_PLACEHOLDER) || p->c->csms.endpoint)
		return 0;
	for (size_t i = 0; i < p->c->n_targets; i++) {
		const struct target *t = &p->c->targets[i];

		if (streq_ptr(t->project_id, CONFIG_PLACEHOLDER_PROJECT_ID)) {
			cfg_in_file(p, t->file);
			return cfg_fail(p, t->line, "[target \"%s\"]: project_id %s is the placeholder of the "
			                "shipped file, not a project", cfg_quote(&q, t->name), t->project_id);
		}
	}
	return 0;
}

/* ---- the model ---------------------------------------------------------------- */

void target_clear(struct target *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->account_id);
	free(t->account_name);
	free(t->region);
	free(t->project_id);
	free(t->project_name);
	*t = (struct target) {};
}

static int dup_optional(const char *s, char **ret)
{
	*ret = NULL;
	return s && !(*ret = strdup(s)) ? -ENOMEM : 0;
}

int target_discovered(const char *account_id, const char *account_name, const char *region,
                      const char *project_id, const char *project_name, struct target *ret)
{
	const char *account = account_name ? account_name : account_id ? account_id : "self";
	struct target t = {
		.discovered = true,
		.name = xasprintf("%s/%s", account, project_name ? project_name : region),
	};

	if (!t.name || dup_optional(account_id, &t.account_id) < 0 ||
	    dup_optional(account_name, &t.account_name) < 0 || dup_optional(region, &t.region) < 0 ||
	    dup_optional(project_id, &t.project_id) < 0 || dup_optional(project_name, &t.project_name) < 0) {
		target_clear(&t);
		*ret = (struct target) {};
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

int target_copy(const struct target *src, struct target *ret)
{
	struct target t = { .discovered = src->discovered, .line = src->line, .file = src->file };

	if (dup_optional(src->name, &t.name) < 0 || dup_optional(src->account_id, &t.account_id) < 0 ||
	    dup_optional(src->account_name, &t.account_name) < 0 ||
	    dup_optional(src->region, &t.region) < 0 || dup_optional(src->project_id, &t.project_id) < 0 ||
	    dup_optional(src->project_name, &t.project_name) < 0) {
		target_clear(&t);
		*ret = (struct target) {};
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

static bool matches(const char *glob, const char *value)
{
	return value && fnmatch(glob, value, 0) == 0;
}

bool target_selected(const struct target *t, const char *glob)
{
	return matches(glob, t->name) || matches(glob, t->account_id) || matches(glob, t->account_name) ||
	       matches(glob, t->project_id);
}
