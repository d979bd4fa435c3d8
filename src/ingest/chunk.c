/* ingest/chunk: see chunk.h.
 * Text: the blocks of one section (same section path, possibly around tables) are packed
 * paragraph by paragraph up to max_tokens; a paragraph that does not fit in the room left
 * starts a new chunk, and one larger than the budget is cut at sentence ends (ingest/
 * sentence.h), consecutive pieces sharing up to overlap_tokens of trailing sentences; a
 * sentence longer than the budget is cut between words. A section with two or more text
 * chunks also gets context-only parent chunks (its text in windows of PARENT_FACTOR budgets)
 * that the context builder returns in place of a matched child (small-to-big).
 * Tables: linearised once per row by core/table_text.h, then rows grouped up to
 * table_max_tokens, the head repeated in every group. Everything is linear in the document
 * size. */
#include "ingest/chunk.h"
#include "ingest/sentence.h"
#include "core/approx_tokens.h"
#include "core/table_text.h"
#include "core/util.h"
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PARENT_FACTOR 4

void rg_chunk_opts_default(rg_chunk_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_tokens = 256;
    o->overlap_tokens = 32;
    o->table_max_tokens = 384;
}


/* ---- chunk list ---- */

/* The array rg_chunk_doc returns sits behind this header, which holds the pool of every
 * chunk's text and section: one malloc per 64 KB of text instead of two per chunk, and
 * rg_chunks_free finds the pool from the array. */
typedef struct { rg_strpool strs; } chunk_head;
#define HEAD_SIZE ((sizeof(chunk_head) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t))

typedef struct {
    rg_chunk *v;
    int n, cap;
    char *base;              /* the allocation: header, then v */
    rg_strpool strs;         /* moves into the header at the end */
    const char *sec;         /* the section of the last chunk pushed (in strs) */
    rg_buf text, cur;        /* scratch: the text chunk being packed; table groups, parents */
} chunk_list;

static char *keep(chunk_list *l, const char *s, size_t n) { return rg_strpool_dup(&l->strs, s, n, 16384); }

static rg_chunk *push(chunk_list *l, rg_chunk_kind kind, const char *section, int page, int64_t offset) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->base = xrealloc(l->base, HEAD_SIZE + (size_t)l->cap * sizeof *l->v);
        l->v = (rg_chunk *)(void *)(l->base + HEAD_SIZE);
    }
    rg_chunk *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    if (!section) section = "";
    /* chunks in a row share their section: one copy */
    if (!l->sec || (section != l->sec && strcmp(section, l->sec) != 0)) l->sec = keep(l, section, strlen(section));
    c->section = (char *)l->sec;
    c->parent = -1;
    c->table_index = -1;
    c->page = page;
    c->offset = offset;
    return c;
}

