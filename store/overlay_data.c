/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay_data.c - file data of an overlay: the per-object delta files (a
 * small cache of open descriptors, fdatasync of the dirty ones), block
 * states ('D' in the delta file, 'Z' zeros), read (delta, zeros, base or
 * zeros past the base limit), write with per-block copy-up, truncate,
 * fallocate, SEEK_DATA/SEEK_HOLE, fsync, and st_blocks accounting.
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

/* ------------------------------------------------------------ delta files */

/* An fd on id's delta file (created when create), or -ENOENT.  Release
 * with delta_put(o, fd). */
static int delta_get(struct cdp_overlay *o, uint64_t id, int create)
{
	char path[PATH_MAX];
	int i, fd, victim = -1;

	pthread_mutex_lock(&o->fd_lock);
	for (i = 0; i < OVL_FD_SLOTS; i++)
		if (o->fds[i].fd >= 0 && o->fds[i].id == id) {
			o->fds[i].refs++;
			o->fds[i].tick = ++o->fd_tick;
			fd = o->fds[i].fd;
			pthread_mutex_unlock(&o->fd_lock);
			return fd;
		}
	cdp_ovl_delta_path(o, id, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
		if (fd >= 0)
			cdp_ovl_sync_data_dir(o);   /* the new name survives a crash */
	}
	if (fd < 0) {
		fd = -errno;
		pthread_mutex_unlock(&o->fd_lock);
		return fd;
	}
	for (i = 0; i < OVL_FD_SLOTS; i++) {
		if (o->fds[i].fd < 0) {
			victim = i;
			break;
		}
		if (o->fds[i].refs == 0 &&
		    (victim < 0 || o->fds[i].tick < o->fds[victim].tick))
			victim = i;
	}
	if (victim >= 0) {
		if (o->fds[victim].fd >= 0) {
			/* what it holds must not be lost to an fsync that no
			 * longer sees its descriptor */
			if (o->fds[victim].dirty && fdatasync(o->fds[victim].fd) < 0)
				o->sync_error = -errno;
			close(o->fds[victim].fd);
		}
		o->fds[victim].fd = fd;
		o->fds[victim].id = id;
		o->fds[victim].refs = 1;
		o->fds[victim].tick = ++o->fd_tick;
		o->fds[victim].dirty = 0;
	}
	pthread_mutex_unlock(&o->fd_lock);
	return fd;
}

/* dirty: fd was written through. */
static void delta_put(struct cdp_overlay *o, int fd, int dirty)
{
	int i;

	pthread_mutex_lock(&o->fd_lock);
	for (i = 0; i < OVL_FD_SLOTS; i++)
		if (o->fds[i].fd == fd) {
			o->fds[i].refs--;
			o->fds[i].dirty |= dirty;
			pthread_mutex_unlock(&o->fd_lock);
			return;
		}
	pthread_mutex_unlock(&o->fd_lock);
	/* not cached (every slot was busy): sync now, no fsync will see it */
	if (dirty && fdatasync(fd) < 0)
		o->sync_error = -errno;
	close(fd);
}

/* fdatasync of every delta file written since its last sync: before the
 * index records pointing into them are made durable.  Returns the first
 * error met since the last call. */
int cdp_ovl_sync_dirty(struct cdp_overlay *o)
{
	int i, ret;

	pthread_mutex_lock(&o->fd_lock);
	for (i = 0; i < OVL_FD_SLOTS; i++)
		if (o->fds[i].fd >= 0 && o->fds[i].dirty) {
			if (fdatasync(o->fds[i].fd) < 0 && !o->sync_error)
				o->sync_error = -errno;
			o->fds[i].dirty = 0;
		}
	ret = o->sync_error;
	o->sync_error = 0;
	pthread_mutex_unlock(&o->fd_lock);
	return ret;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(p, 0, len);   /* past the delta file's end: zeros */
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}


/* ------------------------------------------------------------ block states */

