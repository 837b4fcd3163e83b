/* main.c - command line: pick a mode, load the config, run it.
 *
 * Modes:
 *   (none)          the daemon (daemon.c)
 *   --check-config  validate and summarise the config
 *   --plan          print what would be deleted (from --observed FILE)
 *   --explain NAME  why each tag of one secret is kept or deleted
 *   --once          one reconcile pass against the API, then exit
 *   --apply-plan F  --once, deleting only what the reviewed plan F lists
 *   --restore       recreate tags deleted in a time window (restore.h)
 *   --history       show the deletion ledger (history.h)
 *   --status        print the daemon's state file (metrics.h)
 *   --check-credentials  one authenticated read-only request (credcheck.h)
 *   --discover      the projects and accounts the identity reaches (discover.h)
 */

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "config.h"
#include "config-report.h"
#include "credcheck.h"
#include "daemon.h"
#include "decode.h"
#include "discover.h"
#include "grace.h"
#include "history.h"
#include "ledger.h"
#include "live.h"
#include "log.h"
#include "metrics.h"
#include "observation.h"
#include "org-targets.h"
#include "plan.h"
#include "plan-view.h"
#include "restore.h"
#include "status.h"
#include "unit.h"
#include "util.h"
#include "values.h"

#define DEFAULT_CONFIG UNIT_MAIN_CONFIG
#define MAX_OBSERVED_BYTES (256u * 1024 * 1024)
#define DEFAULT_MAX_PLAN_AGE_USEC (24 * 3600 * USEC_PER_SEC)

enum mode { MODE_DAEMON, MODE_CHECK_CONFIG, MODE_PLAN, MODE_EXPLAIN, MODE_ONCE, MODE_APPLY_PLAN,
            MODE_RESTORE, MODE_HISTORY, MODE_STATUS, MODE_CHECK_CREDENTIALS, MODE_DISCOVER };

struct options {
	enum mode mode;
	const char *config_path;
	const char *observed_path;
	const char *mode_arg;           /* --explain NAME, --apply-plan FILE */
	bool no_credentials;
	const char *state_file;
	const char *instance;           /* --status --instance NAME */
	bool json;
	bool dry_run;
	const char *save_plan;
	uint64_t max_plan_age_usec;
	const char *since, *until, *secret_glob, *from, *unit;
	const char *target_glob;        /* --target: organisation mode */
	int log_level;
	enum log_target log_target;
};

typedef int (*mode_run_t)(const struct options *o);
static int run_daemon(const struct options *o);
static int run_check_config(const struct options *o);
static int run_plan(const struct options *o);
static int run_once(const struct options *o);
static int run_restore(const struct options *o);
static int run_history(const struct options *o);
static int run_status(const struct options *o);
static int run_check_credentials(const struct options *o);
static int run_discover(const struct options *o);

/* Every mode: its option (with an argument: o->mode_arg), what runs it and
 * whether it runs on a manager (manager.h), which keeps the signals
 * blocked for its loop: a SIGHUP, SIGUSR1 or SIGTERM arriving while it
 * starts then waits for the loop's handlers.  A new mode is a row here,
 * its run_ function and, in check_options(), the options that go with it. */
static const struct mode_def {
	const char *option;
	bool has_arg;
	mode_run_t run;
	bool manager;
} modes[] = {
	[MODE_DAEMON]            = { NULL,                false, run_daemon,            true },
	[MODE_CHECK_CONFIG]      = { "check-config",      false, run_check_config,      false },
	[MODE_PLAN]              = { "plan",              false, run_plan,              false },
	[MODE_EXPLAIN]           = { "explain",           true,  run_plan,              false },
	[MODE_ONCE]              = { "once",              false, run_once,              true },
	[MODE_APPLY_PLAN]        = { "apply-plan",        true,  run_once,              true },
	[MODE_RESTORE]           = { "restore",           false, run_restore,           true },
	[MODE_HISTORY]           = { "history",           false, run_history,           false },
	[MODE_STATUS]            = { "status",            false, run_status,            false },
	[MODE_CHECK_CREDENTIALS] = { "check-credentials", false, run_check_credentials, true },
	[MODE_DISCOVER]          = { "discover",          false, run_discover,          true },
};

