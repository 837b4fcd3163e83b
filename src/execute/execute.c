/* execute.c - carry out a plan: groups, re-check, delete, record, verify.
 * See execute.h.
 *
 * Every CSMS call is owned by the executor (csms owner token: itself), so
 * execute_free() drops them all in one go.
 */
#include "execute.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grace.h"
#include "log.h"
#include "observe.h"
#include "pass.h"
#include "policy.h"
#include "util.h"

/* Re-checks in flight.  One: a re-checked secret's deletions then never
 * wait behind another secret's, so the window between a re-check answer and
 * its DELETE is the answer's way back plus at most one pacing slot; at the
 * default 10 requests/s the pass is bound by pacing either way. */
#define RECHECKS_IN_FLIGHT 1

enum item_state {
	ITEM_PENDING,
	ITEM_DELETED,
	ITEM_GONE,              /* already absent: converged */
	ITEM_KEPT,              /* policy keeps it now (value corrected) */
	ITEM_SKIPPED,           /* could not be re-checked or recorded: not deleted */
	ITEM_FAILED,
	ITEM_UNANSWERED,        /* no answer: pending in the ledger */
	ITEM_STILL_PRESENT,     /* delete answered success, tag seen again */
};

/* Consecutive plan items of one secret. */
struct group {
	size_t first, last;     /* plan item range [first, last) */
	bool recheck;           /* holds a value-dependent deletion */
	bool changed;           /* a deletion was done */
};

/* Callback context for a per-group or per-item request. */
struct ref {
	struct execute *x;
	size_t index;
};

struct execute {
	struct execute_ctx c;
	struct pass_result *res;
	execute_done_t done;
	void *userdata;
	struct observe *observe;        /* verification listing */
	enum item_state *state;
	int64_t *ledger_id;             /* per item: its intent, 0: none */
	struct group *groups;
	size_t n_groups;
	struct ref *item_refs;
	struct ref *group_refs;
	size_t next_recheck;            /* next group to consider for a re-check */
	unsigned rechecks;              /* re-checks in flight */
	unsigned outstanding;           /* requests in flight */
	/* Outcomes answered and not yet in the ledger: set a batch at a time
	 * (flush_outcomes()). */
	struct ledger_outcome_row *outcomes;
	size_t n_outcomes, outcomes_cap;
};

#define set_failure(x, ...) set_first_reason((x)->res->failure, sizeof((x)->res->failure), __VA_ARGS__)

static void note_result_failure(struct execute *x, const char *what, const struct csms_result *r)
{
	char buf[200];

	if (r->throttled)
		x->res->throttled = true;
	set_failure(x, "%s: %s", what, csms_result_describe(r, buf, sizeof(buf)));
}

static void flush_outcomes(struct execute *x);

static void finish(struct execute *x)
{
	flush_outcomes(x);
	x->done(x->userdata);
}

/* --- the ledger ----------------------------------------------------------- */

/* Intents written in one transaction: one fsync for up to this many
 * deletions instead of one each (make bench: the ledger's cost). */
#define INTENT_BATCH 256

/* Make the intents of items ITEMS[N] durable, in one transaction; on
 * failure none is recorded and each is logged: none may be sent. */
static int record_intents(struct execute *x, const size_t *items, size_t n)
{
	struct ledger_deletion d[INTENT_BATCH];
	int64_t ids[INTENT_BATCH];
	char refs[INTENT_BATCH][300];
	uint64_t now = now_realtime_usec();
	int r;

	assert(n <= INTENT_BATCH);
	for (size_t k = 0; k < n; k++) {
		const struct plan_item *it = &x->c.plan->items[items[k]];

		d[k] = (struct ledger_deletion) {
			.pass_id = (char *) x->c.pass_id, .secret_id = it->secret_id,
			.secret_name = it->secret_name, .key = it->key, .value = it->value,
			.rule = (char *) plan_item_rule_ref(x->c.plan, it, refs[k], sizeof(refs[k])),
			.reason = (char *) reason_to_string(it->reason), .intent_usec = now,
		};
	}
	r = ledger_intents(x->c.ledger, d, n, ids);
	if (r >= 0) {
		for (size_t k = 0; k < n; k++)
			x->ledger_id[items[k]] = ids[k];
		return 0;
	}
	set_failure(x, "cannot record deletions in the ledger %s: %s", ledger_path(x->c.ledger),
	            ledger_error(x->c.ledger)[0] ? ledger_error(x->c.ledger) : strerror(-r));
	for (size_t k = 0; k < n; k++) {
		const struct plan_item *it = &x->c.plan->items[items[k]];

		log_record(LOG_ERR, MID_DELETE_FAILED,
		           LOG_FIELDS({ RECORD_SECRET_ID, it->secret_id }, { RECORD_SECRET_NAME, it->secret_name },
		                      { RECORD_TAG_KEY, it->key },
		                      { RECORD_LEDGER_PATH, ledger_path(x->c.ledger) }),
		           "Not deleting tag %s from secret %s: its intent cannot be recorded in %s: %s",
		           it->key, it->secret_name, ledger_path(x->c.ledger), strerror(-r));
	}
	return r;
}

