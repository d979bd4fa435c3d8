/* nn/quant_k: Q4_0, Q5_0, Q4_K, Q6_K. See quant_k.h. Layouts follow ggml's block definitions; the
 * code is written from their description. AVX2 kernels unpack 16-32 quants at a time into
 * f32 lanes and accumulate with FMA against the f32 activations. */
#include "nn/quant_k.h"
#include "nn/simd_avx2.h"
#include "nn/tensor.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

_Static_assert(sizeof(rg_block_q4_0) == 18, "q4_0 block is 18 bytes");
_Static_assert(sizeof(rg_block_q5_0) == 22, "q5_0 block is 22 bytes");
_Static_assert(sizeof(rg_block_q4_K) == 144, "q4_K block is 144 bytes");
_Static_assert(sizeof(rg_block_q6_K) == 210, "q6_K block is 210 bytes");

/* Sub-block j's 6-bit scale and min from the 12 packed bytes: the first four pairs sit in
 * the low 6 bits of bytes 0-7; the last four take 4 bits from bytes 8-11 and their top two
 * bits from the spare high bits of bytes 0-7. */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* ---- dequantisers ---- */

void rg_dequant_q4_0(const void *src, float *y, int64_t n) {
    const rg_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / RG_QK4_0; i++, y += RG_QK4_0) {
        float d = rg_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((b[i].qs[j] & 0xF) - 8);
            y[j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

/* A Q5_0 block's 32 values as signed q - 16: element j takes the low nibble of qs[j] (j < 16)
 * or the high one of qs[j - 16], and bit j of the little-endian qh as its fifth bit. The
 * portable paths all read through this. */
static inline void q5_0_vals(const rg_block_q5_0 *b, int8_t v[32]) {
    uint32_t qh = (uint32_t)b->qh[0] | (uint32_t)b->qh[1] << 8 | (uint32_t)b->qh[2] << 16 | (uint32_t)b->qh[3] << 24;
    for (int j = 0; j < 32; j++) {
        int lo = j < 16 ? b->qs[j] & 0xF : b->qs[j - 16] >> 4;
        v[j] = (int8_t)((lo | (int)((qh >> j) & 1) << 4) - 16);
    }
}

void rg_dequant_q5_0(const void *src, float *y, int64_t n) {
    const rg_block_q5_0 *b = src;
    int8_t v[32];
    for (int64_t i = 0; i < n / RG_QK4_0; i++, y += RG_QK4_0) {
        float d = rg_f16_to_f32(b[i].d);
        q5_0_vals(b + i, v);
        for (int j = 0; j < 32; j++) y[j] = d * (float)v[j];
    }
}

void rg_dequant_q4_K(const void *src, float *y, int64_t n) {
    const rg_block_q4_K *b = src;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = rg_f16_to_f32(b[i].d), dmin = rg_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t s1, m1, s2, m2;
            scale_min_k4(2 * c, b[i].scales, &s1, &m1);
            scale_min_k4(2 * c + 1, b[i].scales, &s2, &m2);
            float d1 = d * s1, n1 = dmin * m1, d2 = d * s2, n2 = dmin * m2;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - n1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - n2;
        }
    }
}

void rg_dequant_q6_K(const void *src, float *y, int64_t n) {
    const rg_block_q6_K *b = src;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = rg_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int h = 0; h < 2; h++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * (float)q1;
                y[l + 32] = d * sc[is + 2] * (float)q2;
                y[l + 64] = d * sc[is + 4] * (float)q3;
                y[l + 96] = d * sc[is + 6] * (float)q4;
            }
        }
    }
}

/* ---- scalar dots: same arithmetic as dequantise-then-dot, block by block ---- */

