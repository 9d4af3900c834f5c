/*
 * train.h - a training run, as mmib-train drives it: the settings and
 * the protocol's defaults (one table per dataset), the trained scalars a
 * temperature sets, the run's metadata, and the run itself epoch by epoch
 * (batch order, StepLR, the steps, the held-out loss, the log).
 *
 * An epoch draws from the run's generator in this order: the shuffle of
 * the training rows 0..N-1 (mm_rng_shuffle), then whatever each step draws
 * (the kl samples), batch after batch.  The held-out loss draws nothing.
 * So a run resumed from a checkpoint (checkpoint.h) after epoch E goes on
 * exactly as the uninterrupted run does.
 */
#ifndef MM_TRAIN_H
#define MM_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loss.h"
#include "meta.h"
#include "model.h"
#include "optim.h"
#include "pairs.h"
#include "rng.h"

/* ---- the protocol's defaults for a dataset ----
 * One line per dataset of reference/protocol.md (mmib-train(1) names this
 * table): the image encoder, the code size when its spec has no /OUT, and
 * the factor encoder.  A stream is matched by its 'dataset' metadata; a
 * line with prefix set also serves the names that begin with its own
 * (MPI3D's variants).  Data without a known name get the first line. */
struct mm_protocol {
	const char *dataset;
	int prefix;
	const char *image_encoder;      /* --image-encoder */
	int code_size;                  /* --code-size */
	const char *factor_encoder;     /* --factor-encoder */
};
/* Line i, or NULL past the end. */
const struct mm_protocol *mm_protocol_at(int i);
/* The line for dataset (may be NULL); never NULL. */
const struct mm_protocol *mm_protocol_find(const char *dataset);

/* ---- presets (mmib-train --profile) ----
 * What decides a run's length, by name: "quick" (the pipelines'
 * PROFILE=quick: a small mlp-flatten encoder, 10 epochs, minutes) and
 * "paper" (reference/protocol.md: the protocol's encoder, 50 epochs,
 * hours).  image_encoder NULL: the protocol's line for the data.  An
 * option given on the command line overrides its preset value. */
struct mm_profile {
	const char *name;
	const char *image_encoder;      /* --image-encoder, or NULL */
	int epochs;                     /* --epochs */
	const char *about;              /* one line for -h */
};
/* Line i (0 is the default), or NULL past the end. */
const struct mm_profile *mm_profile_at(int i);
/* The preset called name, or NULL with the error recorded. */
const struct mm_profile *mm_profile_find(const char *name);

/* ---- settings ---- */
struct mm_train_config {
	int batch;                 /* rows per step (128) */
	int epochs;                /* total, a resumed run included (50) */
	double lr;                 /* at epoch 0 (1e-3), then StepLR: */
	int step_size;             /* epochs per step of the rate (20) */
	double gamma;              /* its factor (0.3) */
	int optimizer;             /* MM_OPT_ADAM */
	double weight_decay;       /* < 0: the image encoder kind's (-1) */
	double momentum;           /* sgd's (0) */
	int objective;             /* MM_OBJ_INFONCE */
	int reg;                   /* MM_REG_COS */
	int symmetric;             /* both InfoNCE directions (0) */
	double beta;               /* weight of the regulariser (0) */
	double temperature;        /* T (0.07) ... */
	int fixed_T;               /* ... given: it fixes the scalar it sets */
	int learn_T;               /* ... learnt from T even when given */
	unsigned long long seed;   /* 1 */
	int precision;             /* of the encoders' products (MM_PREC_FP32;
	                              MM_PREC_BF16: encoder.h) */
};
/* The protocol's values, those in parentheses above. */
void mm_train_defaults(struct mm_train_config *c);

/* The objective's scalars for a run: their declared starting values and
 * learning into init (MM_LOSS_MAXSCALARS) and a->learn, then the scalar a
 * temperature sets (infonce: T; siglip: t' = -ln T) is learnt by default
 * (the paper's configurations), fixed at c->temperature with fixed_T,
 * learnt from it with both.  MM_EINVAL ("objective siglip has no
 * temperature") when fixed_T or learn_T asks for a temperature the
 * objective lacks. */
