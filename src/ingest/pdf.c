/* ingest/pdf: PDF through poppler-glib. Per page we take poppler's text (reading order) with
 * one rectangle per character, group characters into words, and rebuild the page geometry:
 * words on the same baseline form lines, and wide gaps split lines into segments. A run of
 * three or more consecutive lines with two or more segments whose merged x-ranges give
 * stable columns, holding mostly numbers outside the first column, is a table (rg_table).
 * All other words are emitted in poppler's reading order as paragraphs (broken on vertical
 * gaps), lines in a larger or bold font as headings (section path), bare page numbers
 * dropped, hyphenated line ends joined. Every block keeps its 1-based page number.
 * Poppler is not reliably thread-safe on first use, so documents are parsed one at a time. */
#include "ingest/formats.h"
#include "core/numparse.h"
#include "core/util.h"
#include <poppler.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PDF_MAX_PAGES 5000
#define MIN_TABLE_LINES 3
#define MAX_TABLE_COLS 30

typedef struct {
    size_t b0, b1;            /* byte range in the page text */
    double x1, y1, x2, y2;
    double size;
    int bold;
    int pline;                /* poppler's line number (reading order) */
    int gline;                /* geometric line */
    int seg;                  /* segment within the geometric line */
    int table;                /* table id on this page, -1 none */
} pword;

typedef struct { int *w; int n; double cy, h; } gline;

typedef struct {
    rg_doc *d;
    char *heads[6];
    char *section;
    rg_buf para;
    int para_page;
    double prev_y1, prev_y2, prev_x1;
    int have_prev;
    char *last_para, *last_heading;
} pctx;

static pthread_mutex_t pdf_lock = PTHREAD_MUTEX_INITIALIZER;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void set_str(char **slot, const char *s) { free(*slot); *slot = s ? xstrdup(s) : NULL; }

static void flush_para(pctx *c) {
    c->have_prev = 0;
    if (!c->para.len) return;
    rg_block *b = rg_doc_add_text(c->d, RG_BLOCK_PARA, 0, c->para.data, c->section);
    b->page = c->para_page;
    set_str(&c->last_para, c->para.data);
    c->para.len = 0;
    c->para.data[0] = 0;
}

static void add_heading(pctx *c, const char *text, int level, int page) {
    flush_para(c);
    for (int i = level - 1; i < 6; i++) { free(c->heads[i]); c->heads[i] = NULL; }
    c->heads[level - 1] = xstrdup(text);
    rg_buf b = {0};
    for (int i = 0; i < 6; i++) {
        if (!c->heads[i]) continue;
        if (b.len) rg_buf_puts(&b, " > ");
        rg_buf_puts(&b, c->heads[i]);
    }
    free(c->section);
    c->section = rg_buf_take(&b);
    rg_block *blk = rg_doc_add_text(c->d, RG_BLOCK_HEADING, level, text, c->section);
    blk->page = page;
    if (!c->d->title) c->d->title = xstrdup(text);
    set_str(&c->last_heading, text);
    set_str(&c->last_para, NULL);
}

/* "-2-", "2", "Page 2", "Page 2 of 9": running page numbers, not content. */
static int page_number_line(const char *s) {
    while (*s == ' ' || *s == '-') s++;
    if (strncasecmp(s, "page ", 5) == 0) s += 5;
    if (!isdigit((unsigned char)*s)) return 0;
    while (isdigit((unsigned char)*s)) s++;
    if (strncasecmp(s, " of ", 4) == 0) { s += 4; while (isdigit((unsigned char)*s)) s++; }
    while (*s == ' ' || *s == '-') s++;
    return *s == 0;
}

/* A line of running text: decides heading / paragraph break / continuation. */
static void add_line(pctx *c, const char *text, double x1, double y1, double y2, double size, int bold,
                     double body, int page) {
    if (!*text || page_number_line(text)) return;
    size_t n = strlen(text);
    int big = size >= body * 1.12;
    if ((big || bold) && n < 120 && text[n - 1] != '.' && text[n - 1] != ',') {
        int level = size >= body * 1.35 ? 1 : big ? 2 : 3;
        add_heading(c, text, level, page);
        return;
    }
    double h = y2 - y1 > 1 ? y2 - y1 : 1;
    if (c->have_prev && (y1 - c->prev_y2 > 0.7 * h || y1 < c->prev_y1 - 0.5 * h || x1 > c->prev_x1 + 3 * h))
        flush_para(c);
    if (!c->para.len) c->para_page = page;
    else if (c->para.data[c->para.len - 1] == '-' && c->para.len > 1 &&
             isalpha((unsigned char)c->para.data[c->para.len - 2]) && islower((unsigned char)text[0]))
        c->para.data[--c->para.len] = 0;            /* "Head-" + "count" */
    else rg_buf_putc(&c->para, ' ');
    rg_buf_puts(&c->para, text);
    c->have_prev = 1;
    c->prev_y1 = y1;
    c->prev_y2 = y2;
    c->prev_x1 = x1;
}

