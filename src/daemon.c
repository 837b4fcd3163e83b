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
#include "csms.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "pass-id.h"
#include "pass.h"
#include "planfile.h"
#include "redact.h"
#include "util.h"

#define DRAIN_TIMEOUT_USEC   (5 * USEC_PER_SEC)   /* SIGTERM: wait for in-flight requests */
#define FAILURE_RETRY_USEC   (30 * USEC_PER_SEC)  /* first retry after a failed pass */

/* What the daemon tells monitoring (metrics.h): the last pass, the last
 * config load, and counters since start.  --once publishes nothing: the
 * state file belongs to the service. */
struct monitor {
	char *state_path;               /* NULL: no state file (no $STATE_DIRECTORY) */
	bool write_failed;              /* warned once; quiet until a write succeeds */
	enum metrics_outcome outcome;
	char error[256];
	uint64_t pass_started, pass_finished, pass_duration;   /* CLOCK_REALTIME usec */
	uint64_t planned, deleted, kept, failed, held, governed, noncompliant;
	uint64_t waiting, exempted, exemptions_unused, required_missing, required_invalid;
	uint64_t last_success;
	uint64_t next_pass;
	uint64_t passes_total[_METRICS_OUTCOME_MAX];
	struct metrics_tally deleted_by_rule;   /* "FILE:LINE" */
	struct metrics_tally errors;            /* API, error class */
	uint64_t calls_retired[_API_MAX];       /* requests of clients a reload replaced */
	uint64_t config_loaded;
	bool config_ok;
	char *config_error;
};

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

/* --- monitoring ------------------------------------------------------------ */

static enum metrics_outcome metrics_outcome_of(enum pass_outcome o)
{
	switch (o) {
	case PASS_CONVERGED:
		return METRICS_CONVERGED;
	case PASS_CHANGED:
		return METRICS_CHANGED;
	case PASS_PARTIAL:
		return METRICS_PARTIAL;
	case PASS_FAILED:
		return METRICS_FAILED;
	case PASS_ABORTED:
		break;
	}
	return METRICS_ABORTED;
}

static void on_call_failed(enum csms_api api, const struct csms_result *res, void *userdata)
{
	struct daemon *d = userdata;
	char buf[32];

	/* On ENOMEM the count is short; the journal has the failure. */
	(void) metrics_tally_add(&d->mon.errors, csms_api_name(api),
	                         csms_result_error_class(res, buf, sizeof(buf)), 1);
}

/* A client is going away (reload): keep its request counts. */
static void retire_client(struct daemon *d, struct csms *client)
{
	struct csms_stats st;

	if (!client)
		return;
	csms_get_stats(client, &st);
	for (size_t i = 0; i < _API_MAX; i++)
		d->mon.calls_retired[i] += st.calls[i];
}

static void note_config_load(struct daemon *d, const char *error)
{
	d->mon.config_loaded = now_realtime_usec();
	d->mon.config_ok = !error;
	free(d->mon.config_error);
	d->mon.config_error = error ? strdup(error) : NULL;
}

static void note_pass(struct daemon *d, const struct pass_result *r)
{
	struct monitor *m = &d->mon;

	m->outcome = metrics_outcome_of(r->outcome);
	snprintf(m->error, sizeof(m->error), "%s", r->failure);
	m->pass_finished = now_realtime_usec();
	m->pass_duration = r->duration_usec;
	m->planned = r->planned;
	m->deleted = r->deleted;
	m->kept = r->kept_changed;
	m->failed = r->delete_failed + r->still_present;
	m->held = r->limit_exceeded ? r->planned : 0;
	m->governed = r->governed;
	m->noncompliant = r->planned + r->waiting + r->exempted;
	m->waiting = r->waiting;
	m->exempted = r->exempted;
	m->exemptions_unused = r->exemptions_unused;
	m->required_missing = r->required_missing;
	m->required_invalid = r->required_invalid;
	m->passes_total[m->outcome]++;
	if (m->outcome == METRICS_CONVERGED || m->outcome == METRICS_CHANGED)
		m->last_success = m->pass_finished;
	for (size_t i = 0; i < r->deleted_by_rule.n; i++)
		(void) metrics_tally_add(&m->deleted_by_rule, r->deleted_by_rule.items[i].key, NULL,
		                         r->deleted_by_rule.items[i].value);
}

