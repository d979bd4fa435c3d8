/* index/store: see store.h. SQLite is the source of truth; FAISS is derived from the
 * vectors table and reconciled with it whenever the two may disagree. */
#include "index/store.h"
#include "index/schema.h"
#include "index/vectors.h"
#include "core/util.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define RG_FORMAT_VERSION 1

struct rg_store {
    char *dir, *db_path, *faiss_path, *gen_path, *manifest_path;
    sqlite3 *db;
    rg_vectors *vec;
    char encoder[160];
    int dim, writable, lock_fd, faiss_dirty;
    char repairs[512];
};

const char *rg_store_encoder(const rg_store *s) { return s->encoder; }
int rg_store_dim(const rg_store *s) { return s->dim; }
const char *rg_store_dir(const rg_store *s) { return s->dir; }
const char *rg_store_repairs(const rg_store *s) { return s->repairs; }

static int db_fail(rg_store *s, const char *what) {
    rg_err("%s: %s: %s", s->db_path, what, sqlite3_errmsg(s->db));
    return -1;
}

static int exec(rg_store *s, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        rg_err("%s: %s: %s", s->db_path, sql, err ? err : "failed");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *prep(rg_store *s, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) { db_fail(s, "prepare"); return NULL; }
    return st;
}

static char *col_text(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

static int64_t generation(rg_store *s) {
    int64_t g = -1;
    sqlite3_stmt *st = prep(s, "SELECT value FROM meta WHERE key='generation'");
    if (st && sqlite3_step(st) == SQLITE_ROW) g = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return g;
}

/* ---- manifest ---- */

static int manifest_write(rg_store *s, const char *spec) {
    json_t *m = json_pack("{s:i, s:s, s:s, s:i, s:s}", "format_version", RG_FORMAT_VERSION,
                          "encoder", s->encoder, "encoder_spec", spec ? spec : "",
                          "dim", s->dim, "metric", "inner_product");
    char *text = json_dumps(m, JSON_INDENT(2));
    json_decref(m);
    int rc = rg_write_file_atomic(s->manifest_path, text, strlen(text));
    free(text);
    return rc;
}

/* 1 read, 0 absent, -1 unreadable/invalid. */
static int manifest_read(rg_store *s, char *encoder, size_t enclen, int *dim) {
    if (access(s->manifest_path, F_OK) != 0) return 0;
    json_error_t je;
    json_t *m = json_load_file(s->manifest_path, 0, &je);
    if (!m) { rg_err("%s: invalid manifest: %s", s->manifest_path, je.text); return -1; }
    json_t *fv = json_object_get(m, "format_version"), *enc = json_object_get(m, "encoder"),
           *d = json_object_get(m, "dim");
    if (!json_is_integer(fv) || !json_is_string(enc) || !json_is_integer(d) ||
        json_integer_value(d) <= 0 || json_integer_value(d) > 65536) {
        rg_err("%s: manifest lacks format_version, encoder or dim", s->manifest_path);
        json_decref(m);
        return -1;
    }
    if (json_integer_value(fv) > RG_FORMAT_VERSION) {
        rg_err("%s: index format %lld is newer than this ragd (%d)", s->manifest_path,
               (long long)json_integer_value(fv), RG_FORMAT_VERSION);
        json_decref(m);
        return -1;
    }
    snprintf(encoder, enclen, "%s", json_string_value(enc));
    *dim = (int)json_integer_value(d);
    json_decref(m);
    return 1;
}

int rg_store_manifest_peek(const char *dir, char *encoder, size_t enclen, char *spec, size_t speclen, int *dim) {
    rg_store tmp = {0};
    tmp.manifest_path = xasprintf("%s/manifest.json", dir);
    int rc = manifest_read(&tmp, encoder, enclen, dim);
    if (rc == 1 && spec && speclen) {
        spec[0] = 0;
        json_t *m = json_load_file(tmp.manifest_path, 0, NULL);
        const char *sp = json_string_value(json_object_get(m, "encoder_spec"));
        if (sp) snprintf(spec, speclen, "%s", sp);
        json_decref(m);
    }
    free(tmp.manifest_path);
    return rc;
}

/* ---- FAISS reconciliation ---- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int read_gen_file(rg_store *s, int64_t *gen) {
    size_t n;
    char *t = rg_read_file(s->gen_path, 64, &n);
    if (!t) return -1;
    char *end;
    *gen = strtoll(t, &end, 10);
    int ok = end != t;
    free(t);
    return ok ? 0 : -1;
}

static int64_t count_rows(rg_store *s, const char *sql) {
    int64_t n = -1;
    sqlite3_stmt *st = prep(s, sql);
    if (st && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Makes s->vec hold exactly the vectors table. Records what it changed in s->repairs. */
static int reconcile(rg_store *s) {
    int loaded = 0;
    int64_t fgen = -1, dbgen = generation(s);
    if (access(s->faiss_path, F_OK) == 0) {
        s->vec = rg_vectors_load(s->faiss_path, s->dim);
        if (!s->vec)
            snprintf(s->repairs, sizeof s->repairs, "FAISS file unreadable (%s), rebuilt from SQLite; ", rg_errmsg());
        else loaded = 1;
    }
    if (!s->vec) s->vec = rg_vectors_new(s->dim, "Flat");
    if (!s->vec) return -1;
    int64_t nrows = count_rows(s, "SELECT count(*) FROM vectors");
    if (loaded && read_gen_file(s, &fgen) == 0 && fgen == dbgen && nrows == rg_vectors_count(s->vec))
        return 0;

    /* Compare id sets: sorted FAISS ids against sorted vector rows. */
    int64_t nf = 0;
    int64_t *fids = rg_vectors_ids(s->vec, &nf);
    qsort(fids, (size_t)nf, sizeof *fids, cmp_i64);
    sqlite3_stmt *st = prep(s, "SELECT chunk_id, vec FROM vectors ORDER BY chunk_id");
    if (!st) { free(fids); return -1; }
    int64_t i = 0, added = 0, bad = 0;
    int64_t *extra = xmalloc((size_t)(nf + 1) * sizeof *extra), nextra = 0;
    size_t vbytes = (size_t)s->dim * sizeof(float);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        while (i < nf && fids[i] < id) extra[nextra++] = fids[i++];
        if (i < nf && fids[i] == id) { i++; continue; }
        if ((size_t)sqlite3_column_bytes(st, 1) != vbytes) { bad++; continue; }
        if (rg_vectors_add(s->vec, 1, sqlite3_column_blob(st, 1), &id) != 0) { sqlite3_finalize(st); free(fids); free(extra); return -1; }
        added++;
    }
    sqlite3_finalize(st);
    while (i < nf) extra[nextra++] = fids[i++];
    free(fids);
    if (rc != SQLITE_DONE) { free(extra); return db_fail(s, "reading vectors"); }
    if (nextra && rg_vectors_remove(s->vec, nextra, extra) < 0) { free(extra); return -1; }
    free(extra);
    if (!loaded && nrows == 0 && !s->repairs[0]) {
        s->faiss_dirty = 1;  /* a new index: nothing to repair, only a file to write */
    } else if (added || nextra || bad || !loaded) {
        size_t len = strlen(s->repairs);
        snprintf(s->repairs + len, sizeof s->repairs - len,
                 "FAISS %s SQLite: %lld vectors added, %lld removed%s%s",
                 loaded ? "reconciled with" : "file missing, rebuilt from",
                 (long long)added, (long long)nextra,
                 bad ? ", vectors of the wrong size skipped" : "",
                 s->writable ? "" : " (in memory; the next write saves it)");
        s->faiss_dirty = 1;
    } else if (s->writable) {
        s->faiss_dirty = 1;  /* only the generation stamp is stale */
    }
    if (s->writable) return rg_store_flush(s);
    return 0;
}

