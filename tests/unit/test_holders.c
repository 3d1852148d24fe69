/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_holders - cap_find_holders() (capture/holders.c) against real
 * processes: children that keep a working directory, an open file or a
 * memory mapping inside a directory are found, with what they hold; a
 * sibling directory whose name shares a prefix, and this process itself,
 * are not; the ignore list is honoured.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture/holders.h"

struct fx {
	char dir[PATH_MAX];      /* the directory scanned */
	char sibling[PATH_MAX];  /* DIR-x: a prefix of its name, not inside */
	char base[PATH_MAX];
	pid_t kids[3];
	int nkids;
	int ready[2];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char tmpl[] = "/tmp/cdpfs-holders.XXXXXX";

	if (!f || !mkdtemp(tmpl))
		return -1;
	snprintf(f->base, sizeof(f->base), "%s", tmpl);
	snprintf(f->dir, sizeof(f->dir), "%s/d", tmpl);
	snprintf(f->sibling, sizeof(f->sibling), "%s/d-x", tmpl);
	if (mkdir(f->dir, 0755) < 0 || mkdir(f->sibling, 0755) < 0 || pipe(f->ready) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[PATH_MAX + 16];
	int i;

	for (i = 0; i < f->nkids; i++) {
		kill(f->kids[i], SIGKILL);
		waitpid(f->kids[i], NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
	if (system(cmd) != 0)
		return -1;
	close(f->ready[0]);
	close(f->ready[1]);
	free(f);
	return 0;
}

enum hold { HOLD_CWD, HOLD_FD, HOLD_MAP };

/* A child that holds what in dir, then waits to be killed. */
static pid_t spawn(struct fx *f, const char *dir, enum hold what)
{
	char path[PATH_MAX + 8], c = 'r';
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		snprintf(path, sizeof(path), "%s/file", dir);
		fd = open(path, O_RDWR | O_CREAT, 0644);
		if (fd < 0 || ftruncate(fd, 4096) < 0)
			_exit(1);
		if (what == HOLD_CWD) {
			close(fd);
			if (chdir(dir) < 0)
				_exit(1);
		} else if (what == HOLD_MAP) {
			if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
				_exit(1);
			close(fd);
		}
		if (write(f->ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	assert_int_equal(read(f->ready[0], &c, 1), 1);
	f->kids[f->nkids++] = pid;
	return pid;
}

static const struct cap_holder *find_pid(const struct cap_holder *h, size_t n, pid_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (h[i].pid == pid)
			return &h[i];
	return NULL;
}

static void test_none(void **state)
{
	struct fx *f = *state;
	struct cap_holder h[4];
	size_t total = 99;

	assert_int_equal(cap_find_holders(f->dir, NULL, 0, h, 4, &total, NULL), 0);
	assert_int_equal(total, 0);
	assert_int_equal(cap_find_holders("relative", NULL, 0, h, 4, &total, NULL), -EINVAL);
}

static void test_each_kind(void **state)
{
	struct fx *f = *state;
	struct cap_holder h[8];
	const struct cap_holder *e;
	pid_t cwd = spawn(f, f->dir, HOLD_CWD);
	pid_t fd = spawn(f, f->dir, HOLD_FD);
	pid_t map = spawn(f, f->dir, HOLD_MAP);
	size_t total;

	assert_int_equal(cap_find_holders(f->dir, NULL, 0, h, 8, &total, NULL), 0);
	assert_int_equal(total, 3);
	e = find_pid(h, total, cwd);
	assert_non_null(e);
	assert_non_null(strstr(e->what, "working directory"));
	e = find_pid(h, total, fd);
	assert_non_null(e);
	assert_non_null(strstr(e->what, "open file"));
	assert_non_null(strstr(e->what, "/d/file"));
	e = find_pid(h, total, map);
	assert_non_null(e);
	assert_non_null(strstr(e->what, "memory mapping"));
	assert_string_not_equal(e->comm, "");
	/* a trailing slash names the same directory */
	{
		char slash[PATH_MAX + 2];

		snprintf(slash, sizeof(slash), "%s/", f->dir);
		assert_int_equal(cap_find_holders(slash, NULL, 0, h, 8, &total, NULL), 0);
		assert_int_equal(total, 3);
	}
	/* more holders than room: all counted, max filled */
	assert_int_equal(cap_find_holders(f->dir, NULL, 0, h, 1, &total, NULL), 0);
	assert_int_equal(total, 3);
	/* ignored pids are left out */
	assert_int_equal(cap_find_holders(f->dir, &fd, 1, h, 8, &total, NULL), 0);
	assert_int_equal(total, 2);
	assert_null(find_pid(h, total, fd));
}

static void test_prefix_is_not_inside(void **state)
{
	struct fx *f = *state;
	struct cap_holder h[4];
	size_t total;

	spawn(f, f->sibling, HOLD_CWD);
	spawn(f, f->sibling, HOLD_FD);
	assert_int_equal(cap_find_holders(f->dir, NULL, 0, h, 4, &total, NULL), 0);
	assert_int_equal(total, 0);
	/* this process itself is never reported */
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(cap_find_holders(f->dir, NULL, 0, h, 4, &total, NULL), 0);
	assert_int_equal(total, 0);
	assert_int_equal(chdir("/"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_is_not_inside, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
