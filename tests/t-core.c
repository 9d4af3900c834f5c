/* t-core.c - metadata records, the PRNG and the choice of OpenBLAS's
 * kernels (the number parser: t-num.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "meta.h"
#include "rng.h"
#include "tap.h"

static void
test_meta(void)
{
	struct mm_meta m, n;
	struct mm_factors f;
	char *text;
	size_t len;

	mm_meta_init(&m);
	mm_meta_init(&n);
	mm_meta_set(&m, "dataset", "dsprites");
	mm_meta_set(&m, "factors", "shape,scale,posX");
	mm_meta_set(&m, "cardinalities", "3,6,32");
	mm_meta_set(&m, "essence", "shape,posX");
	mm_meta_setf(&m, "seed", "%d", 7);
	mm_meta_set(&m, "dataset", "shapes3d");
	is_int(m.n, 5, "replacing a key keeps one entry");
	is_str(mm_meta_get(&m, "dataset"), "shapes3d", "replaced value read");
	mm_meta_format(&m, &text, &len);
	ok(mm_meta_parse(&n, text, len) == 0 && n.n == 5 &&
	    strcmp(mm_meta_get(&n, "seed"), "7") == 0,
	    "format then parse round-trips");
	free(text);
	ok(mm_meta_parse(&n, "novalue\n", 8) == MM_EFORMAT,
	    "a line without '=' is EFORMAT");
	ok(mm_meta_set(&n, "bad key", "x") == MM_EFORMAT, "a key with a space "
	    "is refused");
	ok(mm_meta_set(&n, "k", "a\nb") == MM_EFORMAT, "a value with a newline "
	    "is refused");
	ok(mm_meta_factors(&m, &f) == 0 && f.F == 3 && f.card[2] == 32 &&
	    f.essence[0] == 1 && f.essence[1] == 0 && f.essence[2] == 1,
	    "factors, cardinalities and essence parsed");
	is_int(mm_factors_find(&f, "scale"), 1, "factor found by name");
	is_int(mm_factors_find(&f, "posY"), -1, "absent factor is -1");
	mm_meta_set(&m, "essence", "colour");
	is_int(mm_meta_factors(&m, &f), MM_EFORMAT, "unknown essence factor "
	    "is refused");
	mm_meta_set(&m, "cardinalities", "3,6");
	is_int(mm_meta_factors(&m, &f), MM_EFORMAT, "cardinality count "
	    "mismatch is refused");
	mm_meta_free(&n);
	n.n = 0;
	mm_meta_init(&n);
	is_int(mm_meta_factors(&n, &f), MM_EMISSING, "no factors key is "
	    "EMISSING");
	mm_meta_free(&m);
	mm_meta_free(&n);
}

static void
test_rng(void)
{
	struct mm_rng a, b;
	int64_t idx[100];
	double s = 0, s2 = 0;
	int i, same = 1, perm = 1, inrange = 1;
	int seen[100] = { 0 };

	mm_rng_seed(&a, 42);
	mm_rng_seed(&b, 42);
	for (i = 0; i < 1000; i++)
		same &= mm_rng_u64(&a) == mm_rng_u64(&b);
	ok(same, "same seed, same sequence");
	mm_rng_seed(&b, 43);
	ok(mm_rng_u64(&a) != mm_rng_u64(&b), "another seed, another sequence");
	for (i = 0; i < 100000; i++) {
		double x = mm_rng_normal(&a);
		s += x;
		s2 += x * x;
		inrange &= mm_rng_below(&a, 7) < 7;
	}
	is_double(s / 100000, 0, 0.02, "normal mean near 0");
	is_double(s2 / 100000, 1, 0.02, "normal variance near 1");
	ok(inrange, "below(7) stays in [0, 7)");
	for (i = 0; i < 100; i++)
		idx[i] = i;
	mm_rng_shuffle(&a, idx, 100);
	for (i = 0; i < 100; i++)
		seen[idx[i]]++;
	for (i = 0; i < 100; i++)
		perm &= seen[i] == 1;
	ok(perm, "shuffle is a permutation");
}

/* A message that prefixes the one it replaces stays readable. */
static void
test_err(void)
{
	mm_err(MM_EFORMAT, ".npy header has no 'descr'");
	mm_err(MM_EFORMAT, "tensor '%s': %s", "images", mm_errmsg());
	is_str(mm_errmsg(), "tensor 'images': .npy header has no 'descr'",
	    "mm_err with mm_errmsg() as an argument");
}

/* Better OpenBLAS kernels are named only for a core without AVX2 ones,
 * and the best the CPU's level allows. */
static void
test_blas_core(void)
{
	static const struct {
		const char *core;
		int level;
		const char *want;
	} t[] = {
		{ "Prescott", 3, "Cooperlake" }, { "Prescott", 2, "SkylakeX" },
		{ "Prescott", 1, "Haswell" }, { "Prescott", 0, NULL },
		{ "Core2", 2, "SkylakeX" }, { "Sandybridge", 1, "Haswell" },
		{ "Nehalem", 3, "Cooperlake" }, { "Haswell", 3, NULL },
		{ "Zen", 3, NULL }, { "SkylakeX", 3, NULL },
		{ "Cooperlake", 2, NULL }, { "SapphireRapids", 3, NULL },
		{ NULL, 3, NULL }, { "Prescott", 4, NULL },
	};
	size_t i;
	int bad = 0, level = mm_blas_cpu_level();

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		const char *w = mm_blas_core_better(t[i].core, t[i].level);
		if (!(w == t[i].want || (w && t[i].want &&
		    strcmp(w, t[i].want) == 0))) {
			bad++;
			diag("%s at level %d: got %s", t[i].core ? t[i].core :
			    "(none)", t[i].level, w ? w : "(none)");
		}
	}
	ok(bad == 0, "OpenBLAS core to name, %d cases", (int)i);
	{
		/* the kernel's flags (which count the OS's support too) */
		FILE *f = fopen("/proc/cpuinfo", "r");
		char line[8192], *fl = NULL;
		int want = 0;

		while (f && fgets(line, sizeof line, f))
			if (strncmp(line, "flags", 5) == 0) {
				fl = strchr(line, ':');
				break;
			}
		if (f)
			fclose(f);
		if (!fl) {
			skip(1, "no flags in /proc/cpuinfo");
			return;
		}
#define HAS(x) (strstr(fl, " " x " ") || strstr(fl, " " x "\n"))
		if (HAS("avx512f") && HAS("avx512cd") && HAS("avx512bw") &&
		    HAS("avx512dq") && HAS("avx512vl"))
			want = HAS("avx512_bf16") ? 3 : 2;
		else if (HAS("avx2") && HAS("fma"))
			want = 1;
#undef HAS
		ok(level == want, "this CPU's level for OpenBLAS: %d, as "
		    "/proc/cpuinfo's flags say (%d)", level, want);
	}
}

int
main(void)
{
	test_err();
	test_meta();
	test_rng();
	test_blas_core();
	return done_testing();
}
