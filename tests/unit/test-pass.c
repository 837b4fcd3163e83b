/* test-pass.c - the reconcile pass (and observe.c under it) driven through
 * a fake CSMS client.
 *
 * The fake is a client of its own (struct csms_ops, csms.h): it implements
 * the calls a pass makes on a model project held in memory, queues every call, and
 * answers one queued call per step, so a test decides what each answer is
 * and can stop the pass at any boundary.  It checks the client's contract
 * as it goes: every call is answered at most once, never after its owner
 * cancelled it, and nothing is left outstanding once a pass has ended.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "observed.h"
#include "config.h"
#include "csms.h"
#include "observe.h"
#include "ledger.h"
#include "pass.h"
#include "plan.h"
#include "util.h"
#include "event-loop.h"
#include "prologue.h"

/* --- the fake client ------------------------------------------------------ */

enum fake_kind { FAKE_AUTH, FAKE_RI, FAKE_LIST, FAKE_TAGS, FAKE_DELETE };

struct fake_call {
	enum fake_kind kind;
	const void *owner;
	csms_done_t done;
	auth_done_t auth_done;
	void *userdata;
	unsigned offset;
	char *marker;
	char *id, *key, *value;
	bool ahead;
	struct fake_call *next;
};

/* One operation as the fake saw it, for order checks. */
struct op {
	enum fake_kind kind;
	char id[32];
	char key[32];
	char value[32];
};

struct fake_client {
	struct csms iface;              /* what the pass is given */
	struct observation world;       /* the project */
	struct fake_call *queue;        /* answered front first */
	/* faults */
	int64_t ri_total_claim;         /* >= 0: total_count to claim */
	bool ri_refused;                /* ListResourceInstances 403 */
	bool list_loops;                /* ListSecrets hands back the same marker */
	const char *tags_refused[8];    /* ids whose ListSecretTags fail */
	bool deletes_ignored;           /* 204 without deleting */
	bool deletes_fail;              /* 500 */
	bool deletes_gone;              /* 400 CSMS.0005 */
	bool deletes_lost_reply;        /* deleted, reply lost, the retry 400 CSMS.0005 */
	/* Before answering the Nth ListSecretTags (1-based), set a tag. */
	unsigned mutate_at_tags;
	const char *mutate_id, *mutate_key, *mutate_value;      /* value NULL: remove */
	/* record */
	unsigned n_tags_answered;
	unsigned in_flight[5], max_in_flight[5];
	struct op ops[256];
	size_t n_ops;
};

static struct fake_client fake;
static struct ledger *ledger;
static char ledger_dir[64];

static sd_event *fake_get_event(const struct csms *c)
{
	return event;
}

static struct fake_call *enqueue(enum fake_kind kind, const void *owner, csms_done_t done,
                                 void *userdata)
{
	struct fake_call *call = calloc(1, sizeof(*call)), **tail = &fake.queue;

	assert_non_null(call);
	*call = (struct fake_call) { .kind = kind, .owner = owner, .done = done, .userdata = userdata };
	while (*tail)
		tail = &(*tail)->next;
	*tail = call;
	if (++fake.in_flight[kind] > fake.max_in_flight[kind])
		fake.max_in_flight[kind] = fake.in_flight[kind];
	return call;
}

static void fake_ensure_auth(struct csms *c, auth_done_t done, void *owner)
{
	enqueue(FAKE_AUTH, owner, NULL, owner)->auth_done = done;
}

static void fake_list_resource_instances(struct csms *c, const void *owner, unsigned offset,
                                         unsigned limit, csms_done_t done, void *userdata)
{
	enqueue(FAKE_RI, owner, done, userdata)->offset = offset;
}

static void fake_list_secrets(struct csms *c, const void *owner, const char *marker, unsigned limit,
                              csms_done_t done, void *userdata)
{
	enqueue(FAKE_LIST, owner, done, userdata)->marker = marker ? strdup(marker) : NULL;
}

