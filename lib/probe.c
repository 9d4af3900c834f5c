/*
 * probe.c - linear probes: standardisation, multinomial logistic
 * regression fitted by L-BFGS as scipy's L-BFGS-B runs it without bounds,
 * test cross-entropy / nMI / accuracy; and the embedding table reader.
 *
 * The objective is computed in float64, as scikit-learn computes it: the
 * factors of one representation are fitted in lockstep, so that one pass
 * over the data evaluates all of them with the fused kernels of
 * probe-kern.c (on a processor without AVX2, each probe takes a dgemm pair
 * instead).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "emb.h"
#include "err.h"
#include "pool.h"
#include "probe-kern.h"
#include "probe.h"
#include "stream.h"

/* ------------------------------------------------------------------ */
/* L-BFGS                                                              */
/* ------------------------------------------------------------------ */

void
mm_lbfgs_defaults(struct mm_lbfgs_opts *o)
{
	o->memory = 10;
	o->max_iter = 15000;
	o->max_ls = 20;
	o->gtol = 1e-5;
	o->ftol = 2.2204460492503131e-09;
}

/*
 * The Moré-Thuente line search (MINPACK-2 dcsrch/dcstep), the one
 * L-BFGS-B calls with ftol 1e-3, gtol 0.9, xtol 0.1.  Reverse
 * communication: ls_start() then ls_step() after each evaluation; both
 * return LS_FG (evaluate at *stp), LS_CONV or LS_WARN.
 */
enum { LS_FG, LS_CONV, LS_WARN };


static double
max3(double a, double b, double c)
{
	double m = a > b ? a : b;
	return m > c ? m : c;
}

/* One safeguarded step: update the interval (stx, sty) that brackets a
 * step satisfying the strong Wolfe conditions and pick the next trial
 * step from cubic and quadratic interpolants. */
static void
dcstep(double *stx, double *fx, double *dx, double *sty, double *fy,
    double *dy, double *stp, double fp, double dp, int *brackt,
    double stpmin, double stpmax)
{
	double sgnd = dp * (*dx / fabs(*dx));
	double theta, s, gamma, p, q, r, stpc, stpq, stpf;

	if (fp > *fx) {
		/* higher function value: the minimum is bracketed */
		theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
		s = max3(fabs(theta), fabs(*dx), fabs(dp));
		gamma = s * sqrt((theta / s) * (theta / s) -
		    (*dx / s) * (dp / s));
		if (*stp < *stx)
			gamma = -gamma;
		p = (gamma - *dx) + theta;
		q = ((gamma - *dx) + gamma) + dp;
		r = p / q;
		stpc = *stx + r * (*stp - *stx);
		stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) /
		    2.0) * (*stp - *stx);
		if (fabs(stpc - *stx) < fabs(stpq - *stx))
			stpf = stpc;
		else
			stpf = stpc + (stpq - stpc) / 2.0;
		*brackt = 1;
	} else if (sgnd < 0.0) {
		/* derivatives of opposite sign: bracketed */
		theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
		s = max3(fabs(theta), fabs(*dx), fabs(dp));
		gamma = s * sqrt((theta / s) * (theta / s) -
		    (*dx / s) * (dp / s));
		if (*stp > *stx)
			gamma = -gamma;
		p = (gamma - dp) + theta;
		q = ((gamma - dp) + gamma) + *dx;
		r = p / q;
		stpc = *stp + r * (*stx - *stp);
		stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
		if (fabs(stpc - *stp) > fabs(stpq - *stp))
			stpf = stpc;
		else
			stpf = stpq;
		*brackt = 1;
	} else if (fabs(dp) < fabs(*dx)) {
		/* same sign, derivative magnitude decreases */
		double t;
		theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
		s = max3(fabs(theta), fabs(*dx), fabs(dp));
		t = (theta / s) * (theta / s) - (*dx / s) * (dp / s);
		gamma = s * sqrt(t > 0.0 ? t : 0.0);
		if (*stp > *stx)
			gamma = -gamma;
		p = (gamma - dp) + theta;
		q = (gamma + (*dx - dp)) + gamma;
		r = p / q;
		if (r < 0.0 && gamma != 0.0)
			stpc = *stp + r * (*stx - *stp);
		else if (*stp > *stx)
			stpc = stpmax;
		else
			stpc = stpmin;
		stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
		if (*brackt) {
			if (fabs(stpc - *stp) < fabs(stpq - *stp))
				stpf = stpc;
			else
				stpf = stpq;
			if (*stp > *stx) {
				t = *stp + 0.66 * (*sty - *stp);
				stpf = t < stpf ? t : stpf;
			} else {
				t = *stp + 0.66 * (*sty - *stp);
				stpf = t > stpf ? t : stpf;
			}
		} else {
			if (fabs(stpc - *stp) > fabs(stpq - *stp))
				stpf = stpc;
			else
				stpf = stpq;
			stpf = stpmax < stpf ? stpmax : stpf;
			stpf = stpmin > stpf ? stpmin : stpf;
		}
	} else {
		/* same sign, derivative does not decrease */
		if (*brackt) {
			theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
			s = max3(fabs(theta), fabs(*dy), fabs(dp));
			gamma = s * sqrt((theta / s) * (theta / s) -
			    (*dy / s) * (dp / s));
			if (*stp > *sty)
				gamma = -gamma;
			p = (gamma - dp) + theta;
			q = ((gamma - dp) + gamma) + *dy;
			r = p / q;
			stpc = *stp + r * (*sty - *stp);
			stpf = stpc;
		} else if (*stp > *stx) {
			stpf = stpmax;
		} else {
			stpf = stpmin;
		}
	}
	if (fp > *fx) {
		*sty = *stp;
		*fy = fp;
		*dy = dp;
	} else {
		if (sgnd < 0.0) {
			*sty = *stx;
			*fy = *fx;
			*dy = *dx;
		}
		*stx = *stp;
		*fx = fp;
		*dx = dp;
	}
	*stp = stpf;
}

