/* policy.h - decides, for one tag of one secret, keep or delete.  Pure logic.
 *
 * Order of judgement for a tag of a governed secret:
 *   1. keys starting with "_sys_", and keys that also appear in the secret's
 *      sys_tags, are kept (REASON_SYSTEM);
 *   2. keys matching a [daemon] protect glob are kept (REASON_PROTECTED);
 *   3. the first rule of the section whose key glob matches decides:
 *      "*" keeps, a value list keeps a matching value and deletes any other
 *      (REASON_VALUE_NOT_ALLOWED), "!" deletes (REASON_FORBIDDEN);
 *   4. no rule matched: delete (REASON_NO_RULE).
 * A secret no section governs keeps all its tags (REASON_NOT_GOVERNED).
 * Exemptions and grace periods only ever postpone a deletion decided here;
 * plan.c applies them (plan.h).
 */
#ifndef CSMS_POLICY_H
#define CSMS_POLICY_H

#include <stdbool.h>
#include "config.h"
#include "observation.h"

enum reason {
	REASON_NOT_GOVERNED,
	REASON_SYSTEM,
	REASON_PROTECTED,
	REASON_ALLOWED,
	REASON_VALUE_NOT_ALLOWED,
	REASON_FORBIDDEN,
	REASON_NO_RULE,
};

struct decision {
	bool delete;
	enum reason reason;
	const struct section *section;  /* NULL when not governed */
	const struct rule *rule;        /* the rule that decided, or NULL */
};

/* Decide TAG of SECRET.  SECTION is config_section_for(c, secret->name). */
struct decision policy_decide(const struct config *c, const struct section *section,
                              const struct secret *secret, const struct tag *tag);

/* Whether KEY is a system tag of SECRET: it starts with "_sys_" or appears
 * in the secret's sys_tags.  Such keys are never deleted. */
bool policy_is_system_key(const struct secret *secret, const char *key);

/* The first [daemon] protect glob matching KEY, or NULL. */
const char *policy_protect_match(const struct config *c, const char *key);

/* The exemption matching TAG of the secret named SECRET_NAME: the first
 * (file order) active at NOW_USEC, *EXPIRED = false; else the first that
 * has expired, *EXPIRED = true; else NULL.  Whether the rules would delete
 * the tag at all is the caller's question: an exemption only keeps tags
 * policy_decide() deletes. */
const struct exemption *policy_exemption_for(const struct config *c, const char *secret_name,
                                             const struct tag *tag, uint64_t now_usec, bool *expired);

/* The first rule of SECTION whose key glob matches KEY, or NULL. */
const struct rule *section_rule_for(const struct section *section, const char *key);

/* Whether VALUE is allowed by RULE (RULE_ANY: always, RULE_FORBID: never). */
bool rule_allows_value(const struct rule *rule, const char *value);

/* The rule that decides tag KEY of the secret named SECRET_NAME, as a
 * label that survives edits elsewhere in the files (unlike FILE:LINE):
 * '[secrets "app-*"] temp-*', or '[secret "db"] (no rule)' when no rule
 * matches.  For metrics.  Into BUF; "(not governed)" without a section. */
const char *policy_rule_label(const struct config *c, const char *secret_name, const char *key,
                              char *buf, size_t size);

/* Short stable token, e.g. "no-rule", "value-not-allowed", "forbidden". */
const char *reason_to_string(enum reason r);

/* Whether a deletion for this reason depends on the tag's value, so that
 * the value must be re-checked right before deleting. */
bool reason_depends_on_value(enum reason r);

#endif
