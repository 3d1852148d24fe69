/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs_int.h - internals of the time-travel mount shared by fs/mount.c (option
 * parsing, validation, daemon) and fs/ll.c (the FUSE low-level operations).
 *
 * A mount serves one struct cdp_view, resolved once when the mount starts:
 * the past does not change, so nothing here is ever invalidated.  Node ids
 * are fids; the only exception is the mount's root, whose fid travels as
 * FUSE_ROOT_ID.  No node table is kept, so forget() is a no-op.
 */
#ifndef CDP_FS_INT_H
#define CDP_FS_INT_H

#include <stdint.h>

#include "store.h"

/* Kernel caches entries and attributes this long: the past is immutable. */
#define CDP_FS_TIMEOUT_S (24.0 * 3600.0)
/* Largest read and readahead we ask the kernel for. */
#define CDP_FS_MAX_READ_BYTES (1024u * 1024u)

/* Options of -o, filled through a fuse_opt table in fs/mount.c. */
struct cdp_fs_opts {
	char *store;        /* store=DIR (heap, owned) */
	char *log;          /* log=FILE: the daemon's log lines (heap, owned) */
	int ro;
	int rw;
	int allow_other;    /* -1: default (on when root) */
	int debug;
};

/* One mounted instant.  Every field is set before the session starts and
 * read-only afterwards, so the worker threads share it without a lock. */
struct cdp_fs {
	struct cdp_store *store;
	struct cdp_view *view;
	uint64_t root_fid;        /* served as FUSE_ROOT_ID */
	uint32_t block_size;
	char *store_path;         /* heap, owned */
};

/* fs/ll.c: the operations table, with struct cdp_fs * as userdata. */
struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops cdp_fs_ll_ops;

#endif /* CDP_FS_INT_H */
