/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_overlay_info.c - cdp_overlay_read_info() of an overlay.info file
 * holding any bytes.  It fails cleanly, without a leak, or the first line
 * is exactly "cdpfs overlay format 1", name, host and dir are set and
 * each is text of the file, the base seq is not 0, and path is the
 * directory asked for.
 * The corpus keeps two regressions: a key given twice (which leaked the
 * first value) and a NUL inside the first line (which passed for its end).
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "overlay.h"
#include "fuzz.h"

static char dir[128];

static const char format_line[] = "cdpfs overlay format 1";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdp_overlay_info info;
	size_t flen = sizeof(format_line) - 1;
	char path[192];
	int fd, ret;

	fuzz_setup(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/overlay.info", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);

	ret = cdp_overlay_read_info(dir, &info);
	if (ret < 0) {
		CHECK(ret == -CDP_ECORRUPT || ret == -CDP_EVERSION);
		CHECK(!info.name && !info.host && !info.dir && !info.path);
		return 0;
	}
	CHECK(size >= flen && memcmp(data, format_line, flen) == 0);
	CHECK(size == flen || data[flen] == '\n');
	CHECK(info.name && info.host && info.dir);
	CHECK(memmem(data, size, info.name, strlen(info.name)) != NULL);
	CHECK(memmem(data, size, info.host, strlen(info.host)) != NULL);
	CHECK(memmem(data, size, info.dir, strlen(info.dir)) != NULL);
	CHECK(info.base_seq != 0);
	CHECK(info.path && strcmp(info.path, dir) == 0);
	cdp_overlay_info_release(&info);
	CHECK(!info.name && !info.path);
	return 0;
}
