/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_writer.c - the writer thread that makes queued ops durable in groups.
 *
 * The writer thread cuts the whole queue at once, taking "now" under the
 * queue lock (every op with ts below that instant is in the cut), then:
 * hashes every data block of the cut on a pool of threads, dedups each (a
 * set of chunks new in this group, then the chunk column family),
 * compresses only the new ones (again on the pool), appends them to the
 * segment in op order, and commits one index batch with every index
 * record, one time entry per op, the per-host counters and
 * complete_through_ts (cdp_index_commit: the batch goes into the log as an
 * index record after the chunks, one fdatasync covers both, then RocksDB
 * gets it unsynced).  An op holding a zero range of a file that the group
 * already has block records for first commits what precedes it, so that
 * the newest version of each block it scans is in the index.
 *
 * Failure: any segment or index write error (ENOSPC above all) makes the
 * journal degraded: the group is dropped, the instant is remembered, and
 * commit/sync return CDP_ENOSPACE at once until a root_begin starts a
 * resync; the gap is recorded on the root at root_ready.
 *
 * It also keeps the pool of raw block buffers that cdp_op_data fills and
 * the writer frees once a group is written.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "journal_int.h"

/* A block buffer (block_size bytes) from the pool, or NULL. */
void *cdp_writer_block_get(struct cdp_writer *w, uint32_t block_size)
{
	void *b = NULL;

	if (!w)
		return malloc(block_size);
	pthread_mutex_lock(&w->blocks_lock);
	if (w->nfree_blocks)
		b = w->free_blocks[--w->nfree_blocks];
	pthread_mutex_unlock(&w->blocks_lock);
	return b ? b : malloc(block_size);
}

/* Frees the pooled blocks: called by the writer once the queue is idle. */
static void blocks_trim(struct cdp_writer *w)
{
	void **keep;
	size_t n;

	pthread_mutex_lock(&w->blocks_lock);
	n = w->nfree_blocks;
	keep = n ? malloc(n * sizeof(*keep)) : NULL;
	if (keep)
		memcpy(keep, w->free_blocks, n * sizeof(*keep));
	else
		n = 0;
	w->nfree_blocks -= n;
	pthread_mutex_unlock(&w->blocks_lock);
	if (!n) {
		free(keep);
		return;
	}
	while (n)
		free(keep[--n]);
	free(keep);
	/* hand the burst's memory back to the system, not just to malloc */
	malloc_trim(0);
}

