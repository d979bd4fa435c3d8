/* index/vectors: see vectors.h.
 * Index types, chosen by size when the index is saved (so a rebuild or a growing index
 * switches on its own):
 *   Flat (exact), wrapped in IndexIDMap2, below RG_VEC_IVF_THRESHOLD vectors;
 *   IVF{nlist},Flat above it: k-means coarse quantizer trained on a sample, vectors stored
 *   exactly, nprobe lists scanned per query;
 *   IVF{nlist},PQ{dim/4} from RG_VEC_PQ_THRESHOLD vectors when built from a Flat (a new or
 *   rebuilt index): product-quantized codes of dim/4 bytes instead of 4*dim, trained on a
 *   sample; its scores are approximate, so the store re-scores an over-fetched candidate list
 *   with the exact vectors it keeps in SQLite (index/store_search.c).
 * The IVF indexes carry the chunk ids themselves (not through IndexIDMap2, whose remove_ids
 * renumbers only flat storage and would then map IVF hits to the wrong ids), so deletes stay
 * exact. HNSW is not used: FAISS's HNSW cannot remove vectors, and a store must forget
 * deleted and re-indexed chunks. An IVF-Flat index that grows past the PQ threshold stays
 * IVF-Flat (its vectors cannot be read back through the C API) until the index is rebuilt. */
#include "index/vectors.h"
#include "core/util.h"
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/IndexIVFFlat_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RG_VEC_IVF_THRESHOLD 50000
#define RG_VEC_PQ_THRESHOLD 2000000

struct rg_vectors {
    FaissIndex *index;   /* an IndexIDMap2 over Flat, or an IndexIVF holding the ids */
    int dim, ivf, pq;
};

/* RAGD_VEC_IVF_THRESHOLD and RAGD_VEC_PQ_THRESHOLD override the sizes at which a save
 * chooses IVF and IVF-PQ (for measuring and testing those tiers on smaller sets). */
static int64_t threshold(const char *env_name, int64_t def) {
    const char *env = getenv(env_name);
    if (env && atoll(env) > 0) return atoll(env);
    return def;
}

/* Sub-quantizers: one byte per 4 dimensions (96 for 384), else the largest divisor of dim
 * not above dim/4 (FAISS needs dim % m == 0). */
static int pq_m(int dim) {
    int m = dim / 4 > 0 ? dim / 4 : 1;
    while (m > 1 && dim % m) m--;
    return m;
}

static int faiss_fail(const char *what) {
    const char *m = faiss_get_last_error();
    rg_err("FAISS %s: %s", what, m ? m : "failed");
    return -1;
}

/* Lists scanned per query: enough that recall@10 against exact search stays >= 0.95 on
 * clustered data (measured by bench/search). */
static size_t nprobe_for(size_t nlist) {
    size_t p = nlist / 64;
    if (p < 16) p = 16;
    if (p > nlist) p = nlist;
    return p;
}

/* RAGD_IVF_NPROBE overrides the choice (for measuring the recall/latency trade-off). */
static void ivf_tune(FaissIndex *idx) {
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(idx);
    if (!ivf) return;
    size_t nlist = faiss_IndexIVF_nlist(ivf), p = nprobe_for(nlist);
    const char *env = getenv("RAGD_IVF_NPROBE");
    if (env && atol(env) > 0) p = (size_t)atol(env) < nlist ? (size_t)atol(env) : nlist;
    faiss_IndexIVF_set_nprobe(ivf, p);
}

rg_vectors *rg_vectors_new(int dim, const char *description) {
    if (dim <= 0 || dim > 65536) { rg_err("FAISS: bad dimension %d", dim); return NULL; }
    char *desc = xasprintf("IDMap2,%s", description ? description : "Flat");
    FaissIndex *idx = NULL;
    int rc = faiss_index_factory(&idx, dim, desc, METRIC_INNER_PRODUCT);
    free(desc);
    if (rc) { faiss_fail("index_factory"); return NULL; }
    rg_vectors *v = xcalloc(1, sizeof *v);
    v->index = idx;
    v->dim = dim;
    return v;
}

