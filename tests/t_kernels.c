/* Kernels: matmul of every built-in weight type against a double-precision reference on
 * awkward shapes, scalar vs AVX2 agreement, epilogues (layer norm included), many tokens on
 * several threads, GELU/softmax, and the thread pool. */
#include "check.h"
#include "core/util.h"
#include "nn/kernels.h"
#include "nn/pool.h"
#include "nn/tensor.h"
#include <stdint.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1ull << 24)) * 2.0 - 1.0);
}

/* Encodes an f32 matrix [N, K] as type; returns malloc'd bytes and the dequantised values
 * (what the kernel should multiply by) in deq. */
static void *encode(int type, const float *w, int N, int K, float *deq) {
    size_t rb = rg_type_row_bytes(type, K);
    uint8_t *out = xmalloc(rb * (size_t)N);
    for (int o = 0; o < N; o++) {
        const float *src = w + (size_t)o * K;
        uint8_t *dst = out + rb * (size_t)o;
        if (type == RG_TYPE_F32) memcpy(dst, src, (size_t)K * 4);
        else if (type == RG_TYPE_F16 || type == RG_TYPE_BF16)
            for (int k = 0; k < K; k++) {
                uint16_t h = type == RG_TYPE_F16 ? rg_f32_to_f16(src[k]) : rg_f32_to_bf16(src[k]);
                memcpy(dst + 2 * k, &h, 2);
            }
        else rg_quantize_q8_0(src, (rg_block_q8_0 *)(void *)dst, K);
        rg_type_get(type)->to_float(dst, deq + (size_t)o * K, K);
    }
    return out;
}

