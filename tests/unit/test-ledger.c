/* test-ledger.c - the deletion ledger: schema creation and version check,
 * intents and outcomes (values byte for byte), pending intents, queries,
 * grace clocks in the outcome's transaction, pass history, and clear
 * errors for a corrupt, newer or unwritable database; targets in one file
 * (handles that never see each other's rows), the migration of a
 * version-1 file, the discovered targets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ledger.h"
#include "log.h"
#include "records.h"
#include "util.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test-ledger.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct ledger_deletion sample(const char *key, const char *value)
{
	return (struct ledger_deletion) {
		.pass_id = "p1-1", .secret_id = "id-1", .secret_name = "app-db", .key = (char *) key,
		.value = (char *) value, .rule = "/etc/x.conf:12", .reason = "no-rule",
		.intent_usec = 1000,
	};
}

/* A batch of intents is one transaction: all there, in order, pending. */
static void test_intents_batch(void **state)
{
	struct ledger *l;
	struct ledger_list pending = {};
	struct ledger_deletion d[3] = { sample("a", "1"), sample("b", "2"), sample("c", "3") };
	int64_t ids[3] = { 0 };

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_intents(l, d, 3, ids), 0);
	assert_true(ids[0] > 0 && ids[1] == ids[0] + 1 && ids[2] == ids[1] + 1);
	assert_int_equal(ledger_intents(l, d, 0, ids), 0);
	assert_int_equal(ledger_pending(l, &pending), 0);
	assert_int_equal(pending.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(pending.v[i].key, d[i].key);
		assert_string_equal(pending.v[i].value, d[i].value);
	}
	ledger_list_clear(&pending);
	ledger_close(l);
}

/* Outcomes a batch at a time: all set in one transaction, or none when one
 * of them cannot be (an intent of another target, an unknown id). */
static void test_outcomes_batch(void **state)
{
	struct ledger *l;
	struct ledger_list pending = {};
	struct ledger_deletion d[3] = { sample("k0", "v0"), sample("k1", "v1"), sample("k2", "v2") };
	int64_t ids[3];
	struct ledger_outcome_row rows[3];

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_intents(l, d, 3, ids), 0);
	for (size_t i = 0; i < 3; i++)
		rows[i] = (struct ledger_outcome_row) { .id = ids[i], .outcome = LEDGER_DELETED, .at_usec = 10 };
	rows[1].id = 999;
	assert_int_equal(ledger_outcomes(l, rows, 3), -ENOENT);
	assert_int_equal(ledger_pending(l, &pending), 0);
	assert_int_equal(pending.n, 3);
	ledger_list_clear(&pending);
	rows[1].id = ids[1];
	rows[2].outcome = _LEDGER_OUTCOME_MAX;
	assert_int_equal(ledger_outcomes(l, rows, 3), -EINVAL);
	rows[2].outcome = LEDGER_ALREADY_GONE;
	assert_int_equal(ledger_outcomes(l, rows, 0), 0);
	assert_int_equal(ledger_outcomes(l, rows, 3), 0);
	assert_int_equal(ledger_pending(l, &pending), 0);
	assert_int_equal(pending.n, 0);
	ledger_list_clear(&pending);
	ledger_close(l);
}

static void test_intent_outcome(void **state)
{
	struct ledger *l;
	struct ledger_list pending = {}, all = {};
	struct ledger_deletion d = sample("temp", "AKID\x01\xff value with ***");
	int64_t id1, id2;

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_intent(l, &d, &id1), 0);
	d.key = "other";
	assert_int_equal(ledger_intent(l, &d, &id2), 0);
	assert_true(id2 > id1);
	assert_int_equal(ledger_outcome(l, id1, LEDGER_DELETED, 2000, NULL), 0);
	assert_int_equal(ledger_outcome(l, 999, LEDGER_DELETED, 2000, NULL), -ENOENT);
	assert_int_equal(ledger_outcome(l, id1, _LEDGER_OUTCOME_MAX, 2000, NULL), -EINVAL);
	/* A resolution never overrides an outcome. */
	assert_int_equal(ledger_resolve(l, id1, LEDGER_FAILED, 2100), -EALREADY);
	assert_int_equal(ledger_resolve(l, id2, LEDGER_PENDING, 2100), -EINVAL);
	assert_int_equal(ledger_pending(l, &pending), 0);
	assert_int_equal(pending.n, 1);
	assert_string_equal(pending.v[0].key, "other");
	assert_int_equal(pending.v[0].outcome, LEDGER_PENDING);
	ledger_list_clear(&pending);
	ledger_close(l);

	/* Reopened: everything is there, the value exactly as given. */
	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_query(l, &(struct ledger_query) { 0 }, &all), 0);
	assert_int_equal(all.n, 2);
	assert_string_equal(all.v[0].value, "AKID\x01\xff value with ***");
	assert_int_equal(all.v[0].outcome, LEDGER_DELETED);
	assert_true(all.v[0].outcome_usec == 2000);
	assert_string_equal(all.v[0].rule, "/etc/x.conf:12");
	ledger_list_clear(&all);
	assert_int_equal(ledger_query(l, &(struct ledger_query) { .deleted_only = true }, &all), 0);
	assert_int_equal(all.n, 1);
	ledger_list_clear(&all);
	assert_int_equal(ledger_query(l, &(struct ledger_query) { .since_usec = 1001 }, &all), 0);
	assert_int_equal(all.n, 0);
	assert_int_equal(ledger_query(l, &(struct ledger_query) { .secret_glob = "app-*" }, &all), 0);
	assert_int_equal(all.n, 2);
	ledger_list_clear(&all);
	assert_int_equal(ledger_query(l, &(struct ledger_query) { .secret_glob = "web-*" }, &all), 0);
	assert_int_equal(all.n, 0);
	assert_int_equal(ledger_query(l, &(struct ledger_query) { .limit = 1 }, &all), -E2BIG);
	ledger_list_clear(&all);
	ledger_close(l);
}

