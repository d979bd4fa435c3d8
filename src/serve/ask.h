/* serve/ask: answering one question: retrieve evidence (scoped by doc/filter), run the
 * generator (the table reasoner; later a decoder or remote model), and build the answer
 * object of the interface spec (`ragd ask --json`). Shared by the CLI and the daemon. */
#ifndef RAGD_SERVE_ASK_H
#define RAGD_SERVE_ASK_H
#include <jansson.h>
#include "index/store.h"
#include "embed/encoder.h"
#include "retrieve/search.h"
#include "serve/ask_llm.h"

typedef struct {
    const char *doc_id;          /* scope to one document, or NULL */
    rg_search_filter filter;     /* further filters */
    int k;                       /* evidence chunks to retrieve (default 8) */
    rg_generator *generator;     /* NULL: the reasoner alone; else see serve/ask_llm.h */
    rg_ask_token_cb on_token;    /* streaming of the generator's output (may be NULL) */
    void *on_token_ud;
    double deadline;             /* rg_now() seconds by which the generator must be done; 0: none */
} rg_ask_opts;

void rg_ask_opts_default(rg_ask_opts *o);
/* The answer object {"question","answer","scale","type","derivation","citations","confidence",...},
 * or NULL with rg_err set when the store failed. "No answer" is type "none", not an error. */
json_t *rg_ask(rg_store *s, rg_encoder *e, const char *question, const rg_ask_opts *o);
#endif
