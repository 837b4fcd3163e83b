/* auth-ecs.c - the ecs method: temporary AK/SK and security token of the
 * instance's agency from the ECS metadata service (PUT
 * /meta-data/latest/api/token, then GET /openstack/latest/securitykey),
 * refreshed when under 40 minutes remain, and signed as aksk.  See auth.h. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth-internal.h"
#include "decode.h"
#include "log.h"
#include "util.h"

#define ECS_REFRESH_USEC        (40 * 60 * USEC_PER_SEC)
#define METADATA_TOKEN_TTL      "21600"
#define METADATA_TOKEN_MAX      4096
#define AGENCY_MISSING_PHRASE   "Please configure Cloud Service Agency first"

static int ecs_setup(struct auth *a, const struct config *c, char **error)
{
	int r;

	if ((r = auth_need(c->csms.project_id, "[csms] project_id", error)) < 0 ||
	    (r = auth_need(c->csms.metadata_endpoint, "[csms] metadata_endpoint", error)) < 0)
		return r;
	a->meta_token_url = auth_endpoint_url(c->csms.metadata_endpoint, "/meta-data/latest/api/token");
	a->meta_key_url = auth_endpoint_url(c->csms.metadata_endpoint, "/openstack/latest/securitykey");
	return a->meta_token_url && a->meta_key_url ? 0 : -ENOMEM;
}

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
		auth_fetch_fail(a, r, "cannot send a request to the metadata service");
		return;
	}
	a->fetching = true;
}

static void ecs_fetch(struct auth *a)
{
	struct curl_slist *hdrs = NULL;

	auth_secret_replace(&a->meta_token, NULL);
	if (auth_header_append(&hdrs, "X-Metadata-Token-Ttl-Seconds", METADATA_TOKEN_TTL) < 0) {
		auth_fetch_fail(a, -ENOMEM, "out of memory");
		return;
	}
	meta_submit(a, "PUT", a->meta_token_url, hdrs, on_meta_token_done);
}

static void securitykey_fetch(struct auth *a)
{
	struct curl_slist *hdrs = NULL;

	if (a->meta_token && auth_header_append(&hdrs, "X-Metadata-Token", a->meta_token) < 0) {
		auth_fetch_fail(a, -ENOMEM, "out of memory");
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
		    auth_has_control_chars(resp->body, len)) {
			_cleanup_free_ char *e = xasprintf("%s: unusable token in the answer",
			                                   what ? what : "metadata token request");

			auth_log_failure(e ? e : "unusable metadata token", 200, NULL, resp->request_id);
			auth_fetch_finish(a, -EBADMSG, e);
			return;
		}
		char *token = strndup(resp->body, len);

		if (!token) {
			auth_fetch_fail(a, -ENOMEM, "out of memory");
			return;
		}
		auth_secret_replace(&a->meta_token, token);
	} else if (resp->curl_code != CURLE_OK ||
	           (resp->status != 404 && resp->status != 405 && resp->status != 503)) {
		auth_fetch_fail_http(a, what ? what : "metadata token request", resp);
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
			auth_log_failure(error ? error : "no agency", 401, NULL, resp->request_id);
			auth_fetch_finish(a, -EACCES, error);
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
		auth_fetch_fail_http(a, what ? what : "metadata request", resp);
		return;
	}
	if (decode_securitykey(resp->body, resp->body_len, &ak, &sk, &token, &expires, &error) < 0) {
		_cleanup_free_ char *e = xasprintf("%s: bad answer: %s", what ? what : "metadata",
		                                   error ? error : "?");

		auth_wipe_free_str(ak);
		auth_wipe_free_str(sk);
		auth_wipe_free_str(token);
		auth_log_failure(e ? e : "bad metadata answer", 200, NULL, resp->request_id);
		auth_fetch_finish(a, -EBADMSG, e);
		return;
	}
	if (!ak || !*ak || !sk || !*sk || expires <= now) {
		auth_wipe_free_str(ak);
		auth_wipe_free_str(sk);
		auth_wipe_free_str(token);
		error = xasprintf("%s: the answer holds no usable credentials%s", what ? what : "metadata",
		                  expires && expires <= now ? " (already expired; is the clock right?)" : "");
		auth_fetch_fail(a, -EBADMSG, error);
		return;
	}
	auth_secret_replace(&a->ak, ak);
	auth_secret_replace(&a->sk, sk);
	auth_secret_replace(&a->security_token, token && *token ? token : NULL);
	if (token && !*token)
		free(token);
	a->obtained_at = now;
	a->expires_at = expires;
	log_info("Obtained temporary credentials from the ECS metadata service, valid until %s (%s)",
	         format_utc(when, sizeof(when), expires), format_timespan(left, sizeof(left), expires - now));
	auth_fetch_finish(a, 0, NULL);
}


static bool ecs_needs_refresh(const struct auth *a)
{
	return !a->ak || auth_expiring(a, ECS_REFRESH_USEC);
}

const struct auth_ops auth_ecs_ops = {
	.setup = ecs_setup,
	.fetch = ecs_fetch,
	.usable = auth_temporary_usable,
	.needs_refresh = ecs_needs_refresh,
	.prepare = auth_sign_headers,
};
