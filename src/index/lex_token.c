/* index/lex_token: see lex_token.h */
#include "index/lex_token.h"
#include "core/util.h"
#include <libstemmer.h>
#include <string.h>
#include <utf8proc.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

struct rg_lex_tok { struct sb_stemmer *stem; };

rg_lex_tok *rg_lex_tok_new(void) {
    struct sb_stemmer *st = sb_stemmer_new("porter", "UTF_8");
    if (!st) { rg_err("the Porter stemmer (libstemmer) is not available"); return NULL; }
    rg_lex_tok *t = xcalloc(1, sizeof *t);
    t->stem = st;
    return t;
}

void rg_lex_tok_free(rg_lex_tok *t) {
    if (!t) return;
    sb_stemmer_delete(t->stem);
    free(t);
}

/* The words a question is made of rather than about: never worth a posting list. */
int rg_lex_stopword(const char *w, size_t n) {
    static const char *const stop[] = {"a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does",
        "for", "from", "had", "has", "have", "how", "in", "is", "it", "its", "of", "on", "or", "the", "that",
        "this", "to", "was", "were", "what", "when", "which", "who", "with"};
    if (n == 0 || n > 5) return 0;
    for (size_t i = 0; i < sizeof stop / sizeof *stop; i++)
        if (strlen(stop[i]) == n && memcmp(stop[i], w, n) == 0) return 1;
    return 0;
}

static int is_word_char(utf8proc_int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_CO:
        return 1;
    default:
        return 0;
    }
}

static const unsigned char ascii_word[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* Appends the folded form of c (lower case, marks stripped, decomposed) to w; a word that
 * outgrows RG_LEX_MAX_WORD is marked too long (*n = RG_LEX_MAX_WORD + 1) and kept so. */
static void fold_into(utf8proc_int32_t c, char *w, size_t *n) {
    if (*n > RG_LEX_MAX_WORD) return;
    if (c < 0x80) {
        w[(*n)++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        return;
    }
    utf8proc_int32_t dec[16];
    int last = 0;
    utf8proc_ssize_t k = utf8proc_decompose_char(c, dec, 16, UTF8PROC_CASEFOLD | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK, &last);
    if (k < 0 || k > 16) return;
    for (utf8proc_ssize_t i = 0; i < k; i++) {
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t e = utf8proc_encode_char(dec[i], enc);
        if (*n + (size_t)e > RG_LEX_MAX_WORD) { *n = RG_LEX_MAX_WORD + 1; return; }
        memcpy(w + *n, enc, (size_t)e);
        *n += (size_t)e;
    }
}

/* Ends the word in w[0..n): passes it on (n past RG_LEX_MAX_WORD: too long to index), then
 * clears the padded prefix for the next word. */
static void emit(uint64_t *q, size_t n, int64_t *words, void (*fn)(const char *, size_t, void *), void *ctx) {
    char *w = (char *)q;
    if (n > RG_LEX_MAX_WORD) { (*words)++; fn("", 0, ctx); }
    else if (n > 0) { (*words)++; w[n] = 0; fn(w, n, ctx); }
    /* n == 0: only stripped marks, nothing left of it */
    q[0] = q[1] = q[2] = 0;
}

/* The end of the run of ASCII letters and digits that starts at p[i]: 16 bytes at a time where
 * SSE2 is there (a report's words are mostly ASCII). */
static size_t ascii_run_end(const unsigned char *p, size_t i, size_t len) {
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i dbias = _mm_set1_epi8((char)(0x80 - '0')), dlim = _mm_set1_epi8((char)(-0x80 + 10));
    const __m128i lbias = _mm_set1_epi8((char)(0x80 - 'a')), llim = _mm_set1_epi8((char)(-0x80 + 26));
    const __m128i lower = _mm_set1_epi8(0x20);
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        /* unsigned x - lo < span, as a signed compare of values shifted by 0x80 */
        __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(v, dbias), dlim);
        __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(v, lower), lbias), llim);
        unsigned stop = ~(unsigned)_mm_movemask_epi8(_mm_or_si128(digit, letter)) & 0xffffu;
        if (stop) return i + (size_t)__builtin_ctz(stop);
    }
