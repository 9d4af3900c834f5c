/*
 * align-suite.c - the alignment suite (see align.h): the metrics chosen
 * by name, evaluated once on the input pairing and, with P > 0, on P row
 * permutations of B for their null.
 *
 * A permutation of B's rows changes only the pairing, so every metric
 * keeps what depends on one side alone: CKA its column means,
 * denominators and kernel diagonals (one Gram matrix Ac^T B'c per
 * permutation at most, mostly a small block of the product of their
 * principal components, mm_align_cka_null_ge(), for the p-value; CKA's
 * null mean and sd are the exact moments over all permutations,
 * mm_align_cka_null_moments()), SVCCA its two bases (U1^T P U2, O(N dim^2)), the kNN
 * metrics the neighbour lists (mapped, O(N k)), CKNNA the lists and the
 * kernel values of the listed pairs (O(N k^2)), recall each row's k best
 * rows of the other side (two cross searches once, then O(N k)).  Cosine
 * and gap take the permuted rows (O(N D)); RBF CKA is evaluated afresh.
 * Exact ties at the k-th place keep B's order where a fresh evaluation
 * would take B''s (mm_align_perm_lists()).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "err.h"
#include "rng.h"

static const struct {
	const char *name;
	int bit;
} metrics[] = {
	{ "cka", MM_ALIGN_CKA }, { "cka_unbiased", MM_ALIGN_UCKA },
	{ "cka_rbf", MM_ALIGN_RBF }, { "svcca", MM_ALIGN_SVCCA },
	{ "cosine", MM_ALIGN_COS }, { "gap", MM_ALIGN_GAP },
	{ "mutual_knn", MM_ALIGN_MKNN }, { "cycle_knn", MM_ALIGN_CYCLE },
	{ "cknna", MM_ALIGN_CKNNA }, { "recall", MM_ALIGN_RECALL },
};
#define NMETRIC (int)(sizeof metrics / sizeof metrics[0])

int
mm_align_metric(const char *name)
{
	int i;

	for (i = 0; i < NMETRIC; i++)
		if (strcmp(name, metrics[i].name) == 0)
			return metrics[i].bit;
	return 0;
}

const char *
mm_align_metric_names(void)
{
	return "cka, cka_unbiased, cka_rbf, svcca, cosine, gap, mutual_knn, "
	    "cycle_knn, cknna, recall";
}

/* What the evaluations share: the prepared metrics and the scratch. */
struct prep {
	struct mm_align_cka_parts cka;
	struct mm_align_cka_null cn;
	double obs[2];		/* CKA, unbiased CKA observed */
	struct mm_align_svcca_bases sv;
	int kmax, same, has_cka, has_null, has_sv;
	int32_t *nnA, *nnB;	/* (N, kmax) */
	int32_t *ta, *tb;	/* (N, kmax) retrieval lists A->B, B->A */
	double *ka, *lb;	/* (N, kmax) CKNNA's kernel values */
	/* per permutation: B's lists and values mapped, B's rows */
	int32_t *inv, *nnP;
	double *lbP;
	float *Bp;
	/* the lists and values at one k */
	int32_t *la, *lk;
	double *kak, *lbk;
};

static void
put(struct mm_align_suite *s, double *v, const char *name, int k, double x)
{
	s->name[s->n] = name;
	s->k[s->n] = k;
	v[s->n++] = x;
}

/* The rows of one evaluation into v: the input's pairing (perm NULL) or
 * B's rows in the order perm. */
