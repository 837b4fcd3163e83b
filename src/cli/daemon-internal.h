/* daemon-internal.h - what the two pass-running jobs share: the service
 * (service.c: schedule, sd_notify, watchdog health, reload) and the
 * one-shot pass (job-once.c: --once, --apply-plan).  daemon.c owns the
 * shared part: the config and client loaded from PATH, the deletion
 * ledger, pass numbering and IDs, the pass's time limit and monitoring.
 * Both jobs run on the one manager (manager.h).
 */
#ifndef CSMS_DAEMON_INTERNAL_H
#define CSMS_DAEMON_INTERNAL_H

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "csms.h"
#include "manager.h"
#include "monitor.h"
#include "pass-id.h"
#include "pass.h"
#include "util.h"

struct daemon {
	struct manager *manager;
	struct ledger *ledger;          /* open for the daemon's whole life */
	bool publishes;                 /* the service writes monitoring; --once never */
	char *path;
	struct config *cfg;
	struct csms *client;
	struct pass *pass;
	unsigned pass_number;
	sd_event_source *timeout_timer; /* current pass's time limit */
	uint64_t pass_started_usec;     /* CLOCK_MONOTONIC */
	char pass_id_base[PASS_ID_MAX];
	char pass_id[PASS_ID_MAX];      /* of the last pass started */
	struct monitor mon;
	char *unit;                     /* the unit we run as (unit.h), for advice */
	char last_status[1024];         /* the last STATUS= sent */
};

#define FAILURE_RETRY_USEC     (30 * USEC_PER_SEC) /* first retry after a failed pass */
#define RELOAD_PASS_DELAY_USEC (1 * USEC_PER_SEC)  /* a reloaded config's first pass */
#define GRACE_USEC             (5 * USEC_PER_SEC)  /* slack beyond pass_timeout */

/* When the next pass is due after a good one: interval plus random jitter. */
uint64_t daemon_next_interval(const struct config *c);
/* After FAILURES consecutive failed passes: sooner than the interval,
 * backing off (30 s, doubling, at most the interval). */
uint64_t daemon_failure_delay(const struct config *c, unsigned failures);

/* STATUS= (printf FMT), kept in d->last_status: with the count of journal
 * records that could not be written, when any, and redacted (STATUS= is
 * world-readable and quotes servers). */
void daemon_notify_status(struct daemon *d, const char *fmt, ...) _printf_(2, 3);

/* Set up D for the config at PATH: manager, pass IDs, the config and its
 * client, (SERVICE) the state file, then the ledger (DRY_RUN: optional).
 * Logs its failures; returns 0, EX_CONFIG for a config that cannot be
 * loaded, or EXIT_FAILURE. */
int daemon_setup(struct daemon *d, const char *path, bool service, bool dry_run);
void daemon_clear(struct daemon *d);

/* Load the config at d->path with its client (failures counted by the
 * monitor); *ERROR says why not.  An organisation-mode config has no one
 * client (*RET_CLIENT NULL): its targets have theirs (org.h). */
int daemon_load(struct daemon *d, struct config **ret_cfg, struct csms **ret_client, char **error);

/* Start pass d->pass_number + 1 with O (ledger and pass ID filled in
 * here) and arm its pass_timeout.  Logs a failure to start. */
int daemon_start_pass(struct daemon *d, struct pass_options o, pass_done_t done, void *userdata);
/* The pass has ended: drop it and its time limit. */
void daemon_end_pass(struct daemon *d);

/* Write monitoring (monitor.h), when D publishes.  SCHEDULED: a next pass
 * is due; UP: the loop still runs. */
void daemon_publish(struct daemon *d, bool scheduled, bool up);

/* CLOCK_MONOTONIC USEC as CLOCK_REALTIME, for people and monitoring. */
uint64_t daemon_realtime_of(struct daemon *d, uint64_t usec);

#endif
