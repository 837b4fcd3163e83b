/* auth.h - credentials and how requests carry them.
 *
 * Five methods (config.h enum auth_method):
 *   aksk      SDK-HMAC-SHA256 signature (sign.h) with X-Sdk-Date and
 *             X-Project-Id signed; X-Security-Token too when a security
 *             token file is configured (temporary credentials);
 *   password  IAM POST {iam}/v3/auth/tokens?nocatalog=true, project scope by
 *             id; token from X-Subject-Token, refreshed when less than 1/4
 *             of its life (at most 1 h) remains; sent as X-Auth-Token;
 *   token     X-Auth-Token read from a file (re-read on refresh, so a site's
 *             own token tooling can rotate it);
 *   ecs       temporary AK/SK + security token from the ECS metadata service
 *             (PUT /meta-data/latest/api/token, GET
 *             /openstack/latest/securitykey), refreshed when under 40 min
 *             remain, then signed as aksk;
 *   agency    a base identity (aksk files or ecs metadata keys, signing
 *             without X-Project-Id) assumes agency_name of
 *             agency_account_id with STS v5 POST /v5/agencies/assume (or
 *             IAM v3.0 POST /v3.0/OS-CREDENTIAL/securitytokens, api iam);
 *             the temporary AK/SK + security token are signed as aksk and
 *             replaced when a quarter of their life, at most 15 min,
 *             remains.  A 401 of STS/IAM renews the base's keys once; a
 *             403/404 is an error naming the agency and the account.
 * Secrets are read from files only, kept in memory only, wiped on free, and
 * never logged.  Error texts name the file or the endpoint, never a value.
 * Each method is one file, auth-METHOD.c, behind struct auth_ops
 * (auth-internal.h); auth.c is what they share.
 */
#ifndef CSMS_AUTH_H
#define CSMS_AUTH_H

#include <curl/curl.h>
#include <stdbool.h>
#include "config.h"
#include "http.h"

struct auth;

/* Read the credential files the config names.  Returns 0, or a negative
 * errno with *error (malloc'd) naming the file and the problem.  IAM and
 * metadata requests go through H as priority requests (http.h). */
int auth_new(const struct config *c, struct http *h, struct auth **ret, char **error);
/* Drops pending auth_ensure() callbacks and cancels its own requests on H,
 * so call it before http_free(H).  Safe from within an auth_ensure()
 * callback. */
void auth_free(struct auth *a);

/* Make credentials usable: fetch or refresh a token or temporary keys when
 * missing or close to expiry; calls DONE(0) at once (but not from within this
 * call) when nothing is needed.  DONE(r < 0, error text) on failure; only
 * when the request cannot even be queued (out of memory, or the event loop
 * has finished and would never run it) is DONE called from within this
 * call, with that error.
 * Concurrent calls share one fetch.  A failed refresh still reports success
 * while the current credentials are valid and were not refused; after a
 * failure, new fetches wait 5 s (the error is repeated meanwhile), so that
 * refused requests cannot hammer IAM with a wrong password. */
typedef void (*auth_done_t)(int r, const char *error, void *userdata);
void auth_ensure(struct auth *a, auth_done_t done, void *userdata);

/* Drop every pending auth_ensure() callback registered with USERDATA (the
 * waiter's owner token): its owner is going away.  A fetch in progress goes
 * on for the other waiters.  Safe from within any auth_ensure() callback. */
void auth_cancel(struct auth *a, const void *userdata);

/* A request was refused with 401: mark the credentials stale so the next
 * auth_ensure() fetches or re-reads them.  Returns true when that can help
 * (password, token, ecs, agency), false for static AK/SK, where a 401 means a wrong
 * key or a bad signature and retrying would only count towards the lockout. */
bool auth_invalidate(struct auth *a);

/* Add the authentication headers for one request to project PROJECT_ID:
 * AK/SK methods sign it with X-Project-Id PROJECT_ID, so one struct auth
 * per account serves all of that account's projects; NULL = A's own
 * ([csms] project_id of the config it was made from; none for a base
 * identity).  The token methods' token is scoped to their own project:
 * another PROJECT_ID is refused.  Fails with -ENOKEY when no usable
 * credentials are held, -EINVAL for a bad URL or project id. */
int auth_prepare_project(struct auth *a, const char *project_id, const char *method,
                         const char *url, const char *body, size_t body_len,
                         struct curl_slist **headers);
/* auth_prepare_project() with A's own project, in http_prepare_t shape
 * (USERDATA is the struct auth). */
int auth_prepare(struct http_request *req, const char *method, const char *url,
                 const char *body, size_t body_len, struct curl_slist **headers, void *userdata);

/* The identity that signs for itself: the agency method's base identity
 * (which signs without X-Project-Id; for account-wide APIs such as
 * Organizations), else A itself. */
struct auth *auth_base(struct auth *a);

/* Many accounts, one base identity.  Ownership: an auth from auth_new()
 * owns everything it uses but H; an agency auth from auth_new_with_base()
 * BORROWS its base, which must outlive it (free the agency auths first; each
 * cancels its own waits on the base when freed).  A 401 from STS/IAM to one
 * of them renews the shared base for all.
 *
 * The base identity of C: [auth] base when the method is agency, else C's
 * own method, which must be aksk or ecs (else -EINVAL).  It sends no
 * X-Project-Id of its own (STS, IAM, Organizations are account-wide), but
 * signs one given to auth_prepare_project(), so it can also serve the
 * projects of its own account.  Errors as auth_new(). */
int auth_new_base_identity(const struct config *c, struct http *h, struct auth **ret, char **error);
/* As auth_new() for C's agency method (the agency named by C: agency_name
 * in agency_account_id), assuming it through BASE (made by
 * auth_new_base_identity()) rather than through a base of its own: N
 * accounts need one ECS metadata fetch, not N.  -EINVAL unless C's method is
 * agency and BASE a base identity. */
int auth_new_with_base(const struct config *c, struct http *h, struct auth *base,
                       struct auth **ret, char **error);

/* From now on A sends no X-Project-Id of its own, only the one given to
 * auth_prepare_project(): one account's credentials shared by its
 * targets' clients (which always give theirs) and by discovery's
 * account-wide listings (IAM, Organizations), which must carry none. */
void auth_set_global(struct auth *a);

/* Whether credentials are held and not expired (for READY=1 and STATUS). */
bool auth_usable(const struct auth *a);

/* When the credentials held expire: the IAM token's expires_at, the ECS
 * temporary keys' expires_at; CLOCK_REALTIME usec.  0 for static AK/SK and
 * token files (no expiry known) and while none are held. */
uint64_t auth_expiry_usec(const struct auth *a);

#endif