/* Outcomes wait at most this long, or until this many are answered, or
 * until the deletions (then the verification) are over, before they are
 * written in one transaction: one commit per DELETE was a tenth of an
 * organisation pass's CPU.  What a crash loses of them is pending, and
 * resolved by reading the tags, like an answer lost on the way. */
#define OUTCOME_BATCH 256
#define OUTCOME_MAX_AGE_USEC USEC_PER_SEC

/* Write the waiting outcomes.  A failure leaves their intents pending:
 * resolved later. */
static void flush_outcomes(struct execute *x)
{
	int r;

	if (x->n_outcomes == 0)
		return;
	r = ledger_outcomes(x->c.ledger, x->outcomes, x->n_outcomes);
	if (r < 0) {
		set_failure(x, "cannot record outcomes in the ledger %s: %s", ledger_path(x->c.ledger),
		            strerror(-r));
		log_error("Pass %u: cannot record %zu outcomes in %s (%s); they are resolved at the next pass",
		          x->c.number, x->n_outcomes, ledger_path(x->c.ledger), strerror(-r));
	}
	x->n_outcomes = 0;
}

/* Record item I's outcome O (flush_outcomes()); a deleted or gone tag
 * loses its clock in the same transaction. */
static void record_outcome(struct execute *x, size_t i, enum ledger_outcome o)
{
	const struct plan_item *it = &x->c.plan->items[i];
	struct ledger_outcome_row *row;
	uint64_t now = now_realtime_usec();

	if (!x->ledger_id[i])
		return;
	if (x->n_outcomes == x->outcomes_cap)
		flush_outcomes(x);
	row = &x->outcomes[x->n_outcomes++];
	*row = (struct ledger_outcome_row) {
		.id = x->ledger_id[i], .outcome = o, .at_usec = now,
		.drop_clock = it->grace_usec && (o == LEDGER_DELETED || o == LEDGER_ALREADY_GONE),
	};
	if (row->drop_clock)
		grace_digest(it->secret_id, it->key, it->value, row->clock);
	if (x->n_outcomes == x->outcomes_cap || now - x->outcomes[0].at_usec >= OUTCOME_MAX_AGE_USEC ||
	    now < x->outcomes[0].at_usec)
		flush_outcomes(x);
}

/* --- item outcomes --------------------------------------------------------- */

/* --apply-plan: saved item SI is not deleted. */
static void skip_saved(struct execute *x, const struct saved_item *si, const char *reason, const char *why)
{
	x->res->plan_skipped++;
	record_plan_skip(&x->c.rec, si, reason, why);
}

static void set_item(struct execute *x, size_t i, enum item_state s)
{
	const struct plan_item *it = &x->c.plan->items[i];
	const struct saved_item *si = x->c.only ? saved_plan_find(x->c.only, it->secret_id, it->key) : NULL;

	x->state[i] = s;
	switch (s) {
	case ITEM_GONE:
		x->res->already_gone++;
		if (si)
			skip_saved(x, si, "tag-gone", "the tag is gone");
		else
			record_item(&x->c.rec, LOG_INFO, MID_TAG_ALREADY_GONE, it, NULL, 0, NULL,
			            "Tag %s is already gone from secret %s", it->key, it->secret_name);
		break;
	case ITEM_KEPT:
		x->res->kept_changed++;
		if (si)
			skip_saved(x, si, "kept-by-config", "the current configuration keeps it as it is now");
		else
			record_item(&x->c.rec, LOG_NOTICE, MID_TAG_KEPT_CHANGED, it, NULL, 0, NULL,
			            "Kept tag %s on secret %s: policy allows it as it is now (value changed since it was observed)",
			            it->key, it->secret_name);
		break;
	case ITEM_SKIPPED:
		x->res->delete_failed++;
		break;
	default:
		break;
	}
}

static void execute_step(struct execute *x);