static void fake_list_secret_tags(struct csms *c, const void *owner, const char *secret_id,
                                  csms_done_t done, void *userdata)
{
	enqueue(FAKE_TAGS, owner, done, userdata)->id = strdup(secret_id);
}

static void fake_delete_secret_tag(struct csms *c, const void *owner, const char *secret_id,
                                   const char *key, const char *value, bool ahead,
                                   csms_done_t done, void *userdata)
{
	struct fake_call *call, **p;

	call = enqueue(FAKE_DELETE, owner, done, userdata);
	call->id = strdup(secret_id);
	call->key = strdup(key);
	call->value = strdup(value);
	call->ahead = ahead;
	if (!ahead)
		return;
	/* Move it before the first call that is not ahead. */
	for (p = &fake.queue; *p != call; p = &(*p)->next)
		;
	*p = call->next;
	for (p = &fake.queue; *p && (*p)->kind == FAKE_DELETE && (*p)->ahead; p = &(*p)->next)
		;
	call->next = *p;
	*p = call;
}

static void call_free(struct fake_call *call)
{
	free(call->marker);
	free(call->id);
	free(call->key);
	free(call->value);
	free(call);
}

static size_t fake_pending(const struct csms *c)
{
	size_t n = 0;

	for (const struct fake_call *call = fake.queue; call; call = call->next)
		n++;
	return n;
}

static void fake_cancel(struct csms *c, const void *owner)
{
	struct fake_call **p = &fake.queue;

	while (*p) {
		struct fake_call *call = *p;

		if (call->owner != owner) {
			p = &call->next;
			continue;
		}
		*p = call->next;
		fake.in_flight[call->kind]--;
		call_free(call);
	}
}

static void record(enum fake_kind kind, const char *id, const char *key, const char *value)
{
	struct op *op;

	assert_true(fake.n_ops < ELEMENTSOF(fake.ops));
	op = &fake.ops[fake.n_ops++];
	*op = (struct op) { .kind = kind };
	snprintf(op->id, sizeof(op->id), "%s", id ? id : "");
	snprintf(op->key, sizeof(op->key), "%s", key ? key : "");
	snprintf(op->value, sizeof(op->value), "%s", value ? value : "");
}

static void copy_secret(struct observation *o, const struct secret *from, bool with_tags)
{
	struct secret *s = observation_add(o);

	assert_non_null(s);
	s->id = strdup(from->id);
	s->name = strdup(from->name);
	s->state = strdup(from->state);
	s->tags_complete = with_tags;
	for (size_t i = 0; with_tags && i < from->tags.n; i++)
		assert_int_equal(tag_list_add(&s->tags, from->tags.items[i].key, from->tags.items[i].value), 0);
}

static bool tags_refused(const char *id)
{
	for (size_t i = 0; i < ELEMENTSOF(fake.tags_refused) && fake.tags_refused[i]; i++)
		if (strcmp(fake.tags_refused[i], id) == 0)
			return true;
	return false;
}

static void set_world_tag(const char *id, const char *key, const char *value)
{
	struct secret *s = observation_find_id(&fake.world, id);
	struct tag_list kept = {};

	assert_non_null(s);
	for (size_t i = 0; i < s->tags.n; i++)
		if (strcmp(s->tags.items[i].key, key) != 0)
			assert_int_equal(tag_list_add(&kept, s->tags.items[i].key, s->tags.items[i].value), 0);
	if (value)
		assert_int_equal(tag_list_add(&kept, key, value), 0);
	tag_list_clear(&s->tags);
	s->tags = kept;
}

