/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * restore.c - a file or tree of a view written to a local directory
 * (cdp_restore, query.h), straight from the store: no FUSE round trip, the
 * data read in runs of contiguous data blocks (cdp_view_read verifies
 * every chunk: a bad one is -EIO, never bytes), holes left as holes (only
 * data blocks are written, the size set with ftruncate).  Two walks: the
 * first counts (index only) so that progress has totals, the second
 * writes.  Each file is made under a temporary name beside its place
 * (".NAME.cdpfs-restore-XXXXXX") and renamed into place once whole, with
 * its owner, xattrs, mode and times; a directory's own attributes are set
 * after its entries (writing them moves its mtime).  A file with several
 * names in the tree is written once, then linked.
 *
 * Interrupted restores (kill -9, a full disk, a bad chunk) are never
 * taken for finished ones.  A DEST that does not exist is built under
 * "DIR/.BASE.cdpfs-restore-partial" and renamed to DEST only once
 * everything is written and synced (syncfs): DEST appears whole or not at
 * all; a failure removes the partial tree, and one left by a killed
 * restore is removed by the next restore to DEST.  A DEST that exists
 * (--overwrite) is written in place between a durable marker
 * "DIR/.BASE.cdpfs-restore-incomplete" and its removal after the sync:
 * while the marker is there DEST is partly restored, a restore without
 * --overwrite says so, and one with it finishes the job (it rewrites
 * everything, and removes the temporary files a killed run left).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "query.h"
#include "store_int.h"

#define RUN_BLOCKS 128   /* up to 1 MiB read at once */

struct restore {
	struct cdp_view *v;
	uint32_t bs;
	unsigned flags;
	struct cdp_restore_progress st;
	cdp_restore_progress_fn progress;
	cdp_restore_list_fn list;
	void *arg;
	char *err;
	size_t errlen;
	struct cdp_fidmap linked;   /* fid -> index in first_paths */
	char **first_paths;
	size_t nfirst, first_cap;
	int counting;
	uint8_t *buf;
	int is_root;
	int64_t last_progress_ns;
};

static int fail(struct restore *r, int ret, const char *what, const char *path)
{
	cdp_errf(r->err, r->errlen, "%s '%s': %s", what, path, cdp_strerror(ret));
	return ret;
}

static void tick(struct restore *r, int force)
{
	int64_t now;

	if (!r->progress || r->counting)
		return;
	now = cdp_now_ns();
	if (!force && now - r->last_progress_ns < 100000000LL)
		return;
	r->last_progress_ns = now;
	r->progress(r->arg, &r->st);
}

/* The first path a file with several names was restored at (NULL: none
 * yet); remembers path for it. */
