/* tests/toy_embed.h: a deterministic toy embedding for search tests (no model): each word
 * hashed to one of TOY_DIM dimensions, then L2-normalised, so texts sharing words are near. */
#ifndef RAGD_TESTS_TOY_EMBED_H
#define RAGD_TESTS_TOY_EMBED_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#define TOY_DIM 16

static inline void toy_embed(const char *text, float *v) {
    memset(v, 0, TOY_DIM * sizeof *v);
    uint32_t h = 2166136261u;
    int inword = 0;
    for (const unsigned char *p = (const unsigned char *)text;; p++) {
        int c = *p;
        if (c && ((c | 32) >= 'a' && (c | 32) <= 'z')) { h = (h ^ (uint32_t)(c | 32)) * 16777619u; inword = 1; continue; }
        if (inword) { v[h % TOY_DIM] += 1; h = 2166136261u; inword = 0; }
        if (!c) break;
    }
    double n = 0;
    for (int i = 0; i < TOY_DIM; i++) n += v[i] * v[i];
    if (n == 0) { v[0] = 1; return; }
    for (int i = 0; i < TOY_DIM; i++) v[i] = (float)(v[i] / sqrt(n));
}
#endif
