/* index/store_write: replacing and removing documents, re-embedding. Each change is one
 * SQLite transaction; FAISS follows after the commit (store.c reconciles it after a crash). */
#include "index/store_internal.h"
#include "core/util.h"
#include "index/vectors.h"
#include "index/cellpack.h"
#include "index/table_rows.h"
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Chunk ids with vectors of the document with this rowid. */
static int64_t *doc_vector_ids(rg_store *s, int64_t rowid, int64_t *n) {
    *n = 0;
    sqlite3_stmt *st = st_prep(s, "SELECT v.chunk_id FROM vectors v JOIN chunks c ON c.id = v.chunk_id WHERE c.doc = ?1");
    if (!st) return NULL;
    sqlite3_bind_int64(st, 1, rowid);
    int64_t cap = 16;
    int64_t *ids = xmalloc((size_t)cap * sizeof *ids);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) { cap *= 2; ids = xrealloc(ids, (size_t)cap * sizeof *ids); }
        ids[(*n)++] = sqlite3_column_int64(st, 0);
    }
    st_done(s, st);
    return ids;
}

/* Marks the document's searchable chunks removed from the BM25 index (their postings go at
 * the next merge of their segment). */
static int lex_remove_doc(rg_store *s, int64_t rowid) {
    sqlite3_stmt *sel = st_prep(s, "SELECT id, section, " RG_CHUNK_TEXT_COLS("") " FROM chunks WHERE doc = ?1 AND context_only = 0");
    rg_table_rows tr;
    if (st_table_rows_open(s, &tr) != 0 || !sel) { st_table_rows_close(s, &tr); st_done(s, sel); return -1; }
    sqlite3_bind_int64(sel, 1, rowid);
    int rc = 0, step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        /* a table chunk whose table cannot be read is removed all the same: its length only
         * feeds BM25's average length until the segment's next merge */
        const char *text = rg_table_rows_chunk(&tr, sel, 2, NULL);
        rc = rg_lex_remove(s->lex, sqlite3_column_int64(sel, 0), text ? text : "", (const char *)sqlite3_column_text(sel, 1));
    }
    if (rc == 0 && step != SQLITE_DONE) rc = st_fail(s, "read chunks for BM25");
    st_table_rows_close(s, &tr);
    st_done(s, sel);
    return rc;
}

static int delete_doc_rows(rg_store *s, int64_t rowid) {
    if (lex_remove_doc(s, rowid) != 0) return -1;
    static const char *sqls[] = {
        "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE doc = ?1)",
        "DELETE FROM chunks WHERE doc = ?1",
        "DELETE FROM tables WHERE doc = ?1",
        "DELETE FROM documents WHERE id = ?1",
    };
    for (size_t i = 0; i < sizeof sqls / sizeof *sqls; i++) {
        sqlite3_stmt *st = st_prep(s, sqls[i]);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, rowid);
        int rc = sqlite3_step(st);
        st_done(s, st);
        if (rc != SQLITE_DONE) return st_fail(s, "delete document");
    }
    return 0;
}

