/* core/numparse: financial number, period and scale reading (see numparse.h).
 * A cell is first normalised into a short ASCII form (Unicode spaces, dashes, currency signs
 * and footnote symbols mapped to single bytes), then read either as a number (sign, parens,
 * currency before or after, thousands commas, %, magnitude word, footnote) or as a period
 * expression made only of whitelisted words around a year. Anything else is text. */
#include "core/numparse.h"
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Placeholder bytes for non-ASCII currency signs in the normalised form. */
enum { CUR_EUR = 1, CUR_GBP = 2, CUR_YEN = 3, CUR_INR = 4 };
#define NORM_MAX 160

static int is_cur_byte(unsigned char c) { return c == '$' || (c >= CUR_EUR && c <= CUR_INR); }

/* Normalises raw into out (ASCII + currency placeholders, one space between words, trimmed).
 * Returns the length, or -1 when the text is too long to be a number or a period header. */
static int normalise(const char *raw, char *out) {
    const unsigned char *p = (const unsigned char *)raw;
    int n = 0;
    int space = 0;
    while (*p) {
        unsigned char c = *p;
        if (c < 0x80 && c != ' ' && !(c >= '\t' && c <= '\r')) {   /* plain ASCII: kept (the common case) */
            if (space && n > 0) { if (n >= NORM_MAX - 1) return -1; out[n++] = ' '; }
            space = 0;
            if (n >= NORM_MAX - 1) return -1;
            out[n++] = (char)c;
            p++;
            continue;
        }
        int rep = -1, adv = 1;   /* replacement byte (' ' for space, 0 for drop), bytes consumed */
        if (c < 0x80) {
            rep = (c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') ? ' ' : c;
        } else if (c == 0xC2 && p[1]) {
            adv = 2;
            switch (p[1]) {
            case 0xA0: rep = ' '; break;                 /* no-break space */
            case 0xA3: rep = CUR_GBP; break;             /* £ */
            case 0xA5: rep = CUR_YEN; break;             /* ¥ */
            case 0xB9: case 0xB2: case 0xB3: rep = '*'; break; /* superscript 1 2 3 */
            default: rep = 0x80;
            }
        } else if (c == 0xE2 && p[1] && p[2]) {
            adv = 3;
            unsigned b1 = p[1], b2 = p[2];
            if (b1 == 0x80 && (b2 == 0x93 || b2 == 0x94 || b2 == 0x92)) rep = '-';   /* – — ‒ */
            else if (b1 == 0x88 && b2 == 0x92) rep = '-';                           /* − */
            else if (b1 == 0x80 && (b2 == 0x98 || b2 == 0x99)) rep = '\'';          /* ‘ ’ */
            else if (b1 == 0x80 && (b2 >= 0x80 && b2 <= 0x8B)) rep = ' ';           /* en/em/thin spaces */
            else if (b1 == 0x80 && b2 == 0xAF) rep = ' ';                           /* narrow nbsp */
            else if (b1 == 0x80 && (b2 == 0xA0 || b2 == 0xA1)) rep = '*';           /* † ‡ */
            else if (b1 == 0x82 && b2 == 0xAC) rep = CUR_EUR;                       /* € */
            else if (b1 == 0x82 && b2 == 0xB9) rep = CUR_INR;                       /* ₹ */
            else rep = 0x80;
        } else {
            rep = 0x80;   /* any other non-ASCII: kept as a byte no reader accepts */
            adv = 1;
        }
        if (rep == ' ') space = 1;
        else if (rep > 0) {
            if (space && n > 0) { if (n >= NORM_MAX - 1) return -1; out[n++] = ' '; }
            space = 0;
            if (n >= NORM_MAX - 1) return -1;
            out[n++] = (char)rep;
        }
        for (int i = 0; i < adv && *p; i++) p++;
    }
    out[n] = 0;
    return n;
}

/* Drops a trailing footnote mark ("*", "(1)", "(12)", "(a)") when something numeric-looking
 * stays in front of it. */
static void strip_footnote(char *s, int *n) {
    for (int guard = 0; guard < 3; guard++) {
        int len = *n, cut = -1;
        if (len >= 2 && s[len - 1] == '*') {
            cut = len - 1;
            while (cut > 0 && s[cut - 1] == '*') cut--;
        } else if (len >= 4 && s[len - 1] == ')') {
            int open = len - 2;
            while (open >= 0 && s[open] != '(') open--;
            int inner = len - 2 - open;
            if (open > 0 && inner >= 1 && inner <= 2) {
                int digits = 1, alpha = inner == 1 && isalpha((unsigned char)s[open + 1]);
                for (int i = open + 1; i < len - 1; i++) if (!isdigit((unsigned char)s[i])) digits = 0;
                if (digits || alpha) cut = open;
            }
        }
        if (cut <= 0) return;
        int k = cut;
        while (k > 0 && s[k - 1] == ' ') k--;
        if (k == 0) return;
        unsigned char last = (unsigned char)s[k - 1];
        if (!(isalnum(last) || last == ')' || last == '%' || last == '.')) return;
        s[k] = 0;
        *n = k;
    }
}

/* Currency at p (symbol or ISO-like code); returns bytes consumed and writes the unit. */
static int read_currency(const char *p, char unit[12]) {
    /* the codes by first letter (at most one of them can match: codes sharing two letters
     * differ in the third) */
    static const char *const codes[26] = {
        ['A' - 'A'] = "A$ AUD", ['C' - 'A'] = "C$ CAD CHF CNY", ['D' - 'A'] = "DKK", ['E' - 'A'] = "EUR",
        ['G' - 'A'] = "GBP", ['H' - 'A'] = "HK$ HKD", ['I' - 'A'] = "INR", ['J' - 'A'] = "JPY",
        ['N' - 'A'] = "NT$ NOK", ['R' - 'A'] = "R$ RMB", ['S' - 'A'] = "S$ SEK SGD", ['U' - 'A'] = "US$ USD",
        ['Z' - 'A'] = "ZAR"};
    /* toupper and strncasecmp as the C locale has them (ragd never calls setlocale), inline:
     * this runs on most cells */
#define UP(c) ((unsigned char)(c) >= 'a' && (unsigned char)(c) <= 'z' ? (unsigned char)(c) - 32 : (unsigned char)(c))
    unsigned c0 = UP(*p);
    const char *c = c0 >= 'A' && c0 <= 'Z' ? codes[c0 - 'A'] : NULL;
    while (c && *c) {
        size_t n = c[2] && c[2] != ' ' ? 3 : 2;
        /* p[0] matched; p[1], then p[2], are no NUL when they match a code's letter */
        if ((unsigned char)c[1] == UP(p[1]) && (n == 2 || (unsigned char)c[2] == UP(p[2])) && !isalpha((unsigned char)p[n])) {
            memcpy(unit, c, n);
            unit[n] = 0;
            return (int)n;
        }
        c += n;
        if (*c == ' ') c++;
    }
#undef UP
    switch ((unsigned char)*p) {
    case '$': strcpy(unit, "$"); return 1;
    case CUR_EUR: strcpy(unit, "\xE2\x82\xAC"); return 1;
    case CUR_GBP: strcpy(unit, "\xC2\xA3"); return 1;
    case CUR_YEN: strcpy(unit, "\xC2\xA5"); return 1;
    case CUR_INR: strcpy(unit, "\xE2\x82\xB9"); return 1;
    }
    return 0;
}

/* A whole word w (case-insensitive) at p; returns its length or 0. */
static int word_at(const char *p, const char *w) {
    size_t n = strlen(w);
    return strncasecmp(p, w, n) == 0 && !isalpha((unsigned char)p[n]) ? (int)n : 0;
}

static int read_magnitude(const char *p, int have_cur, double *mult) {
    static const struct { const char *w; double m; int need_cur; } mags[] = {
        {"thousands", 1e3, 0}, {"thousand", 1e3, 0}, {"millions", 1e6, 0}, {"million", 1e6, 0},
        {"billions", 1e9, 0}, {"billion", 1e9, 0}, {"trillion", 1e12, 0}, {"bn", 1e9, 0},
        {"mn", 1e6, 0}, {"mm", 1e6, 1}, {"k", 1e3, 1}, {"m", 1e6, 1}, {"b", 1e9, 1}, {NULL, 0, 0}};
    for (int i = 0; mags[i].w; i++) {
        if (mags[i].need_cur && !have_cur) continue;
        int n = word_at(p, mags[i].w);
        if (n) { *mult = mags[i].m; return n; }
    }
    return 0;
}

/* The value of a digit string with at most one '.', as strtod reads it. Up to 15 digits and
 * 22 decimals, the digits as an integer and the power of ten are both exact doubles, so one
 * IEEE division gives the correctly rounded result strtod gives; longer strings go to strtod. */
static double digits_value(const char *d, int nd) {
#if FLT_EVAL_METHOD == 0
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t m = 0;
    int count = 0, decimals = -1;
    for (int i = 0; i < nd; i++) {
        if (d[i] == '.') { decimals = 0; continue; }
        m = m * 10 + (uint64_t)(d[i] - '0');
        count++;
        if (decimals >= 0) decimals++;
        if (count > 15) return strtod(d, NULL);
    }
    if (decimals <= 0) return (double)m;
    if (decimals <= 22) return (double)m / pow10[decimals];
#endif
    return strtod(d, NULL);
}

typedef struct {
    double value;
    int neg, paren, pct, comma, dot, intdigits, cur_prefix;
    double mult;
    char cur[12], unit[12];
} numread;

/* Reads s wholly as a number; 1 when it is one. */
static int read_number(const char *s, numread *r) {
    memset(r, 0, sizeof *r);
    r->mult = 1;
    const char *p = s;
    for (int guard = 0; guard < 6; guard++) {
        while (*p == ' ') p++;
        if (*p == '-' || *p == '+') { if (*p == '-') r->neg = 1; p++; continue; }
        if (*p == '(' && !r->paren) { r->paren = 1; p++; continue; }
        if (!r->cur[0]) { int n = read_currency(p, r->cur); if (n) { p += n; r->cur_prefix = 1; continue; } }
        break;
    }
    if (!(isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1])))) return 0;
    char digits[64];
    int nd = 0;
    while (isdigit((unsigned char)*p) || (*p == ',' && isdigit((unsigned char)p[1]) && r->intdigits)) {
        if (*p == ',') r->comma = 1;
        else { if (nd >= 40) return 0; digits[nd++] = *p; r->intdigits++; }
        p++;
    }
    if (*p == '.') {
        r->dot = 1;
        digits[nd++] = '.';
        p++;
        while (isdigit((unsigned char)*p)) { if (nd >= 60) return 0; digits[nd++] = *p++; }
    }
    digits[nd] = 0;
    r->value = digits_value(digits, nd);
    int closed = 0;
    for (int guard = 0; guard < 8 && *p; guard++) {
        int sp = 0;
        while (*p == ' ') { p++; sp = 1; }
        if (!*p) break;
        int n;
        if (*p == ')' && r->paren && !closed) { closed = 1; p++; continue; }
        if (*p == ',' && !p[1]) { p++; continue; }   /* "31," as typed in a list */
        if (*p == '%' && !r->pct) { r->pct = 1; p++; continue; }
        if (!r->pct && (n = word_at(p, "percent"))) { r->pct = 1; p += n; continue; }
        if (r->mult == 1 && (n = read_magnitude(p, r->cur[0] != 0 || !sp, &r->mult))) {
            /* single-letter magnitudes need a currency ("$3.4m") or to touch the number */
            if (n == 1 && !r->cur[0] && sp) return 0;
            p += n; continue;
        }
        if (!r->cur[0] && (n = read_currency(p, r->cur))) { p += n; continue; }
        if (!r->unit[0] && !sp && (*p == 'x' || *p == 'X') && !isalpha((unsigned char)p[1])) {
            strcpy(r->unit, "x"); p++; continue;
        }
        if (!r->unit[0] && ((n = word_at(p, "bps")) || (n = word_at(p, "bp")) ||
                            (n = word_at(p, "pp")) || (n = word_at(p, "pts")))) {
            snprintf(r->unit, sizeof r->unit, "%.*s", n, p);
            for (char *u = r->unit; *u; u++) *u = (char)tolower((unsigned char)*u);
            p += n; continue;
        }
        return 0;
    }
    if (*p) return 0;
    if (r->paren && !closed) return 0;
    return 1;
}

