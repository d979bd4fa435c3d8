/* generate/llama: the built-in decoder for GGUF models of the `llama` and `qwen2` families
 * (as llama.cpp writes them): RMSNorm, RoPE (interleaved pairs for llama, whose Q/K rows the
 * converter permutes; half-split NEOX style for qwen2), grouped-query attention with a KV
 * cache, SwiGLU feed-forward, tied or separate output matrix. Weights stay in the mapped file
 * in any type of nn/tensor.h (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K). Prompts are processed
 * in batches (matrix-matrix kernels), generation token by token (matrix-vector kernels),
 * both spread over a thread pool. The tokenizer comes from the GGUF metadata (byte-level BPE).
 * rg_llama_complete() runs prompt -> sampled continuation with stop strings and a callback.
 * A loaded model holds one context (KV cache): use it from one thread at a time. */
#ifndef RAGD_GENERATE_LLAMA_H
#define RAGD_GENERATE_LLAMA_H
#include <stddef.h>
#include <stdint.h>
#include "generate/chat.h"
#include "generate/grammar.h"
#include "generate/sample.h"
#include "nn/bpe.h"

typedef struct rg_llama rg_llama;

typedef struct {
    int n_ctx;        /* KV cache length; 0: the model's context, at most 4096 */
    int n_threads;    /* 0: all online CPUs */
    int n_batch;      /* tokens per forward pass while reading a prompt; 0: 256 */
    int exact;        /* f32 activations in every product (default: generation quantises
                         activations to int8 blocks for Q8_0/Q4_0/Q4_K/Q6_K weights) */
} rg_llama_params;

/* Loads a model; NULL with rg_err naming the file and the problem. */
rg_llama *rg_llama_load(const char *path, const rg_llama_params *p);
/* rg_llama_simd(0): models loaded afterwards run attention with the portable code instead
 * of AVX2 (for tests comparing the two; weight products follow nn/'s own switches). */
void rg_llama_simd(int on);
/* Q4_0 weight matrices (not in exact mode, CPUs with AVX2) are repacked in place at load with
 * 8 rows interleaved, for faster generation (nn/q4_0x8.h); rg_llama_repack(0) keeps models
 * loaded afterwards in the file's layout (for tests and benchmarks comparing the two). */
void rg_llama_repack(int on);
void rg_llama_free(rg_llama *m);

typedef struct {
    const char *arch;          /* "llama" or "qwen2" */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx, n_ctx_train, head_dim, n_rot;
    float rope_base, rms_eps;
    const char *weight_type;   /* type of blk.0.attn_q.weight, e.g. "q8_0" */
    int32_t bos, eos;          /* -1 when the model has none */
    int add_bos;
    rg_chat_kind chat;
    size_t kv_bytes;           /* KV cache size */
} rg_llama_info;
const rg_llama_info *rg_llama_get_info(const rg_llama *m);
/* The model's tokenizer; NULL when its GGUF has no byte-level BPE vocabulary. */
const rg_bpe *rg_llama_tokenizer(const rg_llama *m);
/* End-of-generation: eos, eot, and the chat end markers the vocabulary has. */
int rg_llama_is_eog(const rg_llama *m, int32_t id);

/* KV cache position (tokens evaluated so far) and reset to 0. */
int rg_llama_pos(const rg_llama *m);
void rg_llama_reset(rg_llama *m);
/* Drops cached tokens from position pos on (0 <= pos <= current). */
int rg_llama_rewind(rg_llama *m, int pos);

/* Appends n tokens to the context and runs them (in batches of n_batch). logits: NULL (none
 * computed), or room for n_vocab floats (last token) or, with all set, n * n_vocab floats.
 * Returns 0, or -1 with rg_err set (bad token id, context full). */
int rg_llama_eval(rg_llama *m, const int32_t *ids, int n, float *logits, int all);

/* Completion of a prompt. */
typedef struct {
    int n_predict;                /* max new tokens (<= 0: 128) */
    rg_sample_params sample;
    int ignore_eos;               /* keep going past end-of-generation tokens */
    const char *const *stops;     /* stop strings (not included in the result) */
    int nstops;
    int parse_special;            /* special tokens in the prompt text become their ids */
    const rg_constraint *constraint; /* NULL, or only outputs it allows (see grammar.h); the
                                     output then ends where the constraint lets it */
} rg_gen_params;
/* Called with each new piece of text (UTF-8 may split across calls); non-zero stops. */
typedef int (*rg_gen_cb)(const char *piece, size_t len, void *ud);
typedef struct {
    int n_prompt, n_gen;
    double t_prompt, t_gen;       /* seconds */
    const char *stop_reason;      /* "eos", "stop", "length", "context", "callback", "constraint" */
} rg_gen_stats;
/* Resets the context, evaluates the prompt (a BOS first when the model asks for one) and
 * samples up to n_predict tokens. Returns the generated text (malloc'd) or NULL. */
char *rg_llama_complete(rg_llama *m, const char *prompt, const rg_gen_params *g, rg_gen_cb cb, void *ud,
                        rg_gen_stats *stats);

/* Grounded answering: asks the model, through its chat template, to answer the question from
 * the evidence, with the output constrained to a span copied from the evidence (greedy, at
 * most max_tokens tokens, 0: 32). Returns the span (malloc'd, trimmed) or NULL with rg_err. */
char *rg_llama_answer_span(rg_llama *m, const char *question, const char *evidence, int max_tokens);
#endif
