/* outcome.h - how a pass ended: the one enum the pass, the journal, the
 * ledger, the metrics, the state file and --once all use, its names and
 * its --once exit codes.
 *
 * PASS_NONE is 0, so that a zeroed monitor says "no pass yet"; a pass
 * always ends with one of the others.
 */
#ifndef CSMS_OUTCOME_H
#define CSMS_OUTCOME_H

#include <stdbool.h>

enum pass_outcome {
	PASS_NONE,              /* no pass yet (monitoring only) */
	PASS_CONVERGED,         /* nothing to delete */
	PASS_CHANGED,           /* deletions done (or logged, in dry-run), all fine */
	PASS_PARTIAL,           /* some deletions failed, secrets unreadable, or limit hit */
	PASS_FAILED,            /* nothing done: auth or observation failed */
	PASS_ABORTED,           /* pass_abort(): timeout or shutdown */
	_PASS_OUTCOME_MAX,
};

/* "none", "converged", "changed", "partial", "failed", "aborted": the
 * journal's CSMS_OUTCOME, the ledger's, the metrics' outcome label and the
 * state file's; "unknown" for any other value. */
const char *pass_outcome_to_string(enum pass_outcome o);
/* Returns the outcome, or -EINVAL. */
int pass_outcome_from_string(const char *s);

static inline bool pass_outcome_is_success(enum pass_outcome o)
{
	return o == PASS_CONVERGED || o == PASS_CHANGED;
}

/* Exit codes of --once (documented in csms-tagd(8)).  A configuration
 * that cannot be loaded exits with EX_CONFIG (78) in both modes. */
enum {
	ONCE_CONVERGED = 0,
	ONCE_ERROR = 1,         /* failed, and no DELETE was sent */
	ONCE_CHANGED = 2,
	ONCE_PARTIAL = 3,       /* includes failed or interrupted after a DELETE */
};

/* The --once exit code of a pass that ended with O.  A pass that failed or
 * was cut short after sending a DELETE (DELETES_SENT) may have changed the
 * project: that is partial, never "nothing done". */
int pass_outcome_exit_code(enum pass_outcome o, bool deletes_sent);

#endif
