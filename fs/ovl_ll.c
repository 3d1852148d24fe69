/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ovl_ll.c - the FUSE low-level glue of a writable overlay (-o rw): turns
 * kernel requests into cdp_overlay calls and errors into replies.  All the
 * copy-on-write rules live in store/overlay.c; this file only translates.
 *
 * Node ids are object ids (base fids, or overlay ids at or above
 * CDP_OVL_FIRST_NEW_ID), except that the mount's root travels as
 * FUSE_ROOT_ID.  No node table is kept: any id can be asked of the overlay
 * at any time, so forget() is a no-op.  Permissions are the kernel's
 * (default_permissions), as on a local filesystem.  Directory handles hold
 * the listing taken at the first read (and again at a rewind), so a directory
 * changed while it is read is listed as it was when the stream began, with
 * no entry twice or lost.  File handles opened for writing are counted
 * per object (fs->writers), so that SEEK_DATA/SEEK_HOLE answer from the
 * overlay only when no page of the file can be dirty in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs/fs_int.h"
#include "util/util.h"

static struct cdp_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static uint64_t id_of(const struct cdp_fs *fs, fuse_ino_t ino)
{
	return cdp_fs_id_of(fs, ino);
}

static fuse_ino_t ino_of(const struct cdp_fs *fs, uint64_t id)
{
	return (fuse_ino_t)cdp_fs_ino_of(fs, id);
}

static void reply_err(fuse_req_t req, int err)
{
	fuse_reply_err(req, cdp_fs_errno(err));
}

static void make_entry(struct cdp_fs *fs, uint64_t id, const struct cdp_attr *a,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_of(fs, id);
	e->generation = 0;   /* ids are never reused */
	cdp_fs_attr_to_stat(fs, id, a, &e->attr);
	e->attr_timeout = CDP_FS_OVL_TIMEOUT_S;
	e->entry_timeout = CDP_FS_OVL_TIMEOUT_S;
}

static void reply_entry(fuse_req_t req, int err, uint64_t id, const struct cdp_attr *a)
{
	struct cdp_fs *fs = fs_of(req);
	struct fuse_entry_param e;

	if (err < 0) {
		reply_err(req, err);
		return;
	}
	make_entry(fs, id, a, &e);
	fuse_reply_entry(req, &e);
}

static void reply_attr(fuse_req_t req, uint64_t id, const struct cdp_attr *a)
{
	struct stat st;

	cdp_fs_attr_to_stat(fs_of(req), id, a, &st);
	fuse_reply_attr(req, &st, CDP_FS_OVL_TIMEOUT_S);
}

static void ctx_of(fuse_req_t req, struct cdp_ovl_ctx *ctx)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	ctx->uid = c->uid;
	ctx->gid = c->gid;
}

/* ------------------------------------------------------------ writers */

struct cdp_fs_writer {
	uint64_t id;
	unsigned handles;
	struct cdp_fs_writer *next;
};

