/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_overlay.c - unit tests of writable copy-on-write overlays (overlay.h)
 * against a real base: each test journals a small tree into a store of its
 * own (a directory, regular files of several sizes, one with a partial last
 * block, a sparse file, a symlink, a hard link, xattrs), opens a view at the
 * latest instant and an overlay over it, then checks the copy-on-write
 * rules block by block, the merge of directories, names and link counts,
 * xattrs, attributes, persistence across a close, the purge of orphans,
 * the lock, listing and removal.  A model-based test mirrors random
 * writes, truncates, punches and zero ranges on an in-memory buffer and
 * compares after every step (CDP_TEST_SEED=N replays one seed).
 *
 * After every test the base view must read exactly as it did before the
 * overlay was opened, and as a second view on the same store reads.
 *
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "store.h"
#include "store_test.h"   /* cdp_rm_tree */
#include "overlay.h"

#define BS 8192u
#define HOST "db01"

/* fids of the base tree, in the order make_base journals them */
struct base_fids {
	uint64_t data, sub, empty, small, exact, big, sparse, hard, inner, link;
};

struct fx {
	char top[256];
	char store[300];
	char ovl[340];
	struct cdp_store *s;
	struct cdp_journal *j;
	uint32_t root_id;
	struct base_fids b;
	struct cdp_view *base;     /* what the overlay is opened over */
	struct cdp_view *ref;      /* a second view on the same store */
	char *base_dump;           /* the base as it read before the overlay */
	struct cdp_overlay *o;
};

static const struct cdp_ovl_ctx ctx = { 1000, 100 };

/* ------------------------------------------------------------ content */

/* Byte off of base file fid: never zero, so a zero read is a hole. */
static uint8_t base_byte(uint64_t fid, uint64_t off)
{
	return (uint8_t)((off * 131 + fid * 29 + off / BS * 7) % 251 + 1);
}

static void base_fill(uint8_t *buf, uint64_t fid, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = base_byte(fid, off + i);
}

#define SPARSE_SIZE (10 * (uint64_t)BS + 500)
/* blocks of the sparse file that hold data (the last one partial) */
static const uint64_t sparse_blocks[] = { 1, 4, 10 };

static int sparse_has(uint64_t block)
{
	size_t i;

	for (i = 0; i < sizeof(sparse_blocks) / sizeof(sparse_blocks[0]); i++)
		if (sparse_blocks[i] == block)
			return 1;
	return 0;
}

/* The base content of [off, off+len) of one of the base files (size as
 * journaled). */
static void base_expect(const struct fx *f, uint64_t fid, uint8_t *buf, uint64_t off,
			size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t p = off + i;

		buf[i] = fid == f->b.sparse && !sparse_has(p / BS) ? 0 : base_byte(fid, p);
	}
}

/* ------------------------------------------------------------ base tree */

static struct cdp_attr mkattr(uint32_t mode, uint64_t size, uint32_t nlink)
{
	struct cdp_attr a;

	memset(&a, 0, sizeof(a));
	a.mode = mode;
	a.nlink = nlink;
	a.size = size;
	a.uid = 1000;
	a.gid = 100;
	a.atime_ns = 1600000000000000001LL;
	a.mtime_ns = 1600000000000000002LL;
	a.ctime_ns = 1600000000000000003LL;
	a.blocks = (size + 511) / 512;
	return a;
}

static void op_file(struct cdp_op *op, uint64_t fid, uint64_t size, uint32_t nlink)
{
	struct cdp_attr a = mkattr(S_IFREG | 0644, size, nlink);
	uint8_t *buf = malloc(size ? size : 1);

	base_fill(buf, fid, 0, size);
	if (size)
		assert_int_equal(cdp_op_data(op, fid, 0, buf, size), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	free(buf);
}

/*
 * /data            dir (nlink 4)
 *   big            3 blocks + 1000 bytes, xattrs user.a="one", user.b=""
 *   empty/         dir
 *   exact          2 blocks
 *   hard1          5000 bytes, nlink 2 (also sub/hard2)
 *   link -> big
 *   small          100 bytes
 *   sparse         10 blocks + 500 bytes, data in blocks 1, 4 and 10
 *   sub/           dir: hard2, inner (10 bytes)
 * /data carries user.dir="d".
 */
static void make_base(struct fx *f)
{
	struct base_fids *b = &f->b;
	struct cdp_attr a;
	struct cdp_op *op;
	uint8_t *buf;
	size_t i;

	assert_int_equal(cdp_journal_new_fid(f->j, &b->data), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->sub), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->empty), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->small), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->exact), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->big), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->sparse), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->hard), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->inner), 0);
	assert_int_equal(cdp_journal_new_fid(f->j, &b->link), 0);

	assert_int_equal(cdp_op_new(f->j, &op), 0);
	a = mkattr(S_IFDIR | 0755, 4096, 4);
	assert_int_equal(cdp_op_attr(op, b->data, &a, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, CDP_ROOT_FID, "data", b->data, S_IFDIR), 0);
	a = mkattr(S_IFDIR | 0750, 4096, 2);
	assert_int_equal(cdp_op_attr(op, b->sub, &a, NULL), 0);
	assert_int_equal(cdp_op_attr(op, b->empty, &a, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, b->data, "sub", b->sub, S_IFDIR), 0);
	assert_int_equal(cdp_op_dirent(op, b->data, "empty", b->empty, S_IFDIR), 0);
	op_file(op, b->small, 100, 1);
	op_file(op, b->exact, 2 * BS, 1);
	op_file(op, b->big, 3 * BS + 1000, 1);
	op_file(op, b->hard, 5000, 2);
	op_file(op, b->inner, 10, 1);
	assert_int_equal(cdp_op_dirent(op, b->data, "small", b->small, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, b->data, "exact", b->exact, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, b->data, "big", b->big, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, b->data, "hard1", b->hard, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, b->sub, "hard2", b->hard, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, b->sub, "inner", b->inner, S_IFREG), 0);
	/* the sparse file: data in a few blocks only */
	buf = malloc(BS);
	for (i = 0; i < sizeof(sparse_blocks) / sizeof(sparse_blocks[0]); i++) {
		uint64_t off = sparse_blocks[i] * BS;
		size_t len = off + BS > SPARSE_SIZE ? (size_t)(SPARSE_SIZE - off) : BS;

		base_fill(buf, b->sparse, off, len);
		assert_int_equal(cdp_op_data(op, b->sparse, off, buf, len), 0);
	}
	free(buf);
	a = mkattr(S_IFREG | 0600, SPARSE_SIZE, 1);
	a.blocks = 3 * BS / 512;
	assert_int_equal(cdp_op_attr(op, b->sparse, &a, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, b->data, "sparse", b->sparse, S_IFREG), 0);
	a = mkattr(S_IFLNK | 0777, 3, 1);
	assert_int_equal(cdp_op_attr(op, b->link, &a, "big"), 0);
	assert_int_equal(cdp_op_dirent(op, b->data, "link", b->link, S_IFLNK), 0);
	assert_int_equal(cdp_op_xattr(op, b->big, "user.a", "one", 3), 0);
	assert_int_equal(cdp_op_xattr(op, b->big, "user.b", "", 0), 0);
	assert_int_equal(cdp_op_xattr(op, b->data, "user.dir", "d", 1), 0);
	assert_int_equal(cdp_op_commit(op, NULL, NULL), 0);
	assert_int_equal(cdp_journal_root_ready(f->j, f->root_id, b->data), 0);
	assert_int_equal(cdp_journal_sync(f->j), 0);
}

/* ------------------------------------------------------------ dumps */

/*
 * A text image of a tree: one line per object (path, id, attributes,
 * SHA-256 of the content or the link target, xattrs), children in readdir
 * order.  Both a view and an overlay can be dumped, so "reads exactly as
 * before" is a string comparison that shows the difference on failure.
 */
struct dump_src {
	struct cdp_view *v;
	struct cdp_overlay *o;
};

struct kid {
	char name[256];
	uint64_t id;
	uint32_t type;
};

struct kids {
	struct kid *k;
	size_t n, cap;
};

static int kids_cb(void *arg, const char *name, uint64_t id, uint32_t type)
{
	struct kids *ks = arg;

	if (ks->n == ks->cap) {
		ks->cap = ks->cap ? 2 * ks->cap : 16;
		ks->k = realloc(ks->k, ks->cap * sizeof(*ks->k));
		assert_non_null(ks->k);
	}
	snprintf(ks->k[ks->n].name, sizeof(ks->k[ks->n].name), "%s", name);
	ks->k[ks->n].id = id;
	ks->k[ks->n].type = type;
	ks->n++;
	return 0;
}

static int src_getattr(const struct dump_src *d, uint64_t id, struct cdp_attr *a)
{
	return d->o ? cdp_overlay_getattr(d->o, id, a) : cdp_view_getattr(d->v, id, a);
}

static ssize_t src_read(const struct dump_src *d, uint64_t id, void *buf, size_t len,
			uint64_t off)
{
	return d->o ? cdp_overlay_read(d->o, id, buf, len, off) :
		      cdp_view_read(d->v, id, buf, len, off);
}

static int src_readdir(const struct dump_src *d, uint64_t id, struct kids *ks)
{
	return d->o ? cdp_overlay_readdir(d->o, id, kids_cb, ks) :
		      cdp_view_readdir(d->v, id, NULL, kids_cb, ks);
}

static void dump_obj(const struct dump_src *d, FILE *out, const char *path, uint64_t id,
		     int depth)
{
	struct cdp_attr a;
	char list[1024], val[512], target[256];
	ssize_t n, vn;
	size_t i;
	int ret;

	ret = src_getattr(d, id, &a);
	if (ret < 0)
		fail_msg("dump: expected getattr of '%s' (id %" PRIu64 ") to succeed, got %s", path,
			 id, cdp_strerror(ret));
	fprintf(out, "%s id=%" PRIu64 " mode=%o uid=%u gid=%u nlink=%u size=%" PRIu64
		" rdev=%" PRIu64 " times=%" PRId64 ",%" PRId64 ",%" PRId64, path, id, a.mode, a.uid,
		a.gid, a.nlink, a.size, a.rdev, a.atime_ns, a.mtime_ns, a.ctime_ns);
	if (S_ISREG(a.mode)) {
		uint8_t *buf = malloc(a.size ? a.size : 1), h[CDP_HASH_BYTES];

		assert_non_null(buf);
		n = src_read(d, id, buf, a.size, 0);
		if (n != (ssize_t)a.size)
			fail_msg("dump: expected to read %" PRIu64 " bytes of '%s', got %zd", a.size,
				 path, n);
		cdp_hash(buf, a.size, h);
		fprintf(out, " sha=");
		for (i = 0; i < 8; i++)
			fprintf(out, "%02x", h[i]);
		free(buf);
	} else if (S_ISLNK(a.mode)) {
		n = d->o ? cdp_overlay_readlink(d->o, id, target, sizeof(target)) :
			   cdp_view_readlink(d->v, id, target, sizeof(target));
		if (n < 0)
			fail_msg("dump: readlink of '%s': %s", path, cdp_strerror((int)n));
		fprintf(out, " -> %s", target);
	}
	n = d->o ? cdp_overlay_listxattr(d->o, id, list, sizeof(list)) :
		   cdp_view_listxattr(d->v, id, list, sizeof(list));
	if (n < 0)
		fail_msg("dump: listxattr of '%s': %s", path, cdp_strerror((int)n));
	for (i = 0; i < (size_t)n; i += strlen(list + i) + 1) {
		vn = d->o ? cdp_overlay_getxattr(d->o, id, list + i, val, sizeof(val) - 1) :
			    cdp_view_getxattr(d->v, id, list + i, val, sizeof(val) - 1);
		if (vn < 0)
			fail_msg("dump: getxattr %s of '%s': %s", list + i, path,
				 cdp_strerror((int)vn));
		val[vn] = '\0';
		fprintf(out, " %s=\"%s\"", list + i, val);
	}
	fputc('\n', out);
	if (S_ISDIR(a.mode) && depth < 8) {
		struct kids ks = { NULL, 0, 0 };

		ret = src_readdir(d, id, &ks);
		if (ret < 0)
			fail_msg("dump: readdir of '%s': %s", path, cdp_strerror(ret));
		for (i = 0; i < ks.n; i++) {
			char sub[1024];

			snprintf(sub, sizeof(sub), "%s/%s", path, ks.k[i].name);
			if ((ks.k[i].type & S_IFMT) == 0)
				fail_msg("dump: entry '%s' has no type", sub);
			dump_obj(d, out, sub, ks.k[i].id, depth + 1);
		}
		free(ks.k);
	}
}

