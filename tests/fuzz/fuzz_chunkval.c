/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_chunkval.c - cdp_chunkval_decode() on any bytes (a chunk's location as
 * the index holds it): it fails cleanly or gives a location that encodes
 * back to the same bytes.
 */
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdp_chunk_loc loc, again;
	uint8_t buf[CHUNKVAL_BYTES];

	if (cdp_chunkval_decode((const char *)data, size, &loc) < 0)
		return 0;
	CHECK(size >= CHUNKVAL_BYTES);
	cdp_chunkval_encode(buf, &loc);
	CHECK(memcmp(buf, data, CHUNKVAL_BYTES) == 0);
	CHECK(cdp_chunkval_decode((const char *)buf, sizeof(buf), &again) == 0);
	CHECK(loc.segment == again.segment && loc.offset == again.offset);
	CHECK(loc.stored_len == again.stored_len && loc.raw_len == again.raw_len);
	return 0;
}
