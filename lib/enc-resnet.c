/*
 * enc-resnet.c - the encoder kind "resnet": the CIFAR ResNet (He et al.,
 * as in Y. Idelbayev's reference code) of depth N = 6n + 2: a conv3x3 +
 * BatchNorm2d + ReLU stem of WIDTH channels, three stages of n basic
 * blocks of WIDTH, 2 WIDTH and 4 WIDTH channels (the first block of
 * stages 2 and 3 at stride 2, with option-A shortcuts that place the input
 * channels at offset Cout/4 between zeros), global average pooling and a
 * Linear to the output.
 *
 * Spec part: the depth N ("resnet20").  Tensors: "conv1.weight", "bn1.*",
 * "layer<s>.<j>.conv1|conv2.weight", "layer<s>.<j>.bn1|bn2.*",
 * "linear.weight|bias".
 *
 * Activations are NHWC.  The batch is cut into NSLICE slices of whole
 * samples, taken in turn by T threads (a pool, pool.h), each calling a
 * one-thread BLAS; sums over the batch (BatchNorm statistics, weight
 * gradients) are kept per slice and added in slice order, so results do
 * not depend on T or on timing.
 *
 * A unit's BatchNorm-ReLU apply pass is done by the next convolution
 * while it pads (fp32) or packs (bf16) its input, storing the output on
 * the way, for every unit but the last and those with a projection
 * shortcut (deferred()): one pass over the activation and a read back
 * fewer, with the same bits.
 *
 * With the bf16 precision (mm_encoder_set_precision()) every convolution
 * and the Linear take bf16 products with fp32 accumulation (conv.h,
 * gemm-bf16.h), and the convolutions' outputs, the BatchNorm inputs, are
 * stored in bf16 (pre16()), as autocast stores them: the passes that read
 * them back move half the bytes.  Weights, BatchNorm arithmetic and
 * statistics, the ReLU outputs, pooling, the shortcuts and all gradients
 * stay fp32.
 *
 * The first unit of each block keeps no output (in fp32 where the direct
 * kernels run, in bf16 where both convolutions take bf16 products): the
 * second convolution and the backward form it from the unit's BatchNorm
 * input where they read it, with the bits it would have had (folded()).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli.h"
#include "encoder-impl.h"
#include "err.h"
#include "gemm-bf16.h"
#include "nn.h"
#include "pool.h"

#define WIDTH 16               /* channels of the stem and stage 1 */
#define CMAX (4 * WIDTH)       /* channels of stage 3, the widest */
#define NSLICE 16

/* conv3x3 + BatchNorm2d; input (B, H, W, Cin) NHWC. */
struct unit {
	int Cin, Cout, stride, H, W, Ho, Wo;
	float *w, *dw;                         /* (Cout, Cin, 3, 3) */
	float *gamma, *beta, *dgamma, *dbeta;  /* (Cout) */
	float *rmean, *rvar, *mean, *rstd;     /* (Cout) */
	float *pre, *post;                     /* (B, Ho, Wo, Cout) */
	int tconv, tbn;
};

struct resnet {
	int depth, nblocks;        /* depth = 6 nblocks + 2 */
	int nunits;                /* the stem, then two per block */
	struct unit *units;
	struct mm_enc_dense out;   /* "linear" */
	int tin, tpool;            /* timer rows of the input and the pool */
	float *xin;                /* (B, H, W, C) */
	float *pooled, *dpooled;   /* (B, CMAX) */
	float *scratch;            /* conv scratch, nscratch floats per thread */
	size_t nscratch;
	int T, blas_saved;
	struct mm_pool *pool;
	double *bsum;              /* (NSLICE, 2, CMAX) BatchNorm sums */
	float *dwsl;               /* (NSLICE, maxw) conv weight gradients */
	size_t maxw;
	float coef[3 * CMAX];      /* BatchNorm backward coefficients */
	float *wt;                 /* (maxw) the phase's conv weights rearranged */
	uint32_t *wtb;             /* (maxwb) ... as bf16 pairs (bf16 precision) */
	size_t maxwb;
};

/* ---- spec and building ---- */

static int
res_parse(struct mm_encoder *e, const char *s, const char **end,
    const char *spec)
{
	struct resnet *r;

	if (!(e->k = r = calloc(1, sizeof *r)))
		return mm_err(MM_ENOMEM, "encoder: out of memory");
	if (mm_enc_parse_int(&s, &r->depth) || r->depth < 8 ||
	    (r->depth - 2) % 6)
		return mm_err(MM_EINVAL, "encoder \"%s\": depth must be 6n+2 "
		    "(20, 32, 44, 56, 110, ...)", spec);
	r->nblocks = (r->depth - 2) / 6;
	r->nunits = 1 + 6 * r->nblocks;
	if (!(r->units = calloc(r->nunits, sizeof *r->units)))
		return mm_err(MM_ENOMEM, "encoder: out of memory");
	*end = s;
	return 0;
}

