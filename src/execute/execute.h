/* execute.h - carry out a pass's plan: per secret, re-check, delete,
 * record; then verify.
 *
 * Rules it enforces:
 *   - a secret with a deletion whose verdict can depend on the value (a
 *     value list, an exemption, a grace clock: plan_needs_recheck()) is
 *     re-read right before its deletions, which are then sent at once,
 *     ahead of other queued requests (one re-check in flight), with the
 *     values as re-read; a deletion the fresh read no longer supports is
 *     dropped, and one that cannot be re-checked is not sent;
 *   - before every DELETE its intent is durable in the ledger
 *     (ledger_intent()); a deletion whose intent cannot be written is not
 *     sent.  After the answer, its outcome is recorded, with the deleted
 *     tag's grace clock dropped in the same transaction;
 *   - "not found" after an earlier attempt of the same DELETE (a lost
 *     reply, a reset, a timeout, then a retry) is our deletion, not
 *     "already gone": the first attempt may have reached the server;
 *   - a DELETE that ends without any answer stays pending in the ledger
 *     and is resolved by the next pass (resolve.h); so does every DELETE
 *     in flight when the pass is cancelled;
 *   - after deleting, the changed secrets are read again and any tag still
 *     present is reported (and its ledger outcome set to failed).
 * Each outcome is one journal record (records.h), never filtered.
 */
#ifndef CSMS_EXECUTE_H
#define CSMS_EXECUTE_H

#include <stdbool.h>
#include "config.h"
#include "csms.h"
#include "ledger.h"
#include "metrics.h"
#include "plan.h"
#include "planfile.h"
#include "records.h"

struct pass_result;

/* What the executor works with; all of it outlives the executor. */
struct execute_ctx {
	struct csms *client;
	const struct config *cfg;
	struct plan *plan;              /* values updated from re-checks */
	struct ledger *ledger;          /* where every deletion is recorded */
	const char *pass_id;            /* the ledger's pass id */
	const struct saved_plan *only;  /* --apply-plan: every secret re-read */
	struct record_ctx rec;
	bool via_list;                  /* observed with ListSecrets: verify per secret */
	unsigned number;
};

struct execute;
typedef void (*execute_done_t)(void *userdata);

/* Allocate everything execution needs (out of memory later could not stop
 * half-way cleanly).  Counts go to RES.  0 or -ENOMEM. */
int execute_new(const struct execute_ctx *ctx, struct pass_result *res, struct execute **ret);

/* Start; DONE is called once, when everything has been answered and
 * verified, never from within execute_run(). */
void execute_run(struct execute *x, execute_done_t done, void *userdata);

/* Tags really deleted, by the rule behind each (plan_item_rule_ref()),
 * added to T. */
void execute_tally(const struct execute *x, struct metrics_tally *t);

/* Cancel every call (requests in flight finish without callbacks; their
 * intents stay pending) and free.  NULL is fine. */
void execute_free(struct execute *x);

#endif
