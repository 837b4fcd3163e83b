/* advice.c - what the operator should do next. */
#include "advice.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "util.h"

char *advice_after_pass(const char *config_path, const char *default_config, const char *unit,
                        size_t n_sections, bool dry_run)
{
	_cleanup_free_ char *name = unit_short_name(unit);
	_cleanup_free_ char *opt = streq_ptr(config_path, default_config) ? strdup("") :
	                           xasprintf(" -c %s", config_path);

	if (!name || !opt)
		return NULL;
	if (n_sections == 0)
		return xasprintf("governs no secret: add [secret \"NAME\"] or [secrets \"GLOB\"] sections "
		                 "in %s.d/*.conf, check them with csms-tagd --plan%s, then systemctl "
		                 "reload %s", config_path, opt, name);
	if (dry_run)
		return xasprintf("dry run: when the would-delete records are right (csms-tagd --plan%s), "
		                 "set dry_run = no in %s.d/*.conf and systemctl reload %s",
		                 opt, config_path, name);
	return NULL;
}

const char *advice_config_error(int r)
{
	if (r == -EACCES)
		return "the service runs as a dynamic user and must read the file: chmod 0644 it "
		       "(it holds no secret; credentials go in LoadCredential= files)";
	return NULL;
}

const char *advice_credential_error(int r, bool under_systemd)
{
	if (!under_systemd)
		return NULL;
	if (r == -ENOENT)
		return "bare names are looked up in $CREDENTIALS_DIRECTORY, which systemd fills from "
		       "the unit's LoadCredential= lines when the service starts: list the file there "
		       "(systemctl edit csms-tagd) and run systemctl restart, not reload (a reload does "
		       "not copy credentials again)";
	if (r == -EACCES || r == -EPERM)
		return "the file systemd passed is not readable as expected: check the source file "
		       "named by LoadCredential= (root-owned, mode 0600) and run systemctl restart";
	return NULL;
}
