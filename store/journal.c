/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.c - the writing side of the store: journals (one per host), the
 * operations capture builds, the bounded queue, and the writer thread that
 * makes them durable in groups.  This file opens and closes journals
 * (registering the host), answers sync, stats and degraded, and keeps the
 * in-memory inode map overlay that cdp_journal_imap_get reads before the
 * index.  The module's other files: journal_op.c (building and committing
 * ops), journal_writer.c (the writer thread, group commit, disk-full
 * handling), journal_roots.c (root records and capture sessions);
 * journal_int.h is what they share.
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

/* ------------------------------------------------------ imap overlay */

static size_t imap_bucket(uint32_t host, uint32_t root, uint64_t ino)
{
	uint64_t h = ino * 0x9E3779B97F4A7C15ull ^ ((uint64_t)host << 32 | root);

	return (size_t)(h >> 20) % IMAP_BUCKETS;
}

struct imap_entry **cdp_journal_imap_find(struct cdp_writer *w, uint32_t host, uint32_t root,
					  uint64_t ino)
{
	struct imap_entry **pp = &w->imap[imap_bucket(host, root, ino)];

	while (*pp && ((*pp)->host != host || (*pp)->root != root || (*pp)->ino != ino))
		pp = &(*pp)->next;
	return pp;
}

/* Called with qlock held. */
void cdp_journal_imap_set(struct cdp_writer *w, uint32_t host, const struct op_rec *r,
			  uint64_t ticket)
{
	struct imap_entry **pp = cdp_journal_imap_find(w, host, r->u, r->a), *e;

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
void cdp_journal_imap_prune(struct cdp_writer *w, uint64_t done)
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

/* ----------------------------------------------------------- journals */

int cdp_host_name_ok(const char *host)
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

int cdp_store_host_register(struct cdp_store *s, const char *host, uint32_t *id)
{
	struct cdp_key k;
	uint8_t v[4];
	char *val;
	size_t len;
	uint32_t next = 1;
	struct cdp_ibatch b;
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
	ret = cdp_ibatch_init(&b);
	if (ret < 0)
		return ret;
	put_u32be(v, next + 1);
	cdp_ibatch_put(&b, s, CF_META, &k, v, 4);
	cdp_key_host_name(&k, host);
	put_u32be(v, next);
	cdp_ibatch_put(&b, s, CF_META, &k, v, 4);
	cdp_key_host_meta(&k, next, HM_NAME, 0, 0);
	cdp_ibatch_put(&b, s, CF_META, &k, host, strlen(host));
	ret = cdp_index_commit(s, &b);
	cdp_ibatch_release(&b);
	return ret;
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
	if (!cdp_host_name_ok(host))
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&s->meta_lock);
	ret = cdp_store_host_register(s, host, &id);
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
	return cdp_writer_flush_start(j->s, ticket);
}

int cdp_journal_sync_wait(struct cdp_journal *j, uint64_t ticket)
{
	return cdp_writer_flush_wait(j->s, ticket);
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

/* p50 and p99 (upper bounds of power-of-two buckets, us) of a histogram. */
static void lag_quantiles(const uint64_t *hist, const uint64_t *hist2, uint64_t *p50,
			  uint64_t *p99)
{
	uint64_t total = 0, acc = 0, c;
	int b;

	*p50 = *p99 = 0;
	for (b = 0; b < LAG_BUCKETS; b++)
		total += hist[b] + (hist2 ? hist2[b] : 0);
	for (b = 0; b < LAG_BUCKETS && total; b++) {
		c = hist[b] + (hist2 ? hist2[b] : 0);
		acc += c;
		if (!*p50 && acc * 2 >= total)
			*p50 = 1ull << b;
		if (acc * 100 >= total * 99) {
			*p99 = 1ull << b;
			break;
		}
	}
}

void cdp_journal_stats(struct cdp_journal *j, struct cdp_journal_stats *st)
{
	struct cdp_writer *w = j->s->w;
	int64_t age;

	pthread_mutex_lock(&w->qlock);
	*st = w->st;
	st->queue_bytes = w->queue_bytes;
	lag_quantiles(w->lag_hist, NULL, &st->lag_p50_us, &st->lag_p99_us);
	/* windows older than two minutes hold nothing of the last minute */
	age = mono_ns() - w->lag_win_start;
	if (age < 120000000000LL)
		lag_quantiles(w->lag_win[0], w->lag_win[1], &st->lag_1m_p50_us,
			      &st->lag_1m_p99_us);
	st->degraded = w->degraded;
	st->degraded_since_ts_ns = w->degraded ? w->degraded_since : 0;
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
	e = *cdp_journal_imap_find(w, j->h->id, root_id, ino);
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
