/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_query.c - unit tests of the query modules (query.h): cdp_diff's
 * change lines (A, D, M with bytes, m, R of a file and of a directory, T,
 * a file replaced under its name) and its errors; cdp_file_log's versions
 * and their kinds across a rename and a deletion; cdp_restore of a small
 * tree (content, holes, link, symlink, mode, times) and of a file whose
 * chunk cannot be read (an error, nothing left at the destination); the
 * seq of an instant; the activity summary's counts per second and per
 * hour; a suspect raised by an attack on documents and not by new random
 * files.  Each test has its own store, journaled directly.
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
#include <unistd.h>

#include "query.h"
#include "store.h"
#include "store_test.h"

#define BS 8192

struct fx {
	char top[256], dir[300];
	struct cdp_store *s;
	struct cdp_journal *j;
	uint32_t root_id;
	uint64_t data;    /* /data */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	int resuming;

	snprintf(f->top, sizeof(f->top), "%s/cdp-query-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->top);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_CREATE, NULL, &f->s), 0);
	assert_int_equal(cdp_journal_open(f->s, "db01", &f->j), 0);
	assert_int_equal(cdp_journal_root_begin(f->j, "/data", &f->root_id, &resuming), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cdp_journal_close(f->j);
	cdp_store_close(f->s);
	cdp_rm_tree(f->top);
	free(f);
	return 0;
}

static struct cdp_attr attr_of(uint32_t mode, uint64_t size, int64_t mtime)
{
	struct cdp_attr a;

	memset(&a, 0, sizeof(a));
	a.mode = mode;
	a.nlink = S_ISDIR(mode) ? 2 : 1;
	a.size = size;
	a.uid = 1000;
	a.gid = 100;
	a.atime_ns = a.mtime_ns = a.ctime_ns = mtime;
	a.blocks = CDP_BLOCKS_UNKNOWN;
	return a;
}

static uint64_t new_fid(struct fx *f)
{
	uint64_t fid;

	assert_int_equal(cdp_journal_new_fid(f->j, &fid), 0);
	return fid;
}

static struct cdp_op *op_begin(struct fx *f)
{
	struct cdp_op *op;

	assert_int_equal(cdp_op_new(f->j, &op), 0);
	return op;
}

static uint64_t op_end(struct cdp_op *op)
{
	uint64_t seq;

	assert_int_equal(cdp_op_commit(op, &seq, NULL), 0);
	return seq;
}

/* A file under parent with content (len bytes, all of byte c, 0: none). */
static uint64_t add_file(struct fx *f, uint64_t parent, const char *name, size_t len, int c)
{
	struct cdp_op *op = op_begin(f);
	struct cdp_attr a = attr_of(S_IFREG | 0644, len, 1000);
	uint64_t fid = new_fid(f);
	uint8_t *buf = malloc(len + 1);

	memset(buf, c, len);
	if (len && c)
		assert_int_equal(cdp_op_data(op, fid, 0, buf, len), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, parent, name, fid, S_IFREG), 0);
	op_end(op);
	free(buf);
	return fid;
}

static uint64_t add_dir(struct fx *f, uint64_t parent, const char *name)
{
	struct cdp_op *op = op_begin(f);
	struct cdp_attr a = attr_of(S_IFDIR | 0755, 0, 1000);
	uint64_t fid = new_fid(f);

	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, parent, name, fid, S_IFDIR), 0);
	op_end(op);
	return fid;
}

static void make_root(struct fx *f)
{
	f->data = add_dir(f, CDP_ROOT_FID, "data");
	assert_int_equal(cdp_journal_root_ready(f->j, f->root_id, f->data), 0);
}

static struct cdp_view *view_now(struct fx *f)
{
	struct cdp_view *v;

	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(cdp_view_open(f->s, "db01", CDP_TS_LATEST, &v), 0);
	return v;
}

/* ---------------------------------------------------------------- diff */

struct lines {
	char buf[8192];
};

