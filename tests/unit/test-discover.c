/* test-discover.c - the discovery decoders (KeystoneListAuthProjects,
 * ListAccounts) against good, bad and oversized answers, and the account
 * page URLs.  The client and the paging bounds run against the emulator in
 * tests/agency.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "util.h"

#define PROJECT(id, name) "{\"id\": \"" id "\", \"name\": \"" name "\", \"domain_id\": \"d1\"}"
#define ACCOUNT(id, name) "{\"id\": \"" id "\", \"name\": \"" name "\"}"

static void test_projects_good(void **state)
{
	static const char answer[] =
		"{\"projects\": [{\"id\": \"p1\", \"name\": \"cn-north-4\", \"domain_id\": \"d1\","
		" \"parent_id\": \"d1\", \"enabled\": true, \"is_domain\": false, \"description\": \"\","
		" \"links\": {\"self\": \"x\"}},"
		" {\"id\": \"p2\", \"name\": \"cn-north-4_sub\", \"enabled\": false, \"parent_id\": null}],"
		" \"links\": {\"self\": \"x\", \"previous\": null, \"next\": null}}";
	struct discover_projects p = {};
	char *err = NULL;

	assert_int_equal(discover_decode_projects(answer, strlen(answer), &p, &err), 0);
	assert_null(err);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.v[0].id, "p1");
	assert_string_equal(p.v[0].name, "cn-north-4");
	assert_string_equal(p.v[0].domain_id, "d1");
	assert_string_equal(p.v[0].parent_id, "d1");
	assert_true(p.v[0].enabled);
	assert_false(p.v[0].is_domain);
	assert_string_equal(p.v[1].name, "cn-north-4_sub");
	assert_null(p.v[1].domain_id);
	assert_null(p.v[1].parent_id);
	assert_false(p.v[1].enabled);
	/* A second decode replaces the first. */
	assert_int_equal(discover_decode_projects("{\"projects\": []}", 16, &p, &err), 0);
	assert_int_equal(p.n, 0);
	discover_projects_clear(&p);
}

static void test_projects_bad(void **state)
{
	static const struct {
		const char *body;
		const char *error;
	} cases[] = {
		{ "[]", "expected a JSON object at the top level" },
		{ "{}", "projects: missing" },
		{ "{\"projects\": {}}", "projects: expected an array" },
		{ "{\"projects\": [1]}", "projects[0]: expected an object" },
		{ "{\"projects\": [{\"name\": \"r\"}]}", "projects[0].id: missing" },
		{ "{\"projects\": [" PROJECT("p1", "r") ", {\"id\": \"../x\", \"name\": \"r\"}]}",
		  "projects[1].id: not usable in a URL path" },
		{ "{\"projects\": [{\"id\": \"p\"}]}", "projects[0].name: missing" },
		{ "{\"projects\": [{\"id\": \"p\", \"name\": \"r\", \"enabled\": \"yes\"}]}",
		  "projects[0].enabled: expected true or false" },
		{ "{\"projects\": [{\"id\": \"p\", \"name\": \"r\", \"domain_id\": 7}]}",
		  "projects[0].domain_id: expected a string" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct discover_projects p = {};
		char *err = NULL;

		/* What was there before a bad answer stays. */
		assert_int_equal(discover_decode_projects("{\"projects\": [" PROJECT("k", "r") "]}",
		                                          strlen("{\"projects\": [" PROJECT("k", "r") "]}"),
		                                          &p, &err), 0);
		if (discover_decode_projects(cases[i].body, strlen(cases[i].body), &p, &err) != -EBADMSG)
			fail_msg("case %zu (%s) was accepted", i, cases[i].body);
		assert_non_null(err);
		if (strcmp(err, cases[i].error) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].error);
		assert_int_equal(p.n, 1);
		assert_string_equal(p.v[0].id, "k");
		free(err);
		discover_projects_clear(&p);
	}
}

/* More than DISCOVER_MAX_PROJECTS projects: not an account's answer. */
static void test_projects_too_many(void **state)
{
	size_t n = DISCOVER_MAX_PROJECTS + 1, len = 0, size = 32 + n * 40;
	struct discover_projects p = {};
	char *b = malloc(size), *err = NULL;

	assert_non_null(b);
	len += (size_t) snprintf(b, size, "{\"projects\": [");
	for (size_t i = 0; i < n; i++)
		len += (size_t) snprintf(b + len, size - len, "%s{\"id\":\"p%zu\",\"name\":\"r\"}",
		                         i ? "," : "", i);
	len += (size_t) snprintf(b + len, size - len, "]}");
	assert_true(len < size);
	assert_int_equal(discover_decode_projects(b, len, &p, &err), -EBADMSG);
	assert_string_equal(err, "projects: more than 5000 projects");
	assert_int_equal(p.n, 0);
	free(err);
	free(b);
}

