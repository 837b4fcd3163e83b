/* daemon.c - the manager: one object runs the service loop (schedule,
 * signals, sd_notify, watchdog, reload) and --once (one pass, same
 * pass_timeout, same signal handling, then the pass's exit code). */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "csms.h"
#include "log.h"
#include "pass.h"
#include "redact.h"
#include "util.h"

#define DRAIN_TIMEOUT_USEC   (5 * USEC_PER_SEC)   /* SIGTERM: wait for in-flight requests */
#define FAILURE_RETRY_USEC   (30 * USEC_PER_SEC)  /* first retry after a failed pass */

struct daemon {
	sd_event *event;
	bool once;                      /* --once: one pass, then exit */
	bool once_dry_run;              /* --once --dry-run */
	int exit_code;
	char *path;
	struct config *cfg;
	struct csms *client;
	struct config *pending_cfg;     /* valid reload waiting for the pass to end */
	struct csms *pending_client;
	struct pass *pass;
	unsigned pass_number;
	unsigned consecutive_failures;
	bool test_hooks;
	bool stopping;
	bool ready;

	sd_event_source *pass_timer;    /* next scheduled pass */
	sd_event_source *timeout_timer; /* current pass's time limit */
	sd_event_source *watchdog_timer;
	sd_event_source *drain_timer;
	sd_event_source *auth_retry_timer;
	uint64_t watchdog_usec;
	uint64_t next_pass_usec;        /* CLOCK_MONOTONIC */
	uint64_t pass_started_usec;
	uint64_t drain_deadline;
	char last_status[512];
};

static void notify_status(struct daemon *d, const char *fmt, ...) _printf_(2, 3);
static void notify_status(struct daemon *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->last_status, sizeof(d->last_status), fmt, ap);
	va_end(ap);
	/* STATUS= is world-readable (systemctl status): it quotes the server. */
	redact(d->last_status);
	(void) sd_notifyf(false, "STATUS=%s", d->last_status);
}

static uint64_t now(struct daemon *d)
{
	uint64_t t;

	sd_event_now(d->event, CLOCK_MONOTONIC, &t);
	return t;
}

static void start_pass(struct daemon *d);

static int on_pass_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	start_pass(userdata);
	return 0;
}

static void schedule_pass(struct daemon *d, uint64_t delay)
{
	d->next_pass_usec = now(d) + delay;
	if (!d->pass_timer)
		sd_event_add_time(d->event, &d->pass_timer, CLOCK_MONOTONIC, d->next_pass_usec,
		                  USEC_PER_MSEC, on_pass_timer, d);
	else {
		sd_event_source_set_time(d->pass_timer, d->next_pass_usec);
		sd_event_source_set_enabled(d->pass_timer, SD_EVENT_ONESHOT);
	}
}

static uint64_t next_interval(const struct daemon *d)
{
	const struct daemon_settings *s = &d->cfg->daemon;

	return s->interval_usec + (s->jitter_usec ? random_below(s->jitter_usec) : 0);
}

/* After failures, try again sooner than the interval, backing off. */
static uint64_t failure_delay(const struct daemon *d)
{
	uint64_t delay = FAILURE_RETRY_USEC;

	for (unsigned i = 1; i < d->consecutive_failures && delay < d->cfg->daemon.interval_usec; i++)
		delay *= 2;
	return delay < d->cfg->daemon.interval_usec ? delay : d->cfg->daemon.interval_usec;
}

/* Swap in a reloaded config, only ever between passes. */
static void wait_for_credentials(struct daemon *d);

static void apply_pending_config(struct daemon *d)
{
	if (!d->pending_cfg || pass_running(d->pass))
		return;
	csms_cancel(d->client, d);
	csms_free(d->client);
	config_free(d->cfg);
	d->client = d->pending_client;
	d->cfg = d->pending_cfg;
	d->pending_client = NULL;
	d->pending_cfg = NULL;
	log_event(LOG_NOTICE, MID_CONFIG_RELOADED, LOG_FIELDS({ "CSMS_CONFIG", d->cfg->path }),
	          "Configuration %s applied", d->cfg->path);
	/* Still starting: the credential wait went with the old client.  Start
	 * it again with the new one, or nothing would ever run a pass. */
	if (!d->ready)
		wait_for_credentials(d);
}

/* --once: the exit code says what the pass did (csms-tagd(8)).  A pass
 * that failed or was cut short after sending a DELETE may have changed the
 * project: that is partial, never "nothing done". */