/* Exit codes, in the manner of terraform plan -detailed-exitcode. */
enum {
	EXIT_CLEAN = 0,
	EXIT_ERROR = 1,
	EXIT_CHANGES = 2,
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: csms-tagd [OPTIONS]\n"
		"Keep the tags of Huawei Cloud CSMS secrets in their desired state.\n\n"
		"Modes (default: run as a daemon):\n"
		"      --check-config       validate the configuration and the credential files\n"
		"                           it names, and print a summary\n"
		"      --plan               print the tags that would be deleted (nothing is)\n"
		"      --explain NAME       show why each tag of secret NAME is kept or deleted\n"
		"      --once               run one reconcile pass against the API and exit\n"
		"      --apply-plan FILE    one pass that deletes only what the reviewed plan\n"
		"                           FILE lists and the configuration still deletes\n"
		"      --restore            recreate the tags deleted in a time window\n"
		"      --history            show the deletion ledger\n\n"
		"      --status             show the daemon's last pass, counters and next pass\n"
		"      --check-credentials  send one authenticated read-only request\n"
		"      --discover           list the projects and organization accounts the\n"
		"                           identity can reach (read-only)\n\n"
		"Options:\n"
		"  -c, --config FILE        configuration file (default %s)\n"
		"      --no-credentials     with --check-config: do not read the credential\n"
		"                           files (for ExecReload=, which cannot read them)\n"
		"      --observed FILE      with --plan, --explain: a captured ListResourceInstances\n"
		"                           answer (default: read the project, read-only)\n"
		"      --json               machine-readable output for --plan, --history,\n"
		"                           --discover\n"
		"      --dry-run            with --once, --apply-plan, --restore: change nothing\n"
		"      --save-plan FILE     with --once --dry-run: write the plan for review\n"
		"      --max-plan-age SPAN  with --apply-plan: refuse older plans (default 24h)\n"
		"      --since TIME         with --restore: first deletion to undo (required)\n"
		"      --until TIME         with --restore: last deletion to undo\n"
		"                           TIME: YYYY-MM-DD[ HH:MM[:SS]] (local), RFC 3339\n"
		"                           with Z or +HH:MM, or @EPOCH\n"
		"      --secret GLOB        with --restore, --history: only secrets whose name\n"
		"                           matches (--since also goes with --history)\n"
		"      --target GLOB        with a config of many targets: only those whose\n"
		"                           name, account or project matches (--plan,\n"
		"                           --explain, --once, --apply-plan, --restore,\n"
		"                           --history, --status)\n"
		"      --from FILE|-        with --restore: read journalctl -o json output\n"
		"                           instead of the deletion ledger\n"
		"      --unit UNIT          with --restore: read the journal of UNIT (e.g.\n"
		"                           csms-tagd@NAME.service) instead of the ledger\n"
		"      --state-file FILE    with --status (default " STATE_DIRECTORY_DEFAULT "/" METRICS_STATE_FILE ")\n"
		"      --instance NAME      with --status: of csms-tagd@NAME.service\n"
		"      --log-level LEVEL    debug, info, notice, warning, err (default info)\n"
		"      --log-target TARGET  auto, stderr, journal or json (default auto)\n"
		"  -h, --help               show this help\n"
		"      --version            show the version\n\n"
		"See csms-tagd(8) and csms-tagd.conf(5).\n",
		DEFAULT_CONFIG);
}

/* The options that are not modes: where each one goes in struct options.
 * FLAG sets a bool, STRING keeps the argument; the rest are parsed by
 * parse_special(). */
enum opt_kind { OPT_STRING, OPT_FLAG, OPT_SPECIAL };

