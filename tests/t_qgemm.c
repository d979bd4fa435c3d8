/* t_qgemm: the blocked int8 GEMM (nn/qgemm.h) against its per-(row, token) scalar reference
 * for Q8_0, Q4_0, Q5_0, Q4_K and Q6_K weights: odd row ranges and token counts (every tile edge, partial
 * row groups and quads), bias, residual in place, several K, token chunk boundaries, and
 * extreme values (Q8_0: -128 and blocks of all -128 / all 127 against activation blocks of all
 * 127 / -127, the largest maddubs pairs; Q4: all-15 nibbles against full-scale activations;
 * Q6_K: blocks of all -32 and all 31, scales of -128 and 127; Q5_0: blocks of all 15 and all
 * -16). */
#include "check.h"
#include "core/util.h"
#include "nn/qgemm.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"

static float frand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f; }

static void *make_weights(int type, int N, int K, unsigned *seed, size_t *rb) {
    *rb = rg_type_row_bytes(type, K);
    char *w = malloc(*rb * (size_t)N);
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int r = 0; r < N; r++) {
        for (int k = 0; k < K; k++) row[k] = frand(seed) * (k % 37 == 0 ? 4.0f : 1.0f);
        char *dst = w + (size_t)r * *rb;
        if (type == RG_TYPE_Q8_0) {
            rg_quantize_q8_0(row, (rg_block_q8_0 *)dst, K);
            rg_block_q8_0 *b0 = (rg_block_q8_0 *)dst;
            if (r % 3 == 0) b0->qs[5] = -128;                          /* legal in a file, |w| = 128 */
            if (r % 4 == 1) memset(b0->qs, 0x80, 32);                  /* a block of -128 throughout */
            if (r % 4 == 2) memset(b0->qs, 127, 32);                   /* and one of 127 */
        } else if (type == RG_TYPE_Q4_0) {
            rg_quantize_q4_0(row, dst, K);
            if (r % 3 == 0) memset(((rg_block_q4_0 *)dst)->qs, 0xFF, RG_QK4_0 / 2);   /* q = 15 throughout a block */
        } else if (type == RG_TYPE_Q5_0) {
            rg_quantize_q5_0(row, dst, K);
            rg_block_q5_0 *b0 = (rg_block_q5_0 *)dst;
            if (r % 3 == 0) memset(b0->qs, 0xFF, 16), memset(b0->qh, 0xFF, 4);     /* 31 - 16 = 15 throughout */
            if (r % 3 == 1) memset(b0->qs, 0, 16), memset(b0->qh, 0, 4);           /* -16 throughout */
        } else if (type == RG_TYPE_Q4_K) {
            rg_quantize_q4_K(row, dst, K);
            if (r % 3 == 0) memset(((rg_block_q4_K *)dst)->qs, 0xFF, 32);            /* sub-blocks 0 and 1 all 15 */
        } else {
            rg_quantize_q6_K(row, dst, K);
            rg_block_q6_K *b0 = (rg_block_q6_K *)dst;
            if (r % 3 == 0) memset(b0->ql, 0xFF, 32), memset(b0->qh, 0xFF, 32);   /* 31 throughout quarters 0 and 2 of half 0 */
            if (r % 3 == 1) memset(b0->ql + 64, 0, 64), memset(b0->qh + 32, 0, 32); /* -32 throughout half 1 */
            if (r % 4 == 0) b0->scales[0] = -128, b0->scales[9] = 127;
        }
    }
    free(row);
    return w;
}

/* one type, one K, T tokens: the (r0, r1, T) below leave 1..8 rows in the last oct of 8
 * and 1..3 tokens past full tiles of 4; K = 16384 with T = 70 crosses a token chunk
 * (CHUNK_BYTES / K = 64 tokens) */
