/* daemon.h - the long-running service, and the one-shot pass (--once).
 *
 * daemon_run(): an sd_event loop that runs a pass at start and then every
 * interval plus random jitter, speaks sd_notify (READY, STATUS, WATCHDOG,
 * RELOADING, STOPPING) from the main process, reloads on SIGHUP (a bad
 * config keeps the old one and is recorded as rejected; an accepted one
 * starts a pass at once, so that a new policy or dry_run shows in a pass
 * and in STATUS= without waiting an interval), runs a pass now on SIGUSR1
 * and stops on SIGTERM/SIGINT without leaving a request half-done.
 * Monitoring (monitor.h) is published after every load, pass and at the
 * stop (up = false); STATUS= advice names the unit the daemon runs as
 * (unit.h), not a fixed one.
 *
 * Test hook: only when $CSMS_TAGD_TEST_HOOKS=1 was set at start, SIGUSR2
 * blocks the main loop for ever, so that tests can watch the watchdog kill a
 * hung daemon.  Without that variable SIGUSR2 is ignored.
 */
#ifndef CSMS_DAEMON_H
#define CSMS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include "config.h"
#include "outcome.h"

/* The exit codes of --once: ONCE_* (outcome.h). */

/* Both run the same manager: the same pass_timeout, signal handling and
 * draining of requests in flight on SIGTERM/SIGINT.  The daemon returns 0
 * after a clean stop; --once one of the ONCE_* codes. */

/* Run the daemon with the config at PATH; returns the process exit code. */
int daemon_run(const char *path);

struct once_options {
	bool dry_run;
	const char *save_plan;          /* --save-plan FILE (with dry_run) */
	const char *apply_plan;         /* --apply-plan FILE */
	uint64_t max_plan_age_usec;     /* --max-plan-age */
	const char *target_glob;        /* --target: organisation mode only */
};

/* One pass, then exit; returns one of the ONCE_* codes (or EX_CONFIG).
 * With apply_plan, the plan file is loaded and checked (planfile.h) before
 * the pass; a plan that cannot be used ends with ONCE_ERROR, nothing done. */
int daemon_run_once(const char *path, const struct once_options *o);

#endif
