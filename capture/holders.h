/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * holders.h - the processes that hold something inside a directory, which
 * a capture mount over it would not see (see holders.c).
 */
#ifndef CDP_CAPTURE_HOLDERS_H
#define CDP_CAPTURE_HOLDERS_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct cap_holder {
	pid_t pid;
	char comm[64];              /* /proc/PID/comm, "" when unknown */
	char what[PATH_MAX + 64];   /* e.g. "open file '/data/pg/x' (fd 7)" */
};

/*
 * Scans /proc for processes other than this one and those in ignore[0..
 * nignore) that hold, at or below dir (absolute, canonical), a working or
 * root directory, an open file or a memory mapping; the first thing found
 * per process is reported.  Fills out[0..min(total, max)) and sets *total
 * to how many processes hold something; *unreadable (may be NULL) counts
 * processes whose /proc entries could not be read.  Returns 0, -EINVAL for
 * a relative dir, or -errno when /proc cannot be listed.
 */
int cap_find_holders(const char *dir, const pid_t *ignore, size_t nignore,
		     struct cap_holder *out, size_t max, size_t *total, size_t *unreadable);

#endif /* CDP_CAPTURE_HOLDERS_H */
