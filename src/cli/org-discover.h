/* org-discover.h - [discover] while the daemon runs (csms-tagd.conf(5)
 * DISCOVERY): at start and then every discovery interval, the projects
 * the base identity reaches ("self") and, as the organisation's management
 * account, the member accounts whose id or name matches a glob, each
 * listed through the agency it assumes there (discover.h); a project
 * whose name is one of the regions is a target.
 *
 * What a round finds changes the org (org.h): a new target is added and
 * journaled (MID_TARGET_ADDED); unless the ledger knew it from an earlier
 * round, its first pass is a dry run, so that it shows in the journal
 * before anything in it is deleted.  A target no longer found is dropped
 * with a record (MID_TARGET_DROPPED) -- but never because a listing
 * failed: then the targets of that account stay as they were.  Configured
 * [target]s are never dropped.  The ledger keeps the discovered set, for
 * --check-config and for the next start.
 *
 * Owns its timer, its credentials and listings (cancelled on free); the
 * org owns the targets. */
#ifndef CSMS_ORG_DISCOVER_H
#define CSMS_ORG_DISCOVER_H

#include "config.h"
#include "manager.h"
#include "org.h"

struct ledger;
struct org_discovery;

/* A round has ended and changed the org (or not). */
typedef void (*org_discovered_t)(void *userdata);

/* Start discovery for C's [discover] into O: the first round now.  LEDGER
 * may be NULL (a dry run without one: nothing remembered).  Returns 0 or a
 * negative errno. */
int org_discovery_new(struct manager *m, struct org *o, const struct config *c, struct ledger *ledger,
                      org_discovered_t done, void *userdata, struct org_discovery **ret);
void org_discovery_free(struct org_discovery *d);

#endif
