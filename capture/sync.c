/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sync.c - baseline and resync ("sync tree") of a protected directory,
 * run after its capture mount is live.  The directory is walked through
 * the descriptor opened before the mount (breadth first, one directory open
 * at a time, directories queued by file handle so that a rename during the
 * walk does not lose them), and each entry is compared with the store's
 * latest view: only what differs is journaled (new or removed names,
 * attributes, symlink targets, xattrs, and for regular files whose size,
 * mtime or ctime changed, every block whose hash differs plus a zero range
 * beyond the end).  The first baseline therefore journals everything and a
 * restart journals what changed while nothing was captured.  Each entry is
 * handled under the stripe locks of its directory and itself, file data in
 * batches under the file's lock, so applications may write meanwhile.
 * Finally the directory is linked into the host's namespace below "/"
 * and cdp_journal_root_ready() marks it mountable.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/xattr.h>

#include "capture/capture_int.h"

#define DATA_BATCH_BLOCKS 256
#define MAX_RETRIES 8

struct walk_dir {
	struct walk_dir *next;
	struct cap_handle fh;
	uint64_t fid;
	char *relpath;
};

struct walk {
	struct cap_root *r;
	struct cdp_view *view;     /* NULL: nothing stored yet, all differs */
	struct walk_dir *head, *tail;
	uint64_t files, bytes, errors;
	int64_t last_progress_ns;
	char *block;               /* one block buffer */
	int shallow;               /* walk only directories new to the history */
	uint64_t changes;          /* records journaled */
};

/* cap_op_finish() of an op of the walk, counting what it journals. */
static void walk_finish(struct walk *w, struct cdp_op *op, int rc)
{
	if (rc >= 0)
		w->changes += cdp_op_records(op);
	cap_op_finish(w->r, op, rc);
}

static void progress(struct walk *w, int final)
{
	int64_t now;

	if (!w->r->progress || !w->r->progress_out)
		return;
	now = cdp_now_ns();
	if (!final && now - w->last_progress_ns < 250000000LL)
		return;
	w->last_progress_ns = now;
	fprintf(w->r->progress_out, "\rcdpfs: baseline of '%s': %llu files, %llu MiB%s", w->r->path,
		(unsigned long long)w->files, (unsigned long long)(w->bytes >> 20),
		final ? "\n" : "");
	fflush(w->r->progress_out);
}

static int attr_same(const struct cdp_attr *a, const struct stat *st)
{
	struct cdp_attr b;

	cdp_attr_from_stat(st, &b);
	return a->mode == b.mode && a->uid == b.uid && a->gid == b.gid &&
	       a->nlink == b.nlink && a->size == b.size && a->rdev == b.rdev &&
	       a->mtime_ns == b.mtime_ns && a->ctime_ns == b.ctime_ns;
}

static int enqueue_dir(struct walk *w, const struct cap_handle *fh, uint64_t fid,
		       const char *parent_rel, const char *name)
{
	struct walk_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->fh = *fh;
	d->fid = fid;
	if (!parent_rel)
		d->relpath = strdup(".");
	else if (strcmp(parent_rel, ".") == 0)
		d->relpath = strdup(name);
	else if (asprintf(&d->relpath, "%s/%s", parent_rel, name) < 0)
		d->relpath = NULL;
	if (!d->relpath) {
		free(d);
		return -ENOMEM;
	}
	if (w->tail)
		w->tail->next = d;
	else
		w->head = d;
	w->tail = d;
	return 0;
}