/* read_number for a string of fewer than 40 digits, ',' and '.' that starts with a digit,
 * without its general machinery (no sign, currency, unit or magnitude can occur): digits
 * with ',' before a digit, then '.' and digits, then at most one final ','. Fills value,
 * comma, dot and intdigits; 1 when read_number would read s as a number. */
static int read_plain(const char *s, numread *r) {
    char digits[64];
    int nd = 0;
    const char *p = s;
    r->comma = r->dot = r->intdigits = 0;
    while ((*p >= '0' && *p <= '9') || (*p == ',' && p[1] >= '0' && p[1] <= '9')) {
        if (*p == ',') r->comma = 1;
        else { digits[nd++] = *p; r->intdigits++; }
        p++;
    }
    if (*p == '.') {
        r->dot = 1;
        digits[nd++] = '.';
        p++;
        while (*p >= '0' && *p <= '9') digits[nd++] = *p++;
    }
    if (*p == ',' && !p[1]) p++;
    if (*p) return 0;
    digits[nd] = 0;
    r->value = digits_value(digits, nd);
    return 1;
}

/* ---- period expressions ---- */

/* 1 when w (lower case) is one of the space-separated words of lists[its first letter]:
 * a word is compared with the few that share its first letter only. */
static int word_in(const char *w, const char *const lists[26]) {
    if (w[0] < 'a' || w[0] > 'z') return 0;
    size_t n = strlen(w);
    for (const char *p = lists[w[0] - 'a']; p && *p;) {
        size_t k = 0;
        while (p[k] && p[k] != ' ') k++;
        if (k == n && memcmp(p, w, n) == 0) return 1;
        p += k;
        if (*p) p++;
    }
    return 0;
}

