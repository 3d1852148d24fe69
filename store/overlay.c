/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay.c - writable copy-on-write overlays of a past instant: the
 * overlay's own index (RocksDB), its delta files, and the merge of both
 * with the read-only base view.  The contract is overlay.h.
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
 *                            whiteout 'W' hiding the base entry
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
#include <ftw.h>
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

static int sync_dirty(struct cdp_overlay *o);

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

/* ------------------------------------------------------------ keys */

static void okey_id(struct okey *k, char tag, uint64_t id)
{
	k->b[0] = (uint8_t)tag;
	put_u64be(k->b + 1, id);
	k->len = 9;
}

static void okey_name(struct okey *k, char tag, uint64_t id, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	okey_id(k, tag, id);
	if (n > CDP_NAME_MAX)
		n = CDP_NAME_MAX;
	memcpy(k->b + 9, name, n);
	k->len = 9 + n;
}

static void okey_block(struct okey *k, uint64_t id, uint64_t block)
{
	okey_id(k, 'B', id);
	put_u64be(k->b + 9, block);
	k->len = 17;
}

static void okey_meta(struct okey *k, const char *name)
{
	size_t n = strlen(name);

	k->b[0] = 'M';
	memcpy(k->b + 1, name, n);
	k->len = 1 + n;
}

static int64_t now_ns(void)
{
	return cdp_now_ns();
}

/* ------------------------------------------------------------ info file */

void cdp_overlay_info_release(struct cdp_overlay_info *info)
{
	if (!info)
		return;
	free(info->name);
	free(info->host);
	free(info->dir);
	free(info->path);
	memset(info, 0, sizeof(*info));
}

