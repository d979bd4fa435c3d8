/* Tests for the allocation-light ingestion paths: block texts and sections in the doc's
 * string pool (one copy per run of a section), chunk texts and sections in a pool behind the
 * chunk array (valid after the doc is gone), table rows written and counted in one pass,
 * cells that start with a word read as labels at once, and the binary-file check. */
#include "check.h"
#include "core/doc.h"
#include "core/numparse.h"
#include "core/util.h"
#include "core/approx_tokens.h"
#include "core/table_text.h"
#include "ingest/chunk.h"
#include "ingest/formats.h"
#include "ingest/parse.h"
#include "parse_one.h"

static void test_doc_pool(void) {
    rg_doc *d = rg_doc_new("d", NULL, "text");
    char buf[64];
    /* 3000 blocks: the block array moves many times, the pooled strings must not */
    for (int i = 0; i < 3000; i++) {
        snprintf(buf, sizeof buf, "paragraph %d", i);
        const char *sec = (i / 100) % 2 ? "Report > Risks" : "Report > Results";
        rg_block *b = rg_doc_add_text(d, i % 100 ? RG_BLOCK_PARA : RG_BLOCK_HEADING, 1, buf, sec);
        b->offset = i;
        snprintf(buf, sizeof buf, "overwritten");   /* the block has its own copy */
    }
    rg_doc_add_text(d, RG_BLOCK_PARA, 0, NULL, NULL);
    CHECK_INT(d->nblocks, 3001);
    for (int i = 0; i < 3000 && !check_failed_; i++) {
        snprintf(buf, sizeof buf, "paragraph %d", i);
        CHECK_STR(d->blocks[i].text, buf);
        CHECK_STR(d->blocks[i].section, (i / 100) % 2 ? "Report > Risks" : "Report > Results");
        CHECK_INT(d->blocks[i].offset, i);
        /* one copy per run of a section; a new run (even of a name seen before) starts another */
        if (i % 100) CHECK(d->blocks[i].section == d->blocks[i - 1].section);
        else if (i) CHECK(d->blocks[i].section != d->blocks[i - 1].section);
    }
    CHECK_STR(d->blocks[3000].text, "");
    CHECK_STR(d->blocks[3000].section, "");
    rg_doc_free(d);
}

/* Chunks keep their own copies: every text and section compared after the doc is freed
 * (under ASan a pointer into the doc would be a use after free). */
static void test_chunks_outlive_doc(void) {
    const char *md =
        "# Annual Report\n\nRevenue rose to $1,452.4 million in 2019.\n\n"
        "## Results\n\n| Item | 2019 | 2018 |\n| --- | --- | --- |\n| Revenue | 1,452.4 | 1,301.2 |\n"
        "| Net income | 101.3 | (12.6) |\n\nMargins improved on pricing.\n\n## Risks\n\nFuel prices may rise.\n";
    rg_doc *d = parse_one("r.md", md, strlen(md));
    CHECK(d != NULL);
    if (!d) return;
    rg_chunk *c = NULL;
    int n = 0;
    CHECK_INT(rg_chunk_doc(d, NULL, &c, &n), 0);
    CHECK(n >= 3);
    char **texts = xcalloc((size_t)n + 1, sizeof *texts), **secs = xcalloc((size_t)n + 1, sizeof *secs);
    for (int i = 0; i < n; i++) { texts[i] = xstrdup(c[i].text); secs[i] = xstrdup(c[i].section); }
    rg_doc_free(d);
    int table = -1;
    for (int i = 0; i < n; i++) {
        CHECK_STR(c[i].text, texts[i]);
        CHECK_STR(c[i].section, secs[i]);
        if (i && strcmp(secs[i], secs[i - 1]) == 0) CHECK(c[i].section == c[i - 1].section);
        if (c[i].kind == RG_CHUNK_TABLE) table = i;
    }
    CHECK(table >= 0);
    if (table >= 0) {
        CHECK_STR(c[table].section, "Annual Report > Results");
        CHECK(strstr(c[table].text, "Revenue | 2019: 1,452.4 | 2018: 1,301.2") != NULL);
    }
    for (int i = 0; i < n; i++) { free(texts[i]); free(secs[i]); }
    free(texts);
    free(secs);
    rg_chunks_free(c, n);
    rg_chunks_free(NULL, 0);
}

static rg_table *table_of(int nrows, int ncols, const char **cells) {
    rg_table *t = rg_table_new(nrows, ncols);
    for (int r = 0; r < nrows; r++)
        for (int k = 0; k < ncols; k++) rg_table_set(t, r, k, cells[r * ncols + k]);
    t->header_rows = 1;
    t->header_cols = 1;
    return t;
}

/* Table rows are written and counted in one pass: cells with white space runs, long words,
 * long digit runs and non-ASCII text give the text and count of the cleaned text. */
