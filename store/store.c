/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.c - opening and closing a store directory, its FORMAT file and
 * writer lock, the RocksDB index (as the primary for the writer, as a
 * secondary instance for readers), and the host/root metadata in the
 * default column family.  Layout of the directory:
 *
 *   FORMAT        one line, "cdpfs store format 1"; the writer holds an OFD
 *                 write lock on it for as long as it has the store open
 *   index/        RocksDB, column families listed in keys.c
 *   segments/     the chunk log (chunklog.c)
 *
 * A reader's secondary instance keeps its own info log and manifest copy in
 * a private directory under $TMPDIR (or /tmp), removed on close.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <stdarg.h>
#include <openssl/evp.h>

#include "store_int.h"

/* The RocksDB message behind this thread's last index error, for the
 * front ends' one-line messages (cdp_store_last_error). */
static __thread char rocks_last_error[256];

const char *cdp_store_last_error(void)
{
	return rocks_last_error;
}

void cdp_store_clear_last_error(void)
{
	rocks_last_error[0] = 0;
}

int cdp_rocks_err(char *err, int fallback)
{
	int ret = fallback;

	if (!err)
		return 0;
	snprintf(rocks_last_error, sizeof(rocks_last_error), "%s", err);
	/* "Corruption: block checksum mismatch" holds "lock": test it first,
	 * and a lock by its own words ("While lock file: .../LOCK: Resource
	 * temporarily unavailable"), or a damaged index reads as "in use" */
	if (strstr(err, "Corruption"))
		ret = -CDP_ECORRUPT;
	else if (strstr(err, "No space left") || strstr(err, "ENOSPC"))
		ret = -CDP_ENOSPACE;
	else if (strstr(err, "Permission denied"))
		ret = -EACCES;
	else if (strstr(err, "lock file") || strstr(err, "Resource temporarily unavailable"))
		ret = -CDP_ELOCKED;
	cdp_log(LOG_DEBUG, "rocksdb: %s", err);
	rocksdb_free(err);
	return ret;
}

int cdp_rocks_iter_status(rocksdb_iterator_t *it, const char *fmt, ...)
{
	char what[512];
	char *err = NULL;
	va_list ap;

	rocksdb_iter_get_error(it, &err);
	if (!err)
		return 0;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cdp_log(LOG_ERR, "unreadable index: %s: %s", what, err);
	cdp_rocks_err(err, -EIO);
	return -EIO;
}

void cdp_hash(const void *buf, size_t len, uint8_t hash[CDP_HASH_BYTES])
{
	unsigned int n = CDP_HASH_BYTES;

	EVP_Digest(buf, len, hash, &n, EVP_sha256(), NULL);
}

const char *cdp_store_path(const struct cdp_store *s)
{
	return s->path;
}

uint32_t cdp_store_block_size(const struct cdp_store *s)
{
	return s->block_size;
}

