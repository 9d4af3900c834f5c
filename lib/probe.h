/*
 * probe.h - linear probes: how much of a factor a representation carries.
 *
 * A probe standardises the training embeddings (mean and population std of
 * the training set; zero-variance columns are left unscaled, as
 * scikit-learn's StandardScaler does), fits a multinomial logistic
 * regression with an L2 penalty on the weights only, and measures on the
 * test set the cross-entropy CE, MI = ln K - CE, nMI = MI / ln K and the
 * accuracy.  The fit minimises, like scikit-learn 1.2's
 * LogisticRegression(multi_class="multinomial", solver="lbfgs"),
 *
 *     sum_i -ln softmax(W x_i + b)[y_i]  +  0.5 / C * ||W||^2
 *
 * (a sum over samples, not a mean; the intercept b is not penalised) with
 * L-BFGS as scipy's L-BFGS-B runs it on an unbounded problem: memory 10,
 * Moré-Thuente line search (ftol 1e-3, gtol 0.9, xtol 0.1, first step
 * 1/|g|), stop when max|g| <= tol, when the relative decrease of the
 * objective falls to 2.2e-9, or after max_iter iterations.
 *
 * The model only knows the classes seen in training, like scikit-learn's.
 */
#ifndef MM_PROBE_H
#define MM_PROBE_H

#include <stdint.h>
#include <stdio.h>

#include "meta.h"

/* ---- L-BFGS (scipy's L-BFGS-B without bounds) ---- */

/* Objective: f(x) and its gradient g (n) at x (n); returns 0 or < 0. */
typedef int (*mm_lbfgs_fn)(void *ctx, const double *x, double *f, double *g);

struct mm_lbfgs_opts {
	int memory;       /* corrections kept (scipy maxcor, 10) */
	int max_iter;     /* iterations (scipy maxiter) */
	int max_ls;       /* evaluations per line search (scipy maxls, 20) */
	double gtol;      /* stop when max |g_i| <= gtol (scipy pgtol) */
	double ftol;      /* stop when (f_old - f) / max(|f_old|, |f|, 1) <= ftol */
};
void mm_lbfgs_defaults(struct mm_lbfgs_opts *o);  /* 10, 15000, 20, 1e-5, 2.22e-9 */

enum mm_lbfgs_status {
	MM_LBFGS_GTOL = 0,     /* gradient small enough */
	MM_LBFGS_FTOL = 1,     /* relative decrease small enough */
	MM_LBFGS_MAXITER = 2,  /* iteration limit reached */
	MM_LBFGS_ABNORMAL = 3  /* the line search failed at a fresh start */
};
struct mm_lbfgs_result {
	int iters, nfev;
	enum mm_lbfgs_status status;
	double f;         /* objective at the returned x */
	double gmax;      /* max |g_i| there */
};
/* The same minimiser driven by its caller (reverse communication), so that
 * several problems can share their evaluations:
 *     rc = mm_lbfgs_start(&s, n, x, &opts);
 *     while (rc == 1) {
 *             s.f = f(s.x); s.g[] = grad f(s.x);
 *             rc = mm_lbfgs_next(&s);
 *     }
 *     (rc 0: finished, s.res; rc < 0: error)  mm_lbfgs_free(&s);
 * x is the caller's array: it holds the point to evaluate and, at the end,
 * the result. */
struct mm_lbfgs_ls {            /* line search state (private) */
	int brackt, stage;
	double ftol, gtol, xtol, stpmin, stpmax;
	double ginit, gtest, gx, gy, finit, fx, fy, stx, sty, stmin, stmax;
	double width, width1;
};
struct mm_lbfgs_state {
	double *x;                /* evaluate f and g at x (n) ... */
	double f;                 /* ... and store them here */
	double *g;                /* (n) */
	struct mm_lbfgs_result res;  /* when finished */
	/* private */
	int n, m, phase, col, head, iter, nfev, nls;
	struct mm_lbfgs_opts o;
	double *buf, *d, *t, *r, *S, *Y, *rho, *alpha;
	double theta, fold, gd, gdold, stp;
	struct mm_lbfgs_ls ls;
};
/* 1 (evaluate at s->x) or MM_ENOMEM. */
int mm_lbfgs_start(struct mm_lbfgs_state *s, int n, double *x,
    const struct mm_lbfgs_opts *o);
