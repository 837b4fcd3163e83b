/* status.c - csms-tagd --status (status.h). */
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"
#include "util.h"

static int unreadable(const char *path, int r, const char *error, const char *instance,
                      const char *unit)
{
	if (r == -ENOENT)
		fprintf(stderr, "csms-tagd: %s does not exist: %s has not run yet (systemctl status %s), "
		        "or writes its state elsewhere (--state-file)\n", path, unit, unit);
	else if (r == -EACCES)
		fprintf(stderr, "csms-tagd: %s: permission denied: %s runs as a dynamic user, whose state "
		        "directory only root can enter (/var/lib/private); run sudo csms-tagd --status%s%s, "
		        "or, without root, systemctl status %s or the metrics file\n", path, unit,
		        instance ? " --instance " : "", instance ? instance : "", unit);
	else
		fprintf(stderr, "csms-tagd: %s\n", error ? error : strerror(-r));
	return r == -ENOENT ? STATUS_NOT_RUNNING : STATUS_UNKNOWN;
}

int status_run(const char *state_file, const char *instance)
{
	_cleanup_free_ char *path = NULL, *dir = NULL, *unit = NULL, *error = NULL;
	const struct metrics_snapshot *s;
	struct metrics_state *st;
	bool running;
	int r;

	if (instance && !(dir = unit_state_directory(instance)))
		return STATUS_UNKNOWN;
	path = state_file ? strdup(state_file) : state_file_path(dir, METRICS_STATE_FILE);
	unit = unit_of_instance(instance);
	if (!path || !unit)
		return STATUS_UNKNOWN;
	r = metrics_state_read(path, &st, &error);
	if (r < 0)
		return unreadable(path, r, error, instance, unit);
	s = metrics_state_snapshot(st);
	running = metrics_daemon_running(s);
	metrics_print(s, running, now_realtime_usec(), stdout);
	r = !running ? STATUS_NOT_RUNNING :
	    s->outcome == PASS_FAILED || s->outcome == PASS_PARTIAL ||
	    s->outcome == PASS_ABORTED ? STATUS_UNHEALTHY : STATUS_RUNNING;
	metrics_state_free(st);
	return r;
}