static int month_word(const char *w) {
    static const char *const m[26] = {
        ['a' - 'a'] = "apr april aug august", ['d' - 'a'] = "dec december", ['f' - 'a'] = "feb february",
        ['j' - 'a'] = "jan january jun june jul july", ['m' - 'a'] = "mar march may", ['n' - 'a'] = "nov november",
        ['o' - 'a'] = "oct october", ['s' - 'a'] = "sep sept september"};
    return word_in(w, m);
}

static int filler_word(const char *w) {
    static const char *const f[26] = {
        ['a' - 'a'] = "as at actual audited", ['c' - 'a'] = "calendar", ['e' - 'a'] = "ended ending end",
        ['f' - 'a'] = "fiscal for first fourth fy full financial", ['h' - 'a'] = "half", ['m' - 'a'] = "month months",
        ['n' - 'a'] = "nine", ['o' - 'a'] = "of on", ['p' - 'a'] = "period", ['q' - 'a'] = "quarter quarters",
        ['r' - 'a'] = "restated reported", ['s' - 'a'] = "six second", ['t' - 'a'] = "the three twelve third",
        ['u' - 'a'] = "unaudited", ['w' - 'a'] = "week weeks", ['y' - 'a'] = "year years yr year-end yearend ytd"};
    return word_in(w, f);
}

