/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store_test.h - the part of the store's internals that tests, fuzzers and
 * benchmarks reach (tests/unit/, tests/fuzz/, scripts/bench/), and no
 * more: the byte layouts of the index's keys and values and their codecs,
 * root records, the chunk log and its records, cdp_chunk_compress, the
 * overlay's 'I' decoder, the system call table they fail and cdp_rm_tree
 * they clean up with.  None of it needs RocksDB: this file does not
 * include rocksdb/c.h, and what does (struct cdp_store's handles, the
 * writer, the block cache, the work pool, meta helpers) stays in
 * store_int.h, which includes this file and adds the rest for store/'s
 * own .c files.  Including this file instead of store.h alone says "not
 * part of cdpfs proper": capture/, fs/ and cli/ keep to store.h and
 * overlay.h.  No contract here is stable.  The byte layouts are described
 * in docs/format.md; keep both in step.
 */
#ifndef CDP_STORE_TEST_H
#define CDP_STORE_TEST_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "store.h"

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
	ssize_t (*pwritev)(int fd, const struct iovec *iov, int n, off_t off);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	int (*fdatasync)(int fd);
	int (*ftruncate)(int fd, off_t len);
};
extern struct cdp_sys cdp_sys;
/* Restores the real system calls. */
void cdp_sys_reset(void);

/* ------------------------------------------------ file system chores */

/*
 * Removes path and, if it is a directory, everything below it, children
 * first (rm -rf, fsutil.c).  Symbolic links are never followed: a link,
 * at the top or inside, is removed itself and what it names is left alone.
 * An entry that vanishes during the walk counts as removed.  Stops at the
 * first entry it cannot remove.  Returns 0, -ENOENT if path does not exist,
 * or the -errno of the first failure (-EACCES, -EBUSY, -EROFS, ...; -EIO
 * if the walk failed without saying why).
 */
int cdp_rm_tree(const char *path);

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

struct cdp_key {
	size_t len;
	uint8_t b[CDP_KEY_MAX];
};

