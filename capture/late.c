/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * late.c - the safety net under the capture mounts: changes to a
 * protected directory that do not come through its capture mount.
 *
 * A capture mount sits over DIR in place, so everything that reaches the
 * real directory some other way bypasses it: a descriptor opened before the
 * mount (a database started before capture, `--attach-running`), a process
 * whose working directory was inside, another mount namespace, a bind
 * mount of the same directory.  The daemon marks the whole filesystem under
 * each protected directory with fanotify (FAN_MARK_FILESYSTEM, reporting
 * the parent directory's file handle and the name), so every change there
 * is reported with the pid that made it.  Its own writes (the capture
 * passthrough applying what came through the mount) carry its own pid and
 * are dropped; every other change whose directory lies inside a protected
 * directory is resynced (sync.c, cap_sync_late(): the file, or the names of
 * the directory, compared with the store and journaled where they differ)
 * and recorded as a late observation (cdp_journal_late_add()) with the
 * bounds of when it happened.
 *
 * Bounds: events of one read(2) happened after the start of the previous
 * read that emptied the queue (a read returning less than its buffer) and
 * before this read returned.  Events are gathered for PENDING_MS and then
 * resynced; an overflow of the kernel's queue resyncs every directory
 * whole ("." in the record).
 *
 * The first late change of a root raises a late_observation alert (alert.c)
 * at once; later ones are gathered into at most one alert per 4 s.
 *
 * Locking: lock protects the watched roots and is held across a resync,
 * so cap_late_unwatch() returns only once no resync of that root runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "capture/capture_int.h"

#define PENDING_MS 200
#define EVENT_BUF_BYTES 65536
#define MAX_PENDING 4096
#define ALERT_EVERY_MS 4000         /* late_observation alerts of a root, at most */

#define WATCH_MASK (FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_CREATE | FAN_DELETE | \
		    FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ONDIR)
#define ENTRY_MASK (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO)

struct late_item {
	struct late_item *next;
	struct cap_root *r;
	uint32_t root_id;
	int what;                    /* CAP_LATE_* */
	struct cap_handle dfh;       /* the directory */
	char *relpath;               /* of the directory, "." the root */
	char name[NAME_MAX + 1];     /* CAP_LATE_ENTRY */
	int64_t from_ns, to_ns;
	uint32_t pid;
	char comm[16];
};

struct watched {
	struct cap_root *r;
	uint32_t root_id;
	fsid_t fsid;
	int64_t alerted_ms;          /* last late_observation alert */
	uint64_t unalerted;          /* observations since it */
	char last_path[PATH_MAX];    /* the newest of them */
};

struct cap_late {
	int fan_fd;
	int stop[2];
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	struct watched *roots;       /* protected by lock */
	size_t nroots;
	/* the watcher thread's own */
	struct late_item *pending;
	size_t npending;
	int64_t pending_since_ms;
	int64_t drained_ns;          /* start of the last read that emptied the queue */
	uint64_t observed;           /* late observations recorded (status) */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void item_free(struct late_item *it)
{
	if (it) {
		free(it->relpath);
		free(it);
	}
}

static void proc_comm(uint32_t pid, char *out, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
}

/* Adds (or merges into the same pending one) a change to resync. */
static void add_item(struct cap_late *l, struct cap_root *r, uint32_t root_id, int what,
		     const struct cap_handle *dfh, const char *relpath, const char *name,
		     int64_t from_ns, int64_t to_ns, uint32_t pid)
{
	struct late_item *it;

	for (it = l->pending; it; it = it->next) {
		if (it->r != r || it->root_id != root_id)
			continue;
		if (it->what == CAP_LATE_ALL || (what != CAP_LATE_ALL &&
		    cap_handle_equal(&it->dfh, dfh) && (it->what == CAP_LATE_DIR ||
		    (what == CAP_LATE_ENTRY && strcmp(it->name, name) == 0)))) {
			if (from_ns < it->from_ns)
				it->from_ns = from_ns;
			if (to_ns > it->to_ns)
				it->to_ns = to_ns;
			return;
		}
	}
	if (l->npending >= MAX_PENDING && what != CAP_LATE_ALL) {
		/* too many distinct changes: resync the directory whole */
		what = CAP_LATE_ALL;
	}
	it = calloc(1, sizeof(*it));
	if (!it || !(it->relpath = strdup(what == CAP_LATE_ALL ? "." : relpath))) {
		free(it);
		cdp_log(LOG_ERR, "out of memory for a change seen late in '%s'; it is resynced "
			"at the next one", r->path);
		return;
	}
	it->r = r;
	it->root_id = root_id;
	it->what = what;
	if (dfh)
		it->dfh = *dfh;
	if (name)
		snprintf(it->name, sizeof(it->name), "%s", name);
	it->from_ns = from_ns;
	it->to_ns = to_ns;
	it->pid = pid;
	if (pid)
		proc_comm(pid, it->comm, sizeof(it->comm));
	it->next = l->pending;
	l->pending = it;
	if (!l->npending++)
		l->pending_since_ms = mono_ms();
}

/* The watched root whose directory holds the directory of handle fh (on
 * filesystem fsid): 0 and *relpath (malloc'd, "." for the root itself), or
 * -ENOENT.  Caller holds lock. */
static int place_dir(struct cap_late *l, const __kernel_fsid_t *fsid, struct cap_handle *fh,
		     struct watched **wout, char **relpath)
{
	char proc[64], path[PATH_MAX];
	size_t i, plen;
	ssize_t n;
	int fd;

