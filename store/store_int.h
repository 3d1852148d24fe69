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

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <rocksdb/c.h>

#include "store.h"
#include "store_test.h"

#define CDP_FORMAT_LINE "cdpfs store format 2"
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
	HM_ALIVE = 'a',    /* + u32 root id: i64, the root was captured through here */
	HM_PIN = 'p',      /* + u64 seq: i64 ts, i64 created, note bytes (retain.c) */
	HM_FLOOR = 'b',    /* i64 ts, u64 seq: the oldest kept state after a prune */
	HM_PRUNED = 'g',   /* the last prune: i64 now, u8 reason, u32 n, n x (i64, i64) */
	HM_POLICY = 'k',   /* the stored policy: u32 n, n x (i64 age, i64 every) */
	HM_LATE = 'L',     /* + u32 root id, u64 journaled ts, u32 tie: a late observation */
};

/* ------------------------------------------------ the index log */

/* Internal open flag: move the index aside and rebuild it from the log. */
#define CDP_STORE_REBUILD (1u << 8)

/* The index writes of one commit, kept as a RocksDB batch and as the
 * payload of an index record (indexlog.c).  An append that fails (no
 * memory, too large) is remembered in err and returned by the commit. */
struct cdp_ibatch {
	rocksdb_writebatch_t *wb;
	uint8_t *buf;
	size_t len, cap;
	uint32_t count;
	int err;
	/* called once the record is durable in the log, before the index
	 * has it (the writer answers fsyncs there); NULL: nobody waits */
	void (*durable)(void *arg);
	void *durable_arg;
};
int cdp_ibatch_init(struct cdp_ibatch *b);
void cdp_ibatch_release(struct cdp_ibatch *b);
void cdp_ibatch_clear(struct cdp_ibatch *b);
void cdp_ibatch_put(struct cdp_ibatch *b, struct cdp_store *s, int cf, const struct cdp_key *k,
		    const void *val, size_t vlen);
void cdp_ibatch_delete(struct cdp_ibatch *b, struct cdp_store *s, int cf,
		       const struct cdp_key *k);
/* Writer: appends b as one index record, fdatasync()s the segment (and so
 * every chunk appended before it), then applies b to the index with the
 * log position, WAL unsynced; clears b.  Errors: CDP_ENOSPACE (the log's
 * disk is full), other negative errnos; on a log error nothing of b is
 * anywhere; on an index error the record is in the log and is applied
 * before the next commit (or by the next open).  The _locked form is for
 * the holder of s->log_lock (the writer thread during a group). */
int cdp_index_commit(struct cdp_store *s, struct cdp_ibatch *b);
int cdp_index_commit_locked(struct cdp_store *s, struct cdp_ibatch *b);
/* Writer: applies b to the index only (heartbeats); clears b. */
int cdp_index_write_unlogged(struct cdp_store *s, struct cdp_ibatch *b);
/* Decodes an index record's entries into wb (NULL: only checks them). */
int cdp_index_record_decode(struct cdp_store *s, const uint8_t *p, size_t len, uint32_t count,
			    rocksdb_writebatch_t *wb);
/* The index's position in the log: "durable" and "lsn" (zeros: none). */
int cdp_index_position(struct cdp_store *s, uint32_t *seg, uint64_t *off, uint64_t *lsn);
struct cdp_replay_result {
	uint64_t applied;        /* index records applied */
	uint64_t lsn;            /* the newest lsn in the index after it */
	int torn;                /* stopped at a torn tail of the newest segment */
	int damaged;             /* stopped at damage (end says where and why) */
	struct cdp_scan_end end;
};
/* Applies every index record of the log from (seg, off) whose lsn follows
 * lsn, in order, to the index; stops at the end, a torn tail or damage. */
int cdp_index_replay(struct cdp_store *s, uint32_t seg, uint64_t off, uint64_t lsn,
		     struct cdp_replay_result *res);
/* Open time: replays the log past the index's position; a writer cuts a
 * torn tail.  CDP_ECORRUPT (logged, with where and why) when the log is
 * damaged past that position, unless the store is opened to be rebuilt
 * (CDP_STORE_REBUILD): the index then keeps the prefix before the damage
 * and s->replayed says where it stopped. */
