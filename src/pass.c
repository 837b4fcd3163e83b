/* pass.c - one reconcile pass: observe, plan, execute, verify.
 *
 * Every asynchronous registration of a pass -- the start-up defer source,
 * the credential wait, the observation and every CSMS call -- is owned by
 * the pass (csms owner token: the pass itself) and dropped by release(),
 * which every ending goes through: finish() (done, failed, held, aborted by
 * a timeout, a signal or a reload) and pass_free().
 */
#include "pass.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grace.h"
#include "log.h"
#include "observe.h"
#include "plan.h"
#include "planfile.h"
#include "policy.h"
#include "util.h"
#include "values.h"

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
	ITEM_SKIPPED,           /* could not be re-checked: not deleted */
	ITEM_FAILED,
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
	struct pass *pass;
	size_t index;
};

struct pass {
	struct csms *client;
	const struct config *cfg;
	pass_done_t done;
	void *userdata;
	sd_event_source *defer;
	bool running;
	uint64_t started;
	char pass_str[16];

	const char *save_path;          /* --save-plan */
	const struct saved_plan *only;  /* --apply-plan: the saved items */
	const char *only_path;

	struct observe *observe;        /* the observation in progress */
	bool via_list;                  /* observed with ListSecrets */

	struct plan plan;
	enum item_state *state;
	struct group *groups;
	size_t n_groups;
	struct ref *item_refs;
	struct ref *group_refs;
	size_t next_recheck;            /* next group to consider for a re-check */
	unsigned rechecks;              /* re-checks in flight */
	unsigned outstanding;           /* requests in flight (execute, verify) */
	struct pass_result res;
};

static void verify_start(struct pass *p);
static void forget_deleted_clocks(struct pass *p);

const char *pass_outcome_to_string(enum pass_outcome o)
{
	static const char *const names[] = {
		[PASS_CONVERGED] = "converged",
		[PASS_CHANGED] = "changed",
		[PASS_PARTIAL] = "partial",
		[PASS_FAILED] = "failed",
		[PASS_ABORTED] = "aborted",
	};
	return o <= PASS_ABORTED ? names[o] : "?";
}

#define set_failure(p, ...) set_first_reason((p)->res.failure, sizeof((p)->res.failure), __VA_ARGS__)

static void note_result_failure(struct pass *p, const char *what, const struct csms_result *r)
{
	char buf[200];

	if (r->throttled)
		p->res.throttled = true;
	set_failure(p, "%s: %s", what, csms_result_describe(r, buf, sizeof(buf)));
}

/* --- ending: the one path ------------------------------------------------- */

/* Drop every registration the pass holds. */
static void release(struct pass *p)
{
	p->defer = sd_event_source_disable_unref(p->defer);
	observe_free(p->observe);
	p->observe = NULL;
	csms_cancel(p->client, p);
}

static void finish(struct pass *p)
{
	struct pass_result *r = &p->res;

	if (!p->running)
		return;
	p->running = false;
	release(p);
	if (!r->dry_run && r->deletes_sent)
		forget_deleted_clocks(p);
	r->duration_usec = now_monotonic_usec() - p->started;
	for (size_t i = 0; i < p->plan.n; i++) {
		char ref[300];

		/* On ENOMEM the count is short; the journal has every deletion. */
		if (p->state && p->state[i] == ITEM_DELETED)
			(void) metrics_tally_add(&r->deleted_by_rule,
			                         policy_rule_label(p->cfg, p->plan.items[i].secret_name,
			                                           p->plan.items[i].key, ref, sizeof(ref)),
			                         NULL, 1);
	}
	if (r->outcome != PASS_FAILED && r->outcome != PASS_ABORTED) {
		if (r->delete_failed || r->skipped_incomplete || r->limit_exceeded || r->still_present)
			r->outcome = PASS_PARTIAL;
		else if (r->deleted)
			r->outcome = PASS_CHANGED;
		else
			r->outcome = PASS_CONVERGED;
	}
	log_event(r->outcome == PASS_FAILED ? LOG_ERR :
	          r->outcome == PASS_PARTIAL || r->outcome == PASS_ABORTED ? LOG_WARNING : LOG_INFO,
	          r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED ? MID_PASS_FAILED : MID_PASS_FINISHED,
	          LOG_FIELDS({ "CSMS_PASS", p->pass_str },
	                     { "DRY_RUN", r->dry_run ? "1" : "0" },
	                     { "CSMS_OUTCOME", pass_outcome_to_string(r->outcome) }),
	          "Pass %u %s: %zu secrets (%zu governed), %zu planned, %zu %s, %zu still present, "
	          "%zu already gone, %zu kept, %zu failed%s%s",
	          r->number, pass_outcome_to_string(r->outcome), r->secrets, r->governed, r->planned,
	          r->deleted, r->dry_run ? "would be deleted" : "deleted", r->still_present,
	          r->already_gone, r->kept_changed, r->delete_failed, r->failure[0] ? "; " : "", r->failure);
	if (r->waiting || r->exempted || r->required_missing || r->required_invalid)
		log_event(LOG_INFO, NULL, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
		          "Pass %u also found: %zu deletions waiting for their grace period, %zu tags kept by "
		          "exemptions, %zu required tags missing, %zu with a value not allowed",
		          r->number, r->waiting, r->exempted, r->required_missing, r->required_invalid);
	/* Last action: DONE may free the pass. */
	p->done(r, p->userdata);
}

