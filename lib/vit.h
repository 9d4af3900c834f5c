/*
 * vit.h - a Vision Transformer image encoder (torchvision's
 * VisionTransformer, Dosovitskiy et al. 2021) and its layers as
 * forward/backward pairs over flat float arrays.
 *
 * Conventions are those of nn.h: sizes are passed in, shapes are written
 * beside each argument, backward functions ADD into every gradient they
 * produce (callers zero them first), no layer allocates.  Tokens are rows:
 * a batch of N sequences of T tokens of width D is (N, T, D), so every
 * Linear layer of the network is one cblas_sgemm over N T rows.
 *
 * The model, for an image (C, H, W) and patch P dividing H and W:
 *   tokens  x0[n, 0] = class_token + pos[0]
 *           x0[n, t] = conv_proj(image)[n, :, t-1] + pos[t], t = 1..HW/P^2
 *           (conv_proj: kernel = stride = P, with bias; T = 1 + HW/P^2)
 *   blocks  x = x + out_proj(MHA(ln_1(x)));  x = x + mlp(ln_2(x))
 *           mlp = Linear(D, M) - GELU (erf form) - Linear(M, D)
 *   output  y = ln(x)[:, 0]  (the class token, D wide), then a Linear
 *           "heads.head" (D -> out) only when out != D
 * LayerNorm eps 1e-6 (torchvision's partial(nn.LayerNorm, eps=1e-6));
 * attention is torch's nn.MultiheadAttention: packed in_proj (3D, D) and
 * bias (3D) giving q, k, v, heads of D/heads columns, softmax over keys of
 * q k^T / sqrt(D/heads), then out_proj.  No dropout (torchvision's
 * defaults are 0).
 *
 * Parameters, in state_dict order and names (every tensor is a parameter):
 *   class_token (1, 1, D); conv_proj.weight (D, C, P, P); conv_proj.bias
 *   (D); encoder.pos_embedding (1, T, D); then for i = 0..depth-1 under
 *   "encoder.layers.encoder_layer_<i>.": ln_1.weight|bias (D),
 *   self_attention.in_proj_weight (3D, D), self_attention.in_proj_bias
 *   (3D), self_attention.out_proj.weight (D, D) and .bias (D),
 *   ln_2.weight|bias (D), mlp.0.weight (M, D), mlp.0.bias (M),
 *   mlp.3.weight (D, M), mlp.3.bias (D); encoder.ln.weight|bias (D); with
 *   a head heads.head.weight (out, D) and heads.head.bias (out).
 *
 * Initialisation (torchvision): conv_proj.weight truncated normal, std
 * sqrt(1/(C P P)), cut at +-2; conv_proj.bias, class_token 0; pos_embedding
 * N(0, 0.02^2); LayerNorm weight 1, bias 0; in_proj_weight xavier-uniform
 * over (3D, D), in_proj_bias 0; out_proj.weight PyTorch's Linear default
 * U(+-1/sqrt(D)), out_proj.bias 0; mlp weights xavier-uniform, biases
 * N(0, 1e-6^2).  The head, absent from the paper's tiny ViT, takes the
 * Linear default U(+-1/sqrt(D)) for weight and bias rather than
 * torchvision's zeros: a zero head gives zero codes, which an L2
 * normalisation cannot turn into directions.
 *
 * Threads: mm_vit_forward and mm_vit_backward share their work out over
 * a pool of threads (mm_vit_set_pool, pool.h), each calling a one-thread
 * BLAS (the caller's count is restored afterwards).  The pieces are fixed
 * by the batch alone, never by the number of threads:
 *   rows     groups of G = ceil(256 / T) whole samples: LayerNorm, GELU,
 *            the patch embedding and every Linear layer's output and input
 *            gradient (one sgemm per group and layer);
 *   heads    attention, forward and backward, per sample and head;
 *   slices   every weight gradient (a sum over the N T tokens) as
 *            MM_VIT_KSLICES products over fixed token ranges, added in
 *            slice order (and a LayerNorm's weight gradient per group,
 *            added in group order);
 * so outputs and gradients are bit-identical for any thread count (and
 * timing), as without a pool (tested).  OpenBLAS's own threads are not
 * used: its threaded driver blocks a long sum differently from its
 * one-thread driver.  The layers themselves use whatever the BLAS is set
 * to.
 */
#ifndef MM_VIT_H
#define MM_VIT_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* ---- LayerNorm over the last dimension of (M, D) ----
 * out = (inp - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), var
 * biased; mean and rstd (M) are saved for backward. */
#define MM_VIT_LN_EPS 1e-6f
void mm_layernorm_forward(float *out,     /* (M, D) */
    float *mean, float *rstd,            /* (M), (M) */
    const float *inp,                    /* (M, D) */
    const float *w, const float *b,      /* (D), (D) */
    size_t M, int D, float eps);
void mm_layernorm_backward(float *dinp,   /* (M, D) += */
    float *dw, float *db,                /* (D), (D) += */
    const float *dout,                   /* (M, D) */
    const float *inp,                    /* (M, D) */
    const float *mean, const float *rstd, const float *w, /* (M) (M) (D) */
    size_t M, int D);

