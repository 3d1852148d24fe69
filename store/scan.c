/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scan.c - what the query modules (diff.c, filelog.c, restore.c) share: a
 * map from fid to an index, a growing array, and two passes over the
 * versioned keys under a prefix of a column family in key order.  A
 * versioned key is a group key (host, id, name...) then ~seq, so the
 * versions of a group come together, newest first: one pass finds the
 * version of every group at two seqs at once (cdp_scan_versions), or hands
 * over every version (cdp_scan_history), with no seek per group.  And
 * the two steps that put a store's attributes on a local file (restore,
 * overlay apply).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

void *cdp_grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return p;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return NULL;
		ncap *= 2;
	}
	np = realloc(p, ncap * elem);
	if (np)
		*cap = ncap;
	return np;
}

static size_t fid_slot(uint64_t fid, size_t cap)
{
	fid *= 0x9E3779B97F4A7C15ULL;
	return (size_t)(fid >> 17) & (cap - 1);
}

int cdp_fidmap_put(struct cdp_fidmap *m, uint64_t fid, size_t val)
{
	size_t i;

	if (fid == 0)
		return -EINVAL;
	if ((m->n + 1) * 2 > m->cap) {
		struct cdp_fidmap big = { 0 };
		size_t j;

		big.cap = m->cap ? m->cap * 2 : 64;
		big.keys = calloc(big.cap, sizeof(*big.keys));
		big.vals = malloc(big.cap * sizeof(*big.vals));
		if (!big.keys || !big.vals) {
			free(big.keys);
			free(big.vals);
			return -ENOMEM;
		}
		for (j = 0; j < m->cap; j++)
			if (m->keys[j]) {
				i = fid_slot(m->keys[j], big.cap);
				while (big.keys[i])
					i = (i + 1) & (big.cap - 1);
				big.keys[i] = m->keys[j];
				big.vals[i] = m->vals[j];
			}
		big.n = m->n;
		cdp_fidmap_release(m);
		*m = big;
	}
	for (i = fid_slot(fid, m->cap); m->keys[i] && m->keys[i] != fid; i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i])
		m->n++;
	m->keys[i] = fid;
	m->vals[i] = val;
	return 0;
}

int cdp_fidmap_get(const struct cdp_fidmap *m, uint64_t fid, size_t *val)
{
	size_t i;

	if (!m->cap || fid == 0)
		return 0;
	for (i = fid_slot(fid, m->cap); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == fid) {
			*val = m->vals[i];
			return 1;
		}
	return 0;
}

void cdp_fidmap_release(struct cdp_fidmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* A heap copy of a value, kept across the iterator's moves. */
struct held {
	char *p;
	size_t len, cap;
};

static int hold(struct held *h, const char *val, size_t len, size_t room)
{
	char *np = cdp_grow(h->p, &h->cap, len + 1 + room, 1);

	if (!np)
		return -ENOMEM;
	h->p = np;
	memcpy(h->p, val, len);
	h->p[len] = 0;
	h->len = len;
	return 0;
}

/* Starts an iterator of cf at prefix. */
static rocksdb_iterator_t *scan_start(struct cdp_store *s, int cf, const uint8_t *prefix,
				      size_t plen)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[cf]);

	rocksdb_iter_seek(it, (const char *)prefix, plen);
	return it;
}

