/* retrieve/context: see context.h. */
#include "retrieve/context.h"
#include "core/util.h"
#include "core/approx_tokens.h"
#include "core/table_text.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void rg_context_opts_default(rg_context_opts *o) {
    o->max_tokens = 1500;
    o->window = 1;
    o->mmr_lambda = 0;
}

/* ---- MMR over word sets ---- */

typedef struct { uint64_t *h; int n; } wordset;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static wordset words_of(const char *t) {
    wordset w = {NULL, 0};
    int cap = 0;
    uint64_t h = 1469598103934665603ULL;
    int in = 0;
    for (const unsigned char *p = (const unsigned char *)t;; p++) {
        if (*p && (isalnum(*p) || *p >= 0x80)) { h = (h ^ (uint64_t)tolower(*p)) * 1099511628211ULL; in = 1; continue; }
        if (in) {
            if (w.n == cap) { cap = cap ? cap * 2 : 64; w.h = xrealloc(w.h, (size_t)cap * sizeof *w.h); }
            w.h[w.n++] = h;
            h = 1469598103934665603ULL;
            in = 0;
        }
        if (!*p) break;
    }
    if (w.n) qsort(w.h, (size_t)w.n, sizeof *w.h, cmp_u64);
    int m = 0;
    for (int i = 0; i < w.n; i++) if (!m || w.h[m - 1] != w.h[i]) w.h[m++] = w.h[i];
    w.n = m;
    return w;
}

static double jaccard(const wordset *a, const wordset *b) {
    int i = 0, j = 0, inter = 0;
    while (i < a->n && j < b->n) {
        if (a->h[i] == b->h[j]) { inter++; i++; j++; }
        else if (a->h[i] < b->h[j]) i++;
        else j++;
    }
    int uni = a->n + b->n - inter;
    return uni ? (double)inter / uni : 0;
}

/* The order in which to take the hits: plain rank order, or maximal marginal relevance. */
static int *hit_order(const rg_results *r, double lambda) {
    int *ord = xmalloc(((size_t)r->n + 1) * sizeof *ord);
    for (int i = 0; i < r->n; i++) ord[i] = i;
    if (lambda <= 0 || r->n < 3) return ord;
    if (lambda > 1) lambda = 1;
    wordset *ws = xcalloc((size_t)r->n, sizeof *ws);
    double lo = r->v[0].score, hi = r->v[0].score;
    for (int i = 0; i < r->n; i++) {
        ws[i] = words_of(r->v[i].text ? r->v[i].text : "");
        if (r->v[i].score < lo) lo = r->v[i].score;
        if (r->v[i].score > hi) hi = r->v[i].score;
    }
    char *taken = xcalloc((size_t)r->n, 1);
    for (int k = 0; k < r->n; k++) {
        int best = -1;
        double bestv = 0;
        for (int i = 0; i < r->n; i++) {
            if (taken[i]) continue;
            double rel = hi > lo ? (r->v[i].score - lo) / (hi - lo) : 1.0, red = 0;
            for (int j = 0; j < k; j++) {
                double sm = jaccard(&ws[i], &ws[ord[j]]);
                if (sm > red) red = sm;
            }
            double v = lambda * rel - (1 - lambda) * red;
            if (best < 0 || v > bestv) { best = i; bestv = v; }
        }
        taken[best] = 1;
        ord[k] = best;
    }
    for (int i = 0; i < r->n; i++) free(ws[i].h);
    free(ws); free(taken);
    return ord;
}

/* ---- documents' chunks, fetched once per build ---- */

typedef struct { char *doc_id; rg_chunk_row *rows; int n; } doc_rows;
typedef struct { doc_rows *v; int n; } doc_cache;

/* Index of the document in the cache (stable while the cache grows), -1 on error. */
static int doc_get(rg_store *s, doc_cache *c, const char *doc_id) {
    for (int i = 0; i < c->n; i++) if (strcmp(c->v[i].doc_id, doc_id) == 0) return i;
    rg_chunk_row *rows;
    int n;
    if (rg_store_doc_chunks(s, doc_id, &rows, &n) != 0) return -1;
    c->v = xrealloc(c->v, (size_t)(c->n + 1) * sizeof *c->v);
    doc_rows *d = &c->v[c->n++];
    d->doc_id = xstrdup(doc_id);
    d->rows = rows;
    d->n = n;
    return c->n - 1;
}