int cdp_index_reconcile(struct cdp_store *s);

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
	/* roots a session of this process captures (ready, not ended), whose
	 * HM_ALIVE the writer moves with complete_through; protected by qlock */
	uint32_t *live_roots;
	size_t nlive_roots;
	/* the activity summary's open intervals (activity.c): second, minute,
	 * hour; writer thread only */
	int64_t act_start[3];
	uint64_t act[3][7];
	int act_open[3], act_dirty[3];
	struct cdp_act_root *act_roots;   /* per protected directory, heap */
	struct cdp_suspect *suspect;   /* suspect.c, writer thread only; heap */
	/* cdp_journal_suspect_config(): the host's default and per-root words
	 * (0 none, else suspect.c's SUSPECT_CFG_* bits), protected by the
	 * writer's qlock; suspect_cfg_gen counts changes (atomic: the writer
	 * loads it with each op, takes qlock only when it moved) */
	uint64_t suspect_cfg;
	struct { uint32_t root; uint64_t cfg; } suspect_rootcfg[CDP_SUSPECT_ROOTCFG_MAX];
	size_t nsuspect_rootcfg;
	uint64_t suspect_cfg_gen;
	/* intervals opened in this process, the newest as it opened;
	 * protected by the writer's qlock */
	struct cdp_suspect_opened suspect_news;
	struct cdp_host_state *next;
};

struct cdp_store {
	char *path;
	unsigned flags;
	int writer;                 /* WRITE mode */
	int format;                 /* 1 (read only) or CDP_FORMAT_VERSION */
	int lock_fd;                /* FORMAT, OFD write lock held by a writer */
	uint32_t block_size;
	struct cdp_store_options opts;

	rocksdb_t *db;
	rocksdb_options_t *dbopts;
	rocksdb_block_based_table_options_t *bbopts;
	rocksdb_column_family_handle_t *cf[CF_COUNT];
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wopts_sync;
	rocksdb_writeoptions_t *wopts_nosync;
	char *secondary_dir;        /* readers: private, removed on close */

	struct cdp_chunklog *chunks;
	struct cdp_cache *cache;
	/* the log's writing end: one index record at a time (indexlog.c) */
	pthread_mutex_t log_lock;
	uint64_t lsn;                        /* the newest index record's lsn */
	struct cdp_replay_result replayed;   /* what the open's reconcile did */
	char aside[PATH_MAX];                /* rebuild: where the old index went */
	rocksdb_writebatch_t *unapplied;     /* logged, refused by the index */

	pthread_mutex_t meta_lock;  /* host/root meta read-modify-write */
	pthread_mutex_t retain_lock;   /* one prune or gc at a time (retain.c) */
	/* while a gc runs: every chunk a group references (new or deduplicated
	 * onto), so that the gc never removes it; protected by log_lock */
	struct cdp_shaset *gc_touched;
	/* the progress callback of the prune or gc under way (retain.h
	 * cdp_retain_progress_fn) and when it was last called; protected by
	 * retain_lock */
	void (*retain_progress)(void *arg, const char *phase, uint64_t done, uint64_t total);
	void *retain_progress_arg;
	int64_t retain_progress_ns;
	struct cdp_writer *w;       /* writer thread state, NULL for readers */
};

/* Meta helpers (store.c).  Values are heap (free()), NULL when absent. */
int cdp_store_get(struct cdp_store *s, int cf, const struct cdp_key *k, char **val, size_t *len);
/* The index record of chunk sha (CF_CHUNK): 1, decoded into *loc unless
 * loc is NULL (then only whether there is one), 0 when the index has none,
 * -CDP_ECORRUPT when the record does not decode, or cdp_store_get()'s
 * error (logged). */
int cdp_chunk_lookup(struct cdp_store *s, const uint8_t sha[CDP_HASH_BYTES],
		     struct cdp_chunk_loc *loc);
/* A meta value of exactly len bytes into out: 1, 0 when absent,
 * CDP_ECORRUPT for another length, or the read's error. */
int cdp_store_get_fixed(struct cdp_store *s, const struct cdp_key *k, void *out, size_t len);
/* A root's heartbeat (HM_ALIVE): the instant it was last known captured
 * through, 0 when none. */
