/* t_quant_k: Q4_0 / Q5_0 / Q4_K / Q6_K. Hand-built blocks pin the bit layouts; random rows check
 * scalar dot == AVX2 dot == dequantise-then-dot, and that quantising keeps the error small. */
#include "check.h"
#include "core/util.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"

static float frand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f; }

static void test_registered(void) {
    const rg_type_traits *t = rg_type_get(RG_TYPE_Q4_K);
    CHECK(t != NULL);
    if (!t) return;
    CHECK_INT(t->blck, 256);
    CHECK_INT(t->bytes, 144);
    CHECK_INT(rg_type_get(RG_TYPE_Q6_K)->bytes, 210);
    CHECK_INT(rg_type_get(RG_TYPE_Q4_0)->bytes, 18);
    CHECK_INT(rg_type_get(RG_TYPE_Q5_0)->bytes, 22);
    CHECK_INT(rg_type_row_bytes(RG_TYPE_Q5_0, 64), 44);
    CHECK_INT(rg_type_row_bytes(RG_TYPE_Q6_K, 512), 420);
    CHECK_INT(rg_type_row_bytes(RG_TYPE_Q4_K, 100), 0);      /* not a multiple of 256 */
}

static void test_layouts(void) {
    rg_block_q4_0 a;
    memset(&a, 0, sizeof a);
    a.d = rg_f32_to_f16(0.5f);
    a.qs[3] = 0xA1;                     /* element 3: 1-8 = -7; element 19: 10-8 = 2 */
    float y[256];
    rg_dequant_q4_0(&a, y, 32);
    CHECK_NEAR(y[3], -3.5, 0);
    CHECK_NEAR(y[19], 1.0, 0);
    CHECK_NEAR(y[0], -4.0, 0);

    rg_block_q5_0 f;
    memset(&f, 0, sizeof f);
    f.d = rg_f32_to_f16(0.5f);
    f.qs[3] = 0xA1;                     /* element 3: low nibble 1, element 19: 10 */
    f.qs[15] = 0xF0;                    /* element 31: 15 */
    f.qh[0] = 1 << 3;                   /* bit 3: element 3 gets 16 */
    f.qh[3] = 0x80;                     /* bit 31: element 31 gets 16 */
    rg_dequant_q5_0(&f, y, 32);
    CHECK_NEAR(y[3], 0.5 * (17 - 16), 0);
    CHECK_NEAR(y[19], 0.5 * (10 - 16), 0);
    CHECK_NEAR(y[31], 0.5 * (31 - 16), 0);
    CHECK_NEAR(y[0], -8.0, 0);
    CHECK_NEAR(y[15], -8.0, 0);

    rg_block_q4_K k;
    memset(&k, 0, sizeof k);
    k.d = rg_f32_to_f16(1.0f);
    k.dmin = rg_f32_to_f16(0.25f);
    /* sub-block 5: scale 37 = 0b100101, min 50 = 0b110010: low nibbles in byte 9, top bits
     * in bytes 1 (scale) and 5 (min) */
    k.scales[9] = (uint8_t)((37 & 0xF) | ((50 & 0xF) << 4));
    k.scales[1] = (uint8_t)((37 >> 4) << 6);
    k.scales[5] = (uint8_t)((50 >> 4) << 6);
    k.scales[0] = 3;                    /* sub-block 0: scale 3, min 0 */
    k.qs[64 + 7] = 0x90;                /* chunk 2: low nibble -> sub-block 4, high -> sub-block 5 */
    k.qs[2] = 0x05;
    rg_dequant_q4_K(&k, y, 256);
    CHECK_NEAR(y[2], 15.0, 0);                      /* 1*3*5 - 0 */
    CHECK_NEAR(y[160 + 7], 37.0 * 9 - 0.25 * 50, 1e-4);
    CHECK_NEAR(y[160 + 8], -0.25 * 50, 1e-4);

    rg_block_q6_K s;
    memset(&s, 0, sizeof s);
    s.d = rg_f32_to_f16(0.5f);
    for (int j = 0; j < 16; j++) s.scales[j] = (int8_t)(j - 8);
    /* element 128+64+20 (h=1, l=20, third quarter): ql high nibble, qh bits 4-5 */
    s.ql[64 + 20] = 0x70;
    s.qh[32 + 20] = 0x30;
    rg_dequant_q6_K(&s, y, 256);
    int e = 128 + 64 + 20, sub = e / 16;        /* 13 */
    CHECK_NEAR(y[e], 0.5 * (sub - 8) * ((0x7 | (3 << 4)) - 32), 1e-5);
    CHECK_NEAR(y[5], 0.5 * (0 - 8) * -32, 1e-5);
}

