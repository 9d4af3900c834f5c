/*
 * enc-vit.c - the encoder kind "vit": the Vision Transformer of vit.h
 * (torchvision's VisionTransformer: patch embedding, class token,
 * positional embedding, pre-norm blocks, the class token's LayerNorm, and
 * a Linear "heads.head" only when the output size differs from dim).
 *
 * Spec part: [":" key "=" value ("," key "=" value)*], keys patch, dim,
 * depth, heads, mlp (vit.h; defaults patch 8, dim 64, depth 2, heads 2,
 * mlp 128).  Tensors: torchvision's state_dict names (vit.h), all
 * parameters, no buffers: there is no BatchNorm and no train/eval
 * difference.
 *
 * vit.c carves the model from the encoder's blocks: the layout's tensors
 * are registered here in state_dict order, so they pack contiguously from
 * the start of the parameter block, and its activations are one block.
 * Threads: a pool of as many threads as the BLAS was given at creation
 * (capped at MM_VIT_MAXTHREADS); vit.c shares each pass out over it in
 * pieces fixed by the batch alone, so results do not depend on the count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli.h"
#include "encoder-impl.h"
#include "err.h"
#include "pool.h"
#include "vit.h"

struct vitk {
	struct mm_vit_cfg cfg;
	struct mm_vit vit;
	struct mm_pool *pool;
	struct mm_vit_tensor *t;   /* the layout (nt) */
	int nt;
	int tvit;                  /* timer row */
};

static int
vit_parse(struct mm_encoder *e, const char *s, const char **end,
    const char *spec)
{
	struct vitk *k;
	char msg[256];

	if (!(e->k = k = calloc(1, sizeof *k)))
		return mm_err(MM_ENOMEM, "encoder: out of memory");
	if (mm_vit_parse(&k->cfg, s, end) < 0) {
		snprintf(msg, sizeof msg, "%s", mm_errmsg());
		return mm_err(MM_EINVAL, "encoder \"%s\": %s", spec, msg);
	}
	return 0;
}

static void
vit_canon(const struct mm_encoder *e, char *buf, size_t cap)
{
	const struct vitk *k = e->k;

	mm_vit_canon(&k->cfg, buf, cap);
}

/* The input must suit the patches; the pool takes as many threads as the
 * BLAS was given. */
static int
vit_setup(struct mm_encoder *e)
{
	struct vitk *k = e->k;
	char msg[256];
	int T;

	if (mm_vit_check(&k->cfg, e->C, e->H, e->W) < 0) {
		snprintf(msg, sizeof msg, "%s", mm_errmsg());
		return mm_err(MM_EINVAL, "encoder \"%s\": %s", e->spec, msg);
	}
	k->nt = mm_vit_layout(&k->cfg, e->C, e->H, e->W, e->out_dim, NULL,
	    0);
	if (!(k->t = calloc(k->nt, sizeof *k->t)))
		return MM_ENOMEM;
	mm_vit_layout(&k->cfg, e->C, e->H, e->W, e->out_dim, k->t, k->nt);
	T = openblas_get_num_threads();
	T = T < 1 ? 1 : T > MM_VIT_MAXTHREADS ? MM_VIT_MAXTHREADS : T;
	k->pool = mm_pool_new(T);
	return 0;
}

static void
vit_build(struct mm_encoder *e)
{
	struct vitk *k = e->k;
	const struct mm_vit_tensor *t = k->t;
	float *p, *g, *p0 = NULL, *g0 = NULL, *acts;
	int i;

	for (i = 0; i < k->nt; i++) {
		p = mm_enc_reg(e, &g, 1, t[i].ndim, t[i].shape[0],
		    t[i].shape[1], t[i].shape[2], t[i].shape[3], "%s",
		    t[i].name);
		if (i == 0) {
			p0 = p;
			g0 = g;
		}
	}
	k->tvit = mm_enc_timer(e, "vit");
	acts = mm_enc_act(e, mm_vit_nacts(&k->cfg, e->C, e->H, e->W,
	    e->out_dim, e->max_batch));
	mm_enc_work(e);
	if (e->pass == 1) {
		/* cannot fail: vit_setup checked the sizes */
		mm_vit_setup(&k->vit, &k->cfg, e->C, e->H, e->W, e->out_dim,
		    e->max_batch, p0, g0, acts);
		mm_vit_set_pool(&k->vit, k->pool);
	}
}

static void
vit_init(struct mm_encoder *e, struct mm_rng *rng)
{
	struct vitk *k = e->k;

	mm_vit_init(&k->vit, rng);
}

/* train and eval are the same pass: no BatchNorm, no dropout */
static const float *
vit_forward(struct mm_encoder *e, const float *x, int N, int train)
{
	struct vitk *k = e->k;
	double t = mm_now();
	const float *y;

	(void)train;
	y = mm_vit_forward(&k->vit, x, N);
	e->tf[k->tvit] += mm_now() - t;
	return y;
}

static void
vit_backward(struct mm_encoder *e, const float *dy, int N)
{
	struct vitk *k = e->k;
	double t = mm_now();

	(void)N;
	mm_vit_backward(&k->vit, dy);
	e->tb[k->tvit] += mm_now() - t;
}

static double
vit_flops(const struct mm_encoder *e)
{
	const struct vitk *k = e->k;

	return mm_vit_flops(&k->vit);
}

static void
vit_info(const struct mm_encoder *e, struct mm_encoder_info *info)
{
	const struct vitk *k = e->k;

	info->depth = k->cfg.depth;
	info->bn_stats = 0;
}

static void
vit_free(struct mm_encoder *e)
{
	struct vitk *k = e->k;

	if (k) {
		mm_pool_free(k->pool);
		free(k->t);
	}
	free(k);
	e->k = NULL;
}

/* Evaluation batch 32: a row holds every block's activations, about
 * 0.5 MB for the default vit on 64x64 and 80 MB for the paper's tiny ViT
 * (patch 4, dim 384, depth 12: 257 tokens). */
const struct mm_encoder_kind mm_enc_vit = {
	.name = "vit",
	.syntax = "vit[:patch=P,dim=D,depth=L,heads=H,mlp=M][/OUT]",
	.help = "Vision Transformer (torchvision's), output the class token",
	.weight_decay = 0,
	.eval_batch = 32,
	.parse = vit_parse,
	.canon = vit_canon,
	.setup = vit_setup,
	.build = vit_build,
	.init = vit_init,
	.forward = vit_forward,
	.backward = vit_backward,
	.flops = vit_flops,
	.info = vit_info,
	.free = vit_free,
};
