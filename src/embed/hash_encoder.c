/* embed/hash_encoder: feature hashing of words and word pairs into a fixed number of
 * dimensions, signed to cancel collisions, log-scaled counts, L2-normalised. Needs no model
 * and no fitting, so it works the same on any corpus and any query. */
#include "embed/encoder.h"
#include "core/util.h"
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
    return h;
}

static void add_feature(float *v, int dim, uint64_t h, float w) {
    v[h % (uint64_t)dim] += (h >> 63) ? -w : w;
}

static int hash_embed(rg_encoder *e, const char *const *texts, int n, int is_query, float *out) {
    int dim = e->dim;
    for (int t = 0; t < n; t++) {
        float *v = out + (size_t)t * (size_t)dim;
        memset(v, 0, (size_t)dim * sizeof *v);
        const char *s = texts[t] ? texts[t] : "";
        char word[64], prev[64] = "";
        size_t wl = 0;
        for (const char *p = s;; p++) {
            unsigned char c = (unsigned char)*p;
            if (c && (isalnum(c) || c >= 0x80)) {
                if (wl + 1 < sizeof word) word[wl++] = (char)tolower(c);
                continue;
            }
            if (wl) {
                word[wl] = 0;
                /* A crude stem so "revenues" meets "revenue". */
                size_t sl = wl;
                if (sl > 3 && word[sl - 1] == 's' && word[sl - 2] != 's') word[--sl] = 0;
                uint64_t h = fnv1a(word, sl, 1469598103934665603ULL);
                add_feature(v, dim, h, 1.0f);
                if (prev[0]) {
                    uint64_t h2 = fnv1a(word, sl, fnv1a(prev, strlen(prev), 7809847782465536322ULL));
                    add_feature(v, dim, h2, 0.5f);
                }
                memcpy(prev, word, sl + 1);
                wl = 0;
            }
            if (!c) break;
        }
        double norm = 0;
        for (int i = 0; i < dim; i++) {
            float x = v[i];
            v[i] = x > 0 ? logf(1 + x) : -logf(1 - x);
            norm += (double)v[i] * v[i];
        }
        if (norm > 0) {
            float inv = (float)(1.0 / sqrt(norm));
            for (int i = 0; i < dim; i++) v[i] *= inv;
        }
    }
    return 0;
}

static void hash_destroy(rg_encoder *e) { free(e); }

rg_encoder *rg_hash_encoder_new(int dim) {
    rg_encoder *e = xcalloc(1, sizeof *e);
    snprintf(e->name, sizeof e->name, "hash-%d", dim);
    e->dim = dim;
    e->embed = hash_embed;
    e->destroy = hash_destroy;
    return e;
}