static void fail_pass(struct pass *p)
{
	p->res.outcome = PASS_FAILED;
	finish(p);
}

/* --- journal records ------------------------------------------------------ */

static void log_item(struct pass *p, int level, const char *mid, const struct plan_item *it,
                     const struct csms_result *r, const char *fmt, ...) _printf_(6, 7);
static void log_item(struct pass *p, int level, const char *mid, const struct plan_item *it,
                     const struct csms_result *r, const char *fmt, ...)
{
	char ref[300], status[16] = "", exemption[300] = "", expires[32] = "";
	char grace[32] = "", first_seen[32] = "", due[32] = "";
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (r && r->status)
		snprintf(status, sizeof(status), "%ld", r->status);
	if (it->exemption_line) {
		snprintf(exemption, sizeof(exemption), "%s:%u", plan_file(&p->plan, it->exemption_file), it->exemption_line);
		format_utc_time(expires, sizeof(expires), it->exemption_expires_usec);
	}
	if (it->grace_usec) {
		format_timespan(grace, sizeof(grace), it->grace_usec);
		format_utc_time(first_seen, sizeof(first_seen), it->first_seen_usec);
		format_utc_time(due, sizeof(due), it->due_usec);
	}
	log_event(level, mid,
	          LOG_FIELDS({ "CSMS_SECRET_ID", it->secret_id },
	                     { "CSMS_SECRET_NAME", it->secret_name },
	                     { "CSMS_TAG_KEY", it->key },
	                     { "CSMS_TAG_VALUE", it->value },
	                     { "CSMS_RULE", plan_item_rule_ref(&p->plan, it, ref, sizeof(ref)) },
	                     { "CSMS_REASON", reason_to_string(it->reason) },
	                     { "CSMS_PASS", p->pass_str },
	                     { "DRY_RUN", p->res.dry_run ? "1" : "0" },
	                     { "CSMS_REQUEST_ID", r ? r->request_id : NULL },
	                     { "HTTP_STATUS", status[0] ? status : NULL },
	                     { "CSMS_ERROR_CODE", r ? r->error_code : NULL },
	                     { "CSMS_EXEMPTION", exemption[0] ? exemption : NULL },
	                     { "CSMS_EXEMPTION_NAME", it->exemption_name },
	                     { "CSMS_EXEMPTION_REASON", it->exemption_reason },
	                     { "CSMS_EXEMPTION_EXPIRES", expires[0] ? expires : NULL },
	                     { "CSMS_GRACE", grace[0] ? grace : NULL },
	                     { "CSMS_FIRST_SEEN", first_seen[0] ? first_seen : NULL },
	                     { "CSMS_DUE", due[0] ? due : NULL }),
	          "%s", text ? text : "?");
}

/* --apply-plan: saved item IT is not deleted, for REASON. */
static void log_plan_skip(struct pass *p, const struct saved_item *it, const char *reason,
                          const char *why)
{
	p->res.plan_skipped++;
	log_event(LOG_NOTICE, MID_PLAN_ITEM_SKIPPED,
	          LOG_FIELDS({ "CSMS_SECRET_ID", it->secret_id },
	                     { "CSMS_SECRET_NAME", it->secret_name },
	                     { "CSMS_TAG_KEY", it->key },
	                     { "CSMS_TAG_VALUE", it->value },
	                     { "CSMS_RULE", it->rule },
	                     { "CSMS_SKIP_REASON", reason },
	                     { "CSMS_PLAN_FILE", p->only_path },
	                     { "CSMS_PASS", p->pass_str },
	                     { "DRY_RUN", p->res.dry_run ? "1" : "0" }),
	          "Plan item %s=%s on secret %s not deleted: %s (%s)",
	          it->key, it->value, it->secret_name, why, reason);
}