/* Gives a block back (or frees it: the pool is full or gone). */
void cdp_writer_block_put(struct cdp_writer *w, void *b)
{
	if (!w) {
		free(b);
		return;
	}
	pthread_mutex_lock(&w->blocks_lock);
	if (w->nfree_blocks < w->max_free_blocks) {
		w->free_blocks[w->nfree_blocks++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&w->blocks_lock);
	free(b);
}

/* ------------------------------------------------------- writer side */

/* Chunks new in the current group (a set of SHA-256), so that a content
 * written twice in one group is appended once. */
struct pending {
	size_t cap, n;
	struct pending_slot {
		int used;
		uint8_t sha[CDP_HASH_BYTES];
	} *slots;
};

static struct pending_slot *pending_find(struct pending *p, const uint8_t *sha)
{
	uint64_t hv;
	size_t i;

	if (!p->cap)
		return NULL;
	memcpy(&hv, sha, sizeof(hv));
	for (i = hv % p->cap;; i = (i + 1) % p->cap) {
		if (!p->slots[i].used || memcmp(p->slots[i].sha, sha, CDP_HASH_BYTES) == 0)
			return &p->slots[i];
	}
}

static int pending_grow(struct pending *p)
{
	struct pending old = *p;
	struct pending_slot *slot;
	size_t i;

	p->cap = old.cap ? old.cap * 2 : 256;
	p->slots = calloc(p->cap, sizeof(*p->slots));
	if (!p->slots) {
		*p = old;
		return -ENOMEM;
	}
	p->n = 0;
	for (i = 0; i < old.cap; i++) {
		if (!old.slots[i].used)
			continue;
		slot = pending_find(p, old.slots[i].sha);
		*slot = old.slots[i];
		p->n++;
	}
	free(old.slots);
	return 0;
}

/* Files whose blocks have records in the batch not yet written: a zero
 * range on one of them must see those first.  Open addressing on fid. */
struct fidset {
	size_t cap, n;
	uint64_t *slots;   /* host << 48 ^ fid, + 1 (0 = empty) */
};

static uint64_t fidset_key(uint32_t host, uint64_t fid)
{
	return ((uint64_t)host << 48 ^ fid) + 1;
}

static int fidset_has(const struct fidset *fs, uint64_t key)
{
	size_t i;

	if (!fs->cap)
		return 0;
	for (i = (key * 0x9E3779B97F4A7C15ull) & (fs->cap - 1); fs->slots[i];
	     i = (i + 1) & (fs->cap - 1))
		if (fs->slots[i] == key)
			return 1;
	return 0;
}

static int fidset_add(struct fidset *fs, uint64_t key)
{
	uint64_t *old = fs->slots;
	size_t oldcap = fs->cap, i, j;

	if (fidset_has(fs, key))
		return 0;
	if ((fs->n + 1) * 2 > fs->cap) {
		fs->cap = oldcap ? oldcap * 2 : 64;
		fs->slots = calloc(fs->cap, sizeof(*fs->slots));
		if (!fs->slots) {
			fs->slots = old;
			fs->cap = oldcap;
			return -ENOMEM;
		}
		fs->n = 0;
		for (j = 0; j < oldcap; j++) {
			if (!old[j])
				continue;
			for (i = (old[j] * 0x9E3779B97F4A7C15ull) & (fs->cap - 1); fs->slots[i];
			     i = (i + 1) & (fs->cap - 1))
				;
			fs->slots[i] = old[j];
			fs->n++;
		}
		free(old);
	}
	for (i = (key * 0x9E3779B97F4A7C15ull) & (fs->cap - 1); fs->slots[i];
	     i = (i + 1) & (fs->cap - 1))
		;
	fs->slots[i] = key;
	fs->n++;
	return 0;
}

static void fidset_clear(struct fidset *fs)
{
	if (fs->cap)
		memset(fs->slots, 0, fs->cap * sizeof(*fs->slots));
	fs->n = 0;
}

struct group {
	struct cdp_store *s;
	struct cdp_ibatch ib;
	struct pending pend;
	struct fidset touched;
	int64_t cut_ts;
	uint64_t gen;   /* the flush generation the group answers */
	int final;
};

static void wb_put(struct group *g, int cf, const struct cdp_key *k, const void *v, size_t len)
{
	cdp_ibatch_put(&g->ib, g->s, cf, k, v, len);
}

/* Each live root of h was captured through complete_through: so a crash's
 * gap starts within a second of the crash, not at the root's last change. */
static void put_alive(struct group *g, struct cdp_host_state *h)
{
	struct cdp_key k;
	uint8_t v[8];
	size_t i;

	put_u64be(v, (uint64_t)h->complete_through);
	pthread_mutex_lock(&g->s->w->qlock);
	for (i = 0; i < h->nlive_roots; i++) {
		cdp_key_host_meta(&k, h->id, HM_ALIVE, 1, h->live_roots[i]);
		wb_put(g, CF_META, &k, v, 8);
	}
	pthread_mutex_unlock(&g->s->w->qlock);
}

/* Counters of every host (and complete_through on the final write). */
static void put_counters(struct group *g)
{
	struct cdp_writer *w = g->s->w;
	struct cdp_host_state *h;
	struct cdp_key k;
	uint8_t v[16];
	uint64_t next_fid;

	pthread_mutex_lock(&w->qlock);
	h = w->hosts;
	pthread_mutex_unlock(&w->qlock);
	for (; h; h = h->next) {
		cdp_key_host_meta(&k, h->id, HM_LATEST, 0, 0);
		put_u64be(v, h->committed_seq);
		put_u64be(v + 8, (uint64_t)h->committed_ts);
		wb_put(g, CF_META, &k, v, 16);
		pthread_mutex_lock(&w->qlock);
		next_fid = h->next_fid;
		pthread_mutex_unlock(&w->qlock);
		cdp_key_host_meta(&k, h->id, HM_NEXT_FID, 0, 0);
		put_u64be(v, next_fid);
		wb_put(g, CF_META, &k, v, 8);
		cdp_activity_put(g->s, &g->ib, h);
		cdp_suspect_put(g->s, &g->ib, h);
		if (g->final && g->cut_ts - 1 > h->complete_through) {
			h->complete_through = g->cut_ts - 1;
			cdp_key_host_meta(&k, h->id, HM_COMPLETE, 0, 0);
			put_u64be(v, (uint64_t)h->complete_through);
			wb_put(g, CF_META, &k, v, 8);
			put_alive(g, h);
		}
	}
}

/* The group's chunks and index records in the log, one fdatasync for both,
 * then the index (indexlog.c).  A heartbeat (no op) only moves the
 * complete_through markers, in the index alone. */
static int group_write(struct group *g, int heartbeat)
{
	int ret;

	put_counters(g);
	ret = heartbeat ? cdp_index_write_unlogged(g->s, &g->ib) :
		cdp_index_commit_locked(g->s, &g->ib);
	if (ret < 0)
		return ret;
	fidset_clear(&g->touched);
	pthread_mutex_lock(&g->s->w->qlock);
	g->s->w->st.commits++;
	pthread_mutex_unlock(&g->s->w->qlock);
	return 0;
}

static int put_data(struct group *g, uint32_t host, const struct op_rec *r, uint64_t seq)
{
	struct cdp_store *s = g->s;
	struct cdp_writer *w = s->w;
	struct cdp_chunk_loc loc;
	struct cdp_key k;
	uint8_t v[CHUNKVAL_BYTES > BLOCKREF_VALUE_BYTES ? CHUNKVAL_BYTES : BLOCKREF_VALUE_BYTES];
	int ret, is_new = 0;

	if (r->type == R_DATA) {
		/* a gc running now must not remove what this group references
		 * (gc.c); the set is protected by log_lock, which we hold */
		if (s->gc_touched && (ret = cdp_shaset_add(s->gc_touched, r->sha)) < 0)
			return ret;
		if (r->fresh) {
			/* r->data lives until the group is done, past its sync */
			ret = cdp_chunklog_append_ref(s->chunks, r->sha, r->u, r->data,
						      (uint32_t)r->len, r->zstd, &loc);
			if (ret < 0) {
				cdp_log(LOG_ERR, "cannot append to chunk log of '%s': %s",
					s->path, cdp_strerror(ret));
				return ret == -ENOSPC ? -CDP_ENOSPACE : ret;
			}
			memcpy(k.b, r->sha, CDP_HASH_BYTES);
			k.len = CDP_HASH_BYTES;
			cdp_chunkval_encode(v, &loc);
			wb_put(g, CF_CHUNK, &k, v, CHUNKVAL_BYTES);
			is_new = 1;
		}
		cdp_blockref_encode(v, r->sha, r->u);
		cdp_key_block(&k, host, r->fid, r->a, seq);
		wb_put(g, CF_BLOCK, &k, v, BLOCKREF_VALUE_BYTES);
		pthread_mutex_lock(&w->qlock);
		w->st.blocks++;
		w->st.bytes_in += r->u;
		if (is_new) {
			w->st.new_chunks++;
			w->st.bytes_stored += r->len + REC_HEADER_BYTES;
		} else {
			w->st.dedup_hits++;
		}
		pthread_mutex_unlock(&w->qlock);
	} else {
		v[0] = VAL_ZERO;
		cdp_key_block(&k, host, r->fid, r->a, seq);
		wb_put(g, CF_BLOCK, &k, v, ZERO_VALUE_BYTES);
		pthread_mutex_lock(&w->qlock);
		w->st.blocks++;
		w->st.zero_blocks++;
		w->st.bytes_in += r->u;
		pthread_mutex_unlock(&w->qlock);
	}
	return 0;
}

/* Puts a ZERO version on every block in range whose newest version holds
 * data.  The index must already hold every earlier op. */
static int put_zero_range(struct group *g, uint32_t host, const struct op_rec *r, uint64_t seq)
{
	struct cdp_store *s = g->s;
	rocksdb_iterator_t *it;
	struct cdp_key k, zk;
	const char *key, *val;
	size_t klen, vlen;
	uint64_t blk = r->a, b;
	uint8_t z = VAL_ZERO;
	char *err = NULL;

	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_BLOCK]);
	while (blk < r->b) {
		cdp_key_block(&k, host, r->fid, blk, CDP_SEQ_LATEST);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (!rocksdb_iter_valid(it))
			break;
		key = rocksdb_iter_key(it, &klen);
		if (klen != 28 || memcmp(key, k.b, 12) != 0)
			break;
		b = get_u64be((const uint8_t *)key + 12);
		if (b >= r->b)
			break;
		val = rocksdb_iter_value(it, &vlen);
		if (vlen < 1 || val[0] != VAL_ZERO) {
			cdp_key_block(&zk, host, r->fid, b, seq);
			wb_put(g, CF_BLOCK, &zk, &z, ZERO_VALUE_BYTES);
		}
		if (b == UINT64_MAX)
			break;
		blk = b + 1;
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	return cdp_rocks_err(err, -EIO);
}

