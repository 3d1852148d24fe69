/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest - prints one line per entry of a directory tree, sorted by path,
 * for the integration tests to compare a live tree with a mounted past
 * instant of it.  Each line holds the path relative to the root ("." for the
 * root itself), then type, permission bits, uid, gid, size (not for
 * directories), mtime in nanoseconds, nlink, rdev for device nodes, the
 * symlink target, every extended attribute (names sorted, values in hex), the
 * SHA-256 of a regular file's content, and for a file with more than one link
 * the first path (in sort order) of its link group, so that the shape of the
 * hard links is compared, not inode numbers.  atime, ctime and directory
 * sizes are left out on purpose: they differ between filesystems.
 *
 * Usage: manifest [-X] [-M] DIR
 *   -X: leave out xattrs
 *   -M: leave out mtimes (to compare a native tree with one made by the same
 *       operations on a FUSE mount, where the times differ)
 * Works on trees deeper than PATH_MAX (it walks by changing directory).
 * Non-printable bytes and spaces in names and targets are written as \xNN.
 * Exit status 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <openssl/evp.h>

struct entry {
	char *path;       /* relative, escaped; owned */
	char *fields;     /* everything after the path; owned */
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	int is_dir;
};

static struct entry *entries;
static size_t nentries, capentries;
static int with_xattrs = 1;
static int with_mtimes = 1;
static int failed;

static void escape(const char *in, size_t len, char **out)
{
	size_t i, o = 0;
	char *buf = malloc(len * 4 + 1);

	if (!buf) {
		perror("manifest: malloc");
		exit(1);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= ' ' || c >= 127 || c == '\\' || c == '=')
			o += (size_t)sprintf(buf + o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	*out = buf;
}

static void hexcat(char *dst, const unsigned char *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		sprintf(dst + 2 * i, "%02x", src[i]);
	dst[2 * len] = '\0';
}

static int sha256_file(const char *path, char out[65])
{
	unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		err = -ENOMEM;
		goto out_close;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out_close;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	hexcat(out, md, mdlen);
out_close:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return err;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends " xattr:NAME=HEX" for each attribute, names sorted. */
static int xattrs_append(const char *path, char **line, size_t *len)
{
	char *names = NULL, **list = NULL;
	ssize_t size, i;
	size_t n = 0, k;
	int err = 0;

	size = llistxattr(path, NULL, 0);
	if (size < 0)
		return (errno == ENOTSUP) ? 0 : -errno;
	if (size == 0)
		return 0;
	names = malloc((size_t)size);
	list = calloc((size_t)size, sizeof(*list));
	if (!names || !list) {
		err = -ENOMEM;
		goto out_free;
	}
	size = llistxattr(path, names, (size_t)size);
	if (size < 0) {
		err = -errno;
		goto out_free;
	}
	for (i = 0; i < size; i += (ssize_t)strlen(names + i) + 1)
		list[n++] = names + i;
	qsort(list, n, sizeof(*list), cmp_str);
	for (k = 0; k < n; k++) {
		ssize_t vlen = lgetxattr(path, list[k], NULL, 0);
		unsigned char *val;
		char *hex, *ename;
		size_t need;

		if (vlen < 0) {
			err = -errno;
			goto out_free;
		}
		val = malloc((size_t)vlen + 1);
		hex = malloc((size_t)vlen * 2 + 1);
		if (!val || !hex) {
			free(val);
			free(hex);
			err = -ENOMEM;
			goto out_free;
		}
		vlen = lgetxattr(path, list[k], val, (size_t)vlen);
		if (vlen < 0) {
			err = -errno;
			free(val);
			free(hex);
			goto out_free;
		}
		hexcat(hex, val, (size_t)vlen);
		escape(list[k], strlen(list[k]), &ename);
		need = *len + strlen(ename) + strlen(hex) + 16;
		*line = realloc(*line, need);
		if (!*line) {
			perror("manifest: realloc");
			exit(1);
		}
		*len += (size_t)sprintf(*line + *len, " xattr:%s=%s", ename, hex);
		free(ename);
		free(val);
		free(hex);
	}
out_free:
	free(list);
	free(names);
	return err;
}

static const char *type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFSOCK: return "sock";
	default: return "unknown";
	}
}

/* Records one entry: name is relative to the current directory, rel is its
 * path relative to the root for the output (it may exceed PATH_MAX). */
