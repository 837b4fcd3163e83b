/* ledger-sql.c - how the ledger's files talk to SQLite: errors as errno
 * with SQLite's text kept for ledger_error(), statements, exact bytes in
 * and out (ledger-internal.h). */
#include "ledger-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQLite's result codes as errno, keeping the text for ledger_error(). */
int ledger_fail(struct ledger *l, int rc)
{
	snprintf(l->error, sizeof(l->error), "%s", l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_FORMAT:
		return -EBADMSG;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CANTOPEN:
		return -EACCES;
	case SQLITE_IOERR:
		return -EIO;
	default:
		return -EPROTO;
	}
}

int ledger_exec(struct ledger *l, const char *sql)
{
	int rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : ledger_fail(l, rc);
}

void ledger_finalizep(sqlite3_stmt **s)
{
	sqlite3_finalize(*s);
}

void ledger_rollback(struct ledger *l)
{
	(void) sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
}

int ledger_prepare(struct ledger *l, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(l->db, sql, -1, ret, NULL);

	return rc == SQLITE_OK ? 0 : ledger_fail(l, rc);
}

/* Run S to its end (no rows expected). */
int ledger_step_done(struct ledger *l, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc);
}

void ledger_bind_str(sqlite3_stmt *s, int i, const char *v)
{
	/* Exact bytes: SQLite does not check or change TEXT. */
	sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

char *ledger_column_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	int n = sqlite3_column_bytes(s, i);
	char *v = malloc((size_t) n + 1);

	if (!v)
		return NULL;
	memcpy(v, t ? (const char *) t : "", (size_t) n);
	v[n] = '\0';
	return v;
}

int ledger_column_dup_null(sqlite3_stmt *s, int i, char **ret)
{
	*ret = NULL;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	*ret = ledger_column_dup(s, i);
	return *ret ? 0 : -ENOMEM;
}