float rg_dot_q4_0_scalar(const void *w, const float *x, int64_t n) {
    const rg_block_q4_0 *b = w;
    float s = 0;
    for (int64_t i = 0; i < n / RG_QK4_0; i++, x += RG_QK4_0) {
        float bs = 0;
        for (int j = 0; j < 16; j++)
            bs += (float)((b[i].qs[j] & 0xF) - 8) * x[j] + (float)((b[i].qs[j] >> 4) - 8) * x[j + 16];
        s += rg_f16_to_f32(b[i].d) * bs;
    }
    return s;
}

float rg_dot_q5_0_scalar(const void *w, const float *x, int64_t n) {
    const rg_block_q5_0 *b = w;
    float s = 0;
    int8_t v[32];
    for (int64_t i = 0; i < n / RG_QK4_0; i++, x += RG_QK4_0) {
        float bs = 0;
        q5_0_vals(b + i, v);
        for (int j = 0; j < 32; j++) bs += (float)v[j] * x[j];
        s += rg_f16_to_f32(b[i].d) * bs;
    }
    return s;
}

float rg_dot_q4_K_scalar(const void *w, const float *x, int64_t n) {
    const rg_block_q4_K *b = w;
    float s = 0;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = rg_f16_to_f32(b[i].d), dmin = rg_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; c++, q += 32, x += 64) {
            uint8_t s1, m1, s2, m2;
            scale_min_k4(2 * c, b[i].scales, &s1, &m1);
            scale_min_k4(2 * c + 1, b[i].scales, &s2, &m2);
            float qa = 0, qb = 0, xa = 0, xb = 0;
            for (int l = 0; l < 32; l++) {
                qa += (float)(q[l] & 0xF) * x[l];
                qb += (float)(q[l] >> 4) * x[l + 32];
                xa += x[l];
                xb += x[l + 32];
            }
            s += d * s1 * qa - dmin * m1 * xa + d * s2 * qb - dmin * m2 * xb;
        }
    }
    return s;
}

float rg_dot_q6_K_scalar(const void *w, const float *x, int64_t n) {
    const rg_block_q6_K *b = w;
    float s = 0;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = rg_f16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int h = 0; h < 2; h++, x += 128, ql += 64, qh += 32, sc += 8) {
            float part[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                part[is] += (float)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * x[l];
                part[is + 2] += (float)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * x[l + 32];
                part[is + 4] += (float)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * x[l + 64];
                part[is + 6] += (float)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * x[l + 96];
            }
            for (int k = 0; k < 8; k++) s += d * sc[k] * part[k];
        }
    }
    return s;
}

/* ---- AVX2 ---- */

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float f16(uint16_t h) { return _cvtsh_ss(h); }
/* 8 signed bytes (low half of v) to 8 floats */
AVX2 static inline __m256 i8_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }
AVX2 static inline __m256 u8_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
/* dot of 16 signed bytes with 16 floats, as a vector of partial sums */
AVX2 static inline __m256 dot16_i8(__m128i q, const float *x) {
    __m256 s = _mm256_mul_ps(i8_ps(q), _mm256_loadu_ps(x));
    return _mm256_fmadd_ps(i8_ps(_mm_srli_si128(q, 8)), _mm256_loadu_ps(x + 8), s);
}
AVX2 static inline __m256 dot16_u8(__m128i q, const float *x) {
    __m256 s = _mm256_mul_ps(u8_ps(q), _mm256_loadu_ps(x));
    return _mm256_fmadd_ps(u8_ps(_mm_srli_si128(q, 8)), _mm256_loadu_ps(x + 8), s);
}

AVX2 float rg_dot_q4_0_avx2(const void *w, const float *x, int64_t n) {
    const rg_block_q4_0 *b = w;
    const __m128i m4 = _mm_set1_epi8(0xF), m8 = _mm_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RG_QK4_0; i++, x += RG_QK4_0) {
        __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), m8);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), m8);
        __m256 s = _mm256_add_ps(dot16_i8(lo, x), dot16_i8(hi, x + 16));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(b[i].d)), s, acc);
    }
    return rg_hsum8_avx2(acc);
}

