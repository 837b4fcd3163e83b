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
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "advice.h"
#include "unit.h"
#include "csms.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "pass-id.h"
#include "pass.h"
#include "planfile.h"
#include "redact.h"
#include "util.h"

#define DRAIN_TIMEOUT_USEC   (5 * USEC_PER_SEC)   /* SIGTERM: wait for in-flight requests */
#define FAILURE_RETRY_USEC   (30 * USEC_PER_SEC)  /* first retry after a failed pass */
#define RELOAD_PASS_DELAY_USEC (1 * USEC_PER_SEC) /* a reloaded config's first pass */

struct daemon {
	struct ledger *ledger;          /* open for the daemon's whole life */
	sd_event *event;
	bool once;                      /* --once: one pass, then exit */
	const struct once_options *once_opt;    /* --once: its options, else NULL */
	struct saved_plan saved;        /* --apply-plan: the plan file, loaded */
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
	bool stopped;                   /* the loop has ended: publish up = false */
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
	char last_status[1024];
	char pass_id_base[PASS_ID_MAX];
	char pass_id[PASS_ID_MAX];      /* of the last pass started */
	struct monitor mon;
	char *unit;                     /* the unit we run as (unit.h), for advice */
};

static void notify_status(struct daemon *d, const char *fmt, ...) _printf_(2, 3);
static void notify_status(struct daemon *d, const char *fmt, ...)
{
	va_list ap;

	uint64_t lost = log_write_failures();
	size_t n;

	va_start(ap, fmt);
	vsnprintf(d->last_status, sizeof(d->last_status), fmt, ap);
	va_end(ap);
	/* A journal that drops records must be seen where the operator looks
	 * first; the ledger still has every deletion. */
	n = strlen(d->last_status);
	if (lost && n < sizeof(d->last_status))
		snprintf(d->last_status + n, sizeof(d->last_status) - n,
		         "; %" PRIu64 " journal records could not be written", lost);
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

/* CLOCK_MONOTONIC USEC as CLOCK_REALTIME, for people and monitoring. */
static uint64_t realtime_of(struct daemon *d, uint64_t usec)
{
	uint64_t t = now(d), real = now_realtime_usec();

	return usec >= t ? real + (usec - t) : real - (t - usec);
}

/* --- monitoring (monitor.h) ----------------------------------------------- */

static void on_call_failed(enum csms_api api, const struct csms_result *res, void *userdata)
{
	struct daemon *d = userdata;

	monitor_count_failure(&d->mon, api, res);
}

/* Write the state file and, when configured, the Prometheus file: at start,
 * after every config load or reload (accepted or not), after every pass,
 * and as the daemon stops.  --once publishes nothing: the state file
 * belongs to the service. */
static void publish(struct daemon *d)
{
	if (d->once)
		return;
	monitor_publish(&d->mon, &(struct monitor_view) {
		.cfg = d->cfg,
		.client = d->client,
		.config_path = d->path,
		.pass_id = d->pass_number ? d->pass_id : NULL,
		.scheduled = !pass_running(d->pass) && !d->stopping,
		.up = !d->stopped,
	});
}

/* --- passes ---------------------------------------------------------------- */

static void start_pass(struct daemon *d);

static int on_pass_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	start_pass(userdata);
	return 0;
}

