/* The table reasoner on hand-made tables: question understanding on paraphrases, programs and
 * exact execution (units, negatives, percents, missing cells, duplicate row labels), scales,
 * citations, "none" when the evidence lacks what is asked, and the JSON shape. */
#include "check.h"
#include "core/doc.h"
#include "core/numparse.h"
#include "core/util.h"
#include "generate/reasoner.h"
#include <jansson.h>
#include <pthread.h>

static rg_table *make_table(int nr, int nc, const char *const *cells) {
    rg_table *t = rg_table_new(nr, nc);
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) rg_table_set(t, r, c, cells[r * nc + c]);
    return t;
}

/* contract sales, scale only in the paragraph */
static const char *SALES[] = {
    "", "2019", "2018", "2017",
    "Fixed Price", "$ 1,452.4", "$ 1,146.2", "$ 1,036.9",
    "Other", "44.1", "56.7", "70.8",
    "Total sales", "$1,496.5", "$1,202.9", "$1,107.7",
};
static const char *SALES_TEXT =
    "On a fixed-price type contract, we agree to perform the contractual statement of work for a predetermined "
    "sales price. On a cost-plus type contract, we are paid our allowable incurred costs plus a profit. "
    "The table below presents total net sales disaggregated by contract type (in millions):";

/* taxes: negatives, a missing cell, the same label under two sections, percents */
static const char *TAX[] = {
    "", "2019", "2018",
    "Revenue", "1,000", "800",
    "Current:", "", "",
    "Federal", "(120)", "(100)",
    "State", "(15)", "(12)",
    "Deferred:", "", "",
    "Federal", "30", "\xe2\x80\x94",
    "State", "4", "6",
    "Gross margin (%)", "40.5%", "38.0%",
};

static rg_answer *ask(const char *q, rg_table *t, const char *para) {
    rg_ev_table et = {t, "doc1", 7};
    rg_ev_para ep = {para, "doc1", 8, 1};
    rg_evidence ev = {t ? &et : NULL, t ? 1 : 0, para ? &ep : NULL, para ? 1 : 0};
    return rg_reason(q, &ev);
}

#define EXPECT(a, ans, sc, ty) do { \
    CHECK((a) != NULL); \
    if (a) { CHECKF((a)->nanswers >= 1, "no answer, type %s", (a)->type); \
             if ((a)->nanswers >= 1) CHECK_STR((a)->answers[0], ans); \
             CHECK_STR((a)->scale, sc); CHECK_STR((a)->type, ty); } } while (0)

static void test_change_and_paraphrases(void) {
    rg_table *t = make_table(4, 4, SALES);
    static const char *qs[] = {
        "What is the change in Other in 2019 from 2018?",
        "By how much did Other change between 2018 and 2019?",
        "what was the difference in other from 2018 to 2019",
        "How much did other decrease from 2018 to 2019?", NULL};
    for (int i = 0; qs[i]; i++) {
        rg_answer *a = ask(qs[i], t, SALES_TEXT);
        EXPECT(a, "-12.6", "million", "arithmetic");
        if (a) {
            CHECK_STR(a->derivation, "44.1 - 56.7");
            CHECK_INT(a->ncites, 2);
            if (a->ncites == 2) { CHECK_INT(a->cites[0].row, 2); CHECK_INT(a->cites[0].col, 1); CHECK_INT(a->cites[1].col, 2); CHECK_STR(a->cites[0].doc_id, "doc1"); CHECK_INT(a->cites[0].chunk_id, 7); }
            CHECK(a->program && strstr(a->program, "subtract(r2c1, r2c2)"));
            CHECK(a->confidence > 0 && a->confidence <= 1);
        }
        rg_answer_free(a);
    }
    rg_table_free(t);
}

