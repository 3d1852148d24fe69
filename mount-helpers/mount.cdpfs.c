/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mount.cdpfs.c - the helper mount(8) runs for `mount -t cdpfs SPEC DIR` and
 * for fstab lines of type cdpfs.  mount(8) calls
 *     /sbin/mount.cdpfs SPEC MOUNTPOINT [-sfnv] [-o OPTS]
 * (the conventions of libfuse's util/mount.fuse.c); this helper takes store=
 * out of the options and executes
 *     cdpfs mount [--store S] [-o OPTS] SPEC MOUNTPOINT
 * which returns only once the mount is live, so mount(8) does too.  The
 * cdpfs binary is $CDPFS_BIN if set, else the `cdpfs` next to this helper,
 * else CDP_PREFIX/bin/cdpfs.
 *
 * "rw".  util-linux mount(8) passes "-o rw" whenever the user gave neither
 * ro nor rw (checked with util-linux 2.38: `mount -t cdpfs x@latest /mnt`
 * runs `mount.cdpfs x@latest /mnt -o rw`), and passes the same "-o rw" for an
 * explicit `-o rw` or `-w`: the two cannot be told apart here.  So this
 * helper drops "rw" and the mount is read-only.  A writable copy-on-write
 * overlay is asked for by an option mount(8) never adds: "cow" (a private
 * overlay, discarded at unmount) or "overlay=NAME" / "overlay_dir=DIR";
 * either becomes "rw" for cdpfs.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CDP_PREFIX
#define CDP_PREFIX "/usr/local"
#endif

static const char *progname = "mount.cdpfs";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s SPEC MOUNTPOINT [-sfnvh] [-o OPTS]\n"
		"\n"
		"Called by mount(8) for filesystems of type cdpfs; mounts SPEC (HOST@TIME or\n"
		"HOST:/DIR@TIME) through 'cdpfs mount', read-only unless an overlay is asked for.\n"
		"\n"
		"  -o OPTS   store=DIR, ro, allow_other, debug, nosuid, nodev, noexec, and\n"
		"            mount(8)'s generic options (ignored); rw is mount(8)'s default\n"
		"            and gives a read-only mount; cow (a private writable overlay),\n"
		"            overlay=NAME (a kept one) or overlay_dir=DIR make it writable\n"
		"  -f        fake: check the arguments, do nothing\n"
		"  -v        print the command that is run and the instant mounted\n"
		"  -s, -n    accepted for mount(8), ignored\n"
		"  -h        this help\n"
		"\n"
		"See mount.cdpfs(8) and cdpfs(8).\n", progname);
}

/* Appends opt to the comma list *acc (heap). */
static int add_opt(char **acc, const char *opt, size_t len)
{
	size_t old = *acc ? strlen(*acc) : 0;
	char *n = realloc(*acc, old + len + 2);

	if (!n)
		return -ENOMEM;
	if (old)
		n[old++] = ',';
	memcpy(n + old, opt, len);
	n[old + len] = '\0';
	*acc = n;
	return 0;
}

/* Splits one -o value: store= goes to *store, rw is dropped, cow becomes
 * rw, overlay= and overlay_dir= bring rw along, the rest is kept in *kept.
 * Commas escaped with a backslash stay inside a value. */
static int split_options(const char *opts, char **store, char **kept)
{
	const char *p = opts;

	while (*p) {
		const char *start = p;
		size_t len;

		while (*p && *p != ',') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
		len = (size_t)(p - start);
		if (*p == ',')
			p++;
		if (len == 0)
			continue;
		if (len > 6 && strncmp(start, "store=", 6) == 0) {
			free(*store);
			*store = strndup(start + 6, len - 6);
			if (!*store)
				return -ENOMEM;
		} else if (len == 2 && strncmp(start, "rw", 2) == 0) {
			continue;
		} else if (len == 3 && strncmp(start, "cow", 3) == 0) {
			if (add_opt(kept, "rw", 2) < 0)
				return -ENOMEM;
		} else if (add_opt(kept, start, len) < 0) {
			return -ENOMEM;
		} else if (strncmp(start, "overlay=", 8) == 0 ||
			   strncmp(start, "overlay_dir=", 12) == 0) {
			if (add_opt(kept, "rw", 2) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int is_executable(const char *path)
{
	return access(path, X_OK) == 0;
}

/* Picks the cdpfs binary into buf. */
static const char *find_cdpfs(char *buf, size_t size)
{
	const char *env = getenv("CDPFS_BIN");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, size, "%s/cdpfs", self) < size &&
			    is_executable(buf))
				return buf;
		}
	}
	return CDP_PREFIX "/bin/cdpfs";
}

