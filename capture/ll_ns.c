/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ll_ns.c - the capture passthrough's namespace operations: lookup,
 * readlink, mknod/mkdir/symlink/create, unlink/rmdir, rename, link and
 * directory reading.  Each change is applied to the real directory, then
 * journaled (directory entries, new inodes, lost links) under the stripe
 * locks of the inodes involved.
 *
 * Caveat: new inodes are created with the caller's fsuid/fsgid; when that
 * fails with EACCES/EPERM (the kernel already checked permissions with the
 * caller's supplementary groups, which this thread lacks) the call is
 * retried as root and the owner set with fchownat().
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

static void fill_entry(struct cap_root *r, struct cap_node *n, const struct stat *st,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n == &r->root_node ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
	e->generation = n->generation;
	e->attr = *st;
	e->attr_timeout = CAP_ATTR_TIMEOUT;
	e->entry_timeout = CAP_ENTRY_TIMEOUT;
}

/* Looks name up under parent fd pfd; adds one kernel reference. */
static int do_lookup(struct cap_root *r, int pfd, const char *name, struct fuse_entry_param *e)
{
	struct cap_handle fh;
	struct cap_node *n;
	struct stat st;
	int rc, cached = 0;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	rc = cap_handle_at(r, pfd, name, &fh);
	if (rc < 0)
		return rc;
	n = cap_node_ref(r, st.st_ino, st.st_mode, &fh);
	if (!n)
		return -ENOMEM;
	if (!r->use_handles) {
		pthread_mutex_lock(&r->node_lock);
		cached = n->fd >= 0;
		pthread_mutex_unlock(&r->node_lock);
	}
	if (!r->use_handles && !cached) {
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

void cap_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cap_root *r = cap_root_of(req);
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

void cap_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cap_root *r = cap_root_of(req);
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

static void new_entry(fuse_req_t req, fuse_ino_t parent, const char *name, enum mk_kind kind,
		      mode_t mode, dev_t rdev, const char *link, struct fuse_file_info *fi)
{
	struct cap_root *r = cap_root_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cap_node *pn = cap_node_get(r, parent), *n = NULL;
	struct fuse_entry_param e;
	struct cap_handle fh;
	struct stat pst, st;
	struct cdp_op *op;
	unsigned held[CAP_MAX_LOCKS];
	int nheld = 0, pfd, close_p, rc, fd = -1;
	int oflags = fi ? cap_real_open_flags(fi->flags) : 0;
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
			jrc = cap_journal_new_inode(r, op, pfd, name, &st, &fh, kind != MK_SYMLINK, &fid);
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

void cap_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       dev_t rdev)
{
	new_entry(req, parent, name, MK_NOD, mode, rdev, NULL, NULL);
}

void cap_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	new_entry(req, parent, name, MK_DIR, mode, 0, NULL, NULL);
}

void cap_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	new_entry(req, parent, name, MK_SYMLINK, S_IFLNK | 0777, 0, link, NULL);
}

void cap_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi)
{
	new_entry(req, parent, name, MK_CREATE, mode, 0, NULL, fi);
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, int is_dir)
{
	struct cap_root *r = cap_root_of(req);
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
			jrc = cap_journal_lost_link(r, op, cst.st_ino, &fh, cfid);
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

void cap_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, 0);
}

void cap_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, 1);
}

