/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store_int.h - internals of libcdpstore shared by its .c files and its
 * tests: the system call table used for fault injection, key and value
 * encodings of the RocksDB index, the chunk log, the decompressed block
 * cache, and the structures behind struct cdp_store / cdp_journal / cdp_view.
 * Nothing outside store/ includes this file: tests, fuzzers and
 * benchmarks include store_test.h, which says what they are.  The byte
 * layouts are described in docs/format.md; keep both in step.
 */
#ifndef CDP_STORE_INT_H
#define CDP_STORE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <rocksdb/c.h>

#include "store.h"

#define CDP_FORMAT_LINE "cdpfs store format 1"
#define CDP_DEFAULT_BLOCK_SIZE 8192u
#define CDP_SEGMENT_MAX_BYTES (1ull << 30)
/* Segment roll size; CDP_SEGMENT_MAX_BYTES, lowered by tests only. */
extern uint64_t cdp_segment_max_bytes;
#define CDP_KEY_MAX 600   /* host+fid+name(<=255 or xattr<=255)+sep+seq */
#define CDP_NAME_MAX 255

/* ------------------------------------------------ system call table */

/*
 * Every open/pwrite/pread/fdatasync/ftruncate the store does on segment
 * files goes through this table so that tests can replace an entry to
 * inject EIO or ENOSPC.  Entries follow the libc conventions (-1 + errno).
 */
struct cdp_sys {
	int (*open)(const char *path, int flags, mode_t mode);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	int (*fdatasync)(int fd);
	int (*ftruncate)(int fd, off_t len);
};
extern struct cdp_sys cdp_sys;
/* Restores the real system calls. */
void cdp_sys_reset(void);

/* ------------------------------------------------------------ bytes */

static inline void put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static inline void put_u64be(uint8_t *p, uint64_t v)
{
	put_u32be(p, (uint32_t)(v >> 32));
	put_u32be(p + 4, (uint32_t)v);
}

static inline uint32_t get_u32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_u64be(const uint8_t *p)
{
	return (uint64_t)get_u32be(p) << 32 | get_u32be(p + 4);
}

/* ------------------------------------------------------------- keys */

enum cdp_cf {
	CF_META, CF_CHUNK, CF_INODE, CF_DIRENT, CF_BLOCK, CF_XATTR, CF_TIME, CF_IMAP,
	CF_COUNT
};
extern const char *const cdp_cf_names[CF_COUNT];

struct cdp_key {
	size_t len;
	uint8_t b[CDP_KEY_MAX];
};

/* Value type bytes (first byte of every value). */
enum {
	VAL_ATTR_V1 = 'A', VAL_ATTR = 'B', VAL_DIRENT = 'D', VAL_CHUNKREF = 'C', VAL_ZERO = 'Z',
	VAL_XATTR = 'X', VAL_IMAP = 'M', VAL_CHUNK = 'K', VAL_TOMBSTONE = 'T',
	VAL_ROOT = 'R',
};

/* Versioned keys: the seq is stored inverted so newer sorts first. */
void cdp_key_inode(struct cdp_key *k, uint32_t host, uint64_t fid, uint64_t seq);
/* name_len may be 0 (a prefix for iteration); with_seq 0 stops after the
 * 0x00 separator (or before it when name_len is 0). */
void cdp_key_dirent(struct cdp_key *k, uint32_t host, uint64_t parent,
		    const char *name, size_t name_len, int with_sep, int with_seq, uint64_t seq);
void cdp_key_block(struct cdp_key *k, uint32_t host, uint64_t fid, uint64_t block, uint64_t seq);
void cdp_key_xattr(struct cdp_key *k, uint32_t host, uint64_t fid,
		   const char *name, size_t name_len, int with_sep, int with_seq, uint64_t seq);
void cdp_key_time(struct cdp_key *k, uint32_t host, int64_t ts_ns, uint64_t seq);
void cdp_key_imap(struct cdp_key *k, uint32_t host, uint32_t root_id, uint64_t ino);
/* Meta (default CF) keys. */
void cdp_key_meta(struct cdp_key *k, const char *name);
void cdp_key_host_name(struct cdp_key *k, const char *host);
/* Per-host meta: 'H', host id, sub-key byte, optional u32 argument. */
void cdp_key_host_meta(struct cdp_key *k, uint32_t host, char sub, int with_arg, uint32_t arg);

