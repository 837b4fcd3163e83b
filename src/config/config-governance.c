/* config-governance.c - [secret "NAME"] and [secrets "GLOB"]: the
 * sections, their rules, "/grace" and "/required", and the checks that
 * every rule and section can apply (to the targets of its scope,
 * config-scope.c).  See config.h. */
#include "config-parser.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "values.h"

static struct section *current_section(struct parser *p)
{
	return &p->c->sections[p->govern];
}

static struct rule *current_rule(struct parser *p)
{
	struct section *sec = current_section(p);

	return &sec->rules[sec->n_rules - 1];
}

int cfg_rule_add_value(struct parser *p, unsigned line, const char *raw)
{
	struct rule *rule = current_rule(p);
	char **values, *v;
	int r;

	/* Inside a list these would be a literal "!" and a redundant "*":
	 * surely not what was meant. */
	if (streq_ptr(raw, "!"))
		return cfg_fail(p, line, "'!' must stand alone: '%s = !' forbids the tag", p->list_key);
	if (streq_ptr(raw, "*"))
		return cfg_fail(p, line, "'*' must stand alone: '%s = *' allows any value", p->list_key);
	r = cfg_check_comma(p, line, "value", raw);
	if (r < 0)
		return r;
	r = cfg_decode_glob(p, line, "value", raw, 0, MAX_VALUE_CHARS, &v);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rule->n_values; i++)
		if (strcmp(rule->values[i], v) == 0) {
			/* "a||" or "a|a": said twice, kept once. */
			free(v);
			return 0;
		}
	values = realloc(rule->values, (rule->n_values + 1) * sizeof(*values));
	if (!values) {
		free(v);
		return cfg_fail_oom(p);
	}
	values[rule->n_values++] = v;
	rule->values = values;
	return 0;
}

/* Rules are tried in file order and the first whose key glob matches
 * decides: a rule whose every key an earlier rule also matches can never
 * decide anything, which is surely not what its author meant. */
static int check_new_rule_key(struct parser *p, const char *key)
{
	const struct section *sec = current_section(p);
	QUOTED(q);
	QUOTED(q2);

	for (size_t i = 0; i < sec->n_rules; i++) {
		const struct rule *earlier = &sec->rules[i];

		if (strcmp(earlier->key, key) == 0)
			return cfg_fail(p, p->line, "duplicate rule for key '%s' (first at line %u); only the first "
			                "could ever match", cfg_quote(&q, key), earlier->line);
		if (glob_covers(earlier->key, "*"))
			return cfg_fail(p, p->line, "the rule for '%s' can never match: the catch-all '%s' rule at "
			                "line %u comes first and decides every tag", cfg_quote(&q, key),
			                cfg_quote(&q2, earlier->key), earlier->line);
		if (glob_covers(earlier->key, key))
			return cfg_fail(p, p->line, "the rule for '%s' can never match: the rule for '%s' at line %u "
			                "comes first and matches every key it would; put the more specific rule first",
			                cfg_quote(&q, key), cfg_quote(&q2, earlier->key), earlier->line);
	}
	return 0;
}

/* ---- section settings: "/grace" and "/required" --------------------------- */

int cfg_required_add(struct parser *p, unsigned line, const char *raw)
{
	struct section *sec = current_section(p);
	QUOTED(q);
	char *key;
	int r;

	r = cfg_decode_list_key(p, line, "required key", raw, false, &key);
	if (r < 0)
		return r;
	/* A requirement names one tag: a glob could not say which to report. */
	if (has_glob_chars(key))
		r = cfg_fail(p, line, "/required key '%s' is a glob: name each required key exactly", cfg_quote(&q, raw));
	for (size_t i = 0; r == 0 && i < sec->n_required; i++)
		if (strcmp(sec->required[i], key) == 0)
			r = cfg_fail(p, line, "/required names '%s' twice", cfg_quote(&q, raw));
	if (r == 0 && cfg_strv_push(&sec->required, &sec->n_required, key) < 0)
		r = cfg_fail_oom(p);
	if (r < 0)
		free(key);
	return r;
}

/* A key starting with '/' in a governance section: a setting of the
 * section.  CSMS tag keys cannot hold '/', so no rule is lost to this. */
