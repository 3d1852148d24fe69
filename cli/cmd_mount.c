/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_mount.c - `cdpfs mount` (a past instant, read-only or on a writable
 * overlay, through cdp_fs_mount(), which returns once the mount is live)
 * and `cdpfs umount` (fusermount3 -u, then wait until the mount point is a
 * plain directory again and the daemon that served it has exited).
 * Several -o are joined with commas, as mount(8) does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "fs/fs.h"
#include "store.h"

static const struct cli_option mount_options[] = {
	{ NULL, 0, 0, "SPEC", "HOST@TIME or HOST:/DIR@TIME (see cdpfs(8) for TIME)" },
	{ "options", required_argument, 'o', "-o OPTS",
	  "mount options, see below; may be repeated" },
	{ "foreground", no_argument, 'f', "-f, --foreground", "serve in this process until unmounted" },
	{ "debug", no_argument, 'd', "-d, --debug", "log every FUSE request on stderr (implies -f)" },
	{ "verbose", no_argument, 'v', "-v, --verbose", "say which instant was mounted" },
	CLI_OPT_END
};

static char *join_options(char *acc, const char *more)
{
	char *out = acc ? cli_strfmt("%s,%s", acc, more) : cli_strfmt("%s", more);

	free(acc);
	return out;
}

static int cmd_mount(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	struct cdp_mount_request req;
	char err[1024], *options = NULL;
	const char *arg;
	int c, ret;

	memset(&req, 0, sizeof(req));
	while ((c = cli_getopt(ctx, &arg)) != -1) {
		switch (c) {
		case 'o':
			options = join_options(options, arg);
			break;
		case 'f':
			req.foreground = 1;
			break;
		case 'd':
			/* debug output goes to stderr: serve in the foreground */
			req.debug = 1;
			req.foreground = 1;
			break;
		case 'v':
			req.verbose = 1;
			break;
		}
	}
	if (ctx->nargs != 2)
		cli_usage_error(self, ctx->nargs < 2 ? "SPEC and MOUNTPOINT needed" :
				"too many arguments");
	req.store = cli_store_path(ctx);
	req.spec = ctx->args[0];
	req.mountpoint = ctx->args[1];
	req.options = options;
	cli_audit(req.store, "mount", "spec=%s mountpoint=%s options=%s", req.spec,
		  req.mountpoint, options && *options ? options : "ro");
	err[0] = '\0';
	ret = cdp_fs_mount(&req, err, sizeof(err));
	free(options);
	if (ret != 0)
		die_line(err);
	return 0;
}

const struct cli_cmd cli_cmd_mount = {
	.name = "mount",
	.fn = cmd_mount,
	.usage = "mount [--store DIR] [-o OPTS] [-f] [-d] [-v] SPEC MOUNTPOINT",
	.summary = "mount a host as it was at an instant, read-only or as a writable overlay",
	.options = mount_options,
	.flags = CLI_NEEDS_STORE,
	.more_help = cdp_fs_options_help,
};

static const struct cli_option umount_options[] = {
	{ "lazy", no_argument, 'z', "-z, --lazy", "detach now, finish when no longer busy" },
	CLI_OPT_END
};

/* Runs fusermount3 -u; its complaint, if any, lands in why (one line). */
static int run_fusermount(const char *mp, int lazy, char *why, size_t whylen)
{
	char *argv[] = { (char *)"fusermount3", (char *)(lazy ? "-uz" : "-u"), (char *)"--",
			 (char *)mp, NULL };
	int status;

	status = cli_run_collect(NULL, argv, NULL, CLI_RUN_STDERR, why, whylen);
	why[strcspn(why, "\n")] = '\0';
	if (status < 0)
		return status;
	if (status == 127)
		return -ENOENT;
	return status == 0 ? 0 : -EBUSY;
}

/*
 * The daemon serving abs: a process named cdpfs holding a descriptor on the
 * directory it covers (fs/mount.c keeps one for this).  Up to max pids.
 */
