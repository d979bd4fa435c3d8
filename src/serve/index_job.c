/* serve/index_job: see index_job.h */
#include "serve/index_job.h"
#include "core/util.h"
#include "ingest/chunk.h"
#include "ingest/parse.h"
#include "ingest/url.h"
#include "ingest/walk.h"
#include "serve/lsa_refit.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bumped when parsing or chunking changes, so that unchanged files are re-read. */
#define RG_PIPELINE_VERSION "2"
#define FLUSH_EVERY 200

void rg_index_opts_default(rg_index_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_file_size = 64LL << 20;
}

void rg_index_report_free(rg_index_report *r) {
    for (int i = 0; i < r->nfailures; i++) { free(r->failures[i].source); free(r->failures[i].why); }
    free(r->failures);
    r->failures = NULL;
    r->nfailures = 0;
}

static void fail(rg_index_report *r, const char *source, const char *why) {
    r->failures = xrealloc(r->failures, (size_t)(r->nfailures + 1) * sizeof *r->failures);
    r->failures[r->nfailures].source = xstrdup(source);
    r->failures[r->nfailures].why = xstrdup(why);
    r->nfailures++;
    r->failed++;
}

static void walk_warn(const char *path, const char *why, void *ctx) {
    rg_index_report *r = ctx;
    r->failures = xrealloc(r->failures, (size_t)(r->nfailures + 1) * sizeof *r->failures);
    r->failures[r->nfailures].source = xstrdup(path);
    r->failures[r->nfailures].why = xstrdup(why);
    r->nfailures++;
}

typedef struct { char *path, *id; int64_t size, mtime; } source;

static void progress(const rg_index_report *r, double t0, int final) {
    double dt = rg_now() - t0;
    double mbs = dt > 0 ? r->bytes / dt / 1e6 : 0;
    double eta = (r->done && r->done < r->total) ? dt / r->done * (r->total - r->done) : 0;
    fprintf(stderr, "\r%d/%d files, %.1f MB/s, %lld chunks, ETA %.0fs   %s", r->done, r->total, mbs,
            (long long)r->chunks, eta, final ? "\n" : "");
}

/* A source's content hash: its bytes and the pipeline version, so a new pipeline re-reads it. */
static const char pipeline_suffix[] = "\n#ragd-pipeline-" RG_PIPELINE_VERSION;
static void source_hash(const char *data, size_t len, char out[65]) {
    rg_content_hash(data, len, pipeline_suffix, sizeof pipeline_suffix - 1, out);
}

/* Whether a stored hash is this source's: the current kind (hash, just made), or SHA-256 as
 * releases before XXH3 stored it, checked with SHA-256 so that an upgrade re-reads nothing;
 * such a source keeps its old hash until it changes. */
static int same_source_hash(const char *stored, const char *data, size_t len, const char *hash) {
    if (!stored) return 0;
    if (strncmp(stored, RG_CONTENT_HASH_PREFIX, sizeof RG_CONTENT_HASH_PREFIX - 1) == 0) return strcmp(stored, hash) == 0;
    if (strlen(stored) != 64) return 0;
    char old[65];
    rg_sha256_hex2(data, len, pipeline_suffix, sizeof pipeline_suffix - 1, old);
    return strcmp(stored, old) == 0;
}

