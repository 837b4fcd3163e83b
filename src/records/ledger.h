/* ledger.h - the write-ahead deletion ledger: every write that must not be
 * lost, in one SQLite database in the state directory (LEDGER_FILE).
 *
 * Before a DELETE is sent, its intent (pass id, secret id and name, key, the
 * value as last read, rule, reason) is committed with synchronous=FULL: once
 * ledger_intent() returns 0 the record survives a crash or a power loss.
 * After the answer, ledger_outcome() (or ledger_outcomes(), a batch) sets
 * the outcome.  An outcome may be lost on power loss (synchronous=NORMAL,
 * WAL) or while it waits for its batch: the intent then stays pending and
 * is resolved by reading the secret's tags (ledger_pending()), so nothing
 * is ever unrecorded, only recorded later.
 *
 * The grace clocks (grace.h) live here too, in the same transactions as
 * the outcomes that drop them, so a recorded deletion and the clocks never
 * disagree; and the pass history (when passes started and ended, by the
 * wall clock and by CLOCK_BOOTTIME), which the grace rules read.
 *
 * One file holds every target's rows (organisation mode: one daemon,
 * many accounts, regions and projects): each row names its target by key
 * (the project id; "" for the single-target default), and a handle
 * (ledger_target()) reads and writes only its target's rows, so two
 * targets never see each other's pending intents, grace clocks, stamps or
 * passes.  ledger_open() gives the default handle: with one target,
 * everything is as it was before targets.
 *
 * Values are stored exactly as read (never redacted, escaped or cut):
 * the file is root- or service-only (0600 in a 0700 directory).
 *
 * Schema versioned by PRAGMA user_version (LEDGER_SCHEMA_VERSION): a newer
 * one is refused (-EPROTONOSUPPORT), an older one is migrated in place in
 * one transaction (ledger-schema.c: version 1's rows become target ""), a
 * file that is not a database (-EBADMSG).  Helpers do not log; every error is a negative errno, and
 * ledger_error() has SQLite's text of the last failure for the caller's
 * one message.
 */
#ifndef CSMS_LEDGER_H
#define CSMS_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "grace.h"

#define LEDGER_FILE "ledger.db"
#define LEDGER_SCHEMA_VERSION 2

struct ledger;

/* The state directory that holds the ledger of the service running the
 * config at CONFIG_PATH, so that hand runs (--once, --apply-plan,
 * --restore, --history) use the service's ledger: STATE_DIRECTORY
 * ([daemon] state_directory) when set; else $STATE_DIRECTORY (its first
 * entry: the service); else what the shipped units set up --
 * STATE_DIRECTORY_DEFAULT for csms-tagd.conf (csms-tagd.service),
 * STATE_DIRECTORY_DEFAULT-NAME for NAME.conf (csms-tagd@NAME.service),
 * the mapping of unit.h.  A config that no unit runs has no service
 * ledger to share: it must name its own, or a hand run of a test policy
 * would rewrite the grace clocks of the service's.  Returns 0 with *RET
 * malloc'd, -ENOENT when no unit runs CONFIG_PATH and neither directory
 * is set, or -ENOMEM. */
int ledger_directory(const char *state_directory, const char *config_path, char **ret);

/* The text for ledger_directory()'s error R, naming CONFIG_PATH. */
const char *ledger_directory_problem(int r);

enum ledger_outcome {
	LEDGER_PENDING,         /* intent only: sent or about to be, answer unknown */
	LEDGER_DELETED,         /* deleted by us (also: gone after an attempt that may have reached it) */
	LEDGER_ALREADY_GONE,    /* absent before any attempt of ours could reach it */
	LEDGER_FAILED,          /* not deleted */
	LEDGER_UNKNOWN,         /* cannot be known: the secret itself is gone */
	_LEDGER_OUTCOME_MAX,
};

/* "pending", "deleted", "already-gone", "failed", "unknown". */
const char *ledger_outcome_to_string(enum ledger_outcome o);
/* The reverse; -EINVAL for another string. */
int ledger_outcome_from_string(const char *s);

/* One deletion.  Strings are owned by the list they come from; for
 * ledger_intent() they are the caller's, and the four target fields are
 * not read: a row's target is always its handle's. */