/* states[i] gets the state ('D', 'Z' or 0) of block first + i. */
static int block_states(struct cdp_overlay *o, uint64_t id, uint64_t first, size_t count,
			 char *states)
{
	rocksdb_iterator_t *it;
	struct okey k;

	memset(states, 0, count);
	cdp_ovl_key_block(&k, id, first);
	it = rocksdb_create_iterator(o->db, o->ropts);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *key = rocksdb_iter_key(it, &klen);
		const char *val = rocksdb_iter_value(it, &vlen);
		uint64_t b;

		if (klen != 17 || memcmp(key, k.b, 9) != 0)
			break;
		b = get_u64be((const uint8_t *)key + 9);
		if (b >= first + count)
			break;
		if (vlen >= 1)
			states[b - first] = val[0];
	}
	return cdp_ovl_iter_done(it);
}

/* Content of [off, off+len) from below the overlay's changes of this block
 * run: the base up to base_limit, zeros beyond. */
static int read_beneath(struct cdp_overlay *o, uint64_t id, const struct ovl_ino *in,
			char *buf, size_t len, uint64_t off)
{
	size_t have = 0;

	if ((in->flags & OVI_BASE) && off < in->base_limit) {
		size_t want = len;
		ssize_t n;

		if (off + want > in->base_limit)
			want = (size_t)(in->base_limit - off);
		n = cdp_view_read(o->base, id, buf, want, off);
		if (n < 0)
			return (int)n;
		have = (size_t)n;
	}
	memset(buf + have, 0, len - have);
	return 0;
}

ssize_t cdp_overlay_read(struct cdp_overlay *o, uint64_t id, void *buf, size_t len,
			 uint64_t off)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	struct ovl_ino in;
	uint64_t bs = o->bs, first, last, pos, end;
	char *states = NULL, *out = buf;
	int fd = -1, ret;
	size_t i, count;

	pthread_rwlock_rdlock(stripe);
	ret = cdp_ovl_ino_get(o, id, &in);
	if (ret < 0)
		goto out;
	if (S_ISDIR(in.a.mode)) {
		ret = -EISDIR;
		goto out;
	}
	if (off >= in.a.size || len == 0) {
		len = 0;   /* at or past the end: nothing */
		ret = 0;
		goto out;
	}
	if (len > in.a.size - off)
		len = (size_t)(in.a.size - off);
	end = off + len;
	first = off / bs;
	last = (end - 1) / bs;
	count = (size_t)(last - first + 1);
	states = malloc(count);
	if (!states) {
		ret = -ENOMEM;
		goto out;
	}
	ret = block_states(o, id, first, count, states);
	if (ret < 0)
		goto out;
	for (pos = off, i = 0; i < count;) {
		size_t j = i + 1, n;
		uint64_t run_end;

		/* a run of blocks in the same state, one I/O */
		while (j < count && states[j] == states[i])
			j++;
		run_end = (first + j) * bs;
		if (run_end > end)
			run_end = end;
		n = (size_t)(run_end - pos);
		if (states[i] == 'D') {
			if (fd < 0)
				fd = delta_get(o, id, 0);
			ret = fd < 0 ? fd : pread_full(fd, out + (pos - off), n, pos);
			if (fd == -ENOENT) {
				memset(out + (pos - off), 0, n);
				ret = 0;
			}
		} else if (states[i] == 'Z') {
			memset(out + (pos - off), 0, n);
		} else {
			ret = read_beneath(o, id, &in, out + (pos - off), n, pos);
		}
		if (ret < 0)
			goto out;
		pos = run_end;
		i = j;
	}
	ret = 0;
out:
	if (fd >= 0)
		delta_put(o, fd, 0);
	free(states);
	cdp_ovl_ino_release(&in);
	pthread_rwlock_unlock(stripe);
	return ret < 0 ? ret : (ssize_t)len;
}


/* ------------------------------------------------------------ allocation */

/*
 * st_blocks of an overlaid regular file is what it would take on the disk
 * beneath: the part of its base that still shows, plus what its delta file
 * really holds (stat of the delta file: the overlay writes there only the
 * granules it must, so that is the overlay's own allocation, reservations
 * included).  The base part is the blocks field of the object's record: the
 * captured st_blocks at the first change, lowered by each base block's
 * estimate (its bytes below the base limit, in whole granules) as base
 * blocks with data get hidden: overwritten ('D'), zeroed ('Z') or cut off
 * by a truncate.  A base part of CDP_BLOCKS_UNKNOWN (a record without it)
 * stays unknown.  The estimates are the overlay's; the captured value is
 * the real filesystem's, so the base part is "about", never below zero.
 */

