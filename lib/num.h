/*
 * num.h - the one checked number parser of libmmib: decimal integers and
 * finite reals from text (command lines, metadata, specs), with a range
 * and no silent garbage.  Never prints, never exits.
 */
#ifndef MM_NUM_H
#define MM_NUM_H

/* Parse a decimal integer in [min, max] from s.  With end NULL the whole
 * string must be the number ("12x" and "" are refused; leading blanks and
 * a sign are accepted, as by strtol); otherwise
 * the number may be followed by anything and *end points just past it
 * (for lists such as "3,6,40").  0, or MM_EINVAL on no digits, overflow or
 * a value out of range (*out is then untouched). */
int mm_num_long(const char *s, const char **end, long min, long max,
    long *out);

/* The same for a finite real (strtod syntax; NaN and infinities are
 * refused). */
int mm_num_double(const char *s, const char **end, double min, double max,
    double *out);

#endif
