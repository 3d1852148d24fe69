/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsutil.c - file system chores of the store that are not its format:
 * removing a directory tree (an overlay being destroyed, a reader's private
 * secondary-instance directory, one left behind by a reader that died).
 * The walk never follows a symbolic link and never crosses into what a link
 * names: a link inside the tree is removed as a link.  Also the names
 * beside a destination and the markers that restore and overlay apply use
 * to tell an interrupted run from a finished one, and making what they
 * wrote durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

char *cdp_path_beside(const char *path, const char *suffix)
{
	size_t len = strlen(path), dlen;
	const char *base;
	char *out;

	while (len > 1 && path[len - 1] == '/')
		len--;
	base = memrchr(path, '/', len);
	dlen = base ? (size_t)(base - path) + 1 : 0;
	base = path + dlen;
	out = malloc(dlen + (len - dlen) + strlen(suffix) + 2);
	if (out)
		sprintf(out, "%.*s.%.*s%s", (int)dlen, path, (int)(len - dlen), base, suffix);
	return out;
}

/* fsync of the directory holding path (a rename or unlink in it durable). */
int cdp_fsync_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd, ret = 0;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return ret;
}

int cdp_marker_write(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		ret = errno ? -errno : -ENOSPC;
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0)
		ret = cdp_fsync_parent(path);
	if (ret < 0)
		unlink(path);
	return ret;
}

int cdp_marker_clear(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return cdp_fsync_parent(path);
}

int cdp_sync_tree(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK), ret = 0;

	if (fd < 0 && errno == ELOOP)
		return cdp_fsync_parent(path);   /* a symlink: its directory */
	if (fd < 0)
		return -errno;
	if (syncfs(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int cdp_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}
