/* index/store_search: BM25 over the store's inverted index (index/lex.h) and dense search
 * over FAISS, both with filters. */
#include "index/store_internal.h"
#include "core/util.h"
#include "index/lex_block.h"
#include "index/vectors.h"
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* ---- search ---- */

#define LEX_MAX_TERMS 64
/* Postings BM25 may score per query. A term found in a large share of a big corpus makes a
 * query slow while adding almost nothing to the ranking (its idf is near zero): terms are
 * taken rarest first until this budget is spent; the rarest always counts. */
#define LEX_POSTING_BUDGET 200000
#define BM25_K1 1.2
#define BM25_B 0.75

/* A term's list in one segment, copied out of the row into the query's arena. */
typedef struct { int seg; size_t off, n; int64_t df; } part;

typedef struct {
    char t[RG_LEX_MAX_WORD + 1];
    int64_t df;
    int p0, np;             /* its parts: parts[p0 .. p0 + np), in segment order */
} q_term;

typedef struct { q_term *t; int n; rg_lex_tok *tok; } q_terms;

/* The query's terms: its words as the index folds and stems them, stopwords and repeats
 * dropped. Nothing of the text reaches SQL but as a bound parameter. */
static void on_query_word(const char *w, size_t n, void *ctx) {
    q_terms *q = ctx;
    if (!n || q->n >= LEX_MAX_TERMS || rg_lex_stopword(w, n)) return;
    char stem[RG_LEX_MAX_WORD + 1];
    rg_lex_stem(q->tok, w, n, stem);
    for (int i = 0; i < q->n; i++) if (strcmp(q->t[i].t, stem) == 0) return;
    memcpy(q->t[q->n].t, stem, sizeof stem);
    q->t[q->n].df = 0;
    q->t[q->n].p0 = q->t[q->n].np = 0;
    q->n++;
}

static int cmp_term_df(const void *a, const void *b) {
    int64_t x = ((const q_term *)a)->df, y = ((const q_term *)b)->df;
    return (x > y) - (x < y);
}

/* ---- scoring ---- */

typedef struct { int64_t id; double score; } scored;
typedef struct { int64_t id, first, last; } seg_range;

/* Ids of removed chunks whose postings are still in segments, sorted; their count and
 * length go out of the totals. */
typedef struct { int64_t *ids, n, tok; } dead_set;

/* One term's postings over all segments as (chunk id, BM25 contribution), in id order,
 * removed chunks left out. The idf counts the chunks left, so an index where documents were
 * replaced ranks as one built afresh, before its segments are merged. */
static scored *term_scores(const q_term *t, const part *parts, const unsigned char *arena, const seg_range *g,
                           const dead_set *dead, int64_t ndocs, double avgdl, int64_t *nout) {
    int64_t total = 0;
    for (int i = 0; i < t->np; i++) total += parts[t->p0 + i].df;
    scored *sc = xmalloc(((size_t)total + 1) * sizeof *sc);
    rg_lex_posting *ps = xmalloc(((size_t)total + 1) * sizeof *ps);
    int64_t m = 0, d = 0;
    double k1 = BM25_K1, norm = BM25_K1 * BM25_B / avgdl, base = BM25_K1 * (1 - BM25_B);
    /* segments hold disjoint id ranges: in range order, the lists concatenate in id order */
    for (int i = 0; i < t->np; i++) {
        const part *p = &parts[t->p0 + i];
        int64_t got = rg_lex_decode(arena + p->off, p->n, p->df, g[p->seg].last, ps);
        for (int64_t j = 0; j < got; j++) {
            if (m && ps[j].id <= sc[m - 1].id) continue;     /* a damaged list: keep order */
            while (d < dead->n && dead->ids[d] < ps[j].id) d++;
            if (d < dead->n && dead->ids[d] == ps[j].id) continue;
            double w = 0.5 * ps[j].wtf;
            sc[m].id = ps[j].id;
            sc[m].score = w * (k1 + 1) / (w + base + norm * ps[j].len);
            m++;
        }
    }
    free(ps);
    /* FTS5's idf, kept positive for terms in most chunks */
    double df = (double)m, idf = log(((double)ndocs - df + 0.5) / (df + 0.5));
    if (idf <= 0) idf = 1e-6;
    for (int64_t i = 0; i < m; i++) sc[i].score *= idf;
    *nout = m;
    return sc;
}

