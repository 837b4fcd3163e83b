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
#include "unit.h"
#include "util.h"

#define MAIN_CONF "/etc/csms-tagd/csms-tagd.conf"

static void test_after_pass(void **state)
{
	_cleanup_free_ char *none = advice_after_pass(MAIN_CONF, MAIN_CONF, "csms-tagd.service", 0, true);
	_cleanup_free_ char *dry = advice_after_pass(MAIN_CONF, MAIN_CONF, "csms-tagd.service", 2, true);
	_cleanup_free_ char *inst = advice_after_pass("/etc/csms-tagd/b.conf", MAIN_CONF,
	                                              "csms-tagd@b.service", 2, true);

	assert_string_equal(none, "governs no secret: add [secret \"NAME\"] or [secrets \"GLOB\"] "
	                    "sections in /etc/csms-tagd/csms-tagd.conf.d/*.conf, check them with "
	                    "csms-tagd --plan, then systemctl reload csms-tagd");
	assert_string_equal(dry, "dry run: when the would-delete records are right (csms-tagd --plan), "
	                    "set dry_run = no in /etc/csms-tagd/csms-tagd.conf.d/*.conf and systemctl "
	                    "reload csms-tagd");
	/* An instance's advice names its config and its unit. */
	assert_string_equal(inst, "dry run: when the would-delete records are right (csms-tagd --plan "
	                    "-c /etc/csms-tagd/b.conf), set dry_run = no in /etc/csms-tagd/b.conf.d/*.conf "
	                    "and systemctl reload csms-tagd@b");
	assert_null(advice_after_pass(MAIN_CONF, MAIN_CONF, "csms-tagd.service", 2, false));
}

/* Which unit runs which config, and where its state is. */
static void test_units(void **state)
{
	static const struct { const char *path, *unit; } cases[] = {
		{ "/etc/csms-tagd/csms-tagd.conf", "csms-tagd.service" },
		{ "/etc/csms-tagd/b.conf", "csms-tagd@b.service" },
		{ "prod-ap-southeast-1.conf", "csms-tagd@prod-ap-southeast-1.service" },
		{ "/etc/csms-tagd/b.ini", NULL },
		{ "/etc/csms-tagd/.conf", NULL },
		{ "/tmp/my policy.conf", NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *u = unit_for_config(cases[i].path);

		if (cases[i].unit)
			assert_string_equal(u, cases[i].unit);
		else
			assert_null(u);
	}
	{
		_cleanup_free_ char *a = unit_short_name("csms-tagd@b.service"), *b = unit_short_name("csms-tagd.service");
		_cleanup_free_ char *c = unit_of_instance("b"), *d = unit_of_instance(NULL);
		_cleanup_free_ char *e = unit_state_directory("b"), *f = unit_state_directory(NULL);
		/* Not in a csms-tagd unit here: the config decides. */
		_cleanup_free_ char *g = unit_current("/etc/csms-tagd/b.conf"), *h = unit_current("x.ini");

		assert_string_equal(a, "csms-tagd@b");
		assert_string_equal(b, "csms-tagd");
		assert_string_equal(c, "csms-tagd@b.service");
		assert_string_equal(d, "csms-tagd.service");
		assert_string_equal(e, "/var/lib/csms-tagd-b");
		assert_string_equal(f, "/var/lib/csms-tagd");
		assert_string_equal(g, "csms-tagd@b.service");
		assert_string_equal(h, "csms-tagd.service");
	}
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
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
