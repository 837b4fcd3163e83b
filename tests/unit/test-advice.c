/* test-advice.c - the next-step texts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "advice.h"
#include "util.h"

static void test_after_pass(void **state)
{
	_cleanup_free_ char *none = advice_after_pass("/etc/csms-tagd/csms-tagd.conf", 0, true);
	_cleanup_free_ char *dry = advice_after_pass("/etc/csms-tagd/csms-tagd.conf", 2, true);

	assert_string_equal(none, "governs no secret: add [secret \"NAME\"] or [secrets \"GLOB\"] "
	                    "sections to /etc/csms-tagd/csms-tagd.conf, check them with csms-tagd "
	                    "--plan, then systemctl reload csms-tagd");
	assert_string_equal(dry, "dry run: when the would-delete records are right, set dry_run = no "
	                    "in /etc/csms-tagd/csms-tagd.conf and systemctl reload csms-tagd");
	assert_null(advice_after_pass("/etc/csms-tagd/csms-tagd.conf", 2, false));
}

static void test_errors(void **state)
{
	assert_non_null(strstr(advice_config_error(-EACCES), "chmod 0644"));
	assert_null(advice_config_error(-ENOENT));
	assert_non_null(strstr(advice_credential_error(-ENOENT, true), "systemctl restart, not reload"));
	assert_non_null(strstr(advice_credential_error(-EACCES, true), "mode 0600"));
	assert_null(advice_credential_error(-ENOENT, false));
	assert_null(advice_credential_error(-EINVAL, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_after_pass),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
