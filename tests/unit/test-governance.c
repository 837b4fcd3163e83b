/* test-governance.c - exemptions, grace periods and required tags: their
 * syntax and errors (config.c), their verdicts at an injected time
 * (plan.c), and the grace clock store (grace.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "observed.h"
#include "config.h"
#include "grace.h"
#include "observation.h"
#include "plan.h"
#include "plan-view.h"
#include "util.h"
#include "values.h"

#include "prologue.h"
#define L(n) (PROLOGUE_LINES + (n))

#define SEC  UINT64_C(1000000)
#define DAY  (86400 * SEC)
/* 2026-11-29 00:00:00 UTC, the "now" of every test. */
#define NOW  (UINT64_C(1795910400) * SEC)

static struct config *load_at(const char *body, uint64_t now, char **error)
{
	_cleanup_free_ char *text = xasprintf("%s%s", PROLOGUE, body);
	struct config *c = NULL;

	assert_non_null(text);
	*error = NULL;
	config_load_string_at("gov.conf", text, 0, now, &c, error);
	return c;
}

static struct config *load(const char *body)
{
	char *error = NULL;
	struct config *c = load_at(body, NOW, &error);

	if (!c)
		fail_msg("config rejected: %s", error ? error : "?");
	return c;
}

static void expect_error(const char *body, const char *message)
{
	char *error = NULL;
	struct config *c = load_at(body, NOW, &error);

	if (c)
		fail_msg("config accepted, expected: %s", message);
	assert_non_null(error);
	if (!strstr(error, message))
		fail_msg("error '%s' does not contain '%s'", error, message);
	free(error);
}

/* ---- values ----------------------------------------------------------------- */

static void test_parse_utc_time(void **state)
{
	uint64_t t;
	char buf[32];

	assert_int_equal(parse_time("2026-11-29", ZONE_UTC, &t), 0);
	assert_true(t == NOW);
	assert_int_equal(parse_time("2026-11-29 01:02", ZONE_UTC, &t), 0);
	assert_true(t == NOW + 3720 * SEC);
	assert_int_equal(parse_time("2026-11-29T01:02:03Z", ZONE_UTC, &t), 0);
	assert_true(t == NOW + 3723 * SEC);
	assert_string_equal(format_utc_time(buf, sizeof(buf), t), "2026-11-29 01:02:03 UTC");
	assert_int_equal(parse_time("2024-02-29", ZONE_UTC, &t), 0);
	assert_int_equal(parse_time("2026-02-29", ZONE_UTC, &t), -EINVAL);
	assert_int_equal(parse_time("2026-02-30", ZONE_UTC, &t), -EINVAL);
	assert_int_equal(parse_time("2026-13-01", ZONE_UTC, &t), -EINVAL);
	assert_int_equal(parse_time("2026-11-29 24:00", ZONE_UTC, &t), -EINVAL);
	assert_int_equal(parse_time("2026-11-29 12", ZONE_UTC, &t), -EINVAL);
	assert_int_equal(parse_time("29.11.2026", ZONE_UTC, &t), -EINVAL);
	assert_int_equal(parse_time("2026-11-29 ", ZONE_UTC, &t), -EINVAL);
	assert_int_equal(parse_time("1969-12-31", ZONE_UTC, &t), -EINVAL);
	assert_int_equal(parse_time("", ZONE_UTC, &t), -EINVAL);
	(void) state;
}

/* ---- config ----------------------------------------------------------------- */