/* The 512-byte sectors base block b counts for when the base shows up to
 * limit. */
static uint64_t base_block_sectors(const struct cdp_overlay *o, uint64_t b, uint64_t limit)
{
	uint64_t start = b * o->bs, n;

	if (start >= limit)
		return 0;
	n = limit - start < o->bs ? limit - start : o->bs;
	return (n + o->granule - 1) / o->granule * (o->granule / 512);
}

/* 1 when in's base part is known and not yet zero: worth lowering. */
static int base_part_live(const struct ovl_ino *in)
{
	return (in->flags & OVI_BASE) && in->a.blocks != CDP_BLOCKS_UNKNOWN && in->a.blocks > 0;
}

/* Lowers in's base part by sectors, never below zero. */
static void base_part_drop(struct ovl_ino *in, uint64_t sectors)
{
	if (!(in->flags & OVI_BASE) || in->a.blocks == CDP_BLOCKS_UNKNOWN)
		return;
	in->a.blocks = in->a.blocks > sectors ? in->a.blocks - sectors : 0;
}

/* Sets a->blocks to what stat(2) reports for object id, in its record. */
void cdp_ovl_report_blocks(struct cdp_overlay *o, uint64_t id, const struct ovl_ino *in,
			   struct cdp_attr *a)
{
	char path[PATH_MAX];
	struct stat st;
	uint64_t base;

	if (!in->own || !S_ISREG(in->a.mode))
		return;   /* the base's, as captured; or set when made */
	base = (in->flags & OVI_BASE) ? in->a.blocks : 0;
	if (base == CDP_BLOCKS_UNKNOWN)
		return;
	a->blocks = base;
	cdp_ovl_delta_path(o, id, path, sizeof(path));
	if (stat(path, &st) == 0 && st.st_blocks > 0)
		a->blocks += (uint64_t)st.st_blocks;
}

struct hidden_scan {
	struct cdp_overlay *o;
	uint64_t id, limit, new_limit;
	uint64_t sectors;            /* out */
	rocksdb_iterator_t *it;      /* over id's block records */
	uint64_t rb;                 /* block of the record at it; UINT64_MAX: none */
	int positioned;
};

static int hidden_fn(void *arg, uint64_t b)
{
	struct hidden_scan *h = arg;

	if (!h->positioned || h->rb < b) {
		struct okey k;
		const char *key;
		size_t klen;

		cdp_ovl_key_block(&k, h->id, b);
		rocksdb_iter_seek(h->it, (const char *)k.b, k.len);
		h->positioned = 1;
		h->rb = UINT64_MAX;
		if (rocksdb_iter_valid(h->it)) {
			key = rocksdb_iter_key(h->it, &klen);
			if (klen == 17 && memcmp(key, k.b, 9) == 0)
				h->rb = get_u64be((const uint8_t *)key + 9);
		}
	}
	if (h->rb != b)   /* a record hid it already */
		h->sectors += base_block_sectors(h->o, b, h->limit) -
			      base_block_sectors(h->o, b, h->new_limit);
	return 0;
}

/*
 * *sectors: how much the base part of id drops when the base blocks in
 * [first, end) that hold data and no record of the overlay go from showing
 * up to limit to showing up to new_limit (0: hidden).  One index seek per
 * base block with data in the range, none per hole.  Stripe held.
 */
static int base_hidden_sectors(struct cdp_overlay *o, uint64_t id, uint64_t first, uint64_t end,
			       uint64_t limit, uint64_t new_limit, uint64_t *sectors)
{
	struct hidden_scan h;
	int ret, r;

	memset(&h, 0, sizeof(h));
	h.o = o;
	h.id = id;
	h.limit = limit;
	h.new_limit = new_limit;
	h.it = rocksdb_create_iterator(o->db, o->ropts);
	ret = cdp_view_data_blocks(o->base, id, first, end, hidden_fn, &h);
	r = cdp_ovl_iter_done(h.it);
	if (ret == 0)
		ret = r;
	*sectors = ret == 0 ? h.sectors : 0;
	return ret;
}

