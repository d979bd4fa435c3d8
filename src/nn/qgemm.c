/* nn/qgemm: see qgemm.h. The AVX2 tile kernels are always-inline templates, instantiated for
 * every tile width (8 rows x up to QG_RN4 / Q8_RN tokens) so that edges need no scalar code
 * and the accumulators of each width stay in registers.
 * All five types share one driver: a group of rows is first repacked (8 rows interleaved so
 * that a vector holds 4 consecutive values of each of 8 rows, scales to floats) once per
 * token chunk, then every token tile of the chunk only multiplies: a token's 4 activations,
 * broadcast, meet 8 rows in one maddubs, and each row's sum stays in its own lane.
 * Integer products: Q4_0 and Q4_K nibbles are unsigned and go in directly, their offsets (-8,
 * the Q4_K mins) applied through the activation sums s; Q8_0, Q5_0 (q - 16) and Q6_K (q - 32)
 * weights are signed, so |w| (u8) x sign(x, w) (s8) goes through maddubs (pairs <= 2*128*127,
 * no int16 saturation); Q6_K's scale per 16 values is applied per half block. */
#include "nn/qgemm.h"
#include "core/util.h"
#include "nn/q4_0x8.h"
#include "nn/quant_k.h"
#include "nn/simd_avx2.h"
#include "nn/tensor.h"
#include <immintrin.h>
#include <string.h>

/* Activation bytes per token chunk: its tokens stream from L3 past a packed group that stays
 * in L1/L2, and each weight row is read and repacked once per chunk (1 MB measured best of
 * 192 KB, 512 KB, 1 MB, 4 MB for Q4: Q4_K 4864-wide rows 1.2x faster than with 192 KB; for
 * Q8_0 192 KB to 2 MB were within noise) */
#define CHUNK_BYTES (1024 * 1024)
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
/* an empty asm that "changes" v: keeps an accumulator chain in order (else GCC reassociates
 * the integer adds into a tree, computes every product first and spills them) */
#define KEEP(v) __asm__("" : "+x"(v))

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

/* Q4_0 already interleaved by 8 rows (nn/q4_0x8.h; rows a multiple of 8): record byte
 * 32j + 4i + e is row i's qs[4j + e], so the low nibbles of its dword row j are vector j of
 * the packed record and the high nibbles vector j + 4, with no transpose */
AVX2 static void pack_q4_0x8(const char *w, size_t rb, int rows, int64_t nb, uint8_t *pk) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int o = 0; 8 * o < rows; o++) {
        const uint8_t *src = (const uint8_t *)w + (size_t)o * 8 * rb;
        uint8_t *rec = pk + (size_t)o * (size_t)nb * PK_REC;
        for (int64_t b = 0; b < nb; b++, rec += PK_REC, src += RG_Q4X8_REC) {
            for (int j = 0; j < 4; j++) {
                __m256i L = _mm256_loadu_si256((const __m256i *)(src + 16 + 32 * j));
                _mm256_store_si256((__m256i *)(rec + 32 * j), _mm256_and_si256(L, m4));
                _mm256_store_si256((__m256i *)(rec + 32 * (j + 4)), _mm256_and_si256(_mm256_srli_epi16(L, 4), m4));
            }
            __m256 D = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)src));
            _mm256_store_ps((float *)(rec + 256), D);
            _mm256_store_ps((float *)(rec + 288), _mm256_mul_ps(D, _mm256_set1_ps(8.0f)));
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

/* rows r..r+rm-1 (rm <= 8, lane i: row r + i) of token t: bias, then residual, as store_out */
TILE void store_tile(__m256 v, float *y, size_t ldy, int64_t r, int t, int rm, const float *bias, const float *resid) {
    if (rm == 8) {
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + r));
        if (resid) v = _mm256_add_ps(v, _mm256_loadu_ps(resid + (size_t)t * ldy + (size_t)r));
        _mm256_storeu_ps(y + (size_t)t * ldy + (size_t)r, v);
    } else {
        _Alignas(32) float o[8];
        _mm256_store_ps(o, v);
        for (int i = 0; i < rm; i++) store_out(y, ldy, r + i, t, o[i], bias, resid);
    }
}