static void test_outcome_strings(void **state)
{
	for (int o = 0; o < _LEDGER_OUTCOME_MAX; o++)
		assert_int_equal(ledger_outcome_from_string(ledger_outcome_to_string(o)), o);
	assert_int_equal(ledger_outcome_from_string("gone"), -EINVAL);
	assert_int_equal(ledger_outcome_from_string(NULL), -EINVAL);
}

static void test_clocks_with_outcome(void **state)
{
	struct ledger *l;
	struct grace_clocks c = {}, back = {}, kept = {};
	struct grace_stamp st = { 7, 8, "boot" }, st2;
	struct ledger_deletion d = sample("temp", "v");
	uint8_t a[GRACE_DIGEST_LEN], b[GRACE_DIGEST_LEN];
	uint64_t t;
	size_t future = 0;
	int64_t id;

	grace_digest("id-1", "temp", "v", a);
	grace_digest("id-1", "temp", "w", b);
	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(grace_clocks_add(&c, a, 100), 0);
	assert_int_equal(grace_clocks_add(&c, b, 5000), 0);
	grace_clocks_sort(&c);
	assert_int_equal(ledger_clocks_load(l, 1000, &back, &kept, &future, &st2), 0);
	assert_int_equal(back.n + kept.n, 0);
	assert_true(st2.realtime_usec == 0);
	assert_int_equal(ledger_clocks_save(l, &c, &c, &st), 0);
	/* An entry after NOW is dropped and counted; kept tags are not. */
	assert_int_equal(ledger_clocks_load(l, 1000, &back, &kept, &future, &st2), 0);
	assert_int_equal(back.n, 1);
	assert_int_equal(kept.n, 2);
	assert_int_equal(future, 1);
	assert_true(st2.realtime_usec == 7 && st2.boottime_usec == 8);
	assert_string_equal(st2.boot_id, "boot");
	grace_clocks_clear(&kept);
	assert_int_equal(grace_clocks_find(&back, a, &t), 0);
	assert_true(t == 100);
	grace_clocks_clear(&back);
	/* The outcome drops the deleted tag's clock in its transaction. */
	assert_int_equal(ledger_intent(l, &d, &id), 0);
	assert_int_equal(ledger_outcome(l, id, LEDGER_DELETED, 10, a), 0);
	assert_int_equal(ledger_clocks_load(l, 10000, &back, &kept, &future, &st2), 0);
	grace_clocks_clear(&kept);
	assert_int_equal(back.n, 1);
	assert_int_equal(grace_clocks_find(&back, a, &t), -ENOENT);
	assert_int_equal(grace_clocks_find(&back, b, &t), 0);
	grace_clocks_clear(&back);
	/* Saving replaces the whole store. */
	grace_clocks_clear(&c);
	assert_int_equal(ledger_clocks_save(l, &c, NULL, &st), 0);
	assert_int_equal(ledger_clocks_load(l, 10000, &back, &kept, NULL, &st2), 0);
	assert_int_equal(back.n + kept.n, 0);
	ledger_close(l);
}

static void test_passes(void **state)
{
	struct ledger *l;
	struct ledger_pass p = {};

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_last_observing_pass(l, NULL, &p), -ENOENT);
	assert_int_equal(ledger_pass_begin(l, &(struct ledger_pass) { .pass_id = "a-1", .started_usec = 10,
	                                   .started_boottime_usec = 5, .boot_id = "b1" }), 0);
	assert_int_equal(ledger_pass_begin(l, &(struct ledger_pass) { .pass_id = "a-2", .started_usec = 20,
	                                   .started_boottime_usec = 15, .boot_id = "b1" }), 0);
	assert_int_equal(ledger_pass_end(l, "a-1", 12, "changed", true), 0);
	assert_int_equal(ledger_pass_end(l, "a-2", 22, "failed", false), 0);
	assert_int_equal(ledger_pass_end(l, "a-3", 22, "failed", false), -ENOENT);
	/* The failed listing does not count as observing. */
	assert_int_equal(ledger_last_observing_pass(l, "a-3", &p), 0);
	assert_string_equal(p.pass_id, "a-1");
	assert_true(p.finished_usec == 12 && p.started_boottime_usec == 5);
	assert_string_equal(p.boot_id, "b1");
	ledger_pass_clear(&p);
	assert_int_equal(ledger_last_observing_pass(l, "a-1", &p), -ENOENT);
	ledger_close(l);
}

