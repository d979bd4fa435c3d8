/* t_quant_x8: Q4_0 rows interleaved by 8 (nn/q4_0x8.h). Repacking in place and back gives the
 * file bytes again; a repacked row dequantises to exactly the Q4_0 row (and its f32 dot
 * agrees with that row's); the matrix-vector
 * product equals the row-by-row Q4_0 kernel within float summation order (the integer parts
 * are the same), on full and partial octs, short and long rows (past the stack offset table);
 * the prompt GEMM on the repacked matrix equals rg_qgemm on the original bit for bit; bad
 * sizes fail with an error. */
#include "check.h"
#include "core/util.h"
#include "nn/q4_0x8.h"
#include "nn/qgemm.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"

static float frand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f; }

/* N Q4_0 rows of K values; every third row has a block of all-15 nibbles (largest products) */
static char *make_q4_0(int N, int K, unsigned *seed, size_t *rb) {
    *rb = rg_type_row_bytes(RG_TYPE_Q4_0, K);
    char *w = malloc(*rb * (size_t)N);
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int r = 0; r < N; r++) {
        for (int k = 0; k < K; k++) row[k] = frand(seed) * (k % 37 == 0 ? 4.0f : 1.0f);
        rg_quantize_q4_0(row, w + (size_t)r * *rb, K);
        if (r % 3 == 0) memset(((rg_block_q4_0 *)(w + (size_t)r * *rb))->qs, 0xFF, RG_QK4_0 / 2);
    }
    free(row);
    return w;
}

/* activations with a first block at full scale (every q = +-127) */
static void make_act(int T, int K, unsigned *seed, int8_t *xq, float *xd, float *xs) {
    float *x = malloc(sizeof(float) * (size_t)K);
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < K; i++) x[i] = i < 32 ? (t % 2 ? -3.0f : 3.0f) : frand(seed) * (i % 101 == 0 ? 8.0f : 1.0f);
        rg_quantize_act(x, K, xq + (size_t)t * K, xd + t * (K / 32), xs + t * (K / 32));
    }
    free(x);
}

static void test_repack_roundtrip(void) {
    unsigned seed = 7;
    int Ks[] = {32, 896, 4864};
    for (int k = 0; k < 3; k++) {
        int K = Ks[k], N = 24;
        size_t rb;
        char *w = make_q4_0(N, K, &seed, &rb), *orig = malloc(rb * (size_t)N);
        memcpy(orig, w, rb * (size_t)N);
        CHECK(rg_q4x8_repack(w, rb, N, K) == 0);
        CHECKF(memcmp(w, orig, rb * (size_t)N) != 0, "K %d: repacking changed nothing", K);
        float *a = malloc(sizeof(float) * (size_t)K), *b = malloc(sizeof(float) * (size_t)K);
        for (int r = 0; r < N; r++) {
            rg_q4x8_row_to_float(w, rb, r, a, K);
            rg_dequant_q4_0(orig + (size_t)r * rb, b, K);
            CHECKF(memcmp(a, b, sizeof(float) * (size_t)K) == 0, "K %d row %d: dequantised rows differ", K, r);
            double want = 0, mag = 0;      /* the f32-activation dot against the dequantised row */
            for (int k = 0; k < K; k++) { float x = (float)((k * 13 + r) % 17) - 8; want += (double)b[k] * x; mag += fabs((double)b[k] * x); }
            float xs[4864];
            for (int k = 0; k < K; k++) xs[k] = (float)((k * 13 + r) % 17) - 8;
            float got = rg_q4x8_dot_f32(w, rb, r, xs, K);
            CHECKF(fabs(got - want) <= 1e-5 * mag + 1e-6, "K %d row %d: f32 dot %.9g vs %.9g", K, r, got, want);
        }
        CHECK(rg_q4x8_unpack(w, rb, N, K) == 0);
        CHECKF(memcmp(w, orig, rb * (size_t)N) == 0, "K %d: unpacking did not restore the rows", K);
        free(a); free(b); free(w); free(orig);
    }
}

