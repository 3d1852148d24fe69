/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_ovl_entry.c - cdp_ovl_entry_value_decode() on any bytes (an
 * overlay's 'E' entry value as its index holds it): it fails cleanly, or
 * says whiteout only for a value that starts with 'W', or gives a child and
 * a type that encode back to the same bytes.
 */
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[OVL_ENTRY_VALUE_BYTES];
	uint64_t child = 0, child2;
	uint32_t type = 0, type2;
	int ret = cdp_ovl_entry_value_decode((const char *)data, size, &child, &type);

	if (ret < 0) {
		CHECK(ret == -CDP_ECORRUPT);
		CHECK(child == 0 && type == 0);
		return 0;
	}
	if (ret == 1) {
		CHECK(size >= OVL_WHITEOUT_VALUE_BYTES && data[0] == 'W');
		CHECK(child == 0 && type == 0);
		return 0;
	}
	CHECK(ret == 0 && size == OVL_ENTRY_VALUE_BYTES);
	cdp_ovl_entry_value_encode(buf, child, type);
	CHECK(memcmp(buf, data, OVL_ENTRY_VALUE_BYTES) == 0);
	CHECK(cdp_ovl_entry_value_decode((const char *)buf, sizeof(buf), &child2, &type2) == 0);
	CHECK(child == child2 && type == type2);
	return 0;
}
