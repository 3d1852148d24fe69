/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h - the public contract of libcdpstore: the chunk log, its RocksDB
 * index and the model of time.  Nothing here knows about FUSE.  capture/,
 * fs/ and cli/ use the store through this header and overlay.h (writable
 * overlays of a past instant), the library's only two public headers;
 * store_int.h is the library's own, store_test.h its door for tests.
 *
 * Model.  A store holds any number of hosts.  Each host has one namespace:
 * a tree of files identified by a 64-bit file id (fid), the host's "/" being
 * CDP_ROOT_FID.  Every change is journaled as an *operation*: a group of
 * records (attributes, directory entries, data blocks, xattrs) that share one
 * sequence number (seq, per host, strictly increasing) and one instant
 * (ts_ns, CLOCK_REALTIME nanoseconds, non-decreasing with seq).  A *view* is
 * the host's namespace as of one seq: every record with a seq <= the view's
 * seq, the newest one per key winning.  The state at instant T is the view at
 * the largest seq whose ts_ns <= T.
 *
 * File data is kept in fixed-size blocks aligned to file offsets
 * (cdp_store_block_size(), 8 KiB by default).  A block version is either a
 * reference to a chunk (zstd-compressed, SHA-256 content-addressed,
 * deduplicated, in an append-only segment file) or "zero" (all zero bytes,
 * a hole, or cut off by a truncate): zero blocks take no space.
 *
 * Errors: every int-returning function returns 0 (or a non-negative count)
 * on success and a negative errno or a negative CDP_E* code on failure;
 * cdp_strerror() names either.  All functions are thread-safe unless noted.
 *
 * Processes.  At most one process opens a store for writing (the capture
 * daemon); a second writer gets CDP_ELOCKED.  Any number of processes may
 * open it for reading at the same time (RocksDB secondary instances);
 * cdp_store_refresh() makes a reader see what the writer committed since.
 */
#ifndef CDP_STORE_H
#define CDP_STORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define CDP_FORMAT_VERSION 2
#define CDP_ROOT_FID 1ULL               /* "/" of every host */
#define CDP_DEFAULT_STORE "/var/lib/cdpfs"
#define CDP_SEQ_LATEST UINT64_MAX
#define CDP_TS_LATEST INT64_MAX
#define CDP_HASH_BYTES 32

/* ------------------------------------------------------------------ errors */

enum cdp_error {
	CDP_ECORRUPT = 1000,  /* checksum or structure mismatch on disk */
	CDP_ENOHOST,          /* host not in the store */
	CDP_EBEFORE,          /* instant before the host's first complete baseline */
	CDP_EFUTURE,          /* instant in the future */
	CDP_EVERSION,         /* store written by another format version */
	CDP_ELOCKED,          /* another process has the store open for writing */
	CDP_ENOSTORE,         /* no store at that path */
	CDP_EBADTIME,         /* malformed time specification */
	CDP_ENOSPACE,         /* store's disk full; the journal has a gap */
};

/* Returns a static string for a negative errno or a negative CDP_E* code. */
const char *cdp_strerror(int err);
/* The index's own words for the last RocksDB error met by this thread
 * ("Corruption: block checksum mismatch: ... in .../index/000027.sst"), or
 * "" when none: the real cause behind a CDP_ECORRUPT or -EIO from the
 * index, for a front end's one-line message.  Thread-local static storage,
 * valid until the thread's next store call. */
const char *cdp_store_last_error(void);

/* ----------------------------------------------------------------- logging */

/* Levels are syslog's (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). */
void cdp_log_init(const char *progname, int use_syslog, int max_level);
void cdp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cdp_log_enabled(int level);
/* A daemon whose stderr is a log file: prefix each line written to stderr
 * with the UTC instant and the pid ("2026-11-24T02:30:01.123Z [1234] "). */
void cdp_log_timestamps(int on);

/* Formats a one-line error message into err (errlen bytes; err NULL or
 * errlen 0 does nothing): how modules hand their message to the caller. */
void cdp_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------- model of time */

