/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ll.c - the FUSE low-level glue of the time-travel mount: turns kernel
 * requests into cdp_view calls on the one view of the mount, and errors into
 * replies.  Everything is read-only: every call that would change anything
 * replies EROFS (the mount is also flagged ro, so most never arrive).
 *
 * Node ids are fids, except that the mount's root fid is FUSE_ROOT_ID; st_ino
 * is always the fid, so hard links share an inode number.  No node table is
 * kept: lookup counts need no bookkeeping because any fid can be resolved
 * again from the view at any time.  Directory handles carry a cursor (the
 * last name returned) so that a long listing resumes with one seek instead of
 * rescanning from the first entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs/fs_int.h"

static struct cdp_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static uint64_t ino_to_fid(const struct cdp_fs *fs, fuse_ino_t ino)
{
	return cdp_fs_id_of(fs, ino);
}

static fuse_ino_t fid_to_ino(const struct cdp_fs *fs, uint64_t fid)
{
	return (fuse_ino_t)cdp_fs_ino_of(fs, fid);
}

/* Read errors this mount met: every EIO reply, and the first files whose
 * reads failed; protected by read_errors_lock. */
static pthread_mutex_t read_errors_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t read_errors;
static uint64_t read_error_fids[CDP_FS_READ_ERROR_FIDS];
static size_t nread_error_fids;

/* Store errors that are not errnos become EIO for the kernel. */
int cdp_fs_errno(int err)
{
	if (err >= 0)
		return 0;
	if (-err >= CDP_ECORRUPT || err == -EIO) {
		pthread_mutex_lock(&read_errors_lock);
		read_errors++;
		pthread_mutex_unlock(&read_errors_lock);
		return EIO;
	}
	return -err;
}

void cdp_fs_note_read_error(uint64_t fid)
{
	size_t i;

	pthread_mutex_lock(&read_errors_lock);
	for (i = 0; i < nread_error_fids && read_error_fids[i] != fid; i++)
		;
	if (i == nread_error_fids && i < CDP_FS_READ_ERROR_FIDS)
		read_error_fids[nread_error_fids++] = fid;
	pthread_mutex_unlock(&read_errors_lock);
}

void cdp_fs_log_read_errors(void)
{
	char files[CDP_FS_READ_ERROR_FIDS * 21 + 1] = "";
	size_t i, n = 0;

	pthread_mutex_lock(&read_errors_lock);
	for (i = 0; i < nread_error_fids; i++)
		n += (size_t)snprintf(files + n, sizeof(files) - n, "%s%llu", i ? " " : "",
				      (unsigned long long)read_error_fids[i]);
	if (read_errors)
		cdp_log(LOG_ERR, CDP_FS_READ_ERRORS_LINE " %llu; files: %s",
			(unsigned long long)read_errors, files[0] ? files : "-");
	pthread_mutex_unlock(&read_errors_lock);
}

static void ts_from_ns(struct timespec *ts, int64_t ns)
{
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	if (ts->tv_nsec < 0) {
		ts->tv_nsec += 1000000000;
		ts->tv_sec--;
	}
}

void cdp_fs_attr_to_stat(const struct cdp_fs *fs, uint64_t fid, const struct cdp_attr *a,
			 struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = fid;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	/* what a file on the disk beneath (the store's, or the overlay's)
	 * would say, not the store's block size: no record keeps it */
	st->st_blksize = (blksize_t)fs->io_blksize;
	/* st_blocks as the filesystem reported it at the instant (an overlay
	 * counts what its changed files really hold), so du and cp's sparse
	 * detection see holes; records older than that field get the size
	 * rounded up to whole blocks of io_blksize, as a dense file. */
	if (a->blocks != CDP_BLOCKS_UNKNOWN) {
		st->st_blocks = (blkcnt_t)a->blocks;
	} else if (S_ISREG(a->mode) || S_ISDIR(a->mode) || S_ISLNK(a->mode)) {
		uint64_t bs = fs->io_blksize;
		st->st_blocks = (blkcnt_t)(((a->size + bs - 1) / bs) * (bs / 512));
	}
	ts_from_ns(&st->st_atim, a->atime_ns);
	ts_from_ns(&st->st_mtim, a->mtime_ns);
	ts_from_ns(&st->st_ctim, a->ctime_ns);
}

static int fill_entry(struct cdp_fs *fs, uint64_t fid, struct fuse_entry_param *e)
{
	struct cdp_attr a;
	int err;

	memset(e, 0, sizeof(*e));
	err = cdp_view_getattr(fs->view, fid, &a);
	if (err < 0)
		return err;
	e->ino = fid_to_ino(fs, fid);
	e->generation = 0;   /* fids are never reused */
	cdp_fs_attr_to_stat(fs, fid, &a, &e->attr);
	e->attr_timeout = CDP_FS_TIMEOUT_S;
	e->entry_timeout = CDP_FS_TIMEOUT_S;
	return 0;
}

