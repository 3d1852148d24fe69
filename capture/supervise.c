/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * supervise.c - the capture supervisor: a small process that runs the
 * capture daemon of a store as its child and, when the daemon dies, brings
 * capture back at once.
 *
 * The process that cdp_capture_start() forks becomes the supervisor; it
 * opens no store and holds nothing inside a protected directory.  Its
 * child runs cap_daemon_main() and reports over a pipe what it protects
 * ("add HOST DIR" once a directory is protected, "del DIR" when it stops,
 * "ready" once it serves), so the supervisor always knows the directories
 * and their hosts without reading the store.  When the child exits:
 *   - with status 0, or after a stop signal the supervisor forwarded to it:
 *     the supervisor exits with it;
 *   - before its first "ready": the start failed (the command that started
 *     capture has its error line): the supervisor exits too;
 *   - otherwise (killed by a signal, a non-zero exit): a crash.  The
 *     supervisor logs it (STORE/capture.log and syslog, with the alert of
 *     alert.c), takes the dead capture mounts of the directories off
 *     (lazily: applications with descriptors open through them keep getting
 *     ENOTCONN on those; new opens reach the directory again), and starts a
 *     new daemon on the same directories with --attach-running (the
 *     processes that held the dead mount's files may hold real ones now).
 *     The new daemon's resync journals what changed meanwhile and closes
 *     the gap that cdp_journal_root_begin() opens at the dead session's
 *     last heartbeat: the outage is a recorded gap of about a second.  A
 *     restart that fails is retried after 1, 2, 4 ... 60 s, and so is one
 *     whose daemon dies again within 10 s (a crash loop).
 * Directories of further hosts are handed to the new daemon over its
 * control socket, as `cdpfs capture` would.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include "capture/capture.h"
#include "capture/capture_int.h"

#define BACKOFF_MAX_S 60
/* A daemon that dies within this long of its restart is in a crash loop. */
#define CRASH_LOOP_NS (10 * 1000000000LL)

struct sv_dir {
	char *host, *path;
};

struct sv {
	const char *store;
	struct sv_dir *dirs;
	size_t ndirs, cap;
	char line[PATH_MAX * 3 + 600];
	size_t llen;
	int ready_seen;
};

static void sv_del(struct sv *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->ndirs; i++) {
		if (strcmp(s->dirs[i].path, path) == 0) {
			free(s->dirs[i].host);
			free(s->dirs[i].path);
			s->dirs[i] = s->dirs[--s->ndirs];
			return;
		}
	}
}

static void sv_add(struct sv *s, const char *host, const char *path)
{
	struct sv_dir *nd;

	sv_del(s, path);
	nd = cdp_array_grow(s->dirs, &s->cap, s->ndirs, sizeof(*nd), 8);
	if (!nd)
		return;
	s->dirs = nd;
	nd[s->ndirs].host = strdup(host);
	nd[s->ndirs].path = strdup(path);
	if (!nd[s->ndirs].host || !nd[s->ndirs].path) {
		free(nd[s->ndirs].host);
		free(nd[s->ndirs].path);
		return;
	}
	s->ndirs++;
}

/* One report line of the daemon. */
static void sv_line(struct sv *s, char *line)
{
	char *save = NULL, *verb = strtok_r(line, " ", &save);
	char *a1 = verb ? strtok_r(NULL, " ", &save) : NULL;
	char *a2 = a1 ? strtok_r(NULL, " ", &save) : NULL;

	if (a1)
		cap_field_unescape(a1);
	if (a2)
		cap_field_unescape(a2);
	if (verb && strcmp(verb, "ready") == 0)
		s->ready_seen = 1;
	else if (verb && strcmp(verb, "add") == 0 && a2)
		sv_add(s, a1, a2);
	else if (verb && strcmp(verb, "del") == 0 && a1)
		sv_del(s, a1);
}

/* Reads what the report pipe has; 0 at its end. */
static int sv_read(struct sv *s, int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	ssize_t i;

	if (n <= 0)
		return n < 0 && errno == EINTR ? 1 : 0;
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			s->line[s->llen] = '\0';
			sv_line(s, s->line);
			s->llen = 0;
		} else if (s->llen + 1 < sizeof(s->line)) {
			s->line[s->llen++] = buf[i];
		}
	}
	return 1;
}

