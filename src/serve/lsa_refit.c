/* serve/lsa_refit: see lsa_refit.h */
#include "serve/lsa_refit.h"
#include "embed/lsa.h"
#include "retrieve/search.h"
#include "core/util.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Below this share of known words among newly indexed chunks' words, the model is stale. */
#define COVERAGE_MIN 0.80

int rg_lsa_sync(rg_store *s, rg_encoder *e) {
    if (!rg_lsa_is_encoder(e)) return 0;
    int64_t v = rg_lsa_index_version(rg_store_dir(s));
    if (v < 0) return -1;
    if (v == rg_lsa_encoder_version(e) && !rg_lsa_encoder_broken(e)) return 0;
    if (v == 0) { rg_lsa_encoder_set(e, NULL, 0); rg_query_cache_clear(); return 0; }
    char *path = rg_lsa_model_path(rg_store_dir(s), v);
    rg_lsa_model *m = rg_lsa_load(path);
    free(path);
    if (!m) return rg_lsa_maybe_refit(s, e, 1, 0) < 0 ? -1 : 0;   /* unreadable: refit now, so this run can embed */
    rg_lsa_encoder_set(e, m, v);
    rg_lsa_model_unref(m);
    rg_query_cache_clear();   /* cached query vectors are keyed by "lsa-256", not the version */
    return 0;
}

static int add_text(int64_t id, const char *text, void *ctx) {
    (void)id;
    rg_lsa_builder_add(ctx, text);
    return 0;
}

static void draw(int64_t done, int64_t total, void *ctx) {
    (void)ctx;
    fprintf(stderr, "\rLSA: re-embedding %lld/%lld chunks   ", (long long)done, (long long)total);
}

/* Removes lsa-*.bin files other than the one in force (left by a crash or a refit). */
static void remove_stale(const char *dir, int64_t keep) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        long long v;
        char tail[8];
        if (sscanf(de->d_name, "lsa-%lld.bi%1s", &v, tail) == 2 && strcmp(tail, "n") == 0 && v != keep) {
            char *p = xasprintf("%s/%s", dir, de->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
}

int rg_lsa_maybe_refit(rg_store *s, rg_encoder *e, int force, int progress) {
    if (!rg_lsa_is_encoder(e)) return 0;
    rg_store_stats st;
    if (rg_store_stats_get(s, &st) != 0) return -1;
    int64_t v = rg_lsa_encoder_version(e), known = 0, seen = 0;
    rg_lsa_encoder_take_coverage(e, &known, &seen);
    rg_lsa_model *cur = rg_lsa_encoder_model(e);
    int64_t fitted = cur ? rg_lsa_model_fit_chunks(cur) : 0;
    rg_lsa_model_unref(cur);
    const char *why = NULL;
    if (force) why = "asked";
    else if (rg_lsa_encoder_broken(e)) why = "model unreadable";
    else if (v == 0 && st.chunks >= RG_LSA_MIN_CHUNKS) why = "first fit";
    else if (v > 0 && st.chunks >= 2 * fitted) why = "corpus doubled";
    else if (v > 0 && 4 * st.chunks >= 5 * fitted && seen >= 2000 && (double)known < COVERAGE_MIN * (double)seen)
        why = "new vocabulary";   /* a quarter more chunks, and their words mostly unknown */
    if (!why) return 0;
    if (st.chunks == 0) {
        /* Nothing to fit on: back to version 0 (hashing); the vectors table is empty anyway. */
        if (v == 0 && !rg_lsa_encoder_broken(e)) return 0;
        if (rg_store_reembed(s, e, "lsa_version", "0", NULL, NULL) != 0) return -1;
        rg_lsa_encoder_set(e, NULL, 0);
        rg_query_cache_clear();
        remove_stale(rg_store_dir(s), 0);
        return 1;
    }
    double t0 = rg_now();
    rg_lsa_builder *b = rg_lsa_builder_new();
    if (rg_store_each_chunk(s, add_text, b) != 0) { rg_lsa_builder_free(b); return -1; }
    if (progress) fprintf(stderr, "\rLSA: fitting on %lld chunks (%s)   ", (long long)rg_lsa_builder_count(b), why);
    int64_t nv = v + 1;
    rg_lsa_model *m = rg_lsa_fit(b, e->dim, (uint64_t)nv * 0x9e3779b97f4a7c15ULL);
    rg_lsa_builder_free(b);
    if (!m) return -1;
    char *path = rg_lsa_model_path(rg_store_dir(s), nv);
    if (rg_lsa_save(m, path) != 0) { free(path); rg_lsa_model_unref(m); return -1; }
    rg_encoder *ne = rg_lsa_encoder_with_model(m, nv);
    char ver[32];
    snprintf(ver, sizeof ver, "%lld", (long long)nv);
    int rc = rg_store_reembed(s, ne, "lsa_version", ver, progress ? draw : NULL, NULL);
    rg_encoder_free(ne);
    if (rc != 0) {
        unlink(path);
        free(path);
        rg_lsa_model_unref(m);
        return -1;
    }
    free(path);
    rg_lsa_encoder_set(e, m, nv);
    rg_lsa_model_unref(m);
    rg_query_cache_clear();   /* cached query vectors are keyed by "lsa-256", not the version */
    remove_stale(rg_store_dir(s), nv);
    if (progress)
        fprintf(stderr, "\rLSA: model %lld fitted on %lld chunks (%s) in %.1fs   \n", (long long)nv,
                (long long)st.chunks, why, rg_now() - t0);
    return 1;
}
