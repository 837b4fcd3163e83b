/* bench-ledger.c - what the deletion ledger costs per deletion: N intents
 * (synchronous=FULL, durable before the DELETE) each followed by its
 * outcome, in a fresh ledger in DIR (default: a temporary directory under
 * $TMPDIR; give the state directory's file system for real figures).
 * Prints p50/p99/max of intent, outcome and both, in microseconds.
 * Usage: bench-ledger [N [DIR]]; make bench runs it (tests/bench.py). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"
#include "util.h"

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp);
	printf("  %-18s p50 %6llu us  p99 %6llu us  max %6llu us\n", what,
	       (unsigned long long) v[n / 2], (unsigned long long) v[n * 99 / 100],
	       (unsigned long long) v[n - 1]);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	char tmpl[] = "/tmp/bench-ledger.XXXXXX";
	const char *dir = argc > 2 ? argv[2] : mkdtemp(tmpl);
	uint64_t *intent = calloc(n ? n : 1, sizeof(uint64_t)), *outcome = calloc(n ? n : 1, sizeof(uint64_t));
	uint64_t *both = calloc(n ? n : 1, sizeof(uint64_t));
	struct ledger *l;
	int r;

	if (!dir || !intent || !outcome || !both || n == 0)
		return 1;
	r = ledger_open(dir, &l);
	if (r < 0) {
		fprintf(stderr, "bench-ledger: %s: %s\n", dir, strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char key[32];
		struct ledger_deletion d = {
			.pass_id = "bench-1", .secret_id = "11111111-1111-4111-8111-111111111111",
			.secret_name = "app-bench", .key = key, .value = "a value of some length, 40 bytes..",
			.rule = "/etc/csms-tagd/csms-tagd.conf:12", .reason = "forbidden",
			.intent_usec = now_realtime_usec(),
		};
		uint64_t t0, t1, t2;
		int64_t id;

		snprintf(key, sizeof(key), "stray-%zu", i);
		t0 = now_monotonic_usec();
		if (ledger_intent(l, &d, &id) < 0)
			return 1;
		t1 = now_monotonic_usec();
		if (ledger_outcome(l, id, LEDGER_DELETED, now_realtime_usec(), NULL) < 0)
			return 1;
		t2 = now_monotonic_usec();
		intent[i] = t1 - t0;
		outcome[i] = t2 - t1;
		both[i] = t2 - t0;
	}
	printf("ledger cost per deletion, %zu deletions, %s:\n", n, ledger_path(l));
	report("intent (FULL)", intent, n);
	report("outcome (NORMAL)", outcome, n);
	report("per deletion", both, n);
	ledger_close(l);
	if (argc <= 2) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		(void) system(cmd);
	}
	return 0;
}
