/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_chunklog.c - unit tests of the chunk log and the key encodings:
 * CRC-32C, record build/check, key ordering (the inverted seq puts the
 * newest version first), a torn segment tail (detected, truncated away,
 * older records still read, the writer continues), a flipped byte or a
 * truncated referenced record (-EIO, never wrong bytes), and a disk-full
 * segment write injected through the system call table (the journal
 * degrades, records a gap, and recovers at the next resync).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "store_test.h"

#define BS 8192

struct fx {
	char top[256];
	char dir[300];
	struct cdp_store *s;
	struct cdp_journal *j;
	uint32_t root_id;
	uint64_t fid;
};

static void fx_open(struct fx *f)
{
	int ret = cdp_store_open(f->dir, CDP_STORE_CREATE, NULL, &f->s);

	if (ret)
		fail_msg("expected the store to open, got %s", cdp_strerror(ret));
	assert_int_equal(cdp_journal_open(f->s, "db01", &f->j), 0);
}

static void fx_close(struct fx *f)
{
	cdp_journal_close(f->j);
	cdp_store_close(f->s);
	f->j = NULL;
	f->s = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct cdp_attr a;
	struct cdp_op *op;
	int resuming;

	snprintf(f->top, sizeof(f->top), "%s/cdp-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->top);
	fx_open(f);
	assert_int_equal(cdp_journal_root_begin(f->j, "/d", &f->root_id, &resuming), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &f->fid), 0);
	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | 0644;
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_attr(op, f->fid, &a, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, CDP_ROOT_FID, "f", f->fid, S_IFREG), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	assert_int_equal(cdp_journal_root_ready(f->j, f->root_id, CDP_ROOT_FID), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cdp_sys_reset();
	fx_close(f);
	cdp_rm_tree(f->top);
	free(f);
	return 0;
}

/* fill() makes incompressible blocks while set (stored raw). */
static int fill_random;

/* Distinct content for block b of generation g: compressible, or while
 * fill_random is set, pseudo-random bytes that the writer stores raw. */
static void fill(uint8_t *buf, int b, int g)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (uint64_t)(b * 131 + g + 1);
	int i;

	if (fill_random) {
		for (i = 0; i < BS; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)(x >> 24);
		}
		return;
	}
	for (i = 0; i < BS; i++)
		buf[i] = (uint8_t)((i / 64) * 3 + b * 11 + g * 101);
}

/* Writes blocks [first, first+n) of generation g in one op. */
static int write_blocks(struct fx *f, int first, int n, int g)
{
	uint8_t *buf = malloc((size_t)n * BS);
	struct cdp_attr a;
	struct cdp_op *op;
	int i, ret;

	for (i = 0; i < n; i++)
		fill(buf + (size_t)i * BS, first + i, g);
	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | 0644;
	a.size = 8 * BS;
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_data(op, f->fid, (uint64_t)first * BS, buf, (size_t)n * BS), 0);
	assert_int_equal(cdp_op_attr(op, f->fid, &a, NULL), 0);
	ret = cdp_op_commit(op, NULL, NULL);
	free(buf);
	return ret;
}

