/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica.c - groups of one host read from a store's log (the source, on
 * the protected host) and kept in another store (the sink, on the DR
 * server); replica.h states the contract, docs/format.md ("Shipping")
 * mirrors what follows.
 *
 * Group entries (host-neutral).  The source reads each index record of its
 * log in lsn order and keeps, of its entries, those of its host:
 *   default  'H' host u32 SUB [arg]  for SUB q f c a r R  -> 'H' SUB [arg]
 *   inode, dirent, block, xattr, time, imap: host u32 REST  -> REST
 * and leaves out every other entry: other hosts', 'N' (the host table),
 * 'M' (next_host), 'S' (sealed segment lengths), the 'n' name and the
 * chunk family (locations are local; chunks travel by hash).  Values are
 * as stored.
 *
 * Rules of the sink (append-only).  A host's groups are kept in lsn order
 * with no hole: a group is the next one (its lsn is the resume point's
 * + 1) or history already kept (lsn at or below it, same hash as recorded
 * then: acknowledged, not applied).  A versioned entry (inode, dirent,
 * block, xattr, time) must carry a seq above every seq the host had before
 * the group: nothing kept can be shadowed, as a view at an old instant
 * sees only keys with older seqs.  'q' may not go back; a 'c' below the
 * kept one is not applied (complete_through only grows); deletes are
 * accepted only in the inode map (which is not history); a block that
 * references a chunk must name one the store has, one sent in the batch,
 * or one the source said it lost.  Root records ('r') and heartbeats
 * ('a') are the host's current state and are replaced, as on the host.
 *
 * Sink keys (default column family, the server's host id):
 *   'H' host 'L'          u64 lsn, u64 seq, i64 through_ts, i64 received_ts,
 *                         32 bytes hash of the group at lsn: the resume point
 *   'H' host 'G' u64 lsn  32 bytes: hash of the group kept at lsn, for the
 *                         last GROUP_HASH_WINDOW lsns (older ones deleted)
 * Both are written in the index record of the commit that keeps the
 * groups, so the resume point is never ahead of, or behind, what is kept.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "replica.h"
#include "store_int.h"

#define ENTRY_HEADER_BYTES 8
#define GROUP_HASH_WINDOW 65536u
#define RESUME_VALUE_BYTES (8 + 8 + 8 + 8 + CDP_HASH_BYTES)
#define POSITION_RING 4096

enum { HM_RESUME = 'L', HM_GROUP_HASH = 'G' };

void cdp_ship_group_hash(const struct cdp_ship_group *g, uint8_t out[CDP_HASH_BYTES])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t head[12];
	unsigned n = CDP_HASH_BYTES;

	put_u64be(head, g->lsn);
	put_u32be(head + 8, g->count);
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, head, sizeof(head)) ||
	    (g->len && !EVP_DigestUpdate(ctx, g->entries, g->len)) ||
	    !EVP_DigestFinal_ex(ctx, out, &n))
		memset(out, 0, CDP_HASH_BYTES);
	EVP_MD_CTX_free(ctx);
}

void cdp_ship_group_release(struct cdp_ship_group *g)
{
	if (!g)
		return;
	free(g->entries);
	free(g->refs);
	memset(g, 0, sizeof(*g));
}

/* Appends one entry to a growing buffer; -ENOMEM, -E2BIG. */
static int entry_append(uint8_t **buf, size_t *len, size_t *cap, int kind, int cf,
			const uint8_t *k1, size_t k1len, const uint8_t *k2, size_t k2len,
			const uint8_t *val, size_t vlen)
{
	size_t klen = k1len + k2len, n = ENTRY_HEADER_BYTES + klen + vlen;
	uint8_t *p;

	if (klen == 0 || klen > CDP_KEY_MAX || *len + n > IREC_MAX_PAYLOAD)
		return -E2BIG;
	p = cdp_grow(*buf, cap, *len + n, 1);
	if (!p)
		return -ENOMEM;
	*buf = p;
	p = *buf + *len;
	p[0] = (uint8_t)kind;
	p[1] = (uint8_t)cf;
	p[2] = (uint8_t)(klen >> 8);
	p[3] = (uint8_t)klen;
	put_u32be(p + 4, (uint32_t)vlen);
	memcpy(p + ENTRY_HEADER_BYTES, k1, k1len);
	if (k2len)
		memcpy(p + ENTRY_HEADER_BYTES + k1len, k2, k2len);
	if (vlen)
		memcpy(p + ENTRY_HEADER_BYTES + klen, val, vlen);
	*len += n;
	return 0;
}

/* One decoded entry of a payload. */
struct entry {
	int kind, cf;
	const uint8_t *key, *val;
	size_t klen, vlen;
};

