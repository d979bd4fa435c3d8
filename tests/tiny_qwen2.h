/* tests/tiny_qwen2.h: pieces of the small random qwen2 models that tests write themselves with
 * nn/gguf_write.h (the architecture keys, a reproducible random stream, norm weights). */
#ifndef RAGD_TESTS_TINY_QWEN2_H
#define RAGD_TESTS_TINY_QWEN2_H
#include "nn/gguf_write.h"
#include "nn/tensor.h"
#include <stdint.h>
#include <stdlib.h>

/* A value in [-1, 1) from seed s (a linear congruential stream: the same model every run). */
static inline float lrand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f; }

/* The keys that make a qwen2 of these sizes. */
static inline void qwen2_keys(rg_gguf_writer *w, int ctx, int dim, int layers, int ffn, int heads, int kv_heads) {
    rg_gguf_w_str(w, "general.architecture", "qwen2");
    rg_gguf_w_u32(w, "qwen2.context_length", (uint32_t)ctx);
    rg_gguf_w_u32(w, "qwen2.embedding_length", (uint32_t)dim);
    rg_gguf_w_u32(w, "qwen2.block_count", (uint32_t)layers);
    rg_gguf_w_u32(w, "qwen2.feed_forward_length", (uint32_t)ffn);
    rg_gguf_w_u32(w, "qwen2.attention.head_count", (uint32_t)heads);
    rg_gguf_w_u32(w, "qwen2.attention.head_count_kv", (uint32_t)kv_heads);
}

/* RMSNorm weights near 1 under each of names; the buffers go to bufs[*nbuf...] (the writer
 * keeps pointers until the file is saved: free them after). */
static inline void qwen2_norms(rg_gguf_writer *w, const char *const *names, int n, int dim, unsigned *seed,
                               void **bufs, int *nbuf) {
    for (int i = 0; i < n; i++) {
        float *b = malloc(sizeof(float) * (size_t)dim);
        bufs[(*nbuf)++] = b;
        for (int k = 0; k < dim; k++) b[k] = 1 + 0.1f * lrand(seed);
        int64_t ne = dim;
        rg_gguf_w_tensor(w, names[i], RG_TYPE_F32, 1, &ne, b, sizeof(float) * (size_t)dim);
    }
}
#endif
