/* ledger-dir.c - where a configuration's deletion ledger lives (ledger.h):
 * the same directory as the service that runs it, by unit.h's mapping. */
#include "ledger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unit.h"
#include "util.h"

int ledger_directory(const char *state_directory, const char *config_path, char **ret)
{
	const char *env = getenv("STATE_DIRECTORY");
	_cleanup_free_ char *unit = NULL;

	if (state_directory)
		*ret = strdup(state_directory);
	else if (env && *env)
		*ret = xasprintf("%.*s", (int) strcspn(env, ":"), env);
	else if (!config_path || !(unit = unit_for_config(config_path)))
		return -ENOENT;
	else
		*ret = unit_state_directory_of(unit);
	return *ret ? 0 : -ENOMEM;
}

const char *ledger_directory_problem(int r)
{
	return r == -ENOENT ? "no csms-tagd unit runs this configuration (only csms-tagd.conf and "
	                      "NAME.conf have one), so it has no service ledger to share: set "
	                      "[daemon] state_directory" : strerror(-r);
}

int ledger_check_directory(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
