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
void monitor_clear(struct monitor *m);

#endif
