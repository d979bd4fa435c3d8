/* The store: real SQLite + FAISS in a temporary directory. */
#include "check.h"
#include "core/util.h"
#include "embed/encoder.h"
#include "index/store.h"
#include "index/schema.h"
#include "store_check.h"
#include "index/vectors.h"
#include "index/cellpack.h"
#include <sqlite3.h>
#include <math.h>
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
    /* update: b's old text disappears from BM25 and FAISS */
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

/* PRAGMA page_size of dir's database, read straight from the file */
static int db_page_size(const char *dir) {
    char *path = xasprintf("%s/ragd.db", dir);
    sqlite3 *h = NULL;
    sqlite3_stmt *q = NULL;
    int size = -1;
    if (sqlite3_open(path, &h) == SQLITE_OK && sqlite3_prepare_v2(h, "PRAGMA page_size", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        size = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(h);
    free(path);
    return size;
}

static void test_reopen_and_readonly(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s && put_md(s, "a", doc_a) == 0 && put_md(s, "b", doc_b) == 0);
    int before = s ? bm25_count(s, "turbines", NULL) : -1;
    CHECK(before >= 1);
    rg_store_close(s);
    CHECK_INT(db_page_size(dir), 16384);   /* a new index's pages */
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
 * consistent (the store's check, BM25 segments included). */
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

/* Chunk rows are written 32, 8 and 1 to a statement: a document of 32 + 8 + 5 chunks uses
 * each, and every field of every row (parents across the groups included) reads back as
 * given, in BM25 too; the next document's ids follow on. */
static void test_many_chunks_roundtrip(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (!s) { test_rm_rf(dir); free(dir); return; }
    enum { N = 45 };
    rg_doc *d = rg_doc_new("many", "many.md", "markdown");
    rg_chunk c[N];
    char text[N][64], sec[N][16];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "chunk number %d says word%dx", i, i);
        snprintf(sec[i], sizeof sec[i], "S%d", i / 10);
        c[i] = (rg_chunk){.kind = RG_CHUNK_TEXT, .text = text[i], .section = sec[i], .table_index = -1,
                          .parent = i % 7 == 3 ? N - 1 - i : -1, .row_start = i, .row_end = 2 * i,
                          .ntokens = 100 + i, .page = i % 4, .offset = 1000 * i, .context_only = i == 40};
    }
    float *v = xcalloc((size_t)N * (size_t)enc->dim, sizeof *v);
    const char *t[N];
    for (int i = 0; i < N; i++) t[i] = c[i].text;
    rg_encoder_embed(enc, t, N, 0, v);
    CHECK_INT(rg_store_put_doc(s, d, NULL, c, N, v), 0);
    rg_chunk_row *rows; int n;
    CHECK_INT(rg_store_doc_chunks(s, "many", &rows, &n), 0);
    CHECK_INT(n, N);
    for (int i = 0; i < n && n == N; i++) {
        CHECK_INT(rows[i].ord, i);
        CHECK_INT(rows[i].id, rows[0].id + i);
        CHECKF(strcmp(rows[i].text, text[i]) == 0, "chunk %d: text \"%.60s\"", i, rows[i].text);
        CHECKF(strcmp(rows[i].section, sec[i]) == 0, "chunk %d: section \"%.15s\"", i, rows[i].section);
        CHECK_INT(rows[i].parent, c[i].parent >= 0 ? rows[0].id + c[i].parent : -1);
        CHECK_INT(rows[i].row_start, i);
        CHECK_INT(rows[i].row_end, 2 * i);
        CHECK_INT(rows[i].ntokens, 100 + i);
        CHECK_INT(rows[i].page, i % 4);
    }
    for (int i = 0; i < n; i++) rg_chunk_row_free(&rows[i]);
    free(rows);
    char q[32];
    for (int i = 0; i < N; i++) {
        snprintf(q, sizeof q, "word%dx", i);
        CHECK_INT(bm25_count(s, q, NULL), i == 40 ? 0 : 1);   /* the context-only chunk is not searched */
    }
    rg_store_stats st;
    rg_store_stats_get(s, &st);
    CHECK_INT(st.vectors, N - 1);
    CHECK_INT(put_md(s, "next", doc_b), 0);
    CHECK_INT(rg_store_doc_chunks(s, "next", &rows, &n), 0);
    CHECK(n > 0 && rows[0].id > N);
    for (int i = 0; i < n; i++) rg_chunk_row_free(&rows[i]);
    free(rows);
    CHECK_INT(check_clean(s), 0);
    free(v);
    rg_doc_free(d);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

/* ---- batches ---- */

static int64_t faiss_count(rg_store *s) {
    rg_store_stats st;
    rg_store_stats_get(s, &st);
    return st.faiss_vectors;
}

/* Documents put in a batch are in SQL at once, in BM25 and FAISS at the commit; a rolled-back
 * batch leaves nothing behind; replacing and removing inside a batch keep both exact. */
static void test_batch_commit_rollback(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (!s) { test_rm_rf(dir); free(dir); return; }
    CHECK_INT(rg_store_batch_begin(s), 0);
    CHECK_INT(rg_store_batch_open(s), 1);
    CHECK_INT(rg_store_batch_begin(s), -1);   /* one at a time */
    CHECK_INT(put_md(s, "a", doc_a), 0);
    CHECK_INT(put_md(s, "b", doc_b), 0);
    CHECK_INT(rg_store_get_doc(s, "a", NULL), 1);
    CHECK_INT(bm25_count(s, "sourdough", NULL), 0);   /* postings wait for the commit */
    CHECK_INT(faiss_count(s), 0);              /* and so do vectors */
    CHECK_INT(put_md(s, "b", "# Beta Ltd\n\nBeta now brews cider in Leeds.\n"), 0);   /* replaced in the batch */
    CHECK_INT(rg_store_batch_commit(s), 0);
    CHECK_INT(rg_store_batch_open(s), 0);
    CHECK_INT(rg_store_batch_commit(s), 0);    /* none open: nothing to do */
    rg_store_stats st;
    rg_store_stats_get(s, &st);
    CHECK_INT(st.documents, 2);
    CHECK(st.vectors > 0);
    CHECK_INT(st.faiss_vectors, st.vectors);
    CHECK_INT(bm25_count(s, "sourdough", NULL), 0);
    CHECK_INT(bm25_count(s, "cider", NULL), 1);
    char top[64];
    dense_top(s, "cider brewing in Leeds", top, sizeof top);
    CHECK_STR(top, "b");
    CHECK_INT(check_clean(s), 0);

    /* rolled back: neither the new document nor the removal survives */
    int64_t before = faiss_count(s);
    CHECK_INT(rg_store_batch_begin(s), 0);
    CHECK_INT(put_md(s, "c", "# Gamma\n\nGamma mines copper in Chile.\n"), 0);
    CHECK_INT(rg_store_remove_doc(s, "a"), 1);
    CHECK_INT(rg_store_remove_doc(s, "zzz"), 0);
    CHECK_INT(rg_store_batch_rollback(s), 0);
    CHECK_INT(rg_store_get_doc(s, "c", NULL), 0);
    CHECK_INT(rg_store_get_doc(s, "a", NULL), 1);
    CHECK_INT(faiss_count(s), before);
    CHECK_INT(bm25_count(s, "turbines", NULL) >= 1, 1);
    CHECK_INT(check_clean(s), 0);

    /* a batch left open is committed by close */
    CHECK_INT(rg_store_batch_begin(s), 0);
    CHECK_INT(put_md(s, "d", "# Delta\n\nDelta repairs zeppelins.\n"), 0);
    rg_store_close(s);
    s = open_store(dir, 1);
    CHECK(s && rg_store_get_doc(s, "d", NULL) == 1);
    CHECK(s && strcmp(rg_store_repairs(s), "") == 0);
    CHECK(s && check_clean(s) == 0);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

/* A document that fails inside a batch rolls the whole batch back (none of it is recorded)
 * and says so; the store stays usable and consistent. */
static void test_batch_failure(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (!s) { test_rm_rf(dir); free(dir); return; }
    CHECK_INT(put_md(s, "a", doc_a), 0);
    CHECK_INT(rg_store_batch_begin(s), 0);
    CHECK_INT(put_md(s, "b", doc_b), 0);
    rg_doc *bad = rg_doc_new("x", "x", "text");
    free(bad->id);
    bad->id = NULL;                            /* documents.doc_id is NOT NULL */
    rg_chunk c = {.kind = RG_CHUNK_TEXT, .text = "lost words", .section = "", .parent = -1, .table_index = -1};
    CHECK_INT(rg_store_put_doc(s, bad, NULL, &c, 1, NULL), -1);
    CHECKF(strstr(rg_errmsg(), "batch of 1 other document was rolled back") != NULL, "%s", rg_errmsg());
    bad->id = xstrdup("x");
    rg_doc_free(bad);
    CHECK_INT(rg_store_batch_open(s), 0);
    CHECK_INT(rg_store_get_doc(s, "b", NULL), 0);
    CHECK_INT(rg_store_get_doc(s, "a", NULL), 1);
    CHECK_INT(put_md(s, "b", doc_b), 0);       /* outside a batch again */
    CHECK_INT(bm25_count(s, "sourdough", NULL), 1);
    rg_store_stats st;
    rg_store_stats_get(s, &st);
    CHECK_INT(st.faiss_vectors, st.vectors);
    CHECK_INT(check_clean(s), 0);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

static void batch_md(int i, char *id, size_t idn, char *md, size_t mdn) {
    snprintf(id, idn, "doc%05d", i);
    snprintf(md, mdn, "# Doc %d\n\nUnit %d shipped %d widgets to customer %d.\n\n| | 2019 | 2018 |\n|---|---|---|\n| Widgets | %d | (%d.5) |\n",
             i, i, i * 7, i % 13, i * 3, i);
}

/* A writer killed with SIGKILL in the middle of a batch: every committed batch survives
 * whole, nothing of the open one does (no partial document: each one present has its chunk,
 * its vector and its table with the exact cells), and re-running completes the set. */
static void test_kill9_mid_batch(void) {
    char *dir = test_tmpdir();
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        rg_store *s = open_store(dir, 1);
        if (!s || rg_store_batch_begin(s) != 0) _exit(3);
        for (int i = 0;; i++) {
            char id[32], md[256];
            batch_md(i, id, sizeof id, md, sizeof md);
            if (put_md(s, id, md) != 0) _exit(4);
            if (i % 10 == 9) {   /* a batch of ten committed: report how many are safe */
                if (rg_store_batch_commit(s) != 0 || rg_store_batch_begin(s) != 0) _exit(5);
                if (i % 30 == 29 && rg_store_flush(s) != 0) _exit(6);
                int done = i + 1;
                if (write(fds[1], &done, sizeof done) != (ssize_t)sizeof done) _exit(7);
            }
        }
    }
    close(fds[1]);
    int committed = 0, got;
    while (committed < 80 && read(fds[0], &got, sizeof got) == (ssize_t)sizeof got) committed = got;
    kill(pid, SIGKILL);
    while (read(fds[0], &got, sizeof got) == (ssize_t)sizeof got) committed = got;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (!s) { test_rm_rf(dir); free(dir); return; }
    CHECK_INT(check_clean(s), 0);
    rg_store_stats st;
    rg_store_stats_get(s, &st);
    CHECKF(st.documents >= committed && st.documents % 10 == 0, "%lld documents, %d committed",
           (long long)st.documents, committed);   /* whole batches only */
    CHECK_INT(st.faiss_vectors, st.vectors);
    int n = (int)st.documents;
    for (int i = 0; i < n; i++) {
        char id[32], md[256];
        batch_md(i, id, sizeof id, md, sizeof md);
        rg_table **t = NULL;
        int nt = 0;
        rg_chunk_row *rows = NULL;
        int nr = 0;
        int ok = rg_store_doc_tables(s, id, &t, NULL, &nt) == 0 && nt == 1 &&
                 rg_store_doc_chunks(s, id, &rows, &nr) == 0 && nr >= 1;
        if (ok) {
            rg_cell *c1 = rg_table_cell(t[0], 1, 1), *c2 = rg_table_cell(t[0], 1, 2);
            ok = c1 && c2 && c1->type == RG_CELL_NUMBER && c1->value == i * 3 && c2->value == -(i + 0.5);
        }
        for (int k = 0; k < nt; k++) rg_table_free(t[k]);
        free(t);
        for (int k = 0; k < nr; k++) rg_chunk_row_free(&rows[k]);
        free(rows);
        if (!ok) { CHECKF(0, "%s incomplete after the kill", id); break; }
    }
    /* the re-run: everything up to 120, in batches, as `ragd index` would */
    CHECK_INT(rg_store_batch_begin(s), 0);
    for (int i = 0; i < 120; i++) {
        char id[32], md[256];
        batch_md(i, id, sizeof id, md, sizeof md);
        if (rg_store_get_doc(s, id, NULL) == 1) continue;
        if (put_md(s, id, md) != 0 || rg_store_batch_tick(s, (int64_t)strlen(md)) != 0) { CHECKF(0, "re-run: %s", rg_errmsg()); break; }
    }
    CHECK_INT(rg_store_batch_commit(s), 0);
    rg_store_stats_get(s, &st);
    CHECK_INT(st.documents, n > 120 ? n : 120);
    CHECK_INT(st.faiss_vectors, st.vectors);
    CHECK_INT(check_clean(s), 0);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

/* Chunk ids are never reused (AUTOINCREMENT), also now that the store picks them itself:
 * FAISS and anything that kept an old id must not see it point at a new chunk. */
static void test_chunk_ids_not_reused(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s && put_md(s, "a", doc_a) == 0);
    rg_chunk_row *rows = NULL;
    int n = 0;
    int64_t maxa = 0;
    if (s && rg_store_doc_chunks(s, "a", &rows, &n) == 0)
        for (int i = 0; i < n; i++) { if (rows[i].id > maxa) maxa = rows[i].id; rg_chunk_row_free(&rows[i]); }
    free(rows);
    CHECK(maxa > 0);
    CHECK(s && rg_store_remove_doc(s, "a") == 1);
    rg_store_close(s);
    s = open_store(dir, 1);
    CHECK(s && put_md(s, "b", doc_b) == 0);
    if (s && rg_store_doc_chunks(s, "b", &rows, &n) == 0) {
        CHECK(n >= 1);
        for (int i = 0; i < n; i++) { CHECKF(rows[i].id > maxa, "id %lld reused", (long long)rows[i].id); rg_chunk_row_free(&rows[i]); }
        free(rows);
    }
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

/* A document replaces only the stored document with its own id: one whose source happens to
 * be the new id (rg_store_get_doc's fallback for users) stays. */
static void test_put_replaces_same_id_only(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECK(s != NULL);
    if (s) {
        rg_doc *d = rg_parse_markdown("x", "b", doc_a, strlen(doc_a));   /* id x, source "b" */
        rg_chunk *c; int n;
        CHECK(d && rg_chunk_doc(d, NULL, &c, &n) == 0);
        float *v = xcalloc((size_t)n * (size_t)enc->dim + 1, sizeof *v);
        CHECK_INT(rg_store_put_doc(s, d, NULL, c, n, v), 0);
        free(v); rg_chunks_free(c, n); rg_doc_free(d);
        CHECK(put_md(s, "b", doc_b) == 0);   /* id "b": a new document */
        rg_doc_info info;
        CHECK_INT(rg_store_get_doc(s, "x", &info), 1);
        rg_doc_info_free(&info);
        CHECK(bm25_count(s, "turbines", "x") >= 1);
        CHECK(bm25_count(s, "sourdough", "b") >= 1);
        CHECK(put_md(s, "b", doc_a) == 0);   /* id "b" again: replaces it */
        CHECK_INT(bm25_count(s, "sourdough", NULL), 0);
        CHECK(bm25_count(s, "turbines", "b") >= 1);
        CHECK_INT(bm25_count(s, "turbines", "b"), bm25_count(s, "turbines", "x"));
    }
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

/* ---- cells packed per table (schema 3) ---- */

static void test_cellpack_roundtrip_and_corrupt(void) {
    rg_table *t = rg_table_new(3, 3);
    const char *raws[9] = {"", "2019", "Fiscal 2018", "Total revenue", "$ 1,452.4", "(12.6)", "Margin", "12.5%", "—"};
    for (int i = 0; i < 9; i++) rg_table_set(t, i / 3, i % 3, raws[i]);
    char long_raw[400];
    memset(long_raw, 'x', sizeof long_raw - 1);
    long_raw[sizeof long_raw - 1] = 0;
    rg_table_set(t, 2, 0, long_raw);           /* a two-byte length */
    rg_buf b = {0};
    rg_cells_pack(t, &b);
    rg_table *u = rg_table_new(3, 3);
    CHECK_INT(rg_cells_unpack(u, b.data, b.len), 0);
    for (int i = 0; i < 9; i++) {
        CHECK_STR(u->cells[i].raw, t->cells[i].raw);
        CHECK_INT(u->cells[i].type, t->cells[i].type);
        CHECK(u->cells[i].value == t->cells[i].value);
        CHECK_STR(u->cells[i].unit, t->cells[i].unit);
    }
    CHECK_INT(u->cells[4].type, RG_CELL_NUMBER);
    CHECK(u->cells[4].value == 1452.4);
    CHECK_STR(u->cells[4].unit, "$");
    CHECK(u->cells[5].value == -12.6);
    CHECK_INT(u->cells[7].type, RG_CELL_PERCENT);
    rg_table_free(u);
    /* every truncation, a trailing byte, a bad type and a bad format are refused, never read past */
    for (size_t cut = 0; cut < b.len; cut++) {
        char *copy = xmalloc(cut + 1);
        memcpy(copy, b.data, cut);
        u = rg_table_new(3, 3);
        CHECKF(rg_cells_unpack(u, copy, cut) == -1, "cut at %zu accepted", cut);
        rg_table_free(u);
        free(copy);
    }
    char *more = xmalloc(b.len + 1);
    memcpy(more, b.data, b.len);
    more[b.len] = 0;
    u = rg_table_new(3, 3);
    CHECK_INT(rg_cells_unpack(u, more, b.len + 1), -1);
    CHECK(strstr(rg_errmsg(), "after the last cell") != NULL);
    rg_table_free(u);
    more[1] = 9;                               /* the first cell's type */
    u = rg_table_new(3, 3);
    CHECK_INT(rg_cells_unpack(u, more, b.len), -1);
    rg_table_free(u);
    more[0] = 7;
    u = rg_table_new(3, 3);
    CHECK_INT(rg_cells_unpack(u, more, b.len), -1);
    rg_table_free(u);
    u = rg_table_new(2, 3);                     /* a shape that does not match */
    CHECK_INT(rg_cells_unpack(u, b.data, b.len), -1);
    rg_table_free(u);
    free(more);
    rg_buf_free(&b);
    rg_table_free(t);
}

/* Format 2 keeps a short decimal as m / 10^k and anything else as the double: every value
 * comes back bit for bit; a report's amounts take a third of format 1's bytes; a format 1
 * blob (what indexes written before hold) still reads; a tag whose value encoding does not
 * fit its type is refused. */
static void test_cellpack_values(void) {
    static const double vals[] = {1452.4, -12.6, 0.1, 1e-7, 123456789.123, 1.2e9, 3.4e6, -0.0, 0.0, 1e300,
                                  5e-324, 0.30000000000000004, 9007199254740993.0, -9007199254740991.0,
                                  2019, 12.5, 1.0 / 3.0, 1e15, 123456.000001};
    int nv = (int)(sizeof vals / sizeof *vals) + 2;
    rg_table *t = rg_table_new(1, nv);
    for (int i = 0; i < nv; i++) {
        rg_cell *c = rg_table_cell(t, 0, i);
        c->raw = rg_table_strdup(t, "x", 1);
        c->type = i % 3 == 0 ? RG_CELL_PERCENT : RG_CELL_NUMBER;
        c->value = i < nv - 2 ? vals[i] : i == nv - 2 ? NAN : -INFINITY;
        if (i == 1) strcpy(c->unit, "\xE2\x82\xAC");
    }
    rg_buf b = {0};
    rg_cells_pack(t, &b);
    CHECK_INT((unsigned char)b.data[0], 2);
    rg_table *u = rg_table_new(1, nv);
    CHECK_INT(rg_cells_unpack(u, b.data, b.len), 0);
    for (int i = 0; i < nv; i++)
        CHECKF(memcmp(&u->cells[i].value, &t->cells[i].value, sizeof(double)) == 0 && u->cells[i].type == t->cells[i].type &&
               strcmp(u->cells[i].unit, t->cells[i].unit) == 0, "cell %d: %.17g", i, t->cells[i].value);
    rg_table_free(u);
    rg_buf_free(&b);
    rg_table_free(t);
    /* a row of a report: "Revenue", then amounts; format 1 took 1 + 8 + 1 + raw + 1 per amount */
    const char *row[] = {"Revenue", "1,452.4", "(812.6)", "12.5%", "2019", "$ 3,401"};
    t = rg_table_new(1, 6);
    size_t v1 = 1;
    for (int i = 0; i < 6; i++) {
        rg_table_set(t, 0, i, row[i]);
        v1 += 1 + (t->cells[i].type >= RG_CELL_NUMBER ? 8 : 0) + 1 + strlen(row[i]) + 1 + strlen(t->cells[i].unit);
    }
    rg_cells_pack(t, &b);
    CHECKF(b.len + 20 <= v1, "format 2: %zu bytes, format 1: %zu", b.len, v1);
    u = rg_table_new(1, 6);
    CHECK_INT(rg_cells_unpack(u, b.data, b.len), 0);
    for (int i = 0; i < 6; i++) CHECK(u->cells[i].value == t->cells[i].value && strcmp(u->cells[i].raw, row[i]) == 0);
    rg_table_free(u);
    /* format 1 by hand: a number 1452.4 with unit "$", then a text "Revenue" */
    unsigned char f1[64];
    size_t n = 0;
    double v = 1452.4;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    f1[n++] = 1;
    f1[n++] = RG_CELL_NUMBER;
    for (int k = 0; k < 8; k++) f1[n++] = (unsigned char)(bits >> (8 * k));
    f1[n++] = 7; memcpy(f1 + n, "1,452.4", 7); n += 7;
    f1[n++] = 1; f1[n++] = '$';
    f1[n++] = RG_CELL_TEXT;
    f1[n++] = 7; memcpy(f1 + n, "Revenue", 7); n += 7;
    f1[n++] = 0;
    u = rg_table_new(1, 2);
    CHECK_INT(rg_cells_unpack(u, f1, n), 0);
    CHECK(u->cells[0].value == 1452.4 && u->cells[0].type == RG_CELL_NUMBER);
    CHECK_STR(u->cells[0].unit, "$");
    CHECK_STR(u->cells[1].raw, "Revenue");
    rg_table_free(u);
    /* a text cell tagged with a value, a number tagged without one: refused */
    unsigned char bad1[] = {2, RG_CELL_TEXT | 1 << 4, 0, 0, 1, 'a'};
    unsigned char bad2[] = {2, RG_CELL_NUMBER, 1, 'a'};
    /* a text length spread over 6 bytes (1 as 0x81 0x80 0x80 0x80 0x80 0x00): past 5, refused */
    unsigned char bad3[] = {2, RG_CELL_TEXT, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 'a'};
    u = rg_table_new(1, 1);
    CHECK_INT(rg_cells_unpack(u, bad1, sizeof bad1), -1);
    CHECK_INT(rg_cells_unpack(u, bad2, sizeof bad2), -1);
    CHECK_INT(rg_cells_unpack(u, bad3, sizeof bad3), -1);
    rg_table_free(u);
    rg_buf_free(&b);
    rg_table_free(t);
}

/* The schema-2 layout (a row per cell, FTS kept by triggers), as a database written by the
 * previous ragd holds it. */
static const char *schema_v2 =
    "CREATE TABLE documents(id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL UNIQUE, source TEXT NOT NULL,"
    "  content_hash TEXT, size INTEGER, mtime INTEGER, kind TEXT, title TEXT, metadata TEXT, etag TEXT, last_modified TEXT,"
    "  indexed_at INTEGER);"
    "CREATE INDEX documents_source ON documents(source);"
    "CREATE TABLE tables(id INTEGER PRIMARY KEY AUTOINCREMENT, doc INTEGER NOT NULL, ord INTEGER NOT NULL,"
    "  nrows INTEGER, ncols INTEGER, header_rows INTEGER, header_cols INTEGER, caption TEXT, scale TEXT, section TEXT);"
    "CREATE INDEX tables_doc ON tables(doc);"
    "CREATE TABLE cells(table_id INTEGER NOT NULL, row INTEGER NOT NULL, col INTEGER NOT NULL,"
    "  raw TEXT, type INTEGER, value REAL, unit TEXT, PRIMARY KEY(table_id, row, col)) WITHOUT ROWID;"
    "CREATE TABLE chunks(id INTEGER PRIMARY KEY AUTOINCREMENT, doc INTEGER NOT NULL, ord INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL, text TEXT NOT NULL, section TEXT, parent INTEGER, table_id INTEGER, row_start INTEGER,"
    "  row_end INTEGER, ntokens INTEGER, page INTEGER, offset INTEGER, context_only INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX chunks_doc ON chunks(doc);"
    "CREATE TABLE vectors(chunk_id INTEGER PRIMARY KEY, vec BLOB NOT NULL);"
    "CREATE VIEW chunks_searchable AS SELECT id, text, section FROM chunks WHERE context_only = 0;"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, section, content='chunks_searchable', content_rowid='id',"
    "  tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE TRIGGER chunks_ai AFTER INSERT ON chunks WHEN new.context_only = 0 BEGIN"
    "  INSERT INTO chunks_fts(rowid, text, section) VALUES (new.id, new.text, new.section); END;"
    "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks WHEN old.context_only = 0 BEGIN"
    "  INSERT INTO chunks_fts(chunks_fts, rowid, text, section) VALUES('delete', old.id, old.text, old.section); END;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "INSERT INTO meta VALUES('generation', '0');"
    "CREATE INDEX vectors_ids ON vectors(chunk_id);"
    "INSERT INTO documents(doc_id, source, kind) VALUES ('old.md', '/x/old.md', 'markdown');"
    "INSERT INTO tables(doc, ord, nrows, ncols, header_rows, header_cols, caption, scale, section)"
    "  VALUES (1, 0, 2, 3, 1, 1, '(in millions)', 'million', 'Results');"
    "INSERT INTO cells VALUES (1, 0, 0, '', 0, NULL, '');"
    "INSERT INTO cells VALUES (1, 0, 1, '2019', 4, 2019, '');"
    "INSERT INTO cells VALUES (1, 0, 2, 'Fiscal 2018', 4, 2018, '');"
    "INSERT INTO cells VALUES (1, 1, 0, 'Revenue', 1, NULL, '');"
    "INSERT INTO cells VALUES (1, 1, 1, '$ 1,452.4', 2, 1452.4, '$');"   /* (1, 1, 2) missing: reads as empty */
    "INSERT INTO chunks(doc, ord, kind, text, section, table_id, context_only)"
    "  VALUES (1, 0, 1, 'Revenue | 2019: $ 1,452.4 | Fiscal 2018:', 'Results', 1, 0);"
    "INSERT INTO chunks(doc, ord, kind, text, section, context_only) VALUES (1, 1, 0, 'whole section about revenue', 'Results', 1);"
    "PRAGMA user_version = 2;";

static void test_migrate_v2_cells(void) {
    char *dir = test_tmpdir();
    char *db = xasprintf("%s/ragd.db", dir);
    sqlite3 *h = NULL;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK && sqlite3_exec(h, schema_v2, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    rg_store_opts ro = {.encoder = NULL, .dim = 0, .writable = 0, .create = 0};
    rg_store *s = open_store(dir, 1);          /* the writer migrates */
    CHECKF(s != NULL, "%s", rg_errmsg());
    if (s) {
        rg_store_stats st;
        rg_store_stats_get(s, &st);
        CHECK_INT(st.schema_version, RG_SCHEMA_VERSION);
        CHECK_INT(st.tables, 1);
        CHECK_INT(st.cells, 6);
        CHECK_INT(check_clean(s), 0);
        rg_store_close(s);
    }
    CHECK_INT(db_page_size(dir), 4096);       /* an older index keeps its own */
    s = rg_store_open(dir, &ro);               /* and a reader then reads the packed cells */
    CHECKF(s != NULL, "%s", rg_errmsg());
    rg_table **t = NULL;
    int nt = 0;
    if (s && rg_store_doc_tables(s, "old.md", &t, NULL, &nt) == 0 && nt == 1) {
        rg_table *x = t[0];
        CHECK_INT(x->nrows, 2);
        CHECK_INT(x->ncols, 3);
        CHECK_INT(x->header_rows, 1);
        CHECK_STR(x->scale, "million");
        CHECK_STR(x->caption, "(in millions)");
        static const char *raw[6] = {"", "2019", "Fiscal 2018", "Revenue", "$ 1,452.4", ""};
        static const int type[6] = {RG_CELL_EMPTY, RG_CELL_YEAR, RG_CELL_YEAR, RG_CELL_TEXT, RG_CELL_NUMBER, RG_CELL_EMPTY};
        static const double value[6] = {0, 2019, 2018, 0, 1452.4, 0};
        for (int i = 0; i < 6; i++) {
            CHECK_STR(x->cells[i].raw, raw[i]);
            CHECK_INT(x->cells[i].type, type[i]);
            CHECK(x->cells[i].value == value[i]);
        }
        CHECK_STR(x->cells[4].unit, "$");
    } else CHECKF(0, "tables: %d (%s)", nt, rg_errmsg());
    for (int i = 0; i < nt; i++) rg_table_free(t[i]);
    free(t);
    if (s) { CHECK_INT(bm25_count(s, "revenue", NULL), 1); rg_store_close(s); }
    /* the old cell rows and triggers are gone, and the old document is removed cleanly from BM25 */
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    sqlite3_stmt *q = NULL;
    CHECK(sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_master WHERE name IN ('cells', 'chunks_ai', 'chunks_ad')", -1, &q, NULL) == SQLITE_OK);
    CHECK(q && sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 0);
    sqlite3_finalize(q);
    sqlite3_close(h);
    s = open_store(dir, 1);
    CHECK(s && rg_store_remove_doc(s, "old.md") == 1);
    CHECK(s && bm25_count(s, "revenue", NULL) == 0);
    CHECK(s && check_clean(s) == 0);
    rg_store_close(s);
    free(db);
    test_rm_rf(dir);
    free(dir);
}

/* A reader of an older index migrates it when no writer holds it: an upgraded daemon serves
 * at once. */
static void test_reader_migrates(void) {
    char *dir = test_tmpdir();
    rg_store *w = open_store(dir, 1);           /* an index with its manifest ... */
    CHECK(w != NULL);
    rg_store_close(w);
    char *db = xasprintf("%s/ragd.db", dir), *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);
    unlink(db); unlink(wal); unlink(shm);       /* ... whose database an older ragd wrote */
    sqlite3 *h = NULL;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK && sqlite3_exec(h, schema_v2, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    rg_store_opts ro = {.encoder = NULL, .dim = 0, .writable = 0, .create = 0};
    rg_store *s = rg_store_open(dir, &ro);
    CHECKF(s != NULL, "%s", rg_errmsg());
    if (s) {
        rg_store_stats st;
        rg_store_stats_get(s, &st);
        CHECK_INT(st.schema_version, RG_SCHEMA_VERSION);
        CHECK_INT(bm25_count(s, "revenue", NULL), 1);
        CHECK_INT(check_clean(s), 0);
        rg_store_close(s);
    }
    free(db); free(wal); free(shm);
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
    RUN(test_many_chunks_roundtrip);
    RUN(test_batch_commit_rollback);
    RUN(test_batch_failure);
    RUN(test_kill9_mid_batch);
    RUN(test_chunk_ids_not_reused);
    RUN(test_put_replaces_same_id_only);
    RUN(test_cellpack_roundtrip_and_corrupt);
    RUN(test_cellpack_values);
    RUN(test_migrate_v2_cells);
    RUN(test_reader_migrates);
    rg_encoder_free(enc);
    TESTS_DONE();
}
