/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_imapval.c - cdp_imap_value_decode() on any bytes (an inode map entry as
 * the index holds it): it fails cleanly or gives a fid and a handle inside
 * the input that encode back to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *h, *h2;
	uint64_t fid, fid2;
	size_t hlen, hlen2;
	uint8_t *buf;

	if (cdp_imap_value_decode(in, size, &fid, &h, &hlen) < 0)
		return 0;
	CHECK(size >= IMAP_VALUE_HEADER_BYTES);
	CHECK(h >= in && h + hlen == in + size);
	buf = malloc(IMAP_VALUE_HEADER_BYTES + hlen);
	CHECK(buf != NULL);
	cdp_imap_value_encode(buf, fid, h, hlen);
	CHECK(memcmp(buf, data, size) == 0);
	CHECK(cdp_imap_value_decode((const char *)buf, size, &fid2, &h2, &hlen2) == 0);
	CHECK(fid2 == fid && hlen2 == hlen && memcmp(h2, h, hlen) == 0);
	free(buf);
	return 0;
}
