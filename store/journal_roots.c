/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_roots.c - root directories of a journal (cdp_journal_root_begin, _ready,
 * _end): the root records in the default column family, their capture
 * sessions and the gaps between them (a dead process's session, a
 * degraded journal), read-modify-written under the store's meta_lock.
 */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "journal_int.h"

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
	struct cdp_ibatch b;
	struct cdp_key k;
	uint8_t *v;
	size_t len;
	int ret;

	ret = cdp_root_rec_encode(r, &v, &len);
	if (ret < 0)
		return ret;
	cdp_key_host_meta(&k, host, HM_ROOT, 1, r->root_id);
	ret = cdp_ibatch_init(&b);
	if (ret == 0) {
		cdp_ibatch_put(&b, s, CF_META, &k, v, len);
		ret = cdp_index_commit(s, &b);
		cdp_ibatch_release(&b);
	}
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

/* Adds (live 1) or removes root_id from the roots whose heartbeat the
 * writer moves. */
static int live_root_set(struct cdp_journal *j, uint32_t root_id, int live)
{
	struct cdp_writer *w = j->s->w;
	struct cdp_host_state *h = j->h;
	uint32_t *nl;
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&w->qlock);
	for (i = 0; i < h->nlive_roots && h->live_roots[i] != root_id; i++)
		;
	if (live && i == h->nlive_roots) {
		nl = realloc(h->live_roots, (h->nlive_roots + 1) * sizeof(*nl));
		if (nl) {
			h->live_roots = nl;
			h->live_roots[h->nlive_roots++] = root_id;
		} else {
			ret = -ENOMEM;
		}
	} else if (!live && i < h->nlive_roots) {
		h->live_roots[i] = h->live_roots[--h->nlive_roots];
	}
	pthread_mutex_unlock(&w->qlock);
	return ret;
}

int cdp_journal_root_begin(struct cdp_journal *j, const char *abs_path, uint32_t *root_id,
			   int *resuming)
{
	struct cdp_store *s = j->s;
	struct cdp_writer *w = s->w;
	struct root_find f = { .path = abs_path };
	int64_t last_ts, alive, since = 0;
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
		if (f.rec.active && !f.rec.gap_from) {
			/* crashed session: it ends at the last instant it is known
			 * to have captured: its heartbeat (HM_ALIVE), else the
			 * host's last journaled op, else its start */
			ret = cdp_store_host_meta_i64(s, j->h->id, HM_LATEST, 1, &last_ts);
			if (ret < 0)
				goto out;
			ret = cdp_store_root_alive(s, j->h->id, f.rec.root_id, &alive);
			if (ret < 0)
				goto out;
			f.rec.gap_from = f.rec.session_start;
			if (last_ts > f.rec.gap_from)
				f.rec.gap_from = last_ts;
			if (alive > f.rec.gap_from)
				f.rec.gap_from = alive;
		} else if (f.rec.active) {
			/* crashed while a gap was still open (a resync): it goes on */
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
	if (ret == 0)
		ret = live_root_set(j, root_id, 1);
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
	live_root_set(j, root_id, 0);
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

int cdp_journal_root_alive(struct cdp_journal *j, uint32_t root_id, int64_t *alive_ts_ns)
{
	return cdp_store_root_alive(j->s, j->h->id, root_id, alive_ts_ns);
}

/* ------------------------------------------------- late observations */

/*
 * Late observation record, key 'H' host u32 'L' root_id u32, journaled ts
 * u64, tie u32 (so records of one root sort oldest first); value 'L',
 * from i64, to i64, journaled i64, pid u32, comm 16 bytes (NUL-padded),
 * path length u16, path bytes (relative to the root).
 */
#define LATE_FIXED_BYTES (1 + 8 + 8 + 8 + 4 + 16 + 2)

int cdp_journal_late_add(struct cdp_journal *j, uint32_t root_id, const struct cdp_late *l)
{
	static atomic_uint tie;
	struct cdp_store *s = j->s;
	struct cdp_ibatch b;
	struct cdp_key k;
	uint8_t *v;
	size_t plen = l->path ? strlen(l->path) : 0;
	int64_t jts = l->journaled_ts_ns ? l->journaled_ts_ns : host_now(j);
	int ret;

	if (plen > 4095)
		plen = 4095;
	v = calloc(1, LATE_FIXED_BYTES + plen);
	if (!v)
		return -ENOMEM;
	v[0] = VAL_LATE;
	put_u64be(v + 1, (uint64_t)l->from_ts_ns);
	put_u64be(v + 9, (uint64_t)l->to_ts_ns);
	put_u64be(v + 17, (uint64_t)jts);
	put_u32be(v + 25, l->pid);
	memcpy(v + 29, l->comm, strnlen(l->comm, sizeof(l->comm) - 1));
	v[45] = (uint8_t)(plen >> 8);
	v[46] = (uint8_t)plen;
	memcpy(v + LATE_FIXED_BYTES, l->path, plen);
	cdp_key_host_meta(&k, j->h->id, HM_LATE, 1, root_id);
	put_u64be(k.b + k.len, (uint64_t)jts);
	put_u32be(k.b + k.len + 8, atomic_fetch_add(&tie, 1));
	k.len += 12;
	ret = cdp_ibatch_init(&b);
	if (ret == 0) {
		cdp_ibatch_put(&b, s, CF_META, &k, v, LATE_FIXED_BYTES + plen);
		ret = cdp_index_commit(s, &b);
		cdp_ibatch_release(&b);
	}
	free(v);
	return ret;
}

int cdp_store_late_list(struct cdp_store *s, uint32_t host_id, uint32_t root_id,
			int64_t since_ts_ns, cdp_late_fn fn, void *arg)
{
	struct cdp_key k, start;
	rocksdb_iterator_t *it;
	const char *key;
	const uint8_t *val;
	char path[4096];
	struct cdp_late l;
	size_t klen, vlen, plen;
	int ret = 0;

	cdp_key_host_meta(&k, host_id, HM_LATE, 1, root_id);
	start = k;
	put_u64be(start.b + start.len, since_ts_ns > 0 ? (uint64_t)since_ts_ns : 0);
	start.len += 8;
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_META]);
	for (rocksdb_iter_seek(it, (const char *)start.b, start.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != k.len + 12 || memcmp(key, k.b, k.len) != 0)
			break;
		val = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		if (vlen < LATE_FIXED_BYTES || val[0] != VAL_LATE ||
		    (plen = (size_t)val[45] << 8 | val[46]) != vlen - LATE_FIXED_BYTES ||
		    plen >= sizeof(path)) {
			cdp_log(LOG_ERR, "store '%s': damaged late observation record of host %u "
				"root %u", s->path, host_id, root_id);
			ret = -CDP_ECORRUPT;
			break;
		}
		memset(&l, 0, sizeof(l));
		l.from_ts_ns = (int64_t)get_u64be(val + 1);
		l.to_ts_ns = (int64_t)get_u64be(val + 9);
		l.journaled_ts_ns = (int64_t)get_u64be(val + 17);
		l.pid = get_u32be(val + 25);
		memcpy(l.comm, val + 29, sizeof(l.comm) - 1);
		memcpy(path, val + LATE_FIXED_BYTES, plen);
		path[plen] = '\0';
		l.path = path;
		ret = fn(arg, &l);
		if (ret)
			break;
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'default' of '%s', late "
					    "observations of host %u", s->path, host_id);
	rocksdb_iter_destroy(it);
	return ret;
}
