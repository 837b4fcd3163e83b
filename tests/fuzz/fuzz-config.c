/* fuzz-config.c - config_load_string() on arbitrary text: a config is
 * either accepted whole or rejected with exactly one message line, and
 * every line number it gives (sections, rules, the error) is a line of the
 * text: ini-reader.c counts lines across inih's growing buffer. */
#include <errno.h>

#include "config.h"
#include "fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size), *err = NULL;
	struct config *c = NULL;
	unsigned lines = 1;
	int r;

	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	/* No CONFIG_CHECK_CREDENTIALS: the fuzzer must not touch files. */
	r = config_load_string("fuzz.conf", text, 0, &c, &err);
	if (r == 0) {
		CHECK(c && !err);
		for (size_t i = 0; i < c->n_sections; i++) {
			CHECK(c->sections[i].pattern);
			CHECK(c->sections[i].line >= 1 && c->sections[i].line <= lines);
			for (size_t j = 0; j < c->sections[i].n_rules; j++)
				CHECK(c->sections[i].rules[j].line > c->sections[i].line &&
				      c->sections[i].rules[j].line <= lines);
		}
		config_free(c);
	} else {
		CHECK(r < 0 && !c);
		if (r != -ENOMEM) {
			unsigned line = 0;

			CHECK(err && *err && !strchr(err, '\n'));
			CHECK(startswith(err, "fuzz.conf"));
			if (sscanf(err, "fuzz.conf:%u:", &line) == 1)
				CHECK(line >= 1 && line <= lines);
		}
	}
	free(err);
	free(text);
	return 0;
}
