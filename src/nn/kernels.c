/* Dense kernels. The matmul is blocked GotoBLAS-style (see the matmul section): weights are
 * dequantised once per call into shared f32 panels of NR = 16 output rows, tokens are packed
 * in micro-panels of MR = 6, and a 6 x 16 register block (12 AVX2 accumulators: 12 FMAs per 2
 * panel loads and 6 broadcasts) does the arithmetic on L1-resident slices. */
#include "nn/kernels.h"
#include "nn/simd_avx2.h"
#include "nn/tensor.h"
#include "core/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include <sched.h>

#define NR 16
#define MR 6

/* ---------------- implementation choice ---------------- */

static int have_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int rg_kernels_impl(void) {
    static int impl;          /* computed once; a benign race writes the same value */
    int v = __atomic_load_n(&impl, __ATOMIC_RELAXED);
    if (!v) {
        const char *e = getenv("RAGD_KERNELS");
        v = (e && !strcmp(e, "scalar")) || !have_avx2() ? RG_IMPL_SCALAR : RG_IMPL_AVX2;
        __atomic_store_n(&impl, v, __ATOMIC_RELAXED);
    }
    return v;
}

const char *rg_kernels_name(int impl) {
    if (impl == RG_IMPL_AUTO) impl = rg_kernels_impl();
    return impl == RG_IMPL_AVX2 ? "avx2-fma" : "scalar";
}

static int resolve(int impl) {
    if (impl == RG_IMPL_AUTO) return rg_kernels_impl();
    if (impl == RG_IMPL_AVX2 && !have_avx2()) return RG_IMPL_SCALAR;
    return impl;
}

/* ---------------- scalar math ---------------- */

