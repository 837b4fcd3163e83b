/* service.c - the daemon as a job on the manager (daemon.h, manager.h):
 * passes at start and every interval plus jitter, sd_notify (READY,
 * STATUS, RELOADING, STOPPING), the health the watchdog pings on, reload on
 * SIGHUP and a pass now on SIGUSR1. */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "advice.h"
#include "daemon-internal.h"
#include "log.h"
#include "org-service.h"
#include "redact.h"
#include "unit.h"
#include "util.h"


struct service {
	struct daemon d;
	struct config *pending_cfg;     /* valid reload waiting for the pass to end */
	struct csms *pending_client;
	unsigned consecutive_failures;
	bool ready;
	bool auth_waiting;              /* a credential request is in flight */
	sd_event_source *pass_timer;    /* next scheduled pass */
	sd_event_source *auth_retry_timer;
	uint64_t next_pass_usec;        /* CLOCK_MONOTONIC */
	uint64_t auth_started_usec;     /* the credential request in flight */
	uint64_t next_auth_usec;        /* its retry, when none is in flight */
};

#define notify_status(s, ...) daemon_notify_status(&(s)->d, __VA_ARGS__)

static void publish(struct service *s)
{
	daemon_publish(&s->d, !pass_running(s->d.pass) && !manager_stopping(s->d.manager), true);
}

/* --- schedule -------------------------------------------------------------- */

static void start_pass(struct service *s);

static int on_pass_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	start_pass(userdata);
	return 0;
}

/* A timer that cannot be armed is logged by manager_arm() and makes the
 * service not healthy: next_pass_usec still says when it was due. */
static void schedule_pass(struct service *s, uint64_t delay)
{
	s->next_pass_usec = manager_now(s->d.manager) + delay;
	s->d.mon.next_pass = daemon_realtime_of(&s->d, s->next_pass_usec);
	(void) manager_arm(s->d.manager, &s->pass_timer, "pass", s->next_pass_usec, USEC_PER_MSEC,
	                   on_pass_timer, s);
}

static void wait_for_credentials(struct service *s);

/* Swap in a reloaded config, only ever between passes.  Returns whether
 * a new config was applied. */
static bool apply_pending_config(struct service *s)
{
	struct daemon *d = &s->d;

	if (!s->pending_cfg || pass_running(d->pass))
		return false;
	csms_cancel(d->client, s);
	monitor_retire_client(&d->mon, d->client);
	csms_free(d->client);
	config_free(d->cfg);
	d->client = s->pending_client;
	d->cfg = s->pending_cfg;
	s->pending_client = NULL;
	s->pending_cfg = NULL;
	log_event(LOG_NOTICE, MID_CONFIG_RELOADED, LOG_FIELDS({ "CSMS_CONFIG", d->cfg->path }),
	          "Configuration %s applied", d->cfg->path);
	/* Still starting: the credential wait went with the old client.  Start
	 * it again with the new one, or nothing would ever run a pass. */
	if (!s->ready)
		wait_for_credentials(s);
	return true;
}

/* STATUS= after a pass: what it did, when the next one starts (an absolute
 * time: STATUS= is a snapshot that does not count down) and, on a first
 * setup, what to do next. */
static void status_after_pass(struct service *s, const struct pass_result *r)
{
	_cleanup_free_ char *advice = NULL;
	char next[FORMAT_UTC_MAX];
	bool partial = r->outcome == PASS_PARTIAL;

	format_utc(next, sizeof(next), s->d.mon.next_pass);
	if (r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED) {
		notify_status(s, "pass %u failed: %s; retrying at %s", r->number, r->failure, next);
		return;
	}
	advice = advice_after_pass(s->d.cfg->path, UNIT_MAIN_CONFIG, s->d.unit, s->d.cfg->n_sections,
	                           r->dry_run);
	if (r->limit_exceeded)
		notify_status(s, "pass %u held: %s; next at %s", r->number, r->failure, next);
	else
		notify_status(s, "pass %u %s: %zu secrets, %zu tags %s%s%s%s; next at %s%s%s", r->number,
		              partial ? "partial" : "ok", r->secrets, r->deleted,
		              r->dry_run ? "would be deleted (dry run)" : "deleted",
		              partial ? " (" : "", partial ? r->failure : "", partial ? ")" : "", next,
		              advice ? "; " : "", advice ? advice : "");
}