/* Unit words allowed after the year ("2017 €m", "2018 $'000", "2019 (in millions)"). */
static int unit_word(const char *w) {
    /* chars, not pointers: one array to scan */
    static const char u[][10] = {"m", "mn", "bn", "k", "000", "000s", "in", "thousands", "millions",
                                 "billions", "usd", "eur", "gbp", "rmb", "us", "chf", "dollars",
                                 "s", ""};
    for (int i = 0; u[i][0]; i++) if (u[i][0] == w[0] && strcmp(w, u[i]) == 0) return 1;
    return 0;
}

/* 0 when read_period(s) is sure to fail at its first word, s starting with a letter: a word
 * that names no month, quarter, half or fiscal year and is no filler. The word is read (and
 * lower-cased) as read_period reads it. */
static int period_may_start(const char *s) {
    char w[32];
    int n = 0;
    for (const char *p = s; isalnum((unsigned char)*p) || (*p == '-' && n && isalpha((unsigned char)p[1]) &&
                                                            isalpha((unsigned char)w[n - 1])); p++) {
        if (n >= 31) return 0;
        w[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);   /* tolower in the C locale ragd runs in */
    }
    w[n] = 0;
    if (w[0] == 'f' && w[1] == 'y' && n > 2 && strspn(w + 2, "0123456789") == (size_t)(n - 2) && (n == 4 || n == 6)) return 1;
    if (w[0] == 'f' && n == 3 && isdigit((unsigned char)w[1]) && isdigit((unsigned char)w[2])) return 1;
    if ((w[0] == 'q' || w[0] == 'h') && n == 2 && w[1] >= '1' && w[1] <= (w[0] == 'q' ? '4' : '2')) return 1;
    return month_word(w) || filler_word(w);
}

static int two_digit_year(int yy) { return yy < 70 ? 2000 + yy : 1900 + yy; }

