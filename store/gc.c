/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gc.c - garbage collection of chunks and compaction of segments
 * (cdp_store_gc, contract in retain.h; docs/format.md "Garbage collection
 * and compaction" mirrors the rules below).
 *
 * Mark.  Every chunk a block version references is put into a temporary
 * RocksDB (STORE/gc-mark.tmp, no WAL, a small memtable: memory does not
 * grow with the store; removed at the end and by the next gc after a
 * crash).  Before its iterator is created, the store's gc_touched set is
 * switched on under log_lock: from then on every chunk a commit group
 * references (new or deduplicated onto) is added to it, under the same
 * lock the group holds from its chunk lookups to its index commit.
 *
 * Sweep.  The chunk column family and the mark are both in hash order, so
 * one merge walk finds the chunks neither marked nor touched.  Their
 * locations are deleted in logged index batches, each committed under
 * log_lock right after checking the touched set again: a group that
 * deduplicates onto a chunk either ran before (touched) or runs after (the
 * location is gone, the content is stored anew).  A reader still mounted
 * on a pruned state cannot need them: prune keeps every registered view.
 *
 * Compaction of a sealed segment (one with an 'S' record) whose bytes
 * outside live chunks and index records are at least the threshold of its
 * file: (1) its live chunks (the chunk family points at them) are appended
 * to the head of the log and their new locations committed, with the
 * segment's new length in its 'S' record, as logged batches; (2) the
 * segment is rewritten as SEGMENT.seg.compact holding its header and its
 * index records, byte for byte, in order, fdatasync'ed, renamed over the
 * segment, and the directory synced.  The index records are the history
 * rebuild-index replays: a rebuild replays them (their chunk locations
 * point at the old offsets) and then the relocation batches of step 1,
 * later in the log, so it ends with the same index.  A crash before the
 * rename leaves the old file, longer than its 'S' record (allowed: only a
 * shorter file is damage), its moved chunks now garbage; the next gc
 * compacts it again.  A leftover .compact file is removed.  Temporary
 * space: the live part of one segment plus its index records.
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
#include <unistd.h>

#include "store_int.h"
#include "retain.h"

#define SWEEP_BATCH cdp_retain_batch(20000)
#define MOVE_BATCH cdp_retain_batch(2048)
#define COMPACT_SUFFIX ".compact"

struct mark_db {
	char path[PATH_MAX];
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
};

static void mark_close(struct mark_db *m)
{
	if (m->db)
		rocksdb_close(m->db);
	if (m->opts)
		rocksdb_options_destroy(m->opts);
	if (m->wopts)
		rocksdb_writeoptions_destroy(m->wopts);
	if (m->ropts)
		rocksdb_readoptions_destroy(m->ropts);
	m->db = NULL;
	m->opts = NULL;
	m->wopts = NULL;
	m->ropts = NULL;
	if (m->path[0])
		cdp_rm_tree(m->path);
}

static int mark_open(struct cdp_store *s, struct mark_db *m)
{
	char *err = NULL;

	memset(m, 0, sizeof(*m));
	snprintf(m->path, sizeof(m->path), "%s/gc-mark.tmp", s->path);
	cdp_rm_tree(m->path);   /* a crashed gc's */
	m->opts = rocksdb_options_create();
	m->wopts = rocksdb_writeoptions_create();
	m->ropts = rocksdb_readoptions_create();
	if (!m->opts || !m->wopts || !m->ropts)
		return -ENOMEM;
	rocksdb_options_set_create_if_missing(m->opts, 1);
	rocksdb_options_set_write_buffer_size(m->opts, 8u << 20);
	rocksdb_options_set_max_open_files(m->opts, 64);
	rocksdb_writeoptions_disable_WAL(m->wopts, 1);
	m->db = rocksdb_open(m->opts, m->path, &err);
	if (err) {
		cdp_log(LOG_ERR, "cannot create the gc's mark in '%s': %s", m->path, err);
		return cdp_rocks_err(err, -EIO);
	}
	return 0;
}

/* Marks every chunk a block version of any host references. */
static int mark_all(struct cdp_store *s, struct mark_db *m, uint64_t *refs)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	rocksdb_iterator_t *it;
	const char *val;
	size_t vlen;
	uint8_t sha[CDP_HASH_BYTES];
	uint64_t walked = 0;
	char *err = NULL;
	int ret = 0;

	if (!wb)
		return -ENOMEM;
	cdp_retain_tick(s, "marking", 0, 0, 1);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_BLOCK]);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		cdp_retain_tick(s, "marking", ++walked, 0, 0);
		val = rocksdb_iter_value(it, &vlen);
		if (cdp_block_value_decode(val, vlen, sha, NULL) != 0)
			continue;   /* zero blocks reference nothing */
		rocksdb_writebatch_put(wb, (const char *)sha, CDP_HASH_BYTES, "", 0);
		(*refs)++;
		if (rocksdb_writebatch_count(wb) >= 10000) {
			rocksdb_write(m->db, m->wopts, wb, &err);
			rocksdb_writebatch_clear(wb);
			if (err)
				break;
		}
	}
	if (!err)
		rocksdb_write(m->db, m->wopts, wb, &err);
	if (err) {
		cdp_log(LOG_ERR, "cannot write the gc's mark in '%s': %s", m->path, err);
		ret = cdp_rocks_err(err, -EIO);
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'block' of '%s': gc mark",
					    s->path);
	if (ret == 0)
		cdp_retain_tick(s, "marking", walked, 0, 1);
	rocksdb_iter_destroy(it);
	rocksdb_writebatch_destroy(wb);
	return ret;
}

