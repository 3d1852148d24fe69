/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * view.c - reading a host's namespace as of one seq.  Opening a view maps
 * the instant to a seq once (one SeekForPrev in the time column family)
 * after making sure no op that returned before the instant can still be in
 * the writer's queue (complete_through_ts).  From then on every lookup is
 * one Seek to (prefix, ~seq): the first key at or after it with the same
 * prefix is the newest version at or before the view's seq.  A view holds
 * nothing but its seq; memory and open time do not grow with history.
 * Data blocks come through a cache of decompressed blocks; every chunk read
 * from disk is verified (chunklog.c) and a bad one is -EIO, never bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "store_int.h"

struct cdp_view {
	struct cdp_store *s;
	uint32_t host;
	uint64_t seq;
	int64_t ts;
	int64_t requested_ts;
	char *reg;     /* its file in STORE/views/ (heap), NULL when unregistered */
};

/*
 * The registry of open views, so that a prune never removes the state a
 * reader is on (retain.c).  Each open view holds an empty file
 * STORE/views/HOST.SEQ.PID.N (host id, seq, pid in decimal, N a counter of
 * the process) until it is freed; files of dead processes are stale and
 * removed by the next reader of the registry.  Registering is best effort:
 * a store on read-only media serves views unregistered (with a warning),
 * where no prune can run anyway.  A view registers *before* it checks its
 * time entry once more: a prune deletes the time entries of the states it
 * drops, then reads the registry, so a view either is seen by that read or
 * finds its entry gone and resolves again.
 */
static int view_register(struct cdp_view *v)
{
	static unsigned long counter;
	static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
	char dir[PATH_MAX], path[PATH_MAX + 96];
	unsigned long n;
	int fd;

	snprintf(dir, sizeof(dir), "%s/" CDP_VIEWS_DIR, v->s->path);
	pthread_mutex_lock(&counter_lock);
	n = ++counter;
	pthread_mutex_unlock(&counter_lock);
	snprintf(path, sizeof(path), "%s/%u.%llu.%d.%lu", dir, v->host,
		 (unsigned long long)v->seq, (int)getpid(), n);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT && mkdir(dir, 0755) == 0)
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		static int warned;

		if (!warned++)
			cdp_log(LOG_WARNING, "cannot register a view in '%s': %s (a prune "
				"could remove the instant under it)", dir, strerror(errno));
		return 0;
	}
	close(fd);
	v->reg = strdup(path);
	if (!v->reg) {
		unlink(path);
		return -ENOMEM;
	}
	return 0;
}

static void view_unregister(struct cdp_view *v)
{
	if (v->reg) {
		unlink(v->reg);
		free(v->reg);
		v->reg = NULL;
	}
}

int cdp_views_for_each(struct cdp_store *s, uint32_t host,
		       int (*fn)(void *arg, uint64_t seq), void *arg)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	unsigned long long seq;
	unsigned long n;
	unsigned h;
	struct dirent *de;
	DIR *d;
	int pid, ret = 0;

	snprintf(dir, sizeof(dir), "%s/" CDP_VIEWS_DIR, s->path);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (ret == 0 && (de = readdir(d))) {
		if (sscanf(de->d_name, "%u.%llu.%d.%lu", &h, &seq, &pid, &n) != 4)
			continue;
		if (!cdp_store_pid_alive((uint32_t)pid)) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
			continue;
		}
		if (h == host)
			ret = fn(arg, seq);
	}
	closedir(d);
	return ret;
}

/* Whether the time entry (ts, seq) of host is (still) in the index. */
static int time_entry_exists(struct cdp_store *s, uint32_t host, int64_t ts, uint64_t seq)
{
	struct cdp_key k;
	char *val;
	size_t len;
	int ret;

	cdp_key_time(&k, host, ts, seq);
	ret = cdp_store_get(s, CF_TIME, &k, &val, &len);
	if (ret < 0)
		return ret;
	free(val);
	return val != NULL;
}

uint64_t cdp_view_seq(const struct cdp_view *v)
{
	return v->seq;
}

int64_t cdp_view_ts(const struct cdp_view *v)
{
	return v->ts;
}

int64_t cdp_view_requested_ts(const struct cdp_view *v)
{
	return v->requested_ts;
}

uint32_t cdp_view_host_id(const struct cdp_view *v)
{
	return v->host;
}

