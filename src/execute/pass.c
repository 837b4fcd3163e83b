/* pass.c - one reconcile pass: the state machine (pass.h).
 *
 * Every asynchronous registration of a pass -- the start-up defer source,
 * the credential wait, the resolution, the observation, the executor and
 * every CSMS call -- is owned by the pass (csms owner token: the pass or
 * its parts) and dropped by release(), which every ending goes through:
 * finish() (done, failed, held, aborted by a timeout, a signal or a
 * reload) and pass_free().
 */
#include "pass.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "execute.h"
#include "grace.h"
#include "ledger.h"
#include "log.h"
#include "observe.h"
#include "plan.h"
#include "planfile.h"
#include "policy.h"
#include "records.h"
#include "resolve.h"
#include "util.h"
#include "values.h"

struct pass {
	struct csms *client;
	const struct config *cfg;
	struct pass_options opt;
	pass_done_t done;
	void *userdata;
	sd_event_source *defer;
	bool running;
	bool listing_complete;
	uint64_t started;
	struct record_ctx rec;

	struct resolve *resolve;        /* settling earlier intents */
	struct observe *observe;        /* the observation in progress */
	bool via_list;                  /* observed with ListSecrets */

	struct plan plan;
	struct grace_clocks kept_before;        /* exemptions' tags at the last pass */
	uint64_t previous_usec;                 /* when the last pass stored clocks */
	struct execute *execute;
	struct pass_result res;
};

#define set_failure(p, ...) set_first_reason((p)->res.failure, sizeof((p)->res.failure), __VA_ARGS__)

/* --- ending: the one path ------------------------------------------------- */

/* Drop every registration the pass holds. */
static void release(struct pass *p)
{
	p->defer = sd_event_source_disable_unref(p->defer);
	resolve_free(p->resolve);
	p->resolve = NULL;
	observe_free(p->observe);
	p->observe = NULL;
	/* Requests in flight finish without callbacks; their intents stay
	 * pending in the ledger and are resolved by a later pass. */
	execute_free(p->execute);
	p->execute = NULL;
	csms_cancel(p->client, p);
}

/* The fates of the planned tags, as monitoring publishes them (counts.h).
 * A dry run sends no DELETE: its deletions are would_delete only. */
static void count_fates(struct pass_result *r)
{
	r->counts.deleted = r->dry_run ? 0 : r->deleted;
	r->counts.would_delete = r->dry_run ? r->deleted : 0;
	r->counts.kept = r->kept_changed;
	r->counts.failed = r->delete_failed + r->still_present;
	r->counts.held = r->limit_exceeded ? r->counts.planned : 0;
}

static void finish(struct pass *p)
{
	struct pass_result *r = &p->res;

	if (!p->running)
		return;
	p->running = false;
	execute_tally(p->execute, &r->deleted_by_rule);
	release(p);
	r->duration_usec = now_monotonic_usec() - p->started;
	if (r->outcome != PASS_FAILED && r->outcome != PASS_ABORTED) {
		if (r->delete_failed || r->skipped_incomplete || r->limit_exceeded || r->still_present ||
		    r->store_failed)
			r->outcome = PASS_PARTIAL;
		else if (r->deleted)
			r->outcome = PASS_CHANGED;
		else
			r->outcome = PASS_CONVERGED;
	}
	count_fates(r);
	log_event(r->outcome == PASS_FAILED ? LOG_ERR :
	          r->outcome == PASS_PARTIAL || r->outcome == PASS_ABORTED ? LOG_WARNING : LOG_INFO,
	          r->outcome == PASS_FAILED || r->outcome == PASS_ABORTED ? MID_PASS_FAILED : MID_PASS_FINISHED,
	          LOG_FIELDS({ "DRY_RUN", r->dry_run ? "1" : "0" },
	                     { "CSMS_OUTCOME", pass_outcome_to_string(r->outcome) },
	                     RECORD_TARGET_FIELDS(&p->cfg->csms)),
	          "Pass %u %s: %zu secrets (%" PRIu64 " governed), %" PRIu64 " planned, %zu %s, %zu still present, "
	          "%zu already gone, %zu kept, %zu failed%s%s",
	          r->number, pass_outcome_to_string(r->outcome), r->secrets, r->counts.governed_secrets, r->counts.planned,
	          r->deleted, r->dry_run ? "would be deleted" : "deleted", r->still_present,
	          r->already_gone, r->kept_changed, r->delete_failed, r->failure[0] ? "; " : "", r->failure);
	if (p->opt.ledger && ledger_pass_end(p->opt.ledger, p->opt.pass_id, now_realtime_usec(),
	                                     pass_outcome_to_string(r->outcome), p->listing_complete) < 0)
		log_debug("Pass %u: cannot record its end in %s", r->number, ledger_path(p->opt.ledger));
	if (r->counts.waiting || r->counts.exempted || r->counts.required_missing || r->counts.required_invalid)
		log_event(LOG_INFO, NULL, NULL, 0,
		          "Pass %u also found: %" PRIu64 " deletions waiting for their grace period, %" PRIu64
		          " tags kept by exemptions, %" PRIu64 " required tags missing, %" PRIu64
		          " with a value not allowed", r->number, r->counts.waiting, r->counts.exempted,
		          r->counts.required_missing, r->counts.required_invalid);
	/* Last action: DONE may free the pass. */
	p->done(r, p->userdata);
}

