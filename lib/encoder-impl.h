/*
 * encoder-impl.h - what encoder.c shares with the encoder kinds
 * (lib/enc-*.c); private to those files.
 *
 * A kind is one struct mm_encoder_kind (its functions and facts) and one
 * line in the table of encoder.c.  mm_encoder_create() finds the kind whose
 * name is the longest prefix of the spec "NAME<kind part>[/OUT]" and calls
 *   parse    on the kind part (up to '/' or the end), which allocates the
 *            kind's state e->k and sets *end past what it read;
 *   canon    to write the canonical spec (name and kind part, no /OUT);
 *   setup    (may be NULL) once the input shape and batch are known, for
 *            what is not carved from the blocks (threads, sums); it
 *            returns 0, MM_EINVAL with mm_err detail (an input the kind
 *            cannot take) or another negative value (out of memory);
 *   build    twice: pass 0 counts, pass 1 carves (see encoder.c).  It
 *            declares, in PyTorch state_dict order, every parameter and
 *            buffer with mm_enc_reg(), activations with mm_enc_act() and
 *            timer rows with mm_enc_timer(), and ends with mm_enc_work();
 * and afterwards init (PyTorch's initialisation drawn in state_dict
 * order), forward, backward (only after a train forward), flops, info and
 * free (of e->k and what setup made; e->k may be NULL after a failed
 * parse).
 */
#ifndef MM_ENCODER_IMPL_H
#define MM_ENCODER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "encoder.h"
#include "rng.h"

/* room for the longest name, a ViT block's
 * "encoder.layers.encoder_layer_63.self_attention.out_proj.weight" */
#define MM_ENC_NAMELEN 64
#define MM_ENC_SPECLEN 256

struct mm_encoder_kind {
	const char *name;          /* the spec's prefix: "mlp", "resnet" */
	const char *syntax;        /* "resnetN[/OUT]", for messages and --help */
	const char *help;          /* one line for --help */
	double weight_decay;       /* the protocol's default as image encoder */
	int eval_batch;            /* rows an evaluation pass takes by default */
	int (*parse)(struct mm_encoder *e, const char *s, const char **end,
	    const char *spec);
	void (*canon)(const struct mm_encoder *e, char *buf, size_t cap);
	int (*setup)(struct mm_encoder *e);
	void (*build)(struct mm_encoder *e);
	void (*init)(struct mm_encoder *e, struct mm_rng *rng);
	const float *(*forward)(struct mm_encoder *e, const float *x, int N,
	    int train);
	void (*backward)(struct mm_encoder *e, const float *dy, int N);
	double (*flops)(const struct mm_encoder *e);
	/* depth and bn_stats of info (the rest comes from the fields above) */
	void (*info)(const struct mm_encoder *e, struct mm_encoder_info *i);
	void (*free)(struct mm_encoder *e);
	int bf16;                  /* 1: its products follow e->prec
	                            * (mm_encoder_set_precision): through the
	                            * mm_enc_dense functions, and the ResNet's
	                            * convolutions through conv.h's bf16 ones */
};

extern const struct mm_encoder_kind mm_enc_mlp, mm_enc_mlp_flatten,
    mm_enc_resnet, mm_enc_vit;

struct mm_encoder {
	const struct mm_encoder_kind *kind;
	void *k;                   /* the kind's state */
	char spec[MM_ENC_SPECLEN];
	int C, H, W, din, out_dim, max_batch;
	int lastN, last_train;