static const char governance[] =
	"[daemon]\n"                            /* L(1) */
	"grace = 1d\n"                          /* L(2) */
	"[secrets \"app-*\"]\n"                 /* L(3) */
	"/grace = 3d\n"                         /* L(4) */
	"/required = owner | env\n"             /* L(5) */
	"owner = *\n"                           /* L(6) */
	"env = prod | staging\n"                /* L(7) */
	"temp-* = !\n"                          /* L(8) */
	"[secrets \"db-*\"]\n"                  /* L(9) */
	"owner = *\n"                           /* L(10) */
	"[exempt \"migration\"]\n"              /* L(11) */
	"secret = app-*\n"                      /* L(12) */
	"key = temp-*\n"                        /* L(13) */
	"reason = CHG-42 migration in progress\n" /* L(14) */
	"expires = 2026-12-10\n"                /* L(15) */
	"[exempt \"old\"]\n"                    /* L(16) */
	"secret = db-*\n"                       /* L(17) */
	"key = legacy\n"                        /* L(18) */
	"value = keep-*\n"                      /* L(19) */
	"reason = ticket 7\n"                   /* L(20) */
	"expires = 2026-11-01 12:00\n"          /* L(21) */
	"[exempt \"nothing\"]\n"                /* L(22) */
	"secret = nowhere\n"                    /* L(23) */
	"key = *\n"                             /* L(24) */
	"reason = r\n"                          /* L(25) */
	"expires = 2027-01-01\n";               /* L(26) */

static void test_config_governance(void **state)
{
	struct config *c = load(governance);
	const struct section *app = &c->sections[0], *db = &c->sections[1];

	assert_true(c->daemon.grace_usec == DAY);
	assert_true(app->has_grace && app->grace_usec == 3 * DAY);
	assert_false(db->has_grace);
	assert_true(config_grace_for(c, app) == 3 * DAY);
	assert_true(config_grace_for(c, db) == DAY);
	assert_true(config_uses_grace(c));
	/* "/grace" and "/required" are settings, not rules. */
	assert_int_equal(app->n_rules, 3);
	assert_int_equal(app->n_required, 2);
	assert_string_equal(app->required[0], "owner");
	assert_string_equal(app->required[1], "env");
	assert_int_equal(app->required_line, L(5));

	assert_int_equal(c->n_exemptions, 3);
	assert_string_equal(c->exemptions[0].name, "migration");
	assert_string_equal(c->exemptions[0].secret, "app-*");
	assert_string_equal(c->exemptions[0].key, "temp-*");
	assert_null(c->exemptions[0].value);
	assert_string_equal(c->exemptions[0].reason, "CHG-42 migration in progress");
	assert_true(c->exemptions[0].expires_usec == NOW + 11 * DAY);
	assert_int_equal(c->exemptions[0].line, L(11));
	assert_string_equal(c->exemptions[1].value, "keep-*");
	/* An expired exemption loads: a daemon must restart after the date. */
	assert_true(c->exemptions[1].expires_usec < NOW);
	config_free(c);

	c = load("[secret \"x\"]\nk = *\n");
	assert_false(config_uses_grace(c));
	assert_null(c->daemon.state_directory);
	config_free(c);
	(void) state;
}