static void
res_canon(const struct mm_encoder *e, char *buf, size_t cap)
{
	const struct resnet *r = e->k;

	snprintf(buf, cap, "%s%d", e->kind->name, r->depth);
}

/* As many threads as the BLAS was given (mm_blas_threads()), at most one
 * per slice; one when they cannot be started. */
static int
res_setup(struct mm_encoder *e)
{
	struct resnet *r = e->k;

	r->T = openblas_get_num_threads();
	r->T = r->T < 1 ? 1 : r->T > NSLICE ? NSLICE : r->T;
	if (!(r->bsum = calloc(NSLICE * 2 * CMAX, sizeof *r->bsum)))
		return -1;
	r->pool = mm_pool_new(r->T);
	r->T = mm_pool_threads(r->pool);
	return 0;
}

static void
build_unit(struct mm_encoder *e, struct unit *u, int Cin, int Cout,
    int stride, int H, int W, const char *conv, const char *bn)
{
	struct resnet *r = e->k;
	size_t B = e->max_batch, n, s;

	u->Cin = Cin;
	u->Cout = Cout;
	u->stride = stride;
	u->H = H;
	u->W = W;
	u->Ho = (H - 1) / stride + 1;
	u->Wo = (W - 1) / stride + 1;
	u->w = mm_enc_reg(e, &u->dw, 1, 4, Cout, Cin, 3, 3, "%s.weight", conv);
	u->tconv = mm_enc_timer(e, conv);
	u->gamma = mm_enc_reg(e, &u->dgamma, 1, 1, Cout, 0, 0, 0, "%s.weight",
	    bn);
	u->beta = mm_enc_reg(e, &u->dbeta, 1, 1, Cout, 0, 0, 0, "%s.bias", bn);
	u->rmean = mm_enc_reg(e, NULL, 0, 1, Cout, 0, 0, 0, "%s.running_mean",
	    bn);
	u->rvar = mm_enc_reg(e, NULL, 0, 1, Cout, 0, 0, 0, "%s.running_var",
	    bn);
	u->tbn = mm_enc_timer(e, bn);
	u->mean = mm_enc_act(e, Cout);
	u->rstd = mm_enc_act(e, Cout);
	n = B * u->Ho * u->Wo * Cout;
	u->pre = mm_enc_act(e, n);
	u->post = mm_enc_act(e, n);
	mm_enc_need_g(e, n);
	mm_enc_need_g(e, B * H * W * Cin);
	s = mm_conv3x3_scratch(H, W, Cin, Cout);
	if (s > r->nscratch)
		r->nscratch = s;
	/* the bf16 precision may be chosen after building */
	s = mm_conv3x3_bf16_scratch(H, W, Cin, Cout);
	if (s > r->nscratch)
		r->nscratch = s;
	if (mm_conv3x3_bf16_wsize(Cin, Cout) > r->maxwb)
		r->maxwb = mm_conv3x3_bf16_wsize(Cin, Cout);
	if ((size_t)Cout * Cin * 9 > r->maxw)
		r->maxw = (size_t)Cout * Cin * 9;
}

static void
res_build(struct mm_encoder *e)
{
	struct resnet *r = e->k;
	char a[MM_ENC_NAMELEN], b[MM_ENC_NAMELEN];
	int j, s, H = e->H, W = e->W, Cin = WIDTH, Cout, stride, u = 1;
	size_t B = e->max_batch;

	r->nscratch = r->maxw = r->maxwb = 0;
	r->tin = mm_enc_timer(e, "input");
	r->xin = mm_enc_act(e, B * e->C * e->H * e->W);
	build_unit(e, &r->units[0], e->C, WIDTH, 1, H, W, "conv1", "bn1");
	for (s = 0; s < 3; s++) {
		Cout = WIDTH << s;
		for (j = 0; j < r->nblocks; j++) {
			stride = s > 0 && j == 0 ? 2 : 1;
			snprintf(a, sizeof a, "layer%d.%d.conv1", s + 1, j);
			snprintf(b, sizeof b, "layer%d.%d.bn1", s + 1, j);
			build_unit(e, &r->units[u], Cin, Cout, stride, H, W, a,
			    b);
			H = r->units[u].Ho;
			W = r->units[u].Wo;
			u++;
			snprintf(a, sizeof a, "layer%d.%d.conv2", s + 1, j);
			snprintf(b, sizeof b, "layer%d.%d.bn2", s + 1, j);
			build_unit(e, &r->units[u], Cout, Cout, 1, H, W, a, b);
			u++;
			Cin = Cout;
		}
	}
	r->tpool = mm_enc_timer(e, "avgpool");
	r->pooled = mm_enc_act(e, B * CMAX);
	r->dpooled = mm_enc_act(e, B * CMAX);
	mm_enc_dense_build(e, &r->out, CMAX, e->out_dim, 0, "linear", NULL);
	mm_enc_work(e);
	r->scratch = mm_enc_act(e, r->nscratch * r->T);
	r->dwsl = mm_enc_act(e, NSLICE * r->maxw);
	r->wt = mm_enc_act(e, r->maxw);
	/* words of 4 bytes, like floats */
	r->wtb = (uint32_t *)mm_enc_act(e, r->maxwb);
}

