/* test-credentials.c - finding and judging credential files: every defect
 * with its exact message, the same from credential_read() (start-up and
 * every re-read) and from config_load(CONFIG_CHECK_CREDENTIALS)
 * (--check-config), and the search path. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "credentials.h"
#include "util.h"

static char dir[64];

static char *write_cred(const char *name, const char *content, size_t len, mode_t mode)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f;

	assert_non_null(p);
	unlink(p);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

/* --check-config: the whole config, naming PATH as [auth] WHAT. */
static int check_config(const char *what, const char *path, char **error)
{
	_cleanup_free_ char *text = NULL;
	struct config *c = NULL;
	int r;

	if (streq_ptr(what, "password_file"))
		text = xasprintf("[csms]\nregion = r\nproject_id = p\n[auth]\nmethod = password\n"
		                 "user = u\ndomain = d\npassword_file = %s\n", path);
	else if (streq_ptr(what, "token_file"))
		text = xasprintf("[csms]\nregion = r\nproject_id = p\n[auth]\nmethod = token\n"
		                 "token_file = %s\n", path);
	else {
		_cleanup_free_ char *ok = xasprintf("%s/ok", dir);
		bool sk = streq_ptr(what, "secret_key_file");

		text = xasprintf("[csms]\nregion = r\nproject_id = p\n[auth]\nmethod = aksk\n"
		                 "access_key_file = %s\nsecret_key_file = %s\n", sk ? ok : path, sk ? path : ok);
	}
	assert_non_null(text);
	r = config_load_string("test.conf", text, CONFIG_CHECK_CREDENTIALS, &c, error);
	config_free(c);
	return r;
}

static void test_defects(void **state)
{
	static const char long_value[] = "x";
	static const struct {
		const char *what;
		const char *content;
		size_t len;
		mode_t mode;
		int r;
		const char *problem;    /* NULL: accepted */
		const char *value;
	} cases[] = {
		{ "access_key_file", "AK", 2, 0600, 0, NULL, "AK" },
		{ "access_key_file", "AK\n", 3, 0400, 0, NULL, "AK" },
		{ "password_file", "pässword with spaces", 21, 0600, 0, NULL, "pässword with spaces" },
		{ "access_key_file", "", 0, 0600, -EINVAL, " is empty", NULL },
		{ "access_key_file", "\n", 1, 0600, -EINVAL, " is empty", NULL },
		{ "access_key_file", "AK\n\n", 4, 0600, -EINVAL,
		  " holds more than one line; it must hold only the value (one trailing newline is allowed)", NULL },
		{ "token_file", "AK\nmore", 7, 0600, -EINVAL,
		  " holds more than one line; it must hold only the value (one trailing newline is allowed)", NULL },
		{ "access_key_file", "AK\r\n", 4, 0600, -EINVAL,
		  " ends with a carriage return (a Windows line end); save it with a plain newline or none", NULL },
		{ "access_key_file", " AK\n", 4, 0600, -EINVAL,
		  " has whitespace at its start or end, which would be sent as part of the value", NULL },
		{ "secret_key_file", "SK \n", 4, 0600, -EINVAL,
		  " has whitespace at its start or end, which would be sent as part of the value", NULL },
		{ "password_file", "\tpw", 3, 0600, -EINVAL,
		  " has whitespace at its start or end, which would be sent as part of the value", NULL },
		{ "access_key_file", "\xef\xbb\xbf" "AK\n", 6, 0600, -EINVAL,
		  " starts with a byte order mark; save it without one", NULL },
		{ "access_key_file", "A\tK", 3, 0600, -EINVAL, " holds a control character", NULL },
		{ "access_key_file", "A\x7fK", 3, 0600, -EINVAL, " holds a control character", NULL },
		{ "access_key_file", "A\0K", 3, 0600, -EINVAL, " holds a NUL byte", NULL },
		{ "access_key_file", "AK\xff", 3, 0600, -EINVAL, " is not valid UTF-8", NULL },
		{ "access_key_file", "ÄK", 3, 0600, -EINVAL,
		  " holds a non-ASCII character; keys and tokens are ASCII", NULL },
		{ "token_file", "tökén", 7, 0600, -EINVAL,
		  " holds a non-ASCII character; keys and tokens are ASCII", NULL },
		{ "access_key_file", "AK", 2, 0640, -EPERM,
		  " is readable by group or others (mode 0640); chmod 600 it", NULL },
		{ "access_key_file", "AK", 2, 0604, -EPERM,
		  " is readable by group or others (mode 0604); chmod 600 it", NULL },
		{ "access_key_file", "AK", 2, 0620, -EPERM,
		  " is accessible by group or others (mode 0620); chmod 600 it", NULL },
		{ "access_key_file", "AK", 2, 0601, -EPERM,
		  " is accessible by group or others (mode 0601); chmod 600 it", NULL },
		{ "access_key_file", long_value, 0, 0600, -EFBIG,
		  " is larger than 64 KiB, too large for a credential", NULL },
	};

	(void) state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *content = NULL, *path = NULL, *want = NULL;
		_cleanup_free_ char *error = NULL, *check_error = NULL;
		size_t len = cases[i].len;
		char *value = NULL;
		int r;

		if (cases[i].content == long_value) {
			/* One byte over the limit. */
			len = CREDENTIAL_MAX_BYTES + 1;
			content = malloc(len);
			assert_non_null(content);
			memset(content, 'x', len);
		} else {
			content = malloc(len + 1);
			assert_non_null(content);
			memcpy(content, cases[i].content, len);
		}
		path = write_cred("cred", content, len, cases[i].mode);
		r = credential_read(cases[i].what, path, &value, &error);
		if (r != cases[i].r)
			fail_msg("case %zu: got %d (%s), expected %d", i, r, error ? error : "", cases[i].r);
		if (!cases[i].problem) {
			assert_string_equal(value, cases[i].value);
			credential_free(value);
			assert_int_equal(check_config(cases[i].what, path, &check_error), 0);
			continue;
		}
		assert_null(value);
		want = xasprintf("%s %s%s", cases[i].what, path, cases[i].problem);
		if (!streq_ptr(error, want))
			fail_msg("case %zu:\ngot:      %s\nexpected: %s", i, error, want);
		/* --check-config says exactly the same. */
		assert_int_equal(check_config(cases[i].what, path, &check_error), cases[i].r);
		if (!streq_ptr(check_error, want))
			fail_msg("case %zu (--check-config):\ngot:      %s\nexpected: %s", i, check_error, want);
	}
}