static const struct opt {
	const char *name;
	enum opt_kind kind;
	size_t offset;                  /* OPT_STRING, OPT_FLAG: the field */
} opts[] = {
	{ "config",         OPT_STRING, offsetof(struct options, config_path) },
	{ "no-credentials", OPT_FLAG,   offsetof(struct options, no_credentials) },
	{ "observed",       OPT_STRING, offsetof(struct options, observed_path) },
	{ "json",           OPT_FLAG,   offsetof(struct options, json) },
	{ "dry-run",        OPT_FLAG,   offsetof(struct options, dry_run) },
	{ "save-plan",      OPT_STRING, offsetof(struct options, save_plan) },
	{ "max-plan-age",   OPT_SPECIAL, 0 },
	{ "since",          OPT_STRING, offsetof(struct options, since) },
	{ "until",          OPT_STRING, offsetof(struct options, until) },
	{ "secret",         OPT_STRING, offsetof(struct options, secret_glob) },
	{ "target",         OPT_STRING, offsetof(struct options, target_glob) },
	{ "from",           OPT_STRING, offsetof(struct options, from) },
	{ "unit",           OPT_STRING, offsetof(struct options, unit) },
	{ "state-file",     OPT_STRING, offsetof(struct options, state_file) },
	{ "instance",       OPT_STRING, offsetof(struct options, instance) },
	{ "log-level",      OPT_SPECIAL, 0 },
	{ "log-target",     OPT_SPECIAL, 0 },
	{ "help",           OPT_SPECIAL, 0 },
	{ "version",        OPT_SPECIAL, 0 },
};

/* getopt values: modes are OPT_MODE_BASE + enum mode, options
 * OPT_BASE + their index in opts[]. */
#define OPT_MODE_BASE 256
#define OPT_BASE 512

static int parse_special(const char *name, const char *arg, struct options *o)
{
	if (streq_ptr(name, "max-plan-age")) {
		if (parse_timespan(arg, &o->max_plan_age_usec) < 0 || o->max_plan_age_usec == 0) {
			fprintf(stderr, "csms-tagd: --max-plan-age: '%s' is not a time span (e.g. 2h, 30min)\n", arg);
			return -EINVAL;
		}
	} else if (streq_ptr(name, "log-level")) {
		o->log_level = log_parse_level(arg);
		if (o->log_level < 0) {
			fprintf(stderr, "csms-tagd: --log-level: unknown level '%s'\n", arg);
			return -EINVAL;
		}
	} else if (streq_ptr(name, "log-target")) {
		static const char *const targets[] = {
			[LOG_TARGET_AUTO] = "auto", [LOG_TARGET_STDERR] = "stderr",
			[LOG_TARGET_JOURNAL] = "journal", [LOG_TARGET_JSON] = "json",
		};
		size_t i = 0;

		while (i < ELEMENTSOF(targets) && !streq_ptr(targets[i], arg))
			i++;
		if (i == ELEMENTSOF(targets)) {
			fprintf(stderr, "csms-tagd: --log-target: expected auto, stderr, journal or json\n");
			return -EINVAL;
		}
		o->log_target = (enum log_target) i;
	} else if (streq_ptr(name, "help")) {
		usage(stdout);
		exit(EXIT_SUCCESS);
	} else {
		printf("csms-tagd %s\n", PACKAGE_VERSION);
		exit(EXIT_SUCCESS);
	}
	return 0;
}

/* The getopt table, from modes[] and opts[]. */
static void build_longopts(struct option *lo)
{
	size_t n = 0;

	for (size_t m = 0; m < ELEMENTSOF(modes); m++)
		if (modes[m].option)
			lo[n++] = (struct option) { modes[m].option, modes[m].has_arg ? required_argument :
			                            no_argument, NULL, (int) (OPT_MODE_BASE + m) };
	for (size_t i = 0; i < ELEMENTSOF(opts); i++)
		lo[n++] = (struct option) { opts[i].name, opts[i].kind == OPT_FLAG ||
		                            streq_ptr(opts[i].name, "help") || streq_ptr(opts[i].name, "version") ?
		                            no_argument : required_argument, NULL, (int) (OPT_BASE + i) };
	lo[n] = (struct option) {};
}

