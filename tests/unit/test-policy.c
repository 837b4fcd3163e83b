/* test-policy.c - policy_decide() over configs as operators write them.
 *
 * Each scenario is INI text plus a table of tags and the verdict expected
 * for each: keep or delete, the reason, and the lines of the section and rule
 * that decided (counted within the scenario's text).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "observation.h"
#include "policy.h"
#include "util.h"

#include "prologue.h"

enum { KEEP = false, DELETE = true };

struct policy_case {
	const char *secret;
	const char *key;
	const char *value;
	bool delete;
	enum reason reason;
	unsigned section_line;  /* 0: not governed */
	unsigned rule_line;     /* 0: no rule decided */
	const char *sys_key;    /* a key to put in the secret's sys_tags, or NULL */
};

#define CASE(secret, key, value, delete, reason, section_line, rule_line) \
	{ secret, key, value, delete, reason, section_line, rule_line, NULL }
#define CASE_SYS(secret, key, value, delete, reason, section_line, rule_line, sys_key) \
	{ secret, key, value, delete, reason, section_line, rule_line, sys_key }

struct scenario {
	const char *name;
	const char *ini;
	const struct policy_case *cases;
	size_t n_cases;
};

static struct config *load(const char *name, const char *body)
{
	_cleanup_free_ char *text = xasprintf("%s%s", PROLOGUE, body);
	struct config *c = NULL;
	char *error = NULL;
	int r;

	assert_non_null(text);
	r = config_load_string(name, text, 0, &c, &error);
	if (r < 0)
		fail_msg("%s: config rejected: %s", name, error ? error : strerror(-r));
	free(error);
	return c;
}

static void check_case(const struct config *c, const char *scenario, size_t i,
                       const struct policy_case *t)
{
	struct secret s = { .name = (char *) t->secret, .id = (char *) "id", .state = (char *) "ENABLED",
	                    .tags_complete = true };
	struct tag tag = { .key = (char *) t->key, .value = (char *) t->value };
	const struct section *section = config_section_for(c, t->secret);
	struct decision d;

	if (t->sys_key)
		assert_int_equal(tag_list_add(&s.sys_tags, t->sys_key, "x"), 0);
	d = policy_decide(c, section, &s, &tag);
	tag_list_clear(&s.sys_tags);

	if (d.delete != t->delete || d.reason != t->reason)
		fail_msg("%s case %zu (%s: %s=%s): got %s %s, expected %s %s", scenario, i,
		         t->secret, t->key, t->value, d.delete ? "delete" : "keep",
		         reason_to_string(d.reason), t->delete ? "delete" : "keep",
		         reason_to_string(t->reason));
	if (t->section_line == 0) {
		assert_null(d.section);
		assert_null(section);
	} else {
		assert_ptr_equal(d.section, section);
		if (!d.section || d.section->line != PROLOGUE_LINES + t->section_line)
			fail_msg("%s case %zu (%s: %s): governed by the section at line %u, expected %u",
			         scenario, i, t->secret, t->key, d.section ? d.section->line : 0,
			         PROLOGUE_LINES + t->section_line);
	}
	if (t->rule_line == 0) {
		if (d.rule)
			fail_msg("%s case %zu (%s: %s): decided by the rule at line %u, expected none",
			         scenario, i, t->secret, t->key, d.rule->line);
	} else if (!d.rule || d.rule->line != PROLOGUE_LINES + t->rule_line)
		fail_msg("%s case %zu (%s: %s): decided by the rule at line %u, expected %u", scenario,
		         i, t->secret, t->key, d.rule ? d.rule->line : 0, PROLOGUE_LINES + t->rule_line);
}

static void run_scenario(const struct scenario *sc)
{
	struct config *c = load(sc->name, sc->ini);

	for (size_t i = 0; i < sc->n_cases; i++)
		check_case(c, sc->name, i, &sc->cases[i]);
	config_free(c);
}

