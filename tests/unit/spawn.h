/* spawn.h - start a helper process (a test server) that never outlives the
 * test: it gets SIGTERM when the test process dies, however it dies. */
#ifndef CSMS_TEST_SPAWN_H
#define CSMS_TEST_SPAWN_H

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

/* fork + execvp(ARGV[0], ARGV); returns the child's pid or -1. */
static inline pid_t spawn_tied(char *const argv[])
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)        /* the parent died before prctl() */
		_exit(1);
	execvp(argv[0], argv);
	_exit(127);
}

#endif