static int parse_one(int c, const char *arg, struct options *o, int *n_modes)
{
	const struct opt *op;

	for (size_t i = 0; (c == 'c' || c == 'h') && i < ELEMENTSOF(opts); i++)
		if (streq_ptr(opts[i].name, c == 'c' ? "config" : "help"))
			c = OPT_BASE + (int) i;
	if (c >= OPT_MODE_BASE && c < OPT_MODE_BASE + (int) ELEMENTSOF(modes)) {
		o->mode = (enum mode) (c - OPT_MODE_BASE);
		o->mode_arg = arg;
		(*n_modes)++;
		return 0;
	}
	if (c < OPT_BASE || c >= OPT_BASE + (int) ELEMENTSOF(opts)) {
		usage(stderr);
		return -EINVAL;
	}
	op = &opts[c - OPT_BASE];
	if (op->kind == OPT_STRING)
		*(const char **) ((char *) o + op->offset) = arg;
	else if (op->kind == OPT_FLAG)
		*(bool *) ((char *) o + op->offset) = true;
	else
		return parse_special(op->name, arg, o);
	return 0;
}

static int check_options(const struct options *o);

static int parse_options(int argc, char **argv, struct options *o)
{
	struct option longopts[ELEMENTSOF(modes) + ELEMENTSOF(opts) + 1];
	int c, n_modes = 0;

	build_longopts(longopts);
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) >= 0)
		if (parse_one(c, optarg, o, &n_modes) < 0)
			return -EINVAL;
	if (optind < argc) {
		fprintf(stderr, "csms-tagd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (n_modes > 1) {
		fprintf(stderr, "csms-tagd: choose one of --check-config, --check-credentials, --plan, "
		        "--explain, --once, --apply-plan, --restore, --history, --status, --discover\n");
		return -EINVAL;
	}
	return check_options(o);
}

/* Options that only go with some modes. */
static int check_options(const struct options *o)
{
	if (o->save_plan && !(o->mode == MODE_ONCE && o->dry_run)) {
		fprintf(stderr, "csms-tagd: --save-plan goes with --once --dry-run\n");
		return -EINVAL;
	}
	if (o->max_plan_age_usec && o->mode != MODE_APPLY_PLAN) {
		fprintf(stderr, "csms-tagd: --max-plan-age goes with --apply-plan\n");
		return -EINVAL;
	}
	if ((o->since || o->secret_glob) && o->mode != MODE_RESTORE && o->mode != MODE_HISTORY) {
		fprintf(stderr, "csms-tagd: --since and --secret go with --restore or --history\n");
		return -EINVAL;
	}
	if (o->target_glob && o->mode != MODE_PLAN && o->mode != MODE_EXPLAIN && o->mode != MODE_ONCE &&
	    o->mode != MODE_APPLY_PLAN && o->mode != MODE_RESTORE && o->mode != MODE_HISTORY &&
	    o->mode != MODE_STATUS) {
		fprintf(stderr, "csms-tagd: --target goes with --plan, --explain, --once, --apply-plan, "
		        "--restore, --history or --status\n");
		return -EINVAL;
	}
	if ((o->until || o->from || o->unit) && o->mode != MODE_RESTORE) {
		fprintf(stderr, "csms-tagd: --until, --from and --unit go with --restore\n");
		return -EINVAL;
	}
	if (o->mode == MODE_RESTORE && !o->since) {
		fprintf(stderr, "csms-tagd: --restore needs --since TIME\n");
		return -EINVAL;
	}
	if (o->observed_path && o->mode != MODE_PLAN && o->mode != MODE_EXPLAIN) {
		fprintf(stderr, "csms-tagd: --observed goes with --plan or --explain\n");
		return -EINVAL;
	}
	if (o->dry_run && o->mode != MODE_ONCE && o->mode != MODE_APPLY_PLAN && o->mode != MODE_RESTORE) {
		fprintf(stderr, "csms-tagd: --dry-run goes with --once, --apply-plan or --restore "
		        "(the daemon reads dry_run from the config)\n");
		return -EINVAL;
	}
	if (o->no_credentials && o->mode != MODE_CHECK_CONFIG) {
		fprintf(stderr, "csms-tagd: --no-credentials goes with --check-config\n");
		return -EINVAL;
	}
	if ((o->state_file || o->instance) && o->mode != MODE_STATUS) {
		fprintf(stderr, "csms-tagd: --state-file and --instance go with --status\n");
		return -EINVAL;
	}
	if (o->json && o->mode != MODE_PLAN && o->mode != MODE_HISTORY && o->mode != MODE_DISCOVER) {
		fprintf(stderr, "csms-tagd: --json goes with --plan, --history or --discover\n");
		return -EINVAL;
	}
	return 0;
}