/* Up to 48 bytes of a key in hex, for log lines. */
static const char *key_hex(const struct cdp_key *k, char *buf, size_t size)
{
	size_t i, n = k->len < 48 ? k->len : 48;

	buf[0] = 0;
	for (i = 0; i < n && 2 * i + 3 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", k->b[i]);
	if (n < k->len && 2 * n + 4 < size)
		strcat(buf, "...");
	return buf;
}

int cdp_store_get(struct cdp_store *s, int cf, const struct cdp_key *k, char **val, size_t *len)
{
	char *err = NULL, hex[112];

	*val = rocksdb_get_cf(s->db, s->ropts, s->cf[cf], (const char *)k->b, k->len, len, &err);
	if (err) {
		cdp_log(LOG_ERR, "unreadable index: column family '%s' of '%s', key %s: %s",
			cdp_cf_names[cf], s->path, key_hex(k, hex, sizeof(hex)), err);
		*val = NULL;
		return cdp_rocks_err(err, -EIO);
	}
	return 0;
}

int cdp_chunk_lookup(struct cdp_store *s, const uint8_t sha[CDP_HASH_BYTES],
		     struct cdp_chunk_loc *loc)
{
	struct cdp_key k;
	char *val;
	size_t vlen;
	int ret;

	memcpy(k.b, sha, CDP_HASH_BYTES);
	k.len = CDP_HASH_BYTES;
	ret = cdp_store_get(s, CF_CHUNK, &k, &val, &vlen);
	if (ret < 0)
		return ret;
	if (!val)
		return 0;
	ret = loc ? cdp_chunkval_decode(val, vlen, loc) : 0;
	free(val);
	return ret < 0 ? ret : 1;
}

int cdp_store_get_fixed(struct cdp_store *s, const struct cdp_key *k, void *out, size_t len)
{
	char *val;
	size_t vlen;
	int ret = cdp_store_get(s, CF_META, k, &val, &vlen);

	if (ret < 0 || !val)
		return ret;
	ret = vlen == len ? 1 : -CDP_ECORRUPT;
	if (ret == 1)
		memcpy(out, val, len);
	free(val);
	return ret;
}

static int meta_u64(struct cdp_store *s, const struct cdp_key *k, size_t idx, uint64_t *v, int *found)
{
	char *val;
	size_t len;
	int ret = cdp_store_get(s, CF_META, k, &val, &len);

	*found = 0;
	if (ret < 0)
		return ret;
	if (!val)
		return 0;
	if (len < (idx + 1) * 8) {
		free(val);
		return -CDP_ECORRUPT;
	}
	*v = get_u64be((uint8_t *)val + idx * 8);
	*found = 1;
	free(val);
	return 0;
}

int cdp_store_host_meta_i64(struct cdp_store *s, uint32_t host, char sub, size_t idx, int64_t *v)
{
	struct cdp_key k;
	uint64_t u = 0;
	int found, ret;

	cdp_key_host_meta(&k, host, sub, 0, 0);
	ret = meta_u64(s, &k, idx, &u, &found);
	*v = found ? (int64_t)u : 0;
	return ret;
}

int cdp_store_host_lookup(struct cdp_store *s, const char *host, uint32_t *id)
{
	struct cdp_key k;
	char *val;
	size_t len;
	int ret;

	if (!host || !*host || strlen(host) > CDP_NAME_MAX)
		return -CDP_ENOHOST;
	cdp_key_host_name(&k, host);
	ret = cdp_store_get(s, CF_META, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (!val)
		return -CDP_ENOHOST;
	if (len != 4) {
		free(val);
		return -CDP_ECORRUPT;
	}
	*id = get_u32be((uint8_t *)val);
	free(val);
	return 0;
}

/* Is some process (this one included) holding the writer lock? */
int cdp_store_writer_locked(struct cdp_store *s)
{
	char path[PATH_MAX];
	struct flock fl;
	int fd, ret;

	if (s->writer)
		return 1;
	snprintf(path, sizeof(path), "%s/FORMAT", s->path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	ret = fcntl(fd, F_OFD_GETLK, &fl);
	close(fd);
	return ret == 0 && fl.l_type != F_UNLCK;
}

/* ------------------------------------------------------------- hosts */

/* Calls fn for each root record of host (records released after fn). */
int cdp_store_for_each_root(struct cdp_store *s, uint32_t host, root_fn fn, void *arg)
{
	struct cdp_key k;
	rocksdb_iterator_t *it;
	struct root_rec r;
	const char *key, *val;
	size_t klen, vlen;
	int ret = 0;

	cdp_key_host_meta(&k, host, HM_ROOT, 0, 0);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_META]);
	for (rocksdb_iter_seek(it, (const char *)k.b, k.len); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != k.len + 4 || memcmp(key, k.b, k.len) != 0)
			break;
		val = rocksdb_iter_value(it, &vlen);
		ret = cdp_root_rec_decode(val, vlen, &r);
		if (ret < 0)
			break;
		ret = fn(arg, &r);
		cdp_root_rec_release(&r);
		if (ret)
			break;
	}
	if (ret == 0)   /* a damaged table must not read as "no roots" */
		ret = cdp_rocks_iter_status(it, "column family 'default' of '%s', root records "
					    "of host %u", s->path, host);
	rocksdb_iter_destroy(it);
	return ret < 0 ? ret : 0;
}

static int first_ts_fn(void *arg, struct root_rec *r)
{
	int64_t *first = arg;

	if (r->baseline_ts && (*first == 0 || r->baseline_ts < *first))
		*first = r->baseline_ts;
	return 0;
}

/* A pruned host's first mountable instant is its floor (the oldest kept
 * state, retain.c) when that is later than its first baseline. */
