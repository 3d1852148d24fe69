/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chunklog.c - the log: append-only segment files holding block
 * contents (chunk records, addressed by SHA-256 through the "chunk" column
 * family) and the index's writes (index records, store/indexlog.c).
 *
 * Format 2 (all integers big-endian; docs/format.md mirrors this):
 *
 *   segments/NNNNNNNN.seg   (8 decimal digits, the segment id, from 1)
 *     file header, 16 bytes:  "CDPSEG\0\0"  u32 format (2; 1 read)  u32 id
 *     then records, back to back; a chunk record:
 *       0  u32 magic "CDPC" (0x43445043)
 *       4  u8  format version (2; 1 read: the same layout)
 *       5  u8  flags (0x01: payload is zstd)
 *       6  u16 reserved, 0
 *       8  u32 raw length (the block size)
 *      12  u32 stored length (payload bytes)
 *      16  u8[32] SHA-256 of the raw (uncompressed) content
 *      48  u32 CRC-32C (Castagnoli) of bytes 0..47 and the payload
 *      52  payload
 *     or an index record ("CDPI": store_int.h, indexlog.c).
 *
 * Validity: a record is valid when magic, version, flags, lengths and CRC
 * agree.  A reader is always sent to a chunk by the index (segment,
 * offset, lengths, SHA): every read re-checks the record against the index
 * and the CRC; any mismatch is -EIO plus a log line naming the chunk.
 *
 * Scanning (cdp_chunklog_scan) reads the log in order, record by record,
 * and stops at the first record that is not whole and valid; what that
 * means (a torn tail to cut, or damage) indexlog.c decides.  A writer never
 * appends to a segment of an earlier session: its first record opens a new
 * segment.  Segments roll at 1 GiB.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>
#include <zstd.h>

#include "store_int.h"

#define MAX_STORED_BYTES (16u << 20)
#define FD_CACHE_MAX 1024
#define WBUF_BYTES (1u << 20)
/* pieces of one pwritev: headers and small records in wbuf, chunk
 * payloads where the caller holds them (below IOV_MAX) */
#define WIOV_MAX 512
/* the zeroed runway of the newest segment (see cdp_chunklog_runway) */
#define RUNWAY_STEP (1u << 20)
#define RUNWAY_LOW (256u << 10)
#define RUNWAY_SMALL_SYNC (128u << 10)

uint64_t cdp_segment_max_bytes = CDP_SEGMENT_MAX_BYTES;

struct seg_fd {
	uint32_t seg;
	int fd;
};

struct cdp_chunklog {
	char *dir;
	int writer;
	pthread_mutex_t fd_lock;
	struct seg_fd *fds;    /* protected by fd_lock; fds live until close */
	size_t nfds;
	/* writer state, used by the writer thread only */
	int wfd;
	uint32_t wseg;
	uint64_t wend;          /* end of what was appended (buffered included) */
	uint64_t written_end;   /* end of what reached the file */
	uint64_t synced_end;    /* end of what is durable */
	uint64_t zero_end;      /* the file's size: zeros from written_end to it */
	uint64_t last_sync_bytes;   /* what the last sync made durable */
	int no_runway;          /* the disk refused the zeros: not in this segment */
	/* records not yet written, from written_end: the pieces of wiov, in
	 * order; headers and small records are built in wbuf, chunk payloads
	 * stay in the caller's memory until the next flush */
	uint8_t *wbuf;
	size_t wbuf_len;
	struct iovec *wiov;
	int nwiov;
	size_t wiov_bytes;
	uint32_t next_seg;
	uint32_t sealed_seg;    /* rolled away from, not yet taken (0: none) */
	uint64_t sealed_end;
};

/* ------------------------------------------------------------ crc32c */

/* Slicing-by-8: eight tables, eight bytes per step (reflected 0x82F63B78). */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int have_sse42;   /* set once by crc_init */

static void crc_init(void)
{
	uint32_t i, j, c;

#if defined(__x86_64__)
	have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_table[j][i] = (crc_table[j - 1][i] >> 8) ^
				crc_table[0][crc_table[j - 1][i] & 0xff];
}

uint32_t cdp_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t lo, hi;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len >= 8) {
		lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			    (uint32_t)p[3] << 24);
		hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			(uint32_t)p[7] << 24;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
			crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
			crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
			crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
/* SSE4.2 has a CRC-32C instruction: eight bytes a cycle or so, against
 * about one for the tables; the chunk log checksums every byte it writes
 * and reads. */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc, word;

	while (len >= 8) {
		memcpy(&word, p, 8);
		c = __builtin_ia32_crc32di(c, word);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

uint32_t cdp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return have_sse42 ? crc32c_sse42(crc, buf, len) : cdp_crc32c_sw(crc, buf, len);
}
#else
uint32_t cdp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return cdp_crc32c_sw(crc, buf, len);
}
#endif

/* ------------------------------------------------------------ records */

void cdp_chunk_record_build(uint8_t *out, const uint8_t sha[CDP_HASH_BYTES], uint32_t raw_len,
			    const void *payload, uint32_t stored_len, int zstd)
{
	cdp_chunk_record_header(out, sha, raw_len, payload, stored_len, zstd);
	memcpy(out + REC_HEADER_BYTES, payload, stored_len);
}