/* Reads block b through a fresh view; compares with generation g. */
static int check_block(struct cdp_store *s, uint64_t fid, int b, int g)
{
	uint8_t want[BS], got[BS];
	struct cdp_view *v;
	ssize_t n;

	assert_int_equal(cdp_view_open(s, "db01", CDP_TS_LATEST, &v), 0);
	n = cdp_view_read(v, fid, got, BS, (uint64_t)b * BS);
	cdp_view_free(v);
	if (n < 0)
		return (int)n;
	if (n != BS)
		fail_msg("block %d: expected %d bytes, got %zd", b, BS, n);
	fill(want, b, g);
	if (memcmp(want, got, BS))
		fail_msg("block %d: expected generation %d bytes, got other bytes", b, g);
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* ------------------------------------------------------------------ */

static void test_crc32c(void **state)
{
	/* the standard check value of CRC-32C */
	assert_int_equal(cdp_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(cdp_crc32c(cdp_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
	assert_int_equal(cdp_crc32c(0, "", 0), 0);
	assert_int_equal(cdp_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	/* the fast path and the tables agree on every length and alignment */
	{
		uint8_t buf[300];
		size_t i, off, len;

		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i * 131 + 7);
		for (off = 0; off < 8; off++)
			for (len = 0; len + off <= sizeof(buf); len += 7)
				assert_int_equal(cdp_crc32c(0x1234u, buf + off, len),
						 cdp_crc32c_sw(0x1234u, buf + off, len));
	}
}

static void test_record(void **state)
{
	uint8_t sha[CDP_HASH_BYTES], sha2[CDP_HASH_BYTES], rec[REC_HEADER_BYTES + 5];
	uint32_t raw, stored;
	int zstd;

	memset(sha, 0xab, sizeof(sha));
	cdp_chunk_record_build(rec, sha, 5, "hello", 5, 0);
	assert_int_equal(cdp_chunk_record_check(rec, sizeof(rec), &raw, &stored, &zstd, sha2), 0);
	assert_int_equal(raw, 5);
	assert_int_equal(stored, 5);
	assert_int_equal(zstd, 0);
	assert_memory_equal(sha, sha2, CDP_HASH_BYTES);
	assert_int_equal(cdp_chunk_record_check(rec, sizeof(rec) - 1, &raw, &stored, &zstd, NULL),
			 -CDP_ECORRUPT);
	rec[REC_HEADER_BYTES + 2] ^= 1;
	assert_int_equal(cdp_chunk_record_check(rec, sizeof(rec), &raw, &stored, &zstd, NULL),
			 -CDP_ECORRUPT);
	rec[REC_HEADER_BYTES + 2] ^= 1;
	rec[20] ^= 0x80;   /* inside the sha */
	assert_int_equal(cdp_chunk_record_check(rec, sizeof(rec), &raw, &stored, &zstd, NULL),
			 -CDP_ECORRUPT);
}

static int key_cmp(const struct cdp_key *a, const struct cdp_key *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->b, b->b, n);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* The incompressible probe: random bytes are, text, zeros, sparse pages
 * and small blocks are not; compress keeps it: random is stored raw. */
static void test_incompressible(void **state)
{
	uint8_t blk[8192], out[8192 + 512];
	const char *text = "SELECT id, name FROM patients WHERE ward = 'B4' ORDER BY id;\n";
	size_t i, tl = strlen(text);
	uint32_t x = 12345;
	int zstd = 1;

	(void)state;
	for (i = 0; i < sizeof(blk); i++) {
		x = x * 1103515245u + 12345u;
		blk[i] = (uint8_t)(x >> 24);
	}
	assert_int_equal(cdp_chunk_incompressible(blk, sizeof(blk)), 1);
	assert_int_equal(cdp_chunk_compress(blk, sizeof(blk), out, sizeof(out), &zstd),
			 (ssize_t)sizeof(blk));
	assert_int_equal(zstd, 0);
	assert_memory_equal(out, blk, sizeof(blk));
	assert_int_equal(cdp_chunk_incompressible(blk, 2048), 0);
	for (i = 0; i < sizeof(blk); i++)
		blk[i] = (uint8_t)text[i % tl];
	assert_int_equal(cdp_chunk_incompressible(blk, sizeof(blk)), 0);
	memset(blk, 0, sizeof(blk));
	assert_int_equal(cdp_chunk_incompressible(blk, sizeof(blk)), 0);
	/* a database page: a header, tuples of small integers, free space */
	for (i = 0; i < sizeof(blk); i += 64)
		put_u32be(blk + i, (uint32_t)i);
	assert_int_equal(cdp_chunk_incompressible(blk, sizeof(blk)), 0);
	assert_true(cdp_chunk_compress(blk, sizeof(blk), out, sizeof(out), &zstd) < 2048);
	assert_int_equal(zstd, 1);
	/* the edge is 7 bits a byte: bytes spread evenly over 192 values
	 * (7.58 bits) are raw, over 96 values (6.58 bits) worth zstd */
	for (i = 0; i < sizeof(blk); i++) {
		x = x * 1103515245u + 12345u;
		blk[i] = (uint8_t)((x >> 16) % 192);
	}
	assert_int_equal(cdp_chunk_incompressible(blk, sizeof(blk)), 1);
	for (i = 0; i < sizeof(blk); i++) {
		x = x * 1103515245u + 12345u;
		blk[i] = (uint8_t)((x >> 16) % 96);
	}
	assert_int_equal(cdp_chunk_incompressible(blk, sizeof(blk)), 0);
	assert_true(cdp_chunk_compress(blk, sizeof(blk), out, sizeof(out), &zstd) <
		    (ssize_t)sizeof(blk) * 7 / 8);
	assert_int_equal(zstd, 1);
}

static void test_key_order(void **state)
{
	struct cdp_key a, b, c;

	/* newer versions of one block sort first */
	cdp_key_block(&a, 1, 7, 3, 100);
	cdp_key_block(&b, 1, 7, 3, 99);
	assert_true(key_cmp(&a, &b) < 0);
	assert_int_equal(key_seq_of((const char *)a.b, a.len), 100);
	/* block numbers sort numerically, before the next file, host */
	cdp_key_block(&c, 1, 7, 4, 1000);
	assert_true(key_cmp(&b, &c) < 0);
	cdp_key_block(&a, 1, 7, 256, 1);
	assert_true(key_cmp(&c, &a) < 0);
	cdp_key_block(&b, 1, 8, 0, 1);
	assert_true(key_cmp(&a, &b) < 0);
	cdp_key_block(&c, 2, 0, 0, 1);
	assert_true(key_cmp(&b, &c) < 0);
	/* dirents: all versions of "a" before "ab", seek key of "a" + 0x01
	 * sorts after every version of "a" and before "ab" */
	cdp_key_dirent(&a, 1, 5, "a", 1, 1, 1, 0);
	cdp_key_dirent(&b, 1, 5, "ab", 2, 1, 1, UINT64_MAX);
	assert_true(key_cmp(&a, &b) < 0);
	cdp_key_dirent(&c, 1, 5, "a", 1, 0, 0, 0);
	c.b[c.len++] = 1;
	assert_true(key_cmp(&a, &c) < 0);
	assert_true(key_cmp(&c, &b) < 0);
	/* time keys: by instant, then seq */
	cdp_key_time(&a, 1, 1000, 5);
	cdp_key_time(&b, 1, 1000, 6);
	cdp_key_time(&c, 1, 1001, 1);
	assert_true(key_cmp(&a, &b) < 0);
	assert_true(key_cmp(&b, &c) < 0);
	cdp_key_inode(&a, 1, 9, 10);
	cdp_key_inode(&b, 1, 9, 9);
	assert_true(key_cmp(&a, &b) < 0);
	assert_int_equal(a.len, 20);
}

static void test_values(void **state)
{
	struct cdp_attr a = { .mode = 0100644, .uid = 1, .gid = 2, .nlink = 3, .size = 1ull << 40,
			      .rdev = 5, .atime_ns = -1, .mtime_ns = 7, .ctime_ns = 8,
			      .blocks = 24 }, b;
	struct cdp_chunk_loc l = { 3, 1ull << 33, 100, 8192 }, m;
	struct root_rec r = { 0 }, q;
	struct cdp_gap g[2] = { { 1, 2 }, { 3, 4 } };
	uint8_t buf[ATTR_VALUE_BYTES], cv[CHUNKVAL_BYTES], *rv;
	size_t rl;

	size_t hlen = 0;

	cdp_attr_encode(buf, &a);
	assert_int_equal(cdp_attr_decode((char *)buf, sizeof(buf), &b, &hlen), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(hlen, ATTR_VALUE_BYTES);
	assert_int_equal(cdp_attr_decode((char *)buf, sizeof(buf) - 1, &b, NULL), -CDP_ECORRUPT);
	/* the first layout ('A', no st_blocks) still decodes, blocks unknown */
	buf[0] = VAL_ATTR_V1;
	assert_int_equal(cdp_attr_decode((char *)buf, ATTR_V1_VALUE_BYTES, &b, &hlen), 0);
	assert_int_equal(hlen, ATTR_V1_VALUE_BYTES);
	assert_true(b.blocks == CDP_BLOCKS_UNKNOWN);
	assert_true(b.size == a.size && b.ctime_ns == a.ctime_ns);
	assert_int_equal(cdp_attr_decode((char *)buf, ATTR_V1_VALUE_BYTES - 1, &b, NULL),
			 -CDP_ECORRUPT);
	buf[0] = 'Q';
	assert_int_equal(cdp_attr_decode((char *)buf, sizeof(buf), &b, NULL), -CDP_ECORRUPT);
	cdp_chunkval_encode(cv, &l);
	assert_int_equal(cdp_chunkval_decode((char *)cv, sizeof(cv), &m), 0);
	assert_int_equal(m.segment, 3);
	assert_true(m.offset == 1ull << 33);
	assert_int_equal(m.stored_len, 100);
	assert_int_equal(m.raw_len, 8192);
	r.root_id = 4;
	r.fid = 99;
	r.baseline_ts = 123;
	r.active = 1;
	r.pid = 42;
	r.ngaps = 2;
	r.gaps = g;
	r.path = (char *)"/data/pg";
	assert_int_equal(cdp_root_rec_encode(&r, &rv, &rl), 0);
	assert_int_equal(cdp_root_rec_decode((char *)rv, rl, &q), 0);
	assert_int_equal(q.root_id, 4);
	assert_int_equal(q.ngaps, 2);
	assert_int_equal(q.gaps[1].to_ts_ns, 4);
	assert_string_equal(q.path, "/data/pg");
	cdp_root_rec_release(&q);
	assert_int_equal(cdp_root_rec_decode((char *)rv, rl - 1, &q), -CDP_ECORRUPT);
	cdp_root_rec_release(&q);
	free(rv);
}

static void test_torn_tail(void **state)
{
	struct fx *f = *state;
	char seg1[400], seg2[400];
	uint8_t junk[REC_HEADER_BYTES + 100], payload[100], sha[CDP_HASH_BYTES];
	off_t size;
	int fd, b;

	assert_int_equal(write_blocks(f, 0, 4, 1), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	fx_close(f);
	snprintf(seg1, sizeof(seg1), "%s/segments/00000001.seg", f->dir);
	snprintf(seg2, sizeof(seg2), "%s/segments/00000002.seg", f->dir);
	size = file_size(seg1);
	/* a record whose write was cut short by a crash */
	memset(payload, 7, sizeof(payload));
	cdp_hash(payload, sizeof(payload), sha);
	cdp_chunk_record_build(junk, sha, 100, payload, 100, 0);
	fd = open(seg1, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, REC_HEADER_BYTES + 40), REC_HEADER_BYTES + 40);
	close(fd);
	fx_open(f);
	if (file_size(seg1) != size)
		fail_msg("torn tail: expected segment cut back to %lld bytes, got %lld",
			 (long long)size, (long long)file_size(seg1));
	for (b = 0; b < 4; b++)
		assert_int_equal(check_block(f->s, f->fid, b, 1), 0);
	/* the writer continues, in a new segment */
	assert_int_equal(write_blocks(f, 4, 2, 2), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(access(seg2, F_OK), 0);
	assert_int_equal(check_block(f->s, f->fid, 5, 2), 0);
	assert_int_equal(check_block(f->s, f->fid, 0, 1), 0);
}

struct nth {
	int want, seen;
	struct cdp_logrec rec;
};

static int nth_fn(void *arg, const struct cdp_logrec *r)
{
	struct nth *n = arg;

	if (r->kind != CDP_LOGREC_CHUNK || n->seen++ != n->want)
		return 0;
	n->rec = *r;
	return 1;
}

/* The n-th chunk record (from 0) of segment 1 of the store in dir. */
static struct cdp_logrec nth_chunk(const char *dir, int want)
{
	struct nth n = { .want = want };
	struct cdp_chunklog *cl;
	struct cdp_scan_end end;
	char segdir[400];

	snprintf(segdir, sizeof(segdir), "%s/segments", dir);
	assert_int_equal(cdp_chunklog_open(segdir, 0, &cl), 0);
	if (cdp_chunklog_scan(cl, 1, 0, nth_fn, &n, &end) != 1)
		fail_msg("expected chunk record %d in segment 1, the scan found %d", want,
			 n.seen);
	cdp_chunklog_close(cl);
	return n.rec;
}

/* A flipped payload byte of the second of three chunk records: that block
 * reads -EIO, its neighbours read right.  raw: the records are stored
 * uncompressed (incompressible data), so only the SHA-256 and the CRC can
 * tell. */
static void flipped_byte(struct fx *f, int raw)
{
	struct cdp_logrec rec;
	char seg[400];
	uint8_t c;
	int fd, b;

	fill_random = raw;
	assert_int_equal(write_blocks(f, 0, 3, 1), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	fx_close(f);
	snprintf(seg, sizeof(seg), "%s/segments/00000001.seg", f->dir);
	/* the second chunk record's payload */
	rec = nth_chunk(f->dir, 1);
	if (rec.zstd == raw)
		fail_msg("expected a %s chunk record, got a %s one", raw ? "raw" : "zstd",
			 rec.zstd ? "zstd" : "raw");
	fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)rec.offset + REC_HEADER_BYTES + 3), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)rec.offset + REC_HEADER_BYTES + 3), 1);
	close(fd);
	fx_open(f);
	assert_int_equal(check_block(f->s, f->fid, 0, 1), 0);
	b = check_block(f->s, f->fid, 1, 1);
	if (b != -EIO)
		fail_msg("flipped byte in a %s record: expected -EIO, got %d",
			 raw ? "raw" : "zstd", b);
	assert_int_equal(check_block(f->s, f->fid, 2, 1), 0);
	fill_random = 0;
}

static void test_flipped_byte(void **state)
{
	flipped_byte(*state, 0);
}

static void test_flipped_byte_raw(void **state)
{
	flipped_byte(*state, 1);
}

static void test_truncated_record(void **state)
{
	struct fx *f = *state;
	char seg[400];
	off_t size;

	assert_int_equal(write_blocks(f, 0, 2, 1), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	fx_close(f);
	snprintf(seg, sizeof(seg), "%s/segments/00000001.seg", f->dir);
	/* the segment cut inside the second chunk record */
	size = (off_t)nth_chunk(f->dir, 1).end;
	assert_true(size < file_size(seg));
	assert_int_equal(truncate(seg, size - 10), 0);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &f->s), 0);
	assert_int_equal(check_block(f->s, f->fid, 0, 1), 0);
	assert_int_equal(check_block(f->s, f->fid, 1, 1), -EIO);
	cdp_store_close(f->s);
	f->s = NULL;
	fx_open(f);
}

static void run(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("expected '%s' to succeed", cmd);
}

/*
 * The index lags its log (what a power cut leaves when RocksDB loses its
 * unsynced tail, while the segment, synced first, kept every record): the
 * first opener replays what the index lacks, a reader as well as a writer.
 */
static void test_index_lags_log(void **state)
{
	struct fx *f = *state;
	char idx[400], old[420], cmd[1400];
	int b;

	assert_int_equal(write_blocks(f, 0, 2, 1), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	fx_close(f);
	snprintf(idx, sizeof(idx), "%s/index", f->dir);
	snprintf(old, sizeof(old), "%s/index.copy", f->dir);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", idx, old);
	run(cmd);
	fx_open(f);
	assert_int_equal(write_blocks(f, 2, 3, 2), 0);
	assert_int_equal(write_blocks(f, 0, 1, 3), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	fx_close(f);
	/* the index as it was before the second session: the log has more */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s' '%s'", idx, old, idx);
	run(cmd);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &f->s), 0);
	assert_int_equal(check_block(f->s, f->fid, 0, 3), 0);
	assert_int_equal(check_block(f->s, f->fid, 1, 1), 0);
	for (b = 2; b < 5; b++)
		assert_int_equal(check_block(f->s, f->fid, b, 2), 0);
	cdp_store_close(f->s);
	f->s = NULL;
	fx_open(f);
	assert_int_equal(check_block(f->s, f->fid, 4, 2), 0);
}

/* The index lost altogether: rebuilt from the log, every block as before,
 * and a rebuild again gives the same. */
static void test_index_rebuilt(void **state)
{
	struct fx *f = *state;
	struct cdp_rebuild_info info;
	char idx[400], cmd[500];
	int b;

	assert_int_equal(write_blocks(f, 0, 4, 1), 0);
	assert_int_equal(write_blocks(f, 1, 2, 2), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	fx_close(f);
	snprintf(idx, sizeof(idx), "%s/index", f->dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", idx);
	run(cmd);
	assert_int_equal(cdp_store_rebuild_index(f->dir, &info), 0);
	assert_int_equal(info.damaged, 0);
	assert_true(info.records > 3);
	assert_string_equal(info.aside, "");
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &f->s), 0);
	for (b = 0; b < 4; b++)
		assert_int_equal(check_block(f->s, f->fid, b, b == 1 || b == 2 ? 2 : 1), 0);
	cdp_store_close(f->s);
	f->s = NULL;
	/* with an index present, it is moved aside, never removed */
	assert_int_equal(cdp_store_rebuild_index(f->dir, &info), 0);
	assert_int_equal(access(info.aside, F_OK), 0);
	fx_open(f);
	assert_int_equal(cdp_store_rebuild_index(f->dir, &info), -CDP_ELOCKED);
	assert_int_equal(check_block(f->s, f->fid, 3, 1), 0);
}

/* ------------------------------------------------------ power loss */

/* The synced length of each segment, as the child saw it: after every
 * fdatasync of the store, one "PATH SIZE" line (O_APPEND: whole lines). */
static int synced_log_fd = -1;

static int logging_fdatasync(int fd)
{
	char link[64], path[512], line[600];
	struct stat st;
	ssize_t n;
	int ret = fdatasync(fd), len;

	if (ret == 0 && fstat(fd, &st) == 0) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		if (n > 0) {
			path[n] = 0;
			len = snprintf(line, sizeof(line), "%s %lld\n", path, (long long)st.st_size);
			if (write(synced_log_fd, line, (size_t)len) != len)
				_exit(3);
		}
	}
	return ret;
}