/* a + b, both in id order, scores of the same chunk summed */
static scored *merge_sum(const scored *a, int64_t na, const scored *b, int64_t nb, int64_t *n) {
    scored *o = xmalloc(((size_t)(na + nb) + 1) * sizeof *o);
    int64_t i = 0, j = 0, m = 0;
    while (i < na && j < nb) {
        if (a[i].id < b[j].id) o[m++] = a[i++];
        else if (b[j].id < a[i].id) o[m++] = b[j++];
        else { o[m] = a[i++]; o[m++].score += b[j++].score; }
    }
    while (i < na) o[m++] = a[i++];
    while (j < nb) o[m++] = b[j++];
    *n = m;
    return o;
}

/* better first: higher score, then lower id */
static int better(const scored *x, const scored *y) {
    return x->score > y->score || (x->score == y->score && x->id < y->id);
}

static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    return better(x, y) ? -1 : better(y, x) ? 1 : 0;
}

/* The k best of c[0..n) into out (room for k), best first; c is left as it was. A heap of
 * the k best so far, its worst at the root. */
static int64_t top_k(const scored *c, int64_t n, int64_t k, scored *out) {
    int64_t hn = 0;
    for (int64_t i = 0; i < n; i++) {
        if (hn < k) {
            int64_t j = hn++;
            out[j] = c[i];
            while (j > 0 && better(&out[(j - 1) / 2], &out[j])) { scored t = out[j]; out[j] = out[(j - 1) / 2]; out[(j - 1) / 2] = t; j = (j - 1) / 2; }
        } else if (better(&c[i], &out[0])) {
            out[0] = c[i];
            for (int64_t j = 0;;) {
                int64_t l = 2 * j + 1, r = l + 1, w = j;
                if (l < hn && better(&out[w], &out[l])) w = l;
                if (r < hn && better(&out[w], &out[r])) w = r;
                if (w == j) break;
                scored t = out[j]; out[j] = out[w]; out[w] = t;
                j = w;
            }
        }
    }
    if (hn > 1) qsort(out, (size_t)hn, sizeof *out, cmp_scored);
    return hn;
}

/* A filter as SQL conditions over chunks c JOIN documents d, with "?" parameters bound in
 * order by filter_bind. Every user value is a parameter. */
typedef struct { const char *v[8 + 3 * RG_FILTER_MAX_META]; int is_int[8 + 3 * RG_FILTER_MAX_META]; int iv[8 + 3 * RG_FILTER_MAX_META]; int n; } filter_params;

static void fp_text(filter_params *p, const char *v) { p->is_int[p->n] = 0; p->v[p->n++] = v; }

static int filter_active(const rg_search_filter *f) {
    return f && (f->doc_id || f->source_glob || f->kind >= 0 || f->date_from || f->date_to || f->nmeta > 0);
}

