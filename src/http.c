/* http.c - HTTP requests on libcurl's multi interface, driven by sd_event.
 *
 * A request lives in exactly one list at a time: urgent, ahead or queue (waiting),
 * running (handed to curl), completed (answer in, callback not yet called).
 * Callbacks into the user (prepare, done) are only made from process(),
 * which runs from sd_event handlers, never from the public entry points.
 * The user may free the whole client from any callback: http_free() then
 * only marks it dead, and the outermost process() destroys it on the way
 * out, so no code touches freed memory.
 */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "redact.h"
#include "util.h"

#define DEFAULT_TIMEOUT_USEC            (30 * USEC_PER_SEC)
#define DEFAULT_CONNECT_TIMEOUT_USEC    (10 * USEC_PER_SEC)
#define DEFAULT_MAX_BODY                ((size_t) 32 << 20)
#define DEFAULT_MAX_PARALLEL            8u
#define MAX_PARALLEL_LIMIT              1024u
#define RETRY_AFTER_MAX_USEC            (24 * 3600 * USEC_PER_SEC)
#define REQUEST_ID_MAX                  256
#define SUBJECT_TOKEN_MAX               (64 * 1024)
/* sd_event's default timer accuracy is 250 ms: far too coarse for curl's
 * timeouts and for request pacing. */
#define TIMER_ACCURACY_USEC             USEC_PER_MSEC

struct req_list {
	struct http_request *head, *tail;
	size_t n;
};

struct http_request {
	struct http *http;
	struct req_list *list;
	struct http_request *prev, *next;

	char *method;
	char *url;
	char *body;
	size_t body_len;
	char *content_type;
	struct curl_slist *headers;
	http_prepare_t prepare;
	http_done_t done;
	void *userdata;
	bool priority;
	bool no_proxy;

	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	const char *error;
	long status;
	CURLcode code;
	char *resp;
	size_t resp_len, resp_cap;
	bool too_large;
	char *request_id;
	char *subject_token;
	uint64_t retry_after;
};

/* One socket curl asked us to watch; attached to curl with curl_multi_assign(). */
struct http_socket {
	sd_event_source *source;
	struct http_socket *prev, *next;
};

struct http {
	sd_event *event;
	CURLM *multi;
	sd_event_source *curl_timer;    /* curl's own timeouts */
	sd_event_source *pace_timer;    /* next paced start */
	sd_event_source *kick;          /* run process() on the next iteration */
	struct http_socket *sockets;

	struct req_list urgent, ahead, queue, running, completed;
	struct http_request *preparing; /* popped; its prepare callback runs */
	bool preparing_dropped;         /* ...and it was cancelled meanwhile */

	char *ca_file;
	char *user_agent;
	long timeout_ms, connect_timeout_ms;
	size_t max_body;
	unsigned max_parallel;
	double rate;
	uint64_t last_start;            /* monotonic; 0 = nothing paced yet */
	uint64_t pause_until;

	unsigned busy;                  /* process() frames on the stack */
	bool dead;                      /* http_free() called from a callback */
	bool curl_global;
	struct http_stats stats;
};

static void process(struct http *h);

/* --- small helpers -------------------------------------------------------- */

static void wipe_free(char *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

static void wipe_free_str(char *p)
{
	if (p)
		wipe_free(p, strlen(p));
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

static void list_append(struct req_list *l, struct http_request *r)
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
}

static void list_remove(struct http_request *r)
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
	r->list = NULL;
	r->prev = r->next = NULL;
}

static struct http_request *list_pop(struct req_list *l)
{
	struct http_request *r = l->head;