static struct cdp_fs_writer **writer_slot(struct cdp_fs_writers *w, uint64_t id)
{
	struct cdp_fs_writer **p = &w->bucket[id % CDP_FS_WRITER_BUCKETS];

	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

/* One more handle of id open for writing; -ENOMEM. */
static int writer_add(struct cdp_fs *fs, uint64_t id)
{
	struct cdp_fs_writer **p, *n;
	int ret = 0;

	pthread_mutex_lock(&fs->writers.lock);
	p = writer_slot(&fs->writers, id);
	if (*p) {
		(*p)->handles++;
	} else if ((n = calloc(1, sizeof(*n)))) {
		n->id = id;
		n->handles = 1;
		*p = n;
	} else {
		ret = -ENOMEM;
	}
	pthread_mutex_unlock(&fs->writers.lock);
	return ret;
}

static void writer_drop(struct cdp_fs *fs, uint64_t id)
{
	struct cdp_fs_writer **p, *n;

	pthread_mutex_lock(&fs->writers.lock);
	p = writer_slot(&fs->writers, id);
	if (*p && --(*p)->handles == 0) {
		n = *p;
		*p = n->next;
		free(n);
	}
	pthread_mutex_unlock(&fs->writers.lock);
}

static int writer_open(struct cdp_fs *fs, uint64_t id)
{
	int open;

	pthread_mutex_lock(&fs->writers.lock);
	open = *writer_slot(&fs->writers, id) != NULL;
	pthread_mutex_unlock(&fs->writers.lock);
	return open;
}

/* A handle opened with fi->flags counts as a writer: marks it in fi->fh
 * (1) for release.  -ENOMEM. */
static int handle_opened(struct cdp_fs *fs, uint64_t id, struct fuse_file_info *fi)
{
	int ret;

	fi->fh = 0;
	if ((fi->flags & O_ACCMODE) == O_RDONLY)
		return 0;
	ret = writer_add(fs, id);
	if (ret == 0)
		fi->fh = 1;
	return ret;
}

static void handle_closed(struct cdp_fs *fs, uint64_t id, struct fuse_file_info *fi)
{
	if (fi->fh == 1)
		writer_drop(fs, id);
	fi->fh = 0;
}

/* ------------------------------------------------------------ session */

static void ovl_init(void *userdata, struct fuse_conn_info *conn)
{
	struct cdp_fs *fs = userdata;

	pthread_mutex_init(&fs->writers.lock, NULL);
	memset(fs->writers.bucket, 0, sizeof(fs->writers.bucket));
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Every change comes through the kernel: its page cache stays right. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	/* No writeback cache: a write is in the overlay when write(2)
	 * returns, and fsync means what it says. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* open(O_TRUNC) as a separate setattr of the size, which truncates
	 * through the same path as truncate(2) (libfuse asks for atomic
	 * O_TRUNC by default, and open would then have to truncate). */
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	conn->max_write = CDP_FS_MAX_READ_BYTES;
	conn->max_readahead = CDP_FS_MAX_READ_BYTES;
	conn->max_read = CDP_FS_MAX_READ_BYTES;
	conn->time_gran = 1;
}

static void ovl_destroy(void *userdata)
{
	struct cdp_fs *fs = userdata;
	struct cdp_fs_writer *n;
	size_t i;

	for (i = 0; i < CDP_FS_WRITER_BUCKETS; i++)
		while ((n = fs->writers.bucket[i])) {
			fs->writers.bucket[i] = n->next;
			free(n);
		}
	pthread_mutex_destroy(&fs->writers.lock);
}

/* ------------------------------------------------------ names, attrs */

static void ovl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cdp_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct cdp_attr a;
	uint64_t child;
	int err;

	err = cdp_overlay_lookup(fs->ovl, id_of(fs, parent), name, &child, &a);
	if (err == -ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = CDP_FS_OVL_TIMEOUT_S;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, err, child, &a);
}

static void ovl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	uint64_t id = id_of(fs, ino);
	struct cdp_attr a;
	int err;

	(void)fi;
	err = cdp_overlay_getattr(fs->ovl, id, &a);
	if (err < 0)
		reply_err(req, err);
	else
		reply_attr(req, id, &a);
}

static void ovl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	uint64_t id = id_of(fs, ino);
	struct cdp_attr a, out;
	unsigned set = 0;
	int err;

	(void)fi;
	memset(&a, 0, sizeof(a));
	if (to_set & FUSE_SET_ATTR_MODE) {
		set |= CDP_OVL_SET_MODE;
		a.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		set |= CDP_OVL_SET_UID;
		a.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		set |= CDP_OVL_SET_GID;
		a.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		set |= CDP_OVL_SET_SIZE;
		a.size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		set |= CDP_OVL_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		set |= CDP_OVL_SET_ATIME;
		a.atime_ns = (int64_t)attr->st_atim.tv_sec * 1000000000LL + attr->st_atim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		set |= CDP_OVL_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		set |= CDP_OVL_SET_MTIME;
		a.mtime_ns = (int64_t)attr->st_mtim.tv_sec * 1000000000LL + attr->st_mtim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		set |= CDP_OVL_SET_CTIME;
		a.ctime_ns = (int64_t)attr->st_ctim.tv_sec * 1000000000LL + attr->st_ctim.tv_nsec;
	}
	err = cdp_overlay_setattr(fs->ovl, id, &a, set, &out);
	if (err < 0)
		reply_err(req, err);
	else
		reply_attr(req, id, &out);
}

static void ovl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cdp_fs *fs = fs_of(req);
	char buf[PATH_MAX + 1];
	ssize_t n;

	n = cdp_overlay_readlink(fs->ovl, id_of(fs, ino), buf, sizeof(buf));
	if (n < 0) {
		reply_err(req, (int)n);
		return;
	}
	buf[(size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1] = '\0';
	fuse_reply_readlink(req, buf);
}

