/* http-curl.c - curl's multi interface on sd_event: the sockets and the
 * timer curl asks for, and the transfers it reports finished.  As
 * systemd's src/import/curl-util.c.  See http-internal.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "http-internal.h"
#include "util.h"

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
		http_list_remove(r);

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
		http_list_append(&h->completed, r);
	}
}

/* curl cannot drive its transfers any more: each ends at once with ERROR. */
static void fail_running(struct http *h, const char *error)
{
	struct http_request *r;

	while ((r = http_list_pop(&h->running))) {
		(void) curl_multi_remove_handle(h->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		h->stats.transport_errors++;
		http_request_fail(r, CURLE_FAILED_INIT, error);
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
	http_process(h);
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

void http_socket_forget(struct http *h, struct http_socket *hs)
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
			http_socket_forget(h, hs);
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
		http_socket_forget(h, hs);
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

int http_curl_attach(struct http *h)
{
	bool ok = curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) == CURLM_OK &&
	          curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) == CURLM_OK &&
	          curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout) == CURLM_OK &&
	          curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) == CURLM_OK &&
	          curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	                            (long) h->max_parallel) == CURLM_OK &&
	          /* Idle connections kept: the CSMS host's plus one for IAM or metadata. */
	          curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long) h->max_parallel + 1) == CURLM_OK;

	return ok ? 0 : -EINVAL;
}

