/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verify.c - cdp_store_verify(): the store checked against itself, FUSE-free
 * (verify.h).  The passes, each a scan of the index in key order:
 *
 *   1. segments: every segments/NNNNNNNN.seg is listed with its size and
 *      header (a small array: one entry per segment file);
 *   2. chunks: the chunk locations are counted per segment, then read one
 *      batch of segments at a time (at most CHUNK_BATCH locations in
 *      memory), sorted by segment and offset, so the segment files are read
 *      front to back (near the disk's sequential rate); a location past
 *      its segment's end, a bad record header and, with data, a bad
 *      CRC-32C, a payload that does not decompress to its length or a
 *      SHA-256 that is not the chunk's are problems (one per missing or
 *      cut segment, one per bad record, whose sha goes into a sorted list
 *      bounded by the problem limit); a segment with more locations than a
 *      batch is read in windows of offsets;
 *   3. blocks: every 'C' reference is looked up in the bad list and in the
 *      chunk column family, and its location classified (in a missing
 *      segment, past a segment's end); each problem collects the files
 *      whose block versions reference it (first and last seq, in the
 *      newest state?);
 *   4. dirents: every name's inode exists at the name's seq;
 *   5. the files affected are named by their paths at the newest seq (a
 *      few scans of the dirent family, one per directory level), and seqs
 *      mapped to instants by a binary search of the time family.
 * Memory holds the segment list, one batch of locations and the problems
 * found (at most MAX_PROBLEMS, each naming at most MAX_AFFECTED files): it
 * does not grow with the store's history.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <zstd.h>

#include "store_int.h"
#include "verify.h"

#ifndef CDP_VERIFY_CHUNK_BATCH
#define CDP_VERIFY_CHUNK_BATCH (1u << 20)   /* locations sorted in memory at once */
#endif
#define CHUNK_BATCH ((size_t)CDP_VERIFY_CHUNK_BATCH)
#define MAX_PROBLEMS 10000
#define MAX_AFFECTED 1000           /* files listed per problem */

struct seg {
	uint32_t id;
	uint64_t size;
	int bad_header;
	uint64_t nchunks;
	uint64_t max_offset;        /* of its locations */
	int has_past_end;           /* its outside-segment problem is past_end */
	size_t past_end;
};

struct loc {
	uint8_t sha[CDP_HASH_BYTES];
	struct cdp_chunk_loc l;
};

struct bad_chunk {
	uint8_t sha[CDP_HASH_BYTES];
	size_t problem;
};

struct affected {
	uint32_t host;
	struct cdp_verify_affected a;
};

struct problem {
	char kind[32];
	char detail[256];
	char chunk[2 * CDP_HASH_BYTES + 1];
	uint32_t segment;
	uint64_t offset;
	struct affected *aff;
	size_t naff, capaff;
	uint64_t more;              /* files beyond MAX_AFFECTED */
};

struct vrun {
	struct cdp_store *s;
	unsigned flags;
	struct cdp_host_info *hosts;
	size_t nhosts;
	struct seg *segs;
	size_t nsegs;
	struct problem *probs;
	size_t nprobs;
	uint64_t dropped;           /* problems beyond MAX_PROBLEMS */
	struct bad_chunk *bad;      /* chunks with a problem of their own (bounded) */
	size_t nbad, capbad;
	struct missing_seg { uint32_t segment; size_t problem; } *miss;
	size_t nmiss;               /* segments the index names but cannot read */
	int bad_sorted;
	struct cdp_verify_stats st;
	cdp_verify_progress_fn *progress;
	void *arg;
	uint64_t done_bytes, total_bytes, next_report;
};

static void sha_hex(const uint8_t *sha, char *out)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < CDP_HASH_BYTES; i++) {
		out[2 * i] = digits[sha[i] >> 4];
		out[2 * i + 1] = digits[sha[i] & 15];
	}
	out[2 * CDP_HASH_BYTES] = 0;
}

