/* org-service.c - the daemon in organisation mode (daemon.h, org.h): every
 * target's passes at start and then every interval plus jitter each, a
 * failing target retried with back-off while the others go on, STATUS= as
 * a summary of all targets, monitoring per target, reload on SIGHUP
 * (applied once the passes running have ended), every target now on
 * SIGUSR1, and discovery ([discover]) at start and every discovery
 * interval (org-discover.h). */
#include "org-service.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "daemon-internal.h"
#include "log.h"
#include "org-discover.h"
#include "org.h"
#include "redact.h"
#include "util.h"

#define PUBLISH_DELAY_USEC  (1 * USEC_PER_SEC)  /* monitoring files at most once a second */
#define STATUS_NAMES_MAX    5                   /* targets named per state in STATUS= */
#define STATUS_WHY_MAX      72                  /* of each one's reason (--status has it whole) */

struct org_service {
	struct daemon *d;               /* manager, config, ledger, pass ids, the whole's monitor */
	struct org *org;
	struct org_discovery *discovery;
	struct config *pending_cfg;     /* a valid reload, applied when no pass runs */
	sd_event_source *publish_timer;
	sd_event_source *apply_timer;
	uint64_t last_progress_usec;    /* CLOCK_MONOTONIC: a pass started or ended */
};

static void on_target_done(struct org_target *t, const struct pass_result *r, void *userdata);

/* --- monitoring and STATUS= ------------------------------------------------------- */

static void publish_now(struct org_service *s, bool up)
{
	size_t n = org_n_targets(s->org);
	_cleanup_free_ struct monitor_target *mt = calloc(n ? n : 1, sizeof(*mt));

	if (!mt)
		return;
	for (size_t i = 0; i < n; i++) {
		struct org_target *t = org_target_at(s->org, i);

		t->mon.next_pass = t->next_usec ? daemon_realtime_of(s->d, t->next_usec) : 0;
		mt[i] = (struct monitor_target) {
			.m = &t->mon,
			.cfg = t->view,
			.client = t->client,
			.pass_id = t->pass_number ? t->pass_id : NULL,
			.scheduled = up && !t->pass && !t->queued && t->next_usec,
			.state = target_state_to_string(t->state),
		};
	}
	monitor_publish_targets(&s->d->mon, &(struct monitor_view) {
		.cfg = s->d->cfg,
		.config_path = s->d->path,
		.scheduled = up,
		.up = up,
	}, mt, n);
}

static int on_publish(sd_event_source *src, uint64_t usec, void *userdata)
{
	publish_now(userdata, true);
	return 0;
}

/* Many targets end passes in bursts: the files are written once for all
 * of a second's ends. */
static void publish(struct org_service *s)
{
	int enabled = SD_EVENT_OFF;

	if (s->publish_timer && sd_event_source_get_enabled(s->publish_timer, &enabled) >= 0 &&
	    enabled != SD_EVENT_OFF)
		return;
	(void) manager_arm(s->d->manager, &s->publish_timer, "monitoring",
	                   manager_now(s->d->manager) + PUBLISH_DELAY_USEC, USEC_PER_SEC, on_publish, s);
}

/* The names (and why) of the targets in state ST, at most STATUS_NAMES_MAX,
 * appended to BUF as ": a (why), b (why) and 3 more". */
static void append_names(struct org_service *s, enum target_state st, size_t count, char *buf,
                         size_t size, size_t *used)
{
	size_t named = 0;

	for (size_t i = 0; i < org_n_targets(s->org) && named < STATUS_NAMES_MAX; i++) {
		struct org_target *t = org_target_at(s->org, i);

		if (t->state != st)
			continue;
		*used += (size_t) snprintf(buf + *used, *used < size ? size - *used : 0, "%s%s (%.*s%s)",
		                           named ? ", " : ": ", t->t.name, STATUS_WHY_MAX,
		                           t->why[0] ? t->why : "no reason given",
		                           strlen(t->why) > STATUS_WHY_MAX ? "..." : "");
		named++;
	}
	if (count > named)
		*used += (size_t) snprintf(buf + *used, *used < size ? size - *used : 0, " and %zu more",
		                           count - named);
}

