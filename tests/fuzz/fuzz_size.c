/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_size.c - cli_parse_size() on any text ("256M", "1G", "65536" from
 * the command line): it fails cleanly or gives a size that a plain
 * decimal re-parse agrees with.
 */
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[64], again_text[32];
	size_t bytes, again;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cli_parse_size(text, &bytes) < 0)
		return 0;
	snprintf(again_text, sizeof(again_text), "%zu", bytes);
	CHECK(cli_parse_size(again_text, &again) == 0);
	CHECK(again == bytes);
	return 0;
}
