/* test-targets.c - organisation mode in the configuration: [target] and
 * [discover], scoping of sections and exemptions, the unreachable-section
 * check with scopes, every error with its message and line, a target's
 * view of the config (sections, endpoints, credentials) and what
 * --check-config prints about targets. */
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
#include <unistd.h>

#include "config.h"
#include "config-report.h"
#include "util.h"

#define PROJECT_A "b1000000000000000000000000000001"
#define PROJECT_B "b2000000000000000000000000000002"
#define ACCOUNT_A "a0000000000000000000000000000001"

/* Five lines; the body of the tests starts at line 6. */
#define ORG \
	"[auth]\n" \
	"method = ecs\n" \
	"[target \"prod-bj\"]\n" \
	"region = cn-north-4\n" \
	"project_id = " PROJECT_A "\n"

/* The one-target prologue of test-config.c: five lines. */
#define SINGLE \
	"[csms]\n" \
	"region = cn-north-4\n" \
	"project_id = 0123456789abcdef0123456789abcdef\n" \
	"[auth]\n" \
	"method = ecs\n"

#define AGENCY \
	"[auth]\n" \
	"method = agency\n" \
	"access_key_file = /etc/ak\n" \
	"secret_key_file = /etc/sk\n" \
	"agency_name = csms-governor\n"

/* Exemption expiries are judged against 2026-06-01 00:00 UTC. */
#define NOW_USEC (UINT64_C(1780272000) * USEC_PER_SEC)

static struct config *load_ok(const char *text)
{
	struct config *c = NULL;
	char *error = NULL;
	int r;

	r = config_load_string_at("test.conf", text, 0, NOW_USEC, &c, &error);
	if (r < 0)
		fail_msg("unexpected error %d: %s\n--- text:\n%s", r, error ? error : "(none)", text);
	assert_non_null(c);
	assert_null(error);
	return c;
}

static struct config *load_org(const char *body)
{
	_cleanup_free_ char *text = xasprintf("%s%s", ORG, body);

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

	r = config_load_string_at("test.conf", text, 0, NOW_USEC, &c, &error);
	if (r == 0) {
		config_free(c);
		fail_msg("accepted, expected: %s\n--- text:\n%s", want, text);
	}
	assert_int_equal(r, -EINVAL);
	assert_null(c);
	assert_non_null(error);
	if (strcmp(error, want) != 0)
		fail_msg("got:      %s\nexpected: %s\n--- text:\n%s", error, want, text);
	free(error);
}

struct error_case {
	const char *body;
	const char *message;
};

static void expect_errors(const char *prologue, const struct error_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *text = xasprintf("%s%s", prologue, cases[i].body);

		assert_non_null(text);
		expect_error(text, cases[i].message);
	}
}

/* ---- parsing --------------------------------------------------------------------- */

static void test_targets(void **state)
{
	struct config *c = load_org("[target \"prod-sh\"]\n"
	                            "account_id = " ACCOUNT_A "\n"
	                            "account_name = acme-prod\n"
	                            "region = cn-east-3\n"
	                            "project_id = " PROJECT_B "\n");

	assert_true(c->organisation);
	assert_null(c->parent);
	assert_int_equal(c->n_targets, 2);
	assert_string_equal(c->targets[0].name, "prod-bj");
	assert_null(c->targets[0].account_id);
	assert_null(c->targets[0].account_name);
	assert_string_equal(c->targets[0].region, "cn-north-4");
	assert_string_equal(c->targets[0].project_id, PROJECT_A);
	assert_null(c->targets[0].project_name);
	assert_false(c->targets[0].discovered);
	assert_int_equal(c->targets[0].line, 3);
	assert_int_equal(c->targets[0].file, 0);
	assert_string_equal(c->targets[1].name, "prod-sh");
	assert_string_equal(c->targets[1].account_id, ACCOUNT_A);
	assert_string_equal(c->targets[1].account_name, "acme-prod");
	assert_string_equal(c->targets[1].region, "cn-east-3");
	assert_int_equal(c->targets[1].line, 6);
	/* No project of its own: the endpoints stay templates. */
	assert_null(c->csms.region);
	assert_null(c->csms.project_id);
	assert_string_equal(c->csms.endpoint, "https://kms.{region}.myhuaweicloud.com");
	assert_string_equal(c->csms.iam_endpoint, "https://iam.{region}.myhuaweicloud.com");
	assert_string_equal(c->csms.sts_endpoint, "https://sts.{region}.myhuaweicloud.com");
	assert_string_equal(c->csms.metadata_endpoint, "http://169.254.169.254");
	assert_string_equal(c->csms.organizations_endpoint, "https://organizations.myhuaweicloud.com");
	assert_false(c->discover.enabled);
	/* [daemon] defaults. */
	assert_int_equal(c->daemon.max_parallel_targets, 8);
	assert_true(c->daemon.total_requests_per_second == 0);
	config_free(c);
}