/* Block b's generation in the view at latest (0: none of 1..max). */
static int block_generation(struct cdp_store *s, uint64_t fid, int b, int max)
{
	uint8_t want[BS], got[BS];
	struct cdp_view *v;
	ssize_t n;
	int g;

	assert_int_equal(cdp_view_open(s, "db01", CDP_TS_LATEST, &v), 0);
	n = cdp_view_read(v, fid, got, BS, (uint64_t)b * BS);
	cdp_view_free(v);
	if (n != BS)
		fail_msg("block %d: expected %d bytes after the power cut, got %zd", b, BS, n);
	for (g = 1; g <= max; g++) {
		fill(want, b, g);
		if (memcmp(want, got, BS) == 0)
			return g;
	}
	return 0;
}

#define PL_BLOCKS 8

/* The writing child: op i writes block i % 8 of generation i / 8 + 1 and
 * fsyncs; once the sync returned it reports i on the pipe. */
static void power_loss_child(struct fx *f, int ackfd, const char *synced_log)
{
	uint8_t buf[BS];
	struct cdp_attr a;
	struct cdp_op *op;
	uint32_t i;

	synced_log_fd = open(synced_log, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (synced_log_fd < 0)
		_exit(2);
	cdp_sys.fdatasync = logging_fdatasync;
	if (cdp_store_open(f->dir, CDP_STORE_WRITE, NULL, &f->s) < 0 ||
	    cdp_journal_open(f->s, "db01", &f->j) < 0)
		_exit(2);
	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | 0644;
	a.size = PL_BLOCKS * BS;
	for (i = 0;; i++) {
		fill(buf, (int)(i % PL_BLOCKS), (int)(i / PL_BLOCKS + 1));
		if (cdp_op_new(f->j, &op) < 0 ||
		    cdp_op_data(op, f->fid, (uint64_t)(i % PL_BLOCKS) * BS, buf, BS) < 0 ||
		    cdp_op_attr(op, f->fid, &a, NULL) < 0 || cdp_op_commit(op, NULL, NULL) < 0 ||
		    cdp_journal_sync(f->j) < 0)
			_exit(2);
		if (write(ackfd, &i, sizeof(i)) != sizeof(i))
			_exit(2);
	}
}

/*
 * A power cut of the store's machine while it fsyncs: the writer is killed
 * at a random moment, every segment is cut back to what its last fdatasync
 * covered (the page cache lost), and the index is put back as it was before
 * the writes (the worst RocksDB can do with an unsynced WAL: lose all of
 * it).  Every write whose sync returned must be at latest, and nothing but
 * an acknowledged write or the one in flight.  Several rounds.
 */
static void test_power_loss(void **state)
{
	struct fx *f = *state;
	char synced_log[400], idx[400], snap[420], cmd[1400];
	int acked[PL_BLOCKS], round, b, g, pfd[2], st;
	uint32_t i, last;
	ssize_t n;
	pid_t pid;

	fx_close(f);
	snprintf(synced_log, sizeof(synced_log), "%s/synced.log", f->top);
	snprintf(idx, sizeof(idx), "%s/index", f->dir);
	snprintf(snap, sizeof(snap), "%s/index.before", f->top);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", idx, snap);
	run(cmd);
	srand((unsigned)getpid());
	for (round = 0; round < 4; round++) {
		unlink(synced_log);
		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			power_loss_child(f, pfd[1], synced_log);
		}
		close(pfd[1]);
		/* the kill comes at a random moment once the writer is syncing */
		last = UINT32_MAX;
		if (read(pfd[0], &i, sizeof(i)) == sizeof(i))
			last = i;
		usleep(20000 + (useconds_t)(rand() % 200000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFSIGNALED(st))
			fail_msg("round %d: the writer ended by itself (status %d) before its kill",
				 round, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		while ((n = read(pfd[0], &i, sizeof(i))) == sizeof(i))
			last = i;
		close(pfd[0]);
		if (last == UINT32_MAX)
			fail_msg("round %d: the writer acknowledged no sync before its kill", round);
		/* the page cache is lost: each segment keeps what its last sync
		 * covered (the last line of a path is its final synced length) */
		snprintf(cmd, sizeof(cmd),
			 "awk '$1 ~ /segments/ { n[$1] = $2 } END { for (p in n) "
			 "system(\"truncate -s \" n[p] \" \" p) }' '%s'", synced_log);
		run(cmd);
		/* and the index all its writes since before the rounds */
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", idx, snap, idx);
		run(cmd);
		/* what must be there: the newest acknowledged generation of each
		 * block, or the one write after it (in flight at the kill) */
		for (b = 0; b < PL_BLOCKS; b++)
			acked[b] = 0;
		for (i = 0; i <= last; i++)
			acked[i % PL_BLOCKS] = (int)(i / PL_BLOCKS + 1);
		fx_open(f);
		for (b = 0; b < PL_BLOCKS; b++) {
			if (!acked[b])
				continue;
			g = block_generation(f->s, f->fid, b, (int)(last / PL_BLOCKS + 2));
			if (g != acked[b] && !(g == acked[b] + 1 && b == (int)((last + 1) % PL_BLOCKS)))
				fail_msg("round %d, after %u acknowledged syncs: block %d expected "
					 "generation %d, got %d", round, last + 1, b, acked[b], g);
		}
		fx_close(f);
	}
	fx_open(f);
}

static ssize_t full_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	errno = ENOSPC;
	return -1;
}

static ssize_t full_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	errno = ENOSPC;
	return -1;
}

