/* status.h - csms-tagd --status: the service's state file, read and printed
 * in the manner of chronyc tracking, with the exit code of systemctl
 * is-active (csms-tagd(8)).
 *
 * The state file is STATE_FILE when given, else the one in the state
 * directory of csms-tagd@INSTANCE.service (INSTANCE NULL: csms-tagd.service).
 * A file that cannot be read is explained on stderr: not there yet (the
 * unit has not run, or writes elsewhere), or not readable by this user
 * (the dynamic user's state directory is root's to enter).
 */
#ifndef CSMS_STATUS_H
#define CSMS_STATUS_H

enum {
	STATUS_RUNNING = 0,
	STATUS_UNKNOWN = 1,     /* no state file can be read */
	STATUS_UNHEALTHY = 2,   /* running, but the last pass did not succeed */
	STATUS_NOT_RUNNING = 3,
};

/* Print the state to stdout; returns one of the STATUS_* codes. */
int status_run(const char *state_file, const char *instance);

#endif
