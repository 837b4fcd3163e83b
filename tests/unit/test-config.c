/* test-config.c - the configuration parser: every key, the defaults, the
 * rule syntax, and every error with its message and line number. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "credentials.h"
#include "util.h"

/* Five lines; the body of the tests starts at line 6. */
#define PROLOGUE \
	"[csms]\n" \
	"region = cn-north-4\n" \
	"project_id = 0123456789abcdef0123456789abcdef\n" \
	"[auth]\n" \
	"method = ecs\n"

static struct config *load_ok(const char *text)
{
	struct config *c = NULL;
	char *error = NULL;
	int r;

	r = config_load_string("test.conf", text, 0, &c, &error);
	if (r < 0)
		fail_msg("unexpected error %d: %s", r, error ? error : "(none)");
	assert_non_null(c);
	assert_null(error);
	return c;
}

static struct config *load_body(const char *body)
{
	_cleanup_free_ char *text = xasprintf("%s%s", PROLOGUE, body);

	assert_non_null(text);
	return load_ok(text);
}

/* TEXT must be rejected with exactly "test.conf:" MESSAGE. */
static void expect_error(const char *text, const char *message)
{
	_cleanup_free_ char *want = xasprintf("test.conf:%s", message);
	struct config *c = (struct config *) 1;
	char *error = NULL;
	int r;

	r = config_load_string("test.conf", text, 0, &c, &error);
	if (r == 0) {
		config_free(c);
		fail_msg("accepted, expected: %s\n--- text:\n%s", want, text);
	}
	assert_int_equal(r, -EINVAL);
	assert_null(c);
	assert_non_null(error);
	if (strcmp(error, want) != 0)
		fail_msg("got:      %s\nexpected: %s", error, want);
	free(error);
}

static void expect_body_error(const char *body, const char *message)
{
	_cleanup_free_ char *text = xasprintf("%s%s", PROLOGUE, body);

	assert_non_null(text);
	expect_error(text, message);
}

static const struct rule *rule_at(const struct config *c, size_t section, size_t rule)
{
	assert_true(section < c->n_sections);
	assert_true(rule < c->sections[section].n_rules);
	return &c->sections[section].rules[rule];
}

/* The rule has kind RULE_VALUES and exactly the N values given. */
static void assert_values(const struct rule *r, size_t n, ...)
{
	va_list ap;

	assert_int_equal(r->kind, RULE_VALUES);
	assert_int_equal(r->n_values, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(r->values[i], va_arg(ap, const char *));
	va_end(ap);
}

/* ---- settings --------------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct config *c = load_ok(PROLOGUE);

	assert_string_equal(c->path, "test.conf");
	assert_string_equal(c->csms.region, "cn-north-4");
	assert_string_equal(c->csms.project_id, "0123456789abcdef0123456789abcdef");
	assert_string_equal(c->csms.endpoint, "https://kms.cn-north-4.myhuaweicloud.com");
	assert_string_equal(c->csms.iam_endpoint, "https://iam.cn-north-4.myhuaweicloud.com");
	assert_string_equal(c->csms.metadata_endpoint, "http://169.254.169.254");
	assert_null(c->csms.ca_file);
	assert_int_equal(c->auth.method, AUTH_ECS);
	assert_null(c->auth.access_key_file);
	assert_null(c->auth.token_file);
	assert_int_equal(c->daemon.interval_usec, 5 * 60 * USEC_PER_SEC);
	assert_int_equal(c->daemon.jitter_usec, 30 * USEC_PER_SEC);
	assert_int_equal(c->daemon.request_timeout_usec, 30 * USEC_PER_SEC);
	assert_int_equal(c->daemon.pass_timeout_usec, 10 * 60 * USEC_PER_SEC);
	assert_false(c->daemon.dry_run);
	assert_int_equal(c->daemon.max_deletes_per_pass, 50);
	assert_int_equal(c->daemon.max_parallel_requests, 8);
	assert_true(c->daemon.max_requests_per_second == 10.0);
	assert_int_equal(c->daemon.observe, OBSERVE_AUTO);
	assert_int_equal(c->daemon.n_protect, 0);
	assert_int_equal(c->n_sections, 0);
	config_free(c);
}

static void test_csms_keys(void **state)
{
	struct config *c = load_ok(
		"[csms]\n"
		"region = ap-southeast-1\n"
		"project_id = Proj_1-x\n"
		"endpoint = http://127.0.0.1:8080/\n"
		"iam_endpoint = https://iam.example.com\n"
		"metadata_endpoint = http://[fe80::1]:80\n"
		"ca_file = /etc/ssl/ca.pem\n"
		"[auth]\n"
		"method = ecs\n");

	assert_string_equal(c->csms.region, "ap-southeast-1");
	assert_string_equal(c->csms.project_id, "Proj_1-x");
	/* the trailing '/' goes: paths are appended to it */
	assert_string_equal(c->csms.endpoint, "http://127.0.0.1:8080");
	assert_string_equal(c->csms.iam_endpoint, "https://iam.example.com");
	assert_string_equal(c->csms.metadata_endpoint, "http://[fe80::1]:80");
	assert_string_equal(c->csms.ca_file, "/etc/ssl/ca.pem");
	config_free(c);
}