/* ---- open / close ---- */

void rg_store_close(rg_store *s) {
    if (!s) return;
    if (s->writable && s->faiss_dirty) rg_store_flush(s);
    rg_vectors_free(s->vec);
    if (s->db) sqlite3_close(s->db);
    if (s->lock_fd >= 0) close(s->lock_fd);
    free(s->dir); free(s->db_path); free(s->faiss_path); free(s->gen_path); free(s->manifest_path);
    free(s);
}

static int take_lock(rg_store *s) {
    char *path = xasprintf("%s/lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) { rg_err("%s: %s", path, strerror(errno)); free(path); return -1; }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) { rg_err("%s: %s", path, strerror(errno)); free(path); return -1; }
        fprintf(stderr, "ragd: waiting for another writer on %s\n", s->dir);
        while (flock(s->lock_fd, LOCK_EX) != 0) {
            if (errno != EINTR) { rg_err("%s: %s", path, strerror(errno)); free(path); return -1; }
        }
    }
    free(path);
    return 0;
}

rg_store *rg_store_open(const char *dir, const rg_store_opts *o) {
    rg_store *s = xcalloc(1, sizeof *s);
    s->lock_fd = -1;
    s->dir = xstrdup(dir);
    s->db_path = xasprintf("%s/ragd.db", dir);
    s->faiss_path = xasprintf("%s/vectors.faiss", dir);
    s->gen_path = xasprintf("%s/vectors.gen", dir);
    s->manifest_path = xasprintf("%s/manifest.json", dir);
    s->writable = o->writable;
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (!o->create) { rg_err("%s: no index here (run `ragd index PATH` first)", dir); goto fail; }
        if (rg_mkdir_p(dir, 0755) != 0) goto fail;
    } else if (!S_ISDIR(st.st_mode)) {
        rg_err("%s: not a directory", dir);
        goto fail;
    }
    if (s->writable && take_lock(s) != 0) goto fail;

    char menc[160] = "";
    int mdim = 0;
    int have = manifest_read(s, menc, sizeof menc, &mdim);
    if (have < 0) goto fail;
    if (have && o->encoder && (strcmp(menc, o->encoder) != 0 || mdim != o->dim)) {
        rg_err("%s: index was embedded with encoder %s (%d dims) but the configured encoder is %s (%d dims); "
               "use that encoder, or re-embed into a new index: ragd --index NEWDIR index PATH...",
               dir, menc, mdim, o->encoder, o->dim);
        goto fail;
    }
    if (!have && !o->encoder) {
        if (access(s->db_path, F_OK) != 0) rg_err("%s: no index here (run `ragd index PATH` first)", dir);
        else rg_err("%s: manifest.json missing; re-run `ragd index` to recreate it", dir);
        goto fail;
    }
    snprintf(s->encoder, sizeof s->encoder, "%s", have ? menc : o->encoder);
    s->dim = have ? mdim : o->dim;
    if (!have && !s->writable) { rg_err("%s: no index here (run `ragd index PATH` first)", dir); goto fail; }

    int flags = s->writable ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(s->db_path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rg_err("%s: %s", s->db_path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;") != 0) goto fail;
    if (s->writable) {
        if (rg_schema_migrate(s->db, s->db_path) != 0) goto fail;
        if (!have && manifest_write(s, o->encoder_spec) != 0) goto fail;
    } else {
        int64_t v = count_rows(s, "PRAGMA user_version");
        if (v != RG_SCHEMA_VERSION) {
            rg_err("%s: schema version %lld, this ragd needs %d (run `ragd index` once to migrate)",
                   s->db_path, (long long)v, RG_SCHEMA_VERSION);
            goto fail;
        }
    }
    if (reconcile(s) != 0) goto fail;
    return s;
fail:
    rg_store_close(s);
    return NULL;
}

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
    d->doc_id = col_text(st, 1); d->source = col_text(st, 2); d->kind = col_text(st, 3);
    d->title = col_text(st, 4); d->hash = col_text(st, 5); d->meta_json = col_text(st, 6);
    d->etag = col_text(st, 7); d->last_modified = col_text(st, 8);
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
        sqlite3_stmt *st = prep(s, sqls[i]);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, doc_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && info) doc_from_row(st, info);
        sqlite3_finalize(st);
        if (rc == SQLITE_ROW) return 1;
        if (rc != SQLITE_DONE) return db_fail(s, "get document");
    }
    return 0;
}

