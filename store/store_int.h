/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store_int.h - internals of libcdpstore shared by its .c files: all of
 * store_test.h (byte layouts and codecs, the chunk log, the system call
 * table), and what needs RocksDB or is no test's business: column
 * families, host meta keys, the decompressed block cache, the structure
 * behind struct cdp_store, its meta helpers, the writer thread and the
 * work pool.  Nothing outside store/ includes this file: tests, fuzzers
 * and benchmarks include store_test.h, which says what they are.
 */
#ifndef CDP_STORE_INT_H
#define CDP_STORE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <rocksdb/c.h>

#include "store.h"
#include "store_test.h"

#define CDP_FORMAT_LINE "cdpfs store format 1"
#define CDP_DEFAULT_BLOCK_SIZE 8192u

/* ------------------------------------- column families, host meta */

enum cdp_cf {
	CF_META, CF_CHUNK, CF_INODE, CF_DIRENT, CF_BLOCK, CF_XATTR, CF_TIME, CF_IMAP,
	CF_COUNT
};
extern const char *const cdp_cf_names[CF_COUNT];

/* Per-host meta sub-keys. */
enum {
	HM_NAME = 'n',     /* host name */
	HM_LATEST = 'q',   /* u64 last committed seq, i64 its ts */
	HM_NEXT_FID = 'f', /* u64 */
	HM_COMPLETE = 'c', /* i64 complete_through_ts */
	HM_ROOT = 'r',     /* + u32 root id: root record */
	HM_NEXT_ROOT = 'R',/* u32 */
};

/* --------------------------------------------------- block cache */

struct cdp_cache;
int cdp_cache_new(size_t capacity_bytes, struct cdp_cache **out);
void cdp_cache_free(struct cdp_cache *c);
/* Copies the block into out when present; returns 1 on a hit, 0 on a miss. */
int cdp_cache_get(struct cdp_cache *c, const uint8_t sha[CDP_HASH_BYTES], void *out, size_t len);
void cdp_cache_put(struct cdp_cache *c, const uint8_t sha[CDP_HASH_BYTES], const void *data,
		   size_t len);

/* ------------------------------------------------------- the store */

struct cdp_writer;      /* journal_int.h */

/* One host's writing state, owned by the store, shared by its journals. */
struct cdp_host_state {
	uint32_t id;
	char *name;
	/* protected by store->qlock */
	uint64_t last_seq;        /* last seq handed out */
	int64_t last_ts;          /* its instant */
	uint64_t next_fid;
	uint64_t committed_seq;   /* protected by writer thread only */
	int64_t committed_ts;
	int64_t complete_through;
	struct cdp_host_state *next;
};

struct cdp_store {
	char *path;
	unsigned flags;
	int writer;                 /* WRITE mode */
	int lock_fd;                /* FORMAT, OFD write lock held by a writer */
	uint32_t block_size;
	struct cdp_store_options opts;

	rocksdb_t *db;
	rocksdb_options_t *dbopts;
	rocksdb_block_based_table_options_t *bbopts;
	rocksdb_column_family_handle_t *cf[CF_COUNT];
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wopts_sync;
	char *secondary_dir;        /* readers: private, removed on close */

	struct cdp_chunklog *chunks;
	struct cdp_cache *cache;

	pthread_mutex_t meta_lock;  /* host/root meta read-modify-write */
	struct cdp_writer *w;       /* writer thread state, NULL for readers */
};

/* Meta helpers (store.c).  Values are heap (free()), NULL when absent. */
int cdp_store_get(struct cdp_store *s, int cf, const struct cdp_key *k, char **val, size_t *len);
int cdp_store_put_sync(struct cdp_store *s, int cf, const struct cdp_key *k,
		       const void *val, size_t len);
int cdp_store_host_lookup(struct cdp_store *s, const char *host, uint32_t *id);
int cdp_store_host_first_ts(struct cdp_store *s, uint32_t host, int64_t *first_ts);
int cdp_store_host_meta_i64(struct cdp_store *s, uint32_t host, char sub, size_t idx, int64_t *v);
int cdp_store_writer_locked(struct cdp_store *s);
typedef int (*root_fn)(void *arg, struct root_rec *r);
int cdp_store_for_each_root(struct cdp_store *s, uint32_t host, root_fn fn, void *arg);
int cdp_rocks_err(char *err, int fallback);

/* journal_writer.c: the writer thread, started and stopped by store.c */
int cdp_writer_start(struct cdp_store *s);
void cdp_writer_stop(struct cdp_store *s);
/* Makes every queued op durable, and the complete_through marker of every
 * open host at least the instant of the call. */
int cdp_writer_flush(struct cdp_store *s);

/* workpool.c: threads that run fn(arg, i, thread) for every i < n in
 * parallel, the caller taking part as thread 0; cdp_work_pool_run returns once
 * all are done.  One run at a time.  nthreads 1 (or a failed thread start)
 * runs everything in the caller.  cdp_work_pool_free(NULL) does nothing. */
struct work_pool;
typedef void work_fn(void *arg, size_t i, unsigned thread);
unsigned cdp_work_pool_default_threads(void);   /* online CPUs, at most 4 */
int cdp_work_pool_new(unsigned nthreads, struct work_pool **out);
void cdp_work_pool_free(struct work_pool *p);
unsigned cdp_work_pool_threads(const struct work_pool *p);   /* threads incl. caller */
void cdp_work_pool_run(struct work_pool *p, size_t n, work_fn *fn, void *arg);

/* view.c: reads one block's data (block_size bytes) or zeros. */
int cdp_view_read_chunk(struct cdp_store *s, const uint8_t sha[CDP_HASH_BYTES], void *out);

#endif /* CDP_STORE_INT_H */