static void test_daemon_settings(void **state)
{
	struct config *c = load_org("[daemon]\n"
	                            "max_parallel_targets = 256\n"
	                            "total_requests_per_second = 40.5\n");

	assert_int_equal(c->daemon.max_parallel_targets, 256);
	assert_true(c->daemon.total_requests_per_second == 40.5);
	config_free(c);
	/* Accepted with one target too: they change nothing there. */
	c = load_ok(SINGLE "[daemon]\nmax_parallel_targets = 1\ntotal_requests_per_second = 0\n");
	assert_int_equal(c->daemon.max_parallel_targets, 1);
	assert_false(c->organisation);
	config_free(c);
}

static void test_discover(void **state)
{
	struct config *c = load_ok("[auth]\nmethod = ecs\n[discover]\nregions = cn-north-4 | ap-southeast-1\n");

	assert_true(c->organisation);
	assert_int_equal(c->n_targets, 0);
	assert_true(c->discover.enabled);
	assert_true(c->discover.self);
	assert_int_equal(c->discover.n_accounts, 0);
	assert_int_equal(c->discover.n_regions, 2);
	assert_string_equal(c->discover.regions[0], "cn-north-4");
	assert_string_equal(c->discover.regions[1], "ap-southeast-1");
	assert_int_equal(c->discover.interval_usec, 6 * 3600 * USEC_PER_SEC);
	assert_int_equal(c->discover.line, 3);
	config_free(c);

	c = load_ok(AGENCY "[discover]\n"
	            "regions = cn-north-4\n"
	            "  | cn-east-3\n"
	            "accounts = acme-* | " ACCOUNT_A "\n"
	            "interval = 5min\n");
	assert_false(c->discover.self);
	assert_int_equal(c->discover.n_regions, 2);
	assert_string_equal(c->discover.regions[1], "cn-east-3");
	assert_int_equal(c->discover.n_accounts, 2);
	assert_string_equal(c->discover.accounts[0], "acme-*");
	assert_string_equal(c->discover.accounts[1], ACCOUNT_A);
	assert_int_equal(c->discover.interval_usec, 5 * 60 * USEC_PER_SEC);
	/* In organisation mode the agency is assumed in each account. */
	assert_null(c->auth.agency.account_id);
	config_free(c);

	c = load_ok(AGENCY "[discover]\nregions = cn-north-4\naccounts = self | *\n");
	assert_true(c->discover.self);
	assert_int_equal(c->discover.n_accounts, 1);
	assert_string_equal(c->discover.accounts[0], "*");
	config_free(c);
}

static void test_scoping_keys(void **state)
{
	struct config *c = load_org("[secrets \"app-*\"]\n"
	                            "/accounts = a0000* | acme-prod\n"
	                            "/regions = cn-north-*\n"
	                            "/projects = b1*\n"
	                            "  | staging\n"
	                            "owner = *\n"
	                            "[secrets \"*\"]\n"
	                            "owner = *\n"
	                            "[exempt \"x\"]\n"
	                            "secret = app-1\n"
	                            "key = legacy\n"
	                            "reason = migration\n"
	                            "expires = 2026-12-01\n"
	                            "account = acme-*\n"
	                            "region = cn-north-4\n"
	                            "project = b1*\n");
	const struct section *s = &c->sections[0];

	assert_int_equal(s->scope.n_accounts, 2);
	assert_string_equal(s->scope.accounts[0], "a0000*");
	assert_string_equal(s->scope.accounts[1], "acme-prod");
	assert_int_equal(s->scope.n_regions, 1);
	assert_string_equal(s->scope.regions[0], "cn-north-*");
	assert_int_equal(s->scope.n_projects, 2);
	assert_string_equal(s->scope.projects[1], "staging");
	assert_int_equal(s->scope.line, 7);
	assert_int_equal(s->n_rules, 1);
	assert_int_equal(c->sections[1].scope.line, 0);
	assert_int_equal(c->sections[1].scope.n_accounts + c->sections[1].scope.n_regions +
	                 c->sections[1].scope.n_projects, 0);
	assert_int_equal(c->exemptions[0].scope.n_accounts, 1);
	assert_string_equal(c->exemptions[0].scope.accounts[0], "acme-*");
	assert_string_equal(c->exemptions[0].scope.regions[0], "cn-north-4");
	assert_string_equal(c->exemptions[0].scope.projects[0], "b1*");
	config_free(c);
}

