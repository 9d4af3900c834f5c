/*
 * conv-x86-kern.h - the direct 3x3 convolution kernels of one SIMD level:
 * a template that conv-x86.c includes once per level, so that AVX-512F and
 * AVX2 + FMA do the same operations in the same order (only the vector
 * width and the register blocking differ).  Not a header of its own.
 *
 * The includer defines:
 *   K(name)       the level's name for a function (name##_512, ...)
 *   TGT           its target attribute string
 *   VL, VF        floats per vector, the vector type
 *   VLOAD, VSTORE, VSET1, VFMA, VZERO   unaligned load and store,
 *                 broadcast, fused multiply-add (a b + c), zero
 *   VADD, VMUL, VMAX   a + b, a b (never contracted: -std=c99), and
 *                 a > b ? a : b
 *   CHUNK(Co, Cx) input channels per pass of the forward kernel (so that
 *                 their weights stay in the L1 cache)
 *   FWD16, FWD32, FWD64   forward blocking for 16, 32, 64 output
 *                 channels: "KO, XB, XT" = vectors per pixel, pixels
 *                 per block, pixels per block at a row's end
 *   FWD32S2       that of the stride-2 forward into 32 channels
 *   DW16, DW32, DW64      weight-gradient blocking: "KO, CB, CT" =
 *                 vectors per tap row, input channels per block, per
 *                 block at the end (K(dweight_body))
 *   DW_BAND       bytes of dy per band of K(dweight_body)
 *   D16_WMOD      the row length multiple K(direct16) needs
 *   D32_WMOD, D64_WMOD   (optional) those of K(direct32), K(direct64)
 *   DW3_CB(Co)    (optional) input channels per block of K(dweight3)
 *   DI2Q_WMOD     (optional) the row length multiple K(dinput2q) needs
 * and, after the include, K(direct16): its own register-blocked kernel
 * for 16 output channels at stride 1 (declared below), and K(direct32)
 * and K(direct64) for 32 and 64 when it defines D32_WMOD, D64_WMOD; the
 * weight gradient K(dweight3) of 16 and 32 output channels at stride 1
 * when it defines DW3_CB, and the stride-2 input gradient K(dinput2q)
 * into 16 channels when it defines DI2Q_WMOD.
 *
 * A group of KO vectors covers VL KO of the Co output channels; when that
 * is fewer than Co the kernels run once per group (the caller's arrays
 * keep their Co-wide rows).
 */

/* One block of XB pixels of output row y from x0 (the body's inner
 * step): XB KO accumulators in registers. */
