/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * indexlog.c - the log is the store; the RocksDB index is derived from it
 * (format 2; docs/format.md, "The log and its index", mirrors this).
 *
 * Every write to the index goes through a struct cdp_ibatch, which keeps
 * the same writes twice: as a RocksDB WriteBatch and as the payload of an
 * index record of the chunk log.  cdp_index_commit() appends that record
 * to the current segment after the chunks it references, fdatasync()s the
 * segment (one device flush for chunks and index alike), and only then
 * applies the batch to RocksDB, without syncing its WAL.  So the index is
 * always a prefix of the log: it may lag it (a crash between the sync and
 * the RocksDB write, or a power cut that loses the unsynced WAL, which
 * RocksDB recovers to a consistent point), never lead it.
 *
 * Payload of an index record: its entries back to back, each
 *   u8 kind (1 put, 2 delete)  u8 column family (0 default, 1 chunk,
 *   2 inode, 3 dirent, 4 block, 5 xattr, 6 time, 7 imap)
 *   u16 key length  u32 value length (0 for a delete)  key  value
 * The entry count is in the record header.  Two meta keys are never in a
 * record: "durable" (segment u32, offset u64: the end of the newest index
 * record the index holds) and "lsn" (u64: that record's lsn); each apply
 * of a record sets both in the same RocksDB batch.  lsns run 1, 2, 3, ...
 * over the store's whole life, one per record.
 *
 * Reconciling on open (a writer, or a reader that finds no writer): scan
 * the log from "durable"; apply each index record with lsn = "lsn" + 1, in
 * order.  The scan stops at the first record that is not whole and valid:
 * - in the newest segment, that is a torn tail (a crash mid-append): the
 *   writer cuts the file there, and the lost bytes were never acknowledged
 *   (fsync returns only after the segment sync that covers them);
 * - in an older segment, or a missing segment, or an lsn out of order, or
 *   a segment shorter than "durable": the log is damaged.  The store is
 *   then refused for writing (CDP_ECORRUPT, the place and cause in the
 *   log) rather than have new history built on a hole.
 * Rebuilding (cdp_store_rebuild_index): an empty index, then every index
 * record of every segment from the first, the same way.
 *
 * Heartbeats (the writer's once-a-second complete_through marker with no
 * operation behind it) are written to the index only, unlogged: the marker
 * is a promise to readers of a running writer and is rebuilt by the next
 * group; nothing is lost with it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <syslog.h>

#include "store_int.h"

enum { ENTRY_PUT = 1, ENTRY_DELETE = 2 };
#define ENTRY_HEADER_BYTES 8

int cdp_ibatch_init(struct cdp_ibatch *b)
{
	memset(b, 0, sizeof(*b));
	b->wb = rocksdb_writebatch_create();
	return b->wb ? 0 : -ENOMEM;
}

void cdp_ibatch_release(struct cdp_ibatch *b)
{
	if (b->wb)
		rocksdb_writebatch_destroy(b->wb);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

void cdp_ibatch_clear(struct cdp_ibatch *b)
{
	rocksdb_writebatch_clear(b->wb);
	b->len = 0;
	b->count = 0;
	b->err = 0;
}

static void entry_add(struct cdp_ibatch *b, int kind, int cf, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	size_t n = ENTRY_HEADER_BYTES + klen + vlen, cap;
	uint8_t *p;

	if (b->err)
		return;
	if (klen > UINT16_MAX || vlen > UINT32_MAX || b->len + n > IREC_MAX_PAYLOAD) {
		b->err = -E2BIG;
		return;
	}
	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->buf, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	p = b->buf + b->len;
	p[0] = (uint8_t)kind;
	p[1] = (uint8_t)cf;
	p[2] = (uint8_t)(klen >> 8);
	p[3] = (uint8_t)klen;
	put_u32be(p + 4, (uint32_t)vlen);
	memcpy(p + ENTRY_HEADER_BYTES, key, klen);
	if (vlen)
		memcpy(p + ENTRY_HEADER_BYTES + klen, val, vlen);
	b->len += n;
	b->count++;
}

void cdp_ibatch_put(struct cdp_ibatch *b, struct cdp_store *s, int cf, const struct cdp_key *k,
		    const void *val, size_t vlen)
{
	rocksdb_writebatch_put_cf(b->wb, s->cf[cf], (const char *)k->b, k->len, val, vlen);
	entry_add(b, ENTRY_PUT, cf, k->b, k->len, val, vlen);
}

void cdp_ibatch_delete(struct cdp_ibatch *b, struct cdp_store *s, int cf,
		       const struct cdp_key *k)
{
	rocksdb_writebatch_delete_cf(b->wb, s->cf[cf], (const char *)k->b, k->len);
	entry_add(b, ENTRY_DELETE, cf, k->b, k->len, NULL, 0);
}

/* Adds "durable" and "lsn" (never logged: they say how far the index got). */
static void put_position(struct cdp_store *s, rocksdb_writebatch_t *wb, uint32_t seg,
			 uint64_t end, uint64_t lsn)
{
	struct cdp_key k;
	uint8_t v[12];

	cdp_key_meta(&k, "durable");
	put_u32be(v, seg);
	put_u64be(v + 4, end);
	rocksdb_writebatch_put_cf(wb, s->cf[CF_META], (const char *)k.b, k.len, (char *)v, 12);
	cdp_key_meta(&k, "lsn");
	put_u64be(v, lsn);
	rocksdb_writebatch_put_cf(wb, s->cf[CF_META], (const char *)k.b, k.len, (char *)v, 8);
}

static int index_write(struct cdp_store *s, rocksdb_writebatch_t *wb)
{
	char *err = NULL;

	rocksdb_write(s->db, s->wopts_nosync, wb, &err);
	if (err) {
		cdp_log(LOG_ERR, "cannot write the index of '%s': %s", s->path, err);
		return cdp_rocks_err(err, -EIO);
	}
	return 0;
}

int cdp_index_commit_locked(struct cdp_store *s, struct cdp_ibatch *b)
{
	rocksdb_writebatch_t *wb;
	struct cdp_key k;
	uint8_t v[8];
	uint32_t seg;
	uint64_t end;
	int ret;

	if (b->err)
		return b->err;
	if (!s->writer)
		return -EROFS;
	/* a batch the index refused before goes first: the log has it */
	if (s->unapplied) {
		ret = index_write(s, s->unapplied);
		if (ret < 0)
			return ret;
		rocksdb_writebatch_destroy(s->unapplied);
		s->unapplied = NULL;
	}
	if (!b->count)
		return 0;
	if (cdp_chunklog_take_sealed(s->chunks, &seg, &end)) {
		/* the length of a segment the log rolled away from, so that an
		 * open can tell a segment cut short (see reconcile) */
		cdp_key_segment(&k, seg);
		put_u64be(v, end);
		cdp_ibatch_put(b, s, CF_META, &k, v, 8);
	}
	ret = cdp_chunklog_append_index(s->chunks, s->lsn + 1, b->buf, (uint32_t)b->len,
					b->count, &seg, &end);
	if (ret == 0)
		ret = cdp_chunklog_sync(s->chunks);
	if (ret < 0) {
		cdp_log(LOG_ERR, "cannot write the log of '%s': %s", s->path, cdp_strerror(ret));
		cdp_chunklog_rollback(s->chunks);
		return ret == -ENOSPC ? -CDP_ENOSPACE : ret;
	}
	s->lsn++;
	if (b->durable) {
		b->durable(b->durable_arg);
		b->durable = NULL;
	}
	put_position(s, b->wb, seg, end, s->lsn);
	ret = index_write(s, b->wb);
	if (ret < 0) {
		/* durable in the log: keep it for the next commit (or the next
		 * open's replay), so the index never skips a record */
		s->unapplied = b->wb;
		wb = rocksdb_writebatch_create();
		b->wb = wb;
	}
	cdp_ibatch_clear(b);
	return ret;
}

int cdp_index_commit(struct cdp_store *s, struct cdp_ibatch *b)
{
	int ret;

	pthread_mutex_lock(&s->log_lock);
	ret = cdp_index_commit_locked(s, b);
	pthread_mutex_unlock(&s->log_lock);
	return ret;
}

int cdp_index_write_unlogged(struct cdp_store *s, struct cdp_ibatch *b)
{
	int ret = b->err ? b->err : index_write(s, b->wb);

	cdp_ibatch_clear(b);
	return ret;
}

/* ------------------------------------------------------------ replay */

/* Decodes a record's entries into wb; CDP_ECORRUPT when they do not fill
 * the payload exactly or name an unknown column family or kind. */
int cdp_index_record_decode(struct cdp_store *s, const uint8_t *p, size_t len, uint32_t count,
			    rocksdb_writebatch_t *wb)
{
	size_t pos = 0, klen, vlen;
	uint32_t i;

	for (i = 0; i < count; i++) {
		if (len - pos < ENTRY_HEADER_BYTES)
			return -CDP_ECORRUPT;
		klen = (size_t)p[pos + 2] << 8 | p[pos + 3];
		vlen = get_u32be(p + pos + 4);
		if (p[pos + 1] >= CF_COUNT || klen == 0 ||
		    len - pos - ENTRY_HEADER_BYTES < klen ||
		    len - pos - ENTRY_HEADER_BYTES - klen < vlen)
			return -CDP_ECORRUPT;
		if (wb && p[pos] == ENTRY_PUT)
			rocksdb_writebatch_put_cf(wb, s->cf[p[pos + 1]],
						  (const char *)p + pos + ENTRY_HEADER_BYTES, klen,
						  (const char *)p + pos + ENTRY_HEADER_BYTES + klen,
						  vlen);
		else if (wb && p[pos] == ENTRY_DELETE && vlen == 0)
			rocksdb_writebatch_delete_cf(wb, s->cf[p[pos + 1]],
						     (const char *)p + pos + ENTRY_HEADER_BYTES,
						     klen);
		else if (p[pos] != ENTRY_PUT && (p[pos] != ENTRY_DELETE || vlen))
			return -CDP_ECORRUPT;
		pos += ENTRY_HEADER_BYTES + klen + vlen;
	}
	return pos == len ? 0 : -CDP_ECORRUPT;
}

int cdp_index_entries_check(const uint8_t *p, size_t len, uint32_t count)
{
	return cdp_index_record_decode(NULL, p, len, count, NULL);
}

struct replay {
	struct cdp_store *s;
	uint64_t lsn;          /* the newest lsn in the index */
	uint64_t applied;
	uint64_t bad_lsn;      /* an index record out of order (0: none) */
	uint64_t bad_off;
	uint32_t bad_seg;
	int corrupt;           /* entries that do not decode */
};

static int replay_fn(void *arg, const struct cdp_logrec *r)
{
	struct replay *rp = arg;
	rocksdb_writebatch_t *wb;
	int ret;

	if (r->kind != CDP_LOGREC_INDEX || r->lsn <= rp->lsn)
		return 0;
	if (r->lsn != rp->lsn + 1) {
		rp->bad_lsn = r->lsn;
		rp->bad_seg = r->segment;
		rp->bad_off = r->offset;
		return 1;
	}
	wb = rocksdb_writebatch_create();
	ret = cdp_index_record_decode(rp->s, r->payload, r->len, r->count, wb);
	if (ret < 0) {
		rocksdb_writebatch_destroy(wb);
		rp->corrupt = 1;
		rp->bad_seg = r->segment;
		rp->bad_off = r->offset;
		return 1;
	}
	put_position(rp->s, wb, r->segment, r->end, r->lsn);
	ret = index_write(rp->s, wb);
	rocksdb_writebatch_destroy(wb);
	if (ret < 0)
		return ret;
	rp->lsn = r->lsn;
	rp->applied++;
	return 0;
}

/* Reads "durable" and "lsn" from the index (zeros when absent). */
int cdp_index_position(struct cdp_store *s, uint32_t *seg, uint64_t *off, uint64_t *lsn)
{
	struct cdp_key k;
	uint8_t v[12];
	int ret;

	*seg = 0;
	*off = 0;
	*lsn = 0;
	cdp_key_meta(&k, "durable");
	ret = cdp_store_get_fixed(s, &k, v, 12);
	if (ret < 0)
		return ret;
	if (ret) {
		*seg = get_u32be(v);
		*off = get_u64be(v + 4);
	}
	cdp_key_meta(&k, "lsn");
	ret = cdp_store_get_fixed(s, &k, v, 8);
	if (ret > 0)
		*lsn = get_u64be(v);
	return ret < 0 ? ret : 0;
}

int cdp_index_replay(struct cdp_store *s, uint32_t seg, uint64_t off, uint64_t lsn,
		     struct cdp_replay_result *res)
{
	struct replay rp = { .s = s, .lsn = lsn };
	struct cdp_scan_end end;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = cdp_chunklog_scan(s->chunks, seg, off, replay_fn, &rp, &end);
	res->applied = rp.applied;
	res->lsn = rp.lsn;
	res->end = end;
	if (ret < 0)
		return ret;
	if (rp.bad_lsn || rp.corrupt) {
		res->end.segment = rp.bad_seg;
		res->end.offset = rp.bad_off;
		res->end.why = rp.corrupt ? "index record entries do not decode" :
			"index record out of order (an earlier one is missing)";
		res->damaged = 1;
		return 0;
	}
	if (!end.why)
		return 0;
	/* only the newest segment may end in a torn record */
	res->torn = end.segment == end.last_segment &&
		strcmp(end.why, "segment file is missing") != 0 &&
		strcmp(end.why, "bad segment header") != 0 &&
		strcmp(end.why, "segment is shorter than the index says") != 0;
	res->damaged = !res->torn;
	return 0;
}

/*
 * A segment shorter than the index knows it (cut short, or missing): every
 * chunk whose record does not lie whole below valid_end is lost.  Their
 * locations leave the index (logged like any index write), so that reads
 * of them fail with EIO ("missing from the index") and new data of the
 * same content is stored anew, never deduplicated onto a lost chunk.  The
 * segment's recorded length becomes valid_end, so this runs once.
 */
static int forget_lost_chunks(struct cdp_store *s, uint32_t seg, uint64_t valid_end)
{
	struct cdp_chunk_loc loc;
	struct cdp_ibatch b;
	rocksdb_iterator_t *it;
	struct cdp_key k;
	const char *key, *val;
	size_t klen, vlen;
	uint64_t lost = 0;
	char *err = NULL;
	uint8_t v[8];
	int ret;

	ret = cdp_ibatch_init(&b);
	if (ret < 0)
		return ret;
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_CHUNK]);
	for (rocksdb_iter_seek_to_first(it); ret == 0 && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		val = rocksdb_iter_value(it, &vlen);
		if (cdp_chunkval_decode(val, vlen, &loc) < 0 || loc.segment != seg ||
		    loc.offset + REC_HEADER_BYTES + loc.stored_len <= valid_end)
			continue;
		if (klen > sizeof(k.b))
			continue;
		memcpy(k.b, key, klen);
		k.len = klen;
		cdp_ibatch_delete(&b, s, CF_CHUNK, &k);
		lost++;
		if (b.count >= 65536)
			ret = cdp_index_commit(s, &b);
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (ret == 0)
		ret = cdp_rocks_err(err, 0);
	if (ret == 0) {
		cdp_key_segment(&k, seg);
		put_u64be(v, valid_end);
		cdp_ibatch_put(&b, s, CF_META, &k, v, 8);
		ret = cdp_index_commit(s, &b);
	}
	cdp_ibatch_release(&b);
	cdp_log(LOG_ERR, "store '%s': segment %08u holds only %llu bytes of what the index "
		"references: %llu chunks in it are lost (reads of them fail; new data is "
		"never deduplicated onto them; run 'cdpfs verify' to see what they affect)",
		s->path, seg, (unsigned long long)valid_end, (unsigned long long)lost);
	return ret;
}

static uint64_t segment_size(struct cdp_store *s, uint32_t seg)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/segments/%08u.seg", s->path, seg);
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Compares every sealed segment's recorded length with its file. */
static int check_sealed(struct cdp_store *s)
{
	rocksdb_iterator_t *it;
	uint32_t seg, nbad = 0, bad[64];
	uint64_t len, size, bad_size[64];
	const char *key, *val;
	size_t klen, vlen, i;
	char *err = NULL;
	int ret = 0;

	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_META]);
	for (rocksdb_iter_seek(it, "S", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen != 5 || key[0] != 'S')
			break;
		val = rocksdb_iter_value(it, &vlen);
		if (vlen != 8)
			continue;
		seg = get_u32be((const uint8_t *)key + 1);
		len = get_u64be((const uint8_t *)val);
		size = segment_size(s, seg);
		if (size < len && nbad < 64) {
			bad[nbad] = seg;
			bad_size[nbad++] = size;
		}
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	ret = cdp_rocks_err(err, 0);
	for (i = 0; ret == 0 && i < nbad; i++)
		ret = forget_lost_chunks(s, bad[i], bad_size[i]);
	return ret;
}