/* Reads s (lower-cased, normalised) as a period; 1 with *year (and unit "Q4"/"H1") if so. */
static int read_period(const char *s, double *year, char unit[12]) {
    int years[4], ny = 0, days = 0, month = 0, ysep = 0;
    char prev_punct = 0, qual[12] = "";
    {   /* numeric dates "12/31/2019", "31.12.19" */
        int a, b, c, used = -1;
        if (isdigit((unsigned char)s[0]) && sscanf(s, "%2d%*[/.]%2d%*[/.]%4d%n", &a, &b, &c, &used) == 3 && used == (int)strlen(s) &&
            a >= 1 && b >= 1 && a <= 31 && b <= 31 && (a <= 12 || b <= 12)) {
            if (c < 100) c = two_digit_year(c);
            if (c < 1900 || c > 2099) return 0;
            *year = c;
            unit[0] = 0;
            return 1;
        }
    }
    const char *p = s;
    while (*p) {
        if (*p == ' ') { p++; continue; }
        if (!isalnum((unsigned char)*p)) {
            char c = *p;
            if (is_cur_byte((unsigned char)c)) { if (!ny) return 0; }
            else if (!strchr(",.:-/'()*", c)) return 0;
            if (c == '/' || c == '-') ysep = ny;   /* a separator right after year number ny */
            prev_punct = c;
            p++;
            continue;
        }
        char w[32];
        int n = 0;
        while (isalnum((unsigned char)*p) || (*p == '-' && n && isalpha((unsigned char)p[1]) && isalpha((unsigned char)w[n - 1]))) {
            if (n >= 31) return 0;
            w[n++] = *p++;
        }
        w[n] = 0;
        int y = -1;
        if (n == 4 && strspn(w, "0123456789") == 4) {
            int v = atoi(w);
            if (v < 1900 || v > 2099) return 0;
            y = v;
        } else if (n == 2 && strspn(w, "0123456789") == 2 && (prev_punct == '\'' || (prev_punct == '/' && ny && ysep == ny))) {
            y = two_digit_year(atoi(w));
            if (prev_punct == '/' && ny && y != years[ny - 1] + 1) return 0;
        } else if (n <= 2 && strspn(w, "0123456789") == (size_t)n) {
            int v = atoi(w);
            if (v < 1 || v > 31) return 0;
            if (ny && prev_punct == '(') return 0;
            days++;
        } else if (w[0] == 'f' && w[1] == 'y' && n > 2 && strspn(w + 2, "0123456789") == (size_t)(n - 2) && (n == 4 || n == 6)) {
            y = n == 4 ? two_digit_year(atoi(w + 2)) : atoi(w + 2);
        } else if (w[0] == 'f' && n == 3 && isdigit((unsigned char)w[1]) && isdigit((unsigned char)w[2])) {
            y = two_digit_year(atoi(w + 1));
        } else if ((w[0] == 'q' || w[0] == 'h') && n == 2 && w[1] >= '1' && w[1] <= (w[0] == 'q' ? '4' : '2')) {
            snprintf(qual, sizeof qual, "%c%c", toupper((unsigned char)w[0]), w[1]);
        } else if (n >= 4 && w[0] >= '1' && w[0] <= '4' && (w[1] == 'q' || w[1] == 'h') &&
                   (n == 4 || n == 6) && strspn(w + 2, "0123456789") == (size_t)(n - 2)) {
            snprintf(qual, sizeof qual, "%c%c", toupper((unsigned char)w[1]), w[0]);
            y = n == 4 ? two_digit_year(atoi(w + 2)) : atoi(w + 2);
        } else if (month_word(w)) {
            month = 1;
        } else if (filler_word(w)) {
            /* fine */
        } else if (ny && unit_word(w)) {
            /* fine */
        } else {
            return 0;
        }
        if (y >= 0) {
            if (ny == 4) return 0;
            if (ny && y != years[ny - 1]) {
                /* two years: only a fiscal span "2018/19", "2018-2019" reads as one period */
                if (!(ysep == ny && y == years[ny - 1] + 1)) return 0;
            }
            years[ny++] = y;
        }
        prev_punct = 0;
    }
    if (!ny) return 0;
    if (days > 1 || (days && !month)) return 0;
    *year = years[ny - 1];
    snprintf(unit, 12, "%s", qual);
    return 1;
}