static void
ls_start(struct mm_lbfgs_ls *s, double f, double g, double stp)
{
	s->brackt = 0;
	s->stage = 1;
	s->finit = f;
	s->ginit = g;
	s->gtest = s->ftol * g;
	s->width = s->stpmax - s->stpmin;
	s->width1 = s->width / 0.5;
	s->stx = 0.0;
	s->fx = f;
	s->gx = g;
	s->sty = 0.0;
	s->fy = f;
	s->gy = g;
	s->stmin = 0.0;
	s->stmax = stp + 4.0 * stp;
}

static int
ls_step(struct mm_lbfgs_ls *s, double f, double g, double *stp)
{
	double ftest = s->finit + *stp * s->gtest;
	int warn = 0;

	if (s->stage == 1 && f <= ftest && g >= 0.0)
		s->stage = 2;
	if (s->brackt && (*stp <= s->stmin || *stp >= s->stmax))
		warn = 1;       /* rounding errors prevent progress */
	if (s->brackt && s->stmax - s->stmin <= s->xtol * s->stmax)
		warn = 1;       /* interval too small */
	if (*stp == s->stpmax && f <= ftest && g <= s->gtest)
		warn = 1;
	if (*stp == s->stpmin && (f > ftest || g >= s->gtest))
		warn = 1;
	if (f <= ftest && fabs(g) <= s->gtol * (-s->ginit))
		return LS_CONV;
	if (warn)
		return LS_WARN;

	if (s->stage == 1 && f <= s->fx && f > ftest) {
		/* modified function psi(stp) = f(stp) - f(0) - stp*gtest */
		double fm = f - *stp * s->gtest;
		double fxm = s->fx - s->stx * s->gtest;
		double fym = s->fy - s->sty * s->gtest;
		double gm = g - s->gtest;
		double gxm = s->gx - s->gtest;
		double gym = s->gy - s->gtest;
		dcstep(&s->stx, &fxm, &gxm, &s->sty, &fym, &gym, stp, fm, gm,
		    &s->brackt, s->stmin, s->stmax);
		s->fx = fxm + s->stx * s->gtest;
		s->fy = fym + s->sty * s->gtest;
		s->gx = gxm + s->gtest;
		s->gy = gym + s->gtest;
	} else {
		dcstep(&s->stx, &s->fx, &s->gx, &s->sty, &s->fy, &s->gy, stp,
		    f, g, &s->brackt, s->stmin, s->stmax);
	}
	if (s->brackt) {
		if (fabs(s->sty - s->stx) >= 0.66 * s->width1)
			*stp = s->stx + 0.5 * (s->sty - s->stx);
		s->width1 = s->width;
		s->width = fabs(s->sty - s->stx);
		s->stmin = s->stx < s->sty ? s->stx : s->sty;
		s->stmax = s->stx > s->sty ? s->stx : s->sty;
	} else {
		s->stmin = *stp + 1.1 * (*stp - s->stx);
		s->stmax = *stp + 4.0 * (*stp - s->stx);
	}
	if (*stp < s->stpmin)
		*stp = s->stpmin;
	if (*stp > s->stpmax)
		*stp = s->stpmax;
	if ((s->brackt && (*stp <= s->stmin || *stp >= s->stmax)) ||
	    (s->brackt && s->stmax - s->stmin <= s->xtol * s->stmax))
		*stp = s->stx;
	return LS_FG;
}

/* BLAS level 1, as L-BFGS-B calls it */
static double
dot(int n, const double *a, const double *b)
{
	return cblas_ddot(n, a, 1, b, 1);
}

static double
maxabs(int n, const double *a)
{
	double m = 0.0;
	int i;

	for (i = 0; i < n; i++)
		if (fabs(a[i]) > m)
			m = fabs(a[i]);
	return m;
}

static int
finite_fg(int n, double f, const double *g)
{
	int i;

	if (!isfinite(f))
		return 0;
	for (i = 0; i < n; i++)
		if (!isfinite(g[i]))
			return 0;
	return 1;
}

/*
 * Without bounds, L-BFGS-B's Cauchy point and subspace minimisation reduce
 * to the step -H g of the limited-memory inverse Hessian H (initial scaling
 * s'y / y'y of the newest pair): the two-loop recursion computes the same
 * vector.  Pairs are skipped when s'y <= eps * (-g_old's), as in L-BFGS-B;
 * a failed line search restarts from a steepest-descent step with an
 * empty memory, or ends the run if the memory was already empty.
 *
 * Reverse communication: the state asks for f and g at x and is advanced
 * by mm_lbfgs_next(), so that several problems can share one evaluation.
 */
enum { PH_INIT, PH_LS, PH_DONE };

int
mm_lbfgs_start(struct mm_lbfgs_state *s, int n, double *x,
    const struct mm_lbfgs_opts *o)
{
	int m = o->memory > 0 ? o->memory : 1;

	memset(s, 0, sizeof *s);
	s->buf = malloc(sizeof(double) * ((size_t)n * (4 + 2 * (size_t)m) +
	    2 * (size_t)m));
	if (!s->buf)
		return mm_err(MM_ENOMEM, "L-BFGS: out of memory (%d variables)",
		    n);
	s->n = n;
	s->m = m;
	s->o = *o;
	s->x = x;
	s->g = s->buf;
	s->d = s->g + n;
	s->t = s->d + n;
	s->r = s->t + n;
	s->S = s->r + n;
	s->Y = s->S + (size_t)n * m;
	s->rho = s->Y + (size_t)n * m;
	s->alpha = s->rho + m;
	s->theta = 1.0;
	s->phase = PH_INIT;
	return 1;
}

void
mm_lbfgs_free(struct mm_lbfgs_state *s)
{
	free(s->buf);
	s->buf = NULL;
}

static int
lbfgs_done(struct mm_lbfgs_state *s, enum mm_lbfgs_status st)
{
	s->res.status = st;
	s->res.iters = s->iter;
	s->res.nfev = s->nfev;
	s->res.f = s->f;
	s->res.gmax = maxabs(s->n, s->g);
	s->phase = PH_DONE;
	return 0;
}

