/*
 * table.h - the result tables of the tools, as TSV or as JSON, from one
 * sequence of calls.
 *
 * TSV: an optional header line per array, then one line per row, cells
 * separated by tabs; members outside the arrays are not shown.
 * JSON: one object; members and arrays in call order, each array row an
 * object on its own line:
 *
 *	{"rows": 12, "metrics": [
 *	  {"metric": "cka", "k": null, "value": 0.12345678},
 *	  {"metric": "svcca", "k": null, "value": 0.50000000}
 *	], "groups": [
 *	]}
 *
 * A cell has a JSON key; key NULL makes a TSV-only column, and
 * mm_table_json_int() a JSON-only member.  Reals are printed with %.*f;
 * JSON shows NaN and infinities as null (TSV as printf does).  Strings are
 * escaped for JSON (quote, backslash, control characters).
 * Write errors are left on the stream for its fclose/ferror check.
 */
#ifndef MM_TABLE_H
#define MM_TABLE_H

#include <stdio.h>

struct mm_table {
	FILE *f;
	int json;
	int members;    /* top-level members written (JSON) */
	int in_array;   /* an array is open (JSON) */
	int rows;       /* rows in the open array */
	int cells;      /* cells in the open row */
};

void mm_table_open(struct mm_table *t, FILE *f, int json);
/* A top-level integer member (JSON only). */
void mm_table_member_int(struct mm_table *t, const char *key, long long v);
/* Start the array key; header is its TSV header line (without the
 * newline), or NULL for none. */
void mm_table_array(struct mm_table *t, const char *key, const char *header);
void mm_table_row(struct mm_table *t);
void mm_table_str(struct mm_table *t, const char *key, const char *s);
void mm_table_int(struct mm_table *t, const char *key, long long v);
void mm_table_num(struct mm_table *t, const char *key, double v, int prec);
/* An absent value: "-" in TSV, null in JSON. */
void mm_table_none(struct mm_table *t, const char *key);
void mm_table_json_int(struct mm_table *t, const char *key, long long v);
void mm_table_end_row(struct mm_table *t);
/* Close the open array and the object. */
void mm_table_close(struct mm_table *t);

/* "tsv" -> 0, "json" -> 1, anything else -> -1 (for --format). */
int mm_table_format(const char *name);

#endif
