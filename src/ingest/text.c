/* ingest/text: plain text and Markdown. Paragraphs are separated by blank lines; in Markdown,
 * ATX headings ("# Title") set the section path and pipe tables become typed tables. */
#include "ingest/formats.h"
#include "core/numparse.h"
#include "core/util.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Calls fn for each line (without the newline). */
typedef struct { const char *p, *end; } line_iter;
static int next_line(line_iter *it, const char **s, size_t *n) {
    if (it->p >= it->end) return 0;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    const char *e = nl ? nl : it->end;
    *s = it->p;
    *n = (size_t)(e - it->p);
    if (*n && (*s)[*n - 1] == '\r') (*n)--;
    it->p = nl ? nl + 1 : it->end;
    return 1;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

/* The paragraph's block text (in the doc's pool, as long as the doc), or NULL if none. */
static const char *flush_para(rg_doc *d, rg_buf *para, const char *section, int64_t off) {
    if (!para->len) return NULL;
    rg_block *b = rg_doc_add_text(d, RG_BLOCK_PARA, 0, para->data, section);
    b->offset = off;
    para->len = 0;
    para->data[0] = 0;
    return b->text;
}

rg_doc *rg_parse_text(const char *doc_id, const char *source, const char *text, size_t len) {
    rg_doc *d = rg_doc_new(doc_id, source, "text");
    line_iter it = {text, text + len};
    const char *s;
    size_t n;
    rg_buf para = {0};
    int64_t off = 0;
    while (next_line(&it, &s, &n)) {
        if (blank(s, n)) { flush_para(d, &para, "", off); continue; }
        if (!para.len) off = s - text;
        else rg_buf_putc(&para, ' ');
        while (n && isspace((unsigned char)*s)) { s++; n--; }
        rg_buf_put(&para, s, n);
    }
    flush_para(d, &para, "", off);
    rg_buf_free(&para);
    /* The first short line of a text file is its title when it looks like one. */
    if (d->nblocks && strlen(d->blocks[0].text) < 120) d->title = xstrdup(d->blocks[0].text);
    return d;
}

/* Section path from the heading stack: "A > B > C". */
static char *section_path(char *heads[6], int depth) {
    rg_buf b = {0};
    for (int i = 0; i < depth; i++) {
        if (!heads[i]) continue;
        if (b.len) rg_buf_puts(&b, " > ");
        rg_buf_puts(&b, heads[i]);
    }
    return rg_buf_take(&b);
}

/* Splits a pipe-table row "| a | b |" into cells. */
static int split_pipe_row(const char *s, size_t n, char ***cells) {
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n && *s == '|') { s++; n--; }
    if (n && s[n - 1] == '|') n--;
    int cap = 8, cnt = 0;
    char **v = xmalloc((size_t)cap * sizeof *v);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || (s[i] == '|' && (i == 0 || s[i - 1] != '\\'))) {
            size_t a = start, b = i;
            while (a < b && isspace((unsigned char)s[a])) a++;
            while (b > a && isspace((unsigned char)s[b - 1])) b--;
            if (cnt == cap) { cap *= 2; v = xrealloc(v, (size_t)cap * sizeof *v); }
            v[cnt++] = xstrndup(s + a, b - a);
            start = i + 1;
        }
    }
    *cells = v;
    return cnt;
}

static int is_pipe_sep(const char *s, size_t n) {
    int dashes = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-') dashes++;
        else if (s[i] != '|' && s[i] != ':' && !isspace((unsigned char)s[i])) return 0;
    }
    return dashes >= 3 && memchr(s, '|', n) != NULL;
}

static int is_pipe_row(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    return n >= 2 && *s == '|';
}

