/* index/store_write: replacing and removing documents, re-embedding. Each change is one
 * SQLite transaction; FAISS follows after the commit (store.c reconciles it after a crash). */
#include "index/store_internal.h"
#include "core/util.h"
#include "index/vectors.h"
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

static int delete_doc_rows(rg_store *s, int64_t rowid) {
    static const char *sqls[] = {
        "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE doc = ?1)",
        "DELETE FROM chunks WHERE doc = ?1",
        "DELETE FROM cells WHERE table_id IN (SELECT id FROM tables WHERE doc = ?1)",
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
    sqlite3_stmt *st = st_prep(s, "INSERT INTO tables(doc, ord, nrows, ncols, header_rows, header_cols, caption, scale, section) "
                               "VALUES (?,?,?,?,?,?,?,?,?)");
    if (!st) return -1;
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
    if (rc != SQLITE_DONE) return st_fail(s, "insert table");
    *table_id = sqlite3_last_insert_rowid(s->db);
    st = st_prep(s, "INSERT INTO cells(table_id, row, col, raw, type, value, unit) VALUES (?,?,?,?,?,?,?)");
    if (!st) return -1;
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const rg_cell *cell = &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            sqlite3_bind_int64(st, 1, *table_id);
            sqlite3_bind_int(st, 2, r);
            sqlite3_bind_int(st, 3, c);
            sqlite3_bind_text(st, 4, cell->raw ? cell->raw : "", -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 5, (int)cell->type);
            if (cell->type == RG_CELL_EMPTY || cell->type == RG_CELL_TEXT) sqlite3_bind_null(st, 6);
            else sqlite3_bind_double(st, 6, cell->value);
            sqlite3_bind_text(st, 7, cell->unit, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_DONE) { st_done(s, st); return st_fail(s, "insert cell"); }
        }
    st_done(s, st);
    return 0;
}

int rg_store_put_doc(rg_store *s, const rg_doc *d, const rg_source_stamp *stamp,
                     const rg_chunk *chunks, int nchunks, const float *vecs) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    if (st_exec(s, "BEGIN IMMEDIATE") != 0) return -1;
    int64_t nold = 0, *old_ids = NULL;
    int64_t *new_ids = xcalloc((size_t)nchunks + 1, sizeof *new_ids);
    int ntables = 0;
    for (int i = 0; i < d->nblocks; i++) if (d->blocks[i].kind == RG_BLOCK_TABLE) ntables++;
    int64_t *table_ids = xcalloc((size_t)ntables + 1, sizeof *table_ids);
    sqlite3_stmt *st = NULL;

    rg_doc_info old;
    int had = rg_store_get_doc(s, d->id, &old);
    if (had < 0) goto fail;
    if (had) {
        old_ids = doc_vector_ids(s, old.rowid, &nold);
        int rc = delete_doc_rows(s, old.rowid);
        rg_doc_info_free(&old);
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

    st = st_prep(s, "INSERT INTO chunks(doc, ord, kind, text, section, parent, table_id, row_start, row_end, ntokens, page, offset, context_only) "
                 "VALUES (?,?,?,?,?,NULL,?,?,?,?,?,?,?)");
    if (!st) goto fail;
    for (int i = 0; i < nchunks; i++) {
        const rg_chunk *c = &chunks[i];
        sqlite3_bind_int64(st, 1, doc_rowid);
        sqlite3_bind_int(st, 2, i);
        sqlite3_bind_int(st, 3, (int)c->kind);
        sqlite3_bind_text(st, 4, c->text ? c->text : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, c->section ? c->section : "", -1, SQLITE_STATIC);
        if (c->table_index >= 0 && c->table_index < ntables) sqlite3_bind_int64(st, 6, table_ids[c->table_index]);
        else sqlite3_bind_null(st, 6);
        sqlite3_bind_int(st, 7, c->row_start);
        sqlite3_bind_int(st, 8, c->row_end);
        sqlite3_bind_int(st, 9, c->ntokens);
        sqlite3_bind_int(st, 10, c->page);
        sqlite3_bind_int64(st, 11, c->offset);
        sqlite3_bind_int(st, 12, c->context_only);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) { st_fail(s, "insert chunk"); goto fail; }
        new_ids[i] = sqlite3_last_insert_rowid(s->db);
    }
    st_done(s, st); st = NULL;

    st = st_prep(s, "UPDATE chunks SET parent = ?2 WHERE id = ?1");
    if (!st) goto fail;
    for (int i = 0; i < nchunks; i++) {
        int p = chunks[i].parent;
        if (p < 0 || p >= nchunks || p == i) continue;
        sqlite3_bind_int64(st, 1, new_ids[i]);
        sqlite3_bind_int64(st, 2, new_ids[p]);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) { st_fail(s, "link parent"); goto fail; }
    }
    st_done(s, st); st = NULL;

    if (vecs) {
        st = st_prep(s, "INSERT INTO vectors(chunk_id, vec) VALUES (?,?)");
        if (!st) goto fail;
        for (int i = 0; i < nchunks; i++) {
            if (chunks[i].context_only) continue;
            sqlite3_bind_int64(st, 1, new_ids[i]);
            sqlite3_bind_blob(st, 2, vecs + (size_t)i * (size_t)s->dim, s->dim * (int)sizeof(float), SQLITE_STATIC);
            int rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_DONE) { st_fail(s, "insert vector"); goto fail; }
        }
        st_done(s, st); st = NULL;
    }
    if (bump_generation(s) != 0 || st_exec(s, "COMMIT") != 0) goto fail;

    /* Committed: bring FAISS along. If we die here, the next open reconciles. */
    s->faiss_dirty = 1;
    if (nold && rg_vectors_remove(s->vec, nold, old_ids) < 0) goto faiss_fail;
    if (vecs)
        for (int i = 0; i < nchunks; i++) {
            if (chunks[i].context_only) continue;
            if (rg_vectors_add(s->vec, 1, vecs + (size_t)i * (size_t)s->dim, &new_ids[i]) != 0) goto faiss_fail;
        }
    free(old_ids); free(new_ids); free(table_ids);
    return 0;
