/* generate/decimal: exact decimal arithmetic and number parsing (see decimal.h). */
#include "generate/decimal.h"
#include <string.h>
#include <ctype.h>
#include <stdio.h>

static const rg_dec BAD = {0, 0, 0};

static __int128 pow10i(int n) {
    __int128 p = 1;
    while (n-- > 0) p *= 10;
    return p;
}

/* Drop trailing fractional zeros so exponents stay small. */
static rg_dec norm(rg_dec a) {
    if (!a.ok) return BAD;
    while (a.e > 0 && a.m % 10 == 0) { a.m /= 10; a.e--; }
    if (a.m == 0) a.e = 0;
    return a;
}

/* Rescale to exponent e (e >= a.e), 0 on overflow. */
static int rescale(rg_dec *a, int e) {
    while (a->e < e) {
        if (__builtin_mul_overflow(a->m, (__int128)10, &a->m)) return 0;
        a->e++;
    }
    return 1;
}

rg_dec rg_dec_int(long long v) { rg_dec d = {v, 0, 1}; return d; }

rg_dec rg_dec_add(rg_dec a, rg_dec b) {
    if (!a.ok || !b.ok) return BAD;
    int e = a.e > b.e ? a.e : b.e;
    if (!rescale(&a, e) || !rescale(&b, e)) return BAD;
    rg_dec r = {0, e, 1};
    if (__builtin_add_overflow(a.m, b.m, &r.m)) return BAD;
    return norm(r);
}

rg_dec rg_dec_neg(rg_dec a) { if (a.ok) a.m = -a.m; return a; }
rg_dec rg_dec_sub(rg_dec a, rg_dec b) { return rg_dec_add(a, rg_dec_neg(b)); }

/* Round m/10^e to `places` decimals, half away from zero. */
rg_dec rg_dec_round(rg_dec a, int places) {
    if (!a.ok) return BAD;
    if (places < 0) places = 0;
    if (a.e <= places) return a;
    __int128 div = pow10i(a.e - places);
    __int128 q = a.m / div, r = a.m % div;
    if (r < 0) r = -r;
    if (2 * r >= div) q += a.m < 0 ? -1 : 1;
    rg_dec out = {q, places, 1};
    return norm(out);
}

rg_dec rg_dec_mul(rg_dec a, rg_dec b) {
    if (!a.ok || !b.ok) return BAD;
    a = norm(a); b = norm(b);
    rg_dec r = {0, a.e + b.e, 1};
    if (__builtin_mul_overflow(a.m, b.m, &r.m)) return BAD;
    if (r.e > RG_DEC_MAXE) r = rg_dec_round(r, RG_DEC_MAXE);
    return norm(r);
}

rg_dec rg_dec_div(rg_dec a, rg_dec b) {
    if (!a.ok || !b.ok || b.m == 0) return BAD;
    a = norm(a); b = norm(b);
    /* a/b = (a.m * 10^k / b.m) / 10^(a.e - b.e + k); take k as large as fits, one extra digit
     * for rounding. */
    int target = RG_DEC_MAXE + 1;
    int k = target - a.e + b.e;
    __int128 num = a.m;
    int e = a.e - b.e;
    while (k > 0) {
        __int128 t;
        if (__builtin_mul_overflow(num, (__int128)10, &t)) break;
        num = t; k--; e++;
    }
    while (e < 0) {   /* dividend too large to give an integer exponent: scale the result */
        return BAD;
    }
    rg_dec r = {num / b.m, e, 1};
    return norm(rg_dec_round(r, e > RG_DEC_MAXE ? RG_DEC_MAXE : e));
}

int rg_dec_cmp(rg_dec a, rg_dec b) {
    rg_dec d = rg_dec_sub(a, b);
    if (!d.ok) {   /* overflow: compare as doubles */
        double x = rg_dec_to_double(a), y = rg_dec_to_double(b);
        return x < y ? -1 : x > y;
    }
    return d.m < 0 ? -1 : d.m > 0;
}

int rg_dec_is_zero(rg_dec a) { return a.ok && a.m == 0; }

double rg_dec_to_double(rg_dec a) {
    if (!a.ok) return 0;
    /* via text so the double is the correctly rounded value of the decimal */
    char buf[80];
    if (rg_dec_format(a, RG_DEC_MAXE, buf, sizeof buf) < 0) return (double)a.m / (double)pow10i(a.e);
    double v;
    return sscanf(buf, "%lf", &v) == 1 ? v : 0;
}

int rg_dec_format(rg_dec a, int places, char *buf, size_t cap) {
    if (!a.ok || !buf || cap < 2) return -1;
    a = rg_dec_round(a, places);
    char digits[64];
    int n = 0;
    __int128 m = a.m < 0 ? -a.m : a.m;
    do { digits[n++] = (char)('0' + (int)(m % 10)); m /= 10; } while (m > 0 && n < 60);
    while (n <= a.e) digits[n++] = '0';          /* at least one digit before the point */
    size_t o = 0;
    char out[80];
    if (a.m < 0) out[o++] = '-';
    for (int i = n - 1; i >= 0; i--) {
        out[o++] = digits[i];
        if (i == a.e && a.e > 0) out[o++] = '.';
    }
    out[o] = 0;
    if (o + 1 > cap) return -1;
    memcpy(buf, out, o + 1);
    return (int)o;
}

/* ---- parsing ---- */