/* One oct of packed rows x rn tokens, written to y (rm valid rows from r). Per block and
 * token the 8 maddubs products (pairs <= 2*15*128) add up in int16 (8 pairs <= 30720, no
 * overflow) and one madd widens them: lane i is row i's integer dot of the block.
 * The block's 8 weight vectors are taken in two halves of 4, each meeting every token, so
 * that 4 weights, rn int16 sums and rn float accumulators all stay in the 16 registers
 * (with all 8 weights held, GCC spilled the float accumulators to the stack, and the
 * store-to-load round trip in their FMA chain stalled the loop): 1.2x single-threaded on
 * the pp512 shapes, about 31 MACs per cycle (at 2.45 GHz). Folding Q4_0's -8 offset into
 * the int16 sums (no fnmadd per block) measured no faster. */
TILE void tile_q4(const uint8_t *pk, int64_t nb, const int8_t *xq, const float *xd, const float *xs, int64_t K,
                  float *y, size_t ldy, int64_t r, int rm, const float *bias, const float *resid, const int rn) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[QG_RN4];
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *rec = pk + (size_t)b * PK_REC;
        const int8_t *xb = xq + 32 * b;
        __m256i a[QG_RN4];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i W[4];
#pragma GCC unroll 4
            for (int s = 0; s < 4; s++) W[s] = _mm256_load_si256((const __m256i *)(rec + 32 * (4 * h + s)));
