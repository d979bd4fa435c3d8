/* Tests for ingest/tatqa and ingest/json_text through rg_parse_buffer: every TAT-QA dev
 * context becomes one document with every table cell and paragraph; the table's scale agrees
 * with the gold answer scale of arithmetic table questions; malformed files fail naming the
 * input; other JSON and JSON Lines become text. */
#include "check.h"
#include "ingest/parse.h"
#include "core/util.h"
#include <jansson.h>

static rg_doc **docs;
static int ndocs;

static void free_docs(void) {
    for (int i = 0; i < ndocs; i++) rg_doc_free(docs[i]);
    free(docs);
    docs = NULL;
    ndocs = 0;
}

static int parse_str(const char *name, const char *text) {
    return rg_parse_buffer(name, name, text, strlen(text), NULL, &docs, &ndocs);
}

static void test_dev_set_complete(void) {
    char path[1200];
    snprintf(path, sizeof path, "%s/data/tatqa/tatqa_dataset_dev.json", test_shared_dir());
    size_t len;
    char *data = rg_read_file(path, (size_t)1 << 30, &len);
    CHECKF(data != NULL, "%s", rg_errmsg());
    if (!data) return;
    CHECK_STR(rg_detect_format(path, data, len, NULL), "tatqa");
    int rc = rg_parse_buffer(path, "ignored", data, len, NULL, &docs, &ndocs);
    CHECKF(rc == 0, "%s", rg_errmsg());
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    free(data);
    CHECK(root != NULL);
    if (rc || !root) { json_decref(root); free_docs(); return; }
    CHECK_INT(ndocs, 278);
    CHECK_INT(json_array_size(root), 278);
    size_t missing = 0, cells = 0, agree = 0, scaled = 0;
    for (int i = 0; i < ndocs && i < (int)json_array_size(root); i++) {
        json_t *ctx = json_array_get(root, (size_t)i);
        json_t *tab = json_object_get(ctx, "table");
        rg_doc *d = docs[i];
        CHECK_STR(d->id, json_string_value(json_object_get(tab, "uid")));
        CHECK_STR(d->kind, "tatqa");
        CHECK(d->nblocks >= 1 && d->blocks[0].kind == RG_BLOCK_TABLE);
        if (d->nblocks < 1 || d->blocks[0].kind != RG_BLOCK_TABLE) continue;
        rg_table *t = d->blocks[0].table;
        json_t *rows = json_object_get(tab, "table");
        CHECK_INT(t->nrows, json_array_size(rows));
        for (size_t r = 0; r < json_array_size(rows); r++) {
            json_t *row = json_array_get(rows, r);
            for (size_t c = 0; c < json_array_size(row); c++) {
                cells++;
                rg_cell *cell = rg_table_cell(t, (int)r, (int)c);
                const char *want = json_string_value(json_array_get(row, c));
                if (!cell || !cell->raw || !want || strcmp(cell->raw, want) != 0) missing++;
            }
        }
        /* paragraphs, in their order */
        json_t *paras = json_object_get(ctx, "paragraphs");
        CHECK_INT(d->nblocks - 1, json_array_size(paras));
        for (size_t p = 0; p < json_array_size(paras) && (int)p + 1 < d->nblocks; p++) {
            json_t *para = json_array_get(paras, p);
            long order = (long)json_integer_value(json_object_get(para, "order"));
            CHECK_STR(d->blocks[order].text, json_string_value(json_object_get(para, "text")));
        }
        /* gold scale of arithmetic questions answered from the table */
        json_t *qs = json_object_get(ctx, "questions");
        for (size_t q = 0; q < json_array_size(qs); q++) {
            json_t *qq = json_array_get(qs, q);
            const char *sc = json_string_value(json_object_get(qq, "scale"));
            const char *type = json_string_value(json_object_get(qq, "answer_type"));
            const char *from = json_string_value(json_object_get(qq, "answer_from"));
            if (!sc || !type || !from || strcmp(type, "arithmetic") || strcmp(from, "table")) continue;
            if (strcmp(sc, "thousand") && strcmp(sc, "million") && strcmp(sc, "billion")) continue;
            scaled++;
            if (strcmp(sc, t->scale) == 0) agree++;
        }
    }
    printf("# tatqa dev: %zu cells, %zu missing; scale agrees with gold on %zu of %zu arithmetic table questions\n",
           cells, missing, agree, scaled);
    CHECKF(missing == 0, "%zu of %zu cells missing or changed", missing, cells);
    CHECKF(agree * 100 >= scaled * 85, "scale agrees on only %zu of %zu", agree, scaled);
    json_decref(root);
    free_docs();
}

