/* Tests for ingest/pdf: the Corvid corpus PDF (pages, headings, sections, tables rebuilt from
 * column-aligned lines, scale), small PDFs built here (text page, empty page, encrypted,
 * garbage, truncated): bad ones fail with a message naming the input, none crash. */
#include "check.h"
#include "ingest/parse.h"
#include "parse_one.h"
#include "core/util.h"

/* A PDF from object bodies, with a correct xref table; trailer_extra goes in the trailer. */
static char *build_pdf(const char **objs, int n, const char *trailer_extra, size_t *len) {
    rg_buf b = {0};
    long off[16];
    rg_buf_puts(&b, "%PDF-1.4\n");
    for (int i = 0; i < n; i++) {
        off[i] = (long)b.len;
        rg_buf_printf(&b, "%d 0 obj\n%s\nendobj\n", i + 1, objs[i]);
    }
    long xref = (long)b.len;
    rg_buf_printf(&b, "xref\n0 %d\n0000000000 65535 f \n", n + 1);
    for (int i = 0; i < n; i++) rg_buf_printf(&b, "%010ld 00000 n \n", off[i]);
    rg_buf_printf(&b, "trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%ld\n%%%%EOF\n", n + 1, trailer_extra, xref);
    *len = b.len;
    return rg_buf_take(&b);
}

static const char *text_page_objs[] = {
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    "<< /Length 60 >>\nstream\nBT /F1 12 Tf 72 720 Td (Halvorsen fleet grew to 14 vessels.) Tj ET\nendstream",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
};

static void test_corpus_pdf(void) {
    const char *path = "corpora/reports/corvid-q3-2020-results.pdf";
    size_t len;
    char *data = rg_read_file(path, 1 << 24, &len);
    CHECKF(data != NULL, "%s", rg_errmsg());
    if (!data) return;
    CHECK_STR(rg_detect_format(path, data, len, NULL), "pdf");
    rg_doc *d = parse_one(path, data, len);
    free(data);
    CHECKF(d != NULL, "%s", rg_errmsg());
    if (!d) return;
    CHECK_STR(d->kind, "pdf");
    rg_table *tabs[4] = {0};
    int ntab = 0, pages_seen[3] = {0}, headcount = 0, outlook_page = 0;
    for (int i = 0; i < d->nblocks; i++) {
        rg_block *b = &d->blocks[i];
        CHECK(b->page == 1 || b->page == 2);
        if (b->page >= 1 && b->page <= 2) pages_seen[b->page] = 1;
        if (b->kind == RG_BLOCK_TABLE && ntab < 4) tabs[ntab++] = b->table;
        if (b->text && strstr(b->text, "Headcount was 1,135")) headcount = 1;   /* hyphenation joined */
        if (b->text && strstr(b->text, "break-even in the second half of 2021")) {
            outlook_page = b->page;
            CHECK(strstr(b->section, "Outlook") != NULL);
        }
        CHECK(!b->text || strcmp(b->text, "-2-") != 0);                    /* page number dropped */
    }
    CHECK(pages_seen[1] && pages_seen[2]);
    CHECK(headcount);
    CHECK_INT(outlook_page, 2);
    CHECK_INT(ntab, 2);
    rg_table *t = tabs[0];
    if (t) {
        CHECK_INT(t->nrows, 12);
        CHECK_INT(t->ncols, 3);
        CHECK_INT(t->header_rows, 1);
        CHECK_STR(t->scale, "million");
        CHECK_STR(cell(t, 0, 1)->raw, "Q3 2020");
        CHECK_INT(cell(t, 0, 1)->type, RG_CELL_YEAR);
        CHECK_STR(cell(t, 3, 0)->raw, "Total revenue");
        CHECK_NEAR(cell(t, 3, 1)->value, 84.6, 1e-9);
        CHECK_NEAR(cell(t, 3, 2)->value, 75.5, 1e-9);
        CHECK_NEAR(cell(t, 9, 1)->value, -3.1, 1e-9);
        /* subscription + services = total, both quarters */
        for (int c = 1; c <= 2; c++) CHECK_NEAR(cell(t, 1, c)->value + cell(t, 2, c)->value, cell(t, 3, c)->value, 1e-6);
    }
    t = tabs[1];
    if (t) {
        CHECK_INT(t->nrows, 5);
        CHECK_STR(cell(t, 0, 2)->raw, "Dec 31, 2019");
        CHECK_NEAR(cell(t, 1, 1)->value, 143.7, 1e-9);
        CHECK_STR(t->scale, "million");
    }
    for (int i = 0; i < d->nblocks; i++)
        if (d->blocks[i].kind == RG_BLOCK_TABLE) CHECK(d->blocks[i].page == (d->blocks[i].table == tabs[0] ? 1 : 2));
    rg_doc_free(d);
}