/* ------------------------------------------------------------ session */

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* POSIX ACLs (system.posix_acl_* xattrs) are enforced by the kernel,
	 * as on the filesystem they were captured from */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	/* Nothing changes behind the kernel's back: let it keep the page
	 * cache across opens and never ask for attributes again. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	/* max_write sizes libfuse's buffers and the kernel's max_pages, which
	 * bounds reads as well. */
	conn->max_write = CDP_FS_MAX_READ_BYTES;
	conn->max_readahead = CDP_FS_MAX_READ_BYTES;
	conn->max_read = CDP_FS_MAX_READ_BYTES;   /* must match max_read= */
	conn->time_gran = 1;
}

/* ------------------------------------------------------ names, attrs */

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cdp_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	uint64_t child;
	uint32_t type;
	int err;

	err = cdp_view_lookup(fs->view, ino_to_fid(fs, parent), name, &child, &type);
	if (err == -ENOENT) {
		/* A negative entry is as permanent as a positive one. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = CDP_FS_TIMEOUT_S;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err == 0)
		err = fill_entry(fs, child, &e);
	if (err < 0) {
		fuse_reply_err(req, cdp_fs_errno(err));
		return;
	}
	fuse_reply_entry(req, &e);
}

void cdp_fs_forget(fuse_req_t req, uint64_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

void cdp_fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	uint64_t fid = ino_to_fid(fs, ino);
	struct cdp_attr a;
	struct stat st;
	int err;

	(void)fi;
	err = cdp_view_getattr(fs->view, fid, &a);
	if (err < 0) {
		fuse_reply_err(req, cdp_fs_errno(err));
		return;
	}
	cdp_fs_attr_to_stat(fs, fid, &a, &st);
	fuse_reply_attr(req, &st, CDP_FS_TIMEOUT_S);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cdp_fs *fs = fs_of(req);
	char buf[PATH_MAX + 1];
	ssize_t n;

	n = cdp_view_readlink(fs->view, ino_to_fid(fs, ino), buf, sizeof(buf));
	if (n < 0) {
		fuse_reply_err(req, cdp_fs_errno((int)n));
		return;
	}
	buf[(size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1] = '\0';
	fuse_reply_readlink(req, buf);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct cdp_fs *fs = fs_of(req);
	struct cdp_attr a;
	int err;

	err = cdp_view_getattr(fs->view, ino_to_fid(fs, ino), &a);
	if (err < 0) {
		fuse_reply_err(req, cdp_fs_errno(err));
		return;
	}
	/* Permission bits are checked by the kernel (default_permissions);
	 * only the read-only nature of the past is decided here. */
	fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

/* ---------------------------------------------------------------- files */

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	struct cdp_attr a;
	int err;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = cdp_view_getattr(fs->view, ino_to_fid(fs, ino), &a);
	if (err < 0) {
		fuse_reply_err(req, cdp_fs_errno(err));
		return;
	}
	if (S_ISDIR(a.mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->keep_cache = 1;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

static int view_seek(void *arg, uint64_t fid, uint64_t off, int data, uint64_t *pos)
{
	return cdp_view_seek(((struct cdp_fs *)arg)->view, fid, off, data, pos);
}

/* SEEK_DATA and SEEK_HOLE from the block index, so that cp, tar and rsync
 * skip the holes of a sparse file instead of reading them. */
static void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);

	(void)fi;
	cdp_fs_reply_seek(req, ino_to_fid(fs, ino), off, whence, view_seek, fs);
}

void cdp_fs_reply_seek(fuse_req_t req, uint64_t id, off_t off, int whence,
		       int (*seek)(void *arg, uint64_t id, uint64_t off, int data, uint64_t *pos),
		       void *arg)
{
	uint64_t pos;
	int ret;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	ret = seek(arg, id, (uint64_t)off, whence == SEEK_DATA, &pos);
	if (ret < 0)
		fuse_reply_err(req, cdp_fs_errno(ret));
	else
		fuse_reply_lseek(req, (off_t)pos);
}

void cdp_fs_reply_read(fuse_req_t req, size_t size, off_t off,
		       ssize_t (*read)(void *arg, void *buf, size_t size, uint64_t off),
		       void *arg)
{
	ssize_t n;
	char *buf;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > CDP_FS_MAX_READ_BYTES)
		size = CDP_FS_MAX_READ_BYTES;
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = read(arg, buf, size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, cdp_fs_errno((int)n));
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

struct read_query {
	struct cdp_fs *fs;
	uint64_t fid;
};

static ssize_t read_query_fn(void *arg, void *buf, size_t size, uint64_t off)
{
	struct read_query *q = arg;
	ssize_t n = cdp_view_read(q->fs->view, q->fid, buf, size, off);

	if (n == -EIO || -n >= CDP_ECORRUPT)
		cdp_fs_note_read_error(q->fid);
	return n;
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct read_query q = { fs_of(req), ino_to_fid(fs_of(req), ino) };

	(void)fi;
	cdp_fs_reply_read(req, size, off, read_query_fn, &q);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* ---------------------------------------------------------- directories */

/*
 * A directory stream.  Offsets handed to the kernel are 1 for ".", 2 for
 * "..", and n + 2 for the n-th real entry (1-based).  next_off is the offset
 * the next entry will carry and last_name the entry before it, so a readdir
 * at next_off resumes with one seek.  Any other offset (a seekdir back) is
 * served by counting from the start.  protected by lock.
 */
struct dir_handle {
	pthread_mutex_t lock;
	uint64_t fid;
	off_t next_off;
	char *last_name;     /* heap; NULL before the first real entry */
};

struct dir_fill {
	struct cdp_fs *fs;
	fuse_req_t req;
	struct dir_handle *dh;
	int plus;
	char *buf;
	size_t size, used;
	off_t skip;          /* entries still to skip (seek back) */
	int full;
	int err;
};

static int dir_add(struct dir_fill *f, const char *name, fuse_ino_t ino, uint64_t fid,
		   uint32_t type, off_t next_off)
{
	size_t room = f->size - f->used;
	size_t len;

	if (f->plus) {
		struct fuse_entry_param e;

		if (fid == 0) {
			/* "." and ".." in readdirplus carry no lookup. */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = ino;
			e.attr.st_mode = type;
		} else {
			int err = fill_entry(f->fs, fid, &e);

			if (err < 0) {
				f->err = err;
				return 1;
			}
		}
		len = fuse_add_direntry_plus(f->req, f->buf + f->used, room, name, &e, next_off);
	} else {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = ino;
		st.st_mode = type;
		len = fuse_add_direntry(f->req, f->buf + f->used, room, name, &st, next_off);
	}
	if (len > room) {
		f->full = 1;
		return 1;
	}
	f->used += len;
	return 0;
}

static int dir_entry_cb(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct dir_fill *f = arg;
	struct dir_handle *dh = f->dh;
	char *copy;

	if (f->skip > 0) {
		f->skip--;
		free(dh->last_name);
		dh->last_name = strdup(name);
		dh->next_off++;
		return dh->last_name ? 0 : (f->err = -ENOMEM, 1);
	}
	copy = strdup(name);
	if (!copy) {
		f->err = -ENOMEM;
		return 1;
	}
	if (dir_add(f, name, (fuse_ino_t)fid, fid, type & S_IFMT, dh->next_off + 1)) {
		free(copy);
		return 1;
	}
	free(dh->last_name);
	dh->last_name = copy;
	dh->next_off++;
	return 0;
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cdp_fs *fs = fs_of(req);
	struct dir_handle *dh;
	struct cdp_attr a;
	int err;

	err = cdp_view_getattr(fs->view, ino_to_fid(fs, ino), &a);
	if (err < 0) {
		fuse_reply_err(req, cdp_fs_errno(err));
		return;
	}
	if (!S_ISDIR(a.mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	dh = calloc(1, sizeof(*dh));
	if (!dh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&dh->lock, NULL);
	dh->fid = ino_to_fid(fs, ino);
	fi->fh = (uint64_t)(uintptr_t)dh;
	fi->keep_cache = 1;
	fi->cache_readdir = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		pthread_mutex_destroy(&dh->lock);
		free(dh);
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;
	struct dir_fill f;
	int err = 0;

	(void)ino;   /* dh->fid is the directory; "." carries it as d_ino */
	memset(&f, 0, sizeof(f));
	f.fs = fs_of(req);
	f.req = req;
	f.dh = dh;
	f.plus = plus;
	f.size = size;
	f.buf = malloc(size ? size : 1);
	if (!f.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}

	pthread_mutex_lock(&dh->lock);
	if (off != dh->next_off || off == 0) {
		/* A fresh start or a seek: rewind, then skip up to off. */
		free(dh->last_name);
		dh->last_name = NULL;
		dh->next_off = 0;
	}
	if (dh->next_off < 1 && !f.full) {
		if (off < 1 && dir_add(&f, ".", (fuse_ino_t)dh->fid, 0, S_IFDIR, 1))
			goto out_reply;
		dh->next_off = 1;
	}
	if (dh->next_off < 2 && !f.full) {
		if (off < 2 && dir_add(&f, "..", (fuse_ino_t)dh->fid, 0, S_IFDIR, 2))
			goto out_reply;
		dh->next_off = 2;
	}
	if (off > dh->next_off)
		f.skip = off - dh->next_off;
	err = cdp_view_readdir(f.fs->view, dh->fid, dh->last_name, dir_entry_cb, &f);
	if (err > 0)
		err = 0;
out_reply:
	pthread_mutex_unlock(&dh->lock);
	if (f.err < 0 && f.used == 0)
		err = f.err;
	if (err < 0 && f.used == 0)
		fuse_reply_err(req, cdp_fs_errno(err));
	else
		fuse_reply_buf(req, f.buf, f.used);
	free(f.buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *dh = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (dh) {
		pthread_mutex_destroy(&dh->lock);
		free(dh->last_name);
		free(dh);
	}
	fuse_reply_err(req, 0);
}

/* ------------------------------------------------------------- xattrs */

void cdp_fs_reply_xattr(fuse_req_t req, size_t size,
			ssize_t (*query)(void *arg, void *buf, size_t size), void *arg)
{
	ssize_t n;
	char *buf;

	if (size == 0) {
		n = query(arg, NULL, 0);
		if (n < 0)
			fuse_reply_err(req, cdp_fs_errno((int)n));
		else
			fuse_reply_xattr(req, (size_t)n);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = query(arg, buf, size);
	if (n < 0)
		fuse_reply_err(req, cdp_fs_errno((int)n));
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

struct xattr_query {
	struct cdp_fs *fs;
	uint64_t fid;
	const char *name;   /* NULL: list */
};

static ssize_t xattr_query_fn(void *arg, void *buf, size_t size)
{
	struct xattr_query *q = arg;

	if (q->name)
		return cdp_view_getxattr(q->fs->view, q->fid, q->name, buf, size);
	return cdp_view_listxattr(q->fs->view, q->fid, buf, size);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct xattr_query q = { fs_of(req), ino_to_fid(fs_of(req), ino), name };

	cdp_fs_reply_xattr(req, size, xattr_query_fn, &q);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct xattr_query q = { fs_of(req), ino_to_fid(fs_of(req), ino), NULL };

	cdp_fs_reply_xattr(req, size, xattr_query_fn, &q);
}

/* ------------------------------------------------------------- statfs */

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cdp_fs *fs = fs_of(req);
	struct statvfs disk, sv;

	(void)ino;
	/* The size of the past is not known cheaply; report what the store's
	 * disk has in use, in that disk's blocks, and nothing free (the mount
	 * is full and read-only by nature). */
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = fs->io_blksize;
	if (statvfs(fs->store_path, &disk) == 0 && disk.f_frsize) {
		sv.f_bsize = disk.f_bsize;
		sv.f_frsize = disk.f_frsize;
		sv.f_blocks = disk.f_blocks - disk.f_bfree;
	}
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------ writes: EROFS */

static void erofs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	(void)ino; (void)attr; (void)to_set; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void erofs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			dev_t rdev)
{
	(void)parent; (void)name; (void)mode; (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void erofs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent; (void)name; (void)mode;
	fuse_reply_err(req, EROFS);
}

static void erofs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void erofs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	(void)link; (void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void erofs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent; (void)name; (void)newparent; (void)newname; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void erofs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	(void)ino; (void)newparent; (void)newname;
	fuse_reply_err(req, EROFS);
}

static void erofs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	(void)ino; (void)buf; (void)size; (void)off; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void erofs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	(void)ino; (void)name; (void)value; (void)size; (void)flags;
	fuse_reply_err(req, EROFS);
}

static void erofs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino; (void)name;
	fuse_reply_err(req, EROFS);
}

static void erofs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	(void)parent; (void)name; (void)mode; (void)fi;
	fuse_reply_err(req, EROFS);
}

static void erofs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			    off_t length, struct fuse_file_info *fi)
{
	(void)ino; (void)mode; (void)offset; (void)length; (void)fi;
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops cdp_fs_ll_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = cdp_fs_forget,
	.forget_multi = cdp_fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = erofs_setattr,
	.readlink = fs_readlink,
	.mknod = erofs_mknod,
	.mkdir = erofs_mkdir,
	.unlink = erofs_unlink,
	.rmdir = erofs_unlink,
	.symlink = erofs_symlink,
	.rename = erofs_rename,
	.link = erofs_link,
	.open = fs_open,
	.read = fs_read,
	.lseek = fs_lseek,
	.write = erofs_write,
	.release = fs_release,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.statfs = fs_statfs,
	.setxattr = erofs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = erofs_removexattr,
	.access = fs_access,
	.create = erofs_create,
	.fallocate = erofs_fallocate,
};
