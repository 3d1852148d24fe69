/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ll_data.c - the capture passthrough's operations on file contents and
 * attributes: setattr, open, read, write, flush, release, fsync, fallocate
 * and lseek.  A write is journaled from the blocks read back from the real
 * file after pwrite(2), before the reply (after a failed one, its
 * attributes: the kernel may have moved the mtime before it found no room).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "capture/capture_int.h"

/* Real open flags for an application's open: always readable (blocks are
 * read back), offsets from the kernel (no O_APPEND). */
int cap_real_open_flags(int flags)
{
	flags &= ~(O_APPEND | O_NOFOLLOW | O_CREAT | O_EXCL | O_DIRECT | O_NOCTTY);
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return flags;
}

/* Mode, then owner; with neither nor anything else to set, the empty
 * chown that still moves ctime.  *applied is set once a change is made. */
static int setattr_mode_owner(int fd, const char *proc, int by_fd, const struct stat *attr,
			      int valid, int *applied)
{
	if (valid & FUSE_SET_ATTR_MODE) {
		if ((by_fd ? fchmod(fd, attr->st_mode) : chmod(proc, attr->st_mode)) < 0)
			return -errno;
		*applied = 1;
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		*applied = 1;
	}
	if (!(valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
		       FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		/* chown(f, -1, -1) reaches us with nothing to set; Linux still
		 * updates ctime, so do the same call on the real file */
		if (fchownat(fd, "", (uid_t)-1, (gid_t)-1, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	return 0;
}

/* ftruncate: the kernel checked that the caller's file is writable, and
 * ours is then O_RDWR (cap_real_open_flags); libfuse leaves fi->flags 0
 * here.  A file renamed over or unlinked while open is reached only
 * through it.  *rfd gets the descriptor truncated (fd when by_fd, else
 * one opened here that the caller closes), -1 when none could be opened. */
static int setattr_size(struct cap_root *r, struct cap_node *n, int fd, int by_fd, off_t size,
			int *rfd)
{
	if (by_fd) {
		*rfd = fd;
	} else {
		int close_rfd;

		*rfd = cap_node_open(r, n, O_RDWR, &close_rfd);
		if (*rfd < 0) {
			int rc = *rfd;

			*rfd = -1;
			return rc;
		}
	}
	if (ftruncate(*rfd, size) < 0)
		return -errno;
	return 0;
}

static int setattr_times(struct cap_node *n, int fd, const char *proc, int by_fd,
			 const struct stat *attr, int valid)
{
	struct timespec tv[2];
	int rc;

	tv[0].tv_sec = 0;
	tv[1].tv_sec = 0;
	tv[0].tv_nsec = UTIME_OMIT;
	tv[1].tv_nsec = UTIME_OMIT;
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (by_fd)
		rc = futimens(fd, tv);
	else if (n->type == S_IFLNK)
		rc = utimensat(fd, "", tv, AT_EMPTY_PATH);
	else
		rc = utimensat(AT_FDCWD, proc, tv, 0);
	return rc < 0 ? -errno : 0;
}

/* One operation with the state the setattr left: the truncation (read
 * back from rfd), then the attributes (a symlink's with its target). */
static void setattr_journal(struct cap_root *r, struct cap_node *n, int valid, int truncated,
			    int fd, int rfd, uint64_t size, const char *target)
{
	struct cdp_op *op = cap_op_start(r);
	uint64_t fid = 0;

	cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid);
	if (op && fid) {
		int jrc = 0;

		if ((valid & FUSE_SET_ATTR_SIZE) && truncated)
			jrc = cap_journal_truncate(r, op, fid, rfd, size);
		if (jrc == 0)
			jrc = n->type == S_IFLNK ? cap_op_attr_target(r, op, fid, fd, target) :
				cap_op_attr_fd(r, op, fid, fd, NULL);
		if (jrc < 0)
			cap_store_error(r, "journaling setattr", jrc);
		cap_op_finish(r, op, jrc);
	} else {
		cap_op_finish(r, op, -EINVAL);
	}
}

void cap_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		 struct fuse_file_info *fi)
{
	struct cap_root *r = cap_root_of(req);
	struct cap_node *n = cap_node_get(r, ino);
	char proc[64], target[PATH_MAX + 1];
	struct stat st;
	unsigned held[CAP_MAX_LOCKS];
	int nheld, fd, close_fd = 0, rfd = -1, rc = 0, applied = 0, truncated = 0;

	cap_lock_inos(r, &n->ino, 1, held, &nheld);
	if (fi) {
		fd = (int)fi->fh;
	} else {
		fd = cap_node_open(r, n, O_PATH, &close_fd);
		if (fd < 0) {
			rc = fd;
			goto out_unlock;
		}
	}
	cap_proc_path(proc, sizeof(proc), fd);
	/* A symlink's target is read before its times are set: a readlink
	 * afterwards would move the atime just set. */
	if (n->type == S_IFLNK && r->journal && cap_read_target(fd, target, sizeof(target)) < 0)
		target[0] = '\0';
	rc = setattr_mode_owner(fd, proc, fi != NULL, attr, valid, &applied);
	if (rc < 0)
		goto out;
	if (valid & FUSE_SET_ATTR_SIZE) {
		rc = setattr_size(r, n, fd, fi != NULL, attr->st_size, &rfd);
		if (rc < 0)
			goto out;
		applied = truncated = 1;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		rc = setattr_times(n, fd, proc, fi != NULL, attr, valid);
		if (rc < 0)
			goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
out:
	/* A change that failed half way (chmod done, then chown refused)
	 * still journals the state it left: what was applied is real. */
	if (r->journal && (rc == 0 || applied))
		setattr_journal(r, n, valid, truncated, fd, rfd, (uint64_t)attr->st_size, target);
	if (rfd >= 0 && rfd != fd)
		close(rfd);
	if (close_fd && fd >= 0 && !fi)
		close(fd);
out_unlock:
	cap_unlock(r, held, nheld);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, CAP_ATTR_TIMEOUT);
}

void cap_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cap_root *r = cap_root_of(req);
	struct cap_node *n = cap_node_get(r, ino);
	unsigned held[CAP_MAX_LOCKS];
	int nheld = 0, fd, close_fd, trunc = (fi->flags & O_TRUNC) &&
		(fi->flags & O_ACCMODE) != O_RDONLY;

	if (trunc)
		cap_lock_inos(r, &n->ino, 1, held, &nheld);
	fd = cap_node_open(r, n, cap_real_open_flags(fi->flags), &close_fd);
	if (fd >= 0 && trunc && r->journal) {
		struct cdp_op *op = cap_op_start(r);
		uint64_t fid = 0;
		int jrc = cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid);

		if (op && jrc == 0 && fid) {
			jrc = cdp_op_zero(op, fid, 0, UINT64_MAX);
			if (jrc == 0)
				jrc = cap_op_attr_fd(r, op, fid, fd, NULL);
			if (jrc < 0)
				cap_store_error(r, "journaling O_TRUNC", jrc);
			cap_op_finish(r, op, jrc);
		} else {
			cap_op_finish(r, op, -EINVAL);
		}
	}
	if (trunc)
		cap_unlock(r, held, nheld);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	fi->fh = (uint64_t)fd;
	if (fuse_reply_open(req, fi) != 0)
		close(fd);
}

