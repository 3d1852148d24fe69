/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verify.h - checking a store against itself (libcdpstore, no FUSE): every
 * reference of the index resolves to a record, and with data, every chunk
 * record reads back whole.  Runs on a store opened as a reader, so beside a
 * running capture; its memory does not grow with the store (index scans,
 * chunk locations sorted one batch of segments at a time).
 */
#ifndef CDP_VERIFY_H
#define CDP_VERIFY_H

#include <stdint.h>

#include "store.h"

enum cdp_verify_flags {
	CDP_VERIFY_DATA = 1 << 0,   /* read every chunk: CRC, decompression, SHA-256 */
};

/* One file a problem affects: versions of its blocks at seqs
 * first_seq..last_seq (instants first_ts_ns..last_ts_ns) reference the bad
 * chunk or entry; through_latest when the host's newest state still does. */
struct cdp_verify_affected {
	const char *host;
	uint64_t fid;
	const char *path;        /* at the newest seq; NULL when it has no name then */
	uint64_t blocks;         /* block versions affected */
	uint64_t first_block;
	uint64_t first_seq, last_seq;
	int64_t first_ts_ns, last_ts_ns;
	int through_latest;
};

/* Kinds of problem, as the report names them (stable: --json). */
#define CDP_VERIFY_UNREADABLE_INDEX "unreadable-index"   /* an index table or key cannot be read */
#define CDP_VERIFY_BAD_RECORD "bad-index-record"         /* an index value does not decode */
#define CDP_VERIFY_MISSING_CHUNK "missing-chunk"         /* a block names a sha with no location */
#define CDP_VERIFY_MISSING_SEGMENT "missing-segment"     /* a location's segment file is absent */
#define CDP_VERIFY_OUTSIDE_SEGMENT "outside-segment"     /* a location past its segment's end */
#define CDP_VERIFY_BAD_HEADER "bad-chunk-header"         /* the record header at a location */
#define CDP_VERIFY_BAD_DATA "bad-chunk-data"             /* CRC, decompression or SHA-256 */
#define CDP_VERIFY_DANGLING_DIRENT "dangling-dirent"     /* a name whose inode is absent */

struct cdp_verify_problem {
	const char *kind;          /* one of the CDP_VERIFY_* strings */
	const char *detail;        /* one line */
	const char *chunk;         /* sha hex, or NULL */
	uint32_t segment;          /* 0 when none */
	uint64_t offset;
	size_t naffected;
	const struct cdp_verify_affected *affected;
};

struct cdp_verify_stats {
	uint64_t chunks, chunk_bytes, block_refs, dirents, problems;
};

/* fn gets each problem once the run has found what it affects; pointers
 * live until fn returns.  progress (may be NULL) gets the stored bytes
 * checked of the total, now and then. */
typedef void cdp_verify_problem_fn(void *arg, const struct cdp_verify_problem *p);
typedef void cdp_verify_progress_fn(void *arg, uint64_t done_bytes, uint64_t total_bytes);

/*
 * Checks store s (opened read-only is enough): chunk locations lie inside
 * their segments with a valid record header (with CDP_VERIFY_DATA, the
 * whole record is read, its CRC-32C, decompression and SHA-256 checked),
 * every 'C' block reference has a location, every dirent names an inode
 * that exists at its seq; host (NULL: every host) limits the block and
 * dirent checks.  Returns 0 when the run completed (stats->problems says
 * whether anything was found), -CDP_ENOHOST, -ENOMEM, or -EIO when it could
 * not go on.
 */
int cdp_store_verify(struct cdp_store *s, const char *host, unsigned flags,
		     cdp_verify_problem_fn *fn, cdp_verify_progress_fn *progress, void *arg,
		     struct cdp_verify_stats *stats);

#endif /* CDP_VERIFY_H */
