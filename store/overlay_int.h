/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay_int.h - what the files of the overlay module share: struct
 * cdp_overlay and its locks, the in-memory object (struct ovl_ino), index
 * keys, the transaction of one operation, and the functions each file
 * offers the others.  overlay.c opens and closes an overlay (and holds the
 * format of its directory and index), overlay_info.c its overlay.info, lock
 * file and listing, overlay_index.c the index codec and transactions,
 * overlay_dir.c entries, readdir and names, overlay_data.c delta files,
 * reads, writes and allocation, overlay_xattr.c extended attributes.  Only
 * those files include this one.
 */
#ifndef CDP_OVERLAY_INT_H
#define CDP_OVERLAY_INT_H

#include <pthread.h>
#include <stdint.h>

#include "store_int.h"
#include "overlay.h"


#define OVL_INFO_LINE "cdpfs overlay format 1"
#define OVL_STRIPES 64
#define OVL_FD_SLOTS 64
#define OVL_XATTR_MAX (64u * 1024u)
#define OVL_KEY_MAX (1 + 8 + CDP_NAME_MAX + 8)
/* A private overlay is made, then locked when its mount opens it; list
 * leaves unlocked ones younger than this alone (a mount in the making). */
#define OVL_PRIVATE_GRACE_NS (60LL * 1000000000LL)

enum { OVI_BASE = 1 << 0, OVI_OWN_XATTRS = 1 << 1 };

struct fd_slot {
	uint64_t id;
	int fd;              /* -1: free */
	unsigned refs;
	uint64_t tick;
	int dirty;           /* written since its last fdatasync */
};

struct cdp_overlay {
	char *path;
	struct cdp_view *base;
	uint64_t root_fid;
	uint32_t bs;
	uint32_t granule;        /* allocation unit of the overlay's disk, at most bs */
	int lock_fd;
	rocksdb_t *db;
	rocksdb_options_t *dbopts;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wopts;
	pthread_mutex_t lock;
	uint64_t next_id;                    /* protected by lock */
	pthread_rwlock_t stripes[OVL_STRIPES];
	pthread_mutex_t fd_lock;
	struct fd_slot fds[OVL_FD_SLOTS];    /* protected by fd_lock */
	uint64_t fd_tick;                    /* protected by fd_lock */
	int sync_error;                      /* protected by fd_lock */
};

/* An object as the overlay sees it: its own record, or its base's. */
struct ovl_ino {
	uint32_t flags;
	uint64_t base_limit;
	struct cdp_attr a;
	char *target;        /* heap: an overlay symlink's target, else NULL */
	int own;             /* the record is the overlay's (else from the base) */
};

struct okey {
	size_t len;
	uint8_t b[OVL_KEY_MAX];
};

/*
 * One operation's objects: loaded once, changed in memory, written in the
 * operation's batch, so that an operation touching an object twice (a
 * rename within one directory) composes.
 */
#define TXN_MAX 6
struct txn {
	struct cdp_overlay *o;
	rocksdb_writebatch_t *wb;
	int n;
	struct {
		uint64_t id;
		struct ovl_ino in;
	} ent[TXN_MAX];
};

static inline int64_t now_ns(void)
{
	return cdp_now_ns();
}

/* overlay.c: data/ID, the delta file of object id, into buf; fsync of
 * the data/ directory (after a delta file is created). */
void cdp_ovl_delta_path(const struct cdp_overlay *o, uint64_t id, char *buf, size_t size);
void cdp_ovl_sync_data_dir(struct cdp_overlay *o);

/* overlay_info.c: writes overlay.info in path atomically (temp file,
 * fsync, rename, fsync of the directory).  -errno. */
int cdp_ovl_write_info(const char *path, const struct cdp_overlay_info *info);

/* overlay_index.c.  Keys: tag and id ('I', 'O'), tag, id and name ('E',
 * 'X'), a block state ('B'), a meta name ('M'). */
void cdp_ovl_key_id(struct okey *k, char tag, uint64_t id);
void cdp_ovl_key_name(struct okey *k, char tag, uint64_t id, const char *name);
void cdp_ovl_key_block(struct okey *k, uint64_t id, uint64_t block);
void cdp_ovl_key_meta(struct okey *k, const char *name);
/* Maps a RocksDB error (freed; NULL: none) to 0 or an errno, ENOSPC above
 * all (the application must see it), logging it. */
int cdp_ovl_err(char *err);
/* *val: heap (rocksdb_free), NULL when absent. */
int cdp_ovl_get(struct cdp_overlay *o, const struct okey *k, char **val, size_t *len);
/* Writes the batch (no sync: cdp_overlay_fsync syncs). */
int cdp_ovl_write(struct cdp_overlay *o, rocksdb_writebatch_t *wb);
/* Destroys it; -EIO (and a log line) when it ended on an error rather than
 * at the end of its keys: a damaged index must not look like fewer
 * records. */
int cdp_ovl_iter_done(rocksdb_iterator_t *it);
void cdp_ovl_wb_put(rocksdb_writebatch_t *wb, const struct okey *k, const void *v, size_t len);
void cdp_ovl_wb_del(rocksdb_writebatch_t *wb, const struct okey *k);
/* Loads object id: the overlay's record, else the base's attributes.
 * -ENOENT when neither has it.  Release with cdp_ovl_ino_release. */
int cdp_ovl_ino_get(struct cdp_overlay *o, uint64_t id, struct ovl_ino *in);
/* Puts id's 'I' record (the overlay's own from now on) into wb. */
int cdp_ovl_ino_put(rocksdb_writebatch_t *wb, uint64_t id, const struct ovl_ino *in);
void cdp_ovl_ino_release(struct ovl_ino *in);
/* Transactions: init, then txn_ino loads each object once (at most
 * TXN_MAX; *out lives until release), commit writes every loaded object
 * and the batch, release frees (always, committed or not). */
void cdp_ovl_txn_init(struct txn *t, struct cdp_overlay *o);
int cdp_ovl_txn_ino(struct txn *t, uint64_t id, struct ovl_ino **out);
int cdp_ovl_txn_commit(struct txn *t);
void cdp_ovl_txn_release(struct txn *t);
/* A directory lost a subdirectory's "..": never below 2. */
void cdp_ovl_dir_unlink_sub(struct ovl_ino *dir);
/* mtime and ctime to now. */
void cdp_ovl_touch_mc(struct ovl_ino *in, int64_t now);

/* overlay_data.c.  sync_dirty: fdatasync of every delta file written
 * since its last sync, the first error met since the last call.
 * report_blocks: a->blocks as stat(2) reports it for object id. */
int cdp_ovl_sync_dirty(struct cdp_overlay *o);
void cdp_ovl_report_blocks(struct cdp_overlay *o, uint64_t id, const struct ovl_ino *in,
			   struct cdp_attr *a);

#endif /* CDP_OVERLAY_INT_H */
