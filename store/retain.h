/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * retain.h - the contract of retention (store/retain.c, store/gc.c): pins,
 * thinning a host's history (prune), a stored policy, and the garbage
 * collection of chunks no kept state references.  docs/design.md
 * "Retention" tells the model; docs/format.md the keys.
 *
 * Model.  A *state* of a host is the view at one seq that has a time entry
 * (one per operation).  Pruning decides which states are kept and then
 * removes every version of every key (inode, dirent, block, xattr) that no
 * kept state can see: version v of a key whose next newer version is w is
 * visible to kept state K iff v.seq <= K < w.seq (w absent: infinity).  It
 * removes the time entries of the states it drops, so an instant in a
 * thinned interval resolves (one SeekForPrev, as before) to the newest kept
 * state at or before it, and it records the oldest kept state as the host's
 * floor: an instant before it is CDP_EBEFORE.  Every removal is a logged
 * index write, so `rebuild-index` gives the pruned index.
 *
 * Which states are kept, for rules (AGE, EVERY) and "now" taken when the
 * prune starts: rule i governs instants within AGE_i of now that no finer
 * rule governs; its intervals are [k*EVERY, (k+1)*EVERY) since the Unix
 * epoch (so 1d is a UTC day), and the kept state of an interval is the
 * state at its end (its newest state); EVERY 0 ("all") keeps every state.
 * An interval that straddles the edge between two rules belongs to the
 * finer one (the edge moves down to the interval's start), and so does the
 * one that straddles the edge of the largest AGE (kept, under that rule).
 * Older states are dropped.  Always kept besides: the newest state, pinned
 * states, the base of every overlay (named or private, so every rw mount),
 * the state of every registered view (every mount while it is mounted, see
 * cdp_view_open), and the state of the host's newest passing drill
 * (STORE/drills/index).
 */
#ifndef CDP_RETAIN_H
#define CDP_RETAIN_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define CDP_KEEP_RULES_MAX 16

/* One --keep AGE:EVERY: within age_ns of now, one state every every_ns
 * (0: every state). */
struct cdp_keep_rule {
	int64_t age_ns;
	int64_t every_ns;
};

/* "10s", "1m", "2h", "1d" (a bare number is seconds) into ns > 0; -EINVAL. */
int cdp_duration_parse(const char *text, int64_t *ns);
/* "AGE:EVERY", EVERY a duration or "all".  -EINVAL naming nothing: the
 * caller says which argument was wrong. */
int cdp_keep_rule_parse(const char *text, struct cdp_keep_rule *r);
/* "24h:all", "7d:1m" (the shortest exact form) into buf. */
void cdp_keep_rule_format(const struct cdp_keep_rule *r, char *buf, size_t size);
/* Sorts rules by age and checks them: 1 to CDP_KEEP_RULES_MAX rules, no two
 * of the same age.  -EINVAL, -E2BIG. */
int cdp_keep_rules_normalize(struct cdp_keep_rule *rules, size_t n);

/* ------------------------------------------------------------- pins */

struct cdp_pin_info {
	char *host;          /* heap */
	uint64_t seq;        /* the state pinned */
	int64_t ts_ns;       /* its instant (the newest op in it) */
	int64_t created_ns;
	char *note;          /* heap, "" when none */
};

/*
 * Pins the state that instant ts_ns of host resolves to (as a mount does):
 * never pruned until unpinned.  Writer only (-EROFS otherwise).  Pinning
 * the same state again replaces its note.  *out (may be NULL) gets the pin
 * (release with cdp_pin_info_free(out, 1) semantics: cdp_pin_info_release).
 * Errors: those of cdp_view_open, -EINVAL for a note over 1024 bytes.
 */
int cdp_store_pin(struct cdp_store *s, const char *host, int64_t ts_ns, const char *note,
		  struct cdp_pin_info *out);
/* Removes the pin of the state ts_ns resolves to; -ENOENT when none. */
int cdp_store_unpin(struct cdp_store *s, const char *host, int64_t ts_ns,
		    struct cdp_pin_info *out);
/* Every pin (host NULL: of every host), by host then seq. */
int cdp_store_pins(struct cdp_store *s, const char *host, struct cdp_pin_info **out,
		   size_t *n);
void cdp_pin_info_release(struct cdp_pin_info *p);
void cdp_pin_info_free(struct cdp_pin_info *list, size_t n);

/* --------------------------------------------------------- progress */

/*
 * Progress of a long prune or gc, for a terminal: called on the thread that
 * runs it, at the start and the end of each phase and at most ten times a
 * second between, with the items of the phase done so far and their total
 * (0 when not known in advance).  phase is a static string:
 *   prune: "time entries" (total: the host's states), "inode versions",
 *          "dirent versions", "block versions", "xattr versions";
 *   gc:    "marking" (block versions read), "sweeping" (chunks),
 *          "compacting" (sealed segments examined, total: their number).
 * The last call of a phase has done equal to what the phase went over; a
 * call with phase NULL ends the prune's or the gc's progress (before it
 * logs its summary).  It must not call back into the store.
 */
typedef void cdp_retain_progress_fn(void *arg, const char *phase, uint64_t done,
				    uint64_t total);

/* ------------------------------------------------------------ prune */

enum cdp_prune_reason { CDP_PRUNE_MANUAL = 0, CDP_PRUNE_SCHEDULE = 1, CDP_PRUNE_LOW_SPACE = 2 };

struct cdp_prune_options {
	const struct cdp_keep_rule *rules;   /* normalized or not */
	size_t nrules;
	int64_t now_ns;      /* 0: the clock, read once at the start */
	int dry_run;         /* count only, write nothing */
	int reason;          /* enum cdp_prune_reason, recorded with the prune */
	cdp_retain_progress_fn *progress;   /* NULL: none */
	void *progress_arg;
};

struct cdp_prune_result {
	int64_t now_ns;               /* the "now" used */
	uint64_t states_before;       /* time entries of the host at the start */
	uint64_t states_kept;
	uint64_t states_removed;
	uint64_t states_protected;    /* kept only because protected (pins, ...) */
	uint64_t versions_seen;
	uint64_t versions_removed;    /* (dry run: that would be) */
	int64_t oldest_kept_ts_ns;    /* the host's new floor */
	uint64_t oldest_kept_seq;
	int64_t newest_kept_ts_ns;
};

/*
 * Thins host's history by the rules (see the top of this file).  A writer
 * only; runs beside capture (in the capture daemon) and beside mounts.
 * Crash-safe at every point: the floor is recorded first, then the time
 * entries of the dropped states go, then the versions no kept state sees;
 * each step is logged index batches, and a crash leaves at worst versions
 * nothing sees (the next prune removes them).  One prune or gc at a time
 * per store (-EBUSY).  Errors: CDP_ENOHOST, -EINVAL (rules), -EROFS, -EIO.
 */
int cdp_store_prune(struct cdp_store *s, const char *host, const struct cdp_prune_options *o,
		    struct cdp_prune_result *r);

/* The retention state of a host, for hosts/stats. */
struct cdp_retention_info {
	int64_t floor_ts_ns;         /* oldest kept state after a prune (0: never pruned) */
	uint64_t floor_seq;
	int64_t last_prune_ns;       /* "now" of the last prune (0: none) */
	int last_reason;             /* enum cdp_prune_reason */
	size_t nrules;               /* rules of the last prune */
	struct cdp_keep_rule rules[CDP_KEEP_RULES_MAX];
	size_t npolicy;              /* the stored policy (0: none) */
	struct cdp_keep_rule policy[CDP_KEEP_RULES_MAX];
};
int cdp_store_retention(struct cdp_store *s, const char *host, struct cdp_retention_info *ri);

/* The granularity of a host's history after its last prune, oldest first:
 * from from_ns (the floor for the oldest) to to_ns (INT64_MAX: up to now),
 * one state every every_ns (0: every state); the last period, after the
 * prune's "now", keeps every state.  At most CDP_KEEP_RULES_MAX + 1;
 * none when the host was never pruned. */
struct cdp_period {
	int64_t from_ns, to_ns, every_ns;
};
size_t cdp_retention_periods(const struct cdp_retention_info *ri, struct cdp_period *out);

/* The stored policy of host (what the capture daemon applies by itself).
 * nrules 0 removes it.  Writer only. */
int cdp_store_policy_set(struct cdp_store *s, const char *host,
			 const struct cdp_keep_rule *rules, size_t nrules);

/* ------------------------------------------------------------ stats */

struct cdp_host_stats {
	char *name;                  /* heap */
	uint64_t data_versions;      /* block versions that reference a chunk */
	uint64_t zero_versions;      /* block versions of zeros (no space) */
	uint64_t logical_bytes;      /* data versions x their length: bytes written */
	uint64_t logical_24h_bytes;  /* of versions newer than the state 24 h ago */
	uint64_t logical_7d_bytes;   /* ... 7 days ago */
	int64_t first_ts_ns;         /* the oldest kept instant */
	int64_t latest_ts_ns;
};

struct cdp_store_stats {
	uint64_t chunks;             /* distinct contents stored */
	uint64_t chunk_raw_bytes;    /* their length before compression */
	uint64_t chunk_stored_bytes; /* their records' bytes in the segments */
	uint64_t segments, segment_bytes;   /* files on disk */
	uint64_t disk_bytes, free_bytes;    /* the store's filesystem */
	size_t nhosts;
	struct cdp_host_stats *hosts;       /* heap, by name */
};

/*
 * Space and growth: one pass over the chunk family and, for each host
 * (host NULL: every host), one over its block versions; memory does not
 * grow with the store.  Readers may call it.  Free with
 * cdp_store_stats_release().  CDP_ENOHOST.
 */
int cdp_store_stats(struct cdp_store *s, const char *host, struct cdp_store_stats *st);
void cdp_store_stats_release(struct cdp_store_stats *st);

/* --------------------------------------------------------------- gc */

struct cdp_gc_result {
	uint64_t chunks;               /* chunk locations at the start */
	uint64_t chunks_removed;       /* referenced by no block version */
	uint64_t bytes_unreferenced;   /* their records' bytes */
	uint64_t segments_compacted;
	uint64_t chunks_moved;         /* live chunks copied out of them */
	uint64_t bytes_reclaimed;      /* segment bytes given back to the disk */
};

/*
 * Removes the location of every chunk no block version references (a mark
 * into a temporary RocksDB under STORE/, memory independent of the
 * store's size), then compacts each sealed segment whose unreferenced
 * bytes are at least threshold (0..1) of its records: its live chunks are
 * appended to the log's head with their new locations (one logged batch),
 * then the segment is rewritten, under a temporary name and renamed over
 * itself, holding only its index records (the history rebuild-index
 * replays).  Runs beside capture: content deduplicated onto a chunk while
 * the gc runs is never removed.  Crash-safe: at worst garbage remains.
 * Writer only; one prune or gc at a time (-EBUSY).
 */
int cdp_store_gc(struct cdp_store *s, double threshold, struct cdp_gc_result *r);
/* cdp_store_gc() reporting its progress to fn (NULL: none) with arg. */
int cdp_store_gc_progress(struct cdp_store *s, double threshold, cdp_retain_progress_fn *fn,
			  void *arg, struct cdp_gc_result *r);

#endif /* CDP_RETAIN_H */
