/* auth.c - credentials and how requests carry them: what every method
 * shares.  The methods are auth-*.c (auth-internal.h).
 *
 * Secrets (keys, password, tokens) live in malloc'd buffers owned by struct
 * auth and are wiped with explicit_bzero() before they are freed or
 * replaced; temporary copies (header lines, request bodies) are wiped too.
 * Error texts and log lines name files, endpoints, HTTP statuses, error
 * codes and request ids: never a credential and never a credential answer.
 *
 * Fetches (IAM token, ECS metadata) are asynchronous and coalesced: every
 * auth_ensure() while one is running waits for the same result.  Callbacks
 * may free the whole struct auth; auth_free() then only marks it dead and
 * the function running the callbacks destroys it on the way out.
 */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth-internal.h"
#include "credentials.h"
#include "decode.h"
#include "log.h"
#include "redact.h"
#include "util.h"

/* After a failed fetch, further attempts wait this long: a wrong password
 * retried by every refused request could get the IAM user locked. */
#define FAILURE_HOLDOFF_USEC    (5 * USEC_PER_SEC)

static const struct auth_ops *const method_ops[] = {
	[AUTH_AKSK] = &auth_aksk_ops,
	[AUTH_PASSWORD] = &auth_password_ops,
	[AUTH_TOKEN] = &auth_token_ops,
	[AUTH_ECS] = &auth_ecs_ops,
	[AUTH_AGENCY] = &auth_agency_ops,
};

static const struct auth_ops *ops_for(enum auth_method m)
{
	return (size_t) m < ELEMENTSOF(method_ops) ? method_ops[m] : NULL;
}

/* --- secrets in memory ------------------------------------------------------ */