	for (i = 0; i < l->nroots; i++) {
		struct watched *w = &l->roots[i];

		if (memcmp(&w->fsid, fsid, sizeof(w->fsid)) != 0)
			continue;
		fd = cap_handle_open(w->r, fh, O_PATH | O_DIRECTORY);
		if (fd < 0)
			continue;
		cap_proc_path(proc, sizeof(proc), fd);
		n = readlink(proc, path, sizeof(path) - 1);
		close(fd);
		if (n <= 0)
			continue;
		path[n] = '\0';
		plen = strlen(w->r->path);
		if (strncmp(path, w->r->path, plen) != 0 || (path[plen] && path[plen] != '/'))
			continue;
		*relpath = strdup(path[plen] ? path + plen + 1 : ".");
		if (!*relpath)
			return -ENOMEM;
		*wout = w;
		return 0;
	}
	return -ENOENT;
}

/* Parses one read of events into pending items. */
static void take_events(struct cap_late *l, const char *buf, ssize_t len, int64_t from_ns,
			int64_t to_ns)
{
	struct fanotify_event_metadata md;
	const char *p;
	pid_t self = getpid();
	size_t i;

	/* Events are aligned to 4 bytes only (FANOTIFY_EVENT_ALIGN), their
	 * metadata holds a u64: each one is copied out, never read in place. */
	pthread_mutex_lock(&l->lock);
	for (p = buf; len >= (ssize_t)FAN_EVENT_METADATA_LEN &&
	     (memcpy(&md, p, sizeof(md)), md.event_len >= FAN_EVENT_METADATA_LEN &&
	      (ssize_t)md.event_len <= len);
	     len -= md.event_len, p += md.event_len) {
		const struct fanotify_event_info_header *h;
		const struct fanotify_event_info_fid *dfid = NULL;
		const struct file_handle *kfh;
		struct cap_handle fh;
		struct watched *w;
		const char *name;
		char *relpath = NULL;

		if (md.vers != FANOTIFY_METADATA_VERSION)
			continue;
		if (md.mask & FAN_Q_OVERFLOW) {
			cdp_log(LOG_WARNING, "the kernel's queue of changes overflowed: every "
				"protected directory is resynced whole");
			for (i = 0; i < l->nroots; i++)
				add_item(l, l->roots[i].r, l->roots[i].root_id, CAP_LATE_ALL, NULL,
					 ".", NULL, from_ns, to_ns, 0);
			continue;
		}
		if (md.pid == self)
			continue;
		for (h = (const void *)(p + md.metadata_len); (const char *)h + sizeof(*h) <=
		     p + md.event_len && h->len >= sizeof(*h);
		     h = (const void *)((const char *)h + h->len))
			if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME)
				dfid = (const void *)h;
		if (!dfid)
			continue;
		kfh = (const void *)dfid->handle;
		if (kfh->handle_bytes > CAP_HANDLE_MAX)
			continue;
		fh.type = kfh->handle_type;
		fh.len = kfh->handle_bytes;
		memcpy(fh.data, kfh->f_handle, fh.len);
		name = (const char *)kfh->f_handle + kfh->handle_bytes;
		if (place_dir(l, &dfid->fsid, &fh, &w, &relpath) < 0)
			continue;
		if (strcmp(name, ".") == 0 || !*name)
			add_item(l, w->r, w->root_id, CAP_LATE_DIR, &fh, relpath, NULL, from_ns,
				 to_ns, (uint32_t)md.pid);
		else
			add_item(l, w->r, w->root_id, (md.mask & ENTRY_MASK) ? CAP_LATE_DIR :
				 CAP_LATE_ENTRY, &fh, relpath, name, from_ns, to_ns,
				 (uint32_t)md.pid);
		free(relpath);
	}
	pthread_mutex_unlock(&l->lock);
}

