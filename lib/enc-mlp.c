/*
 * enc-mlp.c - the encoder kinds "mlp" (a factor vector) and "mlp-flatten"
 * (the image flattened): nhidden blocks Linear - BatchNorm1d - ReLU of
 * the given widths, then a Linear to the output.  The two differ only in
 * name (and in the protocol's default weight decay): an input (C, H, W)
 * is read as C H W features either way.
 *
 * Spec part: [":" H1 "," H2 ...] (no list: a single Linear).
 * Tensors: nn.Sequential "net", block i "net.<3i>" (Linear) and
 * "net.<3i+1>" (BatchNorm1d), the output Linear "net.<3 nhidden>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli.h"
#include "encoder-impl.h"
#include "err.h"
#include "nn.h"
#include "pool.h"

#define MAXHIDDEN 64

struct mlp {
	int nhidden, hidden[MAXHIDDEN];
	struct mm_enc_dense dense[MAXHIDDEN + 1];  /* the blocks, the output */
	float *xin;                /* (B, Din) the input, for backward */
	float *out;                /* (B, out_dim) */
};

static int
mlp_parse(struct mm_encoder *e, const char *s, const char **end,
    const char *spec)
{
	struct mlp *m;

	if (!(e->k = m = calloc(1, sizeof *m)))
		return mm_err(MM_ENOMEM, "encoder: out of memory");
	if (*s == ':') {
		s++;
		while (*s && *s != '/') {
			if (m->nhidden == MAXHIDDEN)
				return mm_err(MM_EINVAL, "encoder \"%s\": more "
				    "than %d hidden layers", spec, MAXHIDDEN);
			if (mm_enc_parse_int(&s, &m->hidden[m->nhidden++]))
				return mm_err(MM_EINVAL, "encoder \"%s\": bad "
				    "hidden size", spec);
			if (*s == ',')
				s++;
			else if (*s && *s != '/')
				return mm_err(MM_EINVAL, "encoder \"%s\": "
				    "expected ',' or '/'", spec);
		}
	}
	*end = s;
	return 0;
}

/* "mlp:16,8" ("mlp:" without hidden layers) */
static void
mlp_canon(const struct mm_encoder *e, char *buf, size_t cap)
{
	const struct mlp *m = e->k;
	size_t n = snprintf(buf, cap, "%s:", e->kind->name);
	int i;

	for (i = 0; i < m->nhidden && n < cap; i++)
		n += snprintf(buf + n, cap - n, "%s%d", i ? "," : "",
		    m->hidden[i]);
}

/* The products' threads: as many as the BLAS was given
 * (mm_blas_threads()), at most MM_GEMM_SLICES_MAX (no product has more
 * slices); none when they cannot be started. */
static int
mlp_setup(struct mm_encoder *e)
{
	int T = openblas_get_num_threads();

	e->pool = mm_pool_new(T > MM_GEMM_SLICES_MAX ? MM_GEMM_SLICES_MAX : T);
	return 0;
}

static void
mlp_build(struct mm_encoder *e)
{
	struct mlp *m = e->k;
	char a[MM_ENC_NAMELEN], b[MM_ENC_NAMELEN];
	int i, Din = e->din;

	m->xin = mm_enc_act(e, (size_t)e->max_batch * e->din);
	for (i = 0; i < m->nhidden; i++) {
		snprintf(a, sizeof a, "net.%d", 3 * i);
		snprintf(b, sizeof b, "net.%d", 3 * i + 1);
		mm_enc_dense_build(e, &m->dense[i], Din, m->hidden[i], 1, a, b);
		Din = m->hidden[i];
	}
	snprintf(a, sizeof a, "net.%d", 3 * m->nhidden);
	mm_enc_dense_build(e, &m->dense[i], Din, e->out_dim, 0, a, NULL);
	m->out = m->dense[i].pre;
	mm_enc_work(e);
}

/* PyTorch's defaults: Linear weight kaiming_uniform_(a = sqrt 5), i.e.
 * U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(fan_in)); BatchNorm weight 1,
 * bias 0, running mean 0, running variance 1. */