int cdp_overlay_name_valid(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n > CDP_OVL_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static int write_info(const char *path, const struct cdp_overlay_info *info)
{
	char file[PATH_MAX], tmp[PATH_MAX];
	FILE *f;
	int ret = 0, fd;

	snprintf(file, sizeof(file), "%s/overlay.info", path);
	snprintf(tmp, sizeof(tmp), "%s/overlay.info.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\nname=%s\nhost=%s\ndir=%s\nrequested_ts_ns=%" PRId64 "\n"
		"base_ts_ns=%" PRId64 "\nbase_seq=%" PRIu64 "\ncreated_ts_ns=%" PRId64 "\n"
		"last_used_ts_ns=%" PRId64 "\nprivate=%d\n", OVL_INFO_LINE,
		info->name ? info->name : "", info->host ? info->host : "",
		info->dir ? info->dir : "/", info->requested_ts_ns, info->base_ts_ns,
		info->base_seq, info->created_ts_ns, info->last_used_ts_ns, info->is_private ? 1 : 0);
	if (fflush(f) != 0 || (fd = fileno(f)) < 0 || fsync(fd) < 0)
		ret = -errno;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, file) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int cdp_overlay_read_info(const char *path, struct cdp_overlay_info *info)
{
	char file[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int ret = 0, first = 1;

	memset(info, 0, sizeof(*info));
	snprintf(file, sizeof(file), "%s/overlay.info", path);
	f = fopen(file, "re");
	if (!f)
		return errno == ENOTDIR ? -ENOENT : -errno;
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *eq, *val, **field = NULL;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (memchr(line, '\0', (size_t)n)) {
			ret = -CDP_ECORRUPT;   /* text only */
			break;
		}
		if (first) {
			first = 0;
			if (strncmp(line, "cdpfs overlay format ", 21) != 0) {
				ret = -CDP_ECORRUPT;
				break;
			}
			if (strcmp(line, OVL_INFO_LINE) != 0) {
				ret = -CDP_EVERSION;
				break;
			}
			continue;
		}
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		val = eq + 1;
		if (strcmp(line, "name") == 0)
			field = &info->name;
		else if (strcmp(line, "host") == 0)
			field = &info->host;
		else if (strcmp(line, "dir") == 0)
			field = &info->dir;
		if (field) {
			free(*field);   /* the last of a repeated key wins */
			*field = strdup(val);
			if (!*field) {
				ret = -ENOMEM;
				break;
			}
		} else if (strcmp(line, "requested_ts_ns") == 0)
			info->requested_ts_ns = strtoll(val, NULL, 10);
		else if (strcmp(line, "base_ts_ns") == 0)
			info->base_ts_ns = strtoll(val, NULL, 10);
		else if (strcmp(line, "base_seq") == 0)
			info->base_seq = strtoull(val, NULL, 10);
		else if (strcmp(line, "created_ts_ns") == 0)
			info->created_ts_ns = strtoll(val, NULL, 10);
		else if (strcmp(line, "last_used_ts_ns") == 0)
			info->last_used_ts_ns = strtoll(val, NULL, 10);
		else if (strcmp(line, "private") == 0)
			info->is_private = atoi(val) != 0;
	}
	if (first && !ret)
		ret = -CDP_ECORRUPT;
	free(line);
	fclose(f);
	if (!ret && (!info->name || !info->host || !info->dir || !info->base_seq))
		ret = -CDP_ECORRUPT;
	if (!ret && !(info->path = strdup(path)))
		ret = -ENOMEM;
	if (ret)
		cdp_overlay_info_release(info);
	return ret;
}

int cdp_overlay_create(const char *path, const struct cdp_overlay_info *info)
{
	char sub[PATH_MAX];
	struct cdp_overlay_info rec = *info;
	int ret;

	if (mkdir(path, 0700) < 0)
		return -errno;
	snprintf(sub, sizeof(sub), "%s/data", path);
	if (mkdir(sub, 0700) < 0) {
		ret = -errno;
		goto out_rm;
	}
	rec.created_ts_ns = rec.last_used_ts_ns = now_ns();
	ret = write_info(path, &rec);
	if (ret < 0)
		goto out_rm;
	return 0;
out_rm:
	cdp_overlay_destroy(path);
	return ret;
}

/* ------------------------------------------------------------ lock file */

/* 1 when a live process holds the overlay's lock, 0 when not. */
static int overlay_in_use(const char *path)
{
	char file[PATH_MAX];
	int fd, busy = 0;

	snprintf(file, sizeof(file), "%s/lock", path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		busy = 1;
	close(fd);
	return busy;
}

static int rm_fn(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)type; (void)ftw;
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

int cdp_overlay_destroy(const char *path)
{
	char target[PATH_MAX];
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode)) {
		/* a registration of an overlay kept in another directory */
		if (realpath(path, target)) {
			int ret = cdp_overlay_destroy(target);

			if (ret < 0 && ret != -ENOENT)
				return ret;
		}
		return unlink(path) < 0 ? -errno : 0;
	}
	if (overlay_in_use(path))
		return -EBUSY;
	if (nftw(path, rm_fn, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

/* ------------------------------------------------------------ listing */

static uint64_t du_total;   /* protected by du_lock */

static int du_fn(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)p; (void)type; (void)ftw;
	du_total += (uint64_t)st->st_blocks * 512u;
	return 0;
}

static pthread_mutex_t du_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t disk_usage(const char *path)
{
	uint64_t total;

	pthread_mutex_lock(&du_lock);
	du_total = 0;
	if (nftw(path, du_fn, 16, FTW_PHYS) < 0)
		du_total = 0;
	total = du_total;
	pthread_mutex_unlock(&du_lock);
	return total;
}

static int info_cmp(const void *a, const void *b)
{
	const struct cdp_overlay_info *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int cdp_overlay_list(const char *store_path, struct cdp_overlay_info **out, size_t *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 264], real[PATH_MAX];
	struct cdp_overlay_info *list = NULL, info;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/overlays", store_path);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!realpath(path, real) || cdp_overlay_read_info(real, &info) < 0)
			continue;
		info.mounted = overlay_in_use(real);
		if (info.is_private && !info.mounted &&
		    now_ns() - info.created_ts_ns > OVL_PRIVATE_GRACE_NS) {
			/* its mount ended without cleaning up (killed) */
			cdp_overlay_destroy(path);
			cdp_overlay_info_release(&info);
			continue;
		}
		info.size_bytes = disk_usage(real);
		if (info.is_private) {
			/* named by its directory, which the mount made unique */
			free(info.name);
			info.name = strdup(de->d_name);
		}
		if (!info.name) {
			cdp_overlay_info_release(&info);
			continue;
		}
		if (count == cap) {
			struct cdp_overlay_info *nl;

			cap = cap ? 2 * cap : 8;
			nl = realloc(list, cap * sizeof(*list));
			if (!nl) {
				cdp_overlay_info_release(&info);
				cdp_overlay_list_free(list, count);
				closedir(d);
				return -ENOMEM;
			}
			list = nl;
		}
		list[count++] = info;
	}
	closedir(d);
	if (count)
		qsort(list, count, sizeof(*list), info_cmp);
	*out = list;
	*n = count;
	return 0;
}

void cdp_overlay_list_free(struct cdp_overlay_info *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cdp_overlay_info_release(&list[i]);
	free(list);
}

/* ------------------------------------------------------------ index I/O */

/* Maps a RocksDB error to an errno (ENOSPC above all: the app must see it). */
static int ovl_err(char *err)
{
	int ret;

	if (!err)
		return 0;
	ret = strstr(err, "No space left") || strstr(err, "ENOSPC") ? -ENOSPC : -EIO;
	cdp_log(LOG_ERR, "overlay index: %s", err);
	rocksdb_free(err);
	return ret;
}

/* *val: heap (rocksdb_free), NULL when absent. */
static int ovl_get(struct cdp_overlay *o, const struct okey *k, char **val, size_t *len)
{
	char *err = NULL;

	*val = rocksdb_get(o->db, o->ropts, (const char *)k->b, k->len, len, &err);
	return ovl_err(err);
}

static int ovl_write(struct cdp_overlay *o, rocksdb_writebatch_t *wb)
{
	char *err = NULL;

	rocksdb_write(o->db, o->wopts, wb, &err);
	return ovl_err(err);
}

/* Destroys it; -EIO (and a log line) when it ended on an error rather than
 * at the end of its keys: a damaged index must not look like fewer
 * records (an overlaid block like a base one, a full directory like an
 * empty one). */
static int iter_done(rocksdb_iterator_t *it)
{
	char *err = NULL;

	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (!err)
		return 0;
	ovl_err(err);
	return -EIO;
}

static void wb_put(rocksdb_writebatch_t *wb, const struct okey *k, const void *v, size_t len)
{
	rocksdb_writebatch_put(wb, (const char *)k->b, k->len, v, len);
}

static void wb_del(rocksdb_writebatch_t *wb, const struct okey *k)
{
	rocksdb_writebatch_delete(wb, (const char *)k->b, k->len);
}

static void ino_release(struct ovl_ino *in)
{
	free(in->target);
	in->target = NULL;
}

int cdp_overlay_inode_decode(const char *val, size_t len, uint32_t *flags, uint64_t *base_limit,
			     struct cdp_attr *a, char **target)
{
	size_t hdr;
	int ret;

	*target = NULL;
	if (len < 13 || val[0] != 'I')
		return -CDP_ECORRUPT;
	*flags = get_u32be((const uint8_t *)val + 1);
	*base_limit = get_u64be((const uint8_t *)val + 5);
	ret = cdp_attr_decode(val + 13, len - 13, a, &hdr);
	if (ret < 0)
		return ret;
	if (13 + hdr < len) {
		*target = strndup(val + 13 + hdr, len - 13 - hdr);
		if (!*target)
			return -ENOMEM;
	}
	return 0;
}

static int ino_decode(const char *val, size_t len, struct ovl_ino *in)
{
	int ret = cdp_overlay_inode_decode(val, len, &in->flags, &in->base_limit, &in->a,
					   &in->target);

	in->own = ret == 0;
	return ret;
}

/* Loads object id: the overlay's record, else the base's attributes.
 * -ENOENT when neither has it. */
static int ino_get(struct cdp_overlay *o, uint64_t id, struct ovl_ino *in)
{
	struct okey k;
	char *val;
	size_t len;
	int ret;

	memset(in, 0, sizeof(*in));
	okey_id(&k, 'I', id);
	ret = ovl_get(o, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (val) {
		ret = len == 1 && val[0] == 'G' ? -ENOENT : ino_decode(val, len, in);
		rocksdb_free(val);
		return ret;
	}
	if (id >= CDP_OVL_FIRST_NEW_ID)
		return -ENOENT;
	ret = cdp_view_getattr(o->base, id, &in->a);
	if (ret < 0)
		return ret;
	in->flags = OVI_BASE;
	in->base_limit = S_ISREG(in->a.mode) ? in->a.size : 0;
	return 0;
}

static int ino_put(rocksdb_writebatch_t *wb, uint64_t id, const struct ovl_ino *in)
{
	size_t tlen = in->target ? strlen(in->target) : 0;
	uint8_t *v = malloc(13 + ATTR_VALUE_BYTES + tlen);
	struct okey k;

	if (!v)
		return -ENOMEM;
	v[0] = 'I';
	put_u32be(v + 1, in->flags);
	put_u64be(v + 5, in->base_limit);
	cdp_attr_encode(v + 13, &in->a);
	if (tlen)
		memcpy(v + 13 + ATTR_VALUE_BYTES, in->target, tlen);
	okey_id(&k, 'I', id);
	wb_put(wb, &k, v, 13 + ATTR_VALUE_BYTES + tlen);
	free(v);
	return 0;
}

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

static void txn_init(struct txn *t, struct cdp_overlay *o)
{
	memset(t, 0, sizeof(*t));
	t->o = o;
	t->wb = rocksdb_writebatch_create();
}

static void txn_release(struct txn *t)
{
	int i;

	for (i = 0; i < t->n; i++)
		ino_release(&t->ent[i].in);
	rocksdb_writebatch_destroy(t->wb);
}

static int txn_ino(struct txn *t, uint64_t id, struct ovl_ino **out)
{
	int i, ret;

	for (i = 0; i < t->n; i++)
		if (t->ent[i].id == id) {
			*out = &t->ent[i].in;
			return 0;
		}
	if (t->n == TXN_MAX)
		return -EIO;
	ret = ino_get(t->o, id, &t->ent[t->n].in);
	if (ret < 0)
		return ret;
	t->ent[t->n].id = id;
	*out = &t->ent[t->n++].in;
	return 0;
}

static int txn_commit(struct txn *t)
{
	int i, ret;

	for (i = 0; i < t->n; i++) {
		/* a changed base object becomes the overlay's own record */
		ret = ino_put(t->wb, t->ent[i].id, &t->ent[i].in);
		if (ret < 0)
			return ret;
	}
	return ovl_write(t->o, t->wb);
}

/* A directory lost a subdirectory's "..": never below 2, whatever the base
 * counted (nlink 0 marks a removed directory). */
static void dir_unlink_sub(struct ovl_ino *dir)
{
	if (dir->a.nlink > 2)
		dir->a.nlink--;
}

static void touch_mc(struct ovl_ino *in, int64_t now)
{
	in->a.mtime_ns = in->a.ctime_ns = now;
}

/* ------------------------------------------------------------ entries */

/* 1 when dir's base holds name. */
static int base_has(struct cdp_overlay *o, uint64_t dir, const char *name)
{
	uint64_t child;
	uint32_t type;

	return dir < CDP_OVL_FIRST_NEW_ID &&
	       cdp_view_lookup(o->base, dir, name, &child, &type) == 0;
}

static int entry_get(struct cdp_overlay *o, uint64_t parent, const char *name,
		     uint64_t *child, uint32_t *type)
{
	struct okey k;
	char *val;
	size_t len;
	int ret;

	okey_name(&k, 'E', parent, name);
	ret = ovl_get(o, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (val) {
		if (len == 13 && val[0] == 'E') {
			*child = get_u64be((const uint8_t *)val + 1);
			*type = get_u32be((const uint8_t *)val + 9);
			ret = 0;
		} else {
			ret = len >= 1 && val[0] == 'W' ? -ENOENT : -CDP_ECORRUPT;
		}
		rocksdb_free(val);
		return ret;
	}
	if (parent >= CDP_OVL_FIRST_NEW_ID)
		return -ENOENT;
	return cdp_view_lookup(o->base, parent, name, child, type);
}

static void entry_put(struct txn *t, uint64_t parent, const char *name, uint64_t child,
		      uint32_t type)
{
	uint8_t v[13];
	struct okey k;

	v[0] = 'E';
	put_u64be(v + 1, child);
	put_u32be(v + 9, type & S_IFMT);
	okey_name(&k, 'E', parent, name);
	wb_put(t->wb, &k, v, sizeof(v));
}

static void entry_remove(struct txn *t, uint64_t parent, const char *name)
{
	struct okey k;

	okey_name(&k, 'E', parent, name);
	if (base_has(t->o, parent, name))
		wb_put(t->wb, &k, "W", 1);
	else
		wb_del(t->wb, &k);
}

/* The object lost a name; with none left it is purged at the next open
 * (it may still be open now). */
static void drop_link(struct txn *t, uint64_t id, struct ovl_ino *in, int64_t now)
{
	struct okey k;

	if (S_ISDIR(in->a.mode))
		in->a.nlink = 0;
	else if (in->a.nlink > 0)
		in->a.nlink--;
	in->a.ctime_ns = now;
	if (in->a.nlink == 0) {
		okey_id(&k, 'O', id);
		wb_put(t->wb, &k, "O", 1);
	}
}

/* ------------------------------------------------------------ readdir */

struct ov_ent {
	char *name;
	uint64_t child;
	uint32_t type;
	int whiteout;
};

struct merge {
	struct ov_ent *ov;
	size_t nov, next;
	cdp_dirent_fn fn;
	void *arg;
	int stop;
};

static int emit_overlay_upto(struct merge *m, const char *name)
{
	while (m->next < m->nov && (!name || strcmp(m->ov[m->next].name, name) < 0)) {
		struct ov_ent *e = &m->ov[m->next++];

		if (!e->whiteout && (m->stop = m->fn(m->arg, e->name, e->child, e->type)))
			return m->stop;
	}
	return 0;
}

static int merge_base_cb(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct merge *m = arg;

	if (emit_overlay_upto(m, name))
		return m->stop;
	if (m->next < m->nov && strcmp(m->ov[m->next].name, name) == 0) {
		struct ov_ent *e = &m->ov[m->next++];

		if (!e->whiteout)
			m->stop = m->fn(m->arg, e->name, e->child, e->type);
		return m->stop;
	}
	m->stop = m->fn(m->arg, name, fid, type);
	return m->stop;
}

static int overlay_entries(struct cdp_overlay *o, uint64_t dir, struct ov_ent **out,
			   size_t *n)
{
	rocksdb_iterator_t *it;
	struct ov_ent *list = NULL;
	size_t count = 0, cap = 0;
	struct okey k;
	int ret = 0;

	okey_id(&k, 'E', dir);
	it = rocksdb_create_iterator(o->db, o->ropts);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *key = rocksdb_iter_key(it, &klen);
		const char *val = rocksdb_iter_value(it, &vlen);
		struct ov_ent *e;

		if (klen < 9 || memcmp(key, k.b, 9) != 0)
			break;
		if (count == cap) {
			struct ov_ent *nl;

			cap = cap ? 2 * cap : 16;
			nl = realloc(list, cap * sizeof(*list));
			if (!nl) {
				ret = -ENOMEM;
				break;
			}
			list = nl;
		}
		e = &list[count];
		memset(e, 0, sizeof(*e));
		e->name = strndup(key + 9, klen - 9);
		if (!e->name) {
			ret = -ENOMEM;
			break;
		}
		if (vlen == 13 && val[0] == 'E') {
			e->child = get_u64be((const uint8_t *)val + 1);
			e->type = get_u32be((const uint8_t *)val + 9);
		} else {
			e->whiteout = 1;
		}
		count++;
	}
	if (ret == 0)
		ret = iter_done(it);
	else
		rocksdb_iter_destroy(it);
	if (ret < 0) {
		while (count)
			free(list[--count].name);
		free(list);
		return ret;
	}
	*out = list;
	*n = count;
	return 0;
}

int cdp_overlay_readdir(struct cdp_overlay *o, uint64_t dir, cdp_dirent_fn fn, void *arg)
{
	struct ovl_ino in;
	struct merge m;
	size_t i;
	int ret;

	ret = ino_get(o, dir, &in);
	if (ret < 0)
		return ret;
	ino_release(&in);
	if (!S_ISDIR(in.a.mode))
		return -ENOTDIR;
	memset(&m, 0, sizeof(m));
	m.fn = fn;
	m.arg = arg;
	ret = overlay_entries(o, dir, &m.ov, &m.nov);
	if (ret < 0)
		return ret;
	if (dir < CDP_OVL_FIRST_NEW_ID) {
		ret = cdp_view_readdir(o->base, dir, NULL, merge_base_cb, &m);
		if (ret == -ENOENT)
			ret = 0;
	}
	if (ret >= 0 && !m.stop)
		ret = emit_overlay_upto(&m, NULL);
	if (m.stop)
		ret = m.stop;
	for (i = 0; i < m.nov; i++)
		free(m.ov[i].name);
	free(m.ov);
	return ret;
}

static int any_entry_cb(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	(void)arg; (void)name; (void)fid; (void)type;
	return 1;
}

static int dir_is_empty(struct cdp_overlay *o, uint64_t dir)
{
	int ret = cdp_overlay_readdir(o, dir, any_entry_cb, NULL);

	return ret < 0 ? ret : ret == 0;
}

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

static void delta_path(const struct cdp_overlay *o, uint64_t id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/data/%016" PRIx64, o->path, id);
}

static void sync_data_dir(struct cdp_overlay *o)
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

	okey_id(&from, 'I', id);
	if (id < CDP_OVL_FIRST_NEW_ID)
		wb_put(wb, &from, "G", 1);   /* gone: the base's object stays hidden */
	else
		wb_del(wb, &from);
	okey_block(&from, id, 0);
	okey_block(&to, id + 1, 0);
	rocksdb_writebatch_delete_range(wb, (const char *)from.b, from.len,
					(const char *)to.b, to.len);
	okey_id(&from, 'X', id);
	okey_id(&to, 'X', id + 1);
	rocksdb_writebatch_delete_range(wb, (const char *)from.b, from.len,
					(const char *)to.b, to.len);
	okey_id(&from, 'O', id);
	wb_del(wb, &from);
	delta_path(o, id, path, sizeof(path));
	unlink(path);
}

static int purge_orphans(struct cdp_overlay *o)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	rocksdb_iterator_t *it = rocksdb_create_iterator(o->db, o->ropts);
	struct okey k;
	int ret, n = 0;

	okey_id(&k, 'O', 0);
	for (rocksdb_iter_seek(it, (const char *)k.b, 1); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen;
		const char *key = rocksdb_iter_key(it, &klen);

		if (klen != 9 || key[0] != 'O')
			break;
		purge_object(o, wb, get_u64be((const uint8_t *)key + 1));
		n++;
	}
	ret = iter_done(it);
	if (ret == 0 && n)
		ret = ovl_write(o, wb);
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

	okey_meta(&k, "format");
	ret = ovl_get(o, &k, &val, &len);
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
		wb_put(wb, &k, v, 4);
		ret = ovl_write(o, wb);
		rocksdb_writebatch_destroy(wb);
		if (ret < 0)
			return ret;
	}
	okey_meta(&k, "next_id");
	ret = ovl_get(o, &k, &val, &len);
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
		ret = ovl_err(err);
		goto out_err;
	}
	ret = meta_init(o);
	if (ret == 0)
		ret = purge_orphans(o);
	if (ret < 0)
		goto out_err;
	info.last_used_ts_ns = now_ns();
	ret = write_info(path, &info);
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
		sync_dirty(o);
	fd_cache_close_all(o);
	if (o->db) {
		rocksdb_flush_wal(o->db, 1, &err);
		ovl_err(err);
		rocksdb_close(o->db);
		if (o->path && cdp_overlay_read_info(o->path, &info) == 0) {
			info.last_used_ts_ns = now_ns();
			write_info(o->path, &info);
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

/* ------------------------------------------------------------ delta files */

/* An fd on id's delta file (created when create), or -ENOENT.  Release
 * with delta_put(o, fd). */
static int delta_get(struct cdp_overlay *o, uint64_t id, int create)
{
	char path[PATH_MAX];
	int i, fd, victim = -1;

	pthread_mutex_lock(&o->fd_lock);
	for (i = 0; i < OVL_FD_SLOTS; i++)
		if (o->fds[i].fd >= 0 && o->fds[i].id == id) {
			o->fds[i].refs++;
			o->fds[i].tick = ++o->fd_tick;
			fd = o->fds[i].fd;
			pthread_mutex_unlock(&o->fd_lock);
			return fd;
		}
	delta_path(o, id, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
		if (fd >= 0)
			sync_data_dir(o);   /* the new name survives a crash */
	}
	if (fd < 0) {
		fd = -errno;
		pthread_mutex_unlock(&o->fd_lock);
		return fd;
	}
	for (i = 0; i < OVL_FD_SLOTS; i++) {
		if (o->fds[i].fd < 0) {
			victim = i;
			break;
		}
		if (o->fds[i].refs == 0 &&
		    (victim < 0 || o->fds[i].tick < o->fds[victim].tick))
			victim = i;
	}
	if (victim >= 0) {
		if (o->fds[victim].fd >= 0) {
			/* what it holds must not be lost to an fsync that no
			 * longer sees its descriptor */
			if (o->fds[victim].dirty && fdatasync(o->fds[victim].fd) < 0)
				o->sync_error = -errno;
			close(o->fds[victim].fd);
		}
		o->fds[victim].fd = fd;
		o->fds[victim].id = id;
		o->fds[victim].refs = 1;
		o->fds[victim].tick = ++o->fd_tick;
		o->fds[victim].dirty = 0;
	}
	pthread_mutex_unlock(&o->fd_lock);
	return fd;
}

/* dirty: fd was written through. */
static void delta_put(struct cdp_overlay *o, int fd, int dirty)
{
	int i;

	pthread_mutex_lock(&o->fd_lock);
	for (i = 0; i < OVL_FD_SLOTS; i++)
		if (o->fds[i].fd == fd) {
			o->fds[i].refs--;
			o->fds[i].dirty |= dirty;
			pthread_mutex_unlock(&o->fd_lock);
			return;
		}
	pthread_mutex_unlock(&o->fd_lock);
	/* not cached (every slot was busy): sync now, no fsync will see it */
	if (dirty && fdatasync(fd) < 0)
		o->sync_error = -errno;
	close(fd);
}

/* fdatasync of every delta file written since its last sync: before the
 * index records pointing into them are made durable.  Returns the first
 * error met since the last call. */
static int sync_dirty(struct cdp_overlay *o)
{
	int i, ret;

	pthread_mutex_lock(&o->fd_lock);
	for (i = 0; i < OVL_FD_SLOTS; i++)
		if (o->fds[i].fd >= 0 && o->fds[i].dirty) {
			if (fdatasync(o->fds[i].fd) < 0 && !o->sync_error)
				o->sync_error = -errno;
			o->fds[i].dirty = 0;
		}
	ret = o->sync_error;
	o->sync_error = 0;
	pthread_mutex_unlock(&o->fd_lock);
	return ret;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(p, 0, len);   /* past the delta file's end: zeros */
			return 0;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* ------------------------------------------------------------ block states */

/* states[i] gets the state ('D', 'Z' or 0) of block first + i. */
static int block_states(struct cdp_overlay *o, uint64_t id, uint64_t first, size_t count,
			 char *states)
{
	rocksdb_iterator_t *it;
	struct okey k;

	memset(states, 0, count);
	okey_block(&k, id, first);
	it = rocksdb_create_iterator(o->db, o->ropts);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *key = rocksdb_iter_key(it, &klen);
		const char *val = rocksdb_iter_value(it, &vlen);
		uint64_t b;

		if (klen != 17 || memcmp(key, k.b, 9) != 0)
			break;
		b = get_u64be((const uint8_t *)key + 9);
		if (b >= first + count)
			break;
		if (vlen >= 1)
			states[b - first] = val[0];
	}
	return iter_done(it);
}

/* Content of [off, off+len) from below the overlay's changes of this block
 * run: the base up to base_limit, zeros beyond. */
static int read_beneath(struct cdp_overlay *o, uint64_t id, const struct ovl_ino *in,
			char *buf, size_t len, uint64_t off)
{
	size_t have = 0;

	if ((in->flags & OVI_BASE) && off < in->base_limit) {
		size_t want = len;
		ssize_t n;

		if (off + want > in->base_limit)
			want = (size_t)(in->base_limit - off);
		n = cdp_view_read(o->base, id, buf, want, off);
		if (n < 0)
			return (int)n;
		have = (size_t)n;
	}
	memset(buf + have, 0, len - have);
	return 0;
}

ssize_t cdp_overlay_read(struct cdp_overlay *o, uint64_t id, void *buf, size_t len,
			 uint64_t off)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	struct ovl_ino in;
	uint64_t bs = o->bs, first, last, pos, end;
	char *states = NULL, *out = buf;
	int fd = -1, ret;
	size_t i, count;

	pthread_rwlock_rdlock(stripe);
	ret = ino_get(o, id, &in);
	if (ret < 0)
		goto out;
	if (S_ISDIR(in.a.mode)) {
		ret = -EISDIR;
		goto out;
	}
	if (off >= in.a.size || len == 0) {
		len = 0;   /* at or past the end: nothing */
		ret = 0;
		goto out;
	}
	if (len > in.a.size - off)
		len = (size_t)(in.a.size - off);
	end = off + len;
	first = off / bs;
	last = (end - 1) / bs;
	count = (size_t)(last - first + 1);
	states = malloc(count);
	if (!states) {
		ret = -ENOMEM;
		goto out;
	}
	ret = block_states(o, id, first, count, states);
	if (ret < 0)
		goto out;
	for (pos = off, i = 0; i < count;) {
		size_t j = i + 1, n;
		uint64_t run_end;

		/* a run of blocks in the same state, one I/O */
		while (j < count && states[j] == states[i])
			j++;
		run_end = (first + j) * bs;
		if (run_end > end)
			run_end = end;
		n = (size_t)(run_end - pos);
		if (states[i] == 'D') {
			if (fd < 0)
				fd = delta_get(o, id, 0);
			ret = fd < 0 ? fd : pread_full(fd, out + (pos - off), n, pos);
			if (fd == -ENOENT) {
				memset(out + (pos - off), 0, n);
				ret = 0;
			}
		} else if (states[i] == 'Z') {
			memset(out + (pos - off), 0, n);
		} else {
			ret = read_beneath(o, id, &in, out + (pos - off), n, pos);
		}
		if (ret < 0)
			goto out;
		pos = run_end;
		i = j;
	}
	ret = 0;
out:
	if (fd >= 0)
		delta_put(o, fd, 0);
	free(states);
	ino_release(&in);
	pthread_rwlock_unlock(stripe);
	return ret < 0 ? ret : (ssize_t)len;
}

/* ------------------------------------------------------------ allocation */

/*
 * st_blocks of an overlaid regular file is what it would take on the disk
 * beneath: the part of its base that still shows, plus what its delta file
 * really holds (stat of the delta file: the overlay writes there only the
 * granules it must, so that is the overlay's own allocation, reservations
 * included).  The base part is the blocks field of the object's record: the
 * captured st_blocks at the first change, lowered by each base block's
 * estimate (its bytes below the base limit, in whole granules) as base
 * blocks with data get hidden: overwritten ('D'), zeroed ('Z') or cut off
 * by a truncate.  A base part of CDP_BLOCKS_UNKNOWN (a record without it)
 * stays unknown.  The estimates are the overlay's; the captured value is
 * the real filesystem's, so the base part is "about", never below zero.
 */

/* The 512-byte sectors base block b counts for when the base shows up to
 * limit. */
static uint64_t base_block_sectors(const struct cdp_overlay *o, uint64_t b, uint64_t limit)
{
	uint64_t start = b * o->bs, n;

	if (start >= limit)
		return 0;
	n = limit - start < o->bs ? limit - start : o->bs;
	return (n + o->granule - 1) / o->granule * (o->granule / 512);
}

/* 1 when in's base part is known and not yet zero: worth lowering. */
static int base_part_live(const struct ovl_ino *in)
{
	return (in->flags & OVI_BASE) && in->a.blocks != CDP_BLOCKS_UNKNOWN && in->a.blocks > 0;
}

/* Lowers in's base part by sectors, never below zero. */
static void base_part_drop(struct ovl_ino *in, uint64_t sectors)
{
	if (!(in->flags & OVI_BASE) || in->a.blocks == CDP_BLOCKS_UNKNOWN)
		return;
	in->a.blocks = in->a.blocks > sectors ? in->a.blocks - sectors : 0;
}

/* Sets a->blocks to what stat(2) reports for object id, in its record. */
static void report_blocks(struct cdp_overlay *o, uint64_t id, const struct ovl_ino *in,
			  struct cdp_attr *a)
{
	char path[PATH_MAX];
	struct stat st;
	uint64_t base;

	if (!in->own || !S_ISREG(in->a.mode))
		return;   /* the base's, as captured; or set when made */
	base = (in->flags & OVI_BASE) ? in->a.blocks : 0;
	if (base == CDP_BLOCKS_UNKNOWN)
		return;
	a->blocks = base;
	delta_path(o, id, path, sizeof(path));
	if (stat(path, &st) == 0 && st.st_blocks > 0)
		a->blocks += (uint64_t)st.st_blocks;
}

struct hidden_scan {
	struct cdp_overlay *o;
	uint64_t id, limit, new_limit;
	uint64_t sectors;            /* out */
	rocksdb_iterator_t *it;      /* over id's block records */
	uint64_t rb;                 /* block of the record at it; UINT64_MAX: none */
	int positioned;
};

static int hidden_fn(void *arg, uint64_t b)
{
	struct hidden_scan *h = arg;

	if (!h->positioned || h->rb < b) {
		struct okey k;
		const char *key;
		size_t klen;

		okey_block(&k, h->id, b);
		rocksdb_iter_seek(h->it, (const char *)k.b, k.len);
		h->positioned = 1;
		h->rb = UINT64_MAX;
		if (rocksdb_iter_valid(h->it)) {
			key = rocksdb_iter_key(h->it, &klen);
			if (klen == 17 && memcmp(key, k.b, 9) == 0)
				h->rb = get_u64be((const uint8_t *)key + 9);
		}
	}
	if (h->rb != b)   /* a record hid it already */
		h->sectors += base_block_sectors(h->o, b, h->limit) -
			      base_block_sectors(h->o, b, h->new_limit);
	return 0;
}

/*
 * *sectors: how much the base part of id drops when the base blocks in
 * [first, end) that hold data and no record of the overlay go from showing
 * up to limit to showing up to new_limit (0: hidden).  One index seek per
 * base block with data in the range, none per hole.  Stripe held.
 */
static int base_hidden_sectors(struct cdp_overlay *o, uint64_t id, uint64_t first, uint64_t end,
			       uint64_t limit, uint64_t new_limit, uint64_t *sectors)
{
	struct hidden_scan h;
	int ret, r;

	memset(&h, 0, sizeof(h));
	h.o = o;
	h.id = id;
	h.limit = limit;
	h.new_limit = new_limit;
	h.it = rocksdb_create_iterator(o->db, o->ropts);
	ret = cdp_view_data_blocks(o->base, id, first, end, hidden_fn, &h);
	r = iter_done(h.it);
	if (ret == 0)
		ret = r;
	*sectors = ret == 0 ? h.sectors : 0;
	return ret;
}

struct base_scan {
	const struct cdp_overlay *o;
	const char *states;          /* of blocks first... */
	uint64_t first, limit;
	uint64_t sectors;            /* out */
};

static int base_scan_fn(void *arg, uint64_t b)
{
	struct base_scan *s = arg;

	if (s->states[b - s->first] == 0)
		s->sectors += base_block_sectors(s->o, b, s->limit);
	return 0;
}

static int all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/*
 * Puts blk, the whole content of the block at bstart, into the delta file
 * as a native file would hold it: the granules that [ws, we) wrote or that
 * hold a non-zero byte are written, the others stay holes (punched when
 * the delta file may hold older bytes there, below *dsize: its size before
 * this operation, -1 until needed).  So a copy-up of a small file's block
 * takes the space the file takes, not a whole block.
 */
static int put_block(struct cdp_overlay *o, int fd, const char *blk, uint64_t bstart,
		     uint64_t ws, uint64_t we, int64_t *dsize)
{
	uint64_t g = o->granule, n = o->bs / g, i = 0, j;
	int ret = 0;

	if (n <= 1)
		return pwrite_all(fd, blk, o->bs, bstart);
	while (i < n && ret == 0) {
		uint64_t gs = bstart + i * g;
		int keep = (ws < gs + g && we > gs) || !all_zero(blk + i * g, g);

		for (j = i + 1; j < n; j++) {
			uint64_t js = bstart + j * g;

			if (((ws < js + g && we > js) || !all_zero(blk + j * g, g)) != keep)
				break;
		}
		if (keep) {
			ret = pwrite_all(fd, blk + i * g, (size_t)((j - i) * g), gs);
		} else {
			if (*dsize < 0) {
				struct stat st;

				if (fstat(fd, &st) < 0)
					return -errno;
				*dsize = st.st_size;
			}
			if ((int64_t)gs < *dsize &&
			    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)gs,
				      (off_t)((j - i) * g)) < 0)
				ret = errno == EOPNOTSUPP ?
				      pwrite_all(fd, blk + i * g, (size_t)((j - i) * g), gs) : -errno;
		}
		i = j;
	}
	return ret;
}

