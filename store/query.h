/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * query.h - questions asked of the index in the first hour of an incident:
 * what changed between two views (store/diff.c), every version of one file
 * (store/filelog.c), and a file or tree of a view written back to a local
 * directory (store/restore.c).  The third public header of libcdpstore,
 * beside store.h and overlay.h; nothing here knows about FUSE.
 *
 * diff and log read the index only (entries, attributes, block hashes,
 * xattrs), never a chunk; restore reads and verifies every chunk it writes.
 * Paths are absolute paths of the host's namespace ("/data/pg/base/1"), as
 * a view resolves them.  Errors are those of store.h (negative errno or
 * CDP_E*); a damaged index is -EIO (logged), never "no change".
 */
#ifndef CDP_QUERY_H
#define CDP_QUERY_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "store.h"

/* ------------------------------------------------------------- diff */

/* What a change touched (cdp_change.what), bit values. */
enum cdp_change_what {
	CDP_CHG_CONTENT = 1 << 0,   /* data blocks, a symlink's target, a device number */
	CDP_CHG_SIZE = 1 << 1,
	CDP_CHG_MODE = 1 << 2,      /* permission bits */
	CDP_CHG_OWNER = 1 << 3,     /* uid or gid */
	CDP_CHG_MTIME = 1 << 4,
	CDP_CHG_XATTR = 1 << 5,     /* any extended attribute (POSIX ACLs included) */
	CDP_CHG_NLINK = 1 << 6,     /* link count */
};

/*
 * One change, as cdp_diff() reports it.  op is:
 *   'A' path added           'D' path deleted (path is the old one)
 *   'M' content changed      'm' metadata only (what says which)
 *   'T' type changed         'R' renamed: old_path -> path, the same file
 * A path is compared with the same path in the other view, whatever file
 * is there (a file replaced by a rename over it is 'M' or 'm', as a
 * comparison of the two trees would say); a path that exists in one view
 * only is 'A' or 'D', unless the same file (fid) is at a path found only
 * in the other view: that pair is one 'R'.  A renamed directory is one
 * 'R': what changed below it is reported at its new paths, and entries
 * that kept their place in it are not listed.  A renamed file whose
 * content or metadata also changed gets an 'M' or 'm' line of its own at
 * the new path.  The entries of an added or deleted directory are listed
 * each.  bytes: for 'M' of a regular file, the bytes of the blocks whose
 * content differs, over the larger of the two sizes (a block past the
 * smaller size counts too); for 'A' and 'D' of a regular file its size.
 * Of the times only mtime is compared: ctime moves with any change, and
 * atime with reads (capture's own reads of partly written blocks too), as
 * `diff -r` and a manifest ignore them; a directory's size is not compared.
 */
struct cdp_change {
	char op;
	const char *path;        /* valid during the callback only */
	const char *old_path;    /* 'R' only, else NULL */
	uint32_t type;           /* S_IFMT bits at the second view ('D': at the first) */
	uint32_t old_type;       /* 'T': the type at the first view */
	unsigned what;           /* enum cdp_change_what ('M', 'm', 'R') */
	uint64_t bytes;
	uint64_t size_before, size_after;
};

typedef int (*cdp_change_fn)(void *arg, const struct cdp_change *c);

/*
 * Calls fn for each change from view a to view b (same host; a may be
 * later than b: the changes then read backwards) under dir (an absolute
 * path; "/" for the whole host), sorted by path (an 'R' by its new path).
 * A dir missing in one view gives its whole tree as added or deleted;
 * missing in both, -ENOENT.  fn returns non-zero to stop; that value is
 * returned.  Cost: one pass over the host's entries and attributes in the
 * index (no per-file seek), then per changed file its xattrs and block
 * hashes; unchanged files cost no block read.  Relies on what capture
 * journals: every op that changes a file's data or xattrs also records its
 * attributes, so a file whose attribute record is the same in both views
 * has the same blocks and xattrs.  -EINVAL (views of other hosts), -ENOMEM,
 * -EIO (the index failed; logged).
 */
