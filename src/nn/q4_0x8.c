/* nn/q4_0x8: see q4_0x8.h. */
#include "nn/q4_0x8.h"
#include "core/util.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

static int sizes_ok(size_t rb, int64_t nrows, int64_t K) {
    if (K <= 0 || K % 32 || nrows < 0 || nrows % 8 || rb != (size_t)(K / 32) * sizeof(rg_block_q4_0)) {
        rg_err("q4_0x8: %lld rows of %lld values (%zu bytes) cannot be interleaved by 8", (long long)nrows, (long long)K, rb);
        return -1;
    }
    return 0;
}

/* dir 1: rows -> records; 0: records -> rows. One oct at a time through a copy of it. */
static int convert(void *w, size_t rb, int64_t nrows, int64_t K, int dir) {
    if (sizes_ok(rb, nrows, K) < 0) return -1;
    int64_t nb = K / 32;
    uint8_t *tmp = xmalloc(8 * rb);
    for (int64_t o = 0; o < nrows / 8; o++) {
        uint8_t *oct = (uint8_t *)w + (size_t)o * 8 * rb;
        memcpy(tmp, oct, 8 * rb);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *rec = (dir ? oct : tmp) + (size_t)b * RG_Q4X8_REC;
            for (int i = 0; i < 8; i++) {
                rg_block_q4_0 *blk = (rg_block_q4_0 *)((dir ? tmp : oct) + (size_t)i * rb) + b;
                if (dir) memcpy(rec + 2 * i, &blk->d, 2);
                else memcpy(&blk->d, rec + 2 * i, 2);
                for (int j = 0; j < 4; j++) {
                    if (dir) memcpy(rec + 16 + 32 * j + 4 * i, blk->qs + 4 * j, 4);
                    else memcpy(blk->qs + 4 * j, rec + 16 + 32 * j + 4 * i, 4);
                }
            }
        }
    }
    free(tmp);
    return 0;
}
int rg_q4x8_repack(void *w, size_t rb, int64_t nrows, int64_t K) { return convert(w, rb, nrows, K, 1); }
int rg_q4x8_unpack(void *w, size_t rb, int64_t nrows, int64_t K) { return convert(w, rb, nrows, K, 0); }

/* Row i's 32 values of block record rec, offset taken off (-8..7): byte k of its quants
 * holds element k low and k + 16 high. The portable paths below all read through this. */
static inline void block_vals(const uint8_t *rec, int i, int8_t v[32]) {
    for (int k = 0; k < 16; k++) {
        uint8_t q = rec[16 + 32 * (k / 4) + 4 * i + k % 4];
        v[k] = (int8_t)((q & 0xF) - 8);
        v[k + 16] = (int8_t)((q >> 4) - 8);
    }
}
static inline float rec_d(const uint8_t *rec, int i) {
    uint16_t h;
    memcpy(&h, rec + 2 * i, 2);
    return rg_f16_to_f32(h);
}
/* Block record b of the oct holding row r. */
static inline const uint8_t *rec_of(const void *w, size_t rb, int64_t r, int64_t b) {
    return (const uint8_t *)w + (size_t)(r / 8) * 8 * rb + (size_t)b * RG_Q4X8_REC;
}

void rg_q4x8_row_to_float(const void *w, size_t rb, int64_t r, float *dst, int64_t K) {
    int i = (int)(r % 8);
    int8_t v[32];
    for (int64_t b = 0; b < K / 32; b++) {
        const uint8_t *rec = rec_of(w, rb, r, b);
        float d = rec_d(rec, i);
        block_vals(rec, i, v);
        for (int k = 0; k < 32; k++) dst[32 * b + k] = d * (float)v[k];
    }
}

float rg_q4x8_dot_scalar(const void *w, size_t rb, int64_t r, const int8_t *q, const float *d, int64_t K) {
    int i = (int)(r % 8);
    int8_t v[32];
    float acc = 0;
    for (int64_t b = 0; b < K / 32; b++) {
        const uint8_t *rec = rec_of(w, rb, r, b);
        block_vals(rec, i, v);
        int32_t s = 0;
        for (int k = 0; k < 32; k++) s += v[k] * q[32 * b + k];
        acc += rec_d(rec, i) * d[b] * (float)s;
    }
    return acc;
}