static int once_exit_code(const struct pass_result *r)
{
	switch (r->outcome) {
	case PASS_CONVERGED:
		return ONCE_CONVERGED;
	case PASS_CHANGED:
		return ONCE_CHANGED;
	case PASS_PARTIAL:
		return ONCE_PARTIAL;
	case PASS_FAILED:
	case PASS_ABORTED:
		break;
	}
	return r->deletes_sent ? ONCE_PARTIAL : ONCE_ERROR;
}

static void begin_stop(struct daemon *d);

static void on_pass_done(const struct pass_result *r, void *userdata)
{
	struct daemon *d = userdata;
	char next[64];
	uint64_t delay;

	d->timeout_timer = sd_event_source_disable_unref(d->timeout_timer);
	if (d->once) {
		/* The pass's own log line (on stderr) says what was done. */
		d->exit_code = once_exit_code(r);
		pass_free(d->pass);
		d->pass = NULL;
		begin_stop(d);
		return;
	}
	if (r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED) {
		d->consecutive_failures++;
		delay = failure_delay(d);
	} else {
		d->consecutive_failures = 0;
		delay = next_interval(d);
	}
	format_timespan(next, sizeof(next), delay);
	if (r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED)
		notify_status(d, "pass %u failed: %s, retrying in %s", r->number, r->failure, next);
	else if (r->limit_exceeded)
		notify_status(d, "pass %u held: %s; next in %s", r->number, r->failure, next);
	else
		notify_status(d, "pass %u %s: %zu secrets, %zu tags %s%s%s%s, next in %s", r->number,
		              r->outcome == PASS_PARTIAL ? "partial" : "ok", r->secrets, r->deleted,
		              r->dry_run ? "would be deleted (dry run)" : "deleted",
		              r->outcome == PASS_PARTIAL ? " (" : "",
		              r->outcome == PASS_PARTIAL ? r->failure : "",
		              r->outcome == PASS_PARTIAL ? ")" : "", next);
	pass_free(d->pass);
	d->pass = NULL;
	if (d->stopping)
		return;
	apply_pending_config(d);
	schedule_pass(d, delay);
}

static int on_pass_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	log_event(LOG_ERR, MID_PASS_TIMEOUT, NULL, 0,
	          "Pass %u exceeded pass_timeout and was aborted", d->pass_number);
	pass_abort(d->pass, "exceeded pass_timeout");
	return 0;
}

static void start_pass(struct daemon *d)
{
	int r;

	if (pass_running(d->pass) || d->stopping)
		return;
	apply_pending_config(d);
	d->pass_number++;
	d->pass_started_usec = now(d);
	r = pass_start(d->client, d->cfg, d->pass_number, d->cfg->daemon.dry_run || d->once_dry_run,
	               on_pass_done, d, &d->pass);
	if (r < 0) {
		log_error("Cannot start pass %u: %s", d->pass_number, strerror(-r));
		if (d->once)
			begin_stop(d);
		else
			schedule_pass(d, FAILURE_RETRY_USEC);
		return;
	}
	if (!d->once)
		notify_status(d, "pass %u running", d->pass_number);
	sd_event_add_time(d->event, &d->timeout_timer, CLOCK_MONOTONIC,
	                  d->pass_started_usec + d->cfg->daemon.pass_timeout_usec, USEC_PER_SEC,
	                  on_pass_timeout, d);
}

/* Healthy means: the loop turns (we are here) and passes keep their
 * schedule: a running pass is within its time limit, or the next one is not
 * overdue.  Only then is systemd told WATCHDOG=1. */
static bool healthy(struct daemon *d)
{
	uint64_t t = now(d), limit = d->cfg->daemon.pass_timeout_usec;

	if (!d->ready)
		return true;    /* still starting: TimeoutStartSec= governs */
	if (pass_running(d->pass))
		return t - d->pass_started_usec <= limit + 5 * USEC_PER_SEC;
	return t <= d->next_pass_usec + limit;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	if (healthy(d))
		(void) sd_notify(false, "WATCHDOG=1");
	else
		log_warning("Reconciliation is not on schedule: withholding the watchdog ping");
	sd_event_source_set_time(s, usec + d->watchdog_usec / 2);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static void become_ready(struct daemon *d)
{
	d->ready = true;
	(void) sd_notify(false, "READY=1");
	log_event(LOG_INFO, MID_DAEMON_STARTED, LOG_FIELDS({ "CSMS_CONFIG", d->cfg->path }),
	          "csms-tagd started: %zu governed sections, endpoint %s, %s%s",
	          d->cfg->n_sections, d->cfg->csms.endpoint, auth_method_to_string(d->cfg->auth.method),
	          d->cfg->daemon.dry_run ? ", dry run" : "");
	start_pass(d);
}

static int on_auth_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	d->auth_retry_timer = sd_event_source_disable_unref(d->auth_retry_timer);
	wait_for_credentials(d);
	return 0;
}