/* A new problem (its index), or SIZE_MAX past MAX_PROBLEMS. */
static size_t problem_add(struct vrun *r, const char *kind, const uint8_t *sha, uint32_t seg,
			  uint64_t off, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static size_t problem_add(struct vrun *r, const char *kind, const uint8_t *sha, uint32_t seg,
			  uint64_t off, const char *fmt, ...)
{
	struct problem *p, *np;
	va_list ap;

	r->st.problems++;
	if (r->nprobs >= MAX_PROBLEMS) {
		r->dropped++;
		return SIZE_MAX;
	}
	np = realloc(r->probs, (r->nprobs + 1) * sizeof(*np));
	if (!np)
		return SIZE_MAX;
	r->probs = np;
	p = &r->probs[r->nprobs];
	memset(p, 0, sizeof(*p));
	snprintf(p->kind, sizeof(p->kind), "%s", kind);
	if (sha)
		sha_hex(sha, p->chunk);
	p->segment = seg;
	p->offset = off;
	va_start(ap, fmt);
	vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
	return r->nprobs++;
}

static int bad_add(struct vrun *r, const uint8_t *sha, size_t problem)
{
	struct bad_chunk *nb;

	if (problem == SIZE_MAX)
		return 0;
	if (r->nbad == r->capbad) {
		r->capbad = r->capbad ? r->capbad * 2 : 256;
		nb = realloc(r->bad, r->capbad * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		r->bad = nb;
	}
	memcpy(r->bad[r->nbad].sha, sha, CDP_HASH_BYTES);
	r->bad[r->nbad++].problem = problem;
	r->bad_sorted = 0;
	return 0;
}

static int bad_cmp(const void *a, const void *b)
{
	return memcmp(((const struct bad_chunk *)a)->sha, ((const struct bad_chunk *)b)->sha,
		      CDP_HASH_BYTES);
}

static struct bad_chunk *bad_find(struct vrun *r, const uint8_t *sha)
{
	struct bad_chunk key;

	if (!r->nbad)
		return NULL;
	if (!r->bad_sorted) {
		qsort(r->bad, r->nbad, sizeof(*r->bad), bad_cmp);
		r->bad_sorted = 1;
	}
	memcpy(key.sha, sha, CDP_HASH_BYTES);
	return bsearch(&key, r->bad, r->nbad, sizeof(*r->bad), bad_cmp);
}

/* Records that host's file fid, block, version seq (newest: the block's
 * newest version) is affected by problem pi. */
static int affect(struct vrun *r, size_t pi, uint32_t host, uint64_t fid, uint64_t block,
		  uint64_t seq, int newest)
{
	struct problem *p;
	struct affected *a = NULL, *na;
	size_t i;

	if (pi == SIZE_MAX)
		return 0;
	p = &r->probs[pi];
	for (i = p->naff; i-- > 0;) {
		if (p->aff[i].host == host && p->aff[i].a.fid == fid) {
			a = &p->aff[i];
			break;
		}
	}
	if (!a) {
		if (p->naff >= MAX_AFFECTED) {
			p->more++;
			return 0;
		}
		if (p->naff == p->capaff) {
			p->capaff = p->capaff ? p->capaff * 2 : 4;
			na = realloc(p->aff, p->capaff * sizeof(*na));
			if (!na)
				return -ENOMEM;
			p->aff = na;
		}
		a = &p->aff[p->naff++];
		memset(a, 0, sizeof(*a));
		a->host = host;
		a->a.fid = fid;
		a->a.first_block = block;
		a->a.first_seq = a->a.last_seq = seq;
	}
	a->a.blocks++;
	if (block < a->a.first_block)
		a->a.first_block = block;
	if (seq < a->a.first_seq)
		a->a.first_seq = seq;
	if (seq > a->a.last_seq)
		a->a.last_seq = seq;
	if (newest)
		a->a.through_latest = 1;
	return 0;
}

static const char *host_name(struct vrun *r, uint32_t id)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		if (r->hosts[i].host_id == id)
			return r->hosts[i].name;
	return "?";
}

/* An iterator's error as a problem; 1 when there was one. */
static int iter_problem(struct vrun *r, rocksdb_iterator_t *it, const char *what)
{
	char *err = NULL;

	rocksdb_iter_get_error(it, &err);
	if (!err)
		return 0;
	problem_add(r, CDP_VERIFY_UNREADABLE_INDEX, NULL, 0, 0, "%s: %s", what, err);
	rocksdb_free(err);
	return 1;
}

/* ------------------------------------------------------------ segments */

static int seg_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct seg *)a)->id, y = ((const struct seg *)b)->id;

	return x < y ? -1 : x > y;
}

static struct seg *seg_find(struct vrun *r, uint32_t id)
{
	struct seg key = { .id = id };

	return r->nsegs ? bsearch(&key, r->segs, r->nsegs, sizeof(*r->segs), seg_cmp) : NULL;
}

static void seg_path(struct vrun *r, uint32_t id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/segments/%08u.seg", r->s->path, id);
}

static int list_segments(struct vrun *r)
{
	char dir[PATH_MAX], path[PATH_MAX];
	uint8_t h[SEG_HEADER_BYTES];
	struct dirent *de;
	struct stat st;
	struct seg *ns;
	unsigned long id;
	char *end;
	int fd;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/segments", r->s->path);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		id = strtoul(de->d_name, &end, 10);
		if (strlen(de->d_name) != 12 || strcmp(end, ".seg") != 0 || !id || id > UINT32_MAX)
			continue;
		ns = realloc(r->segs, (r->nsegs + 1) * sizeof(*ns));
		if (!ns) {
			closedir(d);
			return -ENOMEM;
		}
		r->segs = ns;
		ns = &r->segs[r->nsegs++];
		memset(ns, 0, sizeof(*ns));
		ns->id = (uint32_t)id;
		seg_path(r, ns->id, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || pread(fd, h, sizeof(h), 0) != sizeof(h) ||
		    memcmp(h, "CDPSEG\0\0", 8) != 0 ||
		    (get_u32be(h + 8) != 1 && get_u32be(h + 8) != CDP_FORMAT_VERSION) ||
		    get_u32be(h + 12) != ns->id)
			ns->bad_header = 1;
		else
			ns->size = (uint64_t)st.st_size;
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	qsort(r->segs, r->nsegs, sizeof(*r->segs), seg_cmp);
	return 0;
}

