/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay.h - the contract of a writable copy-on-write overlay of one past
 * instant (part of libcdpstore; nothing here knows about FUSE).
 *
 * An overlay is a directory of its own (by default STORE/overlays/NAME):
 * a small RocksDB index of what changed and one sparse delta file per
 * changed regular file.  The base is a struct cdp_view, which is only ever
 * read: the store's log and index are never written through an overlay.
 *
 * Identity.  Objects are named by 64-bit ids in the fid space of the base:
 * an object of the base keeps its fid, an object created in the overlay
 * gets an id at or above CDP_OVL_FIRST_NEW_ID, which no fid reaches.
 *
 * Copy-on-write is per block of the store's block size: the first write to
 * a block of a large base file copies that one block into the file's delta
 * file, never the file.  A block of an overlaid file reads, in this order,
 * from the delta file (if the block was written in the overlay), as zeros
 * (if it was punched or zeroed), from the base (if it lies below the
 * file's base limit: the smallest size the file has had since the base,
 * so a truncate then extend reads zeros and never the old bytes), or as
 * zeros.  Directories merge their base entries with the overlay's, an
 * overlay entry (or a whiteout) hiding the base entry of the same name.
 *
 * Durability.  Changes reach the index without a sync; cdp_overlay_fsync()
 * makes every change so far durable (delta data first, then the index).
 * Order within an operation: delta data is written before the index
 * records that point to it.
 *
 * Concurrency.  Every function is thread-safe.  One process at a time
 * mounts an overlay (an exclusive lock on its lock file); a second gets
 * -EBUSY.
 *
 * Errors: 0 (or a count) on success, -errno on failure as the matching
 * system call would give it (-ENOENT, -EEXIST, -ENOTEMPTY, -ENOSPC, ...),
 * CDP_ECORRUPT on a damaged overlay index.
 */
#ifndef CDP_OVERLAY_H
#define CDP_OVERLAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

#define CDP_OVL_FORMAT_VERSION 1
#define CDP_OVL_FIRST_NEW_ID (1ULL << 62)
#define CDP_OVL_NAME_MAX 64

struct cdp_overlay;

/* What overlay.info records (a small text file, see docs/format.md). */
struct cdp_overlay_info {
	char *name;              /* heap */
	char *host;              /* heap */
	char *dir;               /* mounted directory on the host, "/" for all (heap) */
	int64_t requested_ts_ns; /* the instant asked for, resolved */
	int64_t base_ts_ns;      /* instant of the newest op in the base view */
	uint64_t base_seq;
	int64_t created_ts_ns;
	int64_t last_used_ts_ns;
	int is_private;          /* discarded when its mount ends */
	/* filled by cdp_overlay_list() and cdp_overlay_read_info() */
	char *path;              /* the overlay directory (heap) */
	uint64_t size_bytes;     /* space it takes on disk */
	int mounted;             /* a live process holds it */
};

void cdp_overlay_info_release(struct cdp_overlay_info *info);

/* 1 when name may name an overlay: 1-64 of [A-Za-z0-9._-], not starting
 * with '.' or '-'. */
int cdp_overlay_name_valid(const char *name);

/*
 * Creates an empty overlay in directory path (which must not exist; its
 * parent must) recording info (name, host, dir, instants, is_private).
 * -EEXIST when path exists.
 */
int cdp_overlay_create(const char *path, const struct cdp_overlay_info *info);

/* Reads path/overlay.info into *info (caller releases).  -ENOENT when path
 * holds no overlay, CDP_EVERSION for another format, CDP_ECORRUPT. */
int cdp_overlay_read_info(const char *path, struct cdp_overlay_info *info);

/*
 * Opens the overlay in path over base (which must be the view at the
 * overlay's base seq, and outlives the overlay), serving base_root_fid's
 * subtree.  Takes the overlay's lock (-EBUSY when another process holds
 * it), drops files that were unlinked while open in an earlier mount, and
 * records the use.  *out is owned by the caller: cdp_overlay_close().
 */
int cdp_overlay_open(const char *path, struct cdp_view *base, uint64_t base_root_fid,
		     uint32_t block_size, struct cdp_overlay **out);
/* Syncs, releases the lock and frees.  NULL does nothing. */
void cdp_overlay_close(struct cdp_overlay *o);
/* Removes the overlay directory path and all it holds.  -EBUSY when a live
 * process holds its lock. */
int cdp_overlay_destroy(const char *path);

/*
 * The overlays registered in a store (STORE/overlays/ entries: directories,
 * or symlinks to overlays kept in another directory), sorted by name, with
 * size and mounted state.  Private overlays whose process is gone are
 * removed on the way.  Free with cdp_overlay_list_free().
 */
int cdp_overlay_list(const char *store_path, struct cdp_overlay_info **out, size_t *n);
void cdp_overlay_list_free(struct cdp_overlay_info *list, size_t n);

/* ---------------------------------------------------------- operations */

/* Who asks, for the owner of what is created (setgid directories pass
 * their group on, as on Linux filesystems). */
struct cdp_ovl_ctx {
	uint32_t uid, gid;
};

/* -ENOENT for an id that does not exist (any more).  a->blocks is what
 * stat(2) reports as st_blocks: the captured value for an object of the
 * base the overlay has not changed; for a changed regular file the base
 * blocks with data it still shows plus what its delta file holds (about
 * what a native copy on the overlay's disk would take; zeroed ranges count
 * as holes); CDP_BLOCKS_UNKNOWN for records that predate the count. */
int cdp_overlay_getattr(struct cdp_overlay *o, uint64_t id, struct cdp_attr *a);
int cdp_overlay_lookup(struct cdp_overlay *o, uint64_t parent, const char *name,
		       uint64_t *child, struct cdp_attr *a);