static size_t find_daemons(const char *abs, pid_t *pids, size_t max)
{
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	size_t n = 0;

	if (!proc)
		return 0;
	while (n < max && (pe = readdir(proc))) {
		char path[PATH_MAX], comm[32] = "", link[PATH_MAX];
		struct dirent *fe;
		DIR *fds;
		FILE *f;
		ssize_t len;

		if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", pe->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strcmp(comm, "cdpfs\n") != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			char fdpath[PATH_MAX + 300];

			if (fe->d_name[0] == '.')
				continue;
			snprintf(fdpath, sizeof(fdpath), "%s/%s", path, fe->d_name);
			len = readlink(fdpath, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = '\0';
			if (strcmp(link, abs) == 0) {
				pids[n++] = (pid_t)atoi(pe->d_name);
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return n;
}

/* The store daemon pid serves: its --store, else its CDPFS_STORE, else the
 * default (as cli_store_path() decided for it).  0, or -ENOENT when its
 * command line cannot be read. */
static int daemon_store(pid_t pid, char *store, size_t size)
{
	char path[64], buf[8192], *p, *end;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -ENOENT;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (p = buf, end = buf + n; p < end; p += strlen(p) + 1) {
		if (strcmp(p, "--store") == 0 && p + strlen(p) + 1 < end) {
			snprintf(store, size, "%s", p + strlen(p) + 1);
			return 0;
		}
		if (strncmp(p, "--store=", 8) == 0) {
			snprintf(store, size, "%s", p + 8);
			return 0;
		}
	}
	snprintf(store, size, "%s", getenv("CDPFS_STORE") && *getenv("CDPFS_STORE") ?
		 getenv("CDPFS_STORE") : CDP_DEFAULT_STORE);
	return 0;
}

static int cmd_umount(struct cli_ctx *ctx)
{
	const char *mp;
	char abs[PATH_MAX], why[512], store[PATH_MAX];
	pid_t daemons[8];
	size_t ndaemons = 0;
	int c, lazy = 0, ret, i;

	while ((c = cli_getopt(ctx, NULL)) != -1)
		if (c == 'z')
			lazy = 1;
	if (ctx->nargs != 1)
		cli_usage_error(ctx->cmd, "one MOUNTPOINT needed");
	mp = ctx->args[0];
	ret = cli_is_mount_point(mp);
	if (ret == -ENOENT)
		die("mount point '%s' does not exist", mp);
	if (ret == 0)
		die("'%s' is not mounted", mp);
	if (realpath(mp, abs))
		ndaemons = find_daemons(abs, daemons, sizeof(daemons) / sizeof(daemons[0]));
	if (ndaemons && daemon_store(daemons[0], store, sizeof(store)) == 0)
		cli_audit(store, "umount", "mountpoint=%s%s", abs, lazy ? " lazy=1" : "");
	ret = run_fusermount(mp, lazy, why, sizeof(why));
	if (ret == -ENOENT)
		die("cannot run fusermount3 (install the fuse3 package)");
	if (ret < 0)
		die("cannot unmount '%s': %s (close what uses it, or 'cdpfs umount -z')", mp,
		    why[0] ? why : "busy or not a FUSE mount");
	/* fusermount returns once the kernel detached the mount; make sure the
	 * mount point is a plain directory before we say done. */
	for (i = 0; i < 200; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (cli_is_mount_point(mp) == 0)
			break;
		nanosleep(&ts, NULL);
	}
	if (i == 200)
		die("'%s' is still mounted after 10 s", mp);
	if (lazy)
		return 0;
	/* Then wait for the daemon to close its store and exit. */
	for (i = 0; i < 200; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		size_t k, alive = 0;

		for (k = 0; k < ndaemons; k++)
			alive += cdp_store_pid_alive((uint32_t)daemons[k]);
		if (!alive)
			return 0;
		nanosleep(&ts, NULL);
	}
	die("the daemon of '%s' is still running 10 s after the unmount", mp);
}

const struct cli_cmd cli_cmd_umount = {
	.name = "umount",
	.fn = cmd_umount,
	.usage = "umount [-z] MOUNTPOINT",
	.summary = "unmount a time-travel mount and wait until it is gone",
	.options = umount_options,
};