/* Heap string (free()). */
static char *dump_tree(struct cdp_view *v, struct cdp_overlay *o, uint64_t root)
{
	struct dump_src d = { v, o };
	char *s = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&s, &len);

	assert_non_null(out);
	dump_obj(&d, out, "", root, 0);
	fclose(out);
	return s;
}

static void expect_same_dump(const char *want, const char *got, const char *what)
{
	const char *w = want, *g = got;

	if (strcmp(want, got) == 0)
		return;
	/* show the first line that differs */
	while (*w && *w == *g) {
		const char *wn = strchr(w, '\n'), *gn = strchr(g, '\n');

		if (!wn || !gn || wn - w != gn - g || memcmp(w, g, (size_t)(wn - w)) != 0)
			break;
		w = wn + 1;
		g = gn + 1;
	}
	fail_msg("%s: expected line\n  %.*s\ngot\n  %.*s", what, (int)strcspn(w, "\n"), w,
		 (int)strcspn(g, "\n"), g);
}

/* ------------------------------------------------------------ fixture */

static void overlay_make(struct fx *f, const char *path, const char *name, int is_private)
{
	struct cdp_overlay_info info;
	int ret;

	memset(&info, 0, sizeof(info));
	info.name = (char *)name;
	info.host = (char *)HOST;
	info.dir = (char *)"/data";
	info.requested_ts_ns = cdp_view_requested_ts(f->base);
	info.base_ts_ns = cdp_view_ts(f->base);
	info.base_seq = cdp_view_seq(f->base);
	info.is_private = is_private;
	ret = cdp_overlay_create(path, &info);
	if (ret)
		fail_msg("expected overlay creation in '%s' to succeed, got %s", path,
			 cdp_strerror(ret));
}

static struct cdp_overlay *overlay_at(struct fx *f, const char *path)
{
	struct cdp_overlay *o;
	int ret = cdp_overlay_open(path, f->base, f->b.data, cdp_store_block_size(f->s), &o);

	if (ret)
		fail_msg("expected overlay open of '%s' to succeed, got %s", path,
			 cdp_strerror(ret));
	return o;
}

static void reopen(struct fx *f)
{
	cdp_overlay_close(f->o);
	f->o = NULL;
	f->o = overlay_at(f, f->ovl);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	char dir[400];
	int resuming, ret;

	assert_non_null(f);
	snprintf(f->top, sizeof(f->top), "%s/cdp-ovl-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->store, sizeof(f->store), "%s/store", f->top);
	ret = cdp_store_open(f->store, CDP_STORE_CREATE, NULL, &f->s);
	if (ret)
		fail_msg("expected store creation to succeed, got %s", cdp_strerror(ret));
	assert_int_equal(cdp_store_block_size(f->s), BS);
	assert_int_equal(cdp_journal_open(f->s, HOST, &f->j), 0);
	assert_int_equal(cdp_journal_root_begin(f->j, "/data", &f->root_id, &resuming), 0);
	make_base(f);
	ret = cdp_view_open(f->s, HOST, CDP_TS_LATEST, &f->base);
	if (ret)
		fail_msg("expected the base view to open, got %s", cdp_strerror(ret));
	assert_int_equal(cdp_view_open(f->s, HOST, CDP_TS_LATEST, &f->ref), 0);
	f->base_dump = dump_tree(f->base, NULL, f->b.data);
	snprintf(dir, sizeof(dir), "%s/overlays", f->store);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(f->ovl, sizeof(f->ovl), "%s/overlays/t", f->store);
	overlay_make(f, f->ovl, "t", 0);
	f->o = overlay_at(f, f->ovl);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char *now;

	cdp_overlay_close(f->o);
	/* whatever the test did, the base reads exactly as before */
	now = dump_tree(f->base, NULL, f->b.data);
	expect_same_dump(f->base_dump, now, "base view after the test");
	free(now);
	now = dump_tree(f->ref, NULL, f->b.data);
	expect_same_dump(f->base_dump, now, "second view on the store");
	free(now);
	free(f->base_dump);
	cdp_view_free(f->ref);
	cdp_view_free(f->base);
	cdp_journal_close(f->j);
	cdp_store_close(f->s);
	cdp_rm_tree(f->top);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static uint64_t id_of(struct fx *f, uint64_t parent, const char *name)
{
	struct cdp_attr a;
	uint64_t id;
	int ret = cdp_overlay_lookup(f->o, parent, name, &id, &a);

	if (ret)
		fail_msg("expected '%s' in directory %" PRIu64 ", got %s", name, parent,
			 cdp_strerror(ret));
	return id;
}

static void expect_absent(struct fx *f, uint64_t parent, const char *name)
{
	struct cdp_attr a;
	uint64_t id;
	int ret = cdp_overlay_lookup(f->o, parent, name, &id, &a);

	if (ret != -ENOENT)
		fail_msg("expected '%s' to be gone (-ENOENT), got %s (id %" PRIu64 ")", name,
			 ret ? cdp_strerror(ret) : "success", ret ? 0 : id);
}

static struct cdp_attr attr_of(struct fx *f, uint64_t id)
{
	struct cdp_attr a;
	int ret = cdp_overlay_getattr(f->o, id, &a);

	if (ret)
		fail_msg("expected getattr of %" PRIu64 " to succeed, got %s", id,
			 cdp_strerror(ret));
	return a;
}

static void expect_nlink(struct fx *f, uint64_t id, uint32_t want, const char *what)
{
	struct cdp_attr a = attr_of(f, id);

	if (a.nlink != want)
		fail_msg("%s: expected nlink %u, got %u", what, want, a.nlink);
}

static void expect_size(struct fx *f, uint64_t id, uint64_t want, const char *what)
{
	struct cdp_attr a = attr_of(f, id);

	if (a.size != want)
		fail_msg("%s: expected size %" PRIu64 ", got %" PRIu64, what, want, a.size);
}

/* Reads [off, off+len) of id through the overlay and compares with want. */
static void expect_read(struct cdp_overlay *o, uint64_t id, uint64_t off, const uint8_t *want,
			size_t len, const char *what)
{
	uint8_t *got = malloc(len + 1);
	ssize_t n = cdp_overlay_read(o, id, got, len, off);
	size_t i;

	assert_non_null(got);
	if (n != (ssize_t)len)
		fail_msg("%s: expected to read %zu bytes at %" PRIu64 ", got %zd (%s)", what, len,
			 off, n, n < 0 ? cdp_strerror((int)n) : "short");
	for (i = 0; i < len; i++)
		if (got[i] != want[i])
			fail_msg("%s: byte at %" PRIu64 " (block %" PRIu64 "): expected 0x%02x, got "
				 "0x%02x", what, off + i, (off + i) / BS, want[i], got[i]);
	free(got);
}

/* Expects the base's bytes of [off, off+len) of base file id. */
static void expect_base_bytes(struct fx *f, uint64_t id, uint64_t off, size_t len,
			      const char *what)
{
	uint8_t *want = malloc(len + 1);

	base_expect(f, id, want, off, len);
	expect_read(f->o, id, off, want, len, what);
	free(want);
}

static void expect_byte_run(struct fx *f, uint64_t id, uint64_t off, size_t len, uint8_t c,
			    const char *what)
{
	uint8_t *want = malloc(len + 1);

	memset(want, c, len);
	expect_read(f->o, id, off, want, len, what);
	free(want);
}

static void do_write(struct fx *f, uint64_t id, uint64_t off, const void *buf, size_t len)
{
	ssize_t n = cdp_overlay_write(f->o, id, buf, len, off);

	if (n != (ssize_t)len)
		fail_msg("expected a write of %zu bytes at %" PRIu64 " to return %zu, got %zd (%s)",
			 len, off, len, n, n < 0 ? cdp_strerror((int)n) : "short");
}

static void do_fill(struct fx *f, uint64_t id, uint64_t off, size_t len, uint8_t c)
{
	uint8_t *buf = malloc(len);

	memset(buf, c, len);
	do_write(f, id, off, buf, len);
	free(buf);
}

static void do_truncate(struct fx *f, uint64_t id, uint64_t size)
{
	struct cdp_attr a, out;
	int ret;

	memset(&a, 0, sizeof(a));
	a.size = size;
	ret = cdp_overlay_setattr(f->o, id, &a, CDP_OVL_SET_SIZE, &out);
	if (ret)
		fail_msg("expected truncate of %" PRIu64 " to %" PRIu64 " to succeed, got %s", id,
			 size, cdp_strerror(ret));
	if (out.size != size)
		fail_msg("truncate: expected size %" PRIu64 " after, got %" PRIu64, size, out.size);
}

static void do_falloc(struct fx *f, uint64_t id, int mode, uint64_t off, uint64_t len)
{
	int ret = cdp_overlay_fallocate(f->o, id, mode, off, len);

	if (ret)
		fail_msg("expected fallocate(mode 0x%x, %" PRIu64 ", %" PRIu64 ") to succeed, got %s",
			 mode, off, len, cdp_strerror(ret));
}

static uint64_t do_mknod(struct fx *f, uint64_t parent, const char *name, uint32_t mode)
{
	struct cdp_attr a;
	uint64_t id;
	int ret = cdp_overlay_mknod(f->o, &ctx, parent, name, mode, 0, &id, &a);

	if (ret)
		fail_msg("expected creating '%s' to succeed, got %s", name, cdp_strerror(ret));
	if (id < CDP_OVL_FIRST_NEW_ID)
		fail_msg("new object '%s': expected an id >= 2^62, got %" PRIu64, name, id);
	if (a.mode != mode)
		fail_msg("new object '%s': expected mode %o, got %o", name, mode, a.mode);
	return id;
}

static void expect_ret(int got, int want, const char *what)
{
	if (got != want)
		fail_msg("%s: expected %s, got %s", what, want ? cdp_strerror(want) : "success",
			 got ? cdp_strerror(got) : "success");
}

static void delta_file(struct fx *f, uint64_t id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/data/%016" PRIx64, f->ovl, id);
}

struct names {
	char list[1024];
	uint64_t ids[64];
	int n;
};

static int names_cb(void *arg, const char *name, uint64_t id, uint32_t type)
{
	struct names *nm = arg;

	(void)type;
	strcat(nm->list, name);
	strcat(nm->list, ",");
	if (nm->n < 64)
		nm->ids[nm->n] = id;
	nm->n++;
	return 0;
}

static void expect_listing(struct fx *f, uint64_t dir, const char *want, const char *what)
{
	struct names nm;
	int ret;

	memset(&nm, 0, sizeof(nm));
	ret = cdp_overlay_readdir(f->o, dir, names_cb, &nm);
	if (ret)
		fail_msg("%s: expected readdir to succeed, got %s", what, cdp_strerror(ret));
	if (strcmp(nm.list, want) != 0)
		fail_msg("%s: expected entries '%s', got '%s'", what, want, nm.list);
}

/* ------------------------------------------------------------ tests */

/* Untouched, the overlay reads as its base. */
static void test_reads_as_base(void **state)
{
	struct fx *f = *state;
	char *got = dump_tree(NULL, f->o, f->b.data);

	expect_same_dump(f->base_dump, got, "fresh overlay");
	free(got);
	expect_base_bytes(f, f->b.sparse, 0, SPARSE_SIZE, "sparse file, holes and all");
	assert_int_equal(cdp_overlay_read(f->o, f->b.big, (uint8_t[8]){ 0 }, 8, 3 * BS + 996), 4);
	expect_ret((int)cdp_overlay_read(f->o, f->b.sub, (uint8_t[8]){ 0 }, 8, 0), -EISDIR,
		   "read of a directory");
	expect_ret(cdp_overlay_getattr(f->o, 99999, &(struct cdp_attr){ 0 }), -ENOENT,
		   "getattr of an unknown fid");
	expect_ret(cdp_overlay_getattr(f->o, CDP_OVL_FIRST_NEW_ID + 5, &(struct cdp_attr){ 0 }),
		   -ENOENT, "getattr of an unused new id");
}

/* A write to one block copies that block only; the rest reads from the
 * base, and the delta file holds about one block. */
static void test_cow_one_block(void **state)
{
	struct fx *f = *state;
	uint64_t id = f->b.sparse;
	char path[512];
	struct stat st;

	do_fill(f, id, 7 * BS, BS, 'W');
	expect_base_bytes(f, id, 0, 7 * BS, "blocks before the written one");
	expect_byte_run(f, id, 7 * BS, BS, 'W', "the written block");
	expect_base_bytes(f, id, 8 * BS, (size_t)(SPARSE_SIZE - 8 * BS), "blocks after it");
	expect_size(f, id, SPARSE_SIZE, "size after an inner write");
	delta_file(f, id, path, sizeof(path));
	if (stat(path, &st) < 0)
		fail_msg("expected a delta file '%s' after a write: %s", path, strerror(errno));
	if ((uint64_t)st.st_blocks * 512 > 2 * BS)
		fail_msg("expected the delta file to hold about one block (%u bytes), it takes %llu",
			 BS, (unsigned long long)st.st_blocks * 512);
	/* a second write into a data block of the base: one more block */
	do_fill(f, id, 4 * BS + 100, 50, 'X');
	expect_base_bytes(f, id, 4 * BS, 100, "head of block 4 copied up");
	expect_byte_run(f, id, 4 * BS + 100, 50, 'X', "written bytes of block 4");
	expect_base_bytes(f, id, 4 * BS + 150, BS - 150, "tail of block 4 copied up");
	expect_base_bytes(f, id, 5 * BS, 2 * BS, "blocks 5-6 still the base's (holes)");
	if (stat(path, &st) < 0 || (uint64_t)st.st_blocks * 512 > 3 * BS)
		fail_msg("expected the delta file to hold about two blocks, it takes %llu",
			 (unsigned long long)st.st_blocks * 512);
	/* the base file is untouched */
	{
		uint8_t got[BS], want[BS];

		assert_int_equal(cdp_view_read(f->base, id, got, BS, 7 * BS), BS);
		base_expect(f, id, want, 7 * BS, BS);
		assert_memory_equal(got, want, BS);
	}
}

/* Unaligned writes over block boundaries, and past the end. */
static void test_unaligned_writes(void **state)
{
	struct fx *f = *state;
	uint64_t big = f->b.big, small = f->b.small;
	uint8_t zeros[3 * BS];

	memset(zeros, 0, sizeof(zeros));
	/* 10 bytes over the boundary of blocks 0 and 1 */
	do_fill(f, big, BS - 5, 10, 'a');
	expect_base_bytes(f, big, 0, BS - 5, "block 0 before the write");
	expect_byte_run(f, big, BS - 5, 10, 'a', "bytes over the boundary");
	expect_base_bytes(f, big, BS + 5, 2 * BS + 995, "rest of the file");
	/* the partial last block: write inside it, then across the end */
	do_fill(f, big, 3 * BS + 10, 20, 'b');
	expect_base_bytes(f, big, 3 * BS, 10, "last block head");
	expect_byte_run(f, big, 3 * BS + 10, 20, 'b', "inside the last block");
	expect_base_bytes(f, big, 3 * BS + 30, 970, "last block up to the end");
	expect_size(f, big, 3 * BS + 1000, "size after a write inside the last block");
	do_fill(f, big, 3 * BS + 990, 30, 'c');
	expect_size(f, big, 3 * BS + 1020, "size after a write across the end");
	expect_byte_run(f, big, 3 * BS + 990, 30, 'c', "across the end");
	expect_base_bytes(f, big, 3 * BS + 30, 960, "last block between the writes");
	/* a write far past the end of a small file leaves zeros between */
	do_fill(f, small, 3 * BS + 7, 3, 'z');
	expect_size(f, small, 3 * BS + 10, "size after a write past the end");
	expect_base_bytes(f, small, 0, 100, "small file's base bytes");
	expect_read(f->o, small, 100, zeros, 3 * BS + 7 - 100, "gap after the old end");
	expect_byte_run(f, small, 3 * BS + 7, 3, 'z', "bytes past the old end");
	/* a write spanning several whole blocks and two partial ones */
	{
		size_t len = 2 * BS + 200;
		uint8_t *buf = malloc(len);
		size_t i;

		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)(i % 13 + 'A');
		do_write(f, f->b.exact, BS / 2, buf, len);
		expect_base_bytes(f, f->b.exact, 0, BS / 2, "head of exact");
		expect_read(f->o, f->b.exact, BS / 2, buf, len, "multi-block write");
		expect_size(f, f->b.exact, BS / 2 + len, "exact grows");
		free(buf);
	}
	/* len 0 is a no-op */
	assert_int_equal(cdp_overlay_write(f->o, big, "x", 0, 0), 0);
	expect_ret((int)cdp_overlay_write(f->o, f->b.sub, "x", 1, 0), -EISDIR,
		   "write to a directory");
}

/* Truncate shrink then extend reads zeros, never old bytes: base blocks
 * and overlaid blocks alike, at a block boundary and inside a block. */
static void test_truncate_zeros(void **state)
{
	struct fx *f = *state;
	uint64_t big = f->b.big, exact = f->b.exact, sparse = f->b.sparse;
	uint8_t zeros[4 * BS];
	struct cdp_attr a, out;

	memset(zeros, 0, sizeof(zeros));
	/* base blocks only */
	do_truncate(f, big, BS + 10);
	expect_base_bytes(f, big, 0, BS + 10, "kept part");
	do_truncate(f, big, 4 * BS);
	expect_base_bytes(f, big, 0, BS + 10, "kept part after extend");
	expect_read(f->o, big, BS + 10, zeros, 3 * BS - 10, "extended part of base blocks");
	/* a partial write into the zero tail must not bring back the base */
	do_fill(f, big, 2 * BS + 100, 10, 'q');
	expect_read(f->o, big, 2 * BS, zeros, 100, "copy-up of a block beyond the base limit");
	expect_read(f->o, big, 2 * BS + 110, zeros, BS - 110, "its tail");
	expect_read(f->o, big, BS + 10, zeros, BS - 10, "block 1 past the cut");

	/* overlaid blocks: write all of exact, cut inside block 1, extend */
	do_fill(f, exact, 0, 2 * BS, 'Y');
	do_truncate(f, exact, BS + 50);
	do_truncate(f, exact, 3 * BS);
	expect_byte_run(f, exact, 0, BS + 50, 'Y', "kept overlaid bytes");
	expect_read(f->o, exact, BS + 50, zeros, 2 * BS - 50, "extended part of overlaid blocks");
	/* cut at a block boundary, extend, write one byte in the old block */
	do_fill(f, exact, 0, 3 * BS, 'Z');
	do_truncate(f, exact, BS);
	do_truncate(f, exact, 3 * BS);
	do_fill(f, exact, 2 * BS + 1, 1, '!');
	expect_byte_run(f, exact, 0, BS, 'Z', "block 0");
	expect_read(f->o, exact, BS, zeros, BS + 1, "block 1 and head of block 2");
	expect_read(f->o, exact, 2 * BS + 2, zeros, BS - 2, "tail of block 2");

	/* to zero and back */
	do_truncate(f, sparse, 0);
	do_truncate(f, sparse, SPARSE_SIZE);
	{
		uint8_t *z = calloc(1, SPARSE_SIZE);

		expect_read(f->o, sparse, 0, z, SPARSE_SIZE, "sparse after truncate to 0 and back");
		free(z);
	}
	/* truncate bumps mtime unless it is set too; errors */
	memset(&a, 0, sizeof(a));
	a.size = 10;
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.small, &a, CDP_OVL_SET_SIZE, &out), 0);
	if (out.mtime_ns == 1600000000000000002LL)
		fail_msg("truncate: expected the mtime to change, it stayed the base's");
	expect_ret(cdp_overlay_setattr(f->o, f->b.sub, &a, CDP_OVL_SET_SIZE, &out), -EISDIR,
		   "truncate of a directory");
	expect_ret(cdp_overlay_setattr(f->o, f->b.link, &a, CDP_OVL_SET_SIZE, &out), -EINVAL,
		   "truncate of a symlink");
}

