/* core/doc: see doc.h */
#include "core/doc.h"
#include "core/numparse.h"
#include "core/util.h"
#include <stdlib.h>
#include <string.h>

rg_doc *rg_doc_new(const char *id, const char *source, const char *kind) {
    rg_doc *d = xcalloc(1, sizeof *d);
    d->id = xstrdup(id);
    d->source = xstrdup(source ? source : id);
    d->kind = xstrdup(kind ? kind : "text");
    return d;
}

char *rg_table_strdup(rg_table *t, const char *s, size_t n) {
    return rg_strpool_dup(&t->strs, s, n, 16 * ((size_t)t->nrows * (size_t)t->ncols + 1));
}

void rg_table_free(rg_table *t) {
    if (!t) return;
    rg_strpool_free(&t->strs);
    free(t->cells);
    free(t->caption);
    free(t);
}

void rg_doc_free(rg_doc *d) {
    if (!d) return;
    for (int i = 0; i < d->nblocks; i++) rg_table_free(d->blocks[i].table);
    free(d->blocks);
    rg_strpool_free(&d->strs);
    free(d->id); free(d->source); free(d->kind); free(d->title); free(d->meta_json);
    free(d);
}

/* A copy in the doc's pool: blocks are many and their strings live as long as the doc, so
 * they share blocks of memory instead of a malloc (and a free) each. */
static char *doc_strdup(rg_doc *d, const char *s, size_t n) { return rg_strpool_dup(&d->strs, s, n, 4096); }

static rg_block *add_block(rg_doc *d, rg_block_kind kind, const char *section) {
    if (d->nblocks == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->blocks = xrealloc(d->blocks, (size_t)d->cap * sizeof *d->blocks);
    }
    rg_block *b = &d->blocks[d->nblocks++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    if (!section) section = "";
    /* every block of a section names the same path: the previous block's copy serves */
    const rg_block *prev = d->nblocks >= 2 ? b - 1 : NULL;
    if (prev && strcmp(prev->section, section) == 0) b->section = prev->section;
    else b->section = doc_strdup(d, section, strlen(section));
    b->offset = -1;
    return b;
}

rg_block *rg_doc_add_text(rg_doc *d, rg_block_kind kind, int level, const char *text, const char *section) {
    rg_block *b = add_block(d, kind, section);
    b->level = level;
    if (!text) text = "";
    b->text = doc_strdup(d, text, strlen(text));
    return b;
}

rg_block *rg_doc_add_table(rg_doc *d, rg_table *t, const char *section) {
    rg_block *b = add_block(d, RG_BLOCK_TABLE, section);
    b->table = t;
    return b;
}

rg_table *rg_table_new(int nrows, int ncols) {
    rg_table *t = xcalloc(1, sizeof *t);
    if (nrows < 0) nrows = 0;
    if (ncols < 0) ncols = 0;
    t->nrows = nrows;
    t->ncols = ncols;
    t->cells = xcalloc((size_t)nrows * (size_t)ncols + 1, sizeof *t->cells);
    return t;
}

rg_cell *rg_table_cell(rg_table *t, int r, int c) {
    if (r < 0 || c < 0 || r >= t->nrows || c >= t->ncols) return NULL;
    return &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
}

void rg_table_set_kept(rg_table *t, int r, int c, char *raw) {
    rg_cell *cell = rg_table_cell(t, r, c);
    if (!cell) return;
    cell->raw = raw;   /* a replaced text stays in its block */
    rg_cell_parse(cell->raw, &cell->type, &cell->value, cell->unit);
}

void rg_table_set(rg_table *t, int r, int c, const char *raw) {
    if (!rg_table_cell(t, r, c)) return;
    if (!raw) raw = "";
    rg_table_set_kept(t, r, c, rg_table_strdup(t, raw, strlen(raw)));
}
