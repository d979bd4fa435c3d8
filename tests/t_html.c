/* Tests for ingest/html: sections from headings, boilerplate dropped, tables with
 * colspan/rowspan, header rows, captions and scale; malformed and hostile input. */
#include "check.h"
#include "ingest/parse.h"
#include "parse_one.h"
#include "core/util.h"
#include "ingest/sentence.h"
#include "ingest/chunk.h"
#include <pthread.h>

static rg_doc *html(const char *name, const char *text) { return parse_one(name, text, strlen(text)); }

static rg_table *nth_table(rg_doc *d, int k, rg_block **blk) {
    for (int i = 0; d && i < d->nblocks; i++)
        if (d->blocks[i].kind == RG_BLOCK_TABLE && k-- == 0) { if (blk) *blk = &d->blocks[i]; return d->blocks[i].table; }
    return NULL;
}

static int has_text(rg_doc *d, const char *needle) {
    for (int i = 0; d && i < d->nblocks; i++) {
        if (d->blocks[i].text && strstr(d->blocks[i].text, needle)) return 1;
        rg_table *t = d->blocks[i].table;
        for (int k = 0; t && k < t->nrows * t->ncols; k++) if (t->cells[k].raw && strstr(t->cells[k].raw, needle)) return 1;
    }
    return 0;
}

static void test_corpus_page(void) {
    const char *path = "corpora/reports/northwind-2019-10k.html";
    size_t len;
    char *data = rg_read_file(path, 1 << 20, &len);
    CHECKF(data != NULL, "%s", rg_errmsg());
    if (!data) return;
    CHECK_STR(rg_detect_format(path, data, len, NULL), "html");
    rg_doc *d = html(path, data);
    free(data);
    CHECKF(d != NULL, "%s", rg_errmsg());
    if (!d) return;
    CHECK_STR(d->kind, "html");
    CHECK_STR(d->title, "Northwind Robotics Inc. Form 10-K 2019 (excerpt)");
    /* boilerplate is gone, content stays */
    CHECK(!has_text(d, "tracking code"));
    CHECK(!has_text(d, "Investor Relations home"));
    CHECK(!has_text(d, "Sign up for investor"));
    CHECK(!has_text(d, "All rights reserved"));
    CHECK(!has_text(d, "border-collapse"));
    CHECK(has_text(d, "employed 4,870 people"));
    CHECK(has_text(d, "Management\xE2\x80\x99s Discussion"));   /* &rsquo; decoded */
    /* the section path of a paragraph */
    int found = 0;
    for (int i = 0; i < d->nblocks; i++)
        if (d->blocks[i].text && strstr(d->blocks[i].text, "Cash and cash equivalents were $412.9 million")) {
            CHECK_STR(d->blocks[i].section, "Northwind Robotics Inc. Annual Report on Form 10-K for Fiscal 2019 > "
                                            "Item 7. Management\xE2\x80\x99s Discussion and Analysis > Liquidity and Capital Resources");
            found = 1;
        }
    CHECK(found);
    /* table 1: thead with rowspan and colspan */
    rg_block *b = NULL;
    rg_table *t = nth_table(d, 0, &b);
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->nrows, 6);
        CHECK_INT(t->ncols, 4);
        CHECK_INT(t->header_rows, 2);
        CHECK_INT(t->header_cols, 1);
        CHECK_STR(t->caption, "Revenue by geographic area ($ in millions)");
        CHECK_STR(t->scale, "million");
        CHECK_STR(cell(t, 1, 0)->raw, "Region");                     /* rowspan copied down */
        CHECK_STR(cell(t, 0, 2)->raw, "Year Ended December 31,");    /* header colspan copied across */
        CHECK_INT(cell(t, 1, 1)->type, RG_CELL_YEAR);
        CHECK_NEAR(cell(t, 1, 2)->value, 2018, 0);
        CHECK_STR(cell(t, 1, 3)->raw, "% Change");
        CHECK_NEAR(cell(t, 5, 1)->value, 1452.4, 1e-9);
        CHECK_STR(cell(t, 5, 1)->unit, "$");
        CHECK_INT(cell(t, 3, 3)->type, RG_CELL_PERCENT);
        /* the regions add up to the total */
        CHECK_NEAR(cell(t, 2, 1)->value + cell(t, 3, 1)->value + cell(t, 4, 1)->value, cell(t, 5, 1)->value, 1e-6);
        CHECK(strstr(b->section, "Revenue by Geography") != NULL);
    }
    /* table 2: no thead/th; caption from the heading, scale from a header cell */
    t = nth_table(d, 1, NULL);
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->ncols, 5);
        CHECK_STR(t->caption, "Quarterly Results (Unaudited)");
        CHECK_STR(t->scale, "million");
        CHECK_INT(t->header_rows, 2);
        CHECK_STR(cell(t, 0, 4)->raw, "Fiscal 2019");   /* a <td colspan> header heads all its columns */
        CHECK_INT(cell(t, 0, 4)->type, RG_CELL_YEAR);
        CHECK_NEAR(cell(t, 4, 1)->value, -4.2, 1e-12);
        CHECK_NEAR(cell(t, 5, 1)->value, -0.05, 1e-12);
        double sum = 0;
        for (int c = 1; c <= 4; c++) sum += cell(t, 2, c)->value;
        CHECK_NEAR(sum, 1452.4, 1e-6);
    }
    CHECK(nth_table(d, 2, NULL) == NULL);
    rg_doc_free(d);
}

