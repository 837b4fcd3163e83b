/* org-discover.c - [discover] rounds while the daemon runs (org-discover.h). */
#include "org-discover.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "discover.h"
#include "ledger.h"
#include "log.h"
#include "util.h"

#define MEMBERS_IN_FLIGHT 4     /* member accounts listed at once */

/* The credentials and listing of one account. */
struct lister {
	struct org_discovery *d;
	char *account_id;               /* NULL: the base identity's own account */
	char *account_name;
	struct config *view;            /* for its endpoints */
	struct discover *client;        /* with the org's credentials of the account */
};

struct org_discovery {
	struct manager *manager;
	struct org *org;
	const struct config *cfg;
	struct ledger *ledger;
	org_discovered_t done;
	void *userdata;
	sd_event_source *timer;
	sd_event_source *defer;         /* ends a round from the loop */

	/* The round in progress. */
	bool running;
	struct lister *base;
	struct discover_accounts accounts;
	size_t next_account;            /* the next to list */
	struct lister **members;        /* of the round, freed at its end (from the loop) */
	size_t n_members, active;
	bool self_failed, accounts_failed;
	char **failed_accounts;         /* member accounts whose listing failed */
	size_t n_failed;
	struct target *found;
	size_t n_found;
	unsigned rounds;
};

static void lister_free(struct lister *l)
{
	if (!l)
		return;
	discover_free(l->client);
	config_free(l->view);
	free(l->account_id);
	free(l->account_name);
	free(l);
}

/* A lister of ACCOUNT_ID (NULL: the base identity's), with the org's
 * credentials of that account: account-wide requests (IAM,
 * Organizations) carry no project. */
static int lister_new(struct org_discovery *d, const char *account_id, const char *account_name,
                      struct lister **ret, char **error)
{
	const char *region = d->cfg->discover.regions[0];
	struct lister *l = calloc(1, sizeof(*l));
	struct auth *auth;
	int r;