float rg_q4x8_dot_f32(const void *w, size_t rb, int64_t r, const float *x, int64_t K) {
    int i = (int)(r % 8);
    int8_t v[32];
    float acc = 0;
    for (int64_t b = 0; b < K / 32; b++) {
        const uint8_t *rec = rec_of(w, rb, r, b);
        block_vals(rec, i, v);
        float s = 0;
        for (int k = 0; k < 16; k++) s += (float)v[k] * x[32 * b + k] + (float)v[k + 16] * x[32 * b + k + 16];
        acc += rec_d(rec, i) * s;
    }
    return acc;
}

/* ---- AVX2 ---- */
#define AVX2 __attribute__((target("avx2,fma,f16c")))
/* Software prefetch distance in bytes (0: none), as nn/matvec_q8.c. On this shared VM the
 * two settings could not be told apart reliably from memory in bench/matvec (x8/matvec ratios
 * of 0.9-1.5 either way from run to run); whole generation on one thread, alternated with the
 * previous build, was 33.4-35.0 tok/s with it (29.5-32.5 before) but no faster than before
 * without it, so it stays. */
#ifndef PF_DIST
#define PF_DIST 4096
#endif

AVX2 static inline __attribute__((always_inline)) __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* One oct: per block, 8 maddubs (pairs <= 2*15*127) add up in int16 (8 pairs <= 30480, no
 * overflow), one madd widens them, 8 * sum(x) comes off in int32, then one FMA per block for
 * the 8 rows. Two float accumulators (even and odd blocks) hide the FMA latency. */
AVX2 static void oct_dot(const uint8_t *oct, int64_t nb, const int8_t *q, const float *d, const int32_t *off, float *y) {
    const __m256i m4 = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi16(1);
    __m256 a[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *rec = oct + (size_t)b * RG_Q4X8_REC;
        if (PF_DIST) {
            _mm_prefetch((const char *)rec + PF_DIST, _MM_HINT_T0);
            _mm_prefetch((const char *)rec + PF_DIST + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)rec + PF_DIST + 128, _MM_HINT_T0);
        }
        const int8_t *x = q + 32 * b;
        __m256i p = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            __m256i L = _mm256_loadu_si256((const __m256i *)(rec + 16 + 32 * j));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(_mm256_and_si256(L, m4), bcast4(x + 4 * j)));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(L, 4), m4), bcast4(x + 16 + 4 * j)));
        }
        __m256i s = _mm256_sub_epi32(_mm256_madd_epi16(p, ones), _mm256_set1_epi32(off[b]));
        __m256 D = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)rec));
        a[b & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(D, _mm256_set1_ps(d[b])), a[b & 1]);
    }
    _mm256_storeu_ps(y, _mm256_add_ps(a[0], a[1]));
}

/* 8 * sum of each activation block (once per call: the scalar loop took 2% of generation) */
AVX2 static void offsets(const int8_t *q, int64_t nb, int32_t *off) {
    const __m256i eights = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        __m256i v = _mm256_madd_epi16(_mm256_maddubs_epi16(eights, _mm256_loadu_si256((const __m256i *)(q + 32 * b))), ones);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        off[b] = _mm_cvtsi128_si32(h);
    }
}

void rg_q4x8_matvec(const void *w, size_t rb, int64_t r0, int64_t r1, const int8_t *q, const float *d, int64_t K, float *y) {
    rg_type_get(RG_TYPE_F32);          /* CPU check done (rg_quant_k_init) */
    if (!rg_quant_k_avx2()) {
        for (int64_t r = r0; r < r1; r++) y[r - r0] = rg_q4x8_dot_scalar(w, rb, r, q, d, K);
        return;
    }
    int64_t nb = K / 32;
    int32_t stack_off[1024], *off = nb <= 1024 ? stack_off : xmalloc(sizeof(int32_t) * (size_t)nb);
    offsets(q, nb, off);
    for (int64_t r = r0; r < r1;) {
        if (r % 8 == 0 && r1 - r >= 8) {
            oct_dot((const uint8_t *)w + (size_t)r * rb, nb, q, d, off, y + (r - r0));
            r += 8;
        } else {                       /* a part of an oct (not the decoder's case) */
            y[r - r0] = rg_q4x8_dot_scalar(w, rb, r, q, d, K);
            r++;
        }
    }
    if (off != stack_off) free(off);
}