static int link_first(struct restore *r, uint64_t fid, const char *path, const char **first)
{
	size_t i;
	char **v;

	*first = NULL;
	if (cdp_fidmap_get(&r->linked, fid, &i)) {
		*first = r->first_paths[i];
		return 0;
	}
	v = cdp_grow(r->first_paths, &r->first_cap, r->nfirst + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->first_paths = v;
	v[r->nfirst] = strdup(path);
	if (!v[r->nfirst])
		return -ENOMEM;
	if (cdp_fidmap_put(&r->linked, fid, r->nfirst) < 0) {
		free(v[r->nfirst]);
		return -ENOMEM;
	}
	r->nfirst++;
	return 0;
}

/* A temporary name beside dst, heap. */
static char *temp_beside(const char *dst)
{
	const char *slash = strrchr(dst, '/');
	size_t dlen = slash ? (size_t)(slash - dst) + 1 : 0;
	const char *base = dst + dlen;
	char *t = malloc(dlen + strlen(base) + 32);

	if (t)
		sprintf(t, "%.*s.%.200s.cdpfs-restore-XXXXXX", (int)dlen, dst, base);
	return t;
}

/* mkstemp's name for a node other than a regular file: a fresh name made
 * by mkstemp, then removed, so the node can take it. */
static int temp_name(char *t)
{
	int fd = mkstemp(t);

	if (fd < 0)
		return -errno;
	close(fd);
	if (unlink(t) < 0)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------ metadata */

static int set_xattrs(struct restore *r, uint64_t fid, const char *path, int fd)
{
	char *names = NULL, *val = NULL, *n;
	ssize_t len, vlen;
	int ret = 0;

	len = cdp_view_listxattr(r->v, fid, NULL, 0);
	if (len <= 0)
		return (int)len;
	names = malloc((size_t)len);
	if (!names)
		return -ENOMEM;
	len = cdp_view_listxattr(r->v, fid, names, (size_t)len);
	for (n = names; len > 0 && n < names + len && ret == 0; n += strlen(n) + 1) {
		vlen = cdp_view_getxattr(r->v, fid, n, NULL, 0);
		if (vlen < 0) {
			ret = (int)vlen;
			break;
		}
		free(val);
		val = malloc((size_t)vlen + 1);
		if (!val) {
			ret = -ENOMEM;
			break;
		}
		vlen = cdp_view_getxattr(r->v, fid, n, val, (size_t)vlen);
		if (vlen < 0) {
			ret = (int)vlen;
			break;
		}
		if ((fd >= 0 ? fsetxattr(fd, n, val, (size_t)vlen, 0) :
			       lsetxattr(path, n, val, (size_t)vlen, 0)) < 0) {
			r->st.xattr_failures++;
			cdp_log(LOG_WARNING, "cannot set xattr '%s' of '%s': %s", n, path,
				strerror(errno));
		}
	}
	if (len < 0)
		ret = (int)len;
	free(names);
	free(val);
	return ret < 0 ? fail(r, ret, "cannot read the xattrs of", path) : 0;
}

/* Owner, xattrs, mode and times of path (fd when open, else by name). */
static int set_meta(struct restore *r, uint64_t fid, const struct cdp_attr *a,
		    const char *path, int fd)
{
	const char *what = NULL;
	int ret = cdp_local_owner(a, path, fd, r->is_root, &r->st.owner_failures, &what);

	if (ret == 0 && !S_ISLNK(a->mode))
		ret = set_xattrs(r, fid, path, fd);
	if (ret == 0)
		ret = cdp_local_mode_times(a, path, fd, &what);
	if (ret < 0 && what)
		return fail(r, ret, what, path);
	return ret;
}

/* Puts tmp at dst: what is at dst goes (OVERWRITE: the caller checked). */
static int put_in_place(struct restore *r, const char *tmp, const char *dst)
{
	struct stat st;
	int ret;

	if (lstat(dst, &st) == 0) {
		r->st.replaced++;
		if (S_ISDIR(st.st_mode)) {
			ret = cdp_rm_tree(dst);
			if (ret < 0)
				return fail(r, ret, "cannot remove the directory in the way at", dst);
		}
	}
	if (rename(tmp, dst) < 0)
		return fail(r, -errno, "cannot rename the restored file into place at", dst);
	return 0;
}

/* ------------------------------------------------------------ files */

struct runs {
	struct restore *r;
	uint64_t fid;
	int fd;
	const char *src;
	uint64_t size;
	uint64_t first, n;   /* the run being gathered */
	uint64_t data_bytes;
};

static int flush_run(struct runs *u)
{
	struct restore *r = u->r;
	uint64_t off = u->first * r->bs, len = u->n * r->bs;
	ssize_t got, put;

	if (!u->n)
		return 0;
	if (off + len > u->size)
		len = u->size - off;
	got = cdp_view_read(r->v, u->fid, r->buf, (size_t)len, off);
	if (got == -EIO) {
		cdp_errf(r->err, r->errlen, "cannot restore '%s': a chunk of its data between "
			 "offsets %llu and %llu is damaged or missing in the store (the log line "
			 "names it; 'cdpfs verify' lists every damaged chunk)", u->src,
			 (unsigned long long)off, (unsigned long long)(off + len));
		return -EIO;
	}
	if (got < 0)
		return fail(r, (int)got, "cannot read the data of", u->src);
	put = cdp_pwrite_all(u->fd, r->buf, (size_t)got, off);
	if (put < 0)
		return fail(r, (int)put, "cannot write the restored copy of", u->src);
	u->data_bytes += (uint64_t)got;
	r->st.bytes_done += (uint64_t)got;
	u->n = 0;
	tick(r, 0);
	return 0;
}

static int run_cb(void *arg, uint64_t block)
{
	struct runs *u = arg;
	int ret;

	if (u->n && (block != u->first + u->n || u->n == RUN_BLOCKS)) {
		ret = flush_run(u);
		if (ret < 0)
			return ret;
	}
	if (!u->n)
		u->first = block;
	u->n++;
	return 0;
}

static int restore_regular(struct restore *r, uint64_t fid, const struct cdp_attr *a,
			   const char *src, const char *dst)
{
	struct runs u = { r, fid, -1, src, a->size, 0, 0, 0 };
	char *tmp = temp_beside(dst);
	int ret;

	if (!tmp)
		return -ENOMEM;
	u.fd = mkstemp(tmp);
	if (u.fd < 0) {
		ret = fail(r, -errno, "cannot create a file beside", dst);
		free(tmp);
		return ret;
	}
	ret = cdp_view_data_blocks(r->v, fid, 0, (a->size + r->bs - 1) / r->bs, run_cb, &u);
	if (ret < 0 && !r->err[0])
		fail(r, ret, "cannot read the block index of", src);
	if (ret == 0)
		ret = flush_run(&u);
	if (ret == 0 && ftruncate(u.fd, (off_t)a->size) < 0)
		ret = fail(r, -errno, "cannot set the size of the restored copy of", src);
	if (ret == 0)
		ret = set_meta(r, fid, a, dst, u.fd);
	if (close(u.fd) < 0 && ret == 0)
		ret = fail(r, -errno, "cannot write the restored copy of", src);
	if (ret == 0)
		ret = put_in_place(r, tmp, dst);
	if (ret < 0)
		unlink(tmp);
	else {
		r->st.holes_bytes += a->size - u.data_bytes;
		r->st.bytes_done += a->size - u.data_bytes;
	}
	free(tmp);
	return ret;
}

static int restore_node(struct restore *r, uint64_t fid, const struct cdp_attr *a,
			const char *src, const char *dst)
{
	char *tmp = temp_beside(dst), target[PATH_MAX + 1];
	ssize_t tlen;
	int ret;

	if (!tmp)
		return -ENOMEM;
	ret = temp_name(tmp);
	if (ret < 0) {
		fail(r, ret, "cannot create a file beside", dst);
		goto out;
	}
	if (S_ISLNK(a->mode)) {
		tlen = cdp_view_readlink(r->v, fid, target, sizeof(target));
		if (tlen < 0) {
			ret = fail(r, (int)tlen, "cannot read the symlink", src);
			goto out;
		}
		if (symlink(target, tmp) < 0)
			ret = -errno;
		r->st.symlinks++;
	} else {
		if (mknod(tmp, (a->mode & S_IFMT) | 0600, S_ISCHR(a->mode) || S_ISBLK(a->mode) ?
			  (dev_t)a->rdev : 0) < 0)
			ret = -errno;
		r->st.specials++;
	}
	if (ret < 0) {
		fail(r, ret, "cannot create the node", dst);
		goto out;
	}
	ret = set_meta(r, fid, a, tmp, -1);
	if (ret == 0)
		ret = put_in_place(r, tmp, dst);
	if (ret < 0)
		unlink(tmp);
out:
	free(tmp);
	return ret;
}

/* ------------------------------------------------------------ the walk */

static int restore_entry(struct restore *r, uint64_t fid, const char *src, const char *dst,
			 int depth);

struct dir_walk {
	struct restore *r;
	const char *src, *dst;
	int depth;
	int ret;
	char **names;        /* the entries restored, to count what else is there */
	size_t n, cap;
};

static int dir_cb(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct dir_walk *w = arg;
	char *s = malloc(strlen(w->src) + strlen(name) + 2);
	char *d = malloc(strlen(w->dst) + strlen(name) + 2);
	char **nn;
	int ret;

	if (!s || !d) {
		free(s);
		free(d);
		return -ENOMEM;
	}
	sprintf(s, "%s%s%s", w->src, strcmp(w->src, "/") ? "/" : "", name);
	sprintf(d, "%s/%s", w->dst, name);
	ret = restore_entry(w->r, fid, s, d, w->depth + 1);
	free(s);
	free(d);
	if (ret == 0 && !w->r->counting) {
		nn = cdp_grow(w->names, &w->cap, w->n + 1, sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		w->names = nn;
		w->names[w->n] = strdup(name);
		if (!w->names[w->n])
			return -ENOMEM;
		w->n++;
	}
	return ret;
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Is name one of temp_beside()'s (".NAME.cdpfs-restore-XXXXXX")? */
static int is_restore_temp(const char *name)
{
	static const char tag[] = ".cdpfs-restore-";
	size_t len = strlen(name), tl = sizeof(tag) - 1;

	return name[0] == '.' && len > tl + 7 && memcmp(name + len - 6 - tl, tag, tl) == 0;
}

/* Counts the entries of an existing dst that the tree does not have (and
 * removes the temporary files of an interrupted restore). */
static void count_kept(struct restore *r, const char *dst, struct dir_walk *w)
{
	DIR *d = opendir(dst);
	struct dirent *e;
	char *key;

	if (!d)
		return;
	qsort(w->names, w->n, sizeof(*w->names), name_cmp);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (is_restore_temp(e->d_name)) {
			/* a file a killed restore was writing: ours by its name */
			if (unlinkat(dirfd(d), e->d_name, 0) == 0)
				continue;
		}
		key = e->d_name;
		if (!bsearch(&key, w->names, w->n, sizeof(*w->names), name_cmp))
			r->st.kept++;
	}
	closedir(d);
}

static int restore_dir(struct restore *r, uint64_t fid, const struct cdp_attr *a,
		       const char *src, const char *dst, int depth)
{
	struct dir_walk w = { r, src, dst, depth, 0, NULL, 0, 0 };
	struct stat st;
	int ret, existed = 0;
	size_t i;

	if (!r->counting) {
		if (lstat(dst, &st) == 0 && S_ISDIR(st.st_mode)) {
			existed = 1;
		} else {
			if (lstat(dst, &st) == 0) {
				r->st.replaced++;
				if (unlink(dst) < 0)
					return fail(r, -errno, "cannot remove the file in the way at",
						    dst);
			}
			if (mkdir(dst, 0700) < 0)
				return fail(r, -errno, "cannot create the directory", dst);
		}
		r->st.dirs++;
	}
	ret = cdp_view_readdir(r->v, fid, NULL, dir_cb, &w);
	if (ret < 0 && !r->err[0])
		fail(r, ret, "cannot list the directory", src);
	if (ret == 0 && existed)
		count_kept(r, dst, &w);
	for (i = 0; i < w.n; i++)
		free(w.names[i]);
	free(w.names);
	if (ret == 0 && !r->counting)
		ret = set_meta(r, fid, a, dst, -1);
	return ret;
}

static int restore_entry(struct restore *r, uint64_t fid, const char *src, const char *dst,
			 int depth)
{
	struct cdp_attr a;
	const char *first = NULL;
	struct stat st;
	int ret, exists;

	if (depth > 4096)
		return fail(r, -ELOOP, "too deep a tree at", src);
	ret = cdp_view_getattr(r->v, fid, &a);
	if (ret < 0)
		return fail(r, ret, "cannot read the attributes of", src);
	if (!S_ISDIR(a.mode) && a.nlink > 1) {
		ret = link_first(r, fid, dst, &first);
		if (ret < 0)
			return ret;
	}
	if (r->counting) {
		if (S_ISREG(a.mode) && !first) {
			r->st.files_total++;
			r->st.bytes_total += a.size;
		}
		return S_ISDIR(a.mode) ? restore_dir(r, fid, &a, src, dst, depth) : 0;
	}
	exists = lstat(dst, &st) == 0;
	if (r->list)
		r->list(r->arg, first ? 'L' : exists ? '~' : '+', dst, a.mode & S_IFMT, a.size);
	if (r->flags & CDP_RESTORE_DRY_RUN) {
		if (S_ISDIR(a.mode)) {
			struct dir_walk w = { r, src, dst, depth, 0, NULL, 0, 0 };
			size_t i;

			ret = cdp_view_readdir(r->v, fid, NULL, dir_cb, &w);
			for (i = 0; i < w.n; i++)
				free(w.names[i]);
			free(w.names);
			if (ret < 0 && !r->err[0])
				fail(r, ret, "cannot list the directory", src);
		}
		return ret;
	}
	r->st.current = dst;
	if (first) {
		if (exists && !S_ISDIR(st.st_mode)) {
			r->st.replaced++;
			if (unlink(dst) < 0)
				return fail(r, -errno, "cannot remove the file in the way at", dst);
		} else if (exists) {
			r->st.replaced++;
			ret = cdp_rm_tree(dst);
			if (ret < 0)
				return fail(r, ret, "cannot remove the directory in the way at", dst);
		}
		if (link(first, dst) < 0)
			return fail(r, -errno, "cannot link the restored file to", dst);
		r->st.hardlinks++;
		tick(r, 0);
		return 0;
	}
	if (S_ISDIR(a.mode))
		ret = restore_dir(r, fid, &a, src, dst, depth);
	else if (S_ISREG(a.mode))
		ret = restore_regular(r, fid, &a, src, dst);
	else
		ret = restore_node(r, fid, &a, src, dst);
	if (ret == 0 && S_ISREG(a.mode))
		r->st.files_done++;
	tick(r, S_ISREG(a.mode));
	return ret;
}

static void restore_release(struct restore *r)
{
	size_t i;

	for (i = 0; i < r->nfirst; i++)
		free(r->first_paths[i]);
	free(r->first_paths);
	r->first_paths = NULL;
	r->nfirst = r->first_cap = 0;
	cdp_fidmap_release(&r->linked);
}

int cdp_restore(struct cdp_view *v, const char *path, const char *dest, unsigned flags,
		cdp_restore_progress_fn progress, cdp_restore_list_fn list, void *arg,
		struct cdp_restore_progress *summary, char *err, size_t errlen)
{
	struct restore r;
	struct stat st;
	uint64_t fid;
	char *parent, *slash, *stage = NULL, *marker = NULL, text[PATH_MAX + 160], when[64];
	const char *target = dest;
	int ret, exists;

	memset(&r, 0, sizeof(r));
	r.v = v;
	r.bs = cdp_store_block_size(cdp_view_store(v));
	r.flags = flags;
	r.progress = progress;
	r.list = list;
	r.arg = arg;
	r.err = err;
	r.errlen = errlen;
	r.is_root = geteuid() == 0;
	if (err && errlen)
		err[0] = 0;
	ret = cdp_view_resolve(v, path, &fid);
	if (ret < 0)
		return fail(&r, ret, "cannot find", path);
	exists = lstat(dest, &st) == 0;
	marker = cdp_path_beside(dest, ".cdpfs-restore-incomplete");
	stage = cdp_path_beside(dest, ".cdpfs-restore-partial");
	if (!marker || !stage) {
		ret = -ENOMEM;
		goto out_names;
	}
	if (exists && !(flags & CDP_RESTORE_OVERWRITE)) {
		if (lstat(marker, &st) == 0)
			cdp_errf(err, errlen, "'%s' is partly restored: an earlier restore into it was "
				 "interrupted ('%s' says so); run it again with --overwrite to finish "
				 "it", dest, marker);
		else
			cdp_errf(err, errlen, "'%s' exists: give a new name, or --overwrite to "
				 "replace what is there", dest);
		ret = -EEXIST;
		goto out_names;
	}
	parent = strdup(dest);
	if (!parent)
		return -ENOMEM;
	slash = strrchr(parent, '/');
	if (slash)
		*(slash == parent ? slash + 1 : slash) = 0;
	ret = stat(slash ? parent : ".", &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (ret < 0)
		cdp_errf(err, errlen, "the directory of '%s' (%s) cannot be used: %s", dest,
			 slash ? parent : ".", cdp_strerror(ret));
	free(parent);
	if (ret < 0)
		goto out_names;
	if (flags & CDP_RESTORE_DRY_RUN) {
		/* writes nothing */
	} else if (!exists) {
		target = stage;
		if (lstat(stage, &st) == 0) {
			cdp_log(LOG_NOTICE, "removing '%s', the partial tree of an interrupted "
				"restore", stage);
			ret = cdp_rm_tree(stage);
			if (ret < 0) {
				cdp_errf(err, errlen, "cannot remove '%s', the partial tree of an "
					 "interrupted restore: %s", stage, cdp_strerror(ret));
				goto out_names;
			}
		}
	} else {
		cdp_time_format(cdp_now_ns(), when, sizeof(when));
		snprintf(text, sizeof(text), "cdpfs restore of '%s' into '%s' since %s (pid %d): "
			 "not finished while this file exists\n", path, dest, when, (int)getpid());
		ret = cdp_marker_write(marker, text);
		if (ret < 0) {
			cdp_errf(err, errlen, "cannot write the marker '%s' (nothing restored): %s",
				 marker, cdp_strerror(ret));
			goto out_names;
		}
	}
	r.buf = malloc((size_t)r.bs * RUN_BLOCKS);
	if (!r.buf) {
		ret = -ENOMEM;
		goto out_undo;
	}
	r.counting = 1;
	ret = restore_entry(&r, fid, path, target, 0);
	restore_release(&r);
	r.counting = 0;
	if (ret == 0) {
		if (progress)
			progress(arg, &r.st);
		ret = restore_entry(&r, fid, path, target, 0);
	}
	r.st.current = NULL;
	if (ret == 0 && !(flags & CDP_RESTORE_DRY_RUN)) {
		ret = cdp_sync_tree(target);
		if (ret < 0)
			fail(&r, ret, "cannot make durable what was restored at", dest);
		else if (target == stage && rename(stage, dest) < 0)
			ret = fail(&r, -errno, "cannot rename the restored tree into place at", dest);
		else if (target == stage && (ret = cdp_fsync_parent(dest)) < 0)
			fail(&r, ret, "cannot make durable the rename into place at", dest);
		/* a stale marker goes too when dest was made whole */
		if (ret == 0 && (ret = cdp_marker_clear(marker)) < 0)
			fail(&r, ret, "cannot remove the marker", marker);
	}
	if (ret == 0 && progress)
		progress(arg, &r.st);
	if (summary)
		*summary = r.st;
	restore_release(&r);
	free(r.buf);
out_undo:
	if (ret < 0 && !(flags & CDP_RESTORE_DRY_RUN)) {
		size_t len = err ? strnlen(err, errlen) : 0;

		if (target == stage && lstat(dest, &st) < 0) {
			cdp_rm_tree(stage);
			if (err && len + 1 < errlen)
				snprintf(err + len, errlen - len, " (nothing restored at '%s')", dest);
		} else if (target != stage && err && len + 1 < errlen) {
			snprintf(err + len, errlen - len, " ('%s' is partly restored: run the restore "
				 "again with --overwrite to finish it)", dest);
		}
	}
out_names:
	free(stage);
	free(marker);
	return ret;
}