static int bump_generation(rg_store *s) {
    return st_exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'");
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

static int insert_table(rg_store *s, int64_t doc_rowid, int ord, const rg_block *b, int64_t *table_id) {
    const rg_table *t = b->table;
    sqlite3_stmt *st = st_prep(s, "INSERT INTO tables(doc, ord, nrows, ncols, header_rows, header_cols, caption, scale, section, cells) "
                               "VALUES (?,?,?,?,?,?,?,?,?,?)");
    if (!st) return -1;
    rg_buf cells = {0};
    rg_cells_pack(t, &cells);
    if (cells.len > 1000000000) { rg_buf_free(&cells); st_done(s, st); rg_err("%s: a table of %zu bytes is too large to store", s->dir, cells.len); return -1; }
    sqlite3_bind_blob(st, 10, cells.data, (int)cells.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 1, doc_rowid);
    sqlite3_bind_int(st, 2, ord);
    sqlite3_bind_int(st, 3, t->nrows);
    sqlite3_bind_int(st, 4, t->ncols);
    sqlite3_bind_int(st, 5, t->header_rows);
    sqlite3_bind_int(st, 6, t->header_cols);
    bind_text_or_null(st, 7, t->caption);
    sqlite3_bind_text(st, 8, t->scale, -1, SQLITE_TRANSIENT);
    bind_text_or_null(st, 9, b->section);
    int rc = sqlite3_step(st);
    st_done(s, st);
    rg_buf_free(&cells);
    if (rc != SQLITE_DONE) return st_fail(s, "insert table");
    *table_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

/* ---- FAISS changes held back while a batch is open ---- */

typedef struct st_faiss_op {
    int64_t n, *ids;
    float *vecs;           /* n * dim to add; NULL: remove ids */
} st_faiss_op;

static void ops_free(rg_store *s) {
    for (int i = 0; i < s->nops; i++) { free(s->ops[i].ids); free(s->ops[i].vecs); }
    free(s->ops);
    s->ops = NULL;
    s->nops = s->capops = 0;
}

/* Takes ids (and vecs) over. */
static void ops_push(rg_store *s, int64_t n, int64_t *ids, float *vecs) {
    if (n <= 0) { free(ids); free(vecs); return; }
    if (s->nops == s->capops) {
        s->capops = s->capops ? s->capops * 2 : 64;
        s->ops = xrealloc(s->ops, (size_t)s->capops * sizeof *s->ops);
    }
    s->ops[s->nops++] = (st_faiss_op){n, ids, vecs};
}

/* After a commit: FAISS follows, in the order the changes were made. If we die here, the
 * next open reconciles FAISS with SQLite. */
static int ops_apply(rg_store *s) {
    int rc = 0;
    s->faiss_dirty = 1;
    for (int i = 0; i < s->nops && rc == 0; i++) {
        st_faiss_op *op = &s->ops[i];
        if (op->vecs) rc = rg_vectors_add(s->vec, op->n, op->vecs, op->ids);
        else rc = rg_vectors_remove(s->vec, op->n, op->ids) < 0 ? -1 : 0;
    }
    ops_free(s);
    return rc;
}

/* A document's unit of work: its own transaction, or a part of the open batch. No savepoint
 * per document inside a batch (the BM25 postings of the batch are held in memory until the
 * commit, and a savepoint cannot take back part of them). So a document that fails inside a
 * batch takes the whole batch down with it (rolled back: none of its documents is recorded,
 * a re-run redoes them), like a crash would. */
static int doc_begin(rg_store *s) {
    return s->batch ? 0 : st_exec(s, "BEGIN IMMEDIATE");
}

/* Undoes it; the FAISS changes queued since mark are dropped. */
static void doc_rollback(rg_store *s, int mark) {
    if (s->batch) {
        int64_t n = s->batch_docs;
        char *why = xstrdup(rg_errmsg());
        rg_store_batch_rollback(s);
        rg_err("%s (the open batch of %lld other document%s was rolled back)", why, (long long)n, n == 1 ? "" : "s");
        free(why);
        return;
    }
    for (int i = mark; i < s->nops; i++) { free(s->ops[i].ids); free(s->ops[i].vecs); }
    s->nops = mark;
    rg_lex_discard(s->lex);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Ends it. Outside a batch this commits and then applies the FAISS changes. */
static int doc_commit(rg_store *s, int mark) {
    if (s->batch) { s->batch_docs++; return 0; }
    if (rg_lex_flush(s->lex) != 0 || bump_generation(s) != 0 || st_exec(s, "COMMIT") != 0) { doc_rollback(s, mark); return -1; }
    return ops_apply(s);
}

/* The id the next chunk gets (AUTOINCREMENT: past every id ever used): chunks are inserted
 * with explicit consecutive ids from here, so that parent links and vector ids are known
 * before the rows are written. */
static int64_t next_chunk_id(rg_store *s) {
    return st_count(s, "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'chunks'), 0), "
                       "coalesce((SELECT max(id) FROM chunks), 0)) + 1");
}

/* Which chunks are stored with empty text, to be rebuilt on read (store_read.c) so no text is
 * written twice: a table chunk made from its table's rows (table_text, index/table_rows.h),
 * and a context-only parent whose text is exactly its children's texts (in order) joined
 * with "\n\n". Parents are checked byte for byte: a parent that is anything else (or has a
 * context-only or table child, which would itself be rebuilt) keeps its text.
 * Returns a calloc'ed flag per chunk. */
static unsigned char *elided_texts(const rg_chunk *chunks, int nchunks, int ntables) {
    unsigned char *elide = xcalloc((size_t)nchunks + 1, 1);
    /* pos[p]: bytes of p's text matched so far by its children, SIZE_MAX once it differs;
     * len[p]: the length of p's text (measured once: linear in the texts, however many
     * children a parent has) */
    size_t *pos = xcalloc((size_t)nchunks + 1, sizeof *pos);
    size_t *len = xcalloc((size_t)nchunks + 1, sizeof *len);
    int *nkids = xcalloc((size_t)nchunks + 1, sizeof *nkids);
    for (int i = 0; i < nchunks; i++) {
        int p = chunks[i].parent;
        if (p < 0 || p >= nchunks || p == i || pos[p] == SIZE_MAX) continue;
        if (chunks[i].context_only || chunks[i].table_text || !chunks[p].context_only) { pos[p] = SIZE_MAX; continue; }
        const char *pt = chunks[p].text ? chunks[p].text : "";
        const char *ct = chunks[i].text ? chunks[i].text : "";
        if (!nkids[p]) len[p] = strlen(pt);
        size_t at = pos[p], plen = len[p] - at, clen = strlen(ct);
        if (nkids[p]) {
            if (plen < 2 || memcmp(pt + at, "\n\n", 2) != 0) { pos[p] = SIZE_MAX; continue; }
            at += 2; plen -= 2;
        }
        if (clen > plen || memcmp(pt + at, ct, clen) != 0) { pos[p] = SIZE_MAX; continue; }
        pos[p] = at + clen;
        nkids[p]++;
    }
    for (int p = 0; p < nchunks; p++) {
        const rg_chunk *c = &chunks[p];
        elide[p] = (c->context_only && nkids[p] > 0 && pos[p] != SIZE_MAX && c->text && c->text[pos[p]] == '\0') ||
                   (c->table_text && c->kind == RG_CHUNK_TABLE && !c->context_only && c->table_index >= 0 &&
                    c->table_index < ntables && c->text && c->text[0]);
    }
    free(pos);
    free(len);
    free(nkids);
    return elide;
}

/* Chunk rows are inserted 32, 8 or 1 at a time: a statement's fixed cost (its start and halt,
 * AUTOINCREMENT's sqlite_sequence read and write) was about 3 us, a third of a row's. The id
 * is left to SQLite, which appends the row without first seeking it (the ids it gives are
 * next_chunk_id's, in order: checked after each statement). OR FAIL:
 * a multi-row INSERT that may abort keeps a statement journal, which copied every page it
 * touched (it doubled the bytes ingestion wrote); a failed insert rolls the whole document
 * or batch back anyway. */
#define CHUNK_INSERT "INSERT OR FAIL INTO chunks(id, doc, ord, kind, text, section, parent, table_id, row_start, row_end, " \
                     "ntokens, page, offset, context_only) VALUES "
#define CHUNK_NCOLS 14
#define CHUNK_ROW "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
#define CHUNK_ROWS2 CHUNK_ROW "," CHUNK_ROW
#define CHUNK_ROWS8 CHUNK_ROWS2 "," CHUNK_ROWS2 "," CHUNK_ROWS2 "," CHUNK_ROWS2
#define CHUNK_ROWS32 CHUNK_ROWS8 "," CHUNK_ROWS8 "," CHUNK_ROWS8 "," CHUNK_ROWS8

/* Binds chunk i's row at parameter offset p (parameters p+1 .. p+CHUNK_NCOLS). */
static void bind_chunk(sqlite3_stmt *st, int p, const rg_chunk *chunks, int i, int nchunks, int64_t base,
                       int64_t doc_rowid, const int64_t *table_ids, int ntables, const unsigned char *elide) {
    const rg_chunk *c = &chunks[i];
    sqlite3_bind_null(st, p + 1);   /* SQLite's next id, base + i: checked after the insert */
    sqlite3_bind_int64(st, p + 2, doc_rowid);
    sqlite3_bind_int(st, p + 3, i);
    sqlite3_bind_int(st, p + 4, (int)c->kind);
    sqlite3_bind_text(st, p + 5, c->text && !elide[i] ? c->text : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, p + 6, c->section ? c->section : "", -1, SQLITE_STATIC);
    if (c->parent >= 0 && c->parent < nchunks && c->parent != i) sqlite3_bind_int64(st, p + 7, base + c->parent);
    else sqlite3_bind_null(st, p + 7);
    if (c->table_index >= 0 && c->table_index < ntables) sqlite3_bind_int64(st, p + 8, table_ids[c->table_index]);
    else sqlite3_bind_null(st, p + 8);
    sqlite3_bind_int(st, p + 9, c->row_start);
    sqlite3_bind_int(st, p + 10, c->row_end);
    sqlite3_bind_int(st, p + 11, c->ntokens);
    sqlite3_bind_int(st, p + 12, c->page);
    sqlite3_bind_int64(st, p + 13, c->offset);
    sqlite3_bind_int(st, p + 14, c->context_only);
}

int rg_store_put_doc(rg_store *s, const rg_doc *d, const rg_source_stamp *stamp,
                     const rg_chunk *chunks, int nchunks, const float *vecs) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    int mark = s->nops;
    if (doc_begin(s) != 0) return -1;
    int ntables = 0;
    for (int i = 0; i < d->nblocks; i++) if (d->blocks[i].kind == RG_BLOCK_TABLE) ntables++;
    int64_t *table_ids = xcalloc((size_t)ntables + 1, sizeof *table_ids);
    unsigned char *elide = NULL;
    sqlite3_stmt *st = NULL;

    /* the document this one replaces: the same id (only; rg_store_get_doc also tries sources) */
    st = st_prep(s, "SELECT id FROM documents WHERE doc_id = ?1");
    if (!st) goto fail;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int64_t old_rowid = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    st_done(s, st); st = NULL;
    if (step != SQLITE_ROW && step != SQLITE_DONE) { st_fail(s, "find the document replaced"); goto fail; }
    if (step == SQLITE_ROW) {
        int64_t nold = 0, *old_ids = doc_vector_ids(s, old_rowid, &nold);
        int rc = delete_doc_rows(s, old_rowid);
        ops_push(s, nold, old_ids, NULL);
        if (rc != 0) goto fail;
    }
    st = st_prep(s, "INSERT INTO documents(doc_id, source, content_hash, size, mtime, kind, title, metadata, etag, last_modified, indexed_at) "
                 "VALUES (?,?,?,?,?,?,?,?,?,?,?)");
    if (!st) goto fail;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->source, -1, SQLITE_STATIC);
    bind_text_or_null(st, 3, stamp ? stamp->hash : NULL);
    sqlite3_bind_int64(st, 4, stamp ? stamp->size : 0);
    sqlite3_bind_int64(st, 5, stamp ? stamp->mtime : 0);
    sqlite3_bind_text(st, 6, d->kind, -1, SQLITE_STATIC);
    bind_text_or_null(st, 7, d->title);
    bind_text_or_null(st, 8, d->meta_json);
    bind_text_or_null(st, 9, stamp ? stamp->etag : NULL);
    bind_text_or_null(st, 10, stamp ? stamp->last_modified : NULL);
    sqlite3_bind_int64(st, 11, rg_unix_time());
    if (sqlite3_step(st) != SQLITE_DONE) { st_fail(s, "insert document"); goto fail; }
    st_done(s, st); st = NULL;
    int64_t doc_rowid = sqlite3_last_insert_rowid(s->db);

    for (int i = 0, t = 0; i < d->nblocks; i++)
        if (d->blocks[i].kind == RG_BLOCK_TABLE) {
            if (insert_table(s, doc_rowid, t, &d->blocks[i], &table_ids[t]) != 0) goto fail;
            t++;
        }

    int64_t base = nchunks ? next_chunk_id(s) : 0;
    if (base < 0) goto fail;
    elide = elided_texts(chunks, nchunks, ntables);
    for (int i = 0; i < nchunks;) {
        int rows = nchunks - i >= 32 ? 32 : nchunks - i >= 8 ? 8 : 1;
        st = st_prep(s, rows == 32 ? CHUNK_INSERT CHUNK_ROWS32 : rows == 8 ? CHUNK_INSERT CHUNK_ROWS8 : CHUNK_INSERT CHUNK_ROW);
        if (!st) goto fail;
        for (int r = 0; r < rows; r++) bind_chunk(st, r * CHUNK_NCOLS, chunks, i + r, nchunks, base, doc_rowid, table_ids, ntables, elide);
        int rc = sqlite3_step(st);
        st_done(s, st); st = NULL;
        if (rc != SQLITE_DONE) { st_fail(s, "insert chunk"); goto fail; }
        if (sqlite3_last_insert_rowid(s->db) != base + i + rows - 1) {
            rg_err("%s: chunk ids out of step (%lld, expected %lld)", s->dir, (long long)sqlite3_last_insert_rowid(s->db),
                   (long long)(base + i + rows - 1));
            goto fail;
        }
        for (int r = 0; r < rows; r++, i++)
            if (!chunks[i].context_only) rg_lex_add(s->lex, base + i, chunks[i].text, chunks[i].section);
    }

    if (vecs) {
        int64_t nv = 0, *ids = xmalloc(((size_t)nchunks + 1) * sizeof *ids);
        float *keep = xmalloc(((size_t)nchunks + 1) * (size_t)s->dim * sizeof *keep);
        st = st_prep(s, "INSERT INTO vectors(chunk_id, vec) VALUES (?,?)");
        if (!st) { free(ids); free(keep); goto fail; }
        for (int i = 0; i < nchunks; i++) {
            if (chunks[i].context_only) continue;
            const float *v = vecs + (size_t)i * (size_t)s->dim;
            sqlite3_bind_int64(st, 1, base + i);
            sqlite3_bind_blob(st, 2, v, s->dim * (int)sizeof(float), SQLITE_STATIC);
            int rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_DONE) { st_fail(s, "insert vector"); free(ids); free(keep); goto fail; }
            ids[nv] = base + i;
            memcpy(keep + (size_t)nv * (size_t)s->dim, v, (size_t)s->dim * sizeof *keep);
            nv++;
        }
        st_done(s, st); st = NULL;
        ops_push(s, nv, ids, keep);
    }
    free(table_ids);
    free(elide);
    return doc_commit(s, mark);
fail:
    st_done(s, st);
    doc_rollback(s, mark);
    free(table_ids);
    free(elide);
    return -1;
}

