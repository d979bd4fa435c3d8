/* generate/answer_format: what a language model may answer with in grounded answering, one line:
 *     [P3] copied text                  a piece of paragraph 3 of the evidence
 *     [T1] copied text                  a piece of one cell of table 1
 *     [T1] = divide(r2c1, r3c1)         a DSL program (dsl.h) over table 1's cells
 * Ids count from 1 in evidence order. Programs use add/subtract/multiply/divide with cell
 * references rRcC (0-based), step results #k and const_N only: no number literal, so every
 * number comes from a cell. Offers the prefix checks behind a decoding constraint (grammar.h
 * custom kind) and a parser + verifier for any model's output (local or remote). */
#ifndef RAGD_GENERATE_ANSWER_FORMAT_H
#define RAGD_GENERATE_ANSWER_FORMAT_H
#include <stddef.h>
#include "generate/reasoner.h"

/* The evidence items a model may cite: the first ntables tables and nparas paragraphs of ev
 * (those that went into the prompt). */
typedef struct { const rg_evidence *ev; int ntables, nparas; } rg_afmt;

/* Is text[0..len) a prefix of a valid answer line (allows) / a whole one (complete)?
 * ud is an rg_afmt *. Suitable for rg_constraint_custom. */
int rg_afmt_allows(void *ud, const char *text, size_t len);
int rg_afmt_complete(void *ud, const char *text, size_t len);

typedef struct {
    int table;          /* 1: [Tn], 0: [Pn] */
    int index;          /* 0-based item index */
    int program;        /* body is a DSL program */
    char *body;         /* span text or program (malloc'd) */
    char cite[16];      /* "T1", "P3" */
} rg_afmt_out;

/* Parses and verifies a model's output (surrounding blank space and anything after the first
 * line are ignored). A span must occur in the cited item (a cell of the cited table); a
 * program must satisfy the grammar above. Returns 0, or -1 with rg_err saying why. */
int rg_afmt_parse(const rg_afmt *f, const char *text, rg_afmt_out *out);
void rg_afmt_out_free(rg_afmt_out *o);
#endif
