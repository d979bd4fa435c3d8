/* BERT encoder against a PyTorch reference on tiny random models (tests/models, built by
 * scripts/make_tiny_bert.py): F32 within 1e-4, F16 and Q8_0 cosine >= 0.999, CLS and mean
 * pooling, batched == unbatched, scalar == AVX2, 1 == 3 threads, the encoder interface,
 * prefixes, and clean failures on damaged model files. */
#include "check.h"
#include "core/util.h"
#include "embed/bert.h"
#include "nn/kernels.h"
#include <jansson.h>
#include <pthread.h>

#define MDIR "tests/models/"
#define MAXS 16

static int nsent;
static char *texts[MAXS];
static int32_t ref_ids[MAXS][128];
static int ref_len[MAXS];
static float ref_mean[MAXS][32], ref_cls[MAXS][32];

static int load_reference(void) {
    json_error_t err;
    json_t *r = json_load_file(MDIR "tiny-bert.reference.json", 0, &err);
    if (!r) return -1;
    json_t *ss = json_object_get(r, "sentences");
    for (size_t i = 0; i < json_array_size(ss) && nsent < MAXS; i++) {
        json_t *s = json_array_get(ss, i);
        texts[nsent] = xstrdup(json_string_value(json_object_get(s, "text")));
        json_t *ids = json_object_get(s, "ids"), *mean = json_object_get(s, "mean"), *cls = json_object_get(s, "cls");
        ref_len[nsent] = (int)json_array_size(ids);
        for (size_t k = 0; k < json_array_size(ids) && k < 128; k++)
            ref_ids[nsent][k] = (int32_t)json_integer_value(json_array_get(ids, k));
        for (size_t k = 0; k < 32; k++) {
            ref_mean[nsent][k] = (float)json_real_value(json_array_get(mean, k));
            ref_cls[nsent][k] = (float)json_real_value(json_array_get(cls, k));
        }
        nsent++;
    }
    json_decref(r);
    return nsent > 0 ? 0 : -1;
}

static double maxdiff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}
static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    return ab / sqrt(aa * bb);
}

/* Embeds the reference sentences with a model and compares with the reference. */
static void check_model(const char *file, int cls, double tol_abs, double min_cos) {
    rg_bert *m = rg_bert_load(file, 2);
    CHECKF(m, "%s", rg_errmsg());
    if (!m) return;
    CHECK_INT(rg_bert_dim(m), 32);
    CHECK_INT(rg_bert_max_tokens(m), 64);
    int32_t ids[128];
    for (int s = 0; s < nsent; s++) {
        int n = rg_wordpiece_encode(rg_bert_tokenizer(m), texts[s], strlen(texts[s]), ids, 64);
        int same = n == ref_len[s];
        for (int k = 0; same && k < n; k++) same = ids[k] == ref_ids[s][k];
        CHECKF(same, "%s: tokens of sentence %d differ", file, s);
    }
    float out[MAXS * 32];
    CHECKF(rg_bert_embed_texts(m, (const char *const *)texts, nsent, 0, out) == 0, "%s", rg_errmsg());
    for (int s = 0; s < nsent; s++) {
        const float *ref = cls ? ref_cls[s] : ref_mean[s];
        if (tol_abs > 0) CHECKF(maxdiff(out + s * 32, ref, 32) <= tol_abs, "%s sentence %d: max diff %g", file, s, maxdiff(out + s * 32, ref, 32));
        CHECKF(cosine(out + s * 32, ref, 32) >= min_cos, "%s sentence %d: cosine %g", file, s, cosine(out + s * 32, ref, 32));
    }
    /* batched == unbatched */
    float one[32];
    for (int s = 0; s < nsent; s++) {
        CHECK(rg_bert_embed_texts(m, (const char *const *)&texts[s], 1, 0, one) == 0);
        CHECKF(maxdiff(one, out + s * 32, 32) <= 1e-6, "%s: batched vs single %g", file, maxdiff(one, out + s * 32, 32));
    }
    /* scalar kernels == AVX2 kernels */
    float sc[MAXS * 32];
    rg_bert_set_impl(m, RG_IMPL_SCALAR);
    CHECK(rg_bert_embed_texts(m, (const char *const *)texts, nsent, 0, sc) == 0);
    CHECKF(maxdiff(sc, out, nsent * 32) <= 2e-5, "%s: scalar vs avx2 %g", file, maxdiff(sc, out, nsent * 32));
    rg_bert_free(m);
}

static void test_f32(void) { check_model(MDIR "tiny-bert-f32.gguf", 0, 1e-4, 0.99999); }
static void test_f16(void) { check_model(MDIR "tiny-bert-f16.gguf", 0, 0, 0.999); }
static void test_q8_0(void) { check_model(MDIR "tiny-bert-q8_0.gguf", 0, 0, 0.999); }
static void test_cls(void) { check_model(MDIR "tiny-bert-cls-f32.gguf", 1, 1e-4, 0.99999); }