static void test_table_row_tokens(void) {
    const char *cells[] = {
        "Item", "Fiscal\n2019", "  2018 ",
        "  Net\tincome \n (loss) ", "1,234,567.89", "\xE2\x82\xAC" "1.234",
        "Supercalifragilisticexpialidocious items", "12345678901234567890", "a  b\t\tc",
        "", "-", "x",
    };
    rg_doc *d = rg_doc_new("t", NULL, "csv");
    rg_doc_add_table(d, table_of(4, 3, cells), "Tables");
    rg_chunk *c = NULL;
    int n = 0;
    CHECK_INT(rg_chunk_doc(d, NULL, &c, &n), 0);
    CHECK_INT(n, 1);
    if (n == 1) {
        const char *want = "Item | Fiscal 2019 | 2018\n"
                           "Net income (loss) | Fiscal 2019: 1,234,567.89 | 2018: \xE2\x82\xAC" "1.234\n"
                           "Supercalifragilisticexpialidocious items | Fiscal 2019: 12345678901234567890 | 2018: a b c\n"
                           "Fiscal 2019: - | 2018: x";
        CHECKF(strcmp(c[0].text, want) == 0, "got \"%.300s\"", c[0].text);
        CHECK_INT(c[0].ntokens, rg_approx_tokens(c[0].text));
        char *lin = rg_table_linearize(d->blocks[0].table, NULL, 0, 4);
        CHECK_STR(lin, c[0].text);
        free(lin);
    }
    rg_chunks_free(c, n);
    rg_doc_free(d);
}

/* Row groups: a table longer than the budget splits, header line repeated in each group,
 * each group's count that of its text. */
static void test_table_groups(void) {
    enum { R = 200 };
    const char **cells = xcalloc(R * 3, sizeof *cells);
    char (*txt)[32] = xcalloc(R * 3, sizeof *txt);
    cells[0] = "Item"; cells[1] = "2019"; cells[2] = "2018";
    for (int r = 1; r < R; r++) {
        snprintf(txt[r * 3], 32, "Line item %d", r);
        snprintf(txt[r * 3 + 1], 32, "%d.%d", r * 37, r % 10);
        snprintf(txt[r * 3 + 2], 32, "(%d)", r * 11);
        for (int k = 0; k < 3; k++) cells[r * 3 + k] = txt[r * 3 + k];
    }
    rg_doc *d = rg_doc_new("t", NULL, "csv");
    rg_doc_add_table(d, table_of(R, 3, cells), "");
    rg_chunk *c = NULL;
    int n = 0;
    CHECK_INT(rg_chunk_doc(d, NULL, &c, &n), 0);
    CHECK(n >= 3);
    int next = 1;
    for (int i = 0; i < n; i++) {
        CHECK_INT(c[i].kind, RG_CHUNK_TABLE);
        CHECK_INT(c[i].row_start, next);
        next = c[i].row_end;
        CHECK(strncmp(c[i].text, "Item | 2019 | 2018\n", 19) == 0);
        CHECK_INT(c[i].ntokens, rg_approx_tokens(c[i].text));
        CHECK(c[i].ntokens <= 384);
        char want[64];
        snprintf(want, sizeof want, "\nLine item %d | ", c[i].row_start);
        CHECK(strstr(c[i].text, want) != NULL);
    }
    CHECK_INT(next, R);
    rg_chunks_free(c, n);
    rg_doc_free(d);
    free(cells);
    free(txt);
}

/* Cells starting with a word: labels are text at once; periods, currency codes and
 * fiscal/quarter words still read as before. */
