/* The store keeps a chunk's text as '' where it can rebuild it on read: a context-only parent
 * whose text is its children's texts joined with "\n\n", and a table chunk made from its
 * table's rows (index/table_rows.h). Real SQLite files in a temporary directory, the real
 * parser and chunker, the database checked with direct SQL. */
#include "check.h"
#include "core/util.h"
#include "embed/encoder.h"
#include "index/store.h"
#include "index/lex.h"
#include "store_check.h"
#include "ingest/chunk.h"
#include "ingest/parse.h"
#include <dirent.h>
#include <sqlite3.h>

static rg_encoder *enc;

static rg_store *open_store(const char *dir, int writable) {
    rg_store_opts o = {.encoder = enc->name, .dim = enc->dim, .writable = writable, .create = writable};
    return rg_store_open(dir, &o);
}

/* Embeds and stores chunks c of document d. */
static int put_chunks(rg_store *s, const rg_doc *d, const rg_chunk *c, int n) {
    float *v = xcalloc((size_t)n * (size_t)enc->dim + 1, sizeof *v);
    const char **t = xcalloc((size_t)n + 1, sizeof *t);
    for (int i = 0; i < n; i++) t[i] = c[i].text;
    int rc = rg_encoder_embed(enc, t, n, 0, v);
    if (rc == 0) rc = rg_store_put_doc(s, d, NULL, c, n, v);
    free(v); free(t);
    return rc;
}

/* One integer from SQL on the index's database file (opened beside the store). */
static long long db_count(const char *dir, const char *sql) {
    char *path = xasprintf("%s/ragd.db", dir);
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    free(path);
    return v;
}

static int db_exec(const char *dir, const char *sql) {
    char *path = xasprintf("%s/ragd.db", dir);
    sqlite3 *h = NULL;
    int rc = sqlite3_open(path, &h) == SQLITE_OK && sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_close(h);
    free(path);
    return rc;
}

/* Every chunk read back (by document and by id) equals what the chunker made: text, section,
 * kind, tokens, page and the parent link. Returns the number of mismatches. */
static int compare_doc(rg_store *s, const char *doc_id, const rg_chunk *c, int n) {
    rg_chunk_row *rows = NULL;
    int nr = 0, bad = 0;
    if (rg_store_doc_chunks(s, doc_id, &rows, &nr) != 0) return 1;
    if (nr != n) bad++;
    for (int i = 0; i < nr && i < n; i++) {
        rg_chunk_row *r = &rows[i];
        if (strcmp(r->text, c[i].text ? c[i].text : "") != 0) { fprintf(stderr, "%s #%d: text differs\n", doc_id, i); bad++; }
        if (strcmp(r->section ? r->section : "", c[i].section ? c[i].section : "") != 0) bad++;
        if (r->ord != i || r->kind != (int)c[i].kind || r->ntokens != c[i].ntokens || r->page != c[i].page) bad++;
        if ((c[i].parent >= 0) != (r->parent >= 0)) bad++;
        else if (c[i].parent >= 0 && (c[i].parent >= nr || rows[c[i].parent].id != r->parent)) bad++;
        rg_chunk_row one;
        if (rg_store_get_chunk(s, r->id, &one) != 1) { bad++; continue; }
        if (strcmp(one.text, r->text) != 0) { fprintf(stderr, "%s #%d: get_chunk text differs\n", doc_id, i); bad++; }
        if (one.parent != r->parent || one.ord != r->ord) bad++;
        rg_chunk_row_free(&one);
    }
    for (int i = 0; i < nr; i++) rg_chunk_row_free(&rows[i]);
    free(rows);
    return bad;
}

/* A Markdown document with several sections of many paragraphs (and a table inside one, so a
 * section's text chunks are not all consecutive). */
