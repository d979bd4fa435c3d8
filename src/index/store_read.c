/* index/store_read: documents, chunks and tables read back from SQLite. */
#include "index/store_internal.h"
#include "core/util.h"
#include "index/table_rows.h"
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* ---- documents ---- */

void rg_doc_info_free(rg_doc_info *d) {
    if (!d) return;
    free(d->doc_id); free(d->source); free(d->kind); free(d->title); free(d->hash);
    free(d->meta_json); free(d->etag); free(d->last_modified);
    memset(d, 0, sizeof *d);
}

#define DOC_COLS "d.id, d.doc_id, d.source, d.kind, d.title, d.content_hash, d.metadata, d.etag, " \
                 "d.last_modified, d.size, d.mtime, d.indexed_at, " \
                 "(SELECT count(*) FROM chunks c WHERE c.doc = d.id AND c.context_only = 0)"

static void doc_from_row(sqlite3_stmt *st, rg_doc_info *d) {
    d->rowid = sqlite3_column_int64(st, 0);
    d->doc_id = st_col_text(st, 1); d->source = st_col_text(st, 2); d->kind = st_col_text(st, 3);
    d->title = st_col_text(st, 4); d->hash = st_col_text(st, 5); d->meta_json = st_col_text(st, 6);
    d->etag = st_col_text(st, 7); d->last_modified = st_col_text(st, 8);
    d->size = sqlite3_column_int64(st, 9); d->mtime = sqlite3_column_int64(st, 10);
    d->indexed_at = sqlite3_column_int64(st, 11); d->nchunks = sqlite3_column_int64(st, 12);
}

int rg_store_get_doc(rg_store *s, const char *doc_id, rg_doc_info *info) {
    /* By id first, then by source path: two indexed lookups (an OR would scan). */
    static const char *sqls[2] = {
        "SELECT " DOC_COLS " FROM documents d WHERE d.doc_id = ?1",
        "SELECT " DOC_COLS " FROM documents d WHERE d.source = ?1 ORDER BY d.doc_id LIMIT 1",
    };
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = st_prep(s, sqls[i]);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, doc_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && info) doc_from_row(st, info);
        st_done(s, st);
        if (rc == SQLITE_ROW) return 1;
        if (rc != SQLITE_DONE) return st_fail(s, "get document");
    }
    return 0;
}

int rg_store_docs_of_source(rg_store *s, const char *source, char ***ids, int *n) {
    *ids = NULL; *n = 0;
    sqlite3_stmt *st = st_prep(s, "SELECT doc_id FROM documents WHERE source = ? ORDER BY doc_id");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *ids = xrealloc(*ids, (size_t)(*n + 1) * sizeof **ids);
        (*ids)[(*n)++] = st_col_text(st, 0);
    }
    st_done(s, st);
    return rc == SQLITE_DONE ? 0 : st_fail(s, "documents of a source");
}

int rg_store_list_docs(rg_store *s, rg_doc_info **out, int *n) {
    *out = NULL; *n = 0;
    sqlite3_stmt *st = st_prep(s, "SELECT " DOC_COLS " FROM documents d ORDER BY d.doc_id");
    if (!st) return -1;
    int cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) { cap = cap ? cap * 2 : 64; *out = xrealloc(*out, (size_t)cap * sizeof **out); }
        memset(&(*out)[*n], 0, sizeof **out);
        doc_from_row(st, &(*out)[(*n)++]);
    }
    st_done(s, st);
    return rc == SQLITE_DONE ? 0 : st_fail(s, "list documents");
}

/* ---- re-embedding (a refitted encoder) ---- */

int rg_store_each_chunk(rg_store *s, int (*fn)(int64_t id, const char *text, void *ctx), void *ctx) {
    sqlite3_stmt *st = st_prep(s, "SELECT id, " RG_CHUNK_TEXT_COLS("") " FROM chunks WHERE context_only = 0 ORDER BY id");
    rg_table_rows tr;
    if (st_table_rows_open(s, &tr) != 0 || !st) { st_table_rows_close(s, &tr); st_done(s, st); return -1; }
    int rc, r = 0;
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = rg_table_rows_chunk(&tr, st, 1, NULL);
        r = t ? fn(sqlite3_column_int64(st, 0), t, ctx) : -1;
    }
    st_table_rows_close(s, &tr);
    st_done(s, st);
    if (r) return r;
    return rc == SQLITE_DONE ? 0 : st_fail(s, "reading chunks");
}

/* ---- chunks and tables ---- */

int st_table_rows_open(rg_store *s, rg_table_rows *tr) {
    rg_table_rows_init(tr, st_prep(s, RG_TABLE_SQL), s->db_path);
    return tr->sel ? 0 : -1;
}

