/* nn/kernels: the dense kernels of the model runtime.
 * rg_matmul: Y[T,N] = X[T,K] . W[N,K]^T (+ bias, + residual, then optional GELU), X in f32,
 * W any type of nn/tensor.h in GGUF layout ([out, in] row-major: each output row contiguous).
 * Blocked GotoBLAS-style: per call each weight is dequantised once into f32 panels of 16
 * output rows shared by the pool's threads; tokens are packed in micro-panels of 6, K is cut
 * into slices of at most 384 so a panel slice stays in L1, and a 6-token x 16-output AVX2/FMA
 * register block does the arithmetic. Threads take blocks of up to 120 tokens, smaller ones
 * near the end so that they finish together (and panel ranges when there are few tokens),
 * from a shared counter. Up to 32 tokens (a query) nothing is
 * packed: weight rows are dotted with the tokens in place. A portable scalar path gives the same
 * results within rounding (RG_IMPL_SCALAR, or automatically on CPUs without AVX2/FMA).
 * Adding an instruction set (e.g. AVX-512): a new RG_IMPL_ value chosen in rg_kernels_impl()
 * from the CPU flags, and a register block in run_unit() of kernels.c; the packed layouts
 * fit a 512-bit kernel as they are (a 16-float panel row is one zmm; a 6 x 32 block takes two
 * adjacent panels). Not written here: this project's machines have no AVX-512 to test it.
 * Attention runs on the same 6 x 16 register block (scores against packed keys, then the
 * weighted sum over value rows). Also: layer norm, GELU (erf form), softmax, in scalar and
 * AVX2 forms. */
#ifndef RAGD_NN_KERNELS_H
#define RAGD_NN_KERNELS_H
#include <stddef.h>
#include <stdint.h>
#include "nn/pool.h"

enum { RG_IMPL_AUTO = 0, RG_IMPL_SCALAR = 1, RG_IMPL_AVX2 = 2 };

typedef struct {
    const float *bias;     /* N values or NULL */
    const float *resid;    /* T x N values added after the bias, or NULL (may alias Y) */
    int gelu;              /* apply GELU (erf form) last */
} rg_epilogue;

/* Returns 0, or -1 with rg_err set when the weight type is unsupported. */
int rg_matmul(rg_pool *pool, int impl, const float *X, int T, int K,
              const void *W, int wtype, int N, const rg_epilogue *ep, float *Y);

/* The same, then a layer norm of each output row (N values: weights g, biases b, epsilon
 * eps) after the epilogue; ln NULL: none. The thread that finished a row normalises it while
 * it is in cache, which saves a pass over Y and a pool dispatch. */
typedef struct { const float *g, *b; float eps; } rg_rownorm;
int rg_matmul_ln(rg_pool *pool, int impl, const float *X, int T, int K,
                 const void *W, int wtype, int N, const rg_epilogue *ep, const rg_rownorm *ln, float *Y);

/* The implementation RG_IMPL_AUTO resolves to on this CPU (env RAGD_KERNELS=scalar forces
 * the portable path). */
int rg_kernels_impl(void);
const char *rg_kernels_name(int impl);

/* One attention head of one sequence (no mask: sequences are packed without padding):
 * out[i] = sum_b softmax_b(q_i . k_b * scale) v_b for Lq queries and Lk keys/values. Pointers
 * are at the head's first element of row 0; ldq/ldk/ldo are row strides in floats (K and V
 * share ldk). scratch holds rg_attention_scratch(Lk, hd) floats. */
typedef struct {
    const float *Q, *K, *V;
    float *out;
    int ldq, ldk, ldo, Lq, Lk, hd;
    float scale;
} rg_attn_args;
size_t rg_attention_scratch(int Lk, int hd);
void rg_attention(int impl, const rg_attn_args *a, float *scratch);

void rg_layernorm(int impl, float *x, int n, const float *g, const float *b, float eps);
void rg_gelu(int impl, float *x, int64_t n);
void rg_softmax(int impl, float *x, int n);     /* in place, numerically stable */
#endif