static void test_accounts_pages(void **state)
{
	static const char page1[] =
		"{\"accounts\": [{\"id\": \"a1\", \"urn\": \"organizations::a1:account:a1\","
		" \"join_method\": \"created\", \"status\": \"active\", \"joined_at\": "
		"\"2024-01-01T00:00:00.000Z\", \"name\": \"mgmt\"}, " ACCOUNT("a2", "prod") "],"
		" \"page_info\": {\"next_marker\": \"a2\", \"current_count\": 2}}";
	static const char page2[] =
		"{\"accounts\": [" ACCOUNT("a3", "dev") "], \"page_info\": {\"next_marker\": null,"
		" \"current_count\": 1}}";
	struct discover_accounts a = {};
	char *err = NULL, *marker = NULL;

	assert_int_equal(discover_decode_accounts(page1, strlen(page1), 10, &a, &marker, &err), 0);
	assert_string_equal(marker, "a2");
	free(marker);
	assert_int_equal(discover_decode_accounts(page2, strlen(page2), 10, &a, &marker, &err), 0);
	assert_null(marker);
	assert_int_equal(a.n, 3);
	assert_string_equal(a.v[0].id, "a1");
	assert_string_equal(a.v[0].urn, "organizations::a1:account:a1");
	assert_string_equal(a.v[0].status, "active");
	assert_string_equal(a.v[0].join_method, "created");
	assert_string_equal(a.v[0].joined_at, "2024-01-01T00:00:00.000Z");
	assert_string_equal(a.v[1].name, "prod");
	assert_null(a.v[1].status);
	assert_string_equal(a.v[2].id, "a3");

	/* No page_info, or an empty marker: the last page. */
	assert_int_equal(discover_decode_accounts("{\"accounts\": []}", 16, 10, &a, &marker, &err), 0);
	assert_null(marker);
	assert_int_equal(discover_decode_accounts("{\"accounts\": [], \"page_info\": {\"next_marker\": \"\"}}",
	                                          50, 10, &a, &marker, &err), 0);
	assert_null(marker);
	assert_int_equal(a.n, 3);

	/* The bound counts what was there: 3 + 2 > 4. */
	marker = (char *) "untouched";
	assert_int_equal(discover_decode_accounts(page1, strlen(page1), 4, &a, &marker, &err), -EBADMSG);
	assert_string_equal(err, "accounts: more than 4 accounts in all");
	assert_string_equal(marker, "untouched");
	assert_int_equal(a.n, 3);
	free(err);
	discover_accounts_clear(&a);
	assert_int_equal(a.n, 0);
	assert_null(a.v);
}

static void test_accounts_bad(void **state)
{
	static const struct {
		const char *body;
		const char *error;
	} cases[] = {
		{ "{}", "accounts: missing" },
		{ "{\"accounts\": null}", "accounts: missing" },
		{ "{\"accounts\": [" ACCOUNT("a1", "x") ", {\"name\": \"y\"}]}", "accounts[1].id: missing" },
		{ "{\"accounts\": [{\"id\": \"a/1\", \"name\": \"y\"}]}", "accounts[0].id: not usable in a URL path" },
		{ "{\"accounts\": [{\"id\": \"a1\"}]}", "accounts[0].name: missing" },
		{ "{\"accounts\": [{\"id\": \"a1\", \"name\": \"y\", \"status\": 1}]}",
		  "accounts[0].status: expected a string" },
		{ "{\"accounts\": [], \"page_info\": []}", "page_info: expected an object" },
		{ "{\"accounts\": [], \"page_info\": {\"next_marker\": 5}}",
		  "page_info.next_marker: expected a string" },
		{ "{\"accounts\": [] \"page_info\"}", NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct discover_accounts a = {};
		char *err = NULL, *marker = (char *) "untouched";

		if (discover_decode_accounts(cases[i].body, strlen(cases[i].body), 10, &a, &marker,
		                             &err) != -EBADMSG)
			fail_msg("case %zu (%s) was accepted", i, cases[i].body);
		assert_non_null(err);
		if (cases[i].error && strcmp(err, cases[i].error) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].error);
		assert_int_equal(a.n, 0);
		assert_string_equal(marker, "untouched");
		free(err);
	}
}

static void test_accounts_url(void **state)
{
	char *u;

	u = discover_accounts_url("https://organizations.example.com", 500, NULL);
	assert_string_equal(u, "https://organizations.example.com/v1/organizations/accounts?limit=500");
	free(u);
	u = discover_accounts_url("https://o", 1, "a b&c=d");
	assert_string_equal(u, "https://o/v1/organizations/accounts?limit=1&marker=a%20b%26c%3Dd");
	free(u);
	assert_null(discover_accounts_url("https://o", 0, NULL));
	assert_null(discover_accounts_url("https://o", DISCOVER_PAGE_LIMIT + 1, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_projects_good),
		cmocka_unit_test(test_projects_bad),
		cmocka_unit_test(test_projects_too_many),
		cmocka_unit_test(test_accounts_pages),
		cmocka_unit_test(test_accounts_bad),
		cmocka_unit_test(test_accounts_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