#pragma GCC unroll 4
            for (int t = 0; t < rn; t++) {
                __m256i p = h ? a[t] : _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int s = 0; s < 4; s++) {
                    int32_t x4;
                    memcpy(&x4, xb + (size_t)t * K + 16 * h + 4 * s, 4);
                    p = _mm256_add_epi16(p, _mm256_maddubs_epi16(W[s], _mm256_set1_epi32(x4)));
                    KEEP(p);
                }
                a[t] = p;
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < rn; t++) {
            __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(a[t], ones));
            __m256 D = _mm256_load_ps((const float *)(rec + 256)), M = _mm256_load_ps((const float *)(rec + 288));
            acc[t] = _mm256_fmadd_ps(f, _mm256_mul_ps(D, _mm256_broadcast_ss(xd + t * nb + b)), acc[t]);
            acc[t] = _mm256_fnmadd_ps(M, _mm256_broadcast_ss(xs + t * nb + b), acc[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) store_tile(acc[t], y, ldy, r, t, rm, bias, resid);
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

/* ---- Q8_0 on the same packed layout ----
 * Record per (oct, block): the 8 vectors of signed q as above, then the same of |q| (u8;
 * |-128| = 128), then the 8 rows' d as floats. maddubs needs one unsigned operand, so |w|
 * meets sign(x, w), the broadcast activations negated where w < 0 (x >= -127 from
 * rg_quantize_act, so the negation is exact). A pair of products reaches 2*128*127 = 32512,
 * so two maddubs results cannot share int16 lanes: each is widened by madd before adding.
 * Measured on Zen 3 (single thread, Qwen2.5-0.5B shapes, 512 tokens): about 1.45x the
 * 4-row tiles this replaces, and near the bound of maddubs + madd (both on the multiply
 * pipes) per 32 MACs; tiles of 8 rows x 3, 5 or 6 tokens, 16 rows x 2 or 3, |q| computed per
 * tile instead of stored, the token loop outside the vector loop, and chunks of 192 KB,
 * 512 KB or 2 MB were all within noise of this shape. Splitting q + 128 into two nibble
 * planes (two maddubs in int16, no sign, no madd per step) measured slower.
 * What bounds it (register-only loops on Zen 3, per token step of 32 MACs): sign + maddubs +
 * madd + add 1.3-1.4 cycles; dropping the sign or the madd 1.05; maddubs + add (the Q4
 * loop) 0.8; int16 weights with one madd per 16 MACs, or activations pre-broadcast in
 * memory, no faster. So the vector-op count, not latency or loads, is the limit: about 20
 * MACs per cycle in place, 24 at best without VNNI. */
#define Q8_REC (2 * 8 * 32 + 8 * 4)
#define Q6_REC (2 * 8 * 32 + 16 * 4)  /* Q6_K: the same, with two scales per row (16-value halves) */
#define Q8_RN 4                /* tokens per Q8_0 tile */
/* Below this many tokens the packing does not pay: the per-row dot is faster (T = 2: 1.5x;
 * crossover at 5 to 6 tokens) */
#define Q8_MIN_T 6
/* Q4_K likewise: its packing decodes the 6-bit scales of every super-block, which few tokens
 * do not amortise (per-row dot faster by 2.1x at T = 2, 1.2x at 4, 1.1x at 5, 0.9x at 6,
 * on 896 rows of 4864; Q4_0 at T = 2 was within noise either way, so it stays packed) */
#define Q4K_MIN_T 6
/* Q5_0: its per-row dot assembles the fifth bits per block; the tile pays from 3 tokens (896
 * rows of 896: 0.81x at T = 2, 1.13x at 3, 1.39x at 4, 1.74x at 6) */
#define Q5_MIN_T 3
/* Q6_K: its per-row dot is slow (~13 GMAC/s a thread against the tile's ~38), so the tile
 * pays from 4 tokens (896 rows of 4864: 0.62x at T = 2, 0.88x at 3, 1.09x at 4, 1.39x at 6) */
#define Q6K_MIN_T 4

/* the |q| half of a signed record: vector s + 8 is |vector s| */
AVX2 static inline void store_abs(uint8_t *rec) {
    for (int s = 0; s < 8; s++) {
        __m256i q = _mm256_load_si256((const __m256i *)(rec + 32 * s));
        _mm256_store_si256((__m256i *)(rec + 256 + 32 * s), _mm256_sign_epi8(q, q));
    }
}

/* Q8_0 and Q5_0 (its values less 16 as signed bytes): 32 values and one scale per block */
TILE void pack_signed(const char *w, size_t rb, int rows, int64_t nb, uint8_t *pk, const int q5) {
    const __m128i m4 = _mm_set1_epi8(0xF);
    for (int o = 0; 8 * o < rows; o++) {
        const int n = rows - 8 * o < 8 ? rows - 8 * o : 8;
        uint8_t *rec = pk + (size_t)o * (size_t)nb * Q8_REC;
        for (int64_t b = 0; b < nb; b++, rec += Q8_REC) {
            __m256i v[8];
            float *d = (float *)(rec + 512);
            for (int i = 0; i < 8; i++) {
                if (i >= n) { v[i] = _mm256_setzero_si256(); d[i] = 0; continue; }
                const char *row = w + (size_t)(8 * o + i) * rb;
                if (q5) {
                    const rg_block_q5_0 *blk = (const rg_block_q5_0 *)row + b;
                    __m128i q = _mm_loadu_si128((const __m128i *)blk->qs);
                    __m256i lo = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
                    v[i] = _mm256_sub_epi8(_mm256_or_si256(lo, rg_q5_high_avx2(blk->qh)), _mm256_set1_epi8(16));
                    d[i] = _cvtsh_ss(blk->d);
                } else {
                    const rg_block_q8_0 *blk = (const rg_block_q8_0 *)row + b;
                    v[i] = _mm256_loadu_si256((const __m256i *)blk->qs);
                    d[i] = _cvtsh_ss(blk->d);
                }
            }
            pack_oct(v, rec);
            store_abs(rec);
        }
    }
}
AVX2 static void pack_q8_0(const char *w, size_t rb, int rows, int64_t nb, uint8_t *pk) { pack_signed(w, rb, rows, nb, pk, 0); }
AVX2 static void pack_q5_0(const char *w, size_t rb, int rows, int64_t nb, uint8_t *pk) { pack_signed(w, rb, rows, nb, pk, 1); }

/* Q6_K on the Q8_0 record, with a scale per 16-value half: a super-block of 256 is two
 * halves of 128, each 64 bytes of low nibbles ql and 32 of high 2-bit pairs qh; quarter k of
 * half h (32 values, activation block 8s + 4h + k) takes ql[l] (k even) or ql[32 + l] (k odd),
 * the low nibble for k < 2, the high one else, and bits 2k..2k+1 of qh[l]; x = d * sc * (q - 32),
 * sc = scales[8h + 2k] for values 0-15, scales[8h + 2k + 1] for 16-31. */
AVX2 static void pack_q6_K(const char *w, size_t rb, int rows, int64_t nb, uint8_t *pk) {
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    for (int o = 0; 8 * o < rows; o++) {
        const int n = rows - 8 * o < 8 ? rows - 8 * o : 8;
        for (int64_t sb = 0; sb < nb / 8; sb++)
            for (int h = 0; h < 2; h++) {
                __m256i v[4][8];
                float D[4][2][8];
                for (int i = 0; i < 8; i++) {
                    if (i >= n) {
                        for (int k = 0; k < 4; k++) v[k][i] = _mm256_setzero_si256(), D[k][0][i] = D[k][1][i] = 0;
                        continue;
                    }
                    const rg_block_q6_K *blk = (const rg_block_q6_K *)(w + (size_t)(8 * o + i) * rb) + sb;
                    const uint8_t *ql = blk->ql + 64 * h, *qh = blk->qh + 32 * h;
                    __m256i a = _mm256_loadu_si256((const __m256i *)ql), c = _mm256_loadu_si256((const __m256i *)(ql + 32));
                    __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
                    const float d = _cvtsh_ss(blk->d);
                    for (int k = 0; k < 4; k++) {
                        __m256i lo = _mm256_and_si256(k < 2 ? (k ? c : a) : _mm256_srli_epi16(k == 2 ? a : c, 4), m4);
                        __m256i hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), m3), 4);
                        v[k][i] = _mm256_sub_epi8(_mm256_or_si256(lo, hi), m32);
                        D[k][0][i] = d * (float)blk->scales[8 * h + 2 * k];
                        D[k][1][i] = d * (float)blk->scales[8 * h + 2 * k + 1];
                    }
                }
                for (int k = 0; k < 4; k++) {
                    uint8_t *rec = pk + ((size_t)o * (size_t)nb + (size_t)(8 * sb + 4 * h + k)) * Q6_REC;
                    pack_oct(v[k], rec);
                    store_abs(rec);
                    memcpy(rec + 512, D[k], sizeof D[k]);
                }
            }
    }
}

