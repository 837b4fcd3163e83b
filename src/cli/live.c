/* live.c - one read-only observation, for --plan and --explain, as a job
 * on the manager (manager.h): SIGTERM/SIGINT end it (no plan is shown)
 * after the same drain as the daemon's; SIGHUP and SIGUSR1 are ignored. */
#include "live.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "csms.h"
#include "manager.h"
#include "observe.h"
#include "redact.h"
#include "util.h"

struct live {
	const struct config *cfg;
	struct manager *manager;
	sd_event_source *deadline;
	struct csms *client;
	struct observe *observe;
	struct observation *obs;
	int r;
	bool done;
	char *error;
};

static void finish(struct live *l, int r, char *error)
{
	if (l->done) {
		free(error);
		return;
	}
	l->done = true;
	l->r = r;
	l->error = error;
	manager_done(l->manager);
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

static int live_start(void *job)
{
	struct live *l = job;
	int r;

	r = manager_arm(l->manager, &l->deadline, "deadline",
	                manager_now(l->manager) + l->cfg->daemon.pass_timeout_usec, 0, on_deadline, l);
	if (r < 0)
		return r;
	csms_ensure_auth(l->client, on_auth, l);
	return 0;
}

static void live_stop(void *job, const char *why)
{
	struct live *l = job;

	if (l->done)
		return;
	csms_cancel(l->client, l);
	observe_free(l->observe);
	l->observe = NULL;
	finish(l, -EINTR, xasprintf("interrupted (%s)", why));
}

static size_t live_pending(void *job)
{
	struct live *l = job;

	return csms_pending(l->client);
}

static const struct job_ops live_ops = {
	.name = "--plan",
	.start = live_start,
	.stop = live_stop,
	.pending = live_pending,
};

int live_observe(const struct config *c, struct observation *obs, char **error)
{
	struct live l = { .cfg = c, .obs = obs, .r = -EIO };
	int r;

	*error = NULL;
	r = manager_new(&l.manager);
	if (r >= 0)
		r = csms_new(manager_event(l.manager), c, &l.client, error);
	if (r >= 0)
		r = manager_run(l.manager, &live_ops, &l);
	if (r >= 0 || l.done) {
		r = l.r;
		*error = l.error;
		l.error = NULL;
	}
	free(l.error);
	if (*error)
		redact(*error);
	observe_free(l.observe);
	sd_event_source_disable_unref(l.deadline);
	csms_free(l.client);
	manager_free(l.manager);
	return r;
}