/* ---- geometry ---- */

static pword *g_words;   /* for the sort comparators (under pdf_lock) */
static int cmp_wy(const void *a, const void *b) {
    const pword *x = &g_words[*(const int *)a], *y = &g_words[*(const int *)b];
    double cx = (x->y1 + x->y2) / 2, cy = (y->y1 + y->y2) / 2;
    return cx < cy ? -1 : cx > cy;
}
static int cmp_wx(const void *a, const void *b) {
    const pword *x = &g_words[*(const int *)a], *y = &g_words[*(const int *)b];
    return x->x1 < y->x1 ? -1 : x->x1 > y->x1;
}

typedef struct { double x1, x2; } span;
static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->x1 < y->x1 ? -1 : x->x1 > y->x1;
}

/* Column of a word given the table's column spans. */
static int column_of(const span *cols, int ncol, const pword *x) {
    double cx = (x->x1 + x->x2) / 2;
    for (int c = 0; c < ncol; c++) if (cx >= cols[c].x1 - 0.5 && cx <= cols[c].x2 + 0.5) return c;
    return 0;
}

/* Builds the table for lines [a, b) from the page text, or NULL when it does not look like
 * one (too few/many columns, or not mostly numbers outside the first column). */
static rg_table *build_table(const char *text, pword *w, gline *gl, int a, int b) {
    int cap = 0;
    for (int l = a; l < b; l++) cap += gl[l].n;
    span *sp = xmalloc((size_t)cap * sizeof *sp);
    int k = 0;
    for (int l = a; l < b; l++)
        for (int i = 0; i < gl[l].n; i++) {
            pword *x = &w[gl[l].w[i]];
            if (i == 0 || w[gl[l].w[i - 1]].seg != x->seg) { sp[k].x1 = x->x1; sp[k].x2 = x->x2; k++; }
            else if (x->x2 > sp[k - 1].x2) sp[k - 1].x2 = x->x2;
        }
    qsort(sp, (size_t)k, sizeof *sp, cmp_span);
    int ncol = 0;
    for (int i = 0; i < k; i++) {
        if (ncol && sp[i].x1 <= sp[ncol - 1].x2 + 1.0) { if (sp[i].x2 > sp[ncol - 1].x2) sp[ncol - 1].x2 = sp[i].x2; }
        else sp[ncol++] = sp[i];
    }
    if (ncol < 2 || ncol > MAX_TABLE_COLS) { free(sp); return NULL; }
    int R = b - a;
    rg_buf *cells = xcalloc((size_t)R * (size_t)ncol, sizeof *cells);
    for (int l = a; l < b; l++)
        for (int i = 0; i < gl[l].n; i++) {
            pword *x = &w[gl[l].w[i]];
            rg_buf *cb = &cells[(size_t)(l - a) * (size_t)ncol + (size_t)column_of(sp, ncol, x)];
            if (cb->len) rg_buf_putc(cb, ' ');
            rg_buf_put(cb, text + x->b0, x->b1 - x->b0);
        }
    free(sp);
    rg_table *t = rg_table_new(R, ncol);
    int values = 0, texts = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < ncol; c++) {
            rg_buf *cb = &cells[(size_t)r * (size_t)ncol + (size_t)c];
            rg_table_set(t, r, c, cb->data ? cb->data : "");
            rg_cell *cell = rg_table_cell(t, r, c);
            if (c > 0 && r > 0) {
                if (cell->type == RG_CELL_NUMBER || cell->type == RG_CELL_PERCENT) values++;
                else if (cell->type == RG_CELL_TEXT) texts++;
            }
            rg_buf_free(cb);
        }
    free(cells);
    if (values < 2 || values < 2 * texts) { rg_table_free(t); return NULL; }
    return t;
}

