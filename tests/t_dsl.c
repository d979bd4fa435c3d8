/* The reasoner's exact decimal numbers and its DSL executor. */
#include "check.h"
#include "core/doc.h"
#include "core/util.h"
#include "generate/decimal.h"
#include "generate/dsl.h"

static char *fmt(rg_dec d, int places) {
    static char buf[80];
    if (rg_dec_format(d, places, buf, sizeof buf) < 0) snprintf(buf, sizeof buf, "(bad)");
    return buf;
}

static rg_dec parse(const char *s, int *flags) {
    rg_dec d;
    int fl = 0;
    if (!rg_dec_parse(s, &d, &fl, NULL)) d.ok = 0;
    if (flags) *flags = fl;
    return d;
}

static void test_parse_cells(void) {
    int fl;
    CHECK_STR(fmt(parse("$  1,452.4", &fl), 6), "1452.4");
    CHECK(fl & RG_NUM_CURRENCY);
    CHECK_STR(fmt(parse("(12.6)", &fl), 6), "-12.6");
    CHECK(fl & RG_NUM_NEG_PAREN);
    CHECK_STR(fmt(parse("12.5%", &fl), 6), "12.5");
    CHECK(fl & RG_NUM_PERCENT);
    CHECK_STR(fmt(parse("1,234(1)", &fl), 6), "1234");
    CHECK(!(fl & RG_NUM_EXTRA_TEXT));
    CHECK_STR(fmt(parse("\xe2\x88\x92" "3", &fl), 6), "-3");          /* U+2212 minus */
    CHECK_STR(fmt(parse("$(2,085)", &fl), 6), "-2085");
    CHECK_STR(fmt(parse("-2,085", &fl), 6), "-2085");
    rg_dec d;
    CHECK(!rg_dec_parse("\xe2\x80\x94", &d, &fl, NULL));               /* em dash: empty */
    CHECK(!rg_dec_parse("", &d, &fl, NULL));
    CHECK(!rg_dec_parse(NULL, &d, &fl, NULL));
    parse("$'000", &fl);
    CHECK(fl & RG_NUM_EXTRA_TEXT);                                      /* a scale, not zero */
    parse("Fiscal 2019", &fl);
    CHECK(fl & RG_NUM_EXTRA_TEXT);
    parse("2019 and 2018", &fl);
    CHECK(fl & RG_NUM_EXTRA_TEXT);
    /* 40 digits do not fit: refused, not wrapped */
    CHECK(!rg_dec_parse("1234567890123456789012345678901234567890", &d, &fl, NULL));
}

static void test_exact_arithmetic(void) {
    rg_dec a = parse("0.1", NULL), b = parse("0.2", NULL);
    CHECK_STR(fmt(rg_dec_add(a, b), 18), "0.3");                        /* exact, unlike doubles */
    CHECK_STR(fmt(rg_dec_sub(parse("44.1", NULL), parse("56.7", NULL)), 18), "-12.6");
    CHECK_STR(fmt(rg_dec_mul(parse("1,686,902", NULL), parse("7.00", NULL)), 18), "11808314");
    rg_dec q = rg_dec_div(rg_dec_sub(parse("44.1", NULL), parse("56.7", NULL)), parse("56.7", NULL));
    CHECK_STR(fmt(rg_dec_mul(q, rg_dec_int(100)), 2), "-22.22");
    CHECK_STR(fmt(rg_dec_div(rg_dec_int(1), rg_dec_int(3)), 4), "0.3333");
    CHECK_STR(fmt(rg_dec_div(rg_dec_int(2), rg_dec_int(3)), 2), "0.67");
    CHECK_STR(fmt(rg_dec_round(parse("2.345", NULL), 2), 2), "2.35");   /* half away from zero */
    CHECK_STR(fmt(rg_dec_round(parse("-2.345", NULL), 2), 2), "-2.35");
    CHECK(!rg_dec_div(rg_dec_int(1), rg_dec_int(0)).ok);
    rg_dec big = parse("100000000000000000000", NULL);                  /* 1e20 */
    CHECK(big.ok);
    CHECK(!rg_dec_mul(big, big).ok);                                    /* 1e40 overflows: reported */
    CHECK(rg_dec_cmp(parse("(3)", NULL), parse("2", NULL)) < 0);
    CHECK_NEAR(rg_dec_to_double(parse("1,452.4", NULL)), 1452.4, 1e-12);
}