/* -------------------------------------------------------------- chunks */

static int loc_cmp(const void *a, const void *b)
{
	const struct cdp_chunk_loc *x = &((const struct loc *)a)->l, *y = &((const struct loc *)b)->l;

	if (x->segment != y->segment)
		return x->segment < y->segment ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Scans the chunk family: fn(r, sha, loc, arg) for each location. */
static int chunk_scan(struct vrun *r, int (*fn)(struct vrun *, const uint8_t *,
						const struct cdp_chunk_loc *, void *), void *arg)
{
	rocksdb_iterator_t *it;
	struct cdp_chunk_loc l;
	const char *key, *val;
	size_t klen, vlen;
	uint64_t bad = 0;
	int ret = 0;

	it = rocksdb_create_iterator_cf(r->s->db, r->s->ropts, r->s->cf[CF_CHUNK]);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		val = rocksdb_iter_value(it, &vlen);
		if (klen != CDP_HASH_BYTES || cdp_chunkval_decode(val, vlen, &l) < 0) {
			bad++;
			continue;
		}
		ret = fn(r, (const uint8_t *)key, &l, arg);
		if (ret < 0)
			break;
	}
	if (ret == 0 && iter_problem(r, it, "column family 'chunk' (chunk locations)"))
		ret = 1;
	rocksdb_iter_destroy(it);
	if (bad && arg == NULL)
		problem_add(r, CDP_VERIFY_BAD_RECORD, NULL, 0, 0,
			    "%llu chunk location record(s) do not decode", (unsigned long long)bad);
	return ret;
}

/* The missing-segment problem of segment, SIZE_MAX - 1 when none. */
static size_t missing_seg_problem(struct vrun *r, uint32_t segment)
{
	size_t i;

	for (i = 0; i < r->nmiss; i++)
		if (r->miss[i].segment == segment)
			return r->miss[i].problem;
	return SIZE_MAX - 1;
}

static int count_fn(struct vrun *r, const uint8_t *sha, const struct cdp_chunk_loc *l, void *arg)
{
	struct seg *g = seg_find(r, l->segment);
	size_t pi;

	struct missing_seg *nm;

	r->st.chunks++;
	r->total_bytes += REC_HEADER_BYTES + (uint64_t)l->stored_len;
	if (g && !g->bad_header) {
		g->nchunks++;
		if (l->offset > g->max_offset)
			g->max_offset = l->offset;
		return 0;
	}
	/* one problem per missing or unreadable segment (the blocks pass
	 * finds what it affects from each reference's location) */
	if (missing_seg_problem(r, l->segment) != SIZE_MAX - 1)
		return 0;
	pi = problem_add(r, CDP_VERIFY_MISSING_SEGMENT, NULL, l->segment, 0,
			 g ? "segment %08u has a bad header or cannot be read" :
			 "segment %08u is missing", l->segment);
	nm = realloc(r->miss, (r->nmiss + 1) * sizeof(*nm));
	if (!nm)
		return -ENOMEM;
	r->miss = nm;
	r->miss[r->nmiss].segment = l->segment;
	r->miss[r->nmiss++].problem = pi;
	return 0;
}

struct batch {
	uint32_t lo, hi;            /* segment ids in [lo, hi] */
	uint64_t olo, ohi;          /* offsets in [olo, ohi) */
	struct loc *locs;
	size_t n;
	int full;                   /* more matched than CHUNK_BATCH */
};

static int collect_fn(struct vrun *r, const uint8_t *sha, const struct cdp_chunk_loc *l,
		      void *arg)
{
	struct batch *b = arg;
	struct seg *g;

	if (l->segment < b->lo || l->segment > b->hi || l->offset < b->olo ||
	    l->offset >= b->ohi)
		return 0;
	g = seg_find(r, l->segment);
	if (!g || g->bad_header)
		return 0;
	if (b->n == CHUNK_BATCH) {
		b->full = 1;
		return 0;
	}
	memcpy(b->locs[b->n].sha, sha, CDP_HASH_BYTES);
	b->locs[b->n++].l = *l;
	return 0;
}

