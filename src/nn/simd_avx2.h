/* nn/simd_avx2: vector math shared by the AVX2 kernels (nn/kernels.c, nn/quant_k.c, nn/matvec_q8.c,
 * nn/qgemm.c, generate/llama.c).
 * Functions carry their own target attribute, so including files need no -mavx2; callers
 * must only reach them on CPUs with AVX2 and FMA. */
#ifndef RAGD_NN_SIMD_AVX2_H
#define RAGD_NN_SIMD_AVX2_H
#include <immintrin.h>

#define RG_AVX2 __attribute__((target("avx2,fma")))

/* The sum of 8 lanes. */
static inline __attribute__((always_inline)) RG_AVX2 float rg_hsum8_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Q5_0's fifth bits as bytes 0 or 16: byte j of the result is 16 when bit j of the 4 bytes
 * at qh (little-endian) is set. Byte j takes byte j / 8 of qh (a shuffle within each 128-bit
 * lane of qh broadcast), keeps bit j % 8, and compares. */
static inline __attribute__((always_inline)) RG_AVX2 __m256i rg_q5_high_avx2(const unsigned char *qh) {
    int h;
    __builtin_memcpy(&h, qh, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(h), spread);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit), _mm256_set1_epi8(16));
}

/* e^x for 8 lanes: x = n ln2 + r (ln2 split in two for exactness), e^r by its degree-7
 * Taylor/minimax polynomial, 2^n through the exponent bits. Inputs are clamped to
 * [-87.3, 88.3] (results 1e-38 .. 2e38); relative error about 2e-7. */
static inline RG_AVX2 __m256 rg_exp8_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.37626f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#endif
