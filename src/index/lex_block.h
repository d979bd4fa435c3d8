/* index/lex_block: how a segment's posting lists are laid out in lex_block rows. A row holds
 * a run of consecutive terms (ascending, byte order) and is keyed by its first term, so a
 * segment of a batch is a few hundred rows rather than one per term: most terms of a batch
 * (numbers above all) have a list of a few bytes, and a row costs SQLite more than its bytes.
 *   entry = varint(term length) term varint(df) varint(list length) list
 * A term is found by reading the last row whose key is <= the term and scanning it. */
#ifndef RAGD_INDEX_LEX_BLOCK_H
#define RAGD_INDEX_LEX_BLOCK_H
#include "core/util.h"
#include "index/varint.h"
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* A row closes once its entries reach this size: small enough that a row stays on its b-tree
 * page (SQLite moves more than ~1,000 bytes of an index row to overflow pages, which a search
 * then reads and copies whole: 4,000-byte rows made BM25 queries ~1.8x slower), large enough
 * that a segment is a few hundred rows. */
#define RG_LEX_BLOCK_BYTES 700

typedef struct { const char *term; size_t tn; int64_t df; const unsigned char *post; size_t pn; } rg_lex_entry;
typedef struct { const unsigned char *p; size_t n, pos; } rg_lex_block;


/* The next entry of a row's blob: 1, 0 at its end, -1 when the rest cannot be read (every
 * length is checked against the blob; a term longer than RG_LEX_MAX_WORD is damage). */
int rg_lex_block_next(rg_lex_block *b, rg_lex_entry *e);
/* The entry of term in a row's blob: 1 found, 0 not there, -1 damaged before it. */
int rg_lex_block_find(const unsigned char *p, size_t n, const char *term, size_t tn, rg_lex_entry *e);
int rg_lex_term_cmp(const char *a, size_t an, const char *b, size_t bn);   /* SQLite's BINARY order */

/* Writes a segment's entries, given in ascending term order, as rows through ins
 * ("INSERT INTO lex_block(seg, term, data) VALUES (?1, ?2, ?3)"). */
typedef struct { sqlite3_stmt *ins; int64_t seg; rg_buf data, first; } rg_lex_rows;
int rg_lex_rows_add(rg_lex_rows *r, const char *term, size_t tn, int64_t df, const void *post, size_t pn);
int rg_lex_rows_end(rg_lex_rows *r);      /* writes the open row; -1 with rg_err set on failure */
void rg_lex_rows_free(rg_lex_rows *r);
#endif