/* The rules for stored clocks (grace_trust()). */
static void test_grace_trust(void **state)
{
	const uint64_t S = 1000000, H = 3600 * S;
	struct grace_stamp then = { 100 * H, 10 * H, "b1" }, now;
	struct grace_clocks c = {};
	uint8_t d[GRACE_DIGEST_LEN];
	uint64_t step, t;

	/* Nothing saved yet: nothing to distrust. */
	now = (struct grace_stamp) { 101 * H, 11 * H, "b1" };
	assert_int_equal(grace_trust(&(struct grace_stamp) { 0 }, &now, 2 * H, &step), GRACE_KEEP);
	/* An ordinary gap. */
	assert_int_equal(grace_trust(&then, &now, 2 * H, &step), GRACE_KEEP);
	assert_true(step == 0);
	/* Stopped longer than the gap allows: by CLOCK_BOOTTIME in one boot. */
	now = (struct grace_stamp) { 103 * H, 13 * H, "b1" };
	assert_int_equal(grace_trust(&then, &now, 2 * H, &step), GRACE_RESTART);
	/* Across boots, by the wall clock. */
	now = (struct grace_stamp) { 103 * H, 1 * H, "b2" };
	assert_int_equal(grace_trust(&then, &now, 2 * H, &step), GRACE_RESTART);
	now = (struct grace_stamp) { 101 * H, 1 * H, "b2" };
	assert_int_equal(grace_trust(&then, &now, 2 * H, &step), GRACE_KEEP);
	/* A wall-clock step forward of 2 h within 4 s of boot time: the clocks
	 * move by the step, a grace of 1 h cannot end early. */
	now = (struct grace_stamp) { 102 * H + 4 * S, 10 * H + 4 * S, "b1" };
	assert_int_equal(grace_trust(&then, &now, 2 * H, &step), GRACE_SHIFT);
	assert_true(step == 2 * H);
	grace_digest("id", "k", "v", d);
	assert_int_equal(grace_clocks_add(&c, d, 100 * H - 30 * 60 * S), 0);
	grace_clocks_shift(&c, step, now.realtime_usec);
	assert_int_equal(grace_clocks_find(&c, d, &t), 0);
	assert_true(now.realtime_usec - t < H);
	/* A shift never puts a clock after now. */
	grace_clocks_shift(&c, 10 * H, now.realtime_usec);
	assert_int_equal(grace_clocks_find(&c, d, &t), 0);
	assert_true(t == now.realtime_usec);
	grace_clocks_clear(&c);
}

/* Hand runs find the service's ledger; a config no unit runs has none. */
static void expect_directory(const char *state_directory, const char *config, const char *want)
{
	_cleanup_free_ char *d = NULL;

	assert_int_equal(ledger_directory(state_directory, config, &d), 0);
	assert_string_equal(d, want);
}

static void test_directory(void **state)
{
	char *d = NULL;

	unsetenv("STATE_DIRECTORY");
	expect_directory("/srv/x", "/etc/csms-tagd/a.conf", "/srv/x");
	expect_directory(NULL, "/etc/csms-tagd/csms-tagd.conf", "/var/lib/csms-tagd");
	expect_directory(NULL, "/etc/csms-tagd/prod-eu.conf", "/var/lib/csms-tagd-prod-eu");
	expect_directory("/srv/y", "odd", "/srv/y");
	assert_int_equal(ledger_directory(NULL, "odd", &d), -ENOENT);
	assert_int_equal(ledger_directory(NULL, "/tmp/test.ini", &d), -ENOENT);
	assert_null(d);
	assert_non_null(strstr(ledger_directory_problem(-ENOENT), "state_directory"));
	setenv("STATE_DIRECTORY", "/var/lib/csms-tagd-x:/other", 1);
	expect_directory(NULL, "/etc/csms-tagd/y.conf", "/var/lib/csms-tagd-x");
	expect_directory(NULL, "odd", "/var/lib/csms-tagd-x");
	unsetenv("STATE_DIRECTORY");
}

/* A failed save makes the stored clocks untrusted until the next save. */
static void test_clocks_stale_after_failed_save(void **state)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, LEDGER_FILE);
	struct grace_clocks c = {}, back = {}, kept = {};
	struct grace_stamp st = { 7, 8, "b" }, st2;
	uint8_t d[GRACE_DIGEST_LEN];
	struct ledger *l;
	sqlite3 *db;

	grace_digest("id", "k", "v", d);
	assert_int_equal(grace_clocks_add(&c, d, 5), 0);
	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_clocks_save(l, &c, NULL, &st), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER full BEFORE INSERT ON clock_stamp BEGIN "
	                              "SELECT RAISE(ABORT, 'disk full'); END", NULL, NULL, NULL), SQLITE_OK);
	assert_true(ledger_clocks_save(l, NULL, NULL, &st) < 0);
	assert_non_null(strstr(ledger_error(l), "disk full"));
	/* The old clock is still stored, but not handed out. */
	assert_int_equal(ledger_clocks_load(l, 100, &back, &kept, NULL, &st2), -ESTALE);
	assert_int_equal(back.n, 0);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER full", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ledger_clocks_save(l, &c, NULL, &st), 0);
	assert_int_equal(ledger_clocks_load(l, 100, &back, &kept, NULL, &st2), 0);
	assert_int_equal(back.n, 1);
	grace_clocks_clear(&back);
	grace_clocks_clear(&c);
	ledger_close(l);
}

