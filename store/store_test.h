/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store_test.h - the store's internals for tests, fuzzers and benchmarks
 * only (tests/unit/, tests/fuzz/, scripts/bench/): the value and record
 * codecs they feed bytes to, the chunk log and the system call table they
 * fail, cdp_chunk_compress they time.  It is store_int.h, nothing narrower yet:
 * including this file instead says "not part of cdpfs proper", so that
 * capture/, fs/ and cli/ keep to store.h and overlay.h, and a grep for
 * store_int.h outside store/ finds nothing.  No contract here is stable.
 */
#ifndef CDP_STORE_TEST_H
#define CDP_STORE_TEST_H

#include "store_int.h"

#endif /* CDP_STORE_TEST_H */
