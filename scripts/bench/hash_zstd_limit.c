/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hash_zstd_limit - the ingest ceiling of the journal writer on this machine:
 * how many MB/s of incompressible 8 KiB blocks one core (and N cores) can
 * take through SHA-256 plus zstd level 1, using the store's own functions
 * (cdp_hash() and cdp_chunk_compress() from libcdpstore.a), so the figure moves
 * with the library the capture daemon really runs.
 *
 * Usage: hash_zstd_limit [MIB [THREADS]]   (defaults 512 MiB per pass, 2)
 * Prints one JSON object on stdout: sha256_MBps and zstd1_MBps (one core,
 * each alone), both_1core_MBps (hash then compress, one core) and
 * both_Ncore_MBps with its thread count.  MB is 10^6 bytes.
 *
 * Caveat: the data is a pseudo-random buffer of 64 MiB cycled over, so it
 * fits in no cache level but is read from memory, as the writer reads the
 * queued blocks; it is incompressible, so zstd gives up early on each block
 * and stores it raw, as the writer does.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "store_test.h"

#define BLOCK_BYTES 8192
#define BUFFER_BYTES (64u << 20)

enum work {
	WORK_HASH = 1,
	WORK_COMPRESS = 2,
};

struct pass {
	const unsigned char *data;  /* BUFFER_BYTES of pseudo-random bytes */
	uint64_t bytes;             /* this thread's share */
	uint64_t first_block;       /* where in the buffer it starts */
	unsigned work;              /* enum work bits */
	int rc;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *pass_main(void *arg)
{
	struct pass *p = arg;
	uint64_t nblocks = BUFFER_BYTES / BLOCK_BYTES, i, n = p->bytes / BLOCK_BYTES;
	unsigned char out[BLOCK_BYTES + 1024];
	uint8_t hash[CDP_HASH_BYTES];
	volatile uint8_t sink = 0;

	for (i = 0; i < n; i++) {
		const unsigned char *blk = p->data + ((p->first_block + i) % nblocks) * BLOCK_BYTES;
		int zstd;

		if (p->work & WORK_HASH) {
			cdp_hash(blk, BLOCK_BYTES, hash);
			sink ^= hash[0];
		}
		if ((p->work & WORK_COMPRESS) &&
		    cdp_chunk_compress(blk, BLOCK_BYTES, out, sizeof(out), &zstd) < 0) {
			p->rc = -ENOBUFS;
			break;
		}
	}
	(void)sink;
	return NULL;
}

/* Runs threads passes of bytes each over data; returns MB/s over all. */
static double run(const unsigned char *data, uint64_t bytes, unsigned work, int threads)
{
	pthread_t tid[64];
	struct pass p[64];
	double t0, t1;
	int i;

	t0 = now_s();
	for (i = 0; i < threads; i++) {
		p[i] = (struct pass){ data, bytes, (uint64_t)i * 1031, work, 0 };
		if (pthread_create(&tid[i], NULL, pass_main, &p[i]) != 0) {
			fprintf(stderr, "cdpfs-bench: cannot start a thread: %s\n", strerror(errno));
			exit(1);
		}
	}
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	t1 = now_s();
	for (i = 0; i < threads; i++) {
		if (p[i].rc < 0) {
			fprintf(stderr, "cdpfs-bench: compressing a block failed: %s\n",
				strerror(-p[i].rc));
			exit(1);
		}
	}
	return (double)bytes * threads / (t1 - t0) / 1e6;
}

int main(int argc, char **argv)
{
	uint64_t bytes = (argc > 1 ? strtoull(argv[1], NULL, 10) : 512) << 20;
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	unsigned char *data;
	uint64_t x = 0x9e3779b97f4a7c15ull, i;
	double sha, zstd, both1, bothn;

	if (threads < 1 || threads > 64 || bytes < BLOCK_BYTES) {
		fprintf(stderr, "usage: hash_zstd_limit [MIB [THREADS (1-64)]]\n");
		return 2;
	}
	data = malloc(BUFFER_BYTES);
	if (!data) {
		fprintf(stderr, "cdpfs-bench: cannot allocate %u bytes: out of memory\n",
			BUFFER_BYTES);
		return 1;
	}
	/* xorshift64*: incompressible to zstd, cheap to make */
	for (i = 0; i < BUFFER_BYTES / 8; i++) {
		uint64_t v;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		v = x * 0x2545f4914f6cdd1dull;
		memcpy(data + i * 8, &v, 8);
	}
	run(data, 16u << 20, WORK_HASH | WORK_COMPRESS, 1);   /* warm up */
	sha = run(data, bytes, WORK_HASH, 1);
	zstd = run(data, bytes, WORK_COMPRESS, 1);
	both1 = run(data, bytes, WORK_HASH | WORK_COMPRESS, 1);
	bothn = run(data, bytes, WORK_HASH | WORK_COMPRESS, threads);
	printf("{\"block_bytes\": %d, \"pass_bytes\": %llu, \"sha256_MBps\": %.1f, "
	       "\"zstd1_MBps\": %.1f, \"both_1core_MBps\": %.1f, \"threads\": %d, "
	       "\"both_Ncore_MBps\": %.1f}\n", BLOCK_BYTES, (unsigned long long)bytes, sha,
	       zstd, both1, threads, bothn);
	free(data);
	return 0;
}
