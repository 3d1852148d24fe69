/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsutil.c - file system chores of the store that are not its format:
 * removing a directory tree (an overlay being destroyed, a reader's private
 * secondary-instance directory, one left behind by a reader that died).
 * The walk never follows a symbolic link and never crosses into what a link
 * names: a link inside the tree is removed as a link.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "store_int.h"

/* nftw's callback takes no argument: the first failure's errno is kept
 * per thread, so concurrent removals do not see each other's. */
static __thread int rm_tree_errno;

static int rm_tree_fn(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st; (void)type; (void)ftw;
	if (remove(path) < 0 && errno != ENOENT) {
		rm_tree_errno = errno;
		return -1;
	}
	return 0;
}

int cdp_rm_tree(const char *path)
{
	rm_tree_errno = 0;
	if (nftw(path, rm_tree_fn, 16, FTW_DEPTH | FTW_PHYS) < 0) {
		if (rm_tree_errno)
			return -rm_tree_errno;
		return errno ? -errno : -EIO;
	}
	return 0;
}