static void test_csms_errors(void **state)
{
	static const char auth[] = "[auth]\nmethod = ecs\n";
	static const struct {
		const char *csms;
		const char *message;
	} cases[] = {
		{ "[csms]\nproject_id = p\n", "1: [csms] region is required (like region = cn-north-4)" },
		{ "[csms]\nregion = r\n", "1: [csms] project_id is required" },
		{ "[csms]\nregion = CN North\nproject_id = p\n",
		  "2: region 'CN North' is not a region name (like cn-north-4: a-z, 0-9 and '-')" },
		{ "[csms]\nregion = r\nproject_id = a/b\n",
		  "3: project_id 'a/b' is not a project id (1 to 64 of A-Z, a-z, 0-9, '_', '-')" },
		{ "[csms]\nregion = r\nproject_id = "
		  "0123456789012345678901234567890123456789012345678901234567890123x\n",
		  "3: project_id '0123456789012345678901234567890123456789012345678901234567890123x' is not "
		  "a project id (1 to 64 of A-Z, a-z, 0-9, '_', '-')" },
		{ "[csms]\nregion = r\nproject_id = p\nendpoint = ftp://x\n",
		  "4: endpoint 'ftp://x' is not an http:// or https:// URL without a path "
		  "(like https://kms.cn-north-4.myhuaweicloud.com)" },
		{ "[csms]\nregion = r\nproject_id = p\niam_endpoint = https://x/v3\n",
		  "4: iam_endpoint 'https://x/v3' is not an http:// or https:// URL without a path "
		  "(like https://kms.cn-north-4.myhuaweicloud.com)" },
		{ "[csms]\nregion = r\nproject_id = p\nendpoint = https://x:99999\n",
		  "4: endpoint 'https://x:99999' is not an http:// or https:// URL without a path "
		  "(like https://kms.cn-north-4.myhuaweicloud.com)" },
		{ "[csms]\nregion = r\nproject_id = p\nmetadata_endpoint = http://u@x\n",
		  "4: metadata_endpoint 'http://u@x' is not an http:// or https:// URL without a path "
		  "(like https://kms.cn-north-4.myhuaweicloud.com)" },
		{ "[csms]\nregion = r\nproject_id = p\nendpoint = https://\n",
		  "4: endpoint 'https://' is not an http:// or https:// URL without a path "
		  "(like https://kms.cn-north-4.myhuaweicloud.com)" },
		{ "[csms]\nregion = r\nproject_id = p\nca_file = ca.pem\n", "4: ca_file 'ca.pem' is not an absolute path" },
		{ "[csms]\nregion = r\nregion = s\n", "3: duplicate key 'region' in [csms] (first at line 2)" },
		{ "[csms]\nzone = r\n", "2: unknown key 'zone' in [csms]" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *text = xasprintf("%s%s", cases[i].csms, auth);

		expect_error(text, cases[i].message);
	}
	expect_error(auth, " [csms] region is required (like region = cn-north-4)");
}

static void test_auth_methods(void **state)
{
	struct config *c;

	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/csms-tagd.service", 1), 0);
	c = load_ok(
		"[csms]\nregion = r\nproject_id = p\n"
		"[auth]\n"
		"method = aksk\n"
		"access_key_file = csms-ak\n"
		"secret_key_file = /etc/csms-tagd/sk\n"
		"security_token_file = ./token\n");
	assert_int_equal(c->auth.method, AUTH_AKSK);
	assert_string_equal(c->auth.access_key_file, "/run/credentials/csms-tagd.service/csms-ak");
	assert_string_equal(c->auth.secret_key_file, "/etc/csms-tagd/sk");
	assert_string_equal(c->auth.security_token_file, "./token");
	config_free(c);

	c = load_ok(
		"[csms]\nregion = r\nproject_id = p\n"
		"[auth]\n"
		"user = deploy bot\n"
		"domain = my-account\n"
		"password_file = csms-password\n"
		"method = password\n");
	assert_int_equal(c->auth.method, AUTH_PASSWORD);
	assert_string_equal(c->auth.user, "deploy bot");
	assert_string_equal(c->auth.domain, "my-account");
	assert_string_equal(c->auth.password_file, "/run/credentials/csms-tagd.service/csms-password");
	config_free(c);

	c = load_ok("[csms]\nregion = r\nproject_id = p\n[auth]\nmethod = token\ntoken_file = tok\n");
	assert_int_equal(c->auth.method, AUTH_TOKEN);
	assert_string_equal(c->auth.token_file, "/run/credentials/csms-tagd.service/tok");
	config_free(c);

	/* Outside systemd, bare names are in the directory the units load
	 * them from, wherever the config file is (credentials.h). */
	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	c = load_ok("[csms]\nregion = r\nproject_id = p\n[auth]\nmethod = token\ntoken_file = tok\n");
	assert_string_equal(c->auth.token_file, CREDENTIALS_DEFAULT_DIR "/tok");
	config_free(c);
}

static void test_auth_errors(void **state)
{
	static const char csms[] = "[csms]\nregion = r\nproject_id = p\n";
	static const struct {
		const char *auth;
		const char *message;
	} cases[] = {
		{ "", " [auth] method is required (aksk, password, token, ecs or agency)" },
		{ "[auth]\ntoken_file = t\n", "4: [auth] method is required (aksk, password, token, ecs or agency)" },
		{ "[auth]\nmethod = oauth\n", "5: method 'oauth' is not one of aksk, password, token, ecs, agency" },
		{ "[auth]\nmethod = aksk\naccess_key_file = a\nsecret_key_file = s\ntoken_file = t\n",
		  "8: token_file is not used by method aksk" },
		/* the first unused key in the file, wherever the method is */
		{ "[auth]\npassword_file = p\nuser = u\nmethod = token\ntoken_file = t\n",
		  "5: password_file is not used by method token" },
		{ "[auth]\nmethod = ecs\nuser = u\n", "6: user is not used by method ecs" },
		{ "[auth]\nmethod = token\nsecurity_token_file = t\ntoken_file = t\n",
		  "6: security_token_file is not used by method token" },
		{ "[auth]\nmethod = aksk\nsecret_key_file = s\n", "5: method aksk needs access_key_file in [auth]" },
		{ "[auth]\nmethod = aksk\naccess_key_file = a\n", "5: method aksk needs secret_key_file in [auth]" },
		{ "[auth]\nmethod = password\nuser = u\npassword_file = p\n",
		  "5: method password needs domain in [auth]" },
		{ "[auth]\nmethod = password\ndomain = d\npassword_file = p\n",
		  "5: method password needs user in [auth]" },
		{ "[auth]\nmethod = password\ndomain = d\nuser = u\n",
		  "5: method password needs password_file in [auth]" },
		{ "[auth]\nmethod = token\n", "5: method token needs token_file in [auth]" },
		{ "[auth]\nmethod = token\ntoken_file =\n", "6: token_file is empty" },
		{ "[auth]\nmethod = token\ntoken_file = ..\n", "6: token_file '..' is not a file name" },
		{ "[auth]\nmethod = password\nuser =\n", "6: user is empty" },
		{ "[auth]\nmethod = ecs\nmethod = ecs\n", "6: duplicate key 'method' in [auth] (first at line 5)" },
		{ "[auth]\nsecret_key = abc\n", "5: unknown key 'secret_key' in [auth]" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *text = xasprintf("%s%s", csms, cases[i].auth);

		expect_error(text, cases[i].message);
	}
}

#define AGENCY_AUTH "[csms]\nregion = r\nproject_id = p\n[auth]\nmethod = agency\n"

static void test_agency(void **state)
{
	struct config *c;

	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/cred", 1), 0);
	c = load_ok(AGENCY_AUTH "access_key_file = ak\nsecret_key_file = sk\n"
	            "agency_name = tag-keeper\nagency_account_id = 0b1f00000000000000000000000000aa\n"
	            "external_id_file = ext\n");
	assert_int_equal(c->auth.method, AUTH_AGENCY);
	assert_int_equal(c->auth.base, AUTH_AKSK);
	assert_int_equal(c->auth.agency.api, AGENCY_API_STS);
	assert_string_equal(c->auth.agency.name, "tag-keeper");
	assert_string_equal(c->auth.agency.account_id, "0b1f00000000000000000000000000aa");
	assert_null(c->auth.agency.session_name);
	assert_true(c->auth.agency.duration_usec == AGENCY_DURATION_DEFAULT);
	assert_string_equal(c->auth.agency.external_id_file, "/run/cred/ext");
	assert_string_equal(c->csms.sts_endpoint, "https://sts.r.myhuaweicloud.com");
	assert_string_equal(c->csms.organizations_endpoint, "https://organizations.myhuaweicloud.com");
	config_free(c);

	c = load_ok("[csms]\nregion = r\nproject_id = p\nsts_endpoint = https://sts.example:8443/\n"
	            "[auth]\nmethod = agency\nbase = ecs\napi = iam\nagency_name = a\n"
	            "agency_domain = acme-prod\nagency_session_name = ops@tagd\nagency_duration = 30min\n");
	assert_int_equal(c->auth.base, AUTH_ECS);
	assert_int_equal(c->auth.agency.api, AGENCY_API_IAM);
	assert_null(c->auth.agency.account_id);
	assert_string_equal(c->auth.agency.domain, "acme-prod");
	assert_string_equal(c->auth.agency.session_name, "ops@tagd");
	assert_true(c->auth.agency.duration_usec == 30 * 60 * USEC_PER_SEC);
	assert_string_equal(c->csms.sts_endpoint, "https://sts.example:8443");
	config_free(c);
	assert_string_equal(agency_api_to_string(AGENCY_API_IAM), "iam");
	assert_string_equal(auth_method_to_string(AUTH_AGENCY), "agency");
}

static void test_agency_errors(void **state)
{
	static const struct {
		const char *auth;
		const char *message;
	} cases[] = {
		{ "agency_account_id = a1\n", "5: method agency needs agency_name in [auth]" },
		{ "agency_name = n\n", "5: method agency with base aksk needs access_key_file and "
		  "secret_key_file in [auth] (the identity that assumes the agency)" },
		{ "base = ecs\nagency_name = n\n", "5: method agency needs agency_account_id in [auth] "
		  "(the account that owns agency n)" },
		{ "base = ecs\napi = iam\nagency_name = n\n", "5: method agency with api iam needs "
		  "agency_account_id or agency_domain in [auth]" },
		{ "base = password\n", "6: base 'password' is not one of aksk, ecs" },
		{ "api = v4\n", "6: api 'v4' is not one of sts, iam" },
		{ "base = ecs\nagency_name = n\nagency_account_id = a1\naccess_key_file = k\n",
		  "9: base ecs takes its keys from the metadata service: remove the key files" },
		{ "base = ecs\nagency_name = n:x\n", "7: agency_name 'n:x' is not a name (1 to 64 of A-Z, "
		  "a-z, 0-9, _+=,.@-)" },
		{ "agency_session_name = a\n", "6: agency_session_name 'a' is not a name (2 to 64 of A-Z, "
		  "a-z, 0-9, _+=,.@-)" },
		{ "agency_account_id = a:b\n", "6: agency_account_id 'a:b' is not an account id (like "
		  "0b1f...: 1 to 64 of A-Z, a-z, 0-9)" },
		{ "base = ecs\nagency_name = n\nagency_account_id = a1\nagency_domain = d\n",
		  "9: agency_domain is used by api iam only; STS names the account by agency_account_id" },
		{ "base = ecs\napi = iam\nagency_name = n\nagency_domain = d\nexternal_id_file = e\n",
		  "10: external_id_file needs api sts: the IAM v3.0 call has no external id" },
		{ "base = ecs\nagency_name = n\nagency_account_id = a1\nagency_duration = 2h\n",
		  "9: agency_duration is at most 1h when the base identity uses temporary keys (base ecs "
		  "or security_token_file)" },
		{ "access_key_file = a\nsecret_key_file = s\nagency_name = n\nagency_account_id = a1\n"
		  "agency_duration = 13h\n", "10: agency_duration is at most 12h with api sts" },
		{ "agency_duration = 10min\n", "6: agency_duration '10min' is out of range (15min to 1d)" },
		{ "base = ecs\nagency_name = n\nagency_account_id = a1\nuser = u\n",
		  "9: user is not used by method agency" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *text = xasprintf("%s%s", AGENCY_AUTH, cases[i].auth);

		expect_error(text, cases[i].message);
	}
	expect_error("[csms]\nregion = r\nproject_id = p\n[auth]\nmethod = ecs\nagency_name = n\n",
	             "6: agency_name is not used by method ecs");
}

static void test_daemon_keys(void **state)
{
	struct config *c = load_body(
		"[daemon]\n"
		"interval = 1h 30min\n"
		"jitter = 0\n"
		"request_timeout = 250ms\n"
		"pass_timeout = 2h\n"
		"dry_run = yes\n"
		"max_deletes_per_pass = 0\n"
		"max_parallel_requests = 64\n"
		"max_requests_per_second = 2.5\n"
		"observe = list_secrets\n"
		"protect = billing-* | legal-hold|k8s%3A*\n");

	assert_int_equal(c->daemon.interval_usec, 90 * 60 * USEC_PER_SEC);
	assert_int_equal(c->daemon.jitter_usec, 0);
	assert_int_equal(c->daemon.request_timeout_usec, 250 * USEC_PER_MSEC);
	assert_int_equal(c->daemon.pass_timeout_usec, 2 * 3600 * USEC_PER_SEC);
	assert_true(c->daemon.dry_run);
	assert_int_equal(c->daemon.max_deletes_per_pass, 0);
	assert_int_equal(c->daemon.max_parallel_requests, 64);
	assert_true(c->daemon.max_requests_per_second == 2.5);
	assert_int_equal(c->daemon.observe, OBSERVE_LIST_SECRETS);
	assert_int_equal(c->daemon.n_protect, 3);
	assert_string_equal(c->daemon.protect[0], "billing-*");
	assert_string_equal(c->daemon.protect[1], "legal-hold");
	assert_string_equal(c->daemon.protect[2], "k8s:*");
	config_free(c);

	c = load_body("[daemon]\nobserve = resource_instances\ndry_run = False\nmax_requests_per_second = 0\n");
	assert_int_equal(c->daemon.observe, OBSERVE_RESOURCE_INSTANCES);
	assert_false(c->daemon.dry_run);
	assert_true(c->daemon.max_requests_per_second == 0.0);
	config_free(c);
}

static void test_booleans(void **state)
{
	static const struct {
		const char *text;
		bool value;
	} cases[] = {
		{ "yes", true }, { "no", false }, { "true", true }, { "false", false },
		{ "1", true }, { "0", false }, { "on", true }, { "off", false }, { "YES", true },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *body = xasprintf("[daemon]\ndry_run = %s\n", cases[i].text);
		struct config *c = load_body(body);

		assert_int_equal(c->daemon.dry_run, cases[i].value);
		config_free(c);
	}
}

static void test_daemon_errors(void **state)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
		{ "[daemon]\nfrobnicate = yes\n", "7: unknown key 'frobnicate' in [daemon]" },
		{ "[daemon]\ninterval = 1s\ninterval = 2s\n",
		  "8: duplicate key 'interval' in [daemon] (first at line 7)" },
		{ "[daemon]\ninterval = soon\n",
		  "7: interval 'soon' is not a time span (like 30s, 5min, 1h 30min, 250ms)" },
		{ "[daemon]\ninterval = 0\n", "7: interval '0' is out of range (1s to 365d)" },
		{ "[daemon]\ninterval = 366d\n", "7: interval '366d' is out of range (1s to 365d)" },
		{ "[daemon]\njitter = -5s\n",
		  "7: jitter '-5s' is not a time span (like 30s, 5min, 1h 30min, 250ms)" },
		{ "[daemon]\nrequest_timeout = 10us\n", "7: request_timeout '10us' is out of range (1ms to 1d)" },
		{ "[daemon]\npass_timeout = 999ms\n", "7: pass_timeout '999ms' is out of range (1s to 365d)" },
		{ "[daemon]\ndry_run = maybe\n",
		  "7: dry_run 'maybe' is not a boolean (yes, no, true, false, 1, 0)" },
		{ "[daemon]\nmax_deletes_per_pass = -1\n",
		  "7: max_deletes_per_pass '-1' is not a whole number from 0 to 1000000" },
		{ "[daemon]\nmax_deletes_per_pass = 5 0\n",
		  "7: max_deletes_per_pass '5 0' is not a whole number from 0 to 1000000" },
		{ "[daemon]\nmax_deletes_per_pass = 99999999999999999999999\n",
		  "7: max_deletes_per_pass '99999999999999999999999' is not a whole number from 0 to 1000000" },
		{ "[daemon]\nmax_parallel_requests = 0\n",
		  "7: max_parallel_requests '0' is not a whole number from 1 to 256" },
		{ "[daemon]\nmax_parallel_requests = 257\n",
		  "7: max_parallel_requests '257' is not a whole number from 1 to 256" },
		{ "[daemon]\nmax_requests_per_second = 1e3\n",
		  "7: max_requests_per_second '1e3' is not a number from 0 to 100000 (0: unlimited)" },
		{ "[daemon]\nmax_requests_per_second = inf\n",
		  "7: max_requests_per_second 'inf' is not a number from 0 to 100000 (0: unlimited)" },
		{ "[daemon]\nmax_requests_per_second = 1.\n",
		  "7: max_requests_per_second '1.' is not a number from 0 to 100000 (0: unlimited)" },
		{ "[daemon]\nmax_requests_per_second = 100001\n",
		  "7: max_requests_per_second '100001' is not a number from 0 to 100000 (0: unlimited)" },
		{ "[daemon]\nobserve = sometimes\n",
		  "7: observe 'sometimes' is not one of auto, resource_instances, list_secrets" },
		{ "[daemon]\nprotect = a||b\n", "7: protect: empty key glob (a stray '|'?)" },
		{ "[daemon]\nprotect = a|\n", "7: protect: empty key glob (a stray '|'?)" },
		{ "[daemon]\nprotect = [a\n",
		  "7: protect key glob '[a' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')" },
		/* an indented entry is a continuation line to inih */
		{ "[daemon]\ninterval = 5min\n  jitter = 1s\n",
		  "8: 'interval' takes no continuation lines (is this line indented by mistake?)" },
		{ "[daemon]\nprotect = a\n  jitter = 1s\n",
		  "8: continuation line of 'protect' contains '=': entries must not be indented, "
		  "and a continued list writes '=' and ':' as %3D and %3A" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		expect_body_error(cases[i].body, cases[i].message);
}

static void test_to_string(void **state)
{
	assert_string_equal(auth_method_to_string(AUTH_AKSK), "aksk");
	assert_string_equal(auth_method_to_string(AUTH_PASSWORD), "password");
	assert_string_equal(auth_method_to_string(AUTH_TOKEN), "token");
	assert_string_equal(auth_method_to_string(AUTH_ECS), "ecs");
	assert_string_equal(observe_mode_to_string(OBSERVE_AUTO), "auto");
	assert_string_equal(observe_mode_to_string(OBSERVE_RESOURCE_INSTANCES), "resource_instances");
	assert_string_equal(observe_mode_to_string(OBSERVE_LIST_SECRETS), "list_secrets");
}

/* ---- governance ------------------------------------------------------------- */

static void test_rules(void **state)
{
	struct config *c = load_body(
		"[secret \"payments-db\"]\n"            /* 6 */
		"owner = alice|bob\n"
		"env = prod | staging\n"
		"cost-center = cc-*\n"
		"\n"
		"; open deny-list\n"
		"[secrets \"app-*\"]\n"                 /* 12 */
		"temp-* = !\n"
		"* = *   ; keep the rest\n"
		"[secret \"empty\"]\n");                /* 15 */
	const struct section *s;

	assert_int_equal(c->n_sections, 3);
	s = &c->sections[0];
	assert_false(s->is_glob);
	assert_string_equal(s->pattern, "payments-db");
	assert_int_equal(s->line, 6);
	assert_int_equal(s->n_rules, 3);
	assert_string_equal(s->rules[0].key, "owner");
	assert_int_equal(s->rules[0].line, 7);
	assert_values(&s->rules[0], 2, "alice", "bob");
	assert_values(&s->rules[1], 2, "prod", "staging");
	assert_int_equal(s->rules[1].line, 8);
	assert_values(&s->rules[2], 1, "cc-*");

	s = &c->sections[1];
	assert_true(s->is_glob);
	assert_string_equal(s->pattern, "app-*");
	assert_int_equal(s->line, 12);
	assert_int_equal(s->n_rules, 2);
	assert_string_equal(s->rules[0].key, "temp-*");
	assert_int_equal(s->rules[0].kind, RULE_FORBID);
	assert_int_equal(s->rules[0].n_values, 0);
	assert_string_equal(s->rules[1].key, "*");
	assert_int_equal(s->rules[1].kind, RULE_ANY);
	assert_int_equal(s->rules[1].line, 14);

	/* A section without rules is legal: it allows nothing. */
	s = &c->sections[2];
	assert_string_equal(s->pattern, "empty");
	assert_int_equal(s->line, 15);
	assert_int_equal(s->n_rules, 0);
	config_free(c);
}

static void test_escapes_and_unicode(void **state)
{
	struct config *c = load_body(
		"[secret \"db%2Dmain\"]\n"
		"k8s%3Anamespace = kube%3Dsystem|a%7Cb\n"
		"ratio%25 = 100%25\n"
		"cost center = shared services\n"
		"部门 = 财务|研发\n"
		"Ключ = значение\n"
		"a%3Db%3Ac = x%3By\n"
		"path = /srv/data|http%3A//x\n"
		"email = ops@example.com|a+b@x\n"
		"%5Bab%5D = x\n");

	assert_string_equal(c->sections[0].pattern, "db-main");
	assert_string_equal(rule_at(c, 0, 0)->key, "k8s:namespace");
	assert_values(rule_at(c, 0, 0), 2, "kube=system", "a|b");
	assert_string_equal(rule_at(c, 0, 1)->key, "ratio%");
	assert_values(rule_at(c, 0, 1), 1, "100%");
	assert_string_equal(rule_at(c, 0, 2)->key, "cost center");
	assert_values(rule_at(c, 0, 2), 1, "shared services");
	assert_string_equal(rule_at(c, 0, 3)->key, "部门");
	assert_values(rule_at(c, 0, 3), 2, "财务", "研发");
	assert_string_equal(rule_at(c, 0, 4)->key, "Ключ");
	assert_values(rule_at(c, 0, 4), 1, "значение");
	assert_string_equal(rule_at(c, 0, 5)->key, "a=b:c");
	assert_values(rule_at(c, 0, 5), 1, "x;y");
	assert_values(rule_at(c, 0, 6), 2, "/srv/data", "http://x");
	assert_values(rule_at(c, 0, 7), 2, "ops@example.com", "a+b@x");
	/* decoding happens before fnmatch: %5B is a '[' like any other */
	assert_string_equal(rule_at(c, 0, 8)->key, "[ab]");
	config_free(c);
}

static void test_key_and_value_lengths(void **state)
{
	/* Lengths are in characters, as CSMS counts them, not bytes: 128
	 * ASCII characters and 60 three-byte characters are both keys that
	 * fit on a line; 129 characters are too many. */
	char key128[129], value190[191], key60[181] = "";
	_cleanup_free_ char *body = NULL, *body129 = NULL, *msg = NULL, *escaped = NULL;
	struct config *c;

	memset(key128, 'k', 128);
	key128[128] = '\0';
	memset(value190, 'v', 190);
	value190[190] = '\0';
	for (int i = 0; i < 60; i++)
		strcat(key60, "键");

	body = xasprintf("[secret \"s\"]\n%s = *\n%s = 1\nv = %s\n", key128, key60, value190);
	c = load_body(body);
	assert_int_equal(strlen(rule_at(c, 0, 0)->key), 128);
	assert_int_equal(strlen(rule_at(c, 0, 1)->key), 180);
	assert_string_equal(rule_at(c, 0, 1)->key, key60);
	assert_values(rule_at(c, 0, 2), 1, value190);
	config_free(c);

	body129 = xasprintf("[secret \"s\"]\n%sx = *\n", key128);
	msg = xasprintf("7: key '%sx' is 129 characters long (at most 128)", key128);
	expect_body_error(body129, msg);

	/* Escapes count once decoded: 40 escapes of 'A' are 40 characters. */
	escaped = strdup("[secret \"s\"]\nk = ");
	assert_non_null(escaped);
	for (int i = 0; i < 40; i++) {
		char *t = xasprintf("%s%%41", escaped);

		assert_non_null(t);
		free(escaped);
		escaped = t;
	}
	c = load_body(escaped);
	assert_int_equal(strlen(rule_at(c, 0, 0)->values[0]), 40);
	config_free(c);
}

static void test_continuation_lines(void **state)
{
	struct config *c = load_body(
		"[secret \"s\"]\n"
		"owner = alice | bob |\n"        /* 7: a '|' at the end ... */
		"        carol | dave\n"
		"env = prod\n"                   /* 9: ... or none ... */
		"      staging\n"
		"      | dev ; a comment on a continuation line\n"   /* ... or at the start */
		"; a comment between continuation lines\n"
		"\n"
		"      qa\n"
		"team =\n"                       /* 15: the list may start on the next line */
		"   red |\n"
		"   | blue\n"
		"[daemon]\n"
		"protect = billing-* |\n"
		"   legal-hold\n");
	const struct rule *r;

	r = rule_at(c, 0, 0);
	assert_int_equal(r->line, 7);
	assert_values(r, 4, "alice", "bob", "carol", "dave");
	r = rule_at(c, 0, 1);
	assert_int_equal(r->line, 9);
	assert_values(r, 4, "prod", "staging", "dev", "qa");
	r = rule_at(c, 0, 2);
	assert_int_equal(r->line, 15);
	assert_values(r, 2, "red", "blue");
	assert_int_equal(c->daemon.n_protect, 2);
	assert_string_equal(c->daemon.protect[0], "billing-*");
	assert_string_equal(c->daemon.protect[1], "legal-hold");
	config_free(c);
}

static void test_empty_values(void **state)
{
	struct config *c = load_body(
		"[secret \"s\"]\n"
		"a = x||y\n"            /* an empty element allows the empty value */
		"b = x|\n"              /* also at the end of the list */
		"c = |x\n"
		"d =\n"                 /* the empty value only */
		"e = x|\n"              /* a line break is no element: not "" */
		"    y\n"
		"f = x | x\n");         /* said twice, kept once */

	assert_values(rule_at(c, 0, 0), 3, "x", "", "y");
	assert_values(rule_at(c, 0, 1), 2, "x", "");
	assert_values(rule_at(c, 0, 2), 2, "", "x");
	assert_values(rule_at(c, 0, 3), 1, "");
	assert_values(rule_at(c, 0, 4), 2, "x", "y");
	assert_values(rule_at(c, 0, 5), 1, "x");
	config_free(c);
}

static void test_rule_errors(void **state)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
		{ "[secret \"a\"]\na%zz = 1\n",
		  "7: key 'a%zz': bad escape '%zz' (%XX with two hex digits; write '%' as %25)" },
		{ "[secret \"a\"]\nk = 50%\n",
		  "7: value '50%': bad escape '%' (%XX with two hex digits; write '%' as %25)" },
		{ "[secret \"a\"]\nk = %4\n",
		  "7: value '%4': bad escape '%4' (%XX with two hex digits; write '%' as %25)" },
		{ "[secret \"a\"]\nk = %ff\n", "7: value '%ff': not valid UTF-8 once decoded" },
		{ "[secret \"a\"]\nk = a%00\n", "7: value 'a%00': control characters are not allowed" },
		{ "[secret \"a\"]\nk%0A = 1\n", "7: key 'k%0A': control characters are not allowed" },
		{ "[secret \"a\"]\nk = \"\"\n",
		  "7: value '\"\"': quotes are not part of the syntax (write '\"' as %22)" },
		{ "[secret \"a\"]\n\"k\" = 1\n",
		  "7: key '\"k\"': quotes are not part of the syntax (write '\"' as %22)" },
		{ "[secret \"a\"]\nk = [x\n",
		  "7: value '[x' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')" },
		{ "[secret \"a\"]\n%5Bliteral = 1\n",
		  "7: key '%5Bliteral' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')" },
		{ "[secret \"a\"]\nk[ = 1\n",
		  "7: key 'k[' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')" },
		{ "[secret \"a\"]\n= 1\n", "7: key is empty" },
		{ "[secret \"a\"]\nx = 1\nx = 2\n",
		  "8: duplicate rule for key 'x' (first at line 7); only the first could ever match" },
		{ "[secret \"a\"]\nk%3Ab = 1\nk:b = 2\n",
		  "8: expected 'KEY = VALUE'; a ':' in a key is written %3A" },
		{ "[secret \"a\"]\nk%3Ab = 1\nk%3ab = 2\n",
		  "8: duplicate rule for key 'k:b' (first at line 7); only the first could ever match" },
		{ "[secret \"a\"]\n* = *\nx = 2\n",
		  "8: the rule for 'x' can never match: the catch-all '*' rule at line 7 comes first and "
		  "decides every tag" },
		{ "[secret \"a\"]\nx = a|!\n", "7: '!' must stand alone: 'x = !' forbids the tag" },
		{ "[secret \"a\"]\nx = *|a\n", "7: '*' must stand alone: 'x = *' allows any value" },
		{ "[secret \"a\"]\nx = a\n  | *\n", "8: '*' must stand alone: 'x = *' allows any value" },
		{ "[secret \"a\"]\nx = *\n  a\n",
		  "8: '*' and '!' stand alone: the rule for 'x' takes no continuation lines" },
		{ "[secret \"a\"]\nx = !\n  a\n",
		  "8: '*' and '!' stand alone: the rule for 'x' takes no continuation lines" },
		{ "[secret \"a\"]\nx = a\n  y = b\n",
		  "8: continuation line of 'x' contains '=': entries must not be indented, "
		  "and a continued list writes '=' and ':' as %3D and %3A" },
		{ "[secret \"a\"]\nx = a\n  urn:b\n",
		  "8: continuation line of 'x' contains ':': entries must not be indented, "
		  "and a continued list writes '=' and ':' as %3D and %3A" },
		{ "[secret \"a\"]\nx = a\n  [secret \"b\"]\n", "8: a section header must not be indented" },
		{ "[secret \"a\"]\nk = a|\n  [b\n",
		  "8: value '[b' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')" },
		{ "[secret \"a\"]\nx = a\n\n  %zz\n",
		  "9: value '%zz': bad escape '%zz' (%XX with two hex digits; write '%' as %25)" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		expect_body_error(cases[i].body, cases[i].message);
}

static void test_section_errors(void **state)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
		{ "[bogus]\n", "6: unknown section [bogus]" },
		{ "[CSMS]\n", "6: unknown section [CSMS]" },
		{ "[protect]\n", "6: unknown section [protect]" },
		{ "[bogus \"x\"]\n", "6: unknown section [bogus \"x\"]" },
		{ "[csms \"x\"]\n", "6: unknown section [csms \"x\"]" },
		{ "[secret]\n", "6: [secret] needs a quoted name: [secret \"NAME\"]" },
		{ "[secrets]\n", "6: [secrets] needs a quoted name: [secrets \"GLOB\"]" },
		{ "[secret \"\"]\n", "6: secret name is empty" },
		{ "[secret \"a\"\n", "6: section header: expected [NAME] or [secret \"NAME\"] or [secrets \"GLOB\"]" },
		{ "[secret \"a]\n", "6: section header: unterminated quote" },
		{ "[secret \"a\" \"b\"]\n",
		  "6: section header: expected [NAME] or [secret \"NAME\"] or [secrets \"GLOB\"]" },
		{ "[secret \"a\"] x\n", "6: unexpected text after the section header" },
		{ "[secret \"a*\"]\n",
		  "6: [secret \"a*\"] governs one secret by its exact name; for a glob write [secrets \"...\"]" },
		{ "[secrets \"app-[\"]\n",
		  "6: secret name glob 'app-[' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')" },
		{ "[secret \"a%zz\"]\n",
		  "6: secret name 'a%zz': bad escape '%zz' (%XX with two hex digits; write '%' as %25)" },
		{ "[secret \"a ;b\"]\n",
		  "6: section header: a ';' after a space starts a comment, which cuts off the ']'; "
		  "write ';' in a name as %3B" },
		{ "[secret \"a\"]\nx = *\n[secret \"a\"]\n", "8: duplicate section [secret \"a\"] (first at line 6)" },
		{ "[secrets \"a*\"]\n[secrets \"a*\"]\n", "7: duplicate section [secrets \"a*\"] (first at line 6)" },
		{ "[secret \"a-b\"]\n[secret \"a%2Db\"]\n", "7: duplicate section [secret \"a%2Db\"] (first at line 6)" },
		{ "[csms]\n", "6: duplicate section [csms] (first at line 1)" },
		{ "[auth]\n", "6: duplicate section [auth] (first at line 4)" },
		{ "[daemon]\n[daemon]\n", "7: duplicate section [daemon] (first at line 6)" },
	};
	struct config *c;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		expect_body_error(cases[i].body, cases[i].message);

	/* The same text as an exact and as a glob section are two sections;
	 * brackets inside the quotes and comments after the header are fine. */
	c = load_body("[secret \"a\"]\n[secrets \"a\"]\n[secrets \"app-[ab]*\"] ; comment\n[ daemon ]\n");
	assert_int_equal(c->n_sections, 3);
	assert_string_equal(c->sections[2].pattern, "app-[ab]*");
	config_free(c);
}

static void test_syntax_errors(void **state)
{
	expect_error("region = x\n[csms]\n", "1: 'region' is outside of any section");
	expect_body_error("[secret \"a\"]\njust text\n",
	                  "7: expected 'KEY = VALUE', a [section] header or a comment");
	expect_body_error("[secret \"a\"]\nk ;= v\n",
	                  "7: expected 'KEY = VALUE', a [section] header or a comment");
	expect_body_error("[secret \"a\"]\nk:v\n", "7: expected 'KEY = VALUE'; a ':' in a key is written %3A");
	expect_body_error("[secret \"a\"]\nk = \xff\n", "7: not valid UTF-8");
	expect_body_error("[secret \"a\"]\nk = \x1b[31m\n", "7: value '\\x1b[31m': control characters are not allowed");
	expect_error("", " [csms] region is required (like region = cn-north-4)");
}

static void test_comments_bom_crlf(void **state)
{
	struct config *c = load_ok(
		"\xef\xbb\xbf# a comment\r\n"
		"[csms]\r\n"
		"region = cn-north-4 ; inline comment\r\n"
		"project_id = p\r\n"
		"   ; indented comment\r\n"
		"[auth]\r\n"
		"method = ecs\r\n"
		"[secret \"a\"]\r\n"
		"k = a;b\r\n"           /* no space before ';': part of the value */
		"# k = x\r\n"
		"j = x|\r\n"
		"    y\r\n");

	assert_string_equal(c->csms.region, "cn-north-4");
	assert_values(rule_at(c, 0, 0), 1, "a;b");
	assert_values(rule_at(c, 0, 1), 2, "x", "y");
	config_free(c);
}

/* A value of LEN bytes in a rule line, once with and once without the
 * final newline: inih's buffer starts at 256 bytes and doubles, so lengths
 * around its steps cross every refill path of ini-reader.c. */
static void check_long_value(size_t len)
{
	_cleanup_free_ char *v = malloc(len + 1);

	assert_non_null(v);
	memset(v, 'x', len);
	v[len] = '\0';
	for (int newline = 0; newline < 2; newline++) {
		_cleanup_free_ char *text = xasprintf(PROLOGUE "[secret \"a\"]\nk = %s%s", v, newline ? "\n" : "");
		struct config *c = load_ok(text);

		assert_int_equal(c->sections[0].n_rules, 1);
		assert_int_equal(strlen(c->sections[0].rules[0].values[0]), len);
		config_free(c);
	}
}

static void test_long_lines(void **state)
{
	static const size_t lens[] = { 1, 250, 251, 252, 253, 254, 255, 256, 506, 507, 508, 509, 510, 1019,
	                               1020, 1021, 4000, 65536 };
	_cleanup_free_ char *list = NULL, *text = NULL;
	size_t n = 0;
	struct config *c;

	/* A value is at most 255 characters, so longer lines are value
	 * lists (below); long single values test the reader itself. */
	for (size_t i = 0; i < ELEMENTSOF(lens); i++)
		if (lens[i] <= 255)
			check_long_value(lens[i]);

	/* A 200 KB value list on one line, then a header and a rule whose
	 * line numbers must still be right. */
	list = malloc(40000 * 6 + 1);
	assert_non_null(list);
	for (int i = 0; i < 40000; i++)
		n += (size_t) sprintf(list + n, "%s%04x", i ? "|" : "", i);
	text = xasprintf(PROLOGUE "[secret \"a\"]\nk = %s\n[secrets \"b*\"]\nj = 1 |\n  2\nbad", list);
	c = NULL;
	{
		char *error = NULL;

		assert_int_equal(config_load_string("test.conf", text, 0, &c, &error), -EINVAL);
		assert_string_equal(error, "test.conf:11: expected 'KEY = VALUE', a [section] header or a comment");
		free(error);
	}
	text[strlen(text) - 3] = '\0';
	c = load_ok(text);
	assert_int_equal(c->sections[0].rules[0].n_values, 40000);
	assert_int_equal(c->sections[1].line, 8);
	assert_values(&c->sections[1].rules[0], 2, "1", "2");
	config_free(c);
	/* Lines of every length around the buffer's steps, in comments. */
	for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
		_cleanup_free_ char *hashes = malloc(lens[i] + 1), *t = NULL;

		assert_non_null(hashes);
		memset(hashes, '#', lens[i]);
		hashes[lens[i]] = '\0';
		t = xasprintf(PROLOGUE "%s\n[secret \"a\"]\nk = v\n%s", hashes, hashes);
		c = load_ok(t);
		assert_int_equal(c->sections[0].line, 7);
		assert_int_equal(c->sections[0].rules[0].line, 8);
		config_free(c);
	}
}

