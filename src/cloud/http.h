/* http.h - HTTP requests on libcurl's multi interface, driven by sd_event.
 *
 * The loop never blocks on the network: curl tells us which sockets and
 * which timeout to watch (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION)
 * and we hand events back with curl_multi_socket_action(), as systemd's
 * src/import/curl-util.c does.
 *
 * Requests wait in a FIFO and start while fewer than max_parallel are in
 * flight and the global max_requests_per_second budget allows (requests are
 * spaced 1/rate apart; 0 = unlimited).  http_pause() holds every new start
 * until a time, which is how a 429's Retry-After slows the whole client.
 *
 * Lanes (http_lane_new()) split that FIFO, for one process that talks to
 * many accounts: each lane is a FIFO of its own with its own rate and pause
 * (http_lane_pause(): a 429 slows its account only), and the starts go
 * round-robin over the lanes that may start now, so a lane with a thousand
 * requests queued never holds up one with a single request.  The http's
 * own options stay the caps over everything: max_parallel connections and
 * max_requests_per_second as the total rate of all lanes together;
 * http_pause() holds every lane.  A request without a lane (NULL) goes to
 * the default lane, which has no rate or pause of its own: an http that
 * never makes a lane behaves exactly as without lanes.
 *
 * A request's prepare callback runs right before it starts (not when it is
 * queued), so signatures and X-Sdk-Date are fresh however long it waited.
 * TLS peer and host verification are always on.  Connections are reused.
 * Redirects are not followed, and the URL path is sent as given (no
 * dot-segment removal), so what was signed is what goes on the wire.
 * Every request and response body is wiped before it is freed, since some
 * carry credentials.  The body of a non-2xx answer reaches the callback
 * with every registered credential cut out (redact.h): error texts get
 * quoted in logs and STATUS=, and some servers echo the request.
 */
#ifndef CSMS_HTTP_H
#define CSMS_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct http;
struct http_request;
struct http_lane;

struct http_options {
	const char *ca_file;            /* NULL: system trust store */
	uint64_t timeout_usec;          /* whole request; 0 = 30 s */
	uint64_t connect_timeout_usec;  /* 0 = 10 s (capped at timeout) */
	size_t max_body;                /* larger answers fail; 0 = 32 MiB */
	unsigned max_parallel;          /* 0 = 8 */
	double max_requests_per_second; /* 0 = unlimited */
	unsigned max_parallel_bulk;     /* bulk calls in flight at once; 0 = max_parallel */
	const char *user_agent;         /* e.g. "csms-tagd/0.1.0" */
};

struct http_response {
	long status;            /* HTTP status, or 0 when no answer came */
	CURLcode curl_code;     /* CURLE_OK when an answer came completely */
	const char *error;      /* transport error text when curl_code != OK */
	const char *body;       /* NUL-terminated; body_len bytes */
	size_t body_len;
	bool body_too_large;    /* the answer exceeded max_body: treat as error */
	const char *request_id; /* X-Request-Id header or NULL */
	const char *subject_token; /* X-Subject-Token header (IAM) or NULL */
	uint64_t retry_after_usec; /* Retry-After (seconds or HTTP-date) or 0 */
};

/* Called right before the request starts.  *HEADERS already holds the
 * call's extra headers and its Content-Type, exactly as they will be sent;
 * the callback may append more (e.g. authentication).  Return < 0 to fail
 * the request without sending it; done is then called with status 0 and
 * curl_code CURLE_ABORTED_BY_CALLBACK. */
typedef int (*http_prepare_t)(struct http_request *req, const char *method, const char *url,
                              const char *body, size_t body_len,
                              struct curl_slist **headers, void *userdata);

/* Called exactly once per submitted request (unless http_free() or
 * http_cancel_all() drops it first).  RESP and its strings are valid only
 * during the call.  The request is freed after the callback returns. */
typedef void (*http_done_t)(struct http_request *req, const struct http_response *resp,
                            void *userdata);

