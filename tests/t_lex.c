/* The BM25 index (index/lex.h): its words, and its rankings checked against BM25 computed
 * here from the stored chunks, through segment writes, merges, removals and damage. */
#include "check.h"
#include "core/util.h"
#include "index/lex.h"
#include "index/lex_block.h"
#include "index/lex_token.h"
#include "index/store.h"
#include "index/store_internal.h"
#include <math.h>
#include <sqlite3.h>
#include <string.h>

/* ---- words ---- */

typedef struct { char w[32][RG_LEX_MAX_WORD + 1]; int n; rg_buf all; } words;

static void collect(const char *w, size_t n, void *ctx) {
    words *ws = ctx;
    if (ws->all.len) rg_buf_putc(&ws->all, ' ');
    rg_buf_puts(&ws->all, n ? w : "<long>");
    if (ws->n < 32) snprintf(ws->w[ws->n++], RG_LEX_MAX_WORD + 1, "%s", n ? w : "");
}

static char *split(const char *text, int64_t *count) {
    words ws = {0};
    int64_t c = rg_lex_split(text, strlen(text), collect, &ws);
    if (count) *count = c;
    return ws.all.data ? rg_buf_take(&ws.all) : xstrdup("");
}

static void test_split_fold(void) {
    static const char *cases[][2] = {
        {"Revenue grew 12.5% to $1,452.4 million", "revenue grew 12 5 to 1 452 4 million"},
        {"U.S. GAAP; Inc.", "u s gaap inc"},
        {"Café NAÏVE Résumé", "cafe naive resume"},
        {"STRASSE straße", "strasse strasse"},          /* case folding, not lower-casing */
        {"ab\xff" "cd \xe2\x82", "ab cd"},                  /* invalid UTF-8 separates words */
        {"\xcc\x81x e\xcc\x81", "x e"},                    /* a leading mark is no word; a trailing one is stripped */
        {"Q4-2019 (12.6) 10-K", "q4 2019 12 6 10 k"},
        {"", ""},
        {"  \t\n ", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = split(cases[i][0], NULL);
        CHECK_STR(got, cases[i][1]);
        free(got);
    }
    /* a word too long to index still counts toward the length */
    char big[200];
    memset(big, 'x', 150);
    strcpy(big + 150, " end");
    int64_t n = 0;
    char *got = split(big, &n);
    CHECK_STR(got, "<long> end");
    CHECK_INT(n, 2);
    free(got);
    /* exactly RG_LEX_MAX_WORD bytes is indexable; one more is not */
    memset(big, 'y', RG_LEX_MAX_WORD + 1);
    big[RG_LEX_MAX_WORD] = 0;
    got = split(big, NULL);
    CHECK_INT(strlen(got), RG_LEX_MAX_WORD);
    free(got);
    big[RG_LEX_MAX_WORD] = 'y';
    big[RG_LEX_MAX_WORD + 1] = 0;
    got = split(big, NULL);
    CHECK_STR(got, "<long>");
    free(got);
}

static void test_stem_stop(void) {
    rg_lex_tok *t = rg_lex_tok_new();
    CHECKF(t != NULL, "%s", rg_errmsg());
    if (!t) return;
    static const char *cases[][2] = {
        {"running", "run"}, {"revenues", "revenu"}, {"increased", "increas"}, {"operations", "oper"},
        {"2019", "2019"}, {"q4", "q4"}, {"is", "is"}, {"cafe", "cafe"},
    };
    char out[RG_LEX_MAX_WORD + 1];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = rg_lex_stem(t, cases[i][0], strlen(cases[i][0]), out);
        CHECK_STR(out, cases[i][1]);
        CHECK_INT(n, strlen(cases[i][1]));
    }
    CHECK(rg_lex_stopword("the", 3));
    CHECK(rg_lex_stopword("which", 5));
    CHECK(!rg_lex_stopword("revenue", 7));
    CHECK(!rg_lex_stopword("th", 2));
    rg_lex_tok_free(t);
}