static char *sample_md(const char *tag) {
    rg_buf b = {0};
    for (int s = 0; s < 3; s++) {
        rg_buf_printf(&b, "# Part %d of %s\n\n", s, tag);
        for (int p = 0; p < 14; p++) {
            rg_buf_printf(&b, "Paragraph %d of part %d in %s talks about", p, s, tag);
            for (int w = 0; w < 12 + (p * 7 + s) % 9; w++) rg_buf_printf(&b, " word%d", (w * 31 + p) % 97);
            rg_buf_puts(&b, ". It ends here.\n\n");
            if (s == 1 && p == 6) rg_buf_puts(&b, "| Item | 2019 | 2018 |\n|---|---|---|\n| Revenue | 1,452.4 | 1,301.2 |\n\n");
        }
    }
    return rg_buf_take(&b);
}

/* Parses and chunks a Markdown file with a small budget so that sections get parents. */
static rg_doc *md_doc(const char *path, const char *id, rg_chunk **c, int *n) {
    size_t len = 0;
    char *data = rg_read_file(path, 1 << 20, &len);
    rg_doc **docs = NULL;
    int nd = 0;
    *c = NULL; *n = 0;
    if (!data || rg_parse_buffer(path, id, data, len, "text/markdown", &docs, &nd) != 0 || nd != 1) { free(data); return NULL; }
    free(data);
    rg_doc *d = docs[0];
    free(docs);
    rg_chunk_opts o;
    rg_chunk_opts_default(&o);
    o.max_tokens = 40;
    o.overlap_tokens = 8;
    if (rg_chunk_doc(d, &o, c, n) != 0) { rg_doc_free(d); return NULL; }
    return d;
}

/* A sample document (sample_md) written as a file, parsed and chunked small, and a writable
 * store beside it: the set-up most tests here share. */
typedef struct { char *dir, *path, *md; rg_chunk *c; int n; rg_doc *d; rg_store *s; } sample;

static void sample_open(sample *f, const char *name, const char *tag) {
    f->dir = test_tmpdir();
    f->path = xasprintf("%s/%s", f->dir, name);
    f->md = sample_md(tag);
    CHECK(test_write_file(f->path, f->md) == 0);
    f->d = md_doc(f->path, name, &f->c, &f->n);
    CHECK(f->d != NULL);
    f->s = open_store(f->dir, 1);
    CHECKF(f->s != NULL, "%s", rg_errmsg());
}

static void sample_close(sample *f) {
    rg_store_close(f->s);
    rg_chunks_free(f->c, f->n);
    rg_doc_free(f->d);
    free(f->md);
    free(f->path);
    test_rm_rf(f->dir);
    free(f->dir);
}

static int count_parents(const rg_chunk *c, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += c[i].context_only;
    return k;
}

/* The chunker's parents are stored as '' and read back exactly as the chunker made them. */
static void test_parents_stored_empty(void) {
    sample f;
    sample_open(&f, "doc.md", "alpha");
    char *dir = f.dir;
    rg_chunk *c = f.c; int n = f.n; rg_doc *d = f.d; rg_store *s = f.s;   /* s may be reopened: f.s at the end */
    CHECKF(s != NULL, "%s", rg_errmsg());
    if (d && s) {
        int np = count_parents(c, n);
        CHECKF(np >= 3, "the sample should have parents, got %d of %d chunks", np, n);
        CHECK_INT(put_chunks(s, d, c, n), 0);
        CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE context_only = 1 AND text = ''"), np);
        CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE context_only = 1 AND text <> ''"), 0);
        CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE context_only = 0 AND kind = 0 AND text = ''"), 0);
        CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE kind = 1 AND text = ''"), 1);   /* the table */
        /* the other columns are kept */
        long long tok = 0;
        for (int i = 0; i < n; i++) if (c[i].context_only) tok += c[i].ntokens;
        CHECK_INT(db_count(dir, "SELECT sum(ntokens) FROM chunks WHERE context_only = 1"), tok);
        CHECK_INT(compare_doc(s, "doc.md", c, n), 0);
        CHECK_INT(check_clean(s), 0);
        rg_store_close(s);
        s = NULL;
        /* a read-only store (another connection) reads the same */
        rg_store_opts ro = {0};
        rg_store *r = rg_store_open(dir, &ro);
        CHECKF(r != NULL, "%s", rg_errmsg());
        if (r) { CHECK_INT(compare_doc(r, "doc.md", c, n), 0); rg_store_close(r); }
    }
    f.s = s;
    sample_close(&f);
}

