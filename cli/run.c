/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run.c - running a helper program and collecting what it says: `cdpfs
 * mount` and `cdpfs umount` as children of a drill (drill_run.c),
 * fusermount3 for `cdpfs umount` (cmd_mount.c), systemd-analyze for the
 * calendar of a drill plan (drill_plan.c).  The output is read to its end
 * whatever the size of the buffer, so a talkative child never blocks or
 * dies of SIGPIPE; what does not fit is dropped.
 *
 * The child starts with no signal blocked (cdp_fork_pipe()).  Caveat: it
 * calls only async-signal-safe functions before its exec, except putenv(3) for env (the cdpfs command is single-threaded
 * where it passes one) and the PATH search of execvp(3).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

int cli_run_collect(const char *exe, char *const argv[], const char *const env[], int flags,
		    char *out, size_t size)
{
	int fds[2], devnull = -1, status;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	out[0] = '\0';
	if (flags & CLI_RUN_NULL_STDIN) {
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0)
			return -errno;
	}
	fflush(stdout);
	fflush(stderr);
	pid = cdp_fork_pipe(fds);
	if (pid < 0) {
		if (devnull >= 0)
			close(devnull);
		return pid;
	}
	if (pid == 0) {
		size_t i;

		if (flags & CLI_RUN_OWN_GROUP)
			setpgid(0, 0);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		if (flags & CLI_RUN_STDOUT)
			dup2(fds[1], STDOUT_FILENO);
		if (flags & CLI_RUN_STDERR)
			dup2(fds[1], STDERR_FILENO);
		for (i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		if (exe)
			execv(exe, argv);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	if (flags & CLI_RUN_OWN_GROUP)
		setpgid(pid, pid);
	if (devnull >= 0)
		close(devnull);
	close(fds[1]);
	for (;;) {
		char sink[256];

		if (used + 1 < size)
			n = read(fds[0], out + used, size - 1 - used);
		else
			n = read(fds[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used + 1 < size)
			used += (size_t)n;
	}
	out[used] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
