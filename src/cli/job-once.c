/* job-once.c - --once and --apply-plan as a job on the manager (daemon.h,
 * manager.h): one pass with the service's pass_timeout, signals and drain,
 * then the pass's exit code.  SIGHUP and SIGUSR1 are ignored: the pass
 * keeps the configuration it started with. */
#include "daemon.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "daemon-internal.h"
#include "log.h"
#include "org-once.h"
#include "planfile.h"
#include "util.h"

struct once {
	struct daemon d;
	const struct once_options *opt;
	struct saved_plan saved;        /* --apply-plan: the plan file, loaded */
	int exit_code;
};

static void on_pass_done(const struct pass_result *r, void *userdata)
{
	struct once *o = userdata;

	/* The pass's own log line (on stderr) says what was done; the exit
	 * code, what the pass did (csms-tagd(8), outcome.h). */
	o->exit_code = pass_outcome_exit_code(r->outcome, r->deletes_sent);
	daemon_end_pass(&o->d);
	manager_done(o->d.manager);
}

/* --apply-plan: load the plan and refuse one that cannot be applied here. */
static int load_saved_plan(struct once *o)
{
	const char *file = o->opt->apply_plan;
	_cleanup_free_ char *error = NULL;
	char digest[65] = "";
	int r;

	r = saved_plan_load(file, &o->saved, &error);
	if (r >= 0)
		r = saved_plan_check(&o->saved, o->d.cfg->csms.project_id, now_realtime_usec(),
		                     o->opt->max_plan_age_usec, &error);
	if (r < 0) {
		log_error("Refusing plan %s: %s", file, error ? error : strerror(-r));
		return r;
	}
	/* Informational: every item is judged by the current configuration
	 * again, which can only narrow the plan. */
	if (config_file_sha256(o->d.cfg->path, digest) < 0 || strcmp(digest, o->saved.config_sha256) != 0)
		log_warning("Plan %s was made with another configuration (SHA-256 %s, now %s): "
		            "each item is judged by the current one", file,
		            o->saved.config_sha256, digest[0] ? digest : "unreadable");
	log_info("Applying plan %s: %zu items", file, o->saved.n);
	return 0;
}

static int once_start(void *job)
{
	struct once *o = job;
	int r;

	if (o->opt->apply_plan && (r = load_saved_plan(o)) < 0)
		return r;
	r = daemon_start_pass(&o->d, (struct pass_options) {
		.dry_run = o->d.cfg->daemon.dry_run || o->opt->dry_run,
		.save_plan = o->opt->save_plan,
		.only = o->opt->apply_plan ? &o->saved : NULL,
		.only_path = o->opt->apply_plan,
	}, on_pass_done, o);
	return r;
}

static void once_stop(void *job, const char *why)
{
	struct once *o = job;

	csms_cancel(o->d.client, o);
	pass_abort(o->d.pass, why);
}

static size_t once_pending(void *job)
{
	struct once *o = job;

	return csms_pending(o->d.client);
}

static const struct job_ops once_ops = {
	.name = "--once",
	.start = once_start,
	.stop = once_stop,
	.pending = once_pending,
};

int daemon_run_once(const char *path, const struct once_options *opt)
{
	struct once o = { .opt = opt, .exit_code = ONCE_ERROR };
	int code;

	code = daemon_setup(&o.d, path, false, opt->dry_run);
	if (code == 0 && o.d.cfg->organisation) {
		code = org_once_run(&o.d, opt, opt->target_glob);
		daemon_clear(&o.d);
		return code;
	}
	if (code == 0 && opt->target_glob) {
		log_error("--target needs a configuration with [target] or [discover] sections; %s governs "
		          "one project", path);
		code = EX_USAGE;
	}
	if (code == 0) {
		(void) manager_run(o.d.manager, &once_ops, &o);
		code = o.exit_code;
	}
	saved_plan_clear(&o.saved);
	daemon_clear(&o.d);
	return code;
}
