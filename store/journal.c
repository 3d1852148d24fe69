/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.c - the writing side of the store: journals (one per host), the
 * operations capture builds, the bounded queue, and the writer thread that
 * makes them durable in groups.
 *
 * Capture threads build an op (cdp_op_data only copies the block: hashing
 * and compression are the writer's, off the application's path) and commit
 * it: under the queue lock the op gets its seq and
 * instant (ts = max(now, last ts), so ts never decreases with seq), is
 * appended to the queue, and its inode-map entries go into an in-memory
 * overlay that cdp_journal_imap_get consults until they are committed.
 * commit blocks while the queued bytes exceed the ceiling.
 *
 * The writer thread cuts the whole queue at once, taking "now" under the
 * queue lock (every op with ts below that instant is in the cut), then:
 * hashes every data block of the cut on a pool of threads, dedups each (a
 * set of chunks new in this group, then the chunk column family),
 * compresses only the new ones (again on the pool), appends them to the
 * segment in op order, fdatasync()s
 * it, and only then writes one RocksDB WriteBatch with every index record,
 * one time entry per op, the per-host counters and complete_through_ts,
 * with sync.  An op holding a zero range of a file that the group already
 * has block records for first writes what precedes it (no WAL sync: the
 * final write syncs it), so that the newest version of each block it scans
 * is in the index.
 *
 * Failure: any segment or index write error (ENOSPC above all) makes the
 * journal degraded: the group is dropped, the instant is remembered, and
 * commit/sync return CDP_ENOSPACE at once until a root_begin starts a
 * resync; the gap is recorded on the root at root_ready.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "store_int.h"

enum rec_type { R_ATTR, R_DIRENT, R_DATA, R_ZERODATA, R_ZERORANGE, R_XATTR, R_IMAP };

struct op_rec {
	int type;
	uint64_t fid;      /* parent for dirents */
	uint64_t a, b;     /* block | child | first block | ino */
	uint32_t u;        /* dirent type | raw len | root id */
	int zstd;
	int fresh;         /* R_DATA: first of its content, to be appended */
	int pooled;        /* data is a raw block of the writer's block pool */
	int del;           /* tombstone (dirent, xattr) or unmap (imap) */
	int skip;          /* R_IMAP: a conditional unmap that lost (commit) */
	uint8_t sha[CDP_HASH_BYTES];  /* R_DATA: set by the writer */
	char *name;        /* dirent or xattr name */
	void *data;        /* attr value | block (raw, then the chunk payload once
			    * compressed) | xattr value | handle */
	size_t len;
};

struct cdp_op {
	struct cdp_journal *j;
	struct op_rec *recs;
	size_t n, cap;
	size_t bytes;
	int has_zero;
	uint64_t seq;
	int64_t ts;
	uint64_t ticket;
	int64_t enq_mono_ns;
	struct cdp_op *next;
};

struct cdp_journal {
	struct cdp_store *s;
	struct cdp_host_state *h;
};

struct imap_entry {
	uint32_t host, root;
	uint64_t ino, fid;
	uint64_t ticket;
	size_t hlen;
	struct imap_entry *next;
	uint8_t handle[];
};

#define IMAP_BUCKETS 4096
#define LAG_BUCKETS 40

struct cdp_writer {
	struct cdp_store *s;
	pthread_t thread;
	pthread_mutex_t qlock;
	pthread_cond_t work_cond, space_cond, done_cond;
	/* everything below protected by qlock */
	struct cdp_op *head, *tail;
	size_t queue_bytes;
	uint64_t next_ticket;
	uint64_t flush_gen, done_gen;
	int stop;
	int degraded;
	int64_t degraded_since;
	/* hosts: added at the front under qlock and never removed before
	 * cdp_writer_stop, so a head read under qlock may be walked without it */
	struct cdp_host_state *hosts;
	struct imap_entry *imap[IMAP_BUCKETS];
	struct cdp_journal_stats st;
	uint64_t lag_hist[LAG_BUCKETS];
	int64_t last_commit_mono_ns;
	struct work_pool *pool;   /* writer thread only */
	uint8_t **scratch;        /* a compression buffer per pool thread */
	/* raw block buffers kept for reuse, protected by blocks_lock */
	pthread_mutex_t blocks_lock;
	void **free_blocks;
	size_t nfree_blocks, max_free_blocks;
};

/* A block buffer (block_size bytes) from the pool, or NULL. */
static void *block_get(struct cdp_writer *w, uint32_t block_size)
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
static void block_put(struct cdp_writer *w, void *b)
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

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* ------------------------------------------------------ imap overlay */