/* The entry at *pos of p (len bytes): 1 and *e, 0 at the end, CDP_ECORRUPT. */
static int entry_next(const uint8_t *p, size_t len, size_t *pos, struct entry *e)
{
	size_t at = *pos;

	if (at == len)
		return 0;
	if (len - at < ENTRY_HEADER_BYTES)
		return -CDP_ECORRUPT;
	e->kind = p[at];
	e->cf = p[at + 1];
	e->klen = (size_t)p[at + 2] << 8 | p[at + 3];
	e->vlen = get_u32be(p + at + 4);
	if ((e->kind != CDP_SHIP_PUT && e->kind != CDP_SHIP_DELETE) || e->cf >= CF_COUNT ||
	    e->klen == 0 || len - at - ENTRY_HEADER_BYTES < e->klen ||
	    len - at - ENTRY_HEADER_BYTES - e->klen < e->vlen ||
	    (e->kind == CDP_SHIP_DELETE && e->vlen))
		return -CDP_ECORRUPT;
	e->key = p + at + ENTRY_HEADER_BYTES;
	e->val = e->key + e->klen;
	*pos = at + ENTRY_HEADER_BYTES + e->klen + e->vlen;
	return 1;
}

static int sha_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CDP_HASH_BYTES);
}

/* ------------------------------------------------------------ source */

struct position {
	uint64_t lsn;
	uint32_t seg;
	uint64_t end;
};

struct cdp_ship_source {
	struct cdp_store *s;
	char *host;
	uint32_t host_id;          /* 0 until the host is registered */
	uint64_t lsn;              /* the last record read */
	uint32_t seg;              /* just past it in the log (0: start) */
	uint64_t off;
	struct position ring[POSITION_RING];   /* where recent records end */
	size_t nring;
	struct position hint;      /* a position from an earlier process */
	int hinted;                /* the current position came from hint */
};

int cdp_ship_source_open(struct cdp_store *s, const char *host, struct cdp_ship_source **out)
{
	struct cdp_ship_source *src;

	*out = NULL;
	if (s->format != CDP_FORMAT_VERSION)
		return -CDP_EVERSION;
	if (!cdp_host_name_ok(host))
		return -EINVAL;
	src = calloc(1, sizeof(*src));
	if (!src || !(src->host = strdup(host))) {
		free(src);
		return -ENOMEM;
	}
	src->s = s;
	*out = src;
	return 0;
}

void cdp_ship_source_free(struct cdp_ship_source *src)
{
	if (!src)
		return;
	free(src->host);
	free(src);
}

static void ring_add(struct cdp_ship_source *src, uint64_t lsn, uint32_t seg, uint64_t end)
{
	struct position *p = &src->ring[lsn % POSITION_RING];

	p->lsn = lsn;
	p->seg = seg;
	p->end = end;
}

struct find {
	uint64_t want;        /* the record to stop at */
	int found;
	struct cdp_logrec rec;
	uint64_t bad_lsn;
	struct cdp_ship_source *src;
	struct cdp_ship_group *g;
	int err;
};

/* Reduces a record of the source's log to its host's group. */
static int group_from_record(struct cdp_ship_source *src, const struct cdp_logrec *r,
			     struct cdp_ship_group *g)
{
	uint8_t (*refs)[CDP_HASH_BYTES] = NULL;
	size_t pos = 0, cap = 0, nrefs = 0, refcap = 0, i, j;
	struct entry e;
	uint32_t host;
	int ret;

	memset(g, 0, sizeof(*g));
	g->lsn = r->lsn;
	if (!src->host_id) {
		ret = cdp_store_host_lookup(src->s, src->host, &src->host_id);
		if (ret < 0 && ret != -CDP_ENOHOST)
			return ret;
	}
	while ((ret = entry_next(r->payload, r->len, &pos, &e)) > 0) {
		const uint8_t *k1 = NULL, *k2 = NULL;
		size_t k1len = 0, k2len = 0;
		uint8_t h = 'H';

		if (!src->host_id)
			break;   /* nothing of a host not yet registered */
		if (e.cf == CF_CHUNK)
			continue;
		if (e.cf == CF_META) {
			if (e.klen < 6 || e.key[0] != 'H')
				continue;
			host = get_u32be(e.key + 1);
			if (host != src->host_id || !strchr("qfcarR", e.key[5]))
				continue;
			k1 = &h;
			k1len = 1;
			k2 = e.key + 5;
			k2len = e.klen - 5;
			if (e.key[5] == HM_COMPLETE && e.vlen == 8)
				g->through_ts = (int64_t)get_u64be(e.val);
		} else {
			if (e.klen <= 4 || get_u32be(e.key) != src->host_id)
				continue;
			k1 = e.key + 4;
			k1len = e.klen - 4;
			if (e.cf == CF_BLOCK && e.kind == CDP_SHIP_PUT && e.vlen == BLOCKREF_VALUE_BYTES &&
			    e.val[0] == VAL_CHUNKREF) {
				void *n = cdp_grow(refs, &refcap, nrefs + 1, CDP_HASH_BYTES);

				if (!n) {
					ret = -ENOMEM;
					break;
				}
				refs = n;
				memcpy(refs[nrefs++], e.val + 1, CDP_HASH_BYTES);
			}
		}
		ret = entry_append(&g->entries, &g->len, &cap, e.kind, e.cf, k1, k1len, k2, k2len,
				   e.val, e.vlen);
		if (ret < 0)
			break;
		g->count++;
	}
	if (ret < 0) {
		free(refs);
		cdp_ship_group_release(g);
		return ret;
	}
	if (nrefs) {
		qsort(refs, nrefs, CDP_HASH_BYTES, sha_cmp);
		for (i = 1, j = 1; i < nrefs; i++)
			if (memcmp(refs[i], refs[j - 1], CDP_HASH_BYTES) != 0)
				memcpy(refs[j++], refs[i], CDP_HASH_BYTES);
		nrefs = j;
	}
	g->refs = refs;
	g->nrefs = nrefs;
	return 0;
}