static void test_operations(void) {
    rg_table *t = make_table(4, 4, SALES);
    rg_answer *a = ask("What is the percentage change in Other from 2018 to 2019?", t, SALES_TEXT);
    EXPECT(a, "-22.22", "percent", "arithmetic");
    if (a) CHECK_STR(a->derivation, "(44.1 - 56.7) / 56.7 * 100");
    rg_answer_free(a);
    a = ask("What was the total sales in 2019?", t, SALES_TEXT);
    EXPECT(a, "$1,496.5", "million", "span");
    rg_answer_free(a);
    a = ask("In which year was total sales the highest?", t, SALES_TEXT);
    EXPECT(a, "2019", "", "span");
    rg_answer_free(a);
    a = ask("In which year were fixed price sales lowest?", t, SALES_TEXT);
    EXPECT(a, "2017", "", "span");
    rg_answer_free(a);
    a = ask("What is the average Other from 2017 to 2019?", t, SALES_TEXT);
    EXPECT(a, "57.2", "million", "arithmetic");
    rg_answer_free(a);
    a = ask("What is the sum of fixed price sales in 2018 and 2019?", t, SALES_TEXT);
    EXPECT(a, "2598.6", "million", "arithmetic");
    rg_answer_free(a);
    a = ask("What was Other in 2019 and 2018 respectively?", t, SALES_TEXT);
    EXPECT(a, "44.1", "million", "multi-span");
    if (a && a->nanswers == 2) CHECK_STR(a->answers[1], "56.7");
    rg_answer_free(a);
    a = ask("What percentage of total sales in 2019 came from fixed price contracts?", t, SALES_TEXT);
    EXPECT(a, "97.05", "percent", "arithmetic");
    rg_answer_free(a);
    a = ask("What proportion of total sales in 2019 came from fixed price contracts?", t, SALES_TEXT);
    EXPECT(a, "0.97", "", "arithmetic");          /* a proportion, not a percentage */
    rg_answer_free(a);
    a = ask("What is the ratio of fixed price sales to other sales in 2019?", t, SALES_TEXT);
    EXPECT(a, "32.93", "", "arithmetic");
    rg_answer_free(a);
    a = ask("How many years did Other exceed 50?", t, SALES_TEXT);
    EXPECT(a, "2", "", "count");
    rg_answer_free(a);
    a = ask("Which years does the table provide information for?", t, SALES_TEXT);
    CHECK(a && a->nanswers == 3 && !strcmp(a->type, "multi-span"));
    rg_answer_free(a);
    rg_table_free(t);
}

static void test_signs_sections_percents(void) {
    rg_table *t = make_table(9, 3, TAX);
    rg_answer *a = ask("What is the change in current federal tax between 2018 and 2019?", t, NULL);
    EXPECT(a, "-20", "", "arithmetic");
    if (a) CHECK_STR(a->derivation, "-120 - (-100)");
    rg_answer_free(a);
    a = ask("What was the deferred state tax in 2018?", t, NULL);
    EXPECT(a, "6", "", "span");
    if (a && a->ncites == 1) { CHECK_INT(a->cites[0].row, 7); CHECK_INT(a->cites[0].col, 2); }
    rg_answer_free(a);
    a = ask("What is the change in gross margin from 2018 to 2019?", t, NULL);
    EXPECT(a, "2.5", "percent", "arithmetic");
    rg_answer_free(a);
    a = ask("What was the gross margin in 2019 and 2018 respectively?", t, NULL);
    EXPECT(a, "40.5%", "percent", "multi-span");
    rg_answer_free(a);
    /* the 2018 deferred federal figure is a dash: nothing to compute, no invented number */
    a = ask("What is the change in deferred federal tax from 2018 to 2019?", t, NULL);
    CHECK(a && !strcmp(a->type, "none") && a->nanswers == 0);
    rg_answer_free(a);
    rg_table_free(t);
}

static void test_years_down_the_side(void) {
    static const char *T[] = {
        "Year", "Revenue", "Net income",
        "2019", "500", "50",
        "2018", "400", "45",
    };
    rg_table *t = make_table(3, 3, T);
    rg_answer *a = ask("What was the net income in 2019?", t, NULL);
    EXPECT(a, "50", "", "span");
    rg_answer_free(a);
    a = ask("What is the change in revenue from 2018 to 2019?", t, NULL);
    EXPECT(a, "100", "", "arithmetic");
    rg_answer_free(a);
    rg_table_free(t);
}

