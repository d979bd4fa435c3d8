/* retrieve/context: search hits -> the passages a generator reads.
 * Small-to-big: a text hit becomes its parent chunk (chunks.parent) or, without one, a window
 * of neighbouring text chunks of the same section; hits whose windows overlap or touch are
 * merged into one passage. A table hit becomes the whole table (caption, header rows, every
 * row) once, however many of its row groups hit. Optional MMR reordering for diversity
 * (word-set similarity, no encoder needed). Passages are added best first until the token
 * budget is spent; the first one is cut to fit when it alone is larger. */
#ifndef RAGD_RETRIEVE_CONTEXT_H
#define RAGD_RETRIEVE_CONTEXT_H
#include "retrieve/search.h"

typedef struct {
    int max_tokens;      /* budget over all passages, approximate word pieces (default 1500) */
    int window;          /* neighbours taken on each side of a text hit without a parent (default 1) */
    double mmr_lambda;   /* 0 = off; else in (0, 1]: relevance weight against redundancy (0.7 typical) */
} rg_context_opts;

typedef struct {
    char *doc_id, *source, *section;
    char *text;          /* the passage */
    int kind;            /* RG_CHUNK_TEXT or RG_CHUNK_TABLE */
    int64_t table_id;    /* -1 for text */
    rg_table *table;     /* the whole table for a table passage (owned), else NULL */
    int64_t *hits; int nhits;   /* the hit chunk ids merged into this passage, best first */
    double score;        /* the best hit's score */
    int ntokens;
    int ord_lo, ord_hi;  /* text: chunk order range covered in the document */
} rg_passage;

typedef struct {
    rg_passage *v; int n;
    int ntokens;         /* total */
    int dropped;         /* passages left out for the budget */
    int truncated;       /* the first passage was cut to fit */
} rg_context;

void rg_context_opts_default(rg_context_opts *o);
/* Returns 0, or -1 with rg_err set. */
int rg_context_build(rg_store *s, const rg_results *r, const rg_context_opts *o, rg_context *out);
void rg_context_free(rg_context *c);
#endif
