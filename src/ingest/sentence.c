/* ingest/sentence: see sentence.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "ingest/sentence.h"
#include "core/util.h"
#include <ctype.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An end: terminal punctuation, closing quotes/brackets, white space, then (looking ahead)
 * an optional opening quote/bracket and an upper-case letter or digit. Group 1 is the
 * punctuation and closers (kept in the sentence). */
static const char *END_RE =
    "([.!?]+[\"'\\x{201D}\\x{2019})\\]]*)\\s+(?=[\"'\\x{201C}\\x{2018}(\\[]?[\\p{Lu}\\d])";

static pcre2_code *end_re;
static pthread_once_t re_once = PTHREAD_ONCE_INIT;

static void compile_re(void) {
    int err;
    PCRE2_SIZE off;
    end_re = pcre2_compile((PCRE2_SPTR)END_RE, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK,
                           &err, &off, NULL);
    if (end_re) pcre2_jit_compile(end_re, PCRE2_JIT_COMPLETE);
}

/* Words that end with a period without ending the sentence (lower case, no period). */
static const char *const ABBREV[] = {
    "inc", "ltd", "corp", "co", "plc", "llc", "bros", "mr", "mrs", "ms", "dr", "prof", "sr", "jr",
    "st", "no", "nos", "vs", "v", "e.g", "i.e", "eg", "ie", "cf", "approx", "est", "dept", "fig",
    "figs", "ref", "vol", "pp", "p", "ch", "sec", "art", "para", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ave", "blvd", "rd", "gen", "gov",
    "sen", "rep", "hon", "rev", "div", "int", "nat", "assn", "admin", "mgmt", "excl", "incl",
    "ex", "op", "cit", "ibid", "al", "u.s", "u.k", "e.u", "a.m", "p.m", "n.v", "s.a", "a.g",
    "l.p", "l.l.c", "u.s.a", NULL};

/* Is the '.' at text[dot] the end of an abbreviation, an initial or a dotted acronym? */
static int abbreviation_before(const char *text, size_t dot) {
    size_t b = dot;
    while (b > 0 && (isalpha((unsigned char)text[b - 1]) || text[b - 1] == '.')) b--;
    size_t n = dot - b;
    if (n == 0 || n > 15) return 0;
    char w[16];
    for (size_t i = 0; i < n; i++) w[i] = (char)tolower((unsigned char)text[b + i]);
    w[n] = 0;
    if (n == 1 && isupper((unsigned char)text[b])) return 1;   /* initial: "J. Smith" */
    for (int i = 0; ABBREV[i]; i++) if (ABBREV[i][0] == w[0] && strcmp(w, ABBREV[i]) == 0) return 1;
    /* dotted acronym "U.S", "N.Y.C": letters separated by single dots */
    int dotted = strchr(w, '.') != NULL;
    for (size_t i = 0; i < n && dotted; i++)
        if ((i % 2 == 0 && !isalpha((unsigned char)w[i])) || (i % 2 == 1 && w[i] != '.')) dotted = 0;
    return dotted;
}

typedef struct { rg_span *v; int n, cap; } span_list;

static void add_span(span_list *l, const char *text, size_t a, size_t b) {
    while (a < b && isspace((unsigned char)text[a])) a++;
    while (b > a && isspace((unsigned char)text[b - 1])) b--;
    if (a >= b) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n].start = a;
    l->v[l->n].len = b - a;
    l->n++;
}

/* Splits one paragraph (no blank lines inside) at the regex's ends. */
static void split_para(span_list *l, const char *text, size_t a, size_t b, pcre2_match_data *md) {
    size_t start = a, pos = a;
    while (end_re && md && pos < b) {
        /* text was checked as UTF-8 once (rg_sentences); PCRE2 would re-check per call */
        int rc = pcre2_match(end_re, (PCRE2_SPTR)text, b, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 2) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t p0 = ov[2], p1 = ov[3], end = ov[1];
        /* the period (if the run is a single '.') decides whether this is an abbreviation */
        int single_dot = p1 - p0 >= 1 && text[p0] == '.' && (p1 - p0 == 1 || strchr("\"')]", text[p0 + 1]) ||
                                                                (unsigned char)text[p0 + 1] >= 0x80);
        if (!(single_dot && abbreviation_before(text, p0))) {
            add_span(l, text, start, p1);
            start = end;
        }
        pos = end > pos ? end : pos + 1;
    }
    add_span(l, text, start, b);
}

/* rg_utf8_valid, with ASCII text (no NUL, no byte >= 0x80) passed eight bytes at a time. */
static int valid_utf8(const char *text, size_t len) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, text + i, 8);
        if ((w & highs) || ((w - ones) & ~w & highs)) return rg_utf8_valid(text, len);
    }
    for (; i < len; i++)
        if (!text[i] || (unsigned char)text[i] >= 0x80) return rg_utf8_valid(text, len);
    return 1;
}

int rg_sentences(const char *text, size_t len, rg_span **out) {
    pthread_once(&re_once, compile_re);
    span_list l = {0};
    /* invalid UTF-8 (callers normally repair it first): no regex, paragraphs only */
    pcre2_match_data *md = end_re && valid_utf8(text, len) ? pcre2_match_data_create_from_pattern(end_re, NULL) : NULL;
    /* paragraphs: split at blank lines first (a newline, then blanks up to another newline) */
    size_t a = 0;
    for (size_t i = 0;; i++) {
        const char *nl = i < len ? memchr(text + i, '\n', len - i) : NULL;
        if (!nl) {
            split_para(&l, text, a, len, md);
            break;
        }
        i = (size_t)(nl - text);
        size_t j = i + 1;
        while (j < len && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r')) j++;
        if (j < len && text[j] == '\n') {
            split_para(&l, text, a, i, md);
            a = i + 1;
        }
    }
    if (md) pcre2_match_data_free(md);
    *out = l.v;
    return l.n;
}