/* Punch hole (KEEP_SIZE) and ZERO_RANGE over base and overlaid blocks. */
static void test_punch_zero_range(void **state)
{
	struct fx *f = *state;
	uint64_t big = f->b.big, exact = f->b.exact;
	uint8_t zeros[4 * BS];

	memset(zeros, 0, sizeof(zeros));
	/* partial head, one whole block, partial tail, all base */
	do_falloc(f, big, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, BS / 2, 2 * BS);
	expect_base_bytes(f, big, 0, BS / 2, "before the hole");
	expect_read(f->o, big, BS / 2, zeros, 2 * BS, "the punched hole");
	expect_base_bytes(f, big, 2 * BS + BS / 2, BS / 2 + 1000, "after the hole");
	expect_size(f, big, 3 * BS + 1000, "punch keeps the size");
	/* a write into the punched whole block leaves the rest zero */
	do_fill(f, big, BS + 10, 5, 'p');
	expect_read(f->o, big, BS, zeros, 10, "punched block head");
	expect_byte_run(f, big, BS + 10, 5, 'p', "write into the hole");
	expect_read(f->o, big, BS + 15, zeros, BS - 15, "punched block tail");
	/* punch past the end with KEEP_SIZE: size unchanged, tail zero */
	do_falloc(f, big, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * BS + 500, 10 * BS);
	expect_size(f, big, 3 * BS + 1000, "punch past the end keeps the size");
	expect_base_bytes(f, big, 3 * BS, 500, "last block head");
	expect_read(f->o, big, 3 * BS + 500, zeros, 500, "last block tail punched");

	/* overlaid blocks: zero range inside and across */
	do_fill(f, exact, 0, 2 * BS, 'O');
	do_falloc(f, exact, FALLOC_FL_ZERO_RANGE, 100, 200);
	expect_byte_run(f, exact, 0, 100, 'O', "before the zeroed range");
	expect_read(f->o, exact, 100, zeros, 200, "zeroed range");
	expect_byte_run(f, exact, 300, 2 * BS - 300, 'O', "after the zeroed range");
	do_falloc(f, exact, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, BS - 1, BS + 2);
	expect_read(f->o, exact, BS - 1, zeros, BS + 1, "zeroed to the end");
	expect_size(f, exact, 2 * BS, "ZERO_RANGE|KEEP_SIZE keeps the size");
	/* ZERO_RANGE without KEEP_SIZE extends */
	do_falloc(f, exact, FALLOC_FL_ZERO_RANGE, 2 * BS + 10, BS);
	expect_size(f, exact, 3 * BS + 10, "ZERO_RANGE past the end extends");
	expect_read(f->o, exact, 2 * BS, zeros, BS + 10, "the extension reads zeros");
	/* plain allocation extends with zeros, KEEP_SIZE does not */
	do_falloc(f, f->b.small, 0, 0, 2 * BS);
	expect_size(f, f->b.small, 2 * BS, "fallocate mode 0 extends");
	expect_base_bytes(f, f->b.small, 0, 100, "small's bytes after fallocate");
	expect_read(f->o, f->b.small, 100, zeros, 2 * BS - 100, "allocated part");
	do_falloc(f, f->b.small, FALLOC_FL_KEEP_SIZE, 0, 4 * BS);
	expect_size(f, f->b.small, 2 * BS, "fallocate KEEP_SIZE");
	/* modes */
	expect_ret(cdp_overlay_fallocate(f->o, big, FALLOC_FL_PUNCH_HOLE, 0, 10), -EINVAL,
		   "punch without KEEP_SIZE");
	expect_ret(cdp_overlay_fallocate(f->o, big, FALLOC_FL_COLLAPSE_RANGE, 0, BS), -EOPNOTSUPP,
		   "collapse range");
	expect_ret(cdp_overlay_fallocate(f->o, big, 0, 0, 0), -EINVAL, "zero length");
	expect_ret(cdp_overlay_fallocate(f->o, f->b.sub, 0, 0, 10), -EISDIR, "of a directory");
}