struct base_scan {
	const struct cdp_overlay *o;
	const char *states;          /* of blocks first... */
	uint64_t first, limit;
	uint64_t sectors;            /* out */
};

static int base_scan_fn(void *arg, uint64_t b)
{
	struct base_scan *s = arg;

	if (s->states[b - s->first] == 0)
		s->sectors += base_block_sectors(s->o, b, s->limit);
	return 0;
}

static int all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/*
 * Puts blk, the whole content of the block at bstart, into the delta file
 * as a native file would hold it: the granules that [ws, we) wrote or that
 * hold a non-zero byte are written, the others stay holes (punched when
 * the delta file may hold older bytes there, below *dsize: its size before
 * this operation, -1 until needed).  So a copy-up of a small file's block
 * takes the space the file takes, not a whole block.
 */
static int put_block(struct cdp_overlay *o, int fd, const char *blk, uint64_t bstart,
		     uint64_t ws, uint64_t we, int64_t *dsize)
{
	uint64_t g = o->granule, n = o->bs / g, i = 0, j;
	int ret = 0;

	if (n <= 1)
		return pwrite_all(fd, blk, o->bs, bstart);
	while (i < n && ret == 0) {
		uint64_t gs = bstart + i * g;
		int keep = (ws < gs + g && we > gs) || !all_zero(blk + i * g, g);

		for (j = i + 1; j < n; j++) {
			uint64_t js = bstart + j * g;

			if (((ws < js + g && we > js) || !all_zero(blk + j * g, g)) != keep)
				break;
		}
		if (keep) {
			ret = pwrite_all(fd, blk + i * g, (size_t)((j - i) * g), gs);
		} else {
			if (*dsize < 0) {
				struct stat st;

				if (fstat(fd, &st) < 0)
					return -errno;
				*dsize = st.st_size;
			}
			if ((int64_t)gs < *dsize &&
			    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)gs,
				      (off_t)((j - i) * g)) < 0)
				ret = errno == EOPNOTSUPP ?
				      pwrite_all(fd, blk + i * g, (size_t)((j - i) * g), gs) : -errno;
		}
		i = j;
	}
	return ret;
}

struct seek_scan {
	int want_data;
	uint64_t expect;             /* looking for a hole: the next data block if none */
	uint64_t found;              /* UINT64_MAX: not yet */
};

static int seek_scan_fn(void *arg, uint64_t b)
{
	struct seek_scan *s = arg;

	if (s->want_data || b != s->expect) {
		s->found = s->want_data ? b : s->expect;
		return 1;
	}
	s->expect = b + 1;
	return 0;
}