static void test_label_cells(void) {
    static const struct { const char *s; rg_cell_type t; double v; const char *u; } want[] = {
        {"Product revenue, unit 12", RG_CELL_TEXT, 0, ""}, {"Europe", RG_CELL_TEXT, 0, ""},
        {"Fiscal 2019", RG_CELL_YEAR, 2019, ""}, {"fiscal year 2019", RG_CELL_YEAR, 2019, ""},
        {"Q4 2019", RG_CELL_YEAR, 2019, "Q4"}, {"q3 2018", RG_CELL_YEAR, 2018, "Q3"},
        {"H1 2019", RG_CELL_YEAR, 2019, "H1"}, {"H3 2019", RG_CELL_TEXT, 0, ""},
        {"FY19", RG_CELL_YEAR, 2019, ""}, {"FY2019", RG_CELL_YEAR, 2019, ""}, {"fy 2019", RG_CELL_YEAR, 2019, ""},
        {"F19", RG_CELL_YEAR, 2019, ""}, {"Dec 31, 2019", RG_CELL_YEAR, 2019, ""},
        {"December 31, 2019", RG_CELL_YEAR, 2019, ""}, {"Year ended June 30, 2019", RG_CELL_YEAR, 2019, ""},
        {"Year-end 2019", RG_CELL_YEAR, 2019, ""}, {"Year\xE2\x80\x93" "end 2019", RG_CELL_YEAR, 2019, ""},
        {"Yearend 2019", RG_CELL_YEAR, 2019, ""}, {"ended 2019", RG_CELL_YEAR, 2019, ""},
        {"USD 1,234", RG_CELL_NUMBER, 1234, "USD"}, {"Eur 5", RG_CELL_NUMBER, 5, "EUR"},
        {"US$ 3.2", RG_CELL_NUMBER, 3.2, "US$"}, {"HKD 10", RG_CELL_NUMBER, 10, "HKD"},
        {"Revenue 2019", RG_CELL_TEXT, 0, ""}, {"Total 2018", RG_CELL_TEXT, 0, ""},
        {"Sept 2019", RG_CELL_YEAR, 2019, ""}, {"Septembre 2019", RG_CELL_TEXT, 0, ""},
        {"As of 2019", RG_CELL_YEAR, 2019, ""}, {"Quarter 4 2019", RG_CELL_TEXT, 0, ""},
        {"Product 2019 (1)", RG_CELL_TEXT, 0, ""}, {"Asia 12", RG_CELL_TEXT, 0, ""},
        {"abcdefghijklmnopqrstuvwxyzabcdefg 2019", RG_CELL_TEXT, 0, ""},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        rg_cell_type t;
        double v;
        char u[12];
        rg_cell_parse(want[i].s, &t, &v, u);
        CHECKF(t == want[i].t && v == want[i].v && strcmp(u, want[i].u) == 0, "%s: type %d value %g unit '%s'",
               want[i].s, (int)t, v, u);
    }
}

/* Binary files: a NUL in the first 8 KB, or more than a tenth control characters. */
static void test_binary_detect(void) {
    char b[100];
    memset(b, 'a', sizeof b);
    b[50] = 0;
    CHECK(rg_detect_format("x.txt", b, sizeof b, NULL) == NULL);
    memset(b, 'a', sizeof b);
    for (int i = 0; i < 10; i++) b[i * 7] = (char)(i % 2 ? 0x0B : 0x1B);   /* \v and ESC count */
    CHECK_STR(rg_detect_format("x.txt", b, sizeof b, NULL), "text");
    b[99] = 0x01;
    CHECK(rg_detect_format("x.txt", b, sizeof b, NULL) == NULL);
    memset(b, 'a', sizeof b);
    for (int i = 0; i < 40; i++) b[i * 2] = "\t\n\r\f"[i % 4];   /* white space is text */
    CHECK_STR(rg_detect_format("x.txt", b, sizeof b, NULL), "text");
    /* past 8 KB a NUL is not looked for */
    size_t n = 9000;
    char *big = xmalloc(n);
    memset(big, 'b', n);
    big[8500] = 0;
    CHECK_STR(rg_detect_format("x.txt", big, n, NULL), "text");
    big[8191] = 0;
    CHECK(rg_detect_format("x.txt", big, n, NULL) == NULL);
    free(big);
}

/* Quoted CSV fields: "" escapes, text after the closing quote kept, a field over lines; the
 * delimiter sniffed past such fields (the sniffing pass keeps no text). */
static void test_csv_quotes(void) {
    const char *csv = "Name,Note,2019\n"
                      "\"Acme, Inc.\"x,\"a \"\"b\"\" c\" tail,\"1,234\"\n"
                      "\"Beta\",\"two\nlines\",5\n"
                      "Gamma,\"\"\"q\"\"\"z,(7)\n";
    rg_doc *d = parse_one("q.csv", csv, strlen(csv));
    CHECK(d != NULL);
    if (!d) return;
    const rg_table *t = d->nblocks ? d->blocks[0].table : NULL;
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->nrows, 4);
        CHECK_INT(t->ncols, 3);
        CHECK_STR(t->cells[3].raw, "Acme, Inc.x");
        CHECK_STR(t->cells[4].raw, "a \"b\" c tail");
        CHECK_STR(t->cells[5].raw, "1,234");
        CHECK_INT(t->cells[5].type, RG_CELL_NUMBER);
        CHECK_NEAR(t->cells[5].value, 1234, 0);
        CHECK_STR(t->cells[7].raw, "two\nlines");
        CHECK_STR(t->cells[10].raw, "\"q\"z");
        CHECK_NEAR(t->cells[11].value, -7, 0);
    }
    rg_doc_free(d);
    char delim = 0;
    const char *tsv = "a\t\"b\"c, d\te\n\"f, g\"h\ti\tj\n1\t2\t3\n";
    CHECK(rg_sniff_csv(tsv, strlen(tsv), &delim));
    CHECK_INT(delim, '\t');
}

int main(void) {
    RUN(test_doc_pool);
    RUN(test_chunks_outlive_doc);
    RUN(test_table_row_tokens);
    RUN(test_table_groups);
    RUN(test_label_cells);
    RUN(test_binary_detect);
    RUN(test_csv_quotes);
    TESTS_DONE();
}