static void on_pass_done(const struct pass_result *r, void *userdata)
{
	struct service *s = userdata;
	uint64_t delay;

	monitor_note_pass(&s->d.mon, r);
	if (r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED) {
		s->consecutive_failures++;
		delay = daemon_failure_delay(s->d.cfg, s->consecutive_failures);
	} else {
		s->consecutive_failures = 0;
		delay = daemon_next_interval(s->d.cfg);
	}
	/* R lives in the pass: use it all before it is freed.  The pass has
	 * ended (released its client), so a pending config may apply now. */
	if (!manager_stopping(s->d.manager)) {
		/* A new policy or dry_run is judged at once, not an interval
		 * later (RELOAD_PASS_DELAY_USEC). */
		if (apply_pending_config(s) && s->ready)
			delay = RELOAD_PASS_DELAY_USEC;
		schedule_pass(s, delay);
		status_after_pass(s, r);
	}
	daemon_end_pass(&s->d);
	publish(s);
}

static void start_pass(struct service *s)
{
	if (pass_running(s->d.pass) || manager_stopping(s->d.manager))
		return;
	apply_pending_config(s);
	if (daemon_start_pass(&s->d, (struct pass_options) { .dry_run = s->d.cfg->daemon.dry_run },
	                      on_pass_done, s) < 0) {
		schedule_pass(s, FAILURE_RETRY_USEC);
		return;
	}
	notify_status(s, "pass %u running", s->d.pass_number);
}

/* --- health and start-up --------------------------------------------------- */

/* Healthy means: the loop turns (we are here) and work keeps its schedule:
 * a running pass (or, still starting, a credential request) is within its
 * time limit, or the next one is not overdue.  Starting is bounded too: a
 * daemon that is never READY because its retry could not be armed must not
 * be pinged for ever. */
static bool service_healthy(void *job)
{
	struct service *s = job;
	uint64_t t = manager_now(s->d.manager), limit = s->d.cfg->daemon.pass_timeout_usec;

	if (!s->ready) {
		if (s->auth_waiting)
			return t - s->auth_started_usec <= limit + GRACE_USEC;
		return t <= s->next_auth_usec + limit;
	}
	if (pass_running(s->d.pass))
		return t - s->d.pass_started_usec <= limit + GRACE_USEC;
	return t <= s->next_pass_usec + limit;
}

static void become_ready(struct service *s)
{
	const struct config *c = s->d.cfg;

	s->ready = true;
	(void) sd_notify(false, "READY=1");
	log_event(LOG_INFO, MID_DAEMON_STARTED, LOG_FIELDS({ "CSMS_CONFIG", c->path }),
	          "csms-tagd started: %zu governed sections, endpoint %s, %s%s",
	          c->n_sections, c->csms.endpoint, auth_method_to_string(c->auth.method),
	          c->daemon.dry_run ? ", dry run" : "");
	start_pass(s);
}

static int on_auth_retry(sd_event_source *src, uint64_t usec, void *userdata)
{
	wait_for_credentials(userdata);
	return 0;
}

static void on_initial_auth(int r, const char *error, void *userdata)
{
	struct service *s = userdata;

	s->auth_waiting = false;
	if (manager_stopping(s->d.manager))
		return;
	if (r >= 0) {
		become_ready(s);
		return;
	}
	notify_status(s, "waiting for usable credentials: %s", error ? error : strerror(-r));
	s->next_auth_usec = manager_now(s->d.manager) + FAILURE_RETRY_USEC;
	(void) manager_arm(s->d.manager, &s->auth_retry_timer, "credential retry", s->next_auth_usec,
	                   USEC_PER_SEC, on_auth_retry, s);
}