/* rg_store_each_chunk's callback: each text must be the next expected one. */
typedef struct { const char **texts; int n, seen, bad; } each_expect;
static int each_matches(int64_t id, const char *text, void *ctx) {
    (void)id;
    each_expect *e = ctx;
    if (e->seen >= e->n || strcmp(text, e->texts[e->seen]) != 0) e->bad++;
    e->seen++;
    return 0;
}

/* The corpora's own documents (real files, every format the parser takes), chunked small so
 * that sections get parents, stored in one batch, read back exactly. */
static void test_corpora_roundtrip(void) {
    const char *cdir = "corpora/reports";
    DIR *dh = opendir(cdir);
    if (!dh) { printf("skip test_corpora_roundtrip: %s not found (run from the repo root)\n", cdir); return; }
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECKF(s != NULL, "%s", rg_errmsg());
    struct dirent *e;
    int ndocs = 0, nparents = 0, bad = 0;
    typedef struct { char *id; rg_chunk *c; int n; } kept;
    kept *k = NULL;
    rg_chunk_opts o;
    rg_chunk_opts_default(&o);
    o.max_tokens = 24;
    o.overlap_tokens = 4;
    CHECK(s && rg_store_batch_begin(s) == 0);
    while (s && (e = readdir(dh))) {
        if (e->d_name[0] == '.') continue;
        char *path = xasprintf("%s/%s", cdir, e->d_name);
        size_t len = 0;
        char *data = rg_read_file(path, 8 << 20, &len);
        rg_doc **docs = NULL;
        int nd = 0;
        if (data && rg_parse_buffer(path, e->d_name, data, len, NULL, &docs, &nd) == 0) {
            for (int i = 0; i < nd; i++) {
                rg_chunk *c = NULL; int n = 0;
                if (rg_chunk_doc(docs[i], &o, &c, &n) == 0 && put_chunks(s, docs[i], c, n) == 0) {
                    k = xrealloc(k, (size_t)(ndocs + 1) * sizeof *k);
                    k[ndocs++] = (kept){xstrdup(docs[i]->id), c, n};
                    nparents += count_parents(c, n);
                } else {
                    bad++;
                    rg_chunks_free(c, n);
                }
                rg_doc_free(docs[i]);
            }
        }
        free(docs); free(data); free(path);
    }
    closedir(dh);
    CHECK(s && rg_store_batch_commit(s) == 0);
    CHECK_INT(bad, 0);
    CHECKF(ndocs >= 5 && nparents >= 1, "%d documents, %d parents", ndocs, nparents);
    CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE context_only = 1 AND text <> ''"), 0);
    CHECKF(db_count(dir, "SELECT count(*) FROM chunks WHERE kind = 1") >= 5, "the corpora have tables");
    CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE kind = 1 AND text <> ''"), 0);
    /* rg_store_each_chunk hands out the texts the chunker made, in id order */
    each_expect ex = {NULL, 0, 0, 0};
    for (int i = 0; i < ndocs; i++)
        for (int j = 0; j < k[i].n; j++)
            if (!k[i].c[j].context_only) {
                ex.texts = xrealloc(ex.texts, (size_t)(ex.n + 1) * sizeof *ex.texts);
                ex.texts[ex.n++] = k[i].c[j].text;
            }
    if (s) CHECK_INT(rg_store_each_chunk(s, each_matches, &ex), 0);
    CHECK_INT(ex.seen, ex.n);
    CHECK_INT(ex.bad, 0);
    free(ex.texts);
    for (int i = 0; i < ndocs; i++) {
        if (s) CHECKF(compare_doc(s, k[i].id, k[i].c, k[i].n) == 0, "%s", k[i].id);
        rg_chunks_free(k[i].c, k[i].n);
        free(k[i].id);
    }
    free(k);
    if (s) CHECK_INT(check_clean(s), 0);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

#define TXT(t, p, ctx) (rg_chunk){.kind = RG_CHUNK_TEXT, .text = (t), .section = "S", .parent = (p), \
                                  .table_index = -1, .ntokens = 3, .context_only = (ctx)}

