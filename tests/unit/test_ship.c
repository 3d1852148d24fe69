/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_ship.c - unit tests of shipping a host's history from one store to
 * another (store/replica.h) without the network: every group of a
 * journaled host copied into a second store reads back the same at each
 * recorded instant; a group sent again is acknowledged, not applied; one
 * that contradicts kept history, skips an lsn, rewrites an old seq or
 * deletes history, moves a directory's baseline or adds an operation
 * before the last kept instant is refused and nothing of its batch is
 * kept; a chunk
 * whose content is not its hash is refused; the resume point survives a
 * reopen; a position hint saves the scan when right and costs only the
 * scan when wrong; ship/'s address parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "store_test.h"
#include "store/replica.h"
#include "ship/ship_int.h"

#define BS 8192

static char top[256], src_dir[300], dst_dir[300];

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(top, sizeof(top), "%s/cdp-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(top));
	snprintf(src_dir, sizeof(src_dir), "%s/src", top);
	snprintf(dst_dir, sizeof(dst_dir), "%s/dst", top);
	cdp_log_init("test_ship", 0, LOG_CRIT);
	return 0;
}

static int teardown(void **state)
{
	cdp_rm_tree(top);
	return 0;
}

/* One op: file fid named name in "/", nblocks blocks of byte c. */
static int64_t write_file(struct cdp_journal *j, uint64_t fid, const char *name, int c,
			  int nblocks, int link)
{
	uint8_t buf[BS * 4];
	struct cdp_attr a;
	struct cdp_op *op;
	int64_t ts;

	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | 0644;
	a.size = (uint64_t)nblocks * BS;
	a.mtime_ns = c;
	memset(buf, c, sizeof(buf));
	assert_int_equal(cdp_op_new(j, &op), 0);
	if (nblocks)
		assert_int_equal(cdp_op_data(op, fid, 0, buf, (size_t)nblocks * BS), 0);
	else
		assert_int_equal(cdp_op_zero(op, fid, 0, UINT64_MAX), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	if (link)
		assert_int_equal(cdp_op_dirent(op, CDP_ROOT_FID, name, fid, S_IFREG), 0);
	assert_int_equal(cdp_op_xattr(op, fid, "user.c", &c, sizeof(c)), 0);
	assert_int_equal(cdp_op_commit(op, NULL, &ts), 0);
	assert_int_equal(cdp_journal_sync(j), 0);
	return ts;
}

/* The source store: host h1 with a root and a history of 4 instants. */
static void make_source(int64_t ts[4])
{
	struct cdp_store *s;
	struct cdp_journal *j;
	struct cdp_attr a;
	struct cdp_op *op;
	uint32_t root;
	int resuming;

	assert_int_equal(cdp_store_open(src_dir, CDP_STORE_CREATE, NULL, &s), 0);
	assert_int_equal(cdp_journal_open(s, "h1", &j), 0);
	/* a second host in the same store: never shipped as h1 */
	{
		struct cdp_journal *j2;

		assert_int_equal(cdp_journal_open(s, "other", &j2), 0);
		write_file(j2, 2, "o", 9, 1, 1);
		cdp_journal_close(j2);
	}
	assert_int_equal(cdp_journal_root_begin(j, "/data", &root, &resuming), 0);
	memset(&a, 0, sizeof(a));
	a.mode = S_IFDIR | 0755;
	assert_int_equal(cdp_op_new(j, &op), 0);
	assert_int_equal(cdp_op_attr(op, CDP_ROOT_FID, &a, NULL), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	assert_int_equal(cdp_journal_root_ready(j, root, CDP_ROOT_FID), 0);
	ts[0] = write_file(j, 2, "a", 1, 3, 1);
	ts[1] = write_file(j, 3, "b", 9, 1, 1);   /* same content as "other"'s file */
	ts[2] = write_file(j, 2, "a", 2, 2, 0);
	ts[3] = write_file(j, 2, "a", 0, 0, 0);   /* truncated to nothing */
	assert_int_equal(cdp_journal_root_end(j, root), 0);
	cdp_journal_close(j);
	cdp_store_close(s);
}

struct stats {
	uint64_t groups, dups, chunks_sent;
};

/* Ships every group of h1 from src to dst, one batch per group, as the
 * shipper and the server would. */
static void ship_all(struct cdp_store *src, struct cdp_store *dst, uint64_t after,
		     struct stats *st)
{
	struct cdp_ship_source *so;
	struct cdp_ship_sink *si;
	struct cdp_ship_state kept;
	struct cdp_ship_group g;
	char why[512];
	size_t i, len;
	uint8_t *rec;
	int ret;

	assert_int_equal(cdp_ship_source_open(src, "h1", &so), 0);
	assert_int_equal(cdp_ship_sink_open(dst, "h1", &si), 0);
	assert_int_equal(cdp_ship_source_seek(so, after), 0);
	while ((ret = cdp_ship_source_next(so, &g)) == 1) {
		assert_int_equal(cdp_ship_sink_begin(si, &kept), 0);
		for (i = 0; i < g.nrefs; i++) {
			if (cdp_ship_sink_has_chunk(si, g.refs[i]))
				continue;
			assert_int_equal(cdp_ship_source_chunk(so, g.refs[i], &rec, &len), 0);
			assert_int_equal(cdp_ship_sink_add_chunk(si, rec, len, why, sizeof(why)), 0);
			free(rec);
			st->chunks_sent++;
		}
		ret = cdp_ship_sink_add_group(si, &g, why, sizeof(why));
		if (ret < 0)
			fail_msg("group %llu refused: %s", (unsigned long long)g.lsn, why);
		if (ret == 1)
			st->dups++;
		else
			st->groups++;
		assert_int_equal(cdp_ship_sink_commit(si, &kept), 0);
		assert_true(kept.lsn >= g.lsn);
		cdp_ship_group_release(&g);
	}
	assert_int_equal(ret, 0);
	cdp_ship_sink_free(si);
	cdp_ship_source_free(so);
}

/* File fid of host h1 reads the same in both stores at instant ts. */
static void same_at(struct cdp_store *a, struct cdp_store *b, int64_t ts, const char *name)
{
	struct cdp_view *va, *vb;
	uint8_t ba[BS * 4], bb[BS * 4];
	uint64_t fa, fb;
	uint32_t ta, tb;
	ssize_t na, nb;
	int ra, rb;

	assert_int_equal(cdp_view_open(a, "h1", ts, &va), 0);
	assert_int_equal(cdp_view_open(b, "h1", ts, &vb), 0);
	assert_int_equal(cdp_view_seq(va), cdp_view_seq(vb));
	ra = cdp_view_lookup(va, CDP_ROOT_FID, name, &fa, &ta);
	rb = cdp_view_lookup(vb, CDP_ROOT_FID, name, &fb, &tb);
	assert_int_equal(ra, rb);
	if (ra == 0) {
		assert_int_equal(fa, fb);
		na = cdp_view_read(va, fa, ba, sizeof(ba), 0);
		nb = cdp_view_read(vb, fb, bb, sizeof(bb), 0);
		assert_int_equal(na, nb);
		assert_true(na >= 0);
		assert_memory_equal(ba, bb, (size_t)na);
	}
	cdp_view_free(va);
	cdp_view_free(vb);
}

static void test_copy_and_resume(void **state)
{
	struct cdp_store *src, *dst;
	struct cdp_host_info *hosts;
	struct cdp_ship_state kept;
	struct stats st = { 0 };
	int64_t ts[4];
	size_t n, i;

	make_source(ts);
	assert_int_equal(cdp_store_open(src_dir, CDP_STORE_READ, NULL, &src), 0);
	assert_int_equal(cdp_store_open(dst_dir, CDP_STORE_CREATE, NULL, &dst), 0);
	ship_all(src, dst, 0, &st);
	assert_true(st.groups > 4);
	assert_int_equal(st.dups, 0);
	for (i = 0; i < 4; i++) {
		same_at(src, dst, ts[i], "a");
		same_at(src, dst, ts[i], "b");
	}
	/* "other" is not h1's: the destination has h1 alone */
	assert_int_equal(cdp_store_hosts(dst, &hosts, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(hosts[0].name, "h1");
	assert_int_equal(hosts[0].nroots, 1);
	assert_true(hosts[0].complete_ts_ns >= ts[3]);
	cdp_host_info_free(hosts, n);
	/* sent again from the start: acknowledged, not applied */
	{
		struct stats again = { 0 };

		ship_all(src, dst, 0, &again);
		assert_int_equal(again.groups, 0);
		assert_int_equal(again.dups, st.groups);
		assert_int_equal(again.chunks_sent, 0);
	}
	cdp_store_close(dst);
	/* the resume point survives a reopen; a reader sees it too */
	assert_int_equal(cdp_store_open(dst_dir, CDP_STORE_READ, NULL, &dst), 0);
	assert_int_equal(cdp_ship_state_read(dst, "h1", &kept), 0);
	assert_int_equal(kept.lsn, st.groups);
	assert_true(kept.received_ts > 0);
	same_at(src, dst, ts[2], "a");
	cdp_store_close(dst);
	cdp_store_close(src);
}

/* Reads group lsn of h1 from src. */
static void read_group(struct cdp_store *src, uint64_t lsn, struct cdp_ship_group *g)
{
	struct cdp_ship_source *so;

	assert_int_equal(cdp_ship_source_open(src, "h1", &so), 0);
	assert_int_equal(cdp_ship_source_seek(so, lsn - 1), 0);
	assert_int_equal(cdp_ship_source_next(so, g), 1);
	assert_int_equal(g->lsn, lsn);
	cdp_ship_source_free(so);
}

static void test_refusals(void **state)
{
	struct cdp_store *src, *dst;
	struct cdp_ship_sink *si;
	struct cdp_ship_state kept, after;
	struct cdp_ship_group g, g2;
	struct stats st = { 0 };
	uint8_t rec[REC_HEADER_BYTES + BS], data[BS], sha[CDP_HASH_BYTES];
	char why[512];
	uint64_t last;
	size_t pos;
	int64_t ts[4];

	make_source(ts);
	assert_int_equal(cdp_store_open(src_dir, CDP_STORE_READ, NULL, &src), 0);
	assert_int_equal(cdp_store_open(dst_dir, CDP_STORE_CREATE, NULL, &dst), 0);
	ship_all(src, dst, 0, &st);
	last = st.groups;
	assert_int_equal(cdp_ship_sink_open(dst, "h1", &si), 0);

	/* the same lsn with other content: refused */
	read_group(src, last, &g);
	assert_int_equal(cdp_ship_sink_begin(si, &kept), 0);
	assert_true(g.len > 0);
	g.entries[g.len - 1] ^= 0x55;
	assert_int_equal(cdp_ship_sink_add_group(si, &g, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "contradicts"));
	cdp_ship_group_release(&g);

	/* a hole: refused */
	read_group(src, last, &g);
	g.lsn = last + 2;
	assert_int_equal(cdp_ship_sink_begin(si, &kept), 0);
	assert_int_equal(cdp_ship_sink_add_group(si, &g, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "hole"));

	/* old history under a new lsn: a rewrite, refused; nothing kept */
	g.lsn = last + 1;
	assert_int_equal(cdp_ship_sink_begin(si, &kept), 0);
	read_group(src, 7, &g2);
	g2.lsn = last + 1;
	assert_int_equal(cdp_ship_sink_add_group(si, &g2, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "rewriting history"));
	cdp_ship_group_release(&g2);
	cdp_ship_group_release(&g);

	/* a delete of a block: refused */
	{
		uint8_t e[8 + 24];

		memset(e, 0, sizeof(e));
		e[0] = CDP_SHIP_DELETE;
		e[1] = 4;   /* block */
		e[3] = 24;
		memset(e + 8 + 16, 0, 8);   /* ~seq of UINT64_MAX: seq 0 */
		g2 = (struct cdp_ship_group){ .lsn = last + 1, .count = 1, .entries = e,
					       .len = sizeof(e) };
		assert_int_equal(cdp_ship_sink_begin(si, &kept), 0);
		assert_int_equal(cdp_ship_sink_add_group(si, &g2, why, sizeof(why)), -EPROTO);
		assert_non_null(strstr(why, "deletes history"));
	}

	/* a chunk whose content is not its hash: refused */
	memset(data, 7, sizeof(data));
	cdp_hash(data, sizeof(data), sha);
	data[0] = 8;
	cdp_chunk_record_build(rec, sha, BS, data, BS, 0);
	assert_int_equal(cdp_ship_sink_begin(si, &kept), 0);
	assert_int_equal(cdp_ship_sink_add_chunk(si, rec, sizeof(rec), why, sizeof(why)),
			 -CDP_ECORRUPT);
	/* a block that references a chunk never sent: refused */
	pos = 0;
	{
		uint8_t e[8 + 24 + BLOCKREF_VALUE_BYTES];

		e[0] = CDP_SHIP_PUT;
		e[1] = 4;
		e[2] = 0;
		e[3] = 24;
		put_u32be(e + 4, BLOCKREF_VALUE_BYTES);
		memset(e + 8, 0, 24);
		put_u64be(e + 8, 99);
		put_u64be(e + 8 + 16, ~(kept.seq + 1));
		cdp_blockref_encode(e + 8 + 24, sha, BS);
		pos = sizeof(e);
		g2 = (struct cdp_ship_group){ .lsn = last + 1, .count = 1, .entries = e,
					       .len = pos };
		assert_int_equal(cdp_ship_sink_add_group(si, &g2, why, sizeof(why)), -EPROTO);
		assert_non_null(strstr(why, "not sent"));
	}
	/* a root record whose baseline moves: the past would change */
	{
		struct root_rec r;
		struct cdp_host_info *hosts;
		uint8_t e[8 + 6 + 512], *val;
		size_t n, vlen;

		assert_int_equal(cdp_store_hosts(dst, &hosts, &n), 0);
		memset(&r, 0, sizeof(r));
		r.root_id = hosts[0].roots[0].root_id;
		r.fid = hosts[0].roots[0].fid;
		r.baseline_ts = hosts[0].roots[0].baseline_ts_ns + 1;
		r.path = hosts[0].roots[0].path;
		assert_int_equal(cdp_root_rec_encode(&r, &val, &vlen), 0);
		e[0] = CDP_SHIP_PUT;
		e[1] = 0;
		e[2] = 0;
		e[3] = 6;
		put_u32be(e + 4, (uint32_t)vlen);
		e[8] = 'H';
		e[9] = 'r';
		put_u32be(e + 10, r.root_id);
		memcpy(e + 14, val, vlen);
		free(val);
		cdp_host_info_free(hosts, n);
		g2 = (struct cdp_ship_group){ .lsn = last + 1, .count = 1, .entries = e,
					       .len = 14 + vlen };
		assert_int_equal(cdp_ship_sink_begin(si, &kept), 0);
		assert_int_equal(cdp_ship_sink_add_group(si, &g2, why, sizeof(why)), -EPROTO);
		assert_non_null(strstr(why, "baseline"));
	}
	/* an operation before the last kept instant, under a new seq */
	{
		uint8_t e[8 + 16];

		e[0] = CDP_SHIP_PUT;
		e[1] = 6;   /* time */
		e[2] = 0;
		e[3] = 16;
		put_u32be(e + 4, 0);
		put_u64be(e + 8, 1);
		put_u64be(e + 16, kept.seq + 1);
		g2 = (struct cdp_ship_group){ .lsn = last + 1, .count = 1, .entries = e,
					       .len = sizeof(e) };
		assert_int_equal(cdp_ship_sink_begin(si, &kept), 0);
		assert_int_equal(cdp_ship_sink_add_group(si, &g2, why, sizeof(why)), -EPROTO);
		assert_non_null(strstr(why, "before its last kept instant"));
	}
	/* after all of it: the resume point is where it was */
	assert_int_equal(cdp_ship_sink_begin(si, &after), 0);
	assert_int_equal(after.lsn, last);
	assert_int_equal(after.seq, kept.seq);
	cdp_ship_sink_free(si);
	same_at(src, dst, ts[3], "a");
	cdp_store_close(dst);
	cdp_store_close(src);
}

/* A position hint from an earlier process: right, it saves the scan;
 * wrong, the right group comes all the same. */
static void test_hint(void **state)
{
	struct cdp_ship_source *so;
	struct cdp_ship_group g, want;
	struct cdp_store *src;
	uint64_t end;
	uint32_t seg;
	int64_t ts[4];

	make_source(ts);
	assert_int_equal(cdp_store_open(src_dir, CDP_STORE_READ, NULL, &src), 0);
	read_group(src, 6, &want);
	assert_int_equal(cdp_ship_source_open(src, "h1", &so), 0);
	assert_int_equal(cdp_ship_source_seek(so, 4), 0);
	assert_int_equal(cdp_ship_source_next(so, &g), 1);
	cdp_ship_group_release(&g);
	assert_int_equal(cdp_ship_source_where(so, 5, &seg, &end), 0);
	assert_int_equal(cdp_ship_source_where(so, 9, &seg, &end), -ENOENT);
	cdp_ship_source_free(so);

	/* right */
	assert_int_equal(cdp_ship_source_open(src, "h1", &so), 0);
	cdp_ship_source_hint(so, 5, seg, end);
	assert_int_equal(cdp_ship_source_seek(so, 5), 0);
	assert_int_equal(cdp_ship_source_next(so, &g), 1);
	assert_int_equal(g.lsn, 6);
	assert_int_equal(g.len, want.len);
	assert_memory_equal(g.entries, want.entries, g.len);
	cdp_ship_group_release(&g);
	cdp_ship_source_free(so);

	/* wrong: an offset inside another record, and one past the end */
	assert_int_equal(cdp_ship_source_open(src, "h1", &so), 0);
	cdp_ship_source_hint(so, 5, seg, end + 3);
	assert_int_equal(cdp_ship_source_seek(so, 5), 0);
	assert_int_equal(cdp_ship_source_next(so, &g), 1);
	assert_int_equal(g.lsn, 6);
	assert_memory_equal(g.entries, want.entries, g.len);
	cdp_ship_group_release(&g);
	cdp_ship_source_free(so);
	assert_int_equal(cdp_ship_source_open(src, "h1", &so), 0);
	cdp_ship_source_hint(so, 2, seg, 1ull << 40);
	assert_int_equal(cdp_ship_source_seek(so, 5), 0);
	assert_int_equal(cdp_ship_source_next(so, &g), 1);
	assert_int_equal(g.lsn, 6);
	cdp_ship_group_release(&g);
	cdp_ship_source_free(so);
	cdp_ship_group_release(&want);
	cdp_store_close(src);
}

/* STORE/ship.state: the exact text, and back again. */
static void test_state_file(void **state)
{
	struct cdp_ship_status st, got;
	char path[400], text[1024];
	const char *want = "cdpfs ship state 1\nserver=dr1:7780\nhost=h1\npid=42\n"
			   "state=retrying\nsince_ns=-5\nreason=no route to host\n"
			   "acked_lsn=7\nshipped_through_ns=-8\nacked_ns=9\nbytes_sent=10\n"
			   "chunks_sent=11\nchunks_offered=12\ngroups_sent=13\n"
			   "updated_ns=14\n";
	uint64_t lsn, end;
	uint32_t seg;
	size_t n;
	FILE *f;

	memset(&st, 0, sizeof(st));
	snprintf(st.server, sizeof(st.server), "dr1:7780");
	snprintf(st.host, sizeof(st.host), "h1");
	snprintf(st.reason, sizeof(st.reason), "no route\nto host");
	st.pid = 42;
	st.state = CDP_LINK_RETRYING;
	st.since_ns = -5;
	st.acked_lsn = 7;
	st.shipped_through_ns = -8;
	st.acked_ns = 9;
	st.bytes_sent = 10;
	st.chunks_sent = 11;
	st.chunks_offered = 12;
	st.groups_sent = 13;
	st.updated_ns = 14;
	assert_int_equal(cdp_ship_status_read(top, &got), -ENOENT);
	assert_int_equal(cdp_ship_status_write(top, &st), 0);
	snprintf(path, sizeof(path), "%s/ship.state", top);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_string_equal(text, want);
	assert_int_equal(cdp_ship_status_read(top, &got), 0);
	st.reason[8] = ' ';
	assert_memory_equal(&got, &st, sizeof(st));

	assert_int_equal(cdp_ship_pos_write(top, 12, 3, 4096), 0);
	assert_int_equal(cdp_ship_pos_read(top, &lsn, &seg, &end), 0);
	assert_int_equal(lsn, 12);
	assert_int_equal(seg, 3);
	assert_int_equal(end, 4096);
}

static void test_addr(void **state)
{
	char h[64], p[16];

	assert_int_equal(ship_parse_addr("dr1:7781", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "dr1");
	assert_string_equal(p, "7781");
	assert_int_equal(ship_parse_addr("dr1", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(p, "7780");
	assert_int_equal(ship_parse_addr("[::1]:9", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(ship_parse_addr(":7780", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "");
	assert_int_equal(ship_parse_addr("::1", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(ship_parse_addr("dr1:0", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(ship_parse_addr("dr1:x", h, sizeof(h), p, sizeof(p)), -EINVAL);
	assert_int_equal(ship_parse_addr("", h, sizeof(h), p, sizeof(p)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_and_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_file, setup, teardown),
		cmocka_unit_test(test_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