/* (f32 activations are exact mode's and the f32 fallback's path only: the values are
 * assembled by the portable q5_0_vals; generation and prompts use the int8 kernels of nn/matvec_q8.c and
 * nn/qgemm.c) */
AVX2 float rg_dot_q5_0_avx2(const void *w, const float *x, int64_t n) {
    const rg_block_q5_0 *b = w;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RG_QK4_0; i++, x += RG_QK4_0) {
        _Alignas(16) int8_t v[32];
        q5_0_vals(b + i, v);
        __m256 s = _mm256_add_ps(dot16_i8(_mm_load_si128((const __m128i *)v), x), dot16_i8(_mm_load_si128((const __m128i *)(v + 16)), x + 16));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(b[i].d)), s, acc);
    }
    return rg_hsum8_avx2(acc);
}

AVX2 float rg_dot_q4_K_avx2(const void *w, const float *x, int64_t n) {
    const rg_block_q4_K *b = w;
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = f16(b[i].d), dmin = f16(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; c++, q += 32, x += 64) {
            uint8_t s1, m1, s2, m2;
            scale_min_k4(2 * c, b[i].scales, &s1, &m1);
            scale_min_k4(2 * c + 1, b[i].scales, &s2, &m2);
            __m128i qa = _mm_loadu_si128((const __m128i *)q), qb = _mm_loadu_si128((const __m128i *)(q + 16));
            __m256 da = _mm256_add_ps(dot16_u8(_mm_and_si128(qa, m4), x), dot16_u8(_mm_and_si128(qb, m4), x + 16));
            __m256 db = _mm256_add_ps(dot16_u8(_mm_and_si128(_mm_srli_epi16(qa, 4), m4), x + 32),
                                      dot16_u8(_mm_and_si128(_mm_srli_epi16(qb, 4), m4), x + 48));
            __m256 xa = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)),
                                      _mm256_add_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)));
            __m256 xb = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(x + 32), _mm256_loadu_ps(x + 40)),
                                      _mm256_add_ps(_mm256_loadu_ps(x + 48), _mm256_loadu_ps(x + 56)));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * s1), da, acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * s2), db, acc);
            acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * m1), xa, acc);
            acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * m2), xb, acc);
        }
    }
    return rg_hsum8_avx2(acc);
}

AVX2 float rg_dot_q6_K_avx2(const void *w, const float *x, int64_t n) {
    const rg_block_q6_K *b = w;
    const __m128i m4 = _mm_set1_epi8(0xF), m3 = _mm_set1_epi8(3), m32 = _mm_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float d = f16(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int h = 0; h < 2; h++, x += 128, ql += 64, qh += 32, sc += 8) {
            for (int l0 = 0; l0 < 32; l0 += 16) {
                int is = l0 / 16;
                __m128i a = _mm_loadu_si128((const __m128i *)(ql + l0));
                __m128i c = _mm_loadu_si128((const __m128i *)(ql + 32 + l0));
                __m128i hb = _mm_loadu_si128((const __m128i *)(qh + l0));
                /* high bit pairs moved to bits 4-5 (shifts on 16-bit lanes, then masked) */
                __m128i h1 = _mm_slli_epi16(_mm_and_si128(hb, m3), 4);
                __m128i h2 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 2), m3), 4);
                __m128i h3 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 4), m3), 4);
                __m128i h4 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(hb, 6), m3), 4);
                __m128i q1 = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(a, m4), h1), m32);
                __m128i q2 = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(c, m4), h2), m32);
                __m128i q3 = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m4), h3), m32);
                __m128i q4 = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(_mm_srli_epi16(c, 4), m4), h4), m32);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[is]), dot16_i8(q1, x + l0), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[is + 2]), dot16_i8(q2, x + 32 + l0), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[is + 4]), dot16_i8(q3, x + 64 + l0), acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[is + 6]), dot16_i8(q4, x + 96 + l0), acc);
            }
        }
    }
    return rg_hsum8_avx2(acc);
}