static int find_fn(void *arg, const struct cdp_logrec *r)
{
	struct find *f = arg;

	if (r->kind != CDP_LOGREC_INDEX || r->lsn < f->want)
		return 0;
	if (r->lsn != f->want) {
		f->bad_lsn = r->lsn;
		return 1;
	}
	f->found = 1;
	f->rec = *r;
	if (f->g) {
		f->err = group_from_record(f->src, r, f->g);
		if (f->err < 0)
			return 1;
	}
	ring_add(f->src, r->lsn, r->segment, r->end);
	return 1;
}

/* Scans from (seg, off) for the record of lsn want. */
static int source_find(struct cdp_ship_source *src, uint32_t seg, uint64_t off, uint64_t want,
		       struct cdp_ship_group *g)
{
	struct cdp_scan_end end;
	struct find f = { .want = want, .src = src, .g = g };
	int ret;

	ret = cdp_chunklog_scan(src->s->chunks, seg, off, find_fn, &f, &end);
	if (ret < 0 && ret != 1)
		return ret;
	if (f.err < 0)
		return f.err;
	if (!f.found) {
		if (f.bad_lsn)
			cdp_log(LOG_ERR, "shipping from store '%s': the log holds lsn %llu where "
				"%llu should follow", src->s->path, (unsigned long long)f.bad_lsn,
				(unsigned long long)want);
		else
			cdp_log(LOG_ERR, "shipping from store '%s': no index record %llu in the "
				"log (stopped in segment %u at offset %llu: %s)", src->s->path,
				(unsigned long long)want, end.segment,
				(unsigned long long)end.offset, end.why ? end.why : "end");
		return -CDP_ECORRUPT;
	}
	src->lsn = want;
	src->seg = f.rec.segment;
	src->off = f.rec.end;
	return 0;
}

int cdp_ship_source_seek(struct cdp_ship_source *src, uint64_t after_lsn)
{
	struct position *p = &src->ring[after_lsn % POSITION_RING];

	if (after_lsn == src->lsn)
		return 0;
	if (after_lsn == 0) {
		src->lsn = 0;
		src->seg = 0;
		src->off = 0;
		return 0;
	}
	src->hinted = 0;
	if (p->lsn == after_lsn && p->seg) {
		src->lsn = after_lsn;
		src->seg = p->seg;
		src->off = p->end;
		return 0;
	}
	if (src->hint.seg && src->hint.lsn == after_lsn) {
		src->lsn = after_lsn;
		src->seg = src->hint.seg;
		src->off = src->hint.end;
		src->hinted = 1;   /* checked by the next read */
		return 0;
	}
	if (src->hint.seg && src->hint.lsn < after_lsn &&
	    source_find(src, src->hint.seg, src->hint.end, after_lsn, NULL) == 0)
		return 0;
	return source_find(src, 0, 0, after_lsn, NULL);
}

void cdp_ship_source_hint(struct cdp_ship_source *src, uint64_t lsn, uint32_t seg, uint64_t end)
{
	src->hint.lsn = lsn;
	src->hint.seg = seg;
	src->hint.end = end;
}

int cdp_ship_source_where(struct cdp_ship_source *src, uint64_t lsn, uint32_t *seg,
			  uint64_t *end)
{
	struct position *p = &src->ring[lsn % POSITION_RING];

	if (p->lsn != lsn || !p->seg)
		return -ENOENT;
	*seg = p->seg;
	*end = p->end;
	return 0;
}

int cdp_ship_source_position(struct cdp_ship_source *src, uint64_t *lsn, int64_t *through_ts)
{
	uint32_t seg;
	uint64_t off;
	int ret;

	*through_ts = 0;
	if (!src->host_id) {
		ret = cdp_store_host_lookup(src->s, src->host, &src->host_id);
		if (ret < 0 && ret != -CDP_ENOHOST)
			return ret;
	}
	if (src->host_id) {
		ret = cdp_store_host_meta_i64(src->s, src->host_id, HM_COMPLETE, 0, through_ts);
		if (ret < 0)
			return ret;
	}
	return cdp_index_position(src->s, &seg, &off, lsn);
}