int rg_store_docs_of_source(rg_store *s, const char *source, char ***ids, int *n) {
    *ids = NULL; *n = 0;
    sqlite3_stmt *st = prep(s, "SELECT doc_id FROM documents WHERE source = ? ORDER BY doc_id");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *ids = xrealloc(*ids, (size_t)(*n + 1) * sizeof **ids);
        (*ids)[(*n)++] = col_text(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, "documents of a source");
}

int rg_store_list_docs(rg_store *s, rg_doc_info **out, int *n) {
    *out = NULL; *n = 0;
    sqlite3_stmt *st = prep(s, "SELECT " DOC_COLS " FROM documents d ORDER BY d.doc_id");
    if (!st) return -1;
    int cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) { cap = cap ? cap * 2 : 64; *out = xrealloc(*out, (size_t)cap * sizeof **out); }
        memset(&(*out)[*n], 0, sizeof **out);
        doc_from_row(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, "list documents");
}

/* Chunk ids with vectors of the document with this rowid. */
static int64_t *doc_vector_ids(rg_store *s, int64_t rowid, int64_t *n) {
    *n = 0;
    sqlite3_stmt *st = prep(s, "SELECT v.chunk_id FROM vectors v JOIN chunks c ON c.id = v.chunk_id WHERE c.doc = ?1");
    if (!st) return NULL;
    sqlite3_bind_int64(st, 1, rowid);
    int64_t cap = 16;
    int64_t *ids = xmalloc((size_t)cap * sizeof *ids);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) { cap *= 2; ids = xrealloc(ids, (size_t)cap * sizeof *ids); }
        ids[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
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
        sqlite3_stmt *st = prep(s, sqls[i]);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, rowid);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) return db_fail(s, "delete document");
    }
    return 0;
}

static int bump_generation(rg_store *s) {
    return exec(s, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'");
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

static int insert_table(rg_store *s, int64_t doc_rowid, int ord, const rg_block *b, int64_t *table_id) {
    const rg_table *t = b->table;
    sqlite3_stmt *st = prep(s, "INSERT INTO tables(doc, ord, nrows, ncols, header_rows, header_cols, caption, scale, section) "
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
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_fail(s, "insert table");
    *table_id = sqlite3_last_insert_rowid(s->db);
    st = prep(s, "INSERT INTO cells(table_id, row, col, raw, type, value, unit) VALUES (?,?,?,?,?,?,?)");
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
            if (rc != SQLITE_DONE) { sqlite3_finalize(st); return db_fail(s, "insert cell"); }
        }
    sqlite3_finalize(st);
    return 0;
}

int rg_store_put_doc(rg_store *s, const rg_doc *d, const rg_source_stamp *stamp,
                     const rg_chunk *chunks, int nchunks, const float *vecs) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    if (exec(s, "BEGIN IMMEDIATE") != 0) return -1;
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
    st = prep(s, "INSERT INTO documents(doc_id, source, content_hash, size, mtime, kind, title, metadata, etag, last_modified, indexed_at) "
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
    if (sqlite3_step(st) != SQLITE_DONE) { db_fail(s, "insert document"); goto fail; }
    sqlite3_finalize(st); st = NULL;
    int64_t doc_rowid = sqlite3_last_insert_rowid(s->db);

    for (int i = 0, t = 0; i < d->nblocks; i++)
        if (d->blocks[i].kind == RG_BLOCK_TABLE) {
            if (insert_table(s, doc_rowid, t, &d->blocks[i], &table_ids[t]) != 0) goto fail;
            t++;
        }

    st = prep(s, "INSERT INTO chunks(doc, ord, kind, text, section, parent, table_id, row_start, row_end, ntokens, page, offset, context_only) "
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
        if (rc != SQLITE_DONE) { db_fail(s, "insert chunk"); goto fail; }
        new_ids[i] = sqlite3_last_insert_rowid(s->db);
    }
    sqlite3_finalize(st); st = NULL;

    st = prep(s, "UPDATE chunks SET parent = ?2 WHERE id = ?1");
    if (!st) goto fail;
    for (int i = 0; i < nchunks; i++) {
        int p = chunks[i].parent;
        if (p < 0 || p >= nchunks || p == i) continue;
        sqlite3_bind_int64(st, 1, new_ids[i]);
        sqlite3_bind_int64(st, 2, new_ids[p]);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) { db_fail(s, "link parent"); goto fail; }
    }
    sqlite3_finalize(st); st = NULL;

    if (vecs) {
        st = prep(s, "INSERT INTO vectors(chunk_id, vec) VALUES (?,?)");
        if (!st) goto fail;
        for (int i = 0; i < nchunks; i++) {
            if (chunks[i].context_only) continue;
            sqlite3_bind_int64(st, 1, new_ids[i]);
            sqlite3_bind_blob(st, 2, vecs + (size_t)i * (size_t)s->dim, s->dim * (int)sizeof(float), SQLITE_STATIC);
            int rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_DONE) { db_fail(s, "insert vector"); goto fail; }
        }
        sqlite3_finalize(st); st = NULL;
    }
    if (bump_generation(s) != 0 || exec(s, "COMMIT") != 0) goto fail;

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
    sqlite3_finalize(st);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    free(old_ids); free(new_ids); free(table_ids);
    return -1;
}

