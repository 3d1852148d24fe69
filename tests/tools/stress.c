/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stress - a multi-process filesystem stress workload in the manner of
 * xfstests' fsstress (not packaged in Debian 12), for the integration tests
 * to drive the capture layer and overlays with colliding operations.
 *
 * NPROC processes work on one SHARED tree under DIR (top directories d0..d3
 * made at the start), so that they collide: create, write (aligned,
 * unaligned, extending, sparse far writes), read, truncate and ftruncate
 * (shrink, extend, far), fallocate (allocate, keep-size, punch hole, zero
 * range, collapse range, insert range), rename with every renameat2 flag
 * (plain, NOREPLACE, EXCHANGE, WHITEOUT) of files and directories across
 * directories, link, unlink, mkdir, rmdir (non-empty ones too), symlink,
 * mkfifo, mknod (character devices 1:3, 1:5, 1:7 only), chown, chmod,
 * utimensat (AT_SYMLINK_NOFOLLOW on symlinks, explicit times, UTIME_NOW,
 * UTIME_OMIT), setxattr and removexattr of user.* on files and directories,
 * fsync and fdatasync, and, above all, writes, ftruncate, fallocate,
 * xattr and attribute changes through descriptors each process keeps open
 * across many operations while others rename or unlink those files.
 *
 * Errors that races cause (ENOENT, EEXIST, ENOTEMPTY, EISDIR, EINVAL, ...)
 * and EOPNOTSUPP (collapse and insert range on FUSE mounts, which the Linux
 * fuse module refuses) are counted per operation and errno; a table of them
 * is printed at the end on stdout.  ESTALE, EIO, ENOTCONN, EAGAIN,
 * ECONNABORTED and EBADF are failures of the filesystem under test (ext4
 * never returns them here; the tool never passes a closed descriptor, so an
 * EBADF is a handle the filesystem lost): each is printed on stderr as it
 * happens, they are counted in the table, and the exit status is 1.
 *
 * With -p 1 a run is deterministic given the seed and the starting tree:
 * every name is either made by the tool's own generator (a prefix by type
 * and a number drawn from a small range, so that names collide) or drawn
 * from a directory listing sorted by name, never in readdir order; sizes
 * come from st_size only (never st_blocks or st_blksize), and nothing
 * depends on time or inode numbers.  The same seed on a native directory
 * and on a FUSE mount therefore gives the same tree, mtimes and ctimes
 * aside, and the same table on stdout.
 *
 * -r ROUNDS -c CMD splits each process's NOPS into ROUNDS rounds; after
 * each round every process waits (no operation in flight; held descriptors
 * stay open) while the parent runs `sh -c CMD` with STRESS_ROUND=k (1..R)
 * in its environment; then the next round starts.  A CMD that fails makes
 * the exit status 1.
 *
 * O_DIRECT writes and writes through shared mappings exclude each other (a
 * process-shared rwlock): a direct write that cannot invalidate a page
 * cache page dirtied meanwhile through a mapping makes the kernel set EIO
 * on the file, natively too ("Page cache invalidation failure on direct
 * I/O", dio_warn_stale_pagecache); that EIO would be the workload's, not
 * the filesystem's.
 *
 * Symlink targets are sibling names, "/nonexistent/..." or long dangling
 * names, never "..": whatever follows a symlink stays inside the tree.
 * Nothing is ever opened but regular files (checked with fstat after an
 * O_NONBLOCK|O_NOFOLLOW open) and the tool's own device nodes.
 *
 * Usage: stress -d DIR [-p NPROC] [-n NOPS] [-s SEED] [-x OP,OP...]
 *               [-f OP=WEIGHT,...] [-r ROUNDS -c CMD] [-v]
 * Exit status 0; 1 on a failure errno, a crashed process or a failed CMD;
 * 2 on bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

#define NTOPDIRS 4           /* d0..d3 made at the start */
#define NAME_RANGE 16        /* generated names: prefix + 0..NAME_RANGE-1 */
#define NXATTR_NAMES 6       /* user.s0..user.s5 */
#define NHELD 4              /* descriptors each process keeps open */
#define MAX_DEPTH 8          /* of a random descent */
#define MKDIR_MAX_DEPTH 3    /* mkdir only in directories this deep (root 0) */
#define MAX_WRITE (64 * 1024)
#define MAX_FILE_SIZE (1024 * 1024)
#define FAR_RANGE (768 * 1024)
#define BLOCK 4096           /* alignment of aligned writes and of collapse/insert */
#define NERR 256             /* errno slots in the table */
#define SKIP 1               /* an op found nothing to act on */
#define MAX_LOUD 20          /* failure messages printed per process */

enum kind {
	K_REG = 1 << 0,
	K_DIR = 1 << 1,
	K_LNK = 1 << 2,
	K_FIFO = 1 << 3,
	K_CHR = 1 << 4,
	K_OTHER = 1 << 5,
	K_NONDIR = K_REG | K_LNK | K_FIFO | K_CHR | K_OTHER,
	K_ANY = K_NONDIR | K_DIR,
};

struct held {
	int fd;                  /* -1 when the slot is empty */
	char path[PATH_MAX];     /* where it was opened (for messages) */
};

struct proc {
	int index;
	uint64_t rng;
	uint64_t opno;
	struct held held[NHELD];
	unsigned char *buf;      /* MAX_WRITE bytes; owned */
	uint64_t *stats;         /* this process's row of the shared table */
	int loud;                /* failure messages printed so far */
	char path[2 * PATH_MAX + 64]; /* the path(s) of the current op (for messages) */
};

struct op {
	const char *name;
	int weight;
	int (*fn)(struct proc *p);
};

static int verbose;
/* dwrite holds it for writing, mwrite for reading; in shared memory */
static pthread_rwlock_t *dio_lock;

/* stats layout: [proc][op][slot], slot 0 = ok, SKIP = skipped, else errno */
#define SLOT_OK 0
#define SLOT_SKIP 1

static int is_failure_errno(int e)
{
	return e == ESTALE || e == EIO || e == ENOTCONN || e == EAGAIN ||
	       e == ECONNABORTED || e == EBADF;
}

static const char *errno_name(int e)
{
	const char *s = strerrorname_np(e);

	return s ? s : "E?";
}

/* ------------------------------------------------------------ randomness */

static uint64_t rnd64(struct proc *p)
{
	uint64_t z = (p->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, n); 0 when n is 0. */
static uint64_t rnd(struct proc *p, uint64_t n)
{
	return n ? rnd64(p) % n : 0;
}

static void fill_buf(struct proc *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t v = rnd64(p);
		size_t k = len - i < 8 ? len - i : 8;

		memcpy(p->buf + i, &v, k);
	}
}

/* ------------------------------------------------------------ listings */

struct dent {
	char *name;
	unsigned kind;
};

static unsigned kind_of_mode(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return K_REG;
	case S_IFDIR: return K_DIR;
	case S_IFLNK: return K_LNK;
	case S_IFIFO: return K_FIFO;
	case S_IFCHR: return K_CHR;
	default: return K_OTHER;
	}
}