static struct watched *find_watched(struct cap_late *l, const struct cap_root *r,
				    uint32_t root_id)
{
	size_t i;

	for (i = 0; i < l->nroots; i++)
		if (l->roots[i].r == r && l->roots[i].root_id == root_id)
			return &l->roots[i];
	return NULL;
}

/* The late_observation alerts due (at most one per root per
 * ALERT_EVERY_MS, with the count since the last).  Caller holds lock.
 * Returns the ms until the next one is due, -1 none. */
static int flush_alerts(struct cap_late *l)
{
	int64_t now = mono_ms();
	int next = -1;
	size_t i;

	for (i = 0; i < l->nroots; i++) {
		struct watched *w = &l->roots[i];
		int wait;

		if (!w->unalerted)
			continue;
		wait = (int)(w->alerted_ms + ALERT_EVERY_MS - now);
		if (wait <= 0) {
			cap_alert(cdp_store_path(w->r->store), "late_observation", LOG_WARNING,
				  w->r->host, w->r->path, "%llu change%s made outside the capture "
				  "mount (the newest '%s') seen late and resynced: the history has "
				  "them from their resync on", (unsigned long long)w->unalerted,
				  w->unalerted == 1 ? "" : "s", w->last_path);
			w->unalerted = 0;
			w->alerted_ms = now;
		} else if (next < 0 || wait < next) {
			next = wait;
		}
	}
	return next;
}

/* Resyncs and records every pending item whose root is ready; the others
 * wait (a root still taking its baseline) or go (a root no longer watched). */
static void process_pending(struct cap_late *l)
{
	struct late_item *list, *it, *keep = NULL;
	size_t kept = 0;

	list = l->pending;
	l->pending = NULL;
	l->npending = 0;
	pthread_mutex_lock(&l->lock);
	while ((it = list)) {
		struct cap_root *r = it->r;
		struct watched *w = find_watched(l, r, it->root_id);
		struct cdp_late rec;
		uint64_t changes = 0;
		int rc;

		list = it->next;
		if (!w || r->stopping) {
			item_free(it);
			continue;
		}
		if (!r->ready) {
			it->next = keep;
			keep = it;
			kept++;
			continue;
		}
		rc = cap_sync_late(r, it->what == CAP_LATE_ALL ? NULL : &it->dfh, it->relpath,
				   it->what == CAP_LATE_ENTRY ? it->name : NULL, it->what, &changes);
		if (rc == 0)
			rc = cdp_journal_sync(r->journal);
		if (rc < 0 && rc != -EINTR) {
			cdp_log(LOG_ERR, "'%s': cannot resync '%s%s%s', changed outside the "
				"capture mount: %s", r->path, it->relpath,
				it->what == CAP_LATE_ENTRY ? "/" : "", it->name, cdp_strerror(rc));
		}
		if (rc == 0 && changes) {
			char path[PATH_MAX + NAME_MAX + 2];

			memset(&rec, 0, sizeof(rec));
			rec.from_ts_ns = it->from_ns;
			rec.to_ts_ns = it->to_ns;
			rec.pid = it->pid;
			memcpy(rec.comm, it->comm, sizeof(rec.comm));
			if (it->what == CAP_LATE_ENTRY && strcmp(it->relpath, ".") != 0)
				snprintf(path, sizeof(path), "%s/%s", it->relpath, it->name);
			else
				snprintf(path, sizeof(path), "%s", it->what == CAP_LATE_ENTRY ?
					 it->name : it->relpath);
			rec.path = path;
			rc = cdp_journal_late_add(r->journal, r->root_id, &rec);
			if (rc < 0)
				cdp_log(LOG_ERR, "'%s': cannot record a change seen late: %s",
					r->path, cdp_strerror(rc));
			else
				l->observed++;
			w->unalerted++;
			snprintf(w->last_path, sizeof(w->last_path), "%.*s",
				 (int)sizeof(w->last_path) - 1, path);
			cdp_log(LOG_WARNING, "'%s': '%s' was changed outside the capture mount "
				"(pid %u %s); resynced, in the history from now on", r->path, path,
				it->pid, it->comm[0] ? it->comm : "?");
		}
		item_free(it);
	}
	flush_alerts(l);
	pthread_mutex_unlock(&l->lock);
	l->pending = keep;
	l->npending = kept;
	if (kept)
		l->pending_since_ms = mono_ms();
}

