/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * holders.c - finds the processes that hold something inside a directory
 * (an open file, a memory mapping, a working or root directory), so that
 * capture can refuse to mount over a directory whose running programs
 * would bypass the mount: every descriptor opened before the mount, and
 * every relative path from a working directory inside it, reaches the real
 * files underneath and never the history.  FUSE-free: it reads /proc only.
 *
 * Caveats: paths are compared as /proc shows them in this process's mount
 * namespace (a process in another namespace whose view differs is missed;
 * that is what the fanotify watch of the real filesystem is for); a
 * process that exits or changes its descriptors while it is scanned is
 * reported as it was seen; processes that /proc does not let us read (no
 * privilege) are skipped and counted.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/holders.h"

/* path lies at or below dir (both absolute, dir without a trailing '/'). */
static int path_inside(const char *path, const char *dir, size_t dirlen)
{
	if (strncmp(path, dir, dirlen) != 0)
		return 0;
	return path[dirlen] == '\0' || path[dirlen] == '/' || (dirlen == 1 && dir[0] == '/');
}

/* readlink of /proc/PID/NAME into buf; " (deleted)" kept, as it is the
 * real name of an unlinked file. */
static int proc_link(pid_t pid, const char *name, char *buf, size_t size)
{
	char p[512];
	ssize_t n;

	if (snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, name) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	n = readlink(p, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static void proc_comm(pid_t pid, char *comm, size_t size)
{
	char p[64];
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	comm[0] = '\0';
	f = fopen(p, "re");
	if (!f)
		return;
	if (fgets(comm, (int)size, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

/* The first thing pid holds inside dir, in what; 1 when found, 0 when
 * none, -errno when pid cannot be read (gone, or no privilege). */
static int pid_holds(pid_t pid, const char *dir, size_t dirlen, char *what, size_t size)
{
	char link[PATH_MAX + 16], p[64], *line = NULL;
	size_t cap = 0;
	struct dirent *de;
	DIR *fds;
	FILE *maps;
	int found = 0;

	if (proc_link(pid, "cwd", link, sizeof(link)) == 0 && path_inside(link, dir, dirlen)) {
		snprintf(what, size, "its working directory '%s'", link);
		return 1;
	}
	if (proc_link(pid, "root", link, sizeof(link)) == 0 && strcmp(link, "/") != 0 &&
	    path_inside(link, dir, dirlen)) {
		snprintf(what, size, "its root directory '%s'", link);
		return 1;
	}
	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	fds = opendir(p);
	if (!fds)
		return -errno;
	while (!found && (de = readdir(fds))) {
		char name[300];

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(name, sizeof(name), "fd/%s", de->d_name);
		if (proc_link(pid, name, link, sizeof(link)) == 0 && link[0] == '/' &&
		    path_inside(link, dir, dirlen))
			found = snprintf(what, size, "open file '%s' (fd %s)", link,
					 de->d_name) > 0;
	}
	closedir(fds);
	if (found)
		return 1;
	snprintf(p, sizeof(p), "/proc/%d/maps", (int)pid);
	maps = fopen(p, "re");
	if (!maps)
		return 0;
	while (!found && getline(&line, &cap, maps) > 0) {
		/* address perms offset dev inode pathname */
		char *path = strchr(line, '/');

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (path_inside(path, dir, dirlen)) {
			snprintf(what, size, "memory mapping of '%s'", path);
			found = 1;
		}
	}
	free(line);
	fclose(maps);
	return found;
}

int cap_find_holders(const char *dir, const pid_t *ignore, size_t nignore,
		     struct cap_holder *out, size_t max, size_t *total, size_t *unreadable)
{
	size_t dirlen = strlen(dir), i;
	struct dirent *de;
	DIR *proc;

	*total = 0;
	if (unreadable)
		*unreadable = 0;
	if (dir[0] != '/')
		return -EINVAL;
	while (dirlen > 1 && dir[dirlen - 1] == '/')
		dirlen--;
	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while ((de = readdir(proc))) {
		char what[PATH_MAX + 64];
		char *end;
		long v = strtol(de->d_name, &end, 10);
		pid_t pid;
		int rc;

		if (*end || v <= 0)
			continue;
		pid = (pid_t)v;
		for (i = 0; i < nignore && ignore[i] != pid; i++)
			;
		if (i < nignore || pid == getpid())
			continue;
		rc = pid_holds(pid, dir, dirlen, what, sizeof(what));
		if (rc < 0) {
			if (rc != -ENOENT && unreadable)
				(*unreadable)++;
			continue;
		}
		if (rc == 0)
			continue;
		if (*total < max) {
			out[*total].pid = pid;
			proc_comm(pid, out[*total].comm, sizeof(out[*total].comm));
			snprintf(out[*total].what, sizeof(out[*total].what), "%s", what);
		}
		(*total)++;
	}
	closedir(proc);
	return 0;
}