static int add_section_setting(struct parser *p, const char *key, const char *value)
{
	struct section *sec = current_section(p);
	char hi[32];
	QUOTED(q);
	int r;

	r = cfg_scope_setting(p, &sec->scope, key, value);
	if (r != -ENOENT)
		return r;
	if (streq_ptr(key, "/grace")) {
		if (p->grace_line)
			return cfg_fail(p, p->line, "duplicate /grace in this section (first at line %u)", p->grace_line);
		p->grace_line = p->line;
		if (parse_timespan(value, &sec->grace_usec) < 0)
			return cfg_fail(p, p->line, "/grace '%s' is not a time span (like 12h, 3d)", cfg_quote(&q, value));
		if (sec->grace_usec > DAYS_365)
			return cfg_fail(p, p->line, "/grace '%s' is out of range (0 to %s)", cfg_quote(&q, value),
			                format_timespan(hi, sizeof(hi), DAYS_365));
		sec->has_grace = true;
		return 0;
	}
	if (streq_ptr(key, "/required")) {
		if (sec->required_line)
			return cfg_fail(p, p->line, "duplicate /required in this section (first at line %u)",
			                sec->required_line);
		sec->required_line = p->line;
		p->list = LIST_REQUIRED;
		p->list_key = "/required";
		return cfg_list_add_line(p, value, false);
	}
	return cfg_fail(p, p->line, "unknown section setting '%s': keys starting with '/' are /grace, "
	                "/required, /accounts, /regions and /projects (a rule for a key starting with '/' "
	                "writes it %%2F)", cfg_quote(&q, key));
}

/* A required key must be kept when present: a rule of its section must
 * allow it, or the daemon would delete the tag it asks for. */
static int check_required(struct parser *p, const struct section *sec)
{
	QUOTED(q);

	for (size_t i = 0; i < sec->n_required; i++) {
		const struct rule *rule = section_rule_for(sec, sec->required[i]);
		const char *key = cfg_quote(&q, sec->required[i]);

		if (!rule)
			return cfg_fail(p, sec->required_line, "/required key '%s': no rule of this section matches it, "
			                "so the daemon would delete it; add a rule such as '%s = *'", key, key);
		if (rule->kind == RULE_FORBID)
			return cfg_fail(p, sec->required_line, "/required key '%s' is forbidden by the rule at line %u",
			                key, rule->line);
		cfg_quoted_free(&q);
		q.s = NULL;
	}
	return 0;
}

/* "TAGKEY = VALUES" in a governance section. */
int cfg_add_rule(struct parser *p, const char *raw_key, const char *value)
{
	struct section *sec = current_section(p);
	struct rule *rules, *rule;
	char *key;
	int r;

	if (raw_key[0] == '/')
		return add_section_setting(p, raw_key, value);
	r = cfg_decode_glob(p, p->line, "key", raw_key, 1, MAX_KEY_CHARS, &key);
	if (r < 0)
		return r;
	r = check_new_rule_key(p, key);
	if (r < 0) {
		free(key);
		return r;
	}
	rules = realloc(sec->rules, (sec->n_rules + 1) * sizeof(*rules));
	if (!rules) {
		free(key);
		return cfg_fail_oom(p);
	}
	sec->rules = rules;
	rule = &rules[sec->n_rules++];
	*rule = (struct rule) { .key = key, .line = p->line };

	p->list_key = rule->key;
	if (streq_ptr(value, "*") || streq_ptr(value, "!")) {
		rule->kind = value[0] == '*' ? RULE_ANY : RULE_FORBID;
		p->list_fixed = true;
		return 0;
	}
	rule->kind = RULE_VALUES;
	p->list = LIST_RULE;
	return cfg_list_add_line(p, value, false);
}

/* A glob section governs the secrets it matches that no exact section and
 * no earlier glob section governs: one whose every name an earlier glob
 * section matches too, for every target it applies to, governs nothing.
 * Judged once the section is read: its scope is part of it. */
