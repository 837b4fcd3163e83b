/* pass.h - one reconcile pass, as a state machine: auth -> resolve the
 * ledger's pending intents -> observe -> plan -> gate -> execute (with
 * verify) -> finish.
 *
 * A pass runs on the event loop and never blocks (but for the ledger's
 * commits).  It works on the config it was started with (a reload waits
 * for the pass to end) and on its own observation.  Safety rules it
 * enforces:
 *   - nothing is deleted unless the observation of that secret is complete;
 *   - nothing is deleted unless the listing of the project is complete;
 *   - a pass whose worst case (plan_worst_case(): planned deletions plus 20
 *     per governed secret whose tags could not be read) exceeds
 *     max_deletes_per_pass is held: it deletes nothing;
 *   - nothing is deleted without a ledger (ledger.h), and every deletion
 *     is recorded there before and after (execute.h);
 *   - dry-run computes the same plan by the same code and only logs;
 *   - with a grace period, the clocks are read from and written to the
 *     ledger around plan_compute(); a failed listing restarts them, so do
 *     stored clocks grace_trust() refuses, and a wall-clock step moves them
 *     (grace.h).  Clocks that cannot be written make the pass partial and
 *     it is judged as if every clock started now.
 *   - per-tag governance records are journaled on transitions only
 *     (record_governance()); the pass summary has the totals.
 */
#ifndef CSMS_PASS_H
#define CSMS_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "counts.h"
#include "csms.h"
#include "metrics.h"
#include "outcome.h"


struct pass_result {
	unsigned number;
	bool dry_run;
	enum pass_outcome outcome;
	const char *observed_by;        /* "ListResourceInstances" or "ListSecrets" */
	size_t secrets;
	size_t skipped_pending_delete;
	size_t skipped_incomplete;
	/* What monitoring publishes (counts.h): planned, governed and the
	 * governance figures from the plan; the fates of the planned tags
	 * (deleted or would_delete, kept, failed, held) derived at the finish
	 * from the counters below.  monitor_note_pass() copies it whole. */
	struct pass_counts counts;
	size_t deleted;                 /* in dry-run: would be deleted */
	size_t already_gone;
	size_t kept_changed;            /* value corrected since observation */
	size_t delete_failed;
	size_t still_present;           /* deleted, but seen again on verify */
	size_t plan_skipped;            /* --apply-plan: saved items not deleted */
	size_t plan_excluded;           /* --apply-plan: planned now, not in the file */
	bool limit_exceeded;            /* held: nothing deleted (plan_worst_case()) */
	bool deletes_sent;              /* a DELETE was sent: the project may have changed */
	bool throttled;                 /* a request ended in 429 */
	bool store_failed;              /* the ledger could not keep the clocks */
	char failure[256];              /* why FAILED / PARTIAL, for STATUS= */
	uint64_t duration_usec;
	/* Tags really deleted (not in a dry run, not seen again on verify),
	 * by the rule behind each (policy_rule_label(): section and key glob); owned
	 * by the pass. */
	struct metrics_tally deleted_by_rule;
};

struct pass;
typedef void (*pass_done_t)(const struct pass_result *res, void *userdata);

struct saved_plan;
struct log_context;
struct ledger;

struct pass_options {
	bool dry_run;
	/* Where deletions are recorded; may be NULL only with DRY_RUN. */
	struct ledger *ledger;
	const char *pass_id;            /* the ledger's pass id (pass-id.h) */
	/* With DRY_RUN, write the plan here (planfile.h); a plan that cannot
	 * be written fails the pass. */
	const char *save_plan;
	/* --apply-plan: delete only items of ONLY, from file ONLY_PATH (both
	 * outlive the pass).  The fresh plan is intersected with it -- an item
	 * stays only when the same secret id, key and observed value are in
	 * ONLY -- so the file can only narrow what the current configuration
	 * deletes, never widen it.  Every secret is re-read right before its
	 * deletions, and an item whose value differs from ONLY's then is not
	 * deleted.  Each saved item that is not deleted, whether found so in
	 * the observation or at that re-read, gets a MID_PLAN_ITEM_SKIPPED
	 * record with the reason (CSMS_SKIP_REASON) instead of the already-gone
	 * or kept records.  The deletion limit applies to what is left. */
	const struct saved_plan *only;
	const char *only_path;
	/* The log context of the pass's records (log.h), pushed while its own
	 * start runs; its CSMS calls push it through the client
	 * (csms_set_log_context()).  NULL: the process's one context. */
	const struct log_context *log_context;
};

/* Start pass NUMBER with options O (copied; what they point to must
 * outlive the pass).  DONE is called exactly once, never from within
 * pass_start(); the caller may pass_free() the pass inside DONE. */
int pass_start(struct csms *client, const struct config *cfg, unsigned number,
               const struct pass_options *o, pass_done_t done, void *userdata, struct pass **ret);

/* Stop now: every registration of the pass (credential wait, observation,
 * calls) is cancelled -- requests already in flight finish in the
 * background without callbacks -- and DONE is called with PASS_ABORTED
 * before this returns.  The same release happens on every ending. */
void pass_abort(struct pass *p, const char *why);

bool pass_running(const struct pass *p);
/* Free; a pass still running is released first, without calling DONE. */
void pass_free(struct pass *p);


#endif