/* The reference code's initialisation: conv and Linear weights
 * kaiming_normal_ (fan_in, gain sqrt 2), Linear bias PyTorch's default
 * U(+-1/sqrt(fan_in)), BatchNorm weight 1, bias 0, running mean 0,
 * running variance 1; drawn in state_dict order. */
static void
res_init(struct mm_encoder *e, struct mm_rng *rng)
{
	struct resnet *r = e->k;
	struct unit *u;
	int i;

	for (i = 0; i < r->nunits; i++) {
		u = &r->units[i];
		mm_enc_normal(u->w, (int64_t)u->Cout * u->Cin * 9,
		    (float)sqrt(2.0 / (u->Cin * 9)), rng);
		mm_enc_fill(u->gamma, u->Cout, 1);
		mm_enc_fill(u->beta, u->Cout, 0);
		mm_enc_fill(u->rmean, u->Cout, 0);
		mm_enc_fill(u->rvar, u->Cout, 1);
	}
	mm_enc_dense_init(&r->out, 1, rng);
}

/* ---- slice-parallel phases ---- */

enum {
	F_IN, F_CONV, F_APPLY, F_POOL,
	B_POOL, B_TOP, B_GSUM, B_CONV
};

/* One phase: an operation on every slice of the batch. */
struct job {
	struct mm_encoder *e;
	int op, N, train;
	const float *x;        /* F_IN: the input (N, C, H, W) */
	struct unit *u;        /* the unit of the phase */
	const float *in;       /* its input (N, H, W, Cin) */
	const struct mm_bn_relu *ibn;  /* F_CONV, B_CONV: in is the input's
	                        * BatchNorm input (a folded unit's pre) */
	const struct mm_bn_relu *obn;  /* B_CONV: u is folded (its ReLU
	                        * output formed from u->pre) */
	struct unit *pend;     /* forward: the unit whose apply pass is
	                        * deferred to the next F_CONV (deferred()) */
	const float *pend_res; /* ... and its shortcut input, or NULL */
	struct unit *blk;      /* F_APPLY, B_TOP: the block's first unit
	                        * (shortcut geometry) when u ends a block */
	const float *res;      /* F_APPLY: the block input (shortcut) */
	float *dy;             /* B_*: gradient of u's output */
	int relu;              /* ... before u's fused ReLU */
	float *dx;             /* B_CONV: input gradient (N, H, W, Cin) or NULL */
	int dx_add;            /* ... added to (1) or overwritten (0) */
	struct unit *next;     /* B_CONV: then the sums of this unit's
	                        * backward, with dy = dx (ReLU fused) */
	int next_mask;         /* ... dx masked in place by next's ReLU
	                        * (a block output: mm_bn_grad_sum_mask) */
	int top_sums;          /* B_TOP: the sums are to be done (not
	                        * already by the B_CONV phase before) */
	double tconv, tbn;     /* thread 0's own time in each part */
	int next_slice;        /* the next slice to take */
};

/* Whether the convolutions take bf16 products (with their input gradient
 * but the stem's): in the bf16 precision every unit's, or none
 * when one of them does not fit the kernels (an input of more than 64
 * channels), so that each stored tensor is of the kind every unit
 * reading it expects (pre16()). */
static int
bf16(const struct mm_encoder *e)
{
	const struct resnet *r = e->k;
	int k;

	if (e->prec != MM_PREC_BF16)
		return 0;
	for (k = 0; k < r->nunits; k++)
		if (!mm_conv3x3_bf16_ok(r->units[k].Cin, r->units[k].Cout,
		    r->units[k].Cin > 4))
			return 0;
	return 1;
}

/*
 * Whether u's output is folded: not stored, but formed from u->pre sample
 * by sample wherever it is read (struct mm_bn_relu; the same bits).  So
 * for the first unit of a block when both of the block's convolutions
 * take bf16 products, or in fp32 when both run the direct kernels sample
 * by sample: its output is read only by the second convolution (its
 * input, its weight gradient, the sums of u's backward fed from that
 * backward) and by u's own backward (the ReLU mask).  Not storing it
 * spares one write and up to four reads of a tensor of the block's size,
 * and its memory.
 */