static float gelu1(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

static void layernorm_scalar(float *x, int n, const float *g, const float *b, float eps) {
    float mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= (float)n;
    for (int i = 0; i < n; i++) { float d = x[i] - mean; var += d * d; }
    var /= (float)n;
    float inv = 1.0f / sqrtf(var + eps);
    for (int i = 0; i < n; i++) x[i] = (x[i] - mean) * inv * g[i] + b[i];
}

/* ---------------- AVX2 math ---------------- */

#define AVX2 RG_AVX2

/* GELU via erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
static inline AVX2 __m256 gelu8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    __m256 az = _mm256_andnot_ps(sign, z);
    /* t = 1 / (1 + p|z|): reciprocal estimate and one Newton step (~23 bits), cheaper than a divide */
    __m256 den = _mm256_fmadd_ps(az, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)), t = _mm256_rcp_ps(den);
    t = _mm256_mul_ps(t, _mm256_fnmadd_ps(den, t, _mm256_set1_ps(2.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 e = rg_exp8_avx2(_mm256_xor_ps(_mm256_mul_ps(az, az), sign));
    __m256 erf_abs = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    __m256 erf = _mm256_or_ps(erf_abs, _mm256_and_ps(z, sign));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
}

static AVX2 void gelu_avx2(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float tmp[8] = {0};
        memcpy(tmp, x + i, (size_t)(n - i) * 4);
        _mm256_storeu_ps(tmp, gelu8(_mm256_loadu_ps(tmp)));
        memcpy(x + i, tmp, (size_t)(n - i) * 4);
    }
}

void rg_gelu(int impl, float *x, int64_t n) {
    if (resolve(impl) == RG_IMPL_AVX2) { gelu_avx2(x, n); return; }
    for (int64_t i = 0; i < n; i++) x[i] = gelu1(x[i]);
}

/* x[i] = exp(x[i] - max) in place; returns their sum (the caller normalises). */
static AVX2 float softmax_exp_avx2(float *x, int n) {
    float m = -INFINITY;
    int i = 0;
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    float t8[8];
    _mm256_storeu_ps(t8, mx);
    for (int j = 0; j < 8; j++) m = t8[j] > m ? t8[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    __m256 vm = _mm256_set1_ps(m), vs = _mm256_setzero_ps();
    float s = 0;
    i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = rg_exp8_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    for (; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    float t[8];
    _mm256_storeu_ps(t, vs);
    for (int j = 0; j < 8; j++) s += t[j];
    return s;
}

static AVX2 void softmax_avx2(float *x, int n) {
    float inv = 1.0f / softmax_exp_avx2(x, n);
    int i = 0;
    __m256 vi = _mm256_set1_ps(inv);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(vi, _mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] *= inv;
}

void rg_softmax(int impl, float *x, int n) {
    if (n <= 0) return;
    if (resolve(impl) == RG_IMPL_AVX2) { softmax_avx2(x, n); return; }
    float m = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, x[i]);
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    float inv = 1.0f / s;
    for (int i = 0; i < n; i++) x[i] *= inv;
}


static AVX2 void layernorm_avx2(float *x, int n, const float *g, const float *b, float eps) {
    int n8 = n & ~7;
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < n8; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
    float mean = rg_hsum8_avx2(s);
    for (int i = n8; i < n; i++) mean += x[i];
    mean /= (float)n;
    __m256 vm = _mm256_set1_ps(mean), v = _mm256_setzero_ps();
    for (int i = 0; i < n8; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        v = _mm256_fmadd_ps(d, d, v);
    }
    float var = rg_hsum8_avx2(v);
    for (int i = n8; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= (float)n;
    float inv = 1.0f / sqrtf(var + eps);
    __m256 vi = _mm256_set1_ps(inv);
    for (int i = 0; i < n8; i += 8) {
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vi);
        _mm256_storeu_ps(x + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
    }
    for (int i = n8; i < n; i++) x[i] = (x[i] - mean) * inv * g[i] + b[i];
}

void rg_layernorm(int impl, float *x, int n, const float *g, const float *b, float eps) {
    if (resolve(impl) == RG_IMPL_AVX2) layernorm_avx2(x, n, g, b, eps);
    else layernorm_scalar(x, n, g, b, eps);
}

/* Transposes 8 rows x 8 columns (rows r[0..8) from column k) into 8 vectors, one per column. */
static inline AVX2 void tr8(const float *const *r, size_t k, __m256 *o) {
    __m256 a0 = _mm256_loadu_ps(r[0] + k), a1 = _mm256_loadu_ps(r[1] + k), a2 = _mm256_loadu_ps(r[2] + k);
    __m256 a3 = _mm256_loadu_ps(r[3] + k), a4 = _mm256_loadu_ps(r[4] + k), a5 = _mm256_loadu_ps(r[5] + k);
    __m256 a6 = _mm256_loadu_ps(r[6] + k), a7 = _mm256_loadu_ps(r[7] + k);
    __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
    __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
    __m256 t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5);
    __m256 t6 = _mm256_unpacklo_ps(a6, a7), t7 = _mm256_unpackhi_ps(a6, a7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    o[0] = _mm256_permute2f128_ps(u0, u4, 0x20); o[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    o[2] = _mm256_permute2f128_ps(u2, u6, 0x20); o[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    o[4] = _mm256_permute2f128_ps(u0, u4, 0x31); o[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    o[6] = _mm256_permute2f128_ps(u2, u6, 0x31); o[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* The same, stored at dst + kk * NR for column kk (a weight panel). */
static AVX2 void transpose8(const float *const *r, size_t k, float *dst) {
    __m256 o[8];
    tr8(r, k, o);
    for (int i = 0; i < 8; i++) _mm256_store_ps(dst + i * NR, o[i]);
}

/* The 6 x 16 register block: tile[r * ldt + j] = sum_k x[r * ldx + k] * p[k * ldp + j] for
 * r < 6, j < 16, with 12 accumulators (arrays made GCC spill them, hence the names). Rows past
 * mr repeat row 0; all 6 rows are stored, those past mr to be ignored. Used by attention (p the
 * packed keys, or the copied value rows). */
static AVX2 void k6x16(const float *x0, size_t ldx, int mr, const float *p, size_t ldp, size_t K, float *tile,
                       size_t ldt) {
    const float *x1 = mr > 1 ? x0 + ldx : x0, *x2 = mr > 2 ? x0 + 2 * ldx : x0;
    const float *x3 = mr > 3 ? x0 + 3 * ldx : x0, *x4 = mr > 4 ? x0 + 4 * ldx : x0;
    const float *x5 = mr > 5 ? x0 + 5 * ldx : x0;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t k = 0; k < K; k++, p += ldp) {
        __m256 w0 = _mm256_loadu_ps(p), w1 = _mm256_loadu_ps(p + 8), b;
        b = _mm256_broadcast_ss(x0 + k); c00 = _mm256_fmadd_ps(b, w0, c00); c01 = _mm256_fmadd_ps(b, w1, c01);
        b = _mm256_broadcast_ss(x1 + k); c10 = _mm256_fmadd_ps(b, w0, c10); c11 = _mm256_fmadd_ps(b, w1, c11);
        b = _mm256_broadcast_ss(x2 + k); c20 = _mm256_fmadd_ps(b, w0, c20); c21 = _mm256_fmadd_ps(b, w1, c21);
        b = _mm256_broadcast_ss(x3 + k); c30 = _mm256_fmadd_ps(b, w0, c30); c31 = _mm256_fmadd_ps(b, w1, c31);
        b = _mm256_broadcast_ss(x4 + k); c40 = _mm256_fmadd_ps(b, w0, c40); c41 = _mm256_fmadd_ps(b, w1, c41);
        b = _mm256_broadcast_ss(x5 + k); c50 = _mm256_fmadd_ps(b, w0, c50); c51 = _mm256_fmadd_ps(b, w1, c51);
    }
    _mm256_storeu_ps(tile + 0 * ldt, c00); _mm256_storeu_ps(tile + 0 * ldt + 8, c01);
    _mm256_storeu_ps(tile + 1 * ldt, c10); _mm256_storeu_ps(tile + 1 * ldt + 8, c11);
    _mm256_storeu_ps(tile + 2 * ldt, c20); _mm256_storeu_ps(tile + 2 * ldt + 8, c21);
    _mm256_storeu_ps(tile + 3 * ldt, c30); _mm256_storeu_ps(tile + 3 * ldt + 8, c31);
    _mm256_storeu_ps(tile + 4 * ldt, c40); _mm256_storeu_ps(tile + 4 * ldt + 8, c41);
    _mm256_storeu_ps(tile + 5 * ldt, c50); _mm256_storeu_ps(tile + 5 * ldt + 8, c51);
}

/* ---------------- attention ---------------- */

size_t rg_attention_scratch(int Lk, int hd) {
    size_t lp = ((size_t)Lk + 31) & ~(size_t)31;
    return 2 * lp * (size_t)hd + 6 * lp + (4 + MR) * (size_t)hd + MR * NR + 64;
}

static void attn_scalar(const rg_attn_args *a, float *s) {
    for (int i = 0; i < a->Lq; i++) {
        const float *q = a->Q + (size_t)i * a->ldq;
        for (int b = 0; b < a->Lk; b++) {
            const float *k = a->K + (size_t)b * a->ldk;
            float dot = 0;
            for (int e = 0; e < a->hd; e++) dot += q[e] * k[e];
            s[b] = dot * a->scale;
        }
        rg_softmax(RG_IMPL_SCALAR, s, a->Lk);
        float *o = a->out + (size_t)i * a->ldo;
        for (int e = 0; e < a->hd; e++) o[e] = 0;
        for (int b = 0; b < a->Lk; b++) {
            const float *v = a->V + (size_t)b * a->ldk;
            for (int e = 0; e < a->hd; e++) o[e] += s[b] * v[e];
        }
    }
}

/* K is transposed into Kt[e][b] (b padded to 32); scores are computed for 4 queries x 16 keys
 * at a time (8 accumulators: 2 loads and 4 broadcasts per 8 FMAs); then per query a softmax
 * and the weighted sum of V rows in hd/8 accumulators. Needs hd % 8 == 0. */
static AVX2 void attn_avx2(const rg_attn_args *a, float *scratch) {
    const int Lk = a->Lk, hd = a->hd;
    size_t lp = ((size_t)Lk + 31) & ~(size_t)31;
    float *kt = (float *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    float *S = kt + lp * (size_t)hd, *qs = S + 4 * lp;
    for (int e = 0; e < hd; e++) {
        float *row = kt + (size_t)e * lp;
        for (int b = 0; b < Lk; b++) row[b] = a->K[(size_t)b * a->ldk + e];
        for (size_t b = (size_t)Lk; b < lp; b++) row[b] = 0;
    }
    for (int i0 = 0; i0 < a->Lq; i0 += 4) {
        int nq = a->Lq - i0 < 4 ? a->Lq - i0 : 4;
        for (int r = 0; r < 4; r++) {          /* rows past nq repeat the last query */
            const float *q = a->Q + (size_t)(i0 + (r < nq ? r : nq - 1)) * a->ldq;
            for (int e = 0; e < hd; e++) qs[r * hd + e] = q[e] * a->scale;
        }
        for (size_t b0 = 0; b0 < lp; b0 += 16) {
            __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00;
            __m256 s20 = s00, s21 = s00, s30 = s00, s31 = s00;
            for (int e = 0; e < hd; e++) {
                const float *r = kt + (size_t)e * lp + b0;
                __m256 k0 = _mm256_load_ps(r), k1 = _mm256_load_ps(r + 8), q;
                q = _mm256_broadcast_ss(qs + e); s00 = _mm256_fmadd_ps(q, k0, s00); s01 = _mm256_fmadd_ps(q, k1, s01);
                q = _mm256_broadcast_ss(qs + hd + e); s10 = _mm256_fmadd_ps(q, k0, s10); s11 = _mm256_fmadd_ps(q, k1, s11);
                q = _mm256_broadcast_ss(qs + 2 * hd + e); s20 = _mm256_fmadd_ps(q, k0, s20); s21 = _mm256_fmadd_ps(q, k1, s21);
                q = _mm256_broadcast_ss(qs + 3 * hd + e); s30 = _mm256_fmadd_ps(q, k0, s30); s31 = _mm256_fmadd_ps(q, k1, s31);
            }
            _mm256_store_ps(S + b0, s00); _mm256_store_ps(S + b0 + 8, s01);
            _mm256_store_ps(S + lp + b0, s10); _mm256_store_ps(S + lp + b0 + 8, s11);
            _mm256_store_ps(S + 2 * lp + b0, s20); _mm256_store_ps(S + 2 * lp + b0 + 8, s21);
            _mm256_store_ps(S + 3 * lp + b0, s30); _mm256_store_ps(S + 3 * lp + b0 + 8, s31);
        }
        for (int r = 0; r < nq; r++) {
            float *s = S + (size_t)r * lp;
            softmax_avx2(s, Lk);
            float *o = a->out + (size_t)(i0 + r) * a->ldo;
            /* weighted sum of V rows, 32 columns at a time with two accumulator sets (even and
             * odd keys) to hide the FMA latency, then any 8-column rest */
            int e0 = 0;
            for (; e0 + 32 <= hd; e0 += 32) {
                __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0, p0 = o0, p1 = o0, p2 = o0, p3 = o0;
                int b = 0;
                for (; b + 2 <= Lk; b += 2) {
                    const float *v = a->V + (size_t)b * a->ldk + e0, *w = v + a->ldk;
                    __m256 pa = _mm256_broadcast_ss(s + b), pb = _mm256_broadcast_ss(s + b + 1);
                    o0 = _mm256_fmadd_ps(pa, _mm256_loadu_ps(v), o0);
                    o1 = _mm256_fmadd_ps(pa, _mm256_loadu_ps(v + 8), o1);
                    o2 = _mm256_fmadd_ps(pa, _mm256_loadu_ps(v + 16), o2);
                    o3 = _mm256_fmadd_ps(pa, _mm256_loadu_ps(v + 24), o3);
                    p0 = _mm256_fmadd_ps(pb, _mm256_loadu_ps(w), p0);
                    p1 = _mm256_fmadd_ps(pb, _mm256_loadu_ps(w + 8), p1);
                    p2 = _mm256_fmadd_ps(pb, _mm256_loadu_ps(w + 16), p2);
                    p3 = _mm256_fmadd_ps(pb, _mm256_loadu_ps(w + 24), p3);
                }
                if (b < Lk) {
                    const float *v = a->V + (size_t)b * a->ldk + e0;
                    __m256 pa = _mm256_broadcast_ss(s + b);
                    o0 = _mm256_fmadd_ps(pa, _mm256_loadu_ps(v), o0);
                    o1 = _mm256_fmadd_ps(pa, _mm256_loadu_ps(v + 8), o1);
                    o2 = _mm256_fmadd_ps(pa, _mm256_loadu_ps(v + 16), o2);
                    o3 = _mm256_fmadd_ps(pa, _mm256_loadu_ps(v + 24), o3);
                }
                _mm256_storeu_ps(o + e0, _mm256_add_ps(o0, p0));
                _mm256_storeu_ps(o + e0 + 8, _mm256_add_ps(o1, p1));
                _mm256_storeu_ps(o + e0 + 16, _mm256_add_ps(o2, p2));
                _mm256_storeu_ps(o + e0 + 24, _mm256_add_ps(o3, p3));
            }
            for (; e0 < hd; e0 += 8) {
                __m256 o0 = _mm256_setzero_ps(), p0 = o0;
                int b = 0;
                for (; b + 2 <= Lk; b += 2) {
                    const float *v = a->V + (size_t)b * a->ldk + e0;
                    o0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s + b), _mm256_loadu_ps(v), o0);
                    p0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s + b + 1), _mm256_loadu_ps(v + a->ldk), p0);
                }
                if (b < Lk) o0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s + b), _mm256_loadu_ps(a->V + (size_t)b * a->ldk + e0), o0);
                _mm256_storeu_ps(o + e0, _mm256_add_ps(o0, p0));
            }
        }
    }
}

/* hd % 16 == 0: both products run on the 6 x 16 register block. Keys are packed as 16-key
 * panels Kp[chunk][e][16] and the value rows copied to a contiguous Vc[Lk][hd] (in place
 * they are a row of the whole matrix apart: few cache sets, conflict misses when every block
 * of queries reads them again); for each block of 6 queries (copied, pre-scaled) the scores
 * S (6 x Lk) come from k6x16(Q, Kp) per chunk, then a softmax per row, then out = S . Vc
 * 16 columns at a time. */
static AVX2 void attn_blocked(const rg_attn_args *a, float *scratch) {
    const int Lk = a->Lk, hd = a->hd;
    size_t lp = ((size_t)Lk + 31) & ~(size_t)31;
    float *kp = (float *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    float *vc = kp + lp * (size_t)hd, *S = vc + lp * (size_t)hd, *tile = S + MR * lp;
    float *qs = tile + MR * NR, *zero = qs + MR * (size_t)hd;     /* zero: a key row for padding */
    const size_t l16 = ((size_t)Lk + NR - 1) & ~(size_t)(NR - 1);   /* keys in whole panels */
    memset(zero, 0, (size_t)hd * sizeof *zero);
    for (size_t c0 = 0; c0 < l16; c0 += NR) {    /* 16 key rows -> a hd x 16 panel */
        float *panel = kp + c0 * (size_t)hd;
        const float *r[NR];
        for (int j = 0; j < NR; j++) r[j] = c0 + (size_t)j < (size_t)Lk ? a->K + (c0 + (size_t)j) * a->ldk : zero;
        for (int e = 0; e < hd; e += 8) {
            transpose8(r, (size_t)e, panel + (size_t)e * NR);
            transpose8(r + 8, (size_t)e, panel + (size_t)e * NR + 8);
        }
    }
    for (int b = 0; b < Lk; b++) memcpy(vc + (size_t)b * hd, a->V + (size_t)b * a->ldk, (size_t)hd * sizeof *vc);
    __m256 vs = _mm256_set1_ps(a->scale);
    for (int i0 = 0; i0 < a->Lq; i0 += MR) {
        int mr = a->Lq - i0 < MR ? a->Lq - i0 : MR;
        /* the next block's query rows: far apart in memory, and touched for the first time */
        for (int r = i0 + MR; r < i0 + 2 * MR && r < a->Lq; r++)
            for (int e = 0; e < hd; e += 16) __builtin_prefetch(a->Q + (size_t)r * a->ldq + e);
        for (int r = 0; r < mr; r++) {
            const float *q = a->Q + (size_t)(i0 + r) * a->ldq;
            for (int e = 0; e < hd; e += 8)
                _mm256_store_ps(qs + r * hd + e, _mm256_mul_ps(vs, _mm256_loadu_ps(q + e)));
        }
        for (size_t c0 = 0; c0 < l16; c0 += NR)
            k6x16(qs, (size_t)hd, mr, kp + c0 * (size_t)hd, NR, (size_t)hd, S + c0, lp);
        /* scores of padding keys -> -inf so the softmax runs on whole vectors (exp8 gives them
         * ~1e-38, nothing next to the row maximum's 1); V is summed over the Lk real keys only */
        const int l8 = (Lk + 7) & ~7;
        float inv[MR];                           /* normalisation applied to the output */
        for (int r = 0; r < mr; r++) {
            for (int b = Lk; b < l8; b++) S[r * lp + b] = -INFINITY;
            inv[r] = 1.0f / softmax_exp_avx2(S + r * lp, l8);
        }
        for (int e0 = 0; e0 < hd; e0 += NR) {
            k6x16(S, lp, mr, vc + e0, (size_t)hd, (size_t)Lk, tile, NR);
            for (int r = 0; r < mr; r++) {
                float *o = a->out + (size_t)(i0 + r) * a->ldo + e0;
                __m256 vi = _mm256_set1_ps(inv[r]);
                _mm256_storeu_ps(o, _mm256_mul_ps(vi, _mm256_load_ps(tile + r * NR)));
                _mm256_storeu_ps(o + 8, _mm256_mul_ps(vi, _mm256_load_ps(tile + r * NR + 8)));
            }
        }
    }
}

void rg_attention(int impl, const rg_attn_args *a, float *scratch) {
    if (a->Lq <= 0 || a->Lk <= 0) return;
    if (resolve(impl) == RG_IMPL_AVX2 && a->hd % NR == 0) attn_blocked(a, scratch);
    else if (resolve(impl) == RG_IMPL_AVX2 && a->hd % 8 == 0) attn_avx2(a, scratch);
    else attn_scalar(a, scratch);
}

/* ---------------- matmul ----------------
 * GotoBLAS-style blocking. The weights are dequantised once per call into f32 panels of 16
 * output rows (K x 16, k-major), shared by all threads: a chunk of up to CHUNK_BYTES of
 * panels at a time, packed by whichever threads are there. Work units are blocks of up
 * to 120 tokens, smaller ones towards the end so the threads finish together (or, when there
 * are few tokens, blocks times a range of panels), taken from an atomic counter, so a thread
 * slowed by other load on the machine simply takes fewer. For each unit
 * and each slice of at most KC_MAX along K, the unit's tokens are packed k-major in
 * micro-panels of 6 (MC x KC floats, stays in L2); then each panel's KC x 16 slice (stays in
 * L1) meets every 6-token micro-panel in the register block. Partial sums over K slices
 * accumulate in Y: the first slice adds bias and residual (so the residual may alias Y), the
 * last applies GELU; a unit that has all panels then layer-normalises its rows (rg_matmul_ln). */

#define A_BYTES (192u << 10)          /* packed tokens of a unit (MC x KC floats): in L2 */
#define MC_MAX 120                    /* tokens per unit at most (a multiple of MR) */
#define KC_MAX 384                    /* K slice: a 24 KiB panel slice fits in L1 */
#define CHUNK_BYTES (8u << 20)        /* packed panels per chunk */

typedef struct {
    const float *X;
    int T, K, N, wtype, impl;
    const uint8_t *W;
    size_t row_bytes;
    const rg_type_traits *tr;
    const rg_epilogue *ep;
    const rg_rownorm *ln;       /* layer norm of finished rows, or NULL */
    float *Y;
    rg_pool *pool;
    int kc;                     /* K slice length */
    int chunk;                  /* panels per packed chunk */
    int mc, mblocks;            /* tokens per unit (a multiple of MR), units along T */
    int ng;                     /* panel groups per token block (1: guided token blocks) */
    int ln_inline;              /* the epilogue's layer norm is done per finished unit */
    float *B;                   /* the shared packed chunk (scratch of the first thread to come) */
    int host;                   /* set by the first thread to come */
    int *next, *pack_next, *packed;   /* per chunk: next work unit, next panel to pack, packed */
    int bar_count, bar_gen;     /* a spinning barrier of the pool's threads */
} mm_ctx;

/* All nt threads of the job meet here. The pool runs the job on every one of its threads,
 * so all of them arrive. Spins briefly, then yields (the machine may be oversubscribed). */
static void barrier(mm_ctx *c, int nt) {
    if (nt <= 1) return;
    int gen = __atomic_load_n(&c->bar_gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&c->bar_count, 1, __ATOMIC_ACQ_REL) == nt) {
        __atomic_store_n(&c->bar_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&c->bar_gen, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    for (int spins = 0; __atomic_load_n(&c->bar_gen, __ATOMIC_ACQUIRE) == gen; spins++)
        if (spins > 200) sched_yield();
        else _mm_pause();
}

/* Writes an mr x 16 tile (row stride 16) to Y at (t0, o0), nvalid valid columns: the first K
 * slice stores tile + bias + residual, later ones add to Y; the last applies GELU. */
static void store_tile(const mm_ctx *c, const float *tile, int t0, int mr, int o0, int nvalid, int first, int last) {
    const rg_epilogue *ep = c->ep;
    for (int r = 0; r < mr; r++) {
        float *y = c->Y + (size_t)(t0 + r) * c->N + o0;
        const float *res = first && ep && ep->resid ? ep->resid + (size_t)(t0 + r) * c->N + o0 : NULL;
        for (int j = 0; j < nvalid; j++) {
            float v = tile[r * NR + j];
            if (!first) v += y[j];
            else {
                if (ep && ep->bias) v += ep->bias[o0 + j];
                if (res) v += res[j];
            }
            y[j] = v;
        }
        if (last && ep && ep->gelu) {
            if (c->impl == RG_IMPL_AVX2) gelu_avx2(y, nvalid);
            else for (int j = 0; j < nvalid; j++) y[j] = gelu1(y[j]);
        }
    }
}

/* tile[r][j] = sum_k a[k * 6 + r] * b[k * 16 + j]: both operands packed, read sequentially. */
static void kern_scalar(const float *a, const float *b, int K, float *tile) {
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < K; k++, a += MR, b += NR)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) acc[r][j] += a[r] * b[j];
    memcpy(tile, acc, sizeof acc);
}

/* The 6 x 16 register block's loop on packed operands (a: MR tokens per k, b: NR outputs per
 * k): per k, two aligned panel loads and six broadcasts from one sequential stream feed 12
 * FMAs into the accumulators c00..c51 it declares. A macro so that both users keep every
 * accumulator in a register. */
#define KERN_6X16_LOOP(a, b, K)                                                                                   \
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;                      \
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;                                      \
    _Pragma("GCC unroll 4")                                                                                       \
    for (int k = 0; k < (K); k++, (a) += MR, (b) += NR) {                                                         \
        __m256 w0 = _mm256_load_ps(b), w1 = _mm256_load_ps((b) + 8), x;                                           \
        x = _mm256_broadcast_ss((a) + 0); c00 = _mm256_fmadd_ps(x, w0, c00); c01 = _mm256_fmadd_ps(x, w1, c01); \
        x = _mm256_broadcast_ss((a) + 1); c10 = _mm256_fmadd_ps(x, w0, c10); c11 = _mm256_fmadd_ps(x, w1, c11); \
        x = _mm256_broadcast_ss((a) + 2); c20 = _mm256_fmadd_ps(x, w0, c20); c21 = _mm256_fmadd_ps(x, w1, c21); \
        x = _mm256_broadcast_ss((a) + 3); c30 = _mm256_fmadd_ps(x, w0, c30); c31 = _mm256_fmadd_ps(x, w1, c31); \
        x = _mm256_broadcast_ss((a) + 4); c40 = _mm256_fmadd_ps(x, w0, c40); c41 = _mm256_fmadd_ps(x, w1, c41); \
        x = _mm256_broadcast_ss((a) + 5); c50 = _mm256_fmadd_ps(x, w0, c50); c51 = _mm256_fmadd_ps(x, w1, c51); \
    }

/* The 6 x 16 register block into a tile in memory (partial tiles). */
static AVX2 void kern_avx2(const float *a, const float *b, int K, float *tile) {
    KERN_6X16_LOOP(a, b, K)
    _mm256_store_ps(tile + 0 * NR, c00); _mm256_store_ps(tile + 0 * NR + 8, c01);
    _mm256_store_ps(tile + 1 * NR, c10); _mm256_store_ps(tile + 1 * NR + 8, c11);
    _mm256_store_ps(tile + 2 * NR, c20); _mm256_store_ps(tile + 2 * NR + 8, c21);
    _mm256_store_ps(tile + 3 * NR, c30); _mm256_store_ps(tile + 3 * NR + 8, c31);
    _mm256_store_ps(tile + 4 * NR, c40); _mm256_store_ps(tile + 4 * NR + 8, c41);
    _mm256_store_ps(tile + 5 * NR, c50); _mm256_store_ps(tile + 5 * NR + 8, c51);
}

/* One finished row of a full 16-column tile: the epilogue of store_tile, in registers. */
static inline AVX2 void finish_row(__m256 v0, __m256 v1, float *y, const float *res, __m256 b0, __m256 b1,
                                   int first, int gelu) {
    if (first) {
        v0 = _mm256_add_ps(v0, b0);
        v1 = _mm256_add_ps(v1, b1);
        if (res) { v0 = _mm256_add_ps(v0, _mm256_loadu_ps(res)); v1 = _mm256_add_ps(v1, _mm256_loadu_ps(res + 8)); }
    } else {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(y));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(y + 8));
    }
    if (gelu) { v0 = gelu8(v0); v1 = gelu8(v1); }
    _mm256_storeu_ps(y, v0);
    _mm256_storeu_ps(y + 8, v1);
}

