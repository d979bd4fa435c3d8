/* Tests for core/numparse: cells as a reader of financial reports reads them, periods,
 * scale statements and table header/scale analysis (also on every TAT-QA dev table). */
#include "check.h"
#include "core/numparse.h"
#include "core/util.h"
#include <jansson.h>
#include <regex.h>

static rg_cell_type ty;
static double val;
static char unit[12];
static void parse(const char *s) { rg_cell_parse(s, &ty, &val, unit); }

#define NUM(s, v, u) do { parse(s); CHECKF(ty == RG_CELL_NUMBER && fabs(val - (double)(v)) < 1e-9 * (fabs((double)(v)) + 1) && strcmp(unit, u) == 0, \
    "%s: type %d value %.9g unit '%s'", s, ty, val, unit); } while (0)
#define PCT(s, v) do { parse(s); CHECKF(ty == RG_CELL_PERCENT && fabs(val - (v)) < 1e-9 && strcmp(unit, "%") == 0, \
    "%s: type %d value %.9g", s, ty, val); } while (0)
#define YEAR(s, y, u) do { parse(s); CHECKF(ty == RG_CELL_YEAR && val == (y) && strcmp(unit, u) == 0, \
    "%s: type %d value %.9g unit '%s'", s, ty, val, unit); } while (0)
#define TYPE(s, t) do { const char *s_ = (s); parse(s_); CHECKF(ty == (t), "%.60s: type %d, want %d", s_ ? s_ : "(null)", ty, t); } while (0)

static void test_numbers(void) {
    NUM("$ 1,452.4", 1452.4, "$");
    NUM("$  1,146.2", 1146.2, "$");
    NUM("1,496.5", 1496.5, "");
    NUM("44.1", 44.1, "");
    NUM("0.8", 0.8, "");
    NUM(".5", 0.5, "");
    NUM("(12.6)", -12.6, "");
    NUM("$(1.9)", -1.9, "$");
    NUM("-12.6", -12.6, "");
    NUM("\xE2\x88\x92" "3.5", -3.5, "");           /* U+2212 minus */
    NUM("-$5", -5, "$");
    NUM("1,234,567", 1234567, "");
    NUM("\xE2\x82\xAC" "2,410", 2410, "\xE2\x82\xAC");
    NUM("\xC2\xA3" "12.7m", 12.7e6, "\xC2\xA3");
    NUM("US$ 3.2", 3.2, "US$");
    NUM("1.2 billion", 1.2e9, "");
    NUM("$3.4m", 3.4e6, "$");
    NUM("$2.5 bn", 2.5e9, "$");
    NUM("450 thousand", 450e3, "");
    NUM("1.5x", 1.5, "x");
    NUM("25 bps", 25, "bps");
    TYPE("1\xC2\xA0" "234 567", RG_CELL_TEXT);   /* two numbers, not one */
}

static void test_numbers_nbsp_and_footnotes(void) {
    NUM("$\xC2\xA0" "1,234", 1234, "$");
    NUM("1,234(1)", 1234, "");
    NUM("1,234 (a)", 1234, "");
    NUM("1,234*", 1234, "");
    NUM("1,234**", 1234, "");
    NUM("1,234\xE2\x80\xA0", 1234, "");           /* dagger */
    NUM("(1,234)(2)", -1234, "");
    NUM("(1)", -1, "");                            /* alone, parens mean negative */
    TYPE("  (1)", RG_CELL_NUMBER);
    TYPE("*", RG_CELL_TEXT);
    TYPE(" *(a)", RG_CELL_TEXT);
    NUM("12.6 $", 12.6, "$");
}

static void test_percent(void) {
    PCT("12.5%", 12.5);
    PCT("100.0 %", 100.0);
    PCT("(38)%", -38);
    PCT("(13%)", -13);
    PCT("-2.4%", -2.4);
    PCT("7 percent", 7);
}

