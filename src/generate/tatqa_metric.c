/* generate/tatqa_metric: the official TAT-QA EM/F1 (see tatqa_metric.h). The reference is a
 * Python script; this follows its steps one by one, including its quirks (e.g. "(1,234)" is not
 * read as negative because its negative pattern has no comma), so scores agree with it. */
#include "generate/tatqa_metric.h"
#include "core/util.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_TEXT (1 << 16)

/* ---- numbers, as the reference reads them ---- */

static int is_space_at(const char *s, size_t *w) {
    unsigned char c = (unsigned char)s[0];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') { *w = 1; return 1; }
    if (c == 0xC2 && (unsigned char)s[1] == 0xA0) { *w = 2; return 1; }
    return 0;
}

/* _clean_num: drop ' " \ $ € £ ¥ % ( ) , [ ] */
static char *clean_num(const char *s) {
    size_t n = strlen(s);
    char *o = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; ) {
        const unsigned char *u = (const unsigned char *)s + i;
        if (strchr("'\"\\$%(),[]", u[0]) && u[0]) { i++; continue; }
        if (u[0] == 0xE2 && u[1] == 0x82 && u[2] == 0xAC) { i += 3; continue; }      /* € */
        if (u[0] == 0xC2 && (u[1] == 0xA3 || u[1] == 0xA5)) { i += 2; continue; }     /* £ ¥ */
        o[j++] = s[i++];
    }
    o[j] = 0;
    return o;
}

static double scale_to_num(const char *s) {
    char low[64];
    size_t n = strlen(s);
    if (n >= sizeof low) n = sizeof low - 1;
    for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)s[i]);
    low[n] = 0;
    if (strstr(low, "hundred")) return 100;
    if (strstr(low, "thousand")) return 1000;
    if (strstr(low, "million")) return 1e6;
    if (strstr(low, "billion")) return 1e9;
    if (strstr(low, "percent")) return 0.01;
    return 1;
}

/* Python float(): the whole word must be a decimal float literal (or inf/nan). */
static int py_float(const char *w, double *out) {
    if (!*w || strpbrk(w, "xXpP_")) return 0;
    char *end;
    double v = strtod(w, &end);
    if (end == w || *end) return 0;
    *out = v;
    return 1;
}

/* Splits on whitespace into at most `max` words (copies into buf). */
static int split_ws(const char *s, char *buf, size_t cap, char **words, int max) {
    int nw = 0;
    size_t o = 0, w;
    const char *p = s;
    while (*p && nw < max) {
        while (*p && is_space_at(p, &w)) p += w;
        if (!*p) break;
        words[nw++] = buf + o;
        while (*p && !is_space_at(p, &w) && o + 1 < cap) buf[o++] = *p++;
        while (*p && !is_space_at(p, &w)) p++;
        if (o < cap) buf[o++] = 0;
        else { buf[cap - 1] = 0; break; }
    }
    return nw;
}

int rg_tatqa_is_number(const char *text) {
    if (!text) return 0;
    size_t n = strlen(text);
    if (n > MAX_TEXT) return 0;
    char *c = xmalloc(n + 1);
    /* clean each word, then re-split */
    char *buf = xmalloc(n + 2);
    char *words[3];
    rg_buf joined = {0};
    const char *p = text;
    size_t w;
    while (*p) {
        while (*p && is_space_at(p, &w)) p += w;
        if (!*p) break;
        const char *st = p;
        while (*p && !is_space_at(p, &w)) p++;
        char *word = xstrndup(st, (size_t)(p - st));
        char *cl = clean_num(word);
        if (joined.len) rg_buf_putc(&joined, ' ');
        rg_buf_puts(&joined, cl);
        free(word); free(cl);
    }
    char *js = rg_buf_take(&joined);
    int nw = split_ws(js, buf, n + 2, words, 2);
    int ok = 0;
    double v;
    if (nw >= 1 && py_float(words[0], &v) && !isnan(v)) {
        ok = 1;
        if (nw >= 2 && scale_to_num(words[1]) == 1) ok = 0;
    }
    free(js); free(buf); free(c);
    return ok;
}

