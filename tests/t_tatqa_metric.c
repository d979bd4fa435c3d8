/* The official TAT-QA metric, on hand-computed cases. */
#include "check.h"
#include "core/util.h"
#include "generate/tatqa_metric.h"

static rg_tatqa_score score1(const char *type, const char *gold, const char *gscale, const char *pred, const char *pscale) {
    const char *g[1] = {gold}, *p[1] = {pred};
    return rg_tatqa_score_answer(type, g, 1, gscale, p, 1, pscale);
}

static void test_normalize(void) {
    char *n = rg_tatqa_normalize("The Fixed-Price type!");
    CHECK_STR(n, "fixed price type");                 /* split on '-', article and '!' gone */
    free(n);
    n = rg_tatqa_normalize("  An  apple,   a pear ");
    CHECK_STR(n, "apple pear");
    free(n);
    n = rg_tatqa_normalize("$1,496.5");               /* numbers become their value */
    CHECK_STR(n, "1496.5");
    free(n);
    n = rg_tatqa_normalize("2019");
    CHECK_STR(n, "2019");
    free(n);
    n = rg_tatqa_normalize("\xc3\x89TAT");            /* non-ASCII lower-cased like Python */
    CHECK_STR(n, "\xc3\xa9tat");
    free(n);
}

static void test_numbers(void) {
    double v;
    CHECK(rg_tatqa_to_number("(12.6)", &v)); CHECK_NEAR(v, -12.6, 1e-12);
    CHECK(rg_tatqa_to_number("12%", &v)); CHECK_NEAR(v, 0.12, 1e-12);
    CHECK(rg_tatqa_to_number("$3.0 million", &v)); CHECK_NEAR(v, 3e6, 1e-6);
    CHECK(rg_tatqa_to_number("(1,234)", &v)); CHECK_NEAR(v, 1234, 1e-9);   /* the reference's quirk */
    CHECK(!rg_tatqa_to_number("none", &v));
    CHECK(rg_tatqa_is_number("$ 1,452.4"));
    CHECK(rg_tatqa_is_number("12 million"));
    CHECK(!rg_tatqa_is_number("12 apples"));
    CHECK(!rg_tatqa_is_number("fiscal 2019"));
    char b[64];
    rg_tatqa_py_float_str(-12.6, b, sizeof b); CHECK_STR(b, "-12.6");
    rg_tatqa_py_float_str(13989.0, b, sizeof b); CHECK_STR(b, "13989.0");
    rg_tatqa_py_float_str(1e16, b, sizeof b); CHECK_STR(b, "1e+16");
    rg_tatqa_py_float_str(0.0001, b, sizeof b); CHECK_STR(b, "0.0001");
    rg_tatqa_py_float_str(1.5e-5, b, sizeof b); CHECK_STR(b, "1.5e-05");
}

static void test_scales(void) {
    rg_tatqa_score s = score1("arithmetic", "-12.6", "million", "-12.6", "million");
    CHECK_NEAR(s.em, 1, 0); CHECK_NEAR(s.f1, 1, 0);
    s = score1("arithmetic", "-12.6", "million", "-12.6", "");          /* scale mismatch */
    CHECK_NEAR(s.em, 0, 0); CHECK_NEAR(s.f1, 0, 0);
    s = score1("arithmetic", "-12.6", "million", "-12600000", "");       /* same amount */
    CHECK_NEAR(s.em, 1, 0);
    s = score1("arithmetic", "4.6", "percent", "4.6", "percent");
    CHECK_NEAR(s.em, 1, 0);
    s = score1("arithmetic", "4.6", "percent", "0.046", "percent");
    CHECK_NEAR(s.em, 0, 0);
    s = score1("arithmetic", "4.6", "percent", "4.6", "");
    CHECK_NEAR(s.em, 0, 0);
    s = score1("arithmetic", "-22.22", "percent", "-22.2222", "percent"); /* 2-decimal rounding */
    CHECK_NEAR(s.em, 1, 0);
    s = score1("span", "$1,496.5", "million", "1,496.5", "million");
    CHECK_NEAR(s.em, 1, 0);
    s = score1("span", "12.5%", "", "12.5%", "percent");                 /* a % string ignores scale */
    CHECK_NEAR(s.em, 1, 0);
    s = score1("count", "2", "", "2", "");
    CHECK_NEAR(s.em, 1, 0);
    s = score1("arithmetic", "5", "", "6", "");                           /* F1 = EM */
    CHECK_NEAR(s.f1, 0, 0);
    s = score1("arithmetic", "5", "", "", "");
    CHECK_NEAR(s.em, 0, 0);
}

static void test_spans(void) {
    rg_tatqa_score s = score1("span", "our allowable incurred costs", "", "allowable costs plus", "");
    CHECK_NEAR(s.em, 0, 0);
    CHECK_NEAR(s.f1, 0.57, 1e-9);                     /* P 2/3, R 2/4 */
    s = score1("span", "The revenue was 12 million", "", "revenue was 13 million", "");
    CHECK_NEAR(s.f1, 0, 0);                           /* the gold number is missing */
    s = score1("span", "Fixed-price type", "", "fixed price type.", "");
    CHECK_NEAR(s.em, 1, 0);
    const char *gold[3] = {"fixed-price type", "cost-plus type", "time-and-material type"};
    const char *pred[2] = {"cost-plus type", "fixed-price type"};
    s = rg_tatqa_score_answer("multi-span", gold, 3, "", pred, 2, "");
    CHECK_NEAR(s.em, 0, 0);
    CHECK_NEAR(s.f1, 0.67, 1e-9);                     /* aligned span by span: 1 + 1 + 0 over 3 */
    const char *pred1[1] = {"fixed-price type cost-plus type"};
    s = rg_tatqa_score_answer("multi-span", gold, 3, "", pred1, 1, "");
    CHECK_NEAR(s.f1, 0.25, 1e-9);                     /* one span aligns with one gold span: 0.75 / 3 */
    const char *pred2[3] = {"time-and-material type", "cost-plus type", "fixed-price type"};
    s = rg_tatqa_score_answer("multi-span", gold, 3, "", pred2, 3, "");
    CHECK_NEAR(s.em, 1, 0);                           /* order does not matter */
    const char *p3[2] = {"apple banana", "cherry date"}, *g3[2] = {"cherry date", "apple fig"};
    CHECK_NEAR(rg_tatqa_f1_lists(p3, 2, g3, 2), 0.75, 1e-9);   /* aligned: 1 and 0.5 */
}

static void test_tally(void) {
    rg_tatqa_tally t;
    memset(&t, 0, sizeof t);
    rg_tatqa_score a = {1, 1}, b = {0, 0.5};
    rg_tatqa_tally_add(&t, "span", "text", a);
    rg_tatqa_tally_add(&t, "arithmetic", "table", b);
    rg_tatqa_tally_add(&t, "bogus", "table", a);       /* unknown type: not counted */
    CHECK_INT(t.n[4][3], 2);
    CHECK_NEAR(t.em[4][3], 1, 0);
    CHECK_NEAR(t.f1[4][3], 1.5, 1e-12);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rg_tatqa_tally_print(&t, f);
    fclose(f);
    CHECK(buf && strstr(buf, "arithmetic") && strstr(buf, " 50.0 / "));
    free(buf);
}

int main(void) {
    RUN(test_normalize);
    RUN(test_numbers);
    RUN(test_scales);
    RUN(test_spans);
    RUN(test_tally);
    TESTS_DONE();
}