/*
 * Parses a TIME of a mount specification into nanoseconds since the epoch:
 *   2025-12-02T12:33   2025-12-02T12:33:07   2025-12-02 12:33:07.250
 *   each with an optional Z or +08:00 / -0530 (local time zone otherwise),
 *   @1764649987   @1764649987.123456789   latest   -30s -10m -2h -1d
 * Missing fields are zero.  "latest" gives CDP_TS_LATEST.  Relative times
 * count back from now_ns.  Returns 0, or CDP_EBADTIME.
 */
int cdp_time_parse(const char *text, int64_t now_ns, int64_t *ts_ns);

/* Formats ts_ns as "2025-12-02T12:33:07.250000000+01:00" (local zone). */
void cdp_time_format(int64_t ts_ns, char *buf, size_t size);

int64_t cdp_now_ns(void);

/* ------------------------------------------------------------------ store */

struct cdp_store;

enum cdp_store_flags {
	CDP_STORE_READ = 0,
	CDP_STORE_WRITE = 1 << 0,   /* take the writer lock */
	CDP_STORE_CREATE = 1 << 1,  /* create the store if missing (implies WRITE) */
};

struct cdp_store_options {
	size_t queue_limit_bytes;    /* journal back-pressure ceiling; 0: 64 MiB */
	unsigned commit_interval_ms; /* group commit period; 0: 50 ms */
	size_t block_cache_bytes;    /* decompressed block cache; 0: 64 MiB */
	unsigned hash_threads;       /* writer's hashing/compression threads;
				      * 0: online CPUs, at most 4 */
};

/*
 * A consistent copy of the store in dest (missing or empty; made), which
 * opens and mounts like the original: a RocksDB checkpoint of the index,
 * the sealed segments hard-linked (copied across filesystems) and the open
 * one copied up to the index's "durable" offset (snapshot.c).  Only a
 * writer (the capture daemon, or a process holding the writer lock) can
 * make one: -EROFS for a reader.  Counts of segments linked and copied in
 * the out parameters.  Errors: -ENOTEMPTY, -ENOTDIR, CDP_ECORRUPT, -errno.
 */
int cdp_store_snapshot(struct cdp_store *s, const char *dest, uint64_t *segments_linked,
		       uint64_t *segments_copied);

/*
 * Whether dir may be given to cdp_store_open with CDP_STORE_CREATE: a store
 * is created only in a missing or empty directory (one holding nothing but
 * the capture starter's capture.lock and capture.log counts as empty), and
 * anything else that is not a store is never touched.  0: missing, empty,
 * or holding a FORMAT file whose line is a cdpfs store's (of any version:
 * cdp_store_open then checks it); -ENOTDIR: not a directory; -ENOTEMPTY:
 * a directory holding other things and no such FORMAT (another program's
 * files or RocksDB); other -errno when it cannot be read.  Writes nothing.
 */
int cdp_store_check_dir(const char *dir);

/*
 * Whether a process has the store in dir open for writing (holds the
 * writer lock that cdp_store_open takes with CDP_STORE_WRITE): 1 yes, 0 no
 * (or no store there yet), -errno when it cannot be told.  Opens nothing
 * but the FORMAT file and takes no lock: a starter polls it while another
 * daemon starts or exits.
 */
int cdp_store_write_locked(const char *dir);

/*
 * Opens the store in directory dir.  opts may be NULL for defaults.
 * A writer first brings the index up to its log (replays index records
 * the index lacks, cuts a torn tail of the newest segment); so does a
 * reader that finds the index behind its log and no writer running (it
 * takes the writer lock for that moment; if it cannot, it reads the index
 * as it is, with a warning).  Format 1 stores open for reading only.
 * Errors: CDP_ENOSTORE (missing and no CREATE), -ENOTEMPTY (CREATE on a
 * directory that is neither empty nor a store, see cdp_store_check_dir),
 * CDP_EVERSION (another
 * format; for a writer, also format 1: `cdpfs upgrade` converts it),
 * CDP_ELOCKED, CDP_ECORRUPT (damage: the log line says where), -EACCES and
 * other errno.  *out is owned by the caller: cdp_store_close().
 */
int cdp_store_open(const char *dir, unsigned flags,
		   const struct cdp_store_options *opts, struct cdp_store **out);