rg_vectors *rg_vectors_load(const char *path, int dim) {
    if (access(path, R_OK) != 0) { rg_err("%s: missing", path); return NULL; }
    FaissIndex *idx = NULL;
    if (faiss_read_index_fname(path, 0, &idx)) { faiss_fail(path); return NULL; }
    int ivf = faiss_IndexIVF_cast(idx) != NULL;
    int pq = ivf && !faiss_IndexIVFFlat_cast(idx);
    if (!ivf && !faiss_IndexIDMap2_cast(idx)) {
        faiss_Index_free(idx);
        rg_err("%s: neither an IndexIDMap2 nor an IVF index", path);
        return NULL;
    }
    if (faiss_Index_d(idx) != dim || faiss_Index_metric_type(idx) != METRIC_INNER_PRODUCT) {
        rg_err("%s: dimension %d, expected %d (inner product)", path, (int)faiss_Index_d(idx), dim);
        faiss_Index_free(idx);
        return NULL;
    }
    if (ivf) ivf_tune(idx);
    rg_vectors *v = xcalloc(1, sizeof *v);
    v->index = idx;
    v->dim = dim;
    v->ivf = ivf;
    v->pq = pq;
    return v;
}

/* Flat -> IVF once the index has grown past the threshold (IVF-PQ past the PQ one): train on
 * an evenly strided sample and move every vector over with its id. */
static int maybe_upgrade(rg_vectors *v) {
    int64_t n = rg_vectors_count(v);
    if (v->ivf || n < threshold("RAGD_VEC_IVF_THRESHOLD", RG_VEC_IVF_THRESHOLD)) return 0;
    FaissIndex *sub = faiss_IndexIDMap2_sub_index(v->index);
    FaissIndexFlat *flat = sub ? faiss_IndexFlat_cast(sub) : NULL;
    if (!flat) return 0;   /* some other inner index: leave it as it is */
    float *xb = NULL;
    size_t xsize = 0;
    faiss_IndexFlat_xb(flat, &xb, &xsize);
    int64_t nids = 0, *ids = rg_vectors_ids(v, &nids);
    if (nids != n || xsize < (size_t)n * (size_t)v->dim) { free(ids); rg_err("FAISS: flat index inconsistent"); return -1; }
    size_t nlist = (size_t)sqrt((double)n);
    if (nlist < 256) nlist = 256;
    if (nlist > 16384) nlist = 16384;
    if (nlist > (size_t)n / 39) nlist = (size_t)n / 39 > 0 ? (size_t)n / 39 : 1;   /* k-means wants 39 points a list */
    int pq = n >= threshold("RAGD_VEC_PQ_THRESHOLD", RG_VEC_PQ_THRESHOLD);
    /* "np": no polysemous training (it reorders codes for Hamming filtering, which is not
     * used here, and costs minutes) */
    char *desc = pq ? xasprintf("IVF%zu,PQ%dnp", nlist, pq_m(v->dim)) : xasprintf("IVF%zu,Flat", nlist);
    FaissIndex *idx = NULL;
    int rc = faiss_index_factory(&idx, v->dim, desc, METRIC_INNER_PRODUCT);
    free(desc);
    if (rc) { free(ids); return faiss_fail("index_factory IVF"); }
    /* 48 per list for the coarse k-means; PQ's 256 centroids per sub-quantizer want at least
     * 64k training vectors */
    int64_t ns = (int64_t)nlist * 48;
    if (pq && ns < 65536) ns = 65536;
    if (ns > n) ns = n;
    float *sample = xmalloc((size_t)ns * (size_t)v->dim * sizeof *sample);
    for (int64_t i = 0; i < ns; i++)
        memcpy(sample + (size_t)i * (size_t)v->dim, xb + (size_t)(i * n / ns) * (size_t)v->dim, (size_t)v->dim * sizeof(float));
    rc = faiss_Index_train(idx, ns, sample);
    free(sample);
    if (!rc) rc = faiss_Index_add_with_ids(idx, n, xb, (const idx_t *)ids);
    free(ids);
    if (rc) { faiss_Index_free(idx); return faiss_fail("IVF build"); }
    ivf_tune(idx);
    faiss_Index_free(v->index);
    v->index = idx;
    v->ivf = 1;
    v->pq = pq;
    return 0;
}