/* Checks the record at one location; a reason, or NULL when good. */
static const char *check_record(struct vrun *r, int fd, const struct loc *c, uint8_t **buf,
				size_t *cap, uint8_t *raw, size_t rawcap)
{
	size_t n = REC_HEADER_BYTES + (size_t)(r->flags & CDP_VERIFY_DATA ? c->l.stored_len : 0);
	uint32_t rl, sl, crc;
	uint8_t sha[CDP_HASH_BYTES];
	uint8_t *rec;
	int zstd;

	if (n > *cap) {
		rec = realloc(*buf, n);
		if (!rec)
			return "out of memory";
		*buf = rec;
		*cap = n;
	}
	rec = *buf;
	if (pread(fd, rec, n, (off_t)c->l.offset) != (ssize_t)n)
		return "record cannot be read";
	/* chunk records of format 1 have the same layout (format.md) */
	if (get_u32be(rec) != REC_MAGIC || (rec[4] != 1 && rec[4] != CDP_FORMAT_VERSION) ||
	    (rec[5] & ~1) ||
	    rec[6] || rec[7])
		return "no valid record header at this offset";
	rl = get_u32be(rec + 8);
	sl = get_u32be(rec + 12);
	zstd = rec[5] & 1;
	if (rl != c->l.raw_len || sl != c->l.stored_len ||
	    memcmp(rec + 16, c->sha, CDP_HASH_BYTES) != 0)
		return "record header does not match the index";
	if (!(r->flags & CDP_VERIFY_DATA))
		return NULL;
	crc = cdp_crc32c(0, rec, 48);
	crc = cdp_crc32c(crc, rec + REC_HEADER_BYTES, sl);
	if (crc != get_u32be(rec + 48))
		return "CRC-32C mismatch";
	if (rl > rawcap)
		return "impossible raw length";
	if (zstd) {
		size_t got = ZSTD_decompress(raw, rl, rec + REC_HEADER_BYTES, sl);

		if (ZSTD_isError(got) || got != rl)
			return "payload does not decompress to its length";
	} else {
		memcpy(raw, rec + REC_HEADER_BYTES, rl);
	}
	cdp_hash(raw, rl, sha);
	if (memcmp(sha, c->sha, CDP_HASH_BYTES) != 0)
		return "content's SHA-256 is not the chunk's";
	return NULL;
}

static int check_batch(struct vrun *r, struct batch *b)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL, *raw;
	size_t cap = 0, i, pi;
	uint32_t cur = 0;
	struct seg *g = NULL;
	const char *why;
	int fd = -1, ret = 0;

	raw = malloc(1u << 20);
	if (!raw)
		return -ENOMEM;
	qsort(b->locs, b->n, sizeof(*b->locs), loc_cmp);
	for (i = 0; i < b->n && ret == 0; i++) {
		const struct loc *c = &b->locs[i];

		if (!g || c->l.segment != cur) {
			if (fd >= 0)
				close(fd);
			cur = c->l.segment;
			g = seg_find(r, cur);
			seg_path(r, cur, path, sizeof(path));
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		}
		r->done_bytes += REC_HEADER_BYTES + (uint64_t)c->l.stored_len;
		if (r->progress && r->done_bytes >= r->next_report) {
			r->progress(r->arg, r->done_bytes, r->total_bytes);
			r->next_report = r->done_bytes + (64u << 20);
		}
		r->st.chunk_bytes += c->l.stored_len;
		if (c->l.offset < SEG_HEADER_BYTES ||
		    c->l.offset + REC_HEADER_BYTES + c->l.stored_len > g->size) {
			if (!g->has_past_end) {
				g->has_past_end = 1;
				g->past_end = problem_add(
					r, CDP_VERIFY_OUTSIDE_SEGMENT, NULL, cur, c->l.offset,
					"chunk locations past the end of segment %08u (%llu bytes); "
					"first at offset %llu", cur, (unsigned long long)g->size,
					(unsigned long long)c->l.offset);
			}
			continue;   /* the blocks pass names what it affects */
		}
		why = fd < 0 ? "segment cannot be opened" :
			check_record(r, fd, c, &buf, &cap, raw, 1u << 20);
		if (why) {
			char hex[2 * CDP_HASH_BYTES + 1];

			sha_hex(c->sha, hex);
			pi = problem_add(r, strstr(why, "header") || strstr(why, "index") ?
					 CDP_VERIFY_BAD_HEADER : CDP_VERIFY_BAD_DATA, c->sha, cur,
					 c->l.offset, "chunk %.16s in segment %08u at offset %llu: %s",
					 hex, cur, (unsigned long long)c->l.offset, why);
			ret = bad_add(r, c->sha, pi);
		}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	free(raw);
	return ret;
}