static void set_item(struct pass *p, size_t i, enum item_state s)
{
	const struct plan_item *it = &p->plan.items[i];

	p->state[i] = s;
	switch (s) {
	case ITEM_GONE:
		p->res.already_gone++;
		if (p->only)
			log_plan_skip(p, saved_plan_find(p->only, it->secret_id, it->key), "tag-gone",
			              "the tag is gone");
		else
			log_item(p, LOG_INFO, MID_TAG_ALREADY_GONE, it, NULL,
			         "Tag %s is already gone from secret %s", it->key, it->secret_name);
		break;
	case ITEM_KEPT:
		p->res.kept_changed++;
		if (p->only)
			log_plan_skip(p, saved_plan_find(p->only, it->secret_id, it->key), "kept-by-config",
			              "the current configuration keeps it as it is now");
		else
			log_item(p, LOG_NOTICE, MID_TAG_KEPT_CHANGED, it, NULL,
			         "Kept tag %s on secret %s: policy allows it as it is now (value changed since it was observed)",
			         it->key, it->secret_name);
		break;
	case ITEM_SKIPPED:
		p->res.delete_failed++;
		break;
	case ITEM_PENDING:
	case ITEM_DELETED:
	case ITEM_FAILED:
	case ITEM_STILL_PRESENT:
		break;
	}
}

/* --- execute: per secret, re-check then delete at once -------------------- */

static void execute_step(struct pass *p);

static void on_delete(const struct csms_result *r, void *userdata)
{
	struct ref *ref = userdata;
	struct pass *p = ref->pass;
	const struct plan_item *it = &p->plan.items[ref->index];
	char why[200];

	p->outstanding--;
	if (r->r == 0) {
		p->state[ref->index] = ITEM_DELETED;
		p->res.deleted++;
		log_item(p, LOG_NOTICE, MID_TAG_DELETED, it, r, "Deleted tag %s=%s from secret %s (%s)",
		         it->key, it->value, it->secret_name, reason_to_string(it->reason));
	} else if (csms_result_is_gone(r)) {
		p->state[ref->index] = ITEM_GONE;
		p->res.already_gone++;
		log_item(p, LOG_INFO, MID_TAG_ALREADY_GONE, it, r,
		         "Tag %s was already gone from secret %s", it->key, it->secret_name);
	} else {
		p->state[ref->index] = ITEM_FAILED;
		p->res.delete_failed++;
		note_result_failure(p, "DeleteSecretTag", r);
		log_item(p, LOG_ERR, MID_DELETE_FAILED, it, r, "Failed to delete tag %s from secret %s: %s",
		         it->key, it->secret_name, csms_result_describe(r, why, sizeof(why)));
	}
	execute_step(p);
}

static void delete_group(struct pass *p, const struct group *g, bool ahead)
{
	for (size_t i = g->first; i < g->last; i++) {
		const struct plan_item *it = &p->plan.items[i];

		if (p->state[i] != ITEM_PENDING)
			continue;
		p->outstanding++;
		p->res.deletes_sent = true;
		csms_delete_secret_tag(p->client, p, it->secret_id, it->key, it->value, ahead,
		                       on_delete, &p->item_refs[i]);
	}
}

/* Apply the re-check of group G to its items; the journal records the
 * value as re-read. */
static void recheck_group(struct pass *p, const struct group *g, const struct csms_result *r)
{
	for (size_t i = g->first; i < g->last; i++) {
		struct plan_item *it = &p->plan.items[i];
		const char *value = NULL;
		char *v;

		switch (plan_recheck(p->cfg, it, r->tags, r->sys_tags, &value)) {
		case RECHECK_GONE:
			set_item(p, i, ITEM_GONE);
			continue;
		case RECHECK_KEEP:
			set_item(p, i, ITEM_KEPT);
			continue;
		case RECHECK_DELETE:
			break;
		}
		if (strcmp(value, it->value) == 0)
			continue;
		if (p->only) {
			/* Reviewed with another value: not this one. */
			p->state[i] = ITEM_KEPT;
			p->res.kept_changed++;
			log_plan_skip(p, saved_plan_find(p->only, it->secret_id, it->key), "value-changed",
			              "its value changed after the plan was reviewed");
			continue;
		}
		v = strdup(value);
		if (!v) {
			set_failure(p, "out of memory");
			set_item(p, i, ITEM_SKIPPED);
			continue;
		}
		free(it->value);
		it->value = v;
	}
}

static void on_recheck(const struct csms_result *r, void *userdata)
{
	struct ref *ref = userdata;
	struct pass *p = ref->pass;
	const struct group *g = &p->groups[ref->index];

	p->outstanding--;
	p->rechecks--;
	if (r->r == 0) {
		recheck_group(p, g, r);
		/* Right now, ahead of every queued request. */
		delete_group(p, g, true);
	} else {
		/* Could not confirm the values: keep the tags this pass. */
		note_result_failure(p, "ListSecretTags (re-check)", r);
		for (size_t i = g->first; i < g->last; i++)
			set_item(p, i, ITEM_SKIPPED);
	}
	execute_step(p);
}

/* Start the next re-checks while the window allows; move on to
 * verification when nothing is left. */
