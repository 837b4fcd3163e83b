/* test-retry.c - the retry classification and backoff schedule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "retry.h"

static void test_classify(void **state)
{
	assert_int_equal(retry_classify(0), RETRY_BACKOFF);
	assert_int_equal(retry_classify(500), RETRY_BACKOFF);
	assert_int_equal(retry_classify(502), RETRY_BACKOFF);
	assert_int_equal(retry_classify(503), RETRY_BACKOFF);
	assert_int_equal(retry_classify(504), RETRY_BACKOFF);
	assert_int_equal(retry_classify(429), RETRY_THROTTLED);
	assert_int_equal(retry_classify(401), RETRY_AUTH);
	/* Client errors are final: retrying a 400 or 403 changes nothing. */
	assert_int_equal(retry_classify(400), RETRY_NO);
	assert_int_equal(retry_classify(403), RETRY_NO);
	assert_int_equal(retry_classify(404), RETRY_NO);
	assert_int_equal(retry_classify(501), RETRY_NO);
	assert_int_equal(retry_classify(204), RETRY_NO);
}

static void test_backoff_grows_and_is_capped(void **state)
{
	uint64_t prev_cap = 0;

	for (unsigned a = 1; a <= 12; a++) {
		uint64_t hi = retry_delay_usec(a, 0, 0.999999);
		uint64_t lo = retry_delay_usec(a, 0, 0.0);

		assert_true(lo <= hi);
		assert_true(hi <= RETRY_MAX_DELAY_USEC);
		/* the floor is a tenth of the cap */
		assert_true(lo * 10 >= hi - hi / 1000 - 10);
		assert_true(hi >= prev_cap);
		prev_cap = hi;
	}
	assert_in_range(retry_delay_usec(1, 0, 0.0), RETRY_BASE_USEC / 10, RETRY_BASE_USEC / 10);
	assert_true(retry_delay_usec(2, 0, 0.999) > RETRY_BASE_USEC);
	assert_true(retry_delay_usec(30, 0, 0.999) <= RETRY_MAX_DELAY_USEC);
}

static void test_retry_after_wins(void **state)
{
	assert_int_equal(retry_delay_usec(1, 3000000, 0.5), 3000000);
	assert_int_equal(retry_delay_usec(4, 2000000, 0.1), 2000000);
	/* capped at a minute */
	assert_int_equal(retry_delay_usec(1, UINT64_C(3600000000), 0.5), 6 * RETRY_MAX_DELAY_USEC);
}

static void test_bad_random_is_tamed(void **state)
{
	uint64_t mid = retry_delay_usec(1, 0, 0.5);

	assert_int_equal(retry_delay_usec(1, 0, -1.0), mid);
	assert_int_equal(retry_delay_usec(1, 0, 7.0), mid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_backoff_grows_and_is_capped),
		cmocka_unit_test(test_retry_after_wins),
		cmocka_unit_test(test_bad_random_is_tamed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
