/*
 * shapes3d.c - procedural Shapes3D: a room (floor, back and side walls)
 * with one object (cube, cylinder, sphere, capsule) on the floor, seen by
 * a camera orbiting the object at one of 15 azimuths in [-30, 30] degrees.
 * Factors: floor_hue, wall_hue, object_hue (10 each, hues i/10 in HSV at
 * full saturation), scale 8 (0.75..1.25), shape 4, orientation 15.
 *
 * Only shape, scale and orientation change the geometry (480 of them), so
 * each geometry is ray cast once (2x2 samples a pixel, a point light with
 * Lambert shading, a shadow ray and a Blinn highlight on the object) into
 * a table of four weights a pixel: how much floor colour, wall colour,
 * object colour and white light reach it.  An image is then three
 * multiply-adds a channel a pixel: pixel = wf*floor + ww*wall + wo*object
 * + white.  Tables are built on first use.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define NPX (MM_GEN_H_PX * MM_GEN_W_PX)
#define NGEOM (8 * 4 * 15)
#define PI 3.14159265358979323846

/* scene: floor y = 0, back wall z = ZB, side walls x = +-XS, camera at
 * distance CD and height CH looking at (0, TY, 0) */
#define ZB 4.0
#define XS 4.5
#define CD 7.5
#define CH 3.0
#define TY 0.85
#define TANFOV 0.36
#define AMB 0.38

struct shapes3d {
	uint8_t *w;             /* (NGEOM, NPX, 4): floor, wall, object, white */
	char built[NGEOM];
	uint8_t hue[10][3];     /* HSV(i/10, 1, 1) as RGB */
};

struct v3 {
	double x, y, z;
};

static struct v3
v3(double x, double y, double z)
{
	struct v3 r = { x, y, z };
	return r;
}

static struct v3
add(struct v3 a, struct v3 b)
{
	return v3(a.x + b.x, a.y + b.y, a.z + b.z);
}

static struct v3
sub(struct v3 a, struct v3 b)
{
	return v3(a.x - b.x, a.y - b.y, a.z - b.z);
}

static struct v3
mul(struct v3 a, double s)
{
	return v3(a.x * s, a.y * s, a.z * s);
}

static double
dot(struct v3 a, struct v3 b)
{
	return a.x * b.x + a.y * b.y + a.z * b.z;
}

static struct v3
norm(struct v3 a)
{
	return mul(a, 1.0 / sqrt(dot(a, a)));
}

static struct v3
cross(struct v3 a, struct v3 b)
{
	return v3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z,
	    a.x * b.y - a.y * b.x);
}

/* The object: shape 0 cube, 1 cylinder, 2 sphere, 3 capsule (lying along
 * x); h is half its base width.  Returns the nearest t > 1e-6 or -1 and
 * the outward normal. */
static double
hit_sphere(struct v3 o, struct v3 d, struct v3 c, double r, struct v3 *n)
{
	struct v3 oc = sub(o, c);
	double b = dot(oc, d), q = dot(oc, oc) - r * r, disc = b * b - q, t;

	if (disc < 0)
		return -1;
	t = -b - sqrt(disc);
	if (t < 1e-6)
		return -1;
	*n = mul(sub(add(o, mul(d, t)), c), 1.0 / r);
	return t;
}

