/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ll.c - the FUSE low-level operations of the capture passthrough.  Every
 * real access is relative to the directory descriptor opened before the
 * mount (r->root_fd) or to a file handle opened from it, so the daemon never
 * goes through its own mount.  Each mutating operation takes the stripe
 * locks of the inodes it changes, applies the call to the real file system,
 * journals what changed (data blocks read back from the real file, then
 * the full attributes of every inode touched) and replies only after
 * cdp_op_commit().  Store failures never fail the application: they are
 * logged once (cap_store_error()) and the real result is returned.
 *
 * Caveats: new inodes are created with the caller's fsuid/fsgid; when that
 * fails with EACCES/EPERM (the kernel already checked permissions with the
 * caller's supplementary groups, which this thread lacks) the call is
 * retried as root and the owner set with fchownat().  Extended attributes
 * of symlinks are not reachable race-free and report ENOTSUP.
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

#define ENTRY_TIMEOUT 1.0
#define ATTR_TIMEOUT 1.0

static struct cap_root *root_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void proc_path(char *buf, size_t size, int fd)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

static void fill_entry(struct cap_root *r, struct cap_node *n, const struct stat *st,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n == &r->root_node ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
	e->generation = n->generation;
	e->attr = *st;
	e->attr_timeout = ATTR_TIMEOUT;
	e->entry_timeout = ENTRY_TIMEOUT;
}

/* Looks name up under parent fd pfd; adds one kernel reference. */
static int do_lookup(struct cap_root *r, int pfd, const char *name, struct fuse_entry_param *e)
{
	struct cap_handle fh;
	struct cap_node *n;
	struct stat st;
	int rc;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	rc = cap_handle_at(r, pfd, name, &fh);
	if (rc < 0)
		return rc;
	n = cap_node_ref(r, st.st_ino, st.st_mode, &fh);
	if (!n)
		return -ENOMEM;
	if (!r->use_handles && n->fd < 0) {
		/* No handles: the node keeps an O_PATH descriptor. */
		int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

		pthread_mutex_lock(&r->node_lock);
		if (n->fd < 0 && fd >= 0) {
			n->fd = fd;
			r->cached_fds++;
			fd = -1;
		}
		pthread_mutex_unlock(&r->node_lock);
		if (fd >= 0)
			close(fd);
	}
	fill_entry(r, n, &st, e);
	return 0;
}

/* The kernel leaves the caller's umask to us (FUSE_CAP_DONT_MASK); the same
 * for every session of the daemon.  Set once in cap_init. */
static int cap_dont_mask;

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

static void cap_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cap_root *r = root_of(req);
	struct cap_node *pn = cap_node_get(r, parent);
	struct fuse_entry_param e;
	int pfd, close_p, rc;

	if (parent == FUSE_ROOT_ID && strcmp(name, "..") == 0)
		name = ".";
	pfd = cap_node_open(r, pn, O_PATH, &close_p);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	rc = do_lookup(r, pfd, name, &e);
	if (close_p)
		close(pfd);
	if (rc == -ENOENT) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = 0;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void cap_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	cap_node_forget(root_of(req), cap_node_get(root_of(req), ino), nlookup);
	fuse_reply_none(req);
}