/* readdir merges base and overlay entries in name order; whiteouts hide
 * removed names, and a name can come back. */
static void test_readdir_merge(void **state)
{
	struct fx *f = *state;
	uint64_t d = f->b.data, exact2, m;
	struct names nm;

	expect_listing(f, d, "big,empty,exact,hard1,link,small,sparse,sub,", "base listing");
	do_mknod(f, d, "aaa", S_IFREG | 0644);
	m = do_mknod(f, d, "m", S_IFDIR | 0755);
	do_mknod(f, d, "zzz", S_IFIFO | 0600);
	do_mknod(f, d, "bz", S_IFREG | 0600);
	expect_ret(cdp_overlay_unlink(f->o, d, "exact"), 0, "unlink of a base file");
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small", d, "small2", 0), 0, "rename in place");
	expect_listing(f, d, "aaa,big,bz,empty,hard1,link,m,small2,sparse,sub,zzz,", "merged");
	expect_absent(f, d, "exact");
	expect_absent(f, d, "small");
	/* the name comes back as a new object */
	exact2 = do_mknod(f, d, "exact", S_IFREG | 0644);
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(cdp_overlay_readdir(f->o, d, names_cb, &nm), 0);
	assert_string_equal(nm.list, "aaa,big,bz,empty,exact,hard1,link,m,small2,sparse,sub,zzz,");
	assert_int_equal(nm.ids[4], exact2);
	assert_int_equal(id_of(f, d, "exact"), exact2);
	expect_size(f, exact2, 0, "the new 'exact'");
	/* entries of a new directory, and of a base subdirectory */
	do_mknod(f, m, "b", S_IFREG | 0644);
	do_mknod(f, m, "a", S_IFREG | 0644);
	expect_listing(f, m, "a,b,", "new directory");
	expect_ret(cdp_overlay_unlink(f->o, f->b.sub, "inner"), 0, "unlink in sub");
	do_mknod(f, f->b.sub, "hard1", S_IFREG | 0644);
	expect_listing(f, f->b.sub, "hard1,hard2,", "sub after changes");
	/* everything removed: empty */
	expect_ret(cdp_overlay_unlink(f->o, f->b.sub, "hard1"), 0, "unlink new file");
	expect_ret(cdp_overlay_unlink(f->o, f->b.sub, "hard2"), 0, "unlink base hard link");
	expect_listing(f, f->b.sub, "", "sub emptied");
	/* a base directory emptied by whiteouts can go */
	expect_nlink(f, d, 5, "/data with sub, empty and m");
	expect_ret(cdp_overlay_rmdir(f->o, d, "sub"), 0, "rmdir of an emptied base dir");
	expect_nlink(f, d, 4, "/data after rmdir of sub");
	expect_nlink(f, f->b.sub, 0, "removed directory");
	expect_listing(f, d, "aaa,big,bz,empty,exact,hard1,link,m,small2,sparse,zzz,",
		       "after rmdir of sub");
	/* names too long */
	{
		char longname[300];
		uint64_t id;
		struct cdp_attr a;

		memset(longname, 'n', 256);
		longname[256] = '\0';
		expect_ret(cdp_overlay_lookup(f->o, d, longname, &id, &a), -ENAMETOOLONG,
			   "lookup of a 256-byte name");
		expect_ret(cdp_overlay_mknod(f->o, &ctx, d, longname, S_IFREG | 0644, 0, &id, &a),
			   -ENAMETOOLONG, "create of a 256-byte name");
		expect_ret(cdp_overlay_rename(f->o, &ctx, d, "aaa", d, longname, 0), -ENAMETOOLONG,
			   "rename to a 256-byte name");
		longname[255] = '\0';
		expect_ret(cdp_overlay_mknod(f->o, &ctx, d, longname, S_IFREG | 0644, 0, &id, &a),
			   0, "create of a 255-byte name");
		assert_int_equal(id_of(f, d, longname), id);
	}
	/* stopping early returns the callback's value */
	memset(&nm, 0, sizeof(nm));
	expect_ret(cdp_overlay_readdir(f->o, f->b.big, names_cb, &nm), -ENOTDIR,
		   "readdir of a file");
}

static int stop_at_second(void *arg, const char *name, uint64_t id, uint32_t type)
{
	int *n = arg;

	(void)name; (void)id; (void)type;
	return ++*n == 2 ? 42 : 0;
}

/* unlink, rmdir, mkdir and rename with their link counts and errors. */
static void test_names_nlink(void **state)
{
	struct fx *f = *state;
	uint64_t d = f->b.data, sub = f->b.sub, m, m2, small = f->b.small;
	struct cdp_attr a;
	int n = 0;

	expect_ret(cdp_overlay_readdir(f->o, d, stop_at_second, &n), 42, "readdir stopped");
	expect_nlink(f, d, 4, "base /data");
	/* rmdir */
	expect_ret(cdp_overlay_rmdir(f->o, d, "sub"), -ENOTEMPTY, "rmdir of a non-empty base dir");
	expect_ret(cdp_overlay_rmdir(f->o, d, "small"), -ENOTDIR, "rmdir of a file");
	expect_ret(cdp_overlay_unlink(f->o, d, "sub"), -EISDIR, "unlink of a directory");
	expect_ret(cdp_overlay_rmdir(f->o, d, "nope"), -ENOENT, "rmdir of a missing name");
	expect_ret(cdp_overlay_unlink(f->o, d, "nope"), -ENOENT, "unlink of a missing name");
	expect_ret(cdp_overlay_rmdir(f->o, d, "empty"), 0, "rmdir of an empty base dir");
	expect_nlink(f, d, 3, "/data after rmdir");
	expect_absent(f, d, "empty");
	expect_ret(cdp_overlay_mknod(f->o, &ctx, f->b.empty, "x", S_IFREG | 0644, 0, &m, &a),
		   -ENOENT, "create in a removed directory");
	/* mkdir */
	m = do_mknod(f, d, "m", S_IFDIR | 0755);
	expect_nlink(f, d, 4, "/data after mkdir");
	expect_nlink(f, m, 2, "new directory");
	m2 = do_mknod(f, m, "m2", S_IFDIR | 0755);
	expect_nlink(f, m, 3, "directory with a subdirectory");
	expect_ret(cdp_overlay_mknod(f->o, &ctx, d, "m", S_IFDIR | 0755, 0, &m, &a), -EEXIST,
		   "mkdir of an existing name");
	expect_ret(cdp_overlay_mknod(f->o, &ctx, d, "big", S_IFREG | 0644, 0, &m, &a), -EEXIST,
		   "create over a base name");
	expect_ret(cdp_overlay_mknod(f->o, &ctx, small, "x", S_IFREG | 0644, 0, &m, &a), -ENOTDIR,
		   "create in a file");
	expect_ret(cdp_overlay_rmdir(f->o, d, "m"), -ENOTEMPTY, "rmdir of a non-empty new dir");
	m = id_of(f, d, "m");
	/* rename a directory across parents: the ".." link moves */
	expect_ret(cdp_overlay_rename(f->o, &ctx, m, "m2", sub, "m2", 0), 0, "move a dir into sub");
	expect_nlink(f, m, 2, "old parent after the move");
	expect_nlink(f, sub, 3, "new parent after the move");
	assert_int_equal(id_of(f, sub, "m2"), m2);
	expect_absent(f, m, "m2");
	/* NOREPLACE */
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small", d, "big", RENAME_NOREPLACE), -EEXIST,
		   "NOREPLACE over an existing name");
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small", d, "small3", RENAME_NOREPLACE), 0,
		   "NOREPLACE to a free name");
	assert_int_equal(id_of(f, d, "small3"), small);
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small3", d, "x",
				      RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL,
		   "NOREPLACE|EXCHANGE");
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "nope", d, "x", 0), -ENOENT, "rename of nothing");
	/* EXCHANGE of a file and a directory in one parent */
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small3", d, "sub", RENAME_EXCHANGE), 0,
		   "exchange file and dir");
	assert_int_equal(id_of(f, d, "small3"), sub);
	assert_int_equal(id_of(f, d, "sub"), small);
	expect_nlink(f, d, 4, "/data after an exchange within it");
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small3", d, "nope", RENAME_EXCHANGE), -ENOENT,
		   "exchange with a missing name");
	/* EXCHANGE of a dir and a file across parents: ".." moves */
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "m", sub, "inner", RENAME_EXCHANGE), 0,
		   "exchange dir and file across parents");
	assert_int_equal(id_of(f, sub, "inner"), m);
	assert_int_equal(id_of(f, d, "m"), f->b.inner);
	expect_nlink(f, d, 3, "/data lost a subdirectory");
	expect_nlink(f, sub, 4, "sub gained one");
	/* rename over an existing file: the target loses its name */
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "sub", d, "exact", 0), 0, "rename over a file");
	assert_int_equal(id_of(f, d, "exact"), small);
	expect_absent(f, d, "sub");
	expect_nlink(f, f->b.exact, 0, "the replaced file (still open)");
	/* type clashes */
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small3", d, "exact", 0), -ENOTDIR,
		   "dir over a file");
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "exact", d, "small3", 0), -EISDIR,
		   "file over a dir");
	m2 = do_mknod(f, d, "full", S_IFDIR | 0700);
	do_mknod(f, m2, "x", S_IFREG | 0600);
	expect_nlink(f, d, 4, "/data with full");
	expect_ret(cdp_overlay_rename(f->o, &ctx, sub, "inner", d, "full", 0), -ENOTEMPTY,
		   "dir over a non-empty dir");
	/* a directory over an empty directory */
	do_mknod(f, d, "e2", S_IFDIR | 0700);
	expect_nlink(f, d, 5, "/data with e2");
	expect_ret(cdp_overlay_rename(f->o, &ctx, sub, "inner", d, "e2", 0), 0,
		   "dir over an empty dir across parents");
	expect_nlink(f, d, 5, "/data: e2 replaced by a dir from sub");
	expect_nlink(f, sub, 3, "sub lost one");
	assert_int_equal(id_of(f, d, "e2"), m);
	/* renaming one name of a file onto another name of it does nothing */
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "hard1", f->b.sub, "hard2", 0), 0,
		   "rename onto another link of the same file");
	assert_int_equal(id_of(f, d, "hard1"), f->b.hard);
	assert_int_equal(id_of(f, sub, "hard2"), f->b.hard);
	expect_nlink(f, f->b.hard, 2, "hard link count after a no-op rename");
}

/* RENAME_WHITEOUT leaves what ext4 leaves at the old name: a character
 * device 0:0, mode 0, of the caller's (the directory's group when setgid),
 * an object like any other: listed, stat-able, removable, renamed over,
 * kept across a reopen. */