static void test_config_errors(void **state)
{
	expect_error("[exempt \"a\"]\nsecret = *\nkey = k\nreason = r\n", "gov.conf:7: [exempt] needs expires");
	expect_error("[exempt \"a\"]\nsecret = *\nkey = k\nexpires = 2026-12-01\n", "[exempt] needs reason");
	expect_error("[exempt \"a\"]\nkey = k\nreason = r\nexpires = 2026-12-01\n[secret \"x\"]\nk = *\n",
	             "gov.conf:7: [exempt] needs secret");
	expect_error("[exempt \"a\"]\nsecret = *\nkey = k\nreason = r\nexpires = 2026-12-32\n",
	             "gov.conf:11: expires '2026-12-32' is not a date in UTC");
	expect_error("[exempt \"a\"]\nsecret = *\nkey = k\nreason = r\nexpires = next week\n",
	             "gov.conf:11: expires 'next week' is not a date");
	expect_error("[exempt \"a\"]\nsecret = *\nkey = k\nreason = r\nexpires = 2027-11-30\n",
	             "gov.conf:11: expires '2027-11-30' is more than 365 days ahead");
	expect_error("[exempt \"a\"]\nsecret = *\nkey = k\nreason = r\nexpires = 2026-12-01\nowner = x\n",
	             "gov.conf:12: unknown key 'owner' in [exempt");
	expect_error("[exempt \"a\"]\nsecret = *\nsecret = y\n", "gov.conf:9: duplicate key 'secret'");
	expect_error("[exempt \"a\"]\nsecret = *\nkey = [k\n", "gov.conf:9: key glob '[k' is not a valid glob");
	expect_error("[exempt \"a\"]\nsecret = *\nkey = k\nreason =\n", "gov.conf:10: reason must be");
	expect_error("[exempt]\n", "gov.conf:7: [exempt] needs a quoted name");
	expect_error("[exempt \"a\"]\nsecret = *\nkey = k\nreason = r\nexpires = 2026-12-01\n"
	             "[exempt \"a\"]\n", "gov.conf:12: duplicate section [exempt \"a\"] (first at line 7)");

	expect_error("[secret \"x\"]\n/grace = soon\n", "gov.conf:8: /grace 'soon' is not a time span");
	expect_error("[secret \"x\"]\n/grace = 400d\n", "gov.conf:8: /grace '400d' is out of range");
	expect_error("[secret \"x\"]\n/grace = 1d\n/grace = 2d\n", "gov.conf:9: duplicate /grace");
	expect_error("[secret \"x\"]\n/owner = *\n", "gov.conf:8: unknown section setting '/owner'");
	expect_error("[secret \"x\"]\n/required = owner\n",
	             "gov.conf:8: /required key 'owner': no rule of this section matches it");
	expect_error("[secret \"x\"]\n/required = owner\nowner = !\n",
	             "gov.conf:8: /required key 'owner' is forbidden by the rule at line 9");
	expect_error("[secret \"x\"]\n/required = own*\n* = *\n", "gov.conf:8: /required key 'own*' is a glob");
	expect_error("[secret \"x\"]\n/required = a | a\n* = *\n", "/required names 'a' twice");
	expect_error("[secret \"x\"]\n/required = a, b\n* = *\n", "holds a ','");
	expect_error("[secret \"x\"]\n/required = a||b\n* = *\n", "gov.conf:8: /required: empty key (a stray");
	expect_error("[daemon]\ngrace = 2 years\n", "gov.conf:8: grace '2 years' is not a time span");
	expect_error("[daemon]\nstate_directory = var/lib\n", "gov.conf:8: state_directory 'var/lib' is not an absolute path");
	(void) state;
}

/* /required continues on indented lines like any list; %2F writes a rule
 * for a key starting with '/'. */
static void test_config_lists(void **state)
{
	struct config *c = load("[secret \"x\"]\n/required = a |\n  b\n%2Fodd = *\n* = *\n");

	assert_int_equal(c->sections[0].n_required, 2);
	assert_string_equal(c->sections[0].required[1], "b");
	assert_string_equal(c->sections[0].rules[0].key, "/odd");
	config_free(c);
	(void) state;
}

/* ---- plan ------------------------------------------------------------------- */

static void fill(struct observation *o)
{
	observed_add(o, "id-a", "app-one", "owner", "x", "env", "test", "temp-1", "a", NULL);
	observed_add(o, "id-d", "db-one", "owner", "y", "legacy", "keep-me", "stray", "1", NULL);
}

static const struct plan_item *find(const struct plan_item *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].key, key) == 0)
			return &v[i];
	return NULL;
}

