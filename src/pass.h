/* pass.h - one reconcile pass: observe, plan, re-check, delete, verify.
 *
 * A pass runs on the event loop and never blocks.  It works on the config it
 * was started with (a reload waits for the pass to end) and on its own
 * observation.  Safety rules it enforces:
 *   - nothing is deleted unless the observation of that secret is complete;
 *   - a plan larger than max_deletes_per_pass deletes nothing;
 *   - a deletion that depends on a tag's value is re-checked against a fresh
 *     read right before it is sent, and dropped if the value is now allowed
 *     or can't be read;
 *   - dry-run computes the same plan by the same code and only logs;
 *   - after deleting, the changed secrets are read again and any tag still
 *     present is reported.
 */
#ifndef CSMS_PASS_H
#define CSMS_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "csms.h"

enum pass_outcome {
	PASS_CONVERGED,         /* nothing to delete */
	PASS_CHANGED,           /* deletions done (or logged, in dry-run), all fine */
	PASS_PARTIAL,           /* some deletions failed, secrets unreadable, or limit hit */
	PASS_FAILED,            /* nothing done: auth or observation failed */
	PASS_ABORTED,           /* pass_abort(): timeout or shutdown */
};

struct pass_result {
	unsigned number;
	bool dry_run;
	enum pass_outcome outcome;
	const char *observed_by;        /* "ListResourceInstances" or "ListSecrets" */
	size_t secrets;
	size_t governed;
	size_t skipped_pending_delete;
	size_t skipped_incomplete;
	size_t planned;
	size_t deleted;                 /* in dry-run: would be deleted */
	size_t already_gone;
	size_t kept_changed;            /* value corrected since observation */
	size_t delete_failed;
	size_t still_present;           /* deleted, but seen again on verify */
	bool limit_exceeded;
	bool throttled;                 /* a request ended in 429 */
	char failure[256];              /* why FAILED / PARTIAL, for STATUS= */
	uint64_t duration_usec;
};

struct pass;
typedef void (*pass_done_t)(const struct pass_result *res, void *userdata);

/* Start pass NUMBER.  DONE is called exactly once, never from within
 * pass_start(); the caller may pass_free() the pass inside DONE. */
int pass_start(struct csms *client, const struct config *cfg, unsigned number, bool dry_run,
               pass_done_t done, void *userdata, struct pass **ret);

/* Stop now: outstanding calls are cancelled (in-flight requests finish in
 * the background), DONE is called with PASS_ABORTED before this returns. */
void pass_abort(struct pass *p, const char *why);

bool pass_running(const struct pass *p);
void pass_free(struct pass *p);

const char *pass_outcome_to_string(enum pass_outcome o);

#endif