/* One page: words, geometry, tables, then reading-order text. */
static void parse_page(pctx *c, PopplerPage *page, int pageno) {
    char *text = poppler_page_get_text(page);
    PopplerRectangle *rects = NULL;
    guint nrect = 0;
    if (!text || !poppler_page_get_text_layout(page, &rects, &nrect)) { g_free(text); g_free(rects); return; }
    GList *attrs = poppler_page_get_text_attributes(page);
    /* words */
    int cap = 256, nw = 0, pline = 0;
    pword *w = xmalloc((size_t)cap * sizeof *w);
    GList *at = attrs;
    const char *p = text;
    int in_word = 0;
    for (guint i = 0; i < nrect && *p; i++) {
        gunichar ch = g_utf8_get_char_validated(p, -1);
        const char *next = g_utf8_next_char(p);
        if (ch == (gunichar)-1 || ch == (gunichar)-2) break;
        while (at && ((PopplerTextAttributes *)at->data)->end_index < (int)i) at = at->next;
        PopplerRectangle *r = &rects[i];
        if (ch == '\n') { pline++; in_word = 0; }
        else if (g_unichar_isspace(ch)) in_word = 0;
        else {
            double h = r->y2 - r->y1;
            /* a wide jump inside what poppler calls one word still splits it */
            if (in_word && (r->x1 - w[nw - 1].x2 > h * 0.6 || fabs(r->y1 - w[nw - 1].y1) > h * 0.5)) in_word = 0;
            if (!in_word) {
                if (nw == cap) { cap *= 2; w = xrealloc(w, (size_t)cap * sizeof *w); }
                pword *x = &w[nw++];
                memset(x, 0, sizeof *x);
                x->b0 = (size_t)(p - text);
                x->x1 = r->x1; x->y1 = r->y1; x->x2 = r->x2; x->y2 = r->y2;
                x->pline = pline;
                x->table = -1;
                if (at) {
                    PopplerTextAttributes *ta = at->data;
                    x->size = ta->font_size;
                    x->bold = ta->font_name && (strstr(ta->font_name, "Bold") || strstr(ta->font_name, "bold") ||
                                                strstr(ta->font_name, "Heavy") || strstr(ta->font_name, "Black"));
                }
                in_word = 1;
            }
            pword *x = &w[nw - 1];
            x->b1 = (size_t)(next - text);
            if (r->x1 < x->x1) x->x1 = r->x1;
            if (r->x2 > x->x2) x->x2 = r->x2;
            if (r->y1 < x->y1) x->y1 = r->y1;
            if (r->y2 > x->y2) x->y2 = r->y2;
        }
        p = next;
    }
    if (!nw) goto done;
    /* body font size and line height: medians over words */
    double *tmp = xmalloc((size_t)nw * sizeof *tmp);
    int ns = 0;
    for (int i = 0; i < nw; i++) if (w[i].size > 0) tmp[ns++] = w[i].size;
    double body = ns ? median(tmp, ns) : 10;
    for (int i = 0; i < nw; i++) tmp[i] = w[i].y2 - w[i].y1;
    double wh = median(tmp, nw);
    if (wh < 1) wh = 1;
    free(tmp);
    /* geometric lines */
    int *order = xmalloc((size_t)nw * sizeof *order);
    for (int i = 0; i < nw; i++) order[i] = i;
    g_words = w;
    qsort(order, (size_t)nw, sizeof *order, cmp_wy);
    gline *gl = xcalloc((size_t)nw, sizeof *gl);
    int ngl = 0;
    for (int k = 0; k < nw; k++) {
        pword *x = &w[order[k]];
        double cy = (x->y1 + x->y2) / 2, h = x->y2 - x->y1;
        if (!ngl || fabs(cy - gl[ngl - 1].cy) > 0.4 * (h > gl[ngl - 1].h ? h : gl[ngl - 1].h)) {
            gl[ngl].w = xmalloc((size_t)(nw - k) * sizeof(int));
            gl[ngl].cy = cy;
            gl[ngl].h = h;
            ngl++;
        }
        gl[ngl - 1].w[gl[ngl - 1].n++] = order[k];
        x->gline = ngl - 1;
    }
    for (int l = 0; l < ngl; l++) {
        qsort(gl[l].w, (size_t)gl[l].n, sizeof(int), cmp_wx);
        int seg = 0;
        for (int i = 0; i < gl[l].n; i++) {
            pword *x = &w[gl[l].w[i]];
            if (i && x->x1 - w[gl[l].w[i - 1]].x2 > 1.0 * wh) seg++;
            x->seg = seg;
        }
    }
    /* tables: runs of multi-segment lines */
    int ntab = 0, tcap = 4;
    rg_table **tabs = xmalloc((size_t)tcap * sizeof *tabs);
    for (int l = 0; l < ngl;) {
        int e = l;
        while (e < ngl && w[gl[e].w[gl[e].n - 1]].seg >= 1 &&
               (e == l || gl[e].cy - gl[e - 1].cy <= 2.2 * wh)) e++;
        if (e - l >= MIN_TABLE_LINES) {
            rg_table *t = build_table(text, w, gl, l, e);
            if (t) {
                if (ntab == tcap) { tcap *= 2; tabs = xrealloc(tabs, (size_t)tcap * sizeof *tabs); }
                for (int k = l; k < e; k++) for (int i = 0; i < gl[k].n; i++) w[gl[k].w[i]].table = ntab;
                tabs[ntab++] = t;
            }
        }
        l = e > l ? e : l + 1;
    }
    /* reading order: poppler's word order */
    int *emitted = xcalloc((size_t)ntab + 1, sizeof *emitted);
    rg_buf line = {0};
    double lx1 = 0, ly1 = 0, ly2 = 0, lsize = 0;
    int lbold = 1, lpl = -1;
    for (int i = 0; i <= nw; i++) {
        int end_line = i == nw || w[i].pline != lpl || w[i].table >= 0;
        if (end_line && line.len) {
            add_line(c, line.data, lx1, ly1, ly2, lsize, lbold, body, pageno);
            line.len = 0;
            line.data[0] = 0;
        }
        if (i == nw) break;
        pword *x = &w[i];
        if (x->table >= 0) {
            if (!emitted[x->table]) {
                emitted[x->table] = 1;
                flush_para(c);
                rg_table *t = tabs[x->table];
                tabs[x->table] = NULL;
                if (c->last_heading) t->caption = xstrdup(c->last_heading);
                rg_table_analyse(t, c->last_para);
                rg_block *b = rg_doc_add_table(c->d, t, c->section);
                b->page = pageno;
                set_str(&c->last_para, NULL);
            }
            lpl = -1;
            continue;
        }
        if (!line.len) { lx1 = x->x1; ly1 = x->y1; ly2 = x->y2; lsize = x->size; lbold = x->bold; lpl = x->pline; }
        else {
            rg_buf_putc(&line, ' ');
            if (x->y1 < ly1) ly1 = x->y1;
            if (x->y2 > ly2) ly2 = x->y2;
            if (x->size > lsize) lsize = x->size;
            lbold &= x->bold;
        }
        rg_buf_put(&line, text + x->b0, x->b1 - x->b0);
    }
    rg_buf_free(&line);
    for (int t = 0; t < ntab; t++) rg_table_free(tabs[t]);
    free(tabs);
    free(emitted);
    for (int l = 0; l < ngl; l++) free(gl[l].w);
    free(gl);
    free(order);
done:
    flush_para(c);
    free(w);
    poppler_page_free_text_attributes(attrs);
    g_free(rects);
    g_free(text);
}