/* kern_avx2 and store_tile_avx2 in one: the accumulators go to Y (row t0.., columns o0..o0+16)
 * without passing through a tile in memory. */
static AVX2 void kern_store_avx2(const mm_ctx *c, const float *a, const float *b, int K, int t0, int mr, int o0,
                                 int first, int last) {
    KERN_6X16_LOOP(a, b, K)
    const rg_epilogue *ep = c->ep;
    const int gelu = last && ep && ep->gelu;
    __m256 b0 = _mm256_setzero_ps(), b1 = b0;
    if (first && ep && ep->bias) { b0 = _mm256_loadu_ps(ep->bias + o0); b1 = _mm256_loadu_ps(ep->bias + o0 + 8); }
    const size_t N = (size_t)c->N;
    float *y = c->Y + (size_t)t0 * N + o0;
    const float *res = first && ep && ep->resid ? ep->resid + (size_t)t0 * N + o0 : NULL;
    finish_row(c00, c01, y, res, b0, b1, first, gelu);
    if (mr > 1) finish_row(c10, c11, y + N, res ? res + N : NULL, b0, b1, first, gelu);
    if (mr > 2) finish_row(c20, c21, y + 2 * N, res ? res + 2 * N : NULL, b0, b1, first, gelu);
    if (mr > 3) finish_row(c30, c31, y + 3 * N, res ? res + 3 * N : NULL, b0, b1, first, gelu);
    if (mr > 4) finish_row(c40, c41, y + 4 * N, res ? res + 4 * N : NULL, b0, b1, first, gelu);
    if (mr > 5) finish_row(c50, c51, y + 5 * N, res ? res + 5 * N : NULL, b0, b1, first, gelu);
}