/* Words that may stand next to a number without making the cell "text". */
static int allowed_word(const char *w, size_t n) {
    static const char *ok[] = {"million", "millions", "billion", "billions", "thousand", "thousands",
        "m", "bn", "b", "k", "mn", "usd", "us", "eur", "gbp", "rmb", "hk", "a", "c", "nz", "s", "sgd",
        "aud", "cad", "chf", "jpy", "cny", "inr", "x", "pts", "bps", "per", "cent", "percent", "nm",
        "na", "n", "r", NULL};
    for (int i = 0; ok[i]; i++)
        if (strlen(ok[i]) == n && strncasecmp(ok[i], w, n) == 0) return 1;
    return 0;
}

/* Byte length of a dash-like character at s ('-', U+2212 minus, U+2013 en dash), else 0. */
static int dash_len(const unsigned char *s) {
    if (s[0] == '-') return 1;
    if (s[0] == 0xE2 && s[1] == 0x88 && s[2] == 0x92) return 3;
    if (s[0] == 0xE2 && s[1] == 0x80 && s[2] == 0x93) return 3;
    return 0;
}

int rg_dec_parse(const char *str, rg_dec *out, int *flags, size_t *end) {
    const unsigned char *s = (const unsigned char *)str;
    int fl = 0;
    if (out) *out = BAD;
    if (flags) *flags = 0;
    if (!s) return 0;
    size_t len = strlen(str);
    if (len > 4096) len = 4096;
    /* find the first digit that starts a number */
    size_t i = 0, start = (size_t)-1;
    for (i = 0; i < len; i++) {
        if (isdigit(s[i]) || (s[i] == '.' && i + 1 < len && isdigit(s[i + 1]))) { start = i; break; }
    }
    if (start == (size_t)-1) return 0;
    /* "$'000" is a scale, not the number 0 */
    if ((start > 0 && (s[start - 1] == '\'' || s[start - 1] == '`')) ||
        (start >= 3 && s[start - 3] == 0xE2 && s[start - 2] == 0x80 && s[start - 1] == 0x99))
        fl |= RG_NUM_EXTRA_TEXT;
    /* sign and markers before it */
    int neg = 0, paren = 0;
    for (size_t j = 0; j < start; ) {
        int dl = dash_len(s + j);
        if (dl && j + dl <= start) {
            /* a dash counts as a minus only when nothing but spaces/currency follows it */
            int only = 1;
            for (size_t k = j + dl; k < start; k++)
                if (!(s[k] == ' ' || s[k] == '$' || s[k] == 0xC2 || s[k] == 0xA0 || s[k] == 0xA3 || s[k] == 0xA5)) { only = 0; break; }
            if (only) neg = 1;
            j += dl; continue;
        }
        if (s[j] == '(') paren = 1;
        else if (s[j] == '$') fl |= RG_NUM_CURRENCY;
        else if (s[j] == 0xE2 && j + 2 < start && s[j + 1] == 0x82 && s[j + 2] == 0xAC) { fl |= RG_NUM_CURRENCY; j += 3; continue; }
        else if (s[j] == 0xC2 && j + 1 < start && (s[j + 1] == 0xA3 || s[j + 1] == 0xA5)) { fl |= RG_NUM_CURRENCY; j += 2; continue; }
        else if (isalpha(s[j])) {
            size_t k = j;
            while (k < start && isalpha(s[k])) k++;
            if (!allowed_word(str + j, k - j)) fl |= RG_NUM_EXTRA_TEXT;
            else fl |= RG_NUM_CURRENCY;
            j = k; continue;
        }
        j++;
    }
    /* the digits */
    __int128 m = 0;
    int e = 0, dot = 0, nd = 0, overflow = 0;
    for (i = start; i < len; i++) {
        if (isdigit(s[i])) {
            if (nd < 36) {
                m = m * 10 + (s[i] - '0');
                if (dot) e++;
                if (m != 0) nd++;
            } else if (!dot) overflow = 1;
        } else if (s[i] == ',' && !dot && i + 3 < len && isdigit(s[i + 1]) && isdigit(s[i + 2]) &&
                   isdigit(s[i + 3]) && (i + 4 >= len || !isdigit(s[i + 4]))) {
            continue;   /* thousands separator */
        } else if (s[i] == '.' && !dot && i + 1 < len && isdigit(s[i + 1])) {
            dot = 1;
        } else break;
    }
    if (overflow) return 0;
    while (e > RG_DEC_MAXE) { m /= 10; e--; }
    size_t after = i;
    /* after the number: spaces, '%', ')' */
    size_t j = i;
    while (j < len && s[j] == ' ') j++;
    if (j < len && s[j] == '%') { fl |= RG_NUM_PERCENT; j++; after = j; while (j < len && s[j] == ' ') j++; }
    if (paren && j < len && s[j] == ')') { neg = 1; fl |= RG_NUM_NEG_PAREN; j++; after = j; }
    else if (paren) fl |= RG_NUM_EXTRA_TEXT;   /* "(see note 3" */
    /* the rest: footnote marks "(1)", "*", scale words; other letters make it text */
    while (j < len) {
        if (s[j] == '(' ) {   /* footnote like (1) or (a) */
            size_t k = j + 1;
            while (k < len && k < j + 4 && isalnum(s[k])) k++;
            if (k < len && s[k] == ')' && k > j + 1) { j = k + 1; continue; }
            fl |= RG_NUM_EXTRA_TEXT; break;
        }
        if (isalpha(s[j])) {
            size_t k = j;
            while (k < len && isalpha(s[k])) k++;
            if (!allowed_word(str + j, k - j)) { fl |= RG_NUM_EXTRA_TEXT; break; }
            j = k; continue;
        }
        if (isdigit(s[j])) { fl |= RG_NUM_EXTRA_TEXT; break; }  /* a second number: "2019 and 2018" */
        j++;
    }
    rg_dec d = {neg ? -m : m, e, 1};
    if (out) *out = norm(d);
    if (flags) *flags = fl;
    if (end) *end = after;
    return 1;
}