static void test_empty_and_text(void) {
    TYPE("", RG_CELL_EMPTY);
    TYPE("   ", RG_CELL_EMPTY);
    TYPE("-", RG_CELL_EMPTY);
    TYPE("\xE2\x80\x94", RG_CELL_EMPTY);      /* em dash */
    TYPE("\xE2\x80\x93", RG_CELL_EMPTY);      /* en dash */
    TYPE("$ -", RG_CELL_EMPTY);
    TYPE("$  \xE2\x80\x94", RG_CELL_EMPTY);
    TYPE("--", RG_CELL_EMPTY);
    TYPE("Revenue", RG_CELL_TEXT);
    TYPE("Total sales", RG_CELL_TEXT);
    TYPE("3 - 4.35", RG_CELL_TEXT);
    TYPE("1 to 3 years", RG_CELL_TEXT);
    TYPE(">360", RG_CELL_TEXT);
    TYPE("Note 3", RG_CELL_TEXT);
    TYPE("12.6 (", RG_CELL_TEXT);
    TYPE("(12.6", RG_CELL_TEXT);
    TYPE("1.2.3.4", RG_CELL_TEXT);
    TYPE("N/A", RG_CELL_TEXT);
    TYPE("Balance at December 31, 2019", RG_CELL_TEXT);
    TYPE("2019 vs 2018", RG_CELL_TEXT);
    TYPE("2019 vs. 2018", RG_CELL_TEXT);
    TYPE("2018 over 2017", RG_CELL_TEXT);
    TYPE("2019/2018", RG_CELL_TEXT);
    TYPE("September 29,", RG_CELL_TEXT);
    TYPE("Fiscal 2019 Net Sales", RG_CELL_TEXT);
    TYPE("\xFF\xFE garbage", RG_CELL_TEXT);
    char longs[600];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    TYPE(longs, RG_CELL_TEXT);
    TYPE(NULL, RG_CELL_EMPTY);
}

static void test_years(void) {
    YEAR("2019", 2019, "");
    YEAR(" 2018 ", 2018, "");
    YEAR("2019 (1)", 2019, "");
    YEAR("2017 (4)", 2017, "");
    YEAR("2019:", 2019, "");
    YEAR("Fiscal 2018", 2018, "");
    YEAR("Fiscal Year 2017", 2017, "");
    YEAR("FY2019", 2019, "");
    YEAR("FY 2019", 2019, "");
    YEAR("FY19", 2019, "");
    YEAR("F18 (3)", 2018, "");
    YEAR("Q4 2019", 2019, "Q4");
    YEAR("Q4'19", 2019, "Q4");
    YEAR("4Q19", 2019, "Q4");
    YEAR("H1 2020", 2020, "H1");
    YEAR("Dec 31, 2019", 2019, "");
    YEAR("December 31, 2019", 2019, "");
    YEAR("As of December 31, 2019", 2019, "");
    YEAR("31 December 2019", 2019, "");
    YEAR("Year ended 30 June 2019", 2019, "");
    YEAR("Three months ended March 31, 2019", 2019, "");
    YEAR("Nov-2022", 2022, "");
    YEAR("2018/19", 2019, "");
    YEAR("2018-2019", 2019, "");
    YEAR("12/31/2019", 2019, "");
    YEAR("2017 \xE2\x82\xAC" "m", 2017, "");
    YEAR("2018 $\xE2\x80\x99" "000", 2018, "");
    YEAR("2 0 1 8", 2018, "");
    /* a year-like number with a comma, decimals or a currency is a number */
    NUM("2,019", 2019, "");
    NUM("$2019", 2019, "$");
    NUM("2019.5", 2019.5, "");
    NUM("1850", 1850, "");
}