static void check_one_t(int type, int K, int T, unsigned seed) {
    const int N = 23;
    size_t rb;
    void *w = make_weights(type, N, K, &seed, &rb);
    float *x = malloc(sizeof(float) * (size_t)T * K), *bias = malloc(sizeof(float) * N);
    int8_t *xq = malloc((size_t)T * K);
    float *xd = malloc(sizeof(float) * (size_t)T * (K / 32)), *xs = malloc(sizeof(float) * (size_t)T * (K / 32));
    for (int i = 0; i < T * K; i++) x[i] = frand(&seed) * (i % 101 == 0 ? 8.0f : 1.0f);
    for (int t = 0; t < T; t++)        /* a first block of equal values: every q = 127 or -127 */
        for (int i = 0; i < 32; i++) x[(size_t)t * K + i] = t % 2 ? -3.0f : 3.0f;
    for (int r = 0; r < N; r++) bias[r] = frand(&seed);
    for (int t = 0; t < T; t++) rg_quantize_act(x + (size_t)t * K, K, xq + (size_t)t * K, xd + t * (K / 32), xs + t * (K / 32));
    float *ya = malloc(sizeof(float) * (size_t)T * N), *yb = malloc(sizeof(float) * (size_t)T * N);
    int ranges[][3] = {{0, N, T}, {1, 6, 5}, {3, 4, 1}, {0, 8, 3}, {5, 22, 7}, {0, N, 2}, {2, 8, 4},
                       {4, 7, 3}, {10, 12, 6}, {0, 20, 9}, {1, 13, 4}};    /* 1..8 rows left in an oct */
    const int nr = (int)(sizeof ranges / sizeof ranges[0]);
    /* Q8_0, Q5_0, Q4_K and Q6_K take the per-row dot below 6 tokens (Q6_K: 4, Q5_0: 3): a
     * second pass with 5 more tokens per range (capped at T) puts every range on the packed
     * path too */
    for (int k = 0; k < (type == RG_TYPE_Q4_0 ? nr : 2 * nr); k++) {
        int r0 = ranges[k % nr][0], r1 = ranges[k % nr][1], tt = ranges[k % nr][2] + (k >= nr ? 5 : 0);
        if (tt > T) tt = T;
        rg_qact a = {xq, xd, xs, tt, K};
        for (int i = 0; i < T * N; i++) ya[i] = yb[i] = (float)i * 0.01f;      /* resid = y itself */
        int use_bias = k % 2, use_resid = k % 3 == 1;
        CHECK(rg_qgemm_ref(type, w, rb, r0, r1, &a, use_bias ? bias : NULL, use_resid ? ya : NULL, ya, N) == 0);
        CHECK(rg_qgemm(type, w, rb, r0, r1, &a, use_bias ? bias : NULL, use_resid ? yb : NULL, yb, N) == 0);
        for (int t = 0; t < T; t++)
            for (int r = 0; r < N; r++) {
                size_t o = (size_t)t * N + r;
                if (t >= tt || r < r0 || r >= r1) {
                    CHECKF(yb[o] == (float)o * 0.01f, "type %d K %d: wrote outside rows %d..%d / %d tokens at t %d r %d", type, K, r0, r1, tt, t, r);
                    continue;
                }
                double mag = 0;                  /* rounding scale of this dot */
                for (int i = 0; i < K; i++) mag += fabs((double)xd[t * (K / 32) + i / 32] * xq[(size_t)t * K + i]);
                CHECKF(fabs(ya[o] - yb[o]) <= 2e-5 * mag + 1e-5, "type %d K %d range %d t %d r %d: %.7g vs %.7g", type, K, k, t, r, ya[o], yb[o]);
            }
    }
    free(w); free(x); free(bias); free(xq); free(xd); free(xs); free(ya); free(yb);
}

static void check_one(int type, int K, unsigned seed) { check_one_t(type, K, 11, seed); }

static void test_q8_0(void) {
    check_one(RG_TYPE_Q8_0, 96, 1); check_one(RG_TYPE_Q8_0, 896, 2); check_one(RG_TYPE_Q8_0, 32, 3);
    check_one_t(RG_TYPE_Q8_0, 4096, 50, 8); check_one_t(RG_TYPE_Q8_0, 16384, 70, 13);
}
static void test_q4_0(void) {
    check_one(RG_TYPE_Q4_0, 96, 4); check_one(RG_TYPE_Q4_0, 896, 5); check_one(RG_TYPE_Q4_0, 32, 12);
    check_one_t(RG_TYPE_Q4_0, 16384, 70, 9);
}
static void test_q4_K(void) {
    check_one(RG_TYPE_Q4_K, 256, 6); check_one(RG_TYPE_Q4_K, 1280, 7);
    check_one_t(RG_TYPE_Q4_K, 16384, 70, 10);
}