/* Answer the call at the front of the queue.  Returns false when none. */
static bool fake_step(void)
{
	struct fake_call *call = fake.queue;
	struct observation page = {};
	struct tag_list tags = {}, sys_tags = {};
	struct csms_result res = { .total_count = -1 };
	char next[32];

	if (!call)
		return false;
	fake.queue = call->next;
	fake.in_flight[call->kind]--;
	switch (call->kind) {
	case FAKE_AUTH:
		record(FAKE_AUTH, NULL, NULL, NULL);
		call->auth_done(0, NULL, call->userdata);
		call_free(call);
		return true;
	case FAKE_RI:
		record(FAKE_RI, NULL, NULL, NULL);
		if (fake.ri_refused) {
			res = (struct csms_result) { .r = -EPROTO, .status = 403, .error_code = "CSMS.0401" };
			break;
		}
		for (size_t i = call->offset; i < fake.world.n && i < call->offset + 2u; i++)
			copy_secret(&page, &fake.world.secrets[i], true);
		res.secrets = &page;
		res.total_count = fake.ri_total_claim >= 0 ? fake.ri_total_claim : (int64_t) fake.world.n;
		break;
	case FAKE_LIST: {
		size_t from = call->marker ? strtoul(call->marker + 1, NULL, 10) : 0;

		record(FAKE_LIST, NULL, call->marker, NULL);
		for (size_t i = from; i < fake.world.n && i < from + 2; i++)
			copy_secret(&page, &fake.world.secrets[i], false);
		snprintf(next, sizeof(next), "m%zu", fake.list_loops ? (size_t) 0 : from + 2);
		res.secrets = &page;
		res.next_marker = from + 2 < fake.world.n || fake.list_loops ? next : NULL;
		break;
	}
	case FAKE_TAGS: {
		const struct secret *s;

		if (++fake.n_tags_answered == fake.mutate_at_tags)
			set_world_tag(fake.mutate_id, fake.mutate_key, fake.mutate_value);
		record(FAKE_TAGS, call->id, NULL, NULL);
		s = observation_find_id(&fake.world, call->id);
		if (!s || tags_refused(call->id)) {
			res = (struct csms_result) { .r = -EPROTO, .status = 403, .error_code = "CSMS.0401",
			                             .total_count = -1 };
			break;
		}
		for (size_t i = 0; i < s->tags.n; i++)
			assert_int_equal(tag_list_add(&tags, s->tags.items[i].key, s->tags.items[i].value), 0);
		res.tags = &tags;
		res.sys_tags = &sys_tags;
		break;
	}
	case FAKE_DELETE:
		record(FAKE_DELETE, call->id, call->key, call->value);
		if (fake.deletes_fail)
			res = (struct csms_result) { .r = -EPROTO, .status = 500, .error_code = "CSMS.0001",
			                             .total_count = -1 };
		else if (fake.deletes_gone || fake.deletes_lost_reply) {
			if (fake.deletes_lost_reply)
				set_world_tag(call->id, call->key, NULL);
			res = (struct csms_result) { .r = -EPROTO, .status = 400, .error_code = "CSMS.0005",
			                             .total_count = -1, .attempts = fake.deletes_lost_reply ? 2 : 1 };
		}
		else if (!fake.deletes_ignored)
			set_world_tag(call->id, call->key, NULL);
		break;
	}
	call->done(&res, call->userdata);
	call_free(call);
	observation_clear(&page);
	tag_list_clear(&tags);
	tag_list_clear(&sys_tags);
	return true;
}

/* --- helpers -------------------------------------------------------------- */

static void add_secret(const char *id, const char *name, ...)
{
	va_list ap;

	va_start(ap, name);
	observed_vadd(&fake.world, id, name, "ENABLED", true, ap);
	va_end(ap);
}

/* Five secrets; app-c and app-e hold value-dependent deletions. */
static void example_world(void)
{
	add_secret("id-a", "app-a", "env", "prod", "owner", "x", "stray", "1", NULL);
	add_secret("id-b", "app-b", "env", "prod", "owner", "y", NULL);
	add_secret("id-c", "app-c", "env", "dev", "owner", "z", NULL);
	add_secret("id-d", "other", "anything", "goes", NULL);
	add_secret("id-e", "app-e", "env", "test", "stray", "2", NULL);
}

/* A fresh fake holding the example project (or none). */
static const struct csms_ops fake_ops = {
	.get_event = fake_get_event,
	.ensure_auth = fake_ensure_auth,
	.cancel = fake_cancel,
	.pending = fake_pending,
	.list_resource_instances = fake_list_resource_instances,
	.list_secrets = fake_list_secrets,
	.list_secret_tags = fake_list_secret_tags,
	.delete_secret_tag = fake_delete_secret_tag,
};

