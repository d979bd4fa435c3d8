/* index/lex: the BM25 inverted index, in the store's SQLite database (schema 5), so it commits,
 * rolls back and survives crashes with the chunks it indexes.
 *   lex_seg(id, level, first, last, ndocs, ntok)   a segment: the chunks first..last added
 *                                                 together, how many and their total length
 *   lex_block(seg, term, data)                     a run of a segment's terms, each with its
 *                                                 df and posting list (index/lex_block.h)
 *   lex_dead(chunk_id, ntok)                       removed chunks whose postings remain
 * The chunks added in one transaction are held in memory (rg_lex_writer: postings as
 * records, sorted by term at the end) and written as one segment just before the commit, or
 * several when they outgrow the writer's limit; LEX_MERGE segments of a level are merged into one of the
 * next, dropping removed chunks' postings, so a term has O(log n) lists. A posting is three
 * varints: chunk id delta, weighted term frequency (2 per word of the text, 1 per word of the
 * section path: FTS5's bm25() weights 1.0 and 0.5) and the chunk's length in words. */
#ifndef RAGD_INDEX_LEX_H
#define RAGD_INDEX_LEX_H
#include "core/util.h"
#include "index/lex_token.h"
#include <sqlite3.h>
#include <stdint.h>

#define RG_LEX_MERGE 8

typedef struct rg_lex_writer rg_lex_writer;
rg_lex_writer *rg_lex_writer_new(sqlite3 *db);   /* NULL with rg_err set */
void rg_lex_writer_free(rg_lex_writer *w);
/* Postings held in memory before they are written as a segment within the transaction
 * (default about 4M, some 100 MB); smaller makes more level-0 segments. */
void rg_lex_writer_limit(rg_lex_writer *w, size_t max_records);
/* Indexes a searchable chunk (ids increase from one call to the next). */
void rg_lex_add(rg_lex_writer *w, int64_t chunk_id, const char *text, const char *section);
/* Marks a chunk removed (its text and section as they were added); in the open transaction. */
int rg_lex_remove(rg_lex_writer *w, int64_t chunk_id, const char *text, const char *section);
/* Writes what was added as a segment and merges full levels; call inside the transaction,
 * before COMMIT. */
int rg_lex_flush(rg_lex_writer *w);
void rg_lex_discard(rg_lex_writer *w);           /* after a ROLLBACK */

/* ---- reading posting lists ---- */
typedef struct { int64_t id; uint32_t wtf, len; } rg_lex_posting;
/* Decodes a segment's list of df postings, checking each id lies in (prev, last] and counts
 * are sane; returns the postings decoded (fewer than df when the blob is damaged). */
int64_t rg_lex_decode(const unsigned char *p, size_t n, int64_t df, int64_t last, rg_lex_posting *out);

/* Checks every segment decodes whole and that the segments cover exactly the searchable
 * chunks; appends problems to report. Returns how many. */
int rg_lex_check(sqlite3 *db, rg_buf *report);
/* Migration to schema 5: indexes every searchable chunk already stored. */
int rg_lex_build(sqlite3 *db);
#endif