static unsigned kind_of_dtype(unsigned char t)
{
	switch (t) {
	case DT_REG: return K_REG;
	case DT_DIR: return K_DIR;
	case DT_LNK: return K_LNK;
	case DT_FIFO: return K_FIFO;
	case DT_CHR: return K_CHR;
	default: return K_OTHER;
	}
}

static int cmp_dent(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static void free_listing(struct dent *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(d[i].name);
	free(d);
}

/* Lists dir sorted by name (no "." or ".."), with each entry's type from
 * d_type or, when that is DT_UNKNOWN, from fstatat.  Returns 0 with *out
 * (owned by the caller, free_listing) or -errno. */
static int list_dir(const char *dir, struct dent **out, size_t *nout)
{
	struct dent *d = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dh;
	int err = 0;

	dh = opendir(dir);
	if (!dh)
		return -errno;
	for (;;) {
		unsigned k;

		errno = 0;
		de = readdir(dh);
		if (!de) {
			err = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
				if (errno == ENOENT)
					continue;
				err = -errno;
				break;
			}
			k = kind_of_mode(st.st_mode);
		} else {
			k = kind_of_dtype(de->d_type);
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			d = realloc(d, cap * sizeof(*d));
			if (!d) {
				perror("stress: realloc");
				exit(2);
			}
		}
		d[n].name = strdup(de->d_name);
		d[n].kind = k;
		if (!d[n].name) {
			perror("stress: strdup");
			exit(2);
		}
		n++;
	}
	closedir(dh);
	if (err) {
		free_listing(d, n);
		return err;
	}
	if (n)
		qsort(d, n, sizeof(*d), cmp_dent);
	*out = d;
	*nout = n;
	return 0;
}

static int join(char *out, size_t size, const char *dir, const char *name)
{
	int n;

	if (strcmp(dir, ".") == 0)
		n = snprintf(out, size, "%s", name);
	else
		n = snprintf(out, size, "%s/%s", dir, name);
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

/*
 * Picks an existing entry whose kind is in mask by a random descent from
 * the root through sorted listings, into directories at most max_depth deep
 * (the root is at depth 0).  At each directory the choices are: staying
 * there (when mask has K_DIR; the root only when allow_root), each entry of
 * a kind in mask that is not a directory, and descending into each
 * subdirectory.  Returns 0 with the path in out (and its kind in *kind),
 * SKIP when there is nothing to pick, or -errno of a listing.
 */
static int pick_depth(struct proc *p, unsigned mask, int allow_root, int max_depth, char *out,
		      unsigned *kind)
{
	char cur[PATH_MAX];
	int depth;

	strcpy(cur, ".");
	for (depth = 0;; depth++) {
		struct dent *d = NULL;
		size_t n = 0, i, nmatch = 0, ndirs = 0, stay, total;
		uint64_t r;
		int err;

		err = list_dir(cur, &d, &n);
		if (err)
			return err;
		for (i = 0; i < n; i++) {
			if (d[i].kind == K_DIR)
				ndirs++;
			else if (d[i].kind & mask)
				nmatch++;
		}
		if (depth >= max_depth || strlen(cur) > PATH_MAX - 600)
			ndirs = 0;
		stay = (mask & K_DIR) && (depth > 0 || allow_root);
		total = stay + nmatch + ndirs;
		if (total == 0) {
			free_listing(d, n);
			return SKIP;
		}
		r = rnd(p, total);
		if (r < stay) {
			free_listing(d, n);
			strcpy(out, cur);
			*kind = K_DIR;
			return 0;
		}
		r -= stay;
		/* r < nmatch: the r-th match that is not a directory; else the
		 * (r - nmatch)-th directory */
		for (i = 0; i < n; i++) {
			int is_dir = d[i].kind == K_DIR;

			if (r < nmatch) {
				if (is_dir || !(d[i].kind & mask))
					continue;
			} else if (!is_dir) {
				continue;
			} else if (r == nmatch) {
				break;
			} else {
				r--;
				continue;
			}
			if (r == 0)
				break;
			r--;
		}
		if (i == n) {
			free_listing(d, n);
			return SKIP;
		}
		if (join(out, PATH_MAX, cur, d[i].name) != 0) {
			free_listing(d, n);
			return SKIP;
		}
		if (d[i].kind != K_DIR) {
			*kind = d[i].kind;
			free_listing(d, n);
			return 0;
		}
		free_listing(d, n);
		strcpy(cur, out);
	}
}

static int pick(struct proc *p, unsigned mask, int allow_root, char *out, unsigned *kind)
{
	return pick_depth(p, mask, allow_root, MAX_DEPTH, out, kind);
}

/* The depth of a path from pick (components; "." is 0). */
static int depth_of(const char *path)
{
	int d = 1;

	if (strcmp(path, ".") == 0)
		return 0;
	for (; *path; path++)
		d += *path == '/';
	return d;
}

static const char kind_prefix[] = "fdlpc";

static char prefix_of_kind(unsigned k)
{
	switch (k) {
	case K_DIR: return 'd';
	case K_LNK: return 'l';
	case K_FIFO: return 'p';
	case K_CHR: return 'c';
	default: return 'f';
	}
}

/* A generated name: prefix and a number in [0, NAME_RANGE), now and then
 * padded to a long name. */
static void gen_name(struct proc *p, char prefix, char *out, size_t size)
{
	unsigned num = (unsigned)rnd(p, NAME_RANGE);

	if (rnd(p, 40) == 0)
		snprintf(out, size, "%c%u-%0200u", prefix, num, 0u);
	else
		snprintf(out, size, "%c%u", prefix, num);
}

/* A new path: a directory picked (the root too) at most max_depth deep
 * and a generated name. */
static int pick_new_depth(struct proc *p, char prefix, int max_depth, char *out)
{
	char dir[PATH_MAX], name[256];
	unsigned k;
	int rc;

	rc = pick_depth(p, K_DIR, 1, max_depth, dir, &k);
	if (rc)
		return rc;
	gen_name(p, prefix, name, sizeof(name));
	return join(out, PATH_MAX, dir, name) ? SKIP : 0;
}

static int pick_new(struct proc *p, char prefix, char *out)
{
	return pick_new_depth(p, prefix, MAX_DEPTH, out);
}

/* ------------------------------------------------------------ helpers */

/* Opens path for the flags, regular files only: anything else (a race
 * put it there) is closed again.  Returns fd >= 0, NOT_REGULAR or -errno. */
#define NOT_REGULAR (-100000)

static int open_regular(const char *path, int flags)
{
	struct stat st;
	int fd;

	fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return NOT_REGULAR;
	}
	return fd;
}

static int fd_size(int fd, off_t *size)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return -errno;
	*size = st.st_size;
	return 0;
}

