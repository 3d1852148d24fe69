/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * diff.c - what changed between two views of a host (query.h), from the
 * index alone.  The index keeps no mark on a directory whose subtree
 * changed (a file's data and attributes are keyed by its fid, not by its
 * path), so the walk cannot skip a subtree by looking at its directory.
 * It does better: one pass over the host's directory entries and one over
 * its attribute records (cdp_scan_versions) give both trees at once, with
 * no seek per name or per file; then only the files whose attribute
 * record differs between the views cost more (their xattrs and block
 * hashes).  Capture journals a file's attributes in every op that changes
 * its data or xattrs, so an attribute record that is the same version in
 * both views means the same file in both.
 *
 * The two trees are walked together by path from dir; names found in one
 * view only become candidates (every entry below them too), and a
 * candidate added and one deleted that are the same file become a rename.
 *
 * An overlay against its base (cdp_overlay_diff) is the same comparison
 * with the second tree read from the overlay: its tree walked through the
 * overlay (readdir merges the base), an object the overlay has no record
 * of is its base unchanged, and the block hashes of a changed file are the
 * base's except where the overlay holds the block ('D', read and hashed,
 * or 'Z') or past its base limit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "overlay_int.h"
#include "query.h"

/* A live directory entry of one view. */
struct ent {
	uint64_t parent, child;
	uint32_t type;
	char *name;           /* heap, shared by both views' entries */
};

struct side {
	struct ent *v;
	size_t n, cap;
	struct cdp_fidmap first;   /* parent -> index of its first entry in v */
	uint64_t seq;
};

/* A file's attribute record in both views. */
struct ino {
	uint64_t fid;
	uint64_t ver[2];      /* seq of the record at each view; 0: none */
	int live[2];
	struct cdp_attr a[2];
	char *target[2];      /* symlinks, heap */
};

