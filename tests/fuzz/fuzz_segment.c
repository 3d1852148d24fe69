/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_segment.c - opening a chunk log whose newest segment ends in any
 * bytes after its durable end (what a crash mid-append leaves, or worse).
 * A scan from the durable end must stop at the first bad record (never
 * past the file), the cut there must succeed, and the log must then take
 * a new record and read it back exactly.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "store_test.h"
#include "fuzz.h"

static char dir[128];

static int count_fn(void *arg, const struct cdp_logrec *r)
{
	CHECK(r->end > r->offset);
	(*(size_t *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sha[CDP_HASH_BYTES], payload[512], out[512];
	struct cdp_chunklog *cl;
	struct cdp_chunk_loc loc;
	struct cdp_scan_end end;
	char path[192];
	size_t i, nrec = 0;

	fuzz_setup(dir, sizeof(dir));
	fuzz_write_segment(dir, data, size, path, sizeof(path));

	CHECK(cdp_chunklog_open(dir, 1, &cl) == 0);
	CHECK(cdp_chunklog_scan(cl, 1, SEG_HEADER_BYTES, count_fn, &nrec, &end) == 0);
	CHECK(end.segment == 1 && end.offset >= SEG_HEADER_BYTES &&
	      end.offset <= SEG_HEADER_BYTES + size);
	if (end.why)
		CHECK(cdp_chunklog_cut(cl, end.segment, end.offset) == 0);
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 31 + size);
	memset(sha, 0x5c, sizeof(sha));
	CHECK(cdp_chunklog_append(cl, sha, sizeof(payload), payload, sizeof(payload), 0,
				  &loc) == 0);
	CHECK(cdp_chunklog_sync(cl) == 0);
	CHECK(cdp_chunklog_read(cl, sha, &loc, out) == 0);
	CHECK(memcmp(out, payload, sizeof(payload)) == 0);
	cdp_chunklog_close(cl);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%08u.seg", dir, loc.segment);
	unlink(path);   /* the new record's segment */
	return 0;
}