	if (!l || (account_id && !(l->account_id = strdup(account_id))) ||
	    (account_name && !(l->account_name = strdup(account_name)))) {
		lister_free(l);
		return -ENOMEM;
	}
	l->d = d;
	r = org_account_view(d->org, account_id, region, &l->view);
	if (r >= 0)
		r = org_account_auth(d->org, account_id, region, &auth, NULL, error);
	if (r >= 0)
		r = discover_new(org_http(d->org), auth, &l->client);
	if (r < 0) {
		lister_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

/* --- what a round found ----------------------------------------------------------------- */

static bool in_regions(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->discover.n_regions; i++)
		if (streq_ptr(c->discover.regions[i], name))
			return true;
	return false;
}

/* The region projects of an account's listing become targets. */
static int add_found(struct org_discovery *d, const struct lister *l, const struct discover_projects *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct discover_project *pr = &p->v[i];
		struct target *v;
		int r;

		if (!pr->enabled || pr->is_domain || !in_regions(d->cfg, pr->name))
			continue;
		v = reallocarray(d->found, d->n_found + 1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->found = v;
		r = target_discovered(l->account_id, l->account_name, pr->name, pr->id, pr->name,
		                      &d->found[d->n_found]);
		if (r < 0)
			return r;
		d->n_found++;
	}
	return 0;
}

static bool account_failed(const struct org_discovery *d, const char *account_id)
{
	if (!account_id)
		return d->self_failed;
	if (d->accounts_failed)
		return true;
	for (size_t i = 0; i < d->n_failed; i++)
		if (streq_ptr(d->failed_accounts[i], account_id))
			return true;
	return false;
}

static bool found(const struct org_discovery *d, const char *key)
{
	for (size_t i = 0; i < d->n_found; i++)
		if (streq_ptr(d->found[i].project_id, key))
			return true;
	return false;
}

static bool known_before(const struct target *known, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (streq_ptr(known[i].project_id, key))
			return true;
	return false;
}

/* Apply the round to the org, journal the changes, remember the set. */
static void apply(struct org_discovery *d)
{
	_cleanup_free_ struct target *keep = NULL;
	struct target *known = NULL;
	size_t n_known = 0, n_keep = 0, added = 0, dropped = 0;
	uint64_t saved_usec = 0;

	if (d->ledger && ledger_targets_load(d->ledger, &known, &n_known, &saved_usec) < 0)
		n_known = 0;
	/* Dropped: discovered before, not found now, its listing worked. */
	for (size_t i = org_n_targets(d->org); i-- > 0;) {
		struct org_target *t = org_target_at(d->org, i);

		if (!t->t.discovered || found(d, t->t.project_id))
			continue;
		if (account_failed(d, t->t.account_id))
			continue;
		log_event(LOG_NOTICE, MID_TARGET_DROPPED, LOG_FIELDS({ "CSMS_TARGET", t->t.name },
		          { "CSMS_PROJECT", t->t.project_id }),
		          "Target %s (project %s) is no longer discovered: dropped, nothing more is done in it",
		          t->t.name, t->t.project_id);
		org_remove(d->org, t);
		dropped++;
	}
	for (size_t i = 0; i < d->n_found; i++) {
		const struct target *f = &d->found[i];
		_cleanup_free_ char *error = NULL;
		struct org_target *t;
		bool review;
		int r;

		if (org_find(d->org, f->project_id))
			continue;
		r = org_add(d->org, f, &t, &error);
		if (r < 0) {
			log_error("Cannot add discovered target %s: %s", f->name, error ? error : strerror(-r));
			continue;
		}
		review = !known_before(known, n_known, f->project_id);
		t->review_first = review;
		added++;
		log_event(LOG_NOTICE, MID_TARGET_ADDED, LOG_FIELDS({ "CSMS_TARGET", f->name },
		          { "CSMS_ACCOUNT", f->account_id }, { "CSMS_REGION", f->region },
		          { "CSMS_PROJECT", f->project_id }),
		          "Target %s discovered (account %s, region %s, project %s)%s", f->name,
		          f->account_id ? f->account_id : "self", f->region, f->project_id,
		          review ? ": its first pass is a dry run, deletions start with the next one" : "");
	}
	/* Remembered: every discovered target of the org now (the kept ones
	 * of failed listings too). */
	keep = calloc(org_n_targets(d->org) + 1, sizeof(*keep));
	for (size_t i = 0; keep && i < org_n_targets(d->org); i++)
		if (org_target_at(d->org, i)->t.discovered)
			keep[n_keep++] = org_target_at(d->org, i)->t;
	if (d->ledger && keep && ledger_targets_save(d->ledger, keep, n_keep, now_realtime_usec()) < 0)
		log_warning("Cannot remember the discovered targets in %s: %s", ledger_path(d->ledger),
		            ledger_error(d->ledger));
	for (size_t i = 0; i < n_known; i++)
		target_clear(&known[i]);
	free(known);
	log_event(LOG_INFO, MID_DISCOVERY_DONE, NULL, 0,
	          "Discovery round %u: %zu targets found, %zu added, %zu dropped%s", d->rounds, d->n_found,
	          added, dropped, d->self_failed || d->accounts_failed || d->n_failed ?
	          " (some listings failed: their targets are kept as they were)" : "");
}

static void round_clear(struct org_discovery *d)
{
	lister_free(d->base);
	d->base = NULL;
	for (size_t i = 0; i < d->n_members; i++)
		lister_free(d->members[i]);
	free(d->members);
	d->members = NULL;
	d->n_members = d->active = 0;
	discover_accounts_clear(&d->accounts);
	d->next_account = 0;
	for (size_t i = 0; i < d->n_failed; i++)
		free(d->failed_accounts[i]);
	free(d->failed_accounts);
	d->failed_accounts = NULL;
	d->n_failed = 0;
	for (size_t i = 0; i < d->n_found; i++)
		target_clear(&d->found[i]);
	free(d->found);
	d->found = NULL;
	d->n_found = 0;
	d->self_failed = d->accounts_failed = false;
	d->running = false;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* The round is over: apply it (from the loop: listers are freed here,
 * never inside their own callbacks), schedule the next. */
static int on_round_end(sd_event_source *s, void *userdata)
{
	struct org_discovery *d = userdata;

	apply(d);
	round_clear(d);
	(void) manager_arm(d->manager, &d->timer, "discovery",
	                   manager_now(d->manager) + d->cfg->discover.interval_usec, USEC_PER_SEC, on_timer, d);
	if (d->done)
		d->done(d->userdata);
	return 0;
}

static void end_round(struct org_discovery *d)
{
	if (sd_event_source_set_enabled(d->defer, SD_EVENT_ONESHOT) < 0)
		on_round_end(d->defer, d);
}

/* --- listings ----------------------------------------------------------------------------- */

static void next_members(struct org_discovery *d);

static void note_failed_account(struct org_discovery *d, const char *id)
{
	char **v = reallocarray(d->failed_accounts, d->n_failed + 1, sizeof(*v));

	if (v) {
		d->failed_accounts = v;
		if ((v[d->n_failed] = strdup(id)))
			d->n_failed++;
	}
	if (!v || d->n_failed == 0)
		d->accounts_failed = true;      /* cannot say which: keep all */
}

static void on_member_projects(int r, const char *error, long status, const char *code,
                               struct discover_projects *projects, void *userdata)
{
	struct lister *l = userdata;
	struct org_discovery *d = l->d;

	(void) status;
	(void) code;
	if (r >= 0)
		r = add_found(d, l, projects);
	if (r < 0) {
		log_warning("Discovery: cannot list the projects of account %s: %s", l->account_id,
		            error ? error : strerror(-r));
		note_failed_account(d, l->account_id);
	}
	d->active--;
	/* L is freed with the round, from the loop: this is its own callback. */
	next_members(d);
}

static bool account_wanted(const struct config *c, const struct discover_account *a)
{
	if (a->status && !streq_ptr(a->status, "active"))
		return false;
	for (size_t i = 0; i < c->discover.n_accounts; i++)
		if (fnmatch(c->discover.accounts[i], a->id, 0) == 0 ||
		    (a->name && fnmatch(c->discover.accounts[i], a->name, 0) == 0))
			return true;
	return false;
}

static void next_members(struct org_discovery *d)
{
	while (d->active < MEMBERS_IN_FLIGHT && d->next_account < d->accounts.n) {
		const struct discover_account *a = &d->accounts.v[d->next_account++];
		_cleanup_free_ char *error = NULL;
		struct lister *l = NULL, **v;
		int r;

		if (!account_wanted(d->cfg, a))
			continue;
		v = reallocarray(d->members, d->n_members + 1, sizeof(*v));
		r = v ? lister_new(d, a->id, a->name, &l, &error) : -ENOMEM;
		if (v)
			d->members = v;
		if (r >= 0) {
			d->members[d->n_members++] = l;
			r = discover_list_projects(l->client, l->view->csms.iam_endpoint, on_member_projects, l);
		}
		if (r < 0) {
			log_warning("Discovery: cannot list account %s: %s", a->id, error ? error : strerror(-r));
			note_failed_account(d, a->id);
			continue;
		}
		d->active++;
	}
	if (d->active == 0 && d->next_account >= d->accounts.n)
		end_round(d);
}

static void on_accounts(int r, const char *error, long status, const char *code,
                        struct discover_accounts *accounts, void *userdata)
{
	struct org_discovery *d = userdata;

	(void) status;
	(void) code;
	if (r < 0) {
		log_warning("Discovery: cannot list the organization's accounts: %s", error ? error : strerror(-r));
		d->accounts_failed = true;
		end_round(d);
		return;
	}
	d->accounts = *accounts;
	*accounts = (struct discover_accounts) {};
	next_members(d);
}

static void list_accounts(struct org_discovery *d)
{
	if (!d->cfg->discover.n_accounts) {
		end_round(d);
		return;
	}
	if (discover_list_accounts(d->base->client, d->base->view->csms.organizations_endpoint, on_accounts,
	                           d) < 0) {
		d->accounts_failed = true;
		end_round(d);
	}
}

static void on_self_projects(int r, const char *error, long status, const char *code,
                             struct discover_projects *projects, void *userdata)
{
	struct org_discovery *d = userdata;

	(void) status;
	(void) code;
	if (r >= 0)
		r = add_found(d, d->base, projects);
	if (r < 0) {
		log_warning("Discovery: cannot list the base identity's projects: %s", error ? error : strerror(-r));
		d->self_failed = true;
	}
	list_accounts(d);
}

static void start_round(struct org_discovery *d)
{
	_cleanup_free_ char *error = NULL;
	int r;

	d->running = true;
	d->rounds++;
	r = lister_new(d, NULL, NULL, &d->base, &error);
	if (r < 0) {
		log_warning("Discovery: cannot set up the base identity: %s", error ? error : strerror(-r));
		d->self_failed = d->accounts_failed = true;
		end_round(d);
		return;
	}
	if (!d->cfg->discover.self) {
		list_accounts(d);
		return;
	}
	if (discover_list_projects(d->base->client, d->base->view->csms.iam_endpoint, on_self_projects, d) < 0) {
		d->self_failed = true;
		list_accounts(d);
	}
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	start_round(userdata);
	return 0;
}

int org_discovery_new(struct manager *m, struct org *o, const struct config *c, struct ledger *ledger,
                      org_discovered_t done, void *userdata, struct org_discovery **ret)
{
	struct org_discovery *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	*d = (struct org_discovery) { .manager = m, .org = o, .cfg = c, .ledger = ledger, .done = done,
	                              .userdata = userdata };
	r = sd_event_add_defer(manager_event(m), &d->defer, on_round_end, d);
	if (r >= 0)
		r = sd_event_source_set_enabled(d->defer, SD_EVENT_OFF);
	if (r >= 0)
		r = manager_arm(m, &d->timer, "discovery", manager_now(m), USEC_PER_MSEC, on_timer, d);
	if (r < 0) {
		org_discovery_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

void org_discovery_free(struct org_discovery *d)
{
	if (!d)
		return;
	round_clear(d);
	sd_event_source_disable_unref(d->timer);
	sd_event_source_disable_unref(d->defer);
	free(d);
}
