/* restore-run.c - the --restore command: read the deletion records, read
 * each secret's tags, and create what is absent right after (restore.h).
 * At most RESTORE_WINDOW secrets are between their read and their last
 * create, so a create never waits behind the reads of other secrets.
 *
 * One object, the restorer, owns every call (csms owner token: itself).
 * It runs as a job on the manager (manager.h): SIGTERM/SIGINT cancel what
 * waits and drain the requests in flight for up to 5 s, as the daemon
 * does; SIGHUP and SIGUSR1 are ignored.  A create already handed to curl
 * finishes or not; running --restore again is safe, it then reports
 * already-present.
 */
#include "restore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "csms.h"
#include "ledger.h"
#include "log.h"
#include "org-targets.h"
#include "manager.h"
#include "records.h"
#include "util.h"

enum { OUTCOME_FAILED = RESTORE_INVALID + 1, N_OUTCOMES };

#define RESTORE_WINDOW 4

struct create_ref {
	struct restorer *rs;
	size_t index;
};

struct restorer {
	struct manager *manager;
	const struct config *cfg;
	struct csms *client;
	const struct restore_options *opt;
	struct restore_set *set;
	size_t *group_of;       /* item -> first item of its secret */
	int *outcome;           /* per item: enum restore_verdict or OUTCOME_FAILED */
	struct create_ref *refs;        /* per item: callback context of its calls */
	unsigned *creating;             /* per first item of a secret: creates in flight */
	size_t next;                    /* next item to consider for a read */
	unsigned secrets_open;          /* secrets read or being created */
	unsigned outstanding;
	bool creates_sent;
	bool failed;            /* auth failed or interrupted */
	size_t counts[N_OUTCOMES];
};

static const char *outcome_name(int o)
{
	return o == OUTCOME_FAILED ? "failed" : restore_verdict_to_string((enum restore_verdict) o);
}

static void log_outcome(struct restorer *rs, size_t i, int o, const char *current,
                        const struct csms_result *res, const char *detail)
{
	const struct deletion_record *d = &rs->set->items[i];
	char deleted_at[32], status[16] = "";

	snprintf(deleted_at, sizeof(deleted_at), "%" PRIu64, d->realtime_usec);
	if (res && res->status)
		snprintf(status, sizeof(status), "%ld", res->status);
	rs->outcome[i] = o;
	rs->counts[o]++;
	printf("%-16s %s %s\n", rs->opt->dry_run && o == RESTORE_CREATE ? "would-restore" : outcome_name(o),
	       d->secret_name, d->key);
	if (o == RESTORE_CREATE && rs->opt->dry_run) {
		log_info("Would restore tag %s=%s on secret %s [dry run]", d->key, d->value, d->secret_name);
		return;
	}
	log_event(o == RESTORE_CREATE || o == RESTORE_PRESENT ? LOG_NOTICE : LOG_WARNING,
	          o == RESTORE_CREATE ? MID_TAG_RESTORED : MID_RESTORE_NOT_DONE,
	          LOG_FIELDS({ "CSMS_SECRET_ID", d->secret_id },
	                     { "CSMS_SECRET_NAME", d->secret_name },
	                     { "CSMS_TAG_KEY", d->key },
	                     { "CSMS_TAG_VALUE", d->value },
	                     { "CSMS_DELETED_AT_USEC", deleted_at },
	                     { "CSMS_RESTORE_RESULT", outcome_name(o) },
	                     { "CSMS_CURRENT_VALUE", current },
	                     { "CSMS_REQUEST_ID", res ? res->request_id : NULL },
	                     { "HTTP_STATUS", status[0] ? status : NULL },
	                     { "CSMS_ERROR_CODE", res ? res->error_code : NULL },
	                     { RECORD_TARGET, d->target_name[0] ? d->target_name : NULL },
	                     { RECORD_PROJECT, d->target[0] ? d->target : NULL }),
	          o == RESTORE_CREATE ? "Restored tag %s=%s on secret %s%s%s" :
	          "Did not restore tag %s=%s on secret %s: %s%s",
	          d->key, d->value, d->secret_name,
	          o == RESTORE_CREATE ? "" : outcome_name(o),
	          detail ? detail : "");
}

static void maybe_done(struct restorer *rs)
{
	if (rs->outstanding == 0 && rs->next == rs->set->n)
		manager_done(rs->manager);
}

static void on_tags(const struct csms_result *res, void *userdata);

