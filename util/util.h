/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util.h - small helpers that capture/ and fs/ both use, free of FUSE and
 * of the store: the mount table (util/mounts.c) and growing arrays
 * (util/array.c).  Anything here is a pure function of its arguments and
 * of /proc/self.
 */
#ifndef CDP_UTIL_H
#define CDP_UTIL_H

#include <stddef.h>

/* Undoes, in place, the \ooo octal escapes the kernel writes for space,
 * tab, newline and backslash in a field of /proc/self/mounts or
 * /proc/self/mountinfo.  A backslash not followed by three octal digits
 * stays as it is. */
void cdp_mount_field_unescape(char *s);

/* 1 when /proc/self/mountinfo lists a mount at path (absolute, canonical)
 * whose file system type is fstype and whose source starts with
 * source_prefix (NULL: any), else 0 (also when mountinfo is unreadable). */
int cdp_mount_listed(const char *path, const char *fstype, const char *source_prefix);
/* The same, and the mount's source (unescaped, without the trailing
 * newline) into src (src_size bytes) when found; src may be NULL. */
int cdp_mount_find(const char *path, const char *fstype, const char *source_prefix,
		   char *src, size_t src_size);

/* p, an array of *cap elements of elem_size bytes of which n are used,
 * with room for one more: p itself while n < *cap, else p reallocated to
 * twice *cap (first_cap when *cap is 0) and *cap updated.  NULL when out of
 * memory; p is then unchanged and still the caller's. */
void *cdp_array_grow(void *p, size_t *cap, size_t n, size_t elem_size, size_t first_cap);

#endif /* CDP_UTIL_H */
