/* daemon.c - the part the service (service.c) and the one-shot pass
 * (job-once.c) share: loading the config and its client, the deletion
 * ledger, pass numbering, each pass's time limit, monitoring
 * (daemon-internal.h). */
#include "daemon-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "redact.h"
#include "unit.h"
#include "util.h"

uint64_t daemon_realtime_of(struct daemon *d, uint64_t usec)
{
	uint64_t t = manager_now(d->manager), real = now_realtime_usec();

	return usec >= t ? real + (usec - t) : real - (t - usec);
}

uint64_t daemon_next_interval(const struct config *c)
{
	const struct daemon_settings *ds = &c->daemon;

	return ds->interval_usec + (ds->jitter_usec ? random_below(ds->jitter_usec) : 0);
}

uint64_t daemon_failure_delay(const struct config *c, unsigned failures)
{
	uint64_t delay = FAILURE_RETRY_USEC, interval = c->daemon.interval_usec;

	for (unsigned i = 1; i < failures && delay < interval; i++)
		delay *= 2;
	return delay < interval ? delay : interval;
}

void daemon_notify_status(struct daemon *d, const char *fmt, ...)
{
	uint64_t lost = log_write_failures();
	va_list ap;
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
	redact(d->last_status);
	(void) sd_notifyf(false, "STATUS=%s", d->last_status);
}

static void on_call_failed(enum csms_api api, const struct csms_result *res, void *userdata)
{
	struct daemon *d = userdata;

	monitor_count_failure(&d->mon, api, res);
}

/* The state file and, when configured, the Prometheus file: at start,
 * after every config load or reload (accepted or not), after every pass,
 * and as the daemon stops.  --once publishes nothing: the state file
 * belongs to the service. */
void daemon_publish(struct daemon *d, bool scheduled, bool up)
{
	if (!d->publishes)
		return;
	monitor_publish(&d->mon, &(struct monitor_view) {
		.cfg = d->cfg,
		.client = d->client,
		.config_path = d->path,
		.pass_id = d->pass_number ? d->pass_id : NULL,
		.scheduled = scheduled,
		.up = up,
	});
}

int daemon_load(struct daemon *d, struct config **ret_cfg, struct csms **ret_client, char **error)
{
	struct config *cfg = NULL;
	int r;

	r = config_load(d->path, CONFIG_CHECK_CREDENTIALS, &cfg, error);
	if (r < 0)
		return r;
	*ret_client = NULL;
	if (cfg->organisation) {
		*ret_cfg = cfg;
		return 0;
	}
	r = csms_new(manager_event(d->manager), cfg, ret_client, error);
	if (r < 0) {
		config_free(cfg);
		return r;
	}
	csms_set_failure_hook(*ret_client, on_call_failed, d);
	*ret_cfg = cfg;
	return 0;
}

static int on_pass_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct daemon *d = userdata;

	log_event(LOG_ERR, MID_PASS_TIMEOUT, NULL, 0,
	          "Pass %u exceeded pass_timeout and was aborted", d->pass_number);
	pass_abort(d->pass, "exceeded pass_timeout");
	return 0;
}

int daemon_start_pass(struct daemon *d, struct pass_options o, pass_done_t done, void *userdata)
{
	int r;

	d->pass_number++;
	d->pass_started_usec = manager_now(d->manager);
	d->mon.pass_started = now_realtime_usec();
	pass_id_format(d->pass_id, d->pass_id_base, d->pass_number);
	log_set_pass_id(d->pass_id);
	o.ledger = d->ledger;
	o.pass_id = d->pass_id;
	r = pass_start(d->client, d->cfg, d->pass_number, &o, done, userdata, &d->pass);
	if (r < 0) {
		log_error("Cannot start pass %u: %s", d->pass_number, strerror(-r));
		log_set_pass_id(NULL);
		return r;
	}
	/* A pass without its time limit could hang for ever: manager_arm()
	 * makes that loud (and the service not healthy). */
	(void) manager_arm(d->manager, &d->timeout_timer, "pass timeout",
	                   d->pass_started_usec + d->cfg->daemon.pass_timeout_usec, USEC_PER_SEC,
	                   on_pass_timeout, d);
	return 0;
}

void daemon_end_pass(struct daemon *d)
{
	d->timeout_timer = sd_event_source_disable_unref(d->timeout_timer);
	pass_free(d->pass);
	d->pass = NULL;
	log_set_pass_id(NULL);
}

/* The deletion ledger of this config's service (ledger_directory()):
 * without it nothing is deleted, so only a dry run goes on without. */
