/* plan.h - the tags that should not exist, computed from a config and an
 * observation.  Pure logic: dry-run and real runs use the same plan; only
 * the executor differs.
 *
 * A tag policy_decide() deletes is, in this order:
 *   - kept, while an exemption matching it is active (plan.exempted); an
 *     expired one is noted on the item (exemption_expired);
 *   - waiting (plan.waiting) until it has been seen unwanted for the grace
 *     period (config_grace_for()), by the clocks given (grace.h);
 *   - else deleted (plan.items): only these count against the limit.
 * Required tags (/required) are reported per secret, never created.
 */
#ifndef CSMS_PLAN_H
#define CSMS_PLAN_H

#include <stdio.h>
#include <jansson.h>
#include "config.h"
#include "grace.h"
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
	unsigned file;          /* plan.files index of the section (and rule) */
	uint64_t decided_usec;  /* the plan's time: exemptions are judged at it */
	uint64_t grace_usec;    /* the grace period that applied; 0: none */
	uint64_t first_seen_usec;       /* grace_usec > 0: seen unwanted since */
	uint64_t due_usec;      /* grace_usec > 0: to be deleted from then on */
	/* The exemption that matched, if any: it keeps the tag (plan.exempted),
	 * or it has expired and the rules decide again (exemption_expired). */
	unsigned exemption_line;        /* its [exempt] header; 0: none */
	unsigned exemption_file;        /* plan.files index */
	bool exemption_expired;
	char *exemption_name;
	char *exemption_reason;
	uint64_t exemption_expires_usec;
};

/* A governed secret lacking required tags, or carrying them with a value
 * its rules do not allow. */
struct plan_requirement {
	char *secret_id;
	char *secret_name;
	unsigned required_line; /* the section's /required */
	unsigned file;          /* plan.files index of the section */
	char *missing;          /* "owner, env", or NULL */
	char *invalid;          /* "env=test, owner=x", or NULL */
	size_t n_missing, n_invalid;
};

/* An active exemption that kept no tag this time. */
struct plan_unused_exemption {
	char *name;
	unsigned line;
	unsigned file;          /* plan.files index */
};

/* What plan_compute() judges with besides the config and the observation. */
struct plan_time {
	uint64_t now_usec;                      /* CLOCK_REALTIME */
	const struct grace_clocks *clocks;      /* sorted; NULL: every clock starts now */
};

struct plan {
	char *config_path;      /* the main file (config.path) */
	char **files;           /* a copy of config.files, for "FILE:LINE" references */
	size_t n_files;
	struct plan_item *items;        /* sorted by secret name, then key */
	size_t n;
	size_t n_secrets;               /* secrets observed */
	size_t n_governed;              /* of those, governed by a section */
	size_t n_pending_delete;        /* governed but skipped: PENDING_DELETE */
	size_t n_incomplete;            /* governed but skipped: tags not fully read */
	size_t n_tags;                  /* tags examined on governed secrets */
	uint64_t now_usec;              /* the time judged at */
	struct plan_item *waiting;      /* unwanted, grace period running; sorted */
	size_t n_waiting;
	struct plan_item *exempted;     /* unwanted, kept by an active exemption; sorted */
	size_t n_exempted;
	struct plan_requirement *required;      /* by secret name */
	size_t n_required;
	size_t n_required_missing;      /* keys missing, over all secrets */
	size_t n_required_invalid;      /* keys with a value not allowed */
	struct plan_unused_exemption *unused;   /* file order */
	size_t n_unused;
	/* The clocks to store: every unwanted tag of a read secret that has a
	 * grace period, with its first-seen time (sorted).  A tag that became
	 * wanted or disappeared, or whose secret was not read, drops out. */
	struct grace_clocks clocks;
};

/* Compute the plan at time T (NULL: now, no clocks).  Returns 0 or -ENOMEM.
 * The plan copies what it needs: it stays valid after the observation, the
 * clocks and the config are freed. */
int plan_compute(const struct config *c, const struct observation *o, const struct plan_time *t,
                 struct plan *ret);
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
 * SYS_TAGS, right before deleting, at the item's decided_usec.  On
 * RECHECK_DELETE, *VALUE points at the value as re-read (inside TAGS), which
 * is what the journal must record.  A changed value under a grace period
 * is kept: it is a new tag whose clock has not run. */
enum recheck_verdict plan_recheck(const struct config *c, const struct plan_item *it,
                                  const struct tag_list *tags, const struct tag_list *sys_tags,
                                  const char **value);

/* Whether IT's verdict could change with its value, so that it must be
 * re-checked right before its DELETE: a value list decided it, or a grace
 * period (clocks are per value) or an exemption with a value glob could
 * apply to its key. */
bool plan_needs_recheck(const struct config *c, const struct plan_item *it);

/* Keep only the items for which KEEP returns true (order kept); the others
 * are freed.  Returns how many were dropped.  --apply-plan narrows a fresh
 * plan to the saved items with this (pass.c). */
size_t plan_retain(struct plan *p, bool (*keep)(const struct plan_item *it, void *userdata),
                   void *userdata);

/* What requirement Q lacks: "missing K1, K2; value not allowed K=V" (either
 * part alone when the other is empty), the one wording of the table,
 * --explain and the journal.  As observed, not escaped; malloc'd, NULL on
 * ENOMEM. */
char *plan_requirement_text(const struct plan_requirement *q);

/* The name of file FILE of the plan's config (an index in plan.files). */
const char *plan_file(const struct plan *p, unsigned file);

/* "FILE:LINE" of the rule (or section when no rule) behind an item, into BUF. */
const char *plan_item_rule_ref(const struct plan *p, const struct plan_item *it,
                               char *buf, size_t size);

#endif
