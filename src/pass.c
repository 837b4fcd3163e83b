/* pass.c - one reconcile pass. */
#include "pass.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "log.h"
#include "plan.h"
#include "policy.h"
#include "util.h"

/* ListResourceInstances allows up to 1000 per page, but a page is parsed
 * into a jansson tree several times its size before it is copied out:
 * smaller pages, fetched in parallel, keep the peak memory of a pass over
 * 10,000 secrets near 22 MB instead of 30, and are no slower. */
#define RI_PAGE_LIMIT   250
#define LIST_PAGE_LIMIT 200

enum item_state {
	ITEM_PENDING,
	ITEM_DELETED,
	ITEM_GONE,              /* already absent: converged */
	ITEM_KEPT,              /* value corrected since observation */
	ITEM_SKIPPED,           /* could not be re-checked: not deleted */
	ITEM_FAILED,
};

/* Consecutive plan items of one secret. */
struct group {
	size_t first, last;     /* plan item range [first, last) */
	bool recheck;           /* holds a value-dependent deletion */
	bool changed;           /* a deletion was done */
};

/* Callback context for a per-secret or per-item request. */
struct ref {
	struct pass *pass;
	size_t index;
};

enum observe_purpose { OBSERVE_STATE, OBSERVE_VERIFY };

struct pass {
	struct csms *client;
	const struct config *cfg;
	pass_done_t done;
	void *userdata;
	sd_event_source *defer;
	bool running;
	uint64_t started;
	char pass_str[16];

	/* observation in progress */
	enum observe_purpose purpose;
	struct observation *target;     /* &obs or &verify_obs */
	bool via_list;                  /* ListSecrets + ListSecretTags */
	unsigned outstanding;
	bool observe_failed;
	bool auth_refused;              /* a 401 that a credential refresh did not cure */
	int64_t ri_total;
	size_t ri_page_size;
	char *list_marker;

	struct observation obs;
	struct observation verify_obs;
	struct plan plan;
	enum item_state *state;
	struct group *groups;
	size_t n_groups;
	struct ref *refs;
	struct pass_result res;
};

static void observe_start(struct pass *p, enum observe_purpose purpose, bool via_list);
static void plan_and_act(struct pass *p);
static void delete_start(struct pass *p);
static void verify_start(struct pass *p);
static void verify_finished(struct pass *p);
static void on_recheck(const struct csms_result *r, void *userdata);

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

static void set_failure(struct pass *p, const char *fmt, ...) _printf_(2, 3);
static void set_failure(struct pass *p, const char *fmt, ...)
{
	va_list ap;

	if (p->res.failure[0])
		return;         /* the first reason is the one worth reporting */
	va_start(ap, fmt);
	vsnprintf(p->res.failure, sizeof(p->res.failure), fmt, ap);
	va_end(ap);
}

static void note_result_failure(struct pass *p, const char *what, const struct csms_result *r)
{
	char buf[200];

	if (r->throttled)
		p->res.throttled = true;
	if (r->status == 401)
		p->auth_refused = true;
	set_failure(p, "%s: %s", what, csms_result_describe(r, buf, sizeof(buf)));
}

static bool ensure_refs(struct pass *p, size_t n)
{
	struct ref *refs = realloc(p->refs, (n ? n : 1) * sizeof(*refs));

	if (!refs)
		return false;
	p->refs = refs;
	for (size_t i = 0; i < n; i++)
		p->refs[i] = (struct ref) { p, i };
	return true;
}

/* --- finishing ------------------------------------------------------------ */

static void finish(struct pass *p)
{
	struct pass_result *r = &p->res;

	if (!p->running)
		return;
	p->running = false;
	r->duration_usec = now_monotonic_usec() - p->started;
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
	          "Pass %u %s: %zu secrets (%zu governed), %zu planned, %zu %s, %zu already gone, "
	          "%zu kept, %zu failed%s%s",
	          r->number, pass_outcome_to_string(r->outcome), r->secrets, r->governed, r->planned,
	          r->deleted, r->dry_run ? "would be deleted" : "deleted", r->already_gone,
	          r->kept_changed, r->delete_failed, r->failure[0] ? "; " : "", r->failure);
	/* Last action: DONE may free the pass. */
	p->done(r, p->userdata);
}

