/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ll_xattr.c - the capture passthrough's extended attribute operations:
 * getxattr, listxattr, setxattr, removexattr, each through /proc/self/fd of
 * a descriptor of the node; changes are journaled with the inode's
 * attributes.
 *
 * Caveat: extended attributes of symlinks are not reachable race-free and
 * report ENOTSUP.
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

/* A path through which the xattrs of node n are reachable (not symlinks). */
static int xattr_fd(struct cap_root *r, struct cap_node *n, char *proc, size_t size,
		    int *close_fd)
{
	int fd;

	if (n->type == S_IFLNK)
		return -ENOTSUP;
	fd = cap_node_open(r, n, O_PATH, close_fd);
	if (fd >= 0)
		cap_proc_path(proc, size, fd);
	return fd;
}

/* Answers getxattr (name set) or listxattr (name NULL) on the real file
 * behind fd, which is closed here when close_fd says so. */
static void xattr_query(fuse_req_t req, int fd, int close_fd, const char *proc,
			const char *name, size_t size)
{
	char *buf = NULL;
	ssize_t len;

	if (size) {
		buf = malloc(size);
		if (!buf) {
			len = -ENOMEM;
			goto out;
		}
	}
	len = name ? getxattr(proc, name, buf, size) : listxattr(proc, buf, size);
	if (len < 0)
		len = -errno;
out:
	if (close_fd)
		close(fd);
	if (len < 0)
		fuse_reply_err(req, (int)-len);
	else if (size)
		fuse_reply_buf(req, buf, (size_t)len);
	else
		fuse_reply_xattr(req, (size_t)len);
	free(buf);
}

void cap_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct cap_root *r = cap_root_of(req);
	char proc[64];
	int fd, close_fd;

	fd = xattr_fd(r, cap_node_get(r, ino), proc, sizeof(proc), &close_fd);
	if (fd < 0) {
		fuse_reply_err(req, fd == -ENOTSUP ? ENODATA : -fd);
		return;
	}
	xattr_query(req, fd, close_fd, proc, name, size);
}

void cap_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct cap_root *r = cap_root_of(req);
	char proc[64];
	int fd, close_fd;

	fd = xattr_fd(r, cap_node_get(r, ino), proc, sizeof(proc), &close_fd);
	if (fd == -ENOTSUP) {
		if (size)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_xattr(req, 0);
		return;
	}
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	xattr_query(req, fd, close_fd, proc, NULL, size);
}

static void change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags, int remove)
{
	(void)value;
	struct cap_root *r = cap_root_of(req);
	struct cap_node *n = cap_node_get(r, ino);
	unsigned held[CAP_MAX_LOCKS];
	char proc[64];
	int nheld, fd, close_fd, rc;

	fd = xattr_fd(r, n, proc, sizeof(proc), &close_fd);
	if (fd < 0) {
		fuse_reply_err(req, fd == -ENOTSUP ? EPERM : -fd);
		return;
	}
	cap_lock_inos(r, &n->ino, 1, held, &nheld);
	rc = remove ? removexattr(proc, name) : setxattr(proc, name, value, size, flags);
	if (rc < 0)
		rc = -errno;
	if (rc == 0 && r->journal) {
		struct cdp_op *op = cap_op_start(r);
		uint64_t fid = 0;
		int jrc = cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid);

		if (op && jrc == 0 && fid) {
			/* Journal what the file system kept: an ACL equivalent to the
			 * mode, for one, is stored as the mode alone. */
			char *back = NULL;
			ssize_t blen = remove ? -1 : getxattr(proc, name, NULL, 0);

			if (blen >= 0 && (back = malloc((size_t)blen + 1)))
				blen = getxattr(proc, name, back, (size_t)blen);
			else
				blen = -1;
			jrc = cdp_op_xattr(op, fid, name, blen >= 0 ? back : NULL,
					   blen >= 0 ? (size_t)blen : 0);
			free(back);
			if (jrc == 0)
				jrc = cap_op_attr_fd(r, op, fid, fd, NULL);
			if (jrc < 0)
				cap_store_error(r, "journaling an xattr", jrc);
			cap_op_finish(r, op, jrc);
		} else {
			cap_op_finish(r, op, -EINVAL);
		}
	}
	cap_unlock(r, held, nheld);
	if (close_fd)
		close(fd);
	fuse_reply_err(req, -rc);
}

void cap_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags)
{
	change_xattr(req, ino, name, value, size, flags, 0);
}

void cap_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0, 1);
}