static void fail_pass(struct pass *p)
{
	p->res.outcome = PASS_FAILED;
	finish(p);
}

/* --- plan ----------------------------------------------------------------- */

#define log_grace(p, level, ...) \
	log_event(level, MID_GRACE_STATE, LOG_FIELDS({ RECORD_LEDGER_PATH, ledger_path((p)->opt.ledger) }), \
	          __VA_ARGS__)

/* The stored clocks, as far as they can be trusted now (grace.h).
 * Problems are logged here, once. */
static void load_clocks(struct pass *p, const struct grace_stamp *now, struct grace_clocks *clocks)
{
	struct grace_stamp then;
	char span[32];
	size_t future = 0;
	uint64_t step;
	int r;

	r = ledger_clocks_load(p->opt.ledger, now->realtime_usec, clocks, &p->kept_before, &future, &then);
	if (r < 0) {
		log_grace(p, LOG_WARNING, "Grace clocks in %s: %s; every grace period starts again now",
		          ledger_path(p->opt.ledger), r == -ESTALE ? "an earlier pass could not store them" :
		          ledger_error(p->opt.ledger)[0] ? ledger_error(p->opt.ledger) : strerror(-r));
		return;
	}
	p->previous_usec = then.realtime_usec;
	if (!config_uses_grace(p->cfg))
		return;
	switch (grace_trust(&then, now, grace_max_gap(p->cfg), &step)) {
	case GRACE_RESTART:
		grace_clocks_clear(clocks);
		log_grace(p, LOG_WARNING, "No pass watched the tags since %s (longer than %s): every grace "
		          "period starts again now", format_utc_time(span, sizeof(span), then.realtime_usec),
		          format_timespan((char[32]) {}, 32, grace_max_gap(p->cfg)));
		break;
	case GRACE_SHIFT:
		grace_clocks_shift(clocks, step, now->realtime_usec);
		log_grace(p, LOG_WARNING, "The system clock stepped forward by %s since the last pass: grace "
		          "clocks move forward by as much", format_timespan(span, sizeof(span), step));
		break;
	case GRACE_KEEP:
		break;
	}
	if (future > 0)
		log_grace(p, LOG_WARNING, "%zu grace clocks started in the future (did the system clock go "
		          "back?); they start again now", future);
}

/* What this pass reports as governance findings: the tags exemptions
 * keep now and the requirement findings, each with the time first seen. */
static int add_reported(struct grace_clocks *ret, const struct grace_clocks *before,
                        const uint8_t d[GRACE_DIGEST_LEN], uint64_t now)
{
	uint64_t since = now;

	(void) grace_clocks_find(before, d, &since);
	return grace_clocks_add(ret, d, since);
}

static int kept_now(struct pass *p, uint64_t now, struct grace_clocks *ret)
{
	for (size_t i = 0; i < p->plan.n_exempted; i++) {
		const struct plan_item *it = &p->plan.exempted[i];
		uint8_t d[GRACE_DIGEST_LEN];
		int r;

		grace_digest(it->secret_id, it->key, it->value, d);
		r = add_reported(ret, &p->kept_before, d, now);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < p->plan.n_required; i++) {
		uint8_t d[GRACE_DIGEST_LEN];
		int r;

		record_requirement_digest(&p->plan.required[i], d);
		r = add_reported(ret, &p->kept_before, d, now);
		if (r < 0)
			return r;
	}
	grace_clocks_sort(ret);
	return 0;
}