static void test_malformed(void) {
    rg_doc *d = html("bad.html", "<p>Unclosed <b>bold <table><tr><th>Item<th>2019<tr><td>Revenue<td>1,200"
                                 "<tr><td>Costs<td>(300)</table><h2>Next <i>part</h2><div>tail text &amp; more &bogus; &#8212;");
    CHECKF(d != NULL, "%s", rg_errmsg());
    rg_table *t = nth_table(d, 0, NULL);
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->nrows, 3);
        CHECK_INT(t->header_rows, 1);
        CHECK_NEAR(cell(t, 2, 1)->value, -300, 0);
    }
    CHECK(has_text(d, "Unclosed bold"));
    CHECK(has_text(d, "tail text & more"));
    int sect = 0;
    for (int i = 0; d && i < d->nblocks; i++) if (d->blocks[i].text && strstr(d->blocks[i].text, "tail text")) sect = strcmp(d->blocks[i].section, "Next part") == 0;
    CHECK(sect);
    rg_doc_free(d);
}

static void test_layout_and_spans(void) {
    /* a table holding a table is layout: its text is kept, the inner table is a table */
    rg_doc *d = html("layout.html", "<html><body><table><tr><td><h1>Menu</h1><p>Welcome text</p>"
                                    "<table><tr><td>Sales</td><td>10</td></tr><tr><td>Costs</td><td>4</td></tr>"
                                    "<tr><td>Profit</td><td>6</td></tr></table></td></tr></table></body></html>");
    CHECKF(d != NULL, "%s", rg_errmsg());
    CHECK(has_text(d, "Welcome text"));
    rg_table *t = nth_table(d, 0, NULL);
    CHECK(t && t->nrows == 3 && t->ncols == 2);
    CHECK(nth_table(d, 1, NULL) == NULL);
    rg_doc_free(d);
    /* a body label spanning columns is not repeated; absurd spans are clamped */
    d = html("span.html", "<table><tr><th>Item</th><th>2019</th><th>2018</th></tr>"
                          "<tr><td colspan=3>Operating data:</td></tr>"
                          "<tr><td>Units</td><td>5</td><td>4</td></tr>"
                          "<tr><td rowspan=999999 colspan=0>x</td><td colspan=100000>1</td></tr></table>");
    CHECKF(d != NULL, "%s", rg_errmsg());
    t = nth_table(d, 0, NULL);
    CHECK(t != NULL);
    if (t) {
        CHECK_STR(cell(t, 1, 0)->raw, "Operating data:");
        CHECK_STR(cell(t, 1, 1)->raw, "");
        CHECK(t->ncols <= 260);
        CHECK_INT(t->nrows, 4);
    }
    rg_doc_free(d);
}