static void execute_step(struct pass *p)
{
	while (p->rechecks < RECHECKS_IN_FLIGHT && p->next_recheck < p->n_groups) {
		size_t gi = p->next_recheck++;
		const struct group *g = &p->groups[gi];

		if (!g->recheck)
			continue;
		p->rechecks++;
		p->outstanding++;
		csms_list_secret_tags(p->client, p, p->plan.items[g->first].secret_id, on_recheck,
		                      &p->group_refs[gi]);
	}
	if (p->outstanding == 0 && p->next_recheck == p->n_groups)
		verify_start(p);
}

static void execute_start(struct pass *p)
{
	/* Deletions that do not depend on a value go to the queue at once;
	 * a secret with a value-dependent one waits for its re-check. */
	for (size_t g = 0; g < p->n_groups; g++)
		if (!p->groups[g].recheck)
			delete_group(p, &p->groups[g], false);
	execute_step(p);
}

/* --- verify --------------------------------------------------------------- */

static void report_still_present(struct pass *p, const struct group *g, const struct tag_list *tags)
{
	for (size_t i = g->first; i < g->last; i++) {
		const struct plan_item *it = &p->plan.items[i];

		if (p->state[i] != ITEM_DELETED || !tag_list_find(tags, it->key))
			continue;
		/* The API said 204 but the tag is there: it was not deleted. */
		p->state[i] = ITEM_STILL_PRESENT;
		p->res.deleted--;
		p->res.still_present++;
		set_failure(p, "%zu deleted tags are still present", p->res.still_present);
		log_item(p, LOG_ERR, MID_TAG_STILL_PRESENT, it, NULL,
		         "Tag %s is still present on secret %s after a successful delete",
		         it->key, it->secret_name);
	}
}

static void on_verify_tags(const struct csms_result *r, void *userdata)
{
	struct ref *ref = userdata;
	struct pass *p = ref->pass;

	p->outstanding--;
	if (r->r == 0)
		report_still_present(p, &p->groups[ref->index], r->tags);
	else
		log_warning("Pass %u: could not verify secret %s after deleting", p->res.number,
		            p->plan.items[p->groups[ref->index].first].secret_name);
	if (p->outstanding == 0)
		finish(p);
}

static void on_verify_listing(struct observe_result *o, void *userdata)
{
	struct pass *p = userdata;

	if (!o->complete) {
		log_warning("Pass %u: could not list again to verify the deletions", p->res.number);
		finish(p);
		return;
	}
	for (size_t g = 0; g < p->n_groups; g++) {
		const struct secret *s;

		if (!p->groups[g].changed)
			continue;
		s = observation_find_id(&o->obs, p->plan.items[p->groups[g].first].secret_id);
		if (s)
			report_still_present(p, &p->groups[g], &s->tags);
	}
	finish(p);
}

static void verify_start(struct pass *p)
{
	size_t changed = 0;

	for (size_t g = 0; g < p->n_groups; g++) {
		p->groups[g].changed = false;
		for (size_t i = p->groups[g].first; i < p->groups[g].last; i++)
			if (p->state[i] == ITEM_DELETED)
				p->groups[g].changed = true;
		changed += p->groups[g].changed;
	}
	if (changed == 0) {
		finish(p);
		return;
	}
	/* Where one listing covers many secrets, listing again is cheaper than
	 * a read per changed secret. */
	if (!p->via_list && changed > 1) {
		if (observe_start(p->client, OBSERVE_RESOURCE_INSTANCES, p->cfg->daemon.max_parallel_requests,
		                  p->res.number, on_verify_listing, p, &p->observe) < 0) {
			log_warning("Pass %u: could not list again to verify the deletions", p->res.number);
			finish(p);
		}
		return;
	}
	p->outstanding = (unsigned) changed;
	for (size_t g = 0; g < p->n_groups; g++)
		if (p->groups[g].changed)
			csms_list_secret_tags(p->client, p, p->plan.items[p->groups[g].first].secret_id,
			                      on_verify_tags, &p->group_refs[g]);
}

/* Everything execution needs is allocated here, before the first DELETE:
 * running out of memory later could not stop half-way cleanly. */
static int build_groups(struct pass *p)
{
	struct plan *pl = &p->plan;
	size_t n = pl->n ? pl->n : 1;

	p->state = calloc(n, sizeof(*p->state));
	p->groups = calloc(n, sizeof(*p->groups));
	p->item_refs = calloc(n, sizeof(*p->item_refs));
	p->group_refs = calloc(n, sizeof(*p->group_refs));
	if (!p->state || !p->groups || !p->item_refs || !p->group_refs)
		return -ENOMEM;
	for (size_t i = 0; i < pl->n; i++) {
		struct group *g;

		p->item_refs[i] = (struct ref) { p, i };
		if (p->n_groups == 0 || strcmp(pl->items[i].secret_id,
		                               pl->items[p->groups[p->n_groups - 1].first].secret_id) != 0) {
			p->group_refs[p->n_groups] = (struct ref) { p, p->n_groups };
			p->groups[p->n_groups++] = (struct group) { .first = i, .last = i };
		}
		g = &p->groups[p->n_groups - 1];
		g->last = i + 1;
		/* A reviewed plan names values: every secret is re-read. */
		if (p->only || reason_depends_on_value(pl->items[i].reason))
			g->recheck = true;
	}
	return 0;
}