/* ---- rankings against a reference ---- */

#define NDOCS 600
#define PER_DOC 2

static const char *vocab[] = {"revenue", "revenues", "growth", "margin", "operating", "income", "cash", "debt",
    "equity", "segment", "Europe", "Asia", "pricing", "volume", "currency", "acquisition", "guidance",
    "the", "of", "and", "2019", "2018", "12.5", "dividend", "impairment", "goodwill", "lease", "tax"};
#define NVOCAB ((int)(sizeof vocab / sizeof *vocab))

static uint64_t rng = 88172645463325252ull;
static int pick(int n) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (int)(rng % (uint64_t)n); }

/* chunk texts: a few words, most of them common, a rare one now and then */
static char *make_text(int doc, int i) {
    rg_buf b = {0};
    int n = 3 + pick(30);
    for (int w = 0; w < n; w++) rg_buf_printf(&b, "%s%s", w ? " " : "", vocab[pick(NVOCAB) % (1 + pick(NVOCAB))]);
    if (pick(5) == 0) rg_buf_printf(&b, " rare%d", doc % 37);
    if (i == 1) rg_buf_puts(&b, " Item 7.");
    return rg_buf_take(&b);
}

typedef struct { int64_t id; char *text, *section; int live, doc; } ref_chunk;
typedef struct { ref_chunk *c; int n, cap; } ref_index;

static int put_doc(rg_store *s, ref_index *ref, const char *id, int seed) {
    rg_doc *d = rg_doc_new(id, id, "text");
    rg_chunk ch[PER_DOC];
    for (int i = 0; i < PER_DOC; i++)
        ch[i] = (rg_chunk){.kind = RG_CHUNK_TEXT, .text = make_text(seed, i), .section = xstrdup(i ? "Results of Operations" : ""),
                           .parent = -1, .table_index = -1, .ntokens = 10, .offset = -1};
    int rc = rg_store_put_doc(s, d, &(rg_source_stamp){"0", 1, 0, NULL, NULL}, ch, PER_DOC, NULL);
    rg_chunk_row *rows = NULL;
    int nr = 0;
    if (rc == 0 && rg_store_doc_chunks(s, id, &rows, &nr) == 0) {
        for (int i = 0; i < nr; i++) {
            if (ref->n == ref->cap) { ref->cap = ref->cap ? ref->cap * 2 : 256; ref->c = xrealloc(ref->c, (size_t)ref->cap * sizeof *ref->c); }
            ref->c[ref->n++] = (ref_chunk){rows[i].id, xstrdup(rows[i].text), xstrdup(rows[i].section ? rows[i].section : ""), 1, seed};
            rg_chunk_row_free(&rows[i]);
        }
        free(rows);
    }
    for (int i = 0; i < PER_DOC; i++) { free(ch[i].text); free(ch[i].section); }
    rg_doc_free(d);
    return rc;
}

typedef struct { char t[16][RG_LEX_MAX_WORD + 1]; int wtf[16]; int nt; int64_t len; rg_lex_tok *tok; int weight; } tf_ctx;

static void tf_word(const char *w, size_t n, void *ctx) {
    tf_ctx *c = ctx;
    c->len++;
    if (!n || rg_lex_stopword(w, n)) return;
    char stem[RG_LEX_MAX_WORD + 1];
    rg_lex_stem(c->tok, w, n, stem);
    for (int i = 0; i < c->nt; i++) if (strcmp(c->t[i], stem) == 0) c->wtf[i] += c->weight;
}