/* Forks the daemon on dirs[0..n) of host; its report pipe in *rep. */
static pid_t sv_fork(const struct cdp_capture_request *req, const char *store,
		     char *const *dirs, size_t n, const char *host, int ready_fd, FILE *progress,
		     int *rep)
{
	int p[2];
	pid_t pid;

	pid = cdp_fork_pipe(p);
	if (pid < 0)
		return pid;
	if (pid == 0) {
		struct cdp_capture_request r = *req;
		char err[1024] = "";
		int rc;

		close(p[0]);
		prctl(PR_SET_NAME, "cdpfs", 0, 0, 0);
		r.dirs = dirs;
		r.ndirs = n;
		r.host = host;
		rc = cap_daemon_main(&r, store, dirs, host, ready_fd, -1, p[1], progress, err,
				     sizeof(err));
		/* a first start's error goes to the command that waits on
		 * ready_fd (and nowhere else: the store may not be ours to
		 * write, e.g. of another format version); a restart's to the log */
		if (rc < 0 && err[0] && ready_fd < 0)
			cdp_log(LOG_ERR, "%s", err + (strncmp(err, "cdpfs: ", 7) ? 0 : 7));
		_exit(rc < 0 ? 1 : 0);
	}
	close(p[1]);
	*rep = p[0];
	return pid;
}

static void describe_exit(int status, char *out, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(out, size, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "exited with status %d", WEXITSTATUS(status));
}

/* Waits for the daemon pid while reading its reports; a stop signal is
 * passed on to it (*stopping set).  Returns its wait status. */
static int sv_wait(struct sv *s, pid_t pid, int rep, int sfd, int *stopping)
{
	struct pollfd pfd[2];
	int status = 0, open_rep = 1;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		pfd[0].fd = open_rep ? rep : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = sfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, open_rep ? 1000 : 100) < 0 && errno != EINTR)
			poll(NULL, 0, 100);
		if (open_rep && (pfd[0].revents & (POLLIN | POLLHUP)))
			open_rep = sv_read(s, rep);
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
			    si.ssi_signo != SIGCHLD) {
				*stopping = 1;
				kill(pid, (int)si.ssi_signo);
			}
		}
	}
	while (open_rep && sv_read(s, rep))
		;
	close(rep);
	return status;
}

/* Takes the dead capture mounts of the directories off. */
static void sv_clear_mounts(struct sv *s)
{
	size_t i;

	for (i = 0; i < s->ndirs; i++) {
		if (!cap_capture_mounted(s->dirs[i].path))
			continue;
		if (umount2(s->dirs[i].path, MNT_DETACH) < 0)
			cdp_log(LOG_ERR, "supervisor: cannot take the dead capture mount off '%s': %s",
				s->dirs[i].path, strerror(errno));
		else
			cdp_log(LOG_INFO, "supervisor: dead capture mount taken off '%s'",
				s->dirs[i].path);
	}
}

/* Hands the directories of hosts other than host to the running daemon. */
static void sv_add_others(struct sv *s, const char *host)
{
	char line[PATH_MAX * 3 + 600], reply[2048], eh[512], ed[PATH_MAX * 3];
	size_t i, n = s->ndirs;
	struct sv_dir *copy = calloc(n ? n : 1, sizeof(*copy));

	if (!copy)
		return;
	for (i = 0; i < n; i++) {
		copy[i].host = strdup(s->dirs[i].host);
		copy[i].path = strdup(s->dirs[i].path);
	}
	for (i = 0; i < n; i++) {
		if (!copy[i].host || !copy[i].path || strcmp(copy[i].host, host) == 0)
			continue;
		cap_field_escape(copy[i].host, eh, sizeof(eh));
		cap_field_escape(copy[i].path, ed, sizeof(ed));
		snprintf(line, sizeof(line), "add %s %s attach\n", eh, ed);
		if (cap_ctl_request(s->store, line, reply, sizeof(reply)) < 0 ||
		    strncmp(reply, "ok", 2) != 0)
			cdp_log(LOG_ERR, "supervisor: capture of '%s' (host '%s') did not come "
				"back: %s", copy[i].path, copy[i].host,
				strncmp(reply, "err ", 4) == 0 ? reply + 4 : "no answer");
	}
	for (i = 0; i < n; i++) {
		free(copy[i].host);
		free(copy[i].path);
	}
	free(copy);
}