/* What cdp_store_rebuild_index() did. */
struct cdp_rebuild_info {
	uint64_t records;        /* index records replayed from the log */
	uint64_t lsn;            /* the newest one */
	int damaged;             /* the log is damaged: replay stopped there */
	uint32_t segment;        /* where (damaged) */
	uint64_t offset;
	char why[96];
	char aside[4096];        /* where the old index was moved ("" if none) */
};

/*
 * Rebuilds the index of the store in dir from its log alone: takes the
 * writer lock (CDP_ELOCKED while a capture runs), moves index/ aside to
 * index.old-YYYYmmddTHHMMSSZ (never deleted here), then replays every index
 * record of every segment from the first, as an open replays a lagging
 * index.  A damaged log (a missing or corrupt segment, an lsn out of
 * order) stops the replay there: the index then holds the exact history
 * before it, info says where, and the call returns 0 (the caller reports
 * it).  CDP_EVERSION for a format 1 store (it keeps no log of its index).
 */
int cdp_store_rebuild_index(const char *dir, struct cdp_rebuild_info *info);

/* Flushes and syncs the journal of a writer, then frees.  NULL does nothing. */
void cdp_store_close(struct cdp_store *s);

/* Reader: catch up with what the writer committed.  Writer: no-op. */
int cdp_store_refresh(struct cdp_store *s);

const char *cdp_store_path(const struct cdp_store *s);
uint32_t cdp_store_block_size(const struct cdp_store *s);

/* ---------------------------------------------------------- hosts, roots */

struct cdp_gap {
	int64_t from_ts_ns;  /* last instant known captured */
	int64_t to_ts_ns;    /* instant capture was complete again */
};

struct cdp_root_info {
	uint32_t root_id;
	char *path;               /* absolute path on the host */
	uint64_t fid;             /* the directory's fid (0 before its baseline) */
	int64_t baseline_ts_ns;   /* first complete baseline; 0 if none yet */
	int active;               /* a capture session is running (not ended) */
	int64_t session_start_ts_ns;
	int64_t session_end_ts_ns;  /* 0 while active or after a crash */
	int crashed;              /* its session ended without a stop (pid dead) */
	uint32_t pid;             /* of its capture session (0 when stopped) */
	int64_t gap_from_ts_ns;   /* start of a gap not yet closed (0: none) */
	int64_t alive_ts_ns;      /* captured through here: its heartbeat, moved
				   * about once a second while a session
				   * captures it (0: never) */
	size_t ngaps;
	struct cdp_gap *gaps;
	uint64_t late_count;      /* changes seen late (cdp_late records) */
	int64_t late_last_ts_ns;  /* journaled instant of the newest one (0: none) */
};

struct cdp_host_info {
	char *name;
	uint32_t host_id;
	int64_t first_ts_ns;   /* earliest mountable instant (first baseline) */
	int64_t latest_ts_ns;  /* instant of the newest committed operation */
	uint64_t latest_seq;
	int64_t complete_ts_ns;  /* every operation up to here is committed */
	/* a host shipped to this store (cdpfs serve, store/replica.h): when
	 * it last sent and the last group kept; both 0 for a host captured
	 * here.  Its roots' active flags are then the host's word as last
	 * received (its pids are not this machine's). */
	int64_t received_ts_ns;
	uint64_t received_lsn;
	size_t nroots;
	struct cdp_root_info *roots;
};

/* Lists the hosts, sorted by name.  Free with cdp_host_info_free(). */
int cdp_store_hosts(struct cdp_store *s, struct cdp_host_info **hosts, size_t *n);
void cdp_host_info_free(struct cdp_host_info *hosts, size_t n);

/*
 * Whether process pid still runs: the one test for a capture session's
 * daemon (root records), a reader's private directory and the daemons that
 * `cdpfs capture --stop` and `cdpfs umount` wait for.  Returns 0 for pid 0, for a pid that
 * kill(2) does not find, and for a zombie or dead task ('Z' or 'X' in
 * /proc/PID/stat: it holds no store and serves no file); 1 otherwise.
 * When the process exists but /proc/PID/stat cannot be read, the answer is
 * 1 (alive): wrongly dead would let a new session take a live writer's root
 * and a reader sweep remove a live reader's directory, while wrongly alive
 * costs a bounded wait at worst: cdp_journal_root_begin() fails at once with
 * -EBUSY, the sweep leaves a directory for later, and capture --stop and
 * umount wait their deadline and report the daemon still running.
 */