static int
folded(const struct mm_encoder *e, const struct unit *u)
{
	const struct resnet *r = e->k;

	if ((u - r->units) % 2 != 1 || MM_BN_LANES % u->Cout)
		return 0;
	if (e->prec == MM_PREC_BF16)
		return bf16(e);
	return mm_conv3x3_bn_direct(u->Cin, u->Cout, u->stride) &&
	    mm_conv3x3_bn_direct(u[1].Cin, u[1].Cout, u[1].stride);
}

/*
 * Whether u's apply pass is deferred: done by the next unit's convolution
 * sample by sample (storing u's output on the way, then packing or
 * padding it from registers) instead of a pass of its own followed by a
 * read back.  So for every unit but the last whose output is a plain
 * ReLU-BatchNorm, with an identity shortcut or none (not a block's second
 * unit with a projection shortcut, whose shortcut pass comes between the
 * BatchNorm and the ReLU), and not folded.
 */
static int
deferred(const struct mm_encoder *e, const struct unit *u)
{
	const struct resnet *r = e->k;
	long k = u - r->units;

	if (k + 1 >= r->nunits || folded(e, u))
		return 0;
	return k % 2 == 1 || k == 0 || (u[-1].stride == 1 &&
	    u[-1].Cin == u[-1].Cout);
}

static struct mm_bn_relu
bn_relu(const struct unit *u)
{
	struct mm_bn_relu b = { u->mean, u->rstd, u->gamma, u->beta, NULL,
	    NULL };

	return b;
}

static size_t
opix(const struct unit *u)      /* output floats per sample */
{
	return (size_t)u->Ho * u->Wo * u->Cout;
}

static size_t
ipix(const struct unit *u)      /* input floats per sample */
{
	return (size_t)u->H * u->W * u->Cin;
}

/* u's BatchNorm input in bf16: the outputs of bf16 convolutions are
 * stored so (conv.h), in the first half of u->pre */
static uint16_t *
pre16(const struct unit *u)
{
	return (uint16_t *)u->pre;
}

/* u's BatchNorm input, len floats from offset o, in fp32: u->pre + o
 * itself, or pre16(u) widened into T + o (then the passes below make the
 * bits of the fp32 path on those values) */
static const float *
pre32(const struct mm_encoder *e, const struct unit *u, size_t o, size_t len,
    float *T)
{
	if (!bf16(e))
		return u->pre + o;
	mm_bf16_widen(T + o, pre16(u) + o, len);
	return T + o;
}

/* j's input from offset i as the convolutions take it: with j->ibn, in is
 * a unit's pre, in bf16 (pre16()) when the convolutions take bf16 */
static const void *
input_at(const struct job *j, size_t i)
{
	return j->ibn && bf16(j->e) ? (const void *)((const uint16_t *)j->in +
	    i) : (const void *)(j->in + i);
}

/* Slice s of phase j on thread tid; returns the time spent in the
 * BatchNorm parts (for the per-layer table). */
