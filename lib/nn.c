/*
 * nn.c - layers as forward/backward pairs (see nn.h for the conventions):
 * Linear, ReLU, whole-batch BatchNorm, the ResNet's shortcut, average
 * pooling, layout, L2 normalisation.  The BatchNorm pieces are in
 * bn-slices.c, the 3x3 convolution in conv.c and conv-x86.c.
 */
#define _DEFAULT_SOURCE 1      /* madvise() */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "autovec.h"

#include <cblas.h>

#include "nn.h"
#include "pool.h"

#define BN_GROUP 256    /* channels of BatchNorm sums held at once */

/* ---- huge pages ---- */

void
mm_huge_pages(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t H = (uintptr_t)1 << 21;
	uintptr_t a = ((uintptr_t)p + H - 1) & ~(H - 1);
	uintptr_t z = ((uintptr_t)p + n) & ~(H - 1);
	const char *env = getenv("MMIB_THP");

	if (p && z > a && !(env && !strcmp(env, "0")))
		(void)madvise((void *)a, z - a, MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

/* ---- the BLAS on one thread ---- */

int
mm_blas_one(void)
{
	int saved = openblas_get_num_threads();

	if (saved != 1)
		openblas_set_num_threads(1);
	return saved;
}

void
mm_blas_restore(int saved)
{
	if (saved != 1)
		openblas_set_num_threads(saved);
}

/* ---- products in fixed slices ---- */

int
mm_gemm_cut(int M, int N, int K, int *width)
{
	int L = M > N ? M : N, S, w;
	double s = (double)M * N * K / MM_GEMM_GRAIN;

	if (L < 1)
		return *width = 0;
	S = s < MM_GEMM_SLICES_MAX ? (int)s : MM_GEMM_SLICES_MAX;
	if (S > L / MM_GEMM_WIDTH)
		S = L / MM_GEMM_WIDTH;
	if (S < 1)
		S = 1;
	w = (L + S - 1) / S;
	w = (w + 15) / 16 * 16;
	*width = w;
	return (L + w - 1) / w;
}

int
mm_gemm_slices(int M, int N, int K)
{
	int w;

	return mm_gemm_cut(M, N, K, &w);
}

void
mm_gemm_narrow(struct mm_gemm_args *a, int s, int width)
{
	int o = s * width;

	if (a->M > a->N) {
		a->M = a->M - o < width ? a->M - o : width;
		a->A += a->ta ? (size_t)o : (size_t)o * a->lda;
		a->C += (size_t)o * a->ldc;
	} else {
		a->N = a->N - o < width ? a->N - o : width;
		a->B += a->tb ? (size_t)o * a->ldb : (size_t)o;
		a->C += o;
	}
}

struct gemm_job {
	struct mm_gemm_args g;  /* the whole product */
	int width, S, next;
	float alpha, beta;
	struct mm_pool *pool;
};

/* Slice s: rows or columns s w .. s w + w - 1 of C. */
static void
gemm_slice(const struct gemm_job *j, int s)
{
	struct mm_gemm_args a = j->g;

	mm_gemm_narrow(&a, s, j->width);
	cblas_sgemm(CblasRowMajor, a.ta ? CblasTrans : CblasNoTrans,
	    a.tb ? CblasTrans : CblasNoTrans, a.M, a.N, a.K, j->alpha, a.A,
	    a.lda, a.B, a.ldb, j->beta, a.C, a.ldc);
}

static void
gemm_run(void *arg, int tid)
{
	struct gemm_job *j = arg;
	int s;

	(void)tid;
	while ((s = mm_pool_next(j->pool, &j->next)) < j->S)
		gemm_slice(j, s);
}

void
mm_gemm_pool(struct mm_pool *pool, int ta, int tb, int M, int N, int K,
    float alpha, const float *A, int lda, const float *B, int ldb,
    float beta, float *C, int ldc)
{
	struct gemm_job j = { { ta, tb, M, N, K, lda, ldb, ldc, A, B, C },
	    0, 0, 0, alpha, beta, pool };
	int saved;

	if (M < 1 || N < 1)
		return;
	j.S = mm_gemm_cut(M, N, K, &j.width);
	saved = mm_blas_one();
	if (j.S == 1 || !pool)
		gemm_run(&j, 0);
	else
		mm_pool_run(pool, gemm_run, &j);
	mm_blas_restore(saved);
}

/* ---- Linear ---- */

void
mm_linear_forward(float *out, const float *inp, const float *w,
    const float *b, int N, int Din, int Dout)
{
	int n;

	if (b)
		for (n = 0; n < N; n++)
			memcpy(out + (size_t)n * Dout, b, Dout * sizeof *b);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Dout, Din,
	    1.0f, inp, Din, w, Din, b ? 1.0f : 0.0f, out, Dout);
}

void
mm_linear_backward(float *dinp, float *dw, float *db, const float *dout,
    const float *inp, const float *w, int N, int Din, int Dout)
{
	int n, o;

	if (dinp)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Din,
		    Dout, 1.0f, dout, Dout, w, Din, 1.0f, dinp, Din);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Dout, Din, N,
	    1.0f, dout, Dout, inp, Din, 1.0f, dw, Din);
	if (db)
		for (n = 0; n < N; n++)
			for (o = 0; o < Dout; o++)
				db[o] += dout[(size_t)n * Dout + o];
}