static void fake_reset(bool with_example)
{
	assert_null(fake.queue);
	observation_clear(&fake.world);
	fake = (struct fake_client) { .iface.ops = &fake_ops, .ri_total_claim = -1 };
	if (with_example)
		example_world();
}

static int fake_setup(void **state)
{
	loop_setup(state);
	fake_reset(false);
	snprintf(ledger_dir, sizeof(ledger_dir), "/tmp/test-pass.XXXXXX");
	assert_non_null(mkdtemp(ledger_dir));
	assert_int_equal(ledger_open(ledger_dir, &ledger), 0);
	return 0;
}

static int fake_teardown(void **state)
{
	char cmd[128];

	assert_null(fake.queue);
	observation_clear(&fake.world);
	ledger_close(ledger);
	ledger = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ledger_dir);
	assert_int_equal(system(cmd), 0);
	return loop_teardown(state);
}

/* The ledger's rows with outcome O (_LEDGER_OUTCOME_MAX: all). */
static size_t ledger_count(enum ledger_outcome o)
{
	struct ledger_list l = {};
	size_t n = 0;

	assert_int_equal(ledger_query(ledger, &(struct ledger_query) { 0 }, &l), 0);
	for (size_t i = 0; i < l.n; i++)
		n += o == _LEDGER_OUTCOME_MAX || l.v[i].outcome == o;
	ledger_list_clear(&l);
	return n;
}

static struct config *load(const char *daemon_settings)
{
	_cleanup_free_ char *text = xasprintf("%s[daemon]\n%s"
	                                      "[secrets \"app-*\"]\n"
	                                      "env = prod|staging\n"
	                                      "owner = *\n", PROLOGUE, daemon_settings);
	struct config *c = NULL;
	char *error = NULL;
	int r;

	assert_non_null(text);
	r = config_load_string("pass.conf", text, 0, &c, &error);
	if (r < 0)
		fail_msg("config rejected: %s", error ? error : strerror(-r));
	free(error);
	return c;
}

static uint64_t deleted_by_rule_sum;  /* of the passes run since reset */

struct run {
	struct pass *pass;
	struct pass_result res;
	unsigned done_calls;
};

static void on_done(const struct pass_result *r, void *userdata)
{
	struct run *run = userdata;

	run->res = *r;
	/* The tally is the pass's: keep its sum, and check its keys here. */
	run->res.deleted_by_rule = (struct metrics_tally) {};
	for (size_t i = 0; i < r->deleted_by_rule.n; i++) {
		/* Section and key glob, never FILE:LINE: stable across edits. */
		assert_int_equal(strncmp(r->deleted_by_rule.items[i].key, "[secrets \"app-*\"] ", 17), 0);
		assert_null(strchr(r->deleted_by_rule.items[i].key, ':'));
		assert_null(r->deleted_by_rule.items[i].key2);
		deleted_by_rule_sum += r->deleted_by_rule.items[i].value;
	}
	run->done_calls++;
}

/* Turn the loop without blocking until nothing is ready. */
static void settle(void)
{
	while (sd_event_run(event, 0) > 0)
		;
}

/* Run a pass, answering calls one by one.  With STOP_AFTER >= 0, stop it
 * after that many answers: by pass_abort() (ABORT) or pass_free(). */
static struct pass_result run_pass(const struct config *c, bool dry_run, int stop_after, bool abort)
{
	struct run run = {};
	int answered = 0;

	static unsigned number;
	char id[16];