static void cap_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct cap_root *r = root_of(req);
	size_t i;

	for (i = 0; i < count; i++)
		cap_node_forget(r, cap_node_get(r, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void cap_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cap_root *r = root_of(req);
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
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/* Journals a size change of fid: what lies beyond the new end reads zero,
 * the now partial last block is read back.  fd must be readable. */
static int journal_truncate(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
			    uint64_t size)
{
	uint64_t bs = r->block_size;
	int rc;

	if (!op || !fid)
		return 0;
	rc = cdp_op_zero(op, fid, ceil_div(size, bs), UINT64_MAX);
	if (rc < 0 || size % bs == 0)
		return rc;
	return cap_op_blocks(r, op, fid, fd, size / bs, size / bs + 1, size);
}

static void cap_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
			struct fuse_file_info *fi)
{
	struct cap_root *r = root_of(req);
	struct cap_node *n = cap_node_get(r, ino);
	char proc[64], target[PATH_MAX + 1];
	struct stat st;
	struct cdp_op *op = NULL;
	unsigned held[CAP_MAX_LOCKS];
	int nheld, fd, close_fd = 0, rfd = -1, rc = 0;
	uint64_t fid = 0;

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
	proc_path(proc, sizeof(proc), fd);
	/* A symlink's target is read before its times are set: a readlink
	 * afterwards would move the atime just set. */
	if (n->type == S_IFLNK && r->journal && cap_read_target(fd, target, sizeof(target)) < 0)
		target[0] = '\0';
	if (valid & FUSE_SET_ATTR_MODE) {
		if ((fi ? fchmod(fd, attr->st_mode) : chmod(proc, attr->st_mode)) < 0) {
			rc = -errno;
			goto out;
		}
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out;
		}
	}
	if (!(valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
		       FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		/* chown(f, -1, -1) reaches us with nothing to set; Linux still
		 * updates ctime, so do the same call on the real file */
		if (fchownat(fd, "", (uid_t)-1, (gid_t)-1, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out;
		}
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		/* ftruncate: the kernel checked that the caller's file is
		 * writable, and ours is then O_RDWR (real_open_flags); libfuse
		 * leaves fi->flags 0 here.  A file renamed over or unlinked
		 * while open is reached only through it. */
		if (fi) {
			rfd = fd;
		} else {
			int close_rfd;

			rfd = cap_node_open(r, n, O_RDWR, &close_rfd);
			if (rfd < 0) {
				rc = rfd;
				rfd = -1;
				goto out;
			}
		}
		if (ftruncate(rfd, attr->st_size) < 0) {
			rc = -errno;
			goto out;
		}
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2];

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
		if (fi)
			rc = futimens(fd, tv);
		else if (n->type == S_IFLNK)
			rc = utimensat(fd, "", tv, AT_EMPTY_PATH);
		else
			rc = utimensat(AT_FDCWD, proc, tv, 0);
		if (rc < 0) {
			rc = -errno;
			goto out;
		}
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (r->journal) {
		op = cap_op_start(r);
		cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid);
		if (op && fid) {
			int jrc = 0;

			if (valid & FUSE_SET_ATTR_SIZE)
				jrc = journal_truncate(r, op, fid, rfd, (uint64_t)attr->st_size);
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
out:
	if (rfd >= 0 && rfd != fd)
		close(rfd);
	if (close_fd && fd >= 0 && !fi)
		close(fd);
out_unlock:
	cap_unlock(r, held, nheld);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void cap_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cap_root *r = root_of(req);
	char buf[PATH_MAX + 1];
	int fd, close_fd;
	ssize_t len;

	fd = cap_node_open(r, cap_node_get(r, ino), O_PATH, &close_fd);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	len = readlinkat(fd, "", buf, sizeof(buf));
	if (len < 0)
		len = -errno;
	if (close_fd)
		close(fd);
	if (len < 0) {
		fuse_reply_err(req, (int)-len);
		return;
	}
	if ((size_t)len >= sizeof(buf)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[len] = '\0';
	fuse_reply_readlink(req, buf);
}

enum mk_kind { MK_DIR, MK_NOD, MK_SYMLINK, MK_CREATE };

/*
 * The xattrs a new object is born with, which no setxattr brought: ACLs
 * inherited from a default ACL, security labels.  fd is an O_PATH
 * descriptor of the object (not a symlink).  Journals each; 0 when none.
 */
static int journal_born_xattrs(struct cdp_op *op, uint64_t fid, int fd)
{
	char proc[64], *names = NULL, *p, *val = NULL;
	ssize_t n, vn;
	int rc = 0;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = listxattr(proc, NULL, 0);
	if (n <= 0)
		return 0;   /* none, or no xattrs on this filesystem */
	names = malloc((size_t)n);
	if (!names)
		return -ENOMEM;
	n = listxattr(proc, names, (size_t)n);
	for (p = names; n > 0 && p < names + n && rc == 0; p += strlen(p) + 1) {
		vn = getxattr(proc, p, NULL, 0);
		if (vn < 0)
			continue;   /* gone meanwhile */
		free(val);
		val = malloc(vn ? (size_t)vn : 1);
		if (!val) {
			rc = -ENOMEM;
			break;
		}
		vn = getxattr(proc, p, val, (size_t)vn);
		if (vn >= 0)
			rc = cdp_op_xattr(op, fid, p, val, (size_t)vn);
	}
	free(val);
	free(names);
	return rc;
}

/*
 * Journals an inode just made at name in the directory pfd (st and fh are
 * its stat and handle): a new fid, its inode map entry, its attributes and,
 * with born_xattrs, the xattrs it was born with.  Its directory entry is
 * the caller's.
 */
static int journal_new_inode(struct cap_root *r, struct cdp_op *op, int pfd, const char *name,
			     const struct stat *st, const struct cap_handle *fh, int born_xattrs,
			     uint64_t *fid)
{
	unsigned char hb[4 + CAP_HANDLE_MAX];
	size_t hlen = cap_handle_bytes(fh, hb);
	int cfd, rc;

	rc = cdp_journal_new_fid(r->journal, fid);
	if (rc == 0)
		rc = cdp_op_imap(op, r->root_id, st->st_ino, *fid, hlen ? hb : NULL, hlen);
	if (rc < 0)
		return rc;
	cfd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return -errno;
	rc = cap_op_attr_fd(r, op, *fid, cfd, NULL);
	if (rc == 0 && born_xattrs)
		rc = journal_born_xattrs(op, *fid, cfd);
	close(cfd);
	return rc;
}

/* The mode to create with: the caller's umask applies unless the parent
 * directory (pfd, an O_PATH descriptor) has a default ACL, which then
 * decides the new object's permissions, as on ext4 natively. */
static mode_t mk_mode(int pfd, mode_t mode, mode_t umask_bits)
{
	char path[64];

	if (!cap_dont_mask)
		return mode;   /* the kernel applied the umask already */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	if (getxattr(path, "system.posix_acl_default", NULL, 0) > 0)
		return mode;
	return mode & ~umask_bits;
}

static int mk_apply(int pfd, const char *name, enum mk_kind kind, mode_t mode, dev_t rdev,
		    const char *link, int oflags)
{
	int rc;

	switch (kind) {
	case MK_DIR:
		rc = mkdirat(pfd, name, mode);
		break;
	case MK_NOD:
		rc = mknodat(pfd, name, mode, rdev);
		break;
	case MK_SYMLINK:
		rc = symlinkat(link, pfd, name);
		break;
	default:
		rc = openat(pfd, name, oflags | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
		return rc < 0 ? -errno : rc;
	}
	return rc < 0 ? -errno : 0;
}

/* Real open flags for an application's open: always readable (blocks are
 * read back), offsets from the kernel (no O_APPEND). */
static int real_open_flags(int flags)
{
	flags &= ~(O_APPEND | O_NOFOLLOW | O_CREAT | O_EXCL | O_DIRECT | O_NOCTTY);
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return flags;
}

static void new_entry(fuse_req_t req, fuse_ino_t parent, const char *name, enum mk_kind kind,
		      mode_t mode, dev_t rdev, const char *link, struct fuse_file_info *fi)
{
	struct cap_root *r = root_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cap_node *pn = cap_node_get(r, parent), *n = NULL;
	struct fuse_entry_param e;
	struct cap_handle fh;
	struct stat pst, st;
	struct cdp_op *op;
	unsigned held[CAP_MAX_LOCKS];
	int nheld = 0, pfd, close_p, rc, fd = -1;
	int oflags = fi ? real_open_flags(fi->flags) : 0;
	uint64_t pfid = 0, fid = 0;

	pfd = cap_node_open(r, pn, O_PATH, &close_p);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	if (fstat(pfd, &pst) < 0) {
		rc = -errno;
		goto out_close;
	}
	cap_lock_inos(r, &pn->ino, 1, held, &nheld);
	if (kind != MK_SYMLINK)
		mode = (mode & S_IFMT) | mk_mode(pfd, mode & 07777, ctx->umask);
	setfsgid(ctx->gid);
	setfsuid(ctx->uid);
	rc = mk_apply(pfd, name, kind, mode, rdev, link, oflags);
	setfsuid(geteuid());
	setfsgid(getegid());
	if ((rc == -EACCES || rc == -EPERM) && ctx->uid != geteuid()) {
		/* The kernel checked permission with the caller's groups. */
		rc = mk_apply(pfd, name, kind, mode, rdev, link, oflags);
		if (rc >= 0)
			fchownat(pfd, name, ctx->uid,
				 (pst.st_mode & S_ISGID) ? (gid_t)-1 : ctx->gid,
				 AT_SYMLINK_NOFOLLOW);
	}
	if (rc < 0)
		goto out_unlock;
	if (kind == MK_CREATE)
		fd = rc;
	rc = 0;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		goto out_unlock;
	}
	if (cap_handle_at(r, pfd, name, &fh) < 0) {
		fh.type = -1;
		fh.len = 0;
	}
	n = cap_node_ref(r, st.st_ino, st.st_mode, &fh);
	if (!n) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	if (r->journal && (op = cap_op_start(r))) {
		int jrc = cap_fid_of(r, pn, pn->ino, &pn->fh, NULL, &pfid);

		if (jrc == 0)
			jrc = journal_new_inode(r, op, pfd, name, &st, &fh, kind != MK_SYMLINK, &fid);
		if (jrc == 0)
			jrc = cdp_op_dirent(op, pfid, name, fid, st.st_mode & S_IFMT);
		if (jrc == 0)
			jrc = cap_op_attr_fd(r, op, pfid, pfd, NULL);
		if (jrc < 0)
			cap_store_error(r, "journaling a new entry", jrc);
		cap_op_finish(r, op, jrc);
		if (jrc == 0)
			n->fid = fid;
	}
	fill_entry(r, n, &st, &e);
out_unlock:
	cap_unlock(r, held, nheld);
out_close:
	if (close_p)
		close(pfd);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, -rc);
		return;
	}
	if (kind == MK_CREATE) {
		fi->fh = (uint64_t)fd;
		if (fuse_reply_create(req, &e, fi) != 0)
			close(fd);
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void cap_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	new_entry(req, parent, name, MK_NOD, mode, rdev, NULL, NULL);
}

static void cap_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	new_entry(req, parent, name, MK_DIR, mode, 0, NULL, NULL);
}

static void cap_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	new_entry(req, parent, name, MK_SYMLINK, S_IFLNK | 0777, 0, link, NULL);
}

static void cap_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	new_entry(req, parent, name, MK_CREATE, mode, 0, NULL, fi);
}

