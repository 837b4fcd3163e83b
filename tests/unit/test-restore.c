/* test-restore.c - undo: time arguments, the journalctl -o json record
 * reader (byte-array values, filters, bad input), the choice of the latest
 * deletion, and the restore decision; the records' targets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"
#include "log.h"
#include "observation.h"
#include "restore.h"
#include "values.h"
#include "util.h"

static void test_parse_time(void **state)
{
	static const char *const refused[] = {
		"-1h", "yesterday", "now", "", "@", "@-5", "@12x", "2026-02-30", "2026-13-01",
		"2026-11-29 25:00", "2026-11-29 12", "2026-11-29T12:00:00+1:00", "2026-11-29 12:00:00 CET",
		"1969-12-31Z", "26-11-29",
	};
	struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 29, .tm_isdst = -1 };
	uint64_t t;

	assert_int_equal(parse_time("@0", ZONE_LOCAL, &t), 0);
	assert_true(t == 0);
	assert_int_equal(parse_time("@1795000000", ZONE_LOCAL, &t), 0);
	assert_true(t == UINT64_C(1795000000) * USEC_PER_SEC);
	assert_int_equal(parse_time("2026-11-29 12:34:56Z", ZONE_LOCAL, &t), 0);
	assert_true(t == UINT64_C(1795955696) * USEC_PER_SEC);
	assert_int_equal(parse_time("2026-11-29T12:34:56Z", ZONE_LOCAL, &t), 0);
	assert_true(t == UINT64_C(1795955696) * USEC_PER_SEC);
	assert_int_equal(parse_time("2026-11-29T13:34:56+01:00", ZONE_LOCAL, &t), 0);
	assert_true(t == UINT64_C(1795955696) * USEC_PER_SEC);
	assert_int_equal(parse_time("2026-11-29 12:34 UTC", ZONE_LOCAL, &t), 0);
	assert_true(t == UINT64_C(1795955640) * USEC_PER_SEC);
	/* Without a zone: local time, as journalctl --since reads it. */
	assert_int_equal(parse_time("2026-11-29", ZONE_LOCAL, &t), 0);
	assert_true(t == (uint64_t) mktime(&tm) * USEC_PER_SEC);
	for (size_t i = 0; i < ELEMENTSOF(refused); i++)
		if (parse_time(refused[i], ZONE_LOCAL, &t) != -EINVAL)
			fail_msg("'%s' accepted", refused[i]);
}

#define DEL(ts, extra) "{\"__REALTIME_TIMESTAMP\": \"" ts "\", \"MESSAGE_ID\": \"" MID_TAG_DELETED \
	"\", \"DRY_RUN\": \"0\"" extra "}\n"
#define FIELDS(id, name, key, value) ", \"CSMS_SECRET_ID\": \"" id "\", \"CSMS_SECRET_NAME\": \"" name \
	"\", \"CSMS_TAG_KEY\": \"" key "\", \"CSMS_TAG_VALUE\": " value

static int read_text(const char *text, const struct restore_filter *flt, struct restore_set *set,
                     char **error)
{
	FILE *f = fmemopen((void *) text, strlen(text), "r");
	int r;

	assert_non_null(f);
	r = restore_read_json(f, "j.json", flt, set, error);
	fclose(f);
	return r;
}

static const struct restore_filter all = { .until_usec = UINT64_MAX };

static void test_read_json(void **state)
{
	static const char text[] =
		DEL("100", FIELDS("s1", "app-a", "k1", "\"v1\""))
		"\n"
		/* Not UTF-8: journalctl writes an array of byte values. */
		DEL("200", FIELDS("s1", "app-a", "k2", "[118, 255, 120]"))
		/* Dry runs, other messages and other units do not count. */
		"{\"__REALTIME_TIMESTAMP\": \"300\", \"MESSAGE_ID\": \"" MID_TAG_DELETED "\", \"DRY_RUN\": \"1\""
		FIELDS("s1", "app-a", "k3", "\"x\"") "}\n"
		"{\"__REALTIME_TIMESTAMP\": \"300\", \"MESSAGE_ID\": \"" MID_TAG_WOULD_DELETE "\", \"DRY_RUN\": \"0\""
		FIELDS("s1", "app-a", "k4", "\"x\"") "}\n"
		"{\"MESSAGE\": \"Pass 1 started\", \"__REALTIME_TIMESTAMP\": \"1\"}\n"
		DEL("400", FIELDS("s2", "db-b", "k1", "\"\"") ", \"_SYSTEMD_UNIT\": \"csms-tagd@b.service\"");
	struct restore_set set = {};
	char *error = NULL;

	assert_int_equal(read_text(text, &all, &set, &error), 0);
	assert_null(error);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.items[0].key, "k1");
	assert_string_equal(set.items[0].value, "v1");
	assert_true(set.items[0].realtime_usec == 100);
	assert_string_equal(set.items[1].value, "v\xffx");
	assert_string_equal(set.items[2].secret_name, "db-b");
	assert_string_equal(set.items[2].value, "");
	restore_set_clear(&set);

	/* The window (inclusive), the secret glob and the unit. */
	struct restore_filter f = { .since_usec = 200, .until_usec = 400 };
	assert_int_equal(read_text(text, &f, &set, NULL), 0);
	assert_int_equal(set.n, 2);
	restore_set_clear(&set);
	f = (struct restore_filter) { .until_usec = 399 };
	assert_int_equal(read_text(text, &f, &set, NULL), 0);
	assert_int_equal(set.n, 2);
	restore_set_clear(&set);
	f = (struct restore_filter) { .until_usec = UINT64_MAX, .secret_glob = "db-*" };
	assert_int_equal(read_text(text, &f, &set, NULL), 0);
	assert_int_equal(set.n, 1);
	restore_set_clear(&set);
	f = (struct restore_filter) { .until_usec = UINT64_MAX, .unit = "csms-tagd@b.service" };
	assert_int_equal(read_text(text, &f, &set, NULL), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.items[0].secret_id, "s2");
	restore_set_clear(&set);
}

