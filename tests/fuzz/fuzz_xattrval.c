/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_xattrval.c - cdp_xattr_value_decode() on any bytes (an extended
 * attribute's value as the index holds it): it fails cleanly or gives a
 * range inside the input that encodes back to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *x, *x2;
	size_t xlen, xlen2;
	uint8_t *buf;

	if (cdp_xattr_value_decode(in, size, &x, &xlen) < 0)
		return 0;
	CHECK(size >= XATTR_VALUE_HEADER_BYTES);
	CHECK(x >= in && x + xlen == in + size);
	buf = malloc(XATTR_VALUE_HEADER_BYTES + xlen);
	CHECK(buf != NULL);
	cdp_xattr_value_encode(buf, x, xlen);
	CHECK(memcmp(buf, data, size) == 0);
	CHECK(cdp_xattr_value_decode((const char *)buf, size, &x2, &xlen2) == 0);
	CHECK(xlen2 == xlen && memcmp(x2, x, xlen) == 0);
	free(buf);
	return 0;
}