int cdp_diff(struct cdp_view *a, struct cdp_view *b, const char *dir, cdp_change_fn fn,
	     void *arg);

struct cdp_overlay;
/*
 * The changes a writable overlay (overlay.h) made against its base, in the
 * same terms and order, the base being the first tree and the overlay the
 * second; dir is the host path of the overlay's root (its info's dir).  An
 * object the overlay never changed costs nothing but its entry; a changed
 * file's block hashes are the base's but for the blocks the overlay holds
 * (read and hashed) and those past its base limit.  Errors as cdp_diff.
 */
int cdp_overlay_diff(struct cdp_overlay *o, const char *dir, cdp_change_fn fn, void *arg);

/*
 * Failback: the changes of overlay o (cdp_overlay_diff, dir the host path
 * of its root) applied to dest, a local directory that holds what dir held
 * at the overlay's base (production once the takeover ends, or a copy).
 * Per change, what it replaces or removes must be in dest as in the base
 * (same type; a non-directory with the same size, mtime, mode and owner, a
 * symlink the same target) and what it adds must not be there: else the
 * change is a conflict and is not applied (nor what lies below a directory
 * that is one), unless CDP_APPLY_FORCE.  Files changed in place get only
 * the overlay's blocks written; others are written whole under a
 * temporary name and renamed in; directories' attributes last.
 * CDP_APPLY_DRY_RUN writes nothing.  fn (may be NULL) gets each change
 * with NULL (applied, or would be) or the conflict's reason.  -ENOTDIR or
 * -ENOENT for dest, or the first failure (one line in err; what was
 * applied before it stays applied).  A durable marker "DIR/.BASE.cdpfs-
 * apply-incomplete" beside dest lives from before the first change until
 * everything is applied and synced (syncfs); while it is there dest is
 * partly applied and an apply is refused (-EBUSY, err says what to do).
 */
enum cdp_apply_flags {
	CDP_APPLY_DRY_RUN = 1 << 0,
	CDP_APPLY_FORCE = 1 << 1,
};
struct cdp_apply_summary {
	uint64_t applied, conflicts;
	uint64_t bytes_written;
	uint64_t owner_failures, xattr_failures;
};
typedef void (*cdp_apply_fn)(void *arg, const struct cdp_change *c, const char *conflict);
int cdp_overlay_apply(struct cdp_overlay *o, const char *dir, const char *dest, unsigned flags,
		      cdp_apply_fn fn, void *arg, struct cdp_apply_summary *sum, char *err,
		      size_t errlen);

/* -------------------------------------------------------------- log */

/* What a version of a file did (cdp_file_version.what), bit values. */
enum cdp_version_what {
	CDP_VER_CREATE = 1 << 0,    /* first version: the file appeared */
	CDP_VER_WRITE = 1 << 1,     /* data blocks written */
	CDP_VER_TRUNCATE = 1 << 2,  /* size lowered (or blocks zeroed without a write) */
	CDP_VER_RENAME = 1 << 3,    /* a name moved: from -> to */
	CDP_VER_CHMOD = 1 << 4,
	CDP_VER_CHOWN = 1 << 5,
	CDP_VER_UTIMENS = 1 << 6,   /* times set without a write */
	CDP_VER_XATTR = 1 << 7,
	CDP_VER_LINK = 1 << 8,      /* a name added */
	CDP_VER_UNLINK = 1 << 9,    /* a name removed */
	CDP_VER_DELETE = 1 << 10,   /* its last name removed: gone */
	CDP_VER_EXTEND = 1 << 11,   /* size raised without a write (truncate up) */
	CDP_VER_BASELINE = 1 << 12, /* recorded by a baseline or resync walk */
};

/* One version: an op (seq) that changed the file. */
struct cdp_file_version {
	uint64_t seq;
	int64_t ts_ns;
	unsigned what;                /* enum cdp_version_what */
	uint64_t size;                /* size after (0 once deleted) */
	uint64_t blocks_changed;      /* block versions written by this op */
	const char *path;             /* a path of the file after the op (before, when deleted) */
	const char *from, *to;        /* RENAME: old and new path; LINK: to; UNLINK: from */
};

