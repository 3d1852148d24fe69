/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay.c - writable copy-on-write overlays of a past instant: the
 * overlay's own index (RocksDB), its delta files, and the merge of both
 * with the read-only base view.  The contract is overlay.h.  This file
 * opens and closes an overlay; the rest of the module is overlay_info.c,
 * overlay_index.c, overlay_dir.c, overlay_data.c and overlay_xattr.c
 * (overlay_int.h says which does what).
 *
 * Layout of an overlay directory (format 1; docs/format.md mirrors this):
 *
 *   overlay.info   text: "cdpfs overlay format 1", then key=value lines
 *                  (name, host, dir, requested_ts_ns, base_ts_ns, base_seq,
 *                  created_ts_ns, last_used_ts_ns, private); replaced
 *                  atomically (write, fsync, rename)
 *   lock           flock(2)ed exclusively by the process serving the
 *                  overlay; holds its pid as text
 *   index/         RocksDB, one column family, keys below
 *   data/ID        delta file of object ID (16 hex digits): block n of the
 *                  file at offset n * block_size, sparse elsewhere and in
 *                  the zero granules of a 'D' block that were not written
 *
 * Index keys (integers big-endian, so a prefix scan is in order):
 *   'M' name                 meta: "format" u32, "next_id" u64
 *   'I' id                   inode: 'I', u32 flags, u64 base_limit, then
 *                            the store's attribute encoding ('B' layout;
 *                            for a regular file its blocks field is the
 *                            st_blocks still owed to the base, see
 *                            "allocation" below), then a symlink's
 *                            target; or 'G': a base object that is gone
 *                            (no fall-through)
 *   'E' parent name          entry: 'E', u64 child, u32 S_IFMT type; or a
 *                            whiteout 'W' hiding the base entry (codec:
 *                            cdp_ovl_entry_value_*, keys.c)
 *   'B' id u64 block         block state: 'D' (in the delta file) or 'Z'
 *   'X' id name              xattr: 'V' then the value
 *   'O' id                   orphan: no name left; purged at the next open
 *
 * Validity and recovery.  Delta data is written before the index batch
 * that marks its blocks 'D'; a crash between the two leaves bytes in a
 * delta file that no record points to, which reads never see (and which
 * a later copy-up of their block punches, never keeps).  Every
 * operation is one RocksDB write batch, so an operation is all there or
 * not at all after a crash.  Without an fsync the last changes may be
 * lost in a crash, as on any filesystem.
 *
 * Locks.  `lock` (one mutex) serialises every change of the index;
 * `stripes` (rwlocks by object id) order data: a write or truncate holds
 * its object's stripe for writing across its delta I/O and its index
 * batch, a read holds it for reading.  Order: stripe, then lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "overlay_int.h"

/* ------------------------------------------------------------ open/close */

static void fd_cache_close_all(struct cdp_overlay *o)
{
	int i;

	for (i = 0; i < OVL_FD_SLOTS; i++)
		if (o->fds[i].fd >= 0) {
			close(o->fds[i].fd);
			o->fds[i].fd = -1;
		}
}

void cdp_ovl_delta_path(const struct cdp_overlay *o, uint64_t id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/data/%016" PRIx64, o->path, id);
}

void cdp_ovl_sync_data_dir(struct cdp_overlay *o)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/data", o->path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Deletes every record and the delta file of object id. */
static void purge_object(struct cdp_overlay *o, rocksdb_writebatch_t *wb, uint64_t id)
{
	struct okey from, to;
	char path[PATH_MAX];

	cdp_ovl_key_id(&from, 'I', id);
	if (id < CDP_OVL_FIRST_NEW_ID)
		cdp_ovl_wb_put(wb, &from, "G", 1);   /* gone: the base's object stays hidden */
	else
		cdp_ovl_wb_del(wb, &from);
	cdp_ovl_key_block(&from, id, 0);
	cdp_ovl_key_block(&to, id + 1, 0);
	rocksdb_writebatch_delete_range(wb, (const char *)from.b, from.len,
					(const char *)to.b, to.len);
	cdp_ovl_key_id(&from, 'X', id);
	cdp_ovl_key_id(&to, 'X', id + 1);
	rocksdb_writebatch_delete_range(wb, (const char *)from.b, from.len,
					(const char *)to.b, to.len);
	cdp_ovl_key_id(&from, 'O', id);
	cdp_ovl_wb_del(wb, &from);
	cdp_ovl_delta_path(o, id, path, sizeof(path));
	unlink(path);
}

static int purge_orphans(struct cdp_overlay *o)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	rocksdb_iterator_t *it = rocksdb_create_iterator(o->db, o->ropts);
	struct okey k;
	int ret, n = 0;

	cdp_ovl_key_id(&k, 'O', 0);
	for (rocksdb_iter_seek(it, (const char *)k.b, 1); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen;
		const char *key = rocksdb_iter_key(it, &klen);

		if (klen != 9 || key[0] != 'O')
			break;
		purge_object(o, wb, get_u64be((const uint8_t *)key + 1));
		n++;
	}
	ret = cdp_ovl_iter_done(it);
	if (ret == 0 && n)
		ret = cdp_ovl_write(o, wb);
	rocksdb_writebatch_destroy(wb);
	return ret;
}

