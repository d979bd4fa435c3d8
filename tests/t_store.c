/* The store: real SQLite + FAISS in a temporary directory. */
#include "check.h"
#include "core/util.h"
#include "embed/encoder.h"
#include "index/store.h"
#include "index/vectors.h"
#include "ingest/chunk.h"
#include "ingest/formats.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static rg_encoder *enc;

static rg_store *open_store(const char *dir, int writable) {
    rg_store_opts o = {.encoder = enc->name, .dim = enc->dim, .writable = writable, .create = writable};
    return rg_store_open(dir, &o);
}

/* Parses markdown text as document id, chunks it, embeds, stores. */
static int put_md(rg_store *s, const char *id, const char *md) {
    rg_doc *d = rg_parse_markdown(id, id, md, strlen(md));
    rg_chunk *c; int n;
    rg_chunk_doc(d, NULL, &c, &n);
    float *v = xcalloc((size_t)n * (size_t)enc->dim + 1, sizeof *v);
    const char **t = xcalloc((size_t)n + 1, sizeof *t);
    for (int i = 0; i < n; i++) t[i] = c[i].text;
    rg_encoder_embed(enc, t, n, 0, v);
    char hash[65];
    rg_sha256_hex(md, strlen(md), hash);
    rg_source_stamp st = {hash, (int64_t)strlen(md), 0, NULL, NULL};
    int rc = rg_store_put_doc(s, d, &st, c, n, v);
    free(v); free(t); rg_chunks_free(c, n); rg_doc_free(d);
    return rc;
}

static int bm25_count(rg_store *s, const char *q, const char *doc) {
    rg_hit *h; int n;
    rg_search_filter f = {.doc_id = doc, .kind = -1};
    if (rg_store_search_bm25(s, q, 50, &f, &h, &n) != 0) return -1;
    free(h);
    return n;
}

/* The document id holding the top dense hit for a query, or "" */
static void dense_top(rg_store *s, const char *q, char *out, size_t n) {
    float *v = xmalloc((size_t)enc->dim * sizeof *v);
    const char *t[1] = {q};
    rg_encoder_embed(enc, t, 1, 1, v);
    rg_hit *h; int nh;
    out[0] = 0;
    if (rg_store_search_dense(s, v, 5, NULL, &h, &nh) == 0 && nh > 0) {
        rg_chunk_row c;
        if (rg_store_get_chunk(s, h[0].chunk_id, &c) == 1) { snprintf(out, n, "%s", c.doc_id); rg_chunk_row_free(&c); }
        free(h);
    }
    free(v);
}

static const char *doc_a = "# Alpha Corp\n\nAlpha sells turbines and wind farms.\n\n| | 2019 | 2018 |\n|---|---|---|\n| Revenue | 1,452.4 | (12.6) |\n";
static const char *doc_b = "# Beta Ltd\n\nBeta bakes sourdough bread in Leeds.\n";

static void test_add_search_remove(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (!s) { test_rm_rf(dir); return; }
    CHECK_INT(put_md(s, "a", doc_a), 0);
    CHECK_INT(put_md(s, "b", doc_b), 0);
    CHECK(bm25_count(s, "turbines", NULL) >= 1);
    CHECK_INT(bm25_count(s, "sourdough", "a"), 0);
    CHECK_INT(bm25_count(s, "sourdough", "b"), 1);
    char top[64];
    dense_top(s, "sourdough bread Leeds", top, sizeof top);
    CHECK_STR(top, "b");
    rg_store_stats st;
    rg_store_stats_get(s, &st);
    CHECK_INT(st.documents, 2);
    CHECK_INT(st.vectors, st.faiss_vectors);
    CHECK_INT(st.tables, 1);
    /* the table's cells are typed */
    rg_table **tables; int nt;
    CHECK_INT(rg_store_doc_tables(s, "a", &tables, NULL, &nt), 0);
    CHECK_INT(nt, 1);
    if (nt == 1) {
        rg_cell *c = rg_table_cell(tables[0], 1, 1);
        CHECK(c && c->type == RG_CELL_NUMBER);
        CHECK_NEAR(c ? c->value : 0, 1452.4, 1e-9);
        c = rg_table_cell(tables[0], 1, 2);
        CHECK_NEAR(c ? c->value : 0, -12.6, 1e-9);
        rg_table_free(tables[0]);
    }
    free(tables);
    /* update: b's old text disappears from FTS and FAISS */
    CHECK_INT(put_md(s, "b", "# Beta Ltd\n\nBeta now brews coffee in York.\n"), 0);
    CHECK_INT(bm25_count(s, "sourdough", NULL), 0);
    CHECK_INT(bm25_count(s, "coffee", NULL), 1);
    rg_store_stats_get(s, &st);
    CHECK_INT(st.vectors, st.faiss_vectors);
    /* remove */
    CHECK_INT(rg_store_remove_doc(s, "a"), 1);
    CHECK_INT(rg_store_remove_doc(s, "a"), 0);
    CHECK_INT(bm25_count(s, "turbines", NULL), 0);
    dense_top(s, "turbines wind farms revenue", top, sizeof top);
    CHECK_STR(top, "b");   /* a's vectors are gone from FAISS */
    rg_store_stats_get(s, &st);
    CHECK_INT(st.documents, 1);
    CHECK_INT(st.tables, 0);
    CHECK_INT(st.cells, 0);
    char *rep = NULL;
    CHECK_INT(rg_store_check(s, &rep), 0);
    free(rep);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

static void test_reopen_and_readonly(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s && put_md(s, "a", doc_a) == 0 && put_md(s, "b", doc_b) == 0);
    int before = s ? bm25_count(s, "turbines", NULL) : -1;
    CHECK(before >= 1);
    rg_store_close(s);
    rg_store_opts ro = {.encoder = NULL, .dim = 0, .writable = 0, .create = 0};   /* a reader takes the manifest's encoder */
    s = rg_store_open(dir, &ro);
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(rg_store_encoder(s), enc->name);
        CHECK_INT(bm25_count(s, "turbines", NULL), before);
        rg_store_stats st;
        rg_store_stats_get(s, &st);
        CHECK_INT(st.documents, 2);
        CHECK_INT(st.faiss_vectors, st.vectors);
        CHECK_STR(rg_store_repairs(s), "");
        CHECK(put_md(s, "c", doc_b) != 0);   /* read-only refuses writes */
        rg_store_close(s);
    }
    test_rm_rf(dir);
    free(dir);
}

