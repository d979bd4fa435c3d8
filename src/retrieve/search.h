/* retrieve/search: BM25, dense and hybrid search over a store, with filters applied inside
 * each search (never by dropping results after the cut), fusion of the two candidate lists
 * (weighted score fusion by default, reciprocal rank fusion as an option), and a small
 * thread-safe LRU cache of query embeddings. Results carry their chunk text, section and
 * (for tables) the whole parsed table. With a reranker (embed/rerank.h), the top fused
 * candidates are re-scored by the cross-encoder and the results ordered by its score. */
#ifndef RAGD_RETRIEVE_SEARCH_H
#define RAGD_RETRIEVE_SEARCH_H
#include "index/store.h"
#include "embed/encoder.h"
#include "embed/rerank.h"

typedef enum { RG_MODE_HYBRID = 0, RG_MODE_BM25, RG_MODE_DENSE } rg_search_mode;
typedef enum { RG_FUSION_RRF = 0, RG_FUSION_WEIGHTED } rg_fusion;

typedef struct {
    int k;                   /* results wanted (default 10) */
    int candidates;          /* from each side before fusion (default 50) */
    rg_search_mode mode;
    rg_search_filter filter;
    rg_fusion fusion;        /* hybrid: how the two lists combine (default weighted) */
    /* Weights of the two lists. RRF: w / (60 + rank) summed; weighted: w * score normalised
     * to [0, 1] by the list's min and max, summed. Defaults: weighted, BM25 0.7, dense 0.3
     * (measured on TAT-QA dev: see rg_search_opts_default). */
    double bm25_weight, dense_weight;
    rg_reranker *reranker;   /* NULL: no reranking */
    int rerank_top;          /* fused candidates the reranker scores (default 20; at least k) */
} rg_search_opts;

typedef struct {
    int64_t chunk_id, table_id;
    double score;            /* the ranking score: the reranker's when reranked, else fused */
    double fused_score;      /* the score before reranking */
    char *doc_id, *source, *text, *section;
    int kind;
    rg_table *table;         /* the whole table for a table hit, else NULL */
} rg_result;

typedef struct {
    rg_result *v; int n;
    double t_embed, t_bm25, t_dense, t_fuse, t_fetch, t_rerank;   /* seconds per stage */
    int reranked;                                       /* candidates the reranker scored */
    int embed_cached;                                   /* the query vector came from the cache */
} rg_results;

void rg_search_opts_default(rg_search_opts *o);
int rg_search_mode_parse(const char *s, rg_search_mode *m);
const char *rg_search_mode_name(rg_search_mode m);
int rg_fusion_parse(const char *s, rg_fusion *f);
const char *rg_fusion_name(rg_fusion f);
/* enc may be NULL for bm25. Returns 0, or -1 with rg_err. */
int rg_search(rg_store *s, rg_encoder *enc, const char *query, const rg_search_opts *o, rg_results *out);
/* As rg_search, with the query vector given (qvec, enc's dimension; enc may then be NULL). */
int rg_search_vec(rg_store *s, const char *query, const float *qvec, const rg_search_opts *o, rg_results *out);
void rg_results_free(rg_results *r);

/* Fuses two ranked lists (best first) as o->fusion says into *out (caller frees), best first;
 * ties broken by chunk id. */
void rg_fuse(const rg_hit *bm, int nbm, const rg_hit *dn, int ndn, const rg_search_opts *o,
             rg_hit **out, int *n);

/* The query embedding through the cache (keyed by encoder name and text). 1 when it came from
 * the cache, 0 when computed, -1 on error. */
int rg_query_embed(rg_encoder *enc, const char *query, float *out);
void rg_query_cache_clear(void);
#endif
