/* records.h - the deletion record: one schema for the journal writer, the
 * ledger (ledger.h) and restore (restore.h).
 *
 * The field names below are the only spelling of a per-tag record's
 * fields: the pass writes them (record_item()), --restore --from reads them
 * back (restore.c), and a ledger row (struct ledger_deletion) carries the
 * same facts under the same meaning.  A journal record is the operator's
 * view of a ledger outcome; the ledger is the record that undo trusts.
 *
 * Every record of a deletion outcome (deleted, already gone, failed,
 * resolved) is written with log_record(): --log-level never filters it.
 * When redaction (redact.h) had to alter a field, log.c adds
 * LOG_FIELD_REDACTED naming it; a record whose RECORD_TAG_VALUE was
 * withheld cannot be restored from the journal, only from the ledger.
 */
#ifndef CSMS_RECORDS_H
#define CSMS_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include "csms.h"
#include "ledger.h"
#include "plan.h"
#include "planfile.h"
#include "util.h"

#define RECORD_SECRET_ID        "CSMS_SECRET_ID"
#define RECORD_SECRET_NAME      "CSMS_SECRET_NAME"
#define RECORD_TAG_KEY          "CSMS_TAG_KEY"
#define RECORD_TAG_VALUE        "CSMS_TAG_VALUE"
#define RECORD_RULE             "CSMS_RULE"
#define RECORD_REASON           "CSMS_REASON"
#define RECORD_DRY_RUN          "DRY_RUN"
#define RECORD_LEDGER_ID        "CSMS_LEDGER_ID"
#define RECORD_LEDGER_OUTCOME   "CSMS_LEDGER_OUTCOME"
#define RECORD_LEDGER_PATH      "CSMS_LEDGER"
/* Organisation mode: which target a record is about (its name, account id,
 * region, project id).  Single-target records do not have them. */
#define RECORD_TARGET           "CSMS_TARGET"
#define RECORD_ACCOUNT          "CSMS_ACCOUNT"
#define RECORD_REGION           "CSMS_REGION"
#define RECORD_PROJECT          "CSMS_PROJECT"

/* The four as LOG_FIELDS() entries for target settings T (a struct
 * csms_settings *: a config view's csms; NULL or without a target_name:
 * single-target, all four omitted). */
#define RECORD_TARGET_FIELDS(t) \
	{ RECORD_TARGET, record_target_of(t) ? (t)->target_name : NULL }, \
	{ RECORD_ACCOUNT, record_target_of(t) ? account_label((t)->account_id, (t)->account_name) : NULL }, \
	{ RECORD_REGION, record_target_of(t) ? (t)->region : NULL }, \
	{ RECORD_PROJECT, record_target_of(t) ? (t)->project_id : NULL }

static inline bool record_target_of(const struct csms_settings *t)
{
	return t && t->target_name;
}

/* What every per-tag record of a pass names besides the tag. */
struct record_ctx {
	const struct plan *plan;        /* config path, rule references */
	bool dry_run;
	const char *plan_path;          /* --apply-plan file, or NULL */
	/* The target's settings (its config view's csms): when TARGET_NAME is
	 * set (organisation mode), every record names the target with
	 * RECORD_TARGET, _ACCOUNT (when not the base identity's own),
	 * _REGION and _PROJECT.  NULL: none, as with one target. */
	const struct csms_settings *target;
};

/* A per-tag record about plan item IT: MID at LEVEL, with the answer R
 * (may be NULL), LEDGER_ID (0: none) and OUTCOME (NULL: none).  Records
 * with an OUTCOME are never filtered by --log-level. */
void record_item(const struct record_ctx *c, int level, const char *mid, const struct plan_item *it,
                 const struct csms_result *r, int64_t ledger_id, const char *outcome,
                 const char *fmt, ...) _printf_(8, 9);

/* --apply-plan: saved item IT is not deleted, for REASON (WHY in words). */
void record_plan_skip(const struct record_ctx *c, const struct saved_item *it, const char *reason,
                      const char *why);

/* A ledger row resolved outside a pass's plan (an intent left pending by
 * a crash or an abort, resolved by reading the secret): one record, with
 * the row's target fields (those not "") as RECORD_TARGET, ... */
void record_resolved(const struct ledger_deletion *d, enum ledger_outcome o, const char *how);

/* The governance findings of a plan, as transitions only: a tag that
 * starts waiting (its clock started this pass), an exemption that keeps a
 * tag it did not keep at the last pass, a secret whose missing or invalid
 * required tags differ from the last pass's (KEPT_BEFORE: the digests of
 * what the last pass reported, NULL: unknown), an exemption that lapsed
 * since PREVIOUS_USEC (the last observing pass; 0: unknown); plus unused
 * exemptions.  Per-pass totals go in the pass summary. */
void record_governance(const struct record_ctx *c, const struct grace_clocks *kept_before,
                       uint64_t previous_usec);

/* The digest under which requirement finding Q is remembered as reported
 * (beside the exempted tags' digests, grace_digest()). */
void record_requirement_digest(const struct plan_requirement *q, uint8_t digest[GRACE_DIGEST_LEN]);

#endif