struct cdp_store *cdp_view_store(const struct cdp_view *v)
{
	return v->s;
}

void cdp_view_free(struct cdp_view *v)
{
	if (!v)
		return;
	view_unregister(v);
	free(v);
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, ms % 1000 * 1000000L };

	nanosleep(&t, NULL);
}

/* Waits (up to ~3 s) until every op with ts <= t is committed, when a
 * writer is running. */
static int wait_complete(struct cdp_store *s, uint32_t host, int64_t t)
{
	int64_t complete, deadline = cdp_now_ns() + 3000000000LL;
	int ret;

	for (;;) {
		ret = cdp_store_host_meta_i64(s, host, HM_COMPLETE, 0, &complete);
		if (ret < 0)
			return ret;
		if (complete >= t || !cdp_store_writer_locked(s))
			return 0;
		if (cdp_now_ns() > deadline) {
			cdp_log(LOG_WARNING, "capture of the instant asked for is not complete "
				"after 3 s; the view may miss its last operations");
			return 0;
		}
		if (s->writer) {
			ret = cdp_writer_flush(s);
			if (ret < 0 && ret != -CDP_ENOSPACE)
				return ret;
			if (ret == -CDP_ENOSPACE)
				return 0;
			if (t > cdp_now_ns())
				sleep_ms(10);   /* an instant just ahead of now */
		} else {
			sleep_ms(20);
			ret = cdp_store_refresh(s);
			if (ret < 0)
				return ret;
		}
	}
}

/* Catches up with the writer, then finds host's id: how every view opens. */
static int view_host(struct cdp_store *s, const char *host, uint32_t *id)
{
	int ret = cdp_store_refresh(s);

	return ret < 0 ? ret : cdp_store_host_lookup(s, host, id);
}

/* Maps ts_ns to the newest state at or before it: v->seq and v->ts (0 and
 * 0 before the host's first op). */
static int view_resolve(struct cdp_view *v, int64_t ts_ns, const char *host)
{
	struct cdp_store *s = v->s;
	rocksdb_iterator_t *it;
	struct cdp_key k;
	const char *key;
	size_t klen;
	int ret = 0;

	v->seq = 0;
	v->ts = 0;
	cdp_key_time(&k, v->host, ts_ns == CDP_TS_LATEST ? INT64_MAX : ts_ns, UINT64_MAX);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_TIME]);
	rocksdb_iter_seek_for_prev(it, (const char *)k.b, k.len);
	if (rocksdb_iter_valid(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen == 20 && memcmp(key, k.b, 4) == 0) {
			v->ts = (int64_t)get_u64be((const uint8_t *)key + 4);
			v->seq = get_u64be((const uint8_t *)key + 12);
		}
	} else {
		/* else a damaged time index opens the empty state before the
		 * first op */
		ret = cdp_rocks_iter_status(it, "column family 'time' of '%s', host '%s': "
					    "cannot map the instant to an operation", s->path,
					    host);
	}
	rocksdb_iter_destroy(it);
	return ret;
}

int cdp_view_open(struct cdp_store *s, const char *host, int64_t ts_ns, struct cdp_view **out)
{
	struct cdp_view *v;
	int64_t now, first, t;
	uint32_t id;
	int tries;
	int ret;

	*out = NULL;
	cdp_store_clear_last_error();
	ret = view_host(s, host, &id);
	if (ret < 0)
		return ret;
	now = cdp_now_ns();
	if (ts_ns != CDP_TS_LATEST && ts_ns > now + 1000000000LL)
		return -CDP_EFUTURE;
	ret = cdp_store_host_first_ts(s, id, &first);
	if (ret < 0)
		return ret;
	if (!first || (ts_ns != CDP_TS_LATEST && ts_ns < first))
		return -CDP_EBEFORE;
	t = ts_ns == CDP_TS_LATEST ? now : ts_ns;
	ret = wait_complete(s, id, t);
	if (ret < 0)
		return ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->s = s;
	v->host = id;
	for (tries = 0;; tries++) {
		ret = view_resolve(v, ts_ns, host);
		if (ret == 0 && v->seq)
			ret = view_register(v);
		/* a prune may have dropped the state meanwhile (see above) */
		if (ret == 0 && v->reg && (ret = cdp_store_refresh(s)) == 0 &&
		    (ret = time_entry_exists(s, id, v->ts, v->seq)) == 0 && tries < 8) {
			view_unregister(v);
			ret = cdp_store_host_first_ts(s, id, &first);
			if (ret == 0 && ts_ns != CDP_TS_LATEST && ts_ns < first)
				ret = -CDP_EBEFORE;
			if (ret < 0)
				break;
			continue;
		}
		break;
	}
	if (ret < 0) {
		cdp_view_free(v);
		return ret;
	}
	v->requested_ts = ts_ns == CDP_TS_LATEST ? v->ts : ts_ns;
	*out = v;
	return 0;
}

