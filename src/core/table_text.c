/* core/table_text: see table_text.h. The row writer counts word pieces while it copies, so
 * the chunker reads each cell once. */
#include "core/table_text.h"
#include "core/approx_tokens.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *cell_raw(const rg_table *t, int r, int c) {
    const rg_cell *cell = &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
    return cell->raw ? cell->raw : "";
}

/* Appends s with white space runs collapsed to one space (cells may hold newlines), and
 * returns rg_approx_tokens_n of what it wrote, in the same pass: white space only separates
 * runs there, so the count of the cleaned text is the count of s's own bytes. Word by word
 * (cells, captions and headers are short). */
static int put_clean(rg_buf *b, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    int space = 0, tok = 0;
    while (*p) {
        if (rg_char_class[*p] == RG_CL_SPACE) { space = 1; p++; continue; }
        if (space && b->len && b->data[b->len - 1] != ' ' && b->data[b->len - 1] != '\n') rg_buf_put(b, " ", 1);
        space = 0;
        const unsigned char *w = p;
        unsigned k;
        while (*p && (k = rg_char_class[*p]) != RG_CL_SPACE) {
            const unsigned char *run = p++;
            if (k == RG_CL_OTHER) { tok++; continue; }
            while (*p && rg_char_class[*p] == k) p++;
            tok += rg_run_pieces(k, (size_t)(p - run));
        }
        rg_buf_put(b, w, (size_t)(p - w));
    }
    return tok;
}

/* Column c's header: the header rows' cells of the column, joined, repeats (from spans) once. */
static void column_header(const rg_table *t, int c, rg_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
    const char *prev = NULL;
    for (int r = 0; r < t->header_rows && r < t->nrows; r++) {
        const char *s = cell_raw(t, r, c);
        if (!*s || (prev && strcmp(prev, s) == 0)) continue;
        if (b->len) rg_buf_putc(b, ' ');
        put_clean(b, s);
        prev = s;
    }
}

void rg_table_text_init(rg_table_text *x, const rg_table *t, const char *caption) {
    memset(x, 0, sizeof *x);
    x->t = t;
    size_t n = (size_t)t->ncols + 1;
    x->col = xcalloc(n, sizeof *x->col);
    x->col_len = xcalloc(n, sizeof *x->col_len);
    x->col_tokens = xcalloc(n, sizeof *x->col_tokens);
    rg_buf b = {0};
    for (int c = 0; c < t->ncols; c++) {
        column_header(t, c, &b);
        x->col[c] = rg_strpool_dup(&x->strs, b.len ? b.data : "", b.len, 1024);
        x->col_len[c] = b.len;
        x->col_tokens[c] = rg_approx_tokens_n(x->col[c], b.len);
    }
    /* the head: caption (with the scale unless the caption says it), then the headers */
    b.len = 0;
    if (caption && *caption) put_clean(&b, caption);
    if (t->scale[0] && (!caption || !strcasestr(caption, t->scale))) {
        if (b.len) rg_buf_putc(&b, ' ');
        rg_buf_printf(&b, "(in %ss)", t->scale);
    }
    if (b.len) rg_buf_putc(&b, '\n');
    if (t->header_rows > 0) {
        int any = 0;
        for (int c = 0; c < t->ncols; c++) {
            if (!x->col[c][0]) continue;
            if (any) rg_buf_puts(&b, " | ");
            rg_buf_puts(&b, x->col[c]);
            any = 1;
        }
        if (any) rg_buf_putc(&b, '\n');
    }
    x->head = rg_strpool_dup(&x->strs, b.len ? b.data : "", b.len, 1024);
    x->head_len = b.len;
    x->head_tokens = rg_approx_tokens_n(x->head, b.len);
    rg_buf_free(&b);
}

void rg_table_text_free(rg_table_text *x) {
    free(x->col);
    free(x->col_len);
    free(x->col_tokens);
    rg_strpool_free(&x->strs);
    memset(x, 0, sizeof *x);
}

/* "label | header: value | header: value". The count is summed part by part (col_tokens
 * holds each header's): every part written is bounded by white space, ':' or '|', so no
 * letter or digit run spans two parts and the sum is the count of the whole line, without
 * reading the repeated headers again. */
int rg_table_text_row(const rg_table_text *x, rg_buf *b, int r) {
    const rg_table *t = x->t;
    int hc = t->header_cols > 0 ? t->header_cols : 0, tok = 0, nc = t->ncols;
    size_t start = b->len;
    for (int c = 0; c < hc && c < nc; c++) {
        const char *s = cell_raw(t, r, c);
        if (!*s) continue;
        if (b->len > start) rg_buf_put(b, " ", 1);
        tok += put_clean(b, s);
    }
    for (int c = hc; c < nc; c++) {
        const char *s = cell_raw(t, r, c);
        if (!*s) continue;
        if (b->len > start) { rg_buf_put(b, " | ", 3); tok++; }
        if (x->col_len[c]) {
            rg_buf_put(b, x->col[c], x->col_len[c]);
            rg_buf_put(b, ": ", 2);
            tok += x->col_tokens[c] + 1;
        }
        tok += put_clean(b, s);
    }
    if (b->len > start) rg_buf_put(b, "\n", 1);
    return tok;
}

void rg_table_text_rows(const rg_table_text *x, rg_buf *b, int row_start, int row_end) {
    const rg_table *t = x->t;
    b->len = 0;
    rg_buf_put(b, x->head, x->head_len);
    if (row_start < t->header_rows) row_start = t->header_rows;
    if (row_start < 0) row_start = 0;
    if (row_end > t->nrows) row_end = t->nrows;
    for (int r = row_start; r < row_end; r++) rg_table_text_row(x, b, r);
    while (b->len && b->data[b->len - 1] == '\n') b->len--;
    b->data[b->len] = 0;
}

char *rg_table_linearize(const rg_table *t, const char *caption, int row_start, int row_end) {
    if (!t) return xstrdup("");
    rg_table_text x;
    rg_table_text_init(&x, t, caption);
    rg_buf b = {0};
    rg_table_text_rows(&x, &b, row_start, row_end);
    rg_table_text_free(&x);
    return rg_buf_take(&b);
}