/* Mistakes that would delete tags their author wanted kept. */
static void test_metrics_file(void **state)
{
	struct config *c = load_body("[daemon]\nmetrics_file = /run/csms-tagd/csms-tagd.prom\n");

	assert_string_equal(c->daemon.metrics_file, "/run/csms-tagd/csms-tagd.prom");
	config_free(c);
	c = load_body("");
	assert_null(c->daemon.metrics_file);
	config_free(c);
	expect_error(PROLOGUE "[daemon]\nmetrics_file = csms-tagd.prom\n",
	             "7: metrics_file 'csms-tagd.prom' is not an absolute path");
	expect_error(PROLOGUE "[daemon]\nmetrics_file = /run/csms-tagd/metrics.txt\n",
	             "7: metrics_file '/run/csms-tagd/metrics.txt' must name a file ending in .prom "
	             "(node_exporter's textfile collector reads only those)");
	expect_error(PROLOGUE "[daemon]\nmetrics_file = /run/.prom\n",
	             "7: metrics_file '/run/.prom' must name a file ending in .prom "
	             "(node_exporter's textfile collector reads only those)");
}

static void test_mistakes(void **state)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
		{ "[secret \"a\"]\nowner = alice # the DBA\n",
		  "7: 'owner = alice # the DBA': '#' starts a comment only at the start of a line, so here it "
		  "would be part of the value; put the comment on a line of its own or after ' ;', and write "
		  "a '#' that belongs to the value as %23" },
		{ "[secret \"a\"]\nowner = #alice\n",
		  "7: 'owner = #alice': '#' starts a comment only at the start of a line, so here it "
		  "would be part of the value; put the comment on a line of its own or after ' ;', and write "
		  "a '#' that belongs to the value as %23" },
		{ "[secret \"a\"]\nowner = alice |\n  bob # the DBA\n",
		  "8: 'owner = bob # the DBA': '#' starts a comment only at the start of a line, so here it "
		  "would be part of the value; put the comment on a line of its own or after ' ;', and write "
		  "a '#' that belongs to the value as %23" },
		{ "[daemon]\ndry_run = yes # for now\n",
		  "7: 'dry_run = yes # for now': '#' starts a comment only at the start of a line, so here it "
		  "would be part of the value; put the comment on a line of its own or after ' ;', and write "
		  "a '#' that belongs to the value as %23" },
		{ "[secret \"a\"] # payments\n",
		  "6: '#' starts a comment only at the start of a line; after a section header write ' ; comment'" },
		{ "[secret \"a\"]\nenv = prod, staging\n",
		  "7: value 'prod, staging' of 'env' holds a ',': alternatives are separated by '|' "
		  "(env = prod | staging); write a ',' that belongs to the value as %2C" },
		{ "[secret \"a\"]\nenv = prod,staging ,dev\n",
		  "7: value 'prod,staging ,dev' of 'env' holds a ',': alternatives are separated by '|' "
		  "(env = prod | staging | dev); write a ',' that belongs to the value as %2C" },
		{ "[daemon]\nprotect = billing-*, legal\n",
		  "7: protect key glob 'billing-*, legal' of 'protect' holds a ',': alternatives are separated "
		  "by '|' (protect = billing-* | legal); write a ',' that belongs to the value as %2C" },
		{ "[secret \"a\"]\n** = !\nowner = alice\n",
		  "8: the rule for 'owner' can never match: the catch-all '**' rule at line 7 comes first and "
		  "decides every tag" },
		{ "[secret \"a\"]\n*?* = *\nowner = alice\n",
		  "8: the rule for 'owner' can never match: the rule for '*?*' at line 7 comes first "
		  "and matches every key it would; put the more specific rule first" },
		{ "[secret \"a\"]\ncost-* = !\ncost-center = 42\n",
		  "8: the rule for 'cost-center' can never match: the rule for 'cost-*' at line 7 comes first "
		  "and matches every key it would; put the more specific rule first" },
		{ "[secret \"a\"]\nenv? = x\nenv[12] = y\n",
		  "8: the rule for 'env[12]' can never match: the rule for 'env?' at line 7 comes first "
		  "and matches every key it would; put the more specific rule first" },
	};
	struct config *c;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		expect_body_error(cases[i].body, cases[i].message);

	/* What the messages say to write instead is accepted. */
	c = load_body("[secret \"a\"]\n"
	              "owner = alice ; the DBA\n"
	              "env = prod | staging\n"
	              "lang = C#|F%23|%2C\n"           /* a '#' inside a word is no comment */
	              "cost-center = 42\n"
	              "cost-* = !\n"
	              "** = !\n");
	assert_values(rule_at(c, 0, 0), 1, "alice");
	assert_values(rule_at(c, 0, 1), 2, "prod", "staging");
	assert_values(rule_at(c, 0, 2), 3, "C#", "F#", ",");
	assert_int_equal(rule_at(c, 0, 5)->kind, RULE_FORBID);
	config_free(c);
}

