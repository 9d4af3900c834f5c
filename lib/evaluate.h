/*
 * evaluate.h - evaluation during training: the figures mmib-probe and
 * mmib-align give for the final model, computed between epochs by the
 * same library code, for the columns of the training log.
 *
 * One evaluation of the model m:
 *   embed   mm_model_encode() (evaluation mode, L2-normalised), in
 *           chunks of the rows mmib-encode takes for a model file (the
 *           smaller eval_batch of the two encoders' kinds), in fp32, as
 *           mmib-encode does (a product's rounding may depend on the
 *           rows it is given): when the trained model holds fewer rows
 *           or runs bf16, on a copy of its weights built for that; on
 *           one BLAS thread, as mmib-encode -t 1 (an mlp encoder's
 *           products round otherwise on more);
 *           z_img of every training row, z_img and z_fac of every test
 *           row;
 *   probes  mm_probe_emb() on the image embedding alone, fitted on the
 *           whole training stream and measured on the test stream, as
 *           the pipelines run mmib-probe (--train on the encoded
 *           training part) with its defaults (C 1, 100 iterations, tol
 *           1e-4), every factor of two or more classes;
 *           mm_probe_groups() for the essence and nuisance sums;
 *   align   on the test rows, as mmib-align (no -n): linear CKA
 *           (mm_align_cka) and mutual kNN at k = 1 (mm_align_knn,
 *           mm_align_mutual_knn).
 * Nothing draws from a generator and nothing of the model changes but
 * the encoders' activation scratch, which a training step overwrites:
 * a run evaluated between epochs trains exactly as one that is not.
 * Every figure is the same for any thread count (probe.h, align.h, and
 * the one-thread embedding).
 */
#ifndef MM_EVALUATE_H
#define MM_EVALUATE_H

#include <stdint.h>
#include <stdio.h>

#include "emb.h"
#include "meta.h"
#include "model.h"
#include "pairs.h"
#include "probe.h"

struct mm_eval {
	const struct mm_pairs *train, *test;
	struct mm_factors fac;          /* the training stream's factors */
	int want[MM_MAXFACTORS];        /* probed: 2 or more classes */
	struct mm_probe_opts popt;      /* mmib-probe's defaults */
	int threads;
	int chunk;                      /* rows per encoder pass */
	struct mm_model copy;           /* the model for chunk rows in fp32, */
	int has_copy;                   /* when the trained one is not that */
	struct mm_emb tr, te;           /* the last embeddings, with classes */
	float *x, *p;                   /* (chunk, C, H, W), (chunk, D) */
	int32_t *nn_img, *nn_fac;       /* (N_test) neighbour lists, k = 1 */
	/* the last evaluation (epoch 0: none yet); NAN for a figure that is
	 * undefined (a factor not probed or whose training rows hold one
	 * class, a group without factors) */
	int epoch;
	double nmi[MM_MAXFACTORS];      /* image probe nMI of each factor */
	double ess_nmi, nui_nmi;        /* image essence / nuisance groups */
	double cka, mutual_knn1;
	double seconds;                 /* wall time it took */
};

/* An evaluation of models fed train and test (their 'classes' loaded,
 * the factor metadata in train's, test's the same factors), for m's
 * architecture, on up to threads threads.  0, or MM_EMISSING (no
 * classes or factor metadata), MM_EFORMAT (the factors differ, a class
 * outside its factor's range, no factor of two classes), MM_ESIZE (fewer
 * than 4 test rows, as mmib-align asks), MM_ENOMEM; nothing is left
 * allocated on failure. */
int mm_eval_init(struct mm_eval *e, const struct mm_model *m,
    const struct mm_pairs *train, const struct mm_pairs *test, int threads);
void mm_eval_free(struct mm_eval *e);

/* Whether a run of epochs epochs evaluates after epoch (from 1) when
 * asked every `every` epochs: every multiple of it, and the last. */
int mm_eval_due(int every, int epoch, int epochs);

/* Evaluate m after epoch (from 1): the figures above into e.  0, or the
 * probe's or a metric's error. */
int mm_eval_run(struct mm_eval *e, struct mm_model *m, int epoch);

/* The log's columns, each preceded by a tab, no newline:
 *   img_<factor>_nmi for every factor (the names of mmib-probe's rows as
 *   pipelines/row.sh spells them), img_ess_nmi, img_nui_nmi, cka,
 *   mutual_knn1, eval_seconds
 * and their values after epoch: those of the evaluation of that epoch
 * (%.6f for nMI as mmib-probe prints them, %.8f for cka and mutual_knn1
 * as mmib-align, %.3f for seconds), or NA in every column when epoch
 * was not evaluated, and NA for an undefined figure. */
void mm_eval_log_header(FILE *f, const struct mm_eval *e);
void mm_eval_log_values(FILE *f, const struct mm_eval *e, int epoch);

#endif
