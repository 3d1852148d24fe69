/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * activity.c - the activity summary the writer keeps as it journals
 * (cdp_activity_op, cdp_activity_put: the writer's side) and its reading
 * (cdp_activity_read, query.h): per host, per second, per minute and per
 * hour, the count of operations, the bytes of data blocks written, and the
 * entries created, deleted and renamed, and the files cut to zero
 * (overwritten whole), so a timeline of a day or a month reads a few
 * thousand records, whatever the number of operations.
 *
 * Records (default column family; docs/format.md "Activity summary"):
 *   key   'H', host u32, level byte ('T' second, 'U' minute, 'W' hour),
 *         u64 the interval's start in seconds since the epoch
 *   or    'H', host u32, level byte ('t', 'u', 'w'), u32 root, u64 start:
 *         the same for the ops of one protected directory (those that name
 *         their root, cdp_op_set_root(); kept beside the host's)
 *   value 'V', u8 version 2, then u64 ops, bytes, created, deleted,
 *         renamed, truncated, score (58 bytes); version 1 (before
 *         2026-12-02 15:00) stops after truncated (50 bytes) and reads with a
 *         score of 0
 * The score is suspect.c's (it adds to the open intervals as it scores an
 * op, right after cdp_activity_op counted it).
 * A record holds the whole interval's counts: the writer keeps the current
 * interval of each level in memory (struct cdp_host_state), adds each op
 * to it, and puts the running totals into every group's index batch (so a
 * replay of the log rebuilds them exactly).  An interval the writer meets
 * first in a session starts from the record already in the index, so a
 * restart within a second does not lose the first session's counts.
 *
 * What an op counts as comes from its records: an entry added and none
 * removed is a create (or a link), removed and none added a delete, both a
 * rename; a zero range from block 0 to the end is a truncate to zero.
 * Records are written only for intervals with operations.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal_int.h"
#include "query.h"

static const char level_tag[CDP_ACT_LEVELS] = { 'T', 'U', 'W' };
static const char root_level_tag[CDP_ACT_LEVELS] = { 't', 'u', 'w' };

/* A protected directory's open intervals (the host's own are in struct
 * cdp_host_state); writer thread only. */
struct cdp_act_root {
	uint32_t root;
	int64_t start[CDP_ACT_LEVELS];
	uint64_t c[CDP_ACT_LEVELS][CDP_ACT_COUNTERS];
	int open[CDP_ACT_LEVELS], dirty[CDP_ACT_LEVELS];
	struct cdp_act_root *next;
};
static const int64_t level_secs[CDP_ACT_LEVELS] = { 1, 60, 3600 };

#define ACT_VALUE_BYTES (2 + 8 * CDP_ACT_COUNTERS)
#define ACT_V1_COUNTERS 6

/* store_int.h sizes the writer's counters without this header */
_Static_assert(sizeof(((struct cdp_host_state *)0)->act) ==
	       CDP_ACT_LEVELS * CDP_ACT_COUNTERS * sizeof(uint64_t),
	       "struct cdp_host_state's activity counters match query.h");

/* The key of an interval: the host's (root 0) or a root's. */
static void act_key(struct cdp_key *k, uint32_t host, uint32_t root, int level,
		    uint64_t start_s)
{
	k->b[0] = 'H';
	put_u32be(k->b + 1, host);
	k->b[5] = (uint8_t)(root ? root_level_tag[level] : level_tag[level]);
	if (root) {
		put_u32be(k->b + 6, root);
		put_u64be(k->b + 10, start_s);
		k->len = 18;
	} else {
		put_u64be(k->b + 6, start_s);
		k->len = 14;
	}
}

static int act_decode(const char *val, size_t len, uint64_t c[CDP_ACT_COUNTERS])
{
	const uint8_t *p = (const uint8_t *)val;
	int i;

	if (len >= 2 && p[0] == 'V' && p[1] != 1 && p[1] != 2)
		return 1;   /* another version: not ours to read */
	if (len < 2 || p[0] != 'V' ||
	    len != (p[1] == 1 ? 2 + 8 * ACT_V1_COUNTERS : ACT_VALUE_BYTES))
		return -CDP_ECORRUPT;
	for (i = 0; i < CDP_ACT_COUNTERS; i++)
		c[i] = 2 + 8 * (size_t)i < len ? get_u64be(p + 2 + 8 * i) : 0;
	return 0;
}

