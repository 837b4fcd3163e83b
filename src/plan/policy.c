/* policy.c - keep or delete, for one tag of one secret.
 *
 * The order of the checks is the safety argument: nothing a section says can
 * delete a system tag or a protected key, so neither an over-broad "!" rule
 * nor a closed allow-list that forgot a key can take those out.
 */
#include "policy.h"

#include <fnmatch.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strtable.h"
#include "util.h"

/* Tag keys and values are UTF-8 whatever locale the daemon runs in (systemd
 * starts services in the C locale), and '?' or "[...]" must match one
 * character, not one byte of it.  So globs are matched in C.UTF-8, built
 * into glibc since 2.35; where it is missing, in the process's locale.  The
 * locale is made once and kept for the life of the process. */
static locale_t utf8_locale(void)
{
	static locale_t loc;
	static bool tried;

	if (!tried) {
		tried = true;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
	}
	return loc;
}

static bool glob_matches(const char *glob, const char *s)
{
	locale_t loc = utf8_locale(), old = (locale_t) 0;
	int r;

	if (loc)
		old = uselocale(loc);
	/* No flags: '*' also matches '/' and a leading '.', because tag keys
	 * and values are flat strings, not paths. */
	r = fnmatch(glob, s, 0);
	if (loc)
		uselocale(old);
	return r == 0;
}

bool policy_is_system_key(const struct secret *secret, const char *key)
{
	/* CSMS refuses user keys starting with "_sys_"; one seen anyway is the
	 * platform's, as is every key that also appears in sys_tags. */
	return startswith(key, "_sys_") || tag_list_find(&secret->sys_tags, key);
}

const char *policy_protect_match(const struct config *c, const char *key)
{
	for (size_t i = 0; i < c->daemon.n_protect; i++)
		if (glob_matches(c->daemon.protect[i], key))
			return c->daemon.protect[i];
	return NULL;
}

static bool exemption_matches(const struct exemption *e, const char *secret_name, const struct tag *t)
{
	return glob_matches(e->secret, secret_name) && glob_matches(e->key, t->key) &&
	       (!e->value || glob_matches(e->value, t->value));
}

const struct exemption *policy_exemption_for(const struct config *c, const char *secret_name,
                                             const struct tag *tag, uint64_t now_usec, bool *expired)
{
	const struct exemption *first_expired = NULL;

	for (size_t i = 0; i < c->n_exemptions; i++) {
		const struct exemption *e = &c->exemptions[i];

		if (!exemption_matches(e, secret_name, tag))
			continue;
		if (now_usec < e->expires_usec) {
			*expired = false;
			return e;
		}
		if (!first_expired)
			first_expired = e;
	}
	*expired = first_expired != NULL;
	return first_expired;
}

const struct rule *section_rule_for(const struct section *section, const char *key)
{
	for (size_t i = 0; i < section->n_rules; i++)
		if (glob_matches(section->rules[i].key, key))
			return &section->rules[i];
	return NULL;
}

bool rule_allows_value(const struct rule *rule, const char *value)
{
	switch (rule->kind) {
	case RULE_ANY:
		return true;
	case RULE_FORBID:
		return false;
	case RULE_VALUES:
		for (size_t i = 0; i < rule->n_values; i++)
			if (glob_matches(rule->values[i], value))
				return true;
		return false;
	}
	return false;
}

struct decision policy_decide(const struct config *c, const struct section *section,
                              const struct secret *secret, const struct tag *tag)
{
	struct decision d = { .section = section };

	if (!section) {
		d.reason = REASON_NOT_GOVERNED;
		return d;
	}
	if (policy_is_system_key(secret, tag->key)) {
		d.reason = REASON_SYSTEM;
		return d;
	}
	if (policy_protect_match(c, tag->key)) {
		d.reason = REASON_PROTECTED;
		return d;
	}
	d.rule = section_rule_for(section, tag->key);
	if (!d.rule) {
		d.delete = true;
		d.reason = REASON_NO_RULE;
	} else if (d.rule->kind == RULE_FORBID) {
		d.delete = true;
		d.reason = REASON_FORBIDDEN;
	} else if (rule_allows_value(d.rule, tag->value)) {
		d.reason = REASON_ALLOWED;
	} else {
		d.delete = true;
		d.reason = REASON_VALUE_NOT_ALLOWED;
	}
	return d;
}

static const char *const reason_table[] = {
	[REASON_NOT_GOVERNED] = "not-governed",
	[REASON_SYSTEM] = "system",
	[REASON_PROTECTED] = "protected",
	[REASON_ALLOWED] = "allowed",
	[REASON_VALUE_NOT_ALLOWED] = "value-not-allowed",
	[REASON_FORBIDDEN] = "forbidden",
	[REASON_NO_RULE] = "no-rule",
};
STRING_TABLE_TO_STRING(reason, enum reason, "unknown")

bool reason_depends_on_value(enum reason r)
{
	/* "!" and "no rule" condemn the key whatever its value; only a value
	 * list can be satisfied by someone fixing the value meanwhile. */
	return r == REASON_VALUE_NOT_ALLOWED;
}

const char *policy_rule_label(const struct config *c, const char *secret_name, const char *key,
                              char *buf, size_t size)
{
	const struct section *section = config_section_for(c, secret_name);
	const struct rule *rule = section ? section_rule_for(section, key) : NULL;

	if (!section)
		snprintf(buf, size, "(not governed)");
	else
		snprintf(buf, size, "[%s \"%s\"] %s", section->is_glob ? "secrets" : "secret",
		         section->pattern, rule ? rule->key : "(no rule)");
	return buf;
}
