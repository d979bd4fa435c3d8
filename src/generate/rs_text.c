/* generate/rs_text: words, stems, stop words, years and scale phrases for the reasoner. */
#include "generate/rs_internal.h"
#include "core/util.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* A light suffix stripper: enough that "revenues"/"revenue", "increased"/"increase",
 * "expenses"/"expense" meet; it need not produce real words. */
static void stem_word(const char *w, char *out, size_t cap) {
    size_t n = strlen(w);
    if (n >= cap) n = cap - 1;
    memcpy(out, w, n);
    out[n] = 0;
    if (isdigit((unsigned char)out[0])) {   /* numbers: drop thousands separators */
        size_t j = 0;
        for (size_t i = 0; i < n; i++) if (out[i] != ',') out[j++] = out[i];
        out[j] = 0;
        return;
    }
    /* number words as digits: "less than one year" meets "Less Than 1 Year" */
    static const char *nums[] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", NULL};
    for (int i = 0; nums[i]; i++)
        if (!strcmp(out, nums[i])) { snprintf(out, cap, "%d", i + 1); return; }
    if (n > 4 && !strcmp(out + n - 3, "ies")) { strcpy(out + n - 3, "y"); n -= 2; }
    else if (n > 4 && !strcmp(out + n - 4, "sses")) { out[n - 2] = 0; n -= 2; }
    else if (n > 3 && out[n - 1] == 's' && out[n - 2] != 's' && out[n - 2] != 'u' && out[n - 2] != 'i') { out[--n] = 0; }
    if (n > 5 && !strcmp(out + n - 3, "ing")) { n -= 3; out[n] = 0; }
    else if (n > 4 && !strcmp(out + n - 2, "ed")) { n -= 2; out[n] = 0; }
    if (n > 4 && out[n - 1] == 'e') out[--n] = 0;
}

void rs_tokenize(const char *text, rs_words *out, int max) {
    out->v = NULL; out->n = 0;
    if (!text) return;
    size_t n = strlen(text);
    if (n > 65536) n = 65536;
    int cap = 0;
    for (size_t i = 0; i < n && out->n < max; ) {
        unsigned char c = (unsigned char)text[i];
        size_t st = i;
        char w[48];
        size_t k = 0;
        if (isalnum(c)) {
            while (i < n) {
                unsigned char d = (unsigned char)text[i];
                if (isalnum(d)) { if (k + 1 < sizeof w) w[k++] = (char)tolower(d); i++; continue; }
                /* keep 1,234.5 together */
                if ((d == ',' || d == '.') && k && isdigit((unsigned char)w[k - 1]) && i + 1 < n &&
                    isdigit((unsigned char)text[i + 1])) { if (k + 1 < sizeof w) w[k++] = (char)d; i++; continue; }
                break;
            }
            /* a footnote digit glued to a word: "subsidiaries1" */
            if (k >= 4 && isdigit((unsigned char)w[k - 1]) && !isdigit((unsigned char)w[k - 2]) &&
                isalpha((unsigned char)w[0]) && isalpha((unsigned char)w[1]) && isalpha((unsigned char)w[2]) &&
                !(w[0] == 'f' && w[1] == 'y'))
                k--;
        } else if (c == '%') {
            w[k++] = '%'; i++;
        } else { i++; continue; }
        w[k] = 0;
        /* a fiscal year written "2018/2019" or "2018/19" is one period: the later year */
        if (k == 4 && rs_year_of(w) && i + 2 < n && text[i] == '/' && isdigit((unsigned char)text[i + 1]) &&
            isdigit((unsigned char)text[i + 2])) {
            size_t j = i + 1;
            while (j < n && isdigit((unsigned char)text[j])) j++;
            int y1 = atoi(w), y2 = -1;
            if (j - i - 1 == 2) y2 = (y1 / 100) * 100 + atoi(text + i + 1);
            else if (j - i - 1 == 4) y2 = atoi(text + i + 1);
            if (y2 == y1 + 1) { snprintf(w, sizeof w, "%d", y2); i = j; }
        }
        if (out->n == cap) { cap = cap ? cap * 2 : 32; out->v = xrealloc(out->v, (size_t)cap * sizeof *out->v); }
        rs_word *x = &out->v[out->n++];
        memset(x, 0, sizeof *x);
        snprintf(x->w, sizeof x->w, "%s", w);
        stem_word(w, x->stem, sizeof x->stem);
        x->year = rs_year_of(w);
        x->start = (int)st; x->end = (int)i;
    }
}

void rs_words_free(rs_words *w) { free(w->v); w->v = NULL; w->n = 0; }

int rs_year_of(const char *w) {
    size_t n = strlen(w);
    if (n == 4 && isdigit((unsigned char)w[0]) && isdigit((unsigned char)w[1]) && isdigit((unsigned char)w[2]) &&
        isdigit((unsigned char)w[3])) {
        int y = atoi(w);
        return (y >= 1990 && y <= 2039) ? y : 0;
    }
    if (n == 3 && w[0] == 'f' && isdigit((unsigned char)w[1]) && isdigit((unsigned char)w[2])) return 2000 + atoi(w + 1);
    if (n >= 4 && w[0] == 'f' && w[1] == 'y') {
        const char *d = w + 2;
        size_t m = strlen(d);
        for (size_t i = 0; i < m; i++) if (!isdigit((unsigned char)d[i])) return 0;
        if (m == 2) return 2000 + atoi(d);
        if (m == 4) return rs_year_of(d);
    }
    return 0;
}

