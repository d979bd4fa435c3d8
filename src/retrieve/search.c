/* retrieve/search: see search.h */
#include "retrieve/search.h"
#include "core/util.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RRF_K 60.0
#define MAX_K 1000
#define QCACHE_SIZE 128
#define QCACHE_MAX_TEXT 4096
#define RERANK_TOP_DEFAULT 20
/* Bytes of a passage (and of the query) given to the reranker: its window is 512 word
 * pieces at most, so longer text would only be tokenized to be cut. */
#define RERANK_MAX_BYTES 4000

void rg_search_opts_default(rg_search_opts *o) {
    memset(o, 0, sizeof *o);
    o->k = 10;
    o->candidates = 50;
    o->mode = RG_MODE_HYBRID;
    o->filter.kind = -1;
    /* Chosen on the TAT-QA dev set (`ragd eval --retrieval --open`): plain RRF ranked hybrid
     * below BM25 alone at recall@5; min-max-normalised scores weighted 0.7 BM25 / 0.3 dense
     * beat BM25 at every cut-off past 1 with the corpus-fitted encoder. */
    o->fusion = RG_FUSION_WEIGHTED;
    o->bm25_weight = 0.7;
    o->dense_weight = 0.3;
    o->rerank_top = RERANK_TOP_DEFAULT;
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

int rg_fusion_parse(const char *s, rg_fusion *f) {
    if (strcmp(s, "rrf") == 0) *f = RG_FUSION_RRF;
    else if (strcmp(s, "weighted") == 0) *f = RG_FUSION_WEIGHTED;
    else { rg_err("unknown fusion \"%s\" (rrf or weighted)", s); return -1; }
    return 0;
}

const char *rg_fusion_name(rg_fusion f) { return f == RG_FUSION_WEIGHTED ? "weighted" : "rrf"; }

/* ---- fusion ---- */

static int cmp_hit_desc(const void *a, const void *b) {
    const rg_hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->chunk_id < y->chunk_id ? -1 : x->chunk_id > y->chunk_id;
}

static int cmp_hit_id(const void *a, const void *b) {
    int64_t x = ((const rg_hit *)a)->chunk_id, y = ((const rg_hit *)b)->chunk_id;
    return x < y ? -1 : x > y;
}

void rg_fuse(const rg_hit *bm, int nbm, const rg_hit *dn, int ndn, const rg_search_opts *o,
             rg_hit **out, int *n) {
    const rg_hit *lists[2] = {bm, dn};
    int lens[2] = {nbm < 0 ? 0 : nbm, ndn < 0 ? 0 : ndn};
    double w[2] = {o->bm25_weight, o->dense_weight};
    rg_hit *all = xmalloc((size_t)(lens[0] + lens[1] + 1) * sizeof *all);
    int cnt = 0;
    for (int l = 0; l < 2; l++) {
        double lo = 0, hi = 0;
        for (int r = 0; r < lens[l]; r++) {
            double s = lists[l][r].score;
            if (r == 0 || s < lo) lo = s;
            if (r == 0 || s > hi) hi = s;
        }
        for (int r = 0; r < lens[l]; r++) {
            double add;
            if (o->fusion == RG_FUSION_WEIGHTED) add = w[l] * (hi > lo ? (lists[l][r].score - lo) / (hi - lo) : 1.0);
            else add = w[l] / (RRF_K + r + 1);
            all[cnt].chunk_id = lists[l][r].chunk_id;
            all[cnt].score = add;
            cnt++;
        }
    }
    /* Sum the contributions of each id: sort by id, merge runs. */
    qsort(all, (size_t)cnt, sizeof *all, cmp_hit_id);
    int m = 0;
    for (int i = 0; i < cnt; i++) {
        if (m && all[m - 1].chunk_id == all[i].chunk_id) all[m - 1].score += all[i].score;
        else all[m++] = all[i];
    }
    qsort(all, (size_t)m, sizeof *all, cmp_hit_desc);
    *out = all;
    *n = m;
}

/* ---- query embedding cache ---- */

typedef struct { uint64_t h; char *enc, *text; float *vec; int dim; uint64_t used; } qentry;
static qentry qcache[QCACHE_SIZE];
static uint64_t qclock;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t fnv(const char *a, const char *b) {
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)b; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    return h;
}

