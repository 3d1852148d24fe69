/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_util.c - unit tests of util/: the mount-field unescaper, the
 * mountinfo lookup (against this process's own /proc and /), array
 * growth and the ready pipe of a forked daemon.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

static void test_mount_field_unescape(void **state)
{
	char s1[] = "/mnt/a\\040b\\011c\\012d\\134e", s2[] = "x\\04", s3[] = "x\\0a9y";

	(void)state;
	cdp_mount_field_unescape(s1);
	assert_string_equal(s1, "/mnt/a b\tc\nd\\e");
	cdp_mount_field_unescape(s2);
	assert_string_equal(s2, "x\\04");
	cdp_mount_field_unescape(s3);
	assert_string_equal(s3, "x\\0a9y");
}

static void test_mount_listed(void **state)
{
	(void)state;
	assert_int_equal(cdp_mount_listed("/", NULL, NULL), 1);
	assert_int_equal(cdp_mount_listed("/proc", "proc", NULL), 1);
	assert_int_equal(cdp_mount_listed("/proc", "proc", "proc"), 1);
	assert_int_equal(cdp_mount_listed("/proc", "fuse.cdpfs", NULL), 0);
	assert_int_equal(cdp_mount_listed("/proc", "proc", "cdpfs-capture"), 0);
	assert_int_equal(cdp_mount_listed("/no/such/mount/point", NULL, NULL), 0);
}

static void test_array_grow(void **state)
{
	size_t cap = 0, n;
	int *a = NULL, *g;

	(void)state;
	for (n = 0; n < 100; n++) {
		g = cdp_array_grow(a, &cap, n, sizeof(*a), 4);
		assert_non_null(g);
		a = g;
		assert_true(cap > n);
		a[n] = (int)n;
	}
	assert_int_equal(cap, 128);
	for (n = 0; n < 100; n++)
		assert_int_equal(a[n], (int)n);
	/* room left: the same array */
	assert_ptr_equal(cdp_array_grow(a, &cap, 100, sizeof(*a), 4), a);
	free(a);
	/* a size that overflows fails and leaves the array alone */
	cap = SIZE_MAX / 2 + 1;
	assert_null(cdp_array_grow(NULL, &cap, cap, 1, 4));
	assert_int_equal(cap, SIZE_MAX / 2 + 1);
}

/* Room for need elements at once, doubling from first_cap. */
static void test_array_reserve(void **state)
{
	size_t cap = 0, i;
	int *v = NULL, *n;

	(void)state;
	n = cdp_array_reserve(v, &cap, 1, sizeof(*v), 16);
	assert_non_null(n);
	assert_int_equal(cap, 16);
	v = n;
	for (i = 0; i < 16; i++)
		v[i] = (int)i;
	/* already big enough: the same array */
	assert_ptr_equal(cdp_array_reserve(v, &cap, 16, sizeof(*v), 16), v);
	assert_int_equal(cap, 16);
	n = cdp_array_reserve(v, &cap, 17, sizeof(*v), 16);
	assert_non_null(n);
	assert_int_equal(cap, 32);
	v = n;
	n = cdp_array_reserve(v, &cap, 100, sizeof(*v), 16);
	assert_non_null(n);
	assert_int_equal(cap, 128);
	v = n;
	for (i = 0; i < 16; i++)
		assert_int_equal(v[i], (int)i);
	/* too big: NULL, and the array and its capacity as they were */
	assert_null(cdp_array_reserve(v, &cap, SIZE_MAX / 2, sizeof(*v), 16));
	assert_int_equal(cap, 128);
	free(v);

	/* first_cap 0 still grows */
	cap = 0;
	v = cdp_array_reserve(NULL, &cap, 3, sizeof(*v), 0);
	assert_non_null(v);
	assert_true(cap >= 3);
	free(v);
}

/* A child says ready with info, or fails with a message that holds a
 * newline and a backslash, or exits saying nothing: the parent hears each
 * word as it was said. */
static void test_daemon_ready_pipe(void **state)
{
	static const char *const said[] = { "mounted 'a\\b' on '/x\ny'", "no host 'db\n02'" };
	char msg[256];
	int fd, status, i;
	pid_t pid;

	(void)state;
	for (i = 0; i < 3; i++) {
		pid = cdp_daemon_fork(&fd, "", "test daemon", msg, sizeof(msg));
		assert_true(pid >= 0);
		if (pid == 0) {
			if (i == 0)
				cdp_daemon_ready(fd, said[0]);
			else if (i == 1)
				cdp_daemon_failed(fd, said[1]);
			_exit(i == 0 ? 0 : 3);
		}
		status = -1;
		switch (cdp_daemon_wait(fd, pid, msg, sizeof(msg), &status)) {
		case CDP_DAEMON_READY:
			assert_int_equal(i, 0);
			assert_string_equal(msg, said[0]);
			waitpid(pid, NULL, 0);
			break;
		case CDP_DAEMON_FAILED:
			assert_int_equal(i, 1);
			assert_string_equal(msg, said[1]);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
			break;
		case CDP_DAEMON_GONE:
			assert_int_equal(i, 2);
			assert_string_equal(msg, "");
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
			break;
		}
	}
}

/* The stop signals come through the signalfd; a piped child starts with
 * none of them blocked and writes to its parent. */
static void test_stop_signals_and_piped_child(void **state)
{
	struct signalfd_siginfo si;
	sigset_t now;
	char c = 0;
	int sfd, fds[2], status;
	pid_t pid;

	sfd = cdp_stop_signalfd(SIGCHLD);
	assert_true(sfd >= 0);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	assert_true(sigismember(&now, SIGTERM));
	assert_true(sigismember(&now, SIGCHLD));
	pid = cdp_fork_pipe(fds);
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t mask;

		close(fds[0]);
		sigprocmask(SIG_BLOCK, NULL, &mask);
		c = sigismember(&mask, SIGTERM) || sigismember(&mask, SIGCHLD) ? 'b' : 'u';
		_exit(write(fds[1], &c, 1) == 1 ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	assert_int_equal(c, 'u');
	close(fds[0]);
	assert_int_equal(read(sfd, &si, sizeof(si)), (ssize_t)sizeof(si));
	assert_int_equal(si.ssi_signo, SIGCHLD);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kill(getpid(), SIGTERM);
	assert_int_equal(read(sfd, &si, sizeof(si)), (ssize_t)sizeof(si));
	assert_int_equal(si.ssi_signo, SIGTERM);
	close(sfd);
	pthread_sigmask(SIG_UNBLOCK, &now, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mount_field_unescape),
		cmocka_unit_test(test_mount_listed),
		cmocka_unit_test(test_array_grow),
		cmocka_unit_test(test_array_reserve),
		cmocka_unit_test(test_daemon_ready_pipe),
		cmocka_unit_test(test_stop_signals_and_piped_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
