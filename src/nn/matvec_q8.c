/* nn/matvec_q8: the AVX2 int8-activation kernels of nn/quant_k.h (rg_dot_q8_for,
 * rg_matvec_q8_for) for Q8_0, Q4_0, Q5_0, Q4_K and Q6_K weights: token generation's inner loop.
 * What made them faster than the first versions (bench/matvec):
 * - two accumulators per row: with one, every block's FMA waited for the previous (4 cycles
 *   a block), which held the 4-bit types below memory speed;
 * - software prefetch PF_DIST bytes ahead in the weight stream: one thread alone otherwise
 *   computed, then waited for memory, in turn (+20-40% from memory on one thread);
 * - Q4_0 and Q6_K multiply the unsigned quants with maddubs directly and take the offset
 *   (8 or 32) off in int32 as offset * sum(x): exactly the integers of the signed form, one
 *   instruction fewer; Q4_0 nibbles unpacked with one broadcast load and a variable shift;
 *   the matvec makes Q4_0's offsets once per call instead of once per row;
 * - Q4_K unpacks its 8 scales and mins with a few word operations and multiplies them as
 *   vectors (the scalar 6-bit unpacking per sub-block cost more than the dot itself).
 * Several rows side by side (sharing activation loads) was tried and was slower from memory
 * for rows of 896: each row is then a short separate stream the hardware prefetcher does not
 * follow. So rows go one after the other, and a row gives the same result, bit for bit,
 * through rg_dot_q8_for and rg_matvec_q8_for. Q8_0, Q4_0 and Q6_K results equal the previous
 * kernels' except for the order of the float sums (Q8_0: identical); Q4_K's min term is now
 * summed as a vector. */
#include "nn/quant_k.h"
#include "nn/simd_avx2.h"
#include "nn/tensor.h"
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE inline __attribute__((always_inline))

AVX2 static INLINE float f16(uint16_t h) { return _cvtsh_ss(h); }
AVX2 static INLINE __m256 i32_ps(__m256i v) { return _mm256_cvtepi32_ps(v); }
/* u8 x s8 products summed in 8 int32 lanes (lane i: bytes 4i..4i+3); pairs stay below
 * 2 * 63 * 127, far from the int16 saturation of maddubs */
AVX2 static INLINE __m256i dot32_u8(__m256i w, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
}
/* signed x signed through |w| and sign(x, w) (maddubs wants one unsigned side) */
AVX2 static INLINE __m256i dot32_i8(__m256i w, __m256i x) {
    return dot32_u8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}
AVX2 static INLINE __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
/* Software prefetch PF_DIST bytes ahead of the weight being read (past a row's end that is
 * the next row): without it the core computes, then waits for memory, in turn. */
#ifndef PF_DIST
#define PF_DIST 4096
#endif
#define PREFETCH(p) _mm_prefetch((const char *)(p) + PF_DIST, _MM_HINT_T0)

/* ---- Q8_0: two accumulators (even and odd blocks), as the kernel always had ---- */
AVX2 static INLINE float q8_0_row(const void *w, const int8_t *q, const float *d, int64_t n) {
    const rg_block_q8_0 *b = w;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t nb = n / 32, i = 0;
    for (; i + 2 <= nb; i += 2) {
        PREFETCH(b + i);
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(b[i].d) * d[i]), i32_ps(dot32_i8(load32(b[i].qs), load32(q + 32 * i))), a0);
        a1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(b[i + 1].d) * d[i + 1]), i32_ps(dot32_i8(load32(b[i + 1].qs), load32(q + 32 * i + 32))), a1);
    }
    if (i < nb) a0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(b[i].d) * d[i]), i32_ps(dot32_i8(load32(b[i].qs), load32(q + 32 * i))), a0);
    return rg_hsum8_avx2(_mm256_add_ps(a0, a1));
}

/* ---- Q4_0: elements 0-15 in the low nibbles, 16-31 in the high ones; Q5_0 the same plus a
 * fifth bit per element from its 32-bit qh, offset 16 ---- */
/* off: 8 * sum(x) per int32 lane of the activation block (from a table, or computed); qh NULL
 * for Q4_0 (a constant in each caller) */