int cdp_store_root_alive(struct cdp_store *s, uint32_t host, uint32_t root_id, int64_t *alive);
int cdp_store_host_lookup(struct cdp_store *s, const char *host, uint32_t *id);
/* journal.c: 1 when host is a valid host name (docs/format.md limits).
 * Registering a host (found, or given the next id, in one logged commit);
 * call with meta_lock held. */
int cdp_host_name_ok(const char *host);
int cdp_store_host_register(struct cdp_store *s, const char *host, uint32_t *id);
int cdp_store_host_first_ts(struct cdp_store *s, uint32_t host, int64_t *first_ts);
int cdp_store_host_meta_i64(struct cdp_store *s, uint32_t host, char sub, size_t idx, int64_t *v);
int cdp_store_writer_locked(struct cdp_store *s);
typedef int (*root_fn)(void *arg, struct root_rec *r);
int cdp_store_for_each_root(struct cdp_store *s, uint32_t host, root_fn fn, void *arg);
/* Maps a RocksDB error message to a cdp code and frees it (0 when NULL);
 * keeps it as this thread's cdp_store_last_error(). */
int cdp_rocks_err(char *err, int fallback);
void cdp_store_clear_last_error(void);
/* An iterator that stops on an error looks like the end of the data: every
 * loop and seek ends with this.  0 when the iterator has no error; else
 * logs "unreadable index: WHAT: REASON" (WHAT from fmt: the column family
 * and what the read was for) and returns -EIO. */