static void test_none_and_text(void) {
    rg_table *t = make_table(4, 4, SALES);
    rg_answer *a = ask("What is the gross margin in 2019?", t, SALES_TEXT);
    CHECK(a && !strcmp(a->type, "none") && a->nanswers == 0);
    rg_answer_free(a);
    a = ask("What was Other in 2016?", t, SALES_TEXT);
    CHECK(a && !strcmp(a->type, "none"));
    rg_answer_free(a);
    a = ask("What is the company paid on a cost-plus type contract?", t, SALES_TEXT);
    CHECK(a && !strcmp(a->type, "span") && a->nanswers == 1);
    if (a && a->nanswers == 1) CHECK(strstr(a->answers[0], "allowable incurred costs plus a profit") != NULL);
    if (a && a->ncites == 1) { CHECK_INT(a->cites[0].row, -1); CHECK_INT(a->cites[0].chunk_id, 8); }
    rg_answer_free(a);
    /* no evidence at all, empty or absurd questions */
    rg_evidence none = {NULL, 0, NULL, 0};
    a = rg_reason("What is the change in Other?", &none);
    CHECK(a && !strcmp(a->type, "none"));
    rg_answer_free(a);
    a = ask("", t, NULL);
    CHECK(a && !strcmp(a->type, "none"));
    rg_answer_free(a);
    char *longq = xmalloc(10000);
    memset(longq, 'x', 9999);
    longq[9999] = 0;
    a = ask(longq, t, SALES_TEXT);
    CHECK(a && !strcmp(a->type, "none"));
    rg_answer_free(a);
    free(longq);
    CHECK(rg_reason(NULL, &none) == NULL);
    rg_table_free(t);
}

static void test_json(void) {
    rg_table *t = make_table(4, 4, SALES);
    rg_answer *a = ask("What is the change in Other in 2019 from 2018?", t, SALES_TEXT);
    char *js = rg_answer_json("What is the change in Other in 2019 from 2018?", a);
    CHECK(js != NULL);
    json_error_t err;
    json_t *o = js ? json_loads(js, 0, &err) : NULL;
    CHECK(o != NULL);
    if (o) {
        CHECK_STR(json_string_value(json_object_get(o, "answer")), "-12.6");
        CHECK_STR(json_string_value(json_object_get(o, "scale")), "million");
        CHECK_STR(json_string_value(json_object_get(o, "type")), "arithmetic");
        CHECK_STR(json_string_value(json_object_get(o, "derivation")), "44.1 - 56.7");
        json_t *c = json_array_get(json_object_get(o, "citations"), 0);
        CHECK_STR(json_string_value(json_object_get(c, "doc_id")), "doc1");
        CHECK_INT(json_integer_value(json_object_get(c, "chunk_id")), 7);
        CHECK_INT(json_integer_value(json_array_get(json_object_get(c, "cell"), 0)), 2);
        CHECK(json_is_real(json_object_get(o, "confidence")));
        CHECK(json_is_string(json_object_get(o, "program")));
        json_decref(o);
    }
    free(js);
    rg_answer_free(a);
    a = ask("What was Other in 2019 and 2018 respectively?", t, SALES_TEXT);
    js = rg_answer_json("q", a);
    o = js ? json_loads(js, 0, &err) : NULL;
    CHECK(o && json_is_array(json_object_get(o, "answer")) && json_array_size(json_object_get(o, "answer")) == 2);
    json_decref(o);
    free(js);
    rg_answer_free(a);
    rg_table_free(t);
}