static void
mlp_init(struct mm_encoder *e, struct mm_rng *rng)
{
	struct mlp *m = e->k;
	int i;

	for (i = 0; i <= m->nhidden; i++)
		mm_enc_dense_init(&m->dense[i], 0, rng);
}

static const float *
mlp_forward(struct mm_encoder *e, const float *x, int N, int train)
{
	struct mlp *m = e->k;
	const float *in;
	int i;

	/* keep the input for the first layer's weight gradient (training
	 * only: in evaluation nothing reads it again) */
	in = x;
	if (train) {
		memcpy(m->xin, x, (size_t)N * e->din * sizeof *x);
		in = m->xin;
	}
	for (i = 0; i <= m->nhidden; i++) {
		mm_enc_dense_forward(e, &m->dense[i], in, N, train);
		in = m->dense[i].bn ? m->dense[i].post : m->dense[i].pre;
	}
	return m->out;
}

static void
mlp_backward(struct mm_encoder *e, const float *dy, int N)
{
	struct mlp *m = e->k;
	struct mm_enc_dense *d;
	float *dpost, *dpre;
	double t;
	int i;

	/* g[0], g[1] alternate as the gradient of a block output; g[2] is
	 * the gradient of a Linear output before its BatchNorm */
	dpost = e->g[0];
	dpre = e->g[2];
	for (i = m->nhidden; i >= 0; i--) {
		d = &m->dense[i];
		const float *x = i ? m->dense[i - 1].post : m->xin;
		const float *g = dy;
		if (d->bn) {
			t = mm_now();
			memset(dpre, 0, (size_t)N * d->Dout * sizeof *dpre);
			mm_batchnorm_backward(dpre, d->dgamma, d->dbeta, dpost,
			    d->post, d->pre, d->mean, d->rstd, d->gamma, N,
			    d->Dout);
			e->tb[d->tbn] += mm_now() - t;
			g = dpre;
		}
		dpost = dpost == e->g[0] ? e->g[1] : e->g[0];
		if (i)
			memset(dpost, 0, (size_t)N * d->Din * sizeof *dpost);
		mm_enc_dense_backward(e, d, i ? dpost : NULL, x, g, N);
	}
}

static double
mlp_flops(const struct mm_encoder *e)
{
	const struct mlp *m = e->k;
	double f = 0;
	int i;

	for (i = 0; i <= m->nhidden; i++)
		f += 2.0 * m->dense[i].Din * m->dense[i].Dout;
	return f;
}

static void
mlp_info(const struct mm_encoder *e, struct mm_encoder_info *info)
{
	const struct mlp *m = e->k;

	info->depth = m->nhidden;
	info->bn_stats = m->nhidden > 0;
}

static void
mlp_free(struct mm_encoder *e)
{
	free(e->k);
	e->k = NULL;
}

const struct mm_encoder_kind mm_enc_mlp = {
	.name = "mlp",
	.syntax = "mlp[:H1,H2,...][/OUT]",
	.help = "Linear-BatchNorm1d-ReLU blocks, then a Linear",
	.weight_decay = 0,
	.eval_batch = 256,
	.parse = mlp_parse,
	.canon = mlp_canon,
	.setup = mlp_setup,
	.build = mlp_build,
	.init = mlp_init,
	.forward = mlp_forward,
	.backward = mlp_backward,
	.flops = mlp_flops,
	.info = mlp_info,
	.free = mlp_free,
	.bf16 = 1,
};

/* as published, the flattened-image mlp trains with weight decay 1e-4 */
const struct mm_encoder_kind mm_enc_mlp_flatten = {
	.name = "mlp-flatten",
	.syntax = "mlp-flatten[:H1,H2,...][/OUT]",
	.help = "the same over the flattened image",
	.weight_decay = 1e-4,
	.eval_batch = 256,
	.parse = mlp_parse,
	.canon = mlp_canon,
	.setup = mlp_setup,
	.build = mlp_build,
	.init = mlp_init,
	.forward = mlp_forward,
	.backward = mlp_backward,
	.flops = mlp_flops,
	.info = mlp_info,
	.free = mlp_free,
	.bf16 = 1,
};
