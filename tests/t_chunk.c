/* Tests for ingest/chunk: structure-first packing (sections, paragraphs, sentences), the
 * token budget and overlap, parent chunks, table linearisation and row groups, hostile text,
 * linear time on big input, and the corpus documents end to end. */
#include "check.h"
#include "core/approx_tokens.h"
#include "core/table_text.h"
#include "ingest/chunk.h"
#include "ingest/parse.h"
#include "core/util.h"
#include <stdint.h>

static rg_chunk *ch;
static int nch;

static void run_chunker(const rg_doc *d, int max, int overlap) {
    rg_chunk_opts o;
    rg_chunk_opts_default(&o);
    if (max) o.max_tokens = max;
    if (overlap >= 0) o.overlap_tokens = overlap;
    ch = NULL;
    nch = -1;
    CHECK_INT(rg_chunk_doc(d, &o, &ch, &nch), 0);
}

static void done(void) { rg_chunks_free(ch, nch); ch = NULL; nch = 0; }

static rg_table *make_table(int R, int C, const char **cells) {
    rg_table *t = rg_table_new(R, C);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) rg_table_set(t, r, c, cells[r * C + c]);
    return t;
}

static void test_sections_and_paragraphs(void) {
    rg_doc *d = rg_doc_new("d", "d.md", "markdown");
    rg_doc_add_text(d, RG_BLOCK_HEADING, 1, "Annual Report", "Annual Report");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, "Revenue rose to $1,452.4 million.", "Annual Report");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, "Margins improved.", "Annual Report");
    rg_doc_add_text(d, RG_BLOCK_HEADING, 2, "Risks", "Annual Report > Risks");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, "Fuel prices may rise.", "Annual Report > Risks");
    run_chunker(d, 0, -1);
    CHECK_INT(nch, 2);
    if (nch == 2) {
        CHECK_STR(ch[0].text, "Revenue rose to $1,452.4 million.\n\nMargins improved.");
        CHECK_STR(ch[0].section, "Annual Report");
        CHECK_INT(ch[0].kind, RG_CHUNK_TEXT);
        CHECK_INT(ch[0].parent, -1);     /* one chunk per section: no parent needed */
        CHECK_INT(ch[0].context_only, 0);
        CHECK_STR(ch[1].text, "Fuel prices may rise.");
        CHECK_STR(ch[1].section, "Annual Report > Risks");
        CHECK(ch[0].ntokens >= 8 && ch[0].ntokens <= 16);
    }
    done();
    rg_doc_free(d);
    /* no text: no chunks */
    d = rg_doc_new("e", "e", "text");
    run_chunker(d, 0, -1);
    CHECK_INT(nch, 0);
    done();
    rg_doc_add_text(d, RG_BLOCK_HEADING, 1, "Only a title", "Only a title");
    run_chunker(d, 0, -1);
    CHECK_INT(nch, 0);
    done();
    rg_doc_free(d);
}

