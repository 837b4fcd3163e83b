/* discover-run.c - csms-tagd --discover: the projects the configured
 * identity can use, then the organisation's member accounts as its base
 * identity sees them (discover.h), printed as tables or JSON.  A job on the
 * manager (manager.h): SIGTERM/SIGINT end it ("interrupted") after the same
 * drain as the daemon's; SIGHUP and SIGUSR1 are ignored. */
#include "discover.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "manager.h"
#include "util.h"

#define NOT_MANAGEMENT_CODE "Organizations.1001"

struct run {
	struct manager *manager;
	sd_event_source *deadline;
	bool done;
	struct http *http;
	struct discover *d;             /* as the configured identity */
	struct discover *org;           /* as its base identity (auth_base()) */
	const struct config *c;
	int r;
	struct discover_projects projects;
	struct discover_accounts accounts;
	bool accounts_listed;
	char *accounts_note;    /* why there is no account list */
};

static void stop(struct run *run, int r)
{
	if (run->done)
		return;
	run->done = true;
	run->r = r;
	manager_done(run->manager);
}

static void on_accounts(int r, const char *error, long status, const char *code,
                        struct discover_accounts *accounts, void *userdata)
{
	struct run *run = userdata;

	if (r < 0 && status == 401 && streq_ptr(code, NOT_MANAGEMENT_CODE)) {
		run->accounts_note = xasprintf("not listed: the identity is not the management account "
		                               "of an organization (%s)", code);
		stop(run, 0);
		return;
	}
	if (r < 0) {
		log_error("Listing the organization's accounts failed: %s", error ? error : strerror(-r));
		stop(run, r);
		return;
	}
	run->accounts = *accounts;
	*accounts = (struct discover_accounts) {};
	run->accounts_listed = true;
	stop(run, 0);
}

static void on_projects(int r, const char *error, long status, const char *code,
                        struct discover_projects *projects, void *userdata)
{
	struct run *run = userdata;

	(void) status;
	(void) code;
	if (r < 0) {
		log_error("Listing the projects failed: %s", error ? error : strerror(-r));
		stop(run, r);
		return;
	}
	run->projects = *projects;
	*projects = (struct discover_projects) {};
	r = discover_list_accounts(run->org, run->c->csms.organizations_endpoint, on_accounts, run);
	if (r < 0)
		stop(run, r);
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void print_table(const struct run *run, FILE *out)
{
	fprintf(out, "Projects (%zu):\n%-32s  %-24s  %-32s  %s\n", run->projects.n, "ID", "NAME",
	        "ACCOUNT", "ENABLED");
	for (size_t i = 0; i < run->projects.n; i++) {
		const struct discover_project *p = &run->projects.v[i];

		fprintf(out, "%-32s  %-24s  %-32s  %s\n", p->id, p->name, or_dash(p->domain_id),
		        p->enabled ? "yes" : "no");
	}
	if (!run->accounts_listed) {
		fprintf(out, "\nAccounts: %s\n", run->accounts_note ? run->accounts_note : "not listed");
		return;
	}
	fprintf(out, "\nAccounts (%zu):\n%-32s  %-24s  %-16s  %s\n", run->accounts.n, "ID", "NAME",
	        "STATUS", "JOINED");
	for (size_t i = 0; i < run->accounts.n; i++) {
		const struct discover_account *a = &run->accounts.v[i];

		fprintf(out, "%-32s  %-24s  %-16s  %s\n", a->id, a->name, or_dash(a->status),
		        or_dash(a->joined_at));
	}
}

static json_t *json_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int print_json(const struct run *run, FILE *out)
{
	json_t *root = json_object(), *projects = json_array(), *accounts = NULL;
	int r = root && projects ? 0 : -ENOMEM;

	for (size_t i = 0; r >= 0 && i < run->projects.n; i++) {
		const struct discover_project *p = &run->projects.v[i];

		if (json_array_append_new(projects, json_pack("{s:s, s:s, s:o, s:o, s:b, s:b}",
		                          "id", p->id, "name", p->name, "domain_id", json_str(p->domain_id),
		                          "parent_id", json_str(p->parent_id), "enabled", p->enabled,
		                          "is_domain", p->is_domain)) < 0)
			r = -ENOMEM;
	}
	if (run->accounts_listed && !(accounts = json_array()))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && accounts && i < run->accounts.n; i++) {
		const struct discover_account *a = &run->accounts.v[i];

		if (json_array_append_new(accounts, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}",
		                          "id", a->id, "name", a->name, "urn", json_str(a->urn),
		                          "status", json_str(a->status), "join_method",
		                          json_str(a->join_method), "joined_at",
		                          json_str(a->joined_at))) < 0)
			r = -ENOMEM;
	}
	if (r >= 0 && (json_object_set(root, "projects", projects) < 0 ||
	               json_object_set(root, "accounts", accounts ? accounts : json_null()) < 0 ||
	               json_object_set_new(root, "accounts_note", json_str(run->accounts_note)) < 0 ||
	               json_dumpf(root, out, JSON_INDENT(2)) < 0))
		r = -ENOMEM;
	if (r >= 0)
		fputc('\n', out);
	json_decref(projects);
	json_decref(accounts);
	json_decref(root);
	return r;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct run *run = userdata;

	if (!run->done)
		log_error("Discovery: no answer within pass_timeout");
	stop(run, -ETIMEDOUT);
	return 0;
}

