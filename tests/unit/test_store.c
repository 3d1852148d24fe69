/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_store.c - unit tests of the store as its users see it (store.h):
 * open/create and its errors, journaling ops, views at each seq and at
 * instants, truncate/hole semantics, directory entry and xattr versions,
 * the inode-map overlay, dedup, and a reader (secondary) beside a writer.
 * Each test works in its own temporary store directory, removed after.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "store.h"
#include "store_test.h"   /* cdp_rm_tree */

#define BS 8192

struct fx {
	char dir[256];
	struct cdp_store *s;
	struct cdp_journal *j;
	uint32_t root_id;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	int resuming, ret;

	snprintf(f->dir, sizeof(f->dir), "%s/cdp-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	strcat(f->dir, "/store");
	ret = cdp_store_open(f->dir, CDP_STORE_CREATE, NULL, &f->s);
	if (ret)
		fail_msg("expected store creation to succeed, got %s", cdp_strerror(ret));
	assert_int_equal(cdp_journal_open(f->s, "db01", &f->j), 0);
	assert_int_equal(cdp_journal_root_begin(f->j, "/data", &f->root_id, &resuming), 0);
	assert_int_equal(resuming, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char top[256];

	cdp_journal_close(f->j);
	cdp_store_close(f->s);
	snprintf(top, sizeof(top), "%s", f->dir);
	*strrchr(top, '/') = 0;
	cdp_rm_tree(top);
	free(f);
	return 0;
}

static struct cdp_attr file_attr(uint32_t mode, uint64_t size)
{
	struct cdp_attr a;

	memset(&a, 0, sizeof(a));
	a.mode = mode;
	a.nlink = S_ISDIR(mode) ? 2 : 1;
	a.size = size;
	a.uid = 1000;
	a.gid = 100;
	a.mtime_ns = 1234567890123456789LL;
	return a;
}

/* One op: attr of fid with size, data at offset. */
static uint64_t write_op(struct fx *f, uint64_t fid, uint64_t size, uint64_t off,
			 const void *buf, size_t len, int64_t *ts)
{
	struct cdp_op *op;
	struct cdp_attr a = file_attr(S_IFREG | 0644, size);
	uint64_t seq;

	assert_int_equal(cdp_op_new(f->j, &op), 0);
	if (len)
		assert_int_equal(cdp_op_data(op, fid, off, buf, len), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_commit(op, &seq, ts), 0);
	return seq;
}

/* Creates /data/<name> (a file) and makes the root ready; returns fid. */
static uint64_t make_tree(struct fx *f, const char *name)
{
	struct cdp_op *op;
	struct cdp_attr d = file_attr(S_IFDIR | 0755, 0), r = file_attr(S_IFREG | 0600, 0);
	uint64_t data_fid, fid;

	assert_int_equal(cdp_journal_new_fid(f->j, &data_fid), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &fid), 0);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_attr(op, data_fid, &d, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, CDP_ROOT_FID, "data", data_fid, S_IFDIR), 0);
	assert_int_equal(cdp_op_attr(op, fid, &r, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, data_fid, name, fid, S_IFREG), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	assert_int_equal(cdp_journal_root_ready(f->j, f->root_id, data_fid), 0);
	return fid;
}

static struct cdp_view *view_at_seq_ts(struct fx *f, int64_t ts)
{
	struct cdp_view *v;
	int ret = cdp_view_open(f->s, "db01", ts, &v);