/* BM25 as FTS5's bm25(text 1.0, section 0.5) of the query over the live reference chunks. */
static int reference_top(ref_index *ref, rg_lex_tok *tok, const char *query, int k, int only_doc, rg_hit *out) {
    tf_ctx q = {.tok = tok};
    /* the query's terms */
    words ws = {0};
    rg_lex_split(query, strlen(query), collect, &ws);
    rg_buf_free(&ws.all);
    for (int i = 0; i < ws.n; i++) {
        if (!ws.w[i][0] || rg_lex_stopword(ws.w[i], strlen(ws.w[i]))) continue;
        char stem[RG_LEX_MAX_WORD + 1];
        rg_lex_stem(tok, ws.w[i], strlen(ws.w[i]), stem);
        int dup = 0;
        for (int j = 0; j < q.nt; j++) dup |= strcmp(q.t[j], stem) == 0;
        if (!dup && q.nt < 16) strcpy(q.t[q.nt++], stem);
    }
    int64_t N = 0, total = 0, df[16] = {0};
    tf_ctx *per = xcalloc((size_t)ref->n + 1, sizeof *per);
    for (int i = 0; i < ref->n; i++) {
        if (!ref->c[i].live) continue;
        tf_ctx *c = &per[i];
        *c = q;
        memset(c->wtf, 0, sizeof c->wtf);
        c->len = 0;
        c->weight = 2;
        rg_lex_split(ref->c[i].text, strlen(ref->c[i].text), tf_word, c);
        c->weight = 1;
        rg_lex_split(ref->c[i].section, strlen(ref->c[i].section), tf_word, c);
        N++;
        total += c->len;
        for (int j = 0; j < q.nt; j++) df[j] += c->wtf[j] > 0;
    }
    double avgdl = (double)total / (double)N;
    int m = 0;
    for (int i = 0; i < ref->n; i++) {
        if (!ref->c[i].live || (only_doc >= 0 && ref->c[i].doc != only_doc)) continue;
        double sc = 0;
        int any = 0;
        for (int j = 0; j < q.nt; j++) {
            if (!per[i].wtf[j]) continue;
            any = 1;
            double idf = log(((double)N - (double)df[j] + 0.5) / ((double)df[j] + 0.5));
            if (idf <= 0) idf = 1e-6;
            double w = 0.5 * per[i].wtf[j];
            sc += idf * w * 2.2 / (w + 1.2 * (0.25 + 0.75 * (double)per[i].len / avgdl));
        }
        if (!any) continue;
        /* insert into the sorted top k */
        rg_hit h = {ref->c[i].id, sc};
        int pos = m < k ? m : k;
        while (pos > 0 && (out[pos - 1].score < h.score || (out[pos - 1].score == h.score && out[pos - 1].chunk_id > h.chunk_id))) {
            if (pos < k) out[pos] = out[pos - 1];
            pos--;
        }
        if (pos < k) { out[pos] = h; if (m < k) m++; }
    }
    free(per);
    return m;
}

static const char *queries[] = {"revenue growth", "operating margin in Europe", "rare5", "goodwill impairment 2019",
                                "Results of Operations", "cash and debt", "the of and", "rare12 revenues tax"};

/* Every query's top 10 equals the reference's, scores to 1e-9; with only_doc >= 0, among that
 * document's chunks (a filter that passes few of the candidates). */
static int rankings_match_in(rg_store *s, ref_index *ref, rg_lex_tok *tok, int only_doc) {
    int bad = 0;
    char doc_id[32];
    snprintf(doc_id, sizeof doc_id, "doc%04d", only_doc);
    rg_search_filter f = {.doc_id = doc_id, .kind = -1};
    for (size_t qi = 0; qi < sizeof queries / sizeof *queries; qi++) {
        rg_hit want[10], *got = NULL;
        int nw = reference_top(ref, tok, queries[qi], 10, only_doc, want), ng = 0;
        if (rg_store_search_bm25(s, queries[qi], 10, only_doc >= 0 ? &f : NULL, &got, &ng) != 0) { fprintf(stderr, "search: %s\n", rg_errmsg()); return 1; }
        int ok = ng == nw;
        for (int i = 0; ok && i < ng; i++)
            ok = got[i].chunk_id == want[i].chunk_id && fabs(got[i].score - want[i].score) <= 1e-9 * fabs(want[i].score);
        if (!ok) {
            fprintf(stderr, "query \"%s\": %d hits, want %d", queries[qi], ng, nw);
            for (int i = 0; i < ng && i < 3; i++) fprintf(stderr, " | %lld %.6f vs %lld %.6f", (long long)got[i].chunk_id,
                                                          got[i].score, (long long)(i < nw ? want[i].chunk_id : -1), i < nw ? want[i].score : 0.0);
            fprintf(stderr, "\n");
            bad++;
        }
        free(got);
    }
    return bad;
}