static void test_read_json_bad(void **state)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "{\"a\": 1}\nnot json\n", "j.json:2: not a JSON object" },
		{ "[1]\n", "j.json:1: not a JSON object" },
		{ DEL("1", FIELDS("s", "n", "k", "null")), "j.json:1: CSMS_TAG_VALUE: is null (larger than "
		  "journalctl's threshold: use journalctl --all)" },
		{ DEL("1", FIELDS("s", "n", "k", "[\"a\", \"b\"]")), "CSMS_TAG_VALUE: is an array but not of byte values" },
		{ DEL("1", FIELDS("s", "n", "k", "[97, 0]")), "CSMS_TAG_VALUE: contains a NUL byte" },
		{ DEL("1", FIELDS("s", "n", "k", "[97, 256]")), "not of byte values" },
		{ DEL("1", FIELDS("s", "n", "k", "5")), "neither a string nor an array" },
		{ DEL("1", ", \"CSMS_SECRET_ID\": \"s\", \"CSMS_SECRET_NAME\": \"n\", \"CSMS_TAG_VALUE\": \"v\""),
		  "j.json:1: deletion record without a usable CSMS_TAG_KEY" },
		{ DEL("x1", FIELDS("s", "n", "k", "\"v\"")), "without a valid __REALTIME_TIMESTAMP" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct restore_set set = {};
		char *error = NULL;

		assert_int_equal(read_text(cases[i].text, &all, &set, &error), -EINVAL);
		if (!error || !strstr(error, cases[i].message))
			fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].message, error ? error : "(null)");
		free(error);
		restore_set_clear(&set);
	}
}

static void test_select_latest(void **state)
{
	static const char text[] =
		DEL("300", FIELDS("s1", "a", "k", "\"third\""))
		DEL("100", FIELDS("s1", "a", "k", "\"first\""))
		DEL("200", FIELDS("s1", "a", "k", "\"second\""))
		DEL("100", FIELDS("s0", "z", "k", "\"tie-1\""))
		DEL("100", FIELDS("s0", "z", "k", "\"tie-2\""))
		DEL("100", FIELDS("s1", "a", "j", "\"other key\""));
	struct restore_set set = {};

	assert_int_equal(read_text(text, &all, &set, NULL), 0);
	restore_select(&set);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.items[0].secret_id, "s0");
	assert_string_equal(set.items[0].value, "tie-2");
	assert_string_equal(set.items[1].key, "j");
	assert_string_equal(set.items[2].key, "k");
	assert_string_equal(set.items[2].value, "third");
	restore_set_clear(&set);
}

#define TARGET(key, name) ", \"CSMS_PROJECT\": \"" key "\", \"CSMS_TARGET\": \"" name "\""

/* Records name their target (organisation mode); the filter selects by
 * key or name; the latest wins per target; a set splits by target. */
