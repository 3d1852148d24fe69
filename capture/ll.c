/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ll.c - the FUSE low-level operations table of the capture passthrough
 * (cap_ll_ops), assembled here from the handlers of ll_ns.c (names),
 * ll_data.c (file contents and attributes) and ll_xattr.c (extended
 * attributes), with the session-wide ones: init, forget, getattr, statfs.
 *
 * Every real access is relative to the directory descriptor opened before
 * the mount (r->root_fd) or to a file handle opened from it, so the daemon
 * never goes through its own mount.  Each mutating operation takes the
 * stripe locks of the inodes it changes, applies the call to the real file
 * system, journals what changed (data blocks read back from the real file,
 * then the full attributes of every inode touched; journal_ops.c) and
 * replies only after cdp_op_commit().  Store failures never fail the
 * application: they are logged once (cap_store_error()) and the real result
 * is returned.
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

/* Set once in cap_init (see capture_int.h). */
int cap_dont_mask;

static void cap_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Never the writeback cache: a write must be journaled before write(2)
	 * returns, or its instant would be wrong. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* POSIX ACLs as on the real filesystem: the kernel enforces the
	 * system.posix_acl_* xattrs, which pass through to the real files;
	 * the real filesystem inherits default ACLs on create and keeps the
	 * mode and the ACL mask in step, as it does natively. */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	/* ... and the caller's umask applied here, as the real filesystem
	 * would: not at all under a directory with a default ACL (the ACL
	 * decides), else as given (see mk_mode). */
	if ((conn->want & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK)) {
		conn->want |= FUSE_CAP_DONT_MASK;
		cap_dont_mask = 1;
	}
	/* Large writes: fewer round trips, whole blocks from the caller. */
	conn->max_write = 1u << 20;
}

static void cap_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	cap_node_forget(cap_root_of(req), cap_node_get(cap_root_of(req), ino), nlookup);
	fuse_reply_none(req);
}

static void cap_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct cap_root *r = cap_root_of(req);
	size_t i;

	for (i = 0; i < count; i++)
		cap_node_forget(r, cap_node_get(r, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void cap_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cap_root *r = cap_root_of(req);
	struct stat st;
	int fd, close_fd = 0, rc = 0;

	if (fi) {
		fd = (int)fi->fh;
	} else {
		fd = cap_node_open(r, cap_node_get(r, ino), O_PATH, &close_fd);
		if (fd < 0) {
			fuse_reply_err(req, -fd);
			return;
		}
	}
	if (fstat(fd, &st) < 0)
		rc = -errno;
	if (close_fd)
		close(fd);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, CAP_ATTR_TIMEOUT);
}

static void cap_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(cap_root_of(req)->root_fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops cap_ll_ops = {
	.init = cap_init,
	.lookup = cap_lookup,
	.forget = cap_forget,
	.forget_multi = cap_forget_multi,
	.getattr = cap_getattr,
	.setattr = cap_setattr,
	.readlink = cap_readlink,
	.mknod = cap_mknod,
	.mkdir = cap_mkdir,
	.symlink = cap_symlink,
	.unlink = cap_unlink,
	.rmdir = cap_rmdir,
	.rename = cap_rename,
	.link = cap_link,
	.open = cap_open,
	.create = cap_create,
	.read = cap_read,
	.write = cap_write,
	.flush = cap_flush,
	.release = cap_release,
	.fsync = cap_fsync,
	.opendir = cap_opendir,
	.readdir = cap_readdir,
	.releasedir = cap_releasedir,
	.fsyncdir = cap_fsyncdir,
	.statfs = cap_statfs,
	.getxattr = cap_getxattr,
	.listxattr = cap_listxattr,
	.setxattr = cap_setxattr,
	.removexattr = cap_removexattr,
	.fallocate = cap_fallocate,
	.lseek = cap_lseek,
};
