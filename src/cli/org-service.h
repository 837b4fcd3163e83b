/* org-service.h - the daemon in organisation mode: daemon_run() hands a
 * set-up daemon (daemon-internal.h) whose config has [target] or
 * [discover] sections to org_service_run(), which runs it until it is
 * stopped (org-service.c has the schedule, STATUS= and reload rules;
 * csms-tagd(8) documents them). */
#ifndef CSMS_ORG_SERVICE_H
#define CSMS_ORG_SERVICE_H

struct daemon;

/* Run the service for D's targets; returns the process exit code.  D
 * stays the caller's to clear. */
int org_service_run(struct daemon *d);

#endif
