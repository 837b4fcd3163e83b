/* ledger-schema.c - the ledger's tables, and the migration of older files
 * in place (ledger.h).
 *
 * Version 1: one project per file.  Version 2: every table of a target's
 * state (deletions, grace clocks, kept tags, the clock stamp, passes) has
 * a `target` column, the target's key ("" for the single-target default,
 * which is what every version-1 row becomes), and the keys include it, so
 * that two targets' clocks and stamps never collide; deletions also record
 * the target's name, account and region (for --history and audits); the
 * discovered targets have a table of their own.
 *
 * The tables whose keys change are rebuilt (SQLite cannot change a primary
 * key in place); deletions only gain columns, so their ids -- which
 * journal records name -- are kept.  The migration is one transaction: a
 * crash leaves the version-1 file as it was.  A version-1 csms-tagd that
 * still has the file open fails its next clock save (the tables changed
 * under it) rather than writing rows of the wrong shape.
 */
#include "ledger-internal.h"

#include <errno.h>
#include <stdio.h>

/* The tables whose definition the migration also needs, by NAME. */
#define CLOCKS_TABLE(name) \
	"CREATE TABLE " name " (target TEXT NOT NULL DEFAULT '', digest BLOB NOT NULL," \
	" first_seen_usec INTEGER NOT NULL, PRIMARY KEY (target, digest)) WITHOUT ROWID;"
#define STAMP_TABLE(name) \
	"CREATE TABLE " name " (target TEXT NOT NULL DEFAULT '' PRIMARY KEY," \
	" realtime_usec INTEGER NOT NULL, boottime_usec INTEGER NOT NULL, boot_id TEXT NOT NULL)" \
	" WITHOUT ROWID;"
#define PASSES_TABLE(name) \
	"CREATE TABLE " name " (" \
	" target TEXT NOT NULL DEFAULT '', pass_id TEXT NOT NULL, started_usec INTEGER NOT NULL," \
	" started_boottime_usec INTEGER NOT NULL, boot_id TEXT NOT NULL," \
	" finished_usec INTEGER NOT NULL DEFAULT 0, outcome TEXT," \
	" listing_complete INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (target, pass_id));"
/* What version 2 adds to version 1's deletions, in this order. */
#define DELETION_TARGET_COLUMNS(prefix, sep) \
	prefix "target TEXT NOT NULL DEFAULT ''" sep \
	prefix "target_name TEXT NOT NULL DEFAULT ''" sep \
	prefix "account_id TEXT NOT NULL DEFAULT ''" sep \
	prefix "region TEXT NOT NULL DEFAULT ''"
/* The same in a new file and after a migration. */
#define SCHEMA_COMMON \
	"CREATE INDEX deletions_pending ON deletions(target) WHERE outcome = 'pending';" \
	"CREATE INDEX passes_observing ON passes(target, finished_usec) WHERE listing_complete = 1;" \
	"CREATE TABLE targets (project_id TEXT NOT NULL PRIMARY KEY, seq INTEGER NOT NULL," \
	" name TEXT NOT NULL, account_id TEXT, account_name TEXT, region TEXT NOT NULL," \
	" project_name TEXT, discovered INTEGER NOT NULL DEFAULT 1," \
	" first_seen_usec INTEGER NOT NULL, last_seen_usec INTEGER NOT NULL) WITHOUT ROWID;" \
	"CREATE TABLE targets_saved (one INTEGER PRIMARY KEY CHECK (one = 1)," \
	" saved_usec INTEGER NOT NULL);" \
	"PRAGMA user_version = 2;"