typedef void (*quant_fn)(const float *, void *, int64_t);
typedef void (*deq_fn)(const void *, float *, int64_t);
typedef float (*dot_fn)(const void *, const float *, int64_t);

static void check_type(const char *name, int type, quant_fn q, deq_fn dq, dot_fn ds, dot_fn dv, double max_rel_rms) {
    const int n = 4096;
    unsigned seed = 1234;
    float *w = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) { w[i] = frand(&seed) * (i % 97 == 0 ? 4.0f : 1.0f); x[i] = frand(&seed); }
    size_t bytes = rg_type_row_bytes(type, n);
    void *blk = malloc(bytes);
    q(w, blk, n);
    dq(blk, y, n);
    double err = 0, ref = 0, exact = 0, absdot = 0;
    for (int i = 0; i < n; i++) {
        err += (y[i] - w[i]) * (double)(y[i] - w[i]);
        ref += (double)w[i] * w[i];
        exact += (double)y[i] * x[i];
        absdot += fabs((double)y[i] * x[i]);
    }
    double rel = sqrt(err / ref);
    CHECKF(rel < max_rel_rms, "%s: quantisation error %.4f", name, rel);
    double s = ds(blk, x, n);
    CHECKF(fabs(s - exact) <= 1e-5 * absdot, "%s scalar dot %.6f vs %.6f", name, s, exact);
    if (rg_quant_k_avx2()) {
        double v = dv(blk, x, n);
        CHECKF(fabs(v - exact) <= 1e-5 * absdot, "%s avx2 dot %.6f vs %.6f", name, v, exact);
        /* row slices starting mid-row (block aligned) agree too */
        int bl = rg_type_get(type)->blck;
        size_t off = rg_type_row_bytes(type, bl);
        double v2 = dv((const char *)blk + off, x + bl, n - bl), s2 = ds((const char *)blk + off, x + bl, n - bl);
        CHECK_NEAR(v2, s2, 1e-5 * absdot);
    }
    CHECK_NEAR(rg_type_get(type)->dot(blk, x, n), exact, 1e-5 * absdot);
    free(w); free(x); free(y); free(blk);
}

static void test_q4_0(void) { check_type("q4_0", RG_TYPE_Q4_0, rg_quantize_q4_0, rg_dequant_q4_0, rg_dot_q4_0_scalar, rg_dot_q4_0_avx2, 0.15); }
static void test_q5_0(void) { check_type("q5_0", RG_TYPE_Q5_0, rg_quantize_q5_0, rg_dequant_q5_0, rg_dot_q5_0_scalar, rg_dot_q5_0_avx2, 0.08); }
static void test_q4_K(void) { check_type("q4_K", RG_TYPE_Q4_K, rg_quantize_q4_K, rg_dequant_q4_K, rg_dot_q4_K_scalar, rg_dot_q4_K_avx2, 0.12); }
static void test_q6_K(void) { check_type("q6_K", RG_TYPE_Q6_K, rg_quantize_q6_K, rg_dequant_q6_K, rg_dot_q6_K_scalar, rg_dot_q6_K_avx2, 0.04); }

/* int8-activation kernels: scalar == AVX2 == dequantised weights . dequantised activations,
 * and close to the f32 product (activation rounding only). */