static void test_not_files(void **state)
{
	_cleanup_free_ char *fifo = xasprintf("%s/fifo", dir), *sub = xasprintf("%s/sub", dir);
	_cleanup_free_ char *missing = xasprintf("%s/missing", dir);
	const struct {
		const char *path;
		int r;
		const char *problem;
	} cases[] = {
		/* A FIFO without a writer: a blocking open() would hang. */
		{ fifo, -EINVAL, " is a FIFO, not a regular file" },
		{ sub, -EINVAL, " is a directory, not a regular file" },
		{ "/dev/zero", -EINVAL, " is a device, not a regular file" },
		{ missing, -ENOENT, ": No such file or directory" },
	};

	(void) state;
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *want = xasprintf("token_file %s%s", cases[i].path, cases[i].problem);
		_cleanup_free_ char *error = NULL, *check_error = NULL;
		char *value = NULL;

		assert_int_equal(credential_read("token_file", cases[i].path, &value, &error), cases[i].r);
		assert_null(value);
		assert_string_equal(error, want);
		assert_int_equal(check_config("token_file", cases[i].path, &check_error), cases[i].r);
		assert_string_equal(check_error, want);
	}
	unlink(fifo);
	rmdir(sub);
}

static void test_resolve(void **state)
{
	_cleanup_free_ char *path = NULL, *error = NULL;
	static const char *const bad[] = { "", ".", "..", "a\nb" };

	(void) state;
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(credential_resolve("token_file", "csms-token", &path, &error), 0);
	assert_string_equal(path, CREDENTIALS_DEFAULT_DIR "/csms-token");
	free(path);
	assert_int_equal(credential_resolve("token_file", "/abs/tok", &path, &error), 0);
	assert_string_equal(path, "/abs/tok");
	free(path);
	assert_int_equal(credential_resolve("token_file", "./tok", &path, &error), 0);
	assert_string_equal(path, "./tok");
	free(path);
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x.service", 1), 0);
	assert_int_equal(credential_resolve("token_file", "csms-token", &path, &error), 0);
	assert_string_equal(path, "/run/credentials/x.service/csms-token");
	free(path);
	path = NULL;
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_free_ char *want = NULL, *q = escape_for_log(bad[i]);

		assert_int_equal(credential_resolve("token_file", bad[i], &path, &error), -EINVAL);
		want = xasprintf("token_file '%s' is not a file name", q);
		assert_string_equal(error, want);
		free(error);
		error = NULL;
	}
	unsetenv("CREDENTIALS_DIRECTORY");
}

/* A missing bare name says where it was looked for and how to look
 * elsewhere: by hand, $CREDENTIALS_DIRECTORY is usually unset. */
static void test_missing_hints(void **state)
{
	_cleanup_free_ char *path = NULL, *error = NULL, *want = NULL;
	char *value = NULL;

	(void) state;
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(credential_resolve("access_key_file", "no-such-csms-ak", &path, &error), 0);
	assert_int_equal(credential_read("access_key_file", path, &value, &error), -ENOENT);
	assert_string_equal(error, "access_key_file " CREDENTIALS_DEFAULT_DIR "/no-such-csms-ak: No such file or "
	                    "directory (bare names are looked up in $CREDENTIALS_DIRECTORY, or in "
	                    CREDENTIALS_DEFAULT_DIR " when it is unset; set CREDENTIALS_DIRECTORY=DIR to read "
	                    "them from DIR)");
	free(error);
	free(path);
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
	assert_int_equal(credential_resolve("access_key_file", "csms-ak", &path, &error), 0);
	assert_int_equal(credential_read("access_key_file", path, &value, &error), -ENOENT);
	want = xasprintf("access_key_file %s/csms-ak: No such file or directory; bare names are looked up in "
	                 "$CREDENTIALS_DIRECTORY, which systemd fills from the unit's LoadCredential= lines "
	                 "when the service starts: list the file there (systemctl edit csms-tagd) and run "
	                 "systemctl restart, not reload (a reload does not copy credentials again)", dir);
	assert_string_equal(error, want);
	unsetenv("CREDENTIALS_DIRECTORY");
}

static int setup(void **state)
{
	(void) state;
	strcpy(dir, "/tmp/test-credentials.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	free(write_cred("ok", "OK\n", 3, 0600));
	return 0;
}

static int teardown(void **state)
{
	_cleanup_free_ char *cred = xasprintf("%s/cred", dir), *ok = xasprintf("%s/ok", dir);

	(void) state;
	unlink(cred);
	unlink(ok);
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defects),
		cmocka_unit_test(test_not_files),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_missing_hints),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
