/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chunklog.c - the chunk log: append-only segment files holding compressed
 * block contents, addressed by SHA-256 through the "chunk" column family.
 *
 * Format (all integers big-endian; docs/format.md mirrors this):
 *
 *   segments/NNNNNNNN.seg   (8 decimal digits, the segment id, from 1)
 *     file header, 16 bytes:  "CDPSEG\0\0"  u32 format (1)  u32 segment id
 *     then records, back to back:
 *       0  u32 magic "CDPC" (0x43445043)
 *       4  u8  format version (1)
 *       5  u8  flags (0x01: payload is zstd)
 *       6  u16 reserved, 0
 *       8  u32 raw length (the block size)
 *      12  u32 stored length (payload bytes)
 *      16  u8[32] SHA-256 of the raw (uncompressed) content
 *      48  u32 CRC-32C (Castagnoli) of bytes 0..47 and the payload
 *      52  payload
 *
 * Validity: a record is valid when magic, version, flags, lengths and CRC
 * agree.  A reader is always sent to a record by the index (segment,
 * offset, lengths, SHA): every read re-checks the record against the index
 * and the CRC; any mismatch is -EIO plus a log line naming the chunk.
 *
 * Recovery: the writer fdatasync()s what it appended before the index batch
 * that references it commits, and records in the same batch how far the
 * segment is durable.  Anything past that point is unreferenced.  When a
 * writer opens the store it scans the newest segment from that point, stops
 * at the first invalid record (a torn tail from a crash), logs it and
 * truncates it away; then it starts a new segment, so no file is ever
 * appended to by two writer sessions.  Segments roll at 1 GiB.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <zstd.h>

#include "store_int.h"

#define MAX_STORED_BYTES (16u << 20)
#define FD_CACHE_MAX 1024
#define WBUF_BYTES (1u << 20)

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
	uint8_t *wbuf;          /* records not yet written, from written_end */
	size_t wbuf_len;
	uint32_t next_seg;
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
	uint32_t crc;

	put_u32be(out, REC_MAGIC);
	out[4] = CDP_FORMAT_VERSION;
	out[5] = zstd ? REC_FLAG_ZSTD : 0;
	out[6] = out[7] = 0;
	put_u32be(out + 8, raw_len);
	put_u32be(out + 12, stored_len);
	memcpy(out + 16, sha, CDP_HASH_BYTES);
	memcpy(out + REC_HEADER_BYTES, payload, stored_len);
	crc = cdp_crc32c(0, out, 48);
	crc = cdp_crc32c(crc, out + REC_HEADER_BYTES, stored_len);
	put_u32be(out + 48, crc);
}

