/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica.h - a host's history copied from one store to another: the
 * store's side of shipping to a DR server (ship/ carries it over TLS).
 * The third public header of libcdpstore, beside store.h and overlay.h;
 * nothing here knows about sockets.
 *
 * The unit copied is a *group*: one index record of the source store's
 * log (one commit), reduced to the entries of one host and made
 * host-neutral: the host id is taken out of every key (it is local to a
 * store), chunk locations are dropped (they are local too: chunks travel
 * by their SHA-256), and what is the source store's own business (other
 * hosts, the host table, sealed segment lengths, lost-chunk deletions) is
 * left out.  Every index record of the source becomes one group, empty or
 * not, so the groups of a host carry the source's lsns without a hole.
 *
 * The destination is an ordinary store: a sink appends the chunks it is
 * given and then one index record per commit, through the same log and
 * index as the writer thread (indexlog.c), with the host's own id in the
 * keys.  So mount, drill, bisect, verify, rebuild-index and hosts work on
 * it while groups keep coming.  A sink never deletes or rewrites history
 * (see cdp_ship_sink_add_group for the rules) and records, in the same
 * commit, how far the host was received: its *resume point*.
 * docs/format.md, "Shipping", describes the entries and the keys.
 */
#ifndef CDP_REPLICA_H
#define CDP_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Entry kinds and column families of a group, as in index records. */
enum { CDP_SHIP_PUT = 1, CDP_SHIP_DELETE = 2 };

/* One group.  entries: host-neutral entries back to back, each u8 kind,
 * u8 column family, u16 key length, u32 value length, key, value (the
 * index record entry layout, docs/format.md).  refs: the distinct chunk
 * hashes its block entries reference (what a shipper offers). */
struct cdp_ship_group {
	uint64_t lsn;
	uint32_t count;
	uint8_t *entries;
	size_t len;
	uint8_t (*refs)[CDP_HASH_BYTES];
	size_t nrefs;
	int64_t through_ts;   /* the complete_through instant it carries (0: none) */
};

/* CRC-32C (Castagnoli), as the log's records use it: the shipping
 * protocol's frames carry one too. */
uint32_t cdp_crc32c(uint32_t crc, const void *buf, size_t len);

/* SHA-256 of a group as both ends compute it: lsn u64, count u32, entries. */
void cdp_ship_group_hash(const struct cdp_ship_group *g, uint8_t out[CDP_HASH_BYTES]);
void cdp_ship_group_release(struct cdp_ship_group *g);

/* ------------------------------------------------------------ source */

struct cdp_ship_source;

/*
 * Reads the groups of host from store s (opened by this process, reader
 * or writer; a capture daemon uses its own writer handle).  Owned by the
 * caller: cdp_ship_source_free().  Only what is durable is read: records
 * up to the index's "lsn" (the log is synced before the index is written).
 * Errors: -CDP_EVERSION (a format 1 store has no log of its index),
 * -EINVAL (host name), -ENOMEM.
 */
int cdp_ship_source_open(struct cdp_store *s, const char *host, struct cdp_ship_source **out);
void cdp_ship_source_free(struct cdp_ship_source *src);

/* Positions the source so that the next group is the one after lsn (0:
 * from the start of the log).  Uses what it has read before when it can,
 * else scans the log from its first segment.  -CDP_ECORRUPT when the log
 * does not hold that record (damaged, or another store's lsns). */
int cdp_ship_source_seek(struct cdp_ship_source *src, uint64_t after_lsn);

/* A position remembered by an earlier process: the record of lsn ends at
 * (seg, end).  A seek to lsn or beyond starts there instead of scanning
 * the log from its first segment; a hint that proves wrong costs the scan
 * it would have saved, never a wrong group.  where gives the same for a
 * record read recently (-ENOENT when it is not remembered). */
void cdp_ship_source_hint(struct cdp_ship_source *src, uint64_t lsn, uint32_t seg, uint64_t end);
int cdp_ship_source_where(struct cdp_ship_source *src, uint64_t lsn, uint32_t *seg,
			  uint64_t *end);

/* The next group into *g (the caller's: cdp_ship_group_release): 1; 0
 * when every durable record has been read; negative on errors
 * (-CDP_ECORRUPT: the log is damaged at that point, logged). */
int cdp_ship_source_next(struct cdp_ship_source *src, struct cdp_ship_group *g);