/* A path found in one view only. */
struct cand {
	char *path;           /* heap */
	uint64_t fid;
	uint32_t type;
	long parent;          /* index of the candidate of its directory, -1 */
	const char *name;     /* last component (points into path) */
	long peer;            /* the candidate of the other view it pairs with, -1 */
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

struct out_change {
	struct cdp_change c;
	char *path, *old_path;
};

struct diff {
	struct cdp_store *s;
	struct cdp_overlay *ovl;      /* the second tree, or NULL: view 1 */
	int scanned;                  /* trees the index scans fill: 2, or 1 */
	uint32_t host, bs;
	struct side side[2];
	struct ino *inos;
	size_t ninos, inos_cap;
	struct cdp_fidmap ino_at;
	struct cands cand[2];         /* 0: deleted, 1: added */
	struct out_change *out;
	size_t nout, out_cap;
};

static int ent_cb(void *arg, const struct cdp_versions *g)
{
	struct diff *d = arg;
	uint64_t parent, child;
	uint32_t type;
	size_t nlen;
	char *name = NULL;
	int k;

	if (g->glen < 14 || g->gkey[g->glen - 1] != 0)
		return -CDP_ECORRUPT;
	parent = get_u64be(g->gkey + 4);
	nlen = g->glen - 13;
	for (k = 0; k < d->scanned; k++) {
		struct side *sd = &d->side[k];
		struct ent *e;
		size_t first;

		if (!g->val[k] || g->vlen[k] < 1 || g->val[k][0] == VAL_TOMBSTONE)
			continue;
		if (cdp_dirent_value_decode(g->val[k], g->vlen[k], &child, &type) < 0)
			return -CDP_ECORRUPT;
		if (!name) {
			name = strndup((const char *)g->gkey + 12, nlen);
			if (!name)
				return -ENOMEM;
		}
		e = cdp_grow(sd->v, &sd->cap, sd->n + 1, sizeof(*sd->v));
		if (!e)
			return -ENOMEM;
		sd->v = e;
		if (!cdp_fidmap_get(&sd->first, parent, &first) &&
		    cdp_fidmap_put(&sd->first, parent, sd->n) < 0)
			return -ENOMEM;
		sd->v[sd->n++] = (struct ent){ parent, child, type, name };
	}
	return 0;
}

static int ino_cb(void *arg, const struct cdp_versions *g)
{
	struct diff *d = arg;
	struct ino *in, *v;
	size_t hlen;
	int k, ret;

	if (g->glen != 12)
		return -CDP_ECORRUPT;
	if ((!g->val[0] || g->val[0][0] == VAL_TOMBSTONE) &&
	    (d->scanned < 2 || !g->val[1] || g->val[1][0] == VAL_TOMBSTONE))
		return 0;
	v = cdp_grow(d->inos, &d->inos_cap, d->ninos + 1, sizeof(*d->inos));
	if (!v)
		return -ENOMEM;
	d->inos = v;
	in = &d->inos[d->ninos];
	memset(in, 0, sizeof(*in));
	in->fid = get_u64be(g->gkey + 4);
	for (k = 0; k < d->scanned; k++) {
		if (!g->val[k])
			continue;
		in->ver[k] = g->seq[k];
		if (g->val[k][0] == VAL_TOMBSTONE)
			continue;
		ret = cdp_attr_decode(g->val[k], g->vlen[k], &in->a[k], &hlen);
		if (ret < 0)
			return ret;
		in->live[k] = 1;
		if (S_ISLNK(in->a[k].mode)) {
			in->target[k] = strndup(g->val[k] + hlen, g->vlen[k] - hlen);
			if (!in->target[k])
				return -ENOMEM;
		}
	}
	if (cdp_fidmap_put(&d->ino_at, in->fid, d->ninos) < 0)
		return -ENOMEM;
	d->ninos++;
	return 0;
}

/* The attributes of fid in view k, NULL when it has none (the host's "/"
 * before its attributes were journaled). */
static const struct ino *ino_of(struct diff *d, uint64_t fid)
{
	size_t i;

	return cdp_fidmap_get(&d->ino_at, fid, &i) ? &d->inos[i] : NULL;
}

static const struct cdp_attr *attr_of(struct diff *d, int k, uint64_t fid)
{
	const struct ino *in = ino_of(d, fid);

	return in && in->live[k] ? &in->a[k] : NULL;
}

/* ---------------------------------------------------- comparing files */

/* Data blocks of one file at one seq, or of one file at both. */
struct blk {
	uint64_t block;
	uint8_t sha[CDP_HASH_BYTES];
};

struct blocks {
	struct blk *v;
	size_t n, cap;
	int k;                     /* which val of the group to read */
};

static int blocks_cb(void *arg, const struct cdp_versions *g)
{
	struct blocks *b = arg;
	struct blk *v;
	uint8_t sha[CDP_HASH_BYTES];
	int ret;

	if (g->glen != 20)
		return -CDP_ECORRUPT;
	if (!g->val[b->k])
		return 0;
	ret = cdp_block_value_decode(g->val[b->k], g->vlen[b->k], sha, NULL);
	if (ret < 0)
		return ret;
	if (ret == BLOCK_VALUE_ZERO)
		return 0;
	v = cdp_grow(b->v, &b->cap, b->n + 1, sizeof(*b->v));
	if (!v)
		return -ENOMEM;
	b->v = v;
	b->v[b->n].block = get_u64be(g->gkey + 12);
	memcpy(b->v[b->n].sha, sha, CDP_HASH_BYTES);
	b->n++;
	return 0;
}

static int ovl_blocks(struct diff *d, uint64_t id, struct blocks *out);

static int file_blocks(struct diff *d, uint64_t fid, int k, struct blocks *out)
{
	uint8_t prefix[12];
	uint64_t seqs[2];

	if (k == 1 && d->ovl)
		return ovl_blocks(d, fid, out);
	put_u32be(prefix, d->host);
	put_u64be(prefix + 4, fid);
	seqs[0] = seqs[1] = d->side[k].seq;
	out->k = 0;
	return cdp_scan_versions(d->s, CF_BLOCK, prefix, sizeof(prefix), seqs, blocks_cb, out);
}

/* Bytes of the blocks that differ between file fa (view 0, size sa) and
 * fb (view 1, size sb); a block past a file's end reads as zeros. */
static int content_bytes(struct diff *d, uint64_t fa, uint64_t sa, uint64_t fb, uint64_t sb,
			 uint64_t *bytes)
{
	struct blocks b[2] = { { 0 }, { 0 } };
	uint64_t max = sa > sb ? sa : sb, end[2], blk, n = 0;
	size_t i = 0, j = 0;
	int ret;

	*bytes = 0;
	end[0] = (sa + d->bs - 1) / d->bs;
	end[1] = (sb + d->bs - 1) / d->bs;
	ret = file_blocks(d, fa, 0, &b[0]);
	if (ret == 0)
		ret = file_blocks(d, fb, 1, &b[1]);
	while (ret == 0) {
		const struct blk *x, *y;

		while (i < b[0].n && b[0].v[i].block >= end[0])
			i++;
		while (j < b[1].n && b[1].v[j].block >= end[1])
			j++;
		x = i < b[0].n ? &b[0].v[i] : NULL;
		y = j < b[1].n ? &b[1].v[j] : NULL;
		if (!x && !y)
			break;
		if (x && y && x->block == y->block) {
			blk = x->block;
			if (memcmp(x->sha, y->sha, CDP_HASH_BYTES) != 0)
				n += max - blk * d->bs < d->bs ? max - blk * d->bs : d->bs;
			i++;
			j++;
			continue;
		}
		/* data on one side, zeros on the other */
		blk = !y || (x && x->block < y->block) ? x->block : y->block;
		if (!y || (x && x->block < y->block))
			i++;
		else
			j++;
		n += max - blk * d->bs < d->bs ? max - blk * d->bs : d->bs;
	}
	/* blocks cut off or added as holes differ only where data was */
	free(b[0].v);
	free(b[1].v);
	*bytes = n;
	return ret;
}

/* xattrs of one file at one seq: "name\0" then u32 length and the value,
 * concatenated in name order, compared as one buffer. */
struct xbuf {
	char *p;
	size_t n, cap;
};

static int xattr_cb(void *arg, const struct cdp_versions *g)
{
	struct xbuf *x = arg;
	const char *data;
	size_t dlen, nlen = g->glen - 12, need;
	char *np;

	if (!g->val[0] || g->vlen[0] < 1 || g->val[0][0] == VAL_TOMBSTONE)
		return 0;
	if (g->glen < 14 || cdp_xattr_value_decode(g->val[0], g->vlen[0], &data, &dlen) < 0)
		return -CDP_ECORRUPT;
	need = x->n + nlen + 4 + dlen;
	np = cdp_grow(x->p, &x->cap, need, 1);
	if (!np)
		return -ENOMEM;
	x->p = np;
	memcpy(x->p + x->n, g->gkey + 12, nlen);
	put_u32be((uint8_t *)x->p + x->n + nlen, (uint32_t)dlen);
	memcpy(x->p + x->n + nlen + 4, data, dlen);
	x->n = need;
	return 0;
}

static int ovl_xattrs(struct diff *d, uint64_t id, struct xbuf *x);

static int xattrs_of(struct diff *d, uint64_t fid, int k, struct xbuf *x)
{
	uint8_t prefix[12];
	uint64_t seqs[2];

	if (k == 1 && d->ovl)
		return ovl_xattrs(d, fid, x);
	put_u32be(prefix, d->host);
	put_u64be(prefix + 4, fid);
	seqs[0] = seqs[1] = d->side[k].seq;
	return cdp_scan_versions(d->s, CF_XATTR, prefix, sizeof(prefix), seqs, xattr_cb, x);
}

static int xattrs_differ(struct diff *d, uint64_t fa, uint64_t fb)
{
	struct xbuf x[2] = { { 0 }, { 0 } };
	int ret = xattrs_of(d, fa, 0, &x[0]);

	if (ret == 0)
		ret = xattrs_of(d, fb, 1, &x[1]);
	if (ret == 0)
		ret = x[0].n != x[1].n || (x[0].n && memcmp(x[0].p, x[1].p, x[0].n) != 0);
	free(x[0].p);
	free(x[1].p);
	return ret;
}

/* What differs between fa in view 0 and fb in view 1 (same type): the
 * enum cdp_change_what bits, and the bytes of content changed. */
static int compare(struct diff *d, uint64_t fa, uint64_t fb, uint64_t *bytes)
{
	const struct ino *ia = ino_of(d, fa), *ib = ino_of(d, fb);
	const struct cdp_attr *a = attr_of(d, 0, fa), *b = attr_of(d, 1, fb);
	unsigned what = 0;
	int ret;

	*bytes = 0;
	if (fa == fb && ia && ia->ver[0] == ia->ver[1])
		return 0;   /* the same record: the same file */
	if (!a || !b)
		return a == b ? 0 : CDP_CHG_MODE;   /* "/" without attributes */
	if ((a->mode & 07777) != (b->mode & 07777))
		what |= CDP_CHG_MODE;
	if (a->uid != b->uid || a->gid != b->gid)
		what |= CDP_CHG_OWNER;
	if (a->mtime_ns != b->mtime_ns)
		what |= CDP_CHG_MTIME;
	if (a->nlink != b->nlink)
		what |= CDP_CHG_NLINK;
	if (!S_ISDIR(a->mode) && a->size != b->size)
		what |= CDP_CHG_SIZE;
	if (S_ISLNK(a->mode) && strcmp(ia->target[0] ? ia->target[0] : "",
				       ib->target[1] ? ib->target[1] : "") != 0)
		what |= CDP_CHG_CONTENT;
	if ((S_ISCHR(a->mode) || S_ISBLK(a->mode)) && a->rdev != b->rdev)
		what |= CDP_CHG_CONTENT;
	if (S_ISREG(a->mode)) {
		ret = content_bytes(d, fa, a->size, fb, b->size, bytes);
		if (ret < 0)
			return ret;
		if (*bytes)
			what |= CDP_CHG_CONTENT;
	}
	ret = xattrs_differ(d, fa, fb);
	if (ret < 0)
		return ret;
	if (ret)
		what |= CDP_CHG_XATTR;
	return (int)what;
}

/* ------------------------------------------------------------ output */

static int emit(struct diff *d, char op, const char *path, const char *old_path,
		uint32_t type, uint32_t old_type, unsigned what, uint64_t bytes, uint64_t fa,
		uint64_t fb)
{
	struct out_change *o = cdp_grow(d->out, &d->out_cap, d->nout + 1, sizeof(*d->out));
	const struct cdp_attr *a = fa ? attr_of(d, 0, fa) : NULL, *b = fb ? attr_of(d, 1, fb) : NULL;

	if (!o)
		return -ENOMEM;
	d->out = o;
	o = &d->out[d->nout];
	memset(o, 0, sizeof(*o));
	o->path = strdup(path);
	o->old_path = old_path ? strdup(old_path) : NULL;
	if (!o->path || (old_path && !o->old_path)) {
		free(o->path);
		free(o->old_path);
		return -ENOMEM;
	}
	d->nout++;
	o->c.op = op;
	o->c.type = type;
	o->c.old_type = old_type;
	o->c.what = what;
	o->c.bytes = bytes;
	o->c.size_before = a && S_ISREG(a->mode) ? a->size : 0;
	o->c.size_after = b && S_ISREG(b->mode) ? b->size : 0;
	return 0;
}

/* 'M' when content changed, 'm' for the rest, nothing when equal. */
static int emit_compare(struct diff *d, const char *path, uint32_t type, uint64_t fa,
			uint64_t fb)
{
	uint64_t bytes;
	int what = compare(d, fa, fb, &bytes);

	if (what <= 0)
		return what;
	return emit(d, what & CDP_CHG_CONTENT ? 'M' : 'm', path, NULL, type, type,
		    (unsigned)what, bytes, fa, fb);
}

/* dir/name, heap (NULL when out of memory). */
static char *join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p = malloc(dl + nl + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	if (dl == 0 || p[dl - 1] != '/')
		p[dl++] = '/';
	memcpy(p + dl, name, nl + 1);
	return p;
}

/* Entries of dir in view k: [*first, *first + *n). */
static void children(struct diff *d, int k, uint64_t dir, size_t *first, size_t *n)
{
	struct side *sd = &d->side[k];
	size_t i;

	*n = 0;
	if (!dir || !cdp_fidmap_get(&sd->first, dir, first))
		return;
	for (i = *first; i < sd->n && sd->v[i].parent == dir; i++)
		(*n)++;
}

/* path (fid, type) found in view k only, and every entry below it. */
static int add_cand(struct diff *d, int k, const char *path, uint64_t fid, uint32_t type,
		    long parent, int depth)
{
	struct cands *c = &d->cand[k];
	struct cand *v;
	size_t first, n, i;
	long me;
	int ret;

	if (depth > 4096)
		return -ELOOP;   /* a cycle in a damaged index */
	v = cdp_grow(c->v, &c->cap, c->n + 1, sizeof(*c->v));
	if (!v)
		return -ENOMEM;
	c->v = v;
	me = (long)c->n;
	v = &c->v[c->n];
	v->path = strdup(path);
	if (!v->path)
		return -ENOMEM;
	v->fid = fid;
	v->type = type;
	v->parent = parent;
	v->name = strrchr(v->path, '/') ? strrchr(v->path, '/') + 1 : v->path;
	v->peer = -1;
	c->n++;
	if (type != S_IFDIR)
		return 0;
	children(d, k, fid, &first, &n);
	for (i = first; i < first + n; i++) {
		struct ent *e = &d->side[k].v[i];
		char *sub = join(path, e->name);

		if (!sub)
			return -ENOMEM;
		ret = add_cand(d, k, sub, e->child, e->type, me, depth + 1);
		free(sub);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Both trees from directory fa (view 0) and fb (view 1) at path. */
static int walk(struct diff *d, const char *path, uint64_t fa, uint64_t fb, int depth)
{
	size_t f0, n0, f1, n1, i = 0, j = 0;
	int ret = 0;

	if (depth > 4096)
		return -ELOOP;
	children(d, 0, fa, &f0, &n0);
	children(d, 1, fb, &f1, &n1);
	while (ret == 0 && (i < n0 || j < n1)) {
		struct ent *a = i < n0 ? &d->side[0].v[f0 + i] : NULL;
		struct ent *b = j < n1 ? &d->side[1].v[f1 + j] : NULL;
		int c = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);
		char *sub = join(path, c <= 0 ? a->name : b->name);

		if (!sub)
			return -ENOMEM;
		if (c < 0) {
			ret = add_cand(d, 0, sub, a->child, a->type, -1, 0);
			i++;
		} else if (c > 0) {
			ret = add_cand(d, 1, sub, b->child, b->type, -1, 0);
			j++;
		} else {
			if (a->type != b->type) {
				ret = emit(d, 'T', sub, NULL, b->type, a->type, 0, 0, a->child,
					   b->child);
				if (ret == 0 && a->type == S_IFDIR)
					ret = walk(d, sub, a->child, 0, depth + 1);
				if (ret == 0 && b->type == S_IFDIR)
					ret = walk(d, sub, 0, b->child, depth + 1);
			} else {
				ret = emit_compare(d, sub, a->type, a->child, b->child);
				if (ret == 0 && a->type == S_IFDIR)
					ret = walk(d, sub, a->child, b->child, depth + 1);
			}
			i++;
			j++;
		}
		free(sub);
	}
	return ret;
}

/* Pairs the deleted and added candidates that are the same file. */
static int pair_renames(struct diff *d)
{
	struct cands *del = &d->cand[0], *add = &d->cand[1];
	struct cdp_fidmap first = { 0 };
	size_t i, j;
	int ret = 0;

	/* a fid's deleted candidates: the first in the map, the others
	 * found by scanning on (rare: hard links) */
	for (i = del->n; i-- > 0;)
		if ((ret = cdp_fidmap_put(&first, del->v[i].fid, i)) < 0)
			goto out;
	for (i = 0; i < add->n; i++) {
		struct cand *a = &add->v[i];

		if (!cdp_fidmap_get(&first, a->fid, &j))
			continue;
		for (; j < del->n; j++)
			if (del->v[j].fid == a->fid && del->v[j].peer < 0 &&
			    del->v[j].type == a->type)
				break;
		if (j < del->n) {
			a->peer = (long)j;
			del->v[j].peer = (long)i;
		}
	}
	for (i = 0; i < add->n && ret == 0; i++) {
		struct cand *a = &add->v[i], *o;

		if (a->peer < 0) {
			ret = emit(d, 'A', a->path, NULL, a->type, 0, 0, 0, 0, a->fid);
			if (ret == 0 && a->type == S_IFREG)
				d->out[d->nout - 1].c.bytes = d->out[d->nout - 1].c.size_after;
			continue;
		}
		o = &del->v[a->peer];
		/* moved with its directory, under the same name: no line */
		if (!(a->parent >= 0 && o->parent >= 0 && add->v[a->parent].peer == o->parent &&
		      strcmp(a->name, o->name) == 0))
			ret = emit(d, 'R', a->path, o->path, a->type, o->type, 0, 0, o->fid,
				   a->fid);
		if (ret == 0)
			ret = emit_compare(d, a->path, a->type, o->fid, a->fid);
	}
	for (i = 0; i < del->n && ret == 0; i++) {
		struct cand *o = &del->v[i];

		if (o->peer >= 0)
			continue;
		ret = emit(d, 'D', o->path, NULL, o->type, o->type, 0, 0, o->fid, 0);
		if (ret == 0 && o->type == S_IFREG)
			d->out[d->nout - 1].c.bytes = d->out[d->nout - 1].c.size_before;
	}
out:
	cdp_fidmap_release(&first);
	return ret;
}

static int out_cmp(const void *x, const void *y)
{
	const struct out_change *a = x, *b = y;
	int c = strcmp(a->path, b->path);

	/* at one path: 'R' (or 'T') before the 'M'/'m' line of the same file */
	if (c == 0)
		c = (a->c.op == 'M' || a->c.op == 'm') - (b->c.op == 'M' || b->c.op == 'm');
	return c;
}

/* The fid of dir in view k, 0 when it is not a directory there. */
static int resolve_dir(struct cdp_view *v, const char *dir, uint64_t *fid)
{
	struct cdp_attr a;
	int ret = cdp_view_resolve(v, dir, fid);

	if (ret == -ENOENT) {
		*fid = 0;
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = cdp_view_getattr(v, *fid, &a);
	if (ret < 0)
		return ret;
	if (!S_ISDIR(a.mode))
		return -ENOTDIR;
	return 0;
}

static void diff_release(struct diff *d)
{
	size_t i;
	int k;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < d->cand[k].n; i++)
			free(d->cand[k].v[i].path);
		free(d->cand[k].v);
		cdp_fidmap_release(&d->side[k].first);
	}
	for (i = 0; i < d->ninos; i++) {
		free(d->inos[i].target[0]);
		free(d->inos[i].target[1]);
	}
	free(d->inos);
	cdp_fidmap_release(&d->ino_at);
	for (i = 0; i < d->nout; i++) {
		free(d->out[i].path);
		free(d->out[i].old_path);
	}
	free(d->out);
}

/* Frees the entry names: each is shared by the entries of the same key
 * in both views, which the scan appended in key order; a name is freed
 * from side 1 unless side 0 holds the same pointer. */
static void names_release(struct diff *d)
{
	size_t i = 0, j = 0;
	struct side *a = &d->side[0], *b = &d->side[1];

	if (d->ovl) {   /* nothing shared */
		for (i = 0; i < a->n; i++)
			free(a->v[i].name);
		for (j = 0; j < b->n; j++)
			free(b->v[j].name);
		i = a->n;
		j = b->n;
	}
	while (i < a->n || j < b->n) {
		if (i < a->n && j < b->n && a->v[i].name == b->v[j].name) {
			free(a->v[i].name);
			i++;
			j++;
		} else if (j >= b->n || (i < a->n && (a->v[i].parent < b->v[j].parent ||
			    (a->v[i].parent == b->v[j].parent &&
			     strcmp(a->v[i].name, b->v[j].name) < 0)))) {
			free(a->v[i++].name);
		} else {
			free(b->v[j++].name);
		}
	}
	free(a->v);
	free(b->v);
}

/* ------------------------------------------------- an overlay's tree */

/* Appends a block hash to out. */
static int blk_add(struct blocks *out, uint64_t block, const uint8_t sha[CDP_HASH_BYTES])
{
	struct blk *v = cdp_grow(out->v, &out->cap, out->n + 1, sizeof(*out->v));

	if (!v)
		return -ENOMEM;
	out->v = v;
	out->v[out->n].block = block;
	memcpy(out->v[out->n].sha, sha, CDP_HASH_BYTES);
	out->n++;
	return 0;
}

/* Block b of overlay object id read and hashed (a block of zeros adds
 * nothing). */
static int ovl_block_read(struct diff *d, uint64_t id, uint64_t b, uint8_t *buf,
			  struct blocks *out)
{
	uint8_t sha[CDP_HASH_BYTES];
	ssize_t got = cdp_overlay_read(d->ovl, id, buf, d->bs, b * d->bs);
	size_t i;