static inline __attribute__((always_inline, target(TGT))) void
K(direct_block)(float *o, const float *pad, const float *wt, size_t rs,
    int y, int x0, int Cx, int cn, int add, const int KO, const int XB,
    const int S, int Co)
{
	VF acc[XB][KO], w[KO], b;
	int t, c, j, k;

#pragma GCC unroll 16
	for (j = 0; j < XB; j++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			acc[j][k] = add ? VLOAD(o + Co * j + VL * k) : VZERO();
	for (t = 0; t < 9; t++) {
		const float *ip = pad + (S * y + t / 3) * rs +
		    (size_t)(S * x0 + t % 3) * Cx;
		const float *wp = wt + (size_t)t * Cx * Co;
		for (c = 0; c < cn; c++) {
#pragma GCC unroll 4
			for (k = 0; k < KO; k++)
				w[k] = VLOAD(wp + Co * c + VL * k);
#pragma GCC unroll 16
			for (j = 0; j < XB; j++) {
				b = VSET1(ip[S * j * Cx + c]);
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[j][k] = VFMA(b, w[k], acc[j][k]);
			}
		}
	}
#pragma GCC unroll 16
	for (j = 0; j < XB; j++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			VSTORE(o + Co * j + VL * k, acc[j][k]);
}

/*
 * Direct 3x3 convolution, stride S, of one zero-padded sample into one
 * group of output channels:
 *   out[y, x, g] (+)= sum over taps t = (ky, kx), then c < cn, of
 *                     pad[S y + ky, S x + kx, c] * wt[t, c, g]
 * out (H, W, Co), pad (., Wp, Cx), wt (9, Cx, Co), g < VL KO.  Blocks of
 * XB pixels of a row share each weight load (XB KO FMAs with broadcast
 * inputs); XB KO accumulators stay in registers.  A row's end takes
 * blocks of XT <= XB pixels where XB would leave fewer than XT (so that
 * 32 = 4 x 6 + 2 x 4), then single pixels.  KO, XB, XT and S are
 * constants in each instance below.  The blocking changes no sum: each
 * runs over the taps, then the channels.
 */
static inline __attribute__((always_inline, target(TGT))) void
K(direct_body)(float *out, const float *pad, const float *wt, int H, int W,
    int Wp, int Cx, int cn, int add, const int KO, const int XB,
    const int XT, const int S, int Co)
{
	size_t rs = (size_t)Wp * Cx;
	int y, x0, n, t, c, j, k;

	for (y = 0; y < H; y++)
		for (x0 = 0; x0 < W; x0 += n) {
			float *o = out + ((size_t)y * W + x0) * Co;
			n = W - x0;
			if (n == XB || n >= XB + XT) {
				n = XB;
				K(direct_block)(o, pad, wt, rs, y, x0, Cx, cn,
				    add, KO, XB, S, Co);
				continue;
			}
			if (n >= XT) {
				n = XT;
				K(direct_block)(o, pad, wt, rs, y, x0, Cx, cn,
				    add, KO, XT, S, Co);
				continue;
			}
			for (j = 0; j < n; j++) {
				VF a[KO];
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					a[k] = add ? VLOAD(o + Co * j + VL * k) :
					    VZERO();
				for (t = 0; t < 9; t++) {
					const float *ip = pad + (S * y + t / 3) *
					    rs + (size_t)(S * (x0 + j) + t % 3) * Cx;
					const float *wp = wt + (size_t)t * Cx * Co;
					for (c = 0; c < cn; c++)
#pragma GCC unroll 4
						for (k = 0; k < KO; k++)
							a[k] = VFMA(VSET1(ip[c]),
							    VLOAD(wp + Co * c + VL * k),
							    a[k]);
				}
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					VSTORE(o + Co * j + VL * k, a[k]);
			}
		}
}


/* One block of CB input channels from c0 for tap t over the rows y0..y1,
 * pixels x0..x1 of the body's band. */
static inline __attribute__((always_inline, target(TGT))) void
K(dweight_block_acc)(float *dwt, const float *x, const float *dy, int Wo,
    int W, int Cx, int t, int c0, int y0, int y1, int x0, int x1,
    const int KO, const int CB, const int S, int Co)
{
	VF acc[CB][KO], d[KO], b;
	float *o = dwt + ((size_t)t * Cx + c0) * Co;
	int ky = t / 3, kx = t % 3, c, k, y, px;

#pragma GCC unroll 16
	for (c = 0; c < CB; c++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			acc[c][k] = VLOAD(o + Co * c + VL * k);
	for (y = y0; y < y1; y++) {
		const float *ip = x + ((size_t)(S * y + ky - 1) * W + kx - 1) *
		    Cx + c0;
		const float *g = dy + (size_t)y * Wo * Co;
		for (px = x0; px < x1; px++) {
#pragma GCC unroll 4
			for (k = 0; k < KO; k++)
				d[k] = VLOAD(g + (size_t)px * Co + VL * k);
#pragma GCC unroll 16
			for (c = 0; c < CB; c++) {
				b = VSET1(ip[(size_t)S * px * Cx + c]);
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[c][k] = VFMA(b, d[k], acc[c][k]);
			}
		}
	}
#pragma GCC unroll 16
	for (c = 0; c < CB; c++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			VSTORE(o + Co * c + VL * k, acc[c][k]);
}

/*
 * Weight gradient of the same convolution for one sample and one group of
 * output channels:
 *   dwt[t, c, g] += sum over output pixels (y, x) of
 *                   x[S y + ky - 1, S x + kx - 1, c] * dy[y, x, g]
 * over the pixels whose input lies inside the image (the zero padding
 * adds nothing).  dwt (9, Cx, Co), x (H, W, Cx), dy (Ho, Wo, Co),
 * g < VL KO.  For each tap and block of CB input channels (CT <= CB
 * where CB would leave fewer than CT: 16 = 6 + 6 + 4), CB KO
 * accumulators stay in registers over the pixels of a band of output
 * rows; Cx must be a multiple of CT and the blocks of CB and CT must
 * make it (they do when CB = CT, or CB = 6 and CT = 4).  The bands
 * (DW_BAND bytes of dy) keep the output gradient in the L1 cache across
 * the taps and channel blocks, which read it again each; an accumulator
 * is stored and loaded between bands, which rounds nothing, so every sum
 * runs over the rows, then the pixels, whatever the band or block.
 */
static inline __attribute__((always_inline, target(TGT))) void
K(dweight_body)(float *dwt, const float *x, const float *dy, int Ho, int Wo,
    int H, int W, int Cx, const int KO, const int CB, const int CT,
    const int S, int Co)
{
	int t, ky, kx, y0, y1, x0, x1, c0, n, b0, b1, band;

	band = DW_BAND / (Wo * Co * (int)sizeof *dy);
	band = band > 0 ? band : 1;
	for (b0 = 0; b0 < Ho; b0 += band)
	for (t = 0; t < 9; t++) {
		ky = t / 3;
		kx = t % 3;
		/* 0 <= S y + ky - 1 < H, likewise for x */
		y0 = ky == 0;
		y1 = (H - ky) / S + 1;
		y1 = y1 < Ho ? y1 : Ho;
		/* this band's rows */
		b1 = b0 + band < Ho ? b0 + band : Ho;
		y0 = y0 > b0 ? y0 : b0;
		y1 = y1 < b1 ? y1 : b1;
		if (y0 >= y1)
			continue;
		x0 = kx == 0;
		x1 = (W - kx) / S + 1;
		x1 = x1 < Wo ? x1 : Wo;
		for (c0 = 0; c0 < Cx; c0 += n) {
			n = Cx - c0;
			if (n == CB || n >= CB + CT) {
				n = CB;
				K(dweight_block_acc)(dwt, x, dy, Wo, W, Cx, t,
				    c0, y0, y1, x0, x1, KO, CB, S, Co);
			} else {
				n = CT;
				K(dweight_block_acc)(dwt, x, dy, Wo, W, Cx, t,
				    c0, y0, y1, x0, x1, KO, CT, S, Co);
			}
		}
	}
}

/* The bodies over all groups of Co output channels, with the stride made
 * a constant. */
static inline __attribute__((always_inline, target(TGT))) void
K(direct_groups)(float *out, const float *pad, const float *wt, int Ho,
    int Wo, int Wp, int Cx, int cn, int add, int Co, int S, const int KO,
    const int XB, const int XT)
{
	int h;

	for (h = 0; h < Co; h += VL * KO)
		if (S == 1)
			K(direct_body)(out + h, pad, wt + h, Ho, Wo, Wp, Cx, cn,
			    add, KO, XB, XT, 1, Co);
		else
			K(direct_body)(out + h, pad, wt + h, Ho, Wo, Wp, Cx, cn,
			    add, KO, XB, XT, 2, Co);
}

static inline __attribute__((always_inline, target(TGT))) void
K(dweight_groups)(float *dwt, const float *x, const float *dy, int Ho,
    int Wo, int H, int W, int Cx, int Co, int S, const int KO, const int CB,
    const int CT)
{
	int h;

	for (h = 0; h < Co; h += VL * KO)
		if (S == 1)
			K(dweight_body)(dwt + h, x, dy + h, Ho, Wo, H, W, Cx,
			    KO, CB, CT, 1, Co);
		else
			K(dweight_body)(dwt + h, x, dy + h, Ho, Wo, H, W, Cx,
			    KO, CB, CT, 2, Co);
}

/* 16 output channels, stride 1, W a multiple of D16_WMOD, Wp = W + 2:
 * the level's own blocking (defined by the includer). */
__attribute__((target(TGT))) static void
K(direct16)(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int cn, int add);
#ifdef D32_WMOD
/* 32 output channels, likewise (a level that defines D32_WMOD) */
__attribute__((target(TGT))) static void
K(direct32)(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int cn, int add);
#endif
#ifdef D64_WMOD
/* 64 output channels, likewise (a level that defines D64_WMOD) */
__attribute__((target(TGT))) static void
K(direct64)(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int cn, int add);
#endif

/* out (Ho, Wo, Co) (+)= the direct convolution of one padded sample
 * pad (., Wp, Cx) with wt (9, Cx, Co), Co = 16, 32 or 64, stride S = 1
 * or 2; input channels in passes of CHUNK(Co, Cx). */
__attribute__((target(TGT))) static void
K(direct)(float *out, const float *pad, const float *wt, int Ho, int Wo,
    int Wp, int Cx, int Co, int S, int add)
{
	int c0, cn, a;

	for (c0 = 0; c0 < Cx; c0 += cn) {
		const float *p = pad + c0, *w = wt + (size_t)c0 * Co;
		cn = Cx - c0 < CHUNK(Co, Cx) ? Cx - c0 : CHUNK(Co, Cx);
		a = add || c0;
		if (Co == 16 && S == 1 && Wo % D16_WMOD == 0 && Wp == Wo + 2)
			K(direct16)(out, p, w, Ho, Wo, Cx, cn, a);
#ifdef D32_WMOD
		else if (Co == 32 && S == 1 && Wo % D32_WMOD == 0 &&
		    Wp == Wo + 2)
			K(direct32)(out, p, w, Ho, Wo, Cx, cn, a);
#endif
#ifdef D64_WMOD
		else if (Co == 64 && S == 1 && Wo % D64_WMOD == 0 &&
		    Wp == Wo + 2)
			K(direct64)(out, p, w, Ho, Wo, Cx, cn, a);
#endif
		else if (Co == 16)
			K(direct_groups)(out, p, w, Ho, Wo, Wp, Cx, cn, a, Co,
			    S, FWD16);
		else if (Co == 32 && S == 1)
			K(direct_groups)(out, p, w, Ho, Wo, Wp, Cx, cn, a, Co,
			    S, FWD32);
		else if (Co == 32)
			K(direct_groups)(out, p, w, Ho, Wo, Wp, Cx, cn, a, Co,
			    S, FWD32S2);
		else
			K(direct_groups)(out, p, w, Ho, Wo, Wp, Cx, cn, a, Co,
			    S, FWD64);
	}
}

#ifdef DW3_CB
/* 16 or 32 output channels, stride 1, Cx a multiple of DW3_CB(Co): the
 * level's own kernel, with the sums of K(dweight_body) */
__attribute__((target(TGT))) static void
K(dweight3)(float *dwt, const float *x, const float *dy, int H, int W,
    int Cx, int Co);
#endif

/* dwt (9, Cx, Co) += the weight gradient of one sample x (H, W, Cx) and
 * dy (Ho, Wo, Co); Cx a multiple of K(dweight_block)(Co). */
__attribute__((target(TGT))) static void
K(dweight)(float *dwt, const float *x, const float *dy, int Ho, int Wo,
    int H, int W, int Cx, int Co, int S)
{
#ifdef DW3_CB
	if (S == 1 && (Co == 16 || Co == 32) && Cx % DW3_CB(Co) == 0) {
		K(dweight3)(dwt, x, dy, H, W, Cx, Co);
		return;
	}
#endif
	if (Co == 16)
		K(dweight_groups)(dwt, x, dy, Ho, Wo, H, W, Cx, Co, S, DW16);
	else if (Co == 32)
		K(dweight_groups)(dwt, x, dy, Ho, Wo, H, W, Cx, Co, S, DW32);
	else
		K(dweight_groups)(dwt, x, dy, Ho, Wo, H, W, Cx, Co, S, DW64);
}

/*
 * One row of a sample padded in BatchNorm mode (mm_direct_forward_bn):
 * d (W, C) = max(s sc + sh (+ r), 0), also stored to o when not NULL; C
 * a multiple of VL.  mm_bn_apply()'s operations in its order (the sum
 * (s sc + sh) + r, a zero for NaN and -0), so its bits at every level.
 * o (the unit's output, read again only by the backward) takes
 * non-temporal stores when aligned: no read of its lines before they
 * are written, and the cache kept for the padded copy the kernel reads
 * next (about 2 ms off each 64 x 64 x 16 forward of a batch of 128).
 */
__attribute__((target(TGT))) static void
K(bn_row)(float *d, const float *s, const float *r, float *o,
    const float *sc, const float *sh, int W, int C)
{
	int i, c, nt = o && (uintptr_t)o % (4 * VL) == 0 && C % VL == 0;
	VF v;

	for (i = 0; i < W * C; i += C)
		for (c = 0; c < C; c += VL) {
			v = VADD(VMUL(VLOAD(s + i + c), VLOAD(sc + c)),
			    VLOAD(sh + c));
			if (r)
				v = VADD(v, VLOAD(r + i + c));
			v = VMAX(v, VZERO());
			VSTORE(d + i + c, v);
			if (nt)
				VSTREAM(o + i + c, v);
			else if (o)
				VSTORE(o + i + c, v);
		}
	if (nt)
		_mm_sfence();
}

/* The input channels per block of K(dweight) for Co output channels. */
static int
K(dweight_block)(int Co)
{
	return Co == 16 ? third(DW16) : Co == 32 ? third(DW32) :
	    third(DW64);
}

/*
 * Input gradient of the stride-2 convolution for one sample and one group
 * of g < VL KO of its Cd input channels, one parity phase (py, px) of the
 * input pixels at a time.  Input row iy = 2 m + py gets output row
 * oy = (iy + 1 - ky) / 2 through kernel row ky when that is whole: ky = 1
 * (oy = m) for even rows, ky = 0 (oy = m + 1) and ky = 2 (oy = m) for odd
 * ones; likewise columns.  So each phase is a stride-1 product over 1, 2
 * or 4 taps, with no multiplications by zero:
 *   dx[2 m + py, 2 n + px, g] (+)= sum over the phase's taps t = (ky, kx)
 *       in order, then o < Co, of
 *       pad[m + (py + 3 - ky) / 2, n + (px + 3 - kx) / 2, o] wt[8 - t, o, g]
 * dx (H, W, Cd); pad (Ho + 2, Wo + 2, Co) the output gradient inside a
 * zero border; wt (9, Co, Cd) flipped (mm_conv3x3_weights() with flip 1).
 * XB pixels of a phase row share each weight load, as in K(direct_body).
 */
/* One block of XB pixels of phase (py, px) row m from n0 (the body's
 * inner step). */
static inline __attribute__((always_inline, target(TGT))) void
K(dinput2_block)(float *o, const float *pad, const float *wt, size_t rs,
    int m, int n0, int Co, int Cd, int add, const int KO, const int XB,
    const int py, const int px)
{
	VF acc[XB][KO], w[KO], b;
	int ky, kx, c, j, k;

#pragma GCC unroll 16
	for (j = 0; j < XB; j++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			acc[j][k] = add ? VLOAD(o + 2 * Cd * j + VL * k) :
			    VZERO();
#pragma GCC unroll 3
	for (ky = 0; ky < 3; ky++)
#pragma GCC unroll 3
		for (kx = 0; kx < 3; kx++) {
			if ((py + 1 - ky) % 2 || (px + 1 - kx) % 2)
				continue;
			const float *ip = pad + (m + (py + 3 - ky) / 2) * rs +
			    (size_t)(n0 + (px + 3 - kx) / 2) * Co;
			const float *wp = wt + (size_t)(8 - 3 * ky - kx) * Co *
			    Cd;
			for (c = 0; c < Co; c++) {
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					w[k] = VLOAD(wp + Cd * c + VL * k);
#pragma GCC unroll 16
				for (j = 0; j < XB; j++) {
					b = VSET1(ip[j * Co + c]);
#pragma GCC unroll 4
					for (k = 0; k < KO; k++)
						acc[j][k] = VFMA(b, w[k],
						    acc[j][k]);
				}
			}
		}
#pragma GCC unroll 16
	for (j = 0; j < XB; j++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			VSTORE(o + 2 * Cd * j + VL * k, acc[j][k]);
}

/* The phase's rows in blocks of XB pixels, XT at a row's end, then
 * single pixels, as in K(direct_body). */
static inline __attribute__((always_inline, target(TGT))) void
K(dinput2_body)(float *dx, const float *pad, const float *wt, int H, int W,
    int Wo, int Co, int Cd, int add, const int KO, const int XB,
    const int XT, const int py, const int px)
{
	size_t rs = (size_t)(Wo + 2) * Co;
	int Hq = (H - py + 1) / 2, Wq = (W - px + 1) / 2;
	int m, n0, n, ky, kx, c, j, k;

	for (m = 0; m < Hq; m++)
		for (n0 = 0; n0 < Wq; n0 += n) {
			float *o = dx + ((size_t)(2 * m + py) * W + 2 * n0 +
			    px) * Cd;
			n = Wq - n0;
			if (n == XB || n >= XB + XT) {
				n = XB;
				K(dinput2_block)(o, pad, wt, rs, m, n0, Co, Cd,
				    add, KO, XB, py, px);
				continue;
			}
			if (n >= XT) {
				n = XT;
				K(dinput2_block)(o, pad, wt, rs, m, n0, Co, Cd,
				    add, KO, XT, py, px);
				continue;
			}
			/* the row's last n < XT pixels, one at a time */
			for (j = 0; j < n; j++) {
				VF acc[KO];
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[k] = add ? VLOAD(o + 2 * Cd * j +
					    VL * k) : VZERO();
				for (ky = 0; ky < 3; ky++)
					for (kx = 0; kx < 3; kx++) {
						if ((py + 1 - ky) % 2 ||
						    (px + 1 - kx) % 2)
							continue;
						const float *ip = pad + (m + (py +
						    3 - ky) / 2) * rs + (size_t)(n0 +
						    j + (px + 3 - kx) / 2) * Co;
						const float *wp = wt + (size_t)(8 -
						    3 * ky - kx) * Co * Cd;
						for (c = 0; c < Co; c++)
#pragma GCC unroll 4
							for (k = 0; k < KO; k++)
								acc[k] = VFMA(
								    VSET1(ip[c]),
								    VLOAD(wp + Cd * c +
								    VL * k), acc[k]);
					}
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					VSTORE(o + 2 * Cd * j + VL * k, acc[k]);
			}
		}
}

/* The four phases for each group of Cd input channels. */
static inline __attribute__((always_inline, target(TGT))) void
K(dinput2_groups)(float *dx, const float *pad, const float *wt, int H,
    int W, int Wo, int Co, int Cd, int add, const int KO, const int XB,
    const int XT)
{
	int h;

	for (h = 0; h < Cd; h += VL * KO) {
		K(dinput2_body)(dx + h, pad, wt + h, H, W, Wo, Co, Cd, add, KO,
		    XB, XT, 0, 0);
		K(dinput2_body)(dx + h, pad, wt + h, H, W, Wo, Co, Cd, add, KO,
		    XB, XT, 0, 1);
		K(dinput2_body)(dx + h, pad, wt + h, H, W, Wo, Co, Cd, add, KO,
		    XB, XT, 1, 0);
		K(dinput2_body)(dx + h, pad, wt + h, H, W, Wo, Co, Cd, add, KO,
		    XB, XT, 1, 1);
	}
}

#ifdef DI2Q_WMOD
/* Cd = 16, H even, W a multiple of DI2Q_WMOD: the level's own kernel,
 * with the sums of K(dinput2_body) */
__attribute__((target(TGT))) static void
K(dinput2q)(float *dx, const float *pad, const float *wt, int H, int W,
    int Wo, int Co, int add);
#endif

/* dx (H, W, Cd) (+)= the input gradient of one sample of a stride-2
 * convolution to Co channels from its padded output gradient pad
 * (Ho + 2, Wo + 2, Co) and flipped weights wt (9, Co, Cd); Cd = 16, 32
 * or 64, blocked as the forward kernel for Cd output channels. */
__attribute__((target(TGT))) static void
K(dinput2)(float *dx, const float *pad, const float *wt, int H, int W,
    int Wo, int Co, int Cd, int add)
{
#ifdef DI2Q_WMOD
	if (Cd == 16 && H % 2 == 0 && W % DI2Q_WMOD == 0) {
		K(dinput2q)(dx, pad, wt, H, W, Wo, Co, add);
		return;
	}
#endif
	if (Cd == 16)
		K(dinput2_groups)(dx, pad, wt, H, W, Wo, Co, Cd, add, FWD16);
	else if (Cd == 32)
		K(dinput2_groups)(dx, pad, wt, H, W, Wo, Co, Cd, add, FWD32);
	else
		K(dinput2_groups)(dx, pad, wt, H, W, Wo, Co, Cd, add, FWD64);
}