int rg_store_remove_doc(rg_store *s, const char *doc_id) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    int mark = s->nops;
    if (doc_begin(s) != 0) return -1;
    rg_doc_info info;
    int had = rg_store_get_doc(s, doc_id, &info);
    if (had == 0) { if (!s->batch) st_exec(s, "ROLLBACK"); return 0; }
    if (had < 0) { doc_rollback(s, mark); return -1; }
    int64_t n = 0, *ids = doc_vector_ids(s, info.rowid, &n);
    int rc = delete_doc_rows(s, info.rowid);
    rg_doc_info_free(&info);
    ops_push(s, n, ids, NULL);
    if (rc != 0) { doc_rollback(s, mark); return -1; }
    return doc_commit(s, mark) != 0 ? -1 : 1;
}

/* ---- batches ---- */

int rg_store_batch_open(const rg_store *s) { return s->batch; }

int rg_store_batch_begin(rg_store *s) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    if (s->batch) { rg_err("%s: a batch is already open", s->dir); return -1; }
    /* A batch writes more pages than SQLite's default 2 MB cache holds: without room, dirty
     * pages spill into the WAL mid-transaction and are written again at the commit. */
    if (st_exec(s, "PRAGMA cache_size = -65536") != 0 || st_exec(s, "BEGIN IMMEDIATE") != 0) return -1;
    s->batch = 1;
    s->batch_docs = s->batch_bytes = 0;
    s->batch_t0 = rg_now();
    return 0;
}