	if (ret)
		fail_msg("expected a view at %lld, got %s", (long long)ts, cdp_strerror(ret));
	return v;
}

static void expect_bytes(struct cdp_view *v, uint64_t fid, uint64_t off, const void *want,
			 size_t len, const char *what)
{
	uint8_t *got = malloc(len + 16);
	ssize_t n = cdp_view_read(v, fid, got, len, off);
	size_t i;

	if (n != (ssize_t)len)
		fail_msg("%s: expected to read %zu bytes at %llu, got %zd (%s)", what, len,
			 (unsigned long long)off, n, n < 0 ? cdp_strerror((int)n) : "short");
	for (i = 0; i < len; i++)
		if (got[i] != ((const uint8_t *)want)[i])
			fail_msg("%s: byte %zu: expected 0x%02x, got 0x%02x", what, i,
				 ((const uint8_t *)want)[i], got[i]);
	free(got);
}

/* ------------------------------------------------------------------ */

static void test_common_path(void **state)
{
	struct fx *f = *state;
	struct cdp_view *v;
	struct cdp_attr a;
	uint8_t buf[3 * BS + 100];
	uint64_t fid, got;
	uint32_t type;
	size_t i;

	fid = make_tree(f, "file");
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	write_op(f, fid, sizeof(buf), 0, buf, sizeof(buf), NULL);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	v = view_at_seq_ts(f, CDP_TS_LATEST);
	assert_int_equal(cdp_view_resolve(v, "/data/file", &got), 0);
	assert_int_equal(got, fid);
	assert_int_equal(cdp_view_lookup(v, CDP_ROOT_FID, "data", &got, &type), 0);
	assert_int_equal(type, S_IFDIR);
	assert_int_equal(cdp_view_getattr(v, fid, &a), 0);
	assert_int_equal(a.size, sizeof(buf));
	assert_int_equal(a.uid, 1000);
	assert_int_equal(a.mtime_ns, 1234567890123456789LL);
	expect_bytes(v, fid, 0, buf, sizeof(buf), "whole file");
	expect_bytes(v, fid, 5000, buf + 5000, 9000, "unaligned middle");
	assert_int_equal(cdp_view_read(v, fid, buf, 100, sizeof(buf)), 0);
	assert_int_equal(cdp_view_lookup(v, CDP_ROOT_FID, "nope", &got, &type), -ENOENT);
	assert_int_equal(cdp_view_getattr(v, 9999, &a), -ENOENT);
	cdp_view_free(v);
}

static void test_versions(void **state)
{
	struct fx *f = *state;
	enum { N = 20 };
	uint64_t fid, seqs[N];
	int64_t ts[N];
	uint8_t blk[BS];
	struct cdp_view *v;
	int i;

	fid = make_tree(f, "db");
	for (i = 0; i < N; i++) {
		memset(blk, 'a' + i, sizeof(blk));
		seqs[i] = write_op(f, fid, 2 * BS, BS, blk, BS, &ts[i]);
	}
	assert_int_equal(cdp_journal_sync(f->j), 0);
	for (i = 0; i < N; i++) {
		/* several ops share a second: the instant picks the right one */
		v = view_at_seq_ts(f, ts[i]);
		if (cdp_view_seq(v) != seqs[i])
			fail_msg("view at ts of op %d: expected seq %llu, got %llu", i,
				 (unsigned long long)seqs[i], (unsigned long long)cdp_view_seq(v));
		assert_int_equal(cdp_view_ts(v), ts[i]);
		memset(blk, 'a' + i, sizeof(blk));
		expect_bytes(v, fid, BS, blk, BS, "block version");
		memset(blk, 0, sizeof(blk));
		expect_bytes(v, fid, 0, blk, BS, "never written block");
		cdp_view_free(v);
	}
}

/* cdp_journal_sync in halves: after wait, what was queued before start is
 * durable in the log (the index may apply it a moment later: the queue
 * drains and the commit is counted then), however the caller spent the
 * time between the two, and the latest view shows it. */
static void test_sync_halves(void **state)
{
	struct fx *f = *state;
	struct cdp_journal_stats before, after;
	struct cdp_view *v;
	uint8_t blk[BS];
	uint64_t fid, ticket = 0;
	int i;

	fid = make_tree(f, "halves");
	assert_int_equal(cdp_journal_sync(f->j), 0);
	cdp_journal_stats(f->j, &before);
	memset(blk, 'h', sizeof(blk));
	write_op(f, fid, BS, 0, blk, BS, NULL);
	assert_int_equal(cdp_journal_sync_start(f->j, &ticket), 0);
	if (ticket == 0)
		fail_msg("sync_start with a running writer: expected a ticket, got 0");
	assert_int_equal(cdp_journal_sync_wait(f->j, ticket), 0);
	assert_int_equal(cdp_view_open(f->s, "db01", CDP_TS_LATEST, &v), 0);
	expect_bytes(v, fid, 0, blk, BS, "block synced in halves");
	cdp_view_free(v);
	for (i = 0; i < 200; i++) {
		cdp_journal_stats(f->j, &after);
		if (after.queue_bytes == 0 && after.commits > before.commits)
			break;
		usleep(10000);
	}
	if (after.queue_bytes != 0 || after.commits <= before.commits)
		fail_msg("2 s after sync_wait: expected an empty queue and a new commit, got %llu "
			 "bytes queued and %llu commits (%llu before)",
			 (unsigned long long)after.queue_bytes, (unsigned long long)after.commits,
			 (unsigned long long)before.commits);
	/* a ticket already served returns at once */
	assert_int_equal(cdp_journal_sync_wait(f->j, ticket), 0);
}

/* expect_seek: cdp_view_seek at off must give want (or the error). */
static void expect_seek(struct cdp_view *v, uint64_t fid, uint64_t off, int data, int64_t want,
			const char *what)
{
	uint64_t pos = 0;
	int ret = cdp_view_seek(v, fid, off, data, &pos);

	if (want < 0 && ret != want)
		fail_msg("%s: %s from %llu: expected %s, got %s (pos %llu)", what,
			 data ? "SEEK_DATA" : "SEEK_HOLE", (unsigned long long)off,
			 cdp_strerror((int)want), ret ? cdp_strerror(ret) : "success",
			 (unsigned long long)pos);
	if (want >= 0 && (ret != 0 || pos != (uint64_t)want))
		fail_msg("%s: %s from %llu: expected %lld, got %s %llu", what,
			 data ? "SEEK_DATA" : "SEEK_HOLE", (unsigned long long)off,
			 (long long)want, ret ? cdp_strerror(ret) : "position",
			 (unsigned long long)pos);
}

static void test_seek_data_hole(void **state)
{
	struct fx *f = *state;
	struct cdp_op *op;
	struct cdp_attr a;
	struct cdp_view *v;
	uint8_t two[2 * BS], zero[BS];
	uint64_t fid, size = 12 * BS - 100;
	int64_t ts1, ts2;

	fid = make_tree(f, "sparse");
	memset(two, 0x77, sizeof(two));
	memset(zero, 0, sizeof(zero));
	/* blocks 2-3 and 7 hold data, block 5 was written with zeros, the
	 * rest were never written; the last block is partial */
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_data(op, fid, 2 * BS, two, sizeof(two)), 0);
	assert_int_equal(cdp_op_data(op, fid, 5 * BS, zero, BS), 0);
	assert_int_equal(cdp_op_data(op, fid, 7 * BS, two, BS), 0);
	a = file_attr(S_IFREG | 0644, size);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &ts1), 0);
	/* later: block 2 punched, block 11 (the partial last one) written */
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_zero(op, fid, 2, 3), 0);
	assert_int_equal(cdp_op_data(op, fid, 11 * BS, two, BS - 100), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &ts2), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);

	v = view_at_seq_ts(f, ts1);
	expect_seek(v, fid, 0, 1, 2 * BS, "first data");
	expect_seek(v, fid, 2 * BS + 10, 1, 2 * BS + 10, "inside data");
	expect_seek(v, fid, 4 * BS, 1, 7 * BS, "data after a zero block");
	expect_seek(v, fid, 8 * BS, 1, -ENXIO, "no data after the last");
	expect_seek(v, fid, 0, 0, 0, "hole at the start");
	expect_seek(v, fid, 2 * BS, 0, 4 * BS, "hole after two data blocks");
	expect_seek(v, fid, 7 * BS + 1, 0, 8 * BS, "hole after the last data");
	expect_seek(v, fid, 11 * BS, 0, 11 * BS, "inside the trailing hole");
	expect_seek(v, fid, size, 1, -ENXIO, "SEEK_DATA at the end");
	expect_seek(v, fid, size, 0, -ENXIO, "SEEK_HOLE at the end");
	cdp_view_free(v);

	v = view_at_seq_ts(f, ts2);
	expect_seek(v, fid, 0, 1, 3 * BS, "punched block is a hole later");
	expect_seek(v, fid, 3 * BS, 0, 4 * BS, "hole after the remaining block");
	expect_seek(v, fid, 8 * BS, 1, 11 * BS, "the partial last block");
	expect_seek(v, fid, 11 * BS, 0, (int64_t)size, "data up to the end");
	assert_int_equal(cdp_view_seek(v, CDP_ROOT_FID, 0, 1, &(uint64_t){ 0 }), -EISDIR);
	cdp_view_free(v);
}

