/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * retain_speed - prune and gc of a store of a given size, for the targets
 * of issue 15.  The store is built here through the journal (no capture,
 * no FUSE): NVERSIONS block versions of 8 KiB, every block rewritten in
 * ROUNDS rounds (default 10, so that keeping the newest state only leaves
 * 90% of the versions garbage), each version of its own content (half
 * random, half a pattern: zstd has work to do), by a child process.  Then
 * another child
 * opens the store as a writer, prunes the host to its newest state and
 * collects with threshold 0, while a thread of the parent walks the
 * store's directory every 50 ms for the disk it takes; the child's peak RSS
 * comes from wait4.  Prints one JSON object:
 *   versions, chunks, prune_s, gc_s, versions_per_s (prune + gc),
 *   peak_rss_bytes (of the prune + gc process), store_bytes_before,
 *   store_bytes_after, peak_extra_bytes (the most the store took above its
 *   size before), segment_bytes (the biggest segment file: the target's
 *   "one segment"), unreferenced_bytes (the records of removed chunks),
 *   reclaimed_ratio (store bytes given back / unreferenced_bytes).
 * Usage: retain_speed STORE_DIR [NVERSIONS [ROUNDS]]
 *   (defaults 100000 10; STORE_DIR must be missing or empty)
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "retain.h"
#include "store.h"

#define BLOCK 8192
#define FILE_BLOCKS 8

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void check(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "retain_speed: %s: %s\n", what, cdp_strerror(ret));
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

/* Bytes the files under path take on disk (st_blocks). */
static uint64_t tree_bytes(const char *path)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	uint64_t sum = 0;
	DIR *d = opendir(path);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			sum += tree_bytes(sub);
		else
			sum += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

static uint64_t biggest_segment(const char *store)
{
	char dir[PATH_MAX], f[PATH_MAX + 256];
	struct dirent *de;
	struct stat st;
	uint64_t big = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/segments", store);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		snprintf(f, sizeof(f), "%s/%s", dir, de->d_name);
		if (stat(f, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > big)
			big = (uint64_t)st.st_size;
	}
	closedir(d);
	return big;
}

struct sampler {
	const char *store;
	volatile int stop;
	uint64_t peak;
};

static void *sample_main(void *arg)
{
	struct sampler *sm = arg;
	uint64_t b;

	while (!sm->stop) {
		b = tree_bytes(sm->store);
		if (b > sm->peak)
			sm->peak = b;
		usleep(50000);
	}
	return NULL;
}

static void build(const char *dir, uint64_t nversions, uint64_t rounds)
{
	uint64_t nfiles = nversions / rounds / FILE_BLOCKS, *fids, data, i, r, x = 88172645463325252ULL;
	struct cdp_store *s;
	struct cdp_journal *j;
	struct cdp_op *op;
	struct cdp_attr a;
	uint32_t root;
	int resuming;
	size_t k;
	char name[64];
	uint8_t *buf = malloc(BLOCK * FILE_BLOCKS);

	if (!nfiles)
		nfiles = 1;
	fids = calloc(nfiles, sizeof(*fids));
	if (!buf || !fids)
		check(-ENOMEM, "memory");
	check(cdp_store_open(dir, CDP_STORE_CREATE, NULL, &s), "open");
	check(cdp_journal_open(s, "bench", &j), "journal");
	check(cdp_journal_root_begin(j, "/data", &root, &resuming), "root");
	check(cdp_journal_new_fid(j, &data), "fid");
	check(cdp_op_new(j, &op), "op");
	a = attr(S_IFDIR | 0755, 0);
	check(cdp_op_attr(op, data, &a, NULL), "attr");
	check(cdp_op_dirent(op, CDP_ROOT_FID, "data", data, S_IFDIR), "dirent");
	check(cdp_op_commit(op, NULL, NULL), "commit");
	for (i = 0; i < nfiles; i++) {
		check(cdp_journal_new_fid(j, &fids[i]), "fid");
		check(cdp_op_new(j, &op), "op");
		a = attr(S_IFREG | 0644, BLOCK * FILE_BLOCKS);
		check(cdp_op_attr(op, fids[i], &a, NULL), "attr");
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		check(cdp_op_dirent(op, data, name, fids[i], S_IFREG), "dirent");
		check(cdp_op_commit(op, NULL, NULL), "commit");
	}
	check(cdp_journal_root_ready(j, root, data), "ready");
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nfiles; i++) {
			/* each block: 4 KiB of xorshift, 4 KiB of a stamped pattern */
			for (k = 0; k < FILE_BLOCKS; k++) {
				uint8_t *b = buf + k * BLOCK;
				size_t o;

				for (o = 0; o < BLOCK / 2; o += 8) {
					x ^= x << 13;
					x ^= x >> 7;
					x ^= x << 17;
					memcpy(b + o, &x, 8);
				}
				memset(b + BLOCK / 2, (int)('a' + r % 26), BLOCK / 2);
				snprintf((char *)b + BLOCK / 2, 64, "round %llu file %llu block %zu",
					 (unsigned long long)r, (unsigned long long)i, k);
			}
			check(cdp_op_new(j, &op), "op");
			check(cdp_op_data(op, fids[i], 0, buf, BLOCK * FILE_BLOCKS), "data");
			check(cdp_op_commit(op, NULL, NULL), "commit");
		}
	}
	check(cdp_journal_sync(j), "sync");
	cdp_journal_close(j);
	cdp_store_close(s);
	free(fids);
	free(buf);
}