/* --- governance records: exemptions, grace, required tags ---------------- */

static void log_expired(struct pass *p, const struct plan_item *it)
{
	char when[32];

	if (it->exemption_line && it->exemption_expired)
		log_item(p, LOG_NOTICE, MID_EXEMPTION_EXPIRED, it, NULL,
		         "Exemption \"%s\" at %s:%u expired on %s: tag %s on secret %s goes by the rules again (%s)",
		         it->exemption_name, plan_file(&p->plan, it->exemption_file), it->exemption_line,
		         format_utc_time(when, sizeof(when), it->exemption_expires_usec), it->key,
		         it->secret_name, reason_to_string(it->reason));
}

static void log_governance(struct pass *p)
{
	const struct plan *pl = &p->plan;
	char when[32], span[32], ref[300], missing[24], invalid[24];

	for (size_t i = 0; i < pl->n_exempted; i++) {
		const struct plan_item *it = &pl->exempted[i];

		log_item(p, LOG_INFO, MID_TAG_EXEMPTED, it, NULL,
		         "Kept tag %s=%s on secret %s although the rules delete it (%s): exemption \"%s\" at %s:%u "
		         "until %s: %s", it->key, it->value, it->secret_name, reason_to_string(it->reason),
		         it->exemption_name, plan_file(pl, it->exemption_file), it->exemption_line,
		         format_utc_time(when, sizeof(when), it->exemption_expires_usec), it->exemption_reason);
	}
	for (size_t i = 0; i < pl->n_waiting; i++) {
		const struct plan_item *it = &pl->waiting[i];

		log_expired(p, it);
		log_item(p, LOG_INFO, MID_TAG_GRACE, it, NULL,
		         "Tag %s=%s on secret %s is not allowed (%s); its deletion is due %s (grace %s)",
		         it->key, it->value, it->secret_name, reason_to_string(it->reason),
		         format_utc_time(when, sizeof(when), it->due_usec),
		         format_timespan(span, sizeof(span), it->grace_usec));
	}
	for (size_t i = 0; i < pl->n; i++)
		log_expired(p, &pl->items[i]);
	for (size_t i = 0; i < pl->n_unused; i++) {
		snprintf(ref, sizeof(ref), "%s:%u", plan_file(pl, pl->unused[i].file), pl->unused[i].line);
		log_event(LOG_WARNING, MID_EXEMPTION_UNUSED,
		          LOG_FIELDS({ "CSMS_PASS", p->pass_str }, { "CSMS_EXEMPTION", ref },
		                     { "CSMS_EXEMPTION_NAME", pl->unused[i].name }),
		          "Exemption \"%s\" at %s kept no tag this pass: it matches no tag the rules would delete",
		          pl->unused[i].name, ref);
	}
	for (size_t i = 0; i < pl->n_required; i++) {
		const struct plan_requirement *q = &pl->required[i];

		snprintf(ref, sizeof(ref), "%s:%u", plan_file(pl, q->file), q->required_line);
		snprintf(missing, sizeof(missing), "%zu", q->n_missing);
		snprintf(invalid, sizeof(invalid), "%zu", q->n_invalid);
		log_event(LOG_WARNING, MID_REQUIRED_TAGS,
		          LOG_FIELDS({ "CSMS_PASS", p->pass_str }, { "CSMS_SECRET_ID", q->secret_id },
		                     { "CSMS_SECRET_NAME", q->secret_name }, { "CSMS_RULE", ref },
		                     { "CSMS_REQUIRED_MISSING", q->missing },
		                     { "CSMS_REQUIRED_INVALID", q->invalid },
		                     { "CSMS_REQUIRED_MISSING_COUNT", missing },
		                     { "CSMS_REQUIRED_INVALID_COUNT", invalid }),
		          "Secret %s lacks required tags (%s): %s%s%s%s%s; they are reported, never created",
		          q->secret_name, ref, q->missing ? "missing " : "", q->missing ? q->missing : "",
		          q->missing && q->invalid ? "; " : "", q->invalid ? "value not allowed " : "",
		          q->invalid ? q->invalid : "");
	}
}

/* --- plan ----------------------------------------------------------------- */

/* Store the plan's clocks at PATH.  A store that cannot be written is
 * removed: kept, it would claim tags unwanted since before they were last
 * wanted.  Returns whether the store now holds the plan's clocks. */
