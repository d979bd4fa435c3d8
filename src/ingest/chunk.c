/* ingest/chunk: see chunk.h. */
#include "ingest/chunk.h"
#include "core/util.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void rg_chunk_opts_default(rg_chunk_opts *o) {
    o->max_tokens = 256;
    o->overlap_tokens = 32;
}

/* Word pieces run about 1.3 per word for English prose; numbers and punctuation split more. */
int rg_approx_tokens(const char *text) {
    int words = 0, punct = 0, in_word = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isalnum(*p) || *p >= 0x80) {
            if (!in_word) words++;
            in_word = 1;
        } else {
            in_word = 0;
            if (!isspace(*p)) punct++;
        }
    }
    return words + words / 3 + punct;
}

typedef struct { rg_chunk *v; int n, cap; } chunk_list;

static rg_chunk *push(chunk_list *l) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    rg_chunk *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    c->parent = -1;
    c->table_index = -1;
    c->offset = -1;
    return c;
}

static const char *cell_text(const rg_table *t, int r, int c) {
    const rg_cell *cell = &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
    return cell->raw ? cell->raw : "";
}

/* A row label: the first non-empty of the row's header columns (or the first cell). */
static void row_label(const rg_table *t, int r, rg_buf *b) {
    int hc = t->header_cols > 0 ? t->header_cols : 1;
    for (int c = 0; c < hc && c < t->ncols; c++) {
        const char *s = cell_text(t, r, c);
        if (*s) { if (b->len) rg_buf_puts(b, " "); rg_buf_puts(b, s); }
    }
}

char *rg_table_linearize(const rg_table *t, const char *caption, int row_start, int row_end) {
    rg_buf b = {0};
    if (caption && *caption) { rg_buf_puts(&b, caption); rg_buf_puts(&b, "\n"); }
    int hr = t->header_rows, hc = t->header_cols > 0 ? t->header_cols : 1;
    for (int r = 0; r < hr && r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = cell_text(t, r, c);
            if (*s) { rg_buf_puts(&b, s); rg_buf_puts(&b, c + 1 < t->ncols ? " | " : ""); }
        }
        rg_buf_puts(&b, "\n");
    }
    if (row_start < hr) row_start = hr;
    if (row_end > t->nrows) row_end = t->nrows;
    for (int r = row_start; r < row_end; r++) {
        rg_buf label = {0};
        row_label(t, r, &label);
        rg_buf_puts(&b, label.data ? label.data : "");
        for (int c = hc; c < t->ncols; c++) {
            const char *s = cell_text(t, r, c);
            if (!*s) continue;
            rg_buf_puts(&b, " | ");
            rg_buf col = {0};
            for (int h = 0; h < hr; h++) {
                const char *hs = cell_text(t, h, c);
                if (*hs) { if (col.len) rg_buf_puts(&col, " "); rg_buf_puts(&col, hs); }
            }
            if (col.len) { rg_buf_puts(&b, col.data); rg_buf_puts(&b, ": "); }
            rg_buf_puts(&b, s);
            rg_buf_free(&col);
        }
        rg_buf_puts(&b, "\n");
        rg_buf_free(&label);
    }
    return rg_buf_take(&b);
}

static void flush_text(chunk_list *l, rg_buf *text, const rg_block *first, int ntok) {
    if (!text->len) return;
    rg_chunk *c = push(l);
    c->kind = RG_CHUNK_TEXT;
    c->text = rg_buf_take(text);
    c->section = xstrdup(first->section ? first->section : "");
    c->ntokens = ntok;
    c->page = first->page;
    c->offset = first->offset;
}

int rg_chunk_doc(const rg_doc *d, const rg_chunk_opts *o, rg_chunk **out, int *n) {
    rg_chunk_opts def;
    if (!o) { rg_chunk_opts_default(&def); o = &def; }
    chunk_list l = {0};
    rg_buf text = {0};
    const rg_block *first = NULL;
    int ntok = 0, table_index = 0;
    for (int i = 0; i < d->nblocks; i++) {
        const rg_block *b = &d->blocks[i];
        if (b->kind == RG_BLOCK_TABLE) {
            if (first) flush_text(&l, &text, first, ntok);
            first = NULL; ntok = 0;
            const rg_table *t = b->table;
            /* Row groups that fit the budget, header rows repeated in each. */
            int r = t->header_rows;
            do {
                int end = r, tok = 0;
                char *s = NULL;
                while (end < t->nrows) {
                    char *try = rg_table_linearize(t, t->caption, r, end + 1);
                    int tt = rg_approx_tokens(try);
                    if (tt > o->max_tokens && end > r) { free(try); break; }
                    free(s); s = try; tok = tt; end++;
                }
                if (!s) { s = rg_table_linearize(t, t->caption, r, r); tok = rg_approx_tokens(s); }
                rg_chunk *c = push(&l);
                c->kind = RG_CHUNK_TABLE;
                c->text = s;
                c->section = xstrdup(b->section ? b->section : "");
                c->table_index = table_index;
                c->row_start = r;
                c->row_end = end;
                c->ntokens = tok;
                c->page = b->page;
                c->offset = b->offset;
                r = end;
            } while (r < t->nrows);
            table_index++;
            continue;
        }
        if (!b->text || !*b->text) continue;
        int bt = rg_approx_tokens(b->text);
        int new_section = first && strcmp(first->section ? first->section : "", b->section ? b->section : "") != 0;
        if (first && (new_section || ntok + bt > o->max_tokens)) {
            flush_text(&l, &text, first, ntok);
            first = NULL; ntok = 0;
        }
        if (!first) first = b;
        if (text.len) rg_buf_puts(&text, "\n\n");
        rg_buf_puts(&text, b->text);
        ntok += bt;
    }
    if (first) flush_text(&l, &text, first, ntok);
    rg_buf_free(&text);
    *out = l.v;
    *n = l.n;
    return 0;
}

void rg_chunks_free(rg_chunk *c, int n) {
    if (!c) return;
    for (int i = 0; i < n; i++) { free(c[i].text); free(c[i].section); }
    free(c);
}
