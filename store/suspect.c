/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * suspect.c - mass damage caught as it starts (the writer's half:
 * cdp_suspect_op, cdp_suspect_put) and the intervals it recorded
 * (cdp_suspects, query.h).  The writer thread sees every op before it is
 * committed, with what the store learns of its data for free: whether a
 * block's content was found incompressible (stored raw, zstd skipped: what
 * random, encrypted or already compressed bytes look like).
 *
 * Model.  Per host and per second the writer counts
 *   - files overwritten with random data: distinct files, not created in
 *     the last 5 s, receiving an incompressible block where the block's
 *     version before held compressible data (the file was not random
 *     before: an encrypted or compressed file rewritten is not counted, nor
 *     a file written where it had no data: appends, new files, holes);
 *   - renames that change a name's extension ("a.docx" -> "a.docx.locked");
 *   - deletes, and files cut to zero (reported, not scored).
 * A second's score is overwrites + renames to a new extension.  A second
 * is hot when its score reaches `hot` (default 3); a suspect interval opens
 * when the last 5 seconds hold 3 hot seconds, or a score of `burst` (default
 * 30) in all.  It starts at the first scored op of the earliest of those
 * seconds; its last good instant is 1 ns before that op.  It stays open
 * while hot seconds follow within 10 s, and is recorded (and updated) in
 * the index with every group, and logged once when it opens.
 * Blind spots (docs/design.md): an attack slower than `hot` files a second;
 * one that writes encrypted copies as new files and deletes the originals
 * (the shape of gzip); partial encryption that leaves blocks compressible;
 * files whose blocks dedup onto existing content; a first write of an
 * existing file in a session whose earlier blocks were already random;
 * the first 5 s of a session (the baseline or resync journals each file
 * as created, so its overwrites fall in the new-file grace).
 * The figures are kept per protected directory: an op names its root
 * (cdp_op_set_root(); 0, an op that does not, counts with the host's
 * other such ops).  CDPFS_SUSPECT=off in the capture daemon's
 * environment turns detection off; CDPFS_SUSPECT_HOT and
 * CDPFS_SUSPECT_BURST set the thresholds; cdp_journal_suspect_config()
 * (the keys suspect, suspect_hot and suspect_burst of cdpfs.conf(5), for
 * every directory or in a [DIR] section) overrides them for one root or
 * as the host's default.  Intervals of two directories are recorded alike
 * (per host, by their start).
 * Each interval that opens is counted for cdp_journal_suspects_opened(),
 * which the capture daemon polls to raise its "suspect_activity" alert.
 *
 * Record (default column family; docs/format.md "Suspect intervals"):
 *   key   'H', host u32, 'Y', u64 start_ns
 *   value 'V', u8 version 1, i64 start_ns, i64 end_ns, i64 last_good_ns,
 *         u32 max score, u64 overwritten, u64 renamed, u64 deleted,
 *         u64 truncated, u8 n, n x u64 fid (the first files it hit, n <= 16)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "journal_int.h"
#include "query.h"

#define WIN 5            /* seconds of history for the opening rule */
#define STAY_OPEN_S 10
#define TOP_FIDS 16
#define NEW_FILE_NS (5LL * 1000000000LL)
#define SUSPECT_VALUE_MAX (2 + 8 * 3 + 4 + 8 * 4 + 1 + 8 * TOP_FIDS)
#define THRESHOLD_MAX 1000000u

/* a configuration word (cdp_host_state.suspect_cfg, suspect_rootcfg):
 * set, off, hot (bits 0-20), burst (21-41) */
#define SUSPECT_CFG_SET (1ULL << 63)
#define SUSPECT_CFG_OFF (1ULL << 62)
#define SUSPECT_CFG_HOT(c) ((uint32_t)((c) & 0x1fffff))
#define SUSPECT_CFG_BURST(c) ((uint32_t)(((c) >> 21) & 0x1fffff))

struct sec_figures {
	int64_t sec;
	uint32_t score;
	int64_t first_ts;        /* first scored op of the second, 0: none */
};

/* Files met this session: created when (0: before the session), and the
 * second they were last scored in. */
struct fid_seen {
	uint64_t fid;
	int64_t created_ts;
	int64_t scored_sec;
};

