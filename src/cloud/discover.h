/* discover.h - what an identity can reach: the projects it may use (IAM
 * GET /v3/auth/projects) and, for an organisation's management account,
 * the member accounts (Organizations GET /v1/organizations/accounts,
 * paged by limit and marker) - csms-api.md 7.2.  The building block of
 * governing many accounts and regions; csms-tagd --discover prints it.
 *
 * Pure parts: request URLs and answer decoders with typed results and
 * bounds (decode.h conventions: -EBADMSG with a message naming the field,
 * nothing appended on error).  Client: asynchronous over http.h with
 * auth.h credentials (401: refreshed and retried once, as csms.h), each
 * listing completing exactly once through its callback.  Account paging
 * fails closed: a marker that comes back, more than DISCOVER_MAX_PAGES
 * pages, or more than DISCOVER_MAX_ACCOUNTS accounts end the listing with
 * an error rather than a partial list.  No logging: callers report.
 */
#ifndef CSMS_DISCOVER_H
#define CSMS_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "auth.h"
#include "http.h"

#define DISCOVER_PAGE_LIMIT     500     /* the documented maximum of ListAccounts */
#define DISCOVER_MAX_PAGES      200
#define DISCOVER_MAX_ACCOUNTS   20000   /* far beyond an organisation's quota */
#define DISCOVER_MAX_PROJECTS   5000    /* regions and subprojects of one account */

struct discover_project {
	char *id;
	char *name;             /* the region id, or REGION_SUBPROJECT */
	char *domain_id;        /* the account */
	char *parent_id;        /* NULL when absent */
	bool enabled;
	bool is_domain;         /* the account's own "project": not a region */
};

struct discover_account {
	char *id;
	char *name;
	char *urn;              /* NULL when absent */
	char *status;           /* "active", "suspended", ...; NULL when absent */
	char *join_method;
	char *joined_at;
};

struct discover_projects {
	struct discover_project *v;
	size_t n;
};

struct discover_accounts {
	struct discover_account *v;
	size_t n;
};

void discover_projects_clear(struct discover_projects *p);
void discover_accounts_clear(struct discover_accounts *a);

/* {"projects": [{"id", "name", "domain_id", "parent_id", "enabled",
 * "is_domain", ...}], "links": ...}: replaces *OUT.  Ids must be safe in a
 * URL path (as secret ids, decode.h); more than DISCOVER_MAX_PROJECTS is a
 * bad answer. */
int discover_decode_projects(const char *body, size_t len, struct discover_projects *out,
                             char **error);

/* {"accounts": [{"id", "name", "urn", "status", "join_method",
 * "joined_at"}], "page_info": {"next_marker", "current_count"}}: appends
 * to *OUT (at most MAX_TOTAL in all, else a bad answer) and sets
 * *NEXT_MARKER (malloc'd) to page_info.next_marker, NULL on the last page
 * (null, absent or ""). */
int discover_decode_accounts(const char *body, size_t len, size_t max_total,
                             struct discover_accounts *out, char **next_marker, char **error);

/* ENDPOINT/v1/organizations/accounts?limit=LIMIT[&marker=MARKER], the
 * marker percent-encoded; LIMIT must be 1..DISCOVER_PAGE_LIMIT.  NULL on
 * ENOMEM or a bad LIMIT. */
char *discover_accounts_url(const char *endpoint, unsigned limit, const char *marker);

/* ---- the client ------------------------------------------------------------------------ */

struct discover;

/* A listing ended: R 0 and the result, or R < 0 and ERROR (the HTTP status,
 * error code and message, or the bound that was hit).  STATUS and CODE are
 * the last answer's (0, NULL when none), so a caller can tell "not the
 * management account" (401 Organizations.1001) from a failure.  The result
 * is the caller's to keep: it may move entries out before returning. */
typedef void (*discover_projects_done_t)(int r, const char *error, long status, const char *code,
                                         struct discover_projects *projects, void *userdata);
typedef void (*discover_accounts_done_t)(int r, const char *error, long status, const char *code,
                                         struct discover_accounts *accounts, void *userdata);

/* A client sending through H with the credentials of A (neither owned). */
int discover_new(struct http *h, struct auth *a, struct discover **ret);
/* Cancels what is outstanding, without callbacks. */
void discover_free(struct discover *d);

/* One listing at a time per client; -EBUSY otherwise.  DONE is not called
 * from within these calls but when auth_ensure() cannot even queue (out of
 * memory, a finished loop). */
int discover_list_projects(struct discover *d, const char *iam_endpoint,
                           discover_projects_done_t done, void *userdata);
int discover_list_accounts(struct discover *d, const char *organizations_endpoint,
                           discover_accounts_done_t done, void *userdata);

/* End the listing in progress, if any, without its callback: a wait for
 * credentials is dropped and a queued request is refused before it is
 * sent, but one already sent is left to finish (its answer is dropped),
 * so http_pending() drains as the manager expects (manager.h); until it
 * has, a new listing is refused with -EBUSY. */
void discover_cancel(struct discover *d);

/* ---- csms-tagd --discover ---------------------------------------------------------------- */

/* List the projects C's identity can use and, through auth_base(), the
 * organisation's member accounts, to OUT as a table (JSON with AS_JSON).
 * A base identity that is not an organisation's management account (401
 * Organizations.1001) is a note, not a failure.  Read-only.  Returns 0, or
 * a negative errno after logging the failure. */
int discover_run(const struct config *c, bool as_json, FILE *out);
/* The whole mode: load CONFIG_PATH, discover_run() to stdout; the exit
 * status (0, or 1 after an error on stderr). */
int discover_main(const char *config_path, bool as_json);

#endif