static void fail_pass(struct pass *p)
{
	p->res.outcome = PASS_FAILED;
	finish(p);
}

/* --- observation via ListResourceInstances ------------------------------- */

static int compare_secret_id(const void *a, const void *b)
{
	const struct secret *x = a, *y = b;

	return strcmp(x->id, y->id);
}

/* Sort by id and drop repeated ids (a list that moved while it was paged).
 * Returns how many were dropped. */
static size_t drop_duplicate_ids(struct observation *o)
{
	size_t w = 0, dropped = 0;

	if (o->n < 2)
		return 0;
	qsort(o->secrets, o->n, sizeof(o->secrets[0]), compare_secret_id);
	for (size_t i = 0; i < o->n; i++) {
		if (w > 0 && strcmp(o->secrets[w - 1].id, o->secrets[i].id) == 0) {
			secret_clear(&o->secrets[i]);
			dropped++;
			continue;
		}
		if (w != i)
			o->secrets[w] = o->secrets[i];
		w++;
	}
	o->n = w;
	return dropped;
}

static void observe_finished(struct pass *p)
{
	if (p->purpose == OBSERVE_VERIFY) {
		verify_finished(p);
		return;
	}
	if (p->observe_failed && p->auth_refused)
		log_event(LOG_ERR, MID_AUTH_FAILED, LOG_FIELDS({ "CSMS_PASS", p->pass_str }, { "HTTP_STATUS", "401" }),
		          "Pass %u: the API refused our credentials (%s); check the credential files "
		          "(with AK/SK, repeated signature failures lock the key for 5 minutes)",
		          p->res.number, p->res.failure);
	if (p->observe_failed) {
		log_event(LOG_ERR, MID_PASS_FAILED, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
		          "Pass %u: observation failed, nothing deleted: %s", p->res.number, p->res.failure);
		fail_pass(p);
		return;
	}
	p->res.observed_by = p->via_list ? "ListSecrets" : "ListResourceInstances";
	plan_and_act(p);
}

static void ri_finished(struct pass *p)
{
	size_t dups = 0;

	if (!p->observe_failed) {
		dups = drop_duplicate_ids(p->target);
		if (dups || p->ri_total < 0 || (uint64_t) p->ri_total != p->target->n) {
			p->observe_failed = true;
			log_warning("Pass %u: ListResourceInstances is inconsistent: total_count %" PRId64
			            ", %zu distinct secrets read, %zu repeated",
			            p->res.number, p->ri_total, p->target->n, dups);
			set_failure(p, "ListResourceInstances inconsistent (total_count %" PRId64 ", read %zu)",
			            p->ri_total, p->target->n);
		}
	}
	/* Fall back to the per-secret APIs when ListResourceInstances is
	 * refused or inconsistent, starting from nothing: a partial first
	 * observation must not be mixed into the second.  Not after a 429
	 * (more requests would make it worse) nor a 401 (with AK/SK every
	 * further bad signature counts towards the key's lockout). */
	if (p->observe_failed && p->purpose == OBSERVE_STATE &&
	    p->cfg->daemon.observe == OBSERVE_AUTO && !p->res.throttled && !p->auth_refused) {
		log_notice("Pass %u: falling back to ListSecrets + ListSecretTags", p->res.number);
		p->res.failure[0] = '\0';
		observe_start(p, p->purpose, true);
		return;
	}
	observe_finished(p);
}

static void on_ri_page(const struct csms_result *r, void *userdata);

static void ri_request(struct pass *p, size_t offset)
{
	p->outstanding++;
	csms_list_resource_instances(p->client, (unsigned) offset, RI_PAGE_LIMIT, on_ri_page, p);
}