static rg_table *sample_table(void) {
    static const char *cells[4][4] = {
        {"", "2019", "2018", "2017"},
        {"Fixed Price", "$ 1,452.4", "$ 1,146.2", "$ 1,036.9"},
        {"Other", "44.1", "56.7", "—"},
        {"Margin", "12.5%", "(3.5)%", "n/a"},
    };
    rg_table *t = rg_table_new(4, 4);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) rg_table_set(t, r, c, cells[r][c]);
    return t;
}

static void test_programs(void) {
    rg_table *t = sample_table();
    rg_dec v;
    char *der = NULL;
    CHECK_INT(rg_dsl_run("subtract(r2c1, r2c2), divide(#0, r2c2), multiply(#1, const_100)", t, &v, &der), 0);
    CHECK_STR(fmt(v, 2), "-22.22");
    CHECK_STR(der, "(44.1 - 56.7) / 56.7 * 100");
    free(der);
    CHECK_INT(rg_dsl_run("table_average(r1c1, r1c2, r1c3)", t, &v, &der), 0);
    CHECK_STR(fmt(v, 2), "1211.83");
    CHECK_STR(der, "(1452.4 + 1146.2 + 1036.9) / 3");
    free(der);
    CHECK_INT(rg_dsl_run("table_sum(r1c1, r2c1)", t, &v, NULL), 0);
    CHECK_STR(fmt(v, 2), "1496.5");
    CHECK_INT(rg_dsl_run("subtract(r3c1, r3c2)", t, &v, &der), 0);     /* percents and negatives */
    CHECK_STR(fmt(v, 2), "16");
    CHECK_STR(der, "12.5 - (-3.5)");
    free(der);
    CHECK_INT(rg_dsl_run("table_max(r1c1, r1c2, r1c3)", t, &v, NULL), 0);
    CHECK_STR(fmt(v, 2), "1452.4");
    CHECK_INT(rg_dsl_run("table_min(r1c1, r1c2, r1c3)", t, &v, NULL), 0);
    CHECK_STR(fmt(v, 2), "1036.9");
    CHECK_INT(rg_dsl_run("greater(r2c1, r2c2)", t, &v, NULL), 0);
    CHECK_STR(fmt(v, 0), "0");
    CHECK_INT(rg_dsl_run("exp(1.1, 2)", t, &v, NULL), 0);
    CHECK_STR(fmt(v, 4), "1.21");
    CHECK_INT(rg_dsl_run("count(r1c1, r1c2, r2c1)", t, &v, NULL), 0);
    CHECK_STR(fmt(v, 0), "3");
    CHECK_INT(rg_dsl_run("add(-3, 5)", NULL, &v, NULL), 0);
    CHECK_STR(fmt(v, 0), "2");
    rg_table_free(t);
}

static void test_bad_programs(void) {
    rg_table *t = sample_table();
    rg_dec v;
    char *der = NULL;
    static const char *bad[] = {
        "", "subtract(1)", "frobnicate(1, 2)", "add(1, 2", "add(#5, 1)", "add(#0, 1)",
        "add(r9c9, 1)", "add(r2c3, 1)",            /* out of the table; an empty cell */
        "add(r0c0, 1)",                             /* a text cell */
        "divide(1, 0)", "divide(r2c1, subtract)", "exp(2, 100)", "exp(2, 1.5)", "add(1, 2) add(3, 4)",
        "add(1e5, 2)", "add(const_x, 1)", "add(r1c1c1, 2)", NULL};
    for (int i = 0; bad[i]; i++) {
        int rc = rg_dsl_run(bad[i], t, &v, &der);
        CHECKF(rc == -1, "program \"%s\" should fail", bad[i]);
        CHECKF(strlen(rg_errmsg()) > 0, "no error for \"%s\"", bad[i]);
        CHECK(der == NULL);
    }
    CHECK(rg_dsl_run(NULL, t, &v, NULL) == -1);
    /* a program with too many steps or a huge argument list is refused, not overrun */
    rg_buf b = {0};
    for (int i = 0; i < 40; i++) rg_buf_printf(&b, "%sadd(1, 1)", i ? ", " : "");
    char *many = rg_buf_take(&b);
    CHECK(rg_dsl_run(many, t, &v, NULL) == -1);
    free(many);
    rg_buf_puts(&b, "table_sum(");
    for (int i = 0; i < 100; i++) rg_buf_printf(&b, "%s1", i ? ", " : "");
    rg_buf_putc(&b, ')');
    char *wide = rg_buf_take(&b);
    CHECK(rg_dsl_run(wide, t, &v, NULL) == -1);
    free(wide);
    rg_table_free(t);
}

int main(void) {
    RUN(test_parse_cells);
    RUN(test_exact_arithmetic);
    RUN(test_programs);
    RUN(test_bad_programs);
    TESTS_DONE();
}
