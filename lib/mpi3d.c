/*
 * mpi3d.c - procedural MPI3D-toy: a two-joint grey arm hanging from a
 * mount at the top of the picture, holding a shaded object at its tip,
 * in front of a coloured backdrop with a floor, seen from three camera
 * heights.  Factors: object_color 6 (white, green, red, blue, brown,
 * olive), object_shape 6 (cone, cube, cylinder, hexagonal, pyramid,
 * sphere), object_size 2, camera_height 3 (top, centre, bottom),
 * background_color 3 (purple, sea green, salmon), horizontal_axis 40 and
 * vertical_axis 40, the arm's two degrees of freedom as in the real
 * dataset: a column hangs from the mount, and the forearm beyond its joint
 * turns about the vertical (horizontal_axis: azimuth, +-60 degrees, the
 * object sweeps left and right) and about a horizontal axis
 * (vertical_axis: elevation, -15 to +70 degrees below the horizontal, the
 * object moves up and down).  Each factor moves the object along its own
 * image axis, so each is visible on its own (a linear probe on 16x16
 * pooled pixels reads both); orthographic view, the object slightly
 * larger as it turns toward the camera.
 *
 * The backdrop of each (camera, background) pair is a precomputed image;
 * the arm and the object are drawn over their bounding boxes only, with
 * 2x2 samples a pixel on the object's silhouette.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define NPX (MM_GEN_H_PX * MM_GEN_W_PX)
#define PI 3.14159265358979323846

static const float objcol[6][3] = {
	{ 232, 232, 228 }, { 46, 160, 66 }, { 196, 40, 38 },
	{ 44, 72, 196 }, { 122, 78, 42 }, { 128, 128, 34 }
};
static const float bgcol[3][3] = {
	{ 112, 72, 142 }, { 46, 139, 110 }, { 236, 142, 116 }
};

struct mpi3d {
	uint8_t bg[3][3][3 * NPX];      /* [camera][background] (C, H, W) */
};

/* per camera height: mount y, floor line, vertical foreshortening */
static const float mount_y[3] = { 3.0f, 7.0f, 11.0f };
static const float floor_y[3] = { 30.0f, 38.0f, 46.0f };
static const float squash[3] = { 0.82f, 0.95f, 1.08f };

