/* test-planfile.c - reviewed plan files: write/read round trip, the checks
 * before applying (project, age), and refusal of bad files. */
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
#include "observation.h"
#include "plan.h"
#include "planfile.h"
#include "plan-view.h"
#include "util.h"

#include "prologue.h"

#define PROJECT "0123456789abcdef0123456789abcdef"
#define DIGEST "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HOUR (3600 * USEC_PER_SEC)
#define T0 UINT64_C(1795000000000000)   /* a whole second */

static void make_plan(struct plan *plan)
{
	_cleanup_free_ char *text = xasprintf("%s%s", PROLOGUE, "[secrets \"app-*\"]\nkeep = *\n");
	struct observation o = {};
	struct config *c = NULL;
	struct secret *s;

	assert_int_equal(config_load_string("p.conf", text, 0, &c, NULL), 0);
	s = observation_add(&o);
	s->id = strdup("id-1");
	s->name = strdup("app-one");
	s->state = strdup("ENABLED");
	s->tags_complete = true;
	assert_int_equal(tag_list_add(&s->tags, "keep", "1"), 0);
	assert_int_equal(tag_list_add(&s->tags, "temp", "v\xc3\xa9 \"quoted\""), 0);
	assert_int_equal(tag_list_add(&s->tags, "b", ""), 0);
	assert_int_equal(plan_compute(c, &o, NULL, plan), 0);
	assert_int_equal(plan->n, 2);
	observation_clear(&o);
	config_free(c);
}

static char *tmp_path(void)
{
	char dir[] = "/tmp/test-planfile.XXXXXX";

	assert_non_null(mkdtemp(dir));
	return xasprintf("%s/plan.json", dir);
}

static void remove_path(char *path)
{
	unlink(path);
	*strrchr(path, '/') = '\0';
	rmdir(path);
	free(path);
}

static void test_round_trip(void **state)
{
	struct plan plan = {};
	struct saved_plan sp = {};
	char *path = tmp_path(), *error = NULL;
	const struct saved_item *it;
	struct stat st;

	make_plan(&plan);
	assert_int_equal(saved_plan_write(path, &plan, PROJECT, DIGEST, T0 + 123), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(saved_plan_load(path, &sp, &error), 0);
	assert_null(error);
	assert_string_equal(sp.project_id, PROJECT);
	assert_string_equal(sp.config_sha256, DIGEST);
	assert_string_equal(sp.config_path, "p.conf");
	assert_true(sp.created_usec == T0);    /* whole seconds */
	assert_int_equal(sp.n, 2);
	it = saved_plan_find(&sp, "id-1", "temp");
	assert_non_null(it);
	assert_string_equal(it->value, "v\xc3\xa9 \"quoted\"");
	assert_string_equal(it->secret_name, "app-one");
	assert_string_equal(it->rule, "p.conf:7");
	it = saved_plan_find(&sp, "id-1", "b");
	assert_non_null(it);
	assert_string_equal(it->value, "");
	assert_null(saved_plan_find(&sp, "id-1", "keep"));
	assert_null(saved_plan_find(&sp, "id-2", "temp"));
	/* Rewriting replaces the file whole. */
	plan_clear(&plan);
	make_plan(&plan);
	assert_int_equal(saved_plan_write(path, &plan, "other", DIGEST, T0), 0);
	saved_plan_clear(&sp);
	assert_int_equal(saved_plan_load(path, &sp, NULL), 0);
	assert_string_equal(sp.project_id, "other");
	saved_plan_clear(&sp);
	plan_clear(&plan);
	remove_path(path);
}

static void test_write_fails_cleanly(void **state)
{
	struct plan plan = {};

	make_plan(&plan);
	assert_int_equal(saved_plan_write("/nonexistent-dir/plan.json", &plan, PROJECT, DIGEST, T0),
	                 -ENOENT);
	plan_clear(&plan);
}

static struct saved_plan parse_ok(const char *text)
{
	struct saved_plan sp = {};
	char *error = NULL;
	int r = saved_plan_parse(text, strlen(text), &sp, &error);

	if (r < 0)
		fail_msg("refused: %s", error ? error : "?");
	return sp;
}

#define HEAD "{\"format\": \"csms-tagd-plan\", \"version\": 1, \"project_id\": \"" PROJECT "\", " \
	"\"config\": \"c\", \"config_sha256\": \"" DIGEST "\", \"created\": \"2026-11-18T20:26:40Z\", "
#define ITEM(id, key, value) "{\"secret_id\": \"" id "\", \"secret_name\": \"n\", \"key\": \"" key \
	"\", \"value\": \"" value "\", \"reason\": \"no-rule\", \"rule\": \"c:3\"}"

static void test_check_project_and_age(void **state)
{
	struct saved_plan sp = parse_ok(HEAD "\"items\": [" ITEM("a", "k", "v") "]}");
	uint64_t created = sp.created_usec;
	char *error = NULL;

	assert_int_equal(saved_plan_check(&sp, PROJECT, created, 24 * HOUR, NULL), 0);
	assert_int_equal(saved_plan_check(&sp, PROJECT, created + 24 * HOUR, 24 * HOUR, NULL), 0);
	/* Slightly in the future is clock noise; far ahead is refused. */
	assert_int_equal(saved_plan_check(&sp, PROJECT, created - 60 * USEC_PER_SEC, HOUR, NULL), 0);
	assert_int_equal(saved_plan_check(&sp, PROJECT, created - HOUR, HOUR, &error), -EINVAL);
	assert_non_null(strstr(error, "future"));
	free(error);
	assert_int_equal(saved_plan_check(&sp, PROJECT, created + 24 * HOUR + 1, 24 * HOUR, &error),
	                 -ESTALE);
	assert_non_null(strstr(error, "--max-plan-age"));
	free(error);
	assert_int_equal(saved_plan_check(&sp, "ffff", created, HOUR, &error), -EXDEV);
	assert_non_null(strstr(error, "project " PROJECT));
	free(error);
	saved_plan_clear(&sp);
}

static void test_bad_files(void **state)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "not json", "line 1" },
		{ "[]", "expected a JSON object at the top level" },
		{ "{\"format\": \"terraform\", \"version\": 1}", "\"format\"" },
		{ "{\"format\": \"csms-tagd-plan\", \"version\": 2}", "\"version\" must be 1" },
		{ "{\"format\": \"csms-tagd-plan\", \"version\": \"1\"}", "\"version\"" },
		{ HEAD "\"items\": {}}", "items: expected an array" },
		{ HEAD "\"items\": [" ITEM("a", "k", "v") "," ITEM("a", "k", "w") "]}", "listed twice" },
		{ HEAD "\"items\": [" ITEM("a", "", "v") "]}", "items[0].key: must not be empty" },
		{ HEAD "\"items\": [1]}", "items[0]: expected an object" },
		{ HEAD "\"items\": [{\"secret_id\": \"a\", \"secret_name\": \"n\", \"key\": \"k\", "
		  "\"rule\": \"\"}]}", "items[0].value: missing" },
		/* The digest is checked for form: a tampered one that is still a
		 * digest is only reported when applying (planfile.h). */
		{ "{\"format\": \"csms-tagd-plan\", \"version\": 1, \"project_id\": \"p\", \"config\": \"c\", "
		  "\"config_sha256\": \"ABC\", \"created\": \"2026-11-18T20:26:40Z\", \"items\": []}",
		  "config_sha256" },
		{ "{\"format\": \"csms-tagd-plan\", \"version\": 1, \"project_id\": \"p\", \"config\": \"c\", "
		  "\"config_sha256\": \"" DIGEST "\", \"created\": \"yesterday\", \"items\": []}", "\"created\"" },
		{ "{\"format\": \"csms-tagd-plan\", \"version\": 1, \"config\": \"c\", "
		  "\"config_sha256\": \"" DIGEST "\", \"created\": \"2026-11-18T20:26:40Z\", \"items\": []}",
		  "project_id: missing" },
		{ HEAD "\"items\": [], \"items\": []}", "duplicate" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct saved_plan sp = {};
		char *error = NULL;

		assert_int_equal(saved_plan_parse(cases[i].text, strlen(cases[i].text), &sp, &error), -EBADMSG);
		if (!error || !strstr(error, cases[i].message))
			fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].message, error ? error : "(null)");
		free(error);
		assert_int_equal(sp.n, 0);
		assert_null(sp.items);
	}
}