static void ovl_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	struct cdp_fs *fs = fs_of(req);
	struct cdp_ovl_ctx ctx;
	struct cdp_attr a;
	uint64_t id = 0;
	int err;

	ctx_of(req, &ctx);
	err = cdp_overlay_mknod(fs->ovl, &ctx, id_of(fs, parent), name, mode, rdev, &id, &a);
	reply_entry(req, err, id, &a);
}

static void ovl_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	ovl_mknod(req, parent, name, S_IFDIR | (mode & 07777), 0);
}

static void ovl_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct cdp_fs *fs = fs_of(req);
	struct cdp_ovl_ctx ctx;
	struct cdp_attr a;
	uint64_t id = 0;
	int err;

	ctx_of(req, &ctx);
	err = cdp_overlay_symlink(fs->ovl, &ctx, id_of(fs, parent), name, link, &id, &a);
	reply_entry(req, err, id, &a);
}

static void ovl_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct cdp_fs *fs = fs_of(req);
	uint64_t id = id_of(fs, ino);
	struct cdp_attr a;
	int err;

	err = cdp_overlay_link(fs->ovl, id, id_of(fs, newparent), newname, &a);
	reply_entry(req, err, id, &a);
}

static void ovl_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cdp_fs *fs = fs_of(req);

	fuse_reply_err(req, cdp_fs_errno(cdp_overlay_unlink(fs->ovl, id_of(fs, parent), name)));
}

static void ovl_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cdp_fs *fs = fs_of(req);

	fuse_reply_err(req, cdp_fs_errno(cdp_overlay_rmdir(fs->ovl, id_of(fs, parent), name)));
}

static void ovl_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	struct cdp_fs *fs = fs_of(req);
	struct cdp_ovl_ctx ctx;
	int err;

	ctx_of(req, &ctx);
	err = cdp_overlay_rename(fs->ovl, &ctx, id_of(fs, parent), name, id_of(fs, newparent),
				 newname, flags);
	fuse_reply_err(req, cdp_fs_errno(err));
}

/* ---------------------------------------------------------------- files */

static void ovl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	uint64_t id = id_of(fs, ino);
	struct cdp_attr a;
	int err;

	err = cdp_overlay_getattr(fs->ovl, id, &a);
	if (err == 0 && S_ISDIR(a.mode))
		err = -EISDIR;
	if (err == 0)
		err = handle_opened(fs, id, fi);
	if (err < 0) {
		reply_err(req, err);
		return;
	}
	/* O_TRUNC arrives as a setattr of the size (no atomic_o_trunc). */
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		handle_closed(fs, id, fi);   /* interrupted: no release follows */
}

static void ovl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct cdp_ovl_ctx ctx;
	struct cdp_attr a;
	uint64_t id;
	int err;

	ctx_of(req, &ctx);
	err = cdp_overlay_mknod(fs->ovl, &ctx, id_of(fs, parent), name,
				S_IFREG | (mode & 07777), 0, &id, &a);
	if (err == 0)
		err = handle_opened(fs, id, fi);
	if (err < 0) {
		reply_err(req, err);
		return;
	}
	make_entry(fs, id, &a, &e);
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		handle_closed(fs, id, fi);
}

struct read_query {
	struct cdp_fs *fs;
	uint64_t id;
};

static ssize_t read_query_fn(void *arg, void *buf, size_t size, uint64_t off)
{
	struct read_query *q = arg;
	ssize_t n = cdp_overlay_read(q->fs->ovl, q->id, buf, size, off);

	if (n == -EIO || -n >= CDP_ECORRUPT)
		cdp_fs_note_read_error(q->id);
	return n;
}

static void ovl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct read_query q = { fs_of(req), id_of(fs_of(req), ino) };

	(void)fi;
	cdp_fs_reply_read(req, size, off, read_query_fn, &q);
}