int rg_store_remove_doc(rg_store *s, const char *doc_id) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    if (exec(s, "BEGIN IMMEDIATE") != 0) return -1;
    rg_doc_info info;
    int had = rg_store_get_doc(s, doc_id, &info);
    if (had <= 0) { exec(s, "ROLLBACK"); return had; }
    int64_t n = 0, *ids = doc_vector_ids(s, info.rowid, &n);
    int rc = delete_doc_rows(s, info.rowid);
    rg_doc_info_free(&info);
    if (rc != 0 || bump_generation(s) != 0 || exec(s, "COMMIT") != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        free(ids);
        return -1;
    }
    s->faiss_dirty = 1;
    rc = n ? rg_vectors_remove(s->vec, n, ids) : 0;
    free(ids);
    return rc < 0 ? -1 : 1;
}

int rg_store_flush(rg_store *s) {
    if (!s->writable || !s->faiss_dirty) return 0;
    int64_t gen = generation(s);
    if (rg_vectors_save(s->vec, s->faiss_path) != 0) return -1;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld\n", (long long)gen);
    if (rg_write_file_atomic(s->gen_path, buf, (size_t)n) != 0) return -1;
    s->faiss_dirty = 0;
    return 0;
}

/* ---- re-embedding (a refitted encoder) ---- */

int rg_store_each_chunk(rg_store *s, int (*fn)(int64_t id, const char *text, void *ctx), void *ctx) {
    sqlite3_stmt *st = prep(s, "SELECT id, text FROM chunks WHERE context_only = 0 ORDER BY id");
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 1);
        int r = fn(sqlite3_column_int64(st, 0), t ? t : "", ctx);
        if (r) { sqlite3_finalize(st); return r; }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, "reading chunks");
}

#define REEMBED_BATCH 256

int rg_store_reembed(rg_store *s, rg_encoder *e, const char *meta_key, const char *meta_value,
                     void (*progress)(int64_t done, int64_t total, void *ctx), void *ctx) {
    if (!s->writable) { rg_err("%s: index opened read-only", s->dir); return -1; }
    if (e->dim != s->dim) { rg_err("%s: encoder %s has %d dims, the index %d", s->dir, e->name, e->dim, s->dim); return -1; }
    int64_t total = count_rows(s, "SELECT count(*) FROM chunks WHERE context_only = 0");
    if (total < 0 || exec(s, "BEGIN IMMEDIATE") != 0) return -1;
    rg_vectors *nv = rg_vectors_new(s->dim, "Flat");
    sqlite3_stmt *sel = NULL, *ins = NULL;
    int64_t *ids = xmalloc(REEMBED_BATCH * sizeof *ids), last = INT64_MIN, done = 0;
    char **texts = xcalloc(REEMBED_BATCH, sizeof *texts);
    float *vecs = xmalloc((size_t)REEMBED_BATCH * (size_t)s->dim * sizeof *vecs);
    int n = 0;
    if (!nv || exec(s, "DELETE FROM vectors") != 0) goto fail;
    sel = prep(s, "SELECT id, text FROM chunks WHERE context_only = 0 AND id > ?1 ORDER BY id LIMIT ?2");
    ins = prep(s, "INSERT INTO vectors(chunk_id, vec) VALUES (?,?)");
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
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) { db_fail(s, "reading chunks"); goto fail; }
        if (!n) break;
        last = ids[n - 1];
        if (rg_encoder_embed(e, (const char *const *)texts, n, 0, vecs) != 0) goto fail;
        for (int i = 0; i < n; i++) {
            sqlite3_bind_int64(ins, 1, ids[i]);
            sqlite3_bind_blob(ins, 2, vecs + (size_t)i * (size_t)s->dim, s->dim * (int)sizeof(float), SQLITE_STATIC);
            rc = sqlite3_step(ins);
            sqlite3_reset(ins);
            if (rc != SQLITE_DONE) { db_fail(s, "insert vector"); goto fail; }
        }
        if (rg_vectors_add(nv, n, vecs, ids) != 0) goto fail;
        for (int i = 0; i < n; i++) { free(texts[i]); texts[i] = NULL; }
        done += n;
        n = 0;
        if (progress) progress(done, total, ctx);
    }
    sqlite3_finalize(sel); sel = NULL;
    sqlite3_finalize(ins); ins = NULL;
    if (meta_key) {
        sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)");
        if (!st) goto fail;
        sqlite3_bind_text(st, 1, meta_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, meta_value ? meta_value : "", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) { db_fail(s, "write meta"); goto fail; }
    }
    if (bump_generation(s) != 0) goto fail;
    /* The FAISS file holds the old vectors under the same ids, which reconciliation (it compares
     * ids) could not tell apart: remove it first, so that whatever happens next the file is
     * rebuilt from the committed rows. */
    if ((unlink(s->faiss_path) != 0 && errno != ENOENT) || (unlink(s->gen_path) != 0 && errno != ENOENT)) {
        rg_err("%s: %s", s->faiss_path, strerror(errno));
        goto fail;
    }
    if (exec(s, "COMMIT") != 0) goto fail;
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
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    rg_vectors_free(nv);
    s->faiss_dirty = 1;   /* rewrite the (old) FAISS file if it was removed */
    return -1;
}

/* ---- chunks and tables ---- */

void rg_chunk_row_free(rg_chunk_row *c) {
    if (!c) return;
    free(c->doc_id); free(c->source); free(c->text); free(c->section);
    memset(c, 0, sizeof *c);
}

#define CHUNK_COLS "c.id, d.doc_id, d.source, c.text, c.section, c.kind, c.ord, c.ntokens, c.page, " \
                   "c.row_start, c.row_end, c.table_id, c.parent"

