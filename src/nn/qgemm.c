/* nn/qgemm: see qgemm.h. The AVX2 tile kernels are one always-inline template per weight
 * type, instantiated for every tile shape up to QG_RM rows x QG_RN tokens so that edges need
 * no scalar code and the accumulators of each shape stay in registers.
 * Integer products: Q8_0 weights are signed, so |w| (u8) x sign(x, w) (s8) goes through
 * maddubs (pairs <= 2*128*127, no int16 saturation); Q4_0 and Q4_K nibbles are unsigned and go
 * in directly, their offsets (-8, the Q4_K mins) applied through the activation sums s. */
#include "nn/qgemm.h"
#include "core/util.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"
#include <immintrin.h>
#include <string.h>

#define QG_RM 4                /* weight rows per tile (4x3 measured best of 4x2, 3x3, 2x3: */
#define QG_RN 3                /* 12 accumulators, few spills; Q8_0 4-row tiles: see tile_q8_r4) */
#define CHUNK_BYTES (192 * 1024)   /* activation bytes per token chunk (L2-resident) */
#define SEG 32                 /* blocks whose scales are computed ahead (tile_q0) */
#define GROUP 16               /* rows per group: 64 bytes of output per token */

static inline void store_out(float *y, size_t ldy, int64_t r, int t, float v, const float *bias, const float *resid) {
    size_t o = (size_t)t * ldy + (size_t)r;
    if (bias) v += bias[r];
    if (resid) v += resid[o];
    y[o] = v;
}

/* One dot product per (row, token) with the given kernel: the reference, and the fallback
 * for types without tiles. */
static int qgemm_rowwise(rg_dot_q8_fn dot, int type, const void *w, size_t rb, int64_t r0, int64_t r1,
                         const rg_qact *x, const float *bias, const float *resid, float *y, size_t ldy) {
    const rg_type_traits *tr = rg_type_get(type);
    if (!tr || !dot || x->K % tr->blck || x->K % 32) { rg_err("qgemm: no int8 kernel for type %d, K %lld", type, (long long)x->K); return -1; }
    int64_t nb = x->K / 32;
    for (int t = 0; t < x->T; t++)
        for (int64_t r = r0; r < r1; r++)
            store_out(y, ldy, r, t, dot((const char *)w + (size_t)r * rb, x->q + (size_t)t * x->K, x->d + t * nb, x->s + t * nb, x->K),
                      bias, resid);
    return 0;
}

int rg_qgemm_ref(int type, const void *w, size_t rb, int64_t r0, int64_t r1, const rg_qact *x,
                 const float *bias, const float *resid, float *y, size_t ldy) {
    return qgemm_rowwise(rg_dot_q8_scalar_for(type), type, w, rb, r0, r1, x, bias, resid, y, ldy);
}

/* ---------------- AVX2 tiles ---------------- */

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define TILE AVX2 static inline __attribute__((always_inline))

/* out[r * QG_RN + t] for a tile of rm rows (rb bytes apart) x rn tokens (K int8 apart). */
/* ws: the converted Q8_0 row scales of a full 4-row tile (ws[4 * block + row]), else unused */
typedef void (*tile_fn)(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *xs, const float *ws,
                        int64_t K, float *out);

TILE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Q8_0, four full rows: the int32 lane sums of the four rows are folded by unpacks into
 * one vector per token (lane i holds row i % 4), so one convert and one FMA against the four
 * row scales times the token scale serve 128 MACs; three accumulators instead of twelve.
 * The row scales come converted from rg_qgemm (ws[4 * b + r]), not per token tile. */