struct ledger_deletion {
	int64_t id;
	char *pass_id;
	char *secret_id;
	char *secret_name;
	char *key;
	char *value;            /* as last read, exactly */
	char *rule;             /* "FILE:LINE" */
	char *reason;           /* reason_to_string() */
	uint64_t intent_usec;   /* CLOCK_REALTIME */
	enum ledger_outcome outcome;
	uint64_t outcome_usec;  /* 0 while pending */
	char *target;           /* the target's key (project id); "" single-target */
	char *target_name;      /* "" when unnamed (single-target) */
	char *account_id;       /* "" when unknown */
	char *region;           /* "" when unknown */
};

struct ledger_list {
	struct ledger_deletion *v;
	size_t n, cap;
};

void ledger_list_clear(struct ledger_list *l);

/* Open (creating it and the schema when missing) DIR/LEDGER_FILE.  DIR
 * must exist: a mistyped state_directory must not quietly start a second,
 * empty ledger.  Returns 0, -ENOENT/-ENOTDIR (no directory), -EBADMSG (not
 * a database, or corrupt), -EPROTONOSUPPORT (newer schema),
 * -EROFS/-EACCES/... (cannot be written), -ENOMEM. */
int ledger_open(const char *dir, struct ledger **ret);
/* Close handle L.  The connection is shared by every handle on it and
 * closed with the last of them, in any order. */
void ledger_close(struct ledger *l);

/* Another handle on L's database (the same connection: the caller's
 * thread only), scoped to target KEY ("" is the single-target default,
 * the one ledger_open() gives): every call on it reads and writes that
 * target's rows only.  NAME, ACCOUNT_ID and REGION (NULL: "") are written
 * with each intent, for --history and audits.  Each handle has its own
 * ledger_error() and its own failed-save state (ledger_clocks_load()).
 * Close it with ledger_close(), before or after L.  0, -EINVAL (KEY NULL),
 * -ENOMEM. */
int ledger_target(struct ledger *l, const char *key, const char *name, const char *account_id,
                  const char *region, struct ledger **ret);
/* The handle's target key ("" for ledger_open()'s). */
const char *ledger_target_key(const struct ledger *l);

/* Whether DIR is there for a ledger: 0, -ENOENT, -ENOTDIR ... (for
 * --check-config). */
int ledger_check_directory(const char *dir);
const char *ledger_path(const struct ledger *l);
/* SQLite's message for the last failure ("" when none). */
const char *ledger_error(const struct ledger *l);

/* Record an intent (D's id, outcome and target fields are ignored: the
 * target is L's); durable when it returns 0.  *RET_ID names it for ledger_outcome(). */
int ledger_intent(struct ledger *l, const struct ledger_deletion *d, int64_t *ret_id);

/* The same for the N intents D[], in one transaction: all are durable, with
 * their ids in RET_IDS[], or none is recorded.  One commit (one fsync) for
 * a batch is what keeps a pass of many deletions from waiting on the disk
 * for each; the caller sends none of them before this returns 0. */
int ledger_intents(struct ledger *l, const struct ledger_deletion *d, size_t n, int64_t *ret_ids);

/* Set the outcome of intent ID (at AT_USEC) and, when DROP_CLOCK is not
 * NULL, drop that grace clock of L's target, in one transaction.
 * -ENOENT: no such intent of L's target. */
int ledger_outcome(struct ledger *l, int64_t id, enum ledger_outcome o, uint64_t at_usec,
                   const uint8_t *drop_clock);

/* One outcome of ledger_outcomes(). */
struct ledger_outcome_row {
	int64_t id;
	enum ledger_outcome outcome;
	uint64_t at_usec;
	bool drop_clock;                /* drop grace clock CLOCK with it */
	uint8_t clock[GRACE_DIGEST_LEN];
};

/* The outcomes ROWS[N] in one transaction, as ledger_outcome() each: all
 * are set, or (on any failure, -ENOENT included) none.  A pass answered
 * thousands of DELETEs with as many commits; outcomes may wait (the intent
 * is what must be durable before the act; a lost outcome leaves it pending,
 * resolved later), so a pass sets them a batch at a time. */
int ledger_outcomes(struct ledger *l, const struct ledger_outcome_row *rows, size_t n);

