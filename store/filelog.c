/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * filelog.c - every version of one file (cdp_file_log, query.h).  The
 * store does not record what kind of operation made a version; it is
 * derived from what the op (one seq) left in the index for the file:
 *   - its attribute record against the one before: mode bits (chmod),
 *     uid/gid (chown), a lower size (truncate), a higher size with no data
 *     block (extend), mtime moved with no block and no size change
 *     (utimens);
 *   - its block versions at that seq: data blocks (write; the count is
 *     "blocks changed"), only zero blocks (truncate: cut, punched, O_TRUNC);
 *     a size lowered into a block rewrites that one block (its tail made
 *     zeros): that is the truncate, not a write;
 *   - its xattr versions at that seq (xattr: setxattr, removexattr, ACLs);
 *   - the directory entries that gained or lost the file at that seq: a
 *     name lost and one gained is a rename (from, to), one gained a link
 *     (create for the first version), one lost an unlink, the last one
 *     lost a delete.
 * A version where none of these shows (the attribute record again, with
 * only ctime or atime moved) is reported with what 0.
 *
 * The file is found by its path as the index held it at any seq: one pass
 * over the host's directory entries keeps every version of every entry
 * (cdp_scan_history), from which the path resolves at every seq, and the
 * names of the file are read at each seq.  The instant of each version
 * comes from the time column family, walked forward from the previous
 * version (a few steps when the file's ops are close), else found by a
 * doubling then halving search on the instant.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "query.h"
#include "store_int.h"

/* One version of one directory entry: valid in [seq, until). */
struct dver {
	uint64_t parent;
	const char *name;     /* shared by the group's versions (names[]) */
	uint64_t seq, until;
	uint64_t child;       /* 0: removed */
	uint32_t type;
};

struct events {
	uint64_t seq;
	unsigned what;
	uint64_t blocks;
	int data;             /* a data block among them */
	uint64_t data_first, data_last;   /* first and last data block */
	int has_attr, tomb;
	struct cdp_attr a;
};

struct flog {
	struct cdp_store *s;
	uint32_t host;
	struct dver *d;
	size_t nd, d_cap;
	char **names;
	size_t nnames, names_cap;
	struct cdp_fidmap dir_first;   /* dir fid -> first dver naming it (dirs_by_child) */
	size_t *by_child;              /* dver indexes of directories, by child */
	size_t nby_child;
	struct events *ev;
	size_t nev, ev_cap;
	struct cdp_fidmap ev_at;       /* seq -> index in ev (seqs fit: never 0) */
	uint64_t fid;
	size_t *mine;                  /* dver indexes that name the file */
	size_t nmine;
	/* the time walk */
	rocksdb_iterator_t *tit;
};

static int dver_cb(void *arg, const uint8_t *gkey, size_t glen, uint64_t seq, const char *val,
		   size_t vlen)
{
	struct flog *f = arg;
	struct dver *d;
	uint64_t parent, child = 0;
	uint32_t type = 0;
	int same;

	if (glen < 14 || gkey[glen - 1] != 0 || vlen < 1)
		return -CDP_ECORRUPT;
	parent = get_u64be(gkey + 4);
	if (val[0] != VAL_TOMBSTONE && cdp_dirent_value_decode(val, vlen, &child, &type) < 0)
		return -CDP_ECORRUPT;
	same = f->nd && f->d[f->nd - 1].parent == parent &&
	       strlen(f->d[f->nd - 1].name) == glen - 13 &&
	       memcmp(f->d[f->nd - 1].name, gkey + 12, glen - 13) == 0;
	if (!same) {
		char **nn = cdp_grow(f->names, &f->names_cap, f->nnames + 1, sizeof(*f->names));

		if (!nn)
			return -ENOMEM;
		f->names = nn;
		f->names[f->nnames] = strndup((const char *)gkey + 12, glen - 13);
		if (!f->names[f->nnames])
			return -ENOMEM;
		f->nnames++;
	}
	d = cdp_grow(f->d, &f->d_cap, f->nd + 1, sizeof(*f->d));
	if (!d)
		return -ENOMEM;
	f->d = d;
	/* versions come newest first: this one is valid until the one before */
	f->d[f->nd] = (struct dver){ parent, f->names[f->nnames - 1], seq,
				     same ? f->d[f->nd - 1].seq : UINT64_MAX, child, type };
	f->nd++;
	return 0;
}

static int by_child_cmp(const void *x, const void *y, void *arg)
{
	const struct flog *f = arg;
	const struct dver *a = &f->d[*(const size_t *)x], *b = &f->d[*(const size_t *)y];

	return a->child < b->child ? -1 : a->child > b->child;
}

/* Indexes the directory entries that name directories, by child. */
static int index_dirs(struct flog *f)
{
	size_t i, n = 0;

	f->by_child = malloc((f->nd + 1) * sizeof(*f->by_child));
	if (!f->by_child)
		return -ENOMEM;
	for (i = 0; i < f->nd; i++)
		if (f->d[i].child && f->d[i].type == S_IFDIR)
			f->by_child[n++] = i;
	f->nby_child = n;
	qsort_r(f->by_child, n, sizeof(*f->by_child), by_child_cmp, f);
	for (i = n; i-- > 0;)
		if (cdp_fidmap_put(&f->dir_first, f->d[f->by_child[i]].child, i) < 0)
			return -ENOMEM;
	return 0;
}

/* The path of directory dir at seq into buf (size bytes): 0, -ENOENT when
 * it had no name then, -ENAMETOOLONG. */
static int dir_path(struct flog *f, uint64_t dir, uint64_t seq, char *buf, size_t size,
		    int depth)
{
	size_t i, used;
	int ret;

	if (dir == CDP_ROOT_FID) {
		buf[0] = 0;
		return 0;
	}
	if (depth > 4096 || !cdp_fidmap_get(&f->dir_first, dir, &i))
		return -ENOENT;
	for (; i < f->nby_child && f->d[f->by_child[i]].child == dir; i++) {
		const struct dver *d = &f->d[f->by_child[i]];

		if (d->seq > seq || d->until <= seq)
			continue;
		ret = dir_path(f, d->parent, seq, buf, size, depth + 1);
		if (ret < 0)
			return ret;
		used = strlen(buf);
		if (used + 1 + strlen(d->name) + 1 > size)
			return -ENAMETOOLONG;
		buf[used] = '/';
		strcpy(buf + used + 1, d->name);
		return 0;
	}
	/* no name then: a root directory is given its place in the host's
	 * tree when its baseline completes, after the baseline's first ops;
	 * the name it got next is its name */
	if (!cdp_fidmap_get(&f->dir_first, dir, &i))
		return -ENOENT;
	for (; i < f->nby_child && f->d[f->by_child[i]].child == dir; i++) {
		const struct dver *d = &f->d[f->by_child[i]];
		size_t j, best = i;

		if (d->seq <= seq)
			continue;
		for (j = i; j < f->nby_child && f->d[f->by_child[j]].child == dir; j++)
			if (f->d[f->by_child[j]].seq > seq &&
			    f->d[f->by_child[j]].seq < f->d[f->by_child[best]].seq)
				best = j;
		d = &f->d[f->by_child[best]];
		ret = dir_path(f, d->parent, d->seq, buf, size, depth + 1);
		if (ret < 0)
			return ret;
		used = strlen(buf);
		if (used + 1 + strlen(d->name) + 1 > size)
			return -ENAMETOOLONG;
		buf[used] = '/';
		strcpy(buf + used + 1, d->name);
		return 0;
	}
	return -ENOENT;
}

static int entry_path(struct flog *f, const struct dver *d, uint64_t seq, char **out)
{
	char buf[8192];
	int ret = dir_path(f, d->parent, seq, buf, sizeof(buf), 0);
	size_t n;

	if (ret == -ENOENT) {
		/* its directory had no name then (a tree being removed): say so */
		snprintf(buf, sizeof(buf), "(directory %llu)", (unsigned long long)d->parent);
		ret = 0;
	}
	if (ret < 0)
		return ret;
	n = strlen(buf);
	if (n + 1 + strlen(d->name) + 1 > sizeof(buf))
		return -ENAMETOOLONG;
	buf[n] = '/';
	strcpy(buf + n + 1, d->name);
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

/* The versions of (parent, name): [*first, *first + *n), newest first. */
static void group_of(struct flog *f, uint64_t parent, const char *name, size_t *first,
		     size_t *n)
{
	size_t lo = 0, hi = f->nd, i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct dver *d = &f->d[mid];
		int c = d->parent < parent ? -1 : d->parent > parent ? 1 : strcmp(d->name, name);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	for (i = lo; i < f->nd && f->d[i].parent == parent && strcmp(f->d[i].name, name) == 0; i++)
		;
	*n = i - lo;
}

/* A file at a path during [from, until). */
struct holder {
	uint64_t fid;
	uint32_t type;
	uint64_t from, until;
};

/* The files that were at path, each with when; *out heap. */
static int resolve_history(struct flog *f, const char *path, struct holder **out, size_t *nout)
{
	struct holder *cur, *next = NULL;
	size_t ncur = 1, nnext = 0, next_cap = 0, i, j, first, n;
	char name[CDP_NAME_MAX + 1];
	const char *p = path, *e;

	cur = malloc(sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	cur[0] = (struct holder){ CDP_ROOT_FID, S_IFDIR, 0, UINT64_MAX };
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		if (!e)
			e = p + strlen(p);
		if ((size_t)(e - p) > CDP_NAME_MAX) {
			free(cur);
			return -ENAMETOOLONG;
		}
		memcpy(name, p, (size_t)(e - p));
		name[e - p] = 0;
		p = e;
		nnext = 0;
		for (i = 0; i < ncur; i++) {
			if (cur[i].type != S_IFDIR)
				continue;
			group_of(f, cur[i].fid, name, &first, &n);
			for (j = first; j < first + n; j++) {
				const struct dver *d = &f->d[j];
				uint64_t from = d->seq > cur[i].from ? d->seq : cur[i].from;
				uint64_t until = d->until < cur[i].until ? d->until : cur[i].until;
				struct holder *h;

				if (!d->child || from >= until)
					continue;
				h = cdp_grow(next, &next_cap, nnext + 1, sizeof(*next));
				if (!h) {
					free(cur);
					free(next);
					return -ENOMEM;
				}
				next = h;
				next[nnext++] = (struct holder){ d->child, d->type, from, until };
			}
		}
		free(cur);
		cur = next;
		ncur = nnext;
		next = NULL;
		next_cap = 0;
		if (!ncur)
			break;
	}
	*out = cur;
	*nout = ncur;
	return 0;
}

/* ------------------------------------------------------------ events */

static struct events *event_at(struct flog *f, uint64_t seq)
{
	struct events *e;
	size_t i;

	if (cdp_fidmap_get(&f->ev_at, seq, &i))
		return &f->ev[i];
	e = cdp_grow(f->ev, &f->ev_cap, f->nev + 1, sizeof(*f->ev));
	if (!e)
		return NULL;
	f->ev = e;
	if (cdp_fidmap_put(&f->ev_at, seq, f->nev) < 0)
		return NULL;
	e = &f->ev[f->nev++];
	memset(e, 0, sizeof(*e));
	e->seq = seq;
	return e;
}

static int inode_hist_cb(void *arg, const uint8_t *gkey, size_t glen, uint64_t seq,
			 const char *val, size_t vlen)
{
	struct flog *f = arg;
	struct events *e = event_at(f, seq);

	if (!e)
		return -ENOMEM;
	if (vlen >= 1 && val[0] == VAL_TOMBSTONE) {
		e->tomb = 1;
		return 0;
	}
	e->has_attr = 1;
	return cdp_attr_decode(val, vlen, &e->a, NULL);
}

static int block_hist_cb(void *arg, const uint8_t *gkey, size_t glen, uint64_t seq,
			 const char *val, size_t vlen)
{
	struct flog *f = arg;
	struct events *e = event_at(f, seq);
	int ret;

	if (!e)
		return -ENOMEM;
	ret = cdp_block_value_decode(val, vlen, NULL, NULL);
	if (ret < 0)
		return ret;
	e->blocks++;
	if (ret != BLOCK_VALUE_ZERO) {
		uint64_t b = get_u64be(gkey + 12);

		if (!e->data || b < e->data_first)
			e->data_first = b;
		if (!e->data || b > e->data_last)
			e->data_last = b;
		e->data = 1;
	}
	return 0;
}

static int xattr_hist_cb(void *arg, const uint8_t *gkey, size_t glen, uint64_t seq,
			 const char *val, size_t vlen)
{
	struct flog *f = arg;
	struct events *e = event_at(f, seq);

	if (!e)
		return -ENOMEM;
	e->what |= CDP_VER_XATTR;
	return 0;
}

static int ev_cmp(const void *x, const void *y)
{
	const struct events *a = x, *b = y;

	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* ------------------------------------------------------------- time */

/* The seq of the time entry under it when it is one of f's host, else
 * UINT64_MAX (past the end, another host, a key of another shape). */
static uint64_t entry_seq(const struct flog *f, rocksdb_iterator_t *it)
{
	const char *key;
	size_t klen;

	if (!rocksdb_iter_valid(it))
		return UINT64_MAX;
	key = rocksdb_iter_key(it, &klen);
	if (klen != 20 || get_u32be((const uint8_t *)key) != f->host)
		return UINT64_MAX;
	return get_u64be((const uint8_t *)key + 12);
}

/* Steps at most max time entries from f->tit on, looking for seq: 1 and
 * *ts when found, 0 once past it (or after max). */
static int walk_to_seq(struct flog *f, uint64_t seq, int max, int64_t *ts)
{
	rocksdb_iterator_t *it = f->tit;
	const char *key;
	uint64_t got;
	size_t klen;
	int i;

	for (i = 0; i < max; i++, rocksdb_iter_next(it)) {
		got = entry_seq(f, it);
		if (got == seq) {
			key = rocksdb_iter_key(it, &klen);
			*ts = (int64_t)get_u64be((const uint8_t *)key + 4);
			return 1;
		}
		if (got > seq)
			return 0;
	}
	return 0;
}

/* The instant of op seq: forward from the iterator's place for a few
 * steps, else a search on the instant from lo_ts. */
static int seq_ts(struct flog *f, uint64_t seq, int64_t lo_ts, int64_t *ts)
{
	rocksdb_iterator_t *it = f->tit;
	struct cdp_key k;
	int64_t lo = lo_ts, hi, step = 1000000;   /* 1 ms */
	int i;

	if (walk_to_seq(f, seq, 16, ts))
		return 0;
	/* the first instant whose first op is past seq: doubling, then halving */
	for (;;) {
		hi = lo + step;
		if (hi < lo)   /* overflow */
			hi = INT64_MAX;
		cdp_key_time(&k, f->host, hi, 0);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (entry_seq(f, it) > seq || hi == INT64_MAX)
			break;
		lo = hi;
		step *= 2;
	}
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		cdp_key_time(&k, f->host, mid, 0);
		rocksdb_iter_seek(it, (const char *)k.b, k.len);
		if (entry_seq(f, it) <= seq)
			lo = mid;
		else
			hi = mid;
	}
	cdp_key_time(&k, f->host, lo, 0);
	rocksdb_iter_seek(it, (const char *)k.b, k.len);
	if (walk_to_seq(f, seq, 1 << 20, ts))
		return 0;
	i = cdp_rocks_iter_status(it, "column family 'time' of '%s', host %u: instant of seq "
				  "%llu", f->s->path, f->host, (unsigned long long)seq);
	if (i < 0)
		return i;
	cdp_log(LOG_ERR, "no instant for seq %llu of host %u in the time index of '%s'",
		(unsigned long long)seq, f->host, f->s->path);
	return -EIO;
}

int cdp_host_seq_at(struct cdp_store *s, const char *host, int64_t ts_ns, uint64_t *seq,
		    int64_t *op_ts_ns)
{
	rocksdb_iterator_t *it;
	struct cdp_key k;
	const char *key;
	size_t klen;
	uint32_t id;
	int ret = cdp_store_refresh(s);

	if (ret == 0)
		ret = cdp_store_host_lookup(s, host, &id);
	if (ret < 0)
		return ret;
	*seq = 0;
	*op_ts_ns = 0;
	cdp_key_time(&k, id, ts_ns == CDP_TS_LATEST ? INT64_MAX : ts_ns, UINT64_MAX);
	it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_TIME]);
	rocksdb_iter_seek_for_prev(it, (const char *)k.b, k.len);
	if (rocksdb_iter_valid(it)) {
		key = rocksdb_iter_key(it, &klen);
		if (klen == 20 && memcmp(key, k.b, 4) == 0) {
			*op_ts_ns = (int64_t)get_u64be((const uint8_t *)key + 4);
			*seq = get_u64be((const uint8_t *)key + 12);
		}
	}
	ret = cdp_rocks_iter_status(it, "column family 'time' of '%s', host '%s'", s->path, host);
	rocksdb_iter_destroy(it);
	return ret;
}

