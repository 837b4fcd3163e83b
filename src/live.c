/* live.c - one read-only observation, for --plan and --explain. */
#include "live.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "csms.h"
#include "observe.h"
#include "redact.h"
#include "util.h"

struct live {
	const struct config *cfg;
	sd_event *event;
	struct csms *client;
	struct observe *observe;
	struct observation *obs;
	int r;
	char *error;
};

static void finish(struct live *l, int r, char *error)
{
	l->r = r;
	l->error = error;
	(void) sd_event_exit(l->event, 0);
}

static void on_observed(struct observe_result *o, void *userdata)
{
	struct live *l = userdata;

	if (!o->complete) {
		finish(l, o->auth_refused ? -EACCES : -EIO,
		       xasprintf("the listing is incomplete, so no plan is shown: %s",
		                 o->failure[0] ? o->failure : "unknown failure"));
		return;
	}
	*l->obs = o->obs;
	o->obs = (struct observation) {};
	finish(l, 0, NULL);
}

static void on_auth(int r, const char *error, void *userdata)
{
	struct live *l = userdata;

	if (r < 0) {
		finish(l, r, xasprintf("cannot obtain credentials: %s", error ? error : strerror(-r)));
		return;
	}
	r = observe_start(l->client, l->cfg->daemon.observe, l->cfg->daemon.max_parallel_requests, 0,
	                  on_observed, l, &l->observe);
	if (r < 0)
		finish(l, r, xasprintf("cannot observe: %s", strerror(-r)));
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	finish(userdata, -ETIMEDOUT, xasprintf("no complete listing within pass_timeout"));
	return 0;
}

int live_observe(const struct config *c, struct observation *obs, char **error)
{
	struct live l = { .cfg = c, .obs = obs, .r = -EIO };
	int r;

	*error = NULL;
	r = sd_event_new(&l.event);
	if (r >= 0)
		r = sd_event_add_time_relative(l.event, NULL, CLOCK_MONOTONIC, c->daemon.pass_timeout_usec,
		                               0, on_deadline, &l);
	if (r >= 0)
		r = csms_new(l.event, c, &l.client, error);
	if (r >= 0) {
		csms_ensure_auth(l.client, on_auth, &l);
		r = sd_event_loop(l.event);
	}
	if (r >= 0) {
		r = l.r;
		*error = l.error;
		l.error = NULL;
	}
	free(l.error);
	if (*error)
		redact(*error);
	observe_free(l.observe);
	csms_free(l.client);
	sd_event_unref(l.event);
	return r;
}