static double
slice_work(struct job *j, int s, int tid)
{
	struct mm_encoder *e = j->e;
	struct resnet *r = e->k;
	int n0 = (int)((long)j->N * s / NSLICE);
	int n1 = (int)((long)j->N * (s + 1) / NSLICE), n = n1 - n0;
	struct unit *u = j->u, *b = j->blk;
	double *s1 = r->bsum + (size_t)s * 2 * CMAX, *s2 = s1 + CMAX;
	float *scr = r->scratch + tid * r->nscratch, *T = e->g[3];
	float *dw = r->dwsl + s * r->maxw;
	size_t o = u ? n0 * opix(u) : 0, i = u ? n0 * ipix(u) : 0;
	size_t M = u ? (size_t)n * u->Ho * u->Wo : 0, k, len;
	double t = 0, cnt;
	struct mm_bn_gsum gs;   /* B_CONV: the next unit's sums */
	struct mm_bn_relu ib;
	struct unit *v;
	const float *x;
	int fused;

	switch (j->op) {
	case F_IN:
		k = (size_t)e->C * e->H * e->W;
		mm_nchw_to_nhwc(r->xin + n0 * k, j->x + n0 * k, n, e->C,
		    e->H * e->W);
		break;
	case F_CONV:
		/* with the slice's statistics when training */
		memset(s1, 0, 2 * CMAX * sizeof *s1);
		cnt = 0;
		/* a folded or deferred input's res and out from this slice */
		if (j->ibn) {
			ib = *j->ibn;
			if (ib.res)
				ib.res += i;
			if (ib.out)
				ib.out += i;
		}
		if (bf16(e)) {
			mm_conv3x3_forward_bf16(pre16(u) + o, j->train ? s1 :
			    NULL, &cnt, input_at(j, i), j->ibn ? &ib : NULL,
			    r->wtb, n, u->H, u->W, u->Cin, u->Cout, u->stride,
			    scr);
			break;
		}
		if (j->ibn) {
			mm_conv3x3_forward_bn(u->pre + o, j->train ? s1 : NULL,
			    &cnt, j->in + i, &ib, u->w, j->train ? r->wt : NULL,
			    n, u->H, u->W, u->Cin, u->Cout, u->stride, scr);
			break;
		}
		if (!j->train) {
			mm_conv3x3_forward(u->pre + o, j->in + i, u->w, n,
			    u->H, u->W, u->Cin, u->Cout, u->stride, scr);
			break;
		}
		/* with the BatchNorm statistics of the slice: s1 (2, Cout) */
		mm_conv3x3_forward_stats(u->pre + o, s1, &cnt, j->in + i,
		    u->w, r->wt, n, u->H, u->W, u->Cin, u->Cout, u->stride,
		    scr);
		break;
	case F_APPLY:
		x = pre32(e, u, o, M * u->Cout, T);
		if (!b || (b->stride == 1 && b->Cin == b->Cout)) {
			mm_bn_apply(u->post + o, x, b ? j->res + o : NULL,
			    u->mean, u->rstd, u->gamma, u->beta, M,
			    u->Cout, 1);
			break;
		}
		mm_bn_apply(u->post + o, x, NULL, u->mean, u->rstd, u->gamma,
		    u->beta, M, u->Cout, 0);
		mm_shortcut_forward(u->post + o, j->res + n0 * ipix(b), n,
		    b->H, b->W, b->Cin, b->Cout, b->stride);
		mm_relu_forward(u->post + o, u->post + o, M * u->Cout);
		break;
	case F_POOL:
		mm_avgpool_forward(r->pooled + (size_t)n0 * u->Cout,
		    j->in + o, n, u->Ho * u->Wo, u->Cout);
		break;
	case B_POOL:
		len = (size_t)n * opix(u);
		memset(j->dy + o, 0, len * sizeof(float));
		mm_avgpool_backward(j->dy + o, r->dpooled +
		    (size_t)n0 * u->Cout, n, u->Ho * u->Wo, u->Cout);
		break;
	case B_TOP:
		/* gradient of the block output, through its ReLU (masked
		 * in place), to the second BatchNorm and the shortcut (dx) */
		len = M * u->Cout;
		if (j->top_sums)
			mm_bn_grad_sum_mask(s1, s2, j->dy + o, u->post + o,
			    pre32(e, u, o, len, T), u->mean, u->rstd, M,
			    u->Cout);
		if (b->stride == 1 && b->Cin == b->Cout) {
			/* identity: dx is dy itself (the caller's buffer
			 * rotation), the first unit's backward adds to it */
			if (j->dx != j->dy)
				memcpy(j->dx + o, j->dy + o,
				    len * sizeof(float));
		} else {
			k = n0 * ipix(b);
			memset(j->dx + k, 0, n * ipix(b) * sizeof(float));
			mm_shortcut_backward(j->dx + k, j->dy + o, n, b->H,
			    b->W, b->Cin, b->Cout, b->stride);
		}
		break;
	case B_GSUM:
		mm_bn_grad_sum(s1, s2, j->dy + o, j->relu ? u->post + o : NULL,
		    pre32(e, u, o, M * u->Cout, T), u->mean, u->rstd, M,
		    u->Cout);
		break;
	case B_CONV:
		/* the BatchNorm backward is formed inside, sample by sample
		 * (through T only on the portable path) */
		memset(dw, 0, r->maxw * sizeof *dw);
		/* the next unit's sums fed sample by sample while dx is in
		 * cache, when they stream (C a lane width) */
		v = j->next;
		fused = v && j->dx && mm_bn_gsum_start(&gs, v->mean, v->rstd,
		    v->Cout, j->next_mask);
		/* (a folded output: obn, ibn; its post unused) */
		if (bf16(e) && fused)
			mm_conv3x3_backward_bn_gsum_bf16(j->dx + i, j->dx_add,
			    dw, j->dy + o, j->relu ? u->post + o : NULL, j->obn,
			    pre16(u) + o, r->coef, input_at(j, i), j->ibn,
			    r->wtb, n, u->H, u->W, u->Cin, u->Cout, u->stride,
			    scr, &gs, v->post + i, pre16(v) + i);
		else if (bf16(e))
			mm_conv3x3_backward_bn_bf16(j->dx ? j->dx + i : NULL,
			    j->dx_add, dw, j->dy + o, j->relu ? u->post + o :
			    NULL, j->obn, pre16(u) + o, r->coef, input_at(j, i),
			    j->ibn, r->wtb, n, u->H, u->W, u->Cin, u->Cout,
			    u->stride, scr);
		else if (fused)
			mm_conv3x3_backward_bn_gsum(j->dx + i, j->dx_add, dw,
			    j->dy + o, j->relu ? u->post + o : NULL, j->obn,
			    u->pre + o, r->coef, j->in + i, j->ibn, u->w, r->wt,
			    n, u->H, u->W, u->Cin, u->Cout, u->stride, scr,
			    T + o, &gs, v->post + i, v->pre + i);
		else
			mm_conv3x3_backward_bn(j->dx ? j->dx + i : NULL,
			    j->dx_add, dw, j->dy + o, j->relu ? u->post + o :
			    NULL, j->obn, u->pre + o, r->coef, j->in + i, j->ibn,
			    u->w, j->dx ? r->wt : NULL, n, u->H, u->W, u->Cin,
			    u->Cout, u->stride, scr, T + o);
		if (fused) {
			mm_bn_gsum_end(&gs, s1, s2);
			break;
		}
		if (v) {
			double t2 = mm_now();
			/* (T is free: in bf16 no convolution uses it) */
			x = pre32(e, v, i, n * ipix(u), T);
			if (j->next_mask)
				mm_bn_grad_sum_mask(s1, s2, j->dx + i,
				    v->post + i, x, v->mean, v->rstd,
				    (size_t)n * v->Ho * v->Wo, v->Cout);
			else
				mm_bn_grad_sum(s1, s2, j->dx + i, v->post + i,
				    x, v->mean, v->rstd,
				    (size_t)n * v->Ho * v->Wo, v->Cout);
			t += mm_now() - t2;
		}
		break;
	}
	return t;
}

