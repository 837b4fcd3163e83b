/* ledger.c - the write-ahead deletion ledger (SQLite, WAL).  See ledger.h. */
#include "ledger-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strtable.h"
#include "util.h"

static const char *const ledger_outcome_table[_LEDGER_OUTCOME_MAX] = {
	[LEDGER_PENDING] = "pending",
	[LEDGER_DELETED] = "deleted",
	[LEDGER_ALREADY_GONE] = "already-gone",
	[LEDGER_FAILED] = "failed",
	[LEDGER_UNKNOWN] = "unknown",
};

STRING_TABLE_TO_STRING(ledger_outcome, enum ledger_outcome, "?")
STRING_TABLE_FROM_STRING(ledger_outcome)

/* SQLite creates LEDGER_FILE-wal and -shm beside the database, owned by
 * whoever opens it first.  After a hand run as root the service's dynamic
 * user could then not write them (SQLITE_READONLY/CANTOPEN for every later
 * pass): so a root process gives the files the owner of the directory,
 * which is the service's user (StateDirectory=). */
static void give_to_directory_owner(const char *dir, const char *db)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	struct stat st;

	if (geteuid() != 0 || stat(dir, &st) < 0 || st.st_uid == 0)
		return;
	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		_cleanup_free_ char *p = xasprintf("%s%s", db, suffixes[i]);

		/* A file that is not there is fine; nothing else can be done. */
		if (p)
			(void) lchown(p, st.st_uid, st.st_gid);
	}
}

static int setup(struct ledger *l)
{
	int r;

	sqlite3_busy_timeout(l->db, 5000);
	/* WAL: readers (--history, --restore) never block the daemon, and a
	 * commit is one append; NORMAL is crash-safe in WAL mode and only an
	 * intent needs FULL (ledger_intent()). */
	r = ledger_exec(l, "PRAGMA journal_mode = WAL");
	if (r >= 0)
		r = ledger_exec(l, "PRAGMA synchronous = NORMAL");
	if (r >= 0)
		r = ledger_exec(l, "PRAGMA foreign_keys = ON");
	if (r >= 0)
		r = ledger_schema_setup(l);
	return r;
}

/* A new handle on D (taking a reference) for target KEY. */
static int handle_new(struct ledger_db *d, const char *key, const char *name, const char *account_id,
                      const char *region, struct ledger **ret)
{
	struct ledger *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	*l = (struct ledger) {
		.d = d, .db = d->db,
		.target = strdup(key), .target_name = strdup(name ? name : ""),
		.account_id = strdup(account_id ? account_id : ""), .region = strdup(region ? region : ""),
	};
	d->n_ref++;
	if (!l->target || !l->target_name || !l->account_id || !l->region) {
		ledger_close(l);
		return -ENOMEM;
	}
	*ret = l;
	return 0;
}