static int check_chunks(struct vrun *r)
{
	struct batch b;
	uint64_t n;
	size_t i, j;
	int ret;

	ret = chunk_scan(r, count_fn, NULL);
	if (ret)
		return ret < 0 ? ret : 0;
	b.locs = malloc(CHUNK_BATCH * sizeof(*b.locs));
	if (!b.locs)
		return -ENOMEM;
	for (i = 0; i < r->nsegs && ret == 0; i = j) {
		uint64_t win, olo;
		struct seg *g = &r->segs[i];

		/* a batch of whole segments, at most CHUNK_BATCH locations */
		for (n = 0, j = i; j < r->nsegs && (j == i || n + r->segs[j].nchunks <= CHUNK_BATCH);
		     j++)
			n += r->segs[j].nchunks;
		if (!n)
			continue;
		b.lo = r->segs[i].id;
		b.hi = r->segs[j - 1].id;
		if (n <= CHUNK_BATCH) {
			b.olo = 0;
			b.ohi = UINT64_MAX;
			b.n = 0;
			b.full = 0;
			ret = chunk_scan(r, collect_fn, &b);
			if (ret == 0)
				ret = check_batch(r, &b);
			continue;
		}
		/* one segment with more locations than a batch: windows of
		 * offsets, halved when one holds too many */
		win = g->max_offset / (n / (CHUNK_BATCH / 2 + 1) + 1) + 1;
		for (olo = 0; ret == 0 && olo <= g->max_offset;) {
			b.olo = olo;
			b.ohi = UINT64_MAX - olo > win ? olo + win : UINT64_MAX;
			b.n = 0;
			b.full = 0;
			ret = chunk_scan(r, collect_fn, &b);
			if (ret)
				break;
			if (b.full && win > 1) {
				win /= 2;
				continue;
			}
			ret = check_batch(r, &b);
			olo = b.ohi;
			if (olo == UINT64_MAX)
				break;
		}
	}
	free(b.locs);
	if (r->progress)
		r->progress(r->arg, r->total_bytes, r->total_bytes);
	return ret < 0 ? ret : 0;
}

/* ------------------------------------------------------ blocks, dirents */

static size_t missing_problem(struct vrun *r, const uint8_t *sha)
{
	char hex[2 * CDP_HASH_BYTES + 1];
	size_t i;

	sha_hex(sha, hex);
	for (i = r->nprobs; i-- > 0;)
		if (strcmp(r->probs[i].chunk, hex) == 0 &&
		    strcmp(r->probs[i].kind, CDP_VERIFY_MISSING_CHUNK) == 0)
			return i;
	return problem_add(r, CDP_VERIFY_MISSING_CHUNK, sha, 0, 0,
			   "chunk %.16s is referenced by blocks but has no location in the index",
			   hex);
}

static int check_blocks(struct vrun *r, uint32_t host)
{
	rocksdb_iterator_t *it;
	uint8_t prefix[4], sha[CDP_HASH_BYTES];
	uint64_t fid, block, pfid = UINT64_MAX, pblock = UINT64_MAX, bad = 0;
	const char *key, *val;
	size_t klen, vlen, pi;
	struct bad_chunk *bc;
	struct cdp_key k;
	char *cv;
	size_t cvlen;
	int ret = 0, newest;

	put_u32be(prefix, host);
	it = rocksdb_create_iterator_cf(r->s->db, r->s->ropts, r->s->cf[CF_BLOCK]);
	for (rocksdb_iter_seek(it, (const char *)prefix, 4); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen < 4 || memcmp(key, prefix, 4) != 0)
			break;
		if (klen != 28) {
			bad++;
			continue;
		}
		fid = get_u64be((const uint8_t *)key + 4);
		block = get_u64be((const uint8_t *)key + 12);
		newest = fid != pfid || block != pblock;
		pfid = fid;
		pblock = block;
		val = rocksdb_iter_value(it, &vlen);
		ret = cdp_block_value_decode(val, vlen, sha, NULL);
		if (ret < 0) {
			bad++;
			ret = 0;
			continue;
		}
		if (ret == BLOCK_VALUE_ZERO) {
			ret = 0;
			continue;
		}
		r->st.block_refs++;
		bc = bad_find(r, sha);
		if (bc) {
			ret = affect(r, bc->problem, host, fid, block, key_seq_of(key, klen), newest);
		} else {
			memcpy(k.b, sha, CDP_HASH_BYTES);
			k.len = CDP_HASH_BYTES;
			ret = cdp_store_get(r->s, CF_CHUNK, &k, &cv, &cvlen);
			if (ret < 0) {
				problem_add(r, CDP_VERIFY_UNREADABLE_INDEX, sha, 0, 0,
					    "column family 'chunk': the location of a chunk "
					    "cannot be read: %s", cdp_store_last_error());
				ret = 0;
				continue;
			}
			if (cv) {
				struct cdp_chunk_loc l;
				struct seg *g;

				pi = SIZE_MAX - 1;
				if (cdp_chunkval_decode(cv, cvlen, &l) == 0) {
					g = seg_find(r, l.segment);
					if (!g || g->bad_header)
						pi = missing_seg_problem(r, l.segment);
					else if (g->has_past_end &&
						 (l.offset < SEG_HEADER_BYTES ||
						  l.offset + REC_HEADER_BYTES + l.stored_len > g->size))
						pi = g->past_end;
				}
				free(cv);
				if (pi != SIZE_MAX - 1)
					ret = affect(r, pi, host, fid, block,
						     key_seq_of(key, klen), newest);
				if (ret < 0)
					break;
				continue;
			}
			pi = missing_problem(r, sha);
			ret = bad_add(r, sha, pi);
			if (ret == 0)
				ret = affect(r, pi, host, fid, block, key_seq_of(key, klen), newest);
		}
		if (ret < 0)
			break;
	}
	if (ret == 0)
		iter_problem(r, it, "column family 'block' (file data)");
	rocksdb_iter_destroy(it);
	if (bad)
		problem_add(r, CDP_VERIFY_BAD_RECORD, NULL, 0, 0,
			    "host '%s': %llu block record(s) do not decode", host_name(r, host),
			    (unsigned long long)bad);
	return ret;
}