int cdp_view_open_seq(struct cdp_store *s, const char *host, int64_t ts_ns, uint64_t seq,
		      struct cdp_view **out)
{
	struct cdp_view *v;
	struct cdp_key k;
	char *val;
	size_t len;
	uint32_t id;
	int ret;

	*out = NULL;
	ret = view_host(s, host, &id);
	if (ret < 0)
		return ret;
	cdp_key_time(&k, id, ts_ns, seq);
	ret = cdp_store_get(s, CF_TIME, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (!val)
		return -ENOENT;
	free(val);
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->s = s;
	v->host = id;
	v->seq = seq;
	v->ts = v->requested_ts = ts_ns;
	ret = view_register(v);
	if (ret == 0 && v->reg && (ret = cdp_store_refresh(s)) == 0)
		ret = time_entry_exists(s, id, ts_ns, seq) == 1 ? 0 : -ENOENT;
	if (ret < 0) {
		cdp_view_free(v);
		return ret;
	}
	*out = v;
	return 0;
}

/* Seeks the newest version at or before the view's seq of a versioned key
 * k (whose last 8 bytes are the inverted seq).  Copies the value into
 * *val (heap) and returns 1 when found, 0 when none, or -errno. */
static int version_get(struct cdp_view *v, int cf, const struct cdp_key *k, char **val,
		       size_t *vlen)
{
	rocksdb_iterator_t *it;
	const char *key, *p;
	size_t klen;
	int found = 0;

	it = rocksdb_create_iterator_cf(v->s->db, v->s->ropts, v->s->cf[cf]);
	rocksdb_iter_seek(it, (const char *)k->b, k->len);
	if (rocksdb_iter_valid(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen == k->len && memcmp(key, k->b, k->len - 8) == 0) {
			p = rocksdb_iter_value(it, vlen);
			*val = malloc(*vlen + 1);
			if (!*val) {
				found = -ENOMEM;
			} else {
				memcpy(*val, p, *vlen);
				(*val)[*vlen] = 0;
				found = 1;
			}
		}
	} else {
		found = cdp_rocks_iter_status(it, "column family '%s' of '%s', host %u, file %llu "
					      "at seq %llu", cdp_cf_names[cf], v->s->path, v->host,
					      (unsigned long long)get_u64be(k->b + 4),
					      (unsigned long long)v->seq);
	}
	rocksdb_iter_destroy(it);
	return found;
}

/* Attribute record (and symlink target) of fid: heap copy in *val. */
static int inode_get(struct cdp_view *v, uint64_t fid, char **val, size_t *vlen)
{
	struct cdp_key k;
	int ret;

	cdp_key_inode(&k, v->host, fid, v->seq);
	ret = version_get(v, CF_INODE, &k, val, vlen);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOENT;
	if (*vlen >= 1 && (*val)[0] == VAL_TOMBSTONE) {
		free(*val);
		return -ENOENT;
	}
	return 0;
}

int cdp_view_getattr(struct cdp_view *v, uint64_t fid, struct cdp_attr *a)
{
	char *val;
	size_t vlen;
	int ret;

	ret = inode_get(v, fid, &val, &vlen);
	if (ret == -ENOENT && fid == CDP_ROOT_FID) {
		/* the host's "/" exists before anyone journals its attributes */
		memset(a, 0, sizeof(*a));
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
		a->atime_ns = a->mtime_ns = a->ctime_ns = v->ts;
		a->blocks = CDP_BLOCKS_UNKNOWN;
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = cdp_attr_decode(val, vlen, a, NULL);
	free(val);
	return ret;
}

ssize_t cdp_view_readlink(struct cdp_view *v, uint64_t fid, char *buf, size_t size)
{
	struct cdp_attr a;
	char *val;
	size_t vlen, tlen, hlen = 0;
	int ret;

	ret = inode_get(v, fid, &val, &vlen);
	if (ret < 0)
		return ret;
	ret = cdp_attr_decode(val, vlen, &a, &hlen);
	if (ret == 0 && !S_ISLNK(a.mode))
		ret = -EINVAL;
	tlen = vlen - hlen;
	if (ret == 0 && tlen + 1 > size)
		ret = -ERANGE;
	if (ret == 0) {
		memcpy(buf, val + hlen, tlen);
		buf[tlen] = 0;
	}
	free(val);
	return ret < 0 ? ret : (ssize_t)tlen;
}

int cdp_view_lookup(struct cdp_view *v, uint64_t parent, const char *name, uint64_t *child,
		    uint32_t *type)
{
	struct cdp_key k;
	char *val;
	size_t vlen, nlen = 0;
	uint32_t t;
	int ret;

	if (!name || !(nlen = strlen(name)) || nlen > CDP_NAME_MAX)
		return nlen > CDP_NAME_MAX ? -ENAMETOOLONG : -ENOENT;
	cdp_key_dirent(&k, v->host, parent, name, nlen, 1, 1, v->seq);
	ret = version_get(v, CF_DIRENT, &k, &val, &vlen);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOENT;
	if (cdp_dirent_value_decode(val, vlen, child, &t) == 0) {
		if (type)
			*type = t;
		ret = 0;
	} else {
		ret = vlen >= 1 && val[0] == VAL_TOMBSTONE ? -ENOENT : -CDP_ECORRUPT;
	}
	free(val);
	return ret;
}

int cdp_view_resolve(struct cdp_view *v, const char *path, uint64_t *fid)
{
	char name[CDP_NAME_MAX + 1];
	const char *p = path, *e;
	uint64_t cur = CDP_ROOT_FID;
	int ret;

	if (!path || path[0] != '/')
		return -EINVAL;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		if (!e)
			e = p + strlen(p);
		if ((size_t)(e - p) > CDP_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, p, (size_t)(e - p));
		name[e - p] = 0;
		p = e;
		if (strcmp(name, ".") == 0)
			continue;
		ret = cdp_view_lookup(v, cur, name, &cur, NULL);
		if (ret < 0)
			return ret;
	}
	*fid = cur;
	return 0;
}

typedef int (*name_fn)(void *arg, const char *name, const char *val, size_t vlen);

/* Walks the live names under (host, id) of a dirent-like column family in
 * byte order, two seeks per name, after after_name when given. */
static int names_walk(struct cdp_view *v, int cf, uint64_t id, const char *after_name,
		      name_fn fn, void *arg)
{
	rocksdb_iterator_t *it;
	struct cdp_key k, prefix;
	char name[CDP_NAME_MAX + 1];
	const char *key, *val;
	size_t klen, vlen, nlen;
	int ret = 0;

	cdp_key_dirent(&prefix, v->host, id, "", 0, 0, 0, 0);
	it = rocksdb_create_iterator_cf(v->s->db, v->s->ropts, v->s->cf[cf]);
	if (after_name && *after_name) {
		cdp_key_dirent(&k, v->host, id, after_name, strlen(after_name), 0, 0, 0);
		k.b[k.len++] = 1;
	} else {
		k = prefix;
	}
	rocksdb_iter_seek(it, (const char *)k.b, k.len);
	while (rocksdb_iter_valid(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen < prefix.len + 1 + 8 || memcmp(key, prefix.b, prefix.len) != 0)
			break;
		nlen = klen - prefix.len - 9;
		if (nlen == 0 || nlen > CDP_NAME_MAX || key[prefix.len + nlen] != 0) {
			ret = -CDP_ECORRUPT;
			break;
		}
		memcpy(name, key + prefix.len, nlen);
		name[nlen] = 0;
		cdp_key_dirent(&k, v->host, id, name, nlen, 1, 1, v->seq);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (rocksdb_iter_valid(it)) {
			key = rocksdb_iter_key(it, &klen);
			if (klen == k.len && memcmp(key, k.b, k.len - 8) == 0) {
				val = rocksdb_iter_value(it, &vlen);
				if (vlen >= 1 && val[0] != VAL_TOMBSTONE) {
					ret = fn(arg, name, val, vlen);
					if (ret)
						break;
				}
			}
		}
		cdp_key_dirent(&k, v->host, id, name, nlen, 0, 0, 0);
		k.b[k.len++] = 1;
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family '%s' of '%s', host %u, names of "
					    "file %llu at seq %llu", cdp_cf_names[cf], v->s->path,
					    v->host, (unsigned long long)id,
					    (unsigned long long)v->seq);
	rocksdb_iter_destroy(it);
	return ret;
}

struct readdir_ctx {
	cdp_dirent_fn fn;
	void *arg;
};

static int readdir_cb(void *arg, const char *name, const char *val, size_t vlen)
{
	struct readdir_ctx *c = arg;

	uint64_t child;
	uint32_t type;

	if (cdp_dirent_value_decode(val, vlen, &child, &type) < 0)
		return -CDP_ECORRUPT;
	return c->fn(c->arg, name, child, type);
}

int cdp_view_readdir(struct cdp_view *v, uint64_t dir, const char *after_name,
		     cdp_dirent_fn fn, void *arg)
{
	struct readdir_ctx c = { fn, arg };
	struct cdp_attr a;
	int ret;

	ret = cdp_view_getattr(v, dir, &a);
	if (ret < 0)
		return ret;
	if (!S_ISDIR(a.mode))
		return -ENOTDIR;
	return names_walk(v, CF_DIRENT, dir, after_name, readdir_cb, &c);
}

/* ---------------------------------------------------------------- data */

/* The location of chunk sha in the index; -EIO (logged) when it has none. */
static int chunk_location(struct cdp_store *s, const uint8_t sha[CDP_HASH_BYTES],
			  struct cdp_chunk_loc *loc)
{
	int ret;

