/* monitor.h - what the daemon tells monitoring: the figures it keeps
 * between passes (the last pass, the last config load, counters since
 * start) and the files it publishes from them (metrics.h): the state file
 * (csms-tagd --status) and, with [daemon] metrics_file, the Prometheus
 * text.
 *
 * The manager (daemon.c) owns one struct monitor, feeds it what happens and
 * calls monitor_publish() with a view of its own state; nothing here runs
 * a loop or knows the schedule.  A dry run's deletions are kept as
 * would_delete, never as deleted.
 */
#ifndef CSMS_MONITOR_H
#define CSMS_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "csms.h"
#include "metrics.h"
#include "pass.h"

struct monitor {
	char *state_path;               /* NULL: no state file (no $STATE_DIRECTORY) */
	char *instance;                 /* unit_short_name() of the unit we run as */
	bool write_failed;              /* warned once; quiet until a write succeeds */
	enum pass_outcome outcome;      /* PASS_NONE before the first pass */
	char error[256];
	uint64_t pass_started, pass_finished, pass_duration;   /* CLOCK_REALTIME usec */
	struct pass_counts counts;      /* of the last pass (counts.h) */
	bool pass_dry_run;              /* then would_delete counts, deleted is 0 */
	uint64_t last_success;
	uint64_t next_pass;             /* CLOCK_REALTIME; the manager sets it */
	uint64_t passes_total[_PASS_OUTCOME_MAX];
	struct metrics_tally deleted_by_rule;   /* the rule's section and key glob */
	struct metrics_tally errors;            /* API, error class */
	uint64_t calls_retired[_API_MAX];       /* requests of clients a reload replaced */
	uint64_t config_loaded;
	bool config_ok;
	char *config_error;
};

/* What the manager knows when it publishes. */
struct monitor_view {
	const struct config *cfg;       /* in force; NULL before the first load */
	struct csms *client;            /* its request counts; may be NULL */
	const char *config_path;
	const char *pass_id;            /* of the last pass started; NULL: none yet */
	bool scheduled;                 /* next_pass is due (no pass runs, not stopping) */
	bool up;                        /* false: the daemon is stopping for good */
};

/* One target of an organisation, as the service knows it when it
 * publishes (monitor_publish_targets()). */
struct monitor_target {
	struct monitor *m;              /* that target's figures (monitor_note_pass() etc. as today);
	                                 * its state_path and instance are not used */
	const struct config *cfg;       /* the target's config view: csms.account_id, account_name,
	                                 * target_name, region, project_id; NULL: not known yet */
	struct csms *client;            /* its request counts; may be NULL */
	const char *pass_id;            /* of its last pass started; NULL: none */
	bool scheduled;                 /* its next_pass is due */
	const char *state;              /* "converged", "failing", ... (metrics.h) */
};

/* A config was loaded (ERROR NULL) or rejected (ERROR says why). */
void monitor_note_config_load(struct monitor *m, const char *error);
/* A pass ended with R. */
void monitor_note_pass(struct monitor *m, const struct pass_result *r);
/* A call failed after its retries (csms_set_failure_hook()). */
void monitor_count_failure(struct monitor *m, enum csms_api api, const struct csms_result *res);
/* CLIENT is going away (reload): keep its request counts. */
void monitor_retire_client(struct monitor *m, struct csms *client);
/* Write the files (nothing without a state path); a write failure is
 * logged once, and again when writes work again. */
void monitor_publish(struct monitor *m, const struct monitor_view *v);
/* The same for an organisation: the files of WHOLE (its state path, its
 * instance) with the N targets T (N may be 0), in that order.  The whole
 * snapshot's process part (up, config load, credentials method, journal) is
 * WHOLE's and V's, and so is its pass_id; of its per-pass part,
 * passes_total and the figures of counts.h are summed over the targets,
 * the counters (deletions by rule, requests, errors) too, WHOLE's own
 * (discovery's calls, V's client) counted with them; the outcome is the
 * worst target's (failed > aborted > partial > changed > converged) and the
 * error that target's, prefixed with its name (else WHOLE's); last_success is the oldest of the
 * targets' (0 while one never succeeded: time() - it is how long the
 * organisation has not been wholly reconciled); next_pass the earliest of
 * the scheduled ones; the last pass's times the most recently ended
 * target's; credentials_expiry the first to expire (V's client counted).
 * Allocates a snapshot per target for the call only (about 1 KB each): on
 * ENOMEM nothing is written, and that is logged as a write failure is. */
void monitor_publish_targets(struct monitor *whole, const struct monitor_view *v,
                             const struct monitor_target *t, size_t n);
void monitor_clear(struct monitor *m);

#endif