	if (r)
		list_remove(r);
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

int http_parse_retry_after(const char *value, uint64_t now_realtime_usec, uint64_t *ret)
{
	const char *p = value;
	uint64_t secs = 0;
	time_t t;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p >= '0' && *p <= '9') {
		for (; *p >= '0' && *p <= '9'; p++) {
			secs = secs * 10 + (uint64_t) (*p - '0');
			if (secs > RETRY_AFTER_MAX_USEC / USEC_PER_SEC)
				secs = RETRY_AFTER_MAX_USEC / USEC_PER_SEC;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			return -EINVAL;
		*ret = secs * USEC_PER_SEC;
		return 0;
	}
	/* An HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT").  curl_getdate() also
	 * accepts looser forms; require a weekday name first so that garbage
	 * such as "soon" is not read as a date. */
	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
		return -EINVAL;
	t = curl_getdate(p, NULL);
	if (t < 0)
		return -EINVAL;
	if ((uint64_t) t > UINT64_MAX / USEC_PER_SEC - 1)
		*ret = RETRY_AFTER_MAX_USEC;
	else if ((uint64_t) t * USEC_PER_SEC <= now_realtime_usec)
		*ret = 0;
	else if ((uint64_t) t * USEC_PER_SEC - now_realtime_usec > RETRY_AFTER_MAX_USEC)
		*ret = RETRY_AFTER_MAX_USEC;
	else
		*ret = (uint64_t) t * USEC_PER_SEC - now_realtime_usec;
	return 0;
}

/* --- requests -------------------------------------------------------------- */

static void request_free(struct http_request *r)
{
	if (!r)
		return;
	list_remove(r);
	if (r->easy) {
		/* Fails only for a handle not in the multi: it is gone either way. */
		(void) curl_multi_remove_handle(r->http->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	free(r->method);
	free(r->url);
	wipe_free(r->body, r->body_len);
	free(r->content_type);
	slist_wipe_free(r->headers);
	wipe_free(r->resp, r->resp_cap);
	free(r->request_id);
	wipe_free_str(r->subject_token);
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
		request_free(r);
		return -ENOMEM;
	}
	/* Nothing would start the request without the kick. */
	rk = sd_event_source_set_enabled(h->kick, SD_EVENT_ONESHOT);
	if (rk < 0) {
		request_free(r);
		return rk;
	}
	/* Only now, when success is certain, take over the caller's headers. */
	r->headers = call->headers;
	r->prepare = call->prepare;
	r->done = call->done;
	r->userdata = call->userdata;
	r->priority = call->priority;
	r->no_proxy = call->no_proxy;
	list_append(r->priority ? &h->urgent : call->ahead ? &h->ahead : &h->queue, r);
	return 0;
}

/* Finish R without an answer: its callback runs from the completed list. */
static void request_fail(struct http_request *r, CURLcode code, const char *error)
{
	r->status = 0;
	r->code = code;
	r->error = error;
	list_append(&r->http->completed, r);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_request *r = userdata;
	size_t n = size * nmemb, max = r->http->max_body;

	if (n > max || r->resp_len > max - n) {
		r->too_large = true;
		return 0;       /* CURLE_WRITE_ERROR: curl stops reading */
	}
	if (r->resp_len + n + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 4096;
		char *p;

		while (cap < r->resp_len + n + 1)
			cap = cap > max / 2 ? max + 1 : cap * 2;
		p = malloc(cap);
		if (!p)
			return 0;
		/* Copy rather than realloc, so an old buffer holding part of a
		 * credential answer can be wiped. */
		if (r->resp) {
			memcpy(p, r->resp, r->resp_len);
			wipe_free(r->resp, r->resp_cap);
		}
		r->resp = p;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, data, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
	size_t nl = strlen(name);
	const char *v, *end = line + len;

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return false;
	v = line + nl + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = v;
	*vlen = (size_t) (end - v);
	return true;
}

/* Store a header value, or drop it when it is empty, too long or not
 * printable ASCII (it ends up in logs and in request headers). */
static void header_store(char **dst, const char *v, size_t len, size_t max, bool secret)
{
	char *copy;

	if (secret)
		wipe_free_str(*dst);
	else
		free(*dst);
	*dst = NULL;
	if (len == 0 || len > max)
		return;
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			return;
	copy = strndup(v, len);
	*dst = copy;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_request *r = userdata;
	size_t n = size * nmemb, vlen;
	const char *v;
	char buf[128];

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new status line (after a 1xx): forget the previous block. */
		free(r->request_id);
		wipe_free_str(r->subject_token);
		r->request_id = r->subject_token = NULL;
		r->retry_after = 0;
	} else if (header_is(data, n, "X-Request-Id", &v, &vlen))
		header_store(&r->request_id, v, vlen, REQUEST_ID_MAX, false);
	else if (header_is(data, n, "X-Subject-Token", &v, &vlen))
		header_store(&r->subject_token, v, vlen, SUBJECT_TOKEN_MAX, true);
	else if (header_is(data, n, "Retry-After", &v, &vlen) && vlen < sizeof(buf)) {
		memcpy(buf, v, vlen);
		buf[vlen] = '\0';
		if (http_parse_retry_after(buf, now_realtime_usec(), &r->retry_after) < 0)
			r->retry_after = 0;
	}
	return n;
}

static int setup_method(struct http_request *r)
{
	CURL *e = r->easy;
	bool has_body = r->body || (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
	                            strcmp(r->method, "PATCH") == 0);

	if (strcmp(r->method, "GET") == 0 && !r->body)
		return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -EINVAL;
	if (strcmp(r->method, "HEAD") == 0 && !r->body)
		return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK ? 0 : -EINVAL;
	if (has_body) {
		/* POSTFIELDS is not copied by curl: the request owns the body.
		 * A body-carrying method without a body sends Content-Length: 0,
		 * which some servers require (411 otherwise). */
		if (curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "") != CURLE_OK ||
		    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len) != CURLE_OK)
			return -EINVAL;
	}
	if (strcmp(r->method, "POST") != 0 &&
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method) != CURLE_OK)
		return -EINVAL;
	return 0;
}