static int apply_floor(struct cdp_store *s, uint32_t host, int64_t *first_ts)
{
	uint64_t seq;
	int64_t floor;
	int ret = cdp_store_host_floor(s, host, &floor, &seq);

	if (ret == 0 && *first_ts && floor > *first_ts)
		*first_ts = floor;
	return ret;
}

int cdp_store_host_first_ts(struct cdp_store *s, uint32_t host, int64_t *first_ts)
{
	int ret;

	*first_ts = 0;
	ret = cdp_store_for_each_root(s, host, first_ts_fn, first_ts);
	return ret < 0 ? ret : apply_floor(s, host, first_ts);
}

/* A zombie (killed, not yet reaped by its parent) holds no store and counts
 * as dead: its state letter in /proc/PID/stat is 'Z' (or 'X').  Unsure
 * (no /proc) is alive; store.h says why. */
int cdp_store_pid_alive(uint32_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	if (!pid || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	p = strrchr(buf, ')');   /* the command name may hold spaces and ')' */
	if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return 0;
	return 1;
}

static int add_root_fn(void *arg, struct root_rec *r)
{
	struct cdp_host_info *h = arg;
	struct cdp_root_info *ri, *nr;

	nr = realloc(h->roots, (h->nroots + 1) * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	h->roots = nr;
	ri = &h->roots[h->nroots];
	memset(ri, 0, sizeof(*ri));
	ri->root_id = r->root_id;
	ri->path = r->path;
	r->path = NULL;
	ri->fid = r->fid;
	ri->baseline_ts_ns = r->baseline_ts;
	ri->active = r->active && (h->received_lsn || cdp_store_pid_alive(r->pid));
	ri->crashed = r->active && !ri->active;
	ri->pid = r->active ? r->pid : 0;
	ri->gap_from_ts_ns = r->gap_from;
	ri->session_start_ts_ns = r->session_start;
	ri->session_end_ts_ns = r->session_end;
	ri->ngaps = r->ngaps;
	ri->gaps = r->gaps;
	r->gaps = NULL;
	h->nroots++;
	if (r->baseline_ts && (h->first_ts_ns == 0 || r->baseline_ts < h->first_ts_ns))
		h->first_ts_ns = r->baseline_ts;
	return 0;
}

static int late_count_fn(void *arg, const struct cdp_late *l)
{
	struct cdp_root_info *ri = arg;

	ri->late_count++;
	if (l->journaled_ts_ns > ri->late_last_ts_ns)
		ri->late_last_ts_ns = l->journaled_ts_ns;
	return 0;
}

static int host_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cdp_host_info *)a)->name,
		      ((const struct cdp_host_info *)b)->name);
}

int cdp_store_root_alive(struct cdp_store *s, uint32_t host, uint32_t root_id, int64_t *alive)
{
	struct cdp_key k;
	uint8_t v[8];
	int ret;

	*alive = 0;
	cdp_key_host_meta(&k, host, HM_ALIVE, 1, root_id);
	ret = cdp_store_get_fixed(s, &k, v, sizeof(v));
	if (ret > 0)
		*alive = (int64_t)get_u64be(v);
	return ret < 0 ? ret : 0;
}

