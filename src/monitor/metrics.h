/* metrics.h - what the daemon tells monitoring: a Prometheus text file and a
 * JSON state file, both from one snapshot, and the reader and human printer
 * of the state file (csms-tagd --status).
 *
 * Pure: the caller (the manager) fills a struct metrics_snapshot from its
 * passes, its config and its credentials; nothing here knows struct
 * pass_result.  Times are CLOCK_REALTIME microseconds, 0 meaning "never" or
 * "unknown"; counters ending in _total count since the daemon started.
 *
 * Prometheus exposition (text format 0.0.4, for node_exporter's textfile
 * collector; every name starts with csms_tagd_, and every series carries
 * instance, project and region labels, so that the files of several
 * instances collected together stay distinct):
 *   up                                                1 while running, 0 written at stop
 *   last_write_timestamp_seconds                      alert when older than interval + pass_timeout
 *   info{version,auth_method,dry_run}                 1
 *   last_pass_timestamp_seconds / _duration_seconds   when the last pass ended, how long
 *   last_pass_success                                 1 when it converged or changed
 *                                                     everything it planned
 *   last_success_timestamp_seconds                    alert on time() - this
 *   last_pass_tags{result=planned|deleted|would_delete|kept|failed|held}
 *                                                     would_delete: a dry run's, never deleted
 *   governed_secrets, noncompliant_tags               from the last pass
 *   last_pass_governance_tags{kind=waiting|exempted}  grace running, kept by an exemption
 *   last_pass_required_tags{state=missing|invalid}    required tags (never created)
 *   last_pass_unused_exemptions                       active exemptions that kept no tag
 *   passes_total{outcome}                             counter
 *   tags_deleted_total{rule}                          counter; rule is the section and key
 *                                                     glob ("[secrets \"app-*\"] temp-*"),
 *                                                     stable across edits; dry runs never count
 *   requests_total{api}, request_errors_total{api,code}   counters
 *   config_load_timestamp_seconds, config_load_success    0 after a rejected (re)load
 *   credentials_expiry_timestamp_seconds              only when known
 *   next_pass_timestamp_seconds                       only when scheduled
 *
 * With targets (organisation mode: TARGETS not NULL) every family is still
 * written once, its samples together (text format 0.0.4), but:
 *   - the process's families (up, last_write_timestamp_seconds, info,
 *     config_load_*, journal_write_failures_total) carry the instance
 *     label only;
 *   - every other family (the last pass, the figures of counts.h,
 *     last_success, next_pass, the counters, credentials_expiry) has one
 *     sample (set) per target, labelled instance, account (its id; "" for
 *     the base identity's own), region, project (its id) and target (its
 *     name); a conditional family (last_pass_*: after a pass; the times:
 *     when known) has its HELP and TYPE when some target has a sample;
 *   - targets{state}: how many targets are in each state: always converged,
 *     changed, partial, failing, held and pending (0 when none), then any
 *     other state the service names, in first-seen order ("unknown": a
 *     target without one).
 * The whole's own per-pass figures (sums) are not exposed there: sum() over
 * the targets' series gives them, without counting anything twice.
 *
 * The state file is the same snapshot as JSON (format "csms-tagd-state/1",
 * documented in csms-tagd(8), STATE), with times as RFC 3339 UTC strings.
 * With targets it also holds "targets": an array with one object per target:
 * its labels (target, account_id, account_name, region, project_id), its
 * state, and the snapshot's per-pass part under the same names as at the
 * top (pass_id ... errors_by_api_code, credentials_expiry).  Files without
 * it (single-target daemons, older versions) still parse.
 *
 * Files are written atomically: a temporary file in the same directory,
 * fsync(), rename() over the target, fsync() of the directory, so a reader
 * (node_exporter, --status) sees the old or the new file, never a part.
 */
#ifndef CSMS_METRICS_H
#define CSMS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "counts.h"
#include "outcome.h"