AVX2 static INLINE __m256 q4_q5_block(const uint8_t *qs16, const uint8_t *qh, uint16_t dw, const int8_t *q, const int32_t *off,
                                      float dx, __m256 acc) {
    /* the 16 bytes in both halves, the upper half shifted right 4: low nibbles then high */
    __m256i qs = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs16));
    __m256i wv = _mm256_and_si256(_mm256_srlv_epi64(qs, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0xF));
    if (qh) wv = _mm256_or_si256(wv, rg_q5_high_avx2(qh));
    __m256i xv = load32(q);
    __m256i o = off ? load32(off) : dot32_u8(_mm256_set1_epi8(8), xv);
    if (qh) o = _mm256_slli_epi32(o, 1);
    __m256i p = _mm256_sub_epi32(dot32_u8(wv, xv), o);                 /* (w - 8) . x, (w - 16) . x */
    return _mm256_fmadd_ps(_mm256_set1_ps(f16(dw) * dx), i32_ps(p), acc);
}
AVX2 static INLINE __m256 q4_0_block(const rg_block_q4_0 *b, const int8_t *q, const int32_t *off, float dx, __m256 acc) {
    return q4_q5_block(b->qs, NULL, b->d, q, off, dx, acc);
}
AVX2 static INLINE __m256 q5_0_block(const rg_block_q5_0 *b, const int8_t *q, const int32_t *off, float dx, __m256 acc) {
    return q4_q5_block(b->qs, b->qh, b->d, q, off, dx, acc);
}
/* off: NULL (offsets computed per block) or the table of q4_0_offsets; a constant in each
 * caller, so each gets its own loop */
AVX2 static INLINE float q4_0_row(const void *w, const int8_t *q, const int32_t *off, const float *d, int64_t n) {
    const rg_block_q4_0 *b = w;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t nb = n / 32, i = 0;
#define OFF(k) (off ? off + 8 * (i + (k)) : NULL)
    for (; i + 4 <= nb; i += 4) {                   /* 72 bytes: one prefetch */
        PREFETCH(b + i);
        a0 = q4_0_block(b + i, q + 32 * i, OFF(0), d[i], a0);
        a1 = q4_0_block(b + i + 1, q + 32 * i + 32, OFF(1), d[i + 1], a1);
        a0 = q4_0_block(b + i + 2, q + 32 * i + 64, OFF(2), d[i + 2], a0);
        a1 = q4_0_block(b + i + 3, q + 32 * i + 96, OFF(3), d[i + 3], a1);
    }
    for (; i < nb; i++) {
        if (i & 1) a1 = q4_0_block(b + i, q + 32 * i, OFF(0), d[i], a1);
        else a0 = q4_0_block(b + i, q + 32 * i, OFF(0), d[i], a0);
    }
#undef OFF
    return rg_hsum8_avx2(_mm256_add_ps(a0, a1));
}
AVX2 static void q4_0_offsets(const int8_t *q, int64_t nb, int32_t *off) {
    for (int64_t i = 0; i < nb; i++) _mm256_storeu_si256((__m256i *)(off + 8 * i), dot32_u8(_mm256_set1_epi8(8), load32(q + 32 * i)));
}

/* Q5_0 rows: 44 bytes per two blocks */
AVX2 static INLINE float q5_0_row(const void *w, const int8_t *q, const int32_t *off, const float *d, int64_t n) {
    const rg_block_q5_0 *b = w;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t nb = n / 32, i = 0;
#define OFF(k) (off ? off + 8 * (i + (k)) : NULL)
    for (; i + 2 <= nb; i += 2) {                   /* 44 bytes: about one prefetch per line */
        PREFETCH(b + i);
        a0 = q5_0_block(b + i, q + 32 * i, OFF(0), d[i], a0);
        a1 = q5_0_block(b + i + 1, q + 32 * i + 32, OFF(1), d[i + 1], a1);
    }
    if (i < nb) a0 = q5_0_block(b + i, q + 32 * i, OFF(0), d[i], a0);
#undef OFF
    return rg_hsum8_avx2(_mm256_add_ps(a0, a1));
}

/* ---- Q4_K ---- */
/* The 8 six-bit scales (bytes 0-7) and mins (bytes 8-15) of a block's packed scales[12]:
 * scales/mins 0-3 are the low 6 bits of bytes 0-3 / 4-7; scales/mins 4-7 take their low 4
 * bits from the low / high nibbles of bytes 8-11 and their top 2 bits from the spare top bits
 * of bytes 0-3 / 4-7 (byte-wise shifts done on 32-bit words, masked per byte). */
AVX2 static INLINE __m128i k4_scales_mins(const uint8_t *p) {
    uint32_t u0, u1, u2;
    memcpy(&u0, p, 4);
    memcpy(&u1, p + 4, 4);
    memcpy(&u2, p + 8, 4);
    uint32_t sc_lo = u0 & 0x3F3F3F3Fu, mn_lo = u1 & 0x3F3F3F3Fu;
    uint32_t sc_hi = (u2 & 0x0F0F0F0Fu) | ((u0 >> 2) & 0x30303030u);
    uint32_t mn_hi = ((u2 >> 4) & 0x0F0F0F0Fu) | ((u1 >> 2) & 0x30303030u);
    return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)mn_lo, (int)mn_hi);
}