static void test_targets(void **state)
{
	static const char text[] =
		DEL("100", FIELDS("s1", "app-a", "k", "\"default\""))
		DEL("200", FIELDS("s1", "app-a", "k", "\"prod\"") TARGET("b100", "acme-prod/cn-north-4"))
		DEL("300", FIELDS("s1", "app-a", "k", "\"dev\"") TARGET("b200", "acme-dev/cn-north-4"))
		DEL("150", FIELDS("s1", "app-a", "k", "\"prod-older\"") TARGET("b100", "acme-prod/cn-north-4"));
	struct restore_set set = {}, part = {};
	struct restore_filter f = all;

	assert_int_equal(read_text(text, &all, &set, NULL), 0);
	assert_int_equal(set.n, 4);
	assert_string_equal(set.items[0].target, "");
	assert_string_equal(set.items[0].target_name, "");
	assert_string_equal(set.items[1].target, "b100");
	assert_string_equal(set.items[1].target_name, "acme-prod/cn-north-4");
	/* One key of one secret id in three targets: three deletions. */
	restore_select(&set);
	assert_int_equal(set.n, 3);
	assert_string_equal(set.items[0].value, "default");
	assert_string_equal(set.items[1].value, "prod");
	assert_string_equal(set.items[2].value, "dev");
	assert_int_equal(restore_set_take_target(&set, "b100", &part), 0);
	assert_int_equal(part.n, 1);
	assert_string_equal(part.items[0].value, "prod");
	assert_int_equal(set.n, 2);
	assert_string_equal(set.items[0].target, "");
	assert_string_equal(set.items[1].target, "b200");
	restore_set_clear(&part);
	assert_int_equal(restore_set_take_target(&set, "none", &part), 0);
	assert_int_equal(part.n, 0);
	assert_int_equal(set.n, 2);
	restore_set_clear(&set);

	f.target_glob = "acme-*";
	assert_int_equal(read_text(text, &f, &set, NULL), 0);
	assert_int_equal(set.n, 3);
	restore_set_clear(&set);
	f.target_glob = "b2*";
	assert_int_equal(read_text(text, &f, &set, NULL), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.items[0].value, "dev");
	restore_set_clear(&set);
	/* "" is the single-target default's key. */
	f.target_glob = "";
	assert_int_equal(read_text(text, &f, &set, NULL), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.items[0].value, "default");
	restore_set_clear(&set);
}

/* The ledger reader: every target's deleted rows, with their target. */
static void test_read_ledger_targets(void **state)
{
	char dir[] = "/tmp/test-restore.XXXXXX", cmd[64];
	struct ledger_deletion d = { .pass_id = "p", .secret_id = "s1", .secret_name = "app-a", .key = "k",
	                             .value = "v", .rule = "x:1", .reason = "no-rule", .intent_usec = 10 };
	struct restore_filter f = all;
	struct restore_set set = {};
	struct ledger *l, *a;
	int64_t id;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_target(l, "b100", "acme-prod/cn-north-4", "a1", "cn-north-4", &a), 0);
	assert_int_equal(ledger_intent(l, &d, &id), 0);
	assert_int_equal(ledger_outcome(l, id, LEDGER_DELETED, 11, NULL), 0);
	assert_int_equal(ledger_intent(a, &d, &id), 0);
	assert_int_equal(ledger_outcome(a, id, LEDGER_DELETED, 11, NULL), 0);
	assert_int_equal(ledger_intent(a, &d, &id), 0);     /* pending: not a deletion */
	/* Every target's, whichever handle reads. */
	assert_int_equal(restore_read_ledger(l, &f, &set, NULL), 0);
	assert_int_equal(set.n, 2);
	assert_string_equal(set.items[0].target, "");
	assert_string_equal(set.items[1].target, "b100");
	assert_string_equal(set.items[1].target_name, "acme-prod/cn-north-4");
	restore_set_clear(&set);
	f.target_glob = "*prod*";
	assert_int_equal(restore_read_ledger(l, &f, &set, NULL), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.items[0].target, "b100");
	restore_set_clear(&set);
	ledger_close(l);
	ledger_close(a);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_decide(void **state)
{
	struct deletion_record d = { .secret_id = "s", .secret_name = "n", .key = "k", .value = "v" };
	struct deletion_record bad = { .secret_id = "s", .secret_name = "n", .key = "k", .value = "\xff" };
	struct tag_list tags = {};
	char key[8];

	assert_int_equal(restore_decide(&d, &tags, 0), RESTORE_CREATE);
	assert_int_equal(restore_decide(&d, NULL, 0), RESTORE_SECRET_GONE);
	assert_int_equal(restore_decide(&bad, &tags, 0), RESTORE_INVALID);
	assert_int_equal(tag_list_add(&tags, "k", "v"), 0);
	assert_int_equal(restore_decide(&d, &tags, 0), RESTORE_PRESENT);
	tag_list_clear(&tags);
	assert_int_equal(tag_list_add(&tags, "k", "other"), 0);
	assert_int_equal(restore_decide(&d, &tags, 0), RESTORE_CONFLICT);
	tag_list_clear(&tags);
	/* 20 tags at most, counting those this run creates. */
	for (int i = 0; i < 19; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		assert_int_equal(tag_list_add(&tags, key, "x"), 0);
	}
	assert_int_equal(restore_decide(&d, &tags, 0), RESTORE_CREATE);
	assert_int_equal(restore_decide(&d, &tags, 1), RESTORE_NO_ROOM);
	assert_string_equal(restore_verdict_to_string(RESTORE_CONFLICT), "conflict");
	tag_list_clear(&tags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_read_json),
		cmocka_unit_test(test_read_json_bad),
		cmocka_unit_test(test_select_latest),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_read_ledger_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
