/* auth-agency.c - the agency method: a base identity (its own struct auth,
 * method aksk or ecs, signing without X-Project-Id) assumes an IAM agency
 * of another account, with STS v5 POST /v5/agencies/assume or IAM v3.0
 * POST /v3.0/OS-CREDENTIAL/securitytokens (csms-api.md 7.1); the agency's
 * temporary AK/SK and security token then sign requests as aksk.
 *
 * Refreshed when a quarter of their life, at most 15 minutes, remains (the
 * SDKs' rule for temporary keys is a fixed margin; a quarter keeps a 15
 * minute session from being renewed at once).  A 401 from STS/IAM marks
 * the base stale and is retried once (the ECS keys may have just expired);
 * a refused (403) or unknown (404) agency is an error naming the agency and
 * account, and auth.c's hold-off keeps it from being retried in a loop.
 */
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

#define AGENCY_REFRESH_MAX_USEC (15 * 60 * USEC_PER_SEC)

static int agency_setup(struct auth *a, const struct config *c, char **error)
{
	const struct agency_settings *s = &c->auth.agency;
	bool sts = s->api == AGENCY_API_STS;
	const char *endpoint = sts ? c->csms.sts_endpoint : c->csms.iam_endpoint;
	int r;

	if ((r = auth_need(c->csms.project_id, "[csms] project_id", error)) < 0 ||
	    (r = auth_need(endpoint, sts ? "[csms] sts_endpoint" : "[csms] iam_endpoint", error)) < 0 ||
	    (r = auth_need(s->name, "[auth] agency_name", error)) < 0 ||
	    (sts && (r = auth_need(s->account_id, "[auth] agency_account_id", error)) < 0))
		return r;
	if (!s->account_id && !s->domain) {
		*error = strdup("[auth] agency_account_id or agency_domain is not set");
		return -EINVAL;
	}
	if (agency_settings_copy(s, &a->agency) < 0)
		return -ENOMEM;
	if (!a->agency.session_name && !(a->agency.session_name = strdup("csms-tagd")))
		return -ENOMEM;
	if (!a->agency.duration_usec)
		a->agency.duration_usec = AGENCY_DURATION_DEFAULT;
	a->assume_url = auth_endpoint_url(endpoint, sts ? "/v5/agencies/assume" :
	                                  "/v3.0/OS-CREDENTIAL/securitytokens");
	if (!a->assume_url)
		return -ENOMEM;
	if (s->external_id_file &&
	    (r = auth_credential_load("external_id_file", s->external_id_file, &a->external_id, error)) < 0)
		return r;
	if (a->base)
		return 0;       /* auth_new_with_base(): a shared one */
	return auth_new_base(c, c->auth.base, a->http, &a->base, error);
}

/* "agency NAME of account ID" for messages. */
static char *agency_what(const struct auth *a)
{
	return xasprintf("agency %s of account %s", a->agency.name,
	                 a->agency.account_id ? a->agency.account_id : a->agency.domain);
}

static json_t *sts_body(const struct auth *a)
{
	_cleanup_free_ char *urn = xasprintf("iam::%s:agency:%s", a->agency.account_id, a->agency.name);
	json_t *b;

	if (!urn)
		return NULL;
	b = json_pack("{s:s, s:s, s:I}", "agency_urn", urn, "agency_session_name",
	              a->agency.session_name, "duration_seconds",
	              (json_int_t) (a->agency.duration_usec / USEC_PER_SEC));
	if (b && a->external_id && json_object_set_new(b, "external_id", json_string(a->external_id)) < 0) {
		json_decref(b);
		return NULL;
	}
	return b;
}

static json_t *iam_body(const struct auth *a)
{
	json_t *role = json_pack("{s:s, s:I, s:{s:s}}", "agency_name", a->agency.name,
	                         "duration_seconds", (json_int_t) (a->agency.duration_usec / USEC_PER_SEC),
	                         "session_user", "name", a->agency.session_name);

	if (!role)
		return NULL;
	if ((a->agency.account_id && json_object_set_new(role, "domain_id",
	                                                 json_string(a->agency.account_id)) < 0) ||
	    (a->agency.domain && json_object_set_new(role, "domain_name",
	                                             json_string(a->agency.domain)) < 0)) {
		json_decref(role);
		return NULL;
	}
	return json_pack("{s:{s:{s:[s], s:o}}}", "auth", "identity", "methods", "assume_role",
	                 "assume_role", role);
}

/* The body holds the external id, a secret: wiped once sent (http.h copies
 * request bodies and wipes its copy). */
static char *assume_body(const struct auth *a, size_t *ret_len)
{
	json_t *b = a->agency.api == AGENCY_API_STS ? sts_body(a) : iam_body(a);
	char *text;

	if (!b)
		return NULL;
	text = auth_json_dump(b, ret_len);
	auth_json_wipe(json_object_get(b, "external_id"));
	json_decref(b);
	return text;
}

static void on_assume_done(struct http_request *req, const struct http_response *resp,
                           void *userdata);

/* The request to STS or IAM is signed by the base identity. */
static int base_prepare(struct http_request *req, const char *method, const char *url,
                        const char *body, size_t body_len, struct curl_slist **headers,
                        void *userdata)
{
	struct auth *a = userdata;

	return auth_prepare_project(a->base, NULL, method, url, body, body_len, headers);
}