static int overlay_seek(void *arg, uint64_t id, uint64_t off, int data, uint64_t *pos)
{
	struct cdp_fs *fs = arg;
	struct cdp_attr a;
	int ret;

	if (!writer_open(fs, id))
		return cdp_overlay_seek(fs->ovl, id, off, data, pos);
	/* pages written through a shared mapping may not have reached the
	 * overlay yet (the kernel writes them back at msync, close or
	 * munmap, not before FUSE_LSEEK): all data, as the kernel's default,
	 * rather than a hole over bytes not yet seen */
	ret = cdp_overlay_getattr(fs->ovl, id, &a);
	if (ret == 0 && off >= a.size)
		ret = -ENXIO;
	if (ret == 0)
		*pos = data ? off : a.size;
	return ret;
}

/* SEEK_DATA and SEEK_HOLE from the overlay's block states and the base's
 * index, so that cp, tar and rsync skip holes. */
static void ovl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);

	(void)fi;
	cdp_fs_reply_seek(req, id_of(fs, ino), off, whence, overlay_seek, fs);
}

static void ovl_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	ssize_t n;

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	n = cdp_overlay_write(fs->ovl, id_of(fs, ino), buf, size, (uint64_t)off);
	if (n < 0)
		reply_err(req, (int)n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void ovl_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void ovl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);

	handle_closed(fs, id_of(fs, ino), fi);
	fuse_reply_err(req, 0);
}

static void ovl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);

	(void)datasync;
	(void)fi;
	fuse_reply_err(req, cdp_fs_errno(cdp_overlay_fsync(fs->ovl, id_of(fs, ino))));
}

static void ovl_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			  struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	int err;

	(void)fi;
	if (offset < 0 || length <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	err = cdp_overlay_fallocate(fs->ovl, id_of(fs, ino), mode, (uint64_t)offset,
				    (uint64_t)length);
	fuse_reply_err(req, cdp_fs_errno(err));
}

/* ---------------------------------------------------------- directories */

struct dir_ent {
	char *name;
	uint64_t id;
	uint32_t type;
};

/* The listing of one directory stream; offsets handed to the kernel are
 * 1 for ".", 2 for "..", n + 2 for the n-th entry (1-based). */
struct dir_snap {
	uint64_t id;
	int taken;          /* the listing below was taken */
	size_t n, cap;
	struct dir_ent *ents;
};

static void snap_clear(struct dir_snap *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	d->ents = NULL;
	d->n = d->cap = 0;
}

static int snap_cb(void *arg, const char *name, uint64_t id, uint32_t type)
{
	struct dir_snap *d = arg;

	if (d->n == d->cap) {
		struct dir_ent *n = cdp_array_grow(d->ents, &d->cap, d->n, sizeof(*n), 32);

		if (!n)
			return -ENOMEM;
		d->ents = n;
	}
	d->ents[d->n].name = strdup(name);
	if (!d->ents[d->n].name)
		return -ENOMEM;
	d->ents[d->n].id = id;
	d->ents[d->n].type = type;
	d->n++;
	return 0;
}

static int snap_take(struct cdp_fs *fs, struct dir_snap *d)
{
	int ret;

	snap_clear(d);
	ret = cdp_overlay_readdir(fs->ovl, d->id, snap_cb, d);
	if (ret < 0)
		snap_clear(d);
	d->taken = ret >= 0;
	return ret < 0 ? ret : 0;
}

static void ovl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	struct dir_snap *d = calloc(1, sizeof(*d));
	struct cdp_attr a;
	int err;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->id = id_of(fs, ino);
	err = cdp_overlay_getattr(fs->ovl, d->id, &a);
	if (err == 0 && !S_ISDIR(a.mode))
		err = -ENOTDIR;
	if (err < 0) {
		free(d);
		reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		snap_clear(d);
		free(d);
	}
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		       int plus)
{
	struct cdp_fs *fs = fs_of(req);
	struct dir_snap *d = (struct dir_snap *)(uintptr_t)fi->fh;
	size_t used = 0;
	char *buf;
	off_t i;
	int err;

	if ((off == 0 || !d->taken) && (err = snap_take(fs, d)) < 0) {
		/* the listing is taken at the first read and again at a rewind,
		 * which sees the directory as it is now */
		reply_err(req, err);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (i = off < 0 ? 0 : off; i < (off_t)d->n + 2; i++) {
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->ents[i - 2].name;
		uint64_t id = i < 2 ? d->id : d->ents[i - 2].id;
		size_t len, room = size - used;

		if (plus) {
			struct fuse_entry_param e;
			struct cdp_attr a;

			memset(&e, 0, sizeof(e));
			if (i < 2) {
				e.attr.st_ino = (ino_t)id;
				e.attr.st_mode = S_IFDIR;
			} else if (cdp_overlay_getattr(fs->ovl, id, &a) == 0) {
				make_entry(fs, id, &a, &e);
			} else {
				continue;   /* gone since the listing was taken */
			}
			len = fuse_add_direntry_plus(req, buf + used, room, name, &e, i + 1);
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = (ino_t)id;
			st.st_mode = i < 2 ? S_IFDIR : d->ents[i - 2].type & S_IFMT;
			len = fuse_add_direntry(req, buf + used, room, name, &st, i + 1);
		}
		if (len > room)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void ovl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, 0);
}

static void ovl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, 1);
}

