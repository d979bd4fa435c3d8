/* generate/sample: see sample.h. Top-k is found with a quickselect (O(n)) so that sampling a
 * 150k-token vocabulary costs well under a millisecond; top-p without top-k widens the
 * selected set until it holds the requested probability mass. */
#include "generate/sample.h"
#include "core/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rg_sampler {
    rg_sample_params p;
    rg_rng rng;
    int32_t *idx;           /* candidate ids, capacity cap */
    int cap;
};

rg_sample_params rg_sample_defaults(void) {
    return (rg_sample_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .repeat_penalty = 1.0f,
                              .repeat_last_n = 64, .seed = 42};
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
void rg_rng_seed(rg_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
double rg_rng_uniform(rg_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return (double)(out >> 11) * (1.0 / 9007199254740992.0);
}

rg_sampler *rg_sampler_new(const rg_sample_params *p) {
    rg_sampler *s = xcalloc(1, sizeof *s);
    s->p = p ? *p : rg_sample_defaults();
    rg_rng_seed(&s->rng, s->p.seed);
    return s;
}
void rg_sampler_free(rg_sampler *s) {
    if (!s) return;
    free(s->idx);
    free(s);
}

/* Moves the k largest (by logit) of idx[0..n) to the front, unordered. */
static void select_top(int32_t *idx, int n, int k, const float *lg) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = lg[idx[(lo + hi) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (lg[idx[i]] > pivot) i++;
            while (lg[idx[j]] < pivot) j--;
            if (i <= j) { int32_t t = idx[i]; idx[i] = idx[j]; idx[j] = t; i++; j--; }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

static int cmp_desc(const void *a, const void *b, void *ctx) {
    const float *lg = ctx;
    float x = lg[*(const int32_t *)a], y = lg[*(const int32_t *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int32_t *)a - *(const int32_t *)b;     /* ties: lower id first, deterministic */
}
/* insertion sort for small k; qsort_r above that */
static void sort_desc(int32_t *idx, int k, const float *lg) {
    for (int i = 1; i < k; i++) {
        int32_t v = idx[i];
        int j = i - 1;
        while (j >= 0 && (lg[idx[j]] < lg[v] || (lg[idx[j]] == lg[v] && idx[j] > v))) { idx[j + 1] = idx[j]; j--; }
        idx[j + 1] = v;
    }
}

int32_t rg_sampler_pick(rg_sampler *s, float *lg, int n, const int32_t *hist, int nhist) {
    if (!s || !lg || n <= 0) return -1;
    const rg_sample_params *p = &s->p;
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f && hist && nhist > 0) {
        int win = p->repeat_last_n > 0 && p->repeat_last_n < 1024 ? p->repeat_last_n : 1024;
        int from = nhist > win ? nhist - win : 0;
        /* each distinct token once: mark by flipping through a small seen list */
        for (int i = from; i < nhist; i++) {
            int32_t t = hist[i];
            if (t < 0 || t >= n) continue;
            int dup = 0;
            for (int j = from; j < i && !dup; j++) dup = hist[j] == t;
            if (dup) continue;
            lg[t] = lg[t] > 0 ? lg[t] / p->repeat_penalty : lg[t] * p->repeat_penalty;
        }
    }
    for (int i = 0; i < n; i++) if (isnan(lg[i])) lg[i] = -INFINITY;
    if (p->temperature <= 0) {
        int best = 0;
        for (int i = 1; i < n; i++) if (lg[i] > lg[best]) best = i;
        return best;
    }
    if (s->cap < n) { s->idx = xrealloc(s->idx, sizeof(int32_t) * (size_t)n); s->cap = n; }
    int32_t *idx = s->idx;
    for (int i = 0; i < n; i++) idx[i] = i;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) if (lg[i] > mx) mx = lg[i];
    if (!isfinite(mx)) return 0;
    double inv_t = 1.0 / p->temperature, total = 0;
    for (int i = 0; i < n; i++) total += exp((lg[i] - mx) * inv_t);
    int use_p = p->top_p > 0 && p->top_p < 1;
    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    int kk = k;
    if (use_p && kk > 256) kk = 256;         /* widen below until the mass is reached */
    double mass;
    for (;;) {
        if (kk < n) select_top(idx, n, kk, lg);
        if (kk <= 64) sort_desc(idx, kk, lg);
        else qsort_r(idx, (size_t)kk, sizeof(int32_t), cmp_desc, lg);
        mass = 0;
        for (int i = 0; i < kk; i++) mass += exp((lg[idx[i]] - mx) * inv_t);
        if (!use_p || kk >= k || mass / total >= p->top_p) break;
        kk = kk * 4 < k ? kk * 4 : k;
    }
    int m = kk;
    if (use_p) {
        double cum = 0;
        for (int i = 0; i < kk; i++) {
            cum += exp((lg[idx[i]] - mx) * inv_t) / total;
            if (cum >= p->top_p) { m = i + 1; break; }
        }
    }
    double z = 0;
    for (int i = 0; i < m; i++) z += exp((lg[idx[i]] - mx) * inv_t);
    double r = rg_rng_uniform(&s->rng) * z, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += exp((lg[idx[i]] - mx) * inv_t);
        if (r < acc) return idx[i];
    }
    return idx[m - 1];
}

long rg_stop_find(const char *text, size_t len, const char *const *stops, int nstops) {
    long best = -1;
    for (int k = 0; k < nstops; k++) {
        size_t sl = stops[k] ? strlen(stops[k]) : 0;
        if (!sl || sl > len) continue;
        const char *hit = memmem(text, len, stops[k], sl);
        if (hit && (best < 0 || hit - text < best)) best = hit - text;
    }
    return best;
}

size_t rg_stop_holdback(const char *text, size_t len, const char *const *stops, int nstops) {
    size_t hold = 0;
    for (int k = 0; k < nstops; k++) {
        size_t sl = stops[k] ? strlen(stops[k]) : 0;
        for (size_t m = sl > 1 ? sl - 1 : 0; m > hold; m--)
            if (m <= len && memcmp(text + len - m, stops[k], m) == 0) { hold = m; break; }
    }
    return hold;
}