void
mm_linear_forward_pool(struct mm_pool *pool, float *out, const float *inp,
    const float *w, const float *b, int N, int Din, int Dout)
{
	int n;

	if (b)
		for (n = 0; n < N; n++)
			memcpy(out + (size_t)n * Dout, b, Dout * sizeof *b);
	mm_gemm_pool(pool, 0, 1, N, Dout, Din, 1.0f, inp, Din, w, Din,
	    b ? 1.0f : 0.0f, out, Dout);
}

void
mm_linear_backward_pool(struct mm_pool *pool, float *dinp, float *dw,
    float *db, const float *dout, const float *inp, const float *w, int N,
    int Din, int Dout)
{
	int n, o;

	if (dinp)
		mm_gemm_pool(pool, 0, 0, N, Din, Dout, 1.0f, dout, Dout, w, Din,
		    1.0f, dinp, Din);
	mm_gemm_pool(pool, 1, 0, Dout, Din, N, 1.0f, dout, Dout, inp, Din,
	    1.0f, dw, Din);
	if (db)
		for (n = 0; n < N; n++)
			for (o = 0; o < Dout; o++)
				db[o] += dout[(size_t)n * Dout + o];
}

/* ---- ReLU ---- */

void
mm_relu_forward(float *out, const float *inp, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = inp[i] > 0 ? inp[i] : 0;
}

void
mm_relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dinp[i] += out[i] > 0 ? dout[i] : 0;
}

void
mm_relu_mask(float *g, const float *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		g[i] = out[i] > 0 ? g[i] : 0;
}

/* ---- Batch normalisation: the pieces of bn-slices.h over one slice,
 * in groups of at most BN_GROUP channels ---- */

void
mm_batchnorm_forward(float *out, float *mean, float *rstd, const float *inp,
    const float *gamma, const float *beta, float *running_mean,
    float *running_var, size_t M, int C, int train, int relu)
{
	double acc[BN_GROUP];   /* (cb) sums */
	int c0, cb;

	if (!train)
		mm_bn_eval_stats(mean, rstd, running_mean, running_var, C);
	else
		for (c0 = 0; c0 < C; c0 += cb) {
			cb = C - c0 < BN_GROUP ? C - c0 : BN_GROUP;
			mm_bn_sum_ld(acc, inp + c0, NULL, M, cb, C);
			mm_bn_mean(mean + c0, acc, M, cb);
			mm_bn_sum_ld(acc, inp + c0, mean + c0, M, cb, C);
			mm_bn_var(rstd + c0, running_mean + c0,
			    running_var + c0, mean + c0, acc, M, cb);
		}
	mm_bn_apply(out, inp, NULL, mean, rstd, gamma, beta, M, C, relu);
}

void
mm_batchnorm_backward(float *dinp, float *dgamma, float *dbeta,
    const float *dout, const float *out, const float *inp, const float *mean,
    const float *rstd, const float *gamma, size_t M, int C)
{
	double sdy[BN_GROUP], sdyx[BN_GROUP];   /* (cb), (cb) */
	float coef[3 * BN_GROUP];               /* (3 cb) */
	int c0, cb;

	for (c0 = 0; c0 < C; c0 += cb) {
		cb = C - c0 < BN_GROUP ? C - c0 : BN_GROUP;
		mm_bn_grad_sum_ld(sdy, sdyx, dout + c0, out ? out + c0 : NULL,
		    inp + c0, mean + c0, rstd + c0, M, cb, C);
		mm_bn_grad_coef(coef, dgamma + c0, dbeta + c0, sdy, sdyx,
		    mean + c0, rstd + c0, gamma + c0, M, cb);
		mm_bn_grad_apply_ld(dinp + c0, dout + c0, out ? out + c0 : NULL,
		    inp + c0, coef, M, cb, C, 1);
	}
}

/* ---- option-A shortcut ---- */