/* A number the way the reference carries it: Python int or float. */
typedef struct { int is_int; long long i; double f; } pynum;

static double pyn_val(pynum a) { return a.is_int ? (double)a.i : a.f; }

/* extract_one_num_from_str: first [+-]?\d+(\.\d+)? after cleaning; None for [+-]?\.\d+ first. */
static int extract_one_num(const char *s, pynum *out) {
    char *c = clean_num(s);
    int found = 0;
    for (size_t p = 0; c[p]; p++) {
        size_t q = p;
        if (c[q] == '+' || c[q] == '-') q++;
        if (isdigit((unsigned char)c[q])) {
            size_t d = q;
            while (isdigit((unsigned char)c[d])) d++;
            int isf = 0;
            if (c[d] == '.' && isdigit((unsigned char)c[d + 1])) { isf = 1; d++; while (isdigit((unsigned char)c[d])) d++; }
            char *num = xstrndup(c + p, d - p);
            if (isf || d - q > 18) { out->is_int = 0; out->f = strtod(num, NULL); }
            else { out->is_int = 1; out->i = strtoll(num, NULL, 10); }
            free(num);
            found = 1;
            break;
        }
        if (c[q] == '.' && isdigit((unsigned char)c[q + 1])) break;   /* group 3: None */
    }
    free(c);
    return found;
}

/* word_scale_handle: the first "[\d.]+\s?[a-zA-Z]+" decides the scale. */
static double word_scale(const char *s) {
    for (size_t p = 0; s[p]; p++) {
        if (!(isdigit((unsigned char)s[p]) || s[p] == '.')) continue;
        size_t q = p;
        while (isdigit((unsigned char)s[q]) || s[q] == '.') q++;
        size_t r = q;
        if (isspace((unsigned char)s[r]) && isalpha((unsigned char)s[r + 1])) r++;
        if (isalpha((unsigned char)s[r])) {
            size_t e = r;
            while (isalpha((unsigned char)s[e])) e++;
            char *m = xstrndup(s + p, e - p);
            double v = scale_to_num(m);
            free(m);
            return v;
        }
        p = q - 1;
    }
    return 1;
}

static int negative_flag(const char *s) {   /* \([\d.\s]+\) */
    for (const char *p = strchr(s, '('); p; p = strchr(p + 1, '(')) {
        const char *q = p + 1;
        while (isdigit((unsigned char)*q) || *q == '.' || isspace((unsigned char)*q)) q++;
        if (q > p + 1 && *q == ')') return 1;
    }
    return 0;
}

static int percent_flag(const char *s) {    /* [\d.\s]+% */
    for (const char *p = strchr(s, '%'); p; p = strchr(p + 1, '%'))
        if (p > s && (isdigit((unsigned char)p[-1]) || p[-1] == '.' || isspace((unsigned char)p[-1]))) return 1;
    return 0;
}

static double py_round(double v, int nd) {
    char b[512];
    snprintf(b, sizeof b, "%.*f", nd, v);
    return strtod(b, NULL);
}

static int to_number(const char *text, pynum *out) {
    pynum n;
    if (!extract_one_num(text, &n)) return 0;
    double sc = word_scale(text);
    int neg = negative_flag(text), pct = percent_flag(text);
    if (n.is_int && sc >= 1 && !pct) {
        long long r;
        if (!__builtin_mul_overflow(n.i, (long long)sc, &r)) {
            out->is_int = 1; out->i = neg ? -r : r;
            return 1;
        }
    }
    double v = pyn_val(n) * sc * (neg ? -1 : 1) * (pct ? 0.01 : 1);
    out->is_int = 0;
    out->f = py_round(v, 4);
    return 1;
}

int rg_tatqa_to_number(const char *text, double *out) {
    pynum n;
    if (!text || strlen(text) > MAX_TEXT || !to_number(text, &n)) return 0;
    *out = pyn_val(n);
    return 1;
}