static void test_single_target_endpoints(void **state)
{
	struct config *c = load_ok("[csms]\n"
	                           "region = cn-north-4\n"
	                           "project_id = 0123456789abcdef0123456789abcdef\n"
	                           "endpoint = https://kms.{region}.example.com/\n"
	                           "sts_endpoint = http://127.0.0.1:8443\n"
	                           "[auth]\nmethod = ecs\n");

	/* Effective values, as before: the region put in at load. */
	assert_string_equal(c->csms.endpoint, "https://kms.cn-north-4.example.com");
	assert_string_equal(c->csms.iam_endpoint, "https://iam.cn-north-4.myhuaweicloud.com");
	assert_string_equal(c->csms.sts_endpoint, "http://127.0.0.1:8443");
	assert_null(c->csms.account_id);
	assert_null(c->csms.target_name);
	config_free(c);
	c = load_org("[csms]\niam_endpoint = https://iam.{region}.example.com\n");
	assert_string_equal(c->csms.iam_endpoint, "https://iam.{region}.example.com");
	config_free(c);
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_target_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "[target \"b\"]\nregion = cn-north-4\n",
		  "6: [target \"b\"] needs project_id = ... (a target is a project in a region: region and "
		  "project_id are required, account_id and account_name optional)" },
		{ "[target \"b\"]\nproject_id = " PROJECT_B "\n[daemon]\n",
		  "6: [target \"b\"] needs region = ... (a target is a project in a region: region and "
		  "project_id are required, account_id and account_name optional)" },
		{ "[target \"prod-bj\"]\n",
		  "6: duplicate section [target \"prod-bj\"] (first at line 3)" },
		{ "[target \"b\"]\nregion = cn-east-3\nproject_id = " PROJECT_A "\n",
		  "8: project_id " PROJECT_A " is also that of [target \"prod-bj\"] at line 3: a project is "
		  "one target" },
		{ "[target \"b\"]\nzone = x\n",
		  "7: unknown key 'zone' in [target \"b\"] (account_id, account_name, region, project_id)" },
		{ "[target \"b\"]\nregion = cn-east-3\nregion = cn-east-3\n",
		  "8: duplicate key 'region' in [target] (first at line 7)" },
		{ "[target \"b\"]\nregion = CN_North\n",
		  "7: region 'CN_North' is not a region name (like cn-north-4: a-z, 0-9 and '-')" },
		{ "[target \"b\"]\nproject_id = b1/../x\n",
		  "7: project_id 'b1/../x' is not a project id (1 to 64 of A-Z, a-z, 0-9, '_', '-')" },
		{ "[target \"b\"]\naccount_id = a:b\n",
		  "7: account_id 'a:b' is not an account id (like 0b1f...: 1 to 64 of A-Z, a-z, 0-9)" },
		{ "[target \"b\"]\naccount_name = a b\n",
		  "7: account_name 'a b' is not a name (1 to 64 of A-Z, a-z, 0-9, _+=,.@-)" },
		{ "[target]\n", "6: [target] needs a quoted name: [target \"NAME\"]" },
		{ "[target \"\"]\n", "6: target name is empty" },
		{ "[csms]\nregion = cn-north-4\n",
		  "7: region is set per target ([target] or [discover]); remove it from [csms]" },
		{ "[csms]\nendpoint = https://kms.example.com\nproject_id = " PROJECT_A "\n",
		  "8: project_id is set per target ([target] or [discover]); remove it from [csms]" },
		{ "[csms]\nmetadata_endpoint = http://{region}.example.com\n",
		  "7: metadata_endpoint: {region} is replaced in endpoint, iam_endpoint and sts_endpoint only" },
		{ "[csms]\nendpoint = https://{region}/x\n",
		  "7: endpoint 'https://{region}/x' is not an http:// or https:// URL without a path "
		  "(like https://kms.cn-north-4.myhuaweicloud.com)" },
		{ "[csms]\nendpoint = https://{zone}.example.com\n",
		  "7: endpoint 'https://{zone}.example.com' is not an http:// or https:// URL without a path "
		  "(like https://kms.cn-north-4.myhuaweicloud.com)" },
		{ "[daemon]\nmax_parallel_targets = 0\n",
		  "7: max_parallel_targets '0' is not a whole number from 1 to 1024" },
		{ "[daemon]\nmax_parallel_targets = 1025\n",
		  "7: max_parallel_targets '1025' is not a whole number from 1 to 1024" },
		{ "[daemon]\ntotal_requests_per_second = -1\n",
		  "7: total_requests_per_second '-1' is not a number from 0 to 100000 (0: unlimited)" },
	};

	expect_errors(ORG, cases, ELEMENTSOF(cases));
}

static void test_auth_errors(void **state)
{
	/* The method comes after the targets here: lines 1-3 are a target. */
	static const struct error_case cases[] = {
		{ "[auth]\nmethod = token\ntoken_file = t\n",
		  "5: method token cannot be used with [target] or [discover] sections: one token cannot "
		  "serve many projects; use aksk, ecs or agency" },
		{ "[auth]\nmethod = password\nuser = u\ndomain = d\npassword_file = p\n",
		  "5: method password cannot be used with [target] or [discover] sections: one token cannot "
		  "serve many projects; use aksk, ecs or agency" },
		{ AGENCY "agency_account_id = " ACCOUNT_A "\n",
		  "9: agency_account_id is not used with [target] or [discover] sections: the agency is "
		  "assumed in each target's account (its account_id)" },
		{ AGENCY "api = iam\nagency_domain = acme\n",
		  "10: agency_domain is not used with [target] or [discover] sections: the agency is "
		  "assumed in each target's account (its account_id)" },
	};

	expect_errors("[target \"t\"]\nregion = cn-north-4\nproject_id = " PROJECT_A "\n",
	              cases, ELEMENTSOF(cases));
}