void rg_cell_parse(const char *raw, rg_cell_type *type, double *value, char unit[12]) {
    *type = RG_CELL_TEXT;
    *value = 0;
    unit[0] = 0;
    if (!raw) { *type = RG_CELL_EMPTY; return; }
    /* fast path: a plain amount ("1,234.5"), the bulk of big tables */
#if FLT_EVAL_METHOD == 0
    {   /* read in one pass when it has at most 15 digits: what read_plain and digits_value
         * give (m and the power of ten are exact doubles, one division rounds correctly) */
        static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        const char *p = raw;
        uint64_t m = 0;
        int nd = 0, intd = 0, dec = -1, comma = 0;
        while ((*p >= '0' && *p <= '9') || (*p == ',' && p > raw && p[1] >= '0' && p[1] <= '9')) {
            if (*p == ',') comma = 1;
            else { m = m * 10 + (uint64_t)(*p - '0'); nd++; intd++; }
            if (nd > 15) break;
            p++;
        }
        if (*p == '.' && nd <= 15) {
            dec = 0;
            for (p++; *p >= '0' && *p <= '9' && nd <= 15; p++) { m = m * 10 + (uint64_t)(*p - '0'); nd++; dec++; }
        }
        if (*p == ',' && !p[1]) p++;
        if (!*p && intd && nd <= 15 && p - raw <= 40) {
            double v = dec > 0 ? (double)m / pow10[dec] : (double)m;
            *type = dec < 0 && !comma && intd == 4 && v >= 1900 && v <= 2099 ? RG_CELL_YEAR : RG_CELL_NUMBER;
            *value = v;
            return;
        }
    }
#endif
    {   /* the same with more digits (read_plain, strtod) */
        size_t k = 0;
        while (k < 40 && ((raw[k] >= '0' && raw[k] <= '9') || raw[k] == ',' || raw[k] == '.')) k++;
        numread r;
        if (!raw[k] && k && raw[0] >= '0' && raw[0] <= '9' && read_plain(raw, &r)) {
            if (!r.comma && !r.dot && r.intdigits == 4 && r.value >= 1900 && r.value <= 2099) *type = RG_CELL_YEAR;
            else *type = RG_CELL_NUMBER;
            *value = r.value;
            return;
        }
    }
    /* a label starting with an ASCII letter ("Europe", "Product revenue, unit 12"): text,
     * decided on raw without normalising it. normalise keeps that letter first and every
     * byte up to the first space or non-ASCII one, where it puts a byte that is no letter
     * or '$': read_currency reads the same there, no digit appears or goes, and the first
     * word read_period would see is raw's or (a Unicode dash made '-') one going on past it,
     * which no word list takes unless it takes raw's. So this is the label test below. */
    if ((raw[0] >= 'a' && raw[0] <= 'z') || (raw[0] >= 'A' && raw[0] <= 'Z')) {
        char cur[12];
        if (!read_currency(raw, cur) && (!strpbrk(raw, "0123456789") || !period_may_start(raw))) return;
    }
    char s[NORM_MAX];
    int n = normalise(raw, s);
    if (n < 0) return;               /* long text */
    if (n == 0) { *type = RG_CELL_EMPTY; return; }
    /* "-", "—", "$ -", "$  —", "$": nothing to read */
    {
        int only = 1, dashes = 0;
        char cur[12] = "";
        for (const char *p = s; *p;) {
            int k;
            if (*p == '-') { dashes++; p++; }
            else if (*p == ' ') p++;
            else if (!cur[0] && (k = read_currency(p, cur)) && (p == s || p[-1] == ' ' || !isalpha((unsigned char)p[-1]))) p += k;
            else { only = 0; break; }
        }
        if (only && dashes <= 3) { *type = RG_CELL_EMPTY; return; }
    }
    /* no digit (normalise makes none): no number or period below can be read; text */
    if (!strpbrk(s, "0123456789")) return;
    /* a label ("Product revenue, unit 12"): a first word that is no currency code does not
     * start a number (read_number wants a sign, parenthesis, currency or digit first), and a
     * period only starts with some words: text, without the steps below */
    if (isalpha((unsigned char)s[0])) {
        char cur[12];
        if (!read_currency(s, cur) && !period_may_start(s)) return;
    }
    /* "2 0 1 8": a year typed with spaces between the digits */
    if (n == 7 && isdigit((unsigned char)s[0]) && s[1] == ' ' && isdigit((unsigned char)s[2]) && s[3] == ' ' &&
        isdigit((unsigned char)s[4]) && s[5] == ' ' && isdigit((unsigned char)s[6])) {
        int y = (s[0] - '0') * 1000 + (s[2] - '0') * 100 + (s[4] - '0') * 10 + (s[6] - '0');
        if (y >= 1900 && y <= 2099) { *type = RG_CELL_YEAR; *value = y; return; }
    }
    strip_footnote(s, &n);
    numread r;
    if (read_number(s, &r)) {
        /* a bare year, possibly followed by the table's unit ("2017 €m", "2018 $'000") */
        if (!r.neg && !r.paren && !r.pct && !r.cur_prefix && !r.comma && !r.dot && !r.unit[0] &&
            (r.mult == 1 || strchr(s, ' ')) && r.intdigits == 4 && r.value >= 1900 && r.value <= 2099) {
            *type = RG_CELL_YEAR;
            *value = r.value;
            return;
        }
        double v = r.value * r.mult;
        if (r.neg || r.paren) v = -v;
        if (!isfinite(v)) return;
        *value = v;
        if (r.pct) { *type = RG_CELL_PERCENT; strcpy(unit, "%"); return; }
        *type = RG_CELL_NUMBER;
        snprintf(unit, 12, "%s", r.cur[0] ? r.cur : r.unit);
        return;
    }
    /* every period names a year: two or more digits in a row */
    {
        int run = 0, best = 0;
        for (const char *p = s; *p; p++) { run = isdigit((unsigned char)*p) ? run + 1 : 0; if (run > best) best = run; }
        if (best < 2) return;
    }
    for (char *p = s; *p; p++) *p = (char)tolower((unsigned char)*p);
    double y;
    if (read_period(s, &y, unit)) { *type = RG_CELL_YEAR; *value = y; return; }
    unit[0] = 0;
}