static void schedule_pass(struct daemon *d, uint64_t delay)
{
	d->next_pass_usec = now(d) + delay;
	d->mon.next_pass = realtime_of(d, d->next_pass_usec);
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

/* Returns whether a new config was applied. */
static bool apply_pending_config(struct daemon *d)
{
	if (!d->pending_cfg || pass_running(d->pass))
		return false;
	csms_cancel(d->client, d);
	monitor_retire_client(&d->mon, d->client);
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
	return true;
}

/* --once: the exit code says what the pass did (csms-tagd(8)). */
static int once_exit_code(const struct pass_result *r)
{
	return pass_outcome_exit_code(r->outcome, r->deletes_sent);
}

static void begin_stop(struct daemon *d);

/* STATUS= after a pass: what it did, when the next one starts (an absolute
 * time: STATUS= is a snapshot that does not count down) and, on a first
 * setup, what to do next. */
static void status_after_pass(struct daemon *d, const struct pass_result *r)
{
	_cleanup_free_ char *advice = NULL;
	char next[FORMAT_UTC_MAX];

	format_utc(next, sizeof(next), d->mon.next_pass);
	if (r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED) {
		notify_status(d, "pass %u failed: %s; retrying at %s", r->number, r->failure, next);
		return;
	}
	advice = advice_after_pass(d->cfg->path, UNIT_MAIN_CONFIG, d->unit, d->cfg->n_sections, r->dry_run);
	if (r->limit_exceeded)
		notify_status(d, "pass %u held: %s; next at %s", r->number, r->failure, next);
	else
		notify_status(d, "pass %u %s: %zu secrets, %zu tags %s%s%s%s; next at %s%s%s", r->number,
		              r->outcome == PASS_PARTIAL ? "partial" : "ok", r->secrets, r->deleted,
		              r->dry_run ? "would be deleted (dry run)" : "deleted",
		              r->outcome == PASS_PARTIAL ? " (" : "",
		              r->outcome == PASS_PARTIAL ? r->failure : "",
		              r->outcome == PASS_PARTIAL ? ")" : "", next,
		              advice ? "; " : "", advice ? advice : "");
}

static void on_pass_done(const struct pass_result *r, void *userdata)
{
	struct daemon *d = userdata;
	uint64_t delay;

	d->timeout_timer = sd_event_source_disable_unref(d->timeout_timer);
	if (d->once) {
		/* The pass's own log line (on stderr) says what was done. */
		d->exit_code = once_exit_code(r);
		pass_free(d->pass);
		d->pass = NULL;
		log_set_pass_id(NULL);
		begin_stop(d);
		return;
	}
	monitor_note_pass(&d->mon, r);
	if (r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED) {
		d->consecutive_failures++;
		delay = failure_delay(d);
	} else {
		d->consecutive_failures = 0;
		delay = next_interval(d);
	}
	/* R lives in the pass: use it all before pass_free().  The pass has
	 * ended (released its client), so a pending config may apply now. */
	if (!d->stopping) {
		/* A new policy or dry_run is judged at once, not an interval
		 * later (RELOAD_PASS_DELAY_USEC). */
		if (apply_pending_config(d) && d->ready)
			delay = RELOAD_PASS_DELAY_USEC;
		schedule_pass(d, delay);
		status_after_pass(d, r);
	}
	pass_free(d->pass);
	d->pass = NULL;
	log_set_pass_id(NULL);
	publish(d);
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
	d->mon.pass_started = now_realtime_usec();
	pass_id_format(d->pass_id, d->pass_id_base, d->pass_number);
	log_set_pass_id(d->pass_id);
	r = pass_start(d->client, d->cfg, d->pass_number, &(struct pass_options) {
		.dry_run = d->cfg->daemon.dry_run || (d->once_opt && d->once_opt->dry_run),
		.ledger = d->ledger, .pass_id = d->pass_id,
		.save_plan = d->once_opt ? d->once_opt->save_plan : NULL,
		.only = d->once_opt && d->once_opt->apply_plan ? &d->saved : NULL,
		.only_path = d->once_opt ? d->once_opt->apply_plan : NULL,
	}, on_pass_done, d, &d->pass);
	if (r < 0) {
		log_error("Cannot start pass %u: %s", d->pass_number, strerror(-r));
		log_set_pass_id(NULL);
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

static int load(struct daemon *d, struct config **ret_cfg, struct csms **ret_client, char **error)
{
	struct config *cfg = NULL;
	int r;

	r = config_load(d->path, CONFIG_CHECK_CREDENTIALS, &cfg, error);
	if (r < 0)
		return r;
	r = csms_new(d->event, cfg, ret_client, error);
	if (r < 0) {
		config_free(cfg);
		return r;
	}
	csms_set_failure_hook(*ret_client, on_call_failed, d);
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
	r = load(d, &cfg, &client, &error);
	monitor_note_config_load(&d->mon, r < 0 ? (error ? error : strerror(-r)) : NULL);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED,
		          LOG_FIELDS({ "CSMS_CONFIG", d->path }, { "CSMS_CONFIG_ERROR", error }),
		          "Configuration rejected, keeping the old one: %s", error ? error : strerror(-r));
		/* STATUS= is world-readable and the error may quote a file. */
		redact(error);
		(void) sd_notifyf(false, "%sSTATUS=%s (reload rejected: %s)", d->ready ? "READY=1\n" : "",
		                  d->last_status, error ? error : strerror(-r));
		publish(d);
		return 0;
	}
	/* Replace an older pending reload, if any. */
	csms_free(d->pending_client);
	config_free(d->pending_cfg);
	d->pending_cfg = cfg;
	d->pending_client = client;
	if (pass_running(d->pass))
		log_notice("Configuration %s is valid; it applies when pass %u ends", d->path, d->pass_number);
	else if (apply_pending_config(d) && d->ready) {
		schedule_pass(d, RELOAD_PASS_DELAY_USEC);
		notify_status(d, "configuration reloaded%s; pass %u starts now", d->cfg->daemon.dry_run ?
		              " (dry run)" : "", d->pass_number + 1);
	}
	if (d->ready)
		(void) sd_notify(false, "READY=1");
	publish(d);
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
	log_set_pass_id(NULL);
	ledger_close(d->ledger);
	monitor_clear(&d->mon);
	csms_free(d->pending_client);
	config_free(d->pending_cfg);
	csms_free(d->client);
	config_free(d->cfg);
	saved_plan_clear(&d->saved);
	free(d->path);
	free(d->unit);
	sd_event_unref(d->event);
}

/* The deletion ledger of this config's service (ledger_directory()):
 * without it nothing is deleted, so only a dry run goes on without. */
static int open_ledger(struct daemon *d, bool dry_run)
{
	_cleanup_free_ char *dir = ledger_directory(d->cfg->daemon.state_directory, d->cfg->path);
	int r;

	/* systemd makes StateDirectory=; a hand run as root before the
	 * service ever ran makes the default one (systemd takes it over and
	 * gives it to the dynamic user).  A configured one is never made. */
	if (dir && !d->cfg->daemon.state_directory && !getenv("STATE_DIRECTORY") &&
	    mkdir(dir, 0700) < 0 && errno != EEXIST)
		log_debug("Cannot create %s: %s", dir, strerror(errno));
	r = dir ? ledger_open(dir, &d->ledger) : -ENOMEM;

	if (r < 0) {
		log_event(dry_run ? LOG_WARNING : LOG_ERR, MID_CONFIG_REJECTED, LOG_FIELDS({ "CSMS_LEDGER", dir }),
		          "Cannot open the deletion ledger in %s: %s%s", dir ? dir : "?", strerror(-r),
		          dry_run ? " (dry run: going on without it)" : "; nothing can be deleted without it");
		return dry_run ? 0 : r;
	}
	log_event(d->once ? LOG_NOTICE : LOG_INFO, NULL, LOG_FIELDS({ "CSMS_LEDGER", ledger_path(d->ledger) }),
	          "Deletions are recorded in %s", ledger_path(d->ledger));
	return 0;
}

/* --apply-plan: load the plan and refuse one that cannot be applied here. */
static int load_saved_plan(struct daemon *d)
{
	const struct once_options *o = d->once_opt;
	_cleanup_free_ char *error = NULL;
	char digest[65] = "";
	int r;

	r = saved_plan_load(o->apply_plan, &d->saved, &error);
	if (r >= 0)
		r = saved_plan_check(&d->saved, d->cfg->csms.project_id, now_realtime_usec(),
		                     o->max_plan_age_usec, &error);
	if (r < 0) {
		log_error("Refusing plan %s: %s", o->apply_plan, error ? error : strerror(-r));
		return r;
	}
	/* Informational: every item is judged by the current configuration
	 * again, which can only narrow the plan. */
	if (config_file_sha256(d->cfg->path, digest) < 0 || strcmp(digest, d->saved.config_sha256) != 0)
		log_warning("Plan %s was made with another configuration (SHA-256 %s, now %s): "
		            "each item is judged by the current one", o->apply_plan,
		            d->saved.config_sha256, digest[0] ? digest : "unreadable");
	log_info("Applying plan %s: %zu items", o->apply_plan, d->saved.n);
	return 0;
}

/* Run the daemon, or with ONCE one pass.  Returns the exit code. */
static int manager_run(const char *path, const struct once_options *once)
{
	_cleanup_free_ char *error = NULL;
	struct daemon d = { .once = once, .once_opt = once, .exit_code = EXIT_FAILURE };
	int r;

	d.test_hooks = streq_ptr(getenv("CSMS_TAGD_TEST_HOOKS"), "1");
	d.path = strdup(path);
	d.unit = unit_current(path);
	d.mon.instance = d.unit ? unit_short_name(d.unit) : NULL;
	r = sd_event_default(&d.event);
	if (r < 0 || !d.path || !d.mon.instance) {
		log_error("Cannot set up the event loop: %s", strerror(r < 0 ? -r : ENOMEM));
		goto out;
	}
	r = setup_signals(&d);
	if (r < 0) {
		log_error("Cannot set up signal handling: %s", strerror(-r));
		goto out;
	}
	r = pass_id_base(getenv("INVOCATION_ID"), getpid(), d.pass_id_base);
	if (r < 0) {
		/* Unique within this process still. */
		log_warning("Cannot read the invocation or boot ID (%s): pass IDs are unique per process only",
		            strerror(-r));
		snprintf(d.pass_id_base, sizeof(d.pass_id_base), "p%d", (int) getpid());
	}
	if (!once && getenv("STATE_DIRECTORY") && !(d.mon.state_path = state_file_path(NULL, METRICS_STATE_FILE))) {
		log_error("Cannot set up the state file: %s", strerror(ENOMEM));
		goto out;
	}
	r = load(&d, &d.cfg, &d.client, &error);
	monitor_note_config_load(&d.mon, r < 0 ? (error ? error : strerror(-r)) : NULL);
	publish(&d);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED, LOG_FIELDS({ "CSMS_CONFIG", path }),
		          "Cannot start: %s", error ? error : strerror(-r));
		redact(error);
		if (!once)
			(void) sd_notifyf(false, "STATUS=configuration rejected: %s", error ? error : strerror(-r));
		/* Restarting cannot fix a bad configuration: units list 78 in
		 * RestartPreventExitStatus=. */
		d.exit_code = EX_CONFIG;
		goto out;
	}
	if (open_ledger(&d, d.cfg->daemon.dry_run || (once && once->dry_run)) < 0) {
		if (!once)
			(void) sd_notifyf(false, "STATUS=cannot open the deletion ledger");
		d.exit_code = once ? ONCE_ERROR : EXIT_FAILURE;
		goto out;
	}
	if (once) {
		d.exit_code = ONCE_ERROR;
		if (once->apply_plan && load_saved_plan(&d) < 0)
			goto out;
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
	/* Monitoring sees a stopped daemon as down (csms_tagd_up 0, --status
	 * "not running"), not as one whose next pass is due. */
	d.stopped = true;
	publish(&d);
	daemon_free(&d);
	return d.exit_code;
}

int daemon_run(const char *path)
{
	return manager_run(path, NULL);
}

int daemon_run_once(const char *path, const struct once_options *o)
{
	return manager_run(path, o);
}
