/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.c - the capture daemon and its two entry points,
 * cdp_capture_start() and cdp_capture_stop().
 *
 * One daemon per store holds the store open for writing and serves every
 * protected directory of that store, each with its own FUSE session and
 * session loop thread.  It listens on STORE/capture.sock (unix stream), one
 * request line per connection, one reply line:
 *
 *   add HOST DIR      -> "ok" once DIR is protected, or "err MESSAGE"
 *   stop DIR          -> "ok PID LAST" (LAST 1: the daemon then exits)
 *   list              -> "ok DIR DIR ..."
 *
 * Fields are separated by one space; '%', space, tab, newline and CR in a
 * field are written as %25, %20, %09, %0A, %0D.  A start with no daemon
 * forks one (setsid, stdin/stdout to /dev/null, log lines to
 * STORE/capture.log) and waits on a readiness pipe for "ok" or "err
 * MESSAGE".  The daemon exits when its last directory stops, or stops all
 * of them cleanly on SIGTERM, SIGINT or SIGHUP.
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

#define SOCK_NAME "capture.sock"
#define LOG_NAME "capture.log"
#define STOP_GRACE_S 3
#define WAIT_GONE_S 60
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
	int exiting;
};

/* ------------------------------------------------------------ helpers */

static void field_escape(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 4 < size; in++) {
		if (*in == '%' || *in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
			o += (size_t)snprintf(out + o, size - o, "%%%02X", (unsigned char)*in);
		else
			out[o++] = *in;
	}
	out[o] = '\0';
}