	if (got < 0)
		return (int)got;
	memset(buf + got, 0, d->bs - (size_t)got);
	for (i = 0; i < d->bs && !buf[i]; i++)
		;
	if (i == d->bs)
		return 0;
	cdp_hash(buf, d->bs, sha);
	return blk_add(out, b, sha);
}

/* The blocks of overlay object id as block hashes (see the top). */
static int ovl_blocks(struct diff *d, uint64_t id, struct blocks *out)
{
	struct cdp_overlay *o = d->ovl;
	struct blocks base = { 0 };
	struct ovl_ino in;
	rocksdb_iterator_t *it;
	struct okey k;
	const char *key, *val;
	size_t klen, vlen, i = 0;
	uint64_t limit_block = 0, limit_end = 0, nblocks, b = 0, sb, stop;
	uint8_t *buf;
	int ret;

	out->k = 0;
	ret = cdp_ovl_ino_get(o, id, &in);
	if (ret < 0)
		return ret;
	nblocks = (in.a.size + d->bs - 1) / d->bs;
	if (in.flags & OVI_BASE) {
		limit_block = in.base_limit / d->bs;                 /* whole base blocks */
		limit_end = (in.base_limit + d->bs - 1) / d->bs;     /* and the cut one */
		ret = file_blocks(d, id, 0, &base);
	}
	buf = malloc(d->bs);
	if (!buf && ret == 0)
		ret = -ENOMEM;
	cdp_ovl_key_block(&k, id, 0);
	it = rocksdb_create_iterator(o->db, o->ropts);
	rocksdb_iter_seek(it, (const char *)k.b, k.len);
	while (ret == 0 && b < nblocks) {
		char state = 0;

		sb = UINT64_MAX;
		if (rocksdb_iter_valid(it)) {
			key = rocksdb_iter_key(it, &klen);
			if (klen == k.len && memcmp(key, k.b, 9) == 0) {
				sb = get_u64be((const uint8_t *)key + 9);
				val = rocksdb_iter_value(it, &vlen);
				state = vlen ? val[0] : 0;
			}
		}
		if (sb == b) {   /* the overlay's own block: data or zeros */
			if (state == 'D')
				ret = ovl_block_read(d, id, b, buf, out);
			rocksdb_iter_next(it);
			b++;
			continue;
		}
		stop = sb < nblocks ? sb : nblocks;
		if (b < limit_block) {   /* the base's blocks, to the next own one */
			if (stop > limit_block)
				stop = limit_block;
			for (; i < base.n && base.v[i].block < stop && ret == 0; i++)
				if (base.v[i].block >= b)
					ret = blk_add(out, base.v[i].block, base.v[i].sha);
			b = stop;
		} else if (b < limit_end) {   /* the base's block cut at the limit */
			ret = ovl_block_read(d, id, b, buf, out);
			b++;
		} else {   /* zeros past the limit */
			b = stop;
		}
	}
	if (ret == 0)
		ret = cdp_ovl_iter_done(it);
	else
		rocksdb_iter_destroy(it);
	free(buf);
	free(base.v);
	cdp_ovl_ino_release(&in);
	return ret;
}

static int name_sort(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int ovl_xattrs(struct diff *d, uint64_t id, struct xbuf *x)
{
	char *names = NULL, **v = NULL, *val = NULL;
	ssize_t len = cdp_overlay_listxattr(d->ovl, id, NULL, 0), vlen;
	size_t n = 0, i, nl, need;
	char *p;
	int ret = 0;

	if (len <= 0)
		return (int)len;
	names = malloc((size_t)len + 1);
	v = calloc((size_t)len, sizeof(*v));
	if (!names || !v) {
		ret = -ENOMEM;
		goto out;
	}
	len = cdp_overlay_listxattr(d->ovl, id, names, (size_t)len);
	for (p = names; len > 0 && p < names + len; p += strlen(p) + 1)
		v[n++] = p;
	qsort(v, n, sizeof(*v), name_sort);
	for (i = 0; i < n && ret == 0; i++) {
		vlen = cdp_overlay_getxattr(d->ovl, id, v[i], NULL, 0);
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
		vlen = cdp_overlay_getxattr(d->ovl, id, v[i], val, (size_t)vlen);
		if (vlen < 0) {
			ret = (int)vlen;
			break;
		}
		nl = strlen(v[i]) + 1;   /* as the index keys hold it: name, 0 */
		need = x->n + nl + 4 + (size_t)vlen;
		p = cdp_grow(x->p, &x->cap, need, 1);
		if (!p) {
			ret = -ENOMEM;
			break;
		}
		x->p = p;
		memcpy(x->p + x->n, v[i], nl);
		put_u32be((uint8_t *)x->p + x->n + nl, (uint32_t)vlen);
		memcpy(x->p + x->n + nl + 4, val, (size_t)vlen);
		x->n = need;
	}
	if (len < 0)
		ret = (int)len;
out:
	free(val);
	free(v);
	free(names);
	return ret;
}

struct ovl_fill {
	struct diff *d;
	uint64_t dir;
	int ret;
};

static int ovl_fill_dir(struct diff *d, uint64_t dir, int depth);

/* The overlay's attributes of id as tree 1's: the base's record version
 * when the overlay has none of its own (unchanged), else a version no
 * record has. */
static int ovl_fill_ino(struct diff *d, uint64_t id)
{
	struct ovl_ino in;
	struct ino *v;
	size_t i;
	int ret = cdp_ovl_ino_get(d->ovl, id, &in);

	if (ret < 0)
		return ret;
	if (!cdp_fidmap_get(&d->ino_at, id, &i)) {
		v = cdp_grow(d->inos, &d->inos_cap, d->ninos + 1, sizeof(*d->inos));
		if (!v || cdp_fidmap_put(&d->ino_at, id, d->ninos) < 0) {
			if (v)
				d->inos = v;
			cdp_ovl_ino_release(&in);
			return -ENOMEM;
		}
		d->inos = v;
		i = d->ninos++;
		memset(&d->inos[i], 0, sizeof(d->inos[i]));
		d->inos[i].fid = id;
	}
	v = &d->inos[i];
	v->live[1] = 1;
	v->a[1] = in.a;
	v->ver[1] = in.own ? UINT64_MAX : v->ver[0];
	if (S_ISLNK(in.a.mode)) {
		char target[4097];
		ssize_t n = cdp_overlay_readlink(d->ovl, id, target, sizeof(target));

		if (n < 0) {
			cdp_ovl_ino_release(&in);
			return (int)n;
		}
		free(v->target[1]);
		v->target[1] = strdup(target);
		if (!v->target[1]) {
			cdp_ovl_ino_release(&in);
			return -ENOMEM;
		}
	}
	cdp_ovl_ino_release(&in);
	return 0;
}

static int ovl_entry(void *arg, const char *name, uint64_t id, uint32_t type)
{
	struct ovl_fill *f = arg;
	struct side *sd = &f->d->side[1];
	struct ent *e;
	size_t first;

	e = cdp_grow(sd->v, &sd->cap, sd->n + 1, sizeof(*sd->v));
	if (!e)
		return -ENOMEM;
	sd->v = e;
	if (!cdp_fidmap_get(&sd->first, f->dir, &first) &&
	    cdp_fidmap_put(&sd->first, f->dir, sd->n) < 0)
		return -ENOMEM;
	sd->v[sd->n] = (struct ent){ f->dir, id, type & S_IFMT, strdup(name) };
	if (!sd->v[sd->n].name)
		return -ENOMEM;
	sd->n++;
	return ovl_fill_ino(f->d, id);
}

/* Tree 1 below dir from the overlay: a directory's entries together (the
 * walk lists one directory, then descends into its subdirectories). */
static int ovl_fill_dir(struct diff *d, uint64_t dir, int depth)
{
	struct ovl_fill f = { d, dir, 0 };
	size_t first, n, i;
	int ret;

	if (depth > 4096)
		return -ELOOP;
	ret = cdp_overlay_readdir(d->ovl, dir, ovl_entry, &f);
	if (ret < 0)
		return ret;
	children(d, 1, dir, &first, &n);
	for (i = first; i < first + n; i++)
		if (d->side[1].v[i].type == S_IFDIR) {
			ret = ovl_fill_dir(d, d->side[1].v[i].child, depth + 1);
			if (ret < 0)
				return ret;
		}
	return 0;
}

/* ------------------------------------------------------------ the API */

/* Scans, walks and reports: the common part of both comparisons. */
static int diff_run(struct diff *d, struct cdp_view *va, uint64_t fa, uint64_t fb,
		    const char *dir, cdp_change_fn fn, void *arg)
{
	uint8_t prefix[4];
	uint64_t seqs[2] = { d->side[0].seq, d->side[1].seq };
	size_t i;
	int ret;

	put_u32be(prefix, d->host);
	ret = cdp_scan_versions(d->s, CF_DIRENT, prefix, sizeof(prefix), seqs, ent_cb, d);
	if (ret == 0)
		ret = cdp_scan_versions(d->s, CF_INODE, prefix, sizeof(prefix), seqs, ino_cb, d);
	if (ret == 0 && d->ovl) {
		ret = ovl_fill_ino(d, fb);
		if (ret == 0)
			ret = ovl_fill_dir(d, fb, 0);
	}
	if (ret == 0) {
		if (fa && fb) {
			ret = emit_compare(d, dir, S_IFDIR, fa, fb);
			if (ret == 0)
				ret = walk(d, dir, fa, fb, 0);
		} else if (fa) {
			ret = walk(d, dir, fa, 0, 0);
		} else {
			ret = walk(d, dir, 0, fb, 0);
		}
	}
	if (ret == 0)
		ret = pair_renames(d);
	if (ret == 0) {
		if (d->nout)
			qsort(d->out, d->nout, sizeof(*d->out), out_cmp);
		for (i = 0; i < d->nout && ret == 0; i++) {
			d->out[i].c.path = d->out[i].path;
			d->out[i].c.old_path = d->out[i].old_path;
			ret = fn(arg, &d->out[i].c);
		}
	}
	names_release(d);
	diff_release(d);
	(void)va;
	return ret;
}

int cdp_overlay_diff(struct cdp_overlay *o, const char *dir, cdp_change_fn fn, void *arg)
{
	struct diff d;

	if (!dir || dir[0] != '/')
		return -EINVAL;
	memset(&d, 0, sizeof(d));
	d.s = cdp_view_store(o->base);
	d.ovl = o;
	d.scanned = 1;
	d.host = cdp_view_host_id(o->base);
	d.bs = o->bs;
	d.side[0].seq = d.side[1].seq = cdp_view_seq(o->base);
	return diff_run(&d, o->base, o->root_fid, o->root_fid, dir, fn, arg);
}

int cdp_diff(struct cdp_view *va, struct cdp_view *vb, const char *dir, cdp_change_fn fn,
	     void *arg)
{
	struct diff d;
	uint64_t fa = 0, fb = 0;
	int ret;

	if (cdp_view_store(va) != cdp_view_store(vb) ||
	    cdp_view_host_id(va) != cdp_view_host_id(vb) || !dir || dir[0] != '/')
		return -EINVAL;
	memset(&d, 0, sizeof(d));
	d.s = cdp_view_store(va);
	d.scanned = 2;
	d.host = cdp_view_host_id(va);
	d.bs = cdp_store_block_size(d.s);
	d.side[0].seq = cdp_view_seq(va);
	d.side[1].seq = cdp_view_seq(vb);
	ret = resolve_dir(va, dir, &fa);
	if (ret == 0)
		ret = resolve_dir(vb, dir, &fb);
	if (ret == 0 && !fa && !fb)
		ret = -ENOENT;
	if (ret < 0)
		return ret;
	return diff_run(&d, va, fa, fb, dir, fn, arg);
}
