/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ovl_apply.c - failback: the changes an overlay made against its base
 * (cdp_overlay_diff) applied to a local directory, production once a
 * takeover ends (cdp_overlay_apply, query.h).
 *
 * Conflicts first, per change: what the change replaces or removes must be
 * in DEST as it was in the base (same type; for a non-directory the same
 * size, mtime, mode, uid and gid, and a symlink the same target: a copy
 * made with cp -a or rsync -a keeps them, and a change to the file moves
 * its mtime), and what it adds must not be in DEST.  A conflict refuses
 * that change (and what lies below an added or deleted directory that is
 * one) unless forced; the others are applied.
 *
 * Then the changes, in an order that keeps every step possible: renamed
 * entries are moved out to temporary names at DEST's top (deepest first),
 * deletions are made (deepest first), then in path order each entry is
 * moved in, created, or patched: a file the overlay changed in place gets
 * only its overlaid blocks written and its size set (its base limit cut,
 * then extended as a hole), a file that is another object than the base's
 * is written whole under a temporary name and renamed in; last, the
 * attributes of directories, deepest first (writing entries moves their
 * times).  Nothing here reads the store's data but through the overlay.
 *
 * An interrupted apply (kill -9, a full disk) is never taken for a
 * finished one: before its first change it writes a durable marker
 * "DIR/.BASE.cdpfs-apply-incomplete" beside DEST, and removes it only once
 * every change is made and synced (syncfs).  While the marker is there
 * DEST holds part of the changes (with renamed entries perhaps still
 * under DEST/.cdpfs-apply-*): an apply refuses to run on it, and says how
 * to get DEST back (it is not resumable: a change made looks like a
 * conflict, a rename whose source moved cannot be redone).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "overlay_int.h"
#include "query.h"

struct achange {
	struct cdp_change c;
	char *path, *old_path;
	char *dst, *old_dst;      /* DEST paths, heap */
	char *temp;               /* R: its temporary name while moved out */
	char *base_path;          /* the base's path of what it changes (M m T), heap */
	const char *conflict;     /* static reason, NULL: applied */
	char why[160];
};

struct apply {
	struct cdp_overlay *o;
	const char *dir, *dest;
	unsigned flags;
	struct achange *v;
	size_t n, cap;
	char *err;
	size_t errlen;
	int is_root;
	uint8_t *buf;
	struct cdp_apply_summary *sum;
	struct cdp_fidmap made;   /* overlay id -> index of the change that wrote it */
};

static int keep_change(void *arg, const struct cdp_change *c)
{
	struct apply *ap = arg;
	struct achange *v = cdp_grow(ap->v, &ap->cap, ap->n + 1, sizeof(*ap->v));
	size_t dl = strcmp(ap->dir, "/") == 0 ? 0 : strlen(ap->dir);

	if (!v)
		return -ENOMEM;
	ap->v = v;
	v = &ap->v[ap->n];
	memset(v, 0, sizeof(*v));
	v->c = *c;
	v->path = strdup(c->path);
	v->old_path = c->old_path ? strdup(c->old_path) : NULL;
	v->dst = malloc(strlen(ap->dest) + strlen(c->path) + 2);
	v->old_dst = c->old_path ? malloc(strlen(ap->dest) + strlen(c->old_path) + 2) : NULL;
	if (!v->path || !v->dst || (c->old_path && (!v->old_path || !v->old_dst))) {
		free(v->path);
		free(v->old_path);
		free(v->dst);
		free(v->old_dst);
		return -ENOMEM;
	}
	sprintf(v->dst, "%s%s", ap->dest, c->path + dl);
	if (c->old_path)
		sprintf(v->old_dst, "%s%s", ap->dest, c->old_path + dl);
	ap->n++;
	return 0;
}

static int fail(struct apply *ap, int ret, const char *what, const char *path)
{
	cdp_errf(ap->err, ap->errlen, "%s '%s': %s", what, path, cdp_strerror(ret));
	return ret;
}

