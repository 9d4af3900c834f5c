/*
 * checkpoint.h - continuing a training run: a model file written with its
 * optimiser state (model.h: "optim.m", "optim.v") plus the run's position
 * in its metadata, and the one call that restores all of it.
 *
 * Position keys (beside the run's settings train.* that the tool writes):
 *   train.optimizer=adam       the kind whose moments are saved
 *   train.epoch=E              epochs completed
 *   train.step=t               optimiser steps taken (Adam's t)
 *   train.rng=s0,s1,s2,s3      the generator after epoch E (4 x 16 hex)
 * With the same data, settings and one thread, a run resumed after epoch
 * E ends bit-identical to an uninterrupted one: the epoch orders and kl
 * samples come from the restored generator, the StepLR rate from E.
 */
#ifndef MM_CHECKPOINT_H
#define MM_CHECKPOINT_H

#include <stdio.h>

#include "meta.h"
#include "model.h"
#include "optim.h"
#include "rng.h"

/* Set train.epoch, train.step and train.rng in m (the caller sets
 * train.optimizer with the other settings).  0 or MM_ENOMEM. */
int mm_ckpt_to_meta(struct mm_meta *m, const struct mm_optim *o, int epoch,
    const struct mm_rng *rng);

/* Load the model of f (label names it in messages) to go on training it:
 * built for max_batch rows, and refused (MM_EINVAL, "another
 * architecture: ...") unless its architecture is a. */
int mm_ckpt_load(FILE *f, const char *label, const struct mm_arch *a,
    int max_batch, struct mm_model *m);

/* What a resumed run asks for: the architecture, the batch size and the
 * optimiser (its kind must be the checkpoint's; rates may change). */
struct mm_resume {
	const struct mm_arch *arch;
	int max_batch;
	int optimizer;
	double lr, weight_decay, momentum;
};

/* Resume the run checkpointed in f: load the model (mm_ckpt_load), create
 * o over its parameters with the moments and step count of the file, set
 * *rng to the saved generator and *epoch to the epochs completed.
 * MM_EMISSING / MM_EINVAL with a detail when the file has no optimiser
 * state, another optimiser or size, or lacks a position key; nothing is
 * left allocated on failure. */
int mm_ckpt_resume(FILE *f, const char *label, const struct mm_resume *want,
    struct mm_model *m, struct mm_optim *o, struct mm_rng *rng, int *epoch);

#endif
