/* t-pairs.c - the paired-sample reader: a stream of two batches loaded
 * whole, gathered and sliced into float rows; a batch view; refusals of a
 * missing tensor, a changing shape and a non-finite pair value. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "meta.h"
#include "pairs.h"
#include "stream.h"
#include "tap.h"

/* A paired stream with batches of rows[b] rows, C=2 H=3 W=1, D=4: image
 * byte (r, k) = 10 r + k, pair (r, j) = r + j / 4; bad: 1 drops 'pair'
 * from batch 2, 2 widens its images, 3 puts a NaN in row 4. */
static FILE *
stream(int bad)
{
	static const int rows[2] = { 3, 2 };
	FILE *f = tmpfile();
	struct mm_writer *w = mm_writer_open(f, 0);
	struct mm_meta m;
	uint8_t img[3 * 6 * 2];
	float pair[3 * 4];
	int b, r, k, base = 0;

	mm_meta_init(&m);
	mm_meta_set(&m, "dataset", "test");
	mm_writer_meta(w, &m);
	for (b = 0; b < 2; b++) {
		int64_t s4[4] = { rows[b], 2, 3, 1 }, s2[2] = { rows[b], 4 };
		for (r = 0; r < rows[b]; r++) {
			for (k = 0; k < 6; k++)
				img[r * 6 + k] = (uint8_t)(10 * (base + r) + k);
			for (k = 0; k < 4; k++)
				pair[r * 4 + k] = (float)(base + r) + k / 4.0f;
		}
		if (bad == 3 && b == 1)
			pair[1 * 4 + 2] = NAN;
		if (bad == 2 && b == 1)
			s4[3] = 2;
		mm_writer_tensor(w, "images", b, MM_U8, 4, s4, img);
		if (!(bad == 1 && b == 1))
			mm_writer_tensor(w, "pair", b, MM_F32, 2, s2, pair);
		base += rows[b];
	}
	mm_writer_end(w);
	mm_writer_close(w);
	mm_meta_free(&m);
	rewind(f);
	return f;
}

static int
load(struct mm_pairs *d, int bad)
{
	FILE *f = stream(bad);
	struct mm_reader *rd = mm_reader_open(f, "t");
	int rc;

	mm_pairs_init(d);
	rc = mm_pairs_load(d, rd);
	mm_reader_close(rd);
	fclose(f);
	return rc;
}

int
main(void)
{
	struct mm_pairs d, v;
	int64_t idx[2] = { 4, 1 };
	float x[2 * 6], p[2 * 4];
	int rc, k, good;

	plan(15);
	rc = load(&d, 0);
	ok(rc == 0, "two batches load: %s", rc ? mm_errmsg() : "ok");
	ok(d.N == 5 && d.C == 2 && d.H == 3 && d.W == 1 && d.D == 4,
	    "N 5, (C, H, W) = (2, 3, 1), D 4");
	is_str(mm_meta_get(&d.meta, "dataset"), "test", "metadata kept");
	mm_pairs_gather(&d, idx, 2, x, p);
	for (good = 1, k = 0; k < 6; k++)
		good &= x[k] == 40 + k && x[6 + k] == 10 + k;
	ok(good, "gather: images of rows 4 and 1 as floats, in idx order");
	for (good = 1, k = 0; k < 4; k++)
		good &= p[k] == 4 + k / 4.0f && p[4 + k] == 1 + k / 4.0f;
	ok(good, "gather: their pair vectors");
	memset(p, 0, sizeof p);
	mm_pairs_gather(&d, idx, 1, x, NULL);
	ok(p[0] == 0 && x[0] == 40, "gather without pair vectors");
	mm_pairs_slice(&d, 2, 2, x, p);
	ok(x[0] == 20 && x[6] == 30 && x[11] == 35 && p[0] == 2 && p[7] ==
	    3.75f, "slice: rows 2 and 3");
	mm_pairs_free(&d);

	rc = load(&d, 1);
	ok(rc == MM_EMISSING && strstr(mm_errmsg(), "batch 1 lacks the 'pair'"),
	    "missing pair tensor: %s", mm_errmsg());
	mm_pairs_free(&d);
	rc = load(&d, 2);
	ok(rc == MM_EFORMAT && strstr(mm_errmsg(), "changes the image"),
	    "changing image shape: %s", mm_errmsg());
	mm_pairs_free(&d);
	rc = load(&d, 3);
	ok(rc == MM_ENUM && strstr(mm_errmsg(), "row 4 is not finite"),
	    "NaN pair value: %s", mm_errmsg());
	mm_pairs_free(&d);

	/* a view of one batch */
	{
		FILE *f = stream(1);
		struct mm_reader *rd = mm_reader_open(f, "t");
		struct mm_batch b;
		mm_batch_init(&b);
		mm_reader_batch(rd, &b);
		rc = mm_pairs_view(&v, &b, MM_PAIRS_IMAGES | MM_PAIRS_PAIR);
		ok(rc == 0 && v.N == 3 && v.D == 4 && v.C == 2, "view of batch 0");
		mm_pairs_slice(&v, 1, 1, x, p);
		ok(x[0] == 10 && p[3] == 1.75f, "slice of the view");
		mm_reader_batch(rd, &b);
		ok(mm_pairs_view(&v, &b, MM_PAIRS_PAIR) == MM_EMISSING,
		    "view: a needed tensor is missing");
		ok(mm_pairs_view(&v, &b, MM_PAIRS_IMAGES) == 0 && !v.pair &&
		    v.D == 0 && v.img, "view: an unneeded one may be");
		mm_batch_free(&b);
		mm_reader_close(rd);
		fclose(f);
	}
	/* a view refuses a NaN pair value too (mmib-encode reads by views) */
	{
		FILE *f = stream(3);
		struct mm_reader *rd = mm_reader_open(f, "t");
		struct mm_batch b;
		mm_batch_init(&b);
		mm_reader_batch(rd, &b);
		mm_reader_batch(rd, &b);
		rc = mm_pairs_view(&v, &b, MM_PAIRS_PAIR);
		ok(rc == MM_ENUM && strstr(mm_errmsg(), "batch 1: 'pair' row 1"),
		    "view: NaN pair value: %s", mm_errmsg());
		mm_batch_free(&b);
		mm_reader_close(rd);
		fclose(f);
	}
	return done_testing();
}
