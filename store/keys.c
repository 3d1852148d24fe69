/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * keys.c - encodings of the RocksDB index: keys (big-endian, every per-host
 * key led by the host id, versioned keys ending with the inverted seq so
 * that the newest version at or before S is the first key at or after
 * (prefix, ~S)) and the small values they map to.  docs/format.md has the
 * same layouts in tables.  Decoders check lengths and type bytes and return
 * CDP_ECORRUPT on anything unexpected: these bytes come from disk.
 */
#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

const char *const cdp_cf_names[CF_COUNT] = {
	"default", "chunk", "inode", "dirent", "block", "xattr", "time", "imap",
};

void cdp_key_inode(struct cdp_key *k, uint32_t host, uint64_t fid, uint64_t seq)
{
	put_u32be(k->b, host);
	put_u64be(k->b + 4, fid);
	put_u64be(k->b + 12, ~seq);
	k->len = 20;
}

static void key_named(struct cdp_key *k, uint32_t host, uint64_t id, const char *name,
		      size_t name_len, int with_sep, int with_seq, uint64_t seq)
{
	size_t n = 12;

	if (name_len > CDP_NAME_MAX)
		name_len = CDP_NAME_MAX;
	put_u32be(k->b, host);
	put_u64be(k->b + 4, id);
	memcpy(k->b + n, name, name_len);
	n += name_len;
	if (with_sep || with_seq)
		k->b[n++] = 0;
	if (with_seq) {
		put_u64be(k->b + n, ~seq);
		n += 8;
	}
	k->len = n;
}

void cdp_key_dirent(struct cdp_key *k, uint32_t host, uint64_t parent, const char *name,
		    size_t name_len, int with_sep, int with_seq, uint64_t seq)
{
	key_named(k, host, parent, name, name_len, with_sep, with_seq, seq);
}

void cdp_key_xattr(struct cdp_key *k, uint32_t host, uint64_t fid, const char *name,
		   size_t name_len, int with_sep, int with_seq, uint64_t seq)
{
	key_named(k, host, fid, name, name_len, with_sep, with_seq, seq);
}

void cdp_key_block(struct cdp_key *k, uint32_t host, uint64_t fid, uint64_t block, uint64_t seq)
{
	put_u32be(k->b, host);
	put_u64be(k->b + 4, fid);
	put_u64be(k->b + 12, block);
	put_u64be(k->b + 20, ~seq);
	k->len = 28;
}

void cdp_key_time(struct cdp_key *k, uint32_t host, int64_t ts_ns, uint64_t seq)
{
	put_u32be(k->b, host);
	put_u64be(k->b + 4, (uint64_t)ts_ns);
	put_u64be(k->b + 12, seq);
	k->len = 20;
}

void cdp_key_imap(struct cdp_key *k, uint32_t host, uint32_t root_id, uint64_t ino)
{
	put_u32be(k->b, host);
	put_u32be(k->b + 4, root_id);
	put_u64be(k->b + 8, ino);
	k->len = 16;
}

void cdp_key_meta(struct cdp_key *k, const char *name)
{
	size_t n = strlen(name);

	k->b[0] = 'M';
	memcpy(k->b + 1, name, n);
	k->len = n + 1;
}

void cdp_key_segment(struct cdp_key *k, uint32_t seg)
{
	k->b[0] = 'S';
	put_u32be(k->b + 1, seg);
	k->len = 5;
}

void cdp_key_host_name(struct cdp_key *k, const char *host)
{
	size_t n = strlen(host);

	if (n > CDP_NAME_MAX)
		n = CDP_NAME_MAX;
	k->b[0] = 'N';
	memcpy(k->b + 1, host, n);
	k->len = n + 1;
}

void cdp_key_host_meta(struct cdp_key *k, uint32_t host, char sub, int with_arg, uint32_t arg)
{
	k->b[0] = 'H';
	put_u32be(k->b + 1, host);
	k->b[5] = (uint8_t)sub;
	k->len = 6;
	if (with_arg) {
		put_u32be(k->b + 6, arg);
		k->len = 10;
	}
}

void cdp_attr_encode(uint8_t *out, const struct cdp_attr *a)
{
	out[0] = VAL_ATTR;
	put_u32be(out + 1, a->mode);
	put_u32be(out + 5, a->uid);
	put_u32be(out + 9, a->gid);
	put_u32be(out + 13, a->nlink);
	put_u64be(out + 17, a->size);
	put_u64be(out + 25, a->rdev);
	put_u64be(out + 33, (uint64_t)a->atime_ns);
	put_u64be(out + 41, (uint64_t)a->mtime_ns);
	put_u64be(out + 49, (uint64_t)a->ctime_ns);
	put_u64be(out + 57, a->blocks);
}

