/* embed/lsa_fit: fitting an LSA model on a corpus.
 * The corpus becomes a sparse TF-IDF matrix X (chunks x terms; sublinear tf, smooth idf, rows
 * L2-normalised). Its top right singular vectors come from a randomized SVD (Halko et al.):
 * Y = X^T Omega for a Gaussian Omega, two power iterations with re-orthonormalisation (QR
 * through LAPACK), then the small eigenproblem of (XQ)^T (XQ). The sparse products
 * are row-parallel gathers over CSR (X) and CSC (X^T) copies, spread over a few threads. */
#include "embed/lsa_internal.h"
#include "core/util.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LSA_MAX_VOCAB 60000
#define LSA_OVERSAMPLE 10
#define LSA_POWER_ITERS 2
/* Each output dimension is weighted by (sigma_d / sigma_0)^-LSA_ALPHA before the final
 * normalisation: 0 is classic LSA (U Sigma), 1 fully whitened. Chosen on TAT-QA dev recall. */
#define LSA_ALPHA 0.5

/* LAPACK (Fortran ABI: hidden string lengths after the arguments). */
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work, const int *lwork, int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau, float *work,
             const int *lwork, int *info);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);

struct rg_lsa_builder {
    lsa_dict dict;
    int32_t *term; int32_t *count;   /* per document: sorted unique term ids and their counts */
    int64_t nnz, cap;
    int64_t *rowptr; int64_t nrows, rowcap;
    int32_t *tmp; int ntmp, tmpcap;  /* the current text's term ids */
};

rg_lsa_builder *rg_lsa_builder_new(void) {
    rg_lsa_builder *b = xcalloc(1, sizeof *b);
    lsa_dict_init(&b->dict);
    b->rowcap = 1024;
    b->rowptr = xmalloc((size_t)b->rowcap * sizeof *b->rowptr);
    b->rowptr[0] = 0;
    return b;
}

void rg_lsa_builder_free(rg_lsa_builder *b) {
    if (!b) return;
    lsa_dict_free(&b->dict);
    free(b->term); free(b->count); free(b->rowptr); free(b->tmp);
    free(b);
}

int64_t rg_lsa_builder_count(const rg_lsa_builder *b) { return b->nrows; }