/* After a failed line search: 1 when the memory is empty already (the
 * fit ends, ABNORMAL, after counting the iteration), else 0 with the
 * memory dropped, to restart from steepest descent. */
static int
ls_failed_ends(struct mm_lbfgs_state *s)
{
	if (s->col == 0) {
		s->iter++;
		return 1;
	}
	s->col = 0;
	s->head = 0;
	s->theta = 1.0;
	return 0;
}

/* Start an iteration from (x, f, g): direction, then the line search's
 * first trial point.  Returns 1 (evaluate) or 0 (finished). */
static int
lbfgs_iterate(struct mm_lbfgs_state *s)
{
	int n = s->n, m = s->m, i, j;
	double *d = s->d, dnorm;

	for (;;) {
		/* direction d = -H g */
		for (i = 0; i < n; i++)
			d[i] = -s->g[i];
		if (s->col > 0) {
			for (j = s->col - 1; j >= 0; j--) {
				int k = (s->head + j) % m;
				double a = s->rho[k] * dot(n, s->S + (size_t)k * n, d);
				s->alpha[k] = a;
				cblas_daxpy(n, -a, s->Y + (size_t)k * n, 1, d, 1);
			}
			for (i = 0; i < n; i++)
				d[i] /= s->theta;
			for (j = 0; j < s->col; j++) {
				int k = (s->head + j) % m;
				double beta = s->rho[k] *
				    dot(n, s->Y + (size_t)k * n, d);
				cblas_daxpy(n, s->alpha[k] - beta,
				    s->S + (size_t)k * n, 1, d, 1);
			}
		} else {
			for (i = 0; i < n; i++)
				d[i] /= s->theta;
		}
		dnorm = sqrt(dot(n, d, d));
		s->stp = s->iter == 0 ? fmin(1.0 / dnorm, 1e10) : 1.0;
		memcpy(s->t, s->x, sizeof(double) * n);
		memcpy(s->r, s->g, sizeof(double) * n);
		s->fold = s->f;
		s->gd = s->gdold = dot(n, s->g, d);
		s->nls = 0;
		if (s->gdold < 0.0) {
			s->ls.ftol = 1e-3;
			s->ls.gtol = 0.9;
			s->ls.xtol = 0.1;
			s->ls.stpmin = 0.0;
			s->ls.stpmax = 1e10;
			ls_start(&s->ls, s->f, s->gd, s->stp);
			for (i = 0; i < n; i++)
				s->x[i] = s->stp * d[i] + s->t[i];
			s->phase = PH_LS;
			return 1;
		}
		/* not a descent direction: as a failed line search */
		memcpy(s->x, s->t, sizeof(double) * n);
		if (ls_failed_ends(s))
			return lbfgs_done(s, MM_LBFGS_ABNORMAL);
	}
}

int
mm_lbfgs_next(struct mm_lbfgs_state *s)
{
	int n = s->n, m = s->m, i, k, ls_rc;
	double sy;

	if (s->phase == PH_DONE)
		return 0;
	s->nfev++;
	if (!finite_fg(n, s->f, s->g))
		return mm_err(MM_ENUM, "L-BFGS: objective not finite (%s)",
		    s->phase == PH_INIT ? "at the start" : "in a line search");
	if (s->phase == PH_INIT) {
		if (maxabs(n, s->g) <= s->o.gtol)
			return lbfgs_done(s, MM_LBFGS_GTOL);
		if (s->o.max_iter <= 0)
			return lbfgs_done(s, MM_LBFGS_MAXITER);
		return lbfgs_iterate(s);
	}

	/* PH_LS: a trial point of the line search was evaluated */
	s->nls++;
	s->gd = dot(n, s->g, s->d);
	ls_rc = ls_step(&s->ls, s->f, s->gd, &s->stp);
	if (ls_rc == LS_FG) {
		if (s->nls < s->o.max_ls) {
			for (i = 0; i < n; i++)
				s->x[i] = s->stp * s->d[i] + s->t[i];
			return 1;
		}
		/* failed: restore the previous iterate, restart or stop */
		memcpy(s->x, s->t, sizeof(double) * n);
		memcpy(s->g, s->r, sizeof(double) * n);
		s->f = s->fold;
		if (ls_failed_ends(s))
			return lbfgs_done(s, MM_LBFGS_ABNORMAL);
		return lbfgs_iterate(s);
	}

	s->iter++;
	if (s->iter >= s->o.max_iter)
		return lbfgs_done(s, MM_LBFGS_MAXITER);
	if (maxabs(n, s->g) <= s->o.gtol)
		return lbfgs_done(s, MM_LBFGS_GTOL);
	if (s->fold - s->f <= s->o.ftol * max3(fabs(s->fold), fabs(s->f), 1.0))
		return lbfgs_done(s, MM_LBFGS_FTOL);

	/* the new pair s = stp d, y = g - g_old, unless s'y is too small */
	sy = (s->gd - s->gdold) * s->stp;
	if (sy > DBL_EPSILON * (-s->gdold * s->stp)) {
		if (s->col < m) {
			k = (s->head + s->col) % m;
			s->col++;
		} else {
			k = s->head;
			s->head = (s->head + 1) % m;
		}
		for (i = 0; i < n; i++) {
			s->S[(size_t)k * n + i] = s->stp * s->d[i];
			s->Y[(size_t)k * n + i] = s->g[i] - s->r[i];
		}
		s->rho[k] = 1.0 / sy;
		s->theta = dot(n, s->Y + (size_t)k * n, s->Y + (size_t)k * n) /
		    sy;
	}
	return lbfgs_iterate(s);
}