/* Many texts: several packed passes, each output still that of its own text. */
static void test_many(void) {
    rg_bert *m = rg_bert_load(MDIR "tiny-bert-q8_0.gguf", 2);
    CHECK(m);
    if (!m) return;
    enum { NT = 700 };
    const char **t = xmalloc(NT * sizeof *t);
    float *out = xmalloc(sizeof(float) * NT * 32), one[MAXS][32];
    for (int i = 0; i < NT; i++) t[i] = texts[(i * 5) % nsent];
    for (int s = 0; s < nsent; s++) CHECK(rg_bert_embed_texts(m, (const char *const *)&texts[s], 1, 0, one[s]) == 0);
    CHECK(rg_bert_embed_texts(m, t, NT, 0, out) == 0);
    int bad = 0;
    for (int i = 0; i < NT; i++) bad += maxdiff(out + i * 32, one[(i * 5) % nsent], 32) > 1e-6;
    CHECK_INT(bad, 0);
    CHECK(rg_bert_embed_texts(m, t, 0, 0, out) == 0);
    free(t);
    free(out);
    rg_bert_free(m);
}

static void test_threads(void) {
    rg_bert *a = rg_bert_load(MDIR "tiny-bert-q8_0.gguf", 1), *b = rg_bert_load(MDIR "tiny-bert-q8_0.gguf", 3);
    CHECK(a && b);
    if (a && b) {
        float x[MAXS * 32], y[MAXS * 32];
        CHECK(rg_bert_embed_texts(a, (const char *const *)texts, nsent, 1, x) == 0);
        CHECK(rg_bert_embed_texts(b, (const char *const *)texts, nsent, 1, y) == 0);
        CHECK(maxdiff(x, y, nsent * 32) == 0);
    }
    rg_bert_free(a);
    rg_bert_free(b);
}

/* The encoder is used from several threads at once (the daemon): same results. */
typedef struct { rg_encoder *e; float out[MAXS * 32]; int rc; } conc_arg;
static void *conc_run(void *p) {
    conc_arg *a = p;
    for (int r = 0; r < 3 && a->rc == 0; r++)
        a->rc = a->e->embed(a->e, (const char *const *)texts, nsent, 0, a->out);
    return NULL;
}

static void test_concurrent(void) {
    rg_encoder *e = rg_bert_encoder_open(MDIR "tiny-bert-f16.gguf", 2);
    CHECK(e);
    if (!e) return;
    static conc_arg a[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) { a[i].e = e; a[i].rc = 0; pthread_create(&th[i], NULL, conc_run, &a[i]); }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) CHECK(a[i].rc == 0 && maxdiff(a[i].out, a[0].out, nsent * 32) == 0);
    e->destroy(e);
}

static void test_encoder(void) {
    unsetenv("RAGD_QUERY_PREFIX");
    unsetenv("RAGD_PASSAGE_PREFIX");
    rg_encoder *e = rg_bert_encoder_open(MDIR "tiny-bert-f32.gguf", 2);
    CHECKF(e, "%s", rg_errmsg());
    if (!e) return;
    CHECK(strncmp(e->name, "gguf:tiny-bert:", 15) == 0 && strlen(e->name) == 23);
    CHECK_INT(e->dim, 32);
    float q[32], p[32];
    const char *t[] = { texts[0] };
    CHECK(e->embed(e, t, 1, 1, q) == 0 && e->embed(e, t, 1, 0, p) == 0);
    CHECK(maxdiff(q, p, 32) == 0);                  /* no prefixes for this model */
    CHECK(maxdiff(p, ref_mean[0], 32) <= 1e-4);
    double nn = 0;
    for (int i = 0; i < 32; i++) nn += (double)p[i] * p[i];
    CHECK_NEAR(nn, 1.0, 1e-5);
    e->destroy(e);
    /* the f16 file has the same header apart from types: a different fingerprint */
    rg_encoder *e16 = rg_bert_encoder_open(MDIR "tiny-bert-f16.gguf", 1);
    rg_encoder *e32 = rg_bert_encoder_open(MDIR "tiny-bert-f32.gguf", 1);
    CHECK(e16 && e32 && strcmp(e16->name, e32->name) != 0);
    if (e16) e16->destroy(e16);
    if (e32) e32->destroy(e32);
    /* prefixes from the environment: a query is embedded as "query: " + text */
    setenv("RAGD_QUERY_PREFIX", "what is ", 1);
    e = rg_bert_encoder_open(MDIR "tiny-bert-f32.gguf", 1);
    CHECK(e);
    if (e) {
        char *pt = xasprintf("what is %s", texts[0]);
        const char *t2[] = { pt };
        CHECK(e->embed(e, t, 1, 1, q) == 0 && e->embed(e, t2, 1, 0, p) == 0);
        CHECK(maxdiff(q, p, 32) == 0);
        CHECK(maxdiff(q, ref_mean[0], 32) > 1e-3);
        free(pt);
        e->destroy(e);
    }
    unsetenv("RAGD_QUERY_PREFIX");
}