/* Parses, chunks, embeds and stores one source's bytes. */
static int ingest_bytes(rg_store *s, rg_encoder *e, const source *src, const char *data, size_t len,
                        const char *content_type, const rg_source_stamp *stamp, const rg_index_opts *o,
                        rg_index_report *r) {
    rg_doc **docs = NULL;
    int ndocs = 0;
    if (rg_parse_buffer(src->path, src->id, data, len, content_type, &docs, &ndocs) != 0) {
        fail(r, src->path, rg_errmsg());
        return 0;
    }
    rg_chunk_opts co;
    rg_chunk_opts_default(&co);
    if (o->max_tokens > 0) co.max_tokens = o->max_tokens;
    int rc = 0;
    for (int i = 0; i < ndocs && rc == 0; i++) {
        rg_chunk *chunks = NULL;
        int nchunks = 0;
        if (rg_chunk_doc(docs[i], &co, &chunks, &nchunks) != 0) { fail(r, src->path, rg_errmsg()); continue; }
        float *vecs = NULL;
        if (e && nchunks) {
            vecs = xcalloc((size_t)nchunks * (size_t)e->dim, sizeof *vecs);
            const char **texts = xmalloc((size_t)nchunks * sizeof *texts);
            int nt = 0, *map = xmalloc((size_t)nchunks * sizeof *map);
            for (int c = 0; c < nchunks; c++)
                if (!chunks[c].context_only) { map[nt] = c; texts[nt++] = chunks[c].text; }
            float *tmp = xmalloc(((size_t)nt + 1) * (size_t)e->dim * sizeof *tmp);
            if (rg_encoder_embed(e, texts, nt, 0, tmp) != 0) {
                fail(r, src->path, rg_errmsg());
                free(tmp); free(texts); free(map); free(vecs); rg_chunks_free(chunks, nchunks);
                continue;
            }
            for (int t = 0; t < nt; t++)
                memcpy(vecs + (size_t)map[t] * (size_t)e->dim, tmp + (size_t)t * (size_t)e->dim, (size_t)e->dim * sizeof *tmp);
            free(tmp); free(texts); free(map);
        }
        if (rg_store_put_doc(s, docs[i], stamp, chunks, nchunks, vecs) != 0) rc = -1;
        else { r->chunks += nchunks; r->docs++; }
        free(vecs);
        rg_chunks_free(chunks, nchunks);
    }
    /* Documents that this source no longer yields (a multi-document file that shrank). */
    if (rc == 0) {
        char **ids = NULL;
        int nids = 0;
        if (rg_store_docs_of_source(s, src->path, &ids, &nids) == 0)
            for (int i = 0; i < nids; i++) {
                int keep = 0;
                for (int j = 0; j < ndocs; j++) if (strcmp(docs[j]->id, ids[i]) == 0) keep = 1;
                if (!keep && rg_store_remove_doc(s, ids[i]) > 0) r->removed++;
            }
        for (int i = 0; i < nids; i++) free(ids[i]);
        free(ids);
    }
    for (int i = 0; i < ndocs; i++) rg_doc_free(docs[i]);
    free(docs);
    if (rc != 0) fail(r, src->path, rg_errmsg());
    return rc;
}

/* buf: the run's read buffer, reused from file to file (the parsers copy what they keep) */
static int index_file(rg_store *s, rg_encoder *e, const source *src, const rg_index_opts *o, rg_index_report *r,
                      rg_buf *buf) {
    if (rg_read_file_into(src->path, (size_t)o->max_file_size, buf) != 0) { fail(r, src->path, rg_errmsg()); return 0; }
    char *data = buf->data;
    size_t len = buf->len;
    if (len == 0) { fail(r, src->path, "empty file"); return 0; }
    r->bytes += (int64_t)len;
    char hash[65];
    source_hash(data, len, hash);
    rg_doc_info info;
    int have = rg_store_get_doc(s, src->id, &info);
    if (have == 0) have = rg_store_get_doc(s, src->path, &info);
    if (have > 0) {
        int same = same_source_hash(info.hash, data, len, hash) && info.source && strcmp(info.source, src->path) == 0;
        rg_doc_info_free(&info);
        if (same) { r->unchanged++; return 0; }
    }
    rg_source_stamp stamp = {hash, src->size, src->mtime, NULL, NULL};
    int rc = ingest_bytes(s, e, src, data, len, NULL, &stamp, o, r);
    if (rc == 0) r->indexed++;
    return rc;
}

/* A URL: a conditional GET with the validators kept from the last fetch; 304 or the same
 * bytes count as unchanged. The document id and source are the URL. */
static int index_url(rg_store *s, rg_encoder *e, const source *src, const rg_index_opts *o, rg_index_report *r) {
    rg_doc_info info;
    int have = rg_store_get_doc(s, src->path, &info);
    if (have < 0) return -1;
    rg_fetch_opts fo = {(size_t)o->max_file_size, 0, have ? info.etag : NULL, have ? info.last_modified : NULL};
    rg_fetch_result res;
    int frc = rg_fetch_url(src->path, &fo, &res);
    if (frc != 0 || res.not_modified) {
        if (frc != 0) fail(r, src->path, rg_errmsg());
        else r->unchanged++;
        rg_fetch_result_free(&res);
        if (have) rg_doc_info_free(&info);
        return 0;
    }
    r->bytes += (int64_t)res.len;
    char hash[65];
    source_hash(res.body, res.len, hash);
    int same = have && same_source_hash(info.hash, res.body, res.len, hash);
    if (have) rg_doc_info_free(&info);
    int rc = 0;
    if (same) r->unchanged++;
    else if (res.len == 0) fail(r, src->path, "empty document");
    else {
        rg_source_stamp stamp = {hash, (int64_t)res.len, rg_unix_time(), res.etag, res.last_modified};
        rc = ingest_bytes(s, e, src, res.body, res.len, res.content_type, &stamp, o, r);
        if (rc == 0) r->indexed++;
    }
    rg_fetch_result_free(&res);
    return rc;
}