static void test_scale(void) {
    char scbuf[12], *sc = scbuf;
    CHECK(rg_scale_from_text("(In millions, except per share data)", sc)); CHECK_STR(sc, "million");
    CHECK(rg_scale_from_text("$ in millions", sc)); CHECK_STR(sc, "million");
    CHECK(rg_scale_from_text("Amounts in thousands", sc)); CHECK_STR(sc, "thousand");
    CHECK(rg_scale_from_text("(dollars in thousands)", sc)); CHECK_STR(sc, "thousand");
    CHECK(rg_scale_from_text("in US$ billions", sc)); CHECK_STR(sc, "billion");
    CHECK(rg_scale_from_text("2018 $'000", sc)); CHECK_STR(sc, "thousand");
    CHECK(rg_scale_from_text("US$000", sc)); CHECK_STR(sc, "thousand");
    CHECK(rg_scale_from_text("RMB\xE2\x80\x99" "000", sc)); CHECK_STR(sc, "thousand");
    CHECK(rg_scale_from_text("2017 \xE2\x82\xAC" "m", sc)); CHECK_STR(sc, "million");
    CHECK(rg_scale_from_text("$M", sc)); CHECK_STR(sc, "million");
    CHECK(rg_scale_from_text("(in million)", sc)); CHECK_STR(sc, "million");
    CHECK(rg_scale_from_text("Number of shares (000s)", sc)); CHECK_STR(sc, "thousand");
    CHECK(rg_scale_from_text("Revenue (Millions)", sc)); CHECK_STR(sc, "million");
    CHECK(rg_scale_from_text("thousands of euros", sc)); CHECK_STR(sc, "thousand");
    CHECK(rg_scale_from_text("USDm", sc)); CHECK_STR(sc, "million");
    CHECK(rg_scale_from_text("EURbn", sc)); CHECK_STR(sc, "billion");
    CHECK(rg_scale_from_text("Number of shares (1,000)", sc)); CHECK_STR(sc, "thousand");
    CHECK(!rg_scale_from_text("USDA grants", sc));
    CHECK(!rg_scale_from_text("Paid (1,000 shares were sold)", sc));
    CHECK(rg_scale_from_text("The table below presents total net sales disaggregated by contract type (in millions):", sc));
    CHECK_STR(sc, "million");
    /* no scale statement */
    CHECK(!rg_scale_from_text("Revenue grew to $1.2 million in 2019", sc)); CHECK_STR(sc, "");
    CHECK(!rg_scale_from_text("Total sales", sc));
    CHECK(!rg_scale_from_text("Sales rose 1,000 units", sc));
    CHECK(!rg_scale_from_text("made in m", sc));
    CHECK(!rg_scale_from_text(NULL, sc));
}

static rg_table *make(int R, int C, const char **cells) {
    rg_table *t = rg_table_new(R, C);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) rg_table_set(t, r, c, cells[r * C + c]);
    return t;
}