/* After f and g were stored: 1 (evaluate again), 0 (finished), MM_ENUM. */
int mm_lbfgs_next(struct mm_lbfgs_state *s);
void mm_lbfgs_free(struct mm_lbfgs_state *s);

/* Minimise fn from x (n, updated in place).  Returns 0 (whatever the
 * status), MM_ENOMEM, MM_ENUM when f or g is not finite, or fn's error. */
int mm_lbfgs(int n, double *x, mm_lbfgs_fn fn, void *ctx,
    const struct mm_lbfgs_opts *o, struct mm_lbfgs_result *res);

/* ---- standardisation ---- */

struct mm_scaler {
	int D;
	double *mean;     /* (D) */
	double *scale;    /* (D) population std, 1 for near-constant columns */
};
void mm_scaler_init(struct mm_scaler *s);
void mm_scaler_free(struct mm_scaler *s);
/* Fit on X (N, D). */
int mm_scaler_fit(struct mm_scaler *s, const float *X, int64_t N, int D);
/* out (N, D) = (X - mean) / scale; out may equal X. */
void mm_scaler_apply(const struct mm_scaler *s, const float *X, int64_t N,
    float *out);

/* ---- multinomial logistic regression ---- */

struct mm_probe_opts {
	double C;         /* inverse L2 strength (1) */
	int max_iter;     /* 100 */
	double tol;       /* 1e-4 */
};
void mm_probe_defaults(struct mm_probe_opts *o);

struct mm_logreg {
	int D;            /* features */
	int K;            /* classes seen in training */
	int *classes;     /* (K) their labels, ascending */
	double *W;        /* (K, D + 1): weights, then the intercept */
	struct mm_lbfgs_result fit;
};
void mm_logreg_init(struct mm_logreg *m);
void mm_logreg_free(struct mm_logreg *m);
/* Fit on X (N, D) (already standardised) and labels y (N) >= 0.  At least
 * two distinct labels are needed (MM_EINVAL otherwise). */
int mm_logreg_fit(struct mm_logreg *m, const float *X, const int32_t *y,
    int64_t N, int D, const struct mm_probe_opts *o);
/* The objective above at W (K, D+1) and its gradient (K*(D+1), may be
 * NULL), computed the way mm_logreg_fit computes it (dgemm, libm's exp).  y holds class indices in [0, K).
 * NaN when out of memory. */
double mm_logreg_objective(const double *W, const float *X,
    const int32_t *y, int64_t N, int D, int K, double C, double *grad);

/* Test figures of one probe. */
struct mm_probe_result {
	int K;            /* cardinality of the factor */
	int Kseen;        /* classes present in the training labels */
	double lnK, ce, mi, nmi, acc;
	int iters;
	int converged;    /* 1: the fit stopped on its tolerance (gradient or
	                     relative decrease); 0: at max_iter or on a failed
	                     line search (scikit-learn's ConvergenceWarning) */
	int64_t unseen;   /* test rows whose class never occurs in training */
	int status;       /* mm_probe_many: MM_EINVAL when the training rows
	                     hold one class (not fitted, no figures) */
};
/* A row of a class unseen in training has probability 0 for its class:
 * its cross-entropy term is clipped at -ln(1e-15) (as
 * sklearn.metrics.log_loss clips) and it counts as a wrong prediction. */