int
mm_lbfgs(int n, double *x, mm_lbfgs_fn fn, void *ctx,
    const struct mm_lbfgs_opts *o, struct mm_lbfgs_result *res)
{
	struct mm_lbfgs_state s;
	int rc;

	memset(res, 0, sizeof *res);
	rc = mm_lbfgs_start(&s, n, x, o);
	while (rc == 1) {
		if ((rc = fn(ctx, s.x, &s.f, s.g)) < 0)
			break;
		rc = mm_lbfgs_next(&s);
	}
	*res = s.res;
	mm_lbfgs_free(&s);
	return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------ */
/* standardisation                                                     */
/* ------------------------------------------------------------------ */

void
mm_scaler_init(struct mm_scaler *s)
{
	memset(s, 0, sizeof *s);
}

void
mm_scaler_free(struct mm_scaler *s)
{
	free(s->mean);
	free(s->scale);
	mm_scaler_init(s);
}

int
mm_scaler_fit(struct mm_scaler *s, const float *X, int64_t N, int D)
{
	int64_t i;
	int j;

	mm_scaler_free(s);
	if (N < 1 || D < 1)
		return mm_err(MM_EINVAL, "scaler: empty data (%lld x %d)",
		    (long long)N, D);
	s->mean = calloc(D, sizeof(double));
	s->scale = calloc(D, sizeof(double));
	if (!s->mean || !s->scale) {
		mm_scaler_free(s);
		return mm_err(MM_ENOMEM, "scaler: out of memory");
	}
	s->D = D;
	for (i = 0; i < N; i++)
		for (j = 0; j < D; j++)
			s->mean[j] += X[i * D + j];
	for (j = 0; j < D; j++)
		s->mean[j] /= (double)N;
	/* two-pass variance, then StandardScaler's constant-column test:
	 * var <= N eps var + (N mean eps)^2 means "indistinguishable from a
	 * constant" and the column is left unscaled */
	for (i = 0; i < N; i++)
		for (j = 0; j < D; j++) {
			double v = X[i * D + j] - s->mean[j];
			s->scale[j] += v * v;
		}
	for (j = 0; j < D; j++) {
		double var = s->scale[j] / (double)N;
		double nme = (double)N * s->mean[j] * DBL_EPSILON;
		if (var <= (double)N * DBL_EPSILON * var + nme * nme)
			s->scale[j] = 1.0;
		else
			s->scale[j] = sqrt(var);
	}
	return 0;
}

void
mm_scaler_apply(const struct mm_scaler *s, const float *X, int64_t N,
    float *out)
{
	int64_t i;
	int j, D = s->D;

	/* two roundings to float32, as StandardScaler's in-place
	 * X -= mean; X /= scale does on float32 data */
	for (i = 0; i < N; i++)
		for (j = 0; j < D; j++) {
			float t = (float)((double)X[i * D + j] - s->mean[j]);
			out[i * D + j] = (float)((double)t / s->scale[j]);
		}
}

/* ------------------------------------------------------------------ */
/* logistic regression                                                 */
/* ------------------------------------------------------------------ */

void
mm_probe_defaults(struct mm_probe_opts *o)
{
	o->C = 1.0;
	o->max_iter = 100;
	o->tol = 1e-4;
}

void
mm_logreg_init(struct mm_logreg *m)
{
	memset(m, 0, sizeof *m);
}

void
mm_logreg_free(struct mm_logreg *m)
{
	free(m->classes);
	free(m->W);
	mm_logreg_init(m);
}

/* The fitting context: augmented data (N, D+1) with a ones column. */
struct lr_ctx {
	int64_t N;
	int D1, K;
	double lambda;
	const int32_t *y;      /* (N) class index in [0, K) */
	double *Xd, *Zd;       /* (N, D1), (N, K) */
};

/* The objective and its gradient with a dgemm pair and libm's exp, as
 * scikit-learn computes them. */
static int
lr_fg(void *vctx, const double *w, double *fout, double *g)
{
	struct lr_ctx *c = vctx;
	int64_t N = c->N, i;
	int D1 = c->D1, K = c->K, k, j;
	double f = 0.0, *Z = c->Zd;

	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, K, D1, 1.0,
	    c->Xd, D1, w, D1, 0.0, Z, K);
	for (i = 0; i < N; i++) {
		double *z = Z + i * K, mx = z[0], s = 0.0;
		for (k = 1; k < K; k++)
			if (z[k] > mx)
				mx = z[k];
		f += mx - z[c->y[i]];
		for (k = 0; k < K; k++) {
			z[k] = exp(z[k] - mx);
			s += z[k];
		}
		f += log(s);
		for (k = 0; k < K; k++)
			z[k] /= s;
		z[c->y[i]] -= 1.0;
	}
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, D1, (int)N, 1.0,
	    Z, K, c->Xd, D1, 0.0, g, D1);
	/* L2 on the weights, not on the intercept (last column) */
	for (k = 0; k < K; k++)
		for (j = 0; j < D1 - 1; j++) {
			double v = w[k * D1 + j];
			f += 0.5 * c->lambda * v * v;
			g[k * D1 + j] += c->lambda * v;
		}
	*fout = f;
	return 0;
}

static void
lr_ctx_free(struct lr_ctx *c)
{
	free(c->Xd);
	free(c->Zd);
}

/* Fill c for X (N, D), class indices y (N) in [0, K). */
static int
lr_ctx_setup(struct lr_ctx *c, const float *X, const int32_t *y, int64_t N,
    int D, int K, double C)
{
	int D1 = D + 1, j;
	int64_t i;

	memset(c, 0, sizeof *c);
	c->N = N;
	c->D1 = D1;
	c->K = K;
	c->lambda = 1.0 / C;
	c->y = y;
	c->Xd = malloc(sizeof(double) * N * D1);
	c->Zd = malloc(sizeof(double) * N * K);
	if (!c->Xd || !c->Zd)
		return mm_err(MM_ENOMEM, "probe: out of memory");
	for (i = 0; i < N; i++) {
		for (j = 0; j < D; j++)
			c->Xd[i * D1 + j] = X[i * D + j];
		c->Xd[i * D1 + D] = 1.0;
	}
	return 0;
}

/* L-BFGS as scikit-learn runs it for these options. */
static void
probe_lbfgs_opts(const struct mm_probe_opts *o, struct mm_lbfgs_opts *lo)
{
	mm_lbfgs_defaults(lo);
	lo->max_iter = o->max_iter;
	lo->gtol = o->tol;
}

