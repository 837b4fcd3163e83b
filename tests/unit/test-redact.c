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

/* A form that appears only once a longer one has been cut out (it holds
 * the mark): the text is searched again after each cut, as if every form
 * were searched in turn. */
static void test_form_after_a_cut(void **state)
{
	assert_int_equal(redact_register("SECRETLONG"), 0);
	assert_int_equal(redact_register("***tail!"), 0);
	assert_redacted("x SECRETLONGtail! y", "x *** y");
	assert_redacted("***tail!", "***");
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

/* Many values registered and forgotten in mixed order, checked against a
 * model.  Values come in families of three, each part of the next one
 * ("Q007Z" in "Q007Zmid" in "007LQ007Zmidlong"), so that the results depend
 * on the index's longest-first order; every value holds its family's
 * "Q<n>Z", so families never overlap one another, and the first four bytes
 * differ from family to family, so that a head missing from the index
 * shows.  The values are alphanumeric: their JSON and percent forms are the
 * value itself, and the model need only replace the values, longest
 * first. */
enum { MANY_FAMILIES = 150, MANY_VALUES = MANY_FAMILIES * 3 };

static unsigned many_count[MANY_VALUES];        /* registrations held */
static unsigned many_seed = 2463534242u;

static unsigned many_random(unsigned below)
{
	many_seed ^= many_seed << 13;
	many_seed ^= many_seed >> 17;
	many_seed ^= many_seed << 5;
	return many_seed % below;
}

static void many_value(unsigned id, char *buf, size_t size)
{
	switch (id % 3) {
	case 0: snprintf(buf, size, "Q%03uZ", id / 3); break;
	case 1: snprintf(buf, size, "Q%03uZmid", id / 3); break;
	default: snprintf(buf, size, "%03uLQ%03uZmidlong", id / 3, id / 3); break;
	}
}

static void many_register(unsigned id)
{
	char v[32];

	many_value(id, v, sizeof(v));
	assert_int_equal(redact_register(v), 0);
	many_count[id]++;
}

static void many_forget(unsigned id)
{
	char v[32];

	many_value(id, v, sizeof(v));
	redact_forget(v);
	if (many_count[id])
		many_count[id]--;
}

/* Family F's values (all families' if F is -1), framed and run together. */
static char *many_text(int family)
{
	size_t size = MANY_FAMILIES * 128, len = 0;
	char *text = malloc(size);

	assert_non_null(text);
	text[0] = '\0';
	for (unsigned f = 0; f < MANY_FAMILIES; f++) {
		char s[32], m[32], l[32];

		if (family >= 0 && f != (unsigned) family)
			continue;
		many_value(3 * f, s, sizeof(s));
		many_value(3 * f + 1, m, sizeof(m));
		many_value(3 * f + 2, l, sizeof(l));
		len += (size_t) snprintf(text + len, size - len, "[%s][%s][%s] a=%s%s&b=%s%s\n", l, m, s, s, m,
		                         l, s);
		assert_true(len < size);
	}
	return text;
}

static int by_length_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *) a), lb = strlen(*(char *const *) b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* What redact() should make of S: every registered value, longest first. */
static size_t many_model(char *s)
{
	char values[MANY_VALUES][32], *order[MANY_VALUES];
	size_t n_order = 0, n = 0;

	for (unsigned id = 0; id < MANY_VALUES; id++)
		if (many_count[id]) {
			many_value(id, values[id], sizeof(values[id]));
			order[n_order++] = values[id];
		}
	qsort(order, n_order, sizeof(*order), by_length_desc);
	for (size_t i = 0; i < n_order; i++) {
		size_t vlen = strlen(order[i]), mlen = strlen(REDACT_MARK);

		for (char *hit = s; (hit = strstr(hit, order[i])); hit += mlen, n++) {
			memcpy(hit, REDACT_MARK, mlen);
			memmove(hit + mlen, hit + vlen, strlen(hit + vlen) + 1);
		}
	}
	return n;
}

static void many_check_text(char *got, char *want)
{
	size_t n_want = many_model(want);

	assert_int_equal(redact(got), n_want);
	assert_string_equal(got, want);
}

/* Family F's text, and each of its values alone: alone, a value passes the
 * heads' prescan only by its own forms. */
static void many_check_family(unsigned f)
{
	_cleanup_free_ char *got = many_text((int) f), *want = many_text((int) f);

	many_check_text(got, want);
	for (unsigned id = 3 * f; id < 3 * f + 3; id++) {
		char v[32], w[32];

		many_value(id, v, sizeof(v));
		memcpy(w, v, sizeof(w));
		many_check_text(v, w);
	}
}

static void many_check(void)
{
	_cleanup_free_ char *got = many_text(-1), *want = many_text(-1);
	size_t registered = 0;

	for (unsigned id = 0; id < MANY_VALUES; id++)
		registered += many_count[id];
	assert_int_equal(redact_count(), registered);
	many_check_text(got, want);
	for (unsigned f = 0; f < MANY_FAMILIES; f++)
		many_check_family(f);
}

static void test_many_mixed_order(void **state)
{
	unsigned order[300], held[2 * MANY_VALUES];
	size_t n_held = 0;

	memset(many_count, 0, sizeof(many_count));
	/* 300 values of the first 100 families, in a shuffled order, every
	 * seventh twice. */
	for (unsigned id = 0; id < 300; id++)
		order[id] = id;
	for (unsigned i = 300; i > 1; i--) {
		unsigned j = many_random(i), t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < 300; i++) {
		many_register(order[i]);
		if (i % 7 == 0)
			many_register(order[i]);
	}
	many_check();

	/* Every other one forgotten (the doubled ones keep one registration). */
	for (unsigned i = 0; i < 300; i += 2)
		many_forget(order[i]);
	many_check();

	/* More: the other 50 families, and some of the forgotten ones again. */
	for (unsigned id = 300; id < MANY_VALUES; id++)
		many_register(id);
	for (unsigned i = 0; i < 300; i += 6)
		many_register(order[i]);
	many_check();

	/* Everything forgotten, one registration at a time in a shuffled
	 * order, with unknown values in between. */
	for (unsigned id = 0; id < MANY_VALUES; id++)
		for (unsigned k = 0; k < many_count[id]; k++) {
			assert_true(n_held < ELEMENTSOF(held));
			held[n_held++] = id;
		}
	for (size_t i = n_held; i > 1; i--) {
		size_t j = many_random((unsigned) i);
		unsigned t = held[i - 1];

		held[i - 1] = held[j];
		held[j] = t;
	}
	for (size_t i = 0; i < n_held; i++) {
		many_forget(held[i]);
		redact_forget("Q999Zmid");
		many_check_family(held[i] / 3);
		if (i % 50 == 0)
			many_check();
	}
	many_check();
	for (unsigned id = 0; id < MANY_VALUES; id++)
		assert_int_equal(many_count[id], 0);
	{
		_cleanup_free_ char *text = many_text(-1), *copy = strdup(text);

		assert_non_null(copy);
		assert_int_equal(redact(copy), 0);
		assert_string_equal(copy, text);
	}
}

/* After redact_forget_all() nothing is redacted, and the registry starts
 * again from nothing. */
static void test_many_forget_all(void **state)
{
	_cleanup_free_ char *text = NULL, *copy = NULL;

	memset(many_count, 0, sizeof(many_count));
	for (unsigned id = 0; id < MANY_VALUES; id++)
		many_register(id);
	many_check();
	redact_forget_all();
	memset(many_count, 0, sizeof(many_count));
	assert_int_equal(redact_count(), 0);
	text = many_text(-1);
	copy = strdup(text);
	assert_non_null(copy);
	assert_int_equal(redact(copy), 0);
	assert_string_equal(copy, text);
	many_check();                   /* and each value alone */

	/* One family again: its values only. */
	many_register(3 * 42 + 1);
	many_register(3 * 42);
	many_check();
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
		cmocka_unit_test_teardown(test_form_after_a_cut, teardown),
		cmocka_unit_test_teardown(test_json_form, teardown),
		cmocka_unit_test_teardown(test_percent_forms, teardown),
		cmocka_unit_test_teardown(test_base64_alignments, teardown),
		cmocka_unit_test_teardown(test_forget_and_count, teardown),
		cmocka_unit_test_teardown(test_longest_first, teardown),
		cmocka_unit_test_teardown(test_many_mixed_order, teardown),
		cmocka_unit_test_teardown(test_many_forget_all, teardown),
		cmocka_unit_test_teardown(test_log_redacts, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
