/* retrieve/eval_retrieval: retrieval quality on a TAT-QA file (`ragd eval --retrieval`).
 * The file's contexts are indexed with the normal pipeline; for every question, its evidence
 * (the table's chunks when answer_from has "table"; the chunks holding its rel_paragraphs,
 * or a part of one that the chunker split, found by text containment, when it has "text") is looked up in the top 1/3/5/10 of BM25,
 * dense and hybrid search, scoped to the question's document and (open) over the corpus.
 * A question counts as found at k when every piece of its evidence is in the top k. */
#ifndef RAGD_RETRIEVE_EVAL_RETRIEVAL_H
#define RAGD_RETRIEVE_EVAL_RETRIEVAL_H
#include "retrieve/search.h"

typedef struct {
    const char *path;          /* the TAT-QA JSON file */
    const char *index_dir;     /* NULL: a fresh temporary index, removed afterwards */
    const char *encoder_spec;  /* NULL: "default" */
    int open_domain;           /* also search the whole corpus */
    int json_out;
    int max_questions;         /* 0: all */
    rg_search_opts search;     /* fusion, weights and candidates for hybrid (k and mode ignored) */
} rg_eval_retrieval_opts;

typedef struct {
    long questions, unmapped;          /* evaluated; skipped for want of mappable evidence */
    int scopes;                        /* 1 (doc) or 2 (doc, open) */
    double recall[2][3][4];            /* [doc, open][bm25, dense, hybrid][@1, @3, @5, @10] */
    double index_seconds, search_ms_mean;
    char encoder[160];
} rg_eval_retrieval_result;

void rg_eval_retrieval_opts_default(rg_eval_retrieval_opts *o);
/* Indexes and measures without printing. Returns 0, or -1 with rg_err set. */
int rg_eval_retrieval_measure(const rg_eval_retrieval_opts *o, rg_eval_retrieval_result *res);
/* Prints the table (or JSON) on stdout. Returns 0, or -1 with rg_err set. */
int rg_eval_retrieval_run(const rg_eval_retrieval_opts *o);
int rg_eval_retrieval(const char *tatqa_json_path, const char *index_dir, int open_domain, int json_out);
#endif