int rs_stopword(const char *s) {
    static const char *sw[] = {"what", "is", "be", "wa", "was", "were", "are", "the", "a", "an", "of", "in",
        "for", "to", "from", "and", "or", "by", "on", "at", "as", "how", "much", "many", "did", "doe",
        "does", "do", "company", "s", "group", "value", "amount", "year", "fiscal", "fy", "respectively",
        "respectiv", "between", "during", "which", "that", "this", "there", "their", "its", "it", "with",
        "compared", "compar", "ha", "has", "have", "had", "end", "ended", "period", "us", "we", "our",
        "all", "both", "been", "across", "over", "under", "total", "sum", "average", "change", "percent",
        "percentag", "ratio", "proportion", "increas", "decreas", "difference", "differ", "growth", "rate",
        "more", "less", "than", "higher", "lower", "larger", "smaller", "greater", "highest", "lowest",
        "largest", "smallest", "figure", "number", "reported", "report", "dure", "million", "billion",
        "thousand", "date", "as", "then", "i", "e", "any", "if", "into", "after", "before", "were", "will",
        "would", "can", "could", "there", "these", "those", "per", "each", "combined", "together", "net",
        "other", "new", "old", "from", "2", "3", "two", "three", "time", "times", "approximately", "about",
        "%", "show", "shown", "table", "mean", "value", "amounts", "respect", "give", "given", NULL};
    for (int i = 0; sw[i]; i++) if (!strcmp(sw[i], s)) return 1;
    return 0;
}

/* Scale phrases. In a header cell a bare "$m" or "'000" is enough; in running text only
 * explicit "in millions"-style phrases count, so "$3.0 million" in a sentence is not taken. */
void rs_scale_in_text(const char *text, char scale[12], int header_cell) {
    scale[0] = 0;
    if (!text) return;
    size_t n = strlen(text);
    if (n > 65536) n = 65536;
    char *low = xmalloc(n + 1);
    /* lower case, any run of white space as one space ("(in\nthousands)") */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = (char)tolower((unsigned char)text[i]);
        if (isspace((unsigned char)ch)) { if (m && low[m - 1] == ' ') continue; ch = ' '; }
        low[m++] = ch;
    }
    low[m] = 0;
    n = m;
    static const struct { const char *pat; const char *scale; int cell_only; } P[] = {
        {"in thousands", "thousand", 0}, {"in thousand", "thousand", 0}, {"(thousands", "thousand", 0},
        {"thousands of", "thousand", 0}, {"in $ thousands", "thousand", 0}, {"$ in thousands", "thousand", 0},
        {"'000", "thousand", 0}, {"\xe2\x80\x99" "000", "thousand", 0}, {"$000", "thousand", 0},
        {"(000s)", "thousand", 0}, {"(000)", "thousand", 0}, {"in 000", "thousand", 0}, {"000's", "thousand", 0},
        {"000\xe2\x80\x99s", "thousand", 0}, {"000s", "thousand", 1}, {"\xe2\x82\xac" "000", "thousand", 1},
        {"\xc2\xa3" "000", "thousand", 1}, {"in millions", "million", 0}, {"in million", "million", 0},
        {"(millions", "million", 0}, {"millions of", "million", 0}, {"$ in millions", "million", 0},
        {"in $ millions", "million", 0}, {"$ millions", "million", 0}, {"$ million", "million", 1},
        {"$m", "million", 1}, {"\xe2\x82\xac" "m", "million", 1}, {"\xc2\xa3" "m", "million", 1},
        {"million", "million", 1}, {"rmb million", "million", 1}, {"in billions", "billion", 0},
        {"(billions", "billion", 0}, {"$bn", "billion", 1}, {"billion", "billion", 1},
        {"thousand", "thousand", 1}, {NULL, NULL, 0}};
    /* currency code + m in a header cell: "USDm", "EUR m", "DKKm" */
    if (header_cell) {
        for (size_t i = 0; i + 4 <= n; i++) {
            static const char *codes[] = {"usd", "eur", "gbp", "aud", "cad", "dkk", "nok", "sek", "chf", "jpy",
                "cny", "rmb", "hkd", "sgd", "nzd", "inr", "zar", "brl", "mxn", "krw", NULL};
            int code = 0;
            for (int k = 0; codes[k]; k++) if (!strncmp(low + i, codes[k], 3)) code = 1;
            if (code && (i == 0 || !isalpha((unsigned char)low[i - 1]))) {
                size_t j = i + 3;
                if (j < n && low[j] == ' ') j++;
                if (j < n && low[j] == 'm' && (j + 1 >= n || !isalpha((unsigned char)low[j + 1]))) {
                    snprintf(scale, 12, "million");
                    free(low);
                    return;
                }
            }
        }
    }
    for (int i = 0; P[i].pat; i++) {
        if (P[i].cell_only && !header_cell) continue;
        const char *hit = strstr(low, P[i].pat);
        if (!hit) continue;
        /* "$m" must end there: not "$more" */
        size_t L = strlen(P[i].pat);
        if ((!strcmp(P[i].pat, "$m") || !strcmp(P[i].pat, "\xe2\x82\xac" "m") || !strcmp(P[i].pat, "\xc2\xa3" "m")) &&
            isalpha((unsigned char)hit[L])) continue;
        snprintf(scale, 12, "%s", P[i].scale);
        break;
    }
    free(low);
}
