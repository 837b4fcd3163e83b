/* auth-password.c - the password method: IAM POST {iam}/v3/auth/tokens,
 * project scope by id; the token from X-Subject-Token, refreshed when less
 * than a quarter of its life (at most an hour) remains.  See auth.h. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth-internal.h"
#include "decode.h"
#include "log.h"
#include "util.h"

#define IAM_REFRESH_MAX_USEC    (3600 * USEC_PER_SEC)

static int password_setup(struct auth *a, const struct config *c, char **error)
{
	const struct auth_settings *s = &c->auth;
	int r;

	if ((r = auth_need(c->csms.project_id, "[csms] project_id", error)) < 0 ||
	    (r = auth_need(c->csms.iam_endpoint, "[csms] iam_endpoint", error)) < 0 ||
	    (r = auth_need(s->user, "[auth] user", error)) < 0 ||
	    (r = auth_need(s->domain, "[auth] domain", error)) < 0)
		return r;
	if (!(a->user = strdup(s->user)) || !(a->domain = strdup(s->domain)) ||
	    !(a->iam_url = auth_endpoint_url(c->csms.iam_endpoint, "/v3/auth/tokens?nocatalog=true")))
		return -ENOMEM;
	return auth_credential_load("password_file", s->password_file, &a->password, error);
}

static char *password_body(const struct auth *a, size_t *ret_len)
{
	json_t *pw, *root;
	char *buf;

	pw = json_string(a->password);
	if (!pw)
		return NULL;
	root = json_pack("{s:{s:{s:[s],s:{s:{s:s,s:O,s:{s:s}}}},s:{s:{s:s}}}}",
	                 "auth", "identity", "methods", "password",
	                 "password", "user", "name", a->user, "password", pw,
	                 "domain", "name", a->domain,
	                 "scope", "project", "id", a->project_id);
	buf = root ? auth_json_dump(root, ret_len) : NULL;
	json_decref(root);
	auth_json_wipe(pw);
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
		auth_fetch_fail_http(a, what ? what : "IAM token request", resp);
		return;
	}
	if (!resp->subject_token) {
		error = xasprintf("%s: the answer has no usable X-Subject-Token header%s%s%s", what,
		                  resp->request_id ? " (request id " : "",
		                  resp->request_id ? resp->request_id : "",
		                  resp->request_id ? ")" : "");
		auth_log_failure(error ? error : "IAM answer without a token", resp->status, NULL,
		                 resp->request_id);
		auth_fetch_finish(a, -EBADMSG, error);
		return;
	}
	if (decode_iam_token(resp->body, resp->body_len, &expires, &error) < 0) {
		_cleanup_free_ char *e = xasprintf("%s: bad answer: %s", what, error ? error : "?");

		auth_log_failure(e ? e : "bad IAM answer", resp->status, NULL, resp->request_id);
		auth_fetch_finish(a, -EBADMSG, e);
		return;
	}
	if (expires <= now) {
		error = xasprintf("%s: the token expired at %s already (is the clock right?)", what,
		                  format_utc(when, sizeof(when), expires));
		auth_fetch_fail(a, -EBADMSG, error);
		return;
	}
	token = strdup(resp->subject_token);
	if (!token) {
		auth_fetch_fail(a, -ENOMEM, "out of memory");
		return;
	}
	auth_secret_replace(&a->token, token);
	a->obtained_at = now;
	a->expires_at = expires;
	log_info("Obtained an IAM token for user %s, valid until %s (%s)", a->user,
	         format_utc(when, sizeof(when), expires), format_timespan(left, sizeof(left), expires - now));
	auth_fetch_finish(a, 0, NULL);
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
		auth_fetch_fail(a, -ENOMEM, "cannot build the IAM token request");
		return;
	}
	r = auth_submit_secret_body(a, &call, body, len);
	if (r < 0) {
		auth_fetch_fail(a, r, "cannot send the IAM token request");
		return;
	}
	a->fetching = true;
}


static bool password_usable(const struct auth *a)
{
	return a->token && now_realtime_usec() < a->expires_at;
}

static bool password_needs_refresh(const struct auth *a)
{
	/* A quarter of the token's life, at most an hour. */
	return !a->token || auth_expiring(a, auth_refresh_margin(a->obtained_at, a->expires_at,
	                                                         IAM_REFRESH_MAX_USEC));
}

const struct auth_ops auth_password_ops = {
	.setup = password_setup,
	.fetch = password_fetch,
	.usable = password_usable,
	.needs_refresh = password_needs_refresh,
	.prepare = auth_token_header,
};