/* Journals that name's inode (ino, fh) lost a link: its attributes if it
 * still has links, else its imap entry goes. */
static int journal_lost_link(struct cap_root *r, struct cdp_op *op, uint64_t ino,
			     const struct cap_handle *fh, uint64_t fid)
{
	struct stat st;
	int fd, rc;

	fd = cap_handle_open(r, fh, O_PATH);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && st.st_nlink > 0) {
			rc = cap_op_attr_fd(r, op, fid, fd, NULL);
			close(fd);
			return rc;
		}
		close(fd);
	}
	return cdp_op_unmap(op, r->root_id, ino, fid);
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, int is_dir)
{
	struct cap_root *r = root_of(req);
	struct cap_node *pn = cap_node_get(r, parent);
	struct cap_handle fh;
	struct stat cst, cst2;
	struct cdp_op *op;
	unsigned held[CAP_MAX_LOCKS];
	uint64_t inos[2], pfid = 0, cfid = 0;
	int nheld = 0, pfd, close_p, rc = 0, tries;

	pfd = cap_node_open(r, pn, O_PATH, &close_p);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	for (tries = 0;; tries++) {
		if (fstatat(pfd, name, &cst, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out_close;
		}
		inos[0] = pn->ino;
		inos[1] = cst.st_ino;
		cap_lock_inos(r, inos, 2, held, &nheld);
		if (fstatat(pfd, name, &cst2, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out_unlock;
		}
		if (cst2.st_ino == cst.st_ino || tries > 8)
			break;
		cap_unlock(r, held, nheld);
	}
	cst = cst2;
	if (cap_handle_at(r, pfd, name, &fh) < 0) {
		fh.type = -1;
		fh.len = 0;
	}
	if (r->journal)
		cap_fid_of(r, NULL, cst.st_ino, &fh, NULL, &cfid);
	if (unlinkat(pfd, name, is_dir ? AT_REMOVEDIR : 0) < 0) {
		rc = -errno;
		goto out_unlock;
	}
	if (r->journal && (op = cap_op_start(r))) {
		int jrc = cap_fid_of(r, pn, pn->ino, &pn->fh, NULL, &pfid);

		if (jrc == 0)
			jrc = cdp_op_dirent(op, pfid, name, 0, cst.st_mode & S_IFMT);
		if (jrc == 0)
			jrc = cap_op_attr_fd(r, op, pfid, pfd, NULL);
		if (jrc == 0 && cfid)
			jrc = journal_lost_link(r, op, cst.st_ino, &fh, cfid);
		if (jrc < 0)
			cap_store_error(r, "journaling a removal", jrc);
		cap_op_finish(r, op, jrc);
	}
out_unlock:
	cap_unlock(r, held, nheld);
out_close:
	if (close_p)
		close(pfd);
	fuse_reply_err(req, -rc);
}

static void cap_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, 0);
}

