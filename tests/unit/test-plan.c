/* test-plan.c - plan_compute(), its order and counters, and its three
 * renderings: the table, JSON and --explain. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observed.h"
#include "config.h"
#include "observation.h"
#include "plan.h"
#include "plan-view.h"
#include "util.h"

#include "prologue.h"
#define L(n) (PROLOGUE_LINES + (n))

static const char governance[] =
	"[secret \"payments-db\"]\n"    /* L(1) */
	"owner = alice|bob\n"           /* L(2) */
	"env = prod|staging\n"          /* L(3) */
	"[secrets \"app-*\"]\n"         /* L(4) */
	"temp-* = !\n"                  /* L(5) */
	"* = *\n";                      /* L(6) */

static struct config *load(const char *body)
{
	_cleanup_free_ char *text = xasprintf("%s%s", PROLOGUE, body);
	struct config *c = NULL;
	char *error = NULL;
	int r;

	assert_non_null(text);
	r = config_load_string("plan.conf", text, 0, &c, &error);
	if (r < 0)
		fail_msg("config rejected: %s", error ? error : strerror(-r));
	free(error);
	return c;
}

/* Add a secret with tags given as key, value, ..., NULL. */
static struct secret *add(struct observation *o, const char *id, const char *name,
                          const char *state, bool complete, ...)
{
	struct secret *s;
	va_list ap;

	va_start(ap, complete);
	s = observed_vadd(o, id, name, state, complete, ap);
	va_end(ap);
	return s;
}

/* The example used by most tests, inserted out of order on purpose. */
static void fill_example(struct observation *o, bool reversed)
{
	size_t n = 8;

	for (size_t step = 0; step < n; step++) {
		switch (reversed ? n - 1 - step : step) {
		case 0:
			add(o, "id-w", "app-worker", "ENABLED", true,
			    "zeta", "1", "temp-b", "1", "temp-a", "2", "temp-Z", "3", "temp-\xc3\xa9", "4", NULL);
			break;
		case 1:
			add(o, "id-p", "payments-db", "ENABLED", true,
			    "owner", "carol", "stray", "1", "env", "prod", "_sys_x", "y", NULL);
			break;
		case 2:
			add(o, "id-old", "app-old", "PENDING_DELETE", true, "temp-x", "1", NULL);
			break;
		case 3:
			add(o, "id-part", "app-partial", "ENABLED", false, "temp-y", "1", NULL);
			break;
		case 4:
			add(o, "id-u", "ungoverned", "ENABLED", true, "temp-z", "1", NULL);
			break;
		case 5:
			add(o, "id-gone", "legacy", "PENDING_DELETE", true, "x", "1", NULL);
			break;
		case 6:
			add(o, "b-id", "app-dup", "ENABLED", true, "temp-q", "1", NULL);
			break;
		case 7:
			add(o, "a-id", "app-dup", "FROZEN", true, "temp-q", "2", NULL);
			break;
		}
	}
}

struct expected_item {
	const char *id, *name, *key, *value;
	enum reason reason;
	unsigned rule_line, section_line;
	const char *rule_ref;
};

static const struct expected_item example_items[] = {
	{ "a-id", "app-dup", "temp-q", "2", REASON_FORBIDDEN, L(5), L(4), "plan.conf:11" },
	{ "b-id", "app-dup", "temp-q", "1", REASON_FORBIDDEN, L(5), L(4), "plan.conf:11" },
	{ "id-w", "app-worker", "temp-Z", "3", REASON_FORBIDDEN, L(5), L(4), "plan.conf:11" },
	{ "id-w", "app-worker", "temp-a", "2", REASON_FORBIDDEN, L(5), L(4), "plan.conf:11" },
	{ "id-w", "app-worker", "temp-b", "1", REASON_FORBIDDEN, L(5), L(4), "plan.conf:11" },
	{ "id-w", "app-worker", "temp-\xc3\xa9", "4", REASON_FORBIDDEN, L(5), L(4), "plan.conf:11" },
	{ "id-p", "payments-db", "owner", "carol", REASON_VALUE_NOT_ALLOWED, L(2), L(1), "plan.conf:8" },
	{ "id-p", "payments-db", "stray", "1", REASON_NO_RULE, 0, L(1), "plan.conf:7" },
};