static void check_type(int type, rg_pool *pool) {
    static const int shapes[][3] = { { 1, 32, 1 }, { 7, 64, 17 }, { 13, 96, 48 }, { 6, 32, 16 }, { 25, 160, 70 },
                                     { 9, 44, 33 }, { 3, 5, 2 },
                                     /* (T <= 32 takes the unpacked path for few tokens) several K
                                      * slices and token blocks; several panel chunks */
                                     { 250, 800, 40 }, { 40, 64, 33000 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        if (K % rg_type_get(type)->blck) continue;      /* rows must be whole blocks */
        float *X = xmalloc(sizeof(float) * T * K), *W = xmalloc(sizeof(float) * N * K);
        float *D = xmalloc(sizeof(float) * N * K), *bias = xmalloc(sizeof(float) * N);
        float *R = xmalloc(sizeof(float) * T * N);
        float *Y1 = xmalloc(sizeof(float) * T * N), *Y2 = xmalloc(sizeof(float) * T * N);
        for (int i = 0; i < T * K; i++) X[i] = frand();
        for (int i = 0; i < N * K; i++) W[i] = frand();
        for (int i = 0; i < N; i++) bias[i] = frand();
        for (int i = 0; i < T * N; i++) R[i] = frand();
        void *enc = encode(type, W, N, K, D);
        rg_epilogue ep = { bias, R, 0 };
        CHECK(rg_matmul(NULL, RG_IMPL_SCALAR, X, T, K, enc, type, N, &ep, Y1) == 0);
        CHECK(rg_matmul(pool, RG_IMPL_AVX2, X, T, K, enc, type, N, &ep, Y2) == 0);
        double maxd = 0, maxs = 0;
        for (int t = 0; t < T; t++)
            for (int o = 0; o < N; o++) {
                double ref = bias[o] + R[t * N + o];
                for (int k = 0; k < K; k++) ref += (double)X[t * K + k] * D[o * K + k];
                maxd = fmax(maxd, fabs(ref - Y1[t * N + o]));
                maxs = fmax(maxs, fabs(Y2[t * N + o] - Y1[t * N + o]));
            }
        CHECKF(maxd < 1e-4, "type %d shape %d: scalar vs reference %g", type, (int)s, maxd);
        CHECKF(maxs < 1e-4, "type %d shape %d: avx2 vs scalar %g", type, (int)s, maxs);
        /* GELU epilogue, both paths, against erf */
        rg_epilogue eg = { bias, NULL, 1 };
        rg_matmul(pool, RG_IMPL_AVX2, X, T, K, enc, type, N, &eg, Y2);
        rg_matmul(NULL, RG_IMPL_SCALAR, X, T, K, enc, type, N, &eg, Y1);
        double maxg = 0;
        for (int t = 0; t < T; t++)
            for (int o = 0; o < N; o++) {
                double v = bias[o];
                for (int k = 0; k < K; k++) v += (double)X[t * K + k] * D[o * K + k];
                double g = 0.5 * v * (1 + erf(v / sqrt(2.0)));
                maxg = fmax(maxg, fmax(fabs(g - Y1[t * N + o]), fabs(g - Y2[t * N + o])));
            }
        CHECKF(maxg < 1e-4, "type %d shape %d: gelu %g", type, (int)s, maxg);
        free(X); free(W); free(D); free(bias); free(R); free(Y1); free(Y2); free(enc);
    }
}

static void test_matmul(void) {
    rg_pool *pool = rg_pool_new(3);
    check_type(RG_TYPE_F32, pool);
    check_type(RG_TYPE_F16, pool);
    check_type(RG_TYPE_BF16, pool);
    check_type(RG_TYPE_Q8_0, pool);
    /* the residual may be the output itself, also when K is summed in slices */
    {
        int T = 131, K = 1000, N = 37;
        float *X = xmalloc(sizeof(float) * T * K), *W = xmalloc(sizeof(float) * N * K);
        float *Y1 = xmalloc(sizeof(float) * T * N), *Y2 = xmalloc(sizeof(float) * T * N);
        for (int i = 0; i < T * K; i++) X[i] = frand();
        for (int i = 0; i < N * K; i++) W[i] = frand();
        for (int i = 0; i < T * N; i++) Y1[i] = Y2[i] = frand();
        float *R = xmalloc(sizeof(float) * T * N);
        memcpy(R, Y1, sizeof(float) * T * N);
        rg_epilogue sep = { NULL, R, 0 }, aep = { NULL, Y2, 0 };
        CHECK(rg_matmul(pool, RG_IMPL_AUTO, X, T, K, W, RG_TYPE_F32, N, &sep, Y1) == 0);
        CHECK(rg_matmul(pool, RG_IMPL_AUTO, X, T, K, W, RG_TYPE_F32, N, &aep, Y2) == 0);
        double md = 0;
        for (int i = 0; i < T * N; i++) md = fmax(md, fabs((double)Y1[i] - Y2[i]));
        CHECKF(md == 0, "aliased residual differs by %g", md);
        free(X); free(W); free(Y1); free(Y2); free(R);
    }
    /* bad inputs */
    float x[32], y[4];
    memset(x, 0, sizeof x);
    CHECK(rg_matmul(pool, 0, x, 1, 32, x, 99, 1, NULL, y) == -1);
    CHECK(rg_matmul(pool, 0, x, 1, 20, x, RG_TYPE_Q8_0, 1, NULL, y) == -1);   /* 20 % 32 */
    rg_pool_free(pool);
}

/* Many tokens on 2 and 3 threads (token blocks that shrink towards the end), and the layer
 * norm epilogue on every path (done by the units, after few tokens, after panel-split units,
 * after several panel chunks) against rg_matmul followed by rg_layernorm. */
static void test_matmul_ln(void) {
    static const int shapes[][3] = { { 1500, 64, 48 }, { 1103, 96, 40 }, { 20, 64, 33 }, { 200, 64, 40 },
                                     { 40, 64, 33000 } };
    for (int nt = 2; nt <= 3; nt++) {
        rg_pool *pool = rg_pool_new(nt);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int T = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            float *X = xmalloc(sizeof(float) * T * K), *W = xmalloc(sizeof(float) * N * K);
            float *bias = xmalloc(sizeof(float) * N), *g = xmalloc(sizeof(float) * N), *b = xmalloc(sizeof(float) * N);
            float *R = xmalloc(sizeof(float) * T * N), *Y1 = xmalloc(sizeof(float) * T * N);
            float *Y2 = xmalloc(sizeof(float) * T * N), *Y3 = xmalloc(sizeof(float) * T * N);
            for (int i = 0; i < T * K; i++) X[i] = frand();
            for (int i = 0; i < N * K; i++) W[i] = frand();
            for (int i = 0; i < N; i++) { bias[i] = frand(); g[i] = 1 + frand() * 0.5f; b[i] = frand(); }
            for (int i = 0; i < T * N; i++) R[i] = frand();
            rg_epilogue ep = { bias, R, 0 };
            rg_rownorm ln = { g, b, 1e-5f };
            CHECK(rg_matmul(NULL, RG_IMPL_SCALAR, X, T, K, W, RG_TYPE_F32, N, &ep, Y1) == 0);
            CHECK(rg_matmul(pool, RG_IMPL_AUTO, X, T, K, W, RG_TYPE_F32, N, &ep, Y2) == 0);
            CHECK(rg_matmul_ln(pool, RG_IMPL_AUTO, X, T, K, W, RG_TYPE_F32, N, &ep, &ln, Y3) == 0);
            double mm = 0, ml = 0;
            for (int i = 0; i < T * N; i++) mm = fmax(mm, fabs((double)Y1[i] - Y2[i]));
            for (int t = 0; t < T; t++) rg_layernorm(RG_IMPL_AUTO, Y2 + (size_t)t * N, N, g, b, 1e-5f);
            for (int i = 0; i < T * N; i++) ml = fmax(ml, fabs((double)Y3[i] - Y2[i]));
            CHECKF(mm < 1e-4, "%d threads, T=%d K=%d N=%d: pool vs scalar %g", nt, T, K, N, mm);
            CHECKF(ml < 1e-5, "%d threads, T=%d K=%d N=%d: layer norm epilogue differs by %g", nt, T, K, N, ml);
            free(X); free(W); free(bias); free(g); free(b); free(R); free(Y1); free(Y2); free(Y3);
        }
        rg_pool_free(pool);
    }
}