/* ------------------------------------------------------------ roots */

/* The instants when a root's ops were its capture's own walk: up to its
 * first baseline, and each resync (a gap's end closes one). */
struct root_walks {
	char *path;
	struct cdp_gap *w;    /* (from, to] */
	size_t n;
};

struct roots {
	struct root_walks *v;
	size_t n, cap;
};

static int root_cb(void *arg, struct root_rec *r)
{
	struct roots *rs = arg;
	struct root_walks *v = cdp_grow(rs->v, &rs->cap, rs->n + 1, sizeof(*rs->v));
	size_t i;

	if (!v)
		return -ENOMEM;
	rs->v = v;
	v = &rs->v[rs->n];
	v->path = strdup(r->path ? r->path : "");
	v->w = malloc((r->ngaps + 2) * sizeof(*v->w));
	if (!v->path || !v->w) {
		free(v->path);
		free(v->w);
		return -ENOMEM;
	}
	rs->n++;
	v->n = 0;
	v->w[v->n++] = (struct cdp_gap){ INT64_MIN, r->baseline_ts ? r->baseline_ts : INT64_MAX };
	for (i = 0; i < r->ngaps; i++)
		v->w[v->n++] = r->gaps[i];
	if (r->gap_from)
		v->w[v->n++] = (struct cdp_gap){ r->gap_from, INT64_MAX };
	return 0;
}

