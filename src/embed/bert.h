/* embed/bert: BERT-family sentence encoders (bge, e5, MiniLM, ...) from GGUF files written by
 * llama.cpp's converter (architecture "bert"). Forward pass: token + position + token-type
 * embeddings, embedding LayerNorm, post-LN transformer blocks with GELU (erf), then CLS or
 * mean pooling (bert.pooling_type) and L2 normalisation. Several sequences are packed into
 * one pass without padding: matmuls run over all tokens, attention per sequence.
 * Texts longer than the model's context (bert.context_length, at most 512 for these models)
 * are truncated to it, [CLS] and [SEP] included.
 * Query/passage prefixes are chosen from the model name (e5: "query: "/"passage: ", bge
 * English: a query instruction) and can be overridden with the environment variables
 * RAGD_QUERY_PREFIX and RAGD_PASSAGE_PREFIX.
 * Texts are embedded in passes of up to 4096 tokens; the activation buffers of the largest
 * pass so far are kept by the model for reuse (about 60 MiB for a bge-small-sized model).
 * With CLS pooling the last layer is computed for the CLS rows only. Each layer's K, V and Q
 * weights are copied at load into one matrix (3 x d x d weights of the file's type) so that
 * the three projections run as one matmul; the mapped originals are then not read. */
#ifndef RAGD_EMBED_BERT_H
#define RAGD_EMBED_BERT_H
#include <stdint.h>
#include "embed/encoder.h"
#include "nn/wordpiece.h"

/* The encoder interface; name "gguf:<general.name or file basename>:<8 hex of the header
 * digest>", dim from the model. nthreads <= 0: one per CPU. NULL with rg_err set. */
rg_encoder *rg_bert_encoder_open(const char *gguf_path, int nthreads);

/* Lower level, for tests and benchmarks. */
typedef struct rg_bert rg_bert;
rg_bert *rg_bert_load(const char *gguf_path, int nthreads);
void rg_bert_free(rg_bert *m);
int rg_bert_dim(const rg_bert *m);
int rg_bert_max_tokens(const rg_bert *m);
const char *rg_bert_name(const rg_bert *m);
const char *rg_bert_prefix(const rg_bert *m, int is_query);
const rg_wordpiece *rg_bert_tokenizer(const rg_bert *m);
void rg_bert_set_impl(rg_bert *m, int impl);     /* RG_IMPL_* of nn/kernels.h */
/* Embeds nseq token sequences (each at most rg_bert_max_tokens, ids < vocab size) in one
 * packed pass into out (nseq x dim, L2-normalised). 0, or -1 with rg_err set. */
int rg_bert_embed_tokens(rg_bert *m, const int32_t *const *ids, const int *lens, int nseq, float *out);
/* The same pass for cross-encoders: types[s][i] are token type ids (< rg_bert_type_count;
 * NULL: all 0), and out (nseq x dim) gets each sequence's final hidden state at its first
 * token ([CLS]), not pooled or normalised. 0, or -1 with rg_err set. */
int rg_bert_forward_cls(rg_bert *m, const int32_t *const *ids, const int32_t *const *types, const int *lens,
                        int nseq, float *out);
int rg_bert_type_count(const rg_bert *m);            /* rows of token_types.weight (1 if none) */
const rg_gguf *rg_bert_gguf(const rg_bert *m);       /* the open file, for extra tensors */
/* Tokenises (with the prefix) and embeds n texts, batching by token count. */
int rg_bert_embed_texts(rg_bert *m, const char *const *texts, int n, int is_query, float *out);
#endif