	snprintf(id, sizeof(id), "t-%u", ++number);
	assert_int_equal(pass_start(&fake.iface, c, 1, &(struct pass_options) {
		.dry_run = dry_run, .ledger = ledger, .pass_id = id }, on_done, &run, &run.pass), 0);
	for (;;) {
		settle();
		if (!pass_running(run.pass))
			break;
		if (answered == stop_after) {
			if (abort) {
				pass_abort(run.pass, "test");
				assert_int_equal(run.done_calls, 1);
				assert_int_equal(run.res.outcome, PASS_ABORTED);
			}
			pass_free(run.pass);
			run.pass = NULL;
			/* Nothing the pass registered may still be queued. */
			assert_null(fake.queue);
			settle();
			return run.res;
		}
		assert_true(fake_step());
		answered++;
	}
	assert_int_equal(run.done_calls, 1);
	pass_free(run.pass);
	assert_null(fake.queue);
	return run.res;
}

static size_t count_ops(enum fake_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < fake.n_ops; i++)
		n += fake.ops[i].kind == kind;
	return n;
}

/* --- tests ---------------------------------------------------------------- */

static void test_error_class(void **state)
{
	char buf[32];
	struct csms_result ok = { .r = 0, .status = 200 };
	struct csms_result coded = { .r = -EPROTO, .status = 403, .error_code = "CSMS.0401" };
	struct csms_result bare = { .r = -EPROTO, .status = 502 };
	struct csms_result undecodable = { .r = -EBADMSG, .status = 200 };
	struct csms_result transport = { .r = -EIO };
	struct csms_result unsent = { .r = -ENOKEY };

	assert_null(csms_result_error_class(&ok, buf, sizeof(buf)));
	assert_string_equal(csms_result_error_class(&coded, buf, sizeof(buf)), "CSMS.0401");
	assert_string_equal(csms_result_error_class(&bare, buf, sizeof(buf)), "http-502");
	assert_string_equal(csms_result_error_class(&undecodable, buf, sizeof(buf)), "invalid-answer");
	assert_string_equal(csms_result_error_class(&transport, buf, sizeof(buf)), "transport");
	assert_string_equal(csms_result_error_class(&unsent, buf, sizeof(buf)), "no-request");
}

static void test_complete_observation_converges(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct pass_result r;

	example_world();
	deleted_by_rule_sum = 0;
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.outcome, PASS_CHANGED);
	assert_int_equal(deleted_by_rule_sum, 4);
	assert_string_equal(r.observed_by, "ListResourceInstances");
	assert_int_equal(r.secrets, 5);
	assert_int_equal(r.counts.governed_secrets, 4);
	assert_int_equal(r.counts.planned, 4);
	assert_int_equal(r.deleted, 4);
	assert_int_equal(r.still_present, 0);
	assert_true(r.deletes_sent);
	/* Three pages of two secrets, read with pages in flight together. */
	assert_true(fake.max_in_flight[FAKE_RI] >= 2);
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.outcome, PASS_CONVERGED);
	config_free(c);
}

/* Each re-checked secret's deletes follow its re-check directly, and the
 * journal (the DELETE) carries the value as re-read. */
static void test_recheck_then_delete(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct pass_result r;
	size_t rechecks = 0;

	example_world();
	/* The first ListSecretTags is app-c's re-check: change env to another
	 * disallowed value just before it is answered. */
	fake.mutate_at_tags = 1;
	fake.mutate_id = "id-c";
	fake.mutate_key = "env";
	fake.mutate_value = "qa";
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.outcome, PASS_CHANGED);
	for (size_t i = 0; i < fake.n_ops; i++) {
		if (fake.ops[i].kind != FAKE_TAGS)
			continue;
		rechecks++;
		assert_true(i + 1 < fake.n_ops);
		assert_int_equal(fake.ops[i + 1].kind, FAKE_DELETE);
		assert_string_equal(fake.ops[i + 1].id, fake.ops[i].id);
		if (strcmp(fake.ops[i].id, "id-c") == 0)
			assert_string_equal(fake.ops[i + 1].value, "qa");
	}
	assert_int_equal(rechecks, 2);
	assert_true(fake.max_in_flight[FAKE_TAGS] <= 1);
	config_free(c);
}