/* ---- scale ---- */

static int scale_word(const char *p, char scale[12]) {
    static const struct { const char *w; const char *s; } words[] = {
        {"thousands", "thousand"}, {"thousand", "thousand"}, {"millions", "million"},
        {"million", "million"}, {"billions", "billion"}, {"billion", "billion"},
        {"000s", "thousand"}, {"000's", "thousand"}, {"000", "thousand"}, {"mn", "million"},
        {"mm", "million"}, {"bn", "billion"}, {"m", "million"}, {"k", "thousand"},
        {NULL, NULL}};
    for (int i = 0; words[i].w; i++) {
        size_t n = strlen(words[i].w);
        if (strncasecmp(p, words[i].w, n) == 0 && !isalnum((unsigned char)p[n])) {
            strcpy(scale, words[i].s);
            return (int)n;
        }
    }
    return 0;
}

/* Currency sign or word at p, for "$ in millions", "€m", "dollars in thousands". */
static int currency_or_word(const char *p) {
    char tmp[12];
    int n = read_currency(p, tmp);
    if (n) return n;
    static const char *w[] = {"dollars", "dollar", "euros", "euro", "pounds", "yen", NULL};
    for (int i = 0; w[i]; i++) if ((n = word_at(p, w[i]))) return n;
    return 0;
}

int rg_scale_from_text(const char *text, char scale[12]) {
    scale[0] = 0;
    if (!text) return 0;
    /* Normalise a bounded prefix (long paragraphs state the scale early if at all). */
    char s[2048];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 1 < sizeof s; p++) {
        if (p[0] == 0xE2 && p[1] == 0x82 && p[2] == 0xAC) { s[n++] = CUR_EUR; p += 2; }
        else if (p[0] == 0xC2 && p[1] == 0xA3) { s[n++] = CUR_GBP; p += 1; }
        else if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0x98 || p[2] == 0x99)) { s[n++] = '\''; p += 2; }
        else if (p[0] == 0xC2 && p[1] == 0xA0) { s[n++] = ' '; p += 1; }
        else s[n++] = (char)*p;
    }
    s[n] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = s + i;
        int wstart = i == 0 || !isalnum((unsigned char)p[-1]);
        int k;
        /* "in [currency] thousands", "in US$ millions", "in €m" */
        if (wstart && (k = word_at(p, "in")) && p[k] == ' ') {
            const char *q = p + k;
            while (*q == ' ') q++;
            int c = currency_or_word(q);
            if (c) { q += c; while (*q == ' ' || *q == '\'') q++; }
            if ((q[0] == 'm' || q[0] == 'k') && !c && !isalnum((unsigned char)q[1])) {
                /* "in m" without a currency is too vague */
            } else if (scale_word(q, scale)) return 1;
        }
        /* "thousands of dollars", "(millions)" */
        if (wstart) {
            char tmp[12];
            int w = scale_word(p, tmp);
            if (w >= 7) {
                const char *q = p + w;
                while (*q == ' ') q++;
                if (word_at(q, "of") || (i > 0 && p[-1] == '(' && *q == ')')) { strcpy(scale, tmp); return 1; }
            }
        }
        /* "$'000", "€m", "US$ millions", "RMB'000", "$M" */
        if ((k = currency_or_word(p)) && (wstart || is_cur_byte((unsigned char)*p))) {
            const char *q = p + k;
            int sp = 0;
            while (*q == ' ') { q++; sp = 1; }
            if (*q == '\'') q++;
            char tmp[12];
            int w = scale_word(q, tmp);
            if (w && !(sp && w == 1)) { strcpy(scale, tmp); return 1; }
        }
        /* "USDm", "EURbn", "RMB'000": a currency code glued to the scale */
        if (wstart && isupper((unsigned char)p[0]) && isupper((unsigned char)p[1]) && isupper((unsigned char)p[2])) {
            static const char *codes[] = {"USD", "EUR", "GBP", "RMB", "CHF", "JPY", "CAD", "AUD", "HKD", "SGD", "SEK", "NOK", "DKK", "ZAR", "INR", NULL};
            for (int c = 0; codes[c]; c++)
                if (strncmp(p, codes[c], 3) == 0) {
                    const char *q = p + 3;
                    if (*q == '\'') q++;
                    char tmp[12];
                    int w = scale_word(q, tmp);
                    if (w && (w > 1 || q[0] == 'm' || q[0] == 'M' || q[0] == 'k')) { strcpy(scale, tmp); return 1; }
                }
        }
        /* "(1,000)" / "(1,000,000)" as a unit: "Number of shares (1,000)" */
        if (*p == '(' && (strncmp(p, "(1,000)", 7) == 0 || strncmp(p, "(1000)", 6) == 0 || strncmp(p, "(in 1,000s)", 11) == 0)) {
            strcpy(scale, "thousand");
            return 1;
        }
        if (*p == '(' && strncmp(p, "(1,000,000)", 11) == 0) {
            strcpy(scale, "million");
            return 1;
        }
        /* "(000s)", "'000", "(000's)" standing alone */
        if ((*p == '(' || *p == '\'') && (i == 0 || p[-1] == ' ' || p[-1] == '(') && strncmp(p + 1, "000", 3) == 0 &&
            !isdigit((unsigned char)p[4])) {
            strcpy(scale, "thousand");
            return 1;
        }
    }
    return 0;
}

