/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mount.c - validates a time-travel mount request, mounts it and serves it:
 * the checks that give one clear line per bad input (SPEC and -o parsing
 * are in spec.c, the overlay of -o rw in ovl_setup.c), and the daemon that
 * tells its parent through a pipe when the mount is live.
 *
 * Order of work.  The mount point is checked in the calling process.  The
 * store is opened only in the process that serves the mount: RocksDB starts
 * threads, and a process that forks after that would inherit a store whose
 * background threads are gone.  So without -f the caller forks first; the
 * child opens the store, resolves the instant, checks the host and the
 * directory, mounts, and only then says ready (or its one error line)
 * over the pipe the parent waits on (util/daemonize.c).  The parent
 * returns 0 only once the kernel serves the mount.  The instant ("latest", "-10m") is resolved once,
 * in the child, just before mounting; it never moves afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs/fs.h"
#include "fs/fs_int.h"
#include "util/util.h"

/* ---------------------------------------------------------------- SPEC */

/* Checks that mp exists, is a directory and is not a mount point already;
 * fills abs with its canonical path. */
static int check_mountpoint(const char *mp, char *abs, char *err, size_t errlen)
{
	struct stat st, up;
	char parent[PATH_MAX + 4];

	if (stat(mp, &st) < 0) {
		int e = errno;

		if (e == ENOTCONN) {
			cdp_errf(err, errlen, "mount point '%s' is busy (a mount whose daemon "
			     "died: run 'cdpfs umount %s')", mp, mp);
			return -EBUSY;
		}
		cdp_errf(err, errlen, "mount point '%s' %s", mp,
		     e == ENOENT ? "does not exist" : strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		cdp_errf(err, errlen, "mount point '%s' is not a directory", mp);
		return -ENOTDIR;
	}
	if (!realpath(mp, abs)) {
		int e = errno;

		cdp_errf(err, errlen, "mount point '%s': %s", mp, strerror(e));
		return -e;
	}
	snprintf(parent, sizeof(parent), "%s/..", abs);
	if (stat(parent, &up) == 0 &&
	    (up.st_dev != st.st_dev || up.st_ino == st.st_ino)) {
		cdp_errf(err, errlen, "mount point '%s' is busy (something is mounted there)", mp);
		return -EBUSY;
	}
	if (cdp_mount_listed(abs, NULL, NULL)) {
		cdp_errf(err, errlen, "mount point '%s' is busy (something is mounted there)", mp);
		return -EBUSY;
	}
	return 0;
}

/* libfuse's own messages, kept so that a failed mount says why in one line. */
static char fuse_last_msg[512];

static int fuse_msgs_to_stderr;

static void fuse_log_capture(enum fuse_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void fuse_log_capture(enum fuse_log_level level, const char *fmt, va_list ap)
{
	va_list ap2;
	size_t n;

	va_copy(ap2, ap);
	if (level <= FUSE_LOG_ERR) {
		vsnprintf(fuse_last_msg, sizeof(fuse_last_msg), fmt, ap);
		n = strlen(fuse_last_msg);
		while (n && (fuse_last_msg[n - 1] == '\n' || fuse_last_msg[n - 1] == '.'))
			fuse_last_msg[--n] = '\0';
	}
	if (fuse_msgs_to_stderr)
		vfprintf(stderr, fmt, ap2);
	va_end(ap2);
}

static void fs_release_all(struct cdp_fs *fs)
{
	cdp_overlay_close(fs->ovl);
	fs->ovl = NULL;
	if (fs->ovl_path && fs->ovl_private) {
		int ret = cdp_overlay_destroy(fs->ovl_path);

		if (ret < 0)
			cdp_log(LOG_WARNING, "cannot remove the private overlay '%s': %s",
				fs->ovl_path, cdp_strerror(ret));
	}
	free(fs->ovl_path);
	fs->ovl_path = NULL;
	cdp_view_free(fs->view);
	fs->view = NULL;
	cdp_store_close(fs->store);
	fs->store = NULL;
	free(fs->store_path);
	fs->store_path = NULL;
}

static void format_host_list(struct cdp_host_info *hosts, size_t n, char *buf, size_t size)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
					 hosts[i].name);
	if (n == 0)
		snprintf(buf, size, "none yet");
}

