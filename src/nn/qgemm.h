/* nn/qgemm: quantised weight matrix x batch of int8 activation rows, the prompt path of the
 * decoder. Weights stay in their file format (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K); activations are
 * quantised once per product with rg_quantize_act (blocks of 32: int8 q, scale d, d*sum(q) in s).
 * AVX2 micro-kernels keep a tile of several weight rows x several tokens in registers; tokens
 * go in chunks while each group of 16 rows, repacked once per chunk (8 rows interleaved, float
 * scales) and held in L1/L2, meets every token of the chunk. Q8_0 and Q4_K products of fewer
 * than 6 tokens (Q6_K: 4, Q5_0: 3), and other weight types with an int8-activation dot
 * (nn/quant_k.h), use that dot per (row, token). The caller splits rows between threads. */
#ifndef RAGD_NN_QGEMM_H
#define RAGD_NN_QGEMM_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const int8_t *q;           /* T rows of K int8 values in -127..127 (as rg_quantize_act makes) */
    const float *d, *s;        /* T rows of K/32 block scales and scaled sums */
    int T;
    int64_t K;
} rg_qact;

/* For rows r0 <= r < r1 of W (row_bytes apart) and every token t:
 * y[t*ldy + r] = W[r] . x[t] (+ bias[r]) (+ resid[t*ldy + r]; resid may be y itself).
 * Returns 0, or -1 when the type has no int8-activation kernel or K is not a multiple of its
 * block size. */
int rg_qgemm(int type, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const rg_qact *x,
             const float *bias, const float *resid, float *y, size_t ldy);
/* The same through the portable per-(row, token) dot: the reference for tests. */
int rg_qgemm_ref(int type, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const rg_qact *x,
                 const float *bias, const float *resid, float *y, size_t ldy);
/* The same for Q4_0 rows interleaved by 8 (nn/q4_0x8.h): the Q4_0 tiles, packed from that
 * layout without a transpose (r0, r1 multiples of 8; others go through the portable dot). */
int rg_qgemm_q4x8(const void *w, size_t row_bytes, int64_t r0, int64_t r1, const rg_qact *x,
                  const float *bias, const float *resid, float *y, size_t ldy);
/* 1 when rg_qgemm has a register-blocked kernel for the type on this CPU. */
int rg_qgemm_blocked(int type);
#endif
