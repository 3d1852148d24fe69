/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * snapshot_store - journals a full copy of a directory tree into a store, as
 * one capture session of HOST that takes a baseline and stops, without FUSE
 * and without the capture daemon.  The integration tests use it to give the
 * time-travel mount (fs/) a known history independently of capture/: each
 * run replaces the tree under DIR's absolute path with what DIR holds now
 * (fresh file ids; hard links share one), and prints the instant after the
 * snapshot became mountable.  Path components above DIR are created when
 * missing, from the real directories' attributes.
 *
 * Usage: snapshot_store STORE HOST DIR
 * Prints "@SECONDS.NANOSECONDS" on stdout.  Exit status 0, or 1 with
 * "snapshot_store: what: reason" on stderr.
 *
 * Caveat: a test tool, not a capture: it reads each file once, with no
 * attempt at consistency while the tree changes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store.h"

struct ino_fid {
	dev_t dev;
	ino_t ino;
	uint64_t fid;
};

static struct cdp_journal *journal;
static struct ino_fid *links;
static size_t nlinks, caplinks;

static int add_xattrs(struct cdp_op *op, uint64_t fid, const char *path)
{
	char names[65536], value[65536];
	ssize_t len, vlen, i;
	int err;

	len = llistxattr(path, names, sizeof(names));
	if (len < 0)
		return (errno == ENOTSUP) ? 0 : -errno;
	for (i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
		vlen = lgetxattr(path, names + i, value, sizeof(value));
		if (vlen < 0)
			return -errno;
		err = cdp_op_xattr(op, fid, names + i, value, (size_t)vlen);
		if (err)
			return err;
	}
	return 0;
}

static int add_data(struct cdp_op *op, uint64_t fid, const char *path, uint64_t size,
		    uint32_t block)
{
	char *buf;
	uint64_t off;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	buf = malloc(block);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	for (off = 0; off < size; off += block) {
		n = pread(fd, buf, block, (off_t)off);
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		err = cdp_op_data(op, fid, off, buf, (size_t)n);
		if (err)
			break;
	}
	free(buf);
out_close:
	close(fd);
	return err;
}

/* Journals path (stat st) as child name of parent; recurses into dirs. */
static int snapshot(const char *path, const struct stat *st, uint64_t parent,
		    const char *name, uint32_t block, int recurse, uint64_t *fid_out)
{
	struct cdp_attr a;
	struct cdp_op *op;
	uint64_t fid = 0;
	size_t i;
	int err, known = 0;

	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		for (i = 0; i < nlinks; i++)
			if (links[i].dev == st->st_dev && links[i].ino == st->st_ino) {
				fid = links[i].fid;
				known = 1;
			}
	}
	if (!fid) {
		err = cdp_journal_new_fid(journal, &fid);
		if (err)
			return err;
	}
	if (!known && !S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		if (nlinks == caplinks) {
			caplinks = caplinks ? 2 * caplinks : 64;
			links = realloc(links, caplinks * sizeof(*links));
			if (!links)
				return -ENOMEM;
		}
		links[nlinks++] = (struct ino_fid){ st->st_dev, st->st_ino, fid };
	}
	err = cdp_op_new(journal, &op);
	if (err)
		return err;
	if (!known) {
		char target[PATH_MAX + 1];

		cdp_attr_from_stat(st, &a);
		if (S_ISLNK(st->st_mode)) {
			ssize_t n = readlink(path, target, PATH_MAX);

			if (n < 0) {
				err = -errno;
				goto out_abort;
			}
			target[n] = '\0';
		}
		err = cdp_op_attr(op, fid, &a, S_ISLNK(st->st_mode) ? target : NULL);
		if (!err && S_ISREG(st->st_mode))
			err = add_data(op, fid, path, (uint64_t)st->st_size, block);
		if (!err)
			err = add_xattrs(op, fid, path);
		if (err)
			goto out_abort;
	}
	err = cdp_op_dirent(op, parent, name, fid, st->st_mode & S_IFMT);
	if (err)
		goto out_abort;
	err = cdp_op_commit(op, NULL, NULL);
	if (err)
		return err;
	if (fid_out)
		*fid_out = fid;
	if (recurse && S_ISDIR(st->st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;

		if (!d)
			return -errno;
		while ((de = readdir(d)) != NULL) {
			char child[PATH_MAX];
			struct stat cst;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >=
			    sizeof(child)) {
				err = -ENAMETOOLONG;
				break;
			}
			if (lstat(child, &cst) != 0) {
				err = -errno;
				break;
			}
			err = snapshot(child, &cst, fid, de->d_name, block, 1, NULL);
			if (err) {
				fprintf(stderr, "snapshot_store: '%s': %s\n", child, cdp_strerror(err));
				break;
			}
		}
		closedir(d);
	}
	return err;
