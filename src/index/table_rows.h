/* index/table_rows: the text of a table chunk stored without it. Since schema 6 the store
 * writes a table chunk's text as '' when the chunker made it from its table's rows
 * (rg_chunk.table_text) and every reader rebuilds it here from the stored cells, with the
 * chunker's own code (core/table_text.h): the same bytes, a quarter fewer written. Marked
 * by kind 1 (table), text '' and a table id: the chunker never makes an empty table chunk.
 * The last table read is kept, since a document's table chunks come one after another. */
#ifndef RAGD_INDEX_TABLE_ROWS_H
#define RAGD_INDEX_TABLE_ROWS_H
#include "core/doc.h"
#include "core/table_text.h"
#include "core/util.h"
#include <sqlite3.h>
#include <stdint.h>

#define RG_TABLE_SQL "SELECT nrows, ncols, header_rows, header_cols, caption, scale, cells FROM tables WHERE id = ?1"
/* a chunk's columns that rg_table_rows_chunk reads, in this order; p: "" or a table alias "c." */
#define RG_CHUNK_TEXT_COLS(p) p "text, " p "kind, " p "table_id, " p "row_start, " p "row_end"

/* The table that a row of RG_TABLE_SQL holds; NULL with rg_err naming db_path and the id. */
rg_table *rg_table_from_row(sqlite3_stmt *st, const char *db_path, int64_t table_id);

typedef struct {
    sqlite3_stmt *sel;   /* RG_TABLE_SQL, prepared by the caller (who finalizes it) */
    const char *db_path;
    int64_t id;          /* t's id; 0 none */
    rg_table *t;
    rg_table_text x;
    rg_buf text;
} rg_table_rows;

void rg_table_rows_init(rg_table_rows *r, sqlite3_stmt *sel, const char *db_path);
void rg_table_rows_free(rg_table_rows *r);
/* 1 when a chunk row with these columns was stored without its text. */
int rg_table_rows_elided(sqlite3_stmt *st, int col);
/* The text of the chunk whose RG_CHUNK_TEXT_COLS start at column col of st: as stored, or
 * rebuilt. Valid until the next call or the statement's next step; NULL with rg_err set
 * when its table cannot be read. */
const char *rg_table_rows_chunk(rg_table_rows *r, sqlite3_stmt *st, int col, size_t *len);
#endif
