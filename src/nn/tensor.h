/* nn/tensor: the tensor element types (ggml numbering) and a per-type table of
 * {block size, bytes per block, dequantise-row, dot-with-f32}. Built in: F32, F16, BF16, Q8_0.
 * More types (Q4_0, Q4_K, Q6_K, ...) are added with rg_type_register(); a module that defines
 * `void rg_quant_k_init(void)` (e.g. nn/quant_k.c) is called once, automatically, the first
 * time the table is consulted, if that module is linked in. Also: fp16/bf16 conversions and
 * the Q8_0 quantiser (used by tests and the benchmark to write models). */
#ifndef RAGD_NN_TENSOR_H
#define RAGD_NN_TENSOR_H
#include <stddef.h>
#include <stdint.h>

enum {
    RG_TYPE_F32 = 0, RG_TYPE_F16 = 1, RG_TYPE_Q4_0 = 2, RG_TYPE_Q4_1 = 3,
    RG_TYPE_Q5_0 = 6, RG_TYPE_Q5_1 = 7, RG_TYPE_Q8_0 = 8, RG_TYPE_Q8_1 = 9,
    RG_TYPE_Q2_K = 10, RG_TYPE_Q3_K = 11, RG_TYPE_Q4_K = 12, RG_TYPE_Q5_K = 13,
    RG_TYPE_Q6_K = 14, RG_TYPE_Q8_K = 15, RG_TYPE_BF16 = 30,
    RG_TYPE_MAX = 64
};

typedef struct {
    const char *name;          /* "f32", "q8_0", ... */
    int blck;                  /* elements per block (1 for plain floats) */
    size_t bytes;              /* bytes per block */
    /* Dequantises n elements (n a multiple of blck) from src into dst. */
    void (*to_float)(const void *src, float *dst, int64_t n);
    /* Dot product of n elements of a weight row with an f32 vector (n a multiple of blck). */
    float (*dot)(const void *w, const float *x, int64_t n);
} rg_type_traits;

/* The traits of a type, or NULL when unknown or not supported. */
const rg_type_traits *rg_type_get(int type);
/* Adds or replaces a type (called at start-up, before threads use the table). 0 or -1. */
int rg_type_register(int type, const rg_type_traits *t);
/* Bytes for a row of n elements, or 0 when n is not a multiple of the block size or overflows. */
size_t rg_type_row_bytes(int type, int64_t n);

/* The built-in row converters use F16C/AVX2 when the CPU has them; rg_tensor_simd(0) forces
 * the portable code (for tests comparing the two). */
void rg_tensor_simd(int on);

/* Scalar conversions (exact, round-to-nearest-even for f32 -> f16/bf16). */
float rg_f16_to_f32(uint16_t h);
uint16_t rg_f32_to_f16(float f);
float rg_bf16_to_f32(uint16_t h);
uint16_t rg_f32_to_bf16(float f);

/* Q8_0: blocks of 32 = f16 scale d + 32 int8; x = d * q. */
#define RG_Q8_0_BLCK 32
typedef struct { uint16_t d; int8_t qs[RG_Q8_0_BLCK]; } rg_block_q8_0;
/* Quantises n floats (multiple of 32) into n/32 blocks: d = max|x|/127, q = round(x/d). */
void rg_quantize_q8_0(const float *x, rg_block_q8_0 *out, int64_t n);
#endif