int cdp_scan_versions(struct cdp_store *s, int cf, const uint8_t *prefix, size_t plen,
		      const uint64_t seqs[2], cdp_versions_fn fn, void *arg)
{
	struct held vals[2] = { { 0 } }, group = { 0 };
	struct cdp_versions g;
	rocksdb_iterator_t *it;
	const char *key, *val;
	size_t klen, vlen, glen;
	uint64_t seq;
	int ret = 0, k, open = 0, have[2] = { 0, 0 };

	it = scan_start(s, cf, prefix, plen);
	for (;; rocksdb_iter_next(it)) {
		int more = rocksdb_iter_valid(it);

		if (more) {
			key = rocksdb_iter_key(it, &klen);
			more = klen >= plen + 8 && memcmp(key, prefix, plen) == 0;
		}
		glen = more ? klen - 8 : 0;
		if (open && (!more || glen != group.len || memcmp(key, group.p, glen) != 0)) {
			memset(&g, 0, sizeof(g));
			g.gkey = (const uint8_t *)group.p;
			g.glen = group.len;
			for (k = 0; k < 2; k++)
				if (have[k]) {
					g.val[k] = vals[k].p;
					g.vlen[k] = vals[k].len;
					g.seq[k] = get_u64be((const uint8_t *)vals[k].p +
							     vals[k].len + 1);
				}
			ret = fn(arg, &g);
			open = 0;
			if (ret)
				break;
		}
		if (!more)
			break;
		if (!open) {
			if (hold(&group, key, glen, 0) < 0) {
				ret = -ENOMEM;
				break;
			}
			open = 1;
			have[0] = have[1] = 0;
		}
		seq = key_seq_of(key, klen);
		for (k = 0; k < 2; k++) {
			if (have[k] || seq > seqs[k])
				continue;
			val = rocksdb_iter_value(it, &vlen);
			/* the value, its NUL, then its seq: g.seq reads it back */
			if (hold(&vals[k], val, vlen, 8) < 0) {
				ret = -ENOMEM;
				break;
			}
			put_u64be((uint8_t *)vals[k].p + vlen + 1, seq);
			have[k] = 1;
		}
		if (ret)
			break;
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family '%s' of '%s': scan of %zu-byte "
					    "prefix", cdp_cf_names[cf], s->path, plen);
	rocksdb_iter_destroy(it);
	free(vals[0].p);
	free(vals[1].p);
	free(group.p);
	return ret;
}

int cdp_scan_history(struct cdp_store *s, int cf, const uint8_t *prefix, size_t plen,
		     cdp_history_fn fn, void *arg)
{
	rocksdb_iterator_t *it;
	const char *key, *val;
	size_t klen, vlen;
	int ret = 0;

	it = scan_start(s, cf, prefix, plen);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen < plen + 8 || memcmp(key, prefix, plen) != 0)
			break;
		val = rocksdb_iter_value(it, &vlen);
		ret = fn(arg, (const uint8_t *)key, klen - 8, key_seq_of(key, klen), val, vlen);
		if (ret)
			break;
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family '%s' of '%s': history of %zu-byte "
					    "prefix", cdp_cf_names[cf], s->path, plen);
	rocksdb_iter_destroy(it);
	return ret;
}

int cdp_local_owner(const struct cdp_attr *a, const char *path, int fd, int is_root,
		    uint64_t *owner_failures, const char **what)
{
	if ((fd >= 0 ? fchown(fd, a->uid, a->gid) : lchown(path, a->uid, a->gid)) == 0)
		return 0;
	if (is_root || (errno != EPERM && errno != EINVAL)) {
		*what = "cannot set the owner of";
		return -errno;
	}
	(*owner_failures)++;
	return 0;
}

int cdp_local_mode_times(const struct cdp_attr *a, const char *path, int fd, const char **what)
{
	struct timespec t[2] = {
		{ a->atime_ns / 1000000000, a->atime_ns % 1000000000 },
		{ a->mtime_ns / 1000000000, a->mtime_ns % 1000000000 },
	};

	/* after chown, which clears set-id bits; a symlink has no mode */
	if (!S_ISLNK(a->mode) &&
	    (fd >= 0 ? fchmod(fd, a->mode & 07777) : chmod(path, a->mode & 07777)) < 0) {
		*what = "cannot set the mode of";
		return -errno;
	}
	if ((fd >= 0 ? futimens(fd, t) : utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW)) < 0) {
		*what = "cannot set the times of";
		return -errno;
	}
	return 0;
}