static int collect(void *arg, const struct cdp_change *c)
{
	struct lines *l = arg;
	size_t n = strlen(l->buf);

	if (c->op == 'R')
		snprintf(l->buf + n, sizeof(l->buf) - n, "R %s -> %s\n", c->old_path, c->path);
	else if (c->op == 'M')
		snprintf(l->buf + n, sizeof(l->buf) - n, "M %s %llu\n", c->path,
			 (unsigned long long)c->bytes);
	else
		snprintf(l->buf + n, sizeof(l->buf) - n, "%c %s\n", c->op, c->path);
	return 0;
}

static void expect_diff(struct cdp_view *a, struct cdp_view *b, const char *dir,
			const char *want)
{
	struct lines l = { "" };
	int ret = cdp_diff(a, b, dir, collect, &l);

	if (ret)
		fail_msg("cdp_diff of %s: expected 0, got %s", dir, cdp_strerror(ret));
	if (strcmp(l.buf, want))
		fail_msg("cdp_diff of %s: expected\n%s\ngot\n%s", dir, want, l.buf);
}

static void test_diff_lines(void **state)
{
	struct fx *f = *state;
	struct cdp_view *v1, *v2;
	struct cdp_op *op;
	struct cdp_attr a;
	uint64_t big, keep, gone, dir, moved, inner, repl;
	uint8_t blk[BS];

	make_root(f);
	big = add_file(f, f->data, "big", 4 * BS, 'a');
	keep = add_file(f, f->data, "keep", 10, 'k');
	gone = add_file(f, f->data, "gone", 10, 'g');
	dir = add_dir(f, f->data, "dir");
	inner = add_file(f, dir, "inner", 10, 'i');
	add_file(f, dir, "same", 10, 's');
	moved = add_file(f, f->data, "old-name", 3, 'o');
	add_file(f, f->data, "kind", 3, 'x');
	add_file(f, f->data, "replaced", 5, 'r');
	v1 = view_now(f);

	/* one block of big rewritten */
	memset(blk, 'b', sizeof(blk));
	op = op_begin(f);
	assert_int_equal(cdp_op_data(op, big, 2 * BS, blk, BS), 0);
	a = attr_of(S_IFREG | 0644, 4 * BS, 2000);
	assert_int_equal(cdp_op_attr(op, big, &a, NULL), 0);
	op_end(op);
	/* keep: chmod only */
	op = op_begin(f);
	a = attr_of(S_IFREG | 0600, 10, 1000);
	assert_int_equal(cdp_op_attr(op, keep, &a, NULL), 0);
	op_end(op);
	/* gone: deleted */
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, f->data, "gone", 0, S_IFREG), 0);
	op_end(op);
	(void)gone;
	/* dir renamed to dir2, inner changed inside it */
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, f->data, "dir", 0, S_IFDIR), 0);
	assert_int_equal(cdp_op_dirent(op, f->data, "dir2", dir, S_IFDIR), 0);
	op_end(op);
	op = op_begin(f);
	memset(blk, 'j', 10);
	assert_int_equal(cdp_op_data(op, inner, 0, blk, 10), 0);
	a = attr_of(S_IFREG | 0644, 10, 3000);
	assert_int_equal(cdp_op_attr(op, inner, &a, NULL), 0);
	op_end(op);
	/* old-name renamed */
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, f->data, "old-name", 0, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, f->data, "new-name", moved, S_IFREG), 0);
	op_end(op);
	/* kind: a file becomes a directory */
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, f->data, "kind", 0, S_IFREG), 0);
	op_end(op);
	add_dir(f, f->data, "kind");
	/* replaced: another file renamed over it, other content */
	repl = add_file(f, f->data, ".tmp", 5, 'R');
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, f->data, ".tmp", 0, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, f->data, "replaced", repl, S_IFREG), 0);
	op_end(op);
	/* added */
	add_file(f, f->data, "added", 7, 'n');
	v2 = view_now(f);

	expect_diff(v1, v2, "/data",
		    "A /data/added\n"
		    "M /data/big 8192\n"
		    "R /data/dir -> /data/dir2\n"
		    "M /data/dir2/inner 10\n"
		    "D /data/gone\n"
		    "m /data/keep\n"
		    "T /data/kind\n"
		    "R /data/old-name -> /data/new-name\n"
		    "M /data/replaced 5\n");
	/* backwards: the same changes read the other way */
	expect_diff(v2, v1, "/data",
		    "D /data/added\n"
		    "M /data/big 8192\n"
		    "R /data/dir2 -> /data/dir\n"
		    "M /data/dir/inner 10\n"
		    "A /data/gone\n"
		    "m /data/keep\n"
		    "T /data/kind\n"
		    "R /data/new-name -> /data/old-name\n"
		    "M /data/replaced 5\n");
	/* a view with itself: nothing */
	expect_diff(v2, v2, "/data", "");
	/* a subtree that exists at one view only: all of it added */
	expect_diff(v1, v2, "/data/dir2", "A /data/dir2/inner\nA /data/dir2/same\n");
	cdp_view_free(v1);
	cdp_view_free(v2);
}