struct seek_scan {
	int want_data;
	uint64_t expect;             /* looking for a hole: the next data block if none */
	uint64_t found;              /* UINT64_MAX: not yet */
};

static int seek_scan_fn(void *arg, uint64_t b)
{
	struct seek_scan *s = arg;

	if (s->want_data || b != s->expect) {
		s->found = s->want_data ? b : s->expect;
		return 1;
	}
	s->expect = b + 1;
	return 0;
}

int cdp_overlay_seek(struct cdp_overlay *o, uint64_t id, uint64_t off, int want_data,
		     uint64_t *pos)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	uint64_t bs = o->bs, nb, cb, b, found = UINT64_MAX;
	rocksdb_iterator_t *it;
	struct ovl_ino in;
	int ret, r;

	pthread_rwlock_rdlock(stripe);
	ret = ino_get(o, id, &in);
	if (ret < 0)
		goto out;
	if (S_ISDIR(in.a.mode) || !S_ISREG(in.a.mode)) {
		ret = S_ISDIR(in.a.mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if (off >= in.a.size) {
		ret = -ENXIO;
		goto out;
	}
	nb = (in.a.size + bs - 1) / bs;
	cb = (in.flags & OVI_BASE) ? (in.base_limit + bs - 1) / bs : 0;
	if (cb > nb)
		cb = nb;
	it = rocksdb_create_iterator(o->db, o->ropts);
	for (b = off / bs; b < nb && found == UINT64_MAX && ret == 0;) {
		uint64_t rb = UINT64_MAX, e;
		char rs = 0;
		struct okey k;

		/* the overlay's record at b, or the next one after it */
		okey_block(&k, id, b);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (rocksdb_iter_valid(it)) {
			size_t klen, vlen;
			const char *key = rocksdb_iter_key(it, &klen);
			const char *val = rocksdb_iter_value(it, &vlen);

			if (klen == 17 && memcmp(key, k.b, 9) == 0) {
				rb = get_u64be((const uint8_t *)key + 9);
				rs = vlen >= 1 ? val[0] : 0;
			}
		}
		if (rb == b) {
			if ((rs == 'D') == !!want_data)
				found = b;
			b++;
			continue;
		}
		e = rb < nb ? rb : nb;   /* [b, e): no record; the base's below cb */
		if (b >= cb) {
			if (!want_data)
				found = b;   /* nothing beneath: a hole */
			b = e;
			continue;
		}
		{
			struct seek_scan sc = { want_data, b, UINT64_MAX };
			uint64_t e2 = e < cb ? e : cb;

			ret = cdp_view_data_blocks(o->base, id, b, e2, seek_scan_fn, &sc);
			if (ret > 0)
				ret = 0;
			if (sc.found == UINT64_MAX && !want_data && sc.expect < e2)
				sc.found = sc.expect;   /* no data from expect to e2 */
			found = sc.found;
			b = e2;
		}
	}
	r = iter_done(it);
	if (ret == 0)
		ret = r;
	if (ret < 0)
		goto out;
	if (found == UINT64_MAX) {
		if (want_data)
			ret = -ENXIO;
		else
			*pos = in.a.size;   /* the end of the file counts as a hole */
		goto out;
	}
	*pos = found * bs > off ? found * bs : off;
	if (*pos > in.a.size)
		*pos = in.a.size;
out:
	ino_release(&in);
	pthread_rwlock_unlock(stripe);
	return ret;
}

/* A block the write can put in place: already in the delta file, or wholly
 * covered by [off, off+len). */
static int direct_block(char state, uint64_t b, uint64_t bs, uint64_t off, size_t len)
{
	return state == 'D' || (off <= b * bs && off + len >= (b + 1) * bs);
}

/*
 * Puts buf (len bytes at off; NULL: zeros) into id's delta file, copying up
 * the rest of each partial block it touches; marks the blocks 'D' in wb.
 * *base_cut gets the sectors the base part loses (base blocks with data
 * that these blocks now hide).  Zeros go through put_block even into
 * blocks already copied, so that they free granules rather than fill them.
 * Called with the object's stripe held for writing.
 */
static int write_blocks(struct cdp_overlay *o, uint64_t id, const struct ovl_ino *in,
			rocksdb_writebatch_t *wb, const char *buf, size_t len, uint64_t off,
			uint64_t *base_cut)
{
	uint64_t bs = o->bs, first = off / bs, last = (off + len - 1) / bs, b;
	uint64_t cb = (in->flags & OVI_BASE) ? (in->base_limit + bs - 1) / bs : 0;
	size_t count = (size_t)(last - first + 1);
	char *states = malloc(count), *blk = NULL;
	int64_t dsize = -1;
	int fd, ret = 0;

	*base_cut = 0;
	if (!states)
		return -ENOMEM;
	ret = block_states(o, id, first, count, states);
	if (ret == 0 && base_part_live(in) && first < cb) {
		/* only blocks the overlay has not overlaid yet can hide base
		 * data: a page rewritten again costs no base index seek */
		struct base_scan sc = { o, states, first, in->base_limit, 0 };
		uint64_t lo = first, hi = last + 1 < cb ? last + 1 : cb;

		while (lo < hi && states[lo - first] != 0)
			lo++;
		while (hi > lo && states[hi - 1 - first] != 0)
			hi--;
		if (lo < hi)
			ret = cdp_view_data_blocks(o->base, id, lo, hi, base_scan_fn, &sc);
		*base_cut = sc.sectors;
	}
	if (ret < 0) {
		free(states);
		return ret;
	}
	fd = delta_get(o, id, 1);
	if (fd < 0) {
		free(states);
		return fd;
	}
	for (b = first; b <= last && ret == 0;) {
		uint64_t bstart = b * bs, ws = off > bstart ? off : bstart;
		uint64_t we = off + len < bstart + bs ? off + len : bstart + bs;
		char state = states[b - first];
		struct okey k;

		if (buf && direct_block(state, b, bs, off, len)) {
			/* in place: a run of blocks already copied or fully written */
			uint64_t e = b;

			while (e + 1 <= last && direct_block(states[e + 1 - first], e + 1, bs, off, len))
				e++;
			we = off + len < (e + 1) * bs ? off + len : (e + 1) * bs;
			ret = pwrite_all(fd, buf + (ws - off), (size_t)(we - ws), ws);
			for (; b <= e; b++) {
				if (states[b - first] != 'D') {
					okey_block(&k, id, b);
					wb_put(wb, &k, "D", 1);
				}
			}
			continue;
		}
		if (!blk && !(blk = malloc(bs))) {
			ret = -ENOMEM;
			break;
		}
		if (state == 'D')
			ret = pread_full(fd, blk, bs, bstart);   /* zeros into a copied block */
		else if (state == 'Z')
			memset(blk, 0, bs);
		else
			ret = read_beneath(o, id, in, blk, bs, bstart);
		if (ret == 0) {
			if (buf)
				memcpy(blk + (ws - bstart), buf + (ws - off), (size_t)(we - ws));
			else
				memset(blk + (ws - bstart), 0, (size_t)(we - ws));
			ret = put_block(o, fd, blk, bstart, buf ? ws : bstart, buf ? we : bstart,
					&dsize);
		}
		if (state != 'D') {
			okey_block(&k, id, b);
			wb_put(wb, &k, "D", 1);
		}
		b++;
	}
	delta_put(o, fd, 1);
	free(blk);
	free(states);
	return ret;
}

ssize_t cdp_overlay_write(struct cdp_overlay *o, uint64_t id, const void *buf, size_t len,
			  uint64_t off)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	struct ovl_ino snap, *in;
	uint64_t cut;
	struct txn t;
	int ret;

	if (len == 0)
		return 0;
	if (off + len < off)
		return -EFBIG;
	pthread_rwlock_wrlock(stripe);
	ret = ino_get(o, id, &snap);
	if (ret < 0)
		goto out_unlock;
	if (!S_ISREG(snap.a.mode)) {
		ino_release(&snap);
		ret = S_ISDIR(snap.a.mode) ? -EISDIR : -EINVAL;
		goto out_unlock;
	}
	txn_init(&t, o);
	ret = write_blocks(o, id, &snap, t.wb, buf, len, off, &cut);
	ino_release(&snap);
	if (ret == 0) {
		pthread_mutex_lock(&o->lock);
		ret = txn_ino(&t, id, &in);
		if (ret == 0) {
			if (off + len > in->a.size)
				in->a.size = off + len;
			base_part_drop(in, cut);
			touch_mc(in, now_ns());
			ret = txn_commit(&t);
		}
		pthread_mutex_unlock(&o->lock);
	}
	txn_release(&t);
out_unlock:
	pthread_rwlock_unlock(stripe);
	return ret < 0 ? ret : (ssize_t)len;
}