static void test_truncate_hole(void **state)
{
	struct fx *f = *state;
	struct cdp_journal_stats st0, st1;
	struct cdp_op *op;
	struct cdp_attr a;
	struct cdp_view *v;
	uint8_t data[4 * BS], zero[4 * BS];
	uint8_t hash[CDP_HASH_BYTES];
	uint64_t fid;
	int64_t ts_full, ts_cut;
	int is_zero;

	fid = make_tree(f, "t");
	memset(data, 0x5a, sizeof(data));
	memset(zero, 0, sizeof(zero));
	write_op(f, fid, sizeof(data), 0, data, sizeof(data), &ts_full);
	/* truncate to 1 block, then extend to 4 */
	a = file_attr(S_IFREG | 0644, BS);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_zero(op, fid, 1, UINT64_MAX), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &ts_cut), 0);
	a.size = sizeof(data);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	/* a zero block written takes no chunk */
	assert_int_equal(cdp_journal_sync(f->j), 0);
	cdp_journal_stats(f->j, &st0);
	write_op(f, fid, 5 * BS, 4 * BS, zero, BS, NULL);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	cdp_journal_stats(f->j, &st1);
	assert_int_equal(st1.new_chunks, st0.new_chunks);
	assert_int_equal(st1.zero_blocks, st0.zero_blocks + 1);

	v = view_at_seq_ts(f, CDP_TS_LATEST);
	expect_bytes(v, fid, 0, data, BS, "kept block");
	expect_bytes(v, fid, BS, zero, 3 * BS, "extended after truncate");
	assert_int_equal(cdp_view_block_hash(v, fid, 2, hash, &is_zero), 0);
	assert_int_equal(is_zero, 1);
	assert_int_equal(cdp_view_block_hash(v, fid, 0, hash, &is_zero), 0);
	assert_int_equal(is_zero, 0);
	assert_int_equal(cdp_view_block_hash(v, fid, 99, hash, &is_zero), -ENOENT);
	cdp_view_free(v);
	v = view_at_seq_ts(f, ts_full);
	expect_bytes(v, fid, 0, data, sizeof(data), "before truncate");
	cdp_view_free(v);
	v = view_at_seq_ts(f, ts_cut);
	assert_int_equal(cdp_view_getattr(v, fid, &a), 0);
	assert_int_equal(a.size, BS);
	cdp_view_free(v);
}

struct names {
	char list[512];
	int n;
};

static int collect(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct names *nm = arg;

	strcat(nm->list, name);
	strcat(nm->list, ",");
	nm->n++;
	return 0;
}

static void expect_listing(struct fx *f, int64_t ts, uint64_t dir, const char *want)
{
	struct cdp_view *v = view_at_seq_ts(f, ts);
	struct names nm = { "", 0 };
	int ret = cdp_view_readdir(v, dir, NULL, collect, &nm);

	if (ret)
		fail_msg("readdir: expected success, got %s", cdp_strerror(ret));
	if (strcmp(nm.list, want))
		fail_msg("readdir at %lld: expected '%s', got '%s'", (long long)ts, want, nm.list);
	cdp_view_free(v);
}

