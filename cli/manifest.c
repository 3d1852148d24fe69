/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest.c - the manifest of a tree as the store holds it at one view, the
 * proof in a drill report of which bytes were tested.  It is computed from
 * the index alone: no file data is read or decompressed, a regular file is
 * described by a SHA-256 over its per-block hashes, so a 100 GB datafile
 * costs one index seek per block (runs of holes cost one seek per run).
 *
 * Format (docs/format.md, "Drill manifests", mirrors this):
 *
 *   cdpfs manifest 1 block_size=8192
 *   PATH TYPE MODE UID GID SIZE MTIME_NS TARGET XATTRS CONTENT NLINK LINK
 *   ...
 *
 * One line per entry, fields separated by one space, entries in depth-first
 * order with the children of a directory in byte order of their names,
 * each directory before its children.  PATH is "/" for the root of the walk
 * and "/a/b" below it.  TYPE is one of d f l p s c b.  MODE is the
 * permission bits in four octal digits, SIZE and MTIME_NS decimal.  TARGET
 * is a symlink's target, "MAJOR:MINOR" for a device, else "-".  XATTRS is
 * "-" or NAME=HEXVALUE pairs joined by ',' in byte order of the names.
 * CONTENT is, for a regular file, the lower-case hex SHA-256 of the
 * concatenation, for each block of the file in order, of the block's stored
 * hash (SHA-256 of the zero-padded block) or of 32 zero bytes for a zero
 * block or a hole; "-" otherwise.  In PATH, TARGET and xattr names, bytes
 * below 0x21, above 0x7e, and '%', ',', '=' are written %HH (upper-case
 * hex), so a field never holds a space.  NLINK is the link count; LINK is,
 * for a non-directory with more than one link, the PATH at which the walk
 * first met it (itself, the first time), so the shape of the hard links is
 * part of the proof; "-" otherwise.  block_size on the version line is the
 * block the CONTENT hashes are taken over, so anyone can recompute them
 * from a restored tree.  Holes and zero blocks hash alike (the store keeps
 * no difference between them).  The manifest's SHA-256 is that of every
 * byte of the file, version line included.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <openssl/evp.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "util/util.h"

struct child {
	char *name;
	uint64_t fid;
};

struct children {
	struct child *v;
	size_t n, cap;
};

/* First path of each multi-link file met, by fid (open addressing). */
struct link_seen {
	uint64_t fid;        /* 0: empty slot */
	char *path;          /* escaped, heap */
};

struct walk {
	struct link_seen *links;
	size_t nlinks, links_cap;   /* cap a power of two */
	struct cdp_view *view;
	uint32_t block_size;
	FILE *out;
	EVP_MD_CTX *sha;     /* of everything written */
	uint64_t entries;
	int (*stop)(void);
	char *line;          /* one entry line, grown as needed */
	size_t line_len, line_cap;
};

void cli_hash_hex(const uint8_t hash[CDP_HASH_BYTES], char *hex)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < CDP_HASH_BYTES; i++) {
		hex[2 * i] = digits[hash[i] >> 4];
		hex[2 * i + 1] = digits[hash[i] & 15];
	}
	hex[2 * CDP_HASH_BYTES] = '\0';
}

static int line_put(struct walk *w, const char *s, size_t len)
{
	char *n = cdp_array_reserve(w->line, &w->line_cap, w->line_len + len + 1, 1, 512);

	if (!n)
		return -ENOMEM;
	w->line = n;
	memcpy(w->line + w->line_len, s, len);
	w->line_len += len;
	w->line[w->line_len] = '\0';
	return 0;
}

static int line_str(struct walk *w, const char *s)
{
	return line_put(w, s, strlen(s));
}