int cdp_attr_decode(const char *val, size_t len, struct cdp_attr *a, size_t *header_len)
{
	const uint8_t *p = (const uint8_t *)val;
	size_t need;

	if (len < 1)
		return -CDP_ECORRUPT;
	if (p[0] == VAL_ATTR)
		need = ATTR_VALUE_BYTES;
	else if (p[0] == VAL_ATTR_V1)
		need = ATTR_V1_VALUE_BYTES;
	else
		return -CDP_ECORRUPT;
	if (len < need)
		return -CDP_ECORRUPT;
	if (header_len)
		*header_len = need;
	a->blocks = p[0] == VAL_ATTR ? get_u64be(p + 57) : CDP_BLOCKS_UNKNOWN;
	a->mode = get_u32be(p + 1);
	a->uid = get_u32be(p + 5);
	a->gid = get_u32be(p + 9);
	a->nlink = get_u32be(p + 13);
	a->size = get_u64be(p + 17);
	a->rdev = get_u64be(p + 25);
	a->atime_ns = (int64_t)get_u64be(p + 33);
	a->mtime_ns = (int64_t)get_u64be(p + 41);
	a->ctime_ns = (int64_t)get_u64be(p + 49);
	return 0;
}

void cdp_chunkval_encode(uint8_t *out, const struct cdp_chunk_loc *loc)
{
	out[0] = VAL_CHUNK;
	put_u32be(out + 1, loc->segment);
	put_u64be(out + 5, loc->offset);
	put_u32be(out + 13, loc->stored_len);
	put_u32be(out + 17, loc->raw_len);
}

int cdp_chunkval_decode(const char *val, size_t len, struct cdp_chunk_loc *loc)
{
	const uint8_t *p = (const uint8_t *)val;

	if (len != CHUNKVAL_BYTES || p[0] != VAL_CHUNK)
		return -CDP_ECORRUPT;
	loc->segment = get_u32be(p + 1);
	loc->offset = get_u64be(p + 5);
	loc->stored_len = get_u32be(p + 13);
	loc->raw_len = get_u32be(p + 17);
	return 0;
}

void cdp_dirent_value_encode(uint8_t *out, uint64_t child, uint32_t type)
{
	out[0] = VAL_DIRENT;
	put_u64be(out + 1, child);
	put_u32be(out + 9, type);
}

int cdp_dirent_value_decode(const char *val, size_t len, uint64_t *child, uint32_t *type)
{
	const uint8_t *p = (const uint8_t *)val;

	if (len != DIRENT_VALUE_BYTES || p[0] != VAL_DIRENT)
		return -CDP_ECORRUPT;
	*child = get_u64be(p + 1);
	*type = get_u32be(p + 9);
	return 0;
}

void cdp_ovl_entry_value_encode(uint8_t *out, uint64_t child, uint32_t type)
{
	out[0] = 'E';
	put_u64be(out + 1, child);
	put_u32be(out + 9, type);
}

int cdp_ovl_entry_value_decode(const char *val, size_t len, uint64_t *child, uint32_t *type)
{
	const uint8_t *p = (const uint8_t *)val;

	if (len == OVL_ENTRY_VALUE_BYTES && p[0] == 'E') {
		*child = get_u64be(p + 1);
		*type = get_u32be(p + 9);
		return 0;
	}
	if (len >= OVL_WHITEOUT_VALUE_BYTES && p[0] == OVL_WHITEOUT_VALUE[0])
		return 1;
	return -CDP_ECORRUPT;
}

void cdp_blockref_encode(uint8_t *out, const uint8_t sha[CDP_HASH_BYTES], uint32_t raw_len)
{
	out[0] = VAL_CHUNKREF;
	memcpy(out + 1, sha, CDP_HASH_BYTES);
	put_u32be(out + 1 + CDP_HASH_BYTES, raw_len);
}

int cdp_block_value_decode(const char *val, size_t len, uint8_t sha[CDP_HASH_BYTES],
			   uint32_t *raw_len)
{
	const uint8_t *p = (const uint8_t *)val;

	if (len == ZERO_VALUE_BYTES && p[0] == VAL_ZERO)
		return BLOCK_VALUE_ZERO;
	if (len != BLOCKREF_VALUE_BYTES || p[0] != VAL_CHUNKREF)
		return -CDP_ECORRUPT;
	if (sha)
		memcpy(sha, p + 1, CDP_HASH_BYTES);
	if (raw_len)
		*raw_len = get_u32be(p + 1 + CDP_HASH_BYTES);
	return 0;
}

void cdp_xattr_value_encode(uint8_t *out, const void *data, size_t len)
{
	out[0] = VAL_XATTR;
	if (len)
		memcpy(out + XATTR_VALUE_HEADER_BYTES, data, len);
}

int cdp_xattr_value_decode(const char *val, size_t len, const char **data, size_t *data_len)
{
	if (len < XATTR_VALUE_HEADER_BYTES || val[0] != VAL_XATTR)
		return -CDP_ECORRUPT;
	*data = val + XATTR_VALUE_HEADER_BYTES;
	*data_len = len - XATTR_VALUE_HEADER_BYTES;
	return 0;
}