void cdp_chunk_record_header(uint8_t *out, const uint8_t sha[CDP_HASH_BYTES], uint32_t raw_len,
			     const void *payload, uint32_t stored_len, int zstd)
{
	uint32_t crc;

	put_u32be(out, REC_MAGIC);
	out[4] = CDP_FORMAT_VERSION;   /* the layout is format 1's; 1 is still read */
	out[5] = zstd ? REC_FLAG_ZSTD : 0;
	out[6] = out[7] = 0;
	put_u32be(out + 8, raw_len);
	put_u32be(out + 12, stored_len);
	memcpy(out + 16, sha, CDP_HASH_BYTES);
	crc = cdp_crc32c(0, out, 48);
	crc = cdp_crc32c(crc, payload, stored_len);
	put_u32be(out + 48, crc);
}

/* Checks the header only (before the payload is read). */
static int record_header_check(const uint8_t *rec, uint32_t *raw_len, uint32_t *stored_len,
			       int *zstd)
{
	if (get_u32be(rec) != REC_MAGIC || (rec[4] != 1 && rec[4] != CDP_FORMAT_VERSION) ||
	    (rec[5] & ~REC_FLAG_ZSTD) || rec[6] || rec[7])
		return -CDP_ECORRUPT;
	*raw_len = get_u32be(rec + 8);
	*stored_len = get_u32be(rec + 12);
	*zstd = rec[5] & REC_FLAG_ZSTD;
	if (*stored_len > MAX_STORED_BYTES || *raw_len > MAX_STORED_BYTES ||
	    (!*zstd && *stored_len != *raw_len))
		return -CDP_ECORRUPT;
	return 0;
}

int cdp_chunk_record_check(const uint8_t *rec, size_t avail, uint32_t *raw_len,
			   uint32_t *stored_len, int *zstd, uint8_t sha[CDP_HASH_BYTES])
{
	uint32_t crc;

	if (avail < REC_HEADER_BYTES)
		return -CDP_ECORRUPT;
	if (record_header_check(rec, raw_len, stored_len, zstd) < 0)
		return -CDP_ECORRUPT;
	if (avail < (size_t)REC_HEADER_BYTES + *stored_len)
		return -CDP_ECORRUPT;
	crc = cdp_crc32c(0, rec, 48);
	crc = cdp_crc32c(crc, rec + REC_HEADER_BYTES, *stored_len);
	if (crc != get_u32be(rec + 48))
		return -CDP_ECORRUPT;
	if (sha)
		memcpy(sha, rec + 16, CDP_HASH_BYTES);
	return 0;
}

void cdp_index_record_header(uint8_t *out, uint64_t lsn, const void *payload, uint32_t len,
			     uint32_t count)
{
	uint32_t crc;

	put_u32be(out, IREC_MAGIC);
	out[4] = CDP_FORMAT_VERSION;
	out[5] = 0;
	out[6] = out[7] = 0;
	put_u64be(out + 8, lsn);
	put_u32be(out + 16, len);
	put_u32be(out + 20, count);
	crc = cdp_crc32c(0, out, 24);
	crc = cdp_crc32c(crc, payload, len);
	put_u32be(out + 24, crc);
}

/* Checks an index record's header only (before the payload is read). */
static int index_header_check(const uint8_t *rec, uint64_t *lsn, uint32_t *len, uint32_t *count)
{
	if (get_u32be(rec) != IREC_MAGIC || rec[4] != CDP_FORMAT_VERSION || rec[5] || rec[6] ||
	    rec[7])
		return -CDP_ECORRUPT;
	*lsn = get_u64be(rec + 8);
	*len = get_u32be(rec + 16);
	*count = get_u32be(rec + 20);
	if (*len > IREC_MAX_PAYLOAD || *lsn == 0)
		return -CDP_ECORRUPT;
	return 0;
}

int cdp_index_record_check(const uint8_t *rec, size_t avail, uint64_t *lsn, uint32_t *len,
			   uint32_t *count)
{
	uint32_t crc;

	if (avail < IREC_HEADER_BYTES || index_header_check(rec, lsn, len, count) < 0 ||
	    avail < (size_t)IREC_HEADER_BYTES + *len)
		return -CDP_ECORRUPT;
	crc = cdp_crc32c(0, rec, 24);
	crc = cdp_crc32c(crc, rec + IREC_HEADER_BYTES, *len);
	return crc == get_u32be(rec + 24) ? 0 : -CDP_ECORRUPT;
}

/* ---------------------------------------------------- zstd contexts */

static pthread_key_t cctx_key, dctx_key;
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;

static void cctx_free(void *p) { ZSTD_freeCCtx(p); }
static void dctx_free(void *p) { ZSTD_freeDCtx(p); }

static void zstd_keys_init(void)
{
	pthread_key_create(&cctx_key, cctx_free);
	pthread_key_create(&dctx_key, dctx_free);
}