/* The child: prune to the newest state, gc at threshold 0; its figures go
 * to fd as one line. */
static int prune_and_gc(const char *dir, int fd)
{
	struct cdp_keep_rule rule = { .age_ns = 1, .every_ns = 0 };
	struct cdp_prune_options po = { .rules = &rule, .nrules = 1 };
	struct cdp_prune_result pr;
	struct cdp_gc_result gr;
	struct cdp_store *s;
	double t0, prune_s, gc_s;

	check(cdp_store_open(dir, CDP_STORE_WRITE, NULL, &s), "open for the prune");
	t0 = now_s();
	check(cdp_store_prune(s, "bench", &po, &pr), "prune");
	prune_s = now_s() - t0;
	t0 = now_s();
	check(cdp_store_gc(s, 0.0, &gr), "gc");
	gc_s = now_s() - t0;
	cdp_store_close(s);
	dprintf(fd, "%llu %llu %llu %llu %.3f %.3f\n", (unsigned long long)pr.versions_seen,
		(unsigned long long)pr.versions_removed, (unsigned long long)gr.chunks,
		(unsigned long long)gr.bytes_unreferenced, prune_s, gc_s);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t nversions = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
	uint64_t rounds = argc > 3 ? strtoull(argv[3], NULL, 10) : 10;
	unsigned long long seen, removed, chunks, unref;
	uint64_t before, after, seg;
	struct sampler sm = { 0 };
	struct rusage ru;
	pthread_t th;
	double prune_s, gc_s;
	char line[512];
	int pfd[2], status;
	ssize_t n;
	pid_t pid;
	FILE *in;

	if (argc < 2 || !rounds) {
		fprintf(stderr, "usage: retain_speed STORE_DIR [NVERSIONS [ROUNDS]]\n");
		return 2;
	}
	cdp_log_init("retain_speed", 0, 3);
	/* RocksDB's default environment keeps its thread pool across a fork
	 * without the threads: a child of a process that used it waits for
	 * flushes forever.  Every use of the store is in a child. */
	pid = fork();
	if (pid < 0)
		check(-errno, "fork");
	if (pid == 0) {
		build(argv[1], nversions, rounds);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		check(-ECHILD, "the process that builds the store");
	before = tree_bytes(argv[1]);
	seg = biggest_segment(argv[1]);
	if (pipe(pfd) < 0)
		check(-errno, "pipe");
	sm.store = argv[1];
	sm.peak = before;
	/* fork before the sampler thread exists: the child is single-threaded */
	pid = fork();
	if (pid < 0)
		check(-errno, "fork");
	if (pid == 0) {
		close(pfd[0]);
		_exit(prune_and_gc(argv[1], pfd[1]));
	}
	close(pfd[1]);
	if (pthread_create(&th, NULL, sample_main, &sm) != 0)
		check(-EAGAIN, "thread");
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		check(-ECHILD, "the prune and gc process");
	sm.stop = 1;
	pthread_join(th, NULL);
	in = fdopen(pfd[0], "r");
	n = in && fgets(line, sizeof(line), in) ? (ssize_t)strlen(line) : 0;
	if (n <= 0 || sscanf(line, "%llu %llu %llu %llu %lf %lf", &seen, &removed, &chunks, &unref,
			     &prune_s, &gc_s) != 6)
		check(-EPROTO, "the figures of the prune and gc process");
	fclose(in);
	after = tree_bytes(argv[1]);
	printf("{\"versions\": %llu, \"versions_removed\": %llu, \"chunks\": %llu, "
	       "\"prune_s\": %.3f, \"gc_s\": %.3f, \"versions_per_s\": %.0f, "
	       "\"peak_rss_bytes\": %llu, \"store_bytes_before\": %llu, "
	       "\"store_bytes_after\": %llu, \"peak_extra_bytes\": %llu, \"segment_bytes\": %llu, "
	       "\"unreferenced_bytes\": %llu, \"reclaimed_ratio\": %.3f}\n", seen, removed, chunks,
	       prune_s, gc_s, prune_s + gc_s > 0 ? (double)seen / (prune_s + gc_s) : 0,
	       (unsigned long long)ru.ru_maxrss * 1024, (unsigned long long)before,
	       (unsigned long long)after,
	       (unsigned long long)(sm.peak > before ? sm.peak - before : 0),
	       (unsigned long long)seg, unref,
	       unref ? (double)(before > after ? before - after : 0) / (double)unref : 0);
	return 0;
}