ssize_t cdp_overlay_readlink(struct cdp_overlay *o, uint64_t id, char *buf, size_t size);

/*
 * Calls fn for every entry of directory dir in name order (base and
 * overlay merged); fn returns non-zero to stop, and that value is returned.
 */
int cdp_overlay_readdir(struct cdp_overlay *o, uint64_t dir, cdp_dirent_fn fn, void *arg);

/* Creates a regular file, directory, fifo, socket or device node (mode
 * carries S_IFMT). -EEXIST, -ENOENT, -ENOTDIR. */
int cdp_overlay_mknod(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
		      const char *name, uint32_t mode, uint64_t rdev, uint64_t *id,
		      struct cdp_attr *a);
int cdp_overlay_symlink(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
			const char *name, const char *target, uint64_t *id, struct cdp_attr *a);
/* A new name for id (not a directory: -EPERM). */
int cdp_overlay_link(struct cdp_overlay *o, uint64_t id, uint64_t newparent,
		     const char *newname, struct cdp_attr *a);
int cdp_overlay_unlink(struct cdp_overlay *o, uint64_t parent, const char *name);
int cdp_overlay_rmdir(struct cdp_overlay *o, uint64_t parent, const char *name);
/*
 * flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE, or RENAME_WHITEOUT (with
 * or without RENAME_NOREPLACE), which leaves at the old name what ext4
 * leaves: a character device 0:0 with mode 0, owned as a new node made by
 * ctx (which may be NULL without RENAME_WHITEOUT) in parent, all in one
 * batch with the move.  That device is an ordinary object, listed and
 * removable; it has nothing to do with the overlay's own hiding of base
 * names.  -EINVAL for unknown or contradictory flags.
 */
int cdp_overlay_rename(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
		       const char *name, uint64_t newparent, const char *newname, unsigned flags);

enum cdp_ovl_set {
	CDP_OVL_SET_MODE = 1 << 0,
	CDP_OVL_SET_UID = 1 << 1,
	CDP_OVL_SET_GID = 1 << 2,
	CDP_OVL_SET_SIZE = 1 << 3,
	CDP_OVL_SET_ATIME = 1 << 4,
	CDP_OVL_SET_MTIME = 1 << 5,
	CDP_OVL_SET_ATIME_NOW = 1 << 6,
	CDP_OVL_SET_MTIME_NOW = 1 << 7,
	CDP_OVL_SET_CTIME = 1 << 8,
};

/* Changes the fields named by to_set (enum cdp_ovl_set) from a; the ctime
 * becomes now.  *out gets the attributes after.  A size change is a
 * truncate (-EISDIR on a directory). */
int cdp_overlay_setattr(struct cdp_overlay *o, uint64_t id, const struct cdp_attr *a,
			unsigned to_set, struct cdp_attr *out);

ssize_t cdp_overlay_read(struct cdp_overlay *o, uint64_t id, void *buf, size_t len,
			 uint64_t off);
/* Writes len bytes at off; returns len.  -ENOSPC when the overlay's disk
 * is full (nothing of the write is recorded, the base is untouched). */
ssize_t cdp_overlay_write(struct cdp_overlay *o, uint64_t id, const void *buf, size_t len,
			  uint64_t off);
/* As fallocate(2): mode 0 or FALLOC_FL_KEEP_SIZE reserve (and may extend);
 * FALLOC_FL_PUNCH_HOLE|KEEP_SIZE and FALLOC_FL_ZERO_RANGE zero the range;
 * other modes -EOPNOTSUPP (COLLAPSE_RANGE and INSERT_RANGE never come
 * through FUSE: the kernel refuses them before asking). */
int cdp_overlay_fallocate(struct cdp_overlay *o, uint64_t id, int mode, uint64_t off,
			  uint64_t len);
/*
 * As lseek(2) SEEK_DATA (want_data 1) or SEEK_HOLE (0), at block
 * granularity, as cdp_view_seek: blocks in the delta file are data,
 * zeroed ones and blocks past the base limit are holes, the others are
 * the base's (data where it had data).  The end of the file counts as a
 * hole.  -ENXIO when off is at or past the end, or no data follows it;
 * -EISDIR.  One index seek per overlaid block or run of them, as many in
 * the base as cdp_view_seek.  Nothing here knows the kernel's page cache:
 * the caller must not answer from this while pages written through a
 * shared mapping may still be dirty in the kernel.
 */
int cdp_overlay_seek(struct cdp_overlay *o, uint64_t id, uint64_t off, int want_data,
		     uint64_t *pos);

/* Makes every change so far durable (datasync or not: both sync all). */
int cdp_overlay_fsync(struct cdp_overlay *o, uint64_t id);

ssize_t cdp_overlay_getxattr(struct cdp_overlay *o, uint64_t id, const char *name, void *buf,
			     size_t size);
ssize_t cdp_overlay_listxattr(struct cdp_overlay *o, uint64_t id, char *buf, size_t size);
/* flags: 0, XATTR_CREATE or XATTR_REPLACE. */
int cdp_overlay_setxattr(struct cdp_overlay *o, uint64_t id, const char *name,
			 const void *value, size_t size, int flags);
int cdp_overlay_removexattr(struct cdp_overlay *o, uint64_t id, const char *name);

/* statvfs(2) of the filesystem the overlay's data lives on (its directory):
 * what the overlay can still grow by, and the block size new data really
 * gets.  -errno of statvfs. */
struct statvfs;
int cdp_overlay_statvfs(struct cdp_overlay *o, struct statvfs *sv);

#endif /* CDP_OVERLAY_H */