	/* building: pass 0 counts, pass 1 carves the blocks */
	int pass;
	size_t nparams, nbufs, nacts;
	float *params, *grads, *bufs, *acts;  /* acts: 64-byte aligned in */
	void *acts_mem;                        /* ... this block */
	int nviews;
	struct mm_tensor_view *views;
	char (*names)[MM_ENC_NAMELEN];
	int ntimers;
	char (*tnames)[MM_ENC_NAMELEN];
	const char **tptr;
	double *tf, *tb;           /* (ntimers) seconds forward, backward */
	float *g[4];               /* gradient work buffers, gsize floats each */
	size_t gsize;
	float *ework;              /* scratch of the evaluation products
	                            * (linear-x86.h), esize floats */
	size_t esize;
	int prec;                  /* MM_PREC_FP32 or MM_PREC_BF16 */
	void *bf16_work;           /* scratch of the bf16 products, or NULL:
	                            * bf16_each bytes for each thread of pool */
	size_t bf16_size;          /* its bytes */
	size_t bf16_each;
	struct mm_pool *pool;      /* threads of the mm_enc_dense products
	                            * (a kind's setup may start it), or NULL;
	                            * freed with the encoder */
};

/* A parameter (is_param 1, gradient through *grad when grad) or buffer
 * of shape (d0, .., d<ndim-1>) named by fmt; its storage, NULL in pass 0. */
float *mm_enc_reg(struct mm_encoder *e, float **grad, int is_param, int ndim,
    int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 9, 10)))
#endif
	;
/* count floats of activations, 64-byte aligned; NULL in pass 0. */
float *mm_enc_act(struct mm_encoder *e, size_t count);
/* A row of the per-layer time table; returns its index. */
int mm_enc_timer(struct mm_encoder *e, const char *name);
/* Ask for gradient work buffers of at least n floats. */
void mm_enc_need_g(struct mm_encoder *e, size_t n);
/* Carve g[0..3] (call after every mm_enc_need_g()). */
void mm_enc_work(struct mm_encoder *e);

/* Fills: U(-bound, bound), N(0, std^2), constant. */
void mm_enc_uniform(float *p, int64_t n, float bound, struct mm_rng *rng);
void mm_enc_normal(float *p, int64_t n, float std, struct mm_rng *rng);
void mm_enc_fill(float *p, int64_t n, float v);

/* A Linear layer, optionally followed by BatchNorm1d + ReLU. */
struct mm_enc_dense {
	int Din, Dout, bn;
	float *w, *b, *dw, *db;                /* (Dout, Din), (Dout) */
	float *gamma, *beta, *dgamma, *dbeta;  /* (Dout) */
	float *rmean, *rvar, *mean, *rstd;     /* (Dout) */
	float *scale, *shift;                  /* (Dout): BN folded, eval */
	float *pre, *post;                     /* (B, Dout) */
	int tlin, tbn;                         /* timer rows */
};

/* Register d: Linear "<lin>.weight|bias", with bn BatchNorm1d
 * "<bnname>.weight|bias|running_mean|running_var". */
void mm_enc_dense_build(struct mm_encoder *e, struct mm_enc_dense *d,
    int Din, int Dout, int bn, const char *lin, const char *bnname);
/* Weight kaiming_normal_ (fan_in, gain sqrt 2) when normal, else PyTorch's
 * default U(+-1/sqrt(Din)); bias U(+-1/sqrt(Din)); BatchNorm weight 1,
 * bias 0, running mean 0, running variance 1. */
void mm_enc_dense_init(struct mm_enc_dense *d, int normal,
    struct mm_rng *rng);
/* pre = x W^T + b (x (N, Din)), then with bn post = ReLU(BN(pre)).  The
 * fp32 products are mm_linear_*_pool() over e->pool, and in evaluation
 * (train 0) at SIMD level 1 or 2 mm_linear_eval() (linear-x86.h): each
 * bit-identical for any thread count.  There, with bn, BN and ReLU fold
 * into the product's store and pre is left as it was. */
void mm_enc_dense_forward(struct mm_encoder *e, struct mm_enc_dense *d,
    const float *x, int N, int train);
/* The Linear part: dW, db += ...; dx (N, Din) = dy W unless NULL. */
void mm_enc_dense_backward(struct mm_encoder *e, struct mm_enc_dense *d,
    float *dx, const float *x, const float *dy, int N);

/* "NAME<digits>" style and list parsing: a decimal in 1..2^20 at *s,
 * *s moved past it; 0 or -1. */
int mm_enc_parse_int(const char **s, int *v);

#endif