/* b's text as the chunk's; b is emptied for the next one */
static void take_text(chunk_list *l, rg_chunk *c, rg_buf *b) {
    c->text = keep(l, b->data ? b->data : "", b->len);
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

/* ---- tables ---- */

/* Row groups up to budget, each under the head; a chunk's text is what rg_table_text_rows
 * gives for its rows, so the store may keep the cells alone (table_text). */
static void chunk_table(chunk_list *l, const rg_block *blk, int table_index, int budget) {
    const rg_table *t = blk->table;
    rg_table_text x;
    rg_table_text_init(&x, t, t->caption);
    int body = t->header_rows < t->nrows ? t->header_rows : t->nrows;
    /* cur: the group's text, the head then its rows; each row is written at its end and, when
     * it would overflow the group, moved behind the head of the next */
    rg_buf *cur = &l->cur;
    cur->len = 0;
    rg_buf_put(cur, x.head, x.head_len);
    int cur_tok = 0, start = body;
    for (int r = body; r <= t->nrows; r++) {
        int ltok = 0;
        size_t row_at = cur->len;
        if (r < t->nrows) ltok = rg_table_text_row(&x, cur, r);
        /* close the group when the table ends or this row would overflow a non-empty group */
        if (r == t->nrows || (r > start && x.head_tokens + cur_tok + ltok > budget)) {
            size_t n = row_at;
            while (n && cur->data[n - 1] == '\n') n--;
            if (n && (r > start || (r == t->nrows && start == body))) {
                rg_chunk *c = push(l, RG_CHUNK_TABLE, blk->section, blk->page, blk->offset);
                c->text = keep(l, cur->data, n);
                c->table_index = table_index;
                c->table_text = 1;
                c->row_start = start;
                c->row_end = r;
                c->ntokens = x.head_tokens + cur_tok;
            }
            if (r == t->nrows) break;
            size_t row_n = cur->len - row_at;
            memmove(cur->data + x.head_len, cur->data + row_at, row_n);
            cur->len = x.head_len + row_n;
            cur->data[cur->len] = 0;
            cur_tok = 0;
            start = r;
        }
        cur_tok += ltok;
    }
    cur->len = 0;
    cur->data[0] = 0;
    rg_table_text_free(&x);
}

/* ---- text ---- */

typedef struct {
    chunk_list *l;
    const rg_chunk_opts *o;
    const char *section;
    rg_buf *text;           /* current chunk (the list's scratch) */
    int ntok;
    int page;
    int64_t offset;
    int first_child, nchildren;   /* this section's text chunks, for parents */
} packer;

static void flush(packer *p) {
    while (p->text->len && isspace((unsigned char)p->text->data[p->text->len - 1])) p->text->data[--p->text->len] = 0;
    if (!p->text->len) { p->ntok = 0; return; }
    rg_chunk *c = push(p->l, RG_CHUNK_TEXT, p->section, p->page, p->offset);
    take_text(p->l, c, p->text);
    c->ntokens = p->ntok;
    if (!p->nchildren++) p->first_child = p->l->n - 1;
    p->ntok = 0;
}

static void append(packer *p, const char *s, size_t n, int ntok, const char *sep, const rg_block *b) {
    if (!p->text->len) { p->page = b->page; p->offset = b->offset; }
    else rg_buf_puts(p->text, sep);
    rg_buf_put(p->text, s, n);
    p->ntok += ntok;
}

/* A sentence longer than the budget: pieces cut between words; a word longer than the
 * budget is cut every max_tokens bytes (a byte is at most one piece), on a UTF-8 boundary. */
static void add_long_sentence(packer *p, const char *s, size_t n, const rg_block *b) {
    int max = p->o->max_tokens;
    size_t i = 0;
    while (i < n && isspace((unsigned char)s[i])) i++;
    while (i < n) {
        size_t j = i;
        int tok = 0;
        while (j < n) {
            size_t e = j;
            while (e < n && !isspace((unsigned char)s[e])) e++;
            int wt = rg_approx_tokens_n(s + j, e - j);
            if (tok && tok + wt > max) break;
            tok += wt;
            j = e;
            while (j < n && isspace((unsigned char)s[j])) j++;
            if (tok >= max) break;
        }
        size_t end = j;
        if (tok > max) {
            end = i + (size_t)max;
            while (end < n && ((unsigned char)s[end] & 0xC0) == 0x80) end++;
            if (end > n) end = n;
            tok = rg_approx_tokens_n(s + i, end - i);
        }
        size_t len = end - i;
        while (len && isspace((unsigned char)s[i + len - 1])) len--;
        if (p->ntok && p->ntok + tok > max) flush(p);
        append(p, s + i, len, tok, " ", b);
        i = end;
        while (i < n && isspace((unsigned char)s[i])) i++;
    }
}

/* A paragraph longer than the room left: sentence by sentence, with overlap. */
static void add_long_para(packer *p, const char *text, size_t n, const rg_block *b) {
    rg_span *sp = NULL;
    int ns = rg_sentences(text, n, &sp);
    int *tok = xmalloc(((size_t)ns + 1) * sizeof *tok);
    for (int i = 0; i < ns; i++) tok[i] = rg_approx_tokens_n(text + sp[i].start, sp[i].len);
    int chunk_first = -1;   /* first sentence of this paragraph in the current chunk */
    for (int i = 0; i < ns; i++) {
        if (tok[i] > p->o->max_tokens) {
            add_long_sentence(p, text + sp[i].start, sp[i].len, b);
            chunk_first = -1;
            continue;
        }
        if (p->ntok + tok[i] > p->o->max_tokens && p->ntok) {
            flush(p);
            /* overlap: trailing sentences of the chunk just closed, within overlap_tokens */
            if (chunk_first >= 0 && p->o->overlap_tokens > 0) {
                int k = i, sum = 0;
                while (k - 1 >= chunk_first && sum + tok[k - 1] <= p->o->overlap_tokens) sum += tok[--k];
                for (int m = k; m < i; m++) append(p, text + sp[m].start, sp[m].len, tok[m], " ", b);
                chunk_first = k < i ? k : -1;
            } else chunk_first = -1;
        }
        if (chunk_first < 0) chunk_first = i;
        append(p, text + sp[i].start, sp[i].len, tok[i], p->ntok ? (i == chunk_first ? "\n\n" : " ") : "", b);
    }
    free(tok);
    free(sp);
}

static void add_para(packer *p, const rg_block *b) {
    const char *text = b->text;
    size_t n = strlen(text);
    int t = rg_approx_tokens_n(text, n);
    if (p->ntok + t <= p->o->max_tokens) { append(p, text, n, t, "\n\n", b); return; }
    if (t <= p->o->max_tokens) {   /* keep the paragraph whole in a chunk of its own */
        flush(p);
        append(p, text, n, t, "\n\n", b);
        return;
    }
    add_long_para(p, text, n, b);
}

/* Parents for a section's text chunks idx[0..n) (tables between them left out): windows of
 * whole children up to PARENT_FACTOR budgets, each a context-only chunk they point to. */
static void add_parents(chunk_list *l, const int *idx, int n, int budget) {
    if (n < 2) return;
    int i = 0;
    while (i < n) {
        int j = i, tok = 0;
        while (j < n && (j == i || tok + l->v[idx[j]].ntokens <= budget)) tok += l->v[idx[j++]].ntokens;
        if (j - i >= 2) {
            rg_buf *b = &l->cur;   /* free here: tables are done with it */
            b->len = 0;
            for (int k = i; k < j; k++) {
                if (b->len) rg_buf_put(b, "\n\n", 2);
                rg_buf_puts(b, l->v[idx[k]].text);
            }
            const rg_chunk *c0 = &l->v[idx[i]];
            const char *section = c0->section;   /* in the pool: stays where it is */
            int page = c0->page;
            int64_t off = c0->offset;
            rg_chunk *pc = push(l, RG_CHUNK_TEXT, section, page, off);   /* may move l->v */
            pc->ntokens = tok;   /* a child's ntokens counts its text; "\n\n" joins add none */
            take_text(l, pc, b);
            pc->context_only = 1;
            int pi = l->n - 1;
            for (int k = i; k < j; k++) l->v[idx[k]].parent = pi;
        }
        i = j;
    }
}

static int same_section(const rg_block *a, const rg_block *b) {
    if (a->section == b->section) return 1;   /* the doc keeps one copy per run of a section */
    return strcmp(a->section ? a->section : "", b->section ? b->section : "") == 0;
}

int rg_chunk_doc(const rg_doc *d, const rg_chunk_opts *o, rg_chunk **out, int *n) {
    rg_chunk_opts def;
    rg_chunk_opts_default(&def);
    rg_chunk_opts eff = o ? *o : def;
    if (eff.max_tokens <= 0) eff.max_tokens = def.max_tokens;
    if (eff.max_tokens < 8) eff.max_tokens = 8;
    if (eff.overlap_tokens < 0) eff.overlap_tokens = 0;
    if (eff.overlap_tokens > eff.max_tokens / 2) eff.overlap_tokens = eff.max_tokens / 2;
    if (eff.table_max_tokens <= 0) eff.table_max_tokens = eff.max_tokens;
    chunk_list l = {0};
    int table_index = 0;
    for (int i = 0; i < d->nblocks;) {
        /* one section: blocks sharing a section path */
        int e = i + 1;
        while (e < d->nblocks && same_section(&d->blocks[e], &d->blocks[i])) e++;
        packer p = {&l, &eff, d->blocks[i].section ? d->blocks[i].section : "", &l.text, 0, 0, -1, 0, 0};
        for (int k = i; k < e; k++) {
            const rg_block *b = &d->blocks[k];
            if (b->kind == RG_BLOCK_TABLE) {
                flush(&p);
                if (b->table) chunk_table(&l, b, table_index, eff.table_max_tokens);
                table_index++;
                continue;
            }
            if (b->kind == RG_BLOCK_HEADING || !b->text || !*b->text) continue;   /* headings live in the path */
            add_para(&p, b);
        }
        flush(&p);
        if (p.nchildren >= 2) {
            int hi = l.n, cnt = 0;
            int *idx = xmalloc((size_t)(hi - p.first_child) * sizeof *idx);
            for (int k = p.first_child; k < hi; k++) if (l.v[k].kind == RG_CHUNK_TEXT) idx[cnt++] = k;
            add_parents(&l, idx, cnt, eff.max_tokens * PARENT_FACTOR);
            free(idx);
        }
        i = e;
    }
    rg_buf_free(&l.text);
    rg_buf_free(&l.cur);
    if (!l.n) {
        rg_strpool_free(&l.strs);
        free(l.base);
        *out = NULL;
        *n = 0;
        return 0;
    }
    ((chunk_head *)(void *)l.base)->strs = l.strs;
    *out = l.v;
    *n = l.n;
    return 0;
}

void rg_chunks_free(rg_chunk *c, int n) {
    (void)n;
    if (!c) return;
    chunk_head *h = (chunk_head *)(void *)((char *)c - HEAD_SIZE);
    rg_strpool_free(&h->strs);
    free(h);
}
