/* test-values.c - the value syntaxes: time spans, numbers, booleans,
 * percent-decoding, globs and glob coverage, endpoints. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "values.h"

/* ---- time spans, escapes, globs --------------------------------------------- */

static void test_timespan(void **state)
{
	static const struct {
		const char *text;
		uint64_t usec;
	} good[] = {
		{ "30s", 30 * USEC_PER_SEC },
		{ "5min", 300 * USEC_PER_SEC },
		{ "5m", 300 * USEC_PER_SEC },
		{ "1h 30min", 5400 * USEC_PER_SEC },
		{ "1h30min", 5400 * USEC_PER_SEC },
		{ "2 hr", 7200 * USEC_PER_SEC },
		{ "250ms", 250 * USEC_PER_MSEC },
		{ "250 msec", 250 * USEC_PER_MSEC },
		{ "7us", 7 },
		{ "7usec", 7 },
		{ "1d", 86400 * USEC_PER_SEC },
		{ "12", 12 * USEC_PER_SEC },
		{ "1.5s", 1500 * USEC_PER_MSEC },
		{ "0.25h", 900 * USEC_PER_SEC },
		{ "1.000001s", USEC_PER_SEC + 1 },
		{ "1.5d", 36 * 3600 * USEC_PER_SEC },
		{ "1min 1", 61 * USEC_PER_SEC },
		{ "  3sec\t", 3 * USEC_PER_SEC },
		{ "0", 0 },
		{ "18446744073709551615us", UINT64_MAX },
	};
	static const struct {
		const char *text;
		int error;
	} bad[] = {
		{ "", -EINVAL }, { "   ", -EINVAL }, { "-5s", -EINVAL }, { "+5s", -EINVAL },
		{ "5 mins", -EINVAL }, { "5x", -EINVAL }, { "s", -EINVAL }, { ".5s", -EINVAL },
		{ "5.s", -EINVAL }, { "1.0000001s", -EINVAL }, { "5S", -EINVAL }, { "1h,2min", -EINVAL }, { "soon", -EINVAL },
		{ "18446744073709551616us", -ERANGE }, { "213503982335d", -ERANGE },
		{ "18446744073709551615us 1us", -ERANGE }, { "99999999999999999999999", -ERANGE },
	};
	uint64_t v;

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		v = 42;
		if (parse_timespan(good[i].text, &v) != 0 || v != good[i].usec)
			fail_msg("'%s' gave %llu", good[i].text, (unsigned long long) v);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		v = 42;
		if (parse_timespan(bad[i].text, &v) != bad[i].error)
			fail_msg("'%s' not rejected with %d", bad[i].text, bad[i].error);
		assert_int_equal(v, 42);
	}
}

static void test_unescape(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "a%3Db", "a=b" }, { "a%3Ab", "a:b" }, { "100%25", "100%" }, { "a%7Cb", "a|b" },
		{ "%3B%23", ";#" }, { "%3d%3a", "=:" }, { "%20x%20", " x " }, { "%E6%97%A5", "日" },
		{ "plain", "plain" }, { "", "" }, { "日本", "日本" },
	};
	static const char *const bad[] = {
		"%", "a%", "%4", "%zz", "%g0", "%00", "a%00b", "%ff", "%C3", "%E6%97", "%C0%80", "%ED%A0%80",
	};

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		char *s = config_unescape(good[i].in);

		assert_non_null(s);
		assert_string_equal(s, good[i].out);
		free(s);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		errno = 0;
		if (config_unescape(bad[i]) != NULL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(errno, EINVAL);
	}
}

