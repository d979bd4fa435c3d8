/* index/vectors: the FAISS side of the store, through FAISS's C API.
 * An id-carrying inner-product index (IndexIDMap2 over Flat, IVF-Flat or IVF-PQ), so a vector's id is its chunk id. Saved with
 * write-to-temp, fsync, rename. The SQLite store is the source of truth; this index is
 * reconciled against it on open (see store.c). Not thread-safe for writes; concurrent
 * searches on an unchanging index are safe. */
#ifndef RAGD_INDEX_VECTORS_H
#define RAGD_INDEX_VECTORS_H
#include <stdint.h>

typedef struct rg_vectors rg_vectors;

/* description: a FAISS index_factory string for the inner index, e.g. "Flat". A Flat index
 * that has grown past 50k vectors is rebuilt as IVF (exact vectors, nprobe lists scanned) when
 * it is next saved, as IVF-PQ (compressed codes, approximate scores) past 2M
 * ($RAGD_VEC_PQ_THRESHOLD); an IVF index keeps its ids itself, so removal stays exact. */
rg_vectors *rg_vectors_new(int dim, const char *description);
rg_vectors *rg_vectors_load(const char *path, int dim);   /* NULL + rg_err on failure */
int rg_vectors_save(rg_vectors *v, const char *path);
void rg_vectors_free(rg_vectors *v);

int rg_vectors_add(rg_vectors *v, int64_t n, const float *x, const int64_t *ids);
int rg_vectors_remove(rg_vectors *v, int64_t n, const int64_t *ids);  /* returns count removed or -1 */
/* Top-k by inner product. ids[i] is -1 past the end of results. */
int rg_vectors_search(const rg_vectors *v, const float *q, int k, float *scores, int64_t *ids);
int64_t rg_vectors_count(const rg_vectors *v);
int rg_vectors_dim(const rg_vectors *v);
/* "flat" (exact), "ivf-flat" (approximate search, exact scores; past 50k vectors) or "ivf-pq"
 * (approximate scores too; past 2M). */
const char *rg_vectors_kind(const rg_vectors *v);
/* 1 when search scores are approximate (IVF-PQ): callers re-score candidates exactly. */
int rg_vectors_approximate(const rg_vectors *v);
/* The ids present (unordered); *n set. Caller frees. */
int64_t *rg_vectors_ids(rg_vectors *v, int64_t *n);
#endif
