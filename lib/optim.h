/*
 * optim.h - optimisers over flat float arrays, as PyTorch 1.13 defines
 * them, and the StepLR schedule.
 *
 * One optimiser holds the moments of n parameters; a model with several
 * parameter blocks calls mm_optim_begin() once per step and then
 * mm_optim_update() for each block with its offset into the moments.
 *   adam:  g += wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *          p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 *   adamw: p *= 1 - lr wd, then adam without the g += wd p
 *   sgd:   g += wd p; buf = g (first step) or momentum buf + g;
 *          p -= lr buf (plain g when momentum is 0)
 * Betas 0.9 / 0.999, eps 1e-8 unless changed in the struct.
 * An update of many parameters runs on as many threads as the BLAS had
 * at mm_optim_init() (mm_blas_threads()); each element's result is the
 * same on any number of threads.
 */
#ifndef MM_OPTIM_H
#define MM_OPTIM_H

#include <stddef.h>
#include <stdint.h>

struct mm_pool;

enum { MM_OPT_ADAM = 0, MM_OPT_ADAMW = 1, MM_OPT_SGD = 2 };

struct mm_optim {
	int kind;
	size_t n;
	double lr, beta1, beta2, eps, weight_decay, momentum;
	int64_t step;              /* steps taken (t of the bias corrections) */
	float *m, *v;              /* (n) moments; sgd uses m as its buffer */
	struct mm_pool *pool;      /* threads of mm_optim_update, or NULL */
};

const char *mm_optim_name(int kind);
int mm_optim_parse(const char *s);   /* -1 if unknown */

int mm_optim_init(struct mm_optim *o, int kind, size_t n, double lr,
    double weight_decay, double momentum);
void mm_optim_free(struct mm_optim *o);
/* Start a step: t += 1. */
void mm_optim_begin(struct mm_optim *o);
/* Update p (n) from g (n) using moments [off, off + n). */
void mm_optim_update(struct mm_optim *o, size_t off, float *p,
    const float *g, size_t n);

/* StepLR: lr0 * gamma^(epoch / step_size), epoch counted from 0. */
double mm_steplr(double lr0, int epoch, int step_size, double gamma);

#endif
