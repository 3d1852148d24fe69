/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_audit.c - unit tests of the audit trail (store/audit.c): records
 * written and read back with the caller's identity and escaped fields; a
 * chain that verifies; a record changed, removed or inserted found at its
 * line; a torn last record reported until the next append acknowledges
 * it, and never read as a record; a disk that fills in the middle of a
 * record leaves the log as it was; a log with a bad first line refused by
 * reader and writer alike; long arguments cut; bad arguments refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "store.h"
#include "store_test.h"

struct fixture {
	char dir[64];
	char log[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cdpfs-test-audit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->log, sizeof(f->log), "%s/" CDP_AUDIT_FILE, f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cdp_rm_tree(f->dir);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ helpers */

#define MAX_RECS 16
struct recs {
	struct cdp_audit_rec r[MAX_RECS];
	size_t n;
};

static int collect(void *arg, const struct cdp_audit_rec *r)
{
	struct recs *rs = arg;

	if (rs->n < MAX_RECS)
		rs->r[rs->n++] = *r;
	return 0;
}

struct findings {
	char text[4096];
	int problems, notes;
	uint64_t first_line;
};

static void on_problem(void *arg, uint64_t line, uint64_t n, const char *what)
{
	struct findings *fd = arg;
	size_t len = strlen(fd->text);

	if (!fd->problems)
		fd->first_line = line;
	fd->problems++;
	snprintf(fd->text + len, sizeof(fd->text) - len, "line %llu: %s\n",
		 (unsigned long long)line, what);
}

static void on_note(void *arg, uint64_t line, const char *what)
{
	struct findings *fd = arg;
	size_t len = strlen(fd->text);

	fd->notes++;
	snprintf(fd->text + len, sizeof(fd->text) - len, "note line %llu: %s\n",
		 (unsigned long long)line, what);
}

static int verify(const struct fixture *f, struct findings *fd, uint64_t *records)
{
	char head[65];

	memset(fd, 0, sizeof(*fd));
	return cdp_audit_verify(f->dir, on_problem, on_note, fd, records, head);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(fp);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void spit(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* The offset of line n (1-based) in text. */
static char *line_at(char *text, int n)
{
	while (--n > 0) {
		text = strchr(text, '\n');
		assert_non_null(text);
		text++;
	}
	return text;
}

static void write_three(const struct fixture *f)
{
	assert_int_equal(cdp_audit_record(f->dir, "capture-start", "dir=/srv/a host=db01", "ok"), 0);
	assert_int_equal(cdp_audit_record(f->dir, "mount", "spec=db01@-10m\tmode=ro\nx%41",
					  "refused: no such host"), 0);
	assert_int_equal(cdp_audit_record(f->dir, "drill", "id=X", "pass"), 0);
}

/* -------------------------------------------------------------- tests */

static void test_escape(void **state)
{
	char out[64], in[] = "a\tb\nc%d\x01\x7f" "e";

	assert_int_equal(cdp_audit_escape(in, out, sizeof(out)), strlen("a%09b%0Ac%25d%01%7Fe"));
	assert_string_equal(out, "a%09b%0Ac%25d%01%7Fe");
	cdp_audit_unescape(out);
	assert_string_equal(out, in);
	/* a short buffer cuts at a whole character, never mid-escape */
	assert_int_equal(cdp_audit_escape("ab\tcd", out, 5), 2);
	assert_string_equal(out, "ab");
}

static void test_record_and_read(void **state)
{
	struct fixture *f = *state;
	struct recs *rs = calloc(1, sizeof(*rs));
	struct passwd *pw = getpwuid(getuid());
	struct findings fd;
	uint64_t records = 0;
	int64_t before = cdp_now_ns();
	char *text;

	assert_non_null(rs);
	write_three(f);
	text = slurp(f->log);
	assert_memory_equal(text, CDP_AUDIT_HEADER "\n", sizeof(CDP_AUDIT_HEADER));
	/* separators inside a field are escaped: three records, three lines */
	assert_non_null(strstr(text, "spec=db01@-10m%09mode=ro%0Ax%2541"));
	free(text);
	assert_int_equal(cdp_audit_read(f->dir, collect, rs), 0);
	assert_int_equal(rs->n, 3);
	assert_int_equal(rs->r[0].n, 1);
	assert_int_equal(rs->r[2].n, 3);
	assert_int_equal(rs->r[1].line, 3);
	assert_string_equal(rs->r[0].action, "capture-start");
	assert_string_equal(rs->r[1].args, "spec=db01@-10m\tmode=ro\nx%41");
	assert_string_equal(rs->r[1].result, "refused: no such host");
	assert_int_equal(rs->r[0].uid, (long long)getuid());
	assert_int_equal(rs->r[0].pid, (long long)getpid());
	if (pw)
		assert_string_equal(rs->r[0].user, pw->pw_name);
	assert_true(rs->r[0].ts_ns >= before - 1000 && rs->r[2].ts_ns <= cdp_now_ns());
	assert_string_equal(rs->r[1].prev_hex, rs->r[0].hash_hex);
	assert_int_equal(verify(f, &fd, &records), 0);
	assert_int_equal(records, 3);
	assert_int_equal(fd.problems, 0);
	free(rs);
}

static void test_changed_record(void **state)
{
	struct fixture *f = *state;
	struct findings fd;
	uint64_t records;
	char *text, *p;

	write_three(f);
	text = slurp(f->log);
	/* the drill's result: pass becomes fail, nothing else */
	p = strstr(line_at(text, 4), "\tpass\t");
	assert_non_null(p);
	memcpy(p, "\tfail\t", 6);
	spit(f->log, text);
	free(text);
	assert_int_equal(verify(f, &fd, &records), 1);
	assert_int_equal(fd.first_line, 4);
	if (!strstr(fd.text, "changed"))
		fail_msg("a changed record is not called changed: %s", fd.text);
}

static void test_removed_record(void **state)
{
	struct fixture *f = *state;
	struct findings fd;
	uint64_t records;
	char *text, *l3, *l4;

	write_three(f);
	text = slurp(f->log);
	l3 = line_at(text, 3);
	l4 = line_at(text, 4);
	memmove(l3, l4, strlen(l4) + 1);
	spit(f->log, text);
	free(text);
	assert_true(verify(f, &fd, &records) >= 1);
	assert_int_equal(records, 2);
	assert_int_equal(fd.first_line, 3);
	if (!strstr(fd.text, "records 2 to 2 are missing"))
		fail_msg("a removed record is not found: %s", fd.text);
}

static void test_inserted_record(void **state)
{
	struct fixture *f = *state;
	struct findings fd;
	uint64_t records;
	char *text, *copy, *l3, *l4;
	size_t len2;

	write_three(f);
	/* a valid record 2 copied in again after itself: its own hash is
	 * right, it repeats a number and the record after it no longer
	 * follows its predecessor */
	text = slurp(f->log);
	copy = calloc(1, strlen(text) * 2);
	assert_non_null(copy);
	l3 = line_at(text, 3);
	l4 = line_at(text, 4);
	len2 = (size_t)(l4 - l3);
	memcpy(copy, text, (size_t)(l4 - text));
	memcpy(copy + (l4 - text), l3, len2);
	strcpy(copy + (l4 - text) + len2, l4);
	spit(f->log, copy);
	free(copy);
	free(text);
	assert_true(verify(f, &fd, &records) >= 1);
	assert_int_equal(fd.first_line, 4);
	if (!strstr(fd.text, "inserted"))
		fail_msg("an inserted record is not found: %s", fd.text);
}

static void test_torn_tail(void **state)
{
	struct fixture *f = *state;
	struct recs *rs = calloc(1, sizeof(*rs));
	struct findings fd;
	uint64_t records;
	FILE *fp;

	assert_non_null(rs);
	write_three(f);
	/* a crash in the middle of the fourth record's write */
	fp = fopen(f->log, "a");
	assert_non_null(fp);
	fputs("4\t2026-12-02T10:00:00.000000000Z\troot\t0\t-\tvm\t12\tumount\tmountpoint=/mnt", fp);
	fclose(fp);
	assert_int_equal(verify(f, &fd, &records), 1);
	assert_int_equal(records, 3);
	assert_int_equal(fd.first_line, 5);
	if (!strstr(fd.text, "torn last record"))
		fail_msg("a torn tail is not reported: %s", fd.text);
	/* the next writer closes it and says so in the chain */
	assert_int_equal(cdp_audit_record(f->dir, "verify", "data=1", "ok"), 0);
	assert_int_equal(verify(f, &fd, &records), 0);
	assert_int_equal(fd.notes, 1);
	assert_int_equal(records, 5);
	assert_int_equal(cdp_audit_read(f->dir, collect, rs), 0);
	assert_int_equal(rs->n, 5);
	assert_string_equal(rs->r[3].action, CDP_AUDIT_TORN_ACTION);
	assert_int_equal(rs->r[3].n, 4);
	assert_string_equal(rs->r[4].action, "verify");
	assert_int_equal(rs->r[4].n, 5);
	free(rs);
}

static void test_bad_header_and_args(void **state)
{
	struct fixture *f = *state;
	struct recs *rs = calloc(1, sizeof(*rs));
	struct findings fd;
	uint64_t records;
	char path[128], *longarg;
	int ret;

	assert_non_null(rs);
	assert_int_equal(cdp_audit_record(f->dir, "", "x", "ok"), -EINVAL);
	assert_int_equal(cdp_audit_record(NULL, "a", "x", "ok"), -EINVAL);
	snprintf(path, sizeof(path), "%s/nonexistent", f->dir);
	assert_int_equal(cdp_audit_record(path, "a", "x", "ok"), -ENOENT);
	/* a store without a log: nothing to read, an intact empty chain */
	assert_int_equal(cdp_audit_read(f->dir, collect, rs), 0);
	assert_int_equal(rs->n, 0);
	assert_int_equal(verify(f, &fd, &records), 0);
	assert_int_equal(records, 0);
	/* arguments are cut, NULL ones recorded empty */
	longarg = malloc(10000);
	assert_non_null(longarg);
	memset(longarg, 'a', 9999);
	longarg[9999] = '\0';
	assert_int_equal(cdp_audit_record(f->dir, "x", longarg, NULL), 0);
	assert_int_equal(cdp_audit_read(f->dir, collect, rs), 0);
	assert_int_equal(strlen(rs->r[0].args), CDP_AUDIT_MAX_FIELD);
	assert_string_equal(rs->r[0].args + CDP_AUDIT_MAX_FIELD - 3, "...");
	assert_string_equal(rs->r[0].result, "");
	free(longarg);
	/* another first line: refused by both, and left as it is */
	spit(f->log, "something else\n");
	ret = cdp_audit_record(f->dir, "x", "y", "ok");
	assert_int_equal(ret, -CDP_ECORRUPT);
	assert_int_equal(cdp_audit_read(f->dir, collect, rs), -CDP_ECORRUPT);
	assert_int_equal(verify(f, &fd, &records), -CDP_ECORRUPT);
	{
		char *text = slurp(f->log);

		assert_string_equal(text, "something else\n");
		free(text);
	}
	free(rs);
}

/* A disk that fills in the middle of a record: half of it written, then
 * ENOSPC. */
static ssize_t half_then_full(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len / 2, off);

	if (n < 0)
		return n;
	errno = ENOSPC;
	return -1;
}

static int failing_fdatasync(int fd)
{
	errno = EIO;
	return -1;
}

static void test_disk_full(void **state)
{
	struct fixture *f = *state;
	struct findings fd;
	uint64_t records;
	char *before, *after;

	write_three(f);
	before = slurp(f->log);
	cdp_sys.pwrite = half_then_full;
	assert_int_equal(cdp_audit_record(f->dir, "mount", "spec=x", "ok"), -ENOSPC);
	cdp_sys_reset();
	/* the half record is cut off again: the log is as it was */
	after = slurp(f->log);
	assert_string_equal(after, before);
	free(after);
	assert_int_equal(verify(f, &fd, &records), 0);
	assert_int_equal(records, 3);
	/* a failed sync is reported (the record may or may not be durable) */
	cdp_sys.fdatasync = failing_fdatasync;
	assert_int_equal(cdp_audit_record(f->dir, "mount", "spec=y", "ok"), -EIO);
	cdp_sys_reset();
	/* the next record chains on whatever is there */
	assert_int_equal(cdp_audit_record(f->dir, "umount", "mountpoint=/m", "ok"), 0);
	assert_int_equal(verify(f, &fd, &records), 0);
	assert_int_equal(records, 5);
	free(before);
}

static void test_file_sha256(void **state)
{
	struct fixture *f = *state;
	char path[128], hex[65];

	snprintf(path, sizeof(path), "%s/abc", f->dir);
	spit(path, "abc");
	assert_int_equal(cdp_audit_file_sha256(path, hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	snprintf(path, sizeof(path), "%s/missing", f->dir);
	assert_int_equal(cdp_audit_file_sha256(path, hex), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test_setup_teardown(test_record_and_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inserted_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header_and_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_sha256, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
