/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * start.c - the client side of capture: cdp_capture_start() and
 * cdp_capture_stop().  A start checks the directories and the store, then
 * asks a running daemon of the store (control.c) or, with none, forks one
 * (setsid, stdin/stdout to /dev/null, log lines to STORE/capture.log) and
 * waits on a readiness pipe for "ok" or "err MESSAGE".  A stop asks the
 * daemon, then waits until the mount (and, for the last directory, the
 * daemon) is gone.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "capture/capture.h"
#include "capture/capture_int.h"

#define WAIT_GONE_S 60
/* How long a start waits for a daemon that holds the store to answer or to
 * let it go (cdp_capture_start). */
#define STORE_BUSY_WAIT_MS 10000

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lexically absolute path without "." / ".." / repeated or trailing "/". */
static int abs_path(const char *in, char *out, size_t size)
{
	char buf[PATH_MAX * 2], *comp, *save = NULL;
	size_t o = 0;

	if (in[0] == '/') {
		snprintf(buf, sizeof(buf), "%s", in);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		snprintf(buf, sizeof(buf), "%s/%s", cwd, in);
	}
	out[0] = '\0';
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(out, '/');

			if (slash)
				*slash = '\0';
			o = strlen(out);
			continue;
		}
		if (o + strlen(comp) + 2 > size)
			return -ENAMETOOLONG;
		o += (size_t)snprintf(out + o, size - o, "/%s", comp);
	}
	if (!out[0])
		snprintf(out, size, "/");
	return 0;
}

static int check_dirs(const struct cdp_capture_request *req, const char *store,
		      char **dirs, char *err, size_t errlen)
{
	size_t i, slen = strlen(store);

	for (i = 0; i < req->ndirs; i++) {
		char abs[PATH_MAX], real[PATH_MAX];
		struct stat st;
		size_t dlen;

		if (abs_path(req->dirs[i], abs, sizeof(abs)) < 0) {
			cdp_errf(err, errlen, "cdpfs: '%s': path too long", req->dirs[i]);
			return -ENAMETOOLONG;
		}
		if ((!realpath(abs, real) || (stat(real, &st) < 0 && errno == ENOTCONN)) &&
		    (errno == ENOTCONN || errno == ECONNABORTED) && cap_capture_mounted(abs) &&
		    umount2(abs, MNT_DETACH) == 0)
			/* a dead capture mount (its daemon died, no supervisor took
			 * it off): capturing again is the way back */
			cdp_log(LOG_WARNING, "the capture daemon of '%s' had died; its dead mount "
				"is taken off (the time since is a gap in its history)", abs);
		if (!realpath(abs, real) || (stat(real, &st) < 0 && errno == ENOTCONN)) {
			if (errno == ENOTCONN || errno == ECONNABORTED) {
				cdp_errf(err, errlen, "cdpfs: '%s' is a capture mount whose daemon died; "
					"clear it with 'fusermount3 -u %s', then capture again", abs,
					abs);
				return -ENOTCONN;
			}
			cdp_errf(err, errlen, "cdpfs: '%s' does not exist", abs);
			return -ENOENT;
		}
		if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
			cdp_errf(err, errlen, "cdpfs: '%s' is not a directory", abs);
			return -ENOTDIR;
		}
		if (strcmp(real, "/") == 0) {
			cdp_errf(err, errlen, "cdpfs: cannot capture '/' itself; capture the "
				"directories that hold the data");
			return -EINVAL;
		}
		dlen = strlen(real);
		if ((strncmp(real, store, slen) == 0 && (real[slen] == '/' || !real[slen])) ||
		    (strncmp(store, real, dlen) == 0 && store[dlen] == '/')) {
			cdp_errf(err, errlen, "cdpfs: '%s' and the store '%s' overlap; a store must "
				"live outside every captured directory", real, store);
			return -EINVAL;
		}
		if (cap_capture_mounted(real)) {
			char reply_line[8192], esc[PATH_MAX * 3], *tok, *save = NULL;
			int pid = 0, ours = 0;

			cap_field_escape(real, esc, sizeof(esc));
			if (cap_ctl_request(store, "list\n", reply_line, sizeof(reply_line)) == 0 &&
			    strncmp(reply_line, "ok ", 3) == 0) {
				pid = atoi(reply_line + 3);
				for (tok = strtok_r(reply_line + 3, " ", &save); tok;
				     tok = strtok_r(NULL, " ", &save))
					if (strcmp(tok, esc) == 0)
						ours = 1;
			}
			/* --ensure: the daemon's answer to add decides */
			if (ours && req->ensure)
				goto keep;
			if (ours)
				cdp_errf(err, errlen, "cdpfs: '%s' is already captured (by pid %d into "
					"store '%s'); stop it with 'cdpfs capture --stop %s'", real,
					pid, store, real);
			else
				cdp_errf(err, errlen, "cdpfs: '%s' is already captured (by the capture "
					"daemon of another store); stop it with 'cdpfs capture --store "
					"STORE --stop %s'", real, real);
			return -EBUSY;
		}
keep:
		dirs[i] = strdup(real);
		if (!dirs[i])
			return -ENOMEM;
	}
	return 0;
}