/* "498 of 500 targets converged, 2 failing: NAME (why), NAME (why); 0
 * running, 0 queued" -- what systemctl status shows.  Converged counts the
 * targets whose last pass left them as the policy says (converged, or
 * changed all it planned). */
static void status_summary(struct org_service *s)
{
	static const enum target_state named[] = { TARGET_FAILING, TARGET_PARTIAL, TARGET_HELD };
	size_t n = org_n_targets(s->org), by_state[_TARGET_STATE_MAX] = { 0 }, used = 0;
	char text[960] = "";

	for (size_t i = 0; i < n; i++)
		by_state[org_target_at(s->org, i)->state]++;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (!by_state[named[i]])
			continue;
		used += (size_t) snprintf(text + used, used < sizeof(text) ? sizeof(text) - used : 0, ", %zu %s",
		                          by_state[named[i]], target_state_to_string(named[i]));
		append_names(s, named[i], by_state[named[i]], text, sizeof(text), &used);
	}
	if (by_state[TARGET_PENDING])
		(void) snprintf(text + used, used < sizeof(text) ? sizeof(text) - used : 0, ", %zu not yet run",
		                by_state[TARGET_PENDING]);
	daemon_notify_status(s->d, "%zu of %zu targets converged%s; %zu running, %zu queued%s",
	                     by_state[TARGET_CONVERGED] + by_state[TARGET_CHANGED], n, text,
	                     org_running(s->org), org_queued(s->org),
	                     s->d->cfg->daemon.dry_run ? " (dry run)" : "");
}

/* --- schedule ------------------------------------------------------------------------ */

static int on_target_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct org_target *t = userdata;

	t->next_usec = 0;
	org_queue(t->org, t);
	return 0;
}

static void schedule_target(struct org_service *s, struct org_target *t, uint64_t delay)
{
	t->next_usec = manager_now(s->d->manager) + delay;
	(void) manager_arm(s->d->manager, &t->timer, "pass", t->next_usec, USEC_PER_MSEC,
	                   on_target_timer, t);
}

static int build_org(struct org_service *s, const struct config *cfg, struct org **ret, char **error)
{
	struct org *o = NULL;
	int r;

	r = org_new(s->d->manager, cfg, &(struct org_options) {
		.ledger = s->d->ledger,
		.dry_run = false,
		.pass_id_base = s->d->pass_id_base,
		.done = on_target_done,
		.userdata = s,
	}, &o, error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->n_targets; i++) {
		r = org_add(o, &cfg->targets[i], NULL, error);
		if (r < 0) {
			if (error && !*error)
				*error = xasprintf("target %s: %s", cfg->targets[i].name, strerror(-r));
			org_free(o);
			return r;
		}
	}
	*ret = o;
	return 0;
}

/* Every target due now (start, reload, SIGUSR1), in config order. */
static void queue_all(struct org_service *s)
{
	for (size_t i = 0; i < org_n_targets(s->org); i++) {
		struct org_target *t = org_target_at(s->org, i);

		t->timer = sd_event_source_disable_unref(t->timer);
		t->next_usec = 0;
		org_queue(s->org, t);
	}
}

static void on_discovered(void *userdata);

/* Swap in a reloaded config, only when no pass runs: the new targets keep
 * the figures of the old ones with the same key. */