/* ---- GELU, erf form: out = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 ---- */
void mm_gelu_forward(float *out, const float *inp, size_t n);  /* (n) */
/* dinp += dout (Phi(x) + x phi(x)), x = inp; dinp must not be dout */
void mm_gelu_backward(float *dinp, const float *dout, const float *inp,
    size_t n);

/* ---- Multi-head scaled dot-product self-attention ----
 * qkv (N, T, 3D) holds q | k | v of each token (the in_proj output); head
 * j uses columns j dh .. (j+1) dh - 1 of each, dh = D / heads:
 *   P = softmax_rows(q_j k_j^T / sqrt dh)  (T, T), saved in att
 *   out[:, j dh ..] = P v_j
 * Two sgemm per sample and head forward, five backward. */
void mm_attention_forward(float *out,     /* (N, T, D) */
    float *att,                          /* (N, heads, T, T) */
    const float *qkv,                    /* (N, T, 3D) */
    int N, int T, int D, int heads);
/* dqkv += the gradient of q, k, v; scratch holds T T floats. */
void mm_attention_backward(float *dqkv,   /* (N, T, 3D) += */
    const float *dout,                   /* (N, T, D) */
    const float *qkv,                    /* (N, T, 3D) */
    const float *att,                    /* (N, heads, T, T) */
    int N, int T, int D, int heads, float *scratch);
/* The same for sample n and head h alone (the whole batch's arrays are
 * passed): the loops above call these, so the pieces of a pool give the
 * same bits. */
void mm_attention_forward_one(float *out, float *att, const float *qkv,
    int n, int h, int T, int D, int heads);
void mm_attention_backward_one(float *dqkv, const float *dout,
    const float *qkv, const float *att, int n, int h, int T, int D,
    int heads, float *scratch);

/* ---- Patch embedding: a convolution with kernel = stride = P is a
 * product of the image's patches, one row each, with the weight (D, C P P).
 * mm_patch_im2col writes the rows (N, lead + H W / P^2, C P P), each
 * sample's first lead rows zero (room for the class token, so that the
 * embedding of all tokens is one product), patch (py, px) at row
 * lead + py (W / P) + px, its columns in the weight's (c, i, j) order.
 * mm_patch_col2im adds rows back into an image gradient. */
void mm_patch_im2col(float *cols,         /* (N, lead + H W / P^2, C P P) */
    const float *img,                    /* (N, C, H, W) */
    int N, int C, int H, int W, int P, int lead);
void mm_patch_col2im(float *dimg,         /* (N, C, H, W) += */
    const float *dcols,                  /* (N, lead + H W / P^2, C P P) */
    int N, int C, int H, int W, int P, int lead);

/* ---- Tokens: class token, patch bias and positional embedding ----
 * x (N, T, D) holds the patch products at rows 1..T-1 of each sample on
 * entry (row 0 ignored); on return x[n, 0] = cls + pos[0] and
 * x[n, t] += b + pos[t]. */
void mm_tokens_forward(float *x,          /* (N, T, D) in place */
    const float *cls, const float *b,    /* (D), (D) */
    const float *pos,                    /* (T, D) */
    int N, int T, int D);
/* dcls, db (D), dpos (T, D) += sums of dx over the batch. */
void mm_tokens_backward(float *dcls, float *db, float *dpos,
    const float *dx,                     /* (N, T, D) */
    int N, int T, int D);

/* ---- The encoder ---- */

/* The spec's sizes: "vit" alone or "vit:" followed by any of
 * patch=P, dim=D, depth=L, heads=H, mlp=M, comma-separated, in any
 * order; the rest keep the defaults (a ViT a quick profile affords on
 * two cores). */
#define MM_VIT_MAXDEPTH 64
#define MM_VIT_NAMELEN 64
#define MM_VIT_MAXTHREADS 16   /* threads of a pool (attention scratch) */
#define MM_VIT_KSLICES 16      /* token ranges of a weight gradient */
struct mm_vit_cfg {
	int patch, dim, depth, heads, mlp;
};
#define MM_VIT_DEFAULTS { 8, 64, 2, 2, 128 }

/* Parse the part after "vit" (":" list, or nothing) up to '/' or the end
 * of s; *end (if not NULL) is left there.  The sizes must be in range
 * (1..2^16, depth 1..MM_VIT_MAXDEPTH) and heads must divide dim.
 * 0 or MM_EINVAL with mm_err detail. */
int mm_vit_parse(struct mm_vit_cfg *c, const char *s, const char **end);
/* "vit:patch=8,dim=64,depth=2,heads=2,mlp=128" (every size, this order);
 * returns the length snprintf would. */
int mm_vit_canon(const struct mm_vit_cfg *c, char *buf, size_t cap);
/* Whether c fits an input (C, H, W): P divides H and W.  0 or MM_EINVAL
 * with a message that names the sizes. */
int mm_vit_check(const struct mm_vit_cfg *c, int C, int H, int W);

