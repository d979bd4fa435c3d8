/* Reranking inside rg_search with the tiny cross-encoder of tests/models (tiny-*rerank*.gguf):
 * the results are the top fused candidates re-ordered by the reranker's own scores (checked
 * against rg_reranker_score called directly), cut to k, with the fused score kept; every
 * mode reranks; no reranker leaves the fused order alone; a missing model is an error. */
#include "check.h"
#include "core/util.h"
#include "index/store.h"
#include "retrieve/search.h"
#include <glob.h>
#include <stdint.h>

#include "toy_embed.h"
#define DIM TOY_DIM

static int toy_encoder_embed(rg_encoder *e, const char *const *texts, int n, int is_query, float *out) {
    for (int i = 0; i < n; i++) toy_embed(texts[i], out + (size_t)i * DIM);
    return 0;
}
static rg_encoder toy_enc = {.name = "toy-16", .dim = DIM, .embed = toy_encoder_embed};

static const char *texts[] = {
    "Revenue grew strongly in 2019 thanks to cloud services",
    "Revenue fell in 2021 as the retail segment shrank",
    "Operating costs were stable across the year",
    "The company paid a quarterly dividend of 12 cents",
    "Cloud revenue doubled while hardware revenue declined",
    "Net income rose on lower interest expense",
    "Revenue from services made up half of total revenue",
    "Headcount grew to 4,200 employees",
    "Gross margin improved to 41 percent on revenue mix",
    "The board approved a share buyback programme",
};
#define NDOCS (int)(sizeof texts / sizeof *texts)
#define SECTION "Annual report > Results"

static char *dir, *model;
static rg_store *st;
static rg_reranker *rr;

static void setup(void) {
    dir = test_tmpdir();
    rg_store_opts o = {.encoder = toy_enc.name, .dim = DIM, .writable = 1, .create = 1};
    st = rg_store_open(dir, &o);
    if (!st) { fprintf(stderr, "open: %s\n", rg_errmsg()); exit(1); }
    for (int i = 0; i < NDOCS; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%02d.txt", i);
        rg_doc *d = rg_doc_new(id, id, "text");
        rg_chunk ch;
        memset(&ch, 0, sizeof ch);
        ch.kind = RG_CHUNK_TEXT;
        ch.text = (char *)texts[i];
        ch.section = SECTION;
        ch.parent = -1;
        ch.table_index = -1;
        ch.offset = -1;
        float v[DIM];
        toy_embed(texts[i], v);
        if (rg_store_put_doc(st, d, NULL, &ch, 1, v) != 0) { fprintf(stderr, "put: %s\n", rg_errmsg()); exit(1); }
        rg_doc_free(d);
    }
    if (rg_store_flush(st) != 0) { fprintf(stderr, "flush: %s\n", rg_errmsg()); exit(1); }
}

/* What the search gives the reranker for a result: the section line, then the text. */
static float direct_score(const char *query, const char *text) {
    char *p = xasprintf("%s\n%s", SECTION, text);
    const char *ps[1] = {p};
    float s = NAN;
    if (rg_reranker_score(rr, query, ps, 1, &s) != 0) s = NAN;
    free(p);
    return s;
}

static void test_rerank_orders_by_model(void) {
    static const rg_search_mode modes[] = {RG_MODE_HYBRID, RG_MODE_BM25, RG_MODE_DENSE};
    const char *q = "revenue growth from cloud services";
    for (int m = 0; m < 3; m++) {
        rg_search_opts o;
        rg_search_opts_default(&o);
        o.mode = modes[m];
        o.k = NDOCS;
        rg_results plain;
        CHECK(rg_search(st, &toy_enc, q, &o, &plain) == 0);
        o.k = 3;
        o.rerank_top = 6;
        o.reranker = rr;
        rg_results r;
        CHECK(rg_search(st, &toy_enc, q, &o, &r) == 0);
        int expect_scored = plain.n < 6 ? plain.n : 6;
        CHECKF(r.reranked == expect_scored, "mode %d: scored %d, want %d", m, r.reranked, expect_scored);
        CHECK_INT(r.n, expect_scored < 3 ? expect_scored : 3);
        CHECK(r.t_rerank > 0);
        /* the best 3 by the model's own score among the top 6 fused candidates */
        float best[6];
        int nb = 0;
        for (int i = 0; i < expect_scored; i++) best[nb++] = direct_score(q, plain.v[i].text);
        for (int i = 0; i < r.n; i++) {
            int pos = -1;
            for (int j = 0; j < expect_scored; j++) if (plain.v[j].chunk_id == r.v[i].chunk_id) pos = j;
            CHECKF(pos >= 0, "mode %d: result %d not among the top fused candidates", m, i);
            if (pos < 0) continue;
            CHECK_NEAR(r.v[i].score, best[pos], 1e-4);
            CHECK_NEAR(r.v[i].fused_score, plain.v[pos].score, 1e-9);
            if (i > 0) CHECK(r.v[i - 1].score >= r.v[i].score);
            /* nothing left out scores higher than what was kept */
            int outranked = 0;
            for (int j = 0; j < nb; j++) outranked += best[j] > r.v[i].score + 1e-4;
            CHECKF(outranked <= i, "mode %d: result %d is outranked by %d candidates", m, i, outranked);
        }
        rg_results_free(&r);
        rg_results_free(&plain);
    }
}