/*
 * Whether a block looks incompressible, for much less than compressing it:
 * the order-0 entropy of 1 KiB sampled from it (four runs of 256 bytes
 * spread over the block).  Random, encrypted and already compressed data
 * measures about 7.8 bits a byte there, text, code and database pages far
 * less.  Above 7 bits (about 7.15 over the whole block: a sample of 1 KiB
 * reads low) entropy coding can save at most an eighth, which is not worth
 * zstd's time on the capture path (level 1 costs two to three times the
 * SHA-256 of the block) nor a decompression on every read, so the block is
 * stored raw.  A block whose bytes repeat at long range but look random
 * locally (the same random kilobyte eight times) is stored raw too: a lost
 * saving, never a wrong byte.
 *
 * H = log2(N) - sum(c log2 c) / N over the byte counts c of the N sampled
 * bytes, so H > 7 is sum(c log2 c) < N (log2 N - 7): integers, with the
 * c log2 c of every possible count in a table (fixed point, 1/256).
 */
#define PROBE_RUN 256
#define PROBE_RUNS 4
#define PROBE_BYTES (PROBE_RUN * PROBE_RUNS)
#define PROBE_MIN_BYTES 4096
#define PROBE_MAX_BITS 7

static uint32_t clog2c[PROBE_BYTES + 1];
static pthread_once_t clog2c_once = PTHREAD_ONCE_INIT;

static void clog2c_init(void)
{
	unsigned c;

	for (c = 2; c <= PROBE_BYTES; c++)
		clog2c[c] = (uint32_t)lround((double)c * log2((double)c) * 256.0);
}

int cdp_chunk_incompressible(const void *raw, size_t len)
{
	/* N (log2 N - 7) with N = 1024, times 256 */
	static const uint64_t limit = (uint64_t)PROBE_BYTES * (10 - PROBE_MAX_BITS) * 256;
	const uint8_t *p = raw;
	uint16_t count[256] = { 0 };
	uint64_t sum = 0;
	size_t i, r, step;

	if (len < PROBE_MIN_BYTES)
		return 0;
	pthread_once(&clog2c_once, clog2c_init);
	step = (len - PROBE_RUN) / (PROBE_RUNS - 1);
	for (r = 0; r < PROBE_RUNS; r++)
		for (i = 0; i < PROBE_RUN; i++)
			count[p[r * step + i]]++;
	for (i = 0; i < 256; i++)
		sum += clog2c[count[i]];
	return sum < limit;
}

ssize_t cdp_chunk_compress(const void *raw, size_t raw_len, void *out, size_t out_cap, int *zstd)
{
	ZSTD_CCtx *cctx;
	size_t n;

	if (cdp_chunk_incompressible(raw, raw_len)) {
		if (out_cap < raw_len)
			return -ENOBUFS;
		memcpy(out, raw, raw_len);
		*zstd = 0;
		return (ssize_t)raw_len;
	}

	pthread_once(&zstd_once, zstd_keys_init);
	cctx = pthread_getspecific(cctx_key);
	if (!cctx) {
		cctx = ZSTD_createCCtx();
		if (!cctx)
			return -ENOMEM;
		pthread_setspecific(cctx_key, cctx);
	}
	n = ZSTD_compressCCtx(cctx, out, out_cap, raw, raw_len, 1);
	if (ZSTD_isError(n) || n >= raw_len) {
		/* does not shrink: store raw */
		if (out_cap < raw_len)
			return -ENOBUFS;
		memcpy(out, raw, raw_len);
		*zstd = 0;
		return (ssize_t)raw_len;
	}
	*zstd = 1;
	return (ssize_t)n;
}

static int decompress(const void *in, size_t in_len, void *out, size_t out_len)
{
	ZSTD_DCtx *dctx;
	size_t n;

	pthread_once(&zstd_once, zstd_keys_init);
	dctx = pthread_getspecific(dctx_key);
	if (!dctx) {
		dctx = ZSTD_createDCtx();
		if (!dctx)
			return -ENOMEM;
		pthread_setspecific(dctx_key, dctx);
	}
	n = ZSTD_decompressDCtx(dctx, out, out_len, in, in_len);
	if (ZSTD_isError(n) || n != out_len)
		return -CDP_ECORRUPT;
	return 0;
}

/* ----------------------------------------------------------- segments */

static void seg_path(const struct cdp_chunklog *cl, uint32_t seg, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%08u.seg", cl->dir, seg);
}

static int pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = cdp_sys.pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		done += (size_t)n;
	}
	return 0;
}