static int setup_easy(struct http *h, struct http_request *r)
{
	CURL *e = r->easy;
	bool ok = true;

#define SET(opt, val) (ok = ok && curl_easy_setopt(e, opt, val) == CURLE_OK)
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_TIMEOUT_MS, h->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) h->max_body);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_HTTPHEADER, r->headers);
	if (h->ca_file)
		SET(CURLOPT_CAINFO, h->ca_file);
	if (h->user_agent)
		SET(CURLOPT_USERAGENT, h->user_agent);
	/* "*" matches every host; CURLOPT_NOPROXY overrides $NO_PROXY, so no
	 * proxy variable can send this request through a proxy. */
	if (r->no_proxy)
		SET(CURLOPT_NOPROXY, "*");
#undef SET
	if (!ok)
		return -EINVAL;
	return setup_method(r);
}

static int append_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

static int build_headers(struct http_request *r)
{
	_cleanup_free_ char *ct = NULL;

	if (r->content_type) {
		ct = xasprintf("Content-Type: %s", r->content_type);
		if (!ct || append_header(&r->headers, ct) < 0)
			return -ENOMEM;
	}
	/* No "Expect: 100-continue" round trip for our small bodies. */
	if (r->body && append_header(&r->headers, "Expect:") < 0)
		return -ENOMEM;
	return 0;
}

/* Start R, which is in no list.  Returns false when it was dropped (the
 * client freed or the request cancelled from within its prepare callback). */
static bool request_start(struct http *h, struct http_request *r)
{
	CURLMcode mc;
	int q;

	if (build_headers(r) < 0) {
		request_fail(r, CURLE_OUT_OF_MEMORY, "out of memory");
		return true;
	}
	if (r->prepare) {
		h->preparing = r;
		h->preparing_dropped = false;
		q = r->prepare(r, r->method, r->url, r->body, r->body_len, &r->headers, r->userdata);
		h->preparing = NULL;
		if (h->dead || h->preparing_dropped) {
			request_free(r);
			return false;
		}
		if (q < 0) {
			request_fail(r, CURLE_ABORTED_BY_CALLBACK, "request preparation failed");
			return true;
		}
	}
	r->easy = curl_easy_init();
	if (!r->easy) {
		request_fail(r, CURLE_FAILED_INIT, "cannot create a curl handle");
		return true;
	}
	if (setup_easy(h, r) < 0) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		request_fail(r, CURLE_FAILED_INIT, "cannot set up the curl handle");
		return true;
	}
	mc = curl_multi_add_handle(h->multi, r->easy);
	if (mc != CURLM_OK) {
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		request_fail(r, CURLE_FAILED_INIT, curl_multi_strerror(mc));
		return true;
	}
	list_append(&h->running, r);
	h->stats.started++;
	return true;
}

static int on_pace_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	process(userdata);
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
	struct http_request *r;

	while ((r = list_pop(&h->ahead)) || (r = list_pop(&h->queue)))
		request_fail(r, CURLE_FAILED_INIT, error);
}

