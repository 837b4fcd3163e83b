/* restore.h - undo: recreate tags that csms-tagd deleted.
 *
 * The deletions come from the ledger (ledger.h: rows with the outcome
 * "deleted", values exactly as deleted) by default.  A lost host's records
 * can be imported from the journal: entries with MESSAGE_ID MID_TAG_DELETED
 * and DRY_RUN=0 (records.h has their fields), read from `journalctl -o
 * json` output (a file or stdin; csms-tagd --log-target=json writes the
 * same shape) or from the local journal (sd-journal, entries of one unit).
 * A journal record whose value redaction withheld (LOG_FIELD_REDACTED) is
 * refused: only the ledger has that value.  Every record goes through one
 * filter (restore_filter) whichever reader found it; of several deletions
 * of one key of one secret in the window the latest wins
 * (restore_select()).
 *
 * Restoring never overwrites: each secret's tags are read right before its
 * creates, which are sent as soon as that read is answered (a few secrets
 * at a time), and a key that exists again is a conflict
 * (restore_decide()).  This is the only code path that creates a tag
 * (csms_create_secret_tag()), and it runs only on the explicit --restore
 * command.
 *
 * Targets (organisation mode): a record names its target -- in the ledger
 * by its row's target, in the journal by RECORD_PROJECT (the key) and
 * RECORD_TARGET (the name); records without them are the single-target
 * default's (key "").  A target's tags can only be recreated with a client
 * for that target, so restore_run() of a single-target configuration
 * considers only the default's records, and refuses a --target that
 * selects another target's; a caller that governs many targets splits the
 * selected set by target (restore_set_take_target()) and restores each
 * part with that target's configuration view (restore_apply()).
 */
#ifndef CSMS_RESTORE_H
#define CSMS_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "observation.h"

struct deletion_record {
	char *secret_id;
	char *secret_name;
	char *key;
	char *value;
	char *target;           /* the target's key (project id); "" single-target */
	char *target_name;      /* "" when unknown */
	uint64_t realtime_usec; /* when it was logged */
	size_t seq;             /* order read, for equal times */
};

struct restore_filter {
	uint64_t since_usec;    /* inclusive */
	uint64_t until_usec;    /* inclusive; UINT64_MAX: no end */
	const char *secret_glob;        /* fnmatch(3) on the secret name; NULL: all */
	const char *unit;       /* _SYSTEMD_UNIT that must match; NULL: any */
	const char *target_glob;        /* fnmatch(3) on the target key or name; NULL: all */
};

struct restore_set {
	struct deletion_record *items;
	size_t n, cap;
};


/* Read `journalctl -o json` lines from F (NAME for messages) and add each
 * deletion record that passes FLT to SET.  A field may be a string or, as
 * journalctl writes non-UTF-8 values, an array of byte values.  Returns 0,
 * or -EINVAL with "NAME:LINE: ..." in *error for input that is not one JSON
 * object per line or a deletion record with a missing or unusable field. */
int restore_read_json(FILE *f, const char *name, const struct restore_filter *flt,
                      struct restore_set *set, char **error);

/* The same from the ledger L (its "deleted" rows, of every target that
 * FLT->target_glob selects, whichever target L is; FLT->unit is not used). */
struct ledger;
int restore_read_ledger(struct ledger *l, const struct restore_filter *flt, struct restore_set *set,
                        char **error);

/* The same from the local journal (sd-journal), entries of FLT->unit. */
int restore_read_journal(const struct restore_filter *flt, struct restore_set *set, char **error);

/* Keep, per target, secret id and key, only the latest deletion; sort by
 * target key, secret id, then key. */
void restore_select(struct restore_set *set);

enum restore_verdict {
	RESTORE_CREATE,         /* absent: create it */
	RESTORE_PRESENT,        /* present with the same value: nothing to do */
	RESTORE_CONFLICT,       /* present with another value: never overwritten */
	RESTORE_SECRET_GONE,    /* the secret no longer exists */
	RESTORE_NO_ROOM,        /* the secret has 20 tags */
	RESTORE_INVALID,        /* the record's key or value cannot be sent */
};

/* Decide record D against the secret's current TAGS (NULL: the secret is
 * gone), CREATING being the tags this run already decided to create on the
 * same secret (for the 20-tag limit). */
enum restore_verdict restore_decide(const struct deletion_record *d, const struct tag_list *tags,
                                    size_t creating);

/* "restored", "already-present", "conflict", "secret-gone", "no-room", "invalid". */
const char *restore_verdict_to_string(enum restore_verdict v);

void restore_set_clear(struct restore_set *set);

/* Move the records of target KEY ("" the single-target default's) out of
 * SET into *RET (cleared first), in their order.  0 or -ENOMEM (SET is
 * unchanged then). */
int restore_set_take_target(struct restore_set *set, const char *key, struct restore_set *ret);

struct restore_options {
	struct restore_filter filter;
	const char *from;       /* journalctl -o json file, "-" for stdin; NULL: see UNIT */
	bool from_journal;      /* FROM NULL: the journal (FILTER.unit), not the ledger */
	bool dry_run;
};

/* Exit codes of --restore (csms-tagd(8)). */
enum {
	RESTORE_EXIT_OK = 0,            /* all restored, or nothing to do */
	RESTORE_EXIT_ERROR = 1,         /* nothing done: bad input, config, auth */
	RESTORE_EXIT_INCOMPLETE = 3,    /* some conflicts or failures */
};

/* The --restore command (restore-run.c), for a single-target
 * configuration: returns one of the codes above, or EX_CONFIG when the
 * configuration cannot be loaded.  Without O->filter.target_glob only the
 * default target's records are restored (others are counted in a notice);
 * a target glob that selects another target's records is refused
 * (RESTORE_EXIT_ERROR, nothing done). */
int restore_run(const char *config_path, const struct restore_options *o);

/* Its parts, for a caller that governs many targets.  Read the records O
 * names (CFG's ledger: every target's rows; or the journal) into SET,
 * selected (restore_select()): 0, or a negative errno with the message on
 * stderr. */
struct config;
int restore_read(const struct config *cfg, const struct restore_options *o, struct restore_set *set);
/* Restore SET -- selected records of one target -- with a client of CFG
 * (that target's configuration, or its view), on a manager of its own
 * (signals end it as for --restore), and log the summary.  Returns one of
 * the codes above.  SET is left to the caller. */
int restore_apply(const struct config *cfg, const struct restore_options *o, struct restore_set *set);

#endif
