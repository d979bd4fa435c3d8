/* nn/q4_0x8: Q4_0 weight matrices repacked in place with 8 rows interleaved, for token
 * generation. A row of Q4_0 (18 bytes per 32 values) dotted alone costs about 11 vector
 * operations per block, which holds one core near memory speed; interleaved, one maddubs
 * multiplies 4 values of each of 8 rows by 4 broadcast activations (each row's sum in its own
 * lane), about 3x fewer operations, so the product is bound by memory again.
 * Layout: rows 8o..8o+7 (an "oct", 8 * row_bytes bytes, where the 8 rows were) hold per block
 * b a record of 144 bytes (the same 8 x 18): the 8 rows' f16 scales d, then 128 bytes where
 * byte 32j + 4i + e is row i's qs[4j + e] (a dword transpose of the rows' quant bytes).
 * Matrices with a row count not a multiple of 8 are not repacked. The integer products are
 * those of the row-by-row Q4_0 kernel (offset 8 taken off as 8 * sum(x) in int32), so results
 * differ from it only in the order of float sums. */
#ifndef RAGD_NN_Q4_0X8_H
#define RAGD_NN_Q4_0X8_H
#include <stddef.h>
#include <stdint.h>

#define RG_Q4X8_REC 144            /* bytes per (oct, block) record */

/* Repacks nrows (a multiple of 8) Q4_0 rows of K values (K a multiple of 32), row_bytes
 * apart, in place. 0, or -1 with rg_err on bad sizes. */
int rg_q4x8_repack(void *w, size_t row_bytes, int64_t nrows, int64_t K);
/* The inverse (for tests). */
int rg_q4x8_unpack(void *w, size_t row_bytes, int64_t nrows, int64_t K);
/* Row r of a repacked matrix to floats (e.g. an embedding lookup). */
void rg_q4x8_row_to_float(const void *w, size_t row_bytes, int64_t r, float *dst, int64_t K);
/* Row r . x with int8 activations (rg_quantize_act): the portable reference. */
float rg_q4x8_dot_scalar(const void *w, size_t row_bytes, int64_t r, const int8_t *q, const float *d, int64_t K);
/* Row r . x with f32 activations (a product that does not quantise them). */
float rg_q4x8_dot_f32(const void *w, size_t row_bytes, int64_t r, const float *x, int64_t K);
/* y[r - r0] = W[r] . x for r0 <= r < r1 of a repacked matrix: AVX2 (whole octs; rows of a
 * partial oct through the portable dot) when the CPU has it, else the portable dot. */
void rg_q4x8_matvec(const void *w, size_t row_bytes, int64_t r0, int64_t r1, const int8_t *q, const float *d,
                    int64_t K, float *y);
/* Batches (prompts): nn/qgemm.h rg_qgemm_q4x8. */
#endif