void rg_tatqa_py_float_str(double v, char *buf, size_t cap) {
    if (cap < 2) return;
    if (isnan(v)) { snprintf(buf, cap, "nan"); return; }
    if (isinf(v)) { snprintf(buf, cap, v < 0 ? "-inf" : "inf"); return; }
    if (v == 0) { snprintf(buf, cap, signbit(v) ? "-0.0" : "0.0"); return; }
    char e[64];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = "-d.ddde+XX" */
    char digits[32];
    int nd = 0, neg = 0;
    const char *q = e;
    if (*q == '-') { neg = 1; q++; }
    for (; *q && *q != 'e'; q++) if (isdigit((unsigned char)*q) && nd < 30) digits[nd++] = *q;
    int exp10 = *q == 'e' ? atoi(q + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int decpt = exp10 + 1;
    char out[128];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out[o++] = '0'; out[o++] = '.';
            for (int i = 0; i < -decpt; i++) out[o++] = '0';
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
        } else if (decpt >= nd) {
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
            for (int i = nd; i < decpt; i++) out[o++] = '0';
            out[o++] = '.'; out[o++] = '0';
        } else {
            for (int i = 0; i < nd; i++) { if (i == decpt) out[o++] = '.'; out[o++] = digits[i]; }
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) { out[o++] = '.'; for (int i = 1; i < nd; i++) out[o++] = digits[i]; }
        out[o] = 0;
        char ex[16];
        snprintf(ex, sizeof ex, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        strcat(out, ex);
    }
    snprintf(buf, cap, "%s", out);
}

static void pynum_str(pynum n, char *buf, size_t cap) {
    if (n.is_int) snprintf(buf, cap, "%lld", n.i);
    else rg_tatqa_py_float_str(n.f, buf, cap);
}

/* ---- normalisation ---- */

/* Python str.lower() per code point. */
static char *py_lower(const char *s) {
    size_t n = strlen(s);
    rg_buf b = {0};
    for (size_t i = 0; i < n; ) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) { rg_buf_putc(&b, s[i]); i++; continue; }
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t m = utf8proc_encode_char(utf8proc_tolower(cp), enc);
        rg_buf_put(&b, enc, (size_t)m);
        i += (size_t)k;
    }
    return rg_buf_take(&b);
}

static int is_word_cp(utf8proc_int32_t cp) {
    if (cp < 128) return isalnum(cp) || cp == '_';
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || c == UTF8PROC_CATEGORY_ND ||
           c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO || c == UTF8PROC_CATEGORY_MN ||
           c == UTF8PROC_CATEGORY_MC;
}

/* One token through _remove_punc, _normalize_number, _remove_articles; result appended
 * word by word (white space fixed) to out. */
static void norm_token(const char *tok, rg_buf *out) {
    char *t;
    if (!rg_tatqa_is_number(tok)) {
        rg_buf b = {0};
        for (const char *p = tok; *p; p++)
            if (!(*p > 0 && ispunct((unsigned char)*p))) rg_buf_putc(&b, *p);
        t = rg_buf_take(&b);
    } else t = xstrdup(tok);
    if (rg_tatqa_is_number(t)) {
        pynum n;
        if (to_number(t, &n)) {
            char nb[64];
            pynum_str(n, nb, sizeof nb);
            free(t);
            t = xstrdup(nb);
        }
    }
    /* articles: whole word runs equal to a/an/the become a space */
    rg_buf b = {0};
    size_t n = strlen(t);
    for (size_t i = 0; i < n; ) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)t + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) { k = 1; cp = 0xFFFD; }
        if (!is_word_cp(cp)) { rg_buf_put(&b, t + i, (size_t)k); i += (size_t)k; continue; }
        size_t j = i;
        while (j < n) {
            utf8proc_int32_t c2;
            utf8proc_ssize_t k2 = utf8proc_iterate((const utf8proc_uint8_t *)t + j, (utf8proc_ssize_t)(n - j), &c2);
            if (k2 <= 0 || !is_word_cp(c2)) break;
            j += (size_t)k2;
        }
        size_t L = j - i;
        if ((L == 1 && t[i] == 'a') || (L == 2 && !strncmp(t + i, "an", 2)) || (L == 3 && !strncmp(t + i, "the", 3)))
            rg_buf_putc(&b, ' ');
        else rg_buf_put(&b, t + i, L);
        i = j;
    }
    char *a = rg_buf_take(&b);
    char *words[256];
    size_t al = strlen(a);
    char *wb = xmalloc(al + 2);
    int nw = split_ws(a, wb, al + 2, words, 256);
    for (int i = 0; i < nw; i++) {
        if (out->len) rg_buf_putc(out, ' ');
        rg_buf_puts(out, words[i]);
    }
    free(wb); free(a); free(t);
}