static int rankings_match(rg_store *s, ref_index *ref, rg_lex_tok *tok) { return rankings_match_in(s, ref, tok, -1); }

static int64_t db_count(const char *dir, const char *sql) {
    char *path = xasprintf("%s/ragd.db", dir);
    sqlite3 *db = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    free(path);
    return v;
}

static rg_store *open_store(const char *dir, int writable) {
    rg_store_opts o = {.encoder = "none", .dim = 8, .writable = writable, .create = writable};
    return rg_store_open(dir, &o);
}

/* `ragd status --check` finds nothing wrong. */
static void expect_clean(rg_store *s) {
    char *rep = NULL;
    int rc = rg_store_check(s, &rep);
    CHECKF(rc == 0, "check: %s", rep ? rep : rg_errmsg());
    free(rep);
}

static void free_ref(ref_index *ref) {
    for (int i = 0; i < ref->n; i++) { free(ref->c[i].text); free(ref->c[i].section); }
    free(ref->c);
}

/* A fresh index, the reference beside it, and a tokenizer for the reference's queries. */
typedef struct { char *dir; rg_store *s; rg_lex_tok *tok; ref_index ref; } fixture;

static int fixture_open(fixture *f) {
    memset(f, 0, sizeof *f);
    f->dir = test_tmpdir();
    f->s = open_store(f->dir, 1);
    f->tok = rg_lex_tok_new();
    CHECKF(f->s && f->tok, "%s", rg_errmsg());
    return f->s && f->tok ? 0 : -1;
}

static void fixture_close(fixture *f) {
    rg_store_close(f->s);
    rg_lex_tok_free(f->tok);
    free_ref(&f->ref);
    test_rm_rf(f->dir);
    free(f->dir);
}

static void with_fixture(void (*body)(rg_store *, rg_lex_tok *, ref_index *, const char *)) {
    fixture f;
    if (fixture_open(&f) == 0) body(f.s, f.tok, &f.ref, f.dir);
    fixture_close(&f);
}

/* Documents committed one by one make a segment each; merges fold them into levels. The
 * rankings equal the reference's throughout, and a reader sees the same. */
static void segments_merges(rg_store *s, rg_lex_tok *tok, ref_index *ref, const char *dir) {
    char id[32];
    int64_t secure = st_count(s, "PRAGMA secure_delete");   /* the merges set FAST, then put it back */
    for (int d = 0; d < NDOCS; d++) {
        snprintf(id, sizeof id, "doc%04d", d);
        if (put_doc(s, ref, id, d) != 0) { CHECKF(0, "put: %s", rg_errmsg()); break; }
        if (d == 5) CHECK_INT(rankings_match(s, ref, tok), 0);    /* level 0 only */
    }
    CHECK_INT(ref->n, NDOCS * PER_DOC);
    /* 600 commits = 1*512 + 1*64 + 3*8 + 0 (base 8): segments on levels 3, 2, 1, 1, 1 */
    CHECK_INT(db_count(dir, "SELECT count(*) FROM lex_seg"), 5);
    CHECK_INT(db_count(dir, "SELECT count(*) FROM lex_seg WHERE level = 1"), 3);
    CHECK_INT(db_count(dir, "SELECT max(level) FROM lex_seg"), 3);
    CHECK_INT(db_count(dir, "SELECT sum(ndocs) FROM lex_seg"), NDOCS * PER_DOC);
    CHECK(secure == 0 || secure == 1);
    CHECK_INT(st_count(s, "PRAGMA secure_delete"), secure);
    CHECK_INT(rankings_match(s, ref, tok), 0);
    for (int d = 0; d < NDOCS; d += 149) CHECK_INT(rankings_match_in(s, ref, tok, d), 0);   /* filtered */
    expect_clean(s);
    rg_store *r = open_store(dir, 0);
    CHECK(r != NULL);
    if (r) { CHECK_INT(rankings_match(r, ref, tok), 0); rg_store_close(r); }
}
static void test_segments_merges(void) { with_fixture(segments_merges); }