/* ---- quantisers ---- */

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
/* the value of largest magnitude among x[0..31], sign kept (Q4_0 and Q5_0 map it to -8 / -16) */
static inline float signed_absmax32(const float *x) {
    float amax = 0, mx = 0;
    for (int j = 0; j < 32; j++) if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); mx = x[j]; }
    return mx;
}

void rg_quantize_q4_0(const float *x, void *out, int64_t n) {
    rg_block_q4_0 *b = out;
    for (int64_t i = 0; i < n / RG_QK4_0; i++, x += RG_QK4_0) {
        float d = signed_absmax32(x) / -8, id = d != 0 ? 1.0f / d : 0;
        b[i].d = rg_f32_to_f16(d);
        for (int j = 0; j < 16; j++) {
            int q0 = clampi((int)floorf(x[j] * id + 8.5f), 0, 15);
            int q1 = clampi((int)floorf(x[j + 16] * id + 8.5f), 0, 15);
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void rg_quantize_q5_0(const float *x, void *out, int64_t n) {
    rg_block_q5_0 *b = out;
    for (int64_t i = 0; i < n / RG_QK4_0; i++, x += RG_QK4_0) {
        float d = signed_absmax32(x) / -16, id = d != 0 ? 1.0f / d : 0;
        b[i].d = rg_f32_to_f16(d);
        uint32_t qh = 0;
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int j = 0; j < 32; j++) {
            int q = clampi((int)floorf(x[j] * id + 16.5f), 0, 31);
            b[i].qs[j % 16] |= (uint8_t)((q & 0xF) << (j < 16 ? 0 : 4));
            qh |= (uint32_t)(q >> 4) << j;
        }
        for (int k = 0; k < 4; k++) b[i].qh[k] = (uint8_t)(qh >> (8 * k));
    }
}

void rg_quantize_q4_K(const float *x, void *out, int64_t n) {
    rg_block_q4_K *b = out;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        float scale[8], mins[8], smax = 0, mmax = 0;
        for (int j = 0; j < 8; j++) {
            float lo = 0, hi = x[32 * j];
            for (int l = 0; l < 32; l++) {
                if (x[32 * j + l] < lo) lo = x[32 * j + l];
                if (x[32 * j + l] > hi) hi = x[32 * j + l];
            }
            scale[j] = (hi - lo) / 15;
            mins[j] = -lo;
            if (scale[j] > smax) smax = scale[j];
            if (mins[j] > mmax) mmax = mins[j];
        }
        float d = smax / 63, dmin = mmax / 63;
        b[i].d = rg_f32_to_f16(d);
        b[i].dmin = rg_f32_to_f16(dmin);
        d = rg_f16_to_f32(b[i].d);
        dmin = rg_f16_to_f32(b[i].dmin);
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) {
            sc[j] = (uint8_t)clampi(d > 0 ? (int)lrintf(scale[j] / d) : 0, 0, 63);
            mn[j] = (uint8_t)clampi(dmin > 0 ? (int)lrintf(mins[j] / dmin) : 0, 0, 63);
        }
        memset(b[i].scales, 0, 12);
        for (int j = 0; j < 4; j++) {
            b[i].scales[j] = sc[j];
            b[i].scales[j + 4] = mn[j];
        }
        for (int j = 4; j < 8; j++) {
            b[i].scales[j + 4] = (uint8_t)((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
            b[i].scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            b[i].scales[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
        uint8_t q[RG_QK_K];
        for (int j = 0; j < 8; j++) {
            float dj = d * sc[j], mj = dmin * mn[j];
            for (int l = 0; l < 32; l++)
                q[32 * j + l] = (uint8_t)clampi(dj > 0 ? (int)lrintf((x[32 * j + l] + mj) / dj) : 0, 0, 15);
        }
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) b[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

void rg_quantize_q6_K(const float *x, void *out, int64_t n) {
    rg_block_q6_K *b = out;
    for (int64_t i = 0; i < n / RG_QK_K; i++, x += RG_QK_K) {
        float scale[16], amax_all = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0;
            for (int l = 0; l < 16; l++) if (fabsf(x[16 * j + l]) > amax) amax = fabsf(x[16 * j + l]);
            scale[j] = amax / 31;
            if (scale[j] > amax_all) amax_all = scale[j];
        }
        float d = amax_all / 127;
        b[i].d = rg_f32_to_f16(d);
        d = rg_f16_to_f32(b[i].d);
        uint8_t q[RG_QK_K];
        for (int j = 0; j < 16; j++) {
            int s = d > 0 ? clampi((int)lrintf(scale[j] / d), -128, 127) : 0;
            b[i].scales[j] = (int8_t)s;
            float dj = d * (float)s;
            for (int l = 0; l < 16; l++)
                q[16 * j + l] = (uint8_t)(clampi(dj != 0 ? (int)lrintf(x[16 * j + l] / dj) : 0, -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *qq = q + 128 * h;
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((qq[l] & 0xF) | ((qq[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((qq[l + 32] & 0xF) | ((qq[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
            }
        }
    }
}

static int use_avx2;

/* ---- int8-activation dots ---- */

static void quantize_act_scalar(const float *x, int64_t n, int8_t *q, float *d, float *s) {
    for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32) {
        float amax = 0;
        for (int i = 0; i < 32; i++) if (fabsf(x[i]) > amax) amax = fabsf(x[i]);
        float db = amax / 127, id = db > 0 ? 1.0f / db : 0;
        int sum = 0;
        for (int i = 0; i < 32; i++) { q[i] = (int8_t)lrintf(x[i] * id); sum += q[i]; }
        d[b] = db;
        s[b] = db * (float)sum;
    }
}

/* The same arithmetic 8 lanes at a time: max |x| by masking the sign bit, the same d and
 * 1/d, and cvtps rounds to nearest even like lrintf, so the output is bit-identical. */
AVX2 static void quantize_act_avx2(const float *x, int64_t n, int8_t *q, float *d, float *s) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, absmask), _mm256_and_ps(v1, absmask)),
                                  _mm256_max_ps(_mm256_and_ps(v2, absmask), _mm256_and_ps(v3, absmask)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float db = amax / 127, id = db > 0 ? 1.0f / db : 0;
        __m256 vi = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vi)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vi));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vi)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vi));
        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        /* int32 -> int16 -> int8 packs work per 128-bit lane: restore element order after */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)q, p);
        d[b] = db;
        s[b] = db * (float)_mm_cvtsi128_si32(s4);
    }
}

void rg_quantize_act(const float *x, int64_t n, int8_t *q, float *d, float *s) {
    if (use_avx2) quantize_act_avx2(x, n, q, d, s);
    else quantize_act_scalar(x, n, q, d, s);
}

static float q8_0_q8_scalar(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) {
    (void)s;
    const rg_block_q8_0 *b = w;
    float acc = 0;
    for (int64_t i = 0; i < n / 32; i++, q += 32) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += b[i].qs[j] * q[j];
        acc += rg_f16_to_f32(b[i].d) * d[i] * (float)sum;
    }
    return acc;
}

static float q4_0_q8_scalar(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) {
    (void)s;
    const rg_block_q4_0 *b = w;
    float acc = 0;
    for (int64_t i = 0; i < n / 32; i++, q += 32) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += ((b[i].qs[j] & 0xF) - 8) * q[j] + ((b[i].qs[j] >> 4) - 8) * q[j + 16];
        acc += rg_f16_to_f32(b[i].d) * d[i] * (float)sum;
    }
    return acc;
}

