/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay_xattr.c - extended attributes of an overlay: read through to the base
 * until the object's first xattr change copies all of them up (flag
 * OVI_OWN_XATTRS), then the overlay's own 'X' records.
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

/* ------------------------------------------------------------ xattrs */

static int xattrs_own(const struct ovl_ino *in, uint64_t id)
{
	return (in->flags & OVI_OWN_XATTRS) || !(in->flags & OVI_BASE) ||
	       id >= CDP_OVL_FIRST_NEW_ID;
}

ssize_t cdp_overlay_getxattr(struct cdp_overlay *o, uint64_t id, const char *name, void *buf,
			     size_t size)
{
	struct ovl_ino in;
	struct okey k;
	char *val;
	size_t len;
	ssize_t ret;

	ret = cdp_ovl_ino_get(o, id, &in);
	if (ret < 0)
		return ret;
	cdp_ovl_ino_release(&in);
	if (!xattrs_own(&in, id))
		return cdp_view_getxattr(o->base, id, name, buf, size);
	if (strlen(name) > CDP_NAME_MAX)
		return -ERANGE;
	cdp_ovl_key_name(&k, 'X', id, name);
	ret = cdp_ovl_get(o, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (!val || len < 1)
		ret = -ENODATA;
	else if (size && len - 1 > size)
		ret = -ERANGE;
	else {
		if (size)
			memcpy(buf, val + 1, len - 1);
		ret = (ssize_t)(len - 1);
	}
	rocksdb_free(val);
	return ret;
}

ssize_t cdp_overlay_listxattr(struct cdp_overlay *o, uint64_t id, char *buf, size_t size)
{
	rocksdb_iterator_t *it;
	struct ovl_ino in;
	struct okey k;
	size_t used = 0;
	ssize_t ret;

	ret = cdp_ovl_ino_get(o, id, &in);
	if (ret < 0)
		return ret;
	cdp_ovl_ino_release(&in);
	if (!xattrs_own(&in, id))
		return cdp_view_listxattr(o->base, id, buf, size);
	cdp_ovl_key_id(&k, 'X', id);
	it = rocksdb_create_iterator(o->db, o->ropts);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen;
		const char *key = rocksdb_iter_key(it, &klen);

		if (klen < 9 || memcmp(key, k.b, 9) != 0)
			break;
		if (size && used + (klen - 9) + 1 > size) {
			rocksdb_iter_destroy(it);
			return -ERANGE;
		}
		if (size) {
			memcpy(buf + used, key + 9, klen - 9);
			buf[used + klen - 9] = '\0';
		}
		used += klen - 9 + 1;
	}
	ret = cdp_ovl_iter_done(it);
	return ret < 0 ? ret : (ssize_t)used;
}

/* First change of a base object's xattrs: copy them all into the overlay,
 * which owns them from then on.  Lock held. */
static int xattrs_copy_up(struct cdp_overlay *o, struct txn *t, uint64_t id,
			  struct ovl_ino *in)
{
	char *names = NULL, *p, *val = NULL;
	ssize_t n, vn;
	int ret = 0;

	if (xattrs_own(in, id))
		return 0;
	n = cdp_view_listxattr(o->base, id, NULL, 0);
	if (n < 0)
		return (int)n;
	if (n > 0) {
		names = malloc((size_t)n);
		val = malloc(OVL_XATTR_MAX + 1);
		if (!names || !val) {
			ret = -ENOMEM;
			goto out;
		}
		n = cdp_view_listxattr(o->base, id, names, (size_t)n);
		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		for (p = names; p < names + n; p += strlen(p) + 1) {
			struct okey k;

			vn = cdp_view_getxattr(o->base, id, p, val + 1, OVL_XATTR_MAX);
			if (vn < 0) {
				ret = (int)vn;
				goto out;
			}
			val[0] = 'V';
			cdp_ovl_key_name(&k, 'X', id, p);
			cdp_ovl_wb_put(t->wb, &k, val, (size_t)vn + 1);
		}
	}
	in->flags |= OVI_OWN_XATTRS;
out:
	free(names);
	free(val);
	return ret;
}

int cdp_overlay_setxattr(struct cdp_overlay *o, uint64_t id, const char *name,
			 const void *value, size_t size, int flags)
{
	struct ovl_ino *in;
	struct okey k;
	struct txn t;
	ssize_t have;
	char *v;
	int ret;

	if (strlen(name) > CDP_NAME_MAX || !*name)
		return -ERANGE;
	if (size > OVL_XATTR_MAX)
		return -E2BIG;
	pthread_mutex_lock(&o->lock);
	cdp_ovl_txn_init(&t, o);
	ret = cdp_ovl_txn_ino(&t, id, &in);
	if (ret < 0)
		goto out;
	have = cdp_overlay_getxattr(o, id, name, NULL, 0);
	if (have < 0 && have != -ENODATA) {
		ret = (int)have;
		goto out;
	}
	if ((flags & XATTR_CREATE) && have >= 0) {
		ret = -EEXIST;
		goto out;
	}
	if ((flags & XATTR_REPLACE) && have < 0) {
		ret = -ENODATA;
		goto out;
	}
	ret = xattrs_copy_up(o, &t, id, in);
	if (ret < 0)
		goto out;
	v = malloc(size + 1);
	if (!v) {
		ret = -ENOMEM;
		goto out;
	}
	v[0] = 'V';
	memcpy(v + 1, value, size);
	cdp_ovl_key_name(&k, 'X', id, name);
	cdp_ovl_wb_put(t.wb, &k, v, size + 1);
	free(v);
	in->a.ctime_ns = now_ns();
	ret = cdp_ovl_txn_commit(&t);
out:
	cdp_ovl_txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int cdp_overlay_removexattr(struct cdp_overlay *o, uint64_t id, const char *name)
{
	struct ovl_ino *in;
	struct okey k;
	struct txn t;
	ssize_t have;
	int ret;

	pthread_mutex_lock(&o->lock);
	cdp_ovl_txn_init(&t, o);
	ret = cdp_ovl_txn_ino(&t, id, &in);
	if (ret < 0)
		goto out;
	have = cdp_overlay_getxattr(o, id, name, NULL, 0);
	if (have < 0) {
		ret = (int)have;
		goto out;
	}
	ret = xattrs_copy_up(o, &t, id, in);
	if (ret < 0)
		goto out;
	cdp_ovl_key_name(&k, 'X', id, name);
	cdp_ovl_wb_del(t.wb, &k);
	in->a.ctime_ns = now_ns();
	ret = cdp_ovl_txn_commit(&t);
out:
	cdp_ovl_txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

