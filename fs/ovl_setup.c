/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ovl_setup.c - the overlay of a -o rw mount, before the session starts:
 * the record of a named overlay mounted again (SPEC without @TIME), or a
 * new one (named, or private and removed when the mount ends), created in
 * STORE/overlays or in overlay_dir=DIR with a link in STORE/overlays, then
 * opened over the mount's view.  fs/ovl_ll.c serves it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/fs_int.h"

/* st_blksize for a mount whose data lives on sv's filesystem: its f_bsize
 * (what stat(2) of a file there says on ext4, xfs, tmpfs), within 512 B
 * to 1 MiB and a power of two, else 4096. */
uint32_t cdp_fs_io_blksize_of(int statvfs_ret, const struct statvfs *sv)
{
	unsigned long b = statvfs_ret == 0 ? sv->f_bsize : 0;

	if (b < 512 || b > (1ul << 20) || (b & (b - 1)))
		return 4096;
	return (uint32_t)b;
}

static void overlay_registry(const struct cdp_fs_launch *l, const char *name, char *buf,
			     size_t size)
{
	snprintf(buf, size, "%s/overlays/%s", l->store_path, name);
}

/* The record of a named overlay, for a SPEC that names no time: mounting
 * the overlay again at its own base. */
int cdp_fs_overlay_resume_info(const struct cdp_fs_launch *l, struct cdp_overlay_info *info,
			       char *err, size_t errlen)
{
	char reg[PATH_MAX + 80];
	int ret;

	overlay_registry(l, l->opts.overlay, reg, sizeof(reg));
	ret = cdp_overlay_read_info(reg, info);
	if (ret < 0) {
		if (ret == -ENOENT)
			cdp_errf(err, errlen, "no overlay '%s' in store '%s' (to make one, give "
				 "the instant: %s@TIME)", l->opts.overlay, l->store_path,
				 l->req->spec);
		else
			cdp_errf(err, errlen, "cannot read overlay '%s': %s", reg,
				 cdp_strerror(ret));
		return ret;
	}
	if (strcmp(info->host, l->host) != 0 ||
	    strcmp(info->dir, l->dir ? l->dir : "/") != 0) {
		cdp_errf(err, errlen, "overlay '%s' is of %s%s%s, not of %s%s%s (pick another "
			 "name)", l->opts.overlay, info->host, strcmp(info->dir, "/") ? ":" : "",
			 strcmp(info->dir, "/") ? info->dir : "", l->host, l->dir ? ":" : "",
			 l->dir ? l->dir : "");
		cdp_overlay_info_release(info);
		return -EINVAL;
	}
	return 0;
}

/*
 * Finds or creates the overlay of a -o rw mount and opens it over fs->view:
 * a named one must be of the same host, directory and base; a private one
 * gets a unique name and is removed when the mount ends.
 */
int cdp_fs_overlay_prepare(struct cdp_fs *fs, const struct cdp_fs_launch *l, char *err,
			   size_t errlen)
{
	char base[PATH_MAX + 16], reg[PATH_MAX + 80], path[PATH_MAX + 80], name[80];
	char ext[PATH_MAX], when[64];
	const char *dir = l->dir ? l->dir : "/";
	struct cdp_overlay_info info;
	int ret, created = 0;

	memset(&info, 0, sizeof(info));
	snprintf(base, sizeof(base), "%s/overlays", l->store_path);
	if (mkdir(base, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		cdp_errf(err, errlen, "cannot create '%s': %s", base, strerror(-ret));
		return ret;
	}
	if (l->opts.overlay)
		snprintf(name, sizeof(name), "%s", l->opts.overlay);
	else
		snprintf(name, sizeof(name), ".private-%d-%llx", (int)getpid(),
			 (unsigned long long)cdp_now_ns());
	overlay_registry(l, name, reg, sizeof(reg));
	ret = l->opts.overlay ? cdp_overlay_read_info(reg, &info) : -ENOENT;
	if (ret == 0) {
		cdp_time_format(info.base_ts_ns, when, sizeof(when));
		if (strcmp(info.host, l->host) != 0 || strcmp(info.dir, dir) != 0) {
			cdp_errf(err, errlen, "overlay '%s' is of %s%s%s, not of %s%s%s (pick "
				 "another name)", name, info.host, strcmp(info.dir, "/") ? ":" : "",
				 strcmp(info.dir, "/") ? info.dir : "", l->host,
				 strcmp(dir, "/") ? ":" : "", strcmp(dir, "/") ? dir : "");
			ret = -EINVAL;
			goto out;
		}
		if (info.base_seq != cdp_view_seq(fs->view)) {
			cdp_errf(err, errlen, "overlay '%s' starts at %s, not at '%s' (to mount "
				 "it again, leave out @TIME: '%s%s%s')", name, when,
				 l->time_text ? l->time_text : "?",
				 l->host, strcmp(dir, "/") ? ":" : "", strcmp(dir, "/") ? dir : "");
			ret = -EINVAL;
			goto out;
		}
	} else if (ret == -ENOENT) {
		if (l->opts.overlay_dir) {
			if (!realpath(l->opts.overlay_dir, ext)) {
				ret = -errno;
				cdp_errf(err, errlen, "overlay directory '%s': %s", l->opts.overlay_dir,
					 strerror(-ret));
				goto out;
			}
			snprintf(path, sizeof(path), "%s/%s", ext, name);
		} else {
			snprintf(path, sizeof(path), "%s", reg);
		}
		info.name = name;
		info.host = l->host;
		info.dir = (char *)dir;
		info.requested_ts_ns = cdp_view_requested_ts(fs->view);
		info.base_ts_ns = cdp_view_ts(fs->view);
		info.base_seq = cdp_view_seq(fs->view);
		info.is_private = !l->opts.overlay;
		ret = cdp_overlay_create(path, &info);
		memset(&info, 0, sizeof(info));   /* nothing of it is ours */
		if (ret < 0) {
			cdp_errf(err, errlen, "cannot create overlay '%s': %s", path,
				 ret == -EEXIST ? "it exists already (remove it or pick another "
				 "name)" : cdp_strerror(ret));
			goto out;
		}
		created = 1;
		if (l->opts.overlay_dir && symlink(path, reg) < 0) {
			ret = -errno;
			cdp_errf(err, errlen, "cannot register overlay '%s' as '%s': %s", path, reg,
				 strerror(-ret));
			cdp_overlay_destroy(path);
			goto out;
		}
	} else {
		cdp_errf(err, errlen, "cannot read overlay '%s': %s", reg, cdp_strerror(ret));
		goto out;
	}
	fs->ovl_path = strdup(reg);
	fs->ovl_private = !l->opts.overlay;
	if (!fs->ovl_path) {
		ret = -ENOMEM;
		cdp_errf(err, errlen, "out of memory");
		goto out;
	}
	ret = cdp_overlay_open(reg, fs->view, fs->root_fid, fs->block_size, &fs->ovl);
	if (ret < 0) {
		if (ret == -EBUSY)
			cdp_errf(err, errlen, "overlay '%s' is in use by another mount (unmount "
				 "it first, or pick another name)", name);
		else
			cdp_errf(err, errlen, "cannot open overlay '%s': %s", reg, cdp_strerror(ret));
		if (created && !fs->ovl_private)
			cdp_overlay_destroy(reg);
	} else {
		/* new data lives on the overlay's disk: its block size */
		struct statvfs sv;
		int r = cdp_overlay_statvfs(fs->ovl, &sv);

		fs->io_blksize = cdp_fs_io_blksize_of(r, &sv);
	}
out:
	cdp_overlay_info_release(&info);
	return ret;
}