static int make_store_dir(const char *store, char *real, size_t size, char *err, size_t errlen)
{
	char abs[PATH_MAX], *p, in[PATH_MAX];

	snprintf(in, sizeof(in), "%s", store);
	store = in;
	if (abs_path(store, abs, sizeof(abs)) < 0) {
		cdp_errf(err, errlen, "cdpfs: store path '%s' too long", store);
		return -ENAMETOOLONG;
	}
	for (p = abs + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(abs, c ? 0755 : 0700) < 0 && errno != EEXIST) {
				cdp_errf(err, errlen, "cdpfs: cannot create store '%s': %s", store,
					strerror(errno));
				return -errno;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	if (!realpath(abs, real)) {
		cdp_errf(err, errlen, "cdpfs: cannot use store '%s': %s", store, strerror(errno));
		return -errno;
	}
	(void)size;
	return 0;
}

/* --ensure: the daemon of store says it captures dir, baseline taken. */
static int daemon_has_ready(const char *store, const char *dir)
{
	struct cdp_capture_status st;
	size_t i;
	int found = 0;

	if (cdp_capture_status(store, &st) < 0)
		return 0;
	for (i = 0; i < st.ndirs; i++)
		if (st.dirs[i].ready && strcmp(st.dirs[i].path, dir) == 0)
			found = 1;
	cdp_capture_status_free(&st);
	return found;
}

int cdp_capture_start(const struct cdp_capture_request *req, char *err, size_t errlen)
{
	char store[PATH_MAX], host_buf[256], line[PATH_MAX * 3 + 600], reply_line[2048];
	char **dirs = NULL;
	const char *host = req->host;
	size_t i;
	int rc, ready_fd, fd, lock_fd = -1;
	pid_t pid;

	if (err && errlen)
		err[0] = '\0';
	if (!req->ndirs && !(req->serve && req->foreground)) {
		cdp_errf(err, errlen, "cdpfs: no directory to capture");
		return -EINVAL;
	}
	if (req->metrics) {
		char h[256], p[16];

		if (cap_metrics_parse(req->metrics, h, sizeof(h), p, sizeof(p)) < 0) {
			cdp_errf(err, errlen, "cdpfs: bad --metrics '%s' (expected ADDR:PORT, e.g. "
				 "127.0.0.1:9469, [::1]:9469 or :9469 for every address)",
				 req->metrics);
			return -EINVAL;
		}
	}
	/* loaded here, inherited by the supervisor and the daemon it forks */
	rc = cap_config_load(req->config, req->config != NULL, err, errlen);
	if (rc < 0)
		return rc;
	if (!host) {
		char *dot;

		if (gethostname(host_buf, sizeof(host_buf)) < 0)
			snprintf(host_buf, sizeof(host_buf), "localhost");
		host_buf[sizeof(host_buf) - 1] = '\0';
		dot = strchr(host_buf, '.');
		if (dot)
			*dot = '\0';
		host = host_buf;
	}
	/* Check the directories against where the store will be before
	 * creating it (never inside a captured directory). */
	if (abs_path(req->store ? req->store : CDP_DEFAULT_STORE, store, sizeof(store)) < 0) {
		cdp_errf(err, errlen, "cdpfs: store path too long");
		return -ENAMETOOLONG;
	}
	if (realpath(store, line))
		snprintf(store, sizeof(store), "%.*s", (int)sizeof(store) - 1, line);
	dirs = calloc(req->ndirs ? req->ndirs : 1, sizeof(*dirs));
	if (!dirs)
		return -ENOMEM;
	rc = check_dirs(req, store, dirs, err, errlen);
	if (rc < 0)
		goto out;
	/* before anything is written there (capture.lock, capture.log) */
	rc = cdp_store_check_dir(store);
	if (rc < 0) {
		if (rc == -ENOTEMPTY)
			cdp_errf(err, errlen, "cdpfs: '%s' is not a cdpfs store and not empty; a "
				"store is created only in an empty or missing directory (name "
				"another --store)", store);
		else if (rc == -ENOTDIR)
			cdp_errf(err, errlen, "cdpfs: store '%s' is not a directory", store);
		else
			cdp_errf(err, errlen, "cdpfs: cannot use store '%s': %s", store,
				strerror(-rc));
		goto out;
	}
	rc = make_store_dir(store, store, sizeof(store), err, errlen);
	if (rc < 0)
		goto out;

	/* One starter at a time: a second one waits here for the first
	 * one's daemon, then asks it. */
	snprintf(line, sizeof(line), "%s/capture.lock", store);
	lock_fd = open(line, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd >= 0)
		while (flock(lock_fd, LOCK_EX) < 0 && errno == EINTR)
			;

	/* A daemon already serves this store: ask it.  One that holds the
	 * store but does not answer yet is starting (a supervisor's restart
	 * after a crash) or on its way out: wait for it to answer or to let
	 * the store go. */
	fd = cap_ctl_connect(store);
	for (i = 0; fd < 0 && i < STORE_BUSY_WAIT_MS / 50 && cdp_store_write_locked(store) == 1;
	     i++) {
		poll(NULL, 0, 50);
		fd = cap_ctl_connect(store);
	}
	if (fd >= 0 && req->serve) {
		close(fd);
		cdp_errf(err, errlen, "cdpfs: a capture daemon of store '%s' runs already", store);
		rc = -EBUSY;
		goto out;
	}
	if (fd >= 0) {
		close(fd);
		if (req->metrics || req->config)
			cdp_log(LOG_WARNING, "the capture daemon of store '%s' runs already: "
				"--metrics and --config take effect when it starts", store);
		if (req->ship)
			cdp_log(LOG_WARNING, "the capture daemon of store '%s' runs already: "
				"--ship applies when a daemon starts, and is ignored here", store);
		for (i = 0; i < req->ndirs; i++) {
			char eh[512], ed[PATH_MAX * 3];

			cap_field_escape(host, eh, sizeof(eh));
			cap_field_escape(dirs[i], ed, sizeof(ed));
			snprintf(line, sizeof(line), "add %s %s%s\n", eh, ed,
				 req->attach_running ? " attach" : "");
			rc = cap_ctl_request(store, line, reply_line, sizeof(reply_line));
			if (rc < 0) {
				cdp_errf(err, errlen, "cdpfs: lost the capture daemon of store '%s' "
					"(%s); see %s/%s", store, strerror(-rc), store, CAP_LOG_NAME);
				goto out;
			}
			if (strncmp(reply_line, "ok", 2) != 0 &&
			    !(req->ensure && daemon_has_ready(store, dirs[i]))) {
				cdp_errf(err, errlen, "%s", strncmp(reply_line, "err ", 4) == 0 ?
					reply_line + 4 : reply_line);
				rc = -EIO;
				goto out;
			}
		}
		rc = 0;
		goto out;
	}

	if (req->foreground) {
		cdp_log_init("cdpfs", 0, LOG_INFO);
		rc = cap_daemon_main(req, store, dirs, host, -1, lock_fd, -1,
				 req->progress ? stderr : NULL, err, errlen);
		lock_fd = -1;
		goto out;
	}
	pid = cdp_daemon_fork(&ready_fd, "cdpfs: ", "capture daemon", err, errlen);
	if (pid < 0) {
		rc = (int)pid;
		goto out;
	}
	if (pid == 0) {
		char logpath[PATH_MAX + 32];
		FILE *progress = NULL;
		int null_fd, log_fd, term_fd = -1;

		if (chdir("/") < 0)
			_exit(1);
		/* Keep no descriptor of the caller (a pipe of a shell's command
		 * substitution would never see its end): the ready pipe goes to
		 * fd 3, the terminal for progress to fd 4, the rest is closed. */
		if (dup2(ready_fd, 3) < 0)
			_exit(1);
		if (ready_fd != 3)
			close(ready_fd);
		ready_fd = 3;
		if (req->progress && dup2(STDERR_FILENO, 4) == 4)
			term_fd = 4;
		close_range(term_fd == 4 ? 5 : 4, ~0U, 0);
		null_fd = open("/dev/null", O_RDWR);
		snprintf(logpath, sizeof(logpath), "%s/%s", store, CAP_LOG_NAME);
		log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (null_fd >= 0) {
			dup2(null_fd, STDIN_FILENO);
			dup2(null_fd, STDOUT_FILENO);
			dup2(log_fd >= 0 ? log_fd : null_fd, STDERR_FILENO);
			if (null_fd > STDERR_FILENO)
				close(null_fd);
		}
		if (log_fd > STDERR_FILENO)
			close(log_fd);
		setvbuf(stderr, NULL, _IOLBF, 0);
		if (term_fd >= 0)
			progress = fdopen(term_fd, "w");
		cdp_log_init("cdpfs", 0, LOG_INFO);
		cdp_log_timestamps(1);   /* stderr is STORE/capture.log */
		rc = cap_supervise(req, store, dirs, host, ready_fd, progress);
		_exit(rc);
	}
	switch (cdp_daemon_wait(ready_fd, pid, reply_line, sizeof(reply_line), NULL)) {
	case CDP_DAEMON_READY:
		rc = 0;
		break;
	case CDP_DAEMON_FAILED:
		cdp_errf(err, errlen, "%s", reply_line);
		rc = -EIO;
		break;
	case CDP_DAEMON_GONE:
		cdp_errf(err, errlen, "cdpfs: the capture daemon exited during start-up; see "
			"'%s/%s'", store, CAP_LOG_NAME);
		rc = -EIO;
		break;
	}
out:
	if (lock_fd >= 0)
		close(lock_fd);
	for (i = 0; dirs && i < req->ndirs; i++)
		free(dirs[i]);
	free(dirs);
	return rc;
}

int cdp_capture_store_of(const char *store_arg, const char *dir, char *store, size_t size)
{
	char abs[PATH_MAX], real[PATH_MAX], real2[PATH_MAX], source[PATH_MAX + 64];
	const char *path = abs;

	if (abs_path(dir, abs, sizeof(abs)) < 0)
		return -ENAMETOOLONG;
	if (realpath(abs, real))
		path = real;
	/* no store named: the capture mount on dir names its own */
	if (!store_arg && cdp_mount_find(path, "fuse.cdpfs", CAP_FSNAME_PREFIX, source,
					 sizeof(source)))
		store_arg = source + strlen(CAP_FSNAME_PREFIX);
	if (abs_path(store_arg ? store_arg : CDP_DEFAULT_STORE, store, size) < 0)
		return -ENAMETOOLONG;
	if (realpath(store, real2))
		snprintf(store, size, "%s", real2);
	return 0;
}

int cdp_capture_stop(const char *store_arg, const char *dir, char *err, size_t errlen)
{
	char store[PATH_MAX], abs[PATH_MAX], real[PATH_MAX];
	char esc[PATH_MAX * 3];
	char line[PATH_MAX * 3 + 16], reply_line[2048];
	const char *path = abs;
	int rc, pid = 0, last = 0;
	int64_t deadline;

	if (err && errlen)
		err[0] = '\0';
	if (abs_path(dir, abs, sizeof(abs)) < 0) {
		cdp_errf(err, errlen, "cdpfs: path too long");
		return -ENAMETOOLONG;
	}
	if (realpath(abs, real))
		path = real;
	if (cdp_capture_store_of(store_arg, dir, store, sizeof(store)) < 0) {
		cdp_errf(err, errlen, "cdpfs: path too long");
		return -ENAMETOOLONG;
	}
	cap_field_escape(path, esc, sizeof(esc));
	snprintf(line, sizeof(line), "stop %s\n", esc);
	rc = cap_ctl_request(store, line, reply_line, sizeof(reply_line));
	if (rc < 0) {
		if (cap_capture_mounted(path)) {
			/* the daemon died: take its dead mount away, as asked */
			if (umount2(path, MNT_DETACH) < 0 && umount2(path, 0) < 0) {
				cdp_errf(err, errlen, "cdpfs: the capture daemon of '%s' is gone and "
					"its dead mount cannot be taken off (%s); try 'fusermount3 "
					"-uz %s'", path, strerror(errno), path);
				return -ENOTCONN;
			}
			cdp_errf(err, errlen, "cdpfs: the capture daemon of '%s' (store '%s') had "
				"died; its dead mount is taken off and the directory is plain again "
				"(the time since the crash is a gap in its history; 'cdpfs capture "
				"%s' protects it again)", path, store, path);
			return 1;
		}
		cdp_errf(err, errlen, "cdpfs: '%s' is not captured (no capture daemon for store "
			"'%s')", path, store);
		return -ENOENT;
	}
	if (strncmp(reply_line, "ok", 2) != 0) {
		cdp_errf(err, errlen, "%s", strncmp(reply_line, "err ", 4) == 0 ?
			reply_line + 4 : reply_line);
		return -EIO;
	}
	sscanf(reply_line, "ok %d %d", &pid, &last);
	deadline = mono_ms() + WAIT_GONE_S * 1000;
	while (cap_capture_mounted(path) && mono_ms() < deadline)
		poll(NULL, 0, 20);
	if (cap_capture_mounted(path)) {
		cdp_errf(err, errlen, "cdpfs: '%s' is still mounted after %d s; check with "
			"'cdpfs capture --stop %s' again or 'fusermount3 -u %s'", path, WAIT_GONE_S,
			path, path);
		return -EBUSY;
	}
	if (last && pid > 0) {
		while (cdp_store_pid_alive((uint32_t)pid) && mono_ms() < deadline)
			poll(NULL, 0, 20);
		if (cdp_store_pid_alive((uint32_t)pid)) {
			cdp_errf(err, errlen, "cdpfs: '%s' is no longer captured but the daemon (pid "
				"%d) still runs: it serves files left open through it (it exits "
				"once they are closed) or was handed another directory meanwhile",
				path, pid);
			return -EBUSY;
		}
	}
	return 0;
}

int cdp_capture_snapshot(const char *store_arg, const char *dest, char *err, size_t errlen)
{
	char store[PATH_MAX], abs[PATH_MAX], esc[PATH_MAX * 3];
	char line[PATH_MAX * 3 + 32], reply_line[2048];

	if (err && errlen)
		err[0] = '\0';
	if (abs_path(store_arg ? store_arg : CDP_DEFAULT_STORE, store, sizeof(store)) < 0 ||
	    abs_path(dest, abs, sizeof(abs)) < 0) {
		cdp_errf(err, errlen, "cdpfs: path too long");
		return -ENAMETOOLONG;
	}
	cap_field_escape(abs, esc, sizeof(esc));
	snprintf(line, sizeof(line), "snapshot %s\n", esc);
	return cap_ctl_ask(store, line, reply_line, sizeof(reply_line), err, errlen);
}