/* Per segment: bytes of live chunk records (after the sweep). */
struct seg_live {
	uint64_t *live;
	uint32_t n;
};

static int seg_live_add(struct seg_live *sl, uint32_t seg, uint64_t bytes)
{
	uint64_t *nl;
	uint32_t n;

	if (seg >= sl->n) {
		n = seg + 64;
		nl = realloc(sl->live, n * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		memset(nl + sl->n, 0, (n - sl->n) * sizeof(*nl));
		sl->live = nl;
		sl->n = n;
	}
	sl->live[seg] += bytes;
	return 0;
}

struct candidate {
	uint8_t sha[CDP_HASH_BYTES];
	uint64_t bytes;
};

/* Deletes the locations of the candidates nothing touched meanwhile. */
static int sweep_commit(struct cdp_store *s, struct candidate *c, size_t n,
			struct cdp_ibatch *b, struct cdp_gc_result *r)
{
	struct cdp_key k;
	size_t i;
	int ret;

	pthread_mutex_lock(&s->log_lock);
	for (i = 0; i < n; i++) {
		if (cdp_shaset_has(s->gc_touched, c[i].sha))
			continue;
		memcpy(k.b, c[i].sha, CDP_HASH_BYTES);
		k.len = CDP_HASH_BYTES;
		cdp_ibatch_delete(b, s, CF_CHUNK, &k);
		r->chunks_removed++;
		r->bytes_unreferenced += c[i].bytes;
	}
	ret = cdp_index_commit_locked(s, b);
	pthread_mutex_unlock(&s->log_lock);
	cdp_retain_crash_point("gc sweep batch");
	return ret;
}

static int sweep(struct cdp_store *s, struct mark_db *m, struct seg_live *sl,
		 struct cdp_gc_result *r)
{
	rocksdb_iterator_t *it, *mit;
	struct cdp_chunk_loc loc;
	struct candidate *cand;
	struct cdp_ibatch b;
	const char *key, *mkey, *val;
	size_t klen, mklen, vlen, ncand = 0;
	char *err = NULL;
	int ret, cmp, live;

	cand = malloc(SWEEP_BATCH * sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	ret = cdp_ibatch_init(&b);
	if (ret < 0) {
		free(cand);
		return ret;
	}
	cdp_retain_tick(s, "sweeping", 0, 0, 1);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_CHUNK]);
	mit = rocksdb_create_iterator(m->db, m->ropts);
	rocksdb_iter_seek_to_first(mit);
	for (rocksdb_iter_seek_to_first(it); ret == 0 && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		val = rocksdb_iter_value(it, &vlen);
		if (klen != CDP_HASH_BYTES || cdp_chunkval_decode(val, vlen, &loc) < 0)
			continue;
		r->chunks++;
		cdp_retain_tick(s, "sweeping", r->chunks, 0, 0);
		live = 0;
		while (rocksdb_iter_valid(mit)) {
			mkey = rocksdb_iter_key(mit, &mklen);
			cmp = memcmp(mkey, key, CDP_HASH_BYTES);
			if (cmp >= 0) {
				live = cmp == 0;
				break;
			}
			rocksdb_iter_next(mit);
		}
		if (live) {
			ret = seg_live_add(sl, loc.segment, REC_HEADER_BYTES + loc.stored_len);
			continue;
		}
		memcpy(cand[ncand].sha, key, CDP_HASH_BYTES);
		cand[ncand++].bytes = REC_HEADER_BYTES + loc.stored_len;
		if (ncand == SWEEP_BATCH) {
			ret = sweep_commit(s, cand, ncand, &b, r);
			ncand = 0;
		}
	}
	if (ret == 0 && ncand)
		ret = sweep_commit(s, cand, ncand, &b, r);
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'chunk' of '%s': gc sweep",
					    s->path);
	rocksdb_iter_get_error(mit, &err);
	if (ret == 0 && err)
		ret = cdp_rocks_err(err, -EIO);
	else
		free(err);
	if (ret == 0)
		cdp_retain_tick(s, "sweeping", r->chunks, 0, 1);
	rocksdb_iter_destroy(mit);
	rocksdb_iter_destroy(it);
	cdp_ibatch_release(&b);
	free(cand);
	return ret;
}