TILE void tile_q8_r4(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *ws, int64_t K, float *out,
                     const int rn) {
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t bs = sizeof(rg_block_q8_0);
    __m256 acc[QG_RN];
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) acc[t] = _mm256_setzero_ps();
    const int64_t nb = K / 32;
    for (int64_t b = 0; b < nb; b++) {
        const char *wb = w + (size_t)b * bs + 2;
        const __m256 dw = _mm256_broadcast_ps((const __m128 *)(ws + 4 * b));
        __m256i half[QG_RN];
#pragma GCC unroll 2
        for (int pr = 0; pr < 2; pr++) {
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(wb + (size_t)(2 * pr) * rb));
            __m256i w1 = _mm256_loadu_si256((const __m256i *)(wb + (size_t)(2 * pr + 1) * rb));
            __m256i a0 = _mm256_sign_epi8(w0, w0), a1 = _mm256_sign_epi8(w1, w1);
#pragma GCC unroll 4
            for (int t = 0; t < rn; t++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + (size_t)t * K + 32 * b));
                __m256i m0 = _mm256_madd_epi16(_mm256_maddubs_epi16(a0, _mm256_sign_epi8(xv, w0)), ones);
                __m256i m1 = _mm256_madd_epi16(_mm256_maddubs_epi16(a1, _mm256_sign_epi8(xv, w1)), ones);
                /* per 128-bit lane: rows 2pr, 2pr+1, 2pr, 2pr+1 */
                __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi32(m0, m1), _mm256_unpackhi_epi32(m0, m1));
                if (pr == 0) half[t] = u;
                else {         /* rows 0..3 per 128-bit lane */
                    __m256i hs = _mm256_add_epi32(_mm256_unpacklo_epi64(half[t], u), _mm256_unpackhi_epi64(half[t], u));
                    __m256 sc = _mm256_mul_ps(dw, _mm256_broadcast_ss(xd + t * nb + b));
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hs), sc, acc[t]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) {
        _Alignas(16) float o[4];
        _mm_store_ps(o, _mm_add_ps(_mm256_castps256_ps128(acc[t]), _mm256_extractf128_ps(acc[t], 1)));
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) out[r * QG_RN + t] = o[r];
    }
}

/* Q4_0 (q4 = 1) and the Q8_0 edge tiles of fewer than 4 rows: blocks of 32, one f16 scale
 * each. Per block the rm row scales are converted together and multiplied by each token's
 * scale into S (a segment of SEG blocks ahead), which the FMAs broadcast from memory. Q4_0 nibbles stay unsigned (0..15, no sign trick);
 * their -8 offset is -8 * d * s, accumulated per token for the four rows at once in corr. */
TILE void tile_q0(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *xs, int64_t K, float *out,
                  const int rm, const int rn, const int q4) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m128i m4 = _mm_set1_epi8(0xF);
    const size_t bs = q4 ? sizeof(rg_block_q4_0) : sizeof(rg_block_q8_0);
    __m256 acc[QG_RM][QG_RN];
    __m128 corr[QG_RN];
    _Alignas(16) float S[SEG][QG_RN][4];
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) corr[t] = _mm_setzero_ps();
#pragma GCC unroll 4
    for (int r = 0; r < rm; r++)
#pragma GCC unroll 4
        for (int t = 0; t < rn; t++) acc[r][t] = _mm256_setzero_ps();
    const int64_t nb = K / 32;
    for (int64_t b0 = 0; b0 < nb; b0 += SEG) {
        const int ns = nb - b0 < SEG ? (int)(nb - b0) : SEG;
        /* scales of the segment first: the FMAs below then broadcast them from stores made
         * long before, not from a store still in flight (a forwarding stall per block) */
        for (int j = 0; j < ns; j++) {
            const char *wb = w + (size_t)(b0 + j) * bs;  /* both block types start with the f16 d */
            uint16_t dh[4] = {0, 0, 0, 0};
#pragma GCC unroll 4
            for (int r = 0; r < rm; r++) memcpy(&dh[r], wb + (size_t)r * rb, 2);
            __m128 dw4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dh));
#pragma GCC unroll 4
            for (int t = 0; t < rn; t++) {
                _mm_store_ps(S[j][t], _mm_mul_ps(dw4, _mm_broadcast_ss(xd + t * nb + b0 + j)));
                if (q4) corr[t] = _mm_fmadd_ps(dw4, _mm_broadcast_ss(xs + t * nb + b0 + j), corr[t]);
            }
        }
        for (int j = 0; j < ns; j++) {
            const int64_t b = b0 + j;
            const char *wb = w + (size_t)b * bs;
#pragma GCC unroll 4
            for (int r = 0; r < rm; r++) {
                const char *qs = wb + (size_t)r * rb + 2;
                __m256i wv, aw;
                if (q4) {
                    __m128i v = _mm_loadu_si128((const __m128i *)qs);
                    aw = wv = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
                } else {
                    wv = _mm256_loadu_si256((const __m256i *)qs);
                    aw = _mm256_sign_epi8(wv, wv);
                }
#pragma GCC unroll 4
                for (int t = 0; t < rn; t++) {
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + (size_t)t * K + 32 * b));
                    __m256i p = _mm256_maddubs_epi16(aw, q4 ? xv : _mm256_sign_epi8(xv, wv));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), _mm256_broadcast_ss(&S[j][t][r]), acc[r][t]);
                }
            }
        }
    }
    _Alignas(16) float c[QG_RN][4];
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) _mm_store_ps(c[t], corr[t]);
#pragma GCC unroll 4
    for (int r = 0; r < rm; r++)