static void test_rerank_k_above_top(void) {
    /* k larger than rerank_top: every returned result is scored by the model */
    rg_search_opts o;
    rg_search_opts_default(&o);
    o.k = 8;
    o.rerank_top = 2;
    o.reranker = rr;
    rg_results r;
    CHECK(rg_search(st, &toy_enc, "revenue", &o, &r) == 0);
    CHECK(r.n > 2 && r.reranked == r.n);
    for (int i = 1; i < r.n; i++) CHECK(r.v[i - 1].score >= r.v[i].score);
    rg_results_free(&r);
    /* and a query nothing matches reranks nothing, without error */
    o.mode = RG_MODE_BM25;
    CHECK(rg_search(st, NULL, "zzqx", &o, &r) == 0);
    CHECK_INT(r.n, 0);
    CHECK_INT(r.reranked, 0);
    rg_results_free(&r);
}

static void test_no_reranker_keeps_fused(void) {
    rg_search_opts o;
    rg_search_opts_default(&o);
    rg_results r;
    CHECK(rg_search(st, &toy_enc, "revenue cloud", &o, &r) == 0);
    CHECK_INT(r.reranked, 0);
    CHECK(r.t_rerank == 0);
    for (int i = 0; i < r.n; i++) CHECK(r.v[i].score == r.v[i].fused_score);
    rg_results_free(&r);
}

static void test_hostile_query_reranked(void) {
    /* a 1 MB query, quotes and operators: results or a clean error, never a crash */
    size_t n = (size_t)1 << 20;
    char *big = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = "revenue \"NEAR( *AND) "[i % 21];
    big[n] = 0;
    rg_search_opts o;
    rg_search_opts_default(&o);
    o.reranker = rr;
    o.mode = RG_MODE_BM25;
    rg_results r;
    CHECK(rg_search(st, NULL, big, &o, &r) == 0);
    CHECK(r.n > 0 && r.reranked == r.n);
    rg_results_free(&r);
    free(big);
}

static void test_missing_model(void) {
    char *p = xasprintf("%s/no-such-reranker.gguf", dir);
    rg_reranker *bad = rg_reranker_open(p, 1);
    CHECK(bad == NULL);
    CHECK(strstr(rg_errmsg(), "no-such-reranker.gguf") != NULL);
    if (bad) rg_reranker_close(bad);
    free(p);
}

int main(void) {
    const char *env = getenv("RAGD_TEST_RERANKER");   /* another model to run the tests with */
    if (env && *env) model = xstrdup(env);
    else {
        glob_t g;
        if (glob("tests/models/tiny-*rerank*.gguf", 0, NULL, &g) == 0 && g.gl_pathc > 0) model = xstrdup(g.gl_pathv[0]);
        globfree(&g);
    }
    setup();
    RUN(test_missing_model);
    if (!model) {
        SKIP(test_rerank_orders_by_model, "no tests/models/tiny-*rerank*.gguf");
    } else {
        rr = rg_reranker_open(model, 1);
        if (!rr) {
            printf("not ok open_tiny_reranker: %s: %s\n", model, rg_errmsg());
            tests_failed_++;
        } else {
            RUN(test_rerank_orders_by_model);
            RUN(test_rerank_k_above_top);
            RUN(test_hostile_query_reranked);
            rg_reranker_close(rr);
        }
    }
    RUN(test_no_reranker_keeps_fused);
    rg_store_close(st);
    test_rm_rf(dir);
    free(dir);
    free(model);
    TESTS_DONE();
}
