/* Tests for ingest/csv: RFC 4180 quoting, delimiter sniffing, caption and note lines,
 * ragged rows, malformed and empty input, and the Blue Harbor corpus file. */
#include "check.h"
#include "ingest/parse.h"
#include "parse_one.h"
#include "ingest/formats.h"
#include "core/util.h"

static rg_doc *csv(const char *name, const char *text) { return parse_one(name, text, strlen(text)); }

static rg_table *table_of(rg_doc *d) {
    for (int i = 0; d && i < d->nblocks; i++) if (d->blocks[i].kind == RG_BLOCK_TABLE) return d->blocks[i].table;
    return NULL;
}

static void test_quoting(void) {
    rg_doc *d = csv("q.csv", "Name,Note,Amount\r\n\"Acme, Inc.\",\"said \"\"hi\"\"\",\"1,200\"\r\n"
                             "Beta,\"two\nlines\",(3.5)\r\nGamma,,\r\n");
    CHECKF(d != NULL, "%s", rg_errmsg());
    rg_table *t = table_of(d);
    CHECK(t != NULL);
    if (!t) { rg_doc_free(d); return; }
    CHECK_STR(d->kind, "csv");
    CHECK_INT(t->nrows, 4);
    CHECK_INT(t->ncols, 3);
    CHECK_STR(cell(t, 1, 0)->raw, "Acme, Inc.");
    CHECK_STR(cell(t, 1, 1)->raw, "said \"hi\"");
    CHECK_NEAR(cell(t, 1, 2)->value, 1200, 0);
    CHECK_STR(cell(t, 2, 1)->raw, "two\nlines");
    CHECK_NEAR(cell(t, 2, 2)->value, -3.5, 1e-12);
    CHECK_STR(cell(t, 3, 2)->raw, "");
    CHECK_INT(t->header_rows, 1);
    CHECK_INT(t->header_cols, 1);
    rg_doc_free(d);
}

static void test_sniff(void) {
    char delim = 0;
    CHECK(rg_sniff_csv("a;b;c\n1;2;3\n4;5;6\n", 18, &delim));
    CHECK_INT(delim, ';');
    const char *tsv = "Segment\t2019\t2018\nA\t1,000\t900\nB\t2,000\t1,900\n";
    CHECK(rg_sniff_csv(tsv, strlen(tsv), &delim));
    CHECK_INT(delim, '\t');
    const char *pipes = "x|y\n1|2\n3|4\n";
    CHECK(rg_sniff_csv(pipes, strlen(pipes), &delim));
    CHECK_INT(delim, '|');
    /* prose with commas is not CSV */
    const char *prose = "Revenue rose, as expected, in 2019.\nCosts fell.\nWe opened a plant in Tilburg, the Netherlands, and hired staff, engineers, and managers.\n";
    CHECK(!rg_sniff_csv(prose, strlen(prose), &delim));
    /* a file with no name hint but CSV content is read as CSV; a .tsv by name */
    const char *semi = "Region;2019;2018\nEurope;486,1;421,9\nAsia;263,8;224,3\n";
    CHECK_STR(rg_detect_format("upload", semi, strlen(semi), NULL), "csv");
    CHECK_STR(rg_detect_format("x.tsv", tsv, strlen(tsv), NULL), "tsv");
    CHECK_STR(rg_detect_format("x", "a,b\n1,2\n", 8, "text/csv"), "csv");
    rg_doc *d = csv("semi", semi);
    rg_table *t = table_of(d);
    CHECK(t && t->ncols == 3 && t->nrows == 3);
    if (t) CHECK_STR(cell(t, 1, 0)->raw, "Europe");
    rg_doc_free(d);
}

static void test_ragged_caption_notes(void) {
    rg_doc *d = csv("r.csv", "Revenue by region, in millions\n"
                             "Region,2019,2018,Change\n"
                             "Europe,486.1,421.9\n"
                             "Asia Pacific,263.8,224.3,17.6%,extra\n"
                             "Source: company filings\n");
    CHECKF(d != NULL, "%s", rg_errmsg());
    rg_table *t = table_of(d);
    CHECK(t != NULL);
    if (!t) { rg_doc_free(d); return; }
    CHECK_STR(t->caption, "Revenue by region, in millions");
    CHECK_STR(d->title, "Revenue by region, in millions");
    CHECK_STR(t->scale, "million");
    CHECK_INT(t->nrows, 3);
    CHECK_INT(t->ncols, 5);
    CHECK_STR(cell(t, 1, 3)->raw, "");
    CHECK_STR(cell(t, 2, 4)->raw, "extra");
    CHECK_INT(cell(t, 0, 1)->type, RG_CELL_YEAR);
    CHECK_INT(d->nblocks, 2);
    if (d->nblocks == 2) CHECK_STR(d->blocks[1].text, "Source: company filings");
    rg_doc_free(d);
}