/* Read the next secrets while the window allows. */
static void read_next(struct restorer *rs)
{
	while (!rs->failed && rs->secrets_open < RESTORE_WINDOW && rs->next < rs->set->n) {
		size_t i = rs->next;

		while (rs->next < rs->set->n && rs->group_of[rs->next] == i)
			rs->next++;
		rs->secrets_open++;
		rs->outstanding++;
		csms_list_secret_tags(rs->client, rs, rs->set->items[i].secret_id, on_tags, &rs->refs[i]);
	}
	maybe_done(rs);
}

/* Secret FIRST has had all its answers: make room for the next. */
static void secret_done(struct restorer *rs, size_t first)
{
	if (rs->creating[first] == 0) {
		rs->secrets_open--;
		read_next(rs);
	}
}

static void on_create(const struct csms_result *res, void *userdata)
{
	struct create_ref *ref = userdata;
	struct restorer *rs = ref->rs;
	char why[200], detail[220];

	rs->outstanding--;
	rs->creating[rs->group_of[ref->index]]--;
	if (res->r == 0)
		log_outcome(rs, ref->index, RESTORE_CREATE, NULL, res, NULL);
	else {
		snprintf(detail, sizeof(detail), " (%s)", csms_result_describe(res, why, sizeof(why)));
		log_outcome(rs, ref->index, OUTCOME_FAILED, NULL, res, detail);
	}
	secret_done(rs, rs->group_of[ref->index]);
}

static void decide_secret(struct restorer *rs, size_t first, const struct tag_list *tags,
                          const struct csms_result *res)
{
	size_t creating = 0;

	for (size_t i = first; i < rs->set->n && rs->group_of[i] == first; i++) {
		const struct deletion_record *d = &rs->set->items[i];
		enum restore_verdict v = restore_decide(d, tags, creating);
		const struct tag *t = tags ? tag_list_find(tags, d->key) : NULL;

		if (v != RESTORE_CREATE) {
			log_outcome(rs, i, v, v == RESTORE_CONFLICT ? t->value : NULL, res,
			            v == RESTORE_CONFLICT ? " (the key exists again; never overwritten)" : NULL);
			continue;
		}
		creating++;
		if (rs->opt->dry_run) {
			log_outcome(rs, i, RESTORE_CREATE, NULL, NULL, NULL);
			continue;
		}
		rs->outstanding++;
		rs->creating[first]++;
		rs->creates_sent = true;
		csms_create_secret_tag(rs->client, rs, d->secret_id, d->key, d->value, on_create,
		                       &rs->refs[i]);
	}
}

static void on_tags(const struct csms_result *res, void *userdata)
{
	struct create_ref *ref = userdata;
	struct restorer *rs = ref->rs;
	size_t first = ref->index;
	char why[200], detail[220];

	rs->outstanding--;
	if (res->r == 0)
		decide_secret(rs, first, res->tags, res);
	else if (csms_result_is_gone(res))
		decide_secret(rs, first, NULL, res);
	else {
		snprintf(detail, sizeof(detail), " (cannot read the secret's tags: %s)",
		         csms_result_describe(res, why, sizeof(why)));
		for (size_t i = first; i < rs->set->n && rs->group_of[i] == first; i++)
			log_outcome(rs, i, OUTCOME_FAILED, NULL, res, detail);
	}
	secret_done(rs, first);
}

static void on_auth(int r, const char *error, void *userdata)
{
	struct restorer *rs = userdata;

	if (r < 0) {
		log_event(LOG_ERR, MID_AUTH_FAILED, NULL, 0, "Restore: authentication failed: %s",
		          error ? error : strerror(-r));
		rs->failed = true;
		manager_done(rs->manager);
		return;
	}
	read_next(rs);
}

static int restorer_start(void *job)
{
	struct restorer *rs = job;

	csms_ensure_auth(rs->client, on_auth, rs);
	return 0;
}

/* A signal (or a timer that could not be armed) ends the restore early:
 * no new read or create; those already sent may finish while draining. */
static void restorer_stop(void *job, const char *why)
{
	struct restorer *rs = job;

	if (manager_signalled(rs->manager) || manager_broken(rs->manager)) {
		log_warning("Restore interrupted: %s", why);
		rs->failed = true;
	}
	csms_cancel(rs->client, rs);
}

static size_t restorer_pending(void *job)
{
	struct restorer *rs = job;

	return csms_pending(rs->client);
}

static const struct job_ops restorer_ops = {
	.name = "--restore",
	.start = restorer_start,
	.stop = restorer_stop,
	.pending = restorer_pending,
};

static int read_ledger(const struct config *cfg, const struct restore_options *o,
                       struct restore_set *set, char **error)
{
	_cleanup_free_ char *dir = NULL;
	struct ledger *l = NULL;
	int r = ledger_directory(cfg->daemon.state_directory, cfg->path, &dir);