int cdp_store_pid_alive(uint32_t pid);

/* ------------------------------------------------------------ attributes */

struct cdp_attr {
	uint32_t mode;     /* with S_IFMT */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t rdev;
	int64_t atime_ns, mtime_ns, ctime_ns;
	uint64_t blocks;   /* st_blocks (512-byte units) as the filesystem had it;
			    * CDP_BLOCKS_UNKNOWN in records written before
			    * this field existed */
};

#define CDP_BLOCKS_UNKNOWN UINT64_MAX

/* Fills a from a stat(2) result (every field; timestamps in ns). */
void cdp_attr_from_stat(const struct stat *st, struct cdp_attr *a);

/* ---------------------------------------------------- journal (writer) */

struct cdp_journal;   /* one host's writing handle on a WRITE store */
struct cdp_op;        /* one operation being built */

/*
 * Opens (creating if new) host's journal.  Owned by the caller:
 * cdp_journal_close() flushes, syncs and frees; NULL does nothing.
 * Errors: -EROFS on a read-only store, -EINVAL on a bad host name.
 */
int cdp_journal_open(struct cdp_store *s, const char *host, struct cdp_journal **out);
void cdp_journal_close(struct cdp_journal *j);

/* Allocates a fresh fid, never used before on this host. */
int cdp_journal_new_fid(struct cdp_journal *j, uint64_t *fid);

/*
 * Capture sessions of a root directory (an absolute path on the host).
 * root_begin registers the path (or finds it: *resuming = 1 when it was
 * captured before) and starts a session; -EBUSY if a session is active and
 * its process is alive.  root_ready records that the baseline (or resync)
 * is complete and that root_fid is the directory's fid: from this instant
 * on, the root is mountable, and the time since the previous session ended
 * is recorded as a gap.  root_end flushes and records a clean stop.
 */
int cdp_journal_root_begin(struct cdp_journal *j, const char *abs_path,
			   uint32_t *root_id, int *resuming);
int cdp_journal_root_ready(struct cdp_journal *j, uint32_t root_id, uint64_t root_fid);
int cdp_journal_root_end(struct cdp_journal *j, uint32_t root_id);
/* The instant root_id is known captured through (its heartbeat), 0 when
 * it has none yet.  0 or -errno / CDP_E*. */
int cdp_journal_root_alive(struct cdp_journal *j, uint32_t root_id, int64_t *alive_ts_ns);

/*
 * Late observations: a change to a protected directory that did not come
 * through its capture mount (a descriptor opened before the mount, a
 * process whose working directory was inside, another mount namespace, a
 * bind mount), seen by the capture daemon's safety net (fanotify on the
 * filesystem underneath), resynced and journaled after the fact.  The
 * history shows the change from journaled_ts_ns on; it really happened
 * within [from_ts_ns, to_ts_ns].
 */
struct cdp_late {
	int64_t from_ts_ns;       /* the change happened after this instant */
	int64_t to_ts_ns;         /* ... and no later than this one */
	int64_t journaled_ts_ns;  /* the history holds it from here on */
	uint32_t pid;             /* the process that made it (0: unknown) */
	char comm[16];            /* its command name, NUL-ended ("" unknown) */
	const char *path;         /* relative to the root; "." the whole directory */
};

/* Records l for root_id (logged and indexed at once).  journaled_ts_ns 0:
 * now.  0 or -errno / CDP_E*. */
int cdp_journal_late_add(struct cdp_journal *j, uint32_t root_id, const struct cdp_late *l);

/* Calls fn for each late observation of (host_id, root_id) journaled at or
 * after since_ts_ns, oldest first (l and its path live until fn returns);
 * a non-zero return of fn stops the walk and is returned. */
typedef int (*cdp_late_fn)(void *arg, const struct cdp_late *l);
int cdp_store_late_list(struct cdp_store *s, uint32_t host_id, uint32_t root_id,
			int64_t since_ts_ns, cdp_late_fn fn, void *arg);

