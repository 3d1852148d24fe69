/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_root_rec.c - cdp_root_rec_decode() on any bytes (a protected
 * directory's record: path, sessions, gaps): it fails cleanly, or gives a
 * record whose gaps and path are all there, that encodes and decodes back
 * to the same, and that cdp_root_rec_release() frees without a leak.
 */
#include <string.h>

#include "store_test.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct root_rec r, again;
	uint8_t *buf = NULL;
	size_t len = 0;

	memset(&r, 0, sizeof(r));
	if (cdp_root_rec_decode((const char *)data, size, &r) < 0) {
		cdp_root_rec_release(&r);
		return 0;
	}
	CHECK(r.path != NULL);
	CHECK(r.ngaps == 0 || r.gaps != NULL);
	CHECK(cdp_root_rec_encode(&r, &buf, &len) == 0);
	memset(&again, 0, sizeof(again));
	CHECK(cdp_root_rec_decode((const char *)buf, len, &again) == 0);
	CHECK(again.root_id == r.root_id && again.fid == r.fid);
	CHECK(again.baseline_ts == r.baseline_ts && again.active == r.active);
	CHECK(again.pid == r.pid && again.session_start == r.session_start);
	CHECK(again.session_end == r.session_end && again.gap_from == r.gap_from);
	CHECK(again.ngaps == r.ngaps);
	CHECK(r.ngaps == 0 || memcmp(again.gaps, r.gaps, r.ngaps * sizeof(*r.gaps)) == 0);
	CHECK(strcmp(again.path, r.path) == 0);
	free(buf);
	cdp_root_rec_release(&again);
	cdp_root_rec_release(&r);
	return 0;
}
