/* org-targets.h - the targets a hand run works on (--plan, --explain,
 * --check-config, --restore, --history in organisation mode): the
 * configured [target]s and, with [discover], those the service's last
 * discovery found (kept in its ledger, org-discover.h), selected by
 * --target GLOB (target_selected(); NULL: all). */
#ifndef CSMS_ORG_TARGETS_H
#define CSMS_ORG_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct org_selection {
	struct target *v;               /* configured ones first, in file order */
	size_t n;
	size_t n_discovered;            /* of them, from the last discovery */
	uint64_t discovered_usec;       /* when it saved them; 0: never */
	bool no_ledger;                 /* [discover], but no ledger to read them from */
};

/* Fill *RET for C and GLOB.  Returns 0 or -ENOMEM. */
int org_select(const struct config *c, const char *glob, struct org_selection *ret);
void org_selection_clear(struct org_selection *s);

/* "NAME (account A, region R, project P)" for people, into BUF. */
const char *target_describe(const struct target *t, char *buf, size_t size);

#endif