/* One tensor of the layout. */
struct mm_vit_tensor {
	char name[MM_VIT_NAMELEN];
	int ndim;
	int64_t shape[4];
	int64_t count;
};
/* The tensors, in state_dict order: fills t[0 .. min(n, cap) - 1] (t may
 * be NULL) and returns n.  All are parameters, packed in this order in
 * the parameter block. */
int mm_vit_layout(const struct mm_vit_cfg *c, int C, int H, int W,
    int out_dim, struct mm_vit_tensor *t, int cap);
size_t mm_vit_nparams(const struct mm_vit_cfg *c, int C, int H, int W,
    int out_dim);
/* Floats of activation and work memory for max_batch samples. */
size_t mm_vit_nacts(const struct mm_vit_cfg *c, int C, int H, int W,
    int out_dim, int max_batch);

struct mm_vit_block {
	/* parameters and their gradients (g prefix) */
	float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
	float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
	float *gln1_w, *gln1_b, *gqkv_w, *gqkv_b, *gproj_w, *gproj_b;
	float *gln2_w, *gln2_b, *gfc1_w, *gfc1_b, *gfc2_w, *gfc2_b;
	/* activations of the last forward, max_batch samples */
	float *x;              /* (B, T, D) block input */
	float *ln1, *mu1, *rs1; /* (B, T, D), (B T), (B T) */
	float *qkv;            /* (B, T, 3D) */
	float *att;            /* (B, heads, T, T) */
	float *ao;             /* (B, T, D) attention output, heads side by side */
	float *xm;             /* (B, T, D) x + out_proj(ao) */
	float *ln2, *mu2, *rs2;
	float *h, *ha;         /* (B, T, M) before and after the GELU */
};

struct mm_pool;

struct mm_vit {
	struct mm_vit_cfg cfg;
	int C, H, W, T, D, M, heads, out_dim, max_batch, cpp, head;
	size_t nparams;
	float *params, *grads, *acts;
	int own;               /* mm_vit_create allocated the blocks */
	float *cls, *conv_w, *conv_b, *pos, *lnf_w, *lnf_b, *head_w, *head_b;
	float *gcls, *gconv_w, *gconv_b, *gpos, *glnf_w, *glnf_b, *ghead_w,
	    *ghead_b;
	struct mm_vit_block blk[MM_VIT_MAXDEPTH];
	float *cols;           /* (B, T, C P P) patches, row 0 zero */
	float *xL;             /* (B, T, D) output of the last block */
	float *xc, *lnf, *muf, *rsf; /* (B, D) class rows, their LN, (B) x2 */
	float *out;            /* (B, out) the head's output (with a head) */
	/* backward work */
	float *dx;             /* (B, T, D) gradient of the residual stream */
	float *dln;            /* (B, T, D) */
	float *dqkv;           /* (B, T, 3D) */
	float *dao;            /* (B, T, D) */
	float *dh, *dha;       /* (B, T, M) */
	float *dc;             /* (B, D) */
	float *dx2;            /* (B, T, D) a second residual gradient */
	float *scratch;        /* (MM_VIT_MAXTHREADS, T, T) */
	float *part;           /* (MM_VIT_KSLICES, npart) weight gradients */
	float *lnp;            /* (groups, 2, D) LayerNorm weight gradients */
	size_t npart;
	int group;             /* G: samples of a row group */
	struct mm_pool *pool;  /* NULL: the calling thread alone */
	int lastN;
};

/* Carve a ViT for inputs (C, H, W) and up to max_batch samples from
 * caller memory: params and grads hold mm_vit_nparams() floats (the
 * layout's tensors packed in order), acts mm_vit_nacts() floats.  Nothing
 * is allocated.  0 or MM_EINVAL (sizes that do not fit). */
int mm_vit_setup(struct mm_vit *v, const struct mm_vit_cfg *c, int C,
    int H, int W, int out_dim, int max_batch, float *params, float *grads,
    float *acts);
/* The same with blocks of its own (freed by mm_vit_free); 0, MM_EINVAL
 * or MM_ENOMEM. */
int mm_vit_create(struct mm_vit **v, const struct mm_vit_cfg *c, int C,
    int H, int W, int out_dim, int max_batch);
void mm_vit_free(struct mm_vit *v);
/* Share forward and backward out over pool's threads (NULL: none, the
 * default); the pool stays the caller's.  0, or MM_EINVAL when it has
 * more than MM_VIT_MAXTHREADS threads. */
int mm_vit_set_pool(struct mm_vit *v, struct mm_pool *pool);
/* torchvision's initialisation, drawn in state_dict order from rng. */
void mm_vit_init(struct mm_vit *v, struct mm_rng *rng);
/* Forward of N (1..max_batch) images x (N, C, H, W); keeps what backward
 * needs (there is no train/eval difference: no BatchNorm, no dropout).
 * Returns y (N, out), valid until the next forward. */
const float *mm_vit_forward(struct mm_vit *v, const float *x, int N);
/* Backward of the last forward: dy (N, out); ADDS into the parameter
 * gradients (v->grads). */
void mm_vit_backward(struct mm_vit *v, const float *dy);
/* Floating-point operations of one forward per sample: 2 m n k per
 * product (patch embedding, Linear layers, both attention products). */
double mm_vit_flops(const struct mm_vit *v);

#endif
