/*
 * prov.h - provenance: fingerprints of what a stream was made from, and
 * the checks that refuse mixing artefacts of different origins.
 *
 * Keys (mmib-stream(5)), each 16 hex digits of a 64-bit FNV-1a hash:
 *   fp.pairing  dataset, factors, cardinalities, essence, channels,
 *               height, width: what a model's inputs mean
 *   fp.split    fp.pairing plus pairing, seed, n, train_fraction,
 *               train_rows, order, source: one split of one sample
 *   fp.data     fp.split plus part and rows: these very pairs
 *   model.fp    the weights of a model (both encoders' parameters and the
 *               objective's scalars): one trained model
 *   model.data_fp  fp.data of the pairs the model was trained on
 * mmib-gen writes fp.*; mmib-train writes model.fp and model.data_fp into
 * the model (which also keeps the training data's fp.*); mmib-encode
 * copies the data's fp.* and sets the model's model.* keys.
 *
 * A check returns 0 when both sides agree or when either lacks the key
 * (a stream of an older mmib: MM_EMISSING from mm_prov_known() lets a
 * tool say so under -v), else MM_EINVAL with a detail naming both sides
 * ("dsprites essence=shape,scale seed=5 vs mpi3d essence=... seed=5").
 */
#ifndef MM_PROV_H
#define MM_PROV_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "model.h"

/* FNV-1a 64 of n bytes, continuing from h (start: MM_PROV_SEED). */
#define MM_PROV_SEED 0xcbf29ce484222325ULL
uint64_t mm_prov_hash(uint64_t h, const void *p, size_t n);

/* Set fp.pairing, fp.split and fp.data in m from its keys; nothing is
 * set when m lacks dataset= or factors= (not a paired stream).  0 or
 * MM_ENOMEM. */
int mm_prov_data(struct mm_meta *m);
/* The digest of a model's weights (16 hex digits and a NUL into
 * hex[17]). */
void mm_prov_model(const struct mm_model *m, char *hex);

/* 0 when m carries key, else MM_EMISSING. */
int mm_prov_known(const struct mm_meta *m, const char *key);

/* A model may encode data: fp.pairing of the model's training data (in
 * its metadata) equals the data's. */
int mm_prov_check_encode(const struct mm_meta *model,
    const struct mm_meta *data);
/* Held-out data for a training run: the same fp.split, another part. */
int mm_prov_check_test(const struct mm_meta *train,
    const struct mm_meta *test);
/* Train and test embeddings for a probe: the same model.fp and the same
 * fp.split. */
int mm_prov_check_probe(const struct mm_meta *train,
    const struct mm_meta *test);
/* Two segments of one embedding stream: the same model.fp. */
int mm_prov_check_segment(const struct mm_meta *first,
    const struct mm_meta *next);
/* A resumed run: every setting of run (the train.* keys and the data's
 * fp.data, or its dataset keys) as in the checkpoint ckpt, except the
 * position (train.epoch, train.step, train.rng), which may differ.
 * MM_EINVAL "--lr: 0.001 in the checkpoint, 0.01 now" for the first that
 * differs. */
int mm_prov_check_resume(const struct mm_meta *ckpt,
    const struct mm_meta *run);

#endif