/* Packs 6 token rows x kl columns k-major (dst[k * 6 + r]) for kl % 8 == 0: eight-column
 * transposes stored with overlapping 8-float stores, each overwriting the previous one's two
 * spare lanes; the last store writes 2 floats past the micro-panel (scratch has room). */
static AVX2 void pack6_avx2(const float *const *x, int kl, float *dst) {
    const float *r[8] = { x[0], x[1], x[2], x[3], x[4], x[5], x[5], x[5] };
    __m256 o[8];
    for (int k = 0; k < kl; k += 8, dst += 8 * MR) {
        tr8(r, (size_t)k, o);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + i * MR, o[i]);
    }
}

/* Dequantises weight rows o0..o0+16 (zero rows past N) into a K x 16 panel. rows: scratch
 * for 16 dequantised rows of K floats. */
static void pack_panel(const mm_ctx *c, int o0, float *P, float *rows) {
    const float *r[NR];
    for (int j = 0; j < NR; j++) {
        int o = o0 + j;
        float *buf = rows + (size_t)j * c->K;
        if (o >= c->N) { memset(buf, 0, (size_t)c->K * sizeof *buf); r[j] = buf; continue; }
        const uint8_t *src = c->W + (size_t)o * c->row_bytes;
        if (c->wtype == RG_TYPE_F32 && ((uintptr_t)src & 3) == 0) r[j] = (const float *)(const void *)src;
        else { c->tr->to_float(src, buf, c->K); r[j] = buf; }
    }
    size_t k = 0, K = (size_t)c->K;
    if (c->impl == RG_IMPL_AVX2)
        for (; k + 8 <= K; k += 8) {
            if ((k & 15) == 0 && k + 64 < K)      /* 16 row streams: more than the prefetcher follows */
                for (int j = 0; j < NR; j++) __builtin_prefetch(r[j] + k + 64);
            transpose8(r, k, P + k * NR);
            transpose8(r + 8, k, P + k * NR + 8);
        }
    for (; k < K; k++)
        for (int j = 0; j < NR; j++) P[k * NR + j] = r[j][k];
}