int main(int argc, char **argv)
{
	const char *spec = NULL, *mountpoint = NULL, *bin;
	char *store = NULL, *kept = NULL, binbuf[PATH_MAX];
	char *args[14];
	int fake = 0, verbose = 0, i, n = 0, rc = 1;

	if (argc > 0 && argv[0] && strrchr(argv[0], '/'))
		progname = strrchr(argv[0], '/') + 1;
	else if (argc > 0 && argv[0])
		progname = argv[0];

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] == '-' && a[1]) {
			const char *f;

			if (strcmp(a, "--help") == 0) {
				usage(stdout);
				rc = 0;
				goto out;
			}
			for (f = a + 1; *f; f++) {
				switch (*f) {
				case 'o':
					if (f[1]) {
						if (split_options(f + 1, &store, &kept) < 0)
							goto out_nomem;
					} else if (++i < argc) {
						if (split_options(argv[i], &store, &kept) < 0)
							goto out_nomem;
					} else {
						fprintf(stderr, "%s: missing argument after -o\n",
							progname);
						goto out;
					}
					goto next_arg;
				case 't':
					/* type, maybe with a subtype: ours by definition */
					if (!f[1])
						i++;
					goto next_arg;
				case 'f':
					fake = 1;
					break;
				case 'v':
					verbose = 1;
					break;
				case 's':
				case 'n':
				case 'r':
					break;
				case 'w':
					/* mount(8) default, see the top of this file */
					break;
				case 'h':
					usage(stdout);
					rc = 0;
					goto out;
				default:
					fprintf(stderr, "%s: unknown option '-%c'\n", progname, *f);
					usage(stderr);
					goto out;
				}
			}
		} else if (!spec) {
			spec = a;
		} else if (!mountpoint) {
			mountpoint = a;
		} else {
			fprintf(stderr, "%s: unexpected argument '%s'\n", progname, a);
			usage(stderr);
			goto out;
		}
next_arg:
		;
	}
	if (!spec || !mountpoint) {
		fprintf(stderr, "%s: SPEC and MOUNTPOINT needed\n", progname);
		usage(stderr);
		goto out;
	}

	bin = find_cdpfs(binbuf, sizeof(binbuf));
	args[n++] = (char *)"cdpfs";
	args[n++] = (char *)"mount";
	if (store) {
		args[n++] = (char *)"--store";
		args[n++] = store;
	}
	if (kept) {
		args[n++] = (char *)"-o";
		args[n++] = kept;
	}
	if (verbose)
		args[n++] = (char *)"--verbose";
	args[n++] = (char *)"--";
	args[n++] = (char *)spec;
	args[n++] = (char *)mountpoint;
	args[n] = NULL;

	if (verbose || fake) {
		fprintf(stderr, "%s: %s", progname, bin);
		for (i = 1; i < n; i++)
			fprintf(stderr, " '%s'", args[i]);
		fputc('\n', stderr);
	}
	if (fake) {
		rc = 0;
		goto out;
	}
	execv(bin, args);
	fprintf(stderr, "%s: cannot run '%s': %s (set CDPFS_BIN or install cdpfs)\n",
		progname, bin, strerror(errno));
	goto out;

out_nomem:
	fprintf(stderr, "%s: out of memory\n", progname);
out:
	free(store);
	free(kept);
	return rc;
}
