/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemonize.c - forking a daemon that tells the command which started it,
 * over a pipe, whether it came up: the capture daemon (capture/start.c)
 * and the mount daemon (fs/mount.c) both.  The child writes one line and
 * closes its end: "ok" or "ok INFO" once it serves, "err MESSAGE" when it
 * gives up; a newline or backslash inside INFO or MESSAGE travels as "\n"
 * or "\\", so a path with a newline in it cannot end the line early.  The
 * parent reads that one line and no further: a process the daemon started
 * may hold a copy of the write end (the capture daemon moves it to fd 3,
 * which is not close-on-exec), so the end of file may never come.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

pid_t cdp_daemon_fork(int *ready_fd, const char *msg_prefix, const char *daemon_name,
		      char *err, size_t errlen)
{
	int pipefd[2], saved;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		saved = errno;
		if (err && errlen)
			snprintf(err, errlen, "%scannot create a pipe: %s", msg_prefix,
				 strerror(saved));
		return -saved;
	}
	/* else the child would write out what the parent had buffered */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		saved = errno;
		if (err && errlen)
			snprintf(err, errlen, "%scannot fork the %s: %s", msg_prefix,
				 daemon_name, strerror(saved));
		close(pipefd[0]);
		close(pipefd[1]);
		return -saved;
	}
	if (pid == 0) {
		close(pipefd[0]);
		setsid();
		*ready_fd = pipefd[1];
		return 0;
	}
	close(pipefd[1]);
	*ready_fd = pipefd[0];
	return pid;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes word, then " " and text escaped, then the newline; closes fd. */
static int tell(int fd, const char *word, const char *text)
{
	char line[4096];
	size_t o;
	int ret;

	o = (size_t)snprintf(line, sizeof(line), "%s", word);
	if (text && text[0]) {
		line[o++] = ' ';
		for (; *text && o + 3 < sizeof(line); text++) {
			if (*text == '\n' || *text == '\\') {
				line[o++] = '\\';
				line[o++] = *text == '\n' ? 'n' : '\\';
			} else {
				line[o++] = *text;
			}
		}
	}
	line[o++] = '\n';
	ret = write_all(fd, line, o);
	close(fd);
	return ret;
}

int cdp_daemon_ready(int ready_fd, const char *info)
{
	return tell(ready_fd, "ok", info);
}

int cdp_daemon_failed(int ready_fd, const char *msg)
{
	return tell(ready_fd, "err", msg);
}

/* Reads up to the first newline (or the end of file) into line, undoing
 * the escapes; what does not fit in size - 1 bytes is dropped. */
static void read_line(int fd, char *line, size_t size)
{
	size_t o = 0;
	int escaped = 0;
	char c;

	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (c == '\n' && !escaped))
			break;
		if (!escaped && c == '\\') {
			escaped = 1;
			continue;
		}
		if (escaped && c == 'n')
			c = '\n';
		escaped = 0;
		if (o + 1 < size)
			line[o++] = c;
	}
	line[o] = '\0';
}

enum cdp_daemon_word cdp_daemon_wait(int ready_fd, pid_t pid, char *msg, size_t size,
				     int *status)
{
	char line[4096];
	enum cdp_daemon_word word = CDP_DAEMON_GONE;
	const char *text = "";
	int st = 0;

	read_line(ready_fd, line, sizeof(line));
	close(ready_fd);
	if (strcmp(line, "ok") == 0 || strncmp(line, "ok ", 3) == 0) {
		word = CDP_DAEMON_READY;
		text = line[2] ? line + 3 : "";
	} else if (strcmp(line, "err") == 0 || strncmp(line, "err ", 4) == 0) {
		word = CDP_DAEMON_FAILED;
		text = line[3] ? line + 4 : "";
	}
	snprintf(msg, size, "%s", text);
	if (word != CDP_DAEMON_READY)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	if (status)
		*status = st;
	return word;
}
