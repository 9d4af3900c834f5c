/*
 * pool.h - a small pool of persistent worker threads: mm_pool_run() calls
 * fn(arg, tid) on every thread (tid 0 is the caller, 1..T-1 the workers)
 * and returns when all have finished.  Work inside a run is shared out
 * with mm_pool_next(), which hands out the items 0, 1, 2, ... of a counter
 * in turn, so a thread slowed by other work on its core takes fewer; a
 * caller that makes each item's result independent of the thread that
 * computes it gets results independent of T and of timing.
 *
 * Runs last milliseconds or more, so one mutex and two condition
 * variables are cheap enough.  A pool is driven from one thread at a time.
 */
#ifndef MM_POOL_H
#define MM_POOL_H

struct mm_pool;

typedef void (*mm_pool_fn)(void *arg, int tid);

/* T threads in all (T - 1 started here).  NULL when T < 2 or when a
 * thread or the memory could not be had: every function below accepts
 * NULL and then runs everything on the calling thread (T = 1). */
struct mm_pool *mm_pool_new(int T);
/* Stop and join the workers; p may be NULL. */
void mm_pool_free(struct mm_pool *p);
/* Threads of the pool: T, or 1 for NULL. */
int mm_pool_threads(const struct mm_pool *p);
/* fn(arg, tid) on each of the T threads; returns when all are done. */
void mm_pool_run(struct mm_pool *p, mm_pool_fn fn, void *arg);
/* The next item of *counter (post-increment under the pool's lock):
 * call it from fn until it returns the number of items. */
int mm_pool_next(struct mm_pool *p, int *counter);

#endif
