/* core/doc: the parsed-document model that flows ingest -> index -> retrieve -> generate.
 * A parser turns a source into one or more rg_doc: an ordered list of blocks (headings,
 * paragraphs, tables), each with its section path. Tables are typed cells. The chunker
 * (ingest/chunk.h) turns blocks into rg_chunk records that the store (index/store.h) keeps. */
#ifndef RAGD_CORE_DOC_H
#define RAGD_CORE_DOC_H
#include "core/util.h"
#include <stddef.h>
#include <stdint.h>

typedef enum {
    RG_CELL_EMPTY = 0,   /* "", "-", "—" */
    RG_CELL_TEXT,
    RG_CELL_NUMBER,      /* value holds the number; "(12.6)" is -12.6 */
    RG_CELL_PERCENT,     /* value holds the percent number: "12.5%" is 12.5 */
    RG_CELL_YEAR,        /* a year or period header: "2019", "Fiscal 2018", "Q4 2019" */
} rg_cell_type;

typedef struct {
    char *raw;           /* text as it appeared; owned by the table's string blocks */
    rg_cell_type type;
    double value;        /* for NUMBER, PERCENT, YEAR */
    char unit[12];       /* "$", "%", "€", "" ... */
} rg_cell;

typedef struct {
    int nrows, ncols;
    rg_cell *cells;      /* nrows * ncols, row-major */
    int header_rows;     /* leading rows that are column headers */
    int header_cols;     /* leading columns that are row labels */
    char *caption;       /* may be NULL */
    char scale[12];      /* "", "thousand", "million", "billion" */
    rg_strpool strs;     /* the cells' texts (rg_table_strdup), freed with the table */
} rg_table;

typedef enum { RG_BLOCK_HEADING, RG_BLOCK_PARA, RG_BLOCK_TABLE } rg_block_kind;

typedef struct {
    rg_block_kind kind;
    int level;           /* heading level 1..6 */
    char *text;          /* heading or paragraph text (for tables: NULL); in the doc's strs */
    rg_table *table;     /* RG_BLOCK_TABLE */
    char *section;       /* section path "A > B > C" in force for this block; in the doc's
                          * strs, one copy shared by consecutive blocks of a section */
    int page;            /* 1-based page for paged formats, else 0 */
    int64_t offset;      /* byte offset in the source, -1 unknown */
} rg_block;

typedef struct {
    char *id;            /* stable document id (see interface spec) */
    char *source;        /* path or URL */
    char *kind;          /* "text", "markdown", "html", "csv", "pdf", "tatqa", "json" */
    char *title;         /* may be NULL */
    char *meta_json;     /* JSON object text, may be NULL */
    rg_block *blocks;
    int nblocks, cap;
    rg_strpool strs;     /* the blocks' texts and sections, freed with the doc */
} rg_doc;

rg_doc *rg_doc_new(const char *id, const char *source, const char *kind);
void rg_doc_free(rg_doc *d);
/* Append blocks; strings are copied (into d->strs: never free a block's text or section);
 * the table is taken over. */
rg_block *rg_doc_add_text(rg_doc *d, rg_block_kind kind, int level, const char *text, const char *section);
rg_block *rg_doc_add_table(rg_doc *d, rg_table *t, const char *section);

rg_table *rg_table_new(int nrows, int ncols);
void rg_table_free(rg_table *t);
rg_cell *rg_table_cell(rg_table *t, int r, int c);
/* Sets a cell's raw text (copied) and parses it (see ingest/numparse.h). */
void rg_table_set(rg_table *t, int r, int c, const char *raw);
/* The same with a text that already lives as long as the table (rg_table_strdup, or a pool
 * the table adopts): not copied. */
void rg_table_set_kept(rg_table *t, int r, int c, char *raw);
/* A copy of s[0..n) that lives as long as the table: what a cell's raw points to. Cells are
 * many and small, so their texts share blocks instead of a malloc (and a free) each. */
char *rg_table_strdup(rg_table *t, const char *s, size_t n);

/* A chunk: the unit of retrieval. */
typedef enum { RG_CHUNK_TEXT = 0, RG_CHUNK_TABLE = 1 } rg_chunk_kind;
typedef struct {
    rg_chunk_kind kind;
    char *text;          /* what BM25 and the encoder see */
    char *section;
    int parent;          /* index of the parent chunk in the same doc (small-to-big), -1 none */
    int table_index;     /* which of the doc's tables (0-based, in block order), -1 none */
    int row_start, row_end; /* table row range covered (header rows always included) */
    int table_text;      /* text is rg_table_text_rows of those rows (core/table_text.h): the
                          * store keeps the table's cells and rebuilds it */
    int ntokens;         /* approximate word pieces */
    int page;
    int64_t offset;
    int context_only;    /* a parent/context chunk: stored, never searched or embedded */
} rg_chunk;
#endif