struct cdp_suspect {
	uint32_t root;                 /* the directory (0: ops that name none) */
	struct cdp_suspect *next;      /* the host's other directories */
	int off;
	int env_off;                   /* from the environment, before any config */
	uint32_t env_hot, env_burst;
	uint64_t cfg_gen;              /* suspect_cfg_gen applied */
	uint32_t hot, burst;
	struct sec_figures win[WIN];   /* [0] the current second */
	struct fid_seen *seen;         /* open addressing, cap a power of two */
	size_t nseen, seen_cap;
	/* the open interval */
	int open, dirty;
	int64_t start_ns, end_ns, last_hot_sec;
	uint32_t max_score;
	uint64_t overwritten, renamed, deleted, truncated;
	uint64_t top[TOP_FIDS];
	unsigned ntop;
	/* candidate top files of the window before it opens */
	uint64_t pending[TOP_FIDS];
	unsigned npending;
	uint64_t pend_over, pend_ren, pend_del, pend_trunc;
};

static struct fid_seen *seen_get(struct cdp_suspect *x, uint64_t fid, int add)
{
	size_t i;

	if (x->nseen * 2 >= x->seen_cap) {
		size_t cap = x->seen_cap ? x->seen_cap * 2 : 1024, j;
		struct fid_seen *n;

		if (!add)
			goto look;
		n = calloc(cap, sizeof(*n));
		if (!n)
			return NULL;
		for (j = 0; j < x->seen_cap; j++)
			if (x->seen[j].fid) {
				i = (size_t)(x->seen[j].fid * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1);
				while (n[i].fid)
					i = (i + 1) & (cap - 1);
				n[i] = x->seen[j];
			}
		free(x->seen);
		x->seen = n;
		x->seen_cap = cap;
	}
look:
	if (!x->seen_cap)
		return NULL;
	i = (size_t)(fid * 0x9E3779B97F4A7C15ULL >> 20) & (x->seen_cap - 1);
	for (; x->seen[i].fid; i = (i + 1) & (x->seen_cap - 1))
		if (x->seen[i].fid == fid)
			return &x->seen[i];
	if (!add)
		return NULL;
	x->seen[i].fid = fid;
	x->nseen++;
	return &x->seen[i];
}

static uint32_t env_u32(const char *name, uint32_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (!v || !*v)
		return dflt;
	n = strtoul(v, &end, 10);
	return *end || n == 0 || n > THRESHOLD_MAX ? dflt : (uint32_t)n;
}

/* The state of root's ops on host h, made on first use, with the
 * configuration in force (checked against its generation: one atomic
 * load per op, qlock only when it changed). */
static struct cdp_suspect *state_of(struct cdp_store *s, struct cdp_host_state *h,
				    uint32_t root)
{
	struct cdp_suspect *x;
	const char *off;
	uint64_t gen, cfg = 0;
	size_t i;

	for (x = h->suspect; x && x->root != root; x = x->next)
		;
	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x)
			return NULL;
		x->root = root;
		off = getenv("CDPFS_SUSPECT");
		x->off = x->env_off = off && (!strcmp(off, "off") || !strcmp(off, "0"));
		x->hot = x->env_hot = env_u32("CDPFS_SUSPECT_HOT", 3);
		x->burst = x->env_burst = env_u32("CDPFS_SUSPECT_BURST", 30);
		x->next = h->suspect;
		h->suspect = x;
	}
	gen = __atomic_load_n(&h->suspect_cfg_gen, __ATOMIC_ACQUIRE);
	if (gen != x->cfg_gen && s->w) {
		pthread_mutex_lock(&s->w->qlock);
		cfg = h->suspect_cfg;
		for (i = 0; i < h->nsuspect_rootcfg; i++)
			if (h->suspect_rootcfg[i].root == root && root)
				cfg = h->suspect_rootcfg[i].cfg;
		gen = h->suspect_cfg_gen;
		pthread_mutex_unlock(&s->w->qlock);
		x->cfg_gen = gen;
		x->off = cfg ? !!(cfg & SUSPECT_CFG_OFF) : x->env_off;
		x->hot = SUSPECT_CFG_HOT(cfg) ? SUSPECT_CFG_HOT(cfg) : x->env_hot;
		x->burst = SUSPECT_CFG_BURST(cfg) ? SUSPECT_CFG_BURST(cfg) : x->env_burst;
	}
	return x;
}

