/* generate/answer_format: see answer_format.h. One strict checker serves both the decoding
 * constraint (any prefix of a valid line is allowed, so decoding never paints itself into a
 * corner) and verification (a whole line); model outputs are normalised to the strict form
 * (one space after each comma) before the check. */
#include "generate/answer_format.h"
#include "generate/dsl.h"
#include "core/util.h"
#include <stdlib.h>
#include <string.h>

#define MAX_PROGRAM_STEPS 8

static const char *const OPS[] = {"add", "subtract", "multiply", "divide"};

/* Digits of a number < limit at s[*i]: 0 invalid, 1 a whole number (a non-digit follows),
 * 2 the text ends inside it (still a valid prefix). No leading zeros, at most 9 digits. */
static int digits(const char *s, size_t n, size_t *i, long limit) {
    size_t st = *i;
    long v = 0;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
        if (*i - st >= 9 || (*i > st && s[st] == '0')) return 0;
        v = v * 10 + (s[*i] - '0');
        if (v >= limit) return 0;
        (*i)++;
    }
    if (*i == n) return 2;
    return *i > st;
}

/* One argument at s[*i] of step `step`: 0 invalid, 1 whole, 2 the text ends inside it. */
static int arg_ok(const rg_table *t, const char *s, size_t n, size_t *i, int step) {
    if (*i == n) return 2;
    char ch = s[*i];
    if (ch == 'r') {
        (*i)++;
        size_t r0 = *i;
        int d = digits(s, n, i, t->nrows);
        if (d != 1) return d;
        long r = strtol(s + r0, NULL, 10);
        if (s[*i] != 'c') return 0;
        (*i)++;
        size_t c0 = *i;
        d = digits(s, n, i, t->ncols);
        if (d == 0 || *i == c0) return d;
        long c = strtol(s + c0, NULL, 10);
        if (d == 2 && c != 0 && c * 10 < t->ncols) return 2;   /* more digits may follow */
        rg_dec v;
        return rg_dsl_cell_value(t, (int)r, (int)c, &v) ? d : 0;
    }
    if (ch == '#') {
        (*i)++;
        if (*i == n) return 2;
        if (s[*i] < '0' || s[*i] > '9' || s[*i] - '0' >= step) return 0;
        (*i)++;
        return *i == n ? 2 : 1;
    }
    static const char pre[] = "const_";
    for (size_t k = 0; k < sizeof pre - 1; k++, (*i)++) {
        if (*i == n) return 2;
        if (s[*i] != pre[k]) return 0;
    }
    return digits(s, n, i, 1000000001L);
}

/* A program over t in strict form; complete: must be whole. */
static int program_ok(const rg_table *t, const char *s, size_t n, int complete) {
    size_t i = 0;
    for (int step = 0;; step++) {
        size_t st = i;
        while (i < n && s[i] >= 'a' && s[i] <= 'z') i++;
        size_t nl = i - st;
        int match = 0, full = 0;
        for (size_t k = 0; k < sizeof OPS / sizeof *OPS; k++)
            if (nl <= strlen(OPS[k]) && memcmp(OPS[k], s + st, nl) == 0) { match = 1; full |= nl == strlen(OPS[k]); }
        if (!match) return 0;
        if (i == n) return !complete;
        if (!full || s[i] != '(') return 0;
        i++;
        for (int a = 0; a < 2; a++) {
            int r = arg_ok(t, s, n, &i, step);
            if (r == 0) return 0;
            if (r == 2) return !complete;
            const char *sep = a == 0 ? ", " : ")";
            for (; *sep; sep++, i++) {
                if (i == n) return !complete;
                if (s[i] != *sep) return 0;
            }
        }
        if (i == n) return 1;
        if (step + 1 >= MAX_PROGRAM_STEPS) return 0;
        for (const char *sep = ", "; *sep; sep++, i++) {
            if (i == n) return !complete;
            if (s[i] != *sep) return 0;
        }
        if (i == n) return !complete;
    }
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (unsigned char)c >= 0x80; }

/* Does hay contain s[0..n) starting at a word start (and, when whole, ending at a word end)?
 * Copying whole words is what keeps a span from being a random slice of the evidence. */
static int word_span(const char *hay, const char *s, size_t n, int whole) {
    if (!hay) return 0;
    size_t hl = strlen(hay);
    for (const char *p = hay; (p = memmem(p, hl - (size_t)(p - hay), s, n)) != NULL; p++) {
        if (p > hay && is_alnum(p[-1]) && is_alnum(p[0])) continue;
        if (whole && p[n] && is_alnum(p[n]) && is_alnum(p[n - 1])) continue;
        return 1;
    }
    return 0;
}

