/* org-once.h - --once and --apply-plan for a config with targets
 * (org-once.c; daemon_run_once() hands over to it). */
#ifndef CSMS_ORG_ONCE_H
#define CSMS_ORG_ONCE_H

#include <stddef.h>

struct daemon;
struct once_options;

/* One pass of each target of D selected by TARGET_GLOB (target_selected();
 * NULL: all), then one ONCE_* code for all (org_once_exit_code()). */
int org_once_run(struct daemon *d, const struct once_options *opt, const char *target_glob);

/* The one exit code of passes whose ONCE_* codes were counted in BY_CODE:
 * 0 when all converged, 1 when all failed without a DELETE, 2 when some
 * changed and none failed, else 3. */
int org_once_exit_code(const size_t by_code[static 4]);

#endif