/* ---------------------------------------------------------- compaction */

static void seg_file(struct cdp_store *s, uint32_t seg, const char *suffix, char *buf,
		     size_t size)
{
	snprintf(buf, size, "%s/segments/%08u.seg%s", s->path, seg, suffix);
}

/* The sealed segments: those with an 'S' record, and their lengths. */
static int sealed_segments(struct cdp_store *s, uint32_t **segs, size_t *n)
{
	rocksdb_iterator_t *it;
	const char *key;
	size_t klen, cap = 0;
	uint32_t *v = NULL, *nv;
	int ret = 0;

	*n = 0;
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_META]);
	for (rocksdb_iter_seek(it, "S", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != 5 || key[0] != 'S')
			break;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				ret = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[(*n)++] = get_u32be((const uint8_t *)key + 1);
	}
	if (ret == 0)
		ret = cdp_rocks_iter_status(it, "column family 'default' of '%s': sealed "
					    "segments", s->path);
	rocksdb_iter_destroy(it);
	if (ret < 0) {
		free(v);
		return ret;
	}
	*segs = v;
	return 0;
}

struct compact {
	struct cdp_store *s;
	uint32_t seg;
	struct cdp_ibatch b;
	int fd;                  /* the .compact file (pass 2) */
	uint64_t out_len;        /* its length */
	uint64_t index_bytes;    /* pass 1: index records' bytes */
	uint64_t moved;
	int err;
};

/* Whether the chunk of record r is live at this very place. */
static int chunk_here(struct cdp_store *s, const struct cdp_logrec *r)
{
	struct cdp_chunk_loc loc;
	struct cdp_key k;
	char *val;
	size_t vlen;
	int ret;

	memcpy(k.b, r->sha, CDP_HASH_BYTES);
	k.len = CDP_HASH_BYTES;
	ret = cdp_store_get(s, CF_CHUNK, &k, &val, &vlen);
	if (ret < 0 || !val)
		return ret;
	ret = cdp_chunkval_decode(val, vlen, &loc) == 0 && loc.segment == r->segment &&
		loc.offset == r->offset;
	free(val);
	return ret;
}

static int count_fn(void *arg, const struct cdp_logrec *r)
{
	struct compact *c = arg;

	if (r->segment != c->seg)
		return 1;
	if (r->kind == CDP_LOGREC_INDEX)
		c->index_bytes += r->end - r->offset;
	return 0;
}

/* Pass 1: copies each live chunk to the log's head (under log_lock, a
 * batch of new locations at a time). */
static int move_fn(void *arg, const struct cdp_logrec *r)
{
	struct compact *c = arg;
	struct cdp_store *s = c->s;
	struct cdp_chunk_loc loc;
	struct cdp_key k;
	uint8_t v[CHUNKVAL_BYTES];
	int ret;

	if (r->segment != c->seg)
		return 1;
	if (r->kind != CDP_LOGREC_CHUNK)
		return 0;
	pthread_mutex_lock(&s->log_lock);
	ret = chunk_here(s, r);
	if (ret > 0) {
		ret = cdp_chunklog_append(s->chunks, r->sha, r->raw_len, r->payload,
					  r->stored_len, r->zstd, &loc);
		if (ret == 0) {
			memcpy(k.b, r->sha, CDP_HASH_BYTES);
			k.len = CDP_HASH_BYTES;
			cdp_chunkval_encode(v, &loc);
			cdp_ibatch_put(&c->b, s, CF_CHUNK, &k, v, CHUNKVAL_BYTES);
			c->moved++;
			if (c->b.count >= MOVE_BATCH) {
				ret = cdp_index_commit_locked(s, &c->b);
				cdp_retain_crash_point("gc move batch");
			}
		} else {
			cdp_chunklog_rollback(s->chunks);
		}
	}
	pthread_mutex_unlock(&s->log_lock);
	if (ret < 0) {
		c->err = ret;
		return 1;
	}
	return 0;
}