/* Odd evidence never crashes and never yields a number that is not in it. */
static void test_hostile_input(void) {
    /* cells with no text, invalid UTF-8, huge text, numbers too big for 128 bits */
    rg_table *t = rg_table_new(4, 3);
    rg_table_set(t, 0, 1, "2019");
    rg_table_set(t, 0, 2, "2018");
    rg_table_set(t, 1, 0, "Revenue \xff\xfe");
    rg_table_set(t, 1, 1, "123456789012345678901234567890123456789012345");
    rg_table_set(t, 1, 2, "5");
    char *big = xmalloc(100001);
    memset(big, '9', 100000);
    big[100000] = 0;
    rg_table_set(t, 2, 0, big);
    rg_table_set(t, 2, 1, big);
    rg_table_set(t, 3, 0, "Cost");
    rg_table_set(t, 3, 1, "1e308");
    /* (row 3, col 2 and the header corner left NULL) */
    static const char *qs[] = {"What is the change in revenue from 2018 to 2019?", "What was the cost in 2018?",
        "What is the average revenue?", "What is the percentage change in cost from 2018 to 2019?",
        "How many years did revenue exceed 3?", "\xff\xfe\xfd?", "2019 2018 2017 2016 2015 2014 2013 2012 2011 2010",
        "In which year was revenue the highest?", "What items are listed in the table?", NULL};
    for (int i = 0; qs[i]; i++) {
        rg_answer *a = ask(qs[i], t, big);
        CHECK(a != NULL);
        if (a) {
            char *js = rg_answer_json(qs[i], a);
            CHECKF(js != NULL, "no JSON for \"%s\"", qs[i]);
            free(js);
            for (int k = 0; k < a->nanswers; k++) CHECK(a->answers[k] != NULL);
        }
        rg_answer_free(a);
    }
    /* the overflowing cell is not read as a number: no change can be computed from it */
    rg_answer *a = ask("What is the change in revenue from 2018 to 2019?", t, NULL);
    CHECK(a && strcmp(a->type, "arithmetic") != 0);
    rg_answer_free(a);
    free(big);
    rg_table_free(t);
    /* a 0x0 table, a table whose cells array is missing, and a one-cell table */
    rg_table empty;
    memset(&empty, 0, sizeof empty);
    a = ask("What was revenue in 2019?", &empty, NULL);
    CHECK(a && !strcmp(a->type, "none"));
    rg_answer_free(a);
    rg_table *one = rg_table_new(1, 1);
    rg_table_set(one, 0, 0, "42");
    a = ask("What was revenue in 2019?", one, NULL);
    CHECK(a && !strcmp(a->type, "none"));
    rg_answer_free(a);
    rg_table_free(one);
}

/* No invented answers: a year the evidence does not cover gets "none", from text or table. */
static const char *RESULTS[] = {
    "(in millions)", "2019", "2018", "2017",
    "Product revenue", "902.1", "850.0", "801.3",
    "Total revenue", "1,210.4", "1,101.2", "1,003.5",
    "Research and development", "150.2", "141.0", "130.9",
};
static const char *RESULTS_TEXT =
    "Total revenue rose to $1,210.4 million, up from $1,101.2 million in fiscal 2018. "
    "At the end of 2019 the company employed 3,100 people, of whom 840 work in research and development. "
    "Our chief financial officer, Maria Okafor, joined the company in 2015. "
    "The company is headquartered in Leeds, West Yorkshire and has offices in Lyon. "
    "The company completed its acquisition of Brightline on 14 March 2018.";

static void test_uncovered_years(void) {
    rg_table *t = make_table(4, 4, RESULTS);
    /* the sentence about research and development names 2019 only; the table has no 2012 */
    rg_answer *a = ask("What was the research and development expense in 2012?", t, RESULTS_TEXT);
    CHECK(a && !strcmp(a->type, "none") && a->nanswers == 0);
    rg_answer_free(a);
    a = ask("What was the revenue in 2025?", t, RESULTS_TEXT);
    CHECK(a && !strcmp(a->type, "none") && a->nanswers == 0);
    rg_answer_free(a);
    /* a computation over a year that is missing is not done over other years */
    a = ask("What was the change in total revenue from 2024 to 2025?", t, RESULTS_TEXT);
    CHECK(a && !strcmp(a->type, "none"));
    rg_answer_free(a);
    /* without tables: a sentence naming other years only does not answer */
    a = ask("How many people worked in research and development in 2016?", NULL, RESULTS_TEXT);
    CHECK(a && !strcmp(a->type, "none"));
    rg_answer_free(a);
    /* ... while the years covered still answer, from table and text */
    a = ask("What was the research and development expense in 2017?", t, RESULTS_TEXT);
    EXPECT(a, "130.9", "million", "span");
    rg_answer_free(a);
    a = ask("How many people worked in research and development in 2019?", NULL, RESULTS_TEXT);
    EXPECT(a, "840", "", "span");
    rg_answer_free(a);
    /* a comparative in brackets names its year: "(2018: £3.1 million)" */
    a = ask("What was the amount of deposits held as collateral in 2018?", NULL,
            "The amount of deposits held as collateral at 31 December 2019 is \xc2\xa3" "3.5 million (2018: \xc2\xa3" "3.1 million).");
    EXPECT(a, "\xc2\xa3" "3.1 million", "", "span");
    rg_answer_free(a);
    rg_table_free(t);
}

