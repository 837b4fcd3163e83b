/* config-scope.c - which targets a governance section or an exemption
 * applies to: "/accounts", "/regions" and "/projects" of a section, the
 * account, region and project of an exemption, whether a scope admits a
 * target, and whether one scope covers another (for the check that every
 * section can apply).  See struct scope in config.h. */
#include "config-parser.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "values.h"

/* The longest value a dimension matches: account names and ids, project
 * ids and names, target names. */
#define MAX_SCOPE_GLOB_CHARS 255

static const char *const scope_key_table[N_SCOPE_DIMENSIONS] = {
	[SCOPE_ACCOUNTS] = "/accounts",
	[SCOPE_REGIONS] = "/regions",
	[SCOPE_PROJECTS] = "/projects",
};

static const char *const scope_what_table[N_SCOPE_DIMENSIONS] = {
	[SCOPE_ACCOUNTS] = "account glob",
	[SCOPE_REGIONS] = "region glob",
	[SCOPE_PROJECTS] = "project glob",
};

static char ***dimension_globs(struct scope *s, enum scope_dimension d, size_t **n)
{
	switch (d) {
	case SCOPE_ACCOUNTS:
		*n = &s->n_accounts;
		return &s->accounts;
	case SCOPE_REGIONS:
		*n = &s->n_regions;
		return &s->regions;
	case SCOPE_PROJECTS:
	case N_SCOPE_DIMENSIONS:
		break;
	}
	*n = &s->n_projects;
	return &s->projects;
}

static void dimension_const(const struct scope *s, enum scope_dimension d, char *const **globs, size_t *n)
{
	size_t *np;

	*globs = *dimension_globs((struct scope *) s, d, &np);
	*n = *np;
}

bool scope_is_empty(const struct scope *s)
{
	return s->n_accounts + s->n_regions + s->n_projects == 0;
}

void scope_clear(struct scope *s)
{
	cfg_strv_free(s->accounts, s->n_accounts);
	cfg_strv_free(s->regions, s->n_regions);
	cfg_strv_free(s->projects, s->n_projects);
	*s = (struct scope) {};
}

/* A value the target lacks is matched as "": only a catch-all ("*")
 * matches it, which matches every value anyway. */
static bool glob_matches(const char *glob, const char *value)
{
	return fnmatch(glob, value ? value : "", 0) == 0;
}

/* Whether the dimension's N GLOBS admit a target with these N_VALUES
 * VALUES: no globs, or one matching one of the values. */
static bool any_matches(char *const *globs, size_t n, const char *const *values, size_t n_values)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n_values; j++)
			if (glob_matches(globs[i], values[j]))
				return true;
	return false;
}

bool scope_matches(const struct scope *s, const struct target *t)
{
	const char *const accounts[] = { t->account_id, t->account_name };
	const char *const projects[] = { t->project_id, t->project_name, t->name };
	const char *const regions[] = { t->region };

	return any_matches(s->accounts, s->n_accounts, accounts, ELEMENTSOF(accounts)) &&
	       any_matches(s->regions, s->n_regions, regions, 1) &&
	       any_matches(s->projects, s->n_projects, projects, ELEMENTSOF(projects));
}

/* Every glob of B is covered by one of A (a dimension A leaves open
 * covers anything; one B leaves open is covered only by an open one). */
static bool dimension_covers(const struct scope *a, const struct scope *b, enum scope_dimension d)
{
	char *const *ga, *const *gb;
	size_t na, nb;

	dimension_const(a, d, &ga, &na);
	dimension_const(b, d, &gb, &nb);
	if (na == 0)
		return true;
	if (nb == 0)
		return false;
	for (size_t j = 0; j < nb; j++) {
		bool covered = false;

		for (size_t i = 0; !covered && i < na; i++)
			covered = glob_covers(ga[i], gb[j]);
		if (!covered)
			return false;
	}
	return true;
}

bool scope_covers(const struct scope *a, const struct scope *b)
{
	for (int d = 0; d < N_SCOPE_DIMENSIONS; d++)
		if (!dimension_covers(a, b, (enum scope_dimension) d))
			return false;
	return true;
}

/* ---- parsing ------------------------------------------------------------------ */

static int add_glob(struct parser *p, struct scope *s, enum scope_dimension d, unsigned line,
                    const char *raw)
{
	size_t *n;
	char ***globs = dimension_globs(s, d, &n);
	char *glob;
	int r;

	if (!*raw)
		return cfg_fail(p, line, "%s: empty glob (a stray '|'?)", p->list_key);
	r = cfg_check_comma(p, line, scope_what_table[d], raw);
	if (r < 0)
		return r;
	r = cfg_decode_glob(p, line, scope_what_table[d], raw, 1, MAX_SCOPE_GLOB_CHARS, &glob);
	if (r < 0)
		return r;
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*globs)[i], glob) == 0) {
			/* "a | a": said twice, kept once. */
			free(glob);
			return 0;
		}
	if (cfg_strv_push(globs, n, glob) < 0) {
		free(glob);
		return cfg_fail_oom(p);
	}
	if (!s->line || line < s->line)
		s->line = line;
	return 0;
}

int cfg_scope_add(struct parser *p, struct scope *s, unsigned line, const char *raw)
{
	return add_glob(p, s, p->scope_dimension, line, raw);
}

int cfg_scope_setting(struct parser *p, struct scope *s, const char *key, const char *value)
{
	for (int d = 0; d < N_SCOPE_DIMENSIONS; d++) {
		if (strcmp(key, scope_key_table[d]) != 0)
			continue;
		if (p->scope_line[d])
			return cfg_fail(p, p->line, "duplicate %s in this section (first at line %u)", key,
			                p->scope_line[d]);
		p->scope_line[d] = p->line;
		if (!s->line)
			s->line = p->line;
		p->list = LIST_SCOPE;
		p->list_key = scope_key_table[d];
		p->scope_dimension = (enum scope_dimension) d;
		return cfg_list_add_line(p, value, false);
	}
	return -ENOENT;
}

int cfg_scope_set_one(struct parser *p, struct scope *s, enum scope_dimension d, const char *key,
                      const char *value)
{
	/* One glob: an exemption is a narrow, reviewed exception. */
	if (strchr(value, '|'))
		return cfg_fail(p, p->line, "%s takes one glob: an exemption is one reviewed exception, "
		                "write one [exempt] per account, region or project", key);
	p->list_key = key;
	return add_glob(p, s, d, p->line, value);
}