static void test_plan_exemptions_and_grace(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};
	struct plan_time t = { .now_usec = NOW };
	const struct plan_item *it;

	fill(&o);
	assert_int_equal(plan_compute(c, &o, &t, &p), 0);
	/* temp-1 is forbidden, but "migration" keeps it until 2026-12-10. */
	assert_int_equal(p.n_exempted, 1);
	it = &p.exempted[0];
	assert_string_equal(it->key, "temp-1");
	assert_int_equal(it->exemption_line, L(11));
	assert_false(it->exemption_expired);
	assert_string_equal(it->exemption_reason, "CHG-42 migration in progress");
	/* env=test (app, 3d) and legacy + stray (db: [daemon] 1d) wait: no
	 * clock yet, so they start now.  "old" has expired: noted on legacy. */
	assert_int_equal(p.n, 0);
	assert_int_equal(p.n_waiting, 3);
	it = find(p.waiting, p.n_waiting, "env");
	assert_true(it->grace_usec == 3 * DAY && it->first_seen_usec == NOW && it->due_usec == NOW + 3 * DAY);
	it = find(p.waiting, p.n_waiting, "legacy");
	assert_true(it->grace_usec == DAY);
	assert_int_equal(it->exemption_line, L(16));
	assert_true(it->exemption_expired);
	assert_int_equal(p.clocks.n, 3);
	/* "nothing" kept nothing; "old" expired and is not reported unused. */
	assert_int_equal(p.n_unused, 1);
	assert_string_equal(p.unused[0].name, "nothing");
	assert_int_equal(p.unused[0].line, L(22));
	/* app-one: env=test is not allowed by its rule. */
	assert_int_equal(p.n_required, 1);
	assert_null(p.required[0].missing);
	assert_string_equal(p.required[0].invalid, "env=test");
	assert_int_equal(p.n_required_invalid, 1);
	assert_int_equal(p.n_required_missing, 0);
	assert_int_equal(plan_worst_case(&p), 0);

	/* Two days later with the stored clocks: the 1d ones are due, env not.
	 * The exemption still holds. */
	{
		struct grace_clocks clocks = p.clocks;
		struct plan q = {};

		p.clocks = (struct grace_clocks) {};
		t = (struct plan_time) { .now_usec = NOW + 2 * DAY, .clocks = &clocks };
		assert_int_equal(plan_compute(c, &o, &t, &q), 0);
		assert_int_equal(q.n, 2);
		assert_string_equal(q.items[0].key, "legacy");
		assert_string_equal(q.items[1].key, "stray");
		assert_true(q.items[0].due_usec == NOW + DAY);
		assert_int_equal(q.n_waiting, 1);
		assert_string_equal(q.waiting[0].key, "env");
		assert_true(q.waiting[0].first_seen_usec == NOW);
		assert_int_equal(q.n_exempted, 1);
		assert_int_equal(plan_worst_case(&q), 2);
		plan_clear(&q);

		/* After the exemption's expiry temp-1 goes by the rules again: its
		 * grace period starts then, not when it was first exempted. */
		t.now_usec = NOW + 12 * DAY;
		assert_int_equal(plan_compute(c, &o, &t, &q), 0);
		assert_int_equal(q.n_exempted, 0);
		it = find(q.waiting, q.n_waiting, "temp-1");
		assert_non_null(it);
		assert_true(it->exemption_expired);
		assert_true(it->first_seen_usec == NOW + 12 * DAY);
		assert_null(find(q.waiting, q.n_waiting, "env"));
		assert_non_null(find(q.items, q.n, "env"));
		plan_clear(&q);
		grace_clocks_clear(&clocks);
	}
	plan_clear(&p);
	observation_clear(&o);
	config_free(c);
	(void) state;
}

/* A tag that became compliant or disappeared drops its clock; coming back
 * it starts again. */