static void cap_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, 1);
}

/* Journals the whiteout (a character device 0/0, a new inode) that
 * renameat2(RENAME_WHITEOUT) left at name in the directory pfd. */
static int journal_whiteout(struct cap_root *r, struct cdp_op *op, int pfd, const char *name,
			    uint64_t pfid)
{
	struct cap_handle fh;
	struct stat st;
	uint64_t fid;
	int rc;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (cap_handle_at(r, pfd, name, &fh) < 0) {
		fh.type = -1;
		fh.len = 0;
	}
	rc = journal_new_inode(r, op, pfd, name, &st, &fh, 0, &fid);
	if (rc == 0)
		rc = cdp_op_dirent(op, pfid, name, fid, st.st_mode & S_IFMT);
	return rc;
}

static void cap_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct cap_root *r = root_of(req);
	struct cap_node *pn = cap_node_get(r, parent), *npn = cap_node_get(r, newparent);
	struct cap_handle sfh, dfh;
	struct stat sst, dst, tmp;
	struct cdp_op *op;
	unsigned held[CAP_MAX_LOCKS];
	uint64_t inos[4], pfid = 0, npfid = 0, sfid = 0, dfid = 0;
	int nheld = 0, pfd, npfd = -1, close_p, close_np = 0, rc = 0, tries, have_dst;

	pfd = cap_node_open(r, pn, O_PATH, &close_p);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	npfd = cap_node_open(r, npn, O_PATH, &close_np);
	if (npfd < 0) {
		rc = npfd;
		npfd = -1;
		goto out_close;
	}
	for (tries = 0;; tries++) {
		if (fstatat(pfd, name, &sst, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out_close;
		}
		have_dst = fstatat(npfd, newname, &dst, AT_SYMLINK_NOFOLLOW) == 0;
		inos[0] = pn->ino;
		inos[1] = npn->ino;
		inos[2] = sst.st_ino;
		inos[3] = have_dst ? dst.st_ino : 0;
		cap_lock_inos(r, inos, 4, held, &nheld);
		if (fstatat(pfd, name, &tmp, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out_unlock;
		}
		if (tmp.st_ino == sst.st_ino) {
			struct stat tmp2;
			int now_dst = fstatat(npfd, newname, &tmp2, AT_SYMLINK_NOFOLLOW) == 0;

			if (now_dst == have_dst && (!have_dst || tmp2.st_ino == dst.st_ino))
				break;
		}
		cap_unlock(r, held, nheld);
		nheld = 0;
		if (tries > 8) {
			rc = -EAGAIN;
			goto out_close;
		}
	}
	if (cap_handle_at(r, pfd, name, &sfh) < 0)
		sfh.type = -1;
	if (!have_dst || cap_handle_at(r, npfd, newname, &dfh) < 0)
		dfh.type = -1;
	if (r->journal) {
		cap_fid_of(r, NULL, sst.st_ino, &sfh, NULL, &sfid);
		if (have_dst)
			cap_fid_of(r, NULL, dst.st_ino, &dfh, NULL, &dfid);
	}
	if (renameat2(pfd, name, npfd, newname, flags) < 0) {
		rc = -errno;
		goto out_unlock;
	}
	if (have_dst && dst.st_ino == sst.st_ino && !(flags & RENAME_EXCHANGE))
		goto out_unlock;   /* two links of one inode: nothing happened */
	if (r->journal && sfid && (op = cap_op_start(r))) {
		int jrc = cap_fid_of(r, pn, pn->ino, &pn->fh, NULL, &pfid);
		int cfd;

		if (jrc == 0)
			jrc = cap_fid_of(r, npn, npn->ino, &npn->fh, NULL, &npfid);
		if (jrc == 0 && (flags & RENAME_EXCHANGE)) {
			jrc = cdp_op_dirent(op, pfid, name, dfid, dst.st_mode & S_IFMT);
			if (jrc == 0)
				jrc = cdp_op_dirent(op, npfid, newname, sfid, sst.st_mode & S_IFMT);
			cfd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (jrc == 0 && cfd >= 0 && dfid)
				jrc = cap_op_attr_fd(r, op, dfid, cfd, NULL);
			if (cfd >= 0)
				close(cfd);
		} else if (jrc == 0) {
			if (flags & RENAME_WHITEOUT)
				jrc = journal_whiteout(r, op, pfd, name, pfid);
			else
				jrc = cdp_op_dirent(op, pfid, name, 0, sst.st_mode & S_IFMT);
			if (jrc == 0)
				jrc = cdp_op_dirent(op, npfid, newname, sfid, sst.st_mode & S_IFMT);
			if (jrc == 0 && have_dst && dfid)
				jrc = journal_lost_link(r, op, dst.st_ino, &dfh, dfid);
		}
		cfd = openat(npfd, newname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (jrc == 0 && cfd >= 0)
			jrc = cap_op_attr_fd(r, op, sfid, cfd, NULL);
		if (cfd >= 0)
			close(cfd);
		if (jrc == 0)
			jrc = cap_op_attr_fd(r, op, pfid, pfd, NULL);
		if (jrc == 0 && npfid != pfid)
			jrc = cap_op_attr_fd(r, op, npfid, npfd, NULL);
		if (jrc < 0)
			cap_store_error(r, "journaling a rename", jrc);
		cap_op_finish(r, op, jrc);
	}
out_unlock:
	cap_unlock(r, held, nheld);
out_close:
	if (close_p)
		close(pfd);
	if (close_np && npfd >= 0)
		close(npfd);
	fuse_reply_err(req, -rc);
}

static void cap_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct cap_root *r = root_of(req);
	struct cap_node *n = cap_node_get(r, ino), *pn = cap_node_get(r, newparent);
	struct fuse_entry_param e;
	struct stat st;
	struct cdp_op *op;
	unsigned held[CAP_MAX_LOCKS];
	uint64_t inos[2], fid = 0, pfid = 0;
	int nheld = 0, fd, pfd = -1, close_fd, close_p = 0, rc = 0;

	fd = cap_node_open(r, n, O_PATH, &close_fd);
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	pfd = cap_node_open(r, pn, O_PATH, &close_p);
	if (pfd < 0) {
		rc = pfd;
		pfd = -1;
		goto out_close;
	}
	inos[0] = n->ino;
	inos[1] = pn->ino;
	cap_lock_inos(r, inos, 2, held, &nheld);
	if (linkat(fd, "", pfd, newname, AT_EMPTY_PATH) < 0) {
		rc = -errno;
		goto out_unlock;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_unlock;
	}
	if (r->journal && (op = cap_op_start(r))) {
		int jrc = cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid);

		if (jrc == 0)
			jrc = cap_fid_of(r, pn, pn->ino, &pn->fh, NULL, &pfid);
		if (jrc == 0)
			jrc = cdp_op_dirent(op, pfid, newname, fid, st.st_mode & S_IFMT);
		if (jrc == 0)
			jrc = cap_op_attr_fd(r, op, fid, fd, NULL);
		if (jrc == 0)
			jrc = cap_op_attr_fd(r, op, pfid, pfd, NULL);
		if (jrc < 0)
			cap_store_error(r, "journaling a link", jrc);
		cap_op_finish(r, op, jrc);
	}
	pthread_mutex_lock(&r->node_lock);
	n->nlookup++;
	pthread_mutex_unlock(&r->node_lock);
	fill_entry(r, n, &st, &e);
out_unlock:
	cap_unlock(r, held, nheld);
out_close:
	if (close_fd)
		close(fd);
	if (close_p && pfd >= 0)
		close(pfd);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static void cap_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cap_root *r = root_of(req);
	struct cap_node *n = cap_node_get(r, ino);
	unsigned held[CAP_MAX_LOCKS];
	int nheld = 0, fd, close_fd, trunc = (fi->flags & O_TRUNC) &&
		(fi->flags & O_ACCMODE) != O_RDONLY;

	if (trunc)
		cap_lock_inos(r, &n->ino, 1, held, &nheld);
	fd = cap_node_open(r, n, real_open_flags(fi->flags), &close_fd);
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

static void cap_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void cap_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		      off_t off, struct fuse_file_info *fi)
{
	struct cap_root *r = root_of(req);
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
		int jrc = cap_fid_of(r, n, n->ino, &n->fh, NULL, &fid);

		if (jrc == 0 && fstat(fd, &st) < 0)
			jrc = -errno;
		first = uoff / bs;
		last = (end - 1) / bs;
		for (b = first; op && fid && jrc == 0 && b <= last; b++) {
			uint64_t bstart = b * bs;

			if (bstart >= uoff && bstart + bs <= end)
				jrc = cdp_op_data(op, fid, bstart, buf + (bstart - uoff), bs);
			else
				jrc = cap_op_blocks(r, op, fid, fd, b, b + 1, (uint64_t)st.st_size);
		}
		if (op && fid && jrc == 0)
			jrc = cap_op_attr_fd(r, op, fid, fd, NULL);
		if (jrc < 0)
			cap_store_error(r, "journaling a write", jrc);
		cap_op_finish(r, op, fid ? jrc : -EINVAL);
	}
	cap_unlock(r, held, nheld);
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_write(req, (size_t)res);
}