/* Per-host meta sub-keys. */
enum {
	HM_NAME = 'n',     /* host name */
	HM_LATEST = 'q',   /* u64 last committed seq, i64 its ts */
	HM_NEXT_FID = 'f', /* u64 */
	HM_COMPLETE = 'c', /* i64 complete_through_ts */
	HM_ROOT = 'r',     /* + u32 root id: root record */
	HM_NEXT_ROOT = 'R',/* u32 */
};

/* Returns the seq of a versioned key (its last 8 bytes, un-inverted). */
static inline uint64_t key_seq_of(const char *key, size_t len)
{
	return ~get_u64be((const uint8_t *)key + len - 8);
}

/* ----------------------------------------------------------- values */

/* 'B' attributes (written now): 'A''s fields, then st_blocks u64; 'A' (the
 * first layout, still read) lacks st_blocks.  A symlink's target follows. */
#define ATTR_V1_VALUE_BYTES (1 + 4 * 4 + 8 * 2 + 8 * 3)
#define ATTR_VALUE_BYTES (ATTR_V1_VALUE_BYTES + 8)
void cdp_attr_encode(uint8_t *out, const struct cdp_attr *a);   /* ATTR_VALUE_BYTES */
/* Decodes either layout; *header_len (may be NULL) gets where the symlink
 * target starts.  CDP_ECORRUPT on a short value or another type. */
int cdp_attr_decode(const char *val, size_t len, struct cdp_attr *a, size_t *header_len);

/* A tombstone (a dirent or xattr removed, an inode gone) is the type byte
 * alone, and so is a block of zeros. */
#define TOMBSTONE_VALUE_BYTES 1
#define ZERO_VALUE_BYTES 1

/* Dirent value: type, u64 child fid, u32 file type (S_IFMT bits). */
#define DIRENT_VALUE_BYTES (1 + 8 + 4)
void cdp_dirent_value_encode(uint8_t *out, uint64_t child, uint32_t type); /* DIRENT_VALUE_BYTES */
/* CDP_ECORRUPT unless val is exactly one 'D' value (a tombstone is an
 * error here: callers test for VAL_TOMBSTONE first). */
int cdp_dirent_value_decode(const char *val, size_t len, uint64_t *child, uint32_t *type);

/* Block value: a reference (type, sha256, u32 raw len) or a ZERO byte. */
#define BLOCKREF_VALUE_BYTES (1 + CDP_HASH_BYTES + 4)
void cdp_blockref_encode(uint8_t *out, const uint8_t sha[CDP_HASH_BYTES], uint32_t raw_len);
/* 0 for a reference (sha and *raw_len set, either may be NULL),
 * BLOCK_VALUE_ZERO for a block of zeros, CDP_ECORRUPT for anything else. */
#define BLOCK_VALUE_ZERO 1
int cdp_block_value_decode(const char *val, size_t len, uint8_t sha[CDP_HASH_BYTES],
			   uint32_t *raw_len);

/* Xattr value: type, then the attribute's bytes (any length, 0 too). */
#define XATTR_VALUE_HEADER_BYTES 1
void cdp_xattr_value_encode(uint8_t *out, const void *data, size_t len); /* header + len */
/* *data points into val (lives as long as val); CDP_ECORRUPT unless 'X'. */
int cdp_xattr_value_decode(const char *val, size_t len, const char **data, size_t *data_len);

/* Inode map value: type, u64 fid, then the file handle (0 to 4096 bytes). */
#define IMAP_VALUE_HEADER_BYTES (1 + 8)
void cdp_imap_value_encode(uint8_t *out, uint64_t fid, const void *handle, size_t handle_len);
/* *handle points into val (lives as long as val); either out pointer may
 * be NULL.  CDP_ECORRUPT on a short or mistyped value. */
int cdp_imap_value_decode(const char *val, size_t len, uint64_t *fid, const char **handle,
			  size_t *handle_len);

/* Chunk value: type, u32 segment, u64 offset, u32 stored len, u32 raw len. */
#define CHUNKVAL_BYTES (1 + 4 + 8 + 4 + 4)

