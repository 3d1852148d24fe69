/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs.h - the time-travel FUSE daemon: mounts a host's namespace as of one
 * instant, read-only, or writable through a copy-on-write overlay (-o rw,
 * store/overlay.h) that never writes the store.
 *
 * SPEC is HOST@TIME (every captured directory of HOST appears at its
 * absolute path below the mount point) or HOST:/abs/dir@TIME (that
 * directory is the root of the mount).  TIME as cdp_time_parse().
 */
#ifndef CDP_FS_H
#define CDP_FS_H

#include <stdio.h>

struct cdp_mount_request {
	const char *store;       /* store directory */
	const char *spec;        /* HOST@TIME or HOST:/dir@TIME */
	const char *mountpoint;
	const char *options;     /* comma-separated -o options, may be NULL */
	int foreground;          /* serve in this process until unmounted */
	int debug;
	int verbose;             /* print what was mounted (the instant) on stdout */
};

/*
 * Validates everything (store, host, instant, mount point), mounts, and
 * returns once the mount is live (the daemon signals readiness through a
 * pipe), or, with foreground, when it is unmounted.  On failure returns
 * non-zero and writes one line into err.
 */
int cdp_fs_mount(const struct cdp_mount_request *req, char *err, size_t errlen);

/* Splits SPEC; returns 0 or -EINVAL with a message in err.  *host and *path
 * (NULL when absent) are heap strings owned by the caller. */
int cdp_fs_parse_spec(const char *spec, char **host, char **path, char **time_text,
		      char *err, size_t errlen);

/* Prints the -o options the mount understands, one per line, indented. */
void cdp_fs_options_help(FILE *out);

#endif /* CDP_FS_H */
