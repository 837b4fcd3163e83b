/* history.h - the --history command: the deletion ledger (ledger.h) of a
 * config's service, as a table or as JSON.
 *
 * One row per recorded deletion, oldest first: when the intent was
 * recorded, its outcome (ledger_outcome_to_string()), the secret, the key,
 * the value exactly as deleted (escaped in the table; in JSON a string, or
 * an array of byte values when it is not UTF-8, as journalctl writes it),
 * the rule, the reason and the pass.  Read only: nothing is sent.
 *
 * One ledger may hold the rows of many targets (organisation mode): the
 * table then has a TARGET column (the target's name, else its key; "-"
 * for the single-target default) whenever the rows shown are of more than
 * one target, and JSON always has target, target_name, account_id and
 * region ("" when unknown).
 */
#ifndef CSMS_HISTORY_H
#define CSMS_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

struct history_options {
	uint64_t since_usec;            /* intent time, inclusive; 0: all */
	const char *secret_glob;        /* fnmatch(3) on the secret name; NULL: all */
	const char *target_glob;        /* fnmatch(3) on the target key or name; NULL: all */
	bool json;
};

/* Returns 0, or 1 when the config or the ledger cannot be read (the
 * message is on stderr). */
int history_run(const char *config_path, const struct history_options *o);

#endif