int cdp_journal_suspect_config(struct cdp_journal *j, uint32_t root_id, int on, uint32_t hot,
			       uint32_t burst)
{
	struct cdp_host_state *h = j->h;
	uint64_t cfg;
	size_t i;
	int ret = 0;

	if ((on != 0 && on != 1) || hot > THRESHOLD_MAX || burst > THRESHOLD_MAX)
		return -EINVAL;
	cfg = SUSPECT_CFG_SET | (on ? 0 : SUSPECT_CFG_OFF) | (uint64_t)hot | (uint64_t)burst << 21;
	pthread_mutex_lock(&j->s->w->qlock);
	if (!root_id) {
		h->suspect_cfg = cfg;
	} else {
		for (i = 0; i < h->nsuspect_rootcfg && h->suspect_rootcfg[i].root != root_id; i++)
			;
		if (i == CDP_SUSPECT_ROOTCFG_MAX) {
			ret = -ENOSPC;
		} else {
			h->suspect_rootcfg[i].root = root_id;
			h->suspect_rootcfg[i].cfg = cfg;
			if (i == h->nsuspect_rootcfg)
				h->nsuspect_rootcfg++;
		}
	}
	if (ret == 0)
		__atomic_add_fetch(&h->suspect_cfg_gen, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&j->s->w->qlock);
	return ret;
}

void cdp_journal_suspects_opened(struct cdp_journal *j, struct cdp_suspect_opened *out)
{
	pthread_mutex_lock(&j->s->w->qlock);
	*out = j->h->suspect_news;
	pthread_mutex_unlock(&j->s->w->qlock);
}

void cdp_suspect_free(struct cdp_suspect *x)
{
	while (x) {
		struct cdp_suspect *next = x->next;

		free(x->seen);
		free(x);
		x = next;
	}
}

static const char *ext_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && dot != name ? dot : "";
}

/* Did block b of fid hold data that was not random before this op (a
 * compressible chunk: a hole, zeros or a block past the end are not
 * overwritten, they are written)? */
static int was_plain(struct cdp_store *s, uint32_t host, uint64_t fid, uint64_t b)
{
	rocksdb_iterator_t *it;
	struct cdp_chunk_loc loc;
	struct cdp_key k;
	const char *key, *val;
	size_t klen, vlen;
	uint8_t sha[CDP_HASH_BYTES];
	char *cv;
	size_t clen;
	int ret, plain = 0;

	cdp_key_block(&k, host, fid, b, UINT64_MAX - 1);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_BLOCK]);
	rocksdb_iter_seek(it, (const char *)k.b, k.len);
	if (rocksdb_iter_valid(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen == k.len && memcmp(key, k.b, 20) == 0) {
			val = rocksdb_iter_value(it, &vlen);
			ret = cdp_block_value_decode(val, vlen, sha, NULL);
			if (ret == 0) {
				memcpy(k.b, sha, CDP_HASH_BYTES);
				k.len = CDP_HASH_BYTES;
				if (cdp_store_get(s, CF_CHUNK, &k, &cv, &clen) == 0 && cv) {
					/* stored raw: it was random already */
					plain = cdp_chunkval_decode(cv, clen, &loc) == 0 &&
						loc.stored_len < loc.raw_len;
					free(cv);
				}
			}
		}
	}
	rocksdb_iter_destroy(it);
	return plain;
}

/* The window's opening rule: 3 hot seconds of the last WIN, or burst. */
static int window_opens(const struct cdp_suspect *x, int64_t now_sec, int64_t *start)
{
	uint32_t sum = 0;
	int hot = 0, i;

	*start = 0;
	for (i = 0; i < WIN; i++) {
		const struct sec_figures *f = &x->win[i];

		if (f->sec <= now_sec - WIN || !f->score)
			continue;
		sum += f->score;
		hot += f->score >= x->hot;
		if (f->first_ts && (!*start || f->first_ts < *start))
			*start = f->first_ts;
	}
	return hot >= 3 || sum >= x->burst;
}

static void add_top(uint64_t *top, unsigned *n, uint64_t fid)
{
	unsigned i;

	for (i = 0; i < *n; i++)
		if (top[i] == fid)
			return;
	if (*n < TOP_FIDS)
		top[(*n)++] = fid;
}

