/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.c - the capture daemon: its main loop, the protected directories
 * (roots) it serves and their session threads, and the server side of the
 * control requests (control.c has the protocol).
 *
 * One daemon per store holds the store open for writing and serves every
 * protected directory of that store, each with its own FUSE session and
 * session loop thread.  It exits when its last directory stops, or stops
 * all of them cleanly on SIGTERM, SIGINT or SIGHUP.
 *
 * Caveat: stopping unmounts lazily; a process that keeps a file of DIR
 * open keeps the session (and the daemon) alive until it closes it, while
 * the clean stop is recorded after at most STOP_GRACE_S seconds.
 */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "capture/capture.h"
#include "capture/capture_int.h"
#include "capture/holders.h"
#include "ship/ship.h"

#define STOP_GRACE_S 3
#define DEFAULT_MEM_LIMIT (256u << 20)

struct cap_host {
	struct cap_host *next;
	char *name;
	struct cdp_journal *journal;
	int refs;
	uint64_t suspects_alerted;    /* main loop only */
};

struct cap_daemon {
	pthread_mutex_t lock;
	char *store_path;
	struct cdp_store *store;      /* NULL when no_journal */
	struct cap_host *hosts;       /* protected by lock */
	struct cap_root *roots;       /* protected by lock */
	int nroots;                   /* protected by lock */
	int busy;                     /* requests in flight; protected by lock */
	int listen_fd;
	int wake[2];
	int no_journal;
	struct cap_late *late;        /* the safety net; NULL without fanotify */
	int super_fd;                 /* report pipe to the supervisor, or -1 */
	struct cap_metrics *metrics;  /* the /metrics endpoint, or NULL */
	int keep_running;             /* serve mode: no exit when the last dir stops */
	int degraded_alerted;         /* main loop only */
	int fill_alerted;             /* main loop only */
	int64_t monitored_ms;         /* main loop only: last monitor() */
	int64_t resume_next_ms;       /* main loop only: next try to leave degraded */
	int resume_backoff_s;         /* main loop only */
	atomic_int exiting;           /* set by the main loop, read by conn threads */
	struct cdp_shipper *shipper;  /* --ship: streams the store to a DR server */
};

/* How long a stopping daemon lets its shipper send what is committed. */
#define SHIP_DRAIN_MS 3000

static struct cdp_journal *host_journal(struct cap_daemon *d, const char *host, int *rc)
{
	struct cap_host *h;

	*rc = 0;
	for (h = d->hosts; h; h = h->next) {
		if (strcmp(h->name, host) == 0) {
			h->refs++;
			return h->journal;
		}
	}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->name = strdup(host))) {
		free(h);
		*rc = -ENOMEM;
		return NULL;
	}
	*rc = cdp_journal_open(d->store, host, &h->journal);
	if (*rc < 0) {
		free(h->name);
		free(h);
		return NULL;
	}
	cap_suspect_configure(h->journal, host);
	h->refs = 1;
	h->next = d->hosts;
	d->hosts = h;
	return h->journal;
}

static void host_release(struct cap_daemon *d, struct cdp_journal *j)
{
	struct cap_host **pp, *h;

	for (pp = &d->hosts; (h = *pp); pp = &h->next) {
		if (h->journal == j) {
			if (--h->refs == 0) {
				*pp = h->next;
				cdp_journal_close(h->journal);
				free(h->name);
				free(h);
			}
			return;
		}
	}
}

static struct cap_root *find_root(struct cap_daemon *d, const char *path)
{
	struct cap_root *r;

	for (r = d->roots; r; r = r->next)
		if (!r->orphan && strcmp(r->path, path) == 0)
			return r;
	return NULL;
}

static void wake_main(struct cap_daemon *d)
{
	ssize_t n = write(d->wake[1], "x", 1);

	(void)n;
}

/* Tells the supervisor (supervise.c) one line: "add HOST DIR", "del DIR"
 * or "ready".  Fields escaped as on the control socket; a supervisor
 * that is gone costs nothing (SIGPIPE is ignored). */
static void tell_supervisor(struct cap_daemon *d, const char *verb, const char *host,
			    const char *dir)
{
	char line[PATH_MAX * 3 + 600], eh[512], ed[PATH_MAX * 3];

	if (d->super_fd < 0)
		return;
	eh[0] = ed[0] = '\0';
	if (host)
		cap_field_escape(host, eh, sizeof(eh));
	if (dir)
		cap_field_escape(dir, ed, sizeof(ed));
	snprintf(line, sizeof(line), "%s%s%s%s%s\n", verb, host ? " " : "", eh, dir ? " " : "",
		 ed);
	pthread_mutex_lock(&d->lock);
	if (cap_write_all(d->super_fd, line, strlen(line)) < 0) {
		close(d->super_fd);
		d->super_fd = -1;
	}
	pthread_mutex_unlock(&d->lock);
}

static void *loop_main(void *arg)
{
	struct cap_root *r = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int rc;

	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, 32);
		fuse_loop_cfg_set_idle_threads(cfg, 8);
	}
	rc = fuse_session_loop_mt(r->se, cfg);
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	cdp_log(LOG_DEBUG, "session of '%s' ended (%d)", r->path, rc);
	pthread_mutex_lock(&r->daemon->lock);
	r->loop_done = 1;
	pthread_mutex_unlock(&r->daemon->lock);
	wake_main(r->daemon);
	return NULL;
}

static void free_root(struct cap_daemon *d, struct cap_root *r)
{
	cap_late_unwatch(d->late, r);
	/* Once its loop has returned the connection is gone (the mount is
	 * off, every file closed): fuse_session_unmount() then only closes
	 * the descriptor and frees the mount point's name, which
	 * fuse_session_destroy() of libfuse 3.14 leaks; it does not unmount
	 * a newer mount on the same path, as the kernel reports the old
	 * connection dead (POLLERR). */
	if (r->se && r->loop_done)
		fuse_session_unmount(r->se);
	if (r->se)
		fuse_session_destroy(r->se);
	if (r->root_fd >= 0)
		close(r->root_fd);
	cap_root_free_tables(r);
	if (r->journal) {
		pthread_mutex_lock(&d->lock);
		host_release(d, r->journal);
		pthread_mutex_unlock(&d->lock);
	}
	free(r->path);
	free(r->host);
	free(r);
}