static float q5_0_q8_scalar(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) {
    (void)s;
    const rg_block_q5_0 *b = w;
    float acc = 0;
    int8_t v[32];
    for (int64_t i = 0; i < n / 32; i++, q += 32) {
        int sum = 0;
        q5_0_vals(b + i, v);
        for (int j = 0; j < 32; j++) sum += v[j] * q[j];
        acc += rg_f16_to_f32(b[i].d) * d[i] * (float)sum;
    }
    return acc;
}

static float q4_K_q8_scalar(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) {
    const rg_block_q4_K *b = w;
    float acc = 0;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float dw = rg_f16_to_f32(b[i].d), dmin = rg_f16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; j++, q += 32) {
            uint8_t sc, m;
            scale_min_k4(j, b[i].scales, &sc, &m);
            const uint8_t *qs = b[i].qs + 32 * (j / 2);
            int sum = 0;
            for (int l = 0; l < 32; l++) sum += ((j & 1) ? qs[l] >> 4 : qs[l] & 0xF) * q[l];
            acc += dw * sc * d[8 * i + j] * (float)sum - dmin * m * s[8 * i + j];
        }
    }
    return acc;
}

static float q6_K_q8_scalar(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) {
    (void)s;
    const rg_block_q6_K *b = w;
    float acc = 0;
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        float dw = rg_f16_to_f32(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            for (int k = 0; k < 4; k++) {          /* quarter k = x block 8i + 4h + k */
                const int8_t *xq = q + 32 * (8 * i + 4 * h + k);
                int s0 = 0, s1 = 0;
                for (int l = 0; l < 32; l++) {
                    int lo = k & 1 ? ql[l + 32] : ql[l];
                    int v = ((k < 2 ? lo & 0xF : lo >> 4) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                    if (l < 16) s0 += v * xq[l]; else s1 += v * xq[l];
                }
                acc += dw * d[8 * i + 4 * h + k] * (float)(sc[2 * k] * s0 + sc[2 * k + 1] * s1);   /* sc[is + 2k], is = l / 16 */
            }
        }
    }
    return acc;
}

