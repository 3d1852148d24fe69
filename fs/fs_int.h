/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs_int.h - internals of the time-travel mount shared by fs/mount.c
 * (validation, daemon), fs/ovl_setup.c (the overlay of -o rw), fs/ll.c and
 * fs/ovl_ll.c (the FUSE low-level operations); fs/spec.h has the parsing.
 *
 * A mount serves one struct cdp_view, resolved once when the mount starts:
 * the past does not change, so nothing here is ever invalidated.  Node ids
 * are fids; the only exception is the mount's root, whose fid travels as
 * FUSE_ROOT_ID.  No node table is kept, so forget() is a no-op.
 */
#ifndef CDP_FS_INT_H
#define CDP_FS_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"
#include "overlay.h"
#include "fs/spec.h"

/* Kernel caches entries and attributes this long: the past is immutable. */
#define CDP_FS_TIMEOUT_S (24.0 * 3600.0)
/* Largest read and readahead we ask the kernel for. */
#define CDP_FS_MAX_READ_BYTES (1024u * 1024u)

/* fs/ovl_ll.c: the objects of an overlay with a file handle open for
 * writing, counted from open to release.  Only they can have pages the
 * kernel has not written back yet (through a shared writable mapping,
 * written back at msync, close or munmap), which SEEK_DATA must not
 * miss. */
#define CDP_FS_WRITER_BUCKETS 64
struct cdp_fs_writer;
struct cdp_fs_writers {
	pthread_mutex_t lock;
	struct cdp_fs_writer *bucket[CDP_FS_WRITER_BUCKETS];   /* protected by lock */
};

/* One mounted instant.  Every field is set before the session starts and
 * read-only afterwards, so the worker threads share it without a lock
 * (writers has a lock of its own; the overlay's init sets it up). */
struct cdp_fs {
	struct cdp_store *store;
	struct cdp_view *view;
	struct cdp_overlay *ovl;  /* -o rw: the writable overlay, else NULL */
	char *ovl_path;           /* its directory (heap, owned) */
	int ovl_private;          /* discarded when the mount ends */
	uint64_t root_fid;        /* served as FUSE_ROOT_ID */
	uint32_t block_size;      /* the store's (copy-on-write granularity) */
	/* st_blksize and the fallback block unit: f_bsize of the disk the
	 * data lives on (the overlay's directory, else the store's), 512 to
	 * 1 MiB, a power of two; 4096 when statvfs says nothing usable */
	uint32_t io_blksize;
	char *store_path;         /* heap, owned */
	struct cdp_fs_writers writers;
};

/* fs/ll.c: the read-only operations table, with struct cdp_fs * as
 * userdata, and the conversions both tables share. */
struct fuse_lowlevel_ops;
struct fuse_req;
struct stat;
extern const struct fuse_lowlevel_ops cdp_fs_ll_ops;
/* Store errors that are not errnos become EIO for the kernel; each EIO
 * reply counts as a read error of the mount. */
int cdp_fs_errno(int err);
/* Read errors: the first CDP_FS_READ_ERROR_FIDS files (fids, or overlay
 * object ids, which are the base's fids for its objects) whose reads
 * failed are kept; at unmount, when any reply was EIO, the mount logs
 * one line "store read errors: N; files: FID FID..." (or "-"), which
 * `cdpfs drill` and `cdpfs bisect` read from the mount's log
 * (docs/format.md, report.json read_errors). */
#define CDP_FS_READ_ERROR_FIDS 16
#define CDP_FS_READ_ERRORS_LINE "store read errors:"
void cdp_fs_note_read_error(uint64_t fid);
void cdp_fs_log_read_errors(void);
/* st_ino is fid; st_blksize is fs->io_blksize; st_blocks as recorded, or
 * the size rounded up to io_blksize. */
void cdp_fs_attr_to_stat(const struct cdp_fs *fs, uint64_t fid, const struct cdp_attr *a,
			 struct stat *st);

