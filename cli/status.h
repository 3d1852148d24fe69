/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * status.h - the facts `cdpfs status` reports besides the capture state
 * (cli/status_facts.c): the write rate over the last minute, the last
 * `cdpfs verify` (which records itself for this in STORE/verify/last), the
 * last passing drill of a host (from STORE/drills/index).  Each reads
 * what other verbs left in the store directory; none opens the index for
 * writing.
 */
#ifndef CDP_CLI_STATUS_H
#define CDP_CLI_STATUS_H

#include <stddef.h>
#include <stdint.h>

struct cdp_store;

/* Operations and data bytes (whole blocks) journaled for host in the 60 s
 * before until_ns, per second, from the activity summary.  until_ns should
 * be an instant the store is complete through (the host's complete_ts_ns):
 * a later one waits up to a second for the writer.  0, or a negative error
 * of cdp_activity_read() (CDP_ENOHOST when host has none). */
int status_write_rate(struct cdp_store *s, const char *host, int64_t until_ns,
		      double *bytes_per_s, double *ops_per_s);

/* The last verify of a store (STORE/verify/last, docs/format.md). */
struct status_verify {
	int64_t finished_ns;
	int data;                     /* --data: every chunk read */
	uint64_t problems;            /* 0: clean */
	char host[256];               /* "" the whole store */
};

/* Records a verify that finished now (written to a temporary file,
 * fsync'ed and renamed).  0 or -errno. */
int status_verify_record(const char *store, const char *host, int data, uint64_t problems);
/* 0 and *v; -ENOENT when the store was never verified; -EINVAL when the
 * file is not one this cdpfs reads; other -errno. */
int status_verify_last(const char *store, struct status_verify *v);

/* The newest drill of host whose result is "pass": 0 with its start and
 * id; -ENOENT when there is none (or no drill index); -EINVAL when the
 * index is not one this cdpfs reads. */
int status_drill_last_pass(const char *store, const char *host, int64_t *started_ns,
			   char *id, size_t idlen);

#endif /* CDP_CLI_STATUS_H */