int cdp_overlay_seek(struct cdp_overlay *o, uint64_t id, uint64_t off, int want_data,
		     uint64_t *pos)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	uint64_t bs = o->bs, nb, cb, b, found = UINT64_MAX;
	rocksdb_iterator_t *it;
	struct ovl_ino in;
	int ret, r;

	pthread_rwlock_rdlock(stripe);
	ret = cdp_ovl_ino_get(o, id, &in);
	if (ret < 0)
		goto out;
	if (S_ISDIR(in.a.mode) || !S_ISREG(in.a.mode)) {
		ret = S_ISDIR(in.a.mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if (off >= in.a.size) {
		ret = -ENXIO;
		goto out;
	}
	nb = (in.a.size + bs - 1) / bs;
	cb = (in.flags & OVI_BASE) ? (in.base_limit + bs - 1) / bs : 0;
	if (cb > nb)
		cb = nb;
	it = rocksdb_create_iterator(o->db, o->ropts);
	for (b = off / bs; b < nb && found == UINT64_MAX && ret == 0;) {
		uint64_t rb = UINT64_MAX, e;
		char rs = 0;
		struct okey k;

		/* the overlay's record at b, or the next one after it */
		cdp_ovl_key_block(&k, id, b);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (rocksdb_iter_valid(it)) {
			size_t klen, vlen;
			const char *key = rocksdb_iter_key(it, &klen);
			const char *val = rocksdb_iter_value(it, &vlen);

			if (klen == 17 && memcmp(key, k.b, 9) == 0) {
				rb = get_u64be((const uint8_t *)key + 9);
				rs = vlen >= 1 ? val[0] : 0;
			}
		}
		if (rb == b) {
			if ((rs == 'D') == !!want_data)
				found = b;
			b++;
			continue;
		}
		e = rb < nb ? rb : nb;   /* [b, e): no record; the base's below cb */
		if (b >= cb) {
			if (!want_data)
				found = b;   /* nothing beneath: a hole */
			b = e;
			continue;
		}
		{
			struct seek_scan sc = { want_data, b, UINT64_MAX };
			uint64_t e2 = e < cb ? e : cb;

			ret = cdp_view_data_blocks(o->base, id, b, e2, seek_scan_fn, &sc);
			if (ret > 0)
				ret = 0;
			if (sc.found == UINT64_MAX && !want_data && sc.expect < e2)
				sc.found = sc.expect;   /* no data from expect to e2 */
			found = sc.found;
			b = e2;
		}
	}
	r = cdp_ovl_iter_done(it);
	if (ret == 0)
		ret = r;
	if (ret < 0)
		goto out;
	if (found == UINT64_MAX) {
		if (want_data)
			ret = -ENXIO;
		else
			*pos = in.a.size;   /* the end of the file counts as a hole */
		goto out;
	}
	*pos = found * bs > off ? found * bs : off;
	if (*pos > in.a.size)
		*pos = in.a.size;
out:
	cdp_ovl_ino_release(&in);
	pthread_rwlock_unlock(stripe);
	return ret;
}

/* A block the write can put in place: already in the delta file, or wholly
 * covered by [off, off+len). */
static int direct_block(char state, uint64_t b, uint64_t bs, uint64_t off, size_t len)
{
	return state == 'D' || (off <= b * bs && off + len >= (b + 1) * bs);
}

/*
 * Puts buf (len bytes at off; NULL: zeros) into id's delta file, copying up
 * the rest of each partial block it touches; marks the blocks 'D' in wb.
 * *base_cut gets the sectors the base part loses (base blocks with data
 * that these blocks now hide).  Zeros go through put_block even into
 * blocks already copied, so that they free granules rather than fill them.
 * Called with the object's stripe held for writing.
 */
static int write_blocks(struct cdp_overlay *o, uint64_t id, const struct ovl_ino *in,
			rocksdb_writebatch_t *wb, const char *buf, size_t len, uint64_t off,
			uint64_t *base_cut)
{
	uint64_t bs = o->bs, first = off / bs, last = (off + len - 1) / bs, b;
	uint64_t cb = (in->flags & OVI_BASE) ? (in->base_limit + bs - 1) / bs : 0;
	size_t count = (size_t)(last - first + 1);
	char *states = malloc(count), *blk = NULL;
	int64_t dsize = -1;
	int fd, ret = 0;

	*base_cut = 0;
	if (!states)
		return -ENOMEM;
	ret = block_states(o, id, first, count, states);
	if (ret == 0 && base_part_live(in) && first < cb) {
		/* only blocks the overlay has not overlaid yet can hide base
		 * data: a page rewritten again costs no base index seek */
		struct base_scan sc = { o, states, first, in->base_limit, 0 };
		uint64_t lo = first, hi = last + 1 < cb ? last + 1 : cb;

		while (lo < hi && states[lo - first] != 0)
			lo++;
		while (hi > lo && states[hi - 1 - first] != 0)
			hi--;
		if (lo < hi)
			ret = cdp_view_data_blocks(o->base, id, lo, hi, base_scan_fn, &sc);
		*base_cut = sc.sectors;
	}
	if (ret < 0) {
		free(states);
		return ret;
	}
	fd = delta_get(o, id, 1);
	if (fd < 0) {
		free(states);
		return fd;
	}
	for (b = first; b <= last && ret == 0;) {
		uint64_t bstart = b * bs, ws = off > bstart ? off : bstart;
		uint64_t we = off + len < bstart + bs ? off + len : bstart + bs;
		char state = states[b - first];
		struct okey k;

		if (buf && direct_block(state, b, bs, off, len)) {
			/* in place: a run of blocks already copied or fully written */
			uint64_t e = b;

			while (e + 1 <= last && direct_block(states[e + 1 - first], e + 1, bs, off, len))
				e++;
			we = off + len < (e + 1) * bs ? off + len : (e + 1) * bs;
			ret = pwrite_all(fd, buf + (ws - off), (size_t)(we - ws), ws);
			for (; b <= e; b++) {
				if (states[b - first] != 'D') {
					cdp_ovl_key_block(&k, id, b);
					cdp_ovl_wb_put(wb, &k, "D", 1);
				}
			}
			continue;
		}
		if (!blk && !(blk = malloc(bs))) {
			ret = -ENOMEM;
			break;
		}
		if (state == 'D')
			ret = pread_full(fd, blk, bs, bstart);   /* zeros into a copied block */
		else if (state == 'Z')
			memset(blk, 0, bs);
		else
			ret = read_beneath(o, id, in, blk, bs, bstart);
		if (ret == 0) {
			if (buf)
				memcpy(blk + (ws - bstart), buf + (ws - off), (size_t)(we - ws));
			else
				memset(blk + (ws - bstart), 0, (size_t)(we - ws));
			ret = put_block(o, fd, blk, bstart, buf ? ws : bstart, buf ? we : bstart,
					&dsize);
		}
		if (state != 'D') {
			cdp_ovl_key_block(&k, id, b);
			cdp_ovl_wb_put(wb, &k, "D", 1);
		}
		b++;
	}
	delta_put(o, fd, 1);
	free(blk);
	free(states);
	return ret;
}

ssize_t cdp_overlay_write(struct cdp_overlay *o, uint64_t id, const void *buf, size_t len,
			  uint64_t off)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	struct ovl_ino snap, *in;
	uint64_t cut;
	struct txn t;
	int ret;

	if (len == 0)
		return 0;
	if (off + len < off)
		return -EFBIG;
	pthread_rwlock_wrlock(stripe);
	ret = cdp_ovl_ino_get(o, id, &snap);
	if (ret < 0)
		goto out_unlock;
	if (!S_ISREG(snap.a.mode)) {
		cdp_ovl_ino_release(&snap);
		ret = S_ISDIR(snap.a.mode) ? -EISDIR : -EINVAL;
		goto out_unlock;
	}
	cdp_ovl_txn_init(&t, o);
	ret = write_blocks(o, id, &snap, t.wb, buf, len, off, &cut);
	cdp_ovl_ino_release(&snap);
	if (ret == 0) {
		pthread_mutex_lock(&o->lock);
		ret = cdp_ovl_txn_ino(&t, id, &in);
		if (ret == 0) {
			if (off + len > in->a.size)
				in->a.size = off + len;
			base_part_drop(in, cut);
			cdp_ovl_touch_mc(in, now_ns());
			ret = cdp_ovl_txn_commit(&t);
		}
		pthread_mutex_unlock(&o->lock);
	}
	cdp_ovl_txn_release(&t);
out_unlock:
	pthread_rwlock_unlock(stripe);
	return ret < 0 ? ret : (ssize_t)len;
}