/* Does host's inode fid exist at seq? 1, 0, or -EIO. */
static int inode_exists(struct vrun *r, rocksdb_iterator_t *it, uint32_t host, uint64_t fid,
			uint64_t seq)
{
	struct cdp_key k;
	const char *key, *val;
	size_t klen, vlen;

	cdp_key_inode(&k, host, fid, seq);
	rocksdb_iter_seek(it, (const char *)k.b, k.len);
	if (!rocksdb_iter_valid(it))
		return iter_problem(r, it, "column family 'inode' (file attributes)") ? -EIO : 0;
	key = rocksdb_iter_key(it, &klen);
	if (klen != k.len || memcmp(key, k.b, k.len - 8) != 0)
		return 0;
	val = rocksdb_iter_value(it, &vlen);
	return vlen >= 1 && val[0] != VAL_TOMBSTONE;
}

/*
 * After a prune (retain.c) the seq of a version need not be a state any
 * more: a name kept because a later kept state sees it may point at a file
 * whose older versions went with the states that saw them.  Such a name is
 * checked at the first kept state at or after its seq: the smallest seq of
 * a time entry that is >= seq (time entries sort by instant, and instants
 * never decrease as seqs grow, so a bisection over instants finds it).
 * 0 when none.
 */
static int next_state(struct vrun *r, uint32_t host, uint64_t seq, uint64_t *out)
{
	rocksdb_iterator_t *it;
	struct cdp_key k;
	const char *key;
	size_t klen;
	int64_t lo = 0, hi = INT64_MAX, mid;
	uint64_t found;
	int ret = 0;

	*out = 0;
	it = rocksdb_create_iterator_cf(r->s->db, r->s->ropts, r->s->cf[CF_TIME]);
	/* the smallest instant whose first entry has seq >= the one asked */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		cdp_key_time(&k, host, mid, 0);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		found = UINT64_MAX;
		if (rocksdb_iter_valid(it)) {
			key = rocksdb_iter_key(it, &klen);
			if (klen == 20 && memcmp(key, k.b, 4) == 0)
				found = get_u64be((const uint8_t *)key + 12);
		}
		if (found >= seq)
			hi = mid;
		else
			lo = mid + 1;
	}
	cdp_key_time(&k, host, lo, 0);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != 20 || memcmp(key, k.b, 4) != 0)
			break;
		if (get_u64be((const uint8_t *)key + 12) >= seq) {
			*out = get_u64be((const uint8_t *)key + 12);
			break;
		}
	}
	if (iter_problem(r, it, "column family 'time' (instants)"))
		ret = -EIO;
	rocksdb_iter_destroy(it);
	return ret;
}

static int check_dirents(struct vrun *r, uint32_t host)
{
	rocksdb_iterator_t *it, *iit;
	uint8_t prefix[4];
	uint64_t parent, child, seq, bad = 0;
	const char *key, *val;
	size_t klen, vlen, pi;
	uint32_t type;
	int ret = 0, e;

	put_u32be(prefix, host);
	it = rocksdb_create_iterator_cf(r->s->db, r->s->ropts, r->s->cf[CF_DIRENT]);
	iit = rocksdb_create_iterator_cf(r->s->db, r->s->ropts, r->s->cf[CF_INODE]);
	for (rocksdb_iter_seek(it, (const char *)prefix, 4); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen < 4 || memcmp(key, prefix, 4) != 0)
			break;
		val = rocksdb_iter_value(it, &vlen);
		if (klen < 4 + 8 + 2 + 8) {
			bad++;
			continue;
		}
		if (vlen >= 1 && val[0] == VAL_TOMBSTONE)
			continue;
		if (cdp_dirent_value_decode(val, vlen, &child, &type) < 0) {
			bad++;
			continue;
		}
		r->st.dirents++;
		parent = get_u64be((const uint8_t *)key + 4);
		seq = key_seq_of(key, klen);
		e = inode_exists(r, iit, host, child, seq);
		if (e == 0) {
			uint64_t kept;

			if (next_state(r, host, seq, &kept) < 0)
				break;
			if (kept > seq)
				e = inode_exists(r, iit, host, child, kept);
		}
		if (e < 0)
			break;
		if (e == 0) {
			pi = problem_add(r, CDP_VERIFY_DANGLING_DIRENT, NULL, 0, 0,
					 "name '%.*s' in directory %llu points to file %llu, which "
					 "does not exist at seq %llu", (int)(klen - 12 - 9), key + 12,
					 (unsigned long long)parent, (unsigned long long)child,
					 (unsigned long long)seq);
			ret = affect(r, pi, host, parent, 0, seq, 0);
			if (ret < 0)
				break;
		}
	}
	if (ret == 0)
		iter_problem(r, it, "column family 'dirent' (names)");
	rocksdb_iter_destroy(iit);
	rocksdb_iter_destroy(it);
	if (bad)
		problem_add(r, CDP_VERIFY_BAD_RECORD, NULL, 0, 0,
			    "host '%s': %llu name record(s) do not decode", host_name(r, host),
			    (unsigned long long)bad);
	return ret;
}

