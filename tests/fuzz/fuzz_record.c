/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_record.c - the chunk log's reading of one record from disk.
 *
 * Two paths per input.  cdp_chunk_record_check() on the bytes as they are (a
 * header and payload read from a segment) must fail cleanly or describe a
 * payload that fits.  Then the input is wrapped as the payload of a record
 * with a valid checksum (the first four bytes give the raw length and the
 * zstd flag), written into a segment and read back with cdp_chunklog_read():
 * a zstd payload that is not a frame of exactly that length must give an
 * error, never bytes; a raw one must come back as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "store_test.h"
#include "fuzz.h"

#define MAX_RAW (64u << 10)

static char dir[128];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sha[CDP_HASH_BYTES], *rec, *out;
	uint32_t raw_len, stored_len, head;
	struct cdp_chunklog *cl;
	struct cdp_chunk_loc loc;
	char path[128];
	int zstd, ret;

	if (cdp_chunk_record_check(data, size, &raw_len, &stored_len, &zstd, sha) == 0)
		CHECK((size_t)REC_HEADER_BYTES + stored_len <= size);

	if (size < 4)
		return 0;
	head = get_u32be(data);
	raw_len = head % MAX_RAW + 1;
	zstd = (int)(head >> 31);
	data += 4;
	size -= 4;
	if (!zstd && size != raw_len)
		raw_len = (uint32_t)size;   /* a raw payload is its own length */
	if (size == 0 || size > MAX_RAW)
		return 0;
	memset(sha, 0xab, sizeof(sha));
	rec = malloc(REC_HEADER_BYTES + size);
	out = malloc(raw_len);
	CHECK(rec && out);
	cdp_chunk_record_build(rec, sha, raw_len, data, (uint32_t)size, zstd);

	fuzz_setup(dir, sizeof(dir));
	fuzz_write_segment(dir, rec, REC_HEADER_BYTES + size, path, sizeof(path));

	CHECK(cdp_chunklog_open(dir, 0, &cl) == 0);
	loc.segment = 1;
	loc.offset = SEG_HEADER_BYTES;
	loc.stored_len = (uint32_t)size;
	loc.raw_len = raw_len;
	ret = cdp_chunklog_read(cl, sha, &loc, out);
	if (!zstd) {
		CHECK(ret == 0);
		CHECK(memcmp(out, data, size) == 0);
	} else {
		CHECK(ret == 0 || ret == -CDP_ECORRUPT || ret == -EIO);
	}
	cdp_chunklog_close(cl);
	unlink(path);
	free(rec);
	free(out);
	return 0;
}
