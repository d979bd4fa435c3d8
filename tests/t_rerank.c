/* Cross-encoder reranker against a PyTorch reference on a tiny random reranker GGUF
 * (tests/models/tiny-bert-rerank-f32.gguf, built by scripts/make_tiny_bert.py): scores within
 * 1e-4 (pair encoding with token types and truncation, pooler + classifier head, and the
 * classifier alone as llama.cpp's converter writes BERT cross-encoders), the same
 * ranking, batching and threads do not change scores, concurrent callers, and clean errors
 * for an embedding model, damaged files and missing files. */
#include "check.h"
#include "core/util.h"
#include "embed/rerank.h"
#include "nn/kernels.h"
#include <jansson.h>
#include <pthread.h>

#define MDIR "tests/models/"
#define MAXQ 4
#define MAXP 16

static int nq, np;
static char *queries[MAXQ], *passages[MAXP];
static double ref[MAXQ][MAXP], ref_nopool[MAXQ][MAXP];

static int load_reference(void) {
    json_error_t err;
    json_t *r = json_load_file(MDIR "tiny-bert-rerank.reference.json", 0, &err);
    if (!r) return -1;
    json_t *qs = json_object_get(r, "queries");
    for (size_t i = 0; i < json_array_size(qs) && nq < MAXQ; i++) {
        json_t *q = json_array_get(qs, i), *ps = json_object_get(q, "passages");
        queries[nq] = xstrdup(json_string_value(json_object_get(q, "query")));
        np = 0;
        for (size_t k = 0; k < json_array_size(ps) && np < MAXP; k++, np++) {
            json_t *p = json_array_get(ps, k);
            if (nq == 0) passages[np] = xstrdup(json_string_value(json_object_get(p, "text")));
            ref[nq][np] = json_real_value(json_object_get(p, "score"));
            ref_nopool[nq][np] = json_real_value(json_object_get(p, "score_nopool"));
        }
        nq++;
    }
    json_decref(r);
    return nq > 0 && np > 1 ? 0 : -1;
}

static void test_scores(void) {
    rg_reranker *r = rg_reranker_open(MDIR "tiny-bert-rerank-f32.gguf", 2);
    CHECKF(r, "%s", rg_errmsg());
    if (!r) return;
    CHECK_STR(rg_reranker_name(r), "gguf:tiny-bert-rerank");
    for (int q = 0; q < nq; q++) {
        float s[MAXP];
        CHECKF(rg_reranker_score(r, queries[q], (const char *const *)passages, np, s) == 0, "%s", rg_errmsg());
        double md = 0;
        for (int i = 0; i < np; i++) md = fmax(md, fabs(s[i] - ref[q][i]));
        CHECKF(md <= 1e-4, "query %d: max difference %g", q, md);
        /* the same ranking as the reference: every pair of passages in the same order */
        int bad = 0;
        for (int i = 0; i < np; i++)
            for (int j = 0; j < np; j++) bad += (ref[q][i] > ref[q][j] + 1e-3) && !(s[i] > s[j]);
        CHECKF(bad == 0, "query %d: %d pairs ordered differently", q, bad);
        /* one passage at a time gives the same scores as a packed batch */
        for (int i = 0; i < np; i++) {
            float one;
            CHECK(rg_reranker_score(r, queries[q], (const char *const *)&passages[i], 1, &one) == 0);
            CHECKF(fabs(one - s[i]) <= 1e-5, "query %d passage %d alone: %g vs %g", q, i, one, s[i]);
        }
    }
    /* NULL passage = empty text; n = 0 is a no-op */
    const char *nul[1] = { NULL };
    float sn;
    CHECK(rg_reranker_score(r, queries[0], nul, 1, &sn) == 0);
    for (int i = 0; i < np; i++)
        if (!*passages[i]) CHECK_NEAR(sn, ref[0][i], 1e-4);
    CHECK(rg_reranker_score(r, queries[0], nul, 0, &sn) == 0);
    rg_reranker_close(r);
}

/* the file without a pooler: the classifier reads the [CLS] state directly */
static void test_no_pooler(void) {
    rg_reranker *r = rg_reranker_open(MDIR "tiny-bert-rerank-nopool-f32.gguf", 2);
    CHECKF(r, "%s", rg_errmsg());
    if (!r) return;
    for (int q = 0; q < nq; q++) {
        float s[MAXP];
        CHECK(rg_reranker_score(r, queries[q], (const char *const *)passages, np, s) == 0);
        double md = 0, diff = 0;
        for (int i = 0; i < np; i++) {
            md = fmax(md, fabs(s[i] - ref_nopool[q][i]));
            diff = fmax(diff, fabs(ref_nopool[q][i] - ref[q][i]));
        }
        CHECKF(md <= 1e-4, "query %d: max difference %g", q, md);
        CHECK(diff > 0.1);                 /* the pooler matters: the two references differ */
    }
    rg_reranker_close(r);
}