void
mm_shortcut_forward(float *out, const float *inp, int N, int H, int W,
    int Cin, int Cout, int stride)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
	int pad = (Cout - Cin) / 2, n, y, x, c;

	for (n = 0; n < N; n++)
		for (y = 0; y < Ho; y++)
			for (x = 0; x < Wo; x++) {
				const float *s = inp + (((size_t)n * H +
				    y * stride) * W + x * stride) * Cin;
				float *d = out + (((size_t)n * Ho + y) * Wo +
				    x) * Cout + pad;
				for (c = 0; c < Cin; c++)
					d[c] += s[c];
			}
}

void
mm_shortcut_backward(float *dinp, const float *dout, int N, int H, int W,
    int Cin, int Cout, int stride)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
	int pad = (Cout - Cin) / 2, n, y, x, c;

	for (n = 0; n < N; n++)
		for (y = 0; y < Ho; y++)
			for (x = 0; x < Wo; x++) {
				float *d = dinp + (((size_t)n * H +
				    y * stride) * W + x * stride) * Cin;
				const float *s = dout + (((size_t)n * Ho + y) *
				    Wo + x) * Cout + pad;
				for (c = 0; c < Cin; c++)
					d[c] += s[c];
			}
}

/* ---- global average pooling ---- */

void
mm_avgpool_forward(float *out, const float *inp, int N, int HW, int C)
{
	int n, p, c;
	float inv = 1.0f / HW;

	for (n = 0; n < N; n++) {
		float *o = out + (size_t)n * C;
		for (c = 0; c < C; c++)
			o[c] = 0;
		for (p = 0; p < HW; p++) {
			const float *x = inp + ((size_t)n * HW + p) * C;
			for (c = 0; c < C; c++)
				o[c] += x[c];
		}
		for (c = 0; c < C; c++)
			o[c] *= inv;
	}
}

void
mm_avgpool_backward(float *dinp, const float *dout, int N, int HW, int C)
{
	int n, p, c;
	float inv = 1.0f / HW;

	for (n = 0; n < N; n++)
		for (p = 0; p < HW; p++) {
			float *d = dinp + ((size_t)n * HW + p) * C;
			const float *g = dout + (size_t)n * C;
			for (c = 0; c < C; c++)
				d[c] += g[c] * inv;
		}
}

/* ---- layout ---- */

void
mm_nchw_to_nhwc(float *out, const float *inp, int N, int C, int HW)
{
	int n, c, p;

	for (n = 0; n < N; n++)
		for (c = 0; c < C; c++) {
			const float *s = inp + ((size_t)n * C + c) * HW;
			float *d = out + (size_t)n * HW * C + c;
			for (p = 0; p < HW; p++)
				d[(size_t)p * C] = s[p];
		}
}

/* ---- L2 normalisation ---- */

#define L2_EPS 1e-12

void
mm_l2norm_rows(float *out, float *norm, const float *inp, int N, int D,
    int ld)
{
	int n, d;
	double s;
	float nr;

	for (n = 0; n < N; n++) {
		const float *x = inp + (size_t)n * ld;
		float *y = out + (size_t)n * D;
		for (s = 0, d = 0; d < D; d++)
			s += (double)x[d] * x[d];
		nr = (float)sqrt(s);
		if (!(nr > (float)L2_EPS))
			nr = (float)L2_EPS;
		if (norm)
			norm[n] = nr;
		/* a division, as torch's normalize does, not a product with
		 * the inverse: the two round differently */
		for (d = 0; d < D; d++)
			y[d] = x[d] / nr;
	}
}

void
mm_l2norm_forward(float *out, float *norm, const float *inp, int N, int D)
{
	mm_l2norm_rows(out, norm, inp, N, D, D);
}

void
mm_l2norm_backward(float *dinp, const float *dout, const float *out,
    const float *norm, int N, int D)
{
	int n, d;
	double s;
	float dot, inv;

	for (n = 0; n < N; n++) {
		const float *y = out + (size_t)n * D;
		const float *g = dout + (size_t)n * D;
		float *dx = dinp + (size_t)n * D;
		if (!(norm[n] > L2_EPS)) {
			/* clamped: out = inp / eps, no projection */
			for (d = 0; d < D; d++)
				dx[d] += g[d] / (float)L2_EPS;
			continue;
		}
		for (s = 0, d = 0; d < D; d++)
			s += (double)y[d] * g[d];
		dot = (float)s;
		inv = 1.0f / norm[n];
		for (d = 0; d < D; d++)
			dx[d] += (g[d] - y[d] * dot) * inv;
	}
}
