/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spec.h - parsing of a mount request, free of FUSE's low-level layer
 * (fs/spec.c).  cdp_fs_parse_spec() and cdp_fs_options_help(), public,
 * are declared in fs/fs.h; these are the mount's own.
 */
#ifndef CDP_FS_SPEC_H
#define CDP_FS_SPEC_H

#include <stddef.h>

/* Options of -o, filled through a fuse_opt table in fs/spec.c. */
struct cdp_fs_opts {
	char *store;        /* store=DIR (heap, owned) */
	char *log;          /* log=FILE: the daemon's log lines (heap, owned) */
	char *overlay;      /* overlay=NAME: keep the overlay under NAME (heap) */
	char *overlay_dir;  /* overlay_dir=DIR: where a new overlay lives (heap) */
	int ro;
	int rw;
	int allow_other;    /* -1: default (on when root) */
	int debug;
};

/*
 * Parses the comma-separated -o string options (NULL or "" for none) into
 * opts, which holds the defaults on entry; *vfs gets the VFS flags for the
 * kernel (heap, caller frees; NULL when none).  The string fields of opts
 * are heap and the caller's either way.  0, or -EINVAL with one line in
 * err: an unknown option, overlay= or overlay_dir= without rw, a bad
 * overlay name.
 */
int cdp_fs_parse_options(const char *options, struct cdp_fs_opts *opts, char **vfs,
			 char *err, size_t errlen);

/* Appends ",s" (or "s" to an empty buf) to the option string in buf of
 * size bytes; -ENAMETOOLONG, buf unchanged, when it does not fit. */
int cdp_fs_opt_append(char *buf, size_t size, const char *s);

/* in with ',' and '\\' escaped by a '\\' (fuse_opt's specials) into out of
 * size bytes, always NUL-ended, cut where out is full. */
void cdp_fs_opt_escape(const char *in, char *out, size_t size);

#endif /* CDP_FS_SPEC_H */