static void chunk_from_row(sqlite3_stmt *st, rg_chunk_row *c) {
    c->id = sqlite3_column_int64(st, 0);
    c->doc_id = col_text(st, 1); c->source = col_text(st, 2);
    c->text = col_text(st, 3); c->section = col_text(st, 4);
    c->kind = sqlite3_column_int(st, 5); c->ord = sqlite3_column_int(st, 6);
    c->ntokens = sqlite3_column_int(st, 7); c->page = sqlite3_column_int(st, 8);
    c->row_start = sqlite3_column_int(st, 9); c->row_end = sqlite3_column_int(st, 10);
    c->table_id = sqlite3_column_type(st, 11) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 11);
    c->parent = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 12);
}

int rg_store_get_chunk(rg_store *s, int64_t chunk_id, rg_chunk_row *out) {
    sqlite3_stmt *st = prep(s, "SELECT " CHUNK_COLS " FROM chunks c JOIN documents d ON d.id = c.doc WHERE c.id = ?");
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, chunk_id);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) { chunk_from_row(st, out); found = 1; }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail(s, "get chunk");
    return found;
}

int rg_store_doc_chunks(rg_store *s, const char *doc_id, rg_chunk_row **out, int *n) {
    *out = NULL; *n = 0;
    sqlite3_stmt *st = prep(s, "SELECT " CHUNK_COLS " FROM chunks c JOIN documents d ON d.id = c.doc "
                               "WHERE d.doc_id = ? ORDER BY c.ord");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, doc_id, -1, SQLITE_STATIC);
    int cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) { cap = cap ? cap * 2 : 32; *out = xrealloc(*out, (size_t)cap * sizeof **out); }
        chunk_from_row(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, "document chunks");
}

rg_table *rg_store_get_table(rg_store *s, int64_t table_id) {
    sqlite3_stmt *st = prep(s, "SELECT nrows, ncols, header_rows, header_cols, caption, scale FROM tables WHERE id = ?");
    if (!st) return NULL;
    sqlite3_bind_int64(st, 1, table_id);
    if (sqlite3_step(st) != SQLITE_ROW) { sqlite3_finalize(st); rg_err("table %lld not found", (long long)table_id); return NULL; }
    int nr = sqlite3_column_int(st, 0), nc = sqlite3_column_int(st, 1);
    if (nr < 0 || nc < 0 || (int64_t)nr * nc > 10000000) { sqlite3_finalize(st); rg_err("table %lld: bad shape", (long long)table_id); return NULL; }
    rg_table *t = rg_table_new(nr, nc);
    t->header_rows = sqlite3_column_int(st, 2);
    t->header_cols = sqlite3_column_int(st, 3);
    t->caption = col_text(st, 4);
    const unsigned char *sc = sqlite3_column_text(st, 5);
    snprintf(t->scale, sizeof t->scale, "%s", sc ? (const char *)sc : "");
    sqlite3_finalize(st);
    st = prep(s, "SELECT row, col, raw, type, value, unit FROM cells WHERE table_id = ?");
    if (!st) { rg_table_free(t); return NULL; }
    sqlite3_bind_int64(st, 1, table_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        rg_cell *c = rg_table_cell(t, sqlite3_column_int(st, 0), sqlite3_column_int(st, 1));
        if (!c) continue;
        free(c->raw);
        c->raw = col_text(st, 2);
        if (!c->raw) c->raw = xstrdup("");
        c->type = (rg_cell_type)sqlite3_column_int(st, 3);
        c->value = sqlite3_column_double(st, 4);
        const unsigned char *u = sqlite3_column_text(st, 5);
        snprintf(c->unit, sizeof c->unit, "%s", u ? (const char *)u : "");
    }
    sqlite3_finalize(st);
    for (int i = 0; i < nr * nc; i++) if (!t->cells[i].raw) t->cells[i].raw = xstrdup("");
    return t;
}

int rg_store_doc_tables(rg_store *s, const char *doc_id, rg_table ***out, int64_t **ids, int *n) {
    *out = NULL; *n = 0;
    if (ids) *ids = NULL;
    sqlite3_stmt *st = prep(s, "SELECT t.id FROM tables t JOIN documents d ON d.id = t.doc WHERE d.doc_id = ? ORDER BY t.ord");
    if (!st) return -1;
    sqlite3_bind_text(st, 1, doc_id, -1, SQLITE_STATIC);
    int64_t *tid = NULL;
    int cnt = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        tid = xrealloc(tid, (size_t)(cnt + 1) * sizeof *tid);
        tid[cnt++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
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

/* ---- search ---- */

static int is_stopword(const char *w) {
    static const char *stop[] = {"a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for",
        "from", "had", "has", "have", "how", "in", "is", "it", "its", "of", "on", "or", "the", "that", "this",
        "to", "was", "were", "what", "when", "which", "who", "with", NULL};
    for (int i = 0; stop[i]; i++) if (strcasecmp(w, stop[i]) == 0) return 1;
    return 0;
}

#define FTS_MAX_WORDS 64
#define FTS_MAX_WORD_BYTES 64
/* Postings BM25 may read per query. FTS5 scores every row that matches any query term, so a
 * term found in a large share of a big corpus makes a query slow while adding almost nothing
 * to the ranking (its idf is near zero). Terms are taken rarest first until this budget is
 * spent; the rarest always counts. Small corpora never reach it. */
#define FTS_POSTING_BUDGET 8000

typedef struct { char w[FTS_MAX_WORD_BYTES + 1]; int64_t df; } fts_word;

/* The query's words: runs of letters and digits (any non-ASCII byte counts as a letter), so
 * no FTS5 operator, column filter, quote or parenthesis survives; stopwords and duplicates
 * dropped. */
static int fts_words(const char *q, fts_word *out) {
    char w[FTS_MAX_WORD_BYTES + 2];
    size_t wl = 0;
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)q;; p++) {
        int c = *p;
        if (c && (isalnum(c) || c >= 0x80)) { if (wl <= FTS_MAX_WORD_BYTES) w[wl++] = (char)c; continue; }
        if (wl && wl <= FTS_MAX_WORD_BYTES && n < FTS_MAX_WORDS) {
            w[wl] = 0;
            int dup = is_stopword(w);
            for (int i = 0; i < n && !dup; i++) dup = strcasecmp(out[i].w, w) == 0;
            if (!dup) { memcpy(out[n].w, w, wl + 1); out[n].df = -1; n++; }
        }
        wl = 0;
        if (!c) break;
    }
    return n;
}