/* ---- tables ---- */

static int is_value(const rg_cell *c) { return c->type == RG_CELL_NUMBER || c->type == RG_CELL_PERCENT; }

void rg_table_analyse(rg_table *t, const char *context) {
    if (!t || t->nrows <= 0 || t->ncols <= 0) return;
    int R = t->nrows, C = t->ncols;
    /* header rows: leading rows with no numbers and something beyond column 0 */
    if (t->header_rows <= 0) {
        int h = 0, any_value = 0;
        for (int r = 0; r < R && !any_value; r++)
            for (int c = 0; c < C; c++) if (is_value(rg_table_cell(t, r, c))) { any_value = 1; break; }
        if (!any_value) {
            h = R > 1 ? 1 : 0;
        } else {
            for (int r = 0; r < R - 1 && r < 6; r++) {
                int numbers = 0, beyond = 0;
                for (int c = 0; c < C; c++) {
                    rg_cell *cell = rg_table_cell(t, r, c);
                    if (is_value(cell)) numbers++;
                    if (c > 0 && cell->type != RG_CELL_EMPTY) beyond++;
                }
                if (numbers || (!beyond && C > 1)) break;
                h = r + 1;
            }
        }
        t->header_rows = h;
    }
    if (t->header_rows > R) t->header_rows = R;
    /* header column: column 0 holds labels (text) in most body rows */
    {
        int text = 0, vals = 0;
        for (int r = t->header_rows; r < R; r++) {
            rg_cell *cell = rg_table_cell(t, r, 0);
            if (cell->type == RG_CELL_TEXT || cell->type == RG_CELL_YEAR) text++;
            else if (is_value(cell)) vals++;
        }
        t->header_cols = (C > 1 && text > vals) ? 1 : 0;
    }
    /* bare years inside a numeric value column are numbers */
    for (int c = t->header_cols; c < C; c++) {
        int vals = 0, years = 0;
        for (int r = t->header_rows; r < R; r++) {
            rg_cell *cell = rg_table_cell(t, r, c);
            if (is_value(cell)) vals++;
            else if (cell->type == RG_CELL_YEAR) years++;
        }
        if (!years || vals < years) continue;
        for (int r = t->header_rows; r < R; r++) {
            rg_cell *cell = rg_table_cell(t, r, c);
            if (cell->type != RG_CELL_YEAR || !cell->raw) continue;
            numread nr;
            char s[NORM_MAX];
            int n = normalise(cell->raw, s);
            if (n > 0 && (strip_footnote(s, &n), read_number(s, &nr))) {
                cell->type = RG_CELL_NUMBER;
                cell->unit[0] = 0;
            }
        }
    }
    /* scale: caption, context, then header rows and the top-left cells */
    if (!t->scale[0]) {
        char sc[12];
        if (rg_scale_from_text(t->caption, sc) || rg_scale_from_text(context, sc)) {
            memcpy(t->scale, sc, sizeof sc);
        } else {
            int rows = t->header_rows > 0 ? t->header_rows : 1;
            for (int r = 0; r < rows && r < R && !t->scale[0]; r++)
                for (int c = 0; c < C; c++) {
                    rg_cell *cell = rg_table_cell(t, r, c);
                    if (cell->raw && cell->type != RG_CELL_NUMBER && rg_scale_from_text(cell->raw, sc)) {
                        memcpy(t->scale, sc, sizeof sc);
                        break;
                    }
                }
            for (int r = rows; r < R && r < rows + 2 && !t->scale[0]; r++) {
                rg_cell *cell = rg_table_cell(t, r, 0);
                if (cell->raw && rg_scale_from_text(cell->raw, sc)) memcpy(t->scale, sc, sizeof sc);
            }
        }
    }
}