static size_t imap_bucket(uint32_t host, uint32_t root, uint64_t ino)
{
	uint64_t h = ino * 0x9E3779B97F4A7C15ull ^ ((uint64_t)host << 32 | root);

	return (size_t)(h >> 20) % IMAP_BUCKETS;
}

static struct imap_entry **imap_find(struct cdp_writer *w, uint32_t host, uint32_t root,
				     uint64_t ino)
{
	struct imap_entry **pp = &w->imap[imap_bucket(host, root, ino)];

	while (*pp && ((*pp)->host != host || (*pp)->root != root || (*pp)->ino != ino))
		pp = &(*pp)->next;
	return pp;
}

/* Called with qlock held. */
static void imap_overlay_set(struct cdp_writer *w, uint32_t host, const struct op_rec *r,
			     uint64_t ticket)
{
	struct imap_entry **pp = imap_find(w, host, r->u, r->a), *e;

	e = malloc(sizeof(*e) + r->len);
	if (!e)
		return;   /* the op still lands in the index; get may lag */
	e->host = host;
	e->root = r->u;
	e->ino = r->a;
	e->fid = r->del ? 0 : r->fid;
	e->ticket = ticket;
	e->hlen = r->len;
	if (r->len)
		memcpy(e->handle, r->data, r->len);
	if (*pp) {
		e->next = (*pp)->next;
		free(*pp);
	} else {
		e->next = NULL;
	}
	*pp = e;
}

/* Called with qlock held: drops entries committed (ticket <= done). */
static void imap_overlay_prune(struct cdp_writer *w, uint64_t done)
{
	struct imap_entry **pp, *e;
	size_t i;

	for (i = 0; i < IMAP_BUCKETS; i++) {
		pp = &w->imap[i];
		while ((e = *pp)) {
			if (e->ticket <= done) {
				*pp = e->next;
				free(e);
			} else {
				pp = &e->next;
			}
		}
	}
}

/* -------------------------------------------------------- operations */

static void op_free(struct cdp_op *op)
{
	size_t i;

	if (!op)
		return;
	for (i = 0; i < op->n; i++) {
		free(op->recs[i].name);
		if (op->recs[i].pooled)
			block_put(op->j->s->w, op->recs[i].data);
		else
			free(op->recs[i].data);
	}
	free(op->recs);
	free(op);
}

void cdp_op_abort(struct cdp_op *op)
{
	op_free(op);
}

int cdp_op_new(struct cdp_journal *j, struct cdp_op **op)
{
	*op = calloc(1, sizeof(**op));
	if (!*op)
		return -ENOMEM;
	(*op)->j = j;
	return 0;
}

static struct op_rec *op_add(struct cdp_op *op, int type)
{
	struct op_rec *nr;
	size_t cap;

	if (op->n == op->cap) {
		cap = op->cap ? op->cap * 2 : 4;
		nr = realloc(op->recs, cap * sizeof(*nr));
		if (!nr)
			return NULL;
		op->recs = nr;
		op->cap = cap;
	}
	nr = &op->recs[op->n++];
	memset(nr, 0, sizeof(*nr));
	nr->type = type;
	op->bytes += sizeof(*nr);
	return nr;
}

static int name_ok(const char *name)
{
	size_t n;

	if (!name)
		return 0;
	n = strlen(name);
	return n > 0 && n <= CDP_NAME_MAX;
}

int cdp_op_attr(struct cdp_op *op, uint64_t fid, const struct cdp_attr *a,
		const char *symlink_target)
{
	size_t tlen = symlink_target ? strlen(symlink_target) : 0;
	struct op_rec *r;

	if (!fid || !a)
		return -EINVAL;
	r = op_add(op, R_ATTR);
	if (!r)
		return -ENOMEM;
	r->fid = fid;
	r->data = malloc(ATTR_VALUE_BYTES + tlen);
	if (!r->data) {
		op->n--;
		return -ENOMEM;
	}
	cdp_attr_encode(r->data, a);
	if (tlen)
		memcpy((char *)r->data + ATTR_VALUE_BYTES, symlink_target, tlen);
	r->len = ATTR_VALUE_BYTES + tlen;
	op->bytes += r->len;
	return 0;
}