size_t cli_manifest_escape(const char *s, size_t len, char *out)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == '%' || c == ',' || c == '=') {
			out[n++] = '%';
			out[n++] = digits[c >> 4];
			out[n++] = digits[c & 15];
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

/* Bytes that could split a field or be mistaken for syntax become %HH. */
static int line_escaped(struct walk *w, const char *s, size_t len)
{
	char *n;

	if (len > (SIZE_MAX - w->line_len - 1) / 3)
		return -ENOMEM;
	n = cdp_array_reserve(w->line, &w->line_cap, w->line_len + 3 * len + 1, 1, 512);
	if (!n)
		return -ENOMEM;
	w->line = n;
	w->line_len += cli_manifest_escape(s, len, w->line + w->line_len);
	return 0;
}

static int emit_line(struct walk *w)
{
	if (line_put(w, "\n", 1) < 0)
		return -ENOMEM;
	if (fwrite(w->line, 1, w->line_len, w->out) != w->line_len)
		return -EIO;
	if (EVP_DigestUpdate(w->sha, w->line, w->line_len) != 1)
		return -EIO;
	w->line_len = 0;
	return 0;
}

static char type_char(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return 'd';
	case S_IFREG: return 'f';
	case S_IFLNK: return 'l';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	default: return '?';
	}
}

/* CONTENT of a regular file: SHA-256 over its per-block hashes. */
static int content_hash(struct walk *w, uint64_t fid, uint64_t size, char *hex)
{
	static const uint8_t zero_marker[CDP_HASH_BYTES];
	uint64_t bs = w->block_size, nblocks = (size + bs - 1) / bs, b = 0, pos;
	uint8_t hash[CDP_HASH_BYTES];
	unsigned int hlen;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ret = 0, is_zero;

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		ret = -ENOMEM;
		goto out;
	}
	while (b < nblocks) {
		uint64_t data_block, hole_block, start = b;

		/* Skip a run of holes with one seek instead of one per block. */
		ret = cdp_view_seek(w->view, fid, b * bs, 1, &pos);
		if (ret == -ENXIO)
			data_block = nblocks;
		else if (ret < 0)
			goto out;
		else
			data_block = pos / bs;
		for (; b < data_block && b < nblocks; b++)
			EVP_DigestUpdate(ctx, zero_marker, sizeof(zero_marker));
		if (b >= nblocks)
			break;
		ret = cdp_view_seek(w->view, fid, b * bs, 0, &pos);
		hole_block = ret < 0 ? nblocks : (pos + bs - 1) / bs;
		if (hole_block <= b)
			hole_block = b + 1;   /* always make progress */
		for (; b < hole_block && b < nblocks; b++) {
			ret = cdp_view_block_hash(w->view, fid, b, hash, &is_zero);
			if (ret == -ENOENT || (ret == 0 && is_zero))
				EVP_DigestUpdate(ctx, zero_marker, sizeof(zero_marker));
			else if (ret < 0)
				goto out;
			else
				EVP_DigestUpdate(ctx, hash, sizeof(hash));
		}
		if (b == start)
			b++;
		ret = 0;
	}
	if (EVP_DigestFinal_ex(ctx, hash, &hlen) != 1) {
		ret = -EIO;
		goto out;
	}
	cli_hash_hex(hash, hex);
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* XATTRS field. */
static int emit_xattrs(struct walk *w, uint64_t fid)
{
	static const char digits[] = "0123456789abcdef";
	char *list = NULL, **names = NULL, *value = NULL;
	ssize_t len, vlen;
	size_t n = 0, i, k;
	int ret = 0;
	char *p;

	len = cdp_view_listxattr(w->view, fid, NULL, 0);
	if (len == -ENODATA || len == -ENOTSUP || len == 0)
		return line_str(w, "-");
	if (len < 0)
		return (int)len;
	list = malloc((size_t)len + 1);
	if (!list)
		return -ENOMEM;
	len = cdp_view_listxattr(w->view, fid, list, (size_t)len);
	if (len < 0) {
		ret = (int)len;
		goto out;
	}
	list[len] = '\0';
	for (p = list; p < list + len; p += strlen(p) + 1)
		n++;
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names) {
		ret = -ENOMEM;
		goto out;
	}
	n = 0;
	for (p = list; p < list + len; p += strlen(p) + 1)
		if (*p)
			names[n++] = p;
	if (n == 0) {
		ret = line_str(w, "-");
		goto out;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && ret == 0; i++) {
		vlen = cdp_view_getxattr(w->view, fid, names[i], NULL, 0);
		if (vlen < 0) {
			ret = (int)vlen;
			break;
		}
		free(value);
		value = malloc((size_t)vlen + 1);
		if (!value) {
			ret = -ENOMEM;
			break;
		}
		vlen = cdp_view_getxattr(w->view, fid, names[i], value, (size_t)vlen);
		if (vlen < 0) {
			ret = (int)vlen;
			break;
		}
		if (i)
			ret = line_put(w, ",", 1);
		if (ret == 0)
			ret = line_escaped(w, names[i], strlen(names[i]));
		if (ret == 0)
			ret = line_put(w, "=", 1);
		for (k = 0; k < (size_t)vlen && ret == 0; k++) {
			char hx[2] = { digits[(unsigned char)value[k] >> 4],
				       digits[(unsigned char)value[k] & 15] };

			ret = line_put(w, hx, 2);
		}
	}
