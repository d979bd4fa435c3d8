/* index/vectors: see vectors.h */
#include "index/vectors.h"
#include "core/util.h"
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rg_vectors {
    FaissIndex *index;   /* an IndexIDMap2 */
    int dim;
};

static int faiss_fail(const char *what) {
    const char *m = faiss_get_last_error();
    rg_err("FAISS %s: %s", what, m ? m : "failed");
    return -1;
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
    if (!faiss_IndexIDMap2_cast(idx)) {
        faiss_Index_free(idx);
        rg_err("%s: not an IndexIDMap2 index", path);
        return NULL;
    }
    if (faiss_Index_d(idx) != dim) {
        rg_err("%s: dimension %d, expected %d", path, (int)faiss_Index_d(idx), dim);
        faiss_Index_free(idx);
        return NULL;
    }
    rg_vectors *v = xcalloc(1, sizeof *v);
    v->index = idx;
    v->dim = dim;
    return v;
}

int rg_vectors_save(rg_vectors *v, const char *path) {
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
    if (faiss_Index_search(v->index, 1, q, k, scores, (idx_t *)ids)) return faiss_fail("search");
    return 0;
}

int64_t rg_vectors_count(const rg_vectors *v) { return (int64_t)faiss_Index_ntotal(v->index); }
int rg_vectors_dim(const rg_vectors *v) { return v->dim; }

int64_t *rg_vectors_ids(rg_vectors *v, int64_t *n) {
    idx_t *map = NULL;
    size_t size = 0;
    faiss_IndexIDMap2_id_map(v->index, &map, &size);
    int64_t *out = xmalloc((size ? size : 1) * sizeof *out);
    if (size) memcpy(out, map, size * sizeof *out);
    *n = (int64_t)size;
    return out;
}
