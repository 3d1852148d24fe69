/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * array.c - growing a heap array by doubling (git's ALLOC_GROW), with the
 * size computation checked for overflow.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/util.h"

void *cdp_array_reserve(void *p, size_t *cap, size_t need, size_t elem_size, size_t first_cap)
{
	size_t ncap = *cap ? *cap : (first_cap ? first_cap : 1);
	void *np;

	if (need <= *cap)
		return p;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			errno = ENOMEM;
			return NULL;
		}
		ncap *= 2;
	}
	if (elem_size && ncap > SIZE_MAX / elem_size) {
		errno = ENOMEM;
		return NULL;
	}
	np = realloc(p, ncap * elem_size);
	if (np)
		*cap = ncap;
	return np;
}

void *cdp_array_grow(void *p, size_t *cap, size_t n, size_t elem_size, size_t first_cap)
{
	if (n == SIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return cdp_array_reserve(p, cap, n + 1, elem_size, first_cap);
}