static void check_example_plan(const struct plan *p)
{
	char buf[256];

	assert_string_equal(p->config_path, "plan.conf");
	assert_int_equal(p->n, ELEMENTSOF(example_items));
	for (size_t i = 0; i < ELEMENTSOF(example_items); i++) {
		const struct expected_item *e = &example_items[i];
		const struct plan_item *it = &p->items[i];

		assert_string_equal(it->secret_id, e->id);
		assert_string_equal(it->secret_name, e->name);
		assert_string_equal(it->key, e->key);
		assert_string_equal(it->value, e->value);
		assert_int_equal(it->reason, e->reason);
		assert_int_equal(it->rule_line, e->rule_line);
		assert_int_equal(it->section_line, e->section_line);
		assert_string_equal(plan_item_rule_ref(p, it, buf, sizeof(buf)), e->rule_ref);
	}
	assert_int_equal(p->n_secrets, 8);
	/* app-worker, payments-db, app-old, app-partial and both app-dup. */
	assert_int_equal(p->n_governed, 6);
	/* "legacy" is pending deletion too, but nobody governs it. */
	assert_int_equal(p->n_pending_delete, 1);
	assert_int_equal(p->n_incomplete, 1);
	/* 5 on app-worker, 4 on payments-db, 1 on each app-dup. */
	assert_int_equal(p->n_tags, 11);
}

static void test_plan_example(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};

	fill_example(&o, false);
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	/* The plan must outlive its inputs: ASan catches any borrowed string. */
	config_free(c);
	observation_clear(&o);
	check_example_plan(&p);
	plan_clear(&p);
	assert_null(p.items);
	assert_int_equal(p.n, 0);
}

static char *plan_json_text(const struct plan *p)
{
	json_t *j = plan_to_json(p);
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_SORT_KEYS);
	json_decref(j);
	assert_non_null(s);
	return s;
}

static void test_plan_deterministic(void **state)
{
	struct config *c = load(governance);
	struct observation a = {}, b = {};
	struct plan pa = {}, pb = {};
	char *ja, *jb;

	fill_example(&a, false);
	fill_example(&b, true);
	assert_int_equal(plan_compute(c, &a, NULL, &pa), 0);
	assert_int_equal(plan_compute(c, &b, NULL, &pb), 0);
	check_example_plan(&pb);
	ja = plan_json_text(&pa);
	jb = plan_json_text(&pb);
	assert_string_equal(ja, jb);
	/* Computing does not reorder the caller's observation. */
	assert_string_equal(b.secrets[0].name, "app-dup");
	assert_string_equal(b.secrets[0].id, "a-id");
	assert_string_equal(b.secrets[1].id, "b-id");
	assert_string_equal(b.secrets[7].name, "app-worker");
	free(ja);
	free(jb);
	plan_clear(&pa);
	plan_clear(&pb);
	observation_clear(&a);
	observation_clear(&b);
	config_free(c);
}

static void test_plan_empty(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};

	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.n_secrets, 0);
	assert_int_equal(p.n_governed, 0);
	assert_int_equal(p.n_tags, 0);
	plan_clear(&p);

	/* Governed, but every tag wanted. */
	add(&o, "id-p", "payments-db", "ENABLED", true, "owner", "bob", "env", "staging", NULL);
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.n_governed, 1);
	assert_int_equal(p.n_tags, 2);
	plan_clear(&p);
	observation_clear(&o);
	config_free(c);
}

/* Text F wrote into a memstream, NUL-terminated; caller frees. */
struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void capture_begin(struct capture *cap)
{
	*cap = (struct capture) {};
	cap->f = open_memstream(&cap->buf, &cap->len);
	assert_non_null(cap->f);
}

static char *capture_end(struct capture *cap)
{
	assert_int_equal(fclose(cap->f), 0);
	return cap->buf;
}

static char *table_of(const struct plan *p)
{
	struct capture cap;

	capture_begin(&cap);
	plan_print_table(p, cap.f);
	return capture_end(&cap);
}

static void test_table(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};
	char *out;

	fill_example(&o, false);
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	out = table_of(&p);
	/* Columns line up: the widest secret name is "payments-db". */
	assert_non_null(strstr(out, "SECRET       KEY     VALUE  REASON             RULE\n"));
	assert_non_null(strstr(out, "app-dup      temp-q  2      forbidden          plan.conf:11\n"));
	/* "é" takes one column, like every other character. */
	assert_non_null(strstr(out, "app-worker   temp-\xc3\xa9  4      forbidden"));
	assert_non_null(strstr(out, "payments-db  owner   carol  value-not-allowed  plan.conf:8\n"));
	assert_non_null(strstr(out, "payments-db  stray   1      no-rule            plan.conf:7\n"));
	assert_non_null(strstr(out, "\n8 deletions planned across 4 of 8 secrets (6 governed, "
	                            "1 pending deletion skipped, 1 with incompletely read tags skipped, "
	                            "11 tags examined).\n"));
	assert_null(strstr(out, "ungoverned"));
	assert_null(strstr(out, "app-old"));
	assert_null(strstr(out, "app-partial"));
	free(out);
	plan_clear(&p);
	observation_clear(&o);

	/* Nothing to do. */
	add(&o, "id-u", "ungoverned", "ENABLED", true, "temp-z", "1", NULL);
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	out = table_of(&p);
	assert_string_equal(out, "No deletions planned. 1 secret observed (0 governed, 0 tags examined).\n");
	free(out);
	plan_clear(&p);
	observation_clear(&o);
	config_free(c);
}

