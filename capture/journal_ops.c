/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_ops.c - the helpers that turn real file state into journal
 * records for the capture handlers: an operation's start and finish
 * (cap_op_start/cap_op_finish, store errors logged once), the fid of an
 * inode (imap), attributes, data blocks and symlink targets read back from
 * the real file system, and the composite records of truncation, new
 * inodes, lost links, whiteouts, and directories a failed call changed.
 * All are no-ops returning 0 when the root has no journal.
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
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "capture/capture_int.h"

void cap_store_error(struct cap_root *r, const char *what, int err)
{
	int64_t since = 0;

	if (__atomic_exchange_n(&r->degraded_logged, 1, __ATOMIC_RELAXED))
		return;
	if ((r->journal && cdp_journal_degraded(r->journal, &since) == 1) || err == -CDP_ENOSPACE) {
		char when[64] = "now";

		if (since)
			cdp_time_format(since, when, sizeof(when));
		cdp_log(LOG_ERR, "CAPTURE DEGRADED for '%s': the store '%s' is full; "
			"the application keeps working but the journal has a gap since %s; "
			"capture resyncs by itself once the store has room again",
			r->path, r->store ? cdp_store_path(r->store) : "?", when);
		return;
	}
	cdp_log(LOG_ERR, "CAPTURE ERROR for '%s': %s failed: %s (the application keeps "
		"working; further store errors are not logged)", r->path, what,
		cdp_strerror(err));
}

struct cdp_op *cap_op_start(struct cap_root *r)
{
	struct cdp_op *op;
	int rc;

	if (!r->journal)
		return NULL;
	rc = cdp_op_new(r->journal, &op);
	if (rc < 0) {
		cap_store_error(r, "starting a journal op", rc);
		return NULL;
	}
	cdp_op_set_root(op, r->root_id);
	return op;
}

void cap_op_finish(struct cap_root *r, struct cdp_op *op, int err)
{
	int rc;

	if (!op)
		return;
	if (err < 0) {
		cdp_op_abort(op);
		return;
	}
	rc = cdp_op_commit(op, NULL, NULL);
	if (rc < 0)
		cap_store_error(r, "journal commit", rc);
}

int cap_fid_of(struct cap_root *r, struct cap_node *n, uint64_t ino,
	       const struct cap_handle *fh, struct cdp_op *op, uint64_t *fid)
{
	unsigned char stored[4 + CAP_HANDLE_MAX];
	unsigned char mine[4 + CAP_HANDLE_MAX];
	size_t stored_len = sizeof(stored), mine_len;
	struct cdp_op *own = NULL;
	int rc;

	*fid = 0;
	if (n && n->fid) {
		*fid = n->fid;
		return 0;
	}
	if (!r->journal)
		return 0;
	mine_len = cap_handle_bytes(fh, mine);
	pthread_mutex_lock(&r->imap_lock);
	rc = cdp_journal_imap_get(r->journal, r->root_id, ino, fid, stored, &stored_len);
	if (rc == 0 && *fid && (mine_len == 0 || stored_len == 0 ||
				(stored_len == mine_len && memcmp(stored, mine, mine_len) == 0)))
		goto out_found;
	rc = cdp_journal_new_fid(r->journal, fid);
	if (rc < 0)
		goto out_unlock;
	if (!op) {
		rc = cdp_op_new(r->journal, &own);
		if (rc < 0)
			goto out_unlock;
	}
	rc = cdp_op_imap(op ? op : own, r->root_id, ino, *fid, mine, mine_len);
	if (own) {
		if (rc < 0)
			cdp_op_abort(own);
		else
			rc = cdp_op_commit(own, NULL, NULL);
	}
	if (rc < 0)
		goto out_unlock;
out_found:
	rc = 0;
	if (n)
		n->fid = *fid;
out_unlock:
	pthread_mutex_unlock(&r->imap_lock);
	if (rc < 0) {
		cap_store_error(r, "inode map", rc);
		*fid = 0;
	}
	return rc;
}

int cap_op_attr_target(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
		       const char *target)
{
	struct stat st;
	struct cdp_attr a;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!op || !fid)
		return 0;
	cdp_attr_from_stat(&st, &a);
	return cdp_op_attr(op, fid, &a, S_ISLNK(st.st_mode) ? (target ? target : "") : NULL);
}

int cap_read_target(int fd, char *target, size_t size)
{
	ssize_t len = readlinkat(fd, "", target, size - 1);

	if (len < 0)
		return -errno;
	target[len] = '\0';
	return 0;
}

