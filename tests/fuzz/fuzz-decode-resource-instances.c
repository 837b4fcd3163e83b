/* fuzz-decode-resource-instances.c - decode_resource_instances() on
 * arbitrary bytes: it must never crash, never append on error, and on
 * success hand out only secrets within the documented limits. */
#include <errno.h>

#include "decode.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct observation o;
	int64_t total = -1;
	size_t n = SIZE_MAX;
	char *err = NULL;
	int r;

	observation_seed(&o);
	r = decode_resource_instances((const char *) data, size, &o, &total, &n, &err);
	check_seed_intact(&o);
	if (r == 0) {
		CHECK(!err);
		CHECK(total >= 0);
		CHECK(o.n == 1 + n);
		for (size_t i = 1; i < o.n; i++) {
			const struct secret *s = &o.secrets[i];

			check_id(s->id, DECODE_MAX_ID_BYTES);
			check_text(s->name, DECODE_MAX_NAME_BYTES, true);
			check_text(s->state, 64, false);
			CHECK(s->tags_complete);
			check_tags(&s->tags, DECODE_MAX_TAGS, DECODE_MAX_KEY_BYTES, DECODE_MAX_VALUE_BYTES);
			check_tags(&s->sys_tags, DECODE_MAX_TAGS, DECODE_MAX_KEY_BYTES,
			           DECODE_MAX_VALUE_BYTES);
		}
	} else {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		CHECK(o.n == 1);
		CHECK(total == -1 && n == SIZE_MAX);
		if (r == -EBADMSG)
			check_loggable(err);
	}
	free(err);
	observation_clear(&o);
	return 0;
}