/* A root run leaves the database and the files SQLite makes beside it to
 * the directory's owner (the service's dynamic user). */
static void test_root_run_leaves_files_to_owner(void **state)
{
	_cleanup_free_ char *db = xasprintf("%s/%s", dir, LEDGER_FILE);
	_cleanup_free_ char *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);
	struct ledger_deletion d = sample("k", "v");
	struct ledger *l;
	struct stat st;
	int64_t id;

	if (geteuid() != 0)
		skip();
	assert_int_equal(chown(dir, 65534, 65534), 0);
	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_intent(l, &d, &id), 0);
	/* While open, -wal and -shm exist. */
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(stat(shm, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	ledger_close(l);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_bad_files(void **state)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, LEDGER_FILE);
	_cleanup_free_ char *sub = xasprintf("%s/missing/deeper", dir);
	struct ledger *l = NULL;
	sqlite3 *db;

	/* Not a database. */
	write_file(path, "this is not an SQLite database, it is a text file that is long enough "
	           "to have a header of its own..............................................\n");
	assert_int_equal(ledger_open(dir, &l), -EBADMSG);
	assert_null(l);
	unlink(path);
	/* A newer schema. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(ledger_open(dir, &l), -EPROTONOSUPPORT);
	unlink(path);
	/* A directory that cannot be made. */
	assert_true(ledger_open(sub, &l) == -ENOENT);
	/* Unwritable: only meaningful when not root (root ignores modes). */
	if (geteuid() != 0) {
		assert_int_equal(chmod(dir, 0500), 0);
		assert_true(ledger_open(dir, &l) < 0);
		assert_int_equal(chmod(dir, 0700), 0);
	}
}

static void test_file_modes(void **state)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, LEDGER_FILE);
	struct ledger *l;
	struct stat st;

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_string_equal(ledger_path(l), path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	ledger_close(l);
}

/* --- targets (organisation mode) ------------------------------------------ */

static struct ledger_deletion sample_of(const char *pass_id, const char *key)
{
	struct ledger_deletion d = sample(key, "v");

	d.pass_id = (char *) pass_id;
	/* Ignored on write: the handle's target is the row's. */
	d.target = "not-this";
	d.region = "nor-this";
	return d;
}

/* Two targets in one file never see each other's pending intents,
 * outcomes, clocks, kept tags, stamps or passes; the default handle sees
 * neither.  The connection outlives whichever handle closes first. */