/* Journals the differences in xattrs of the inode at fd (O_PATH). */
static int sync_xattrs(struct walk *w, struct cdp_op *op, uint64_t fid, int fd, int known)
{
	char proc[64], *names = NULL, *p, *val = NULL, *vval = NULL, *vnames = NULL;
	ssize_t len, vlen, n, vn;
	int rc = 0;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	len = listxattr(proc, NULL, 0);
	if (len < 0)
		len = 0;
	if (len > 0) {
		names = malloc((size_t)len);
		if (!names)
			return -ENOMEM;
		len = listxattr(proc, names, (size_t)len);
		if (len < 0)
			len = 0;
	}
	for (p = names; p && p < names + len; p += strlen(p) + 1) {
		n = getxattr(proc, p, NULL, 0);
		if (n < 0)
			continue;
		free(val);
		val = malloc((size_t)n + 1);
		if (!val) {
			rc = -ENOMEM;
			goto out;
		}
		n = getxattr(proc, p, val, (size_t)n);
		if (n < 0)
			continue;
		if (known && w->view) {
			vn = cdp_view_getxattr(w->view, fid, p, NULL, 0);
			if (vn == n) {
				free(vval);
				vval = malloc((size_t)vn + 1);
				if (vval && cdp_view_getxattr(w->view, fid, p, vval, (size_t)vn) == vn &&
				    memcmp(vval, val, (size_t)n) == 0)
					continue;
			}
		}
		rc = cdp_op_xattr(op, fid, p, val, (size_t)n);
		if (rc < 0)
			goto out;
	}
	if (known && w->view) {
		vlen = cdp_view_listxattr(w->view, fid, NULL, 0);
		if (vlen > 0 && (vnames = malloc((size_t)vlen)) &&
		    (vlen = cdp_view_listxattr(w->view, fid, vnames, (size_t)vlen)) > 0) {
			for (p = vnames; p < vnames + vlen; p += strlen(p) + 1) {
				char *q;
				int found = 0;

				for (q = names; q && q < names + len; q += strlen(q) + 1)
					if (strcmp(p, q) == 0)
						found = 1;
				if (!found) {
					rc = cdp_op_xattr(op, fid, p, NULL, 0);
					if (rc < 0)
						goto out;
				}
			}
		}
	}
out:
	free(names);
	free(vnames);
	free(val);
	free(vval);
	return rc;
}

/* Journals attrs (if they differ) and xattrs of the inode at fd.  Returns 1
 * when the file's data may differ from the store (size/mtime/ctime). */
static int sync_inode(struct walk *w, struct cdp_op *op, uint64_t fid, int fd,
		      const struct stat *st)
{
	struct cdp_attr va;
	int known = 0, same = 0, rc;

	if (w->view && cdp_view_getattr(w->view, fid, &va) == 0) {
		known = 1;
		same = attr_same(&va, st);
		if (same && S_ISLNK(st->st_mode)) {
			char a[PATH_MAX + 1], b[PATH_MAX + 1];
			ssize_t la = readlinkat(fd, "", a, sizeof(a) - 1);
			ssize_t lb = cdp_view_readlink(w->view, fid, b, sizeof(b));

			same = la >= 0 && la == lb && memcmp(a, b, (size_t)la) == 0;
		}
	}
	if (!same) {
		rc = cap_op_attr_fd(w->r, op, fid, fd, NULL);
		if (rc < 0)
			return rc;
	}
	if (!S_ISLNK(st->st_mode)) {
		rc = sync_xattrs(w, op, fid, fd, known);
		if (rc < 0)
			return rc;
	}
	return S_ISREG(st->st_mode) && !same;
}

static int block_is_zero(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i])
			return 0;
	return 1;
}

/* Journals every block of the regular file dfd/name whose content differs
 * from the view, in batches, each under the file's stripe lock. */