int rg_query_embed(rg_encoder *enc, const char *query, float *out) {
    int cacheable = strlen(query) <= QCACHE_MAX_TEXT;
    uint64_t h = cacheable ? fnv(enc->name, query) : 0;
    if (cacheable) {
        pthread_mutex_lock(&qlock);
        for (int i = 0; i < QCACHE_SIZE; i++) {
            qentry *e = &qcache[i];
            if (e->vec && e->h == h && e->dim == enc->dim && strcmp(e->enc, enc->name) == 0 && strcmp(e->text, query) == 0) {
                memcpy(out, e->vec, (size_t)e->dim * sizeof *out);
                e->used = ++qclock;
                pthread_mutex_unlock(&qlock);
                return 1;
            }
        }
        pthread_mutex_unlock(&qlock);
    }
    const char *texts[1] = {query};
    if (enc->embed(enc, texts, 1, 1, out) != 0) return -1;
    if (!cacheable) return 0;
    pthread_mutex_lock(&qlock);
    int victim = 0;
    for (int i = 0; i < QCACHE_SIZE; i++) {
        if (!qcache[i].vec) { victim = i; break; }
        if (qcache[i].used < qcache[victim].used) victim = i;
    }
    qentry *e = &qcache[victim];
    free(e->enc); free(e->text); free(e->vec);
    e->h = h;
    e->enc = xstrdup(enc->name);
    e->text = xstrdup(query);
    e->dim = enc->dim;
    e->vec = xmalloc((size_t)enc->dim * sizeof *e->vec);
    memcpy(e->vec, out, (size_t)enc->dim * sizeof *out);
    e->used = ++qclock;
    pthread_mutex_unlock(&qlock);
    return 0;
}

void rg_query_cache_clear(void) {
    pthread_mutex_lock(&qlock);
    for (int i = 0; i < QCACHE_SIZE; i++) {
        free(qcache[i].enc); free(qcache[i].text); free(qcache[i].vec);
        memset(&qcache[i], 0, sizeof qcache[i]);
    }
    pthread_mutex_unlock(&qlock);
}

/* ---- search ---- */

/* At most max bytes of s, cut back to a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max) return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    return max;
}

static int cmp_rerank(const void *a, const void *b) {
    const rg_result *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->fused_score != y->fused_score) return x->fused_score < y->fused_score ? 1 : -1;
    return x->chunk_id < y->chunk_id ? -1 : x->chunk_id > y->chunk_id;
}

/* Scores every fetched result with the cross-encoder (its section path as a title line
 * before its text) and orders them by that score, the fused score breaking ties. */
static int rerank(rg_reranker *rr, const char *query, rg_results *out) {
    char **pass = xmalloc((size_t)out->n * sizeof *pass);
    float *sc = xmalloc((size_t)out->n * sizeof *sc);
    for (int i = 0; i < out->n; i++) {
        const rg_result *r = &out->v[i];
        rg_buf b = {0};
        if (r->section && *r->section) { rg_buf_puts(&b, r->section); rg_buf_putc(&b, '\n'); }
        rg_buf_puts(&b, r->text ? r->text : "");
        size_t n = utf8_cut(b.data ? b.data : "", RERANK_MAX_BYTES);
        pass[i] = xstrndup(b.data ? b.data : "", n);
        rg_buf_free(&b);
    }
    char *q = xstrndup(query, utf8_cut(query, RERANK_MAX_BYTES));
    int rc = rg_reranker_score(rr, q, (const char *const *)pass, out->n, sc);
    if (rc == 0) {
        /* a non-finite logit (a broken model) sorts last instead of upsetting the sort */
        for (int i = 0; i < out->n; i++) out->v[i].score = isfinite(sc[i]) ? sc[i] : -1e30;
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_rerank);
        out->reranked = out->n;
    }
    for (int i = 0; i < out->n; i++) free(pass[i]);
    free(pass); free(sc); free(q);
    return rc == 0 ? 0 : -1;
}

