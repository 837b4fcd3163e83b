/* http-lane.c - lanes: per-account queues of CSMS requests, each with its
 * own rate and pause, and the choice of which queued request starts next.
 *
 * Fairness is a ring of the lanes that hold queued requests.  The start
 * loop (http.c) asks for one request at a time; the first lane in the ring
 * whose own pace and pause allow a start now gives its oldest request (its
 * ahead list first) and goes to the back of the ring.  A lane with a
 * thousand requests queued thus gets one start per turn, like a lane with
 * one: neither waits for the other's backlog.  A lane held by its pace or
 * pause keeps its place at the front, so it goes first when it may.
 *
 * The http's own limits (max_parallel, max_requests_per_second, http_pause)
 * stay with http.c and hold every lane; the default lane (http_call.lane
 * NULL) has no rate or pause of its own, so an http without lanes behaves
 * as it always did.  A lane leaves the ring lazily, when its turn finds it
 * empty (cancelled requests may empty it at any time).
 */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "http-internal.h"
#include "util.h"

static size_t lane_queued(const struct http_lane *l)
{
	return l->ahead.n + l->queue.n;
}

static void ring_append(struct http *h, struct http_lane *l)
{
	l->in_ring = true;
	l->rr_next = NULL;
	l->rr_prev = h->ring_tail;
	if (h->ring_tail)
		h->ring_tail->rr_next = l;
	else
		h->ring_head = l;
	h->ring_tail = l;
}

static void ring_remove(struct http *h, struct http_lane *l)
{
	if (!l->in_ring)
		return;
	if (l->rr_prev)
		l->rr_prev->rr_next = l->rr_next;
	else
		h->ring_head = l->rr_next;
	if (l->rr_next)
		l->rr_next->rr_prev = l->rr_prev;
	else
		h->ring_tail = l->rr_prev;
	l->rr_prev = l->rr_next = NULL;
	l->in_ring = false;
}

static double valid_rate(double rate)
{
	return rate > 0 && isfinite(rate) ? rate : 0;
}

void http_lane_init(struct http *h, struct http_lane *l, double rate)
{
	*l = (struct http_lane) { .http = h, .rate = valid_rate(rate) };
}

int http_lane_new(struct http *h, double rate, struct http_lane **ret)
{
	struct http_lane *l;

	if (!h || h->dead || !ret)
		return -EINVAL;
	l = malloc(sizeof(*l));
	if (!l)
		return -ENOMEM;
	http_lane_init(h, l, rate);
	l->next = h->lanes;
	if (h->lanes)
		h->lanes->prev = l;
	h->lanes = l;
	*ret = l;
	return 0;
}

static void lane_drop_queued(struct http_lane *l)
{
	struct http_request *r;

	while ((r = http_list_pop(&l->ahead)) || (r = http_list_pop(&l->queue)))
		http_request_free(r);
}

void http_lane_free(struct http_lane *l)
{
	struct http *h;

	if (!l)
		return;
	h = l->http;
	lane_drop_queued(l);
	ring_remove(h, l);
	if (l->prev)
		l->prev->next = l->next;
	else
		h->lanes = l->next;
	if (l->next)
		l->next->prev = l->prev;
	free(l);
}

void http_lanes_free_all(struct http *h)
{
	while (h->lanes)
		http_lane_free(h->lanes);
}

int http_lane_pause(struct http_lane *l, uint64_t until_usec)
{
	/* As http_pause(): a shorter pause never cuts one in force short. */
	if (until_usec == 0 || until_usec > l->pause_until)
		l->pause_until = until_usec;
	return sd_event_source_set_enabled(l->http->kick, SD_EVENT_ONESHOT);
}

void http_lane_enqueue(struct http *h, struct http_lane *l, struct http_request *r, bool ahead)
{
	if (!l)
		l = &h->default_lane;
	http_list_append(ahead ? &l->ahead : &l->queue, r);
	if (!l->in_ring)
		ring_append(h, l);
}

bool http_lanes_queued(const struct http *h)
{
	for (const struct http_lane *l = h->ring_head; l; l = l->rr_next)
		if (lane_queued(l) > 0)
			return true;
	return false;
}

static uint64_t lane_next(const struct http_lane *l)
{
	return http_next_start_usec(l->last_start, l->rate, l->pause_until);
}

struct http_request *http_lanes_pick(struct http *h, uint64_t now, uint64_t *next)
{
	struct http_lane *l = h->ring_head, *after;
	bool bulk_full = h->running.n_bulk >= h->max_parallel_bulk;

	*next = UINT64_MAX;
	for (; l; l = after) {
		struct http_request *r;
		uint64_t t;

		after = l->rr_next;
		if (lane_queued(l) == 0) {
			ring_remove(h, l);
			continue;
		}
		/* A lane whose next request is bulk waits, in its place, for
		 * a bulk one to finish (which runs the start loop again). */
		if (bulk_full && (l->ahead.head ? l->ahead.head : l->queue.head)->bulk)
			continue;
		t = lane_next(l);
		if (t > now) {
			if (t < *next)
				*next = t;
			continue;
		}
		r = http_list_pop(l->ahead.head ? &l->ahead : &l->queue);
		l->last_start = now;
		/* Its turn is used: to the back of the ring, or out of it. */
		ring_remove(h, l);
		if (lane_queued(l) > 0)
			ring_append(h, l);
		return r;
	}
	return NULL;
}

uint64_t http_lanes_earliest(struct http *h)
{
	uint64_t next = UINT64_MAX;

	for (const struct http_lane *l = h->ring_head; l; l = l->rr_next) {
		uint64_t t;

		if (lane_queued(l) == 0)
			continue;
		t = lane_next(l);
		if (t < next)
			next = t;
	}
	return next;
}

void http_lanes_fail_all(struct http *h, CURLcode code, const char *error)
{
	struct http_lane *l;

	while ((l = h->ring_head)) {
		struct http_request *r;

		while ((r = http_list_pop(&l->ahead)) || (r = http_list_pop(&l->queue)))
			http_request_fail(r, code, error);
		ring_remove(h, l);
	}
}

void http_lanes_drop_all(struct http *h)
{
	struct http_lane *l;

	while ((l = h->ring_head)) {
		lane_drop_queued(l);
		ring_remove(h, l);
	}
}

static void drop_matching(struct req_list *list, void *userdata)
{
	for (struct http_request *r = list->head, *next; r; r = next) {
		next = r->next;
		if (r->userdata == userdata)
			http_request_free(r);
	}
}

void http_lanes_drop_for(struct http *h, void *userdata)
{
	/* A lane emptied here leaves the ring on its next turn. */
	for (struct http_lane *l = h->ring_head; l; l = l->rr_next) {
		drop_matching(&l->ahead, userdata);
		drop_matching(&l->queue, userdata);
	}
}

size_t http_lanes_count(const struct http *h)
{
	size_t n = 0;

	for (const struct http_lane *l = h->ring_head; l; l = l->rr_next)
		n += lane_queued(l);
	return n;
}