static void test_diff_errors(void **state)
{
	struct fx *f = *state;
	struct cdp_journal *j2;
	struct cdp_view *v, *other;
	struct lines l = { "" };
	uint32_t rid;
	int resuming;

	make_root(f);
	add_file(f, f->data, "file", 3, 'f');
	assert_int_equal(cdp_journal_open(f->s, "db02", &j2), 0);
	assert_int_equal(cdp_journal_root_begin(j2, "/x", &rid, &resuming), 0);
	assert_int_equal(cdp_journal_root_ready(j2, rid, CDP_ROOT_FID), 0);
	assert_int_equal(cdp_journal_sync(j2), 0);
	v = view_now(f);
	assert_int_equal(cdp_view_open(f->s, "db02", CDP_TS_LATEST, &other), 0);
	assert_int_equal(cdp_diff(v, other, "/", collect, &l), -EINVAL);
	assert_int_equal(cdp_diff(v, v, "/nowhere", collect, &l), -ENOENT);
	assert_int_equal(cdp_diff(v, v, "/data/file", collect, &l), -ENOTDIR);
	assert_int_equal(cdp_diff(v, v, "relative", collect, &l), -EINVAL);
	cdp_view_free(other);
	cdp_view_free(v);
	cdp_journal_close(j2);
}

/* ----------------------------------------------------------------- log */

static int collect_versions(void *arg, const struct cdp_file_version *v)
{
	struct lines *l = arg;
	size_t n = strlen(l->buf);

	snprintf(l->buf + n, sizeof(l->buf) - n, "%x %llu %s%s%s\n", v->what,
		 (unsigned long long)v->size, v->from ? v->from : v->path ? v->path : "-",
		 v->to ? ">" : "", v->to ? v->to : "");
	return 0;
}