int rg_store_batch_commit(rg_store *s) {
    if (!s->batch) return 0;
    if (rg_lex_flush(s->lex) != 0 || (s->batch_docs && bump_generation(s) != 0) || st_exec(s, "COMMIT") != 0) {
        rg_store_batch_rollback(s);
        return -1;
    }
    s->batch = 0;
    return ops_apply(s);
}

int rg_store_batch_rollback(rg_store *s) {
    if (!s->batch) return 0;
    s->batch = 0;
    ops_free(s);
    rg_lex_discard(s->lex);
    return st_exec(s, "ROLLBACK");
}

int rg_store_batch_tick(rg_store *s, int64_t bytes) {
    if (!s->batch) return rg_store_batch_begin(s);
    s->batch_bytes += bytes;
    int64_t held = 0;   /* vectors held back for FAISS */
    for (int i = 0; i < s->nops; i++) if (s->ops[i].vecs) held += s->ops[i].n * s->dim * (int64_t)sizeof(float);
    if (s->batch_docs < RG_BATCH_DOCS && s->batch_bytes < RG_BATCH_BYTES && held < RG_BATCH_BYTES &&
        rg_now() - s->batch_t0 < RG_BATCH_SECONDS)
        return 0;
    if (rg_store_batch_commit(s) != 0) return -1;
    return rg_store_batch_begin(s);
}