/* Every sentence of the source is in some searchable chunk, and budgets hold. */
static void test_long_paragraph_overlap_parents(void) {
    rg_buf b = {0};
    for (int i = 0; i < 60; i++)
        rg_buf_printf(&b, "Sentence number %d says that Northwind Robotics Inc. grew revenue in the U.S. by %d.%d percent. ", i, i, i % 10);
    rg_doc *d = rg_doc_new("d", "d", "text");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, "A short opening paragraph.", "Report > Results");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, b.data, "Report > Results");
    run_chunker(d, 64, 32);
    int children = 0, parents = 0;
    for (int i = 0; i < nch; i++) {
        CHECK_STR(ch[i].section, "Report > Results");
        if (ch[i].context_only) { parents++; CHECK_INT(ch[i].parent, -1); continue; }
        children++;
        CHECKF(ch[i].ntokens <= 64, "chunk %d has %d tokens", i, ch[i].ntokens);
        CHECKF(ch[i].ntokens == rg_approx_tokens(ch[i].text), "chunk %d: ntokens %d, text %d", i, ch[i].ntokens, rg_approx_tokens(ch[i].text));
        /* starts at a sentence start, never inside "Inc." or "U.S." */
        CHECKF(strncmp(ch[i].text, "Sentence number", 15) == 0 || strncmp(ch[i].text, "A short", 7) == 0, "%.40s", ch[i].text);
        /* the parent holds the child's text */
        CHECK(ch[i].parent >= 0 && ch[i].parent < nch);
        if (ch[i].parent >= 0 && ch[i].parent < nch) {
            CHECK(ch[ch[i].parent].context_only);
            CHECK(strstr(ch[ch[i].parent].text, ch[i].text) != NULL);
        }
    }
    CHECK(children >= 10);
    CHECK(parents >= 2);
    for (int s = 0; s < 60; s++) {
        char needle[64];
        snprintf(needle, sizeof needle, "Sentence number %d says", s);
        int found = 0;
        for (int i = 0; i < nch; i++) if (!ch[i].context_only && strstr(ch[i].text, needle)) found = 1;
        CHECKF(found, "sentence %d lost", s);
    }
    /* overlap: consecutive chunks inside the paragraph share a sentence */
    int shared = 0;
    for (int i = 1; i < nch; i++) {
        if (ch[i].context_only || ch[i - 1].context_only) continue;
        const char *last = NULL;
        for (const char *p = ch[i - 1].text; (p = strstr(p, "Sentence number")); p++) last = p;
        if (last && strstr(ch[i].text, last)) shared++;
    }
    CHECK(shared >= 5);
    done();
    /* overlap 0: no sentence in two chunks */
    run_chunker(d, 64, 0);
    int total = 0;
    for (int i = 0; i < nch; i++)
        if (!ch[i].context_only)
            for (const char *p = ch[i].text; (p = strstr(p, "Sentence number")); p++) total++;
    CHECK_INT(total, 60);
    done();
    rg_doc_free(d);
    rg_buf_free(&b);
}

static void test_hostile_text(void) {
    /* one enormous sentence, a giant word, and multi-byte characters */
    rg_buf b = {0};
    for (int i = 0; i < 3000; i++) rg_buf_puts(&b, "word ");
    for (int i = 0; i < 5000; i++) rg_buf_puts(&b, "\xC3\xA9");   /* é, no spaces */
    rg_buf_puts(&b, " ");
    for (int i = 0; i < 4000; i++) rg_buf_putc(&b, '7');
    rg_doc *d = rg_doc_new("h", "h", "text");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, b.data, "");
    run_chunker(d, 100, 10);
    size_t bytes = 0;
    for (int i = 0; i < nch; i++) {
        if (ch[i].context_only) continue;
        CHECKF(ch[i].ntokens <= 100, "chunk %d: %d tokens", i, ch[i].ntokens);
        CHECK(rg_utf8_valid(ch[i].text, strlen(ch[i].text)));
        bytes += strlen(ch[i].text);
    }
    CHECK(bytes + 200 >= b.len - 3000);   /* nothing dropped but separators */
    done();
    rg_doc_free(d);
    rg_buf_free(&b);
    /* odd options are clamped, not trusted */
    d = rg_doc_new("x", "x", "text");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, "One. Two. Three.", "");
    rg_chunk_opts o = {-5, 1000, -1};
    CHECK_INT(rg_chunk_doc(d, &o, &ch, &nch), 0);
    CHECK(nch >= 1);
    done();
    CHECK_INT(rg_chunk_doc(d, NULL, &ch, &nch), 0);
    CHECK_INT(nch, 1);
    done();
    rg_doc_free(d);
}

/* Every table chunk of d (chunked into ch) says its text is its table's rows, and it is:
 * what the store rebuilds (core/table_text.h) equals what the chunker wrote. */