out_abort:
	cdp_op_abort(op);
	return err;
}

/* Finds or creates the directories of abs_dir's parent path; *parent is
 * the fid the last component hangs from. */
static int make_parents(struct cdp_store *s, const char *host, const char *abs_dir,
			uint32_t block, uint64_t *parent)
{
	struct cdp_view *v = NULL;
	char prefix[PATH_MAX];
	const char *p = abs_dir, *slash;
	uint64_t cur = CDP_ROOT_FID;
	int err;

	if (cdp_view_open(s, host, CDP_TS_LATEST, &v) != 0)
		v = NULL;
	while ((slash = strchr(p + 1, '/')) != NULL) {
		char name[NAME_MAX + 1];
		uint64_t child = 0;
		uint32_t type;
		struct stat st;

		snprintf(name, sizeof(name), "%.*s", (int)(slash - p - 1), p + 1);
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(slash - abs_dir), abs_dir);
		if (v && cdp_view_lookup(v, cur, name, &child, &type) == 0) {
			cur = child;
		} else {
			if (lstat(prefix, &st) != 0) {
				err = -errno;
				goto out;
			}
			err = snapshot(prefix, &st, cur, name, block, 0, &child);
			if (err)
				goto out;
			cur = child;
		}
		p = slash;
	}
	*parent = cur;
	err = 0;
out:
	cdp_view_free(v);
	return err;
}

int main(int argc, char **argv)
{
	struct cdp_store *s = NULL;
	char abs_dir[PATH_MAX];
	const char *last;
	uint64_t parent = CDP_ROOT_FID, fid = 0;
	uint32_t root_id, block;
	struct stat st;
	int64_t ts;
	int err, resuming;

	if (argc != 4) {
		fprintf(stderr, "usage: snapshot_store STORE HOST DIR\n");
		return 2;
	}
	if (!realpath(argv[3], abs_dir) || lstat(abs_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "snapshot_store: '%s' is not a directory\n", argv[3]);
		return 1;
	}
	cdp_log_init("snapshot_store", 0, 4);
	err = cdp_store_open(argv[1], CDP_STORE_CREATE | CDP_STORE_WRITE, NULL, &s);
	if (err) {
		fprintf(stderr, "snapshot_store: open store '%s': %s\n", argv[1], cdp_strerror(err));
		return 1;
	}
	block = cdp_store_block_size(s);
	err = cdp_journal_open(s, argv[2], &journal);
	if (err) {
		fprintf(stderr, "snapshot_store: open journal: %s\n", cdp_strerror(err));
		goto out_close;
	}
	err = cdp_journal_root_begin(journal, abs_dir, &root_id, &resuming);
	if (err) {
		fprintf(stderr, "snapshot_store: root_begin: %s\n", cdp_strerror(err));
		goto out_close;
	}
	err = make_parents(s, argv[2], abs_dir, block, &parent);
	if (err) {
		fprintf(stderr, "snapshot_store: parents of '%s': %s\n", abs_dir, cdp_strerror(err));
		goto out_close;
	}
	last = strrchr(abs_dir, '/') + 1;
	err = snapshot(abs_dir, &st, parent, last, block, 1, &fid);
	if (err) {
		fprintf(stderr, "snapshot_store: snapshot of '%s': %s\n", abs_dir, cdp_strerror(err));
		goto out_close;
	}
	err = cdp_journal_root_ready(journal, root_id, fid);
	if (!err)
		err = cdp_journal_sync(journal);
	if (!err)
		err = cdp_journal_root_end(journal, root_id);
	if (err) {
		fprintf(stderr, "snapshot_store: finishing: %s\n", cdp_strerror(err));
		goto out_close;
	}
	ts = cdp_now_ns();
	printf("@%lld.%09lld\n", (long long)(ts / 1000000000), (long long)(ts % 1000000000));
out_close:
	cdp_journal_close(journal);
	cdp_store_close(s);
	return err ? 1 : 0;
}