/* Settle pending intent ID with outcome O found by reading the secret
 * (resolve.h): only while it is still pending, so that the pass that made
 * it -- in another process, say the service beside a hand run -- always
 * has the last word.  -EALREADY: it has an outcome by now. */
int ledger_resolve(struct ledger *l, int64_t id, enum ledger_outcome o, uint64_t at_usec);

/* The intents of L's target without an outcome, oldest first. */
int ledger_pending(struct ledger *l, struct ledger_list *ret);

struct ledger_query {
	uint64_t since_usec;            /* intent time, inclusive */
	uint64_t until_usec;            /* inclusive; 0: no end */
	const char *secret_glob;        /* fnmatch(3) on the name; NULL: all */
	bool deleted_only;              /* only LEDGER_DELETED */
	/* NULL: L's target only; else every target whose key or name matches
	 * (fnmatch(3)), "*": all of them. */
	const char *target_glob;
	size_t limit;                   /* 0: none; more matches: -E2BIG */
};

/* The deletions matching Q, in intent order. */
int ledger_query(struct ledger *l, const struct ledger_query *q, struct ledger_list *ret);

/* The governance state of L's target's last pass, saved whole: CLOCKS, the grace
 * clocks (grace.h); KEPT, the tags an exemption kept then (digests as for
 * clocks, with the time first kept), so that "an exemption keeps this
 * tag" is journaled when it starts, not every pass.
 *
 * Load: entries after NOW_USEC are dropped (counted in *RET_FUTURE); the
 * sets are sorted; *RET_STAMP is the last save's (zero: never saved).
 * Returns -ESTALE with empty sets when a save failed earlier in this
 * process: the stored sets are older than what the passes since saw, and
 * a clock kept through a time the tag was allowed could end a grace early.
 *
 * Save: replaces both sets and the stamp in one transaction. */
int ledger_clocks_load(struct ledger *l, uint64_t now_usec, struct grace_clocks *clocks,
                       struct grace_clocks *kept, size_t *ret_future, struct grace_stamp *ret_stamp);
int ledger_clocks_save(struct ledger *l, const struct grace_clocks *clocks,
                       const struct grace_clocks *kept, const struct grace_stamp *stamp);

/* Pass history, per target: two targets' passes may share an id. */
struct ledger_pass {
	char *pass_id;
	uint64_t started_usec;          /* CLOCK_REALTIME */
	uint64_t started_boottime_usec; /* CLOCK_BOOTTIME */
	char *boot_id;                  /* the boot it ran in; "" when unknown */
	uint64_t finished_usec;         /* 0: did not finish (crash, kill) */
	char *outcome;                  /* pass_outcome_to_string(); NULL while running */
	bool listing_complete;          /* its observation was complete */
};

int ledger_pass_begin(struct ledger *l, const struct ledger_pass *p);
/* Record PASS_ID's end: OUTCOME, whether its listing was complete. */
int ledger_pass_end(struct ledger *l, const char *pass_id, uint64_t finished_usec,
                    const char *outcome, bool listing_complete);
/* The latest finished pass before PASS_ID (NULL: any) whose listing was
 * complete, into *RET (free with ledger_pass_clear()); -ENOENT: none. */
int ledger_last_observing_pass(struct ledger *l, const char *pass_id, struct ledger_pass *ret);
void ledger_pass_clear(struct ledger_pass *p);

/* The targets discovery found (organisation mode), for --check-config
 * and for the records of targets that appeared or were dropped since.
 * Save: the N targets T[] replace the stored set in one transaction
 * (keyed by project id; a target already stored keeps the time it was
 * first seen, all are last seen at NOW_USEC, which is also the stamp).
 * Load: into *RET (malloc'd, in the order saved; line and file 0; free
 * each with target_clear() (config.h), then the array), *N, and the last
 * save's time in *RET_SAVED_USEC (0: never saved, and no targets).  The
 * table is the file's, not a target's: any handle reads the same. */
struct target;
int ledger_targets_save(struct ledger *l, const struct target *t, size_t n, uint64_t now_usec);
int ledger_targets_load(struct ledger *l, struct target **ret, size_t *n, uint64_t *ret_saved_usec);

#endif