/* Fit W (K, D+1), starting from its contents, on X (N, D) and class
 * indices yi (N) in [0, K), with a dgemm pair per evaluation. */
static int
fit_dgemm(const float *X, const int32_t *yi, int64_t N, int D, int K,
    const struct mm_probe_opts *o, double *W, struct mm_lbfgs_result *res)
{
	struct lr_ctx c;
	struct mm_lbfgs_opts lo;
	int rc;

	if ((rc = lr_ctx_setup(&c, X, yi, N, D, K, o->C)) == 0) {
		probe_lbfgs_opts(o, &lo);
		rc = mm_lbfgs(K * (D + 1), W, lr_fg, &c, &lo, res);
	}
	lr_ctx_free(&c);
	return rc;
}

double
mm_logreg_objective(const double *W, const float *X, const int32_t *y,
    int64_t N, int D, int K, double C, double *grad)
{
	struct lr_ctx c;
	double f = NAN, *g = grad;

	memset(&c, 0, sizeof c);
	if (!g)
		g = malloc(sizeof(double) * K * (D + 1));
	if (g && lr_ctx_setup(&c, X, y, N, D, K, C) == 0)
		lr_fg(&c, W, &f, g);
	lr_ctx_free(&c);
	if (g != grad)
		free(g);
	return f;
}

int
mm_logreg_fit(struct mm_logreg *m, const float *X, const int32_t *y,
    int64_t N, int D, const struct mm_probe_opts *o)
{
	int32_t ymax = 0, *yi = NULL;
	unsigned char *seen = NULL;
	int64_t i;
	int K = 0, D1 = D + 1, k, j, rc;

	mm_logreg_free(m);
	if (N < 1 || D < 1)
		return mm_err(MM_EINVAL, "probe: empty training set");
	for (i = 0; i < N; i++) {
		if (y[i] < 0)
			return mm_err(MM_EINVAL, "probe: negative label %d",
			    (int)y[i]);
		if (y[i] > ymax)
			ymax = y[i];
	}
	seen = calloc((size_t)ymax + 1, 1);
	yi = malloc(sizeof(int32_t) * N);
	if (!seen || !yi) {
		rc = mm_err(MM_ENOMEM, "probe: out of memory");
		goto out;
	}
	for (i = 0; i < N; i++)
		seen[y[i]] = 1;
	for (k = 0; k <= ymax; k++)
		K += seen[k];
	if (K < 2) {
		rc = mm_err(MM_EINVAL, "probe: the training labels hold only "
		    "one class");
		goto out;
	}
	m->classes = malloc(sizeof(int) * K);
	m->W = calloc((size_t)K * D1, sizeof(double));
	if (!m->classes || !m->W) {
		rc = mm_err(MM_ENOMEM, "probe: out of memory");
		goto out;
	}
	/* seen[] becomes the label -> index map (index + 1) */
	for (k = 0, j = 0; k <= ymax; k++)
		if (seen[k]) {
			m->classes[j] = k;
			seen[k] = (unsigned char)0;
			j++;
		}
	m->K = K;
	m->D = D;
	for (i = 0; i < N; i++) {
		int lo_ = 0, hi = K - 1;
		while (lo_ < hi) {      /* binary search in classes */
			int mid = (lo_ + hi) / 2;
			if (m->classes[mid] < y[i])
				lo_ = mid + 1;
			else
				hi = mid;
		}
		yi[i] = lo_;
	}

	rc = fit_dgemm(X, yi, N, D, K, o, m->W, &m->fit);
out:
	free(seen);
	free(yi);
	if (rc < 0)
		mm_logreg_free(m);
	return rc;
}

/* The classes present in y (N) in [0, K): their labels ascending into
 * classes (K) and each row's index among them into yi (N).  Returns the
 * number present. */
static int
seen_classes(const int32_t *y, int64_t N, int K, int *classes, int32_t *yi)
{
	int *idx = malloc(sizeof(int) * K), k, n = 0;
	int64_t i;

	if (!idx)
		return mm_err(MM_ENOMEM, "probe: out of memory");
	for (k = 0; k < K; k++)
		idx[k] = 0;
	for (i = 0; i < N; i++)
		idx[y[i]] = 1;
	for (k = 0; k < K; k++)
		if (idx[k]) {
			classes[n] = k;
			idx[k] = n++;
		}
	for (i = 0; i < N; i++)
		yi[i] = idx[y[i]];
	free(idx);
	return n;
}

/* Test figures of a fitted model W (Kseen, D+1) over the seen classes. */
static int
probe_eval(const float *B, int64_t Nte, int D, const int32_t *yte, int K,
    const int *classes, int Kseen, const double *W, struct mm_probe_result *r)
{
	double *z = malloc(sizeof(double) * Kseen), ce = 0.0;
	int *idx = malloc(sizeof(int) * K), k, j;
	int64_t i, correct = 0;

	if (!z || !idx) {
		free(z);
		free(idx);
		return mm_err(MM_ENOMEM, "probe: out of memory");
	}
	for (k = 0; k < K; k++)
		idx[k] = -1;
	for (k = 0; k < Kseen; k++)
		idx[classes[k]] = k;
	r->unseen = 0;
	for (i = 0; i < Nte; i++) {
		const float *x = B + i * D;
		double mx = -INFINITY, s = 0.0;
		int best = 0, t = idx[yte[i]];
		for (k = 0; k < Kseen; k++) {
			const double *w = W + (size_t)k * (D + 1);
			double a = w[D];
			for (j = 0; j < D; j++)
				a += w[j] * x[j];
			z[k] = a;
			if (a > mx) {   /* first maximum: lowest label wins */
				mx = a;
				best = k;
			}
		}
		for (k = 0; k < Kseen; k++)
			s += exp(z[k] - mx);
		if (t < 0) {
			ce += MM_PROBE_CE_CLIP;
			r->unseen++;
		} else {
			double l = log(s) + mx - z[t];
			ce += l < MM_PROBE_CE_CLIP ? l : MM_PROBE_CE_CLIP;
			correct += best == t;
		}
	}
	r->K = K;
	r->Kseen = Kseen;
	r->lnK = log((double)K);
	r->ce = ce / (double)Nte;
	r->mi = r->lnK - r->ce;
	r->nmi = r->mi / r->lnK;
	r->acc = (double)correct / (double)Nte;
	free(z);
	free(idx);
	return 0;
}