/*
 * Opens the store, checks the host and the instant, opens the view and
 * resolves the mount's root.  One error line in err on failure.
 */
static int fs_prepare(struct cdp_fs *fs, const char *store_path, const char *host,
		      const char *dir, const char *time_text,
		      const struct cdp_overlay_info *resume, char *err, size_t errlen)
{
	struct cdp_host_info *hosts = NULL, *hi = NULL;
	size_t nhosts = 0, i;
	int64_t now_ns, ts_ns;
	char when[64], first[64], list[1024];
	struct cdp_attr a;
	int ret;

	memset(fs, 0, sizeof(*fs));
	now_ns = cdp_now_ns();
	/* a kept overlay mounted again names its base by seq, not by TIME */
	ret = resume ? (ts_ns = resume->base_ts_ns, 0) : cdp_time_parse(time_text, now_ns, &ts_ns);
	if (ret < 0) {
		cdp_errf(err, errlen, "bad time '%s' (expected e.g. 2025-12-02T12:33:07, "
		     "'2025-12-02 12:33:07.250', +08:00 or Z, @1764649987, latest, -10m, "
		     "-2h, -1d)", time_text);
		return ret;
	}
	fs->store_path = strdup(store_path);
	if (!fs->store_path) {
		cdp_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = cdp_store_open(store_path, CDP_STORE_READ, NULL, &fs->store);
	if (ret < 0) {
		struct stat st;

		if ((ret == -CDP_ENOSTORE || ret == -ENOTDIR) && stat(store_path, &st) == 0 &&
		    !S_ISDIR(st.st_mode))
			cdp_errf(err, errlen, "'%s' is not a store (not a directory); name the "
			     "store with --store or -o store=", store_path);
		else if (ret == -CDP_ENOSTORE || ret == -ENOENT)
			cdp_errf(err, errlen, "no store at '%s' (capture something first with "
			     "'cdpfs capture --store %s DIR', or name the store with --store "
			     "or -o store=)", store_path, store_path);
		else if (ret == -CDP_EVERSION)
			cdp_errf(err, errlen, "store '%s' has another format version (this cdpfs "
			     "reads formats 1 and %d; use the cdpfs release that wrote it)",
			     store_path, CDP_FORMAT_VERSION);
		else
			cdp_errf(err, errlen, "cannot open store '%s': %s%s%s", store_path,
			     cdp_strerror(ret), *cdp_store_last_error() ? ": " : "",
			     cdp_store_last_error());
		goto out_err;
	}
	fs->block_size = cdp_store_block_size(fs->store);
	{
		struct statvfs sv;
		int r = statvfs(store_path, &sv);

		fs->io_blksize = cdp_fs_io_blksize_of(r, &sv);
	}

	ret = cdp_store_hosts(fs->store, &hosts, &nhosts);
	if (ret < 0) {
		cdp_errf(err, errlen, "cannot list hosts of store '%s': %s", store_path,
		     cdp_strerror(ret));
		goto out_err;
	}
	for (i = 0; i < nhosts; i++)
		if (strcmp(hosts[i].name, host) == 0)
			hi = &hosts[i];
	if (!hi) {
		format_host_list(hosts, nhosts, list, sizeof(list));
		cdp_errf(err, errlen, "no capture of host '%s' in store '%s' (hosts: %s)", host,
		     store_path, list);
		ret = -CDP_ENOHOST;
		goto out_err;
	}
	if (hi->first_ts_ns == 0) {
		cdp_errf(err, errlen, "host '%s' has no complete baseline yet in store '%s' "
		     "(wait until 'cdpfs capture' returns)", host, store_path);
		ret = -CDP_EBEFORE;
		goto out_err;
	}
	cdp_time_format(hi->first_ts_ns, first, sizeof(first));
	if (resume) {
		ret = cdp_view_open_seq(fs->store, host, resume->base_ts_ns, resume->base_seq,
					&fs->view);
		if (ret < 0) {
			cdp_time_format(resume->base_ts_ns, when, sizeof(when));
			cdp_errf(err, errlen, "the base of overlay '%s' (host '%s' at %s, seq %llu) "
				 "is not in store '%s': %s", resume->name, host, when,
				 (unsigned long long)resume->base_seq, store_path,
				 cdp_strerror(ret));
			goto out_err;
		}
	} else if (ts_ns != CDP_TS_LATEST) {
		cdp_time_format(ts_ns, when, sizeof(when));
		if (ts_ns < hi->first_ts_ns) {
			cdp_errf(err, errlen, "time '%s' (%s) is before the history of host '%s', "
			     "which starts at %s", time_text, when, host, first);
			ret = -CDP_EBEFORE;
			goto out_err;
		}
		if (ts_ns > now_ns + 1000000000LL) {
			char nowbuf[64];

			cdp_time_format(now_ns, nowbuf, sizeof(nowbuf));
			cdp_errf(err, errlen, "time '%s' (%s) is in the future (now is %s)",
			     time_text, when, nowbuf);
			ret = -CDP_EFUTURE;
			goto out_err;
		}
	}

	ret = fs->view ? 0 : cdp_view_open(fs->store, host, ts_ns, &fs->view);
	if (ret < 0) {
		if (ret == -CDP_EBEFORE)
			cdp_errf(err, errlen, "time '%s' is before the history of host '%s', "
			     "which starts at %s", time_text, host, first);
		else if (ret == -CDP_EFUTURE)
			cdp_errf(err, errlen, "time '%s' is in the future", time_text);
		else
			cdp_errf(err, errlen, "cannot open host '%s' at '%s' in store '%s': %s%s%s",
			     host, time_text, store_path, cdp_strerror(ret),
			     *cdp_store_last_error() ? ": unreadable index: " : "",
			     cdp_store_last_error());
		goto out_err;
	}

	fs->root_fid = CDP_ROOT_FID;
	if (dir) {
		cdp_time_format(cdp_view_requested_ts(fs->view), when, sizeof(when));
		ret = cdp_view_resolve(fs->view, dir, &fs->root_fid);
		if (ret == 0)
			ret = cdp_view_getattr(fs->view, fs->root_fid, &a);
		if (ret == 0 && !S_ISDIR(a.mode))
			ret = -ENOTDIR;
		if (ret < 0) {
			if (ret == -ENOENT)
				cdp_errf(err, errlen, "no directory '%s' on host '%s' at %s", dir,
				     host, when);
			else if (ret == -ENOTDIR)
				cdp_errf(err, errlen, "'%s' on host '%s' at %s is not a directory",
				     dir, host, when);
			else
				cdp_errf(err, errlen, "cannot resolve '%s' on host '%s': %s", dir,
				     host, cdp_strerror(ret));
			goto out_err;
		}
	}
	cdp_host_info_free(hosts, nhosts);
	return 0;

out_err:
	cdp_host_info_free(hosts, nhosts);
	fs_release_all(fs);
	return ret < 0 ? ret : -EINVAL;
}

/*
 * A reader of a store written by a running capture must follow the writer's
 * files (RocksDB secondary): compaction replaces the files the reader knew.
 * The view stays at its seq, so catching up changes nothing it shows.
 */
struct refresher {
	struct cdp_store *store;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;            /* protected by lock */
	pthread_t thread;
	int started;
};

#define CDP_FS_REFRESH_S 10

static void *refresher_main(void *arg)
{
	struct refresher *r = arg;
	struct timespec until;
	int ret;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += CDP_FS_REFRESH_S;
		while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &until) == 0)
			;
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->lock);
		ret = cdp_store_refresh(r->store);
		if (ret < 0)
			cdp_log(LOG_WARNING, "cannot follow the store '%s': %s",
				cdp_store_path(r->store), cdp_strerror(ret));
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static void refresher_start(struct refresher *r, struct cdp_store *store)
{
	sigset_t block, old;

	memset(r, 0, sizeof(*r));
	r->store = store;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	/* Signals that end the mount must reach a FUSE thread, not this one. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	r->started = pthread_create(&r->thread, NULL, refresher_main, r) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!r->started)
		cdp_log(LOG_WARNING, "no store refresh thread: a long mount may see EIO "
			"after the capture compacts");
}

static void refresher_stop(struct refresher *r)
{
	if (r->started) {
		pthread_mutex_lock(&r->lock);
		r->stop = 1;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

/*
 * Everything that happens in the serving process: prepare, mount, tell
 * ready_fd (-1 in foreground), serve until unmounted or signalled.
 */
static int fs_serve(struct cdp_fs_launch *l, int ready_fd, char *err, size_t errlen)
{
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop_cfg = NULL;
	struct refresher refresh;
	char info[PATH_MAX + 256];   /* the line for --verbose */
	struct cdp_fs fs;
	char optbuf[2048] = "", fsname[PATH_MAX + 16], esc[2 * PATH_MAX];
	char *argv[5];
	struct fuse_args args;
	int argc = 0, ret, allow_other, covered_fd = -1;
	struct cdp_overlay_info resume;

	memset(&resume, 0, sizeof(resume));
	if (!l->time_text) {
		/* a named overlay mounted again: at its own base */
		ret = cdp_fs_overlay_resume_info(l, &resume, err, errlen);
		if (ret < 0)
			return ret;
	}
	ret = fs_prepare(&fs, l->store_path, l->host, l->dir, l->time_text,
			 l->time_text ? NULL : &resume, err, errlen);
	cdp_overlay_info_release(&resume);
	if (ret < 0)
		return ret;
	if (l->opts.rw) {
		ret = cdp_fs_overlay_prepare(&fs, l, err, errlen);
		if (ret < 0)
			goto out_release;
	}

	allow_other = l->opts.allow_other >= 0 ? l->opts.allow_other : geteuid() == 0;
	snprintf(fsname, sizeof(fsname), "fsname=%s", l->req->spec);
	cdp_fs_opt_escape(fsname, esc, sizeof(esc));
	if (cdp_fs_opt_append(optbuf, sizeof(optbuf), fs.ovl ? "rw" : "ro") ||
	    cdp_fs_opt_append(optbuf, sizeof(optbuf), "default_permissions") ||
	    cdp_fs_opt_append(optbuf, sizeof(optbuf), "subtype=cdpfs") ||
	    cdp_fs_opt_append(optbuf, sizeof(optbuf), "max_read=1048576") ||
	    cdp_fs_opt_append(optbuf, sizeof(optbuf), esc) ||
	    (allow_other && cdp_fs_opt_append(optbuf, sizeof(optbuf), "allow_other")) ||
	    (l->vfs && cdp_fs_opt_append(optbuf, sizeof(optbuf), l->vfs))) {
		cdp_errf(err, errlen, "mount options too long");
		ret = -ENAMETOOLONG;
		goto out_release;
	}
	argv[argc++] = (char *)"cdpfs";
	argv[argc++] = (char *)"-o";
	argv[argc++] = optbuf;
	if (l->opts.debug || l->req->debug)
		argv[argc++] = (char *)"-d";
	argv[argc] = NULL;
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);

	fuse_msgs_to_stderr = ready_fd < 0;
	fuse_set_log_func(fuse_log_capture);
	fuse_last_msg[0] = '\0';
	se = fs.ovl ? fuse_session_new(&args, &cdp_fs_ovl_ops, sizeof(cdp_fs_ovl_ops), &fs) :
		      fuse_session_new(&args, &cdp_fs_ll_ops, sizeof(cdp_fs_ll_ops), &fs);
	fuse_opt_free_args(&args);
	if (!se) {
		cdp_errf(err, errlen, "cannot start the FUSE session: %s",
		     fuse_last_msg[0] ? fuse_last_msg : "unknown error");
		ret = -EIO;
		goto out_release;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		cdp_errf(err, errlen, "cannot install signal handlers");
		ret = -EIO;
		goto out_destroy;
	}
	/* Hold the directory we cover: `cdpfs umount` finds this daemon by
	 * it (a /proc/PID/fd link naming the mount point) and waits for it. */
	covered_fd = open(l->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fuse_session_mount(se, l->mountpoint) != 0) {
		cdp_errf(err, errlen, "cannot mount on '%s': %s", l->mountpoint,
		     fuse_last_msg[0] ? fuse_last_msg : "mount failed");
		ret = -EIO;
		goto out_signals;
	}
	{
		char asked[64], newest[64];

		cdp_time_format(cdp_view_requested_ts(fs.view), asked, sizeof(asked));
		cdp_time_format(cdp_view_ts(fs.view), newest, sizeof(newest));
		snprintf(info, sizeof(info), "mounted '%s' as of %s (newest change "
			 "%s, seq %llu) on '%s'%s%s%s", l->req->spec, asked, newest,
			 (unsigned long long)cdp_view_seq(fs.view), l->mountpoint,
			 fs.ovl ? (fs.ovl_private ? ", writable (private overlay, discarded at "
				   "unmount)" : ", writable (overlay '") : "",
			 fs.ovl && !fs.ovl_private ? l->opts.overlay : "",
			 fs.ovl && !fs.ovl_private ? "')" : "");
		cdp_log(LOG_INFO, "%s", info);
	}
	if (ready_fd >= 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* Detach from the caller's terminal and pipes before saying
		 * ready, so `x=$(cdpfs mount ...)` does not wait for us. */
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			if (!l->opts.log)   /* else stderr is the log file */
				dup2(devnull, STDERR_FILENO);
			if (devnull > STDERR_FILENO)
				close(devnull);
		}
		if (cdp_daemon_ready(ready_fd, info) < 0)
			cdp_log(LOG_WARNING, "cannot tell the caller the mount is ready");
		if (chdir("/") < 0)
			cdp_log(LOG_WARNING, "cannot change directory to '/'");
	}

	refresher_start(&refresh, fs.store);
	loop_cfg = fuse_loop_cfg_create();
	if (loop_cfg) {
		fuse_loop_cfg_set_clone_fd(loop_cfg, 0);
		fuse_loop_cfg_set_max_threads(loop_cfg, 16);
	}
	ret = fuse_session_loop_mt(se, loop_cfg);
	cdp_log(LOG_DEBUG, "serving '%s' ended with %d", l->mountpoint, ret);
	ret = 0;
	fuse_loop_cfg_destroy(loop_cfg);
	refresher_stop(&refresh);
	fuse_session_unmount(se);
	cdp_fs_log_read_errors();
	cdp_log(LOG_INFO, "unmounted '%s'", l->mountpoint);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	/* Close the store before the session: once /dev/fuse is closed, the
	 * mount is gone for good and waiters may assume we are done. */
	fs_release_all(&fs);
	fuse_session_destroy(se);
	if (covered_fd >= 0)
		close(covered_fd);
	return ret;
