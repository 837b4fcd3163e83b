/* csms.h - the CSMS API client: URLs, bodies, retries, error decoding.
 *
 * Built on http.h (transport, parallelism, pacing), auth.h (credentials) and
 * decode.h (answers are handed over decoded).
 * Every call completes exactly once through its callback with a csms_result.
 * Retry policy (retry.h has the pure schedule):
 *   - transport errors, timeouts, 500/502/503/504: retried with exponential
 *     backoff and full jitter;
 *   - 429: retried after Retry-After (or the backoff), and the client's
 *     lane pauses for that long (its account: the rate limit is per
 *     account), so a throttled account is not hammered while the others go
 *     on; a client on the default lane pauses the whole http;
 *   - 401: credentials refreshed once (auth_invalidate + auth_ensure) and the
 *     call retried once; never for static AK/SK, where repeated signature
 *     failures would lock the key;
 *   - anything else is final.
 */
#ifndef CSMS_CSMS_H
#define CSMS_CSMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>
#include "auth.h"
#include "config.h"
#include "http.h"
#include "observation.h"

struct csms;

enum csms_api {
	API_LIST_RESOURCE_INSTANCES,
	API_LIST_SECRETS,
	API_LIST_SECRET_TAGS,
	API_DELETE_SECRET_TAG,
	API_CREATE_SECRET_TAG,
	_API_MAX,
};

/* What a call ended with.  On success (r == 0) the answer is decoded into
 * the typed part that belongs to the API; an answer that does not decode
 * ends the call with r = -EBADMSG and MESSAGE naming the bad field, so no
 * caller ever sees JSON.  Everything here is valid only during the
 * callback; the callee may move entries out of SECRETS, TAGS and SYS_TAGS
 * (the client frees whatever is left). */
struct csms_result {
	int r;                  /* 0: success (2xx, decoded); < 0: failed */
	long status;            /* last HTTP status, 0 when no answer */
	const char *error_code; /* e.g. "CSMS.0005", "APIGW.0308", or NULL */
	const char *message;    /* error text (decoded, escaped) or NULL */
	const char *request_id; /* X-Request-Id of the last answer, or NULL */
	unsigned attempts;
	bool throttled;         /* the last failure was a 429 */

	/* ListResourceInstances: the page's secrets (tags complete) and the
	 * total_count the answer claims.  ListSecrets: the page's secrets
	 * (tags not read) and the marker of the next page (NULL: last page,
	 * see decode_list_secrets()). */
	struct observation *secrets;
	int64_t total_count;
	const char *next_marker;
	/* ListSecretTags. */
	struct tag_list *tags;
	struct tag_list *sys_tags;
};

typedef void (*csms_done_t)(const struct csms_result *res, void *userdata);

struct csms_stats {
	uint64_t calls[_API_MAX];       /* HTTP requests sent, per API */
	uint64_t retries;
	uint64_t throttled;
	uint64_t auth_refreshes;
};

/* Create a client for config C on EVENT, with an http and credentials of
 * its own (http_new() from C's [daemon] limits, auth_new()). */
int csms_new(sd_event *event, const struct config *c, struct csms **ret, char **error);
/* A client for target view CFG ([csms] endpoint and project_id) over a
 * shared H, LANE (its account's; NULL = the default lane) and A (its
 * account's credentials; every request is signed with CFG's project id,
 * auth_prepare_project()).  It owns none of them: they must outlive it.
 * A 429 pauses LANE only (http_lane_pause(); with LANE NULL, the whole H);
 * csms_pending() counts its own requests.  Returns 0, -ENOMEM, or -EINVAL
 * with *ERROR set. */
int csms_new_shared(sd_event *event, const struct config *cfg, struct http *h,
                    struct http_lane *lane, struct auth *a, struct csms **ret, char **error);
/* Free the client.  An owned one (csms_new()) frees its http and auth,
 * dropping everything on them; a shared one cancels its own calls only,
 * queued and in flight, and its own waits for credentials, without
 * callbacks: the other clients on H and A go on.  Safe from within its
 * callbacks. */
void csms_free(struct csms *c);

/* The calls a pass makes (pass.c, observe.c, execute.c, resolve.c), as a
 * table: the real client's (csms_new()) or a test's fake
 * (tests/unit/test-pass.c), which embeds a struct csms with its own ops.
 * The csms_*() functions below dispatch through it; the others (create,
 * stats, hooks, expiry) are the real client's only.
 *
 * Every call and credential wait is registered with an OWNER token (any
 * pointer that identifies who asked, e.g. the pass), and cancel drops all
 * that OWNER has outstanding: no callback reaches it afterwards.  A
 * request already handed to curl is not cut in half (a DELETE either
 * happens or not); it finishes in the background without a callback.
 * Every call completes exactly once, never from within the call. */
