/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay_dir.c - directories of an overlay: its entries and whiteouts, readdir
 * (the overlay's entries merged in name order with the base's, an
 * overlay entry or whiteout hiding the base's of the same name), and the
 * operations on names: lookup, mknod, symlink, link, unlink, rmdir,
 * rename.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "overlay_int.h"

/* ------------------------------------------------------------ entries */

/* 1 when dir's base holds name. */
static int base_has(struct cdp_overlay *o, uint64_t dir, const char *name)
{
	uint64_t child;
	uint32_t type;

	return dir < CDP_OVL_FIRST_NEW_ID &&
	       cdp_view_lookup(o->base, dir, name, &child, &type) == 0;
}

static int entry_get(struct cdp_overlay *o, uint64_t parent, const char *name,
		     uint64_t *child, uint32_t *type)
{
	struct okey k;
	char *val;
	size_t len;
	int ret;

	cdp_ovl_key_name(&k, 'E', parent, name);
	ret = cdp_ovl_get(o, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (val) {
		ret = cdp_ovl_entry_value_decode(val, len, child, type);
		if (ret == 1)   /* a whiteout */
			ret = -ENOENT;
		rocksdb_free(val);
		return ret;
	}
	if (parent >= CDP_OVL_FIRST_NEW_ID)
		return -ENOENT;
	return cdp_view_lookup(o->base, parent, name, child, type);
}

static void entry_put(struct txn *t, uint64_t parent, const char *name, uint64_t child,
		      uint32_t type)
{
	uint8_t v[OVL_ENTRY_VALUE_BYTES];
	struct okey k;

	cdp_ovl_entry_value_encode(v, child, type & S_IFMT);
	cdp_ovl_key_name(&k, 'E', parent, name);
	cdp_ovl_wb_put(t->wb, &k, v, sizeof(v));
}

static void entry_remove(struct txn *t, uint64_t parent, const char *name)
{
	struct okey k;

	cdp_ovl_key_name(&k, 'E', parent, name);
	if (base_has(t->o, parent, name))
		cdp_ovl_wb_put(t->wb, &k, OVL_WHITEOUT_VALUE, OVL_WHITEOUT_VALUE_BYTES);
	else
		cdp_ovl_wb_del(t->wb, &k);
}

/* The object lost a name; with none left it is purged at the next open
 * (it may still be open now). */
static void drop_link(struct txn *t, uint64_t id, struct ovl_ino *in, int64_t now)
{
	struct okey k;

	if (S_ISDIR(in->a.mode))
		in->a.nlink = 0;
	else if (in->a.nlink > 0)
		in->a.nlink--;
	in->a.ctime_ns = now;
	if (in->a.nlink == 0) {
		cdp_ovl_key_id(&k, 'O', id);
		cdp_ovl_wb_put(t->wb, &k, "O", 1);
	}
}


/* ------------------------------------------------------------ readdir */

struct ov_ent {
	char *name;
	uint64_t child;
	uint32_t type;
	int whiteout;
};

struct merge {
	struct ov_ent *ov;
	size_t nov, next;
	cdp_dirent_fn fn;
	void *arg;
	int stop;
};

static int emit_overlay_upto(struct merge *m, const char *name)
{
	while (m->next < m->nov && (!name || strcmp(m->ov[m->next].name, name) < 0)) {
		struct ov_ent *e = &m->ov[m->next++];

		if (!e->whiteout && (m->stop = m->fn(m->arg, e->name, e->child, e->type)))
			return m->stop;
	}
	return 0;
}

static int merge_base_cb(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct merge *m = arg;

	if (emit_overlay_upto(m, name))
		return m->stop;
	if (m->next < m->nov && strcmp(m->ov[m->next].name, name) == 0) {
		struct ov_ent *e = &m->ov[m->next++];

		if (!e->whiteout)
			m->stop = m->fn(m->arg, e->name, e->child, e->type);
		return m->stop;
	}
	m->stop = m->fn(m->arg, name, fid, type);
	return m->stop;
}

static int overlay_entries(struct cdp_overlay *o, uint64_t dir, struct ov_ent **out,
			   size_t *n)
{
	rocksdb_iterator_t *it;
	struct ov_ent *list = NULL;
	size_t count = 0, cap = 0;
	struct okey k;
	int ret = 0;

	cdp_ovl_key_id(&k, 'E', dir);
	it = rocksdb_create_iterator(o->db, o->ropts);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *key = rocksdb_iter_key(it, &klen);
		const char *val = rocksdb_iter_value(it, &vlen);
		struct ov_ent *e;

		if (klen < 9 || memcmp(key, k.b, 9) != 0)
			break;
		if (count == cap) {
			struct ov_ent *nl;

			cap = cap ? 2 * cap : 16;
			nl = realloc(list, cap * sizeof(*list));
			if (!nl) {
				ret = -ENOMEM;
				break;
			}
			list = nl;
		}
		e = &list[count];
		memset(e, 0, sizeof(*e));
		e->name = strndup(key + 9, klen - 9);
		if (!e->name) {
			ret = -ENOMEM;
			break;
		}
		/* what is not an entry hides the base's name, as a whiteout */
		if (cdp_ovl_entry_value_decode(val, vlen, &e->child, &e->type) != 0)
			e->whiteout = 1;
		count++;
	}
	if (ret == 0)
		ret = cdp_ovl_iter_done(it);
	else
		rocksdb_iter_destroy(it);
	if (ret < 0) {
		while (count)
			free(list[--count].name);
		free(list);
		return ret;
	}
	*out = list;
	*n = count;
	return 0;
}

int cdp_overlay_readdir(struct cdp_overlay *o, uint64_t dir, cdp_dirent_fn fn, void *arg)
{
	struct ovl_ino in;
	struct merge m;
	size_t i;
	int ret;

	ret = cdp_ovl_ino_get(o, dir, &in);
	if (ret < 0)
		return ret;
	cdp_ovl_ino_release(&in);
	if (!S_ISDIR(in.a.mode))
		return -ENOTDIR;
	memset(&m, 0, sizeof(m));
	m.fn = fn;
	m.arg = arg;
	ret = overlay_entries(o, dir, &m.ov, &m.nov);
	if (ret < 0)
		return ret;
	if (dir < CDP_OVL_FIRST_NEW_ID) {
		ret = cdp_view_readdir(o->base, dir, NULL, merge_base_cb, &m);
		if (ret == -ENOENT)
			ret = 0;
	}
	if (ret >= 0 && !m.stop)
		ret = emit_overlay_upto(&m, NULL);
	if (m.stop)
		ret = m.stop;
	for (i = 0; i < m.nov; i++)
		free(m.ov[i].name);
	free(m.ov);
	return ret;
}

static int any_entry_cb(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	(void)arg; (void)name; (void)fid; (void)type;
	return 1;
}

static int dir_is_empty(struct cdp_overlay *o, uint64_t dir)
{
	int ret = cdp_overlay_readdir(o, dir, any_entry_cb, NULL);

	return ret < 0 ? ret : ret == 0;
}


/* ------------------------------------------------------------ names */

int cdp_overlay_getattr(struct cdp_overlay *o, uint64_t id, struct cdp_attr *a)
{
	struct ovl_ino in;
	int ret = cdp_ovl_ino_get(o, id, &in);

	if (ret == 0) {
		*a = in.a;
		cdp_ovl_report_blocks(o, id, &in, a);
	}
	cdp_ovl_ino_release(&in);
	return ret;
}

int cdp_overlay_lookup(struct cdp_overlay *o, uint64_t parent, const char *name,
		       uint64_t *child, struct cdp_attr *a)
{
	uint32_t type;
	int ret;

	if (strlen(name) > CDP_NAME_MAX)
		return -ENAMETOOLONG;
	ret = entry_get(o, parent, name, child, &type);
	if (ret == 0)
		ret = cdp_overlay_getattr(o, *child, a);
	return ret;
}

ssize_t cdp_overlay_readlink(struct cdp_overlay *o, uint64_t id, char *buf, size_t size)
{
	struct ovl_ino in;
	ssize_t ret;
	size_t n;

	ret = cdp_ovl_ino_get(o, id, &in);
	if (ret < 0)
		return ret;
	if (!S_ISLNK(in.a.mode)) {
		cdp_ovl_ino_release(&in);
		return -EINVAL;
	}
	if (!in.target) {
		cdp_ovl_ino_release(&in);
		return cdp_view_readlink(o->base, id, buf, size);
	}
	n = strlen(in.target);
	if (n + 1 > size) {
		cdp_ovl_ino_release(&in);
		return -ERANGE;
	}
	memcpy(buf, in.target, n + 1);
	cdp_ovl_ino_release(&in);
	return (ssize_t)n;
}

/* Checks that parent is a directory where name is free; lock held. */
static int check_new_name(struct cdp_overlay *o, struct txn *t, uint64_t parent,
			  const char *name, struct ovl_ino **pin)
{
	uint64_t child;
	uint32_t type;
	int ret;

	if (strlen(name) > CDP_NAME_MAX)
		return -ENAMETOOLONG;
	ret = cdp_ovl_txn_ino(t, parent, pin);
	if (ret < 0)
		return ret;
	if (!S_ISDIR((*pin)->a.mode))
		return -ENOTDIR;
	if ((*pin)->a.nlink == 0)
		return -ENOENT;   /* removed while someone still stands in it */
	ret = entry_get(o, parent, name, &child, &type);
	if (ret == 0)
		return -EEXIST;
	return ret == -ENOENT ? 0 : ret;
}

/* Puts a new object named name in parent into t's batch; *id is
 * o->next_id, which the caller bumps once the batch is written.  Lock
 * held. */
static int new_object_put(struct cdp_overlay *o, struct txn *t, const struct cdp_ovl_ctx *ctx,
			  uint64_t parent, struct ovl_ino *pin, const char *name, uint32_t mode,
			  uint64_t rdev, const char *target, uint64_t *id, struct cdp_attr *a)
{
	int64_t now = now_ns();
	struct ovl_ino in;
	struct okey k;
	uint8_t v[8];
	int ret;

	memset(&in, 0, sizeof(in));
	in.own = 1;
	in.a.mode = mode;
	in.a.uid = ctx->uid;
	in.a.gid = ctx->gid;
	if (pin->a.mode & S_ISGID) {
		/* BSD group semantics of a setgid directory, as ext4 */
		in.a.gid = pin->a.gid;
		if (S_ISDIR(mode))
			in.a.mode |= S_ISGID;
	}
	in.a.nlink = S_ISDIR(mode) ? 2 : 1;
	in.a.rdev = rdev;
	in.a.atime_ns = in.a.mtime_ns = in.a.ctime_ns = now;
	/* st_blocks as ext4 gives them: a directory's first block, a symlink
	 * target inline up to 59 bytes; a file counts its delta file */
	in.a.blocks = 0;
	if (S_ISDIR(mode) || (target && strlen(target) >= 60))
		in.a.blocks = o->granule / 512;
	if (target) {
		in.target = (char *)target;
		in.a.size = strlen(target);
	} else if (S_ISDIR(mode)) {
		in.a.size = 4096;
	}
	*id = o->next_id;
	ret = cdp_ovl_ino_put(t->wb, *id, &in);
	if (ret < 0)
		return ret;
	cdp_ovl_key_meta(&k, "next_id");
	put_u64be(v, *id + 1);
	cdp_ovl_wb_put(t->wb, &k, v, 8);
	entry_put(t, parent, name, *id, mode);
	if (S_ISDIR(mode))
		pin->a.nlink++;
	cdp_ovl_touch_mc(pin, now);
	*a = in.a;
	return 0;
}

static int new_object(struct cdp_overlay *o, struct txn *t, const struct cdp_ovl_ctx *ctx,
		      uint64_t parent, struct ovl_ino *pin, const char *name, uint32_t mode,
		      uint64_t rdev, const char *target, uint64_t *id, struct cdp_attr *a)
{
	int ret = new_object_put(o, t, ctx, parent, pin, name, mode, rdev, target, id, a);

	if (ret == 0)
		ret = cdp_ovl_txn_commit(t);
	if (ret == 0)
		o->next_id++;
	return ret;
}

int cdp_overlay_mknod(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
		      const char *name, uint32_t mode, uint64_t rdev, uint64_t *id,
		      struct cdp_attr *a)
{
	struct ovl_ino *pin;
	struct txn t;
	int ret;

	if (S_ISLNK(mode) || (mode & S_IFMT) == 0)
		return -EINVAL;
	pthread_mutex_lock(&o->lock);
	cdp_ovl_txn_init(&t, o);
	ret = check_new_name(o, &t, parent, name, &pin);
	if (ret == 0)
		ret = new_object(o, &t, ctx, parent, pin, name, mode, rdev, NULL, id, a);
	cdp_ovl_txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int cdp_overlay_symlink(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
			const char *name, const char *target, uint64_t *id, struct cdp_attr *a)
{
	struct ovl_ino *pin;
	struct txn t;
	int ret;

	if (!*target || strlen(target) >= PATH_MAX)
		return !*target ? -ENOENT : -ENAMETOOLONG;
	pthread_mutex_lock(&o->lock);
	cdp_ovl_txn_init(&t, o);
	ret = check_new_name(o, &t, parent, name, &pin);
	if (ret == 0)
		ret = new_object(o, &t, ctx, parent, pin, name, S_IFLNK | 0777, 0, target, id, a);
	cdp_ovl_txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int cdp_overlay_link(struct cdp_overlay *o, uint64_t id, uint64_t newparent,
		     const char *newname, struct cdp_attr *a)
{
	struct ovl_ino *pin, *in;
	int64_t now = now_ns();
	struct okey k;
	struct txn t;
	int ret;

	pthread_mutex_lock(&o->lock);
	cdp_ovl_txn_init(&t, o);
	ret = check_new_name(o, &t, newparent, newname, &pin);
	if (ret == 0)
		ret = cdp_ovl_txn_ino(&t, id, &in);
	if (ret == 0 && S_ISDIR(in->a.mode))
		ret = -EPERM;
	if (ret == 0 && in->a.nlink == 0)
		ret = -ENOENT;
	if (ret == 0) {
		in->a.nlink++;
		in->a.ctime_ns = now;
		cdp_ovl_touch_mc(pin, now);
		entry_put(&t, newparent, newname, id, in->a.mode);
		cdp_ovl_key_id(&k, 'O', id);   /* in case it was an orphan */
		cdp_ovl_wb_del(t.wb, &k);
		ret = cdp_ovl_txn_commit(&t);
		if (ret == 0) {
			*a = in->a;
			in->own = 1;
			cdp_ovl_report_blocks(o, id, in, a);
		}
	}
	cdp_ovl_txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

static int remove_name(struct cdp_overlay *o, uint64_t parent, const char *name, int want_dir)
{
	struct ovl_ino *pin, *in;
	int64_t now = now_ns();
	uint64_t child;
	uint32_t type;
	struct txn t;
	int ret;

	pthread_mutex_lock(&o->lock);
	cdp_ovl_txn_init(&t, o);
	ret = entry_get(o, parent, name, &child, &type);
	if (ret == 0)
		ret = cdp_ovl_txn_ino(&t, parent, &pin);
	if (ret == 0)
		ret = cdp_ovl_txn_ino(&t, child, &in);
	if (ret < 0)
		goto out;
	if (want_dir && !S_ISDIR(in->a.mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (!want_dir && S_ISDIR(in->a.mode)) {
		ret = -EISDIR;
		goto out;
	}
	if (want_dir) {
		ret = dir_is_empty(o, child);
		if (ret < 0)
			goto out;
		if (!ret) {
			ret = -ENOTEMPTY;
			goto out;
		}
		cdp_ovl_dir_unlink_sub(pin);
	}
	entry_remove(&t, parent, name);
	drop_link(&t, child, in, now);
	cdp_ovl_touch_mc(pin, now);
	ret = cdp_ovl_txn_commit(&t);
out:
	cdp_ovl_txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int cdp_overlay_unlink(struct cdp_overlay *o, uint64_t parent, const char *name)
{
	return remove_name(o, parent, name, 0);
}

int cdp_overlay_rmdir(struct cdp_overlay *o, uint64_t parent, const char *name)
{
	return remove_name(o, parent, name, 1);
}

int cdp_overlay_rename(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
		       const char *name, uint64_t newparent, const char *newname, unsigned flags)
{
	struct ovl_ino *op, *np, *src, *dst = NULL;
	int64_t now = now_ns();
	uint64_t s, d = 0, wid = 0;
	struct cdp_attr wa;
	uint32_t st, dt;
	struct txn t;
	int ret;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
		return -EINVAL;
	if ((flags & RENAME_WHITEOUT) && !ctx)
		return -EINVAL;
	if (strlen(newname) > CDP_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&o->lock);
	cdp_ovl_txn_init(&t, o);
	ret = entry_get(o, parent, name, &s, &st);
	if (ret < 0)
		goto out;
	ret = entry_get(o, newparent, newname, &d, &dt);
	if (ret == -ENOENT) {
		d = 0;
		ret = 0;
	}
	if (ret < 0)
		goto out;
	if ((ret = cdp_ovl_txn_ino(&t, parent, &op)) < 0 || (ret = cdp_ovl_txn_ino(&t, newparent, &np)) < 0 ||
	    (ret = cdp_ovl_txn_ino(&t, s, &src)) < 0)
		goto out;
	if (!S_ISDIR(np->a.mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (d && (ret = cdp_ovl_txn_ino(&t, d, &dst)) < 0)
		goto out;

	if (flags & RENAME_EXCHANGE) {
		if (!d) {
			ret = -ENOENT;
			goto out;
		}
		entry_put(&t, newparent, newname, s, src->a.mode);
		entry_put(&t, parent, name, d, dst->a.mode);
		if (parent != newparent && S_ISDIR(src->a.mode) != S_ISDIR(dst->a.mode)) {
			/* a directory changed parents: move the ".." link */
			if (S_ISDIR(src->a.mode)) {
				cdp_ovl_dir_unlink_sub(op);
				np->a.nlink++;
			} else {
				cdp_ovl_dir_unlink_sub(np);
				op->a.nlink++;
			}
		}
		src->a.ctime_ns = dst->a.ctime_ns = now;
		cdp_ovl_touch_mc(op, now);
		cdp_ovl_touch_mc(np, now);
		ret = cdp_ovl_txn_commit(&t);
		goto out;
	}
	if (d) {
		if (flags & RENAME_NOREPLACE) {
			ret = -EEXIST;
			goto out;
		}
		if (d == s) {
			ret = 0;   /* two names of one file: nothing to do */
			goto out;
		}
		if (S_ISDIR(src->a.mode) && !S_ISDIR(dst->a.mode)) {
			ret = -ENOTDIR;
			goto out;
		}
		if (!S_ISDIR(src->a.mode) && S_ISDIR(dst->a.mode)) {
			ret = -EISDIR;
			goto out;
		}
		if (S_ISDIR(dst->a.mode)) {
			ret = dir_is_empty(o, d);
			if (ret < 0)
				goto out;
			if (!ret) {
				ret = -ENOTEMPTY;
				goto out;
			}
			cdp_ovl_dir_unlink_sub(np);
		}
		drop_link(&t, d, dst, now);
	}
	entry_put(&t, newparent, newname, s, src->a.mode);
	if (S_ISDIR(src->a.mode) && parent != newparent) {
		cdp_ovl_dir_unlink_sub(op);
		np->a.nlink++;
	}
	src->a.ctime_ns = now;
	cdp_ovl_touch_mc(op, now);
	cdp_ovl_touch_mc(np, now);
	if (flags & RENAME_WHITEOUT) {
		/* as ext4: the old name becomes a character device 0:0 of the
		 * caller's, in the same batch as the move (the names differ:
		 * d == s returned above) */
		ret = new_object_put(o, &t, ctx, parent, op, name, S_IFCHR, 0, NULL, &wid, &wa);
		if (ret < 0)
			goto out;
	} else if (parent != newparent || strcmp(name, newname) != 0) {
		entry_remove(&t, parent, name);
	}
	ret = cdp_ovl_txn_commit(&t);
	if (ret == 0 && (flags & RENAME_WHITEOUT))
		o->next_id++;
out:
	cdp_ovl_txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