int ledger_open(const char *dir, struct ledger **ret)
{
	struct ledger_db *d = calloc(1, sizeof(*d));
	struct ledger *l = NULL;
	int rc, r;

	if (!d)
		return -ENOMEM;
	d->path = xasprintf("%s/%s", dir, LEDGER_FILE);
	r = d->path ? handle_new(d, "", NULL, NULL, NULL, &l) : -ENOMEM;
	if (r < 0) {
		free(d->path);
		free(d);
		return r;
	}
	r = ledger_check_directory(dir);
	if (r < 0) {
		snprintf(l->error, sizeof(l->error), "%s: %s", dir, strerror(-r));
		goto fail;
	}
	rc = sqlite3_open_v2(d->path, &d->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	l->db = d->db;
	if (rc != SQLITE_OK) {
		r = ledger_fail(l, rc);
		goto fail;
	}
	(void) chmod(d->path, 0600);
	/* Switching to WAL takes a lock SQLite does not wait for: two runs
	 * opening a new ledger at once retry for a few seconds. */
	for (int i = 0; (r = setup(l)) == -EBUSY && i < 100; i++)
		usleep(50 * 1000);
	give_to_directory_owner(dir, d->path);
	if (r < 0)
		goto fail;
	*ret = l;
	return 0;
fail:
	ledger_close(l);
	return r;
}

int ledger_target(struct ledger *l, const char *key, const char *name, const char *account_id,
                  const char *region, struct ledger **ret)
{
	if (!key)
		return -EINVAL;
	return handle_new(l->d, key, name, account_id, region, ret);
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	if (--l->d->n_ref == 0) {
		ledger_db_drop_cached(l->d);
		sqlite3_close(l->d->db);
		free(l->d->path);
		free(l->d);
	}
	free(l->target);
	free(l->target_name);
	free(l->account_id);
	free(l->region);
	free(l);
}

const char *ledger_path(const struct ledger *l) { return l->d->path; }
const char *ledger_error(const struct ledger *l) { return l->error; }
const char *ledger_target_key(const struct ledger *l) { return l->target; }

static int insert_intent(struct ledger *l, sqlite3_stmt *s, const struct ledger_deletion *d,
                         int64_t *ret_id)
{
	int r;

	sqlite3_reset(s);
	ledger_bind_str(s, 1, d->pass_id);
	ledger_bind_str(s, 2, d->secret_id);
	ledger_bind_str(s, 3, d->secret_name);
	ledger_bind_str(s, 4, d->key);
	ledger_bind_str(s, 5, d->value);
	ledger_bind_str(s, 6, d->rule);
	ledger_bind_str(s, 7, d->reason);
	sqlite3_bind_int64(s, 8, (sqlite3_int64) d->intent_usec);
	/* The target is the handle's, whatever D says. */
	ledger_bind_str(s, 9, l->target);
	ledger_bind_str(s, 10, l->target_name);
	ledger_bind_str(s, 11, l->account_id);
	ledger_bind_str(s, 12, l->region);
	r = ledger_step_done(l, s);
	if (r >= 0)
		*ret_id = sqlite3_last_insert_rowid(l->db);
	return r;
}

int ledger_intents(struct ledger *l, const struct ledger_deletion *d, size_t n, int64_t *ret_ids)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	int r;

	r = ledger_prepare_cached(l, "INSERT INTO deletions (pass_id, secret_id, secret_name, key, value, rule, reason,"
	               " intent_usec, target, target_name, account_id, region)"
	               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &s);
	if (r < 0)
		return r;
	/* The one write that must be on disk before we act on it. */
	r = ledger_exec(l, "PRAGMA synchronous = FULL");
	if (r >= 0)
		r = ledger_exec(l, "BEGIN IMMEDIATE");
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = insert_intent(l, s, &d[i], &ret_ids[i]);
	if (r >= 0)
		r = ledger_exec(l, "COMMIT");
	if (r < 0)
		ledger_rollback(l);
out:
	(void) ledger_exec(l, "PRAGMA synchronous = NORMAL");
	return r;
}

int ledger_intent(struct ledger *l, const struct ledger_deletion *d, int64_t *ret_id)
{
	return ledger_intents(l, d, 1, ret_id);
}

static int drop_clock(struct ledger *l, const uint8_t *digest)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	int r = ledger_prepare_cached(l, "DELETE FROM grace_clocks WHERE target = ? AND digest = ?", &s);

	if (r < 0)
		return r;
	ledger_bind_str(s, 1, l->target);
	sqlite3_bind_blob(s, 2, digest, GRACE_DIGEST_LEN, SQLITE_STATIC);
	return ledger_step_done(l, s);
}

static int set_outcome(struct ledger *l, sqlite3_stmt *s, const struct ledger_outcome_row *row)
{
	int r;

	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, ledger_outcome_table[row->outcome], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64) row->at_usec);
	sqlite3_bind_int64(s, 3, row->id);
	ledger_bind_str(s, 4, l->target);
	r = ledger_step_done(l, s);
	if (r >= 0 && sqlite3_changes(l->db) == 0)
		r = -ENOENT;
	if (r >= 0 && row->drop_clock)
		r = drop_clock(l, row->clock);
	return r;
}

int ledger_outcomes(struct ledger *l, const struct ledger_outcome_row *rows, size_t n)
{
	_cleanup_reset_ sqlite3_stmt *s = NULL;
	int r;

	for (size_t i = 0; i < n; i++)
		if ((unsigned) rows[i].outcome >= _LEDGER_OUTCOME_MAX)
			return -EINVAL;
	if (n == 0)
		return 0;
	r = ledger_prepare_cached(l, "UPDATE deletions SET outcome = ?, outcome_usec = ? WHERE id = ? AND target = ?", &s);
	if (r < 0)
		return r;
	r = ledger_exec(l, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = set_outcome(l, s, &rows[i]);
	if (r >= 0)
		return ledger_exec(l, "COMMIT");
	ledger_rollback(l);
	return r;
}

int ledger_outcome(struct ledger *l, int64_t id, enum ledger_outcome o, uint64_t at_usec,
                   const uint8_t *clock)
{
	struct ledger_outcome_row row = { .id = id, .outcome = o, .at_usec = at_usec, .drop_clock = clock };

	if (clock)
		memcpy(row.clock, clock, GRACE_DIGEST_LEN);
	return ledger_outcomes(l, &row, 1);
}

int ledger_resolve(struct ledger *l, int64_t id, enum ledger_outcome o, uint64_t at_usec)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	if ((unsigned) o >= _LEDGER_OUTCOME_MAX || o == LEDGER_PENDING)
		return -EINVAL;
	r = ledger_prepare(l, "UPDATE deletions SET outcome = ?, outcome_usec = ? WHERE id = ? AND target = ?"
	                   " AND outcome = 'pending'", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, ledger_outcome_table[o], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64) at_usec);
	sqlite3_bind_int64(s, 3, id);
	ledger_bind_str(s, 4, l->target);
	r = ledger_step_done(l, s);
	if (r >= 0 && sqlite3_changes(l->db) == 0)
		return -EALREADY;
	return r;
}