static int put_op(struct group *g, struct cdp_op *op)
{
	uint32_t host = op->j->h->id;
	const struct op_rec *r;
	struct cdp_key k;
	uint8_t v[DIRENT_VALUE_BYTES];
	size_t i;
	int ret = 0;

	for (i = 0; op->has_zero && i < op->n; i++) {
		r = &op->recs[i];
		if (r->type == R_ZERORANGE && fidset_has(&g->touched, fidset_key(host, r->fid))) {
			ret = group_write(g, 0);
			if (ret < 0)
				return ret;
			break;
		}
	}
	for (i = 0; i < op->n && ret == 0; i++) {
		r = &op->recs[i];
		if ((r->type == R_DATA || r->type == R_ZERODATA || r->type == R_ZERORANGE) &&
		    fidset_add(&g->touched, fidset_key(host, r->fid)) < 0)
			return -ENOMEM;
		switch (r->type) {
		case R_ATTR:
			cdp_key_inode(&k, host, r->fid, op->seq);
			wb_put(g, CF_INODE, &k, r->data, r->len);
			break;
		case R_DIRENT:
			cdp_key_dirent(&k, host, r->fid, r->name, strlen(r->name), 1, 1, op->seq);
			if (r->del) {
				v[0] = VAL_TOMBSTONE;
				wb_put(g, CF_DIRENT, &k, v, TOMBSTONE_VALUE_BYTES);
			} else {
				cdp_dirent_value_encode(v, r->a, r->u);
				wb_put(g, CF_DIRENT, &k, v, DIRENT_VALUE_BYTES);
			}
			break;
		case R_DATA:
		case R_ZERODATA:
			ret = put_data(g, host, r, op->seq);
			break;
		case R_ZERORANGE:
			ret = put_zero_range(g, host, r, op->seq);
			break;
		case R_XATTR:
			cdp_key_xattr(&k, host, r->fid, r->name, strlen(r->name), 1, 1, op->seq);
			if (r->del) {
				v[0] = VAL_TOMBSTONE;
				wb_put(g, CF_XATTR, &k, v, TOMBSTONE_VALUE_BYTES);
			} else {
				uint8_t *xv = malloc(XATTR_VALUE_HEADER_BYTES + r->len);

				if (!xv)
					return -ENOMEM;
				cdp_xattr_value_encode(xv, r->data, r->len);
				wb_put(g, CF_XATTR, &k, xv, XATTR_VALUE_HEADER_BYTES + r->len);
				free(xv);
			}
			break;
		case R_IMAP:
			if (r->skip)
				break;
			cdp_key_imap(&k, host, r->u, r->a);
			if (r->del) {
				cdp_ibatch_delete(&g->ib, g->s, CF_IMAP, &k);
			} else {
				uint8_t *mv = malloc(IMAP_VALUE_HEADER_BYTES + r->len);

				if (!mv)
					return -ENOMEM;
				cdp_imap_value_encode(mv, r->fid, r->data, r->len);
				wb_put(g, CF_IMAP, &k, mv, IMAP_VALUE_HEADER_BYTES + r->len);
				free(mv);
			}
			break;
		}
	}
	if (ret < 0)
		return ret;
	cdp_key_time(&k, host, op->ts, op->seq);
	wb_put(g, CF_TIME, &k, "", 0);
	cdp_activity_op(g->s, &g->ib, op->j->h, op);
	cdp_suspect_op(g->s, op->j->h, op);
	op->j->h->committed_seq = op->seq;
	op->j->h->committed_ts = op->ts;
	return 0;
}