rg_doc *rg_parse_pdf(const char *doc_id, const char *source, const char *data, size_t len) {
    if (len < 8 || !memmem(data, len < 1024 ? len : 1024, "%PDF-", 5)) {
        rg_err("%s: not a PDF file (no %%PDF- header)", source);
        return NULL;
    }
    pthread_mutex_lock(&pdf_lock);
    GBytes *bytes = g_bytes_new(data, len);
    GError *err = NULL;
    PopplerDocument *pd = poppler_document_new_from_bytes(bytes, NULL, &err);
    if (!pd) {
        int enc = err && err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED;
        rg_err("%s: cannot open PDF%s: %s", source, enc ? " (encrypted)" : "",
               err && err->message ? err->message : "unknown error");
        if (err) g_error_free(err);
        g_bytes_unref(bytes);
        pthread_mutex_unlock(&pdf_lock);
        return NULL;
    }
    int np = poppler_document_get_n_pages(pd);
    if (np > PDF_MAX_PAGES) np = PDF_MAX_PAGES;
    pctx c = {0};
    c.d = rg_doc_new(doc_id, source, "pdf");
    c.section = xstrdup("");
    char *title = poppler_document_get_title(pd);
    if (title && *title) c.d->title = xstrdup(title);
    g_free(title);
    for (int i = 0; i < np; i++) {
        PopplerPage *page = poppler_document_get_page(pd, i);
        if (!page) continue;
        parse_page(&c, page, i + 1);
        g_object_unref(page);
    }
    g_object_unref(pd);
    g_bytes_unref(bytes);
    pthread_mutex_unlock(&pdf_lock);
    for (int i = 0; i < 6; i++) free(c.heads[i]);
    free(c.section);
    free(c.last_para);
    free(c.last_heading);
    rg_buf_free(&c.para);
    if (!c.d->nblocks) {
        rg_doc_free(c.d);
        rg_err("%s: PDF has no extractable text (%d pages; scanned images?)", source, np);
        return NULL;
    }
    return c.d;
}
