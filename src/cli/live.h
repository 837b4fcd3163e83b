/* live.h - one read-only observation of the project, for --plan and
 * --explain without --observed: what the daemon's next pass would see.
 *
 * It authenticates and lists the secrets and their tags as a pass does
 * ([daemon] observe, max_parallel_requests), within pass_timeout, and
 * sends nothing that changes the project: no DeleteSecretTag, no grace
 * clock or state written.  A listing that is incomplete is an error, not
 * a smaller plan.  It runs as a job on the manager (manager.h): SIGTERM
 * and SIGINT end it (-EINTR, "interrupted") after the daemon's drain.
 */
#ifndef CSMS_LIVE_H
#define CSMS_LIVE_H

#include "config.h"
#include "observation.h"

/* Observe the project of C (loaded with CONFIG_CHECK_CREDENTIALS) into
 * *OBS.  Returns 0, or a negative errno with *ERROR (malloc'd) saying what
 * failed (redacted: it may quote the server). */
int live_observe(const struct config *c, struct observation *obs, char **error);

#endif
