/* t-num.c - the checked number parser: range, trailing garbage, empty
 * input, overflow, and the list form with an end pointer. */
#include <limits.h>
#include <math.h>
#include <stddef.h>

#include "err.h"
#include "num.h"
#include "tap.h"

int
main(void)
{
	const char *e, *list = "3,6,40";
	long v = -7;
	double d;
	int i;

	plan(20);
	ok(mm_num_long("42", NULL, 0, 100, &v) == 0 && v == 42, "42 parses");
	ok(mm_num_long("-5", NULL, -10, 10, &v) == 0 && v == -5, "a sign");
	ok(mm_num_long("0", NULL, 0, 0, &v) == 0 && v == 0, "[0, 0] holds 0");
	v = -7;
	ok(mm_num_long("101", NULL, 0, 100, &v) == MM_EINVAL && v == -7,
	    "above the range: refused, out untouched");
	ok(mm_num_long("-1", NULL, 0, 100, &v) < 0, "below the range");
	ok(mm_num_long("12x", NULL, 0, 100, &v) < 0, "trailing garbage");
	ok(mm_num_long("1 ", NULL, 0, 100, &v) < 0, "trailing blank");
	ok(mm_num_long("", NULL, 0, 100, &v) < 0, "empty string");
	ok(mm_num_long(NULL, NULL, 0, 100, &v) < 0, "NULL");
	ok(mm_num_long("x", &e, 0, 100, &v) < 0, "no digits, even with end");
	ok(mm_num_long("99999999999999999999", NULL, 0, LONG_MAX, &v) < 0,
	    "overflow refused");
	ok(mm_num_long("1e3", NULL, 0, 10000, &v) < 0, "not a real");
	/* the list form */
	{
		long got[3];
		const char *p = list;
		int n = 0, rc = 0;
		while (rc == 0 && n < 3) {
			rc = mm_num_long(p, &e, 1, 100, &got[n++]);
			p = *e == ',' ? e + 1 : e;
		}
		ok(rc == 0 && got[0] == 3 && got[1] == 6 && got[2] == 40 &&
		    *e == '\0', "a list walked with the end pointer");
	}
	ok(mm_num_long("7,", &e, 0, 10, &v) == 0 && v == 7 && *e == ',',
	    "end points at what follows");
	ok(mm_num_double("1e-3", NULL, 0, 1, &d) == 0 && d == 1e-3, "1e-3");
	ok(mm_num_double("nan", NULL, -INFINITY, INFINITY, &d) < 0, "NaN");
	ok(mm_num_double("inf", NULL, 0, INFINITY, &d) < 0, "infinity");
	ok(mm_num_double("0.5x", NULL, 0, 1, &d) < 0, "trailing garbage");
	ok(mm_num_double("2", NULL, 0, 1, &d) < 0, "out of range");
	i = mm_num_double("0.25;", &e, 0, 1, &d);
	ok(i == 0 && d == 0.25 && *e == ';', "real with an end pointer");
	return done_testing();
}