struct csms_ops {
	sd_event *(*get_event)(const struct csms *c);
	/* Make credentials usable (auth_ensure()); DONE never runs from
	 * within.  OWNER is the owner token and DONE's userdata. */
	void (*ensure_auth)(struct csms *c, auth_done_t done, void *owner);
	/* Drop every outstanding call and credential wait of OWNER, without
	 * callbacks.  Safe from within any callback. */
	void (*cancel)(struct csms *c, const void *owner);
	/* HTTP requests queued or in flight (including cancelled ones still
	 * finishing), for draining at shutdown: the whole http's for an owned
	 * client, the client's own for a shared one. */
	size_t (*pending)(const struct csms *c);
	void (*list_resource_instances)(struct csms *c, const void *owner, unsigned offset,
	                                unsigned limit, csms_done_t done, void *userdata);
	void (*list_secrets)(struct csms *c, const void *owner, const char *marker, unsigned limit,
	                     csms_done_t done, void *userdata);
	void (*list_secret_tags)(struct csms *c, const void *owner, const char *secret_id,
	                         csms_done_t done, void *userdata);
	/* DeleteSecretTag.  VALUE is what was observed; it is only sent for
	 * the keys "." and "..", which go through BatchCreateOrDeleteTags
	 * instead.  AHEAD: start before every other queued request (a delete
	 * right after its re-check, to keep the window between the two
	 * short); still paced. */
	void (*delete_secret_tag)(struct csms *c, const void *owner, const char *secret_id,
	                          const char *key, const char *value, bool ahead,
	                          csms_done_t done, void *userdata);
};

/* A client, as its users see it: a client's own struct starts with this. */
struct csms {
	const struct csms_ops *ops;
};

static inline sd_event *csms_get_event(const struct csms *c)
{
	return c->ops->get_event(c);
}
static inline void csms_ensure_auth(struct csms *c, auth_done_t done, void *owner)
{
	c->ops->ensure_auth(c, done, owner);
}
static inline void csms_cancel(struct csms *c, const void *owner)
{
	c->ops->cancel(c, owner);
}
static inline size_t csms_pending(const struct csms *c)
{
	return c->ops->pending(c);
}
static inline void csms_list_resource_instances(struct csms *c, const void *owner, unsigned offset,
                                                unsigned limit, csms_done_t done, void *userdata)
{
	c->ops->list_resource_instances(c, owner, offset, limit, done, userdata);
}
static inline void csms_list_secrets(struct csms *c, const void *owner, const char *marker,
                                     unsigned limit, csms_done_t done, void *userdata)
{
	c->ops->list_secrets(c, owner, marker, limit, done, userdata);
}
static inline void csms_list_secret_tags(struct csms *c, const void *owner, const char *secret_id,
                                         csms_done_t done, void *userdata)
{
	c->ops->list_secret_tags(c, owner, secret_id, done, userdata);
}
static inline void csms_delete_secret_tag(struct csms *c, const void *owner, const char *secret_id,
                                          const char *key, const char *value, bool ahead,
                                          csms_done_t done, void *userdata)
{
	c->ops->delete_secret_tag(c, owner, secret_id, key, value, ahead, done, userdata);
}

bool csms_auth_usable(const struct csms *c);

/* Every callback of C's calls and credential waits runs with CTX as the
 * log context (log.h): the records of whatever the callee logs carry its
 * target and pass.  CTX (NULL: none) must outlive the client; its fields
 * may change between callbacks (a new pass id).  The real client's only. */
struct log_context;
void csms_set_log_context(struct csms *c, const struct log_context *ctx);

/* CreateSecretTag: add KEY=VALUE to the secret (csms-api.md 2.5).  Only
 * --restore calls this (restore.h): the daemon never creates a tag.  The
 * API may overwrite a key that exists, so the caller reads the tags first. */
void csms_create_secret_tag(struct csms *c, const void *owner, const char *secret_id,
                            const char *key, const char *value, csms_done_t done, void *userdata);

/* Pure helpers (csms-errors.c). */

/* Whether a failed result means "that tag or secret does not exist"
 * (400 CSMS.0005 or 404 with a CSMS code): converged for a delete. */
bool csms_result_is_gone(const struct csms_result *res);

/* "429 APIGW.0308 throttled", "HTTP 500 CSMS.0001: message", "timeout" ... */
const char *csms_result_describe(const struct csms_result *res, char *buf, size_t size);

/* The error class of a failed result, for the error counters (metrics.h):
 * the API's error code ("CSMS.0401", "APIGW.0308"); "http-NNN" for an
 * answer without one; "invalid-answer" for a 2xx answer that did not
 * decode; "transport" for no answer (connection, TLS, timeout); "no-request"
 * when none could be sent (no usable credentials, out of memory).  NULL for
 * a success.  Returns RES's code or BUF. */
const char *csms_result_error_class(const struct csms_result *res, char *buf, size_t size);

/* Called once for every call that ends failed, after its retries, except
 * the answers csms_result_is_gone() accepts (the tag or secret is not there:
 * converged); a cancelled call ends without it.  For the manager's error
 * counters.  HOOK NULL: none. */
typedef void (*csms_failure_hook_t)(enum csms_api api, const struct csms_result *res, void *userdata);
void csms_set_failure_hook(struct csms *c, csms_failure_hook_t hook, void *userdata);

/* When the credentials held expire (IAM token, ECS temporary keys),
 * CLOCK_REALTIME usec; 0 when they do not or it is not known. */
uint64_t csms_credentials_expiry(const struct csms *c);

void csms_get_stats(const struct csms *c, struct csms_stats *ret);
const char *csms_api_name(enum csms_api api);

#endif