int rg_index_run(rg_store *s, rg_encoder *e, char *const *paths, int npaths, const rg_index_opts *o,
                 rg_index_report *r) {
    double t0 = rg_now();
    rg_walk_opts wo = {o->exclude, o->nexclude, walk_warn, r};
    source *srcs = NULL;
    int nsrcs = 0;
    char **roots = xcalloc((size_t)npaths + 1, sizeof *roots);
    for (int i = 0; i < npaths; i++) {
        const char *p = paths[i];
        if (rg_is_url(p)) {
            srcs = xrealloc(srcs, (size_t)(nsrcs + 1) * sizeof *srcs);
            srcs[nsrcs++] = (source){xstrdup(p), xstrdup(p), 0, 0};
            continue;
        }
        char *abs = realpath(p, NULL);
        if (!abs) { fail(r, p, strerror(errno)); continue; }
        struct stat st;
        if (stat(abs, &st) != 0) { fail(r, p, strerror(errno)); free(abs); continue; }
        if (S_ISDIR(st.st_mode)) {
            roots[i] = xstrdup(abs);
            rg_walk_entry *ents = NULL;
            int n = 0;
            if (rg_walk(abs, &wo, &ents, &n) != 0) { fail(r, p, rg_errmsg()); free(abs); continue; }
            srcs = xrealloc(srcs, (size_t)(nsrcs + n + 1) * sizeof *srcs);
            for (int j = 0; j < n; j++) {
                srcs[nsrcs++] = (source){ents[j].path, ents[j].rel, ents[j].size, ents[j].mtime};
                ents[j].path = ents[j].rel = NULL;
            }
            rg_walk_free(ents, n);
        } else if (S_ISREG(st.st_mode)) {
            srcs = xrealloc(srcs, (size_t)(nsrcs + 1) * sizeof *srcs);
            srcs[nsrcs++] = (source){xstrdup(abs), xstrdup(abs), (int64_t)st.st_size, (int64_t)st.st_mtime};
        } else {
            fail(r, p, "not a regular file or folder");
        }
        free(abs);
    }
    r->total = nsrcs;
    r->sources = nsrcs;
    /* The LSA model may have been refitted by another writer since e was opened. */
    int rc = rg_lsa_sync(s, e);
    double last_draw = 0;
    rg_buf readbuf = {0};
    /* Sources are stored in batches, several per transaction (store.h): a crash loses at most
     * the open batch, whose sources are not recorded as indexed and so are redone by a re-run. */
    for (int i = 0; i < nsrcs && rc == 0; i++) {
        if (o->cancel && *o->cancel) break;
        int64_t before = r->bytes;
        if (!rg_store_batch_open(s)) rc = rg_store_batch_begin(s);
        if (rc == 0) rc = rg_is_url(srcs[i].path) ? index_url(s, e, &srcs[i], o, r) : index_file(s, e, &srcs[i], o, r, &readbuf);
        if (rc == 0) rc = rg_store_batch_tick(s, r->bytes - before);
        r->done = i + 1;
        if ((i + 1) % FLUSH_EVERY == 0 && rc == 0) rc = rg_store_flush(s);
        if (o->progress && rg_now() - last_draw > 0.2) { progress(r, t0, 0); last_draw = rg_now(); }
    }
    rg_buf_free(&readbuf);
    if (rg_store_batch_commit(s) != 0 && rc == 0) rc = -1;
    if (o->progress && nsrcs) progress(r, t0, 1);
    /* --prune: documents under a given folder whose file is gone (one batch). */
    if (rc == 0 && o->prune && (rc = rg_store_batch_begin(s)) == 0) {
        rg_doc_info *all = NULL;
        int nall = 0;
        if (rg_store_list_docs(s, &all, &nall) == 0) {
            for (int i = 0; i < nall; i++) {
                const char *src = all[i].source;
                if (!src || src[0] != '/') continue;
                int under = 0;
                for (int j = 0; j < npaths; j++) {
                    size_t n = roots[j] ? strlen(roots[j]) : 0;
                    if (n && strncmp(src, roots[j], n) == 0 && src[n] == '/') under = 1;
                }
                if (under && access(src, F_OK) != 0 && rg_store_remove_doc(s, all[i].doc_id) > 0) r->removed++;
            }
        }
        for (int i = 0; i < nall; i++) rg_doc_info_free(&all[i]);
        free(all);
        if (rg_store_batch_commit(s) != 0) rc = -1;
    }
    /* A corpus-fitted encoder refits (and re-embeds everything) when the corpus outgrew it. A
     * failed refit leaves the old model and vectors in force: reported, not fatal. */
    if (rc == 0 && rg_lsa_maybe_refit(s, e, 0, o->progress) < 0) walk_warn("(LSA refit)", rg_errmsg(), r);
    if (rg_store_flush(s) != 0 && rc == 0) rc = -1;
    for (int i = 0; i < nsrcs; i++) { free(srcs[i].path); free(srcs[i].id); }
    free(srcs);
    for (int i = 0; i < npaths; i++) free(roots[i]);
    free(roots);
    r->seconds = rg_now() - t0;
    return rc;
}
