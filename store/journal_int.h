/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_int.h - what the files of the journal module share: the op and
 * its records, the writer's state (the queue, its lock, the in-memory
 * inode map overlay, the block pool) and the functions each file offers
 * the others.  journal_op.c builds and commits ops, journal_writer.c is
 * the writer thread, journal.c opens and closes journals and answers the
 * inode map, journal_roots.c keeps the root records.  Only those four
 * include this file.
 */
#ifndef CDP_JOURNAL_INT_H
#define CDP_JOURNAL_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

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
	uint32_t root;     /* cdp_op_set_root(), 0: none named */
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
	/* the flush generation whose group is durable in the log (it may not
	 * be in the index yet): what an fsync waits for */
	uint64_t synced_gen;
	int stop;
	int degraded;
	int64_t degraded_since;
	/* hosts: added at the front under qlock and never removed before
	 * cdp_writer_stop, so a head read under qlock may be walked without it */
	struct cdp_host_state *hosts;
	struct imap_entry *imap[IMAP_BUCKETS];
	struct cdp_journal_stats st;
	uint64_t lag_hist[LAG_BUCKETS];
	/* the same over the last minute or two: [0] this minute, [1] the
	 * previous one; turned over by lag_record */
	uint64_t lag_win[2][LAG_BUCKETS];
	int64_t lag_win_start;        /* mono ns when [0] began */
	int64_t last_commit_mono_ns;
	struct work_pool *pool;   /* writer thread only */
	uint8_t **scratch;        /* a compression buffer per pool thread */
	/* raw block buffers kept for reuse, protected by blocks_lock */
	pthread_mutex_t blocks_lock;
	void **free_blocks;
	size_t nfree_blocks, max_free_blocks;
};

static inline int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* journal_writer.c: the writer's pool of raw block buffers.  block_get
 * gives a block_size buffer (from the pool, else malloc; NULL when out of
 * memory), block_put gives it back (or frees it); w NULL means plain
 * malloc/free.  The writer frees the pool's buffers when it idles. */
void *cdp_writer_block_get(struct cdp_writer *w, uint32_t block_size);
void cdp_writer_block_put(struct cdp_writer *w, void *b);

/* journal_writer.c: cdp_writer_flush() in two halves (see
 * cdp_journal_sync_start): start asks for a group now and gives its
 * generation (0 without a writer), wait returns once it is durable.
 * CDP_ENOSPACE when degraded. */
int cdp_writer_flush_start(struct cdp_store *s, uint64_t *gen);
int cdp_writer_flush_wait(struct cdp_store *s, uint64_t gen);

/* journal.c: the inode map overlay (imap[], protected by qlock: call with
 * it held).  find returns the link to the entry of (host, root, ino) or to
 * the NULL ending its bucket; set records r (an R_IMAP record) for ticket;
 * prune drops what ops up to ticket done made durable. */
struct imap_entry **cdp_journal_imap_find(struct cdp_writer *w, uint32_t host, uint32_t root,
					  uint64_t ino);
void cdp_journal_imap_set(struct cdp_writer *w, uint32_t host, const struct op_rec *r,
			  uint64_t ticket);
void cdp_journal_imap_prune(struct cdp_writer *w, uint64_t done);

/* journal_op.c: frees an op and every record's data (blocks back to the
 * writer's pool).  NULL does nothing. */
void cdp_op_free(struct cdp_op *op);

#endif /* CDP_JOURNAL_INT_H */
