/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sys.c - the table of system calls the store makes on its segment files.
 * Production code calls cdp_sys.open() and friends; unit tests swap entries
 * to inject EIO or ENOSPC and call cdp_sys_reset() afterwards.  The table is
 * not locked: tests change it only while no store is writing.
 */
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "store_int.h"

static int sys_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags | O_CLOEXEC, mode);
}

struct cdp_sys cdp_sys = {
	.open = sys_open,
	.pwrite = pwrite,
	.pwritev = pwritev,
	.pread = pread,
	.fdatasync = fdatasync,
	.ftruncate = ftruncate,
};

void cdp_sys_reset(void)
{
	cdp_sys.open = sys_open;
	cdp_sys.pwrite = pwrite;
	cdp_sys.pwritev = pwritev;
	cdp_sys.pread = pread;
	cdp_sys.fdatasync = fdatasync;
	cdp_sys.ftruncate = ftruncate;
}