static bool store_clocks(struct pass *p, const char *path)
{
	int r = grace_clocks_save(path, &p->plan.clocks), k;

	if (r >= 0)
		return true;
	k = grace_clocks_remove(path);
	log_event(LOG_ERR, MID_GRACE_STATE, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
	          "Cannot write grace clock store %s: %s; every grace period starts again now%s%s",
	          path, strerror(-r), k < 0 ? "; cannot remove the old store either: " : "",
	          k < 0 ? strerror(-k) : "");
	return false;
}

/* Compute the plan with the grace clocks of the state directory and store
 * the new ones.  Store problems are logged here, once. */
static int compute_plan(struct pass *p, struct observation *obs)
{
	struct grace_clocks clocks = {};
	struct plan_time t = { .now_usec = now_realtime_usec(), .clocks = &clocks };
	_cleanup_free_ char *path = grace_state_path(p->cfg);
	size_t future = 0;
	int r, k;

	if (!path)
		return -ENOMEM;
	if (!config_uses_grace(p->cfg)) {
		/* Clocks left from an earlier grace period would be stale when
		 * one is set again: they could advance a deletion. */
		k = grace_clocks_remove(path);
		if (k < 0)
			log_debug("Pass %u: cannot remove the unused grace clock store %s: %s",
			          p->res.number, path, strerror(-k));
		return plan_compute(p->cfg, obs, &t, &p->plan);
	}
	r = grace_clocks_load(path, t.now_usec, &clocks, &future);
	if (grace_load_error(r))
		log_event(LOG_WARNING, MID_GRACE_STATE, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
		          "Grace clock store %s: %s; every grace period starts again now", path, grace_load_error(r));
	if (future > 0)
		log_event(LOG_WARNING, MID_GRACE_STATE, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
		          "Grace clock store %s: %zu clocks started in the future (did the system clock go back?); "
		          "they start again now", path, future);
	r = plan_compute(p->cfg, obs, &t, &p->plan);
	grace_clocks_clear(&clocks);
	if (r < 0)
		return r;
	if (store_clocks(p, path))
		return 0;
	/* Judge this pass as if the store were lost, as the next one will. */
	plan_clear(&p->plan);
	t.clocks = NULL;
	return plan_compute(p->cfg, obs, &t, &p->plan);
}

/* Deleted tags lose their clocks at once: one re-created before the next
 * pass must wait a grace period of its own.  A tag still present after its
 * delete keeps its clock: it never stopped being unwanted. */
static void forget_deleted_clocks(struct pass *p)
{
	_cleanup_free_ char *path = NULL;
	size_t dropped = 0;

	for (size_t i = 0; p->state && i < p->plan.n; i++) {
		const struct plan_item *it = &p->plan.items[i];
		uint8_t d[GRACE_DIGEST_LEN];

		if (!it->grace_usec || (p->state[i] != ITEM_DELETED && p->state[i] != ITEM_GONE))
			continue;
		grace_digest(it->secret_id, it->key, it->value, d);
		grace_clocks_drop(&p->plan.clocks, d);
		dropped++;
	}
	if (dropped == 0)
		return;
	path = grace_state_path(p->cfg);
	if (!path)
		log_error("Pass %u: out of memory; the grace clocks of deleted tags stay stored", p->res.number);
	else
		store_clocks(p, path);
}

/* The deletion limit, over the worst case (plan_worst_case()). */
static bool held_by_limit(struct pass *p)
{
	unsigned limit = p->cfg->daemon.max_deletes_per_pass;
	/* With a saved plan, unread secrets can add nothing to the plan. */
	size_t unread = p->only ? 0 : p->plan.n_incomplete;
	size_t worst = p->only ? p->plan.n : plan_worst_case(&p->plan);
	char limit_s[16], planned_s[24], unread_s[24], worst_s[24];

	if (worst <= limit)
		return false;
	p->res.limit_exceeded = true;
	p->res.failure[0] = '\0';
	if (unread)
		set_failure(p, "%zu planned + %u x %zu unread secrets = %zu deletions possible, over "
		            "max_deletes_per_pass=%u: nothing deleted", p->plan.n, PLAN_MAX_TAGS_PER_SECRET,
		            unread, worst, limit);
	else
		set_failure(p, "%zu deletions planned, over max_deletes_per_pass=%u: nothing deleted",
		            p->plan.n, limit);
	snprintf(limit_s, sizeof(limit_s), "%u", limit);
	snprintf(planned_s, sizeof(planned_s), "%zu", p->plan.n);
	snprintf(unread_s, sizeof(unread_s), "%zu", unread);
	snprintf(worst_s, sizeof(worst_s), "%zu", worst);
	log_event(LOG_WARNING, MID_DELETE_LIMIT,
	          LOG_FIELDS({ "CSMS_PASS", p->pass_str }, { "CSMS_PLANNED", planned_s },
	                     { "CSMS_UNREAD", unread_s }, { "CSMS_WORST_CASE", worst_s },
	                     { "CSMS_LIMIT", limit_s }),
	          "Pass %u held: %zu deletions planned, %zu governed secrets unread (up to %u tags each): "
	          "up to %zu deletions, more than max_deletes_per_pass=%u; nothing deleted "
	          "(check the config, the API's answers, or raise the limit)",
	          p->res.number, p->plan.n, unread, PLAN_MAX_TAGS_PER_SECRET, worst, limit);
	return true;
}