static void *watch_main(void *arg)
{
	struct cap_late *l = arg;
	char *buf = malloc(EVENT_BUF_BYTES);
	struct pollfd pfd[2];

	if (!buf) {
		cdp_log(LOG_ERR, "out of memory: no watch for changes outside the capture mounts");
		return NULL;
	}
	l->drained_ns = cdp_now_ns();
	for (;;) {
		int timeout, due;

		pthread_mutex_lock(&l->lock);
		timeout = flush_alerts(l);
		pthread_mutex_unlock(&l->lock);
		if (l->npending) {
			due = (int)(l->pending_since_ms + PENDING_MS - mono_ms());
			if (due < 0)
				due = 0;
			if (timeout < 0 || due < timeout)
				timeout = due;
		}
		pfd[0].fd = l->fan_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = l->stop[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN) {
			int64_t start = cdp_now_ns();
			ssize_t n = read(l->fan_fd, buf, EVENT_BUF_BYTES);

			if (n > 0) {
				take_events(l, buf, n, l->drained_ns, cdp_now_ns());
				/* a short read emptied the queue */
				if (n < EVENT_BUF_BYTES - 4096)
					l->drained_ns = start;
			}
		}
		if (l->npending && mono_ms() - l->pending_since_ms >= PENDING_MS)
			process_pending(l);
	}
	while (l->pending) {
		struct late_item *it = l->pending;

		l->pending = it->next;
		item_free(it);
	}
	free(buf);
	return NULL;
}

int cap_late_new(struct cap_late **out)
{
	struct cap_late *l = calloc(1, sizeof(*l));
	int rc;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->stop[0] = l->stop[1] = -1;
	pthread_mutex_init(&l->lock, NULL);
	l->fan_fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK |
				  FAN_REPORT_DFID_NAME, O_RDONLY | O_CLOEXEC);
	if (l->fan_fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (pipe2(l->stop, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out_free;
	}
	rc = -pthread_create(&l->thread, NULL, watch_main, l);
	if (rc < 0)
		goto out_free;
	l->started = 1;
	*out = l;
	return 0;
out_free:
	if (l->fan_fd >= 0)
		close(l->fan_fd);
	if (l->stop[0] >= 0) {
		close(l->stop[0]);
		close(l->stop[1]);
	}
	pthread_mutex_destroy(&l->lock);
	free(l);
	return rc;
}

void cap_late_free(struct cap_late *l)
{
	ssize_t n;

	if (!l)
		return;
	if (l->started) {
		n = write(l->stop[1], "x", 1);
		(void)n;
		pthread_join(l->thread, NULL);
	}
	close(l->fan_fd);
	close(l->stop[0]);
	close(l->stop[1]);
	pthread_mutex_destroy(&l->lock);
	free(l->roots);
	free(l);
}

int cap_late_watch(struct cap_late *l, struct cap_root *r)
{
	struct watched *nw;
	struct statfs sfs;
	int rc = 0;

	if (!r->use_handles)
		return -EOPNOTSUPP;
	if (fstatfs(r->root_fd, &sfs) < 0)
		return -errno;
	/* every mount and namespace of the filesystem: a bind mount of DIR,
	 * another mount namespace, a descriptor opened before the mount */
	if (fanotify_mark(l->fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, WATCH_MASK,
			  r->root_fd, NULL) < 0)
		return -errno;
	pthread_mutex_lock(&l->lock);
	nw = realloc(l->roots, (l->nroots + 1) * sizeof(*nw));
	if (!nw) {
		rc = -ENOMEM;
	} else {
		l->roots = nw;
		memset(&nw[l->nroots], 0, sizeof(nw[l->nroots]));
		nw[l->nroots].r = r;
		nw[l->nroots].root_id = r->root_id;
		nw[l->nroots].alerted_ms = mono_ms() - ALERT_EVERY_MS;
		memcpy(&nw[l->nroots].fsid, &sfs.f_fsid, sizeof(sfs.f_fsid));
		l->nroots++;
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void cap_late_unwatch(struct cap_late *l, struct cap_root *r)
{
	size_t i;

	if (!l)
		return;
	/* waits for a resync of r in progress (it sees r->stopping) */
	pthread_mutex_lock(&l->lock);
	for (i = 0; i < l->nroots; i++) {
		if (l->roots[i].r == r) {
			l->roots[i] = l->roots[--l->nroots];
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
	/* The filesystem mark stays (other roots may share it; it costs a
	 * dropped event per change there until the daemon exits). */
}

uint64_t cap_late_observed(struct cap_late *l)
{
	uint64_t n;

	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	n = l->observed;
	pthread_mutex_unlock(&l->lock);
	return n;
}