static void test_unreachable_sections(void **state)
{
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
		{ "[secrets \"*\"]\nx = *\n[secrets \"payments-*\"]\n",
		  "8: section [secrets \"payments-*\"] can never apply: [secrets \"*\"] at line 6 comes first and "
		  "governs every secret it would match; put the more specific section first" },
		{ "[secrets \"app-*\"]\n[secrets \"app-s*\"]\n",
		  "7: section [secrets \"app-s*\"] can never apply: [secrets \"app-*\"] at line 6 comes first and "
		  "governs every secret it would match; put the more specific section first" },
		{ "[secrets \"db-?\"]\n[secret \"x\"]\n[secrets \"db-[0-9]\"]\n",
		  "8: section [secrets \"db-[0-9]\"] can never apply: [secrets \"db-?\"] at line 6 comes first and "
		  "governs every secret it would match; put the more specific section first" },
	};
	struct config *c;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		expect_body_error(cases[i].body, cases[i].message);
	/* Specific first is fine; an exact section always wins over globs;
	 * overlapping globs that do not contain one another are fine. */
	c = load_body("[secrets \"a*\"]\n[secrets \"*b\"]\n[secrets \"payments-*\"]\n[secrets \"*\"]\n"
	              "[secret \"payments-x\"]\n");
	assert_int_equal(c->n_sections, 5);
	config_free(c);
}