static void test_matvec(void) {
    unsigned seed = 11;
    int Ks[] = {32, 96, 896, 4864, 40960};       /* 40960: 1280 blocks, past the stack table */
    rg_dot_q8_fn dot = rg_dot_q8_for(RG_TYPE_Q4_0);
    CHECK(dot != NULL);
    if (!dot) return;
    for (int k = 0; k < 5; k++) {
        int K = Ks[k], N = K > 5000 ? 16 : 40, nb = K / 32;
        size_t rb;
        char *orig = make_q4_0(N, K, &seed, &rb), *w = malloc(rb * (size_t)N);
        memcpy(w, orig, rb * (size_t)N);
        CHECK(rg_q4x8_repack(w, rb, N, K) == 0);
        int8_t *xq = malloc((size_t)K);
        float *xd = malloc(sizeof(float) * (size_t)nb), *xs = malloc(sizeof(float) * (size_t)nb), *y = malloc(sizeof(float) * (size_t)N);
        make_act(1, K, &seed, xq, xd, xs);
        int ranges[][2] = {{0, N}, {8, 16}, {3, 13}, {5, 6}, {N - 8, N}};   /* whole and partial octs */
        for (int g = 0; g < 5; g++) {
            int r0 = ranges[g][0], r1 = ranges[g][1];
            for (int r = r0; r < r1; r++) y[r - r0] = NAN;
            rg_q4x8_matvec(w, rb, r0, r1, xq, xd, K, y);
            for (int r = r0; r < r1; r++) {
                float want = dot(orig + (size_t)r * rb, xq, xd, xs, K), sc = rg_q4x8_dot_scalar(w, rb, r, xq, xd, K);
                /* the sums run in another order: a relative tolerance on the size of the terms */
                double mag = 0;
                for (int b = 0; b < nb; b++) mag += fabs(xd[b]) * 127 * 32 * 8 * 0.1;
                double tol = 1e-6 * mag + 1e-5;
                CHECKF(fabs(y[r - r0] - want) <= tol, "K %d rows [%d,%d) row %d: %.9g vs row kernel %.9g", K, r0, r1, r, y[r - r0], want);
                CHECKF(fabs(sc - want) <= tol, "K %d row %d: portable %.9g vs row kernel %.9g", K, r, sc, want);
            }
        }
        free(xq); free(xd); free(xs); free(y); free(w); free(orig);
    }
}

static void test_qgemm(void) {
    unsigned seed = 5;
    int K = 896, N = 48, Ts[] = {1, 2, 5, 9, 70};
    size_t rb;
    char *orig = make_q4_0(N, K, &seed, &rb), *w = malloc(rb * (size_t)N);
    memcpy(w, orig, rb * (size_t)N);
    CHECK(rg_q4x8_repack(w, rb, N, K) == 0);
    float *bias = malloc(sizeof(float) * (size_t)N);
    for (int r = 0; r < N; r++) bias[r] = frand(&seed);
    for (int i = 0; i < 5; i++) {
        int T = Ts[i], nb = K / 32;
        int8_t *xq = malloc((size_t)T * K);
        float *xd = malloc(sizeof(float) * (size_t)T * nb), *xs = malloc(sizeof(float) * (size_t)T * nb);
        make_act(T, K, &seed, xq, xd, xs);
        rg_qact a = {xq, xd, xs, T, K};
        float *ya = malloc(sizeof(float) * (size_t)T * N), *yb = malloc(sizeof(float) * (size_t)T * N);
        int ranges[][2] = {{0, N}, {8, 40}, {16, 24}, {3, 21}};
        for (int g = 0; g < 4; g++) {
            int r0 = ranges[g][0], r1 = ranges[g][1];
            for (int j = 0; j < T * N; j++) ya[j] = yb[j] = (float)(j % 7);     /* residual, in place */
            CHECK(rg_qgemm(RG_TYPE_Q4_0, orig, rb, r0, r1, &a, bias, ya, ya, (size_t)N) == 0);
            CHECK(rg_qgemm_q4x8(w, rb, r0, r1, &a, bias, yb, yb, (size_t)N) == 0);
            double maxd = 0;
            for (int j = 0; j < T * N; j++) if (fabs(ya[j] - yb[j]) > maxd) maxd = fabs(ya[j] - yb[j]);
            if (r0 % 8 == 0 && r1 % 8 == 0 && T > 1)
                CHECKF(maxd == 0, "T %d rows [%d,%d): differ by %.3g (want identical)", T, r0, r1, maxd);
            else
                CHECKF(maxd <= 1e-3, "T %d rows [%d,%d): differ by %.3g", T, r0, r1, maxd);
        }
        free(xq); free(xd); free(xs); free(ya); free(yb);
    }
    free(bias); free(w); free(orig);
}

static void test_bad_sizes(void) {
    char buf[18 * 8 * 2];
    memset(buf, 0, sizeof buf);
    CHECK(rg_q4x8_repack(buf, 18, 7, 32) < 0);          /* rows not a multiple of 8 */
    CHECK(strstr(rg_errmsg(), "q4_0x8") != NULL);
    CHECK(rg_q4x8_repack(buf, 18, 8, 48) < 0);          /* K not a multiple of 32 */
    CHECK(rg_q4x8_repack(buf, 20, 8, 32) < 0);          /* row bytes not Q4_0's */
    CHECK(rg_q4x8_repack(buf, 18, 16, 32) == 0);
    int8_t q[32] = {0};
    float d[1] = {1}, s[1] = {0}, y[8];
    rg_qact a = {q, d, s, 1, 48};
    CHECK(rg_qgemm_q4x8(buf, 18, 0, 8, &a, NULL, NULL, y, 8) < 0);
}

int main(void) {
    RUN(test_repack_roundtrip);
    RUN(test_matvec);
    RUN(test_qgemm);
    RUN(test_bad_sizes);
    TESTS_DONE();
}
