/* rng.c - xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
#include <math.h>

#include "rng.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
mm_rng_seed(struct mm_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

uint64_t
mm_rng_u64(struct mm_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double
mm_rng_uniform(struct mm_rng *r)
{
	return (mm_rng_u64(r) >> 11) * 0x1.0p-53;
}

float
mm_rng_float(struct mm_rng *r)
{
	return (float)(mm_rng_u64(r) >> 40) * 0x1.0p-24f;
}

uint64_t
mm_rng_below(struct mm_rng *r, uint64_t n)
{
	/* Rejection on the top of the range keeps every value equally likely. */
	uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;

	do
		x = mm_rng_u64(r);
	while (x >= lim);
	return x % n;
}

double
mm_rng_normal(struct mm_rng *r)
{
	double u1, u2;

	do
		u1 = mm_rng_uniform(r);
	while (u1 <= 0.0);
	u2 = mm_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void
mm_rng_shuffle(struct mm_rng *r, int64_t *idx, size_t n)
{
	size_t i, j;
	int64_t t;

	for (i = n; i > 1; i--) {
		j = (size_t)mm_rng_below(r, i);
		t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

void
mm_rng_split(struct mm_rng *r, uint64_t tag, struct mm_rng *child)
{
	mm_rng_seed(child, mm_rng_u64(r) ^ (tag * 0xd1342543de82ef95ULL));
}