struct intersect {
	const struct saved_plan *sp;
	bool *matched;          /* per saved item: still in the plan */
};

static bool in_saved_plan(const struct plan_item *it, void *userdata)
{
	struct intersect *x = userdata;
	const struct saved_item *s = saved_plan_find(x->sp, it->secret_id, it->key);

	if (!s || strcmp(s->value, it->value) != 0)
		return false;
	x->matched[s - x->sp->items] = true;
	return true;
}

/* --apply-plan: narrow the fresh plan to the saved items and say, for each
 * saved item left out, why (from the observation OBS). */
static int restrict_plan(struct pass *p, const struct observation *obs)
{
	const struct saved_plan *sp = p->only;
	_cleanup_free_ bool *matched = calloc(sp->n ? sp->n : 1, sizeof(bool));
	struct intersect x = { sp, matched };

	if (!matched)
		return -ENOMEM;
	p->res.plan_excluded = plan_retain(&p->plan, in_saved_plan, &x);
	if (p->res.plan_excluded)
		log_notice("Pass %u: %zu deletions the configuration asks for are not in plan %s: not deleted",
		           p->res.number, p->res.plan_excluded, p->only_path);
	for (size_t i = 0; i < sp->n; i++) {
		const struct saved_item *it = &sp->items[i];
		const struct secret *s;
		const struct tag *t;

		if (matched[i])
			continue;
		s = observation_find_id(obs, it->secret_id);
		t = s ? tag_list_find(&s->tags, it->key) : NULL;
		if (!s)
			log_plan_skip(p, it, "secret-gone", "the secret no longer exists");
		else if (!s->tags_complete)
			log_plan_skip(p, it, "not-read", "the secret's tags could not be read");
		else if (!t)
			log_plan_skip(p, it, "tag-gone", "the tag is gone");
		else if (strcmp(t->value, it->value) != 0)
			log_plan_skip(p, it, "value-changed", "its value changed after the plan was reviewed");
		else
			log_plan_skip(p, it, "kept-by-config",
			              "the current configuration keeps it (or the secret is not governed now)");
	}
	return 0;
}

/* --save-plan: the dry run's plan, for review and --apply-plan. */
static int save_plan(struct pass *p)
{
	char digest[65], count[24];
	int r = config_file_sha256(p->cfg->path, digest);

	if (r >= 0)
		r = saved_plan_write(p->save_path, &p->plan, p->cfg->csms.project_id, digest,
		                     now_realtime_usec());
	if (r < 0) {
		set_failure(p, "cannot save the plan to %s: %s", p->save_path, strerror(-r));
		return r;
	}
	snprintf(count, sizeof(count), "%zu", p->plan.n);
	log_event(LOG_NOTICE, MID_PLAN_SAVED,
	          LOG_FIELDS({ "CSMS_PLAN_FILE", p->save_path }, { "CSMS_PLANNED", count },
	                     { "CSMS_CONFIG_SHA256", digest }, { "CSMS_PASS", p->pass_str }),
	          "Plan with %zu deletions saved to %s", p->plan.n, p->save_path);
	return 0;
}

/* Plan from OBS and act on the plan.  OBS is cleared as soon as the plan
 * is made: the plan copies what it needs, and at 10,000 secrets the
 * observation is most of the daemon's memory. */
static void plan_and_act(struct pass *p, struct observation *obs)
{
	struct pass_result *r = &p->res;
	int k = compute_plan(p, obs);

	if (k >= 0 && p->only)
		k = restrict_plan(p, obs);
	observation_clear(obs);
	if (k < 0 || build_groups(p) < 0) {
		set_failure(p, "out of memory");
		fail_pass(p);
		return;
	}
	if (p->save_path && save_plan(p) < 0) {
		log_event(LOG_ERR, MID_PASS_FAILED, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
		          "Pass %u: %s", p->res.number, p->res.failure);
		fail_pass(p);
		return;
	}
	r->secrets = p->plan.n_secrets;
	r->governed = p->plan.n_governed;
	r->skipped_pending_delete = p->plan.n_pending_delete;
	r->skipped_incomplete = p->plan.n_incomplete;
	r->planned = p->plan.n;
	r->waiting = p->plan.n_waiting;
	r->exempted = p->plan.n_exempted;
	r->exemptions_unused = p->plan.n_unused;
	r->required_missing = p->plan.n_required_missing;
	r->required_invalid = p->plan.n_required_invalid;
	log_governance(p);
	if (r->skipped_incomplete)
		set_failure(p, "%zu governed secrets could not be read", r->skipped_incomplete);
	if (held_by_limit(p)) {
		finish(p);
		return;
	}
	if (r->dry_run) {
		for (size_t i = 0; i < p->plan.n; i++) {
			const struct plan_item *it = &p->plan.items[i];

			log_item(p, LOG_NOTICE, MID_TAG_WOULD_DELETE, it, NULL,
			         "Would delete tag %s=%s from secret %s (%s) [dry run]",
			         it->key, it->value, it->secret_name, reason_to_string(it->reason));
		}
		r->deleted = p->plan.n;
		finish(p);
		return;
	}
	execute_start(p);
}

