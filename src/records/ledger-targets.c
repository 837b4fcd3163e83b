/* ledger-targets.c - the targets discovery found, kept in the ledger's
 * file (ledger.h) so that a restart knows which appeared or vanished
 * since, and --check-config can show them without asking the cloud. */
#include "ledger-internal.h"

#include <errno.h>
#include <stdlib.h>

#include "config.h"

static int upsert(struct ledger *l, sqlite3_stmt *s, const struct target *t, size_t seq,
                  uint64_t now_usec)
{
	sqlite3_reset(s);
	ledger_bind_str(s, 1, t->project_id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64) seq);
	ledger_bind_str(s, 3, t->name);
	/* NULL stays NULL: "the base identity's own account", "no name". */
	sqlite3_bind_text(s, 4, t->account_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 5, t->account_name, -1, SQLITE_TRANSIENT);
	ledger_bind_str(s, 6, t->region);
	sqlite3_bind_text(s, 7, t->project_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 8, t->discovered);
	sqlite3_bind_int64(s, 9, (sqlite3_int64) now_usec);
	return ledger_step_done(l, s);
}

int ledger_targets_save(struct ledger *l, const struct target *t, size_t n, uint64_t now_usec)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *st = NULL;
	int r;

	for (size_t i = 0; i < n; i++)
		if (!t[i].project_id || !*t[i].project_id || !t[i].region)
			return -EINVAL;
	r = ledger_prepare(l, "INSERT INTO targets (project_id, seq, name, account_id, account_name, region,"
	                      " project_name, discovered, first_seen_usec, last_seen_usec)"
	                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)"
	                      " ON CONFLICT (project_id) DO UPDATE SET seq = excluded.seq,"
	                      " name = excluded.name, account_id = excluded.account_id,"
	                      " account_name = excluded.account_name, region = excluded.region,"
	                      " project_name = excluded.project_name, discovered = excluded.discovered,"
	                      " last_seen_usec = excluded.last_seen_usec", &s);
	if (r >= 0)
		r = ledger_prepare(l, "INSERT OR REPLACE INTO targets_saved VALUES (1, ?)", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64) now_usec);
	r = ledger_exec(l, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	/* Those not saved again are gone: marked, then dropped. */
	r = ledger_exec(l, "UPDATE targets SET seq = -1");
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = upsert(l, s, &t[i], i, now_usec);
	if (r >= 0)
		r = ledger_exec(l, "DELETE FROM targets WHERE seq < 0");
	if (r >= 0)
		r = ledger_step_done(l, st);
	if (r >= 0)
		r = ledger_exec(l, "COMMIT");
	if (r < 0)
		ledger_rollback(l);
	return r;
}

static void targets_free(struct target *t, size_t n)
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

static int row_to_target(sqlite3_stmt *s, struct target *t)
{
	*t = (struct target) {
		.project_id = ledger_column_dup(s, 0),
		.name = ledger_column_dup(s, 1),
		.region = ledger_column_dup(s, 4),
		.discovered = sqlite3_column_int(s, 6) != 0,
	};
	if (!t->project_id || !t->name || !t->region ||
	    ledger_column_dup_null(s, 2, &t->account_id) < 0 ||
	    ledger_column_dup_null(s, 3, &t->account_name) < 0 ||
	    ledger_column_dup_null(s, 5, &t->project_name) < 0)
		return -ENOMEM;
	return 0;
}

static int load_saved(struct ledger *l, uint64_t *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int rc, r = ledger_prepare(l, "SELECT saved_usec FROM targets_saved", &s);

	*ret = 0;
	if (r < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*ret = (uint64_t) sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		return ledger_fail(l, rc);
	return 0;
}

int ledger_targets_load(struct ledger *l, struct target **ret, size_t *n, uint64_t *ret_saved_usec)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct target *v = NULL;
	size_t k = 0, cap = 0;
	int rc, r;

	*ret = NULL;
	*n = 0;
	r = load_saved(l, ret_saved_usec);
	if (r >= 0)
		r = ledger_prepare(l, "SELECT project_id, name, account_id, account_name, region, project_name,"
		                      " discovered FROM targets ORDER BY seq, project_id", &s);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (k == cap) {
			size_t c = cap ? cap * 2 : 16;
			struct target *p = reallocarray(v, c, sizeof(*v));

			if (!p) {
				targets_free(v, k);
				return -ENOMEM;
			}
			v = p;
			cap = c;
		}
		r = row_to_target(s, &v[k++]);
		if (r < 0) {
			targets_free(v, k);
			return r;
		}
	}
	if (rc != SQLITE_DONE) {
		targets_free(v, k);
		return ledger_fail(l, rc);
	}
	*ret = v;
	*n = k;
	return 0;
}