static void test_file_log(void **state)
{
	struct fx *f = *state;
	struct cdp_op *op;
	struct cdp_attr a;
	struct lines l = { "" };
	uint64_t fid, got = 0, sub;
	uint8_t blk[100];
	char want[1024];

	make_root(f);
	sub = add_dir(f, f->data, "sub");
	fid = add_file(f, f->data, "f", 0, 0);
	memset(blk, 'w', sizeof(blk));
	op = op_begin(f);
	assert_int_equal(cdp_op_data(op, fid, 0, blk, sizeof(blk)), 0);
	a = attr_of(S_IFREG | 0644, sizeof(blk), 2000);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	op_end(op);
	op = op_begin(f);
	a = attr_of(S_IFREG | 0600, sizeof(blk), 2000);
	a.uid = 7;
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	op_end(op);
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, f->data, "f", 0, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, sub, "g", fid, S_IFREG), 0);
	op_end(op);
	op = op_begin(f);
	assert_int_equal(cdp_op_xattr(op, fid, "user.x", "1", 1), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	op_end(op);
	op = op_begin(f);
	assert_int_equal(cdp_op_zero(op, fid, 0, UINT64_MAX), 0);
	a.size = 0;
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	op_end(op);
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, sub, "g", 0, S_IFREG), 0);
	op_end(op);
	add_file(f, f->data, "other", 3, 'o');
	assert_int_equal(cdp_journal_sync(f->j), 0);

	/* from the first name, which is gone */
	assert_int_equal(cdp_file_log(f->s, "db01", "/data/f", 0, CDP_SEQ_LATEST, &got,
				      collect_versions, &l), 0);
	assert_int_equal(got, fid);
	snprintf(want, sizeof(want),
		 "%x 0 /data/f\n%x 100 /data/f\n%x 100 /data/f\n%x 100 /data/f>/data/sub/g\n"
		 "%x 100 /data/sub/g\n%x 0 /data/sub/g\n%x 0 /data/sub/g\n",
		 CDP_VER_CREATE, CDP_VER_WRITE, CDP_VER_CHMOD | CDP_VER_CHOWN, CDP_VER_RENAME,
		 CDP_VER_XATTR, CDP_VER_TRUNCATE, CDP_VER_DELETE);
	if (strcmp(l.buf, want))
		fail_msg("log of /data/f: expected\n%s\ngot\n%s", want, l.buf);
	/* the same from its last name */
	l.buf[0] = 0;
	assert_int_equal(cdp_file_log(f->s, "db01", "/data/sub/g", 0, CDP_SEQ_LATEST, &got,
				      collect_versions, &l), 0);
	if (strcmp(l.buf, want))
		fail_msg("log of /data/sub/g: expected\n%s\ngot\n%s", want, l.buf);
	assert_int_equal(cdp_file_log(f->s, "db01", "/data/never", 0, CDP_SEQ_LATEST, &got,
				      collect_versions, &l), -ENOENT);
	assert_int_equal(cdp_file_log(f->s, "db01", "data/f", 0, CDP_SEQ_LATEST, &got,
				      collect_versions, &l), -EINVAL);
	assert_int_equal(cdp_file_log(f->s, "nohost", "/data/f", 0, CDP_SEQ_LATEST, &got,
				      collect_versions, &l), -CDP_ENOHOST);
}

/* ------------------------------------------------------------- restore */

static ssize_t (*real_pread)(int, void *, size_t, off_t);

static ssize_t failing_pread(int fd, void *buf, size_t len, off_t off)
{
	(void)fd; (void)buf; (void)len; (void)off;
	errno = EIO;
	return -1;
}