	ret = cdp_chunk_lookup(s, sha, loc);
	if (ret < 0 && ret != -CDP_ECORRUPT)
		return ret;
	if (ret == 0) {
		cdp_log(LOG_ERR, "chunk %02x%02x%02x%02x%02x%02x%02x%02x referenced by a block is "
			"missing from the index of '%s'", sha[0], sha[1], sha[2], sha[3], sha[4],
			sha[5], sha[6], sha[7], s->path);
		return -EIO;
	}
	if (ret < 0 || loc->raw_len != s->block_size) {
		cdp_log(LOG_ERR, "bad chunk index record in '%s'", s->path);
		return -EIO;
	}
	return 0;
}

/* A chunk that fails at its location may have been moved by a gc's
 * compaction since this process read the index (gc.c): the index is read
 * again (a reader catches up with the writer first), and a new location
 * is tried once before the failure is reported. */
int cdp_view_read_chunk(struct cdp_store *s, const uint8_t sha[CDP_HASH_BYTES], void *out)
{
	struct cdp_chunk_loc loc, moved;
	const char *why = NULL;
	int ret;

	if (cdp_cache_get(s->cache, sha, out, s->block_size))
		return 0;
	ret = chunk_location(s, sha, &loc);
	if (ret < 0)
		return ret;
	ret = cdp_chunklog_try_read(s->chunks, sha, &loc, out, &why);
	if (ret == -EIO && (s->writer || cdp_store_refresh(s) == 0) &&
	    chunk_location(s, sha, &moved) == 0 &&
	    (moved.segment != loc.segment || moved.offset != loc.offset))
		ret = cdp_chunklog_read(s->chunks, sha, &moved, out);
	else if (ret == -EIO)
		cdp_chunklog_log_bad(sha, &loc, why);
	if (ret < 0)
		return ret;
	cdp_cache_put(s->cache, sha, out, s->block_size);
	return 0;
}

/* Block version at the view's seq: 1 with sha (chunk), 2 (zero), 0 (none);
 * -EIO (logged) when the index cannot be read, never "none". */
static int block_version(struct cdp_view *v, rocksdb_iterator_t *it, uint64_t fid,
			 uint64_t block, uint8_t sha[CDP_HASH_BYTES])
{
	struct cdp_key k;
	const char *key, *val;
	size_t klen, vlen;
	int ret;

	cdp_key_block(&k, v->host, fid, block, v->seq);
	rocksdb_iter_seek(it, (const char *)k.b, k.len);
	if (!rocksdb_iter_valid(it))
		return cdp_rocks_iter_status(it, "column family 'block' of '%s', host %u, file "
					     "%llu block %llu at seq %llu", v->s->path, v->host,
					     (unsigned long long)fid, (unsigned long long)block,
					     (unsigned long long)v->seq);
	key = rocksdb_iter_key(it, &klen);
	if (klen != k.len || memcmp(key, k.b, k.len - 8) != 0)
		return 0;
	val = rocksdb_iter_value(it, &vlen);
	ret = cdp_block_value_decode(val, vlen, sha, NULL);
	if (ret < 0)
		return ret;
	return ret == BLOCK_VALUE_ZERO ? 2 : 1;
}

ssize_t cdp_view_read(struct cdp_view *v, uint64_t fid, void *buf, size_t len, uint64_t off)
{
	struct cdp_store *s = v->s;
	uint32_t bs = s->block_size;
	uint8_t sha[CDP_HASH_BYTES];
	rocksdb_iterator_t *it;
	struct cdp_attr a;
	uint8_t *block;
	uint64_t pos, end, b;
	size_t in, n;
	int ret;

	ret = cdp_view_getattr(v, fid, &a);
	if (ret < 0)
		return ret;
	if (S_ISDIR(a.mode))
		return -EISDIR;
	if (off >= a.size || len == 0)
		return 0;
	end = a.size - off < len ? a.size : off + len;
	block = malloc(bs);
	if (!block)
		return -ENOMEM;
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_BLOCK]);
	for (pos = off; pos < end; pos += n) {
		b = pos / bs;
		in = pos % bs;
		n = bs - in < end - pos ? bs - in : end - pos;
		ret = block_version(v, it, fid, b, sha);
		if (ret < 0 && ret != -EIO) {
			cdp_log(LOG_ERR, "bad block record of file %llu block %llu in '%s'",
				(unsigned long long)fid, (unsigned long long)b, s->path);
			ret = -EIO;
		}
		if (ret < 0)
			break;
		if (ret != 1) {
			memset((uint8_t *)buf + (pos - off), 0, n);
			continue;
		}
		if (in == 0 && n == bs) {
			ret = cdp_view_read_chunk(s, sha, (uint8_t *)buf + (pos - off));
		} else {
			ret = cdp_view_read_chunk(s, sha, block);
			if (ret == 0)
				memcpy((uint8_t *)buf + (pos - off), block + in, n);
		}
		if (ret < 0)
			break;
	}
	rocksdb_iter_destroy(it);
	free(block);
	if (ret < 0)
		return ret;
	return (ssize_t)(end - off);
}