	if (r < 0) {
		*error = xasprintf("no deletion ledger for %s: %s", cfg->path, ledger_directory_problem(r));
		return r;
	}
	r = ledger_open(dir, &l);
	if (r < 0) {
		*error = xasprintf("cannot open the deletion ledger in %s: %s", dir ? dir : "?", strerror(-r));
		return r;
	}
	log_notice("Restore: reading the deletions recorded in %s", ledger_path(l));
	r = restore_read_ledger(l, &o->filter, set, error);
	ledger_close(l);
	return r;
}

static int read_records(const struct config *cfg, const struct restore_options *o,
                        struct restore_set *set)
{
	_cleanup_free_ char *error = NULL;
	int r;

	if (!o->from && !o->from_journal)
		r = read_ledger(cfg, o, set, &error);
	else if (!o->from)
		r = restore_read_journal(&o->filter, set, &error);
	else if (strcmp(o->from, "-") == 0)
		r = restore_read_json(stdin, "<stdin>", &o->filter, set, &error);
	else {
		FILE *f = fopen(o->from, "re");

		if (!f) {
			fprintf(stderr, "csms-tagd: %s: %s\n", o->from, strerror(errno));
			return -errno;
		}
		r = restore_read_json(f, o->from, &o->filter, set, &error);
		fclose(f);
	}
	if (r < 0)
		fprintf(stderr, "csms-tagd: %s\n", error ? error : strerror(-r));
	return r;
}

static bool same_secret(const struct deletion_record *a, const struct deletion_record *b)
{
	return strcmp(a->target, b->target) == 0 && strcmp(a->secret_id, b->secret_id) == 0;
}

static int setup(struct restorer *rs, char **error)
{
	int r;

	rs->group_of = calloc(rs->set->n, sizeof(*rs->group_of));
	rs->outcome = calloc(rs->set->n, sizeof(*rs->outcome));
	rs->refs = calloc(rs->set->n, sizeof(*rs->refs));
	rs->creating = calloc(rs->set->n, sizeof(*rs->creating));
	if (!rs->group_of || !rs->outcome || !rs->refs || !rs->creating)
		return -ENOMEM;
	for (size_t i = 0; i < rs->set->n; i++) {
		rs->refs[i] = (struct create_ref) { rs, i };
		rs->group_of[i] = i > 0 && same_secret(&rs->set->items[i], &rs->set->items[i - 1]) ?
		                  rs->group_of[i - 1] : i;
	}
	if ((r = manager_new(&rs->manager)) < 0)
		return r;
	return csms_new(manager_event(rs->manager), rs->cfg, &rs->client, error);
}

int restore_read(const struct config *cfg, const struct restore_options *o, struct restore_set *set)
{
	int r = read_records(cfg, o, set);

	if (r >= 0)
		restore_select(set);
	return r;
}

int restore_apply(const struct config *cfg, const struct restore_options *o, struct restore_set *set)
{
	_cleanup_free_ char *error = NULL;
	struct restorer rs = { .opt = o, .cfg = cfg, .set = set };
	size_t not_done = 0;
	int r, ret = RESTORE_EXIT_ERROR;

	if (set->n == 0) {
		/* sd-journal skips files it may not read without an error. */
		log_notice("Restore: no deletion records in the window%s; nothing to do",
		           !o->from && o->from_journal && geteuid() != 0 ?
		           " (reading the system journal needs root or the group systemd-journal)" : "");
		return RESTORE_EXIT_OK;
	}
	r = setup(&rs, &error);
	if (r < 0) {
		fprintf(stderr, "csms-tagd: %s\n", error ? error : strerror(-r));
		goto out;
	}
	log_info("Restore: %zu deleted tags to consider%s", set->n, o->dry_run ? " (dry run)" : "");
	r = manager_run(rs.manager, &restorer_ops, &rs);
	csms_cancel(rs.client, &rs);
	for (int k = RESTORE_PRESENT + 1; k < N_OUTCOMES; k++)
		not_done += rs.counts[k];
	log_info("Restore%s: %zu %s, %zu already present, %zu conflicts, %zu secrets gone, "
	         "%zu no room, %zu invalid, %zu failed%s",
	         o->dry_run ? " (dry run)" : "", rs.counts[RESTORE_CREATE],
	         o->dry_run ? "would be restored" : "restored", rs.counts[RESTORE_PRESENT],
	         rs.counts[RESTORE_CONFLICT], rs.counts[RESTORE_SECRET_GONE], rs.counts[RESTORE_NO_ROOM],
	         rs.counts[RESTORE_INVALID], rs.counts[OUTCOME_FAILED], rs.failed ? "; interrupted" : "");
	if (r < 0 || rs.failed)
		ret = rs.creates_sent ? RESTORE_EXIT_INCOMPLETE : RESTORE_EXIT_ERROR;
	else
		ret = not_done ? RESTORE_EXIT_INCOMPLETE : RESTORE_EXIT_OK;
out:
	csms_free(rs.client);
	manager_free(rs.manager);
	free(rs.group_of);
	free(rs.outcome);
	free(rs.refs);
	free(rs.creating);
	return ret;
}