static void on_ri_page(const struct csms_result *r, void *userdata)
{
	struct pass *p = userdata;
	bool first = p->ri_total < 0;
	_cleanup_free_ char *error = NULL;
	int64_t total = -1;
	size_t n = 0;

	p->outstanding--;
	if (r->r < 0) {
		p->observe_failed = true;
		note_result_failure(p, "ListResourceInstances", r);
	} else if (decode_resource_instances(r->body, r->body_len, p->target, &total, &n, &error) < 0) {
		p->observe_failed = true;
		log_warning("Pass %u: unreadable ListResourceInstances answer (request %s): %s",
		            p->res.number, r->request_id ? r->request_id : "-", error ? error : "out of memory");
		set_failure(p, "unreadable ListResourceInstances answer");
	} else if (first) {
		p->ri_total = total;
		p->ri_page_size = n;
		/* The server may cap the page below what we asked for: page by
		 * what it actually returned. */
		if (n > 0)
			for (int64_t off = (int64_t) n; off < total; off += (int64_t) n)
				ri_request(p, (size_t) off);
	} else if (total != p->ri_total) {
		p->observe_failed = true;
		set_failure(p, "ListResourceInstances total_count changed during the pass");
	}
	if (p->outstanding == 0)
		ri_finished(p);
}

/* --- observation via ListSecrets + ListSecretTags ------------------------ */

static void on_secret_tags(const struct csms_result *r, void *userdata)
{
	struct ref *ref = userdata;
	struct pass *p = ref->pass;
	struct secret *s = &p->target->secrets[ref->index];
	_cleanup_free_ char *error = NULL;

	p->outstanding--;
	if (r->r < 0) {
		/* Not read completely: skipped, never treated as untagged. */
		s->tags_complete = false;
		note_result_failure(p, "ListSecretTags", r);
	} else if (decode_secret_tags(r->body, r->body_len, &s->tags, &s->sys_tags, &error) < 0) {
		s->tags_complete = false;
		log_warning("Pass %u: unreadable ListSecretTags answer for %s: %s", p->res.number,
		            s->name, error ? error : "out of memory");
		set_failure(p, "unreadable ListSecretTags answer");
	} else
		s->tags_complete = true;
	if (p->outstanding == 0)
		observe_finished(p);
}

static void list_tags_start(struct pass *p)
{
	struct observation *o = p->target;

	(void) drop_duplicate_ids(o);
	if (o->n == 0) {
		observe_finished(p);
		return;
	}
	if (!ensure_refs(p, o->n)) {
		set_failure(p, "out of memory");
		p->observe_failed = true;
		observe_finished(p);
		return;
	}
	p->outstanding = (unsigned) o->n;
	for (size_t i = 0; i < o->n; i++)
		csms_list_secret_tags(p->client, o->secrets[i].id, on_secret_tags, &p->refs[i]);
}

static void list_page_request(struct pass *p);

static void on_list_page(const struct csms_result *r, void *userdata)
{
	struct pass *p = userdata;
	_cleanup_free_ char *error = NULL, *last = NULL;
	size_t n = 0;

	p->outstanding--;
	if (r->r < 0) {
		p->observe_failed = true;
		note_result_failure(p, "ListSecrets", r);
		observe_finished(p);
		return;
	}
	if (decode_list_secrets(r->body, r->body_len, p->target, &n, &last, &error) < 0) {
		p->observe_failed = true;
		log_warning("Pass %u: unreadable ListSecrets answer (request %s): %s", p->res.number,
		            r->request_id ? r->request_id : "-", error ? error : "out of memory");
		set_failure(p, "unreadable ListSecrets answer");
		observe_finished(p);
		return;
	}
	/* The marker is the last name of a page; an empty page ends the list.
	 * A marker that does not advance would loop forever: stop there. */
	if (n == 0 || !last || (p->list_marker && strcmp(last, p->list_marker) <= 0)) {
		list_tags_start(p);
		return;
	}
	free(p->list_marker);
	p->list_marker = last;
	last = NULL;
	list_page_request(p);
}

static void list_page_request(struct pass *p)
{
	p->outstanding++;
	csms_list_secrets(p->client, p->list_marker, LIST_PAGE_LIMIT, on_list_page, p);
}