int cap_supervise(const struct cdp_capture_request *req, const char *store_path,
		  char *const *dirs, const char *host, int ready_fd, FILE *progress)
{
	struct sv s;
	char why[128], err[1024];
	int sfd, rep = -1, status, stopping = 0, first = 1, backoff = 1, loop_wait = 0;
	int64_t restarted_ns = 0;
	pid_t pid;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.store = store_path;
	prctl(PR_SET_NAME, "cdpfs-supervise", 0, 0, 0);
	sfd = cdp_stop_signalfd(SIGCHLD);

	pid = sv_fork(req, store_path, dirs, req->ndirs, host, ready_fd, progress, &rep);
	if (ready_fd >= 0)
		close(ready_fd);
	if (progress)
		fclose(progress);
	if (pid < 0) {
		cdp_log(LOG_ERR, "supervisor: cannot fork the capture daemon: %s", strerror(-pid));
		return 1;
	}
	for (;;) {
		int64_t died_ns;
		char **list;
		size_t n = 0;
		const char *h;
		int rfd;
		enum cdp_daemon_word word;

		s.ready_seen = first ? 0 : s.ready_seen;
		status = sv_wait(&s, pid, rep, sfd, &stopping);
		if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
		    (first && !s.ready_seen) || s.ndirs == 0)
			break;
		died_ns = cdp_now_ns();
		describe_exit(status, why, sizeof(why));
		cdp_log(LOG_ERR, "capture daemon (pid %d) of store '%s' %s; restarting it for "
			"%zu director%s", (int)pid, store_path, why, s.ndirs,
			s.ndirs == 1 ? "y" : "ies");
		cap_alert(store_path, "capture_died", LOG_ALERT, NULL, NULL,
			  "the capture daemon (pid %d) %s; capture is down until it is restarted",
			  (int)pid, why);
		first = 0;
		/* A daemon that dies again soon after its restart (a fault that
		 * every restart meets) is restarted after 1, 2, 4 ... 60 s, not
		 * in a loop that floods the log and the alert command. */
		if (restarted_ns && died_ns - restarted_ns < CRASH_LOOP_NS) {
			loop_wait = loop_wait ? loop_wait * 2 : 1;
			if (loop_wait > BACKOFF_MAX_S)
				loop_wait = BACKOFF_MAX_S;
			cdp_log(LOG_ERR, "supervisor: the capture daemon died %.1f s after its "
				"restart; restarting it in %d s", (double)(died_ns - restarted_ns) / 1e9,
				loop_wait);
			sleep((unsigned)loop_wait);
		} else {
			loop_wait = 0;
		}
		for (;;) {
			sv_clear_mounts(&s);
			h = s.dirs[0].host;
			list = calloc(s.ndirs, sizeof(*list));
			if (!list)
				break;
			for (i = 0, n = 0; i < s.ndirs; i++)
				if (strcmp(s.dirs[i].host, h) == 0)
					list[n++] = s.dirs[i].path;
			{
				struct cdp_capture_request r = *req;
				int rp[2];

				r.attach_running = 1;
				if (pipe2(rp, O_CLOEXEC) < 0) {
					free(list);
					pid = -errno;
					break;
				}
				pid = sv_fork(&r, store_path, list, n, h, rp[1], NULL, &rep);
				close(rp[1]);
				rfd = rp[0];
			}
			free(list);
			if (pid < 0) {
				close(rfd);
				word = CDP_DAEMON_GONE;
				snprintf(err, sizeof(err), "cannot fork: %s", strerror(-pid));
			} else {
				word = cdp_daemon_wait(rfd, pid, err, sizeof(err), &status);
			}
			if (word == CDP_DAEMON_READY)
				break;
			if (pid > 0 && rep >= 0) {
				while (sv_read(&s, rep))
					;
				close(rep);
				rep = -1;
			}
			cdp_log(LOG_ERR, "supervisor: restarting the capture daemon failed (%s); "
				"retrying in %d s", err[0] ? err : "it exited", backoff);
			cap_alert(store_path, "capture_restart_failed", LOG_ALERT, NULL, NULL,
				  "restarting the capture daemon failed: %s", err[0] ? err :
				  "it exited");
			sleep((unsigned)backoff);
			if (backoff < BACKOFF_MAX_S)
				backoff *= 2;
			if (s.ndirs == 0)
				break;
		}
		if (pid < 0 || s.ndirs == 0)
			break;
		backoff = 1;
		restarted_ns = cdp_now_ns();
		sv_add_others(&s, h);
		cdp_log(LOG_WARNING, "capture daemon restarted (pid %d) %.1f s after the crash; "
			"the outage is a gap in the history", (int)pid,
			(double)(cdp_now_ns() - died_ns) / 1e9);
		cap_alert(store_path, "capture_restarted", LOG_WARNING, NULL, NULL,
			  "the capture daemon was restarted %.1f s after it died; the outage is "
			  "a gap in the history", (double)(cdp_now_ns() - died_ns) / 1e9);
	}
	for (i = 0; i < s.ndirs; i++) {
		free(s.dirs[i].host);
		free(s.dirs[i].path);
	}
	free(s.dirs);
	if (sfd >= 0)
		close(sfd);
	if (WIFSIGNALED(status))
		return 1;
	return WEXITSTATUS(status);
}
