/* Dense kernels. The matmul packs NR = 16 weight rows (dequantised to f32) as a K x 16 panel;
 * a block of up to MR = 6 tokens then runs over K with 12 AVX2 accumulators (6 x 2 vectors of
 * 8), broadcasting one activation per token per k: 12 FMAs per 2 panel loads and 6
 * broadcasts, which keeps the FMA units busy. Several panels (a group that fits in L2) are
 * packed at once so the block of token rows stays in L1 across them. */
#include "nn/kernels.h"
#include "nn/tensor.h"
#include "core/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

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

#define AVX2 __attribute__((target("avx2,fma")))

/* exp with ~2 ulp error over the float range (cephes-style reduction and polynomial). */
static inline AVX2 __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.37f));
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* GELU via erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
static inline AVX2 __m256 gelu8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    __m256 az = _mm256_andnot_ps(sign, z);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(az, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 e = exp8(_mm256_xor_ps(_mm256_mul_ps(az, az), sign));
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

static AVX2 void softmax_avx2(float *x, int n) {
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
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    for (; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    float t[8];
    _mm256_storeu_ps(t, vs);
    for (int j = 0; j < 8; j++) s += t[j];
    float inv = 1.0f / s;
    for (i = 0; i < n; i++) x[i] *= inv;
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

static inline AVX2 float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

static AVX2 void layernorm_avx2(float *x, int n, const float *g, const float *b, float eps) {
    int n8 = n & ~7;
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < n8; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
    float mean = hsum8(s);
    for (int i = n8; i < n; i++) mean += x[i];
    mean /= (float)n;
    __m256 vm = _mm256_set1_ps(mean), v = _mm256_setzero_ps();
    for (int i = 0; i < n8; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        v = _mm256_fmadd_ps(d, d, v);
    }
    float var = hsum8(v);
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

/* The 6 x 16 register block: tile[r][j] = sum_k x[r * ldx + k] * p[k * ldp + j] for r < 6,
 * j < 16, with 12 accumulators (arrays made GCC spill them, hence the names). Rows past mr
 * repeat row 0 and their results are ignored. Used by the matmul (p a packed panel) and by
 * attention (p the packed keys, or value rows in place). */
static AVX2 void k6x16(const float *x0, size_t ldx, int mr, const float *p, size_t ldp, size_t K, float *tile) {
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
    _mm256_storeu_ps(tile + 0 * NR, c00); _mm256_storeu_ps(tile + 0 * NR + 8, c01);
    _mm256_storeu_ps(tile + 1 * NR, c10); _mm256_storeu_ps(tile + 1 * NR + 8, c11);
    _mm256_storeu_ps(tile + 2 * NR, c20); _mm256_storeu_ps(tile + 2 * NR + 8, c21);
    _mm256_storeu_ps(tile + 3 * NR, c30); _mm256_storeu_ps(tile + 3 * NR + 8, c31);
    _mm256_storeu_ps(tile + 4 * NR, c40); _mm256_storeu_ps(tile + 4 * NR + 8, c41);
    _mm256_storeu_ps(tile + 5 * NR, c50); _mm256_storeu_ps(tile + 5 * NR + 8, c51);
}

/* ---------------- attention ---------------- */

size_t rg_attention_scratch(int Lk, int hd) {
    size_t lp = ((size_t)Lk + 31) & ~(size_t)31;
    return lp * (size_t)hd + 6 * lp + 4 * (size_t)hd + MR * NR + 64;
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
 * panels Kp[chunk][e][16]; for each block of 6 queries the scores S (6 x Lk) come from
 * k6x16(Q, Kp) per chunk, then a softmax per row, then out = S . V with V rows read in place
 * 16 columns at a time. */
static AVX2 void attn_blocked(const rg_attn_args *a, float *scratch) {
    const int Lk = a->Lk, hd = a->hd;
    size_t lp = ((size_t)Lk + 31) & ~(size_t)31;
    float *kp = (float *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    float *S = kp + lp * (size_t)hd, *tile = S + MR * lp;
    for (size_t c0 = 0; c0 < lp; c0 += NR) {
        float *panel = kp + c0 * (size_t)hd;
        for (int e = 0; e < hd; e++)
            for (int j = 0; j < NR; j++) {
                size_t b = c0 + (size_t)j;
                panel[(size_t)e * NR + j] = b < (size_t)Lk ? a->K[b * a->ldk + e] : 0.0f;
            }
    }
    __m256 vs = _mm256_set1_ps(a->scale);
    for (int i0 = 0; i0 < a->Lq; i0 += MR) {
        int mr = a->Lq - i0 < MR ? a->Lq - i0 : MR;
        const float *q = a->Q + (size_t)i0 * a->ldq;
        for (size_t c0 = 0; c0 < lp; c0 += NR) {
            k6x16(q, (size_t)a->ldq, mr, kp + c0 * (size_t)hd, NR, (size_t)hd, tile);
            for (int r = 0; r < mr; r++) {
                _mm256_storeu_ps(S + r * lp + c0, _mm256_mul_ps(vs, _mm256_loadu_ps(tile + r * NR)));
                _mm256_storeu_ps(S + r * lp + c0 + 8, _mm256_mul_ps(vs, _mm256_loadu_ps(tile + r * NR + 8)));
            }
        }
        for (int r = 0; r < mr; r++) softmax_avx2(S + r * lp, Lk);
        for (int e0 = 0; e0 < hd; e0 += NR) {
            k6x16(S, lp, mr, a->V + e0, (size_t)a->ldk, (size_t)Lk, tile);
            for (int r = 0; r < mr; r++)
                memcpy(a->out + (size_t)(i0 + r) * a->ldo + e0, tile + r * NR, NR * sizeof(float));
        }
    }
}

void rg_attention(int impl, const rg_attn_args *a, float *scratch) {
    if (a->Lq <= 0 || a->Lk <= 0) return;
    if (resolve(impl) == RG_IMPL_AVX2 && a->hd % NR == 0) attn_blocked(a, scratch);
    else if (resolve(impl) == RG_IMPL_AVX2 && a->hd % 8 == 0) attn_avx2(a, scratch);
    else attn_scalar(a, scratch);
}

/* ---------------- matmul ---------------- */

typedef struct {
    const float *X;
    int T, K, N, wtype, impl;
    const uint8_t *W;
    size_t row_bytes;
    const rg_type_traits *tr;
    const rg_epilogue *ep;
    float *Y;
    int group;                  /* panels packed together */
    int sblock;                 /* tokens per superblock (a multiple of MR) */
    rg_pool *pool;
} mm_ctx;

/* Writes an mr x 16 tile (row stride 16) to Y at (t0, o0), applying the epilogue to the
 * nvalid valid columns. */
static void store_tile(const mm_ctx *c, const float *tile, int t0, int mr, int o0, int nvalid) {
    const rg_epilogue *ep = c->ep;
    for (int r = 0; r < mr; r++) {
        float *y = c->Y + (size_t)(t0 + r) * c->N + o0;
        const float *res = ep && ep->resid ? ep->resid + (size_t)(t0 + r) * c->N + o0 : NULL;
        for (int j = 0; j < nvalid; j++) {
            float v = tile[r * NR + j];
            if (ep && ep->bias) v += ep->bias[o0 + j];
            if (res) v += res[j];
            y[j] = v;
        }
        if (ep && ep->gelu) {
            if (c->impl == RG_IMPL_AVX2) gelu_avx2(y, nvalid);
            else for (int j = 0; j < nvalid; j++) y[j] = gelu1(y[j]);
        }
    }
}

/* The same for a full 16-column tile, vectorised. */
static AVX2 void store_tile_avx2(const mm_ctx *c, const float *tile, int t0, int mr, int o0) {
    const rg_epilogue *ep = c->ep;
    __m256 b0 = _mm256_setzero_ps(), b1 = b0;
    if (ep && ep->bias) { b0 = _mm256_loadu_ps(ep->bias + o0); b1 = _mm256_loadu_ps(ep->bias + o0 + 8); }
    for (int r = 0; r < mr; r++) {
        float *y = c->Y + (size_t)(t0 + r) * c->N + o0;
        __m256 v0 = _mm256_add_ps(_mm256_loadu_ps(tile + r * NR), b0);
        __m256 v1 = _mm256_add_ps(_mm256_loadu_ps(tile + r * NR + 8), b1);
        if (ep && ep->resid) {
            const float *res = ep->resid + (size_t)(t0 + r) * c->N + o0;
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(res));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(res + 8));
        }
        if (ep && ep->gelu) { v0 = gelu8(v0); v1 = gelu8(v1); }
        _mm256_storeu_ps(y, v0);
        _mm256_storeu_ps(y + 8, v1);
    }
}

static void kern_scalar(const mm_ctx *c, const float *P, int t0, int mr, float *tile) {
    for (int r = 0; r < mr; r++) {
        const float *x = c->X + (size_t)(t0 + r) * c->K;
        float acc[NR] = {0};        /* a local array the compiler can keep in SSE registers */
        for (int k = 0; k < c->K; k++) {
            const float *p = P + (size_t)k * NR;
            float xv = x[k];
            for (int j = 0; j < NR; j++) acc[j] += xv * p[j];
        }
        memcpy(tile + r * NR, acc, sizeof acc);
    }
}

/* 6 tokens x 16 outputs, accumulators in 12 named registers (arrays made GCC spill them).
 * Rows past mr point at row 0 and their results are discarded. */
static AVX2 void kern_avx2(const mm_ctx *c, const float *P, int t0, int mr, float *tile) {
    k6x16(c->X + (size_t)t0 * c->K, (size_t)c->K, mr, P, NR, (size_t)c->K, tile);
}

/* Dequantises weight rows o0..o0+16 (zero rows past N) into a K x 16 panel. */
/* Transposes 8 rows x 8 columns (rows r[0..8) from column k) into 8 vectors, one per column,
 * stored at dst + kk * NR for kk = 0..7. */
static AVX2 void transpose8(const float *const *r, size_t k, float *dst) {
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
    _mm256_store_ps(dst + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_store_ps(dst + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_store_ps(dst + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_store_ps(dst + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_store_ps(dst + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_store_ps(dst + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_store_ps(dst + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_store_ps(dst + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
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
            transpose8(r, k, P + k * NR);
            transpose8(r + 8, k, P + k * NR + 8);
        }
    for (; k < K; k++)
        for (int j = 0; j < NR; j++) P[k * NR + j] = r[j][k];
}

static void mm_worker(void *arg, int ti, int nt) {
    const mm_ctx *c = arg;
    int panels = (c->N + NR - 1) / NR;
    int p0 = (int)((int64_t)panels * ti / nt), p1 = (int)((int64_t)panels * (ti + 1) / nt);
    if (p0 >= p1) return;
    size_t pbytes = ((size_t)c->group * c->K * NR * sizeof(float) + 63) & ~(size_t)63;
    size_t need = pbytes + (size_t)NR * c->K * sizeof(float);
    float *P = rg_pool_scratch(c->pool, ti, need), *own = NULL;
    if (!P) {                              /* no pool: a buffer for this call */
        P = own = aligned_alloc(64, (need + 63) & ~(size_t)63);
        if (!P) { fprintf(stderr, "out of memory\n"); abort(); }
    }
    float *row = (float *)(void *)((char *)P + pbytes);
    float tile[MR * NR] __attribute__((aligned(32)));
    for (int g0 = p0; g0 < p1; g0 += c->group) {
        int ng = p1 - g0 < c->group ? p1 - g0 : c->group;
        for (int g = 0; g < ng; g++) pack_panel(c, (g0 + g) * NR, P + (size_t)g * c->K * NR, row);
        /* a superblock of token rows stays in L2 while every packed panel (from L3, or L1
         * for small K) passes over it: activations are read from memory once per call */
        for (int s0 = 0; s0 < c->T; s0 += c->sblock) {
            int s1 = c->T - s0 < c->sblock ? c->T : s0 + c->sblock;
            for (int g = 0; g < ng; g++) {
                const float *Pg = P + (size_t)g * c->K * NR;
                int o0 = (g0 + g) * NR;
                for (int t0 = s0; t0 < s1; t0 += MR) {
                    int mr = s1 - t0 < MR ? s1 - t0 : MR;
                    if (c->impl == RG_IMPL_AVX2) kern_avx2(c, Pg, t0, mr, tile);
                    else kern_scalar(c, Pg, t0, mr, tile);
                    if (c->impl == RG_IMPL_AVX2 && c->N - o0 >= NR) store_tile_avx2(c, tile, t0, mr, o0);
                    else store_tile(c, tile, t0, mr, o0, c->N - o0 < NR ? c->N - o0 : NR);
                }
            }
        }
    }
    free(own);
}

int rg_matmul(rg_pool *pool, int impl, const float *X, int T, int K,
              const void *W, int wtype, int N, const rg_epilogue *ep, float *Y) {
    const rg_type_traits *tr = rg_type_get(wtype);
    if (!tr) { rg_err("matmul: unsupported weight type %d", wtype); return -1; }
    if (T <= 0 || N <= 0) return 0;
    size_t rb = rg_type_row_bytes(wtype, K);
    if (K <= 0 || !rb) { rg_err("matmul: row of %d not a multiple of the %s block", K, tr->name); return -1; }
    mm_ctx c = { X, T, K, N, wtype, resolve(impl), W, rb, tr, ep, Y, 1, MR, NULL };
    /* all of a thread's panels are packed at once, up to 8 MiB of them */
    size_t panel_bytes = (size_t)K * NR * sizeof(float);
    int panels = (N + NR - 1) / NR, per = (panels + rg_pool_size(pool) - 1) / rg_pool_size(pool);
    size_t g = (8u << 20) / panel_bytes;
    c.group = g < 1 ? 1 : g > (size_t)per ? per : (int)g;
    size_t sb = (256u << 10) / ((size_t)K * sizeof(float)) / MR * MR;
    c.sblock = sb < MR ? MR : sb > (size_t)INT32_MAX ? INT32_MAX : (int)sb;
    c.pool = pool;
    rg_pool_run(pool, mm_worker, &c);
    return 0;
}
