/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * workpool.c - a few threads that run one function over the indices of an
 * array in parallel: the journal writer hashes and compresses a group's
 * blocks with it, so that ingest uses every core while the application's
 * write path only copies bytes.
 *
 * cdp_work_pool_run() hands out indices one by one from a shared counter (the
 * items are 8 KiB blocks of similar cost, so no finer balancing is needed)
 * and returns once every index is done.  The calling thread takes part, so
 * a pool of N threads starts N - 1 helpers, and a pool of one runs
 * everything in the caller.  Each call of the function is told which
 * thread runs it (0 the caller, 1..N-1 the helpers), so that callers can
 * keep per-thread scratch space without locks.  Only one run is in flight at a time: the pool
 * belongs to the writer thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "store_int.h"

struct work_pool {
	pthread_mutex_t lock;
	pthread_cond_t start_cond, done_cond;
	pthread_t *threads;
	struct work_helper *helpers;
	unsigned nthreads;       /* helpers started */
	/* everything below protected by lock */
	uint64_t generation;     /* bumped by each run */
	int stop;
	size_t n, next;          /* items of the current run, next to hand out */
	size_t busy;             /* helpers inside the current run */
	work_fn *fn;
	void *arg;
};

struct work_helper {
	struct work_pool *pool;
	unsigned id;
};

/* Takes indices until none are left; called with p->lock held. */
static void work_take(struct work_pool *p, unsigned id)
{
	size_t i;

	while (p->next < p->n) {
		i = p->next++;
		pthread_mutex_unlock(&p->lock);
		p->fn(p->arg, i, id);
		pthread_mutex_lock(&p->lock);
	}
}

static void *work_main(void *arg)
{
	struct work_helper *me = arg;
	struct work_pool *p = me->pool;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->generation == seen)
			pthread_cond_wait(&p->start_cond, &p->lock);
		if (p->stop)
			break;
		seen = p->generation;
		p->busy++;
		work_take(p, me->id);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done_cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

unsigned cdp_work_pool_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > 4 ? 4 : (unsigned)n;
}

int cdp_work_pool_new(unsigned nthreads, struct work_pool **out)
{
	struct work_pool *p = calloc(1, sizeof(*p));
	unsigned i;
	int ret;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->start_cond, NULL);
	pthread_cond_init(&p->done_cond, NULL);
	if (nthreads > 1) {
		p->threads = calloc(nthreads - 1, sizeof(*p->threads));
		p->helpers = calloc(nthreads - 1, sizeof(*p->helpers));
		if (!p->threads || !p->helpers) {
			cdp_work_pool_free(p);
			return -ENOMEM;
		}
	}
	for (i = 0; i + 1 < nthreads; i++) {
		p->helpers[i].pool = p;
		p->helpers[i].id = i + 1;
		ret = pthread_create(&p->threads[i], NULL, work_main, &p->helpers[i]);
		if (ret) {
			/* fewer helpers is still a working pool */
			cdp_log(LOG_WARNING, "cannot start hashing thread: %s", cdp_strerror(-ret));
			break;
		}
		p->nthreads++;
	}
	*out = p;
	return 0;
}

void cdp_work_pool_free(struct work_pool *p)
{
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->start_cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	free(p->helpers);
	pthread_cond_destroy(&p->start_cond);
	pthread_cond_destroy(&p->done_cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

unsigned cdp_work_pool_threads(const struct work_pool *p)
{
	return p->nthreads + 1;
}

void cdp_work_pool_run(struct work_pool *p, size_t n, work_fn *fn, void *arg)
{
	size_t i;

	if (!p->nthreads || n < 2) {
		for (i = 0; i < n; i++)
			fn(arg, i, 0);
		return;
	}
	pthread_mutex_lock(&p->lock);
	p->fn = fn;
	p->arg = arg;
	p->n = n;
	p->next = 0;
	p->generation++;
	pthread_cond_broadcast(&p->start_cond);
	work_take(p, 0);
	/* every index is handed out; wait for the helpers still working */
	while (p->busy)
		pthread_cond_wait(&p->done_cond, &p->lock);
	p->fn = NULL;
	p->arg = NULL;
	pthread_mutex_unlock(&p->lock);
}