/* Does some cell of t hold s[0..n) as a word span? */
static int cell_has(const rg_table *t, const char *s, size_t n, int whole) {
    for (int k = 0; k < t->nrows * t->ncols; k++)
        if (word_span(t->cells[k].raw, s, n, whole)) return 1;
    return 0;
}

/* A whole span holds at least one letter or digit. */
static int has_alnum(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) if (is_alnum(s[i])) return 1;
    return 0;
}

static int check(const rg_afmt *f, const char *s, size_t n, int complete) {
    if (!f || !f->ev) return 0;
    size_t i = 0;
    if (i == n) return !complete;
    if (s[i++] != '[') return 0;
    if (i == n) return !complete;
    int table = s[i] == 'T';
    if (!table && s[i] != 'P') return 0;
    int count = table ? f->ntables : f->nparas;
    if (count <= 0) return 0;
    i++;
    size_t d0 = i;
    if (d0 < n && s[d0] == '0') return 0;                 /* ids count from 1 */
    int d = digits(s, n, &i, (long)count + 1);
    if (d == 0) return 0;
    if (d == 2) return !complete;
    long idx = strtol(s + d0, NULL, 10);
    if (idx < 1) return 0;
    for (const char *sep = "] "; *sep; sep++, i++) {
        if (i == n) return !complete;
        if (s[i] != *sep) return 0;
    }
    const char *b = s + i;
    size_t bn = n - i;
    if (bn == 0) return !complete;
    if (!is_alnum(b[0]) && b[0] != '=' && b[0] != '$' && b[0] != '(' && b[0] != '-') return 0;   /* spans start on a word */
    if (complete && (is_space(b[bn - 1]) || (b[0] != '=' && !has_alnum(b, bn)))) return 0;
    if (table) {
        const rg_table *t = f->ev->tables[idx - 1].table;
        if (!t || !t->cells) return 0;
        if (b[0] == '=') {
            if (bn == 1) return !complete;
            if (b[1] != ' ') return 0;
            return program_ok(t, b + 2, bn - 2, complete);
        }
        return cell_has(t, b, bn, complete);
    }
    const char *p = f->ev->paras[idx - 1].text;
    return word_span(p, b, bn, complete);
}

int rg_afmt_allows(void *ud, const char *text, size_t len) { return check(ud, text, len, 0); }
int rg_afmt_complete(void *ud, const char *text, size_t len) { return check(ud, text, len, 1); }

void rg_afmt_out_free(rg_afmt_out *o) {
    if (!o) return;
    free(o->body);
    o->body = NULL;
}

int rg_afmt_parse(const rg_afmt *f, const char *text, rg_afmt_out *out) {
    memset(out, 0, sizeof *out);
    if (!f || !f->ev || !text) { rg_err("model answer: nothing to check"); return -1; }
    while (is_space(*text)) text++;
    size_t n = strcspn(text, "\n");
    while (n && is_space(text[n - 1])) n--;
    if (n == 0) { rg_err("model answer is empty"); return -1; }
    if (n > 4096) { rg_err("model answer longer than 4096 bytes"); return -1; }
    /* strict form: "[Xn] " + body, a program with ", " separators and no other blanks */
    rg_buf b = {0};
    size_t i = 0;
    while (i < n && text[i] != ']') rg_buf_putc(&b, text[i++]);
    if (i == n) { rg_buf_free(&b); rg_err("model answer cites no evidence id"); return -1; }
    rg_buf_puts(&b, "] ");
    i++;
    while (i < n && is_space(text[i])) i++;
    size_t body_at = b.len;
    if (i < n && text[i] == '=') {
        rg_buf_puts(&b, "= ");
        for (i++; i < n; i++) {
            if (is_space(text[i])) continue;
            rg_buf_putc(&b, text[i]);
            if (text[i] == ',') rg_buf_putc(&b, ' ');
        }
    } else rg_buf_put(&b, text + i, n - i);
    int ok = check(f, b.data, b.len, 1);
    if (!ok) {
        rg_err("model answer \"%.*s\" is not supported by the cited evidence", (int)(n > 200 ? 200 : n), text);
        rg_buf_free(&b);
        return -1;
    }
    out->table = b.data[1] == 'T';
    out->index = (int)strtol(b.data + 2, NULL, 10) - 1;
    snprintf(out->cite, sizeof out->cite, "%c%d", out->table ? 'T' : 'P', out->index + 1);
    out->program = b.data[body_at] == '=';
    out->body = xstrdup(b.data + body_at + (out->program ? 2 : 0));
    rg_buf_free(&b);
    return 0;
}
