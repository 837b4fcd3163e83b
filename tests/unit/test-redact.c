/* test-redact.c - the credential registry and redaction of emitted text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "redact.h"
#include "util.h"

static int teardown(void **state)
{
	redact_forget_all();
	return 0;
}

static void assert_redacted(const char *in, const char *want)
{
	_cleanup_free_ char *out = redact_dup(in);

	assert_non_null(out);
	assert_string_equal(out, want);
}

static void test_raw_and_repeated(void **state)
{
	assert_int_equal(redact_register("s3cr3t-value"), 0);
	assert_redacted("X-Auth-Token: s3cr3t-value", "X-Auth-Token: ***");
	assert_redacted("s3cr3t-values3cr3t-value!", "******!");
	assert_redacted("nothing here", "nothing here");
	assert_redacted("", "");
	assert_null(redact_dup(NULL));
}

static void test_too_short_and_null(void **state)
{
	assert_int_equal(redact_register("abc"), -EINVAL);
	assert_int_equal(redact_register(""), -EINVAL);
	assert_int_equal(redact_register(NULL), 0);
	assert_int_equal(redact_count(), 0);
	assert_redacted("abc", "abc");
}

static void test_json_form(void **state)
{
	/* A password with every character JSON escapes, as jansson puts it in
	 * the IAM request body. */
	assert_int_equal(redact_register("pa\"ss\\wo\trd/\x01"), 0);
	assert_redacted("{\"password\":\"pa\\\"ss\\\\wo\\trd/\\u0001\"}", "{\"password\":\"***\"}");
}

static void test_percent_forms(void **state)
{
	assert_int_equal(redact_register("p@ss w/rd+1"), 0);
	assert_redacted("pw=p%40ss%20w%2Frd%2B1&x=1", "pw=***&x=1");
	assert_redacted("pw=p%40ss%20w%2frd%2b1&x=1", "pw=***&x=1");
}

static void test_base64_alignments(void **state)
{
	/* base64("user:hunter2-secret"), base64("u:hunter2-secret"),
	 * base64("us:hunter2-secret"), base64("hunter2-secret"): the value
	 * at all three byte alignments and alone. */
	static const char *const encoded[] = {
		"dXNlcjpodW50ZXIyLXNlY3JldA==",
		"dTpodW50ZXIyLXNlY3JldA==",
		"dXM6aHVudGVyMi1zZWNyZXQ=",
		"aHVudGVyMi1zZWNyZXQ=",
	};

	assert_int_equal(redact_register("hunter2-secret"), 0);
	for (size_t i = 0; i < ELEMENTSOF(encoded); i++) {
		_cleanup_free_ char *out = redact_dup(encoded[i]);

		assert_non_null(out);
		assert_non_null(strstr(out, REDACT_MARK));
		/* At most two characters on each side of the value survive: the
		 * ones it shares with its neighbours. */
		assert_true(strlen(out) <= strlen(REDACT_MARK) + 2 + 2 + 8);
	}
}

static void test_forget_and_count(void **state)
{
	assert_int_equal(redact_register("first-secret"), 0);
	assert_int_equal(redact_register("first-secret"), 0);
	assert_int_equal(redact_register("second-secret"), 0);
	assert_int_equal(redact_count(), 3);
	redact_forget("first-secret");
	assert_int_equal(redact_count(), 2);
	assert_redacted("first-secret", "***");     /* one registration left */
	redact_forget("first-secret");
	assert_redacted("first-secret second-secret", "first-secret ***");
	redact_forget("unknown");
	redact_forget(NULL);
	assert_int_equal(redact_count(), 1);
}

static void test_longest_first(void **state)
{
	/* A value that is part of another must not leave the rest behind. */
	assert_int_equal(redact_register("abcd"), 0);
	assert_int_equal(redact_register("xxabcdyy"), 0);
	assert_redacted("k=xxabcdyy", "k=***");
	assert_redacted("k=abcd", "k=***");
}

/* log_event() redacts the message and every field, on stderr. */
static void test_log_redacts(void **state)
{
	char path[] = "/tmp/test-redact.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	_cleanup_free_ char *text = NULL;
	size_t len;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(redact_register("TopSecretToken42"), 0);
	log_open(LOG_TARGET_STDERR);
	log_set_max_level(LOG_DEBUG);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	log_event(LOG_ERR, NULL, LOG_FIELDS({ "CSMS_ERROR", "echo: X-Auth-Token: TopSecretToken42" }),
	          "request failed: %s", "{\"token\":\"TopSecretToken42\"}");
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(fd);
	assert_int_equal(read_file(path, 4096, &text, &len), 0);
	unlink(path);
	assert_null(strstr(text, "TopSecretToken42"));
	assert_non_null(strstr(text, "request failed: {\"token\":\"***\"}"));
	assert_non_null(strstr(text, "CSMS_ERROR=echo: X-Auth-Token: ***"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_raw_and_repeated, teardown),
		cmocka_unit_test_teardown(test_too_short_and_null, teardown),
		cmocka_unit_test_teardown(test_json_form, teardown),
		cmocka_unit_test_teardown(test_percent_forms, teardown),
		cmocka_unit_test_teardown(test_base64_alignments, teardown),
		cmocka_unit_test_teardown(test_forget_and_count, teardown),
		cmocka_unit_test_teardown(test_longest_first, teardown),
		cmocka_unit_test_teardown(test_log_redacts, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