static void test_targets_isolated(void **state)
{
	struct ledger *l, *a, *b;
	struct ledger_list pa = {}, pb = {}, p0 = {};
	struct ledger_deletion da = sample_of("p-1", "a-key"), db = sample_of("p-1", "b-key");
	struct grace_clocks ca = {}, back = {}, kept = {};
	struct grace_stamp sa = { 7, 8, "boot-a" }, st;
	struct ledger_pass p = {};
	uint8_t dig[GRACE_DIGEST_LEN];
	int64_t ida, idb;

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_string_equal(ledger_target_key(l), "");
	assert_int_equal(ledger_target(l, NULL, NULL, NULL, NULL, &a), -EINVAL);
	assert_int_equal(ledger_target(l, "b100a", "acme-prod/cn-north-4", "a0001", "cn-north-4", &a), 0);
	assert_int_equal(ledger_target(a, "b200b", "acme-dev/ap-southeast-1", NULL, "ap-southeast-1", &b), 0);
	assert_string_equal(ledger_target_key(a), "b100a");
	assert_string_equal(ledger_path(a), ledger_path(l));

	assert_int_equal(ledger_intent(a, &da, &ida), 0);
	assert_int_equal(ledger_intent(b, &db, &idb), 0);
	assert_int_equal(ledger_pending(a, &pa), 0);
	assert_int_equal(ledger_pending(b, &pb), 0);
	assert_int_equal(ledger_pending(l, &p0), 0);
	assert_int_equal(pa.n, 1);
	assert_int_equal(pb.n, 1);
	assert_int_equal(p0.n, 0);
	assert_string_equal(pa.v[0].key, "a-key");
	assert_string_equal(pa.v[0].target, "b100a");
	assert_string_equal(pa.v[0].target_name, "acme-prod/cn-north-4");
	assert_string_equal(pa.v[0].account_id, "a0001");
	assert_string_equal(pa.v[0].region, "cn-north-4");
	assert_string_equal(pb.v[0].key, "b-key");
	assert_string_equal(pb.v[0].account_id, "");
	ledger_list_clear(&pa);
	ledger_list_clear(&pb);
	ledger_list_clear(&p0);
	/* One target cannot settle the other's intents. */
	assert_int_equal(ledger_outcome(a, idb, LEDGER_DELETED, 10, NULL), -ENOENT);
	assert_int_equal(ledger_resolve(a, idb, LEDGER_DELETED, 10), -EALREADY);
	assert_int_equal(ledger_outcome(l, ida, LEDGER_DELETED, 10, NULL), -ENOENT);
	assert_int_equal(ledger_pending(b, &pb), 0);
	assert_int_equal(pb.n, 1);
	ledger_list_clear(&pb);

	/* Clocks, kept tags and stamps are per target. */
	grace_digest("id-1", "a-key", "v", dig);
	assert_int_equal(grace_clocks_add(&ca, dig, 100), 0);
	assert_int_equal(ledger_clocks_save(a, &ca, &ca, &sa), 0);
	assert_int_equal(ledger_clocks_save(b, NULL, NULL, &(struct grace_stamp) { 1, 2, "boot-b" }), 0);
	assert_int_equal(ledger_clocks_load(b, 1000, &back, &kept, NULL, &st), 0);
	assert_int_equal(back.n + kept.n, 0);
	assert_string_equal(st.boot_id, "boot-b");
	assert_int_equal(ledger_clocks_load(l, 1000, &back, &kept, NULL, &st), 0);
	assert_int_equal(back.n + kept.n, 0);
	assert_true(st.realtime_usec == 0);
	assert_int_equal(ledger_clocks_load(a, 1000, &back, &kept, NULL, &st), 0);
	assert_int_equal(back.n, 1);
	assert_int_equal(kept.n, 1);
	assert_string_equal(st.boot_id, "boot-a");
	grace_clocks_clear(&back);
	grace_clocks_clear(&kept);
	/* B's outcome with A's digest drops nothing of A's. */
	assert_int_equal(ledger_outcome(b, idb, LEDGER_DELETED, 20, dig), 0);
	assert_int_equal(ledger_clocks_load(a, 1000, &back, &kept, NULL, &st), 0);
	assert_int_equal(back.n, 1);
	grace_clocks_clear(&back);
	grace_clocks_clear(&kept);
	/* B's saving replaces B's set only. */
	assert_int_equal(ledger_clocks_save(b, NULL, NULL, &st), 0);
	assert_int_equal(ledger_clocks_load(a, 1000, &back, &kept, NULL, &st), 0);
	assert_int_equal(back.n, 1);
	grace_clocks_clear(&back);
	grace_clocks_clear(&kept);
	grace_clocks_clear(&ca);

	/* Passes: the same id in two targets is two passes. */
	assert_int_equal(ledger_pass_begin(a, &(struct ledger_pass) { .pass_id = "p-1", .started_usec = 10,
	                                   .boot_id = "b" }), 0);
	assert_int_equal(ledger_pass_begin(b, &(struct ledger_pass) { .pass_id = "p-1", .started_usec = 11,
	                                   .boot_id = "b" }), 0);
	assert_int_equal(ledger_pass_end(a, "p-1", 12, "changed", true), 0);
	assert_int_equal(ledger_pass_end(l, "p-1", 12, "changed", true), -ENOENT);
	assert_int_equal(ledger_last_observing_pass(b, NULL, &p), -ENOENT);
	assert_int_equal(ledger_last_observing_pass(l, NULL, &p), -ENOENT);
	assert_int_equal(ledger_last_observing_pass(a, NULL, &p), 0);
	assert_true(p.started_usec == 10);
	ledger_pass_clear(&p);

	/* Closing the first handle leaves the others working. */
	ledger_close(l);
	assert_int_equal(ledger_pending(a, &pa), 0);
	assert_int_equal(pa.n, 1);
	ledger_list_clear(&pa);
	ledger_close(a);
	assert_int_equal(ledger_intent(b, &db, &idb), 0);
	ledger_close(b);
}

/* A query names its targets by glob on key or name; without one, only
 * the handle's. */