static void test_disk_full(void **state)
{
	struct fx *f = *state;
	struct cdp_host_info *h;
	int64_t since = 0, before;
	uint32_t id;
	size_t n;
	int ret, resuming;

	assert_int_equal(write_blocks(f, 0, 1, 1), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(cdp_journal_degraded(f->j, &since), 0);
	before = cdp_now_ns();
	cdp_sys.pwrite = full_pwrite;
	cdp_sys.pwritev = full_pwritev;
	assert_int_equal(write_blocks(f, 1, 1, 1), 0);
	ret = cdp_journal_sync(f->j);
	if (ret != -CDP_ENOSPACE)
		fail_msg("disk full: expected CDP_ENOSPACE from sync, got %s", cdp_strerror(ret));
	assert_int_equal(cdp_journal_degraded(f->j, &since), 1);
	assert_true(since >= before);
	assert_int_equal(write_blocks(f, 2, 1, 1), -CDP_ENOSPACE);
	cdp_sys_reset();
	/* stop, restart in a new process (the degraded state is not in memory
	 * any more), resync: the gap starts where the journal degraded */
	assert_int_equal(cdp_journal_root_end(f->j, f->root_id), -CDP_ENOSPACE);
	fx_close(f);
	fx_open(f);
	assert_int_equal(cdp_journal_root_begin(f->j, "/d", &id, &resuming), 0);
	assert_int_equal(cdp_journal_degraded(f->j, NULL), 0);
	assert_int_equal(write_blocks(f, 1, 2, 3), 0);
	assert_int_equal(cdp_journal_root_ready(f->j, id, CDP_ROOT_FID), 0);
	assert_int_equal(check_block(f->s, f->fid, 0, 1), 0);
	assert_int_equal(check_block(f->s, f->fid, 2, 3), 0);
	assert_int_equal(cdp_store_hosts(f->s, &h, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].roots[0].ngaps, 1);
	if (h[0].roots[0].gaps[0].from_ts_ns != since)
		fail_msg("gap: expected it to start at %lld, got %lld", (long long)since,
			 (long long)h[0].roots[0].gaps[0].from_ts_ns);
	cdp_host_info_free(h, n);
}

struct seg_records {
	uint32_t seg;
	int n;
	uint64_t end;   /* just past the segment's last record */
};

static int seg_records_fn(void *arg, const struct cdp_logrec *r)
{
	struct seg_records *sr = arg;

	if (r->segment == sr->seg) {
		sr->n++;
		sr->end = r->end;
	}
	return 0;
}

/* The records of segment seg of the store in dir (a scan from its start
 * that runs on to the newest segment). */
static struct seg_records segment_records(const char *dir, uint32_t seg)
{
	struct seg_records sr = { .seg = seg, .end = SEG_HEADER_BYTES };
	struct cdp_chunklog *cl;
	struct cdp_scan_end end;
	char segdir[400];

	snprintf(segdir, sizeof(segdir), "%s/segments", dir);
	assert_int_equal(cdp_chunklog_open(segdir, 0, &cl), 0);
	assert_int_equal(cdp_chunklog_scan(cl, seg, SEG_HEADER_BYTES, seg_records_fn, &sr, &end),
			 0);
	cdp_chunklog_close(cl);
	return sr;
}

/* Fails unless segment seg of f's store ends at its last record (zeros:
 * with_runway > 0, at least 256 KiB of them past it). */
static void expect_segment_end(struct fx *f, uint32_t seg, int with_runway, const char *when)
{
	struct seg_records sr = segment_records(f->dir, seg);
	char path[400];
	off_t size;

	snprintf(path, sizeof(path), "%s/segments/%08u.seg", f->dir, seg);
	size = file_size(path);
	if (!sr.n)
		fail_msg("%s: expected records in segment %u, found none", when, seg);
	if (with_runway && (off_t)sr.end + (256 << 10) > size)
		fail_msg("%s: expected zeros at least 256 KiB past the last record of segment %u "
			 "(at %llu), the file has %lld bytes", when, seg,
			 (unsigned long long)sr.end, (long long)size);
	if (!with_runway && (off_t)sr.end != size)
		fail_msg("%s: expected segment %u to end at its last record (%llu), it has %lld "
			 "bytes", when, seg, (unsigned long long)sr.end, (long long)size);
}

/*
 * The zeroed runway: a log synced in small steps keeps zeros written ahead
 * of its records in the newest segment (so a sync commits no size change),
 * records overwrite them, a sealed segment and a closed store hold none,
 * and after a kill -9 the next writer cuts them off like a torn tail, every
 * acknowledged block intact.
 */
static void test_runway(void **state)
{
	struct fx *f = *state;
	char seg1[400];
	int b, pfd[2], st, s;
	off_t size;
	pid_t pid;
	char c;

	snprintf(seg1, sizeof(seg1), "%s/segments/00000001.seg", f->dir);
	for (b = 0; b < 4; b++) {
		assert_int_equal(write_blocks(f, b, 1, 1), 0);
		assert_int_equal(cdp_journal_sync(f->j), 0);
	}
	expect_segment_end(f, 1, 1, "small syncs");
	/* more records go into the runway: the file does not grow */
	size = file_size(seg1);
	assert_int_equal(write_blocks(f, 4, 1, 1), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(file_size(seg1), size);
	for (b = 0; b < 5; b++)
		assert_int_equal(check_block(f->s, f->fid, b, 1), 0);
	/* a clean close cuts it */
	fx_close(f);
	expect_segment_end(f, 1, 0, "after a clean close");
	/* a kill -9 with a runway out: cut at the next open, nothing lost */
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		fx_open(f);
		for (b = 0; b < 6; b++)
			if (write_blocks(f, b, 1, 2) < 0 || cdp_journal_sync(f->j) < 0)
				_exit(2);
		if (write(pfd[1], "k", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	expect_segment_end(f, 2, 1, "at the kill");
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	fx_open(f);
	for (b = 0; b < 6; b++)
		assert_int_equal(check_block(f->s, f->fid, b, 2), 0);
	expect_segment_end(f, 2, 0, "after the kill, the next writer open");
	/* segments sealed while a runway was out hold none */
	cdp_segment_max_bytes = 4096;
	for (b = 0; b < 24; b++) {
		assert_int_equal(write_blocks(f, b % 8, 1, 3 + b), 0);
		assert_int_equal(cdp_journal_sync(f->j), 0);
	}
	cdp_segment_max_bytes = CDP_SEGMENT_MAX_BYTES;
	for (s = 3;; s++) {
		snprintf(seg1, sizeof(seg1), "%s/segments/%08d.seg", f->dir, s + 1);
		if (access(seg1, F_OK) < 0)
			break;   /* s is the newest */
		expect_segment_end(f, (uint32_t)s, 0, "a segment sealed with a runway out");
	}
	if (s < 5)
		fail_msg("sealed segments: expected the log to roll at least twice, newest %d", s);
	for (b = 0; b < 8; b++)
		assert_int_equal(check_block(f->s, f->fid, b, 3 + 16 + b), 0);
}

static void test_segment_roll(void **state)
{
	struct fx *f = *state;
	char seg[400];
	int b, s;

	cdp_segment_max_bytes = SEG_HEADER_BYTES + 1;   /* a segment per record */
	assert_int_equal(write_blocks(f, 0, 8, 1), 0);   /* one group, rolls mid-way */
	assert_int_equal(cdp_journal_sync(f->j), 0);
	for (b = 0; b < 8; b++)
		assert_int_equal(write_blocks(f, b, 1, 2 + b), 0);   /* many groups */
	assert_int_equal(cdp_journal_sync(f->j), 0);
	cdp_segment_max_bytes = CDP_SEGMENT_MAX_BYTES;
	for (s = 1; s <= 3; s++) {
		snprintf(seg, sizeof(seg), "%s/segments/%08d.seg", f->dir, s);
		if (access(seg, F_OK))
			fail_msg("segment roll: expected segment %d to exist", s);
	}
	fx_close(f);
	fx_open(f);
	for (b = 0; b < 8; b++)
		assert_int_equal(check_block(f->s, f->fid, b, 2 + b), 0);
	assert_int_equal(write_blocks(f, 0, 1, 1), 0);   /* dedup across segments */
	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(check_block(f->s, f->fid, 0, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_incompressible),
		cmocka_unit_test(test_values),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_roll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_lags_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_loss, setup, teardown),
	};

	cdp_log_init("test_chunklog", 0, LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