static void test_q8_activation_dots(void) {
    const int n = 2048;
    int types[] = {RG_TYPE_Q8_0, RG_TYPE_Q4_0, RG_TYPE_Q5_0, RG_TYPE_Q4_K, RG_TYPE_Q6_K};
    unsigned seed = 99;
    float *w = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n), *wd = malloc(sizeof(float) * n);
    int8_t *xq = malloc((size_t)n);
    float xd[64], xs[64];
    for (int i = 0; i < n; i++) { w[i] = frand(&seed); x[i] = frand(&seed) * (i % 50 == 0 ? 5.0f : 1.0f); }
    rg_quantize_act(x, n, xq, xd, xs);
    for (int b = 0; b < n / 32; b++) {       /* activation blocks reconstruct x closely */
        int sum = 0;
        for (int i = 0; i < 32; i++) { CHECK(fabsf(xd[b] * xq[32 * b + i] - x[32 * b + i]) <= xd[b] * 0.5f + 1e-6f); sum += xq[32 * b + i]; }
        CHECK_NEAR(xs[b], xd[b] * sum, 1e-4);
        float amax = 0;                      /* the exact definition: d = max|x|/127, q = rint(x/d) */
        for (int i = 0; i < 32; i++) if (fabsf(x[32 * b + i]) > amax) amax = fabsf(x[32 * b + i]);
        CHECK(xd[b] == amax / 127);
        for (int i = 0; i < 32; i++) CHECK_INT(xq[32 * b + i], lrintf(x[32 * b + i] * (1.0f / xd[b])));
    }
    float z[64] = {0};                       /* an all-zero block: d = 0, q = 0 */
    z[40] = -3;
    rg_quantize_act(z, 64, xq, xd, xs);
    CHECK(xd[0] == 0 && xs[0] == 0 && xq[0] == 0 && xq[31] == 0);
    CHECK(xq[40] == -127 && xs[1] == -3);
    for (int k = 0; k < 5; k++) {
        int type = types[k];
        void *blk = malloc(rg_type_row_bytes(type, n));
        if (type == RG_TYPE_Q8_0) rg_quantize_q8_0(w, blk, n);
        else if (type == RG_TYPE_Q4_0) rg_quantize_q4_0(w, blk, n);
        else if (type == RG_TYPE_Q5_0) rg_quantize_q5_0(w, blk, n);
        else if (type == RG_TYPE_Q4_K) rg_quantize_q4_K(w, blk, n);
        else rg_quantize_q6_K(w, blk, n);
        rg_type_get(type)->to_float(blk, wd, n);
        double ref = 0, f32 = 0, mag = 0;
        for (int i = 0; i < n; i++) {
            ref += (double)wd[i] * xd[i / 32] * xq[i];
            f32 += (double)wd[i] * x[i];
            mag += fabs((double)wd[i] * x[i]);
        }
        rg_dot_q8_fn sc = rg_dot_q8_scalar_for(type), fast = rg_dot_q8_for(type);
        CHECK(sc != NULL && fast != NULL);
        if (!sc || !fast) { free(blk); continue; }
        double a = sc(blk, xq, xd, xs, n), b = fast(blk, xq, xd, xs, n);
        CHECKF(fabs(a - ref) <= 1e-5 * mag, "type %d scalar %.6f vs %.6f", type, a, ref);
        CHECKF(fabs(b - ref) <= 1e-5 * mag, "type %d fast %.6f vs %.6f", type, b, ref);
        CHECKF(fabs(ref - f32) <= 0.01 * mag, "type %d int8 activations %.6f vs f32 %.6f", type, ref, f32);
        free(blk);
    }
    CHECK(rg_dot_q8_for(RG_TYPE_F32) == NULL);
    free(w); free(x); free(wd); free(xq);
}

/* rg_matvec_q8_for: each output equals rg_dot_q8_for on that row bit for bit, and the scalar
 * reference within rounding; row counts that are not multiples of anything, widths from one
 * block up to past the 8192 of Q4_0's offset table, and the portable matvec too. */
