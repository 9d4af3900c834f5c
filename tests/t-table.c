/* t-table.c - the TSV/JSON emitter: byte for byte the tables mmib-probe
 * and mmib-align printed with their own printf calls before it existed
 * (the strings below), NaN as null in JSON, strings escaped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "tap.h"

/* An align-like table into a string. */
static char *
align_table(int json)
{
	static char buf[4096];
	struct mm_table t;
	FILE *f = tmpfile();
	size_t n;

	mm_table_open(&t, f, json);
	mm_table_member_int(&t, "rows", 150);
	mm_table_array(&t, "metrics", "metric\tk\tvalue");
	mm_table_row(&t);
	mm_table_str(&t, "metric", "cka");
	mm_table_none(&t, "k");
	mm_table_num(&t, "value", 0.123456789, 8);
	mm_table_end_row(&t);
	mm_table_row(&t);
	mm_table_str(&t, "metric", "mutual_knn");
	mm_table_int(&t, "k", 5);
	mm_table_num(&t, "value", NAN, 8);
	mm_table_end_row(&t);
	mm_table_close(&t);
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A probe-like table: a row, a group row with TSV-only and JSON-only
 * cells, an empty second array when groups is 0. */
static char *
probe_table(int json, int groups)
{
	static char buf[4096];
	struct mm_table t;
	FILE *f = tmpfile();
	size_t n;

	mm_table_open(&t, f, json);
	mm_table_array(&t, "probes", "modality\tfactor\tK\tacc\titers");
	mm_table_row(&t);
	mm_table_str(&t, "modality", "img");
	mm_table_str(&t, "factor", "shape");
	mm_table_int(&t, "K", 3);
	mm_table_num(&t, "acc", 0.5, 6);
	mm_table_int(&t, "iters", 12);
	mm_table_json_int(&t, "seen", 3);
	mm_table_end_row(&t);
	mm_table_array(&t, "groups", NULL);
	if (groups) {
		mm_table_row(&t);
		mm_table_str(&t, "modality", "img");
		mm_table_str(&t, "group", "essence");
		mm_table_none(&t, NULL);
		mm_table_json_int(&t, "factors", 1);
		mm_table_num(&t, "acc", 0.5, 6);
		mm_table_none(&t, NULL);
		mm_table_end_row(&t);
	}
	mm_table_close(&t);
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

int
main(void)
{
	char *s;

	plan(9);
	s = align_table(0);
	is_str(s, "metric\tk\tvalue\ncka\t-\t0.12345679\nmutual_knn\t5\tnan\n",
	    "align TSV");
	s = align_table(1);
	is_str(s, "{\"rows\": 150, \"metrics\": [\n"
	    "  {\"metric\": \"cka\", \"k\": null, \"value\": 0.12345679},\n"
	    "  {\"metric\": \"mutual_knn\", \"k\": 5, \"value\": null}\n]}\n",
	    "align JSON: members, null k, NaN as null");
	s = probe_table(0, 1);
	is_str(s, "modality\tfactor\tK\tacc\titers\nimg\tshape\t3\t0.500000\t12\n"
	    "img\tessence\t-\t0.500000\t-\n", "probe TSV: one table, group "
	    "rows with '-'");
	s = probe_table(1, 1);
	is_str(s, "{\"probes\": [\n  {\"modality\": \"img\", \"factor\": "
	    "\"shape\", \"K\": 3, \"acc\": 0.500000, \"iters\": 12, \"seen\": "
	    "3}\n], \"groups\": [\n  {\"modality\": \"img\", \"group\": "
	    "\"essence\", \"factors\": 1, \"acc\": 0.500000}\n]}\n",
	    "probe JSON: two arrays, TSV-only cells left out");
	s = probe_table(1, 0);
	ok(strstr(s, "\n], \"groups\": [\n]}\n") != NULL,
	    "an empty array closes on its own line");
	{
		struct mm_table t;
		FILE *f = tmpfile();
		char buf[256];
		size_t n;
		mm_table_open(&t, f, 1);
		mm_table_array(&t, "a", NULL);
		mm_table_row(&t);
		mm_table_str(&t, "k\"ey", "q\"b\\s\tn");
		mm_table_end_row(&t);
		mm_table_close(&t);
		rewind(f);
		n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		fclose(f);
		is_str(buf, "{\"a\": [\n  {\"k\\\"ey\": \"q\\\"b\\\\s\\u0009n\"}"
		    "\n]}\n", "JSON strings escaped");
	}
	ok(mm_table_format("tsv") == 0, "tsv");
	ok(mm_table_format("json") == 1, "json");
	ok(mm_table_format("csv") < 0, "csv refused");
	return done_testing();
}