static int load_config(const char *path, unsigned flags, struct config **ret)
{
	_cleanup_free_ char *error = NULL;
	int r = config_load(path, flags, ret, &error);

	if (r < 0)
		fprintf(stderr, "csms-tagd: %s\n", error ? error : strerror(-r));
	return r;
}

static int load_observed(const char *path, struct observation *o)
{
	_cleanup_free_ char *body = NULL, *error = NULL;
	int64_t total = 0;
	size_t n = 0, len = 0;
	int r;

	r = read_file(path, MAX_OBSERVED_BYTES, &body, &len);
	if (r < 0) {
		fprintf(stderr, "csms-tagd: %s: %s\n", path, strerror(-r));
		return r;
	}
	r = decode_resource_instances(body, len, o, &total, &n, &error);
	if (r < 0) {
		fprintf(stderr, "csms-tagd: %s: %s\n", path, error ? error : strerror(-r));
		return r;
	}
	if (total >= 0 && (uint64_t) total != n)
		fprintf(stderr, "csms-tagd: %s: warning: total_count is %lld but %zu resources are listed\n",
		        path, (long long) total, n);
	return 0;
}

/* --observed FILE, or else the project itself, read-only (live.h). */
static int get_observation(const struct options *o, const struct config *c, struct observation *obs)
{
	_cleanup_free_ char *error = NULL;
	int r;

	if (o->observed_path)
		return load_observed(o->observed_path, obs);
	fprintf(stderr, "csms-tagd: reading project %s at %s (read-only: nothing is deleted)\n",
	        c->csms.project_id, c->csms.endpoint);
	r = live_observe(c, obs, &error);
	if (r < 0)
		fprintf(stderr, "csms-tagd: %s\n", error ? error : strerror(-r));
	return r;
}

/* Exemptions end on a date: say so while there is time to renew one. */
static void warn_exemptions(const struct config *c)
{
	uint64_t now = now_realtime_usec();
	char when[32];

	printf("  exemptions:        %zu\n", c->n_exemptions);
	for (size_t i = 0; i < c->n_exemptions; i++) {
		const struct exemption *e = &c->exemptions[i];

		format_utc_time(when, sizeof(when), e->expires_usec);
		if (e->expires_usec <= now)
			fprintf(stderr, "csms-tagd: warning: %s:%u: exemption \"%s\" expired on %s; "
			        "its tags go by the rules again\n", config_file_name(c, e->file), e->line, e->name, when);
		else if (e->expires_usec - now <= CONFIG_EXEMPTION_WARN_USEC)
			fprintf(stderr, "csms-tagd: warning: %s:%u: exemption \"%s\" expires on %s, "
			        "within 7 days\n", config_file_name(c, e->file), e->line, e->name, when);
	}
}

/* The grace clocks as the daemon stored them in its ledger: --plan and
 * --explain show the due times the next pass would judge by. */