#endif
    while (i < len && ascii_word[p[i]]) i++;
    return i;
}

/* A word of n <= RG_LEX_PAD ASCII letters and digits at s, with RG_LEX_PAD bytes readable,
 * lower-cased into q[0..2] with zeros after it. Whole 8-byte loads and stores: building the
 * word a byte at a time and then loading it as integers stalls store-to-load forwarding. */
static void ascii_key(const unsigned char *s, size_t n, uint64_t *q) {
    for (size_t j = 0; j < 3; j++) {
        uint64_t x;
        memcpy(&x, s + 8 * j, 8);
        size_t have = n > 8 * j ? n - 8 * j : 0;
        uint64_t mask = have >= 8 ? ~0ull : (1ull << (8 * have)) - 1;
        q[j] = (x | 0x2020202020202020ull) & mask;   /* letters lower-cased; digits have 0x20 set */
    }
}

int64_t rg_lex_split(const char *text, size_t len, void (*fn)(const char *w, size_t n, void *ctx), void *ctx) {
    const unsigned char *p = (const unsigned char *)text;
    uint64_t q[(RG_LEX_MAX_WORD + 8) / 8] = {0};    /* the word, zero-padded (lex_token.h) */
    char *w = (char *)q;
    size_t n = 0, i = 0;
    int in_word = 0;
    int64_t words = 0;
    while (i < len) {
        unsigned char b = p[i];
        if (b < 0x80) {
            /* ASCII, nearly all of a report: a run of letters and digits, lower-cased */
            if (!ascii_word[b]) {
                if (in_word) { emit(q, n, &words, fn, ctx); in_word = 0; n = 0; }
                i++;
                continue;
            }
            if (!in_word) {
                /* a word of ASCII only, short enough to be a key: straight from the text */
                size_t e = ascii_run_end(p, i, len);
                if ((e == len || p[e] < 0x80) && e - i <= RG_LEX_PAD && i + RG_LEX_PAD <= len) {
                    ascii_key(p + i, e - i, q);
                    if (e - i == RG_LEX_PAD) w[RG_LEX_PAD] = 0;
                    words++;
                    fn(w, e - i, ctx);
                    q[0] = q[1] = q[2] = 0;
                    i = e;
                    continue;
                }
            }
            in_word = 1;
            do {
                if (n <= RG_LEX_MAX_WORD) w[n] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
                n += n <= RG_LEX_MAX_WORD;
                b = ++i < len ? p[i] : 0;
            } while (ascii_word[b] && i < len);
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        int word = k > 0 && is_word_char(c);
        if (word && !in_word) {
            /* a word does not start with a mark: a stray combining mark is a separator */
            utf8proc_category_t cat = utf8proc_category(c);
            if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME) word = 0;
        }
        if (word) {
            in_word = 1;
            fold_into(c, w, &n);
        } else if (in_word) {
            emit(q, n, &words, fn, ctx);
            in_word = 0;
            n = 0;
        }
        i += k > 0 ? (size_t)k : 1;
    }
    if (in_word) emit(q, n, &words, fn, ctx);
    return words;
}

size_t rg_lex_stem(rg_lex_tok *t, const char *w, size_t n, char *out) {
    if (n > RG_LEX_MAX_WORD) n = RG_LEX_MAX_WORD;
    /* Only ASCII words of three letters or more are stemmed, as FTS5's porter did; digits and
     * other scripts pass through. */
    int ascii_alpha = n >= 3;
    for (size_t i = 0; i < n && ascii_alpha; i++) ascii_alpha = w[i] >= 'a' && w[i] <= 'z';
    if (ascii_alpha) {
        const sb_symbol *s = sb_stemmer_stem(t->stem, (const sb_symbol *)w, (int)n);
        int m = s ? sb_stemmer_length(t->stem) : -1;
        if (s && m > 0 && m <= RG_LEX_MAX_WORD) {
            memcpy(out, s, (size_t)m);
            out[m] = 0;
            return (size_t)m;
        }
    }
    memcpy(out, w, n);
    out[n] = 0;
    return n;
}
