/* ingest/chunk: turns a parsed document into retrieval chunks.
 * Structure first: text is packed per section, paragraph by paragraph, up to a token budget;
 * a longer paragraph is cut at sentence ends with a small overlap; a section with several
 * chunks also gets context-only parent chunks (small-to-big). A table becomes one chunk (or
 * row groups with the header rows repeated) whose text keeps row and column headers next to
 * each value (core/table_text.h). Budgets count core/approx_tokens.h's word pieces. */
#ifndef RAGD_INGEST_CHUNK_H
#define RAGD_INGEST_CHUNK_H
#include "core/doc.h"

typedef struct {
    int max_tokens;      /* budget per chunk in approximate word pieces (default 256) */
    int overlap_tokens;  /* carried from one text chunk into the next (default 32) */
    int table_max_tokens;/* budget per table chunk (row group); 0: max_tokens (default 384) */
} rg_chunk_opts;

void rg_chunk_opts_default(rg_chunk_opts *o);
/* Chunks d into *out (*n chunks). Returns 0, or -1 with rg_err set. */
int rg_chunk_doc(const rg_doc *d, const rg_chunk_opts *o, rg_chunk **out, int *n);
/* Frees what rg_chunk_doc returned (the chunks' texts and sections live in one pool behind
 * the array: free no text or section alone, and pass no other array). */
void rg_chunks_free(rg_chunk *c, int n);
#endif
