/* grace.h - grace clocks: since when each unwanted tag has been seen, so
 * that a grace period survives restarts, and when stored clocks still hold.
 *
 * A tag is named by the SHA-256 of its secret id, key and value (each with
 * its NUL): a new value is a new tag whose clock starts anew, and a clock
 * holds no tag text.  plan.c reads the clocks and makes the next set (every
 * tag it judged unwanted, with its first-seen time); the pass stores it in
 * the deletion ledger (ledger.h), which drops a deleted tag's clock in the
 * transaction that records the deletion.
 *
 * Losing clocks can only delay a deletion, never advance one: a missing
 * or foreign clock restarts, one whose time lies after now restarts, and
 * grace_trust() says when stored clocks no longer describe time that
 * passes watched (csms-tagd.conf(5), GRACE PERIODS).
 */
#ifndef CSMS_GRACE_H
#define CSMS_GRACE_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

#define GRACE_DIGEST_LEN 32

struct grace_clock {
	uint8_t digest[GRACE_DIGEST_LEN];
	uint64_t first_seen_usec;       /* CLOCK_REALTIME */
};

struct grace_clocks {
	struct grace_clock *v;          /* sorted by digest after grace_clocks_sort() */
	size_t n, cap;
};

/* When a clock set was saved, by the wall clock and by CLOCK_BOOTTIME in
 * boot BOOT_ID, so that a reader can tell elapsed time from a clock step. */
struct grace_stamp {
	uint64_t realtime_usec;
	uint64_t boottime_usec;
	char boot_id[40];       /* "" when unknown */
};

/* The stamp of now. */
void grace_stamp_now(struct grace_stamp *ret);

/* Whether clocks saved at THEN still hold at NOW.  A grace period is time
 * in which passes watched the tag stay unwanted, so:
 *   - GRACE_RESTART when no pass saved clocks for longer than MAX_GAP
 *     (the daemon was stopped, or every pass failed): by CLOCK_BOOTTIME in
 *     the same boot, by the wall clock across boots;
 *   - GRACE_SHIFT when, in the same boot, the wall clock advanced more
 *     than a second further than CLOCK_BOOTTIME (a clock step forward):
 *     *RET_STEP is the step, by which every clock moves forward
 *     (grace_clocks_shift()), so a step cannot end a grace early;
 *   - GRACE_KEEP otherwise (also when THEN is zero: nothing saved). */
enum grace_trust { GRACE_KEEP, GRACE_SHIFT, GRACE_RESTART };
enum grace_trust grace_trust(const struct grace_stamp *then, const struct grace_stamp *now,
                             uint64_t max_gap, uint64_t *ret_step);

/* Move every clock of C forward by STEP, to NOW at the latest. */
void grace_clocks_shift(struct grace_clocks *c, uint64_t step, uint64_t now);

/* The longest time between two saves that keeps clocks: the shortest
 * grace period of C, but at least two intervals plus a pass timeout (passes
 * further apart than a grace cannot watch it otherwise). */
uint64_t grace_max_gap(const struct config *c);

void grace_digest(const char *secret_id, const char *key, const char *value,
                  uint8_t digest[GRACE_DIGEST_LEN]);

/* The first-seen time of DIGEST in sorted C: 0, or -ENOENT. */
int grace_clocks_find(const struct grace_clocks *c, const uint8_t digest[GRACE_DIGEST_LEN],
                      uint64_t *ret_first_seen);

/* Append (C is unsorted until grace_clocks_sort()).  0 or -ENOMEM. */
int grace_clocks_add(struct grace_clocks *c, const uint8_t digest[GRACE_DIGEST_LEN],
                     uint64_t first_seen_usec);

/* Drop DIGEST from sorted C, if there. */
void grace_clocks_drop(struct grace_clocks *c, const uint8_t digest[GRACE_DIGEST_LEN]);

/* Sort by digest; of two entries for one digest the later time stays. */
void grace_clocks_sort(struct grace_clocks *c);

void grace_clocks_clear(struct grace_clocks *c);

#endif