static void test_restore(void **state)
{
	struct fx *f = *state;
	struct cdp_restore_progress st;
	struct cdp_store *reader;
	struct cdp_view *v;
	struct cdp_op *op;
	struct cdp_attr a;
	struct stat sb, sb2;
	uint64_t fid, sub, link_fid;
	uint8_t blk[BS], got[BS];
	char dest[400], path[500], err[512], target[64];
	FILE *fp;
	int ret;

	make_root(f);
	sub = add_dir(f, f->data, "sub");
	/* a sparse file: data in block 0 and block 100 */
	fid = new_fid(f);
	op = op_begin(f);
	memset(blk, 'd', sizeof(blk));
	assert_int_equal(cdp_op_data(op, fid, 0, blk, BS), 0);
	assert_int_equal(cdp_op_data(op, fid, 100 * BS, blk, 10), 0);
	a = attr_of(S_IFREG | 0640, 100 * BS + 10, 1500000000123456789LL);
	a.nlink = 2;
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	assert_int_equal(cdp_op_dirent(op, f->data, "sparse", fid, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, sub, "hard", fid, S_IFREG), 0);
	op_end(op);
	link_fid = new_fid(f);
	op = op_begin(f);
	a = attr_of(S_IFLNK | 0777, 6, 1000);
	assert_int_equal(cdp_op_attr(op, link_fid, &a, "sparse"), 0);
	assert_int_equal(cdp_op_dirent(op, sub, "sym", link_fid, S_IFLNK), 0);
	op_end(op);
	v = view_now(f);

	snprintf(dest, sizeof(dest), "%s/out", f->top);
	ret = cdp_restore(v, "/data", dest, 0, NULL, NULL, NULL, &st, err, sizeof(err));
	if (ret)
		fail_msg("restore: expected 0, got %s: %s", cdp_strerror(ret), err);
	assert_int_equal(st.files_done, 1);
	assert_int_equal(st.hardlinks, 1);
	assert_int_equal(st.symlinks, 1);
	snprintf(path, sizeof(path), "%s/sparse", dest);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 100 * BS + 10);
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_int_equal(sb.st_mtim.tv_sec, 1500000000);
	assert_int_equal(sb.st_mtim.tv_nsec, 123456789);
	if (sb.st_blocks * 512 > 4 * BS)
		fail_msg("restored sparse file: expected its hole kept, got %lld bytes allocated",
			 (long long)sb.st_blocks * 512);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(got, 1, BS, fp), BS);
	assert_memory_equal(got, blk, BS);
	fseek(fp, 50 * BS, SEEK_SET);
	assert_int_equal(fread(got, 1, BS, fp), BS);
	memset(blk, 0, sizeof(blk));
	assert_memory_equal(got, blk, BS);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/sub/hard", dest);
	assert_int_equal(stat(path, &sb2), 0);
	assert_int_equal(sb2.st_ino, sb.st_ino);
	snprintf(path, sizeof(path), "%s/sub/sym", dest);
	assert_int_equal(readlink(path, target, sizeof(target)), 6);

	/* DEST exists: refused, then --overwrite */
	assert_int_equal(cdp_restore(v, "/data", dest, 0, NULL, NULL, NULL, &st, err,
				     sizeof(err)), -EEXIST);
	assert_int_equal(cdp_restore(v, "/data", dest, CDP_RESTORE_OVERWRITE, NULL, NULL, NULL,
				     &st, err, sizeof(err)), 0);
	assert_int_equal(st.replaced, 3);

	/* what a killed --overwrite leaves: its marker beside DEST and a
	 * temporary file; without --overwrite DEST is said partly restored,
	 * with it the restore finishes and both go */
	snprintf(path, sizeof(path), "%s/.out.cdpfs-restore-incomplete", f->top);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/sub/.hard.cdpfs-restore-Ab12Cd", dest);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(cdp_restore(v, "/data", dest, 0, NULL, NULL, NULL, &st, err,
				     sizeof(err)), -EEXIST);
	if (!strstr(err, "is partly restored"))
		fail_msg("restore onto a partly restored DEST: expected 'is partly restored', got "
			 "'%s'", err);
	assert_int_equal(cdp_restore(v, "/data", dest, CDP_RESTORE_OVERWRITE, NULL, NULL, NULL,
				     &st, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &sb2), -1);
	assert_int_equal(st.kept, 0);
	snprintf(path, sizeof(path), "%s/.out.cdpfs-restore-incomplete", f->top);
	assert_int_equal(lstat(path, &sb2), -1);

	/* what a killed restore to a new DEST leaves: the partial tree beside
	 * it, which the next restore removes */
	snprintf(dest, sizeof(dest), "%s/new", f->top);
	snprintf(path, sizeof(path), "%s/.new.cdpfs-restore-partial", f->top);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.new.cdpfs-restore-partial/stale", f->top);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(cdp_restore(v, "/data", dest, 0, NULL, NULL, NULL, &st, err,
				     sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/.new.cdpfs-restore-partial", f->top);
	assert_int_equal(lstat(path, &sb2), -1);
	snprintf(path, sizeof(path), "%s/stale", dest);
	assert_int_equal(lstat(path, &sb2), -1);
	snprintf(path, sizeof(path), "%s/sparse", dest);
	assert_int_equal(lstat(path, &sb2), 0);

	/* chunks that cannot be read (a reader of its own: an empty block
	 * cache): an error naming the file, nothing at the destination */
	cdp_view_free(v);
	assert_int_equal(cdp_store_open(f->dir, CDP_STORE_READ, NULL, &reader), 0);
	assert_int_equal(cdp_view_open(reader, "db01", CDP_TS_LATEST, &v), 0);
	snprintf(dest, sizeof(dest), "%s/bad", f->top);
	real_pread = cdp_sys.pread;
	cdp_sys.pread = failing_pread;
	ret = cdp_restore(v, "/data/sparse", dest, 0, NULL, NULL, NULL, &st, err, sizeof(err));
	cdp_sys.pread = real_pread;
	if (ret != -EIO)
		fail_msg("restore with unreadable chunks: expected EIO, got %s", cdp_strerror(ret));
	if (!strstr(err, "/data/sparse"))
		fail_msg("a chunk read error: expected the message to name /data/sparse, got '%s'",
			 err);
	assert_int_equal(lstat(dest, &sb), -1);
	snprintf(path, sizeof(path), "%s/.bad.cdpfs-restore-partial", f->top);
	assert_int_equal(lstat(path, &sb), -1);
	if (!strstr(err, "nothing restored at"))
		fail_msg("a failed restore: expected 'nothing restored at' in '%s'", err);
	snprintf(path, sizeof(path), "%s", f->top);
	cdp_view_free(v);
	cdp_store_close(reader);
}

