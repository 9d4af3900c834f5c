/* table.c - TSV or JSON result tables (see table.h). */
#include <math.h>
#include <string.h>

#include "table.h"

void
mm_table_open(struct mm_table *t, FILE *f, int json)
{
	memset(t, 0, sizeof *t);
	t->f = f;
	t->json = json;
	if (json)
		fputc('{', f);
}

static void
jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* The separator and "key": of a top-level member. */
static void
member(struct mm_table *t, const char *key)
{
	if (t->members++)
		fputs(", ", t->f);
	jstr(t->f, key);
	fputs(": ", t->f);
}

static void
end_array(struct mm_table *t)
{
	if (t->json && t->in_array)
		fputs("\n]", t->f);
	t->in_array = 0;
}

void
mm_table_member_int(struct mm_table *t, const char *key, long long v)
{
	if (!t->json)
		return;
	end_array(t);
	member(t, key);
	fprintf(t->f, "%lld", v);
}

void
mm_table_array(struct mm_table *t, const char *key, const char *header)
{
	if (t->json) {
		end_array(t);
		member(t, key);
		fputc('[', t->f);
		t->in_array = 1;
	} else if (header) {
		fprintf(t->f, "%s\n", header);
	}
	t->rows = 0;
}

void
mm_table_row(struct mm_table *t)
{
	if (t->json)
		fputs(t->rows ? ",\n  {" : "\n  {", t->f);
	t->rows++;
	t->cells = 0;
}

/* The separator and key of a cell; 0 when the cell is not shown. */
static int
cell(struct mm_table *t, const char *key)
{
	if (t->json) {
		if (!key)
			return 0;
		if (t->cells++)
			fputs(", ", t->f);
		jstr(t->f, key);
		fputs(": ", t->f);
	} else if (t->cells++) {
		fputc('\t', t->f);
	}
	return 1;
}

void
mm_table_str(struct mm_table *t, const char *key, const char *s)
{
	if (!cell(t, key))
		return;
	if (t->json)
		jstr(t->f, s);
	else
		fputs(s, t->f);
}

void
mm_table_int(struct mm_table *t, const char *key, long long v)
{
	if (cell(t, key))
		fprintf(t->f, "%lld", v);
}

void
mm_table_num(struct mm_table *t, const char *key, double v, int prec)
{
	if (!cell(t, key))
		return;
	if (t->json && !isfinite(v))
		fputs("null", t->f);
	else
		fprintf(t->f, "%.*f", prec, v);
}

void
mm_table_none(struct mm_table *t, const char *key)
{
	if (cell(t, key))
		fputs(t->json ? "null" : "-", t->f);
}

void
mm_table_json_int(struct mm_table *t, const char *key, long long v)
{
	if (t->json)
		mm_table_int(t, key, v);
}

void
mm_table_end_row(struct mm_table *t)
{
	fputs(t->json ? "}" : "\n", t->f);
}

void
mm_table_close(struct mm_table *t)
{
	end_array(t);
	if (t->json)
		fputs("}\n", t->f);
}

int
mm_table_format(const char *name)
{
	if (strcmp(name, "tsv") == 0)
		return 0;
	if (strcmp(name, "json") == 0)
		return 1;
	return -1;
}