/* The rate must let a pass list once and make all its deletions within
 * pass_timeout: (1 + max_deletes_per_pass) / pass_timeout. */
static void test_rate_minimum(void **state)
{
	struct config *c;

	expect_body_error("[daemon]\nmax_requests_per_second = 0.0000000001\n",
	                  "7: max_requests_per_second is too low: a pass makes up to 51 requests (1 listing + "
	                  "max_deletes_per_pass), which must fit in pass_timeout 10min; write at least 0.09, "
	                  "or 0 for no limit");
	expect_body_error("[daemon]\nmax_requests_per_second = 0.08\n",
	                  "7: max_requests_per_second is too low: a pass makes up to 51 requests (1 listing + "
	                  "max_deletes_per_pass), which must fit in pass_timeout 10min; write at least 0.09, "
	                  "or 0 for no limit");
	/* Reported where it was set, or at what made the default too low. */
	expect_body_error("[daemon]\npass_timeout = 2s\n",
	                  "7: max_requests_per_second is too low: a pass makes up to 51 requests (1 listing + "
	                  "max_deletes_per_pass), which must fit in pass_timeout 2s; write at least 26, "
	                  "or 0 for no limit");
	expect_body_error("[daemon]\nmax_deletes_per_pass = 10000\n",
	                  "7: max_requests_per_second is too low: a pass makes up to 10001 requests (1 listing + "
	                  "max_deletes_per_pass), which must fit in pass_timeout 10min; write at least 17, "
	                  "or 0 for no limit");
	c = load_body("[daemon]\nmax_requests_per_second = 0.09\n");
	config_free(c);
	c = load_body("[daemon]\nmax_requests_per_second = 0\nmax_deletes_per_pass = 1000000\n");
	config_free(c);
	c = load_body("[daemon]\nmax_requests_per_second = 0.001\nmax_deletes_per_pass = 0\npass_timeout = 1000s\n");
	config_free(c);
}