void st_table_rows_close(rg_store *s, rg_table_rows *tr) {
    rg_table_rows_free(tr);
    st_done(s, tr->sel);
    tr->sel = NULL;
}

void rg_chunk_row_free(rg_chunk_row *c) {
    if (!c) return;
    free(c->doc_id); free(c->source); free(c->text); free(c->section);
    memset(c, 0, sizeof *c);
}

/* A context-only parent whose text is the join of its children's is stored with text ''
 * (store_write.c) and rebuilt here: its children's texts (rows with parent = its id, same
 * document) in ord order, joined with "\n\n". Rows stored with their text (older indexes,
 * parents that are not such a join) are returned as stored. */
#define PARENT_JOIN "\n\n"

#define CHUNK_COLS "c.id, d.doc_id, d.source, " RG_CHUNK_TEXT_COLS("c.") ", c.section, c.ord, c.ntokens, c.page, " \
                   "c.parent, c.context_only, c.doc"

/* Fills c, with a table chunk's text rebuilt when it was stored without it (table_rows.h);
 * 1 when its text is to be rebuilt from its children, -1 (c empty, rg_err set) when its
 * table cannot be read. */
static int chunk_from_row(sqlite3_stmt *st, rg_chunk_row *c, rg_table_rows *tr) {
    memset(c, 0, sizeof *c);
    size_t n;
    const char *text = rg_table_rows_chunk(tr, st, 3, &n);
    if (!text) return -1;
    c->text = xstrndup(text, n);   /* "" for NULL: never hand out NULL */
    c->id = sqlite3_column_int64(st, 0);
    c->doc_id = st_col_text(st, 1); c->source = st_col_text(st, 2);
    c->kind = sqlite3_column_int(st, 4);
    c->table_id = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5);
    c->row_start = sqlite3_column_int(st, 6); c->row_end = sqlite3_column_int(st, 7);
    c->section = st_col_text(st, 8); c->ord = sqlite3_column_int(st, 9);
    c->ntokens = sqlite3_column_int(st, 10); c->page = sqlite3_column_int(st, 11);
    c->parent = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 12);
    return sqlite3_column_int(st, 13) != 0 && c->text[0] == '\0';
}

int rg_store_get_chunk(rg_store *s, int64_t chunk_id, rg_chunk_row *out) {
    sqlite3_stmt *st = st_prep(s, "SELECT " CHUNK_COLS " FROM chunks c JOIN documents d ON d.id = c.doc WHERE c.id = ?");
    rg_table_rows tr;
    if (st_table_rows_open(s, &tr) != 0 || !st) { st_table_rows_close(s, &tr); st_done(s, st); return -1; }
    sqlite3_bind_int64(st, 1, chunk_id);
    int rc = sqlite3_step(st), found = 0, join = 0;
    int64_t doc = 0;
    if (rc == SQLITE_ROW) { join = chunk_from_row(st, out, &tr); doc = sqlite3_column_int64(st, 14); found = 1; }
    st_table_rows_close(s, &tr);
    st_done(s, st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return st_fail(s, "get chunk");
    if (join < 0) return -1;
    if (!join) return found;
    /* one query for the children; chunks_doc narrows it to the document's rows */
    st = st_prep(s, "SELECT text FROM chunks WHERE doc = ?1 AND parent = ?2 ORDER BY ord");
    if (!st) { rg_chunk_row_free(out); return -1; }
    sqlite3_bind_int64(st, 1, doc);
    sqlite3_bind_int64(st, 2, chunk_id);
    rg_buf b = {0};
    int nkids = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (nkids++) rg_buf_puts(&b, PARENT_JOIN);
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (t) rg_buf_put(&b, t, (size_t)sqlite3_column_bytes(st, 0));
    }
    st_done(s, st);
    if (rc != SQLITE_DONE) { rg_buf_free(&b); rg_chunk_row_free(out); return st_fail(s, "get chunk's children"); }
    if (nkids) { free(out->text); out->text = rg_buf_take(&b); }
    return 1;
}