/*
 * The sectors the base part of id loses when it is cut to size: the base
 * blocks with data between the new base limit and the old one (all of
 * them when cut to 0).  Stripe held (the base limit and the block records
 * are stable), not the lock: a long scan holds up only this object.
 */
static int truncate_base_cut(struct cdp_overlay *o, uint64_t id, uint64_t size, uint64_t *cut)
{
	struct ovl_ino snap;
	uint64_t bs = o->bs;
	int ret;

	*cut = 0;
	ret = cdp_ovl_ino_get(o, id, &snap);
	if (ret < 0)
		return ret;
	if (S_ISREG(snap.a.mode) && base_part_live(&snap) && size < snap.base_limit) {
		if (size == 0)
			*cut = UINT64_MAX;
		else
			ret = base_hidden_sectors(o, id, size / bs, (snap.base_limit + bs - 1) / bs,
						  snap.base_limit, size, cut);
	}
	cdp_ovl_ino_release(&snap);
	return ret;
}

/* Cuts id to size (stripe and lock held; in is id's record in t); the
 * base part drops by cut (truncate_base_cut). */
static int truncate_locked(struct cdp_overlay *o, struct txn *t, uint64_t id,
			   struct ovl_ino *in, uint64_t size, uint64_t cut)
{
	uint64_t bs = o->bs;