static void test_recheck_keep_and_gone(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct pass_result r;

	example_world();
	fake.mutate_at_tags = 1;        /* app-c: corrected to an allowed value */
	fake.mutate_id = "id-c";
	fake.mutate_key = "env";
	fake.mutate_value = "staging";
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.kept_changed, 1);
	assert_int_equal(r.deleted, 3);
	assert_string_equal(tag_list_find(&observation_find_id(&fake.world, "id-c")->tags, "env")->value,
	                    "staging");

	fake_reset(true);
	fake.mutate_at_tags = 1;        /* app-c: env removed meanwhile */
	fake.mutate_id = "id-c";
	fake.mutate_key = "env";
	fake.mutate_value = NULL;
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.already_gone, 1);
	assert_int_equal(r.deleted, 3);
	assert_int_equal(r.outcome, PASS_CHANGED);
	config_free(c);
}

static void test_recheck_refused_keeps(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct pass_result r;

	example_world();
	fake.tags_refused[0] = "id-c";  /* only read by the re-check here */
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.outcome, PASS_PARTIAL);
	assert_int_equal(r.delete_failed, 1);
	assert_non_null(tag_list_find(&observation_find_id(&fake.world, "id-c")->tags, "env"));
	config_free(c);
}

static void test_delete_fail_and_gone(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct pass_result r;

	example_world();
	fake.deletes_fail = true;
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.outcome, PASS_PARTIAL);
	assert_int_equal(r.delete_failed, 4);
	assert_int_equal(r.deleted, 0);
	assert_non_null(strstr(r.failure, "DeleteSecretTag"));

	/* Each intent was recorded first, and failed after. */
	assert_int_equal(ledger_count(LEDGER_FAILED), 4);
	assert_int_equal(ledger_count(_LEDGER_OUTCOME_MAX), 4);

	fake.deletes_fail = false;
	fake.deletes_gone = true;
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.outcome, PASS_CONVERGED);
	assert_int_equal(r.already_gone, 4);
	assert_int_equal(ledger_count(LEDGER_ALREADY_GONE), 4);
	config_free(c);
}

/* Deleted, the reply lost, the retry answered "not found": ours. */
static void test_lost_reply_is_our_deletion(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct ledger_list l = {};
	struct pass_result r;

	example_world();
	fake.deletes_lost_reply = true;
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.outcome, PASS_CHANGED);
	assert_int_equal(r.deleted, 4);
	assert_int_equal(r.already_gone, 0);
	assert_int_equal(ledger_query(ledger, &(struct ledger_query) { .deleted_only = true }, &l), 0);
	assert_int_equal(l.n, 4);
	for (size_t i = 0; i < l.n; i++)
		assert_true(l.v[i].outcome_usec >= l.v[i].intent_usec && l.v[i].value[0]);
	ledger_list_clear(&l);
	config_free(c);
}

/* A no-rule deletion an exemption with value= could keep is re-checked:
 * changed to the exempted value after the observation, it is kept. */
static void test_key_verdict_rechecked(void **state)
{
	char expires[32], *settings;
	struct config *c;
	struct pass_result r;
	time_t t = time(NULL) + 30 * 86400;

	strftime(expires, sizeof(expires), "%Y-%m-%d", gmtime(&t));
	settings = xasprintf("max_deletes_per_pass = 50\n[exempt \"hold\"]\nsecret = app-a\nkey = stray\n"
	                     "value = keep-me\nreason = test\nexpires = %s\n", expires);
	c = load(settings);
	free(settings);

	example_world();
	/* The first ListSecretTags is app-a's re-check (app-a sorts first). */
	fake.mutate_at_tags = 1;
	fake.mutate_id = "id-a";
	fake.mutate_key = "stray";
	fake.mutate_value = "keep-me";
	r = run_pass(c, false, -1, false);
	for (size_t i = 0; i < fake.n_ops; i++)
		assert_false(fake.ops[i].kind == FAKE_DELETE && strcmp(fake.ops[i].id, "id-a") == 0);
	assert_int_equal(r.kept_changed, 1);
	assert_string_equal(tag_list_find(&observation_find_id(&fake.world, "id-a")->tags, "stray")->value,
	                    "keep-me");
	assert_int_equal(ledger_count(_LEDGER_OUTCOME_MAX), r.deleted);
	config_free(c);
}

