/* nn/bpe: byte-level BPE tokenizer (GPT-2, Llama-3, Qwen2 families), and SentencePiece-style
 * BPE (Llama-2 family).
 * Text is split at special (added) tokens first, NFC-normalised where the model asks for it,
 * cut into pre-tokens by the family's regex (PCRE2, Unicode properties), and each pre-token's
 * bytes are merged by merge rank. Tokens are kept internally as raw bytes (the GPT-2
 * byte-to-unicode mapping is undone at load), so decode is a plain concatenation.
 * Loads from a Hugging Face tokenizer.json or from GGUF-style arrays (tokens, merges, types). */
#ifndef RAGD_NN_BPE_H
#define RAGD_NN_BPE_H
#include <stddef.h>
#include <stdint.h>

typedef struct rg_bpe rg_bpe;

/* Pre-tokenizer families ("pre" names as llama.cpp writes tokenizer.ggml.pre). */
typedef enum { RG_PRE_GPT2 = 0, RG_PRE_LLAMA3, RG_PRE_QWEN2 } rg_bpe_pre;
/* Maps a tokenizer.ggml.pre string to a family; unknown names give RG_PRE_GPT2 and -1. */
int rg_bpe_pre_from_name(const char *name, rg_bpe_pre *out);

/* GGUF token types (tokenizer.ggml.token_type). */
enum { RG_TOK_NORMAL = 1, RG_TOK_UNKNOWN = 2, RG_TOK_CONTROL = 3, RG_TOK_USER = 4,
       RG_TOK_UNUSED = 5, RG_TOK_BYTE = 6 };

/* Hugging Face tokenizer.json (model.type "BPE" with a ByteLevel pre-tokenizer). */
rg_bpe *rg_bpe_load_json(const char *path);

/* From GGUF-style arrays: tokens[i] in byte-level unicode form (control/user tokens as plain
 * text), merges "A B" in rank order, types may be NULL (all normal). nfc: apply NFC first. */
rg_bpe *rg_bpe_new(const char *const *tokens, int ntokens, const char *const *merges, int nmerges,
                   const int32_t *types, rg_bpe_pre pre, int nfc);
/* SentencePiece-style BPE (GGUF tokenizer.ggml.model "llama": Llama-2, Mistral, TinyLlama):
 * pieces with U+2581 for spaces, merged by best score, bytes not covered fall back to the
 * <0xXX> byte tokens (type RG_TOK_BYTE). add_space_prefix: a space is put in front of the
 * text (and removed again by decode). */
rg_bpe *rg_bpe_new_spm(const char *const *tokens, int ntokens, const float *scores, const int32_t *types,
                       int add_space_prefix);
void rg_bpe_free(rg_bpe *t);

/* Encodes text (len bytes; need not be NUL-terminated). parse_special: special tokens in the
 * text become their ids (else they are tokenised as plain text). Returns the number of ids
 * (*ids malloc'd, caller frees), or -1 with rg_err set. */
int rg_bpe_encode(const rg_bpe *t, const char *text, size_t len, int parse_special, int32_t **ids);
/* Decodes ids to bytes (NUL-terminated, *len without the NUL); out-of-range ids fail. */
char *rg_bpe_decode(const rg_bpe *t, const int32_t *ids, int n, size_t *len);
/* The raw bytes of one token (not NUL-terminated), NULL when out of range. */
const char *rg_bpe_token(const rg_bpe *t, int32_t id, size_t *len);
int rg_bpe_is_special(const rg_bpe *t, int32_t id);
/* Id of a token given as raw bytes/plain text, -1 if absent. */
int32_t rg_bpe_find(const rg_bpe *t, const char *s);
int rg_bpe_vocab_size(const rg_bpe *t);
#endif