/* Removed and replaced documents leave the rankings at once, idf and lengths included
 * (their postings wait in lex_dead), and merges drop their postings for good. */
static void removals(rg_store *s, rg_lex_tok *tok, ref_index *ref, const char *dir) {
    char id[32];
    CHECK_INT(rg_store_batch_begin(s), 0);
    for (int d = 0; d < 100; d++) {
        snprintf(id, sizeof id, "doc%04d", d);
        CHECK_INT(put_doc(s, ref, id, d), 0);
    }
    CHECK_INT(rg_store_batch_commit(s), 0);            /* one segment of 200 chunks */
    CHECK_INT(db_count(dir, "SELECT count(*) FROM lex_seg"), 1);
    /* remove every third document, replace every fifth */
    for (int d = 0; d < 100; d++) {
        snprintf(id, sizeof id, "doc%04d", d);
        if (d % 3 == 0) CHECK_INT(rg_store_remove_doc(s, id), 1);
        else if (d % 5 == 0) CHECK_INT(put_doc(s, ref, id, 1000 + d), 0);
    }
    /* the reference: a chunk is live when the store still has it */
    for (int i = 0; i < ref->n; i++) {
        rg_chunk_row row;
        int have = rg_store_get_chunk(s, ref->c[i].id, &row);
        if (have == 1) rg_chunk_row_free(&row);
        ref->c[i].live = have == 1;
    }
    int64_t dead = db_count(dir, "SELECT count(*) FROM lex_dead");
    CHECK(dead > 0);
    expect_clean(s);
    /* removed chunks are never found; the live ones rank exactly as the reference (built
     * from the live chunks alone) says */
    CHECK_INT(rankings_match(s, ref, tok), 0);
    for (size_t qi = 0; qi < sizeof queries / sizeof *queries; qi++) {
        rg_hit *h = NULL;
        int n = 0;
        CHECK_INT(rg_store_search_bm25(s, queries[qi], 1000, NULL, &h, &n), 0);
        for (int i = 0; i < n; i++) {
            int live = 0;
            for (int j = 0; j < ref->n; j++) if (ref->c[j].id == h[i].chunk_id) live = ref->c[j].live;
            CHECKF(live, "query \"%s\" found removed chunk %lld", queries[qi], (long long)h[i].chunk_id);
        }
        free(h);
    }
    /* enough further commits merge the first segment away, and its dead postings with it */
    for (int d = 100; d < 100 + 8 * 8; d++) {
        snprintf(id, sizeof id, "doc%04d", d);
        CHECK_INT(put_doc(s, ref, id, d), 0);
    }
    CHECK_INT(db_count(dir, "SELECT count(*) FROM lex_dead"), 0);
    CHECK_INT(rankings_match(s, ref, tok), 0);        /* exact again: no removed postings left */
    expect_clean(s);
}
static void test_removals(void) { with_fixture(removals); }

/* A transaction whose postings outgrow the writer's limit is written as several segments
 * as it goes (memory stays bounded); the rankings are the reference's all the same. */