static void test_first_error_wins(void **state)
{
	expect_body_error("[daemon]\ninterval = soon\nfrob = 1\n[bogus]\n",
	                  "7: interval 'soon' is not a time span (like 30s, 5min, 1h 30min, 250ms)");
	expect_error("[auth]\nmethod = token\ntoken_file = t\nuser = u\n[bogus]\n", "5: unknown section [bogus]");
}

static void test_section_for(void **state)
{
	struct config *c = load_body(
		"[secrets \"app-*\"]\n"         /* 6 */
		"[secret \"app-special\"]\n"    /* 7: exact wins although it comes later */
		"[secrets \"*-s*\"]\n"          /* 8: shadowed by 6 for app-s... */
		"[secrets \"db-?\"]\n"
		"[secrets \"team/*\"]\n");

	assert_int_equal(config_section_for(c, "app-frontend")->line, 6);
	assert_int_equal(config_section_for(c, "app-special")->line, 7);
	assert_int_equal(config_section_for(c, "app-someone")->line, 6);
	assert_int_equal(config_section_for(c, "db-1")->line, 9);
	assert_int_equal(config_section_for(c, "team/a/b")->line, 10);
	assert_null(config_section_for(c, "db-12"));
	assert_null(config_section_for(c, "payments"));
	assert_null(config_section_for(c, ""));
	config_free(c);
}

