/* plan-view.h - how a plan is shown: a table and an explanation for
 * people (plan-text.c), JSON for programs (plan-json.c).  Views only: they
 * judge nothing that plan_compute() did not. */
#ifndef CSMS_PLAN_VIEW_H
#define CSMS_PLAN_VIEW_H

#include <stdio.h>
#include <jansson.h>
#include "plan.h"

/* Human table on F. */
void plan_print_table(const struct plan *p, FILE *f);

/* Item IT of P as JSON: {secret_id, secret_name, key, value, reason,
 * rule} and, with EXTRAS, the grace period and exemption fields that apply
 * (grace, first_seen, due; exemption, exemption_name, exemption_reason,
 * exemption_expires, exemption_expired).  The one serialisation of a plan
 * item, for --plan --json and saved plans alike, with one UTF-8 policy:
 * text that is not valid UTF-8 (never so when it came through jansson) is
 * written escaped as escape_for_log() does, never refused, so a plan can
 * always be shown and saved.  NULL on ENOMEM. */
json_t *plan_item_to_json(const struct plan *p, const struct plan_item *it, bool extras);

/* {"summary": {...}, "deletions": [{secret_id, secret_name, key, value,
 *  reason, rule}, ...], "waiting": [... + first_seen, due], "exempted":
 *  [... + exemption, reason, expires], "required": [{secret_id,
 *  secret_name, missing, invalid}], "unused_exemptions": [...]}; times in
 *  UTC text.  NULL on allocation failure. */
json_t *plan_to_json(const struct plan *p);

/* Print, for the secret named NAME, the governing section and each tag's
 * verdict with the rule that decided it, the exemption that keeps it or
 * the time its deletion is due, and its missing required tags, judged at
 * T as plan_compute() does.  Returns 0, or -ENOENT when the observation has
 * no such secret. */
int plan_explain(const struct config *c, const struct observation *o, const struct plan_time *t,
                 const char *name, FILE *f);

#endif