static void limited_writer(rg_store *s, rg_lex_tok *tok, ref_index *ref, const char *dir) {
    rg_lex_writer_limit(s->lex, 600);   /* a few segments: fewer than a merge takes */
    char id[32];
    CHECK_INT(rg_store_batch_begin(s), 0);
    for (int d = 0; d < 100; d++) {
        snprintf(id, sizeof id, "doc%04d", d);
        CHECK_INT(put_doc(s, ref, id, d), 0);
    }
    CHECK_INT(rg_store_batch_commit(s), 0);
    int64_t segs = db_count(dir, "SELECT count(*) FROM lex_seg");
    CHECKF(segs > 1, "%lld segments", (long long)segs);
    CHECK_INT(db_count(dir, "SELECT sum(ndocs) FROM lex_seg"), 200);
    CHECK_INT(db_count(dir, "SELECT count(*) FROM lex_seg a JOIN lex_seg b ON a.id < b.id AND a.last >= b.first AND b.last >= a.first"), 0);
    CHECK_INT(rankings_match(s, ref, tok), 0);
    expect_clean(s);
    /* a rolled-back transaction leaves none of its early segments */
    ref_index dropped = {0};
    CHECK_INT(rg_store_batch_begin(s), 0);
    for (int d = 100; d < 140; d++) {
        snprintf(id, sizeof id, "doc%04d", d);
        CHECK_INT(put_doc(s, &dropped, id, d), 0);
    }
    CHECK_INT(rg_store_batch_rollback(s), 0);
    free_ref(&dropped);
    CHECK_INT(db_count(dir, "SELECT sum(ndocs) FROM lex_seg"), 200);
    CHECK_INT(rankings_match(s, ref, tok), 0);
}
static void test_limited_writer(void) { with_fixture(limited_writer); }

/* Numbers are terms by their digits: "7", "07" and "007" are three terms (short numbers
 * take the writer's direct table, longer ones its hash map), in one batch and across. */
static void test_number_terms(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (!s) { free(dir); return; }
    static const char *texts[] = {"value 7", "value 07 in 2019", "value 007", "value 0007 12345", "value 00007 123456789 7"};
    enum { NT = sizeof texts / sizeof *texts };
    rg_doc *d = rg_doc_new("nums", "nums", "text");
    rg_chunk ch[NT];
    for (int i = 0; i < NT; i++)
        ch[i] = (rg_chunk){.kind = RG_CHUNK_TEXT, .text = xstrdup(texts[i]), .section = xstrdup(""), .parent = -1,
                           .table_index = -1, .ntokens = 3, .offset = -1};
    CHECK_INT(rg_store_put_doc(s, d, &(rg_source_stamp){"0", 1, 0, NULL, NULL}, ch, NT, NULL), 0);
    /* query -> the chunks (ordinals) it must find, exactly */
    static const struct { const char *q; unsigned want; } cases[] = {
        {"7", 1u | 16u}, {"07", 2u}, {"007", 4u}, {"0007", 8u}, {"00007", 16u},
        {"2019", 2u}, {"12345", 8u}, {"123456789", 16u}, {"1234", 0u}, {"70", 0u},
    };
    rg_chunk_row *rows = NULL;
    int nr = 0;
    CHECK_INT(rg_store_doc_chunks(s, "nums", &rows, &nr), 0);
    CHECK_INT(nr, NT);
    for (size_t c = 0; c < sizeof cases / sizeof *cases && nr == NT; c++) {
        rg_hit *h = NULL;
        int n = 0;
        CHECK_INT(rg_store_search_bm25(s, cases[c].q, 10, NULL, &h, &n), 0);
        unsigned got = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < nr; j++) if (rows[j].id == h[i].chunk_id) got |= 1u << j;
        CHECKF(got == cases[c].want, "query \"%s\": found %#x, want %#x", cases[c].q, got, cases[c].want);
        free(h);
    }
    for (int i = 0; i < nr; i++) rg_chunk_row_free(&rows[i]);
    free(rows);
    for (int i = 0; i < NT; i++) { free(ch[i].text); free(ch[i].section); }
    rg_doc_free(d);
    expect_clean(s);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