/* Slices are taken in turn (mm_pool_next()), so a thread slowed by other
 * work on its core does fewer of them; a slice's result does not depend
 * on the thread that computes it. */
static void
run_slices(void *arg, int tid)
{
	struct job *j = arg;
	struct resnet *r = j->e->k;
	double t = mm_now(), tbn = 0;
	int s;

	while ((s = mm_pool_next(r->pool, &j->next_slice)) < NSLICE)
		tbn += slice_work(j, s, tid);
	if (tid == 0) {
		j->tbn = tbn;
		j->tconv = mm_now() - t - tbn;
	}
}

/* Run phase op; its wall time goes to timer rows ic and ib (< 0: none)
 * in the proportion of thread 0's own time in each part. */
static void
phase(struct mm_encoder *e, struct job *j, int op, int ic, int ib, int fwd)
{
	double t = mm_now(), w, f;
	double *tm = fwd ? e->tf : e->tb;
	struct resnet *r = e->k;

	j->op = op;
	j->tconv = j->tbn = 0;
	j->next_slice = 0;
	j->e = e;
	mm_pool_run(r->pool, run_slices, j);
	w = mm_now() - t;
	f = j->tconv + j->tbn > 0 ? j->tconv / (j->tconv + j->tbn) : 1;
	if (ic < 0)
		f = 0;
	if (ic >= 0)
		tm[ic] += w * f;
	if (ib >= 0)
		tm[ib] += w * (1 - f);
}

/* The per-slice BatchNorm sums added in slice order: t1, t2 (C). */
static void
bn_total(struct resnet *r, double *t1, double *t2, int C)
{
	int s, c;

	for (c = 0; c < C; c++) {
		t1[c] = t2[c] = 0;
		for (s = 0; s < NSLICE; s++) {
			t1[c] += r->bsum[s * 2 * CMAX + c];
			t2[c] += r->bsum[s * 2 * CMAX + CMAX + c];
		}
	}
}

/* u->dw += the per-slice weight gradients added in slice order. */
static void
dw_total(struct resnet *r, struct unit *u)
{
	size_t n = (size_t)u->Cout * u->Cin * 9, k;
	const float *d = r->dwsl;
	float t;
	int s;

	for (k = 0; k < n; k++) {
		t = d[k];
		for (s = 1; s < NSLICE; s++)
			t += d[s * r->maxw + k];
		u->dw[k] += t;
	}
}

