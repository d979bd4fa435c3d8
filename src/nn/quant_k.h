/* nn/quant_k: the Q4_0, Q5_0, Q4_K and Q6_K weight formats, with the block layouts ggml defines
 * (ggml-common.h), registered in the nn/tensor.h type table by rg_quant_k_init().
 * Each has a dequantiser and a dot-with-f32 kernel in scalar and AVX2/FMA forms (the table
 * gets AVX2 when the CPU has it), plus simple quantisers used by tests and the benchmark to
 * write model files (round-to-nearest with min/max scales, not llama.cpp's error search). */
#ifndef RAGD_NN_QUANT_K_H
#define RAGD_NN_QUANT_K_H
#include <stddef.h>
#include <stdint.h>

#define RG_QK4_0 32
#define RG_QK_K 256

/* x = d * (q - 8), q in 0..15; qs[j] holds element j (low nibble) and j+16 (high nibble). */
typedef struct { uint16_t d; uint8_t qs[RG_QK4_0 / 2]; } rg_block_q4_0;
/* x = d * (q - 16), q in 0..31: the low 4 bits as Q4_0's qs, bit 4 of element j in bit j of
 * qh (little-endian). llama.cpp writes it where a Q4_K_M file's rows are not a multiple of
 * 256 (Qwen2.5-0.5B, SmolLM2-135M/360M). */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[RG_QK4_0 / 2]; } rg_block_q5_0;
/* 8 sub-blocks of 32: x = d*sc[j]*q - dmin*m[j], 6-bit sc/m packed in scales[12]. */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[RG_QK_K / 2]; } rg_block_q4_K;
/* 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q 6-bit = 4 low bits in ql, 2 in qh. */
typedef struct { uint8_t ql[RG_QK_K / 2]; uint8_t qh[RG_QK_K / 4]; int8_t scales[RG_QK_K / 16]; uint16_t d; } rg_block_q6_K;

/* Registers the four types in the tensor type table (idempotent). */
void rg_quant_k_init(void);
int rg_quant_k_avx2(void);      /* 1 when the AVX2 kernels are in use */

void rg_dequant_q4_0(const void *src, float *dst, int64_t n);
void rg_dequant_q5_0(const void *src, float *dst, int64_t n);
void rg_dequant_q4_K(const void *src, float *dst, int64_t n);
void rg_dequant_q6_K(const void *src, float *dst, int64_t n);
float rg_dot_q4_0_scalar(const void *w, const float *x, int64_t n);
float rg_dot_q5_0_scalar(const void *w, const float *x, int64_t n);
float rg_dot_q4_K_scalar(const void *w, const float *x, int64_t n);
float rg_dot_q6_K_scalar(const void *w, const float *x, int64_t n);
/* AVX2 forms; callers must check rg_quant_k_avx2() (they fall back to scalar otherwise). */
float rg_dot_q4_0_avx2(const void *w, const float *x, int64_t n);
float rg_dot_q5_0_avx2(const void *w, const float *x, int64_t n);
float rg_dot_q4_K_avx2(const void *w, const float *x, int64_t n);
float rg_dot_q6_K_avx2(const void *w, const float *x, int64_t n);

/* Quantisers: n a multiple of the block size (32 or 256). */
void rg_quantize_q4_0(const float *x, void *out, int64_t n);
void rg_quantize_q5_0(const float *x, void *out, int64_t n);
void rg_quantize_q4_K(const float *x, void *out, int64_t n);
void rg_quantize_q6_K(const float *x, void *out, int64_t n);

/* ---- matrix-vector path with int8 activations (as llama.cpp does for generation) ----
 * The activation vector is quantised once per product to blocks of 32: q (int8), d (scale)
 * and s = d * sum(q) (for the Q4_K min term). Weight rows of Q8_0, Q4_0, Q5_0, Q4_K and Q6_K are
 * then dotted in integer arithmetic. n is a multiple of the weight block (and of 32). */
void rg_quantize_act(const float *x, int64_t n, int8_t *q, float *d, float *s);
typedef float (*rg_dot_q8_fn)(const void *w, const int8_t *q, const float *d, const float *s, int64_t n);
/* The kernel for a weight type (AVX2 when available, nn/matvec_q8.c), NULL when there is none. */
rg_dot_q8_fn rg_dot_q8_for(int type);
/* Portable forms, for tests. */
rg_dot_q8_fn rg_dot_q8_scalar_for(int type);
/* Matrix-vector product of one activation vector: y[r] = W[r] . x for nrows rows starting at
 * w, row_bytes apart (the single-token path of generation). The AVX2 form does 4 rows per
 * pass; each y[r] is bit-identical to rg_dot_q8_for(type) on that row. NULL: no kernel. */
typedef void (*rg_matvec_q8_fn)(const void *w, size_t row_bytes, int64_t nrows, const int8_t *q,
                                const float *d, const float *s, int64_t n, float *y);
rg_matvec_q8_fn rg_matvec_q8_for(int type);
rg_matvec_q8_fn rg_matvec_q8_scalar_for(int type);
/* Batches of activation rows against whole weight matrices: nn/qgemm.h. */
#endif
