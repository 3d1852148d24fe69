/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_overlay_info.c - cdp_overlay_read_info() of an overlay.info file
 * holding any bytes.  It fails cleanly, without a leak, or the first line
 * is exactly "cdpfs overlay format 1", name, host and dir are set and
 * each is text of the file, the base seq is not 0, and path is the
 * directory asked for.
 *
 * Two known bugs of cdp_overlay_read_info() are kept out of the runs
 * until they are fixed (CDP_FUZZ_KNOWN_BUGS=1 lets them in): a key given
 * twice (name, host or dir) leaks the first value, and a NUL inside the
 * first line is taken as its end ("cdpfs overlay format 1\0junk" passes).
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "overlay.h"
#include "fuzz.h"

static char dir[128];

static const char format_line[] = "cdpfs overlay format 1";

static size_t count_of(const uint8_t *data, size_t size, const char *s)
{
	size_t n = 0, len = strlen(s);
	const uint8_t *p = data, *end = data + size, *hit;

	while (p < end && (hit = memmem(p, (size_t)(end - p), s, len))) {
		n++;
		p = hit + 1;
	}
	return n;
}

/* 1 for an input that only shows a known bug (see above). */
static int known_bug(const uint8_t *data, size_t size)
{
	static int let_in = -1;
	const uint8_t *nl;

	if (let_in < 0) {
		const char *e = getenv("CDP_FUZZ_KNOWN_BUGS");

		let_in = e && *e && strcmp(e, "0") != 0;
	}
	if (let_in)
		return 0;
	nl = memchr(data, '\n', size);
	if (memchr(data, '\0', nl ? (size_t)(nl - data) : size))
		return 1;
	return count_of(data, size, "name=") > 1 || count_of(data, size, "host=") > 1 ||
	       count_of(data, size, "dir=") > 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdp_overlay_info info;
	size_t flen = sizeof(format_line) - 1;
	char path[192];
	int fd, ret;

	fuzz_setup(dir, sizeof(dir));
	if (known_bug(data, size))
		return 0;
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
