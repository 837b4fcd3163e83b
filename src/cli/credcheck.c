/* credcheck.c - csms-tagd --check-credentials, as a job on the manager
 * (manager.h): SIGTERM/SIGINT end the check ("interrupted") after the same
 * drain as the daemon's; SIGHUP and SIGUSR1 are ignored. */
#include "credcheck.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "csms.h"
#include "manager.h"
#include "redact.h"
#include "util.h"

struct check {
	struct csms *client;
	struct manager *manager;
	sd_event_source *deadline;
	uint64_t timeout_usec;
	bool done;
	int r;
	char result[512];
};

static void finish(struct check *k, int r, const char *fmt, ...) _printf_(3, 4);
static void finish(struct check *k, int r, const char *fmt, ...)
{
	va_list ap;

	if (k->done)
		return;
	k->done = true;
	k->r = r;
	va_start(ap, fmt);
	vsnprintf(k->result, sizeof(k->result), fmt, ap);
	va_end(ap);
	manager_done(k->manager);
}

static void on_listed(const struct csms_result *res, void *userdata)
{
	struct check *k = userdata;
	char why[256];

	if (res->r >= 0) {
		finish(k, 0, "ok: ListSecrets answered HTTP %ld (request id %s)", res->status,
		       res->request_id ? res->request_id : "none");
		return;
	}
	csms_result_describe(res, why, sizeof(why));
	finish(k, res->status == 401 || res->status == 403 ? -EACCES : res->r,
	       "failed: ListSecrets: %s", why);
}

static void on_auth(int r, const char *error, void *userdata)
{
	struct check *k = userdata;

	if (r < 0) {
		finish(k, r, "failed: cannot obtain credentials: %s", error ? error : strerror(-r));
		return;
	}
	csms_list_secrets(k->client, k, NULL, 1, on_listed, k);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	finish(userdata, -ETIMEDOUT, "failed: no answer within pass_timeout");
	return 0;
}

static int check_start(void *job)
{
	struct check *k = job;
	int r;

	r = manager_arm(k->manager, &k->deadline, "deadline", manager_now(k->manager) + k->timeout_usec,
	                0, on_deadline, k);
	if (r < 0)
		return r;
	csms_ensure_auth(k->client, on_auth, k);
	return 0;
}

static void check_stop(void *job, const char *why)
{
	struct check *k = job;

	csms_cancel(k->client, k);
	finish(k, -EINTR, "failed: interrupted (%s)", why);
}

static size_t check_pending(void *job)
{
	struct check *k = job;

	return csms_pending(k->client);
}

static const struct job_ops check_ops = {
	.name = "--check-credentials",
	.start = check_start,
	.stop = check_stop,
	.pending = check_pending,
};

int credcheck_run(const struct config *c, FILE *out)
{
	_cleanup_free_ char *error = NULL;
	struct check k = { .r = -EIO, .timeout_usec = c->daemon.pass_timeout_usec };
	const struct auth_settings *a = &c->auth;
	int r;

	fprintf(out, "method:  %s", auth_method_to_string(a->method));
	if (a->method == AUTH_PASSWORD)
		fprintf(out, " (user %s, domain %s)", a->user ? a->user : "?", a->domain ? a->domain : "?");
	if (a->method == AUTH_AGENCY)
		fprintf(out, " (agency %s of account %s, base %s, api %s)", a->agency.name ? a->agency.name : "?",
		        a->agency.account_id ? a->agency.account_id : a->agency.domain ? a->agency.domain : "?",
		        auth_method_to_string(a->base), agency_api_to_string(a->agency.api));
	fprintf(out, "\nproject: %s (%s) at %s\n", c->csms.project_id ? c->csms.project_id : "?",
	        c->csms.region ? c->csms.region : "?", c->csms.endpoint ? c->csms.endpoint : "?");

	r = manager_new(&k.manager);
	if (r < 0)
		goto out;
	r = csms_new(manager_event(k.manager), c, &k.client, &error);
	if (r < 0) {
		snprintf(k.result, sizeof(k.result), "failed: %s", error ? error : strerror(-r));
		k.r = r;
		goto print;
	}
	r = manager_run(k.manager, &check_ops, &k);
	if (r < 0 && !k.done)
		goto out;
print:
	/* The result may quote the server, which may echo the request. */
	redact(k.result);
	fprintf(out, "result:  %s\n", k.result);
	r = k.r;
out:
	sd_event_source_disable_unref(k.deadline);
	csms_free(k.client);
	manager_free(k.manager);
	return r;
}