/* bn(conv(in)) (+ shortcut of res when blk), then ReLU */
static void
unit_forward(struct mm_encoder *e, struct job *j, struct unit *u,
    const float *in, struct unit *blk, const float *res)
{
	struct resnet *r = e->k;
	double st[2 * CMAX], cnt = 0;
	size_t M = (size_t)j->N * u->Ho * u->Wo;
	struct mm_bn_relu ib;
	int s, c;

	j->u = u;
	j->in = in;
	j->ibn = NULL;
	if (blk && folded(e, blk)) {
		ib = bn_relu(blk);
		j->in = blk->pre;
		j->ibn = &ib;
	}
	if (j->pend) {
		/* the unit below's apply pass, in this convolution's */
		ib = bn_relu(j->pend);
		ib.res = j->pend_res;
		ib.out = j->pend->post;
		j->in = j->pend->pre;
		j->ibn = &ib;
		j->pend = NULL;
	}
	if (bf16(e))
		mm_conv3x3_bf16_weights(r->wtb, u->w, u->Cin, u->Cout, 0);
	else if (j->train)
		mm_conv3x3_weights(r->wt, u->w, u->Cin, u->Cout, 0);
	phase(e, j, F_CONV, u->tconv, u->tbn, 1);
	if (j->train) {
		/* merge the slices' (mean, squared deviations) in order */
		memset(st, 0, sizeof st);
		for (s = 0; s < NSLICE; s++)
			mm_bn_stats_add(st, &cnt, r->bsum + s * 2 * CMAX,
			    (double)((long)j->N * (s + 1) / NSLICE -
			    (long)j->N * s / NSLICE) * u->Ho * u->Wo, u->Cout);
		for (c = 0; c < u->Cout; c++)
			u->mean[c] = (float)st[c];
		mm_bn_var(u->rstd, u->rmean, u->rvar, u->mean, st + u->Cout,
		    M, u->Cout);
	} else {
		mm_bn_eval_stats(u->mean, u->rstd, u->rmean, u->rvar, u->Cout);
	}
	j->ibn = NULL;
	j->blk = blk;
	j->res = res;
	if (deferred(e, u)) {
		j->pend = u;
		j->pend_res = res;
	} else if (!folded(e, u)) {
		phase(e, j, F_APPLY, -1, u->tbn, 1);
	}
}

/* The one-thread BLAS inside the phases (each thread calls its own);
 * the caller's setting is restored afterwards. */
static void
blas_serial(struct resnet *r, int on)
{
	if (!r->pool)
		return;
	if (on) {
		r->blas_saved = openblas_get_num_threads();
		openblas_set_num_threads(1);
	} else {
		openblas_set_num_threads(r->blas_saved);
	}
}

static const float *
res_forward(struct mm_encoder *e, const float *x, int N, int train)
{
	struct resnet *r = e->k;
	struct unit *u1, *u2;
	struct job j;
	const float *in;
	int b;

	blas_serial(r, 1);
	memset(&j, 0, sizeof j);
	j.N = N;
	j.train = train;
	j.x = x;
	phase(e, &j, F_IN, r->tin, -1, 1);
	unit_forward(e, &j, &r->units[0], r->xin, NULL, NULL);
	in = r->units[0].post;
	for (b = 0; b < 3 * r->nblocks; b++) {
		u1 = &r->units[1 + 2 * b];
		u2 = u1 + 1;
		unit_forward(e, &j, u1, in, NULL, NULL);
		unit_forward(e, &j, u2, u1->post, u1, in);
		in = u2->post;
	}
	j.u = &r->units[r->nunits - 1];
	j.in = in;
	phase(e, &j, F_POOL, r->tpool, -1, 1);
	mm_enc_dense_forward(e, &r->out, r->pooled, N, train);
	blas_serial(r, 0);
	return r->out.pre;
}

/* The B_CONV phase of j.u, with its weights rearranged once for all
 * slices when an input gradient is wanted. */
static void
conv_phase(struct mm_encoder *e, struct job *j, int ic, int ib, int fwd)
{
	struct resnet *r = e->k;
	struct unit *u = j->u;

	if (j->dx && bf16(e))
		mm_conv3x3_bf16_weights(r->wtb, u->w, u->Cin, u->Cout, 1);
	else if (j->dx)
		mm_conv3x3_weights(r->wt, u->w, u->Cin, u->Cout, 1);
	phase(e, j, B_CONV, ic, ib, fwd);
}

/* coef and dgamma, dbeta of u from the summed slices */
static void
unit_coef(struct resnet *r, struct unit *u, int N)
{
	double t1[CMAX], t2[CMAX];

	bn_total(r, t1, t2, u->Cout);
	mm_bn_grad_coef(r->coef, u->dgamma, u->dbeta, t1, t2, u->mean,
	    u->rstd, u->gamma, (size_t)N * u->Ho * u->Wo, u->Cout);
}