static void test_dirents(void **state)
{
	struct fx *f = *state;
	struct cdp_op *op;
	struct cdp_attr a = file_attr(S_IFREG | 0644, 0);
	struct cdp_view *v;
	struct names nm = { "", 0 };
	uint64_t fid, fid2, dir, got;
	int64_t t0, t1, t2, t3;

	fid = make_tree(f, "a");
	assert_int_equal(cdp_view_open(f->s, "db01", CDP_TS_LATEST, &v), 0);
	assert_int_equal(cdp_view_resolve(v, "/data", &dir), 0);
	cdp_view_free(v);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_dirent(op, dir, "b", fid, S_IFREG), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t0), 0);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_dirent(op, dir, "a", 0, 0), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t1), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &fid2), 0);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_attr(op, fid2, &a, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, dir, "a", fid2, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, dir, "ab", fid2, S_IFREG), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t2), 0);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_dirent(op, dir, "b", 0, 0), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t3), 0);
	expect_listing(f, t0, dir, "a,b,");
	expect_listing(f, t1, dir, "b,");
	expect_listing(f, t2, dir, "a,ab,b,");
	expect_listing(f, t3, dir, "a,ab,");
	expect_listing(f, t0, CDP_ROOT_FID, "data,");
	v = view_at_seq_ts(f, t2);
	assert_int_equal(cdp_view_lookup(v, dir, "a", &got, NULL), 0);
	assert_int_equal(got, fid2);
	assert_int_equal(cdp_view_readdir(v, dir, "a", collect, &nm), 0);
	assert_string_equal(nm.list, "ab,b,");
	assert_int_equal(cdp_view_readdir(v, fid2, NULL, collect, &nm), -ENOTDIR);
	cdp_view_free(v);
	v = view_at_seq_ts(f, t1);
	assert_int_equal(cdp_view_lookup(v, dir, "a", &got, NULL), -ENOENT);
	cdp_view_free(v);
}

static void test_xattrs_symlink(void **state)
{
	struct fx *f = *state;
	struct cdp_op *op;
	struct cdp_attr l = file_attr(S_IFLNK | 0777, 6);
	struct cdp_view *v;
	uint64_t fid, lfid;
	int64_t t0, t1, t2;
	char buf[256];

	fid = make_tree(f, "x");
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_xattr(op, fid, "user.a", "one", 3), 0);
	assert_int_equal(cdp_op_xattr(op, fid, "user.b", "", 0), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t0), 0);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_xattr(op, fid, "user.a", "two!", 4), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t1), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &lfid), 0);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_xattr(op, fid, "user.a", NULL, 0), 0);
	assert_int_equal(cdp_op_attr(op, lfid, &l, "target"), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t2), 0);

	v = view_at_seq_ts(f, t0);
	assert_int_equal(cdp_view_getxattr(v, fid, "user.a", NULL, 0), 3);
	assert_int_equal(cdp_view_getxattr(v, fid, "user.a", buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(cdp_view_getxattr(v, fid, "user.a", buf, 2), -ERANGE);
	assert_int_equal(cdp_view_getxattr(v, fid, "user.b", buf, sizeof(buf)), 0);
	assert_int_equal(cdp_view_listxattr(v, fid, NULL, 0), 14);
	assert_int_equal(cdp_view_listxattr(v, fid, buf, sizeof(buf)), 14);
	assert_memory_equal(buf, "user.a\0user.b\0", 14);
	assert_int_equal(cdp_view_readlink(v, lfid, buf, sizeof(buf)), -ENOENT);
	cdp_view_free(v);
	v = view_at_seq_ts(f, t1);
	assert_int_equal(cdp_view_getxattr(v, fid, "user.a", buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "two!", 4);
	cdp_view_free(v);
	v = view_at_seq_ts(f, t2);
	assert_int_equal(cdp_view_getxattr(v, fid, "user.a", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(cdp_view_listxattr(v, fid, buf, sizeof(buf)), 7);
	assert_int_equal(cdp_view_readlink(v, lfid, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "target");
	assert_int_equal(cdp_view_readlink(v, lfid, buf, 6), -ERANGE);
	assert_int_equal(cdp_view_readlink(v, fid, buf, sizeof(buf)), -EINVAL);
	cdp_view_free(v);
}

static void test_imap_overlay(void **state)
{
	struct fx *f = *state;
	struct cdp_op *op;
	uint64_t fid;
	uint8_t h[16];
	size_t hl;

	assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, 42, &fid, NULL, NULL), -ENOENT);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_imap(op, f->root_id, 42, 77, "handle", 6), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	/* queued, not yet committed: still visible */
	hl = sizeof(h);
	assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, 42, &fid, h, &hl), 0);
	assert_int_equal(fid, 77);
	assert_int_equal(hl, 6);
	assert_memory_equal(h, "handle", 6);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	hl = 2;
	assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, 42, &fid, h, &hl), -ERANGE);
	hl = sizeof(h);
	assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, 42, &fid, h, &hl), 0);
	assert_int_equal(fid, 77);
	assert_memory_equal(h, "handle", 6);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_imap(op, f->root_id, 42, 0, NULL, 0), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, 42, &fid, NULL, NULL), -ENOENT);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, 42, &fid, NULL, NULL), -ENOENT);
}

/* One unmap, committed after its inode number was reused, must leave the
 * new mapping alone, whether the reuse is still queued or in the index. */
static void unmap_one(struct fx *f, uint64_t ino, uint64_t fid, int sync)
{
	struct cdp_op *op;

	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_unmap(op, f->root_id, ino, fid), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	if (sync)
		assert_int_equal(cdp_journal_sync(f->j), 0);
}