static void test_rename_whiteout(void **state)
{
	struct fx *f = *state;
	uint64_t d = f->b.data, sub = f->b.sub, wo, w2, nd;
	const struct cdp_ovl_ctx other = { 4321, 8765 };
	struct cdp_attr a, da;

	da = attr_of(f, d);
	expect_ret(cdp_overlay_rename(f->o, &other, d, "small", d, "small.moved", RENAME_WHITEOUT),
		   0, "rename with a whiteout of a base file");
	assert_int_equal(id_of(f, d, "small.moved"), f->b.small);
	expect_base_bytes(f, f->b.small, 0, 100, "the moved file");
	wo = id_of(f, d, "small");
	if (wo < CDP_OVL_FIRST_NEW_ID)
		fail_msg("whiteout: expected a new object, got id %" PRIu64, wo);
	a = attr_of(f, wo);
	if (a.mode != S_IFCHR || a.rdev != 0 || a.uid != 4321 || a.gid != 8765 || a.nlink != 1 ||
	    a.size != 0)
		fail_msg("whiteout: expected a character device 0:0, mode 0, 4321:8765, nlink 1, "
			 "size 0; got mode %o rdev %" PRIu64 " %u:%u nlink %u size %" PRIu64,
			 a.mode, a.rdev, a.uid, a.gid, a.nlink, a.size);
	expect_nlink(f, d, da.nlink, "parent after a whiteout of a file");
	expect_listing(f, d, "big,empty,exact,hard1,link,small,small.moved,sparse,sub,",
		       "listing with a whiteout");
	/* over an existing target, and with RENAME_NOREPLACE */
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "exact", d, "small.moved", RENAME_WHITEOUT), 0,
		   "whiteout rename over a file");
	assert_int_equal(id_of(f, d, "small.moved"), f->b.exact);
	w2 = id_of(f, d, "exact");
	assert_true(w2 != wo);
	assert_int_equal(attr_of(f, w2).mode, S_IFCHR);
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small.moved", d, "big",
				      RENAME_WHITEOUT | RENAME_NOREPLACE), -EEXIST,
		   "whiteout rename, no replace, over a name");
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small.moved", d, "big",
				      RENAME_WHITEOUT | RENAME_EXCHANGE), -EINVAL,
		   "whiteout with exchange");
	expect_ret(cdp_overlay_rename(f->o, NULL, d, "small.moved", d, "x", RENAME_WHITEOUT),
		   -EINVAL, "whiteout without a caller");
	assert_int_equal(id_of(f, d, "small.moved"), f->b.exact);
	/* a directory moved to another parent: link counts as ext4 */
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "empty", sub, "moved-empty", RENAME_WHITEOUT),
		   0, "whiteout rename of a directory");
	expect_nlink(f, d, da.nlink - 1, "parent after its subdirectory left a whiteout");
	expect_nlink(f, sub, 3, "new parent of the moved directory");
	assert_int_equal(attr_of(f, id_of(f, d, "empty")).mode, S_IFCHR);
	/* setgid directory: the group is the directory's */
	nd = do_mknod(f, d, "sg", S_IFDIR | 02777);
	assert_int_equal(cdp_overlay_mknod(f->o, &ctx, nd, "f", S_IFREG | 0644, 0, &w2, &a), 0);
	expect_ret(cdp_overlay_rename(f->o, &other, nd, "f", nd, "g", RENAME_WHITEOUT), 0,
		   "whiteout in a setgid directory");
	a = attr_of(f, id_of(f, nd, "f"));
	if (a.uid != 4321 || a.gid != ctx.gid)
		fail_msg("whiteout in a setgid directory: expected owner 4321:%u, got %u:%u", ctx.gid,
			 a.uid, a.gid);
	/* kept across a reopen, then removable like any device node */
	reopen(f);
	assert_int_equal(id_of(f, d, "small"), wo);
	assert_int_equal(attr_of(f, wo).mode, S_IFCHR);
	expect_ret(cdp_overlay_unlink(f->o, d, "small"), 0, "unlink of a whiteout");
	expect_absent(f, d, "small");
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "hard1", d, "exact", 0), 0,
		   "rename over a whiteout");
	assert_int_equal(id_of(f, d, "exact"), f->b.hard);
	expect_listing(f, d, "big,empty,exact,link,sg,small.moved,sparse,sub,",
		       "listing after the whiteouts went");
}

/* Hard links share one object: attributes, data and link counts. */
static void test_hard_links(void **state)
{
	struct fx *f = *state;
	uint64_t d = f->b.data, hard = f->b.hard, id, nid;
	struct cdp_attr a, out;

	assert_int_equal(id_of(f, d, "hard1"), hard);
	assert_int_equal(id_of(f, f->b.sub, "hard2"), hard);
	expect_nlink(f, hard, 2, "base hard link");
	/* a change through one name shows through the other */
	memset(&a, 0, sizeof(a));
	a.mode = 0600;
	assert_int_equal(cdp_overlay_setattr(f->o, hard, &a, CDP_OVL_SET_MODE, &out), 0);
	assert_int_equal(cdp_overlay_lookup(f->o, f->b.sub, "hard2", &id, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 0600);
	do_fill(f, hard, 10, 10, 'h');
	/* a third name */
	expect_ret(cdp_overlay_link(f->o, hard, d, "hard3", &a), 0, "link");
	assert_int_equal(a.nlink, 3);
	expect_nlink(f, hard, 3, "after link");
	expect_ret(cdp_overlay_link(f->o, hard, d, "big", &a), -EEXIST, "link over a name");
	expect_ret(cdp_overlay_link(f->o, f->b.sub, d, "subl", &a), -EPERM, "link of a dir");
	expect_ret(cdp_overlay_link(f->o, hard, f->b.big, "x", &a), -ENOTDIR, "link into a file");
	expect_ret(cdp_overlay_unlink(f->o, d, "hard1"), 0, "unlink one name");
	expect_ret(cdp_overlay_unlink(f->o, f->b.sub, "hard2"), 0, "unlink another");
	expect_nlink(f, hard, 1, "one name left");
	assert_int_equal(id_of(f, d, "hard3"), hard);
	expect_byte_run(f, hard, 10, 10, 'h', "data through the last name");
	expect_base_bytes(f, hard, 20, 4980, "base data through the last name");
	/* a link of a new file */
	nid = do_mknod(f, d, "n1", S_IFREG | 0644);
	do_fill(f, nid, 0, 3, 'n');
	expect_ret(cdp_overlay_link(f->o, nid, f->b.sub, "n2", &a), 0, "link of a new file");
	expect_nlink(f, nid, 2, "new file with two names");
	expect_ret(cdp_overlay_unlink(f->o, d, "n1"), 0, "unlink first name");
	expect_nlink(f, nid, 1, "new file with one name");
	expect_byte_run(f, id_of(f, f->b.sub, "n2"), 0, 3, 'n', "new file's data");
	/* the last name gone: nlink 0, then link is refused */
	expect_ret(cdp_overlay_unlink(f->o, f->b.sub, "n2"), 0, "unlink last name");
	expect_nlink(f, nid, 0, "unlinked new file");
	expect_ret(cdp_overlay_link(f->o, nid, d, "back", &a), -ENOENT, "link of an unlinked file");
}

/* xattrs: base ones read through, the first change copies all of them up;
 * create/replace flags; remove. */
static void test_xattrs(void **state)
{
	struct fx *f = *state;
	uint64_t big = f->b.big, nid;
	char buf[256];
	ssize_t n;

	n = cdp_overlay_getxattr(f->o, big, "user.a", buf, sizeof(buf));
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(cdp_overlay_getxattr(f->o, big, "user.a", NULL, 0), 3);
	assert_int_equal(cdp_overlay_getxattr(f->o, big, "user.a", buf, 2), -ERANGE);
	assert_int_equal(cdp_overlay_listxattr(f->o, big, buf, sizeof(buf)), 14);
	assert_memory_equal(buf, "user.a\0user.b\0", 14);
	expect_ret(cdp_overlay_setxattr(f->o, big, "user.a", "x", 1, XATTR_CREATE), -EEXIST,
		   "XATTR_CREATE of a base xattr");
	expect_ret(cdp_overlay_setxattr(f->o, big, "user.c", "x", 1, XATTR_REPLACE), -ENODATA,
		   "XATTR_REPLACE of a missing xattr");
	expect_ret(cdp_overlay_removexattr(f->o, big, "user.c"), -ENODATA, "remove of a missing");
	/* nothing was copied by the refused calls */
	assert_int_equal(cdp_overlay_listxattr(f->o, big, NULL, 0), 14);
	expect_ret(cdp_overlay_setxattr(f->o, big, "user.a", "uno", 3, XATTR_REPLACE), 0,
		   "XATTR_REPLACE of a base xattr");
	n = cdp_overlay_getxattr(f->o, big, "user.a", buf, sizeof(buf));
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "uno", 3);
	assert_int_equal(cdp_overlay_getxattr(f->o, big, "user.b", buf, sizeof(buf)), 0);
	expect_ret(cdp_overlay_setxattr(f->o, big, "user.c", "three", 5, XATTR_CREATE), 0,
		   "XATTR_CREATE of a new name");
	assert_int_equal(cdp_overlay_listxattr(f->o, big, buf, sizeof(buf)), 21);
	assert_memory_equal(buf, "user.a\0user.b\0user.c\0", 21);
	assert_int_equal(cdp_overlay_listxattr(f->o, big, buf, 20), -ERANGE);
	expect_ret(cdp_overlay_removexattr(f->o, big, "user.b"), 0, "remove a copied-up xattr");
	expect_ret(cdp_overlay_removexattr(f->o, big, "user.b"), -ENODATA, "remove it again");
	assert_int_equal(cdp_overlay_getxattr(f->o, big, "user.b", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(cdp_overlay_listxattr(f->o, big, buf, sizeof(buf)), 14);
	assert_memory_equal(buf, "user.a\0user.c\0", 14);
	/* the first change being a remove copies the others up too */
	expect_ret(cdp_overlay_removexattr(f->o, f->b.data, "user.dir"), 0, "remove a base xattr");
	assert_int_equal(cdp_overlay_listxattr(f->o, f->b.data, buf, sizeof(buf)), 0);
	/* the base keeps its own */
	assert_int_equal(cdp_view_getxattr(f->base, big, "user.a", buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(cdp_view_listxattr(f->base, big, NULL, 0), 14);
	/* a new object, with an empty value and a replace */
	nid = do_mknod(f, f->b.data, "x", S_IFREG | 0644);
	assert_int_equal(cdp_overlay_listxattr(f->o, nid, buf, sizeof(buf)), 0);
	assert_int_equal(cdp_overlay_getxattr(f->o, nid, "user.e", buf, sizeof(buf)), -ENODATA);
	expect_ret(cdp_overlay_setxattr(f->o, nid, "user.e", "", 0, 0), 0, "empty value");
	assert_int_equal(cdp_overlay_getxattr(f->o, nid, "user.e", buf, sizeof(buf)), 0);
	expect_ret(cdp_overlay_setxattr(f->o, nid, "user.e", "v2", 2, 0), 0, "plain replace");
	assert_int_equal(cdp_overlay_getxattr(f->o, nid, "user.e", buf, sizeof(buf)), 2);
	expect_ret(cdp_overlay_setxattr(f->o, nid, "", "v", 1, 0), -ERANGE, "empty name");
	/* xattrs of hard links are the object's */
	expect_ret(cdp_overlay_setxattr(f->o, f->b.hard, "user.h", "1", 1, 0), 0, "on a link");
	{
		uint64_t id = id_of(f, f->b.sub, "hard2");

		assert_int_equal(cdp_overlay_getxattr(f->o, id, "user.h", buf, sizeof(buf)), 1);
	}
}

/* Symlinks, and setattr of mode, owner and times. */
static void test_symlink_setattr(void **state)
{
	struct fx *f = *state;
	uint64_t d = f->b.data, lid;
	struct cdp_attr a, out, before;
	char buf[64];
	int64_t t0 = cdp_now_ns();

	assert_int_equal(cdp_overlay_readlink(f->o, f->b.link, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "big");
	assert_int_equal(cdp_overlay_symlink(f->o, &ctx, d, "l2", "../somewhere/else", &lid, &a),
			 0);
	assert_true(S_ISLNK(a.mode));
	assert_int_equal(a.size, 17);
	assert_int_equal(a.uid, 1000);
	assert_int_equal(cdp_overlay_readlink(f->o, lid, buf, sizeof(buf)), 17);
	assert_string_equal(buf, "../somewhere/else");
	assert_int_equal(cdp_overlay_readlink(f->o, lid, buf, 17), -ERANGE);
	assert_int_equal(cdp_overlay_readlink(f->o, f->b.big, buf, sizeof(buf)), -EINVAL);
	expect_ret(cdp_overlay_symlink(f->o, &ctx, d, "l3", "", &lid, &a), -ENOENT,
		   "empty symlink target");
	expect_ret(cdp_overlay_symlink(f->o, &ctx, d, "link", "x", &lid, &a), -EEXIST,
		   "symlink over a base name");
	/* chown of a base symlink keeps its target */
	memset(&a, 0, sizeof(a));
	a.uid = 7;
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.link, &a, CDP_OVL_SET_UID, &out), 0);
	assert_int_equal(out.uid, 7);
	assert_int_equal(cdp_overlay_readlink(f->o, f->b.link, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "big");

	/* mode keeps the file type */
	before = attr_of(f, f->b.big);
	memset(&a, 0, sizeof(a));
	a.mode = S_IFDIR | 04711;
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.big, &a, CDP_OVL_SET_MODE, &out), 0);
	if (out.mode != (S_IFREG | 04711))
		fail_msg("chmod: expected mode %o, got %o", S_IFREG | 04711, out.mode);
	if (out.ctime_ns < t0)
		fail_msg("chmod: expected the ctime to become now (>= %" PRId64 "), got %" PRId64,
			 t0, out.ctime_ns);
	assert_int_equal(out.mtime_ns, before.mtime_ns);
	assert_int_equal(out.uid, before.uid);
	/* owner */
	a.uid = 0;
	a.gid = 42;
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.big, &a, CDP_OVL_SET_UID | CDP_OVL_SET_GID,
					     &out), 0);
	assert_int_equal(out.uid, 0);
	assert_int_equal(out.gid, 42);
	assert_int_equal(out.mode, S_IFREG | 04711);
	/* times: explicit, now, and an explicit ctime */
	a.atime_ns = 111;
	a.mtime_ns = 222;
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.big, &a,
					     CDP_OVL_SET_ATIME | CDP_OVL_SET_MTIME, &out), 0);
	assert_int_equal(out.atime_ns, 111);
	assert_int_equal(out.mtime_ns, 222);
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.big, &a, CDP_OVL_SET_ATIME_NOW, &out), 0);
	assert_true(out.atime_ns >= t0);
	assert_int_equal(out.mtime_ns, 222);
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.big, &a, CDP_OVL_SET_MTIME_NOW, &out), 0);
	assert_true(out.mtime_ns >= t0);
	a.ctime_ns = 333;
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.big, &a, CDP_OVL_SET_CTIME, &out), 0);
	assert_int_equal(out.ctime_ns, 333);
	/* getattr agrees with what setattr gave, and the data is the base's */
	a = attr_of(f, f->b.big);
	assert_memory_equal(&a, &out, sizeof(a));
	expect_base_bytes(f, f->b.big, 0, 3 * BS + 1000, "data after attribute changes");
	/* a write sets mtime and ctime to now */
	do_fill(f, f->b.big, 0, 1, 'w');
	a = attr_of(f, f->b.big);
	assert_true(a.mtime_ns >= t0 && a.ctime_ns >= t0);
	/* a setgid directory passes its group on */
	memset(&a, 0, sizeof(a));
	a.mode = 02775;
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.sub, &a, CDP_OVL_SET_MODE, &out), 0);
	{
		struct cdp_ovl_ctx other = { 5, 6 };
		uint64_t id;

		assert_int_equal(cdp_overlay_mknod(f->o, &other, f->b.sub, "g", S_IFDIR | 0755, 0,
						   &id, &a), 0);
		assert_int_equal(a.uid, 5);
		assert_int_equal(a.gid, 100);
		assert_true(a.mode & S_ISGID);
		assert_int_equal(cdp_overlay_mknod(f->o, &other, d, "g", S_IFREG | 0644, 0, &id, &a),
				 0);
		assert_int_equal(a.gid, 6);
	}
	expect_ret(cdp_overlay_setattr(f->o, 99999, &a, CDP_OVL_SET_MODE, &out), -ENOENT,
		   "setattr of an unknown id");
}

