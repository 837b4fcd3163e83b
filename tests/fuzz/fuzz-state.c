/* fuzz-state.c - metrics_state_parse() on arbitrary bytes: --status reads a
 * file any admin can edit or truncate.  A state file it accepts prints (with
 * targets: the table and every target in full), formats as Prometheus text,
 * and formats back into a state file that parses to the same figures and
 * targets. */
#include <errno.h>

#include "fuzz-util.h"
#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strdup(data, size), *again = NULL, *error = NULL, *error2 = NULL, *prom = NULL;
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
		CHECK(metrics_print_targets(s, false, 0, "*", null) <= s->n_targets);
		fclose(null);
		CHECK(metrics_format_prometheus(s, &prom) == 0);
		CHECK(metrics_format_state(s, &again) == 0);
		CHECK(metrics_state_parse(again, &st2, &error2) == 0);
		s2 = metrics_state_snapshot(st2);
		CHECK(s2->outcome == s->outcome && s2->counts.planned == s->counts.planned &&
		      s2->counts.deleted == s->counts.deleted && s2->pass_finished_usec == s->pass_finished_usec &&
		      s2->deleted_by_rule.n == s->deleted_by_rule.n);
		CHECK(!s2->targets == !s->targets && s2->n_targets == s->n_targets);
		for (size_t i = 0; i < s->n_targets; i++)
			CHECK(s2->targets[i].outcome == s->targets[i].outcome &&
			      s2->targets[i].counts.deleted == s->targets[i].counts.deleted);
	} else
		CHECK(r == -EBADMSG || r == -ENOMEM);
	metrics_state_free(st);
	metrics_state_free(st2);
	free(again);
	free(prom);
	free(error);
	free(error2);
	free(text);
	return 0;
}