out:
	free(value);
	free(names);
	free(list);
	return ret;
}

/* TARGET field. */
static int emit_target(struct walk *w, uint64_t fid, const struct cdp_attr *a)
{
	char buf[64], *target;
	size_t size = 4096;
	ssize_t len;
	int ret;

	if (S_ISCHR(a->mode) || S_ISBLK(a->mode)) {
		snprintf(buf, sizeof(buf), "%u:%u", major((dev_t)a->rdev), minor((dev_t)a->rdev));
		return line_str(w, buf);
	}
	if (!S_ISLNK(a->mode))
		return line_str(w, "-");
	for (;;) {
		target = malloc(size);
		if (!target)
			return -ENOMEM;
		len = cdp_view_readlink(w->view, fid, target, size);
		if (len != -ERANGE)
			break;
		free(target);
		if (size > (1 << 20))
			return -ERANGE;
		size *= 4;
	}
	if (len < 0) {
		free(target);
		return (int)len;
	}
	ret = line_escaped(w, target, (size_t)len);
	free(target);
	return ret;
}

/* The escaped first path of fid (a file of nlink > 1), recording path
 * (escaped, heap: taken, *taken set) when it is the first meeting. */
static const char *link_first(struct walk *w, uint64_t fid, char *path, int *taken)
{
	size_t i, mask;

	*taken = 0;
	if (w->nlinks * 2 >= w->links_cap) {
		size_t cap = w->links_cap ? w->links_cap * 2 : 64, j;
		struct link_seen *n = calloc(cap, sizeof(*n));

		if (!n)
			return NULL;
		for (j = 0; j < w->links_cap; j++) {
			if (!w->links[j].fid)
				continue;
			for (i = w->links[j].fid & (cap - 1); n[i].fid; i = (i + 1) & (cap - 1))
				;
			n[i] = w->links[j];
		}
		free(w->links);
		w->links = n;
		w->links_cap = cap;
	}
	mask = w->links_cap - 1;
	for (i = fid & mask; w->links[i].fid; i = (i + 1) & mask)
		if (w->links[i].fid == fid)
			return w->links[i].path;
	w->links[i].fid = fid;
	w->links[i].path = path;
	w->nlinks++;
	*taken = 1;
	return path;
}

/* Appends " NLINK LINK" for the entry whose escaped PATH starts the line. */
static int emit_links(struct walk *w, uint64_t fid, const struct cdp_attr *a, size_t path_bytes)
{
	char num[32];
	const char *first;
	char *mine;
	int taken, ret;

	snprintf(num, sizeof(num), " %u ", a->nlink);
	ret = line_str(w, num);
	if (ret < 0)
		return ret;
	if (S_ISDIR(a->mode) || a->nlink <= 1)
		return line_str(w, "-");
	mine = strndup(w->line, path_bytes);
	if (!mine)
		return -ENOMEM;
	first = link_first(w, fid, mine, &taken);
	if (!taken)
		free(mine);
	if (!first)
		return -ENOMEM;
	return line_str(w, first);
}

static int collect_child(void *arg, const char *name, uint64_t fid, uint32_t type)
{
	struct children *c = arg;
	struct child *n;

	(void)type;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	n = cdp_array_reserve(c->v, &c->cap, c->n + 1, sizeof(*c->v), 16);
	if (!n)
		return -ENOMEM;
	c->v = n;
	c->v[c->n].name = strdup(name);
	if (!c->v[c->n].name)
		return -ENOMEM;
	c->v[c->n++].fid = fid;
	return 0;
}

static int child_cmp(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->name, ((const struct child *)b)->name);
}

/* One entry at path (heap buffer *path of *cap bytes, grown as needed),
 * then, for a directory, its children. */
