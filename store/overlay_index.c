/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay_index.c - the overlay's RocksDB index as the other files see it: keys
 * (layouts at the top of overlay.c), reads and batched writes, the 'I'
 * inode codec (cdp_overlay_inode_decode, fuzzed), and the transaction that
 * loads an operation's objects once and writes them in its one batch.
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

/* ------------------------------------------------------------ keys */

void cdp_ovl_key_id(struct okey *k, char tag, uint64_t id)
{
	k->b[0] = (uint8_t)tag;
	put_u64be(k->b + 1, id);
	k->len = 9;
}

void cdp_ovl_key_name(struct okey *k, char tag, uint64_t id, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	cdp_ovl_key_id(k, tag, id);
	if (n > CDP_NAME_MAX)
		n = CDP_NAME_MAX;
	memcpy(k->b + 9, name, n);
	k->len = 9 + n;
}

void cdp_ovl_key_block(struct okey *k, uint64_t id, uint64_t block)
{
	cdp_ovl_key_id(k, 'B', id);
	put_u64be(k->b + 9, block);
	k->len = 17;
}

void cdp_ovl_key_meta(struct okey *k, const char *name)
{
	size_t n = strlen(name);

	k->b[0] = 'M';
	memcpy(k->b + 1, name, n);
	k->len = 1 + n;
}

/* ------------------------------------------------------------ index I/O */

/* Maps a RocksDB error to an errno (ENOSPC above all: the app must see it). */
int cdp_ovl_err(char *err)
{
	int ret;

	if (!err)
		return 0;
	ret = strstr(err, "No space left") || strstr(err, "ENOSPC") ? -ENOSPC : -EIO;
	cdp_log(LOG_ERR, "overlay index: %s", err);
	rocksdb_free(err);
	return ret;
}

/* *val: heap (rocksdb_free), NULL when absent. */
int cdp_ovl_get(struct cdp_overlay *o, const struct okey *k, char **val, size_t *len)
{
	char *err = NULL;

	*val = rocksdb_get(o->db, o->ropts, (const char *)k->b, k->len, len, &err);
	return cdp_ovl_err(err);
}

int cdp_ovl_write(struct cdp_overlay *o, rocksdb_writebatch_t *wb)
{
	char *err = NULL;

	rocksdb_write(o->db, o->wopts, wb, &err);
	return cdp_ovl_err(err);
}

/* Destroys it; -EIO (and a log line) when it ended on an error rather than
 * at the end of its keys: a damaged index must not look like fewer
 * records (an overlaid block like a base one, a full directory like an
 * empty one). */
int cdp_ovl_iter_done(rocksdb_iterator_t *it)
{
	char *err = NULL;

	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (!err)
		return 0;
	cdp_ovl_err(err);
	return -EIO;
}

void cdp_ovl_wb_put(rocksdb_writebatch_t *wb, const struct okey *k, const void *v, size_t len)
{
	rocksdb_writebatch_put(wb, (const char *)k->b, k->len, v, len);
}

void cdp_ovl_wb_del(rocksdb_writebatch_t *wb, const struct okey *k)
{
	rocksdb_writebatch_delete(wb, (const char *)k->b, k->len);
}

void cdp_ovl_ino_release(struct ovl_ino *in)
{
	free(in->target);
	in->target = NULL;
}

int cdp_overlay_inode_decode(const char *val, size_t len, uint32_t *flags, uint64_t *base_limit,
			     struct cdp_attr *a, char **target)
{
	size_t hdr;
	int ret;

	*target = NULL;
	if (len < OVL_INODE_HEADER_BYTES || val[0] != 'I')
		return -CDP_ECORRUPT;
	*flags = get_u32be((const uint8_t *)val + 1);
	*base_limit = get_u64be((const uint8_t *)val + 5);
	ret = cdp_attr_decode(val + OVL_INODE_HEADER_BYTES, len - OVL_INODE_HEADER_BYTES, a, &hdr);
	if (ret < 0)
		return ret;
	if (OVL_INODE_HEADER_BYTES + hdr < len) {
		*target = strndup(val + OVL_INODE_HEADER_BYTES + hdr,
				  len - OVL_INODE_HEADER_BYTES - hdr);
		if (!*target)
			return -ENOMEM;
	}
	return 0;
}

