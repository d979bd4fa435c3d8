/* index/lex_token: the words BM25 indexes and searches. A word is a run of letters, digits
 * and marks (Unicode L*, N*, M*, Co), folded to lower case without diacritics, then stemmed
 * with Snowball's "porter" (the algorithm of the FTS5 tokenizer the index used before
 * schema 4, so rankings carry over). Stopwords count toward a chunk's length but are neither
 * indexed nor searched. One rg_lex_tok per thread: the stemmer keeps state. */
#ifndef RAGD_INDEX_LEX_TOKEN_H
#define RAGD_INDEX_LEX_TOKEN_H
#include <stddef.h>
#include <stdint.h>

#define RG_LEX_MAX_WORD 64   /* longer folded words count toward lengths, are not indexed */

typedef struct rg_lex_tok rg_lex_tok;
rg_lex_tok *rg_lex_tok_new(void);     /* NULL with rg_err set when the stemmer is missing */
void rg_lex_tok_free(rg_lex_tok *t);

/* Calls fn for each word of text[0..len) in order: the folded word, n bytes, NUL-terminated
 * and, when n < RG_LEX_PAD, zero-filled up to w[RG_LEX_PAD] (so a hash table can load a short
 * word as three integers); n = 0: a word too long to index. Bytes that are not UTF-8
 * separate words. Returns the number of words. */
#define RG_LEX_PAD 24
int64_t rg_lex_split(const char *text, size_t len, void (*fn)(const char *w, size_t n, void *ctx), void *ctx);
int rg_lex_stopword(const char *w, size_t n);   /* a folded word */
/* The stem of a folded word (n <= RG_LEX_MAX_WORD) into out[RG_LEX_MAX_WORD + 1]; its length. */
size_t rg_lex_stem(rg_lex_tok *t, const char *w, size_t n, char *out);
#endif
