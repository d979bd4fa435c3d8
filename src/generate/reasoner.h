/* generate/reasoner: the closed-domain answer engine. Given a question and evidence (typed
 * tables and paragraphs), it works out what is asked (a value, a change, a percentage change,
 * a ratio, a sum or average, a count, a comparison, a text span), writes a small program in a
 * FinQA-style DSL (see dsl.h), runs it with exact decimal arithmetic on numbers read from the
 * raw cell text, and returns the answer with its TAT-QA scale, a derivation, citations down to
 * table cells and a confidence. No model weights. When the evidence does not support an answer
 * the type is "none" and there are no answers: it never invents numbers. */
#ifndef RAGD_GENERATE_REASONER_H
#define RAGD_GENERATE_REASONER_H
#include "core/doc.h"

typedef struct { const rg_table *table; const char *doc_id; long long chunk_id; } rg_ev_table;
typedef struct { const char *text; const char *doc_id; long long chunk_id; int order; } rg_ev_para;
typedef struct { rg_ev_table *tables; int ntables; rg_ev_para *paras; int nparas; } rg_evidence;

typedef struct {
    char *doc_id;
    long long chunk_id;
    int row, col;            /* table cell; -1, -1 for a paragraph */
} rg_citation;

typedef struct {
    char **answers; int nanswers;   /* 1 unless multi-span; 0 when type is "none" */
    char scale[12];                 /* "", "thousand", "million", "billion", "percent" */
    char type[16];                  /* span | multi-span | arithmetic | count | none */
    char *derivation;               /* "(44.1 - 56.7) / 56.7 * 100", "" for spans */
    rg_citation *cites; int ncites;
    double confidence;              /* 0..1 */
    char *program;                  /* DSL text, "" when none */
} rg_answer;

/* Never NULL unless question or ev is NULL (then rg_err is set). Questions longer than 4 KiB,
 * tables larger than 4096 cells in either direction are treated as unsupported. */
rg_answer *rg_reason(const char *question, const rg_evidence *ev);
void rg_answer_free(rg_answer *a);
/* The `ragd ask --json` object as a malloc'd string (jansson). */
char *rg_answer_json(const char *question, const rg_answer *a);
#endif