static int open_ledger(struct daemon *d, bool dry_run)
{
	_cleanup_free_ char *dir = NULL;
	int r = ledger_directory(d->cfg->daemon.state_directory, d->cfg->path, &dir);

	if (r < 0) {
		log_event(dry_run ? LOG_WARNING : LOG_ERR, MID_CONFIG_REJECTED, LOG_FIELDS({ "CSMS_CONFIG", d->cfg->path }),
		          "No deletion ledger for %s: %s%s", d->cfg->path, ledger_directory_problem(r),
		          dry_run ? " (dry run: going on without it)" : "; nothing can be deleted without it");
		return dry_run ? 0 : r;
	}

	/* systemd makes StateDirectory=; a hand run as root before the
	 * service ever ran makes the default one (systemd takes it over and
	 * gives it to the dynamic user).  A configured one is never made. */
	if (!d->cfg->daemon.state_directory && !getenv("STATE_DIRECTORY") &&
	    mkdir(dir, 0700) < 0 && errno != EEXIST)
		log_debug("Cannot create %s: %s", dir, strerror(errno));
	r = ledger_open(dir, &d->ledger);

	if (r < 0) {
		log_event(dry_run ? LOG_WARNING : LOG_ERR, MID_CONFIG_REJECTED, LOG_FIELDS({ "CSMS_LEDGER", dir }),
		          "Cannot open the deletion ledger in %s: %s%s", dir ? dir : "?", strerror(-r),
		          dry_run ? " (dry run: going on without it)" : "; nothing can be deleted without it");
		return dry_run ? 0 : r;
	}
	log_event(d->publishes ? LOG_INFO : LOG_NOTICE, NULL, LOG_FIELDS({ "CSMS_LEDGER", ledger_path(d->ledger) }),
	          "Deletions are recorded in %s", ledger_path(d->ledger));
	return 0;
}

static int setup_manager(struct daemon *d, const char *path)
{
	int r;

	d->path = strdup(path);
	d->unit = unit_current(path);
	d->mon.instance = d->unit ? unit_short_name(d->unit) : NULL;
	r = manager_new(&d->manager);
	if (r < 0 || !d->path || !d->mon.instance) {
		log_error("Cannot set up the event loop: %s", strerror(r < 0 ? -r : ENOMEM));
		return r < 0 ? r : -ENOMEM;
	}
	r = pass_id_base(getenv("INVOCATION_ID"), getpid(), d->pass_id_base);
	if (r < 0) {
		/* Unique within this process still. */
		log_warning("Cannot read the invocation or boot ID (%s): pass IDs are unique per process only",
		            strerror(-r));
		snprintf(d->pass_id_base, sizeof(d->pass_id_base), "p%d", (int) getpid());
	}
	return 0;
}

int daemon_setup(struct daemon *d, const char *path, bool service, bool dry_run)
{
	_cleanup_free_ char *error = NULL;
	int r;

	d->publishes = service;
	if (setup_manager(d, path) < 0)
		return EXIT_FAILURE;
	if (service && getenv("STATE_DIRECTORY") && !(d->mon.state_path = state_file_path(NULL, METRICS_STATE_FILE))) {
		log_error("Cannot set up the state file: %s", strerror(ENOMEM));
		return EXIT_FAILURE;
	}
	r = daemon_load(d, &d->cfg, &d->client, &error);
	monitor_note_config_load(&d->mon, r < 0 ? (error ? error : strerror(-r)) : NULL);
	daemon_publish(d, true, true);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED, LOG_FIELDS({ "CSMS_CONFIG", path }),
		          "Cannot start: %s", error ? error : strerror(-r));
		redact(error);
		if (service)
			(void) sd_notifyf(false, "STATUS=configuration rejected: %s", error ? error : strerror(-r));
		/* Restarting cannot fix a bad configuration: units list 78 in
		 * RestartPreventExitStatus=. */
		return EX_CONFIG;
	}
	if (open_ledger(d, d->cfg->daemon.dry_run || dry_run) < 0) {
		if (service)
			(void) sd_notifyf(false, "STATUS=cannot open the deletion ledger");
		return EXIT_FAILURE;
	}
	return 0;
}

void daemon_clear(struct daemon *d)
{
	sd_event_source_disable_unref(d->timeout_timer);
	pass_free(d->pass);
	log_set_pass_id(NULL);
	ledger_close(d->ledger);
	monitor_clear(&d->mon);
	csms_free(d->client);
	config_free(d->cfg);
	free(d->path);
	free(d->unit);
	manager_free(d->manager);
}