/* Who / where / when: the constituent that answers, not the whole sentence. */
static void test_wh_spans(void) {
    rg_answer *a = ask("Who is the chief financial officer of the company?", NULL, RESULTS_TEXT);
    EXPECT(a, "Maria Okafor", "", "span");
    rg_answer_free(a);
    a = ask("Where is the company headquartered?", NULL, RESULTS_TEXT);
    EXPECT(a, "Leeds, West Yorkshire", "", "span");
    rg_answer_free(a);
    a = ask("When did the company complete its acquisition of Brightline?", NULL, RESULTS_TEXT);
    EXPECT(a, "14 March 2018", "", "span");
    rg_answer_free(a);
    a = ask("Who approved the financial statements?", NULL,
            "The financial statements were approved by the Board of Directors on 6 June 2019 and authorised for issue.");
    EXPECT(a, "Board of Directors", "", "span");
    rg_answer_free(a);
}

/* "total X of both/all Y": the lines sharing X, summed in the period asked */
static const char *SEGMENTS[] = {
    "Segment", "2019", "2018",
    "Coatings net sales", "500,000", "450,000",
    "Adhesives net sales", "300,000", "310,000",
    "Coatings operating profit", "61,250", "58,000",
    "Adhesives operating profit", "40,125", "45,500",
    "Corporate expenses", "(12,000)", "(11,000)",
};

static void test_sum_of_all(void) {
    rg_table *t = make_table(6, 3, SEGMENTS);
    rg_answer *a = ask("What was the total operating profit of both segments in 2019?", t, "Amounts in thousands.");
    EXPECT(a, "101375", "thousand", "arithmetic");
    rg_answer_free(a);
    a = ask("What were the combined net sales of all segments in 2018?", t, "Amounts in thousands.");
    EXPECT(a, "760000", "thousand", "arithmetic");
    rg_answer_free(a);
    /* one segment named: a lookup, not a sum */
    a = ask("What was the coatings operating profit in 2018?", t, "Amounts in thousands.");
    EXPECT(a, "58,000", "thousand", "span");
    rg_answer_free(a);
    /* "both years" sums periods, not lines */
    a = ask("What was the total coatings net sales in both years?", t, "Amounts in thousands.");
    EXPECT(a, "950000", "thousand", "arithmetic");
    rg_answer_free(a);
    rg_table_free(t);
}

/* The daemon answers questions on several threads at once over shared evidence. */
typedef struct { rg_table *t; int bad; } thr_arg;
/* balances over three years, the unit in a figure-less body row, rates in percent */
static const char *BALANCES[] = {
    "", "2019", "2018", "2017",
    "", "(in thousands)", "", "",
    "Income from operations", "1,200", "1,000", "600",
    "Separation costs", "300", "100", "200",
    "Discount rate", "3.5%", "4.0%", "3.0%",
};

static void test_averages_units_rates(void) {
    rg_table *t = make_table(5, 4, BALANCES);
    rg_answer *a;
    /* the unit row, and "operations"/"separation" are not "ratio" (figures without a unit) */
    a = ask("What is the change in income from operations between 2019 and 2018?", t, NULL);
    EXPECT(a, "200", "thousand", "arithmetic");
    rg_answer_free(a);
    a = ask("What were the separation costs in 2019?", t, NULL);
    EXPECT(a, "300", "thousand", "span");
    rg_answer_free(a);
    /* each year's average is of it and the year before: (1200+1000)/2 - (1000+600)/2 */
    a = ask("What is the change between 2018 and 2019 average income from operations?", t, NULL);
    EXPECT(a, "300", "thousand", "arithmetic");
    if (a) CHECK(a->program && strstr(a->program, "subtract(#0, #1)"));
    rg_answer_free(a);
    /* two things averaged over the same years: (1200+1000)/2 - (300+100)/2 */
    a = ask("What is the difference between average income from operations and average separation costs from 2018 to 2019?", t, NULL);
    EXPECT(a, "900", "thousand", "arithmetic");
    rg_answer_free(a);
    /* a range spans three periods; the change is between its ends: 300 - 200 */
    a = ask("What is the change in separation costs from 2017 to 2019?", t, NULL);
    EXPECT(a, "100", "thousand", "arithmetic");
    rg_answer_free(a);
    /* "absolute" percentage change of a rate is in percentage points; a plain one is relative */
    a = ask("What was the absolute percentage change in discount rate between 2018 and 2019?", t, NULL);
    EXPECT(a, "-0.5", "percent", "arithmetic");
    rg_answer_free(a);
    a = ask("What was the percentage change in discount rate between 2018 and 2019?", t, NULL);
    EXPECT(a, "-12.5", "percent", "arithmetic");
    rg_answer_free(a);
    rg_table_free(t);
}