/* ---------------------------------------------------------- naming */

struct want {
	uint64_t fid, parent;
	char *name;
	int known;
};

static struct want *want_find(struct want *w, size_t n, uint64_t fid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i].fid == fid)
			return &w[i];
	return NULL;
}

/* Paths at the newest seq of the affected files of host: each round scans
 * host's names once, learning the parent of every wanted file whose
 * newest version of some name points to it; parents join the wanted. */
static void name_files(struct vrun *r, uint32_t host)
{
	struct want *w = NULL, *nw, *x;
	size_t n = 0, i, j, klen, vlen, nlen, lastlen = 0;
	uint8_t prefix[4];
	const char *key, *val;
	char last[CDP_NAME_MAX + 1];
	uint64_t parent, lastparent = 0, child;
	uint32_t type;
	int round, progress, have_last;
	rocksdb_iterator_t *it;

	for (i = 0; i < r->nprobs; i++)
		for (j = 0; j < r->probs[i].naff; j++)
			if (r->probs[i].aff[j].host == host &&
			    !want_find(w, n, r->probs[i].aff[j].a.fid)) {
				nw = realloc(w, (n + 1) * sizeof(*nw));
				if (!nw)
					goto out;
				w = nw;
				memset(&w[n], 0, sizeof(*w));
				w[n++].fid = r->probs[i].aff[j].a.fid;
			}
	if (!n)
		return;
	put_u32be(prefix, host);
	for (round = 0; round < 64; round++) {
		progress = 0;
		have_last = 0;
		it = rocksdb_create_iterator_cf(r->s->db, r->s->ropts, r->s->cf[CF_DIRENT]);
		for (rocksdb_iter_seek(it, (const char *)prefix, 4); rocksdb_iter_valid(it);
		     rocksdb_iter_next(it)) {
			key = rocksdb_iter_key(it, &klen);
			if (klen < 22 || memcmp(key, prefix, 4) != 0)
				break;
			parent = get_u64be((const uint8_t *)key + 4);
			nlen = klen - 12 - 9;
			if (nlen > CDP_NAME_MAX)
				continue;
			/* only the newest version of each (parent, name) */
			if (have_last && parent == lastparent && nlen == lastlen &&
			    memcmp(last, key + 12, nlen) == 0)
				continue;
			have_last = 1;
			lastparent = parent;
			lastlen = nlen;
			memcpy(last, key + 12, nlen);
			val = rocksdb_iter_value(it, &vlen);
			if (cdp_dirent_value_decode(val, vlen, &child, &type) < 0)
				continue;
			x = want_find(w, n, child);
			if (x && !x->known) {
				x->known = 1;
				x->parent = parent;
				x->name = strndup(key + 12, nlen);
				progress = 1;
			}
		}
		rocksdb_iter_destroy(it);
		/* parents join */
		for (i = 0, j = n; i < j; i++) {
			if (!w[i].known || w[i].parent == CDP_ROOT_FID ||
			    want_find(w, n, w[i].parent))
				continue;
			nw = realloc(w, (n + 1) * sizeof(*nw));
			if (!nw)
				goto out;
			w = nw;
			memset(&w[n], 0, sizeof(*w));
			w[n++].fid = w[i].parent;
			progress = 1;
		}
		if (!progress)
			break;
	}
	for (i = 0; i < r->nprobs; i++) {
		for (j = 0; j < r->probs[i].naff; j++) {
			struct cdp_verify_affected *a = &r->probs[i].aff[j].a;
			char path[PATH_MAX] = "", tmp[PATH_MAX];
			uint64_t f = a->fid;
			int depth = 0;

			if (r->probs[i].aff[j].host != host)
				continue;
			if (f == CDP_ROOT_FID) {
				a->path = strdup("/");
				continue;
			}
			while (f != CDP_ROOT_FID && depth++ < 256) {
				x = want_find(w, n, f);
				if (!x || !x->known)
					break;
				snprintf(tmp, sizeof(tmp), "/%s%s", x->name, path);
				memcpy(path, tmp, sizeof(path));
				f = x->parent;
			}
			if (f == CDP_ROOT_FID && path[0])
				a->path = strdup(path);
		}
	}
out:
	for (i = 0; i < n; i++)
		free(w[i].name);
	free(w);
}