/* ---- files ------------------------------------------------------------------ */

struct tmp {
	char dir[64];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/test-config.XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	static const char *const names[] = { "x.conf", "fifo", "sub" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", t->dir, names[i]);

		if (p && unlink(p) < 0)
			rmdir(p);
	}
	rmdir(t->dir);
	free(t);
	return 0;
}

/* A device, a FIFO and a directory are refused at once: the FIFO has no
 * writer, so a blocking open() would hang here. */
static void test_load_not_a_file(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *fifo = xasprintf("%s/fifo", t->dir), *sub = xasprintf("%s/sub", t->dir);
	const struct {
		const char *path;
		int r;
		const char *what;
	} cases[] = {
		{ "/dev/zero", -EINVAL, "is a device, FIFO or socket, not a regular file" },
		{ fifo, -EINVAL, "is a device, FIFO or socket, not a regular file" },
		{ sub, -EISDIR, "is a directory" },
	};

	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *want = xasprintf("%s: %s; --config names the configuration file",
		                                      cases[i].path, cases[i].what);
		struct config *c = NULL;
		char *error = NULL;

		assert_int_equal(config_load(cases[i].path, 0, &c, &error), cases[i].r);
		assert_null(c);
		assert_string_equal(error, want);
		free(error);
	}
}

