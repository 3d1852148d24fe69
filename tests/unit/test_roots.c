/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_roots.c - unit tests of capture sessions and failure paths: a
 * session whose process died (a child that exits without ending it) is
 * treated as a crash, resumed without -EBUSY, and leaves a gap from its last
 * journaled op; the writer lock is released by a dead process; a failing
 * fdatasync degrades the journal; a failing segment read is -EIO.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "store_test.h"

#define BS 8192

static char top[256], dir[300];

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(top, sizeof(top), "%s/cdp-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(top));
	snprintf(dir, sizeof(dir), "%s/store", top);
	return 0;
}

static int teardown(void **state)
{
	cdp_sys_reset();
	cdp_rm_tree(top);
	return 0;
}

/* One op writing block 0 of fid with byte c. */
static int put_block(struct cdp_journal *j, uint64_t fid, int c, int64_t *ts)
{
	struct cdp_attr a;
	struct cdp_op *op;
	uint8_t buf[BS];

	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | 0644;
	a.size = BS;
	memset(buf, c, sizeof(buf));
	assert_int_equal(cdp_op_new(j, &op), 0);
	assert_int_equal(cdp_op_data(op, fid, 0, buf, BS), 0);
	assert_int_equal(cdp_op_attr(op, fid, &a, NULL), 0);
	if (c == 1)
		assert_int_equal(cdp_op_dirent(op, CDP_ROOT_FID, "f", fid, S_IFREG), 0);
	return cdp_op_commit(op, NULL, ts);
}

/* Runs in a child: captures, idles for 1.5 s (its heartbeats go on), then
 * dies without ending its session.  Prints the last op's instant, then the
 * instant just before the kill. */
static void crashing_child(void)
{
	struct cdp_store *s;
	struct cdp_journal *j;
	uint32_t id;
	uint64_t fid;
	int64_t ts;
	int resuming;

	if (cdp_store_open(dir, CDP_STORE_CREATE, NULL, &s) ||
	    cdp_journal_open(s, "db01", &j) ||
	    cdp_journal_root_begin(j, "/data", &id, &resuming) ||
	    cdp_journal_new_fid(j, &fid) || put_block(j, fid, 1, &ts) ||
	    cdp_journal_root_ready(j, id, CDP_ROOT_FID) || put_block(j, fid, 2, &ts) ||
	    cdp_journal_sync(j))
		_exit(2);
	usleep(1500000);
	printf("%lld %lld\n", (long long)ts, (long long)cdp_now_ns());
	fflush(stdout);
	kill(getpid(), SIGKILL);   /* a crash: no cleanup of any kind */
	_exit(3);
}

/* Runs in a child after a crash: resumes the root, journals during the
 * resync, idles 1.5 s and dies before the resync is done. */
static void resync_crashing_child(void)
{
	struct cdp_store *s;
	struct cdp_journal *j;
	uint32_t id;
	uint64_t fid;
	int64_t ts;
	int resuming;

	if (cdp_store_open(dir, CDP_STORE_WRITE, NULL, &s) ||
	    cdp_journal_open(s, "db01", &j) ||
	    cdp_journal_root_begin(j, "/data", &id, &resuming) || !resuming ||
	    cdp_journal_new_fid(j, &fid) || put_block(j, fid, 3, &ts) || cdp_journal_sync(j))
		_exit(2);
	usleep(1500000);
	kill(getpid(), SIGKILL);
	_exit(3);
}

static pid_t run_child(void (*fn)(void), char *line, size_t size)
{
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		fn();
	}
	close(pipefd[1]);
	n = read(pipefd[0], line, size - 1);
	line[n > 0 ? n : 0] = 0;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("child: expected it killed, got exit %d",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return pid;
}

/*
 * A crash during the resync that follows a crash: the gap opened by the
 * first crash is still open, and must keep its start (the first session's
 * last heartbeat), not move to the second session's activity: the resync
 * never completed, so nothing between them is known captured.
 */
static void test_crash_during_resync(void **state)
{
	struct cdp_store *s;
	struct cdp_journal *j;
	struct cdp_host_info *h;
	int64_t last_ts, killed_ts;
	char line[64];
	uint32_t id;
	size_t n;
	int resuming;

	run_child(crashing_child, line, sizeof(line));
	assert_int_equal(sscanf(line, "%" SCNd64 " %" SCNd64, &last_ts, &killed_ts), 2);
	run_child(resync_crashing_child, line, sizeof(line));
	assert_int_equal(cdp_store_open(dir, CDP_STORE_WRITE, NULL, &s), 0);
	assert_int_equal(cdp_journal_open(s, "db01", &j), 0);
	assert_int_equal(cdp_journal_root_begin(j, "/data", &id, &resuming), 0);
	assert_int_equal(cdp_journal_root_ready(j, id, CDP_ROOT_FID), 0);
	assert_int_equal(cdp_store_hosts(s, &h, &n), 0);
	assert_int_equal(h[0].roots[0].ngaps, 1);
	if (h[0].roots[0].gaps[0].from_ts_ns > killed_ts)
		fail_msg("gap after a crash during the resync: expected it to start by the "
			 "first crash (%lld), got %lld", (long long)killed_ts,
			 (long long)h[0].roots[0].gaps[0].from_ts_ns);
	cdp_host_info_free(h, n);
	cdp_journal_close(j);
	cdp_store_close(s);
}