static void test_q5_0(void) {
    check_one(RG_TYPE_Q5_0, 96, 17); check_one(RG_TYPE_Q5_0, 896, 18);
    check_one_t(RG_TYPE_Q5_0, 16384, 70, 19);
}
static void test_q6_K(void) {
    check_one(RG_TYPE_Q6_K, 256, 14); check_one(RG_TYPE_Q6_K, 1280, 15);
    check_one_t(RG_TYPE_Q6_K, 16384, 70, 16);
}

/* the product itself is right, not just the agreement: against dequantised weights in f64 */
static void test_against_dequant(void) {
    const int N = 5, K = 512, T = 8;   /* T >= 6: every type on its packed path */
    unsigned seed = 11;
    int types[] = {RG_TYPE_Q8_0, RG_TYPE_Q4_0, RG_TYPE_Q5_0, RG_TYPE_Q4_K, RG_TYPE_Q6_K};
    for (int k = 0; k < 5; k++) {
        size_t rb;
        void *w = make_weights(types[k], N, K, &seed, &rb);
        float *wd = malloc(sizeof(float) * K), x[T * K], xd[T * K / 32], xs[T * K / 32], y[T * N];
        int8_t xq[T * K];
        for (int i = 0; i < T * K; i++) x[i] = frand(&seed);
        for (int t = 0; t < T; t++) rg_quantize_act(x + t * K, K, xq + t * K, xd + t * K / 32, xs + t * K / 32);
        rg_qact a = {xq, xd, xs, T, K};
        CHECK(rg_qgemm(types[k], w, rb, 0, N, &a, NULL, NULL, y, N) == 0);
        for (int r = 0; r < N; r++) {
            rg_type_get(types[k])->to_float((const char *)w + (size_t)r * rb, wd, K);
            for (int t = 0; t < T; t++) {
                double ref = 0, mag = 0;
                for (int i = 0; i < K; i++) {
                    ref += (double)wd[i] * xd[t * K / 32 + i / 32] * xq[t * K + i];
                    mag += fabs((double)wd[i] * x[t * K + i]);
                }
                CHECKF(fabs(y[t * N + r] - ref) <= 1e-5 * mag, "type %d t %d r %d: %.6f vs %.6f", types[k], t, r, y[t * N + r], ref);
            }
        }
        free(w);
        free(wd);
    }
}

static void test_bad_input(void) {
    int8_t q[64] = {0};
    float d[2] = {0}, s[2] = {0}, y[4];
    rg_qact a = {q, d, s, 1, 64};
    char w[256] = {0};
    CHECK(rg_qgemm(RG_TYPE_F32, w, 256, 0, 1, &a, NULL, NULL, y, 1) == -1);       /* no int8 kernel */
    CHECK(rg_qgemm(RG_TYPE_Q4_K, w, 144, 0, 1, &a, NULL, NULL, y, 1) == -1);      /* K not a multiple of 256 */
    CHECK(rg_qgemm_ref(RG_TYPE_Q4_K, w, 144, 0, 1, &a, NULL, NULL, y, 1) == -1);
    rg_qact empty = {q, d, s, 1, 0};                 /* K = 0: every product is 0 (+ bias) */
    float bias1 = 1.5f;
    y[0] = 7;
    CHECK(rg_qgemm(RG_TYPE_Q4_0, w, 0, 0, 1, &empty, &bias1, NULL, y, 1) == 0 && y[0] == 1.5f);
}

int main(void) {
    rg_type_get(RG_TYPE_F32);
    RUN(test_q8_0);
    RUN(test_q4_0);
    RUN(test_q4_K);
    RUN(test_q5_0);
    RUN(test_q6_K);
    RUN(test_against_dequant);
    RUN(test_bad_input);
    if (!rg_qgemm_blocked(RG_TYPE_Q8_0)) printf("skip blocked_kernels: CPU lacks AVX2 (per-row fallback checked only)\n");
    TESTS_DONE();
}