static void load_clocks(const struct config *c, const char *target, struct grace_clocks *clocks)
{
	_cleanup_free_ char *dir = NULL;
	struct grace_clocks kept = {};
	struct grace_stamp stamp;
	struct ledger *l = NULL, *scoped = NULL;
	int r;

	if (!config_uses_grace(c) || ledger_directory(c->daemon.state_directory, c->path, &dir) < 0)
		return;
	r = ledger_open(dir, &l);
	if (r >= 0 && target)
		r = ledger_target(l, target, NULL, NULL, NULL, &scoped);
	if (r >= 0)
		r = ledger_clocks_load(scoped ? scoped : l, now_realtime_usec(), clocks, &kept, NULL, &stamp);
	/* No state directory yet: no pass has run, no clock has started. */
	if (r < 0 && r != -ENOENT)
		fprintf(stderr, "csms-tagd: warning: the ledger in %s: %s; every grace period is shown as "
		        "starting now\n", dir, strerror(-r));
	grace_clocks_clear(&kept);
	ledger_close(scoped);
	ledger_close(l);
}

static int run_check_config(const struct options *o)
{
	struct config *c;
	size_t globs = 0;
	int r;

	if (load_config(o->config_path, CONFIG_REFUSE_PLACEHOLDER |
	                (o->no_credentials ? 0 : CONFIG_CHECK_CREDENTIALS), &c) < 0)
		return EXIT_ERROR;
	config_print_access(c, stderr);
	for (size_t i = 0; i < c->n_sections; i++)
		globs += c->sections[i].is_glob;
	printf("%s: configuration is valid%s\n", c->path,
	       o->no_credentials ? " (credential files not read)" : "");
	printf("  governed sections: %zu (%zu exact, %zu glob)\n", c->n_sections, c->n_sections - globs, globs);
	printf("  auth method:       %s\n", auth_method_to_string(c->auth.method));
	printf("  endpoint:          %s\n", c->csms.endpoint);
	if (c->organisation)
		config_print_targets(c, stdout);
	else
		printf("  project:           %s (%s)\n", c->csms.project_id, c->csms.region);
	printf("  dry run:           %s\n", c->daemon.dry_run ? "yes" : "no");
	printf("  deletion limit:    %u per pass\n", c->daemon.max_deletes_per_pass);
	if (c->daemon.state_directory && (r = ledger_check_directory(c->daemon.state_directory)) < 0) {
		fprintf(stderr, "csms-tagd: %s: state_directory = %s: %s (the deletion ledger and the grace "
		        "clocks live there)\n", c->path, c->daemon.state_directory, strerror(-r));
		config_free(c);
		return EXIT_ERROR;
	}
	warn_exemptions(c);
	config_print_sources(c, stdout);
	config_free(c);
	return EXIT_CLEAN;
}

/* The plan (--plan) or the explanation (--explain) of one project: C is
 * the config, or a target's view (TARGET its key, for its grace clocks).
 * With JSON_OUT (--plan --json of targets) the plan is appended there,
 * else printed.  Returns EXIT_CLEAN, EXIT_CHANGES or EXIT_ERROR. */
static int plan_one(const struct options *o, const struct config *c, const char *target, json_t *json_out)
{
	struct observation obs = {};
	struct plan plan = {};
	struct grace_clocks clocks = {};
	struct plan_time t = { .now_usec = now_realtime_usec(), .clocks = &clocks };
	int ret = EXIT_ERROR, r;

	if (get_observation(o, c, &obs) < 0)
		goto out;
	load_clocks(c, target, &clocks);
	if (o->mode == MODE_EXPLAIN) {
		r = plan_explain(c, &obs, &t, o->mode_arg, stdout);
		if (r == -ENOENT)
			fprintf(stderr, "csms-tagd: %s: no secret named '%s'\n",
			        o->observed_path ? o->observed_path : "the project", o->mode_arg);
		/* Of many targets, those without the secret are no error. */
		ret = r >= 0 || (r == -ENOENT && target) ? EXIT_CLEAN : EXIT_ERROR;
		goto out;
	}
	if (plan_compute(c, &obs, &t, &plan) < 0) {
		fprintf(stderr, "csms-tagd: out of memory\n");
		goto out;
	}
	if (o->json) {
		json_t *j = plan_to_json(&plan);

		if (!j)
			goto out;
		if (json_out) {
			if (json_array_append_new(json_out, json_pack("{s:s, s:o, s:s, s:s, s:o}",
			    "target", c->csms.target_name, "account_id", c->csms.account_id ?
			    json_string(c->csms.account_id) : json_null(), "region", c->csms.region,
			    "project_id", c->csms.project_id, "plan", j)) < 0)
				goto out;
		} else {
			r = json_dumpf(j, stdout, JSON_INDENT(2));
			json_decref(j);
			if (r < 0)
				goto out;
			putchar('\n');
		}
	} else
		plan_print_table(&plan, stdout);
	ret = plan.n > 0 ? EXIT_CHANGES : EXIT_CLEAN;
out:
	plan_clear(&plan);
	grace_clocks_clear(&clocks);
	observation_clear(&obs);
	return ret;
}

