/* core/table_text: a table as the text that chunks, BM25 and the encoder see: a head (the
 * caption with its scale, then the column headers) and a line per body row that keeps the
 * headers next to each value ("Revenue | 2019: 1,452.4 | 2018: 1,301.2"), so "revenue 2019"
 * matches. The chunker (ingest/chunk.c) groups rows under the head; the store, which keeps a
 * table chunk's cells but not its text, rebuilds the same bytes with the same code. */
#ifndef RAGD_CORE_TABLE_TEXT_H
#define RAGD_CORE_TABLE_TEXT_H
#include "core/doc.h"
#include "core/util.h"

typedef struct {
    const rg_table *t;
    char *head;          /* caption line and header line, each ending in '\n'; "" when none */
    size_t head_len;
    int head_tokens;     /* rg_approx_tokens of head */
    char **col;          /* per column: its header rows' cells joined ("" when none) */
    size_t *col_len;
    int *col_tokens;
    rg_strpool strs;
} rg_table_text;

/* Prepares t's head and column headers (t must outlive x). caption: usually t->caption. */
void rg_table_text_init(rg_table_text *x, const rg_table *t, const char *caption);
void rg_table_text_free(rg_table_text *x);
/* Appends body row r's line (with its '\n'; nothing for an empty row) to b and returns its
 * rg_approx_tokens count. */
int rg_table_text_row(const rg_table_text *x, rg_buf *b, int r);
/* Replaces b's contents with the head and rows [row_start, row_end) (header rows are in the
 * head, never repeated), trailing newlines removed: the text of a table chunk. */
void rg_table_text_rows(const rg_table_text *x, rg_buf *b, int row_start, int row_end);
/* The same as a new string (free it). */
char *rg_table_linearize(const rg_table *t, const char *caption, int row_start, int row_end);
#endif