/* Wide (CJK) characters take two terminal columns; the table pads by
 * columns, not bytes or code points. */
static void test_table_wide_text(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};
	char *out;

	add(&o, "id-1", "app-1", "ENABLED", true,
	    "temp-\xe8\xb4\x9f\xe8\xb4\xa3", "\xe5\xbc\xa0", "temp-abcd", "x", "temp-e", "\xc3\xa9", NULL);
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	out = table_of(&p);
	assert_non_null(strstr(out, "SECRET  KEY        VALUE  REASON     RULE\n"));
	assert_non_null(strstr(out, "app-1   temp-abcd  x      forbidden  plan.conf:11\n"));
	assert_non_null(strstr(out, "app-1   temp-e     \xc3\xa9      forbidden  plan.conf:11\n"));
	assert_non_null(strstr(out, "app-1   temp-\xe8\xb4\x9f\xe8\xb4\xa3  \xe5\xbc\xa0     forbidden  plan.conf:11\n"));
	free(out);
	plan_clear(&p);
	observation_clear(&o);
	config_free(c);
}

static void test_table_escapes_hostile_text(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};
	char *out;

	add(&o, "id\n1", "app-evil", "ENABLED", true,
	    "temp-\x1b[2J", "a\\b", "temp-bad", "\xff\xfe", NULL);
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	assert_int_equal(p.n, 2);
	out = table_of(&p);
	assert_null(strchr(out, '\x1b'));
	assert_null(strchr(out, '\xff'));
	assert_non_null(strstr(out, "temp-\\x1b[2J"));
	assert_non_null(strstr(out, "a\\x5cb"));
	assert_non_null(strstr(out, "\\xff\\xfe"));
	free(out);

	/* JSON stays valid even for bytes that are not UTF-8. */
	{
		char *text = plan_json_text(&p);
		json_error_t err;
		json_t *j = json_loads(text, 0, &err);

		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(
			json_array_get(json_object_get(j, "deletions"), 1), "value")), "\\xff\\xfe");
		/* Valid UTF-8 is kept as it is, control characters included. */
		assert_string_equal(json_string_value(json_object_get(
			json_array_get(json_object_get(j, "deletions"), 0), "key")), "temp-\x1b[2J");
		json_decref(j);
		free(text);
	}
	plan_clear(&p);
	observation_clear(&o);
	config_free(c);
}

static size_t json_size(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return (size_t) json_integer_value(v);
}

static const char *json_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static void test_json(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};
	json_t *root, *summary, *list;
	json_error_t err;
	char *text;

	fill_example(&o, false);
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	text = plan_json_text(&p);
	root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		fail_msg("plan JSON does not parse: %s", err.text);
	/* summary, deletions, waiting, exempted, required, unused_exemptions */
	assert_int_equal(json_object_size(root), 6);

	summary = json_object_get(root, "summary");
	assert_true(json_is_object(summary));
	assert_int_equal(json_object_size(summary), 10);
	assert_int_equal(json_size(summary, "secrets"), 8);
	assert_int_equal(json_size(summary, "governed"), 6);
	assert_int_equal(json_size(summary, "pending_delete_skipped"), 1);
	assert_int_equal(json_size(summary, "incomplete_skipped"), 1);
	assert_int_equal(json_size(summary, "tags_examined"), 11);
	assert_int_equal(json_size(summary, "deletions"), ELEMENTSOF(example_items));

	list = json_object_get(root, "deletions");
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), ELEMENTSOF(example_items));
	for (size_t i = 0; i < ELEMENTSOF(example_items); i++) {
		const struct expected_item *e = &example_items[i];
		const json_t *d = json_array_get(list, i);

		assert_int_equal(json_object_size(d), 6);
		assert_string_equal(json_str(d, "secret_id"), e->id);
		assert_string_equal(json_str(d, "secret_name"), e->name);
		assert_string_equal(json_str(d, "key"), e->key);
		assert_string_equal(json_str(d, "value"), e->value);
		assert_string_equal(json_str(d, "reason"), reason_to_string(e->reason));
		assert_string_equal(json_str(d, "rule"), e->rule_ref);
	}
	json_decref(root);
	free(text);
	plan_clear(&p);

	/* An empty plan still has the whole shape. */
	observation_clear(&o);
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	text = plan_json_text(&p);
	assert_string_equal(text, "{\"deletions\": [], \"exempted\": [], \"required\": [], \"summary\": "
	                          "{\"deletions\": 0, \"exempted\": 0, \"governed\": 0, "
	                          "\"incomplete_skipped\": 0, \"pending_delete_skipped\": 0, "
	                          "\"required_invalid\": 0, \"required_missing\": 0, "
	                          "\"secrets\": 0, \"tags_examined\": 0, \"waiting\": 0}, "
	                          "\"unused_exemptions\": [], \"waiting\": []}");
	free(text);
	plan_clear(&p);
	config_free(c);
}

