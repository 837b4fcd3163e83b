/* org-once.c - --once and --apply-plan in organisation mode (daemon.h,
 * org.h): one pass of each selected target (--target GLOB; all without),
 * at most max_parallel_targets at once, then one exit code for all of
 * them.  A reviewed plan belongs to one project, so --apply-plan and
 * --save-plan need a selection of exactly one target. */
#include "org-once.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "daemon-internal.h"
#include "log.h"
#include "org-discover.h"
#include "org.h"
#include "planfile.h"
#include "util.h"

struct org_once {
	struct daemon *d;
	const struct once_options *opt;
	const char *target_glob;
	struct org *org;
	struct org_discovery *discovery;
	struct saved_plan saved;
	struct pass_options pass;       /* --save-plan, --apply-plan */
	size_t started, finished;
	size_t by_code[4];              /* exit codes of the targets' passes (ONCE_*) */
};

/* One code for all: converged when every target converged; "nothing
 * done" only when every target failed without a DELETE; changed when
 * some changed and none failed; partial otherwise. */
int org_once_exit_code(const size_t by_code[static 4])
{
	size_t n = by_code[ONCE_CONVERGED] + by_code[ONCE_ERROR] + by_code[ONCE_CHANGED] +
	           by_code[ONCE_PARTIAL];

	if (by_code[ONCE_CONVERGED] == n)
		return ONCE_CONVERGED;
	if (by_code[ONCE_ERROR] == n)
		return ONCE_ERROR;
	if (by_code[ONCE_PARTIAL] || by_code[ONCE_ERROR])
		return ONCE_PARTIAL;
	return ONCE_CHANGED;
}

static void on_target_done(struct org_target *t, const struct pass_result *r, void *userdata)
{
	struct org_once *o = userdata;
	int code = pass_outcome_exit_code(r->outcome, r->deletes_sent);

	o->by_code[code >= 0 && code < 4 ? code : ONCE_ERROR]++;
	if (++o->finished == o->started)
		manager_done(o->d->manager);
}

static int queue_selected(struct org_once *o)
{
	o->started = 0;
	for (size_t i = 0; i < org_n_targets(o->org); i++) {
		struct org_target *t = org_target_at(o->org, i);

		if (o->target_glob && !target_selected(&t->t, o->target_glob))
			continue;
		org_queue(o->org, t);
		o->started++;
	}
	if (!o->started) {
		log_error("No target of %s matches %s", o->d->path, o->target_glob ? o->target_glob : "*");
		return -ENOENT;
	}
	return 0;
}

static void on_discovered(void *userdata)
{
	struct org_once *o = userdata;

	if (queue_selected(o) < 0)
		manager_done(o->d->manager);
}

static int org_once_start(void *job)
{
	struct org_once *o = job;

	/* Discovery first: the targets to run are what it finds plus the
	 * configured ones; org_discovery_new() calls back once it is done. */
	if (o->d->cfg->discover.enabled)
		return org_discovery_new(o->d->manager, o->org, o->d->cfg, o->d->ledger, on_discovered, o,
		                         &o->discovery);
	return queue_selected(o);
}

static void org_once_stop(void *job, const char *why)
{
	struct org_once *o = job;

	org_discovery_free(o->discovery);
	o->discovery = NULL;
	org_abort(o->org, why);
}

static size_t org_once_pending(void *job)
{
	struct org_once *o = job;

	return org_pending(o->org);
}

static const struct job_ops org_once_ops = {
	.name = "--once",
	.start = org_once_start,
	.stop = org_once_stop,
	.pending = org_once_pending,
};

/* --apply-plan and --save-plan: exactly one configured target. */
static int plan_target(struct org_once *o, const struct target **ret)
{
	const struct config *c = o->d->cfg;
	const struct target *found = NULL;
	size_t n = 0;

	for (size_t i = 0; i < c->n_targets; i++)
		if (!o->target_glob || target_selected(&c->targets[i], o->target_glob)) {
			found = &c->targets[i];
			n++;
		}
	if (n != 1 || c->discover.enabled) {
		log_error("%s needs --target naming exactly one configured target (%zu match%s): a plan "
		          "belongs to one project", o->opt->apply_plan ? "--apply-plan" : "--save-plan", n,
		          n == 1 ? "es" : "");
		return -EINVAL;
	}
	*ret = found;
	return 0;
}

static int load_saved_plan(struct org_once *o, const struct target *t)
{
	_cleanup_free_ char *error = NULL;
	int r;

	r = saved_plan_load(o->opt->apply_plan, &o->saved, &error);
	if (r >= 0)
		r = saved_plan_check(&o->saved, t->project_id, now_realtime_usec(), o->opt->max_plan_age_usec,
		                     &error);
	if (r < 0)
		log_error("Refusing plan %s: %s", o->opt->apply_plan, error ? error : strerror(-r));
	return r;
}

int org_once_run(struct daemon *d, const struct once_options *opt, const char *target_glob)
{
	struct org_once o = { .d = d, .opt = opt, .target_glob = target_glob };
	const struct target *only = NULL;
	_cleanup_free_ char *error = NULL;
	int r;

	if (opt->apply_plan || opt->save_plan) {
		if (plan_target(&o, &only) < 0 || (opt->apply_plan && load_saved_plan(&o, only) < 0))
			goto done;
		o.target_glob = only->name;
		o.pass = (struct pass_options) {
			.save_plan = opt->save_plan,
			.only = opt->apply_plan ? &o.saved : NULL,
			.only_path = opt->apply_plan,
		};
	}
	r = org_new(d->manager, d->cfg, &(struct org_options) {
		.dry_run = opt->dry_run,
		.ledger = d->ledger,
		.pass_id_base = d->pass_id_base,
		.pass = &o.pass,
		.done = on_target_done,
		.userdata = &o,
	}, &o.org, &error);
	for (size_t i = 0; r >= 0 && i < d->cfg->n_targets; i++)
		r = org_add(o.org, &d->cfg->targets[i], NULL, &error);
	if (r < 0) {
		log_error("Cannot set up the targets: %s", error ? error : strerror(-r));
		goto done;
	}
	/* Stopped by a signal, the passes that ran say what was done. */
	(void) manager_run(d->manager, &org_once_ops, &o);
done:
	org_discovery_free(o.discovery);
	org_free(o.org);
	saved_plan_clear(&o.saved);
	return o.finished ? org_once_exit_code(o.by_code) : ONCE_ERROR;
}
