/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_overlay_inode.c - cdp_overlay_inode_decode() on any bytes (an 'I'
 * record read from an overlay's index): it fails cleanly, or the record
 * is 'I', u32 flags, u64 base limit, store attributes, then a symlink
 * target lying inside the value; and a record in the layout the overlay
 * writes ('B' attributes, a target without NUL) encodes back to the same
 * bytes as ino_put() in overlay.c would write it.
 */
#include <stdlib.h>
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

#define INO_HEADER_BYTES OVL_INODE_HEADER_BYTES   /* 'I', u32 flags, u64 base_limit */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdp_attr a, b;
	char *target = (char *)data;   /* must be reset by the decoder */
	uint64_t base_limit = 0;
	uint32_t flags = 0;
	size_t hdr = 0, tlen;
	int ret;

	memset(&a, 0, sizeof(a));
	ret = cdp_overlay_inode_decode((const char *)data, size, &flags, &base_limit, &a, &target);
	if (ret < 0) {
		CHECK(target == NULL);
		return 0;
	}
	CHECK(size >= INO_HEADER_BYTES && data[0] == 'I');
	CHECK(flags == get_u32be(data + 1));
	CHECK(base_limit == get_u64be(data + 5));
	/* the attributes are those of the bytes after the header */
	memset(&b, 0, sizeof(b));
	CHECK(cdp_attr_decode((const char *)data + INO_HEADER_BYTES, size - INO_HEADER_BYTES, &b,
			      &hdr) == 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK(INO_HEADER_BYTES + hdr <= size);
	/* a target exactly when bytes follow the attributes, and from them */
	CHECK((target != NULL) == (INO_HEADER_BYTES + hdr < size));
	if (target) {
		const uint8_t *t = data + INO_HEADER_BYTES + hdr;

		tlen = strlen(target);
		CHECK(tlen <= size - INO_HEADER_BYTES - hdr);
		CHECK(memcmp(target, t, tlen) == 0);
		CHECK(tlen == size - INO_HEADER_BYTES - hdr || t[tlen] == '\0');
	}
	/* re-encode as the overlay writes records */
	if (hdr == ATTR_VALUE_BYTES && (!target || strlen(target) + INO_HEADER_BYTES + hdr == size)) {
		uint8_t *v = malloc(size);

		CHECK(v != NULL);
		v[0] = 'I';
		put_u32be(v + 1, flags);
		put_u64be(v + 5, base_limit);
		cdp_attr_encode(v + INO_HEADER_BYTES, &a);
		if (target)
			memcpy(v + INO_HEADER_BYTES + ATTR_VALUE_BYTES, target, strlen(target));
		CHECK(memcmp(v, data, size) == 0);
		free(v);
	}
	free(target);
	return 0;
}
