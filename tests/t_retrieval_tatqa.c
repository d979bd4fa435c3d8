/* Retrieval on real TAT-QA data: the first contexts of the dev set are indexed through the
 * normal pipeline (parser, chunker, encoder) and every question's evidence must be mappable to
 * chunks by text containment; recall must behave (monotone in k; scoped to the question's own
 * document, its evidence is found by every mode). Skips when ../shared is absent. */
#include "check.h"
#include "core/util.h"
#include "retrieve/eval_retrieval.h"
#include <jansson.h>

#define CONTEXTS 25

static char *subset_path, *dir;

static int make_subset(const char *shared) {
    char *src = xasprintf("%s/data/tatqa/tatqa_dataset_dev.json", shared);
    json_error_t je;
    json_t *all = json_load_file(src, 0, &je);
    free(src);
    if (!json_is_array(all)) { json_decref(all); return -1; }
    json_t *sub = json_array();
    for (size_t i = 0; i < CONTEXTS && i < json_array_size(all); i++) json_array_append(sub, json_array_get(all, i));
    subset_path = xasprintf("%s/subset.json", dir);
    int rc = json_dump_file(sub, subset_path, 0);
    json_decref(sub);
    json_decref(all);
    return rc;
}

static rg_eval_retrieval_result res;

static void test_evidence_mapped(void) {
    CHECKF(res.questions >= 100, "only %ld questions", res.questions);
    CHECK_INT(res.unmapped, 0);
    CHECK_INT(res.scopes, 2);
}

static void test_recall_monotone(void) {
    for (int sc = 0; sc < 2; sc++)
        for (int m = 0; m < 3; m++)
            for (int c = 1; c < 4; c++)
                CHECKF(res.recall[sc][m][c] >= res.recall[sc][m][c - 1], "scope %d mode %d cut %d", sc, m, c);
}

static void test_doc_scope(void) {
    /* A context has a table chunk and one or two text chunks: within its own document every
     * mode finds all the evidence in the top 10, and hybrid nearly always in the top 5. */
    for (int m = 0; m < 3; m++) CHECKF(res.recall[0][m][3] >= 0.9, "mode %d doc R@10 %.3f", m, res.recall[0][m][3]);
    CHECKF(res.recall[0][2][2] >= 0.9, "hybrid doc R@5 %.3f", res.recall[0][2][2]);
    /* over the corpus it is harder, but far better than chance (25 documents) */
    CHECKF(res.recall[1][0][3] > 0.3 && res.recall[1][2][3] > 0.3, "open R@10 bm25 %.3f hybrid %.3f",
           res.recall[1][0][3], res.recall[1][2][3]);
    /* the open corpus never beats the document scope */
    for (int m = 0; m < 3; m++) CHECK(res.recall[1][m][3] <= res.recall[0][m][3] + 1e-9);
}

static void test_bad_file(void) {
    rg_eval_retrieval_opts o;
    rg_eval_retrieval_opts_default(&o);
    char *bad = xasprintf("%s/bad.json", dir);
    test_write_file(bad, "{\"not\": \"a list\"}");
    o.path = bad;
    rg_eval_retrieval_result r;
    CHECK(rg_eval_retrieval_measure(&o, &r) == -1);
    CHECK(strstr(rg_errmsg(), "bad.json") != NULL);
    o.path = "/nonexistent/file.json";
    CHECK(rg_eval_retrieval_measure(&o, &r) == -1);
    free(bad);
}

int main(void) {
    const char *shared = test_shared_dir();
    if (!shared) {
        SKIP(test_evidence_mapped, "../shared not found (set RAGD_SHARED)");
        TESTS_DONE();
    }
    dir = test_tmpdir();
    if (make_subset(shared) != 0) { printf("not ok setup: cannot read the TAT-QA dev set\n"); return 1; }
    rg_eval_retrieval_opts o;
    rg_eval_retrieval_opts_default(&o);
    o.path = subset_path;
    o.open_domain = 1;
    if (rg_eval_retrieval_measure(&o, &res) != 0) { printf("not ok setup: %s\n", rg_errmsg()); return 1; }
    RUN(test_evidence_mapped);
    RUN(test_recall_monotone);
    RUN(test_doc_scope);
    RUN(test_bad_file);
    test_rm_rf(dir);
    free(dir);
    free(subset_path);
    TESTS_DONE();
}