static int on_apply(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct org_service *s = userdata;
	_cleanup_free_ char *error = NULL;
	struct org *o = NULL;
	int r;

	if (!s->pending_cfg || org_running(s->org) > 0 || manager_stopping(s->d->manager))
		return 0;
	r = build_org(s, s->pending_cfg, &o, &error);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED, LOG_FIELDS({ "CSMS_CONFIG", s->d->path }),
		          "Configuration rejected, keeping the old one: %s", error ? error : strerror(-r));
		config_free(s->pending_cfg);
		s->pending_cfg = NULL;
		org_hold(s->org, false);
		return 0;
	}
	for (size_t i = 0; i < org_n_targets(o); i++) {
		struct org_target *t = org_target_at(o, i), *old = org_find(s->org, t->t.project_id);

		if (old) {
			struct monitor m = t->mon;

			t->mon = old->mon;
			old->mon = m;
			t->state = old->state;
			t->failures = old->failures;
			snprintf(t->why, sizeof(t->why), "%s", old->why);
		}
	}
	org_discovery_free(s->discovery);
	s->discovery = NULL;
	org_free(s->org);
	config_free(s->d->cfg);
	s->org = o;
	s->d->cfg = s->pending_cfg;
	s->pending_cfg = NULL;
	log_event(LOG_NOTICE, MID_CONFIG_RELOADED, LOG_FIELDS({ "CSMS_CONFIG", s->d->cfg->path }),
	          "Configuration %s applied: %zu targets", s->d->cfg->path, org_n_targets(s->org));
	if (s->d->cfg->discover.enabled &&
	    org_discovery_new(s->d->manager, s->org, s->d->cfg, s->d->ledger, on_discovered, s, &s->discovery) < 0)
		log_error("Cannot set up discovery: targets are the configured ones only");
	queue_all(s);
	status_summary(s);
	publish(s);
	return 0;
}

static void on_target_done(struct org_target *t, const struct pass_result *r, void *userdata)
{
	struct org_service *s = userdata;
	uint64_t delay;

	s->last_progress_usec = manager_now(s->d->manager);
	monitor_note_pass(&t->mon, r);
	if (r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED) {
		t->failures++;
		delay = daemon_failure_delay(t->view, t->failures);
		if (t->failures == 1)
			log_event(LOG_WARNING, MID_TARGET_FAILING, NULL, 0,
			          "Target %s is failing, retried with back-off while the others go on: %s",
			          t->t.name, r->failure);
	} else {
		if (t->failures)
			log_event(LOG_NOTICE, MID_TARGET_RECOVERED, NULL, 0,
			          "Target %s works again after %u failed passes", t->t.name, t->failures);
		t->failures = 0;
		delay = daemon_next_interval(t->view);
	}
	if (manager_stopping(s->d->manager))
		return;
	if (s->pending_cfg)
		(void) manager_arm(s->d->manager, &s->apply_timer, "reload", manager_now(s->d->manager), 0,
		                   on_apply, s);
	else
		schedule_target(s, t, delay);
	status_summary(s);
	publish(s);
}

/* Discovery changed the targets (org-discover.h did the adding, dropping
 * and journaling): the new ones are due now. */
static void on_discovered(void *userdata)
{
	struct org_service *s = userdata;

	for (size_t i = 0; i < org_n_targets(s->org); i++) {
		struct org_target *t = org_target_at(s->org, i);

		if (!t->pass_number && !t->queued && !t->pass && !t->next_usec)
			org_queue(s->org, t);
	}
	status_summary(s);
	publish(s);
}

/* --- the job --------------------------------------------------------------------------- */

/* Healthy: the loop turns (we are here), no pass runs past its limit,
 * work waiting for a slot sees passes start and end, and no target's
 * timer is overdue. */
static bool org_service_healthy(void *job)
{
	struct org_service *s = job;
	uint64_t now = manager_now(s->d->manager), limit = s->d->cfg->daemon.pass_timeout_usec + GRACE_USEC;

	if (org_longest_pass(s->org, now) > limit)
		return false;
	if (org_queued(s->org) && now - s->last_progress_usec > limit)
		return false;
	for (size_t i = 0; i < org_n_targets(s->org); i++) {
		struct org_target *t = org_target_at(s->org, i);

		if (t->next_usec && now > t->next_usec + limit)
			return false;
	}
	return true;
}

static int org_service_start(void *job)
{
	struct org_service *s = job;
	const struct config *c = s->d->cfg;

	s->last_progress_usec = manager_now(s->d->manager);
	(void) sd_notify(false, "READY=1");
	log_event(LOG_INFO, MID_DAEMON_STARTED, LOG_FIELDS({ "CSMS_CONFIG", c->path }),
	          "csms-tagd started: %zu targets%s, %zu governed sections, %s%s", org_n_targets(s->org),
	          c->discover.enabled ? " (and discovery)" : "", c->n_sections,
	          auth_method_to_string(c->auth.method), c->daemon.dry_run ? ", dry run" : "");
	if (c->discover.enabled &&
	    org_discovery_new(s->d->manager, s->org, c, s->d->ledger, on_discovered, s, &s->discovery) < 0)
		log_error("Cannot set up discovery: targets are the configured ones only");
	queue_all(s);
	status_summary(s);
	publish(s);
	return 0;
}

