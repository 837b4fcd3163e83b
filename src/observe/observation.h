/* observation.h - the observed state of a project's secrets and their tags.
 *
 * An observation is what one pass learned from CSMS (or from a captured
 * ListResourceInstances answer given with --observed).  It owns every string
 * it holds.  A secret whose tags were not read completely carries
 * tags_complete = false: the planner skips it instead of treating it as
 * untagged, because "no tags seen" must never look like "no tags wanted".
 */
#ifndef CSMS_OBSERVATION_H
#define CSMS_OBSERVATION_H

#include <stdbool.h>
#include <stddef.h>

/* In a tag_list, key and value share one allocation (value follows the
 * key's NUL): an observation of 10,000 secrets holds 80,000 tags, and one
 * malloc per tag instead of two keeps it small. */
struct tag {
	char *key;
	char *value;            /* never NULL; "" for an empty value */
};

struct tag_list {
	struct tag *items;
	size_t n;
	size_t cap;
};

struct secret {
	char *id;               /* the UUID used by the tag APIs */
	char *name;             /* the name the policy matches */
	char *state;            /* ENABLED, DISABLED, PENDING_DELETE, FROZEN, or "" */
	struct tag_list tags;
	struct tag_list sys_tags;
	bool tags_complete;
};

struct observation {
	struct secret *secrets;
	size_t n;
	size_t cap;
};

/* Append an empty secret (all strings NULL, tags_complete = false) and
 * return it, or NULL on allocation failure. */
struct secret *observation_add(struct observation *o);

/* Append a copy of key/value to a list.  Returns 0 or -ENOMEM. */
int tag_list_add(struct tag_list *l, const char *key, const char *value);
void tag_list_clear(struct tag_list *l);
const struct tag *tag_list_find(const struct tag_list *l, const char *key);

/* Find a secret by id or by name; NULL when absent. */
struct secret *observation_find_id(const struct observation *o, const char *id);
struct secret *observation_find_name(const struct observation *o, const char *name);

/* Sort secrets by name (byte order) so plans and reports are deterministic. */
void observation_sort(struct observation *o);

/* Move every secret of SRC to the end of DST; SRC is left empty.  Returns 0
 * or -ENOMEM (then both are unchanged). */
int observation_move(struct observation *dst, struct observation *src);

void secret_clear(struct secret *s);
void observation_clear(struct observation *o);

#endif