static void observe_start(struct pass *p, enum observe_purpose purpose, bool via_list)
{
	p->purpose = purpose;
	p->target = purpose == OBSERVE_STATE ? &p->obs : &p->verify_obs;
	observation_clear(p->target);
	p->via_list = via_list;
	p->observe_failed = false;
	p->outstanding = 0;
	p->ri_total = -1;
	free(p->list_marker);
	p->list_marker = NULL;
	if (via_list)
		list_page_request(p);
	else
		ri_request(p, 0);
}

/* --- plan ----------------------------------------------------------------- */

static const char *rule_ref(struct pass *p, const struct plan_item *it, char *buf, size_t size)
{
	return plan_item_rule_ref(&p->plan, it, buf, size);
}

static void log_item(struct pass *p, int level, const char *mid, const struct plan_item *it,
                     const struct csms_result *r, const char *fmt, ...) _printf_(6, 7);
static void log_item(struct pass *p, int level, const char *mid, const struct plan_item *it,
                     const struct csms_result *r, const char *fmt, ...)
{
	char ref[300], status[16] = "";
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (r && r->status)
		snprintf(status, sizeof(status), "%ld", r->status);
	log_event(level, mid,
	          LOG_FIELDS({ "CSMS_SECRET_ID", it->secret_id },
	                     { "CSMS_SECRET_NAME", it->secret_name },
	                     { "CSMS_TAG_KEY", it->key },
	                     { "CSMS_TAG_VALUE", it->value },
	                     { "CSMS_RULE", rule_ref(p, it, ref, sizeof(ref)) },
	                     { "CSMS_REASON", reason_to_string(it->reason) },
	                     { "CSMS_PASS", p->pass_str },
	                     { "DRY_RUN", p->res.dry_run ? "1" : "0" },
	                     { "CSMS_REQUEST_ID", r ? r->request_id : NULL },
	                     { "HTTP_STATUS", status[0] ? status : NULL },
	                     { "CSMS_ERROR_CODE", r ? r->error_code : NULL }),
	          "%s", text ? text : "?");
}

static bool build_groups(struct pass *p)
{
	struct plan *pl = &p->plan;

	p->state = calloc(pl->n ? pl->n : 1, sizeof(*p->state));
	p->groups = calloc(pl->n ? pl->n : 1, sizeof(*p->groups));
	if (!p->state || !p->groups)
		return false;
	for (size_t i = 0; i < pl->n; i++) {
		struct group *g;

		if (p->n_groups == 0 || strcmp(pl->items[i].secret_id,
		                               pl->items[p->groups[p->n_groups - 1].first].secret_id) != 0)
			p->groups[p->n_groups++] = (struct group) { .first = i, .last = i };
		g = &p->groups[p->n_groups - 1];
		g->last = i + 1;
		if (reason_depends_on_value(pl->items[i].reason))
			g->recheck = true;
	}
	return true;
}