int cdp_view_seek(struct cdp_view *v, uint64_t fid, uint64_t off, int want_data,
		  uint64_t *pos)
{
	struct cdp_store *s = v->s;
	uint32_t bs = s->block_size;
	rocksdb_iterator_t *it;
	struct cdp_attr a;
	struct cdp_key k;
	const char *key, *val;
	size_t klen, vlen;
	uint64_t b, kb, found, nblocks;
	int ret, is_data;

	ret = cdp_view_getattr(v, fid, &a);
	if (ret < 0)
		return ret;
	if (S_ISDIR(a.mode))
		return -EISDIR;
	if (off >= a.size)
		return -ENXIO;
	nblocks = (a.size + bs - 1) / bs;
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_BLOCK]);
	found = nblocks;   /* no data: -ENXIO; no hole: the end of the file */
	for (b = off / bs; b < nblocks;) {
		/* the newest version of block b at the view's seq, or else the
		 * first later block that has any version: b itself is a hole */
		cdp_key_block(&k, v->host, fid, b, v->seq);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (!rocksdb_iter_valid(it))
			kb = UINT64_MAX;
		else if (key = rocksdb_iter_key(it, &klen),
			 klen != k.len || memcmp(key, k.b, 12) != 0)
			kb = UINT64_MAX;   /* no block of this file from b on */
		else
			kb = get_u64be((const uint8_t *)key + 12);
		if (kb != b) {
			if (!want_data) {
				found = b;
				break;
			}
			b = kb;
			continue;
		}
		val = rocksdb_iter_value(it, &vlen);
		is_data = vlen >= 1 && val[0] == VAL_CHUNKREF;
		if (is_data == want_data) {
			found = b;
			break;
		}
		b++;
	}
	ret = cdp_rocks_iter_status(it, "column family 'block' of '%s', host %u, file %llu "
				    "at seq %llu (seeking %s)", s->path, v->host,
				    (unsigned long long)fid, (unsigned long long)v->seq,
				    want_data ? "data" : "a hole");
	rocksdb_iter_destroy(it);
	if (ret < 0)
		return ret;
	if (want_data && found >= nblocks)
		return -ENXIO;
	*pos = found * bs > off ? found * bs : off;
	if (*pos > a.size)
		*pos = a.size;
	return 0;
}

