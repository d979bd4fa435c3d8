/* retrieve/search: see search.h */
#include "retrieve/search.h"
#include "core/util.h"
#include <stdlib.h>
#include <string.h>

#define RRF_K 60.0
#define MAX_K 1000

void rg_search_opts_default(rg_search_opts *o) {
    memset(o, 0, sizeof *o);
    o->k = 10;
    o->candidates = 50;
    o->mode = RG_MODE_HYBRID;
    o->filter.kind = -1;
}

int rg_search_mode_parse(const char *s, rg_search_mode *m) {
    if (strcmp(s, "hybrid") == 0) *m = RG_MODE_HYBRID;
    else if (strcmp(s, "bm25") == 0) *m = RG_MODE_BM25;
    else if (strcmp(s, "dense") == 0) *m = RG_MODE_DENSE;
    else { rg_err("unknown search mode \"%s\" (hybrid, bm25 or dense)", s); return -1; }
    return 0;
}

const char *rg_search_mode_name(rg_search_mode m) {
    return m == RG_MODE_BM25 ? "bm25" : m == RG_MODE_DENSE ? "dense" : "hybrid";
}

typedef struct { int64_t id; double score; } fused;

static int cmp_fused(const void *a, const void *b) {
    double x = ((const fused *)a)->score, y = ((const fused *)b)->score;
    if (x != y) return x < y ? 1 : -1;
    int64_t i = ((const fused *)a)->id, j = ((const fused *)b)->id;
    return i < j ? -1 : i > j;
}

/* Reciprocal rank fusion: sum of 1 / (RRF_K + rank) over the lists a chunk appears in. */
static fused *rrf(const rg_hit *a, int na, const rg_hit *b, int nb, int *n) {
    fused *f = xmalloc((size_t)(na + nb + 1) * sizeof *f);
    int cnt = 0;
    const rg_hit *lists[2] = {a, b};
    int lens[2] = {na, nb};
    for (int l = 0; l < 2; l++)
        for (int r = 0; r < lens[l]; r++) {
            double add = 1.0 / (RRF_K + r + 1);
            int j = 0;
            while (j < cnt && f[j].id != lists[l][r].chunk_id) j++;
            if (j == cnt) { f[cnt].id = lists[l][r].chunk_id; f[cnt].score = 0; cnt++; }
            f[j].score += add;
        }
    qsort(f, (size_t)cnt, sizeof *f, cmp_fused);
    *n = cnt;
    return f;
}

int rg_search(rg_store *s, rg_encoder *enc, const char *query, const rg_search_opts *o, rg_results *out) {
    memset(out, 0, sizeof *out);
    int k = o->k > MAX_K ? MAX_K : o->k;
    if (k <= 0) return 0;
    int cand = o->candidates > k ? o->candidates : k;
    if (cand > MAX_K) cand = MAX_K;
    rg_hit *bm = NULL, *dn = NULL;
    int nbm = 0, ndn = 0;
    double t;
    if (o->mode != RG_MODE_DENSE) {
        t = rg_now();
        if (rg_store_search_bm25(s, query, o->mode == RG_MODE_BM25 ? k : cand, &o->filter, &bm, &nbm) != 0) return -1;
        out->t_bm25 = rg_now() - t;
    }
    if (o->mode != RG_MODE_BM25) {
        if (!enc) { free(bm); rg_err("dense search needs an encoder"); return -1; }
        float *q = xmalloc((size_t)enc->dim * sizeof *q);
        t = rg_now();
        const char *texts[1] = {query};
        if (rg_encoder_embed(enc, texts, 1, 1, q) != 0) { free(q); free(bm); return -1; }
        out->t_embed = rg_now() - t;
        t = rg_now();
        int rc = rg_store_search_dense(s, q, o->mode == RG_MODE_DENSE ? k : cand, &o->filter, &dn, &ndn);
        out->t_dense = rg_now() - t;
        free(q);
        if (rc != 0) { free(bm); return -1; }
    }
    t = rg_now();
    fused *f;
    int nf;
    if (o->mode == RG_MODE_HYBRID) f = rrf(bm, nbm, dn, ndn, &nf);
    else {
        const rg_hit *h = o->mode == RG_MODE_BM25 ? bm : dn;
        nf = o->mode == RG_MODE_BM25 ? nbm : ndn;
        f = xmalloc((size_t)(nf + 1) * sizeof *f);
        for (int i = 0; i < nf; i++) { f[i].id = h[i].chunk_id; f[i].score = h[i].score; }
    }
    out->t_fuse = rg_now() - t;
    free(bm); free(dn);
    t = rg_now();
    if (nf > k) nf = k;
    out->v = xcalloc((size_t)nf + 1, sizeof *out->v);
    for (int i = 0; i < nf; i++) {
        rg_chunk_row c;
        if (rg_store_get_chunk(s, f[i].id, &c) != 1) continue;
        rg_result *r = &out->v[out->n++];
        r->chunk_id = c.id;
        r->table_id = c.table_id;
        r->score = f[i].score;
        r->doc_id = c.doc_id; r->source = c.source; r->text = c.text; r->section = c.section;
        r->kind = c.kind;
        if (c.table_id >= 0) r->table = rg_store_get_table(s, c.table_id);
    }
    out->t_fetch = rg_now() - t;
    free(f);
    return 0;
}

void rg_results_free(rg_results *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->v[i].doc_id); free(r->v[i].source); free(r->v[i].text); free(r->v[i].section);
        rg_table_free(r->v[i].table);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}