static void test_math(void) {
    float a[37], b[37];
    for (int i = 0; i < 37; i++) a[i] = b[i] = (float)(i - 18) * 0.37f;
    rg_gelu(RG_IMPL_SCALAR, a, 37);
    rg_gelu(RG_IMPL_AVX2, b, 37);
    for (int i = 0; i < 37; i++) {
        double v = (double)(i - 18) * 0.37f, g = 0.5 * v * (1 + erf(v / sqrt(2.0)));
        CHECK_NEAR(a[i], g, 1e-6);
        CHECK_NEAR(b[i], g, 2e-6);
    }
    float s1[21], s2[21];
    for (int i = 0; i < 21; i++) s1[i] = s2[i] = (float)i * 1.7f - 30.0f;
    rg_softmax(RG_IMPL_SCALAR, s1, 21);
    rg_softmax(RG_IMPL_AVX2, s2, 21);
    double sum = 0;
    for (int i = 0; i < 21; i++) { CHECK_NEAR(s1[i], s2[i], 1e-6); sum += s2[i]; }
    CHECK_NEAR(sum, 1.0, 1e-5);
    for (int impl = RG_IMPL_SCALAR; impl <= RG_IMPL_AVX2; impl++) {
        float ln[19], g[19], z[19];
        for (int i = 0; i < 19; i++) { ln[i] = (float)i; g[i] = 2; z[i] = 1; }
        rg_layernorm(impl, ln, 19, g, z, 0);
        /* values 0..18: mean 9, variance 30 */
        for (int i = 0; i < 19; i++) CHECK_NEAR(ln[i], ((double)i - 9) / sqrt(30.0) * 2 + 1, 1e-5);
    }
}