static const char SCHEMA[] =
	"CREATE TABLE deletions ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" pass_id TEXT NOT NULL, secret_id TEXT NOT NULL, secret_name TEXT NOT NULL,"
	" key TEXT NOT NULL, value TEXT NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL,"
	" intent_usec INTEGER NOT NULL,"
	" outcome TEXT NOT NULL DEFAULT 'pending',"
	" outcome_usec INTEGER NOT NULL DEFAULT 0,"
	DELETION_TARGET_COLUMNS(" ", ",") ");"
	"CREATE INDEX deletions_time ON deletions(intent_usec);"
	CLOCKS_TABLE("grace_clocks")
	CLOCKS_TABLE("exempt_kept")
	STAMP_TABLE("clock_stamp")
	PASSES_TABLE("passes")
	SCHEMA_COMMON;

/* Version 1 to 2 (the caller holds the write lock and commits). */
static const char MIGRATE_1_2[] =
	DELETION_TARGET_COLUMNS("ALTER TABLE deletions ADD COLUMN ", ";") ";"
	"DROP INDEX deletions_pending;"
	CLOCKS_TABLE("v2_grace_clocks")
	"INSERT INTO v2_grace_clocks (digest, first_seen_usec) SELECT digest, first_seen_usec FROM grace_clocks;"
	"DROP TABLE grace_clocks; ALTER TABLE v2_grace_clocks RENAME TO grace_clocks;"
	CLOCKS_TABLE("v2_exempt_kept")
	"INSERT INTO v2_exempt_kept (digest, first_seen_usec) SELECT digest, first_seen_usec FROM exempt_kept;"
	"DROP TABLE exempt_kept; ALTER TABLE v2_exempt_kept RENAME TO exempt_kept;"
	STAMP_TABLE("v2_clock_stamp")
	"INSERT INTO v2_clock_stamp (realtime_usec, boottime_usec, boot_id)"
	" SELECT realtime_usec, boottime_usec, boot_id FROM clock_stamp;"
	"DROP TABLE clock_stamp; ALTER TABLE v2_clock_stamp RENAME TO clock_stamp;"
	PASSES_TABLE("v2_passes")
	/* In rowid order: the latest of equal finishing times wins
	 * (ledger_last_observing_pass()). */
	"INSERT INTO v2_passes (pass_id, started_usec, started_boottime_usec, boot_id, finished_usec,"
	" outcome, listing_complete) SELECT pass_id, started_usec, started_boottime_usec, boot_id,"
	" finished_usec, outcome, listing_complete FROM passes ORDER BY rowid;"
	"DROP TABLE passes; ALTER TABLE v2_passes RENAME TO passes;"
	SCHEMA_COMMON;

static int schema_version(struct ledger *l, int *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r = ledger_prepare(l, "PRAGMA user_version", &s);

	if (r < 0)
		return r;
	if (sqlite3_step(s) != SQLITE_ROW)
		return ledger_fail(l, sqlite3_errcode(l->db));
	*ret = sqlite3_column_int(s, 0);
	return 0;
}

static int check_version(struct ledger *l, int version)
{
	if (version <= LEDGER_SCHEMA_VERSION)
		return 0;
	snprintf(l->error, sizeof(l->error), "schema version %d is newer than this csms-tagd's (%d)",
	         version, LEDGER_SCHEMA_VERSION);
	return -EPROTONOSUPPORT;
}

int ledger_schema_setup(struct ledger *l)
{
	int r, version;

	r = schema_version(l, &version);
	if (r < 0 || (r = check_version(l, version)) < 0 || version == LEDGER_SCHEMA_VERSION)
		return r;
	r = ledger_exec(l, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	/* Another process (a hand run beside the service) may have created
	 * or migrated it while we waited for the lock. */
	r = schema_version(l, &version);
	if (r >= 0)
		r = check_version(l, version);
	if (r >= 0 && version == 0)
		r = ledger_exec(l, SCHEMA);
	else if (r >= 0 && version == 1)
		r = ledger_exec(l, MIGRATE_1_2);
	if (r >= 0)
		r = ledger_exec(l, "COMMIT");
	if (r < 0)
		ledger_rollback(l);
	return r;
}