/* ---- document frequencies, through the index's own tokenizer ---- */

typedef struct { sqlite3_stmt *vocab; int64_t df; int ntok; } df_ctx;

static int df_token(void *ctx, int flags, const char *tok, int ntok, int start, int end) {
    (void)flags; (void)start; (void)end;
    df_ctx *c = ctx;
    sqlite3_reset(c->vocab);
    sqlite3_bind_text(c->vocab, 1, tok, ntok, SQLITE_TRANSIENT);
    int64_t df = sqlite3_step(c->vocab) == SQLITE_ROW ? sqlite3_column_int64(c->vocab, 0) : 0;
    /* a word that splits into several tokens is a phrase: no more frequent than its rarest */
    if (c->ntok == 0 || df < c->df) c->df = df;
    c->ntok++;
    return SQLITE_OK;
}

/* Fills each word's document frequency (the number of chunks holding it). Returns -1 when the
 * tokenizer or the vocabulary table is unavailable: then every word is kept. */
static int fts_doc_freqs(rg_store *s, fts_word *w, int n) {
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (!api || api->iVersion < 2) return -1;
    void *ud = NULL;
    fts5_tokenizer tk;
    if (api->xFindTokenizer(api, "porter", &ud, &tk) != SQLITE_OK) return -1;
    /* the arguments of the chunks_fts tokenize= option (index/schema.c) */
    const char *args[] = {"unicode61", "remove_diacritics", "2"};
    Fts5Tokenizer *t = NULL;
    if (tk.xCreate(ud, args, 3, &t) != SQLITE_OK) return -1;
    if (sqlite3_exec(s->db, "CREATE VIRTUAL TABLE IF NOT EXISTS temp.rg_fts_vocab USING fts5vocab(main, chunks_fts, row)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT doc FROM temp.rg_fts_vocab WHERE term = ?", -1, &st, NULL) != SQLITE_OK) {
        tk.xDelete(t);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        df_ctx c = {st, 0, 0};
        tk.xTokenize(t, &c, FTS5_TOKENIZE_QUERY, w[i].w, (int)strlen(w[i].w), df_token);
        w[i].df = c.ntok ? c.df : 0;
    }
    sqlite3_finalize(st);
    tk.xDelete(t);
    return 0;
}

static int cmp_df(const void *a, const void *b) {
    int64_t x = ((const fts_word *)a)->df, y = ((const fts_word *)b)->df;
    return x < y ? -1 : x > y;
}

/* The FTS5 query: the chosen words, each quoted, OR-ed. It is bound as a parameter, never
 * spliced into SQL. NULL when nothing in the text can match. */
static char *fts_query(rg_store *s, const char *q) {
    fts_word w[FTS_MAX_WORDS];
    int n = fts_words(q, w);
    if (!n) return NULL;
    if (fts_doc_freqs(s, w, n) == 0) {
        qsort(w, (size_t)n, sizeof *w, cmp_df);
        int m = 0;
        while (m < n && w[m].df == 0) m++;         /* in no chunk: cannot contribute */
        memmove(w, w + m, (size_t)(n - m) * sizeof *w);
        n -= m;
        int64_t spent = 0;
        for (m = 0; m < n; m++) {
            if (m > 0 && spent + w[m].df > FTS_POSTING_BUDGET) break;
            spent += w[m].df;
        }
        n = m;
        if (!n) return NULL;
    }
    rg_buf b = {0};
    for (int i = 0; i < n; i++) {
        if (b.len) rg_buf_puts(&b, " OR ");
        rg_buf_putc(&b, '"');
        rg_buf_puts(&b, w[i].w);
        rg_buf_putc(&b, '"');
    }
    return rg_buf_take(&b);
}

/* A filter as SQL conditions over chunks c JOIN documents d, with "?" parameters bound in
 * order by filter_bind. Every user value is a parameter. */
typedef struct { const char *v[8 + 3 * RG_FILTER_MAX_META]; int is_int[8 + 3 * RG_FILTER_MAX_META]; int iv[8 + 3 * RG_FILTER_MAX_META]; int n; } filter_params;

static void fp_text(filter_params *p, const char *v) { p->is_int[p->n] = 0; p->v[p->n++] = v; }

static int filter_active(const rg_search_filter *f) {
    return f && (f->doc_id || f->source_glob || f->kind >= 0 || f->date_from || f->date_to || f->nmeta > 0);
}