void ledger_list_clear(struct ledger_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		struct ledger_deletion *d = &list->v[i];

		free(d->pass_id);
		free(d->secret_id);
		free(d->secret_name);
		free(d->key);
		free(d->value);
		free(d->rule);
		free(d->reason);
		free(d->target);
		free(d->target_name);
		free(d->account_id);
		free(d->region);
	}
	free(list->v);
	*list = (struct ledger_list) {};
}

#define DELETION_COLUMNS "id, pass_id, secret_id, secret_name, key, value, rule, reason, " \
	"intent_usec, outcome, outcome_usec, target, target_name, account_id, region"

/* Read the current row of S (DELETION_COLUMNS) into D. */
static int row_to_deletion(sqlite3_stmt *s, struct ledger_deletion *d)
{
	char **strs[] = { &d->pass_id, &d->secret_id, &d->secret_name, &d->key, &d->value,
	                  &d->rule, &d->reason };
	char **target[] = { &d->target, &d->target_name, &d->account_id, &d->region };
	int o;

	*d = (struct ledger_deletion) { .id = sqlite3_column_int64(s, 0) };
	for (size_t i = 0; i < ELEMENTSOF(strs); i++)
		if (!(*strs[i] = ledger_column_dup(s, (int) i + 1)))
			return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(target); i++)
		if (!(*target[i] = ledger_column_dup(s, (int) i + 11)))
			return -ENOMEM;
	d->intent_usec = (uint64_t) sqlite3_column_int64(s, 8);
	o = ledger_outcome_from_string((const char *) sqlite3_column_text(s, 9));
	d->outcome = o < 0 ? LEDGER_UNKNOWN : (enum ledger_outcome) o;
	d->outcome_usec = (uint64_t) sqlite3_column_int64(s, 10);
	return 0;
}

static int list_push(struct ledger_list *list, struct ledger_deletion **ret)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		struct ledger_deletion *v = reallocarray(list->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		list->v = v;
		list->cap = cap;
	}
	*ret = &list->v[list->n++];
	**ret = (struct ledger_deletion) {};
	return 0;
}

/* Whether the current row of S (DELETION_COLUMNS) is of a target whose
 * key or name matches GLOB. */
static bool target_matches(sqlite3_stmt *s, const char *glob)
{
	const char *key = (const char *) sqlite3_column_text(s, 11);
	const char *name = (const char *) sqlite3_column_text(s, 12);

	return fnmatch(glob, key ? key : "", 0) == 0 || (name && *name && fnmatch(glob, name, 0) == 0);
}

/* Collect the rows of S that pass Q (NULL: all) into RET. */
static int collect(struct ledger *l, sqlite3_stmt *s, const struct ledger_query *q,
                   struct ledger_list *ret)
{
	int rc, r;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct ledger_deletion *d;
		const char *name = (const char *) sqlite3_column_text(s, 3);

		if (q && q->secret_glob && fnmatch(q->secret_glob, name ? name : "", 0) != 0)
			continue;
		if (q && q->target_glob && !target_matches(s, q->target_glob))
			continue;
		if (q && q->limit && ret->n == q->limit)
			return -E2BIG;
		r = list_push(ret, &d);
		if (r >= 0)
			r = row_to_deletion(s, d);
		if (r < 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc);
}

int ledger_pending(struct ledger *l, struct ledger_list *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r = ledger_prepare(l, "SELECT " DELETION_COLUMNS " FROM deletions WHERE target = ? AND "
	                   "outcome = 'pending' ORDER BY id", &s);

	if (r < 0)
		return r;
	ledger_bind_str(s, 1, l->target);
	return collect(l, s, NULL, ret);
}