/* Only a parent that is exactly the join is emptied; anything else is stored verbatim, and all
 * read back as given. */
static void test_non_join_parents_verbatim(void) {
    char *dir = test_tmpdir();
    rg_store *s = open_store(dir, 1);
    CHECKF(s != NULL, "%s", rg_errmsg());
    if (!s) { test_rm_rf(dir); free(dir); return; }
    rg_doc *d = rg_doc_new("hand", "hand", "text");
    rg_chunk c[] = {
        TXT("one\n\ntwo", -1, 1),                 /* 0: parent of 1, 2 (before them): emptied */
        TXT("one", 0, 0),
        TXT("two", 0, 0),
        TXT("one two", -1, 1),                    /* 3: joined with a space: kept */
        TXT("one", 3, 0),
        TXT("two", 3, 0),
        TXT("one\n\ntwo\n\n", -1, 1),             /* 6: a trailing join: kept */
        TXT("one", 6, 0),
        TXT("two", 6, 0),
        TXT("an orphan parent", -1, 1),           /* 9: no children: kept */
        TXT("", -1, 1),                           /* 10: empty, no children: '' either way */
        TXT("a", -1, 1),                          /* 11: parent of 12, which has children of its own */
        TXT("a", 11, 1),                          /* 12: the join of its one child: emptied */
        TXT("a", 12, 0),
        TXT("x\n\ny", -1, 1),                     /* 14: the children are "x" and "y" in ord order */
        TXT("y", 14, 0),
        TXT("x", 14, 0),
        TXT("", -1, 0),                           /* 17: a searchable chunk with empty text */
    };
    int n = (int)(sizeof c / sizeof *c);
    CHECK_INT(put_chunks(s, d, c, n), 0);
    /* emptied: 0, 10 (was ''), 12; kept: 3, 6, 9, 11, 14 */
    CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE context_only = 1 AND text = ''"), 3);
    CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE ord IN (0, 10, 12) AND text = ''"), 3);
    CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE ord IN (3, 6, 9, 11, 14) AND text <> ''"), 5);
    CHECK_INT(compare_doc(s, "hand", c, n), 0);
    CHECK_INT(check_clean(s), 0);
    rg_doc_free(d);
    rg_store_close(s);
    test_rm_rf(dir);
    free(dir);
}

/* An index written before parents were emptied (a parent row holding its text) reads as
 * stored, and a row changed behind the store's back too: non-empty text is used as is. */
static void test_old_style_rows(void) {
    sample f;
    sample_open(&f, "old.md", "beta");
    char *dir = f.dir;
    rg_chunk *c = f.c; int n = f.n; rg_doc *d = f.d; rg_store *s = f.s;   /* s may be reopened: f.s at the end */
    CHECK(d && s);
    if (d && s) {
        CHECK_INT(put_chunks(s, d, c, n), 0);
        rg_store_close(s);
        /* as the previous ragd wrote them: every parent with its text */
        sqlite3 *h = NULL;
        char *db = xasprintf("%s/ragd.db", dir);
        sqlite3_stmt *up = NULL;
        CHECK(sqlite3_open(db, &h) == SQLITE_OK &&
              sqlite3_prepare_v2(h, "UPDATE chunks SET text = ?1 WHERE ord = ?2 AND context_only = 1", -1, &up, NULL) == SQLITE_OK);
        int first = -1;
        for (int i = 0; up && i < n; i++) {
            if (!c[i].context_only) continue;
            if (first < 0) first = i;
            sqlite3_bind_text(up, 1, c[i].text, -1, SQLITE_STATIC);
            sqlite3_bind_int(up, 2, i);
            CHECK(sqlite3_step(up) == SQLITE_DONE);
            sqlite3_reset(up);
        }
        sqlite3_finalize(up);
        sqlite3_close(h);
        free(db);
        CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE context_only = 1 AND text = ''"), 0);
        s = open_store(dir, 1);
        CHECK(s != NULL);
        if (s) CHECK_INT(compare_doc(s, "old.md", c, n), 0);
        rg_store_close(s);
        s = NULL;
        /* a parent whose stored text is not its children's join is returned as stored */
        CHECK(first >= 0);
        char *sql = xasprintf("UPDATE chunks SET text = 'kept as stored' WHERE ord = %d", first);
        CHECK_INT(db_exec(dir, sql), 0);
        free(sql);
        s = open_store(dir, 0);
        rg_chunk_row *rows = NULL; int nr = 0;
        if (s && rg_store_doc_chunks(s, "old.md", &rows, &nr) == 0 && nr == n) {
            CHECK_STR(rows[first].text, "kept as stored");
            rg_chunk_row one;
            CHECK(rg_store_get_chunk(s, rows[first].id, &one) == 1);
            CHECK_STR(one.text, "kept as stored");
            rg_chunk_row_free(&one);
        } else CHECK(!"read old.md");
        for (int i = 0; i < nr; i++) rg_chunk_row_free(&rows[i]);
        free(rows);
    }
    f.s = s;
    sample_close(&f);
}

