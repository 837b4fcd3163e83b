/* org.c - the targets one process governs, their shared parts and the
 * scheduler of their passes (org.h). */
#include "org.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "csms.h"
#include "http.h"
#include "ledger.h"
#include "strtable.h"
#include "util.h"

/* An account: its lane in the pool and its credentials, shared by its
 * targets.  ID NULL: the base identity's own account. */
struct org_account {
	char *id;
	struct http_lane *lane;
	struct auth *auth;
	struct org_account *next;
};

struct org {
	struct manager *manager;
	const struct config *cfg;
	struct org_options opt;
	struct http *http;
	struct auth *base;              /* the base identity every account's agency is assumed with */
	struct org_account *accounts;
	struct org_target **targets;
	size_t n_targets, cap_targets;
	struct org_target *queue_head, *queue_tail;
	size_t n_queued, n_running;
	uint64_t pass_counter;          /* pass ids unique across targets */
	bool hold;                      /* org_hold() */
	sd_event_source *kick;          /* starts queued passes from the loop */
};

static const char *const target_state_table[_TARGET_STATE_MAX] = {
	[TARGET_PENDING] = "pending",
	[TARGET_CONVERGED] = "converged",
	[TARGET_CHANGED] = "changed",
	[TARGET_PARTIAL] = "partial",
	[TARGET_HELD] = "held",
	[TARGET_FAILING] = "failing",
};

STRING_TABLE_TO_STRING(target_state, enum target_state, "unknown")

enum target_state target_state_of(const struct pass_result *r)
{
	if (r->limit_exceeded)
		return TARGET_HELD;
	switch (r->outcome) {
	case PASS_CONVERGED:
		return TARGET_CONVERGED;
	case PASS_CHANGED:
		return TARGET_CHANGED;
	case PASS_PARTIAL:
		return TARGET_PARTIAL;
	default:
		return TARGET_FAILING;
	}
}

/* --- accounts ----------------------------------------------------------------- */

static void account_free(struct org *o, struct org_account *a)
{
	if (!a)
		return;
	if (a->auth != o->base)
		auth_free(a->auth);
	http_lane_free(a->lane);
	free(a->id);
	free(a);
}

/* A config view of ACCOUNT_ID (NULL: the base identity's) in REGION
 * without a project: what its credentials are made from.  They sign only
 * the project each request names (auth_set_global()). */
int org_account_view(struct org *o, const char *account_id, const char *region, struct config **ret)
{
	struct target t = {
		.name = (char *) "account",
		.account_id = (char *) account_id,
		.region = (char *) region,
		.project_id = (char *) ORG_NO_PROJECT,
	};

	return config_target_view(o->cfg, &t, ret);
}

/* A new account ID; its credentials from VIEW. */
static int account_new(struct org *o, const char *id, const struct config *view,
                       struct org_account **ret, char **error)
{
	struct org_account *a;
	int r;

	/* One base identity for all accounts: one ECS metadata fetch, one
	 * set of keys, however many agencies it assumes. */
	if (!o->base) {
		r = auth_new_base_identity(view, o->http, &o->base, error);
		if (r < 0)
			return r;
	}
	a = calloc(1, sizeof(*a));
	if (!a || (id && !(a->id = strdup(id)))) {
		free(a);
		return -ENOMEM;
	}
	r = http_lane_new(o->http, o->cfg->daemon.max_requests_per_second, &a->lane);
	if (r >= 0) {
		if (!id)
			a->auth = o->base;
		else if ((r = auth_new_with_base(view, o->http, o->base, &a->auth, error)) >= 0)
			auth_set_global(a->auth);
	}
	if (r < 0) {
		account_free(o, a);
		return r;
	}
	a->next = o->accounts;
	o->accounts = a;
	*ret = a;
	return 0;
}

int org_account_auth(struct org *o, const char *account_id, const char *region, struct auth **ret,
                     struct http_lane **ret_lane, char **error)
{
	struct org_account *a;
	struct config *view = NULL;
	int r;

