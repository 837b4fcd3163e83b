/* grace.h - the grace clock store: since when each unwanted tag has been
 * seen, so that a grace period survives restarts.
 *
 * A tag is named by the SHA-256 of its secret id, key and value (each with
 * its NUL): a new value is a new tag whose clock starts anew, and the file
 * holds no tag text.  plan.c reads the clocks and makes the next set (every
 * tag it judged unwanted, with its first-seen time); pass.c stores it.
 *
 * Losing clocks can only delay a deletion, never advance one:
 *   - a missing file is an empty store;
 *   - a file that does not parse is refused whole (every clock restarts);
 *   - an entry whose time lies after NOW is dropped (its clock restarts);
 *   - a store that cannot be written is removed (every clock restarts).
 *
 * The file is replaced atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory.  Format: the line
 * "csms-tagd grace clocks 1", then one "HEX64 USEC" line per tag, sorted.
 */
#ifndef CSMS_GRACE_H
#define CSMS_GRACE_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

#define GRACE_DIGEST_LEN 32
#define GRACE_STATE_FILE "grace-clocks"

struct grace_clock {
	uint8_t digest[GRACE_DIGEST_LEN];
	uint64_t first_seen_usec;       /* CLOCK_REALTIME */
};

struct grace_clocks {
	struct grace_clock *v;          /* sorted by digest after grace_clocks_sort() */
	size_t n, cap;
};

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

/* Read PATH into *RET (always a valid, sorted store, empty on error).
 * Returns 0 (entries after NOW_USEC dropped, counted in *RET_FUTURE),
 * -ENOENT (no file), -EBADMSG (does not parse), -ENOMEM or another
 * negative errno (unreadable). */
int grace_clocks_load(const char *path, uint64_t now_usec, struct grace_clocks *ret,
                      size_t *ret_future);

/* What a grace_clocks_load() error means, for a message "PATH: ...": NULL
 * for -ENOENT (a missing store is not a problem) and success. */
const char *grace_load_error(int r);

/* Replace PATH atomically with sorted C.  0 or a negative errno; on error
 * PATH is left as it was. */
int grace_clocks_save(const char *path, const struct grace_clocks *c);

/* Remove PATH; 0 also when it does not exist. */
int grace_clocks_remove(const char *path);

/* The store's path: GRACE_STATE_FILE in [daemon] state_directory, else in
 * the state directory (state_file_path()).  NULL on ENOMEM. */
char *grace_state_path(const struct config *c);

#endif