out_release:
	fs_release_all(&fs);
	return ret;
}

/* Waits for the daemon's word: ready and what was mounted (printed with
 * verbose), or its error line. */
static int wait_ready(int fd, pid_t pid, int verbose, char *err, size_t errlen)
{
	char msg[PATH_MAX + 256];
	int status = 0;

	switch (cdp_daemon_wait(fd, pid, msg, sizeof(msg), &status)) {
	case CDP_DAEMON_READY:
		if (verbose && msg[0])
			printf("%s\n", msg);
		return 0;
	case CDP_DAEMON_FAILED:
		if (msg[0]) {
			cdp_errf(err, errlen, "%s", msg);
			return -EIO;
		}
		break;
	case CDP_DAEMON_GONE:
		break;
	}
	if (WIFSIGNALED(status))
		cdp_errf(err, errlen, "the mount daemon died (signal %d) before the mount was "
		     "ready", WTERMSIG(status));
	else
		cdp_errf(err, errlen, "the mount daemon exited before the mount was ready");
	return -EIO;
}

int cdp_fs_mount(const struct cdp_mount_request *req, char *err, size_t errlen)
{
	struct cdp_fs_launch l;
	int ret, ready_fd, log_fd = -1;
	pid_t pid;

	memset(&l, 0, sizeof(l));
	l.req = req;
	l.opts.allow_other = -1;
	if (err && errlen)
		err[0] = '\0';
	if (!req->spec || !req->mountpoint) {
		cdp_errf(err, errlen, "usage: cdpfs mount [--store DIR] [-o OPTS] SPEC MOUNTPOINT");
		return -EINVAL;
	}
	ret = cdp_fs_parse_options(req->options, &l.opts, &l.vfs, err, errlen);
	if (ret < 0)
		goto out;
	if (l.opts.rw && l.opts.overlay && !strchr(req->spec, '@')) {
		/* HOST or HOST:/DIR: a named overlay mounted again */
		char *spec = malloc(strlen(req->spec) + 8);

		if (!spec) {
			ret = -ENOMEM;
			cdp_errf(err, errlen, "out of memory");
			goto out;
		}
		sprintf(spec, "%s@latest", req->spec);
		ret = cdp_fs_parse_spec(spec, &l.host, &l.dir, &l.time_text, err, errlen);
		free(spec);
		free(l.time_text);
		l.time_text = NULL;
	} else {
		ret = cdp_fs_parse_spec(req->spec, &l.host, &l.dir, &l.time_text, err, errlen);
	}
	if (ret < 0)
		goto out;
	l.store_path = l.opts.store ? l.opts.store : req->store ? req->store : CDP_DEFAULT_STORE;
	/* The daemon leaves its working directory: keep the store absolute. */
	if (realpath(l.store_path, l.store_abs))
		l.store_path = l.store_abs;
	ret = check_mountpoint(req->mountpoint, l.mountpoint, err, errlen);
	if (ret < 0)
		goto out;

	/* Debug output goes to stderr, which a daemon closes: as libfuse's
	 * -o debug, it implies the foreground. */
	if (req->foreground || l.opts.debug) {
		cdp_log_init("cdpfs", 0, (l.opts.debug || req->debug) ? LOG_DEBUG : LOG_INFO);
		ret = fs_serve(&l, -1, err, errlen);
		goto out;
	}

	/* opened here, so that a bad path is reported on the command line */
	if (l.opts.log) {
		log_fd = open(l.opts.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (log_fd < 0) {
			ret = -errno;
			cdp_errf(err, errlen, "cannot open log file '%s': %s", l.opts.log,
				 strerror(-ret));
			goto out;
		}
	}
	pid = cdp_daemon_fork(&ready_fd, "", "mount daemon", err, errlen);
	if (pid < 0) {
		ret = (int)pid;
		goto out;
	}
	if (pid == 0) {
		char line[1024];

		if (log_fd >= 0 && dup2(log_fd, STDERR_FILENO) == STDERR_FILENO) {
			close(log_fd);
			log_fd = -1;
			setvbuf(stderr, NULL, _IOLBF, 0);
			cdp_log_init("cdpfs", 0, req->debug ? LOG_DEBUG : LOG_INFO);
			cdp_log_timestamps(1);
		} else
			cdp_log_init("cdpfs", 1, req->debug ? LOG_DEBUG : LOG_INFO);
		line[0] = '\0';
		ret = fs_serve(&l, ready_fd, line, sizeof(line));
		if (ret < 0) {
			cdp_daemon_failed(ready_fd, line);
			_exit(1);
		}
		_exit(0);
	}
	ret = wait_ready(ready_fd, pid, req->verbose, err, errlen);
out:
	if (log_fd >= 0)
		close(log_fd);
	free(l.vfs);
	free(l.host);
	free(l.dir);
	free(l.time_text);
	free(l.opts.store);
	free(l.opts.log);
	free(l.opts.overlay);
	free(l.opts.overlay_dir);
	return ret < 0 ? ret : 0;
}
