/* plan.h - the tags that should not exist, computed from a config and an
 * observation.  Pure logic: dry-run and real runs use the same plan; only
 * the executor differs.
 */
#ifndef CSMS_PLAN_H
#define CSMS_PLAN_H

#include <stdio.h>
#include <jansson.h>
#include "config.h"
#include "observation.h"
#include "policy.h"

struct plan_item {
	char *secret_id;
	char *secret_name;
	char *key;
	char *value;
	enum reason reason;
	unsigned rule_line;     /* 0 when no rule decided (REASON_NO_RULE) */
	unsigned section_line;  /* line of the governing section header */
};

struct plan {
	char *config_path;      /* for "FILE:LINE" rule references */
	struct plan_item *items;        /* sorted by secret name, then key */
	size_t n;
	size_t n_secrets;               /* secrets observed */
	size_t n_governed;              /* of those, governed by a section */
	size_t n_pending_delete;        /* governed but skipped: PENDING_DELETE */
	size_t n_incomplete;            /* governed but skipped: tags not fully read */
	size_t n_tags;                  /* tags examined on governed secrets */
};

/* Compute the plan.  Returns 0 or -ENOMEM.  The plan copies what it needs:
 * it stays valid after the observation and config are freed. */
int plan_compute(const struct config *c, const struct observation *o, struct plan *ret);
void plan_clear(struct plan *p);

/* A secret holds at most 20 user tags (csms-api.md 2.9). */
#define PLAN_MAX_TAGS_PER_SECRET 20

/* The most deletions the project could need this pass: the planned ones
 * plus PLAN_MAX_TAGS_PER_SECRET for every governed secret whose tags could
 * not be read.  A pass whose worst case exceeds max_deletes_per_pass is held
 * (deletes nothing), so unread secrets never turn a pass that a complete
 * read would hold into one that deletes. */
size_t plan_worst_case(const struct plan *p);

enum recheck_verdict {
	RECHECK_DELETE,         /* still unwanted: delete (with the fresh value) */
	RECHECK_KEEP,           /* policy now keeps it (e.g. value corrected) */
	RECHECK_GONE,           /* the key is no longer on the secret */
};

/* Decide plan item IT again on a fresh read of its secret's TAGS and
 * SYS_TAGS, right before deleting.  On RECHECK_DELETE, *VALUE points at the
 * value as re-read (inside TAGS), which is what the journal must record. */
enum recheck_verdict plan_recheck(const struct config *c, const struct plan_item *it,
                                  const struct tag_list *tags, const struct tag_list *sys_tags,
                                  const char **value);

/* Keep only the items for which KEEP returns true (order kept); the others
 * are freed.  Returns how many were dropped.  --apply-plan narrows a fresh
 * plan to the saved items with this (pass.c). */
size_t plan_retain(struct plan *p, bool (*keep)(const struct plan_item *it, void *userdata),
                   void *userdata);

/* "FILE:LINE" of the rule (or section when no rule) behind an item, into BUF. */
const char *plan_item_rule_ref(const struct plan *p, const struct plan_item *it,
                               char *buf, size_t size);

/* Human table on F. */
void plan_print_table(const struct plan *p, FILE *f);

/* {"summary": {...}, "deletions": [{secret_id, secret_name, key, value,
 *  reason, rule}, ...]}; NULL on allocation failure. */
json_t *plan_to_json(const struct plan *p);

/* Print, for the secret named NAME, the governing section and each tag's
 * verdict with the rule that decided it.  Returns 0, or -ENOENT when the
 * observation has no such secret. */
int plan_explain(const struct config *c, const struct observation *o, const char *name, FILE *f);

#endif