/* One probe of the lockstep fit. */
struct pjob {
	int K, Kseen, K8, off, active;  /* K8: Kseen rounded up to 8 */
	int *classes;           /* (K) */
	int32_t *yi;            /* (N) */
	double *W;              /* (Kseen, D+1) */
	struct mm_lbfgs_state st;
};

/* Work space of the lockstep fit: the probes' weights side by side,
 * transposed, and their gradients. */
struct lockstep {
	int64_t N;
	int D, D1, level;
	double *Wt, *b, *Gt, *gb, *f, *scratch;  /* (Dp, tot), (tot),
	                                   (Dp, tot), (tot), (nj) */
	struct mm_probe_kern_seg *seg;         /* (nj) */
};

static void
lockstep_free(struct lockstep *ls)
{
	free(ls->Wt);
	free(ls->b);
	free(ls->Gt);
	free(ls->gb);
	free(ls->f);
	free(ls->scratch);
	free(ls->seg);
}

static int
lockstep_alloc(struct lockstep *ls, int64_t N, int D, int nj, int tot,
    int level)
{
	int Dp = (D + 3) & ~3;

	memset(ls, 0, sizeof *ls);
	ls->N = N;
	ls->D = D;
	ls->D1 = D + 1;
	ls->level = level;
	ls->Wt = malloc(sizeof(double) * Dp * tot);
	ls->b = malloc(sizeof(double) * tot);
	ls->Gt = malloc(sizeof(double) * Dp * tot);
	ls->gb = malloc(sizeof(double) * tot);
	ls->f = malloc(sizeof(double) * nj);
	ls->seg = malloc(sizeof *ls->seg * nj);
	ls->scratch = malloc(sizeof(double) * mm_probe_kern_scratch(D, tot));
	if (!ls->Wt || !ls->b || !ls->Gt || !ls->gb || !ls->f || !ls->seg ||
	    !ls->scratch)
		return mm_err(MM_ENOMEM, "probe: out of memory");
	return 0;
}

/* One evaluation of every active probe: p->st.f and p->st.g without the
 * penalty, from the data A (N, D). */
static void
lockstep_eval(struct lockstep *ls, const float *A, struct pjob *pj, int nj)
{
	int D = ls->D, D1 = ls->D1, j, k, l, w = 0, ns = 0;

	/* weights transposed, padding columns 0 with the pad intercept */
	for (j = 0; j < nj; j++) {
		struct pjob *p = &pj[j];
		if (p->active) {
			p->off = w;
			w += p->K8;
		}
	}
	for (j = 0; j < nj; j++) {
		struct pjob *p = &pj[j];
		if (!p->active)
			continue;
		for (k = 0; k < p->K8; k++) {
			const double *x = p->st.x + (size_t)k * D1;
			int c = p->off + k;
			if (k < p->Kseen) {
				for (l = 0; l < D; l++)
					ls->Wt[(size_t)l * w + c] = x[l];
				ls->b[c] = x[D];
			} else {
				for (l = 0; l < D; l++)
					ls->Wt[(size_t)l * w + c] = 0.0;
				ls->b[c] = MM_LRK_PAD;
			}
		}
		ls->seg[ns].off = p->off;
		ls->seg[ns].K = p->Kseen;
		ls->seg[ns].y = p->yi;
		ns++;
	}
	mm_probe_kern_eval(ls->level, A, ls->N, D, w, ls->Wt, ls->b, ns,
	    ls->seg, ls->f, ls->Gt, ls->gb, ls->scratch);
	for (j = 0, ns = 0; j < nj; j++) {
		struct pjob *p = &pj[j];
		if (!p->active)
			continue;
		p->st.f = ls->f[ns++];
		for (k = 0; k < p->Kseen; k++) {
			double *g = p->st.g + (size_t)k * D1;
			for (l = 0; l < D; l++)
				g[l] = ls->Gt[(size_t)l * w + p->off + k];
			g[D] = ls->gb[p->off + k];
		}
	}
}

/*
 * The fits of several factors over the same standardised data A (N, D):
 * every probe's L-BFGS waits for its next evaluation, then one pass over
 * the data with the fused kernels of probe-kern.c (level 1 or 2) evaluates all
 * of them.  Each probe follows exactly the path it would follow alone.
 */
static int
fit_lockstep(const float *A, int64_t N, int D, struct pjob *pj, int nj,
    const struct mm_probe_opts *o, int level)
{
	struct mm_lbfgs_opts lo;
	struct lockstep ls;
	int D1 = D + 1, j, k, l, tot = 0, rc = 0, left = 0;
	double lambda = 1.0 / o->C;

	memset(&ls, 0, sizeof ls);
	probe_lbfgs_opts(o, &lo);
	for (j = 0; j < nj; j++)
		if (pj[j].active)
			tot += pj[j].K8;
	if (tot == 0)
		return 0;       /* nothing to fit */
	if ((rc = lockstep_alloc(&ls, N, D, nj, tot, level)) < 0)
		goto out;
	for (j = 0; j < nj; j++) {
		if (!pj[j].active)
			continue;
		if ((rc = mm_lbfgs_start(&pj[j].st, pj[j].Kseen * D1, pj[j].W,
		    &lo)) < 0)
			goto out;
		left++;
	}
	while (left > 0) {
		lockstep_eval(&ls, A, pj, nj);
		for (j = 0; j < nj; j++) {
			struct pjob *p = &pj[j];
			const double *x = p->st.x;
			if (!p->active)
				continue;
			/* L2 on the weights, not on the intercepts */
			for (k = 0; k < p->Kseen; k++)
				for (l = 0; l < D; l++) {
					size_t e = (size_t)k * D1 + l;
					p->st.f += 0.5 * lambda * x[e] * x[e];
					p->st.g[e] += lambda * x[e];
				}
			if ((rc = mm_lbfgs_next(&p->st)) < 0)
				goto out;
			if (rc == 0) {
				p->active = 0;
				left--;
			}
		}
	}
	rc = 0;
out:
	lockstep_free(&ls);
	return rc;
}

