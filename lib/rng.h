/*
 * rng.h - the one seeded PRNG of a run (xoshiro256**, seeded by splitmix64).
 * Never rand(): the same seed gives the same stream on every platform.
 */
#ifndef MM_RNG_H
#define MM_RNG_H

#include <stdint.h>
#include <stddef.h>

struct mm_rng {
	uint64_t s[4];
};

void mm_rng_seed(struct mm_rng *r, uint64_t seed);
uint64_t mm_rng_u64(struct mm_rng *r);
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
double mm_rng_uniform(struct mm_rng *r);
float mm_rng_float(struct mm_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t mm_rng_below(struct mm_rng *r, uint64_t n);
/* Standard normal (Box-Muller, no cached second value: stateless apart
 * from the generator, so a saved state resumes exactly). */
double mm_rng_normal(struct mm_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void mm_rng_shuffle(struct mm_rng *r, int64_t *idx, size_t n);
/* A new independent generator derived from r and a stream tag. */
void mm_rng_split(struct mm_rng *r, uint64_t tag, struct mm_rng *child);

#endif
