/* outcome.c - the names and --once exit codes of enum pass_outcome. */
#include "outcome.h"

#include "strtable.h"

static const char *const pass_outcome_table[_PASS_OUTCOME_MAX] = {
	[PASS_NONE] = "none",
	[PASS_CONVERGED] = "converged",
	[PASS_CHANGED] = "changed",
	[PASS_PARTIAL] = "partial",
	[PASS_FAILED] = "failed",
	[PASS_ABORTED] = "aborted",
};

STRING_TABLE_TO_STRING(pass_outcome, enum pass_outcome, "unknown")
STRING_TABLE_FROM_STRING(pass_outcome)

static const int exit_code_table[_PASS_OUTCOME_MAX] = {
	[PASS_NONE] = ONCE_ERROR,
	[PASS_CONVERGED] = ONCE_CONVERGED,
	[PASS_CHANGED] = ONCE_CHANGED,
	[PASS_PARTIAL] = ONCE_PARTIAL,
	[PASS_FAILED] = ONCE_ERROR,
	[PASS_ABORTED] = ONCE_ERROR,
};

int pass_outcome_exit_code(enum pass_outcome o, bool deletes_sent)
{
	int code = (unsigned) o < _PASS_OUTCOME_MAX ? exit_code_table[o] : ONCE_ERROR;

	return code == ONCE_ERROR && deletes_sent ? ONCE_PARTIAL : code;
}