int cdp_view_data_blocks(struct cdp_view *v, uint64_t fid, uint64_t first, uint64_t end,
			 int (*fn)(void *arg, uint64_t block), void *arg)
{
	struct cdp_store *s = v->s;
	rocksdb_iterator_t *it;
	struct cdp_key k;
	const char *key, *val;
	size_t klen, vlen;
	uint64_t b, kb;
	int ret = 0;

	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_BLOCK]);
	for (b = first; b < end;) {
		/* the newest version of block b at the view's seq, or else the
		 * first later block that has any version: b is then a hole */
		cdp_key_block(&k, v->host, fid, b, v->seq);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (!rocksdb_iter_valid(it))
			break;
		key = rocksdb_iter_key(it, &klen);
		if (klen != k.len || memcmp(key, k.b, 12) != 0)
			break;   /* no block of this file from b on */
		kb = get_u64be((const uint8_t *)key + 12);
		if (kb != b) {
			b = kb;  /* its versions may all be newer than the view: seek again */
			continue;
		}
		val = rocksdb_iter_value(it, &vlen);
		if (vlen >= 1 && val[0] == VAL_CHUNKREF && (ret = fn(arg, b)) != 0)
			break;
		b++;
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'block' of '%s', host %u, file "
					    "%llu at seq %llu", s->path, v->host,
					    (unsigned long long)fid, (unsigned long long)v->seq);
	rocksdb_iter_destroy(it);
	return ret;
}