struct chunk_job {
	struct cdp_writer *w;
	struct op_rec **recs;
};

static void hash_block(void *arg, size_t i, unsigned thread)
{
	struct op_rec *r = ((struct chunk_job *)arg)->recs[i];

	cdp_hash(r->data, r->u, r->sha);
}

/* Compresses one raw block (into the thread's scratch buffer, then an
 * exact copy) in place of its data; a block that does not shrink, or no
 * memory for the copy, stays raw (zstd 0), which is as valid a chunk. */
static void compress_block(void *arg, size_t i, unsigned thread)
{
	struct chunk_job *job = arg;
	struct op_rec *r = job->recs[i];
	uint8_t *out = job->w->scratch[thread], *copy;
	ssize_t stored;
	int zstd = 0;

	if (cdp_chunk_incompressible(r->data, r->u)) {
		r->zstd = 0;   /* stays raw: not worth a compression attempt */
		return;
	}
	stored = cdp_chunk_compress(r->data, r->u, out, ZSTD_compressBound(r->u), &zstd);
	copy = stored > 0 && zstd ? malloc((size_t)stored) : NULL;
	if (!copy) {
		r->zstd = 0;
		return;
	}
	memcpy(copy, out, (size_t)stored);
	cdp_writer_block_put(job->w, r->data);
	r->pooled = 0;
	r->data = copy;
	r->len = (size_t)stored;
	r->zstd = 1;
}