static void test_plan_clock_dropped(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {}, q = {};
	struct plan_time t = { .now_usec = NOW };
	struct grace_clocks clocks;

	observed_add(&o, "id-d", "db-one", "owner", "y", "stray", "1", NULL);
	assert_int_equal(plan_compute(c, &o, &t, &p), 0);
	assert_int_equal(p.clocks.n, 1);
	clocks = p.clocks;
	p.clocks = (struct grace_clocks) {};
	plan_clear(&p);

	observation_clear(&o);
	observed_add(&o, "id-d", "db-one", "owner", "y", NULL);
	t = (struct plan_time) { .now_usec = NOW + DAY / 2, .clocks = &clocks };
	assert_int_equal(plan_compute(c, &o, &t, &p), 0);
	assert_int_equal(p.clocks.n, 0);
	grace_clocks_clear(&clocks);
	clocks = p.clocks;
	p.clocks = (struct grace_clocks) {};
	plan_clear(&p);

	observation_clear(&o);
	observed_add(&o, "id-d", "db-one", "owner", "y", "stray", "1", NULL);
	t = (struct plan_time) { .now_usec = NOW + 2 * DAY, .clocks = &clocks };
	assert_int_equal(plan_compute(c, &o, &t, &q), 0);
	assert_int_equal(q.n, 0);
	assert_int_equal(q.n_waiting, 1);
	assert_true(q.waiting[0].first_seen_usec == NOW + 2 * DAY);
	/* A new value is a new tag. */
	plan_clear(&q);
	grace_clocks_clear(&clocks);
	observation_clear(&o);
	config_free(c);
	(void) state;
}

/* A clock stored in the future (clock went back) restarts: never early. */
static void test_plan_future_clock(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};
	struct grace_clocks clocks = {};
	uint8_t d[GRACE_DIGEST_LEN];
	struct plan_time t = { .now_usec = NOW, .clocks = &clocks };

	observed_add(&o, "id-d", "db-one", "owner", "y", "stray", "1", NULL);
	grace_digest("id-d", "stray", "1", d);
	assert_int_equal(grace_clocks_add(&clocks, d, NOW + 10 * DAY), 0);
	grace_clocks_sort(&clocks);
	assert_int_equal(plan_compute(c, &o, &t, &p), 0);
	assert_int_equal(p.n_waiting, 1);
	assert_true(p.waiting[0].first_seen_usec == NOW);
	plan_clear(&p);
	grace_clocks_clear(&clocks);
	observation_clear(&o);
	config_free(c);
	(void) state;
}

static void test_plan_required_missing(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan p = {};
	struct plan_time t = { .now_usec = NOW };

	observed_add(&o, "id-b", "app-two", NULL);
	observed_add(&o, "id-c", "app-three", "owner", "z", "env", "prod", NULL);
	assert_int_equal(plan_compute(c, &o, &t, &p), 0);
	assert_int_equal(p.n_required, 1);
	assert_string_equal(p.required[0].secret_name, "app-two");
	assert_string_equal(p.required[0].missing, "owner, env");
	assert_int_equal(p.required[0].n_missing, 2);
	assert_int_equal(p.n_required_missing, 2);
	/* Never created: the plan holds deletions only. */
	assert_int_equal(p.n, 0);
	plan_clear(&p);
	observation_clear(&o);
	config_free(c);
	(void) state;
}

/* Right before deleting: an exemption still keeps, and a graced tag whose
 * value changed is a new tag that has not waited. */
static void test_plan_recheck(void **state)
{
	struct config *c = load(governance);
	struct plan_item it = {
		.secret_id = (char *) "id-d", .secret_name = (char *) "db-one", .key = (char *) "stray",
		.value = (char *) "1", .decided_usec = NOW, .grace_usec = DAY,
	};
	struct tag_list tags = {}, sys = {};
	const char *value = NULL;

	assert_int_equal(tag_list_add(&tags, "stray", "1"), 0);
	assert_int_equal(plan_recheck(c, &it, &tags, &sys, &value), RECHECK_DELETE);
	assert_string_equal(value, "1");
	tag_list_clear(&tags);
	assert_int_equal(tag_list_add(&tags, "stray", "2"), 0);
	assert_int_equal(plan_recheck(c, &it, &tags, &sys, &value), RECHECK_KEEP);
	tag_list_clear(&tags);

	/* legacy=keep-1 on db-one: "old" expired at NOW, active before. */
	it.key = (char *) "legacy";
	it.value = (char *) "keep-1";
	assert_int_equal(tag_list_add(&tags, "legacy", "keep-1"), 0);
	it.decided_usec = NOW - 30 * DAY;
	assert_int_equal(plan_recheck(c, &it, &tags, &sys, &value), RECHECK_KEEP);
	it.decided_usec = NOW;
	assert_int_equal(plan_recheck(c, &it, &tags, &sys, &value), RECHECK_DELETE);
	tag_list_clear(&tags);
	config_free(c);
	(void) state;
}

