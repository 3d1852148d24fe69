/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * array.c - growing a heap array by doubling (git's ALLOC_GROW), with the
 * size computation checked for overflow.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/util.h"

void *cdp_array_grow(void *p, size_t *cap, size_t n, size_t elem_size, size_t first_cap)
{
	size_t ncap;
	void *np;

	if (n < *cap)
		return p;
	ncap = *cap ? *cap * 2 : first_cap;
	if (ncap < *cap || (elem_size && ncap > SIZE_MAX / elem_size)) {
		errno = ENOMEM;
		return NULL;
	}
	np = realloc(p, ncap * elem_size);
	if (np)
		*cap = ncap;
	return np;
}