/* One scored event of op at ts on fid (over: an overwrite, else a rename). */
static void score(struct cdp_store *s, struct cdp_host_state *h, struct cdp_suspect *x,
		  int64_t ts, uint64_t fid, int over)
{
	int64_t sec = ts / 1000000000, start;
	char when[64];

	/* the timeline's anomaly column: cdp_activity_op opened the
	 * intervals of this op just before */
	cdp_activity_score(h, x->root);
	if (x->win[0].sec != sec) {
		memmove(&x->win[1], &x->win[0], sizeof(x->win[0]) * (WIN - 1));
		memset(&x->win[0], 0, sizeof(x->win[0]));
		x->win[0].sec = sec;
	}
	x->win[0].score++;
	if (!x->win[0].first_ts)
		x->win[0].first_ts = ts;
	if (x->open) {
		*(over ? &x->overwritten : &x->renamed) += 1;
		add_top(x->top, &x->ntop, fid);
		x->end_ns = ts;
		if (x->win[0].score >= x->hot)
			x->last_hot_sec = sec;
		if (x->win[0].score > x->max_score)
			x->max_score = x->win[0].score;
		x->dirty = 1;
		return;
	}
	*(over ? &x->pend_over : &x->pend_ren) += 1;
	add_top(x->pending, &x->npending, fid);
	if (!window_opens(x, sec, &start))
		return;
	x->open = 1;
	x->dirty = 1;
	x->start_ns = start;
	x->end_ns = ts;
	x->last_hot_sec = sec;
	x->max_score = x->win[0].score;
	x->overwritten = x->pend_over;
	x->renamed = x->pend_ren;
	x->deleted = x->pend_del;
	x->truncated = x->pend_trunc;
	memcpy(x->top, x->pending, sizeof(x->top));
	x->ntop = x->npending;
	if (s->w) {
		uint32_t sum = 0;
		int i;

		for (i = 0; i < WIN; i++)
			if (x->win[i].sec > sec - WIN)
				sum += x->win[i].score;
		pthread_mutex_lock(&s->w->qlock);
		h->suspect_news.count++;
		h->suspect_news.root_id = x->root;
		h->suspect_news.start_ns = start;
		h->suspect_news.last_good_ns = start - 1;
		h->suspect_news.overwritten = x->overwritten;
		h->suspect_news.renamed = x->renamed;
		h->suspect_news.score = sum;
		pthread_mutex_unlock(&s->w->qlock);
	}
	cdp_time_format(start - 1, when, sizeof(when));
	cdp_log(LOG_WARNING, "suspect activity on host '%s' of store '%s' since %s: %llu files "
		"overwritten with random data and %llu renamed to a new extension within %d s "
		"(last good instant %s; 'cdpfs suspects %s')", h->name, s->path, when,
		(unsigned long long)x->overwritten, (unsigned long long)x->renamed, WIN, when,
		h->name);
}

void cdp_suspect_op(struct cdp_store *s, struct cdp_host_state *h, const struct cdp_op *op)
{
	struct cdp_suspect *x = state_of(s, h, op->root);
	const struct op_rec *add = NULL, *del = NULL;
	int64_t sec = op->ts / 1000000000;
	size_t i;

	if (!x || x->off)
		return;
	/* an interval with no hot second for STAY_OPEN_S closes; the window's
	 * candidates age out with it */
	if (x->open && sec - x->last_hot_sec > STAY_OPEN_S)
		x->open = 0;
	if (!x->open && x->win[0].sec && sec - x->win[0].sec >= WIN) {
		x->npending = 0;
		x->pend_over = x->pend_ren = x->pend_del = x->pend_trunc = 0;
	}
	for (i = 0; i < op->n; i++) {
		const struct op_rec *r = &op->recs[i];

		if (r->type == R_DIRENT)
			*(r->del ? &del : &add) = r;
	}
	if (add && !del) {
		struct fid_seen *f = seen_get(x, add->a, 1);

		if (f)
			f->created_ts = op->ts;
	} else if (add && del && strcmp(ext_of(add->name), ext_of(del->name)) != 0) {
		score(s, h, x, op->ts, add->a, 0);
	} else if (del && !add) {
		*(x->open ? &x->deleted : &x->pend_del) += 1;
		x->dirty |= x->open;
	}
	for (i = 0; i < op->n; i++) {
		const struct op_rec *r = &op->recs[i];
		struct fid_seen *f;

		if (r->type == R_ZERORANGE && r->a == 0 && r->b == UINT64_MAX) {
			*(x->open ? &x->truncated : &x->pend_trunc) += 1;
			x->dirty |= x->open;
			continue;
		}
		if (r->type != R_DATA || !r->fresh || r->zstd)
			continue;
		f = seen_get(x, r->fid, 1);
		if (!f || f->scored_sec == sec || (f->created_ts && op->ts - f->created_ts < NEW_FILE_NS))
			continue;
		f->scored_sec = sec;   /* one look per file and second */
		if (was_plain(s, h->id, r->fid, r->a))
			score(s, h, x, op->ts, r->fid, 1);
	}
}

