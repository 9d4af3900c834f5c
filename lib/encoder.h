/*
 * encoder.h - the encoders of mmib: an image encoder (mlp-flatten, a
 * CIFAR-style ResNet or a Vision Transformer) or a factor encoder (mlp),
 * built from a spec string,
 * with PyTorch's initialisation, a train/eval forward pass and a backward
 * pass that accumulates parameter gradients.
 *
 * Specs:  "mlp:16,16,8,8,16,16"            Linear-BN1d-ReLU blocks, then Linear
 *         "mlp-flatten:2048,2048,1024/256"  the same over the flattened image
 *         "resnet20" ... "resnet110"        6n+2 layers, 16/32/64 channels
         "vit:patch=4,dim=384,depth=12,heads=6,mlp=768"  torchvision's ViT
                                           (any keys, defaults in vit.h)
 * An optional "/OUT" suffix fixes the output size; otherwise out_dim is used.
 * Each kind (mlp, mlp-flatten, resnet, vit) is one file lib/enc-<kind>.c and one
 * line in the table of lib/encoder.c; callers ask about a kind through
 * mm_encoder_spec_info() and list the kinds with mm_encoder_kind(), never
 * by comparing names.
 *
 * Parameters, gradients and buffers each live in one contiguous block so an
 * optimiser can treat them as flat arrays; every activation buffer is
 * allocated once, for max_batch rows, at creation.
 *
 * Threads: a ResNet runs its forward and backward passes on as many
 * threads as the BLAS was given (mm_blas_threads()) when it was created,
 * each working on whole samples with a one-thread BLAS; sums over the
 * batch are formed per fixed slice of samples and added in slice order,
 * so outputs and gradients are bit-identical for any thread count.  A
 * ViT does the same with pieces of its own (vit.h).  The mlp encoders cut
 * each Linear product into slices of its output fixed by the layer's shape
 * and the batch, shared over as many threads (mm_gemm_pool() in nn.h),
 * so theirs are bit-identical for any thread count as well.  An encoder
 * is used from one thread at a time.
 *
 * Tensor names follow PyTorch state_dicts (num_batches_tracked omitted):
 *   mlp, mlp-flatten: nn.Sequential "net" of Linear, BatchNorm1d, ReLU
 *     triples, so block i is "net.<3i>.weight|bias" (Linear) and
 *     "net.<3i+1>.weight|bias|running_mean|running_var" (BatchNorm1d);
 *     the output Linear is "net.<3 nhidden>".  mlp-flatten flattens the
 *     image before "net" (the flatten has no parameters).
 *   resnetN: "conv1.weight", "bn1.*", "layer<s>.<j>.conv1|conv2.weight",
 *     "layer<s>.<j>.bn1|bn2.*", "linear.weight|bias" (the CIFAR ResNet of
 *     Y. Idelbayev's reference code; option-A shortcuts place the input
 *     channels at offset Cout/4 between zeros).
 *   vit: torchvision's VisionTransformer, "class_token", "conv_proj.*",
 *     "encoder.pos_embedding", "encoder.layers.encoder_layer_<i>.ln_1|
 *     self_attention|ln_2|mlp.0|mlp.3.*", "encoder.ln.*" and, when OUT
 *     differs from dim, "heads.head.*" (vit.h); all parameters.
 * Tensors come in state_dict order; parameters are packed in that order
 * in the flat block.
 */
#ifndef MM_ENCODER_H
#define MM_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

struct mm_encoder;

/* A named tensor of an encoder, for saving and loading. */
struct mm_tensor_view {
	const char *name;      /* e.g. "layer1.0.conv1.weight" (PyTorch names) */
	float *data;
	int ndim;
	int64_t shape[4];
	int64_t count;
	int is_param;          /* 1 parameter (has a gradient), 0 buffer */
};

/* What a spec's kind says about it (mm_encoder_spec_info()). */
struct mm_encoder_info {
	const char *kind;          /* "mlp", "mlp-flatten", "resnet", "vit" */
	int depth;                 /* hidden layers of an mlp, N of resnetN,
	                            * blocks of a vit */
	int bn_stats;              /* 1 when it keeps BatchNorm running
	                            * statistics (then a train batch needs
	                            * at least 2 rows) */
	int eval_batch;            /* rows an evaluation pass takes at once
	                            * when the caller lets it choose: every
	                            * layer's output is held for the largest
	                            * batch (256 for an mlp, 64 for a ResNet,
	                            * about 7 MB a row for ResNet-20 on 64x64,
	                            * 32 for a ViT, 80 MB a row for the
	                            * paper's tiny ViT) */
	double weight_decay;       /* the protocol's default weight decay when
	                            * it is the image encoder (1e-4 for
	                            * mlp-flatten, as published, else 0) */
};

