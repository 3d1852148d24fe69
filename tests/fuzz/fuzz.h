/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz/ share: the entry point
 * libFuzzer calls, and CHECK, which aborts (a crash libFuzzer records with
 * its input) when an invariant of the decoder under test does not hold.
 */
#ifndef CDP_FUZZ_H
#define CDP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, \
				__LINE__, #cond);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

/* Once per process: quiets cdp_log (corrupt input is the point, and every
 * rejection would log a line) and makes a private directory for targets
 * that need files, on tmpfs when there is one (fdatasync costs nothing
 * there).  dir gets its path. */
static inline void fuzz_setup(char *dir, size_t size)
{
	extern void cdp_log_init(const char *progname, int use_syslog, int max_level);

	if (dir[0])
		return;
	cdp_log_init("fuzz", 0, 2 /* LOG_CRIT */);
	snprintf(dir, size, "%s/cdp-fuzz-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
}

#ifdef SEG_HEADER_BYTES   /* targets that include store_test.h */
#include <fcntl.h>
#include <string.h>

/* Writes segment 1 into dir: a valid header, then body as it is.  path
 * (size bytes) gets the file's path. */
static inline void fuzz_write_segment(const char *dir, const void *body, size_t len,
				      char *path, size_t size)
{
	uint8_t hdr[SEG_HEADER_BYTES];
	int fd;

	snprintf(path, size, "%s/00000001.seg", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	memcpy(hdr, "CDPSEG\0\0", 8);
	put_u32be(hdr + 8, CDP_FORMAT_VERSION);
	put_u32be(hdr + 12, 1);
	CHECK(write(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr));
	CHECK(len == 0 || write(fd, body, len) == (ssize_t)len);
	close(fd);
}
#endif

#endif /* CDP_FUZZ_H */