static void put_one(struct cdp_store *s, struct cdp_ibatch *b, struct cdp_host_state *h,
		    struct cdp_suspect *x);

void cdp_suspect_put(struct cdp_store *s, struct cdp_ibatch *b, struct cdp_host_state *h)
{
	struct cdp_suspect *x;

	for (x = h->suspect; x; x = x->next)
		put_one(s, b, h, x);
}

static void put_one(struct cdp_store *s, struct cdp_ibatch *b, struct cdp_host_state *h,
		    struct cdp_suspect *x)
{
	uint8_t v[SUSPECT_VALUE_MAX], *p = v;
	struct cdp_key k;
	unsigned i;

	if (!x->dirty)
		return;
	x->dirty = 0;
	k.b[0] = 'H';
	put_u32be(k.b + 1, h->id);
	k.b[5] = 'Y';
	put_u64be(k.b + 6, (uint64_t)x->start_ns);
	k.len = 14;
	*p++ = 'V';
	*p++ = 1;
	put_u64be(p, (uint64_t)x->start_ns);
	put_u64be(p + 8, (uint64_t)x->end_ns);
	put_u64be(p + 16, (uint64_t)(x->start_ns - 1));
	put_u32be(p + 24, x->max_score);
	put_u64be(p + 28, x->overwritten);
	put_u64be(p + 36, x->renamed);
	put_u64be(p + 44, x->deleted);
	put_u64be(p + 52, x->truncated);
	p[60] = (uint8_t)x->ntop;
	p += 61;
	for (i = 0; i < x->ntop; i++, p += 8)
		put_u64be(p, x->top[i]);
	cdp_ibatch_put(b, s, CF_META, &k, v, (size_t)(p - v));
}

int cdp_suspects(struct cdp_store *s, const char *host, cdp_suspect_fn fn, void *arg)
{
	rocksdb_iterator_t *it;
	struct cdp_suspect_interval si;
	struct cdp_view *wait = NULL;
	struct cdp_key k;
	const char *key;
	const uint8_t *p;
	size_t klen, vlen, i;
	uint32_t id;
	int ret;

	ret = cdp_view_open(s, host, CDP_TS_LATEST, &wait);
	cdp_view_free(wait);
	if (ret == -CDP_EBEFORE)
		ret = 0;
	if (ret == 0)
		ret = cdp_store_host_lookup(s, host, &id);
	if (ret < 0)
		return ret;
	k.b[0] = 'H';
	put_u32be(k.b + 1, id);
	k.b[5] = 'Y';
	k.len = 6;
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_META]);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); ret == 0 && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != 14 || memcmp(key, k.b, 6) != 0)
			break;
		p = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		if (vlen >= 2 && p[0] == 'V' && p[1] != 1)
			continue;   /* another version */
		if (vlen < 63 || p[0] != 'V' || vlen != 63 + 8 * (size_t)p[62] || p[62] > TOP_FIDS) {
			ret = -CDP_ECORRUPT;
			break;
		}
		memset(&si, 0, sizeof(si));
		si.start_ns = (int64_t)get_u64be(p + 2);
		si.end_ns = (int64_t)get_u64be(p + 10);
		si.last_good_ns = (int64_t)get_u64be(p + 18);
		si.max_score = get_u32be(p + 26);
		si.overwritten = get_u64be(p + 30);
		si.renamed = get_u64be(p + 38);
		si.deleted = get_u64be(p + 46);
		si.truncated = get_u64be(p + 54);
		si.nfids = p[62];
		for (i = 0; i < si.nfids; i++)
			si.fids[i] = get_u64be(p + 63 + 8 * i);
		ret = fn(arg, &si);
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'default' of '%s': suspect intervals "
					    "of host '%s'", s->path, host);
	rocksdb_iter_destroy(it);
	return ret;
}