/* Packs tokens t0..t1, columns k0..k0+kl of X into micro-panels of MR rows, k-major:
 * A[m * MR * kl + k * MR + r] = X[t0 + m * MR + r][k0 + k]; rows past t1 are zero. */
static void pack_tokens(const mm_ctx *c, int t0, int t1, int k0, int kl, float *A) {
    for (int i = t0; i < t1; i += MR, A += (size_t)MR * kl) {
        const float *x[MR];
        int mr = t1 - i < MR ? t1 - i : MR;
        for (int r = 0; r < MR; r++) x[r] = c->X + (size_t)(i + (r < mr ? r : 0)) * c->K + k0;
        if (mr == MR && c->impl == RG_IMPL_AVX2 && kl % 8 == 0) pack6_avx2(x, kl, A);
        else if (mr == MR)
            for (int k = 0; k < kl; k++)
                for (int r = 0; r < MR; r++) A[k * MR + r] = x[r][k];
        else
            for (int k = 0; k < kl; k++)
                for (int r = 0; r < MR; r++) A[k * MR + r] = r < mr ? x[r][k] : 0.0f;
    }
}

/* One work unit: tokens t0..t1 against chunk panels j0..j1 (B: the packed chunk whose first
 * panel is panel p0 of the matrix). */
static void run_unit(const mm_ctx *c, const float *B, int p0, int j0, int j1, int t0, int t1, float *A) {
    float tile[MR * NR] __attribute__((aligned(32)));
    const int K = c->K, avx2 = c->impl == RG_IMPL_AVX2;
    for (int k0 = 0; k0 < K; k0 += c->kc) {
        int kl = K - k0 < c->kc ? K - k0 : c->kc, first = k0 == 0, last = k0 + kl == K;
        pack_tokens(c, t0, t1, k0, kl, A);
        for (int j = j0; j < j1; j++) {
            const float *Bj = B + (size_t)j * K * NR + (size_t)k0 * NR;
            int o0 = (p0 + j) * NR, nv = c->N - o0 < NR ? c->N - o0 : NR;
            for (int i = t0; i < t1; i += MR) {
                int mr = t1 - i < MR ? t1 - i : MR;
                const float *Ai = A + (size_t)(i - t0) * kl;
                if (avx2 && nv == NR) { kern_store_avx2(c, Ai, Bj, kl, i, mr, o0, first, last); continue; }
                if (avx2) kern_avx2(Ai, Bj, kl, tile);
                else kern_scalar(Ai, Bj, kl, tile);
                store_tile(c, tile, i, mr, o0, nv, first, last);
            }
        }
    }
}