static void put_level(struct cdp_store *s, struct cdp_ibatch *b, uint32_t host, uint32_t root,
		      int level, int64_t start, const uint64_t c[CDP_ACT_COUNTERS])
{
	struct cdp_key k;
	uint8_t v[ACT_VALUE_BYTES];
	int i;

	act_key(&k, host, root, level, (uint64_t)start);
	v[0] = 'V';
	v[1] = 2;
	for (i = 0; i < CDP_ACT_COUNTERS; i++)
		put_u64be(v + 2 + 8 * i, c[i]);
	cdp_ibatch_put(b, s, CF_META, &k, v, sizeof(v));
}

/* Adds add to the open interval of each level of (host, root) holding sec,
 * rolling to a new interval (which may have a record from an earlier
 * session) when sec left it. */
static void act_add(struct cdp_store *s, struct cdp_ibatch *b, uint32_t host, uint32_t root,
		    int64_t start_of[CDP_ACT_LEVELS], uint64_t c[CDP_ACT_LEVELS][CDP_ACT_COUNTERS],
		    int open[CDP_ACT_LEVELS], int dirty[CDP_ACT_LEVELS], int64_t sec,
		    const uint64_t add[CDP_ACT_COUNTERS])
{
	int level, i;

	for (level = 0; level < CDP_ACT_LEVELS; level++) {
		int64_t start = sec - sec % level_secs[level];

		if (!open[level] || start != start_of[level]) {
			struct cdp_key k;
			char *val = NULL;
			size_t len;

			/* the interval before is whole: its last totals are in a
			 * batch already; this one may have a record from an
			 * earlier session */
			if (open[level] && dirty[level])
				put_level(s, b, host, root, level, start_of[level], c[level]);
			memset(c[level], 0, sizeof(c[level]));
			act_key(&k, host, root, level, (uint64_t)start);
			if (cdp_store_get(s, CF_META, &k, &val, &len) == 0 && val &&
			    act_decode(val, len, c[level]) != 0)
				memset(c[level], 0, sizeof(c[level]));
			free(val);
			start_of[level] = start;
			open[level] = 1;
		}
		for (i = 0; i < CDP_ACT_COUNTERS; i++)
			c[level][i] += add[i];
		dirty[level] = 1;
	}
}

static struct cdp_act_root *root_state(struct cdp_host_state *h, uint32_t root)
{
	struct cdp_act_root *r;

	for (r = h->act_roots; r && r->root != root; r = r->next)
		;
	if (!r && (r = calloc(1, sizeof(*r)))) {
		r->root = root;
		r->next = h->act_roots;
		h->act_roots = r;
	}
	return r;
}

void cdp_activity_score(struct cdp_host_state *h, uint32_t root)
{
	struct cdp_act_root *r = NULL;
	int level;

	if (root)
		for (r = h->act_roots; r && r->root != root; r = r->next)
			;
	for (level = 0; level < CDP_ACT_LEVELS; level++) {
		if (h->act_open[level]) {
			h->act[level][CDP_ACT_SCORE]++;
			h->act_dirty[level] = 1;
		}
		if (r && r->open[level]) {
			r->c[level][CDP_ACT_SCORE]++;
			r->dirty[level] = 1;
		}
	}
}

void cdp_activity_free(struct cdp_host_state *h)
{
	while (h->act_roots) {
		struct cdp_act_root *next = h->act_roots->next;

		free(h->act_roots);
		h->act_roots = next;
	}
}