/*
 * The sectors the base part of id loses when it is cut to size: the base
 * blocks with data between the new base limit and the old one (all of
 * them when cut to 0).  Stripe held (the base limit and the block records
 * are stable), not the lock: a long scan holds up only this object.
 */
static int truncate_base_cut(struct cdp_overlay *o, uint64_t id, uint64_t size, uint64_t *cut)
{
	struct ovl_ino snap;
	uint64_t bs = o->bs;
	int ret;

	*cut = 0;
	ret = ino_get(o, id, &snap);
	if (ret < 0)
		return ret;
	if (S_ISREG(snap.a.mode) && base_part_live(&snap) && size < snap.base_limit) {
		if (size == 0)
			*cut = UINT64_MAX;
		else
			ret = base_hidden_sectors(o, id, size / bs, (snap.base_limit + bs - 1) / bs,
						  snap.base_limit, size, cut);
	}
	ino_release(&snap);
	return ret;
}

/* Cuts id to size (stripe and lock held; in is id's record in t); the
 * base part drops by cut (truncate_base_cut). */
static int truncate_locked(struct cdp_overlay *o, struct txn *t, uint64_t id,
			   struct ovl_ino *in, uint64_t size, uint64_t cut)
{
	uint64_t bs = o->bs;

	if (size < in->a.size) {
		struct okey from, to;
		int fd;

		if (in->base_limit > size) {
			in->base_limit = size;
			base_part_drop(in, cut);
		}
		okey_block(&from, id, (size + bs - 1) / bs);
		okey_block(&to, id + 1, 0);
		rocksdb_writebatch_delete_range(t->wb, (const char *)from.b, from.len,
						(const char *)to.b, to.len);
		fd = delta_get(o, id, 0);
		if (fd >= 0) {
			/* the partial last block's tail becomes zeros: cut
			 * before the index says so, so old bytes never return */
			int r = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;

			delta_put(o, fd, 1);
			if (r < 0)
				return r;
		} else if (fd != -ENOENT) {
			return fd;   /* cannot cut: refuse rather than keep the tail */
		}
	}
	in->a.size = size;
	return 0;
}