struct cdp_chunk_loc {
	uint32_t segment;
	uint64_t offset;
	uint32_t stored_len;
	uint32_t raw_len;
};
void cdp_chunkval_encode(uint8_t *out, const struct cdp_chunk_loc *loc);
int cdp_chunkval_decode(const char *val, size_t len, struct cdp_chunk_loc *loc);

/* ------------------------------------------------------- root record */

struct root_rec {
	uint32_t root_id;
	uint64_t fid;
	int64_t baseline_ts;
	int active;
	uint32_t pid;
	int64_t session_start;
	int64_t session_end;
	int64_t gap_from;     /* where the open gap starts (0: none) */
	size_t ngaps;
	struct cdp_gap *gaps; /* heap */
	char *path;           /* heap */
};
int cdp_root_rec_encode(const struct root_rec *r, uint8_t **out, size_t *len);
int cdp_root_rec_decode(const char *val, size_t len, struct root_rec *r);
void cdp_root_rec_release(struct root_rec *r);

/* -------------------------------------------------------- chunk log */

/*
 * Segment file: a 16-byte header ("CDPSEG\0\0", u32 format, u32 segment id)
 * then records.  Record: 52-byte header then payload (see chunklog.c).
 */
#define SEG_HEADER_BYTES 16
#define REC_HEADER_BYTES 52
#define REC_MAGIC 0x43445043u  /* "CDPC" */
#define REC_FLAG_ZSTD 0x01

uint32_t cdp_crc32c(uint32_t crc, const void *buf, size_t len);
/* The portable table version, which cdp_crc32c uses without SSE4.2. */
uint32_t cdp_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* Builds a record (header + payload) into out (REC_HEADER_BYTES + stored). */
void cdp_chunk_record_build(uint8_t *out, const uint8_t sha[CDP_HASH_BYTES], uint32_t raw_len,
			    const void *payload, uint32_t stored_len, int zstd);
/* Validates a record header + payload already read; returns 0 or CDP_ECORRUPT. */
int cdp_chunk_record_check(const uint8_t *rec, size_t avail, uint32_t *raw_len,
			   uint32_t *stored_len, int *zstd, uint8_t sha[CDP_HASH_BYTES]);

struct cdp_chunklog;   /* segment files of one store */
int cdp_chunklog_open(const char *segdir, int writer, uint32_t durable_seg,
		      uint64_t durable_off, struct cdp_chunklog **out);
void cdp_chunklog_close(struct cdp_chunklog *cl);
/* Writer: appends a record; *loc receives where.  Opens/rolls segments. */
int cdp_chunklog_append(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			uint32_t raw_len, const void *payload, uint32_t stored_len, int zstd,
			struct cdp_chunk_loc *loc);
/* Writer: fdatasync of what was appended since the last sync. */
int cdp_chunklog_sync(struct cdp_chunklog *cl);
/* Writer: drops what was appended since the last sync (after a failure). */
void cdp_chunklog_rollback(struct cdp_chunklog *cl);
/* Writer: current segment and durable end (0/0 when none opened yet). */
void cdp_chunklog_position(struct cdp_chunklog *cl, uint32_t *seg, uint64_t *off);
/* Reads and verifies one chunk into out (raw_len bytes).  -EIO on any
 * mismatch, after logging the chunk. */
int cdp_chunklog_read(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
		      const struct cdp_chunk_loc *loc, void *out);

/* Compression in the caller's thread; out must hold raw bound
 * (ZSTD_compressBound).  Returns the stored length and sets *zstd, or
 * -errno. */
ssize_t cdp_chunk_compress(const void *raw, size_t raw_len, void *out, size_t out_cap, int *zstd);

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
int cdp_store_pid_alive(uint32_t pid);
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

/* ------------------------------------------------------------ overlays */

/* Decodes an overlay inode record ('I', u32 flags, u64 base_limit, 'B'
 * attributes, symlink target; see overlay.c and overlay_index.c).  *target is heap or NULL.
 * CDP_ECORRUPT on a short or mistyped value. */
int cdp_overlay_inode_decode(const char *val, size_t len, uint32_t *flags, uint64_t *base_limit,
			     struct cdp_attr *a, char **target);

#endif /* CDP_STORE_INT_H */
