/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * node.c - the capture layer's inode bookkeeping: the FUSE node table
 * (keyed by real inode number and file handle, with kernel lookup counts),
 * opening an inode on demand through its file handle (no descriptor is held
 * per known inode; a bounded number of O_PATH descriptors are cached), the
 * and the striped inode locks.  The fid of an inode and the helpers that
 * turn real file state into journal records are in journal_ops.c.
 *
 * Caveat: the node hash has a fixed number of buckets; chains grow long
 * only when the kernel holds millions of inodes at once.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/resource.h>

#include "capture/capture_int.h"

#define NODE_BUCKETS (1u << 17)

union cap_fh_buf {
	struct file_handle h;
	char raw[sizeof(struct file_handle) + CAP_HANDLE_MAX];
};

int cap_root_init_tables(struct cap_root *r)
{
	struct rlimit rl;
	int i;

	r->node_buckets = NODE_BUCKETS;
	r->node_hash = calloc(r->node_buckets, sizeof(*r->node_hash));
	if (!r->node_hash)
		return -ENOMEM;
	pthread_mutex_init(&r->node_lock, NULL);
	pthread_mutex_init(&r->imap_lock, NULL);
	for (i = 0; i < CAP_STRIPES; i++)
		pthread_mutex_init(&r->stripes[i], NULL);
	r->cached_fds_max = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < r->cached_fds_max)
		r->cached_fds_max = (unsigned int)(rl.rlim_cur / 4);
	r->root_node.ino = r->root_ino;
	r->root_node.fh = r->root_fh;
	r->root_node.nlookup = 1;
	r->root_node.type = S_IFDIR;
	r->root_node.fd = -1;
	r->next_generation = 1;
	return 0;
}

void cap_root_free_tables(struct cap_root *r)
{
	size_t b;
	struct cap_node *n, *next;

	if (!r->node_hash)
		return;
	for (b = 0; b < r->node_buckets; b++) {
		for (n = r->node_hash[b]; n; n = next) {
			next = n->hash_next;
			if (n->fd >= 0)
				close(n->fd);
			free(n);
		}
	}
	free(r->node_hash);
	r->node_hash = NULL;
}

struct cap_node *cap_node_get(struct cap_root *r, fuse_ino_t nodeid)
{
	if (nodeid == FUSE_ROOT_ID)
		return &r->root_node;
	return (struct cap_node *)(uintptr_t)nodeid;
}