/* Compute the plan with the ledger's clocks and store the new ones.  A
 * store that cannot be written makes the pass partial, judged as if every
 * clock started now, as the next pass would. */
static int compute_plan(struct pass *p, struct observation *obs)
{
	struct grace_clocks clocks = {}, kept = {};
	struct grace_stamp now;
	struct plan_time t;
	int r;

	grace_stamp_now(&now);
	t = (struct plan_time) { .now_usec = now.realtime_usec, .clocks = &clocks };
	if (!p->opt.ledger)
		return plan_compute(p->cfg, obs, &t, &p->plan);
	load_clocks(p, &now, &clocks);
	r = plan_compute(p->cfg, obs, &t, &p->plan);
	grace_clocks_clear(&clocks);
	if (r >= 0)
		r = kept_now(p, now.realtime_usec, &kept);
	if (r < 0) {
		grace_clocks_clear(&kept);
		return r;
	}
	r = ledger_clocks_save(p->opt.ledger, &p->plan.clocks, &kept, &now);
	grace_clocks_clear(&kept);
	if (r >= 0)
		return 0;
	p->res.store_failed = true;
	set_failure(p, "cannot store the grace clocks in %s: %s", ledger_path(p->opt.ledger), strerror(-r));
	log_grace(p, LOG_ERR, "Cannot store the grace clocks in %s: %s; every grace period starts again now",
	          ledger_path(p->opt.ledger), ledger_error(p->opt.ledger));
	if (!config_uses_grace(p->cfg))
		return 0;
	plan_clear(&p->plan);
	t.clocks = NULL;
	return plan_compute(p->cfg, obs, &t, &p->plan);
}

/* A listing that failed restarts every clock: the tags were not watched. */
static void restart_clocks(struct pass *p)
{
	struct grace_stamp now;

	if (!p->opt.ledger || !config_uses_grace(p->cfg) || p->opt.dry_run)
		return;
	grace_stamp_now(&now);
	if (ledger_clocks_save(p->opt.ledger, NULL, NULL, &now) >= 0)
		log_grace(p, LOG_NOTICE, "Pass %u could not list the project: every grace period starts again",
		          p->res.number);
}