/* ---- few tokens (a query): no packing; each weight row is read in place (or dequantised
 * once) and dotted with every token, 4 rows x 3 tokens at a time. Packing all weights would
 * cost more than the arithmetic. */
#define SMALL_T 32

/* out[i][j] = w[j] . x[i] for 3 tokens x 4 rows: 12 named accumulators (an array spills). */
static AVX2 void dot4x3_avx2(const float *const *w, const float *const *x, int K, float out[3][4]) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3], *x0 = x[0], *x1 = x[1], *x2 = x[2];
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 v0 = _mm256_loadu_ps(w0 + k), v1 = _mm256_loadu_ps(w1 + k);
        __m256 v2 = _mm256_loadu_ps(w2 + k), v3 = _mm256_loadu_ps(w3 + k), xv;
        xv = _mm256_loadu_ps(x0 + k);
        a00 = _mm256_fmadd_ps(xv, v0, a00); a01 = _mm256_fmadd_ps(xv, v1, a01);
        a02 = _mm256_fmadd_ps(xv, v2, a02); a03 = _mm256_fmadd_ps(xv, v3, a03);
        xv = _mm256_loadu_ps(x1 + k);
        a10 = _mm256_fmadd_ps(xv, v0, a10); a11 = _mm256_fmadd_ps(xv, v1, a11);
        a12 = _mm256_fmadd_ps(xv, v2, a12); a13 = _mm256_fmadd_ps(xv, v3, a13);
        xv = _mm256_loadu_ps(x2 + k);
        a20 = _mm256_fmadd_ps(xv, v0, a20); a21 = _mm256_fmadd_ps(xv, v1, a21);
        a22 = _mm256_fmadd_ps(xv, v2, a22); a23 = _mm256_fmadd_ps(xv, v3, a23);
    }
    out[0][0] = rg_hsum8_avx2(a00); out[0][1] = rg_hsum8_avx2(a01); out[0][2] = rg_hsum8_avx2(a02); out[0][3] = rg_hsum8_avx2(a03);
    out[1][0] = rg_hsum8_avx2(a10); out[1][1] = rg_hsum8_avx2(a11); out[1][2] = rg_hsum8_avx2(a12); out[1][3] = rg_hsum8_avx2(a13);
    out[2][0] = rg_hsum8_avx2(a20); out[2][1] = rg_hsum8_avx2(a21); out[2][2] = rg_hsum8_avx2(a22); out[2][3] = rg_hsum8_avx2(a23);
    for (; k < K; k++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) out[i][j] += x[i][k] * w[j][k];
}

