/* fuzz-decode-list-secrets.c - decode_list_secrets() on arbitrary bytes. */
#include <errno.h>

#include "decode.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct observation o;
	size_t n = SIZE_MAX;
	char *last = NULL, *err = NULL;
	int r;

	observation_seed(&o);
	r = decode_list_secrets((const char *) data, size, &o, &n, &last, &err);
	check_seed_intact(&o);
	if (r == 0) {
		CHECK(!err);
		CHECK(o.n == 1 + n);
		for (size_t i = 1; i < o.n; i++) {
			const struct secret *s = &o.secrets[i];

			check_id(s->id, DECODE_MAX_ID_BYTES);
			check_text(s->name, DECODE_MAX_NAME_BYTES, true);
			check_text(s->state, 64, false);
			/* ListSecrets carries no tags. */
			CHECK(!s->tags_complete && s->tags.n == 0 && s->sys_tags.n == 0);
		}
		/* A next-page marker is never empty (empty means "last page"). */
		CHECK(!last || (last[0] && strlen(last) <= DECODE_MAX_NAME_BYTES));
	} else {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		CHECK(o.n == 1 && n == SIZE_MAX && !last);
		if (r == -EBADMSG)
			check_loggable(err);
	}
	free(last);
	free(err);
	observation_clear(&o);
	return 0;
}
