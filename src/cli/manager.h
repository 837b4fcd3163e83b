/* manager.h - the one manager that runs every mode as a job on one sd_event
 * loop: the daemon's service (service.c), one pass (--once, --apply-plan:
 * job-once.c), --restore (restore-run.c), --check-credentials
 * (credcheck.c) and --discover (discover-run.c).
 *
 * Every mode gets the same signals:
 *   SIGTERM, SIGINT  the job is stopped (job_ops.stop: abort, but a request
 *                    already sent is never cut in half) and the loop ends
 *                    once the job's requests in flight are done, or after
 *                    MANAGER_DRAIN_USEC (5 s), whichever is first;
 *   SIGHUP           job_ops.reload, or ignored with a notice when the job
 *                    has none (a one-shot job keeps the config it started with);
 *   SIGUSR1          job_ops.run_now, or ignored;
 *   SIGUSR2          only for a job with a health check (the service) and only
 *                    when $CSMS_TAGD_TEST_HOOKS=1 was set at start: wedges the
 *                    loop for ever so tests can watch the watchdog fire;
 *                    otherwise ignored.
 * A job ends by calling manager_done(): the same drain, then the loop ends.
 * The exit code is the job's own (each mode documents its codes); the
 * manager only says whether its loop and timers worked.
 *
 * Watchdog: when systemd asked for one ($WATCHDOG_USEC) and the job has a
 * health check, WATCHDOG=1 is sent every half period while the job says it
 * is healthy AND no timer has failed to arm.  Timers are armed through
 * manager_arm(): a failure is logged there, once, and leaves the manager
 * broken: the watchdog ping is withheld from then on (systemd restarts the
 * service), and without a watchdog the job is stopped, so a daemon can
 * never look alive while nothing is scheduled.
 */
#ifndef CSMS_MANAGER_H
#define CSMS_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define MANAGER_DRAIN_USEC (5 * 1000000ULL)

struct manager;

struct job_ops {
	const char *name;                       /* for logs: "daemon", "restore" ... */
	/* Arm the job's first work on the loop; < 0 ends the run at once. */
	int (*start)(void *job);
	/* Stop (signal, manager_done() or a broken manager): cancel what
	 * waits, abort what runs.  May be called after the job has finished. */
	void (*stop)(void *job, const char *why);
	/* Requests still queued or in flight, drained before the loop ends. */
	size_t (*pending)(void *job);
	void (*reload)(void *job);              /* SIGHUP; NULL: ignored */
	void (*run_now)(void *job);             /* SIGUSR1; NULL: ignored */
	bool (*healthy)(void *job);             /* watchdog; NULL: no watchdog */
};

/* A manager with its loop (sd_event_default()) and the signals above
 * blocked; jobs build their clients on manager_event(). */
int manager_new(struct manager **ret);
struct manager *manager_free(struct manager *m);
sd_event *manager_event(struct manager *m);

/* Run JOB until it ends or is stopped and drained.  Returns 0, or a
 * negative errno when the loop failed or a timer could not be armed (the
 * job has been stopped then and decides its exit code). */
int manager_run(struct manager *m, const struct job_ops *ops, void *job);

/* The job has finished: drain and end the loop. */
void manager_done(struct manager *m);
bool manager_stopping(const struct manager *m);
/* A signal, not the job itself, ended the run. */
bool manager_signalled(const struct manager *m);

/* CLOCK_MONOTONIC now, as the loop sees it. */
uint64_t manager_now(struct manager *m);

/* Arm the one-shot CLOCK_MONOTONIC timer *S (created on first use) for
 * USEC with ACCURACY.  WHAT names it in the one log line of a failure,
 * after which the manager is broken (see above).  Returns 0 or the
 * negative errno. */
int manager_arm(struct manager *m, sd_event_source **s, const char *what, uint64_t usec,
                uint64_t accuracy, sd_event_time_handler_t cb, void *userdata);
bool manager_broken(const struct manager *m);

/* Test seam: every timer is added through this (sd_event_add_time by
 * default); tests make it fail. */
extern int (*manager_add_time)(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec,
                               uint64_t accuracy, sd_event_time_handler_t cb, void *userdata);

#endif