static void add_term(const char *t, int len, void *p) {
    rg_lsa_builder *b = p;
    if (b->dict.n >= LSA_MAX_TERMS * 2u && lsa_dict_find(&b->dict, t, len) < 0) return;  /* bound memory */
    int32_t id = lsa_dict_add(&b->dict, t, len);
    if (id < 0) return;
    if (b->ntmp == b->tmpcap) { b->tmpcap = b->tmpcap ? b->tmpcap * 2 : 256; b->tmp = xrealloc(b->tmp, (size_t)b->tmpcap * sizeof *b->tmp); }
    b->tmp[b->ntmp++] = id;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void rg_lsa_builder_add(rg_lsa_builder *b, const char *text) {
    b->ntmp = 0;
    rg_lsa_tokens(text, add_term, b);
    if (b->ntmp > 1) qsort(b->tmp, (size_t)b->ntmp, sizeof *b->tmp, cmp_i32);
    if (b->nnz + b->ntmp > b->cap) {
        b->cap = (b->cap ? b->cap * 2 : 65536) + b->ntmp;
        b->term = xrealloc(b->term, (size_t)b->cap * sizeof *b->term);
        b->count = xrealloc(b->count, (size_t)b->cap * sizeof *b->count);
    }
    for (int i = 0; i < b->ntmp;) {
        int j = i;
        while (j < b->ntmp && b->tmp[j] == b->tmp[i]) j++;
        b->term[b->nnz] = b->tmp[i];
        b->count[b->nnz++] = j - i;
        i = j;
    }
    if (b->nrows + 2 > b->rowcap) { b->rowcap *= 2; b->rowptr = xrealloc(b->rowptr, (size_t)b->rowcap * sizeof *b->rowptr); }
    b->rowptr[++b->nrows] = b->nnz;
}

/* ---- sparse x dense, row-parallel ---- */

typedef struct {
    const int64_t *ptr; const int32_t *idx; const float *val;
    const float *in; float *out; int l;
    int64_t r0, r1;
} gather_job;

static void *gather_run(void *p) {
    gather_job *g = p;
    int l = g->l;
    for (int64_t r = g->r0; r < g->r1; r++) {
        float *o = g->out + (size_t)r * (size_t)l;
        memset(o, 0, (size_t)l * sizeof *o);
        for (int64_t q = g->ptr[r]; q < g->ptr[r + 1]; q++) {
            const float *x = g->in + (size_t)g->idx[q] * (size_t)l;
            float v = g->val[q];
            for (int c = 0; c < l; c++) o[c] += v * x[c];
        }
    }
    return NULL;
}

/* out (rows x l) = S (rows x *, compressed rows ptr/idx/val) * in (* x l). */
static void gather(int64_t rows, const int64_t *ptr, const int32_t *idx, const float *val,
                   const float *in, float *out, int l) {
    long nt = sysconf(_SC_NPROCESSORS_ONLN);
    if (nt < 1) nt = 1;
    if (nt > 8) nt = 8;
    if (rows < 1024) nt = 1;
    gather_job jobs[8];
    pthread_t th[8];
    int started[8] = {0};
    for (long t = 0; t < nt; t++) {
        jobs[t] = (gather_job){ptr, idx, val, in, out, l, rows * t / nt, rows * (t + 1) / nt};
        if (t > 0) started[t] = pthread_create(&th[t], NULL, gather_run, &jobs[t]) == 0;
    }
    gather_run(&jobs[0]);
    for (long t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else gather_run(&jobs[t]);   /* no thread: do its share here */
    }
}

/* Orthonormalises the l columns of A (rows x l, row-major; rows >= l) in place: a copy in
 * column-major order, Householder QR (sgeqrf, blocked, contiguous columns), Q formed by sorgqr,
 * copied back. */
static int orth(float *a, int rows, int l) {
    int info = 0, lwork = -1, k = l;
    float wq = 0, wq2 = 0;
    float *c = xmalloc((size_t)rows * (size_t)l * sizeof *c);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < l; j++) c[(size_t)j * (size_t)rows + (size_t)r] = a[(size_t)r * (size_t)l + (size_t)j];
    float *tau = xmalloc((size_t)l * sizeof *tau);
    sgeqrf_(&rows, &l, c, &rows, tau, &wq, &lwork, &info);
    if (info == 0) sorgqr_(&rows, &l, &k, c, &rows, tau, &wq2, &lwork, &info);
    lwork = (int)(wq > wq2 ? wq : wq2) + 1;
    float *work = xmalloc((size_t)lwork * sizeof *work);
    if (info == 0) sgeqrf_(&rows, &l, c, &rows, tau, work, &lwork, &info);
    if (info == 0) sorgqr_(&rows, &l, &k, c, &rows, tau, work, &lwork, &info);
    if (info == 0)
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < l; j++) a[(size_t)r * (size_t)l + (size_t)j] = c[(size_t)j * (size_t)rows + (size_t)r];
    free(tau); free(work); free(c);
    if (info != 0) { rg_err("LSA fit: LAPACK orthonormalisation failed (info %d)", info); return -1; }
    return 0;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void gaussian_fill(float *x, size_t n, uint64_t seed) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = ((double)(splitmix(&s) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (double)(splitmix(&s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1));
        x[i] = (float)(r * cos(2 * M_PI * u2));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(2 * M_PI * u2));
    }
}

typedef struct { int32_t id, df; } df_entry;
static int cmp_df(const void *a, const void *b) {
    const df_entry *x = a, *y = b;
    if (x->df != y->df) return x->df > y->df ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}