static int table_texts_rebuild(const rg_doc *d) {
    int bad = 0;
    for (int i = 0; i < nch; i++) {
        if (ch[i].kind != RG_CHUNK_TABLE) continue;
        const rg_table *t = NULL;
        for (int b = 0, k = 0; b < d->nblocks && !t; b++)
            if (d->blocks[b].kind == RG_BLOCK_TABLE && k++ == ch[i].table_index) t = d->blocks[b].table;
        char *lin = t ? rg_table_linearize(t, t->caption, ch[i].row_start, ch[i].row_end) : NULL;
        if (!ch[i].table_text || !lin || strcmp(lin, ch[i].text) != 0) {
            fprintf(stderr, "%s chunk %d: rows %d-%d not rebuilt\n", d->id, i, ch[i].row_start, ch[i].row_end);
            bad++;
        }
        free(lin);
    }
    return bad;
}

static void test_table_chunks(void) {
    const char *cells[] = {"", "2019", "2018",
                           "Revenue", "1,452.4", "1,301.2",
                           "Cost of revenue", "(812.6)", "(745.0)",
                           "Other", "", "3.1"};
    rg_table *t = make_table(4, 3, cells);
    t->header_rows = 1;
    t->header_cols = 1;
    t->caption = xstrdup("Results of operations");
    strcpy(t->scale, "million");
    rg_doc *d = rg_doc_new("t", "t", "html");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, "Before the table.", "MD&A");
    rg_doc_add_table(d, t, "MD&A");
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, "After the table.", "MD&A");
    run_chunker(d, 0, -1);
    CHECK_INT(nch, 3 + 1);   /* text, table, text, and the section's parent */
    if (nch == 4) {
        CHECK_STR(ch[0].text, "Before the table.");
        CHECK_INT(ch[1].kind, RG_CHUNK_TABLE);
        CHECK_INT(ch[1].table_index, 0);
        CHECK_INT(ch[1].row_start, 1);
        CHECK_INT(ch[1].row_end, 4);
        CHECK_STR(ch[1].text, "Results of operations (in millions)\n2019 | 2018\n"
                              "Revenue | 2019: 1,452.4 | 2018: 1,301.2\n"
                              "Cost of revenue | 2019: (812.6) | 2018: (745.0)\n"
                              "Other | 2018: 3.1");
        CHECK_STR(ch[1].section, "MD&A");
        CHECK_STR(ch[2].text, "After the table.");
        CHECK(ch[3].context_only);
        CHECK(strstr(ch[3].text, "Before") && strstr(ch[3].text, "After") && !strstr(ch[3].text, "2019:"));
        CHECK(ch[0].parent == 3 && ch[2].parent == 3 && ch[1].parent == -1);
        CHECK(ch[1].table_text && !ch[0].table_text && !ch[3].table_text);
    }
    CHECK_INT(table_texts_rebuild(d), 0);
    done();
    char *lin = rg_table_linearize(t, NULL, 2, 3);
    CHECK_STR(lin, "(in millions)\n2019 | 2018\nCost of revenue | 2019: (812.6) | 2018: (745.0)");
    free(lin);
    rg_doc_free(d);
}