static void record(const char *name, const char *rel, const struct stat *st)
{
	char *line;
	size_t len, cap = 1024;
	struct entry *e;
	int err;

	line = malloc(cap);
	if (!line) {
		perror("manifest: malloc");
		exit(1);
	}
	len = (size_t)snprintf(line, cap, "type=%s mode=%04o uid=%u gid=%u",
			       type_name(st->st_mode), (unsigned)(st->st_mode & 07777),
			       (unsigned)st->st_uid, (unsigned)st->st_gid);
	if (!S_ISDIR(st->st_mode))
		len += (size_t)snprintf(line + len, cap - len, " size=%lld",
					(long long)st->st_size);
	if (with_mtimes)
		len += (size_t)snprintf(line + len, cap - len, " mtime=%lld%09ld",
					(long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	len += (size_t)snprintf(line + len, cap - len, " nlink=%lu",
				(unsigned long)st->st_nlink);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		len += (size_t)snprintf(line + len, cap - len, " rdev=%u:%u",
					major(st->st_rdev), minor(st->st_rdev));
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX + 1], *etarget;
		ssize_t n = readlink(name, target, sizeof(target) - 1);

		if (n < 0) {
			fprintf(stderr, "manifest: cannot read link '%s': %s\n", rel, strerror(errno));
			failed = 1;
			n = 0;
		}
		escape(target, (size_t)n, &etarget);
		line = realloc(line, len + strlen(etarget) + 64);
		if (!line) {
			perror("manifest: realloc");
			exit(1);
		}
		len += (size_t)sprintf(line + len, " target=%s", etarget);
		free(etarget);
	}
	if (S_ISREG(st->st_mode)) {
		char sum[65];

		err = sha256_file(name, sum);
		if (err) {
			fprintf(stderr, "manifest: cannot read '%s': %s\n", rel, strerror(-err));
			failed = 1;
			strcpy(sum, "unreadable");
		}
		line = realloc(line, len + 96);
		if (!line) {
			perror("manifest: realloc");
			exit(1);
		}
		len += (size_t)sprintf(line + len, " sha256=%s", sum);
	}
	if (with_xattrs) {
		err = xattrs_append(name, &line, &len);
		if (err) {
			fprintf(stderr, "manifest: cannot list xattrs of '%s': %s\n", rel,
				strerror(-err));
			failed = 1;
		}
	}
	if (nentries == capentries) {
		capentries = capentries ? capentries * 2 : 1024;
		entries = realloc(entries, capentries * sizeof(*entries));
		if (!entries) {
			perror("manifest: realloc");
			exit(1);
		}
	}
	e = &entries[nentries++];
	escape(rel, strlen(rel), &e->path);
	e->fields = line;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->nlink = st->st_nlink;
	e->is_dir = S_ISDIR(st->st_mode);
}

/* Visits name (relative to the current directory) and, for a directory,
 * everything below it, by changing into it: no path is ever longer than a
 * name, so trees deeper than PATH_MAX work.  Returns with the same cwd. */
static void walk(const char *name, const char *rel)
{
	struct stat st;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int back;

	if (lstat(name, &st) != 0) {
		fprintf(stderr, "manifest: cannot stat '%s': %s\n", rel, strerror(errno));
		failed = 1;
		return;
	}
	record(name, rel, &st);
	if (!S_ISDIR(st.st_mode))
		return;
	back = open(".", O_RDONLY | O_DIRECTORY);
	if (back < 0 || chdir(name) != 0 || !(d = opendir("."))) {
		fprintf(stderr, "manifest: cannot enter '%s': %s\n", rel, strerror(errno));
		failed = 1;
		if (back >= 0 && fchdir(back) != 0)
			exit(1);
		if (back >= 0)
			close(back);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names) {
				perror("manifest: realloc");
				exit(1);
			}
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		size_t rlen = strlen(rel) + strlen(names[i]) + 2;
		char *child = malloc(rlen);

		if (!child) {
			perror("manifest: malloc");
			exit(1);
		}
		if (strcmp(rel, ".") == 0)
			snprintf(child, rlen, "%s", names[i]);
		else
			snprintf(child, rlen, "%s/%s", rel, names[i]);
		walk(names[i], child);
		free(child);
		free(names[i]);
	}
	free(names);
	if (fchdir(back) != 0) {
		perror("manifest: fchdir");
		exit(1);
	}
	close(back);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

int main(int argc, char **argv)
{
	const char *root;
	size_t i, k;
	int c;

	while ((c = getopt(argc, argv, "XM")) != -1) {
		switch (c) {
		case 'X':
			with_xattrs = 0;
			break;
		case 'M':
			with_mtimes = 0;
			break;
		default:
			fprintf(stderr, "usage: manifest [-X] [-M] DIR\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: manifest [-X] [-M] DIR\n");
		return 2;
	}
	root = argv[optind];
	if (chdir(root) != 0) {
		fprintf(stderr, "manifest: cannot enter '%s': %s\n", root, strerror(errno));
		return 1;
	}
	walk(".", ".");
	qsort(entries, nentries, sizeof(*entries), cmp_entry);
	for (i = 0; i < nentries; i++) {
		const char *group = NULL;

		if (!entries[i].is_dir && entries[i].nlink > 1) {
			for (k = 0; k <= i; k++)
				if (entries[k].ino == entries[i].ino &&
				    entries[k].dev == entries[i].dev) {
					group = entries[k].path;
					break;
				}
		}
		printf("%s %s%s%s\n", entries[i].path, entries[i].fields,
		       group ? " linkgroup=" : "", group ? group : "");
	}
	return failed ? 1 : 0;
}