int cdp_overlay_setattr(struct cdp_overlay *o, uint64_t id, const struct cdp_attr *a,
			unsigned to_set, struct cdp_attr *out)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	int64_t now = now_ns();
	struct ovl_ino *in;
	uint64_t cut = 0;
	struct txn t;
	int ret;

	pthread_rwlock_wrlock(stripe);
	if ((to_set & CDP_OVL_SET_SIZE) && (ret = truncate_base_cut(o, id, a->size, &cut)) < 0) {
		pthread_rwlock_unlock(stripe);
		return ret;
	}
	pthread_mutex_lock(&o->lock);
	txn_init(&t, o);
	ret = txn_ino(&t, id, &in);
	if (ret < 0)
		goto out;
	if (to_set & CDP_OVL_SET_SIZE) {
		if (S_ISDIR(in->a.mode)) {
			ret = -EISDIR;
			goto out;
		}
		if (!S_ISREG(in->a.mode)) {
			ret = -EINVAL;
			goto out;
		}
		ret = truncate_locked(o, &t, id, in, a->size, cut);
		if (ret < 0)
			goto out;
		if (!(to_set & (CDP_OVL_SET_MTIME | CDP_OVL_SET_MTIME_NOW)))
			in->a.mtime_ns = now;
	}
	if (to_set & CDP_OVL_SET_MODE)
		in->a.mode = (in->a.mode & S_IFMT) | (a->mode & 07777);
	if (to_set & CDP_OVL_SET_UID)
		in->a.uid = a->uid;
	if (to_set & CDP_OVL_SET_GID)
		in->a.gid = a->gid;
	if (to_set & CDP_OVL_SET_ATIME_NOW)
		in->a.atime_ns = now;
	else if (to_set & CDP_OVL_SET_ATIME)
		in->a.atime_ns = a->atime_ns;
	if (to_set & CDP_OVL_SET_MTIME_NOW)
		in->a.mtime_ns = now;
	else if (to_set & CDP_OVL_SET_MTIME)
		in->a.mtime_ns = a->mtime_ns;
	in->a.ctime_ns = (to_set & CDP_OVL_SET_CTIME) ? a->ctime_ns : now;
	ret = txn_commit(&t);
	if (ret == 0 && out) {
		*out = in->a;
		in->own = 1;   /* it is now */
		report_blocks(o, id, in, out);
	}