static void test_discover_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "[discover]\nregions = cn-north-4\n[discover]\n",
		  "5: duplicate section [discover] (first at line 3); there is one [discover], naming every "
		  "region and account" },
		{ "[discover]\naccounts = self\n",
		  "3: [discover] needs regions = ... (the regions whose projects are governed, like "
		  "regions = cn-north-4 | ap-southeast-1)" },
		{ "[discover]\nregions = cn-north-4\nzones = a\n",
		  "5: unknown key 'zones' in [discover] (regions, accounts, interval)" },
		{ "[discover]\nregions = cn-north-4\nregions = cn-east-3\n",
		  "5: duplicate key 'regions' in [discover] (first at line 4)" },
		{ "[discover]\nregions = cn-north-4\ninterval = 4min\n",
		  "5: interval '4min' is out of range (5min to 365d)" },
		{ "[discover]\nregions = cn-north-4\ninterval = often\n",
		  "5: interval 'often' is not a time span (like 30s, 5min, 1h 30min, 250ms)" },
		{ "[discover]\nregions = cn-north-4 | cn-north-4\n", "4: regions names 'cn-north-4' twice" },
		{ "[discover]\nregions = cn-north-4 | cn-*\n",
		  "4: region 'cn-*' is not a region name (like cn-north-4: a-z, 0-9 and '-')" },
		{ "[discover]\nregions = cn-north-4 || cn-east-3\n",
		  "4: regions: empty element (a stray '|'?)" },
		{ "[discover]\nregions = cn-north-4, cn-east-3\n",
		  "4: region 'cn-north-4, cn-east-3' of 'regions' holds a ',': alternatives are separated by "
		  "'|' (regions = cn-north-4 | cn-east-3); write a ',' that belongs to the value as %2C" },
		{ "[discover]\nregions = cn-north-4\naccounts = self | self\n", "5: accounts names 'self' twice" },
		{ "[discover]\nregions = cn-north-4\naccounts = a* | a*\n", "5: accounts names 'a*' twice" },
		{ "[discover]\nregions = cn-north-4\naccounts = a[\n",
		  "5: account glob 'a[' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')" },
		{ "[discover]\nregions = cn-north-4\naccounts = self | acme-*\n",
		  "5: [discover] accounts other than self need method agency in [auth]: member accounts are "
		  "reached through an agency (agency_name)" },
		{ "[discover \"x\"]\n", "3: [discover] takes no name: write [discover]" },
		{ "[discover]\nregions = cn-north-4\n[csms]\nproject_id = " PROJECT_A "\n",
		  "6: project_id is set per target ([target] or [discover]); remove it from [csms]" },
	};

	expect_errors("[auth]\nmethod = ecs\n", cases, ELEMENTSOF(cases));
}

static void test_scope_errors(void **state)
{
	static const struct error_case org_cases[] = {
		{ "[secrets \"*\"]\n/accounts = a\n/accounts = b\n",
		  "8: duplicate /accounts in this section (first at line 7)" },
		{ "[secrets \"*\"]\n/regions = cn-north-4 ||\n", "7: /regions: empty glob (a stray '|'?)" },
		{ "[secrets \"*\"]\n/projects = b[\n",
		  "7: project glob 'b[' is not a valid glob (unclosed '[', unknown [:class:] or trailing '\\')" },
		{ "[secrets \"*\"]\n/accounts = a, b\n",
		  "7: account glob 'a, b' of '/accounts' holds a ',': alternatives are separated by '|' "
		  "(/accounts = a | b); write a ',' that belongs to the value as %2C" },
		{ "[secrets \"*\"]\n/scope = x\n",
		  "7: unknown section setting '/scope': keys starting with '/' are /grace, /required, "
		  "/accounts, /regions and /projects (a rule for a key starting with '/' writes it %2F)" },
		{ "[exempt \"x\"]\nsecret = a\nkey = b\nreason = r\nexpires = 2026-12-01\naccount = a | b\n",
		  "11: account takes one glob: an exemption is one reviewed exception, write one [exempt] "
		  "per account, region or project" },
		{ "[exempt \"x\"]\nsecret = a\nkey = b\nreason = r\nexpires = 2026-12-01\nregion = a\nregion = b\n",
		  "12: duplicate key 'region' in [exempt] (first at line 11)" },
		{ "[exempt \"x\"]\nsecret = a\nkey = b\nreason = r\nexpires = 2026-12-01\nzone = a\n",
		  "11: unknown key 'zone' in [exempt \"x\"] (secret, key, value, reason, expires, account, "
		  "region, project)" },
		{ "[exempt \"x\"]\nsecret = a\nkey = b\nreason = r\nproject = p*\n",
		  "6: [exempt] needs expires = ... (an exemption names secret, key, reason and expires; value "
		  "is optional)" },
	};
	/* With one target a scope would be ignored. */
	static const struct error_case single_cases[] = {
		{ "[secrets \"*\"]\nowner = *\n/regions = cn-*\n",
		  "8: /accounts, /regions and /projects scope a section to targets: they need [target] or "
		  "[discover] sections" },
		{ "[exempt \"x\"]\nsecret = a\nkey = b\nproject = p*\nreason = r\nexpires = 2026-12-01\n",
		  "9: account, region and project scope an exemption to targets: they need [target] or "
		  "[discover] sections" },
	};

	expect_errors(ORG, org_cases, ELEMENTSOF(org_cases));
	expect_errors(SINGLE, single_cases, ELEMENTSOF(single_cases));
}