int cdp_store_hosts(struct cdp_store *s, struct cdp_host_info **hosts, size_t *n)
{
	rocksdb_iterator_t *it;
	struct cdp_host_info *list = NULL, *nl, *h;
	const char *key, *val;
	size_t klen, vlen, count = 0, i, j;
	int64_t v;
	int ret = 0;

	*hosts = NULL;
	*n = 0;
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_META]);
	for (rocksdb_iter_seek(it, "N", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen < 2 || key[0] != 'N')
			break;
		val = rocksdb_iter_value(it, &vlen);
		if (vlen != 4) {
			ret = -CDP_ECORRUPT;
			break;
		}
		nl = realloc(list, (count + 1) * sizeof(*nl));
		if (!nl) {
			ret = -ENOMEM;
			break;
		}
		list = nl;
		h = &list[count];
		memset(h, 0, sizeof(*h));
		h->name = strndup(key + 1, klen - 1);
		h->host_id = get_u32be((const uint8_t *)val);
		count++;
		if (!h->name) {
			ret = -ENOMEM;
			break;
		}
	}
	if (ret == 0)   /* a damaged table must not read as "no hosts" */
		ret = cdp_rocks_iter_status(it, "column family 'default' of '%s', host names",
					    s->path);
	rocksdb_iter_destroy(it);
	for (i = 0; ret == 0 && i < count; i++) {
		h = &list[i];
		ret = cdp_store_host_meta_i64(s, h->host_id, HM_LATEST, 0, &v);
		h->latest_seq = (uint64_t)v;
		if (ret == 0)
			ret = cdp_store_host_meta_i64(s, h->host_id, HM_LATEST, 1,
						      &h->latest_ts_ns);
		if (ret == 0)
			ret = cdp_store_host_meta_i64(s, h->host_id, HM_COMPLETE, 0,
						      &h->complete_ts_ns);
		if (ret == 0)
			ret = cdp_ship_received(s, h->host_id, &h->received_lsn,
						&h->received_ts_ns);
		if (ret == 0)
			ret = cdp_store_for_each_root(s, h->host_id, add_root_fn, h);
		if (ret == 0)
			ret = apply_floor(s, h->host_id, &h->first_ts_ns);
		for (j = 0; ret == 0 && j < h->nroots; j++)
			ret = cdp_store_root_alive(s, h->host_id, h->roots[j].root_id,
						   &h->roots[j].alive_ts_ns);
		for (j = 0; ret == 0 && j < h->nroots; j++)
			ret = cdp_store_late_list(s, h->host_id, h->roots[j].root_id, 0,
						  late_count_fn, &h->roots[j]);
	}
	if (ret < 0) {
		cdp_host_info_free(list, count);
		return ret;
	}
	qsort(list, count, sizeof(*list), host_cmp);
	*hosts = list;
	*n = count;
	return 0;
}

void cdp_host_info_free(struct cdp_host_info *hosts, size_t n)
{
	size_t i, j;

	if (!hosts)
		return;
	for (i = 0; i < n; i++) {
		for (j = 0; j < hosts[i].nroots; j++) {
			free(hosts[i].roots[j].path);
			free(hosts[i].roots[j].gaps);
		}
		free(hosts[i].roots);
		free(hosts[i].name);
	}
	free(hosts);
}

/* -------------------------------------------------------- open/close */

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_format(const char *dir)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, ret = 0;
	const char *line = CDP_FORMAT_LINE "\n";

	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	snprintf(tmp, sizeof(tmp), "%s/FORMAT.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) || fsync(fd) < 0)
		ret = errno ? -errno : -EIO;
	close(fd);
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	return ret;
}

/* Reads FORMAT: the version (1 or CDP_FORMAT_VERSION), -ENOENT when
 * missing, CDP_EVERSION for another version, CDP_ECORRUPT. */
static int check_format(const char *dir)
{
	char path[PATH_MAX], line[128], extra;
	unsigned version;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	line[n] = 0;
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = 0;
	if (sscanf(line, "cdpfs store format %u%c", &version, &extra) != 1)
		return -CDP_ECORRUPT;
	if (version == 1 || version == CDP_FORMAT_VERSION)
		return (int)version;
	return -CDP_EVERSION;
}

/* Names a capture starter leaves in the store directory before the store
 * exists (capture/start.c): they do not make a directory "not empty". */
static int starter_file(const char *name)
{
	return strcmp(name, "capture.lock") == 0 || strcmp(name, "capture.log") == 0;
}

int cdp_store_check_dir(const char *dir)
{
	char path[PATH_MAX], line[64];
	struct dirent *de;
	struct stat st;
	ssize_t n;
	int fd, other = 0, ret;
	DIR *d;

	if (stat(dir, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		n = read(fd, line, sizeof(line) - 1);
		close(fd);
		line[n > 0 ? n : 0] = 0;
		return strncmp(line, "cdpfs store format ", 19) == 0 ? 0 : -ENOTEMPTY;
	}
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    starter_file(de->d_name))
			continue;
		other = 1;
		break;
	}
	ret = other ? -ENOTEMPTY : 0;
	closedir(d);
	return ret;
}

int cdp_store_write_locked(const char *dir)
{
	char path[PATH_MAX];
	struct flock fl;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	ret = fcntl(fd, F_OFD_GETLK, &fl) < 0 ? -errno : fl.l_type != F_UNLCK;
	close(fd);
	return ret;
}

/* The writer lock: an OFD lock on all of FORMAT (cdp_store_write_locked
 * tests it). */
