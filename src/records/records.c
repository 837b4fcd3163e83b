/* records.c - the per-tag journal records of a pass.  See records.h. */
#include "records.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grace.h"
#include "log.h"
#include "policy.h"
#include "values.h"

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

static void vrecord_item(const struct record_ctx *c, int level, const char *mid,
                         const struct plan_item *it, const struct csms_result *r, int64_t ledger_id,
                         const char *outcome, const char *text)
{
	char ref[300], status[16] = "", exemption[300] = "", expires[32] = "", id[24] = "";
	char grace[32] = "", first_seen[32] = "", due[32] = "";

	if (r && r->status)
		snprintf(status, sizeof(status), "%ld", r->status);
	if (ledger_id > 0)
		snprintf(id, sizeof(id), "%lld", (long long) ledger_id);
	if (it->exemption_line) {
		snprintf(exemption, sizeof(exemption), "%s:%u", plan_file(c->plan, it->exemption_file), it->exemption_line);
		format_utc_time(expires, sizeof(expires), it->exemption_expires_usec);
	}
	if (it->grace_usec) {
		format_timespan(grace, sizeof(grace), it->grace_usec);
		format_utc_time(first_seen, sizeof(first_seen), it->first_seen_usec);
		format_utc_time(due, sizeof(due), it->due_usec);
	}
	(outcome ? log_record : log_event)(level, mid,
	          LOG_FIELDS({ RECORD_SECRET_ID, it->secret_id },
	                     { RECORD_SECRET_NAME, it->secret_name },
	                     { RECORD_TAG_KEY, it->key },
	                     { RECORD_TAG_VALUE, it->value },
	                     { RECORD_RULE, plan_item_rule_ref(c->plan, it, ref, sizeof(ref)) },
	                     { RECORD_REASON, reason_to_string(it->reason) },
	                     { RECORD_DRY_RUN, c->dry_run ? "1" : "0" },
	                     { RECORD_LEDGER_ID, id[0] ? id : NULL },
	                     { RECORD_LEDGER_OUTCOME, outcome },
	                     { "CSMS_REQUEST_ID", r ? r->request_id : NULL },
	                     { "HTTP_STATUS", status[0] ? status : NULL },
	                     { "CSMS_ERROR_CODE", r ? r->error_code : NULL },
	                     { "CSMS_EXEMPTION", exemption[0] ? exemption : NULL },
	                     { "CSMS_EXEMPTION_NAME", it->exemption_name },
	                     { "CSMS_EXEMPTION_REASON", it->exemption_reason },
	                     { "CSMS_EXEMPTION_EXPIRES", expires[0] ? expires : NULL },
	                     { "CSMS_GRACE", grace[0] ? grace : NULL },
	                     { "CSMS_FIRST_SEEN", first_seen[0] ? first_seen : NULL },
	                     { "CSMS_DUE", due[0] ? due : NULL },
	                     RECORD_TARGET_FIELDS(c->target)),
	          "%s", text ? text : "?");
}

void record_item(const struct record_ctx *c, int level, const char *mid, const struct plan_item *it,
                 const struct csms_result *r, int64_t ledger_id, const char *outcome,
                 const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	vrecord_item(c, level, mid, it, r, ledger_id, outcome, text);
}

void record_plan_skip(const struct record_ctx *c, const struct saved_item *it, const char *reason,
                      const char *why)
{
	log_event(LOG_NOTICE, MID_PLAN_ITEM_SKIPPED,
	          LOG_FIELDS({ RECORD_SECRET_ID, it->secret_id },
	                     { RECORD_SECRET_NAME, it->secret_name },
	                     { RECORD_TAG_KEY, it->key },
	                     { RECORD_TAG_VALUE, it->value },
	                     { RECORD_RULE, it->rule },
	                     { "CSMS_SKIP_REASON", reason },
	                     { "CSMS_PLAN_FILE", c->plan_path },
	                     { RECORD_DRY_RUN, c->dry_run ? "1" : "0" },
	                     RECORD_TARGET_FIELDS(c->target)),
	          "Plan item %s=%s on secret %s not deleted: %s (%s)",
	          it->key, it->value, it->secret_name, why, reason);
}

void record_resolved(const struct ledger_deletion *d, enum ledger_outcome o, const char *how)
{
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long) d->id);
	log_record(o == LEDGER_DELETED ? LOG_NOTICE : LOG_WARNING,
	           o == LEDGER_DELETED ? MID_TAG_DELETED : MID_DELETE_FAILED,
	           LOG_FIELDS({ RECORD_SECRET_ID, d->secret_id },
	                      { RECORD_SECRET_NAME, d->secret_name },
	                      { RECORD_TAG_KEY, d->key },
	                      { RECORD_TAG_VALUE, d->value },
	                      { RECORD_RULE, d->rule },
	                      { RECORD_REASON, d->reason },
	                      { RECORD_DRY_RUN, "0" },
	                      { RECORD_LEDGER_ID, id },
	                      { RECORD_LEDGER_OUTCOME, ledger_outcome_to_string(o) },
	                      { "CSMS_INTENT_PASS_ID", d->pass_id },
	                      { RECORD_TARGET, nonempty(d->target_name) },
	                      { RECORD_ACCOUNT, nonempty(d->account_id) },
	                      { RECORD_REGION, nonempty(d->region) },
	                      { RECORD_PROJECT, nonempty(d->target) }),
	           "Deletion of tag %s=%s from secret %s (pass %s, interrupted) resolved: %s (%s)",
	           d->key, d->value, d->secret_name, d->pass_id, ledger_outcome_to_string(o), how);
}