int cap_handle_equal(const struct cap_handle *a, const struct cap_handle *b)
{
	if (a->type < 0 || b->type < 0)
		return 1;   /* no handles: the inode number alone identifies */
	return a->type == b->type && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

size_t cap_handle_bytes(const struct cap_handle *fh, unsigned char *out)
{
	if (fh->type < 0)
		return 0;
	memcpy(out, &fh->type, 4);
	memcpy(out + 4, fh->data, fh->len);
	return 4 + fh->len;
}

int cap_handle_at(struct cap_root *r, int dirfd, const char *name, struct cap_handle *fh)
{
	union cap_fh_buf u;
	int mount_id;

	fh->type = -1;
	fh->len = 0;
	if (!r->use_handles)
		return 0;
	u.h.handle_bytes = CAP_HANDLE_MAX;
	if (name_to_handle_at(dirfd, name, &u.h, &mount_id,
			      *name ? 0 : AT_EMPTY_PATH) < 0)
		return -errno;
	fh->type = u.h.handle_type;
	fh->len = u.h.handle_bytes;
	memcpy(fh->data, u.h.f_handle, fh->len);
	return 0;
}

struct cap_node *cap_node_ref(struct cap_root *r, uint64_t ino, mode_t type,
			      const struct cap_handle *fh)
{
	struct cap_node *n;
	size_t b = ino % r->node_buckets;

	if (ino == r->root_ino && cap_handle_equal(fh, &r->root_fh)) {
		pthread_mutex_lock(&r->node_lock);
		r->root_node.nlookup++;
		pthread_mutex_unlock(&r->node_lock);
		return &r->root_node;
	}
	pthread_mutex_lock(&r->node_lock);
	for (n = r->node_hash[b]; n; n = n->hash_next) {
		if (n->ino == ino && cap_handle_equal(&n->fh, fh)) {
			n->nlookup++;
			pthread_mutex_unlock(&r->node_lock);
			return n;
		}
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		pthread_mutex_unlock(&r->node_lock);
		return NULL;
	}
	n->ino = ino;
	n->fh = *fh;
	n->nlookup = 1;
	n->fd = -1;
	n->type = type & S_IFMT;
	n->generation = r->next_generation++;
	n->hash_next = r->node_hash[b];
	r->node_hash[b] = n;
	r->nnodes++;
	pthread_mutex_unlock(&r->node_lock);
	return n;
}

void cap_node_forget(struct cap_root *r, struct cap_node *n, uint64_t nlookup)
{
	struct cap_node **pp;
	int fd = -1;

	if (n == &r->root_node)
		return;
	pthread_mutex_lock(&r->node_lock);
	if (n->nlookup > nlookup) {
		n->nlookup -= nlookup;
		pthread_mutex_unlock(&r->node_lock);
		return;
	}
	for (pp = &r->node_hash[n->ino % r->node_buckets]; *pp; pp = &(*pp)->hash_next) {
		if (*pp == n) {
			*pp = n->hash_next;
			break;
		}
	}
	r->nnodes--;
	if (n->fd >= 0) {
		fd = n->fd;
		r->cached_fds--;
	}
	pthread_mutex_unlock(&r->node_lock);
	if (fd >= 0)
		close(fd);
	free(n);
}

/* Opens the node by handle with flags; no caching. */
static int node_open_raw(struct cap_root *r, struct cap_node *n, int flags)
{
	int fd, cached;

	if (n == &r->root_node) {
		fd = openat(r->root_fd, ".", flags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	/* n->fd is set once under node_lock and closed only when n goes,
	 * which no operation on n can race with. */
	pthread_mutex_lock(&r->node_lock);
	cached = n->fd;
	pthread_mutex_unlock(&r->node_lock);
	if (cached >= 0) {
		char proc[64];

		if ((flags & O_PATH) && !(flags & O_DIRECTORY))
			fd = fcntl(cached, F_DUPFD_CLOEXEC, 0);
		else {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", cached);
			fd = open(proc, (flags & ~O_NOFOLLOW) | O_CLOEXEC);
		}
		return fd < 0 ? -errno : fd;
	}
	return cap_handle_open(r, &n->fh, flags);
}

int cap_handle_open(struct cap_root *r, const struct cap_handle *fh, int flags)
{
	union cap_fh_buf u;
	int fd;

	if (fh->type < 0)
		return -ESTALE;
	u.h.handle_bytes = fh->len;
	u.h.handle_type = fh->type;
	memcpy(u.h.f_handle, fh->data, fh->len);
	fd = open_by_handle_at(r->root_fd, &u.h, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int cap_node_open(struct cap_root *r, struct cap_node *n, int flags, int *must_close)
{
	int fd;

	*must_close = 1;
	if (flags == O_PATH && n == &r->root_node) {
		*must_close = 0;
		return r->root_fd;
	}
	if (flags == O_PATH) {
		pthread_mutex_lock(&r->node_lock);
		fd = n->fd;
		pthread_mutex_unlock(&r->node_lock);
		if (fd >= 0) {
			*must_close = 0;
			return fd;
		}
	}
	fd = node_open_raw(r, n, flags);
	if (fd < 0 || flags != O_PATH || n == &r->root_node)
		return fd;
	/* Cache a bounded number of O_PATH descriptors. */
	pthread_mutex_lock(&r->node_lock);
	if (n->fd < 0 && r->cached_fds < r->cached_fds_max) {
		n->fd = fd;
		r->cached_fds++;
		*must_close = 0;
	}
	pthread_mutex_unlock(&r->node_lock);
	return fd;
}

/* ------------------------------------------------------------ stripes */

unsigned cap_stripe_of(uint64_t ino)
{
	uint64_t h = ino * 0x9E3779B97F4A7C15ULL;

	return (unsigned)(h >> 52) % CAP_STRIPES;
}

void cap_lock_inos(struct cap_root *r, const uint64_t *inos, int n, unsigned *held, int *nheld)
{
	int i, j, k = 0;

	for (i = 0; i < n && i < CAP_MAX_LOCKS; i++) {
		unsigned s;

		if (!inos[i])
			continue;
		s = cap_stripe_of(inos[i]);
		for (j = 0; j < k && held[j] != s; j++)
			;
		if (j < k)
			continue;
		/* insertion sort: ascending order avoids deadlocks */
		for (j = k; j > 0 && held[j - 1] > s; j--)
			held[j] = held[j - 1];
		held[j] = s;
		k++;
	}
	for (i = 0; i < k; i++)
		pthread_mutex_lock(&r->stripes[held[i]]);
	*nheld = k;
}

void cap_unlock(struct cap_root *r, const unsigned *held, int nheld)
{
	int i;

	for (i = nheld - 1; i >= 0; i--)
		pthread_mutex_unlock(&r->stripes[held[i]]);
}

void cap_nodes_forget_fids(struct cap_root *r)
{
	struct cap_node *n;
	size_t b;
	unsigned i;

	for (i = 0; i < CAP_STRIPES; i++)
		pthread_mutex_lock(&r->stripes[i]);
	pthread_mutex_lock(&r->node_lock);
	for (b = 0; b < r->node_buckets; b++)
		for (n = r->node_hash[b]; n; n = n->hash_next)
			if (n != &r->root_node)
				n->fid = 0;
	pthread_mutex_unlock(&r->node_lock);
	for (i = CAP_STRIPES; i > 0; i--)
		pthread_mutex_unlock(&r->stripes[i - 1]);
}