static char *filter_sql(const rg_search_filter *f, filter_params *p) {
    rg_buf b = {0};
    p->n = 0;
    rg_buf_puts(&b, "1");
    if (!f) return rg_buf_take(&b);
    if (f->doc_id) { rg_buf_puts(&b, " AND d.doc_id = ?"); fp_text(p, f->doc_id); }
    if (f->source_glob) { rg_buf_puts(&b, " AND d.source GLOB ?"); fp_text(p, f->source_glob); }
    if (f->kind >= 0) { rg_buf_puts(&b, " AND c.kind = ?"); p->is_int[p->n] = 1; p->iv[p->n++] = f->kind; }
    const char *bounds[2] = {f->date_from, f->date_to};
    for (int i = 0; i < 2; i++) {
        if (!bounds[i]) continue;
        const char *date = f->date_key
            ? "(CASE WHEN json_valid(d.metadata) THEN (SELECT CAST(value AS TEXT) FROM json_each(d.metadata) WHERE key = ?) END)"
            : "strftime('%Y-%m-%dT%H:%M:%S', d.indexed_at, 'unixepoch')";
        /* the upper bound is inclusive of everything it prefixes: "2024-03" takes all of March */
        if (i == 0) rg_buf_printf(&b, " AND %s >= ?", date);
        else rg_buf_printf(&b, " AND substr(%s, 1, length(?)) <= ?", date);
        if (f->date_key) fp_text(p, f->date_key);
        fp_text(p, bounds[i]);
        if (i == 1) fp_text(p, bounds[i]);
    }
    for (int i = 0; i < f->nmeta && i < RG_FILTER_MAX_META; i++) {
        if (!f->meta_key[i] || !f->meta_value[i]) continue;
        rg_buf_puts(&b, " AND (CASE WHEN json_valid(d.metadata) THEN EXISTS (SELECT 1 FROM json_each(d.metadata) "
                        "WHERE key = ? AND CAST(value AS TEXT) = ?) ELSE 0 END)");
        fp_text(p, f->meta_key[i]);
        fp_text(p, f->meta_value[i]);
    }
    return rg_buf_take(&b);
}

static void filter_bind(sqlite3_stmt *st, int first, const filter_params *p) {
    for (int i = 0; i < p->n; i++) {
        if (p->is_int[i]) sqlite3_bind_int(st, first + i, p->iv[i]);
        else sqlite3_bind_text(st, first + i, p->v[i], -1, SQLITE_TRANSIENT);
    }
}

int rg_store_search_bm25(rg_store *s, const char *query, int k, const rg_search_filter *f,
                         rg_hit **out, int *n) {
    *out = NULL; *n = 0;
    if (k <= 0) return 0;
    char *q = fts_query(s, query ? query : "");
    if (!q) return 0;
    filter_params fp;
    fp.n = 0;
    /* Column weights: the chunk text (table rows carry their headers inline) counts fully,
     * the section path half. Without a filter the FTS table is ranked alone (its rowids are
     * chunk ids, kept in step by triggers): joining every matching row first costs twice as
     * much on a big index. */
    char *sql;
    if (filter_active(f)) {
        char *cond = filter_sql(f, &fp);
        sql = xasprintf("SELECT c.id, -bm25(chunks_fts, 1.0, 0.5) FROM chunks_fts "
                        "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.doc "
                        "WHERE chunks_fts MATCH ? AND %s ORDER BY bm25(chunks_fts, 1.0, 0.5) LIMIT ?", cond);
        free(cond);
    } else {
        sql = xstrdup("SELECT rowid, -bm25(chunks_fts, 1.0, 0.5) FROM chunks_fts WHERE chunks_fts MATCH ? "
                      "ORDER BY bm25(chunks_fts, 1.0, 0.5) LIMIT ?");
    }
    sqlite3_stmt *st = prep(s, sql);
    free(sql);
    if (!st) { free(q); return -1; }
    sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
    filter_bind(st, 2, &fp);
    sqlite3_bind_int(st, 2 + fp.n, k);
    free(q);
    *out = xmalloc((size_t)k * sizeof **out);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < k) {
        (*out)[*n].chunk_id = sqlite3_column_int64(st, 0);
        (*out)[*n].score = sqlite3_column_double(st, 1);
        (*n)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) { free(*out); *out = NULL; *n = 0; return db_fail(s, "bm25 search"); }
    return 0;
}

static int cmp_hit(const void *a, const void *b) {
    const rg_hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->chunk_id < y->chunk_id ? -1 : x->chunk_id > y->chunk_id;
}

/* Exact scoring of every chunk that passes the filter, from the stored vectors. */
static int dense_exact(rg_store *s, const float *q, int k, const rg_search_filter *f, rg_hit **out, int *n) {
    filter_params fp;
    char *cond = filter_sql(f, &fp);
    char *sql = xasprintf("SELECT v.chunk_id, v.vec FROM vectors v JOIN chunks c ON c.id = v.chunk_id "
                          "JOIN documents d ON d.id = c.doc WHERE %s", cond);
    free(cond);
    sqlite3_stmt *st = prep(s, sql);
    free(sql);
    if (!st) return -1;
    filter_bind(st, 1, &fp);
    int cap = 0, cnt = 0, rc;
    rg_hit *all = NULL;
    size_t vbytes = (size_t)s->dim * sizeof(float);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)sqlite3_column_bytes(st, 1) != vbytes) continue;
        const float *v = sqlite3_column_blob(st, 1);
        float dot = 0;
        for (int i = 0; i < s->dim; i++) dot += v[i] * q[i];
        if (cnt == cap) { cap = cap ? cap * 2 : 64; all = xrealloc(all, (size_t)cap * sizeof *all); }
        all[cnt].chunk_id = sqlite3_column_int64(st, 0);
        all[cnt].score = dot;
        cnt++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) { free(all); return db_fail(s, "dense search"); }
    if (cnt) qsort(all, (size_t)cnt, sizeof *all, cmp_hit);
    *out = all;
    *n = cnt < k ? cnt : k;
    return 0;
}

#define DENSE_OVERFETCH_MAX 16384

