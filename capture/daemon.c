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

/* Protects path (absolute, canonical) for host; err gets one line. */
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
static int refuse_if_held(const char *path, pid_t requester, char *err, size_t errlen)
{
	struct cap_holder h[HOLDERS_SHOWN];
	size_t total, i, o;
	int rc;

	rc = cap_find_holders(path, &requester, requester > 0, h, HOLDERS_SHOWN, &total, NULL);
	if (rc < 0) {
		cdp_log(LOG_WARNING, "cannot look for processes using '%s': %s", path, strerror(-rc));
		return 0;
	}
	if (total == 0)
		return 0;
	o = (size_t)snprintf(err, errlen, "cdpfs: not capturing '%s': %zu running process%s "
			     "use%s it (", path, total, total == 1 ? "" : "es", total == 1 ? "s" : "");
	for (i = 0; i < total && i < HOLDERS_SHOWN && o < errlen; i++)
		o += (size_t)snprintf(err + o, errlen - o, "%spid %d %s: %s", i ? "; " : "",
				      (int)h[i].pid, h[i].comm[0] ? h[i].comm : "?", h[i].what);
	if (total > HOLDERS_SHOWN && o < errlen)
		o += (size_t)snprintf(err + o, errlen - o, "; %zu more", total - HOLDERS_SHOWN);
	if (o < errlen)
		snprintf(err + o, errlen - o, "), and what %s through it would bypass the capture "
			 "and never reach the history: stop %s, start capture, then the "
			 "application", total == 1 ? "it does" : "they do",
			 total == 1 ? "it" : "them");
	return -EBUSY;
}

static int add_root(struct cap_daemon *d, const char *path, const char *host, FILE *progress,
		    pid_t requester, char *err, size_t errlen)
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
	rc = refuse_if_held(path, requester, err, errlen);
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
	mount_opts(path, opts, sizeof(opts));
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
	if (r && (!r->ready || r->stopping)) {
		pthread_mutex_unlock(&d->lock);
		cap_ctl_reply(fd, "err cdpfs: '%s' is %s; try again in a moment", path,
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
	last = d->nroots == 0 && d->busy <= 1;
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
	a1 = cmd ? strtok_r(NULL, " ", &save) : NULL;
	a2 = a1 ? strtok_r(NULL, " ", &save) : NULL;
	if (a1)
		cap_field_unescape(a1);
	if (a2)
		cap_field_unescape(a2);
	if (!cmd) {
		cap_ctl_reply(c->fd, "err cdpfs: empty request");
	} else if (strcmp(cmd, "add") == 0 && a1 && a2) {
		err[0] = '\0';
		if (d->exiting)
			cap_ctl_reply(c->fd, "err cdpfs: the capture daemon of '%s' is exiting; retry",
			      d->store_path);
		else if (add_root(d, a2, a1, NULL, peer_pid(c->fd), err, sizeof(err)) < 0)
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
		idle = d->nroots == 0 && d->busy == 0;
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

/* Runs the daemon in this process.  ready_fd (or -1) is told ready or the
 * error line (util/daemonize.c) once every dir is protected.  Returns the exit status. */
int cap_daemon_main(const struct cdp_capture_request *req, const char *store_path,
		    char *const *dirs, const char *host, int ready_fd, int start_lock_fd,
		    FILE *progress, char *err, size_t errlen)
{
	struct cap_daemon d;
	struct cdp_store_options so;
	struct sockaddr_un sa;
	struct rlimit rl;
	sigset_t mask;
	size_t i, mem = req->mem_limit_bytes ? req->mem_limit_bytes : DEFAULT_MEM_LIMIT;
	int rc = 0, sfd;

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.lock, NULL);
	d.listen_fd = -1;
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
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	if (!req->no_journal) {
		memset(&so, 0, sizeof(so));
		so.queue_limit_bytes = mem / 4;
		so.block_cache_bytes = mem / 16;
		rc = cdp_store_open(store_path, CDP_STORE_CREATE | CDP_STORE_WRITE, &so, &d.store);
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
		rc = add_root(&d, dirs[i], host, progress, ready_fd >= 0 ? getppid() : 0, err,
			      errlen);
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
	cdp_log(LOG_INFO, "capture daemon serving %zu director%s of store '%s'", req->ndirs,
		req->ndirs == 1 ? "y" : "ies", store_path);
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
	if (d.listen_fd >= 0) {
		close(d.listen_fd);
		if (cap_ctl_sock_path(store_path, &sa) == 0)
			unlink(sa.sun_path);
	}
out_store:
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
