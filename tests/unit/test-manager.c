/* test-manager.c - the manager's watchdog and its timer-arming failure
 * path (manager.h): a timer that cannot be armed withholds WATCHDOG=1, or
 * without a watchdog stops the job; never a daemon pinged while nothing is
 * scheduled.  sd_notify goes to a datagram socket of the test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "manager.h"
#include "util.h"

#define WATCHDOG_PERIOD_USEC (100 * USEC_PER_MSEC)     /* a ping every 50 ms */

struct fake_job {
	struct manager *m;
	sd_event_source *work;          /* the job's own timer: the one made to fail */
	sd_event_source *end;           /* ends the run after RUN_USEC */
	bool healthy;
	int stops;
	int work_r;                     /* manager_arm()'s result for WORK */
	char why[64];
};

static int notify_fd = -1;
static char notify_path[108];

static int on_work(sd_event_source *s, uint64_t usec, void *userdata)
{
	return 0;
}

static int on_end(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fake_job *j = userdata;

	manager_done(j->m);
	return 0;
}

/* The seam: adding the job's work timer fails, every other timer works. */
static int add_time_failing(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec,
                            uint64_t accuracy, sd_event_time_handler_t cb, void *userdata)
{
	if (cb == on_work)
		return -ENOMEM;
	return sd_event_add_time(e, s, clock, usec, accuracy, cb, userdata);
}

static int job_start(void *job)
{
	struct fake_job *j = job;
	uint64_t t = manager_now(j->m);

	j->work_r = manager_arm(j->m, &j->work, "work", t + 10 * USEC_PER_SEC, 0, on_work, j);
	/* Armed directly: the end of the run is not under test. */
	assert_int_equal(sd_event_add_time(manager_event(j->m), &j->end, CLOCK_MONOTONIC,
	                                   t + 400 * USEC_PER_MSEC, 0, on_end, j), 0);
	return 0;
}

static void job_stop(void *job, const char *why)
{
	struct fake_job *j = job;

	j->stops++;
	snprintf(j->why, sizeof(j->why), "%s", why);
}

static bool job_healthy(void *job)
{
	return ((struct fake_job *) job)->healthy;
}

static const struct job_ops fake_ops = {
	.name = "test", .start = job_start, .stop = job_stop, .healthy = job_healthy,
};

/* WATCHDOG=1 datagrams received since the last call. */
static int pings(void)
{
	char buf[256];
	ssize_t n;
	int count = 0;

	while ((n = recv(notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		if (strstr(buf, "WATCHDOG=1"))
			count++;
	}
	return count;
}

static int run_job(struct fake_job *j, bool watchdog)
{
	char period[32];
	int r;

	snprintf(period, sizeof(period), "%llu", (unsigned long long) WATCHDOG_PERIOD_USEC);
	if (watchdog)
		assert_int_equal(setenv("WATCHDOG_USEC", period, 1), 0);
	else
		assert_int_equal(unsetenv("WATCHDOG_USEC"), 0);
	assert_int_equal(manager_new(&j->m), 0);
	r = manager_run(j->m, &fake_ops, j);
	sd_event_source_disable_unref(j->work);
	sd_event_source_disable_unref(j->end);
	j->m = manager_free(j->m);
	return r;
}

static int setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(notify_path, sizeof(notify_path), "/tmp/test-manager.%d.sock", (int) getpid());
	unlink(notify_path);
	strcpy(sa.sun_path, notify_path);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(notify_fd >= 0);
	assert_int_equal(bind(notify_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", notify_path, 1), 0);
	unsetenv("WATCHDOG_PID");
	return 0;
}

static int teardown(void **state)
{
	close(notify_fd);
	unlink(notify_path);
	manager_add_time = sd_event_add_time;
	return 0;
}

/* The control: armed timers and a healthy job are pinged. */
static void test_healthy_is_pinged(void **state)
{
	struct fake_job j = { .healthy = true };

	manager_add_time = sd_event_add_time;
	pings();
	assert_int_equal(run_job(&j, true), 0);
	assert_int_equal(j.work_r, 0);
	assert_false(j.stops == 0);
	assert_true(pings() >= 3);
}

static void test_unhealthy_is_not_pinged(void **state)
{
	struct fake_job j = { .healthy = false };

	manager_add_time = sd_event_add_time;
	pings();
	assert_int_equal(run_job(&j, true), 0);
	assert_int_equal(pings(), 0);
}

/* The job says it is healthy, but its timer could not be armed: nothing
 * would ever run it, so the watchdog is not pinged and the run reports it. */
static void test_arm_failure_withholds_watchdog(void **state)
{
	struct fake_job j = { .healthy = true };

	manager_add_time = add_time_failing;
	pings();
	assert_int_equal(run_job(&j, true), -ENOMEM);
	assert_int_equal(j.work_r, -ENOMEM);
	assert_int_equal(pings(), 0);
	/* With a watchdog, systemd ends it; the job ran to its end. */
	assert_int_equal(j.stops, 1);
	assert_string_equal(j.why, "finished");
}

/* Without a watchdog, the failure stops the job at once. */
static void test_arm_failure_stops_without_watchdog(void **state)
{
	struct fake_job j = { .healthy = true };
	uint64_t t0 = now_monotonic_usec();

	manager_add_time = add_time_failing;
	assert_int_equal(run_job(&j, false), -ENOMEM);
	assert_int_equal(j.stops, 1);
	assert_string_equal(j.why, "a timer could not be armed");
	/* Stopped and drained at once, not at the end of the run (400 ms). */
	assert_true(now_monotonic_usec() - t0 < 300 * USEC_PER_MSEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthy_is_pinged),
		cmocka_unit_test(test_unhealthy_is_not_pinged),
		cmocka_unit_test(test_arm_failure_withholds_watchdog),
		cmocka_unit_test(test_arm_failure_stops_without_watchdog),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
