/* test-util.c - helpers, observation containers and log level parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "observation.h"
#include "util.h"

static void test_format_utc(void **state)
{
	char buf[FORMAT_UTC_MAX];

	assert_string_equal(format_utc(buf, sizeof(buf), 0), "1970-01-01 00:00:00 UTC");
	assert_string_equal(format_utc(buf, sizeof(buf), UINT64_C(1796422503) * USEC_PER_SEC + 999999),
	                    "2026-12-04 22:15:03 UTC");
}

static void test_format_timespan(void **state)
{
	char buf[64];

	assert_string_equal(format_timespan(buf, sizeof(buf), 0), "0us");
	assert_string_equal(format_timespan(buf, sizeof(buf), 250 * USEC_PER_MSEC), "250ms");
	assert_string_equal(format_timespan(buf, sizeof(buf), 30 * USEC_PER_SEC), "30s");
	assert_string_equal(format_timespan(buf, sizeof(buf), 298 * USEC_PER_SEC), "4min 58s");
	assert_string_equal(format_timespan(buf, sizeof(buf), 3720 * USEC_PER_SEC), "1h 2min");
	assert_string_equal(format_timespan(buf, sizeof(buf), 1500 * USEC_PER_MSEC), "1s 500ms");
	/* sub-second parts are noise once minutes are shown */
	assert_string_equal(format_timespan(buf, sizeof(buf), 61 * USEC_PER_SEC + 5000), "1min 1s");
	/* a tiny buffer truncates, never overflows */
	assert_string_equal(format_timespan(buf, 4, 3720 * USEC_PER_SEC), "1h");
}

static void test_escape_for_log(void **state)
{
	struct { const char *in, *out; } cases[] = {
		{ "plain text", "plain text" },
		{ "line\nbreak", "line\\x0abreak" },
		{ "\x1b[31mred", "\\x1b[31mred" },
		{ "back\\slash", "back\\x5cslash" },
		{ "负责人 ok", "负责人 ok" },
		{ "bad \xff byte", "bad \\xff byte" },
		{ "overlong \xc0\xaf", "overlong \\xc0\\xaf" },
		{ "del\x7f", "del\\x7f" },
		{ "", "" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *e = escape_for_log(cases[i].in);

		assert_non_null(e);
		assert_string_equal(e, cases[i].out);
		free(e);
	}
}

static void test_utf8(void **state)
{
	assert_true(utf8_is_valid("abc", 3));
	assert_true(utf8_is_valid("负责人", strlen("负责人")));
	assert_true(utf8_is_valid("\xf0\x9f\x98\x80", 4));
	assert_false(utf8_is_valid("\xff", 1));
	assert_false(utf8_is_valid("\xc0\x80", 2));         /* overlong NUL */
	assert_false(utf8_is_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(utf8_is_valid("\xe4\xb8", 2));         /* truncated */
	assert_false(utf8_is_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/csms-test-util.XXXXXX";
	char *buf = NULL;
	size_t len = 0;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	assert_int_equal(read_file(path, 100, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "hello\n");
	free(buf);
	assert_int_equal(read_file(path, 5, &buf, &len), -EFBIG);
	assert_int_equal(read_file("/nonexistent/csms", 5, &buf, &len), -ENOENT);
	assert_int_equal(read_file("/tmp", 5, &buf, &len), -EISDIR);
	unlink(path);
}

/* The target holds the old or the new text, with the asked mode, and no
 * temporary file is left behind, also when the rename fails. */
static void test_write_file_atomic(void **state)
{
	char dir[] = "/tmp/csms-test-atomic.XXXXXX", *path, *text = NULL, *sub;
	size_t len, entries = 0;
	struct stat st;
	struct dirent *de;
	DIR *d;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/state.json", dir);
	assert_int_equal(write_file_atomic(path, "old\n", 4, 0600), 0);
	assert_int_equal(write_file_atomic(path, "new\n", 4, 0644), 0);
	assert_int_equal(read_file(path, 100, &text, &len), 0);
	assert_string_equal(text, "new\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* A directory in the way: rename() fails, nothing is left over. */
	sub = xasprintf("%s/dir", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_true(write_file_atomic(sub, "x", 1, 0600) < 0);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)))
		entries += de->d_name[0] != '.' || strncmp(de->d_name, ".dir.", 5) == 0 ||
		           strncmp(de->d_name, ".state", 6) == 0;
	closedir(d);
	assert_int_equal(entries, 2);   /* state.json and dir */
	assert_int_equal(write_file_atomic("/nonexistent-dir/x", "x", 1, 0600), -ENOENT);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	free(text);
	free(path);
	free(sub);
}

static void test_strings(void **state)
{
	char *s = xasprintf("%s-%d", "a", 7);

	assert_string_equal(s, "a-7");
	free(s);
	assert_true(streq_ptr(NULL, NULL));
	assert_false(streq_ptr("a", NULL));
	assert_true(streq_ptr("a", "a"));
	assert_true(startswith("_sys_x", "_sys_"));
	assert_false(startswith("_sy", "_sys_"));
	for (int i = 0; i < 1000; i++)
		assert_true(random_below(7) < 7);
	assert_int_equal(random_below(1), 0);
}

static void test_log_levels(void **state)
{
	assert_int_equal(log_parse_level("debug"), LOG_DEBUG);
	assert_int_equal(log_parse_level("info"), LOG_INFO);
	assert_int_equal(log_parse_level("warning"), LOG_WARNING);
	assert_int_equal(log_parse_level("warn"), LOG_WARNING);
	assert_int_equal(log_parse_level("err"), LOG_ERR);
	assert_int_equal(log_parse_level("error"), LOG_ERR);
	assert_int_equal(log_parse_level("3"), 3);
	assert_true(log_parse_level("8") < 0);
	assert_true(log_parse_level("loud") < 0);
	assert_true(log_parse_level("") < 0);
}

static void test_observation(void **state)
{
	struct observation o = {};
	const char *names[] = { "zeta", "alpha", "mid" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		struct secret *s = observation_add(&o);

		assert_non_null(s);
		s->name = strdup(names[i]);
		s->id = xasprintf("id-%zu", i);
		assert_int_equal(tag_list_add(&s->tags, "k", NULL), 0);
	}
	observation_sort(&o);
	assert_string_equal(o.secrets[0].name, "alpha");
	assert_string_equal(o.secrets[2].name, "zeta");
	assert_non_null(observation_find_id(&o, "id-2"));
	assert_null(observation_find_id(&o, "id-9"));
	assert_string_equal(observation_find_name(&o, "mid")->id, "id-2");
	assert_string_equal(tag_list_find(&o.secrets[0].tags, "k")->value, "");
	assert_null(tag_list_find(&o.secrets[0].tags, "x"));
	observation_clear(&o);
	assert_int_equal(o.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_timespan),
		cmocka_unit_test(test_format_utc),
		cmocka_unit_test(test_escape_for_log),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_write_file_atomic),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_log_levels),
		cmocka_unit_test(test_observation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