char *rg_tatqa_normalize(const char *text) {
    if (!text) return xstrdup("");
    size_t n = strlen(text);
    if (n > MAX_TEXT) n = MAX_TEXT;
    char *cut = xstrndup(text, n);
    char *low = py_lower(cut);
    free(cut);
    rg_buf out = {0};
    /* re.split(" |-") */
    char *p = low;
    for (;;) {
        char *q = p;
        while (*q && *q != ' ' && *q != '-') q++;
        char save = *q;
        *q = 0;
        if (*p) norm_token(p, &out);
        if (!save) break;
        p = q + 1;
    }
    free(low);
    char *r = rg_buf_take(&out);
    return r;
}

/* ---- answers to comparison strings ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *rg_tatqa_answer_str(const char *const *ans, int n, const char *scale) {
    if (!scale) scale = "";
    const char **s = xcalloc((size_t)(n > 0 ? n : 1), sizeof *s);
    for (int i = 0; i < n; i++) s[i] = ans[i] ? ans[i] : "";
    qsort(s, (size_t)n, sizeof *s, cmp_str);
    rg_buf b = {0};
    for (int i = 0; i < n; i++) {
        if (i) rg_buf_putc(&b, ' ');
        pynum v;
        if (rg_tatqa_is_number(s[i]) && strlen(s[i]) <= MAX_TEXT && to_number(s[i], &v)) {
            if (strchr(s[i], '%')) rg_buf_printf(&b, "%.4f", pyn_val(v));
            else {
                double r = v.is_int ? (double)v.i : py_round(v.f, 2);
                rg_buf_printf(&b, "%.4f", r * scale_to_num(scale));
            }
        } else {
            rg_buf_puts(&b, s[i]);
            if (*scale) { rg_buf_putc(&b, ' '); rg_buf_puts(&b, scale); }
        }
    }
    free(s);
    return rg_buf_take(&b);
}

/* ---- F1 ---- */

typedef struct { char **w; int n; } bag;

static bag to_bag(const char *norm) {
    bag g = {0, 0};
    size_t n = strlen(norm);
    char *buf = xmalloc(n + 2);
    char **words = xcalloc(n / 2 + 2, sizeof *words);
    int nw = split_ws(norm, buf, n + 2, words, (int)(n / 2 + 2));
    g.w = xcalloc((size_t)nw + 1, sizeof *g.w);
    for (int i = 0; i < nw; i++) {
        int dup = 0;
        for (int j = 0; j < g.n; j++) if (!strcmp(g.w[j], words[i])) { dup = 1; break; }
        if (!dup) g.w[g.n++] = xstrdup(words[i]);
    }
    free(buf); free(words);
    return g;
}

static void bag_free(bag *g) { for (int i = 0; i < g->n; i++) free(g->w[i]); free(g->w); }

static int bag_has(const bag *g, const char *w) {
    for (int i = 0; i < g->n; i++) if (!strcmp(g->w[i], w)) return 1;
    return 0;
}

static double bag_f1(const bag *pred, const bag *gold) {
    /* _match_numbers_if_present: gold numbers must meet a predicted number */
    int gnum = 0, meet = 0;
    for (int i = 0; i < gold->n; i++)
        if (rg_tatqa_is_number(gold->w[i])) { gnum = 1; if (bag_has(pred, gold->w[i])) meet = 1; }
    if (gnum && !meet) return 0;
    int inter = 0;
    for (int i = 0; i < gold->n; i++) if (bag_has(pred, gold->w[i])) inter++;
    double p = pred->n ? (double)inter / pred->n : 1.0;
    double r = gold->n ? (double)inter / gold->n : 1.0;
    return (p == 0 && r == 0) ? 0 : 2 * p * r / (p + r);
}