static void map_one(struct fx *f, uint64_t ino, uint64_t fid, int sync)
{
	struct cdp_op *op;

	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_imap(op, f->root_id, ino, fid, "h", 1), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	if (sync)
		assert_int_equal(cdp_journal_sync(f->j), 0);
}

static void test_imap_unmap_conditional(void **state)
{
	struct fx *f = *state;
	struct cdp_op *op;
	uint64_t fid;
	int sync;

	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_unmap(op, f->root_id, 1, 0), -EINVAL);
	cdp_op_abort(op);
	for (sync = 0; sync < 2; sync++) {
		uint64_t ino = 50 + (uint64_t)sync;

		/* the old file, then the new one that got its number, then the
		 * late unmap of the old one: the new mapping stays */
		map_one(f, ino, 100, sync);
		map_one(f, ino, 200, sync);
		unmap_one(f, ino, 100, sync);
		assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, ino, &fid, NULL, NULL), 0);
		assert_int_equal(fid, 200);
		assert_int_equal(cdp_journal_sync(f->j), 0);
		assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, ino, &fid, NULL, NULL), 0);
		assert_int_equal(fid, 200);
		/* an unmap of the fid it maps to removes it */
		unmap_one(f, ino, 200, sync);
		assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, ino, &fid, NULL, NULL),
				 -ENOENT);
		/* an unmap of what is already unmapped changes nothing */
		unmap_one(f, ino, 200, sync);
		map_one(f, ino, 300, sync);
		assert_int_equal(cdp_journal_sync(f->j), 0);
		assert_int_equal(cdp_journal_imap_get(f->j, f->root_id, ino, &fid, NULL, NULL), 0);
		assert_int_equal(fid, 300);
	}
}

static void test_dedup(void **state)
{
	struct fx *f = *state;
	struct cdp_journal_stats st0, st1;
	uint8_t blk[BS], h1[CDP_HASH_BYTES], h2[CDP_HASH_BYTES], want[CDP_HASH_BYTES];
	struct cdp_view *v;
	uint64_t fid;
	int z;

	fid = make_tree(f, "d");
	memset(blk, 0x11, sizeof(blk));
	blk[17] = 3;
	assert_int_equal(cdp_journal_sync(f->j), 0);
	cdp_journal_stats(f->j, &st0);
	write_op(f, fid, 2 * BS, 0, blk, BS, NULL);
	write_op(f, fid, 2 * BS, BS, blk, BS, NULL);   /* same group */
	assert_int_equal(cdp_journal_sync(f->j), 0);
	write_op(f, fid, 2 * BS, 0, blk, BS, NULL);    /* later group */
	assert_int_equal(cdp_journal_sync(f->j), 0);
	cdp_journal_stats(f->j, &st1);
	if (st1.new_chunks - st0.new_chunks != 1)
		fail_msg("same content three times: expected 1 new chunk, got %llu",
			 (unsigned long long)(st1.new_chunks - st0.new_chunks));
	assert_int_equal(st1.dedup_hits - st0.dedup_hits, 2);
	v = view_at_seq_ts(f, CDP_TS_LATEST);
	assert_int_equal(cdp_view_block_hash(v, fid, 0, h1, &z), 0);
	assert_int_equal(cdp_view_block_hash(v, fid, 1, h2, &z), 0);
	cdp_hash(blk, BS, want);
	assert_memory_equal(h1, want, CDP_HASH_BYTES);
	assert_memory_equal(h2, want, CDP_HASH_BYTES);
	expect_bytes(v, fid, BS, blk, BS, "dedup'ed block");
	cdp_view_free(v);
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct cdp_store *s2;
	struct cdp_journal *j2;
	char path[300];
	FILE *fp;

	assert_int_equal(cdp_store_open("/nonexistent/cdp", CDP_STORE_READ, NULL, &s2),
			 -CDP_ENOSTORE);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_WRITE, NULL, &s2), -CDP_ELOCKED);
	/* a reader beside the writer is fine */
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &s2), 0);
	cdp_store_close(s2);
	/* another format version */
	cdp_journal_close(f->j);
	f->j = NULL;
	cdp_store_close(f->s);
	f->s = NULL;
	snprintf(path, sizeof(path), "%s/FORMAT", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("cdpfs store format 3\n", fp);
	fclose(fp);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &s2), -CDP_EVERSION);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_WRITE, NULL, &s2), -CDP_EVERSION);
	/* format 1 is read, never written */
	fp = fopen(path, "w");
	fputs("cdpfs store format 1\n", fp);
	fclose(fp);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_WRITE, NULL, &s2), -CDP_EVERSION);
	unlink(path);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &s2), -CDP_ENOSTORE);
	fp = fopen(path, "w");
	fputs("cdpfs store format 2\n", fp);
	fclose(fp);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_WRITE, NULL, &f->s), 0);
	assert_int_equal(cdp_journal_open(f->s, "db01", &f->j), 0);
	assert_int_equal(cdp_journal_open(f->s, "bad/name", &j2), -EINVAL);
	assert_null(j2);
}