/* One oct of packed rows x rn tokens. Each vector pair (q, |q|) is loaded once for the rn
 * tokens; per (token, vector): broadcast, sign, maddubs, madd, add. nsc scales per (row,
 * block): 1 for Q8_0 and Q5_0; 2 for Q6_K, whose 16-value halves (vectors 0-3 and 4-7) have their own,
 * so the integer sums are converted and scaled after each half. */
TILE void tile_q8(const uint8_t *pk, int64_t nb, const int8_t *xq, const float *xd, int64_t K, float *y, size_t ldy,
                  int64_t r, int rm, const float *bias, const float *resid, const int rn, const int nsc) {
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t recb = nsc == 1 ? Q8_REC : Q6_REC;
    __m256 acc[Q8_RN];
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *rec = pk + (size_t)b * recb;
        __m256i is[Q8_RN];
#pragma GCC unroll 4
        for (int t = 0; t < rn; t++) is[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) {
            const __m256i W = _mm256_load_si256((const __m256i *)(rec + 32 * s));
            const __m256i A = _mm256_load_si256((const __m256i *)(rec + 256 + 32 * s));
#pragma GCC unroll 4
            for (int t = 0; t < rn; t++) {
                int32_t x4;
                memcpy(&x4, xq + (size_t)t * K + 32 * b + 4 * s, 4);
                __m256i p = _mm256_maddubs_epi16(A, _mm256_sign_epi8(_mm256_set1_epi32(x4), W));
                is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(p, ones));
                KEEP(is[t]);
            }
            if (s % (8 / nsc) == 8 / nsc - 1) {       /* the end of a scale's vectors */
                const __m256 D = _mm256_load_ps((const float *)(rec + 512 + 32 * (s / (8 / nsc))));
#pragma GCC unroll 4
                for (int t = 0; t < rn; t++) {
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t]), _mm256_mul_ps(D, _mm256_broadcast_ss(xd + t * nb + b)), acc[t]);
                    is[t] = _mm256_setzero_si256();
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < rn; t++) store_tile(acc[t], y, ldy, r, t, rm, bias, resid);
}