void cdp_activity_op(struct cdp_store *s, struct cdp_ibatch *b, struct cdp_host_state *h,
		     const struct cdp_op *op)
{
	uint64_t add[CDP_ACT_COUNTERS] = { 1 };
	int64_t sec = op->ts / 1000000000;
	struct cdp_act_root *ar;
	int added = 0, removed = 0;
	size_t r;

	for (r = 0; r < op->n; r++) {
		const struct op_rec *rec = &op->recs[r];

		if (rec->type == R_DATA || rec->type == R_ZERODATA)
			add[CDP_ACT_BYTES] += rec->u;
		else if (rec->type == R_DIRENT)
			*(rec->del ? &removed : &added) += 1;
		else if (rec->type == R_ZERORANGE && rec->a == 0 && rec->b == UINT64_MAX)
			add[CDP_ACT_TRUNCATED]++;
	}
	if (added && removed)
		add[CDP_ACT_RENAMED]++;
	else if (added)
		add[CDP_ACT_CREATED] += (uint64_t)added;
	else if (removed)
		add[CDP_ACT_DELETED] += (uint64_t)removed;
	act_add(s, b, h->id, 0, h->act_start, h->act, h->act_open, h->act_dirty, sec, add);
	if (op->root && (ar = root_state(h, op->root)))
		act_add(s, b, h->id, ar->root, ar->start, ar->c, ar->open, ar->dirty, sec, add);
}

void cdp_activity_put(struct cdp_store *s, struct cdp_ibatch *b, struct cdp_host_state *h)
{
	struct cdp_act_root *r;
	int level;

	for (level = 0; level < CDP_ACT_LEVELS; level++)
		if (h->act_open[level] && h->act_dirty[level]) {
			put_level(s, b, h->id, 0, level, h->act_start[level], h->act[level]);
			h->act_dirty[level] = 0;
		}
	for (r = h->act_roots; r; r = r->next)
		for (level = 0; level < CDP_ACT_LEVELS; level++)
			if (r->open[level] && r->dirty[level]) {
				put_level(s, b, h->id, r->root, level, r->start[level], r->c[level]);
				r->dirty[level] = 0;
			}
}

int cdp_activity_read(struct cdp_store *s, const char *host, uint32_t root_id, int64_t since_ns,
		      int64_t until_ns, int64_t per_s, cdp_activity_fn fn, void *arg)
{
	rocksdb_iterator_t *it;
	struct cdp_activity a;
	struct cdp_view *wait = NULL;
	struct cdp_key k, end;
	const char *key, *val;
	size_t klen, vlen;
	uint64_t c[CDP_ACT_COUNTERS];
	int64_t from_s, to_s, start, bucket = INT64_MIN;
	uint32_t id;
	int level = 0, ret, i, have = 0;

	if (per_s < 1)
		return -EINVAL;
	/* a view of until waits until every op that returned before it is
	 * in the index (complete_through), as a mount would */
	ret = cdp_view_open(s, host, until_ns, &wait);
	cdp_view_free(wait);
	if (ret == -CDP_EBEFORE || ret == -CDP_EFUTURE)
		ret = cdp_store_refresh(s);
	if (ret == 0)
		ret = cdp_store_host_lookup(s, host, &id);
	if (ret < 0)
		return ret;
	for (i = CDP_ACT_LEVELS - 1; i >= 0; i--)
		if (per_s % level_secs[i] == 0) {
			level = i;
			break;
		}
	from_s = since_ns < 0 ? 0 : since_ns / 1000000000;
	to_s = until_ns / 1000000000;
	/* the interval of the coarser level that holds since starts before it */
	act_key(&k, id, root_id, level, (uint64_t)(from_s - from_s % level_secs[level]));
	act_key(&end, id, root_id, level, (uint64_t)to_s);
	memset(&a, 0, sizeof(a));
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_META]);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); ret == 0 && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != end.len || memcmp(key, end.b, end.len - 8) != 0 ||
		    memcmp(key, end.b, end.len) > 0)
			break;
		val = rocksdb_iter_value(it, &vlen);
		ret = act_decode(val, vlen, c);
		if (ret < 0)
			break;
		if (ret == 1) {
			ret = 0;
			continue;
		}
		start = (int64_t)get_u64be((const uint8_t *)key + end.len - 8);
		start -= start % per_s;
		if (have && start != bucket) {
			ret = fn(arg, &a);
			memset(&a, 0, sizeof(a));
			have = 0;
		}
		bucket = start;
		a.start_ns = start * 1000000000;
		a.seconds = per_s;
		for (i = 0; i < CDP_ACT_COUNTERS; i++)
			a.c[i] += c[i];
		have = 1;
	}
	if (ret == 0 && have)
		ret = fn(arg, &a);
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'default' of '%s': activity summary "
					    "of host '%s'", s->path, host);
	rocksdb_iter_destroy(it);
	return ret;
}