static void test_small_file(void) {
    const char *js =
        "[{\"table\": {\"uid\": \"t-1\", \"table\": [[\"\", \"2019\", \"2018\"], [\"Revenue\", \"1,452.4\", \"1,301.2\"],"
        " [\"Short row\"], [\"Units\", 12, 10.5]]},"
        "  \"paragraphs\": [{\"uid\": \"p2\", \"order\": 2, \"text\": \"Second.\"},"
        "                   {\"uid\": \"p1\", \"order\": 1, \"text\": \"Amounts in millions.\"}],"
        "  \"questions\": [{\"question\": \"What was revenue in 2019?\", \"answer\": [\"1,452.4\"]}]},"
        " {\"table\": {\"table\": [[\"x\"]]}, \"paragraphs\": []},"
        " {\"table\": {\"uid\": \"t-2\", \"table\": [[\"a\", \"b\"]]}, \"paragraphs\": []}]";
    CHECK_INT(parse_str("mini.json", js), 0);
    CHECK_INT(ndocs, 2);   /* the object without a uid is skipped */
    if (ndocs != 2) { free_docs(); return; }
    rg_doc *d = docs[0];
    CHECK_STR(d->id, "t-1");
    CHECK_STR(d->source, "mini.json");
    CHECK_INT(d->nblocks, 3);
    rg_table *t = d->blocks[0].table;
    CHECK_INT(t->nrows, 4);
    CHECK_INT(t->ncols, 3);
    CHECK_STR(rg_table_cell(t, 2, 1)->raw, "");
    CHECK_STR(rg_table_cell(t, 3, 1)->raw, "12");
    CHECK_NEAR(rg_table_cell(t, 3, 2)->value, 10.5, 1e-12);
    CHECK_NEAR(rg_table_cell(t, 1, 1)->value, 1452.4, 1e-9);
    CHECK_INT(rg_table_cell(t, 0, 1)->type, RG_CELL_YEAR);
    CHECK_INT(t->header_rows, 1);
    CHECK_STR(t->scale, "million");
    CHECK_STR(d->blocks[1].text, "Amounts in millions.");
    CHECK_STR(d->blocks[2].text, "Second.");
    for (int i = 0; i < d->nblocks; i++) CHECK(!d->blocks[i].text || !strstr(d->blocks[i].text, "What was revenue"));
    CHECK_STR(docs[1]->id, "t-2");
    free_docs();
}

static void test_bad_tatqa(void) {
    /* truncated: detected as TAT-QA by its keys, then fails naming the file */
    const char *cut = "[{\"table\": {\"uid\": \"t-1\", \"table\": [[\"a\"]]}, \"paragraphs\": [{\"text\": \"x\"";
    CHECK_INT(parse_str("cut.json", cut), -1);
    CHECK(strstr(rg_errmsg(), "cut.json") != NULL);
    CHECK(ndocs == 0 && docs == NULL);
    /* shaped like TAT-QA but no usable object */
    CHECK_INT(parse_str("nouid.json", "[{\"table\": {\"uid\": 5, \"table\": 3}, \"paragraphs\": []}]"), -1);
    CHECK(strstr(rg_errmsg(), "nouid.json") != NULL);
    /* a row that is not a list */
    CHECK_INT(parse_str("badrow.json", "[{\"table\": {\"uid\": \"u\", \"table\": [\"x\"]}, \"paragraphs\": []}]"), -1);
    CHECKF(strstr(rg_errmsg(), "badrow.json") && strstr(rg_errmsg(), "row 1"), "%s", rg_errmsg());
}

