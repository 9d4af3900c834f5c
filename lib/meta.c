/* meta.c - key=value metadata records. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "meta.h"
#include "num.h"

void
mm_meta_init(struct mm_meta *m)
{
	memset(m, 0, sizeof *m);
}

void
mm_meta_clear(struct mm_meta *m)
{
	int i;

	for (i = 0; i < m->n; i++) {
		free(m->key[i]);
		free(m->val[i]);
	}
	m->n = 0;
}

void
mm_meta_free(struct mm_meta *m)
{
	mm_meta_clear(m);
	free(m->key);
	free(m->val);
	mm_meta_init(m);
}

static int
key_ok(const char *k, size_t n)
{
	size_t i;

	if (n == 0 || n > 128)
		return 0;
	for (i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int
set_n(struct mm_meta *m, const char *key, size_t kn, const char *val,
    size_t vn)
{
	int i;
	char *v, **nk, **nv;

	if (!key_ok(key, kn))
		return mm_err(MM_EFORMAT, "metadata: bad key '%.*s'",
		    (int)(kn > 40 ? 40 : kn), key);
	if (memchr(val, '\n', vn))
		return mm_err(MM_EFORMAT, "metadata: value of '%.*s' has a "
		    "newline", (int)kn, key);
	if ((v = strndup(val, vn)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	for (i = 0; i < m->n; i++)
		if (strlen(m->key[i]) == kn && memcmp(m->key[i], key, kn) == 0) {
			free(m->val[i]);
			m->val[i] = v;
			return 0;
		}
	if (m->n == m->cap) {
		int cap = m->cap ? 2 * m->cap : 16;
		nk = realloc(m->key, cap * sizeof *nk);
		if (nk)
			m->key = nk;
		nv = realloc(m->val, cap * sizeof *nv);
		if (nv)
			m->val = nv;
		if (!nk || !nv) {
			free(v);
			return mm_err(MM_ENOMEM, "out of memory");
		}
		m->cap = cap;
	}
	if ((m->key[m->n] = strndup(key, kn)) == NULL) {
		free(v);
		return mm_err(MM_ENOMEM, "out of memory");
	}
	m->val[m->n++] = v;
	return 0;
}

int
mm_meta_set(struct mm_meta *m, const char *key, const char *val)
{
	return set_n(m, key, strlen(key), val, strlen(val));
}

int
mm_meta_setf(struct mm_meta *m, const char *key, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf)
		return mm_err(MM_EINVAL, "metadata: value of '%s' too long", key);
	return mm_meta_set(m, key, buf);
}

const char *
mm_meta_get(const struct mm_meta *m, const char *key)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->key[i], key) == 0)
			return m->val[i];
	return NULL;
}

int
mm_meta_parse(struct mm_meta *m, const char *body, size_t len)
{
	const char *p = body, *end = body + len, *nl, *eq;
	int rc;

	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		if (nl > p) {
			eq = memchr(p, '=', nl - p);
			if (!eq)
				return mm_err(MM_EFORMAT, "metadata: line without "
				    "'=': '%.*s'", (int)(nl - p > 40 ? 40 : nl - p), p);
			if ((rc = set_n(m, p, eq - p, eq + 1, nl - eq - 1)) < 0)
				return rc;
		}
		p = nl + 1;
	}
	return 0;
}

int
mm_meta_format(const struct mm_meta *m, char **out, size_t *len)
{
	size_t n = 0, k;
	char *buf, *p;
	int i;

	for (i = 0; i < m->n; i++)
		n += strlen(m->key[i]) + strlen(m->val[i]) + 2;
	if ((buf = malloc(n + 1)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	p = buf;
	for (i = 0; i < m->n; i++) {
		k = strlen(m->key[i]);
		memcpy(p, m->key[i], k);
		p += k;
		*p++ = '=';
		k = strlen(m->val[i]);
		memcpy(p, m->val[i], k);
		p += k;
		*p++ = '\n';
	}
	*p = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int
mm_meta_copy(struct mm_meta *dst, const struct mm_meta *src)
{
	int i, rc;

	for (i = 0; i < src->n; i++)
		if ((rc = mm_meta_set(dst, src->key[i], src->val[i])) < 0)
			return rc;
	return 0;
}

/* Split a comma list into at most cap items of < 32 bytes. */
static int
split_names(const char *key, const char *s, char out[][32], int cap)
{
	int n = 0;
	const char *p = s, *c;
	size_t len;

	if (!*s)
		return 0;
	for (;;) {
		c = strchr(p, ',');
		len = c ? (size_t)(c - p) : strlen(p);
		if (n >= cap)
			return mm_err(MM_EFORMAT, "metadata: %s: more than %d "
			    "items", key, cap);
		if (len == 0 || len >= 32)
			return mm_err(MM_EFORMAT, "metadata: %s: bad item in "
			    "'%s'", key, s);
		memcpy(out[n], p, len);
		out[n++][len] = '\0';
		if (!c)
			break;
		p = c + 1;
	}
	return n;
}

int
mm_factors_find(const struct mm_factors *f, const char *name)
{
	int i;

	for (i = 0; i < f->F; i++)
		if (strcmp(f->name[i], name) == 0)
			return i;
	return -1;
}

int
mm_meta_factors(const struct mm_meta *m, struct mm_factors *f)
{
	const char *fs = mm_meta_get(m, "factors");
	const char *cs = mm_meta_get(m, "cardinalities");
	const char *es = mm_meta_get(m, "essence");
	char tmp[MM_MAXFACTORS][32];
	int i, n, k;

	memset(f, 0, sizeof *f);
	if (!fs)
		return mm_err(MM_EMISSING, "metadata has no 'factors' key");
	if (!cs)
		return mm_err(MM_EMISSING, "metadata has no 'cardinalities' key");
	if ((n = split_names("factors", fs, f->name, MM_MAXFACTORS)) < 0)
		return n;
	if (n == 0)
		return mm_err(MM_EFORMAT, "metadata: empty 'factors'");
	f->F = n;
	if ((k = split_names("cardinalities", cs, tmp, MM_MAXFACTORS)) < 0)
		return k;
	if (k != n)
		return mm_err(MM_EFORMAT, "metadata: %d factors but %d "
		    "cardinalities", n, k);
	for (i = 0; i < n; i++) {
		long v;
		if (mm_num_long(tmp[i], NULL, 1, 1000000, &v) < 0)
			return mm_err(MM_EFORMAT, "metadata: bad cardinality "
			    "'%s' for factor %s", tmp[i], f->name[i]);
		f->card[i] = (int)v;
	}
	if (es) {
		if ((k = split_names("essence", es, tmp, MM_MAXFACTORS)) < 0)
			return k;
		for (i = 0; i < k; i++) {
			int j = mm_factors_find(f, tmp[i]);
			if (j < 0)
				return mm_err(MM_EFORMAT, "metadata: essence "
				    "factor '%s' is not among the factors", tmp[i]);
			f->essence[j] = 1;
		}
	}
	return 0;
}