typedef struct { int64_t id; int at; } id_at;
static int cmp_id_at(const void *a, const void *b) {
    const id_at *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Rebuilds the texts of the rows marked in join (rows in ord order) from the rows loaded:
 * each row with a parent adds its text to that parent's, when the parent is marked. */
static void join_parents(rg_chunk_row *rows, int n, const unsigned char *join, int njoin) {
    id_at *ps = xmalloc((size_t)njoin * sizeof *ps);
    rg_buf *bufs = xcalloc((size_t)njoin, sizeof *bufs);
    int *nkids = xcalloc((size_t)njoin, sizeof *nkids);
    int k = 0;
    for (int i = 0; i < n; i++) if (join[i]) ps[k++] = (id_at){rows[i].id, i};
    qsort(ps, (size_t)njoin, sizeof *ps, cmp_id_at);
    for (int i = 0; i < n; i++) {
        if (rows[i].parent < 0) continue;
        id_at key = {rows[i].parent, 0};
        id_at *p = bsearch(&key, ps, (size_t)njoin, sizeof *ps, cmp_id_at);
        if (!p) continue;
        size_t j = (size_t)(p - ps);
        if (nkids[j]++) rg_buf_puts(&bufs[j], PARENT_JOIN);
        rg_buf_puts(&bufs[j], rows[i].text);
    }
    for (int j = 0; j < njoin; j++) {
        if (!nkids[j]) continue;   /* no children: '' as stored */
        rg_chunk_row *c = &rows[ps[j].at];
        free(c->text);
        c->text = rg_buf_take(&bufs[j]);
    }
    for (int j = 0; j < njoin; j++) rg_buf_free(&bufs[j]);
    free(bufs); free(nkids); free(ps);
}

int rg_store_doc_chunks(rg_store *s, const char *doc_id, rg_chunk_row **out, int *n) {
    *out = NULL; *n = 0;
    sqlite3_stmt *st = st_prep(s, "SELECT " CHUNK_COLS " FROM chunks c JOIN documents d ON d.id = c.doc "
                               "WHERE d.doc_id = ? ORDER BY c.ord");
    rg_table_rows tr;
    if (st_table_rows_open(s, &tr) != 0 || !st) { st_table_rows_close(s, &tr); st_done(s, st); return -1; }
    sqlite3_bind_text(st, 1, doc_id, -1, SQLITE_STATIC);
    int cap = 0, rc, njoin = 0, bad = 0;
    unsigned char *join = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            *out = xrealloc(*out, (size_t)cap * sizeof **out);
            join = xrealloc(join, (size_t)cap);
        }
        int j = chunk_from_row(st, &(*out)[*n], &tr);
        if (j < 0) { bad = 1; break; }
        join[*n] = (unsigned char)j;
        njoin += join[(*n)++];
    }
    st_table_rows_close(s, &tr);
    st_done(s, st);
    if (bad || rc != SQLITE_DONE) {
        for (int i = 0; i < *n; i++) rg_chunk_row_free(&(*out)[i]);
        free(*out); *out = NULL; *n = 0;
        free(join);
        return bad ? -1 : st_fail(s, "document chunks");
    }
    if (njoin) join_parents(*out, *n, join, njoin);
    free(join);
    return 0;
}

rg_table *rg_store_get_table(rg_store *s, int64_t table_id) {
    sqlite3_stmt *st = st_prep(s, RG_TABLE_SQL);
    if (!st) return NULL;
    sqlite3_bind_int64(st, 1, table_id);
    int rc = sqlite3_step(st);
    rg_table *t = rc == SQLITE_ROW ? rg_table_from_row(st, s->db_path, table_id) : NULL;
    st_done(s, st);
    if (rc == SQLITE_DONE) rg_err("table %lld not found", (long long)table_id);
    else if (rc != SQLITE_ROW) st_fail(s, "get table");
    return t;
}

int rg_store_doc_tables(rg_store *s, const char *doc_id, rg_table ***out, int64_t **ids, int *n) {
    *out = NULL; *n = 0;
    if (ids) *ids = NULL;
    sqlite3_stmt *st = st_prep(s, "SELECT t.id FROM tables t JOIN documents d ON d.id = t.doc WHERE d.doc_id = ? ORDER BY t.ord");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, doc_id, -1, SQLITE_STATIC);
    int64_t *tid = NULL;
    int cnt = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        tid = xrealloc(tid, (size_t)(cnt + 1) * sizeof *tid);
        tid[cnt++] = sqlite3_column_int64(st, 0);
    }
    st_done(s, st);
    *out = xcalloc((size_t)cnt + 1, sizeof **out);
    for (int i = 0; i < cnt; i++) {
        (*out)[i] = rg_store_get_table(s, tid[i]);
        if (!(*out)[i]) {
            for (int j = 0; j < i; j++) rg_table_free((*out)[j]);
            free(*out); *out = NULL; free(tid);
            return -1;
        }
    }
    *n = cnt;
    if (ids) *ids = tid; else free(tid);
    return 0;
}


/* ---- reader tuning ---- */

int rg_store_tune_reads(rg_store *s, int64_t mmap_bytes, int cache_kib) {
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA mmap_size=%lld; PRAGMA cache_size=%d;", (long long)(mmap_bytes > 0 ? mmap_bytes : 0),
             cache_kib > 0 ? -cache_kib : -2000);
    return st_exec(s, sql);
}
