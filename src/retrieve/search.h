/* retrieve/search: BM25, dense and hybrid search over a store, with filters applied inside
 * each search, and reciprocal rank fusion for hybrid. Results carry their chunk text,
 * section and (for tables) the whole parsed table. */
#ifndef RAGD_RETRIEVE_SEARCH_H
#define RAGD_RETRIEVE_SEARCH_H
#include "index/store.h"
#include "embed/encoder.h"

typedef enum { RG_MODE_HYBRID = 0, RG_MODE_BM25, RG_MODE_DENSE } rg_search_mode;

typedef struct {
    int k;                   /* results wanted (default 10) */
    int candidates;          /* from each side before fusion (default 50) */
    rg_search_mode mode;
    rg_search_filter filter;
} rg_search_opts;

typedef struct {
    int64_t chunk_id, table_id;
    double score;
    char *doc_id, *source, *text, *section;
    int kind;
    rg_table *table;         /* the whole table for a table hit, else NULL */
} rg_result;

typedef struct {
    rg_result *v; int n;
    double t_embed, t_bm25, t_dense, t_fuse, t_fetch;   /* seconds per stage */
} rg_results;

void rg_search_opts_default(rg_search_opts *o);
int rg_search_mode_parse(const char *s, rg_search_mode *m);
const char *rg_search_mode_name(rg_search_mode m);
/* enc may be NULL for bm25. Returns 0, or -1 with rg_err. */
int rg_search(rg_store *s, rg_encoder *enc, const char *query, const rg_search_opts *o, rg_results *out);
void rg_results_free(rg_results *r);
#endif