int cdp_view_block_hash(struct cdp_view *v, uint64_t fid, uint64_t block,
			uint8_t hash[CDP_HASH_BYTES], int *is_zero)
{
	rocksdb_iterator_t *it;
	int ret;

	it = rocksdb_create_iterator_cf(v->s->db, v->s->ropts, v->s->cf[CF_BLOCK]);
	ret = block_version(v, it, fid, block, hash);
	rocksdb_iter_destroy(it);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOENT;
	*is_zero = ret == 2;
	return 0;
}

/* -------------------------------------------------------------- xattrs */

ssize_t cdp_view_getxattr(struct cdp_view *v, uint64_t fid, const char *name, void *buf,
			  size_t size)
{
	struct cdp_key k;
	const char *data;
	char *val;
	size_t vlen, nlen, dlen;
	ssize_t ret;

	if (!name || !(nlen = strlen(name)) || nlen > CDP_NAME_MAX)
		return -ENODATA;
	cdp_key_xattr(&k, v->host, fid, name, nlen, 1, 1, v->seq);
	ret = version_get(v, CF_XATTR, &k, &val, &vlen);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENODATA;
	if (cdp_xattr_value_decode(val, vlen, &data, &dlen) < 0) {
		ret = vlen >= 1 && val[0] == VAL_TOMBSTONE ? -ENODATA : -CDP_ECORRUPT;
	} else {
		ret = (ssize_t)dlen;
		if (size) {
			if (size < dlen)
				ret = -ERANGE;
			else
				memcpy(buf, data, dlen);
		}
	}
	free(val);
	return ret;
}

struct listx_ctx {
	char *buf;
	size_t size, used;
};

static int listx_cb(void *arg, const char *name, const char *val, size_t vlen)
{
	struct listx_ctx *c = arg;
	size_t n = strlen(name) + 1;

	if (c->size) {
		if (c->used + n > c->size)
			return -ERANGE;
		memcpy(c->buf + c->used, name, n);
	}
	c->used += n;
	return 0;
}

ssize_t cdp_view_listxattr(struct cdp_view *v, uint64_t fid, char *buf, size_t size)
{
	struct listx_ctx c = { buf, size, 0 };
	int ret;

	ret = names_walk(v, CF_XATTR, fid, NULL, listx_cb, &c);
	if (ret < 0)
		return ret;
	return (ssize_t)c.used;
}