/* Write the state file and, when configured, the Prometheus file: at start,
 * after every config load or reload (accepted or not) and after every pass. */
static void publish(struct daemon *d)
{
	struct monitor *m = &d->mon;
	struct metrics_count requests[_API_MAX];
	struct csms_stats st = {};
	const char *failed_path = NULL;
	int r;

	if (d->once || !m->state_path)
		return;
	if (d->client)
		csms_get_stats(d->client, &st);
	for (size_t i = 0; i < _API_MAX; i++)
		requests[i] = (struct metrics_count) { csms_api_name(i), NULL, m->calls_retired[i] + st.calls[i] };

	struct metrics_snapshot s = {
		.version = PACKAGE_VERSION,
		.auth_method = d->cfg ? auth_method_to_string(d->cfg->auth.method) : NULL,
		.dry_run = d->cfg && d->cfg->daemon.dry_run,
		.pass_id = d->pass_number ? d->pass_id : NULL,
		.outcome = m->outcome,
		.error = m->error[0] ? m->error : NULL,
		.pass_started_usec = m->pass_started,
		.pass_finished_usec = m->pass_finished,
		.pass_duration_usec = m->pass_duration,
		.planned = m->planned,
		.deleted = m->deleted,
		.kept = m->kept,
		.failed = m->failed,
		.held = m->held,
		.governed_secrets = m->governed,
		.noncompliant_tags = m->noncompliant,
		.waiting = m->waiting,
		.exempted = m->exempted,
		.exemptions_unused = m->exemptions_unused,
		.required_missing = m->required_missing,
		.required_invalid = m->required_invalid,
		.last_success_usec = m->last_success,
		.next_pass_usec = pass_running(d->pass) || d->stopping ? 0 : m->next_pass,
		.deleted_by_rule = metrics_tally_counts(&m->deleted_by_rule),
		.requests_by_api = { requests, _API_MAX },
		.errors_by_api_code = metrics_tally_counts(&m->errors),
		.config_path = d->path,
		.config_loaded_usec = m->config_loaded,
		.config_ok = m->config_ok,
		.config_error = m->config_error,
		.credentials_expiry_usec = d->client ? csms_credentials_expiry(d->client) : 0,
		.journal_write_failures = log_write_failures(),
	};
	memcpy(s.passes_total, m->passes_total, sizeof(s.passes_total));

	r = metrics_publish(&s, m->state_path, d->cfg ? d->cfg->daemon.metrics_file : NULL, &failed_path);
	if (r < 0 && !m->write_failed)
		log_warning("Cannot write %s: %s (csms-tagd --status and the metrics show older data "
		            "until it can be written; warned once)", failed_path, strerror(-r));
	else if (r >= 0 && m->write_failed)
		log_notice("Monitoring files are written again");
	m->write_failed = r < 0;
}

static void monitor_clear(struct monitor *m)
{
	free(m->state_path);
	free(m->config_error);
	metrics_tally_clear(&m->deleted_by_rule);
	metrics_tally_clear(&m->errors);
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

static void apply_pending_config(struct daemon *d)
{
	if (!d->pending_cfg || pass_running(d->pass))
		return;
	csms_cancel(d->client, d);
	retire_client(d, d->client);
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
	advice = advice_after_pass(d->cfg->path, d->cfg->n_sections, r->dry_run);
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
	note_pass(d, r);
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
		apply_pending_config(d);
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
	note_config_load(d, r < 0 ? (error ? error : strerror(-r)) : NULL);
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
	else
		apply_pending_config(d);
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
	note_config_load(&d, r < 0 ? (error ? error : strerror(-r)) : NULL);
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