static char *filter_sql(const rg_search_filter *f, filter_params *p) {
    rg_buf b = {0};
    p->n = 0;
    rg_buf_puts(&b, "1");
    if (!f) return rg_buf_take(&b);
    if (f->doc_id) { rg_buf_puts(&b, " AND d.doc_id = ?"); fp_text(p, f->doc_id); }
    if (f->source_glob) { rg_buf_puts(&b, " AND d.source GLOB ?"); fp_text(p, f->source_glob); }
    if (f->kind >= 0) { rg_buf_puts(&b, " AND c.kind = ?"); p->is_int[p->n] = 1; p->iv[p->n++] = f->kind; }
    const char *bounds[2] = {f->date_from, f->date_to};
    for (int i = 0; i < 2; i++) {
        if (!bounds[i]) continue;
        const char *date = f->date_key
            ? "(CASE WHEN json_valid(d.metadata) THEN (SELECT CAST(value AS TEXT) FROM json_each(d.metadata) WHERE key = ?) END)"
            : "strftime('%Y-%m-%dT%H:%M:%S', d.indexed_at, 'unixepoch')";
        /* the upper bound is inclusive of everything it prefixes: "2024-03" takes all of March */
        if (i == 0) rg_buf_printf(&b, " AND %s >= ?", date);
        else rg_buf_printf(&b, " AND substr(%s, 1, length(?)) <= ?", date);
        if (f->date_key) fp_text(p, f->date_key);
        fp_text(p, bounds[i]);
        if (i == 1) fp_text(p, bounds[i]);
    }
    for (int i = 0; i < f->nmeta && i < RG_FILTER_MAX_META; i++) {
        if (!f->meta_key[i] || !f->meta_value[i]) continue;
        rg_buf_puts(&b, " AND (CASE WHEN json_valid(d.metadata) THEN EXISTS (SELECT 1 FROM json_each(d.metadata) "
                        "WHERE key = ? AND CAST(value AS TEXT) = ?) ELSE 0 END)");
        fp_text(p, f->meta_key[i]);
        fp_text(p, f->meta_value[i]);
    }
    return rg_buf_take(&b);
}

static void filter_bind(sqlite3_stmt *st, int first, const filter_params *p) {
    for (int i = 0; i < p->n; i++) {
        if (p->is_int[i]) sqlite3_bind_int(st, first + i, p->iv[i]);
        else sqlite3_bind_text(st, first + i, p->v[i], -1, SQLITE_TRANSIENT);
    }
}

/* A filtered search checks candidates best first until enough pass, fetching more while too
 * few do. The share that passed the last time a filter was used on this handle sizes the
 * first fetch, so a filter used again (a service asking about one company or year) takes
 * one round instead of growing from a small guess. Results are the same either way: the
 * candidates are checked in rank order, and the best N are a prefix of the best M > N. */
static uint64_t filter_key(const rg_search_filter *f) {
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[5 + 2 * RG_FILTER_MAX_META] = {f->doc_id, f->source_glob, f->date_key, f->date_from, f->date_to};
    for (int i = 0; i < f->nmeta && i < RG_FILTER_MAX_META; i++) { parts[5 + 2 * i] = f->meta_key[i]; parts[6 + 2 * i] = f->meta_value[i]; }
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        for (const char *p = parts[i] ? parts[i] : ""; *p; p++) { h ^= (unsigned char)*p; h *= 0x100000001b3ull; }
        h ^= parts[i] ? 0x1f : 0x2f;   /* ends a part; NULL differs from "" */
        h *= 0x100000001b3ull;
    }
    return h ^ (uint64_t)(f->kind + 2) * 0x9E3779B97F4A7C15ull;
}

static double filter_rate_get(const rg_store *s, uint64_t key) {
    for (int i = 0; i < 8; i++) if (s->filter_rate[i].key == key && s->filter_rate[i].rate > 0) return s->filter_rate[i].rate;
    return 0;
}

/* passed of checked candidates passed (nothing passing counts as one in checked + 1) */
static void filter_rate_put(rg_store *s, uint64_t key, int64_t passed, int64_t checked) {
    if (checked <= 0) return;
    double rate = passed > 0 ? (double)passed / (double)checked : 1.0 / (double)(checked + 1);
    int slot = -1;
    for (int i = 0; i < 8 && slot < 0; i++) if (s->filter_rate[i].key == key) slot = i;
    if (slot < 0) { slot = s->filter_rate_next; s->filter_rate_next = (s->filter_rate_next + 1) % 8; }
    s->filter_rate[slot].key = key;
    s->filter_rate[slot].rate = rate;
}

/* The first fetch for `want` passing candidates: at least `floor`, and what the filter's last
 * share of passes says it takes, with a margin (capped at `cap`). */