static void
res_backward(struct mm_encoder *e, const float *dy, int N)
{
	struct resnet *r = e->k;
	struct unit *u0 = &r->units[0], *u1, *u2;
	float *G = e->g[0], *DX = e->g[1], *DH = e->g[2], *sw;
	struct mm_bn_relu fb;
	struct job j;
	int b, summed = 0, fo;

	blas_serial(r, 1);
	memset(r->dpooled, 0, (size_t)N * CMAX * sizeof(float));
	mm_enc_dense_backward(e, &r->out, r->dpooled, r->pooled, dy, N);
	memset(&j, 0, sizeof j);
	j.N = N;
	j.u = &r->units[r->nunits - 1];
	j.dy = G;
	phase(e, &j, B_POOL, r->tpool, -1, 0);
	for (b = 3 * r->nblocks - 1; b >= 0; b--) {
		u1 = &r->units[1 + 2 * b];
		u2 = u1 + 1;
		/* G: gradient of the block output; DX: of its input, which
		 * for an identity shortcut starts as G (after the ReLU) and
		 * can share its buffer: G is not read after u2's backward */
		if (u1->stride == 1 && u1->Cin == u1->Cout)
			DX = G;
		j.u = u2;
		j.blk = u1;
		j.dy = G;
		j.dx = DX;
		j.relu = 0;
		/* the BatchNorm sums of G, unless the block above did them;
		 * nothing else to do for an identity shortcut */
		j.top_sums = !summed;
		if (!summed || u1->stride != 1 || u1->Cin != u1->Cout)
			phase(e, &j, B_TOP, -1, u2->tbn, 0);
		unit_coef(r, u2, N);
		fb = bn_relu(u1);
		fo = folded(e, u1);
		j.in = fo ? u1->pre : u1->post;
		j.ibn = fo ? &fb : NULL;
		j.obn = NULL;
		j.dx = DH;
		j.dx_add = 0;
		j.next = u1;
		j.next_mask = 0;
		conv_phase(e, &j, u2->tconv, u2->tbn, 0);
		dw_total(r, u2);
		unit_coef(r, u1, N);
		j.u = u1;
		j.in = b ? r->units[2 * b].post : u0->post;
		j.ibn = NULL;
		j.obn = fo ? &fb : NULL;
		j.dy = DH;
		j.relu = 1;
		j.dx = DX;
		j.dx_add = 1;
		/* then, sample by sample, the sums of the unit below: the
		 * previous block's output (its ReLU masked in place) or the
		 * stem's */
		j.next = b ? &r->units[2 * b] : u0;
		j.next_mask = b > 0;
		conv_phase(e, &j, u1->tconv, u1->tbn, 0);
		summed = 1;
		dw_total(r, u1);
		sw = G;
		G = DX;
		DX = sw != G ? sw : e->g[1] != G ? e->g[1] : e->g[0];
	}
	j.u = u0;
	j.dy = G;
	j.relu = 1;
	if (!summed)
		phase(e, &j, B_GSUM, -1, u0->tbn, 0);
	unit_coef(r, u0, N);
	j.in = r->xin;
	j.ibn = j.obn = NULL;
	j.dx = NULL;
	j.next = NULL;
	conv_phase(e, &j, u0->tconv, u0->tbn, 0);
	dw_total(r, u0);
	blas_serial(r, 0);
}

static double
res_flops(const struct mm_encoder *e)
{
	const struct resnet *r = e->k;
	double f = 2.0 * r->out.Din * r->out.Dout;
	int i;

	for (i = 0; i < r->nunits; i++) {
		const struct unit *u = &r->units[i];
		f += 2.0 * u->Ho * u->Wo * u->Cout * 9.0 * u->Cin;
	}
	return f;
}

static void
res_info(const struct mm_encoder *e, struct mm_encoder_info *info)
{
	const struct resnet *r = e->k;

	info->depth = r->depth;
	info->bn_stats = 1;
}

static void
res_free(struct mm_encoder *e)
{
	struct resnet *r = e->k;

	if (!r)
		return;
	mm_pool_free(r->pool);
	free(r->bsum);
	free(r->units);
	free(r);
	e->k = NULL;
}

/* Evaluation batches of 64: ResNet-20 holds about 7 MB a row on 64x64. */
const struct mm_encoder_kind mm_enc_resnet = {
	.name = "resnet",
	.syntax = "resnetN[/OUT]",
	.help = "CIFAR ResNet, N = 6n+2 (20, 32, 44, 56, 110)",
	.weight_decay = 0,
	.eval_batch = 64,
	.parse = res_parse,
	.canon = res_canon,
	.setup = res_setup,
	.build = res_build,
	.init = res_init,
	.forward = res_forward,
	.backward = res_backward,
	.flops = res_flops,
	.info = res_info,
	.free = res_free,
	.bf16 = 1,
};
