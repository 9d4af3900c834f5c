/* util-ref.c - reader of the text fixtures of tests/ref (util-ref.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util-ref.h"

struct ref_entry {
	char name[64];
	int n;
	double *v;
};
static struct ref_entry *ents;
static int nent;

void
ref_free(void)
{
	int i;

	for (i = 0; i < nent; i++)
		free(ents[i].v);
	free(ents);
	ents = NULL;
	nent = 0;
}

int
ref_load(const char *file)
{
	const char *top = getenv("MMIB_TOP");
	char path[4096];
	FILE *f;
	int n, i;
	char name[64];

	snprintf(path, sizeof(path), "%s/tests/ref/%s", top ? top : ".", file);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fscanf(f, "%63s %d", name, &n) == 2 && n > 0) {
		struct ref_entry *e;

		ents = realloc(ents, (nent + 1) * sizeof(*ents));
		e = &ents[nent++];
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->n = n;
		e->v = malloc(n * sizeof(double));
		for (i = 0; i < n; i++)
			if (fscanf(f, "%lf", &e->v[i]) != 1) {
				fclose(f);
				return -1;
			}
	}
	fclose(f);
	return nent > 0 ? 0 : -1;
}

const double *
ref_get(const char *name, int *n)
{
	int i;

	for (i = 0; i < nent; i++)
		if (strcmp(ents[i].name, name) == 0) {
			if (n)
				*n = ents[i].n;
			return ents[i].v;
		}
	return NULL;
}

int
ref_floats(const char *name, float *out, int n)
{
	int m, i;
	const double *v = ref_get(name, &m);

	if (!v || m != n)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (float)v[i];
	return 0;
}
