/* auth.c - credentials and how requests carry them.
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
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credentials.h"
#include "decode.h"
#include "log.h"
#include "redact.h"
#include "sign.h"
#include "util.h"

#define IAM_REFRESH_MAX_USEC    (3600 * USEC_PER_SEC)
#define ECS_REFRESH_USEC        (40 * 60 * USEC_PER_SEC)
#define METADATA_TOKEN_TTL      "21600"
#define METADATA_TOKEN_MAX      4096
#define AGENCY_MISSING_PHRASE   "Please configure Cloud Service Agency first"
/* After a failed fetch, further attempts wait this long: a wrong password
 * retried by every refused request could get the IAM user locked. */
#define FAILURE_HOLDOFF_USEC    (5 * USEC_PER_SEC)

struct waiter {
	auth_done_t done;
	void *userdata;
	struct waiter *next;
};

struct auth {
	enum auth_method method;
	struct http *http;
	sd_event_source *defer;         /* runs pending auth_ensure() requests */

	char *project_id;
	char *iam_url;                  /* {iam}/v3/auth/tokens?nocatalog=true */
	char *meta_token_url;
	char *meta_key_url;
	char *user;
	char *domain;
	char *token_path;               /* token method: re-read on refresh */

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

/* --- secrets in memory ------------------------------------------------------ */

static void wipe_free_str(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Every secret held is registered for redaction (redact.h) while held. */
static void secret_replace(char **dst, char *value)
{
	redact_forget(*dst);
	wipe_free_str(*dst);
	*dst = value;
	(void) redact_register(value);
}

static void credentials_wipe(struct auth *a)
{
	secret_replace(&a->ak, NULL);
	secret_replace(&a->sk, NULL);
	secret_replace(&a->security_token, NULL);
	secret_replace(&a->token, NULL);
	a->expires_at = a->obtained_at = 0;
}

/* Append "NAME: VALUE" without leaving a copy of VALUE behind. */
static int header_append(struct curl_slist **headers, const char *name, const char *value)
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
	wipe_free_str(line);
	if (!n)
		return -ENOMEM;
	*headers = n;
	return 0;
}

static bool has_control_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* --- credential files -------------------------------------------------------- */

/* Read [auth] WHAT from PATH, which config_load() resolved: credentials.c
 * alone opens and judges credential files, here as at start-up and in
 * --check-config.  On success the value replaces *RET through
 * secret_replace(), so redaction knows it and forgets the old one; on
 * failure *RET is kept. */
static int credential_load(const char *what, const char *path, char **ret, char **error)
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
	secret_replace(ret, value);
	return 0;
}

/* --- set-up ------------------------------------------------------------------- */

/* config_load() has trimmed the endpoint's trailing '/' (values.h). */
static char *endpoint_url(const char *endpoint, const char *suffix)
{
	return xasprintf("%s%s", endpoint, suffix);
}

static int on_defer(sd_event_source *s, void *userdata);

static int need(const char *value, const char *what, char **error)
{
	if (value && *value)
		return 0;
	*error = xasprintf("%s is not set", what);
	return -EINVAL;
}