static int
evaluate(struct mm_align_suite *s, struct prep *p, const int32_t *perm,
    double *v)
{
	const float *B = perm && p->Bp ? p->Bp : s->B;
	const int32_t *nnB = perm ? p->nnP : p->nnB;
	const double *lb = perm ? p->lbP : p->lb;
	double a, b, ab[MM_ALIGN_MAXK], ba[MM_ALIGN_MAXK];
	int64_t N = s->N, i;
	int sel = s->sel, t, rc;

	s->n = 0;
	if (perm && p->Bp)
		mm_align_perm_rows(s->B, N, s->Db, perm, p->Bp);
	if (perm && p->nnP) {
		mm_align_perm_lists(p->nnB, N, p->kmax, perm, p->inv, p->nnP);
		if (p->lbP)
			for (i = 0; i < N; i++)
				memcpy(p->lbP + i * p->kmax, p->lb +
				    (int64_t)perm[i] * p->kmax,
				    sizeof(double) * p->kmax);
	}
	if ((sel & (MM_ALIGN_CKA | MM_ALIGN_UCKA)) && perm && p->has_null) {
		/* the null's rows of CKA hold decisions, 1 where the
		 * permutation's value reaches the observed one */
		int ge, uge;
		if ((rc = mm_align_cka_null_ge(&p->cn, &p->cka, perm,
		    s->threads, &ge, &uge)) < 0)
			return rc;
		if (sel & MM_ALIGN_CKA)
			put(s, v, "cka", 0, ge);
		if (sel & MM_ALIGN_UCKA)
			put(s, v, "cka_unbiased", 0, uge);
	} else if (sel & (MM_ALIGN_CKA | MM_ALIGN_UCKA)) {
		if ((rc = p->has_cka ? mm_align_cka_eval(&p->cka, perm,
		    s->threads, &a, &b) : mm_align_cka(s->A, s->Da, B, s->Db,
		    N, s->threads, &a, &b)) < 0)
			return rc;
		p->obs[0] = a;
		p->obs[1] = b;
		if (sel & MM_ALIGN_CKA)
			put(s, v, "cka", 0, a);
		if (sel & MM_ALIGN_UCKA)
			put(s, v, "cka_unbiased", 0, b);
	}
	if (sel & MM_ALIGN_RBF) {
		a = NAN;
		if (s->ga < INFINITY && s->gb < INFINITY &&
		    (rc = mm_align_cka_rbf(s->A, s->Da, B, s->Db, N, s->ga,
		    s->gb, s->threads, &a)) < 0)
			return rc;
		put(s, v, "cka_rbf", 0, a);
	}
	if (sel & MM_ALIGN_SVCCA) {
		if ((rc = mm_align_svcca_eval(&p->sv, perm, &a)) < 0)
			return rc;
		put(s, v, "svcca", 0, a);
	}
	if (p->same && (sel & (MM_ALIGN_COS | MM_ALIGN_GAP))) {
		if ((rc = mm_align_paired(s->A, B, N, s->Da, &a, &b)) < 0)
			return rc;
		if (sel & MM_ALIGN_COS)
			put(s, v, "cosine", 0, a);
		if (sel & MM_ALIGN_GAP)
			put(s, v, "gap", 0, b);
	}
	if (p->same && (sel & MM_ALIGN_RECALL) && perm && p->ta) {
		/* A_i's partner B'_i = B_perm[i] in A_i's list; B'_i's list
		 * is B_perm[i]'s, its partner A_i */
		for (t = 0; t < s->nk; t++) {
			int64_t ha = 0, hb = 0;
			int k = s->ks[t], u;
			for (i = 0; i < N; i++)
				for (u = 0; u < k; u++) {
					ha += p->ta[i * p->kmax + u] == perm[i];
					hb += p->tb[(int64_t)perm[i] * p->kmax +
					    u] == i;
				}
			ab[t] = (double)ha / (double)N;
			ba[t] = (double)hb / (double)N;
		}
	} else if (p->same && (sel & MM_ALIGN_RECALL) &&
	    (rc = mm_align_recall(s->A, B, N, s->Da, s->ks, s->nk, s->threads,
	    ab, ba)) < 0)
		return rc;
	for (t = 0; t < s->nk; t++) {
		int k = s->ks[t], K = p->kmax;
		if (sel & MM_ALIGN_KNNS)
			for (i = 0; i < N; i++) {
				memcpy(p->la + i * k, p->nnA + i * K,
				    sizeof(int32_t) * k);
				memcpy(p->lk + i * k, nnB + i * K,
				    sizeof(int32_t) * k);
				if (p->ka) {
					memcpy(p->kak + i * k, p->ka + i * K,
					    sizeof(double) * k);
					memcpy(p->lbk + i * k, lb + i * K,
					    sizeof(double) * k);
				}
			}
		if (sel & MM_ALIGN_MKNN)
			put(s, v, "mutual_knn", k,
			    mm_align_mutual_knn(p->la, p->lk, N, k));
		if (sel & MM_ALIGN_CYCLE)
			put(s, v, "cycle_knn", k,
			    mm_align_cycle_knn(p->la, p->lk, N, k));
		if ((sel & MM_ALIGN_CKNNA) && k >= 2) {
			if ((rc = mm_align_cknna_hsic(N, p->la, p->lk, k,
			    p->kak, p->lbk, &a)) < 0)
				return rc;
			put(s, v, "cknna", k, a);
		}
		if (p->same && (sel & MM_ALIGN_RECALL)) {
			put(s, v, "recall_img2fac", k, ab[t]);
			put(s, v, "recall_fac2img", k, ba[t]);
		}
	}
	return 0;
}