/* One line of the writer's counters at a stop, for operators and for
 * scripts/bench (which parses "lag p50 N us p99 N us").  The counters are
 * the store writer's since the daemon opened the store, shared by every
 * directory of it; the lag is from cdp_op_commit() to durable, rounded down
 * to a power of two microseconds (the true value is below twice it). */
static void log_journal_stats(struct cap_root *r)
{
	struct cdp_journal_stats st;

	cdp_journal_stats(r->journal, &st);
	cdp_log(LOG_INFO, "journal at the stop of '%s': %llu ops, %llu blocks (%llu new, "
		"%llu dedup, %llu zero), %llu bytes in, %llu stored, %llu commits, queue peak "
		"%llu bytes, lag p50 %llu us p99 %llu us", r->path,
		(unsigned long long)st.ops, (unsigned long long)st.blocks,
		(unsigned long long)st.new_chunks, (unsigned long long)st.dedup_hits,
		(unsigned long long)st.zero_blocks, (unsigned long long)st.bytes_in,
		(unsigned long long)st.bytes_stored, (unsigned long long)st.commits,
		(unsigned long long)st.queue_peak_bytes, (unsigned long long)st.lag_p50_us,
		(unsigned long long)st.lag_p99_us);
}

/* Unmounts r and waits for its loop (at most STOP_GRACE_S seconds when
 * may_orphan: files left open keep it serving, r->orphan is then set and
 * the main loop reaps it later); records the clean stop. */
static void shutdown_root(struct cap_daemon *d, struct cap_root *r, int may_orphan)
{
	struct timespec deadline;
	int rc, joined = 0;

	r->stopping = 1;
	cap_late_unwatch(d->late, r);
	if (r->ready)
		tell_supervisor(d, "del", NULL, r->path);
	if (r->loop_started) {
		/* Lazy unmount by hand: fuse_session_unmount() would also close
		 * the session's descriptor, failing files still open with
		 * ENOTCONN.  Only our own live mount is unmounted. */
		if (!r->loop_done && cap_capture_mounted(r->path) &&
		    umount2(r->path, MNT_DETACH) < 0)
			cdp_log(LOG_WARNING, "cannot unmount '%s': %s", r->path, strerror(errno));
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += STOP_GRACE_S;
		joined = pthread_timedjoin_np(r->loop_thread, NULL, &deadline) == 0;
		if (!joined)
			cdp_log(LOG_WARNING, "'%s' is unmounted but files are still open through "
				"it; serving them until they are closed", r->path);
	}
	if (r->journal) {
		rc = cdp_journal_sync(r->journal);
		if (rc < 0)
			cdp_log(LOG_ERR, "flushing the journal of '%s': %s", r->path,
				cdp_strerror(rc));
		log_journal_stats(r);
		rc = cdp_journal_root_end(r->journal, r->root_id);
		if (rc < 0)
			cdp_log(LOG_ERR, "recording the stop of '%s': %s", r->path,
				cdp_strerror(rc));
	}
	if (r->loop_started && !joined && may_orphan) {
		pthread_mutex_lock(&d->lock);
		r->orphan = 1;
		pthread_mutex_unlock(&d->lock);
		return;
	}
	if (r->loop_started && !joined)
		pthread_join(r->loop_thread, NULL);
	r->loop_started = 0;
	cdp_log(LOG_INFO, "capture of '%s' stopped", r->path);
}