static void small_worker(void *arg, int ti, int nt) {
    (void)nt;
    mm_ctx *c = arg;
    const int K = c->K, units = (c->N + NR - 1) / NR;
    size_t need = (size_t)NR * K * sizeof(float);
    float *rows = rg_pool_scratch(c->pool, ti, need), *own = NULL;
    if (!rows) {
        rows = own = malloc(need);
        if (!rows) { fprintf(stderr, "out of memory\n"); abort(); }
    }
    float tile[MR * NR] __attribute__((aligned(32)));
    for (int u; (u = __atomic_fetch_add(&c->next[0], 1, __ATOMIC_RELAXED)) < units;) {
        int o0 = u * NR, nv = c->N - o0 < NR ? c->N - o0 : NR;
        const float *r[NR];
        for (int j = 0; j < NR; j++) {
            const uint8_t *src = c->W + (size_t)(o0 + (j < nv ? j : 0)) * c->row_bytes;
            if (c->wtype == RG_TYPE_F32 && ((uintptr_t)src & 3) == 0) r[j] = (const float *)(const void *)src;
            else if (j < nv) { c->tr->to_float(src, rows + (size_t)j * K, K); r[j] = rows + (size_t)j * K; }
            else r[j] = r[0];
        }
        for (int t0 = 0; t0 < c->T; t0 += MR) {
            int mr = c->T - t0 < MR ? c->T - t0 : MR;
            for (int i0 = 0; i0 < mr; i0 += 3) {
                const float *x[3];
                for (int i = 0; i < 3; i++) x[i] = c->X + (size_t)(t0 + (i0 + i < mr ? i0 + i : 0)) * K;
                for (int j0 = 0; j0 < nv; j0 += 4) {
                    float out[3][4];
                    if (c->impl == RG_IMPL_AVX2) dot4x3_avx2(r + j0, x, K, out);
                    else
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 4; j++) {
                                float v = 0;
                                for (int k = 0; k < K; k++) v += x[i][k] * r[j0 + j][k];
                                out[i][j] = v;
                            }
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 4; j++) tile[(i0 + i) % MR * NR + j0 + j] = out[i][j];
                }
            }
            store_tile(c, tile, t0, mr, o0, nv, 1, 1);
        }
    }
    free(own);
}

/* Layer norm of the finished output rows t0..t1 (the epilogue's last step). */
static void ln_rows(const mm_ctx *c, int t0, int t1) {
    for (int t = t0; t < t1; t++) rg_layernorm(c->impl, c->Y + (size_t)t * c->N, c->N, c->ln->g, c->ln->b, c->ln->eps);
}

/* Tokens in the next unit when rest are left: MC_MAX-sized blocks while there is plenty,
 * then a share of the rest (at least MIN_UNIT tokens), so that the threads run out of work
 * together instead of one waiting for the other's last full block (guided scheduling). */
#define MIN_UNIT 24
static int unit_len(const mm_ctx *c, int rest, int nt) {
    int len = c->mc;
    if (nt > 1) {
        int share = (rest + 2 * nt - 1) / (2 * nt);
        share = (share + MR - 1) / MR * MR;
        if (share < len) len = share < MIN_UNIT ? MIN_UNIT : share;
    }
    return len < rest ? len : rest;
}

/* Threads may start late (a loaded machine, a sleeping worker): whoever comes first hosts the
 * shared panels, panels are packed and units computed by whoever is there, and a thread only
 * waits for panels being packed, so the first one does all the work if it is alone. Only a
 * matrix of several chunks makes all threads meet between chunks. */
