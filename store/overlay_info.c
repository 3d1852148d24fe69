/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * overlay_info.c - an overlay's overlay.info (format line "cdpfs overlay
 * format 1", then key=value lines; replaced atomically: write, fsync,
 * rename), its lock file (flock(2)ed by the serving process, holding its
 * pid), destroying an overlay and listing a store's overlays.  The
 * directory's whole layout opens overlay.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "overlay_int.h"

/* ------------------------------------------------------------ info file */

void cdp_overlay_info_release(struct cdp_overlay_info *info)
{
	if (!info)
		return;
	free(info->name);
	free(info->host);
	free(info->dir);
	free(info->path);
	memset(info, 0, sizeof(*info));
}

int cdp_overlay_name_valid(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n > CDP_OVL_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int cdp_ovl_write_info(const char *path, const struct cdp_overlay_info *info)
{
	char file[PATH_MAX], tmp[PATH_MAX];
	FILE *f;
	int ret = 0, fd;

	snprintf(file, sizeof(file), "%s/overlay.info", path);
	snprintf(tmp, sizeof(tmp), "%s/overlay.info.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\nname=%s\nhost=%s\ndir=%s\nrequested_ts_ns=%" PRId64 "\n"
		"base_ts_ns=%" PRId64 "\nbase_seq=%" PRIu64 "\ncreated_ts_ns=%" PRId64 "\n"
		"last_used_ts_ns=%" PRId64 "\nprivate=%d\n", OVL_INFO_LINE,
		info->name ? info->name : "", info->host ? info->host : "",
		info->dir ? info->dir : "/", info->requested_ts_ns, info->base_ts_ns,
		info->base_seq, info->created_ts_ns, info->last_used_ts_ns, info->is_private ? 1 : 0);
	if (fflush(f) != 0 || (fd = fileno(f)) < 0 || fsync(fd) < 0)
		ret = -errno;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, file) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int cdp_overlay_read_info(const char *path, struct cdp_overlay_info *info)
{
	char file[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int ret = 0, first = 1;

	memset(info, 0, sizeof(*info));
	snprintf(file, sizeof(file), "%s/overlay.info", path);
	f = fopen(file, "re");
	if (!f)
		return errno == ENOTDIR ? -ENOENT : -errno;
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *eq, *val, **field = NULL;

		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (memchr(line, '\0', (size_t)n)) {
			ret = -CDP_ECORRUPT;   /* text only */
			break;
		}
		if (first) {
			first = 0;
			if (strncmp(line, "cdpfs overlay format ", 21) != 0) {
				ret = -CDP_ECORRUPT;
				break;
			}
			if (strcmp(line, OVL_INFO_LINE) != 0) {
				ret = -CDP_EVERSION;
				break;
			}
			continue;
		}
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		val = eq + 1;
		if (strcmp(line, "name") == 0)
			field = &info->name;
		else if (strcmp(line, "host") == 0)
			field = &info->host;
		else if (strcmp(line, "dir") == 0)
			field = &info->dir;
		if (field) {
			free(*field);   /* the last of a repeated key wins */
			*field = strdup(val);
			if (!*field) {
				ret = -ENOMEM;
				break;
			}
		} else if (strcmp(line, "requested_ts_ns") == 0)
			info->requested_ts_ns = strtoll(val, NULL, 10);
		else if (strcmp(line, "base_ts_ns") == 0)
			info->base_ts_ns = strtoll(val, NULL, 10);
		else if (strcmp(line, "base_seq") == 0)
			info->base_seq = strtoull(val, NULL, 10);
		else if (strcmp(line, "created_ts_ns") == 0)
			info->created_ts_ns = strtoll(val, NULL, 10);
		else if (strcmp(line, "last_used_ts_ns") == 0)
			info->last_used_ts_ns = strtoll(val, NULL, 10);
		else if (strcmp(line, "private") == 0)
			info->is_private = atoi(val) != 0;
	}
	if (first && !ret)
		ret = -CDP_ECORRUPT;
	free(line);
	fclose(f);
	if (!ret && (!info->name || !info->host || !info->dir || !info->base_seq))
		ret = -CDP_ECORRUPT;
	if (!ret && !(info->path = strdup(path)))
		ret = -ENOMEM;
	if (ret)
		cdp_overlay_info_release(info);
	return ret;
}

int cdp_overlay_create(const char *path, const struct cdp_overlay_info *info)
{
	char sub[PATH_MAX];
	struct cdp_overlay_info rec = *info;
	int ret;

	if (mkdir(path, 0700) < 0)
		return -errno;
	snprintf(sub, sizeof(sub), "%s/data", path);
	if (mkdir(sub, 0700) < 0) {
		ret = -errno;
		goto out_rm;
	}
	rec.created_ts_ns = rec.last_used_ts_ns = now_ns();
	ret = cdp_ovl_write_info(path, &rec);
	if (ret < 0)
		goto out_rm;
	return 0;
out_rm:
	cdp_overlay_destroy(path);
	return ret;
}


/* ------------------------------------------------------------ lock file */

/* 1 when a live process holds the overlay's lock, 0 when not. */
static int overlay_in_use(const char *path)
{
	char file[PATH_MAX];
	int fd, busy = 0;

	snprintf(file, sizeof(file), "%s/lock", path);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		busy = 1;
	close(fd);
	return busy;
}

int cdp_overlay_destroy(const char *path)
{
	char target[PATH_MAX];
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode)) {
		/* a registration of an overlay kept in another directory */
		if (realpath(path, target)) {
			int ret = cdp_overlay_destroy(target);

			if (ret < 0 && ret != -ENOENT)
				return ret;
		}
		return unlink(path) < 0 ? -errno : 0;
	}
	if (overlay_in_use(path))
		return -EBUSY;
	return cdp_rm_tree(path);
}


