/* embed/lsa_internal: the model layout shared by lsa.c (load, save, embed) and lsa_fit.c. */
#ifndef RAGD_EMBED_LSA_INTERNAL_H
#define RAGD_EMBED_LSA_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "embed/lsa.h"

#define LSA_MAX_TERM 48          /* bytes in a term; longer words are cut */
#define LSA_MAX_TERMS 2000000

/* A string -> id map with open addressing; strings live in one pool. */
typedef struct {
    char *pool; size_t pool_len, pool_cap;
    uint32_t *off;               /* per id: offset of the term in pool (NUL-terminated) */
    uint8_t *len;                /* per id: term length */
    int32_t *slots;              /* -1 empty, else id */
    uint32_t nslots, n, cap;
} lsa_dict;

void lsa_dict_init(lsa_dict *d);
void lsa_dict_free(lsa_dict *d);
int32_t lsa_dict_find(const lsa_dict *d, const char *s, int len);     /* -1 when absent */
int32_t lsa_dict_add(lsa_dict *d, const char *s, int len);            /* existing or new id */
static inline const char *lsa_dict_term(const lsa_dict *d, int32_t id) { return d->pool + d->off[id]; }

struct rg_lsa_model {
    int refs;                    /* atomic */
    int dim, rank;               /* rank: non-zero dimensions */
    int64_t fit_chunks;
    lsa_dict dict;               /* term ids 0..nterms-1 */
    float *idf;                  /* nterms */
    float *scale;                /* dim: per-dimension weight applied after projection */
    float *comp;                 /* nterms * dim, row-major: term -> its projection row */
};

rg_lsa_model *lsa_model_alloc(int dim, int nterms);
#endif