static void test_crashed_session(void **state)
{
	struct cdp_store *s;
	struct cdp_journal *j;
	struct cdp_host_info *h;
	struct cdp_view *v;
	int resuming;
	char line[64] = "";
	int64_t last_ts, killed_ts, from;
	uint32_t id;
	uint8_t buf[BS];
	size_t n;

	run_child(crashing_child, line, sizeof(line));
	assert_int_equal(sscanf(line, "%" SCNd64 " %" SCNd64, &last_ts, &killed_ts), 2);

	/* the dead writer's lock is gone */
	assert_int_equal(cdp_store_open(dir, CDP_STORE_WRITE, NULL, &s), 0);
	assert_int_equal(cdp_store_hosts(s, &h, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].roots[0].active, 0);   /* its process is dead */
	assert_true(h[0].latest_ts_ns == last_ts);
	cdp_host_info_free(h, n);
	assert_int_equal(cdp_journal_open(s, "db01", &j), 0);
	assert_int_equal(cdp_journal_root_begin(j, "/data", &id, &resuming), 0);
	assert_int_equal(resuming, 1);
	assert_int_equal(cdp_journal_root_ready(j, id, CDP_ROOT_FID), 0);
	assert_int_equal(cdp_store_hosts(s, &h, &n), 0);
	assert_int_equal(h[0].roots[0].ngaps, 1);
	/* the gap starts at the dead session's last heartbeat: after its last
	 * op (it idled 1.5 s), within about a second of the kill */
	from = h[0].roots[0].gaps[0].from_ts_ns;
	if (from < last_ts + 400000000LL || from > killed_ts)
		fail_msg("crash gap: expected it to start between %lld (0.4 s after the last "
			 "op) and %lld (the kill), got %lld", (long long)(last_ts + 400000000LL),
			 (long long)killed_ts, (long long)from);
	assert_true(h[0].roots[0].gaps[0].to_ts_ns > last_ts);
	cdp_host_info_free(h, n);
	/* what the dead process committed is there */
	assert_int_equal(cdp_view_open(s, "db01", last_ts, &v), 0);
	{
		uint64_t fid;

		assert_int_equal(cdp_view_resolve(v, "/f", &fid), 0);
		assert_int_equal(cdp_view_read(v, fid, buf, BS, 0), BS);
		assert_int_equal(buf[0], 2);
	}
	cdp_view_free(v);
	cdp_journal_close(j);
	cdp_store_close(s);
}

static int fail_fdatasync(int fd)
{
	errno = EIO;
	return -1;
}

static ssize_t fail_pread(int fd, void *buf, size_t len, off_t off)
{
	errno = EIO;
	return -1;
}

static void test_sync_and_read_errors(void **state)
{
	struct cdp_store *s;
	struct cdp_journal *j;
	struct cdp_view *v;
	uint32_t id;
	uint64_t fid;
	uint8_t buf[BS];
	int resuming, ret;

	assert_int_equal(cdp_store_open(dir, CDP_STORE_CREATE, NULL, &s), 0);
	assert_int_equal(cdp_journal_open(s, "db01", &j), 0);
	assert_int_equal(cdp_journal_root_begin(j, "/data", &id, &resuming), 0);
	assert_int_equal(cdp_journal_new_fid(j, &fid), 0);
	assert_int_equal(put_block(j, fid, 1, NULL), 0);
	assert_int_equal(cdp_journal_root_ready(j, id, CDP_ROOT_FID), 0);

	cdp_sys.pread = fail_pread;
	assert_int_equal(cdp_view_open(s, "db01", CDP_TS_LATEST, &v), 0);
	ret = (int)cdp_view_read(v, fid, buf, BS, 0);
	if (ret != -EIO)
		fail_msg("pread failing: expected -EIO, got %d", ret);
	cdp_sys_reset();
	assert_int_equal(cdp_view_read(v, fid, buf, BS, 0), BS);
	assert_int_equal(buf[0], 1);
	cdp_view_free(v);

	cdp_sys.fdatasync = fail_fdatasync;
	assert_int_equal(put_block(j, fid, 3, NULL), 0);
	assert_int_equal(cdp_journal_sync(j), -CDP_ENOSPACE);
	assert_int_equal(cdp_journal_degraded(j, NULL), 1);
	cdp_sys_reset();
	/* the dropped op is not in the index: block 0 still holds 1 */
	assert_int_equal(cdp_view_open(s, "db01", CDP_TS_LATEST, &v), 0);
	assert_int_equal(cdp_view_read(v, fid, buf, BS, 0), BS);
	assert_int_equal(buf[0], 1);
	cdp_view_free(v);
	cdp_journal_close(j);
	cdp_store_close(s);
}

/* A killed capture daemon that its parent has not reaped yet is a zombie: it
 * holds nothing, so its session must count as dead (else a restart of
 * capture says "already captured" until init reaps it). */
static void test_zombie_is_not_alive(void **state)
{
	char path[64], buf[512];
	pid_t pid = fork();
	int i, is_zombie = 0;

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 500 && !is_zombie; i++) {
		FILE *f = fopen(path, "r");
		char *p;

		if (f && fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[2] == 'Z')
			is_zombie = 1;
		if (f)
			fclose(f);
		if (!is_zombie)
			usleep(10000);
	}
	assert_true(is_zombie);
	if (cdp_store_pid_alive((uint32_t)pid))
		fail_msg("expected zombie pid %d to count as dead, cdp_store_pid_alive said alive",
			 (int)pid);
	if (!cdp_store_pid_alive((uint32_t)getpid()))
		fail_msg("expected our own pid %d to count as alive", (int)getpid());
	waitpid(pid, NULL, 0);
	if (cdp_store_pid_alive((uint32_t)pid))
		fail_msg("expected reaped pid %d to count as dead", (int)pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: it forks, best before any RocksDB thread exists */
		cmocka_unit_test_setup_teardown(test_crashed_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_and_read_errors, setup, teardown),
		cmocka_unit_test(test_zombie_is_not_alive),
	};

	cdp_log_init("test_roots", 0, LOG_CRIT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
