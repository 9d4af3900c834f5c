/*
 * model.h - the trained object of mmib: an image encoder, a factor
 * encoder and the scalars its objective declares (loss.h; infonce: the
 * temperature), with save/load as an mmib stream.
 *
 * A model file is one stream segment:
 *   'S'  metadata: the training stream's keys (dataset, factors, ...) plus
 *        the architecture under "model." (enough to rebuild the encoders)
 *        and, from mmib-train, the run's settings under "train.";
 *   'T'  batch 0: "img.<name>" and "fac.<name>" for every parameter and
 *        BatchNorm buffer of the two encoders (PyTorch's names),
 *        then one tensor (1) per scalar of the objective, named as it
 *        declares ("temperature"); a checkpoint adds "optim.m" and
 *        "optim.v" (n) with the optimiser moments over the flat
 *        parameters in the order image, factor, then the learnt scalars
 *        in the objective's order;
 *   'E'.
 * Architecture keys:
 *   model.image_encoder=mlp-flatten:512,256   (spec without "/OUT")
 *   model.image_kind=mlp-flatten  model.image_depth=2   (written, not read:
 *   the kind and depth of mm_encoder_spec_info(), for pipelines)
 *   model.factor_encoder=mlp:16,16,8,8,16,16
 *   model.code_size=64  model.channels=1 model.height=64 model.width=64
 *   model.pair_dim=41   model.objective=infonce   model.reg=cos|kl
 *   model.learn_<scalar>=0|1 for each scalar (model.learn_temperature)
 * A file without model.objective (written before objectives had names)
 * is infonce.  With reg=kl both encoders emit 2 code_size columns: mean,
 * log-variance.
 */
#ifndef MM_MODEL_H
#define MM_MODEL_H

#include <stddef.h>
#include <stdio.h>

#include "encoder.h"
#include "loss.h"
#include "meta.h"
#include "optim.h"
#include "rng.h"

struct mm_arch {
	char img_spec[256], fac_spec[256];
	int code;                  /* Dz */
	int C, H, W;               /* image input shape */
	int pair_dim;              /* D of the factor input */
	int objective;             /* index into the objectives (loss.h) */
	int reg;                   /* index into the regularisers */
	int learn[MM_LOSS_MAXSCALARS]; /* learn the objective's scalar k */
};

/* Architecture <-> "model.*" keys.  from_meta: MM_EMISSING / MM_EFORMAT
 * naming the key. */
int mm_arch_to_meta(const struct mm_arch *a, struct mm_meta *m);
int mm_arch_from_meta(struct mm_arch *a, const struct mm_meta *m);
/* 0 when equal, else MM_EINVAL with a detail naming the first difference
 * ("image_encoder: mlp:8 in the file, mlp:16 asked"). */
int mm_arch_compare(const struct mm_arch *file, const struct mm_arch *want);
/* Split "SPEC/OUT" into base (cap bytes) and *out (0 when absent). */
int mm_spec_split(const char *spec, char *base, size_t cap, int *out);

struct mm_model {
	struct mm_arch a;
	struct mm_encoder *img, *fac;
	int max_batch;
	const struct mm_objective *obj;
	float scal[MM_LOSS_MAXSCALARS]; /* its scalars (infonce: T) */
	float *da, *db;            /* (max_batch, out) gradient scratch */
	struct mm_meta meta;       /* metadata of a loaded file */
	float *opt_m, *opt_v;      /* moments of a loaded checkpoint, or NULL */
	size_t opt_n;
};

int mm_model_create(struct mm_model *m, const struct mm_arch *a,
    int max_batch);
/* PyTorch's initialisation of both encoders from rng (image first); the
 * scalars start at their declared values. */
void mm_model_init(struct mm_model *m, struct mm_rng *rng);
void mm_model_free(struct mm_model *m);
/* Output columns of each encoder: code (cos) or 2 code (kl). */
int mm_model_out_dim(const struct mm_model *m);
/* Trainable scalars: both encoders, plus the learnt scalars of the
 * objective. */
size_t mm_model_nparams(const struct mm_model *m);
/* The objective's scalars as doubles, s (MM_LOSS_MAXSCALARS), for
 * mm_loss_compute. */
void mm_model_scalars(const struct mm_model *m, double *s);
/* Set "<prefix><name>=<value>" (%.9g) in meta for every scalar. */
int mm_model_scalars_meta(const struct mm_model *m, struct mm_meta *meta,
    const char *prefix);

/* One optimisation step on N pairs: x (N, C, H, W) images as floats,
 * p (N, pair_dim); rng draws the kl samples.  Returns the loss (l holds
 * its parts and the scalars' gradients); a non-finite loss (or gradient
 * of a learnt scalar) is returned without updating anything. */
double mm_model_train_step(struct mm_model *m, struct mm_loss *l,
    struct mm_optim *o, const float *x, const float *p, int N,
    struct mm_rng *rng);
/* Loss in evaluation mode (running BatchNorm statistics, kl means). */
double mm_model_eval_loss(struct mm_model *m, struct mm_loss *l,
    const float *x, const float *p, int N);
/* Evaluation-mode embeddings, L2-normalised (kl: of the means):
 * zi (N, code) from x, zf (N, code) from p; either side may be NULL. */
void mm_model_encode(struct mm_model *m, const float *x, const float *p,
    int N, float *zi, float *zf);

/* Write the model as a stream segment: meta (data and run keys, may be
 * NULL) with the model.* keys set over it, the tensors, and with o the
 * optimiser moments.  0 or < 0. */
int mm_model_save(struct mm_model *m, FILE *f, const struct mm_meta *meta,
    const struct mm_optim *o);
/* Read a model file (the first segment of f) and build it for batches of
 * up to max_batch rows (<= 0: the smaller eval_batch of the two encoders'
 * kinds, mm_encoder_spec_info()).  m->meta receives the file's metadata; a
 * checkpoint's moments go to m->opt_m, opt_v.  Every parameter and buffer
 * must be present with its shape. */
int mm_model_load(struct mm_model *m, FILE *f, const char *label,
    int max_batch);

#endif