/* The overlay object at host path p (under the overlay's dir). */
static int ovl_resolve(struct apply *ap, const char *p, uint64_t *id)
{
	char name[CDP_NAME_MAX + 1];
	const char *rel = p + (strcmp(ap->dir, "/") == 0 ? 0 : strlen(ap->dir)), *e;
	struct cdp_attr a;
	uint64_t cur = ap->o->root_fid;
	int ret;

	while (*rel) {
		while (*rel == '/')
			rel++;
		if (!*rel)
			break;
		e = strchr(rel, '/');
		if (!e)
			e = rel + strlen(rel);
		if ((size_t)(e - rel) > CDP_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, rel, (size_t)(e - rel));
		name[e - rel] = 0;
		rel = e;
		ret = cdp_overlay_lookup(ap->o, cur, name, &cur, &a);
		if (ret < 0)
			return ret;
	}
	*id = cur;
	return 0;
}

/* ------------------------------------------------------------ conflicts */

/* Is what DEST holds at dst the base's object at host path p? */
static void check_base(struct apply *ap, struct achange *c, const char *p, const char *dst)
{
	struct cdp_attr a;
	struct stat st;
	uint64_t fid;
	char target[PATH_MAX + 1], mine[PATH_MAX + 1];
	ssize_t n;

	if (cdp_view_resolve(ap->o->base, p, &fid) < 0 || cdp_view_getattr(ap->o->base, fid, &a) < 0) {
		c->conflict = "not in the base";
		return;
	}
	if (lstat(dst, &st) < 0) {
		c->conflict = "missing in DEST";
		return;
	}
	if ((st.st_mode & S_IFMT) != (a.mode & S_IFMT)) {
		c->conflict = "another type in DEST";
		return;
	}
	if (S_ISDIR(a.mode))
		return;
	if ((uint64_t)st.st_size != a.size ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != a.mtime_ns ||
	    (st.st_mode & 07777) != (a.mode & 07777) || st.st_uid != a.uid || st.st_gid != a.gid) {
		int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		size_t len;

		snprintf(c->why, sizeof(c->why), "changed in DEST since the base (%s%s%s%s",
			 (uint64_t)st.st_size != a.size ? "size, " : "",
			 mt != a.mtime_ns ? "mtime, " : "",
			 (st.st_mode & 07777) != (a.mode & 07777) ? "mode, " : "",
			 st.st_uid != a.uid || st.st_gid != a.gid ? "owner, " : "");
		len = strlen(c->why);
		snprintf(c->why + len - 2, sizeof(c->why) - len + 2, ")");
		c->conflict = c->why;
		return;
	}
	if (S_ISLNK(a.mode)) {
		n = readlink(dst, mine, sizeof(mine) - 1);
		if (n >= 0)
			mine[n] = 0;
		if (n < 0 || cdp_view_readlink(ap->o->base, fid, target, sizeof(target)) < 0 ||
		    strcmp(mine, target) != 0)
			c->conflict = "another symlink target in DEST";
	}
}

static void check_absent(struct achange *c, const char *dst)
{
	struct stat st;

	if (lstat(dst, &st) == 0)
		c->conflict = "already in DEST";
}

static int under(const char *path, const char *top)
{
	size_t n = strlen(top);

	return strncmp(path, top, n) == 0 && path[n] == '/';
}

/* The renamed entry (R) whose new path p is, or is below (longest). */
static struct achange *renamed_above(struct apply *ap, const char *p, int new_side)
{
	struct achange *best = NULL;
	size_t i, n;

	for (i = 0; i < ap->n; i++) {
		struct achange *c = &ap->v[i];
		const char *top = new_side ? c->path : c->old_path;

		if (c->c.op != 'R' || (strcmp(p, top) != 0 && !under(p, top)))
			continue;
		n = strlen(top);
		if (!best || n > strlen(new_side ? best->path : best->old_path))
			best = c;
	}
	return best;
}

/* Below a renamed entry's new path, the same place below its old one: the
 * base's path of each M, m and T (heap). */
static int base_paths(struct apply *ap)
{
	size_t i;

	for (i = 0; i < ap->n; i++) {
		struct achange *c = &ap->v[i], *r;

		if (c->c.op != 'M' && c->c.op != 'm' && c->c.op != 'T')
			continue;
		r = renamed_above(ap, c->path, 1);
		c->base_path = r ? malloc(strlen(r->old_path) + strlen(c->path) + 1) :
				   strdup(c->path);
		if (!c->base_path)
			return -ENOMEM;
		if (r)
			sprintf(c->base_path, "%s%s", r->old_path, c->path + strlen(r->path));
	}
	return 0;
}