int mm_train_scalars(const struct mm_train_config *c, struct mm_arch *a,
    double *init);

/* Set the run's keys in m: train.optimizer, lr, weight_decay, momentum,
 * step_size, gamma, batch_size, beta, symmetric, seed, and the position
 * (mm_ckpt_to_meta) after epoch epochs.  0 or MM_ENOMEM. */
int mm_train_meta(struct mm_meta *m, const struct mm_train_config *c,
    const struct mm_optim *o, int epoch, const struct mm_rng *rng);

/* ---- the run ---- */
struct mm_eval;
struct mm_train {
	const struct mm_train_config *cfg;
	struct mm_model *model;
	struct mm_optim *opt;
	struct mm_rng *rng;
	const struct mm_pairs *data;    /* training pairs */
	const struct mm_pairs *test;    /* held-out pairs, or NULL */
	struct mm_loss loss;
	/* called after every step with the training rows done, or NULL */
	void (*progress)(void *arg, int64_t done);
	void *progress_arg;
	/* the last epoch: its number from 1, its rate, and the means over
	 * its rows of the loss, the objective's term and the regulariser;
	 * test_loss: the mean held-out loss, NAN until mm_train_eval() */
	int epoch;
	double lr, train_loss, term, reg, test_loss;
	/* scratch */
	int64_t *order;                 /* (N) the epoch's row order */
	float *x, *p;                   /* (batch, C, H, W), (batch, D) */
	/* the evaluation whose columns the log carries (evaluate.h), or
	 * NULL (mm_train_init's); the caller runs it */
	const struct mm_eval *eval;
};

/* A run over data (and test, may be NULL, with the same C, H, W and D),
 * training m with o and rng under c; the loss is built here.  0, or
 * MM_ENOMEM, or the loss's error; nothing is left allocated on failure. */
int mm_train_init(struct mm_train *t, const struct mm_train_config *c,
    struct mm_model *m, struct mm_optim *o, struct mm_rng *rng,
    const struct mm_pairs *data, const struct mm_pairs *test);
void mm_train_free(struct mm_train *t);

/* Epoch epoch (from 0): the rate mm_steplr(), a shuffled order, then
 * batches of cfg->batch rows in that order; the last batch may be
 * smaller (drop_last=False), except a batch of one row, which is dropped
 * (BatchNorm cannot train on it).  MM_ENUM ("epoch 3, step 41: the loss
 * is not finite (nan, temperature 0.07)") when a step gives a non-finite
 * loss or scalar or a scalar declared positive falls to 0 or below; the
 * model is then as it was before that step. */
int mm_train_epoch(struct mm_train *t, int epoch);
/* The mean loss over the held-out rows in evaluation mode, in batches
 * of cfg->batch rows; also into t->test_loss.  NAN without test rows. */
double mm_train_eval(struct mm_train *t);

/* The log, a TSV file: the header
 *   epoch lr <the objective's scalars> train_loss <objective> reg
 *   test_loss seconds
 * and after each epoch its row (%.6g for the epoch's rate and scalars,
 * %.6f for the losses, NA without a test set, %.3f for seconds).  Both
 * flush f; 0 or MM_EIO.  With an evaluation (mm_train_log_header_eval's
 * ev, the row's t->eval), the header and every row go on with its
 * columns (mm_eval_log_header, mm_eval_log_values: NA in a row of an
 * epoch it did not evaluate). */
int mm_train_log_header(FILE *f, const struct mm_objective *ob);
int mm_train_log_header_eval(FILE *f, const struct mm_objective *ob,
    const struct mm_eval *ev);
int mm_train_log_row(FILE *f, const struct mm_train *t, double seconds);

/* "loss 1.2345 (infonce 1.2345 reg 0.0000) T 0.0700 test 1.3000" for
 * the last epoch (test only when there is a test set), into buf. */
void mm_train_summary(const struct mm_train *t, char *buf, size_t size);

#endif