void *
mm_mpi3d_init(void)
{
	struct mpi3d *m = malloc(sizeof *m);
	int cam, b, c, x, y;

	if (!m)
		return NULL;
	for (cam = 0; cam < 3; cam++)
		for (b = 0; b < 3; b++)
			for (c = 0; c < 3; c++)
				for (y = 0; y < MM_GEN_H_PX; y++)
					for (x = 0; x < MM_GEN_W_PX; x++) {
						float v, dx = (x - 31.5f) / 32.0f;
						if (y < floor_y[cam])
							/* backdrop, lit from above */
							v = bgcol[b][c] * (1.0f - 0.25f *
							    y / 64.0f - 0.12f * dx * dx);
						else
							/* floor, darker away from the light */
							v = bgcol[b][c] * 0.45f * (1.0f -
							    0.3f * (y - floor_y[cam]) / 30.0f);
						m->bg[cam][b][c * NPX + y * 64 + x] =
						    (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
					}
	return m;
}

void
mm_mpi3d_free(void *ctx)
{
	free(ctx);
}

static void
put(uint8_t *img, int x, int y, const float *rgb, float shade, float a)
{
	int c;

	if (x < 0 || y < 0 || x >= MM_GEN_W_PX || y >= MM_GEN_H_PX || a <= 0)
		return;
	for (c = 0; c < 3; c++) {
		uint8_t *p = img + c * NPX + y * MM_GEN_W_PX + x;
		float v = rgb[c] * shade;
		v = (v > 255 ? 255 : v) * a + *p * (1 - a);
		*p = (uint8_t)(v + 0.5f);
	}
}

/* A thick segment (a link of the arm), shaded across its width like a
 * cylinder lit from the left. */
static void
segment(uint8_t *img, float ax, float ay, float bx, float by, float r,
    const float *rgb)
{
	float dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
	int x0 = (int)floorf(fminf(ax, bx) - r), x1 = (int)ceilf(fmaxf(ax, bx) + r);
	int y0 = (int)floorf(fminf(ay, by) - r), y1 = (int)ceilf(fmaxf(ay, by) + r);
	int x, y;

	for (y = y0; y <= y1; y++)
		for (x = x0; x <= x1; x++) {
			float px = x + 0.5f - ax, py = y + 0.5f - ay;
			float t = l2 > 0 ? (px * dx + py * dy) / l2 : 0;
			float qx, qy, d, side;
			t = t < 0 ? 0 : t > 1 ? 1 : t;
			qx = px - t * dx;
			qy = py - t * dy;
			d = sqrtf(qx * qx + qy * qy);
			if (d > r + 0.5f)
				continue;
			/* signed offset across the link for the shading */
			side = l2 > 0 ? (qx * dy - qy * dx) / sqrtf(l2) / r : 0;
			put(img, x, y, rgb, 0.55f + 0.45f * sqrtf(fmaxf(0.0f,
			    1.0f - side * side)) - 0.15f * side,
			    fminf(1.0f, r + 0.5f - d));
		}
}

/* Object silhouettes in a unit frame (u right, v down, extent about
 * +-1): the shade (> 0) of a point inside, 0 outside. */
static float
object_shade(int shape, float u, float v)
{
	float au = fabsf(u), w, x;

	switch (shape) {
	case 0: /* cone: apex up, shaded round */
		if (v < -1 || v > 0.85f)
			return 0;
		w = 0.85f * (v + 1) / 1.85f;
		if (au > w && !(v > 0.6f && u * u / 0.7225f +
		    (v - 0.85f) * (v - 0.85f) / 0.04f <= 1))
			return 0;
		x = w > 0 ? u / (w > 0.85f ? w : 0.85f) + 0.3f : 0;
		return 0.45f + 0.55f * sqrtf(fmaxf(0, 1 - x * x));
	case 1: /* cube seen from above a corner: three rhombi */
		if (au > 0.87f || fabsf(v) + 0.577f * au > 1)
			return 0;
		if (v < -0.577f * au)
			return 1.0f;
		return u < 0 ? 0.78f : 0.55f;
	case 2: /* cylinder: round body, elliptic top */
		if (u * u / 0.49f + (v + 0.6f) * (v + 0.6f) / 0.0625f <= 1)
			return 1.0f;
		if (au <= 0.7f && v >= -0.6f && (v <= 0.85f || u * u / 0.49f +
		    (v - 0.85f) * (v - 0.85f) / 0.0625f <= 1)) {
			x = u / 0.7f + 0.3f;
			return 0.4f + 0.5f * sqrtf(fmaxf(0, 1 - x * x));
		}
		return 0;
	case 3: /* hexagonal prism: flat hexagon top, three faces */
		if (au <= 0.8f && fabsf(v + 0.5f) * (0.8f / 0.32f) + 0.5f * au <=
		    0.8f)
			return 1.0f;
		if (au > 0.8f || v < -0.5f || v > 0.9f - 0.15f * au / 0.8f)
			return 0;
		return u < -0.4f ? 0.7f : u <= 0.4f ? 0.85f : 0.55f;
	case 4: /* square pyramid: apex up, two faces */
		if (v < -1 || v > 0.8f || au > 0.9f * (v + 1) / 1.8f)
			return 0;
		return u < 0.12f * (v + 1) ? 0.95f : 0.6f;
	default: /* sphere */
		if (u * u + v * v > 1)
			return 0;
		{
			float n = sqrtf(1 - u * u - v * v);
			float d = -0.5f * u - 0.55f * v + 0.67f * n;
			return 0.3f + 0.7f * fmaxf(0, d) + 0.25f *
			    powf(fmaxf(0, d), 12);
		}
	}
}

void
mm_mpi3d_render(void *ctx, const int32_t *cls, uint8_t *img)
{
	static const float grey[3] = { 168, 168, 172 };
	static const float dark[3] = { 70, 70, 76 };
	struct mpi3d *m = ctx;
	int cam = cls[3], x, y, s;
	/* azimuth +-60 deg, elevation -15 .. +70 deg below the horizontal */
	float az = (float)((cls[5] / 39.0 - 0.5) * (120.0 * PI / 180));
	float el = (float)((cls[6] / 39.0 * 85.0 - 15.0) * (PI / 180));
	/* the forearm's direction (x right, y down, z toward the camera) */
	float dx = sinf(az) * cosf(el), dy = sinf(el), dz = cosf(az) * cosf(el);
	float bx = 32.0f, by = mount_y[cam], sq = squash[cam];
	float jx = bx, jy = by + 9.0f * sq;
	float tx = jx + 22.0f * dx, ty = jy + 22.0f * dy * sq;
	float r = (cls[2] ? 8.0f : 5.5f) * (0.9f + 0.1f * cam) *
	    (0.92f + 0.12f * dz);
	const float *col = objcol[cls[0]];

	memcpy(img, m->bg[cam][cls[4]], 3 * NPX);
	/* mount, links, joints */
	segment(img, bx - 6, by - 4, bx + 6, by - 4, 3.0f, dark);
	segment(img, bx, by - 3, jx, jy, 2.6f, grey);
	segment(img, jx, jy, tx, ty, 2.2f, grey);
	segment(img, jx, jy, jx, jy, 3.0f, dark);
	/* the object, centred just beyond the tip */
	{
		float ox = tx + 0.6f * r * dx;
		float oy = ty + 0.6f * r * dy * sq;
		int x0 = (int)floorf(ox - r - 1), x1 = (int)ceilf(ox + r + 1);
		int y0 = (int)floorf(oy - r - 1), y1 = (int)ceilf(oy + r + 1);
		float k = 1.0f / r;

		for (y = y0; y <= y1; y++)
			for (x = x0; x <= x1; x++) {
				float sum = 0;
				int in = 0;
				for (s = 0; s < 4; s++) {
					float u = (x + 0.25f + 0.5f * (s & 1) - ox) * k;
					float v = (y + 0.25f + 0.5f * (s >> 1) - oy) * k;
					float sh = object_shade(cls[1], u, v);
					if (sh > 0) {
						sum += sh;
						in++;
					}
				}
				if (in)
					put(img, x, y, col, sum / in, in / 4.0f);
			}
	}
}