/* obligations by due period: a line's share of its own "Total" column, a header quoted whole */
static const char *DUE[] = {
    "", "Total", "Less than 1 year", "1-3 years", "More than 3 years",
    "Operating leases", "200", "50", "70", "80",
    "Purchase obligations", "400", "300", "60", "40",
    "Total", "600", "350", "130", "120",
};

/* share counts: unitless by default, in thousands where the line or its column says so */
static const char *SHARES[] = {
    "", "Shares outstanding", "Number of shares purchased", "Weighted average price per share",
    "", "", "(Shares in thousands)", "",
    "Granted", "1,200", "300", "$ 12.50",
};

static void test_share_units(void) {
    rg_table *t = make_table(3, 4, SHARES);
    rg_answer *a = ask("What was the number of shares purchased for Granted?", t, NULL);
    EXPECT(a, "300", "thousand", "span");
    rg_answer_free(a);
    /* a per-share column has no scale, whatever the table's */
    a = ask("What was the weighted average price per share for Granted?", t, NULL);
    EXPECT(a, "$ 12.50", "", "span");
    rg_answer_free(a);
    rg_table_free(t);
    static const char *NS[] = {"", "2019", "2018", "Number of shares (1,000)", "6,148", "5,974"};
    t = make_table(2, 3, NS);
    a = ask("What is the total number of shares in 2019 and 2018?", t, NULL);
    EXPECT(a, "12122", "thousand", "arithmetic");
    rg_answer_free(a);
    rg_table_free(t);
}

/* footnote numbers glued to a line's name are not part of it */
static void test_label_footnotes(void) {
    static const char *PAY[] = {"", "2019", "2018", "Salaries and fees", "4", "4", "Incentive schemes1", "2", "3",
                                "Level 2", "5", "1"};
    rg_table *t = make_table(4, 3, PAY);
    rg_answer *a = ask("What are the financial items listed in the table?", t, NULL);
    CHECK(a && a->nanswers == 3);
    if (a && a->nanswers == 3) { CHECK_STR(a->answers[1], "Incentive schemes"); CHECK_STR(a->answers[2], "Level 2"); }
    rg_answer_free(a);
    rg_table_free(t);
}

/* a number inside a name is no threshold; one after a comparison is */
static void test_thresholds_need_comparison(void) {
    static const char *LIFE[] = {"", "2019", "2018", "Life expectancy for a member aged 65", "86.8", "87.3"};
    rg_table *t = make_table(2, 3, LIFE);
    rg_answer *a = ask("In which year was the life expectancy for a member aged 65 higher?", t, NULL);
    EXPECT(a, "2018", "", "span");
    if (a) CHECK_INT(a->nanswers, 1);
    rg_answer_free(a);
    a = ask("Which FY has a higher life expectancy for a member aged 65?", t, NULL);
    EXPECT(a, "2018", "", "span");
    rg_answer_free(a);
    a = ask("In which year was the life expectancy for a member aged 65 more than 87?", t, NULL);
    EXPECT(a, "2018", "", "span");
    rg_answer_free(a);
    rg_table_free(t);
}

/* "respective" values under two period headers of the same year */
static void test_respective_headers(void) {
    static const char *PPA[] = {"", "June 30, 2019", "Adjustments", "December 31, 2019",
                                "Cash", "3,795", "-", "3,800", "Inventory", "120", "15", "135"};
    rg_table *t = make_table(3, 4, PPA);
    rg_answer *a = ask("What are the respective inventory amounts at June 30 and December 31, 2019?", t, NULL);
    CHECK(a && a->nanswers == 2);
    if (a && a->nanswers == 2) { CHECK_STR(a->answers[0], "120"); CHECK_STR(a->answers[1], "135"); }
    rg_answer_free(a);
    rg_table_free(t);
}

