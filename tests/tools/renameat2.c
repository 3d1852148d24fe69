/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * renameat2 - calls renameat2(2) with the flags named on the command line,
 * because Debian 12's coreutils has no `mv --exchange`.  The integration
 * tests use it to drive RENAME_NOREPLACE and RENAME_EXCHANGE through the
 * capture mount and the overlay.
 *
 * Usage: renameat2 noreplace|exchange|whiteout|whiteout-noreplace|plain OLD NEW
 * (whiteout is RENAME_WHITEOUT, which leaves a character device 0:0 at OLD;
 * it needs CAP_MKNOD.)
 * Exit status 0 on success; on failure prints "renameat2: ERRNO_NAME: reason"
 * on stderr (ERRNO_NAME such as EEXIST) and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

int main(int argc, char **argv)
{
	unsigned flags;

	if (argc != 4) {
		fprintf(stderr, "usage: renameat2 noreplace|exchange|whiteout|whiteout-noreplace|plain "
			"OLD NEW\n");
		return 2;
	}
	if (strcmp(argv[1], "noreplace") == 0) {
		flags = RENAME_NOREPLACE;
	} else if (strcmp(argv[1], "exchange") == 0) {
		flags = RENAME_EXCHANGE;
	} else if (strcmp(argv[1], "whiteout") == 0) {
		flags = RENAME_WHITEOUT;
	} else if (strcmp(argv[1], "whiteout-noreplace") == 0) {
		flags = RENAME_WHITEOUT | RENAME_NOREPLACE;
	} else if (strcmp(argv[1], "plain") == 0) {
		flags = 0;
	} else {
		fprintf(stderr, "renameat2: unknown flag '%s'\n", argv[1]);
		return 2;
	}
	if (renameat2(AT_FDCWD, argv[2], AT_FDCWD, argv[3], flags) != 0) {
		int err = errno;

		fprintf(stderr, "renameat2: %s: %s\n", strerrorname_np(err), strerror(err));
		return 1;
	}
	return 0;
}