void cdp_imap_value_encode(uint8_t *out, uint64_t fid, const void *handle, size_t handle_len)
{
	out[0] = VAL_IMAP;
	put_u64be(out + 1, fid);
	if (handle_len)
		memcpy(out + IMAP_VALUE_HEADER_BYTES, handle, handle_len);
}

int cdp_imap_value_decode(const char *val, size_t len, uint64_t *fid, const char **handle,
			  size_t *handle_len)
{
	if (len < IMAP_VALUE_HEADER_BYTES || val[0] != VAL_IMAP)
		return -CDP_ECORRUPT;
	if (fid)
		*fid = get_u64be((const uint8_t *)val + 1);
	if (handle)
		*handle = val + IMAP_VALUE_HEADER_BYTES;
	if (handle_len)
		*handle_len = len - IMAP_VALUE_HEADER_BYTES;
	return 0;
}

/*
 * Root record: 'R', u32 root id, u64 fid, i64 baseline, u8 active, u32 pid,
 * i64 session start, i64 session end, i64 gap_from, u32 ngaps,
 * ngaps * (i64 from, i64 to), u16 path length, path bytes.
 */
#define ROOT_FIXED (1 + 4 + 8 + 8 + 1 + 4 + 8 + 8 + 8 + 4)

int cdp_root_rec_encode(const struct root_rec *r, uint8_t **out, size_t *len)
{
	size_t plen = strlen(r->path);
	size_t n = ROOT_FIXED + r->ngaps * 16 + 2 + plen;
	uint8_t *p = malloc(n), *q;
	size_t i;

	if (!p)
		return -ENOMEM;
	q = p;
	*q++ = VAL_ROOT;
	put_u32be(q, r->root_id); q += 4;
	put_u64be(q, r->fid); q += 8;
	put_u64be(q, (uint64_t)r->baseline_ts); q += 8;
	*q++ = (uint8_t)!!r->active;
	put_u32be(q, r->pid); q += 4;
	put_u64be(q, (uint64_t)r->session_start); q += 8;
	put_u64be(q, (uint64_t)r->session_end); q += 8;
	put_u64be(q, (uint64_t)r->gap_from); q += 8;
	put_u32be(q, (uint32_t)r->ngaps); q += 4;
	for (i = 0; i < r->ngaps; i++) {
		put_u64be(q, (uint64_t)r->gaps[i].from_ts_ns);
		put_u64be(q + 8, (uint64_t)r->gaps[i].to_ts_ns);
		q += 16;
	}
	q[0] = (uint8_t)(plen >> 8);
	q[1] = (uint8_t)plen;
	memcpy(q + 2, r->path, plen);
	*out = p;
	*len = n;
	return 0;
}

int cdp_root_rec_decode(const char *val, size_t len, struct root_rec *r)
{
	const uint8_t *q = (const uint8_t *)val;
	size_t i, plen;

	memset(r, 0, sizeof(*r));
	if (len < ROOT_FIXED + 2 || q[0] != VAL_ROOT)
		return -CDP_ECORRUPT;
	q++;
	r->root_id = get_u32be(q); q += 4;
	r->fid = get_u64be(q); q += 8;
	r->baseline_ts = (int64_t)get_u64be(q); q += 8;
	r->active = *q++ != 0;
	r->pid = get_u32be(q); q += 4;
	r->session_start = (int64_t)get_u64be(q); q += 8;
	r->session_end = (int64_t)get_u64be(q); q += 8;
	r->gap_from = (int64_t)get_u64be(q); q += 8;
	r->ngaps = get_u32be(q); q += 4;
	if (r->ngaps > (len - ROOT_FIXED - 2) / 16)
		return -CDP_ECORRUPT;
	plen = (size_t)q[r->ngaps * 16] << 8 | q[r->ngaps * 16 + 1];
	if (ROOT_FIXED + r->ngaps * 16 + 2 + plen != len ||
	    memchr(q + r->ngaps * 16 + 2, 0, plen))   /* a path holds no NUL */
		return -CDP_ECORRUPT;
	r->gaps = calloc(r->ngaps ? r->ngaps : 1, sizeof(*r->gaps));
	r->path = malloc(plen + 1);
	if (!r->gaps || !r->path) {
		cdp_root_rec_release(r);
		return -ENOMEM;
	}
	for (i = 0; i < r->ngaps; i++) {
		r->gaps[i].from_ts_ns = (int64_t)get_u64be(q);
		r->gaps[i].to_ts_ns = (int64_t)get_u64be(q + 8);
		q += 16;
	}
	memcpy(r->path, q + 2, plen);
	r->path[plen] = 0;
	return 0;
}

void cdp_root_rec_release(struct root_rec *r)
{
	free(r->gaps);
	free(r->path);
	r->gaps = NULL;
	r->path = NULL;
}
