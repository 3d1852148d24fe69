/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_attr.c - cdp_attr_decode() on any bytes (an inode value read from the
 * index): it fails cleanly or gives attributes that encode and decode
 * back to the same, with the symlink target inside the value.
 */
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdp_attr a, b;
	uint8_t buf[ATTR_VALUE_BYTES];
	size_t hlen = 0, hlen2 = 0;

	memset(&a, 0, sizeof(a));
	if (cdp_attr_decode((const char *)data, size, &a, &hlen) < 0)
		return 0;
	CHECK(hlen == ATTR_VALUE_BYTES || hlen == ATTR_V1_VALUE_BYTES);
	CHECK(hlen <= size);
	CHECK(hlen == ATTR_VALUE_BYTES || a.blocks == CDP_BLOCKS_UNKNOWN);
	cdp_attr_encode(buf, &a);
	memset(&b, 0, sizeof(b));
	CHECK(cdp_attr_decode((const char *)buf, sizeof(buf), &b, &hlen2) == 0);
	CHECK(hlen2 == ATTR_VALUE_BYTES);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	return 0;
}
