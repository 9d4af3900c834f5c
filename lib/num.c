/* num.c - checked number parsing (see num.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "err.h"
#include "num.h"

int
mm_num_long(const char *s, const char **end, long min, long max, long *out)
{
	char *e;
	long v;

	if (!s || !*s)
		return MM_EINVAL;
	errno = 0;
	v = strtol(s, &e, 10);
	if (errno || e == s || (!end && *e) || v < min || v > max)
		return MM_EINVAL;
	if (end)
		*end = e;
	*out = v;
	return 0;
}

int
mm_num_double(const char *s, const char **end, double min, double max,
    double *out)
{
	char *e;
	double v;

	if (!s || !*s)
		return MM_EINVAL;
	errno = 0;
	v = strtod(s, &e);
	if (errno || e == s || (!end && *e) || !isfinite(v) || v < min ||
	    v > max)
		return MM_EINVAL;
	if (end)
		*end = e;
	*out = v;
	return 0;
}