static void on_initial_auth(int r, const char *error, void *userdata)
{
	struct daemon *d = userdata;

	if (d->stopping)
		return;
	if (r >= 0) {
		become_ready(d);
		return;
	}
	notify_status(d, "waiting for usable credentials: %s", error ? error : strerror(-r));
	sd_event_add_time_relative(d->event, &d->auth_retry_timer, CLOCK_MONOTONIC,
	                           FAILURE_RETRY_USEC, USEC_PER_SEC, on_auth_retry, d);
}

static void wait_for_credentials(struct daemon *d)
{
	d->auth_retry_timer = sd_event_source_disable_unref(d->auth_retry_timer);
	notify_status(d, "obtaining credentials");
	csms_ensure_auth(d->client, on_initial_auth, d);
}

static int load(const char *path, struct config **ret_cfg, struct csms **ret_client, sd_event *e,
                char **error)
{
	struct config *cfg = NULL;
	int r;

	r = config_load(path, CONFIG_CHECK_CREDENTIALS, &cfg, error);
	if (r < 0)
		return r;
	r = csms_new(e, cfg, ret_client, error);
	if (r < 0) {
		config_free(cfg);
		return r;
	}
	*ret_cfg = cfg;
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;
	_cleanup_free_ char *error = NULL;
	struct config *cfg = NULL;
	struct csms *client = NULL;
	int r;

	if (d->once) {
		log_notice("SIGHUP ignored: --once runs one pass with the configuration it started with");
		return 0;
	}
	/* RELOADING=1 ... READY=1 only once started: READY=1 must never
	 * claim a start-up that has not happened. */
	if (d->ready)
		(void) sd_notify(false, "RELOADING=1");
	r = load(d->path, &cfg, &client, d->event, &error);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED,
		          LOG_FIELDS({ "CSMS_CONFIG", d->path }, { "CSMS_CONFIG_ERROR", error }),
		          "Configuration rejected, keeping the old one: %s", error ? error : strerror(-r));
		(void) sd_notifyf(false, "%sSTATUS=%s (reload rejected: %s)", d->ready ? "READY=1\n" : "",
		                  d->last_status, error ? error : strerror(-r));
		return 0;
	}
	/* Replace an older pending reload, if any. */
	csms_free(d->pending_client);
	config_free(d->pending_cfg);
	d->pending_cfg = cfg;
	d->pending_client = client;
	if (pass_running(d->pass))
		log_notice("Configuration %s is valid; it applies when pass %u ends", d->path, d->pass_number);
	else
		apply_pending_config(d);
	if (d->ready)
		(void) sd_notify(false, "READY=1");
	return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	if (d->once || !d->ready || pass_running(d->pass))
		return 0;
	log_info("SIGUSR1: running a pass now");
	start_pass(d);
	return 0;
}

static int on_sigusr2(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	if (!d->test_hooks || d->once)
		return 0;
	log_warning("Test hook: wedging the main loop (CSMS_TAGD_TEST_HOOKS=1)");
	/* Every signal but SIGKILL/SIGABRT/SIGSEGV is blocked for sd_event, so
	 * this really hangs, as a deadlock would. */
	for (;;)
		pause();
	return 0;
}

