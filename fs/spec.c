/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * spec.c - what a mount request says, parsed without FUSE's low-level
 * layer (only its option parser, fuse_opt): SPEC (HOST@TIME or
 * HOST:/DIR@TIME), the -o option table with mount(8)'s noise and the VFS
 * flags passed on, and the building of the option string for the kernel.
 * Pure functions of their arguments; tests/fuzz/fuzz_spec.c and
 * tests/unit/test_fs.c drive them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_opt.h>

#include "fs/fs.h"
#include "fs/spec.h"
#include "overlay.h"
#include "store.h"

static int host_name_valid(const char *h, size_t len)
{
	size_t i;

	if (len == 0 || len > 255)
		return 0;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/*
 * HOST@TIME or HOST:/dir@TIME.  HOST holds no ':' nor '@'.  In HOST@TIME,
 * TIME is everything after the first '@' ("db01@@1764649987").  In
 * HOST:/dir@TIME, TIME follows the last '@', or the '@' before it when a
 * Unix time brings its own ("db01:/a@b@@1764649987").
 */
int cdp_fs_parse_spec(const char *spec, char **host, char **path, char **time_text,
		      char *err, size_t errlen)
{
	const char *host_end, *at, *path_start = NULL;
	size_t host_len;

	*host = *path = *time_text = NULL;
	if (!spec || !*spec) {
		cdp_errf(err, errlen, "empty SPEC (expected HOST@TIME or HOST:/DIR@TIME)");
		return -EINVAL;
	}
	host_end = spec + strcspn(spec, ":@");
	host_len = (size_t)(host_end - spec);
	if (*host_end == ':') {
		path_start = host_end + 1;
		if (*path_start != '/') {
			cdp_errf(err, errlen, "bad SPEC '%s': the directory after ':' must be an "
			     "absolute path (HOST:/DIR@TIME)", spec);
			return -EINVAL;
		}
	}
	/* Without a directory, TIME is all that follows HOST@; with one, the
	 * directory may itself hold '@', so TIME follows the last one. */
	at = path_start ? strrchr(path_start, '@') : (*host_end == '@' ? host_end : NULL);
	if (!at) {
		cdp_errf(err, errlen, "bad SPEC '%s': no time (expected HOST@TIME, e.g. "
		     "db01@latest or db01@2025-12-02T12:33:07)", spec);
		return -EINVAL;
	}
	if (path_start && at - 1 > path_start && at[-1] == '@')
		at--;
	if (!host_name_valid(spec, host_len)) {
		cdp_errf(err, errlen, "bad SPEC '%s': '%.*s' is not a host name", spec,
		     (int)host_len, spec);
		return -EINVAL;
	}
	if (at[1] == '\0') {
		cdp_errf(err, errlen, "bad SPEC '%s': empty time after '@'", spec);
		return -EINVAL;
	}
	*host = strndup(spec, host_len);
	*time_text = strdup(at + 1);
	if (path_start) {
		size_t len = (size_t)(at - path_start);

		/* "/data/pg/" and "/data/pg" are the same directory. */
		while (len > 1 && path_start[len - 1] == '/')
			len--;
		*path = strndup(path_start, len);
	}
	if (!*host || !*time_text || (path_start && !*path)) {
		free(*host);
		free(*path);
		free(*time_text);
		*host = *path = *time_text = NULL;
		cdp_errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

enum {
	KEY_RO,
	KEY_RW,
	KEY_ALLOW_OTHER,
	KEY_DEBUG,
};

/* What fuse_opt_parse() fills: the options proper, then what opt_proc()
 * collects on the side. */
struct opt_state {
	struct cdp_fs_opts opts;
	char *vfs;          /* comma list of VFS flags to pass on (heap) */
	char *bad;          /* first unknown option (heap) */
};

#define CDP_OPT(t, p, v) { t, offsetof(struct opt_state, opts.p), v }

static const struct fuse_opt cdp_fs_opt_table[] = {
	CDP_OPT("store=%s", store, 0),
	CDP_OPT("log=%s", log, 0),
	CDP_OPT("overlay=%s", overlay, 0),
	CDP_OPT("overlay_dir=%s", overlay_dir, 0),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_END
};

/* What mount(8) and fstab put in the options: accepted, ignored. */
static const char *const noise_opts[] = {
	"defaults", "noauto", "auto", "user", "nouser", "users", "owner", "group",
	"_netdev", "nofail", "loud", "silent", "sloppy", NULL
};

static const char *const noise_prefixes[] = {
	"x-", "comment=", "helper=", "uhelper=", "user=", "context=", "fscontext=", "defcontext=",
	"rootcontext=", NULL
};

/* VFS flags: handed to the kernel mount as they are. */
static const char *const vfs_opts[] = {
	"nosuid", "suid", "nodev", "dev", "noexec", "exec", "atime", "noatime",
	"relatime", "norelatime", "strictatime", "nostrictatime", "lazytime",
	"nolazytime", "diratime", "nodiratime", "sync", "async", "dirsync", NULL
};

static int in_list(const char *arg, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(arg, *list) == 0)
			return 1;
	return 0;
}

static int has_prefix(const char *arg, const char *const *list)
{
	for (; *list; list++)
		if (strncmp(arg, *list, strlen(*list)) == 0)
			return 1;
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opt_state *st = data;

	(void)outargs;
	switch (key) {
	case KEY_RO:
		st->opts.ro = 1;
		st->opts.rw = 0;
		return 0;
	case KEY_RW:
		st->opts.rw = 1;
		st->opts.ro = 0;
		return 0;
	case KEY_ALLOW_OTHER:
		st->opts.allow_other = 1;
		return 0;
	case KEY_DEBUG:
		st->opts.debug = 1;
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (in_list(arg, noise_opts) || has_prefix(arg, noise_prefixes))
			return 0;
		if (in_list(arg, vfs_opts)) {
			size_t old = st->vfs ? strlen(st->vfs) : 0;
			char *n = realloc(st->vfs, old + strlen(arg) + 2);

			if (!n)
				return -1;
			if (old)
				n[old++] = ',';
			strcpy(n + old, arg);
			st->vfs = n;
			return 0;
		}
		if (!st->bad)
			st->bad = strdup(arg);
		return 0;
	default:
		/* Stray non-option arguments cannot occur: we build argv. */
		return 0;
	}
}

void cdp_fs_options_help(FILE *out)
{
	fprintf(out,
		"mount options (-o, comma-separated):\n"
		"  store=DIR          the store (overrides --store)\n"
		"  log=FILE           append the daemon's log lines to FILE (default: syslog)\n"
		"  ro                 read-only: the past as it was (the default)\n"
		"  rw                 writable copy-on-write overlay of the instant; the\n"
		"                     store is never written; discarded at unmount unless\n"
		"                     overlay=NAME\n"
		"  overlay=NAME       (with rw) keep the overlay as NAME; mounting NAME again\n"
		"                     (SPEC without @TIME) resumes it\n"
		"  overlay_dir=DIR    (with rw) keep a new overlay's data in DIR instead of\n"
		"                     STORE/overlays\n"
		"  allow_other        let other users in (default when run as root)\n"
		"  debug              log every FUSE request on stderr (implies -f)\n"
		"  nosuid, nodev, noexec, noatime, ...   passed to the kernel\n"
		"  defaults, auto, noauto, user, nofail, _netdev, x-*, comment=...\n"
		"                     mount(8) and fstab noise: accepted, ignored\n");
}

/* Parses the -o string into opts; vfs gets the flags for the kernel. */
int cdp_fs_parse_options(const char *options, struct cdp_fs_opts *opts, char **vfs,
			 char *err, size_t errlen)
{
	char *argv[] = { (char *)"cdpfs", (char *)"-o", (char *)options, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(options ? 3 : 1, argv);
	struct opt_state st;
	int ret = 0;

	*vfs = NULL;
	memset(&st, 0, sizeof(st));
	st.opts = *opts;
	if (options && !*options)
		args.argc = 1;
	if (fuse_opt_parse(&args, &st, cdp_fs_opt_table, opt_proc) == -1) {
		cdp_errf(err, errlen, "cannot parse mount options '%s'", options ? options : "");
		ret = -EINVAL;
		goto out;
	}
	if (st.bad) {
		cdp_errf(err, errlen, "unknown mount option '%s' (known: store=DIR, log=FILE, ro, "
		     "rw, overlay=NAME, overlay_dir=DIR, allow_other, debug, and mount(8)'s "
		     "generic options)", st.bad);
		ret = -EINVAL;
		goto out;
	}
	if ((st.opts.overlay || st.opts.overlay_dir) && !st.opts.rw) {
		cdp_errf(err, errlen, "option '%s' needs a writable overlay: add 'rw' "
		     "(-o rw,%s=...)", st.opts.overlay ? "overlay" : "overlay_dir",
		     st.opts.overlay ? "overlay" : "overlay_dir");
		ret = -EINVAL;
		goto out;
	}
	if (st.opts.overlay && !cdp_overlay_name_valid(st.opts.overlay)) {
		cdp_errf(err, errlen, "bad overlay name '%s' (1 to %d of A-Z a-z 0-9 . _ -, "
		     "not starting with '.' or '-')", st.opts.overlay, CDP_OVL_NAME_MAX);
		ret = -EINVAL;
		goto out;
	}
	*vfs = st.vfs;
	st.vfs = NULL;
out:
	*opts = st.opts;   /* opts->store is heap either way: caller frees */
	free(st.vfs);
	free(st.bad);
	fuse_opt_free_args(&args);
	return ret;
}

int cdp_fs_opt_append(char *buf, size_t size, const char *s)
{
	size_t used = strlen(buf);

	if (used + strlen(s) + 2 > size)
		return -ENAMETOOLONG;
	if (used)
		buf[used++] = ',';
	strcpy(buf + used, s);
	return 0;
}

/* fuse_opt treats ',' and '\\' specially: escape them in fsname. */
void cdp_fs_opt_escape(const char *in, char *out, size_t size)
{
	size_t w = 0;

	for (; *in && w + 3 < size; in++) {
		if (*in == ',' || *in == '\\')
			out[w++] = '\\';
		out[w++] = *in;
	}
	out[w] = '\0';
}