/* Describe spec ("resnet20", "mlp:8,8/16", with or without "/OUT")
 * without building it.  0, or MM_EINVAL with mm_err detail as from
 * mm_encoder_create(). */
int mm_encoder_spec_info(const char *spec, struct mm_encoder_info *info);
/* The kinds in table order, i = 0, 1, ... until NULL: the name, and
 * through syntax and help (either may be NULL) its spec syntax
 * ("resnetN[/OUT]") and a one-line description for --help. */
const char *mm_encoder_kind(int i, const char **syntax, const char **help);

/* Create an encoder for inputs of shape (C, H, W) per sample; a vector
 * input (factor encoder) is (D, 1, 1).  out_dim is used unless the spec
 * has "/OUT".  Returns 0 or < 0 with mm_err detail (bad spec, ENOMEM). */
int mm_encoder_create(struct mm_encoder **e, const char *spec, int C, int H,
    int W, int out_dim, int max_batch);
void mm_encoder_free(struct mm_encoder *e);
/* PyTorch's default initialisation drawn from rng (deterministic). */
void mm_encoder_init(struct mm_encoder *e, struct mm_rng *rng);

int mm_encoder_out_dim(const struct mm_encoder *e);
int mm_encoder_max_batch(const struct mm_encoder *e);
const char *mm_encoder_spec(const struct mm_encoder *e); /* canonical */

/* Flat views for the optimiser. */
size_t mm_encoder_nparams(const struct mm_encoder *e);
float *mm_encoder_params(struct mm_encoder *e);
float *mm_encoder_grads(struct mm_encoder *e);
void mm_encoder_zero_grad(struct mm_encoder *e);

/* Every parameter and buffer, in a fixed order; returns the count and
 * points *v at an array owned by the encoder. */
int mm_encoder_tensors(struct mm_encoder *e, struct mm_tensor_view **v);

/* Forward N <= max_batch samples x (N, C, H, W) float.  train = 1 uses
 * batch statistics and updates BatchNorm running averages (and keeps
 * what backward needs); train = 0 uses running statistics.
 * Returns the output (N, out_dim), valid until the next forward, or NULL
 * with mm_err detail when N is not in 1..max_batch.  x is not kept: the
 * caller may reuse it at once. */
const float *mm_encoder_forward(struct mm_encoder *e, const float *x, int N,
    int train);
/* Backward of the last forward, which must have been a train forward
 * (otherwise nothing is done): dy (N, out_dim); accumulates into the
 * parameter gradients (call mm_encoder_zero_grad() between steps). */
void mm_encoder_backward(struct mm_encoder *e, const float *dy);

/* Precision of the matrix products (MM_PREC_FP32, the default, is
 * bit-reproducible as before).  MM_PREC_BF16 runs the forward pass and
 * both gradients of the Linear layers as bf16 products with fp32
 * accumulation (gemm-bf16.h), and those of the convolutions of a kind
 * with them (conv.h; the ResNet stores their outputs in bf16); weights,
 * gradients, optimiser state, BatchNorm arithmetic and statistics, loss
 * and softmax stay fp32.  mm_encoder_set_precision()
 * returns 0, or MM_EUNSUP with mm_err detail for a kind without a bf16
 * path (so far only mlp and mlp-flatten have one) or a CPU without
 * AVX512-BF16, MM_ENOMEM, MM_EINVAL for an unknown precision; the
 * encoder is unchanged on failure.  mm_precision_parse() reads "fp32"
 * or "bf16" (0 or MM_EINVAL); mm_precision_name() is its inverse. */
enum { MM_PREC_FP32 = 0, MM_PREC_BF16 = 1 };
int mm_encoder_set_precision(struct mm_encoder *e, int prec);
int mm_encoder_precision(const struct mm_encoder *e);
int mm_precision_parse(const char *s, int *prec);
const char *mm_precision_name(int prec);

/* Floating-point operations of one forward pass per sample: 2 M N K per
 * matrix product (convolutions and Linear layers); backward is twice. */
double mm_encoder_flops(const struct mm_encoder *e);

/* Per-layer time accounting (seconds summed since the last reset), for
 * benchmarks: fills up to cap rows; returns the number of layers. */
int mm_encoder_times(const struct mm_encoder *e, const char **names,
    double *fwd, double *bwd, int cap);
void mm_encoder_times_reset(struct mm_encoder *e);

#endif