static int ino_decode(const char *val, size_t len, struct ovl_ino *in)
{
	int ret = cdp_overlay_inode_decode(val, len, &in->flags, &in->base_limit, &in->a,
					   &in->target);

	in->own = ret == 0;
	return ret;
}

/* Loads object id: the overlay's record, else the base's attributes.
 * -ENOENT when neither has it. */
int cdp_ovl_ino_get(struct cdp_overlay *o, uint64_t id, struct ovl_ino *in)
{
	struct okey k;
	char *val;
	size_t len;
	int ret;

	memset(in, 0, sizeof(*in));
	cdp_ovl_key_id(&k, 'I', id);
	ret = cdp_ovl_get(o, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (val) {
		ret = len == 1 && val[0] == 'G' ? -ENOENT : ino_decode(val, len, in);
		rocksdb_free(val);
		return ret;
	}
	if (id >= CDP_OVL_FIRST_NEW_ID)
		return -ENOENT;
	ret = cdp_view_getattr(o->base, id, &in->a);
	if (ret < 0)
		return ret;
	in->flags = OVI_BASE;
	in->base_limit = S_ISREG(in->a.mode) ? in->a.size : 0;
	return 0;
}

int cdp_ovl_ino_put(rocksdb_writebatch_t *wb, uint64_t id, const struct ovl_ino *in)
{
	size_t tlen = in->target ? strlen(in->target) : 0;
	uint8_t *v = malloc(OVL_INODE_HEADER_BYTES + ATTR_VALUE_BYTES + tlen);
	struct okey k;

	if (!v)
		return -ENOMEM;
	v[0] = 'I';
	put_u32be(v + 1, in->flags);
	put_u64be(v + 5, in->base_limit);
	cdp_attr_encode(v + OVL_INODE_HEADER_BYTES, &in->a);
	if (tlen)
		memcpy(v + OVL_INODE_HEADER_BYTES + ATTR_VALUE_BYTES, in->target, tlen);
	cdp_ovl_key_id(&k, 'I', id);
	cdp_ovl_wb_put(wb, &k, v, OVL_INODE_HEADER_BYTES + ATTR_VALUE_BYTES + tlen);
	free(v);
	return 0;
}

void cdp_ovl_txn_init(struct txn *t, struct cdp_overlay *o)
{
	memset(t, 0, sizeof(*t));
	t->o = o;
	t->wb = rocksdb_writebatch_create();
}

void cdp_ovl_txn_release(struct txn *t)
{
	int i;

	for (i = 0; i < t->n; i++)
		cdp_ovl_ino_release(&t->ent[i].in);
	rocksdb_writebatch_destroy(t->wb);
}

int cdp_ovl_txn_ino(struct txn *t, uint64_t id, struct ovl_ino **out)
{
	int i, ret;

	for (i = 0; i < t->n; i++)
		if (t->ent[i].id == id) {
			*out = &t->ent[i].in;
			return 0;
		}
	if (t->n == TXN_MAX)
		return -EIO;
	ret = cdp_ovl_ino_get(t->o, id, &t->ent[t->n].in);
	if (ret < 0)
		return ret;
	t->ent[t->n].id = id;
	*out = &t->ent[t->n++].in;
	return 0;
}

int cdp_ovl_txn_commit(struct txn *t)
{
	int i, ret;

	for (i = 0; i < t->n; i++) {
		/* a changed base object becomes the overlay's own record */
		ret = cdp_ovl_ino_put(t->wb, t->ent[i].id, &t->ent[i].in);
		if (ret < 0)
			return ret;
	}
	return cdp_ovl_write(t->o, t->wb);
}

/* A directory lost a subdirectory's "..": never below 2, whatever the base
 * counted (nlink 0 marks a removed directory). */
void cdp_ovl_dir_unlink_sub(struct ovl_ino *dir)
{
	if (dir->a.nlink > 2)
		dir->a.nlink--;
}

void cdp_ovl_touch_mc(struct ovl_ino *in, int64_t now)
{
	in->a.mtime_ns = in->a.ctime_ns = now;
}