static void test_bad_input(void) {
    rg_doc **docs = NULL;
    int n = 0;
    const char *unterminated = "a,b\n1,\"never closed\n2,3\n";
    CHECK_INT(rg_parse_buffer("u.csv", "u.csv", unterminated, strlen(unterminated), NULL, &docs, &n), -1);
    CHECKF(strstr(rg_errmsg(), "u.csv") && strstr(rg_errmsg(), "line 2"), "%s", rg_errmsg());
    CHECK_INT(rg_parse_buffer("e.csv", "e.csv", "", 0, NULL, &docs, &n), -1);
    CHECKF(strstr(rg_errmsg(), "e.csv") && strstr(rg_errmsg(), "empty"), "%s", rg_errmsg());
    CHECK_INT(rg_parse_buffer("blank.csv", "blank.csv", "\n\n  \n", 5, NULL, &docs, &n), -1);
    CHECK(strstr(rg_errmsg(), "blank.csv") != NULL);
    const char bin[] = "a,b\n\x00\x01\x02\x03\x00\xff\xfe,\x00";
    CHECK_INT(rg_parse_buffer("bin.csv", "bin.csv", bin, sizeof bin, NULL, &docs, &n), -1);
    CHECKF(strstr(rg_errmsg(), "bin.csv") && strstr(rg_errmsg(), "binary"), "%s", rg_errmsg());
    /* invalid UTF-8 is repaired, not fatal */
    const char *bad = "name,value\ncaf\xe9,1\n";
    rg_doc *d = csv("latin1.csv", bad);
    rg_table *t = table_of(d);
    CHECKF(t != NULL, "%s", rg_errmsg());
    if (t) CHECK_STR(cell(t, 1, 0)->raw, "caf\xEF\xBF\xBD");
    rg_doc_free(d);
    /* a stray quote inside an unquoted field is kept */
    d = csv("inch.csv", "item,size\nscreen,15\" wide\n");
    t = table_of(d);
    CHECK(t != NULL);
    if (t) CHECK_STR(cell(t, 1, 1)->raw, "15\" wide");
    rg_doc_free(d);
}

static void test_corpus_file(void) {
    const char *path = "corpora/reports/blueharbor-2019-quarterly.csv";
    size_t len;
    char *data = rg_read_file(path, 1 << 20, &len);
    CHECKF(data != NULL, "%s", rg_errmsg());
    if (!data) return;
    rg_doc **docs = NULL;
    int n = 0;
    CHECK_INT(rg_parse_buffer(path, "blueharbor-2019-quarterly.csv", data, len, NULL, &docs, &n), 0);
    free(data);
    if (n != 1) return;
    rg_table *t = table_of(docs[0]);
    CHECK(t != NULL);
    if (t) {
        CHECK_STR(t->scale, "thousand");
        CHECK_INT(t->header_rows, 1);
        CHECK_INT(t->ncols, 6);
        /* the quarters add up to the fiscal year in every row */
        for (int r = 1; r < t->nrows; r++) {
            double sum = 0;
            for (int c = 1; c <= 4; c++) sum += cell(t, r, c)->value;
            CHECK_NEAR(sum, cell(t, r, 5)->value, 1e-6);
        }
        CHECK(t->caption && strstr(t->caption, "Blue Harbor Foods Co."));
    }
    rg_doc_free(docs[0]);
    free(docs);
}

/* A large CSV parses in one table with every row. */
static void test_big(void) {
    rg_buf b = {0};
    rg_buf_puts(&b, "id,segment,amount\n");
    for (int i = 0; i < 200000; i++) rg_buf_printf(&b, "%d,\"seg %d\",\"%d,%03d.5\"\n", i, i % 7, i / 1000, i % 1000);
    rg_doc **docs = NULL;
    int n = 0;
    double t0 = rg_now();
    CHECK_INT(rg_parse_buffer("big.csv", "big.csv", b.data, b.len, NULL, &docs, &n), 0);
    double dt = rg_now() - t0;
    printf("# big csv: %.1f MB in %.2fs\n", b.len / 1e6, dt);
    rg_table *t = n == 1 ? table_of(docs[0]) : NULL;
    CHECK(t && t->nrows == 200001);
    if (t) CHECK_NEAR(cell(t, 200000, 2)->value, 199999.5, 1e-9);
    for (int i = 0; i < n; i++) rg_doc_free(docs[i]);
    free(docs);
    rg_buf_free(&b);
}

int main(void) {
    RUN(test_quoting);
    RUN(test_sniff);
    RUN(test_ragged_caption_notes);
    RUN(test_bad_input);
    RUN(test_corpus_file);
    RUN(test_big);
    TESTS_DONE();
}
