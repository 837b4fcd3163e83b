/* fuzz-decode-secret-tags.c - decode_secret_tags() on arbitrary bytes:
 * on success the lists are replaced, on error left exactly as they were. */
#include <errno.h>

#include "decode.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tag_list tags = {}, sys_tags = {};
	char *err = NULL;
	int r;

	CHECK(tag_list_add(&tags, "before", "1") == 0);
	CHECK(tag_list_add(&sys_tags, "_sys_before", "2") == 0);
	r = decode_secret_tags((const char *) data, size, &tags, &sys_tags, &err);
	if (r == 0) {
		CHECK(!err);
		check_tags(&tags, DECODE_MAX_TAGS, DECODE_MAX_KEY_BYTES, DECODE_MAX_VALUE_BYTES);
		check_tags(&sys_tags, DECODE_MAX_TAGS, DECODE_MAX_KEY_BYTES, DECODE_MAX_VALUE_BYTES);
	} else {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		CHECK(tags.n == 1 && strcmp(tags.items[0].key, "before") == 0);
		CHECK(sys_tags.n == 1 && strcmp(sys_tags.items[0].key, "_sys_before") == 0);
		if (r == -EBADMSG)
			check_loggable(err);
	}
	free(err);
	tag_list_clear(&tags);
	tag_list_clear(&sys_tags);
	return 0;
}