static void plan_and_act(struct pass *p)
{
	struct pass_result *r = &p->res;

	if (plan_compute(p->cfg, &p->obs, &p->plan) < 0 || !build_groups(p)) {
		set_failure(p, "out of memory");
		fail_pass(p);
		return;
	}
	/* The plan holds copies of all it needs; at 10,000 secrets the
	 * observation is most of the daemon's memory, so let it go now. */
	observation_clear(&p->obs);
	r->secrets = p->plan.n_secrets;
	r->governed = p->plan.n_governed;
	r->skipped_pending_delete = p->plan.n_pending_delete;
	r->skipped_incomplete = p->plan.n_incomplete;
	r->planned = p->plan.n;
	if (r->skipped_incomplete)
		set_failure(p, "%zu governed secrets could not be read", r->skipped_incomplete);

	if (p->plan.n > p->cfg->daemon.max_deletes_per_pass) {
		char limit[16], planned[16];

		snprintf(limit, sizeof(limit), "%u", p->cfg->daemon.max_deletes_per_pass);
		snprintf(planned, sizeof(planned), "%zu", p->plan.n);
		r->limit_exceeded = true;
		p->res.failure[0] = '\0';
		set_failure(p, "%zu deletions planned, over the limit of %u: nothing deleted",
		            p->plan.n, p->cfg->daemon.max_deletes_per_pass);
		log_event(LOG_WARNING, MID_DELETE_LIMIT,
		          LOG_FIELDS({ "CSMS_PASS", p->pass_str }, { "CSMS_PLANNED", planned },
		                     { "CSMS_LIMIT", limit }),
		          "Pass %u: %zu deletions planned, more than max_deletes_per_pass=%u; "
		          "nothing deleted (check the config or raise the limit)",
		          r->number, p->plan.n, p->cfg->daemon.max_deletes_per_pass);
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
	if (p->plan.n == 0) {
		finish(p);
		return;
	}
	/* Re-check value-dependent deletions against a fresh read. */
	if (!ensure_refs(p, p->n_groups)) {
		set_failure(p, "out of memory");
		fail_pass(p);
		return;
	}
	p->outstanding = 0;
	for (size_t g = 0; g < p->n_groups; g++)
		if (p->groups[g].recheck)
			p->outstanding++;
	if (p->outstanding == 0) {
		delete_start(p);
		return;
	}
	for (size_t g = 0; g < p->n_groups; g++)
		if (p->groups[g].recheck)
			csms_list_secret_tags(p->client, p->plan.items[p->groups[g].first].secret_id,
			                      on_recheck, &p->refs[g]);
}

/* --- re-check ------------------------------------------------------------- */

/* Decide again on the tags just read.  Keeps the item pending only when the
 * fresh value is still unwanted. */
static void recheck_group(struct pass *p, const struct group *g, const struct tag_list *tags,
                          const struct tag_list *sys_tags)
{
	for (size_t i = g->first; i < g->last; i++) {
		struct plan_item *it = &p->plan.items[i];
		const struct tag *now;
		struct secret view;
		struct decision d;

		if (!reason_depends_on_value(it->reason))
			continue;
		now = tag_list_find(tags, it->key);
		if (!now) {
			p->state[i] = ITEM_GONE;
			p->res.already_gone++;
			log_item(p, LOG_INFO, MID_TAG_ALREADY_GONE, it, NULL,
			         "Tag %s is already gone from secret %s", it->key, it->secret_name);
			continue;
		}
		view = (struct secret) {
			.id = it->secret_id, .name = it->secret_name, .state = (char *) "",
			.tags = *tags, .sys_tags = *sys_tags, .tags_complete = true,
		};
		d = policy_decide(p->cfg, config_section_for(p->cfg, it->secret_name), &view, now);
		if (!d.delete) {
			p->state[i] = ITEM_KEPT;
			p->res.kept_changed++;
			log_item(p, LOG_NOTICE, MID_TAG_KEPT_CHANGED, it, NULL,
			         "Kept tag %s on secret %s: its value changed to an allowed one since it was observed",
			         it->key, it->secret_name);
			continue;
		}
		if (strcmp(now->value, it->value) != 0) {
			char *v = strdup(now->value);

			if (!v) {
				p->state[i] = ITEM_SKIPPED;
				continue;
			}
			free(it->value);
			it->value = v;
		}
	}
}

static void on_recheck(const struct csms_result *r, void *userdata)
{
	struct ref *ref = userdata;
	struct pass *p = ref->pass;
	const struct group *g = &p->groups[ref->index];
	struct tag_list tags = {}, sys_tags = {};
	_cleanup_free_ char *error = NULL;

	p->outstanding--;
	if (r->r == 0 && decode_secret_tags(r->body, r->body_len, &tags, &sys_tags, &error) == 0)
		recheck_group(p, g, &tags, &sys_tags);
	else {
		/* Could not confirm the value: keep the tag this pass. */
		if (r->r < 0)
			note_result_failure(p, "ListSecretTags (re-check)", r);
		else
			set_failure(p, "unreadable ListSecretTags answer (re-check)");
		for (size_t i = g->first; i < g->last; i++)
			if (reason_depends_on_value(p->plan.items[i].reason)) {
				p->state[i] = ITEM_SKIPPED;
				p->res.delete_failed++;
			}
	}
	tag_list_clear(&tags);
	tag_list_clear(&sys_tags);
	if (p->outstanding == 0)
		delete_start(p);
}

/* --- delete --------------------------------------------------------------- */

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
	if (p->outstanding == 0)
		verify_start(p);
}