static void mm_worker(void *arg, int ti, int nt) {
    mm_ctx *c = arg;
    const int K = c->K, panels = (c->N + NR - 1) / NR;
    int host = __atomic_exchange_n(&c->host, 1, __ATOMIC_ACQ_REL) == 0;
    size_t bfl = host ? (size_t)c->chunk * K * NR : 0;                 /* shared panels */
    size_t afl = (size_t)c->mc * c->kc + 16;                           /* packed tokens + slack */
    size_t need = (bfl + afl + (size_t)NR * K) * sizeof(float);      /* + dequantised rows */
    float *S = rg_pool_scratch(c->pool, ti, need), *own = NULL;
    if (!S) {                              /* no pool: a buffer for this call */
        S = own = aligned_alloc(64, (need + 63) & ~(size_t)63);
        if (!S) { fprintf(stderr, "out of memory\n"); abort(); }
    }
    float *A = S + bfl, *rows = A + afl, *B;
    if (host) __atomic_store_n(&c->B, S, __ATOMIC_RELEASE);
    while (!(B = __atomic_load_n(&c->B, __ATOMIC_ACQUIRE))) sched_yield();   /* the host is running */
    for (int p0 = 0, ci = 0; p0 < panels; p0 += c->chunk, ci++) {
        int np = panels - p0 < c->chunk ? panels - p0 : c->chunk;
        for (int j; (j = __atomic_fetch_add(&c->pack_next[ci], 1, __ATOMIC_RELAXED)) < np;) {
            pack_panel(c, (p0 + j) * NR, B + (size_t)j * K * NR, rows);
            __atomic_fetch_add(&c->packed[ci], 1, __ATOMIC_RELEASE);
        }
        for (int spins = 0; __atomic_load_n(&c->packed[ci], __ATOMIC_ACQUIRE) < np; spins++)
            if (spins > 200) sched_yield();
            else _mm_pause();
        int ng = c->ng > np ? np : c->ng;
        /* one panel group: token blocks of shrinking size from a shared token counter */
        for (int t0 = __atomic_load_n(&c->next[ci], __ATOMIC_RELAXED); ng == 1 && t0 < c->T;) {
            int len = unit_len(c, c->T - t0, nt);
            if (!__atomic_compare_exchange_n(&c->next[ci], &t0, t0 + len, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                continue;                  /* t0 now holds the counter's current value */
            run_unit(c, B, p0, 0, np, t0, t0 + len, A);
            if (c->ln_inline) ln_rows(c, t0, t0 + len);
            t0 = __atomic_load_n(&c->next[ci], __ATOMIC_RELAXED);
        }
        /* with few token blocks, units also split the panels, to give every thread work */
        int units = ng == 1 ? 0 : c->mblocks * ng;
        for (;;) {
            int u = __atomic_fetch_add(&c->next[ci], 1, __ATOMIC_RELAXED);
            if (u >= units) break;
            int mb = u / ng, g = u % ng;
            int t0 = mb * c->mc, t1 = c->T - t0 < c->mc ? c->T : t0 + c->mc;
            run_unit(c, B, p0, (int)((int64_t)np * g / ng), (int)((int64_t)np * (g + 1) / ng), t0, t1, A);
        }
        if (p0 + c->chunk < panels) barrier(c, nt);     /* everyone is done with B */
    }
    free(own);
}

int rg_matmul(rg_pool *pool, int impl, const float *X, int T, int K,
              const void *W, int wtype, int N, const rg_epilogue *ep, float *Y) {
    return rg_matmul_ln(pool, impl, X, T, K, W, wtype, N, ep, NULL, Y);
}

int rg_matmul_ln(rg_pool *pool, int impl, const float *X, int T, int K,
                 const void *W, int wtype, int N, const rg_epilogue *ep, const rg_rownorm *ln, float *Y) {
    const rg_type_traits *tr = rg_type_get(wtype);
    if (!tr) { rg_err("matmul: unsupported weight type %d", wtype); return -1; }
    if (T <= 0 || N <= 0) return 0;
    size_t rb = rg_type_row_bytes(wtype, K);
    if (K <= 0 || !rb) { rg_err("matmul: row of %d not a multiple of the %s block", K, tr->name); return -1; }
    mm_ctx c = { .X = X, .T = T, .K = K, .N = N, .wtype = wtype, .impl = resolve(impl), .W = W,
                 .row_bytes = rb, .tr = tr, .ep = ep, .ln = ln, .Y = Y, .pool = pool };
    if (T <= SMALL_T) {
        int zero = 0;
        c.next = &zero;
        rg_pool_run(pool, small_worker, &c);
        if (ln) ln_rows(&c, 0, T);
        return 0;
    }
    /* K slices of equal length, at most KC_MAX, a multiple of 8 where possible */
    int nk = (K + KC_MAX - 1) / KC_MAX;
    c.kc = (K + nk - 1) / nk;
    if (nk > 1) c.kc = (c.kc + 7) & ~7;
    int panels = (N + NR - 1) / NR;
    size_t per = CHUNK_BYTES / ((size_t)K * NR * sizeof(float));
    c.chunk = per < 1 ? 1 : per > (size_t)panels ? panels : (int)per;
    size_t mc = A_BYTES / ((size_t)c.kc * sizeof(float)) / MR * MR;
    c.mc = mc < MR ? MR : mc > MC_MAX ? MC_MAX : (int)mc;
    c.mblocks = (T + c.mc - 1) / c.mc;
    int nchunks = (panels + c.chunk - 1) / c.chunk, nt = rg_pool_size(pool);
    c.ng = nt == 1 ? 1 : (3 * nt + c.mblocks - 1) / c.mblocks;
    /* a unit that covers all panels finishes its rows: it can normalise them itself */
    c.ln_inline = ln && nchunks == 1 && (c.ng == 1 || panels == 1);
    int local[48] = {0};
    c.next = nchunks <= 16 ? local : xcalloc((size_t)nchunks * 3, sizeof *c.next);
    c.pack_next = c.next + nchunks;
    c.packed = c.pack_next + nchunks;
    rg_pool_run(pool, mm_worker, &c);
    if (ln && !c.ln_inline) ln_rows(&c, 0, T);     /* few tokens or several chunks */
    if (c.next != local) free(c.next);
    return 0;
}
