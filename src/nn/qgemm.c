/* nn/qgemm: see qgemm.h. The AVX2 tile kernels are always-inline templates, instantiated for
 * every tile shape (Q8_0: up to QG_RM rows x QG_RN tokens; Q4: 8 rows x up to QG_RN4 tokens)
 * so that edges need no scalar code and the accumulators of each shape stay in registers.
 * Integer products: Q8_0 weights are signed, so |w| (u8) x sign(x, w) (s8) goes through
 * maddubs (pairs <= 2*128*127, no int16 saturation); Q4_0 and Q4_K nibbles are unsigned and go
 * in directly, their offsets (-8, the Q4_K mins) applied through the activation sums s.
 * Q4_0 and Q4_K share one kernel: a group of rows is first repacked (nibbles to bytes, 8 rows
 * interleaved, scales and mins to floats) once per token chunk, then every token tile of the
 * chunk only multiplies. */
#include "nn/qgemm.h"
#include "core/util.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"
#include <immintrin.h>
#include <string.h>

#define QG_RM 4                /* weight rows per tile (4x3 measured best of 4x2, 3x3, 2x3: */
#define QG_RN 3                /* 12 accumulators, few spills; Q8_0 4-row tiles: see tile_q8_r4) */
#define CHUNK_BYTES (192 * 1024)   /* activation bytes per token chunk (L2-resident) */
/* Q4: a larger chunk; its tokens stream from L3 past a packed group that stays in L1/L2, and
 * each weight row is read and repacked once per chunk (1 MB measured best of 192 KB, 512 KB,
 * 1 MB, 4 MB: Q4_K 4864-wide rows 1.2x faster than with 192 KB) */
#define Q4_CHUNK_BYTES (1024 * 1024)
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

/* Q8_0: out[r * QG_RN + t] for a tile of rm rows (rb bytes apart) x rn tokens (K int8 apart);
 * ws: the converted row scales of a full 4-row tile (ws[4 * block + row]), else unused */
typedef void (*tile_fn)(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *ws, int64_t K, float *out);

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

/* Q8_0 edge tiles of fewer than 4 rows: per block the rm row scales are converted together
 * and multiplied by each token's scale into S (a segment of SEG blocks ahead), which the FMAs
 * broadcast from memory. */
TILE void tile_q0(const char *w, size_t rb, const int8_t *xq, const float *xd, int64_t K, float *out, const int rm,
                  const int rn) {
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t bs = sizeof(rg_block_q8_0);
    __m256 acc[QG_RM][QG_RN];
    _Alignas(16) float S[SEG][QG_RN][4];
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
            const char *wb = w + (size_t)(b0 + j) * bs;
            uint16_t dh[4] = {0, 0, 0, 0};
#pragma GCC unroll 4
            for (int r = 0; r < rm; r++) memcpy(&dh[r], wb + (size_t)r * rb, 2);
            __m128 dw4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dh));
#pragma GCC unroll 4
            for (int t = 0; t < rn; t++) _mm_store_ps(S[j][t], _mm_mul_ps(dw4, _mm_broadcast_ss(xd + t * nb + b0 + j)));
        }
        for (int j = 0; j < ns; j++) {
            const int64_t b = b0 + j;
            const char *wb = w + (size_t)b * bs;
#pragma GCC unroll 4
            for (int r = 0; r < rm; r++) {
                __m256i wv = _mm256_loadu_si256((const __m256i *)(wb + (size_t)r * rb + 2)), aw = _mm256_sign_epi8(wv, wv);
#pragma GCC unroll 4
                for (int t = 0; t < rn; t++) {
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + (size_t)t * K + 32 * b));
                    __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wv));
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), _mm256_broadcast_ss(&S[j][t][r]), acc[r][t]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < rm; r++)
#pragma GCC unroll 4
        for (int t = 0; t < rn; t++) out[r * QG_RN + t] = hsum8(acc[r][t]);
}

/* ---- Q4_0 and Q4_K: packed row groups ----
 * Both are blocks of 32 unsigned nibbles q with a scale D and an offset M per (row, block):
 * w = D*q - M (Q4_0: D = d, M = 8d; Q4_K: D = d*sc[j], M = dmin*m[j] of sub-block j).
 * rg_qgemm packs each group of rows once per token chunk into a record per (oct of 8 rows,
 * block): 8 vectors, vector s holding q[4s..4s+3] of each of the 8 rows (a dword per row),
 * then D of the 8 rows, then M (rows past the group's end are zero). A token's 4 activations
 * k = 4s..4s+3, broadcast to all dwords, then meet 8 rows in one maddubs, and the rows' sums
 * stay in their own lanes: no horizontal adds. */