/*
 * Turns the raw blocks of a cut into chunks before any index record is
 * written: hashes them all (in parallel), marks the first block of each
 * content that neither this group nor the chunk column family holds as
 * fresh, and compresses only those (in parallel).  put_data then appends
 * the fresh ones in op order and references the rest.
 */
static int prepare_chunks(struct cdp_writer *w, struct group *g, struct cdp_op *batch)
{
	struct op_rec **raw = NULL, **fresh;
	struct chunk_job job = { .w = w };
	struct pending_slot *slot;
	struct cdp_op *op;
	size_t n = 0, nfresh = 0, i;
	int ret = 0;

	for (op = batch; op; op = op->next)
		for (i = 0; i < op->n; i++)
			n += op->recs[i].type == R_DATA;
	if (!n)
		return 0;
	raw = malloc(n * sizeof(*raw));
	if (!raw)
		return -ENOMEM;
	n = 0;
	for (op = batch; op; op = op->next)
		for (i = 0; i < op->n; i++)
			if (op->recs[i].type == R_DATA)
				raw[n++] = &op->recs[i];
	job.recs = raw;
	cdp_work_pool_run(w->pool, n, hash_block, &job);
	/* fresh is a prefix of the same array: it only ever lags behind i */
	fresh = raw;
	for (i = 0; i < n; i++) {
		struct op_rec *r = raw[i];

		slot = pending_find(&g->pend, r->sha);
		if (slot && slot->used)
			continue;
		ret = cdp_chunk_lookup(w->s, r->sha, NULL);
		if (ret < 0)
			goto out_free;
		if (ret == 1) {
			ret = 0;
			continue;   /* an earlier group holds this content */
		}
		if (g->pend.n * 2 >= g->pend.cap) {
			ret = pending_grow(&g->pend);
			if (ret < 0)
				goto out_free;
		}
		slot = pending_find(&g->pend, r->sha);
		slot->used = 1;
		memcpy(slot->sha, r->sha, CDP_HASH_BYTES);
		g->pend.n++;
		r->fresh = 1;
		fresh[nfresh++] = r;
	}
	job.recs = fresh;
	cdp_work_pool_run(w->pool, nfresh, compress_block, &job);
out_free:
	free(raw);
	return ret;
}