int cdp_ship_source_next(struct cdp_ship_source *src, struct cdp_ship_group *g)
{
	uint64_t lsn;
	int64_t through;
	int ret;

	memset(g, 0, sizeof(*g));
	ret = cdp_ship_source_position(src, &lsn, &through);
	if (ret < 0)
		return ret;
	if (lsn <= src->lsn)
		return 0;
	ret = source_find(src, src->seg, src->off, src->lsn + 1, g);
	if (ret == -CDP_ECORRUPT && src->hinted) {
		/* the hint did not point where it said: find the place again */
		cdp_log(LOG_INFO, "shipping from store '%s': the saved log position was "
			"stale; scanning the log for group %llu", src->s->path,
			(unsigned long long)src->lsn);
		src->hinted = 0;
		ret = source_find(src, 0, 0, src->lsn, NULL);
		if (ret == 0)
			ret = source_find(src, src->seg, src->off, src->lsn + 1, g);
	}
	src->hinted = 0;
	return ret < 0 ? ret : 1;
}

int cdp_ship_source_chunk(struct cdp_ship_source *src, const uint8_t sha[CDP_HASH_BYTES],
			  uint8_t **rec, size_t *len)
{
	struct cdp_chunk_loc loc;
	int ret;

	*rec = NULL;
	*len = 0;
	ret = cdp_chunk_lookup(src->s, sha, &loc);
	if (ret == -CDP_ECORRUPT)
		return -EIO;
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOENT;
	return cdp_chunklog_read_record(src->s->chunks, sha, &loc, rec, len);
}

/* ---------------------------------------------------------------- sink */

struct staged_chunk {
	uint8_t sha[CDP_HASH_BYTES];
	uint32_t raw_len, stored_len;
	int zstd;
	uint8_t *payload;
};

struct group_hash {
	uint64_t lsn;
	uint8_t hash[CDP_HASH_BYTES];
};

struct cdp_ship_sink {
	struct cdp_store *s;
	char *host;
	uint32_t id;
	struct cdp_ship_state kept;    /* as of begin */
	/* the stage: what the next commit keeps */
	struct cdp_ship_state next;
	struct staged_chunk *chunks;
	size_t nchunks, chunks_cap;
	uint8_t (*lost)[CDP_HASH_BYTES];
	size_t nlost;
	uint8_t *ents;                 /* entries with the server's keys */
	size_t len, cap;
	struct group_hash *groups;
	size_t ngroups, groups_cap;
	int through_moved;
	int64_t kept_ts, next_ts;      /* the host's last op instant ('q') */
	struct staged_root {
		uint32_t id;
		char *val;
		size_t len;
	} *roots;                      /* root records staged in this batch */
	size_t nroots;
};

static void resume_key(struct cdp_key *k, uint32_t id)
{
	cdp_key_host_meta(k, id, HM_RESUME, 0, 0);
}

static void group_hash_key(struct cdp_key *k, uint32_t id, uint64_t lsn)
{
	cdp_key_host_meta(k, id, HM_GROUP_HASH, 0, 0);
	put_u64be(k->b + k->len, lsn);
	k->len += 8;
}

static int state_read_id(struct cdp_store *s, uint32_t id, struct cdp_ship_state *st)
{
	uint8_t v[RESUME_VALUE_BYTES];
	struct cdp_key k;
	int ret;

	memset(st, 0, sizeof(*st));
	resume_key(&k, id);
	ret = cdp_store_get_fixed(s, &k, v, sizeof(v));
	if (ret <= 0)
		return ret;
	st->lsn = get_u64be(v);
	st->seq = get_u64be(v + 8);
	st->through_ts = (int64_t)get_u64be(v + 16);
	st->received_ts = (int64_t)get_u64be(v + 24);
	memcpy(st->last_hash, v + 32, CDP_HASH_BYTES);
	return 0;
}

int cdp_ship_received(struct cdp_store *s, uint32_t host, uint64_t *lsn, int64_t *ts)
{
	struct cdp_ship_state st;
	int ret = state_read_id(s, host, &st);

	*lsn = st.lsn;
	*ts = st.received_ts;
	return ret;
}

int cdp_ship_state_read(struct cdp_store *s, const char *host, struct cdp_ship_state *st)
{
	uint32_t id;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = cdp_store_host_lookup(s, host, &id);
	if (ret < 0)
		return ret;
	return state_read_id(s, id, st);
}

int cdp_ship_sink_open(struct cdp_store *s, const char *host, struct cdp_ship_sink **out)
{
	struct cdp_ship_sink *k;
	int ret;

	*out = NULL;
	if (!s->writer)
		return -EROFS;
	if (!cdp_host_name_ok(host))
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k || !(k->host = strdup(host))) {
		free(k);
		return -ENOMEM;
	}
	k->s = s;
	pthread_mutex_lock(&s->meta_lock);
	ret = cdp_store_host_register(s, host, &k->id);
	pthread_mutex_unlock(&s->meta_lock);
	if (ret < 0) {
		cdp_ship_sink_free(k);
		return ret;
	}
	*out = k;
	return 0;
}