/* A write of one of several shapes through fd. */
static int do_write(struct proc *p, int fd)
{
	off_t size, off;
	size_t len;
	ssize_t n;
	int rc;

	rc = fd_size(fd, &size);
	if (rc)
		return rc;
	switch (rnd(p, 6)) {
	case 0: /* aligned */
		off = (off_t)rnd(p, (uint64_t)size / BLOCK + 2) * BLOCK;
		len = (1 + (size_t)rnd(p, 8)) * BLOCK;
		break;
	case 1: /* unaligned */
		off = (off_t)rnd(p, (uint64_t)size + 1);
		len = 1 + (size_t)rnd(p, 20000);
		break;
	case 2: /* extending */
		off = size;
		len = 1 + (size_t)rnd(p, 40000);
		break;
	case 3: /* sparse, far past the end */
		off = size + (off_t)rnd(p, FAR_RANGE);
		len = 1 + (size_t)rnd(p, 8192);
		break;
	case 4: /* small overwrite */
		off = (off_t)rnd(p, (uint64_t)size + 1);
		len = 1 + (size_t)rnd(p, 100);
		break;
	default: /* across an 8 KiB block boundary */
		off = (off_t)rnd(p, (uint64_t)size / 8192 + 1) * 8192 + 8192 - 1 -
		      (off_t)rnd(p, 50);
		len = 2 + (size_t)rnd(p, 200);
		break;
	}
	if (len > MAX_WRITE)
		len = MAX_WRITE;
	if (off + (off_t)len > MAX_FILE_SIZE)
		off = (off_t)rnd(p, MAX_FILE_SIZE / 2);
	fill_buf(p, len);
	n = pwrite(fd, p->buf, len, off);
	if (n < 0)
		return -errno;
	return 0;
}

static off_t new_size(struct proc *p, off_t size)
{
	switch (rnd(p, 5)) {
	case 0:
		return 0;
	case 1:
	case 2: /* shrink */
		return (off_t)rnd(p, (uint64_t)size + 1);
	case 3: /* extend a little */
		return size + 1 + (off_t)rnd(p, 256 * 1024);
	default: /* anywhere, far too */
		return (off_t)rnd(p, MAX_FILE_SIZE);
	}
}

static int do_ftruncate(struct proc *p, int fd)
{
	off_t size;
	int rc;

	rc = fd_size(fd, &size);
	if (rc)
		return rc;
	size = new_size(p, size);
	if (size > MAX_FILE_SIZE)
		size = MAX_FILE_SIZE;
	return ftruncate(fd, size) ? -errno : 0;
}

static int do_fallocate(struct proc *p, int fd, int mode)
{
	off_t size, off, len;
	int rc;

	rc = fd_size(fd, &size);
	if (rc)
		return rc;
	if (mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)) {
		uint64_t blocks = (uint64_t)size / BLOCK;

		off = (off_t)rnd(p, blocks + 1) * BLOCK;
		len = (off_t)(1 + rnd(p, 16)) * BLOCK;
		if ((mode & FALLOC_FL_INSERT_RANGE) && size + len > MAX_FILE_SIZE)
			len = BLOCK;
	} else {
		off = (off_t)rnd(p, (uint64_t)size + 65536);
		len = 1 + (off_t)rnd(p, 65536);
		if ((mode & FALLOC_FL_ZERO_RANGE) && rnd(p, 2))
			mode |= FALLOC_FL_KEEP_SIZE;
	}
	if (off + len > MAX_FILE_SIZE)
		off = 0;
	return fallocate(fd, mode, off, len) ? -errno : 0;
}

/* Opens a regular file picked into held slot i (empty).  Returns 0, SKIP
 * or -errno. */
static int open_held(struct proc *p, int i)
{
	char path[PATH_MAX];
	unsigned k;
	int fd, rc;

	rc = pick(p, K_REG, 0, path, &k);
	if (rc)
		return rc;
	snprintf(p->path, sizeof(p->path), "%s", path);
	fd = open_regular(path, O_RDWR);
	if (fd == NOT_REGULAR)
		return SKIP;
	if (fd < 0)
		return fd;
	p->held[i].fd = fd;
	snprintf(p->held[i].path, sizeof(p->held[i].path), "%s", path);
	return 0;
}

/* A held descriptor in *fd (a slot chosen at random; an empty one is
 * filled first).  Returns 0, or SKIP or -errno from filling the slot. */
static int held_fd(struct proc *p, int *fd)
{
	int i = (int)rnd(p, NHELD), rc;

	if (p->held[i].fd < 0) {
		rc = open_held(p, i);
		if (rc)
			return rc;
	}
	snprintf(p->path, sizeof(p->path), "held fd opened as '%s'", p->held[i].path);
	*fd = p->held[i].fd;
	return 0;
}

/* Runs fn on a held descriptor half of the time, else on a file picked and
 * opened for this op. */