/*
 * Inode map: (root_id, real inode number) -> (fid, file handle bytes).
 * get sees every set already committed or still queued in this process.
 * Returns -ENOENT when unknown.  handle may be NULL; *handle_len is in/out.
 */
int cdp_journal_imap_get(struct cdp_journal *j, uint32_t root_id, uint64_t ino,
			 uint64_t *fid, void *handle, size_t *handle_len);

/*
 * Operations.  cdp_op_new() starts one; the add functions copy what they are
 * given, so the caller's buffers may be reused as soon as they return
 * (cdp_op_data only copies the blocks: the writer thread hashes, dedups and
 * compresses them later, on its own pool, off the application's path);
 * cdp_op_commit() gives the op its seq
 * and instant, queues it (blocking while the queue is over its ceiling) and
 * frees it.  Call commit after the real filesystem call completed: the
 * instant is taken inside commit.  Within one op, zero ranges must come
 * before data of the same blocks.  All records of an op become visible
 * together.  cdp_op_abort() frees without journaling; NULL does nothing.
 * Errors of the add functions: -EINVAL (fid or parent 0, a name that is
 * empty, too long or holds '/', an offset not block aligned, a handle over
 * 4096 bytes), -ENOMEM; the op is still the caller's to commit or abort.
 * cdp_op_commit() takes the op in every case (freed, even on failure):
 * CDP_ENOSPACE when the journal is degraded (below), -ESHUTDOWN once the
 * store is closing.
 */
int cdp_op_new(struct cdp_journal *j, struct cdp_op **op);
/* The protected directory (root_begin's root_id) the op belongs to, for the
 * per-directory figures of the suspect detection (0, the default: none). */
void cdp_op_set_root(struct cdp_op *op, uint32_t root_id);
int cdp_op_attr(struct cdp_op *op, uint64_t fid, const struct cdp_attr *a,
		const char *symlink_target /* NULL unless S_ISLNK */);
/* child 0 removes the entry; type is child's S_IFMT bits. */
int cdp_op_dirent(struct cdp_op *op, uint64_t parent, const char *name,
		  uint64_t child, uint32_t type);
/* offset block aligned; len any (last block zero-padded); all-zero blocks
 * are stored as zero. */
int cdp_op_data(struct cdp_op *op, uint64_t fid, uint64_t offset,
		const void *buf, size_t len);
/* Blocks [first_block, end_block) read as zeros from now on; end_block
 * UINT64_MAX means to the end of the file.  Costs only the blocks that hold
 * data now. */
int cdp_op_zero(struct cdp_op *op, uint64_t fid, uint64_t first_block, uint64_t end_block);
/* value NULL removes the attribute. */
int cdp_op_xattr(struct cdp_op *op, uint64_t fid, const char *name,
		 const void *value, size_t len);
/* fid 0 removes the mapping unconditionally. */
int cdp_op_imap(struct cdp_op *op, uint32_t root_id, uint64_t ino, uint64_t fid,
		const void *handle, size_t handle_len);
/*
 * Removes the mapping of (root_id, ino) only if, when the op is committed,
 * it still maps to fid (the file that lost its last link).  Inode numbers
 * are reused as soon as they are freed, by creates that hold no lock of the
 * old inode, so the create of a new file with the same number may commit
 * before the unlink that freed it: the condition, checked at commit under
 * the queue lock that orders all imap changes, keeps the new mapping.
 * -EINVAL when fid is 0.
 */
int cdp_op_unmap(struct cdp_op *op, uint32_t root_id, uint64_t ino, uint64_t fid);
int cdp_op_commit(struct cdp_op *op, uint64_t *seq, int64_t *ts_ns);
void cdp_op_abort(struct cdp_op *op);
/* How many records op holds so far (0: it would journal nothing). */
size_t cdp_op_records(const struct cdp_op *op);

/*
 * Returns once every op committed (queued) before the call is durable:
 * chunk data fdatasync'ed, then the index batch synced.  Used by fsync.
 * Returns CDP_ENOSPACE when the store's disk is full (the journal is then
 * degraded: what could not be written is dropped and the gap recorded, see
 * below).
 */
