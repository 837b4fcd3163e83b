/* observe.h - read a project's secrets and their tags from CSMS.
 *
 * Two ways to read (config observe=):
 *   ListResourceInstances: pages of secrets with their tags.  The first
 *     page's total_count says how many pages follow; at most WINDOW pages
 *     are in flight, the next one is asked for when one is answered.  The
 *     answer is inconsistent (the listing is incomplete) when total_count
 *     is negative or over OBSERVE_MAX_SECRETS, changes between pages, a page
 *     comes back empty before the end, ids repeat, or the distinct secrets
 *     read differ from total_count.  Memory never grows beyond what was
 *     actually received.
 *   ListSecrets + ListSecretTags: pages follow the API's own next marker
 *     (decode_list_secrets()) until there is none or a page is empty; no
 *     sort order is assumed, so a marker that
 *     comes back a second time, or more than OBSERVE_MAX_PAGES pages, make
 *     the listing incomplete.  Then one ListSecretTags per secret, at most
 *     WINDOW in flight; a secret whose tags could not be read stays in the
 *     observation with tags_complete = false.
 * With observe=auto an incomplete ListResourceInstances listing falls back
 * to ListSecrets, starting from nothing -- but not after a 429 (more
 * requests would make it worse) nor a 401 (with AK/SK every bad signature
 * counts towards the key's lockout).
 *
 * An observation owns every call it makes (owner token: itself);
 * observe_free() cancels them all, so no callback outlives it.
 */
#ifndef CSMS_OBSERVE_H
#define CSMS_OBSERVE_H

#include <stdbool.h>
#include "config.h"
#include "csms.h"
#include "observation.h"

#define OBSERVE_MAX_SECRETS     100000  /* far beyond a CSMS project's quota */
#define OBSERVE_MAX_PAGES       5000
#define OBSERVE_RI_PAGE_LIMIT   250
#define OBSERVE_LIST_PAGE_LIMIT 200

struct observe_result {
	/* Every secret of the project is in OBS.  Some may still lack their
	 * tags (tags_complete = false); when false, nothing may be deleted. */
	bool complete;
	bool throttled;         /* a request ended in 429 */
	bool auth_refused;      /* a 401 that a credential refresh did not cure */
	const char *observed_by;        /* "ListResourceInstances" or "ListSecrets" */
	char failure[256];      /* the first problem, "" when none */
	struct observation obs; /* the caller may move it out */
};

struct observe;
/* Called once, never from within observe_start(); may observe_free(). */
typedef void (*observe_done_t)(struct observe_result *res, void *userdata);

/* Read the project through CLIENT.  HOW is OBSERVE_AUTO (with fallback),
 * OBSERVE_RESOURCE_INSTANCES or OBSERVE_LIST_SECRETS; WINDOW (>= 1) bounds
 * the requests of one kind in flight.  PASS numbers the log lines. */
int observe_start(struct csms *client, enum observe_mode how, unsigned window, unsigned pass,
                  observe_done_t done, void *userdata, struct observe **ret);

/* Cancel every outstanding call (no callback afterwards) and free. */
void observe_free(struct observe *ob);

#endif