static int64_t filter_first_fetch(const rg_store *s, uint64_t key, int64_t want, int64_t floor, int64_t cap) {
    double rate = filter_rate_get(s, key);
    if (rate <= 0) return floor;
    double e = (double)want / rate * 1.25 + 16;
    if (e > (double)cap) e = (double)cap;
    return e > (double)floor ? (int64_t)e : floor;
}


static int load_dead(rg_store *s, dead_set *d) {
    memset(d, 0, sizeof *d);
    sqlite3_stmt *st = st_prep(s, "SELECT chunk_id, ntok FROM lex_dead ORDER BY chunk_id");
    if (!st) return -1;
    int64_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (d->n == cap) { cap = cap ? cap * 2 : 64; d->ids = xrealloc(d->ids, (size_t)cap * sizeof *d->ids); }
        d->ids[d->n++] = sqlite3_column_int64(st, 0);
        d->tok += sqlite3_column_int64(st, 1);
    }
    st_done(s, st);
    return r == SQLITE_DONE ? 0 : st_fail(s, "bm25 removed chunks");
}

static int bm25_ranked(rg_store *s, q_terms *q, int k, const rg_search_filter *f, rg_hit **out, int *n) {
    int rc = -1;
    seg_range *g = NULL;
    int ng = 0, capg = 0, r;
    int64_t ndocs = 0, ntok = 0;
    dead_set dead = {0};
    scored *acc = NULL, *ts = NULL, *best = NULL;
    int64_t nacc = 0, nts = 0;
    part *parts = NULL;
    int nparts = 0, capparts = 0;
    rg_buf arena = {0};
    sqlite3_stmt *st = st_prep(s, "SELECT id, first, last, ndocs, ntok FROM lex_seg ORDER BY first");
    if (!st) return -1;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (ng == capg) { capg = capg ? capg * 2 : 32; g = xrealloc(g, (size_t)capg * sizeof *g); }
        g[ng++] = (seg_range){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)};
        ndocs += sqlite3_column_int64(st, 3);
        ntok += sqlite3_column_int64(st, 4);
    }
    st_done(s, st);
    if (r != SQLITE_DONE) { st_fail(s, "bm25 segments"); goto out; }
    if (load_dead(s, &dead) != 0) goto out;
    ndocs -= dead.n;
    ntok -= dead.tok;
    if (ndocs <= 0) { rc = 0; goto out; }
    double avgdl = ntok > 0 ? (double)ntok / (double)ndocs : 1.0;

    /* each term's list in each segment (a segment is a key range of its own), in range order */
    st = st_prep(s, "SELECT data FROM lex_block WHERE seg = ?1 AND term <= ?2 ORDER BY term DESC LIMIT 1");
    if (!st) goto out;
    for (int i = 0; i < q->n; i++) {
        q_term *t = &q->t[i];
        t->p0 = nparts;
        size_t tn = strlen(t->t);
        for (int j = 0; j < ng; j++) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, g[j].id);
            sqlite3_bind_text(st, 2, t->t, (int)tn, SQLITE_STATIC);
            r = sqlite3_step(st);
            if (r == SQLITE_DONE) continue;
            if (r != SQLITE_ROW) { st_done(s, st); st_fail(s, "bm25 postings"); goto out; }
            const unsigned char *blk = sqlite3_column_blob(st, 0);
            rg_lex_entry e;
            if (!blk || rg_lex_block_find(blk, (size_t)sqlite3_column_bytes(st, 0), t->t, tn, &e) != 1) continue;
            const void *p = e.post;
            size_t bytes = e.pn;
            int64_t df = e.df, cap = (int64_t)(bytes / 3);
            if (df <= 0) continue;
            if (df > cap) df = cap;                 /* what the list can hold, whatever the row says */
            if (nparts == capparts) { capparts = capparts ? capparts * 2 : 64; parts = xrealloc(parts, (size_t)capparts * sizeof *parts); }
            parts[nparts++] = (part){j, arena.len, bytes, df};
            rg_buf_put(&arena, p, bytes);
            t->df += df;
        }
        t->np = nparts - t->p0;
    }
    st_done(s, st);
    qsort(q->t, (size_t)q->n, sizeof *q->t, cmp_term_df);
    int64_t spent = 0;
    for (int i = 0; i < q->n; i++) {
        if (q->t[i].df <= 0) continue;                       /* in no chunk */
        if (spent && spent + q->t[i].df > LEX_POSTING_BUDGET) break;
        spent += q->t[i].df;
        ts = term_scores(&q->t[i], parts, (const unsigned char *)arena.data, g, &dead, ndocs, avgdl, &nts);
        if (!acc) { acc = ts; nacc = nts; }
        else {
            scored *m = merge_sum(acc, nacc, ts, nts, &nacc);
            free(acc);
            free(ts);
            acc = m;
        }
        ts = NULL;
    }
    int64_t nbest = 0;
    if (!filter_active(f)) {
        best = xmalloc(((size_t)k + 1) * sizeof *best);
        nbest = top_k(acc, nacc, k, best);
    } else {
        /* best first, each checked against the filter until k pass: the best W taken (the
         * order of the best W is a prefix of the order of the best 8W), checked from where the
         * last round stopped, W growing eightfold while too few pass */
        filter_params fp;
        char *cond = filter_sql(f, &fp);
        char *sql = xasprintf("SELECT 1 FROM chunks c JOIN documents d ON d.id = c.doc WHERE c.id = ? AND %s", cond);
        free(cond);
        st = st_prep(s, sql);
        free(sql);
        if (!st) goto out;
        best = xmalloc(((size_t)k + 1) * sizeof *best);
        scored *order = NULL;
        uint64_t fkey = filter_key(f);
        int64_t w = filter_first_fetch(s, fkey, k, (int64_t)k * 8 < 256 ? 256 : (int64_t)k * 8, nacc), checked = 0;
        for (;;) {
            if (w > nacc) w = nacc;
            order = xrealloc(order, ((size_t)w + 1) * sizeof *order);
            int64_t got = top_k(acc, nacc, w, order);
            for (; checked < got && nbest < k; checked++) {
                sqlite3_reset(st);
                sqlite3_bind_int64(st, 1, order[checked].id);
                filter_bind(st, 2, &fp);
                r = sqlite3_step(st);
                if (r == SQLITE_ROW) best[nbest++] = order[checked];
                else if (r != SQLITE_DONE) { free(order); st_done(s, st); st_fail(s, "bm25 filter"); goto out; }
            }
            if (nbest >= k || got >= nacc) break;
            w *= 8;
        }
        filter_rate_put(s, fkey, nbest, checked);
        free(order);
        st_done(s, st);
    }
    free(acc);
    acc = best;
    best = NULL;
    nacc = nbest;
    if (nacc > k) nacc = k;
    *out = xmalloc(((size_t)nacc + 1) * sizeof **out);
    for (int64_t i = 0; i < nacc; i++) (*out)[i] = (rg_hit){acc[i].id, acc[i].score};
    *n = (int)nacc;
    rc = 0;