int cdp_journal_sync(struct cdp_journal *j);
/*
 * cdp_journal_sync() in two halves, so that a caller can overlap the
 * journal's flush with its own (fsync of the real file): start asks the
 * writer to commit every op committed (queued) before the call, at once,
 * and gives a ticket; wait returns once that is durable in the log, which
 * may be a moment before the index (and so a view or a seq lookup of this
 * process) shows it: cdp_journal_sync() waits for both.  The same errors.
 */
int cdp_journal_sync_start(struct cdp_journal *j, uint64_t *ticket);
int cdp_journal_sync_wait(struct cdp_journal *j, uint64_t ticket);

/*
 * Disk-full handling.  When the store's disk fills, the journal drops what it
 * cannot write, records a gap from that instant, and from then on
 * cdp_op_commit() and cdp_journal_sync() return CDP_ENOSPACE at once (the
 * caller keeps serving the application); the gap closes at the next
 * cdp_journal_root_ready() after a resync.  Returns 1 and the instant the
 * gap began when degraded, 0 otherwise.  (Any other write failure of the
 * segment or the index degrades the journal the same way.)  The resync is
 * root_end (it keeps the gap's start in the store, so it survives a new
 * process), root_begin (which leaves degraded mode, so the resync's ops are
 * journaled), the walk, then root_ready.
 */
int cdp_journal_degraded(struct cdp_journal *j, int64_t *since_ts_ns);

/* Counters for logs and benchmarks. */
struct cdp_journal_stats {
	uint64_t ops, blocks, new_chunks, dedup_hits, zero_blocks;
	uint64_t bytes_in, bytes_stored, commits;
	uint64_t queue_bytes, queue_peak_bytes;
	uint64_t lag_p50_us, lag_p99_us;   /* commit() to durable, whole session */
	uint64_t lag_1m_p50_us, lag_1m_p99_us;   /* the same, over the last 1-2 minutes
						  * (0: no op in that time) */
	int degraded;                      /* cdp_journal_degraded() */
	int64_t degraded_since_ts_ns;
};
void cdp_journal_stats(struct cdp_journal *j, struct cdp_journal_stats *st);

/*
 * Mass-damage detection of the journal's host (store/suspect.c states the
 * model), for the ops of root_id (cdp_op_set_root), or with root_id 0 the
 * default of every root that has no configuration of its own.  on 0 turns
 * it off, 1 on; hot and burst are its thresholds (a second's score that
 * makes it hot, a score within 5 s that opens an interval at once), 0
 * keeping the environment's (CDPFS_SUSPECT_HOT and CDPFS_SUSPECT_BURST,
 * else 3 and 30).  It overrides CDPFS_SUSPECT and applies from the next op
 * the writer scores.  -EINVAL: a threshold above 1000000, or on not 0 or
 * 1; -ENOSPC: more than CDP_SUSPECT_ROOTCFG_MAX roots configured.
 */
#define CDP_SUSPECT_ROOTCFG_MAX 64
int cdp_journal_suspect_config(struct cdp_journal *j, uint32_t root_id, int on, uint32_t hot,
			       uint32_t burst);

/* The suspect intervals the journal's host opened in this process (what an
 * alert needs; cdp_suspects() lists every recorded one). */
struct cdp_suspect_opened {
	uint64_t count;          /* opened so far, 0: none */
	/* the newest, as it was when it opened */
	uint32_t root_id;        /* its directory (0: ops that named none) */
	int64_t start_ns, last_good_ns;
	uint64_t overwritten, renamed;
	uint32_t score;          /* its score over the opening window */
};
void cdp_journal_suspects_opened(struct cdp_journal *j, struct cdp_suspect_opened *out);

/* ---------------------------------------------------------- views (read) */

struct cdp_view;

/*
 * A host's namespace as of instant ts_ns (CDP_TS_LATEST: the newest
 * committed op).  The instant is mapped to a seq once, here.
 * Errors: CDP_ENOHOST, CDP_EBEFORE (before the first complete baseline),
 * CDP_EFUTURE (more than 1 s ahead of now).  Owned by the caller:
 * cdp_view_free(); a view must be freed before its store is closed.
 */
int cdp_view_open(struct cdp_store *s, const char *host, int64_t ts_ns,
		  struct cdp_view **out);