/* Replacing and removing a document leaves no rows behind: no chunk without its document, no
 * child without its parent, no vector without its chunk; the check passes at each step. */
static void test_replace_remove_no_orphans(void) {
    char *dir = test_tmpdir();
    char *p1 = xasprintf("%s/a.md", dir), *p2 = xasprintf("%s/b.md", dir);
    char *m1 = sample_md("gamma"), *m2 = sample_md("delta and then some more words");
    CHECK(test_write_file(p1, m1) == 0 && test_write_file(p2, m2) == 0);
    rg_chunk *c1, *c2; int n1, n2;
    rg_doc *d1 = md_doc(p1, "a.md", &c1, &n1), *d2 = md_doc(p2, "a.md", &c2, &n2);
    rg_store *s = open_store(dir, 1);
    CHECK(d1 && d2 && s);
    static const char *orphans =
        "SELECT (SELECT count(*) FROM chunks WHERE doc NOT IN (SELECT id FROM documents))"
        " + (SELECT count(*) FROM chunks WHERE parent IS NOT NULL AND parent NOT IN (SELECT id FROM chunks))"
        " + (SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks))";
    if (d1 && d2 && s) {
        CHECK_INT(put_chunks(s, d1, c1, n1), 0);
        CHECK_INT(put_chunks(s, d2, c2, n2), 0);    /* same id: replaces */
        CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks"), n2);
        CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks WHERE context_only = 1 AND text = ''"), count_parents(c2, n2));
        CHECK_INT(db_count(dir, orphans), 0);
        CHECK_INT(compare_doc(s, "a.md", c2, n2), 0);
        CHECK_INT(check_clean(s), 0);
        CHECK_INT(rg_store_remove_doc(s, "a.md"), 1);
        CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks"), 0);
        CHECK_INT(db_count(dir, "SELECT count(*) FROM vectors"), 0);
        CHECK_INT(db_count(dir, orphans), 0);
        CHECK_INT(check_clean(s), 0);
        rg_chunk_row one;
        CHECK_INT(rg_store_get_chunk(s, 1, &one), 0);
    }
    rg_store_close(s);
    rg_chunks_free(c1, n1); rg_chunks_free(c2, n2);
    rg_doc_free(d1); rg_doc_free(d2);
    free(m1); free(m2); free(p1); free(p2);
    test_rm_rf(dir);
    free(dir);
}

/* The first table chunk of a stored document "doc.md" (sample_md): its id, or -1. */
static int64_t first_table_chunk(rg_store *s, rg_chunk_row *copy) {
    rg_chunk_row *rows = NULL;
    int nr = 0;
    int64_t id = -1;
    if (rg_store_doc_chunks(s, "doc.md", &rows, &nr) != 0) return -1;
    for (int i = 0; i < nr; i++)
        if (rows[i].kind == RG_CHUNK_TABLE && id < 0) {
            id = rows[i].id;
            if (copy) { *copy = rows[i]; memset(&rows[i], 0, sizeof rows[i]); }
        }
    for (int i = 0; i < nr; i++) rg_chunk_row_free(&rows[i]);
    free(rows);
    return id;
}