#pragma GCC unroll 4
        for (int t = 0; t < rn; t++) out[r * QG_RN + t] = hsum8(acc[r][t]) - (q4 ? 8 * c[t][r] : 0);
}

/* Q4_K: super-blocks of 256 = 8 sub-blocks of 32, x = d*sc[j]*q - dmin*m[j], q in 0..15. */
static inline void scales_k4(const uint8_t *q, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

TILE void tile_q4_K(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *xs, int64_t K, float *out,
                    const int rm, const int rn) {
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(0xF);
    __m256 acc[QG_RM][QG_RN];
#pragma GCC unroll 4
    for (int r = 0; r < rm; r++)
#pragma GCC unroll 4
        for (int t = 0; t < rn; t++) acc[r][t] = _mm256_setzero_ps();
    const int64_t nb = K / 32, ns = K / RG_QK_K;
    for (int64_t i = 0; i < ns; i++) {
#pragma GCC unroll 4
        for (int r = 0; r < rm; r++) {
            const rg_block_q4_K *blk = (const rg_block_q4_K *)(w + (size_t)r * rb) + i;
            uint8_t sc[8], mn[8];
            scales_k4(blk->scales, sc, mn);
            float dw = _cvtsh_ss(blk->d), dmin = _cvtsh_ss(blk->dmin);
            /* min term: dmin*m[j] against the 8 sub-block sums s of each token, lane by lane */
            __m256 mv = _mm256_mul_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn))));
#pragma GCC unroll 4
            for (int t = 0; t < rn; t++) acc[r][t] = _mm256_fnmadd_ps(mv, _mm256_loadu_ps(xs + t * nb + 8 * i), acc[r][t]);
            for (int c = 0; c < 4; c++) {
                __m256i qs = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * c));
                __m256i lo = _mm256_and_si256(qs, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
                __m256 d0 = _mm256_set1_ps(dw * sc[2 * c]), d1 = _mm256_set1_ps(dw * sc[2 * c + 1]);
#pragma GCC unroll 4
                for (int t = 0; t < rn; t++) {
                    const int8_t *x = xq + (size_t)t * K + RG_QK_K * i + 64 * c;
                    const float *dx = xd + t * nb + 8 * i + 2 * c;
                    __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)x)), ones);
                    __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x + 32))), ones);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_mul_ps(d0, _mm256_broadcast_ss(dx)), acc[r][t]);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_mul_ps(d1, _mm256_broadcast_ss(dx + 1)), acc[r][t]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < rm; r++)
#pragma GCC unroll 4
        for (int t = 0; t < rn; t++) out[r * QG_RN + t] = hsum8(acc[r][t]);
}

#define INST(RM_, RN_)                                                                                       \
    AVX2 static void q8_##RM_##x##RN_(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *xs, \
                                      const float *ws, int64_t K, float *out) {                              \
        if (RM_ == 4) tile_q8_r4(w, rb, xq, xd, ws, K, out, RN_);                                            \
        else tile_q0(w, rb, xq, xd, xs, K, out, RM_, RN_, 0);                                                \
    }                                                                                                        \
    AVX2 static void q4_##RM_##x##RN_(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *xs, \
                                      const float *ws, int64_t K, float *out) { tile_q0(w, rb, xq, xd, xs, K, out, RM_, RN_, 1); } \
    AVX2 static void qk_##RM_##x##RN_(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *xs, \
                                      const float *ws, int64_t K, float *out) { tile_q4_K(w, rb, xq, xd, xs, K, out, RM_, RN_); }
INST(1, 1) INST(1, 2) INST(1, 3)
INST(2, 1) INST(2, 2) INST(2, 3)
INST(3, 1) INST(3, 2) INST(3, 3)
INST(4, 1) INST(4, 2) INST(4, 3)
#undef INST