int cdp_op_dirent(struct cdp_op *op, uint64_t parent, const char *name, uint64_t child,
		  uint32_t type)
{
	struct op_rec *r;

	if (!parent || !name_ok(name) || strchr(name, '/'))
		return -EINVAL;
	r = op_add(op, R_DIRENT);
	if (!r)
		return -ENOMEM;
	r->fid = parent;
	r->a = child;
	r->u = type;
	r->del = child == 0;
	r->name = strdup(name);
	if (!r->name) {
		op->n--;
		return -ENOMEM;
	}
	op->bytes += strlen(name);
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	/* each byte equals the next and the first is zero */
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int cdp_op_data(struct cdp_op *op, uint64_t fid, uint64_t offset, const void *buf, size_t len)
{
	struct cdp_store *s = op->j->s;
	uint32_t bs = s->block_size;
	const uint8_t *src;
	size_t done = 0, n;
	uint8_t *block;
	struct op_rec *r;

	if (!fid || offset % bs)
		return -EINVAL;
	while (done < len) {
		n = len - done < bs ? len - done : bs;
		src = (const uint8_t *)buf + done;
		r = op_add(op, R_DATA);
		if (!r)
			return -ENOMEM;
		r->fid = fid;
		r->a = (offset + done) / bs;
		r->u = bs;
		if (all_zero(src, n)) {
			r->type = R_ZERODATA;
		} else {
			block = block_get(s->w, bs);
			if (!block) {
				op->n--;
				return -ENOMEM;
			}
			memcpy(block, src, n);
			if (n < bs)
				memset(block + n, 0, bs - n);
			r->data = block;
			r->pooled = 1;
			r->len = bs;
			r->zstd = -1;   /* raw: the writer hashes and compresses */
			op->bytes += bs;
		}
		done += n;
	}
	return 0;
}

int cdp_op_zero(struct cdp_op *op, uint64_t fid, uint64_t first_block, uint64_t end_block)
{
	struct op_rec *r;

	if (!fid)
		return -EINVAL;
	if (end_block <= first_block)
		return 0;
	r = op_add(op, R_ZERORANGE);
	if (!r)
		return -ENOMEM;
	r->fid = fid;
	r->a = first_block;
	r->b = end_block;
	op->has_zero = 1;
	return 0;
}

int cdp_op_xattr(struct cdp_op *op, uint64_t fid, const char *name, const void *value,
		 size_t len)
{
	struct op_rec *r;

	if (!fid || !name_ok(name))
		return -EINVAL;
	r = op_add(op, R_XATTR);
	if (!r)
		return -ENOMEM;
	r->fid = fid;
	r->del = value == NULL;
	r->name = strdup(name);
	if (value) {
		r->data = malloc(len + 1);
		if (r->data)
			memcpy(r->data, value, len);
		r->len = len;
	}
	if (!r->name || (value && !r->data)) {
		free(r->name);
		free(r->data);
		op->n--;
		return -ENOMEM;
	}
	op->bytes += strlen(name) + len;
	return 0;
}

int cdp_op_imap(struct cdp_op *op, uint32_t root_id, uint64_t ino, uint64_t fid,
		const void *handle, size_t handle_len)
{
	struct op_rec *r;

	if (handle_len > 4096)
		return -EINVAL;
	r = op_add(op, R_IMAP);
	if (!r)
		return -ENOMEM;
	r->u = root_id;
	r->a = ino;
	r->fid = fid;
	r->del = fid == 0;
	if (fid && handle_len) {
		r->data = malloc(handle_len);
		if (!r->data) {
			op->n--;
			return -ENOMEM;
		}
		memcpy(r->data, handle, handle_len);
		r->len = handle_len;
		op->bytes += handle_len;
	}
	return 0;
}

int cdp_op_unmap(struct cdp_op *op, uint32_t root_id, uint64_t ino, uint64_t fid)
{
	struct op_rec *r;

	if (!fid)
		return -EINVAL;
	r = op_add(op, R_IMAP);
	if (!r)
		return -ENOMEM;
	r->u = root_id;
	r->a = ino;
	r->fid = fid;   /* the mapping it removes; imap_overlay_set stores 0 */
	r->del = 1;
	return 0;
}

/*
 * Called with qlock held, which orders every imap change of this process:
 * the fid that (root, ino) maps to once every op queued so far is applied,
 * 0 when unmapped.  The overlay holds every queued change; what it lacks is
 * in the index.  A read error counts as "still mapped to fid", so that the
 * unmap goes ahead as it did before conditions existed.
 */
static uint64_t imap_current(struct cdp_writer *w, uint32_t host, uint32_t root,
			     uint64_t ino, uint64_t fid)
{
	struct imap_entry *e = *imap_find(w, host, root, ino);
	struct cdp_key k;
	uint64_t cur = fid;
	char *val;
	size_t len;

	if (e)
		return e->fid;
	cdp_key_imap(&k, host, root, ino);
	if (cdp_store_get(w->s, CF_IMAP, &k, &val, &len) < 0)
		return fid;
	if (!val)
		return 0;
	cdp_imap_value_decode(val, len, &cur, NULL, NULL);   /* cur stays fid on a bad value */
	free(val);
	return cur;
}

int cdp_op_commit(struct cdp_op *op, uint64_t *seq, int64_t *ts_ns)
{
	struct cdp_store *s = op->j->s;
	struct cdp_writer *w = s->w;
	struct cdp_host_state *h = op->j->h;
	int64_t now;
	size_t i;

	pthread_mutex_lock(&w->qlock);
	while (w->queue_bytes > s->opts.queue_limit_bytes && !w->degraded && !w->stop)
		pthread_cond_wait(&w->space_cond, &w->qlock);
	if (w->degraded || w->stop) {
		int ret = w->stop ? -ESHUTDOWN : -CDP_ENOSPACE;

		pthread_mutex_unlock(&w->qlock);
		op_free(op);
		return ret;
	}
	now = cdp_now_ns();
	op->seq = ++h->last_seq;
	op->ts = now > h->last_ts ? now : h->last_ts;
	h->last_ts = op->ts;
	op->ticket = ++w->next_ticket;
	op->enq_mono_ns = mono_ns();
	for (i = 0; i < op->n; i++) {
		struct op_rec *r = &op->recs[i];

		if (r->type != R_IMAP)
			continue;
		/* A conditional unmap whose inode number now maps to another
		 * fid lost a race with the reuse of the number: a create that
		 * got the freed number committed first.  It must not remove
		 * the new file's mapping. */
		if (r->del && r->fid && imap_current(w, h->id, r->u, r->a, r->fid) != r->fid) {
			r->skip = 1;
			continue;
		}
		imap_overlay_set(w, h->id, r, op->ticket);
	}
	op->next = NULL;
	if (w->tail)
		w->tail->next = op;
	else
		w->head = op;
	w->tail = op;
	w->queue_bytes += op->bytes;
	if (w->queue_bytes > w->st.queue_peak_bytes)
		w->st.queue_peak_bytes = w->queue_bytes;
	w->st.ops++;
	/* the writer sleeps on an idle deadline while the queue is empty */
	if (w->head == op || w->queue_bytes >= s->opts.queue_limit_bytes / 2)
		pthread_cond_signal(&w->work_cond);
	/* once qlock is released the writer may commit and free op */
	if (seq)
		*seq = op->seq;
	if (ts_ns)
		*ts_ns = op->ts;
	pthread_mutex_unlock(&w->qlock);
	return 0;
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
	rocksdb_writebatch_t *wb;
	rocksdb_writeoptions_t *wopts_nosync;
	struct pending pend;
	struct fidset touched;
	int64_t cut_ts;
	int final;
};

static void wb_put(struct group *g, int cf, const struct cdp_key *k, const void *v, size_t len)
{
	rocksdb_writebatch_put_cf(g->wb, g->s->cf[cf], (const char *)k->b, k->len, v, len);
}

/* Counters of every host (and complete_through on the final write). */
static void put_counters(struct group *g)
{
	struct cdp_writer *w = g->s->w;
	struct cdp_host_state *h;
	struct cdp_key k;
	uint8_t v[16];
	uint32_t seg;
	uint64_t off, next_fid;

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
		if (g->final && g->cut_ts - 1 > h->complete_through) {
			h->complete_through = g->cut_ts - 1;
			cdp_key_host_meta(&k, h->id, HM_COMPLETE, 0, 0);
			put_u64be(v, (uint64_t)h->complete_through);
			wb_put(g, CF_META, &k, v, 8);
		}
	}
	cdp_chunklog_position(g->s->chunks, &seg, &off);
	if (seg) {
		cdp_key_meta(&k, "durable");
		put_u32be(v, seg);
		put_u64be(v + 4, off);
		wb_put(g, CF_META, &k, v, 12);
	}
}