static void cap_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd = dup((int)fi->fh);

	/* Closing a duplicate releases POSIX locks as close(2) would. */
	if (fd >= 0)
		close(fd);
	fuse_reply_err(req, fd < 0 ? errno : 0);
}

static void cap_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

/*
 * fsync: the real file's flush and the journal's (its segment, then its
 * index) run at once rather than one after the other: the writer starts
 * committing everything queued (this file's writes among it) while this
 * thread waits for the real file; the reply waits for both.
 */
static void cap_fsync_fd(fuse_req_t req, int fd, int datasync)
{
	struct cap_root *r = root_of(req);
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

static void cap_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	cap_fsync_fd(req, (int)fi->fh, datasync);
}

struct cap_dir {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
};

static void cap_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cap_root *r = root_of(req);
	struct cap_dir *d = calloc(1, sizeof(*d));
	int fd, close_fd;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = cap_node_open(r, cap_node_get(r, ino), O_RDONLY | O_DIRECTORY, &close_fd);
	if (fd < 0) {
		free(d);
		fuse_reply_err(req, -fd);
		return;
	}
	d->dp = fdopendir(fd);
	if (!d->dp) {
		int err = errno;

		close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0) {
		closedir(d->dp);
		free(d);
	}
}

static void cap_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
			struct fuse_file_info *fi)
{
	struct cap_dir *d = (struct cap_dir *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size), *p = buf;
	size_t rem = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		struct stat st;
		size_t entsize;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				if (errno && p == buf)
					err = errno;
				break;
			}
		}
		memset(&st, 0, sizeof(st));
		st.st_ino = d->entry->d_ino;
		st.st_mode = (mode_t)d->entry->d_type << 12;
		entsize = fuse_add_direntry(req, p, rem, d->entry->d_name, &st,
					    telldir(d->dp));
		if (entsize > rem)
			break;
		p += entsize;
		rem -= entsize;
		d->offset = telldir(d->dp);
		d->entry = NULL;
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void cap_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cap_dir *d = (struct cap_dir *)(uintptr_t)fi->fh;

	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void cap_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			 struct fuse_file_info *fi)
{
	struct cap_dir *d = (struct cap_dir *)(uintptr_t)fi->fh;

	(void)ino;
	cap_fsync_fd(req, dirfd(d->dp), datasync);
}