static void stage_clear(struct cdp_ship_sink *k)
{
	size_t i;

	for (i = 0; i < k->nchunks; i++)
		free(k->chunks[i].payload);
	k->nchunks = 0;
	k->nlost = 0;
	k->len = 0;
	k->ngroups = 0;
	k->through_moved = 0;
	k->next = k->kept;
	k->next_ts = k->kept_ts;
	for (i = 0; i < k->nroots; i++)
		free(k->roots[i].val);
	free(k->roots);
	k->roots = NULL;
	k->nroots = 0;
}

void cdp_ship_sink_free(struct cdp_ship_sink *k)
{
	if (!k)
		return;
	stage_clear(k);
	free(k->chunks);
	free(k->lost);
	free(k->ents);
	free(k->groups);
	free(k->host);
	free(k);
}

int cdp_ship_sink_begin(struct cdp_ship_sink *k, struct cdp_ship_state *st)
{
	int64_t seq;
	int ret;

	ret = state_read_id(k->s, k->id, &k->kept);
	if (ret == 0 && k->kept.lsn == 0) {
		/* a host never received: what the store has of it bounds it */
		ret = cdp_store_host_meta_i64(k->s, k->id, HM_LATEST, 0, &seq);
		k->kept.seq = (uint64_t)seq;
		if (ret == 0)
			ret = cdp_store_host_meta_i64(k->s, k->id, HM_COMPLETE, 0,
						      &k->kept.through_ts);
	}
	if (ret == 0)
		ret = cdp_store_host_meta_i64(k->s, k->id, HM_LATEST, 1, &k->kept_ts);
	stage_clear(k);
	if (st)
		*st = k->kept;
	return ret;
}

static int staged_has(const struct cdp_ship_sink *k, const uint8_t sha[CDP_HASH_BYTES])
{
	size_t i;

	for (i = 0; i < k->nchunks; i++)
		if (memcmp(k->chunks[i].sha, sha, CDP_HASH_BYTES) == 0)
			return 1;
	for (i = 0; i < k->nlost; i++)
		if (memcmp(k->lost[i], sha, CDP_HASH_BYTES) == 0)
			return 1;
	return 0;
}

int cdp_ship_sink_has_chunk(struct cdp_ship_sink *k, const uint8_t sha[CDP_HASH_BYTES])
{
	if (staged_has(k, sha))
		return 1;
	return cdp_chunk_lookup(k->s, sha, NULL);
}

int cdp_ship_sink_add_chunk(struct cdp_ship_sink *k, const uint8_t *rec, size_t len, char *why,
			    size_t whylen)
{
	uint8_t sha[CDP_HASH_BYTES], got[CDP_HASH_BYTES];
	struct staged_chunk *c;
	uint32_t raw, stored;
	uint8_t *data = NULL;
	void *n;
	int zstd, ret;

	if (cdp_chunk_record_check(rec, len, &raw, &stored, &zstd, sha) < 0 ||
	    len != REC_HEADER_BYTES + (size_t)stored || raw == 0 ||
	    raw != cdp_store_block_size(k->s)) {
		cdp_errf(why, whylen, "a chunk record fails its checks (header, CRC or length)");
		return -CDP_ECORRUPT;
	}
	if (zstd) {
		data = malloc(raw);
		if (!data)
			return -ENOMEM;
		ret = cdp_chunk_decompress(rec + REC_HEADER_BYTES, stored, data, raw);
		if (ret < 0) {
			free(data);
			cdp_errf(why, whylen, "a chunk does not decompress to its length");
			return -CDP_ECORRUPT;
		}
		cdp_hash(data, raw, got);
		free(data);
	} else {
		cdp_hash(rec + REC_HEADER_BYTES, raw, got);
	}
	if (memcmp(got, sha, CDP_HASH_BYTES) != 0) {
		cdp_errf(why, whylen, "a chunk's content does not have the SHA-256 it claims");
		return -CDP_ECORRUPT;
	}
	if (staged_has(k, sha))
		return 0;
	n = cdp_grow(k->chunks, &k->chunks_cap, k->nchunks + 1, sizeof(*k->chunks));
	if (!n)
		return -ENOMEM;
	k->chunks = n;
	c = &k->chunks[k->nchunks];
	c->payload = malloc(stored ? stored : 1);
	if (!c->payload)
		return -ENOMEM;
	memcpy(c->payload, rec + REC_HEADER_BYTES, stored);
	memcpy(c->sha, sha, CDP_HASH_BYTES);
	c->raw_len = raw;
	c->stored_len = stored;
	c->zstd = zstd;
	k->nchunks++;
	return 0;
}