static void doc_cache_free(doc_cache *c) {
    for (int i = 0; i < c->n; i++) {
        for (int j = 0; j < c->v[i].n; j++) rg_chunk_row_free(&c->v[i].rows[j]);
        free(c->v[i].rows); free(c->v[i].doc_id);
    }
    free(c->v);
}

static int is_parent(const doc_rows *d, int64_t id) {
    for (int i = 0; i < d->n; i++) if (d->rows[i].parent == id) return 1;
    return 0;
}

static int same_section(const rg_chunk_row *a, const rg_chunk_row *b) {
    return strcmp(a->section ? a->section : "", b->section ? b->section : "") == 0;
}

typedef struct { rg_passage p; int64_t parent; int anchor, doc; } building;

static void add_hit(rg_passage *p, int64_t id) {
    p->hits = xrealloc(p->hits, (size_t)(p->nhits + 1) * sizeof *p->hits);
    p->hits[p->nhits++] = id;
}

/* The passage text of a text window: its chunks in order, blank-line separated. */
static char *window_text(const doc_rows *d, int anchor, int lo, int hi) {
    rg_buf b = {0};
    for (int i = 0; i < d->n; i++) {
        const rg_chunk_row *c = &d->rows[i];
        if (c->ord < lo || c->ord > hi || c->kind != RG_CHUNK_TEXT || !same_section(c, &d->rows[anchor])) continue;
        if (is_parent(d, c->id)) continue;
        if (b.len) rg_buf_puts(&b, "\n\n");
        rg_buf_puts(&b, c->text ? c->text : "");
    }
    return b.len ? rg_buf_take(&b) : xstrdup("");
}

/* Cuts text to about max_tokens, at a word boundary. */
static void cut_to(char **text, int max_tokens) {
    size_t n = strlen(*text), lo = 0, hi = n;
    while (lo < hi) {   /* the longest prefix within budget */
        size_t mid = (lo + hi + 1) / 2;
        char save = (*text)[mid];
        (*text)[mid] = 0;
        int t = rg_approx_tokens(*text);
        (*text)[mid] = save;
        if (t <= max_tokens) lo = mid; else hi = mid - 1;
    }
    while (lo > 0 && !isspace((unsigned char)(*text)[lo]) && (*text)[lo]) lo--;
    (*text)[lo] = 0;
}