/* Node ids are object ids, but the mount's root travels as FUSE's root
 * id (1): both tables map through these. */
static inline uint64_t cdp_fs_id_of(const struct cdp_fs *fs, uint64_t ino)
{
	return ino == 1 ? fs->root_fid : ino;
}

static inline uint64_t cdp_fs_ino_of(const struct cdp_fs *fs, uint64_t id)
{
	return id == fs->root_fid ? 1 : id;
}

/* Answers a read request of size bytes at off (at most
 * CDP_FS_MAX_READ_BYTES) with what read(arg, buf, size, off) returns (a
 * count or -errno). */
void cdp_fs_reply_read(struct fuse_req *req, size_t size, off_t off,
		       ssize_t (*read)(void *arg, void *buf, size_t size, uint64_t off),
		       void *arg);

/* Answers an lseek request: SEEK_DATA or SEEK_HOLE from off (>= 0) with
 * what seek(arg, id, off, data, &pos) returns (0 or -errno); any other
 * whence is EINVAL, a negative off ENXIO (the kernel answers SEEK_SET,
 * SEEK_CUR and SEEK_END itself). */
void cdp_fs_reply_seek(struct fuse_req *req, uint64_t id, off_t off, int whence,
		       int (*seek)(void *arg, uint64_t id, uint64_t off, int data, uint64_t *pos),
		       void *arg);

/* forget and forget_multi of both tables: no node table is kept, any id
 * can be resolved again at any time. */
struct fuse_forget_data;
void cdp_fs_forget(struct fuse_req *req, uint64_t ino, uint64_t nlookup);
void cdp_fs_forget_multi(struct fuse_req *req, size_t count, struct fuse_forget_data *forgets);

/* Answers a getxattr/listxattr request of the given size (0: the length
 * only) with what query(arg, buf, size) returns (a length or -errno). */
void cdp_fs_reply_xattr(struct fuse_req *req, size_t size,
			ssize_t (*query)(void *arg, void *buf, size_t size), void *arg);

/* fs/ovl_ll.c: the operations table of a writable overlay (-o rw): every
 * call goes to fs->ovl, which reads the base through fs->view. */
extern const struct fuse_lowlevel_ops cdp_fs_ovl_ops;
/* Entry and attribute timeout of an overlay: the kernel sees every change
 * (they all come through it), so caching is safe; kept short anyway. */
#define CDP_FS_OVL_TIMEOUT_S 1.0

/* One mount request as fs/mount.c carries it from the caller to the
 * serving process: parsed once, then read-only. */
struct cdp_mount_request;
struct cdp_fs_launch {
	const struct cdp_mount_request *req;
	struct cdp_fs_opts opts;
	char *vfs;                  /* VFS flags for the kernel (heap) */
	char *host, *dir, *time_text;
	const char *store_path;
	char mountpoint[PATH_MAX];
	char store_abs[PATH_MAX];
};

/* fs/ovl_setup.c: st_blksize for a mount whose data lives on sv's
 * filesystem (statvfs_ret what statvfs returned): its f_bsize within 512 B
 * to 1 MiB and a power of two, else 4096. */
struct statvfs;
uint32_t cdp_fs_io_blksize_of(int statvfs_ret, const struct statvfs *sv);
/* The record of the named overlay l->opts.overlay, for a SPEC that names no
 * time; it must be of l's host and directory.  One error line in err. */
int cdp_fs_overlay_resume_info(const struct cdp_fs_launch *l, struct cdp_overlay_info *info,
			       char *err, size_t errlen);
/* Finds or creates the overlay of a -o rw mount and opens it over fs->view
 * (fs->ovl, fs->ovl_path, fs->ovl_private, fs->io_blksize).  One error line
 * in err. */
int cdp_fs_overlay_prepare(struct cdp_fs *fs, const struct cdp_fs_launch *l, char *err,
			   size_t errlen);

#endif /* CDP_FS_INT_H */