static void test_manifest_mismatch(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    rg_store_close(s);
    rg_store_opts o = {.encoder = "gguf:other-model", .dim = 384, .writable = 0, .create = 0};
    s = rg_store_open(dir, &o);
    CHECK(s == NULL);
    CHECKF(strstr(rg_errmsg(), "hash-256") && strstr(rg_errmsg(), "gguf:other-model") && strstr(rg_errmsg(), "re-embed"),
           "message: %s", rg_errmsg());
    rg_store_close(s);
    rg_store_opts none = {.encoder = NULL, .dim = 0, .writable = 0, .create = 0};
    char *missing = xasprintf("%s/nope", dir);
    CHECK(rg_store_open(missing, &none) == NULL);
    CHECK(strstr(rg_errmsg(), "no index") != NULL);
    free(missing);
    test_rm_rf(dir);
    free(dir);
}

static void test_faiss_repair(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s && put_md(s, "a", doc_a) == 0 && put_md(s, "b", doc_b) == 0);
    rg_store_close(s);
    /* 1: the FAISS file is lost */
    char *fp = xasprintf("%s/vectors.faiss", dir);
    unlink(fp);
    s = open_store(dir, 1);
    CHECK(s != NULL);
    CHECK(s && strstr(rg_store_repairs(s), "rebuilt") != NULL);
    rg_store_close(s);
    /* 2: FAISS holds a vector SQLite does not know, and lacks one it does */
    int dim = enc->dim;
    rg_vectors *v = rg_vectors_load(fp, dim);
    CHECK(v != NULL);
    if (v) {
        float *x = xcalloc((size_t)dim, sizeof *x);
        x[0] = 1;
        int64_t bogus = 999999;
        rg_vectors_add(v, 1, x, &bogus);
        int64_t n = 0, *ids = rg_vectors_ids(v, &n);
        int64_t first = ids[0];
        CHECK_INT(rg_vectors_remove(v, 1, &first), 1);
        rg_vectors_save(v, fp);
        free(ids); free(x);
        /* as after a crash between saving FAISS and stamping its generation */
        char *gp = xasprintf("%s/vectors.gen", dir);
        unlink(gp);
        free(gp);
        rg_vectors_free(v);
    }
    s = open_store(dir, 1);
    CHECKF(s && strstr(rg_store_repairs(s), "1 vectors added, 1 removed"), "repairs: %s", s ? rg_store_repairs(s) : rg_errmsg());
    char *rep = NULL;
    CHECK(s && rg_store_check(s, &rep) == 0);
    free(rep);
    rg_store_close(s);
    /* 3: a garbage FAISS file */
    test_write_file(fp, "not a faiss index");
    s = open_store(dir, 0);
    CHECK(s != NULL);
    if (s) {
        rg_store_stats st;
        rg_store_stats_get(s, &st);
        CHECK_INT(st.faiss_vectors, st.vectors);
        rg_store_close(s);
    }
    free(fp);
    test_rm_rf(dir);
    free(dir);
}

/* A writer killed with SIGKILL mid-ingest leaves an index that opens, passes the integrity
 * check and holds every document whose commit was reported before the kill. */