static int on_drain(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	if (csms_pending(d->client) == 0 || usec >= d->drain_deadline) {
		if (csms_pending(d->client))
			log_warning("Stopping with %zu requests still in flight", csms_pending(d->client));
		sd_event_exit(d->event, 0);
		return 0;
	}
	sd_event_source_set_time(s, usec + 50 * USEC_PER_MSEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

/* Stop: abort the pass (its requests in flight may finish: a DELETE is
 * never cut in half) and leave once they are done, or after the drain
 * timeout.  Every way out of the loop goes through here. */
static void begin_stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->pass_timer = sd_event_source_disable_unref(d->pass_timer);
	d->auth_retry_timer = sd_event_source_disable_unref(d->auth_retry_timer);
	csms_cancel(d->client, d);
	pass_abort(d->pass, "stopping");
	d->drain_deadline = now(d) + DRAIN_TIMEOUT_USEC;
	if (sd_event_add_time(d->event, &d->drain_timer, CLOCK_MONOTONIC, now(d), USEC_PER_MSEC,
	                      on_drain, d) < 0)
		sd_event_exit(d->event, 0);
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	if (d->stopping)
		return 0;
	if (!d->once)
		(void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
	log_event(LOG_INFO, MID_DAEMON_STOPPING, NULL, 0, "Stopping on signal %u", si->ssi_signo);
	begin_stop(d);
	return 0;
}

static int setup_signals(struct daemon *d)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		sigaddset(&mask, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	if ((r = sd_event_add_signal(d->event, NULL, SIGTERM, on_sigterm, d)) < 0 ||
	    (r = sd_event_add_signal(d->event, NULL, SIGINT, on_sigterm, d)) < 0 ||
	    (r = sd_event_add_signal(d->event, NULL, SIGHUP, on_sighup, d)) < 0 ||
	    (r = sd_event_add_signal(d->event, NULL, SIGUSR1, on_sigusr1, d)) < 0 ||
	    (r = sd_event_add_signal(d->event, NULL, SIGUSR2, on_sigusr2, d)) < 0)
		return r;
	return 0;
}

static void daemon_free(struct daemon *d)
{
	sd_event_source_disable_unref(d->pass_timer);
	sd_event_source_disable_unref(d->timeout_timer);
	sd_event_source_disable_unref(d->watchdog_timer);
	sd_event_source_disable_unref(d->drain_timer);
	sd_event_source_disable_unref(d->auth_retry_timer);
	pass_free(d->pass);
	csms_free(d->pending_client);
	config_free(d->pending_cfg);
	csms_free(d->client);
	config_free(d->cfg);
	free(d->path);
	sd_event_unref(d->event);
}

/* Run the daemon, or with ONCE one pass.  Returns the exit code. */
static int manager_run(const char *path, bool once, bool dry_run)
{
	_cleanup_free_ char *error = NULL;
	struct daemon d = { .once = once, .once_dry_run = dry_run, .exit_code = EXIT_FAILURE };
	int r;

	d.test_hooks = streq_ptr(getenv("CSMS_TAGD_TEST_HOOKS"), "1");
	d.path = strdup(path);
	r = sd_event_default(&d.event);
	if (r < 0 || !d.path) {
		log_error("Cannot set up the event loop: %s", strerror(r < 0 ? -r : ENOMEM));
		goto out;
	}
	r = setup_signals(&d);
	if (r < 0) {
		log_error("Cannot set up signal handling: %s", strerror(-r));
		goto out;
	}
	r = load(path, &d.cfg, &d.client, d.event, &error);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED, LOG_FIELDS({ "CSMS_CONFIG", path }),
		          "Cannot start: %s", error ? error : strerror(-r));
		if (!once)
			(void) sd_notifyf(false, "STATUS=configuration rejected: %s", error ? error : strerror(-r));
		/* Restarting cannot fix a bad configuration: units list 78 in
		 * RestartPreventExitStatus=. */
		d.exit_code = EX_CONFIG;
		goto out;
	}
	if (once) {
		d.exit_code = ONCE_ERROR;
		start_pass(&d);
	} else {
		d.exit_code = EXIT_SUCCESS;
		if (sd_watchdog_enabled(false, &d.watchdog_usec) > 0 && d.watchdog_usec > 0)
			sd_event_add_time_relative(d.event, &d.watchdog_timer, CLOCK_MONOTONIC,
			                           d.watchdog_usec / 2, 0, on_watchdog, &d);
		wait_for_credentials(&d);
	}
	r = sd_event_loop(d.event);
	if (r < 0) {
		log_error("Event loop failed: %s", strerror(-r));
		if (!once)
			d.exit_code = EXIT_FAILURE;
	}
out:
	daemon_free(&d);
	return d.exit_code;
}

int daemon_run(const char *path)
{
	return manager_run(path, false, false);
}

int daemon_run_once(const char *path, bool dry_run)
{
	return manager_run(path, true, dry_run);
}
