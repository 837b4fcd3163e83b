/* fuzz-state.c - metrics_state_parse() on arbitrary bytes: --status reads a
 * file any admin can edit or truncate.  A state file it accepts prints, and
 * formats back into a state file that parses to the same figures. */
#include <errno.h>

#include "fuzz-util.h"
#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size), *again = NULL, *error = NULL, *error2 = NULL;
	struct metrics_state *st = NULL, *st2 = NULL;
	const struct metrics_snapshot *s, *s2;
	FILE *null;
	int r;

	r = metrics_state_parse(text, &st, &error);
	if (r == 0) {
		s = metrics_state_snapshot(st);
		CHECK(s && !error);
		null = fopen("/dev/null", "w");
		CHECK(null);
		metrics_print(s, metrics_daemon_running(s), 0, null);
		fclose(null);
		CHECK(metrics_format_state(s, &again) == 0);
		CHECK(metrics_state_parse(again, &st2, &error2) == 0);
		s2 = metrics_state_snapshot(st2);
		CHECK(s2->outcome == s->outcome && s2->counts.planned == s->counts.planned &&
		      s2->counts.deleted == s->counts.deleted && s2->pass_finished_usec == s->pass_finished_usec &&
		      s2->deleted_by_rule.n == s->deleted_by_rule.n);
	} else
		CHECK(r == -EBADMSG || r == -ENOMEM);
	metrics_state_free(st);
	metrics_state_free(st2);
	free(again);
	free(error);
	free(error2);
	free(text);
	return 0;
}
