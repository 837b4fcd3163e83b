/* plan-internal.h - what the plan model shares with its views (plan-text.c
 * judges each tag of an explained secret exactly as plan_compute() does).
 * Internal to plan*.c; the contract is plan.h and plan-view.h. */
#ifndef CSMS_PLAN_INTERNAL_H
#define CSMS_PLAN_INTERNAL_H

#include "plan.h"

enum verdict {
	VERDICT_KEEP,           /* the rules keep it */
	VERDICT_EXEMPT,         /* the rules delete it; an active exemption keeps it */
	VERDICT_WAIT,           /* the rules delete it; its grace period runs */
	VERDICT_DELETE,
};

struct judgement {
	struct decision d;
	enum verdict verdict;
	const struct exemption *exemption;      /* matching: active, or expired */
	bool expired;
	uint64_t grace, first_seen, due;
	uint8_t digest[GRACE_DIGEST_LEN];
};

/* S, or "" for NULL. */
const char *plan_str(const char *s);

/* The secrets of O in plan order (name, then id), without reordering O,
 * which the caller may share.  NULL on ENOMEM (or when O is empty). */
const struct secret **plan_sorted_secrets(const struct observation *o);

/* Judge tag T of secret S, governed by SECTION, at NOW: policy,
 * exemptions and grace clocks together, into *J. */
void plan_judge(const struct config *c, const struct section *section, const struct secret *s,
                const struct tag *t, uint64_t now, const struct grace_clocks *clocks,
                struct judgement *j);

/* Why a governed secret is left alone this pass, or NULL when it is not. */
const char *plan_skip_reason(const struct secret *s);

/* The required keys of SECTION that S lacks or holds with a value the
 * rules do not allow, into *REQ (zeroed when none; its strings malloc'd).
 * Returns 0 or -ENOMEM. */
int plan_check_required(const struct section *section, const struct secret *s,
                        struct plan_requirement *req);

#endif