static void cap_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(root_of(req)->root_fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* A path through which the xattrs of node n are reachable (not symlinks). */
static int xattr_fd(struct cap_root *r, struct cap_node *n, char *proc, size_t size,
		    int *close_fd)
{
	int fd;

	if (n->type == S_IFLNK)
		return -ENOTSUP;
	fd = cap_node_open(r, n, O_PATH, close_fd);
	if (fd >= 0)
		proc_path(proc, size, fd);
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

static void cap_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct cap_root *r = root_of(req);
	char proc[64];
	int fd, close_fd;

	fd = xattr_fd(r, cap_node_get(r, ino), proc, sizeof(proc), &close_fd);
	if (fd < 0) {
		fuse_reply_err(req, fd == -ENOTSUP ? ENODATA : -fd);
		return;
	}
	xattr_query(req, fd, close_fd, proc, name, size);
}

static void cap_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct cap_root *r = root_of(req);
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
	struct cap_root *r = root_of(req);
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

static void cap_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	change_xattr(req, ino, name, value, size, flags, 0);
}

static void cap_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0, 1);
}

static void cap_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			  struct fuse_file_info *fi)
{
	struct cap_root *r = root_of(req);
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
				uint64_t zf = ceil_div(off, bs), ze = end / bs;

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

static void cap_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	off_t res = lseek((int)fi->fh, off, whence);

	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
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