/* --plan/--explain of every selected target, one after the other: a hand
 * run, read-only, where one target's failure does not hide the others'. */
static int plan_targets(const struct options *o, const struct config *c)
{
	struct org_selection sel = {};
	json_t *all = o->json && o->mode == MODE_PLAN ? json_array() : NULL;
	int ret = EXIT_CLEAN;
	size_t n;

	if ((o->json && o->mode == MODE_PLAN && !all) || org_select(c, o->target_glob, &sel) < 0) {
		fprintf(stderr, "csms-tagd: out of memory\n");
		json_decref(all);
		return EXIT_ERROR;
	}
	n = sel.n;
	if (!n)
		fprintf(stderr, "csms-tagd: no target of %s matches %s%s\n", c->path,
		        o->target_glob ? o->target_glob : "*", sel.no_ledger && c->discover.enabled ?
		        " (no discovery has run yet: csms-tagd --discover shows what it would find)" : "");
	if (o->observed_path && n != 1) {
		fprintf(stderr, "csms-tagd: --observed is one project's listing: give --target naming "
		        "exactly one target (%zu match)\n", n);
		n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct config *view = NULL;
		char what[512];
		int r;

		if (config_target_view(c, &sel.v[i], &view) < 0) {
			ret = EXIT_ERROR;
			break;
		}
		if (!o->json)
			printf("%sTarget %s%s:\n", i ? "\n" : "", target_describe(&sel.v[i], what, sizeof(what)),
			       sel.v[i].discovered ? ", discovered" : "");
		r = plan_one(o, view, sel.v[i].project_id, all);
		config_free(view);
		if (r == EXIT_ERROR)
			ret = EXIT_ERROR;
		else if (r == EXIT_CHANGES && ret == EXIT_CLEAN)
			ret = EXIT_CHANGES;
	}
	if (all) {
		json_t *root = json_pack("{s:o}", "targets", all);

		if (!root || json_dumpf(root, stdout, JSON_INDENT(2)) < 0)
			ret = EXIT_ERROR;
		putchar('\n');
		json_decref(root);
	}
	org_selection_clear(&sel);
	return n ? ret : EXIT_ERROR;
}

/* --plan and --explain. */
static int run_plan(const struct options *o)
{
	struct config *c = NULL;
	int ret;

	if (load_config(o->config_path, o->observed_path ? 0 : CONFIG_CHECK_CREDENTIALS, &c) < 0)
		return EXIT_ERROR;
	if (c->organisation)
		ret = plan_targets(o, c);
	else if (o->target_glob) {
		fprintf(stderr, "csms-tagd: --target needs a configuration with [target] or [discover] "
		        "sections; %s governs one project\n", c->path);
		ret = EXIT_ERROR;
	} else
		ret = plan_one(o, c, NULL, NULL);
	config_free(c);
	return ret;
}

static int parse_restore_time(const char *opt, const char *s, uint64_t *ret)
{
	int r = parse_time(s, ZONE_LOCAL, ret);

	if (r >= 0)
		return 0;
	if (parse_time_problem(r)) {
		fprintf(stderr, "csms-tagd: %s: cannot use '%s': %s\n", opt, s, parse_time_problem(r));
		return -EINVAL;
	}
	fprintf(stderr, "csms-tagd: %s: cannot use '%s': give YYYY-MM-DD[ HH:MM[:SS]] (local time), "
	        "RFC 3339 with Z or +HH:MM, or @EPOCH (relative times such as '-1h' or 'yesterday' "
	        "are refused)\n", opt, s);
	return -EINVAL;
}

