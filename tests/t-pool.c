/*
 * t-pool.c - the worker pool of lib/pool.c: every item of a run is taken
 * exactly once, by threads 0..T-1, for several T and many runs in a row;
 * NULL (T < 2) runs on the caller.
 */
#include <stdio.h>
#include <string.h>

#include "pool.h"
#include "tap.h"

#define NITEM 1000

struct run {
	struct mm_pool *p;
	int T, next;
	int taken[NITEM];          /* how often each item was taken */
	int by[NITEM];             /* and by which thread */
	int bad_tid;
};

/* Items are disjoint, so each slot is written by one thread only. */
static void
work(void *arg, int tid)
{
	struct run *r = arg;
	int i;

	if (tid < 0 || tid >= r->T)
		r->bad_tid = 1;
	while ((i = mm_pool_next(r->p, &r->next)) < NITEM) {
		r->taken[i]++;
		r->by[i] = tid;
	}
}

static void
test_pool(int T)
{
	static struct run r;
	int k, i, once = 1, used[16] = { 0 }, nused = 0;

	memset(&r, 0, sizeof r);
	r.p = mm_pool_new(T);
	r.T = mm_pool_threads(r.p);
	ok(T < 2 ? r.p == NULL && r.T == 1 : r.p != NULL && r.T == T,
	    "T=%d: a pool of %d threads", T, r.T);
	for (k = 0; k < 50; k++) {
		r.next = 0;
		memset(r.taken, 0, sizeof r.taken);
		mm_pool_run(r.p, work, &r);
		for (i = 0; i < NITEM; i++) {
			once &= r.taken[i] == 1;
			if (r.by[i] >= 0 && r.by[i] < 16 && !used[r.by[i]]++)
				nused++;
		}
	}
	ok(once, "T=%d: every item taken exactly once in 50 runs", T);
	ok(!r.bad_tid && nused >= 1 && nused <= r.T,
	    "T=%d: thread ids in 0..%d (%d took items)", T, r.T - 1, nused);
	mm_pool_free(r.p);
}

int
main(void)
{
	int T;

	for (T = 0; T <= 4; T++)
		test_pool(T);
	test_pool(16);
	ok(mm_pool_threads(NULL) == 1, "no pool: one thread");
	mm_pool_free(NULL);
	return done_testing();
}