/* Two-column text: read column by column, paragraphs whole, no table invented. */
static void test_two_columns(void) {
    const char *path = "corpora/reports/halvorsen-2019-fleet.pdf";
    size_t len;
    char *data = rg_read_file(path, 1 << 24, &len);
    CHECKF(data != NULL, "%s", rg_errmsg());
    if (!data) return;
    rg_doc *d = parse_one(path, data, len);
    free(data);
    CHECKF(d != NULL, "%s", rg_errmsg());
    if (!d) return;
    int util = -1, outlook = -1, sold = -1;
    for (int i = 0; i < d->nblocks; i++) {
        rg_block *b = &d->blocks[i];
        CHECK(b->kind != RG_BLOCK_TABLE);
        if (b->text && strncmp(b->text, "Utilisation was 94% in 2019", 27) == 0) {
            util = i;
            CHECK(strstr(b->text, "in the Baltic region and in South America.") != NULL);
            CHECK_STR(b->section, "Halvorsen Shipping ASA Fleet Review > 1. Fleet");
        }
        if (b->text && strstr(b->text, "sold one older vessel in 2019 for $12.5 million.")) sold = i;
        if (b->kind == RG_BLOCK_HEADING && strcmp(b->text, "2. Outlook") == 0) outlook = i;
    }
    CHECK(sold >= 0 && util > sold && outlook > util);
    rg_doc_free(d);
}

static void test_built_pdfs(void) {
    size_t len;
    char *pdf = build_pdf(text_page_objs, 5, "", &len);
    rg_doc *d = parse_one("mini.pdf", pdf, len);
    CHECKF(d != NULL, "%s", rg_errmsg());
    CHECK(d && d->nblocks == 1 && d->blocks[0].page == 1 && strcmp(d->blocks[0].text, "Halvorsen fleet grew to 14 vessels.") == 0);
    rg_doc_free(d);
    free(pdf);
    /* a page without text */
    const char *empty[] = {text_page_objs[0], text_page_objs[1],
                           "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"};
    pdf = build_pdf(empty, 3, "", &len);
    CHECK(parse_one("scan.pdf", pdf, len) == NULL);
    CHECKF(strstr(rg_errmsg(), "scan.pdf") && strstr(rg_errmsg(), "no extractable text"), "%s", rg_errmsg());
    free(pdf);
    /* encrypted with a user password we do not have */
    const char *enc[] = {text_page_objs[0], text_page_objs[1], text_page_objs[2], text_page_objs[3], text_page_objs[4],
                         "<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4"
                         " /O <0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef>"
                         " /U <fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210> >>"};
    pdf = build_pdf(enc, 6, "/Encrypt 6 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>] ", &len);
    CHECK(parse_one("locked.pdf", pdf, len) == NULL);
    CHECKF(strstr(rg_errmsg(), "locked.pdf") && strstr(rg_errmsg(), "encrypted"), "%s", rg_errmsg());
    free(pdf);
}

static void test_broken_pdfs(void) {
    const char *garbage = "%PDF-1.7\nthis is not a pdf body at all\n\x01\x02 trailer";
    CHECK(parse_one("garbage.pdf", garbage, strlen(garbage)) == NULL);
    CHECKF(strstr(rg_errmsg(), "garbage.pdf") != NULL, "%s", rg_errmsg());
    /* truncations of the corpus PDF: a document or an error naming it, never a crash */
    size_t len;
    char *data = rg_read_file("corpora/reports/corvid-q3-2020-results.pdf", 1 << 24, &len);
    CHECK(data != NULL);
    if (!data) return;
    size_t cuts[] = {9, 200, len / 3, len / 2, len - 40};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        rg_doc *d = parse_one("cut.pdf", data, cuts[i]);
        CHECKF(d != NULL || strstr(rg_errmsg(), "cut.pdf"), "cut %zu: %s", cuts[i], rg_errmsg());
        rg_doc_free(d);
    }
    /* flipped bytes in the middle */
    for (size_t i = len / 4; i < len / 2; i += 97) data[i] ^= 0x5a;
    rg_doc *d = parse_one("flipped.pdf", data, len);
    CHECKF(d != NULL || strstr(rg_errmsg(), "flipped.pdf"), "%s", rg_errmsg());
    rg_doc_free(d);
    free(data);
    /* named .pdf but not one */
    CHECK(parse_one("fake.pdf", "just text", 9) == NULL);
    CHECKF(strstr(rg_errmsg(), "fake.pdf") != NULL, "%s", rg_errmsg());
}

int main(void) {
    RUN(test_corpus_pdf);
    RUN(test_two_columns);
    RUN(test_built_pdfs);
    RUN(test_broken_pdfs);
    TESTS_DONE();
}