void cap_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void cap_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	       off_t off, struct fuse_file_info *fi)
{
	struct cap_root *r = cap_root_of(req);
	struct cap_node *n = cap_node_get(r, ino);
	unsigned held[CAP_MAX_LOCKS];
	int nheld, fd = (int)fi->fh;
	ssize_t res;

	cap_lock_inos(r, &n->ino, 1, held, &nheld);
	res = pwrite(fd, buf, size, off);
	if (res < 0)
		res = -errno;
	if (res > 0 && r->journal) {
		uint64_t bs = r->block_size, fid = 0, b, first, last;
		uint64_t uoff = (uint64_t)off, end = uoff + (uint64_t)res;
		struct cdp_op *op = cap_op_start(r);
		struct stat st;
		struct cdp_attr a;
		int jrc = cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid), reread = 0;

		if (jrc == 0 && fstat(fd, &st) < 0)
			jrc = -errno;
		first = uoff / bs;
		last = (end - 1) / bs;
		for (b = first; op && fid && jrc == 0 && b <= last; b++) {
			uint64_t bstart = b * bs;

			if (bstart >= uoff && bstart + bs <= end) {
				jrc = cdp_op_data(op, fid, bstart, buf + (bstart - uoff), bs);
			} else {
				jrc = cap_op_blocks(r, op, fid, fd, b, b + 1, (uint64_t)st.st_size);
				reread = 1;
			}
		}
		/* the attributes after the write: the stat above, unless reading a
		 * partial block back may have moved the atime since */
		if (op && fid && jrc == 0 && reread) {
			jrc = cap_op_attr_fd(r, op, fid, fd, NULL);
		} else if (op && fid && jrc == 0) {
			cdp_attr_from_stat(&st, &a);
			jrc = cdp_op_attr(op, fid, &a, NULL);
		}
		if (jrc < 0)
			cap_store_error(r, "journaling a write", jrc);
		cap_op_finish(r, op, fid ? jrc : -EINVAL);
	} else if (res < 0 && res != -EBADF && r->journal) {
		/* A write that failed (ENOSPC, EDQUOT, EFBIG, EIO) may still
		 * have moved the file's mtime and ctime (tmpfs and ext4 update
		 * them before they find no room): the history takes them. */
		struct cdp_op *op = cap_op_start(r);
		uint64_t fid = 0;
		int jrc = cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid);

		if (op && fid && jrc == 0)
			jrc = cap_op_attr_fd(r, op, fid, fd, NULL);
		if (jrc < 0)
			cap_store_error(r, "journaling a failed write", jrc);
		cap_op_finish(r, op, fid ? jrc : -EINVAL);
	}
	cap_unlock(r, held, nheld);
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_write(req, (size_t)res);
}