#define SCENARIO(n, text, table) \
	(struct scenario) { .name = (n), .ini = (text), .cases = (table), .n_cases = ELEMENTSOF(table) }

/* A section without a catch-all is a closed allow-list. */
static void test_closed_section(void **state)
{
	static const struct policy_case cases[] = {
		CASE("payments-db", "owner", "alice", KEEP, REASON_ALLOWED, 1, 2),
		CASE("payments-db", "owner", "bob", KEEP, REASON_ALLOWED, 1, 2),
		CASE("payments-db", "owner", "carol", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 2),
		CASE("payments-db", "owner", "", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 2),
		CASE("payments-db", "owner", "alice ", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 2),
		CASE("payments-db", "owner", "Alice", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 2),
		CASE("payments-db", "env", "staging", KEEP, REASON_ALLOWED, 1, 3),
		CASE("payments-db", "cost-center", "cc-1042", KEEP, REASON_ALLOWED, 1, 4),
		CASE("payments-db", "cost-center", "cc-", KEEP, REASON_ALLOWED, 1, 4),
		CASE("payments-db", "cost-center", "xcc-1", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 4),
		CASE("payments-db", "team", "web", DELETE, REASON_NO_RULE, 1, 0),
		CASE("payments-db", "Owner", "alice", DELETE, REASON_NO_RULE, 1, 0),
		CASE("payments-db", "owners", "alice", DELETE, REASON_NO_RULE, 1, 0),
		/* Exact sections match whole names only. */
		CASE("payments-db-2", "team", "web", KEEP, REASON_NOT_GOVERNED, 0, 0),
		CASE("payments", "team", "web", KEEP, REASON_NOT_GOVERNED, 0, 0),
	};

	run_scenario(&SCENARIO("closed",
		"[secret \"payments-db\"]\n"    /* 1 */
		"owner = alice|bob\n"           /* 2 */
		"env = prod|staging\n"          /* 3 */
		"cost-center = cc-*\n",         /* 4 */
		cases));
}

/* A section ending in "* = *" is an open deny-list. */
static void test_open_section(void **state)
{
	static const struct policy_case cases[] = {
		CASE("app-web", "temp-debug", "true", DELETE, REASON_FORBIDDEN, 1, 2),
		CASE("app-web", "temp-", "", DELETE, REASON_FORBIDDEN, 1, 2),
		CASE("app-web", "team", "web", KEEP, REASON_ALLOWED, 1, 3),
		CASE("app-web", "release", "", KEEP, REASON_ALLOWED, 1, 3),
		CASE("app-web", "legacy id", "7", KEEP, REASON_ALLOWED, 1, 3),
		/* No fnmatch flags: '*' matches a leading '.' too. */
		CASE("app-web", ".hidden", ".x", KEEP, REASON_ALLOWED, 1, 3),
		CASE("app-web", "temp-.x", "1", DELETE, REASON_FORBIDDEN, 1, 2),
		CASE("app-web", "\xe8\xb4\x9f\xe8\xb4\xa3\xe4\xba\xba", "\xe5\xbc\xa0\xe4\xbc\x9f",
		  KEEP, REASON_ALLOWED, 1, 3),
		CASE("app-", "temp-x", "1", DELETE, REASON_FORBIDDEN, 1, 2),
		/* Unmatched secrets are never touched, whatever their tags. */
		CASE("app", "temp-x", "1", KEEP, REASON_NOT_GOVERNED, 0, 0),
		CASE("web-app-1", "temp-x", "1", KEEP, REASON_NOT_GOVERNED, 0, 0),
		CASE("APP-web", "temp-x", "1", KEEP, REASON_NOT_GOVERNED, 0, 0),
	};

	run_scenario(&SCENARIO("open",
		"[secrets \"app-*\"]\n"         /* 1 */
		"temp-* = !\n"                  /* 2 */
		"* = *\n",                      /* 3 */
		cases));
}