	if (size < in->a.size) {
		struct okey from, to;
		int fd;

		if (in->base_limit > size) {
			in->base_limit = size;
			base_part_drop(in, cut);
		}
		cdp_ovl_key_block(&from, id, (size + bs - 1) / bs);
		cdp_ovl_key_block(&to, id + 1, 0);
		rocksdb_writebatch_delete_range(t->wb, (const char *)from.b, from.len,
						(const char *)to.b, to.len);
		fd = delta_get(o, id, 0);
		if (fd >= 0) {
			/* the partial last block's tail becomes zeros: cut
			 * before the index says so, so old bytes never return */
			int r = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;

			delta_put(o, fd, 1);
			if (r < 0)
				return r;
		} else if (fd != -ENOENT) {
			return fd;   /* cannot cut: refuse rather than keep the tail */
		}
	}
	in->a.size = size;
	return 0;
}

int cdp_overlay_setattr(struct cdp_overlay *o, uint64_t id, const struct cdp_attr *a,
			unsigned to_set, struct cdp_attr *out)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	int64_t now = now_ns();
	struct ovl_ino *in;
	uint64_t cut = 0;
	struct txn t;
	int ret;

	pthread_rwlock_wrlock(stripe);
	if ((to_set & CDP_OVL_SET_SIZE) && (ret = truncate_base_cut(o, id, a->size, &cut)) < 0) {
		pthread_rwlock_unlock(stripe);
		return ret;
	}
	pthread_mutex_lock(&o->lock);
	cdp_ovl_txn_init(&t, o);
	ret = cdp_ovl_txn_ino(&t, id, &in);
	if (ret < 0)
		goto out;
	if (to_set & CDP_OVL_SET_SIZE) {
		if (S_ISDIR(in->a.mode)) {
			ret = -EISDIR;
			goto out;
		}
		if (!S_ISREG(in->a.mode)) {
			ret = -EINVAL;
			goto out;
		}
		ret = truncate_locked(o, &t, id, in, a->size, cut);
		if (ret < 0)
			goto out;
		if (!(to_set & (CDP_OVL_SET_MTIME | CDP_OVL_SET_MTIME_NOW)))
			in->a.mtime_ns = now;
	}
	if (to_set & CDP_OVL_SET_MODE)
		in->a.mode = (in->a.mode & S_IFMT) | (a->mode & 07777);
	if (to_set & CDP_OVL_SET_UID)
		in->a.uid = a->uid;
	if (to_set & CDP_OVL_SET_GID)
		in->a.gid = a->gid;
	if (to_set & CDP_OVL_SET_ATIME_NOW)
		in->a.atime_ns = now;
	else if (to_set & CDP_OVL_SET_ATIME)
		in->a.atime_ns = a->atime_ns;
	if (to_set & CDP_OVL_SET_MTIME_NOW)
		in->a.mtime_ns = now;
	else if (to_set & CDP_OVL_SET_MTIME)
		in->a.mtime_ns = a->mtime_ns;
	in->a.ctime_ns = (to_set & CDP_OVL_SET_CTIME) ? a->ctime_ns : now;
	ret = cdp_ovl_txn_commit(&t);
	if (ret == 0 && out) {
		*out = in->a;
		in->own = 1;   /* it is now */
		cdp_ovl_report_blocks(o, id, in, out);
	}
out:
	cdp_ovl_txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	pthread_rwlock_unlock(stripe);
	return ret;
}

