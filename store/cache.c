/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cache.c - the cache of decompressed blocks on the read path, keyed by
 * chunk SHA-256, least recently used out first, bounded in bytes.  One
 * mutex guards it; lookups copy the block out, so no entry is ever handed
 * to a caller while another thread may evict it.
 */
#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

struct cache_entry {
	uint8_t sha[CDP_HASH_BYTES];
	size_t len;
	struct cache_entry *hnext;          /* hash chain */
	struct cache_entry *prev, *next;    /* LRU list, head = newest */
	uint8_t data[];
};

struct cdp_cache {
	pthread_mutex_t lock;
	size_t capacity, used;
	size_t nbuckets;
	struct cache_entry **buckets;   /* protected by lock */
	struct cache_entry *head, *tail;
};

int cdp_cache_new(size_t capacity_bytes, struct cdp_cache **out)
{
	struct cdp_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->capacity = capacity_bytes;
	c->nbuckets = capacity_bytes / 8192 + 64;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void cdp_cache_free(struct cdp_cache *c)
{
	struct cache_entry *e, *n;

	if (!c)
		return;
	for (e = c->head; e; e = n) {
		n = e->next;
		free(e);
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static size_t bucket_of(const struct cdp_cache *c, const uint8_t *sha)
{
	uint64_t h;

	memcpy(&h, sha, sizeof(h));
	return (size_t)(h % c->nbuckets);
}

static void lru_unlink(struct cdp_cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct cdp_cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static struct cache_entry **find(struct cdp_cache *c, const uint8_t *sha)
{
	struct cache_entry **pp = &c->buckets[bucket_of(c, sha)];

	while (*pp && memcmp((*pp)->sha, sha, CDP_HASH_BYTES) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

int cdp_cache_get(struct cdp_cache *c, const uint8_t sha[CDP_HASH_BYTES], void *out, size_t len)
{
	struct cache_entry *e;
	int hit = 0;

	if (!c || c->capacity == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	e = *find(c, sha);
	if (e && e->len == len) {
		memcpy(out, e->data, len);
		lru_unlink(c, e);
		lru_push(c, e);
		hit = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static void evict(struct cdp_cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = find(c, e->sha);

	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->used -= e->len;
	free(e);
}

void cdp_cache_put(struct cdp_cache *c, const uint8_t sha[CDP_HASH_BYTES], const void *data,
		   size_t len)
{
	struct cache_entry *e, **pp;

	if (!c || len > c->capacity)
		return;
	e = malloc(sizeof(*e) + len);
	if (!e)
		return;
	memcpy(e->sha, sha, CDP_HASH_BYTES);
	memcpy(e->data, data, len);
	e->len = len;
	e->prev = e->next = NULL;
	pthread_mutex_lock(&c->lock);
	pp = find(c, sha);
	if (*pp) {
		pthread_mutex_unlock(&c->lock);
		free(e);
		return;
	}
	while (c->used + len > c->capacity && c->tail)
		evict(c, c->tail);
	pp = find(c, sha);
	e->hnext = *pp;
	*pp = e;
	lru_push(c, e);
	c->used += len;
	pthread_mutex_unlock(&c->lock);
}