int cap_op_attr_fd(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
		   struct stat *st_out)
{
	struct stat st;
	struct cdp_attr a;
	char target[PATH_MAX + 1];

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st_out)
		*st_out = st;
	if (!op || !fid)
		return 0;
	if (S_ISLNK(st.st_mode)) {
		/* readlink may update the link's atime: stat it afterwards, so
		 * the record is what the link now is */
		if (cap_read_target(fd, target, sizeof(target)) < 0)
			target[0] = '\0';
		return cap_op_attr_target(r, op, fid, fd, target);
	}
	cdp_attr_from_stat(&st, &a);
	return cdp_op_attr(op, fid, &a, NULL);
}

int cap_op_blocks(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
		  uint64_t from_block, uint64_t to_block, uint64_t size)
{
	uint64_t bs = r->block_size, end_block = (size + bs - 1) / bs, b;
	char *buf;
	int rc = 0;

	if (!op || !fid)
		return 0;
	if (to_block > end_block) {
		uint64_t z = from_block > end_block ? from_block : end_block;

		rc = cdp_op_zero(op, fid, z, to_block);
		if (rc < 0)
			return rc;
		to_block = end_block;
	}
	if (from_block >= to_block)
		return 0;
	buf = malloc(bs);
	if (!buf)
		return -ENOMEM;
	for (b = from_block; b < to_block; b++) {
		ssize_t got = pread(fd, buf, bs, (off_t)(b * bs));

		if (got < 0) {
			rc = -errno;
			break;
		}
		if ((size_t)got < bs)
			memset(buf + got, 0, bs - (size_t)got);
		rc = cdp_op_data(op, fid, b * bs, buf, (size_t)got ? (size_t)got : bs);
		if (rc < 0)
			break;
	}
	free(buf);
	return rc;
}

/* Journals a size change of fid: what lies beyond the new end reads zero,
 * the now partial last block is read back.  fd must be readable. */
int cap_journal_truncate(struct cap_root *r, struct cdp_op *op, uint64_t fid, int fd,
			 uint64_t size)
{
	uint64_t bs = r->block_size;
	int rc;

	if (!op || !fid)
		return 0;
	rc = cdp_op_zero(op, fid, cap_ceil_div(size, bs), UINT64_MAX);
	if (rc < 0 || size % bs == 0)
		return rc;
	return cap_op_blocks(r, op, fid, fd, size / bs, size / bs + 1, size);
}

/*
 * The xattrs a new object is born with, which no setxattr brought: ACLs
 * inherited from a default ACL, security labels.  fd is an O_PATH
 * descriptor of the object (not a symlink).  Journals each; 0 when none.
 */
int cap_journal_born_xattrs(struct cdp_op *op, uint64_t fid, int fd)
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
int cap_journal_new_inode(struct cap_root *r, struct cdp_op *op, int pfd, const char *name,
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
		rc = cap_journal_born_xattrs(op, *fid, cfd);
	close(cfd);
	return rc;
}

/* Journals that name's inode (ino, fh) lost a link: its attributes if it
 * still has links, else its imap entry goes. */
int cap_journal_lost_link(struct cap_root *r, struct cdp_op *op, uint64_t ino,
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

/* Journals the whiteout (a character device 0/0, a new inode) that
 * renameat2(RENAME_WHITEOUT) left at name in the directory pfd. */
int cap_journal_whiteout(struct cap_root *r, struct cdp_op *op, int pfd, const char *name,
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
	rc = cap_journal_new_inode(r, op, pfd, name, &st, &fh, 0, &fid);
	if (rc == 0)
		rc = cdp_op_dirent(op, pfid, name, fid, st.st_mode & S_IFMT);
	return rc;
}

int cap_journal_dir_attrs(struct cap_root *r, struct cap_node *const *n, const int *fd,
			  unsigned mask, int count)
{
	struct cdp_op *op;
	uint64_t fid;
	int i, rc = 0;

	if (!r->journal || !mask)
		return 0;
	op = cap_op_start(r);
	if (!op)
		return 0;   /* logged */
	for (i = 0; i < count && rc == 0; i++) {
		if (!(mask & (1u << i)))
			continue;
		rc = cap_fid_of(r, n[i], n[i]->ino, &n[i]->fh, NULL, &fid);
		if (rc == 0)
			rc = cap_op_attr_fd(r, op, fid, fd[i], NULL);
	}
	if (rc < 0)
		cap_store_error(r, "journaling what a failed call changed", rc);
	cap_op_finish(r, op, rc);
	return rc;
}
