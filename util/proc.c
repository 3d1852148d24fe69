/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proc.c - two steps of the long-running processes: the signals that stop
 * them, read from a signalfd (the capture daemon, its supervisor, `cdpfs
 * serve`), and the fork of a child that writes to its parent over a pipe
 * (the supervisor's daemon with its report pipe, the metrics responder's
 * `cdpfs status`).  A daemon blocks its stop signals in every thread, so
 * a child must not inherit that mask: cdp_fork_pipe() clears it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/util.h"

int cdp_stop_signalfd(int also)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (also)
		sigaddset(&mask, also);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

pid_t cdp_fork_pipe(int fds[2])
{
	pid_t pid;
	int saved;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		saved = errno;
		close(fds[0]);
		close(fds[1]);
		return -saved;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	return pid;
}