int rg_vectors_save(rg_vectors *v, const char *path) {
    if (maybe_upgrade(v) != 0) return -1;
    char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { rg_err("%s: cannot write", tmp); free(tmp); return -1; }
    int rc = faiss_write_index(v->index, f);
    int ok = rc == 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        if (rc) faiss_fail(tmp); else rg_err("%s: write failed", tmp);
        unlink(tmp); free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) { rg_err("%s: rename failed", path); unlink(tmp); free(tmp); return -1; }
    free(tmp);
    return 0;
}

void rg_vectors_free(rg_vectors *v) {
    if (!v) return;
    faiss_Index_free(v->index);
    free(v);
}

int rg_vectors_add(rg_vectors *v, int64_t n, const float *x, const int64_t *ids) {
    if (n <= 0) return 0;
    if (faiss_Index_add_with_ids(v->index, n, x, (const idx_t *)ids)) return faiss_fail("add");
    return 0;
}

int rg_vectors_remove(rg_vectors *v, int64_t n, const int64_t *ids) {
    if (n <= 0) return 0;
    FaissIDSelectorBatch *sel = NULL;
    if (faiss_IDSelectorBatch_new(&sel, (size_t)n, (const idx_t *)ids)) return faiss_fail("selector");
    size_t removed = 0;
    int rc = faiss_Index_remove_ids(v->index, (const FaissIDSelector *)sel, &removed);
    faiss_IDSelector_free((FaissIDSelector *)sel);
    if (rc) return faiss_fail("remove_ids");
    return (int)removed;
}

int rg_vectors_search(const rg_vectors *v, const float *q, int k, float *scores, int64_t *ids) {
    if (k <= 0) return 0;
    /* One query gains nothing from FAISS's OpenMP team, and on a busy machine waking it costs
     * tens of milliseconds: search on this thread alone (the setting is per thread). */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    int rc = faiss_Index_search(v->index, 1, q, k, scores, (idx_t *)ids);
    omp_set_num_threads(threads);
    if (rc) return faiss_fail("search");
    return 0;
}

int64_t rg_vectors_count(const rg_vectors *v) { return (int64_t)faiss_Index_ntotal(v->index); }
int rg_vectors_dim(const rg_vectors *v) { return v->dim; }

const char *rg_vectors_kind(const rg_vectors *v) { return v->pq ? "ivf-pq" : v->ivf ? "ivf-flat" : "flat"; }
int rg_vectors_approximate(const rg_vectors *v) { return v->pq; }

int64_t *rg_vectors_ids(rg_vectors *v, int64_t *n) {
    if (v->ivf) {
        FaissIndexIVF *ivf = faiss_IndexIVF_cast(v->index);
        size_t nlist = faiss_IndexIVF_nlist(ivf), total = 0;
        for (size_t l = 0; l < nlist; l++) total += faiss_IndexIVF_get_list_size(ivf, l);
        int64_t *out = xmalloc((total ? total : 1) * sizeof *out);
        size_t at = 0;
        for (size_t l = 0; l < nlist; l++) {
            size_t ls = faiss_IndexIVF_get_list_size(ivf, l);
            if (ls) faiss_IndexIVF_invlists_get_ids(ivf, l, (idx_t *)(out + at));
            at += ls;
        }
        *n = (int64_t)total;
        return out;
    }
    idx_t *map = NULL;
    size_t size = 0;
    faiss_IndexIDMap2_id_map(v->index, &map, &size);
    int64_t *out = xmalloc((size ? size : 1) * sizeof *out);
    if (size) memcpy(out, map, size * sizeof *out);
    *n = (int64_t)size;
    return out;
}