static int on_some_fd(struct proc *p, int (*fn)(struct proc *p, int fd, int arg), int arg)
{
	char path[PATH_MAX];
	unsigned k;
	int fd, rc;

	if (rnd(p, 2)) {
		rc = held_fd(p, &fd);
		return rc ? rc : fn(p, fd, arg);
	}
	rc = pick(p, K_REG, 0, path, &k);
	if (rc)
		return rc;
	snprintf(p->path, sizeof(p->path), "%s", path);
	fd = open_regular(path, O_RDWR);
	if (fd == NOT_REGULAR)
		return SKIP;
	if (fd < 0)
		return fd;
	rc = fn(p, fd, arg);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* ------------------------------------------------------------ the ops */

static int op_create(struct proc *p)
{
	static const mode_t modes[] = { 0644, 0600, 0640, 0755, 0444, 04755, 02750 };
	size_t len;
	int fd, rc = 0;

	rc = pick_new(p, 'f', p->path);
	if (rc)
		return rc;
	fd = open(p->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
		  modes[rnd(p, sizeof(modes) / sizeof(modes[0]))]);
	if (fd < 0)
		return -errno;
	len = (size_t)rnd(p, 3) ? (size_t)rnd(p, 16384) : 0;
	if (len) {
		fill_buf(p, len);
		if (write(fd, p->buf, len) < 0)
			rc = -errno;
	}
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int op_write(struct proc *p)
{
	unsigned k;
	int fd, rc;

	rc = pick(p, K_REG, 0, p->path, &k);
	if (rc)
		return rc;
	fd = open_regular(p->path, O_WRONLY);
	if (fd == NOT_REGULAR)
		return SKIP;
	if (fd < 0)
		return fd;
	rc = do_write(p, fd);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int op_fdwrite(struct proc *p)
{
	int fd, rc = held_fd(p, &fd);

	return rc ? rc : do_write(p, fd);
}

static int op_read(struct proc *p)
{
	unsigned k;
	off_t size;
	int fd, rc;

	rc = pick(p, K_REG, 0, p->path, &k);
	if (rc)
		return rc;
	fd = open_regular(p->path, O_RDONLY);
	if (fd == NOT_REGULAR)
		return SKIP;
	if (fd < 0)
		return fd;
	rc = fd_size(fd, &size);
	if (rc == 0 && pread(fd, p->buf, MAX_WRITE, (off_t)rnd(p, (uint64_t)size + 1)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int op_truncate(struct proc *p)
{
	struct stat st;
	unsigned k;
	off_t size;
	int rc;

	rc = pick(p, K_REG, 0, p->path, &k);
	if (rc)
		return rc;
	if (lstat(p->path, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return SKIP;
	size = new_size(p, st.st_size);
	if (size > MAX_FILE_SIZE)
		size = MAX_FILE_SIZE;
	return truncate(p->path, size) ? -errno : 0;
}

static int op_ftruncate(struct proc *p)
{
	unsigned k;
	int fd, rc;

	rc = pick(p, K_REG, 0, p->path, &k);
	if (rc)
		return rc;
	fd = open_regular(p->path, O_WRONLY);
	if (fd == NOT_REGULAR)
		return SKIP;
	if (fd < 0)
		return fd;
	rc = do_ftruncate(p, fd);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int op_fdtrunc(struct proc *p)
{
	int fd, rc = held_fd(p, &fd);

	return rc ? rc : do_ftruncate(p, fd);
}

static int fn_fallocate(struct proc *p, int fd, int mode)
{
	return do_fallocate(p, fd, mode);
}

static int op_falloc(struct proc *p)
{
	return on_some_fd(p, fn_fallocate, 0);
}

static int op_falloc_keep(struct proc *p)
{
	return on_some_fd(p, fn_fallocate, FALLOC_FL_KEEP_SIZE);
}

static int op_punch(struct proc *p)
{
	return on_some_fd(p, fn_fallocate, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

static int op_zero(struct proc *p)
{
	return on_some_fd(p, fn_fallocate, FALLOC_FL_ZERO_RANGE);
}

static int op_collapse(struct proc *p)
{
	return on_some_fd(p, fn_fallocate, FALLOC_FL_COLLAPSE_RANGE);
}

static int op_insert(struct proc *p)
{
	return on_some_fd(p, fn_fallocate, FALLOC_FL_INSERT_RANGE);
}

/* A rename destination: in a directory picked, a generated name, of the
 * source's kind most of the time (replacing one of them), else any kind.
 * A directory never moves deeper than it is (with mkdir's limit, that
 * bounds the depth of the tree). */
static int rename_dest(struct proc *p, const char *src, unsigned src_kind, char *out)
{
	char prefix = prefix_of_kind(src_kind);

	if (rnd(p, 4) == 0)
		prefix = kind_prefix[rnd(p, sizeof(kind_prefix) - 1)];
	return pick_new_depth(p, prefix, src_kind == K_DIR ? depth_of(src) - 1 : MAX_DEPTH, out);
}

static int do_rename(struct proc *p, unsigned flags)
{
	char src[PATH_MAX], dst[PATH_MAX];
	unsigned k, k2;
	int rc;

	rc = pick(p, K_ANY, 0, src, &k);
	if (rc)
		return rc;
	if (flags & RENAME_EXCHANGE) {
		/* each side moves to the other's depth: a directory only to
		 * the same depth or shallower */
		rc = pick_depth(p, K_ANY, 0, k == K_DIR ? depth_of(src) - 1 : MAX_DEPTH, dst, &k2);
		if (rc == 0 && k2 == K_DIR && depth_of(dst) < depth_of(src))
			rc = SKIP;
		if (rc == 0 && k == K_DIR && k2 == K_DIR && depth_of(dst) != depth_of(src))
			rc = SKIP;
	} else {
		rc = rename_dest(p, src, k, dst);
	}
	if (rc)
		return rc;
	snprintf(p->path, sizeof(p->path), "%s -> %s", src, dst);
	return renameat2(AT_FDCWD, src, AT_FDCWD, dst, flags) ? -errno : 0;
}

static int op_rename(struct proc *p)
{
	return do_rename(p, 0);
}

static int op_rename_noreplace(struct proc *p)
{
	return do_rename(p, RENAME_NOREPLACE);
}

static int op_rename_exchange(struct proc *p)
{
	return do_rename(p, RENAME_EXCHANGE);
}

static int op_rename_whiteout(struct proc *p)
{
	return do_rename(p, RENAME_WHITEOUT);
}

static int op_link(struct proc *p)
{
	char src[PATH_MAX], dst[PATH_MAX];
	unsigned k;
	int rc;

	rc = pick(p, rnd(p, 4) ? K_REG : K_NONDIR, 0, src, &k);
	if (rc)
		return rc;
	rc = pick_new(p, prefix_of_kind(k), dst);
	if (rc)
		return rc;
	snprintf(p->path, sizeof(p->path), "%s => %s", src, dst);
	return linkat(AT_FDCWD, src, AT_FDCWD, dst, 0) ? -errno : 0;
}

static int op_unlink(struct proc *p)
{
	unsigned k;
	int rc;

	rc = pick(p, K_NONDIR, 0, p->path, &k);
	if (rc)
		return rc;
	return unlink(p->path) ? -errno : 0;
}

static int op_mkdir(struct proc *p)
{
	static const mode_t modes[] = { 0755, 0700, 0750, 0777, 01777, 02755 };
	int rc;

	rc = pick_new_depth(p, 'd', MKDIR_MAX_DEPTH, p->path);
	if (rc)
		return rc;
	return mkdir(p->path, modes[rnd(p, sizeof(modes) / sizeof(modes[0]))]) ? -errno : 0;
}

static int op_rmdir(struct proc *p)
{
	unsigned k;
	int rc;

	rc = pick(p, K_DIR, 0, p->path, &k);
	if (rc)
		return rc;
	return rmdir(p->path) ? -errno : 0;
}

static int op_symlink(struct proc *p)
{
	char target[1100];
	int rc;

	rc = pick_new(p, 'l', p->path);
	if (rc)
		return rc;
	switch (rnd(p, 6)) {
	case 0:
		snprintf(target, sizeof(target), "/nonexistent/t%u", (unsigned)rnd(p, 1000));
		break;
	case 1:
		memset(target, 'x', 1000);
		target[1000] = '\0';
		break;
	default: /* a sibling name, of any kind: it may exist, loop or dangle */
		gen_name(p, kind_prefix[rnd(p, sizeof(kind_prefix) - 1)], target, 256);
		break;
	}
	return symlink(target, p->path) ? -errno : 0;
}

static int op_mkfifo(struct proc *p)
{
	int rc;

	rc = pick_new(p, 'p', p->path);
	if (rc)
		return rc;
	return mkfifo(p->path, rnd(p, 2) ? 0644 : 0620) ? -errno : 0;
}

static int op_mknod(struct proc *p)
{
	static const unsigned minors[] = { 3, 5, 7 };   /* null, zero, full */
	int rc;

	rc = pick_new(p, 'c', p->path);
	if (rc)
		return rc;
	return mknod(p->path, S_IFCHR | 0640, makedev(1, minors[rnd(p, 3)])) ? -errno : 0;
}

static void pick_owner(struct proc *p, uid_t *uid, gid_t *gid)
{
	static const unsigned ids[] = { 0, 1, 1000, 1234, 65534 };

	*uid = ids[rnd(p, 5)];
	*gid = ids[rnd(p, 5)];
	switch (rnd(p, 4)) {
	case 0:
		*uid = (uid_t)-1;
		break;
	case 1:
		*gid = (gid_t)-1;
		break;
	default:
		break;
	}
}

static int op_chown(struct proc *p)
{
	unsigned k;
	uid_t uid;
	gid_t gid;
	int rc;

	rc = pick(p, K_ANY, 1, p->path, &k);
	if (rc)
		return rc;
	pick_owner(p, &uid, &gid);
	return fchownat(AT_FDCWD, p->path, uid, gid, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static mode_t pick_mode(struct proc *p, unsigned k)
{
	mode_t m = (mode_t)rnd(p, 07777 + 1);

	/* directories stay searchable by their owner: root passes anyway, but
	 * it keeps the tree walkable for anyone debugging it */
	return k == K_DIR ? (m | 0700) : m;
}

static int op_chmod(struct proc *p)
{
	unsigned k;
	int rc;

	rc = pick(p, K_ANY & ~K_LNK, 1, p->path, &k);
	if (rc)
		return rc;
	return fchmodat(AT_FDCWD, p->path, pick_mode(p, k), 0) ? -errno : 0;
}

static void pick_times(struct proc *p, struct timespec ts[2])
{
	int i;

	for (i = 0; i < 2; i++) {
		switch (rnd(p, 6)) {
		case 0:
			ts[i].tv_sec = 0;
			ts[i].tv_nsec = UTIME_NOW;
			break;
		case 1:
			ts[i].tv_sec = 0;
			ts[i].tv_nsec = UTIME_OMIT;
			break;
		default: /* explicit, 1990..2030, with nanoseconds */
			ts[i].tv_sec = 631152000 + (time_t)rnd(p, 1262304000);
			ts[i].tv_nsec = (long)rnd(p, 1000000000);
			break;
		}
	}
}

static int op_utimes(struct proc *p)
{
	struct timespec ts[2];
	unsigned k;
	int rc, flags;

	rc = pick(p, K_ANY, 1, p->path, &k);
	if (rc)
		return rc;
	pick_times(p, ts);
	/* symlinks always themselves; others either way */
	flags = (k == K_LNK || rnd(p, 2)) ? AT_SYMLINK_NOFOLLOW : 0;
	return utimensat(AT_FDCWD, p->path, ts, flags) ? -errno : 0;
}

static void xattr_name(struct proc *p, char *out, size_t size)
{
	snprintf(out, size, "user.s%u", (unsigned)rnd(p, NXATTR_NAMES));
}

/*
 * A value for the xattr name; mostly small, now and then large, but large
 * only for the first name, so that all of one inode's values fit in the
 * 4 KiB ext4 gives them (else a native run gets ENOSPC where an overlay,
 * which has no such limit, does not, and the two trees part ways).
 */
static size_t xattr_value(struct proc *p, const char *name)
{
	size_t len = rnd(p, 10) || strcmp(name, "user.s0") != 0 ? (size_t)rnd(p, 257) :
		1000 + (size_t)rnd(p, 1200);

	fill_buf(p, len);
	return len;
}

static int xattr_flags(struct proc *p)
{
	switch (rnd(p, 4)) {
	case 0: return XATTR_CREATE;
	case 1: return XATTR_REPLACE;
	default: return 0;
	}
}

static int op_setxattr(struct proc *p)
{
	char name[32];
	unsigned k;
	size_t len;
	int rc, flags;

	rc = pick(p, K_REG | K_DIR, 1, p->path, &k);
	if (rc)
		return rc;
	xattr_name(p, name, sizeof(name));
	len = xattr_value(p, name);
	flags = xattr_flags(p);
	return lsetxattr(p->path, name, p->buf, len, flags) ? -errno : 0;
}

static int op_removexattr(struct proc *p)
{
	char name[32];
	unsigned k;
	int rc;

	rc = pick(p, K_REG | K_DIR, 1, p->path, &k);
	if (rc)
		return rc;
	xattr_name(p, name, sizeof(name));
	return lremovexattr(p->path, name) ? -errno : 0;
}

/* setxattr (3 in 4) or removexattr through a held descriptor */
static int op_fdxattr(struct proc *p)
{
	char name[32];
	size_t len;
	int fd, flags, rc = held_fd(p, &fd);

	if (rc)
		return rc;
	xattr_name(p, name, sizeof(name));
	if (rnd(p, 4) == 0)
		return fremovexattr(fd, name) ? -errno : 0;
	len = xattr_value(p, name);
	flags = xattr_flags(p);
	return fsetxattr(fd, name, p->buf, len, flags) ? -errno : 0;
}

/* fchmod, fchown or futimens through a held descriptor */
static int op_fdattr(struct proc *p)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int fd, rc = held_fd(p, &fd);

	if (rc)
		return rc;
	switch (rnd(p, 3)) {
	case 0:
		return fchmod(fd, pick_mode(p, K_REG)) ? -errno : 0;
	case 1:
		pick_owner(p, &uid, &gid);
		return fchown(fd, uid, gid) ? -errno : 0;
	default:
		pick_times(p, ts);
		return futimens(fd, ts) ? -errno : 0;
	}
}

static int fn_sync(struct proc *p, int fd, int data_only)
{
	return (data_only ? fdatasync(fd) : fsync(fd)) ? -errno : 0;
}

static int op_fsync(struct proc *p)
{
	return on_some_fd(p, fn_sync, 0);
}

static int op_fdatasync(struct proc *p)
{
	return on_some_fd(p, fn_sync, 1);
}

/* (Re)opens a held slot on a regular file picked: the old descriptor, if
 * any, is closed first. */
static int op_fdopen(struct proc *p)
{
	int i = (int)rnd(p, NHELD), rc = 0;

	if (p->held[i].fd >= 0) {
		if (close(p->held[i].fd) != 0)
			rc = -errno;
		p->held[i].fd = -1;
		if (rc)
			return rc;
	}
	return open_held(p, i);
}

static int op_stat(struct proc *p)
{
	struct stat st;
	unsigned k;
	int rc;

	rc = pick(p, K_ANY, 1, p->path, &k);
	if (rc)
		return rc;
	return fstatat(AT_FDCWD, p->path, &st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

/* SIGBUS during mwrite: another process truncated the file under the
 * mapping.  The handler jumps back; mwrite counts it as EFAULT. */
static sigjmp_buf mwrite_jmp;
static volatile sig_atomic_t in_mwrite;

static void on_sigbus(int sig)
{
	if (in_mwrite)
		siglongjmp(mwrite_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* memcpy into a mapping: 0, or -EFAULT on SIGBUS.  Nothing is used after
 * the jump back but the return. */
static int guarded_copy(char *dst, const unsigned char *src, size_t len)
{
	if (sigsetjmp(mwrite_jmp, 1) != 0) {
		in_mwrite = 0;
		return -EFAULT;
	}
	in_mwrite = 1;
	memcpy(dst, src, len);
	in_mwrite = 0;
	return 0;
}

/* A write through a shared writable mapping of part of the file (within
 * its size), then msync. */
static int fn_mwrite(struct proc *p, int fd, int arg)
{
	long page = sysconf(_SC_PAGESIZE);
	off_t size, off, map_off;
	size_t len, map_len;
	char *map;
	int rc;

	rc = fd_size(fd, &size);
	if (rc)
		return rc;
	if (size == 0)
		return SKIP;
	off = (off_t)rnd(p, (uint64_t)size);
	len = 1 + (size_t)rnd(p, 16384);
	if ((off_t)len > size - off)
		len = (size_t)(size - off);
	fill_buf(p, len);
	map_off = off - off % page;
	map_len = len + (size_t)(off - map_off);
	pthread_rwlock_rdlock(dio_lock);
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, map_off);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto out_unlock;
	}
	rc = guarded_copy(map + (off - map_off), p->buf, len);
	if (rc == 0 && msync(map, map_len, MS_SYNC) != 0)
		rc = -errno;
	munmap(map, map_len);
out_unlock:
	pthread_rwlock_unlock(dio_lock);
	return rc;
}

static int op_mwrite(struct proc *p)
{
	return on_some_fd(p, fn_mwrite, 0);
}

/* copy_file_range from a file picked into this one */
static int fn_copyrange(struct proc *p, int fd, int arg)
{
	char src[PATH_MAX];
	off_t src_size = 0, dst_size = 0, off_in, off_out;
	size_t len;
	unsigned k;
	int sfd, rc;
	ssize_t n;

	rc = pick(p, K_REG, 0, src, &k);
	if (rc)
		return rc;
	sfd = open_regular(src, O_RDONLY);
	if (sfd == NOT_REGULAR)
		return SKIP;
	if (sfd < 0)
		return sfd;
	rc = fd_size(sfd, &src_size);
	if (rc == 0)
		rc = fd_size(fd, &dst_size);
	if (rc == 0) {
		off_in = (off_t)rnd(p, (uint64_t)src_size + 1);
		off_out = (off_t)rnd(p, (uint64_t)dst_size + 1);
		len = 1 + (size_t)rnd(p, MAX_WRITE);
		if (off_out + (off_t)len > MAX_FILE_SIZE)
			off_out = 0;
		n = copy_file_range(sfd, &off_in, fd, &off_out, len, 0);
		rc = n < 0 ? -errno : 0;
	}
	close(sfd);
	return rc;
}

static int op_copyrange(struct proc *p)
{
	return on_some_fd(p, fn_copyrange, 0);
}

/* data written into a pipe, then spliced into the file at an offset */
static int fn_splice(struct proc *p, int fd, int arg)
{
	int pfd[2], rc = 0;
	off_t size, off;
	size_t len, left;

	rc = fd_size(fd, &size);
	if (rc)
		return rc;
	off = (off_t)rnd(p, (uint64_t)size + 8192);
	len = 1 + (size_t)rnd(p, 60000);
	if (off + (off_t)len > MAX_FILE_SIZE)
		off = 0;
	fill_buf(p, len);
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -errno;
	if (write(pfd[1], p->buf, len) != (ssize_t)len) {
		rc = -EMSGSIZE;   /* a pipe smaller than 64 KiB: the tool's problem */
		goto out;
	}
	for (left = len; left > 0;) {
		ssize_t n = splice(pfd[0], NULL, fd, &off, left, 0);

		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		left -= (size_t)n;
	}
out:
	close(pfd[0]);
	close(pfd[1]);
	return rc;
}

static int op_splice(struct proc *p)
{
	return on_some_fd(p, fn_splice, 0);
}

/* O_DIRECT write or read of whole blocks, from an aligned buffer */
static int do_direct(struct proc *p, int write_it)
{
	void *abuf = NULL;
	unsigned k;
	off_t size, off;
	size_t len;
	int fd, rc;
	ssize_t n;

	rc = pick(p, K_REG, 0, p->path, &k);
	if (rc)
		return rc;
	fd = open_regular(p->path, (write_it ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd == NOT_REGULAR)
		return SKIP;
	if (fd < 0)
		return fd;
	rc = fd_size(fd, &size);
	if (rc)
		goto out;
	off = (off_t)rnd(p, (uint64_t)size / BLOCK + 2) * BLOCK;
	len = (1 + (size_t)rnd(p, 16)) * BLOCK;
	if (off + (off_t)len > MAX_FILE_SIZE)
		off = 0;
	if (posix_memalign(&abuf, BLOCK, len) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (write_it) {
		fill_buf(p, len);
		memcpy(abuf, p->buf, len);
		pthread_rwlock_wrlock(dio_lock);
		n = pwrite(fd, abuf, len, off);
		pthread_rwlock_unlock(dio_lock);
	} else {
		n = pread(fd, abuf, len, off);
	}
	rc = n < 0 ? -errno : 0;
	free(abuf);
out:
	close(fd);
	return rc;
}

static int op_dwrite(struct proc *p)
{
	return do_direct(p, 1);
}

static int op_dread(struct proc *p)
{
	return do_direct(p, 0);
}

static int op_getdents(struct proc *p)
{
	struct dent *d;
	unsigned k;
	size_t n;
	int rc;

	rc = pick(p, K_DIR, 1, p->path, &k);
	if (rc)
		return rc;
	rc = list_dir(p->path, &d, &n);
	if (rc == 0)
		free_listing(d, n);
	return rc;
}

static int op_readlink(struct proc *p)
{
	char target[PATH_MAX];
	unsigned k;
	int rc;

	rc = pick(p, K_LNK, 0, p->path, &k);
	if (rc)
		return rc;
	return readlink(p->path, target, sizeof(target)) < 0 ? -errno : 0;
}

/* listxattr, then getxattr of each name */
static int op_getxattr(struct proc *p)
{
	char names[4096];
	ssize_t len, i;
	unsigned k;
	int rc;

	rc = pick(p, K_REG | K_DIR, 1, p->path, &k);
	if (rc)
		return rc;
	len = llistxattr(p->path, names, sizeof(names));
	if (len < 0)
		return -errno;
	for (i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
		if (lgetxattr(p->path, names + i, p->buf, MAX_WRITE) < 0 && errno != ENODATA)
			return -errno;
	return 0;
}

static struct op ops[] = {
	{ "create", 8, op_create },
	{ "write", 8, op_write },
	{ "fdwrite", 10, op_fdwrite },
	{ "read", 3, op_read },
	{ "truncate", 3, op_truncate },
	{ "ftruncate", 3, op_ftruncate },
	{ "fdtrunc", 4, op_fdtrunc },
	{ "falloc", 2, op_falloc },
	{ "falloc_keep", 2, op_falloc_keep },
	{ "punch", 2, op_punch },
	{ "zero", 2, op_zero },
	{ "collapse", 1, op_collapse },
	{ "insert", 1, op_insert },
	{ "rename", 5, op_rename },
	{ "rename_noreplace", 2, op_rename_noreplace },
	{ "rename_exchange", 2, op_rename_exchange },
	{ "rename_whiteout", 1, op_rename_whiteout },
	{ "link", 3, op_link },
	{ "unlink", 5, op_unlink },
	{ "mkdir", 3, op_mkdir },
	{ "rmdir", 2, op_rmdir },
	{ "symlink", 2, op_symlink },
	{ "mkfifo", 1, op_mkfifo },
	{ "mknod", 1, op_mknod },
	{ "chown", 2, op_chown },
	{ "chmod", 2, op_chmod },
	{ "utimes", 3, op_utimes },
	{ "setxattr", 3, op_setxattr },
	{ "removexattr", 2, op_removexattr },
	{ "fdxattr", 2, op_fdxattr },
	{ "fdattr", 2, op_fdattr },
	{ "fsync", 1, op_fsync },
	{ "fdatasync", 1, op_fdatasync },
	{ "fdopen", 3, op_fdopen },
	{ "stat", 1, op_stat },
	{ "mwrite", 3, op_mwrite },
	{ "copyrange", 2, op_copyrange },
	{ "splice", 2, op_splice },
	{ "dwrite", 2, op_dwrite },
	{ "dread", 1, op_dread },
	{ "getdents", 1, op_getdents },
	{ "readlink", 1, op_readlink },
	{ "getxattr", 1, op_getxattr },
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* ------------------------------------------------------------ running */

static uint64_t *stat_slot(uint64_t *base, size_t op, int slot)
{
	return &base[op * NERR + (size_t)slot];
}

static size_t pick_op(struct proc *p, int total_weight)
{
	int r = (int)rnd(p, (uint64_t)total_weight);
	size_t i;

	for (i = 0; i < NOPS; i++) {
		if (r < ops[i].weight)
			return i;
		r -= ops[i].weight;
	}
	return NOPS - 1;
}

static void run_one(struct proc *p, int total_weight)
{
	size_t op = pick_op(p, total_weight);
	int rc, slot;

	p->path[0] = '\0';
	p->opno++;
	rc = ops[op].fn(p);
	if (rc == 0)
		slot = SLOT_OK;
	else if (rc == SKIP)
		slot = SLOT_SKIP;
	else if (-rc > SLOT_SKIP && -rc < NERR)
		slot = -rc;
	else
		slot = EINVAL;   /* cannot happen: errno out of range */
	(*stat_slot(p->stats, op, slot))++;
	if (verbose)
		fprintf(stderr, "stress[%d] #%" PRIu64 " %s '%s': %s\n", p->index, p->opno,
			ops[op].name, p->path,
			rc == 0 ? "ok" : rc == SKIP ? "skip" : errno_name(-rc));
	if (rc < 0 && is_failure_errno(-rc) && p->loud < MAX_LOUD) {
		p->loud++;
		fprintf(stderr, "stress: FAILURE: process %d op #%" PRIu64 " %s on '%s': %s (%s)%s\n",
			p->index, p->opno, ops[op].name, p->path, errno_name(-rc),
			strerror(-rc), p->loud == MAX_LOUD ? " (no more of these from this process)" : "");
	}
}

static int write_byte(int fd)
{
	char c = 'x';
	ssize_t n;

	do
		n = write(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* 1 on a byte, 0 on end of file, -1 on error */
static int read_byte(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 1 : n == 0 ? 0 : -1;
}

struct child_pipes {
	int done_w, go_r;    /* in the child */
	int done_r, go_w;    /* in the parent */
	pid_t pid;
	int alive;
};

static void child_main(int index, uint64_t seed, int nproc, long nops, int rounds,
		       uint64_t *stats, struct child_pipes *cp, int total_weight)
{
	struct proc p;
	long done = 0;
	int r, i;

	memset(&p, 0, sizeof(p));
	p.index = index;
	/* -p 1 uses the seed itself; others a stream per process */
	p.rng = seed * 0x100000001b3ULL + (uint64_t)index * 0x9e3779b97f4a7c15ULL;
	p.stats = stats + (size_t)index * NOPS * NERR;
	p.buf = malloc(MAX_WRITE);
	if (!p.buf) {
		perror("stress: malloc");
		_exit(2);
	}
	for (i = 0; i < NHELD; i++)
		p.held[i].fd = -1;
	signal(SIGBUS, on_sigbus);
	(void)nproc;
	for (r = 1; r <= rounds; r++) {
		long until = nops * r / rounds;

		for (; done < until; done++)
			run_one(&p, total_weight);
		if (cp->done_w >= 0) {
			if (write_byte(cp->done_w) != 0)
				_exit(3);
			if (r < rounds && read_byte(cp->go_r) != 1)
				_exit(3);
		}
	}
	for (i = 0; i < NHELD; i++)
		if (p.held[i].fd >= 0)
			close(p.held[i].fd);
	free(p.buf);
	_exit(0);
}

static void usage(void)
{
	size_t i;

	fprintf(stderr,
		"usage: stress -d DIR [-p NPROC] [-n NOPS] [-s SEED] [-x OP,OP...]\n"
		"              [-f OP=WEIGHT,...] [-r ROUNDS -c CMD] [-v]\n"
		"  -n: operations per process (default 1000); -s: seed (default 1)\n"
		"  -x: ops left out; -f: op weights; -v: every op and its result on stderr\n"
		"  -r: rounds, after each the parent runs sh -c CMD with STRESS_ROUND=k\n"
		"      while all processes wait\n"
		"ops (default weight):");
	for (i = 0; i < NOPS; i++)
		fprintf(stderr, "%s %s=%d", i % 6 ? "" : "\n ", ops[i].name, ops[i].weight);
	fprintf(stderr, "\n");
	exit(2);
}

static struct op *find_op(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NOPS; i++)
		if (strlen(ops[i].name) == len && strncmp(ops[i].name, name, len) == 0)
			return &ops[i];
	return NULL;
}

/* -x a,b,c: weight 0; -f a=3,b=0: those weights */
static void parse_ops(const char *arg, int with_weight)
{
	const char *s = arg;

	while (*s) {
		size_t len = strcspn(s, with_weight ? "=," : ",");
		struct op *o = find_op(s, len);

		if (!o) {
			fprintf(stderr, "stress: unknown op '%.*s'\n", (int)len, s);
			usage();
		}
		s += len;
		if (with_weight) {
			char *end;
			long w;

			if (*s != '=')
				usage();
			w = strtol(s + 1, &end, 10);
			if (end == s + 1 || w < 0 || w > 1000)
				usage();
			o->weight = (int)w;
			s = end;
		} else {
			o->weight = 0;
		}
		if (*s == ',')
			s++;
		else if (*s)
			usage();
	}
}

static int run_cmd(const char *cmd, int round)
{
	char num[16];
	pid_t pid;
	int status;

	snprintf(num, sizeof(num), "%d", round);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("stress: fork");
		return -1;
	}
	if (pid == 0) {
		setenv("STRESS_ROUND", num, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		perror("stress: exec /bin/sh");
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "stress: round %d: command exited with status %d\n", round,
			WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		return -1;
	}
	return 0;
}

static void print_table(const uint64_t *stats, int nproc, uint64_t *failures)
{
	uint64_t total[NERR];
	uint64_t all_ok = 0, all = 0;
	size_t op;
	int e, k;

	*failures = 0;
	printf("%-17s %8s %6s  %s\n", "op", "ok", "skip", "errors");
	for (op = 0; op < NOPS; op++) {
		char line[2048];
		size_t len = 0;

		memset(total, 0, sizeof(total));
		for (k = 0; k < nproc; k++)
			for (e = 0; e < NERR; e++)
				total[e] += stats[((size_t)k * NOPS + op) * NERR + (size_t)e];
		line[0] = '\0';
		for (e = SLOT_SKIP + 1; e < NERR; e++) {
			if (!total[e])
				continue;
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s%s=%" PRIu64,
						is_failure_errno(e) ? "FAILURE:" : "",
						errno_name(e),
						total[e]);
			if (is_failure_errno(e))
				*failures += total[e];
			if (len >= sizeof(line) - 64)
				break;
		}
		for (e = 0; e < NERR; e++)
			all += total[e];
		all_ok += total[SLOT_OK];
		if (ops[op].weight == 0 && all == 0)
			continue;
		printf("%-17s %8" PRIu64 " %6" PRIu64 " %s\n", ops[op].name, total[SLOT_OK],
		       total[SLOT_SKIP], line);
	}
	printf("%-17s %8" PRIu64 " of %" PRIu64 " ops\n", "total ok", all_ok, all);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *cmd = NULL;
	struct child_pipes *cp;
	struct timespec t0, t1;
	uint64_t *stats, seed = 1, failures;
	long nops = 1000;
	int nproc = 1, rounds = 1, c, i, r, total_weight = 0, bad = 0;
	size_t stats_size, o;

	while ((c = getopt(argc, argv, "d:p:n:s:x:f:r:c:v")) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p': nproc = atoi(optarg); break;
		case 'n': nops = atol(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'x': parse_ops(optarg, 0); break;
		case 'f': parse_ops(optarg, 1); break;
		case 'r': rounds = atoi(optarg); break;
		case 'c': cmd = optarg; break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (!dir || optind != argc || nproc < 1 || nproc > 256 || nops < 0 || rounds < 1 ||
	    (rounds > 1 && !cmd))
		usage();
	for (o = 0; o < NOPS; o++)
		total_weight += ops[o].weight;
	if (total_weight == 0) {
		fprintf(stderr, "stress: every op is disabled\n");
		return 2;
	}
	if (chdir(dir) != 0) {
		fprintf(stderr, "stress: cannot enter '%s': %s\n", dir, strerror(errno));
		return 2;
	}
	umask(0);
	for (i = 0; i < NTOPDIRS; i++) {
		char name[8];

		snprintf(name, sizeof(name), "d%d", i);
		if (mkdir(name, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, "stress: cannot make '%s/%s': %s\n", dir, name, strerror(errno));
			if (is_failure_errno(errno))
				bad = 1;
		}
	}
	stats_size = (size_t)nproc * NOPS * NERR * sizeof(uint64_t);
	stats = mmap(NULL, stats_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cp = calloc((size_t)nproc, sizeof(*cp));
	dio_lock = mmap(NULL, sizeof(*dio_lock), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED || !cp || dio_lock == MAP_FAILED) {
		perror("stress: mmap");
		return 2;
	}
	{
		pthread_rwlockattr_t attr;

		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
		pthread_rwlock_init(dio_lock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fflush(NULL);
	for (i = 0; i < nproc; i++) {
		int done[2] = { -1, -1 }, go[2] = { -1, -1 };

		if (cmd && (pipe2(done, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0)) {
			perror("stress: pipe");
			return 2;
		}
		cp[i].done_r = done[0];
		cp[i].done_w = done[1];
		cp[i].go_r = go[0];
		cp[i].go_w = go[1];
		cp[i].pid = fork();
		if (cp[i].pid < 0) {
			perror("stress: fork");
			return 2;
		}
		if (cp[i].pid == 0) {
			int j;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(3);
			/* only this child's own ends stay open (the parent
			 * closed its copies of the older children's) */
			for (j = 0; j <= i; j++) {
				if (cp[j].done_r >= 0)
					close(cp[j].done_r);
				if (cp[j].go_w >= 0)
					close(cp[j].go_w);
			}
			child_main(i, seed, nproc, nops, rounds, stats, &cp[i], total_weight);
		}
		cp[i].alive = 1;
		if (cp[i].done_w >= 0)
			close(cp[i].done_w);
		if (cp[i].go_r >= 0)
			close(cp[i].go_r);
		cp[i].done_w = cp[i].go_r = -1;
	}
	if (cmd) {
		for (r = 1; r <= rounds; r++) {
			int nalive = 0;

			for (i = 0; i < nproc; i++) {
				if (!cp[i].alive)
					continue;
				if (read_byte(cp[i].done_r) != 1) {
					fprintf(stderr, "stress: process %d ended before round %d ended\n",
						i, r);
					cp[i].alive = 0;
					bad = 1;
					continue;
				}
				nalive++;
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			fprintf(stderr, "stress: round %d of %d done after %.1f s, running the command\n",
				r, rounds, (double)(t1.tv_sec - t0.tv_sec) +
				(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
			if (run_cmd(cmd, r) != 0)
				bad = 1;
			if (r == rounds)
				break;
			for (i = 0; i < nproc; i++)
				if (cp[i].alive && write_byte(cp[i].go_w) != 0)
					cp[i].alive = 0;
			(void)nalive;
		}
	}
	for (i = 0; i < nproc; i++) {
		int status;

		while (waitpid(cp[i].pid, &status, 0) < 0) {
			if (errno != EINTR) {
				perror("stress: waitpid");
				bad = 1;
				break;
			}
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "stress: process %d (pid %d) ended with %s %d\n", i,
				(int)cp[i].pid, WIFEXITED(status) ? "status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			bad = 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_table(stats, nproc, &failures);
	fflush(stdout);
	fprintf(stderr, "stress: %d process(es) x %ld ops, %d round(s), seed %" PRIu64 ", %.1f s\n",
		nproc, nops, rounds, seed,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (failures) {
		fprintf(stderr, "stress: FAILED: %" PRIu64 " op(s) returned ESTALE, EIO, ENOTCONN, "
			"EAGAIN, ECONNABORTED or EBADF (see FAILURE: in the table)\n", failures);
		bad = 1;
	}
	munmap(stats, stats_size);
	free(cp);
	return bad ? 1 : 0;
}