typedef void (*tile8_fn)(const uint8_t *pk, int64_t nb, const int8_t *xq, const float *xd, int64_t K, float *y,
                         size_t ldy, int64_t r, int rm, const float *bias, const float *resid);
#define INST8(NAME, RN_, NSC)                                                                                     \
    AVX2 static void NAME##_x##RN_(const uint8_t *pk, int64_t nb, const int8_t *xq, const float *xd, int64_t K, float *y, \
                                   size_t ldy, int64_t r, int rm, const float *bias, const float *resid) {        \
        tile_q8(pk, nb, xq, xd, K, y, ldy, r, rm, bias, resid, RN_, NSC);                                      \
    }
INST8(q8, 1, 1) INST8(q8, 2, 1) INST8(q8, 3, 1) INST8(q8, 4, 1)
INST8(q6, 1, 2) INST8(q6, 2, 2) INST8(q6, 3, 2) INST8(q6, 4, 2)
#undef INST8
static const tile8_fn tiles_q8[Q8_RN] = {q8_x1, q8_x2, q8_x3, q8_x4};
static const tile8_fn tiles_q6[Q8_RN] = {q6_x1, q6_x2, q6_x3, q6_x4};

int rg_qgemm_blocked(int type) {
    rg_type_get(RG_TYPE_F32);          /* CPU check done (rg_quant_k_init) */
    return rg_quant_k_avx2() && (type == RG_TYPE_Q8_0 || type == RG_TYPE_Q4_0 || type == RG_TYPE_Q5_0 || type == RG_TYPE_Q4_K ||
                                 type == RG_TYPE_Q6_K);
}

/* token chunk: as many tokens as fit in bytes, a multiple of the tile width */
static int chunk_tokens(size_t bytes, int64_t K, int rn) {
    int chunk = (int)(bytes / (size_t)K) / rn * rn;
    return chunk < rn ? rn : chunk;
}

/* Per token chunk and group of GROUP rows, the group is packed once (pk), then every token
 * tile of the chunk meets each oct of it */
