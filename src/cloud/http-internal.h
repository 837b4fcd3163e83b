/* http-internal.h - what the parts of the HTTP client share (internal to
 * http*.c; the contract is http.h).
 *
 *   http.c       requests, their lists, the start loop, the client
 *   http-lane.c  lanes: their queues, rates and pauses, and which queued
 *                request starts next (round-robin over lanes)
 *   http-easy.c  one request as a curl easy handle: options, headers,
 *                the answer's body and headers
 *   http-curl.c  curl's multi interface on sd_event: sockets, timers,
 *                finished transfers
 */
#ifndef CSMS_HTTP_INTERNAL_H
#define CSMS_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"

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
	size_t n_bulk;          /* of them, http_call.bulk */
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
	bool bulk;
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

/* A lane: a FIFO of CSMS requests (an "ahead" list before it) with its own
 * rate and pause.  The lanes that may hold queued requests are in the
 * http's ring (rr_*), in the order they get their next turn. */
struct http_lane {
	struct http *http;
	struct req_list ahead, queue;
	double rate;                    /* 0 = unlimited */
	uint64_t last_start;            /* monotonic; 0 = nothing started yet */
	uint64_t pause_until;
	bool in_ring;
	struct http_lane *rr_prev, *rr_next;
	struct http_lane *prev, *next;  /* every lane of the http but the default */
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

	struct req_list urgent, running, completed;
	struct http_lane default_lane;  /* http_call.lane NULL */
	struct http_lane *lanes;        /* the others (http_lane_new()) */
	struct http_lane *ring_head, *ring_tail;  /* lanes with queued requests */
	struct http_request *preparing; /* popped; its prepare callback runs */
	bool preparing_dropped;         /* ...and it was cancelled meanwhile */

	char *ca_file;
	char *user_agent;
	long timeout_ms, connect_timeout_ms;
	size_t max_body;
	unsigned max_parallel;
	unsigned max_parallel_bulk;     /* <= max_parallel */
	double rate;                    /* the cap over all lanes */
	uint64_t last_start;            /* monotonic; 0 = nothing paced yet */
	uint64_t pause_until;           /* http_pause(): every lane */

	unsigned busy;                  /* process() frames on the stack */
	bool dead;                      /* http_free() called from a callback */
	bool curl_global;
	struct http_stats stats;
};

/* ---- http.c ----------------------------------------------------------------- */

/* The one place user callbacks run from. */
void http_process(struct http *h);
void http_list_append(struct req_list *l, struct http_request *r);
void http_list_remove(struct http_request *r);
struct http_request *http_list_pop(struct req_list *l);
/* Finish R without an answer: its callback runs from the completed list. */
void http_request_fail(struct http_request *r, CURLcode code, const char *error);
void http_wipe_free(char *p, size_t len);
void http_wipe_free_str(char *p);

/* Free R (in whatever list) without calling back. */
void http_request_free(struct http_request *r);

/* ---- http-lane.c ---------------------------------------------------------- */

void http_lane_init(struct http *h, struct http_lane *l, double rate);
/* Queue R on lane L (NULL: the default lane), in its ahead list when AHEAD. */
void http_lane_enqueue(struct http *h, struct http_lane *l, struct http_request *r, bool ahead);
/* Whether any lane holds a queued request. */
bool http_lanes_queued(const struct http *h);
/* Pop the request to start now: the lanes whose own pace and pause allow
 * it take their turns round-robin, and within a lane the ahead list goes
 * first.  NULL when none may start now; *NEXT is then the earliest time one
 * could (UINT64_MAX: nothing queued). */
struct http_request *http_lanes_pick(struct http *h, uint64_t now, uint64_t *next);
/* The earliest time a lane's own pace and pause let it start a request
 * (UINT64_MAX: nothing queued). */
uint64_t http_lanes_earliest(struct http *h);
/* Move every queued request to the completed list with ERROR. */
void http_lanes_fail_all(struct http *h, CURLcode code, const char *error);
/* Drop queued requests without callbacks: all, or those of USERDATA. */
void http_lanes_drop_all(struct http *h);
void http_lanes_drop_for(struct http *h, void *userdata);
size_t http_lanes_count(const struct http *h);
/* Free every lane made with http_lane_new() (http_free()). */
void http_lanes_free_all(struct http *h);

/* ---- http-easy.c ---------------------------------------------------------- */

/* Set up r->easy for R on H. */
int http_setup_easy(struct http *h, struct http_request *r);
/* Add the headers the request's body needs (Content-Type, no Expect). */
int http_build_headers(struct http_request *r);

/* ---- http-curl.c ---------------------------------------------------------- */

/* Hand curl its socket and timer callbacks and H's connection limits. */
int http_curl_attach(struct http *h);
/* Stop watching a socket curl is done with. */
void http_socket_forget(struct http *h, struct http_socket *hs);

#endif