#define METRICS_STATE_FORMAT "csms-tagd-state/1"
#define METRICS_STATE_FILE "state.json"


/* One labelled count: deletions by rule (KEY = the rule's label), requests by API
 * (KEY = API), errors by API and code (KEY = API, KEY2 = "CSMS.0401",
 * "http-503", "transport", ...). */
struct metrics_count {
	const char *key;
	const char *key2;       /* NULL where there is one label */
	uint64_t value;
};

struct metrics_counts {
	const struct metrics_count *items;
	size_t n;
};

struct metrics_snapshot {
	/* Which daemon: the labels of every series. */
	const char *instance;           /* its unit without ".service" (unit.h) */
	const char *project_id;
	const char *region;
	/* A target's labels (organisation mode; NULL otherwise, and in the
	 * whole process's snapshot). */
	const char *account_id;         /* NULL: the base identity's own account */
	const char *account_name;
	const char *target_name;
	const char *target_state;       /* "converged", "failing", ... (the service's) */
	bool up;                        /* false in the snapshot written as it stops */
	uint64_t pid;                   /* its process; 0: unknown (older state files) */
	uint64_t written_usec;          /* when this snapshot was written */

	const char *version;            /* PACKAGE_VERSION */
	const char *auth_method;        /* "aksk", ... */
	bool dry_run;

	/* The last pass. */
	const char *pass_id;            /* pass_id.h; NULL before the first */
	enum pass_outcome outcome;     /* PASS_NONE before the first */
	const char *error;              /* why PARTIAL/FAILED/ABORTED (redacted) */
	uint64_t pass_started_usec;
	uint64_t pass_finished_usec;
	uint64_t pass_duration_usec;
	/* The figures of counts.h; pass_dry_run says which of deleted and
	 * would_delete counts: a dry run's planned deletions are never counted
	 * as deleted, whatever dry_run says now. */
	struct pass_counts counts;
	bool pass_dry_run;
	uint64_t last_success_usec;     /* end of the last CONVERGED/CHANGED pass */
	uint64_t next_pass_usec;

	/* Since the daemon started. */
	uint64_t passes_total[_PASS_OUTCOME_MAX];   /* PASS_NONE unused */
	struct metrics_counts deleted_by_rule;
	struct metrics_counts requests_by_api;
	struct metrics_counts errors_by_api_code;

	/* The configuration in force, and the last load attempt. */
	const char *config_path;
	uint64_t config_loaded_usec;
	bool config_ok;
	const char *config_error;       /* the last rejection, or NULL */

	/* Credentials: expiry of the token or temporary keys, 0 = none. */
	uint64_t credentials_expiry_usec;

	/* Journal records that could not be written since the start
	 * (log_write_failures()). */
	uint64_t journal_write_failures;

	/* The whole process's snapshot in organisation mode: one snapshot per
	 * target (its labels, state and per-pass part; the process parts of
	 * theirs are not used), in the order shown.  NULL (n_targets 0) in
	 * single-target mode, where every output is as without targets; not
	 * NULL with n_targets 0 for an organisation with no target (yet). */
	const struct metrics_snapshot *targets;
	size_t n_targets;
};

/* The states a target has in monitoring, always counted in the targets{state}
 * gauge and --status's summary, in this order. */
#define METRICS_TARGET_STATES "converged", "changed", "partial", "failing", "held", "pending"

/* S's targets counted by state (key; value: how many): the states of
 * METRICS_TARGET_STATES first, 0 or not, then every other state in
 * first-seen order ("unknown" for a target without one).  *RET is malloc'd
 * with *N entries; its keys point into S or are static.  0 or -ENOMEM. */
int metrics_target_states(const struct metrics_snapshot *s, struct metrics_count **ret, size_t *n);
/* Whether target T (a snapshot of S->targets) is selected by GLOB
 * (--status --target): fnmatch(3) on its name, account id, account name or
 * project id. */