static double
hit_object(int shape, double h, struct v3 o, struct v3 d, struct v3 *n)
{
	double t = -1;

	if (shape == 0) {
		/* box [-h, h] x [0, 2h] x [-h, h], slabs */
		double lo[3] = { -h, 0, -h }, hi[3] = { h, 2 * h, h };
		double oo[3] = { o.x, o.y, o.z }, dd[3] = { d.x, d.y, d.z };
		double t0 = -1e30, t1 = 1e30;
		int i, ax = 0;
		for (i = 0; i < 3; i++) {
			double a, b;
			if (fabs(dd[i]) < 1e-12) {
				if (oo[i] < lo[i] || oo[i] > hi[i])
					return -1;
				continue;
			}
			a = (lo[i] - oo[i]) / dd[i];
			b = (hi[i] - oo[i]) / dd[i];
			if (a > b) {
				double s = a;
				a = b;
				b = s;
			}
			if (a > t0) {
				t0 = a;
				ax = i;
			}
			if (b < t1)
				t1 = b;
		}
		if (t0 > t1 || t0 < 1e-6)
			return -1;
		*n = v3(0, 0, 0);
		if (ax == 0)
			n->x = d.x > 0 ? -1 : 1;
		else if (ax == 1)
			n->y = d.y > 0 ? -1 : 1;
		else
			n->z = d.z > 0 ? -1 : 1;
		return t0;
	}
	if (shape == 1) {
		/* vertical cylinder radius h, height 2.2h, with a top cap */
		double H = 2.2 * h, a = d.x * d.x + d.z * d.z;
		double b = o.x * d.x + o.z * d.z;
		double c = o.x * o.x + o.z * o.z - h * h, disc = b * b - a * c;
		if (a > 1e-12 && disc >= 0) {
			double ts = (-b - sqrt(disc)) / a, y = o.y + ts * d.y;
			if (ts > 1e-6 && y >= 0 && y <= H) {
				struct v3 p = add(o, mul(d, ts));
				*n = norm(v3(p.x, 0, p.z));
				t = ts;
			}
		}
		if (d.y < 0) {
			double tc = (H - o.y) / d.y;
			struct v3 p = add(o, mul(d, tc));
			if (tc > 1e-6 && p.x * p.x + p.z * p.z <= h * h &&
			    (t < 0 || tc < t)) {
				*n = v3(0, 1, 0);
				t = tc;
			}
		}
		return t;
	}
	if (shape == 2)
		return hit_sphere(o, d, v3(0, h * 1.05, 0), h * 1.05, n);
	{
		/* capsule: segment (-L, r, 0)..(L, r, 0), radius r */
		double r = 0.62 * h, L = 0.85 * h;
		double a = d.y * d.y + d.z * d.z;
		double b = (o.y - r) * d.y + o.z * d.z;
		double c = (o.y - r) * (o.y - r) + o.z * o.z - r * r;
		double disc = b * b - a * c;
		struct v3 n2;
		double t2;
		if (a > 1e-12 && disc >= 0) {
			double ts = (-b - sqrt(disc)) / a, x = o.x + ts * d.x;
			if (ts > 1e-6 && x >= -L && x <= L) {
				struct v3 p = add(o, mul(d, ts));
				*n = norm(v3(0, p.y - r, p.z));
				t = ts;
			}
		}
		if ((t2 = hit_sphere(o, d, v3(-L, r, 0), r, &n2)) > 0 &&
		    (t < 0 || t2 < t)) {
			*n = n2;
			t = t2;
		}
		if ((t2 = hit_sphere(o, d, v3(L, r, 0), r, &n2)) > 0 &&
		    (t < 0 || t2 < t)) {
			*n = n2;
			t = t2;
		}
		return t;
	}
}

/* One camera ray: region 0 floor, 1 wall, 2 object; light (diffuse +
 * ambient) and a white highlight. */
static void
trace(int shape, double h, struct v3 o, struct v3 d, int *region,
    double *light, double *white)
{
	const struct v3 L = v3(-3.0, 7.0, -5.0);
	struct v3 n, p, l, nn;
	double t = 1e30, tt, diff, shade = 1.0;

	*white = 0;
	*region = 1;
	/* walls: the nearest plane the ray moves towards */
	if (d.z > 0 && (tt = (ZB - o.z) / d.z) < t) {
		t = tt;
		n = v3(0, 0, -1);
	}
	if (d.x > 0 && (tt = (XS - o.x) / d.x) < t) {
		t = tt;
		n = v3(-1, 0, 0);
	}
	if (d.x < 0 && (tt = (-XS - o.x) / d.x) < t) {
		t = tt;
		n = v3(1, 0, 0);
	}
	if (d.y < 0 && (tt = -o.y / d.y) < t) {
		t = tt;
		n = v3(0, 1, 0);
		*region = 0;
	}
	if ((tt = hit_object(shape, h, o, d, &nn)) > 0 && tt < t) {
		t = tt;
		n = nn;
		*region = 2;
	}
	if (t >= 1e30) {
		*light = AMB;
		return;
	}
	p = add(o, mul(d, t));
	l = norm(sub(L, p));
	diff = dot(n, l);
	if (diff < 0)
		diff = 0;
	if (*region != 2 && hit_object(shape, h, add(p, mul(n, 1e-4)), l,
	    &nn) > 0)
		shade = 0.0;
	/* a soft fall-off with distance from the light keeps the floor and
	 * walls from looking flat */
	diff *= 1.15 - 0.012 * dot(sub(L, p), sub(L, p)) / 8.0;
	if (diff < 0)
		diff = 0;
	*light = AMB + (1.0 - AMB) * diff * shade;
	if (*light > 1)
		*light = 1;
	if (*region == 2) {
		struct v3 hv = norm(sub(l, d));
		double s = dot(n, hv);
		if (s > 0)
			*white = 0.35 * pow(s, 40.0);
	}
}

