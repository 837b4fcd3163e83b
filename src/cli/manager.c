/* manager.c - one loop, one set of signal handlers, one drain and one
 * watchdog for every mode (manager.h). */
#include "manager.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define DRAIN_POLL_USEC (50 * USEC_PER_MSEC)

struct manager {
	sd_event *event;
	const struct job_ops *ops;
	void *job;
	bool test_hooks;
	bool stopping;
	bool signalled;
	int broken;                     /* 0, or the errno of a timer that could not be armed */
	sd_event_source *drain_timer;
	sd_event_source *watchdog_timer;
	uint64_t watchdog_usec;
	uint64_t drain_deadline;
};

int (*manager_add_time)(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec,
                        uint64_t accuracy, sd_event_time_handler_t cb, void *userdata) = sd_event_add_time;

sd_event *manager_event(struct manager *m)
{
	return m->event;
}

bool manager_stopping(const struct manager *m)
{
	return m->stopping;
}

bool manager_signalled(const struct manager *m)
{
	return m->signalled;
}

bool manager_broken(const struct manager *m)
{
	return m->broken != 0;
}

uint64_t manager_now(struct manager *m)
{
	uint64_t t;

	if (sd_event_now(m->event, CLOCK_MONOTONIC, &t) < 0)
		t = now_monotonic_usec();
	return t;
}

static int on_drain(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	size_t pending = m->ops->pending ? m->ops->pending(m->job) : 0;

	if (pending == 0 || usec >= m->drain_deadline) {
		if (pending)
			log_warning("Stopping with %zu requests still in flight", pending);
		(void) sd_event_exit(m->event, 0);
		return 0;
	}
	if (manager_arm(m, &m->drain_timer, "drain", usec + DRAIN_POLL_USEC, USEC_PER_MSEC,
	                on_drain, m) < 0)
		(void) sd_event_exit(m->event, 0);
	return 0;
}

/* Every way out of the loop goes through here: stop the job, then let its
 * requests in flight finish (a DELETE is never cut in half). */
static void begin_stop(struct manager *m, const char *why)
{
	if (m->stopping)
		return;
	m->stopping = true;
	m->ops->stop(m->job, why);
	m->drain_deadline = manager_now(m) + MANAGER_DRAIN_USEC;
	if (manager_arm(m, &m->drain_timer, "drain", manager_now(m), USEC_PER_MSEC, on_drain, m) < 0)
		(void) sd_event_exit(m->event, 0);
}

void manager_done(struct manager *m)
{
	begin_stop(m, "finished");
}

int manager_arm(struct manager *m, sd_event_source **s, const char *what, uint64_t usec,
                uint64_t accuracy, sd_event_time_handler_t cb, void *userdata)
{
	int r;

	if (!*s)
		r = manager_add_time(m->event, s, CLOCK_MONOTONIC, usec, accuracy, cb, userdata);
	else if ((r = sd_event_source_set_time(*s, usec)) >= 0)
		r = sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
	if (r >= 0)
		return 0;
	if (!m->broken)
		log_error("Cannot arm the %s timer: %s; %s", what, strerror(-r),
		          m->watchdog_usec ? "withholding the watchdog ping" : "stopping");
	m->broken = -r;
	/* Without a watchdog nothing else would notice: stop (the drain
	 * timer itself failing ends the loop at once in begin_stop). */
	if (!m->watchdog_usec && !m->stopping)
		begin_stop(m, "a timer could not be armed");
	return r;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	if (!m->broken && m->ops->healthy(m->job))
		(void) sd_notify(false, "WATCHDOG=1");
	else
		log_warning("Reconciliation is not on schedule: withholding the watchdog ping");
	/* If even this fails, no ping follows: systemd's watchdog fires. */
	(void) manager_arm(m, &m->watchdog_timer, "watchdog", usec + m->watchdog_usec / 2, 0,
	                   on_watchdog, m);
	return 0;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	if (m->stopping)
		return 0;
	m->signalled = true;
	log_event(LOG_INFO, MID_DAEMON_STOPPING, NULL, 0, "Stopping on signal %u", si->ssi_signo);
	begin_stop(m, "stopping");
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	if (m->ops->reload)
		m->ops->reload(m->job);
	else
		log_notice("SIGHUP ignored: %s runs with the configuration it started with", m->ops->name);
	return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	if (m->ops->run_now && !m->stopping)
		m->ops->run_now(m->job);
	return 0;
}

static int on_sigusr2(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	if (!m->test_hooks || !m->ops->healthy)
		return 0;
	log_warning("Test hook: wedging the main loop (CSMS_TAGD_TEST_HOOKS=1)");
	/* Every signal but SIGKILL/SIGABRT/SIGSEGV is blocked for sd_event, so
	 * this really hangs, as a deadlock would. */
	for (;;)
		pause();
	return 0;
}

static int setup_signals(struct manager *m)
{
	static const struct {
		int sig;
		sd_event_signal_handler_t cb;
	} sigs[] = {
		{ SIGTERM, on_stop_signal }, { SIGINT, on_stop_signal }, { SIGHUP, on_sighup },
		{ SIGUSR1, on_sigusr1 }, { SIGUSR2, on_sigusr2 },
	};
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		sigaddset(&mask, sigs[i].sig);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		if ((r = sd_event_add_signal(m->event, NULL, sigs[i].sig, sigs[i].cb, m)) < 0)
			return r;
	return 0;
}

int manager_new(struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->test_hooks = streq_ptr(getenv("CSMS_TAGD_TEST_HOOKS"), "1");
	r = sd_event_default(&m->event);
	if (r >= 0)
		r = setup_signals(m);
	if (r < 0) {
		manager_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	sd_event_source_disable_unref(m->drain_timer);
	sd_event_source_disable_unref(m->watchdog_timer);
	sd_event_unref(m->event);
	free(m);
	return NULL;
}

int manager_run(struct manager *m, const struct job_ops *ops, void *job)
{
	int r;

	m->ops = ops;
	m->job = job;
	if (ops->healthy && sd_watchdog_enabled(false, &m->watchdog_usec) > 0 && m->watchdog_usec > 0)
		(void) manager_arm(m, &m->watchdog_timer, "watchdog", manager_now(m) + m->watchdog_usec / 2,
		                   0, on_watchdog, m);
	else
		m->watchdog_usec = 0;
	r = ops->start(job);
	if (r < 0)
		return r;
	r = sd_event_loop(m->event);
	if (r < 0) {
		log_error("Event loop failed: %s", strerror(-r));
		return r;
	}
	return m->broken ? -m->broken : 0;
}
