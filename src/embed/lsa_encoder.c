/* embed/lsa_encoder: the "lsa-256" encoder over the model in force for an index.
 * The model version is read from the index database's meta table (key 'lsa_version'), which the
 * refit writes in the same transaction as the re-embedded vectors, so the model and the vectors
 * always agree. Version 0 (nothing fitted yet) embeds by feature hashing. The model can be
 * swapped while the encoder is in use (after a refit): embed holds a read lock. */
#include "embed/lsa.h"
#include "embed/lsa_internal.h"
#include "core/util.h"
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    pthread_rwlock_t lock;
    rg_lsa_model *m;        /* NULL at version 0 or when broken */
    int64_t version;
    char *broken;           /* why the model in force did not load */
    rg_encoder *hash;       /* version 0 */
    int64_t known, seen;    /* coverage counters, atomics */
} lsa_enc;

char *rg_lsa_model_path(const char *index_dir, int64_t version) {
    return xasprintf("%s/lsa-%lld.bin", index_dir, (long long)version);
}

/* The version in path's meta table with one way of opening: 0 and *v set, or -1. */
static int read_version(const char *path, int flags, int64_t *v) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int ok = -1;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rg_err("%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'lsa_version'", -1, &st, NULL) != SQLITE_OK) {
        /* A database without the meta table is one that was never written: nothing fitted. */
        if (strstr(sqlite3_errmsg(db), "no such table")) { *v = 0; ok = 0; }
        else rg_err("%s: reading the LSA version: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) { *v = 0; ok = 0; }
    else if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        char *end = NULL;
        long long x = t ? strtoll(t, &end, 10) : -1;
        if (!t || end == t || *end || x < 0) rg_err("%s: bad lsa_version \"%.40s\" in meta", path, t ? t : "");
        else { *v = x; ok = 0; }
    } else rg_err("%s: reading the LSA version: %s", path, sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

int64_t rg_lsa_index_version(const char *index_dir) {
    char *path = xasprintf("%s/ragd.db", index_dir);
    int64_t v = 0;
    /* Read-only first; a database left with a WAL by a killed writer needs a read-write handle
     * (SQLite replays the WAL on open), so that comes next. */
    if (access(path, F_OK) == 0 && read_version(path, SQLITE_OPEN_READONLY, &v) != 0 &&
        read_version(path, SQLITE_OPEN_READWRITE, &v) != 0)
        v = -1;
    free(path);
    return v;
}

static int lsa_embed(rg_encoder *e, const char *const *texts, int n, int is_query, float *out) {
    lsa_enc *x = e->impl;
    pthread_rwlock_rdlock(&x->lock);
    int rc = 0;
    if (x->broken) {
        rg_err("%s (run `ragd index` to refit the LSA model)", x->broken);
        rc = -1;
    } else if (!x->m) {
        rc = rg_encoder_embed(x->hash, texts, n, is_query, out);
    } else {
        int64_t known = 0, seen = 0;
        for (int i = 0; i < n; i++) {
            int s = 0;
            known += rg_lsa_embed_one(x->m, texts[i], out + (size_t)i * (size_t)e->dim, &s);
            seen += s;
        }
        if (!is_query) {
            __atomic_add_fetch(&x->known, known, __ATOMIC_RELAXED);
            __atomic_add_fetch(&x->seen, seen, __ATOMIC_RELAXED);
        }
    }
    pthread_rwlock_unlock(&x->lock);
    return rc;
}

static void lsa_destroy(rg_encoder *e) {
    lsa_enc *x = e->impl;
    pthread_rwlock_destroy(&x->lock);
    rg_lsa_model_unref(x->m);
    rg_encoder_free(x->hash);
    free(x->broken);
    free(x);
    free(e);
}

static rg_encoder *lsa_new(void) {
    rg_encoder *e = xcalloc(1, sizeof *e);
    lsa_enc *x = xcalloc(1, sizeof *x);
    pthread_rwlock_init(&x->lock, NULL);
    x->hash = rg_hash_encoder_new(RG_LSA_DIM);
    snprintf(e->name, sizeof e->name, "lsa-%d", RG_LSA_DIM);
    e->dim = RG_LSA_DIM;
    e->embed = lsa_embed;
    e->destroy = lsa_destroy;
    e->impl = x;
    return e;
}

int rg_lsa_is_encoder(const rg_encoder *e) { return e && e->destroy == lsa_destroy; }

rg_encoder *rg_lsa_encoder_with_model(rg_lsa_model *m, int64_t version) {
    rg_encoder *e = lsa_new();
    rg_lsa_encoder_set(e, m, version);
    return e;
}

rg_encoder *rg_lsa_encoder_open(const char *index_dir) {
    rg_encoder *e = lsa_new();
    lsa_enc *x = e->impl;
    /* A refit may replace the model between reading the version and loading the file. */
    for (int attempt = 0; attempt < 3; attempt++) {
        int64_t v = index_dir ? rg_lsa_index_version(index_dir) : 0;
        if (v < 0) {
            /* Not fatal: embedding says why, and an index run resyncs once the store is open. */
            free(x->broken);
            x->broken = xstrdup(rg_errmsg());
            return e;
        }
        x->version = v;
        if (v == 0) return e;
        char *path = rg_lsa_model_path(index_dir, v);
        rg_lsa_model *m = rg_lsa_load(path);
        free(path);
        if (m && m->dim != RG_LSA_DIM) {
            rg_err("LSA model version %lld has %d dimensions, expected %d", (long long)v, m->dim, RG_LSA_DIM);
            rg_lsa_model_unref(m);
            m = NULL;
        }
        if (m) { x->m = m; free(x->broken); x->broken = NULL; return e; }
        free(x->broken);
        x->broken = xstrdup(rg_errmsg());
        if (rg_lsa_index_version(index_dir) == v) break;
    }
    return e;
}

int64_t rg_lsa_encoder_version(rg_encoder *e) {
    lsa_enc *x = e->impl;
    pthread_rwlock_rdlock(&x->lock);
    int64_t v = x->version;
    pthread_rwlock_unlock(&x->lock);
    return v;
}

rg_lsa_model *rg_lsa_encoder_model(rg_encoder *e) {
    lsa_enc *x = e->impl;
    pthread_rwlock_rdlock(&x->lock);
    rg_lsa_model *m = x->m;
    rg_lsa_model_ref(m);
    pthread_rwlock_unlock(&x->lock);
    return m;
}

const char *rg_lsa_encoder_broken(rg_encoder *e) {
    lsa_enc *x = e->impl;
    return x->broken;
}

void rg_lsa_encoder_set(rg_encoder *e, rg_lsa_model *m, int64_t version) {
    lsa_enc *x = e->impl;
    rg_lsa_model_ref(m);
    pthread_rwlock_wrlock(&x->lock);
    rg_lsa_model *old = x->m;
    x->m = m;
    x->version = version;
    free(x->broken);
    x->broken = NULL;
    __atomic_store_n(&x->known, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&x->seen, 0, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&x->lock);
    rg_lsa_model_unref(old);
}

void rg_lsa_encoder_take_coverage(rg_encoder *e, int64_t *known, int64_t *seen) {
    lsa_enc *x = e->impl;
    *known = __atomic_exchange_n(&x->known, 0, __ATOMIC_RELAXED);
    *seen = __atomic_exchange_n(&x->seen, 0, __ATOMIC_RELAXED);
}