static int cmp_id(const void *a, const void *b) {
    const df_entry *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

rg_lsa_model *rg_lsa_fit(rg_lsa_builder *b, int dim, uint64_t seed) {
    int64_t n = b->nrows;
    uint32_t v0 = b->dict.n;
    if (dim < 1 || dim > 4096) { rg_err("LSA fit: bad dimension %d", dim); return NULL; }
    if (n < 1 || v0 < 1) { rg_err("LSA fit: the corpus has no words to fit on"); return NULL; }

    /* Vocabulary: words in at least 2 chunks (any word for tiny corpora), the most common
     * LSA_MAX_VOCAB of them. */
    int32_t *df = xcalloc(v0, sizeof *df);
    for (int64_t q = 0; q < b->nnz; q++) df[b->term[q]]++;
    int min_df = n >= 50 ? 2 : 1;
    df_entry *cand = xmalloc(v0 * sizeof *cand);
    int nc = 0;
    for (uint32_t t = 0; t < v0; t++) if (df[t] >= min_df) cand[nc++] = (df_entry){(int32_t)t, df[t]};
    if (nc > LSA_MAX_VOCAB) {
        qsort(cand, (size_t)nc, sizeof *cand, cmp_df);
        nc = LSA_MAX_VOCAB;
        qsort(cand, (size_t)nc, sizeof *cand, cmp_id);
    }
    if (nc == 0) { free(df); free(cand); rg_err("LSA fit: no word occurs often enough to fit on"); return NULL; }
    int V = nc;
    int l = dim + LSA_OVERSAMPLE;
    if ((int64_t)l > n) l = (int)n;
    if (l > V) l = V;
    int k = dim < l ? dim : l;

    rg_lsa_model *m = lsa_model_alloc(dim, V);
    m->fit_chunks = n;
    int32_t *remap = xmalloc(v0 * sizeof *remap);
    memset(remap, 0xff, v0 * sizeof *remap);
    for (int i = 0; i < V; i++) {
        int32_t t = cand[i].id;
        remap[t] = lsa_dict_add(&m->dict, lsa_dict_term(&b->dict, t), b->dict.len[t]);
        m->idf[remap[t]] = (float)(log((1.0 + (double)n) / (1.0 + cand[i].df)) + 1.0);
    }
    free(cand); free(df);

    /* X in CSR with TF-IDF rows, and its transpose in CSC form. */
    int64_t *rp = xmalloc((size_t)(n + 1) * sizeof *rp);
    int32_t *ci = xmalloc((size_t)b->nnz * sizeof *ci + 1);
    float *cv = xmalloc((size_t)b->nnz * sizeof *cv + 1);
    int64_t nnz = 0;
    rp[0] = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t s0 = nnz;
        double norm = 0;
        for (int64_t q = b->rowptr[r]; q < b->rowptr[r + 1]; q++) {
            int32_t t = remap[b->term[q]];
            if (t < 0) continue;
            float x = (1.0f + logf((float)b->count[q])) * m->idf[t];
            ci[nnz] = t; cv[nnz++] = x;
            norm += (double)x * x;
        }
        if (norm > 0) for (int64_t q = s0; q < nnz; q++) cv[q] = (float)(cv[q] / sqrt(norm));
        rp[r + 1] = nnz;
    }
    free(remap);
    int64_t *cp = xcalloc((size_t)V + 1, sizeof *cp);
    for (int64_t q = 0; q < nnz; q++) cp[ci[q] + 1]++;
    for (int t = 0; t < V; t++) cp[t + 1] += cp[t];
    int32_t *ri = xmalloc((size_t)nnz * sizeof *ri + 1);
    float *rv = xmalloc((size_t)nnz * sizeof *rv + 1);
    int64_t *fill = xmalloc((size_t)V * sizeof *fill);
    memcpy(fill, cp, (size_t)V * sizeof *fill);
    for (int64_t r = 0; r < n; r++)
        for (int64_t q = rp[r]; q < rp[r + 1]; q++) { int64_t at = fill[ci[q]]++; ri[at] = (int32_t)r; rv[at] = cv[q]; }
    free(fill);

    /* Small problems: OpenBLAS's threads cost more than they save (and spin on a busy box). */
    int blas_threads = openblas_get_num_threads();
    if (n < 20000) openblas_set_num_threads(1);

    /* Range finder for the row space of X. */
    float *Z = xmalloc((size_t)n * (size_t)l * sizeof *Z);   /* n x l */
    float *Y = xmalloc((size_t)V * (size_t)l * sizeof *Y);   /* V x l */
    gaussian_fill(Z, (size_t)n * (size_t)l, seed ^ 0x5eed1e55ULL);
    gather(V, cp, ri, rv, Z, Y, l);
    int ok = orth(Y, V, l) == 0;
    for (int it = 0; ok && it < LSA_POWER_ITERS; it++) {
        gather(n, rp, ci, cv, Y, Z, l);
        ok = orth(Z, (int)n, l) == 0;
        if (!ok) break;
        gather(V, cp, ri, rv, Z, Y, l);
        ok = orth(Y, V, l) == 0;
    }
    double *G = NULL, *ev = NULL;
    if (ok) {
        /* B = X Q; the eigenvectors W of B^T B rotate Q onto the right singular vectors. */
        gather(n, rp, ci, cv, Y, Z, l);
        float *Gf = xmalloc((size_t)l * (size_t)l * sizeof *Gf);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l, l, (int)n, 1.0f, Z, l, Z, l, 0.0f, Gf, l);
        G = xmalloc((size_t)l * (size_t)l * sizeof *G);
        for (size_t i = 0; i < (size_t)l * (size_t)l; i++) G[i] = Gf[i];
        free(Gf);
        ev = xmalloc((size_t)l * sizeof *ev);
        int info = 0, lwork = -1, liwork = -1, iwq = 0;
        double wq = 0;
        dsyevd_("V", "U", &l, G, &l, ev, &wq, &lwork, &iwq, &liwork, &info, 1, 1);
        lwork = (int)wq + 1; liwork = iwq + 1;
        double *work = xmalloc((size_t)lwork * sizeof *work);
        int *iwork = xmalloc((size_t)liwork * sizeof *iwork);
        if (info == 0) dsyevd_("V", "U", &l, G, &l, ev, work, &lwork, iwork, &liwork, &info, 1, 1);
        free(work); free(iwork);
        if (info != 0) { rg_err("LSA fit: eigen decomposition failed (info %d)", info); ok = 0; }
    }
    if (ok) {
        /* Eigenvalues come ascending; column j of the column-major G is eigenvector j. */
        float *Wk = xcalloc((size_t)l * (size_t)k, sizeof *Wk);
        for (int c = 0; c < k; c++)
            for (int i = 0; i < l; i++) Wk[(size_t)i * (size_t)k + (size_t)c] = (float)G[(size_t)i + (size_t)l * (size_t)(l - 1 - c)];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, V, k, l, 1.0f, Y, l, Wk, k, 0.0f, m->comp, dim);
        free(Wk);
        double s0 = sqrt(ev[l - 1] > 0 ? ev[l - 1] : 0);
        m->rank = 0;
        for (int c = 0; c < k; c++) {
            double sc = sqrt(ev[l - 1 - c] > 0 ? ev[l - 1 - c] : 0);
            if (s0 <= 0 || sc <= 1e-4 * s0) break;
            m->scale[c] = (float)pow(sc / s0, -LSA_ALPHA);
            m->rank = c + 1;
        }
        /* Dimensions past the rank carry noise: zero them in the file too. */
        for (int t = 0; t < V; t++)
            for (int c = m->rank; c < dim; c++) m->comp[(size_t)t * (size_t)dim + (size_t)c] = 0;
        if (m->rank == 0) { rg_err("LSA fit: the corpus matrix is zero"); ok = 0; }
    }
    openblas_set_num_threads(blas_threads);
    free(G); free(ev); free(Z); free(Y);
    free(rp); free(ci); free(cv); free(cp); free(ri); free(rv);
    if (!ok) { rg_lsa_model_unref(m); return NULL; }
    return m;
}