#define PK_REC (8 * 32 + 16 * 4)
#define QG_RN4 4               /* tokens per Q4 tile (measured: 4 over 1, 2, 3, 6) */

/* 8 rows' 32 q of one block (v[i]: row i, activation order) -> rec (dword transpose) */
AVX2 static inline void pack_oct(const __m256i v[8], uint8_t *rec) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        __m256 a = _mm256_castsi256_ps(v[2 * i]), c = _mm256_castsi256_ps(v[2 * i + 1]);
        t[2 * i] = _mm256_unpacklo_ps(a, c);
        t[2 * i + 1] = _mm256_unpackhi_ps(a, c);
    }
    for (int h = 0; h < 2; h++) {      /* rows 4h..4h+3: u[4h + j] holds dwords j and j + 4 */
        u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_store_ps((float *)(rec + 32 * j), _mm256_permute2f128_ps(u[j], u[4 + j], 0x20));
        _mm256_store_ps((float *)(rec + 32 * (j + 4)), _mm256_permute2f128_ps(u[j], u[4 + j], 0x31));
    }
}

/* Q4_0 block: low nibbles are values 0..15, high nibbles 16..31 */
AVX2 static void pack_q4_0(const char *w, size_t rb, int rows, int64_t nb, uint8_t *pk) {
    const __m128i m4 = _mm_set1_epi8(0xF);
    for (int o = 0; 8 * o < rows; o++) {
        const int n = rows - 8 * o < 8 ? rows - 8 * o : 8;
        uint8_t *rec = pk + (size_t)o * (size_t)nb * PK_REC;
        for (int64_t b = 0; b < nb; b++, rec += PK_REC) {
            __m256i v[8];
            float *dm = (float *)(rec + 256);
            for (int i = 0; i < 8; i++) {
                if (i >= n) { v[i] = _mm256_setzero_si256(); dm[i] = dm[8 + i] = 0; continue; }
                const rg_block_q4_0 *blk = (const rg_block_q4_0 *)(w + (size_t)(8 * o + i) * rb) + b;
                __m128i q = _mm_loadu_si128((const __m128i *)blk->qs);
                v[i] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
                dm[i] = _cvtsh_ss(blk->d);
                dm[8 + i] = 8 * dm[i];
            }
            pack_oct(v, rec);
        }
    }
}

/* Q4_K: super-blocks of 256 = 8 sub-blocks of 32, x = d*sc[j]*q - dmin*m[j], q in 0..15;
 * the 6-bit scales and mins are packed in 12 bytes */
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

/* sub-blocks 2c and 2c+1 are the low and high nibbles of the same 32 bytes */
AVX2 static void pack_q4_K(const char *w, size_t rb, int rows, int64_t nb, uint8_t *pk) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int o = 0; 8 * o < rows; o++) {
        const int n = rows - 8 * o < 8 ? rows - 8 * o : 8;
        uint8_t *rec = pk + (size_t)o * (size_t)nb * PK_REC;
        for (int64_t s = 0; s < nb / 8; s++) {
            float D[8][8] = {{0}}, M[8][8] = {{0}};     /* [row][sub-block] */
            for (int i = 0; i < n; i++) {
                const rg_block_q4_K *blk = (const rg_block_q4_K *)(w + (size_t)(8 * o + i) * rb) + s;
                uint8_t sc[8], mn[8];
                scales_k4(blk->scales, sc, mn);
                float d = _cvtsh_ss(blk->d), dmin = _cvtsh_ss(blk->dmin);
                for (int j = 0; j < 8; j++) D[i][j] = d * sc[j], M[i][j] = dmin * mn[j];
            }
            for (int j = 0; j < 8; j++, rec += PK_REC) {
                __m256i v[8];
                float *dm = (float *)(rec + 256);
                for (int i = 0; i < 8; i++) {
                    dm[i] = D[i][j];
                    dm[8 + i] = M[i][j];
                    if (i >= n) { v[i] = _mm256_setzero_si256(); continue; }
                    const rg_block_q4_K *blk = (const rg_block_q4_K *)(w + (size_t)(8 * o + i) * rb) + s;
                    __m256i q = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * (j / 2)));
                    v[i] = _mm256_and_si256(j & 1 ? _mm256_srli_epi16(q, 4) : q, m4);
                }
                pack_oct(v, rec);
            }
        }
    }
}

