/* index/lex_block: see lex_block.h */
#include "index/lex_block.h"
#include "index/lex_token.h"
#include <string.h>

static void put_varint(rg_buf *b, uint64_t v) {
    unsigned char o[10];
    rg_buf_put(b, o, rg_varint_put(o, v));
}

int rg_lex_block_next(rg_lex_block *b, rg_lex_entry *e) {
    if (b->pos >= b->n) return 0;
    uint64_t tn, df, pn;
    if (rg_varint_get(b->p, b->n, &b->pos, &tn) || tn == 0 || tn > RG_LEX_MAX_WORD || tn > b->n - b->pos) goto bad;
    e->term = (const char *)b->p + b->pos;
    e->tn = (size_t)tn;
    b->pos += (size_t)tn;
    if (rg_varint_get(b->p, b->n, &b->pos, &df) || df == 0 || df > INT64_MAX) goto bad;
    if (rg_varint_get(b->p, b->n, &b->pos, &pn) || pn > b->n - b->pos) goto bad;
    e->df = (int64_t)df;
    e->post = b->p + b->pos;
    e->pn = (size_t)pn;
    b->pos += (size_t)pn;
    return 1;
bad:
    b->pos = b->n;
    return -1;
}

int rg_lex_term_cmp(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

int rg_lex_block_find(const unsigned char *p, size_t n, const char *term, size_t tn, rg_lex_entry *e) {
    rg_lex_block b = {p, n, 0};
    int r;
    while ((r = rg_lex_block_next(&b, e)) == 1) {
        int c = rg_lex_term_cmp(e->term, e->tn, term, tn);
        if (c == 0) return 1;
        if (c > 0) return 0;   /* past where it would be */
    }
    return r;
}

int rg_lex_rows_end(rg_lex_rows *r) {
    if (!r->data.len) return 0;
    sqlite3_stmt *st = r->ins;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, r->seg);
    sqlite3_bind_text(st, 2, r->first.data, (int)r->first.len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, r->data.data, (int)r->data.len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    r->data.len = r->first.len = 0;
    if (rc != SQLITE_DONE) {
        rg_err("BM25 index: write a block of posting lists: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
        return -1;
    }
    return 0;
}

int rg_lex_rows_add(rg_lex_rows *r, const char *term, size_t tn, int64_t df, const void *post, size_t pn) {
    if (!r->data.len) rg_buf_put(&r->first, term, tn);
    put_varint(&r->data, tn);
    rg_buf_put(&r->data, term, tn);
    put_varint(&r->data, (uint64_t)df);
    put_varint(&r->data, pn);
    rg_buf_put(&r->data, post, pn);
    return r->data.len >= RG_LEX_BLOCK_BYTES ? rg_lex_rows_end(r) : 0;
}

void rg_lex_rows_free(rg_lex_rows *r) {
    rg_buf_free(&r->data);
    rg_buf_free(&r->first);
}