static void test_kill9_writer(void) {
    char *dir = test_tmpdir();
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        rg_store *s = open_store(dir, 1);
        if (!s) _exit(3);
        for (int i = 0;; i++) {
            char id[32], md[256];
            snprintf(id, sizeof id, "doc%05d", i);
            snprintf(md, sizeof md, "# Doc %d\n\nUnit %d shipped %d widgets to customer %d.\n\n| | 2019 |\n|---|---|\n| Widgets | %d |\n",
                     i, i, i * 7, i % 13, i * 3);
            if (put_md(s, id, md) != 0) _exit(4);
            if (i % 25 == 24 && rg_store_flush(s) != 0) _exit(5);
            if (write(fds[1], &i, sizeof i) != (ssize_t)sizeof i) _exit(6);
        }
    }
    close(fds[1]);
    int last = -1, got;
    while (last < 60 && read(fds[0], &got, sizeof got) == (ssize_t)sizeof got) last = got;
    kill(pid, SIGKILL);
    while (read(fds[0], &got, sizeof got) == (ssize_t)sizeof got) last = got;  /* commits reported before death */
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (s) {
        char *rep = NULL;
        CHECKF(rg_store_check(s, &rep) == 0, "%s", rep ? rep : "");
        free(rep);
        for (int i = 0; i <= last; i++) {
            char id[32];
            snprintf(id, sizeof id, "doc%05d", i);
            if (rg_store_get_doc(s, id, NULL) != 1) { CHECKF(0, "%s missing after kill", id); break; }
        }
        rg_store_stats st;
        rg_store_stats_get(s, &st);
        CHECK(st.documents >= last + 1);
        CHECK_INT(st.faiss_vectors, st.vectors);
        rg_store_close(s);
    }
    test_rm_rf(dir);
    free(dir);
}

/* A reader opens and searches while another process holds the writer lock. */
static void test_reader_not_blocked(void) {
    char *dir = test_tmpdir();
    rg_store *w = open_store(dir, 1);
    CHECK(w && put_md(w, "a", doc_a) == 0);
    rg_store_flush(w);
    CHECK(put_md(w, "b", doc_b) == 0);   /* committed, FAISS not yet saved */
    rg_store_opts ro = {.encoder = NULL, .dim = 0, .writable = 0, .create = 0};
    rg_store *r = rg_store_open(dir, &ro);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(bm25_count(r, "sourdough", NULL), 1);
        char top[64];
        dense_top(r, "sourdough bread Leeds", top, sizeof top);
        CHECK_STR(top, "b");   /* the reader reconciled FAISS in memory */
        rg_store_close(r);
    }
    rg_store_close(w);
    test_rm_rf(dir);
    free(dir);
}

/* A parent (context-only) chunk is stored and linked, never searched, and the index stays
 * consistent (FTS5 integrity-check against its content). */
static void test_context_only_chunks(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (!s) { test_rm_rf(dir); free(dir); return; }
    rg_doc *d = rg_doc_new("p", "p", "text");
    rg_chunk c[2];
    memset(c, 0, sizeof c);
    c[0] = (rg_chunk){.kind = RG_CHUNK_TEXT, .text = "parent section about zeppelins and marmalade", .section = "S",
                      .parent = -1, .table_index = -1, .context_only = 1};
    c[1] = (rg_chunk){.kind = RG_CHUNK_TEXT, .text = "child about zeppelins", .section = "S",
                      .parent = 0, .table_index = -1};
    float *v = xcalloc(2 * (size_t)enc->dim, sizeof *v);
    const char *t[2] = {c[0].text, c[1].text};
    rg_encoder_embed(enc, t, 2, 0, v);
    CHECK_INT(rg_store_put_doc(s, d, NULL, c, 2, v), 0);
    CHECK_INT(bm25_count(s, "marmalade", NULL), 0);
    CHECK_INT(bm25_count(s, "zeppelins", NULL), 1);
    rg_chunk_row *rows; int n;
    CHECK_INT(rg_store_doc_chunks(s, "p", &rows, &n), 0);
    CHECK_INT(n, 2);
    if (n == 2) { CHECK(rows[1].parent == rows[0].id); rg_chunk_row_free(&rows[0]); rg_chunk_row_free(&rows[1]); }
    free(rows);
    rg_store_stats st;
    rg_store_stats_get(s, &st);
    CHECK_INT(st.vectors, 1);
    char *rep = NULL;
    CHECKF(rg_store_check(s, &rep) == 0, "%s", rep ? rep : "");
    free(rep);
    CHECK_INT(rg_store_remove_doc(s, "p"), 1);
    rep = NULL;
    CHECKF(rg_store_check(s, &rep) == 0, "%s", rep ? rep : "");
    free(rep);
    free(v);
    rg_doc_free(d);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

int main(void) {
    enc = rg_hash_encoder_new(256);
    RUN(test_add_search_remove);
    RUN(test_reopen_and_readonly);
    RUN(test_manifest_mismatch);
    RUN(test_faiss_repair);
    RUN(test_kill9_writer);
    RUN(test_reader_not_blocked);
    RUN(test_context_only_chunks);
    rg_encoder_free(enc);
    TESTS_DONE();
}
