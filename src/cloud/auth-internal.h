/* auth-internal.h - what the authentication methods share (internal to
 * auth*.c; the contract is auth.h).
 *
 *   auth.c           the state machine: waiters, fetches, hold-off, secrets
 *   auth-aksk.c      static AK/SK, and the request signing ECS keys use too
 *   auth-password.c  IAM password -> project-scoped token
 *   auth-token.c     a token read from a file
 *   auth-ecs.c       temporary keys from the ECS metadata service
 *   auth-agency.c    temporary keys of an agency, assumed by a base identity
 *                    (an aksk or ecs struct auth of its own)
 *
 * A method is a struct auth_ops; adding one is a file and a line in
 * auth.c's table.  A fetch ends in exactly one auth_fetch_finish() (or
 * auth_fetch_fail*(), which log and then finish), which must be the last
 * thing the method does with the struct auth: waiters run from there and
 * may free it.
 */
#ifndef CSMS_AUTH_INTERNAL_H
#define CSMS_AUTH_INTERNAL_H

#include <stdbool.h>
#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "auth.h"

struct auth;

struct auth_ops {
	/* Copy what the method needs from C and read its credential files. */
	int (*setup)(struct auth *a, const struct config *c, char **error);
	/* Start getting fresh credentials; NULL: static, nothing to fetch. */
	void (*fetch)(struct auth *a);
	/* Whether credentials are held and valid now. */
	bool (*usable)(const struct auth *a);
	/* Whether they must be fetched before use. */
	bool (*needs_refresh)(const struct auth *a);
	/* Add the headers of one request (auth_prepare_project()) for
	 * PROJECT_ID: its X-Project-Id; NULL = the auth's own. */
	int (*prepare)(struct auth *a, const char *project_id, const char *method, const char *url,
	               const char *body, size_t body_len, struct curl_slist **headers);
	/* Retry a failed fetch at once rather than after the hold-off: re-reading
	 * a file locks no account out. */
	bool no_holdoff;
};

extern const struct auth_ops auth_aksk_ops, auth_password_ops, auth_token_ops, auth_ecs_ops,
	auth_agency_ops;

struct waiter {
	auth_done_t done;
	void *userdata;
	struct waiter *next;
};

struct auth {
	enum auth_method method;
	const struct auth_ops *ops;
	struct http *http;
	sd_event_source *defer;         /* runs pending auth_ensure() requests */

	char *project_id;
	char *iam_url;                  /* {iam}/v3/auth/tokens?nocatalog=true */
	char *meta_token_url;
	char *meta_key_url;
	char *user;
	char *domain;
	char *token_path;               /* token method: re-read on refresh */
	bool global;                    /* no X-Project-Id of its own (agency's base) */

	/* agency method */
	struct auth *base;              /* the identity that assumes the agency */
	bool base_borrowed;             /* auth_new_with_base(): not ours to free */
	char *assume_url;               /* STS v5 or IAM v3.0 */
	struct agency_settings agency;  /* session_name and duration filled in */
	char *external_id;              /* secret */

	/* Secrets. */
	char *ak;
	char *sk;
	char *security_token;
	char *password;
	char *token;
	uint64_t obtained_at;           /* CLOCK_REALTIME usec */
	uint64_t expires_at;            /* CLOCK_REALTIME usec; 0 = not known */
	bool stale;                     /* refused with 401: replace before use */

	/* The fetch in progress. */
	bool fetching;
	bool meta_retried;
	char *meta_token;
	struct waiter *waiters, **waiters_tail;
	struct waiter *resolving;       /* waiters being called by resolve() */

	/* The last failure, for the hold-off. */
	uint64_t failed_at;             /* CLOCK_MONOTONIC usec; 0 = none */
	int failed_r;
	char *failed_error;

	unsigned busy;                  /* callbacks running */
	bool dead;
};

/* ---- auth.c: secrets and fetches ------------------------------------------- */

void auth_wipe_free_str(char *s);
/* Replace the secret *DST by VALUE (wiping the old one), keeping redaction
 * (redact.h) in step. */
void auth_secret_replace(char **dst, char *value);
/* Append "NAME: VALUE" without leaving a copy of VALUE behind. */
int auth_header_append(struct curl_slist **headers, const char *name, const char *value);
bool auth_has_control_chars(const char *s, size_t len);
/* ROOT as compact JSON, NUL-terminated, *RET_LEN bytes, in a buffer of our
 * own: json_dumpb() writes straight into it, so no growing copies of a
 * secret in ROOT are left in freed memory.  NULL on failure.  The caller
 * wipes and frees it. */
char *auth_json_dump(json_t *root, size_t *ret_len);
/* Wipe the text of JSON string S (a secret in a request body, once
 * dumped); NULL or not a string: nothing. */
void auth_json_wipe(json_t *s);
/* Read [auth] WHAT from PATH with credential_read() into *RET (replaced
 * through auth_secret_replace() on success only). */
int auth_credential_load(const char *what, const char *path, char **ret, char **error);
char *auth_endpoint_url(const char *endpoint, const char *suffix);
/* -EINVAL with "WHAT is not set" unless VALUE is a non-empty string. */
int auth_need(const char *value, const char *what, char **error);
/* How long before EXPIRES_AT credentials obtained at OBTAINED_AT are
 * replaced: a quarter of their life, at most CAP (password: 1 h, agency:
 * 15 min). */
uint64_t auth_refresh_margin(uint64_t obtained_at, uint64_t expires_at, uint64_t cap);
/* Submit CALL with BODY (LEN bytes, holding a secret) as its body, then
 * wipe and free BODY; http_submit()'s result (http.h wipes its copy). */
int auth_submit_secret_body(struct auth *a, struct http_call *call, char *body, size_t len);
/* Temporary keys (ecs, agency): held and not expired. */
bool auth_temporary_usable(const struct auth *a);
/* Whether credentials expiring at a->expires_at need replacing now, with
 * MARGIN to spare, or were refused. */
bool auth_expiring(const struct auth *a, uint64_t margin);

void auth_log_failure(const char *error, long status, const char *code, const char *request_id);
/* The fetch ended with R (ERROR when R < 0). */
void auth_fetch_finish(struct auth *a, int r, const char *error);
/* The same, logging ERROR first. */
void auth_fetch_fail(struct auth *a, int r, const char *error);
/* An HTTP answer that is not what WHAT asked for. */
void auth_fetch_fail_http(struct auth *a, const char *what, const struct http_response *resp);

/* A new struct auth of METHOD (aksk or ecs) from C, whose requests go
 * without X-Project-Id: the base identity of the agency method, which
 * signs requests to STS or IAM in its own account. */
int auth_new_base(const struct config *c, enum auth_method method, struct http *h,
                  struct auth **ret, char **error);

/* ---- auth-token.c ---------------------------------------------------------------- */

/* Send a->token as X-Auth-Token (token and password methods).  The token
 * is scoped to a->project_id: another PROJECT_ID is refused (-ENOKEY). */
int auth_token_header(struct auth *a, const char *project_id, const char *method, const char *url,
                      const char *body, size_t body_len, struct curl_slist **headers);

/* ---- auth-aksk.c ---------------------------------------------------------------- */

/* Sign a request with a->ak, a->sk (and a->security_token), with
 * X-Project-Id PROJECT_ID; NULL: a->project_id, or none for a global auth
 * (a base identity). */
int auth_sign_headers(struct auth *a, const char *project_id, const char *method, const char *url,
                      const char *body, size_t body_len, struct curl_slist **headers);

#endif