/* The answer R to item I's DELETE. */
static void delete_answered(struct execute *x, size_t i, const struct csms_result *r)
{
	const struct plan_item *it = &x->c.plan->items[i];
	int64_t id = x->ledger_id[i];
	char why[200];

	if (r->r == 0 || (csms_result_is_gone(r) && r->attempts > 1)) {
		/* Gone after an earlier attempt: that attempt deleted it. */
		x->state[i] = ITEM_DELETED;
		x->res->deleted++;
		record_outcome(x, i, LEDGER_DELETED);
		record_item(&x->c.rec, LOG_NOTICE, MID_TAG_DELETED, it, r, id, "deleted",
		            "Deleted tag %s=%s from secret %s (%s)%s", it->key, it->value, it->secret_name,
		            reason_to_string(it->reason),
		            r->r == 0 ? "" : "; the answer to an earlier attempt was lost");
	} else if (csms_result_is_gone(r)) {
		x->state[i] = ITEM_GONE;
		x->res->already_gone++;
		record_outcome(x, i, LEDGER_ALREADY_GONE);
		record_item(&x->c.rec, LOG_INFO, MID_TAG_ALREADY_GONE, it, r, id, "already-gone",
		            "Tag %s was already gone from secret %s", it->key, it->secret_name);
	} else {
		/* Sent without any answer, the DELETE may have happened:
		 * pending.  Never sent (no usable credentials): failed. */
		char class[32];
		bool unanswered = r->status == 0 &&
		                  strcmp(csms_result_error_class(r, class, sizeof(class)), "transport") == 0;

		x->state[i] = unanswered ? ITEM_UNANSWERED : ITEM_FAILED;
		x->res->delete_failed++;
		note_result_failure(x, "DeleteSecretTag", r);
		if (!unanswered)
			record_outcome(x, i, LEDGER_FAILED);
		record_item(&x->c.rec, LOG_ERR, MID_DELETE_FAILED, it, r, id,
		            unanswered ? "pending" : "failed", "Failed to delete tag %s from secret %s: %s%s",
		            it->key, it->secret_name, csms_result_describe(r, why, sizeof(why)),
		            unanswered ? " (no answer: resolved at the next pass)" : "");
	}
}

static void on_delete(const struct csms_result *r, void *userdata)
{
	struct ref *ref = userdata;
	struct execute *x = ref->x;

	x->outstanding--;
	delete_answered(x, ref->index, r);
	execute_step(x);
}

/* Send the DELETEs of items ITEMS[N], their intents made durable first. */
static void send_deletes(struct execute *x, const size_t *items, size_t n, bool ahead)
{
	bool recorded = n == 0 || record_intents(x, items, n) >= 0;

	for (size_t k = 0; k < n; k++) {
		size_t i = items[k];
		const struct plan_item *it = &x->c.plan->items[i];

		if (!recorded) {
			set_item(x, i, ITEM_SKIPPED);
			continue;
		}
		x->outstanding++;
		x->res->deletes_sent = true;
		csms_delete_secret_tag(x->c.client, x, it->secret_id, it->key, it->value, ahead,
		                       on_delete, &x->item_refs[i]);
	}
}

/* The pending items of groups [FIRST, LAST) that need no re-check (all of
 * them, for a group just re-checked: ANY_GROUP), in batches of INTENT_BATCH. */
static void delete_groups(struct execute *x, size_t first, size_t last, bool any_group, bool ahead)
{
	size_t items[INTENT_BATCH], n = 0;

	for (size_t gi = first; gi < last; gi++) {
		const struct group *g = &x->groups[gi];

		if (g->recheck && !any_group)
			continue;
		for (size_t i = g->first; i < g->last; i++) {
			if (x->state[i] != ITEM_PENDING)
				continue;
			if (n == INTENT_BATCH) {
				send_deletes(x, items, n, ahead);
				n = 0;
			}
			items[n++] = i;
		}
	}
	send_deletes(x, items, n, ahead);
}

static void delete_group(struct execute *x, const struct group *g, bool ahead)
{
	size_t gi = (size_t) (g - x->groups);

	delete_groups(x, gi, gi + 1, true, ahead);
}

/* --- re-check ------------------------------------------------------------- */

/* Apply the re-check of group G to its items; the records carry the value
 * as re-read. */