int
mm_probe_many(const float *Xtr, int64_t Ntr, const float *Xte, int64_t Nte,
    int D, int nj, const int32_t *const *ytr, const int32_t *const *yte,
    const int *K, const struct mm_probe_opts *o, struct mm_probe_result *r)
{
	struct mm_scaler sc;
	struct pjob *pj;
	float *A = NULL, *B = NULL;
	int64_t i;
	int j, rc, level;

	memset(r, 0, sizeof *r * nj);
	for (j = 0; j < nj; j++) {
		if (K[j] < 2)
			return mm_err(MM_EINVAL, "probe: a factor with %d class%s "
			    "carries no information", K[j], K[j] == 1 ? "" : "es");
		for (i = 0; i < Ntr; i++)
			if (ytr[j][i] < 0 || ytr[j][i] >= K[j])
				return mm_err(MM_EINVAL, "probe: training label "
				    "%d outside [0, %d)", (int)ytr[j][i], K[j]);
		for (i = 0; i < Nte; i++)
			if (yte[j][i] < 0 || yte[j][i] >= K[j])
				return mm_err(MM_EINVAL, "probe: test label %d "
				    "outside [0, %d)", (int)yte[j][i], K[j]);
	}
	if (Nte < 1)
		return mm_err(MM_EINVAL, "probe: empty test set");
	mm_scaler_init(&sc);
	if ((rc = mm_scaler_fit(&sc, Xtr, Ntr, D)) < 0)
		return rc;
	pj = calloc(nj, sizeof *pj);
	A = malloc(sizeof(float) * (size_t)Ntr * D);
	B = malloc(sizeof(float) * (size_t)Nte * D);
	if (!pj || !A || !B) {
		rc = mm_err(MM_ENOMEM, "probe: out of memory");
		goto out;
	}
	mm_scaler_apply(&sc, Xtr, Ntr, A);
	mm_scaler_apply(&sc, Xte, Nte, B);
	for (j = 0; j < nj; j++) {
		struct pjob *p = &pj[j];
		p->K = K[j];
		p->classes = malloc(sizeof(int) * K[j]);
		p->yi = malloc(sizeof(int32_t) * Ntr);
		if (!p->classes || !p->yi) {
			rc = mm_err(MM_ENOMEM, "probe: out of memory");
			goto out;
		}
		if ((rc = seen_classes(ytr[j], Ntr, K[j], p->classes, p->yi)) < 0)
			goto out;
		p->Kseen = rc;
		if (p->Kseen < 2) {
			r[j].status = MM_EINVAL;  /* one class: nothing to fit */
			continue;
		}
		p->K8 = (p->Kseen + 7) / 8 * 8;
		if (!(p->W = calloc((size_t)p->Kseen * (D + 1), sizeof(double)))) {
			rc = mm_err(MM_ENOMEM, "probe: out of memory");
			goto out;
		}
		p->active = 1;
	}
	level = mm_probe_kern_level();
	if (level == 0) {
		/* without AVX2: a dgemm pair per probe and evaluation */
		for (j = 0; j < nj; j++)
			if (pj[j].active && (rc = fit_dgemm(A, pj[j].yi, Ntr, D,
			    pj[j].Kseen, o, pj[j].W, &pj[j].st.res)) < 0)
				goto out;
	} else if ((rc = fit_lockstep(A, Ntr, D, pj, nj, o, level)) < 0) {
		goto out;
	}
	for (j = 0; j < nj; j++) {
		if (r[j].status < 0)
			continue;
		if ((rc = probe_eval(B, Nte, D, yte[j], K[j], pj[j].classes,
		    pj[j].Kseen, pj[j].W, &r[j])) < 0)
			goto out;
		r[j].iters = pj[j].st.res.iters;
		r[j].converged = pj[j].st.res.status <= MM_LBFGS_FTOL;
	}
	rc = 0;
out:
	for (j = 0; pj && j < nj; j++) {
		free(pj[j].classes);
		free(pj[j].yi);
		free(pj[j].W);
		mm_lbfgs_free(&pj[j].st);
	}
	free(pj);
	free(A);
	free(B);
	mm_scaler_free(&sc);
	return rc;
}

int
mm_probe_run(const float *Xtr, const int32_t *ytr, int64_t Ntr,
    const float *Xte, const int32_t *yte, int64_t Nte, int D, int K,
    const struct mm_probe_opts *o, struct mm_probe_result *r)
{
	int rc = mm_probe_many(Xtr, Ntr, Xte, Nte, D, 1, &ytr, &yte, &K, o, r);

	if (rc == 0 && r->status < 0)
		return mm_err(MM_EINVAL, "probe: the training labels hold only "
		    "one class");
	return rc;
}

/* ---- the probes of an embedding table ---- */

const char *const mm_probe_modname[MM_PROBE_NMOD] = { "img", "fac" };

/* The probes of one modality, fitted together. */
struct emb_job {
	int mod, n;
	int factor[MM_MAXFACTORS];
	struct mm_probe_result r[MM_MAXFACTORS];
	int rc;
	char err[512];
};

struct emb_ctx {
	const struct mm_emb *tr, *te;
	const struct mm_probe_opts *opt;
	struct emb_job job[MM_PROBE_NMOD];
	int njobs, next;
	struct mm_pool *pool;
};

static const float *
emb_modality(const struct mm_emb *e, int mod, int *D)
{
	*D = mod == 0 ? e->Dimg : e->Dfac;
	return mod == 0 ? e->z_img : e->z_fac;
}

/* Column f of the (N, F) class table. */
static int32_t *
emb_column(const struct mm_emb *e, int f)
{
	int32_t *y = malloc(sizeof(int32_t) * e->N);
	int64_t i;

	if (!y)
		return NULL;
	for (i = 0; i < e->N; i++)
		y[i] = e->classes[i * e->F + f];
	return y;
}