/* Where DEST holds host path p (of the base's tree) now: below an entry
 * moved out of the way, in its temporary place (heap). */
static char *where_now(struct apply *ap, const char *p)
{
	struct achange *r = renamed_above(ap, p, 0);
	size_t dl = strcmp(ap->dir, "/") == 0 ? 0 : strlen(ap->dir);
	char *w;

	if (r && r->temp) {
		w = malloc(strlen(r->temp) + strlen(p) + 1);
		if (w)
			sprintf(w, "%s%s", r->temp, p + strlen(r->old_path));
	} else {
		w = malloc(strlen(ap->dest) + strlen(p) + 1);
		if (w)
			sprintf(w, "%s%s", ap->dest, p + dl);
	}
	return w;
}

static void find_conflicts(struct apply *ap)
{
	size_t i, j;

	for (i = 0; i < ap->n; i++) {
		struct achange *c = &ap->v[i];

		switch (c->c.op) {
		case 'A':
			check_absent(c, c->dst);
			break;
		case 'R':
			check_base(ap, c, c->old_path, c->old_dst);
			if (!c->conflict)
				check_absent(c, c->dst);
			break;
		case 'D':
			check_base(ap, c, c->path, c->dst);
			break;
		default: {   /* M m T: the base's file, where DEST has it now */
			char *now = where_now(ap, c->base_path);

			if (now)
				check_base(ap, c, c->base_path, now);
			else
				c->conflict = "out of memory";
			free(now);
			break;
		}
		}
	}
	/* below a rename that is a conflict: not there to change */
	for (i = 0; i < ap->n; i++) {
		struct achange *c = &ap->v[i];

		if (c->c.op != 'R' || !c->conflict)
			continue;
		for (j = 0; j < ap->n; j++)
			if (j != i && !ap->v[j].conflict && (under(ap->v[j].path, c->path) ||
			    (strcmp(ap->v[j].path, c->path) == 0 && ap->v[j].c.op != 'R')))
				ap->v[j].conflict = "its rename is a conflict";
	}
	/* below an added or deleted directory that is a conflict: refused too */
	for (i = 0; i < ap->n; i++) {
		struct achange *c = &ap->v[i];

		if (!c->conflict || c->c.type != S_IFDIR || (c->c.op != 'A' && c->c.op != 'D'))
			continue;
		for (j = 0; j < ap->n; j++)
			if (j != i && ap->v[j].c.op == c->c.op && !ap->v[j].conflict &&
			    under(ap->v[j].path, c->path))
				ap->v[j].conflict = "its directory is a conflict";
	}
}

/* --------------------------------------------------------------- writes */

static int set_xattrs(struct apply *ap, uint64_t id, const char *path, int fd)
{
	char *names = NULL, *have = NULL, *val = NULL, *n;
	ssize_t len, hlen, vlen;
	int ret = 0;

	len = cdp_overlay_listxattr(ap->o, id, NULL, 0);
	if (len < 0)
		return fail(ap, (int)len, "cannot list the overlay's xattrs of", path);
	names = malloc((size_t)len + 1);
	if (!names)
		return -ENOMEM;
	len = cdp_overlay_listxattr(ap->o, id, names, (size_t)len);
	for (n = names; len > 0 && n < names + len && ret == 0; n += strlen(n) + 1) {
		vlen = cdp_overlay_getxattr(ap->o, id, n, NULL, 0);
		free(val);
		val = vlen >= 0 ? malloc((size_t)vlen + 1) : NULL;
		if (vlen < 0 || !val) {
			ret = vlen < 0 ? (int)vlen : -ENOMEM;
			break;
		}
		vlen = cdp_overlay_getxattr(ap->o, id, n, val, (size_t)vlen);
		if (vlen < 0) {
			ret = (int)vlen;
			break;
		}
		if ((fd >= 0 ? fsetxattr(fd, n, val, (size_t)vlen, 0) :
			       lsetxattr(path, n, val, (size_t)vlen, 0)) < 0) {
			ap->sum->xattr_failures++;
			cdp_log(LOG_WARNING, "cannot set xattr '%s' of '%s': %s", n, path,
				strerror(errno));
		}
	}
	/* and those DEST has that the overlay does not */
	hlen = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(path, NULL, 0);
	if (ret == 0 && hlen > 0 && (have = malloc((size_t)hlen + 1))) {
		hlen = fd >= 0 ? flistxattr(fd, have, (size_t)hlen) : llistxattr(path, have,
										 (size_t)hlen);
		for (n = have; hlen > 0 && n < have + hlen; n += strlen(n) + 1)
			if (cdp_overlay_getxattr(ap->o, id, n, NULL, 0) == -ENODATA)
				(void)(fd >= 0 ? fremovexattr(fd, n) : lremovexattr(path, n));
	}
	free(have);
	free(val);
	free(names);
	return ret < 0 ? fail(ap, ret, "cannot read the overlay's xattrs of", path) : 0;
}