/* Best one-to-one assignment maximising the summed score (small n: exhaustive). */
static double best_assign(const double *sc, int ng, int np, int row, unsigned used, double *best_rows, double *cur) {
    if (row == ng) {
        double s = 0;
        for (int i = 0; i < ng; i++) s += cur[i];
        double b = 0;
        for (int i = 0; i < ng; i++) b += best_rows[i];
        if (s > b) memcpy(best_rows, cur, sizeof(double) * (size_t)ng);
        return s;
    }
    double best = -1;
    int any = 0;
    for (int j = 0; j < np; j++) {
        if (used & (1u << j)) continue;
        any = 1;
        cur[row] = sc[row * np + j];
        double s = best_assign(sc, ng, np, row + 1, used | (1u << j), best_rows, cur);
        if (s > best) best = s;
    }
    if (!any) { cur[row] = 0; best = best_assign(sc, ng, np, row + 1, used, best_rows, cur); }
    return best;
}

static double f1_bags(bag *pb, int np, bag *gb, int ng) {
    int mx = np > ng ? np : ng;
    if (mx == 0) return 1.0;
    double *sc = xcalloc((size_t)(ng * np) + 1, sizeof *sc);
    for (int g = 0; g < ng; g++)
        for (int p = 0; p < np; p++) sc[g * np + p] = bag_f1(&pb[p], &gb[g]);
    double *rows = xcalloc((size_t)ng + 1, sizeof *rows), *cur = xcalloc((size_t)ng + 1, sizeof *cur);
    if (ng <= 8 && np <= 8) best_assign(sc, ng, np, 0, 0, rows, cur);
    else {   /* greedy for long lists */
        unsigned char *used = xcalloc((size_t)np + 1, 1);
        for (int g = 0; g < ng; g++) {
            int bj = -1;
            for (int p = 0; p < np; p++) if (!used[p] && (bj < 0 || sc[g * np + p] > sc[g * np + bj])) bj = p;
            if (bj >= 0) { used[bj] = 1; rows[g] = sc[g * np + bj]; }
        }
        free(used);
    }
    double s = 0;
    for (int g = 0; g < ng; g++) s += rows[g];
    free(sc); free(rows); free(cur);
    return py_round(s / mx, 2);
}

double rg_tatqa_f1_lists(const char *const *pred, int npred, const char *const *gold, int ngold) {
    bag *pb = xcalloc((size_t)npred + 1, sizeof *pb), *gb = xcalloc((size_t)ngold + 1, sizeof *gb);
    for (int i = 0; i < npred; i++) { char *n = rg_tatqa_normalize(pred[i]); pb[i] = to_bag(n); free(n); }
    for (int i = 0; i < ngold; i++) { char *n = rg_tatqa_normalize(gold[i]); gb[i] = to_bag(n); free(n); }
    double f = f1_bags(pb, npred, gb, ngold);
    for (int i = 0; i < npred; i++) bag_free(&pb[i]);
    for (int i = 0; i < ngold; i++) bag_free(&gb[i]);
    free(pb); free(gb);
    return f;
}

/* get_metrics on two single comparison strings */
static rg_tatqa_score metrics(const char *pred, const char *gold) {
    rg_tatqa_score s;
    char *np = rg_tatqa_normalize(pred), *ng = rg_tatqa_normalize(gold);
    s.em = strcmp(np, ng) == 0 ? 1.0 : 0.0;
    free(np); free(ng);
    s.f1 = rg_tatqa_f1_lists(&pred, 1, &gold, 1);
    return s;
}