static int search_core(rg_store *s, const char *query, const float *qvec, const rg_search_opts *o, rg_results *out) {
    int k = o->k > MAX_K ? MAX_K : o->k;
    if (k <= 0) return 0;
    /* With a reranker, it scores the first rerank_top fused candidates (at least k) */
    int want = k;
    if (o->reranker) {
        want = o->rerank_top > k ? o->rerank_top : k;
        if (want > MAX_K) want = MAX_K;
    }
    int cand = o->candidates > want ? o->candidates : want;
    if (cand > MAX_K) cand = MAX_K;
    rg_hit *bm = NULL, *dn = NULL;
    int nbm = 0, ndn = 0;
    double t;
    if (o->mode != RG_MODE_DENSE) {
        t = rg_now();
        if (rg_store_search_bm25(s, query, o->mode == RG_MODE_BM25 ? want : cand, &o->filter, &bm, &nbm) != 0) return -1;
        out->t_bm25 = rg_now() - t;
    }
    if (o->mode != RG_MODE_BM25) {
        t = rg_now();
        int rc = rg_store_search_dense(s, qvec, o->mode == RG_MODE_DENSE ? want : cand, &o->filter, &dn, &ndn);
        out->t_dense = rg_now() - t;
        if (rc != 0) { free(bm); return -1; }
    }
    t = rg_now();
    rg_hit *f;
    int nf;
    if (o->mode == RG_MODE_HYBRID) {
        rg_fuse(bm, nbm, dn, ndn, o, &f, &nf);
        free(bm); free(dn);
    } else if (o->mode == RG_MODE_BM25) { f = bm; nf = nbm; free(dn); }
    else { f = dn; nf = ndn; free(bm); }
    out->t_fuse = rg_now() - t;
    t = rg_now();
    if (nf > want) nf = want;
    out->v = xcalloc((size_t)nf + 1, sizeof *out->v);
    for (int i = 0; i < nf; i++) {
        rg_chunk_row c;
        int got = rg_store_get_chunk(s, f[i].chunk_id, &c);
        if (got < 0) { free(f); rg_results_free(out); return -1; }
        if (got == 0) continue;   /* a vector whose chunk is gone: never returned */
        rg_result *r = &out->v[out->n++];
        r->chunk_id = c.id;
        r->table_id = c.table_id;
        r->score = r->fused_score = f[i].score;
        r->doc_id = c.doc_id; r->source = c.source; r->text = c.text; r->section = c.section;
        r->kind = c.kind;
        if (c.table_id >= 0) r->table = rg_store_get_table(s, c.table_id);
    }
    out->t_fetch = rg_now() - t;
    free(f);
    if (o->reranker && out->n > 0) {
        t = rg_now();
        int rc = rerank(o->reranker, query, out);
        out->t_rerank = rg_now() - t;
        if (rc != 0) { rg_results_free(out); return -1; }
    }
    if (out->n > k) {   /* past the cut: fetched only for the reranker */
        for (int i = k; i < out->n; i++) {
            rg_result *r = &out->v[i];
            free(r->doc_id); free(r->source); free(r->text); free(r->section);
            rg_table_free(r->table);
        }
        out->n = k;
    }
    return 0;
}

int rg_search_vec(rg_store *s, const char *query, const float *qvec, const rg_search_opts *o, rg_results *out) {
    memset(out, 0, sizeof *out);
    if (o->mode != RG_MODE_BM25 && !qvec) { rg_err("dense search needs a query vector"); return -1; }
    return search_core(s, query ? query : "", qvec, o, out);
}

int rg_search(rg_store *s, rg_encoder *enc, const char *query, const rg_search_opts *o, rg_results *out) {
    memset(out, 0, sizeof *out);
    if (!query) query = "";
    if (o->mode == RG_MODE_BM25) return search_core(s, query, NULL, o, out);
    if (!enc) { rg_err("dense search needs an encoder"); return -1; }
    if (enc->dim != rg_store_dim(s)) {
        rg_err("encoder %s has %d dimensions, the index %d", enc->name, enc->dim, rg_store_dim(s));
        return -1;
    }
    float *q = xmalloc((size_t)enc->dim * sizeof *q);
    double t = rg_now();
    int cached = rg_query_embed(enc, query, q);
    double te = rg_now() - t;
    if (cached < 0) { free(q); return -1; }
    int rc = search_core(s, query, q, o, out);
    out->t_embed = te;
    out->embed_cached = cached;
    free(q);
    return rc;
}

void rg_results_free(rg_results *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->v[i].doc_id); free(r->v[i].source); free(r->v[i].text); free(r->v[i].section);
        rg_table_free(r->v[i].table);
    }
    free(r->v);
    r->v = NULL;
    r->n = 0;
}