/* AVX2 forms and the multi-row matrix-vector kernels: nn/matvec_q8.c */

rg_dot_q8_fn rg_dot_q8_scalar_for(int type) {
    switch (type) {
    case RG_TYPE_Q8_0: return q8_0_q8_scalar;
    case RG_TYPE_Q4_0: return q4_0_q8_scalar;
    case RG_TYPE_Q5_0: return q5_0_q8_scalar;
    case RG_TYPE_Q4_K: return q4_K_q8_scalar;
    case RG_TYPE_Q6_K: return q6_K_q8_scalar;
    default: return NULL;
    }
}

/* ---- registration ---- */

int rg_quant_k_avx2(void) { return use_avx2; }

void rg_quant_k_init(void) {
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    rg_type_traits q40 = {"q4_0", RG_QK4_0, sizeof(rg_block_q4_0), rg_dequant_q4_0,
                          use_avx2 ? rg_dot_q4_0_avx2 : rg_dot_q4_0_scalar};
    rg_type_traits q50 = {"q5_0", RG_QK4_0, sizeof(rg_block_q5_0), rg_dequant_q5_0,
                          use_avx2 ? rg_dot_q5_0_avx2 : rg_dot_q5_0_scalar};
    rg_type_traits q4k = {"q4_K", RG_QK_K, sizeof(rg_block_q4_K), rg_dequant_q4_K,
                          use_avx2 ? rg_dot_q4_K_avx2 : rg_dot_q4_K_scalar};
    rg_type_traits q6k = {"q6_K", RG_QK_K, sizeof(rg_block_q6_K), rg_dequant_q6_K,
                          use_avx2 ? rg_dot_q6_K_avx2 : rg_dot_q6_K_scalar};
    rg_type_register(RG_TYPE_Q4_0, &q40);
    rg_type_register(RG_TYPE_Q5_0, &q50);
    rg_type_register(RG_TYPE_Q4_K, &q4k);
    rg_type_register(RG_TYPE_Q6_K, &q6k);
}