static void test_query_targets(void **state)
{
	struct ledger *l, *a, *b;
	struct ledger_list all = {};
	struct ledger_deletion d = sample_of("p-1", "k");
	int64_t id;

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_target(l, "b100a", "acme-prod/cn-north-4", "a0001", "cn-north-4", &a), 0);
	assert_int_equal(ledger_target(l, "b200b", "acme-dev/cn-north-4", "a0002", "cn-north-4", &b), 0);
	assert_int_equal(ledger_intent(l, &d, &id), 0);
	assert_int_equal(ledger_intent(a, &d, &id), 0);
	assert_int_equal(ledger_intent(b, &d, &id), 0);
	assert_int_equal(ledger_intent(b, &d, &id), 0);

	assert_int_equal(ledger_query(l, &(struct ledger_query) { 0 }, &all), 0);
	assert_int_equal(all.n, 1);
	assert_string_equal(all.v[0].target, "");
	ledger_list_clear(&all);
	assert_int_equal(ledger_query(b, &(struct ledger_query) { 0 }, &all), 0);
	assert_int_equal(all.n, 2);
	ledger_list_clear(&all);
	assert_int_equal(ledger_query(l, &(struct ledger_query) { .target_glob = "*" }, &all), 0);
	assert_int_equal(all.n, 4);
	assert_string_equal(all.v[0].target, "");
	assert_string_equal(all.v[1].target, "b100a");
	assert_string_equal(all.v[1].target_name, "acme-prod/cn-north-4");
	ledger_list_clear(&all);
	/* By name ... */
	assert_int_equal(ledger_query(l, &(struct ledger_query) { .target_glob = "acme-prod/*" }, &all), 0);
	assert_int_equal(all.n, 1);
	assert_string_equal(all.v[0].target, "b100a");
	ledger_list_clear(&all);
	assert_int_equal(ledger_query(a, &(struct ledger_query) { .target_glob = "*/cn-north-4" }, &all), 0);
	assert_int_equal(all.n, 3);
	ledger_list_clear(&all);
	/* ... or by key. */
	assert_int_equal(ledger_query(a, &(struct ledger_query) { .target_glob = "b2*" }, &all), 0);
	assert_int_equal(all.n, 2);
	assert_string_equal(all.v[0].account_id, "a0002");
	ledger_list_clear(&all);
	assert_int_equal(ledger_query(a, &(struct ledger_query) { .target_glob = "nothing" }, &all), 0);
	assert_int_equal(all.n, 0);
	assert_int_equal(ledger_query(a, &(struct ledger_query) { .target_glob = "*", .limit = 3 }, &all),
	                 -E2BIG);
	ledger_list_clear(&all);
	ledger_close(b);
	ledger_close(a);
	ledger_close(l);
}

/* The schema of version 1, as csms-tagd wrote it before targets. */
static const char SCHEMA_V1[] =
	"CREATE TABLE deletions ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" pass_id TEXT NOT NULL, secret_id TEXT NOT NULL, secret_name TEXT NOT NULL,"
	" key TEXT NOT NULL, value TEXT NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL,"
	" intent_usec INTEGER NOT NULL,"
	" outcome TEXT NOT NULL DEFAULT 'pending',"
	" outcome_usec INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX deletions_pending ON deletions(outcome) WHERE outcome = 'pending';"
	"CREATE INDEX deletions_time ON deletions(intent_usec);"
	"CREATE TABLE grace_clocks (digest BLOB PRIMARY KEY, first_seen_usec INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"CREATE TABLE exempt_kept (digest BLOB PRIMARY KEY, first_seen_usec INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"CREATE TABLE clock_stamp (one INTEGER PRIMARY KEY CHECK (one = 1),"
	" realtime_usec INTEGER NOT NULL, boottime_usec INTEGER NOT NULL, boot_id TEXT NOT NULL);"
	"CREATE TABLE passes ("
	" pass_id TEXT PRIMARY KEY, started_usec INTEGER NOT NULL,"
	" started_boottime_usec INTEGER NOT NULL, boot_id TEXT NOT NULL,"
	" finished_usec INTEGER NOT NULL DEFAULT 0, outcome TEXT,"
	" listing_complete INTEGER NOT NULL DEFAULT 0);"
	"PRAGMA user_version = 1;";

static int user_version(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* A version-1 file is migrated in place: every row is the default
 * target's, ids go on, clocks, stamp and passes are kept. */
static void test_migrate_v1(void **state)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, LEDGER_FILE);
	struct ledger_list pending = {}, all = {};
	struct grace_clocks clocks = {}, kept = {};
	struct grace_stamp st;
	struct ledger_pass p = {};
	struct ledger_deletion d = sample("new", "v");
	struct ledger *l, *a;
	uint8_t dig[GRACE_DIGEST_LEN];
	uint64_t t;
	int64_t id;
	sqlite3 *db;
	sqlite3_stmt *s;

	grace_digest("id-1", "old", "1", dig);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, SCHEMA_V1, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"INSERT INTO deletions (pass_id, secret_id, secret_name, key, value, rule, reason, intent_usec,"
		" outcome, outcome_usec) VALUES ('p-1', 'id-1', 'app-db', 'old', '1', 'x.conf:3', 'no-rule', 100,"
		" 'deleted', 110);"
		"INSERT INTO deletions (pass_id, secret_id, secret_name, key, value, rule, reason, intent_usec)"
		" VALUES ('p-2', 'id-1', 'app-db', 'left', '2', 'x.conf:3', 'no-rule', 200);"
		"INSERT INTO exempt_kept VALUES (x'00', 5);"
		"INSERT INTO clock_stamp VALUES (1, 300, 30, 'boot-1');"
		"INSERT INTO passes VALUES ('p-1', 90, 9, 'boot-1', 120, 'changed', 1);"
		"INSERT INTO passes VALUES ('p-3', 95, 9, 'boot-1', 120, 'clean', 1);"
		"INSERT INTO passes VALUES ('p-2', 190, 19, 'boot-1', 0, NULL, 0);", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO grace_clocks VALUES (?, 50)", -1, &s, NULL),
	                 SQLITE_OK);
	sqlite3_bind_blob(s, 1, dig, GRACE_DIGEST_LEN, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(user_version(path), LEDGER_SCHEMA_VERSION);
	assert_int_equal(ledger_pending(l, &pending), 0);
	assert_int_equal(pending.n, 1);
	assert_string_equal(pending.v[0].key, "left");
	assert_string_equal(pending.v[0].target, "");
	assert_string_equal(pending.v[0].region, "");
	assert_int_equal(ledger_query(l, &(struct ledger_query) { .deleted_only = true }, &all), 0);
	assert_int_equal(all.n, 1);
	assert_true(all.v[0].id == 1 && all.v[0].outcome_usec == 110);
	ledger_list_clear(&all);
	assert_int_equal(ledger_clocks_load(l, 1000, &clocks, &kept, NULL, &st), 0);
	assert_int_equal(clocks.n, 1);
	assert_int_equal(grace_clocks_find(&clocks, dig, &t), 0);
	assert_true(t == 50);
	assert_int_equal(kept.n, 0);    /* not a digest of ours: restarts */
	assert_true(st.realtime_usec == 300 && st.boottime_usec == 30);
	assert_string_equal(st.boot_id, "boot-1");
	grace_clocks_clear(&clocks);
	/* Equal finishing times: the later row still wins. */
	assert_int_equal(ledger_last_observing_pass(l, "p-2", &p), 0);
	assert_string_equal(p.pass_id, "p-3");
	ledger_pass_clear(&p);
	/* It goes on as a version-2 file: ids continue, intents settle. */
	assert_int_equal(ledger_intent(l, &d, &id), 0);
	assert_true(id == 3);
	assert_int_equal(ledger_resolve(l, pending.v[0].id, LEDGER_DELETED, 400), 0);
	ledger_list_clear(&pending);
	assert_int_equal(ledger_pass_end(l, "p-2", 500, "changed", true), 0);
	/* Another target sees none of it. */
	assert_int_equal(ledger_target(l, "b100a", "t", NULL, NULL, &a), 0);
	assert_int_equal(ledger_query(a, &(struct ledger_query) { 0 }, &all), 0);
	assert_int_equal(all.n, 0);
	assert_int_equal(ledger_clocks_load(a, 1000, &clocks, &kept, NULL, &st), 0);
	assert_int_equal(clocks.n, 0);
	assert_int_equal(ledger_last_observing_pass(a, NULL, &p), -ENOENT);
	ledger_close(a);
	ledger_close(l);
	/* Opened again: nothing more to do. */
	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_query(l, &(struct ledger_query) { 0 }, &all), 0);
	assert_int_equal(all.n, 3);
	ledger_list_clear(&all);
	ledger_close(l);
}