int rg_context_build(rg_store *s, const rg_results *r, const rg_context_opts *opts, rg_context *out) {
    memset(out, 0, sizeof *out);
    rg_context_opts o;
    if (opts) o = *opts; else rg_context_opts_default(&o);
    if (o.window < 0) o.window = 0;
    int *order = hit_order(r, o.mmr_lambda);
    building *bs = xcalloc((size_t)r->n + 1, sizeof *bs);
    int nb = 0, rc = 0;
    doc_cache cache = {0};
    for (int oi = 0; oi < r->n; oi++) {
        const rg_result *h = &r->v[order[oi]];
        if (h->table_id >= 0) {
            int j = 0;
            while (j < nb && bs[j].p.table_id != h->table_id) j++;
            if (j == nb) {
                rg_table *t = rg_store_get_table(s, h->table_id);
                if (!t) { rc = -1; break; }
                building *b = &bs[nb++];
                b->p.kind = RG_CHUNK_TABLE;
                b->p.table_id = h->table_id;
                b->p.table = t;
                b->p.text = rg_table_linearize(t, t->caption, 0, t->nrows);
                b->p.doc_id = xstrdup(h->doc_id); b->p.source = xstrdup(h->source);
                b->p.section = xstrdup(h->section ? h->section : "");
                b->p.score = h->score;
                b->parent = -1;
            }
            add_hit(&bs[j].p, h->chunk_id);
            continue;
        }
        int di = doc_get(s, &cache, h->doc_id);
        if (di < 0) { rc = -1; break; }
        doc_rows *d = &cache.v[di];
        int idx = -1;
        for (int i = 0; i < d->n; i++) if (d->rows[i].id == h->chunk_id) idx = i;
        if (idx < 0) continue;   /* removed since the search */
        const rg_chunk_row *c = &d->rows[idx];
        int64_t parent = -1;
        int lo = c->ord, hi = c->ord, anchor = idx;
        if (c->parent >= 0) {
            for (int i = 0; i < d->n; i++)
                if (d->rows[i].id == c->parent) { parent = c->parent; anchor = i; lo = hi = d->rows[i].ord; }
        }
        if (parent < 0) {
            /* widen over neighbouring text chunks of the same section */
            for (int i = idx - 1; i >= 0 && c->ord - d->rows[i].ord <= o.window; i--) {
                if (d->rows[i].kind != RG_CHUNK_TEXT || !same_section(&d->rows[i], c)) break;
                lo = d->rows[i].ord;
            }
            for (int i = idx + 1; i < d->n && d->rows[i].ord - c->ord <= o.window; i++) {
                if (d->rows[i].kind != RG_CHUNK_TEXT || !same_section(&d->rows[i], c)) break;
                hi = d->rows[i].ord;
            }
        }
        int j = 0;
        for (; j < nb; j++) {
            building *b = &bs[j];
            if (b->p.kind != RG_CHUNK_TEXT || b->doc != di) continue;
            if (parent >= 0 ? b->parent == parent
                            : (b->parent < 0 && same_section(&d->rows[b->anchor], c) && lo <= b->p.ord_hi + 1 && hi >= b->p.ord_lo - 1))
                break;
        }
        if (j == nb) {
            building *b = &bs[nb++];
            b->p.kind = RG_CHUNK_TEXT;
            b->p.table_id = -1;
            b->p.doc_id = xstrdup(h->doc_id); b->p.source = xstrdup(h->source);
            b->p.section = xstrdup(c->section ? c->section : "");
            b->p.score = h->score;
            b->p.ord_lo = lo; b->p.ord_hi = hi;
            b->parent = parent;
            b->anchor = anchor;
            b->doc = di;
        } else if (parent < 0) {
            if (lo < bs[j].p.ord_lo) bs[j].p.ord_lo = lo;
            if (hi > bs[j].p.ord_hi) bs[j].p.ord_hi = hi;
        }
        add_hit(&bs[j].p, h->chunk_id);
    }
    if (rc == 0) {
        out->v = xcalloc((size_t)nb + 1, sizeof *out->v);
        for (int j = 0; j < nb; j++) {
            building *b = &bs[j];
            if (b->p.kind == RG_CHUNK_TEXT) {
                const doc_rows *d = &cache.v[b->doc];
                b->p.text = b->parent >= 0 ? xstrdup(d->rows[b->anchor].text ? d->rows[b->anchor].text : "")
                                           : window_text(d, b->anchor, b->p.ord_lo, b->p.ord_hi);
            }
            b->p.ntokens = rg_approx_tokens(b->p.text);
            if (out->ntokens + b->p.ntokens > o.max_tokens) {
                if (out->n > 0 || o.max_tokens <= 0) { out->dropped++; goto drop; }
                cut_to(&b->p.text, o.max_tokens);
                b->p.ntokens = rg_approx_tokens(b->p.text);
                out->truncated = 1;
            }
            out->v[out->n++] = b->p;
            out->ntokens += b->p.ntokens;
            continue;
        drop:
            free(b->p.doc_id); free(b->p.source); free(b->p.section); free(b->p.text); free(b->p.hits);
            rg_table_free(b->p.table);
        }
    } else {
        for (int j = 0; j < nb; j++) {
            free(bs[j].p.doc_id); free(bs[j].p.source); free(bs[j].p.section); free(bs[j].p.text); free(bs[j].p.hits);
            rg_table_free(bs[j].p.table);
        }
    }
    free(bs);
    free(order);
    doc_cache_free(&cache);
    return rc;
}

void rg_context_free(rg_context *c) {
    for (int i = 0; i < c->n; i++) {
        rg_passage *p = &c->v[i];
        free(p->doc_id); free(p->source); free(p->section); free(p->text); free(p->hits);
        rg_table_free(p->table);
    }
    free(c->v);
    memset(c, 0, sizeof *c);
}