static int walk_entry(struct walk *w, uint64_t fid, char **path, size_t *cap, size_t path_len)
{
	struct children kids = { NULL, 0, 0 };
	struct cdp_attr a;
	char num[160], hex[2 * CDP_HASH_BYTES + 1];
	size_t i, path_bytes;
	int ret;

	if (w->stop && w->stop())
		return -EINTR;
	ret = cdp_view_getattr(w->view, fid, &a);
	if (ret < 0)
		return ret;
	ret = line_escaped(w, path_len ? *path : "/", path_len ? path_len : 1);
	path_bytes = w->line_len;
	snprintf(num, sizeof(num), " %c %04o %u %u %llu %lld ", type_char(a.mode),
		 a.mode & 07777, a.uid, a.gid, (unsigned long long)a.size,
		 (long long)a.mtime_ns);
	if (ret == 0)
		ret = line_str(w, num);
	if (ret == 0)
		ret = emit_target(w, fid, &a);
	if (ret == 0)
		ret = line_put(w, " ", 1);
	if (ret == 0)
		ret = emit_xattrs(w, fid);
	if (ret == 0)
		ret = line_put(w, " ", 1);
	if (ret == 0 && S_ISREG(a.mode)) {
		ret = content_hash(w, fid, a.size, hex);
		if (ret == 0)
			ret = line_str(w, hex);
	} else if (ret == 0) {
		ret = line_str(w, "-");
	}
	if (ret == 0)
		ret = emit_links(w, fid, &a, path_bytes);
	if (ret == 0)
		ret = emit_line(w);
	if (ret < 0)
		return ret;
	w->entries++;
	if (!S_ISDIR(a.mode))
		return 0;

	/* collect_child's -errno stops the listing and comes back as is */
	ret = cdp_view_readdir(w->view, fid, NULL, collect_child, &kids);
	if (ret == 0 && kids.n > 1)
		qsort(kids.v, kids.n, sizeof(*kids.v), child_cmp);
	for (i = 0; i < kids.n && ret == 0; i++) {
		size_t nlen = strlen(kids.v[i].name);
		char *n = cdp_array_reserve(*path, cap, path_len + nlen + 2, 1, 256);

		if (!n) {
			ret = -ENOMEM;
			break;
		}
		*path = n;
		(*path)[path_len] = '/';
		memcpy(*path + path_len + 1, kids.v[i].name, nlen + 1);
		ret = walk_entry(w, kids.v[i].fid, path, cap, path_len + 1 + nlen);
		(*path)[path_len] = '\0';
	}
	for (i = 0; i < kids.n; i++)
		free(kids.v[i].name);
	free(kids.v);
	return ret;
}

int cli_manifest_write(struct cdp_view *v, uint64_t root_fid, uint32_t block_size,
		       FILE *out, uint8_t sha[CDP_HASH_BYTES], uint64_t *entries,
		       int (*stop)(void))
{
	struct walk w;
	size_t cap = 256, i;
	char *path = malloc(cap), header[64];
	unsigned int hlen;
	int ret;

	memset(&w, 0, sizeof(w));
	w.view = v;
	w.block_size = block_size ? block_size : 8192;
	w.out = out;
	w.stop = stop;
	w.sha = EVP_MD_CTX_new();
	if (!path || !w.sha || EVP_DigestInit_ex(w.sha, EVP_sha256(), NULL) != 1) {
		ret = -ENOMEM;
		goto out;
	}
	path[0] = '\0';
	snprintf(header, sizeof(header), "%s block_size=%u", CLI_MANIFEST_HEADER, w.block_size);
	ret = line_str(&w, header);
	if (ret == 0)
		ret = emit_line(&w);
	if (ret == 0)
		ret = walk_entry(&w, root_fid, &path, &cap, 0);
	if (ret == 0 && fflush(out) != 0)
		ret = -EIO;
	if (ret == 0 && EVP_DigestFinal_ex(w.sha, sha, &hlen) != 1)
		ret = -EIO;
	if (entries)
		*entries = w.entries;
out:
	EVP_MD_CTX_free(w.sha);
	for (i = 0; i < w.links_cap; i++)
		free(w.links[i].path);
	free(w.links);
	free(w.line);
	free(path);
	return ret;
}