/* A pass stopped with DELETEs in flight leaves their intents pending; the
 * next pass reads the secrets: absent is ours, present was not deleted. */
static void test_interrupted_intents_resolved(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct ledger_list l = {};
	struct pass_result r;

	add_secret("id-a", "app-a", "env", "prod", "owner", "x", "stray", "1", "junk", "2", NULL);
	/* Auth, ListResourceInstances: then both DELETEs are queued. */
	r = run_pass(c, false, 2, true);
	assert_int_equal(r.outcome, PASS_ABORTED);
	assert_int_equal(ledger_count(LEDGER_PENDING), 2);
	/* The server did one of them. */
	set_world_tag("id-a", "stray", NULL);
	fake.n_ops = 0;
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.counts.resolved, 2);
	assert_int_equal(ledger_count(LEDGER_PENDING), 0);
	assert_int_equal(ledger_query(ledger, &(struct ledger_query) { 0 }, &l), 0);
	assert_int_equal(l.n, 3);       /* + the new pass's deletion of junk */
	assert_string_equal(l.v[0].key, "junk");
	assert_int_equal(l.v[0].outcome, LEDGER_FAILED);
	assert_string_equal(l.v[1].key, "stray");
	assert_int_equal(l.v[1].outcome, LEDGER_DELETED);
	assert_string_equal(l.v[1].value, "1");
	assert_int_equal(l.v[2].outcome, LEDGER_DELETED);
	ledger_list_clear(&l);
	config_free(c);
}

/* 204 without deleting: counted as still present, not as deleted. */
static void test_still_present_after_verify(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct pass_result r;

	example_world();
	fake.deletes_ignored = true;
	deleted_by_rule_sum = 0;
	r = run_pass(c, false, -1, false);
	assert_int_equal(r.outcome, PASS_PARTIAL);
	assert_int_equal(r.deleted, 0);
	/* Seen again on verify: not deleted, not counted. */
	assert_int_equal(deleted_by_rule_sum, 0);
	assert_int_equal(r.still_present, 4);
	config_free(c);
}

/* Unread governed secrets count 20 each towards the limit. */
static void test_limit_with_unread_secrets(void **state)
{
	struct config *c = load("observe = list_secrets\nmax_deletes_per_pass = 30\n");
	struct pass_result r;

	example_world();
	fake.tags_refused[0] = "id-b";
	/* 4 planned (app-b unread) + 20 = 24 <= 30: the readable ones go. */
	r = run_pass(c, false, -1, false);
	assert_string_equal(r.observed_by, "ListSecrets");
	assert_false(r.limit_exceeded);
	assert_int_equal(r.outcome, PASS_PARTIAL);
	assert_int_equal(r.skipped_incomplete, 1);
	assert_int_equal(r.deleted, 4);
	config_free(c);

	fake_reset(true);
	fake.tags_refused[0] = "id-b";
	fake.tags_refused[1] = "id-a";
	/* 3 planned + 2 x 20 = 43 > 30: held, nothing deleted. */
	c = load("observe = list_secrets\nmax_deletes_per_pass = 30\n");
	r = run_pass(c, false, -1, false);
	assert_true(r.limit_exceeded);
	assert_int_equal(r.outcome, PASS_PARTIAL);
	assert_int_equal(r.deleted, 0);
	assert_int_equal(count_ops(FAKE_DELETE), 0);
	assert_non_null(strstr(r.failure, "3 planned + 20 x 2 unread secrets = 43"));
	config_free(c);

	/* A complete read over the limit is held as before. */
	fake_reset(true);
	c = load("max_deletes_per_pass = 3\n");
	r = run_pass(c, false, -1, false);
	assert_true(r.limit_exceeded);
	assert_int_equal(count_ops(FAKE_DELETE), 0);
	config_free(c);
}