static int sync_file_data(struct walk *w, int dfd, const char *name, uint64_t ino, uint64_t fid)
{
	struct cap_root *r = w->r;
	uint64_t bs = r->block_size, b = 0, nblocks;
	unsigned held[CAP_MAX_LOCKS];
	int nheld, fd, rc = 0, done = 0;
	struct stat st;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0 || st.st_ino != ino) {
		close(fd);
		return 0;
	}
	while (!done && rc == 0) {
		struct cdp_op *op;
		int k;

		cap_lock_inos(r, &ino, 1, held, &nheld);
		if (fstat(fd, &st) < 0) {
			rc = -errno;
			cap_unlock(r, held, nheld);
			break;
		}
		nblocks = ((uint64_t)st.st_size + bs - 1) / bs;
		op = cap_op_start(r);
		if (!op) {
			cap_unlock(r, held, nheld);
			break;
		}
		for (k = 0; k < DATA_BATCH_BLOCKS && b < nblocks && rc == 0; k++, b++) {
			ssize_t got = pread(fd, w->block, bs, (off_t)(b * bs));
			uint8_t mine[CDP_HASH_BYTES], stored[CDP_HASH_BYTES];
			int is_zero = 0, hrc, zero;

			if (got < 0) {
				rc = -errno;
				break;
			}
			if ((uint64_t)got < bs)
				memset(w->block + got, 0, bs - (uint64_t)got);
			w->bytes += (uint64_t)got;
			if (w->view) {
				zero = block_is_zero(w->block, bs);
				hrc = cdp_view_block_hash(w->view, fid, b, stored, &is_zero);
				if ((hrc == -ENOENT || (hrc == 0 && is_zero)) && zero)
					continue;
				if (hrc == 0 && !is_zero && !zero) {
					cdp_hash(w->block, bs, mine);
					if (memcmp(mine, stored, CDP_HASH_BYTES) == 0)
						continue;
				}
			}
			rc = cdp_op_data(op, fid, b * bs, w->block, got ? (size_t)got : bs);
		}
		if (rc == 0 && b >= nblocks) {
			done = 1;
			rc = cdp_op_zero(op, fid, nblocks, UINT64_MAX);
			if (rc == 0)
				rc = cap_op_attr_fd(r, op, fid, fd, NULL);
		}
		walk_finish(w, op, rc);
		cap_unlock(r, held, nheld);
		progress(w, 0);
	}
	close(fd);
	return rc;
}