out:
    free(g);
    free(dead.ids);
    free(acc);
    free(ts);
    free(best);
    free(parts);
    rg_buf_free(&arena);
    return rc;
}

/* One statement from the cache (sqlite3_exec would parse it again on every search). */
static int run_cached(rg_store *s, const char *sql) {
    sqlite3_stmt *st = st_prep(s, sql);
    if (!st) return -1;
    int r = sqlite3_step(st);
    st_done(s, st);
    return r == SQLITE_DONE ? 0 : st_fail(s, sql);
}

int rg_store_search_bm25(rg_store *s, const char *query, int k, const rg_search_filter *f,
                         rg_hit **out, int *n) {
    *out = NULL; *n = 0;
    if (k <= 0 || !query) return 0;
    if (!s->lextok && !(s->lextok = rg_lex_tok_new())) return -1;
    q_term terms[LEX_MAX_TERMS];
    q_terms q = {terms, 0, s->lextok};
    rg_lex_split(query, strlen(query), on_query_word, &q);
    if (!q.n) return 0;
    /* one read snapshot for all the queries: a merge committed between them would move
     * postings between segments */
    int own = sqlite3_get_autocommit(s->db);
    if (own && run_cached(s, "BEGIN") != 0) return -1;
    int rc = bm25_ranked(s, &q, k, f, out, n);
    if (own) run_cached(s, "COMMIT");
    return rc;
}