static void test_matvec(void) {
    struct { int type; int K; } cases[] = {
        {RG_TYPE_Q8_0, 32}, {RG_TYPE_Q8_0, 96}, {RG_TYPE_Q8_0, 896}, {RG_TYPE_Q4_0, 32}, {RG_TYPE_Q4_0, 160},
        {RG_TYPE_Q4_0, 896}, {RG_TYPE_Q4_0, 8192}, {RG_TYPE_Q4_0, 8224}, {RG_TYPE_Q4_K, 256}, {RG_TYPE_Q4_K, 4864},
        {RG_TYPE_Q6_K, 256}, {RG_TYPE_Q6_K, 4864}, {RG_TYPE_Q5_0, 32}, {RG_TYPE_Q5_0, 896}, {RG_TYPE_Q5_0, 8192},
        {RG_TYPE_Q5_0, 8224}};
    unsigned seed = 4242;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int type = cases[c].type, K = cases[c].K, N = 7;
        size_t rb = rg_type_row_bytes(type, K);
        char *w = malloc(rb * N);
        float *row = malloc(sizeof(float) * K), *x = malloc(sizeof(float) * K);
        int8_t *xq = malloc(K);
        float *xd = malloc(sizeof(float) * (K / 32)), *xs = malloc(sizeof(float) * (K / 32));
        for (int r = 0; r < N; r++) {
            for (int i = 0; i < K; i++) row[i] = frand(&seed) * (i % 37 == 0 ? 3.0f : 1.0f);
            if (type == RG_TYPE_Q8_0) rg_quantize_q8_0(row, (rg_block_q8_0 *)(w + r * rb), K);
            else if (type == RG_TYPE_Q4_0) rg_quantize_q4_0(row, w + r * rb, K);
            else if (type == RG_TYPE_Q5_0) rg_quantize_q5_0(row, w + r * rb, K);
            else if (type == RG_TYPE_Q4_K) rg_quantize_q4_K(row, w + r * rb, K);
            else rg_quantize_q6_K(row, w + r * rb, K);
        }
        for (int i = 0; i < K; i++) x[i] = frand(&seed) * (i % 29 == 0 ? 6.0f : 1.0f);
        rg_quantize_act(x, K, xq, xd, xs);
        rg_matvec_q8_fn mv = rg_matvec_q8_for(type), mvs = rg_matvec_q8_scalar_for(type);
        rg_dot_q8_fn dot = rg_dot_q8_for(type), ref = rg_dot_q8_scalar_for(type);
        CHECK(mv && mvs && dot && ref);
        if (!mv || !mvs || !dot || !ref) break;
        float y[8], ys[8];
        y[N] = ys[N] = 12345.0f;                  /* nothing written past the rows */
        mv(w, rb, N, xq, xd, xs, K, y);
        mvs(w, rb, N, xq, xd, xs, K, ys);
        CHECK(y[N] == 12345.0f && ys[N] == 12345.0f);
        for (int r = 0; r < N; r++) {
            const char *wr = w + r * rb;
            double mag = 0, deq = 0;
            float *wd = malloc(sizeof(float) * K);
            rg_type_get(type)->to_float(wr, wd, K);
            for (int i = 0; i < K; i++) {
                mag += fabs((double)wd[i] * xd[i / 32] * xq[i]);
                deq += (double)wd[i] * xd[i / 32] * xq[i];
            }
            free(wd);
            CHECKF(y[r] == dot(wr, xq, xd, xs, K), "type %d K %d row %d: matvec %.9g vs dot %.9g", type, K, r, y[r], dot(wr, xq, xd, xs, K));
            CHECKF(ys[r] == ref(wr, xq, xd, xs, K), "type %d K %d row %d: scalar matvec", type, K, r);
            CHECKF(fabs(y[r] - deq) <= 1e-5 * mag + 1e-6, "type %d K %d row %d: %.9g vs %.9g", type, K, r, y[r], deq);
        }
        mv(w + rb, rb, N - 2, xq, xd, xs, K, y);   /* a run starting at row 1 */
        for (int r = 0; r < N - 2; r++) CHECK(y[r] == dot(w + (r + 1) * rb, xq, xd, xs, K));
        free(w); free(row); free(x); free(xq); free(xd); free(xs);
    }
    CHECK(rg_matvec_q8_for(RG_TYPE_F32) == NULL && rg_matvec_q8_scalar_for(RG_TYPE_F16) == NULL);
}

int main(void) {
    RUN(test_registered);
    RUN(test_layouts);
    RUN(test_q4_0);
    RUN(test_q5_0);
    RUN(test_q4_K);
    RUN(test_q6_K);
    RUN(test_q8_activation_dots);
    RUN(test_matvec);
    if (!rg_quant_k_avx2()) printf("skip avx2_kernels: CPU lacks AVX2/FMA/F16C (scalar checked only)\n");
    TESTS_DONE();
}