/* ---- scopes and the unreachable check -------------------------------------------------- */

static void test_scope_matches(void **state)
{
	char *accounts[] = { "a0000*", "acme-prod" }, *regions[] = { "cn-north-*" }, *projects[] = { "staging" };
	char *star[] = { "*" };
	struct target self = { .name = "self-bj", .region = "cn-north-4", .project_id = PROJECT_A };
	struct target prod = { .name = "prod", .account_id = ACCOUNT_A, .region = "cn-north-4",
	                       .project_id = PROJECT_B };
	struct target named = { .name = "x", .account_id = "b999", .account_name = "acme-prod",
	                        .region = "cn-east-3", .project_id = "p1", .project_name = "staging" };
	struct scope none = {}, by_account = { .accounts = accounts, .n_accounts = 2 };
	struct scope by_region = { .regions = regions, .n_regions = 1 };
	struct scope by_project = { .projects = projects, .n_projects = 1 };
	struct scope any_account = { .accounts = star, .n_accounts = 1 };
	struct scope both = { .accounts = accounts, .n_accounts = 2, .regions = regions, .n_regions = 1 };

	assert_true(scope_matches(&none, &self));
	assert_false(scope_matches(&by_account, &self));        /* no account known */
	assert_true(scope_matches(&any_account, &self));        /* a catch-all still matches */
	assert_true(scope_matches(&by_account, &prod));         /* by id */
	assert_true(scope_matches(&by_account, &named));        /* by name */
	assert_true(scope_matches(&by_region, &self));
	assert_false(scope_matches(&by_region, &named));
	assert_true(scope_matches(&by_project, &named));        /* by project name */
	assert_false(scope_matches(&by_project, &prod));
	named.project_name = NULL;
	named.name = "staging";
	assert_true(scope_matches(&by_project, &named));        /* by target name */
	assert_true(scope_matches(&both, &prod));
	assert_false(scope_matches(&both, &named));             /* account yes, region no */
}

static void test_unreachable_with_scopes(void **state)
{
	struct config *c;

	/* Accepted: the earlier section's scope leaves targets to the later. */
	c = load_org("[secrets \"*\"]\n/accounts = acme-prod\nowner = *\n"
	             "[secrets \"app-*\"]\nowner = alice\n"
	             "[secrets \"db-*\"]\n/regions = cn-north-4\nowner = *\n"
	             "[secrets \"db-1\"]\n/regions = cn-east-*\nowner = *\n"
	             "[secrets \"db-2\"]\nowner = *\n"
	             "[secret \"x\"]\n/accounts = a*\nowner = *\n"
	             "[secret \"x\"]\n/accounts = b*\nowner = *\n"
	             "[secret \"x\"]\nowner = *\n");
	assert_int_equal(c->n_sections, 8);
	config_free(c);

	expect_error(ORG "[secrets \"*\"]\nowner = *\n[secrets \"app-*\"]\n/accounts = acme\nowner = *\n",
	             "8: section [secrets \"app-*\"] can never apply: [secrets \"*\"] at line 6 comes first "
	             "and governs every secret it would match in every target it would apply to; put the "
	             "more specific section first");
	expect_error(ORG "[secrets \"app-*\"]\n/regions = cn-*\nowner = *\n"
	             "[secrets \"app-1*\"]\n/regions = cn-north-* | cn-east-?\n/accounts = a\nowner = *\n",
	             "9: section [secrets \"app-1*\"] can never apply: [secrets \"app-*\"] at line 6 comes "
	             "first and governs every secret it would match in every target it would apply to; put "
	             "the more specific section first");
	/* Unscoped both: the message of one target. */
	expect_error(ORG "[secrets \"*\"]\n[secrets \"app-*\"]\n",
	             "7: section [secrets \"app-*\"] can never apply: [secrets \"*\"] at line 6 comes first "
	             "and governs every secret it would match; put the more specific section first");
	/* The same name: a duplicate when the first covers the second's targets. */
	expect_error(ORG "[secret \"x\"]\n/accounts = a*\nowner = *\n[secret \"x\"]\n/accounts = ab\n",
	             "9: duplicate section [secret \"x\"] (first at line 6)");
	expect_error(ORG "[secrets \"x*\"]\nowner = *\n[secrets \"x*\"]\n/projects = p\n",
	             "8: duplicate section [secrets \"x*\"] (first at line 6)");
	/* Not yet covered: a scope narrower in one dimension, wider in another. */
	c = load_org("[secrets \"x*\"]\n/accounts = a*\n/regions = r1\n[secrets \"x*\"]\n/accounts = ab\n");
	assert_int_equal(c->n_sections, 2);
	config_free(c);
}