faiss_fail:
    free(old_ids); free(new_ids); free(table_ids);
    return -1;
fail:
    st_done(s, st);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    free(old_ids); free(new_ids); free(table_ids);
    return -1;
}

int rg_store_remove_doc(rg_store *s, const char *doc_id) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    if (st_exec(s, "BEGIN IMMEDIATE") != 0) return -1;
    rg_doc_info info;
    int had = rg_store_get_doc(s, doc_id, &info);
    if (had <= 0) { st_exec(s, "ROLLBACK"); return had; }
    int64_t n = 0, *ids = doc_vector_ids(s, info.rowid, &n);
    int rc = delete_doc_rows(s, info.rowid);
    rg_doc_info_free(&info);
    if (rc != 0 || bump_generation(s) != 0 || st_exec(s, "COMMIT") != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        free(ids);
        return -1;
    }
    s->faiss_dirty = 1;
    rc = n ? rg_vectors_remove(s->vec, n, ids) : 0;
    free(ids);
    return rc < 0 ? -1 : 1;
}

#define REEMBED_BATCH 256

int rg_store_reembed(rg_store *s, rg_encoder *e, const char *meta_key, const char *meta_value,
                     void (*progress)(int64_t done, int64_t total, void *ctx), void *ctx) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    if (e->dim != s->dim) { rg_err("%s: encoder %s has %d dims, the index %d", s->dir, e->name, e->dim, s->dim); return -1; }
    int64_t total = st_count(s, "SELECT count(*) FROM chunks WHERE context_only = 0");
    if (total < 0 || st_exec(s, "BEGIN IMMEDIATE") != 0) return -1;
    rg_vectors *nv = rg_vectors_new(s->dim, "Flat");
    sqlite3_stmt *sel = NULL, *ins = NULL;
    int64_t *ids = xmalloc(REEMBED_BATCH * sizeof *ids), last = INT64_MIN, done = 0;
    char **texts = xcalloc(REEMBED_BATCH, sizeof *texts);
    float *vecs = xmalloc((size_t)REEMBED_BATCH * (size_t)s->dim * sizeof *vecs);
    int n = 0;
    if (!nv || st_exec(s, "DELETE FROM vectors") != 0) goto fail;
    sel = st_prep(s, "SELECT id, text FROM chunks WHERE context_only = 0 AND id > ?1 ORDER BY id LIMIT ?2");
    ins = st_prep(s, "INSERT INTO vectors(chunk_id, vec) VALUES (?,?)");
    if (!sel || !ins) goto fail;
    for (;;) {
        sqlite3_bind_int64(sel, 1, last);
        sqlite3_bind_int(sel, 2, REEMBED_BATCH);
        n = 0;
        int rc;
        while ((rc = sqlite3_step(sel)) == SQLITE_ROW && n < REEMBED_BATCH) {
            const char *t = (const char *)sqlite3_column_text(sel, 1);
            ids[n] = sqlite3_column_int64(sel, 0);
            texts[n++] = xstrdup(t ? t : "");
        }
        sqlite3_reset(sel);
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
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    rg_vectors_free(nv);
    s->faiss_dirty = 1;   /* rewrite the (old) FAISS file if it was removed */
    return -1;
}