static int cmp_hit(const void *a, const void *b) {
    const rg_hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->chunk_id < y->chunk_id ? -1 : x->chunk_id > y->chunk_id;
}

/* Exact scoring of every chunk that passes the filter, from the stored vectors. */
static int dense_exact(rg_store *s, const float *q, int k, const rg_search_filter *f, rg_hit **out, int *n) {
    filter_params fp;
    char *cond = filter_sql(f, &fp);
    char *sql = xasprintf("SELECT v.chunk_id, v.vec FROM vectors v JOIN chunks c ON c.id = v.chunk_id "
                          "JOIN documents d ON d.id = c.doc WHERE %s", cond);
    free(cond);
    sqlite3_stmt *st = st_prep(s, sql);
    free(sql);
    if (!st) return -1;
    filter_bind(st, 1, &fp);
    int cap = 0, cnt = 0, rc;
    rg_hit *all = NULL;
    size_t vbytes = (size_t)s->dim * sizeof(float);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)sqlite3_column_bytes(st, 1) != vbytes) continue;
        const float *v = sqlite3_column_blob(st, 1);
        float dot = 0;
        for (int i = 0; i < s->dim; i++) dot += v[i] * q[i];
        if (cnt == cap) { cap = cap ? cap * 2 : 64; all = xrealloc(all, (size_t)cap * sizeof *all); }
        all[cnt].chunk_id = sqlite3_column_int64(st, 0);
        all[cnt].score = dot;
        cnt++;
    }
    st_done(s, st);
    if (rc != SQLITE_DONE) { free(all); return st_fail(s, "dense search"); }
    if (cnt) qsort(all, (size_t)cnt, sizeof *all, cmp_hit);
    *out = all;
    *n = cnt < k ? cnt : k;
    return 0;
}

#define DENSE_OVERFETCH_MAX 16384
/* Candidates an approximate (IVF-PQ) index returns per wanted hit before exact re-scoring:
 * product quantization misorders near neighbours, rarely drops them from a list this long
 * (recall@10 against exact search: bench/search). */
#define PQ_REFINE_FACTOR 8
#define PQ_REFINE_MIN 128

static int refine_count(int k) {
    int64_t r = (int64_t)k * PQ_REFINE_FACTOR;
    if (r < PQ_REFINE_MIN) r = PQ_REFINE_MIN;
    if (r > DENSE_OVERFETCH_MAX) r = DENSE_OVERFETCH_MAX;
    return (int)r;
}

/* Replaces approximate scores by exact inner products with the stored vectors (a hit whose
 * row is gone is dropped), best first. Returns the hits kept, or -1. */
static int exact_rescore(rg_store *s, const float *q, rg_hit *h, int n) {
    sqlite3_stmt *st = st_prep(s, "SELECT vec FROM vectors WHERE chunk_id = ?");
    if (!st) return -1;
    size_t vbytes = (size_t)s->dim * sizeof(float);
    int m = 0;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, h[i].chunk_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) continue;
        if (rc != SQLITE_ROW) { st_done(s, st); return st_fail(s, "dense re-scoring"); }
        if ((size_t)sqlite3_column_bytes(st, 0) != vbytes) continue;
        const float *v = sqlite3_column_blob(st, 0);
        float dot = 0;
        for (int j = 0; j < s->dim; j++) dot += v[j] * q[j];
        h[m].chunk_id = h[i].chunk_id;
        h[m].score = dot;
        m++;
    }
    st_done(s, st);
    if (m) qsort(h, (size_t)m, sizeof *h, cmp_hit);
    return m;
}