/* The first rule whose key glob matches decides, even when a later rule
 * would have judged otherwise. */
static void test_first_match(void **state)
{
	static const struct policy_case cases[] = {
		CASE("svc-1", "env", "dev", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 2),
		CASE("svc-1", "env", "prod", KEEP, REASON_ALLOWED, 1, 2),
		CASE("svc-1", "east", "x", KEEP, REASON_ALLOWED, 1, 3),
		CASE("svc-1", "owner-team", "a", DELETE, REASON_FORBIDDEN, 1, 4),
		CASE("svc-1", "owner", "a", DELETE, REASON_FORBIDDEN, 1, 4),
		CASE("svc-1", "other", "a", DELETE, REASON_NO_RULE, 1, 0),
		CASE("svc-1", "tier", "2", KEEP, REASON_ALLOWED, 1, 6),
		CASE("svc-1", "tier", "20", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 6),
		CASE("svc-1", "tier", "x", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 6),
	};

	run_scenario(&SCENARIO("first-match",
		"[secrets \"svc-*\"]\n"         /* 1 */
		"env = prod\n"                  /* 2 */
		"e* = *\n"                      /* 3 */
		"owner* = !\n"                  /* 4 */
		"*-team = a\n"                  /* 5: overlaps 4, which comes first */
		"t?er = [0-9]\n",               /* 6 */
		cases));
}

/* An exact section beats any glob; among globs the first in file order wins;
 * an empty section governs and allows nothing. */
static void test_section_choice(void **state)
{
	static const struct policy_case cases[] = {
		CASE("db-main", "owner", "bob", DELETE, REASON_VALUE_NOT_ALLOWED, 5, 6),
		CASE("db-main", "owner", "alice", KEEP, REASON_ALLOWED, 5, 6),
		CASE("db-main", "team", "x", DELETE, REASON_NO_RULE, 5, 0),
		CASE("db-prod-1", "owner", "bob", KEEP, REASON_ALLOWED, 1, 2),
		CASE("db-legacy", "y", "1", KEEP, REASON_ALLOWED, 1, 2),
		CASE("db-empty", "owner", "alice", DELETE, REASON_NO_RULE, 7, 0),
		CASE("web-legacy", "x", "1", KEEP, REASON_ALLOWED, 8, 9),
		CASE("web-legacy", "y", "1", DELETE, REASON_NO_RULE, 8, 0),
		CASE("cache", "x", "1", KEEP, REASON_NOT_GOVERNED, 0, 0),
	};

	run_scenario(&SCENARIO("sections",
		"[secrets \"db-*\"]\n"          /* 1 */
		"* = *\n"                       /* 2 */
		"[secrets \"*-prod-*\"]\n"      /* 3: overlaps 1, which comes first */
		"owner = alice\n"               /* 4 */
		"[secret \"db-main\"]\n"        /* 5 */
		"owner = alice\n"               /* 6 */
		"[secret \"db-empty\"]\n"       /* 7 */
		"[secrets \"*-legacy\"]\n"      /* 8 */
		"x = *\n",                      /* 9 */
		cases));
}