/* A damaged posting list is reported by the check and never crashes a search. */
static void test_damage(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    ref_index ref = {0};
    CHECK(s != NULL);
    if (!s) goto out;
    char id[32];
    for (int d = 0; d < 20; d++) {
        snprintf(id, sizeof id, "doc%04d", d);
        CHECK_INT(put_doc(s, &ref, id, d), 0);
    }
    rg_store_close(s);
    s = NULL;
    char *path = xasprintf("%s/ragd.db", dir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    /* in five different segments, the block that holds a word: cut short, garbage, an entry
     * whose df is far beyond its list, a list that does not decode, a block in a missing segment */
    static const char *damage[][2] = {
        {"revenu", "data = substr(data, 1, length(data) / 2)"},
        {"growth", "data = x'ffffffffffffffffffffffff'"},
        {"margin", "term = 'margin', data = x'06' || CAST('margin' AS BLOB) || x'8094ebdc03' || x'03' || x'010101'"},
        {"cash", "term = 'cash', data = x'04' || CAST('cash' AS BLOB) || x'01' || x'01' || x'00'"},
        {"debt", "seg = 999"},
    };
    for (size_t i = 0; i < sizeof damage / sizeof *damage; i++) {
        char *sql = xasprintf("UPDATE lex_block SET %s WHERE (seg, term) = (SELECT seg, term FROM lex_block WHERE "
                              "seg = (SELECT DISTINCT seg FROM lex_block ORDER BY seg LIMIT 1 OFFSET %d) AND term <= '%s' "
                              "ORDER BY term DESC LIMIT 1)", damage[i][1], (int)i, damage[i][0]);
        CHECKF(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK && sqlite3_changes(db) == 1, "%s: %s", sql, sqlite3_errmsg(db));
        free(sql);
    }
    sqlite3_close(db);
    free(path);
    s = open_store(dir, 1);
    CHECK(s != NULL);
    if (!s) goto out;
    char *rep = NULL;
    CHECK_INT(rg_store_check(s, &rep), 1);
    CHECKF(rep && strstr(rep, "damaged") && strstr(rep, "without a segment"), "%s", rep ? rep : "");
    free(rep);
    static const char *qs[] = {"revenue", "growth", "margin", "cash", "debt", "revenue growth margin cash debt"};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        rg_hit *h = NULL;
        int n = -1;
        CHECK_INT(rg_store_search_bm25(s, qs[i], 10, NULL, &h, &n), 0);
        CHECK(n >= 0 && n <= 10);
        free(h);
    }
out:
    rg_store_close(s);
    free_ref(&ref);
    test_rm_rf(dir);
    free(dir);
}

/* ASCII text, the fast path of the splitter, against a plain reference: the same words, each
 * zero-padded as lex_token.h promises, in a buffer with no byte after its end (ASan checks
 * that nothing reads past it), words of every length around RG_LEX_PAD and at both ends. */
typedef struct { rg_buf all; int bad; } ascii_words;

static void ascii_word_cb(const char *w, size_t n, void *ctx) {
    ascii_words *a = ctx;
    if (a->all.len) rg_buf_putc(&a->all, ' ');
    rg_buf_puts(&a->all, n ? w : "<long>");
    if (n && strlen(w) != n) a->bad++;
    for (size_t i = n; n && i < RG_LEX_PAD; i++) if (w[i]) a->bad++;
}