/* ---- views ------------------------------------------------------------------------------ */

static const char *const view_text =
	AGENCY
	"[csms]\n"
	"endpoint = https://kms.{region}.example.com\n"
	"[target \"own\"]\n"
	"region = cn-north-4\n"
	"project_id = " PROJECT_A "\n"
	"[target \"member\"]\n"
	"account_id = " ACCOUNT_A "\n"
	"account_name = acme-prod\n"
	"region = cn-east-3\n"
	"project_id = " PROJECT_B "\n"
	"[secrets \"app-*\"]\n"
	"/accounts = acme-*\n"
	"owner = *\n"
	"[secret \"db\"]\n"
	"/regions = cn-north-4\n"
	"owner = *\n"
	"[secrets \"*\"]\n"
	"env = prod\n"
	"[exempt \"a\"]\nsecret = *\nkey = k\nreason = r\nexpires = 2026-12-01\nregion = cn-east-3\n"
	"[exempt \"b\"]\nsecret = *\nkey = k\nreason = r\nexpires = 2026-12-01\n";

static void test_view(void **state)
{
	struct config *c = load_ok(view_text), *v = NULL, *w = NULL;

	assert_int_equal(config_target_view(c, &c->targets[0], &v), 0);
	assert_ptr_equal(v->parent, c);
	assert_false(v->organisation);
	assert_int_equal(v->n_targets, 0);
	assert_false(v->discover.enabled);
	assert_string_equal(v->csms.region, "cn-north-4");
	assert_string_equal(v->csms.project_id, PROJECT_A);
	assert_string_equal(v->csms.target_name, "own");
	assert_null(v->csms.account_id);
	assert_null(v->csms.account_name);
	assert_string_equal(v->csms.endpoint, "https://kms.cn-north-4.example.com");
	assert_string_equal(v->csms.iam_endpoint, "https://iam.cn-north-4.myhuaweicloud.com");
	assert_string_equal(v->csms.sts_endpoint, "https://sts.cn-north-4.myhuaweicloud.com");
	assert_ptr_equal(v->csms.metadata_endpoint, c->csms.metadata_endpoint);
	/* Its own account: the base identity itself. */
	assert_int_equal(v->auth.method, AUTH_AKSK);
	assert_null(v->auth.agency.account_id);
	assert_string_equal(v->auth.access_key_file, "/etc/ak");
	/* [secret "db"] and [secrets "*"]: the app-* section is for acme-*. */
	assert_int_equal(v->n_sections, 2);
	assert_string_equal(v->sections[0].pattern, "db");
	assert_string_equal(v->sections[1].pattern, "*");
	assert_ptr_equal(v->sections[1].rules, c->sections[2].rules);
	assert_ptr_equal(config_section_for(v, "app-1"), &v->sections[1]);
	assert_int_equal(v->n_exemptions, 1);
	assert_string_equal(v->exemptions[0].name, "b");
	assert_ptr_equal(v->path, c->path);
	assert_string_equal(config_file_name(v, v->sections[0].file), "test.conf");

	assert_int_equal(config_target_view(c, &c->targets[1], &w), 0);
	assert_string_equal(w->csms.region, "cn-east-3");
	assert_string_equal(w->csms.account_id, ACCOUNT_A);
	assert_string_equal(w->csms.account_name, "acme-prod");
	assert_string_equal(w->csms.target_name, "member");
	assert_string_equal(w->csms.endpoint, "https://kms.cn-east-3.example.com");
	assert_string_equal(w->csms.sts_endpoint, "https://sts.cn-east-3.myhuaweicloud.com");
	/* A member account: the agency, assumed in it. */
	assert_int_equal(w->auth.method, AUTH_AGENCY);
	assert_string_equal(w->auth.agency.account_id, ACCOUNT_A);
	assert_string_equal(w->auth.agency.name, "csms-governor");
	assert_null(c->auth.agency.account_id);
	assert_int_equal(w->n_sections, 2);
	assert_string_equal(w->sections[0].pattern, "app-*");
	assert_string_equal(w->sections[1].pattern, "*");
	assert_ptr_equal(config_section_for(w, "app-1"), &w->sections[0]);
	assert_ptr_equal(config_section_for(w, "db"), &w->sections[1]);
	assert_int_equal(w->n_exemptions, 2);

	/* A view frees only what it owns: the parent stays whole. */
	config_free(v);
	assert_string_equal(c->sections[0].pattern, "app-*");
	assert_string_equal(c->csms.endpoint, "https://kms.{region}.example.com");
	config_free(w);
	config_free(c);
}