/* System tags and protected keys are kept whatever the section says. */
static void test_system_and_protect(void **state)
{
	static const struct policy_case cases[] = {
		CASE("any", "owner", "x", KEEP, REASON_PROTECTED, 3, 0),
		CASE("any", "billing:code", "1", KEEP, REASON_PROTECTED, 3, 0),
		CASE("any", "billing:", "", KEEP, REASON_PROTECTED, 3, 0),
		CASE("any", "billing", "1", DELETE, REASON_NO_RULE, 3, 0),
		CASE("any", "owner2", "x", DELETE, REASON_NO_RULE, 3, 0),
		CASE("any", "_sys_enterprise_project_id", "0", KEEP, REASON_SYSTEM, 3, 0),
		CASE("any", "_sys_", "", KEEP, REASON_SYSTEM, 3, 0),
		CASE("any", "_SYS_x", "1", DELETE, REASON_NO_RULE, 3, 0),
		CASE_SYS("any", "managed-by", "csms", KEEP, REASON_SYSTEM, 3, 0, "managed-by"),
		CASE("any", "managed-by", "csms", DELETE, REASON_FORBIDDEN, 3, 6),
		CASE_SYS("any", "managed-by", "csms", DELETE, REASON_FORBIDDEN, 3, 6, "managed-byx"),
		CASE_SYS("any", "env", "dev", DELETE, REASON_VALUE_NOT_ALLOWED, 3, 7, "other"),
		/* A system key that is also protected is reported as system. */
		CASE("any", "_sys_owner", "1", KEEP, REASON_SYSTEM, 3, 0),
	};

	run_scenario(&SCENARIO("system",
		"[daemon]\n"                    /* 1 */
		"protect = owner|billing:*|_sys_owner\n" /* 2 */
		"[secrets \"*\"]\n"             /* 3 */
		"owner = !\n"                   /* 4 */
		"_sys_* = !\n"                  /* 5 */
		"managed-by = !\n"              /* 6 */
		"env = prod\n",                 /* 7 */
		cases));
}

/* Every key CSMS allows can be written: spaces, Unicode, and escaped '=',
 * ':', '%' and '|'; values may contain '/' and be empty. */
static void test_escapes_and_values(void **state)
{
	static const struct policy_case cases[] = {
		CASE("s", "cost center", "a b", KEEP, REASON_ALLOWED, 1, 2),
		CASE("s", "cost center", "c", KEEP, REASON_ALLOWED, 1, 2),
		CASE("s", "cost center", "a  b", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 2),
		CASE("s", "cost", "c", DELETE, REASON_NO_RULE, 1, 0),
		CASE("s", "a=b", "1", KEEP, REASON_ALLOWED, 1, 3),
		CASE("s", "a=b", "2", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 3),
		CASE("s", "a", "b = 1", DELETE, REASON_NO_RULE, 1, 0),
		CASE("s", "k8s:namespace", "prod/web", KEEP, REASON_ALLOWED, 1, 4),
		CASE("s", "k8s:namespace", "prod/", KEEP, REASON_ALLOWED, 1, 4),
		CASE("s", "k8s:namespace", "dev/web", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 4),
		CASE("s", "100%", "x", KEEP, REASON_ALLOWED, 1, 5),
		CASE("s", "100%25", "x", DELETE, REASON_NO_RULE, 1, 0),
		CASE("s", "\xe8\xb4\x9f\xe8\xb4\xa3\xe4\xba\xba", "\xe5\xbc\xa0\xe4\xbc\x9f",
		  KEEP, REASON_ALLOWED, 1, 6),
		CASE("s", "\xe8\xb4\x9f\xe8\xb4\xa3\xe4\xba\xba", "\xe6\x9d\x8e\xe5\x9b\x9b",
		  KEEP, REASON_ALLOWED, 1, 6),
		CASE("s", "\xe8\xb4\x9f\xe8\xb4\xa3\xe4\xba\xba", "\xe7\x8e\x8b\xe4\xba\x94",
		  DELETE, REASON_VALUE_NOT_ALLOWED, 1, 6),
		CASE("s", "pipe", "x|y", KEEP, REASON_ALLOWED, 1, 7),
		CASE("s", "pipe", "x", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 7),
		CASE("s", "release", "", KEEP, REASON_ALLOWED, 1, 8),
		CASE("s", "release", "v1.2", KEEP, REASON_ALLOWED, 1, 8),
		CASE("s", "release", "w", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 8),
		CASE("s", "mail", "ops@example.com", KEEP, REASON_ALLOWED, 1, 9),
		CASE("s", "mail", "dev@example.com", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 9),
		CASE("s", "a.b+c@d_e", "1", DELETE, REASON_FORBIDDEN, 1, 10),
		/* '?' and brackets match one character, however many bytes it
		 * takes in UTF-8, in whatever locale the test runs. */
		CASE("s", "\xe5\x9c\xb0\xe5\x8c\xba", "\xe5\x8c\x97\xe4\xba\xac", KEEP, REASON_ALLOWED, 1, 11),
		CASE("s", "\xe5\x9c\xb0\xe5\x9d\x80", "\xe4\xb8\x8a\xe6\xb5\xb7", KEEP, REASON_ALLOWED, 1, 11),
		CASE("s", "\xe5\x9c\xb0\xe5\x9d\x80", "\xe5\xb9\xbf\xe5\xb7\x9e", DELETE, REASON_VALUE_NOT_ALLOWED, 1, 11),
		CASE("s", "\xe5\x9c\xb0", "\xe5\x8c\x97\xe4\xba\xac", DELETE, REASON_NO_RULE, 1, 0),
		CASE("s", "\xe5\x9c\xb0" "ab", "\xe5\x8c\x97\xe4\xba\xac", DELETE, REASON_NO_RULE, 1, 0),
	};

	run_scenario(&SCENARIO("escapes",
		"[secret \"s\"]\n"                                      /* 1 */
		"cost center = a b | c\n"                               /* 2 */
		"a%3Db = 1\n"                                           /* 3 */
		"k8s%3Anamespace = prod/*\n"                            /* 4 */
		"100%25 = *\n"                                          /* 5 */
		"\xe8\xb4\x9f\xe8\xb4\xa3\xe4\xba\xba = "
		"\xe5\xbc\xa0*|\xe6\x9d\x8e\xe5\x9b\x9b\n"              /* 6 */
		"pipe = x%7Cy\n"                                        /* 7 */
		"release = |v*\n"                                       /* 8 */
		"mail = ops@example.com\n"                              /* 9 */
		"a.b+c@d_e = !\n"                                       /* 10 */
		"\xe5\x9c\xb0? = [\xe5\x8c\x97\xe4\xb8\x8a]?\n",                 /* 11 */
		cases));
}