static void test_split_ascii_reference(void) {
    static const char sep[] = " .,-$%()\n";
    int mismatches = 0, bad = 0;
    for (int round = 0; round < 4000; round++) {
        rg_buf text = {0}, want = {0};
        int nwords = 1 + pick(6);
        if (pick(2)) rg_buf_putc(&text, sep[pick((int)sizeof sep - 1)]);
        for (int k = 0; k < nwords; k++) {
            int len = pick(4) ? 1 + pick(30) : 60 + pick(10);
            char word[80];
            for (int i = 0; i < len; i++) {
                int r = pick(3);
                word[i] = (char)(r == 0 ? 'a' + pick(26) : r == 1 ? 'A' + pick(26) : '0' + pick(10));
            }
            rg_buf_put(&text, word, (size_t)len);
            if (want.len) rg_buf_putc(&want, ' ');
            if (len > RG_LEX_MAX_WORD) rg_buf_puts(&want, "<long>");
            else for (int i = 0; i < len; i++) rg_buf_putc(&want, (char)(word[i] >= 'A' && word[i] <= 'Z' ? word[i] + 32 : word[i]));
            if (k + 1 < nwords || pick(2)) rg_buf_putc(&text, sep[pick((int)sizeof sep - 1)]);
        }
        char *exact = xmalloc(text.len ? text.len : 1);   /* no terminator after the text */
        memcpy(exact, text.data, text.len);
        ascii_words got = {{0}, 0};
        rg_lex_split(exact, text.len, ascii_word_cb, &got);
        if (strcmp(got.all.data ? got.all.data : "", want.data ? want.data : "") != 0) mismatches++;
        bad += got.bad;
        free(exact);
        rg_buf_free(&got.all);
        rg_buf_free(&text);
        rg_buf_free(&want);
    }
    CHECK_INT(mismatches, 0);
    CHECK_INT(bad, 0);
}

/* Random bytes: the splitter passes on exactly the words it counts, each folded and bounded;
 * the posting decoder returns at most df postings, ids rising to at most last; a block's
 * entries never point outside it. */
typedef struct { int64_t words; int bad; } fuzz_ctx;

static void fuzz_word(const char *w, size_t n, void *ctx) {
    fuzz_ctx *c = ctx;
    c->words++;
    if (n > RG_LEX_MAX_WORD || strlen(w) != n) c->bad++;
    for (size_t i = 0; i < n; i++) if (w[i] >= 'A' && w[i] <= 'Z') c->bad++;   /* folded */
}

static void test_random_input(void) {
    unsigned char buf[512];
    rg_lex_posting ps[600];
    int bad_split = 0, bad_decode = 0, bad_block = 0;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)pick((int)sizeof buf);
        for (size_t i = 0; i < n; i++) {
            int r = pick(8);   /* mostly ASCII words and separators, some high bytes */
            buf[i] = (unsigned char)(r < 4 ? 'a' + pick(26) : r < 5 ? 'A' + pick(26) : r < 6 ? ' ' : pick(256));
        }
        fuzz_ctx c = {0, 0};
        int64_t words = rg_lex_split((const char *)buf, n, fuzz_word, &c);
        if (words != c.words || c.bad) bad_split++;
        /* a block of entries: every entry read lies inside the blob */
        rg_lex_block blk = {buf, n, 0};
        rg_lex_entry e;
        int r, entries = 0;
        while ((r = rg_lex_block_next(&blk, &e)) == 1 && entries++ < 1000)
            if (e.tn == 0 || e.tn > RG_LEX_MAX_WORD || (const unsigned char *)e.term < buf ||
                (const unsigned char *)e.term + e.tn > buf + n || e.post < buf || e.post + e.pn > buf + n || e.df <= 0)
                bad_block++;
        if (r == 1 || rg_lex_block_find(buf, n, "revenu", 6, &e) > 1) bad_block++;
        int64_t df = pick(600), last = pick(100000) - 10;
        int64_t got = rg_lex_decode(buf, n, df, last, ps);
        if (got < 0 || got > df) { bad_decode++; continue; }
        for (int64_t i = 0; i < got; i++)
            if (ps[i].id > last || ps[i].id <= (i ? ps[i - 1].id : 0) || ps[i].wtf == 0) { bad_decode++; break; }
    }
    CHECK_INT(bad_split, 0);
    CHECK_INT(bad_decode, 0);
    CHECK_INT(bad_block, 0);
}

int main(void) {
    RUN(test_split_fold);
    RUN(test_split_ascii_reference);
    RUN(test_stem_stop);
    RUN(test_segments_merges);
    RUN(test_removals);
    RUN(test_limited_writer);
    RUN(test_number_terms);
    RUN(test_damage);
    RUN(test_random_input);
    TESTS_DONE();
}
