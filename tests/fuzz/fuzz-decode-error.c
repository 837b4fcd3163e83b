/* fuzz-decode-error.c - decode_error_body() on arbitrary bytes: it never
 * fails (short of memory), and what it returns is always fit for a log line
 * and bounded in size. */
#include <errno.h>

#include "decode.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *code = NULL, *message = NULL;
	int r;

	r = decode_error_body((const char *) data, size, &code, &message);
	if (r == 0) {
		check_loggable(message);
		/* 1024 bytes, each escaped to at most 4, and "...". */
		CHECK(strlen(message) <= 4 * 1024 + 3);
		if (code) {
			check_loggable(code);
			CHECK(strlen(code) <= 4 * 64 + 3);
		} else
			/* The raw body: at most 200 bytes, escaped. */
			CHECK(strlen(message) <= 4 * 200 + 3);
	} else
		CHECK(r == -ENOMEM);
	free(code);
	free(message);
	return 0;
}