out:
	txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	pthread_rwlock_unlock(stripe);
	return ret;
}

int cdp_overlay_fallocate(struct cdp_overlay *o, uint64_t id, int mode, uint64_t off,
			  uint64_t len)
{
	pthread_rwlock_t *stripe = &o->stripes[id % OVL_STRIPES];
	int keep = mode & FALLOC_FL_KEEP_SIZE, zero;
	uint64_t bs = o->bs, end = off + len, size, cut = 0, c;
	struct ovl_ino snap, *in;
	struct txn t;
	int ret, fd;

	zero = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !keep)
		return -EINVAL;
	if (len == 0 || end < off)
		return -EINVAL;
	pthread_rwlock_wrlock(stripe);
	ret = ino_get(o, id, &snap);
	if (ret < 0)
		goto out_unlock;
	ino_release(&snap);
	if (!S_ISREG(snap.a.mode)) {
		ret = S_ISDIR(snap.a.mode) ? -EISDIR : -ENODEV;
		goto out_unlock;
	}
	size = snap.a.size;
	txn_init(&t, o);
	fd = delta_get(o, id, 1);
	if (fd < 0) {
		ret = fd;
		goto out_txn;
	}
	if (!zero) {
		/* reserve the space, so a later write does not meet ENOSPC (it
		 * counts in st_blocks, as on ext4) */
		ret = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 ? -errno : 0;
		if (ret == -EOPNOTSUPP)
			ret = 0;
	} else {
		uint64_t zend = keep && end > size ? size : end, b;
		uint64_t fb = (off + bs - 1) / bs, lb = zend / bs;   /* whole blocks [fb, lb) */

		if (off < zend) {
			if (fb >= lb) {
				/* within one block or two partial ones */
				ret = write_blocks(o, id, &snap, t.wb, NULL, (size_t)(zend - off), off,
						   &cut);
			} else {
				uint64_t cb = (snap.flags & OVI_BASE) ?
					      (snap.base_limit + bs - 1) / bs : 0;
				struct okey k, k2;

				if (off < fb * bs)
					ret = write_blocks(o, id, &snap, t.wb, NULL,
							   (size_t)(fb * bs - off), off, &cut);
				if (ret == 0 && lb * bs < zend) {
					ret = write_blocks(o, id, &snap, t.wb, NULL,
							   (size_t)(zend - lb * bs), lb * bs, &c);
					cut += c;
				}
				/* whole base blocks with data, not yet overlaid, stop
				 * counting (before the records below hide them) */
				if (ret == 0 && base_part_live(&snap) && fb < cb) {
					ret = base_hidden_sectors(o, id, fb, lb < cb ? lb : cb,
								  snap.base_limit, 0, &c);
					cut += c;
				}
				/* Whole blocks: those with base bytes beneath become
				 * 'Z'; past the base limit, no record reads as zeros
				 * already, so one range delete does, however long
				 * the range (no key per block). */
				for (b = fb; ret == 0 && b < lb && b < cb; b++) {
					okey_block(&k, id, b);
					wb_put(t.wb, &k, "Z", 1);
				}
				if (ret == 0 && lb > (fb > cb ? fb : cb)) {
					okey_block(&k, id, fb > cb ? fb : cb);
					okey_block(&k2, id, lb);
					rocksdb_writebatch_delete_range(t.wb, (const char *)k.b, k.len,
									(const char *)k2.b, k2.len);
				}
				if (ret == 0 &&
				    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      (off_t)(fb * bs), (off_t)((lb - fb) * bs)) < 0 &&
				    errno != EOPNOTSUPP)
					ret = -errno;
			}
		}
	}
	delta_put(o, fd, 1);
	if (ret == 0) {
		pthread_mutex_lock(&o->lock);
		ret = txn_ino(&t, id, &in);
		if (ret == 0) {
			if (!keep && end > in->a.size)
				in->a.size = end;
			base_part_drop(in, cut);
			if (zero)
				touch_mc(in, now_ns());
			ret = txn_commit(&t);
		}
		pthread_mutex_unlock(&o->lock);
	}
out_txn:
	txn_release(&t);
out_unlock:
	pthread_rwlock_unlock(stripe);
	return ret;
}

int cdp_overlay_fsync(struct cdp_overlay *o, uint64_t id)
{
	char *err = NULL;
	int ret;

	(void)id;
	/* every delta file, not only id's: the WAL synced below holds the
	 * records of all of them, and none may point at data not yet on disk */
	ret = sync_dirty(o);
	rocksdb_flush_wal(o->db, 1, &err);
	if (err && !ret)
		ret = ovl_err(err);
	else if (err)
		ovl_err(err);
	return ret;
}

