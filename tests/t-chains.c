/*
 * t-chains.c - the sums of the direct 3x3 convolution kernels
 * (lib/conv-x86.c) bit for bit the chains of fmaf they are documented to
 * be, at each SIMD level the CPU has.
 *
 * The weight gradient (mm_direct_dweight): for each weight (tap (ky, kx),
 * input channel c, output channel g), starting from its value in dwt,
 * over the samples, then the output rows y, then the output pixels x in
 * increasing order, of x[S y + ky - 1, S x + kx - 1, c] * dy[y, x, g]
 * over the pixels whose input is inside the image.  The AVX-512 level
 * shares each input broadcast between the three taps of a row for 16 and
 * 32 output channels at stride 1; the others block the template of
 * conv-x86-kern.h over bands of output rows: rows of 1 to 9 pixels (the
 * shared kernel's first, middle rounds of three, rest and last pixels),
 * 1 to 3 samples, 16, 32 and 64 output channels, strides 1 and 2,
 * images of one band and of several.
 *
 * The stride-2 input gradient (mm_direct_dinput, S = 2): each dx[iy, ix,
 * g] of parity phase (py, px) = (iy % 2, ix % 2), starting from 0 (or
 * its value, adding), over the phase's taps t = (ky, kx) in order, then
 * the output channels o, of pad[iy / 2 + (py + 3 - ky) / 2, ix / 2 +
 * (px + 3 - kx) / 2, o] * wt[8 - t, o, g], pad the output gradient inside
 * a zero border (its zeros taken too).  The AVX-512 level runs the four
 * phases at once for 16 input channels; the others one phase at a time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "conv-x86.h"
#include "rng.h"
#include "tap.h"

static struct mm_rng rng;

static float *
randv(size_t n)
{
	float *v = malloc(n * sizeof *v);
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = (float)(2 * mm_rng_float(&rng) - 1);
	return v;
}

/* the entries of got and want (n) whose bits differ */
static size_t
ndiff(const float *got, const float *want, size_t n)
{
	size_t i, d = 0;

	for (i = 0; i < n; i++)
		d += memcmp(got + i, want + i, sizeof *got) != 0;
	return d;
}

/* dwt (9, Cx, Co) += the chain described above */
static void
dweight_ref(float *dwt, const float *x, const float *dy, int N, int H, int W,
    int Cx, int Co, int S)
{
	int Ho = (H - 1) / S + 1, Wo = (W - 1) / S + 1;
	int t, c, g, n, y, px, iy, ix;

	for (t = 0; t < 9; t++)
		for (c = 0; c < Cx; c++)
			for (g = 0; g < Co; g++) {
				float a = dwt[((size_t)t * Cx + c) * Co + g];

				for (n = 0; n < N; n++)
					for (y = 0; y < Ho; y++) {
						iy = S * y + t / 3 - 1;
						if (iy < 0 || iy >= H)
							continue;
						for (px = 0; px < Wo; px++) {
							ix = S * px + t % 3 - 1;
							if (ix < 0 || ix >= W)
								continue;
							a = fmaf(x[(((size_t)n * H +
							    iy) * W + ix) * Cx + c],
							    dy[(((size_t)n * Ho + y) *
							    Wo + px) * Co + g], a);
						}
					}
				dwt[((size_t)t * Cx + c) * Co + g] = a;
			}
}

static void
shape(int level, int N, int H, int W, int Cx, int Co, int S)
{
	int Ho = (H - 1) / S + 1, Wo = (W - 1) / S + 1;
	size_t nw = (size_t)9 * Cx * Co;
	float *x = randv((size_t)N * H * W * Cx);
	float *dy = randv((size_t)N * Ho * Wo * Co);
	float *want = randv(nw), *got = malloc(nw * sizeof *got);
	float *pad = malloc((size_t)(H + 2) * (W + 2) * Cx * sizeof *pad);
	size_t diff;

	memcpy(got, want, nw * sizeof *got);
	dweight_ref(want, x, dy, N, H, W, Cx, Co, S);
	if (!mm_direct_dw_ok(Cx, Co, S)) {
		ok(0, "level %d: %dx%dx%d -> %d stride %d has no direct "
		    "weight gradient", level, H, W, Cx, Co, S);
	} else {
		mm_direct_dweight(got, x, dy, pad, N, H, W, Cx, Co, S);
		diff = ndiff(got, want, nw);
		ok(diff == 0, "level %d: %d x %dx%dx%d -> %d, stride %d: bit "
		    "for bit the fmaf chain (%zu of %zu differ)", level, N, H,
		    W, Cx, Co, S, diff, nw);
	}
	free(x);
	free(dy);
	free(want);
	free(got);
	free(pad);
}

/* dx (N, H, W, Cx) (+)= the stride-2 chain described above; wt (9, Co,
 * Cx) flipped */
