/* org.h - the targets one process governs (organisation mode: a config
 * with [target] or [discover] sections, csms-tagd.conf(5) TARGETS).
 *
 * One connection pool (http.h) serves every target; each account has one
 * request lane (its own rate, max_requests_per_second, and its own 429
 * pauses, so a throttled account does not slow the others) and one set of
 * credentials (the base identity's, or the agency it assumes in that
 * account, cached and refreshed once for all of the account's targets);
 * each target has its config view (config_target_view()), client, ledger
 * handle (ledger_target()), log context and at most one pass.
 *
 * Scheduling is the caller's (the service, --once): it says when a target
 * is due (org_queue()) and what a finished pass means (DONE).  The org
 * runs due targets in FIFO order, at most max_parallel_targets passes at
 * once, so that no target starves another and the memory of observations
 * in flight stays bounded; each pass gets its own pass_timeout from its
 * start.  A failing target fails alone: its pass ends, the others go on.
 *
 * Ownership: the org owns the pool, the accounts, the targets and
 * everything of theirs; org_remove() and org_free() abort what runs (a
 * request already sent finishes in the background without callbacks,
 * org_pending() counts it for the manager's drain).
 */
#ifndef CSMS_ORG_H
#define CSMS_ORG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "monitor.h"
#include "pass-id.h"
#include "pass.h"

struct auth;
struct http;
struct http_lane;
struct org;
struct org_account;

/* The project of a config view that stands for an account, not a target
 * (org_account_auth()): never sent. */
#define ORG_NO_PROJECT "-"

/* What a target's last pass says about it (STATUS=, metrics, --status). */
enum target_state {
	TARGET_PENDING,         /* no pass has ended yet */
	TARGET_CONVERGED,
	TARGET_CHANGED,         /* deleted (or, dry run, would delete) what it planned */
	TARGET_PARTIAL,
	TARGET_HELD,            /* more than max_deletes_per_pass: nothing deleted */
	TARGET_FAILING,         /* failed or aborted: retried with back-off */
	_TARGET_STATE_MAX,
};

const char *target_state_to_string(enum target_state s);
/* The state a pass that ended with R leaves its target in. */
enum target_state target_state_of(const struct pass_result *r);

struct org_target {
	struct org *org;
	struct target t;                /* a copy of its own */
	struct config *view;            /* config_target_view() */
	struct csms *client;
	struct ledger *ledger;          /* scoped to the target; NULL: dry run without ledger */
	struct log_context log;         /* its records' CSMS_TARGET, ... (log.h) */
	char pass_id[PASS_ID_MAX];
	struct pass *pass;
	unsigned pass_number;           /* of this target */
	uint64_t pass_started_usec;     /* CLOCK_MONOTONIC */
	sd_event_source *timeout_timer;
	bool queued;
	struct org_target *queue_next;
	/* A target discovered while the daemon runs: its first pass is a dry
	 * run, so that it shows in the journal before anything is deleted. */
	bool review_first;

	/* The caller's: schedule, state and figures. */
	sd_event_source *timer;
	uint64_t next_usec;             /* CLOCK_MONOTONIC; 0: none scheduled */
	unsigned failures;              /* consecutive failed passes */
	enum target_state state;
	char why[256];                  /* of the last failing/partial/held pass */
	struct monitor mon;
};

/* A target's pass ended with R (valid during the call).  The pass is
 * freed after DONE returns; DONE may queue targets, remove others (not T)
 * or free nothing. */
typedef void (*org_pass_done_t)(struct org_target *t, const struct pass_result *r, void *userdata);

struct org_options {
	bool dry_run;                   /* every pass a dry run */
	struct ledger *ledger;          /* the process's; NULL only with dry_run */
	const char *pass_id_base;       /* pass_id_base() */
	/* What every pass gets besides (save_plan, only: --once with a
	 * single target); NULL: nothing. */
	const struct pass_options *pass;
	org_pass_done_t done;
	void *userdata;
};

/* An org for CFG (an organisation-mode config, which must outlive it) on
 * manager M, with no targets yet.  Returns 0, or a negative errno with
 * *ERROR (malloc'd) saying why. */
int org_new(struct manager *m, const struct config *cfg, const struct org_options *o,
            struct org **ret, char **error);
/* Aborts every pass, without DONE. */
void org_free(struct org *o);

/* Add target T (copied), with its view, account, client and ledger
 * handle.  Returns 0 with *RET (owned by the org), -EEXIST for a target
 * key already there, or a negative errno with *ERROR. */
int org_add(struct org *o, const struct target *t, struct org_target **ret, char **error);
/* Remove T: its pass is aborted without DONE, its requests cancelled. */
void org_remove(struct org *o, struct org_target *t);

/* T is due: its pass starts as soon as a slot is free (now, or when a
 * running pass ends).  Nothing when it is queued or running already. */
void org_queue(struct org *o, struct org_target *t);
/* Abort every running pass (DONE is called for each, with PASS_ABORTED)
 * and empty the queue. */
void org_abort(struct org *o, const char *why);

/* HOLD: start no queued pass (a reload waits for the running ones to
 * end); false: start them again. */
void org_hold(struct org *o, bool hold);

/* The credentials and request lane of ACCOUNT_ID (NULL: the base
 * identity's own account), made on first use with the STS/IAM endpoints of
 * REGION: the base identity itself, or the agency it assumes in that
 * account.  They sign no project but the one a request names.  Owned by
 * the org.  Discovery lists accounts with them too. */
int org_account_auth(struct org *o, const char *account_id, const char *region, struct auth **ret,
                     struct http_lane **ret_lane, char **error);
/* A config view of ACCOUNT_ID (NULL: the base identity's) in REGION
 * without a project (ORG_NO_PROJECT): its credentials and endpoints, for
 * account-wide work.  Free with config_free(). */
int org_account_view(struct org *o, const char *account_id, const char *region, struct config **ret);
/* The pool every target's requests go through. */
struct http *org_http(struct org *o);

size_t org_n_targets(const struct org *o);
struct org_target *org_target_at(struct org *o, size_t i);
struct org_target *org_find(struct org *o, const char *key);
size_t org_running(const struct org *o);
size_t org_queued(const struct org *o);
/* HTTP requests queued or in flight, cancelled ones still finishing
 * included: what the manager drains. */
size_t org_pending(const struct org *o);
/* The longest time a running pass has run (CLOCK_MONOTONIC NOW), 0: none;
 * for the watchdog's health. */
uint64_t org_longest_pass(const struct org *o, uint64_t now);

#endif