/* A single-target configuration has a client for the default target only:
 * other targets' records (a ledger or journal shared with an organisation
 * daemon) are left out, or, when --target asked for them, refused. */
static int only_default_target(const struct restore_options *o, struct restore_set *set)
{
	_cleanup_(restore_set_clear) struct restore_set mine = {};
	const struct deletion_record *other = NULL;
	int r;

	for (size_t i = 0; !other && i < set->n; i++)
		if (set->items[i].target[0])
			other = &set->items[i];
	if (!other)
		return 0;
	if (o->filter.target_glob) {
		fprintf(stderr, "csms-tagd: --target %s selects deletions made for target %s (project %s): "
		        "this configuration governs one project; restore them with the configuration that "
		        "governs that target\n", o->filter.target_glob,
		        other->target_name[0] ? other->target_name : other->target, other->target);
		return -EXDEV;
	}
	r = restore_set_take_target(set, "", &mine);
	if (r < 0)
		return r;
	log_notice("Restore: %zu deletions made for other targets (organisation mode) left out: this "
	           "configuration governs one project", set->n);
	restore_set_clear(set);
	*set = mine;
	mine = (struct restore_set) {};
	return 0;
}

/* Organisation mode: each target's records with that target's client, one
 * target after the other; records of a target the configuration no longer
 * has (nor its last discovery) cannot be sent anywhere and are reported. */
static int restore_targets(const struct config *cfg, const struct restore_options *o,
                           struct restore_set *set)
{
	struct org_selection sel = {};
	int ret = RESTORE_EXIT_OK, r;

	if (org_select(cfg, NULL, &sel) < 0) {
		fprintf(stderr, "csms-tagd: %s\n", strerror(ENOMEM));
		return RESTORE_EXIT_ERROR;
	}
	for (size_t i = 0; i < sel.n && set->n; i++) {
		_cleanup_(restore_set_clear) struct restore_set mine = {};
		struct config *view = NULL;
		char what[512];

		r = restore_set_take_target(set, sel.v[i].project_id, &mine);
		if (r >= 0 && !mine.n)
			continue;
		if (r >= 0)
			r = config_target_view(cfg, &sel.v[i], &view);
		if (r < 0) {
			ret = RESTORE_EXIT_ERROR;
			break;
		}
		log_info("Restore: %zu deletions of target %s", mine.n,
		         target_describe(&sel.v[i], what, sizeof(what)));
		r = restore_apply(view, o, &mine);
		config_free(view);
		if (r != RESTORE_EXIT_OK)
			ret = r == RESTORE_EXIT_ERROR && ret == RESTORE_EXIT_OK ? RESTORE_EXIT_ERROR :
			      RESTORE_EXIT_INCOMPLETE;
	}
	if (set->n) {
		log_error("Restore: %zu deletions were made for targets this configuration no longer has "
		          "(the first: %s, project %s): not restored", set->n,
		          set->items[0].target_name[0] ? set->items[0].target_name : set->items[0].target,
		          set->items[0].target);
		ret = RESTORE_EXIT_INCOMPLETE;
	}
	org_selection_clear(&sel);
	return ret;
}

int restore_run(const char *config_path, const struct restore_options *o)
{
	_cleanup_free_ char *error = NULL;
	_cleanup_(restore_set_clear) struct restore_set set = {};
	struct config *cfg = NULL;
	int r, ret = RESTORE_EXIT_ERROR;

	r = config_load(config_path, CONFIG_CHECK_CREDENTIALS, &cfg, &error);
	if (r < 0) {
		fprintf(stderr, "csms-tagd: %s\n", error ? error : strerror(-r));
		return EX_CONFIG;
	}
	r = restore_read(cfg, o, &set);
	if (r >= 0 && cfg->organisation) {
		ret = restore_targets(cfg, o, &set);
		config_free(cfg);
		return ret;
	}
	if (r >= 0)
		r = only_default_target(o, &set);
	if (r == -ENOMEM)
		fprintf(stderr, "csms-tagd: %s\n", strerror(-r));
	if (r >= 0)
		ret = restore_apply(cfg, o, &set);
	config_free(cfg);
	return ret;
}