static int set_meta(struct apply *ap, uint64_t id, const char *path, int fd)
{
	const char *what = NULL;
	struct cdp_attr a;
	int ret = cdp_overlay_getattr(ap->o, id, &a);

	if (ret < 0)
		return fail(ap, ret, "cannot read the overlay's attributes of", path);
	ret = cdp_local_owner(&a, path, fd, ap->is_root, &ap->sum->owner_failures, &what);
	if (ret == 0 && !S_ISLNK(a.mode))
		ret = set_xattrs(ap, id, path, fd);
	if (ret == 0)
		ret = cdp_local_mode_times(&a, path, fd, &what);
	return ret < 0 && what ? fail(ap, ret, what, path) : ret;
}

/* Writes the overlay's bytes of [from, to) that hold data to fd. */
static int copy_data(struct apply *ap, uint64_t id, int fd, uint64_t from, uint64_t to,
		     const char *path)
{
	uint64_t off = from, data, hole, bs = ap->o->bs;
	ssize_t got;
	int ret;

	while (off < to) {
		ret = cdp_overlay_seek(ap->o, id, off, 1, &data);
		if (ret == -ENXIO || (ret == 0 && data >= to))
			return 0;
		if (ret < 0)
			return fail(ap, ret, "cannot read the overlay's data of", path);
		ret = cdp_overlay_seek(ap->o, id, data, 0, &hole);
		if (ret < 0)
			return fail(ap, ret, "cannot read the overlay's data of", path);
		if (hole > to)
			hole = to;
		for (off = data; off < hole; off += (uint64_t)got) {
			size_t want = hole - off < 128 * bs ? (size_t)(hole - off) : 128 * bs;

			got = cdp_overlay_read(ap->o, id, ap->buf, want, off);
			if (got <= 0)
				return fail(ap, got < 0 ? (int)got : -EIO, "cannot read the overlay's "
					    "data of", path);
			ret = cdp_pwrite_all(fd, ap->buf, (size_t)got, off);
			if (ret < 0)
				return fail(ap, ret, "cannot write", path);
			ap->sum->bytes_written += (uint64_t)got;
		}
	}
	return 0;
}

/* A file or node of the overlay, made whole at dst (under a temporary
 * name, then renamed in). */
static int create_whole(struct apply *ap, uint64_t id, const char *dst)
{
	char *tmp = malloc(strlen(dst) + 32), target[PATH_MAX + 1];
	struct cdp_attr a;
	struct stat st;
	int fd = -1, ret;
	ssize_t n;

	if (!tmp)
		return -ENOMEM;
	sprintf(tmp, "%s.cdpfs-apply-XXXXXX", dst);
	ret = cdp_overlay_getattr(ap->o, id, &a);
	if (ret < 0) {
		fail(ap, ret, "cannot read the overlay's attributes of", dst);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		ret = fail(ap, -errno, "cannot create a file beside", dst);
		goto out;
	}
	if (S_ISREG(a.mode)) {
		ret = copy_data(ap, id, fd, 0, a.size, dst);
		if (ret == 0 && ftruncate(fd, (off_t)a.size) < 0)
			ret = fail(ap, -errno, "cannot set the size of", dst);
		if (ret == 0)
			ret = set_meta(ap, id, tmp, fd);
	} else {
		close(fd);
		fd = -1;
		unlink(tmp);
		if (S_ISLNK(a.mode)) {
			n = cdp_overlay_readlink(ap->o, id, target, sizeof(target));
			ret = n < 0 ? (int)n : symlink(target, tmp) < 0 ? -errno : 0;
		} else {
			ret = mknod(tmp, (a.mode & S_IFMT) | 0600, (dev_t)a.rdev) < 0 ? -errno : 0;
		}
		if (ret < 0)
			fail(ap, ret, "cannot create", dst);
		else
			ret = set_meta(ap, id, tmp, -1);
	}
	if (fd >= 0 && close(fd) < 0 && ret == 0)
		ret = fail(ap, -errno, "cannot write", dst);
	fd = -1;
	if (ret == 0 && lstat(dst, &st) == 0 && S_ISDIR(st.st_mode))
		ret = cdp_rm_tree(dst);
	if (ret == 0 && rename(tmp, dst) < 0)
		ret = fail(ap, -errno, "cannot rename into place", dst);
	if (ret < 0)
		unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	return ret;
}