static void org_service_reload(void *job)
{
	struct org_service *s = job;
	_cleanup_free_ char *error = NULL;
	struct config *cfg = NULL;
	struct csms *client = NULL;
	int r;

	(void) sd_notify(false, "RELOADING=1");
	r = daemon_load(s->d, &cfg, &client, &error);
	if (r >= 0 && !cfg->organisation) {
		r = -EINVAL;
		error = strdup("the configuration no longer has [target] or [discover] sections: "
		               "changing between one project and many needs a restart");
		csms_free(client);
		config_free(cfg);
	}
	monitor_note_config_load(&s->d->mon, r < 0 ? (error ? error : strerror(-r)) : NULL);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED,
		          LOG_FIELDS({ "CSMS_CONFIG", s->d->path }, { "CSMS_CONFIG_ERROR", error }),
		          "Configuration rejected, keeping the old one: %s", error ? error : strerror(-r));
		redact(error);
		(void) sd_notifyf(false, "READY=1\nSTATUS=%s (reload rejected: %s)", s->d->last_status,
		                  error ? error : strerror(-r));
		publish(s);
		return;
	}
	config_free(s->pending_cfg);
	s->pending_cfg = cfg;
	/* No new pass starts until it applies: the targets may change. */
	org_hold(s->org, true);
	if (org_running(s->org))
		log_notice("Configuration %s is valid; it applies when the %zu passes running have ended",
		           s->d->path, org_running(s->org));
	(void) manager_arm(s->d->manager, &s->apply_timer, "reload",
	                   manager_now(s->d->manager) + RELOAD_PASS_DELAY_USEC, 0, on_apply, s);
	(void) sd_notify(false, "READY=1");
	publish(s);
}

static void org_service_run_now(void *job)
{
	struct org_service *s = job;

	if (s->pending_cfg)
		return;
	log_info("SIGUSR1: every target's pass now");
	queue_all(s);
	status_summary(s);
}

static void org_service_stop(void *job, const char *why)
{
	struct org_service *s = job;

	if (manager_signalled(s->d->manager))
		(void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
	s->publish_timer = sd_event_source_disable_unref(s->publish_timer);
	s->apply_timer = sd_event_source_disable_unref(s->apply_timer);
	org_discovery_free(s->discovery);
	s->discovery = NULL;
	for (size_t i = 0; i < org_n_targets(s->org); i++) {
		struct org_target *t = org_target_at(s->org, i);

		t->timer = sd_event_source_disable_unref(t->timer);
		t->next_usec = 0;
	}
	org_abort(s->org, why);
}

static size_t org_service_pending(void *job)
{
	struct org_service *s = job;

	return org_pending(s->org);
}

static const struct job_ops org_service_ops = {
	.name = "the daemon",
	.start = org_service_start,
	.stop = org_service_stop,
	.pending = org_service_pending,
	.reload = org_service_reload,
	.run_now = org_service_run_now,
	.healthy = org_service_healthy,
};

int org_service_run(struct daemon *d)
{
	struct org_service s = { .d = d };
	_cleanup_free_ char *error = NULL;
	int code = EXIT_FAILURE, r;

	r = build_org(&s, d->cfg, &s.org, &error);
	if (r < 0) {
		log_event(LOG_ERR, MID_CONFIG_REJECTED, LOG_FIELDS({ "CSMS_CONFIG", d->path }),
		          "Cannot start: %s", error ? error : strerror(-r));
		redact(error);
		(void) sd_notifyf(false, "STATUS=cannot start: %s", error ? error : strerror(-r));
	} else
		code = manager_run(d->manager, &org_service_ops, &s) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	if (s.org)
		publish_now(&s, false);
	sd_event_source_disable_unref(s.publish_timer);
	sd_event_source_disable_unref(s.apply_timer);
	org_discovery_free(s.discovery);
	org_free(s.org);
	config_free(s.pending_cfg);
	return code;
}