bool metrics_target_selected(const struct metrics_snapshot *t, const char *glob);
/* Whether target T is unhealthy for --status: its state is "failing" or
 * "partial" (without a state: its last pass failed, was partial or
 * aborted). */
bool metrics_target_unhealthy(const struct metrics_snapshot *t);

/* A growing set of labelled counters that owns its keys, for the caller
 * that accumulates them across passes (metrics_counts only points). */
struct metrics_tally {
	struct metrics_count *items;
	size_t n;
};
/* Add N to the count of (KEY, KEY2), creating it at the end in first-seen
 * order.  KEY2 may be NULL.  Returns 0 or -ENOMEM. */
int metrics_tally_add(struct metrics_tally *t, const char *key, const char *key2, uint64_t n);
void metrics_tally_clear(struct metrics_tally *t);
static inline struct metrics_counts metrics_tally_counts(const struct metrics_tally *t)
{
	return (struct metrics_counts) { t->items, t->n };
}

/* The Prometheus text, malloc'd in *RET.  Returns 0 or -ENOMEM. */
int metrics_format_prometheus(const struct metrics_snapshot *s, char **ret);
/* The state file's JSON text (ends with a newline), malloc'd in *RET. */
int metrics_format_state(const struct metrics_snapshot *s, char **ret);


/* Write both files from S: the state file at STATE_PATH (usually
 * state_file_path(NULL, METRICS_STATE_FILE)) and, when METRICS_PATH is not NULL, the Prometheus text there.  Both are
 * attempted, and both texts redacted (redact.h) first: the error texts quote
 * servers.  Returns 0 or the first error, with *FAILED_PATH set to the file
 * it concerns (for the caller's one log line). */
int metrics_publish(const struct metrics_snapshot *s, const char *state_path,
                    const char *metrics_path, const char **failed_path);

/* A state file read back: the snapshot points into it. */
struct metrics_state;
/* Parse TEXT (a state file's content).  Returns 0, -ENOMEM, or -EBADMSG
 * with *ERROR (malloc'd) naming the field. */
int metrics_state_parse(const char *text, struct metrics_state **ret, char **error);
/* Read and parse the state file at PATH; errors as above plus read errors
 * (-ENOENT: the daemon has not written one yet). */
int metrics_state_read(const char *path, struct metrics_state **ret, char **error);
const struct metrics_snapshot *metrics_state_snapshot(const struct metrics_state *st);
void metrics_state_free(struct metrics_state *st);

/* Whether the daemon that wrote S still runs: it did not write up = false
 * when stopping, and its process exists (kill(pid, 0)).  A state file
 * without a pid (older versions) counts as running unless up is false. */
bool metrics_daemon_running(const struct metrics_snapshot *s);

/* Print S for a human, in the manner of "chronyc tracking": one "Name : value"
 * line each, times absolute (UTC) and relative to NOW_USEC.  RUNNING (see
 * metrics_daemon_running()) says whether a next pass is to be expected. */
void metrics_print(const struct metrics_snapshot *s, bool running, uint64_t now_usec, FILE *f);
/* With targets, metrics_print() shows the whole (the process, its totals,
 * "Targets : 6: 4 converged, 2 failing") and then a table, one line per
 * target: name, account (name, else id; "(own)": the base identity's),
 * region, state, when its last pass ended (UTC: the time within a day,
 * else the date), tags deleted (a dry run's: "~N", would be deleted) and
 * its error, cut to fit METRICS_PRINT_COLUMNS (at least 20 characters).
 * metrics_print_targets() instead shows the process's state line, then for
 * each target selected by GLOB (metrics_target_selected()) its full block,
 * in the format metrics_print() shows a single-target daemon's last pass.
 * Returns the number of targets printed (0: none matched, nothing printed). */
#define METRICS_PRINT_COLUMNS 120
size_t metrics_print_targets(const struct metrics_snapshot *s, bool running, uint64_t now_usec,
                             const char *glob, FILE *f);

#endif