static void record_expired(const struct record_ctx *c, const struct plan_item *it, uint64_t previous)
{
	char when[32];

	/* Only when it lapsed since the last observing pass. */
	if (!it->exemption_line || !it->exemption_expired ||
	    (previous && it->exemption_expires_usec < previous))
		return;
	record_item(c, LOG_NOTICE, MID_EXEMPTION_EXPIRED, it, NULL, 0, NULL,
	            "Exemption \"%s\" at %s:%u expired on %s: tag %s on secret %s goes by the rules again (%s)",
	            it->exemption_name, plan_file(c->plan, it->exemption_file), it->exemption_line,
	            format_utc_time(when, sizeof(when), it->exemption_expires_usec), it->key,
	            it->secret_name, reason_to_string(it->reason));
}

static bool kept_before(const struct grace_clocks *kept, const struct plan_item *it)
{
	uint8_t d[GRACE_DIGEST_LEN];
	uint64_t t;

	if (!kept)
		return false;
	grace_digest(it->secret_id, it->key, it->value, d);
	return grace_clocks_find(kept, d, &t) == 0;
}

static void record_tags(const struct record_ctx *c, const struct grace_clocks *kept, uint64_t previous)
{
	const struct plan *pl = c->plan;
	char when[32], span[32];

	for (size_t i = 0; i < pl->n_exempted; i++) {
		const struct plan_item *it = &pl->exempted[i];

		if (kept_before(kept, it))
			continue;
		record_item(c, LOG_INFO, MID_TAG_EXEMPTED, it, NULL, 0, NULL,
		            "Kept tag %s=%s on secret %s although the rules delete it (%s): exemption \"%s\" at %s:%u "
		            "until %s: %s", it->key, it->value, it->secret_name, reason_to_string(it->reason),
		            it->exemption_name, plan_file(pl, it->exemption_file), it->exemption_line,
		            format_utc_time(when, sizeof(when), it->exemption_expires_usec), it->exemption_reason);
	}
	for (size_t i = 0; i < pl->n_waiting; i++) {
		const struct plan_item *it = &pl->waiting[i];

		record_expired(c, it, previous);
		if (it->first_seen_usec != it->decided_usec)
			continue;       /* was waiting already */
		record_item(c, LOG_INFO, MID_TAG_GRACE, it, NULL, 0, NULL,
		            "Tag %s=%s on secret %s is not allowed (%s); its deletion is due %s (grace %s)",
		            it->key, it->value, it->secret_name, reason_to_string(it->reason),
		            format_utc_time(when, sizeof(when), it->due_usec),
		            format_timespan(span, sizeof(span), it->grace_usec));
	}
	for (size_t i = 0; i < pl->n; i++)
		record_expired(c, &pl->items[i], previous);
}

void record_requirement_digest(const struct plan_requirement *q, uint8_t digest[GRACE_DIGEST_LEN])
{
	_cleanup_free_ char *finding = xasprintf("%s\n%s", q->missing ? q->missing : "",
	                                         q->invalid ? q->invalid : "");

	/* A key no tag can have ("" is refused by the API) keeps the two
	 * kinds of digest apart. */
	grace_digest(q->secret_id, "", finding ? finding : "?", digest);
}

void record_governance(const struct record_ctx *c, const struct grace_clocks *kept, uint64_t previous)
{
	const struct plan *pl = c->plan;
	char ref[300], missing[24], invalid[24];

	record_tags(c, kept, previous);
	for (size_t i = 0; i < pl->n_unused; i++) {
		snprintf(ref, sizeof(ref), "%s:%u", plan_file(pl, pl->unused[i].file), pl->unused[i].line);
		log_event(LOG_WARNING, MID_EXEMPTION_UNUSED,
		          LOG_FIELDS({ "CSMS_EXEMPTION", ref },
		                     { "CSMS_EXEMPTION_NAME", pl->unused[i].name },
		                     RECORD_TARGET_FIELDS(c->target)),
		          "Exemption \"%s\" at %s kept no tag this pass: it matches no tag the rules would delete",
		          pl->unused[i].name, ref);
	}
	for (size_t i = 0; i < pl->n_required; i++) {
		const struct plan_requirement *q = &pl->required[i];
		uint8_t d[GRACE_DIGEST_LEN];
		uint64_t t;

		record_requirement_digest(q, d);
		if (kept && grace_clocks_find(kept, d, &t) == 0)
			continue;       /* reported so at the last pass */
		snprintf(ref, sizeof(ref), "%s:%u", plan_file(pl, q->file), q->required_line);
		snprintf(missing, sizeof(missing), "%zu", q->n_missing);
		snprintf(invalid, sizeof(invalid), "%zu", q->n_invalid);
		log_event(LOG_WARNING, MID_REQUIRED_TAGS,
		          LOG_FIELDS({ RECORD_SECRET_ID, q->secret_id },
		                     { RECORD_SECRET_NAME, q->secret_name }, { RECORD_RULE, ref },
		                     { "CSMS_REQUIRED_MISSING", q->missing },
		                     { "CSMS_REQUIRED_INVALID", q->invalid },
		                     { "CSMS_REQUIRED_MISSING_COUNT", missing },
		                     { "CSMS_REQUIRED_INVALID_COUNT", invalid },
		                     RECORD_TARGET_FIELDS(c->target)),
		          "Secret %s lacks required tags (%s): %s%s%s%s%s; they are reported, never created",
		          q->secret_name, ref, q->missing ? "missing " : "", q->missing ? q->missing : "",
		          q->missing && q->invalid ? "; " : "", q->invalid ? "value not allowed " : "",
		          q->invalid ? q->invalid : "");
	}
}