int ledger_query(struct ledger *l, const struct ledger_query *q, struct ledger_list *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r = ledger_prepare(l, "SELECT " DELETION_COLUMNS " FROM deletions WHERE intent_usec >= ?1 "
	                   "AND (?2 = 0 OR intent_usec <= ?2) AND (?3 = 0 OR outcome = 'deleted') "
	                   "AND (?4 IS NULL OR target = ?4) ORDER BY id", &s);

	if (r < 0)
		return r;
	/* Without a glob, this handle's rows; with one, collect() matches. */
	if (!q->target_glob)
		ledger_bind_str(s, 4, l->target);
	sqlite3_bind_int64(s, 1, (sqlite3_int64) q->since_usec);
	sqlite3_bind_int64(s, 2, (sqlite3_int64) q->until_usec);
	sqlite3_bind_int(s, 3, q->deleted_only);
	return collect(l, s, q, ret);
}

/* Read digest set TABLE into *RET, dropping entries after NOW. */
static int load_set(struct ledger *l, const char *table, uint64_t now_usec, struct grace_clocks *ret,
                    size_t *future)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *sql = xasprintf("SELECT digest, first_seen_usec FROM %s WHERE target = ?", table);
	int rc, r;

	if (!sql)
		return -ENOMEM;
	r = ledger_prepare(l, sql, &s);
	if (r < 0)
		return r;
	ledger_bind_str(s, 1, l->target);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t t = (uint64_t) sqlite3_column_int64(s, 1);

		if (sqlite3_column_bytes(s, 0) != GRACE_DIGEST_LEN)
			continue;       /* not ours: that clock restarts */
		if (t > now_usec) {
			(*future)++;
			continue;
		}
		r = grace_clocks_add(ret, sqlite3_column_blob(s, 0), t);
		if (r < 0)
			return r;
	}
	if (rc != SQLITE_DONE)
		return ledger_fail(l, rc);
	grace_clocks_sort(ret);
	return 0;
}

static int load_stamp(struct ledger *l, struct grace_stamp *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int rc, r = ledger_prepare(l, "SELECT realtime_usec, boottime_usec, boot_id FROM clock_stamp "
	                               "WHERE target = ?", &s);

	*ret = (struct grace_stamp) {};
	if (r < 0)
		return r;
	ledger_bind_str(s, 1, l->target);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return ledger_fail(l, rc);
	ret->realtime_usec = (uint64_t) sqlite3_column_int64(s, 0);
	ret->boottime_usec = (uint64_t) sqlite3_column_int64(s, 1);
	snprintf(ret->boot_id, sizeof(ret->boot_id), "%s", (const char *) sqlite3_column_text(s, 2));
	return 0;
}

int ledger_clocks_load(struct ledger *l, uint64_t now_usec, struct grace_clocks *clocks,
                       struct grace_clocks *kept, size_t *ret_future, struct grace_stamp *ret_stamp)
{
	size_t future = 0, ignored = 0;
	int r;

	*clocks = (struct grace_clocks) {};
	*kept = (struct grace_clocks) {};
	*ret_stamp = (struct grace_stamp) {};
	if (ret_future)
		*ret_future = 0;
	if (l->clocks_stale)
		return -ESTALE;
	r = load_set(l, "grace_clocks", now_usec, clocks, &future);
	if (r >= 0)
		r = load_set(l, "exempt_kept", UINT64_MAX, kept, &ignored);
	if (r >= 0)
		r = load_stamp(l, ret_stamp);
	if (r < 0) {
		grace_clocks_clear(clocks);
		grace_clocks_clear(kept);
		return r;
	}
	if (ret_future)
		*ret_future = future;
	return 0;
}

static int insert_set(struct ledger *l, const char *table, const struct grace_clocks *c)
{
	_cleanup_stmt_ sqlite3_stmt *d = NULL, *s = NULL;
	_cleanup_free_ char *del = xasprintf("DELETE FROM %s WHERE target = ?", table);
	_cleanup_free_ char *ins = xasprintf("INSERT OR REPLACE INTO %s (target, digest, first_seen_usec)"
	                                     " VALUES (?, ?, ?)", table);
	int r;

	if (!del || !ins)
		return -ENOMEM;
	r = ledger_prepare(l, del, &d);
	if (r >= 0) {
		ledger_bind_str(d, 1, l->target);
		r = ledger_step_done(l, d);
	}
	if (r >= 0)
		r = ledger_prepare(l, ins, &s);
	if (r >= 0)
		ledger_bind_str(s, 1, l->target);
	for (size_t i = 0; r >= 0 && c && i < c->n; i++) {
		sqlite3_bind_blob(s, 2, c->v[i].digest, GRACE_DIGEST_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, (sqlite3_int64) c->v[i].first_seen_usec);
		r = ledger_step_done(l, s);
		sqlite3_reset(s);
	}
	return r;
}