static int qgemm_packed(int type, int x8, const char *w, size_t rb, int64_t r0, int64_t r1, const rg_qact *x, const float *bias,
                        const float *resid, float *y, size_t ldy) {
    const int64_t K = x->K, nb = K / 32;
    const int q5 = type == RG_TYPE_Q5_0, q8 = type == RG_TYPE_Q8_0 || q5, q6 = type == RG_TYPE_Q6_K;   /* q8: the Q8_0 tiles */
    const size_t rec = q8 ? Q8_REC : q6 ? Q6_REC : PK_REC;     /* all multiples of 32 */
    const int tn = q8 || q6 ? Q8_RN : QG_RN4;
    uint8_t *pk = aligned_alloc(32, (size_t)(GROUP / 8) * (size_t)nb * rec);
    if (!pk) return qgemm_rowwise(rg_dot_q8_for(type), type, w, rb, r0, r1, x, bias, resid, y, ldy);
    const int chunk = chunk_tokens(CHUNK_BYTES, K, tn);
    for (int t0 = 0; t0 < x->T; t0 += chunk) {
        int t1 = x->T - t0 < chunk ? x->T : t0 + chunk;
        for (int64_t g = r0; g < r1; g += GROUP) {
            int rows = r1 - g < GROUP ? (int)(r1 - g) : GROUP;
            if (q5) pack_q5_0(w + (size_t)g * rb, rb, rows, nb, pk);
            else if (q8) pack_q8_0(w + (size_t)g * rb, rb, rows, nb, pk);
            else if (q6) pack_q6_K(w + (size_t)g * rb, rb, rows, nb, pk);
            else if (x8) pack_q4_0x8(w + (size_t)g * rb, rb, rows, nb, pk);
            else if (type == RG_TYPE_Q4_0) pack_q4_0(w + (size_t)g * rb, rb, rows, nb, pk);
            else pack_q4_K(w + (size_t)g * rb, rb, rows, nb, pk);
            for (int t = t0; t < t1; t += tn) {
                int rn = t1 - t < tn ? t1 - t : tn;
                const int8_t *xq = x->q + (size_t)t * K;
                const float *xd = x->d + t * nb, *rs = resid ? resid + (size_t)t * ldy : NULL;
                float *yt = y + (size_t)t * ldy;
                for (int o = 0; 8 * o < rows; o++) {
                    int rm = rows - 8 * o < 8 ? rows - 8 * o : 8;
                    const uint8_t *po = pk + (size_t)o * (size_t)nb * rec;
                    if (q8) tiles_q8[rn - 1](po, nb, xq, xd, K, yt, ldy, g + 8 * o, rm, bias, rs);
                    else if (q6) tiles_q6[rn - 1](po, nb, xq, xd, K, yt, ldy, g + 8 * o, rm, bias, rs);
                    else tiles_q4[rn - 1](po, nb, xq, xd, x->s + t * nb, K, yt, ldy, g + 8 * o, rm, bias, rs);
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
    int min_t = type == RG_TYPE_Q8_0 ? Q8_MIN_T : type == RG_TYPE_Q5_0 ? Q5_MIN_T : type == RG_TYPE_Q4_K ? Q4K_MIN_T
              : type == RG_TYPE_Q6_K ? Q6K_MIN_T : 2;
    if (x->T < min_t)
        return qgemm_rowwise(rg_dot_q8_for(type), type, w, rb, r0, r1, x, bias, resid, y, ldy);
    return qgemm_packed(type, 0, w, rb, r0, r1, x, bias, resid, y, ldy);
}

int rg_qgemm_q4x8(const void *w, size_t rb, int64_t r0, int64_t r1, const rg_qact *x, const float *bias,
                  const float *resid, float *y, size_t ldy) {
    if (x->K <= 0 || x->K % 32 || rb != (size_t)(x->K / 32) * sizeof(rg_block_q4_0)) {
        rg_err("qgemm: interleaved Q4_0 rows of %zu bytes for K %lld", rb, (long long)x->K);
        return -1;
    }
    if (rg_qgemm_blocked(RG_TYPE_Q4_0) && r0 % 8 == 0 && r1 % 8 == 0)
        return qgemm_packed(RG_TYPE_Q4_0, 1, w, rb, r0, r1, x, bias, resid, y, ldy);
    int64_t nb = x->K / 32;            /* portable, or rows that split an oct */
    for (int t = 0; t < x->T; t++)
        for (int64_t r = r0; r < r1; r++)
            store_out(y, ldy, r, t, rg_q4x8_dot_scalar(w, rb, r, x->q + (size_t)t * x->K, x->d + t * nb, x->K), bias, resid);
    return 0;
}