static void test_table_analyse(void) {
    const char *a[] = {"", "", "Years Ended September 30,", "",
                       "", "2019", "2018", "2017",
                       "Fixed Price", "$  1,452.4", "$  1,146.2", "$  1,036.9",
                       "Other", "44.1", "56.7", "70.8",
                       "Total sales", "$1,496.5", "$1,202.9", "$1,107.7"};
    rg_table *t = make(5, 4, a);
    rg_table_analyse(t, "The table below presents total net sales disaggregated by contract type (in millions):");
    CHECK_INT(t->header_rows, 2);
    CHECK_INT(t->header_cols, 1);
    CHECK_STR(t->scale, "million");
    CHECK_INT(rg_table_cell(t, 1, 1)->type, RG_CELL_YEAR);
    CHECK_NEAR(rg_table_cell(t, 2, 1)->value, 1452.4, 1e-9);
    rg_table_free(t);

    /* section label row after the headers stops them; scale from a header cell */
    const char *b[] = {"(In thousands)", "2019", "2018",
                       "Income Statement Data:", "", "",
                       "Revenue", "1,200", "(300)",
                       "Units sold", "2019", "1,870"};
    t = make(4, 3, b);
    rg_table_analyse(t, NULL);
    CHECK_INT(t->header_rows, 1);
    CHECK_STR(t->scale, "thousand");
    CHECK_INT(rg_table_cell(t, 3, 1)->type, RG_CELL_NUMBER);   /* "2019" units, not a year */
    CHECK_NEAR(rg_table_cell(t, 3, 1)->value, 2019, 0);
    CHECK_INT(rg_table_cell(t, 0, 1)->type, RG_CELL_YEAR);
    rg_table_free(t);

    /* a year column of row labels stays years; all-text table: first row is the header */
    const char *c[] = {"Year", "Revenue", "2019", "10.5", "2018", "9.1"};
    t = make(3, 2, c);
    rg_table_analyse(t, NULL);
    CHECK_INT(t->header_rows, 1);
    CHECK_INT(rg_table_cell(t, 1, 0)->type, RG_CELL_YEAR);
    CHECK_STR(t->scale, "");
    rg_table_free(t);
    const char *d[] = {"Name", "Title", "Ann Lee", "CEO"};
    t = make(2, 2, d);
    rg_table_analyse(t, NULL);
    CHECK_INT(t->header_rows, 1);
    rg_table_free(t);
    /* caption wins */
    t = make(2, 2, d);
    t->caption = xstrdup("Directors ($ in thousands)");
    rg_table_analyse(t, "in millions");
    CHECK_STR(t->scale, "thousand");
    rg_table_free(t);
    t = rg_table_new(0, 0);
    rg_table_analyse(t, "in millions");   /* no crash on an empty table */
    rg_table_free(t);
}

/* Every TAT-QA dev table cell: whatever looks like a plain number parses as one, and most
 * cells are values; the header rows give many period cells. */
static void test_tatqa_cells(void) {
    const char *sh = test_shared_dir();
    char path[1200];
    snprintf(path, sizeof path, "%s/data/tatqa/tatqa_dataset_dev.json", sh);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECKF(root && json_is_array(root), "tatqa dev: %.200s", jerr.text);
    if (!root) return;
    regex_t amount;
    CHECK(regcomp(&amount, "^ *\\$? *\\(?[0-9]{1,3}(,[0-9]{3})*(\\.[0-9]+)?\\)? *%? *$", REG_EXTENDED | REG_NOSUB) == 0);
    size_t i, cells = 0, numeric = 0, years = 0, unparsed = 0;
    json_t *ctx;
    json_array_foreach(root, i, ctx) {
        json_t *tab = json_object_get(json_object_get(ctx, "table"), "table");
        size_t r;
        json_t *row;
        json_array_foreach(tab, r, row) {
            size_t c;
            json_t *cell;
            json_array_foreach(row, c, cell) {
                const char *s = json_string_value(cell);
                if (!s) continue;
                cells++;
                parse(s);
                if (ty == RG_CELL_NUMBER || ty == RG_CELL_PERCENT) numeric++;
                if (ty == RG_CELL_YEAR) years++;
                /* a well-formed amount ("$ 1,234.5", "(12)", "4.5%") is a value */
                if (ty == RG_CELL_TEXT && regexec(&amount, s, 0, NULL, 0) == 0) {
                    if (unparsed++ < 3) fprintf(stderr, "unparsed numeric cell: '%s'\n", s);
                }
            }
        }
    }
    json_decref(root);
    regfree(&amount);
    CHECKF(unparsed == 0, "%zu numeric-looking cells read as text", unparsed);
    CHECKF(numeric * 5 > cells * 2, "only %zu of %zu cells numeric", numeric, cells);
    CHECKF(years > 278, "only %zu year cells", years);
}

int main(void) {
    RUN(test_numbers);
    RUN(test_numbers_nbsp_and_footnotes);
    RUN(test_percent);
    RUN(test_empty_and_text);
    RUN(test_years);
    RUN(test_scale);
    RUN(test_table_analyse);
    if (test_shared_dir()) RUN(test_tatqa_cells);
    else SKIP(test_tatqa_cells, "no shared data (../shared or RAGD_SHARED)");
    TESTS_DONE();
}