static void delete_start(struct pass *p)
{
	size_t n = 0;

	if (!ensure_refs(p, p->plan.n)) {
		set_failure(p, "out of memory");
		fail_pass(p);
		return;
	}
	for (size_t i = 0; i < p->plan.n; i++)
		n += p->state[i] == ITEM_PENDING;
	if (n == 0) {
		finish(p);
		return;
	}
	p->outstanding = (unsigned) n;
	for (size_t i = 0; i < p->plan.n; i++)
		if (p->state[i] == ITEM_PENDING)
			csms_delete_secret_tag(p->client, p->plan.items[i].secret_id, p->plan.items[i].key,
			                       p->plan.items[i].value, on_delete, &p->refs[i]);
}

/* --- verify --------------------------------------------------------------- */

static void report_still_present(struct pass *p, const struct group *g, const struct tag_list *tags)
{
	for (size_t i = g->first; i < g->last; i++) {
		const struct plan_item *it = &p->plan.items[i];

		if (p->state[i] != ITEM_DELETED || !tag_list_find(tags, it->key))
			continue;
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
	struct tag_list tags = {}, sys_tags = {};

	p->outstanding--;
	if (r->r == 0 && decode_secret_tags(r->body, r->body_len, &tags, &sys_tags, NULL) == 0)
		report_still_present(p, &p->groups[ref->index], &tags);
	else
		log_warning("Pass %u: could not verify secret %s after deleting", p->res.number,
		            p->plan.items[p->groups[ref->index].first].secret_name);
	tag_list_clear(&tags);
	tag_list_clear(&sys_tags);
	if (p->outstanding == 0)
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
		observe_start(p, OBSERVE_VERIFY, false);
		return;
	}
	if (!ensure_refs(p, p->n_groups)) {
		finish(p);
		return;
	}
	p->outstanding = (unsigned) changed;
	for (size_t g = 0; g < p->n_groups; g++)
		if (p->groups[g].changed)
			csms_list_secret_tags(p->client, p->plan.items[p->groups[g].first].secret_id,
			                      on_verify_tags, &p->refs[g]);
}

static void verify_finished(struct pass *p)
{
	if (p->observe_failed) {
		log_warning("Pass %u: could not list again to verify the deletions", p->res.number);
		finish(p);
		return;
	}
	for (size_t g = 0; g < p->n_groups; g++) {
		const struct secret *s;

		if (!p->groups[g].changed)
			continue;
		s = observation_find_id(&p->verify_obs, p->plan.items[p->groups[g].first].secret_id);
		if (s)
			report_still_present(p, &p->groups[g], &s->tags);
	}
	finish(p);
}

/* --- life cycle ----------------------------------------------------------- */

static void on_auth_ready(int r, const char *error, void *userdata)
{
	struct pass *p = userdata;

	if (!p->running)
		return;
	if (r < 0) {
		set_failure(p, "authentication failed: %s", error ? error : strerror(-r));
		log_event(LOG_ERR, MID_AUTH_FAILED, LOG_FIELDS({ "CSMS_PASS", p->pass_str }),
		          "Pass %u: authentication failed: %s", p->res.number, error ? error : strerror(-r));
		fail_pass(p);
		return;
	}
	observe_start(p, OBSERVE_STATE, p->cfg->daemon.observe == OBSERVE_LIST_SECRETS);
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
	p->ri_total = -1;
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
	p->defer = sd_event_source_disable_unref(p->defer);
	csms_cancel_all(p->client);
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
	sd_event_source_disable_unref(p->defer);
	observation_clear(&p->obs);
	observation_clear(&p->verify_obs);
	plan_clear(&p->plan);
	free(p->state);
	free(p->groups);
	free(p->refs);
	free(p->list_marker);
	free(p);
}