/* --- observe -------------------------------------------------------------- */

static void on_observed(struct observe_result *o, void *userdata)
{
	struct pass *p = userdata;
	struct observation obs;

	p->via_list = streq_ptr(o->observed_by, "ListSecrets");
	p->res.observed_by = o->observed_by;
	if (o->throttled)
		p->res.throttled = true;
	if (o->failure[0])
		set_failure(p, "%s", o->failure);
	if (!o->complete) {
		if (o->auth_refused)
			log_event(LOG_ERR, MID_AUTH_FAILED,
			          LOG_FIELDS({ "CSMS_PASS", p->pass_str }, { "HTTP_STATUS", "401" }),
			          "Pass %u: the API refused our credentials (%s); check the credential files "
			          "(with AK/SK, repeated signature failures lock the key for 5 minutes)",
			          p->res.number, p->res.failure);
		log_event(LOG_ERR, MID_PASS_FAILED, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
		          "Pass %u: observation failed, nothing deleted: %s", p->res.number, p->res.failure);
		fail_pass(p);
		return;
	}
	obs = o->obs;
	o->obs = (struct observation) {};
	observe_free(p->observe);
	p->observe = NULL;
	plan_and_act(p, &obs);
}

static void on_auth_ready(int r, const char *error, void *userdata)
{
	struct pass *p = userdata;

	if (r < 0) {
		set_failure(p, "authentication failed: %s", error ? error : strerror(-r));
		log_event(LOG_ERR, MID_AUTH_FAILED, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
		          "Pass %u: authentication failed: %s", p->res.number, error ? error : strerror(-r));
		fail_pass(p);
		return;
	}
	r = observe_start(p->client, p->cfg->daemon.observe, p->cfg->daemon.max_parallel_requests,
	                  p->res.number, on_observed, p, &p->observe);
	if (r < 0) {
		set_failure(p, "cannot observe: %s", strerror(-r));
		fail_pass(p);
	}
}

static int on_start(sd_event_source *s, void *userdata)
{
	struct pass *p = userdata;

	p->defer = sd_event_source_disable_unref(p->defer);
	log_event(LOG_INFO, MID_PASS_STARTED,
	          LOG_FIELDS({ "CSMS_PASS", p->pass_str }, { "DRY_RUN", p->res.dry_run ? "1" : "0" }),
	          "Pass %u started%s", p->res.number, p->res.dry_run ? " (dry run)" : "");
	csms_ensure_auth(p->client, on_auth_ready, p);
	return 0;
}

/* --- life cycle ----------------------------------------------------------- */

int pass_start(struct csms *client, const struct config *cfg, unsigned number, bool dry_run,
               pass_done_t done, void *userdata, struct pass **ret)
{
	struct pass *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->client = client;
	p->cfg = cfg;
	p->done = done;
	p->userdata = userdata;
	p->res.number = number;
	p->res.dry_run = dry_run;
	p->started = now_monotonic_usec();
	snprintf(p->pass_str, sizeof(p->pass_str), "%u", number);
	r = sd_event_add_defer(csms_get_event(client), &p->defer, on_start, p);
	if (r < 0) {
		free(p);
		return r;
	}
	p->running = true;
	*ret = p;
	return 0;
}

void pass_abort(struct pass *p, const char *why)
{
	if (!p || !p->running)
		return;
	p->res.outcome = PASS_ABORTED;
	p->res.failure[0] = '\0';
	set_failure(p, "aborted: %s", why);
	finish(p);
}

void pass_save_plan(struct pass *p, const char *path)
{
	p->save_path = path;
}

void pass_restrict(struct pass *p, const struct saved_plan *sp, const char *plan_path)
{
	p->only = sp;
	p->only_path = plan_path;
}

bool pass_running(const struct pass *p)
{
	return p && p->running;
}

void pass_free(struct pass *p)
{
	if (!p)
		return;
	if (p->running)
		release(p);
	plan_clear(&p->plan);
	metrics_tally_clear(&p->res.deleted_by_rule);
	free(p->state);
	free(p->groups);
	free(p->item_refs);
	free(p->group_refs);
	free(p);
}
