/*
 * dsprites.c - procedural dSprites: a white square, ellipse or heart on
 * black, values 0/1, 64x64.  Factors: shape 3, scale 6 (0.5..1),
 * orientation 40 (0..2*pi, both ends included as in the original),
 * posX 32, posY 32 (0..1).
 *
 * A pixel is set when its centre, mapped back into the sprite's own frame
 * (translate, rotate by -orientation, divide by scale), falls inside the
 * shape.  The inverse map is affine, so it is stepped incrementally over
 * the sprite's bounding box: no trigonometry per pixel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

/* Geometry in pixels: at scale 1 the square is 2*HALF wide; a sprite
 * centre runs over [LO, LO + SPAN] as its position goes 0..1. */
#define HALF 9.5
#define PI 3.14159265358979323846
#define LO 10.5
#define SPAN 42.0

struct dsprites {
	float cs[40], sn[40];
};

void *
mm_dsprites_init(void)
{
	struct dsprites *d = malloc(sizeof *d);
	int i;

	if (!d)
		return NULL;
	for (i = 0; i < 40; i++) {
		double a = 2.0 * PI * i / 39.0;
		d->cs[i] = (float)cos(a);
		d->sn[i] = (float)sin(a);
	}
	return d;
}

void
mm_dsprites_free(void *ctx)
{
	free(ctx);
}

/* Inside tests in the unit frame (u right, v down), extent about +-1. */
static int
in_square(float u, float v)
{
	return fabsf(u) <= 1.0f && fabsf(v) <= 1.0f;
}

static int
in_ellipse(float u, float v)
{
	/* long axis horizontal at orientation 0, 2:1 */
	return u * u * (1.0f / 1.69f) + v * v * (1.0f / 0.4225f) <= 1.0f;
}

static int
in_heart(float u, float v)
{
	/* (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y up, lobes on top, point down;
	 * scaled so the heart spans about the square's extent */
	float x = u * 1.12f, y = -v * 1.12f + 0.12f;
	float a = x * x + y * y - 1.0f;
	return a * a * a - x * x * y * y * y <= 0.0f;
}

void
mm_dsprites_render(void *ctx, const int32_t *cls, uint8_t *img)
{
	const struct dsprites *d = ctx;
	int (*inside)(float, float);
	float s = 0.5f + 0.1f * cls[1];
	float cx = (float)(LO + SPAN * cls[3] / 31.0);
	float cy = (float)(LO + SPAN * cls[4] / 31.0);
	float c = d->cs[cls[2]], sn = d->sn[cls[2]];
	float k = (float)(1.0 / (HALF * s));
	float r = (float)(HALF * s * 1.5);
	int x0, x1, y0, y1, x, y;

	memset(img, 0, MM_GEN_H_PX * MM_GEN_W_PX);
	inside = cls[0] == 0 ? in_square : cls[0] == 1 ? in_ellipse : in_heart;
	x0 = (int)floorf(cx - r);
	x1 = (int)ceilf(cx + r);
	y0 = (int)floorf(cy - r);
	y1 = (int)ceilf(cy + r);
	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	if (x1 > MM_GEN_W_PX - 1)
		x1 = MM_GEN_W_PX - 1;
	if (y1 > MM_GEN_H_PX - 1)
		y1 = MM_GEN_H_PX - 1;
	for (y = y0; y <= y1; y++) {
		/* pixel centre (x + 0.5, y + 0.5) relative to the sprite,
		 * rotated by -angle (image y points down, so a positive
		 * angle turns the sprite counter-clockwise on screen) */
		float dy = (float)y + 0.5f - cy;
		float dx = (float)x0 + 0.5f - cx;
		float u = (c * dx - sn * dy) * k;
		float v = (sn * dx + c * dy) * k;
		float du = c * k, dv = sn * k;
		uint8_t *row = img + y * MM_GEN_W_PX;

		for (x = x0; x <= x1; x++, u += du, v += dv)
			row[x] = (uint8_t)inside(u, v);
	}
}