static int setup_method(struct auth *a, const struct config *c, char **error)
{
	const struct auth_settings *s = &c->auth;
	int r;

	switch (s->method) {
	case AUTH_AKSK:
		if ((r = need(c->csms.project_id, "[csms] project_id", error)) < 0 ||
		    (r = credential_load("access_key_file", s->access_key_file, &a->ak, error)) < 0 ||
		    (r = credential_load("secret_key_file", s->secret_key_file, &a->sk, error)) < 0)
			return r;
		if (s->security_token_file)
			return credential_load("security_token_file", s->security_token_file,
			                       &a->security_token, error);
		return 0;
	case AUTH_PASSWORD:
		if ((r = need(c->csms.project_id, "[csms] project_id", error)) < 0 ||
		    (r = need(c->csms.iam_endpoint, "[csms] iam_endpoint", error)) < 0 ||
		    (r = need(s->user, "[auth] user", error)) < 0 ||
		    (r = need(s->domain, "[auth] domain", error)) < 0)
			return r;
		if (!(a->user = strdup(s->user)) || !(a->domain = strdup(s->domain)) ||
		    !(a->iam_url = endpoint_url(c->csms.iam_endpoint, "/v3/auth/tokens?nocatalog=true")))
			return -ENOMEM;
		return credential_load("password_file", s->password_file, &a->password, error);
	case AUTH_TOKEN:
		if (!s->token_file)
			return need(NULL, "[auth] token_file", error);
		a->token_path = strdup(s->token_file);
		if (!a->token_path)
			return -ENOMEM;
		return credential_load("token_file", a->token_path, &a->token, error);
	case AUTH_ECS:
		if ((r = need(c->csms.project_id, "[csms] project_id", error)) < 0 ||
		    (r = need(c->csms.metadata_endpoint, "[csms] metadata_endpoint", error)) < 0)
			return r;
		a->meta_token_url = endpoint_url(c->csms.metadata_endpoint, "/meta-data/latest/api/token");
		a->meta_key_url = endpoint_url(c->csms.metadata_endpoint,
		                               "/openstack/latest/securitykey");
		return a->meta_token_url && a->meta_key_url ? 0 : -ENOMEM;
	}
	*error = xasprintf("unknown authentication method %d", (int) s->method);
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
	secret_replace(&a->password, NULL);
	secret_replace(&a->meta_token, NULL);
	free(a->project_id);
	free(a->iam_url);
	free(a->meta_token_url);
	free(a->meta_key_url);
	free(a->user);
	free(a->domain);
	free(a->token_path);
	free(a->failed_error);
	free(a);
}

int auth_new(const struct config *c, struct http *h, struct auth **ret, char **error)
{
	struct auth *a;
	int r;

	*error = NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->method = c->auth.method;
	a->http = h;
	a->waiters_tail = &a->waiters;
	if (c->csms.project_id && !(a->project_id = strdup(c->csms.project_id))) {
		r = -ENOMEM;
		goto fail;
	}
	r = setup_method(a, c, error);
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
		                   auth_method_to_string(c->auth.method), strerror(-r));
	auth_destroy(a);
	return r;
}

void auth_free(struct auth *a)
{
	if (!a || a->dead)
		return;
	/* Our own requests (IAM, metadata) must not call back into freed memory. */
	http_cancel_for(a->http, a);
	if (a->busy > 0) {
		a->dead = true;
		sd_event_source_set_enabled(a->defer, SD_EVENT_OFF);
		return;
	}
	auth_destroy(a);
}

/* --- state ---------------------------------------------------------------------- */

static uint64_t refresh_margin(const struct auth *a)
{
	uint64_t life;

	if (a->method == AUTH_ECS)
		return ECS_REFRESH_USEC;
	/* password: a quarter of the token's life, at most an hour. */
	life = a->expires_at > a->obtained_at ? a->expires_at - a->obtained_at : 0;
	return life / 4 < IAM_REFRESH_MAX_USEC ? life / 4 : IAM_REFRESH_MAX_USEC;
}

uint64_t auth_expiry_usec(const struct auth *a)
{
	return a->expires_at;
}

bool auth_usable(const struct auth *a)
{
	switch (a->method) {
	case AUTH_AKSK:
		return a->ak && a->sk;
	case AUTH_TOKEN:
		return a->token;
	case AUTH_PASSWORD:
		return a->token && now_realtime_usec() < a->expires_at;
	case AUTH_ECS:
		return a->ak && a->sk && now_realtime_usec() < a->expires_at;
	}
	return false;
}

static bool needs_refresh(const struct auth *a)
{
	switch (a->method) {
	case AUTH_AKSK:
		return false;
	case AUTH_TOKEN:
		return !a->token || a->stale;
	case AUTH_PASSWORD:
		if (!a->token)
			return true;
		break;
	case AUTH_ECS:
		if (!a->ak)
			return true;
		break;
	}
	return a->stale || now_realtime_usec() + refresh_margin(a) >= a->expires_at;
}

