/* pool.c - persistent worker threads (pool.h). */
#include <pthread.h>
#include <stdlib.h>

#include "pool.h"

struct mm_pool {
	int T, quit, pending;
	unsigned gen;              /* run number: a worker waits for a new one */
	mm_pool_fn fn;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	pthread_t th[];            /* (T - 1) */
};

struct worker_arg {
	struct mm_pool *p;
	int tid;
};

static void *
worker(void *arg)
{
	struct mm_pool *p = ((struct worker_arg *)arg)->p;
	int tid = ((struct worker_arg *)arg)->tid;
	unsigned seen = 0;

	free(arg);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		p->fn(p->arg, tid);
		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Stop the pool with its first started workers running. */
static void
stop(struct mm_pool *p, int started)
{
	int i;

	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < started; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p);
}

struct mm_pool *
mm_pool_new(int T)
{
	struct mm_pool *p;
	struct worker_arg *a;
	int i;

	if (T < 2 || !(p = calloc(1, sizeof *p + (T - 1) * sizeof(pthread_t))))
		return NULL;
	p->T = T;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	for (i = 0; i < T - 1; i++) {
		if (!(a = malloc(sizeof *a)))
			break;
		a->p = p;
		a->tid = i + 1;
		if (pthread_create(&p->th[i], NULL, worker, a)) {
			free(a);
			break;
		}
	}
	if (i < T - 1) {
		stop(p, i);
		return NULL;
	}
	return p;
}

void
mm_pool_free(struct mm_pool *p)
{
	if (p)
		stop(p, p->T - 1);
}

int
mm_pool_threads(const struct mm_pool *p)
{
	return p ? p->T : 1;
}

void
mm_pool_run(struct mm_pool *p, mm_pool_fn fn, void *arg)
{
	if (!p) {
		fn(arg, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->pending = p->T - 1;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	fn(arg, 0);
	pthread_mutex_lock(&p->mu);
	while (p->pending)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

int
mm_pool_next(struct mm_pool *p, int *counter)
{
	int i;

	if (!p)
		return (*counter)++;
	pthread_mutex_lock(&p->mu);
	i = (*counter)++;
	pthread_mutex_unlock(&p->mu);
	return i;
}
