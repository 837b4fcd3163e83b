/* test-org.c - the organisation runtime (org.h, org-once.h): the one exit
 * code of many passes, the state a pass leaves its target in, and the life
 * cycle of targets while their requests are pending -- a target removed
 * while its pass waits for credentials, a queued target started when the
 * slot frees, an abort with a request in flight, the org freed with one
 * still on the wire (run under ASan by make check-all). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "manager.h"
#include "org-once.h"
#include "org.h"
#include "outcome.h"
#include "util.h"

#define PROJECT_A "b1000000000000000000000000000001"
#define PROJECT_B "b2000000000000000000000000000002"

static void test_exit_code(void **state)
{
	(void) state;
	assert_int_equal(org_once_exit_code((size_t[4]) { [ONCE_CONVERGED] = 3 }), ONCE_CONVERGED);
	assert_int_equal(org_once_exit_code((size_t[4]) { [ONCE_ERROR] = 2 }), ONCE_ERROR);
	assert_int_equal(org_once_exit_code((size_t[4]) { [ONCE_CONVERGED] = 1, [ONCE_CHANGED] = 1 }),
	                 ONCE_CHANGED);
	/* One target failed, another changed: the organisation is partly done. */
	assert_int_equal(org_once_exit_code((size_t[4]) { [ONCE_ERROR] = 1, [ONCE_CHANGED] = 1 }),
	                 ONCE_PARTIAL);
	assert_int_equal(org_once_exit_code((size_t[4]) { [ONCE_ERROR] = 1, [ONCE_CONVERGED] = 5 }),
	                 ONCE_PARTIAL);
	assert_int_equal(org_once_exit_code((size_t[4]) { [ONCE_PARTIAL] = 1, [ONCE_CONVERGED] = 5 }),
	                 ONCE_PARTIAL);
}

static void test_state_of(void **state)
{
	(void) state;
	assert_int_equal(target_state_of(&(struct pass_result) { .outcome = PASS_CONVERGED }),
	                 TARGET_CONVERGED);
	assert_int_equal(target_state_of(&(struct pass_result) { .outcome = PASS_CHANGED }), TARGET_CHANGED);
	assert_int_equal(target_state_of(&(struct pass_result) { .outcome = PASS_PARTIAL }), TARGET_PARTIAL);
	assert_int_equal(target_state_of(&(struct pass_result) { .outcome = PASS_PARTIAL,
	                                                          .limit_exceeded = true }), TARGET_HELD);
	assert_int_equal(target_state_of(&(struct pass_result) { .outcome = PASS_FAILED }), TARGET_FAILING);
	assert_int_equal(target_state_of(&(struct pass_result) { .outcome = PASS_ABORTED }), TARGET_FAILING);
	assert_string_equal(target_state_to_string(TARGET_HELD), "held");
}

/* --- life cycle against a server that accepts and never answers ------------------ */

struct run {
	int done;
	enum pass_outcome last;
	char last_target[64];
};

static void on_done(struct org_target *t, const struct pass_result *r, void *userdata)
{
	struct run *run = userdata;

	run->done++;
	run->last = r->outcome;
	snprintf(run->last_target, sizeof(run->last_target), "%s", t->t.name);
}

static int silent_server(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void spin(struct manager *m, uint64_t usec)
{
	uint64_t end = now_monotonic_usec() + usec;

	while (now_monotonic_usec() < end)
		assert_true(sd_event_run(manager_event(m), USEC_PER_MSEC * 10) >= 0);
}

static void test_lifecycle(void **state)
{
	_cleanup_free_ char *text = NULL, *error = NULL;
	struct config *c = NULL;
	struct manager *m = NULL;
	struct org *o = NULL;
	struct org_target *a = NULL, *b = NULL;
	struct run run = { 0 };
	int port, fd = silent_server(&port);

	(void) state;
	text = xasprintf("[csms]\nendpoint = http://127.0.0.1:%d\nmetadata_endpoint = http://127.0.0.1:%d\n"
	                 "[auth]\nmethod = ecs\n"
	                 "[daemon]\nmax_parallel_targets = 1\nrequest_timeout = 30s\n"
	                 "[target \"a\"]\nregion = cn-north-4\nproject_id = " PROJECT_A "\n"
	                 "[target \"b\"]\nregion = cn-north-4\nproject_id = " PROJECT_B "\n"
	                 "[secrets \"*\"]\ntemp = !\n", port, port);
	assert_int_equal(config_load_string("org.conf", text, 0, &c, &error), 0);
	assert_true(c->organisation);
	assert_int_equal(manager_new(&m), 0);
	assert_int_equal(org_new(m, c, &(struct org_options) { .dry_run = true, .pass_id_base = "test",
	                                                      .done = on_done, .userdata = &run },
	                         &o, &error), 0);
	assert_int_equal(org_add(o, &c->targets[0], &a, &error), 0);
	assert_int_equal(org_add(o, &c->targets[1], &b, &error), 0);
	assert_int_equal(org_add(o, &c->targets[1], NULL, &error), -EEXIST);
	assert_int_equal(org_n_targets(o), 2);

	/* One slot: A runs (its credential request is on the wire), B waits. */
	org_queue(o, a);
	org_queue(o, b);
	org_queue(o, b);                        /* queued once */
	spin(m, 200 * USEC_PER_MSEC);
	assert_int_equal(org_running(o), 1);
	assert_int_equal(org_queued(o), 1);
	assert_true(a->pass && !b->pass);
	assert_true(org_pending(o) >= 1);

	/* A removed while its pass waits: no DONE, and the slot goes to B. */
	org_remove(o, a);
	assert_int_equal(run.done, 0);
	assert_int_equal(org_running(o), 0);
	spin(m, 200 * USEC_PER_MSEC);
	assert_int_equal(org_running(o), 1);
	assert_non_null(b->pass);

	/* Held (a reload): nothing more starts.  Abort: B's DONE, aborted. */
	org_hold(o, true);
	org_abort(o, "test");
	assert_int_equal(run.done, 1);
	assert_int_equal(run.last, PASS_ABORTED);
	assert_string_equal(run.last_target, "b");
	assert_int_equal(b->state, TARGET_FAILING);
	spin(m, 50 * USEC_PER_MSEC);
	assert_int_equal(org_running(o), 0);

	/* Queued again and started, then the org freed with its request in
	 * flight: nothing is called back, nothing leaks. */
	org_hold(o, false);
	org_queue(o, b);
	spin(m, 200 * USEC_PER_MSEC);
	assert_int_equal(org_running(o), 1);
	org_free(o);
	assert_int_equal(run.done, 1);
	manager_free(m);
	config_free(c);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_state_of),
		cmocka_unit_test(test_lifecycle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