static void roots_release(struct roots *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		free(rs->v[i].path);
		free(rs->v[i].w);
	}
	free(rs->v);
}

/* Was the op at ts on path a capture walk's (baseline, resync)? */
static int by_walk(const struct roots *rs, const char *path, int64_t ts)
{
	size_t i, j, n;

	for (i = 0; path && i < rs->n; i++) {
		n = strlen(rs->v[i].path);
		if (strncmp(path, rs->v[i].path, n) != 0 || (path[n] && path[n] != '/'))
			continue;
		for (j = 0; j < rs->v[i].n; j++)
			if (ts > rs->v[i].w[j].from_ts_ns && ts <= rs->v[i].w[j].to_ts_ns)
				return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ the log */

/* The dirent versions that gained (child == fid) or lost the file. */
static int name_events(struct flog *f)
{
	size_t i;

	f->mine = malloc((f->nd + 1) * sizeof(*f->mine));
	if (!f->mine)
		return -ENOMEM;
	for (i = 0; i < f->nd; i++) {
		const struct dver *d = &f->d[i];

		if (d->child != f->fid)
			continue;
		f->mine[f->nmine++] = i;
		if (!event_at(f, d->seq) || (d->until != UINT64_MAX && !event_at(f, d->until)))
			return -ENOMEM;
	}
	return 0;
}

/* Does dver d name the file at seq? */
static int names_at(const struct dver *d, uint64_t fid, uint64_t seq)
{
	return d->child == fid && d->seq <= seq && seq < d->until;
}

static void free_strs(char **v, size_t n)
{
	while (n-- > 0)
		free(v[n]);
}

static int report(struct flog *f, const struct roots *rs, uint64_t since, uint64_t until,
		  cdp_version_fn fn, void *arg)
{
	struct cdp_attr prev = { 0 };
	uint64_t bs = cdp_store_block_size(f->s);
	int have_prev = 0, ret = 0;
	int64_t ts = 0;
	size_t i, j;

	qsort(f->ev, f->nev, sizeof(*f->ev), ev_cmp);
	f->tit = rocksdb_create_iterator_cf(f->s->db, f->s->ropts, f->s->cf[CF_TIME]);
	for (i = 0; i < f->nev && ret == 0; i++) {
		struct events *e = &f->ev[i];
		struct cdp_file_version v;
		char *gained[2] = { NULL, NULL }, *lost[2] = { NULL, NULL }, *any = NULL;
		size_t ng = 0, nl = 0, live = 0;

		memset(&v, 0, sizeof(v));
		v.seq = e->seq;
		v.what = e->what;
		v.blocks_changed = e->blocks;
		for (j = 0; j < f->nmine && ret == 0; j++) {
			const struct dver *d = &f->d[f->mine[j]];

			if (d->seq == e->seq && ng < 2)
				ret = entry_path(f, d, e->seq, &gained[ng++]);
			else if (d->until == e->seq && nl < 2)
				ret = entry_path(f, d, e->seq - 1, &lost[nl++]);
			if (ret == 0 && names_at(d, f->fid, e->seq)) {
				live++;
				if (!any)
					ret = entry_path(f, d, e->seq, &any);
			}
		}
		if (ret < 0)
			goto next;
		if (e->has_attr) {
			if (!have_prev) {
				v.what |= CDP_VER_CREATE;
			} else {
				if ((e->a.mode & 07777) != (prev.mode & 07777))
					v.what |= CDP_VER_CHMOD;
				if (e->a.uid != prev.uid || e->a.gid != prev.gid)
					v.what |= CDP_VER_CHOWN;
				if (e->a.size < prev.size)
					v.what |= CDP_VER_TRUNCATE;
				if (e->a.size > prev.size && !e->data)
					v.what |= CDP_VER_EXTEND;
				if (e->a.mtime_ns != prev.mtime_ns && !e->blocks &&
				    e->a.size == prev.size)
					v.what |= CDP_VER_UTIMENS;
			}
			prev = e->a;
			have_prev = 1;
		}
		/* a truncate into a block rewrites that block's tail as zeros:
		 * its one data block is no write */
		if (e->data && !(v.what & CDP_VER_TRUNCATE && e->data_first == e->data_last &&
				 e->data_first == prev.size / bs))
			v.what |= CDP_VER_WRITE;
		else if (e->blocks)
			v.what |= CDP_VER_TRUNCATE;
		if (ng && nl) {
			v.what |= CDP_VER_RENAME;
			v.from = lost[0];
			v.to = gained[0];
		} else if (ng && !(v.what & CDP_VER_CREATE)) {
			v.what |= CDP_VER_LINK;
			v.to = gained[0];
		} else if (nl) {
			v.what |= live ? CDP_VER_UNLINK : CDP_VER_DELETE;
			v.from = lost[0];
		}
		if (e->tomb)
			v.what |= CDP_VER_DELETE;
		v.size = v.what & CDP_VER_DELETE ? 0 : have_prev ? prev.size : 0;
		v.path = any ? any : v.from ? v.from : v.to;
		if (e->seq < since || e->seq > until)
			goto next;
		ret = seq_ts(f, e->seq, ts, &ts);
		if (ret == 0) {
			v.ts_ns = ts;
			/* a walk records what it finds: no kind of change */
			if (by_walk(rs, v.path, ts))
				v.what = CDP_VER_BASELINE | (v.what & CDP_VER_DELETE);
			ret = fn(arg, &v);
		}
next:
		free_strs(gained, ng);
		free_strs(lost, nl);
		free(any);
	}
	rocksdb_iter_destroy(f->tit);
	return ret;
}

int cdp_file_log(struct cdp_store *s, const char *host, const char *path, uint64_t since_seq,
		 uint64_t until_seq, uint64_t *fid, cdp_version_fn fn, void *arg)
{
	struct flog f;
	struct cdp_view *now = NULL;
	struct roots rs = { 0 };
	struct holder *h = NULL;
	uint8_t prefix[12];
	size_t nh = 0, i, best = SIZE_MAX;
	int ret;

	if (!path || path[0] != '/')
		return -EINVAL;
	memset(&f, 0, sizeof(f));
	f.s = s;
	/* a view of now waits until every op that returned before it is in
	 * the index (complete_through), as a mount would */
	ret = cdp_view_open(s, host, CDP_TS_LATEST, &now);
	cdp_view_free(now);
	if (ret == -CDP_EBEFORE)
		ret = 0;
	if (ret == 0)
		ret = cdp_store_host_lookup(s, host, &f.host);
	put_u32be(prefix, f.host);
	if (ret == 0)
		ret = cdp_scan_history(s, CF_DIRENT, prefix, 4, dver_cb, &f);
	if (ret == 0)
		ret = index_dirs(&f);
	if (ret == 0)
		ret = resolve_history(&f, path, &h, &nh);
	if (ret < 0)
		goto out;
	/* the file there at until_seq, else the last one there before it */
	for (i = 0; i < nh; i++) {
		if (h[i].from > until_seq)
			continue;
		if (best == SIZE_MAX || h[i].from > h[best].from)
			best = i;
	}
	if (best == SIZE_MAX) {
		ret = strcmp(path, "/") == 0 ? -EISDIR : -ENOENT;
		goto out;
	}
	f.fid = h[best].fid;
	*fid = f.fid;
	put_u64be(prefix + 4, f.fid);
	ret = name_events(&f);
	if (ret == 0)
		ret = cdp_scan_history(s, CF_INODE, prefix, 12, inode_hist_cb, &f);
	if (ret == 0)
		ret = cdp_scan_history(s, CF_BLOCK, prefix, 12, block_hist_cb, &f);
	if (ret == 0)
		ret = cdp_scan_history(s, CF_XATTR, prefix, 12, xattr_hist_cb, &f);
	if (ret == 0)
		ret = cdp_store_for_each_root(s, f.host, root_cb, &rs);
	if (ret == 0)
		ret = report(&f, &rs, since_seq, until_seq, fn, arg);
out:
	roots_release(&rs);
	free(h);
	for (i = 0; i < f.nnames; i++)
		free(f.names[i]);
	free(f.names);
	free(f.d);
	free(f.by_child);
	free(f.mine);
	free(f.ev);
	cdp_fidmap_release(&f.dir_first);
	cdp_fidmap_release(&f.ev_at);
	return ret;
}

int cdp_fid_paths(struct cdp_store *s, const char *host, uint64_t seq, const uint64_t *fids,
		  size_t n, char **paths)
{
	struct flog f;
	uint8_t prefix[4];
	size_t i, j, best;
	int ret;

	memset(&f, 0, sizeof(f));
	f.s = s;
	for (i = 0; i < n; i++)
		paths[i] = NULL;
	ret = cdp_store_refresh(s);
	if (ret == 0)
		ret = cdp_store_host_lookup(s, host, &f.host);
	put_u32be(prefix, f.host);
	if (ret == 0)
		ret = cdp_scan_history(s, CF_DIRENT, prefix, 4, dver_cb, &f);
	if (ret == 0)
		ret = index_dirs(&f);
	for (i = 0; i < n && ret == 0; i++) {
		/* the name it had at seq, else the last one before */
		best = SIZE_MAX;
		for (j = 0; j < f.nd; j++) {
			const struct dver *d = &f.d[j];

			if (d->child != fids[i] || d->seq > seq)
				continue;
			if (best == SIZE_MAX || d->seq > f.d[best].seq)
				best = j;
		}
		if (best != SIZE_MAX)
			ret = entry_path(&f, &f.d[best], f.d[best].until <= seq ?
					 f.d[best].until - 1 : seq, &paths[i]);
	}
	for (i = 0; i < f.nnames; i++)
		free(f.names[i]);
	free(f.names);
	free(f.d);
	free(f.by_child);
	cdp_fidmap_release(&f.dir_first);
	if (ret < 0)
		for (i = 0; i < n; i++) {
			free(paths[i]);
			paths[i] = NULL;
		}
	return ret;
}