/* The deletion limit, over the worst case (plan_worst_case()). */
static bool held_by_limit(struct pass *p)
{
	unsigned limit = p->cfg->daemon.max_deletes_per_pass;
	/* With a saved plan, unread secrets can add nothing to the plan. */
	size_t unread = p->opt.only ? 0 : p->plan.n_incomplete;
	size_t worst = p->opt.only ? p->plan.n : plan_worst_case(&p->plan);
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
	          LOG_FIELDS({ "CSMS_PLANNED", planned_s },
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

static void skip_saved(struct pass *p, const struct saved_item *it, const char *reason, const char *why)
{
	p->res.plan_skipped++;
	record_plan_skip(&p->rec, it, reason, why);
}

/* --apply-plan: narrow the fresh plan to the saved items and say, for each
 * saved item left out, why (from the observation OBS). */
static int restrict_plan(struct pass *p, const struct observation *obs)
{
	const struct saved_plan *sp = p->opt.only;
	_cleanup_free_ bool *matched = calloc(sp->n ? sp->n : 1, sizeof(bool));
	struct intersect x = { sp, matched };

	if (!matched)
		return -ENOMEM;
	p->res.plan_excluded = plan_retain(&p->plan, in_saved_plan, &x);
	if (p->res.plan_excluded)
		log_notice("Pass %u: %zu deletions the configuration asks for are not in plan %s: not deleted",
		           p->res.number, p->res.plan_excluded, p->opt.only_path);
	for (size_t i = 0; i < sp->n; i++) {
		const struct saved_item *it = &sp->items[i];
		const struct secret *s;
		const struct tag *t;

		if (matched[i])
			continue;
		s = observation_find_id(obs, it->secret_id);
		t = s ? tag_list_find(&s->tags, it->key) : NULL;
		if (!s)
			skip_saved(p, it, "secret-gone", "the secret no longer exists");
		else if (!s->tags_complete)
			skip_saved(p, it, "not-read", "the secret's tags could not be read");
		else if (!t)
			skip_saved(p, it, "tag-gone", "the tag is gone");
		else if (strcmp(t->value, it->value) != 0)
			skip_saved(p, it, "value-changed", "its value changed after the plan was reviewed");
		else
			skip_saved(p, it, "kept-by-config",
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
		r = saved_plan_write(p->opt.save_plan, &p->plan, p->cfg->csms.project_id, digest,
		                     now_realtime_usec());
	if (r < 0) {
		set_failure(p, "cannot save the plan to %s: %s", p->opt.save_plan, strerror(-r));
		return r;
	}
	snprintf(count, sizeof(count), "%zu", p->plan.n);
	log_event(LOG_NOTICE, MID_PLAN_SAVED,
	          LOG_FIELDS({ "CSMS_PLAN_FILE", p->opt.save_plan }, { "CSMS_PLANNED", count },
	                     { "CSMS_CONFIG_SHA256", digest }),
	          "Plan with %zu deletions saved to %s", p->plan.n, p->opt.save_plan);
	return 0;
}

static void on_executed(void *userdata)
{
	finish(userdata);
}

static void execute_plan(struct pass *p)
{
	struct execute_ctx c = {
		.client = p->client, .cfg = p->cfg, .plan = &p->plan, .ledger = p->opt.ledger,
		.pass_id = p->opt.pass_id, .only = p->opt.only, .rec = p->rec, .via_list = p->via_list,
		.number = p->res.number,
	};

	if (!p->opt.ledger) {
		set_failure(p, "no deletion ledger: nothing deleted");
		fail_pass(p);
		return;
	}
	if (execute_new(&c, &p->res, &p->execute) < 0) {
		set_failure(p, "out of memory");
		fail_pass(p);
		return;
	}
	execute_run(p->execute, on_executed, p);
}

/* Plan from OBS and act on the plan.  OBS is cleared as soon as the plan
 * is made: the plan copies what it needs, and at 10,000 secrets the
 * observation is most of the daemon's memory. */
static void plan_and_act(struct pass *p, struct observation *obs)
{
	struct pass_result *r = &p->res;
	int k = compute_plan(p, obs);

	if (k >= 0 && p->opt.only)
		k = restrict_plan(p, obs);
	observation_clear(obs);
	if (k < 0) {
		set_failure(p, "out of memory");
		fail_pass(p);
		return;
	}
	if (p->opt.save_plan && save_plan(p) < 0) {
		log_event(LOG_ERR, MID_PASS_FAILED, NULL, 0,
		          "Pass %u: %s", p->res.number, p->res.failure);
		fail_pass(p);
		return;
	}
	r->secrets = p->plan.n_secrets;
	r->counts.governed_secrets = p->plan.n_governed;
	r->skipped_pending_delete = p->plan.n_pending_delete;
	r->skipped_incomplete = p->plan.n_incomplete;
	r->counts.planned = p->plan.n;
	r->counts.waiting = p->plan.n_waiting;
	r->counts.exempted = p->plan.n_exempted;
	r->counts.noncompliant_tags = p->plan.n + p->plan.n_waiting + p->plan.n_exempted;
	r->counts.exemptions_unused = p->plan.n_unused;
	r->counts.required_missing = p->plan.n_required_missing;
	r->counts.required_invalid = p->plan.n_required_invalid;
	record_governance(&p->rec, &p->kept_before, p->previous_usec);
	if (r->skipped_incomplete)
		set_failure(p, "%zu governed secrets could not be read", r->skipped_incomplete);
	if (held_by_limit(p)) {
		finish(p);
		return;
	}
	if (r->dry_run) {
		for (size_t i = 0; i < p->plan.n; i++) {
			const struct plan_item *it = &p->plan.items[i];

			record_item(&p->rec, LOG_NOTICE, MID_TAG_WOULD_DELETE, it, NULL, 0, NULL,
			            "Would delete tag %s=%s from secret %s (%s) [dry run]",
			            it->key, it->value, it->secret_name, reason_to_string(it->reason));
		}
		r->deleted = p->plan.n;
		finish(p);
		return;
	}
	execute_plan(p);
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
			          LOG_FIELDS({ "HTTP_STATUS", "401" }),
			          "Pass %u: the API refused our credentials (%s); check the credential files "
			          "(with AK/SK, repeated signature failures lock the key for 5 minutes)",
			          p->res.number, p->res.failure);
		log_event(LOG_ERR, MID_PASS_FAILED, NULL, 0,
		          "Pass %u: observation failed, nothing deleted: %s", p->res.number, p->res.failure);
		restart_clocks(p);
		fail_pass(p);
		return;
	}
	p->listing_complete = true;
	obs = o->obs;
	o->obs = (struct observation) {};
	observe_free(p->observe);
	p->observe = NULL;
	plan_and_act(p, &obs);
}

static void on_resolved(size_t resolved, void *userdata)
{
	struct pass *p = userdata;
	int r;

	p->res.counts.resolved = resolved;
	r = observe_start(p->client, p->cfg->daemon.observe, p->cfg->daemon.max_parallel_requests,
	                  p->res.number, on_observed, p, &p->observe);
	if (r < 0) {
		set_failure(p, "cannot observe: %s", strerror(-r));
		fail_pass(p);
	}
}

static void on_auth_ready(int r, const char *error, void *userdata)
{
	struct pass *p = userdata;

	if (r < 0) {
		set_failure(p, "authentication failed: %s", error ? error : strerror(-r));
		log_event(LOG_ERR, MID_AUTH_FAILED, NULL, 0,
		          "Pass %u: authentication failed: %s", p->res.number, error ? error : strerror(-r));
		fail_pass(p);
		return;
	}
	/* Interrupted deletions first: they are settled before anything new
	 * is decided.  A dry run leaves them to the next real pass. */
	if (!p->opt.ledger || p->opt.dry_run) {
		on_resolved(0, p);
		return;
	}
	r = resolve_start(p->client, p->opt.ledger, on_resolved, p, &p->resolve);
	if (r < 0) {
		set_failure(p, "cannot resolve the ledger's pending deletions: %s", strerror(-r));
		fail_pass(p);
	}
}

static void start(struct pass *p);

static int on_start(sd_event_source *s, void *userdata)
{
	struct pass *p = userdata;
	const struct log_context *previous = log_push_context(p->opt.log_context);

	p->defer = sd_event_source_disable_unref(p->defer);
	start(p);
	log_pop_context(previous);
	return 0;
}

static void start(struct pass *p)
{
	log_event(LOG_INFO, MID_PASS_STARTED,
	          LOG_FIELDS({ "DRY_RUN", p->res.dry_run ? "1" : "0" },
	                     RECORD_TARGET_FIELDS(&p->cfg->csms)),
	          "Pass %u started%s", p->res.number, p->res.dry_run ? " (dry run)" : "");
	if (p->opt.ledger) {
		struct grace_stamp now;

		grace_stamp_now(&now);
		if (ledger_pass_begin(p->opt.ledger, &(struct ledger_pass) {
			.pass_id = (char *) p->opt.pass_id, .started_usec = now.realtime_usec,
			.started_boottime_usec = now.boottime_usec, .boot_id = now.boot_id }) < 0)
			log_debug("Pass %u: cannot record its start in %s", p->res.number,
			          ledger_path(p->opt.ledger));
	}
	csms_ensure_auth(p->client, on_auth_ready, p);
}

/* --- life cycle ----------------------------------------------------------- */

int pass_start(struct csms *client, const struct config *cfg, unsigned number,
               const struct pass_options *o, pass_done_t done, void *userdata, struct pass **ret)
{
	struct pass *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->client = client;
	p->cfg = cfg;
	p->opt = *o;
	if (!p->opt.pass_id)
		p->opt.pass_id = "";
	p->done = done;
	p->userdata = userdata;
	p->res.number = number;
	p->res.dry_run = o->dry_run;
	p->started = now_monotonic_usec();
	p->rec = (struct record_ctx) { .plan = &p->plan, .dry_run = o->dry_run,
	                               .plan_path = o->only_path, .target = &cfg->csms };
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
	grace_clocks_clear(&p->kept_before);
	free(p);
}