rg_doc *rg_parse_markdown(const char *doc_id, const char *source, const char *text, size_t len) {
    rg_doc *d = rg_doc_new(doc_id, source, "markdown");
    char *heads[6] = {0};
    char *section = xstrdup("");
    line_iter it = {text, text + len};
    const char *s;
    size_t n;
    rg_buf para = {0};
    int64_t off = 0;
    int in_fence = 0;
    const char *last_para = NULL;  /* a paragraph just before a table may carry its caption/scale;
                                    * a block text, no copy */
    while (next_line(&it, &s, &n)) {
        if (n >= 3 && (strncmp(s, "```", 3) == 0 || strncmp(s, "~~~", 3) == 0)) { in_fence = !in_fence; continue; }
        if (!in_fence && n && s[0] == '#') {
            int level = 0;
            while ((size_t)level < n && s[level] == '#') level++;
            if (level <= 6 && ((size_t)level == n || s[level] == ' ')) {
                flush_para(d, &para, section, off);
                const char *h = s + level;
                size_t hn = n - (size_t)level;
                while (hn && isspace((unsigned char)*h)) { h++; hn--; }
                while (hn && (isspace((unsigned char)h[hn - 1]) || h[hn - 1] == '#')) hn--;
                for (int i = level - 1; i < 6; i++) { free(heads[i]); heads[i] = NULL; }
                heads[level - 1] = xstrndup(h, hn);
                free(section);
                section = section_path(heads, 6);
                rg_block *b = rg_doc_add_text(d, RG_BLOCK_HEADING, level, heads[level - 1], section);
                b->offset = s - text;
                if (!d->title && level == 1) d->title = xstrdup(heads[0]);
                continue;
            }
        }
        /* A pipe table: header row, separator, body rows. */
        if (!in_fence && is_pipe_row(s, n)) {
            line_iter peek = it;
            const char *s2; size_t n2;
            if (next_line(&peek, &s2, &n2) && is_pipe_sep(s2, n2)) {
                if (para.len) last_para = flush_para(d, &para, section, off);
                int64_t toff = s - text;
                char ***rows = NULL;
                int *widths = NULL, nrows = 0, ncols = 0;
                const char *rs = s; size_t rn = n;
                it = peek;  /* skip the separator */
                for (;;) {
                    rows = xrealloc(rows, (size_t)(nrows + 1) * sizeof *rows);
                    widths = xrealloc(widths, (size_t)(nrows + 1) * sizeof *widths);
                    widths[nrows] = split_pipe_row(rs, rn, &rows[nrows]);
                    if (widths[nrows] > ncols) ncols = widths[nrows];
                    nrows++;
                    line_iter p2 = it;
                    if (!next_line(&p2, &rs, &rn) || !is_pipe_row(rs, rn)) break;
                    it = p2;
                }
                rg_table *t = rg_table_new(nrows, ncols);
                for (int r = 0; r < nrows; r++) {
                    for (int c = 0; c < ncols; c++) rg_table_set(t, r, c, c < widths[r] ? rows[r][c] : "");
                    for (int c = 0; c < widths[r]; c++) free(rows[r][c]);
                    free(rows[r]);
                }
                free(rows); free(widths);
                t->header_rows = 1;
                t->header_cols = 1;
                const char *cap = last_para && strlen(last_para) < 200 ? last_para : NULL;
                if (cap) t->caption = xstrdup(cap);
                if (!rg_scale_from_text(cap, t->scale)) {
                    const rg_cell *h = rg_table_cell(t, 0, 0);
                    if (!rg_scale_from_text(h ? h->raw : NULL, t->scale))
                        rg_scale_from_text(heads[0] ? section : NULL, t->scale);
                }
                rg_block *b = rg_doc_add_table(d, t, section);
                b->offset = toff;
                last_para = NULL;
                continue;
            }
        }
        if (blank(s, n)) {
            if (para.len) last_para = flush_para(d, &para, section, off);
            continue;
        }
        if (!para.len) off = s - text;
        else rg_buf_putc(&para, ' ');
        while (n && isspace((unsigned char)*s)) { s++; n--; }
        rg_buf_put(&para, s, n);
    }
    flush_para(d, &para, section, off);
    rg_buf_free(&para);
    for (int i = 0; i < 6; i++) free(heads[i]);
    free(section);
    return d;
}