/* A table chunk's rebuilt text serves every reader that needs the words: BM25 finds it after
 * the segments are rebuilt from the stored chunks (rg_lex_build, as a migration does),
 * re-embedding embeds it (the vector equals the encoder's for the chunker's text), and a
 * removal marks it removed with its real length. */
static void test_table_text_readers(void) {
    sample f;
    sample_open(&f, "doc.md", "epsilon");
    char *dir = f.dir;
    rg_chunk *c = f.c; int n = f.n; rg_doc *d = f.d; rg_store *s = f.s;   /* s may be reopened: f.s at the end */
    CHECK(d && s);
    int ti = -1;
    for (int i = 0; i < n; i++) if (c[i].kind == RG_CHUNK_TABLE) ti = i;
    CHECK(ti >= 0 && c[ti].table_text);
    if (d && s && ti >= 0) {
        CHECK_INT(put_chunks(s, d, c, n), 0);
        rg_store_close(s);
        /* BM25 rebuilt from the stored rows alone */
        CHECK_INT(db_exec(dir, "DELETE FROM lex_block; DELETE FROM lex_seg; DELETE FROM lex_dead;"), 0);
        sqlite3 *h = NULL;
        char *db = xasprintf("%s/ragd.db", dir);
        CHECK(sqlite3_open(db, &h) == SQLITE_OK);
        CHECKF(rg_lex_build(h) == 0, "%s", rg_errmsg());
        sqlite3_close(h);
        free(db);
        s = open_store(dir, 1);
        CHECK(s != NULL);
        rg_hit *hits = NULL;
        int nh = 0;
        int64_t tid = s ? first_table_chunk(s, NULL) : -1;
        CHECK(tid > 0);
        CHECK(s && rg_store_search_bm25(s, "revenue 1,452.4", 3, NULL, &hits, &nh) == 0);
        CHECKF(nh >= 1 && hits[0].chunk_id == tid, "%d hits, first %lld, table chunk %lld", nh,
               nh ? (long long)hits[0].chunk_id : -1LL, (long long)tid);
        free(hits);
        if (s) CHECK_INT(check_clean(s), 0);
        /* re-embedding reads the rebuilt text */
        CHECK(s && rg_store_reembed(s, enc, NULL, NULL, NULL, NULL) == 0);
        float *want = xcalloc((size_t)enc->dim, sizeof *want);
        const char *t1[1] = {c[ti].text};
        CHECK_INT(rg_encoder_embed(enc, t1, 1, 0, want), 0);
        hits = NULL; nh = 0;
        CHECK(s && rg_store_search_dense(s, want, 1, NULL, &hits, &nh) == 0);
        CHECKF(nh == 1 && hits[0].chunk_id == tid && hits[0].score > 0.999, "%d hits", nh);
        free(hits); free(want);
        /* removal: the table chunk is marked removed with its length, not an empty one's */
        CHECK(s && rg_store_remove_doc(s, "doc.md") == 1);
        char *sql = xasprintf("SELECT ntok FROM lex_dead WHERE chunk_id = %lld", (long long)tid);
        CHECKF(db_count(dir, sql) > 5, "removed table chunk length %lld", db_count(dir, sql));
        free(sql);
        if (s) CHECK_INT(check_clean(s), 0);
    }
    f.s = s;
    sample_close(&f);
}

/* A table chunk stored with its text (as schema 5 wrote them, or a hand-made chunk without
 * table_text) reads as stored; a damaged or missing table makes the readers fail with a
 * message naming it, never a crash or a silently empty text. */