/* ------------------------------------------------------------ activity */

static int sum_activity(void *arg, const struct cdp_activity *a)
{
	struct cdp_activity *t = arg;
	int i;

	for (i = 0; i < CDP_ACT_COUNTERS; i++)
		t->c[i] += a->c[i];
	t->seconds++;   /* intervals seen */
	return 0;
}

static void test_activity(void **state)
{
	struct fx *f = *state;
	struct cdp_activity per_s = { 0 }, per_h = { 0 }, per_root = { 0 }, other = { 0 };
	struct cdp_op *op;
	uint64_t fid, moved;
	int64_t start = cdp_now_ns() - 1000000000;
	int i;

	make_root(f);
	for (i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		fid = add_file(f, f->data, name, BS, 'x');   /* a create with one block */
	}
	moved = fid;
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, f->data, "f3", 0, S_IFREG), 0);
	assert_int_equal(cdp_op_dirent(op, f->data, "g3", moved, S_IFREG), 0);
	op_end(op);
	op = op_begin(f);
	assert_int_equal(cdp_op_dirent(op, f->data, "f0", 0, S_IFREG), 0);
	op_end(op);
	op = op_begin(f);
	cdp_op_set_root(op, 5);   /* the cut comes through protected directory 5 */
	assert_int_equal(cdp_op_zero(op, moved, 0, UINT64_MAX), 0);
	op_end(op);
	assert_int_equal(cdp_journal_sync(f->j), 0);
	/* per directory: root 5 has that op alone, root 6 nothing */
	assert_int_equal(cdp_activity_read(f->s, "db01", 5, start, cdp_now_ns(), 1, sum_activity,
					   &per_root), 0);
	if (per_root.c[CDP_ACT_OPS] != 1 || per_root.c[CDP_ACT_TRUNCATED] != 1 ||
	    per_root.c[CDP_ACT_CREATED] != 0)
		fail_msg("timeline of root 5: expected 1 op, 1 truncate, 0 creates, got %llu, %llu, "
			 "%llu", (unsigned long long)per_root.c[CDP_ACT_OPS],
			 (unsigned long long)per_root.c[CDP_ACT_TRUNCATED],
			 (unsigned long long)per_root.c[CDP_ACT_CREATED]);
	assert_int_equal(cdp_activity_read(f->s, "db01", 6, start, cdp_now_ns(), 1, sum_activity,
					   &other), 0);
	assert_int_equal(other.c[CDP_ACT_OPS], 0);
	assert_int_equal(cdp_activity_read(f->s, "db01", 0, start, cdp_now_ns(), 1, sum_activity,
					   &per_s), 0);
	assert_int_equal(cdp_activity_read(f->s, "db01", 0, start - 3600000000000LL, cdp_now_ns(),
					   3600, sum_activity, &per_h), 0);
	/* make_root's op (a create) and the 4 files, a rename, a delete, a cut */
	assert_int_equal(per_s.c[CDP_ACT_CREATED], 5);
	assert_int_equal(per_s.c[CDP_ACT_RENAMED], 1);
	assert_int_equal(per_s.c[CDP_ACT_DELETED], 1);
	assert_int_equal(per_s.c[CDP_ACT_TRUNCATED], 1);
	assert_int_equal(per_s.c[CDP_ACT_BYTES], 4 * BS);
	assert_int_equal(per_s.c[CDP_ACT_OPS], 8);
	assert_int_equal(per_s.c[CDP_ACT_SCORE], 0);   /* nothing random overwritten */
	for (i = 0; i < CDP_ACT_COUNTERS; i++)
		if (per_h.c[i] != per_s.c[i])
			fail_msg("activity counter %d: %llu per second, %llu per hour", i,
				 (unsigned long long)per_s.c[i], (unsigned long long)per_h.c[i]);
	assert_true(per_h.seconds >= 1 && per_h.seconds <= 2);   /* an hour may turn */
	assert_int_equal(cdp_activity_read(f->s, "db01", 0, start, cdp_now_ns(), 0, sum_activity,
					   &per_s), -EINVAL);
	assert_int_equal(cdp_activity_read(f->s, "nohost", 0, start, cdp_now_ns(), 1, sum_activity,
					   &per_s), -CDP_ENOHOST);
}