static void field_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '%' && s[1] && s[2]) {
			char hex[3] = { s[1], s[2], 0 };

			*o++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

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

static void unescape_mount_field(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* 1 when a capture mount of ours sits at path (from /proc/self/mounts). */
static int capture_mounted(const char *path)
{
	char line[PATH_MAX * 3], src[PATH_MAX * 2], mnt[PATH_MAX * 2], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%4095s %4095s %63s", src, mnt, type) != 3)
			continue;
		unescape_mount_field(mnt);
		if (strcmp(type, "fuse.cdpfs") == 0 && strncmp(src, "cdpfs-capture", 13) == 0 &&
		    strcmp(mnt, path) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

static int sock_path(const char *store, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", store, SOCK_NAME) >=
	    sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static int connect_daemon(const char *store)
{
	struct sockaddr_un sa;
	int fd, rc;

	rc = sock_path(store, &sa);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line (without the newline); returns its length or -errno. */
static ssize_t read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t got = read(fd, buf + n, 1);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			break;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* One request, one reply line. */
static int request(const char *store, const char *line, char *reply, size_t size)
{
	ssize_t n;
	int fd = connect_daemon(store), rc;

	if (fd < 0)
		return fd;
	rc = write_all(fd, line, strlen(line));
	if (rc == 0) {
		n = read_line(fd, reply, size);
		rc = n < 0 ? (int)n : 0;
		if (n == 0)
			rc = -ECONNRESET;
	}
	close(fd);
	return rc;
}

/* ------------------------------------------------------- daemon: roots */

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
		if (!r->loop_done && capture_mounted(r->path) &&
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
		 "fsname=cdpfs-capture:%s", esc);
}

/* Protects path (absolute, canonical) for host; err gets one line. */
static int add_root(struct cap_daemon *d, const char *path, const char *host, FILE *progress,
		    char *err, size_t errlen)
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
	if (capture_mounted(path)) {
		cdp_errf(err, errlen, "cdpfs: '%s' is already captured (a capture mount is on it); "
			"stop it with 'cdpfs capture --stop %s'", path, path);
		return -EBUSY;
	}
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
			path, d->store_path, LOG_NAME);
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

/* ---------------------------------------------------- daemon: control */

struct conn {
	struct cap_daemon *d;
	int fd;
};

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(int fd, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	write_all(fd, line, (size_t)n);
}

static void handle_stop(struct cap_daemon *d, int fd, const char *path)
{
	struct cap_root *r;
	int last;

	pthread_mutex_lock(&d->lock);
	r = find_root(d, path);
	if (r && (!r->ready || r->stopping)) {
		pthread_mutex_unlock(&d->lock);
		reply(fd, "err cdpfs: '%s' is %s; try again in a moment", path,
		      r->ready ? "already stopping" : "still taking its baseline");
		return;
	}
	if (r)
		r->stopping = 1;
	pthread_mutex_unlock(&d->lock);
	if (!r) {
		reply(fd, "err cdpfs: '%s' is not captured by the daemon of store '%s'", path,
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
	reply(fd, "ok %d %d", (int)getpid(), last);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct cap_daemon *d = c->d;
	char line[PATH_MAX * 3 + 64], err[1024], *cmd, *a1, *a2, *save = NULL;
	ssize_t n;

	n = read_line(c->fd, line, sizeof(line));
	cmd = n > 0 ? strtok_r(line, " ", &save) : NULL;
	a1 = cmd ? strtok_r(NULL, " ", &save) : NULL;
	a2 = a1 ? strtok_r(NULL, " ", &save) : NULL;
	if (a1)
		field_unescape(a1);
	if (a2)
		field_unescape(a2);
	if (!cmd) {
		reply(c->fd, "err cdpfs: empty request");
	} else if (strcmp(cmd, "add") == 0 && a1 && a2) {
		err[0] = '\0';
		if (d->exiting)
			reply(c->fd, "err cdpfs: the capture daemon of '%s' is exiting; retry",
			      d->store_path);
		else if (add_root(d, a2, a1, NULL, err, sizeof(err)) < 0)
			reply(c->fd, "err %s", err[0] ? err : "cdpfs: capture failed");
		else
			reply(c->fd, "ok");
	} else if (strcmp(cmd, "stop") == 0 && a1) {
		handle_stop(d, c->fd, a1);
	} else if (strcmp(cmd, "list") == 0) {
		char out[8192], esc[PATH_MAX * 3];
		size_t o = (size_t)snprintf(out, sizeof(out), "ok %d", (int)getpid());
		struct cap_root *r;

		pthread_mutex_lock(&d->lock);
		for (r = d->roots; r; r = r->next) {
			field_escape(r->path, esc, sizeof(esc));
			if (o + strlen(esc) + 2 < sizeof(out))
				o += (size_t)snprintf(out + o, sizeof(out) - o, " %s", esc);
		}
		pthread_mutex_unlock(&d->lock);
		reply(c->fd, "%s", out);
	} else {
		reply(c->fd, "err cdpfs: unknown request '%s'", cmd);
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

	rc = sock_path(d->store_path, &sa);
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

/* Runs the daemon in this process.  ready_fd (or -1) gets "ok" or "err
 * MESSAGE" once every dir is protected.  Returns the exit status. */
static int daemon_main(const struct cdp_capture_request *req, const char *store_path,
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
					"version of cdpfs (this one writes version %d); use another "
					"--store", store_path, CDP_FORMAT_VERSION);
			else if (rc == -CDP_ELOCKED)
				cdp_errf(err, errlen, "cdpfs: store '%s' is open for writing by another "
					"process; is a capture daemon of this store starting?",
					store_path);
			else
				cdp_errf(err, errlen, "cdpfs: cannot open store '%s': %s", store_path,
					cdp_strerror(rc));
			goto out_sig;
		}
	}
	rc = listen_socket(&d);
	if (rc < 0) {
		cdp_errf(err, errlen, "cdpfs: cannot listen on '%s/%s': %s", store_path, SOCK_NAME,
			strerror(-rc));
		goto out_store;
	}
	for (i = 0; i < req->ndirs; i++) {
		rc = add_root(&d, dirs[i], host, progress, err, errlen);
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
		write_all(ready_fd, "ok\n", 3);
		close(ready_fd);
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
		if (sock_path(store_path, &sa) == 0)
			unlink(sa.sun_path);
		cdp_log(LOG_WARNING, "capture daemon of store '%s' exits with files still open "
			"in a stopped directory", store_path);
		_exit(0);
	}
	rc = 0;
out_sock:
	if (d.listen_fd >= 0) {
		close(d.listen_fd);
		if (sock_path(store_path, &sa) == 0)
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
	cdp_store_close(d.store);
out_sig:
	if (sfd >= 0)
		close(sfd);
	close(d.wake[0]);
	close(d.wake[1]);
out:
	if (start_lock_fd >= 0)
		close(start_lock_fd);
	if (ready_fd >= 0) {
		char line[1100];

		snprintf(line, sizeof(line), "err %s\n", err && err[0] ? err :
			 "cdpfs: the capture daemon failed to start");
		write_all(ready_fd, line, strlen(line));
		close(ready_fd);
	}
	if (rc == 0)
		cdp_log(LOG_INFO, "capture daemon of store '%s' exits", store_path);
	return rc;
}

/* ------------------------------------------------------ public entries */

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
		if (capture_mounted(real)) {
			char reply_line[8192], esc[PATH_MAX * 3], *tok, *save = NULL;
			int pid = 0, ours = 0;

			field_escape(real, esc, sizeof(esc));
			if (request(store, "list\n", reply_line, sizeof(reply_line)) == 0 &&
			    strncmp(reply_line, "ok ", 3) == 0) {
				pid = atoi(reply_line + 3);
				for (tok = strtok_r(reply_line + 3, " ", &save); tok;
				     tok = strtok_r(NULL, " ", &save))
					if (strcmp(tok, esc) == 0)
						ours = 1;
			}
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

int cdp_capture_start(const struct cdp_capture_request *req, char *err, size_t errlen)
{
	char store[PATH_MAX], host_buf[256], line[PATH_MAX * 3 + 600], reply_line[2048];
	char **dirs = NULL;
	const char *host = req->host;
	size_t i;
	int rc, pipefd[2], fd, lock_fd = -1;
	pid_t pid;

	if (err && errlen)
		err[0] = '\0';
	if (!req->ndirs) {
		cdp_errf(err, errlen, "cdpfs: no directory to capture");
		return -EINVAL;
	}
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
	dirs = calloc(req->ndirs, sizeof(*dirs));
	if (!dirs)
		return -ENOMEM;
	rc = check_dirs(req, store, dirs, err, errlen);
	if (rc < 0)
		goto out;
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

	/* A daemon already serves this store: ask it. */
	fd = connect_daemon(store);
	if (fd >= 0) {
		close(fd);
		for (i = 0; i < req->ndirs; i++) {
			char eh[512], ed[PATH_MAX * 3];

			field_escape(host, eh, sizeof(eh));
			field_escape(dirs[i], ed, sizeof(ed));
			snprintf(line, sizeof(line), "add %s %s\n", eh, ed);
			rc = request(store, line, reply_line, sizeof(reply_line));
			if (rc < 0) {
				cdp_errf(err, errlen, "cdpfs: lost the capture daemon of store '%s' "
					"(%s); see %s/%s", store, strerror(-rc), store, LOG_NAME);
				goto out;
			}
			if (strncmp(reply_line, "ok", 2) != 0) {
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
		rc = daemon_main(req, store, dirs, host, -1, lock_fd,
				 req->progress ? stderr : NULL, err, errlen);
		lock_fd = -1;
		goto out;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		rc = -errno;
		cdp_errf(err, errlen, "cdpfs: cannot create a pipe: %s", strerror(errno));
		goto out;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		cdp_errf(err, errlen, "cdpfs: cannot fork the capture daemon: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		goto out;
	}
	if (pid == 0) {
		char logpath[PATH_MAX + 32], cerr[1024] = "";
		FILE *progress = NULL;
		int null_fd, log_fd, term_fd = -1;

		close(pipefd[0]);
		setsid();
		if (chdir("/") < 0)
			_exit(1);
		/* Keep no descriptor of the caller (a pipe of a shell's command
		 * substitution would never see its end): the ready pipe goes to
		 * fd 3, the terminal for progress to fd 4, the rest is closed. */
		if (dup2(pipefd[1], 3) < 0)
			_exit(1);
		if (pipefd[1] != 3)
			close(pipefd[1]);
		pipefd[1] = 3;
		if (req->progress && dup2(STDERR_FILENO, 4) == 4)
			term_fd = 4;
		close_range(term_fd == 4 ? 5 : 4, ~0U, 0);
		null_fd = open("/dev/null", O_RDWR);
		snprintf(logpath, sizeof(logpath), "%s/%s", store, LOG_NAME);
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
		rc = daemon_main(req, store, dirs, host, pipefd[1], -1, progress, cerr,
				 sizeof(cerr));
		_exit(rc < 0 ? 1 : 0);
	}
	close(pipefd[1]);
	rc = (int)read_line(pipefd[0], reply_line, sizeof(reply_line));
	close(pipefd[0]);
	if (rc > 0 && strcmp(reply_line, "ok") == 0) {
		rc = 0;
	} else if (rc > 0 && strncmp(reply_line, "err ", 4) == 0) {
		cdp_errf(err, errlen, "%s", reply_line + 4);
		rc = -EIO;
		waitpid(pid, NULL, 0);
	} else {
		cdp_errf(err, errlen, "cdpfs: the capture daemon exited during start-up; see "
			"'%s/%s'", store, LOG_NAME);
		rc = -EIO;
		waitpid(pid, NULL, 0);
	}
out:
	if (lock_fd >= 0)
		close(lock_fd);
	for (i = 0; dirs && i < req->ndirs; i++)
		free(dirs[i]);
	free(dirs);
	return rc;
}

static int pid_alive(int pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p && (p = strrchr(buf, ')')) && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return 0;
	return 1;
}

int cdp_capture_stop(const char *store_arg, const char *dir, char *err, size_t errlen)
{
	char store[PATH_MAX], abs[PATH_MAX], real[PATH_MAX], esc[PATH_MAX * 3];
	char line[PATH_MAX * 3 + 16], reply_line[2048];
	const char *path = abs;
	int rc, pid = 0, last = 0;
	int64_t deadline;

	if (err && errlen)
		err[0] = '\0';
	if (abs_path(store_arg ? store_arg : CDP_DEFAULT_STORE, store, sizeof(store)) < 0 ||
	    abs_path(dir, abs, sizeof(abs)) < 0) {
		cdp_errf(err, errlen, "cdpfs: path too long");
		return -ENAMETOOLONG;
	}
	if (realpath(store, real))
		snprintf(store, sizeof(store), "%s", real);
	if (realpath(abs, real))
		path = real;
	field_escape(path, esc, sizeof(esc));
	snprintf(line, sizeof(line), "stop %s\n", esc);
	rc = request(store, line, reply_line, sizeof(reply_line));
	if (rc < 0) {
		if (capture_mounted(path)) {
			cdp_errf(err, errlen, "cdpfs: the capture daemon of '%s' is gone but its mount "
				"remains (applications see ENOTCONN); clear it with 'fusermount3 -u "
				"%s', then capture again", path, path);
			return -ENOTCONN;
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
	while (capture_mounted(path) && mono_ms() < deadline)
		poll(NULL, 0, 20);
	if (capture_mounted(path)) {
		cdp_errf(err, errlen, "cdpfs: '%s' is still mounted after %d s; check with "
			"'cdpfs capture --stop %s' again or 'fusermount3 -u %s'", path, WAIT_GONE_S,
			path, path);
		return -EBUSY;
	}
	if (last && pid > 0) {
		while (pid_alive(pid) && mono_ms() < deadline)
			poll(NULL, 0, 20);
		if (pid_alive(pid)) {
			cdp_errf(err, errlen, "cdpfs: '%s' is no longer captured but the daemon (pid "
				"%d) still serves files left open through it; it exits once they "
				"are closed", path, pid);
			return -EBUSY;
		}
	}
	return 0;
}
