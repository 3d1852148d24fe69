/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * query_speed - how long the index questions of query.h take on a store of
 * a given shape, built here through the journal (no capture, no FUSE):
 *   - diff: a tree of NFILES files in directories of 1,000, then PCT percent
 *     of them rewritten (one block), chmod'ed or renamed in turn; the time
 *     of cdp_diff between the two instants (the target: 100,000
 *     files, 1% changed, <= 2 s);
 *   - log: one file rewritten NVERSIONS times among other files' writes;
 *     the time of cdp_file_log listing them all (target: 10,000 in <= 1 s).
 * Usage: query_speed STORE_DIR [NFILES [PCT [NVERSIONS]]]
 *   (defaults 100000 1 10000; STORE_DIR must be missing or empty)
 * Prints one JSON object: the counts and diff_s, log_s.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "query.h"
#include "store.h"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void check(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "query_speed: %s: %s\n", what, cdp_strerror(ret));
		exit(1);
	}
}

static struct cdp_attr attr(uint32_t mode, uint64_t size)
{
	struct cdp_attr a;

	memset(&a, 0, sizeof(a));
	a.mode = mode;
	a.nlink = 1;
	a.size = size;
	a.mtime_ns = a.atime_ns = a.ctime_ns = cdp_now_ns();
	a.blocks = CDP_BLOCKS_UNKNOWN;
	return a;
}

static int count_change(void *arg, const struct cdp_change *c)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static int count_version(void *arg, const struct cdp_file_version *v)
{
	(*(uint64_t *)arg)++;
	return 0;
}

int main(int argc, char **argv)
{
	struct cdp_store *s;
	struct cdp_journal *j;
	struct cdp_view *v1, *v2;
	struct cdp_op *op;
	struct cdp_attr a;
	uint64_t nfiles = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
	uint64_t pct = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	uint64_t nver = argc > 4 ? strtoull(argv[4], NULL, 10) : 10000;
	uint64_t *fids, data, dir = 0, i, changes = 0, versions = 0, fid, hot;
	uint32_t root;
	int resuming;
	char name[64], block[8192];
	double t0, diff_s, log_s;

	if (argc < 2) {
		fprintf(stderr, "usage: query_speed STORE_DIR [NFILES [PCT [NVERSIONS]]]\n");
		return 2;
	}
	cdp_log_init("query_speed", 0, 3);
	check(cdp_store_open(argv[1], CDP_STORE_CREATE, NULL, &s), "open");
	check(cdp_journal_open(s, "bench", &j), "journal");
	check(cdp_journal_root_begin(j, "/data", &root, &resuming), "root");
	fids = calloc(nfiles + 1, sizeof(*fids));
	check(cdp_journal_new_fid(j, &data), "fid");
	check(cdp_op_new(j, &op), "op");
	a = attr(S_IFDIR | 0755, 0);
	check(cdp_op_attr(op, data, &a, NULL), "attr");
	check(cdp_op_dirent(op, CDP_ROOT_FID, "data", data, S_IFDIR), "dirent");
	check(cdp_op_commit(op, NULL, NULL), "commit");
	memset(block, 'x', sizeof(block));
	for (i = 0; i < nfiles; i++) {
		if (i % 1000 == 0) {
			check(cdp_journal_new_fid(j, &dir), "fid");
			check(cdp_op_new(j, &op), "op");
			a = attr(S_IFDIR | 0755, 0);
			check(cdp_op_attr(op, dir, &a, NULL), "attr");
			snprintf(name, sizeof(name), "d%llu", (unsigned long long)(i / 1000));
			check(cdp_op_dirent(op, data, name, dir, S_IFDIR), "dirent");
			check(cdp_op_commit(op, NULL, NULL), "commit");
		}
		check(cdp_journal_new_fid(j, &fids[i]), "fid");
		check(cdp_op_new(j, &op), "op");
		snprintf(block, 32, "file %llu", (unsigned long long)i);
		check(cdp_op_data(op, fids[i], 0, block, 4096), "data");
		a = attr(S_IFREG | 0644, 4096);
		check(cdp_op_attr(op, fids[i], &a, NULL), "attr");
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		check(cdp_op_dirent(op, dir, name, fids[i], S_IFREG), "dirent");
		check(cdp_op_commit(op, NULL, NULL), "commit");
	}
	check(cdp_journal_root_ready(j, root, data), "ready");
	check(cdp_journal_sync(j), "sync");
	check(cdp_view_open(s, "bench", CDP_TS_LATEST, &v1), "view");
	for (i = 0; pct && i < nfiles; i += 100 / pct) {
		check(cdp_op_new(j, &op), "op");
		snprintf(block, 32, "changed %llu", (unsigned long long)i);
		check(cdp_op_data(op, fids[i], 0, block, 4096), "data");
		a = attr(S_IFREG | (i % 3 ? 0644 : 0600), 4096);
		check(cdp_op_attr(op, fids[i], &a, NULL), "attr");
		check(cdp_op_commit(op, NULL, NULL), "commit");
	}
	/* the file of many versions, among writes of others */
	hot = fids[nfiles / 2];
	for (i = 0; i < 2 * nver; i++) {
		fid = i % 2 ? hot : fids[(i * 7919) % nfiles];
		check(cdp_op_new(j, &op), "op");
		snprintf(block, 32, "version %llu", (unsigned long long)i);
		check(cdp_op_data(op, fid, 0, block, 4096), "data");
		a = attr(S_IFREG | 0644, 4096);
		check(cdp_op_attr(op, fid, &a, NULL), "attr");
		check(cdp_op_commit(op, NULL, NULL), "commit");
	}
	check(cdp_journal_sync(j), "sync");
	check(cdp_view_open(s, "bench", CDP_TS_LATEST, &v2), "view");
	t0 = now_s();
	check(cdp_diff(v1, v2, "/data", count_change, &changes), "diff");
	diff_s = now_s() - t0;
	snprintf(name, sizeof(name), "/data/d%llu/f%llu", (unsigned long long)(nfiles / 2 / 1000),
		 (unsigned long long)(nfiles / 2));
	t0 = now_s();
	check(cdp_file_log(s, "bench", name, 0, CDP_SEQ_LATEST, &fid, count_version, &versions),
	      "log");
	log_s = now_s() - t0;
	printf("{\"files\": %llu, \"changed_pct\": %llu, \"changes\": %llu, \"diff_s\": %.3f, "
	       "\"versions\": %llu, \"log_s\": %.3f}\n", (unsigned long long)nfiles,
	       (unsigned long long)pct, (unsigned long long)changes, diff_s,
	       (unsigned long long)versions, log_s);
	cdp_view_free(v1);
	cdp_view_free(v2);
	cdp_journal_close(j);
	cdp_store_close(s);
	free(fids);
	return 0;
}