rg_tatqa_score rg_tatqa_score_answer(const char *gold_type, const char *const *gold, int ngold,
                                     const char *gold_scale, const char *const *pred, int npred,
                                     const char *pred_scale) {
    rg_tatqa_score best = {0, 0};
    if (!pred || npred <= 0 || !gold || ngold <= 0) return best;
    if (npred == 1 && (!pred[0] || !pred[0][0])) return best;
    if (!pred_scale) pred_scale = "";
    char *g = rg_tatqa_answer_str(gold, ngold, gold_scale);
    char *cands[2];
    int nc = 0;
    cands[nc++] = rg_tatqa_answer_str(pred, npred, pred_scale);
    /* add_percent_pred: a bare number without scale also counts as itself */
    if (npred == 1 && !*pred_scale && !strchr(pred[0], '%') && rg_tatqa_is_number(pred[0])) {
        pynum v;
        if (strlen(pred[0]) <= MAX_TEXT && to_number(pred[0], &v)) cands[nc++] = xasprintf("%.4f", pyn_val(v));
    }
    /* the spec: multi-span answers are aligned span by span for F1 (each span turned into its
     * comparison string with the answer's scale), EM still compares the sorted lists */
    double aligned = -1;
    if (ngold > 1 || npred > 1) {
        char **gs = xcalloc((size_t)ngold, sizeof *gs), **ps = xcalloc((size_t)npred, sizeof *ps);
        for (int i = 0; i < ngold; i++) gs[i] = rg_tatqa_answer_str(&gold[i], 1, gold_scale);
        for (int i = 0; i < npred; i++) ps[i] = rg_tatqa_answer_str(&pred[i], 1, pred_scale);
        aligned = rg_tatqa_f1_lists((const char *const *)ps, npred, (const char *const *)gs, ngold);
        for (int i = 0; i < ngold; i++) free(gs[i]);
        for (int i = 0; i < npred; i++) free(ps[i]);
        free(gs); free(ps);
    }
    for (int i = 0; i < nc; i++) {
        rg_tatqa_score s = metrics(cands[i], g);
        if (aligned >= 0) s.f1 = s.em > 0 ? 1.0 : aligned;
        if (s.em > best.em || (s.em == best.em && s.f1 > best.f1)) best = s;
        free(cands[i]);
    }
    free(g);
    if (gold_type && (!strcmp(gold_type, "arithmetic") || !strcmp(gold_type, "count"))) best.f1 = best.em;
    return best;
}

/* ---- tally ---- */

static int type_ix(const char *t) {
    static const char *n[] = {"span", "multi-span", "arithmetic", "count"};
    for (int i = 0; i < 4; i++) if (t && !strcmp(t, n[i])) return i;
    return -1;
}
static int src_ix(const char *t) {
    static const char *n[] = {"table", "text", "table-text"};
    for (int i = 0; i < 3; i++) if (t && !strcmp(t, n[i])) return i;
    return -1;
}

void rg_tatqa_tally_add(rg_tatqa_tally *t, const char *type, const char *source, rg_tatqa_score s) {
    int a = type_ix(type), b = src_ix(source);
    if (a < 0 || b < 0) return;   /* not a TAT-QA answer type or source */
    int as[2] = {a, 4}, bs[2] = {b, 3};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            t->em[as[i]][bs[j]] += s.em; t->f1[as[i]][bs[j]] += s.f1; t->n[as[i]][bs[j]]++;
        }
}

void rg_tatqa_tally_print(const rg_tatqa_tally *t, FILE *out) {
    static const char *tn[] = {"span", "multi-span", "arithmetic", "count", "all"};
    static const char *sn[] = {"table", "text", "table-text", "all"};
    fprintf(out, "%-12s", "EM / F1");
    for (int j = 0; j < 4; j++) fprintf(out, " %-22s", sn[j]);
    fputc('\n', out);
    for (int i = 0; i < 5; i++) {
        fprintf(out, "%-12s", tn[i]);
        for (int j = 0; j < 4; j++) {
            char cell[64];
            if (t->n[i][j]) snprintf(cell, sizeof cell, "%5.1f / %5.1f (%d)", 100 * t->em[i][j] / t->n[i][j],
                                     100 * t->f1[i][j] / t->n[i][j], t->n[i][j]);
            else snprintf(cell, sizeof cell, "-");
            fprintf(out, " %-22s", cell);
        }
        fputc('\n', out);
    }
}