/* Value type bytes (first byte of every value). */
enum {
	VAL_ATTR_V1 = 'A', VAL_ATTR = 'B', VAL_DIRENT = 'D', VAL_CHUNKREF = 'C', VAL_ZERO = 'Z',
	VAL_XATTR = 'X', VAL_IMAP = 'M', VAL_CHUNK = 'K', VAL_TOMBSTONE = 'T',
	VAL_ROOT = 'R', VAL_LATE = 'L',
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
/* 'S', u32 segment: the length of a sealed segment (u64). */
void cdp_key_segment(struct cdp_key *k, uint32_t seg);
/* Per-host meta: 'H', host id, sub-key byte, optional u32 argument. */
void cdp_key_host_meta(struct cdp_key *k, uint32_t host, char sub, int with_arg, uint32_t arg);

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

/* An overlay's 'E' entry value (overlay index, docs/format.md "Overlays"):
 * 'E', u64 child id, u32 file type (S_IFMT bits); or the 'W' byte alone, a
 * whiteout hiding the base's entry of that name. */
#define OVL_ENTRY_VALUE_BYTES (1 + 8 + 4)
#define OVL_WHITEOUT_VALUE "W"
#define OVL_WHITEOUT_VALUE_BYTES 1
/* out: OVL_ENTRY_VALUE_BYTES */
void cdp_ovl_entry_value_encode(uint8_t *out, uint64_t child, uint32_t type);
/* 0 for an entry (child and type set), 1 for a whiteout (any value that
 * starts with 'W': one is only ever written alone), CDP_ECORRUPT otherwise
 * (child and type untouched). */
int cdp_ovl_entry_value_decode(const char *val, size_t len, uint64_t *child, uint32_t *type);

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
/* The same, the header alone (REC_HEADER_BYTES into out, its CRC over the
 * payload where it is): the payload follows it in the log. */
void cdp_chunk_record_header(uint8_t *out, const uint8_t sha[CDP_HASH_BYTES], uint32_t raw_len,
			     const void *payload, uint32_t stored_len, int zstd);
/* Validates a record header + payload already read; returns 0 or CDP_ECORRUPT. */
int cdp_chunk_record_check(const uint8_t *rec, size_t avail, uint32_t *raw_len,
			   uint32_t *stored_len, int *zstd, uint8_t sha[CDP_HASH_BYTES]);

/* Index records (format 2): the index writes of one commit, in the log.
 *   0 u32 magic "CDPI"  4 u8 version (2)  5 u8 flags 0  6 u16 reserved 0
 *   8 u64 lsn (1, 2, 3, ... over the whole store)  16 u32 payload length
 *  20 u32 entry count  24 u32 CRC-32C of bytes 0..23 then the payload
 *  28 payload: entries (see store/indexlog.c) */
#define IREC_HEADER_BYTES 28
#define IREC_MAGIC 0x43445049u  /* "CDPI" */
#define IREC_MAX_PAYLOAD (64u << 20)
/* Writes the header of an index record for payload into out. */
void cdp_index_record_header(uint8_t *out, uint64_t lsn, const void *payload, uint32_t len,
			     uint32_t count);
/* Validates a whole index record already read; 0 or CDP_ECORRUPT. */
int cdp_index_record_check(const uint8_t *rec, size_t avail, uint64_t *lsn, uint32_t *len,
			   uint32_t *count);

struct cdp_chunklog;   /* segment files of one store */
/* Opens the segment directory (reading nothing yet); a writer's first
 * append starts a new segment after the newest one there. */
int cdp_chunklog_open(const char *segdir, int writer, struct cdp_chunklog **out);
void cdp_chunklog_close(struct cdp_chunklog *cl);
/* The newest segment id when the log was opened (0: none). */
uint32_t cdp_chunklog_last_segment(const struct cdp_chunklog *cl);
/* Writer: appends a record; *loc receives where.  Opens/rolls segments.
 * The payload is copied. */
int cdp_chunklog_append(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			uint32_t raw_len, const void *payload, uint32_t stored_len, int zstd,
			struct cdp_chunk_loc *loc);
/* The same without the copy (the journal writer's blocks): the payload
 * must stay valid and unchanged until the next cdp_chunklog_sync() or
 * cdp_chunklog_rollback(), which write it or drop it. */
int cdp_chunklog_append_ref(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			    uint32_t raw_len, const void *payload, uint32_t stored_len, int zstd,
			    struct cdp_chunk_loc *loc);
/* Writer, after a sync: while the log is synced in small steps, keeps the
 * newest segment written with zeros ahead of its records, so that a sync
 * commits no size change (chunklog.c says why and how recovery treats it).
 * Never fails: a disk that refuses the zeros just gets no runway. */
int cdp_chunklog_runway(struct cdp_chunklog *cl);
/* Writer: appends an index record; *seg and *end receive the segment and
 * the offset just past the record. */
int cdp_chunklog_append_index(struct cdp_chunklog *cl, uint64_t lsn, const void *payload,
			      uint32_t len, uint32_t count, uint32_t *seg, uint64_t *end);

/* One valid record met by a scan; payload points into the scan's buffer
 * and lives until the callback returns. */
enum { CDP_LOGREC_CHUNK = 1, CDP_LOGREC_INDEX = 2 };
struct cdp_logrec {
	int kind;
	uint32_t segment;
	uint64_t offset, end;        /* the record's bytes in the segment */
	const uint8_t *payload;      /* chunk: the stored bytes; index: the entries */
	uint32_t len;
	/* chunk records */
	uint8_t sha[CDP_HASH_BYTES];
	uint32_t raw_len, stored_len;
	int zstd;
	/* index records */
	uint64_t lsn;
	uint32_t count;
};
typedef int (*cdp_logrec_fn)(void *arg, const struct cdp_logrec *r);
/* Where a scan stopped: why is NULL when it read every segment to its end
 * (segment/offset: the end of the newest), else what was wrong at
 * segment/offset (a missing file, a bad header, an invalid or incomplete
 * record, a segment shorter than the start offset). */
struct cdp_scan_end {
	uint32_t segment;
	uint64_t offset;
	const char *why;
	uint32_t last_segment;   /* the newest segment when the scan began */
};
/* Reads the log from (seg, off) to its end, record by record in order
 * (seg 0: from the first segment), and calls fn for each valid record
 * (chunk records are checked: header, CRC).  Returns fn's first non-zero
 * value, a negative errno for an I/O error, else 0; *end says where and why
 * it stopped.  Takes no lock: a writer may be appending meanwhile (its
 * newest record may then read as incomplete). */
int cdp_chunklog_scan(struct cdp_chunklog *cl, uint32_t seg, uint64_t off, cdp_logrec_fn fn,
		      void *arg, struct cdp_scan_end *end);
/* Writer: the segment the log rolled away from, and its final length,
 * once (1; 0 when no segment was sealed since the last call). */
int cdp_chunklog_take_sealed(struct cdp_chunklog *cl, uint32_t *seg, uint64_t *end);
/* Checks the entries of an index record's payload (indexlog.c): 0, or
 * CDP_ECORRUPT when they do not fill it exactly or name an unknown column
 * family or kind. */
int cdp_index_entries_check(const uint8_t *p, size_t len, uint32_t count);
/* Writer: cuts segment seg at off (a torn tail) and syncs it. */
int cdp_chunklog_cut(struct cdp_chunklog *cl, uint32_t seg, uint64_t off);
/* Writer: fdatasync of what was appended since the last sync. */
int cdp_chunklog_sync(struct cdp_chunklog *cl);
/* Writer: drops what was appended since the last sync (after a failure). */
void cdp_chunklog_rollback(struct cdp_chunklog *cl);
/* Writer: the segment the log rolled away from, and its final length,
 * once (1; 0 when no segment was sealed since the last call). */
int cdp_chunklog_take_sealed(struct cdp_chunklog *cl, uint32_t *seg, uint64_t *end);
/* Writer: cuts segment seg at off (a torn tail) and syncs it. */
int cdp_chunklog_cut(struct cdp_chunklog *cl, uint32_t seg, uint64_t off);
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
/* The same without the log line: -EIO with *why saying what was wrong
 * (for a caller that first checks whether the chunk moved, gc.c), and the
 * line cdp_chunklog_read logs. */
int cdp_chunklog_try_read(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			  const struct cdp_chunk_loc *loc, void *out, const char **why);
void cdp_chunklog_log_bad(const uint8_t sha[CDP_HASH_BYTES], const struct cdp_chunk_loc *loc,
			  const char *why);
/* After segment seg was rewritten (compacted) under its name: a cached
 * descriptor of it now reads the new file (the old one's space is freed). */
int cdp_chunklog_reopen(struct cdp_chunklog *cl, uint32_t seg);

/* Reads the record of sha at loc as it is stored (header and payload,
 * REC_HEADER_BYTES + stored length; *rec is heap, the caller frees it),
 * checked as cdp_chunklog_read checks it, not decompressed: what a
 * shipper sends.  -EIO (logged) on any mismatch, -ENOMEM. */
int cdp_chunklog_read_record(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			     const struct cdp_chunk_loc *loc, uint8_t **rec, size_t *len);
/* Decompresses a zstd payload to exactly out_len bytes: 0, CDP_ECORRUPT. */
int cdp_chunk_decompress(const void *in, size_t in_len, void *out, size_t out_len);
/* 1 when a block of len bytes looks incompressible (a sampled entropy
 * estimate, chunklog.c): cdp_chunk_compress then stores it raw at once. */
int cdp_chunk_incompressible(const void *raw, size_t len);
/* Compression in the caller's thread; out must hold raw bound
 * (ZSTD_compressBound).  Returns the stored length and sets *zstd, or
 * -errno. */
ssize_t cdp_chunk_compress(const void *raw, size_t raw_len, void *out, size_t out_cap, int *zstd);

/* ------------------------------------------------------- retention */

/* The rules of a policy or a prune record as stored (retain.c): u32 n,
 * then n x (i64 age_ns, i64 every_ns).  encode writes 4 + 16 n bytes and
 * returns that; decode gives CDP_ECORRUPT unless len is exactly that for
 * n <= 16 (rules is an array of 16). */
struct cdp_keep_rule;
size_t cdp_keep_rules_encode(uint8_t *out, const struct cdp_keep_rule *rules, size_t n);
int cdp_keep_rules_decode(const uint8_t *p, size_t len, struct cdp_keep_rule *rules, size_t *n);

/* ------------------------------------------------------------ overlays */

/* Decodes an overlay inode record ('I', u32 flags, u64 base_limit, 'B'
 * attributes, symlink target; see overlay.c and overlay_index.c).  *target
 * is heap or NULL.  CDP_ECORRUPT on a short or mistyped value. */
#define OVL_INODE_HEADER_BYTES (1 + 4 + 8)   /* before the attributes */
int cdp_overlay_inode_decode(const char *val, size_t len, uint32_t *flags, uint64_t *base_limit,
			     struct cdp_attr *a, char **target);

#endif /* CDP_STORE_TEST_H */