/* A mixed set of changes, then close and reopen: the same tree. */
static void make_changes(struct fx *f)
{
	uint64_t d = f->b.data, m, n, id;
	struct cdp_attr a, out;

	do_fill(f, f->b.sparse, 2 * BS + 3, 3 * BS, 's');
	do_falloc(f, f->b.sparse, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 9 * BS, BS + 100);
	do_truncate(f, f->b.big, 2 * BS + 7);
	do_truncate(f, f->b.big, 5 * BS);
	m = do_mknod(f, d, "newdir", S_IFDIR | 0700);
	n = do_mknod(f, m, "newfile", S_IFREG | 0640);
	do_fill(f, n, BS - 1, 2, 'n');
	assert_int_equal(cdp_overlay_symlink(f->o, &ctx, m, "ln", "newfile", &id, &a), 0);
	assert_int_equal(cdp_overlay_link(f->o, f->b.small, m, "small-link", &a), 0);
	assert_int_equal(cdp_overlay_unlink(f->o, d, "exact"), 0);
	assert_int_equal(cdp_overlay_rename(f->o, &ctx, f->b.sub, "inner", d, "inner", 0), 0);
	assert_int_equal(cdp_overlay_setxattr(f->o, f->b.big, "user.z", "zz", 2, 0), 0);
	assert_int_equal(cdp_overlay_setxattr(f->o, n, "user.n", "nn", 2, 0), 0);
	assert_int_equal(cdp_overlay_rmdir(f->o, d, "empty"), 0);
	memset(&a, 0, sizeof(a));
	a.mode = 0444;
	assert_int_equal(cdp_overlay_setattr(f->o, f->b.hard, &a, CDP_OVL_SET_MODE, &out), 0);
}

static void test_persist_reopen(void **state)
{
	struct fx *f = *state;
	char *before, *after;
	uint64_t n;

	make_changes(f);
	before = dump_tree(NULL, f->o, f->b.data);
	assert_int_equal(cdp_overlay_fsync(f->o, f->b.sparse), 0);
	reopen(f);
	after = dump_tree(NULL, f->o, f->b.data);
	expect_same_dump(before, after, "overlay after close and reopen");
	free(after);
	/* and new ids keep counting after a reopen */
	n = do_mknod(f, f->b.data, "after-reopen", S_IFREG | 0644);
	if (n <= id_of(f, id_of(f, f->b.data, "newdir"), "ln"))
		fail_msg("expected ids after a reopen to be new, got %" PRIu64, n);
	reopen(f);
	assert_int_equal(id_of(f, f->b.data, "after-reopen"), n);
	expect_ret(cdp_overlay_unlink(f->o, f->b.data, "after-reopen"), 0, "unlink");
	free(before);
	before = dump_tree(NULL, f->o, f->b.data);
	reopen(f);
	after = dump_tree(NULL, f->o, f->b.data);
	expect_same_dump(before, after, "overlay after a create and unlink, reopened");
	free(after);
	free(before);
}

/* An object unlinked while open keeps its data until the next open, which
 * purges it and its delta file. */
static void test_orphan_purge(void **state)
{
	struct fx *f = *state;
	uint64_t d = f->b.data, nid;
	char path[512];
	struct cdp_attr a;

	nid = do_mknod(f, d, "tmp", S_IFREG | 0600);
	do_fill(f, nid, 0, BS + 5, 't');
	assert_int_equal(cdp_overlay_setxattr(f->o, nid, "user.t", "t", 1, 0), 0);
	delta_file(f, nid, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);
	expect_ret(cdp_overlay_unlink(f->o, d, "tmp"), 0, "unlink of an open file");
	expect_absent(f, d, "tmp");
	/* still open: reads, writes and attributes go on */
	expect_nlink(f, nid, 0, "unlinked new file");
	expect_byte_run(f, nid, 0, BS + 5, 't', "unlinked file's data");
	do_fill(f, nid, 1, 1, 'u');
	expect_byte_run(f, nid, 1, 1, 'u', "write to an unlinked file");
	assert_int_equal(cdp_overlay_getxattr(f->o, nid, "user.t", NULL, 0), 1);
	cdp_overlay_close(f->o);
	f->o = NULL;
	if (access(path, F_OK) != 0)
		fail_msg("expected the delta file '%s' to stay until the next open", path);
	f->o = overlay_at(f, f->ovl);
	if (access(path, F_OK) == 0)
		fail_msg("expected the next open to purge the delta file '%s'", path);
	expect_ret(cdp_overlay_getattr(f->o, nid, &a), -ENOENT, "getattr of a purged object");
	expect_ret((int)cdp_overlay_getxattr(f->o, nid, "user.t", NULL, 0), -ENOENT,
		   "getxattr of a purged object");

	/* a base file replaced by a rename, written first: its delta goes too */
	do_fill(f, f->b.exact, 0, 10, 'e');
	delta_file(f, f->b.exact, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);
	expect_ret(cdp_overlay_rename(f->o, &ctx, d, "small", d, "exact", 0), 0, "rename over exact");
	expect_byte_run(f, f->b.exact, 0, 10, 'e', "replaced file while open");
	reopen(f);
	if (access(path, F_OK) == 0)
		fail_msg("expected the next open to purge the delta file '%s' of a replaced base "
			 "file", path);
	assert_int_equal(id_of(f, d, "exact"), f->b.small);
	expect_base_bytes(f, f->b.small, 0, 100, "the file renamed over it");
}

/* The lock, listing, private overlays and destroy. */
static void test_lock_list_destroy(void **state)
{
	struct fx *f = *state;
	struct cdp_overlay_info *list, info;
	struct cdp_overlay *o2 = NULL, *priv_o;
	char priv[400], priv2[400], ext[400], reg[400];
	size_t n;
	int ret;

	/* the lock: flock is per open file description, so this works here */
	ret = cdp_overlay_open(f->ovl, f->base, f->b.data, BS, &o2);
	expect_ret(ret, -EBUSY, "second open of an overlay in use");
	assert_null(o2);
	expect_ret(cdp_overlay_destroy(f->ovl), -EBUSY, "destroy of an overlay in use");
	/* read_info */
	assert_int_equal(cdp_overlay_read_info(f->ovl, &info), 0);
	assert_string_equal(info.name, "t");
	assert_string_equal(info.host, HOST);
	assert_string_equal(info.dir, "/data");
	assert_int_equal(info.base_seq, cdp_view_seq(f->base));
	assert_int_equal(info.base_ts_ns, cdp_view_ts(f->base));
	assert_int_equal(info.is_private, 0);
	assert_true(info.created_ts_ns > 0 && info.last_used_ts_ns >= info.created_ts_ns);
	cdp_overlay_info_release(&info);
	expect_ret(cdp_overlay_read_info(f->top, &info), -ENOENT, "read_info of no overlay");
	expect_ret(cdp_overlay_create(f->ovl, &info), -EEXIST, "create over an existing path");

	/* two private overlays: one held, one whose mount is gone; one kept
	 * elsewhere and registered by a symlink */
	snprintf(priv, sizeof(priv), "%s/overlays/priv-held", f->store);
	snprintf(priv2, sizeof(priv2), "%s/overlays/priv-gone", f->store);
	snprintf(ext, sizeof(ext), "%s/elsewhere", f->top);
	snprintf(reg, sizeof(reg), "%s/overlays/ext", f->store);
	overlay_make(f, priv, "ignored", 1);
	overlay_make(f, priv2, "ignored2", 1);
	{
		/* made long ago: past list's grace window for mounts in the
		 * making (the last of a repeated key wins) */
		char infop[4200];
		FILE *fp;

		snprintf(infop, sizeof(infop), "%s/overlay.info", priv2);
		fp = fopen(infop, "a");
		assert_non_null(fp);
		fputs("created_ts_ns=1\n", fp);
		fclose(fp);
	}
	overlay_make(f, ext, "ext", 0);
	assert_int_equal(symlink(ext, reg), 0);
	priv_o = overlay_at(f, priv);
	do_fill(f, f->b.big, 0, BS, 'l');   /* some size in t */

	assert_int_equal(cdp_overlay_list(f->store, &list, &n), 0);
	if (n != 3)
		fail_msg("list: expected 3 overlays (ext, priv-held, t), got %zu", n);
	assert_string_equal(list[0].name, "ext");
	assert_int_equal(list[0].mounted, 0);
	assert_string_equal(list[1].name, "priv-held");
	assert_int_equal(list[1].is_private, 1);
	assert_int_equal(list[1].mounted, 1);
	assert_string_equal(list[2].name, "t");
	assert_int_equal(list[2].mounted, 1);
	assert_int_equal(list[2].is_private, 0);
	assert_string_equal(list[2].host, HOST);
	if (list[2].size_bytes < BS)
		fail_msg("list: expected overlay 't' to take at least %u bytes, got %llu", BS,
			 (unsigned long long)list[2].size_bytes);
	cdp_overlay_list_free(list, n);
	if (access(priv2, F_OK) == 0)
		fail_msg("list: expected the private overlay '%s' whose lock is free to be removed",
			 priv2);
	if (access(priv, F_OK) != 0)
		fail_msg("list: expected the held private overlay '%s' to stay", priv);

	/* destroy: the held one refuses, then goes once closed */
	expect_ret(cdp_overlay_destroy(priv), -EBUSY, "destroy of a held private overlay");
	cdp_overlay_close(priv_o);
	expect_ret(cdp_overlay_destroy(priv), 0, "destroy after close");
	expect_ret(cdp_overlay_destroy(reg), 0, "destroy through a registration");
	if (access(ext, F_OK) == 0 || access(reg, F_OK) == 0)
		fail_msg("destroy through a symlink: expected both '%s' and '%s' gone", ext, reg);
	cdp_overlay_close(f->o);
	f->o = NULL;
	expect_ret(cdp_overlay_destroy(f->ovl), 0, "destroy after close");
	assert_int_equal(cdp_overlay_list(f->store, &list, &n), 0);
	assert_int_equal(n, 0);
	cdp_overlay_list_free(list, n);
	expect_ret(cdp_overlay_destroy(f->ovl), -ENOENT, "destroy of nothing");
	cdp_overlay_list_free(NULL, 0);
	cdp_overlay_close(NULL);
}