/* Prefixes follow the model name (general.name), unless the environment overrides them. */
static void test_prefix_by_name(void) {
    char *dir = test_tmpdir();
    size_t len;
    char *data = rg_read_file(MDIR "tiny-bert-f32.gguf", 1 << 24, &len);
    char *hit = data ? memmem(data, len, "tiny-bert", 9) : NULL;
    CHECK(hit);
    static const struct { const char *name, *q, *p; } cases[] = {
        { "e5-small2", "query: ", "passage: " },
        { "bge-smol1", "Represent this sentence for searching relevant passages: ", "" },
        { "minilm-l6", "", "" },
    };
    for (size_t i = 0; hit && i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(hit, cases[i].name, 9);
        char path[1200];
        snprintf(path, sizeof path, "%s/m.gguf", dir);
        FILE *f = fopen(path, "wb");
        fwrite(data, 1, len, f);
        fclose(f);
        rg_bert *m = rg_bert_load(path, 1);
        CHECKF(m, "%s", rg_errmsg());
        if (!m) continue;
        CHECK_STR(rg_bert_name(m), cases[i].name);
        CHECK_STR(rg_bert_prefix(m, 1), cases[i].q);
        CHECK_STR(rg_bert_prefix(m, 0), cases[i].p);
        rg_bert_free(m);
        setenv("RAGD_PASSAGE_PREFIX", "doc: ", 1);
        m = rg_bert_load(path, 1);
        CHECK(m && !strcmp(rg_bert_prefix(m, 0), "doc: ") && !strcmp(rg_bert_prefix(m, 1), cases[i].q));
        rg_bert_free(m);
        unsetenv("RAGD_PASSAGE_PREFIX");
    }
    free(data);
    test_rm_rf(dir);
    free(dir);
}

static void test_damaged(void) {
    char *dir = test_tmpdir();
    size_t len;
    char *data = rg_read_file(MDIR "tiny-bert-q8_0.gguf", 1 << 24, &len);
    CHECK(data);
    if (!data) { test_rm_rf(dir); free(dir); return; }
    char path[1200];
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    /* truncated at a few points: always a clean error naming the file */
    size_t cuts[] = { 0, 10, 100, 1000, len / 2, len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *f = fopen(path, "wb");
        fwrite(data, 1, cuts[i], f);
        fclose(f);
        rg_encoder *e = rg_bert_encoder_open(path, 1);
        CHECKF(!e && strstr(rg_errmsg(), "bad.gguf"), "cut %zu: %s", cuts[i], rg_errmsg());
        if (e) e->destroy(e);
    }
    /* a renamed tensor: missing weight */
    char *hit = memmem(data, len, "blk.1.ffn_up.weight", 19);
    CHECK(hit);
    if (hit) {
        hit[4] = '7';
        FILE *f = fopen(path, "wb");
        fwrite(data, 1, len, f);
        fclose(f);
        rg_encoder *e = rg_bert_encoder_open(path, 1);
        CHECKF(!e && strstr(rg_errmsg(), "blk.1.ffn_up.weight"), "%s", rg_errmsg());
        if (e) e->destroy(e);
        hit[4] = '1';
    }
    /* another architecture */
    hit = memmem(data, len, "bert", 4);
    if (hit) {
        memcpy(hit, "gpt2", 4);
        FILE *f = fopen(path, "wb");
        fwrite(data, 1, len, f);
        fclose(f);
        rg_encoder *e = rg_bert_encoder_open(path, 1);
        CHECK(!e && strstr(rg_errmsg(), "not a BERT"));
        if (e) e->destroy(e);
    }
    /* bad token ids and lengths to the low-level call */
    rg_bert *m = rg_bert_load(MDIR "tiny-bert-f32.gguf", 1);
    if (m) {
        int32_t ids[3] = { 2, 100000, 3 };
        const int32_t *pp[1] = { ids };
        int l = 3;
        float out[32];
        CHECK(rg_bert_embed_tokens(m, pp, &l, 1, out) == -1);
        l = 65;
        CHECK(rg_bert_embed_tokens(m, pp, &l, 1, out) == -1);
        rg_bert_free(m);
    }
    free(data);
    test_rm_rf(dir);
    free(dir);
}

int main(void) {
    unsetenv("RAGD_QUERY_PREFIX");
    unsetenv("RAGD_PASSAGE_PREFIX");
    if (load_reference()) {
        printf("not ok load_reference: cannot read " MDIR "tiny-bert.reference.json (run from the repo root)\n");
        return 1;
    }
    printf("# kernels: %s\n", rg_kernels_name(RG_IMPL_AUTO));
    RUN(test_f32);
    RUN(test_f16);
    RUN(test_q8_0);
    RUN(test_cls);
    RUN(test_many);
    RUN(test_threads);
    RUN(test_encoder);
    RUN(test_concurrent);
    RUN(test_prefix_by_name);
    RUN(test_damaged);
    for (int i = 0; i < nsent; i++) free(texts[i]);
    TESTS_DONE();
}