/* The file changed in place: its overlaid blocks, its size. */
static int patch_file(struct apply *ap, uint64_t id, const char *dst)
{
	struct ovl_ino in;
	rocksdb_iterator_t *it;
	struct okey k;
	const char *key, *val;
	size_t klen, vlen;
	uint64_t bs = ap->o->bs, b, limit;
	int fd, ret;

	ret = cdp_ovl_ino_get(ap->o, id, &in);
	if (ret < 0)
		return fail(ap, ret, "cannot read the overlay's attributes of", dst);
	fd = open(dst, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		cdp_ovl_ino_release(&in);
		return fail(ap, -errno, "cannot open", dst);
	}
	limit = in.flags & OVI_BASE ? in.base_limit : 0;
	/* below the limit DEST holds the base; past it the overlay's alone */
	if (ftruncate(fd, (off_t)limit) < 0 || ftruncate(fd, (off_t)in.a.size) < 0)
		ret = fail(ap, -errno, "cannot set the size of", dst);
	if (ret == 0 && in.a.size > limit)
		ret = copy_data(ap, id, fd, limit / bs * bs, in.a.size, dst);
	cdp_ovl_key_block(&k, id, 0);
	it = rocksdb_create_iterator(ap->o->db, ap->o->ropts);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); ret == 0 && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != k.len || memcmp(key, k.b, 9) != 0)
			break;
		b = get_u64be((const uint8_t *)key + 9);
		if (b * bs >= limit || b * bs >= in.a.size)
			continue;   /* written above */
		val = rocksdb_iter_value(it, &vlen);
		if (vlen && val[0] == 'Z') {
			uint64_t len = in.a.size - b * bs < bs ? in.a.size - b * bs : bs;

			if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(b * bs),
				      (off_t)len) < 0) {
				memset(ap->buf, 0, len);
				ret = cdp_pwrite_all(fd, ap->buf, (size_t)len, b * bs);
				if (ret < 0)
					fail(ap, ret, "cannot write", dst);
			}
		} else {
			ret = copy_data(ap, id, fd, b * bs, b * bs + bs < in.a.size ? b * bs + bs :
					in.a.size, dst);
		}
	}
	if (ret == 0)
		ret = cdp_ovl_iter_done(it);
	else
		rocksdb_iter_destroy(it);
	if (ret == 0)
		ret = set_meta(ap, id, dst, fd);
	if (close(fd) < 0 && ret == 0)
		ret = fail(ap, -errno, "cannot write", dst);
	cdp_ovl_ino_release(&in);
	return ret;
}

static int depth_of(const char *p)
{
	int n = 0;

	for (; *p; p++)
		n += *p == '/';
	return n;
}

static struct apply *sort_ap;   /* qsort's context: one apply at a time */

static int by_old_depth_desc(const void *x, const void *y)
{
	const struct achange *a = &sort_ap->v[*(const size_t *)x];
	const struct achange *b = &sort_ap->v[*(const size_t *)y];

	return depth_of(b->old_path) - depth_of(a->old_path);
}