static void
build(uint8_t *w, int shape, int scale, int orient)
{
	double az = (-30.0 + 60.0 * orient / 14.0) * PI / 180.0;
	double h = 0.85 * (0.75 + 0.5 * scale / 7.0);
	struct v3 cam = v3(CD * sin(az), CH, -CD * cos(az));
	struct v3 f = norm(sub(v3(0, TY, 0), cam));
	struct v3 r = norm(cross(f, v3(0, 1, 0)));
	struct v3 u = cross(r, f);
	int px, py, s, region;
	double light, white;

	for (py = 0; py < MM_GEN_H_PX; py++)
		for (px = 0; px < MM_GEN_W_PX; px++) {
			double acc[4] = { 0, 0, 0, 0 };
			uint8_t *q = w + (py * MM_GEN_W_PX + px) * 4;
			for (s = 0; s < 4; s++) {
				double sx = (px + 0.25 + 0.5 * (s & 1)) / 32.0 - 1;
				double sy = (py + 0.25 + 0.5 * (s >> 1)) / 32.0 - 1;
				struct v3 d = norm(add(f, add(mul(r, sx * TANFOV),
				    mul(u, -sy * TANFOV))));
				trace(shape, h, cam, d, &region, &light, &white);
				acc[region] += light / 4;
				acc[3] += white / 4;
			}
			for (s = 0; s < 4; s++) {
				double v = acc[s] * 255.0 + 0.5;
				q[s] = (uint8_t)(v > 255 ? 255 : v);
			}
		}
}

void *
mm_shapes3d_init(void)
{
	struct shapes3d *c = calloc(1, sizeof *c);
	int i, k;

	if (!c || (c->w = malloc((size_t)NGEOM * NPX * 4)) == NULL) {
		free(c);
		return NULL;
	}
	for (i = 0; i < 10; i++) {
		/* HSV to RGB at s = v = 1 */
		double hh = i * 0.6, f = hh - floor(hh), rgb[3];
		switch ((int)floor(hh)) {
		case 0: rgb[0] = 1; rgb[1] = f; rgb[2] = 0; break;
		case 1: rgb[0] = 1 - f; rgb[1] = 1; rgb[2] = 0; break;
		case 2: rgb[0] = 0; rgb[1] = 1; rgb[2] = f; break;
		case 3: rgb[0] = 0; rgb[1] = 1 - f; rgb[2] = 1; break;
		case 4: rgb[0] = f; rgb[1] = 0; rgb[2] = 1; break;
		default: rgb[0] = 1; rgb[1] = 0; rgb[2] = 1 - f; break;
		}
		for (k = 0; k < 3; k++)
			c->hue[i][k] = (uint8_t)(rgb[k] * 255.0 + 0.5);
	}
	return c;
}

void
mm_shapes3d_free(void *ctx)
{
	struct shapes3d *c = ctx;

	if (!c)
		return;
	free(c->w);
	free(c);
}

void
mm_shapes3d_render(void *ctx, const int32_t *cls, uint8_t *img)
{
	struct shapes3d *c = ctx;
	int g = (cls[3] * 4 + cls[4]) * 15 + cls[5], i, k;
	const uint8_t *w;

	w = c->w + (size_t)g * NPX * 4;
	if (!c->built[g]) {
		build(c->w + (size_t)g * NPX * 4, cls[4], cls[3], cls[5]);
		c->built[g] = 1;
	}
	for (k = 0; k < 3; k++) {
		int cf = c->hue[cls[0]][k], cw = c->hue[cls[1]][k];
		int co = c->hue[cls[2]][k];
		uint8_t *o = img + k * NPX;
		for (i = 0; i < NPX; i++) {
			const uint8_t *q = w + 4 * i;
			int v = (q[0] * cf + q[1] * cw + q[2] * co + 127) / 255 +
			    q[3];
			o[i] = (uint8_t)(v > 255 ? 255 : v);
		}
	}
}