int rg_store_search_dense(rg_store *s, const float *q, int k, const rg_search_filter *f,
                          rg_hit **out, int *n) {
    *out = NULL; *n = 0;
    if (k <= 0) return 0;
    int64_t total = rg_vectors_count(s->vec);
    if (!filter_active(f)) {
        if (total == 0) return 0;
        int kk = (int64_t)k > total ? (int)total : k;
        float *sc = xmalloc((size_t)kk * sizeof *sc);
        int64_t *ids = xmalloc((size_t)kk * sizeof *ids);
        if (rg_vectors_search(s->vec, q, kk, sc, ids) != 0) { free(sc); free(ids); return -1; }
        *out = xmalloc((size_t)kk * sizeof **out);
        for (int i = 0; i < kk; i++) {
            if (ids[i] < 0) continue;
            (*out)[*n].chunk_id = ids[i];
            (*out)[*n].score = sc[i];
            (*n)++;
        }
        free(sc); free(ids);
        return 0;
    }
    /* One document: its chunks are few, score them exactly. */
    if (f->doc_id) return dense_exact(s, q, k, f, out, n);
    /* Otherwise over-fetch from FAISS with a growing k, keeping the hits that pass the filter,
     * until k of them are found or FAISS is exhausted; a filter so selective that this does not
     * converge quickly falls back to exact scoring of the filtered set. */
    filter_params fp;
    char *cond = filter_sql(f, &fp);
    char *sql = xasprintf("SELECT 1 FROM chunks c JOIN documents d ON d.id = c.doc WHERE c.id = ? AND %s", cond);
    free(cond);
    sqlite3_stmt *st = prep(s, sql);
    free(sql);
    if (!st) return -1;
    int kk = k * 4 < 64 ? 64 : k * 4;
    rg_hit *hits = xmalloc((size_t)k * sizeof *hits);
    int rc = 0;
    for (;;) {
        if ((int64_t)kk > total) kk = (int)total;
        float *sc = xmalloc(((size_t)kk + 1) * sizeof *sc);
        int64_t *ids = xmalloc(((size_t)kk + 1) * sizeof *ids);
        if (kk > 0 && rg_vectors_search(s->vec, q, kk, sc, ids) != 0) { free(sc); free(ids); rc = -1; break; }
        int cnt = 0;
        for (int i = 0; i < kk && cnt < k; i++) {
            if (ids[i] < 0) continue;
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, ids[i]);
            filter_bind(st, 2, &fp);
            int r = sqlite3_step(st);
            if (r == SQLITE_ROW) { hits[cnt].chunk_id = ids[i]; hits[cnt].score = sc[i]; cnt++; }
            else if (r != SQLITE_DONE) { db_fail(s, "dense filter"); rc = -1; break; }
        }
        free(sc); free(ids);
        if (rc != 0) break;
        if (cnt >= k || (int64_t)kk >= total) { *n = cnt; break; }
        if (kk >= DENSE_OVERFETCH_MAX) {
            sqlite3_finalize(st);
            free(hits);
            return dense_exact(s, q, k, f, out, n);
        }
        kk *= 4;
    }
    sqlite3_finalize(st);
    if (rc != 0) { free(hits); *n = 0; return -1; }
    *out = hits;
    return 0;
}

/* ---- status and checks ---- */

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int rg_store_stats_get(rg_store *s, rg_store_stats *st) {
    memset(st, 0, sizeof *st);
    st->documents = count_rows(s, "SELECT count(*) FROM documents");
    st->chunks = count_rows(s, "SELECT count(*) FROM chunks WHERE context_only = 0");
    st->tables = count_rows(s, "SELECT count(*) FROM tables");
    st->cells = count_rows(s, "SELECT count(*) FROM cells");
    st->vectors = count_rows(s, "SELECT count(*) FROM vectors");
    st->faiss_vectors = rg_vectors_count(s->vec);
    st->schema_version = (int)count_rows(s, "PRAGMA user_version");
    char *wal = xasprintf("%s-wal", s->db_path);
    st->db_bytes = file_size(s->db_path) + file_size(wal);
    free(wal);
    st->faiss_bytes = file_size(s->faiss_path);
    return st->documents < 0 ? -1 : 0;
}

int rg_store_check(rg_store *s, char **report) {
    rg_buf b = {0};
    int problems = 0;
    sqlite3_stmt *st = prep(s, "PRAGMA integrity_check");
    if (!st) return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (r && strcmp(r, "ok") != 0) { rg_buf_printf(&b, "sqlite: %s\n", r); problems++; }
    }
    sqlite3_finalize(st);
    if (s->writable) {
        char *err = NULL;
        if (sqlite3_exec(s->db, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)", NULL, NULL, &err) != SQLITE_OK) {
            rg_buf_printf(&b, "fts5: %s\n", err ? err : "integrity check failed");
            problems++;
        }
        sqlite3_free(err);
    }
    static const char *orphans[][2] = {
        {"SELECT count(*) FROM chunks WHERE doc NOT IN (SELECT id FROM documents)", "chunks without a document"},
        {"SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)", "vectors without a chunk"},
        {"SELECT count(*) FROM tables WHERE doc NOT IN (SELECT id FROM documents)", "tables without a document"},
        {"SELECT count(*) FROM cells WHERE table_id NOT IN (SELECT id FROM tables)", "cells without a table"},
        {"SELECT count(*) FROM chunks WHERE context_only = 0 AND id NOT IN (SELECT rowid FROM chunks_fts)", "chunks missing from FTS"},
    };
    for (size_t i = 0; i < sizeof orphans / sizeof *orphans; i++) {
        int64_t n = count_rows(s, orphans[i][0]);
        if (n != 0) { rg_buf_printf(&b, "%lld %s\n", (long long)n, orphans[i][1]); problems++; }
    }
    /* FAISS ids must equal the vector rows exactly. */
    int64_t nf = 0, *fids = rg_vectors_ids(s->vec, &nf);
    qsort(fids, (size_t)nf, sizeof *fids, cmp_i64);
    st = prep(s, "SELECT chunk_id FROM vectors ORDER BY chunk_id");
    int64_t i = 0, mismatch = 0, nrows = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        nrows++;
        if (i < nf && fids[i] == id) i++;
        else mismatch++;
    }
    sqlite3_finalize(st);
    free(fids);
    if (mismatch || nf != nrows) {
        rg_buf_printf(&b, "faiss: %lld vectors, sqlite: %lld rows, %lld missing from FAISS\n",
                      (long long)nf, (long long)nrows, (long long)mismatch);
        problems++;
    }
    *report = rg_buf_take(&b);
    return problems ? 1 : 0;
}
