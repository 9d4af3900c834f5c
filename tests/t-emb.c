/* t-emb.c - the embedding table reader (lib/emb.c) on streams other
 * producers may write: i64 classes, an empty batch, an ancillary record
 * between the tensors of one batch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emb.h"
#include "err.h"
#include "stream.h"
#include "tap.h"

enum { ANCILLARY = 1, EMPTY = 2, I64 = 4, BIG = 8 };

/* Two batches of 3 rows (z_img 2 wide, z_fac 1 wide, classes 2 factors
 * of 3 and 4 classes), the variations of flags, into a rewound FILE. */
static FILE *
write_emb(int flags)
{
	FILE *f = tmpfile();
	struct mm_writer *w = mm_writer_open(f, 0);
	struct mm_meta m;
	float zi[6], zf[3];
	int32_t c32[6];
	int64_t c64[6];
	int b, i, nb = flags & EMPTY ? 3 : 2;

	mm_meta_init(&m);
	mm_meta_set(&m, "factors", "a,b");
	mm_meta_set(&m, "cardinalities", "3,4");
	mm_meta_set(&m, "essence", "a");
	mm_writer_meta(w, &m);
	for (b = 0; b < nb; b++) {
		/* with EMPTY, batch 1 has no rows */
		int64_t n = (flags & EMPTY) && b == 1 ? 0 : 3;
		int64_t si[2] = { n, 2 }, sf[2] = { n, 1 }, sc[2] = { n, 2 };
		for (i = 0; i < 6; i++) {
			zi[i] = (float)(i + 10 * b);
			c32[i] = (i + b) % 3;
			c64[i] = (flags & BIG) && i == 5 ? (int64_t)1 << 40 :
			    (i + b) % 3;
		}
		for (i = 0; i < 3; i++)
			zf[i] = (float)(i - b);
		mm_writer_tensor(w, "z_img", b, MM_F32, 2, si, zi);
		if (flags & ANCILLARY) {
			struct mm_record x;
			mm_record_init(&x);
			x.kind = 'x';
			strcpy(x.name, "note");
			x.body = (unsigned char *)"between";
			x.body_len = 7;
			mm_writer_record(w, &x);
		}
		mm_writer_tensor(w, "z_fac", b, MM_F32, 2, sf, zf);
		if (flags & I64)
			mm_writer_tensor(w, "classes", b, MM_I64, 2, sc, c64);
		else
			mm_writer_tensor(w, "classes", b, MM_I32, 2, sc, c32);
	}
	mm_writer_end(w);
	mm_writer_close(w);
	mm_meta_free(&m);
	rewind(f);
	return f;
}

static int
read_emb(int flags, struct mm_emb *e)
{
	FILE *f = write_emb(flags);
	int rc;

	mm_emb_init(e);
	rc = mm_emb_read(e, f, "t", MM_EMB_CLASSES);
	fclose(f);
	return rc;
}

int
main(void)
{
	struct mm_emb a, e;
	int rc;

	plan(8);
	rc = read_emb(0, &a);
	ok(rc == 0 && a.N == 6 && a.F == 2 && a.Dimg == 2 && a.Dfac == 1,
	    "plain stream: 6 rows%s%s", rc ? ": " : "", rc ? mm_errmsg() : "");

	rc = read_emb(I64, &e);
	ok(rc == 0, "i64 classes accepted%s%s", rc ? ": " : "",
	    rc ? mm_errmsg() : "");
	ok(rc == 0 && e.N == a.N && !memcmp(e.classes, a.classes,
	    sizeof(int32_t) * 12), "i64 classes read as the same values");
	mm_emb_free(&e);

	rc = read_emb(I64 | BIG, &e);
	ok(rc < 0 && strstr(mm_errmsg(), "32 bits"),
	    "an i64 class beyond 32 bits refused: %s", mm_errmsg());

	rc = read_emb(EMPTY, &e);
	ok(rc == 0 && e.N == 6, "an empty batch between two adds no row%s%s",
	    rc ? ": " : "", rc ? mm_errmsg() : "");
	ok(rc == 0 && e.z_img[0] == 0 && e.z_img[5] == 5 &&
	    e.z_img[6] == 20 && e.z_img[11] == 25,
	    "rows after an empty batch in place");
	mm_emb_free(&e);

	rc = read_emb(ANCILLARY, &e);
	ok(rc == 0 && e.N == 6, "an ancillary record between tensors of a "
	    "batch is skipped%s%s", rc ? ": " : "", rc ? mm_errmsg() : "");
	ok(rc == 0 && !memcmp(e.z_fac, a.z_fac, sizeof(float) * 6),
	    "the batch around it read whole");
	mm_emb_free(&e);
	mm_emb_free(&a);
	return done_testing();
}
