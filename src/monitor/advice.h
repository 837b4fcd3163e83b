/* advice.h - what the operator should do next, said where the daemon can
 * tell, so that STATUS= and error messages answer "now what?".
 *
 * Pure: texts only; the caller decides where they go (STATUS=, the journal,
 * stderr) and appends them to its own message.
 */
#ifndef CSMS_ADVICE_H
#define CSMS_ADVICE_H

#include <stdbool.h>
#include <stddef.h>

/* After a pass of the service UNIT (unit.h) with config CONFIG_PATH: the
 * next step of a first setup, or NULL when there is none.  No governed
 * section: write some in the config's drop-in directory (CONFIG_PATH.d/);
 * dry run: turn it off once the would-delete records are right.  The
 * commands name the config (unless it is the default DEFAULT_CONFIG) and
 * the unit that runs it, so that they can be copied as they stand.
 * Malloc'd. */
char *advice_after_pass(const char *config_path, const char *default_config, const char *unit,
                        size_t n_sections, bool dry_run);

/* For a config that cannot be read (R < 0, as config_load() returns it):
 * what to change, or NULL.  -EACCES: the service's dynamic user must be
 * able to read it (0644; it holds no secret). */
const char *advice_config_error(int r);

/* For a credential file that cannot be read (R < 0) while running under
 * systemd ($CREDENTIALS_DIRECTORY set): LoadCredential= copies the files
 * when the service starts, so a new or renamed file needs "systemctl
 * restart", and a name the unit does not list needs a drop-in.  NULL
 * outside systemd or for other errors. */
const char *advice_credential_error(int r, bool under_systemd);

#endif
