/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_time.c - cdp_time_parse() on any text (TIME as a user types it):
 * it fails cleanly, or gives an instant that cdp_time_format() writes out
 * and that the written form parses back to exactly.
 */
#include <string.h>

#include "store.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int64_t now = 1764649987123456789LL;
	int64_t ts, again;
	char text[256], out[96];

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cdp_time_parse(text, now, &ts) < 0)
		return 0;
	if (ts == CDP_TS_LATEST)
		return 0;
	cdp_time_format(ts, out, sizeof(out));
	CHECK(cdp_time_parse(out, now, &again) == 0);
	CHECK(again == ts);
	return 0;
}