#define MM_PROBE_CE_CLIP 34.538776394910684
/* Standardise, fit and evaluate one factor.  Xtr (Ntr, D), ytr (Ntr) in
 * [0, K), likewise the test set.  K >= 2 and two distinct training labels
 * are required (MM_EINVAL with a detail otherwise). */
int mm_probe_run(const float *Xtr, const int32_t *ytr, int64_t Ntr,
    const float *Xte, const int32_t *yte, int64_t Nte, int D, int K,
    const struct mm_probe_opts *o, struct mm_probe_result *r);

/* Several factors of one representation at once: Xtr (Ntr, D) and Xte
 * (Nte, D) with nj label vectors ytr[j] (Ntr), yte[j] (Nte) in [0, K[j]).
 * The standardisation is shared and the fits run in lockstep, so that one
 * pass over the data per step serves every factor (the fused kernels of
 * probe-kern.h; a dgemm pair per factor where the processor lacks AVX2); each
 * fit follows the path it would follow alone.  A factor whose
 * training rows hold one class gets r[j].status = MM_EINVAL; other bad
 * input fails the call. */
int mm_probe_many(const float *Xtr, int64_t Ntr, const float *Xte,
    int64_t Nte, int D, int nj, const int32_t *const *ytr,
    const int32_t *const *yte, const int *K, const struct mm_probe_opts *o,
    struct mm_probe_result *r);

/* ---- the probes of an embedding table (mmib-probe) ---- */

struct mm_emb;

/* Modalities: 0 is z_img, 1 is z_fac. */
#define MM_PROBE_NMOD 2
extern const char *const mm_probe_modname[MM_PROBE_NMOD];  /* "img", "fac" */

/* One fitted probe: which modality and factor, and its figures
 * (r.status < 0: the training rows hold one class; no figures). */
struct mm_probe_fit {
	int mod;
	int factor;       /* index into the table's factors */
	int essence;      /* the factor's role */
	struct mm_probe_result r;
};
/* Probe every factor f with want[f] in every modality m with use[m],
 * training on tr and testing on te (tables that mm_emb_match), one
 * mm_probe_many() per modality, on up to threads threads.  fits
 * (MM_PROBE_NMOD * F) receives them in modality then factor order; returns
 * their count, or an error whose detail starts with the modality name. */
int mm_probe_emb(const struct mm_emb *tr, const struct mm_emb *te,
    const int *use, const int *want, const struct mm_probe_opts *o,
    int threads, struct mm_probe_fit *fits);

/* The group rows: for each modality (in order) and role (essence, then
 * nuisance) among the fitted probes (r.status == 0), the sums of lnK, ce
 * and mi over the n factors, nmi = mi / lnK of the sums, and acc the mean
 * accuracy.  g holds up to 2 * MM_PROBE_NMOD; returns the count. */
struct mm_probe_group {
	int mod, essence, n;
	double lnK, ce, mi, nmi, acc;
};
int mm_probe_groups(const struct mm_probe_fit *fits, int nfit,
    struct mm_probe_group *g);

/* ---- factors whose classes are not equally frequent ----
 * nMI = MI / H(factor) with H = ln K assumes a uniform marginal, true of
 * the full factorial grids.  A stream whose metadata says
 * marginals=measured (a user's own dataset, mmib-gen) gets instead the
 * empirical entropy of the test labels, H = -sum_k p_k ln p_k with p_k
 * the share of test rows of class k: MI = H - CE, nMI = MI / H, and
 * lnK of the result holds H.  A stream without the key (the built-in
 * grids) is left as it was. */
/* H of labels y (N) in [0, K), in nats. */
double mm_probe_entropy(const int32_t *y, int64_t N, int K);
/* When te's metadata says marginals=measured, put the entropy of its
 * test labels in place of ln K in every fitted probe of fits (n) and
 * return 1; else change nothing and return 0.  MM_EMISSING when te has
 * no classes, MM_ENOMEM. */
int mm_probe_measured(const struct mm_emb *te, struct mm_probe_fit *fits,
    int n);

#endif