static void test_glob_validate(void **state)
{
	static const char *const good[] = {
		"", "*", "a?c", "[abc]", "[!abc]", "[^a]", "[]]", "[!]]", "[a-z]*", "[[:alpha:]]",
		"[[:digit:][:space:]]", "x\\*", "[\\]]", "[[=a=]]", "[[.-.]]", "日本*", "a]",
	};
	static const char *const bad[] = {
		"[", "[abc", "a[", "[!", "[]", "[[:alpha:]", "[[:nosuch:]]", "\\", "a\\", "[a\\", "[[:alpha",
	};

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		if (glob_validate(good[i]) != 0)
			fail_msg("'%s' rejected", good[i]);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (glob_validate(bad[i]) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_numbers(void **state)
{
	static const struct {
		const char *text;
		double v;
	} good[] = {
		{ "0", 0 }, { "10", 10 }, { "2.5", 2.5 }, { "0.0000000001", 1e-10 }, { "100000", 100000 },
	};
	static const char *const bad[] = { "", ".5", "5.", "1e3", "inf", "nan", "-1", "+1", "1,5", "0x10", "1.2.3", " 1" };
	uint64_t u;
	double v;

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		assert_int_equal(parse_decimal(good[i].text, &v), 0);
		assert_true(v >= good[i].v * 0.999999 && v <= good[i].v * 1.000001);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (parse_decimal(bad[i], &v) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(parse_uint64("18446744073709551615", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(parse_uint64("18446744073709551616", &u), -ERANGE);
	assert_int_equal(parse_uint64("-1", &u), -EINVAL);
	assert_int_equal(parse_uint64("", &u), -EINVAL);
	assert_int_equal(parse_boolean("YES"), 1);
	assert_int_equal(parse_boolean("off"), 0);
	assert_int_equal(parse_boolean("y"), -EINVAL);
}

static void test_glob_covers(void **state)
{
	static const struct {
		const char *a, *b;
		bool covers;
	} cases[] = {
		/* catch-alls */
		{ "*", "*", true }, { "**", "*", true }, { "*?*", "*", false }, { "*", "**", true },
		{ "*", "anything", true }, { "*", "", true },
		/* '*?*' needs one character: it covers every non-empty name */
		{ "*?*", "?*", true }, { "*?*", "a*", true },
		/* prefixes and suffixes */
		{ "app-*", "app-s*", true }, { "app-s*", "app-*", false }, { "app-*", "app-x", true },
		{ "*-db", "payments-db", true }, { "*-db", "*-db-2", false },
		{ "a*", "*b", false }, { "*b", "a*", false },
		/* '?' and brackets */
		{ "db-?", "db-[0-9]", true }, { "db-[0-9]", "db-?", false }, { "db-?", "db-1", true },
		{ "db-[0-9]", "db-7", true }, { "db-[0-9]", "db-x", false }, { "db-[0-9]", "db-[0-9]", true },
		{ "db-[!x]", "db-[0-9]", false }, { "?", "日", false }, { "*", "日本", true },
		{ "a\\*", "a*", false }, { "a*", "a\\*", true }, { "a\\*", "a\\*", true },
		/* literals */
		{ "owner", "owner", true }, { "owner", "owners", false }, { "", "", true }, { "", "a", false },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		if (glob_covers(cases[i].a, cases[i].b) != cases[i].covers)
			fail_msg("glob_covers('%s', '%s') is not %d", cases[i].a, cases[i].b, cases[i].covers);
}

static void test_endpoint_normalize(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "https://kms.cn-north-4.myhuaweicloud.com", "https://kms.cn-north-4.myhuaweicloud.com" },
		{ "http://127.0.0.1:8080/", "http://127.0.0.1:8080" },
		{ "http://[fe80::1]:80", "http://[fe80::1]:80" },
	};
	static const char *const bad[] = {
		"ftp://x", "https://", "https://x/v3", "https://x:99999", "http://u@x", "https://x//", "x",
	};
	char *s;

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		assert_int_equal(endpoint_normalize(good[i].in, &s), 0);
		assert_string_equal(s, good[i].out);
		free(s);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (endpoint_normalize(bad[i], &s) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timespan),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_glob_validate),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_glob_covers),
		cmocka_unit_test(test_endpoint_normalize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