static void unlink_root(struct cap_daemon *d, struct cap_root *r)
{
	struct cap_root **pp;

	pthread_mutex_lock(&d->lock);
	for (pp = &d->roots; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			d->nroots--;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
}

static void mount_opts(const char *path, char *out, size_t size)
{
	char esc[PATH_MAX * 2];
	size_t o = 0;
	const char *p;

	for (p = path; *p && o + 3 < sizeof(esc); p++) {
		if (*p == ',' || *p == '\\')
			esc[o++] = '\\';
		esc[o++] = *p;
	}
	esc[o] = '\0';
	snprintf(out, size, "default_permissions,allow_other,subtype=cdpfs,"
		 "fsname=" CAP_FSNAME_PREFIX "%s", esc);
}

/* The capture mount names its store (fsname cdpfs-capture:STORE): capture
 * --stop without --store finds the daemon from it. */
#define HOLDERS_SHOWN 10

/*
 * Refuses path when running processes (other than the daemon and the
 * command that asked for the capture, requester, 0 if none) hold a working
 * directory, an open file or a mapping inside it: everything they do
 * through those reaches the real files beneath the mount, never the
 * history, and nothing would say so.  err gets one line (it travels over
 * the ready pipe and the control socket as one): what is wrong, each
 * process (at most 10: pid, command, what it holds), what to do.
 */
/* How long refuse_if_held waits for cdpfs processes to let go. */
#define HOLDER_GRACE_MS 5000

static int refuse_if_held(const char *path, pid_t requester, char *err, size_t errlen)
{
	struct cap_holder h[HOLDERS_SHOWN];
	size_t total, i, o;
	int rc, waited_ms = 0;

	for (;;) {
		rc = cap_find_holders(path, &requester, requester > 0, h, HOLDERS_SHOWN, &total,
				      NULL);
		if (rc < 0) {
			cdp_log(LOG_WARNING, "cannot look for processes using '%s': %s", path,
				strerror(-rc));
			return 0;
		}
		if (total == 0)
			return 0;
		/* Only cdpfs processes: a capture daemon that was just told to
		 * stop this directory may still be on its way out (closing its
		 * store, draining its shipper).  Give it a moment. */
		for (i = 0; i < total && i < HOLDERS_SHOWN && strcmp(h[i].comm, "cdpfs") == 0; i++)
			;
		if (i < total || waited_ms >= HOLDER_GRACE_MS)
			break;
		poll(NULL, 0, 100);
		waited_ms += 100;
	}
	o = (size_t)snprintf(err, errlen, "cdpfs: not capturing '%s': %zu running process%s "
			     "use%s it (", path, total, total == 1 ? "" : "es", total == 1 ? "s" : "");
	for (i = 0; i < total && i < HOLDERS_SHOWN && o < errlen; i++)
		o += (size_t)snprintf(err + o, errlen - o, "%spid %d %s: %s", i ? "; " : "",
				      (int)h[i].pid, h[i].comm[0] ? h[i].comm : "?", h[i].what);
	if (total > HOLDERS_SHOWN && o < errlen)
		o += (size_t)snprintf(err + o, errlen - o, "; %zu more", total - HOLDERS_SHOWN);
	if (o < errlen)
		snprintf(err + o, errlen - o, "), and what %s through it would bypass the capture "
			 "mount: stop %s, start capture, then the application (the shipped "
			 "cdpfs-capture@.service starts before it), or pass --attach-running "
			 "(%s changes then reach the history late, seen on the filesystem "
			 "underneath)", total == 1 ? "it does" : "they do",
			 total == 1 ? "it" : "them", total == 1 ? "its" : "their");
	return -EBUSY;
}

/* With --attach-running: the processes that use path are logged (their
 * changes are caught by the safety net, late). */
static void log_holders(const char *path, pid_t requester)
{
	struct cap_holder h[HOLDERS_SHOWN];
	size_t total = 0, i;

	if (cap_find_holders(path, &requester, requester > 0, h, HOLDERS_SHOWN, &total,
			     NULL) < 0)
		return;
	for (i = 0; i < total && i < HOLDERS_SHOWN; i++)
		cdp_log(LOG_WARNING, "'%s' is captured with a running process using it (pid %d "
			"%s: %s): its changes reach the history late, through the watch of the "
			"filesystem underneath", path, (int)h[i].pid, h[i].comm[0] ? h[i].comm : "?",
			h[i].what);
}

static int add_root(struct cap_daemon *d, const char *path, const char *host, FILE *progress,
		    pid_t requester, int attach, char *err, size_t errlen)
{
	struct cap_root *r;
	struct stat st;
	char opts[PATH_MAX * 2 + 128];
	char *argv[] = { (char *)"cdpfs-capture", (char *)"-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	int rc, resuming = 0;

	pthread_mutex_lock(&d->lock);
	if (find_root(d, path)) {
		pthread_mutex_unlock(&d->lock);
		cdp_errf(err, errlen, "cdpfs: '%s' is already captured (by pid %d into store "
			"'%s'); stop it with 'cdpfs capture --stop %s'", path, (int)getpid(),
			d->store_path, path);
		return -EBUSY;
	}
	pthread_mutex_unlock(&d->lock);
	if (cap_capture_mounted(path)) {
		cdp_errf(err, errlen, "cdpfs: '%s' is already captured (a capture mount is on it); "
			"stop it with 'cdpfs capture --stop %s'", path, path);
		return -EBUSY;
	}
	if (attach && !d->late && d->store) {
		cdp_errf(err, errlen, "cdpfs: not capturing '%s' with --attach-running: the watch "
			"of the filesystem underneath (fanotify) is not available (see %s/%s); stop "
			"the processes using it, start capture, then them", path, d->store_path,
			CAP_LOG_NAME);
		return -EOPNOTSUPP;
	}
	rc = attach ? 0 : refuse_if_held(path, requester, err, errlen);
	if (rc < 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->root_fd = -1;
	r->daemon = d;
	r->path = strdup(path);
	r->host = strdup(host);
	r->progress = progress != NULL;
	r->progress_out = progress;
	if (!r->path || !r->host) {
		rc = -ENOMEM;
		goto out_free;
	}
	r->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->root_fd < 0 || fstat(r->root_fd, &st) < 0) {
		rc = -errno;
		cdp_errf(err, errlen, "cdpfs: cannot open '%s': %s", path, strerror(-rc));
		goto out_free;
	}
	r->root_ino = st.st_ino;
	r->use_handles = 1;
	if (cap_handle_at(r, r->root_fd, "", &r->root_fh) < 0) {
		r->use_handles = 0;
		r->root_fh.type = -1;
		cdp_log(LOG_WARNING, "'%s' has no file handles; keeping a descriptor per "
			"known inode", path);
	}
	rc = cap_root_init_tables(r);
	if (rc < 0)
		goto out_free;
	if (d->store) {
		pthread_mutex_lock(&d->lock);
		r->journal = host_journal(d, host, &rc);
		pthread_mutex_unlock(&d->lock);
		if (!r->journal) {
			cdp_errf(err, errlen, "cdpfs: cannot open the journal of host '%s' in store "
				"'%s': %s", host, d->store_path, cdp_strerror(rc));
			goto out_free;
		}
		r->store = d->store;
		r->block_size = cdp_store_block_size(d->store);
		rc = cdp_journal_root_begin(r->journal, path, &r->root_id, &resuming);
		if (rc == 0)
			cap_suspect_configure_root(r);
		if (rc == -EBUSY) {
			cdp_errf(err, errlen, "cdpfs: '%s' is already captured (an active session in "
				"store '%s'); stop it with 'cdpfs capture --stop %s'", path,
				d->store_path, path);
			goto out_free;
		}
		if (rc < 0) {
			cdp_errf(err, errlen, "cdpfs: cannot register '%s' in store '%s': %s", path,
				d->store_path, cdp_strerror(rc));
			goto out_free;
		}
	}
	/* The safety net first: nothing done beneath between the mount and
	 * the watch can be missed. */
	if (d->late && r->journal) {
		rc = cap_late_watch(d->late, r);
		if (rc < 0 && attach) {
			cdp_errf(err, errlen, "cdpfs: not capturing '%s' with --attach-running: "
				"cannot watch its filesystem: %s", path, strerror(-rc));
			goto out_end;
		}
		if (rc < 0)
			cdp_log(LOG_WARNING, "'%s': no watch for changes that bypass the capture "
				"mount: %s", path, strerror(-rc));
		rc = 0;
	}
	if (attach)
		log_holders(path, requester);
	mount_opts(d->store_path, opts, sizeof(opts));
	r->se = fuse_session_new(&args, &cap_ll_ops, sizeof(cap_ll_ops), r);
	fuse_opt_free_args(&args);
	if (!r->se) {
		rc = -EINVAL;
		cdp_errf(err, errlen, "cdpfs: cannot create a FUSE session for '%s'", path);
		goto out_end;
	}
	if (fuse_session_mount(r->se, path) != 0) {
		rc = -EIO;
		cdp_errf(err, errlen, "cdpfs: cannot mount the capture layer on '%s' (see %s/%s)",
			path, d->store_path, CAP_LOG_NAME);
		goto out_end;
	}
	rc = pthread_create(&r->loop_thread, NULL, loop_main, r);
	if (rc) {
		rc = -rc;
		fuse_session_unmount(r->se);
		cdp_errf(err, errlen, "cdpfs: cannot start serving '%s': %s", path, strerror(-rc));
		goto out_end;
	}
	r->loop_started = 1;
	pthread_mutex_lock(&d->lock);
	r->next = d->roots;
	d->roots = r;
	d->nroots++;
	pthread_mutex_unlock(&d->lock);
	cdp_log(LOG_INFO, "capturing '%s' for host '%s'%s", path, host,
		resuming ? " (resync after a pause)" : "");

	if (r->journal) {
		/* stderr of the progress is the caller's terminal */
		rc = cap_sync_tree(r, err, errlen);
		if (rc < 0) {
			shutdown_root(d, r, 0);
			unlink_root(d, r);
			free_root(d, r);
			return rc;
		}
	}
	r->ready = 1;
	tell_supervisor(d, "add", host, path);
	return 0;

out_end:
	if (r->journal)
		cdp_journal_root_end(r->journal, r->root_id);
out_free:
	free_root(d, r);
	return rc < 0 ? rc : -EIO;
}

struct conn {
	struct cap_daemon *d;
	int fd;
};

static void handle_stop(struct cap_daemon *d, int fd, const char *path)
{
	struct cap_root *r;
	int last;

	pthread_mutex_lock(&d->lock);
	r = find_root(d, path);
	if (r && (!r->ready || r->stopping || r->resyncing)) {
		pthread_mutex_unlock(&d->lock);
		cap_ctl_reply(fd, "err cdpfs: '%s' is %s; try again in a moment", path,
		      r->resyncing ? "resyncing after the store was full" :
		      r->ready ? "already stopping" : "still taking its baseline");
		return;
	}
	if (r)
		r->stopping = 1;
	pthread_mutex_unlock(&d->lock);
	if (!r) {
		cap_ctl_reply(fd, "err cdpfs: '%s' is not captured by the daemon of store '%s'", path,
		      d->store_path);
		return;
	}
	shutdown_root(d, r, 1);
	if (!r->orphan) {
		unlink_root(d, r);
		free_root(d, r);
	}
	pthread_mutex_lock(&d->lock);
	/* the daemon exits once the requests in flight are answered: the
	 * stopper waits for that (another request in flight must not make it
	 * return while the daemon still holds the store and its files) */
	last = !d->keep_running && d->nroots == 0;
	pthread_mutex_unlock(&d->lock);
	cap_ctl_reply(fd, "ok %d %d", (int)getpid(), last);
}

/* "status": the journal's state and the directories served (control.c). */
static void handle_status(struct cap_daemon *d, int fd)
{
	char out[8192], esc[PATH_MAX * 3];
	struct cdp_journal_stats st;
	struct cap_root *r;
	size_t o;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&d->lock);
	if (d->hosts)
		cdp_journal_stats(d->hosts->journal, &st);
	o = (size_t)snprintf(out, sizeof(out), "ok %d %d %lld %llu %llu %llu %llu %llu",
			     (int)getpid(), st.degraded, (long long)st.degraded_since_ts_ns,
			     (unsigned long long)st.lag_1m_p50_us,
			     (unsigned long long)st.lag_1m_p99_us, (unsigned long long)st.ops,
			     (unsigned long long)st.bytes_in, (unsigned long long)st.queue_bytes);
	for (r = d->roots; r; r = r->next) {
		cap_field_escape(r->path, esc, sizeof(esc));
		if (o + strlen(esc) + 4 < sizeof(out))
			o += (size_t)snprintf(out + o, sizeof(out) - o, " %d %s",
					      r->ready && !r->stopping, esc);
	}
	pthread_mutex_unlock(&d->lock);
	cap_ctl_reply(fd, "%s", out);
}

/* The pid of the process at the other end of a control connection, 0 when
 * unknown. */
static pid_t peer_pid(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	return cred.pid;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct cap_daemon *d = c->d;
	char line[PATH_MAX * 3 + 64], err[1024], *cmd, *a1, *a2, *save = NULL;
	ssize_t n;

	n = cap_read_line(c->fd, line, sizeof(line));
	cmd = n > 0 ? strtok_r(line, " ", &save) : NULL;
	if (cmd && cap_retain_is_request(cmd)) {
		cap_retain_handle(d->exiting ? NULL : d->store, c->fd, cmd, save);
		cmd = NULL;
		goto done;
	}
	a1 = cmd ? strtok_r(NULL, " ", &save) : NULL;
	a2 = a1 ? strtok_r(NULL, " ", &save) : NULL;
	if (a1)
		cap_field_unescape(a1);
	if (a2)
		cap_field_unescape(a2);
	if (!cmd) {
		cap_ctl_reply(c->fd, "err cdpfs: empty request");
	} else if (strcmp(cmd, "add") == 0 && a1 && a2) {
		char *a3 = strtok_r(NULL, " ", &save);

		err[0] = '\0';
		if (d->exiting)
			cap_ctl_reply(c->fd, "err cdpfs: the capture daemon of '%s' is exiting; retry",
			      d->store_path);
		else if (add_root(d, a2, a1, NULL, peer_pid(c->fd), a3 && strcmp(a3, "attach") == 0,
				  err, sizeof(err)) < 0)
			cap_ctl_reply(c->fd, "err %s", err[0] ? err : "cdpfs: capture failed");
		else
			cap_ctl_reply(c->fd, "ok");
	} else if (strcmp(cmd, "stop") == 0 && a1) {
		handle_stop(d, c->fd, a1);
	} else if (strcmp(cmd, "status") == 0) {
		handle_status(d, c->fd);
	} else if (strcmp(cmd, "snapshot") == 0 && a1) {
		uint64_t linked, copied;
		int rc = d->store ? cdp_store_snapshot(d->store, a1, &linked, &copied) : -ENOENT;

		if (rc < 0)
			cap_ctl_reply(c->fd, "err cdpfs: cannot snapshot store '%s' into '%s': %s",
				      d->store_path, a1, cdp_strerror(rc));
		else
			cap_ctl_reply(c->fd, "ok %llu %llu", (unsigned long long)linked,
				      (unsigned long long)copied);
		if (rc == 0)
			cdp_log(LOG_INFO, "snapshot of the store in '%s' (%llu segments linked, "
				"%llu copied)", a1, (unsigned long long)linked,
				(unsigned long long)copied);
	} else if (strcmp(cmd, "list") == 0) {
		char out[8192], esc[PATH_MAX * 3];
		size_t o = (size_t)snprintf(out, sizeof(out), "ok %d", (int)getpid());
		struct cap_root *r;

		pthread_mutex_lock(&d->lock);
		for (r = d->roots; r; r = r->next) {
			cap_field_escape(r->path, esc, sizeof(esc));
			if (o + strlen(esc) + 2 < sizeof(out))
				o += (size_t)snprintf(out + o, sizeof(out) - o, " %s", esc);
		}
		pthread_mutex_unlock(&d->lock);
		cap_ctl_reply(c->fd, "%s", out);
	} else {
		cap_ctl_reply(c->fd, "err cdpfs: unknown request '%s'", cmd);
	}
done:
	close(c->fd);
	pthread_mutex_lock(&d->lock);
	d->busy--;
	pthread_mutex_unlock(&d->lock);
	wake_main(d);
	free(c);
	return NULL;
}

static int listen_socket(struct cap_daemon *d)
{
	struct sockaddr_un sa;
	int fd, rc;

	rc = cap_ctl_sock_path(d->store_path, &sa);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(sa.sun_path);   /* stale: we hold the store's writer lock */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	chmod(sa.sun_path, 0600);
	d->listen_fd = fd;
	return 0;
}

static int64_t now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Leaving degraded mode by itself.  While the journal is degraded (the
 * store's disk filled, or a store write failed) nothing is recorded and a
 * gap runs in every directory.  Once the store's filesystem has room again
 * (RESUME_FREE_MIN_BYTES, or 10% of it when smaller, up to
 * RESUME_FREE_MAX_BYTES) the main loop resyncs every ready directory as
 * store.h documents: root_end of each (the gap's start is kept in the
 * store), root_begin of each (the first leaves degraded mode), a walk of
 * the whole live directory against the history (cap_sync_late, under the
 * same inode locks as the FUSE operations, which go on meanwhile; the fids
 * the nodes cached are forgotten first, as the inodes made while degraded
 * lost their imap records and get new fids), then root_ready, which closes
 * the gap at its instant.  If the journal degrades again during the walk,
 * the gap stays open and the next try comes after 5, 10, 20 ... 60 s.  The
 * walk runs on the main loop: new control connections wait for it (a stop
 * of a directory being resynced is told to retry).  Caveat: a root_begin
 * that fails after the first one left degraded mode leaves that root
 * recorded as stopped while it is still served (logged; not retried).
 */
#define RESUME_FREE_MIN_BYTES (4ull << 20)
#define RESUME_FREE_MAX_BYTES (64ull << 20)

static int store_has_room(const char *path)
{
	struct statvfs vfs;
	unsigned long long total, avail, want;

	if (statvfs(path, &vfs) < 0 || !vfs.f_blocks)
		return 0;
	total = (unsigned long long)vfs.f_blocks * vfs.f_frsize;
	avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	want = total / 10;
	if (want > RESUME_FREE_MAX_BYTES)
		want = RESUME_FREE_MAX_BYTES;
	if (want < RESUME_FREE_MIN_BYTES)
		want = RESUME_FREE_MIN_BYTES;
	return avail >= want;
}

static void resume_degraded(struct cap_daemon *d, int64_t since)
{
	struct cap_root *r, **list = NULL;
	uint64_t changes, total = 0;
	size_t n = 0, i;
	uint32_t id;
	int rc = 0, resuming, back = 0;
	char when[64];

	pthread_mutex_lock(&d->lock);
	for (r = d->roots; r; r = r->next)
		if (r->ready && !r->stopping && !r->orphan && r->journal)
			n++;
	list = n ? calloc(n, sizeof(*list)) : NULL;
	n = 0;
	for (r = d->roots; list && r; r = r->next) {
		if (r->ready && !r->stopping && !r->orphan && r->journal) {
			r->resyncing = 1;
			list[n++] = r;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (!list)
		return;
	cdp_time_format(since, when, sizeof(when));
	cdp_log(LOG_NOTICE, "the store '%s' has room again: resyncing %zu director%s (the "
		"journal recorded nothing since %s)", d->store_path, n, n == 1 ? "y" : "ies",
		when);
	for (i = 0; i < n; i++) {
		rc = cdp_journal_root_end(list[i]->journal, list[i]->root_id);
		if (rc < 0 && rc != -CDP_ENOSPACE)
			goto out;
	}
	for (i = 0; i < n; i++) {
		rc = cdp_journal_root_begin(list[i]->journal, list[i]->path, &id, &resuming);
		if (rc < 0)
			goto out;
		if (id != list[i]->root_id) {
			rc = -EIO;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		changes = 0;
		/* inodes made while degraded: their imap records were dropped */
		cap_nodes_forget_fids(list[i]);
		rc = cap_sync_late(list[i], NULL, NULL, NULL, CAP_LATE_ALL, &changes);
		total += changes;
		if (rc < 0)
			goto out;
	}
	rc = cdp_journal_sync(list[0]->journal);
	if (rc == 0 && cdp_journal_degraded(list[0]->journal, NULL))
		rc = -CDP_ENOSPACE;
	for (i = 0; rc == 0 && i < n; i++)
		rc = cdp_journal_root_ready(list[i]->journal, list[i]->root_id,
					    list[i]->root_fid);
	if (rc == 0)
		back = 1;
out:
	if (back) {
		d->resume_backoff_s = 0;
		cdp_log(LOG_NOTICE, "the journal of store '%s' records again: %zu director%s "
			"resynced (%llu records); the time since %s is a gap in their history",
			d->store_path, n, n == 1 ? "y" : "ies", (unsigned long long)total, when);
	} else {
		d->resume_backoff_s = d->resume_backoff_s ? d->resume_backoff_s * 2 : 5;
		if (d->resume_backoff_s > 60)
			d->resume_backoff_s = 60;
		cdp_log(LOG_ERR, "resync after the store was full failed: %s; the gap since %s "
			"stays open, next try in %d s", cdp_strerror(rc), when,
			d->resume_backoff_s);
	}
	d->resume_next_ms = now_mono_ms() + (int64_t)d->resume_backoff_s * 1000;
	pthread_mutex_lock(&d->lock);
	for (i = 0; i < n; i++) {
		list[i]->resyncing = 0;
		if (back)
			list[i]->degraded_logged = 0;
	}
	pthread_mutex_unlock(&d->lock);
	free(list);
}

/*
 * Once a second, from the main loop: the alerts of a running daemon.  The
 * journal degraded (store full or store errors) and back; each root's RPO
 * (now minus its heartbeat, or minus the start of the degraded time) above
 * the warning or the error threshold of the configuration, and back; the
 * store's disk above its fill threshold, and back under it less 1%.
 */
static void monitor(struct cap_daemon *d)
{
	const struct cap_config *cfg = cap_config();
	struct cdp_journal_stats st;
	struct statvfs vfs;
	struct cap_root *r;
	int64_t now = cdp_now_ns(), since = 0;
	int degraded = 0;

	if (!d->store || now_mono_ms() - d->monitored_ms < 1000)
		return;
	d->monitored_ms = now_mono_ms();
	pthread_mutex_lock(&d->lock);
	if (d->hosts) {
		cdp_journal_stats(d->hosts->journal, &st);
		degraded = st.degraded;
		since = st.degraded_since_ts_ns;
	}
	for (struct cap_host *h = d->hosts; h; h = h->next)
		cap_suspect_alerts(d->store_path, h->name, h->journal, &h->suspects_alerted,
				   d->roots);
	pthread_mutex_unlock(&d->lock);
	if (degraded && d->degraded_alerted && now_mono_ms() >= d->resume_next_ms &&
	    store_has_room(d->store_path)) {
		resume_degraded(d, since);
		pthread_mutex_lock(&d->lock);
		if (d->hosts) {
			cdp_journal_stats(d->hosts->journal, &st);
			degraded = st.degraded;
			since = st.degraded_since_ts_ns;
		}
		pthread_mutex_unlock(&d->lock);
		now = cdp_now_ns();
	}
	if (degraded != d->degraded_alerted) {
		d->degraded_alerted = degraded;
		if (degraded)
			cap_alert(d->store_path, "degraded", LOG_CRIT, NULL, NULL, "the journal records "
				  "nothing (the store's disk is full, or store errors; see %s/%s): "
				  "a gap runs in the history of every directory", d->store_path,
				  CAP_LOG_NAME);
		else
			cap_alert(d->store_path, "degraded_cleared", LOG_NOTICE, NULL, NULL,
				  "the journal records again");
	}
	pthread_mutex_lock(&d->lock);
	for (r = d->roots; r; r = r->next) {
		int64_t alive = 0, rpo;
		int level;

		if (!r->ready || r->stopping || r->orphan || !r->journal)
			continue;
		if (degraded)
			alive = since;
		else if (cdp_journal_root_alive(r->journal, r->root_id, &alive) < 0 || !alive)
			continue;
		rpo = now - alive;
		level = rpo > cfg->rpo_error_ns ? 2 : rpo > cfg->rpo_warning_ns ? 1 : 0;
		if (level == r->rpo_level)
			continue;
		if (level > r->rpo_level)
			cap_alert(d->store_path, level == 2 ? "rpo_error" : "rpo_warning",
				  level == 2 ? LOG_ERR : LOG_WARNING, r->host, r->path,
				  "RPO %.1f s is above the %s threshold (%.0f s)", (double)rpo / 1e9,
				  level == 2 ? "error" : "warning",
				  (double)(level == 2 ? cfg->rpo_error_ns : cfg->rpo_warning_ns) / 1e9);
		else if (level == 0)
			cap_alert(d->store_path, "rpo_ok", LOG_NOTICE, r->host, r->path,
				  "RPO %.1f s is back under the thresholds", (double)rpo / 1e9);
		r->rpo_level = level;
	}
	pthread_mutex_unlock(&d->lock);
	if (statvfs(d->store_path, &vfs) == 0 && vfs.f_blocks) {
		double used = 100.0 * (double)(vfs.f_blocks - vfs.f_bavail) / (double)vfs.f_blocks;

		if (!d->fill_alerted && used > cfg->store_fill_percent) {
			d->fill_alerted = 1;
			cap_alert(d->store_path, "store_fill", LOG_WARNING, NULL, NULL, "the store's "
				  "disk is %.0f%% full (threshold %d%%)", used,
				  cfg->store_fill_percent);
		} else if (d->fill_alerted && used < cfg->store_fill_percent - 1) {
			d->fill_alerted = 0;
		}
	}
}

/* Serves requests until the last root stops or a signal arrives.  Returns
 * the number of sessions still serving files left open (signal only). */
static int serve(struct cap_daemon *d, int sfd)
{
	int orphans = 0;

	struct pollfd pfd[3];
	struct cap_root *r;

	for (;;) {
		int idle;

		pthread_mutex_lock(&d->lock);
		idle = !d->keep_running && d->nroots == 0 && d->busy == 0;
		pthread_mutex_unlock(&d->lock);
		if (idle)
			break;
		pfd[0].fd = d->listen_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = d->wake[0];
		pfd[1].events = POLLIN;
		pfd[2].fd = sfd;
		pfd[2].events = POLLIN;
		if (poll(pfd, 3, 1000) < 0 && errno != EINTR)
			break;
		monitor(d);
		if (pfd[1].revents & POLLIN) {
			char buf[64];
			ssize_t n = read(d->wake[0], buf, sizeof(buf));

			(void)n;
		}
		if (sfd >= 0 && (pfd[2].revents & POLLIN)) {
			struct signalfd_siginfo si;
			ssize_t n = read(sfd, &si, sizeof(si));

			(void)n;
			cdp_log(LOG_INFO, "signal %u: stopping every capture", si.ssi_signo);
			break;
		}
		/* A session whose loop ended on its own (umount by hand). */
		pthread_mutex_lock(&d->lock);
		for (r = d->roots; r; r = r->next)
			if (r->loop_done && ((!r->stopping && r->ready) || r->orphan))
				break;
		if (r)
			r->stopping = 1;
		pthread_mutex_unlock(&d->lock);
		if (r && r->orphan) {
			pthread_join(r->loop_thread, NULL);
			cdp_log(LOG_INFO, "files left open in '%s' are closed; its session ends",
				r->path);
			unlink_root(d, r);
			free_root(d, r);
		} else if (r) {
			cdp_log(LOG_WARNING, "'%s' was unmounted from outside; its capture ends",
				r->path);
			shutdown_root(d, r, 0);
			unlink_root(d, r);
			free_root(d, r);
		}
		if (pfd[0].revents & POLLIN) {
			int cfd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			struct conn *c;
			pthread_t t;

			if (cfd < 0)
				continue;
			c = malloc(sizeof(*c));
			if (!c) {
				close(cfd);
				continue;
			}
			c->d = d;
			c->fd = cfd;
			pthread_mutex_lock(&d->lock);
			d->busy++;
			pthread_mutex_unlock(&d->lock);
			if (pthread_create(&t, NULL, conn_main, c) != 0) {
				pthread_mutex_lock(&d->lock);
				d->busy--;
				pthread_mutex_unlock(&d->lock);
				close(cfd);
				free(c);
				continue;
			}
			pthread_detach(t);
		}
	}
	/* Stop whatever is left (signal).  Baselines in flight are aborted and
	 * clean up after themselves; requests in flight finish first. */
	d->exiting = 1;
	pthread_mutex_lock(&d->lock);
	for (r = d->roots; r; r = r->next)
		if (!r->ready)
			r->stopping = 1;
	pthread_mutex_unlock(&d->lock);
	for (;;) {
		int busy;

		pthread_mutex_lock(&d->lock);
		busy = d->busy;
		pthread_mutex_unlock(&d->lock);
		if (!busy)
			break;
		poll(NULL, 0, 50);
	}
	while ((r = d->roots)) {
		if (!r->orphan) {
			r->stopping = 1;
			shutdown_root(d, r, 1);
		}
		unlink_root(d, r);
		if (r->orphan) {
			/* Still serving files left open: the process exits anyway
			 * (they see ENOTCONN, as after a crash). */
			orphans++;
			continue;
		}
		free_root(d, r);
	}
	return orphans;
}

/* Opens the store for writing.  The starter holds capture.lock and found
 * no daemon answering, so a store still locked is held by a daemon on its
 * way out (its last directory was unmounted from outside, or it was told
 * to stop, and it is closing the index) or by an offline writer (gc, prune,
 * rebuild-index).  Wait up to STORE_LOCK_WAIT_MS for it, then give up. */
#define STORE_LOCK_WAIT_MS 10000

static int open_store_waiting(const char *path, const struct cdp_store_options *so,
			      struct cdp_store **out)
{
	int rc, waited = 0;

	for (;;) {
		rc = cdp_store_open(path, CDP_STORE_CREATE | CDP_STORE_WRITE, so, out);
		if (rc != -CDP_ELOCKED || waited >= STORE_LOCK_WAIT_MS)
			return rc;
		if (waited == 0)
			cdp_log(LOG_INFO, "store '%s' is still open for writing by another "
				"process; waiting up to %d s for it to close", path,
				STORE_LOCK_WAIT_MS / 1000);
		usleep(50 * 1000);
		waited += 50;
	}
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path))) < 0)
		cdp_log(LOG_WARNING, "cannot notify systemd: %s", strerror(errno));
	close(fd);
}

/*
 * Serve mode: the directories whose capture session crashed (active in the
 * store, their daemon dead: this daemon's predecessor under systemd's
 * Restart=) are captured again, each on its own (one that fails is logged
 * and alerted, the others go on), after taking its dead mount off.
 */
static void resume_crashed(struct cap_daemon *d)
{
	struct cdp_host_info *hosts = NULL;
	size_t n = 0, i, j, resumed = 0;
	char err[1024];
	int rc;

	if (!d->store)
		return;
	rc = cdp_store_hosts(d->store, &hosts, &n);
	if (rc < 0) {
		cdp_log(LOG_ERR, "cannot read the directories of store '%s' to resume them: %s",
			d->store_path, cdp_strerror(rc));
		return;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < hosts[i].nroots; j++) {
			const struct cdp_root_info *r = &hosts[i].roots[j];
			struct stat st;

			if (!r->crashed)
				continue;
			if (cap_capture_mounted(r->path) && stat(r->path, &st) < 0 &&
			    (errno == ENOTCONN || errno == ECONNABORTED) &&
			    umount2(r->path, MNT_DETACH) == 0)
				cdp_log(LOG_INFO, "dead capture mount taken off '%s'", r->path);
			err[0] = '\0';
			if (add_root(d, r->path, hosts[i].name, NULL, 0, 1, err, sizeof(err)) < 0) {
				cap_alert(d->store_path, "capture_restart_failed", LOG_ALERT,
					  hosts[i].name, r->path, "capture did not come back: %s",
					  err[0] ? err : "see the capture log");
				continue;
			}
			resumed++;
			cap_alert(d->store_path, "capture_restarted", LOG_WARNING, hosts[i].name,
				  r->path, "capture resumed after its daemon died; the outage is a "
				  "gap in the history");
		}
	}
	cdp_host_info_free(hosts, n);
	if (resumed)
		cdp_log(LOG_INFO, "%zu director%s resumed after a crash", resumed,
			resumed == 1 ? "y" : "ies");
}