/*
 * Every version of the file that was last at path (the file that is there
 * at until_seq, or, when nothing is, the last one that was there before),
 * in seq order, from since_seq to until_seq (inclusive; 0 and
 * CDP_SEQ_LATEST for all), following the file (its fid) across renames;
 * its history ends at its deletion.  The kind of change is derived from
 * the index (docs/design.md, "cdpfs log"): the attribute record against
 * the previous one (mode, owner, size, times), the block versions of the
 * op, its xattr versions, and the directory entries that gained or lost
 * the file at that seq.  *fid gets the file.  fn returns non-zero to stop.
 * -ENOENT when no file was ever at path before until_seq, -EINVAL for a
 * relative path, -ENOMEM, -EIO.
 */
typedef int (*cdp_version_fn)(void *arg, const struct cdp_file_version *v);
int cdp_file_log(struct cdp_store *s, const char *host, const char *path, uint64_t since_seq,
		 uint64_t until_seq, uint64_t *fid, cdp_version_fn fn, void *arg);

/* The path of each of n files at seq (the name it had then, else the last
 * one it had before), heap strings in paths (NULL: never named), from one
 * pass over the host's entries.  CDP_ENOHOST, -ENOMEM, -EIO. */
int cdp_fid_paths(struct cdp_store *s, const char *host, uint64_t seq, const uint64_t *fids,
		  size_t n, char **paths);

/* The seq of the newest op at or before ts_ns (0 when none; CDP_TS_LATEST:
 * the newest) and its instant, for since/until bounds given as instants. */
int cdp_host_seq_at(struct cdp_store *s, const char *host, int64_t ts_ns, uint64_t *seq,
		    int64_t *op_ts_ns);

/* --------------------------------------------------------- activity */

/* The counters of the activity summary (store/activity.c), in this order. */
enum cdp_act_counter {
	CDP_ACT_OPS,        /* operations journaled */
	CDP_ACT_BYTES,      /* bytes of the data blocks they wrote (whole blocks) */
	CDP_ACT_CREATED,    /* entries added (files, directories, links) */
	CDP_ACT_DELETED,    /* entries removed */
	CDP_ACT_RENAMED,    /* renames */
	CDP_ACT_TRUNCATED,  /* files cut to zero: overwritten whole (O_TRUNC) */
	CDP_ACT_SCORE,      /* the anomaly score of store/suspect.c: files overwritten
			     * with random data plus renames to a new extension (0
			     * in records of version 1, and with detection off) */
	CDP_ACT_COUNTERS
};
#define CDP_ACT_LEVELS 3    /* seconds, minutes, hours */

/* One interval: seconds long, from start_ns. */
struct cdp_activity {
	int64_t start_ns;
	int64_t seconds;
	uint64_t c[CDP_ACT_COUNTERS];
};
typedef int (*cdp_activity_fn)(void *arg, const struct cdp_activity *a);

/*
 * Calls fn for each interval of per_s seconds (aligned to the epoch) with
 * activity between since_ns and until_ns, in order, from the summary the
 * writer keeps (per second, minute and hour: the coarsest level that
 * divides per_s is read, so a month by the hour reads ~720 records): of
 * the whole host with root_id 0, else of the ops of that protected
 * directory (those that named it, cdp_op_set_root(): capture's).
 * Intervals without operations are not reported; history journaled before
 * the summary existed has none (nor before 2026-12-02 15:00 per
 * directory).  -EINVAL (per_s < 1), CDP_ENOHOST, -EIO.
 */
int cdp_activity_read(struct cdp_store *s, const char *host, uint32_t root_id, int64_t since_ns,
		      int64_t until_ns, int64_t per_s, cdp_activity_fn fn, void *arg);

/* --------------------------------------------------------- suspects */