int cdp_index_reconcile(struct cdp_store *s)
{
	struct cdp_replay_result res;
	struct cdp_ibatch b;
	struct cdp_key k;
	uint32_t seg;
	uint64_t off, lsn, size;
	uint8_t v[8];
	int ret;

	ret = cdp_index_position(s, &seg, &off, &lsn);
	if (ret < 0)
		return ret;
	s->lsn = lsn;
	if (s->writer && seg && (size = segment_size(s, seg)) < off) {
		/* the newest segment the index knows lost its tail */
		ret = forget_lost_chunks(s, seg, size);
		if (ret < 0)
			return ret;
		off = size;
		lsn = s->lsn;
	}
	ret = cdp_index_replay(s, seg, off, lsn, &res);
	if (ret < 0) {
		cdp_log(LOG_ERR, "cannot replay the log of '%s': %s", s->path, cdp_strerror(ret));
		return ret;
	}
	if (res.applied && !(s->flags & CDP_STORE_REBUILD))
		cdp_log(LOG_NOTICE, "store '%s': %llu index records replayed from the log "
			"(the index had lagged it)", s->path, (unsigned long long)res.applied);
	s->lsn = res.lsn;
	s->replayed = res;
	if (res.damaged) {
		cdp_log(LOG_ERR, "store '%s' is damaged: segment %08u at offset %llu: %s; "
			"the log cannot be replayed past it (run 'cdpfs verify')", s->path,
			res.end.segment, (unsigned long long)res.end.offset, res.end.why);
		if (!(s->flags & CDP_STORE_REBUILD))
			return -CDP_ECORRUPT;
		/* a rebuild keeps the exact prefix and writes nothing after it
		 * (the damaged segment and those after it stay as they are) */
		return 0;
	}
	if (!s->writer)
		return 0;
	if (res.torn) {
		cdp_log(LOG_WARNING, "torn tail in segment %08u of '%s': cut at offset %llu (%s)",
			res.end.segment, s->path, (unsigned long long)res.end.offset,
			res.end.why);
		ret = cdp_chunklog_cut(s->chunks, res.end.segment, res.end.offset);
		if (ret < 0) {
			cdp_log(LOG_ERR, "cannot cut the torn tail of segment %08u of '%s': %s",
				res.end.segment, s->path, cdp_strerror(ret));
			return ret;
		}
	}
	ret = check_sealed(s);
	if (ret < 0 || !res.end.last_segment)
		return ret;
	/* this session writes a new segment: the newest one is sealed now */
	ret = cdp_ibatch_init(&b);
	if (ret < 0)
		return ret;
	cdp_key_segment(&k, res.end.last_segment);
	put_u64be(v, segment_size(s, res.end.last_segment));
	cdp_ibatch_put(&b, s, CF_META, &k, v, 8);
	ret = cdp_index_commit(s, &b);
	cdp_ibatch_release(&b);
	return ret;
}
