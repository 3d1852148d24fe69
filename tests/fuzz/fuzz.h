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

#endif /* CDP_FUZZ_H */