/* One oct of packed rows x rn tokens, written to y (rm valid rows from r). Per block and
 * token the 8 maddubs products (pairs <= 2*15*128) add up in int16 (8 pairs <= 30720, no
 * overflow) and one madd widens them: lane i is row i's integer dot of the block. */
TILE void tile_q4(const uint8_t *pk, int64_t nb, const int8_t *xq, const float *xd, const float *xs, int64_t K,
                  float *y, size_t ldy, int64_t r, int rm, const float *bias, const float *resid, const int rn) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[QG_RN4];
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *rec = pk + (size_t)b * PK_REC;
        __m256i W[8];
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) W[s] = _mm256_load_si256((const __m256i *)(rec + 32 * s));
        const __m256 D = _mm256_load_ps((const float *)(rec + 256)), M = _mm256_load_ps((const float *)(rec + 288));
#pragma GCC unroll 4
        for (int t = 0; t < rn; t++) {
            const int8_t *xb = xq + (size_t)t * K + 32 * b;
            __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int s = 0; s < 8; s += 2) {
                int32_t x0, x1;
                memcpy(&x0, xb + 4 * s, 4);
                memcpy(&x1, xb + 4 * s + 4, 4);
                a0 = _mm256_add_epi16(a0, _mm256_maddubs_epi16(W[s], _mm256_set1_epi32(x0)));
                a1 = _mm256_add_epi16(a1, _mm256_maddubs_epi16(W[s + 1], _mm256_set1_epi32(x1)));
            }
            __m256i sum = _mm256_madd_epi16(_mm256_add_epi16(a0, a1), ones);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(D, _mm256_broadcast_ss(xd + t * nb + b)), acc[t]);
            acc[t] = _mm256_fnmadd_ps(M, _mm256_broadcast_ss(xs + t * nb + b), acc[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) {
        __m256 v = acc[t];
        if (rm == 8) {         /* bias, then residual, as store_out */
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + r));
            if (resid) v = _mm256_add_ps(v, _mm256_loadu_ps(resid + (size_t)t * ldy + (size_t)r));
            _mm256_storeu_ps(y + (size_t)t * ldy + (size_t)r, v);
        } else {
            _Alignas(32) float o[8];
            _mm256_store_ps(o, v);
            for (int i = 0; i < rm; i++) store_out(y, ldy, r + i, t, o[i], bias, resid);
        }
    }
}

typedef void (*tile4_fn)(const uint8_t *pk, int64_t nb, const int8_t *xq, const float *xd, const float *xs, int64_t K,
                         float *y, size_t ldy, int64_t r, int rm, const float *bias, const float *resid);
#define INST4(RN_)                                                                                                \
    AVX2 static void q4_x##RN_(const uint8_t *pk, int64_t nb, const int8_t *xq, const float *xd, const float *xs,   \
                               int64_t K, float *y, size_t ldy, int64_t r, int rm, const float *bias, const float *resid) { \
        tile_q4(pk, nb, xq, xd, xs, K, y, ldy, r, rm, bias, resid, RN_);                                       \
    }
INST4(1) INST4(2) INST4(3) INST4(4)
#undef INST4
static const tile4_fn tiles_q4[QG_RN4] = {q4_x1, q4_x2, q4_x3, q4_x4};

#define INST(RM_, RN_)                                                                                       \
    AVX2 static void q8_##RM_##x##RN_(const char *w, size_t rb, const int8_t *xq, const float *xd, const float *ws, \
                                      int64_t K, float *out) {                                               \
        if (RM_ == 4) tile_q8_r4(w, rb, xq, xd, ws, K, out, RN_);                                            \
        else tile_q0(w, rb, xq, xd, K, out, RM_, RN_);                                                       \
    }
INST(1, 1) INST(1, 2) INST(1, 3)
INST(2, 1) INST(2, 2) INST(2, 3)
INST(3, 1) INST(3, 2) INST(3, 3)
INST(4, 1) INST(4, 2) INST(4, 3)
#undef INST

#define ROW(p, m) {p##_##m##x1, p##_##m##x2, p##_##m##x3}
static const tile_fn tiles_q8[QG_RM][QG_RN] = {ROW(q8, 1), ROW(q8, 2), ROW(q8, 3), ROW(q8, 4)};
#undef ROW

int rg_qgemm_blocked(int type) {
    rg_type_get(RG_TYPE_F32);          /* CPU check done (rg_quant_k_init) */
    return rg_quant_k_avx2() && (type == RG_TYPE_Q8_0 || type == RG_TYPE_Q4_0 || type == RG_TYPE_Q4_K);
}

