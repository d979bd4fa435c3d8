/* serve/ask_llm: grounded answering with a language model (built-in GGUF decoder or an
 * OpenAI-compatible server). Policy: the table reasoner answers first; when its confidence is
 * at least keep_confidence (0.8) its answer stands. Otherwise the model gets the question and
 * the evidence with ids ([T1] tables as numbered rows and cells, [P3] paragraphs) and must
 * answer in the format of generate/answer_format.h (a span copied from a cited item, or a DSL
 * program over a cited table); the local decoder is constrained to that format. ragd then
 * verifies: the span must occur in the cited item, the program is run by the exact DSL
 * executor on the cited table's cells. A verified answer has "answered_by":"generator" and
 * the model's citations; anything else falls back to the reasoner ("answered_by":"reasoner"),
 * with the model's output and the reason under "generator". */
#ifndef RAGD_SERVE_ASK_LLM_H
#define RAGD_SERVE_ASK_LLM_H
#include <jansson.h>
#include <stddef.h>
#include "generate/reasoner.h"

typedef struct {
    const char *spec;               /* a .gguf path, or "remote" */
    const char *remote_url, *remote_model, *remote_api_key_env;
    int n_threads;                  /* local decoder threads; 0: all CPUs */
    int max_tokens;                 /* 0: 64 */
    double keep_confidence;         /* reasoner answers at or above stand; 0: 0.8 */
    int unconstrained;              /* local decoder without the format constraint (tests) */
} rg_generator_config;

typedef struct rg_generator rg_generator;
/* Loads the model or checks the remote settings; NULL with rg_err. Safe to share between
 * threads: requests are serialised (the local decoder has one KV cache). */
rg_generator *rg_generator_open(const rg_generator_config *c);
void rg_generator_free(rg_generator *g);

/* Streaming: called with each piece of the model's output as it is produced (text only; the
 * final answer object follows). Non-zero stops the model (its output then fails verification). */
typedef int (*rg_ask_token_cb)(const char *piece, size_t len, void *ud);

/* The answer object for question over ev, given the reasoner's answer r (see policy above).
 * NULL only when writing the object failed (rg_err set). */
json_t *rg_ask_llm(rg_generator *g, const char *question, const rg_evidence *ev, const rg_answer *r,
                   rg_ask_token_cb cb, void *ud);
/* As rg_ask_llm with a deadline (rg_now() seconds; 0: none): a request still waiting for the
 * model (another one is using it) or still generating at the deadline stops there, and the
 * reasoner's answer stands (the reason under "generator"). */
json_t *rg_ask_llm_until(rg_generator *g, const char *question, const rg_evidence *ev, const rg_answer *r,
                         rg_ask_token_cb cb, void *ud, double deadline);
#endif
