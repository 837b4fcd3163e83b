/* fuzz-config.c - config_load_string() on arbitrary text: a config is
 * either accepted whole or rejected with exactly one message line. */
#include <errno.h>

#include "config.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size), *err = NULL;
	struct config *c = NULL;
	int r;

	/* No CONFIG_CHECK_CREDENTIALS: the fuzzer must not touch files. */
	r = config_load_string("fuzz.conf", text, 0, &c, &err);
	if (r == 0) {
		CHECK(c && !err);
		for (size_t i = 0; i < c->n_sections; i++)
			CHECK(c->sections[i].pattern);
		config_free(c);
	} else {
		CHECK(r < 0 && !c);
		if (r != -ENOMEM) {
			CHECK(err && *err && !strchr(err, '\n'));
			CHECK(startswith(err, "fuzz.conf"));
		}
	}
	free(err);
	free(text);
	return 0;
}
