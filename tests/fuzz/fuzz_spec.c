/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_spec.c - cdp_fs_parse_spec() on any text (HOST@TIME or
 * HOST:/DIR@TIME from a command line or an fstab line): it fails with a
 * message, or gives a host, a time and an absolute directory that are all
 * pieces of the text; nothing leaks either way.
 */
#include <string.h>

#include "fs/fs.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char spec[512], err[256], *host = NULL, *path = NULL, *time_text = NULL;

	if (size >= sizeof(spec))
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	err[0] = '\0';
	if (cdp_fs_parse_spec(spec, &host, &path, &time_text, err, sizeof(err)) < 0) {
		CHECK(err[0] != '\0');
		CHECK(!host && !path && !time_text);
		return 0;
	}
	CHECK(host && *host && strstr(spec, host) == spec);
	CHECK(time_text && *time_text && strstr(spec, time_text));
	CHECK(!path || (path[0] == '/' && strstr(spec, path)));
	free(host);
	free(path);
	free(time_text);
	return 0;
}