bool auth_invalidate(struct auth *a)
{
	if (a->method == AUTH_AKSK)
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

static void log_failure(const char *error, long status, const char *code, const char *request_id)
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
static void fetch_finish(struct auth *a, int r, const char *error)
{
	a->fetching = false;
	a->meta_retried = false;
	secret_replace(&a->meta_token, NULL);
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

static void fetch_fail(struct auth *a, int r, const char *error)
{
	log_failure(error ? error : strerror(-r), 0, NULL, NULL);
	fetch_finish(a, r, error);
}

/* An answer that is not what we asked for.  Its body is an error body, not
 * credentials, so its decoded message may be shown when it parsed. */
static void fetch_fail_http(struct auth *a, const char *what, const struct http_response *resp)
{
	_cleanup_free_ char *code = NULL, *message = NULL, *error = NULL;
	const char *shown;
	char st[24];
	int r;

	if (resp->curl_code != CURLE_OK) {
		error = xasprintf("%s: %s", what,
		                  resp->error ? resp->error : curl_easy_strerror(resp->curl_code));
		log_failure(error ? error : what, 0, NULL, NULL);
		fetch_finish(a, -EIO, error ? error : what);
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
	log_failure(error ? error : what, resp->status, code, resp->request_id);
	fetch_finish(a, r, error ? error : what);
}

/* --- token file ------------------------------------------------------------------ */

static void token_reread(struct auth *a)
{
	_cleanup_free_ char *error = NULL;
	int r;

	/* Replaces a->token only on success. */
	r = credential_load("token_file", a->token_path, &a->token, &error);
	if (r < 0) {
		fetch_fail(a, r, error);
		return;
	}
	log_info("Read the token from %s", a->token_path);
	fetch_finish(a, 0, NULL);
}

/* --- IAM password -> token ---------------------------------------------------------- */

static char *password_body(const struct auth *a, size_t *ret_len)
{
	json_t *pw, *root;
	char *buf = NULL;
	size_t len;

	pw = json_string(a->password);
	if (!pw)
		return NULL;
	root = json_pack("{s:{s:{s:[s],s:{s:{s:s,s:O,s:{s:s}}}},s:{s:{s:s}}}}",
	                 "auth", "identity", "methods", "password",
	                 "password", "user", "name", a->user, "password", pw,
	                 "domain", "name", a->domain,
	                 "scope", "project", "id", a->project_id);
	/* json_dumpb() writes straight into our buffer: no growing copies of
	 * the password are left behind in freed memory. */
	if (root && (len = json_dumpb(root, NULL, 0, JSON_COMPACT)) > 0 && (buf = malloc(len + 1))) {
		if (json_dumpb(root, buf, len, JSON_COMPACT) == len) {
			buf[len] = '\0';
			*ret_len = len;
		} else {
			explicit_bzero(buf, len);
			free(buf);
			buf = NULL;
		}
	}
	explicit_bzero((char *) json_string_value(pw), json_string_length(pw));
	json_decref(root);
	json_decref(pw);
	return buf;
}

static void on_iam_done(struct http_request *req, const struct http_response *resp, void *userdata)
{
	struct auth *a = userdata;
	_cleanup_free_ char *error = NULL, *what = NULL;
	uint64_t expires, now = now_realtime_usec();
	char when[32], left[64];
	char *token;

	what = xasprintf("IAM token request to %s", a->iam_url);
	if (resp->curl_code != CURLE_OK || (resp->status != 201 && resp->status != 200)) {
		fetch_fail_http(a, what ? what : "IAM token request", resp);
		return;
	}
	if (!resp->subject_token) {
		error = xasprintf("%s: the answer has no usable X-Subject-Token header%s%s%s", what,
		                  resp->request_id ? " (request id " : "",
		                  resp->request_id ? resp->request_id : "",
		                  resp->request_id ? ")" : "");
		log_failure(error ? error : "IAM answer without a token", resp->status, NULL,
		            resp->request_id);
		fetch_finish(a, -EBADMSG, error);
		return;
	}
	if (decode_iam_token(resp->body, resp->body_len, &expires, &error) < 0) {
		_cleanup_free_ char *e = xasprintf("%s: bad answer: %s", what, error ? error : "?");

		log_failure(e ? e : "bad IAM answer", resp->status, NULL, resp->request_id);
		fetch_finish(a, -EBADMSG, e);
		return;
	}
	if (expires <= now) {
		error = xasprintf("%s: the token expired at %s already (is the clock right?)", what,
		                  format_utc(when, sizeof(when), expires));
		fetch_fail(a, -EBADMSG, error);
		return;
	}
	token = strdup(resp->subject_token);
	if (!token) {
		fetch_fail(a, -ENOMEM, "out of memory");
		return;
	}
	secret_replace(&a->token, token);
	a->obtained_at = now;
	a->expires_at = expires;
	log_info("Obtained an IAM token for user %s, valid until %s (%s)", a->user,
	         format_utc(when, sizeof(when), expires), format_timespan(left, sizeof(left), expires - now));
	fetch_finish(a, 0, NULL);
}

static void password_fetch(struct auth *a)
{
	struct http_call call = {
		.method = "POST",
		.url = a->iam_url,
		.content_type = "application/json;charset=utf8",
		.done = on_iam_done,
		.userdata = a,
		.priority = true,
	};
	size_t len = 0;
	char *body;
	int r;

	body = password_body(a, &len);
	if (!body) {
		fetch_fail(a, -ENOMEM, "cannot build the IAM token request");
		return;
	}
	call.body = body;
	call.body_len = len;
	r = http_submit(a->http, &call);
	explicit_bzero(body, len);
	free(body);
	if (r < 0) {
		fetch_fail(a, r, "cannot send the IAM token request");
		return;
	}
	a->fetching = true;
}

/* --- ECS metadata ------------------------------------------------------------------- */

static void on_securitykey_done(struct http_request *req, const struct http_response *resp,
                                void *userdata);
static void on_meta_token_done(struct http_request *req, const struct http_response *resp,
                               void *userdata);

static void meta_submit(struct auth *a, const char *method, const char *url,
                        struct curl_slist *hdrs, http_done_t done)
{
	struct http_call call = {
		.method = method,
		.url = url,
		.headers = hdrs,
		.done = done,
		.userdata = a,
		.priority = true,
		.no_proxy = true,
	};
	int r;

	r = http_submit(a->http, &call);
	if (r < 0) {
		curl_slist_free_all(hdrs);
		fetch_fail(a, r, "cannot send a request to the metadata service");
		return;
	}
	a->fetching = true;
}

static void ecs_fetch(struct auth *a)
{
	struct curl_slist *hdrs = NULL;

	secret_replace(&a->meta_token, NULL);
	if (header_append(&hdrs, "X-Metadata-Token-Ttl-Seconds", METADATA_TOKEN_TTL) < 0) {
		fetch_fail(a, -ENOMEM, "out of memory");
		return;
	}
	meta_submit(a, "PUT", a->meta_token_url, hdrs, on_meta_token_done);
}

static void securitykey_fetch(struct auth *a)
{
	struct curl_slist *hdrs = NULL;

	if (a->meta_token && header_append(&hdrs, "X-Metadata-Token", a->meta_token) < 0) {
		fetch_fail(a, -ENOMEM, "out of memory");
		return;
	}
	meta_submit(a, "GET", a->meta_key_url, hdrs, on_securitykey_done);
}

static void on_meta_token_done(struct http_request *req, const struct http_response *resp,
                               void *userdata)
{
	struct auth *a = userdata;
	_cleanup_free_ char *what = xasprintf("metadata token request to %s", a->meta_token_url);
	size_t len = resp->body_len;

	if (resp->curl_code == CURLE_OK && resp->status == 200) {
		while (len > 0 && (resp->body[len - 1] == '\n' || resp->body[len - 1] == '\r' ||
		                   resp->body[len - 1] == ' '))
			len--;
		if (len == 0 || len > METADATA_TOKEN_MAX || strlen(resp->body) < len ||
		    has_control_chars(resp->body, len)) {
			_cleanup_free_ char *e = xasprintf("%s: unusable token in the answer",
			                                   what ? what : "metadata token request");

			log_failure(e ? e : "unusable metadata token", 200, NULL, resp->request_id);
			fetch_finish(a, -EBADMSG, e);
			return;
		}
		char *token = strndup(resp->body, len);

		if (!token) {
			fetch_fail(a, -ENOMEM, "out of memory");
			return;
		}
		secret_replace(&a->meta_token, token);
	} else if (resp->curl_code != CURLE_OK ||
	           (resp->status != 404 && resp->status != 405 && resp->status != 503)) {
		fetch_fail_http(a, what ? what : "metadata token request", resp);
		return;
	}
	/* 404, 405, 503: this metadata service has no session tokens. */
	securitykey_fetch(a);
}

static bool body_contains(const struct http_response *resp, const char *phrase)
{
	return resp->body_len > 0 && memmem(resp->body, resp->body_len, phrase, strlen(phrase));
}

static void on_securitykey_done(struct http_request *req, const struct http_response *resp,
                                void *userdata)
{
	struct auth *a = userdata;
	_cleanup_free_ char *what = xasprintf("metadata request to %s", a->meta_key_url);
	_cleanup_free_ char *error = NULL;
	char *ak = NULL, *sk = NULL, *token = NULL;
	uint64_t expires = 0, now = now_realtime_usec();
	char when[32], left[64];

	if (resp->curl_code == CURLE_OK && resp->status == 401) {
		if (body_contains(resp, AGENCY_MISSING_PHRASE)) {
			error = xasprintf("%s: no agency is attached to this ECS (\"%s\"), "
			                  "so it has no temporary credentials", what ? what : "metadata",
			                  AGENCY_MISSING_PHRASE);
			log_failure(error ? error : "no agency", 401, NULL, resp->request_id);
			fetch_finish(a, -EACCES, error);
			return;
		}
		if (!a->meta_retried) {
			/* The session token may have expired: get a new one, once. */
			a->meta_retried = true;
			ecs_fetch(a);
			return;
		}
	}
	if (resp->curl_code != CURLE_OK || resp->status != 200) {
		fetch_fail_http(a, what ? what : "metadata request", resp);
		return;
	}
	if (decode_securitykey(resp->body, resp->body_len, &ak, &sk, &token, &expires, &error) < 0) {
		_cleanup_free_ char *e = xasprintf("%s: bad answer: %s", what ? what : "metadata",
		                                   error ? error : "?");

		wipe_free_str(ak);
		wipe_free_str(sk);
		wipe_free_str(token);
		log_failure(e ? e : "bad metadata answer", 200, NULL, resp->request_id);
		fetch_finish(a, -EBADMSG, e);
		return;
	}
	if (!ak || !*ak || !sk || !*sk || expires <= now) {
		wipe_free_str(ak);
		wipe_free_str(sk);
		wipe_free_str(token);
		error = xasprintf("%s: the answer holds no usable credentials%s", what ? what : "metadata",
		                  expires && expires <= now ? " (already expired; is the clock right?)" : "");
		fetch_fail(a, -EBADMSG, error);
		return;
	}
	secret_replace(&a->ak, ak);
	secret_replace(&a->sk, sk);
	secret_replace(&a->security_token, token && *token ? token : NULL);
	if (token && !*token)
		free(token);
	a->obtained_at = now;
	a->expires_at = expires;
	log_info("Obtained temporary credentials from the ECS metadata service, valid until %s (%s)",
	         format_utc(when, sizeof(when), expires), format_timespan(left, sizeof(left), expires - now));
	fetch_finish(a, 0, NULL);
}

/* --- auth_ensure ---------------------------------------------------------------------- */

static void run(struct auth *a)
{
	if (a->fetching || !a->waiters)
		return;
	if (!needs_refresh(a)) {
		resolve(a, 0, NULL);
		return;
	}
	if (a->failed_at && now_monotonic_usec() < a->failed_at + FAILURE_HOLDOFF_USEC &&
	    a->method != AUTH_TOKEN) {
		if (!a->stale && auth_usable(a))
			resolve(a, 0, NULL);
		else
			resolve(a, a->failed_r, a->failed_error);
		return;
	}
	switch (a->method) {
	case AUTH_TOKEN:
		token_reread(a);
		return;
	case AUTH_PASSWORD:
		password_fetch(a);
		return;
	case AUTH_ECS:
		ecs_fetch(a);
		return;
	case AUTH_AKSK:
		break;
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

	if (!w) {
		/* Nothing can be queued without memory: report at once. */
		done(-ENOMEM, "out of memory", userdata);
		return;
	}
	w->done = done;
	w->userdata = userdata;
	*a->waiters_tail = w;
	a->waiters_tail = &w->next;
	/* Never call back from within this call: the loop runs run(). */
	sd_event_source_set_enabled(a->defer, SD_EVENT_ONESHOT);
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

/* --- signing ---------------------------------------------------------------------------- */

static void curl_freep(char **p)
{
	curl_free(*p);
}

static void curl_url_cleanupp(CURLU **u)
{
	curl_url_cleanup(*u);
}

/* The value of header NAME in HEADERS (as it will be sent), or NULL. */
static const char *header_find(const struct curl_slist *headers, const char *name)
{
	size_t nl = strlen(name);

	for (; headers; headers = headers->next) {
		const char *d = headers->data, *v;

		if (strncasecmp(d, name, nl) != 0 || d[nl] != ':')
			continue;
		for (v = d + nl + 1; *v == ' ' || *v == '\t'; v++)
			;
		return *v ? v : NULL;
	}
	return NULL;
}

/* The Host header curl sends for URL: the host as in the URL, with ":port"
 * only when the port is not the scheme's default. */
static int url_parts(const char *url, char **ret_host, char **ret_path, char **ret_query)
{
	_cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
	_cleanup_(curl_freep) char *scheme = NULL, *host = NULL, *port = NULL;
	char *path = NULL, *query = NULL;
	CURLUcode uc;
	bool default_port;

	if (!u)
		return -ENOMEM;
	/* Same flags as the transfer (CURLOPT_PATH_AS_IS). */
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		return -EINVAL;
	default_port = (strcasecmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
	               (strcasecmp(scheme, "http") == 0 && strcmp(port, "80") == 0);
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		return -EINVAL;
	uc = curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (uc != CURLUE_OK && uc != CURLUE_NO_QUERY) {
		curl_free(path);
		return -EINVAL;
	}
	*ret_host = default_port ? strdup(host) : xasprintf("%s:%s", host, port);
	*ret_path = strdup(path);
	*ret_query = query ? strdup(query) : NULL;
	curl_free(path);
	curl_free(query);
	if (!*ret_host || !*ret_path || (query && !*ret_query)) {
		free(*ret_host);
		free(*ret_path);
		free(*ret_query);
		return -ENOMEM;
	}
	return 0;
}

static int sign_headers(struct auth *a, const char *method, const char *url, const char *body,
                        size_t body_len, struct curl_slist **headers)
{
	_cleanup_free_ char *host = NULL, *path = NULL, *query = NULL, *authz = NULL;
	struct sign_header sh[5];
	struct sign_request sr = {
		.method = method,
		.headers = sh,
		.body = body,
		.body_len = body ? body_len : 0,
	};
	const char *ctype = header_find(*headers, "Content-Type");
	char date[17];
	size_t n = 0;
	int r;

	r = url_parts(url, &host, &path, &query);
	if (r < 0)
		return r;
	sr.path = path;
	sr.query = query;
	sign_format_date(time(NULL), date);
	sh[n++] = (struct sign_header) { "Host", host };
	sh[n++] = (struct sign_header) { SIGN_DATE_HEADER, date };
	sh[n++] = (struct sign_header) { "X-Project-Id", a->project_id };
	if (ctype)
		sh[n++] = (struct sign_header) { "Content-Type", ctype };
	if (a->security_token)
		sh[n++] = (struct sign_header) { "X-Security-Token", a->security_token };
	sr.n_headers = n;
	r = sign_authorization(&sr, a->ak, a->sk, &authz);
	if (r < 0)
		return r;
	if ((r = header_append(headers, SIGN_DATE_HEADER, date)) < 0 ||
	    (r = header_append(headers, "X-Project-Id", a->project_id)) < 0 ||
	    (a->security_token &&
	     (r = header_append(headers, "X-Security-Token", a->security_token)) < 0) ||
	    (r = header_append(headers, "Authorization", authz)) < 0)
		return r;
	return 0;
}

int auth_prepare(struct http_request *req, const char *method, const char *url,
                 const char *body, size_t body_len, struct curl_slist **headers, void *userdata)
{
	struct auth *a = userdata;

	if (!auth_usable(a))
		return -ENOKEY;
	switch (a->method) {
	case AUTH_PASSWORD:
	case AUTH_TOKEN:
		return header_append(headers, "X-Auth-Token", a->token);
	case AUTH_AKSK:
	case AUTH_ECS:
		return sign_headers(a, method, url, body, body_len, headers);
	}
	return -EINVAL;
}