/* Start queued requests while the limits allow. */
static void start_ready(struct http *h)
{
	while (!h->dead && h->running.n < h->max_parallel) {
		struct http_request *r = list_pop(&h->urgent);

		if (!r) {
			uint64_t now, next;

			if (!h->ahead.head && !h->queue.head)
				break;
			now = now_monotonic_usec();
			next = http_next_start_usec(h->last_start, h->rate, h->pause_until);
			if (next > now) {
				if (arm_pace_timer(h, next) < 0)
					fail_queued(h, "cannot arm the timer that paces requests");
				break;
			}
			r = list_pop(h->ahead.head ? &h->ahead : &h->queue);
			h->last_start = now;
		}
		request_start(h, r);
	}
}

static void dispatch_one(struct http *h)
{
	struct http_request *r = list_pop(&h->completed);

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
	request_free(r);
}

static void http_destroy(struct http *h);

/* The one place user callbacks run from. */
static void process(struct http *h)
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
	process(userdata);
	return 0;
}

/* --- curl's side ------------------------------------------------------------ */

/* Move finished transfers to the completed list. */
static void collect_finished(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		struct http_request *r;
		CURL *e = msg->easy_handle;
		CURLcode code = msg->data.result;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
			continue;
		r = (struct http_request *) (void *) priv;
		if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status) != CURLE_OK && code == CURLE_OK)
			code = CURLE_BAD_FUNCTION_ARGUMENT;     /* an answer without a status */
		/* Fails only for a handle not in the multi: it is gone either way. */
		(void) curl_multi_remove_handle(h->multi, e);
		curl_easy_cleanup(e);
		r->easy = NULL;
		list_remove(r);

		r->code = code;
		if (code == CURLE_FILESIZE_EXCEEDED)
			r->too_large = true;
		if (r->too_large) {
			if (code == CURLE_OK)
				r->code = CURLE_FILESIZE_EXCEEDED;
			r->error = "answer larger than the size limit";
		} else if (code != CURLE_OK)
			r->error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
		if (r->code == CURLE_OK)
			h->stats.completed++;
		else {
			h->stats.transport_errors++;
			r->status = r->too_large ? r->status : 0;
		}
		list_append(&h->completed, r);
	}
}

/* curl cannot drive its transfers any more: each ends at once with ERROR. */
static void fail_running(struct http *h, const char *error)
{
	struct http_request *r;

	while ((r = list_pop(&h->running))) {
		(void) curl_multi_remove_handle(h->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		h->stats.transport_errors++;
		request_fail(r, CURLE_FAILED_INIT, error);
	}
}

static void socket_action(struct http *h, curl_socket_t fd, int events)
{
	int running;
	CURLMcode mc = curl_multi_socket_action(h->multi, fd, events, &running);

	/* CURLM_BAD_SOCKET: a socket curl already closed; harmless.  Anything
	 * else (out of memory, internal error) leaves the transfers stuck. */
	collect_finished(h);
	if (mc != CURLM_OK && mc != CURLM_BAD_SOCKET)
		fail_running(h, curl_multi_strerror(mc));
	process(h);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	int events = 0;

	if (revents & (EPOLLIN | EPOLLPRI))
		events |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		events |= CURL_CSELECT_OUT;
	if (revents & (EPOLLERR | EPOLLHUP))
		events |= CURL_CSELECT_ERR;
	socket_action(userdata, fd, events);
	return 0;
}

static int on_curl_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	socket_action(userdata, CURL_SOCKET_TIMEOUT, 0);
	return 0;
}

static void socket_forget(struct http *h, struct http_socket *hs)
{
	if (hs->prev)
		hs->prev->next = hs->next;
	else
		h->sockets = hs->next;
	if (hs->next)
		hs->next->prev = hs->prev;
	sd_event_source_disable_unref(hs->source);
	free(hs);
}