static void recheck_group(struct execute *x, const struct group *g, const struct csms_result *r)
{
	for (size_t i = g->first; i < g->last; i++) {
		struct plan_item *it = &x->c.plan->items[i];
		const char *value = NULL;
		char *v;

		switch (plan_recheck(x->c.cfg, it, r->tags, r->sys_tags, &value)) {
		case RECHECK_GONE:
			set_item(x, i, ITEM_GONE);
			continue;
		case RECHECK_KEEP:
			set_item(x, i, ITEM_KEPT);
			continue;
		case RECHECK_DELETE:
			break;
		}
		if (strcmp(value, it->value) == 0)
			continue;
		if (x->c.only) {
			/* Reviewed with another value: not this one. */
			x->state[i] = ITEM_KEPT;
			x->res->kept_changed++;
			skip_saved(x, saved_plan_find(x->c.only, it->secret_id, it->key), "value-changed",
			           "its value changed after the plan was reviewed");
			continue;
		}
		v = strdup(value);
		if (!v) {
			set_failure(x, "out of memory");
			set_item(x, i, ITEM_SKIPPED);
			continue;
		}
		free(it->value);
		it->value = v;
	}
}

static void on_recheck(const struct csms_result *r, void *userdata)
{
	struct ref *ref = userdata;
	struct execute *x = ref->x;
	const struct group *g = &x->groups[ref->index];

	x->outstanding--;
	x->rechecks--;
	if (r->r == 0) {
		recheck_group(x, g, r);
		/* Right now, ahead of every queued request. */
		delete_group(x, g, true);
	} else {
		/* Could not confirm the values: keep the tags this pass. */
		note_result_failure(x, "ListSecretTags (re-check)", r);
		for (size_t i = g->first; i < g->last; i++)
			set_item(x, i, ITEM_SKIPPED);
	}
	execute_step(x);
}

static void verify_start(struct execute *x);

/* Start the next re-checks while the window allows; move on to
 * verification when nothing is left. */
static void execute_step(struct execute *x)
{
	while (x->rechecks < RECHECKS_IN_FLIGHT && x->next_recheck < x->n_groups) {
		size_t gi = x->next_recheck++;
		const struct group *g = &x->groups[gi];

		if (!g->recheck)
			continue;
		x->rechecks++;
		x->outstanding++;
		csms_list_secret_tags(x->c.client, x, x->c.plan->items[g->first].secret_id, on_recheck,
		                      &x->group_refs[gi]);
	}
	if (x->outstanding == 0 && x->next_recheck == x->n_groups)
		verify_start(x);
}

void execute_run(struct execute *x, execute_done_t done, void *userdata)
{
	x->done = done;
	x->userdata = userdata;
	/* Deletions that need no re-check go to the queue at once; a secret
	 * with a value-dependent one waits for its re-check. */
	delete_groups(x, 0, x->n_groups, false, false);
	execute_step(x);
}

/* --- verify --------------------------------------------------------------- */

static void report_still_present(struct execute *x, const struct group *g, const struct tag_list *tags)
{
	for (size_t i = g->first; i < g->last; i++) {
		const struct plan_item *it = &x->c.plan->items[i];

		if (x->state[i] != ITEM_DELETED || !tag_list_find(tags, it->key))
			continue;
		/* The API said 204 but the tag is there: it was not deleted. */
		x->state[i] = ITEM_STILL_PRESENT;
		x->res->deleted--;
		x->res->still_present++;
		set_failure(x, "%zu deleted tags are still present", x->res->still_present);
		record_outcome(x, i, LEDGER_FAILED);
		record_item(&x->c.rec, LOG_ERR, MID_TAG_STILL_PRESENT, it, NULL, x->ledger_id[i], "failed",
		            "Tag %s is still present on secret %s after a successful delete",
		            it->key, it->secret_name);
	}
}

static void on_verify_tags(const struct csms_result *r, void *userdata)
{
	struct ref *ref = userdata;
	struct execute *x = ref->x;

	x->outstanding--;
	if (r->r == 0)
		report_still_present(x, &x->groups[ref->index], r->tags);
	else
		log_warning("Pass %u: could not verify secret %s after deleting", x->c.number,
		            x->c.plan->items[x->groups[ref->index].first].secret_name);
	if (x->outstanding == 0)
		finish(x);
}

static void on_verify_listing(struct observe_result *o, void *userdata)
{
	struct execute *x = userdata;

	if (!o->complete) {
		log_warning("Pass %u: could not list again to verify the deletions", x->c.number);
		finish(x);
		return;
	}
	for (size_t g = 0; g < x->n_groups; g++) {
		const struct secret *s;

		if (!x->groups[g].changed)
			continue;
		s = observation_find_id(&o->obs, x->c.plan->items[x->groups[g].first].secret_id);
		if (s)
			report_still_present(x, &x->groups[g], &s->tags);
	}
	finish(x);
}