static int run_restore(const struct options *o)
{
	struct restore_options ro = {
		.filter = { .until_usec = UINT64_MAX, .secret_glob = o->secret_glob, .unit = o->unit,
		            .target_glob = o->target_glob },
		.from = o->from,
		.dry_run = o->dry_run,
	};

	if (parse_restore_time("--since", o->since, &ro.filter.since_usec) < 0 ||
	    (o->until && parse_restore_time("--until", o->until, &ro.filter.until_usec) < 0))
		return EXIT_ERROR;
	if (ro.filter.until_usec < ro.filter.since_usec) {
		fprintf(stderr, "csms-tagd: --until is before --since\n");
		return EXIT_ERROR;
	}
	/* The ledger by default; the journal of a unit, or a journal export
	 * (a lost host's), only when asked for. */
	ro.from_journal = !ro.from && ro.filter.unit;
	return restore_run(o->config_path, &ro);
}

static int run_history(const struct options *o)
{
	struct history_options ho = { .secret_glob = o->secret_glob, .target_glob = o->target_glob,
	                              .json = o->json };

	if (o->since && parse_restore_time("--since", o->since, &ho.since_usec) < 0)
		return EXIT_ERROR;
	return history_run(o->config_path, &ho) == 0 ? EXIT_CLEAN : EXIT_ERROR;
}

static int run_status(const struct options *o)
{
	return status_run(o->state_file, o->instance, o->target_glob);
}

static int run_check_credentials(const struct options *o)
{
	struct config *c;
	int r;

	if (load_config(o->config_path, CONFIG_CHECK_CREDENTIALS, &c) < 0)
		return EXIT_ERROR;
	r = credcheck_run(c, stdout);
	config_free(c);
	return r < 0 ? EXIT_ERROR : EXIT_CLEAN;
}

static int run_discover(const struct options *o)
{
	return discover_main(o->config_path, o->json);
}

static int run_once(const struct options *o)
{
	struct once_options once = {
		.dry_run = o->dry_run,
		.save_plan = o->save_plan,
		.apply_plan = o->mode == MODE_APPLY_PLAN ? o->mode_arg : NULL,
		.max_plan_age_usec = o->max_plan_age_usec ? o->max_plan_age_usec : DEFAULT_MAX_PLAN_AGE_USEC,
		.target_glob = o->target_glob,
	};

	return daemon_run_once(o->config_path, &once);
}

static int run_daemon(const struct options *o)
{
	return daemon_run(o->config_path);
}

int main(int argc, char **argv)
{
	sigset_t mask;

	/* Before anything else: a SIGHUP or SIGUSR1 (a reload, a status
	 * request) that arrives while starting must wait for the event loop's
	 * handlers, not kill the process.  Modes without an event loop take
	 * the default actions back below. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	(void) sigprocmask(SIG_BLOCK, &mask, NULL);

	struct options o = {
		.config_path = DEFAULT_CONFIG,
		.log_level = LOG_INFO,
		.log_target = LOG_TARGET_AUTO,
	};

	/* No core dump, no ptrace by other processes of the same user: the
	 * memory holds the SK, a token or the password (the units also set
	 * LimitCORE=0).  First thing, before any credential is read. */
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (parse_options(argc, argv, &o) < 0)
		return EXIT_ERROR;
	/* Answer bodies of up to a few MB come and go every pass.  A fixed
	 * mmap threshold keeps them out of the heap (glibc would otherwise
	 * raise it after the first free and let them fragment the heap), so a
	 * daemon that runs for months keeps a flat RSS. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	log_open(o.log_target);
	log_set_max_level(o.log_level);
	/* Modes without an event loop take the default actions back (a
	 * manager blocks them again for its own loop, manager.h). */
	if (!modes[o.mode].manager)
		(void) sigprocmask(SIG_UNBLOCK, &mask, NULL);
	return modes[o.mode].run(&o);
}