/* Runs the daemon in this process.  ready_fd (or -1) is told ready or the
 * error line (util/daemonize.c) once every dir is protected.  Returns the exit status. */
int cap_daemon_main(const struct cdp_capture_request *req, const char *store_path,
		    char *const *dirs, const char *host, int ready_fd, int start_lock_fd,
		    int super_fd, FILE *progress, char *err, size_t errlen)
{
	struct cap_retain_sched sched = { 0 };
	struct cap_daemon d;
	struct cdp_store_options so;
	struct sockaddr_un sa;
	struct rlimit rl;
	size_t i, mem = req->mem_limit_bytes ? req->mem_limit_bytes : DEFAULT_MEM_LIMIT;
	int rc = 0, sfd;

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.lock, NULL);
	d.listen_fd = -1;
	d.super_fd = super_fd;
	d.keep_running = req->serve;
	d.no_journal = req->no_journal;
	d.store_path = (char *)store_path;
	umask(0);   /* the kernel has applied the caller's umask already */
	/* Journal blocks are allocated by FUSE threads and freed by the
	 * writer, group after group: keep up to a queue's worth of freed
	 * memory mapped instead of trimming it and faulting it in again. */
	mallopt(M_TRIM_THRESHOLD, (int)(mem / 4));
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (pipe2(d.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		cdp_errf(err, errlen, "cdpfs: cannot create a pipe: %s", strerror(errno));
		goto out;
	}
	sfd = cdp_stop_signalfd(0);

	if (!req->no_journal) {
		memset(&so, 0, sizeof(so));
		so.queue_limit_bytes = mem / 4;
		so.block_cache_bytes = mem / 16;
		rc = open_store_waiting(store_path, &so, &d.store);
		if (rc < 0) {
			if (rc == -CDP_EVERSION)
				cdp_errf(err, errlen, "cdpfs: store '%s' was written by another format "
					"version of cdpfs (this one writes version %d; a format 1 "
					"store is still mounted and read, not written); use another "
					"--store", store_path, CDP_FORMAT_VERSION);
			else if (rc == -ENOTEMPTY)
				cdp_errf(err, errlen, "cdpfs: '%s' is not a cdpfs store and not "
					"empty; a store is created only in an empty or missing "
					"directory (name another --store)", store_path);
			else if (rc == -CDP_ELOCKED)
				cdp_errf(err, errlen, "cdpfs: store '%s' is open for writing by another "
					"process; is a capture daemon of this store starting?",
					store_path);
			else
				cdp_errf(err, errlen, "cdpfs: cannot open store '%s': %s%s%s",
					store_path, cdp_strerror(rc),
					*cdp_store_last_error() ? ": " : "",
					cdp_store_last_error());
			goto out_sig;
		}
	}
	if (!req->no_journal) {
		rc = cap_late_new(&d.late);
		if (rc < 0)
			cdp_log(LOG_WARNING, "no watch for changes that bypass the capture mounts "
				"(fanotify: %s); run as root on Linux 5.9 or later", strerror(-rc));
	}
	if (req->metrics) {
		rc = cap_metrics_start(req->metrics, store_path, &d.metrics, err, errlen);
		if (rc < 0)
			goto out_store;
	}
	if (req->ship && d.store) {
		struct cdp_shipper_options so_ship = {
			.server = req->ship, .cert = req->ship_cert, .key = req->ship_key,
			.ca = req->ship_ca, .rate_bytes = req->ship_rate_bytes,
		};

		rc = cdp_shipper_start(d.store, host, &so_ship, &d.shipper, err, errlen);
		if (rc < 0)
			goto out_store;
	}
	rc = listen_socket(&d);
	if (rc < 0) {
		cdp_errf(err, errlen, "cdpfs: cannot listen on '%s/%s': %s", store_path, CAP_SOCK_NAME,
			strerror(-rc));
		goto out_store;
	}
	for (i = 0; i < req->ndirs; i++) {
		/* the command that forked the daemon waits for it */
		rc = add_root(&d, dirs[i], host, progress, ready_fd >= 0 ? getppid() : 0,
			      req->attach_running, err, errlen);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		struct cap_root *r;

		while ((r = d.roots)) {
			r->stopping = 1;
			shutdown_root(&d, r, 0);
			unlink_root(&d, r);
			free_root(&d, r);
		}
		goto out_sock;
	}
	if (ready_fd >= 0) {
		cdp_daemon_ready(ready_fd, NULL);
		ready_fd = -1;
	}
	tell_supervisor(&d, "ready", NULL, NULL);
	if (req->serve)
		resume_crashed(&d);
	if (req->foreground)
		notify_systemd("READY=1");
	if (start_lock_fd >= 0) {
		close(start_lock_fd);
		start_lock_fd = -1;
	}
	if (progress && progress != stderr) {
		struct cap_root *r;

		pthread_mutex_lock(&d.lock);
		for (r = d.roots; r; r = r->next)
			r->progress_out = NULL;
		pthread_mutex_unlock(&d.lock);
		fclose(progress);
	}
	cdp_log(LOG_INFO, "capture daemon serving %d director%s of store '%s'", d.nroots,
		d.nroots == 1 ? "y" : "ies", store_path);
	if (cap_retain_sched_start(&sched, d.store, store_path) < 0)
		cdp_log(LOG_ERR, "cannot start the retention scheduler: retention policies are "
			"not applied by this daemon");
	if (serve(&d, sfd) > 0) {
		struct cap_host *h;

		/* Sessions still run in other threads: make the journal durable
		 * and leave without tearing down what they use. */
		for (h = d.hosts; h; h = h->next)
			cdp_journal_sync(h->journal);
		cdp_shipper_stop(d.shipper, SHIP_DRAIN_MS);
		if (cap_ctl_sock_path(store_path, &sa) == 0)
			unlink(sa.sun_path);
		cdp_log(LOG_WARNING, "capture daemon of store '%s' exits with files still open "
			"in a stopped directory", store_path);
		_exit(0);
	}
	rc = 0;
out_sock:
	cap_retain_sched_stop(&sched);
	if (d.listen_fd >= 0) {
		close(d.listen_fd);
		if (cap_ctl_sock_path(store_path, &sa) == 0)
			unlink(sa.sun_path);
	}
out_store:
	cap_metrics_stop(d.metrics);
	d.metrics = NULL;
	cap_late_free(d.late);
	d.late = NULL;
	while (d.hosts) {
		struct cap_host *h = d.hosts;

		d.hosts = h->next;
		cdp_journal_close(h->journal);
		free(h->name);
		free(h);
	}
	/* the journal is durable: what the link takes in a few seconds goes
	 * now, the rest waits in the store for the next daemon */
	cdp_shipper_stop(d.shipper, SHIP_DRAIN_MS);
	cdp_store_close(d.store);
out_sig:
	if (sfd >= 0)
		close(sfd);
	close(d.wake[0]);
	close(d.wake[1]);
out:
	if (start_lock_fd >= 0)
		close(start_lock_fd);
	if (ready_fd >= 0)
		cdp_daemon_failed(ready_fd, err && err[0] ? err :
				  "cdpfs: the capture daemon failed to start");
	if (rc == 0)
		cdp_log(LOG_INFO, "capture daemon of store '%s' exits", store_path);
	return rc;
}