/* Sub-block j (32 values) is scaled by dw * sc[j] * d[j]: one vector of the 8 per block,
 * a lane broadcast per sub-block. The min term dmin * m[j] * s[j] is one FMA per block, into
 * its own accumulator, subtracted at the end. */
AVX2 static INLINE float q4_K_row(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) {
    const rg_block_q4_K *b = w;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), mins = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RG_QK_K; i++, q += RG_QK_K) {
        PREFETCH(b + i);
        PREFETCH((const char *)(b + i) + 64);
        PREFETCH((const char *)(b + i) + 128);
        __m128i sm = k4_scales_mins(b[i].scales);
        __m256 scl = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(f16(b[i].d)), i32_ps(_mm256_cvtepu8_epi32(sm))), _mm256_loadu_ps(d + 8 * i));
        __m256 mv = _mm256_mul_ps(_mm256_set1_ps(f16(b[i].dmin)), i32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
        mins = _mm256_fmadd_ps(mv, _mm256_loadu_ps(s + 8 * i), mins);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i qs = load32(b[i].qs + 32 * c);
            __m256i lo = _mm256_and_si256(qs, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
            a0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(scl, _mm256_set1_epi32(2 * c)), i32_ps(dot32_u8(lo, load32(q + 64 * c))), a0);
            a1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(scl, _mm256_set1_epi32(2 * c + 1)), i32_ps(dot32_u8(hi, load32(q + 64 * c + 32))), a1);
        }
    }
    return rg_hsum8_avx2(_mm256_add_ps(a0, a1)) - rg_hsum8_avx2(mins);
}

/* ---- Q6_K: per half (128 values) quarter k is activation block 8i + 4h + k; its low 16
 * values use scale 2k of the half, the high 16 scale 2k + 1 ---- */
AVX2 static INLINE float q6_K_row(const void *w, const int8_t *q, const float *d, int64_t n) {
    const rg_block_q6_K *b = w;
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    const __m256i pair = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / RG_QK_K; i++) {
        for (int k = 0; k < 210; k += 64) PREFETCH((const char *)(b + i) + k);
        __m256 dw = _mm256_set1_ps(f16(b[i].d));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            int64_t xb = 8 * i + 4 * h;
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            /* lane 2k + j: dw * d[xb + k] * sc[2k + j], the scale of quarter k's half j */
            __m256 f = _mm256_mul_ps(dw, _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(d + xb)), pair));
            __m256 sc = _mm256_mul_ps(f, i32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].scales + 8 * h)))));
            __m256i a = load32(ql), c = load32(ql + 32), hb = load32(qh);
            __m256i wq[4];
            wq[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
            wq[1] = _mm256_or_si256(_mm256_and_si256(c, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
            wq[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
            wq[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m256i xv = load32(q + 32 * (xb + k));
                __m256i p = _mm256_sub_epi32(dot32_u8(wq[k], xv), dot32_u8(m32, xv));     /* (w - 32) . x */
                __m256 scl = _mm256_permutevar8x32_ps(sc, _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1));
                if (k & 1) a1 = _mm256_fmadd_ps(scl, i32_ps(p), a1);
                else a0 = _mm256_fmadd_ps(scl, i32_ps(p), a0);
            }
        }
    }
    return rg_hsum8_avx2(_mm256_add_ps(a0, a1));
}

/* ---- entry points: single rows (rg_dot_q8_fn) and runs of rows (rg_matvec_q8_fn) ---- */

AVX2 static float q8_0_dot(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) { (void)s; return q8_0_row(w, q, d, n); }
AVX2 static float q4_0_dot(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) { (void)s; return q4_0_row(w, q, NULL, d, n); }
AVX2 static float q5_0_dot(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) { (void)s; return q5_0_row(w, q, NULL, d, n); }
AVX2 static float q4_K_dot(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) { return q4_K_row(w, q, d, s, n); }
AVX2 static float q6_K_dot(const void *w, const int8_t *q, const float *d, const float *s, int64_t n) { (void)s; return q6_K_row(w, q, d, n); }

/* Rows one after the other: the weights are then read as one sequential stream, which the
 * hardware prefetcher follows best (several rows side by side, sharing activation loads,
 * measured slower from memory for rows of 896: each row is too short a stream). */
