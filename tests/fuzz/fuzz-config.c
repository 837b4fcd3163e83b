/* fuzz-config.c - config_load_string() on arbitrary text: a config is
 * either accepted whole or rejected with exactly one message line, and
 * every line number it gives (sections, rules, the error) is a line of the
 * text: ini-reader.c counts lines across inih's growing buffer.  In
 * organisation mode: targets are complete and unique, and each target's
 * view holds exactly the sections whose scope admits it. */
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
		CHECK(c->organisation == (c->n_targets > 0 || c->discover.enabled));
		CHECK(c->organisation ? !c->csms.region && !c->csms.project_id :
		                        c->csms.region && c->csms.project_id && !strstr(c->csms.endpoint, "{region}"));
		for (size_t i = 0; i < c->n_targets; i++) {
			const struct target *t = &c->targets[i];
			struct config *v = NULL;

			CHECK(t->name && t->region && t->project_id && !t->discovered);
			CHECK(t->line >= 1 && t->line <= lines);
			for (size_t j = 0; j < i; j++)
				CHECK(strcmp(c->targets[j].name, t->name) != 0 &&
				      strcmp(c->targets[j].project_id, t->project_id) != 0);
			/* A view holds the sections that admit the target, in order. */
			if (config_target_view(c, t, &v) == 0) {
				size_t n = 0;

				CHECK(v->parent == c && !v->organisation && !strstr(v->csms.endpoint, "{region}"));
				for (size_t j = 0; j < c->n_sections; j++)
					if (scope_matches(&c->sections[j].scope, t)) {
						CHECK(n < v->n_sections && v->sections[n].line == c->sections[j].line);
						n++;
					}
				CHECK(n == v->n_sections);
				config_free(v);
			}
		}
		if (c->discover.enabled)
			CHECK(c->discover.n_regions > 0 && c->discover.interval_usec >= DISCOVER_INTERVAL_MIN);
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