static void expect_blocks(struct fx *f, uint64_t id, uint64_t want, const char *what)
{
	struct cdp_attr a = attr_of(f, id);

	if (a.blocks != want)
		fail_msg("%s: expected st_blocks %" PRIu64 ", got %" PRIu64 "%s", what, want,
			 a.blocks, a.blocks == CDP_BLOCKS_UNKNOWN ? " (unknown)" : "");
}

/*
 * st_blocks as a native file on a 4 KiB filesystem would have them: an
 * untouched base file keeps the captured value; a changed one counts the
 * base blocks with data still shown plus the granules its delta file
 * holds, so holes, punched and cut-off blocks count nothing.  Kept across
 * a reopen.  Bytes left in a delta file where no record points (a crash
 * between data and index) never come back through a later copy-up.
 */
static void test_allocated_blocks(void **state)
{
	struct fx *f = *state;
	uint64_t d = f->b.data, sp = f->b.sparse, sm = f->b.small, nid, big, id;
	char path[512], junk[4096];
	struct statvfs sv;
	struct cdp_attr a, out;
	int fd;

	if (statvfs(f->ovl, &sv) < 0 || sv.f_bsize != 4096) {
		print_message("the overlay's disk has %lu-byte blocks, not 4096: st_blocks not "
			      "checked\n", (unsigned long)sv.f_bsize);
		return;
	}
	/* untouched and attribute-only changes: as captured */
	expect_blocks(f, sp, 3 * BS / 512, "untouched sparse base file");
	memset(&a, 0, sizeof(a));
	a.mode = 0640;
	assert_int_equal(cdp_overlay_setattr(f->o, sp, &a, CDP_OVL_SET_MODE, &out), 0);
	assert_int_equal(out.blocks, 3 * BS / 512);
	expect_blocks(f, sp, 3 * BS / 512, "sparse base file after chmod");
	/* a whole block into a hole adds it; over base data adds nothing */
	do_fill(f, sp, 6 * BS, BS, 'h');
	expect_blocks(f, sp, 4 * BS / 512, "a block written into a hole");
	do_fill(f, sp, BS + 10, 1, 'x');
	expect_blocks(f, sp, 4 * BS / 512, "one byte over base data (copy-up)");
	/* punched whole base block: it counts no more */
	do_falloc(f, sp, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * BS, BS);
	expect_blocks(f, sp, 3 * BS / 512, "a base block punched");
	/* a punch inside a hole block allocates nothing */
	do_falloc(f, sp, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * BS + 100, 200);
	expect_blocks(f, sp, 3 * BS / 512, "a partial punch in a hole");
	/* truncate: the base's block 10 (500 bytes: one 4 KiB granule) and the
	 * written block 6 go; the captured 48 less the estimates leaves 8 */
	do_truncate(f, sp, 5 * BS + 100);
	expect_blocks(f, sp, 8 + BS / 512, "truncated below the last data blocks");
	reopen(f);
	expect_blocks(f, sp, 8 + BS / 512, "after a reopen");
	do_truncate(f, sp, 0);
	expect_blocks(f, sp, 0, "truncated to 0");
	do_fill(f, sp, 0, 100, 's');
	expect_blocks(f, sp, 8, "100 bytes written after a truncate to 0");

	/* a small base file: one granule, before and after a change */
	do_fill(f, sm, 0, 1, 'y');
	expect_blocks(f, sm, 8, "small base file after a one-byte change");

	/* new objects, as ext4 makes them */
	nid = do_mknod(f, d, "nf", S_IFREG | 0644);
	expect_blocks(f, nid, 0, "new empty file");
	do_fill(f, nid, 5000, 100, 'n');
	expect_blocks(f, nid, 8, "100 bytes in the second granule of a new file");
	do_fill(f, nid, 0, 1, 'n');
	expect_blocks(f, nid, 16, "then one byte in the first granule");
	big = do_mknod(f, d, "huge", S_IFREG | 0644);
	do_truncate(f, big, 1ULL << 30);
	do_fill(f, big, 1ULL << 29, BS, 'b');
	expect_blocks(f, big, BS / 512, "1 GiB file with one 8 KiB block written");
	do_falloc(f, big, FALLOC_FL_KEEP_SIZE, 0, 16 * BS);
	expect_blocks(f, big, 17 * BS / 512, "a reservation counts, as on ext4");
	expect_blocks(f, do_mknod(f, d, "nd", S_IFDIR | 0755), 8, "new directory");
	assert_int_equal(cdp_overlay_symlink(f->o, &ctx, d, "short", "target", &id, &a), 0);
	assert_int_equal(a.blocks, 0);
	assert_int_equal(cdp_overlay_symlink(f->o, &ctx, d, "long",
					     "0123456789012345678901234567890123456789"
					     "01234567890123456789", &id, &a), 0);
	expect_blocks(f, id, 8, "symlink of 60 bytes");

	/* stale bytes in the delta file below its end, where no record points:
	 * a copy-up of that block must not let them show */
	nid = do_mknod(f, d, "stale", S_IFREG | 0644);
	do_fill(f, nid, 3 * BS, 10, 'z');
	delta_file(f, nid, path, sizeof(path));
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	memset(junk, 'J', sizeof(junk));
	assert_int_equal(pwrite(fd, junk, sizeof(junk), BS + 4096), (ssize_t)sizeof(junk));
	close(fd);
	do_fill(f, nid, BS, 1, 'w');
	expect_byte_run(f, nid, BS + 1, BS - 1, 0, "a copied-up block over stale delta bytes");
	expect_blocks(f, nid, 16, "one granule in block 1, one in block 3");
}

static void expect_seek(struct fx *f, uint64_t id, uint64_t off, int want_data, int64_t want,
			const char *what)
{
	uint64_t pos = 0;
	int ret = cdp_overlay_seek(f->o, id, off, want_data, &pos);

	if (want < 0 ? ret != (int)want : ret != 0 || pos != (uint64_t)want)
		fail_msg("%s: SEEK_%s at %" PRIu64 ": expected %s%" PRId64 ", got %s %" PRIu64, what,
			 want_data ? "DATA" : "HOLE", off, want < 0 ? "error " : "", want,
			 ret ? cdp_strerror(ret) : "offset", ret ? 0 : pos);
}

/* SEEK_DATA and SEEK_HOLE per block: the base's data where the overlay
 * has no record and the base limit allows, the delta file's blocks; holes
 * where zeroed, punched, cut off or never written.  An untouched file
 * answers as the read-only view does. */
static void test_seek_data_hole(void **state)
{
	struct fx *f = *state;
	uint64_t sp = f->b.sparse, nid, pos, off;
	int want;

	/* untouched: as the base view answers */
	for (want = 0; want < 2; want++)
		for (off = 0; off < SPARSE_SIZE; off += BS / 2) {
			int r = cdp_view_seek(f->ref, sp, off, want, &pos);

			expect_seek(f, sp, off, want, r < 0 ? r : (int64_t)pos, "untouched sparse file");
		}
	expect_seek(f, sp, 0, 1, BS, "first data of the base");
	expect_seek(f, sp, 10 * BS, 0, SPARSE_SIZE, "the end counts as a hole");
	expect_seek(f, sp, SPARSE_SIZE, 1, -ENXIO, "data at the end");
	expect_seek(f, sp, SPARSE_SIZE, 0, -ENXIO, "hole at the end");
	/* a written block in a hole, a punched base block */
	do_fill(f, sp, 6 * BS + 100, 10, 'w');
	expect_seek(f, sp, 5 * BS, 1, 6 * BS, "a block written in a hole");
	expect_seek(f, sp, 6 * BS + 200, 0, 7 * BS, "hole after the written block");
	do_falloc(f, sp, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * BS, BS);
	expect_seek(f, sp, 2 * BS, 1, 6 * BS, "a punched base block is a hole");
	expect_seek(f, sp, BS + 1, 0, 2 * BS, "hole after the base's block 1");
	expect_seek(f, sp, BS + 1, 1, BS + 1, "data at an offset inside data");
	/* cut, then extended: the base's block 10 never comes back */
	do_truncate(f, sp, 8 * BS);
	expect_seek(f, sp, 7 * BS, 1, -ENXIO, "no data after a cut");
	do_truncate(f, sp, 12 * BS);
	expect_seek(f, sp, 7 * BS, 1, -ENXIO, "no data after a cut and an extension");
	expect_seek(f, sp, 7 * BS, 0, 7 * BS, "a hole after a cut and an extension");
	/* a dense base file has one hole: its end */
	expect_seek(f, f->b.exact, 0, 0, 2 * BS, "a dense file");
	/* a new file */
	nid = do_mknod(f, f->b.data, "sk", S_IFREG | 0644);
	expect_seek(f, nid, 0, 1, -ENXIO, "an empty new file");
	do_truncate(f, nid, 8 * BS);
	expect_seek(f, nid, 0, 1, -ENXIO, "a new file that is all hole");
	expect_seek(f, nid, 0, 0, 0, "a new file that is all hole");
	do_fill(f, nid, 3 * BS + 5, 1, 'n');
	expect_seek(f, nid, 0, 1, 3 * BS, "a new file's one block");
	expect_seek(f, nid, 3 * BS, 0, 4 * BS, "a new file after its one block");
	do_falloc(f, nid, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 3 * BS, BS);
	expect_seek(f, nid, 0, 1, -ENXIO, "a zeroed block");
	expect_ret(cdp_overlay_seek(f->o, f->b.data, 0, 1, &pos), -EISDIR, "seek in a directory");
}

static void test_names_valid(void **state)
{
	(void)state;
	assert_true(cdp_overlay_name_valid("a"));
	assert_true(cdp_overlay_name_valid("db01_2025-12.v2"));
	assert_false(cdp_overlay_name_valid(""));
	assert_false(cdp_overlay_name_valid(NULL));
	assert_false(cdp_overlay_name_valid(".hidden"));
	assert_false(cdp_overlay_name_valid("-opt"));
	assert_false(cdp_overlay_name_valid("a/b"));
	assert_false(cdp_overlay_name_valid("a b"));
	assert_true(cdp_overlay_name_valid("0123456789012345678901234567890123456789"
					   "012345678901234567890123"));
	assert_false(cdp_overlay_name_valid("0123456789012345678901234567890123456789"
					    "0123456789012345678901234"));
}