static void test_view_errors(void **state)
{
	struct fx *f = *state;
	struct cdp_view *v;
	int64_t first;

	assert_int_equal(cdp_view_open(f->s, "nohost", CDP_TS_LATEST, &v), -CDP_ENOHOST);
	/* root begun but not ready: nothing mountable */
	assert_int_equal(cdp_view_open(f->s, "db01", CDP_TS_LATEST, &v), -CDP_EBEFORE);
	make_tree(f, "e");
	first = cdp_now_ns();
	assert_int_equal(cdp_view_open(f->s, "db01", first - 3600LL * 1000000000, &v),
			 -CDP_EBEFORE);
	assert_int_equal(cdp_view_open(f->s, "db01", first + 3600LL * 1000000000, &v),
			 -CDP_EFUTURE);
	assert_int_equal(cdp_view_open(f->s, "db01", first, &v), 0);
	cdp_view_free(v);
}

static void test_reader_refresh(void **state)
{
	struct fx *f = *state;
	struct cdp_store *r;
	struct cdp_view *v;
	struct cdp_attr a;
	uint8_t blk[BS];
	uint64_t fid;

	fid = make_tree(f, "r");
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &r), 0);
	memset(blk, 0x77, sizeof(blk));
	write_op(f, fid, BS, 0, blk, BS, NULL);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(cdp_store_refresh(r), 0);
	assert_int_equal(cdp_view_open(r, "db01", CDP_TS_LATEST, &v), 0);
	assert_int_equal(cdp_view_getattr(v, fid, &a), 0);
	assert_int_equal(a.size, BS);
	expect_bytes(v, fid, 0, blk, BS, "reader sees committed data");
	cdp_view_free(v);
	cdp_store_close(r);
}

static void test_hosts_roots(void **state)
{
	struct fx *f = *state;
	struct cdp_host_info *h;
	uint32_t id2;
	size_t n;
	int resuming;
	struct cdp_journal *j2;

	make_tree(f, "h");
	assert_int_equal(cdp_journal_root_begin(f->j, "/data", &id2, &resuming), -EBUSY);
	assert_int_equal(cdp_journal_root_end(f->j, f->root_id), 0);
	assert_int_equal(cdp_journal_root_begin(f->j, "/data", &id2, &resuming), 0);
	assert_int_equal(id2, f->root_id);
	assert_int_equal(resuming, 1);
	assert_int_equal(cdp_journal_root_ready(f->j, f->root_id, 2), 0);
	assert_int_equal(cdp_journal_open(f->s, "aaa", &j2), 0);
	cdp_journal_close(j2);
	assert_int_equal(cdp_store_hosts(f->s, &h, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(h[0].name, "aaa");
	assert_string_equal(h[1].name, "db01");
	assert_int_equal(h[1].nroots, 1);
	assert_string_equal(h[1].roots[0].path, "/data");
	assert_int_equal(h[1].roots[0].active, 1);
	assert_int_equal(h[1].roots[0].ngaps, 1);
	assert_true(h[1].roots[0].gaps[0].from_ts_ns <= h[1].roots[0].gaps[0].to_ts_ns);
	assert_true(h[1].first_ts_ns > 0);
	assert_true(h[1].latest_seq > 0);
	cdp_host_info_free(h, n);
}

static void test_group_commit_interval(void **state)
{
	struct fx *f = *state;
	struct cdp_store *r;
	struct cdp_view *v;
	struct cdp_attr a;
	uint8_t blk[BS];
	uint64_t fid;
	struct timespec pause = { 0, 400000000 };

	fid = make_tree(f, "g");
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &r), 0);
	memset(blk, 0x42, sizeof(blk));
	write_op(f, fid, BS, 0, blk, BS, NULL);
	/* no sync: the writer must commit within its 50 ms interval */
	nanosleep(&pause, NULL);
	assert_int_equal(cdp_store_refresh(r), 0);
	assert_int_equal(cdp_view_open(r, "db01", CDP_TS_LATEST, &v), 0);
	assert_int_equal(cdp_view_getattr(v, fid, &a), 0);
	if (a.size != BS)
		fail_msg("group commit: expected the op committed after 400 ms (size %d), "
			 "got size %llu", BS, (unsigned long long)a.size);
	cdp_view_free(v);
	cdp_store_close(r);
}

struct thread_arg {
	struct fx *f;
	uint64_t fid;
	int id;
	uint64_t seqs[200];
	int64_t ts[200];
};