/* Where the source could read to now: the index's lsn, and the host's
 * complete_through instant read before it (every op of the host with an
 * instant up to *through_ts is in a record up to *lsn). */
int cdp_ship_source_position(struct cdp_ship_source *src, uint64_t *lsn, int64_t *through_ts);

/* The chunk of sha as stored (record header and payload, checked; heap,
 * the caller frees it).  -ENOENT when the store has no such chunk (lost);
 * -EIO when its record (logged) or its index entry is damaged; -ENOMEM;
 * the index's read error (logged). */
int cdp_ship_source_chunk(struct cdp_ship_source *src, const uint8_t sha[CDP_HASH_BYTES],
			  uint8_t **rec, size_t *len);

/* ---------------------------------------------------------------- sink */

struct cdp_ship_sink;

/* How far a host has been received (the resume point). */
struct cdp_ship_state {
	uint64_t lsn;             /* the source's lsn of the last group kept (0: none) */
	uint64_t seq;             /* the host's last seq kept */
	int64_t through_ts;       /* every op of the host up to here is kept */
	int64_t received_ts;      /* server's clock when the host last sent */
	uint8_t last_hash[CDP_HASH_BYTES];
};

/*
 * Receiving host's groups into s (opened for writing).  Registers the host
 * when new.  -EROFS for a reader, -EINVAL for a bad name, -ENOMEM, or the
 * registration's error.
 * A sink is one connection's: two sinks of one host must not stage at the
 * same time (the server holds a lock per host around begin..commit).
 */
int cdp_ship_sink_open(struct cdp_store *s, const char *host, struct cdp_ship_sink **out);
void cdp_ship_sink_free(struct cdp_ship_sink *k);
/* Reads the host's resume point from the store (drops anything staged). */
int cdp_ship_sink_begin(struct cdp_ship_sink *k, struct cdp_ship_state *st);
/* 1 when the store (or what is staged) has the chunk, 0 when not, or the
 * index's read error (logged). */
int cdp_ship_sink_has_chunk(struct cdp_ship_sink *k, const uint8_t sha[CDP_HASH_BYTES]);
/* Stages one chunk record as the source stores it; checked whole (header,
 * CRC, decompression, SHA-256 of the content: a host cannot plant wrong
 * content under a hash other hosts dedup onto).  -CDP_ECORRUPT with why. */
int cdp_ship_sink_add_chunk(struct cdp_ship_sink *k, const uint8_t *rec, size_t len,
			    char *why, size_t whylen);
/* The source has lost this chunk (its store dropped it): references to it
 * are kept and read as -EIO here as they do there, never as zeros. */
int cdp_ship_sink_add_lost(struct cdp_ship_sink *k, const uint8_t sha[CDP_HASH_BYTES]);
/*
 * Stages a group.  Returns 0 (staged), 1 when the group is history
 * already kept (its lsn is at or below the resume point and its hash is
 * the one recorded then: acknowledged, not applied again), or a negative
 * code with one line in why: -EPROTO for a group that contradicts kept
 * history (same lsn, other content), skips an lsn, deletes or rewrites
 * anything (a versioned entry at or below the host's kept seq, a seq or
 * complete_through that goes back, a delete outside the inode map), or
 * references a chunk it did not send; -EINVAL for entries that do not
 * decode.  Nothing is kept of a batch that saw a refusal.
 */
int cdp_ship_sink_add_group(struct cdp_ship_sink *k, const struct cdp_ship_group *g, char *why,
			    size_t whylen);
/* Every op of the host up to ts is in the groups staged or kept. */
void cdp_ship_sink_through(struct cdp_ship_sink *k, int64_t ts);
/* Makes what is staged durable in one commit (chunks, then one index
 * record with every entry and the resume point), or, with no group staged,
 * moves complete_through and the received instant in the index alone.
 * st gets the new resume point.  -CDP_ENOSPACE (disk full: nothing kept),
 * other errors.  The stage is empty afterwards in every case. */
int cdp_ship_sink_commit(struct cdp_ship_sink *k, struct cdp_ship_state *st);

/* The resume point of host in s (any store, reader or writer): 0, and 0
 * too with st->lsn 0 when the host was never received (a local host);
 * -CDP_ENOHOST when the store does not know the host, -CDP_ECORRUPT, or
 * the index's read error.  st is zeroed first. */
int cdp_ship_state_read(struct cdp_store *s, const char *host, struct cdp_ship_state *st);

#endif /* CDP_REPLICA_H */