static void test_not_governed(void **state)
{
	struct config *c = load("none", "");
	struct secret s = { .name = (char *) "x", .id = (char *) "id", .tags_complete = true };
	struct tag t = { .key = (char *) "temp", .value = (char *) "" };
	struct decision d = policy_decide(c, NULL, &s, &t);

	assert_false(d.delete);
	assert_int_equal(d.reason, REASON_NOT_GOVERNED);
	assert_null(d.section);
	assert_null(d.rule);
	assert_null(config_section_for(c, "x"));
	config_free(c);
}

static void test_rule_allows_value(void **state)
{
	char *globs[] = { (char *) "a", (char *) "b*", (char *) "[0-9]", (char *) "" };
	const struct rule any = { .key = (char *) "*", .kind = RULE_ANY };
	const struct rule forbid = { .key = (char *) "*", .kind = RULE_FORBID };
	const struct rule values = { .key = (char *) "*", .kind = RULE_VALUES, .values = globs,
	                             .n_values = ELEMENTSOF(globs) };
	const struct rule none = { .key = (char *) "*", .kind = RULE_VALUES };
	static const struct {
		const char *value;
		bool any, forbid, values;
	} cases[] = {
		{ "a", true, false, true },
		{ "", true, false, true },
		{ "b", true, false, true },
		{ "bcd/e", true, false, true },
		{ "7", true, false, true },
		{ "77", true, false, false },
		{ "ab", true, false, false },
		{ "A", true, false, false },
		{ ".hidden", true, false, false },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		assert_int_equal(rule_allows_value(&any, cases[i].value), cases[i].any);
		assert_int_equal(rule_allows_value(&forbid, cases[i].value), cases[i].forbid);
		if (rule_allows_value(&values, cases[i].value) != cases[i].values)
			fail_msg("value '%s': expected %s", cases[i].value,
			         cases[i].values ? "allowed" : "not allowed");
		/* An empty value list allows nothing. */
		assert_false(rule_allows_value(&none, cases[i].value));
	}
}