static void
prep_free(struct prep *p)
{
	if (p->has_cka)
		mm_align_cka_free(&p->cka);
	if (p->has_null)
		mm_align_cka_null_free(&p->cn);
	if (p->has_sv)
		mm_align_svcca_free(&p->sv);
	free(p->nnA);
	free(p->nnB);
	free(p->ta);
	free(p->tb);
	free(p->ka);
	free(p->lb);
	free(p->inv);
	free(p->nnP);
	free(p->lbP);
	free(p->Bp);
	free(p->la);
	free(p->lk);
	free(p->kak);
	free(p->lbk);
}

int
mm_align_suite_run(struct mm_align_suite *s)
{
	struct prep p;
	struct mm_rng rng;
	int64_t N = s->N, nb;
	int32_t *perm = NULL;
	double *nul = NULL, *v = NULL, cm[2], cs[2];
	int sel = s->sel, t, r, rc = 0, oom = 0;

	memset(&p, 0, sizeof p);
	s->n = 0;
	if (s->nk < 1 || s->nk > MM_ALIGN_MAXK)
		return mm_err(MM_EINVAL, "alignment: %d neighbourhood sizes "
		    "(1 to %d)", s->nk, MM_ALIGN_MAXK);
	for (t = 0; t < s->nk; t++) {
		if (s->ks[t] < 1 || s->ks[t] >= N)
			return mm_err(MM_EINVAL, "alignment: k = %d needs 1 <= "
			    "k < N = %lld", s->ks[t], (long long)N);
		if (s->ks[t] > p.kmax)
			p.kmax = s->ks[t];
	}
	p.same = s->Da == s->Db;
	/* what one side alone decides, once */
	if ((sel & (MM_ALIGN_CKA | MM_ALIGN_UCKA)) && s->P > 0) {
		if ((rc = mm_align_cka_parts(&p.cka, s->A, s->Da, s->B, s->Db,
		    N, s->threads, 1)) < 0)
			goto done;
		p.has_cka = 1;
	}
	if (sel & MM_ALIGN_SVCCA) {
		if ((rc = mm_align_svcca_bases(&p.sv, s->A, s->Da, s->B, s->Db,
		    N, s->svdim, s->threads)) < 0)
			goto done;
		p.has_sv = 1;
	}
	if (sel & MM_ALIGN_KNNS) {
		/* the lists once, at the largest k: those at a smaller k are
		 * their prefixes */
		nb = N * p.kmax;
		oom |= !(p.nnA = malloc(sizeof(int32_t) * nb));
		oom |= !(p.nnB = malloc(sizeof(int32_t) * nb));
		oom |= !(p.la = malloc(sizeof(int32_t) * nb));
		oom |= !(p.lk = malloc(sizeof(int32_t) * nb));
		if ((sel & MM_ALIGN_CKNNA) && p.kmax >= 2) {
			oom |= !(p.ka = malloc(sizeof(double) * nb));
			oom |= !(p.lb = malloc(sizeof(double) * nb));
			oom |= !(p.kak = malloc(sizeof(double) * nb));
			oom |= !(p.lbk = malloc(sizeof(double) * nb));
		}
		if (oom) {
			rc = mm_err(MM_ENOMEM, "alignment: out of memory");
			goto done;
		}
		if ((rc = mm_align_knn(s->A, N, s->Da, p.kmax, s->threads,
		    p.nnA)) < 0 || (rc = mm_align_knn(s->B, N, s->Db, p.kmax,
		    s->threads, p.nnB)) < 0)
			goto done;
		if (p.ka && (rc = mm_align_cknna_values(s->A, s->Da, s->B,
		    s->Db, N, p.nnA, p.nnB, p.kmax, s->threads, p.ka,
		    p.lb)) < 0)
			goto done;
	}
	if ((rc = evaluate(s, &p, NULL, s->value)) < 0 || s->P < 1)
		goto done;

	/* the null: P permutations of B's rows, drawn from the seed alone */
	oom |= !(nul = malloc(sizeof(double) * MM_ALIGN_MAXROW * s->P));
	oom |= !(v = malloc(sizeof(double) * s->P));
	oom |= !(perm = malloc(sizeof(int32_t) * N));
	oom |= !(p.inv = malloc(sizeof(int32_t) * N));
	if (p.same && (sel & MM_ALIGN_RECALL)) {
		/* the retrieval lists once: a permutation maps them */
		oom |= !(p.ta = malloc(sizeof(int32_t) * N * p.kmax));
		oom |= !(p.tb = malloc(sizeof(int32_t) * N * p.kmax));
		if (!oom && ((rc = mm_align_knn_cross(s->A, s->B, N, s->Da,
		    p.kmax, s->threads, p.ta)) < 0 ||
		    (rc = mm_align_knn_cross(s->B, s->A, N, s->Da, p.kmax,
		    s->threads, p.tb)) < 0))
			goto done;
	}
	if ((sel & (MM_ALIGN_RBF | MM_ALIGN_COS | MM_ALIGN_GAP)) ||
	    (!p.has_cka && (sel & (MM_ALIGN_CKA | MM_ALIGN_UCKA))))
		oom |= !(p.Bp = malloc(sizeof(float) * N * s->Db));
	if (sel & MM_ALIGN_KNNS)
		oom |= !(p.nnP = malloc(sizeof(int32_t) * N * p.kmax));
	if (p.lb)
		oom |= !(p.lbP = malloc(sizeof(double) * N * p.kmax));
	if (oom) {
		rc = mm_err(MM_ENOMEM, "alignment: out of memory");
		goto done;
	}
	if (p.has_cka) {
		if ((rc = mm_align_cka_null_init(&p.cn, &p.cka, p.obs[0],
		    p.obs[1], s->threads)) < 0)
			goto done;
		p.has_null = 1;
	}
	mm_rng_seed(&rng, s->seed);
	for (r = 0; r < s->P; r++) {
		mm_align_perm(&rng, N, perm, p.inv);
		if ((rc = evaluate(s, &p, perm, nul + (int64_t)r *
		    MM_ALIGN_MAXROW)) < 0)
			goto done;
	}
	if (p.has_null)
		mm_align_cka_null_moments(&p.cka, &cm[0], &cs[0], &cm[1],
		    &cs[1]);
	for (t = 0; t < s->n; t++) {
		struct mm_align_null *z = s->null + t;
		int u = strcmp(s->name[t], "cka") == 0 ? 0 :
		    strcmp(s->name[t], "cka_unbiased") == 0 ? 1 : -1;
		for (r = 0; r < s->P; r++)
			v[r] = nul[(int64_t)r * MM_ALIGN_MAXROW + t];
		mm_align_null_summary(s->value[t], v, s->P, z);
		if (p.has_null && u >= 0) {
			/* CKA: the sample's decisions give the p-value,
			 * the exact moments over all permutations the mean
			 * and sd */
			int ge = 0;
			for (r = 0; r < s->P; r++)
				ge += v[r] > 0.5;
			z->mean = cm[u];
			z->sd = cs[u];
			z->p = isnan(s->value[t]) || isnan(cm[u]) ? NAN :
			    (1.0 + ge) / (1.0 + s->P);
			z->calibrated = s->value[t] - cm[u];
		}
	}
done:
	prep_free(&p);
	free(perm);
	free(nul);
	free(v);
	return rc;
}
