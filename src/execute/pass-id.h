/* pass-id.h - a pass identifier unique across restarts and reboots.
 *
 * "journalctl CSMS_PASS_ID=..." must find one pass, not pass 12 of every
 * run.  The base is the unit's invocation ID ($INVOCATION_ID, else
 * sd_id128_get_invocation()), which systemd makes new for every start; outside
 * systemd it is the boot ID and the PID ("BOOTID-pPID").  The pass counter
 * follows: "0f3c...9a-12".
 */
#ifndef CSMS_PASS_ID_H
#define CSMS_PASS_ID_H

#include <stdint.h>
#include <sys/types.h>

/* 32 hex digits, "-p", a PID, "-", a counter, NUL. */
#define PASS_ID_MAX 80

/* The base of this process's pass identifiers into BASE (PASS_ID_MAX bytes).
 * INVOCATION is $INVOCATION_ID (may be NULL or invalid: then
 * sd_id128_get_invocation(), then boot ID + PID are tried).  Returns 0 or a
 * negative errno when not even the boot ID can be read. */
int pass_id_base(const char *invocation, pid_t pid, char base[static PASS_ID_MAX]);

/* "BASE-COUNTER" into BUF (PASS_ID_MAX bytes); returns BUF. */
const char *pass_id_format(char buf[static PASS_ID_MAX], const char *base, uint64_t counter);

#endif