static void *committer(void *p)
{
	struct thread_arg *t = p;
	uint8_t blk[BS];
	int i;

	for (i = 0; i < 200; i++) {
		memset(blk, t->id * 16 + i % 16 + 1, sizeof(blk));
		t->seqs[i] = write_op(t->f, t->fid, 8 * BS, (uint64_t)t->id * BS, blk, BS,
				      &t->ts[i]);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void test_concurrent_commits(void **state)
{
	struct fx *f = *state;
	struct thread_arg t[4];
	pthread_t th[4];
	uint64_t all[800];
	struct cdp_journal_stats st;
	struct cdp_view *v;
	uint8_t blk[BS];
	int i, k;

	/* a small queue ceiling exercises back-pressure */
	cdp_journal_close(f->j);
	cdp_store_close(f->s);
	{
		struct cdp_store_options o = { .queue_limit_bytes = 64 * 1024 };

		assert_int_equal(cdp_store_open(f->dir, CDP_STORE_WRITE, &o, &f->s), 0);
	}
	assert_int_equal(cdp_journal_open(f->s, "db01", &f->j), 0);
	{
		int resuming;

		assert_int_equal(cdp_journal_root_end(f->j, f->root_id), 0);
		assert_int_equal(cdp_journal_root_begin(f->j, "/data", &f->root_id, &resuming), 0);
	}
	memset(t, 0, sizeof(t));
	t[0].fid = make_tree(f, "c");
	for (i = 0; i < 4; i++) {
		t[i].f = f;
		t[i].fid = t[0].fid;
		t[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, committer, &t[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	cdp_journal_stats(f->j, &st);
	if (st.queue_peak_bytes > 64 * 1024 + 2 * BS)
		fail_msg("back-pressure: expected queue peak <= %d, got %llu", 64 * 1024 + 2 * BS,
			 (unsigned long long)st.queue_peak_bytes);
	for (i = 0; i < 4; i++)
		for (k = 0; k < 200; k++)
			all[i * 200 + k] = t[i].seqs[k];
	qsort(all, 800, sizeof(all[0]), cmp_u64);
	for (i = 1; i < 800; i++)
		if (all[i] == all[i - 1])
			fail_msg("seq %llu handed out twice", (unsigned long long)all[i]);
	for (i = 0; i < 4; i++)
		for (k = 1; k < 200; k++)
			assert_true(t[i].ts[k] >= t[i].ts[k - 1] && t[i].seqs[k] > t[i].seqs[k - 1]);
	/* each thread's last block version is what a view at its instant shows */
	for (i = 0; i < 4; i++) {
		v = view_at_seq_ts(f, t[i].ts[199]);
		assert_true(cdp_view_seq(v) >= t[i].seqs[199]);
		cdp_view_free(v);
		v = view_at_seq_ts(f, CDP_TS_LATEST);
		memset(blk, i * 16 + 199 % 16 + 1, sizeof(blk));
		expect_bytes(v, t[i].fid, (uint64_t)i * BS, blk, BS, "last version per thread");
		cdp_view_free(v);
	}
}

/* Everything in one group (long commit interval): a zero range must see the
 * data written earlier in the same group, and data after it must win. */
static void test_zero_in_group(void **state)
{
	struct fx *f = *state;
	struct cdp_store_options o = { .commit_interval_ms = 60000 };
	struct cdp_op *op;
	struct cdp_attr a;
	struct cdp_view *v;
	uint8_t d1[4 * BS], d2[BS], zero[4 * BS];
	uint64_t fid, other;
	int64_t t1, t2, t3, t4;
	int resuming;

	cdp_journal_close(f->j);
	cdp_store_close(f->s);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_WRITE, &o, &f->s), 0);
	assert_int_equal(cdp_journal_open(f->s, "db01", &f->j), 0);
	assert_int_equal(cdp_journal_root_end(f->j, f->root_id), 0);
	assert_int_equal(cdp_journal_root_begin(f->j, "/data", &f->root_id, &resuming), 0);
	fid = make_tree(f, "z");
	assert_int_equal(cdp_journal_new_fid(f->j, &other), 0);
	memset(d1, 0xd1, sizeof(d1));
	memset(d2, 0xd2, sizeof(d2));
	memset(zero, 0, sizeof(zero));
	write_op(f, fid, sizeof(d1), 0, d1, sizeof(d1), &t1);
	write_op(f, other, BS, 0, d1, BS, NULL);
	/* truncate fid to 1 block, then zero a file with nothing pending */
	a = file_attr(S_IFREG | 0644, BS);
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_zero(op, fid, 1, UINT64_MAX), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t2), 0);
	/* zero then data of the same block in one op: the data wins */
	a.size = 4 * BS;
	assert_int_equal(cdp_op_new(f->j, &op), 0);
	assert_int_equal(cdp_op_zero(op, fid, 2, 3), 0);
	assert_int_equal(cdp_op_data(op, fid, 2 * BS, d2, BS), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &t3), 0);
	write_op(f, other, BS, 0, d2, BS, &t4);
	assert_int_equal(cdp_journal_sync(f->j), 0);

	v = view_at_seq_ts(f, t1);
	expect_bytes(v, fid, 0, d1, sizeof(d1), "before the truncate");
	cdp_view_free(v);
	v = view_at_seq_ts(f, t2);
	assert_int_equal(cdp_view_getattr(v, fid, &a), 0);
	assert_int_equal(a.size, BS);
	expect_bytes(v, other, 0, d1, BS, "other file untouched");
	cdp_view_free(v);
	v = view_at_seq_ts(f, t3);
	expect_bytes(v, fid, 0, d1, BS, "kept block");
	expect_bytes(v, fid, BS, zero, BS, "truncated block 1");
	expect_bytes(v, fid, 2 * BS, d2, BS, "data after zero in one op");
	expect_bytes(v, fid, 3 * BS, zero, BS, "truncated block 3");
	cdp_view_free(v);
	v = view_at_seq_ts(f, t4);
	expect_bytes(v, other, 0, d2, BS, "other file rewritten");
	cdp_view_free(v);
}

/* Model-based: random writes, zero ranges and size changes on one file,
 * each op's state kept in memory; every op's instant must show exactly
 * that state (content, holes, size), whatever the grouping. */
#define MB 12      /* blocks in the model file */
#define MOPS 120

static void fill_pattern(uint8_t *b, int pat)
{
	int i;

	for (i = 0; i < BS; i++)
		b[i] = pat ? (uint8_t)(pat * 31 + i / 512) : 0;
}