void cap_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd = dup((int)fi->fh);

	/* Closing a duplicate releases POSIX locks as close(2) would. */
	if (fd >= 0)
		close(fd);
	fuse_reply_err(req, fd < 0 ? errno : 0);
}

void cap_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

/*
 * fsync: the real file's flush and the journal's (one sync of its segment,
 * which holds the chunks and the index record) run at once rather than one after the other: the writer starts
 * committing everything queued (this file's writes among it) while this
 * thread waits for the real file; the reply waits for both.
 */
void cap_fsync_fd(fuse_req_t req, int fd, int datasync)
{
	struct cap_root *r = cap_root_of(req);
	uint64_t ticket = 0;
	int rc, e = 0, jrc = 0;

	if (r->journal)
		jrc = cdp_journal_sync_start(r->journal, &ticket);
	rc = datasync ? fdatasync(fd) : fsync(fd);
	if (rc < 0)
		e = errno;
	if (r->journal && jrc == 0)
		jrc = cdp_journal_sync_wait(r->journal, ticket);
	if (jrc < 0)
		cap_store_error(r, "journal sync", jrc);
	fuse_reply_err(req, e);
}

void cap_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	cap_fsync_fd(req, (int)fi->fh, datasync);
}

void cap_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		   struct fuse_file_info *fi)
{
	struct cap_root *r = cap_root_of(req);
	struct cap_node *n = cap_node_get(r, ino);
	unsigned held[CAP_MAX_LOCKS];
	int nheld, fd = (int)fi->fh, rc = 0;

	cap_lock_inos(r, &n->ino, 1, held, &nheld);
	if (fallocate(fd, mode, offset, length) < 0)
		rc = -errno;
	if (rc == 0 && r->journal) {
		uint64_t bs = r->block_size, fid = 0;
		uint64_t off = (uint64_t)offset, end = off + (uint64_t)length;
		struct cdp_op *op = cap_op_start(r);
		struct stat st;
		int jrc = cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid);

		if (jrc == 0 && fstat(fd, &st) < 0)
			jrc = -errno;
		if (op && fid && jrc == 0) {
			uint64_t size = (uint64_t)st.st_size;

			if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
				uint64_t zf = cap_ceil_div(off, bs), ze = end / bs;

				if (zf < ze)
					jrc = cdp_op_zero(op, fid, zf, ze);
				if (jrc == 0 && off % bs)
					jrc = cap_op_blocks(r, op, fid, fd, off / bs,
							    off / bs + 1, size);
				if (jrc == 0 && end % bs && (end / bs != off / bs || !(off % bs)))
					jrc = cap_op_blocks(r, op, fid, fd, end / bs,
							    end / bs + 1, size);
			} else if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
				jrc = cap_op_blocks(r, op, fid, fd, off / bs, UINT64_MAX, size);
			}
			if (jrc == 0)
				jrc = cap_op_attr_fd(r, op, fid, fd, NULL);
			if (jrc < 0)
				cap_store_error(r, "journaling fallocate", jrc);
		}
		cap_op_finish(r, op, fid ? jrc : -EINVAL);
	}
	cap_unlock(r, held, nheld);
	fuse_reply_err(req, -rc);
}

void cap_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	       struct fuse_file_info *fi)
{
	off_t res = lseek((int)fi->fh, off, whence);

	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}