static int run_start(void *job)
{
	struct run *run = job;
	int r;

	r = manager_arm(run->manager, &run->deadline, "deadline",
	                manager_now(run->manager) + run->c->daemon.pass_timeout_usec, 0, on_deadline,
	                run);
	if (r < 0)
		return r;
	return discover_list_projects(run->d, run->c->csms.iam_endpoint, on_projects, run);
}

static void run_stop(void *job, const char *why)
{
	struct run *run = job;

	discover_cancel(run->d);
	discover_cancel(run->org);
	if (!run->done)
		log_error("Discovery: interrupted (%s)", why);
	stop(run, -EINTR);
}

static size_t run_pending(void *job)
{
	struct run *run = job;

	return http_pending(run->http);
}

static const struct job_ops run_ops = {
	.name = "--discover",
	.start = run_start,
	.stop = run_stop,
	.pending = run_pending,
};

int discover_run(const struct config *c, bool as_json, FILE *out)
{
	struct http_options ho = {
		.ca_file = c->csms.ca_file,
		.timeout_usec = c->daemon.request_timeout_usec,
		.max_parallel = 1,
		.user_agent = "csms-tagd/" PACKAGE_VERSION,
	};
	_cleanup_free_ char *error = NULL;
	struct run run = { .c = c, .r = -EIO };
	struct auth *a = NULL;
	int r;

	if ((r = manager_new(&run.manager)) < 0 ||
	    (r = http_new(manager_event(run.manager), &ho, &run.http)) < 0)
		goto out;
	r = auth_new(c, run.http, &a, &error);
	if (r < 0) {
		log_error("%s", error ? error : strerror(-r));
		goto out;
	}
	if ((r = discover_new(run.http, a, &run.d)) < 0 ||
	    (r = discover_new(run.http, auth_base(a), &run.org)) < 0)
		goto out;
	r = manager_run(run.manager, &run_ops, &run);
	if (r < 0 && !run.done)
		goto out;
	r = run.r;
	if (r >= 0)
		r = as_json ? print_json(&run, out) : (print_table(&run, out), 0);
out:
	discover_free(run.d);
	discover_free(run.org);
	auth_free(a);
	http_free(run.http);
	sd_event_source_disable_unref(run.deadline);
	manager_free(run.manager);
	discover_projects_clear(&run.projects);
	discover_accounts_clear(&run.accounts);
	free(run.accounts_note);
	return r;
}

int discover_main(const char *config_path, bool as_json)
{
	_cleanup_free_ char *error = NULL;
	struct config *c = NULL;
	int r;

	r = config_load(config_path, 0, &c, &error);
	if (r < 0) {
		fprintf(stderr, "csms-tagd: %s\n", error ? error : strerror(-r));
		return 1;
	}
	r = discover_run(c, as_json, stdout);
	config_free(c);
	return r < 0 ? 1 : 0;
}
