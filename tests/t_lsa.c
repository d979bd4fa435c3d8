/* Tests for the LSA encoder (embed/lsa.h), its model file, the refit policy and re-embedding
 * (serve/lsa_refit.h, rg_store_reembed), and its retrieval quality on TAT-QA dev. */
#include "check.h"
#include "core/util.h"
#include "embed/lsa.h"
#include "index/store.h"
#include "retrieve/search.h"
#include "serve/index_job.h"
#include "serve/lsa_refit.h"
#include <jansson.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a synthetic corpus: four topics with their own words ---- */

static const char *topics[4][10] = {
    {"revenue", "sales", "customers", "growth", "subscription", "contracts", "billing", "bookings", "pricing", "demand"},
    {"pension", "retirement", "actuarial", "benefit", "obligation", "discount", "mortality", "plan", "funded", "trustees"},
    {"inventory", "warehouse", "shipping", "logistics", "freight", "supplier", "stock", "pallets", "distribution", "carrier"},
    {"lease", "property", "rent", "tenant", "landlord", "premises", "building", "occupancy", "square", "footage"},
};

static uint64_t rng_state = 88172645463325252ULL;
static unsigned rnd(unsigned n) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* A text of 40 words: topic words and a few shared ones. */
static char *topic_text(int t) {
    static const char *common[] = {"company", "year", "total", "million", "report"};
    rg_buf b = {0};
    for (int i = 0; i < 40; i++) {
        const char *w = (i % 5 == 4) ? common[rnd(5)] : topics[t][rnd(10)];
        rg_buf_printf(&b, "%s%s", i ? " " : "", w);
    }
    rg_buf_puts(&b, ".\n");
    return rg_buf_take(&b);
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef struct { char terms[64][100]; int n; } term_list;
static void grab(const char *t, int len, void *ctx) {
    term_list *l = ctx;
    if (l->n < 64 && len < 100) { memcpy(l->terms[l->n], t, (size_t)len); l->terms[l->n][len] = 0; l->n++; }
}
static int has_term(const term_list *l, const char *t) {
    for (int i = 0; i < l->n; i++) if (strcmp(l->terms[i], t) == 0) return 1;
    return 0;
}

static void test_tokens(void) {
    term_list l = {.n = 0};
    rg_lsa_tokens("Revenues increased to $1,452.4 million in 2019, the Company's Operating Income.", grab, &l);
    CHECK(has_term(&l, "revenu"));
    CHECK(has_term(&l, "increas"));
    CHECK(has_term(&l, "1452.4"));
    CHECK(has_term(&l, "2019"));
    CHECK(has_term(&l, "operat incom"));   /* a word pair */
    CHECK(!has_term(&l, "the"));            /* stop word */
    CHECK(!has_term(&l, "s"));              /* one letter */
    term_list l2 = {.n = 0};
    rg_lsa_tokens("revenue increasing", grab, &l2);
    CHECK(has_term(&l2, "revenu") && has_term(&l2, "increas"));
    term_list l3 = {.n = 0};
    rg_lsa_tokens(NULL, grab, &l3);
    rg_lsa_tokens("", grab, &l3);
    CHECK_INT(l3.n, 0);
}

static rg_lsa_model *fit_topics(int ndocs, char ***texts_out) {
    rg_lsa_builder *b = rg_lsa_builder_new();
    char **texts = xcalloc((size_t)ndocs, sizeof *texts);
    for (int i = 0; i < ndocs; i++) { texts[i] = topic_text(i % 4); rg_lsa_builder_add(b, texts[i]); }
    rg_lsa_model *m = rg_lsa_fit(b, RG_LSA_DIM, 42);
    rg_lsa_builder_free(b);
    *texts_out = texts;
    return m;
}

static void test_fit_separates_topics(void) {
    char **texts;
    rg_lsa_model *m = fit_topics(200, &texts);
    CHECKF(m != NULL, "%s", rg_errmsg());
    if (!m) return;
    CHECK_INT(rg_lsa_model_dim(m), RG_LSA_DIM);
    CHECK_INT(rg_lsa_model_fit_chunks(m), 200);
    float *v = xmalloc(200 * RG_LSA_DIM * sizeof *v);
    for (int i = 0; i < 200; i++) {
        int seen = 0;
        int known = rg_lsa_embed_one(m, texts[i], v + i * RG_LSA_DIM, &seen);
        CHECK(known > 0 && known <= seen);
        CHECK_NEAR(dot(v + i * RG_LSA_DIM, v + i * RG_LSA_DIM, RG_LSA_DIM), 1.0, 1e-4);
    }
    /* Each text's nearest other text is of its own topic, nearly always. */
    int right = 0;
    for (int i = 0; i < 200; i++) {
        int nn = -1;
        double nd = -2;
        for (int j = 0; j < 200; j++) {
            double d = j == i ? -2 : dot(v + i * RG_LSA_DIM, v + j * RG_LSA_DIM, RG_LSA_DIM);
            if (d > nd) { nd = d; nn = j; }
        }
        right += nn % 4 == i % 4;
    }
    CHECKF(right >= 190, "%d of 200 nearest neighbours share the topic", right);
    /* A short query of topic words lands nearest to its topic's texts. */
    float q[RG_LSA_DIM];
    rg_lsa_embed_one(m, "pension obligation", q, NULL);
    int best = -1;
    double bd = -2;
    for (int i = 0; i < 200; i++) { double d = dot(q, v + i * RG_LSA_DIM, RG_LSA_DIM); if (d > bd) { bd = d; best = i; } }
    CHECK_INT(best % 4, 1);
    /* Unknown words only: a zero vector, not NaN. */
    int known = rg_lsa_embed_one(m, "zyzzyva quokka", q, NULL);
    CHECK_INT(known, 0);
    CHECK_NEAR(dot(q, q, RG_LSA_DIM), 0.0, 0);
    /* Fitting is reproducible for a seed. */
    rg_lsa_builder *b = rg_lsa_builder_new();
    for (int i = 0; i < 200; i++) rg_lsa_builder_add(b, texts[i]);
    rg_lsa_model *m2 = rg_lsa_fit(b, RG_LSA_DIM, 42);
    rg_lsa_builder_free(b);
    float a[RG_LSA_DIM], c[RG_LSA_DIM];
    rg_lsa_embed_one(m, texts[3], a, NULL);
    rg_lsa_embed_one(m2, texts[3], c, NULL);
    CHECK_NEAR(dot(a, c, RG_LSA_DIM), 1.0, 1e-4);
    rg_lsa_model_unref(m2);
    for (int i = 0; i < 200; i++) free(texts[i]);
    free(texts); free(v);
    rg_lsa_model_unref(m);
}

static void test_fit_tiny_and_empty(void) {
    rg_lsa_builder *b = rg_lsa_builder_new();
    CHECK(rg_lsa_fit(b, RG_LSA_DIM, 1) == NULL);    /* nothing to fit */
    rg_lsa_builder_add(b, "the of and");              /* stop words only */
    CHECK(rg_lsa_fit(b, RG_LSA_DIM, 1) == NULL);
    CHECK(strstr(rg_errmsg(), "LSA fit") != NULL);
    rg_lsa_builder_add(b, "pension plan assets");
    rg_lsa_builder_add(b, "lease of the building");
    rg_lsa_model *m = rg_lsa_fit(b, RG_LSA_DIM, 1);   /* 3 texts: rank <= 3, still 256 dims */
    CHECKF(m != NULL, "%s", rg_errmsg());
    if (m) {
        float v[RG_LSA_DIM];
        CHECK(rg_lsa_embed_one(m, "pension", v, NULL) == 1);
        CHECK_NEAR(dot(v, v, RG_LSA_DIM), 1.0, 1e-4);
        int nz = 0;
        for (int i = 0; i < RG_LSA_DIM; i++) nz += v[i] != 0;
        CHECK(nz >= 1 && nz <= 3);
        rg_lsa_model_unref(m);
    }
    rg_lsa_builder_free(b);
}

/* Rewrites the file's trailing checksum after a deliberate edit, so that the loader's other
 * checks are reached. */
static void reseal(unsigned char *data, size_t len) {
    unsigned int n = 0;
    EVP_Digest(data, len - 32, data + len - 32, &n, EVP_sha256(), NULL);
}

static int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void test_model_file(void) {
    char *dir = test_tmpdir();
    char **texts;
    rg_lsa_model *m = fit_topics(120, &texts);
    CHECK(m != NULL);
    if (!m) { test_rm_rf(dir); free(dir); return; }
    char *path = xasprintf("%s/lsa-1.bin", dir), *bad = xasprintf("%s/bad.bin", dir);
    CHECK_INT(rg_lsa_save(m, path), 0);
    rg_lsa_model *l = rg_lsa_load(path);
    CHECKF(l != NULL, "%s", rg_errmsg());
    if (l) {
        CHECK_INT(rg_lsa_model_terms(l), rg_lsa_model_terms(m));
        CHECK_INT(rg_lsa_model_fit_chunks(l), 120);
        float a[RG_LSA_DIM], b[RG_LSA_DIM];
        rg_lsa_embed_one(m, texts[5], a, NULL);
        rg_lsa_embed_one(l, texts[5], b, NULL);
        CHECK(memcmp(a, b, sizeof a) == 0);
        rg_lsa_model_unref(l);
    }
    size_t len = 0;
    unsigned char *data = (unsigned char *)rg_read_file(path, 1 << 28, &len);
    CHECK(data && len > 100);
    if (data) {
        unsigned char *c = xmalloc(len);
        /* one flipped byte in the projection */
        memcpy(c, data, len); c[len - 100] ^= 1;
        write_bytes(bad, c, len);
        CHECK(rg_lsa_load(bad) == NULL && strstr(rg_errmsg(), "checksum"));
        /* truncated */
        write_bytes(bad, data, len / 2);
        CHECK(rg_lsa_load(bad) == NULL);
        write_bytes(bad, data, 10);
        CHECK(rg_lsa_load(bad) == NULL && strstr(rg_errmsg(), "truncated"));
        /* resealed lies in the header: term count, dimension, magic */
        uint32_t huge = 3000000;
        memcpy(c, data, len); memcpy(c + 20, &huge, 4); reseal(c, len);
        write_bytes(bad, c, len);
        CHECK(rg_lsa_load(bad) == NULL && strstr(rg_errmsg(), "out of range"));
        uint32_t more = (uint32_t)rg_lsa_model_terms(m) + 1;
        memcpy(c, data, len); memcpy(c + 20, &more, 4); reseal(c, len);
        write_bytes(bad, c, len);
        CHECK(rg_lsa_load(bad) == NULL);
        uint32_t dim = 0;
        memcpy(c, data, len); memcpy(c + 12, &dim, 4); reseal(c, len);
        write_bytes(bad, c, len);
        CHECK(rg_lsa_load(bad) == NULL);
        memcpy(c, data, len); c[0] = 'X'; reseal(c, len);
        write_bytes(bad, c, len);
        CHECK(rg_lsa_load(bad) == NULL && strstr(rg_errmsg(), "not an LSA model"));
        /* a NaN in the projection */
        float nan = NAN;
        memcpy(c, data, len); memcpy(c + len - 32 - 8, &nan, 4); reseal(c, len);
        write_bytes(bad, c, len);
        CHECK(rg_lsa_load(bad) == NULL && strstr(rg_errmsg(), "non-finite"));
        free(c);
    }
    free(data);
    CHECK(rg_lsa_load("/nonexistent/lsa.bin") == NULL);
    for (int i = 0; i < 120; i++) free(texts[i]);
    free(texts); free(path); free(bad);
    rg_lsa_model_unref(m);
    test_rm_rf(dir);
    free(dir);
}

/* ---- the pipeline: fitting, folding in, refitting, crash safety ---- */

static void write_docs(const char *dir, int from, int to) {
    for (int i = from; i < to; i++) {
        char *p = xasprintf("%s/doc%03d.txt", dir, i);
        char *t = topic_text(i % 4);
        test_write_file(p, t);
        free(p); free(t);
    }
}

static int index_dir(const char *idx, const char *docs, rg_index_report *r) {
    rg_encoder *e = rg_encoder_open("lsa", idx);
    if (!e) return -1;
    rg_store_opts so = {.encoder = e->name, .dim = e->dim, .writable = 1, .create = 1};
    rg_store *s = rg_store_open(idx, &so);
    if (!s) { rg_encoder_free(e); return -1; }
    rg_index_opts o;
    rg_index_opts_default(&o);
    char *paths[] = {(char *)docs};
    memset(r, 0, sizeof *r);
    int rc = rg_index_run(s, e, paths, 1, &o, r);
    rg_index_report_free(r);
    rg_store_close(s);
    rg_encoder_free(e);
    return rc;
}

static int file_exists(const char *dir, const char *name) {
    char *p = xasprintf("%s/%s", dir, name);
    int ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

/* Every stored vector is the current encoder's embedding of its chunk: searching with a chunk's
 * own embedding finds it first with score 1. Returns the number of chunks checked. */
typedef struct { rg_store *s; rg_encoder *e; int checked, bad; } verify_ctx;
static int verify_one(int64_t id, const char *text, void *p) {
    verify_ctx *c = p;
    float v[RG_LSA_DIM];
    if (rg_encoder_embed(c->e, &text, 1, 0, v) != 0) { c->bad++; return 0; }
    rg_hit *h = NULL;
    int n = 0;
    rg_store_search_dense(c->s, v, 3, NULL, &h, &n);
    int found = 0;
    for (int i = 0; i < n; i++) if (h[i].chunk_id == id && h[i].score > 0.999) found = 1;
    if (!found) c->bad++;
    c->checked++;
    free(h);
    return 0;
}

static int verify_index(const char *idx, int *bad) {
    rg_encoder *e = rg_encoder_open("lsa", idx);
    rg_store_opts so = {.encoder = e ? e->name : NULL, .dim = e ? e->dim : 0};
    rg_store *s = e ? rg_store_open(idx, &so) : NULL;
    if (!s) { rg_encoder_free(e); *bad = -1; return 0; }
    verify_ctx c = {s, e, 0, 0};
    rg_store_each_chunk(s, verify_one, &c);
    char *report = NULL;
    if (rg_store_check(s, &report) != 0) c.bad++;
    free(report);
    rg_store_close(s);
    rg_encoder_free(e);
    *bad = c.bad;
    return c.checked;
}

static void test_pipeline_refit(void) {
    char *root = test_tmpdir();
    char *idx = xasprintf("%s/idx", root), *docs = xasprintf("%s/docs", root);
    mkdir(docs, 0755);
    rg_index_report r;
    int bad = 0;
    /* Tiny corpus: version 0, hashed vectors, consistent. */
    write_docs(docs, 0, 10);
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(rg_lsa_index_version(idx), 0);
    CHECK(!file_exists(idx, "lsa-1.bin"));
    CHECK_INT(verify_index(idx, &bad), 10);
    CHECK_INT(bad, 0);
    /* Past RG_LSA_MIN_CHUNKS: the first fit, everything re-embedded. */
    write_docs(docs, 10, 60);
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(rg_lsa_index_version(idx), 1);
    CHECK(file_exists(idx, "lsa-1.bin"));
    CHECK_INT(verify_index(idx, &bad), 60);
    CHECK_INT(bad, 0);
    /* A few more: folded in with model 1. */
    write_docs(docs, 60, 80);
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(rg_lsa_index_version(idx), 1);
    CHECK_INT(verify_index(idx, &bad), 80);
    CHECK_INT(bad, 0);
    /* Doubled since the fit: model 2, the old file gone. */
    write_docs(docs, 80, 125);
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(rg_lsa_index_version(idx), 2);
    CHECK(file_exists(idx, "lsa-2.bin") && !file_exists(idx, "lsa-1.bin"));
    CHECK_INT(verify_index(idx, &bad), 125);
    CHECK_INT(bad, 0);
    /* Dense search through the retrieval layer finds a topic's document. */
    rg_encoder *e = rg_encoder_open("lsa", idx);
    rg_store_opts so = {.encoder = e->name, .dim = e->dim};
    rg_store *s = rg_store_open(idx, &so);
    CHECK(s != NULL);
    if (s) {
        rg_search_opts o;
        rg_search_opts_default(&o);
        o.mode = RG_MODE_DENSE;
        o.k = 5;
        rg_results res = {0};
        CHECK_INT(rg_search(s, e, "landlord tenant premises", &o, &res), 0);
        CHECK(res.n == 5);
        for (int i = 0; i < res.n; i++) {
            int num = -1;
            if (res.v[i].doc_id) sscanf(res.v[i].doc_id, "doc%d", &num);
            CHECKF(num >= 0 && num % 4 == 3, "hit %s", res.v[i].doc_id);
        }
        rg_results_free(&res);
        rg_store_close(s);
    }
    rg_encoder_free(e);
    /* A corrupt model file: the encoder reports it; the next index run refits (version 3). */
    char *m2 = xasprintf("%s/lsa-2.bin", idx);
    test_write_file(m2, "garbage");
    e = rg_encoder_open("lsa", idx);
    CHECK(e && rg_lsa_encoder_broken(e));
    if (e) {
        float v[RG_LSA_DIM];
        const char *t = "lease";
        CHECK(rg_encoder_embed(e, &t, 1, 1, v) == -1 && strstr(rg_errmsg(), "lsa-2.bin"));
        rg_encoder_free(e);
    }
    write_docs(docs, 125, 130);   /* new documents in the same run are embedded with the new model */
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(r.indexed, 5);
    CHECK_INT(r.failed, 0);
    CHECK_INT(rg_lsa_index_version(idx), 3);
    CHECK_INT(verify_index(idx, &bad), 130);
    CHECK_INT(bad, 0);
    free(m2);
    free(idx); free(docs);
    test_rm_rf(root);
    free(root);
}

static void write_long_docs(const char *dir, int from, int to, const char *const *words, int nwords) {
    for (int i = from; i < to; i++) {
        char *p = xasprintf("%s/long%03d.txt", dir, i);
        rg_buf b = {0};
        for (int k = 0; k < 150; k++) rg_buf_printf(&b, "%s%s", k ? " " : "", words[rnd((unsigned)nwords)]);
        rg_buf_puts(&b, ".\n");
        test_write_file(p, b.data);
        rg_buf_free(&b);
        free(p);
    }
}

static void test_refit_on_new_vocabulary(void) {
    char *root = test_tmpdir();
    char *idx = xasprintf("%s/idx", root), *docs = xasprintf("%s/docs", root);
    mkdir(docs, 0755);
    rg_index_report r;
    write_docs(docs, 0, 60);
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(rg_lsa_index_version(idx), 1);
    /* A third more chunks, 3000 words, all known: no refit. */
    write_long_docs(docs, 0, 20, topics[1], 10);
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(rg_lsa_index_version(idx), 1);
    /* Another 20 in words the model never saw: refit. */
    static const char *astro[] = {"quasar", "nebula", "galaxy", "telescope", "pulsar", "comet", "orbit", "asteroid"};
    write_long_docs(docs, 20, 40, astro, 8);
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(rg_lsa_index_version(idx), 2);
    int bad = 0;
    CHECK_INT(verify_index(idx, &bad), 100);
    CHECK_INT(bad, 0);
    free(idx); free(docs);
    test_rm_rf(root);
    free(root);
}

/* An encoder that fails after some texts, to break a re-embedding half way. */
typedef struct { rg_encoder *inner; int left; } failing;
static int failing_embed(rg_encoder *e, const char *const *t, int n, int q, float *out) {
    failing *f = e->impl;
    if ((f->left -= n) < 0) { rg_err("injected failure"); return -1; }
    return rg_encoder_embed(f->inner, t, n, q, out);
}

static void exit_now(int64_t done, int64_t total, void *ctx) { (void)done; (void)total; (void)ctx; _exit(0); }

static void test_reembed_crash_safety(void) {
    char *root = test_tmpdir();
    char *idx = xasprintf("%s/idx", root), *docs = xasprintf("%s/docs", root);
    mkdir(docs, 0755);
    write_docs(docs, 0, 300);   /* more than one re-embedding batch */
    rg_index_report r;
    CHECKF(index_dir(idx, docs, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(rg_lsa_index_version(idx), 1);
    rg_encoder *e = rg_encoder_open("lsa", idx);
    rg_store_opts so = {.encoder = e->name, .dim = e->dim, .writable = 1};
    rg_store *s = rg_store_open(idx, &so);
    CHECK(s != NULL);
    if (!s) { rg_encoder_free(e); test_rm_rf(root); free(root); return; }
    /* 1. The encoder fails in the second batch: nothing changes. */
    rg_encoder *h = rg_encoder_open("hash", NULL);
    failing f = {h, 256};
    rg_encoder fe = {.name = "failing", .dim = RG_LSA_DIM, .embed = failing_embed, .impl = &f};
    CHECK_INT(rg_store_reembed(s, &fe, "lsa_version", "7", NULL, NULL), -1);
    CHECK_INT(rg_lsa_index_version(idx), 1);
    rg_store_close(s);
    int bad = 0;
    CHECK_INT(verify_index(idx, &bad), 300);
    CHECK_INT(bad, 0);
    /* 2. A process dies in the middle of re-embedding (after the first batch). */
    pid_t pid = fork();
    if (pid == 0) {
        rg_store *cs = rg_store_open(idx, &so);
        if (cs) rg_store_reembed(cs, h, "lsa_version", "7", exit_now, NULL);
        _exit(1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(rg_lsa_index_version(idx), 1);
    CHECK_INT(verify_index(idx, &bad), 300);
    CHECK_INT(bad, 0);
    /* 3. Death after the commit, before the FAISS file is saved (simulated by removing it):
     * the next open rebuilds FAISS from the new rows. Re-embed with the same model. */
    s = rg_store_open(idx, &so);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(rg_store_reembed(s, e, "lsa_version", "1", NULL, NULL), 0);
        rg_store_close(s);
    }
    char *fp = xasprintf("%s/vectors.faiss", idx);
    unlink(fp);
    CHECK_INT(verify_index(idx, &bad), 300);
    CHECK_INT(bad, 0);
    free(fp);
    rg_encoder_free(h);
    rg_encoder_free(e);
    free(idx); free(docs);
    test_rm_rf(root);
    free(root);
}

/* ---- TAT-QA dev: LSA beats hashing, and hybrid with it is no worse than BM25 ---- */

typedef struct { char *uid, *q; } question;

static void test_tatqa_recall(void) {
    const char *sh = test_shared_dir();
    if (!sh) return;
    char *path = xasprintf("%s/data/tatqa/tatqa_dataset_dev.json", sh);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    CHECKF(root != NULL, "%s", je.text);
    if (!root) { free(path); return; }
    question *qs = NULL;
    int nq = 0, nseen = 0;
    size_t i, j;
    json_t *ctx, *q;
    json_array_foreach(root, i, ctx) {
        const char *uid = json_string_value(json_object_get(json_object_get(ctx, "table"), "uid"));
        json_array_foreach(json_object_get(ctx, "questions"), j, q) {
            const char *t = json_string_value(json_object_get(q, "question"));
            if (!uid || !t || nseen++ % 3 != 0) continue;   /* every third question: faster */
            qs = xrealloc(qs, (size_t)(nq + 1) * sizeof *qs);
            qs[nq].uid = xstrdup(uid);
            qs[nq++].q = xstrdup(t);
        }
    }
    json_decref(root);
    double recall[2][3] = {{0}};   /* encoder x mode (bm25, dense, hybrid): R@5 */
    const char *encs[2] = {"hash", "lsa"};
    int asked = 0;
    for (int ei = 0; ei < 2; ei++) {
        char *dir = test_tmpdir();
        rg_encoder *e = rg_encoder_open(encs[ei], dir);
        rg_store_opts so = {.encoder = e->name, .dim = e->dim, .writable = 1, .create = 1};
        rg_store *s = rg_store_open(dir, &so);
        rg_index_opts io;
        rg_index_opts_default(&io);
        rg_index_report rep = {0};
        char *paths[] = {path};
        CHECK(s && rg_index_run(s, e, paths, 1, &io, &rep) == 0 && rep.docs == 278);
        rg_index_report_free(&rep);
        for (int mode = 0; s && mode < 3; mode++) {
            rg_search_opts o;
            rg_search_opts_default(&o);
            o.k = 5;
            o.mode = mode == 0 ? RG_MODE_BM25 : mode == 1 ? RG_MODE_DENSE : RG_MODE_HYBRID;
            int hits = 0;
            asked = 0;
            for (int k = 0; k < nq; k++) {
                if (!qs[k].q) continue;
                rg_results res = {0};
                if (rg_search(s, e, qs[k].q, &o, &res) != 0) continue;
                for (int h = 0; h < res.n; h++) if (res.v[h].doc_id && strcmp(res.v[h].doc_id, qs[k].uid) == 0) { hits++; break; }
                asked++;
                rg_results_free(&res);
            }
            recall[ei][mode] = asked ? (double)hits / asked : 0;
        }
        rg_store_close(s);
        rg_encoder_free(e);
        test_rm_rf(dir);
        free(dir);
    }
    printf("# TAT-QA dev, %d questions, recall@5 of the gold context: bm25 %.3f; hash dense %.3f hybrid %.3f; "
           "lsa dense %.3f hybrid %.3f\n", asked, recall[1][0], recall[0][1], recall[0][2], recall[1][1], recall[1][2]);
    CHECKF(recall[1][1] > recall[0][1] + 0.15, "lsa dense %.3f vs hash dense %.3f", recall[1][1], recall[0][1]);
    CHECKF(recall[1][2] > recall[0][2], "lsa hybrid %.3f vs hash hybrid %.3f", recall[1][2], recall[0][2]);
    CHECKF(recall[1][2] >= recall[1][0] - 0.02, "lsa hybrid %.3f vs bm25 %.3f", recall[1][2], recall[1][0]);
    for (int k = 0; k < nq; k++) { free(qs[k].uid); free(qs[k].q); }
    free(qs);
    free(path);
}

int main(void) {
    RUN(test_tokens);
    RUN(test_fit_separates_topics);
    RUN(test_fit_tiny_and_empty);
    RUN(test_model_file);
    RUN(test_pipeline_refit);
    RUN(test_refit_on_new_vocabulary);
    RUN(test_reembed_crash_safety);
    if (test_shared_dir()) RUN(test_tatqa_recall);
    else SKIP(test_tatqa_recall, "no ../shared (set RAGD_SHARED)");
    TESTS_DONE();
}