void auth_wipe_free_str(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Every secret held is registered for redaction (redact.h) while held. */
void auth_secret_replace(char **dst, char *value)
{
	redact_forget(*dst);
	auth_wipe_free_str(*dst);
	*dst = value;
	(void) redact_register(value);
}

static void credentials_wipe(struct auth *a)
{
	auth_secret_replace(&a->ak, NULL);
	auth_secret_replace(&a->sk, NULL);
	auth_secret_replace(&a->security_token, NULL);
	auth_secret_replace(&a->token, NULL);
	a->expires_at = a->obtained_at = 0;
}

/* Append "NAME: VALUE" without leaving a copy of VALUE behind. */
int auth_header_append(struct curl_slist **headers, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	struct curl_slist *n;
	char *line;

	line = malloc(nl + 2 + vl + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, name, nl);
	memcpy(line + nl, ": ", 2);
	memcpy(line + nl + 2, value, vl + 1);
	n = curl_slist_append(*headers, line);
	auth_wipe_free_str(line);
	if (!n)
		return -ENOMEM;
	*headers = n;
	return 0;
}

bool auth_has_control_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

char *auth_json_dump(json_t *root, size_t *ret_len)
{
	size_t len = json_dumpb(root, NULL, 0, JSON_COMPACT);
	char *buf;

	if (len == 0 || !(buf = malloc(len + 1)))
		return NULL;
	if (json_dumpb(root, buf, len, JSON_COMPACT) != len) {
		explicit_bzero(buf, len);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

void auth_json_wipe(json_t *s)
{
	if (json_is_string(s))
		explicit_bzero((char *) json_string_value(s), json_string_length(s));
}

/* --- credential files -------------------------------------------------------- */

/* Read [auth] WHAT from PATH, which config_load() resolved: credentials.c
 * alone opens and judges credential files, here as at start-up and in
 * --check-config.  On success the value replaces *RET through
 * auth_secret_replace(), so redaction knows it and forgets the old one; on
 * failure *RET is kept. */
int auth_credential_load(const char *what, const char *path, char **ret, char **error)
{
	char *value = NULL;
	int r;

	if (!path) {
		*error = xasprintf("[auth] %s is not set", what);
		return -EINVAL;
	}
	r = credential_read(what, path, &value, error);
	if (r < 0)
		return r;
	auth_secret_replace(ret, value);
	return 0;
}

/* --- set-up ------------------------------------------------------------------- */

/* config_load() has trimmed the endpoint's trailing '/' (values.h). */
char *auth_endpoint_url(const char *endpoint, const char *suffix)
{
	return xasprintf("%s%s", endpoint, suffix);
}

static int on_defer(sd_event_source *s, void *userdata);

int auth_need(const char *value, const char *what, char **error)
{
	if (value && *value)
		return 0;
	*error = xasprintf("%s is not set", what);
	return -EINVAL;
}

static void waiters_free(struct waiter *w)
{
	for (struct waiter *next; w; w = next) {
		next = w->next;
		free(w);
	}
}

static void auth_destroy(struct auth *a)
{
	waiters_free(a->waiters);
	waiters_free(a->resolving);
	sd_event_source_disable_unref(a->defer);
	credentials_wipe(a);
	auth_secret_replace(&a->password, NULL);
	auth_secret_replace(&a->meta_token, NULL);
	free(a->project_id);
	free(a->iam_url);
	free(a->meta_token_url);
	free(a->meta_key_url);
	free(a->user);
	free(a->domain);
	free(a->token_path);
	if (!a->base_borrowed)
		auth_free(a->base);
	auth_secret_replace(&a->external_id, NULL);
	free(a->assume_url);
	agency_settings_free(&a->agency);
	free(a->failed_error);
	free(a);
}

static int auth_new_method(const struct config *c, enum auth_method method, bool global,
                           struct http *h, struct auth *base, struct auth **ret, char **error)
{
	struct auth *a;
	int r;

	*error = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->method = method;
	a->global = global;
	a->http = h;
	a->waiters_tail = &a->waiters;
	/* The agency method's setup makes a base of its own unless given one. */
	a->base = base;
	a->base_borrowed = base != NULL;
	if (c->csms.project_id && !(a->project_id = strdup(c->csms.project_id))) {
		r = -ENOMEM;
		goto fail;
	}
	a->ops = ops_for(method);
	if (!a->ops) {
		*error = xasprintf("unknown authentication method %d", (int) method);
		r = -EINVAL;
		goto fail;
	}
	r = a->ops->setup(a, c, error);
	if (r < 0)
		goto fail;
	r = sd_event_add_defer(http_get_event(h), &a->defer, on_defer, a);
	if (r < 0)
		goto fail;
	r = sd_event_source_set_enabled(a->defer, SD_EVENT_OFF);
	if (r < 0)
		goto fail;
	*ret = a;
	return 0;
fail:
	if (!*error)
		*error = xasprintf("cannot set up %s authentication: %s",
		                   auth_method_to_string(method), strerror(-r));
	auth_destroy(a);
	return r;
}

void auth_set_global(struct auth *a)
{
	a->global = true;
}

int auth_new(const struct config *c, struct http *h, struct auth **ret, char **error)
{
	return auth_new_method(c, c->auth.method, false, h, NULL, ret, error);
}

int auth_new_with_base(const struct config *c, struct http *h, struct auth *base,
                       struct auth **ret, char **error)
{
	if (c->auth.method != AUTH_AGENCY || !base || !base->global) {
		*error = strdup("only the agency method assumes through a shared base identity");
		return -EINVAL;
	}
	return auth_new_method(c, AUTH_AGENCY, false, h, base, ret, error);
}

int auth_new_base_identity(const struct config *c, struct http *h, struct auth **ret, char **error)
{
	return auth_new_base(c, c->auth.method == AUTH_AGENCY ? c->auth.base : c->auth.method, h,
	                     ret, error);
}

int auth_new_base(const struct config *c, enum auth_method method, struct http *h,
                  struct auth **ret, char **error)
{
	if (method != AUTH_AKSK && method != AUTH_ECS) {
		*error = xasprintf("%s cannot be the base identity of an agency",
		                   auth_method_to_string(method));
		return -EINVAL;
	}
	return auth_new_method(c, method, true, h, NULL, ret, error);
}

void auth_free(struct auth *a)
{
	if (!a || a->dead)
		return;
	/* Our own requests (IAM, metadata) must not call back into freed
	 * memory, nor a shared base identity's answer. */
	http_cancel_for(a->http, a);
	if (a->base_borrowed)
		auth_cancel(a->base, a);
	if (a->busy > 0) {
		a->dead = true;
		/* Turning a source off never fails but after a fork. */
		(void) sd_event_source_set_enabled(a->defer, SD_EVENT_OFF);
		return;
	}
	auth_destroy(a);
}

/* --- state ---------------------------------------------------------------------- */

struct auth *auth_base(struct auth *a)
{
	return a->base ? a->base : a;
}

uint64_t auth_expiry_usec(const struct auth *a)
{
	return a->expires_at;
}

bool auth_usable(const struct auth *a)
{
	return a->ops->usable(a);
}

uint64_t auth_refresh_margin(uint64_t obtained_at, uint64_t expires_at, uint64_t cap)
{
	uint64_t life = expires_at > obtained_at ? expires_at - obtained_at : 0;

	return life / 4 < cap ? life / 4 : cap;
}

int auth_submit_secret_body(struct auth *a, struct http_call *call, char *body, size_t len)
{
	int r;

	call->body = body;
	call->body_len = len;
	r = http_submit(a->http, call);
	explicit_bzero(body, len);
	free(body);
	return r;
}

bool auth_temporary_usable(const struct auth *a)
{
	return a->ak && a->sk && now_realtime_usec() < a->expires_at;
}

bool auth_expiring(const struct auth *a, uint64_t margin)
{
	return a->stale || now_realtime_usec() + margin >= a->expires_at;
}

bool auth_invalidate(struct auth *a)
{
	if (!a->ops->fetch)
		return false;
	a->stale = true;
	return true;
}

/* Call every waiter with R.  Must be the last thing its caller does with A.
 * The waiters are taken off a->waiters first (a callback may queue new
 * ones) and popped one by one from a->resolving, so that a callback can
 * auth_cancel() a waiter that has not been called yet. */
static void resolve(struct auth *a, int r, const char *error)
{
	_cleanup_free_ char *copy = NULL;
	struct waiter *w;

	/* ERROR may live in A, which a callback may free. */
	if (error && !(copy = strdup(error)))
		error = "out of memory";
	a->resolving = a->waiters;
	a->waiters = NULL;
	a->waiters_tail = &a->waiters;
	a->busy++;
	while ((w = a->resolving)) {
		a->resolving = w->next;
		if (!a->dead)
			w->done(r, copy ? copy : error, w->userdata);
		free(w);
	}
	if (--a->busy == 0 && a->dead)
		auth_destroy(a);
}

void auth_log_failure(const char *error, long status, const char *code, const char *request_id)
{
	char st[16];

	snprintf(st, sizeof(st), "%ld", status);
	log_event(LOG_ERR, MID_AUTH_FAILED,
	          LOG_FIELDS({ "HTTP_STATUS", status > 0 ? st : NULL },
	                     { "CSMS_ERROR_CODE", code },
	                     { "CSMS_REQUEST_ID", request_id }),
	          "%s", error);
}

/* The fetch ended.  On failure, credentials that are still valid and were
 * not refused are kept (an IAM outage must not stop a working daemon). */
void auth_fetch_finish(struct auth *a, int r, const char *error)
{
	a->fetching = false;
	a->meta_retried = false;
	auth_secret_replace(&a->meta_token, NULL);
	if (r >= 0) {
		a->stale = false;
		a->failed_at = 0;
		resolve(a, 0, NULL);
		return;
	}
	a->failed_at = now_monotonic_usec();
	a->failed_r = r;
	free(a->failed_error);
	a->failed_error = strdup(error ? error : strerror(-r));
	if (!a->stale && auth_usable(a)) {
		char left[64];

		log_warning("Keeping the current credentials, valid for %s more",
		            format_timespan(left, sizeof(left), a->expires_at - now_realtime_usec()));
		resolve(a, 0, NULL);
		return;
	}
	/* Refused and not replaced: sending them again is pointless. */
	credentials_wipe(a);
	resolve(a, r, error);
}

void auth_fetch_fail(struct auth *a, int r, const char *error)
{
	auth_log_failure(error ? error : strerror(-r), 0, NULL, NULL);
	auth_fetch_finish(a, r, error);
}

/* An answer that is not what we asked for.  Its body is an error body, not
 * credentials, so its decoded message may be shown when it parsed. */
void auth_fetch_fail_http(struct auth *a, const char *what, const struct http_response *resp)
{
	_cleanup_free_ char *code = NULL, *message = NULL, *error = NULL;
	const char *shown;
	char st[24];
	int r;

	if (resp->curl_code != CURLE_OK) {
		error = xasprintf("%s: %s", what,
		                  resp->error ? resp->error : curl_easy_strerror(resp->curl_code));
		auth_log_failure(error ? error : what, 0, NULL, NULL);
		auth_fetch_finish(a, -EIO, error ? error : what);
		return;
	}
	if (resp->body_len > 0)
		(void) decode_error_body(resp->body, resp->body_len, &code, &message);
	/* Keystone puts the HTTP status where the code goes: say it once. */
	snprintf(st, sizeof(st), "%ld", resp->status);
	shown = code && strcmp(code, st) != 0 ? code : NULL;
	error = xasprintf("%s: HTTP %ld%s%s%s%s%s%s%s", what, resp->status,
	                  shown ? " " : "", shown ? shown : "",
	                  code && message ? ": " : "", code && message ? message : "",
	                  resp->request_id ? " (request id " : "",
	                  resp->request_id ? resp->request_id : "",
	                  resp->request_id ? ")" : "");
	r = resp->status == 401 || resp->status == 403 ? -EACCES : -EPROTO;
	auth_log_failure(error ? error : what, resp->status, code, resp->request_id);
	auth_fetch_finish(a, r, error ? error : what);
}

/* --- auth_ensure ---------------------------------------------------------------------- */

static void run(struct auth *a)
{
	if (a->fetching || !a->waiters)
		return;
	if (!a->ops->needs_refresh(a)) {
		resolve(a, 0, NULL);
		return;
	}
	if (a->failed_at && now_monotonic_usec() < a->failed_at + FAILURE_HOLDOFF_USEC &&
	    !a->ops->no_holdoff) {
		if (!a->stale && auth_usable(a))
			resolve(a, 0, NULL);
		else
			resolve(a, a->failed_r, a->failed_error);
		return;
	}
	if (a->ops->fetch) {
		a->ops->fetch(a);
		return;
	}
	resolve(a, 0, NULL);
}

static int on_defer(sd_event_source *s, void *userdata)
{
	run(userdata);
	return 0;
}

void auth_ensure(struct auth *a, auth_done_t done, void *userdata)
{
	struct waiter *w = calloc(1, sizeof(*w));
	int r;

	if (!w) {
		/* Nothing can be queued without memory: report at once. */
		done(-ENOMEM, "out of memory", userdata);
		return;
	}
	w->done = done;
	w->userdata = userdata;
	/* Never call back from within this call: the loop runs run(). */
	r = sd_event_source_set_enabled(a->defer, SD_EVENT_ONESHOT);
	if (r < 0) {
		/* The loop cannot run it (it has finished): say so now rather
		 * than leave the caller waiting for ever. */
		free(w);
		done(r, "cannot schedule the credential check on the event loop", userdata);
		return;
	}
	*a->waiters_tail = w;
	a->waiters_tail = &w->next;
}

static void drop_waiters_of(struct waiter **list, const void *userdata)
{
	while (*list) {
		struct waiter *w = *list;

		if (w->userdata != userdata) {
			list = &w->next;
			continue;
		}
		*list = w->next;
		free(w);
	}
}

void auth_cancel(struct auth *a, const void *userdata)
{
	if (!a)
		return;
	drop_waiters_of(&a->resolving, userdata);
	drop_waiters_of(&a->waiters, userdata);
	/* Re-find the tail: the last waiter may have gone. */
	a->waiters_tail = &a->waiters;
	while (*a->waiters_tail)
		a->waiters_tail = &(*a->waiters_tail)->next;
}

/* --- requests ------------------------------------------------------------------ */

int auth_prepare_project(struct auth *a, const char *project_id, const char *method,
                         const char *url, const char *body, size_t body_len,
                         struct curl_slist **headers)
{
	if (!auth_usable(a))
		return -ENOKEY;
	return a->ops->prepare(a, project_id, method, url, body, body_len, headers);
}

int auth_prepare(struct http_request *req, const char *method, const char *url,
                 const char *body, size_t body_len, struct curl_slist **headers, void *userdata)
{
	(void) req;
	return auth_prepare_project(userdata, NULL, method, url, body, body_len, headers);
}