/* Under qlock: one op's lag, in the histogram of the whole session and in
 * the window of the last minute. */
static void lag_record(struct cdp_writer *w, int64_t lag_ns, int64_t now_mono)
{
	uint64_t us = lag_ns > 0 ? (uint64_t)lag_ns / 1000 : 0;
	int b = 0;

	while (us > 1 && b < LAG_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	w->lag_hist[b]++;
	if (now_mono - w->lag_win_start >= 60000000000LL) {
		memcpy(w->lag_win[1], w->lag_win[0], sizeof(w->lag_win[0]));
		memset(w->lag_win[0], 0, sizeof(w->lag_win[0]));
		if (now_mono - w->lag_win_start >= 120000000000LL)
			memset(w->lag_win[1], 0, sizeof(w->lag_win[1]));
		w->lag_win_start = now_mono;
	}
	w->lag_win[0][b]++;
}

/* The group's record is durable: the fsyncs it covers may return, before
 * the index has it (the log is the store; an open replays what the index
 * lacks).  Called under log_lock. */
static void group_durable(void *arg)
{
	struct group *g = arg;
	struct cdp_writer *w = g->s->w;

	pthread_mutex_lock(&w->qlock);
	if (w->synced_gen < g->gen)
		w->synced_gen = g->gen;
	pthread_cond_broadcast(&w->done_cond);
	pthread_mutex_unlock(&w->qlock);
}

/* Writes one cut of the queue (which answers flush generation gen);
 * returns 0 or the error that degraded it. */
static int write_group(struct cdp_writer *w, struct cdp_op *batch, int64_t cut_ts, uint64_t gen)
{
	struct group g = { .s = w->s, .cut_ts = cut_ts, .gen = gen };
	struct cdp_op *op;
	int64_t failed_ts = 0, t0, t1, t2;
	size_t nops = 0;
	int ret = 0;

	ret = cdp_ibatch_init(&g.ib);
	if (ret < 0)
		return ret;
	/* one writer of the log at a time: chunks of this group and their
	 * index record are not interleaved with another commit's */
	pthread_mutex_lock(&w->s->log_lock);
	t0 = mono_ns();
	ret = prepare_chunks(w, &g, batch);
	t1 = mono_ns();
	if (ret < 0)
		failed_ts = batch ? batch->ts : cut_ts;
	for (op = batch; op && ret == 0; op = op->next) {
		ret = put_op(&g, op);
		if (ret < 0) {
			failed_ts = op->ts;
			break;
		}
	}
	t2 = mono_ns();
	if (ret == 0) {
		g.final = 1;
		g.ib.durable = group_durable;
		g.ib.durable_arg = &g;
		ret = group_write(&g, batch == NULL);
		if (ret < 0)
			failed_ts = batch ? batch->ts : cut_ts;
	}
	if (ret < 0)
		cdp_chunklog_rollback(w->s->chunks);
	pthread_mutex_unlock(&w->s->log_lock);
	if (cdp_log_enabled(LOG_DEBUG)) {
		for (op = batch; op; op = op->next)
			nops++;
		cdp_log(LOG_DEBUG, "group of %zu ops: chunks %.1f ms, index %.1f ms, "
			"sync %.1f ms", nops, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
			(double)(mono_ns() - t2) / 1e6);
	}
	cdp_ibatch_release(&g.ib);
	free(g.pend.slots);
	free(g.touched.slots);
	if (ret < 0) {
		pthread_mutex_lock(&w->qlock);
		if (!w->degraded) {
			w->degraded = 1;
			w->degraded_since = failed_ts ? failed_ts : cut_ts;
			cdp_log(LOG_ERR, "journal of store '%s' degraded: %s; operations from now "
				"on are not recorded until the next resync", w->s->path,
				cdp_strerror(ret));
		}
		pthread_mutex_unlock(&w->qlock);
	}
	return ret;
}

static void timespec_at(struct timespec *ts, int64_t mono)
{
	ts->tv_sec = mono / 1000000000LL;
	ts->tv_nsec = mono % 1000000000LL;
}

static void *writer_main(void *arg)
{
	struct cdp_writer *w = arg;
	struct cdp_store *s = w->s;
	int64_t interval = (int64_t)s->opts.commit_interval_ms * 1000000LL;
	int64_t now, deadline, cut_ts, done_mono;
	struct cdp_op *batch, *op, *next;
	uint64_t target_gen, last_ticket;
	struct timespec until;
	size_t bytes;
	int final = 0, degraded, have_hosts;

	pthread_mutex_lock(&w->qlock);
	while (!final) {
		for (;;) {
			now = mono_ns();
			if (w->stop || w->flush_gen != w->done_gen)
				break;
			/* a group is cut after the interval, or at an eighth of
			 * the queue (8 MiB): bigger groups only make the lag
			 * longer (each takes longer to hash and write) */
			if (w->head && (w->queue_bytes >= s->opts.queue_limit_bytes / 8 ||
					now - w->head->enq_mono_ns >= interval))
				break;
			if (!w->head && w->hosts && !w->degraded &&
			    now - w->last_commit_mono_ns >= 1000000000LL)
				break;
			deadline = w->head ? w->head->enq_mono_ns + interval :
				w->last_commit_mono_ns + 1000000000LL;
			timespec_at(&until, deadline);
			pthread_cond_timedwait(&w->work_cond, &w->qlock, &until);
		}
		final = w->stop;
		batch = w->head;
		w->head = w->tail = NULL;
		target_gen = w->flush_gen;
		last_ticket = w->next_ticket;
		cut_ts = cdp_now_ns();
		/* both protected by qlock: read here, not after the unlock (a
		 * root_begin may clear degraded, a journal_open add a host) */
		degraded = w->degraded;
		have_hosts = w->hosts != NULL;
		pthread_mutex_unlock(&w->qlock);

		bytes = 0;
		for (op = batch; op; op = op->next)
			bytes += op->bytes;
		if (!degraded && (batch || have_hosts))
			write_group(w, batch, cut_ts, target_gen);
		if (!batch)
			blocks_trim(w);   /* an idle heartbeat */
		done_mono = mono_ns();

		pthread_mutex_lock(&w->qlock);
		for (op = batch; op; op = next) {
			next = op->next;
			lag_record(w, done_mono - op->enq_mono_ns, done_mono);
			cdp_op_free(op);
		}
		w->queue_bytes -= bytes;
		w->done_gen = target_gen;
		w->last_commit_mono_ns = done_mono;
		cdp_journal_imap_prune(w, last_ticket);
		pthread_cond_broadcast(&w->done_cond);
		pthread_cond_broadcast(&w->space_cond);
		if (batch && !degraded) {
			/* after the answer: zeros ahead for the next syncs */
			pthread_mutex_unlock(&w->qlock);
			pthread_mutex_lock(&s->log_lock);
			cdp_chunklog_runway(s->chunks);
			pthread_mutex_unlock(&s->log_lock);
			pthread_mutex_lock(&w->qlock);
		}
		if (w->head && final)
			final = 0;   /* ops raced in before stop: drain them too */
	}
	pthread_mutex_unlock(&w->qlock);
	return NULL;
}

/* Frees what cdp_writer_start allocated; the thread is not running. */
static void writer_free(struct cdp_writer *w)
{
	struct cdp_host_state *h, *hn;
	unsigned i;

	for (h = w->hosts; h; h = hn) {
		hn = h->next;
		free(h->live_roots);
		cdp_suspect_free(h->suspect);
		cdp_activity_free(h);
		free(h->name);
		free(h);
	}
	cdp_journal_imap_prune(w, UINT64_MAX);
	if (w->scratch)
		for (i = 0; i < cdp_work_pool_threads(w->pool); i++)
			free(w->scratch[i]);
	free(w->scratch);
	cdp_work_pool_free(w->pool);
	while (w->nfree_blocks)
		free(w->free_blocks[--w->nfree_blocks]);
	free(w->free_blocks);
	pthread_mutex_destroy(&w->blocks_lock);
	pthread_cond_destroy(&w->work_cond);
	pthread_cond_destroy(&w->space_cond);
	pthread_cond_destroy(&w->done_cond);
	pthread_mutex_destroy(&w->qlock);
	free(w);
}

int cdp_writer_start(struct cdp_store *s)
{
	struct cdp_writer *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	unsigned nthreads, i;
	int ret;

	if (!w)
		return -ENOMEM;
	w->s = s;
	pthread_mutex_init(&w->qlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->work_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&w->space_cond, NULL);
	pthread_cond_init(&w->done_cond, NULL);
	w->last_commit_mono_ns = mono_ns();
	pthread_mutex_init(&w->blocks_lock, NULL);
	/* up to a queue's worth of blocks stays allocated during a burst;
	 * blocks_trim() gives them back when the writer idles */
	w->max_free_blocks = s->opts.queue_limit_bytes / s->block_size;
	w->free_blocks = calloc(w->max_free_blocks + 1, sizeof(*w->free_blocks));
	nthreads = s->opts.hash_threads ? s->opts.hash_threads : cdp_work_pool_default_threads();
	ret = w->free_blocks ? cdp_work_pool_new(nthreads, &w->pool) : -ENOMEM;
	if (ret == 0) {
		nthreads = cdp_work_pool_threads(w->pool);
		w->scratch = calloc(nthreads, sizeof(*w->scratch));
		for (i = 0; w->scratch && i < nthreads; i++)
			if (!(w->scratch[i] = malloc(ZSTD_compressBound(s->block_size))))
				ret = -ENOMEM;
		if (!w->scratch)
			ret = -ENOMEM;
	}
	if (ret == 0) {
		s->w = w;
		ret = -pthread_create(&w->thread, NULL, writer_main, w);
		if (ret)
			s->w = NULL;
	}
	if (ret < 0)
		writer_free(w);
	return ret;
}

void cdp_writer_stop(struct cdp_store *s)
{
	struct cdp_writer *w = s->w;

	if (!w)
		return;
	pthread_mutex_lock(&w->qlock);
	w->stop = 1;
	pthread_cond_broadcast(&w->work_cond);
	pthread_cond_broadcast(&w->space_cond);
	pthread_mutex_unlock(&w->qlock);
	pthread_join(w->thread, NULL);
	s->w = NULL;
	writer_free(w);
}

/* Asks the writer to commit everything queued so far now; *gen is the
 * ticket cdp_writer_flush_wait() waits for.  0 when no writer. */
int cdp_writer_flush_start(struct cdp_store *s, uint64_t *gen)
{
	struct cdp_writer *w = s->w;

	*gen = 0;
	if (!w)
		return 0;
	pthread_mutex_lock(&w->qlock);
	if (w->degraded) {
		pthread_mutex_unlock(&w->qlock);
		return -CDP_ENOSPACE;
	}
	*gen = ++w->flush_gen;
	pthread_cond_signal(&w->work_cond);
	pthread_mutex_unlock(&w->qlock);
	return 0;
}

/* Waits until generation gen is durable in the log (applied: and in the
 * index too). */
static int flush_wait(struct cdp_store *s, uint64_t gen, int applied)
{
	struct cdp_writer *w = s->w;
	int ret;

	if (!w || !gen)
		return 0;
	pthread_mutex_lock(&w->qlock);
	while (w->done_gen < gen && (applied || w->synced_gen < gen) && !w->stop)
		pthread_cond_wait(&w->done_cond, &w->qlock);
	ret = w->degraded ? -CDP_ENOSPACE : 0;
	pthread_mutex_unlock(&w->qlock);
	return ret;
}

int cdp_writer_flush_wait(struct cdp_store *s, uint64_t gen)
{
	return flush_wait(s, gen, 0);
}

int cdp_writer_flush(struct cdp_store *s)
{
	uint64_t gen;
	int ret = cdp_writer_flush_start(s, &gen);

	/* the whole flush: in the index too, for readers of this process */
	return ret < 0 ? ret : flush_wait(s, gen, 1);
}