static void test_table_text_stored_or_damaged(void) {
    sample f;
    sample_open(&f, "doc.md", "zeta");
    char *dir = f.dir;
    rg_chunk *c = f.c; int n = f.n; rg_doc *d = f.d; rg_store *s = f.s;   /* s may be reopened: f.s at the end */
    CHECK(d && s);
    if (d && s) {
        CHECK_INT(put_chunks(s, d, c, n), 0);
        rg_chunk_row orig = {0};
        int64_t tid = first_table_chunk(s, &orig);
        CHECK(tid > 0 && strstr(orig.text, "2019: 1,452.4") != NULL);
        rg_store_close(s);
        /* stored with a text: read as stored */
        CHECK_INT(db_exec(dir, "UPDATE chunks SET text = 'kept as stored' WHERE kind = 1"), 0);
        s = open_store(dir, 0);
        rg_chunk_row one;
        CHECK(s && rg_store_get_chunk(s, tid, &one) == 1);
        if (s) { CHECK_STR(one.text, "kept as stored"); rg_chunk_row_free(&one); }
        rg_store_close(s);
        /* absurd row ranges and header counts (a damaged or hand-edited database): the rows
         * are clamped to the table, never read outside it (the sanitizer builds check) */
        static const char *absurd[] = {
            "UPDATE chunks SET text = '', row_start = -100, row_end = 2147483647 WHERE kind = 1",
            "UPDATE tables SET header_rows = -3, header_cols = 99999",
            "UPDATE tables SET header_rows = 2147483647, header_cols = -2147483648",
        };
        for (size_t k = 0; k < sizeof absurd / sizeof *absurd; k++) {
            CHECK_INT(db_exec(dir, absurd[k]), 0);
            s = open_store(dir, 0);
            CHECK(s && rg_store_get_chunk(s, tid, &one) == 1);
            if (s) rg_chunk_row_free(&one);
            rg_store_close(s);
        }
        /* back to '', then the cells damaged: every reader fails, naming the table */
        CHECK_INT(db_exec(dir, "UPDATE chunks SET text = '' WHERE kind = 1; UPDATE tables SET cells = x'01ff'"), 0);
        s = open_store(dir, 0);
        CHECK(s != NULL);
        if (s) {
            CHECK_INT(rg_store_get_chunk(s, tid, &one), -1);
            CHECKF(strstr(rg_errmsg(), "table") != NULL, "%s", rg_errmsg());
            rg_chunk_row *rows = NULL;
            int nr = 0;
            CHECK_INT(rg_store_doc_chunks(s, "doc.md", &rows, &nr), -1);
            CHECK(rows == NULL && nr == 0);
            each_expect ex = {NULL, 0, 0, 0};
            CHECK_INT(rg_store_each_chunk(s, each_matches, &ex), -1);
            /* chunks before the table were handed out; none after */
            CHECK(ex.seen < n);
        }
        rg_store_close(s);
        /* the table gone altogether: the check reports it */
        CHECK_INT(db_exec(dir, "DELETE FROM tables"), 0);
        s = open_store(dir, 1);
        char *rep = NULL;
        CHECK(s && rg_store_check(s, &rep) != 0);
        CHECKF(rep && strstr(rep, "table chunks stored without text"), "%s", rep ? rep : "(none)");
        free(rep);
        if (s) {
            CHECK_INT(rg_store_get_chunk(s, tid, &one), -1);
            CHECKF(strstr(rg_errmsg(), "missing") != NULL, "%s", rg_errmsg());
            /* the document can still be removed (or replaced by indexing it again) */
            CHECK_INT(rg_store_remove_doc(s, "doc.md"), 1);
            CHECK_INT(db_count(dir, "SELECT count(*) FROM chunks"), 0);
            CHECK_INT(check_clean(s), 0);
        }
        rg_chunk_row_free(&orig);
    }
    f.s = s;
    sample_close(&f);
}

int main(void) {
    enc = rg_hash_encoder_new(64);
    RUN(test_parents_stored_empty);
    RUN(test_corpora_roundtrip);
    RUN(test_non_join_parents_verbatim);
    RUN(test_old_style_rows);
    RUN(test_replace_remove_no_orphans);
    RUN(test_table_text_readers);
    RUN(test_table_text_stored_or_damaged);
    rg_encoder_free(enc);
    TESTS_DONE();
}