#define ROW(p, m) {p##_##m##x1, p##_##m##x2, p##_##m##x3}
static const tile_fn tiles_q8[QG_RM][QG_RN] = {ROW(q8, 1), ROW(q8, 2), ROW(q8, 3), ROW(q8, 4)};
static const tile_fn tiles_q4[QG_RM][QG_RN] = {ROW(q4, 1), ROW(q4, 2), ROW(q4, 3), ROW(q4, 4)};
static const tile_fn tiles_qk[QG_RM][QG_RN] = {ROW(qk, 1), ROW(qk, 2), ROW(qk, 3), ROW(qk, 4)};
#undef ROW

static const tile_fn (*tiles_for(int type))[QG_RN] {
    if (!rg_quant_k_avx2()) return NULL;
    switch (type) {
    case RG_TYPE_Q8_0: return tiles_q8;
    case RG_TYPE_Q4_0: return tiles_q4;
    case RG_TYPE_Q4_K: return tiles_qk;
    default: return NULL;
    }
}

int rg_qgemm_blocked(int type) {
    rg_type_get(RG_TYPE_F32);          /* CPU check done (rg_quant_k_init) */
    return tiles_for(type) != NULL;
}

int rg_qgemm(int type, const void *w, size_t rb, int64_t r0, int64_t r1, const rg_qact *x,
             const float *bias, const float *resid, float *y, size_t ldy) {
    rg_type_get(RG_TYPE_F32);
    const rg_type_traits *tr = rg_type_get(type);
    const tile_fn(*tiles)[QG_RN] = tiles_for(type);
    if (!tiles || !tr || x->K % tr->blck || x->K % 32)
        return qgemm_rowwise(rg_dot_q8_for(type), type, w, rb, r0, r1, x, bias, resid, y, ldy);
    const int64_t K = x->K, nb = K / 32;
    /* Q8_0: the f16 scales of a row group, converted once per (chunk, group) instead of once
     * per token tile: [quad][block][row in quad] */
    float *ws = NULL;
    if (type == RG_TYPE_Q8_0) {
        ws = malloc(sizeof(float) * (GROUP / QG_RM) * (size_t)nb * QG_RM);
        if (!ws) return qgemm_rowwise(rg_dot_q8_for(type), type, w, rb, r0, r1, x, bias, resid, y, ldy);
    }
    int chunk = (int)(CHUNK_BYTES / K) / QG_RN * QG_RN;
    if (chunk < QG_RN) chunk = QG_RN;
    const char *wb = w;
    for (int t0 = 0; t0 < x->T; t0 += chunk) {
        int t1 = x->T - t0 < chunk ? x->T : t0 + chunk;
        /* row groups of GROUP rows: their weights stay in L1/L2 across the chunk's tokens,
         * and each token's outputs of the group fill whole cache lines of y at once */
        for (int64_t g = r0; g < r1; g += GROUP) {
            int64_t g1 = r1 - g < GROUP ? r1 : g + GROUP;
            if (ws)
                for (int64_t r = g; r + QG_RM <= g1; r += QG_RM)
                    for (int64_t b = 0; b < nb; b++)
                        for (int i = 0; i < QG_RM; i++) {
                            const rg_block_q8_0 *blk = (const rg_block_q8_0 *)(wb + (size_t)(r + i) * rb) + b;
                            ws[((size_t)((r - g) / QG_RM) * (size_t)nb + (size_t)b) * QG_RM + (size_t)i] = rg_f16_to_f32(blk->d);
                        }
            for (int t = t0; t < t1; t += QG_RN) {
                int rn = t1 - t < QG_RN ? t1 - t : QG_RN;
                for (int64_t r = g; r < g1; r += QG_RM) {
                    int rm = g1 - r < QG_RM ? (int)(g1 - r) : QG_RM;
                    float o[QG_RM * QG_RN];
                    const float *wsq = ws ? ws + (size_t)((r - g) / QG_RM) * (size_t)nb * QG_RM : NULL;
                    tiles[rm - 1][rn - 1](wb + (size_t)r * rb, rb, x->q + (size_t)t * K, x->d + t * nb, x->s + t * nb, wsq, K, o);
                    for (int i = 0; i < rm; i++)
                        for (int j = 0; j < rn; j++) store_out(y, ldy, r + i, t + j, o[i * QG_RN + j], bias, resid);
                }
            }
        }
    }
    free(ws);
    return 0;
}