	for (a = o->accounts; a; a = a->next)
		if (streq_ptr(a->id, account_id))
			break;
	if (!a) {
		r = org_account_view(o, account_id, region, &view);
		if (r >= 0)
			r = account_new(o, account_id, view, &a, error);
		config_free(view);
		if (r < 0)
			return r;
	}
	*ret = a->auth;
	if (ret_lane)
		*ret_lane = a->lane;
	return 0;
}

/* --- targets ------------------------------------------------------------------ */

static void target_free(struct org_target *t)
{
	if (!t)
		return;
	sd_event_source_disable_unref(t->timeout_timer);
	sd_event_source_disable_unref(t->timer);
	pass_free(t->pass);
	csms_free(t->client);
	ledger_close(t->ledger);
	monitor_clear(&t->mon);
	config_free(t->view);
	target_clear(&t->t);
	free(t);
}

static void on_call_failed(enum csms_api api, const struct csms_result *res, void *userdata)
{
	struct org_target *t = userdata;

	monitor_count_failure(&t->mon, api, res);
}

int org_add(struct org *o, const struct target *src, struct org_target **ret, char **error)
{
	struct http_lane *lane;
	struct org_target *t;
	struct auth *auth;
	int r;

	if (org_find(o, src->project_id))
		return -EEXIST;
	if (o->n_targets == o->cap_targets) {
		size_t cap = o->cap_targets ? o->cap_targets * 2 : 16;
		struct org_target **v = reallocarray(o->targets, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		o->targets = v;
		o->cap_targets = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->org = o;
	r = target_copy(src, &t->t);
	if (r >= 0)
		r = config_target_view(o->cfg, &t->t, &t->view);
	if (r < 0)
		goto fail;
	r = org_account_auth(o, t->t.account_id, t->t.region, &auth, &lane, error);
	if (r < 0)
		goto fail;
	r = csms_new_shared(manager_event(o->manager), t->view, o->http, lane, auth, &t->client, error);
	if (r < 0)
		goto fail;
	t->log = (struct log_context) {
		.pass_id = NULL,
		.target = t->t.name,
		.account = account_label(t->t.account_id, t->t.account_name),
		.region = t->t.region,
		.project = t->t.project_id,
	};
	csms_set_log_context(t->client, &t->log);
	csms_set_failure_hook(t->client, on_call_failed, t);
	if (o->opt.ledger) {
		r = ledger_target(o->opt.ledger, t->t.project_id, t->t.name, t->t.account_id, t->t.region,
		                  &t->ledger);
		if (r < 0)
			goto fail;
	}
	o->targets[o->n_targets++] = t;
	if (ret)
		*ret = t;
	return 0;
fail:
	if (r == -ENOMEM && error && !*error)
		*error = strdup("out of memory");
	target_free(t);
	return r;
}

/* Take T out of the queue: one walk to find it, the tail kept on the way
 * (run_queue() takes the head, which is the first step). */
static void unqueue(struct org *o, struct org_target *t)
{
	struct org_target *prev = NULL;

	if (!t->queued)
		return;
	for (struct org_target *q = o->queue_head; q != t; q = q->queue_next)
		prev = q;
	if (prev)
		prev->queue_next = t->queue_next;
	else
		o->queue_head = t->queue_next;
	if (o->queue_tail == t)
		o->queue_tail = prev;
	t->queue_next = NULL;
	t->queued = false;
	o->n_queued--;
}

/* The pass of T is over (ended or dropped): its slot is free. */
static void end_pass(struct org_target *t)
{
	struct org *o = t->org;

	t->timeout_timer = sd_event_source_disable_unref(t->timeout_timer);
	pass_free(t->pass);
	t->pass = NULL;
	t->log.pass_id = NULL;
	o->n_running--;
	/* Its slot goes to the next in the queue, from the loop. */
	if (o->n_queued)
		(void) sd_event_source_set_enabled(o->kick, SD_EVENT_ONESHOT);
}

void org_remove(struct org *o, struct org_target *t)
{
	size_t i;

	for (i = 0; i < o->n_targets && o->targets[i] != t; i++)
		;
	if (i == o->n_targets)
		return;
	memmove(o->targets + i, o->targets + i + 1, (o->n_targets - i - 1) * sizeof(*o->targets));
	o->n_targets--;
	unqueue(o, t);
	if (t->pass) {
		csms_cancel(t->client, t->pass);
		end_pass(t);
	}
	target_free(t);
}

/* --- passes ------------------------------------------------------------------- */

static void on_pass_done(const struct pass_result *r, void *userdata)
{
	struct org_target *t = userdata;
	struct org *o = t->org;

	if (r->outcome != PASS_ABORTED || !r->dry_run)
		t->review_first = false;
	t->state = target_state_of(r);
	snprintf(t->why, sizeof(t->why), "%s", t->state == TARGET_CONVERGED || t->state == TARGET_CHANGED ?
	         "" : r->failure);
	if (o->opt.done)
		o->opt.done(t, r, o->opt.userdata);
	end_pass(t);
}

static int on_pass_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct org_target *t = userdata;
	const struct log_context *previous = log_push_context(&t->log);

	log_event(LOG_ERR, MID_PASS_TIMEOUT, NULL, 0, "Pass %u of %s exceeded pass_timeout and was aborted",
	          t->pass_number, t->t.name);
	pass_abort(t->pass, "exceeded pass_timeout");
	log_pop_context(previous);
	return 0;
}

static void start_pass(struct org *o, struct org_target *t)
{
	struct pass_options po = o->opt.pass ? *o->opt.pass : (struct pass_options) {};
	int r;

	t->pass_number++;
	pass_id_format(t->pass_id, o->opt.pass_id_base, ++o->pass_counter);
	t->log.pass_id = t->pass_id;
	t->pass_started_usec = manager_now(o->manager);
	t->mon.pass_started = now_realtime_usec();
	po.dry_run = po.dry_run || o->opt.dry_run || t->view->daemon.dry_run || t->review_first;
	po.ledger = t->ledger;
	po.pass_id = t->pass_id;
	po.log_context = &t->log;
	r = pass_start(t->client, t->view, t->pass_number, &po, on_pass_done, t, &t->pass);
	if (r < 0) {
		const struct log_context *previous = log_push_context(&t->log);
		struct pass_result failed = { .number = t->pass_number, .outcome = PASS_FAILED };

		log_error("Cannot start pass %u of %s: %s", t->pass_number, t->t.name, strerror(-r));
		snprintf(failed.failure, sizeof(failed.failure), "cannot start a pass: %s", strerror(-r));
		t->log.pass_id = NULL;
		t->state = TARGET_FAILING;
		snprintf(t->why, sizeof(t->why), "%s", failed.failure);
		if (o->opt.done)
			o->opt.done(t, &failed, o->opt.userdata);
		log_pop_context(previous);
		return;
	}
	o->n_running++;
	/* A pass without its time limit could hang for ever: manager_arm()
	 * makes that loud (and the service not healthy). */
	(void) manager_arm(o->manager, &t->timeout_timer, "pass timeout",
	                   t->pass_started_usec + t->view->daemon.pass_timeout_usec, USEC_PER_SEC,
	                   on_pass_timeout, t);
}

/* Start queued passes while slots are free, oldest first. */
static void run_queue(struct org *o)
{
	while (o->queue_head && !o->hold && o->n_running < o->cfg->daemon.max_parallel_targets &&
	       !manager_stopping(o->manager)) {
		struct org_target *t = o->queue_head;

		unqueue(o, t);
		start_pass(o, t);
	}
}

static int on_kick(sd_event_source *s, void *userdata)
{
	run_queue(userdata);
	return 0;
}

void org_queue(struct org *o, struct org_target *t)
{
	if (t->queued || pass_running(t->pass))
		return;
	t->queued = true;
	t->queue_next = NULL;
	if (o->queue_tail)
		o->queue_tail->queue_next = t;
	else
		o->queue_head = t;
	o->queue_tail = t;
	o->n_queued++;
	/* From the loop, never from within the caller (which may be a pass's
	 * DONE): the same path for every start. */
	(void) sd_event_source_set_enabled(o->kick, SD_EVENT_ONESHOT);
}

void org_abort(struct org *o, const char *why)
{
	while (o->queue_head)
		unqueue(o, o->queue_head);
	for (size_t i = 0; i < o->n_targets; i++) {
		struct org_target *t = o->targets[i];

		if (t->pass) {
			const struct log_context *previous = log_push_context(&t->log);

			pass_abort(t->pass, why);
			log_pop_context(previous);
		}
	}
}

/* --- the org ------------------------------------------------------------------ */

int org_new(struct manager *m, const struct config *cfg, const struct org_options *opt,
            struct org **ret, char **error)
{
	struct http_options ho = {
		.ca_file = cfg->csms.ca_file,
		.timeout_usec = cfg->daemon.request_timeout_usec,
		.max_parallel = cfg->daemon.max_parallel_requests,
		.max_requests_per_second = cfg->daemon.total_requests_per_second,
		/* An organisation's targets list at once, and a listing's
		 * answer holds its slot until it is decoded, one after the
		 * other: with every slot taken by answers waiting for that,
		 * the DELETEs of the targets already decoded waited too, and
		 * the server sat idle for the first seconds of a pass (make
		 * bench: 500 targets 2 s faster with an eighth). */
		.max_parallel_bulk = cfg->daemon.max_parallel_requests >= 32
		                     ? cfg->daemon.max_parallel_requests / 8 : 4,
		.user_agent = "csms-tagd/" PACKAGE_VERSION,
	};
	struct org *o = calloc(1, sizeof(*o));
	int r;

	if (!o)
		return -ENOMEM;
	o->manager = m;
	o->cfg = cfg;
	o->opt = *opt;
	r = http_new(manager_event(m), &ho, &o->http);
	if (r < 0) {
		*error = xasprintf("cannot set up HTTP: %s", strerror(-r));
		org_free(o);
		return r;
	}
	r = sd_event_add_defer(manager_event(m), &o->kick, on_kick, o);
	if (r >= 0)
		r = sd_event_source_set_enabled(o->kick, SD_EVENT_OFF);
	if (r < 0) {
		*error = xasprintf("cannot set up the scheduler: %s", strerror(-r));
		org_free(o);
		return r;
	}
	*ret = o;
	return 0;
}

void org_free(struct org *o)
{
	if (!o)
		return;
	while (o->n_targets)
		org_remove(o, o->targets[o->n_targets - 1]);
	free(o->targets);
	/* The clients are gone, so the accounts' credentials can go, then
	 * the pool, whose requests still in flight are dropped. */
	while (o->accounts) {
		struct org_account *a = o->accounts;

		o->accounts = a->next;
		account_free(o, a);
	}
	auth_free(o->base);
	http_free(o->http);
	sd_event_source_disable_unref(o->kick);
	free(o);
}

void org_hold(struct org *o, bool hold)
{
	o->hold = hold;
	if (!hold && o->n_queued)
		(void) sd_event_source_set_enabled(o->kick, SD_EVENT_ONESHOT);
}

size_t org_n_targets(const struct org *o)
{
	return o ? o->n_targets : 0;
}

struct org_target *org_target_at(struct org *o, size_t i)
{
	return i < o->n_targets ? o->targets[i] : NULL;
}

struct org_target *org_find(struct org *o, const char *key)
{
	for (size_t i = 0; o && i < o->n_targets; i++)
		if (streq_ptr(o->targets[i]->t.project_id, key))
			return o->targets[i];
	return NULL;
}

size_t org_running(const struct org *o)
{
	return o ? o->n_running : 0;
}

size_t org_queued(const struct org *o)
{
	return o ? o->n_queued : 0;
}

struct http *org_http(struct org *o)
{
	return o->http;
}

size_t org_pending(const struct org *o)
{
	return o && o->http ? http_pending(o->http) : 0;
}

uint64_t org_longest_pass(const struct org *o, uint64_t now)
{
	uint64_t longest = 0;

	for (size_t i = 0; o && i < o->n_targets; i++)
		if (o->targets[i]->pass && now - o->targets[i]->pass_started_usec > longest)
			longest = now - o->targets[i]->pass_started_usec;
	return longest;
}