static void test_model(void **state)
{
	struct fx *f = *state;
	static int model[MOPS][MB];
	static uint64_t msize[MOPS];
	static int64_t mts[MOPS];
	int cur[MB] = { 0 };
	uint64_t size = 0, fid;
	uint8_t *buf = malloc((size_t)MB * BS), want[BS];
	struct cdp_view *v;
	struct cdp_op *op;
	struct cdp_attr a;
	unsigned seed = 12345;
	int i, b, first, n, kind;

	fid = make_tree(f, "m");
	for (i = 0; i < MOPS; i++) {
		kind = rand_r(&seed) % 4;
		first = rand_r(&seed) % MB;
		n = 1 + rand_r(&seed) % (MB - first);
		assert_int_equal(cdp_op_new(f->j, &op), 0);
		if (kind <= 1) {            /* write (patterns repeat: dedup) */
			for (b = 0; b < n; b++) {
				cur[first + b] = 1 + rand_r(&seed) % 5;
				fill_pattern(buf + (size_t)b * BS, cur[first + b]);
			}
			assert_int_equal(cdp_op_data(op, fid, (uint64_t)first * BS, buf,
						     (size_t)n * BS), 0);
			if ((uint64_t)(first + n) * BS > size)
				size = (uint64_t)(first + n) * BS;
		} else if (kind == 2) {     /* punch a hole */
			assert_int_equal(cdp_op_zero(op, fid, first, first + n), 0);
			for (b = first; b < first + n; b++)
				cur[b] = 0;
		} else {                    /* truncate to first blocks, maybe extend */
			assert_int_equal(cdp_op_zero(op, fid, first, UINT64_MAX), 0);
			for (b = first; b < MB; b++)
				cur[b] = 0;
			size = (uint64_t)(first + rand_r(&seed) % 3) * BS;
		}
		a = file_attr(S_IFREG | 0644, size);
		assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
		assert_int_equal(cdp_op_commit(op, NULL, &mts[i]), 0);
		memcpy(model[i], cur, sizeof(cur));
		msize[i] = size;
		if (rand_r(&seed) % 10 == 0)
			assert_int_equal(cdp_journal_sync(f->j), 0);
	}
	assert_int_equal(cdp_journal_sync(f->j), 0);
	for (i = 0; i < MOPS; i++) {
		v = view_at_seq_ts(f, mts[i]);
		assert_int_equal(cdp_view_getattr(v, fid, &a), 0);
		if (a.size != msize[i])
			fail_msg("op %d: expected size %llu, got %llu", i,
				 (unsigned long long)msize[i], (unsigned long long)a.size);
		for (b = 0; (uint64_t)b * BS < msize[i] && b < MB; b++) {
			char what[64];

			fill_pattern(want, model[i][b]);
			snprintf(what, sizeof(what), "op %d block %d (pattern %d)", i, b,
				 model[i][b]);
			expect_bytes(v, fid, (uint64_t)b * BS, want, BS, what);
		}
		cdp_view_free(v);
	}
	free(buf);
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* A store is created only in an empty or missing directory: anything else
 * that is not a store is refused, and nothing is written into it. */
static void test_create_only_empty(void **state)
{
	struct fx *f = *state;
	struct cdp_store *s = NULL;
	char dir[512], path[600];
	struct stat st;
	int ret;

	snprintf(dir, sizeof(dir), "%s", f->dir);
	*strrchr(dir, '/') = 0;
	strcat(dir, "/other");
	assert_int_equal(cdp_store_check_dir(dir), 0);   /* missing */
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(cdp_store_check_dir(dir), 0);   /* empty */
	put_file(dir, "capture.log", "");
	assert_int_equal(cdp_store_check_dir(dir), 0);   /* a starter's log only */
	put_file(dir, "CURRENT", "MANIFEST-000005\n");   /* another program's RocksDB */
	ret = cdp_store_check_dir(dir);
	if (ret != -ENOTEMPTY)
		fail_msg("expected -ENOTEMPTY for a directory of another program, got %d", ret);
	ret = cdp_store_open(dir, CDP_STORE_CREATE, NULL, &s);
	if (ret != -ENOTEMPTY)
		fail_msg("expected creating a store in a non-empty directory to fail with "
			 "-ENOTEMPTY, got %d (%s)", ret, cdp_strerror(ret));
	assert_null(s);
	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	if (stat(path, &st) == 0)
		fail_msg("expected nothing written into '%s', found '%s'", dir, path);
	snprintf(path, sizeof(path), "%s/segments", dir);
	if (stat(path, &st) == 0)
		fail_msg("expected nothing written into '%s', found '%s'", dir, path);
	put_file(dir, "FORMAT", "some other format\n");
	assert_int_equal(cdp_store_check_dir(dir), -ENOTEMPTY);
	assert_int_equal(cdp_store_check_dir(f->dir), 0);   /* a store */
	put_file(dir, "FORMAT", "cdpfs store format 9\n");
	assert_int_equal(cdp_store_check_dir(dir), 0);      /* a store: open says which */
	snprintf(path, sizeof(path), "%s/FORMAT", f->dir);
	assert_int_equal(cdp_store_check_dir(path), -ENOTDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_common_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_only_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_halves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seek_data_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_overlay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_unmap_conditional, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hosts_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_in_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_model, setup, teardown),
	};

	cdp_log_init("test_store", 0, LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