/*
 * The view at exactly seq, whose op has instant ts_ns (as cdp_view_seq()
 * and cdp_view_ts() of an earlier view gave them): how a kept overlay finds
 * its base again.  -ENOENT when the store has no such op, CDP_ENOHOST.
 */
int cdp_view_open_seq(struct cdp_store *s, const char *host, int64_t ts_ns, uint64_t seq,
		      struct cdp_view **out);
void cdp_view_free(struct cdp_view *v);
uint64_t cdp_view_seq(const struct cdp_view *v);
/* Instant of the newest op included in the view. */
int64_t cdp_view_ts(const struct cdp_view *v);
/* Instant asked for (as given to open; latest resolved to the op's). */
int64_t cdp_view_requested_ts(const struct cdp_view *v);

/* -ENOENT when fid does not exist in the view. */
int cdp_view_getattr(struct cdp_view *v, uint64_t fid, struct cdp_attr *a);
int cdp_view_lookup(struct cdp_view *v, uint64_t parent, const char *name,
		    uint64_t *child, uint32_t *type);
/* Resolves an absolute path ("/data/pg") from CDP_ROOT_FID; no symlinks. */
int cdp_view_resolve(struct cdp_view *v, const char *path, uint64_t *fid);

/*
 * Calls fn for each live entry of dir in name order, starting after
 * after_name (NULL: from the first).  fn returns non-zero to stop; that
 * value is returned.  -ENOTDIR, -ENOENT.
 */
typedef int (*cdp_dirent_fn)(void *arg, const char *name, uint64_t fid, uint32_t type);
int cdp_view_readdir(struct cdp_view *v, uint64_t dir, const char *after_name,
		     cdp_dirent_fn fn, void *arg);

/* Reads up to len bytes at off, clipped at the file's size; returns the
 * count.  -EIO when a chunk fails its checksum (and logs the chunk). */
ssize_t cdp_view_read(struct cdp_view *v, uint64_t fid, void *buf, size_t len, uint64_t off);

/* As lseek(2) SEEK_DATA (want_data 1) or SEEK_HOLE (0) at the view's
 * instant, at block granularity: the first offset at or after off that
 * lies in a block holding data (or in a hole or zero block; the end of the
 * file counts as a hole).  -ENXIO when off is at or past the end, or no
 * data follows it; -EISDIR for a directory.  One index seek per run of
 * blocks, not per block of a hole. */
int cdp_view_seek(struct cdp_view *v, uint64_t fid, uint64_t off, int want_data,
		  uint64_t *pos);

/* Calls fn(arg, block) for every block in [first, end) of fid that holds
 * data at the view's instant (not a hole, not a zero block), in order; fn
 * returns non-zero to stop, and that value is returned.  One index seek
 * per block that has versions, one per run of hole: a sparse file costs
 * its data, not its size.  -EIO when the index fails. */
int cdp_view_data_blocks(struct cdp_view *v, uint64_t fid, uint64_t first, uint64_t end,
			 int (*fn)(void *arg, uint64_t block), void *arg);

/* Symlink target, NUL-terminated; returns its length or -ERANGE/-EINVAL. */
ssize_t cdp_view_readlink(struct cdp_view *v, uint64_t fid, char *buf, size_t size);

/* As getxattr(2)/listxattr(2): size 0 asks for the length.  -ENODATA. */
ssize_t cdp_view_getxattr(struct cdp_view *v, uint64_t fid, const char *name,
			  void *buf, size_t size);
ssize_t cdp_view_listxattr(struct cdp_view *v, uint64_t fid, char *buf, size_t size);

/* The block's content hash as stored: SHA-256 of the whole block, the last
 * block of a file zero-padded to the block size.  *is_zero set for a zero
 * block (hash then unset).  -ENOENT when the block has no version in the
 * view (it reads as zeros). */
int cdp_view_block_hash(struct cdp_view *v, uint64_t fid, uint64_t block,
			uint8_t hash[CDP_HASH_BYTES], int *is_zero);

/* SHA-256 of a buffer as the store computes it (for callers comparing). */
void cdp_hash(const void *buf, size_t len, uint8_t hash[CDP_HASH_BYTES]);

#endif /* CDP_STORE_H */