/* A migration that fails leaves the version-1 file as it was. */
static void test_migrate_v1_fails_whole(void **state)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, LEDGER_FILE);
	struct ledger *l = NULL;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, SCHEMA_V1, NULL, NULL, NULL), SQLITE_OK);
	/* A name the migration needs, taken: it fails halfway. */
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE targets (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_true(ledger_open(dir, &l) < 0);
	assert_null(l);
	assert_int_equal(user_version(path), 1);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	/* Still version 1's deletions: no target column. */
	assert_int_not_equal(sqlite3_exec(db, "SELECT target FROM deletions", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT one FROM clock_stamp", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void targets_clear(struct target *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].account_id);
		free(t[i].account_name);
		free(t[i].region);
		free(t[i].project_id);
		free(t[i].project_name);
	}
	free(t);
}

static uint64_t first_seen(const char *project_id)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, LEDGER_FILE);
	sqlite3 *db;
	sqlite3_stmt *s;
	uint64_t t = 0;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT first_seen_usec FROM targets WHERE project_id = ?",
	                                    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, project_id, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		t = (uint64_t) sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return t;
}

/* The discovered targets: saved whole, in order, NULLs kept. */
static void test_targets_save_load(void **state)
{
	struct target two[] = {
		{ .name = "org-m0001/cn-north-4", .account_id = "a0001", .account_name = "org-m0001",
		  .region = "cn-north-4", .project_id = "b100", .project_name = "cn-north-4", .discovered = true },
		{ .name = "self/ap-southeast-1", .region = "ap-southeast-1", .project_id = "b200",
		  .project_name = "ap-southeast-1", .discovered = true },
	};
	struct target next[] = {
		two[1],
		{ .name = "prod-bj", .account_id = "a0003", .region = "cn-north-4", .project_id = "b300",
		  .line = 4, .file = 1 },
	};
	struct target *t = NULL;
	struct ledger *l, *a;
	uint64_t saved;
	size_t n;

	assert_int_equal(ledger_open(dir, &l), 0);
	assert_int_equal(ledger_targets_load(l, &t, &n, &saved), 0);
	assert_int_equal(n, 0);
	assert_true(saved == 0);
	targets_clear(t, n);
	assert_int_equal(ledger_targets_save(l, &(struct target) { .name = "x", .region = "r" }, 1, 5), -EINVAL);
	assert_int_equal(ledger_targets_save(l, two, 2, 1000), 0);
	assert_int_equal(ledger_targets_load(l, &t, &n, &saved), 0);
	assert_int_equal(n, 2);
	assert_true(saved == 1000);
	assert_string_equal(t[0].name, "org-m0001/cn-north-4");
	assert_string_equal(t[0].account_id, "a0001");
	assert_string_equal(t[0].account_name, "org-m0001");
	assert_string_equal(t[0].project_id, "b100");
	assert_string_equal(t[0].project_name, "cn-north-4");
	assert_true(t[0].discovered);
	assert_null(t[1].account_id);
	assert_null(t[1].account_name);
	assert_string_equal(t[1].region, "ap-southeast-1");
	targets_clear(t, n);
	/* A target gone, one new: the one still there keeps its first sighting. */
	assert_int_equal(ledger_target(l, "b200", "self/ap-southeast-1", NULL, "ap-southeast-1", &a), 0);
	assert_int_equal(ledger_targets_save(a, next, 2, 2000), 0);
	assert_int_equal(ledger_targets_load(l, &t, &n, &saved), 0);
	assert_int_equal(n, 2);
	assert_true(saved == 2000);
	assert_string_equal(t[0].project_id, "b200");
	assert_string_equal(t[1].project_id, "b300");
	assert_null(t[1].project_name);
	assert_false(t[1].discovered);
	assert_int_equal(t[1].line, 0);
	targets_clear(t, n);
	assert_true(first_seen("b200") == 1000);
	assert_true(first_seen("b300") == 2000);
	assert_true(first_seen("b100") == 0);
	/* None left. */
	assert_int_equal(ledger_targets_save(l, NULL, 0, 3000), 0);
	assert_int_equal(ledger_targets_load(a, &t, &n, &saved), 0);
	assert_int_equal(n, 0);
	assert_true(saved == 3000);
	targets_clear(t, n);
	ledger_close(l);
	ledger_close(a);
}