static void
emb_run(struct emb_ctx *c, struct emb_job *j)
{
	int D, K[MM_MAXFACTORS], k, ok = 1;
	const float *Xtr = emb_modality(c->tr, j->mod, &D);
	const float *Xte = emb_modality(c->te, j->mod, &D);
	int32_t *ytr[MM_MAXFACTORS], *yte[MM_MAXFACTORS];

	for (k = 0; k < j->n; k++) {
		ytr[k] = emb_column(c->tr, j->factor[k]);
		yte[k] = emb_column(c->te, j->factor[k]);
		K[k] = c->tr->fac.card[j->factor[k]];
		ok = ok && ytr[k] && yte[k];
	}
	if (!ok) {
		j->rc = MM_ENOMEM;
		snprintf(j->err, sizeof j->err, "out of memory");
	} else {
		j->rc = mm_probe_many(Xtr, c->tr->N, Xte, c->te->N, D, j->n,
		    (const int32_t *const *)ytr, (const int32_t *const *)yte, K,
		    c->opt, j->r);
		if (j->rc < 0)
			snprintf(j->err, sizeof j->err, "%s", mm_errmsg());
	}
	for (k = 0; k < j->n; k++) {
		free(ytr[k]);
		free(yte[k]);
	}
}

/* A thread of the pool: the next job until none is left.  A job's
 * result does not depend on the thread that runs it. */
static void
emb_worker(void *arg, int tid)
{
	struct emb_ctx *c = arg;
	int k;

	(void)tid;
	while ((k = mm_pool_next(c->pool, &c->next)) < c->njobs)
		emb_run(c, &c->job[k]);
}

int
mm_probe_emb(const struct mm_emb *tr, const struct mm_emb *te,
    const int *use, const int *want, const struct mm_probe_opts *o,
    int threads, struct mm_probe_fit *fits)
{
	struct emb_ctx *c = calloc(1, sizeof *c);
	int i, m, k, n = 0, rc = 0;

	if (!c)
		return mm_err(MM_ENOMEM, "out of memory");
	c->tr = tr;
	c->te = te;
	c->opt = o;
	for (m = 0; m < MM_PROBE_NMOD; m++) {
		struct emb_job *j = &c->job[c->njobs];
		if (!use[m])
			continue;
		j->mod = m;
		for (i = 0; i < tr->fac.F; i++)
			if (want[i])
				j->factor[j->n++] = i;
		if (j->n)
			c->njobs++;
	}
	/* no pool (one thread, or none could be started): all on this one */
	c->pool = mm_pool_new(threads < c->njobs ? threads : c->njobs);
	mm_pool_run(c->pool, emb_worker, c);
	mm_pool_free(c->pool);
	for (i = 0; i < c->njobs && rc == 0; i++) {
		struct emb_job *j = &c->job[i];
		if (j->rc < 0) {
			rc = mm_err(j->rc, "%s: %s", mm_probe_modname[j->mod],
			    j->err);
			break;
		}
		for (k = 0; k < j->n; k++, n++) {
			fits[n].mod = j->mod;
			fits[n].factor = j->factor[k];
			fits[n].essence = tr->fac.essence[j->factor[k]];
			fits[n].r = j->r[k];
		}
	}
	free(c);
	return rc < 0 ? rc : n;
}

int
mm_probe_groups(const struct mm_probe_fit *fits, int nfit,
    struct mm_probe_group *g)
{
	int m, e, i, ng = 0;

	for (m = 0; m < MM_PROBE_NMOD; m++)
		for (e = 1; e >= 0; e--) {
			struct mm_probe_group *x = &g[ng];
			memset(x, 0, sizeof *x);
			x->mod = m;
			x->essence = e;
			for (i = 0; i < nfit; i++) {
				const struct mm_probe_result *r = &fits[i].r;
				if (fits[i].mod != m || fits[i].essence != e ||
				    r->status < 0)
					continue;
				x->lnK += r->lnK;
				x->ce += r->ce;
				x->mi += r->mi;
				x->acc += r->acc;
				x->n++;
			}
			if (x->n == 0)
				continue;
			x->nmi = x->mi / x->lnK;
			x->acc /= x->n;
			ng++;
		}
	return ng;
}

double
mm_probe_entropy(const int32_t *y, int64_t N, int K)
{
	int64_t *n = calloc((size_t)K, sizeof *n), i;
	double h = 0.0;
	int k;

	if (!n || N <= 0) {
		free(n);
		return NAN;
	}
	for (i = 0; i < N; i++)
		n[y[i]]++;
	/* classes in label order, so that the sum is reproducible */
	for (k = 0; k < K; k++)
		if (n[k]) {
			double p = (double)n[k] / (double)N;
			h -= p * log(p);
		}
	free(n);
	return h;
}

int
mm_probe_measured(const struct mm_emb *te, struct mm_probe_fit *fits, int n)
{
	const char *m = mm_meta_get(&te->meta, "marginals");
	int32_t *y;
	int64_t i;
	int j;

	if (!m || strcmp(m, "measured") != 0)
		return 0;
	if (!te->classes)
		return mm_err(MM_EMISSING, "marginals=measured: the test set "
		    "has no 'classes' to measure the entropy of");
	if ((y = malloc(sizeof *y * (size_t)(te->N ? te->N : 1))) == NULL)
		return mm_err(MM_ENOMEM, "probe: out of memory");
	for (j = 0; j < n; j++) {
		struct mm_probe_result *r = &fits[j].r;
		int f = fits[j].factor;

		if (r->status < 0)
			continue;
		for (i = 0; i < te->N; i++)
			y[i] = te->classes[i * te->F + f];
		r->lnK = mm_probe_entropy(y, te->N, te->fac.card[f]);
		r->mi = r->lnK - r->ce;
		/* a test set of one class has H = 0: no information to find */
		r->nmi = r->lnK > 0.0 ? r->mi / r->lnK : NAN;
	}
	free(y);
	return 1;
}