struct http_call {
	const char *method;     /* "GET", "POST", "PUT", "DELETE" */
	const char *url;
	const char *body;       /* copied; NULL for none */
	size_t body_len;
	const char *content_type; /* sent when body != NULL or set explicitly */
	struct curl_slist *headers; /* extra headers; ownership moves to the request */
	http_prepare_t prepare; /* may be NULL */
	bool priority;          /* credential traffic (IAM, metadata): starts ahead
	                         * of the queue, and neither the rate budget nor
	                         * http_pause() holds it (it does not go to CSMS);
	                         * it still counts towards max_parallel */
	bool bulk;              /* a large answer (a listing page): at most
	                         * max_parallel_bulk of them in flight */
	bool ahead;             /* starts before every other queued CSMS request
	                         * of its lane (a DELETE right after its
	                         * re-check), but is paced and paused like them */
	struct http_lane *lane; /* the lane it queues on; NULL = the default lane.
	                         * Not for priority requests, which have none */
	bool no_proxy;          /* never through a proxy, whatever http_proxy,
	                         * https_proxy, ALL_PROXY and NO_PROXY say: the
	                         * ECS metadata service is link-local plain HTTP,
	                         * and its answer is the credentials */
	http_done_t done;
	void *userdata;
};

int http_new(sd_event *event, const struct http_options *o, struct http **ret);
void http_free(struct http *h);         /* drops every request without callbacks */

/* Queue a request.  Returns 0 (done will be called later, never from within
 * http_submit) or a negative errno (done will not be called). */
int http_submit(struct http *h, const struct http_call *call);

/* Drop all queued and in-flight requests without calling their callbacks. */
void http_cancel_all(struct http *h);

/* Drop the requests submitted with USERDATA, without callbacks (for a module
 * that goes away while its requests are outstanding).  Safe from callbacks. */
void http_cancel_for(struct http *h, void *userdata);

sd_event *http_get_event(const struct http *h);

/* Hold new request starts until monotonic time UNTIL_USEC (0 clears).  An
 * earlier time than the pause in force does not shorten it.  Returns 0, or
 * a negative errno when the loop cannot be woken to judge the queue again
 * (the pause is set all the same). */
int http_pause(struct http *h, uint64_t until_usec);

size_t http_pending(const struct http *h);   /* queued (every lane) + in flight */

/* A new lane on H whose requests start at most RATE per second (<= 0 or
 * NaN = no rate of its own; the http's total rate still holds it).  The
 * lane belongs to H: free it with http_lane_free() before http_free(H), or
 * leave it to http_free(H), which frees every lane left.  Returns 0,
 * -EINVAL (H freed or NULL) or -ENOMEM. */
int http_lane_new(struct http *h, double rate, struct http_lane **ret);
/* Drop L's queued requests without callbacks and free it.  Its requests in
 * flight are not its any more: they finish and are called back as usual.
 * NULL: nothing.  Safe from callbacks. */
void http_lane_free(struct http_lane *l);
/* As http_pause(), for lane L only: its requests do not start before
 * monotonic time UNTIL_USEC (0 clears); the other lanes go on. */
int http_lane_pause(struct http_lane *l, uint64_t until_usec);

struct http_stats {
	uint64_t started;       /* requests sent */
	uint64_t completed;     /* answered (any status) */
	uint64_t transport_errors;
};
void http_get_stats(const struct http *h, struct http_stats *ret);

/* Pure helpers, exposed for tests. */

/* The earliest monotonic time at which the next paced request may start,
 * given when the previous one started (LAST_START, 0 = none yet), the rate
 * (<= 0 or NaN = unlimited) and a pause (0 = none).  A result at or before
 * now means "now". */
uint64_t http_next_start_usec(uint64_t last_start, double rate, uint64_t pause_until);

/* Parse a Retry-After value: delta-seconds ("120") or an HTTP-date (relative
 * to NOW_REALTIME_USEC; a date in the past gives 0).  The result is capped at
 * one day.  Returns 0 or -EINVAL. */
int http_parse_retry_after(const char *value, uint64_t now_realtime_usec, uint64_t *ret);

#endif