static void
dinput2_ref(float *dx, const float *dy, const float *wt, int N, int H, int W,
    int Cx, int Co, int add)
{
	int Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
	int n, iy, ix, py, px, ky, kx, o, g, r, c;
	float *pad = calloc((size_t)(Ho + 2) * (Wo + 2) * Co, sizeof *pad);

	for (n = 0; n < N; n++) {
		for (r = 0; r < Ho; r++)
			for (c = 0; c < Wo; c++)
				memcpy(pad + ((size_t)(r + 1) * (Wo + 2) + c + 1) *
				    Co, dy + (((size_t)n * Ho + r) * Wo + c) * Co,
				    Co * sizeof *pad);
		for (iy = 0; iy < H; iy++)
			for (ix = 0; ix < W; ix++)
				for (g = 0; g < Cx; g++) {
					float *d = dx + (((size_t)n * H + iy) * W +
					    ix) * Cx + g, a = add ? *d : 0;

					py = iy % 2;
					px = ix % 2;
					for (ky = 0; ky < 3; ky++)
						for (kx = 0; kx < 3; kx++) {
							if ((py + 1 - ky) % 2 ||
							    (px + 1 - kx) % 2)
								continue;
							r = iy / 2 + (py + 3 - ky) / 2;
							c = ix / 2 + (px + 3 - kx) / 2;
							for (o = 0; o < Co; o++)
								a = fmaf(pad[((size_t)r *
								    (Wo + 2) + c) * Co + o],
								    wt[((size_t)(8 - 3 *
								    ky - kx) * Co + o) * Cx +
								    g], a);
						}
					*d = a;
				}
	}
	free(pad);
}

static void
dinput2(int level, int N, int H, int W, int Cx, int Co, int add)
{
	int Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
	size_t nx = (size_t)N * H * W * Cx, diff;
	float *dy = randv((size_t)N * Ho * Wo * Co), *wt = randv((size_t)9 *
	    Co * Cx), *want = randv(nx), *got = malloc(nx * sizeof *got);
	float *pad = malloc((size_t)(Ho + 2) * (Wo + 2) * Co * sizeof *pad);

	memcpy(got, want, nx * sizeof *got);
	dinput2_ref(want, dy, wt, N, H, W, Cx, Co, add);
	mm_direct_dinput(got, dy, wt, pad, N, H, W, Cx, Co, 2, add);
	diff = ndiff(got, want, nx);
	ok(diff == 0, "level %d: stride-2 input gradient %d x %dx%dx%d <- %d%s: "
	    "bit for bit the fmaf chain (%zu of %zu differ)", level, N, H, W,
	    Cx, Co, add ? ", adding" : "", diff, nx);
	free(dy);
	free(wt);
	free(want);
	free(got);
	free(pad);
}

int
main(void)
{
	int top, level, w;

	mm_rng_seed(&rng, 17);
	top = mm_nn_simd(-1);
	if (top < 1) {
		skip(1, "the direct kernels need AVX2 + FMA or AVX-512F");
		return done_testing();
	}
	for (level = top; level >= 1; level--) {
		mm_nn_simd(level);
		/* every row length the shared kernel splits differently */
		for (w = 1; w <= 9; w++)
			shape(level, 1, 3, w, 16, 16, 1);
		shape(level, 2, 6, 7, 16, 16, 1);
		shape(level, 3, 5, 8, 32, 16, 1);       /* 4 blocks of 8 */
		shape(level, 2, 5, 6, 32, 32, 1);
		shape(level, 1, 1, 5, 32, 32, 1);       /* one row */
		shape(level, 2, 4, 10, 64, 32, 1);
		shape(level, 1, 7, 4, 16, 64, 1);       /* the template */
		shape(level, 2, 7, 6, 16, 16, 2);
		shape(level, 2, 8, 9, 16, 32, 2);
		shape(level, 1, 9, 8, 32, 64, 2);
		/* several bands of rows (DW_BAND bytes of dy each) */
		shape(level, 2, 9, 16, 16, 64, 1);
		shape(level, 1, 18, 32, 16, 32, 2);
		shape(level, 1, 40, 64, 16, 16, 2);
		/* the four phases at once (16 channels, even sizes, rows
		 * of whole blocks) and one at a time */
		dinput2(level, 2, 8, 16, 16, 32, 0);
		dinput2(level, 1, 6, 8, 16, 64, 1);
		dinput2(level, 1, 4, 24, 16, 16, 1);
		dinput2(level, 1, 7, 9, 16, 32, 0);
		dinput2(level, 2, 8, 10, 16, 32, 1);
		dinput2(level, 1, 6, 8, 32, 64, 0);
		dinput2(level, 1, 5, 6, 64, 16, 1);
	}
	mm_nn_simd(top);
	return done_testing();
}
