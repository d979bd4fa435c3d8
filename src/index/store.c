/* index/store: see store.h. Opening (manifest, schema, FAISS reconciliation), the statement
 * cache, flushing, status and checks. SQLite is the source of truth; FAISS is derived from the
 * vectors table and reconciled with it whenever the two may disagree. Writes are in
 * store_write.c, reads in store_read.c, searches in store_search.c. */
#include "index/store_internal.h"
#include "index/schema.h"
#include "index/vectors.h"
#include "core/util.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define RG_FORMAT_VERSION 1

const char *rg_store_encoder(const rg_store *s) { return s->encoder; }
int rg_store_dim(const rg_store *s) { return s->dim; }
const char *rg_store_dir(const rg_store *s) { return s->dir; }
const char *rg_store_repairs(const rg_store *s) { return s->repairs; }

int st_fail(rg_store *s, const char *what) {
    rg_err("%s: %s: %s", s->db_path, what, sqlite3_errmsg(s->db));
    return -1;
}

int st_exec(rg_store *s, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        rg_err("%s: %s: %s", s->db_path, sql, err ? err : "failed");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static uint64_t sql_hash(const char *sql) {     /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    return h;
}

sqlite3_stmt *st_prep(rg_store *s, const char *sql) {
    uint64_t h = sql_hash(sql);
    st_slot *victim = NULL;
    for (int i = 0; i < ST_CACHE_SLOTS; i++) {
        st_slot *c = &s->cache[i];
        if (c->sql && !c->busy && c->hash == h && strcmp(c->sql, sql) == 0) {
            c->busy = 1;
            c->used = ++s->tick;
            return c->st;
        }
        if (!c->busy && (!victim || !c->sql || (victim->sql && c->used < victim->used))) victim = c;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        st_fail(s, "prepare");
        sqlite3_finalize(st);
        return NULL;
    }
    if (victim) {   /* else every slot is in use (nested queries): st stays uncached */
        if (victim->sql) { sqlite3_finalize(victim->st); free(victim->sql); }
        victim->sql = xstrdup(sql);
        victim->hash = h;
        victim->st = st;
        victim->busy = 1;
        victim->used = ++s->tick;
    }
    return st;
}

void st_done(rg_store *s, sqlite3_stmt *st) {
    if (!st) return;
    for (int i = 0; i < ST_CACHE_SLOTS; i++)
        if (s->cache[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            s->cache[i].busy = 0;
            return;
        }
    sqlite3_finalize(st);
}

static void st_cache_clear(rg_store *s) {
    for (int i = 0; i < ST_CACHE_SLOTS; i++) {
        sqlite3_finalize(s->cache[i].st);
        free(s->cache[i].sql);
        memset(&s->cache[i], 0, sizeof s->cache[i]);
    }
}

char *st_col_text(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

static int64_t generation(rg_store *s) {
    int64_t g = -1;
    sqlite3_stmt *st = st_prep(s, "SELECT value FROM meta WHERE key='generation'");
    if (st && sqlite3_step(st) == SQLITE_ROW) g = sqlite3_column_int64(st, 0);
    st_done(s, st);
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

int64_t st_count(rg_store *s, const char *sql) {
    int64_t n = -1;
    sqlite3_stmt *st = st_prep(s, sql);
    if (st && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    st_done(s, st);
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
    int64_t nrows = st_count(s, "SELECT count(*) FROM vectors");
    if (loaded && read_gen_file(s, &fgen) == 0 && fgen == dbgen && nrows == rg_vectors_count(s->vec))
        return 0;

    /* Compare id sets: sorted FAISS ids against sorted vector rows. */
    int64_t nf = 0;
    int64_t *fids = rg_vectors_ids(s->vec, &nf);
    qsort(fids, (size_t)nf, sizeof *fids, rg_cmp_i64);
    sqlite3_stmt *st = st_prep(s, "SELECT chunk_id, vec FROM vectors ORDER BY chunk_id");
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
        if (rg_vectors_add(s->vec, 1, sqlite3_column_blob(st, 1), &id) != 0) { st_done(s, st); free(fids); free(extra); return -1; }
        added++;
    }
    st_done(s, st);
    while (i < nf) extra[nextra++] = fids[i++];
    free(fids);
    if (rc != SQLITE_DONE) { free(extra); return st_fail(s, "reading vectors"); }
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
    rg_store_batch_commit(s);   /* what put_doc accepted is kept */
    if (s->writable && s->faiss_dirty) rg_store_flush(s);
    rg_vectors_free(s->vec);
    rg_lex_writer_free(s->lex);
    rg_lex_tok_free(s->lextok);
    st_cache_clear(s);
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

/* A reader of an index an older ragd wrote migrates it when no writer holds the index (as
 * that writer's first open would): a daemon upgraded in place serves at once. */
static int reader_migrate(rg_store *s) {
    char *path = xasprintf("%s/lock", s->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0) return -1;
    int rc = -1;
    /* Several readers may start at once (a daemon's workers): one migrates, the others see
     * the new version appear. A writer holding the lock has migrated already. */
    for (int tries = 0; tries < 200 && rc != 0; tries++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            rc = rg_schema_migrate(s->db, s->db_path);
            flock(fd, LOCK_UN);
            break;
        }
        usleep(50 * 1000);
        if (st_count(s, "PRAGMA user_version") == RG_SCHEMA_VERSION) rc = 0;
    }
    close(fd);
    return rc;
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
    /* A new database gets 16 KB pages (an existing one keeps its own; SQLite ignores this):
     * ingestion writes every page twice through the WAL, and at 4 KB pages the per-page work
     * (frames, checkpoint copies, b-tree balancing, overflow chains) cost a fifth of it; the
     * file is also 15% smaller, and search latency is unchanged (bench/ingest, bench/search). */
    if (s->writable && st_exec(s, "PRAGMA page_size=16384") != 0) goto fail;
    if (st_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;") != 0) goto fail;
    if (s->writable) {
        if (rg_schema_migrate(s->db, s->db_path) != 0) goto fail;
        if (!have && manifest_write(s, o->encoder_spec) != 0) goto fail;
        if (!(s->lex = rg_lex_writer_new(s->db))) goto fail;
    } else {
        int64_t v = st_count(s, "PRAGMA user_version");
        if (v >= 0 && v < RG_SCHEMA_VERSION && reader_migrate(s) == 0) v = st_count(s, "PRAGMA user_version");
        if (v != RG_SCHEMA_VERSION) {
            rg_err("%s: schema version %lld, this ragd needs %d (run `ragd index` once to migrate)",
                   s->db_path, (long long)v, RG_SCHEMA_VERSION);
            goto fail;
        }
    }
    if (o->no_vectors && !s->writable) s->vec = rg_vectors_new(s->dim, "Flat");   /* lent later */
    else if (reconcile(s) != 0) goto fail;
    if (!s->vec) goto fail;
    return s;
fail:
    rg_store_close(s);
    return NULL;
}

rg_vectors *rg_store_swap_vectors(rg_store *s, rg_vectors *v) {
    rg_vectors *old = s->vec;
    s->vec = v;
    return old;
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

/* ---- status and checks ---- */

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int rg_store_stats_get(rg_store *s, rg_store_stats *st) {
    memset(st, 0, sizeof *st);
    st->documents = st_count(s, "SELECT count(*) FROM documents");
    st->chunks = st_count(s, "SELECT count(*) FROM chunks WHERE context_only = 0");
    st->tables = st_count(s, "SELECT count(*) FROM tables");
    st->cells = st_count(s, "SELECT coalesce(sum(nrows * ncols), 0) FROM tables");   /* cells are packed per table */
    st->vectors = st_count(s, "SELECT count(*) FROM vectors");
    st->faiss_vectors = rg_vectors_count(s->vec);
    st->schema_version = (int)st_count(s, "PRAGMA user_version");
    st->bm25_segments = st_count(s, "SELECT count(*) FROM lex_seg");
    st->bm25_removed = st_count(s, "SELECT count(*) FROM lex_dead");
    char *wal = xasprintf("%s-wal", s->db_path);
    st->db_bytes = file_size(s->db_path) + file_size(wal);
    free(wal);
    st->faiss_bytes = file_size(s->faiss_path);
    return st->documents < 0 ? -1 : 0;
}

int rg_store_check(rg_store *s, char **report) {
    rg_buf b = {0};
    int problems = 0;
    sqlite3_stmt *st = st_prep(s, "PRAGMA integrity_check");
    if (!st) return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (r && strcmp(r, "ok") != 0) { rg_buf_printf(&b, "sqlite: %s\n", r); problems++; }
    }
    st_done(s, st);
    problems += rg_lex_check(s->db, &b);
    static const char *orphans[][2] = {
        {"SELECT count(*) FROM chunks WHERE doc NOT IN (SELECT id FROM documents)", "chunks without a document"},
        {"SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)", "vectors without a chunk"},
        {"SELECT count(*) FROM tables WHERE doc NOT IN (SELECT id FROM documents)", "tables without a document"},
        {"SELECT count(*) FROM tables WHERE cells IS NULL OR length(cells) < 1 + 3 * nrows * ncols", "tables without their cells"},
        {"SELECT count(*) FROM chunks c WHERE c.kind = 1 AND c.text = '' AND c.table_id IS NOT NULL "
         "AND NOT EXISTS (SELECT 1 FROM tables t WHERE t.id = c.table_id)", "table chunks stored without text whose table is gone"},
    };
    for (size_t i = 0; i < sizeof orphans / sizeof *orphans; i++) {
        int64_t n = st_count(s, orphans[i][0]);
        if (n != 0) { rg_buf_printf(&b, "%lld %s\n", (long long)n, orphans[i][1]); problems++; }
    }
    /* FAISS ids must equal the vector rows exactly. */
    int64_t nf = 0, *fids = rg_vectors_ids(s->vec, &nf);
    qsort(fids, (size_t)nf, sizeof *fids, rg_cmp_i64);
    st = st_prep(s, "SELECT chunk_id FROM vectors ORDER BY chunk_id");
    int64_t i = 0, mismatch = 0, nrows = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        nrows++;
        if (i < nf && fids[i] == id) i++;
        else mismatch++;
    }
    st_done(s, st);
    free(fids);
    if (mismatch || nf != nrows) {
        rg_buf_printf(&b, "faiss: %lld vectors, sqlite: %lld rows, %lld missing from FAISS\n",
                      (long long)nf, (long long)nrows, (long long)mismatch);
        problems++;
    }
    *report = rg_buf_take(&b);
    return problems ? 1 : 0;
}

