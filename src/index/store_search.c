/* index/store_search: BM25 over FTS5 and dense search over FAISS, both with filters. */
#include "index/store_internal.h"
#include "core/util.h"
#include "index/vectors.h"
#include <ctype.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- search ---- */

static int is_stopword(const char *w) {
    static const char *stop[] = {"a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for",
        "from", "had", "has", "have", "how", "in", "is", "it", "its", "of", "on", "or", "the", "that", "this",
        "to", "was", "were", "what", "when", "which", "who", "with", NULL};
    for (int i = 0; stop[i]; i++) if (strcasecmp(w, stop[i]) == 0) return 1;
    return 0;
}

#define FTS_MAX_WORDS 64
#define FTS_MAX_WORD_BYTES 64
/* Postings BM25 may read per query. FTS5 scores every row that matches any query term, so a
 * term found in a large share of a big corpus makes a query slow while adding almost nothing
 * to the ranking (its idf is near zero). Terms are taken rarest first until this budget is
 * spent; the rarest always counts. Small corpora never reach it. */
#define FTS_POSTING_BUDGET 8000

typedef struct { char w[FTS_MAX_WORD_BYTES + 1]; int64_t df; } fts_word;

/* The query's words: runs of letters and digits (any non-ASCII byte counts as a letter), so
 * no FTS5 operator, column filter, quote or parenthesis survives; stopwords and duplicates
 * dropped. */
static int fts_words(const char *q, fts_word *out) {
    char w[FTS_MAX_WORD_BYTES + 2];
    size_t wl = 0;
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)q;; p++) {
        int c = *p;
        if (c && (isalnum(c) || c >= 0x80)) { if (wl <= FTS_MAX_WORD_BYTES) w[wl++] = (char)c; continue; }
        if (wl && wl <= FTS_MAX_WORD_BYTES && n < FTS_MAX_WORDS) {
            w[wl] = 0;
            int dup = is_stopword(w);
            for (int i = 0; i < n && !dup; i++) dup = strcasecmp(out[i].w, w) == 0;
            if (!dup) { memcpy(out[n].w, w, wl + 1); out[n].df = -1; n++; }
        }
        wl = 0;
        if (!c) break;
    }
    return n;
}

/* ---- document frequencies, counted only as far as they matter ---- */

/* Fills each word's document frequency (the number of chunks holding it; a word the index's
 * tokenizer splits is a phrase, counted as such), counted no further than cap + 1: past the
 * budget only "too common" matters. Counting through the FTS index itself, with a LIMIT, costs
 * at most cap + 1 postings per word; the fts5vocab table would read a common word's whole
 * posting list (tens of milliseconds for a word in most of a million chunks). */
static int fts_doc_freqs(rg_store *s, fts_word *w, int n, int64_t cap) {
    sqlite3_stmt *st = st_prep(s, "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ?1 LIMIT ?2)");
    if (!st) return -1;
    char phrase[FTS_MAX_WORD_BYTES + 3];
    for (int i = 0; i < n; i++) {
        size_t wl = strnlen(w[i].w, FTS_MAX_WORD_BYTES);
        phrase[0] = '"';
        memcpy(phrase + 1, w[i].w, wl);
        phrase[wl + 1] = '"';
        phrase[wl + 2] = 0;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, phrase, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, cap + 1);
        if (sqlite3_step(st) != SQLITE_ROW) { st_done(s, st); return -1; }
        w[i].df = sqlite3_column_int64(st, 0);
    }
    st_done(s, st);
    return 0;
}

static int cmp_df(const void *a, const void *b) {
    int64_t x = ((const fts_word *)a)->df, y = ((const fts_word *)b)->df;
    return x < y ? -1 : x > y;
}

/* The FTS5 query: the chosen words, each quoted, OR-ed. It is bound as a parameter, never
 * spliced into SQL. NULL when nothing in the text can match. */
