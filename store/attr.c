/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * attr.c - conversions between the real filesystem's stat(2) and the
 * store's attribute record, shared by capture/ and the test tools so that
 * both journal exactly the same fields.
 */
#include <string.h>

#include "store.h"

static int64_t timespec_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

void cdp_attr_from_stat(const struct stat *st, struct cdp_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->mode = st->st_mode;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->nlink = (uint32_t)st->st_nlink;
	a->size = (uint64_t)st->st_size;
	a->rdev = st->st_rdev;
	a->atime_ns = timespec_ns(&st->st_atim);
	a->mtime_ns = timespec_ns(&st->st_mtim);
	a->ctime_ns = timespec_ns(&st->st_ctim);
	a->blocks = st->st_blocks >= 0 ? (uint64_t)st->st_blocks : CDP_BLOCKS_UNKNOWN;
}
