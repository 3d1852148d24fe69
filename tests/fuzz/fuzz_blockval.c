/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_blockval.c - cdp_block_value_decode() on any bytes (a block version as
 * the index holds it): it fails cleanly, says ZERO only for the one ZERO
 * byte, or gives a hash and a raw length that encode back to the same bytes.
 */
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[BLOCKREF_VALUE_BYTES], sha[CDP_HASH_BYTES], sha2[CDP_HASH_BYTES];
	uint32_t raw_len, raw_len2;
	int ret;

	ret = cdp_block_value_decode((const char *)data, size, sha, &raw_len);
	if (ret < 0) {
		CHECK(ret == -CDP_ECORRUPT);
		return 0;
	}
	if (ret == BLOCK_VALUE_ZERO) {
		CHECK(size == ZERO_VALUE_BYTES && data[0] == VAL_ZERO);
		return 0;
	}
	CHECK(ret == 0 && size == BLOCKREF_VALUE_BYTES);
	cdp_blockref_encode(buf, sha, raw_len);
	CHECK(memcmp(buf, data, BLOCKREF_VALUE_BYTES) == 0);
	CHECK(cdp_block_value_decode((const char *)buf, sizeof(buf), sha2, &raw_len2) == 0);
	CHECK(memcmp(sha, sha2, CDP_HASH_BYTES) == 0 && raw_len == raw_len2);
	return 0;
}