static void test_load_file_errors(void **state)
{
	struct tmp *t = *state;
	_cleanup_free_ char *missing = xasprintf("%s/nothing.conf", t->dir), *conf = xasprintf("%s/x.conf", t->dir);
	_cleanup_free_ char *msg = NULL;
	struct config *c = (struct config *) 1;
	char *error = NULL;
	FILE *f;

	assert_int_equal(config_load(missing, 0, &c, &error), -ENOENT);
	assert_null(c);
	msg = xasprintf("%s: No such file or directory", missing);
	assert_string_equal(error, msg);
	free(error);
	free(msg);

	/* A NUL byte is reported at its line, not silently cut. */
	f = fopen(conf, "w");
	assert_non_null(f);
	fwrite(PROLOGUE "[secret \"a\"]\nk = a\0b\n", 1, sizeof(PROLOGUE "[secret \"a\"]\nk = a\0b\n") - 1, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(conf, 0, &c, &error), -EINVAL);
	msg = xasprintf("%s:7: NUL byte in line", conf);
	assert_string_equal(error, msg);
	free(error);
	free(msg);

	/* Larger than 1 MiB. */
	f = fopen(conf, "w");
	assert_non_null(f);
	for (int i = 0; i < 1100; i++)
		for (int j = 0; j < 1024; j++)
			fputc(j % 64 == 63 ? '\n' : '#', f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(config_load(conf, 0, &c, &error), -EFBIG);
	msg = xasprintf("%s: larger than 1048576 bytes", conf);
	assert_string_equal(error, msg);
	free(error);
}

/* The shipped main file holds defaults only: alone it names no project;
 * with a drop-in that does (as its header shows), it governs nothing and
 * deletes nothing (issue 10): dry_run = yes is its one setting (issue 16).
 * tests/cli.sh checks that its commented examples still parse. */
static void test_shipped_example(void **state)
{
	const char *top = getenv("top_srcdir");
	_cleanup_free_ char *path = xasprintf("%s/etc/csms-tagd.conf", top ? top : ".");
	_cleanup_free_ char *text = NULL, *main_path = NULL, *dir = NULL, *dropin = NULL;
	char tmp[] = "/tmp/test-config-shipped.XXXXXX";
	struct config *c = NULL;
	char *error = NULL;
	size_t len;

	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(config_load(path, 0, &c, &error), -EINVAL);
	assert_non_null(strstr(error, "[csms] region is required"));
	free(error);
	error = NULL;

	assert_non_null(mkdtemp(tmp));
	main_path = xasprintf("%s/csms-tagd.conf", tmp);
	dir = xasprintf("%s.d", main_path);
	dropin = xasprintf("%s/50-site.conf", dir);
	assert_int_equal(read_file(path, 1 << 20, &text, &len), 0);
	assert_int_equal(write_file_atomic(main_path, text, len, 0644), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	free(text);
	text = xasprintf("[csms]\nregion = cn-north-4\nproject_id = 5e5a7c1d2b3f4e6a8c9d0e1f2a3b4c5d\n"
	                 "[auth]\nmethod = aksk\naccess_key_file = csms-ak\nsecret_key_file = csms-sk\n");
	assert_int_equal(write_file_atomic(dropin, text, strlen(text), 0644), 0);
	if (config_load(main_path, 0, &c, &error) < 0)
		fail_msg("%s", error ? error : "out of memory");
	assert_string_equal(c->csms.region, "cn-north-4");
	assert_int_equal(c->auth.method, AUTH_AKSK);
	assert_true(c->daemon.dry_run);
	assert_int_equal(c->daemon.max_deletes_per_pass, 50);
	assert_int_equal(c->n_sections, 0);
	assert_null(config_section_for(c, "payments-db"));
	config_free(c);
	assert_int_equal(unlink(dropin), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(unlink(main_path), 0);
	assert_int_equal(rmdir(tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_csms_keys),
		cmocka_unit_test(test_csms_errors),
		cmocka_unit_test(test_auth_methods),
		cmocka_unit_test(test_auth_errors),
		cmocka_unit_test(test_agency),
		cmocka_unit_test(test_agency_errors),
		cmocka_unit_test(test_daemon_keys),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_daemon_errors),
		cmocka_unit_test(test_to_string),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_escapes_and_unicode),
		cmocka_unit_test(test_key_and_value_lengths),
		cmocka_unit_test(test_continuation_lines),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_rule_errors),
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_comments_bom_crlf),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_section_for),
		cmocka_unit_test_setup_teardown(test_load_file_errors, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_load_not_a_file, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_metrics_file),
		cmocka_unit_test(test_mistakes),
		cmocka_unit_test(test_unreachable_sections),
		cmocka_unit_test(test_rate_minimum),
		cmocka_unit_test(test_shipped_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
