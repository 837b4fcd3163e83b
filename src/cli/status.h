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

/* Print the state to stdout; returns one of the STATUS_* codes.  Of an
 * organisation (a state file with targets) it is unhealthy when any target
 * is failing or partial (metrics_target_unhealthy()).  TARGET_GLOB (NULL:
 * the whole and the table of targets) prints instead each target whose
 * name, account or project matches in full, and judges those only; none
 * matching, or a daemon of one target, is STATUS_UNKNOWN, said on stderr. */
int status_run(const char *state_file, const char *instance, const char *target_glob);

#endif
