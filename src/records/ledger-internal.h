/* ledger-internal.h - what the ledger's files (ledger.c, ledger-schema.c,
 * ledger-targets.c) share: the connection, the handle, the SQL helpers.
 * Not for use outside src/records/ledger*.c. */
#ifndef CSMS_LEDGER_INTERNAL_H
#define CSMS_LEDGER_INTERNAL_H

#include <sqlite3.h>
#include "ledger.h"
#include "util.h"

/* One open database, shared by every handle on it (ledger_target()):
 * closed when the last handle is. */
struct ledger_db {
	sqlite3 *db;
	char *path;
	unsigned n_ref;
	/* Statements kept prepared (ledger_prepare_cached()): a pass
	 * writes the same few thousands of times, and SQLite's parser
	 * was a third of the ledger's cost. */
	struct ledger_cached {
		char *sql;
		sqlite3_stmt *stmt;
	} *cached;
	size_t n_cached;
};

/* A handle: the connection, scoped to one target's rows. */
struct ledger {
	struct ledger_db *d;
	sqlite3 *db;            /* d->db, for short */
	char *target;           /* the key: "" for the single-target default */
	char *target_name;      /* "" when unnamed */
	char *account_id;       /* "" when unknown */
	char *region;           /* "" when unknown */
	char error[256];
	bool clocks_stale;      /* a clock save of this target failed: ledger_clocks_load() */
};

/* SQLite's result code RC as a negative errno, keeping its text for
 * ledger_error(). */
int ledger_fail(struct ledger *l, int rc);
/* Run SQL (one statement is kept prepared, as ledger_prepare_cached();
 * several, such as the schema, are run by sqlite3_exec()). */
int ledger_exec(struct ledger *l, const char *sql);
int ledger_prepare(struct ledger *l, const char *sql, sqlite3_stmt **ret);
/* The statement SQL, prepared once per connection and then reused: give
 * it back with ledger_resetp() (_cleanup_reset_), never finalize it.  SQL
 * is a fixed text (the cache is never pruned) and one statement; it must
 * not be in use already further up the stack. */
int ledger_prepare_cached(struct ledger *l, const char *sql, sqlite3_stmt **ret);
void ledger_resetp(sqlite3_stmt **s);
#define _cleanup_reset_ _cleanup_(ledger_resetp)
/* Finalize the statements kept on D (before it is closed). */
void ledger_db_drop_cached(struct ledger_db *d);
/* Run S to its end (no rows expected). */
int ledger_step_done(struct ledger *l, sqlite3_stmt *s);
/* Roll back the open transaction, keeping the error that caused it. */
void ledger_rollback(struct ledger *l);
/* Bind V (NULL: "") as TEXT, exact bytes. */
void ledger_bind_str(sqlite3_stmt *s, int i, const char *v);
/* Column I of the current row, malloc'd ("" for NULL); NULL on -ENOMEM. */
char *ledger_column_dup(sqlite3_stmt *s, int i);
/* The same, but NULL for an SQL NULL; -ENOMEM otherwise on failure. */
int ledger_column_dup_null(sqlite3_stmt *s, int i, char **ret);

void ledger_finalizep(sqlite3_stmt **s);
#define _cleanup_stmt_ _cleanup_(ledger_finalizep)

/* Create the schema of a new file, migrate an older one in place (one
 * transaction), or refuse a newer one (-EPROTONOSUPPORT, with the text in
 * L's error). */
int ledger_schema_setup(struct ledger *l);

#endif