/* ------------------------------------------------------------ names */

int cdp_overlay_getattr(struct cdp_overlay *o, uint64_t id, struct cdp_attr *a)
{
	struct ovl_ino in;
	int ret = ino_get(o, id, &in);

	if (ret == 0) {
		*a = in.a;
		report_blocks(o, id, &in, a);
	}
	ino_release(&in);
	return ret;
}

int cdp_overlay_lookup(struct cdp_overlay *o, uint64_t parent, const char *name,
		       uint64_t *child, struct cdp_attr *a)
{
	uint32_t type;
	int ret;

	if (strlen(name) > CDP_NAME_MAX)
		return -ENAMETOOLONG;
	ret = entry_get(o, parent, name, child, &type);
	if (ret == 0)
		ret = cdp_overlay_getattr(o, *child, a);
	return ret;
}

ssize_t cdp_overlay_readlink(struct cdp_overlay *o, uint64_t id, char *buf, size_t size)
{
	struct ovl_ino in;
	ssize_t ret;
	size_t n;

	ret = ino_get(o, id, &in);
	if (ret < 0)
		return ret;
	if (!S_ISLNK(in.a.mode)) {
		ino_release(&in);
		return -EINVAL;
	}
	if (!in.target) {
		ino_release(&in);
		return cdp_view_readlink(o->base, id, buf, size);
	}
	n = strlen(in.target);
	if (n + 1 > size) {
		ino_release(&in);
		return -ERANGE;
	}
	memcpy(buf, in.target, n + 1);
	ino_release(&in);
	return (ssize_t)n;
}

/* Checks that parent is a directory where name is free; lock held. */
static int check_new_name(struct cdp_overlay *o, struct txn *t, uint64_t parent,
			  const char *name, struct ovl_ino **pin)
{
	uint64_t child;
	uint32_t type;
	int ret;

	if (strlen(name) > CDP_NAME_MAX)
		return -ENAMETOOLONG;
	ret = txn_ino(t, parent, pin);
	if (ret < 0)
		return ret;
	if (!S_ISDIR((*pin)->a.mode))
		return -ENOTDIR;
	if ((*pin)->a.nlink == 0)
		return -ENOENT;   /* removed while someone still stands in it */
	ret = entry_get(o, parent, name, &child, &type);
	if (ret == 0)
		return -EEXIST;
	return ret == -ENOENT ? 0 : ret;
}

/* Puts a new object named name in parent into t's batch; *id is
 * o->next_id, which the caller bumps once the batch is written.  Lock
 * held. */
static int new_object_put(struct cdp_overlay *o, struct txn *t, const struct cdp_ovl_ctx *ctx,
			  uint64_t parent, struct ovl_ino *pin, const char *name, uint32_t mode,
			  uint64_t rdev, const char *target, uint64_t *id, struct cdp_attr *a)
{
	int64_t now = now_ns();
	struct ovl_ino in;
	struct okey k;
	uint8_t v[8];
	int ret;

	memset(&in, 0, sizeof(in));
	in.own = 1;
	in.a.mode = mode;
	in.a.uid = ctx->uid;
	in.a.gid = ctx->gid;
	if (pin->a.mode & S_ISGID) {
		/* BSD group semantics of a setgid directory, as ext4 */
		in.a.gid = pin->a.gid;
		if (S_ISDIR(mode))
			in.a.mode |= S_ISGID;
	}
	in.a.nlink = S_ISDIR(mode) ? 2 : 1;
	in.a.rdev = rdev;
	in.a.atime_ns = in.a.mtime_ns = in.a.ctime_ns = now;
	/* st_blocks as ext4 gives them: a directory's first block, a symlink
	 * target inline up to 59 bytes; a file counts its delta file */
	in.a.blocks = 0;
	if (S_ISDIR(mode) || (target && strlen(target) >= 60))
		in.a.blocks = o->granule / 512;
	if (target) {
		in.target = (char *)target;
		in.a.size = strlen(target);
	} else if (S_ISDIR(mode)) {
		in.a.size = 4096;
	}
	*id = o->next_id;
	ret = ino_put(t->wb, *id, &in);
	if (ret < 0)
		return ret;
	okey_meta(&k, "next_id");
	put_u64be(v, *id + 1);
	wb_put(t->wb, &k, v, 8);
	entry_put(t, parent, name, *id, mode);
	if (S_ISDIR(mode))
		pin->a.nlink++;
	touch_mc(pin, now);
	*a = in.a;
	return 0;
}

static int new_object(struct cdp_overlay *o, struct txn *t, const struct cdp_ovl_ctx *ctx,
		      uint64_t parent, struct ovl_ino *pin, const char *name, uint32_t mode,
		      uint64_t rdev, const char *target, uint64_t *id, struct cdp_attr *a)
{
	int ret = new_object_put(o, t, ctx, parent, pin, name, mode, rdev, target, id, a);

	if (ret == 0)
		ret = txn_commit(t);
	if (ret == 0)
		o->next_id++;
	return ret;
}

int cdp_overlay_mknod(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
		      const char *name, uint32_t mode, uint64_t rdev, uint64_t *id,
		      struct cdp_attr *a)
{
	struct ovl_ino *pin;
	struct txn t;
	int ret;