static void test_one_thread(void) {
    rg_reranker *a = rg_reranker_open(MDIR "tiny-bert-rerank-f32.gguf", 1);
    CHECK(a);
    if (!a) return;
    float s[MAXP];
    CHECK(rg_reranker_score(a, queries[1], (const char *const *)passages, np, s) == 0);
    double md = 0;
    for (int i = 0; i < np; i++) md = fmax(md, fabs(s[i] - ref[1][i]));
    CHECKF(md <= 1e-4, "1 thread: %g", md);
    rg_reranker_close(a);
}

typedef struct { rg_reranker *r; int q, rc; float s[MAXP]; } conc_arg;

static void *conc_run(void *p) {
    conc_arg *a = p;
    for (int k = 0; k < 5 && a->rc == 0; k++)
        a->rc = rg_reranker_score(a->r, queries[a->q], (const char *const *)passages, np, a->s);
    return NULL;
}

static void test_concurrent(void) {
    rg_reranker *r = rg_reranker_open(MDIR "tiny-bert-rerank-f32.gguf", 2);
    CHECK(r);
    if (!r) return;
    conc_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i].r = r;
        a[i].q = i % nq;
        a[i].rc = 0;
        pthread_create(&th[i], NULL, conc_run, &a[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK(a[i].rc == 0);
        double md = 0;
        for (int k = 0; k < np; k++) md = fmax(md, fabs(a[i].s[k] - ref[a[i].q][k]));
        CHECKF(md <= 1e-4, "thread %d: %g", i, md);
    }
    rg_reranker_close(r);
}

static void test_not_a_reranker(void) {
    /* an embedding model: a BERT without the classification head */
    rg_reranker *r = rg_reranker_open(MDIR "tiny-bert-f32.gguf", 1);
    CHECKF(!r && strstr(rg_errmsg(), "tiny-bert-f32.gguf") && strstr(rg_errmsg(), "not a reranker"), "%s", rg_errmsg());
    rg_reranker_close(r);
    r = rg_reranker_open(MDIR "no-such-model.gguf", 1);
    CHECK(!r && strstr(rg_errmsg(), "no-such-model.gguf"));
    /* a decoder GGUF */
    r = rg_reranker_open(MDIR "tiny-llama-f32.gguf", 1);
    CHECKF(!r && strstr(rg_errmsg(), "not a BERT"), "%s", rg_errmsg());
    rg_reranker_close(r);
}

static void test_damaged(void) {
    char *dir = test_tmpdir();
    size_t len;
    char *data = rg_read_file(MDIR "tiny-bert-rerank-f32.gguf", 1 << 24, &len);
    CHECK(data && dir);
    if (!data || !dir) { free(data); free(dir); return; }
    char path[1200];
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    size_t cuts[] = { 0, 7, 300, len / 3, len - 200, len - 30 };   /* the last 28 bytes are padding */
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *f = fopen(path, "wb");
        fwrite(data, 1, cuts[i], f);
        fclose(f);
        rg_reranker *r = rg_reranker_open(path, 1);
        CHECKF(!r && strstr(rg_errmsg(), "bad.gguf"), "cut %zu: %s", cuts[i], rg_errmsg());
        rg_reranker_close(r);
    }
    /* the classifier renamed away: not a reranker */
    char *hit = memmem(data, len, "cls.output.weight", 17);
    CHECK(hit);
    if (hit) {
        hit[0] = 'x';
        FILE *f = fopen(path, "wb");
        fwrite(data, 1, len, f);
        fclose(f);
        rg_reranker *r = rg_reranker_open(path, 1);
        CHECKF(!r && strstr(rg_errmsg(), "cls.output.weight"), "%s", rg_errmsg());
        rg_reranker_close(r);
        hit[0] = 'c';
    }
    free(data);
    test_rm_rf(dir);
    free(dir);
}

int main(void) {
    printf("# kernels: %s\n", rg_kernels_name(RG_IMPL_AUTO));
    if (load_reference()) {
        printf("not ok load_reference: " MDIR "tiny-bert-rerank.reference.json missing or invalid\n");
        return 1;
    }
    RUN(test_scores);
    RUN(test_no_pooler);
    RUN(test_one_thread);
    RUN(test_concurrent);
    RUN(test_not_a_reranker);
    RUN(test_damaged);
    for (int i = 0; i < nq; i++) free(queries[i]);
    for (int i = 0; i < np; i++) free(passages[i]);
    TESTS_DONE();
}