int cdp_overlay_fallocate(struct cdp_overlay *o, uint64_t id, int mode, uint64_t off,
			  uint64_t len)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	int keep = mode & FALLOC_FL_KEEP_SIZE, zero;
	uint64_t bs = o->bs, end = off + len, size, cut = 0, c;
	struct ovl_ino snap, *in;
	struct txn t;
	int ret, fd;

	zero = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !keep)
		return -EINVAL;
	if (len == 0 || end < off)
		return -EINVAL;
	pthread_rwlock_wrlock(stripe);
	ret = cdp_ovl_ino_get(o, id, &snap);
	if (ret < 0)
		goto out_unlock;
	cdp_ovl_ino_release(&snap);
	if (!S_ISREG(snap.a.mode)) {
		ret = S_ISDIR(snap.a.mode) ? -EISDIR : -ENODEV;
		goto out_unlock;
	}
	size = snap.a.size;
	cdp_ovl_txn_init(&t, o);
	fd = delta_get(o, id, 1);
	if (fd < 0) {
		ret = fd;
		goto out_txn;
	}
	if (!zero) {
		/* reserve the space, so a later write does not meet ENOSPC (it
		 * counts in st_blocks, as on ext4) */
		ret = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 ? -errno : 0;
		if (ret == -EOPNOTSUPP)
			ret = 0;
	} else {
		uint64_t zend = keep && end > size ? size : end, b;
		uint64_t fb = (off + bs - 1) / bs, lb = zend / bs;   /* whole blocks [fb, lb) */

		if (off < zend) {
			if (fb >= lb) {
				/* within one block or two partial ones */
				ret = write_blocks(o, id, &snap, t.wb, NULL, (size_t)(zend - off), off,
						   &cut);
			} else {
				uint64_t cb = (snap.flags & OVI_BASE) ?
					      (snap.base_limit + bs - 1) / bs : 0;
				struct okey k, k2;

				if (off < fb * bs)
					ret = write_blocks(o, id, &snap, t.wb, NULL,
							   (size_t)(fb * bs - off), off, &cut);
				if (ret == 0 && lb * bs < zend) {
					ret = write_blocks(o, id, &snap, t.wb, NULL,
							   (size_t)(zend - lb * bs), lb * bs, &c);
					cut += c;
				}
				/* whole base blocks with data, not yet overlaid, stop
				 * counting (before the records below hide them) */
				if (ret == 0 && base_part_live(&snap) && fb < cb) {
					ret = base_hidden_sectors(o, id, fb, lb < cb ? lb : cb,
								  snap.base_limit, 0, &c);
					cut += c;
				}
				/* Whole blocks: those with base bytes beneath become
				 * 'Z'; past the base limit, no record reads as zeros
				 * already, so one range delete does, however long
				 * the range (no key per block). */
				for (b = fb; ret == 0 && b < lb && b < cb; b++) {
					cdp_ovl_key_block(&k, id, b);
					cdp_ovl_wb_put(t.wb, &k, "Z", 1);
				}
				if (ret == 0 && lb > (fb > cb ? fb : cb)) {
					cdp_ovl_key_block(&k, id, fb > cb ? fb : cb);
					cdp_ovl_key_block(&k2, id, lb);
					rocksdb_writebatch_delete_range(t.wb, (const char *)k.b, k.len,
									(const char *)k2.b, k2.len);
				}
				if (ret == 0 &&
				    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      (off_t)(fb * bs), (off_t)((lb - fb) * bs)) < 0 &&
				    errno != EOPNOTSUPP)
					ret = -errno;
			}
		}
	}
	delta_put(o, fd, 1);
	if (ret == 0) {
		pthread_mutex_lock(&o->lock);
		ret = cdp_ovl_txn_ino(&t, id, &in);
		if (ret == 0) {
			if (!keep && end > in->a.size)
				in->a.size = end;
			base_part_drop(in, cut);
			if (zero)
				cdp_ovl_touch_mc(in, now_ns());
			ret = cdp_ovl_txn_commit(&t);
		}
		pthread_mutex_unlock(&o->lock);
	}
out_txn:
	cdp_ovl_txn_release(&t);
out_unlock:
	pthread_rwlock_unlock(stripe);
	return ret;
}

int cdp_overlay_fsync(struct cdp_overlay *o, uint64_t id)
{
	char *err = NULL;
	int ret;

	(void)id;
	/* every delta file, not only id's: the WAL synced below holds the
	 * records of all of them, and none may point at data not yet on disk */
	ret = cdp_ovl_sync_dirty(o);
	rocksdb_flush_wal(o->db, 1, &err);
	if (err && !ret)
		ret = cdp_ovl_err(err);
	else if (err)
		cdp_ovl_err(err);
	return ret;
}