static char *fts_query(rg_store *s, const char *q) {
    fts_word w[FTS_MAX_WORDS];
    int n = fts_words(q, w);
    if (!n) return NULL;
    if (fts_doc_freqs(s, w, n, FTS_POSTING_BUDGET) == 0) {
        qsort(w, (size_t)n, sizeof *w, cmp_df);
        int m = 0;
        while (m < n && w[m].df == 0) m++;         /* in no chunk: cannot contribute */
        memmove(w, w + m, (size_t)(n - m) * sizeof *w);
        n -= m;
        int64_t spent = 0;
        for (m = 0; m < n; m++) {
            if (m > 0 && spent + w[m].df > FTS_POSTING_BUDGET) break;
            spent += w[m].df;
        }
        n = m;
        if (!n) return NULL;
    }
    rg_buf b = {0};
    for (int i = 0; i < n; i++) {
        if (b.len) rg_buf_puts(&b, " OR ");
        rg_buf_putc(&b, '"');
        rg_buf_puts(&b, w[i].w);
        rg_buf_putc(&b, '"');
    }
    return rg_buf_take(&b);
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

int rg_store_search_bm25(rg_store *s, const char *query, int k, const rg_search_filter *f,
                         rg_hit **out, int *n) {
    *out = NULL; *n = 0;
    if (k <= 0) return 0;
    char *q = fts_query(s, query ? query : "");
    if (!q) return 0;
    filter_params fp;
    fp.n = 0;
    /* Column weights: the chunk text (table rows carry their headers inline) counts fully,
     * the section path half. Without a filter the FTS table is ranked alone (its rowids are
     * chunk ids, kept in step by the store): joining every matching row first costs twice as
     * much on a big index. The selected score is the ORDER BY expression itself, so SQLite
     * computes it once per row (a negated copy would be a second bm25() call). */
    char *sql;
    if (filter_active(f)) {
        char *cond = filter_sql(f, &fp);
        sql = xasprintf("SELECT c.id, bm25(chunks_fts, 1.0, 0.5) FROM chunks_fts "
                        "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.doc "
                        "WHERE chunks_fts MATCH ? AND %s ORDER BY bm25(chunks_fts, 1.0, 0.5) LIMIT ?", cond);
        free(cond);
    } else {
        sql = xstrdup("SELECT rowid, bm25(chunks_fts, 1.0, 0.5) FROM chunks_fts WHERE chunks_fts MATCH ? "
                      "ORDER BY bm25(chunks_fts, 1.0, 0.5) LIMIT ?");
    }
    sqlite3_stmt *st = st_prep(s, sql);
    free(sql);
    if (!st) { free(q); return -1; }
    sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
    filter_bind(st, 2, &fp);
    sqlite3_bind_int(st, 2 + fp.n, k);
    free(q);
    *out = xmalloc((size_t)k * sizeof **out);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < k) {
        (*out)[*n].chunk_id = sqlite3_column_int64(st, 0);
        (*out)[*n].score = -sqlite3_column_double(st, 1);   /* FTS5: lower is better */
        (*n)++;
    }
    st_done(s, st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) { free(*out); *out = NULL; *n = 0; return st_fail(s, "bm25 search"); }
    return 0;
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
    int kk = want * 4 < 64 ? 64 : want * 4;
    rg_hit *hits = xmalloc((size_t)want * sizeof *hits);
    int rc = 0;
    for (;;) {
        if ((int64_t)kk > total) kk = (int)total;
        float *sc = xmalloc(((size_t)kk + 1) * sizeof *sc);
        int64_t *ids = xmalloc(((size_t)kk + 1) * sizeof *ids);
        if (kk > 0 && rg_vectors_search(s->vec, q, kk, sc, ids) != 0) { free(sc); free(ids); rc = -1; break; }
        int cnt = 0;
        for (int i = 0; i < kk && cnt < want; i++) {
            if (ids[i] < 0) continue;
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, ids[i]);
            filter_bind(st, 2, &fp);
            int r = sqlite3_step(st);
            if (r == SQLITE_ROW) { hits[cnt].chunk_id = ids[i]; hits[cnt].score = sc[i]; cnt++; }
            else if (r != SQLITE_DONE) { st_fail(s, "dense filter"); rc = -1; break; }
        }
        free(sc); free(ids);
        if (rc != 0) break;
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