int cdp_rocks_iter_status(rocksdb_iterator_t *it, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* replica.c: the last group kept of a host shipped to this store and
 * when it came (zeros for a host captured here). */
int cdp_ship_received(struct cdp_store *s, uint32_t host, uint64_t *lsn, int64_t *ts);

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

/* retain.c: a set of SHA-256 hashes (open addressing, grows). */
struct cdp_shaset;
int cdp_shaset_new(struct cdp_shaset **out);
void cdp_shaset_free(struct cdp_shaset *set);
int cdp_shaset_add(struct cdp_shaset *set, const uint8_t sha[CDP_HASH_BYTES]);
int cdp_shaset_has(const struct cdp_shaset *set, const uint8_t sha[CDP_HASH_BYTES]);
/* Crash points of prune and gc for the crash tests, and their batch size
 * (n, or 16 under the test knob); retain.c says how. */
void cdp_retain_crash_point(const char *what);
uint32_t cdp_retain_batch(uint32_t n);
/* Reports progress to s->retain_progress (if set): always when force (the
 * start and the end of a phase), else at most ten times a second.  The
 * caller holds retain_lock.  phase NULL: the end (retain.h). */
void cdp_retain_tick(struct cdp_store *s, const char *phase, uint64_t done, uint64_t total,
		     int force);
/* The host's floor (HM_FLOOR): the oldest kept state after a prune. */
int cdp_store_host_floor(struct cdp_store *s, uint32_t host, int64_t *ts, uint64_t *seq);

/* view.c: the registry of open views (STORE/views/, retain.c reads it):
 * each view of a process holds a file "HOST.SEQ.PID.N" while it is open. */
#define CDP_VIEWS_DIR "views"
/* Calls fn for every registered view of host whose process lives (files
 * of dead processes are removed on the way). */
int cdp_views_for_each(struct cdp_store *s, uint32_t host,
		       int (*fn)(void *arg, uint64_t seq), void *arg);

/* view.c: reads one block's data (block_size bytes) or zeros. */
int cdp_view_read_chunk(struct cdp_store *s, const uint8_t sha[CDP_HASH_BYTES], void *out);

/* activity.c: the writer's half of the activity summary.  op: count it
 * into h's open intervals (an interval it leaves is put into b whole);
 * put: the open intervals' totals into b (every group, before its commit).
 * Writer thread only. */
struct cdp_op;
void cdp_activity_op(struct cdp_store *s, struct cdp_ibatch *b, struct cdp_host_state *h,
		     const struct cdp_op *op);
void cdp_activity_put(struct cdp_store *s, struct cdp_ibatch *b, struct cdp_host_state *h);
/* One scored event of suspect.c on the open intervals of h and of root
 * (its op's; 0: the host's alone); free: the per-root intervals. */
void cdp_activity_score(struct cdp_host_state *h, uint32_t root);
void cdp_activity_free(struct cdp_host_state *h);

/* fsutil.c: "DIR/.BASE" + suffix for path "DIR/BASE" (trailing slashes
 * dropped), heap, NULL on ENOMEM. */
char *cdp_path_beside(const char *path, const char *suffix);
/* fsync of the directory that holds path.  0 or -errno. */
int cdp_fsync_parent(const char *path);
/* A marker file: written with text and made durable (file and directory),
 * or removed durably (a missing one is no error).  0 or -errno. */
int cdp_marker_write(const char *path, const char *text);
int cdp_marker_clear(const char *path);
/* All of buf written at off: a short write goes on until the error that
 * cut it (ENOSPC), which a bare pwrite() != len loses.  0 or -errno. */
int cdp_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Everything written on the filesystem that holds path made durable
 * (syncfs).  0 or -errno (-EIO: a write-back failed). */
int cdp_sync_tree(const char *path);

/* suspect.c: the writer's half of mass-damage detection.  op: score the
 * op (before the group is applied); put: the open suspect interval's
 * record into b when it changed; free: NULL does nothing.  Writer thread
 * only. */
struct cdp_suspect;
void cdp_suspect_op(struct cdp_store *s, struct cdp_host_state *h, const struct cdp_op *op);
void cdp_suspect_put(struct cdp_store *s, struct cdp_ibatch *b, struct cdp_host_state *h);
void cdp_suspect_free(struct cdp_suspect *x);

/* view.c: what the query modules need of a view. */
uint32_t cdp_view_host_id(const struct cdp_view *v);
struct cdp_store *cdp_view_store(const struct cdp_view *v);

/* scan.c: shared by the query modules (diff.c, filelog.c, restore.c). */
/* p grown to hold need elements of elem bytes (doubling); NULL when out of
 * memory (p is then still the caller's). */
void *cdp_grow(void *p, size_t *cap, size_t need, size_t elem);
/* fid (never 0) -> an index; open addressing.  Zeroed: empty. */
struct cdp_fidmap {
	uint64_t *keys;
	size_t *vals;
	size_t cap, n;
};
int cdp_fidmap_put(struct cdp_fidmap *m, uint64_t fid, size_t val);   /* 0, -ENOMEM */
int cdp_fidmap_get(const struct cdp_fidmap *m, uint64_t fid, size_t *val); /* 1: found */
void cdp_fidmap_release(struct cdp_fidmap *m);
/* One group of a versioned column family (its key without ~seq) and its
 * version at each of two seqs: val[k] NULL when it has none at seqs[k]
 * (a tombstone is a version); seq[k] the version's own seq.  The pointers
 * live during the callback only. */
struct cdp_versions {
	const uint8_t *gkey;
	size_t glen;
	const char *val[2];
	size_t vlen[2];
	uint64_t seq[2];
};
typedef int (*cdp_versions_fn)(void *arg, const struct cdp_versions *g);
/* Every group of cf under prefix, in key order, in one pass (no seek per
 * group).  fn returns non-zero to stop (returned).  -ENOMEM, -EIO. */
int cdp_scan_versions(struct cdp_store *s, int cf, const uint8_t *prefix, size_t plen,
		      const uint64_t seqs[2], cdp_versions_fn fn, void *arg);
/* Every version of cf under prefix, in key order (a group's newest first). */
typedef int (*cdp_history_fn)(void *arg, const uint8_t *gkey, size_t glen, uint64_t seq,
			      const char *val, size_t vlen);
int cdp_scan_history(struct cdp_store *s, int cf, const uint8_t *prefix, size_t plen,
		     cdp_history_fn fn, void *arg);
/* A store's attributes onto a local file (fd when open, else path, never
 * following a symlink): owner (refused without root: counted in
 * *owner_failures, not an error), then mode (not of a symlink) and
 * atime/mtime.  -errno, *what naming the step ("cannot set the mode of"). */
int cdp_local_owner(const struct cdp_attr *a, const char *path, int fd, int is_root,
		    uint64_t *owner_failures, const char **what);
int cdp_local_mode_times(const struct cdp_attr *a, const char *path, int fd,
			 const char **what);

#endif /* CDP_STORE_INT_H */