static void test_reasons(void **state)
{
	static const struct {
		enum reason r;
		const char *s;
		bool keep, depends_on_value;
	} cases[] = {
		{ REASON_NOT_GOVERNED, "not-governed", true, false },
		{ REASON_SYSTEM, "system", true, false },
		{ REASON_PROTECTED, "protected", true, false },
		{ REASON_ALLOWED, "allowed", true, false },
		{ REASON_VALUE_NOT_ALLOWED, "value-not-allowed", false, true },
		{ REASON_FORBIDDEN, "forbidden", false, false },
		{ REASON_NO_RULE, "no-rule", false, false },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		assert_string_equal(reason_to_string(cases[i].r), cases[i].s);
		assert_int_equal(reason_depends_on_value(cases[i].r), cases[i].depends_on_value);
	}
	assert_string_equal(reason_to_string((enum reason) 99), "unknown");
}

static void test_helpers(void **state)
{
	struct config *c = load("helpers",
		"[daemon]\n"
		"protect = team|cost-*\n"
		"[secret \"s\"]\n"
		"env = prod\n"
		"e* = !\n");
	const struct section *section = config_section_for(c, "s");
	struct secret s = { .name = (char *) "s", .id = (char *) "id", .tags_complete = true };

	assert_non_null(section);
	assert_string_equal(policy_protect_match(c, "team"), "team");
	assert_string_equal(policy_protect_match(c, "cost-center"), "cost-*");
	assert_null(policy_protect_match(c, "teams"));
	assert_int_equal(section_rule_for(section, "env")->line, PROLOGUE_LINES + 4);
	assert_int_equal(section_rule_for(section, "east")->line, PROLOGUE_LINES + 5);
	assert_null(section_rule_for(section, "west"));

	assert_true(policy_is_system_key(&s, "_sys_x"));
	assert_false(policy_is_system_key(&s, "sys_x"));
	assert_int_equal(tag_list_add(&s.sys_tags, "k", "v"), 0);
	assert_true(policy_is_system_key(&s, "k"));
	assert_false(policy_is_system_key(&s, "k2"));
	tag_list_clear(&s.sys_tags);
	config_free(c);
}

/* Metrics name a rule by section and key glob: the same after edits that
 * move its line. */
static void test_rule_label(void **state)
{
	static const char *const bodies[] = {
		"[secret \"s\"]\nenv = prod\ne* = !\n[secrets \"app-*\"]\ntemp-* = !\n",
		"# a comment that moves every line\n\n[secret \"s\"]\nowner = *\nenv = prod\n\ne* = !\n"
		"[secrets \"app-*\"]\nkeep = *\ntemp-* = !\n",
	};
	char buf[128];

	for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
		struct config *c = load("label", bodies[i]);

		assert_string_equal(policy_rule_label(c, "s", "east", buf, sizeof(buf)), "[secret \"s\"] e*");
		assert_string_equal(policy_rule_label(c, "s", "env", buf, sizeof(buf)), "[secret \"s\"] env");
		assert_string_equal(policy_rule_label(c, "s", "west", buf, sizeof(buf)), "[secret \"s\"] (no rule)");
		assert_string_equal(policy_rule_label(c, "app-x", "temp-1", buf, sizeof(buf)),
		                    "[secrets \"app-*\"] temp-*");
		assert_string_equal(policy_rule_label(c, "other", "k", buf, sizeof(buf)), "(not governed)");
		config_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closed_section),
		cmocka_unit_test(test_open_section),
		cmocka_unit_test(test_first_match),
		cmocka_unit_test(test_section_choice),
		cmocka_unit_test(test_system_and_protect),
		cmocka_unit_test(test_escapes_and_values),
		cmocka_unit_test(test_not_governed),
		cmocka_unit_test(test_rule_allows_value),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_rule_label),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