int rg_store_search_dense(rg_store *s, const float *q, int k, const rg_search_filter *f,
                          rg_hit **out, int *n) {
    *out = NULL; *n = 0;
    if (k <= 0) return 0;
    int64_t total = rg_vectors_count(s->vec);
    int approx = rg_vectors_approximate(s->vec);
    int want = approx ? refine_count(k) : k;   /* hits gathered before the cut to k */
    if (!filter_active(f)) {
        if (total == 0) return 0;
        int kk = (int64_t)want > total ? (int)total : want;
        float *sc = xmalloc((size_t)kk * sizeof *sc);
        int64_t *ids = xmalloc((size_t)kk * sizeof *ids);
        if (rg_vectors_search(s->vec, q, kk, sc, ids) != 0) { free(sc); free(ids); return -1; }
        *out = xmalloc((size_t)kk * sizeof **out);
        for (int i = 0; i < kk; i++) {
            if (ids[i] < 0) continue;
            (*out)[*n].chunk_id = ids[i];
            (*out)[*n].score = sc[i];
            (*n)++;
        }
        free(sc); free(ids);
        if (approx) {
            int m = exact_rescore(s, q, *out, *n);
            if (m < 0) { free(*out); *out = NULL; *n = 0; return -1; }
            *n = m < k ? m : k;
        }
        return 0;
    }
    /* One document: its chunks are few, score them exactly. */
    if (f->doc_id) return dense_exact(s, q, k, f, out, n);
    /* Otherwise over-fetch from FAISS with a growing k, keeping the hits that pass the filter,
     * until enough of them are found or FAISS is exhausted; a filter so selective that this
     * does not converge quickly falls back to exact scoring of the filtered set. */
    filter_params fp;
    char *cond = filter_sql(f, &fp);
    char *sql = xasprintf("SELECT 1 FROM chunks c JOIN documents d ON d.id = c.doc WHERE c.id = ? AND %s", cond);
    free(cond);
    sqlite3_stmt *st = st_prep(s, sql);
    free(sql);
    if (!st) return -1;
    /* every candidate costs a filter check here: re-score fewer of them than unfiltered */
    if (approx) want = k * 2 < 64 ? 64 : k * 2;
    uint64_t fkey = filter_key(f);
    int kk = (int)filter_first_fetch(s, fkey, want, want * 4 < 64 ? 64 : want * 4, DENSE_OVERFETCH_MAX);
    rg_hit *hits = xmalloc((size_t)want * sizeof *hits);
    int rc = 0;
    for (;;) {
        if ((int64_t)kk > total) kk = (int)total;
        float *sc = xmalloc(((size_t)kk + 1) * sizeof *sc);
        int64_t *ids = xmalloc(((size_t)kk + 1) * sizeof *ids);
        if (kk > 0 && rg_vectors_search(s->vec, q, kk, sc, ids) != 0) { free(sc); free(ids); rc = -1; break; }
        int cnt = 0, checked = 0;
        for (int i = 0; i < kk && cnt < want; i++) {
            if (ids[i] < 0) continue;
            checked++;
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, ids[i]);
            filter_bind(st, 2, &fp);
            int r = sqlite3_step(st);
            if (r == SQLITE_ROW) { hits[cnt].chunk_id = ids[i]; hits[cnt].score = sc[i]; cnt++; }
            else if (r != SQLITE_DONE) { st_fail(s, "dense filter"); rc = -1; break; }
        }
        free(sc); free(ids);
        if (rc != 0) break;
        filter_rate_put(s, fkey, cnt, checked);
        if (cnt >= want || (int64_t)kk >= total) { *n = cnt; break; }
        if (kk >= DENSE_OVERFETCH_MAX) {
            st_done(s, st);
            free(hits);
            return dense_exact(s, q, k, f, out, n);
        }
        kk *= 4;
    }
    st_done(s, st);
    if (rc != 0) { free(hits); *n = 0; return -1; }
    if (approx) {
        int m = exact_rescore(s, q, hits, *n);
        if (m < 0) { free(hits); *n = 0; return -1; }
        *n = m < k ? m : k;
    }
    *out = hits;
    return 0;
}
