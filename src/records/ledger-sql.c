/* ledger-sql.c - how the ledger's files talk to SQLite: errors as errno
 * with SQLite's text kept for ledger_error(), statements, exact bytes in
 * and out (ledger-internal.h). */
#include "ledger-internal.h"

#include <errno.h>
#include <stdbool.h>
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

static struct ledger_cached *cached_find(struct ledger_db *d, const char *sql)
{
	for (size_t i = 0; i < d->n_cached; i++)
		if (strcmp(d->cached[i].sql, sql) == 0)
			return &d->cached[i];
	return NULL;
}

/* Prepare SQL and keep it on the connection; with MULTI, SQL may be
 * several statements, and then -EDOM says so (nothing kept). */
static int cached_add(struct ledger *l, const char *sql, bool multi, sqlite3_stmt **ret)
{
	struct ledger_db *d = l->d;
	struct ledger_cached *grown;
	sqlite3_stmt *s = NULL;
	const char *tail = NULL;
	int rc;

	rc = sqlite3_prepare_v3(l->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, &tail);
	if (rc != SQLITE_OK)
		return ledger_fail(l, rc);
	tail += strspn(tail, " \t\n;");
	if (*tail || !s) {
		sqlite3_finalize(s);
		if (multi)
			return -EDOM;
		snprintf(l->error, sizeof(l->error), "not one statement");
		return -EINVAL;
	}
	grown = reallocarray(d->cached, d->n_cached + 1, sizeof(*grown));
	if (!grown) {
		sqlite3_finalize(s);
		return -ENOMEM;
	}
	d->cached = grown;
	d->cached[d->n_cached] = (struct ledger_cached) { .sql = strdup(sql), .stmt = s };
	if (!d->cached[d->n_cached].sql) {
		sqlite3_finalize(s);
		return -ENOMEM;
	}
	d->n_cached++;
	*ret = s;
	return 0;
}

/* SQL's kept statement, prepared now if it is not kept yet. */
static int cached_get(struct ledger *l, const char *sql, bool multi, sqlite3_stmt **ret)
{
	struct ledger_cached *c = cached_find(l->d, sql);

	if (c) {
		*ret = c->stmt;
		return 0;
	}
	return cached_add(l, sql, multi, ret);
}

int ledger_prepare_cached(struct ledger *l, const char *sql, sqlite3_stmt **ret)
{
	return cached_get(l, sql, false, ret);
}

void ledger_resetp(sqlite3_stmt **s)
{
	if (*s) {
		sqlite3_reset(*s);
		sqlite3_clear_bindings(*s);
	}
}

void ledger_db_drop_cached(struct ledger_db *d)
{
	for (size_t i = 0; i < d->n_cached; i++) {
		sqlite3_finalize(d->cached[i].stmt);
		free(d->cached[i].sql);
	}
	free(d->cached);
	d->cached = NULL;
	d->n_cached = 0;
}

int ledger_exec(struct ledger *l, const char *sql)
{
	sqlite3_stmt *s;
	int rc, r = cached_get(l, sql, true, &s);

	if (r == -EDOM) {
		rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);
		return rc == SQLITE_OK ? 0 : ledger_fail(l, rc);
	}
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	r = rc == SQLITE_DONE ? 0 : ledger_fail(l, rc);
	sqlite3_reset(s);
	return r;
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
