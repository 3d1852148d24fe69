/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * snapshot.c - cdp_store_snapshot(): a consistent copy of a live store in a
 * new directory, made by the writer (the one process with the primary
 * RocksDB handle).  In order:
 *   1. DEST is made (it must be missing or empty), with FORMAT and
 *      segments/;
 *   2. a RocksDB checkpoint of the index goes to DEST/index (table files
 *      hard-linked where DEST is on the same filesystem, the memtables
 *      flushed first): one consistent state of every column family;
 *   3. "durable" (segment S, offset O) is read from the live index after
 *      the checkpoint, so it is at least the checkpoint's own: every chunk
 *      the checkpoint references lies below it (write ordering: chunks are
 *      durable before the batch that references them);
 *   4. every segment below S is sealed (a writer never appends to an
 *      earlier segment): hard-linked, or copied when link(2) fails; segment
 *      S is copied up to O only (the writer may be appending past it);
 *      segments above S are not needed.
 * A writer opening the copy recovers a tail past its "durable" as after a
 * crash (docs/format.md).  Drill reports and overlays are not copied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "store_int.h"

/* Copies the first len bytes of src to a new file dst, then fsyncs it. */
static int copy_prefix(const char *src, const char *dst, uint64_t len)
{
	char buf[1 << 16];
	uint64_t done = 0;
	ssize_t n;
	int in, out, ret = 0;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while (done < len) {
		size_t want = len - done < sizeof(buf) ? (size_t)(len - done) : sizeof(buf);

		n = pread(in, buf, want, (off_t)done);
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;   /* shorter than "durable" says */
			break;
		}
		if (write(out, buf, (size_t)n) != n) {
			ret = errno ? -errno : -EIO;
			break;
		}
		done += (uint64_t)n;
	}
	if (ret == 0 && fsync(out) < 0)
		ret = -errno;
	close(out);
	close(in);
	return ret;
}

static int write_line(const char *path, const char *line)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) || fsync(fd) < 0)
		ret = errno ? -errno : -EIO;
	close(fd);
	return ret;
}

int cdp_store_snapshot(struct cdp_store *s, const char *dest, uint64_t *segments_linked,
		       uint64_t *segments_copied)
{
	char path[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
	rocksdb_checkpoint_t *cp;
	struct dirent *de;
	struct cdp_key k;
	struct stat st;
	uint32_t seg = 0;
	uint64_t off = 0;
	unsigned long id;
	char *err = NULL, *val, *end;
	size_t len;
	DIR *d;
	int ret;

	*segments_linked = *segments_copied = 0;
	if (!s->writer)
		return -EROFS;   /* only the primary can checkpoint */
	if (strlen(dest) > PATH_MAX - 64)
		return -ENAMETOOLONG;
	if (stat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		d = opendir(dest);
		if (!d)
			return -errno;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				break;
		closedir(d);
		if (de)
			return -ENOTEMPTY;
	} else if (mkdir(dest, 0750) < 0) {
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/segments", dest);
	if (mkdir(path, 0750) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/FORMAT", dest);
	ret = write_line(path, CDP_FORMAT_LINE "\n");
	if (ret < 0)
		return ret;

	cp = rocksdb_checkpoint_object_create(s->db, &err);
	if (!err) {
		snprintf(path, sizeof(path), "%s/index", dest);
		rocksdb_checkpoint_create(cp, path, 0, &err);
	}
	if (cp)
		rocksdb_checkpoint_object_destroy(cp);
	if (err) {
		cdp_log(LOG_ERR, "cannot checkpoint the index of '%s' into '%s': %s", s->path, dest,
			err);
		return cdp_rocks_err(err, -EIO);
	}

	cdp_key_meta(&k, "durable");
	ret = cdp_store_get(s, CF_META, &k, &val, &len);
	if (ret < 0)
		return ret;
	if (val && len == 12) {
		seg = get_u32be((uint8_t *)val);
		off = get_u64be((uint8_t *)val + 4);
	}
	free(val);

	snprintf(path, sizeof(path), "%s/segments", s->path);
	d = opendir(path);
	if (!d)
		return -errno;
	while (ret == 0 && (de = readdir(d))) {
		id = strtoul(de->d_name, &end, 10);
		if (strlen(de->d_name) != 12 || strcmp(end, ".seg") != 0 || !id || id > seg)
			continue;
		snprintf(src, sizeof(src), "%s/segments/%s", s->path, de->d_name);
		snprintf(dst, sizeof(dst), "%s/segments/%s", dest, de->d_name);
		if (id < seg && link(src, dst) == 0) {
			(*segments_linked)++;
			continue;
		}
		if (id < seg) {
			if (stat(src, &st) < 0) {
				ret = -errno;
				break;
			}
			ret = copy_prefix(src, dst, (uint64_t)st.st_size);
		} else {
			ret = copy_prefix(src, dst, off);
		}
		if (ret == 0)
			(*segments_copied)++;
	}
	closedir(d);
	if (ret == 0) {
		int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		snprintf(path, sizeof(path), "%s/segments", dest);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	return ret;
}