static void test_view_discovered(void **state)
{
	struct config *c = load_ok("[auth]\nmethod = ecs\n[discover]\nregions = cn-north-4\n"
	                           "[secrets \"*\"]\n/projects = */cn-north-4\nowner = *\n"
	                           "[secrets \"*\"]\n/accounts = nobody\nowner = *\n");
	struct target t = {};
	struct config *v = NULL;

	assert_int_equal(target_discovered("d00d", NULL, "cn-north-4", PROJECT_A, "cn-north-4", &t), 0);
	assert_string_equal(t.name, "d00d/cn-north-4");
	assert_true(t.discovered);
	assert_int_equal(config_target_view(c, &t, &v), 0);
	target_clear(&t);       /* the view keeps its own copies */
	assert_string_equal(v->csms.target_name, "d00d/cn-north-4");
	assert_string_equal(v->csms.account_id, "d00d");
	assert_int_equal(v->auth.method, AUTH_ECS);
	assert_int_equal(v->n_sections, 1);
	assert_int_equal(v->sections[0].line, 5);
	assert_int_equal(v->n_exemptions, 0);
	config_free(v);
	config_free(c);
}

static void test_target_model(void **state)
{
	struct target t = {};

	assert_int_equal(target_discovered(ACCOUNT_A, "acme-prod", "cn-east-3", PROJECT_B, "cn-east-3_sub", &t), 0);
	assert_string_equal(t.name, "acme-prod/cn-east-3_sub");
	assert_string_equal(t.account_id, ACCOUNT_A);
	assert_string_equal(t.account_name, "acme-prod");
	assert_string_equal(t.region, "cn-east-3");
	assert_string_equal(t.project_id, PROJECT_B);
	assert_string_equal(t.project_name, "cn-east-3_sub");
	assert_true(target_selected(&t, "acme-prod/*"));
	assert_true(target_selected(&t, "acme-*"));
	assert_true(target_selected(&t, "a0000*"));
	assert_true(target_selected(&t, PROJECT_B));
	assert_true(target_selected(&t, "*"));
	assert_false(target_selected(&t, "cn-east-3"));
	assert_false(target_selected(&t, "other"));
	target_clear(&t);
	assert_null(t.name);
	assert_false(t.discovered);
	target_clear(&t);       /* twice: nothing held */

	assert_int_equal(target_discovered(NULL, NULL, "cn-north-4", PROJECT_A, NULL, &t), 0);
	assert_string_equal(t.name, "self/cn-north-4");
	assert_null(t.account_id);
	assert_null(t.project_name);
	assert_false(target_selected(&t, "a*"));
	assert_true(target_selected(&t, "self/*"));
	target_clear(&t);
}

/* ---- --check-config ---------------------------------------------------------------------- */

static char *report(const struct config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print_targets(c, f);
	fclose(f);
	assert_non_null(buf);
	return buf;
}

static void test_report(void **state)
{
	_cleanup_free_ char *text = xasprintf("%s[target \"idle\"]\nregion = cn-south-1\nproject_id = b3\n"
	                                      "[discover]\nregions = cn-north-4 | cn-east-3\naccounts = self | acme-*\n"
	                                      "interval = 12h\n", view_text);
	struct config *c = load_ok(text);
	_cleanup_free_ char *out = NULL, *single_out = NULL;
	struct config *single = load_ok(SINGLE);

	out = report(c);
	if (!strstr(out,
	            "  targets:           3 listed ([target]), more discovered\n"
	            "    own: project " PROJECT_A " in cn-north-4, the base identity's own account\n"
	            "      defined at test.conf:8\n"
	            "      governed by [secret \"db\"] at test.conf:19\n"
	            "                  [secrets \"*\"] at test.conf:22\n"
	            "      exemptions  [exempt \"b\"] at test.conf:30\n"
	            "    member: project " PROJECT_B " in cn-east-3, account " ACCOUNT_A ", account name acme-prod\n"
	            "      defined at test.conf:11\n"
	            "      governed by [secrets \"app-*\"] at test.conf:16\n"
	            "                  [secrets \"*\"] at test.conf:22\n"
	            "      exemptions  [exempt \"a\"] at test.conf:24\n"
	            "                  [exempt \"b\"] at test.conf:30\n"
	            "    idle: project b3 in cn-south-1, the base identity's own account\n"
	            "      defined at test.conf:35\n"
	            "      governed by [secrets \"*\"] at test.conf:22\n"
	            "      exemptions  [exempt \"b\"] at test.conf:30\n"
	            "  discover regions:  cn-north-4 | cn-east-3\n"
	            "  discover accounts: self | acme-*\n"
	            "  discover interval: 12h\n"))
		fail_msg("unexpected report:\n%s", out);
	config_free(c);

	c = load_org("[secrets \"*\"]\n/accounts = acme\nowner = *\n");
	free(out);
	out = report(c);
	assert_non_null(strstr(out, "      not touched: no governance section applies\n"));
	config_free(c);

	single_out = report(single);
	assert_string_equal(single_out, "");
	config_free(single);
}