/* Pass 2: the index records, byte for byte, into the .compact file. */
static int copy_index_fn(void *arg, const struct cdp_logrec *r)
{
	struct compact *c = arg;
	uint8_t hdr[IREC_HEADER_BYTES];

	if (r->segment != c->seg)
		return 1;
	if (r->kind != CDP_LOGREC_INDEX)
		return 0;
	cdp_index_record_header(hdr, r->lsn, r->payload, r->len, r->count);
	if (pwrite(c->fd, hdr, sizeof(hdr), (off_t)c->out_len) != (ssize_t)sizeof(hdr) ||
	    pwrite(c->fd, r->payload, r->len, (off_t)(c->out_len + sizeof(hdr))) !=
	    (ssize_t)r->len) {
		c->err = errno ? -errno : -EIO;
		return 1;
	}
	c->out_len += sizeof(hdr) + r->len;
	return 0;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int scan_segment(struct cdp_store *s, uint32_t seg, cdp_logrec_fn fn,
			struct compact *c)
{
	struct cdp_scan_end end;
	int ret = cdp_chunklog_scan(s->chunks, seg, SEG_HEADER_BYTES, fn, c, &end);

	if (ret < 0)
		return ret;
	if (c->err)
		return c->err;
	if (end.why && end.segment == seg) {
		cdp_log(LOG_ERR, "gc: segment %08u of '%s' cannot be read whole (%s at offset "
			"%llu): not compacted", seg, s->path, end.why,
			(unsigned long long)end.offset);
		return -CDP_ECORRUPT;
	}
	return 0;
}

static int compact_segment(struct cdp_store *s, uint32_t seg, uint64_t size,
			   struct cdp_gc_result *r)
{
	struct compact c = { .s = s, .seg = seg, .fd = -1 };
	char path[PATH_MAX + 16], tmp[PATH_MAX + 16], dir[PATH_MAX];
	uint8_t hdr[SEG_HEADER_BYTES], v[8];
	struct cdp_key k;
	struct stat st;
	int ret;

	seg_file(s, seg, "", path, sizeof(path));
	seg_file(s, seg, COMPACT_SUFFIX, tmp, sizeof(tmp));
	ret = cdp_ibatch_init(&c.b);
	if (ret < 0)
		return ret;
	ret = scan_segment(s, seg, count_fn, &c);
	if (ret < 0)
		goto out;
	ret = scan_segment(s, seg, move_fn, &c);
	if (ret < 0)
		goto out;
	/* the last batch of new locations carries the segment's new length */
	cdp_key_segment(&k, seg);
	put_u64be(v, SEG_HEADER_BYTES + c.index_bytes);
	cdp_ibatch_put(&c.b, s, CF_META, &k, v, 8);
	ret = cdp_index_commit(s, &c.b);
	cdp_retain_crash_point("gc segment length");
	if (ret < 0)
		goto out;
	c.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (c.fd < 0) {
		ret = -errno;
		goto out;
	}
	{
		int in = open(path, O_RDONLY | O_CLOEXEC);

		if (in < 0 || pread(in, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
			ret = in < 0 ? -errno : -EIO;
			if (in >= 0)
				close(in);
			goto out;
		}
		close(in);
	}
	if (pwrite(c.fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		ret = -errno;
		goto out;
	}
	c.out_len = SEG_HEADER_BYTES;
	ret = scan_segment(s, seg, copy_index_fn, &c);
	if (ret == 0 && c.out_len != SEG_HEADER_BYTES + c.index_bytes)
		ret = -EIO;   /* the segment changed under us: never rename */
	if (ret == 0 && fdatasync(c.fd) < 0)
		ret = -errno;
	if (ret < 0)
		goto out;
	cdp_retain_crash_point("gc before rename");
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/segments", s->path);
	ret = sync_dir(dir);
	cdp_retain_crash_point("gc after rename");
	cdp_chunklog_reopen(s->chunks, seg);
	if (ret == 0) {
		r->segments_compacted++;
		r->chunks_moved += c.moved;
		if (stat(path, &st) == 0 && (uint64_t)st.st_size < size)
			r->bytes_reclaimed += size - (uint64_t)st.st_size;
	}
out:
	if (c.fd >= 0)
		close(c.fd);
	if (ret < 0) {
		unlink(tmp);
		cdp_log(LOG_ERR, "gc: cannot compact segment %08u of '%s': %s", seg, s->path,
			cdp_strerror(ret));
	}
	cdp_ibatch_release(&c.b);
	return ret;
}

/* Removes .compact files a crashed gc left. */
static void remove_leftovers(struct cdp_store *s)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *de;
	size_t len;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/segments", s->path);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len > strlen(COMPACT_SUFFIX) &&
		    strcmp(de->d_name + len - strlen(COMPACT_SUFFIX), COMPACT_SUFFIX) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	}
	closedir(d);
}

static int compact_all(struct cdp_store *s, const struct seg_live *sl, double threshold,
		       struct cdp_gc_result *r)
{
	char path[PATH_MAX + 16];
	uint32_t *segs = NULL, cur;
	uint64_t curoff, live;
	struct stat st;
	size_t n, i;
	int ret;

	ret = sealed_segments(s, &segs, &n);
	if (ret < 0)
		return ret;
	cdp_chunklog_position(s->chunks, &cur, &curoff);
	cdp_retain_tick(s, "compacting", 0, n, 1);
	for (i = 0; ret == 0 && i < n; i++) {
		cdp_retain_tick(s, "compacting", i, n, 0);
		if (segs[i] == cur)
			continue;
		seg_file(s, segs[i], "", path, sizeof(path));
		if (stat(path, &st) < 0 || (uint64_t)st.st_size <= SEG_HEADER_BYTES)
			continue;
		live = segs[i] < sl->n ? sl->live[segs[i]] : 0;
		/* what is not a live chunk is garbage or index records; the
		 * exact count of index bytes comes with the compaction's scan,
		 * and a segment holding nothing else is left alone there */
		if ((double)((uint64_t)st.st_size - SEG_HEADER_BYTES - live) <
		    threshold * (double)st.st_size || (uint64_t)st.st_size - live <= SEG_HEADER_BYTES)
			continue;
		{
			struct compact c = { .s = s, .seg = segs[i], .fd = -1 };

			ret = scan_segment(s, segs[i], count_fn, &c);
			if (ret < 0)
				break;
			if ((uint64_t)st.st_size - SEG_HEADER_BYTES - live - c.index_bytes == 0 ||
			    (double)((uint64_t)st.st_size - SEG_HEADER_BYTES - live -
				     c.index_bytes) < threshold * (double)st.st_size)
				continue;
		}
		ret = compact_segment(s, segs[i], (uint64_t)st.st_size, r);
	}
	if (ret == 0)
		cdp_retain_tick(s, "compacting", n, n, 1);
	free(segs);
	return ret;
}

int cdp_store_gc(struct cdp_store *s, double threshold, struct cdp_gc_result *r)
{
	return cdp_store_gc_progress(s, threshold, NULL, NULL, r);
}

int cdp_store_gc_progress(struct cdp_store *s, double threshold, cdp_retain_progress_fn *fn,
			  void *arg, struct cdp_gc_result *r)
{
	struct seg_live sl = { 0 };
	struct cdp_shaset *touched;
	struct mark_db m;
	uint64_t refs = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	memset(&m, 0, sizeof(m));
	if (!s->writer)
		return -EROFS;
	if (threshold < 0 || threshold > 1)
		return -EINVAL;
	if (pthread_mutex_trylock(&s->retain_lock) != 0)
		return -EBUSY;
	s->retain_progress = fn;
	s->retain_progress_arg = arg;
	s->retain_progress_ns = 0;
	remove_leftovers(s);
	ret = cdp_shaset_new(&touched);
	if (ret < 0)
		goto out_unlock;
	pthread_mutex_lock(&s->log_lock);
	s->gc_touched = touched;
	pthread_mutex_unlock(&s->log_lock);
	ret = mark_open(s, &m);
	if (ret == 0)
		ret = mark_all(s, &m, &refs);
	cdp_retain_crash_point("gc marked");
	if (ret == 0)
		ret = sweep(s, &m, &sl, r);
	mark_close(&m);
	pthread_mutex_lock(&s->log_lock);
	s->gc_touched = NULL;
	pthread_mutex_unlock(&s->log_lock);
	cdp_shaset_free(touched);
	if (ret == 0)
		ret = compact_all(s, &sl, threshold, r);
	cdp_retain_tick(s, NULL, 0, 0, 1);
	if (ret == 0)
		cdp_log(LOG_NOTICE, "store '%s': gc removed %llu of %llu chunks (%llu bytes "
			"unreferenced), compacted %llu segments (%llu chunks moved, %llu bytes "
			"reclaimed)", s->path, (unsigned long long)r->chunks_removed,
			(unsigned long long)r->chunks, (unsigned long long)r->bytes_unreferenced,
			(unsigned long long)r->segments_compacted,
			(unsigned long long)r->chunks_moved,
			(unsigned long long)r->bytes_reclaimed);
out_unlock:
	s->retain_progress = NULL;
	pthread_mutex_unlock(&s->retain_lock);
	free(sl.live);
	return ret;
}
