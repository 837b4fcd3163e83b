/* metrics-targets.c - the targets of an organisation's snapshot: counted by
 * state, selected by a glob, judged for --status (metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const known_states[] = { METRICS_TARGET_STATES };

int metrics_target_states(const struct metrics_snapshot *s, struct metrics_count **ret, size_t *n)
{
	size_t k = ELEMENTSOF(known_states), cap = k + 1;
	struct metrics_count *c = calloc(cap, sizeof(*c));

	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < k; i++)
		c[i].key = known_states[i];
	/* Few distinct states: a linear search per target is linear overall. */
	for (size_t t = 0; t < s->n_targets; t++) {
		const char *state = s->targets[t].target_state ? s->targets[t].target_state : "unknown";
		size_t j = 0;

		while (j < k && !streq_ptr(c[j].key, state))
			j++;
		if (j == k) {
			if (k == cap) {
				struct metrics_count *grown = realloc(c, 2 * cap * sizeof(*c));

				if (!grown) {
					free(c);
					return -ENOMEM;
				}
				c = grown;
				cap *= 2;
			}
			c[k++] = (struct metrics_count) { .key = state };
		}
		c[j].value++;
	}
	*ret = c;
	*n = k;
	return 0;
}

static bool glob_hits(const char *glob, const char *value)
{
	return value && fnmatch(glob, value, 0) == 0;
}

bool metrics_target_selected(const struct metrics_snapshot *t, const char *glob)
{
	return glob_hits(glob, t->target_name) || glob_hits(glob, t->account_id) ||
	       glob_hits(glob, t->account_name) || glob_hits(glob, t->project_id);
}

bool metrics_target_unhealthy(const struct metrics_snapshot *t)
{
	if (t->target_state)
		return streq_ptr(t->target_state, "failing") || streq_ptr(t->target_state, "partial");
	return t->outcome == PASS_FAILED || t->outcome == PASS_PARTIAL || t->outcome == PASS_ABORTED;
}
