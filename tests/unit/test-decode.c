/* test-decode.c - the JSON decoders against good, bad and hostile answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "jsonget.h"
#include "observation.h"
#include "timefmt.h"

/* A string of N copies of C (static storage, one at a time). */
static const char *rep(char c, size_t n)
{
	static char buf[40000];

	assert_true(n < sizeof(buf));
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* printf into a malloc'd body. */
static char *body(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *body(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	s = malloc((size_t) n + 1);
	assert_non_null(s);
	va_start(ap, fmt);
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* An observation holding one secret, to prove a failed decode appends
 * nothing and a good one appends after it. */
static void observation_with_one(struct observation *o)
{
	struct secret *s;

	memset(o, 0, sizeof(*o));
	s = observation_add(o);
	assert_non_null(s);
	s->id = strdup("old-id");
	s->name = strdup("old");
	s->state = strdup("");
}

/* ---- ListResourceInstances -------------------------------------------- */

static const char good_resources[] =
	"{\"resources\": ["
	" {\"resource_id\": \"5b6a1d0e-2f43-4c7a-9e1b-3d2c1f0a9b8e\", \"resource_name\": \"db-pass\","
	"  \"resource_detail\": {\"id\": \"5b6a1d0e-2f43-4c7a-9e1b-3d2c1f0a9b8e\", \"name\": \"db-pass\","
	"   \"state\": \"ENABLED\", \"create_time\": 1581507580000, \"scheduled_delete_time\": null},"
	"  \"tags\": [{\"key\": \"env\", \"value\": \"prod\"}, {\"key\": \"cost center\", \"value\": null},"
	"           {\"key\": \"\\u73af\\u5883:a=b+c@d\"}, {\"key\": \"e\", \"value\": \"\"}],"
	"  \"sys_tags\": [{\"key\": \"_sys_enterprise_project_id\", \"value\": \"0\"}]},"
	" {\"resource_id\": \"id-2\", \"resource_name\": \"api-key\", \"tags\": [],"
	"  \"resource_detail\": null}"
	"], \"total_count\": 2}";

static void test_resources_good(void **state)
{
	struct observation o;
	int64_t total = -1;
	size_t n = 0;
	char *err = NULL;
	const struct secret *s;

	observation_with_one(&o);
	assert_int_equal(decode_resource_instances(good_resources, strlen(good_resources), &o, &total,
	                                           &n, &err), 0);
	assert_null(err);
	assert_int_equal(total, 2);
	assert_int_equal(n, 2);
	assert_int_equal(o.n, 3);
	assert_string_equal(o.secrets[0].name, "old");
	s = &o.secrets[1];
	assert_string_equal(s->id, "5b6a1d0e-2f43-4c7a-9e1b-3d2c1f0a9b8e");
	assert_string_equal(s->name, "db-pass");
	assert_string_equal(s->state, "ENABLED");
	assert_true(s->tags_complete);
	assert_int_equal(s->tags.n, 4);
	assert_string_equal(s->tags.items[0].key, "env");
	assert_string_equal(s->tags.items[0].value, "prod");
	assert_string_equal(s->tags.items[1].key, "cost center");
	assert_string_equal(s->tags.items[1].value, "");
	assert_string_equal(s->tags.items[2].key, "\xe7\x8e\xaf\xe5\xa2\x83:a=b+c@d");
	assert_string_equal(s->tags.items[2].value, "");
	assert_string_equal(s->tags.items[3].value, "");
	assert_int_equal(s->sys_tags.n, 1);
	assert_string_equal(s->sys_tags.items[0].key, "_sys_enterprise_project_id");
	s = &o.secrets[2];
	assert_string_equal(s->name, "api-key");
	assert_string_equal(s->state, "");
	assert_true(s->tags_complete);
	assert_int_equal(s->tags.n, 0);
	assert_int_equal(s->sys_tags.n, 0);
	observation_clear(&o);
}

static void test_resources_count_only(void **state)
{
	static const char *bodies[] = {
		"{\"total_count\": 7}",
		"{\"total_count\": 7, \"resources\": null}",
		"{\"total_count\": 7, \"resources\": []}",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct observation o = {};
		int64_t total = -1;
		size_t n = 99;
		char *err = NULL;

		assert_int_equal(decode_resource_instances(bodies[i], strlen(bodies[i]), &o, &total, &n,
		                                           &err), 0);
		assert_int_equal(total, 7);
		assert_int_equal(n, 0);
		assert_int_equal(o.n, 0);
		observation_clear(&o);
	}
}

static void test_resources_limits_exact(void **state)
{
	/* Exactly at every limit is still good. */
	char tags[64 * 32] = "";
	char *b;
	struct observation o = {};
	char *err = NULL;
	char *id = strdup(rep('i', DECODE_MAX_ID_BYTES)), *name = strdup(rep('n', DECODE_MAX_NAME_BYTES));
	char *key = strdup(rep('k', DECODE_MAX_KEY_BYTES)), *value = strdup(rep('v', DECODE_MAX_VALUE_BYTES));

	for (int i = 1; i < DECODE_MAX_TAGS; i++)
		snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), ",{\"key\":\"k%d\"}", i);
	b = body("{\"total_count\":1,\"resources\":[{\"resource_id\":\"%s\",\"resource_name\":\"%s\","
	         "\"tags\":[{\"key\":\"%s\",\"value\":\"%s\"}%s]}]}", id, name, key, value, tags);
	assert_int_equal(decode_resource_instances(b, strlen(b), &o, NULL, NULL, &err), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.secrets[0].tags.n, DECODE_MAX_TAGS);
	assert_string_equal(o.secrets[0].tags.items[0].value, value);
	observation_clear(&o);
	free(b);
	free(id);
	free(name);
	free(key);
	free(value);
}

struct bad_case {
	const char *body;
	const char *error;      /* exact message, or a pattern with '*' */
};

static void assert_error(const char *err, const char *expected)
{
	assert_non_null(err);
	if (!strchr(expected, '*'))
		assert_string_equal(err, expected);
	else if (fnmatch(expected, err, FNM_NOESCAPE) != 0)
		fail_msg("error \"%s\" does not match \"%s\"", err, expected);
}

#define R1(x) "{\"total_count\":1,\"resources\":[" x "]}"
#define RES(x) R1("{\"resource_id\":\"id\",\"resource_name\":\"n\"," x "}")

static const struct bad_case bad_resources[] = {
	{ "", "invalid JSON at line 1, column 0: '[' or '{' expected near end of file" },
	{ "[]", "expected a JSON object at the top level" },
	{ "[{\"total_count\":0}]", "expected a JSON object at the top level" },
	{ "\"x\"", "invalid JSON*" },
	{ "null", "invalid JSON*" },
	{ "{\"total_count\": 1, \"resources\": [{\"resource_id\": \"a\"", "invalid JSON*" },
	{ "{\"total_count\": 0} trailing", "invalid JSON at line 1, column 27: end of file expected near 'trailing'" },
	{ "{\"total_count\": 0, \"total_count\": 1}", "invalid JSON*duplicate object key*" },
	{ "{}", "total_count: missing" },
	{ "{\"total_count\": null}", "total_count: missing" },
	{ "{\"total_count\": -1}", "total_count: expected a non-negative integer" },
	{ "{\"total_count\": 1.5}", "total_count: expected a non-negative integer" },
	{ "{\"total_count\": \"1\"}", "total_count: expected a non-negative integer" },
	{ "{\"total_count\": true}", "total_count: expected a non-negative integer" },
	{ "{\"total_count\": 1e400}", "invalid JSON*real number overflow*" },
	{ "{\"total_count\": 99999999999999999999}", "invalid JSON*too big integer*" },
	{ "{\"total_count\": 1, \"resources\": {}}", "resources: expected an array" },
	{ "{\"total_count\": 1, \"resources\": \"x\"}", "resources: expected an array" },
	{ R1("1"), "resources[0]: expected an object" },
	{ R1("null"), "resources[0]: expected an object" },
	{ R1("{\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: missing" },
	{ R1("{\"resource_id\":5,\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: expected a string" },
	{ R1("{\"resource_id\":\"\",\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: must not be empty" },
	{ R1("{\"resource_id\":\"..\",\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: not usable in a URL path" },
	{ R1("{\"resource_id\":\".\",\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: not usable in a URL path" },
	{ R1("{\"resource_id\":\"../x\",\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: not usable in a URL path" },
	{ R1("{\"resource_id\":\"a%2Fb\",\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: not usable in a URL path" },
	{ R1("{\"resource_id\":\"a b\",\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: not usable in a URL path" },
	{ R1("{\"resource_id\":\"a?b\",\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: not usable in a URL path" },
	{ R1("{\"resource_id\":\"\\u00e9\",\"resource_name\":\"n\",\"tags\":[]}"), "resources[0].resource_id: not usable in a URL path" },
	{ R1("{\"resource_id\":\"i\",\"tags\":[]}"), "resources[0].resource_name: missing" },
	{ R1("{\"resource_id\":\"i\",\"resource_name\":[],\"tags\":[]}"), "resources[0].resource_name: expected a string" },
	{ R1("{\"resource_id\":\"i\",\"resource_name\":\"\",\"tags\":[]}"), "resources[0].resource_name: must not be empty" },
	{ R1("{\"resource_id\":\"i\",\"resource_name\":\"a\\u0000b\",\"tags\":[]}"), "invalid JSON*u0000 is not allowed*" },
	{ R1("{\"resource_id\":\"i\",\"resource_name\":\"\\ud800\",\"tags\":[]}"), "invalid JSON*invalid Unicode*" },
	{ R1("{\"resource_id\":\"i\",\"resource_name\":\"\xff\",\"tags\":[]}"), "invalid JSON*unable to decode byte 0xff*" },
	{ RES("\"tags\":[], \"resource_detail\": []"), "resources[0].resource_detail: expected an object" },
	{ RES("\"tags\":[], \"resource_detail\": {\"state\": 1}"), "resources[0].resource_detail.state: expected a string" },
	{ RES("\"sys_tags\":[]"), "resources[0].tags: missing" },
	{ RES("\"tags\":null"), "resources[0].tags: missing" },
	{ RES("\"tags\":{}"), "resources[0].tags: expected an array" },
	{ RES("\"tags\":[\"a\"]"), "resources[0].tags[0]: expected an object" },
	{ RES("\"tags\":[{\"value\":\"v\"}]"), "resources[0].tags[0].key: missing" },
	{ RES("\"tags\":[{\"key\":\"\"}]"), "resources[0].tags[0].key: must not be empty" },
	{ RES("\"tags\":[{\"key\":\"a\"},{\"key\":1}]"), "resources[0].tags[1].key: expected a string" },
	{ RES("\"tags\":[{\"key\":\"a\",\"value\":5}]"), "resources[0].tags[0].value: expected a string" },
	{ RES("\"tags\":[{\"key\":\"a\",\"value\":{}}]"), "resources[0].tags[0].value: expected a string" },
	{ RES("\"tags\":[{\"key\":\"a\"},{\"key\":\"b\"},{\"key\":\"a\",\"value\":\"x\"}]"),
	  "resources[0].tags[2].key: duplicate tag key \"a\"" },
	{ RES("\"tags\":[{\"key\":\"a\\u0001\"},{\"key\":\"a\\u0001\"}]"),
	  "resources[0].tags[1].key: duplicate tag key \"a\\x01\"" },
	{ RES("\"tags\":[{\"key\":\"a\",\"key\":\"b\"}]"), "invalid JSON*duplicate object key*" },
	{ RES("\"tags\":[], \"sys_tags\": 3"), "resources[0].sys_tags: expected an array" },
	{ RES("\"tags\":[], \"sys_tags\":[{\"key\":\"s\"},{\"key\":\"s\"}]"),
	  "resources[0].sys_tags[1].key: duplicate tag key \"s\"" },
	/* The second entry is bad: the good first one must not be appended. */
	{ R1("{\"resource_id\":\"a\",\"resource_name\":\"a\",\"tags\":[]},"
	     "{\"resource_id\":\"b\",\"resource_name\":\"b\",\"tags\":[{\"key\":\"k\"},{\"key\":[]}]}"),
	  "resources[1].tags[1].key: expected a string" },
};

static void test_resources_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_resources) / sizeof(bad_resources[0]); i++) {
		const struct bad_case *c = &bad_resources[i];
		struct observation o;
		int64_t total = -5;
		size_t n = 99;
		char *err = NULL;

		observation_with_one(&o);
		if (decode_resource_instances(c->body, strlen(c->body), &o, &total, &n, &err) != -EBADMSG)
			fail_msg("case %zu (%s) was accepted", i, c->body);
		assert_error(err, c->error);
		assert_int_equal(o.n, 1);
		assert_int_equal(total, -5);
		assert_int_equal(n, 99);
		/* A NULL error pointer is allowed. */
		assert_int_equal(decode_resource_instances(c->body, strlen(c->body), &o, NULL, NULL, NULL),
		                 -EBADMSG);
		assert_int_equal(o.n, 1);
		free(err);
		observation_clear(&o);
	}
}

static void expect_resources_error(const char *b, const char *expected)
{
	struct observation o = {};
	char *err = NULL;

	assert_int_equal(decode_resource_instances(b, strlen(b), &o, NULL, NULL, &err), -EBADMSG);
	assert_error(err, expected);
	assert_int_equal(o.n, 0);
	free(err);
	observation_clear(&o);
}

static void test_resources_oversized(void **state)
{
	char tags[65 * 16] = "";
	char *b;

	b = body(R1("{\"resource_id\":\"%s\",\"resource_name\":\"n\",\"tags\":[]}"),
	         rep('i', DECODE_MAX_ID_BYTES + 1));
	expect_resources_error(b, "resources[0].resource_id: longer than 128 bytes");
	free(b);
	b = body(R1("{\"resource_id\":\"i\",\"resource_name\":\"%s\",\"tags\":[]}"),
	         rep('n', DECODE_MAX_NAME_BYTES + 1));
	expect_resources_error(b, "resources[0].resource_name: longer than 256 bytes");
	free(b);
	b = body(RES("\"tags\":[{\"key\":\"%s\"}]"), rep('k', DECODE_MAX_KEY_BYTES + 1));
	expect_resources_error(b, "resources[0].tags[0].key: longer than 512 bytes");
	free(b);
	b = body(RES("\"tags\":[{\"key\":\"k\",\"value\":\"%s\"}]"), rep('v', DECODE_MAX_VALUE_BYTES + 1));
	expect_resources_error(b, "resources[0].tags[0].value: longer than 1024 bytes");
	free(b);
	b = body(RES("\"tags\":[], \"resource_detail\":{\"state\":\"%s\"}"), rep('S', 65));
	expect_resources_error(b, "resources[0].resource_detail.state: longer than 64 bytes");
	free(b);
	for (int i = 0; i <= DECODE_MAX_TAGS; i++)
		snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%s{\"key\":\"k%d\"}",
		         i ? "," : "", i);
	b = body(RES("\"tags\":[%s]"), tags);
	expect_resources_error(b, "resources[0].tags: more than 64 tags");
	free(b);
}

static void test_resources_multibyte_limit(void **state)
{
	/* Limits count bytes: 128 three-byte characters fit a key (384
	 * bytes), 171 of them (513 bytes) do not. */
	char key[600] = "";
	struct observation o = {};
	char *b, *err = NULL;

	for (int i = 0; i < 128; i++)
		strcat(key, "\xe7\x8e\xaf");
	b = body(RES("\"tags\":[{\"key\":\"%s\"}]"), key);
	assert_int_equal(decode_resource_instances(b, strlen(b), &o, NULL, NULL, &err), 0);
	assert_string_equal(o.secrets[0].tags.items[0].key, key);
	observation_clear(&o);
	free(b);
	for (int i = 128; i < 171; i++)
		strcat(key, "\xe7\x8e\xaf");
	b = body(RES("\"tags\":[{\"key\":\"%s\"}]"), key);
	expect_resources_error(b, "resources[0].tags[0].key: longer than 512 bytes");
	free(b);
}

/* ---- the scratch arena (jsonget-scratch.c) ------------------------------ */

/* A listing of N secrets "s<i>" with tags k0..k7 = "<i>-<j>", padded with
 * a resource_detail like the service's. */
static char *listing(size_t n)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	assert_non_null(f);
	fputs("{\"resources\": [", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s{\"resource_id\": \"id-%zu\", \"resource_name\": \"s%zu\", \"resource_detail\":"
		        " {\"id\": \"id-%zu\", \"state\": \"ENABLED\", \"description\": \"%s\"}, \"tags\": [",
		        i ? "," : "", i, i, i, rep('d', 40));
		for (size_t j = 0; j < 8; j++)
			fprintf(f, "%s{\"key\": \"k%zu\", \"value\": \"%zu-%zu\"}", j ? "," : "", j, i, j);
		fputs("]}", f);
	}
	fprintf(f, "], \"total_count\": %zu}", n);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void check_listing(const struct observation *o, size_t n)
{
	char want[64];

	assert_int_equal(o->n, n);
	for (size_t i = 0; i < n; i++) {
		const struct secret *s = &o->secrets[i];

		snprintf(want, sizeof(want), "s%zu", i);
		assert_string_equal(s->name, want);
		assert_string_equal(s->state, "ENABLED");
		assert_int_equal(s->tags.n, 8);
		for (size_t j = 0; j < 8; j++) {
			snprintf(want, sizeof(want), "%zu-%zu", i, j);
			assert_string_equal(s->tags.items[j].value, want);
		}
	}
}

static void decode_listing(size_t n)
{
	_cleanup_free_ char *b = listing(n);
	struct observation o = {};
	char *err = NULL;

	assert_int_equal(decode_resource_instances(b, strlen(b), &o, NULL, NULL, &err), 0);
	check_listing(&o, n);
	observation_clear(&o);
}

/* Documents of growing and shrinking size (the block grows to the largest;
 * a larger one spills over into malloc and is freed value by value), a
 * bad one in between, one loaded while another is alive, and jansson's
 * ordinary allocations before and after: every value decoded intact (and
 * under ASan, where the arena is off, nothing leaked or reused). */
static void test_scratch_documents(void **state)
{
	static const size_t sizes[] = { 3, 250, 10, 250, 600, 1, 600 };
	_cleanup_free_ char *bad = listing(20), *small = listing(2);
	json_t *before = json_pack("{s:s}", "a", "b"), *one, *two;
	struct observation o = {};
	char *err = NULL;

	(void) state;
	assert_non_null(before);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		decode_listing(sizes[i]);
		if (i == 2) {
			bad[strlen(bad) / 2] = '\0';
			assert_int_equal(decode_resource_instances(bad, strlen(bad), &o, NULL, NULL, &err),
			                 -EBADMSG);
			assert_non_null(err);
			free(err);
			assert_int_equal(o.n, 0);
		}
	}
	/* Two alive at once: the second is an ordinary document. */
	assert_int_equal(jget_load_scratch(small, strlen(small), &one, NULL), 0);
	assert_int_equal(jget_load_scratch(small, strlen(small), &two, NULL), 0);
	jget_release_scratch(one);
	decode_listing(5);
	assert_int_equal(json_integer_value(json_object_get(two, "total_count")), 2);
	jget_release_scratch(two);
	jget_release_scratch(NULL);
	assert_string_equal(json_string_value(json_object_get(before, "a")), "b");
	json_decref(before);
	decode_listing(250);
}

/* ---- ListSecrets ------------------------------------------------------- */

static void test_list_secrets_good(void **state)
{
	static const char b[] =
		"{\"secrets\": [{\"id\": \"u1\", \"name\": \"alpha\", \"state\": \"ENABLED\","
		"  \"create_time\": 1581507580000, \"event_subscriptions\": []},"
		" {\"id\": \"u2\", \"name\": \"beta\"}],"
		" \"page_info\": {\"next_marker\": \"beta\", \"current_count\": 2}}";
	struct observation o;
	size_t n = 0;
	char *last = NULL, *err = NULL;

	observation_with_one(&o);
	assert_int_equal(decode_list_secrets(b, strlen(b), &o, &n, &last, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(last, "beta");
	assert_int_equal(o.n, 3);
	assert_string_equal(o.secrets[1].id, "u1");
	assert_string_equal(o.secrets[1].name, "alpha");
	assert_string_equal(o.secrets[1].state, "ENABLED");
	assert_false(o.secrets[1].tags_complete);
	assert_string_equal(o.secrets[2].state, "");
	assert_false(o.secrets[2].tags_complete);
	free(last);
	observation_clear(&o);
}

static void test_list_secrets_empty_page(void **state)
{
	static const char b[] = "{\"secrets\": [], \"page_info\": {\"current_count\": 0}}";
	struct observation o = {};
	size_t n = 9;
	char *last = (char *) "untouched?", *err = NULL;

	assert_int_equal(decode_list_secrets(b, strlen(b), &o, &n, &last, &err), 0);
	assert_int_equal(n, 0);
	assert_null(last);
	assert_int_equal(o.n, 0);
}

/* Without page_info the last name is the next marker; with a page_info
 * that has no next_marker, this was the last page. */
static void test_list_secrets_markers(void **state)
{
	static const char *const bodies[] = {
		"{\"secrets\": [{\"id\": \"u1\", \"name\": \"b\"}, {\"id\": \"u2\", \"name\": \"a\"}]}",
		"{\"secrets\": [{\"id\": \"u1\", \"name\": \"b\"}], \"page_info\": {\"current_count\": 1}}",
		"{\"secrets\": [{\"id\": \"u1\", \"name\": \"b\"}], \"page_info\": {\"next_marker\": \"\"}}",
		"{\"secrets\": [{\"id\": \"u1\", \"name\": \"b\"}], \"page_info\": {\"next_marker\": \"zz\"}}",
	};
	static const char *const want[] = { "a", NULL, NULL, "zz" };

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct observation o = {};
		char *next = (char *) "untouched?", *err = NULL;

		assert_int_equal(decode_list_secrets(bodies[i], strlen(bodies[i]), &o, NULL, &next, &err), 0);
		if (want[i])
			assert_string_equal(next, want[i]);
		else
			assert_null(next);
		free(next);
		observation_clear(&o);
	}
}

static const struct bad_case bad_secrets[] = {
	{ "[]", "expected a JSON object at the top level" },
	{ "{\"secrets\": [", "invalid JSON*" },
	{ "{}", "secrets: missing" },
	{ "{\"secrets\": null}", "secrets: missing" },
	{ "{\"secrets\": {}}", "secrets: expected an array" },
	{ "{\"secrets\": [1]}", "secrets[0]: expected an object" },
	{ "{\"secrets\": [{\"id\":\"a\",\"name\":\"a\"},{\"name\":\"b\"}]}", "secrets[1].id: missing" },
	{ "{\"secrets\": [{\"id\":\"a\",\"name\":7}]}", "secrets[0].name: expected a string" },
	{ "{\"secrets\": [], \"page_info\": {\"next_marker\": 3}}", "page_info.next_marker: expected a string" },
	{ "{\"secrets\": [{\"id\":\"..\",\"name\":\"a\"}]}", "secrets[0].id: not usable in a URL path" },
	{ "{\"secrets\": [{\"id\":\"a\\\\b\",\"name\":\"a\"}]}", "secrets[0].id: not usable in a URL path" },
	{ "{\"secrets\": [{\"id\":\"a\",\"name\":\"\"}]}", "secrets[0].name: must not be empty" },
	{ "{\"secrets\": [{\"id\":\"a\",\"name\":\"a\",\"state\":false}]}", "secrets[0].state: expected a string" },
};

static void test_list_secrets_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_secrets) / sizeof(bad_secrets[0]); i++) {
		const struct bad_case *c = &bad_secrets[i];
		struct observation o;
		size_t n = 99;
		char *last = NULL, *err = NULL;

		observation_with_one(&o);
		if (decode_list_secrets(c->body, strlen(c->body), &o, &n, &last, &err) != -EBADMSG)
			fail_msg("case %zu (%s) was accepted", i, c->body);
		assert_error(err, c->error);
		assert_int_equal(o.n, 1);
		assert_int_equal(n, 99);
		assert_null(last);
		free(err);
		observation_clear(&o);
	}
}

/* ---- ListSecretTags ---------------------------------------------------- */

static void test_secret_tags(void **state)
{
	static const char good[] =
		"{\"tags\": [{\"key\": \"a b\", \"value\": \"1/2\"}, {\"key\": \"c\"}],"
		" \"sys_tags\": [{\"key\": \"_sys_enterprise_project_id\", \"value\": \"0\"}]}";
	static const char no_sys[] = "{\"tags\": []}";
	static const char bad[] = "{\"tags\": [{\"key\": \"x\"}, {\"key\": \"x\"}]}";
	struct tag_list t = {}, st = {};
	char *err = NULL;

	assert_int_equal(tag_list_add(&t, "stale", "1"), 0);
	assert_int_equal(tag_list_add(&st, "stale", "1"), 0);
	assert_int_equal(decode_secret_tags(good, strlen(good), &t, &st, &err), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.items[0].key, "a b");
	assert_string_equal(t.items[0].value, "1/2");
	assert_string_equal(t.items[1].value, "");
	assert_int_equal(st.n, 1);
	assert_string_equal(st.items[0].value, "0");

	/* On error both lists stay as they were. */
	assert_int_equal(decode_secret_tags(bad, strlen(bad), &t, &st, &err), -EBADMSG);
	assert_string_equal(err, "tags[1].key: duplicate tag key \"x\"");
	free(err);
	err = NULL;
	assert_int_equal(t.n, 2);
	assert_int_equal(st.n, 1);

	assert_int_equal(decode_secret_tags(no_sys, strlen(no_sys), &t, &st, &err), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(st.n, 0);
	tag_list_clear(&t);
	tag_list_clear(&st);
}

static const struct bad_case bad_tags[] = {
	{ "[]", "expected a JSON object at the top level" },
	{ "{\"tags\":", "invalid JSON*" },
	{ "{}", "tags: missing" },
	{ "{\"sys_tags\": []}", "tags: missing" },
	{ "{\"tags\": \"env=prod\"}", "tags: expected an array" },
	{ "{\"tags\": [[]]}", "tags[0]: expected an object" },
	{ "{\"tags\": [{\"key\": null}]}", "tags[0].key: missing" },
	{ "{\"tags\": [{\"key\": \"k\", \"value\": 1}]}", "tags[0].value: expected a string" },
	{ "{\"tags\": [], \"sys_tags\": [{\"key\": 1}]}", "sys_tags[0].key: expected a string" },
	{ "{\"tags\": [], \"sys_tags\": {}}", "sys_tags: expected an array" },
};

static void test_secret_tags_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
		const struct bad_case *c = &bad_tags[i];
		struct tag_list t = {}, st = {};
		char *err = NULL;

		assert_int_equal(tag_list_add(&t, "keep", "1"), 0);
		if (decode_secret_tags(c->body, strlen(c->body), &t, &st, &err) != -EBADMSG)
			fail_msg("case %zu (%s) was accepted", i, c->body);
		assert_error(err, c->error);
		assert_int_equal(t.n, 1);
		assert_int_equal(st.n, 0);
		free(err);
		tag_list_clear(&t);
	}
}

/* ---- error bodies ------------------------------------------------------ */

static void expect_error_body(const char *b, size_t len, const char *code, const char *message)
{
	char *c = (char *) "x", *m = (char *) "x";

	assert_int_equal(decode_error_body(b, len, &c, &m), 0);
	if (code)
		assert_string_equal(c, code);
	else
		assert_null(c);
	assert_string_equal(m, message);
	free(c);
	free(m);
}

#define EB(b, code, msg) expect_error_body((b), strlen(b), (code), (msg))

static void test_error_shapes(void **state)
{
	EB("{\"error\": {\"error_code\": \"CSMS.0005\", \"error_msg\": \"The secret does not exist\"}}",
	   "CSMS.0005", "The secret does not exist");
	EB("{\"error_code\": \"CSMS.0002\", \"error_msg\": \"Invalid limit\"}", "CSMS.0002", "Invalid limit");
	EB("{\"error_msg\": \"Incorrect IAM authentication information: verify aksk signature fail\","
	   " \"error_code\": \"APIGW.0301\", \"request_id\": \"a1b2\"}",
	   "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail");
	EB("{\"code\": \"APIG.0101\", \"message\": \"The API does not exist\"}", "APIG.0101",
	   "The API does not exist");
	EB("{\"code\": 404, \"message\": \"Not Found\"}", "404", "Not Found");
	/* error_code/error_msg win over code/message at the same level. */
	EB("{\"code\": \"C\", \"message\": \"m\", \"error_code\": \"E\", \"error_msg\": \"e\"}", "E", "e");
	/* An incomplete pair does not count; the search goes on. */
	EB("{\"error_code\": \"E\", \"code\": \"C\", \"message\": \"m\"}", "C", "m");
	EB("{\"error_code\": {}, \"error_msg\": \"e\", \"x\": {\"code\": \"C\", \"message\": \"m\"}}",
	   "C", "m");
	EB("{\"a\": 1, \"b\": {\"c\": {\"error_code\": \"X.1\", \"error_msg\": \"deep\"}}}", "X.1", "deep");
	EB("{\"error\": {\"error_code\": \"E\", \"error_msg\": \"\"}}", "E", "");
	/* Messages are escaped for log lines. */
	EB("{\"error_code\": \"E\\n\", \"error_msg\": \"line1\\nline2\\u001b[31m \\\\ \\u00e9\"}", "E\\x0a",
	   "line1\\x0aline2\\x1b[31m \\x5c \xc3\xa9");
	/* Duplicate members do not lose the error. */
	EB("{\"error_code\":\"A\",\"error_code\":\"B\",\"error_msg\":\"m\"}", "B", "m");
}

static void test_error_garbage(void **state)
{
	char big[600], nested[400] = "";
	char *expected;

	EB("", NULL, "");
	expect_error_body(NULL, 5, NULL, "");
	EB("<html><body>502 Bad Gateway</body></html>", NULL, "<html><body>502 Bad Gateway</body></html>");
	EB("{\"foo\": 1}", NULL, "{\"foo\": 1}");
	EB("[{\"error_code\": \"E\", \"error_msg\": \"m\"}]", NULL, "[{\"error_code\": \"E\", \"error_msg\": \"m\"}]");
	EB("{\"error_code\": \"E\", \"error_msg\": 5}", NULL, "{\"error_code\": \"E\", \"error_msg\": 5}");
	EB("{\"error\": {\"error_code\": \"E\"", NULL, "{\"error\": {\"error_code\": \"E\"");
	EB("bad\r\n\x01\xff\\", NULL, "bad\\x0d\\x0a\\x01\\xff\\x5c");
	expect_error_body("a\0b", 3, NULL, "a\\x00b");
	expect_error_body("ab\0", 3, NULL, "ab\\x00");

	/* Raw bodies are cut to 200 bytes, never inside a character. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expected = strdup(rep('x', 200));
	expected = realloc(expected, 204);
	strcat(expected, "...");
	EB(big, NULL, expected);
	memcpy(big + 199, "\xc3\xa9", 2);
	expected[199] = '\0';
	strcat(expected, "...");
	EB(big, NULL, expected);
	free(expected);

	/* Messages are cut to 1024 bytes. */
	expected = body("{\"error_code\":\"E\",\"error_msg\":\"%s\"}", rep('m', 3000));
	{
		char *c = NULL, *m = NULL;

		assert_int_equal(decode_error_body(expected, strlen(expected), &c, &m), 0);
		assert_string_equal(c, "E");
		assert_int_equal(strlen(m), 1024 + 3);
		assert_string_equal(m + 1024, "...");
		free(c);
		free(m);
	}
	free(expected);

	/* Nesting deeper than the search goes is treated as garbage. */
	for (int i = 0; i < 20; i++)
		strcat(nested, "{\"a\":");
	strcat(nested, "{\"code\":\"C\",\"message\":\"m\"}");
	for (int i = 0; i < 20; i++)
		strcat(nested, "}");
	expect_error_body(nested, strlen(nested), NULL, nested);
}

/* ---- IAM token and metadata securitykey -------------------------------- */

static void test_iam_token(void **state)
{
	static const char good[] =
		"{\"token\": {\"expires_at\": \"2020-01-04T09:05:22.701000Z\","
		" \"issued_at\": \"2020-01-03T09:05:22.701000Z\", \"methods\": [\"password\"],"
		" \"project\": {\"id\": \"p\", \"name\": \"cn-north-4\"}, \"catalog\": []}}";
	static const struct bad_case bad[] = {
		{ "[]", "expected a JSON object at the top level" },
		{ "{\"token\": ", "invalid JSON*" },
		{ "{}", "token: missing" },
		{ "{\"token\": \"abc\"}", "token: expected an object" },
		{ "{\"token\": {}}", "token.expires_at: missing" },
		{ "{\"token\": {\"expires_at\": 1578128722}}", "token.expires_at: expected a string" },
		{ "{\"token\": {\"expires_at\": \"2020-01-04 09:05:22\"}}",
		  "token.expires_at: not an ISO-8601 UTC time" },
	};
	uint64_t t = 0;
	char *err = NULL;

	assert_int_equal(decode_iam_token(good, strlen(good), &t, &err), 0);
	assert_int_equal(t, UINT64_C(1578128722701000));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 42;
		if (decode_iam_token(bad[i].body, strlen(bad[i].body), &t, &err) != -EBADMSG)
			fail_msg("case %zu (%s) was accepted", i, bad[i].body);
		assert_error(err, bad[i].error);
		assert_int_equal(t, 42);
		free(err);
		err = NULL;
	}
}

static void test_securitykey_good(void **state)
{
	static const char std[] =
		"{\"credential\": {\"access\": \"AKTMP\", \"secret\": \"SKTMP/+=\","
		" \"securitytoken\": \"gQpjbi1ub3J0aC00\", \"expires_at\": \"2020-01-08T03:50:07.574000Z\"}}";
	static const char alt[] =
		"{\"credentials\": {\"accessKeyId\": \"AK2\", \"secretAccessKey\": \"SK2\","
		" \"securityToken\": \"T2\", \"expiration\": \"2020-01-08T03:50:07Z\"}}";
	char *ak = NULL, *sk = NULL, *tok = NULL, *err = NULL;
	uint64_t exp = 0;

	assert_int_equal(decode_securitykey(std, strlen(std), &ak, &sk, &tok, &exp, &err), 0);
	assert_string_equal(ak, "AKTMP");
	assert_string_equal(sk, "SKTMP/+=");
	assert_string_equal(tok, "gQpjbi1ub3J0aC00");
	assert_int_equal(exp, UINT64_C(1578455407574000));
	free(ak);
	free(sk);
	free(tok);
	assert_int_equal(decode_securitykey(alt, strlen(alt), &ak, &sk, &tok, &exp, &err), 0);
	assert_string_equal(ak, "AK2");
	assert_string_equal(sk, "SK2");
	assert_string_equal(tok, "T2");
	assert_int_equal(exp, UINT64_C(1578455407000000));
	free(ak);
	free(sk);
	free(tok);
}

#define CRED(a, s, t, e) "{\"credential\": {\"access\": " a ", \"secret\": " s \
	", \"securitytoken\": " t ", \"expires_at\": " e "}}"
#define OKA "\"AK\""
#define OKS "\"TOPSECRET\""
#define OKT "\"TOKEN\""
#define OKE "\"2020-01-08T03:50:07Z\""

static const struct bad_case bad_securitykeys[] = {
	{ "[]", "expected a JSON object at the top level" },
	{ "{}", "credential: missing" },
	{ "{\"credential\": []}", "credential: expected an object" },
	{ "{\"credentials\": 1}", "credentials: expected an object" },
	{ "{\"credential\": {\"secret\": \"TOPSECRET\"}}", "credential.access: missing" },
	{ CRED("1", OKS, OKT, OKE), "credential.access: expected a string" },
	{ CRED("\"\"", OKS, OKT, OKE), "credential.access: must not be empty" },
	{ CRED("\"A K\"", OKS, OKT, OKE), "credential.access: not printable ASCII" },
	{ CRED(OKA, "\"TOPSECRET\\r\\nX: y\"", OKT, OKE), "credential.secret: not printable ASCII" },
	{ CRED(OKA, "\"TOPSECRET\\u00e9\"", OKT, OKE), "credential.secret: not printable ASCII" },
	{ CRED(OKA, "null", OKT, OKE), "credential.secret: missing" },
	{ CRED(OKA, OKS, "\"\"", OKE), "credential.securitytoken: must not be empty" },
	{ CRED(OKA, OKS, OKT, "\"soon\""), "credential.expires_at: not an ISO-8601 UTC time" },
	{ CRED(OKA, OKS, OKT, "0"), "credential.expires_at: expected a string" },
	{ "{\"credentials\": {\"accessKeyId\": \"A\", \"secretAccessKey\": \"TOPSECRET\","
	  " \"securityToken\": \"T\", \"expiration\": \"x\"}}", "credentials.expiration: not an ISO-8601 UTC time" },
	/* jansson's excerpt of a broken body would quote the secret. */
	{ "{\"credential\": {\"secret\": \"TOPSECRET", "invalid JSON at line 1, column 36" },
	{ "{\"credential\": {\"secret\": TOPSECRET}}", "invalid JSON at line 1, column 35" },
};

typedef int (*temporary_decoder_t)(const char *body, size_t len, char **ak, char **sk,
                                   char **token, uint64_t *expires_at_usec, char **error);

/* Each case refused with its message (any, when NULL), which never holds
 * the secret key, and nothing returned. */
static void assert_bad_temporary(temporary_decoder_t decode, const struct bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct bad_case *c = &cases[i];
		char *ak = NULL, *sk = NULL, *tok = NULL, *err = NULL;
		uint64_t exp = 7;

		if (decode(c->body, strlen(c->body), &ak, &sk, &tok, &exp, &err) != -EBADMSG)
			fail_msg("case %zu (%s) was accepted", i, c->body);
		assert_non_null(err);
		if (c->error)
			assert_error(err, c->error);
		assert_null(strstr(err, "TOPSECRET"));
		assert_null(ak);
		assert_null(sk);
		assert_null(tok);
		assert_int_equal(exp, 7);
		free(err);
	}
}

static void test_securitykey_bad(void **state)
{
	char *b;

	assert_bad_temporary(decode_securitykey, bad_securitykeys,
	                     sizeof(bad_securitykeys) / sizeof(bad_securitykeys[0]));
	b = body(CRED(OKA, OKS, "\"%s\"", OKE), rep('t', 32 * 1024 + 1));
	{
		char *ak = NULL, *sk = NULL, *tok = NULL, *err = NULL;
		uint64_t exp = 0;

		assert_int_equal(decode_securitykey(b, strlen(b), &ak, &sk, &tok, &exp, &err), -EBADMSG);
		assert_string_equal(err, "credential.securitytoken: longer than 32768 bytes");
		free(err);
	}
	free(b);
}

/* STS v5 AssumeAgency (the emulator's and the documented answer). */
static void test_assume_agency(void **state)
{
	static const char good[] =
		"{\"credentials\": {\"access_key_id\": \"AKAG\", \"secret_access_key\": \"SKAG\","
		" \"security_token\": \"TOKAG\", \"expiration\": \"2022-09-07T03:27:51.158Z\"},"
		" \"assumed_agency\": {\"urn\": \"sts::a1::assumed-agency:n/s\", \"id\": \"x:s\"}}";
	static const struct bad_case bad[] = {
		{ "{}", "credentials: missing" },
		/* the metadata spelling is not the STS one */
		{ CRED(OKA, OKS, OKT, OKE), "credentials: missing" },
		{ "{\"credentials\": {\"access_key_id\": \"AK\", \"secret_access_key\": \"TOPSECRET\","
		  " \"expiration\": " OKE "}}", "credentials.security_token: missing" },
		{ "{\"credentials\": {\"access_key_id\": \"AK\", \"secret_access_key\": \"TOP SECRET\","
		  " \"security_token\": \"T\", \"expiration\": " OKE "}}",
		  "credentials.secret_access_key: not printable ASCII" },
		{ "{\"credentials\": {\"access_key_id\": \"AK\", \"secret_access_key\": \"TOPSECRET\","
		  " \"security_token\": \"T\", \"expiration\": 1662521271}}",
		  "credentials.expiration: expected a string" },
		{ "{\"credentials\": {\"access_key_id\": \"AK\", \"secret_access_key\": \"TOPSECRET\","
		  " \"security_token\": \"T\", \"expiration\": \"tomorrow\"}}",
		  "credentials.expiration: not an ISO-8601 UTC time" },
		{ "{\"credentials\": {\"access_key_id\": \"AK\", \"secret_access_key\": \"TOPSECRET\"",
		  NULL },
	};
	char *ak = NULL, *sk = NULL, *tok = NULL, *err = NULL;
	uint64_t exp = 0;

	assert_int_equal(decode_assume_agency(good, strlen(good), &ak, &sk, &tok, &exp, &err), 0);
	assert_string_equal(ak, "AKAG");
	assert_string_equal(sk, "SKAG");
	assert_string_equal(tok, "TOKAG");
	assert_int_equal(exp, UINT64_C(1662521271158000));
	free(ak);
	free(sk);
	free(tok);
	assert_bad_temporary(decode_assume_agency, bad, sizeof(bad) / sizeof(bad[0]));
}

/* ---- ISO-8601 ---------------------------------------------------------- */

static void test_iso8601_good(void **state)
{
	static const struct { const char *s; uint64_t usec; } good[] = {
		{ "2020-01-04T09:05:22.701000Z", UINT64_C(1578128722701000) },
		{ "2020-01-04T09:05:22Z", UINT64_C(1578128722000000) },
		{ "2020-01-04T09:05:22+00:00", UINT64_C(1578128722000000) },
		{ "2020-01-04T09:05:22.701000+00:00", UINT64_C(1578128722701000) },
		{ "2020-01-04T09:05:22.7Z", UINT64_C(1578128722700000) },
		{ "2020-01-04T09:05:22.000001Z", UINT64_C(1578128722000001) },
		{ "2020-01-04T09:05:22.123456789Z", UINT64_C(1578128722123456) },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2000-02-29T00:00:00Z", UINT64_C(951782400000000) },
		{ "9999-12-31T23:59:59.999999Z", UINT64_C(253402300799999999) },
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t t = 0;

		if (parse_rfc3339_time(good[i].s, &t) != 0)
			fail_msg("%s refused", good[i].s);
		assert_int_equal(t, good[i].usec);
	}
}

static void test_iso8601_bad(void **state)
{
	static const char *bad[] = {
		"", "2020-01-04", "2020-01-04T09:05:22", "2020-01-04T09:05:22.Z",
		"2020-01-04T09:05:22.701000", "2020-01-04T09:05:22+08:00", "2020-01-04T09:05:22-00:00",
		"2020-01-04T09:05:22+00", "2020-1-04T09:05:22Z", "2020-01-04 09:05:22Z",
		"2020-01-04t09:05:22z", " 2020-01-04T09:05:22Z", "2020-01-04T09:05:22Z ",
		"2020-01-04T09:05:22Zjunk", "+020-01-04T09:05:22Z", "2020-01-04T09:05:22.-1Z",
		"2020-00-10T00:00:00Z", "2020-13-01T00:00:00Z", "2020-01-00T00:00:00Z",
		"2020-01-32T00:00:00Z", "2021-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
		"2020-04-31T00:00:00Z", "2020-01-04T24:00:00Z", "2020-01-04T09:60:00Z",
		"2020-01-04T09:05:60Z", "1969-12-31T23:59:59Z", "2020-01-04T09:05:22.1.2Z",
		"2020-01-04T09:05:2aZ", ("\xef\xbc\x92" "020-01-04T09:05:22Z"),
	};
	uint64_t t = 77;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_rfc3339_time(bad[i], &t) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
	assert_int_equal(parse_rfc3339_time(NULL, &t), -EINVAL);
	assert_int_equal(t, 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resources_good),
		cmocka_unit_test(test_resources_count_only),
		cmocka_unit_test(test_resources_limits_exact),
		cmocka_unit_test(test_resources_bad),
		cmocka_unit_test(test_resources_oversized),
		cmocka_unit_test(test_resources_multibyte_limit),
		cmocka_unit_test(test_scratch_documents),
		cmocka_unit_test(test_list_secrets_good),
		cmocka_unit_test(test_list_secrets_empty_page),
		cmocka_unit_test(test_list_secrets_markers),
		cmocka_unit_test(test_list_secrets_bad),
		cmocka_unit_test(test_secret_tags),
		cmocka_unit_test(test_secret_tags_bad),
		cmocka_unit_test(test_error_shapes),
		cmocka_unit_test(test_error_garbage),
		cmocka_unit_test(test_iam_token),
		cmocka_unit_test(test_securitykey_good),
		cmocka_unit_test(test_securitykey_bad),
		cmocka_unit_test(test_assume_agency),
		cmocka_unit_test(test_iso8601_good),
		cmocka_unit_test(test_iso8601_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