/* a unitless table whose columns open with a percentage: the bare figures below are percents too,
 * except terms in years and dollar amounts */
static void test_rate_columns(void) {
    static const char *RATE[] = {"", "2019", "2018",
                                 "Statutory federal rate", "21.0%", "21.0%",
                                 "State taxes, net", "3.7", "1.6",
                                 "Expected term (years)", "4.5", "5.0"};
    rg_table *t = make_table(4, 3, RATE);
    rg_answer *a = ask("What was the average state taxes, net in 2018 and 2019?", t, NULL);
    EXPECT(a, "2.65", "percent", "arithmetic");
    rg_answer_free(a);
    a = ask("What was the expected term (years) in 2019?", t, NULL);
    EXPECT(a, "4.5", "", "span");
    rg_answer_free(a);
    rg_table_free(t);
}

static void test_own_total_column(void) {
    rg_table *t = make_table(4, 5, DUE);
    rg_answer *a = ask("What is the percentage of the operating leases of more than 3 years in the total operating leases?", t, NULL);
    EXPECT(a, "40", "percent", "arithmetic");
    rg_answer_free(a);
    a = ask("What were the purchase obligations due in less than 1 year?", t, NULL);
    EXPECT(a, "300", "", "span");
    rg_answer_free(a);
    rg_table_free(t);
}

/* span boundaries: the means keeps "by", a definition keeps "as", and a table introduced
 * without the word "table" is described by the subject of its introducing sentence */
static void test_span_links_and_intros(void) {
    static const char *P1 =
        "Operating margin is calculated by dividing operating income by net revenue. "
        "We define free cash flow as cash from operations less capital expenditures.";
    rg_answer *a = ask("How is operating margin calculated?", NULL, P1);
    EXPECT(a, "by dividing operating income by net revenue", "", "span");
    rg_answer_free(a);
    a = ask("How does the company define free cash flow?", NULL, P1);
    EXPECT(a, "as cash from operations less capital expenditures", "", "span");
    rg_answer_free(a);
    static const char *P2 =
        "Our leases expire at various dates through 2030. "
        "As of December 31, 2019, future minimum payments under the leases were as follows:";
    a = ask("What does the table show?", NULL, P2);
    EXPECT(a, "future minimum payments under the leases", "", "span");
    rg_answer_free(a);
}

static void *thr_main(void *p) {
    thr_arg *ta = p;
    for (int i = 0; i < 50; i++) {
        rg_answer *a = ask(i % 2 ? "What is the percentage change in Other from 2018 to 2019?" :
                                   "What is the change in Other in 2019 from 2018?", ta->t, SALES_TEXT);
        if (!a || a->nanswers != 1 || strcmp(a->answers[0], i % 2 ? "-22.22" : "-12.6")) ta->bad++;
        rg_answer_free(a);
    }
    return NULL;
}

static void test_threads(void) {
    rg_table *t = make_table(4, 4, SALES);
    pthread_t th[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) { args[i].t = t; args[i].bad = 0; pthread_create(&th[i], NULL, thr_main, &args[i]); }
    for (int i = 0; i < 4; i++) { pthread_join(th[i], NULL); CHECK_INT(args[i].bad, 0); }
    rg_table_free(t);
}

int main(void) {
    RUN(test_change_and_paraphrases);
    RUN(test_operations);
    RUN(test_signs_sections_percents);
    RUN(test_years_down_the_side);
    RUN(test_none_and_text);
    RUN(test_json);
    RUN(test_hostile_input);
    RUN(test_uncovered_years);
    RUN(test_wh_spans);
    RUN(test_sum_of_all);
    RUN(test_averages_units_rates);
    RUN(test_span_links_and_intros);
    RUN(test_own_total_column);
    RUN(test_share_units);
    RUN(test_label_footnotes);
    RUN(test_thresholds_need_comparison);
    RUN(test_respective_headers);
    RUN(test_rate_columns);
    RUN(test_threads);
    TESTS_DONE();
}
