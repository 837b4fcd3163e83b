/* http.c - HTTP requests on libcurl's multi interface, driven by sd_event:
 * requests, the start loop, pacing over all lanes and the client.  The
 * lanes and the choice among them are http-lane.c, one request's curl
 * handle is http-easy.c, curl's sockets and timers on sd_event are
 * http-curl.c.
 *
 * A request lives in exactly one list at a time: urgent or a lane's ahead
 * or queue list (waiting), running (handed to curl), completed (answer in,
 * callback not yet called).
 * Callbacks into the user (prepare, done) are only made from http_process(),
 * which runs from sd_event handlers, never from the public entry points.
 * The user may free the whole client from any callback: http_free() then
 * only marks it dead, and the outermost http_process() destroys it on the way
 * out, so no code touches freed memory.
 */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "http-internal.h"
#include "redact.h"
#include "util.h"

/* --- small helpers -------------------------------------------------------- */

void http_wipe_free(char *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

void http_wipe_free_str(char *p)
{
	if (p)
		http_wipe_free(p, strlen(p));
}

static void slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static long usec_to_ms(uint64_t usec)
{
	uint64_t ms = (usec + USEC_PER_MSEC - 1) / USEC_PER_MSEC;

	return ms > LONG_MAX ? LONG_MAX : (long) ms;
}

void http_list_append(struct req_list *l, struct http_request *r)
{
	r->list = l;
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
	l->n_bulk += r->bulk;
}

void http_list_remove(struct http_request *r)
{
	struct req_list *l = r->list;

	if (!l)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	l->n--;
	l->n_bulk -= r->bulk;
	r->list = NULL;
	r->prev = r->next = NULL;
}

struct http_request *http_list_pop(struct req_list *l)
{
	struct http_request *r = l->head;

	if (r)
		http_list_remove(r);
	return r;
}

/* --- pure helpers ---------------------------------------------------------- */

uint64_t http_next_start_usec(uint64_t last_start, double rate, uint64_t pause_until)
{
	uint64_t next = 0;

	if (last_start > 0 && rate > 0 && isfinite(rate)) {
		double gap = (double) USEC_PER_SEC / rate;
		uint64_t g = gap >= (double) (UINT64_MAX / 2) ? UINT64_MAX / 2 : (uint64_t) gap;

		/* Round up: never faster than the rate. */
		if (g < UINT64_MAX / 2 && (double) g < gap)
			g++;

		next = last_start > UINT64_MAX - g ? UINT64_MAX : last_start + g;
	}
	return next > pause_until ? next : pause_until;
}

/* --- requests -------------------------------------------------------------- */

void http_request_free(struct http_request *r)
{
	if (!r)
		return;
	http_list_remove(r);
	if (r->easy) {
		/* Fails only for a handle not in the multi: it is gone either way. */
		(void) curl_multi_remove_handle(r->http->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	free(r->method);
	free(r->url);
	http_wipe_free(r->body, r->body_len);
	free(r->content_type);
	slist_wipe_free(r->headers);
	http_wipe_free(r->resp, r->resp_cap);
	free(r->request_id);
	http_wipe_free_str(r->subject_token);
	free(r);
}

static bool method_valid(const char *m)
{
	if (!m || !*m || strlen(m) > 16)
		return false;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	return true;
}

int http_submit(struct http *h, const struct http_call *call)
{
	struct http_request *r;
	int rk;

	if (!h || h->dead || !call || !call->url || !call->done || !method_valid(call->method))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->http = h;
	r->method = strdup(call->method);
	r->url = strdup(call->url);
	if (call->body) {
		/* +1 so an empty body is still a valid allocation. */
		r->body = malloc(call->body_len + 1);
		if (r->body) {
			memcpy(r->body, call->body, call->body_len);
			r->body[call->body_len] = '\0';
			r->body_len = call->body_len;
		}
	}
	if (call->content_type)
		r->content_type = strdup(call->content_type);
	if (!r->method || !r->url || (call->body && !r->body) ||
	    (call->content_type && !r->content_type)) {
		http_request_free(r);
		return -ENOMEM;
	}
	/* Nothing would start the request without the kick. */
	rk = sd_event_source_set_enabled(h->kick, SD_EVENT_ONESHOT);
	if (rk < 0) {
		http_request_free(r);
		return rk;
	}
	/* Only now, when success is certain, take over the caller's headers. */
	r->headers = call->headers;
	r->prepare = call->prepare;
	r->done = call->done;
	r->userdata = call->userdata;
	r->priority = call->priority;
	r->bulk = call->bulk;
	r->no_proxy = call->no_proxy;
	if (r->priority)
		http_list_append(&h->urgent, r);
	else
		http_lane_enqueue(h, call->lane, r, call->ahead);
	return 0;
}

/* Finish R without an answer: its callback runs from the completed list. */
void http_request_fail(struct http_request *r, CURLcode code, const char *error)
{
	r->status = 0;
	r->code = code;
	r->error = error;
	http_list_append(&r->http->completed, r);
}

/* Start R, which is in no list.  Returns false when it was dropped (the
 * client freed or the request cancelled from within its prepare callback). */
static bool request_start(struct http *h, struct http_request *r)
{
	CURLMcode mc;
	int q;

	if (http_build_headers(r) < 0) {
		http_request_fail(r, CURLE_OUT_OF_MEMORY, "out of memory");
		return true;
	}
	if (r->prepare) {
		h->preparing = r;
		h->preparing_dropped = false;
		q = r->prepare(r, r->method, r->url, r->body, r->body_len, &r->headers, r->userdata);
		h->preparing = NULL;
		if (h->dead || h->preparing_dropped) {
			http_request_free(r);
			return false;
		}
		if (q < 0) {
			http_request_fail(r, CURLE_ABORTED_BY_CALLBACK, "request preparation failed");
			return true;
		}
	}
	r->easy = curl_easy_init();
	if (!r->easy) {
		http_request_fail(r, CURLE_FAILED_INIT, "cannot create a curl handle");
		return true;
	}
	if (http_setup_easy(h, r) < 0) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		http_request_fail(r, CURLE_FAILED_INIT, "cannot set up the curl handle");
		return true;
	}
	mc = curl_multi_add_handle(h->multi, r->easy);
	if (mc != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		http_request_fail(r, CURLE_FAILED_INIT, curl_multi_strerror(mc));
		return true;
	}
	http_list_append(&h->running, r);
	h->stats.started++;
	return true;
}

static int on_pace_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	http_process(userdata);
	return 0;
}

/* Start the queue again at WHEN.  Without a timer the queue would stall:
 * then it is retried on the next iteration (busy, but never stuck); when
 * even that cannot be armed, the error is returned. */
static int arm_pace_timer(struct http *h, uint64_t when)
{
	int r;

	if (h->pace_timer) {
		r = sd_event_source_set_time(h->pace_timer, when);
		if (r >= 0)
			r = sd_event_source_set_enabled(h->pace_timer, SD_EVENT_ONESHOT);
	} else
		r = sd_event_add_time(h->event, &h->pace_timer, CLOCK_MONOTONIC, when, TIMER_ACCURACY_USEC,
		                      on_pace_timer, h);
	if (r < 0)
		r = sd_event_source_set_enabled(h->kick, SD_EVENT_ONESHOT);
	return r;
}

/* Nothing will start the queued requests: each ends at once with ERROR,
 * so that its caller learns it rather than waits for ever. */
static void fail_queued(struct http *h, const char *error)
{
	http_lanes_fail_all(h, CURLE_FAILED_INIT, error);
}

/* Nothing may start before WHEN (the global pace or pause, or every lane's
 * own): wake up then. */
static void wait_until(struct http *h, uint64_t when)
{
	if (arm_pace_timer(h, when) < 0)
		fail_queued(h, "cannot arm the timer that paces requests");
}

/* Start queued requests while the limits allow: credential requests first,
 * then the lanes' requests (http-lane.c picks which), each start within
 * the global rate and pause and its lane's own. */
static void start_ready(struct http *h)
{
	while (!h->dead && h->running.n < h->max_parallel) {
		struct http_request *r = http_list_pop(&h->urgent);

		if (!r) {
			uint64_t now, global, lanes;

			if (!http_lanes_queued(h))
				break;
			now = now_monotonic_usec();
			global = http_next_start_usec(h->last_start, h->rate, h->pause_until);
			if (global > now) {
				lanes = http_lanes_earliest(h);
				wait_until(h, lanes > global ? lanes : global);
				break;
			}
			r = http_lanes_pick(h, now, &lanes);
			if (!r) {
				if (lanes != UINT64_MAX)
					wait_until(h, lanes);
				break;
			}
			h->last_start = now;
		}
		request_start(h, r);
	}
}

static void dispatch_one(struct http *h)
{
	struct http_request *r = http_list_pop(&h->completed);

	/* An error answer may echo the request, credentials included: they
	 * are cut out here, before any caller quotes or truncates the text
	 * (redact.h).  Success answers are left alone: the metadata service's
	 * carries the credentials.  The buffer is wiped by capacity. */
	if (r->resp && (r->status < 200 || r->status > 299) && redact(r->resp) > 0)
		r->resp_len = strlen(r->resp);

	struct http_response resp = {
		.status = r->status,
		.curl_code = r->code,
		.error = r->code == CURLE_OK ? NULL : r->error,
		.body = r->resp ? r->resp : "",
		.body_len = r->resp_len,
		.body_too_large = r->too_large,
		.request_id = r->request_id,
		.subject_token = r->subject_token,
		.retry_after_usec = r->retry_after,
	};

	r->done(r, &resp, r->userdata);
	http_request_free(r);
}

static void http_destroy(struct http *h);

/* The one place user callbacks run from. */
void http_process(struct http *h)
{
	h->busy++;
	/* Answers first: their callbacks may queue or cancel requests, and a
	 * finished request leaves its slot before the next one starts. */
	while (!h->dead) {
		if (h->completed.head) {
			dispatch_one(h);
			continue;
		}
		start_ready(h);
		if (!h->completed.head)
			break;
	}
	if (--h->busy == 0 && h->dead)
		http_destroy(h);
}

static int on_kick(sd_event_source *s, void *userdata)
{
	http_process(userdata);
	return 0;
}

/* --- the client --------------------------------------------------------------- */

int http_new(sd_event *event, const struct http_options *o, struct http **ret)
{
	uint64_t timeout = o->timeout_usec ? o->timeout_usec : DEFAULT_TIMEOUT_USEC;
	uint64_t connect = o->connect_timeout_usec ? o->connect_timeout_usec
	                                           : DEFAULT_CONNECT_TIMEOUT_USEC;
	struct http *h;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->event = sd_event_ref(event);
	h->timeout_ms = usec_to_ms(timeout);
	h->connect_timeout_ms = usec_to_ms(connect < timeout ? connect : timeout);
	h->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
	h->max_parallel = o->max_parallel ? o->max_parallel : DEFAULT_MAX_PARALLEL;
	if (h->max_parallel > MAX_PARALLEL_LIMIT)
		h->max_parallel = MAX_PARALLEL_LIMIT;
	h->max_parallel_bulk = o->max_parallel_bulk && o->max_parallel_bulk < h->max_parallel
	                       ? o->max_parallel_bulk : h->max_parallel;
	h->rate = o->max_requests_per_second > 0 && isfinite(o->max_requests_per_second)
	          ? o->max_requests_per_second : 0;
	/* The default lane has no rate or pause of its own: the http's are
	 * what hold it, as before lanes. */
	http_lane_init(h, &h->default_lane, 0);
	if ((o->ca_file && !(h->ca_file = strdup(o->ca_file))) ||
	    (o->user_agent && !(h->user_agent = strdup(o->user_agent))))
		goto oom;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto oom;
	h->curl_global = true;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto oom;
	if (http_curl_attach(h) < 0)
		goto oom;
	if (sd_event_add_defer(event, &h->kick, on_kick, h) < 0 ||
	    sd_event_source_set_enabled(h->kick, SD_EVENT_OFF) < 0)
		goto oom;
	*ret = h;
	return 0;
oom:
	http_destroy(h);
	return -ENOMEM;
}

static void drop_list(struct req_list *l)
{
	struct http_request *r;

	while ((r = http_list_pop(l)))
		http_request_free(r);
}

void http_cancel_all(struct http *h)
{
	if (!h)
		return;
	if (h->preparing)
		h->preparing_dropped = true;
	drop_list(&h->urgent);
	http_lanes_drop_all(h);
	drop_list(&h->running);
	drop_list(&h->completed);
}

static void drop_matching(struct req_list *l, void *userdata)
{
	struct http_request *r = l->head, *next;

	for (; r; r = next) {
		next = r->next;
		if (r->userdata == userdata)
			http_request_free(r);
	}
}

void http_cancel_for(struct http *h, void *userdata)
{
	size_t running;

	if (!h)
		return;
	if (h->preparing && h->preparing->userdata == userdata)
		h->preparing_dropped = true;
	running = h->running.n;
	drop_matching(&h->urgent, userdata);
	http_lanes_drop_for(h, userdata);
	drop_matching(&h->running, userdata);
	drop_matching(&h->completed, userdata);
	/* Slots were freed: what waits for them (max_parallel, bulk) starts
	 * on the next iteration rather than at the next answer, if any. */
	if (h->running.n < running)
		(void) sd_event_source_set_enabled(h->kick, SD_EVENT_ONESHOT);
}

static void http_destroy(struct http *h)
{
	http_cancel_all(h);
	http_lanes_free_all(h);
	/* curl may still report sockets of cached connections as it closes
	 * them, so the socket list is cleared only afterwards. */
	if (h->multi)
		(void) curl_multi_cleanup(h->multi);     /* nothing to do if it fails */
	while (h->sockets)
		http_socket_forget(h, h->sockets);
	sd_event_source_disable_unref(h->curl_timer);
	sd_event_source_disable_unref(h->pace_timer);
	sd_event_source_disable_unref(h->kick);
	if (h->curl_global)
		curl_global_cleanup();
	free(h->ca_file);
	free(h->user_agent);
	sd_event_unref(h->event);
	free(h);
}

void http_free(struct http *h)
{
	if (!h || h->dead)
		return;
	if (h->busy > 0) {
		/* Inside a callback: http_process() finishes the job on the way out.
		 * Drop everything now so nothing else is called. */
		h->dead = true;
		http_cancel_all(h);
		return;
	}
	http_destroy(h);
}

int http_pause(struct http *h, uint64_t until_usec)
{
	/* A shorter pause never cuts one already in force short. */
	if (until_usec == 0 || until_usec > h->pause_until)
		h->pause_until = until_usec;
	/* The queue is judged again, and the pace timer set to the new end. */
	return sd_event_source_set_enabled(h->kick, SD_EVENT_ONESHOT);
}

size_t http_pending(const struct http *h)
{
	return h->urgent.n + http_lanes_count(h) + h->running.n + h->completed.n +
	       (h->preparing ? 1 : 0);
}

void http_get_stats(const struct http *h, struct http_stats *ret)
{
	*ret = h->stats;
}

sd_event *http_get_event(const struct http *h)
{
	return h->event;
}