static int check_glob_section(struct parser *p, const struct section *sec, size_t index)
{
	QUOTED(q);
	QUOTED(q2);

	for (size_t i = 0; i < index; i++) {
		const struct section *earlier = &p->c->sections[i];
		char at[PATH_MAX + 16];

		if (earlier->is_glob && glob_covers(earlier->pattern, sec->pattern) &&
		    scope_covers(&earlier->scope, &sec->scope))
			return cfg_fail(p, sec->line, "section [secrets \"%s\"] can never apply: [secrets \"%s\"] at %s "
			                "comes first and governs every secret it would match%s; put the more specific "
			                "section first", cfg_quote(&q, p->govern_name), cfg_quote(&q2, earlier->pattern),
			                cfg_earlier_at(p, earlier->file, earlier->line, at, sizeof(at)),
			                scope_is_empty(&sec->scope) ? "" : " in every target it would apply to");
	}
	return 0;
}

/* The same name twice: the first section governs that secret (or those
 * names) in every target both apply to, so the second is a duplicate
 * unless its scope reaches targets the first does not. */
static int check_duplicate_section(struct parser *p, const struct section *sec, size_t index)
{
	const char *kind = sec->is_glob ? "secrets" : "secret";
	QUOTED(q);

	for (size_t i = 0; i < index; i++) {
		const struct section *e = &p->c->sections[i];
		char at[PATH_MAX + 16];

		if (e->is_glob == sec->is_glob && strcmp(e->pattern, sec->pattern) == 0 &&
		    scope_covers(&e->scope, &sec->scope))
			return cfg_fail(p, sec->line, "duplicate section [%s \"%s\"] (first at %s)%s",
			                kind, cfg_quote(&q, p->govern_name), cfg_earlier_at(p, e->file, e->line, at, sizeof(at)),
			                e->file == p->file ? "" : AMBIGUOUS);
	}
	return 0;
}

int cfg_finish_govern(struct parser *p)
{
	const struct section *sec;
	int r;

	if (p->section != SECTION_GOVERN)
		return 0;
	sec = current_section(p);
	r = check_duplicate_section(p, sec, p->govern);
	if (r >= 0 && sec->is_glob)
		r = check_glob_section(p, sec, p->govern);
	return r;
}

int cfg_add_section(struct parser *p, bool is_glob, const char *raw_name)
{
	const char *kind = is_glob ? "secrets" : "secret";
	struct section *sections = NULL;
	char *pattern;
	QUOTED(q);
	int r;

	if (strchr(raw_name, ';'))
		return cfg_fail(p, p->line, "[%s \"%s\"]: write ';' in a name as %%3B", kind, cfg_quote(&q, raw_name));
	r = cfg_decode_text(p, p->line, is_glob ? "secret name glob" : "secret name", raw_name,
	                    1, MAX_SECRET_NAME_CHARS, &pattern);
	if (r < 0)
		return r;
	if (is_glob && glob_validate(pattern) < 0)
		r = cfg_fail(p, p->line, "secret name glob '%s' is not a valid glob (unclosed '[', unknown "
		             "[:class:] or trailing '\\')", cfg_quote(&q, raw_name));
	else if (!is_glob && has_glob_chars(pattern))
		r = cfg_fail(p, p->line, "[secret \"%s\"] governs one secret by its exact name; "
		             "for a glob write [secrets \"...\"]", cfg_quote(&q, raw_name));
	if (r == 0) {
		/* Messages about the whole section quote it as written. */
		free(p->govern_name);
		if (!(p->govern_name = strdup(raw_name)))
			r = cfg_fail_oom(p);
	}
	if (r == 0 && !(sections = realloc(p->c->sections, (p->c->n_sections + 1) * sizeof(*sections))))
		r = cfg_fail_oom(p);
	if (r < 0) {
		free(pattern);
		return r;
	}
	p->c->sections = sections;
	p->govern = p->c->n_sections++;
	p->grace_line = 0;
	memset(p->scope_line, 0, sizeof(p->scope_line));
	sections[p->govern] = (struct section) {
		.is_glob = is_glob, .pattern = pattern, .line = p->line, .file = p->file,
	};
	p->section = SECTION_GOVERN;
	return 0;
}

int cfg_check_governance(struct parser *p)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < p->c->n_sections; i++) {
		const struct section *sec = &p->c->sections[i];

		cfg_in_file(p, sec->file);
		r = check_required(p, sec);
		/* With one target a scope would be ignored: the section would
		 * govern where its author said it should not. */
		if (r >= 0 && !p->c->organisation && sec->scope.line)
			r = cfg_fail(p, sec->scope.line, "/accounts, /regions and /projects scope a section to "
			             "targets: they need [target] or [discover] sections");
	}
	return r;
}