static int times_moved(const struct stat *a, const struct stat *b)
{
	return a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	       a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/*
 * A rename that failed may still have changed its directories.  ext4 with
 * RENAME_WHITEOUT makes the whiteout and puts it at the old name before it
 * checks a directory target for emptiness; refused (ENOTEMPTY), it puts the
 * old entry back (ext4_resetent), which sets the source directory's mtime
 * and ctime to now.  The application sees an error, the directory a
 * change.  Unjournaled, the past kept the older mtime until the
 * directory's next journaled change (issue 13: one directory's mtime older
 * in most stress runs); and the kernel, which refreshes a directory's
 * attributes only after a rename that succeeded, showed the old one on
 * this mount until its attribute timeout.  So: compare each parent with
 * before (stats taken under the stripes held, before the call), journal
 * those that moved and tell the kernel to drop their cached attributes.
 */
static void rename_failed_changes(struct cap_root *r, struct cap_node *pn, int pfd,
				  struct cap_node *npn, int npfd, const struct stat *before)
{
	struct cap_node *dirs[2] = { pn, npn };
	int fds[2] = { pfd, npfd }, i, count = npn->ino == pn->ino ? 1 : 2;
	unsigned changed = 0;
	struct stat st;

	for (i = 0; i < count; i++)
		if (fstat(fds[i], &st) == 0 && times_moved(&before[i], &st))
			changed |= 1u << i;
	if (!changed)
		return;
	cap_journal_dir_attrs(r, dirs, fds, changed, count);
	/* attributes only (offset -1): the kernel then takes no inode lock, so
	 * this is safe while it waits for our reply to the rename */
	for (i = 0; i < count; i++)
		if ((changed & (1u << i)) && r->se)
			fuse_lowlevel_notify_inval_inode(r->se, dirs[i] == &r->root_node ? FUSE_ROOT_ID :
							 (fuse_ino_t)(uintptr_t)dirs[i], -1, 0);
}

/* The two names of a rename, and what they were once locked. */
struct rename_names {
	struct cap_node *pn, *npn;     /* the parents */
	int pfd, npfd;                 /* their O_PATH descriptors */
	const char *name, *newname;
	unsigned flags;                /* RENAME_EXCHANGE, RENAME_WHITEOUT, ... */
	struct stat sst, dst;          /* the source; the destination if have_dst */
	int have_dst;
	struct cap_handle sfh, dfh;    /* type -1 when unknown */
	uint64_t sfid, dfid;           /* 0 when not known to the journal */
};

/* Locks both parents and what both names hold, retrying until the names
 * still hold the same inodes once locked.  0 with the locks in held, or
 * -errno (-EAGAIN after 9 tries) with *nheld the locks still held (maybe 0). */
static int rename_lock(struct cap_root *r, struct rename_names *rn, unsigned *held, int *nheld)
{
	uint64_t inos[4];
	struct stat tmp;
	int tries;

	for (tries = 0;; tries++) {
		if (fstatat(rn->pfd, rn->name, &rn->sst, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		rn->have_dst = fstatat(rn->npfd, rn->newname, &rn->dst, AT_SYMLINK_NOFOLLOW) == 0;
		inos[0] = rn->pn->ino;
		inos[1] = rn->npn->ino;
		inos[2] = rn->sst.st_ino;
		inos[3] = rn->have_dst ? rn->dst.st_ino : 0;
		cap_lock_inos(r, inos, 4, held, nheld);
		if (fstatat(rn->pfd, rn->name, &tmp, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (tmp.st_ino == rn->sst.st_ino) {
			struct stat tmp2;
			int now_dst = fstatat(rn->npfd, rn->newname, &tmp2,
					      AT_SYMLINK_NOFOLLOW) == 0;

			if (now_dst == rn->have_dst &&
			    (!rn->have_dst || tmp2.st_ino == rn->dst.st_ino))
				return 0;
		}
		cap_unlock(r, held, *nheld);
		*nheld = 0;
		if (tries > 8)
			return -EAGAIN;
	}
}

/* The handles and fids of both names, taken before the rename moves them. */
static void rename_identify(struct cap_root *r, struct rename_names *rn)
{
	if (cap_handle_at(r, rn->pfd, rn->name, &rn->sfh) < 0)
		rn->sfh.type = -1;
	if (!rn->have_dst || cap_handle_at(r, rn->npfd, rn->newname, &rn->dfh) < 0)
		rn->dfh.type = -1;
	if (r->journal) {
		cap_fid_of(r, NULL, rn->sst.st_ino, &rn->sfh, NULL, &rn->sfid);
		if (rn->have_dst)
			cap_fid_of(r, NULL, rn->dst.st_ino, &rn->dfh, NULL, &rn->dfid);
	}
}

/* The directory entries a done rename changed: both swapped for an
 * exchange (and the attributes of what now sits at the old name), else the
 * old name gone (or a whiteout), the new one naming the source and a
 * replaced destination's lost link. */
static int rename_journal_entries(struct cap_root *r, struct cdp_op *op,
				  const struct rename_names *rn, uint64_t pfid, uint64_t npfid)
{
	int jrc, cfd;

	if (rn->flags & RENAME_EXCHANGE) {
		jrc = cdp_op_dirent(op, pfid, rn->name, rn->dfid, rn->dst.st_mode & S_IFMT);
		if (jrc == 0)
			jrc = cdp_op_dirent(op, npfid, rn->newname, rn->sfid,
					    rn->sst.st_mode & S_IFMT);
		cfd = openat(rn->pfd, rn->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (jrc == 0 && cfd >= 0 && rn->dfid)
			jrc = cap_op_attr_fd(r, op, rn->dfid, cfd, NULL);
		if (cfd >= 0)
			close(cfd);
		return jrc;
	}
	if (rn->flags & RENAME_WHITEOUT)
		jrc = cap_journal_whiteout(r, op, rn->pfd, rn->name, pfid);
	else
		jrc = cdp_op_dirent(op, pfid, rn->name, 0, rn->sst.st_mode & S_IFMT);
	if (jrc == 0)
		jrc = cdp_op_dirent(op, npfid, rn->newname, rn->sfid, rn->sst.st_mode & S_IFMT);
	if (jrc == 0 && rn->have_dst && rn->dfid)
		jrc = cap_journal_lost_link(r, op, rn->dst.st_ino, &rn->dfh, rn->dfid);
	return jrc;
}

/* One operation for a done rename: its entries, then the attributes of the
 * source at its new name and of both parents. */
static void rename_journal(struct cap_root *r, const struct rename_names *rn)
{
	uint64_t pfid = 0, npfid = 0;
	struct cdp_op *op;
	int jrc, cfd;

	if (!r->journal || !rn->sfid || !(op = cap_op_start(r)))
		return;
	jrc = cap_fid_of(r, rn->pn, rn->pn->ino, &rn->pn->fh, NULL, &pfid);
	if (jrc == 0)
		jrc = cap_fid_of(r, rn->npn, rn->npn->ino, &rn->npn->fh, NULL, &npfid);
	if (jrc == 0)
		jrc = rename_journal_entries(r, op, rn, pfid, npfid);
	cfd = openat(rn->npfd, rn->newname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (jrc == 0 && cfd >= 0)
		jrc = cap_op_attr_fd(r, op, rn->sfid, cfd, NULL);
	if (cfd >= 0)
		close(cfd);
	if (jrc == 0)
		jrc = cap_op_attr_fd(r, op, pfid, rn->pfd, NULL);
	if (jrc == 0 && npfid != pfid)
		jrc = cap_op_attr_fd(r, op, npfid, rn->npfd, NULL);
	if (jrc < 0)
		cap_store_error(r, "journaling a rename", jrc);
	cap_op_finish(r, op, jrc);
}

void cap_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct cap_root *r = cap_root_of(req);
	struct rename_names rn;
	struct stat before[2];
	unsigned held[CAP_MAX_LOCKS];
	int nheld = 0, close_p, close_np = 0, rc = 0, have_before;

	memset(&rn, 0, sizeof(rn));
	rn.pn = cap_node_get(r, parent);
	rn.npn = cap_node_get(r, newparent);
	rn.name = name;
	rn.newname = newname;
	rn.flags = flags;
	rn.npfd = -1;
	rn.pfd = cap_node_open(r, rn.pn, O_PATH, &close_p);
	if (rn.pfd < 0) {
		fuse_reply_err(req, -rn.pfd);
		return;
	}
	rn.npfd = cap_node_open(r, rn.npn, O_PATH, &close_np);
	if (rn.npfd < 0) {
		rc = rn.npfd;
		rn.npfd = -1;
		goto out_close;
	}
	rc = rename_lock(r, &rn, held, &nheld);
	if (rc < 0)
		goto out_unlock;   /* nheld says what is still locked */
	rename_identify(r, &rn);
	have_before = fstat(rn.pfd, &before[0]) == 0 && fstat(rn.npfd, &before[1]) == 0;
	if (renameat2(rn.pfd, name, rn.npfd, newname, flags) < 0) {
		rc = -errno;
		if (have_before)
			rename_failed_changes(r, rn.pn, rn.pfd, rn.npn, rn.npfd, before);
		goto out_unlock;
	}
	/* two links of one inode: nothing happened */
	if (!(rn.have_dst && rn.dst.st_ino == rn.sst.st_ino && !(flags & RENAME_EXCHANGE)))
		rename_journal(r, &rn);
out_unlock:
	cap_unlock(r, held, nheld);
out_close:
	if (close_p)
		close(rn.pfd);
	if (close_np && rn.npfd >= 0)
		close(rn.npfd);
	fuse_reply_err(req, -rc);
}

void cap_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct cap_root *r = cap_root_of(req);
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

struct cap_dir {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
};

void cap_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cap_root *r = cap_root_of(req);
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

void cap_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
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

void cap_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cap_dir *d = (struct cap_dir *)(uintptr_t)fi->fh;

	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

void cap_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi)
{
	struct cap_dir *d = (struct cap_dir *)(uintptr_t)fi->fh;

	(void)ino;
	cap_fsync_fd(req, dirfd(d->dp), datasync);
}