/* The instant of host's op seq: a binary search over the time family
 * (ts and seq grow together).  0 when not found. */
static int64_t ts_of_seq(struct vrun *r, uint32_t host, uint64_t seq)
{
	rocksdb_iterator_t *it;
	struct cdp_key k;
	const char *key;
	size_t klen;
	int64_t lo = 0, hi = INT64_MAX, mid, found = 0;   /* instants after the epoch */
	uint64_t q;
	int i;

	it = rocksdb_create_iterator_cf(r->s->db, r->s->ropts, r->s->cf[CF_TIME]);
	for (i = 0; i < 130 && lo <= hi; i++) {
		mid = lo + (int64_t)(((uint64_t)hi - (uint64_t)lo) / 2);
		cdp_key_time(&k, host, mid, 0);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (!rocksdb_iter_valid(it)) {
			hi = mid - 1;
			continue;
		}
		key = rocksdb_iter_key(it, &klen);
		if (klen != 20 || memcmp(key, k.b, 4) != 0) {
			hi = mid - 1;
			continue;
		}
		q = get_u64be((const uint8_t *)key + 12);
		if (q == seq) {
			found = (int64_t)get_u64be((const uint8_t *)key + 4);
			break;
		}
		if (q < seq) {
			lo = (int64_t)get_u64be((const uint8_t *)key + 4) + 1;
			if (lo <= mid)
				lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	rocksdb_iter_destroy(it);
	return found;
}

/* ------------------------------------------------------------ the run */

int cdp_store_verify(struct cdp_store *s, const char *host, unsigned flags,
		     cdp_verify_problem_fn *fn, cdp_verify_progress_fn *progress, void *arg,
		     struct cdp_verify_stats *stats)
{
	struct vrun r;
	struct cdp_verify_problem vp;
	struct cdp_verify_affected *list;
	size_t i, j;
	uint32_t only = 0;
	int ret;

	memset(&r, 0, sizeof(r));
	memset(stats, 0, sizeof(*stats));
	r.s = s;
	r.flags = flags;
	r.progress = progress;
	r.arg = arg;
	ret = cdp_store_refresh(s);
	if (ret == 0)
		ret = cdp_store_hosts(s, &r.hosts, &r.nhosts);
	if (ret == 0 && host)
		ret = cdp_store_host_lookup(s, host, &only);
	if (ret == 0)
		ret = list_segments(&r);
	if (ret == 0)
		ret = check_chunks(&r);
	for (i = 0; ret == 0 && i < r.nhosts; i++) {
		if (host && r.hosts[i].host_id != only)
			continue;
		ret = check_blocks(&r, r.hosts[i].host_id);
		if (ret == 0)
			ret = check_dirents(&r, r.hosts[i].host_id);
	}
	for (i = 0; ret == 0 && i < r.nhosts; i++)
		name_files(&r, r.hosts[i].host_id);
	for (i = 0; ret == 0 && i < r.nprobs; i++) {
		struct problem *p = &r.probs[i];

		list = calloc(p->naff ? p->naff : 1, sizeof(*list));
		if (!list) {
			ret = -ENOMEM;
			break;
		}
		for (j = 0; j < p->naff; j++) {
			list[j] = p->aff[j].a;
			list[j].host = host_name(&r, p->aff[j].host);
			list[j].first_ts_ns = ts_of_seq(&r, p->aff[j].host, list[j].first_seq);
			list[j].last_ts_ns = ts_of_seq(&r, p->aff[j].host, list[j].last_seq);
		}
		memset(&vp, 0, sizeof(vp));
		vp.kind = p->kind;
		vp.detail = p->detail;
		vp.chunk = p->chunk[0] ? p->chunk : NULL;
		vp.segment = p->segment;
		vp.offset = p->offset;
		vp.naffected = p->naff;
		vp.affected = list;
		if (fn)
			fn(arg, &vp);
		free(list);
	}
	if (ret == 0 && r.dropped && fn) {
		char line[128];

		snprintf(line, sizeof(line), "%llu more problem(s) not listed",
			 (unsigned long long)r.dropped);
		memset(&vp, 0, sizeof(vp));
		vp.kind = "more";
		vp.detail = line;
		fn(arg, &vp);
	}
	*stats = r.st;
	for (i = 0; i < r.nprobs; i++) {
		for (j = 0; j < r.probs[i].naff; j++)
			free((char *)r.probs[i].aff[j].a.path);
		free(r.probs[i].aff);
	}
	free(r.probs);
	free(r.bad);
	free(r.miss);
	free(r.segs);
	cdp_host_info_free(r.hosts, r.nhosts);
	return ret;
}