/* ---- drop-ins ------------------------------------------------------------------------------ */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st, (void) flag, (void) ftw;
	return remove(path);
}

static void put(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

/* MAIN and one drop-in DROPIN must be refused with "DROPIN:" MESSAGE, in
 * which "MAIN" stands for the main file's path. */
static void expect_dropin_error(const char *main_text, const char *dropin_text, const char *message)
{
	char dir[] = "/tmp/test-targets.XXXXXX";
	_cleanup_free_ char *conf = NULL, *dropins = NULL, *dropin = NULL, *want = NULL, *tail = NULL;
	struct config *c = NULL;
	char *error = NULL;

	assert_non_null(mkdtemp(dir));
	conf = xasprintf("%s/main.conf", dir);
	dropins = xasprintf("%s.d", conf);
	dropin = xasprintf("%s/50-more.conf", dropins);
	assert_int_equal(mkdir(dropins, 0755), 0);
	put(conf, main_text);
	put(dropin, dropin_text);
	tail = strdup(message);
	assert_non_null(tail);
	{
		char *at = strstr(tail, "MAIN");

		assert_non_null(at);
		*at = '\0';
		free(want);
		want = xasprintf("%s%s%s", tail, conf, at + 4);
		free(tail);
		tail = want;
	}
	want = xasprintf("%s:%s", dropin, tail);
	assert_int_equal(config_load(conf, 0, &c, &error), -EINVAL);
	assert_null(c);
	if (!error || strcmp(error, want) != 0)
		fail_msg("got:      %s\nexpected: %s", error ? error : "(none)", want);
	free(error);
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_dropins(void **state)
{
	char dir[] = "/tmp/test-targets.XXXXXX";
	_cleanup_free_ char *conf = NULL, *dropins = NULL, *dropin = NULL;
	struct config *c = NULL;
	char *error = NULL;

	expect_dropin_error(ORG, "[target \"prod-bj\"]\nregion = cn-east-3\nproject_id = " PROJECT_B "\n",
	                    "1: duplicate section [target \"prod-bj\"] (first at MAIN:3); a section is defined in "
	                    "one file only (settings may be set again by a later file)");
	expect_dropin_error(ORG, "\n[target \"b\"]\nregion = cn-east-3\nproject_id = " PROJECT_A "\n",
	                    "4: project_id " PROJECT_A " is also that of [target \"prod-bj\"] at MAIN:3: a "
	                    "project is one target");
	expect_dropin_error(ORG "[discover]\nregions = cn-north-4\n", "[discover]\nregions = cn-east-3\n",
	                    "1: duplicate section [discover] (first at MAIN:6); there is one [discover], naming "
	                    "every region and account");
	expect_dropin_error(ORG "[secrets \"*\"]\n/regions = cn-*\n",
	                    "[secrets \"app\"]\n/regions = cn-north-4\n",
	                    "1: section [secrets \"app\"] can never apply: [secrets \"*\"] at MAIN:6 comes first "
	                    "and governs every secret it would match in every target it would apply to; put "
	                    "the more specific section first");

	/* Targets from several files, in file order. */
	assert_non_null(mkdtemp(dir));
	conf = xasprintf("%s/main.conf", dir);
	dropins = xasprintf("%s.d", conf);
	dropin = xasprintf("%s/50-more.conf", dropins);
	assert_int_equal(mkdir(dropins, 0755), 0);
	put(conf, ORG);
	put(dropin, "[target \"b\"]\nregion = cn-east-3\nproject_id = " PROJECT_B "\n");
	if (config_load(conf, 0, &c, &error) < 0)
		fail_msg("%s", error ? error : "out of memory");
	assert_int_equal(c->n_targets, 2);
	assert_int_equal(c->targets[1].file, 1);
	assert_int_equal(c->targets[1].line, 1);
	assert_string_equal(config_file_name(c, c->targets[1].file), dropin);
	config_free(c);
	/* A one-target main file becomes an organisation by a drop-in: then
	 * its [csms] region is refused where it is. */
	put(conf, SINGLE);
	assert_int_equal(config_load(conf, 0, &c, &error), -EINVAL);
	free(dropin);
	dropin = xasprintf("%s:2: region is set per target ([target] or [discover]); remove it from [csms]",
	                   conf);
	assert_string_equal(error, dropin);
	free(error);
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_daemon_settings),
		cmocka_unit_test(test_discover),
		cmocka_unit_test(test_scoping_keys),
		cmocka_unit_test(test_single_target_endpoints),
		cmocka_unit_test(test_target_errors),
		cmocka_unit_test(test_auth_errors),
		cmocka_unit_test(test_discover_errors),
		cmocka_unit_test(test_scope_errors),
		cmocka_unit_test(test_scope_matches),
		cmocka_unit_test(test_unreachable_with_scopes),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_view_discovered),
		cmocka_unit_test(test_target_model),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_dropins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