/* token chunk: as many tokens as fit in bytes, a multiple of the tile width */
static int chunk_tokens(size_t bytes, int64_t K, int rn) {
    int chunk = (int)(bytes / (size_t)K) / rn * rn;
    return chunk < rn ? rn : chunk;
}

/* Q4_0 / Q4_K: per token chunk and group of GROUP rows, the group is packed once (pk), then
 * every token tile of the chunk meets each oct of it */
static int qgemm_q4(int type, const char *w, size_t rb, int64_t r0, int64_t r1, const rg_qact *x, const float *bias,
                    const float *resid, float *y, size_t ldy) {
    const int64_t K = x->K, nb = K / 32;
    uint8_t *pk = aligned_alloc(32, (size_t)(GROUP / 8) * (size_t)nb * PK_REC);   /* PK_REC is a multiple of 32 */
    if (!pk) return qgemm_rowwise(rg_dot_q8_for(type), type, w, rb, r0, r1, x, bias, resid, y, ldy);
    const int chunk = chunk_tokens(Q4_CHUNK_BYTES, K, QG_RN4);
    for (int t0 = 0; t0 < x->T; t0 += chunk) {
        int t1 = x->T - t0 < chunk ? x->T : t0 + chunk;
        for (int64_t g = r0; g < r1; g += GROUP) {
            int rows = r1 - g < GROUP ? (int)(r1 - g) : GROUP;
            if (type == RG_TYPE_Q4_0) pack_q4_0(w + (size_t)g * rb, rb, rows, nb, pk);
            else pack_q4_K(w + (size_t)g * rb, rb, rows, nb, pk);
            for (int t = t0; t < t1; t += QG_RN4) {
                int rn = t1 - t < QG_RN4 ? t1 - t : QG_RN4;
                for (int o = 0; 8 * o < rows; o++) {
                    int rm = rows - 8 * o < 8 ? rows - 8 * o : 8;
                    tiles_q4[rn - 1](pk + (size_t)o * (size_t)nb * PK_REC, nb, x->q + (size_t)t * K, x->d + t * nb, x->s + t * nb, K,
                                     y + (size_t)t * ldy, ldy, g + 8 * o, rm, bias, resid ? resid + (size_t)t * ldy : NULL);
                }
            }
        }
    }
    free(pk);
    return 0;
}

int rg_qgemm(int type, const void *w, size_t rb, int64_t r0, int64_t r1, const rg_qact *x,
             const float *bias, const float *resid, float *y, size_t ldy) {
    rg_type_get(RG_TYPE_F32);
    const rg_type_traits *tr = rg_type_get(type);
    if (!rg_qgemm_blocked(type) || !tr || x->K <= 0 || x->K % tr->blck || x->K % 32)
        return qgemm_rowwise(rg_dot_q8_for(type), type, w, rb, r0, r1, x, bias, resid, y, ldy);
    if (type != RG_TYPE_Q8_0) return qgemm_q4(type, w, rb, r0, r1, x, bias, resid, y, ldy);
    const int64_t K = x->K, nb = K / 32;
    /* Q8_0: the f16 scales of a row group, converted once per (chunk, group) instead of once
     * per token tile: [quad][block][row in quad] */
    float *ws = malloc(sizeof(float) * (GROUP / QG_RM) * (size_t)nb * QG_RM);
    if (!ws) return qgemm_rowwise(rg_dot_q8_for(type), type, w, rb, r0, r1, x, bias, resid, y, ldy);
    const int chunk = chunk_tokens(CHUNK_BYTES, K, QG_RN);
    const char *wb = w;
    for (int t0 = 0; t0 < x->T; t0 += chunk) {
        int t1 = x->T - t0 < chunk ? x->T : t0 + chunk;
        /* row groups of GROUP rows: their weights stay in L1/L2 across the chunk's tokens,
         * and each token's outputs of the group fill whole cache lines of y at once */
        for (int64_t g = r0; g < r1; g += GROUP) {
            int64_t g1 = r1 - g < GROUP ? r1 : g + GROUP;
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
                    const float *wsq = ws + (size_t)((r - g) / QG_RM) * (size_t)nb * QG_RM;
                    tiles_q8[rm - 1][rn - 1](wb + (size_t)r * rb, rb, x->q + (size_t)t * K, x->d + t * nb, wsq, K, o);
                    for (int i = 0; i < rm; i++)
                        for (int j = 0; j < rn; j++) store_out(y, ldy, r + i, t + j, o[i * QG_RN + j], bias, resid);
                }
            }
        }
    }
    free(ws);
    return 0;
}