static int take_lock(struct cdp_store *s)
{
	char path[PATH_MAX];
	struct flock fl;

	snprintf(path, sizeof(path), "%s/FORMAT", s->path);
	s->lock_fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->lock_fd < 0)
		return -errno;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(s->lock_fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			return -CDP_ELOCKED;
		return -errno;
	}
	return 0;
}

/* Removes the private directories of readers that died without closing
 * (named cdpfs-reader-PID-XXXXXX). */
static void sweep_dead_readers(const char *tmpdir)
{
	char path[PATH_MAX];
	struct dirent *de;
	unsigned long pid;
	char *end;
	DIR *d = opendir(tmpdir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "cdpfs-reader-", 13) != 0)
			continue;
		pid = strtoul(de->d_name + 13, &end, 10);
		if (*end != '-' || pid == 0 || pid > UINT32_MAX ||
		    cdp_store_pid_alive((uint32_t)pid))
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		cdp_rm_tree(path);
	}
	closedir(d);
}

/*
 * A RocksDB secondary instance recovers "to a point in time": a table file
 * that is missing, cut short or whose footer or index is damaged makes it
 * fall back, without an error, to the version before that file was added,
 * and the records it held read as never written (files as zeros, a
 * directory as empty).  So when no writer runs (a writer's primary open
 * checked every table, and it writes only good ones), a reader first opens
 * the index read-only, which opens every table (max_open_files -1) and
 * fails on any of them, and closes it again.  Its info log goes to the
 * reader's private directory: readers never write to the store.
 */
static int check_index_tables(struct cdp_store *s, const char *dbdir, const char *logdir,
			      const rocksdb_options_t *const *cfopts)
{
	rocksdb_column_family_handle_t *cf[CF_COUNT];
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_t *db;
	char *err = NULL;
	int i;

	rocksdb_options_set_max_open_files(o, -1);
	rocksdb_options_set_paranoid_checks(o, 1);
	rocksdb_options_set_db_log_dir(o, logdir);
	rocksdb_options_set_block_based_table_factory(o, s->bbopts);
	db = rocksdb_open_for_read_only_column_families(o, dbdir, CF_COUNT, cdp_cf_names, cfopts,
							cf, 0, &err);
	rocksdb_options_destroy(o);
	if (err) {
		cdp_log(LOG_ERR, "unreadable index '%s': %s", dbdir, err);
		return cdp_rocks_err(err, -EIO);
	}
	for (i = 0; i < CF_COUNT; i++)
		rocksdb_column_family_handle_destroy(cf[i]);
	rocksdb_close(db);
	return 0;
}

static int open_db(struct cdp_store *s)
{
	char dbdir[PATH_MAX], tmpl[PATH_MAX];
	const char *tmpdir = getenv("TMPDIR");
	const rocksdb_options_t *cfopts[CF_COUNT];
	char *err = NULL;
	int i;

	snprintf(dbdir, sizeof(dbdir), "%s/index", s->path);
	s->dbopts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->dbopts, s->writer);
	rocksdb_options_set_create_missing_column_families(s->dbopts, s->writer);
	rocksdb_options_set_keep_log_file_num(s->dbopts, 4);
	/* bounded memory in the writer and in readers, which replay the WAL
	 * into their own memtables: small memtables, a short WAL */
	rocksdb_options_set_write_buffer_size(s->dbopts, 16u << 20);
	rocksdb_options_set_db_write_buffer_size(s->dbopts, 64u << 20);
	/* and a WAL short enough that a reader's replay of it at open (every
	 * past mount while capture runs) stays quick */
	rocksdb_options_set_max_total_wal_size(s->dbopts, 32u << 20);
	rocksdb_options_set_max_background_jobs(s->dbopts, 2);
	/* bloom filters: most chunk lookups are misses (new content) */
	s->bbopts = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_filter_policy(s->bbopts,
						      rocksdb_filterpolicy_create_bloom(10));
	rocksdb_options_set_block_based_table_factory(s->dbopts, s->bbopts);
	/* and in the memtables, where the chunks of the last minutes are: a
	 * miss there walked the skip list (6% of the writer's time) */
	rocksdb_options_set_memtable_prefix_bloom_size_ratio(s->dbopts, 0.05);
	rocksdb_options_set_memtable_whole_key_filtering(s->dbopts, 1);
	for (i = 0; i < CF_COUNT; i++)
		cfopts[i] = s->dbopts;
	if (s->writer) {
		s->db = rocksdb_open_column_families(s->dbopts, dbdir, CF_COUNT, cdp_cf_names,
						     cfopts, s->cf, &err);
	} else {
		if (access(dbdir, F_OK) < 0)
			return errno == ENOENT ? -CDP_ENOSTORE : -errno;
		rocksdb_options_set_max_open_files(s->dbopts, -1);
		if (!tmpdir || !*tmpdir)
			tmpdir = "/tmp";
		sweep_dead_readers(tmpdir);
		snprintf(tmpl, sizeof(tmpl), "%s/cdpfs-reader-%d-XXXXXX", tmpdir, (int)getpid());
		if (!mkdtemp(tmpl))
			return -errno;
		s->secondary_dir = strdup(tmpl);
		if (!s->secondary_dir)
			return -ENOMEM;
		if (!cdp_store_writer_locked(s)) {
			int ret = check_index_tables(s, dbdir, tmpl, cfopts);

			if (ret < 0)
				return ret;
		}
		s->db = rocksdb_open_as_secondary_column_families(s->dbopts, dbdir, tmpl,
								  CF_COUNT, cdp_cf_names, cfopts,
								  s->cf, &err);
	}
	if (err) {
		cdp_log(LOG_ERR, "cannot open index '%s': %s", dbdir, err);
		return cdp_rocks_err(err, -EIO);
	}
	return 0;
}