/* Writes every piece of iov (which it consumes) at off. */
static int pwritev_full(int fd, struct iovec *iov, int n, off_t off)
{
	ssize_t got;

	while (n > 0) {
		got = cdp_sys.pwritev(fd, iov, n, off);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += got;
		while (n > 0 && (size_t)got >= iov->iov_len) {
			got -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + got;
			iov->iov_len -= (size_t)got;
		}
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = cdp_sys.pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int max_segment_id(const char *dir, uint32_t *max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned long v;
	char *end;

	*max = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		v = strtoul(de->d_name, &end, 10);
		if (end == de->d_name + 8 && strcmp(end, ".seg") == 0 && v > *max && v < UINT32_MAX)
			*max = (uint32_t)v;
	}
	closedir(d);
	return 0;
}

int cdp_chunklog_open(const char *segdir, int writer, struct cdp_chunklog **out)
{
	struct cdp_chunklog *cl = calloc(1, sizeof(*cl));
	uint32_t max;
	int ret;

	*out = NULL;
	if (!cl)
		return -ENOMEM;
	cl->dir = strdup(segdir);
	if (!cl->dir) {
		free(cl);
		return -ENOMEM;
	}
	pthread_mutex_init(&cl->fd_lock, NULL);
	cl->writer = writer;
	cl->wfd = -1;
	ret = max_segment_id(segdir, &max);
	if (ret < 0) {
		cdp_chunklog_close(cl);
		return ret;
	}
	cl->next_seg = max + 1;
	*out = cl;
	return 0;
}

uint32_t cdp_chunklog_last_segment(const struct cdp_chunklog *cl)
{
	return cl->next_seg - 1;
}

/* ----------------------------------------------------------- scanning */

#define SCAN_BYTES (8u << 20)

/* A window of one segment file read sequentially. */
struct scanbuf {
	uint8_t *b;
	size_t cap, len;
	uint64_t base;   /* file offset of b[0] */
};

/* Makes bytes [off, off + n) of the file (size fsize) readable at
 * sb->b + (off - sb->base); -ENODATA when the file ends before. */
static int sb_fill(int fd, struct scanbuf *sb, uint64_t off, size_t n, uint64_t fsize)
{
	size_t want;
	uint8_t *nb;
	int ret;

	if (off >= sb->base && off + n <= sb->base + sb->len)
		return 0;
	if (off + n > fsize)
		return -ENODATA;
	want = n > SCAN_BYTES ? n : SCAN_BYTES;
	if (want > fsize - off)
		want = (size_t)(fsize - off);
	if (want > sb->cap) {
		nb = realloc(sb->b, want);
		if (!nb)
			return -ENOMEM;
		sb->b = nb;
		sb->cap = want;
	}
	ret = pread_full(fd, sb->b, want, (off_t)off);
	sb->len = ret < 0 ? 0 : want;
	sb->base = off;
	return ret;
}

/* Parses the record at pos into *r; returns its length, or 0 when it is not a
 * whole valid record (*why says why), or a negative errno. */
static ssize_t scan_record(int fd, struct scanbuf *sb, uint64_t pos, uint64_t fsize,
			   struct cdp_logrec *r, const char **why)
{
	size_t head = fsize - pos < REC_HEADER_BYTES ? (size_t)(fsize - pos) : REC_HEADER_BYTES;
	const uint8_t *p;
	uint32_t raw, stored, len, count;
	uint64_t lsn;
	size_t n;
	int zstd, ret;

	*why = "incomplete record";
	if (head < 4 || (ret = sb_fill(fd, sb, pos, head, fsize)) == -ENODATA)
		return 0;
	if (ret < 0)
		return ret;
	p = sb->b + (pos - sb->base);
	r->offset = pos;
	if (get_u32be(p) == REC_MAGIC) {
		if (head < REC_HEADER_BYTES)
			return 0;
		*why = "bad chunk record header";
		if (record_header_check(p, &raw, &stored, &zstd) < 0)
			return 0;
		n = REC_HEADER_BYTES + (size_t)stored;
		*why = "incomplete chunk record";
		if ((ret = sb_fill(fd, sb, pos, n, fsize)) == -ENODATA)
			return 0;
		if (ret < 0)
			return ret;
		p = sb->b + (pos - sb->base);
		*why = "chunk record checksum mismatch";
		if (cdp_chunk_record_check(p, n, &raw, &stored, &zstd, r->sha) < 0)
			return 0;
		r->kind = CDP_LOGREC_CHUNK;
		r->raw_len = raw;
		r->stored_len = stored;
		r->zstd = zstd;
		r->payload = p + REC_HEADER_BYTES;
		r->len = stored;
	} else if (get_u32be(p) == IREC_MAGIC) {
		if (head < IREC_HEADER_BYTES)
			return 0;
		*why = "bad index record header";
		if (index_header_check(p, &lsn, &len, &count) < 0)
			return 0;
		n = IREC_HEADER_BYTES + (size_t)len;
		*why = "incomplete index record";
		if ((ret = sb_fill(fd, sb, pos, n, fsize)) == -ENODATA)
			return 0;
		if (ret < 0)
			return ret;
		p = sb->b + (pos - sb->base);
		*why = "index record checksum mismatch";
		if (cdp_index_record_check(p, n, &lsn, &len, &count) < 0)
			return 0;
		r->kind = CDP_LOGREC_INDEX;
		r->lsn = lsn;
		r->count = count;
		r->payload = p + IREC_HEADER_BYTES;
		r->len = len;
	} else {
		*why = "no record magic";
		return 0;
	}
	r->end = pos + n;
	return (ssize_t)n;
}

int cdp_chunklog_scan(struct cdp_chunklog *cl, uint32_t seg, uint64_t off, cdp_logrec_fn fn,
		      void *arg, struct cdp_scan_end *end)
{
	struct scanbuf sb = { 0 };
	uint8_t hdr[SEG_HEADER_BYTES];
	struct cdp_logrec r;
	char path[PATH_MAX];
	uint32_t last;
	struct stat st;
	uint64_t pos = 0;
	ssize_t n;
	int fd, ret;

	memset(end, 0, sizeof(*end));
	ret = max_segment_id(cl->dir, &last);
	if (ret < 0)
		return ret;
	end->last_segment = last;
	if (seg == 0) {
		seg = 1;
		off = 0;
	}
	for (; seg <= last; seg++, off = 0) {
		end->segment = seg;
		end->offset = 0;
		seg_path(cl, seg, path, sizeof(path));
		fd = cdp_sys.open(path, O_RDONLY, 0);
		if (fd < 0) {
			if (errno != ENOENT) {
				ret = -errno;
				break;
			}
			end->why = "segment file is missing";
			break;
		}
		if (fstat(fd, &st) < 0) {
			ret = -errno;
			close(fd);
			break;
		}
		if ((uint64_t)st.st_size < SEG_HEADER_BYTES) {
			close(fd);
			end->why = "segment header incomplete";
			break;
		}
		if (pread_full(fd, hdr, sizeof(hdr), 0) < 0 || memcmp(hdr, "CDPSEG\0\0", 8) != 0 ||
		    (get_u32be(hdr + 8) != 1 && get_u32be(hdr + 8) != CDP_FORMAT_VERSION) ||
		    get_u32be(hdr + 12) != seg) {
			close(fd);
			end->why = "bad segment header";
			break;
		}
		pos = off < SEG_HEADER_BYTES ? SEG_HEADER_BYTES : off;
		if (pos > (uint64_t)st.st_size) {
			close(fd);
			end->offset = (uint64_t)st.st_size;
			end->why = "segment is shorter than the index says";
			break;
		}
		sb.len = 0;
		r.segment = seg;
		while (pos < (uint64_t)st.st_size) {
			n = scan_record(fd, &sb, pos, (uint64_t)st.st_size, &r, &end->why);
			if (n <= 0) {
				ret = (int)n;
				break;
			}
			end->why = NULL;
			ret = fn(arg, &r);
			if (ret)
				break;
			pos += (uint64_t)n;
		}
		close(fd);
		end->offset = pos;
		if (ret || end->why)
			break;
	}
	free(sb.b);
	return ret;
}

int cdp_chunklog_take_sealed(struct cdp_chunklog *cl, uint32_t *seg, uint64_t *end)
{
	if (!cl->sealed_seg)
		return 0;
	*seg = cl->sealed_seg;
	*end = cl->sealed_end;
	cl->sealed_seg = 0;
	return 1;
}

int cdp_chunklog_cut(struct cdp_chunklog *cl, uint32_t seg, uint64_t off)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	seg_path(cl, seg, path, sizeof(path));
	if (off < SEG_HEADER_BYTES)
		return unlink(path) < 0 ? -errno : 0;   /* not even a whole header */
	fd = cdp_sys.open(path, O_RDWR, 0);
	if (fd < 0)
		return -errno;
	if (cdp_sys.ftruncate(fd, (off_t)off) < 0 || cdp_sys.fdatasync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int runway_drop(struct cdp_chunklog *cl);

void cdp_chunklog_close(struct cdp_chunklog *cl)
{
	size_t i;

	if (!cl)
		return;
	if (cl->wfd >= 0) {
		if (runway_drop(cl) < 0)
			cdp_log(LOG_WARNING, "cannot cut the zeroed runway off segment %08u "
				"(the next writer cuts it): %s", cl->wseg, strerror(errno));
		close(cl->wfd);
	}
	free(cl->wbuf);
	free(cl->wiov);
	for (i = 0; i < cl->nfds; i++)
		close(cl->fds[i].fd);
	free(cl->fds);
	pthread_mutex_destroy(&cl->fd_lock);
	free(cl->dir);
	free(cl);
}

static int segment_create(struct cdp_chunklog *cl)
{
	char path[PATH_MAX];
	uint8_t hdr[SEG_HEADER_BYTES];
	int fd, dfd, ret;

	seg_path(cl, cl->next_seg, path, sizeof(path));
	fd = cdp_sys.open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (fd < 0)
		return -errno;
	memcpy(hdr, "CDPSEG\0\0", 8);
	put_u32be(hdr + 8, CDP_FORMAT_VERSION);
	put_u32be(hdr + 12, cl->next_seg);
	ret = pwrite_full(fd, hdr, sizeof(hdr), 0);
	if (ret == 0 && cdp_sys.fdatasync(fd) < 0)
		ret = -errno;
	if (ret < 0) {
		close(fd);
		unlink(path);
		return ret;
	}
	dfd = open(cl->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	cl->wfd = fd;
	cl->wseg = cl->next_seg++;
	cl->wend = cl->written_end = cl->synced_end = cl->zero_end = SEG_HEADER_BYTES;
	cl->no_runway = 0;
	cl->wbuf_len = 0;
	cl->nwiov = 0;
	cl->wiov_bytes = 0;
	return 0;
}

/*
 * The zeroed runway.  fdatasync of a file that grew must commit its new size
 * through the file system's journal (ext4: a second device flush), while
 * one over blocks already written inside the file flushes the data alone:
 * on this project's reference machine 200-280 us against 145 us for each
 * 8 KiB record synced.  So while the log is synced often in small steps
 * (a database's fsync after each commit), the newest segment is kept
 * written with zeros up to 256 KiB-1 MiB past the end of its records, and
 * records overwrite them.  The size change is committed once per runway
 * step, by whichever sync comes first.  Zeros cost a second write of what
 * the records then write, so a log synced in large groups (sequential
 * writes) gets no runway: its syncs are few and cost the same either way.
 *
 * Recovery needs no new rule: zeros after the last record are a torn tail
 * (no record starts with a zero magic), which opening the store as writer
 * cuts off, as it cuts a record half written.  A segment is sealed only
 * after its runway is cut (runway_drop, before the next segment is
 * created), and a clean close cuts it too, so only the newest segment can
 * hold one.  A disk that refuses the zeros (full) leaves the segment
 * without runway: appends then grow the file as before.
 */
int cdp_chunklog_runway(struct cdp_chunklog *cl)
{
	static const uint8_t zeros[64u << 10];
	uint64_t from, to, max = cdp_segment_max_bytes;
	size_t n;
	ssize_t got;

	if (cl->wfd < 0 || cl->no_runway || cl->nwiov || cl->last_sync_bytes >= RUNWAY_SMALL_SYNC ||
	    cl->zero_end >= cl->written_end + RUNWAY_LOW)
		return 0;
	from = cl->zero_end > cl->written_end ? cl->zero_end : cl->written_end;
	to = from + RUNWAY_STEP;
	if (to > max)
		to = max;
	while (from < to) {
		n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
		got = cdp_sys.pwrite(cl->wfd, zeros, n, (off_t)from);
		if (got <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			cl->no_runway = 1;
			break;
		}
		from += (uint64_t)got;
		cl->zero_end = from;
	}
	return 0;
}

/* Cuts the runway off the newest segment: its size is its records' end. */
static int runway_drop(struct cdp_chunklog *cl)
{
	if (cl->zero_end <= cl->written_end)
		return 0;
	if (cdp_sys.ftruncate(cl->wfd, (off_t)cl->written_end) < 0 ||
	    cdp_sys.fdatasync(cl->wfd) < 0)
		return -errno;
	cl->zero_end = cl->written_end;
	return 0;
}

/* Writes the buffered records to the file, in one pwritev. */
static int wbuf_flush(struct cdp_chunklog *cl)
{
	int ret;

	if (!cl->nwiov)
		return 0;
	ret = pwritev_full(cl->wfd, cl->wiov, cl->nwiov, (off_t)cl->written_end);
	if (ret < 0)
		return ret;
	cl->written_end += cl->wiov_bytes;
	cl->wbuf_len = 0;
	cl->nwiov = 0;
	cl->wiov_bytes = 0;
	return 0;
}

/* Queues len bytes at p as the next piece of the log; a piece that starts
 * where the last one ends (records built one after another in wbuf)
 * extends it.  The caller made room (record_begin). */
static void wiov_add(struct cdp_chunklog *cl, const void *p, size_t len)
{
	struct iovec *last = cl->nwiov ? &cl->wiov[cl->nwiov - 1] : NULL;

	if (last && (const char *)last->iov_base + last->iov_len == (const char *)p) {
		last->iov_len += len;
	} else {
		cl->wiov[cl->nwiov].iov_base = (void *)p;
		cl->wiov[cl->nwiov].iov_len = len;
		cl->nwiov++;
	}
	cl->wiov_bytes += len;
}

/*
 * Room for an n-byte record at the end of the log, of which the first
 * built bytes are built here and the rest (a chunk's payload) is the
 * caller's: rolls to a new segment when this one would pass its size,
 * flushes the buffer when it is full.  *dst is where to build the built
 * bytes: in the buffer, or (a record larger than the buffer) a heap block
 * that record_end() writes and frees.
 */
static int record_begin(struct cdp_chunklog *cl, size_t n, size_t built, uint8_t **dst)
{
	int ret;

	if (cl->wfd >= 0 && cl->wend + n > cdp_segment_max_bytes &&
	    cl->wend > SEG_HEADER_BYTES) {
		ret = cdp_chunklog_sync(cl);
		if (ret == 0)
			ret = runway_drop(cl);
		if (ret < 0)
			return ret;
		close(cl->wfd);
		cl->wfd = -1;
		cl->sealed_seg = cl->wseg;
		cl->sealed_end = cl->synced_end;
	}
	if (cl->wfd < 0) {
		ret = segment_create(cl);
		if (ret < 0)
			return ret;
	}
	if (!cl->wbuf) {
		cl->wbuf = malloc(WBUF_BYTES);
		cl->wiov = calloc(WIOV_MAX, sizeof(*cl->wiov));
		if (!cl->wbuf || !cl->wiov)
			return -ENOMEM;
	}
	if (cl->wbuf_len + built > WBUF_BYTES || cl->nwiov + 2 > WIOV_MAX ||
	    cl->wiov_bytes + n > 4 * WBUF_BYTES) {
		ret = wbuf_flush(cl);
		if (ret < 0)
			return ret;
	}
	*dst = built > WBUF_BYTES ? malloc(built) : cl->wbuf + cl->wbuf_len;
	return *dst ? 0 : -ENOMEM;
}

/* The record, its built bytes at dst and the rest (n - built bytes) at
 * payload, is part of the log (written, or queued; not yet synced). */
static int record_end(struct cdp_chunklog *cl, size_t n, uint8_t *dst, size_t built,
		      const void *payload)
{
	int ret = 0;

	if (built > WBUF_BYTES) {
		/* the queue is empty (record_begin flushed it) */
		ret = pwrite_full(cl->wfd, dst, built, (off_t)cl->written_end);
		free(dst);
		if (ret < 0)
			return ret;
		cl->written_end += built;
	} else {
		wiov_add(cl, dst, built);
		cl->wbuf_len += built;
	}
	if (n > built)
		wiov_add(cl, payload, n - built);
	cl->wend += n;
	return 0;
}

/* Appends a chunk record; its payload copied into the buffer (copy) or
 * queued where the caller holds it. */
static int chunk_append(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			uint32_t raw_len, const void *payload, uint32_t stored_len, int zstd,
			struct cdp_chunk_loc *loc, int copy)
{
	size_t n = REC_HEADER_BYTES + (size_t)stored_len, built = copy ? n : REC_HEADER_BYTES;
	uint8_t *rec;
	int ret;

	ret = record_begin(cl, n, built, &rec);
	if (ret < 0)
		return ret;
	if (copy)
		cdp_chunk_record_build(rec, sha, raw_len, payload, stored_len, zstd);
	else
		cdp_chunk_record_header(rec, sha, raw_len, payload, stored_len, zstd);
	loc->segment = cl->wseg;
	loc->offset = cl->wend;
	loc->stored_len = stored_len;
	loc->raw_len = raw_len;
	return record_end(cl, n, rec, built, copy ? NULL : payload);
}

int cdp_chunklog_append(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			uint32_t raw_len, const void *payload, uint32_t stored_len, int zstd,
			struct cdp_chunk_loc *loc)
{
	return chunk_append(cl, sha, raw_len, payload, stored_len, zstd, loc, 1);
}

int cdp_chunklog_append_ref(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			    uint32_t raw_len, const void *payload, uint32_t stored_len, int zstd,
			    struct cdp_chunk_loc *loc)
{
	return chunk_append(cl, sha, raw_len, payload, stored_len, zstd, loc, 0);
}

int cdp_chunklog_append_index(struct cdp_chunklog *cl, uint64_t lsn, const void *payload,
			      uint32_t len, uint32_t count, uint32_t *seg, uint64_t *end)
{
	size_t n = IREC_HEADER_BYTES + (size_t)len;
	uint8_t *rec;
	int ret;

	if (len > IREC_MAX_PAYLOAD)
		return -E2BIG;
	ret = record_begin(cl, n, n, &rec);
	if (ret < 0)
		return ret;
	cdp_index_record_header(rec, lsn, payload, len, count);
	memcpy(rec + IREC_HEADER_BYTES, payload, len);
	*seg = cl->wseg;
	*end = cl->wend + n;
	return record_end(cl, n, rec, n, NULL);
}

int cdp_chunklog_sync(struct cdp_chunklog *cl)
{
	int ret;

	if (cl->wfd < 0 || cl->wend == cl->synced_end)
		return 0;
	ret = wbuf_flush(cl);
	if (ret < 0)
		return ret;
	if (cdp_sys.fdatasync(cl->wfd) < 0)
		return -errno;
	cl->last_sync_bytes = cl->wend - cl->synced_end;
	cl->synced_end = cl->wend;
	return 0;
}

void cdp_chunklog_rollback(struct cdp_chunklog *cl)
{
	cl->wbuf_len = 0;
	cl->nwiov = 0;
	cl->wiov_bytes = 0;
	if (cl->wfd < 0 || cl->wend == cl->synced_end)
		return;
	if (cdp_sys.ftruncate(cl->wfd, (off_t)cl->synced_end) < 0)
		cdp_log(LOG_WARNING, "cannot drop unsynced tail of segment %08u: %s",
			cl->wseg, strerror(errno));
	cl->wend = cl->written_end = cl->zero_end = cl->synced_end;
}

void cdp_chunklog_position(struct cdp_chunklog *cl, uint32_t *seg, uint64_t *off)
{
	*seg = cl->wfd >= 0 ? cl->wseg : 0;
	*off = cl->wfd >= 0 ? cl->synced_end : 0;
}

static int segment_fd(struct cdp_chunklog *cl, uint32_t seg, int *cached)
{
	uint8_t hdr[SEG_HEADER_BYTES];
	char path[PATH_MAX];
	struct seg_fd *nf;
	size_t i;
	int fd;

	pthread_mutex_lock(&cl->fd_lock);
	for (i = 0; i < cl->nfds; i++) {
		if (cl->fds[i].seg == seg) {
			fd = cl->fds[i].fd;
			pthread_mutex_unlock(&cl->fd_lock);
			*cached = 1;
			return fd;
		}
	}
	seg_path(cl, seg, path, sizeof(path));
	fd = cdp_sys.open(path, O_RDONLY, 0);
	if (fd < 0) {
		fd = -errno;
		pthread_mutex_unlock(&cl->fd_lock);
		return fd;
	}
	if (pread_full(fd, hdr, sizeof(hdr), 0) < 0 || memcmp(hdr, "CDPSEG\0\0", 8) != 0 ||
	    (get_u32be(hdr + 8) != 1 && get_u32be(hdr + 8) != CDP_FORMAT_VERSION) ||
	    get_u32be(hdr + 12) != seg) {
		cdp_log(LOG_ERR, "segment '%s' has a bad header", path);
		close(fd);
		pthread_mutex_unlock(&cl->fd_lock);
		return -CDP_ECORRUPT;
	}
	*cached = 0;
	if (cl->nfds < FD_CACHE_MAX) {
		nf = realloc(cl->fds, (cl->nfds + 1) * sizeof(*nf));
		if (nf) {
			cl->fds = nf;
			cl->fds[cl->nfds].seg = seg;
			cl->fds[cl->nfds].fd = fd;
			cl->nfds++;
			*cached = 1;
		}
	}
	pthread_mutex_unlock(&cl->fd_lock);
	return fd;
}

static void hex(const uint8_t *sha, char *out)
{
	static const char digits_hex[] = "0123456789abcdef";
	int i;

	for (i = 0; i < CDP_HASH_BYTES; i++) {
		out[2 * i] = digits_hex[sha[i] >> 4];
		out[2 * i + 1] = digits_hex[sha[i] & 15];
	}
	out[2 * CDP_HASH_BYTES] = 0;
}

/* Reads the record of sha at loc as stored and checks it against the
 * index (header, CRC, lengths, hash); *why says what was wrong. */
static int read_record(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
		       const struct cdp_chunk_loc *loc, uint8_t **out, int *zstd, const char **why)
{
	size_t n = REC_HEADER_BYTES + (size_t)loc->stored_len;
	uint8_t rsha[CDP_HASH_BYTES];
	uint32_t raw, stored;
	uint8_t *rec;
	int fd, cached = 0, ret;

	*out = NULL;
	if (loc->stored_len > MAX_STORED_BYTES) {
		*why = "index gives an impossible length";
		return -EIO;
	}
	rec = malloc(n);
	if (!rec)
		return -ENOMEM;
	fd = segment_fd(cl, loc->segment, &cached);
	if (fd < 0) {
		*why = fd == -CDP_ECORRUPT ? "segment header is bad" : "segment cannot be opened";
		free(rec);
		return -EIO;
	}
	ret = pread_full(fd, rec, n, (off_t)loc->offset);
	if (!cached)
		close(fd);
	if (ret < 0)
		*why = ret == -ENODATA ? "record is past the end of the segment" : "read failed";
	else if (cdp_chunk_record_check(rec, n, &raw, &stored, zstd, rsha) < 0)
		*why = "record checksum mismatch";
	else if (raw != loc->raw_len || stored != loc->stored_len ||
		 memcmp(rsha, sha, CDP_HASH_BYTES) != 0)
		*why = "record does not match the index";
	else {
		*out = rec;
		return 0;
	}
	free(rec);
	return -EIO;
}

void cdp_chunklog_log_bad(const uint8_t sha[CDP_HASH_BYTES], const struct cdp_chunk_loc *loc,
			  const char *why)
{
	char shahex[2 * CDP_HASH_BYTES + 1];

	hex(sha, shahex);
	cdp_log(LOG_ERR, "corrupt chunk %s in segment %08u at offset %llu: %s", shahex,
		loc->segment, (unsigned long long)loc->offset, why);
}

int cdp_chunklog_read_record(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			     const struct cdp_chunk_loc *loc, uint8_t **rec, size_t *len)
{
	const char *why = NULL;
	int zstd, ret;

	ret = read_record(cl, sha, loc, rec, &zstd, &why);
	if (ret == -EIO)
		cdp_chunklog_log_bad(sha, loc, why);
	*len = ret == 0 ? REC_HEADER_BYTES + (size_t)loc->stored_len : 0;
	return ret;
}

int cdp_chunk_decompress(const void *in, size_t in_len, void *out, size_t out_len)
{
	return decompress(in, in_len, out, out_len);
}

int cdp_chunklog_try_read(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			  const struct cdp_chunk_loc *loc, void *out, const char **whyp)
{
	uint8_t *rec;
	int zstd, ret;

	*whyp = NULL;
	ret = read_record(cl, sha, loc, &rec, &zstd, whyp);
	if (ret < 0)
		return ret;
	if (zstd)
		ret = decompress(rec + REC_HEADER_BYTES, loc->stored_len, out, loc->raw_len);
	else
		memcpy(out, rec + REC_HEADER_BYTES, loc->raw_len);
	free(rec);
	if (ret < 0) {
		*whyp = "payload does not decompress to its length";
		return -EIO;
	}
	return 0;
}

int cdp_chunklog_read(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
		      const struct cdp_chunk_loc *loc, void *out)
{
	const char *why = NULL;
	int ret = cdp_chunklog_try_read(cl, sha, loc, out, &why);

	if (ret == -EIO)
		cdp_chunklog_log_bad(sha, loc, why);
	return ret;
}

int cdp_chunklog_reopen(struct cdp_chunklog *cl, uint32_t seg)
{
	char path[PATH_MAX];
	size_t i;
	int fd, ret = 0;

	pthread_mutex_lock(&cl->fd_lock);
	for (i = 0; i < cl->nfds; i++) {
		if (cl->fds[i].seg != seg)
			continue;
		/* dup2 swaps the file under the number atomically: a read in
		 * flight gets the old file or the new one, never a closed fd */
		seg_path(cl, seg, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, cl->fds[i].fd) < 0)
			ret = -errno;
		if (fd >= 0)
			close(fd);
	}
	pthread_mutex_unlock(&cl->fd_lock);
	return ret;
}