static void verify_start(struct execute *x)
{
	size_t changed = 0;

	/* The deletions are over: their outcomes before the next wait. */
	flush_outcomes(x);

	for (size_t g = 0; g < x->n_groups; g++) {
		x->groups[g].changed = false;
		for (size_t i = x->groups[g].first; i < x->groups[g].last; i++)
			if (x->state[i] == ITEM_DELETED)
				x->groups[g].changed = true;
		changed += x->groups[g].changed;
	}
	if (changed == 0) {
		finish(x);
		return;
	}
	/* Where one listing covers many secrets, listing again is cheaper than
	 * a read per changed secret. */
	if (!x->c.via_list && changed > 1) {
		if (observe_start(x->c.client, OBSERVE_RESOURCE_INSTANCES, x->c.cfg->daemon.max_parallel_requests,
		                  x->c.number, on_verify_listing, x, &x->observe) < 0) {
			log_warning("Pass %u: could not list again to verify the deletions", x->c.number);
			finish(x);
		}
		return;
	}
	x->outstanding = (unsigned) changed;
	for (size_t g = 0; g < x->n_groups; g++)
		if (x->groups[g].changed)
			csms_list_secret_tags(x->c.client, x, x->c.plan->items[x->groups[g].first].secret_id,
			                      on_verify_tags, &x->group_refs[g]);
}

/* --- life cycle ----------------------------------------------------------- */

static int build_groups(struct execute *x)
{
	const struct plan *pl = x->c.plan;

	for (size_t i = 0; i < pl->n; i++) {
		struct group *g;

		x->item_refs[i] = (struct ref) { x, i };
		if (x->n_groups == 0 || strcmp(pl->items[i].secret_id,
		                               pl->items[x->groups[x->n_groups - 1].first].secret_id) != 0) {
			x->group_refs[x->n_groups] = (struct ref) { x, x->n_groups };
			x->groups[x->n_groups++] = (struct group) { .first = i, .last = i };
		}
		g = &x->groups[x->n_groups - 1];
		g->last = i + 1;
		/* A reviewed plan names values: every secret is re-read. */
		if (x->c.only || plan_needs_recheck(x->c.cfg, &pl->items[i]))
			g->recheck = true;
	}
	return 0;
}

int execute_new(const struct execute_ctx *ctx, struct pass_result *res, struct execute **ret)
{
	struct execute *x = calloc(1, sizeof(*x));
	size_t n = ctx->plan->n ? ctx->plan->n : 1;

	if (!x)
		return -ENOMEM;
	x->c = *ctx;
	x->res = res;
	x->state = calloc(n, sizeof(*x->state));
	x->ledger_id = calloc(n, sizeof(*x->ledger_id));
	x->groups = calloc(n, sizeof(*x->groups));
	x->item_refs = calloc(n, sizeof(*x->item_refs));
	x->group_refs = calloc(n, sizeof(*x->group_refs));
	x->outcomes_cap = n < OUTCOME_BATCH ? n : OUTCOME_BATCH;
	x->outcomes = calloc(x->outcomes_cap, sizeof(*x->outcomes));
	if (!x->state || !x->ledger_id || !x->groups || !x->item_refs || !x->group_refs || !x->outcomes) {
		execute_free(x);
		return -ENOMEM;
	}
	build_groups(x);
	*ret = x;
	return 0;
}

void execute_tally(const struct execute *x, struct metrics_tally *t)
{
	for (size_t i = 0; x && i < x->c.plan->n; i++) {
		char ref[300];

		/* On ENOMEM the count is short; the ledger has every deletion. */
		if (x->state[i] == ITEM_DELETED)
			(void) metrics_tally_add(t, policy_rule_label(x->c.cfg, x->c.plan->items[i].secret_name,
			                                              x->c.plan->items[i].key, ref, sizeof(ref)),
			                         NULL, 1);
	}
}

void execute_free(struct execute *x)
{
	if (!x)
		return;
	observe_free(x->observe);
	csms_cancel(x->c.client, x);
	/* An aborted pass: what was answered is recorded all the same. */
	flush_outcomes(x);
	free(x->outcomes);
	free(x->state);
	free(x->ledger_id);
	free(x->groups);
	free(x->item_refs);
	free(x->group_refs);
	free(x);
}
