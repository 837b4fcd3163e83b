/* test-dropin.c - a configuration file and its drop-ins ("*.conf" in PATH.d):
 * which files are read and in which order, what a later file may set
 * again, what it may not define twice, and FILE:LINE in every message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "config-report.h"
#include "plan.h"
#include "util.h"

#define MAIN \
	"[csms]\n" \
	"region = cn-north-4\n" \
	"project_id = 0123456789abcdef0123456789abcdef\n" \
	"[auth]\n" \
	"method = ecs\n"

struct tmp {
	char dir[64];
	char *conf;             /* DIR/main.conf */
	char *dropins;          /* DIR/main.conf.d */
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/test-dropin.XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	t->conf = xasprintf("%s/main.conf", t->dir);
	t->dropins = xasprintf("%s/main.conf.d", t->dir);
	if (!t->conf || !t->dropins || mkdir(t->dropins, 0755) < 0)
		return -1;
	*state = t;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st, (void) flag, (void) ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct tmp *t = *state;

	nftw(t->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
	free(t->conf);
	free(t->dropins);
	free(t);
	return 0;
}

/* Write TEXT to DIR/NAME (NAME relative to the test's directory). */
static char *put(const struct tmp *t, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", t->dir, name);
	FILE *f;

	assert_non_null(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static struct config *load_ok(const struct tmp *t)
{
	struct config *c = NULL;
	char *error = NULL;

	if (config_load(t->conf, 0, &c, &error) < 0)
		fail_msg("unexpected error: %s", error ? error : "(none)");
	return c;
}

/* Loading must fail with exactly the message "FILE:MESSAGE", FILE being
 * NAME in the test's directory. */
static void expect_error(const struct tmp *t, const char *name, const char *message)
{
	_cleanup_free_ char *want = xasprintf("%s/%s%s", t->dir, name, message);
	struct config *c = NULL;
	char *error = NULL;
	int r = config_load(t->conf, 0, &c, &error);

	if (r >= 0) {
		config_free(c);
		fail_msg("accepted, expected: %s", want);
	}
	assert_null(c);
	assert_non_null(error);
	if (strcmp(error, want) != 0)
		fail_msg("got:      %s\nexpected: %s", error, want);
	free(error);
}

static void test_no_directory(void **state)
{
	struct tmp *t = *state;
	struct config *c;

	free(put(t, "main.conf", MAIN "[secret \"a\"]\nx = *\n"));
	assert_int_equal(rmdir(t->dropins), 0);
	c = load_ok(t);
	assert_int_equal(c->n_files, 1);
	assert_string_equal(c->files[0], t->conf);
	assert_int_equal(c->sections[0].file, 0);
	assert_string_equal(config_file_name(c, 0), t->conf);
	config_free(c);
}

/* Lexical order, whatever order they were created in; only "*.conf" that
 * are not dotfiles. */
static void test_order_and_names(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *b = NULL, *a = NULL;
	struct config *c;

	free(put(t, "main.conf", MAIN));
	b = put(t, "main.conf.d/20-b.conf", "[secret \"b\"]\nx = *\n");
	a = put(t, "main.conf.d/10-a.conf", "[secret \"a\"]\nx = *\n");
	free(put(t, "main.conf.d/.hidden.conf", "this is not read\n"));
	free(put(t, "main.conf.d/30-c.conf.dpkg-old", "nor this\n"));
	free(put(t, "main.conf.d/README", "nor this\n"));
	free(put(t, "main.conf.d/.conf", "nor this\n"));
	c = load_ok(t);
	assert_int_equal(c->n_files, 3);
	assert_string_equal(c->files[1], a);
	assert_string_equal(c->files[2], b);
	assert_int_equal(c->n_sections, 2);
	assert_string_equal(c->sections[0].pattern, "a");
	assert_int_equal(c->sections[0].file, 1);
	assert_int_equal(c->sections[0].line, 1);
	assert_string_equal(c->sections[1].pattern, "b");
	assert_int_equal(c->sections[1].file, 2);
	config_free(c);
}

/* Settings: a later file sets them again and wins; protect is replaced,
 * not extended. */
static void test_settings_last_wins(void **state)
{
	struct tmp *t = *state;
	struct config *c;

	free(put(t, "main.conf", MAIN "[daemon]\ndry_run = yes\ninterval = 1h\nprotect = a* | b*\n"));
	free(put(t, "main.conf.d/10-live.conf", "[daemon]\ndry_run = no\nprotect = c*\n"));
	free(put(t, "main.conf.d/20-region.conf", "[csms]\nregion = eu-west-101\n"));
	c = load_ok(t);
	assert_false(c->daemon.dry_run);
	assert_int_equal(c->daemon.interval_usec, 3600 * USEC_PER_SEC);
	assert_int_equal(c->daemon.n_protect, 1);
	assert_string_equal(c->daemon.protect[0], "c*");
	assert_string_equal(c->csms.region, "eu-west-101");
	assert_string_equal(c->csms.endpoint, "https://kms.eu-west-101.myhuaweicloud.com");
	config_free(c);
}

/* Within one file a key is still set once, and a drop-in starts outside
 * of any section. */
static void test_within_a_file(void **state)
{
	struct tmp *t = *state;

	free(put(t, "main.conf", MAIN));
	free(put(t, "main.conf.d/10-a.conf", "[daemon]\ndry_run = no\ndry_run = yes\n"));
	expect_error(t, "main.conf.d/10-a.conf", ":3: duplicate key 'dry_run' in [daemon] (first at line 2)");
	free(put(t, "main.conf.d/10-a.conf", "x = *\n"));
	expect_error(t, "main.conf.d/10-a.conf", ":1: 'x' is outside of any section");
	/* A section does not continue into the next file. */
	free(put(t, "main.conf", MAIN "[secret \"a\"]\nx = *\n"));
	free(put(t, "main.conf.d/10-a.conf", "y = *\n"));
	expect_error(t, "main.conf.d/10-a.conf", ":1: 'y' is outside of any section");
}

/* The same governance section or exemption in two files is ambiguous. */
static void test_ambiguous(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *msg = NULL;

	free(put(t, "main.conf", MAIN "[secret \"a\"]\nx = *\n"));
	free(put(t, "main.conf.d/10-a.conf", "\n[secret \"a\"]\ny = *\n"));
	msg = xasprintf(":2: duplicate section [secret \"a\"] (first at %s:6); a section is defined in "
	                "one file only (settings may be set again by a later file)", t->conf);
	expect_error(t, "main.conf.d/10-a.conf", msg);

	free(put(t, "main.conf", MAIN));
	free(put(t, "main.conf.d/10-a.conf", "[secrets \"app-*\"]\nx = *\n"));
	free(put(t, "main.conf.d/20-b.conf", "[secrets \"app-*\"]\nx = *\n"));
	free(msg);
	msg = xasprintf(":1: duplicate section [secrets \"app-*\"] (first at %s/main.conf.d/10-a.conf:1); a "
	                "section is defined in one file only (settings may be set again by a later file)", t->dir);
	expect_error(t, "main.conf.d/20-b.conf", msg);

	/* A glob section an earlier file's makes unreachable, as in one file. */
	free(put(t, "main.conf.d/20-b.conf", "[secrets \"app-db*\"]\nx = *\n"));
	free(msg);
	msg = xasprintf(":1: section [secrets \"app-db*\"] can never apply: [secrets \"app-*\"] at "
	                "%s/main.conf.d/10-a.conf:1 comes first and governs every secret it would match; "
	                "put the more specific section first", t->dir);
	expect_error(t, "main.conf.d/20-b.conf", msg);

	{
		time_t soon = time(NULL) + 30 * 86400;
		char day[16], text[512];
		struct tm tm;

		strftime(day, sizeof(day), "%Y-%m-%d", gmtime_r(&soon, &tm));
		snprintf(text, sizeof(text), MAIN "[exempt \"e\"]\nsecret = a\nkey = k\nreason = r\nexpires = %s\n",
		         day);
		free(put(t, "main.conf", text));
	}
	free(put(t, "main.conf.d/10-a.conf", "[exempt \"e\"]\n"));
	free(put(t, "main.conf.d/20-b.conf", ""));
	free(msg);
	msg = xasprintf(":1: duplicate section [exempt \"e\"] (first at %s:6); a section is defined in "
	                "one file only (settings may be set again by a later file)", t->conf);
	expect_error(t, "main.conf.d/10-a.conf", msg);
}

/* Errors found after all files are read name the file at fault. */
static void test_whole_config_errors(void **state)
{
	struct tmp *t = *state;

	free(put(t, "main.conf", MAIN));
	free(put(t, "main.conf.d/10-a.conf", "[auth]\nmethod = token\n"));
	expect_error(t, "main.conf.d/10-a.conf", ":2: method token needs token_file in [auth]");
	free(put(t, "main.conf.d/10-a.conf", "[auth]\nuser = bob\n"));
	expect_error(t, "main.conf.d/10-a.conf", ":2: user is not used by method ecs");
	free(put(t, "main.conf.d/10-a.conf", "[secret \"a\"]\n/required = owner\nx = *\n"));
	expect_error(t, "main.conf.d/10-a.conf", ":2: /required key 'owner': no rule of this section "
	             "matches it, so the daemon would delete it; add a rule such as 'owner = *'");
	free(put(t, "main.conf.d/10-a.conf", "\n[daemon]\nmax_requests_per_second = 0.001\n"));
	expect_error(t, "main.conf.d/10-a.conf", ":3: max_requests_per_second is too low: a pass makes up "
	             "to 51 requests (1 listing + max_deletes_per_pass), which must fit in pass_timeout 10min; "
	             "write at least 0.09, or 0 for no limit");
	free(put(t, "main.conf.d/10-a.conf", "[csms\n"));
	expect_error(t, "main.conf.d/10-a.conf", ":1: section header: expected [NAME] or [secret \"NAME\"] "
	             "or [secrets \"GLOB\"]");
}

/* An unreadable drop-in, or a PATH.d that is no directory, is an error. */
static void test_unreadable(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *msg = NULL;

	free(put(t, "main.conf", MAIN));
	{
		_cleanup_free_ char *sub = xasprintf("%s/sub.conf", t->dropins);

		assert_int_equal(mkdir(sub, 0755), 0);
		expect_error(t, "main.conf.d/sub.conf", ": is a directory; the drop-in directory holds files");
		assert_int_equal(rmdir(sub), 0);
	}
	assert_int_equal(rmdir(t->dropins), 0);
	free(put(t, "main.conf.d", "not a directory\n"));
	msg = xasprintf(": not a directory; it holds the drop-ins (*.conf) read after %s", t->conf);
	expect_error(t, "main.conf.d", msg);
	assert_int_equal(unlink(t->dropins), 0);
	assert_int_equal(mkdir(t->dropins, 0755), 0);
	if (geteuid() != 0) {
		free(put(t, "main.conf.d/10-a.conf", "[secret \"a\"]\nx = *\n"));
		assert_int_equal(chmod(t->dropins, 0), 0);
		expect_error(t, "main.conf.d", ": Permission denied");
		assert_int_equal(chmod(t->dropins, 0755), 0);
	}
}

/* Rule references in plans name the file of the rule. */
static void test_plan_refs(void **state)
{
	struct tmp *t = *state;
	struct observation o = {};
	struct tag tag = { .key = (char *) "k", .value = (char *) "v" };
	struct secret s = {
		.id = (char *) "id", .name = (char *) "a", .state = (char *) "ENABLED",
		.tags = { .items = &tag, .n = 1 }, .tags_complete = true,
	};
	struct plan p = {};
	_cleanup_free_ char *b = NULL, *want = NULL;
	char ref[4096];
	struct config *c;

	free(put(t, "main.conf", MAIN));
	b = put(t, "main.conf.d/10-a.conf", "\n[secret \"a\"]\nk = !\n");
	c = load_ok(t);
	o.secrets = &s;
	o.n = 1;
	assert_int_equal(plan_compute(c, &o, NULL, &p), 0);
	config_free(c);
	assert_int_equal(p.n, 1);
	want = xasprintf("%s:3", b);
	assert_string_equal(plan_item_rule_ref(&p, &p.items[0], ref, sizeof(ref)), want);
	plan_clear(&p);
}

/* --check-config's account of the files. */
static void test_report(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *a = NULL, *out = NULL, *want = NULL;
	struct config *c;
	size_t len = 0;
	FILE *f;

	free(put(t, "main.conf", MAIN "[secret \"m\"]\nx = *\n"));
	a = put(t, "main.conf.d/10-a.conf", "[secrets \"app-*\"]\nx = *\n");
	c = load_ok(t);
	f = open_memstream(&out, &len);
	assert_non_null(f);
	config_print_sources(c, f);
	assert_int_equal(config_print_access(c, f), 0);
	assert_int_equal(chmod(a, 0600), 0);
	assert_int_equal(config_print_access(c, f), 1);
	assert_int_equal(chmod(t->dropins, 0700), 0);
	assert_int_equal(config_print_access(c, f), 2);
	fclose(f);
	want = xasprintf("  files:             2 (the main file and 1 drop-in)\n"
	                 "    %s\n    %s\n"
	                 "  sections from:\n"
	                 "    [secret \"m\"] at %s:6\n"
	                 "    [secrets \"app-*\"] at %s:1\n", t->conf, a, t->conf, a);
	assert_memory_equal(out, want, strlen(want));
	assert_non_null(strstr(out, "10-a.conf: mode 0600, owned by "));
	assert_non_null(strstr(out, "cannot read it, so the service would fail to start or reload; it holds "
	                            "no secret: chmod 0644 "));
	assert_non_null(strstr(out, "main.conf.d: mode 0700, owned by "));
	config_free(c);
}

/* --check-config refuses the shipped placeholder project, unless requests
 * go elsewhere than Huawei Cloud. */
static void test_placeholder(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *msg = NULL;
	struct config *c = NULL;
	char *error = NULL;

	free(put(t, "main.conf", MAIN));
	free(put(t, "main.conf.d/10-a.conf", "[daemon]\n"));
	assert_int_equal(config_load(t->conf, CONFIG_REFUSE_PLACEHOLDER, &c, &error), -EINVAL);
	msg = xasprintf("%s:3: project_id 0123456789abcdef0123456789abcdef is the placeholder of the shipped "
	                "file, not a project: set the id of the project whose secrets are governed (IAM "
	                "console, My Credentials, Projects)", t->conf);
	assert_string_equal(error, msg);
	free(error);
	/* Set again by a drop-in: fine. */
	free(put(t, "main.conf.d/10-a.conf", "[csms]\nproject_id = 5e5a7c1d2b3f4e6a8c9d0e1f2a3b4c5d\n"));
	assert_int_equal(config_load(t->conf, CONFIG_REFUSE_PLACEHOLDER, &c, &error), 0);
	config_free(c);
	free(put(t, "main.conf.d/10-a.conf", "[csms]\nendpoint = http://127.0.0.1:8080\n"));
	assert_int_equal(config_load(t->conf, CONFIG_REFUSE_PLACEHOLDER, &c, &error), 0);
	config_free(c);
	/* Without the flag (the daemon, --plan) it only fails to authenticate. */
	free(put(t, "main.conf.d/10-a.conf", "\n"));
	assert_int_equal(config_load(t->conf, 0, &c, &error), 0);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_last_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_within_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ambiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_config_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_placeholder, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