/* Checks the header only (before the payload is read). */
static int record_header_check(const uint8_t *rec, uint32_t *raw_len, uint32_t *stored_len,
			       int *zstd)
{
	if (get_u32be(rec) != REC_MAGIC || rec[4] != CDP_FORMAT_VERSION ||
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

ssize_t cdp_chunk_compress(const void *raw, size_t raw_len, void *out, size_t out_cap, int *zstd)
{
	ZSTD_CCtx *cctx;
	size_t n;

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

/* Scans segment seg from off; truncates a torn tail.  Writer only. */
static int recover_tail(struct cdp_chunklog *cl, uint32_t seg, uint64_t off)
{
	char path[PATH_MAX];
	uint8_t hdr[REC_HEADER_BYTES];
	uint8_t *rec = NULL;
	uint32_t raw, stored;
	int fd, zstd, ret = 0;
	struct stat st;
	uint64_t pos = off;

	seg_path(cl, seg, path, sizeof(path));
	fd = cdp_sys.open(path, O_RDWR, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (pos < SEG_HEADER_BYTES)
		pos = SEG_HEADER_BYTES;
	if ((uint64_t)st.st_size < pos) {
		cdp_log(LOG_WARNING, "segment '%s' is shorter (%lld bytes) than its durable end (%llu)",
			path, (long long)st.st_size, (unsigned long long)pos);
		goto out;
	}
	while (pos < (uint64_t)st.st_size) {
		if (pread_full(fd, hdr, sizeof(hdr), (off_t)pos) < 0 ||
		    record_header_check(hdr, &raw, &stored, &zstd) < 0 ||
		    pos + REC_HEADER_BYTES + stored > (uint64_t)st.st_size)
			break;
		free(rec);
		rec = malloc(REC_HEADER_BYTES + stored);
		if (!rec) {
			ret = -ENOMEM;
			goto out;
		}
		if (pread_full(fd, rec, REC_HEADER_BYTES + stored, (off_t)pos) < 0 ||
		    cdp_chunk_record_check(rec, REC_HEADER_BYTES + stored, &raw, &stored, &zstd,
					   NULL) < 0)
			break;
		pos += REC_HEADER_BYTES + stored;
	}
	if (pos < (uint64_t)st.st_size) {
		cdp_log(LOG_WARNING, "torn tail in segment '%s': %llu bytes from offset %llu dropped",
			path, (unsigned long long)(st.st_size - pos), (unsigned long long)pos);
		if (cdp_sys.ftruncate(fd, (off_t)pos) < 0 || cdp_sys.fdatasync(fd) < 0) {
			ret = -errno;
			cdp_log(LOG_ERR, "cannot truncate segment '%s': %s", path, strerror(-ret));
		}
	}
out:
	free(rec);
	close(fd);
	return ret;
}

int cdp_chunklog_open(const char *segdir, int writer, uint32_t durable_seg,
		      uint64_t durable_off, struct cdp_chunklog **out)
{
	struct cdp_chunklog *cl = calloc(1, sizeof(*cl));
	uint32_t max;
	int ret;

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
	if (writer) {
		ret = max_segment_id(segdir, &max);
		if (ret < 0)
			goto fail;
		if (max > 0) {
			ret = recover_tail(cl, max, max == durable_seg ? durable_off : 0);
			if (ret < 0)
				goto fail;
		}
		cl->next_seg = max + 1;
	}
	*out = cl;
	return 0;
fail:
	cdp_chunklog_close(cl);
	return ret;
}

void cdp_chunklog_close(struct cdp_chunklog *cl)
{
	size_t i;

	if (!cl)
		return;
	if (cl->wfd >= 0)
		close(cl->wfd);
	free(cl->wbuf);
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
	cl->wend = cl->written_end = cl->synced_end = SEG_HEADER_BYTES;
	cl->wbuf_len = 0;
	return 0;
}

/* Writes the buffered records to the file. */
static int wbuf_flush(struct cdp_chunklog *cl)
{
	int ret;

	if (!cl->wbuf_len)
		return 0;
	ret = pwrite_full(cl->wfd, cl->wbuf, cl->wbuf_len, (off_t)cl->written_end);
	if (ret < 0)
		return ret;
	cl->written_end += cl->wbuf_len;
	cl->wbuf_len = 0;
	return 0;
}

int cdp_chunklog_append(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
			uint32_t raw_len, const void *payload, uint32_t stored_len, int zstd,
			struct cdp_chunk_loc *loc)
{
	size_t n = REC_HEADER_BYTES + (size_t)stored_len;
	uint8_t *rec;
	int ret;

	if (cl->wfd >= 0 && cl->wend + n > cdp_segment_max_bytes) {
		ret = cdp_chunklog_sync(cl);
		if (ret < 0)
			return ret;
		close(cl->wfd);
		cl->wfd = -1;
	}
	if (cl->wfd < 0) {
		ret = segment_create(cl);
		if (ret < 0)
			return ret;
	}
	if (!cl->wbuf) {
		cl->wbuf = malloc(WBUF_BYTES);
		if (!cl->wbuf)
			return -ENOMEM;
	}
	if (cl->wbuf_len + n > WBUF_BYTES) {
		ret = wbuf_flush(cl);
		if (ret < 0)
			return ret;
	}
	if (n > WBUF_BYTES) {
		rec = malloc(n);
		if (!rec)
			return -ENOMEM;
		cdp_chunk_record_build(rec, sha, raw_len, payload, stored_len, zstd);
		ret = pwrite_full(cl->wfd, rec, n, (off_t)cl->written_end);
		free(rec);
		if (ret < 0)
			return ret;
		cl->written_end += n;
	} else {
		cdp_chunk_record_build(cl->wbuf + cl->wbuf_len, sha, raw_len, payload, stored_len,
				       zstd);
		cl->wbuf_len += n;
	}
	loc->segment = cl->wseg;
	loc->offset = cl->wend;
	loc->stored_len = stored_len;
	loc->raw_len = raw_len;
	cl->wend += n;
	return 0;
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
	cl->synced_end = cl->wend;
	return 0;
}

void cdp_chunklog_rollback(struct cdp_chunklog *cl)
{
	cl->wbuf_len = 0;
	if (cl->wfd < 0 || cl->wend == cl->synced_end)
		return;
	if (cdp_sys.ftruncate(cl->wfd, (off_t)cl->synced_end) < 0)
		cdp_log(LOG_WARNING, "cannot drop unsynced tail of segment %08u: %s",
			cl->wseg, strerror(errno));
	cl->wend = cl->written_end = cl->synced_end;
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
	    get_u32be(hdr + 8) != CDP_FORMAT_VERSION || get_u32be(hdr + 12) != seg) {
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

int cdp_chunklog_read(struct cdp_chunklog *cl, const uint8_t sha[CDP_HASH_BYTES],
		      const struct cdp_chunk_loc *loc, void *out)
{
	size_t n = REC_HEADER_BYTES + (size_t)loc->stored_len;
	uint8_t rsha[CDP_HASH_BYTES];
	uint32_t raw, stored;
	const char *why = NULL;
	char shahex[2 * CDP_HASH_BYTES + 1];
	uint8_t *rec = NULL;
	int fd, cached = 0, zstd, ret;

	if (loc->stored_len > MAX_STORED_BYTES) {
		why = "index gives an impossible length";
		goto bad;
	}
	rec = malloc(n);
	if (!rec)
		return -ENOMEM;
	fd = segment_fd(cl, loc->segment, &cached);
	if (fd < 0) {
		why = fd == -CDP_ECORRUPT ? "segment header is bad" : "segment cannot be opened";
		ret = fd;
		goto bad;
	}
	ret = pread_full(fd, rec, n, (off_t)loc->offset);
	if (!cached)
		close(fd);
	if (ret < 0) {
		why = ret == -ENODATA ? "record is past the end of the segment" : "read failed";
		goto bad;
	}
	if (cdp_chunk_record_check(rec, n, &raw, &stored, &zstd, rsha) < 0) {
		why = "record checksum mismatch";
		goto bad;
	}
	if (raw != loc->raw_len || stored != loc->stored_len ||
	    memcmp(rsha, sha, CDP_HASH_BYTES) != 0) {
		why = "record does not match the index";
		goto bad;
	}
	if (zstd)
		ret = decompress(rec + REC_HEADER_BYTES, stored, out, raw);
	else
		memcpy(out, rec + REC_HEADER_BYTES, raw);
	if (zstd && ret < 0) {
		why = "payload does not decompress to its length";
		goto bad;
	}
	free(rec);
	return 0;
bad:
	hex(sha, shahex);
	cdp_log(LOG_ERR, "corrupt chunk %s in segment %08u at offset %llu: %s", shahex,
		loc->segment, (unsigned long long)loc->offset, why);
	free(rec);
	return -EIO;
}