/* Moves every renamed entry out of the way, deepest first. */
static int move_out(struct apply *ap)
{
	size_t *idx = malloc((ap->n + 1) * sizeof(*idx)), n = 0, i;
	int ret = 0;

	if (!idx)
		return -ENOMEM;
	for (i = 0; i < ap->n; i++)
		if (ap->v[i].c.op == 'R' && !ap->v[i].conflict)
			idx[n++] = i;
	sort_ap = ap;
	qsort(idx, n, sizeof(*idx), by_old_depth_desc);
	for (i = 0; i < n && ret == 0; i++) {
		struct achange *c = &ap->v[idx[i]];

		c->temp = malloc(strlen(ap->dest) + 48);
		if (!c->temp) {
			ret = -ENOMEM;
			break;
		}
		sprintf(c->temp, "%s/.cdpfs-apply-%zu-%ld", ap->dest, idx[i], (long)getpid());
		if (rename(c->old_dst, c->temp) < 0)
			ret = fail(ap, -errno, "cannot move out of the way", c->old_dst);
	}
	free(idx);
	return ret;
}

/* Deletions, and what a type change replaces, deepest first, where DEST
 * holds them now. */
static int remove_old(struct apply *ap)
{
	size_t i;
	int ret = 0, r;

	for (i = ap->n; i-- > 0 && ret == 0;) {
		struct achange *c = &ap->v[i];
		uint32_t type = c->c.op == 'T' ? c->c.old_type : c->c.type;
		char *now;

		if (c->conflict || (c->c.op != 'D' && c->c.op != 'T'))
			continue;
		now = where_now(ap, c->c.op == 'T' ? c->base_path : c->path);
		if (!now)
			return -ENOMEM;
		r = (type == S_IFDIR ? rmdir(now) : unlink(now)) < 0 ? -errno : 0;
		if (r == -ENOTEMPTY || r == -EEXIST)
			c->conflict = "holds entries in DEST that are not in the base";
		else if (r < 0 && !(r == -ENOENT && (ap->flags & CDP_APPLY_FORCE)))
			ret = fail(ap, r, "cannot remove", now);
		free(now);
	}
	return ret;
}

static int apply_one(struct apply *ap, size_t i)
{
	struct achange *c = &ap->v[i];
	uint64_t id, base_fid = 0;
	size_t first;
	int ret;

	if (c->c.op == 'D')
		return 0;
	ret = ovl_resolve(ap, c->path, &id);
	if (ret < 0)
		return fail(ap, ret, "cannot find in the overlay", c->path);
	if (c->c.op == 'R') {
		if (rename(c->temp, c->dst) < 0)
			return fail(ap, -errno, "cannot move into place", c->dst);
		return 0;
	}
	if (c->c.type == S_IFDIR) {
		struct stat st;

		if ((c->c.op == 'A' || c->c.op == 'T') && mkdir(c->dst, 0700) < 0 &&
		    !(errno == EEXIST && lstat(c->dst, &st) == 0 && S_ISDIR(st.st_mode)))
			return fail(ap, -errno, "cannot create the directory", c->dst);
		return 0;   /* its attributes at the end */
	}
	if (c->c.op == 'A' && cdp_fidmap_get(&ap->made, id, &first)) {
		if (link(ap->v[first].dst, c->dst) < 0)
			return fail(ap, -errno, "cannot link", c->dst);
		return 0;
	}
	if (c->c.op == 'm')
		return set_meta(ap, id, c->dst, -1);
	if (c->c.op == 'M' && c->c.type == S_IFREG &&
	    cdp_view_resolve(ap->o->base, c->base_path, &base_fid) == 0 && base_fid == id)
		ret = patch_file(ap, id, c->dst);
	else
		ret = create_whole(ap, id, c->dst);
	if (ret == 0 && cdp_fidmap_put(&ap->made, id, i) < 0)
		ret = -ENOMEM;
	return ret;
}

/* Directories' attributes, deepest first. */
static int dir_attrs(struct apply *ap)
{
	size_t i;
	uint64_t id;
	int ret = 0;

	for (i = ap->n; i-- > 0 && ret == 0;) {
		struct achange *c = &ap->v[i];

		if (c->conflict || c->c.type != S_IFDIR || c->c.op == 'D')
			continue;
		ret = ovl_resolve(ap, c->path, &id);
		if (ret == 0)
			ret = set_meta(ap, id, c->dst, -1);
		else
			fail(ap, ret, "cannot find in the overlay", c->path);
	}
	return ret;
}