static void test_json_text(void) {
    const char *js = "{\"title\": \"Fleet report\", \"company\": \"Halvorsen Shipping\", \"vessels\": ["
                     "{\"name\": \"Nordkapp\", \"built\": 2011, \"dwt\": 82000.5},"
                     "{\"name\": \"Skagen\", \"built\": 2015, \"tags\": [\"bulk\", \"ice class\"]}], \"ok\": true, \"x\": null}";
    CHECK_INT(parse_str("fleet.json", js), 0);
    CHECK_INT(ndocs, 1);
    if (ndocs != 1) { free_docs(); return; }
    rg_doc *d = docs[0];
    CHECK_STR(d->kind, "json");
    CHECK_STR(d->title, "Fleet report");
    int found_vessel = 0, found_tags = 0;
    for (int i = 0; i < d->nblocks; i++) {
        if (strstr(d->blocks[i].text, "vessels.name: Nordkapp") && strstr(d->blocks[i].text, "vessels.dwt: 82000.5")) found_vessel = 1;
        if (strstr(d->blocks[i].text, "vessels.tags: bulk, ice class")) found_tags = 1;
    }
    CHECK(found_vessel);
    CHECK(found_tags);
    free_docs();
    /* JSON Lines: one paragraph per line */
    CHECK_INT(parse_str("log.jsonl", "{\"a\": 1}\n\n{\"a\": 2, \"b\": \"two\"}\n"), 0);
    CHECK(ndocs == 1 && docs[0]->nblocks == 2);
    if (ndocs == 1 && docs[0]->nblocks == 2) CHECK_STR(docs[0]->blocks[1].text, "a: 2\nb: two");
    free_docs();
    /* malformed */
    CHECK_INT(parse_str("bad.json", "{\"a\": [1, 2}"), -1);
    CHECKF(strstr(rg_errmsg(), "bad.json") && strstr(rg_errmsg(), "line 1"), "%s", rg_errmsg());
    CHECK_INT(parse_str("bad.jsonl", "{\"a\": 1}\n{\"a\": \n"), -1);
    CHECKF(strstr(rg_errmsg(), "bad.jsonl") && strstr(rg_errmsg(), "line 2"), "%s", rg_errmsg());
    /* deep nesting does not recurse without bound */
    char deep[4200];
    int n = 0;
    for (int i = 0; i < 1000; i++) deep[n++] = '[';
    deep[n++] = '1';
    for (int i = 0; i < 1000; i++) deep[n++] = ']';
    deep[n] = 0;
    int rc = parse_str("deep.json", deep);
    CHECKF(rc == 0 || strstr(rg_errmsg(), "deep.json"), "%s", rg_errmsg());
    free_docs();
}

static void test_corpus_json(void) {
    size_t len;
    const char *path = "corpora/reports/corvid-kpis-2020.json";
    char *data = rg_read_file(path, 1 << 20, &len);
    CHECKF(data != NULL, "%s", rg_errmsg());
    if (!data) return;
    CHECK_INT(rg_parse_buffer(path, "corvid-kpis-2020.json", data, len, NULL, &docs, &ndocs), 0);
    free(data);
    CHECK(ndocs == 1);
    int hit = 0;
    for (int i = 0; ndocs == 1 && i < docs[0]->nblocks; i++)
        if (strstr(docs[0]->blocks[i].text, "enterprise_customers: 1920")) hit = 1;
    CHECK(hit);
    free_docs();
}

int main(void) {
    if (test_shared_dir()) RUN(test_dev_set_complete);
    else SKIP(test_dev_set_complete, "no shared data (../shared or RAGD_SHARED)");
    RUN(test_small_file);
    RUN(test_bad_tatqa);
    RUN(test_json_text);
    RUN(test_corpus_json);
    TESTS_DONE();
}