/* The records written from OUT's call, as JSON lines. */
static char *records_of(void (*fn)(void))
{
	char path[] = "/tmp/test-ledger-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *text = NULL;
	size_t len;

	assert_true(fd >= 0 && saved >= 0);
	log_open(LOG_TARGET_JSON);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn();
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(fd);
	assert_int_equal(read_file(path, 65536, &text, &len), 0);
	unlink(path);
	return text;
}

static void resolve_two(void)
{
	struct ledger_deletion d = sample("k", "v");

	d.target = d.target_name = d.account_id = d.region = "";
	record_resolved(&d, LEDGER_DELETED, "absent");
	d.target = "b100";
	d.target_name = "acme-prod/cn-north-4";
	d.account_id = "a0001";
	d.region = "cn-north-4";
	record_resolved(&d, LEDGER_FAILED, "present");
}

static void pass_fields(void)
{
	struct csms_settings one = { .region = "cn-north-4", .project_id = "b0" };
	struct csms_settings view = { .region = "cn-north-4", .project_id = "b100", .account_id = "a0001",
	                              .target_name = "acme-prod/cn-north-4" };

	log_event(LOG_ERR, NULL, LOG_FIELDS(RECORD_TARGET_FIELDS(&one)), "single");
	log_event(LOG_ERR, NULL, LOG_FIELDS(RECORD_TARGET_FIELDS(&view)), "organisation");
	log_event(LOG_ERR, NULL, LOG_FIELDS(RECORD_TARGET_FIELDS((const struct csms_settings *) NULL)), "none");
}

/* Records name their target in organisation mode only. */
static void test_records_name_target(void **state)
{
	_cleanup_free_ char *resolved = records_of(resolve_two), *fields = records_of(pass_fields);
	char *second = strchr(resolved, '\n');
	const char *org;

	assert_non_null(second);
	*second++ = '\0';
	assert_null(strstr(resolved, "CSMS_TARGET"));
	assert_null(strstr(resolved, "CSMS_PROJECT"));
	assert_non_null(strstr(second, "\"CSMS_TARGET\":\"acme-prod/cn-north-4\""));
	assert_non_null(strstr(second, "\"CSMS_ACCOUNT\":\"a0001\""));
	assert_non_null(strstr(second, "\"CSMS_REGION\":\"cn-north-4\""));
	assert_non_null(strstr(second, "\"CSMS_PROJECT\":\"b100\""));
	org = strstr(fields, "organisation");
	assert_non_null(org);
	assert_null(strstr(fields, "\"CSMS_PROJECT\":\"b0\""));
	assert_non_null(strstr(fields, "\"CSMS_PROJECT\":\"b100\""));
	assert_int_equal(strstr(fields, "CSMS_TARGET") < org, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intent_outcome, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intents_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outcomes_batch, setup, teardown),
		cmocka_unit_test(test_outcome_strings),
		cmocka_unit_test_setup_teardown(test_clocks_with_outcome, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
		cmocka_unit_test(test_grace_trust),
		cmocka_unit_test_setup_teardown(test_root_run_leaves_files_to_owner, setup, teardown),
		cmocka_unit_test(test_directory),
		cmocka_unit_test_setup_teardown(test_clocks_stale_after_failed_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets_isolated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1_fails_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets_save_load, setup, teardown),
		cmocka_unit_test(test_records_name_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