int cdp_ship_sink_add_lost(struct cdp_ship_sink *k, const uint8_t sha[CDP_HASH_BYTES])
{
	void *n = realloc(k->lost, (k->nlost + 1) * CDP_HASH_BYTES);
	char hex[2 * CDP_HASH_BYTES + 1];
	int i;

	if (!n)
		return -ENOMEM;
	k->lost = n;
	memcpy(k->lost[k->nlost++], sha, CDP_HASH_BYTES);
	for (i = 0; i < CDP_HASH_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	cdp_log(LOG_WARNING, "host '%s' lost chunk %s in its own store: its blocks read as "
		"errors here too", k->host, hex);
	return 0;
}

/* The seq of a versioned neutral key of cf, or 0 for a key that is not
 * one; *bad for a key of the wrong shape. */
static uint64_t neutral_seq(int cf, const uint8_t *key, size_t klen, int *bad)
{
	*bad = 0;
	switch (cf) {
	case CF_INODE:
		*bad = klen != 16;
		break;
	case CF_BLOCK:
		*bad = klen != 24;
		break;
	case CF_DIRENT:
	case CF_XATTR:
		*bad = klen < 8 + 1 + 1 + 8 || key[klen - 9] != 0;
		break;
	case CF_TIME:
		if (klen != 16) {
			*bad = 1;
			return 0;
		}
		return get_u64be(key + 8);
	default:
		return 0;
	}
	return *bad ? 0 : ~get_u64be(key + klen - 8);
}

/* A root record may only move forward: its path, its fid and baseline
 * once set, and the gaps already recorded stay as they are (they say what
 * the past instants are); anything else rewrites history.  1 when the new
 * record keeps them, 0 when not, negative on errors.  Stages it. */
static int root_rec_follows(struct cdp_ship_sink *k, uint32_t id, const uint8_t *val, size_t len)
{
	struct root_rec old, nw;
	struct staged_root *sr = NULL;
	struct cdp_key key;
	char *kept = NULL;
	size_t klen = 0, i;
	int ret, ok = 1;

	for (i = 0; i < k->nroots; i++)
		if (k->roots[i].id == id)
			sr = &k->roots[i];
	if (!sr) {
		cdp_key_host_meta(&key, k->id, HM_ROOT, 1, id);
		ret = cdp_store_get(k->s, CF_META, &key, &kept, &klen);
		if (ret < 0)
			return ret;
	}
	if (cdp_root_rec_decode((const char *)val, len, &nw) < 0) {
		free(kept);
		return -EINVAL;
	}
	if (sr || kept) {
		if (cdp_root_rec_decode(sr ? sr->val : kept, sr ? sr->len : klen, &old) < 0) {
			free(kept);
			cdp_root_rec_release(&nw);
			return -CDP_ECORRUPT;
		}
		ok = strcmp(old.path, nw.path) == 0 && (!old.fid || old.fid == nw.fid) &&
		     (!old.baseline_ts || old.baseline_ts == nw.baseline_ts) &&
		     nw.ngaps >= old.ngaps &&
		     (!old.ngaps || memcmp(old.gaps, nw.gaps, old.ngaps * sizeof(*old.gaps)) == 0);
		cdp_root_rec_release(&old);
	}
	free(kept);
	cdp_root_rec_release(&nw);
	if (!ok)
		return 0;
	if (!sr) {
		void *n = realloc(k->roots, (k->nroots + 1) * sizeof(*k->roots));

		if (!n)
			return -ENOMEM;
		k->roots = n;
		sr = &k->roots[k->nroots++];
		sr->id = id;
		sr->val = NULL;
	}
	free(sr->val);
	sr->val = malloc(len);
	if (!sr->val)
		return -ENOMEM;
	memcpy(sr->val, val, len);
	sr->len = len;
	return 1;
}

int cdp_ship_sink_add_group(struct cdp_ship_sink *k, const struct cdp_ship_group *g, char *why,
			    size_t whylen)
{
	uint8_t hash[CDP_HASH_BYTES], kept[CDP_HASH_BYTES], full[CDP_KEY_MAX + 8];
	uint64_t floor = k->next.seq, seq, top = k->next.seq;
	int64_t floor_ts = k->next_ts, top_ts = k->next_ts;
	int64_t through = k->next.through_ts;
	size_t pos = 0, flen;
	struct cdp_key key;
	struct entry e;
	void *n;
	int ret, bad;

	cdp_ship_group_hash(g, hash);
	if (g->lsn <= k->kept.lsn) {
		if (g->lsn + GROUP_HASH_WINDOW <= k->kept.lsn) {
			cdp_errf(why, whylen, "group %llu is older than the %u groups the server can "
				 "check against what it kept (kept through %llu)",
				 (unsigned long long)g->lsn, GROUP_HASH_WINDOW,
				 (unsigned long long)k->kept.lsn);
			return -EPROTO;
		}
		group_hash_key(&key, k->id, g->lsn);
		ret = cdp_store_get_fixed(k->s, &key, kept, CDP_HASH_BYTES);
		if (ret < 0)
			return ret;
		if (ret == 1 && memcmp(kept, hash, CDP_HASH_BYTES) == 0)
			return 1;
		cdp_errf(why, whylen, "group %llu contradicts the history kept for host '%s' "
			 "(another content under the same lsn): refused, nothing rewritten",
			 (unsigned long long)g->lsn, k->host);
		return -EPROTO;
	}
	if (g->lsn != k->next.lsn + 1) {
		cdp_errf(why, whylen, "group %llu does not follow %llu: a hole in host '%s''s "
			 "history is refused", (unsigned long long)g->lsn,
			 (unsigned long long)k->next.lsn, k->host);
		return -EPROTO;
	}
	while ((ret = entry_next(g->entries, g->len, &pos, &e)) > 0) {
		if (e.cf == CF_META) {
			if (e.klen < 2 || e.key[0] != 'H' || !strchr("qfcarR", e.key[1]) ||
			    e.kind != CDP_SHIP_PUT) {
				cdp_errf(why, whylen, "group %llu holds a meta entry a host may not "
					 "write", (unsigned long long)g->lsn);
				return -EPROTO;
			}
			if (e.key[1] == HM_LATEST) {
				if (e.vlen != 16)
					goto bad_entry;
				seq = get_u64be(e.val);
				if ((int64_t)get_u64be(e.val + 8) < top_ts) {
					cdp_errf(why, whylen, "group %llu moves host '%s''s last "
						 "instant back: refused", (unsigned long long)g->lsn,
						 k->host);
					return -EPROTO;
				}
				top_ts = (int64_t)get_u64be(e.val + 8);
				if (seq < top) {
					cdp_errf(why, whylen, "group %llu moves host '%s''s last seq "
						 "back from %llu to %llu: refused",
						 (unsigned long long)g->lsn, k->host,
						 (unsigned long long)top, (unsigned long long)seq);
					return -EPROTO;
				}
				top = seq;
			} else if (e.key[1] == HM_COMPLETE) {
				if (e.vlen != 8)
					goto bad_entry;
				if ((int64_t)get_u64be(e.val) <= through)
					continue;   /* complete_through only grows */
				through = (int64_t)get_u64be(e.val);
			} else if (e.key[1] == HM_ROOT) {
				if (e.klen != 6)
					goto bad_entry;
				ret = root_rec_follows(k, get_u32be(e.key + 2), e.val, e.vlen);
				if (ret == -EINVAL)
					goto bad_entry;
				if (ret < 0)
					return ret;
				if (ret == 0) {
					cdp_errf(why, whylen, "group %llu changes what host '%s' "
						 "recorded of directory %u (its path, baseline or "
						 "past gaps): rewriting history is refused",
						 (unsigned long long)g->lsn, k->host,
						 get_u32be(e.key + 2));
					return -EPROTO;
				}
			}
			cdp_key_host_meta(&key, k->id, (char)e.key[1], 0, 0);
			flen = key.len;
			memcpy(full, key.b, flen);
			memcpy(full + flen, e.key + 2, e.klen - 2);
			flen += e.klen - 2;
		} else {
			if (e.cf == CF_CHUNK)
				goto bad_entry;
			if (e.kind == CDP_SHIP_DELETE && e.cf != CF_IMAP) {
				cdp_errf(why, whylen, "group %llu deletes history (column family "
					 "%s): refused", (unsigned long long)g->lsn,
					 cdp_cf_names[e.cf]);
				return -EPROTO;
			}
			seq = neutral_seq(e.cf, e.key, e.klen, &bad);
			if (bad || (e.cf == CF_IMAP && e.klen != 12))
				goto bad_entry;
			if (e.cf == CF_TIME && (int64_t)get_u64be(e.key) < floor_ts) {
				cdp_errf(why, whylen, "group %llu adds an operation of host '%s' "
					 "before its last kept instant: rewriting history is refused",
					 (unsigned long long)g->lsn, k->host);
				return -EPROTO;
			}
			if (e.cf != CF_IMAP && seq <= floor) {
				cdp_errf(why, whylen, "group %llu writes at seq %llu of host '%s', "
					 "which has history through seq %llu: rewriting history is "
					 "refused", (unsigned long long)g->lsn,
					 (unsigned long long)seq, k->host, (unsigned long long)floor);
				return -EPROTO;
			}
			if (e.cf == CF_BLOCK) {
				if (e.vlen == BLOCKREF_VALUE_BYTES && e.val[0] == VAL_CHUNKREF) {
					ret = cdp_ship_sink_has_chunk(k, e.val + 1);
					if (ret < 0)
						return ret;
					if (!ret) {
						cdp_errf(why, whylen, "group %llu references a chunk "
							 "that was not sent", (unsigned long long)g->lsn);
						return -EPROTO;
					}
				} else if (e.vlen != ZERO_VALUE_BYTES || e.val[0] != VAL_ZERO) {
					goto bad_entry;
				}
			}
			put_u32be(full, k->id);
			memcpy(full + 4, e.key, e.klen);
			flen = 4 + e.klen;
		}
		ret = entry_append(&k->ents, &k->len, &k->cap, e.kind, e.cf, full, flen, NULL, 0,
				   e.val, e.vlen);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		goto bad_entry;
	n = cdp_grow(k->groups, &k->groups_cap, k->ngroups + 1, sizeof(*k->groups));
	if (!n)
		return -ENOMEM;
	k->groups = n;
	k->groups[k->ngroups].lsn = g->lsn;
	memcpy(k->groups[k->ngroups].hash, hash, CDP_HASH_BYTES);
	k->ngroups++;
	k->next.lsn = g->lsn;
	k->next.seq = top;
	k->next_ts = top_ts;
	if (through > k->next.through_ts) {
		k->next.through_ts = through;
		k->through_moved = 1;
	}
	memcpy(k->next.last_hash, hash, CDP_HASH_BYTES);
	return 0;
bad_entry:
	cdp_errf(why, whylen, "group %llu holds an entry that does not decode",
		 (unsigned long long)g->lsn);
	return -EINVAL;
}

void cdp_ship_sink_through(struct cdp_ship_sink *k, int64_t ts)
{
	if (ts > k->next.through_ts) {
		k->next.through_ts = ts;
		k->through_moved = 1;
	}
}

/* The resume point and complete_through into b. */
static void put_resume(struct cdp_ship_sink *k, struct cdp_ibatch *b)
{
	uint8_t v[RESUME_VALUE_BYTES];
	struct cdp_key key;

	put_u64be(v, k->next.lsn);
	put_u64be(v + 8, k->next.seq);
	put_u64be(v + 16, (uint64_t)k->next.through_ts);
	put_u64be(v + 24, (uint64_t)k->next.received_ts);
	memcpy(v + 32, k->next.last_hash, CDP_HASH_BYTES);
	resume_key(&key, k->id);
	cdp_ibatch_put(b, k->s, CF_META, &key, v, sizeof(v));
	if (k->through_moved) {
		cdp_key_host_meta(&key, k->id, HM_COMPLETE, 0, 0);
		put_u64be(v, (uint64_t)k->next.through_ts);
		cdp_ibatch_put(b, k->s, CF_META, &key, v, 8);
	}
}

/* The staged chunks into the log and their locations into b; call with
 * log_lock held. */
static int append_chunks(struct cdp_ship_sink *k, struct cdp_ibatch *b)
{
	uint8_t v[CHUNKVAL_BYTES];
	struct cdp_chunk_loc loc;
	struct cdp_key key;
	size_t i;
	int ret;

	for (i = 0; i < k->nchunks; i++) {
		struct staged_chunk *c = &k->chunks[i];

		ret = cdp_chunk_lookup(k->s, c->sha, NULL);   /* another host may have sent it */
		if (ret < 0)
			return ret;
		if (ret == 1)
			continue;
		ret = cdp_chunklog_append(k->s->chunks, c->sha, c->raw_len, c->payload,
					  c->stored_len, c->zstd, &loc);
		if (ret < 0)
			return ret == -ENOSPC ? -CDP_ENOSPACE : ret;
		memcpy(key.b, c->sha, CDP_HASH_BYTES);
		key.len = CDP_HASH_BYTES;
		cdp_chunkval_encode(v, &loc);
		cdp_ibatch_put(b, k->s, CF_CHUNK, &key, v, CHUNKVAL_BYTES);
	}
	return 0;
}

int cdp_ship_sink_commit(struct cdp_ship_sink *k, struct cdp_ship_state *st)
{
	struct cdp_ibatch b;
	struct cdp_key key;
	struct entry e;
	size_t pos = 0, i;
	int ret;

	k->next.received_ts = cdp_now_ns();
	ret = cdp_ibatch_init(&b);
	if (ret < 0)
		goto out;
	if (!k->ngroups) {
		/* a heartbeat: complete_through and the received instant move in
		 * the index alone, as the writer's own heartbeat does */
		put_resume(k, &b);
		ret = cdp_index_write_unlogged(k->s, &b);
		goto out_release;
	}
	pthread_mutex_lock(&k->s->log_lock);
	ret = append_chunks(k, &b);
	while (ret == 0) {
		int more = entry_next(k->ents, k->len, &pos, &e);

		if (more <= 0) {
			ret = more;
			break;
		}
		memcpy(key.b, e.key, e.klen);
		key.len = e.klen;
		if (e.kind == CDP_SHIP_PUT)
			cdp_ibatch_put(&b, k->s, e.cf, &key, e.val, e.vlen);
		else
			cdp_ibatch_delete(&b, k->s, e.cf, &key);
	}
	for (i = 0; ret == 0 && i < k->ngroups; i++) {
		uint64_t old = k->groups[i].lsn;

		group_hash_key(&key, k->id, old);
		cdp_ibatch_put(&b, k->s, CF_META, &key, k->groups[i].hash, CDP_HASH_BYTES);
		if (old > GROUP_HASH_WINDOW) {
			group_hash_key(&key, k->id, old - GROUP_HASH_WINDOW);
			cdp_ibatch_delete(&b, k->s, CF_META, &key);
		}
	}
	if (ret == 0) {
		put_resume(k, &b);
		ret = cdp_index_commit_locked(k->s, &b);
	}
	if (ret < 0)
		cdp_chunklog_rollback(k->s->chunks);
	pthread_mutex_unlock(&k->s->log_lock);
out_release:
	cdp_ibatch_release(&b);
out:
	if (ret == 0) {
		k->kept = k->next;
		k->kept_ts = k->next_ts;
	}
	stage_clear(k);
	if (st)
		*st = k->kept;
	return ret;
}