static void test_big_table_groups(void) {
    int R = 602, C = 4;
    rg_table *t = rg_table_new(R, C);
    rg_table_set(t, 0, 0, "");
    rg_table_set(t, 0, 1, "Year Ended December 31,");
    rg_table_set(t, 0, 2, "Year Ended December 31,");
    rg_table_set(t, 0, 3, "Change");
    rg_table_set(t, 1, 0, "");
    rg_table_set(t, 1, 1, "2019");
    rg_table_set(t, 1, 2, "2018");
    rg_table_set(t, 1, 3, "Change");
    for (int r = 2; r < R; r++) {
        char buf[64];
        snprintf(buf, sizeof buf, "Item %d", r);
        rg_table_set(t, r, 0, buf);
        snprintf(buf, sizeof buf, "%d.5", r * 3);
        rg_table_set(t, r, 1, buf);
        snprintf(buf, sizeof buf, "%d.25", r * 2);
        rg_table_set(t, r, 2, buf);
        rg_table_set(t, r, 3, "1.0%");
    }
    t->header_rows = 2;
    t->header_cols = 1;
    rg_doc *d = rg_doc_new("b", "b", "csv");
    rg_doc_add_table(d, t, "");
    rg_doc_add_table(d, make_table(1, 2, (const char *[]){"a", "b"}), "");
    rg_chunk_opts o;
    rg_chunk_opts_default(&o);
    o.table_max_tokens = 200;
    CHECK_INT(rg_chunk_doc(d, &o, &ch, &nch), 0);
    CHECK(nch > 10);
    int next = 2, last_table = -1;
    for (int i = 0; i < nch; i++) {
        if (ch[i].table_index == 1) { last_table = i; continue; }
        CHECK_INT(ch[i].kind, RG_CHUNK_TABLE);
        CHECK_INT(ch[i].table_index, 0);
        CHECK_INT(ch[i].row_start, next);
        CHECK(ch[i].row_end > ch[i].row_start);
        next = ch[i].row_end;
        CHECKF(ch[i].ntokens <= 200, "group %d: %d tokens", i, ch[i].ntokens);
        /* headers repeated; spanned header text once per column */
        const char *head = "Year Ended December 31, 2019 | Year Ended December 31, 2018 | Change\n";
        CHECKF(strncmp(ch[i].text, head, strlen(head)) == 0, "%.80s", ch[i].text);
        char want[96];
        snprintf(want, sizeof want, "Item %d | Year Ended December 31, 2019: %d.5 | Year Ended December 31, 2018: %d.25 | Change: 1.0%%",
                 ch[i].row_start, ch[i].row_start * 3, ch[i].row_start * 2);
        CHECKF(strstr(ch[i].text, want) != NULL, "%s", want);
    }
    CHECK_INT(next, R);
    CHECK(last_table == nch - 1);
    CHECK_INT(table_texts_rebuild(d), 0);
    done();
    rg_doc_free(d);
}

static void test_linear_time(void) {
    rg_doc *d = rg_doc_new("big", "big", "text");
    rg_buf b = {0};
    for (int p = 0; p < 4000; p++) {
        b.len = 0;
        for (int s = 0; s < 12; s++) rg_buf_printf(&b, "Paragraph %d sentence %d mentions revenue, margins and the U.S. market. ", p, s);
        rg_doc_add_text(d, RG_BLOCK_PARA, 0, b.data, p % 50 == 0 ? "A" : "A");
    }
    rg_table *t = rg_table_new(20001, 3);
    for (int r = 0; r < 20001; r++) { rg_table_set(t, r, 0, r ? "row" : ""); rg_table_set(t, r, 1, r ? "1,234.5" : "2019"); rg_table_set(t, r, 2, "x"); }
    t->header_rows = 1;
    t->header_cols = 1;
    rg_doc_add_table(d, t, "B");
    double t0 = rg_now();
    run_chunker(d, 0, -1);
    double dt = rg_now() - t0;
    printf("# chunked %d chunks in %.2fs\n", nch, dt);
    CHECKF(dt < 10.0, "%.2fs", dt);
    CHECK(nch > 1000);
    done();
    rg_doc_free(d);
    rg_buf_free(&b);
}