static void test_explain(void **state)
{
	struct config *c = load(governance);
	struct observation o = {};
	struct plan_time t = { .now_usec = NOW };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fill(&o);
	assert_int_equal(plan_explain(c, &o, &t, "app-one", f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "  exempt  temp-1=a"));
	assert_non_null(strstr(buf, "kept by exemption \"migration\" at gov.conf:17 until 2026-12-10 00:00:00 UTC: "
	                            "CHG-42 migration in progress"));
	assert_non_null(strstr(buf, "  wait    env=test"));
	assert_non_null(strstr(buf, "due 2026-12-02 00:00:00 UTC (grace 3d"));
	assert_non_null(strstr(buf, "required (gov.conf:11): value not allowed env=test (reported, never created)"));
	free(buf);
	/* The table words a requirement as --explain and the journal do. */
	{
		struct plan p = {};

		assert_int_equal(plan_compute(c, &o, &t, &p), 0);
		f = open_memstream(&buf, &len);
		assert_non_null(f);
		plan_print_table(&p, f);
		fclose(f);
		assert_non_null(strstr(buf, "  app-one  value not allowed env=test  (gov.conf:11)\n"));
		free(buf);
		plan_clear(&p);
	}
	observation_clear(&o);
	config_free(c);
	(void) state;
}

/* ---- the clock set ---------------------------------------------------------- */

/* The clock set (the ledger stores it, test-ledger.c). */
static void test_clock_set(void **state)
{
	struct grace_clocks c = {};
	uint8_t d1[GRACE_DIGEST_LEN], d2[GRACE_DIGEST_LEN];
	uint64_t t;

	grace_digest("s", "k", "v", d1);
	grace_digest("s", "k", "w", d2);
	assert_memory_not_equal(d1, d2, GRACE_DIGEST_LEN);
	assert_int_equal(grace_clocks_add(&c, d2, NOW - 5), 0);
	assert_int_equal(grace_clocks_add(&c, d1, NOW - 7), 0);
	assert_int_equal(grace_clocks_add(&c, d1, NOW - 3), 0);      /* the later one stays */
	grace_clocks_sort(&c);
	assert_int_equal(c.n, 2);
	assert_int_equal(grace_clocks_find(&c, d1, &t), 0);
	assert_true(t == NOW - 3);
	assert_int_equal(grace_clocks_find(&c, d2, &t), 0);
	assert_true(t == NOW - 5);
	grace_clocks_drop(&c, d1);
	grace_clocks_drop(&c, d1);
	assert_int_equal(c.n, 1);
	assert_int_equal(grace_clocks_find(&c, d1, &t), -ENOENT);
	assert_int_equal(grace_clocks_find(&c, d2, &t), 0);
	grace_clocks_clear(&c);
	(void) state;
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_utc_time),
		cmocka_unit_test(test_config_governance),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_lists),
		cmocka_unit_test(test_plan_exemptions_and_grace),
		cmocka_unit_test(test_plan_clock_dropped),
		cmocka_unit_test(test_plan_future_clock),
		cmocka_unit_test(test_plan_required_missing),
		cmocka_unit_test(test_plan_recheck),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_clock_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