static void test_hostile(void) {
    rg_doc **docs = NULL;
    int n = 0;
    /* deep nesting */
    rg_buf b = {0};
    rg_buf_puts(&b, "<html><body>");
    for (int i = 0; i < 20000; i++) rg_buf_puts(&b, "<div>");
    rg_buf_puts(&b, "deep text");
    rg_doc *d = html("deep.html", b.data);
    rg_buf_free(&b);
    CHECKF(d != NULL || strstr(rg_errmsg(), "deep.html"), "%s", rg_errmsg());
    rg_doc_free(d);
    /* no text at all */
    CHECK(html("empty.html", "<html><head><title></title><script>x()</script></head><body></body></html>") == NULL);
    CHECKF(strstr(rg_errmsg(), "empty.html") != NULL, "%s", rg_errmsg());
    /* binary bytes in a .html file */
    const char bin[] = "<html>\x00\x01\x02\x03\x04\x05\x06\x07\x00\x00\x00";
    CHECK_INT(rg_parse_buffer("bin.html", "bin.html", bin, sizeof bin, NULL, &docs, &n), -1);
    CHECK(strstr(rg_errmsg(), "bin.html") != NULL);
    /* invalid UTF-8 is repaired */
    d = html("latin1.html", "<html><body><p>Caf\xe9 revenue</p></body></html>");
    CHECKF(d != NULL, "%s", rg_errmsg());
    CHECK(has_text(d, "Caf\xEF\xBF\xBD revenue"));
    rg_doc_free(d);
    /* XHTML with a declaration and namespace; detected by content without a name hint */
    const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">"
                    "<head><title>X</title></head><body><h1>Report</h1><p>Body text.</p></body></html>";
    CHECK_STR(rg_detect_format("page", x, strlen(x), NULL), "html");
    d = html("page", x);
    CHECK(d && d->nblocks == 2 && has_text(d, "Body text."));
    rg_doc_free(d);
    CHECK_STR(rg_detect_format("page", "<div>hi</div>", 13, NULL), "html");
    CHECK_STR(rg_detect_format("page", "hello <b>", 9, "text/html; charset=utf-8"), "html");
}

/* The parser's events are read as libxml2's own tree builder would have built its tree:
 * an unfinished start tag ends there, content after </html> stays inside the root (unless
 * a DOCTYPE made the root a sibling), prefixed names count by their local part, text split
 * by a comment is one text, and the tree builder's depth limit (256) ends the document. */
static void test_tree_shape(void) {
    rg_doc *d = html("open.html", "<html><body><p>a <a href=x <b>bold</b> c</p><div>tail");
    CHECKF(d != NULL, "%s", rg_errmsg());
    CHECK(d && d->nblocks == 2 && has_text(d, "a bold c") && strcmp(d->blocks[1].text, "tail") == 0);
    if (d && d->nblocks == 2) CHECK_INT(d->blocks[1].offset, 44);
    rg_doc_free(d);
    d = html("after.html", "<html><body><p>a</p></body></html><p>after</p>");
    CHECK(d && d->nblocks == 2 && strcmp(d->blocks[1].text, "after") == 0 && d->blocks[1].offset == 34);
    rg_doc_free(d);
    CHECK(html("hidden.html", "<html hidden><body><p>a</p></body></html><p>trail</p>") == NULL);
    CHECKF(strstr(rg_errmsg(), "hidden.html: HTML page has no text content") != NULL, "%s", rg_errmsg());
    d = html("dt.html", "<!DOCTYPE html><html hidden><body><p>a</p></body></html><p>trail</p>");
    CHECK(d && d->nblocks == 1 && strcmp(d->blocks[0].text, "trail") == 0);
    rg_doc_free(d);
    d = html("ns.html", "<html><body><x:h1>B</x:h1><div x:hidden>shown</div><p>a<!-- c -->b<script>no</script></p>");
    CHECK(d && d->nblocks == 3);
    if (d && d->nblocks == 3) {
        CHECK_INT(d->blocks[0].kind, RG_BLOCK_HEADING);
        CHECK_INT(d->blocks[0].level, 1);
        CHECK_STR(d->title, "B");
        CHECK_STR(d->blocks[1].text, "shown");
        CHECK_STR(d->blocks[2].text, "ab");
    }
    rg_doc_free(d);
    rg_buf b = {0};
    rg_buf_puts(&b, "<html><body>");
    for (int i = 0; i < 300; i++) rg_buf_printf(&b, "<div>t%d ", i);
    rg_buf_puts(&b, "<p>after</p>");
    d = html("deep300.html", b.data);
    CHECKF(d != NULL, "%s", rg_errmsg());
    if (d) {   /* html, body and 255 divs: the 256th div stops the parse */
        CHECK_INT(d->nblocks, 255);
        CHECK_STR(d->blocks[d->nblocks - 1].text, "t254");
        CHECK_INT(d->blocks[d->nblocks - 1].offset, strstr(b.data, "<div>t254") - b.data);
        CHECK(!has_text(d, "t255") && !has_text(d, "after"));
    }
    rg_doc_free(d);
    rg_buf_free(&b);
}