/* The corpus documents through parse + chunk: the figures a question needs are in one chunk. */
static void test_corpus(void) {
    const char *files[] = {"corpora/reports/northwind-2019-10k.html", "corpora/reports/blueharbor-2019-quarterly.csv",
                           "corpora/reports/corvid-q3-2020-results.pdf", NULL};
    const char *needles[] = {"Revenue | Fiscal 2019 Q1: 331.2 | Fiscal 2019 Q2: 352.9 | Fiscal 2019 Q3: 369.4 | Fiscal 2019 Q4: 398.9",
                             "Ready meals net sales | Q1 2019: 221,400",
                             "Total revenue | Q3 2020: 84.6 | Q3 2019: 75.5"};
    for (int f = 0; files[f]; f++) {
        size_t len;
        char *data = rg_read_file(files[f], 1 << 24, &len);
        CHECKF(data != NULL, "%s", rg_errmsg());
        if (!data) continue;
        rg_doc **docs = NULL;
        int nd = 0;
        CHECKF(rg_parse_buffer(files[f], files[f], data, len, NULL, &docs, &nd) == 0, "%s", rg_errmsg());
        free(data);
        int found = 0;
        for (int i = 0; i < nd; i++) {
            run_chunker(docs[i], 0, -1);
            for (int k = 0; k < nch; k++) if (ch[k].kind == RG_CHUNK_TABLE && strstr(ch[k].text, needles[f])) found = 1;
            CHECK_INT(table_texts_rebuild(docs[i]), 0);
            done();
            rg_doc_free(docs[i]);
        }
        free(docs);
        CHECKF(found, "%s: no chunk with \"%s\"", files[f], needles[f]);
    }
}

/* Mutated corpus files (bytes flipped, cut, deleted) through parse + chunk: a document or an
 * error naming the input, never a crash (the sanitizer builds check memory). */
static void test_mutations(void) {
    const char *files[] = {"corpora/reports/northwind-2019-10k.html", "corpora/reports/blueharbor-2019-quarterly.csv",
                           "corpora/reports/corvid-kpis-2020.json", "corpora/reports/corvid-q3-2020-results.pdf", NULL};
    uint64_t rs = 0x9E3779B97F4A7C15ULL;
    for (int f = 0; files[f]; f++) {
        size_t len;
        char *orig = rg_read_file(files[f], 1 << 24, &len);
        CHECK(orig != NULL);
        if (!orig) continue;
        char *buf = xmalloc(len + 1);
        int ok = 0, failed = 0;
        for (int it = 0; it < 60; it++) {
            memcpy(buf, orig, len);
            size_t n = len;
            int muts = 1 + it % 12;
            for (int m = 0; m < muts && n > 2; m++) {
                rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
                size_t pos = (size_t)(rs >> 8) % n;
                switch (rs % 4) {
                case 0: buf[pos] = (char)(rs >> 40); break;
                case 1: n = pos + 1; break;
                case 2: buf[pos] = "<>\"',;|\n()[]{}%$-"[(rs >> 32) % 17]; break;
                default: memmove(buf + pos, buf + pos + 1, n - pos - 1); n--; break;
                }
            }
            rg_doc **docs = NULL;
            int nd = 0;
            if (rg_parse_buffer(files[f], "m", buf, n, NULL, &docs, &nd) != 0) {
                failed++;
                CHECKF(strstr(rg_errmsg(), files[f]) != NULL, "%s", rg_errmsg());
                continue;
            }
            ok++;
            for (int k = 0; k < nd; k++) {
                rg_chunk *c = NULL;
                int nc = 0;
                CHECK_INT(rg_chunk_doc(docs[k], NULL, &c, &nc), 0);
                for (int i = 0; i < nc; i++) CHECK(c[i].text && rg_utf8_valid(c[i].text, strlen(c[i].text)));
                rg_chunks_free(c, nc);
                rg_doc_free(docs[k]);
            }
            free(docs);
        }
        printf("# %s: %d mutants parsed, %d refused\n", files[f], ok, failed);
        free(buf);
        free(orig);
    }
}

int main(void) {
    RUN(test_sections_and_paragraphs);
    RUN(test_long_paragraph_overlap_parents);
    RUN(test_hostile_text);
    RUN(test_table_chunks);
    RUN(test_big_table_groups);
    RUN(test_linear_time);
    RUN(test_corpus);
    RUN(test_mutations);
    TESTS_DONE();
}