#define REEMBED_BATCH 256

int rg_store_reembed(rg_store *s, rg_encoder *e, const char *meta_key, const char *meta_value,
                     void (*progress)(int64_t done, int64_t total, void *ctx), void *ctx) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    if (e->dim != s->dim) { rg_err("%s: encoder %s has %d dims, the index %d", s->dir, e->name, e->dim, s->dim); return -1; }
    if (rg_store_batch_commit(s) != 0) return -1;
    int64_t total = st_count(s, "SELECT count(*) FROM chunks WHERE context_only = 0");
    if (total < 0 || st_exec(s, "BEGIN IMMEDIATE") != 0) return -1;
    rg_vectors *nv = rg_vectors_new(s->dim, "Flat");
    sqlite3_stmt *sel = NULL, *ins = NULL;
    rg_table_rows tr;
    rg_table_rows_init(&tr, NULL, s->db_path);   /* opened below; closing an unopened one is fine */
    int64_t *ids = xmalloc(REEMBED_BATCH * sizeof *ids), last = INT64_MIN, done = 0;
    char **texts = xcalloc(REEMBED_BATCH, sizeof *texts);
    float *vecs = xmalloc((size_t)REEMBED_BATCH * (size_t)s->dim * sizeof *vecs);
    int n = 0;
    if (!nv || st_exec(s, "DELETE FROM vectors") != 0) goto fail;
    sel = st_prep(s, "SELECT id, " RG_CHUNK_TEXT_COLS("") " FROM chunks WHERE context_only = 0 AND id > ?1 ORDER BY id LIMIT ?2");
    ins = st_prep(s, "INSERT INTO vectors(chunk_id, vec) VALUES (?,?)");
    if (!sel || !ins || st_table_rows_open(s, &tr) != 0) goto fail;
    for (;;) {
        sqlite3_bind_int64(sel, 1, last);
        sqlite3_bind_int(sel, 2, REEMBED_BATCH);
        n = 0;
        int rc, unreadable = 0;
        while ((rc = sqlite3_step(sel)) == SQLITE_ROW && n < REEMBED_BATCH) {
            size_t len;
            const char *t = rg_table_rows_chunk(&tr, sel, 1, &len);
            if (!t) { unreadable = 1; break; }
            ids[n] = sqlite3_column_int64(sel, 0);
            texts[n++] = xstrndup(t, len);
        }
        sqlite3_reset(sel);
        if (unreadable) goto fail;
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) { st_fail(s, "reading chunks"); goto fail; }
        if (!n) break;
        last = ids[n - 1];
        if (rg_encoder_embed(e, (const char *const *)texts, n, 0, vecs) != 0) goto fail;
        for (int i = 0; i < n; i++) {
            sqlite3_bind_int64(ins, 1, ids[i]);
            sqlite3_bind_blob(ins, 2, vecs + (size_t)i * (size_t)s->dim, s->dim * (int)sizeof(float), SQLITE_STATIC);
            rc = sqlite3_step(ins);
            sqlite3_reset(ins);
            if (rc != SQLITE_DONE) { st_fail(s, "insert vector"); goto fail; }
        }
        if (rg_vectors_add(nv, n, vecs, ids) != 0) goto fail;
        for (int i = 0; i < n; i++) { free(texts[i]); texts[i] = NULL; }
        done += n;
        n = 0;
        if (progress) progress(done, total, ctx);
    }
    st_done(s, sel); sel = NULL;
    st_done(s, ins); ins = NULL;
    st_table_rows_close(s, &tr);
    if (meta_key) {
        sqlite3_stmt *st = st_prep(s, "INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)");
        if (!st) goto fail;
        sqlite3_bind_text(st, 1, meta_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, meta_value ? meta_value : "", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        st_done(s, st);
        if (rc != SQLITE_DONE) { st_fail(s, "write meta"); goto fail; }
    }
    if (bump_generation(s) != 0) goto fail;
    /* The FAISS file holds the old vectors under the same ids, which reconciliation (it compares
     * ids) could not tell apart: remove it first, so that whatever happens next the file is
     * rebuilt from the committed rows. */
    if ((unlink(s->faiss_path) != 0 && errno != ENOENT) || (unlink(s->gen_path) != 0 && errno != ENOENT)) {
        rg_err("%s: %s", s->faiss_path, strerror(errno));
        goto fail;
    }
    if (st_exec(s, "COMMIT") != 0) goto fail;
    rg_vectors_free(s->vec);
    s->vec = nv;
    s->faiss_dirty = 1;
    free(ids); free(texts); free(vecs);
    /* Committed: a failed save here is retried by the next flush, and the next open rebuilds
     * the missing file from SQLite in any case. */
    rg_store_flush(s);
    return 0;
fail:
    for (int i = 0; i < REEMBED_BATCH; i++) free(texts[i]);
    free(ids); free(texts); free(vecs);
    st_done(s, sel);
    st_done(s, ins);
    st_table_rows_close(s, &tr);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    rg_vectors_free(nv);
    s->faiss_dirty = 1;   /* rewrite the (old) FAISS file if it was removed */
    return -1;
}