#define MATVEC(name, row_call)                                                                     \
    AVX2 static void name(const void *w, size_t rb, int64_t nrows, const int8_t *q, const float *d, \
                          const float *s, int64_t n, float *y) {                                   \
        (void)s;                                                                                   \
        const char *wr = w;                                                                        \
        for (int64_t r = 0; r < nrows; r++, wr += rb) y[r] = row_call;                             \
    }
MATVEC(q8_0_matvec, q8_0_row(wr, q, d, n))
/* Q4_0 and Q5_0: the offsets of every activation block made once per call, not once per row
 * (rows up to 8192 values; longer ones compute them per block). Q5_0 doubles Q4_0's 8 * sum. */
#define OFFSET_MATVEC(name, row_fn)                                                                \
    AVX2 static void name(const void *w, size_t rb, int64_t nrows, const int8_t *q, const float *d, \
                          const float *s, int64_t n, float *y) {                                   \
        (void)s;                                                                                   \
        const char *wr = w;                                                                        \
        if (n > 8192) {                                                                            \
            for (int64_t r = 0; r < nrows; r++, wr += rb) y[r] = row_fn(wr, q, NULL, d, n);        \
            return;                                                                                \
        }                                                                                          \
        int32_t off[8192 / 4] __attribute__((aligned(32)));                                        \
        q4_0_offsets(q, n / 32, off);                                                              \
        for (int64_t r = 0; r < nrows; r++, wr += rb) y[r] = row_fn(wr, q, off, d, n);             \
    }
OFFSET_MATVEC(q4_0_matvec, q4_0_row)
OFFSET_MATVEC(q5_0_matvec, q5_0_row)
MATVEC(q4_K_matvec, q4_K_row(wr, q, d, s, n))
MATVEC(q6_K_matvec, q6_K_row(wr, q, d, n))

/* portable: one scalar dot per row */
#define SCALAR_MATVEC(name, type)                                                                  \
    static void name(const void *w, size_t rb, int64_t nrows, const int8_t *q, const float *d,     \
                     const float *s, int64_t n, float *y) {                                        \
        rg_dot_q8_fn dot = rg_dot_q8_scalar_for(type);                                             \
        for (int64_t r = 0; r < nrows; r++) y[r] = dot((const char *)w + (size_t)r * rb, q, d, s, n); \
    }
SCALAR_MATVEC(q8_0_matvec_scalar, RG_TYPE_Q8_0)
SCALAR_MATVEC(q4_0_matvec_scalar, RG_TYPE_Q4_0)
SCALAR_MATVEC(q5_0_matvec_scalar, RG_TYPE_Q5_0)
SCALAR_MATVEC(q4_K_matvec_scalar, RG_TYPE_Q4_K)
SCALAR_MATVEC(q6_K_matvec_scalar, RG_TYPE_Q6_K)

rg_dot_q8_fn rg_dot_q8_for(int type) {
    rg_type_get(RG_TYPE_F32);          /* makes sure rg_quant_k_init ran (CPU check) */
    if (!rg_quant_k_avx2()) return rg_dot_q8_scalar_for(type);
    switch (type) {
    case RG_TYPE_Q8_0: return q8_0_dot;
    case RG_TYPE_Q4_0: return q4_0_dot;
    case RG_TYPE_Q5_0: return q5_0_dot;
    case RG_TYPE_Q4_K: return q4_K_dot;
    case RG_TYPE_Q6_K: return q6_K_dot;
    default: return NULL;
    }
}

rg_matvec_q8_fn rg_matvec_q8_scalar_for(int type) {
    switch (type) {
    case RG_TYPE_Q8_0: return q8_0_matvec_scalar;
    case RG_TYPE_Q4_0: return q4_0_matvec_scalar;
    case RG_TYPE_Q5_0: return q5_0_matvec_scalar;
    case RG_TYPE_Q4_K: return q4_K_matvec_scalar;
    case RG_TYPE_Q6_K: return q6_K_matvec_scalar;
    default: return NULL;
    }
}

rg_matvec_q8_fn rg_matvec_q8_for(int type) {
    rg_type_get(RG_TYPE_F32);
    if (!rg_quant_k_avx2()) return rg_matvec_q8_scalar_for(type);
    switch (type) {
    case RG_TYPE_Q8_0: return q8_0_matvec;
    case RG_TYPE_Q4_0: return q4_0_matvec;
    case RG_TYPE_Q5_0: return q5_0_matvec;
    case RG_TYPE_Q4_K: return q4_K_matvec;
    case RG_TYPE_Q6_K: return q6_K_matvec;
    default: return NULL;
    }
}