/* A new store's first index record: its format and block size. */
static int create_meta(struct cdp_store *s)
{
	struct cdp_ibatch b;
	struct cdp_key k;
	uint8_t v[4];
	int ret;

	ret = cdp_ibatch_init(&b);
	if (ret < 0)
		return ret;
	cdp_key_meta(&k, "format");
	put_u32be(v, CDP_FORMAT_VERSION);
	cdp_ibatch_put(&b, s, CF_META, &k, v, 4);
	cdp_key_meta(&k, "block_size");
	put_u32be(v, CDP_DEFAULT_BLOCK_SIZE);
	cdp_ibatch_put(&b, s, CF_META, &k, v, 4);
	ret = cdp_index_commit(s, &b);
	cdp_ibatch_release(&b);
	return ret;
}

static int init_meta(struct cdp_store *s)
{
	struct cdp_key k;
	uint8_t v[4];
	int ret;

	cdp_key_meta(&k, "format");
	ret = cdp_store_get_fixed(s, &k, v, sizeof(v));
	if (ret < 0)
		return ret;
	if (ret == 0) {
		/* a new store, or one whose index lost even its first record
		 * (the log has it: the reconcile that follows brings it back) */
		if (!s->writer || s->format != CDP_FORMAT_VERSION)
			return -CDP_ECORRUPT;
		return cdp_chunklog_last_segment(s->chunks) ? 0 : create_meta(s);
	}
	return get_u32be(v) == (uint32_t)s->format ? 0 : -CDP_ECORRUPT;
}

static int read_block_size(struct cdp_store *s)
{
	struct cdp_key k;
	uint8_t v[4];
	int ret;

	cdp_key_meta(&k, "block_size");
	ret = cdp_store_get_fixed(s, &k, v, sizeof(v));
	if (ret <= 0)
		return ret < 0 ? ret : -CDP_ECORRUPT;
	s->block_size = get_u32be(v);
	if (s->block_size < 512 || s->block_size > (1u << 20) ||
	    (s->block_size & (s->block_size - 1)))
		return -CDP_ECORRUPT;
	return 0;
}

/* A reader of a store with no writer: does the log hold index records the
 * index has not applied (a crash between a segment sync and the index
 * write, or a power cut that lost the index's unsynced tail)? */
static int lag_fn(void *arg, const struct cdp_logrec *r)
{
	return r->kind == CDP_LOGREC_INDEX && r->lsn > *(uint64_t *)arg;
}

static int index_lags(struct cdp_store *s)
{
	struct cdp_scan_end end;
	uint32_t seg;
	uint64_t off, lsn;

	if (cdp_index_position(s, &seg, &off, &lsn) < 0)
		return 0;
	return cdp_chunklog_scan(s->chunks, seg, off, lag_fn, &lsn, &end) == 1;
}