/* Chunk data durable first, then the index batch. */
static int group_write(struct group *g)
{
	char *err = NULL;
	int ret;

	ret = cdp_chunklog_sync(g->s->chunks);
	if (ret < 0) {
		cdp_log(LOG_ERR, "cannot sync chunk segment in '%s': %s", g->s->path,
			cdp_strerror(ret));
		return ret == -ENOSPC ? -CDP_ENOSPACE : ret;
	}
	put_counters(g);
	/* a mid-group write need not sync the WAL: the group's final write
	 * does, and that syncs everything before it */
	rocksdb_write(g->s->db, g->final ? g->s->wopts_sync : g->wopts_nosync, g->wb, &err);
	if (err) {
		cdp_log(LOG_ERR, "cannot write index batch in '%s': %s", g->s->path, err);
		return cdp_rocks_err(err, -EIO);
	}
	rocksdb_writebatch_clear(g->wb);
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
		if (r->fresh) {
			ret = cdp_chunklog_append(s->chunks, r->sha, r->u, r->data,
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
			ret = group_write(g);
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
				rocksdb_writebatch_delete_cf(g->wb, g->s->cf[CF_IMAP],
							     (const char *)k.b, k.len);
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

	stored = cdp_chunk_compress(r->data, r->u, out, ZSTD_compressBound(r->u), &zstd);
	copy = stored > 0 && zstd ? malloc((size_t)stored) : NULL;
	if (!copy) {
		r->zstd = 0;
		return;
	}
	memcpy(copy, out, (size_t)stored);
	block_put(job->w, r->data);
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
	struct cdp_key k;
	size_t n = 0, nfresh = 0, i, vlen;
	char *val;
	int ret = 0, stored;

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
		memcpy(k.b, r->sha, CDP_HASH_BYTES);
		k.len = CDP_HASH_BYTES;
		ret = cdp_store_get(w->s, CF_CHUNK, &k, &val, &vlen);
		if (ret < 0)
			goto out_free;
		stored = val != NULL;
		free(val);
		if (stored)
			continue;   /* an earlier group holds this content */
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

static void lag_record(struct cdp_writer *w, int64_t lag_ns)
{
	uint64_t us = lag_ns > 0 ? (uint64_t)lag_ns / 1000 : 0;
	int b = 0;

	while (us > 1 && b < LAG_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	w->lag_hist[b]++;
}

/* Writes one cut of the queue; returns 0 or the error that degraded it. */
static int write_group(struct cdp_writer *w, struct cdp_op *batch, int64_t cut_ts)
{
	struct group g = { .s = w->s, .cut_ts = cut_ts };
	struct cdp_op *op;
	int64_t failed_ts = 0, t0, t1, t2;
	size_t nops = 0;
	int ret = 0;

	g.wb = rocksdb_writebatch_create();
	g.wopts_nosync = rocksdb_writeoptions_create();
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
		ret = group_write(&g);
		if (ret < 0)
			failed_ts = batch ? batch->ts : cut_ts;
	}
	if (cdp_log_enabled(LOG_DEBUG)) {
		for (op = batch; op; op = op->next)
			nops++;
		cdp_log(LOG_DEBUG, "group of %zu ops: chunks %.1f ms, index %.1f ms, "
			"sync %.1f ms", nops, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
			(double)(mono_ns() - t2) / 1e6);
	}
	rocksdb_writebatch_destroy(g.wb);
	rocksdb_writeoptions_destroy(g.wopts_nosync);
	free(g.pend.slots);
	free(g.touched.slots);
	if (ret < 0) {
		cdp_chunklog_rollback(w->s->chunks);
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
			if (w->head && (w->queue_bytes >= s->opts.queue_limit_bytes / 2 ||
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
			write_group(w, batch, cut_ts);
		if (!batch)
			blocks_trim(w);   /* an idle heartbeat */
		done_mono = mono_ns();

		pthread_mutex_lock(&w->qlock);
		for (op = batch; op; op = next) {
			next = op->next;
			lag_record(w, done_mono - op->enq_mono_ns);
			op_free(op);
		}
		w->queue_bytes -= bytes;
		w->done_gen = target_gen;
		w->last_commit_mono_ns = done_mono;
		imap_overlay_prune(w, last_ticket);
		pthread_cond_broadcast(&w->done_cond);
		pthread_cond_broadcast(&w->space_cond);
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
		free(h->name);
		free(h);
	}
	imap_overlay_prune(w, UINT64_MAX);
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
 * ticket writer_flush_wait() waits for.  0 when no writer. */
static int writer_flush_start(struct cdp_store *s, uint64_t *gen)
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

static int writer_flush_wait(struct cdp_store *s, uint64_t gen)
{
	struct cdp_writer *w = s->w;
	int ret;

	if (!w || !gen)
		return 0;
	pthread_mutex_lock(&w->qlock);
	while (w->done_gen < gen && !w->stop)
		pthread_cond_wait(&w->done_cond, &w->qlock);
	ret = w->degraded ? -CDP_ENOSPACE : 0;
	pthread_mutex_unlock(&w->qlock);
	return ret;
}

int cdp_writer_flush(struct cdp_store *s)
{
	uint64_t gen;
	int ret = writer_flush_start(s, &gen);

	return ret < 0 ? ret : writer_flush_wait(s, gen);
}

/* ----------------------------------------------------------- journals */

static int host_name_ok(const char *host)
{
	const char *p;

	if (!host || !*host || strlen(host) > 64 || host[0] == '.' || host[0] == '-')
		return 0;
	for (p = host; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_' && *p != '.')
			return 0;
	return 1;
}

static int host_register(struct cdp_store *s, const char *host, uint32_t *id)
{
	struct cdp_key k;
	uint8_t v[4];
	char *val;
	size_t len;
	uint32_t next = 1;
	rocksdb_writebatch_t *wb;
	char *err = NULL;
	int ret;

	ret = cdp_store_host_lookup(s, host, id);
	if (ret != -CDP_ENOHOST)
		return ret;
	cdp_key_meta(&k, "next_host");
	ret = cdp_store_get(s, CF_META, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (val && len == 4)
		next = get_u32be((uint8_t *)val);
	free(val);
	*id = next;
	wb = rocksdb_writebatch_create();
	put_u32be(v, next + 1);
	rocksdb_writebatch_put_cf(wb, s->cf[CF_META], (const char *)k.b, k.len, (char *)v, 4);
	cdp_key_host_name(&k, host);
	put_u32be(v, next);
	rocksdb_writebatch_put_cf(wb, s->cf[CF_META], (const char *)k.b, k.len, (char *)v, 4);
	cdp_key_host_meta(&k, next, HM_NAME, 0, 0);
	rocksdb_writebatch_put_cf(wb, s->cf[CF_META], (const char *)k.b, k.len, host,
				  strlen(host));
	rocksdb_write(s->db, s->wopts_sync, wb, &err);
	rocksdb_writebatch_destroy(wb);
	return cdp_rocks_err(err, -EIO);
}

int cdp_journal_open(struct cdp_store *s, const char *host, struct cdp_journal **out)
{
	struct cdp_writer *w = s->w;
	struct cdp_host_state *h;
	struct cdp_journal *j;
	int64_t seq, ts, fid, complete;
	uint32_t id;
	int ret;

	*out = NULL;
	if (!s->writer || !w)
		return -EROFS;
	if (!host_name_ok(host))
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&s->meta_lock);
	ret = host_register(s, host, &id);
	if (ret < 0)
		goto out;
	pthread_mutex_lock(&w->qlock);
	for (h = w->hosts; h && h->id != id; h = h->next)
		;
	pthread_mutex_unlock(&w->qlock);
	if (!h) {
		ret = cdp_store_host_meta_i64(s, id, HM_LATEST, 0, &seq);
		if (ret == 0)
			ret = cdp_store_host_meta_i64(s, id, HM_LATEST, 1, &ts);
		if (ret == 0)
			ret = cdp_store_host_meta_i64(s, id, HM_NEXT_FID, 0, &fid);
		if (ret == 0)
			ret = cdp_store_host_meta_i64(s, id, HM_COMPLETE, 0, &complete);
		if (ret < 0)
			goto out;
		h = calloc(1, sizeof(*h));
		if (!h || !(h->name = strdup(host))) {
			free(h);
			ret = -ENOMEM;
			goto out;
		}
		h->id = id;
		h->last_seq = h->committed_seq = (uint64_t)seq;
		h->last_ts = h->committed_ts = ts;
		h->next_fid = fid > (int64_t)CDP_ROOT_FID ? (uint64_t)fid : CDP_ROOT_FID + 1;
		h->complete_through = complete;
		pthread_mutex_lock(&w->qlock);
		h->next = w->hosts;
		w->hosts = h;
		pthread_mutex_unlock(&w->qlock);
	}
	j->s = s;
	j->h = h;
out:
	pthread_mutex_unlock(&s->meta_lock);
	if (ret < 0) {
		free(j);
		return ret;
	}
	*out = j;
	return 0;
}

void cdp_journal_close(struct cdp_journal *j)
{
	if (!j)
		return;
	cdp_writer_flush(j->s);
	free(j);
}

int cdp_journal_sync(struct cdp_journal *j)
{
	return cdp_writer_flush(j->s);
}

int cdp_journal_sync_start(struct cdp_journal *j, uint64_t *ticket)
{
	return writer_flush_start(j->s, ticket);
}

int cdp_journal_sync_wait(struct cdp_journal *j, uint64_t ticket)
{
	return writer_flush_wait(j->s, ticket);
}

int cdp_journal_new_fid(struct cdp_journal *j, uint64_t *fid)
{
	pthread_mutex_lock(&j->s->w->qlock);
	*fid = j->h->next_fid++;
	pthread_mutex_unlock(&j->s->w->qlock);
	return 0;
}

int cdp_journal_degraded(struct cdp_journal *j, int64_t *since_ts_ns)
{
	struct cdp_writer *w = j->s->w;
	int d;

	pthread_mutex_lock(&w->qlock);
	d = w->degraded;
	if (d && since_ts_ns)
		*since_ts_ns = w->degraded_since;
	pthread_mutex_unlock(&w->qlock);
	return d;
}

void cdp_journal_stats(struct cdp_journal *j, struct cdp_journal_stats *st)
{
	struct cdp_writer *w = j->s->w;
	uint64_t total = 0, acc = 0;
	int b;

	pthread_mutex_lock(&w->qlock);
	*st = w->st;
	st->queue_bytes = w->queue_bytes;
	for (b = 0; b < LAG_BUCKETS; b++)
		total += w->lag_hist[b];
	for (b = 0; b < LAG_BUCKETS && total; b++) {
		acc += w->lag_hist[b];
		if (!st->lag_p50_us && acc * 2 >= total)
			st->lag_p50_us = 1ull << b;
		if (acc * 100 >= total * 99) {
			st->lag_p99_us = 1ull << b;
			break;
		}
	}
	pthread_mutex_unlock(&w->qlock);
}

int cdp_journal_imap_get(struct cdp_journal *j, uint32_t root_id, uint64_t ino,
			 uint64_t *fid, void *handle, size_t *handle_len)
{
	struct cdp_writer *w = j->s->w;
	struct imap_entry *e;
	struct cdp_key k;
	const char *hp;
	char *val;
	size_t len, hlen;
	int ret;

	pthread_mutex_lock(&w->qlock);
	e = *imap_find(w, j->h->id, root_id, ino);
	if (e) {
		ret = e->fid ? 0 : -ENOENT;
		if (ret == 0) {
			*fid = e->fid;
			if (handle && handle_len && *handle_len < e->hlen)
				ret = -ERANGE;
			else if (handle && e->hlen)
				memcpy(handle, e->handle, e->hlen);
			if (handle_len)
				*handle_len = e->hlen;
		}
		pthread_mutex_unlock(&w->qlock);
		return ret;
	}
	pthread_mutex_unlock(&w->qlock);
	cdp_key_imap(&k, j->h->id, root_id, ino);
	ret = cdp_store_get(j->s, CF_IMAP, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (!val)
		return -ENOENT;
	if (cdp_imap_value_decode(val, len, fid, &hp, &hlen) < 0) {
		free(val);
		return -CDP_ECORRUPT;
	}
	if (handle && handle_len && *handle_len < hlen)
		ret = -ERANGE;
	else if (handle && hlen)
		memcpy(handle, hp, hlen);
	if (handle_len)
		*handle_len = hlen;
	free(val);
	return ret;
}

/* -------------------------------------------------------------- roots */

struct root_find {
	const char *path;
	uint32_t id;
	struct root_rec rec;
	int found;
	uint32_t max_id;
};

static int root_find_fn(void *arg, struct root_rec *r)
{
	struct root_find *f = arg;

	if (r->root_id > f->max_id)
		f->max_id = r->root_id;
	if (f->found)
		return 0;
	if ((f->path && strcmp(r->path, f->path) == 0) || (!f->path && r->root_id == f->id)) {
		f->rec = *r;
		r->path = NULL;
		r->gaps = NULL;
		f->found = 1;
	}
	return 0;
}

static int root_put(struct cdp_store *s, uint32_t host, const struct root_rec *r)
{
	struct cdp_key k;
	uint8_t *v;
	size_t len;
	int ret;

	ret = cdp_root_rec_encode(r, &v, &len);
	if (ret < 0)
		return ret;
	cdp_key_host_meta(&k, host, HM_ROOT, 1, r->root_id);
	ret = cdp_store_put_sync(s, CF_META, &k, v, len);
	free(v);
	return ret;
}

/* An instant no earlier than any op of the host handed out so far. */
static int64_t host_now(struct cdp_journal *j)
{
	struct cdp_writer *w = j->s->w;
	int64_t now = cdp_now_ns();

	pthread_mutex_lock(&w->qlock);
	if (now < j->h->last_ts)
		now = j->h->last_ts;
	j->h->last_ts = now;
	pthread_mutex_unlock(&w->qlock);
	return now;
}

int cdp_journal_root_begin(struct cdp_journal *j, const char *abs_path, uint32_t *root_id,
			   int *resuming)
{
	struct cdp_store *s = j->s;
	struct cdp_writer *w = s->w;
	struct root_find f = { .path = abs_path };
	int64_t last_ts, since = 0;
	int ret, was_degraded;

	if (!abs_path || abs_path[0] != '/' || strlen(abs_path) > 4095)
		return -EINVAL;
	pthread_mutex_lock(&s->meta_lock);
	ret = cdp_store_for_each_root(s, j->h->id, root_find_fn, &f);
	if (ret < 0)
		goto out;
	if (f.found && f.rec.active && cdp_store_pid_alive(f.rec.pid)) {
		ret = -EBUSY;
		goto out;
	}
	/* leaving degraded mode: the resync that follows is journaled */
	pthread_mutex_lock(&w->qlock);
	was_degraded = w->degraded;
	if (was_degraded) {
		since = w->degraded_since;
		w->degraded = 0;
	}
	pthread_mutex_unlock(&w->qlock);
	if (f.found) {
		if (f.rec.active) {
			/* crashed session: it ends at the host's last journaled op */
			ret = cdp_store_host_meta_i64(s, j->h->id, HM_LATEST, 1, &last_ts);
			if (ret < 0)
				goto out;
			f.rec.gap_from = last_ts > f.rec.session_start ? last_ts :
				f.rec.session_start;
		} else if (!f.rec.gap_from) {
			f.rec.gap_from = f.rec.session_end;
		}
		*resuming = 1;
	} else {
		memset(&f.rec, 0, sizeof(f.rec));
		f.rec.root_id = f.max_id + 1;
		f.rec.path = strdup(abs_path);
		if (!f.rec.path) {
			ret = -ENOMEM;
			goto out;
		}
		*resuming = 0;
	}
	if (was_degraded && f.found && (!f.rec.gap_from || since < f.rec.gap_from))
		f.rec.gap_from = since;
	f.rec.active = 1;
	f.rec.pid = (uint32_t)getpid();
	f.rec.session_start = host_now(j);
	f.rec.session_end = 0;
	ret = root_put(s, j->h->id, &f.rec);
	if (ret == 0)
		*root_id = f.rec.root_id;
out:
	cdp_root_rec_release(&f.rec);
	pthread_mutex_unlock(&s->meta_lock);
	return ret;
}

int cdp_journal_root_ready(struct cdp_journal *j, uint32_t root_id, uint64_t root_fid)
{
	struct cdp_store *s = j->s;
	struct root_find f = { .id = root_id };
	struct cdp_gap *ng;
	int64_t now;
	int ret;

	ret = cdp_writer_flush(s);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->meta_lock);
	ret = cdp_store_for_each_root(s, j->h->id, root_find_fn, &f);
	if (ret == 0 && !f.found)
		ret = -ENOENT;
	if (ret < 0)
		goto out;
	now = host_now(j);
	f.rec.fid = root_fid;
	if (!f.rec.baseline_ts)
		f.rec.baseline_ts = now;
	if (f.rec.gap_from) {
		ng = realloc(f.rec.gaps, (f.rec.ngaps + 1) * sizeof(*ng));
		if (!ng) {
			ret = -ENOMEM;
			goto out;
		}
		f.rec.gaps = ng;
		ng[f.rec.ngaps].from_ts_ns = f.rec.gap_from;
		ng[f.rec.ngaps].to_ts_ns = now;
		f.rec.ngaps++;
		f.rec.gap_from = 0;
	}
	ret = root_put(s, j->h->id, &f.rec);
out:
	cdp_root_rec_release(&f.rec);
	pthread_mutex_unlock(&s->meta_lock);
	if (ret == 0)
		ret = cdp_writer_flush(s);   /* complete_through past the baseline */
	return ret;
}

int cdp_journal_root_end(struct cdp_journal *j, uint32_t root_id)
{
	struct cdp_store *s = j->s;
	struct root_find f = { .id = root_id };
	int ret, fret;

	fret = cdp_writer_flush(s);
	pthread_mutex_lock(&s->meta_lock);
	ret = cdp_store_for_each_root(s, j->h->id, root_find_fn, &f);
	if (ret == 0 && !f.found)
		ret = -ENOENT;
	if (ret == 0) {
		int64_t since;

		/* a degraded session's gap outlives this process: keep its start */
		if (cdp_journal_degraded(j, &since) &&
		    (!f.rec.gap_from || since < f.rec.gap_from))
			f.rec.gap_from = since;
		f.rec.active = 0;
		f.rec.pid = 0;
		f.rec.session_end = host_now(j);
		ret = root_put(s, j->h->id, &f.rec);
	}
	cdp_root_rec_release(&f.rec);
	pthread_mutex_unlock(&s->meta_lock);
	return ret < 0 ? ret : fret;
}