static char *explain_of(const struct config *c, const struct observation *o, const char *name,
                        int expect)
{
	struct capture cap;

	capture_begin(&cap);
	assert_int_equal(plan_explain(c, o, NULL, name, cap.f), expect);
	return capture_end(&cap);
}

static void test_explain(void **state)
{
	struct config *c = load(
		"[daemon]\n"                    /* L(1) */
		"protect = owner\n"             /* L(2) */
		"[secret \"payments-db\"]\n"    /* L(3) */
		"owner = alice\n"               /* L(4) */
		"env = prod|staging\n"          /* L(5) */
		"[secrets \"app-*\"]\n"         /* L(6) */
		"temp-* = !\n"                  /* L(7) */
		"* = *\n");                     /* L(8) */
	static const struct {
		const char *name;
		int ret;
		const char *text;
	} cases[] = {
		{ "payments-db", 0,
		  "secret payments-db (id-p): governed by [secret \"payments-db\"] at plan.conf:9\n"
		  "  keep    _sys_x=y      system tag\n"
		  "  keep    env=prod      allowed by plan.conf:11\n"
		  "  delete  env2=prod     no rule of the section at plan.conf:9 matches the key\n"
		  "  keep    managed=csms  system tag\n"
		  "  keep    owner=carol   protected by [daemon] protect glob \"owner\"\n"
		  "  delete  stage=\\x1b    no rule of the section at plan.conf:9 matches the key\n"
		  "  system  managed=csms  in sys_tags; never touched\n" },
		{ "app-web", 0,
		  "secret app-web (id-a): governed by [secrets \"app-*\"] at plan.conf:12\n"
		  "  keep    team=     allowed by plan.conf:14\n"
		  "  delete  temp-x=1  forbidden by plan.conf:13\n" },
		{ "app-old", 0,
		  "secret app-old (id-o): governed by [secrets \"app-*\"] at plan.conf:12\n"
		  "  skipped: scheduled for deletion (PENDING_DELETE); its tags are left alone\n"
		  "  skip    temp-x=1  forbidden by plan.conf:13\n" },
		{ "app-partial", 0,
		  "secret app-partial (id-q): governed by [secrets \"app-*\"] at plan.conf:12\n"
		  "  skipped: its tags were not read completely; skipped rather than judged on part of them\n"
		  "  (no tags)\n" },
		{ "legacy", 0,
		  "secret legacy (id-l): not governed: no section matches; its tags are never touched\n"
		  "  keep    temp-x=1  not governed\n" },
		{ "dup", 0,
		  "secret dup (id-1): not governed: no section matches; its tags are never touched\n"
		  "  (no tags)\n"
		  "\n"
		  "secret dup (id-2): not governed: no section matches; its tags are never touched\n"
		  "  (no tags)\n" },
		{ "missing", -ENOENT, "" },
	};
	struct observation o = {};
	struct secret *s;

	s = add(&o, "id-p", "payments-db", "ENABLED", true, "stage", "\x1b", "owner", "carol",
	        "env2", "prod", "env", "prod", "_sys_x", "y", "managed", "csms", NULL);
	assert_int_equal(tag_list_add(&s->sys_tags, "managed", "csms"), 0);
	add(&o, "id-a", "app-web", "ENABLED", true, "team", "", "temp-x", "1", NULL);
	add(&o, "id-o", "app-old", "PENDING_DELETE", true, "temp-x", "1", NULL);
	add(&o, "id-q", "app-partial", "ENABLED", false, NULL);
	add(&o, "id-l", "legacy", "ENABLED", true, "temp-x", "1", NULL);
	add(&o, "id-2", "dup", "ENABLED", true, NULL);
	add(&o, "id-1", "dup", "ENABLED", true, NULL);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *out = explain_of(c, &o, cases[i].name, cases[i].ret);

		if (strcmp(out, cases[i].text) != 0)
			fail_msg("explain %s:\n%s\nexpected:\n%s", cases[i].name, out, cases[i].text);
		free(out);
	}
	observation_clear(&o);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_example),
		cmocka_unit_test(test_plan_deterministic),
		cmocka_unit_test(test_plan_empty),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_wide_text),
		cmocka_unit_test(test_table_escapes_hostile_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_explain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