static void ovl_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_snap *d = (struct dir_snap *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		snap_clear(d);
		free(d);
	}
	fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------- xattrs */

struct xattr_query {
	struct cdp_fs *fs;
	uint64_t id;
	const char *name;   /* NULL: list */
};

static ssize_t xattr_query_fn(void *arg, void *buf, size_t size)
{
	struct xattr_query *q = arg;

	if (q->name)
		return cdp_overlay_getxattr(q->fs->ovl, q->id, q->name, buf, size);
	return cdp_overlay_listxattr(q->fs->ovl, q->id, buf, size);
}

static void ovl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct xattr_query q = { fs_of(req), id_of(fs_of(req), ino), name };

	cdp_fs_reply_xattr(req, size, xattr_query_fn, &q);
}

static void ovl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct xattr_query q = { fs_of(req), id_of(fs_of(req), ino), NULL };

	cdp_fs_reply_xattr(req, size, xattr_query_fn, &q);
}

static void ovl_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	struct cdp_fs *fs = fs_of(req);
	int err;

	err = cdp_overlay_setxattr(fs->ovl, id_of(fs, ino), name, value, size, flags);
	fuse_reply_err(req, cdp_fs_errno(err));
}

static void ovl_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct cdp_fs *fs = fs_of(req);

	fuse_reply_err(req, cdp_fs_errno(cdp_overlay_removexattr(fs->ovl, id_of(fs, ino), name)));
}

/* ------------------------------------------------------------- statfs */

static void ovl_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cdp_fs *fs = fs_of(req);
	struct statvfs disk, sv;

	(void)ino;
	/* The overlay can grow as far as its disk lets it, in the blocks of
	 * that disk (where new data really lives): report that disk. */
	memset(&sv, 0, sizeof(sv));
	if (cdp_overlay_statvfs(fs->ovl, &disk) == 0 && disk.f_frsize) {
		sv.f_bsize = disk.f_bsize;
		sv.f_frsize = disk.f_frsize;
		sv.f_blocks = disk.f_blocks;
		sv.f_bfree = disk.f_bfree;
		sv.f_bavail = disk.f_bavail;
	} else {
		sv.f_bsize = sv.f_frsize = fs->io_blksize;
	}
	sv.f_files = 1ULL << 32;
	sv.f_ffree = 1ULL << 31;
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops cdp_fs_ovl_ops = {
	.init = ovl_init,
	.destroy = ovl_destroy,
	.lookup = ovl_lookup,
	.forget = cdp_fs_forget,
	.forget_multi = cdp_fs_forget_multi,
	.getattr = ovl_getattr,
	.setattr = ovl_setattr,
	.readlink = ovl_readlink,
	.mknod = ovl_mknod,
	.mkdir = ovl_mkdir,
	.unlink = ovl_unlink,
	.rmdir = ovl_rmdir,
	.symlink = ovl_symlink,
	.rename = ovl_rename,
	.link = ovl_link,
	.open = ovl_open,
	.create = ovl_create,
	.read = ovl_read,
	.lseek = ovl_lseek,
	.write = ovl_write,
	.flush = ovl_flush,
	.release = ovl_release,
	.fsync = ovl_fsync,
	.opendir = ovl_opendir,
	.readdir = ovl_readdir,
	.readdirplus = ovl_readdirplus,
	.releasedir = ovl_releasedir,
	.fsyncdir = ovl_fsync,   /* syncs everything: the directory too */
	.statfs = ovl_statfs,
	.setxattr = ovl_setxattr,
	.getxattr = ovl_getxattr,
	.listxattr = ovl_listxattr,
	.removexattr = ovl_removexattr,
	.fallocate = ovl_fallocate,
};