static int store_open(const char *dir, unsigned flags, const struct cdp_store_options *opts,
		      struct cdp_store **out);

/* Rebuild: index/ moves to index.old-<UTC instant> (under the lock). */
static int index_aside(struct cdp_store *s)
{
	char from[PATH_MAX], stamp[32];
	struct tm tm;
	time_t now = time(NULL);

	snprintf(from, sizeof(from), "%s/index", s->path);
	if (access(from, F_OK) < 0)
		return errno == ENOENT ? 0 : -errno;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(s->aside, sizeof(s->aside), "%s/index.old-%s", s->path, stamp);
	if (rename(from, s->aside) < 0) {
		s->aside[0] = 0;
		return -errno;
	}
	return 0;
}

int cdp_store_rebuild_index(const char *dir, struct cdp_rebuild_info *info)
{
	struct cdp_store *s;
	int ret;

	memset(info, 0, sizeof(*info));
	ret = store_open(dir, CDP_STORE_WRITE | CDP_STORE_REBUILD, NULL, &s);
	if (ret < 0)
		return ret;
	info->records = s->replayed.applied;
	info->lsn = s->replayed.lsn;
	info->damaged = s->replayed.damaged;
	if (info->damaged) {
		info->segment = s->replayed.end.segment;
		info->offset = s->replayed.end.offset;
		snprintf(info->why, sizeof(info->why), "%s", s->replayed.end.why);
	}
	snprintf(info->aside, sizeof(info->aside), "%s", s->aside);
	cdp_store_close(s);
	return 0;
}

int cdp_store_open(const char *dir, unsigned flags, const struct cdp_store_options *opts,
		   struct cdp_store **out)
{
	struct cdp_store *s;
	int ret, lags;

	ret = store_open(dir, flags, opts, &s);
	if (ret < 0 || s->writer || s->format != CDP_FORMAT_VERSION ||
	    cdp_store_writer_locked(s))
		goto done;
	lags = index_lags(s);
	if (!lags)
		goto done;
	/* the first opener after a crash brings the index up to the log, as a
	 * writer would at its open; then reads as asked */
	cdp_store_close(s);
	ret = store_open(dir, CDP_STORE_WRITE, opts, &s);
	if (ret == 0)
		cdp_store_close(s);
	else
		cdp_log(LOG_WARNING, "the index of '%s' lags its log and cannot be brought "
			"up to it now (%s): the newest operations are not visible until a "
			"capture opens the store", dir, cdp_strerror(ret));
	ret = store_open(dir, flags, opts, &s);
done:
	*out = ret < 0 ? NULL : s;
	return ret;
}

static int store_open(const char *dir, unsigned flags, const struct cdp_store_options *opts,
		      struct cdp_store **out)
{
	struct cdp_store *s;
	char sub[PATH_MAX];
	struct stat st;
	int ret, format;