/* Parsers used from several threads at once (the daemon indexes in worker threads). */
static char *files_data[3];
static size_t files_len[3];
static const char *files_name[3] = {"corpora/reports/northwind-2019-10k.html", "corpora/reports/corvid-q3-2020-results.pdf",
                                    "corpora/reports/blueharbor-2019-quarterly.csv"};
/* Blocks carry the byte offset of their element's start tag, past multi-byte text and long
 * attributes; chunks made from them report it. */
static void test_offsets(void) {
    const char *text =
        "<!DOCTYPE html>\n<html><head><title>T</title><script>var s = \"<p>not this</p>\";</script></head>\n"
        "<body><nav><a href=\"/\">Home</a></nav>\n"
        "<h1 class=\"big\">Caf\xc3\xa9 r\xc3\xa9sum\xc3\xa9</h1>\n"
        "<p data-x=\"a > b\">First paragraph, with <b>bold</b> words.</p>\n"
        "<div><p>Second paragraph.</p></div>\n"
        "<table><tr><th></th><th>2019</th></tr><tr><td>Revenue</td><td>1,452.4</td></tr></table>\n"
        "</body></html>\n";
    rg_doc *d = html("off.html", text);
    CHECK(d != NULL);
    if (!d) return;
    int64_t want_h1 = strstr(text, "<h1") - text, want_p1 = strstr(text, "<p data-x") - text,
            want_p2 = strstr(text, "<p>Second") - text, want_t = strstr(text, "<table>") - text;
    int seen = 0;
    for (int i = 0; i < d->nblocks; i++) {
        rg_block *b = &d->blocks[i];
        if (b->kind == RG_BLOCK_HEADING) { CHECK_INT(b->offset, want_h1); seen |= 1; }
        else if (b->kind == RG_BLOCK_TABLE) { CHECK_INT(b->offset, want_t); seen |= 2; }
        else if (strstr(b->text, "First")) { CHECK_INT(b->offset, want_p1); seen |= 4; }
        else if (strstr(b->text, "Second")) { CHECK_INT(b->offset, want_p2); seen |= 8; }
    }
    CHECK_INT(seen, 15);
    rg_chunk *c = NULL;
    int n = 0;
    CHECK_INT(rg_chunk_doc(d, NULL, &c, &n), 0);
    int table_chunk = 0;
    for (int i = 0; i < n; i++)
        if (c[i].kind == RG_CHUNK_TABLE) { CHECK_INT(c[i].offset, want_t); table_chunk = 1; }
        else if (!c[i].context_only) CHECK(c[i].offset > 0);
    CHECK(table_chunk);
    rg_chunks_free(c, n);
    rg_doc_free(d);
}

static void *worker(void *arg) {
    long bad = 0;
    for (int it = 0; it < 6; it++)
        for (int f = 0; f < 3; f++) {
            rg_doc **docs = NULL;
            int n = 0;
            if (rg_parse_buffer(files_name[f], files_name[f], files_data[f], files_len[f], NULL, &docs, &n) != 0 || n != 1) { bad++; continue; }
            for (int b = 0; b < docs[0]->nblocks; b++) {
                const char *t = docs[0]->blocks[b].text;
                if (!t) continue;
                rg_span *sp = NULL;
                if (rg_sentences(t, strlen(t), &sp) < 1) bad++;
                free(sp);
            }
            rg_doc_free(docs[0]);
            free(docs);
        }
    (void)arg;
    return (void *)bad;
}

static void test_concurrent(void) {
    for (int f = 0; f < 3; f++) {
        files_data[f] = rg_read_file(files_name[f], 1 << 24, &files_len[f]);
        CHECK(files_data[f] != NULL);
        if (!files_data[f]) return;
    }
    pthread_t th[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&th[i], NULL, worker, NULL) == 0);
    long bad = 0;
    for (int i = 0; i < 4; i++) { void *r; pthread_join(th[i], &r); bad += (long)r; }
    CHECK_INT(bad, 0);
    for (int f = 0; f < 3; f++) free(files_data[f]);
}

int main(void) {
    RUN(test_corpus_page);
    RUN(test_malformed);
    RUN(test_layout_and_spans);
    RUN(test_hostile);
    RUN(test_offsets);
    RUN(test_tree_shape);
    RUN(test_concurrent);
    TESTS_DONE();
}
