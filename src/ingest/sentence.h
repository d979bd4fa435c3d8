/* ingest/sentence: splitting prose into sentences for the chunker. A PCRE2 rule finds
 * candidate ends ('.', '!', '?' runs, closing quotes/brackets, then white space before an
 * upper-case letter, digit or opening quote); candidates after known abbreviations
 * ("Inc.", "Ltd.", "No.", "e.g.", "Dec."), initials ("J. Smith") and dotted acronyms
 * ("U.S.") are not ends; decimals ("1.5") never are. Blank lines always end a sentence. */
#ifndef RAGD_INGEST_SENTENCE_H
#define RAGD_INGEST_SENTENCE_H
#include <stddef.h>

typedef struct { size_t start, len; } rg_span;

/* Sentences of text[0..len) as spans (leading/trailing white space excluded), in order.
 * Returns the count (0 for blank text) and *out (free()d by the caller). Never fails. */
int rg_sentences(const char *text, size_t len, rg_span **out);
#endif