/* ------------------------------------------------------------ listing */

static uint64_t du_total;   /* protected by du_lock */

static int du_fn(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)p; (void)type; (void)ftw;
	du_total += (uint64_t)st->st_blocks * 512u;
	return 0;
}

static pthread_mutex_t du_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t disk_usage(const char *path)
{
	uint64_t total;

	pthread_mutex_lock(&du_lock);
	du_total = 0;
	if (nftw(path, du_fn, 16, FTW_PHYS) < 0)
		du_total = 0;
	total = du_total;
	pthread_mutex_unlock(&du_lock);
	return total;
}

static int info_cmp(const void *a, const void *b)
{
	const struct cdp_overlay_info *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int cdp_overlay_list(const char *store_path, struct cdp_overlay_info **out, size_t *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 264], real[PATH_MAX];
	struct cdp_overlay_info *list = NULL, info;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	snprintf(dir, sizeof(dir), "%s/overlays", store_path);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!realpath(path, real) || cdp_overlay_read_info(real, &info) < 0)
			continue;
		info.mounted = overlay_in_use(real);
		if (info.is_private && !info.mounted &&
		    now_ns() - info.created_ts_ns > OVL_PRIVATE_GRACE_NS) {
			/* its mount ended without cleaning up (killed) */
			cdp_overlay_destroy(path);
			cdp_overlay_info_release(&info);
			continue;
		}
		info.size_bytes = disk_usage(real);
		if (info.is_private) {
			/* named by its directory, which the mount made unique */
			free(info.name);
			info.name = strdup(de->d_name);
		}
		if (!info.name) {
			cdp_overlay_info_release(&info);
			continue;
		}
		if (count == cap) {
			struct cdp_overlay_info *nl;

			cap = cap ? 2 * cap : 8;
			nl = realloc(list, cap * sizeof(*list));
			if (!nl) {
				cdp_overlay_info_release(&info);
				cdp_overlay_list_free(list, count);
				closedir(d);
				return -ENOMEM;
			}
			list = nl;
		}
		list[count++] = info;
	}
	closedir(d);
	if (count)
		qsort(list, count, sizeof(*list), info_cmp);
	*out = list;
	*n = count;
	return 0;
}

void cdp_overlay_list_free(struct cdp_overlay_info *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cdp_overlay_info_release(&list[i]);
	free(list);
}