int cdp_overlay_apply(struct cdp_overlay *o, const char *dir, const char *dest, unsigned flags,
		      cdp_apply_fn fn, void *arg, struct cdp_apply_summary *sum, char *err,
		      size_t errlen)
{
	struct apply ap;
	struct stat st;
	char *marker = NULL, text[PATH_MAX * 2 + 160], when[64];
	size_t i;
	int ret, marked = 0;

	memset(&ap, 0, sizeof(ap));
	memset(sum, 0, sizeof(*sum));
	ap.o = o;
	ap.dir = dir;
	ap.dest = dest;
	ap.flags = flags;
	ap.err = err;
	ap.errlen = errlen;
	ap.sum = sum;
	ap.is_root = geteuid() == 0;
	if (err && errlen)
		err[0] = 0;
	if (stat(dest, &st) < 0 || !S_ISDIR(st.st_mode)) {
		ret = stat(dest, &st) < 0 ? -errno : -ENOTDIR;
		cdp_errf(err, errlen, "'%s' cannot be the destination: %s", dest, cdp_strerror(ret));
		return ret;
	}
	marker = cdp_path_beside(dest, ".cdpfs-apply-incomplete");
	if (!marker)
		return -ENOMEM;
	if (!(flags & CDP_APPLY_DRY_RUN) && lstat(marker, &st) == 0) {
		cdp_errf(err, errlen, "'%s' is partly applied: an earlier overlay apply into it was "
			 "interrupted ('%s' says how); bring '%s' back to its state before it "
			 "(cdpfs restore --overwrite of an instant before, if it is captured), "
			 "remove '%s', and apply again", dest, marker, dest, marker);
		free(marker);
		return -EBUSY;
	}
	ap.buf = malloc(128 * (size_t)o->bs);
	if (!ap.buf) {
		free(marker);
		return -ENOMEM;
	}
	ret = cdp_overlay_diff(o, dir, keep_change, &ap);
	if (ret < 0)
		fail(&ap, ret, "cannot compare the overlay with its base at", dir);
	if (ret == 0)
		ret = base_paths(&ap);
	if (ret == 0 && !(flags & CDP_APPLY_FORCE))
		find_conflicts(&ap);
	if (ret == 0 && !(flags & CDP_APPLY_DRY_RUN)) {
		cdp_time_format(cdp_now_ns(), when, sizeof(when));
		snprintf(text, sizeof(text), "cdpfs overlay apply of '%s' into '%s' since %s (pid "
			 "%d): not finished while this file exists\n", o->path, dest, when,
			 (int)getpid());
		ret = cdp_marker_write(marker, text);
		if (ret < 0)
			fail(&ap, ret, "cannot write the marker (nothing applied)", marker);
		else
			marked = 1;
		if (ret == 0)
			ret = move_out(&ap);
		if (ret == 0)
			ret = remove_old(&ap);
		for (i = 0; i < ap.n && ret == 0; i++)
			if (!ap.v[i].conflict)
				ret = apply_one(&ap, i);
		if (ret == 0)
			ret = dir_attrs(&ap);
		if (ret == 0 && (ret = cdp_sync_tree(dest)) < 0)
			fail(&ap, ret, "cannot make durable what was applied to", dest);
		if (ret == 0 && (ret = cdp_marker_clear(marker)) < 0)
			fail(&ap, ret, "cannot remove the marker", marker);
		if (ret < 0 && marked && err && strnlen(err, errlen) + 1 < errlen) {
			size_t len = strnlen(err, errlen);

			snprintf(err + len, errlen - len, " ('%s' is partly applied: '%s' stays until "
				 "it is brought back and the marker removed)", dest, marker);
		}
	}
	for (i = 0; i < ap.n; i++) {
		struct achange *c = &ap.v[i];

		if (ret == 0) {
			c->c.path = c->path;
			c->c.old_path = c->old_path;
			if (c->conflict)
				sum->conflicts++;
			else
				sum->applied++;
			if (fn)
				fn(arg, &c->c, c->conflict);
		}
		free(c->path);
		free(c->old_path);
		free(c->dst);
		free(c->old_dst);
		free(c->temp);
		free(c->base_path);
	}
	free(ap.v);
	free(ap.buf);
	free(marker);
	cdp_fidmap_release(&ap.made);
	return ret;
}