	if (S_ISLNK(mode) || (mode & S_IFMT) == 0)
		return -EINVAL;
	pthread_mutex_lock(&o->lock);
	txn_init(&t, o);
	ret = check_new_name(o, &t, parent, name, &pin);
	if (ret == 0)
		ret = new_object(o, &t, ctx, parent, pin, name, mode, rdev, NULL, id, a);
	txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int cdp_overlay_symlink(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
			const char *name, const char *target, uint64_t *id, struct cdp_attr *a)
{
	struct ovl_ino *pin;
	struct txn t;
	int ret;

	if (!*target || strlen(target) >= PATH_MAX)
		return !*target ? -ENOENT : -ENAMETOOLONG;
	pthread_mutex_lock(&o->lock);
	txn_init(&t, o);
	ret = check_new_name(o, &t, parent, name, &pin);
	if (ret == 0)
		ret = new_object(o, &t, ctx, parent, pin, name, S_IFLNK | 0777, 0, target, id, a);
	txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int cdp_overlay_link(struct cdp_overlay *o, uint64_t id, uint64_t newparent,
		     const char *newname, struct cdp_attr *a)
{
	struct ovl_ino *pin, *in;
	int64_t now = now_ns();
	struct okey k;
	struct txn t;
	int ret;

	pthread_mutex_lock(&o->lock);
	txn_init(&t, o);
	ret = check_new_name(o, &t, newparent, newname, &pin);
	if (ret == 0)
		ret = txn_ino(&t, id, &in);
	if (ret == 0 && S_ISDIR(in->a.mode))
		ret = -EPERM;
	if (ret == 0 && in->a.nlink == 0)
		ret = -ENOENT;
	if (ret == 0) {
		in->a.nlink++;
		in->a.ctime_ns = now;
		touch_mc(pin, now);
		entry_put(&t, newparent, newname, id, in->a.mode);
		okey_id(&k, 'O', id);   /* in case it was an orphan */
		wb_del(t.wb, &k);
		ret = txn_commit(&t);
		if (ret == 0) {
			*a = in->a;
			in->own = 1;
			report_blocks(o, id, in, a);
		}
	}
	txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

static int remove_name(struct cdp_overlay *o, uint64_t parent, const char *name, int want_dir)
{
	struct ovl_ino *pin, *in;
	int64_t now = now_ns();
	uint64_t child;
	uint32_t type;
	struct txn t;
	int ret;

	pthread_mutex_lock(&o->lock);
	txn_init(&t, o);
	ret = entry_get(o, parent, name, &child, &type);
	if (ret == 0)
		ret = txn_ino(&t, parent, &pin);
	if (ret == 0)
		ret = txn_ino(&t, child, &in);
	if (ret < 0)
		goto out;
	if (want_dir && !S_ISDIR(in->a.mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (!want_dir && S_ISDIR(in->a.mode)) {
		ret = -EISDIR;
		goto out;
	}
	if (want_dir) {
		ret = dir_is_empty(o, child);
		if (ret < 0)
			goto out;
		if (!ret) {
			ret = -ENOTEMPTY;
			goto out;
		}
		dir_unlink_sub(pin);
	}
	entry_remove(&t, parent, name);
	drop_link(&t, child, in, now);
	touch_mc(pin, now);
	ret = txn_commit(&t);
out:
	txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int cdp_overlay_unlink(struct cdp_overlay *o, uint64_t parent, const char *name)
{
	return remove_name(o, parent, name, 0);
}

int cdp_overlay_rmdir(struct cdp_overlay *o, uint64_t parent, const char *name)
{
	return remove_name(o, parent, name, 1);
}

int cdp_overlay_rename(struct cdp_overlay *o, const struct cdp_ovl_ctx *ctx, uint64_t parent,
		       const char *name, uint64_t newparent, const char *newname, unsigned flags)
{
	struct ovl_ino *op, *np, *src, *dst = NULL;
	int64_t now = now_ns();
	uint64_t s, d = 0, wid = 0;
	struct cdp_attr wa;
	uint32_t st, dt;
	struct txn t;
	int ret;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
		return -EINVAL;
	if ((flags & RENAME_WHITEOUT) && !ctx)
		return -EINVAL;
	if (strlen(newname) > CDP_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&o->lock);
	txn_init(&t, o);
	ret = entry_get(o, parent, name, &s, &st);
	if (ret < 0)
		goto out;
	ret = entry_get(o, newparent, newname, &d, &dt);
	if (ret == -ENOENT) {
		d = 0;
		ret = 0;
	}
	if (ret < 0)
		goto out;
	if ((ret = txn_ino(&t, parent, &op)) < 0 || (ret = txn_ino(&t, newparent, &np)) < 0 ||
	    (ret = txn_ino(&t, s, &src)) < 0)
		goto out;
	if (!S_ISDIR(np->a.mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	if (d && (ret = txn_ino(&t, d, &dst)) < 0)
		goto out;

	if (flags & RENAME_EXCHANGE) {
		if (!d) {
			ret = -ENOENT;
			goto out;
		}
		entry_put(&t, newparent, newname, s, src->a.mode);
		entry_put(&t, parent, name, d, dst->a.mode);
		if (parent != newparent && S_ISDIR(src->a.mode) != S_ISDIR(dst->a.mode)) {
			/* a directory changed parents: move the ".." link */
			if (S_ISDIR(src->a.mode)) {
				dir_unlink_sub(op);
				np->a.nlink++;
			} else {
				dir_unlink_sub(np);
				op->a.nlink++;
			}
		}
		src->a.ctime_ns = dst->a.ctime_ns = now;
		touch_mc(op, now);
		touch_mc(np, now);
		ret = txn_commit(&t);
		goto out;
	}
	if (d) {
		if (flags & RENAME_NOREPLACE) {
			ret = -EEXIST;
			goto out;
		}
		if (d == s) {
			ret = 0;   /* two names of one file: nothing to do */
			goto out;
		}
		if (S_ISDIR(src->a.mode) && !S_ISDIR(dst->a.mode)) {
			ret = -ENOTDIR;
			goto out;
		}
		if (!S_ISDIR(src->a.mode) && S_ISDIR(dst->a.mode)) {
			ret = -EISDIR;
			goto out;
		}
		if (S_ISDIR(dst->a.mode)) {
			ret = dir_is_empty(o, d);
			if (ret < 0)
				goto out;
			if (!ret) {
				ret = -ENOTEMPTY;
				goto out;
			}
			dir_unlink_sub(np);
		}
		drop_link(&t, d, dst, now);
	}
	entry_put(&t, newparent, newname, s, src->a.mode);
	if (S_ISDIR(src->a.mode) && parent != newparent) {
		dir_unlink_sub(op);
		np->a.nlink++;
	}
	src->a.ctime_ns = now;
	touch_mc(op, now);
	touch_mc(np, now);
	if (flags & RENAME_WHITEOUT) {
		/* as ext4: the old name becomes a character device 0:0 of the
		 * caller's, in the same batch as the move (the names differ:
		 * d == s returned above) */
		ret = new_object_put(o, &t, ctx, parent, op, name, S_IFCHR, 0, NULL, &wid, &wa);
		if (ret < 0)
			goto out;
	} else if (parent != newparent || strcmp(name, newname) != 0) {
		entry_remove(&t, parent, name);
	}
	ret = txn_commit(&t);
	if (ret == 0 && (flags & RENAME_WHITEOUT))
		o->next_id++;
out:
	txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

/* ------------------------------------------------------------ xattrs */

static int xattrs_own(const struct ovl_ino *in, uint64_t id)
{
	return (in->flags & OVI_OWN_XATTRS) || !(in->flags & OVI_BASE) ||
	       id >= CDP_OVL_FIRST_NEW_ID;
}

ssize_t cdp_overlay_getxattr(struct cdp_overlay *o, uint64_t id, const char *name, void *buf,
			     size_t size)
{
	struct ovl_ino in;
	struct okey k;
	char *val;
	size_t len;
	ssize_t ret;

	ret = ino_get(o, id, &in);
	if (ret < 0)
		return ret;
	ino_release(&in);
	if (!xattrs_own(&in, id))
		return cdp_view_getxattr(o->base, id, name, buf, size);
	if (strlen(name) > CDP_NAME_MAX)
		return -ERANGE;
	okey_name(&k, 'X', id, name);
	ret = ovl_get(o, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (!val || len < 1)
		ret = -ENODATA;
	else if (size && len - 1 > size)
		ret = -ERANGE;
	else {
		if (size)
			memcpy(buf, val + 1, len - 1);
		ret = (ssize_t)(len - 1);
	}
	rocksdb_free(val);
	return ret;
}

ssize_t cdp_overlay_listxattr(struct cdp_overlay *o, uint64_t id, char *buf, size_t size)
{
	rocksdb_iterator_t *it;
	struct ovl_ino in;
	struct okey k;
	size_t used = 0;
	ssize_t ret;

	ret = ino_get(o, id, &in);
	if (ret < 0)
		return ret;
	ino_release(&in);
	if (!xattrs_own(&in, id))
		return cdp_view_listxattr(o->base, id, buf, size);
	okey_id(&k, 'X', id);
	it = rocksdb_create_iterator(o->db, o->ropts);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen;
		const char *key = rocksdb_iter_key(it, &klen);

		if (klen < 9 || memcmp(key, k.b, 9) != 0)
			break;
		if (size && used + (klen - 9) + 1 > size) {
			rocksdb_iter_destroy(it);
			return -ERANGE;
		}
		if (size) {
			memcpy(buf + used, key + 9, klen - 9);
			buf[used + klen - 9] = '\0';
		}
		used += klen - 9 + 1;
	}
	ret = iter_done(it);
	return ret < 0 ? ret : (ssize_t)used;
}

/* First change of a base object's xattrs: copy them all into the overlay,
 * which owns them from then on.  Lock held. */
static int xattrs_copy_up(struct cdp_overlay *o, struct txn *t, uint64_t id,
			  struct ovl_ino *in)
{
	char *names = NULL, *p, *val = NULL;
	ssize_t n, vn;
	int ret = 0;

	if (xattrs_own(in, id))
		return 0;
	n = cdp_view_listxattr(o->base, id, NULL, 0);
	if (n < 0)
		return (int)n;
	if (n > 0) {
		names = malloc((size_t)n);
		val = malloc(OVL_XATTR_MAX + 1);
		if (!names || !val) {
			ret = -ENOMEM;
			goto out;
		}
		n = cdp_view_listxattr(o->base, id, names, (size_t)n);
		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		for (p = names; p < names + n; p += strlen(p) + 1) {
			struct okey k;

			vn = cdp_view_getxattr(o->base, id, p, val + 1, OVL_XATTR_MAX);
			if (vn < 0) {
				ret = (int)vn;
				goto out;
			}
			val[0] = 'V';
			okey_name(&k, 'X', id, p);
			wb_put(t->wb, &k, val, (size_t)vn + 1);
		}
	}
	in->flags |= OVI_OWN_XATTRS;
out:
	free(names);
	free(val);
	return ret;
}

int cdp_overlay_setxattr(struct cdp_overlay *o, uint64_t id, const char *name,
			 const void *value, size_t size, int flags)
{
	struct ovl_ino *in;
	struct okey k;
	struct txn t;
	ssize_t have;
	char *v;
	int ret;

	if (strlen(name) > CDP_NAME_MAX || !*name)
		return -ERANGE;
	if (size > OVL_XATTR_MAX)
		return -E2BIG;
	pthread_mutex_lock(&o->lock);
	txn_init(&t, o);
	ret = txn_ino(&t, id, &in);
	if (ret < 0)
		goto out;
	have = cdp_overlay_getxattr(o, id, name, NULL, 0);
	if (have < 0 && have != -ENODATA) {
		ret = (int)have;
		goto out;
	}
	if ((flags & XATTR_CREATE) && have >= 0) {
		ret = -EEXIST;
		goto out;
	}
	if ((flags & XATTR_REPLACE) && have < 0) {
		ret = -ENODATA;
		goto out;
	}
	ret = xattrs_copy_up(o, &t, id, in);
	if (ret < 0)
		goto out;
	v = malloc(size + 1);
	if (!v) {
		ret = -ENOMEM;
		goto out;
	}
	v[0] = 'V';
	memcpy(v + 1, value, size);
	okey_name(&k, 'X', id, name);
	wb_put(t.wb, &k, v, size + 1);
	free(v);
	in->a.ctime_ns = now_ns();
	ret = txn_commit(&t);
out:
	txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}

int cdp_overlay_removexattr(struct cdp_overlay *o, uint64_t id, const char *name)
{
	struct ovl_ino *in;
	struct okey k;
	struct txn t;
	ssize_t have;
	int ret;

	pthread_mutex_lock(&o->lock);
	txn_init(&t, o);
	ret = txn_ino(&t, id, &in);
	if (ret < 0)
		goto out;
	have = cdp_overlay_getxattr(o, id, name, NULL, 0);
	if (have < 0) {
		ret = (int)have;
		goto out;
	}
	ret = xattrs_copy_up(o, &t, id, in);
	if (ret < 0)
		goto out;
	okey_name(&k, 'X', id, name);
	wb_del(t.wb, &k);
	in->a.ctime_ns = now_ns();
	ret = txn_commit(&t);
out:
	txn_release(&t);
	pthread_mutex_unlock(&o->lock);
	return ret;
}