static int save_stamp(struct ledger *l, const struct grace_stamp *st)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r = ledger_prepare(l, "INSERT OR REPLACE INTO clock_stamp (target, realtime_usec,"
	                               " boottime_usec, boot_id) VALUES (?, ?, ?, ?)", &s);

	if (r < 0)
		return r;
	ledger_bind_str(s, 1, l->target);
	sqlite3_bind_int64(s, 2, (sqlite3_int64) st->realtime_usec);
	sqlite3_bind_int64(s, 3, (sqlite3_int64) st->boottime_usec);
	ledger_bind_str(s, 4, st->boot_id);
	return ledger_step_done(l, s);
}

int ledger_clocks_save(struct ledger *l, const struct grace_clocks *clocks,
                       const struct grace_clocks *kept, const struct grace_stamp *stamp)
{
	int r = ledger_exec(l, "BEGIN IMMEDIATE");

	if (r >= 0) {
		r = insert_set(l, "grace_clocks", clocks);
		if (r >= 0)
			r = insert_set(l, "exempt_kept", kept);
		if (r >= 0)
			r = save_stamp(l, stamp);
		if (r >= 0)
			r = ledger_exec(l, "COMMIT");
		if (r < 0)
			ledger_rollback(l);
	}
	l->clocks_stale = r < 0;
	return r;
}

int ledger_pass_begin(struct ledger *l, const struct ledger_pass *p)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r = ledger_prepare(l, "INSERT OR REPLACE INTO passes (pass_id, started_usec,"
	                          " started_boottime_usec, boot_id, target) VALUES (?, ?, ?, ?, ?)", &s);

	if (r < 0)
		return r;
	ledger_bind_str(s, 1, p->pass_id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64) p->started_usec);
	sqlite3_bind_int64(s, 3, (sqlite3_int64) p->started_boottime_usec);
	ledger_bind_str(s, 4, p->boot_id);
	ledger_bind_str(s, 5, l->target);
	return ledger_step_done(l, s);
}

int ledger_pass_end(struct ledger *l, const char *pass_id, uint64_t finished_usec,
                    const char *outcome, bool listing_complete)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r = ledger_prepare(l, "UPDATE passes SET finished_usec = ?, outcome = ?, listing_complete = ? "
	                   "WHERE pass_id = ? AND target = ?", &s);

	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, (sqlite3_int64) finished_usec);
	ledger_bind_str(s, 2, outcome);
	sqlite3_bind_int(s, 3, listing_complete);
	ledger_bind_str(s, 4, pass_id);
	ledger_bind_str(s, 5, l->target);
	r = ledger_step_done(l, s);
	if (r >= 0 && sqlite3_changes(l->db) == 0)
		return -ENOENT;
	return r;
}

int ledger_last_observing_pass(struct ledger *l, const char *pass_id, struct ledger_pass *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int rc, r;

	r = ledger_prepare(l, "SELECT pass_id, started_usec, started_boottime_usec, boot_id, finished_usec,"
	               " outcome, listing_complete FROM passes WHERE listing_complete = 1 AND"
	               " finished_usec > 0 AND pass_id != ?1 AND target = ?2 ORDER BY finished_usec DESC, rowid DESC"
	               " LIMIT 1", &s);
	if (r < 0)
		return r;
	ledger_bind_str(s, 1, pass_id ? pass_id : "");
	ledger_bind_str(s, 2, l->target);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return ledger_fail(l, rc);
	*ret = (struct ledger_pass) {
		.pass_id = ledger_column_dup(s, 0),
		.started_usec = (uint64_t) sqlite3_column_int64(s, 1),
		.started_boottime_usec = (uint64_t) sqlite3_column_int64(s, 2),
		.boot_id = ledger_column_dup(s, 3),
		.finished_usec = (uint64_t) sqlite3_column_int64(s, 4),
		.outcome = ledger_column_dup(s, 5),
		.listing_complete = true,
	};
	if (!ret->pass_id || !ret->boot_id || !ret->outcome) {
		ledger_pass_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

void ledger_pass_clear(struct ledger_pass *p)
{
	free(p->pass_id);
	free(p->boot_id);
	free(p->outcome);
	*p = (struct ledger_pass) {};
}