/* One entry of a directory (dfd, inode dino, fid dir_fid). */
static int sync_entry(struct walk *w, int dfd, uint64_t dino, uint64_t dir_fid,
		      const char *relpath, const char *name)
{
	struct cap_root *r = w->r;
	unsigned held[CAP_MAX_LOCKS];
	uint64_t inos[2], fid = 0, vchild = 0;
	uint32_t vtype = 0;
	struct cap_handle fh;
	struct stat st, st2;
	struct cdp_op *op;
	int nheld = 0, tries, rc = 0, data = 0, fd, fresh = 0;

	for (tries = 0;; tries++) {
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == ENOENT ? 0 : -errno;
		inos[0] = dino;
		inos[1] = st.st_ino;
		cap_lock_inos(r, inos, 2, held, &nheld);
		if (fstatat(dfd, name, &st2, AT_SYMLINK_NOFOLLOW) < 0) {
			cap_unlock(r, held, nheld);
			return errno == ENOENT ? 0 : -errno;
		}
		if (st2.st_ino == st.st_ino)
			break;
		cap_unlock(r, held, nheld);
		if (tries > MAX_RETRIES)
			return -EAGAIN;
	}
	if (cap_handle_at(r, dfd, name, &fh) < 0) {
		fh.type = -1;
		fh.len = 0;
	}
	fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? 0 : -errno;
		goto out_unlock;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	rc = cap_fid_of(r, NULL, st.st_ino, &fh, NULL, &fid);
	if (rc < 0 || !fid)
		goto out_close;
	op = cap_op_start(r);
	if (!op)
		goto out_close;
	if (!w->view || cdp_view_lookup(w->view, dir_fid, name, &vchild, &vtype) < 0 ||
	    vchild != fid || vtype != (st.st_mode & S_IFMT)) {
		fresh = 1;
		rc = cdp_op_dirent(op, dir_fid, name, fid, st.st_mode & S_IFMT);
	}
	if (rc == 0) {
		rc = sync_inode(w, op, fid, fd, &st);
		if (rc > 0) {
			data = 1;
			rc = 0;
		}
	}
	walk_finish(w, op, rc);
	w->files++;
	if (!data && S_ISREG(st.st_mode))
		w->bytes += (uint64_t)st.st_size;
out_close:
	close(fd);
out_unlock:
	cap_unlock(r, held, nheld);
	if (rc < 0)
		return rc;
	if (data)
		rc = sync_file_data(w, dfd, name, st.st_ino, fid);
	if (rc == 0 && S_ISDIR(st.st_mode) && fid && (!w->shallow || fresh))
		rc = enqueue_dir(w, &fh, fid, relpath, name);
	progress(w, 0);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct removed_ctx {
	char **names;
	size_t n;
	char **gone;
	uint32_t *gone_types;
	size_t ngone, cap;
};

static int collect_removed(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct removed_ctx *c = arg;
	const char *key = name;

	if (c->n && bsearch(&key, c->names, c->n, sizeof(char *), name_cmp))
		return 0;
	if (c->ngone == c->cap) {
		size_t ncap = c->cap;
		char **g = cdp_array_grow(c->gone, &ncap, c->ngone, sizeof(*g), 16);
		uint32_t *t;

		if (!g)
			return -ENOMEM;
		c->gone = g;
		ncap = c->cap;
		t = cdp_array_grow(c->gone_types, &ncap, c->ngone, sizeof(*t), 16);
		if (!t)
			return -ENOMEM;
		c->gone_types = t;
		c->cap = ncap;
	}
	c->gone[c->ngone] = strdup(name);
	if (!c->gone[c->ngone])
		return -ENOMEM;
	c->gone_types[c->ngone++] = type;
	return 0;
}

static int sync_dir(struct walk *w, struct walk_dir *d)
{
	struct cap_root *r = w->r;
	struct removed_ctx c;
	struct dirent *de;
	struct stat st;
	unsigned held[CAP_MAX_LOCKS];
	size_t i, cap = 0;
	int dfd, nheld, rc = 0, dup_fd;
	DIR *dp;

	memset(&c, 0, sizeof(c));
	if (d->fh.type >= 0 && d->relpath && strcmp(d->relpath, ".") != 0) {
		dfd = cap_handle_open(r, &d->fh, O_RDONLY | O_DIRECTORY);
	} else {
		dfd = openat(r->root_fd, d->relpath ? d->relpath : ".",
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			dfd = -errno;
	}
	if (dfd < 0)
		return (dfd == -ENOENT || dfd == -ESTALE) ? 0 : dfd;
	if (fstat(dfd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	dup_fd = dup(dfd);
	dp = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!dp) {
		rc = -errno;
		if (dup_fd >= 0)
			close(dup_fd);
		goto out_close;
	}
	while ((de = readdir(dp))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (c.n == cap) {
			char **nn = cdp_array_grow(c.names, &cap, c.n, sizeof(*nn), 64);

			if (!nn) {
				rc = -ENOMEM;
				break;
			}
			c.names = nn;
		}
		c.names[c.n] = strdup(de->d_name);
		if (!c.names[c.n]) {
			rc = -ENOMEM;
			break;
		}
		c.n++;
	}
	closedir(dp);
	if (rc < 0)
		goto out_free;
	if (c.n)
		qsort(c.names, c.n, sizeof(char *), name_cmp);
	for (i = 0; i < c.n; i++) {
		int erc = sync_entry(w, dfd, st.st_ino, d->fid, d->relpath, c.names[i]);

		if (erc < 0) {
			w->errors++;
			cdp_log(LOG_WARNING, "baseline of '%s': '%s/%s': %s", r->path,
				d->relpath, c.names[i], cdp_strerror(erc));
		}
	}
	/* Names in the store that are gone from the real directory. */
	if (w->view)
		cdp_view_readdir(w->view, d->fid, NULL, collect_removed, &c);
	cap_lock_inos(r, &st.st_ino, 1, held, &nheld);
	{
		struct cdp_op *op = cap_op_start(r);
		int jrc = 0;

		for (i = 0; op && jrc == 0 && i < c.ngone; i++) {
			struct stat tmp;

			if (fstatat(dfd, c.gone[i], &tmp, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			jrc = cdp_op_dirent(op, d->fid, c.gone[i], 0, c.gone_types[i]);
		}
		if (op && jrc == 0 && fstat(dfd, &st) == 0) {
			jrc = sync_inode(w, op, d->fid, dfd, &st);
			if (jrc > 0)
				jrc = 0;
		}
		walk_finish(w, op, jrc);
	}
	cap_unlock(r, held, nheld);
out_free:
	for (i = 0; i < c.n; i++)
		free(c.names[i]);
	free(c.names);
	for (i = 0; i < c.ngone; i++)
		free(c.gone[i]);
	free(c.gone);
	free(c.gone_types);
out_close:
	close(dfd);
	return rc;
}

/* Links the root's fid below the host's "/" through its ancestors. */
static int link_root(struct cap_root *r)
{
	struct cdp_view *v = NULL;
	struct cdp_op *op;
	struct cdp_attr va, a;
	struct stat st;
	uint64_t parent = CDP_ROOT_FID, fid;
	uint32_t type;
	char *path, *comp, *save = NULL, prefix[PATH_MAX];
	size_t plen = 0;
	int rc = 0;

	if (cdp_view_open(r->store, r->host, CDP_TS_LATEST, &v) < 0)
		v = NULL;
	path = strdup(r->path);
	op = cap_op_start(r);
	if (!path || !op) {
		rc = -ENOMEM;
		goto out;
	}
	if (stat("/", &st) == 0 && (!v || cdp_view_getattr(v, CDP_ROOT_FID, &va) < 0 ||
				    !attr_same(&va, &st))) {
		cdp_attr_from_stat(&st, &a);
		rc = cdp_op_attr(op, CDP_ROOT_FID, &a, NULL);
	}
	prefix[0] = '\0';
	for (comp = strtok_r(path, "/", &save); comp && rc == 0;
	     comp = strtok_r(NULL, "/", &save)) {
		int last;

		plen += (size_t)snprintf(prefix + plen, sizeof(prefix) - plen, "/%s", comp);
		last = strcmp(prefix, r->path) == 0;
		if (last) {
			fid = r->root_fid;
		} else if (v && cdp_view_lookup(v, parent, comp, &fid, &type) == 0 &&
			   type == S_IFDIR) {
			/* reuse the ancestor's fid */
		} else {
			rc = cdp_journal_new_fid(r->journal, &fid);
			if (rc < 0)
				break;
		}
		{
			uint64_t cur = 0;

			if (!v || cdp_view_lookup(v, parent, comp, &cur, &type) < 0 || cur != fid)
				rc = cdp_op_dirent(op, parent, comp, fid, S_IFDIR);
		}
		if (rc == 0 && !last && stat(prefix, &st) == 0 &&
		    (!v || cdp_view_getattr(v, fid, &va) < 0 || !attr_same(&va, &st))) {
			cdp_attr_from_stat(&st, &a);
			rc = cdp_op_attr(op, fid, &a, NULL);
		}
		parent = fid;
	}
out:
	cap_op_finish(r, op, rc);
	op = NULL;
	free(path);
	cdp_view_free(v);
	if (rc == 0)
		rc = cdp_journal_root_ready(r->journal, r->root_id, r->root_fid);
	return rc;
}

/* Syncs every directory queued (and those they queue); frees the queue. */
static int run_queue(struct walk *w)
{
	struct cap_root *r = w->r;
	struct walk_dir *d;
	int rc = 0;

	while (rc == 0 && (d = w->head)) {
		int drc;

		w->head = d->next;
		if (!w->head)
			w->tail = NULL;
		if (r->stopping)
			rc = -EINTR;
		drc = rc == 0 ? sync_dir(w, d) : 0;
		if (drc < 0) {
			w->errors++;
			cdp_log(LOG_WARNING, "baseline of '%s': directory '%s': %s", r->path,
				d->relpath, cdp_strerror(drc));
			if (drc == -ENOMEM)
				rc = drc;
		}
		free(d->relpath);
		free(d);
	}
	while ((d = w->head)) {
		w->head = d->next;
		free(d->relpath);
		free(d);
	}
	w->tail = NULL;
	return rc;
}

int cap_sync_tree(struct cap_root *r, char *err, size_t errlen)
{
	struct walk w;
	struct cdp_op *op;
	struct stat st;
	int rc;

	if (!r->journal)
		return 0;
	memset(&w, 0, sizeof(w));
	w.r = r;
	w.block = malloc(r->block_size);
	if (!w.block) {
		snprintf(err, errlen, "cdpfs: out of memory for the baseline of '%s'", r->path);
		return -ENOMEM;
	}
	if (cdp_view_open(r->store, r->host, CDP_TS_LATEST, &w.view) < 0)
		w.view = NULL;

	/* The root directory itself. */
	rc = cap_fid_of(r, &r->root_node, r->root_ino, &r->root_fh, NULL, &r->root_fid);
	if (rc < 0 || !r->root_fid) {
		snprintf(err, errlen, "cdpfs: cannot record '%s' in the store: %s", r->path,
			 cdp_strerror(rc));
		goto out;
	}
	if (fstat(r->root_fd, &st) == 0 && (op = cap_op_start(r))) {
		int jrc = sync_inode(&w, op, r->root_fid, r->root_fd, &st);

		cap_op_finish(r, op, jrc < 0 ? jrc : 0);
	}
	rc = enqueue_dir(&w, &r->root_fh, r->root_fid, NULL, NULL);
	if (rc == 0)
		rc = run_queue(&w);
	progress(&w, 1);
	cdp_view_free(w.view);
	w.view = NULL;
	if (rc < 0) {
		snprintf(err, errlen, "cdpfs: baseline of '%s' failed: %s", r->path,
			 cdp_strerror(rc));
		goto out;
	}
	rc = cdp_journal_sync(r->journal);
	if (rc == 0)
		rc = link_root(r);
	if (rc < 0) {
		snprintf(err, errlen, "cdpfs: cannot complete the baseline of '%s': %s", r->path,
			 cdp_strerror(rc));
		goto out;
	}
	cdp_log(LOG_INFO, "'%s' protected: %llu files, %llu MiB walked, %llu errors", r->path,
		(unsigned long long)w.files, (unsigned long long)(w.bytes >> 20),
		(unsigned long long)w.errors);
out:
	cdp_view_free(w.view);
	free(w.block);
	return rc;
}

/* The fid the history knows for directory dfd of r: 0 and *fid, or
 * -ENOENT when it is new to the history. */
static int known_dir_fid(struct cap_root *r, int dfd, uint64_t *ino, uint64_t *fid)
{
	struct stat st;
	int rc;

	if (fstat(dfd, &st) < 0)
		return -errno;
	*ino = st.st_ino;
	if (st.st_ino == r->root_ino) {
		*fid = r->root_fid;
		return 0;
	}
	rc = cdp_journal_imap_get(r->journal, r->root_id, st.st_ino, fid, NULL, NULL);
	return rc == 0 && !*fid ? -ENOENT : rc;
}

/* The attributes and xattrs of directory dfd (fid dfid, inode dino). */
static int sync_dir_self(struct walk *w, int dfd, uint64_t dino, uint64_t dfid)
{
	unsigned held[CAP_MAX_LOCKS];
	struct cdp_op *op;
	struct stat st;
	int nheld, rc = 0;

	cap_lock_inos(w->r, &dino, 1, held, &nheld);
	op = cap_op_start(w->r);
	if (op && fstat(dfd, &st) == 0) {
		rc = sync_inode(w, op, dfid, dfd, &st);
		if (rc > 0)
			rc = 0;
	}
	walk_finish(w, op, rc);
	cap_unlock(w->r, held, nheld);
	return rc;
}

#define LATE_MAX_DEPTH 256

int cap_sync_late(struct cap_root *r, const struct cap_handle *dfh, const char *relpath,
		  const char *name, int what, uint64_t *changes)
{
	struct walk w;
	struct walk_dir d;
	char *rel = NULL, *slash, child[NAME_MAX + 1];
	uint64_t dino = 0, dfid = 0;
	int dfd = -1, rc, depth;

	if (!r->journal)
		return 0;
	memset(&w, 0, sizeof(w));
	w.r = r;
	w.shallow = what != CAP_LATE_ALL;
	w.block = malloc(r->block_size);
	rel = strdup(relpath ? relpath : ".");
	if (!w.block || !rel) {
		rc = -ENOMEM;
		goto out;
	}
	if (cdp_view_open(r->store, r->host, CDP_TS_LATEST, &w.view) < 0)
		w.view = NULL;
	if (what == CAP_LATE_ALL) {
		rc = enqueue_dir(&w, &r->root_fh, r->root_fid, NULL, NULL);
		if (rc == 0)
			rc = run_queue(&w);
		goto out;
	}
	if (strcmp(rel, ".") == 0) {
		dfd = openat(r->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			dfd = -errno;
	} else {
		dfd = cap_handle_open(r, dfh, O_RDONLY | O_DIRECTORY);
	}
	if (dfd < 0) {
		rc = dfd;
		/* gone meanwhile: its parent's names say so */
		if (rc != -ENOENT && rc != -ESTALE)
			goto out;
		dfd = -1;
		what = CAP_LATE_DIR;
		name = NULL;
		slash = strrchr(rel, '/');
		if (slash)
			*slash = '\0';
		else
			snprintf(rel, strlen(rel) + 1, ".");
		dfd = strcmp(rel, ".") == 0 ? openat(r->root_fd, ".", O_RDONLY | O_DIRECTORY |
						     O_CLOEXEC) :
			openat(r->root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0) {
			rc = errno == ENOENT ? 0 : -errno;
			goto out;
		}
	}
	/* A directory new to the history (made outside the mount) is taken in
	 * as an entry of its nearest known ancestor, and walked whole. */
	for (depth = 0;; depth++) {
		int pfd;

		rc = known_dir_fid(r, dfd, &dino, &dfid);
		if (rc != -ENOENT || depth >= LATE_MAX_DEPTH || strcmp(rel, ".") == 0)
			break;
		slash = strrchr(rel, '/');
		snprintf(child, sizeof(child), "%s", slash ? slash + 1 : rel);
		if (slash)
			*slash = '\0';
		else
			snprintf(rel, strlen(rel) + 1, ".");
		pfd = openat(dfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(dfd);
		dfd = pfd;
		if (dfd < 0) {
			rc = -errno;
			goto out;
		}
		what = CAP_LATE_ENTRY;
		name = child;
	}
	if (rc < 0)
		goto out;
	if (what == CAP_LATE_ENTRY) {
		rc = sync_entry(&w, dfd, dino, dfid, rel, name);
		if (rc == 0)
			rc = sync_dir_self(&w, dfd, dino, dfid);
	} else {
		memset(&d, 0, sizeof(d));
		if (cap_handle_at(r, dfd, "", &d.fh) < 0)
			d.fh.type = -1;
		d.fid = dfid;
		d.relpath = rel;
		rc = sync_dir(&w, &d);
	}
	if (rc == 0)
		rc = run_queue(&w);
out:
	*changes = w.changes;
	if (dfd >= 0)
		close(dfd);
	cdp_view_free(w.view);
	free(w.block);
	free(rel);
	return rc;
}
