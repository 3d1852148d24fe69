/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_direntval.c - cdp_dirent_value_decode() on any bytes (a directory
 * entry's value as the index holds it): it fails cleanly or gives a child
 * and a type that encode back to the same bytes.
 */
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[DIRENT_VALUE_BYTES];
	uint64_t child, child2;
	uint32_t type, type2;

	if (cdp_dirent_value_decode((const char *)data, size, &child, &type) < 0)
		return 0;
	CHECK(size == DIRENT_VALUE_BYTES);
	cdp_dirent_value_encode(buf, child, type);
	CHECK(memcmp(buf, data, DIRENT_VALUE_BYTES) == 0);
	CHECK(cdp_dirent_value_decode((const char *)buf, sizeof(buf), &child2, &type2) == 0);
	CHECK(child == child2 && type == type2);
	return 0;
}
