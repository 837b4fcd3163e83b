/* csms.c - the CSMS API client.
 *
 * A client either owns its transport and credentials (csms_new(): one
 * target, as the daemon always was) or borrows them (csms_new_shared(): one
 * of many targets over one http, its account's lane and its account's
 * auth).  Both are the same code: only csms_free() differs, which frees
 * what is owned, or else takes back just this client's own requests and
 * credential waits, so the other clients on the shared parts go on. */
#include "csms.h"

#include <jansson.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "log.h"
#include "retry.h"
#include "sign.h"
#include "strtable.h"
#include "util.h"

struct call {
	struct csms_client *client;
	enum csms_api api;
	char *method;
	char *url;
	char *body;
	size_t body_len;
	csms_done_t done;
	void *userdata;
	const void *owner;      /* csms_cancel() token */
	bool ahead;             /* http_call.ahead */
	unsigned attempts;
	bool auth_retried;
	bool in_http;           /* an http request for it is queued or in flight */
	bool in_auth;           /* waiting for a credential refresh */
	bool cancelled;         /* dropped by csms_cancel_all(); freed quietly */
	sd_event_source *timer; /* retry backoff */
	struct call *next, *prev;
};

/* A csms_ensure_auth() waiting on the (maybe shared) auth. */
struct auth_wait {
	struct csms_client *client;
	auth_done_t done;
	void *owner;
	struct auth_wait *next, *prev;
};

struct csms_client {
	struct csms iface;       /* what csms_new() hands out: the ops */
	sd_event *event;
	struct http *http;
	struct http_lane *lane; /* NULL: the default lane */
	struct auth *auth;
	bool owned;             /* http and auth are ours (csms_new()) */
	char *project_id;       /* X-Project-Id of every request */
	char *base;             /* {endpoint}/v1/{project_id} */
	struct call *calls;     /* every live call */
	struct auth_wait *auth_waits;
	struct csms_stats stats;
	csms_failure_hook_t failure_hook;
	void *failure_userdata;
	const struct log_context *log_context;  /* pushed around every callback */
};

static const struct csms_ops client_ops;

static struct csms_client *client_of(const struct csms *x)
{
	return x ? (struct csms_client *) ((const char *) x - offsetof(struct csms_client, iface)) : NULL;
}

static const char *const csms_api_table[_API_MAX] = {
	[API_LIST_RESOURCE_INSTANCES] = "ListResourceInstances",
	[API_LIST_SECRETS] = "ListSecrets",
	[API_LIST_SECRET_TAGS] = "ListSecretTags",
	[API_DELETE_SECRET_TAG] = "DeleteSecretTag",
	[API_CREATE_SECRET_TAG] = "CreateSecretTag",
};

static STRING_TABLE_TO_STRING(csms_api, enum csms_api, "?")

const char *csms_api_name(enum csms_api api)
{
	return csms_api_to_string(api);
}