static void on_base_ready(int r, const char *error, void *userdata)
{
	struct auth *a = userdata;
	_cleanup_free_ char *what = agency_what(a), *e = NULL;
	size_t len = 0;
	char *body;
	struct http_call call = {
		.method = "POST",
		.url = a->assume_url,
		.content_type = "application/json;charset=UTF-8",
		.prepare = base_prepare,
		.done = on_assume_done,
		.userdata = a,
		.priority = true,
	};

	if (r < 0) {
		/* The base logged its own failure. */
		e = xasprintf("cannot assume %s: the base identity has no credentials: %s",
		              what ? what : "the agency", error ? error : strerror(-r));
		auth_fetch_finish(a, r, e ? e : error);
		return;
	}
	body = assume_body(a, &len);
	if (!body) {
		auth_fetch_fail(a, -ENOMEM, "out of memory");
		return;
	}
	r = auth_submit_secret_body(a, &call, body, len);
	if (r < 0) {
		e = xasprintf("cannot send the request to assume %s to %s", what ? what : "the agency",
		              a->assume_url);
		auth_fetch_fail(a, r, e ? e : "cannot send a request");
	}
}

static void agency_fetch(struct auth *a)
{
	a->fetching = true;
	auth_ensure(a->base, on_base_ready, a);
}

/* 403 and 404 say the agency cannot be had: name it, and what to check. */
static void fail_refused(struct auth *a, const char *what, const struct http_response *resp)
{
	_cleanup_free_ char *code = NULL, *message = NULL, *e = NULL;

	if (resp->body_len > 0)
		(void) decode_error_body(resp->body, resp->body_len, &code, &message);
	e = xasprintf("%s %s (HTTP %ld%s%s%s%s)%s", what, resp->status == 404 ?
	              "does not exist" : "refused to be assumed by the base identity",
	              resp->status, code ? " " : "", code ? code : "", message ? ": " : "",
	              message ? message : "", resp->status == 404 ? "" :
	              "; check the agency's trust policy (the trusted account) and the external id");
	auth_log_failure(e ? e : what, resp->status, code, resp->request_id);
	auth_fetch_finish(a, -EACCES, e ? e : what);
}

static int store_keys(struct auth *a, const struct http_response *resp, char **error)
{
	char *ak = NULL, *sk = NULL, *token = NULL;
	uint64_t expires = 0, now = now_realtime_usec();
	int r;

	r = a->agency.api == AGENCY_API_STS ?
	    decode_assume_agency(resp->body, resp->body_len, &ak, &sk, &token, &expires, error) :
	    decode_securitykey(resp->body, resp->body_len, &ak, &sk, &token, &expires, error);
	if (r >= 0 && expires <= now) {
		*error = strdup("the credentials have already expired (is the clock right?)");
		r = -EBADMSG;
	}
	if (r < 0) {
		auth_wipe_free_str(ak);
		auth_wipe_free_str(sk);
		auth_wipe_free_str(token);
		return r;
	}
	auth_secret_replace(&a->ak, ak);
	auth_secret_replace(&a->sk, sk);
	auth_secret_replace(&a->security_token, token);
	a->obtained_at = now;
	a->expires_at = expires;
	return 0;
}

static void on_assume_done(struct http_request *req, const struct http_response *resp,
                           void *userdata)
{
	struct auth *a = userdata;
	_cleanup_free_ char *what = agency_what(a), *error = NULL, *e = NULL;
	char when[32], left[64];
	bool ok = resp->status == 200 || resp->status == 201;

	(void) req;
	if (resp->curl_code == CURLE_OK && resp->status == 401 && !a->meta_retried &&
	    auth_invalidate(a->base)) {
		/* The base's temporary keys may have just expired: renew, once. */
		a->meta_retried = true;
		auth_ensure(a->base, on_base_ready, a);
		return;
	}
	if (resp->curl_code == CURLE_OK && (resp->status == 403 || resp->status == 404)) {
		fail_refused(a, what ? what : "the agency", resp);
		return;
	}
	if (resp->curl_code != CURLE_OK || !ok) {
		e = xasprintf("assuming %s at %s", what ? what : "the agency", a->assume_url);
		auth_fetch_fail_http(a, e ? e : "assuming the agency", resp);
		return;
	}
	if (store_keys(a, resp, &error) < 0) {
		e = xasprintf("assuming %s: bad answer: %s", what ? what : "the agency",
		              error ? error : "out of memory");
		auth_log_failure(e ? e : "bad answer", resp->status, NULL, resp->request_id);
		auth_fetch_finish(a, -EBADMSG, e);
		return;
	}
	log_info("Assumed %s as session %s, temporary credentials valid until %s (%s)",
	         what ? what : "the agency", a->agency.session_name,
	         format_utc(when, sizeof(when), a->expires_at),
	         format_timespan(left, sizeof(left), a->expires_at - a->obtained_at));
	auth_fetch_finish(a, 0, NULL);
}

/* A quarter of the life, at most 15 minutes. */
static bool agency_needs_refresh(const struct auth *a)
{
	return !a->ak || auth_expiring(a, auth_refresh_margin(a->obtained_at, a->expires_at,
	                                                      AGENCY_REFRESH_MAX_USEC));
}

const struct auth_ops auth_agency_ops = {
	.setup = agency_setup,
	.fetch = agency_fetch,
	.usable = auth_temporary_usable,
	.needs_refresh = agency_needs_refresh,
	.prepare = auth_sign_headers,
};
