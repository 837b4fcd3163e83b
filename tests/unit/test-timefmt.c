/* test-timefmt.c - the time syntaxes: local times the clocks skip or
 * repeat (refused, with a reason), and RFC 3339 both ways.  Time spans and
 * the rest of parse_time() are in test-values.c, format_utc() and
 * format_timespan() in test-util.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timefmt.h"
#include "util.h"

#define SEC USEC_PER_SEC

/* Europe/Berlin: CET (+01:00) in winter, CEST (+02:00) in summer; in 2026
 * the clocks go 02:00 -> 03:00 on March 29 and 03:00 -> 02:00 on October
 * 25. */
static int berlin(void **state)
{
	(void) state;
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) < 0)
		return -1;      /* tzdata is a test dependency (.ci/install-test-deps) */
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	return 0;
}

static void expect_time(const char *s, enum time_zone_default zone, uint64_t want)
{
	uint64_t v = 0;
	int r = parse_time(s, zone, &v);

	if (r != 0 || v != want)
		fail_msg("%s: r=%d, %llu, expected %llu", s, r, (unsigned long long) v,
		         (unsigned long long) want);
}

static void expect_refused(const char *s, int want)
{
	uint64_t v = 0;
	int r = parse_time(s, ZONE_LOCAL, &v);

	if (r != want)
		fail_msg("%s: r=%d, expected %d", s, r, want);
}

static void test_local_times(void **state)
{
	(void) state;
	/* 2026-01-15 12:00 CET = 11:00 UTC; 2026-07-01 12:00 CEST = 10:00 UTC. */
	expect_time("2026-01-15 12:00", ZONE_LOCAL, UINT64_C(1768474800) * SEC);
	expect_time("2026-07-01 12:00", ZONE_LOCAL, UINT64_C(1782900000) * SEC);
	expect_time("2026-07-01", ZONE_LOCAL, UINT64_C(1782856800) * SEC);
	/* Just around both changes, each once. */
	expect_time("2026-03-29 01:59:59", ZONE_LOCAL, UINT64_C(1774745999) * SEC);
	expect_time("2026-03-29 03:00", ZONE_LOCAL, UINT64_C(1774746000) * SEC);
	expect_time("2026-10-25 01:59:59", ZONE_LOCAL, UINT64_C(1792886399) * SEC);
	expect_time("2026-10-25 03:00", ZONE_LOCAL, UINT64_C(1792893600) * SEC);
}

static void test_skipped_and_repeated(void **state)
{
	(void) state;
	/* The hour the clocks skip never happens ... */
	expect_refused("2026-03-29 02:00", -ENOENT);
	expect_refused("2026-03-29 02:30:15", -ENOENT);
	expect_refused("2026-03-29T02:59:59", -ENOENT);
	/* ... and the one they repeat happens twice: which was meant? */
	expect_refused("2026-10-25 02:00", -ENOTUNIQ);
	expect_refused("2026-10-25 02:30", -ENOTUNIQ);
	expect_refused("2026-10-25 02:59:59", -ENOTUNIQ);
	assert_non_null(strstr(parse_time_problem(-ENOTUNIQ), "happens twice"));
	assert_non_null(strstr(parse_time_problem(-ENOENT), "does not exist"));
	assert_null(parse_time_problem(-EINVAL));
	/* An offset or UTC says which. */
	expect_time("2026-10-25T02:30+02:00", ZONE_LOCAL, UINT64_C(1792888200) * SEC);
	expect_time("2026-10-25T02:30+01:00", ZONE_LOCAL, UINT64_C(1792891800) * SEC);
	expect_time("2026-10-25 02:30Z", ZONE_LOCAL, UINT64_C(1792895400) * SEC);
	expect_time("2026-03-29 02:30 UTC", ZONE_LOCAL, UINT64_C(1774751400) * SEC);
	/* In UTC every time is one instant, whatever TZ says. */
	expect_time("2026-10-25 02:30", ZONE_UTC, UINT64_C(1792895400) * SEC);
	expect_time("2026-03-29 02:30", ZONE_UTC, UINT64_C(1774751400) * SEC);
	/* Still refused as before: no such day, relative times. */
	expect_refused("2026-02-29", -EINVAL);
	expect_refused("-1h", -EINVAL);
}

static void test_rfc3339(void **state)
{
	char buf[FORMAT_RFC3339_MAX];
	uint64_t v;

	(void) state;
	assert_int_equal(parse_rfc3339_time("2020-01-04T09:05:22.701000Z", &v), 0);
	assert_true(v == UINT64_C(1578128722) * SEC + 701000);
	assert_int_equal(parse_rfc3339_time("2020-01-04T09:05:22+00:00", &v), 0);
	assert_true(v == UINT64_C(1578128722) * SEC);
	assert_int_equal(parse_rfc3339_time("2020-01-04T09:05:22.123456789Z", &v), 0);
	assert_true(v == UINT64_C(1578128722) * SEC + 123456);
	assert_int_equal(parse_rfc3339_time("2020-02-30T09:05:22Z", &v), -EINVAL);
	assert_int_equal(parse_rfc3339_time("2020-01-04 09:05:22Z", &v), -EINVAL);
	assert_int_equal(parse_rfc3339_time("2020-01-04T09:05:22+01:00", &v), -EINVAL);
	assert_int_equal(parse_rfc3339_time("2020-01-04T09:05:22", &v), -EINVAL);
	assert_string_equal(format_rfc3339_time(buf, sizeof(buf), UINT64_C(1578128722) * SEC + 701000, true),
	                    "2020-01-04T09:05:22.701000Z");
	assert_string_equal(format_rfc3339_time(buf, sizeof(buf), UINT64_C(1578128722) * SEC + 701000, false),
	                    "2020-01-04T09:05:22Z");
	assert_null(format_rfc3339_time(buf, 10, 0, false));
	/* What one writes, the other reads. */
	assert_int_equal(parse_rfc3339_time(format_rfc3339_time(buf, sizeof(buf), 1234567, true), &v), 0);
	assert_true(v == 1234567);
	/* format_utc_time is format_utc under its old name. */
	assert_string_equal(format_utc_time(buf, sizeof(buf), 0), format_utc(buf, sizeof(buf), 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_local_times, berlin),
		cmocka_unit_test_setup(test_skipped_and_repeated, berlin),
		cmocka_unit_test(test_rfc3339),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
