/* fuzz-planfile.c - saved_plan_parse() on arbitrary bytes: a plan file given
 * to --apply-plan is outside input (it may have been edited by hand).  On
 * success every item is complete and the items are sorted with no
 * duplicates, so saved_plan_find() can only narrow a pass; on failure there
 * is a message and nothing is left behind. */
#include <errno.h>

#include "fuzz-util.h"
#include "planfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct saved_plan sp = {};
	char *error = NULL;
	int r;

	r = saved_plan_parse((const char *) data, size, &sp, &error);
	if (r == 0) {
		CHECK(sp.project_id && !error);
		for (size_t i = 0; i < sp.n; i++) {
			const struct saved_item *it = &sp.items[i];

			CHECK(it->secret_id && it->secret_name && it->key && it->value);
			CHECK(saved_plan_find(&sp, it->secret_id, it->key) == it);
			if (i > 0) {
				const struct saved_item *p = &sp.items[i - 1];
				int c = strcmp(p->secret_id, it->secret_id);

				CHECK(c < 0 || (c == 0 && strcmp(p->key, it->key) < 0));
			}
		}
	} else {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		CHECK(error || r == -ENOMEM);
		CHECK(sp.n == 0 && !sp.items);
	}
	saved_plan_clear(&sp);
	free(error);
	return 0;
}