static void wait_for_credentials(struct service *s)
{
	s->auth_retry_timer = sd_event_source_disable_unref(s->auth_retry_timer);
	notify_status(s, "obtaining credentials");
	s->auth_waiting = true;
	s->auth_started_usec = manager_now(s->d.manager);
	csms_ensure_auth(s->d.client, on_initial_auth, s);
}

/* --- the job's operations -------------------------------------------------- */

static void service_reload(void *job)
{
	struct service *s = job;
	_cleanup_free_ char *error = NULL;
	struct config *cfg = NULL;
	struct csms *client = NULL;
	int r;

	/* RELOADING=1 ... READY=1 only once started: READY=1 must never
	 * claim a start-up that has not happened. */
	if (s->ready)
		(void) sd_notify(false, "RELOADING=1");
	r = daemon_load(&s->d, &cfg, &client, &error);
	monitor_note_config_load(&s->d.mon, r < 0 ? (error ? error : strerror(-r)) : NULL);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED,
		          LOG_FIELDS({ "CSMS_CONFIG", s->d.path }, { "CSMS_CONFIG_ERROR", error }),
		          "Configuration rejected, keeping the old one: %s", error ? error : strerror(-r));
		/* STATUS= is world-readable and the error may quote a file. */
		redact(error);
		(void) sd_notifyf(false, "%sSTATUS=%s (reload rejected: %s)", s->ready ? "READY=1\n" : "",
		                  s->d.last_status, error ? error : strerror(-r));
		publish(s);
		return;
	}
	/* Replace an older pending reload, if any. */
	csms_free(s->pending_client);
	config_free(s->pending_cfg);
	s->pending_cfg = cfg;
	s->pending_client = client;
	if (pass_running(s->d.pass))
		log_notice("Configuration %s is valid; it applies when pass %u ends", s->d.path,
		           s->d.pass_number);
	else if (apply_pending_config(s) && s->ready) {
		schedule_pass(s, RELOAD_PASS_DELAY_USEC);
		notify_status(s, "configuration reloaded%s; pass %u starts now",
		              s->d.cfg->daemon.dry_run ? " (dry run)" : "", s->d.pass_number + 1);
	}
	if (s->ready)
		(void) sd_notify(false, "READY=1");
	publish(s);
}

static void service_run_now(void *job)
{
	struct service *s = job;

	if (!s->ready || pass_running(s->d.pass))
		return;
	log_info("SIGUSR1: running a pass now");
	start_pass(s);
}

static void service_stop(void *job, const char *why)
{
	struct service *s = job;

	if (manager_signalled(s->d.manager))
		(void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
	s->pass_timer = sd_event_source_disable_unref(s->pass_timer);
	s->auth_retry_timer = sd_event_source_disable_unref(s->auth_retry_timer);
	csms_cancel(s->d.client, s);
	pass_abort(s->d.pass, why);
}

static size_t service_pending(void *job)
{
	struct service *s = job;

	return csms_pending(s->d.client);
}

static int service_start(void *job)
{
	wait_for_credentials(job);
	return 0;
}

static const struct job_ops service_ops = {
	.name = "the daemon",
	.start = service_start,
	.stop = service_stop,
	.pending = service_pending,
	.reload = service_reload,
	.run_now = service_run_now,
	.healthy = service_healthy,
};

int daemon_run(const char *path)
{
	struct service s = { 0 };
	int code;

	code = daemon_setup(&s.d, path, true, false);
	if (code == 0 && s.d.cfg->organisation) {
		code = org_service_run(&s.d);
		daemon_clear(&s.d);
		return code;
	}
	if (code == 0)
		code = manager_run(s.d.manager, &service_ops, &s) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	/* Monitoring sees a stopped daemon as down (csms_tagd_up 0, --status
	 * "not running"), not as one whose next pass is due. */
	if (s.d.manager)
		daemon_publish(&s.d, !pass_running(s.d.pass) && !manager_stopping(s.d.manager), false);
	sd_event_source_disable_unref(s.pass_timer);
	sd_event_source_disable_unref(s.auth_retry_timer);
	csms_free(s.pending_client);
	config_free(s.pending_cfg);
	daemon_clear(&s.d);
	return code;
}
