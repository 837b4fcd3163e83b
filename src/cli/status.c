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

/* STATUS_UNHEALTHY or STATUS_RUNNING for a daemon that runs: its last
 * pass; of an organisation, its targets (those GLOB selects). */
static int health(const struct metrics_snapshot *s, const char *glob)
{
	if (!s->targets)
		return s->outcome == PASS_FAILED || s->outcome == PASS_PARTIAL ||
		       s->outcome == PASS_ABORTED ? STATUS_UNHEALTHY : STATUS_RUNNING;
	for (size_t i = 0; i < s->n_targets; i++)
		if ((!glob || metrics_target_selected(&s->targets[i], glob)) &&
		    metrics_target_unhealthy(&s->targets[i]))
			return STATUS_UNHEALTHY;
	return STATUS_RUNNING;
}

int status_run(const char *state_file, const char *instance, const char *target_glob)
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
	if (target_glob && !s->targets) {
		fprintf(stderr, "csms-tagd: %s is of a daemon of one project (%s): --target goes with "
		        "a configuration of many targets\n", path, s->project_id ? s->project_id : "?");
		r = STATUS_UNKNOWN;
	} else if (target_glob) {
		if (metrics_print_targets(s, running, now_realtime_usec(), target_glob, stdout) == 0) {
			fprintf(stderr, "csms-tagd: no target of %s matches %s (%zu targets)\n", path,
			        target_glob, s->n_targets);
			r = STATUS_UNKNOWN;
		} else
			r = !running ? STATUS_NOT_RUNNING : health(s, target_glob);
	} else {
		metrics_print(s, running, now_realtime_usec(), stdout);
		r = !running ? STATUS_NOT_RUNNING : health(s, NULL);
	}
	metrics_state_free(st);
	return r;
}