/* An interval of suspected mass damage (store/suspect.c says the model). */
struct cdp_suspect_interval {
	int64_t start_ns;       /* its first scored operation */
	int64_t end_ns;         /* its last one so far */
	int64_t last_good_ns;   /* 1 ns before start: the candidate for recovery */
	uint32_t max_score;     /* the highest score of one of its seconds */
	uint64_t overwritten;   /* files overwritten with random data */
	uint64_t renamed;       /* renames to a new extension */
	uint64_t deleted, truncated;
	size_t nfids;
	uint64_t fids[16];      /* the first files it hit */
};
typedef int (*cdp_suspect_fn)(void *arg, const struct cdp_suspect_interval *si);
/* Every suspect interval of host in order, after waiting (as a view of now
 * does) for what was journaled before the call.  CDP_ENOHOST, -EIO,
 * CDP_ECORRUPT. */
int cdp_suspects(struct cdp_store *s, const char *host, cdp_suspect_fn fn, void *arg);

/* ---------------------------------------------------------- restore */

enum cdp_restore_flags {
	CDP_RESTORE_DRY_RUN = 1 << 0,   /* read and verify nothing, write nothing: list */
	CDP_RESTORE_OVERWRITE = 1 << 1, /* dest may exist: what is restored replaces it */
};

struct cdp_restore_progress {
	uint64_t files_total, bytes_total;  /* what the restore will write */
	uint64_t files_done, bytes_done;
	uint64_t dirs, symlinks, specials, hardlinks;
	uint64_t holes_bytes;               /* bytes of holes left as holes */
	uint64_t replaced;                  /* existing entries replaced (OVERWRITE) */
	uint64_t kept;                      /* existing entries under dest not in the tree */
	uint64_t xattr_failures;            /* xattrs the destination refused (logged) */
	uint64_t owner_failures;            /* chown refused (not root; logged) */
	const char *current;                /* the path being written (valid in the callback) */
};

/*
 * Writes the file or tree at path in view v to dest, a path of the local
 * filesystem: regular files with their holes (only blocks holding data are
 * written; the size is set with ftruncate), directories, symlinks, fifos,
 * sockets and device nodes (mknod: root only, else an error), hard links
 * (a file with several names in the tree is written once and linked), and
 * each entry's mode, owner (when permitted), xattrs (POSIX ACLs are the
 * system.posix_acl_* xattrs) and atime/mtime, directories' times set after
 * their entries.  Every chunk read is verified: a chunk that fails is -EIO
 * and a message naming the path in err, never wrong bytes.  Each regular
 * file is written under a temporary name in its directory and renamed into
 * place, so a failed restore leaves no half file under a restored name.
 * dest must not exist unless CDP_RESTORE_OVERWRITE (-EEXIST); with it, an
 * existing entry of another type is removed first, a directory is merged
 * into (entries under it that are not in the tree are kept and counted).
 * dest's parent must exist (-ENOENT).  What is restored is synced (syncfs)
 * before 0 is returned.  A dest that did not exist is built as
 * "DIR/.BASE.cdpfs-restore-partial" and renamed to dest once whole (a
 * failure removes it; one left by a killed restore is removed first); an
 * existing one is written between a durable marker "DIR/.BASE.cdpfs-
 * restore-incomplete" and its removal: while it is there -EEXIST without
 * CDP_RESTORE_OVERWRITE says dest is partly restored.  progress (may be NULL) is called
 * with the totals first (after an index-only walk that counts them), then
 * at least at every file; fn's st is the caller's to read only.  err gets
 * one line on failure.  Returns 0 or a negative errno / CDP_E*.
 */
typedef void (*cdp_restore_progress_fn)(void *arg, const struct cdp_restore_progress *st);
typedef void (*cdp_restore_list_fn)(void *arg, char op, const char *path, uint32_t type,
				    uint64_t size);
int cdp_restore(struct cdp_view *v, const char *path, const char *dest, unsigned flags,
		cdp_restore_progress_fn progress, cdp_restore_list_fn list, void *arg,
		struct cdp_restore_progress *summary, char *err, size_t errlen);

#endif /* CDP_QUERY_H */