static void test_empty_plan(void **state)
{
	struct saved_plan sp = parse_ok(HEAD "\"items\": []}");

	assert_int_equal(sp.n, 0);
	assert_null(saved_plan_find(&sp, "a", "k"));
	saved_plan_clear(&sp);
}

static void test_config_digest(void **state)
{
	char *path = tmp_path(), out[65];
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("abc", f);
	fclose(f);
	assert_int_equal(config_file_sha256(path, out), 0);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	remove_path(path);
	assert_int_equal(config_file_sha256("/nonexistent", out), -ENOENT);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* A drop-in is part of the configuration: adding, changing or moving one
 * changes the digest; without drop-ins it is the file's own digest. */
static void test_config_digest_dropins(void **state)
{
	char *path = tmp_path(), a[65], b[65], c[65];
	_cleanup_free_ char *dir = xasprintf("%s.d", path), *in = xasprintf("%s/10-a.conf", dir);

	write_text(path, "abc");
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(config_file_sha256(path, a), 0);
	assert_string_equal(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	write_text(in, "x = 1\n");
	assert_int_equal(config_file_sha256(path, b), 0);
	assert_string_not_equal(a, b);
	write_text(in, "x = 2\n");
	assert_int_equal(config_file_sha256(path, c), 0);
	assert_string_not_equal(b, c);
	assert_int_equal(unlink(in), 0);
	assert_int_equal(rmdir(dir), 0);
	remove_path(path);
}

/* A saved plan item is serialised as --plan --json writes it: a value
 * that is not valid UTF-8 is saved escaped, never failing the save. */
static void test_item_utf8_policy(void **state)
{
	struct plan plan = {};
	struct saved_plan sp = {};
	char *path = tmp_path();
	const struct saved_item *it;
	json_t *j;

	make_plan(&plan);
	for (size_t i = 0; i < plan.n; i++)
		if (strcmp(plan.items[i].key, "temp") == 0) {
			free(plan.items[i].value);
			plan.items[i].value = strdup("bad\xff");
		}
	assert_int_equal(saved_plan_write(path, &plan, PROJECT, DIGEST, T0), 0);
	assert_int_equal(saved_plan_load(path, &sp, NULL), 0);
	it = saved_plan_find(&sp, "id-1", "temp");
	assert_non_null(it);
	assert_string_equal(it->value, "bad\\xff");
	j = plan_to_json(&plan);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "deletions"), 1),
	                                                      "value")), it->value);
	json_decref(j);
	saved_plan_clear(&sp);
	plan_clear(&plan);
	remove_path(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_write_fails_cleanly),
		cmocka_unit_test(test_check_project_and_age),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_empty_plan),
		cmocka_unit_test(test_config_digest),
		cmocka_unit_test(test_config_digest_dropins),
		cmocka_unit_test(test_item_utf8_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