/* The client for CFG's target, without its http and auth yet. */
static int client_new(sd_event *event, const struct config *cfg, struct csms_client **ret,
                      char **error)
{
	struct csms_client *c;

	if (!cfg->csms.endpoint || !cfg->csms.project_id) {
		*error = strdup("[csms] endpoint and project_id are needed");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->iface.ops = &client_ops;
	c->event = sd_event_ref(event);
	/* config_load() stored the endpoint normalised (no trailing '/'). */
	c->base = xasprintf("%s/v1/%s", cfg->csms.endpoint, cfg->csms.project_id);
	c->project_id = strdup(cfg->csms.project_id);
	if (!c->base || !c->project_id) {
		csms_free(&c->iface);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

int csms_new(sd_event *event, const struct config *cfg, struct csms **ret, char **error)
{
	struct http_options ho = {
		.ca_file = cfg->csms.ca_file,
		.timeout_usec = cfg->daemon.request_timeout_usec,
		.max_parallel = cfg->daemon.max_parallel_requests,
		.max_requests_per_second = cfg->daemon.max_requests_per_second,
		.user_agent = "csms-tagd/" PACKAGE_VERSION,
	};
	struct csms_client *c;
	int r;

	r = client_new(event, cfg, &c, error);
	if (r < 0)
		return r;
	c->owned = true;
	r = http_new(event, &ho, &c->http);
	if (r < 0) {
		*error = xasprintf("cannot set up HTTP: %s", strerror(-r));
		goto fail;
	}
	r = auth_new(cfg, c->http, &c->auth, error);
	if (r < 0)
		goto fail;
	*ret = &c->iface;
	return 0;
fail:
	csms_free(&c->iface);
	return r;
}

int csms_new_shared(sd_event *event, const struct config *cfg, struct http *h,
                    struct http_lane *lane, struct auth *a, struct csms **ret, char **error)
{
	struct csms_client *c;
	int r;

	if (!h || !a) {
		*error = strdup("a shared client needs an http and an auth");
		return -EINVAL;
	}
	r = client_new(event, cfg, &c, error);
	if (r < 0)
		return r;
	c->http = h;
	c->lane = lane;
	c->auth = a;
	*ret = &c->iface;
	return 0;
}

static void call_free(struct call *call)
{
	struct csms_client *c = call->client;

	if (call->prev)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	sd_event_source_disable_unref(call->timer);
	free(call->method);
	free(call->url);
	free(call->body);
	free(call);
}

static void auth_wait_free(struct auth_wait *w)
{
	struct csms_client *c = w->client;

	if (w->prev)
		w->prev->next = w->next;
	else
		c->auth_waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	free(w);
}

void csms_free(struct csms *x)
{
	struct csms_client *c = client_of(x);

	if (!c)
		return;
	if (c->owned) {
		/* Both drop their requests and waiters without callbacks. */
		auth_free(c->auth);
		http_free(c->http);
		c->auth = NULL;
		c->http = NULL;
	}
	/* Shared: only this client's requests and waits are taken back (a
	 * request in flight is cut off: its call is going away). */
	while (c->auth_waits) {
		auth_cancel(c->auth, c->auth_waits);
		auth_wait_free(c->auth_waits);
	}
	while (c->calls) {
		if (c->calls->in_http)
			http_cancel_for(c->http, c->calls);
		if (c->calls->in_auth)
			auth_cancel(c->auth, c->calls);
		call_free(c->calls);
	}
	free(c->project_id);
	free(c->base);
	sd_event_unref(c->event);
	free(c);
}

static void client_cancel(struct csms *x, const void *owner)
{
	struct csms_client *c = client_of(x);
	struct call *call = c->calls, *next;

	for (struct auth_wait *w = c->auth_waits, *wn; w; w = wn) {
		wn = w->next;
		if (w->owner != owner)
			continue;
		auth_cancel(c->auth, w);
		auth_wait_free(w);
	}
	for (; call; call = next) {
		next = call->next;
		if (call->owner != owner || call->cancelled)
			continue;
		call->cancelled = true;
		if (call->in_auth) {
			auth_cancel(c->auth, call);
			call->in_auth = false;
		}
		/* Requests already handed to curl finish on their own (a DELETE
		 * is never cut in half); their completion frees the call.  A
		 * queued one is refused by call_prepare(). */
		if (!call->in_http)
			call_free(call);
	}
}

static void finish(struct call *call, const struct csms_result *res)
{
	csms_done_t done = call->done;
	void *userdata = call->userdata;
	struct csms_client *c = call->client;

	const struct log_context *previous = log_push_context(c->log_context);

	if (res->r < 0 && !csms_result_is_gone(res) && c->failure_hook)
		c->failure_hook(call->api, res, c->failure_userdata);
	call_free(call);
	done(res, userdata);
	log_pop_context(previous);
}

static void fail_now(struct call *call, int r, const char *message)
{
	struct csms_result res = {
		.r = r,
		.message = message,
		.attempts = call->attempts,
	};

	finish(call, &res);
}

static int call_prepare(struct http_request *req, const char *method, const char *url,
                        const char *body, size_t body_len, struct curl_slist **headers, void *userdata)
{
	struct call *call = userdata;

	if (call->cancelled)
		return -ECANCELED;
	(void) req;
	return auth_prepare_project(call->client->auth, call->client->project_id, method, url,
	                            body, body_len, headers);
}

static void call_done(struct http_request *req, const struct http_response *resp, void *userdata);

static void call_start(struct call *call)
{
	struct http_call hc = {
		.method = call->method,
		.url = call->url,
		.body = call->body,
		.body_len = call->body_len,
		.content_type = call->body ? "application/json;charset=UTF-8" : NULL,
		.prepare = call_prepare,
		.ahead = call->ahead,
		.bulk = call->api == API_LIST_RESOURCE_INSTANCES || call->api == API_LIST_SECRETS,
		.lane = call->client->lane,
		.done = call_done,
		.userdata = call,
	};
	int r;

	call->attempts++;
	call->client->stats.calls[call->api]++;
	r = http_submit(call->client->http, &hc);
	if (r < 0) {
		fail_now(call, r, "cannot queue the request");
		return;
	}
	call->in_http = true;
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct call *call = userdata;

	call->timer = sd_event_source_disable_unref(call->timer);
	call_start(call);
	return 0;
}

static void schedule_retry(struct call *call, uint64_t delay)
{
	uint64_t now;
	int r;

	call->client->stats.retries++;
	/* Before the loop first runs there is no cached time to read. */
	if (sd_event_now(call->client->event, CLOCK_MONOTONIC, &now) < 0)
		now = now_monotonic_usec();
	r = sd_event_add_time(call->client->event, &call->timer, CLOCK_MONOTONIC,
	                      now + delay, 10 * USEC_PER_MSEC, on_retry_timer, call);
	if (r < 0)
		fail_now(call, r, "cannot schedule a retry");
}

static void on_auth_refreshed(int r, const char *error, void *userdata)
{
	struct call *call = userdata;

	call->in_auth = false;
	if (call->cancelled) {
		call_free(call);
		return;
	}
	if (r < 0) {
		fail_now(call, r, error ? error : "credentials could not be refreshed");
		return;
	}
	call_start(call);
}

/* The typed part of a 2xx answer, owned by finish_with_answer(). */
struct answer {
	struct observation secrets;
	struct tag_list tags, sys_tags;
	char *next_marker;
	char *error;
};

static void decode_answer(const struct call *call, const struct http_response *resp,
                          struct answer *a, struct csms_result *res)
{
	int r = 0;

	switch (call->api) {
	case API_LIST_RESOURCE_INSTANCES:
		r = decode_resource_instances(resp->body, resp->body_len, &a->secrets,
		                              &res->total_count, NULL, &a->error);
		res->secrets = &a->secrets;
		break;
	case API_LIST_SECRETS:
		r = decode_list_secrets(resp->body, resp->body_len, &a->secrets, NULL,
		                        &a->next_marker, &a->error);
		res->secrets = &a->secrets;
		res->next_marker = a->next_marker;
		break;
	case API_LIST_SECRET_TAGS:
		r = decode_secret_tags(resp->body, resp->body_len, &a->tags, &a->sys_tags, &a->error);
		res->tags = &a->tags;
		res->sys_tags = &a->sys_tags;
		break;
	case API_DELETE_SECRET_TAG:
	case API_CREATE_SECRET_TAG:
	case _API_MAX:
		break;
	}
	if (r < 0) {
		res->r = r;
		res->message = a->error ? a->error : "out of memory";
		res->secrets = NULL;
		res->next_marker = NULL;
		res->tags = res->sys_tags = NULL;
	}
}

static void finish_with_answer(struct call *call, const struct http_response *resp, int r)
{
	_cleanup_free_ char *code = NULL, *message = NULL;
	struct answer a = {};
	struct csms_result res = {
		.r = r,
		.status = resp->status,
		.request_id = resp->request_id,
		.attempts = call->attempts,
		.throttled = resp->status == 429,
		.total_count = -1,
	};

	if (r == 0)
		decode_answer(call, resp, &a, &res);
	else if (resp->curl_code != CURLE_OK) {
		res.status = 0;
		res.message = resp->error ? resp->error : curl_easy_strerror(resp->curl_code);
	} else if (resp->body_too_large) {
		res.message = "answer larger than the size limit";
	} else {
		(void) decode_error_body(resp->body, resp->body_len, &code, &message);
		res.error_code = code;
		res.message = message;
	}
	finish(call, &res);
	observation_clear(&a.secrets);
	tag_list_clear(&a.tags);
	tag_list_clear(&a.sys_tags);
	free(a.next_marker);
	free(a.error);
}

/* After a 429: hold the client's lane, or, on the default lane, the whole
 * http (a single-target client is the only one on it). */
static int hold_back(struct csms_client *c, uint64_t until)
{
	return c->lane ? http_lane_pause(c->lane, until) : http_pause(c->http, until);
}

static void call_done(struct http_request *req, const struct http_response *resp, void *userdata)
{
	struct call *call = userdata;
	struct csms_client *c = call->client;
	long status = resp->curl_code == CURLE_OK ? resp->status : 0;
	enum retry_class rc;

	call->in_http = false;
	if (call->cancelled) {
		call_free(call);
		return;
	}
	if (resp->curl_code == CURLE_ABORTED_BY_CALLBACK && resp->status == 0) {
		/* prepare refused: no usable credentials. */
		fail_now(call, -ENOKEY, "no usable credentials");
		return;
	}
	if (status >= 200 && status < 300 && !resp->body_too_large) {
		finish_with_answer(call, resp, 0);
		return;
	}
	rc = resp->body_too_large ? RETRY_NO : retry_classify(status);
	switch (rc) {
	case RETRY_AUTH:
		if (!call->auth_retried && auth_invalidate(c->auth)) {
			call->auth_retried = true;
			c->stats.auth_refreshes++;
			call->in_auth = true;
			auth_ensure(c->auth, on_auth_refreshed, call);
			return;
		}
		break;
	case RETRY_THROTTLED:
		c->stats.throttled++;
		/* fall through */
	case RETRY_BACKOFF:
		if (call->attempts < RETRY_MAX_ATTEMPTS) {
			uint64_t delay = retry_delay_usec(call->attempts, resp->retry_after_usec,
			                                  (double) random_below(1u << 20) / (1u << 20));
			if (rc == RETRY_THROTTLED && hold_back(c, now_monotonic_usec() + delay) < 0) {
				fail_now(call, -EIO, "cannot hold requests back after a throttled answer");
				return;
			}
			log_debug("%s %s: %s, retry %u in %" PRIu64 " ms", call->method,
			          csms_api_name(call->api), status ? "HTTP error" : "transport error",
			          call->attempts, delay / USEC_PER_MSEC);
			schedule_retry(call, delay);
			return;
		}
		break;
	case RETRY_NO:
		break;
	}
	finish_with_answer(call, resp, status == 0 ? -EIO : -EPROTO);
}

/* A call that could not be built still ends from the loop, never from
 * within the function that asked for it. */
static int on_unbuildable(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct call *call = userdata;

	call->timer = sd_event_source_disable_unref(call->timer);
	fail_now(call, -ENOMEM, "out of memory");
	return 0;
}

static void submit(struct csms_client *c, enum csms_api api, const void *owner, bool ahead,
                   const char *method, char *url, char *body, csms_done_t done, void *userdata)
{
	struct call *call = calloc(1, sizeof(*call));
	struct csms_result oom = { .r = -ENOMEM, .message = "out of memory", .total_count = -1 };

	if (!call) {
		free(url);
		free(body);
		done(&oom, userdata);
		return;
	}
	call->owner = owner;
	call->ahead = ahead;
	call->client = c;
	call->api = api;
	call->url = url;
	call->body = body;
	call->body_len = body ? strlen(body) : 0;
	call->done = done;
	call->userdata = userdata;
	call->next = c->calls;
	if (c->calls)
		c->calls->prev = call;
	c->calls = call;
	if (!url || !(call->method = strdup(method))) {
		if (sd_event_add_time_relative(c->event, &call->timer, CLOCK_MONOTONIC, 0, 0,
		                               on_unbuildable, call) < 0) {
			call_free(call);
			done(&oom, userdata);
		}
		return;
	}
	call_start(call);
}

static void client_list_resource_instances(struct csms *x, const void *owner, unsigned offset,
	                                   unsigned limit, csms_done_t done, void *userdata)
{
	struct csms_client *c = client_of(x);
	/* limit and offset are strings in Huawei's API model. */
	char *body = xasprintf("{\"action\":\"filter\",\"limit\":\"%u\",\"offset\":\"%u\"}", limit, offset);

	submit(c, API_LIST_RESOURCE_INSTANCES, owner, false, "POST",
	       body ? xasprintf("%s/csms/resource_instances/action", c->base) : NULL, body,
	       done, userdata);
}

static void client_list_secrets(struct csms *x, const void *owner, const char *marker, unsigned limit,
	                        csms_done_t done, void *userdata)
{
	struct csms_client *c = client_of(x);
	_cleanup_free_ char *m = marker ? uri_escape(marker) : NULL;
	char *url = NULL;

	if (!marker)
		url = xasprintf("%s/secrets?limit=%u", c->base, limit);
	else if (m)
		url = xasprintf("%s/secrets?limit=%u&marker=%s", c->base, limit, m);
	submit(c, API_LIST_SECRETS, owner, false, "GET", url, NULL, done, userdata);
}

static void client_list_secret_tags(struct csms *x, const void *owner, const char *secret_id,
	                            csms_done_t done, void *userdata)
{
	struct csms_client *c = client_of(x);
	_cleanup_free_ char *id = uri_escape(secret_id);

	submit(c, API_LIST_SECRET_TAGS, owner, false, "GET",
	       id ? xasprintf("%s/csms/%s/tags", c->base, id) : NULL, NULL, done, userdata);
}

/* A key of "." or ".." would be a dot-segment in the URL, which a gateway
 * may normalise into another path.  Those few keys are deleted through
 * BatchCreateOrDeleteTags, where the key travels in a JSON body. */
static bool key_is_dot_segment(const char *key)
{
	return strcmp(key, ".") == 0 || strcmp(key, "..") == 0;
}

static void client_delete_secret_tag(struct csms *x, const void *owner, const char *secret_id,
	                             const char *key, const char *value, bool ahead,
	                             csms_done_t done, void *userdata)
{
	struct csms_client *c = client_of(x);
	/* Every byte of the key outside A-Z a-z 0-9 - _ . ~ is sent as %XX;
	 * the signer canonicalises that same string (csms-api.md section 6). */
	_cleanup_free_ char *id = uri_escape(secret_id), *k = NULL;

	if (id && key_is_dot_segment(key)) {
		json_t *body = json_pack("{s:s, s:[{s:s, s:s}]}", "action", "delete", "tags",
		                         "key", key, "value", value ? value : "");
		char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

		json_decref(body);
		submit(c, API_DELETE_SECRET_TAG, owner, ahead, "POST",
		       text ? xasprintf("%s/csms/%s/tags/action", c->base, id) : NULL, text,
		       done, userdata);
		return;
	}
	k = id ? uri_escape(key) : NULL;
	submit(c, API_DELETE_SECRET_TAG, owner, ahead, "DELETE",
	       k ? xasprintf("%s/csms/%s/tags/%s", c->base, id, k) : NULL, NULL, done, userdata);
}

void csms_create_secret_tag(struct csms *x, const void *owner, const char *secret_id,
                            const char *key, const char *value, csms_done_t done, void *userdata)
{
	struct csms_client *c = client_of(x);
	_cleanup_free_ char *id = uri_escape(secret_id);
	json_t *body = json_pack("{s:{s:s, s:s}}", "tag", "key", key, "value", value);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	submit(c, API_CREATE_SECRET_TAG, owner, false, "POST",
	       id && text ? xasprintf("%s/csms/%s/tags", c->base, id) : NULL, text, done, userdata);
}

static void on_client_auth(int r, const char *error, void *userdata)
{
	struct auth_wait *w = userdata;
	auth_done_t done = w->done;
	void *owner = w->owner;

	const struct log_context *previous = log_push_context(w->client->log_context);

	auth_wait_free(w);
	done(r, error, owner);
	log_pop_context(previous);
}

/* Waits go through a record of the client's own, so that csms_free() of a
 * client on a shared auth can take back its waits and no other's. */
static void client_ensure_auth(struct csms *x, auth_done_t done, void *owner)
{
	struct csms_client *c = client_of(x);
	struct auth_wait *w = calloc(1, sizeof(*w));

	if (!w) {
		done(-ENOMEM, "out of memory", owner);
		return;
	}
	w->client = c;
	w->done = done;
	w->owner = owner;
	w->next = c->auth_waits;
	if (c->auth_waits)
		c->auth_waits->prev = w;
	c->auth_waits = w;
	/* Linked first: auth_ensure() may call back from within. */
	auth_ensure(c->auth, on_client_auth, w);
}

void csms_set_log_context(struct csms *x, const struct log_context *ctx)
{
	client_of(x)->log_context = ctx;
}

bool csms_auth_usable(const struct csms *x)
{
	const struct csms_client *c = client_of(x);

	return auth_usable(c->auth);
}

void csms_set_failure_hook(struct csms *x, csms_failure_hook_t hook, void *userdata)
{
	struct csms_client *c = client_of(x);

	c->failure_hook = hook;
	c->failure_userdata = userdata;
}

uint64_t csms_credentials_expiry(const struct csms *x)
{
	const struct csms_client *c = client_of(x);

	return auth_expiry_usec(c->auth);
}

void csms_get_stats(const struct csms *x, struct csms_stats *ret)
{
	const struct csms_client *c = client_of(x);

	*ret = c->stats;
}

static sd_event *client_get_event(const struct csms *x)
{
	const struct csms_client *c = client_of(x);

	return c->event;
}

static size_t client_pending(const struct csms *x)
{
	const struct csms_client *c = client_of(x);
	size_t n = 0;

	if (c->owned)
		return http_pending(c->http);
	/* On a shared http: this client's own requests (cancelled ones still
	 * finishing included). */
	for (const struct call *call = c->calls; call; call = call->next)
		n += call->in_http;
	return n;
}

static const struct csms_ops client_ops = {
	.get_event = client_get_event,
	.ensure_auth = client_ensure_auth,
	.cancel = client_cancel,
	.pending = client_pending,
	.list_resource_instances = client_list_resource_instances,
	.list_secrets = client_list_secrets,
	.list_secret_tags = client_list_secret_tags,
	.delete_secret_tag = client_delete_secret_tag,
};