/* ------------------------------------------------------------ suspects */

static int count_suspects(void *arg, const struct cdp_suspect_interval *si)
{
	struct cdp_suspect_interval *last = arg;

	*last = *si;
	last->nfids += 1000;   /* intervals seen, above any real count */
	return 0;
}

static void random_fill(uint8_t *buf, size_t len, unsigned *seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		*seed = *seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(*seed >> 16);
	}
}

static void test_suspects(void **state)
{
	struct fx *f = *state;
	struct cdp_suspect_interval si = { 0 };
	struct cdp_suspect_opened opened;
	struct cdp_activity tl;
	struct cdp_op *op;
	struct cdp_attr a;
	uint64_t fids[40];
	uint8_t blk[BS];
	unsigned seed = 7;
	int64_t before = 0;
	char name[32], newname[40];
	int i;

	make_root(f);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "doc%d", i);
		fids[i] = add_file(f, f->data, name, BS, 'a' + i % 20);   /* compressible */
	}
	/* benign: new files of random bytes (compressed media copied in) */
	for (i = 0; i < 40; i++) {
		uint64_t fid = new_fid(f);

		snprintf(name, sizeof(name), "media%d.jpg", i);
		random_fill(blk, sizeof(blk), &seed);
		op = op_begin(f);
		assert_int_equal(cdp_op_data(op, fid, 0, blk, BS), 0);
		a = attr_of(S_IFREG | 0644, BS, 2000);
		assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
		assert_int_equal(cdp_op_dirent(op, f->data, name, fid, S_IFREG), 0);
		op_end(op);
	}
	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(cdp_suspects(f->s, "db01", count_suspects, &si), 0);
	if (si.nfids >= 1000)
		fail_msg("new random files raised a suspect (score %u)", si.max_score);
	/* the documents' creation is more than the new-file grace behind:
	 * an attack on files made just now would not count; wait it out */
	sleep(6);
	assert_int_equal(cdp_journal_suspect_config(f->j, 0, 2, 0, 0), -EINVAL);
	assert_int_equal(cdp_journal_suspect_config(f->j, 0, 1, 1000001, 0), -EINVAL);
	cdp_journal_suspects_opened(f->j, &opened);
	assert_int_equal(opened.count, 0);
	/* the first half of the attack comes through a root whose detection is
	 * off (per directory): it scores nothing; the host's default (root 0,
	 * the rest) first off, then on again */
	assert_int_equal(cdp_journal_suspect_config(f->j, 7, 0, 0, 0), 0);
	assert_int_equal(cdp_journal_suspect_config(f->j, 0, 0, 0, 0), 0);
	assert_int_equal(cdp_journal_suspect_config(f->j, 0, 1, 3, 30), 0);
	for (i = 0; i < 40; i++) {
		if (i == 20) {
			assert_int_equal(cdp_journal_sync(f->j), 0);
			assert_int_equal(cdp_suspects(f->s, "db01", count_suspects, &si), 0);
			if (si.nfids >= 1000)
				fail_msg("an attack on a root with detection off raised a suspect "
					 "(score %u)", si.max_score);
			before = cdp_now_ns();
		}
		random_fill(blk, sizeof(blk), &seed);
		op = op_begin(f);
		if (i < 20)
			cdp_op_set_root(op, 7);
		assert_int_equal(cdp_op_data(op, fids[i], 0, blk, BS), 0);
		a = attr_of(S_IFREG | 0644, BS, 3000);
		assert_int_equal(cdp_op_attr(op, fids[i], &a, NULL), 0);
		op_end(op);
		snprintf(name, sizeof(name), "doc%d", i);
		snprintf(newname, sizeof(newname), "doc%d.locked", i);
		op = op_begin(f);
		if (i < 20)
			cdp_op_set_root(op, 7);
		assert_int_equal(cdp_op_dirent(op, f->data, name, 0, S_IFREG), 0);
		assert_int_equal(cdp_op_dirent(op, f->data, newname, fids[i], S_IFREG), 0);
		op_end(op);
	}
	assert_int_equal(cdp_journal_sync(f->j), 0);
	memset(&si, 0, sizeof(si));
	assert_int_equal(cdp_suspects(f->s, "db01", count_suspects, &si), 0);
	if (si.nfids != 1000 + 16)
		fail_msg("an attack on 20 files: expected one interval naming 16 files, got %zu "
			 "intervals/files", si.nfids);
	assert_true(si.last_good_ns >= before - 1 && si.last_good_ns < si.start_ns);
	assert_true(si.overwritten >= 15 && si.renamed >= 15);
	assert_int_equal(si.fids[0], fids[20]);
	/* the timeline's anomaly column holds the attack's score, and none of
	 * the half made with detection off */
	memset(&tl, 0, sizeof(tl));
	assert_int_equal(cdp_activity_read(f->s, "db01", 0, before - 1000000000LL, cdp_now_ns(), 3600,
					   sum_activity, &tl), 0);
	if (tl.c[CDP_ACT_SCORE] < 30 || tl.c[CDP_ACT_SCORE] > 40)
		fail_msg("timeline score of an attack on 20 files (40 scored events with detection "
			 "on): expected 30 to 40, got %llu", (unsigned long long)tl.c[CDP_ACT_SCORE]);
	/* what the capture daemon's suspect_activity alert reads */
	cdp_journal_suspects_opened(f->j, &opened);
	if (opened.count != 1 || opened.start_ns != si.start_ns || opened.root_id != 0 ||
	    opened.last_good_ns != si.last_good_ns || opened.score < 30)
		fail_msg("opened: expected 1 interval from %lld with a score of 30 or more, got "
			 "%llu from %lld, score %u", (long long)si.start_ns,
			 (unsigned long long)opened.count, (long long)opened.start_ns,
			 opened.score);
	assert_int_equal(cdp_suspects(f->s, "nohost", count_suspects, &si), -CDP_ENOHOST);
}

/* --------------------------------------------------------------- tools */

static void test_seq_at(void **state)
{
	struct fx *f = *state;
	uint64_t seq, last;
	int64_t ts;

	make_root(f);
	last = 0;
	add_file(f, f->data, "a", 1, 'a');
	assert_int_equal(cdp_journal_sync(f->j), 0);
	assert_int_equal(cdp_host_seq_at(f->s, "db01", CDP_TS_LATEST, &last, &ts), 0);
	assert_true(last >= 2);
	assert_int_equal(cdp_host_seq_at(f->s, "db01", ts, &seq, &ts), 0);
	assert_int_equal(seq, last);
	assert_int_equal(cdp_host_seq_at(f->s, "db01", 1, &seq, &ts), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(cdp_host_seq_at(f->s, "nohost", 1, &seq, &ts), -CDP_ENOHOST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_diff_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_at, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspects, setup, teardown),
	};

	cdp_log_init("test_query", 0, 3);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