static void test_attention(void) {
    static const int cases[][2] = { { 1, 32 }, { 5, 8 }, { 37, 24 }, { 70, 64 }, { 9, 12 } };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int L = cases[c][0], hd = cases[c][1], stride = hd * 3 + 5;
        float *Q = xmalloc(sizeof(float) * L * stride), *K = xmalloc(sizeof(float) * L * stride);
        float *V = xmalloc(sizeof(float) * L * stride);
        float *o1 = xcalloc((size_t)L * stride, sizeof(float)), *o2 = xcalloc((size_t)L * stride, sizeof(float));
        float *scr = xmalloc(rg_attention_scratch(L, hd) * sizeof(float));
        for (int i = 0; i < L * stride; i++) { Q[i] = frand() * 2; K[i] = frand() * 2; V[i] = frand(); }
        float scale = 1.0f / sqrtf((float)hd);
        rg_attn_args aa = { Q, K, V, o1, stride, stride, stride, L, L, hd, scale };
        rg_attention(RG_IMPL_SCALAR, &aa, scr);
        aa.out = o2;
        rg_attention(RG_IMPL_AVX2, &aa, scr);
        double md = 0, ms = 0;
        double *p = xmalloc(sizeof(double) * L);
        for (int a = 0; a < L; a++) {
            double mx = -1e300, sum = 0;
            for (int b = 0; b < L; b++) {
                double dot = 0;
                for (int e = 0; e < hd; e++) dot += (double)Q[a * stride + e] * K[b * stride + e];
                p[b] = dot * scale;
                mx = fmax(mx, p[b]);
            }
            for (int b = 0; b < L; b++) { p[b] = exp(p[b] - mx); sum += p[b]; }
            for (int e = 0; e < hd; e++) {
                double v = 0;
                for (int b = 0; b < L; b++) v += p[b] / sum * V[b * stride + e];
                md = fmax(md, fabs(v - o1[a * stride + e]));
                ms = fmax(ms, fabs((double)o2[a * stride + e] - o1[a * stride + e]));
            }
            if (a == 0) {   /* one query against all keys (the CLS-only last layer) */
                float o3[64];
                rg_attn_args one = { Q, K, V, o3, stride, stride, hd, 1, L, hd, scale };
                rg_attention(RG_IMPL_AVX2, &one, scr);
                for (int e = 0; e < hd; e++) CHECK_NEAR(o3[e], o1[e], 1e-5);
            }
            /* nothing written outside the head's columns */
            for (int e = hd; e < stride; e++) CHECK(o1[a * stride + e] == 0 && o2[a * stride + e] == 0);
        }
        CHECKF(md < 1e-5 && ms < 1e-5, "L=%d hd=%d: scalar vs ref %g, avx2 vs scalar %g", L, hd, md, ms);
        free(Q); free(K); free(V); free(o1); free(o2); free(scr); free(p);
    }
}

static void add_one(void *ctx, int i, int n) {
    int *v = ctx;
    for (int k = i; k < 1000; k += n) v[k] += 1;
}

static void test_pool(void) {
    rg_pool *p = rg_pool_new(4);
    CHECK_INT(rg_pool_size(p), 4);
    int v[1000] = {0};
    for (int r = 0; r < 50; r++) rg_pool_run(p, add_one, v);
    int bad = 0;
    for (int k = 0; k < 1000; k++) bad += v[k] != 50;
    CHECK_INT(bad, 0);
    rg_pool_free(p);
    rg_pool_run(NULL, add_one, v);
    CHECK_INT(v[999], 51);
}

int main(void) {
    printf("# kernels: %s\n", rg_kernels_name(RG_IMPL_AUTO));
    RUN(test_matmul);
    RUN(test_matmul_ln);
    RUN(test_math);
    RUN(test_attention);
    RUN(test_pool);
    TESTS_DONE();
}