	*out = NULL;
	cdp_store_clear_last_error();
	if (!dir || !*dir || strlen(dir) > PATH_MAX - 64)
		return -EINVAL;
	if (flags & CDP_STORE_CREATE)
		flags |= CDP_STORE_WRITE;
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		if (!(flags & CDP_STORE_CREATE))
			return -CDP_ENOSTORE;
		ret = mkdir_p(dir, 0750);
		if (ret < 0)
			return ret;
	} else if (!S_ISDIR(st.st_mode)) {
		return -CDP_ENOSTORE;
	}
	format = check_format(dir);
	if (format == -ENOENT) {
		if (!(flags & CDP_STORE_CREATE))
			return -CDP_ENOSTORE;
		snprintf(sub, sizeof(sub), "%s/index", dir);
		if (access(sub, F_OK) == 0)
			return -CDP_ECORRUPT;   /* an index without FORMAT: not ours to touch */
		ret = cdp_store_check_dir(dir);   /* only in an empty directory */
		if (ret < 0)
			return ret;
		snprintf(sub, sizeof(sub), "%s/segments", dir);
		ret = mkdir_p(sub, 0750);
		if (ret == 0)
			ret = write_format(dir);
		if (ret < 0)
			return ret;
		format = CDP_FORMAT_VERSION;
	}
	if (format < 0)
		return format;
	if (format != CDP_FORMAT_VERSION && (flags & CDP_STORE_WRITE))
		return -CDP_EVERSION;   /* format 1 is read, never written */

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->flags = flags;
	s->format = format;
	s->writer = !!(flags & CDP_STORE_WRITE);
	pthread_mutex_init(&s->meta_lock, NULL);
	pthread_mutex_init(&s->log_lock, NULL);
	pthread_mutex_init(&s->retain_lock, NULL);
	s->path = realpath(dir, NULL);
	if (!s->path) {
		ret = -errno;
		goto fail;
	}
	if (opts)
		s->opts = *opts;
	if (!s->opts.queue_limit_bytes)
		s->opts.queue_limit_bytes = 64u << 20;
	if (!s->opts.commit_interval_ms)
		s->opts.commit_interval_ms = 50;
	if (!s->opts.block_cache_bytes)
		s->opts.block_cache_bytes = 64u << 20;
	s->ropts = rocksdb_readoptions_create();
	s->wopts_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wopts_sync, 1);
	s->wopts_nosync = rocksdb_writeoptions_create();
	if (s->writer) {
		ret = take_lock(s);
		if (ret < 0)
			goto fail;
	}
	if (flags & CDP_STORE_REBUILD) {
		ret = index_aside(s);
		if (ret < 0)
			goto fail;
	}
	ret = open_db(s);
	if (ret < 0)
		goto fail;
	snprintf(sub, sizeof(sub), "%s/segments", s->path);
	ret = cdp_chunklog_open(sub, s->writer, &s->chunks);
	if (ret < 0)
		goto fail;
	ret = init_meta(s);
	if (ret < 0)
		goto fail;
	if (s->writer) {
		ret = cdp_index_reconcile(s);
		if (ret < 0)
			goto fail;
	}
	ret = read_block_size(s);
	if (ret < 0)
		goto fail;
	ret = cdp_cache_new(s->opts.block_cache_bytes, &s->cache);
	if (ret < 0)
		goto fail;
	if (s->writer) {
		ret = cdp_writer_start(s);
		if (ret < 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	cdp_store_close(s);
	return ret;
}

void cdp_store_close(struct cdp_store *s)
{
	int i;

	if (!s)
		return;
	if (s->w)
		cdp_writer_stop(s);
	if (s->writer && s->db) {
		/* Leave the index in table files, not in the WAL: every reader
		 * (each past mount) replays the WAL into memory at open, so a
		 * stopped store whose WAL held its history made mount time grow
		 * with history. */
		rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
		char *err = NULL;

		rocksdb_flushoptions_set_wait(fo, 1);
		for (i = 0; i < CF_COUNT && !err; i++)
			if (s->cf[i])
				rocksdb_flush_cf(s->db, fo, s->cf[i], &err);
		if (err)
			cdp_log(LOG_WARNING, "cannot flush the index of '%s' at close: %s", s->path,
				err);
		rocksdb_free(err);
		rocksdb_flushoptions_destroy(fo);
	}
	for (i = 0; i < CF_COUNT; i++)
		if (s->cf[i])
			rocksdb_column_family_handle_destroy(s->cf[i]);
	if (s->db)
		rocksdb_close(s->db);
	if (s->dbopts)
		rocksdb_options_destroy(s->dbopts);
	if (s->bbopts)
		rocksdb_block_based_options_destroy(s->bbopts);
	if (s->ropts)
		rocksdb_readoptions_destroy(s->ropts);
	if (s->wopts_sync)
		rocksdb_writeoptions_destroy(s->wopts_sync);
	if (s->wopts_nosync)
		rocksdb_writeoptions_destroy(s->wopts_nosync);
	if (s->unapplied)
		rocksdb_writebatch_destroy(s->unapplied);
	if (s->secondary_dir) {
		cdp_rm_tree(s->secondary_dir);
		free(s->secondary_dir);
	}
	cdp_chunklog_close(s->chunks);
	cdp_cache_free(s->cache);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	pthread_mutex_destroy(&s->meta_lock);
	pthread_mutex_destroy(&s->log_lock);
	pthread_mutex_destroy(&s->retain_lock);
	free(s->path);
	free(s);
}

int cdp_store_refresh(struct cdp_store *s)
{
	char *err = NULL;

	if (s->writer)
		return 0;
	rocksdb_try_catch_up_with_primary(s->db, &err);
	return cdp_rocks_err(err, -EIO);
}