static void test_inconsistent_listing(void **state)
{
	struct config *ri = load("observe = resource_instances\n");
	struct config *autom = load("observe = auto\n");
	struct config *ls = load("observe = list_secrets\n");
	struct pass_result r;

	example_world();
	/* total_count far beyond the cap: no page beyond the first is asked. */
	fake.ri_total_claim = INT64_C(1000000000000);
	r = run_pass(ri, false, -1, false);
	assert_int_equal(r.outcome, PASS_FAILED);
	assert_int_equal(count_ops(FAKE_RI), 1);
	assert_int_equal(count_ops(FAKE_DELETE), 0);

	/* total_count larger than what comes: incomplete; auto falls back. */
	fake.n_ops = 0;
	fake.ri_total_claim = 7;
	r = run_pass(ri, false, -1, false);
	assert_int_equal(r.outcome, PASS_FAILED);
	assert_int_equal(count_ops(FAKE_DELETE), 0);
	r = run_pass(autom, false, -1, false);
	assert_string_equal(r.observed_by, "ListSecrets");
	assert_int_equal(r.outcome, PASS_CHANGED);

	/* A marker handed back a second time: incomplete, nothing deleted. */
	fake_reset(true);
	fake.list_loops = true;
	r = run_pass(ls, false, -1, false);
	assert_int_equal(r.outcome, PASS_FAILED);
	assert_non_null(strstr(r.failure, "listing incomplete"));
	assert_int_equal(count_ops(FAKE_DELETE), 0);
	config_free(ri);
	config_free(autom);
	config_free(ls);
}

static void test_dry_run_same_plan(void **state)
{
	struct config *c = load("max_deletes_per_pass = 50\n");
	struct pass_result dry, real;

	example_world();
	deleted_by_rule_sum = 0;
	dry = run_pass(c, true, -1, false);
	assert_int_equal(count_ops(FAKE_DELETE), 0);
	/* A dry run deletes nothing, so counts nothing by rule. */
	assert_int_equal(deleted_by_rule_sum, 0);
	assert_int_equal(dry.outcome, PASS_CHANGED);
	real = run_pass(c, false, -1, false);
	assert_int_equal(dry.counts.planned, real.counts.planned);
	assert_int_equal(dry.deleted, real.deleted);
	config_free(c);
}

/* Stop the pass after every number of answers, by abort and by free: the
 * pass ends once, nothing it registered stays queued (run_pass() checks),
 * under ASan nothing calls into freed memory, and every DELETE answered
 * before the stop has its outcome in the ledger (outcomes are written a
 * batch at a time: the stop writes what waits). */
static void test_stop_at_every_boundary(void **state)
{
	static const char *const settings[] = {
		"max_deletes_per_pass = 50\n",
		"observe = list_secrets\nmax_deletes_per_pass = 50\n",
	};

	for (size_t s = 0; s < ELEMENTSOF(settings); s++) {
		struct config *c = load(settings[s]);
		size_t total;

		fake_reset(true);
		(void) run_pass(c, true, -1, false);
		total = fake.n_ops;
		assert_true(total > 3);
		for (int k = 0; k <= (int) total + 8; k++)
			for (int abort = 0; abort <= 1; abort++) {
				struct pass_result r;
				size_t deleted_before = ledger_count(LEDGER_DELETED);

				fake_reset(true);
				r = run_pass(c, false, k, abort);
				assert_int_equal(ledger_count(LEDGER_DELETED) - deleted_before,
				                 count_ops(FAKE_DELETE));
				/* Aborted after a DELETE went out: the result says so. */
				if (abort && count_ops(FAKE_DELETE) > 0)
					assert_true(r.deletes_sent);
			}
		config_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_complete_observation_converges, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_recheck_then_delete, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_recheck_keep_and_gone, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_recheck_refused_keeps, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_delete_fail_and_gone, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_lost_reply_is_our_deletion, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_intents_resolved, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_key_verdict_rechecked, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_still_present_after_verify, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_limit_with_unread_secrets, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_inconsistent_listing, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_same_plan, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_stop_at_every_boundary, fake_setup, fake_teardown),
		cmocka_unit_test(test_error_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
