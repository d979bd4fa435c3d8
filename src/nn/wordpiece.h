/* nn/wordpiece: the BERT WordPiece tokenizer with Hugging Face BertTokenizer semantics:
 * text cleaning (NUL, U+FFFD and control characters dropped, whitespace -> space), CJK
 * ideographs split off, for uncased vocabularies NFD + removal of non-spacing marks + lower
 * case (utf8proc), split on whitespace and punctuation (ASCII punctuation ranges and Unicode
 * P*), then greedy longest-match-first pieces with "##" continuations; a word over 100
 * characters or with an unmatchable rest becomes [UNK].
 * The vocabulary comes from a vocab.txt (one token per line, id = line number) or from a GGUF
 * file (tokenizer.ggml.tokens, including llama.cpp's "phantom space" spelling where word
 * starts carry U+2581 and continuations have no "##"). */
#ifndef RAGD_NN_WORDPIECE_H
#define RAGD_NN_WORDPIECE_H
#include <stddef.h>
#include <stdint.h>
#include "nn/gguf.h"

typedef struct rg_wordpiece rg_wordpiece;

/* lowercase: 1 uncased (lower case + strip accents), 0 cased, -1 decide from the vocabulary
 * (uncased when no ordinary token has an upper-case ASCII letter). NULL + rg_err on failure. */
rg_wordpiece *rg_wordpiece_from_vocab_file(const char *path, int lowercase);
rg_wordpiece *rg_wordpiece_from_gguf(const rg_gguf *g, int lowercase);
/* tokens in "##" spelling; ids are the indexes. */
rg_wordpiece *rg_wordpiece_new(const char *const *tokens, size_t n, int lowercase);
void rg_wordpiece_free(rg_wordpiece *wp);

/* Tokenises len bytes of text (any bytes: invalid UTF-8 is dropped like U+FFFD) into ids,
 * [CLS] first and [SEP] last. At most max_ids ids (>= 2) are written: longer texts are
 * truncated, keeping [SEP]; only the first max_ids * 256 + 4096 bytes are examined. Returns
 * the number written, or -1 when max_ids < 2. */
int rg_wordpiece_encode(const rg_wordpiece *wp, const char *text, size_t len, int32_t *ids, int max_ids);

size_t rg_wordpiece_vocab_size(const rg_wordpiece *wp);
const char *rg_wordpiece_token(const rg_wordpiece *wp, int32_t id);   /* NULL if out of range */
int32_t rg_wordpiece_id(const rg_wordpiece *wp, const char *token);   /* -1 if absent */
int rg_wordpiece_lowercase(const rg_wordpiece *wp);
int32_t rg_wordpiece_cls(const rg_wordpiece *wp);
int32_t rg_wordpiece_sep(const rg_wordpiece *wp);
int32_t rg_wordpiece_unk(const rg_wordpiece *wp);
#endif
