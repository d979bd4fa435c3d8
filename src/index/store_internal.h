/* index/store_internal: what the store's files (store*.c) share: the handle, SQLite helpers
 * and a cache of prepared statements. Not for use outside src/index. */
#ifndef RAGD_INDEX_STORE_INTERNAL_H
#define RAGD_INDEX_STORE_INTERNAL_H
#include "index/store.h"
#include "index/vectors.h"
#include "index/lex.h"
#include "index/table_rows.h"
#include <sqlite3.h>
#include <stdint.h>

/* Prepared statements are kept per store (one store per thread) and reused: preparing costs
 * more than running most of the store's queries. */
#define ST_CACHE_SLOTS 48
typedef struct {
    char *sql;
    uint64_t hash, used;
    sqlite3_stmt *st;
    int busy;              /* handed out and not yet returned by st_done */
} st_slot;

struct rg_store {
    char *dir, *db_path, *faiss_path, *gen_path, *manifest_path;
    sqlite3 *db;
    rg_vectors *vec;
    char encoder[160];
    int dim, writable, lock_fd, faiss_dirty;
    char repairs[512];
    st_slot cache[ST_CACHE_SLOTS];
    uint64_t tick;
    /* an open batch (store_write.c): one transaction over several puts and removes, with the
     * FAISS changes they imply held back until it commits */
    int batch;
    int64_t batch_docs, batch_bytes;
    double batch_t0;
    struct st_faiss_op *ops;
    int nops, capops;
    rg_lex_writer *lex;    /* writable: chunks added since the last commit, for BM25 */
    rg_lex_tok *lextok;    /* for queries, made on first use */
    /* the share of candidates the last few filters passed (store_search.c: sizes the first
     * over-fetch of a filter used again) */
    struct { uint64_t key; double rate; } filter_rate[8];
    int filter_rate_next;
};

/* rg_err with the database's message; returns -1. */
int st_fail(rg_store *s, const char *what);
int st_exec(rg_store *s, const char *sql);
/* A prepared statement for sql, from the cache when one is free; NULL with rg_err set.
 * Every statement from st_prep goes back through st_done (which resets it), also on errors:
 * a statement left stepping would hold its read snapshot open. */
sqlite3_stmt *st_prep(rg_store *s, const char *sql);
void st_done(rg_store *s, sqlite3_stmt *st);     /* NULL is fine */
char *st_col_text(sqlite3_stmt *st, int i);      /* xstrdup of the column, NULL for NULL */
int64_t st_count(rg_store *s, const char *sql);  /* a one-integer query; -1 on error */
/* A reader of table chunks' texts (index/table_rows.h) on the cached table statement: 0, or
 * -1 with rg_err set; st_table_rows_close gives it back (also after a failed open, twice is
 * fine). */
int st_table_rows_open(rg_store *s, rg_table_rows *tr);
void st_table_rows_close(rg_store *s, rg_table_rows *tr);
#endif