/* ------------------------------------------------------------ model */

/*
 * Random writes, truncates, punches, zero ranges and allocations on one
 * file of the overlay, mirrored on a plain buffer; the whole file and a
 * random range are compared after every step, and the overlay is closed
 * and reopened now and then.  A failure names the seed, the step and the
 * last operations; CDP_TEST_SEED=N runs that seed alone.
 */
#define MODEL_MAX (14 * (uint64_t)BS)
#define MODEL_STEPS 250
#define MODEL_HIST 8

struct model {
	struct fx *f;
	uint64_t id;
	uint8_t *buf;          /* MODEL_MAX + 3 blocks */
	uint64_t size;
	unsigned seed, start_seed;
	int step;
	char hist[MODEL_HIST][96];
	const char *file;
};

static void model_fail(struct model *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void model_fail(struct model *m, const char *fmt, ...)
{
	char msg[512], hist[MODEL_HIST * 100] = "";
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (i = MODEL_HIST - 1; i >= 0; i--) {
		const char *h = m->hist[(m->step - i + 2 * MODEL_HIST) % MODEL_HIST];

		if (*h) {
			strcat(hist, "\n    ");
			strcat(hist, h);
		}
	}
	fail_msg("model of %s, seed %u (CDP_TEST_SEED=%u), step %d: %s; last operations:%s",
		 m->file, m->start_seed, m->start_seed, m->step, msg, hist);
}

static uint64_t rnd(struct model *m, uint64_t n)
{
	return n ? (uint64_t)rand_r(&m->seed) % n : 0;
}

/* An offset near block boundaries more often than not. */
static uint64_t rnd_off(struct model *m, uint64_t max)
{
	uint64_t b = rnd(m, max / BS + 1);

	switch (rnd(m, 4)) {
	case 0: return b * BS < max ? b * BS : max;
	case 1: return b * BS + rnd(m, 16) < max ? b * BS + rnd(m, 16) : max;
	case 2: return b * BS >= 16 ? b * BS - 1 - rnd(m, 16) : 0;
	default: return rnd(m, max + 1);
	}
}

static void model_check(struct model *m)
{
	struct cdp_attr a;
	uint8_t *got = malloc(MODEL_MAX + 4 * BS);
	uint64_t off, len, i;
	ssize_t n;
	int ret;

	assert_non_null(got);
	ret = cdp_overlay_getattr(m->f->o, m->id, &a);
	if (ret)
		model_fail(m, "getattr failed: %s", cdp_strerror(ret));
	if (a.size != m->size)
		model_fail(m, "expected size %" PRIu64 ", got %" PRIu64, m->size, a.size);
	/* ask for more than there is: the read stops at the end (a read
	 * starting at the end is read_at_eof) */
	n = m->size ? cdp_overlay_read(m->f->o, m->id, got, m->size + BS, 0) : 0;
	if (n != (ssize_t)m->size)
		model_fail(m, "expected a whole-file read to give %" PRIu64 " bytes, got %zd", m->size,
			   n);
	for (i = 0; i < m->size; i++)
		if (got[i] != m->buf[i])
			model_fail(m, "byte %" PRIu64 " (block %" PRIu64 " + %" PRIu64 "): expected 0x%02x, "
				   "got 0x%02x", i, i / BS, i % BS, m->buf[i], got[i]);
	/* and one unaligned range */
	off = rnd(m, m->size);
	len = rnd(m, 3 * BS);
	n = m->size ? cdp_overlay_read(m->f->o, m->id, got, len, off) : 0;
	if (off + len > m->size)
		len = m->size - off;
	if (n != (ssize_t)len)
		model_fail(m, "expected a read at %" PRIu64 " to give %" PRIu64 " bytes, got %zd", off,
			   len, n);
	for (i = 0; i < len; i++)
		if (got[i] != m->buf[off + i])
			model_fail(m, "range read at %" PRIu64 ": byte %" PRIu64 ": expected 0x%02x, got "
				   "0x%02x", off, off + i, m->buf[off + i], got[i]);
	free(got);
}

static void model_step(struct model *m)
{
	struct fx *f = m->f;
	char *h = m->hist[m->step % MODEL_HIST];
	uint64_t off, len, end, newsize;
	int kind = (int)rnd(m, 100), ret;

	if (kind < 40) {                     /* write */
		uint8_t *src;
		uint64_t i, c = 'a' + rnd(m, 26);
		ssize_t n;

		off = rnd_off(m, MODEL_MAX - 1);
		len = 1 + rnd(m, rnd(m, 2) ? 64 : 3 * BS);
		if (off + len > MODEL_MAX)
			len = MODEL_MAX - off;
		src = malloc(len);
		for (i = 0; i < len; i++)
			src[i] = (uint8_t)(c + i % 7);
		snprintf(h, 96, "%d: write %" PRIu64 " bytes at %" PRIu64, m->step, len, off);
		n = cdp_overlay_write(f->o, m->id, src, len, off);
		if (n != (ssize_t)len)
			model_fail(m, "write returned %zd", n);
		memcpy(m->buf + off, src, len);
		if (off + len > m->size)
			m->size = off + len;
		free(src);
	} else if (kind < 60) {              /* truncate */
		struct cdp_attr a, out;

		memset(&a, 0, sizeof(a));
		newsize = rnd_off(m, MODEL_MAX);
		snprintf(h, 96, "%d: truncate %" PRIu64 " -> %" PRIu64, m->step, m->size, newsize);
		a.size = newsize;
		ret = cdp_overlay_setattr(f->o, m->id, &a, CDP_OVL_SET_SIZE, &out);
		if (ret)
			model_fail(m, "truncate returned %s", cdp_strerror(ret));
		if (newsize < m->size)
			memset(m->buf + newsize, 0, m->size - newsize);
		m->size = newsize;
	} else if (kind < 90) {              /* punch hole / zero range */
		int mode = rnd(m, 2) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
				       FALLOC_FL_ZERO_RANGE | (rnd(m, 2) ? FALLOC_FL_KEEP_SIZE : 0);

		off = rnd_off(m, MODEL_MAX - 1);
		len = 1 + rnd(m, 4 * BS);
		if (off + len > MODEL_MAX)
			len = MODEL_MAX - off;
		snprintf(h, 96, "%d: %s%s [%" PRIu64 ", %" PRIu64 ") size %" PRIu64, m->step,
			 mode & FALLOC_FL_PUNCH_HOLE ? "punch" : "zero range",
			 mode & FALLOC_FL_KEEP_SIZE ? " keep-size" : "", off, off + len, m->size);
		ret = cdp_overlay_fallocate(f->o, m->id, mode, off, len);
		if (ret)
			model_fail(m, "fallocate returned %s", cdp_strerror(ret));
		end = off + len;
		if ((mode & FALLOC_FL_KEEP_SIZE) && end > m->size)
			end = m->size;
		if (off < end)
			memset(m->buf + off, 0, end - off);
		if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > m->size)
			m->size = off + len;
	} else if (kind < 98) {              /* allocate */
		int keep = (int)rnd(m, 2);

		off = rnd_off(m, MODEL_MAX - 1);
		len = 1 + rnd(m, 2 * BS);
		if (off + len > MODEL_MAX)
			len = MODEL_MAX - off;
		snprintf(h, 96, "%d: fallocate%s [%" PRIu64 ", %" PRIu64 ")", m->step,
			 keep ? " keep-size" : "", off, off + len);
		ret = cdp_overlay_fallocate(f->o, m->id, keep ? FALLOC_FL_KEEP_SIZE : 0, off, len);
		if (ret)
			model_fail(m, "fallocate returned %s", cdp_strerror(ret));
		if (!keep && off + len > m->size)
			m->size = off + len;
	} else {                             /* close and reopen */
		snprintf(h, 96, "%d: close and reopen", m->step);
		reopen(f);
	}
}

static void model_run(struct fx *f, uint64_t id, const char *file, unsigned seed, int steps)
{
	struct model m;
	struct cdp_attr a;

	memset(&m, 0, sizeof(m));
	m.f = f;
	m.id = id;
	m.file = file;
	m.seed = m.start_seed = seed;
	m.buf = calloc(1, MODEL_MAX + 4 * BS);
	assert_non_null(m.buf);
	a = attr_of(f, id);
	m.size = a.size;
	if (m.size)
		base_expect(f, id, m.buf, 0, m.size);
	model_check(&m);
	for (m.step = 0; m.step < steps; m.step++) {
		model_step(&m);
		model_check(&m);
	}
	free(m.buf);
}

static void test_model(void **state)
{
	struct fx *f = *state;
	const char *env = getenv("CDP_TEST_SEED");
	unsigned seeds[] = { 1, 20251124, 777, 4242, 99 };
	size_t i;

	if (env && *env)
		for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
			seeds[i] = (unsigned)strtoul(env, NULL, 10);
	model_run(f, f->b.sparse, "sparse (base)", seeds[0], MODEL_STEPS);
	model_run(f, f->b.big, "big (base)", seeds[1], MODEL_STEPS);
	model_run(f, f->b.exact, "exact (base)", seeds[2], MODEL_STEPS);
	model_run(f, do_mknod(f, f->b.data, "model-new", S_IFREG | 0644), "a new file", seeds[3],
		  MODEL_STEPS);
	model_run(f, f->b.small, "small (base)", seeds[4], MODEL_STEPS);
}

/* ------------------------------------------------------------ regressions */

/*
 * A base object unlinked in the overlay is purged at the next open; its id
 * must not fall through to the base again (a regression: getattr used to
 * succeed with the base's attributes and link() could revive it).
 */
static void purged_base_object_stays_gone(void **state)
{
	struct fx *f = *state;
	struct cdp_attr a;
	uint8_t b[4];
	int ret;

	expect_ret(cdp_overlay_unlink(f->o, f->b.data, "small"), 0, "unlink of a base file");
	expect_nlink(f, f->b.small, 0, "unlinked base file before the reopen");
	reopen(f);
	ret = cdp_overlay_getattr(f->o, f->b.small, &a);
	if (ret != -ENOENT)
		fail_msg("getattr of a purged base file: expected -ENOENT, got %s (nlink %u, size %"
			 PRIu64 ", read gives %zd bytes)", ret ? cdp_strerror(ret) : "success",
			 a.nlink, a.size, cdp_overlay_read(f->o, f->b.small, b, sizeof(b), 0));
	expect_ret(cdp_overlay_link(f->o, f->b.small, f->b.data, "revived", &a), -ENOENT,
		   "link of a purged base file");
}

/*
 * A read at or past the end of a file returns 0 (a regression: it used to
 * return len with the buffer untouched).
 */
static void read_at_eof(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];
	uint64_t nid;
	ssize_t n;

	memset(buf, 0xee, sizeof(buf));
	n = cdp_overlay_read(f->o, f->b.small, buf, sizeof(buf), 100);
	if (n != 0)
		fail_msg("read of 16 bytes at the end (100) of a 100-byte base file: expected 0, "
			 "got %zd (buffer left 0x%02x...)", n, buf[0]);
	nid = do_mknod(f, f->b.data, "empty-file", S_IFREG | 0644);
	n = cdp_overlay_read(f->o, nid, buf, sizeof(buf), 0);
	if (n != 0)
		fail_msg("read of 16 bytes at 0 of an empty new file: expected 0, got %zd", n);
	do_truncate(f, f->b.big, 10);
	n = cdp_overlay_read(f->o, f->b.big, buf, sizeof(buf), 4096);
	if (n != 0)
		fail_msg("read past the end of a truncated file: expected 0, got %zd", n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_as_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cow_one_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unaligned_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_zeros, setup, teardown),
		cmocka_unit_test_setup_teardown(test_punch_zero_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_nlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_whiteout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hard_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_setattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persist_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphan_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_list_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocated_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seek_data_hole, setup, teardown),
		cmocka_unit_test(test_names_valid),
		cmocka_unit_test_setup_teardown(test_model, setup, teardown),
		cmocka_unit_test_setup_teardown(purged_base_object_stays_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(read_at_eof, setup, teardown),
	};

	cdp_log_init("test_overlay", 0, LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