static int meta_init(struct cdp_overlay *o)
{
	struct okey k;
	char *val;
	size_t len;
	uint8_t v[8];
	int ret;

	cdp_ovl_key_meta(&k, "format");
	ret = cdp_ovl_get(o, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (val) {
		ret = len == 4 && get_u32be((const uint8_t *)val) == CDP_OVL_FORMAT_VERSION ? 0 :
		      -CDP_EVERSION;
		rocksdb_free(val);
		if (ret < 0)
			return ret;
	} else {
		rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

		put_u32be(v, CDP_OVL_FORMAT_VERSION);
		cdp_ovl_wb_put(wb, &k, v, 4);
		ret = cdp_ovl_write(o, wb);
		rocksdb_writebatch_destroy(wb);
		if (ret < 0)
			return ret;
	}
	cdp_ovl_key_meta(&k, "next_id");
	ret = cdp_ovl_get(o, &k, &val, &len);
	if (ret < 0)
		return ret;
	o->next_id = CDP_OVL_FIRST_NEW_ID;
	if (val) {
		if (len == 8)
			o->next_id = get_u64be((const uint8_t *)val);
		rocksdb_free(val);
	}
	return 0;
}

int cdp_overlay_open(const char *path, struct cdp_view *base, uint64_t base_root_fid,
		     uint32_t block_size, struct cdp_overlay **out)
{
	struct cdp_overlay_info info;
	struct cdp_overlay *o;
	char file[PATH_MAX], *err = NULL;
	int ret, i;

	*out = NULL;
	ret = cdp_overlay_read_info(path, &info);
	if (ret < 0)
		return ret;
	o = calloc(1, sizeof(*o));
	if (!o) {
		cdp_overlay_info_release(&info);
		return -ENOMEM;
	}
	o->lock_fd = -1;
	for (i = 0; i < OVL_FD_SLOTS; i++)
		o->fds[i].fd = -1;
	pthread_mutex_init(&o->lock, NULL);
	pthread_mutex_init(&o->fd_lock, NULL);
	for (i = 0; i < OVL_STRIPES; i++)
		pthread_rwlock_init(&o->stripes[i], NULL);
	o->base = base;
	o->root_fid = base_root_fid;
	o->bs = block_size ? block_size : CDP_DEFAULT_BLOCK_SIZE;
	{
		/* st_blocks count in the blocks of the disk the delta files
		 * are on (4 KiB on ext4), never more than the block size */
		struct statvfs sv;
		unsigned long g = statvfs(path, &sv) == 0 ? sv.f_bsize : 4096;

		if (g < 512 || (g & (g - 1)))
			g = 4096;
		o->granule = g < o->bs ? (uint32_t)g : o->bs;
	}
	o->path = strdup(path);
	if (!o->path) {
		ret = -ENOMEM;
		goto out_err;
	}
	snprintf(file, sizeof(file), "%s/lock", path);
	o->lock_fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (o->lock_fd < 0) {
		ret = -errno;
		goto out_err;
	}
	if (flock(o->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out_err;
	}
	if (ftruncate(o->lock_fd, 0) == 0)
		dprintf(o->lock_fd, "%d\n", (int)getpid());

	o->dbopts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(o->dbopts, 1);
	rocksdb_options_set_keep_log_file_num(o->dbopts, 2);
	/* small: the WAL is preallocated to about the memtable size, and an
	 * overlay of a few changed blocks should take a few blocks */
	rocksdb_options_set_write_buffer_size(o->dbopts, 1u << 20);
	rocksdb_options_set_manifest_preallocation_size(o->dbopts, 64u << 10);
	rocksdb_options_set_max_background_jobs(o->dbopts, 1);
	rocksdb_options_set_max_open_files(o->dbopts, 256);
	o->ropts = rocksdb_readoptions_create();
	o->wopts = rocksdb_writeoptions_create();
	snprintf(file, sizeof(file), "%s/index", path);
	o->db = rocksdb_open(o->dbopts, file, &err);
	if (err) {
		ret = cdp_ovl_err(err);
		goto out_err;
	}
	ret = meta_init(o);
	if (ret == 0)
		ret = purge_orphans(o);
	if (ret < 0)
		goto out_err;
	info.last_used_ts_ns = now_ns();
	ret = cdp_ovl_write_info(path, &info);
	if (ret < 0)
		goto out_err;
	cdp_overlay_info_release(&info);
	*out = o;
	return 0;
out_err:
	cdp_overlay_info_release(&info);
	cdp_overlay_close(o);
	return ret;
}

void cdp_overlay_close(struct cdp_overlay *o)
{
	struct cdp_overlay_info info;
	char *err = NULL;
	int i;

	if (!o)
		return;
	if (o->db)
		cdp_ovl_sync_dirty(o);
	fd_cache_close_all(o);
	if (o->db) {
		rocksdb_flush_wal(o->db, 1, &err);
		cdp_ovl_err(err);
		rocksdb_close(o->db);
		if (o->path && cdp_overlay_read_info(o->path, &info) == 0) {
			info.last_used_ts_ns = now_ns();
			cdp_ovl_write_info(o->path, &info);
			cdp_overlay_info_release(&info);
		}
	}
	if (o->ropts)
		rocksdb_readoptions_destroy(o->ropts);
	if (o->wopts)
		rocksdb_writeoptions_destroy(o->wopts);
	if (o->dbopts)
		rocksdb_options_destroy(o->dbopts);
	if (o->lock_fd >= 0)
		close(o->lock_fd);   /* releases the flock */
	for (i = 0; i < OVL_STRIPES; i++)
		pthread_rwlock_destroy(&o->stripes[i]);
	pthread_mutex_destroy(&o->fd_lock);
	pthread_mutex_destroy(&o->lock);
	free(o->path);
	free(o);
}

int cdp_overlay_statvfs(struct cdp_overlay *o, struct statvfs *sv)
{
	return statvfs(o->path, sv) < 0 ? -errno : 0;
}