/* CURLMOPT_SOCKETFUNCTION: which sockets to watch for what. */
static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct http_socket *hs = socketp;
	uint32_t events;

	if (what == CURL_POLL_REMOVE) {
		if (hs) {
			/* Fails only for a socket curl no longer knows: fine. */
			(void) curl_multi_assign(h->multi, fd, NULL);
			socket_forget(h, hs);
		}
		return 0;
	}
	events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (hs)
		return sd_event_source_set_io_events(hs->source, events) < 0 ? -1 : 0;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -1;
	if (sd_event_add_io(h->event, &hs->source, fd, events, on_io, h) < 0) {
		free(hs);
		return -1;
	}
	hs->next = h->sockets;
	if (h->sockets)
		h->sockets->prev = hs;
	h->sockets = hs;
	if (curl_multi_assign(h->multi, fd, hs) != CURLM_OK) {
		socket_forget(h, hs);
		return -1;
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: when curl wants to be called back (-1 = never).
 * Calling curl from here is forbidden, so only the timer is (re)armed. */
static int on_curl_timeout(CURLM *m, long timeout_ms, void *userp)
{
	struct http *h = userp;
	uint64_t when;

	if (timeout_ms < 0)
		return h->curl_timer && sd_event_source_set_enabled(h->curl_timer, SD_EVENT_OFF) < 0 ? -1 : 0;
	when = now_monotonic_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;
	if (h->curl_timer) {
		if (sd_event_source_set_time(h->curl_timer, when) < 0 ||
		    sd_event_source_set_enabled(h->curl_timer, SD_EVENT_ONESHOT) < 0)
			return -1;
		return 0;
	}
	return sd_event_add_time(h->event, &h->curl_timer, CLOCK_MONOTONIC, when, TIMER_ACCURACY_USEC,
	                         on_curl_timer, h) < 0 ? -1 : 0;
}

/* --- the client --------------------------------------------------------------- */

int http_new(sd_event *event, const struct http_options *o, struct http **ret)
{
	uint64_t timeout = o->timeout_usec ? o->timeout_usec : DEFAULT_TIMEOUT_USEC;
	uint64_t connect = o->connect_timeout_usec ? o->connect_timeout_usec
	                                           : DEFAULT_CONNECT_TIMEOUT_USEC;
	struct http *h;
	bool ok;

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
	h->rate = o->max_requests_per_second > 0 && isfinite(o->max_requests_per_second)
	          ? o->max_requests_per_second : 0;
	if ((o->ca_file && !(h->ca_file = strdup(o->ca_file))) ||
	    (o->user_agent && !(h->user_agent = strdup(o->user_agent))))
		goto oom;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto oom;
	h->curl_global = true;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto oom;
	ok = curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) == CURLM_OK &&
	     curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) == CURLM_OK &&
	     curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout) == CURLM_OK &&
	     curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) == CURLM_OK &&
	     curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	                       (long) h->max_parallel) == CURLM_OK &&
	     /* Idle connections kept: the CSMS host's plus one for IAM or metadata. */
	     curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long) h->max_parallel + 1) == CURLM_OK;
	if (!ok)
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

	while ((r = list_pop(l)))
		request_free(r);
}

void http_cancel_all(struct http *h)
{
	if (!h)
		return;
	if (h->preparing)
		h->preparing_dropped = true;
	drop_list(&h->urgent);
	drop_list(&h->ahead);
	drop_list(&h->queue);
	drop_list(&h->running);
	drop_list(&h->completed);
}

static void drop_matching(struct req_list *l, void *userdata)
{
	struct http_request *r = l->head, *next;

	for (; r; r = next) {
		next = r->next;
		if (r->userdata == userdata)
			request_free(r);
	}
}

void http_cancel_for(struct http *h, void *userdata)
{
	if (!h)
		return;
	if (h->preparing && h->preparing->userdata == userdata)
		h->preparing_dropped = true;
	drop_matching(&h->urgent, userdata);
	drop_matching(&h->ahead, userdata);
	drop_matching(&h->queue, userdata);
	drop_matching(&h->running, userdata);
	drop_matching(&h->completed, userdata);
}

static void http_destroy(struct http *h)
{
	http_cancel_all(h);
	/* curl may still report sockets of cached connections as it closes
	 * them, so the socket list is cleared only afterwards. */
	if (h->multi)
		(void) curl_multi_cleanup(h->multi);     /* nothing to do if it fails */
	while (h->sockets)
		socket_forget(h, h->sockets);
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
		/* Inside a callback: process() finishes the job on the way out.
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
	return h->urgent.n + h->ahead.n + h->queue.n + h->running.n + h->completed.n +
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
