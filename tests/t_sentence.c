/* Tests for ingest/sentence: abbreviations, initials, acronyms, decimals, quotes, blank
 * lines, invalid UTF-8 and long input. */
#include "check.h"
#include "ingest/sentence.h"
#include "core/util.h"

/* Sentences joined with " | " for comparison. */
static char *split(const char *text) {
    rg_span *s = NULL;
    int n = rg_sentences(text, strlen(text), &s);
    rg_buf b = {0};
    for (int i = 0; i < n; i++) {
        if (i) rg_buf_puts(&b, " | ");
        rg_buf_put(&b, text + s[i].start, s[i].len);
    }
    free(s);
    return b.len ? rg_buf_take(&b) : xstrdup("");
}

#define SPLITS(text, want) do { char *got_ = split(text); CHECK_STR(got_, want); free(got_); } while (0)

static void test_basic(void) {
    SPLITS("Revenue rose. Costs fell! Why? Demand.", "Revenue rose. | Costs fell! | Why? | Demand.");
    SPLITS("  One sentence without an end  ", "One sentence without an end");
    SPLITS("", "");
    SPLITS("   \n\n  ", "");
    SPLITS("Sales grew 12%. 2019 was strong.", "Sales grew 12%. | 2019 was strong.");
    SPLITS("He said \"We grew.\" Then he left.", "He said \"We grew.\" | Then he left.");
    SPLITS("It rose (see Note 3.) Margins fell.", "It rose (see Note 3.) | Margins fell.");
    SPLITS("Wait... What happened?", "Wait... | What happened?");
    SPLITS("lower case after a period. stays together", "lower case after a period. stays together");
}

static void test_not_ends(void) {
    SPLITS("Northwind Robotics Inc. Reported revenue of $1,452.4 million.",
           "Northwind Robotics Inc. Reported revenue of $1,452.4 million.");
    SPLITS("Sales in the U.S. Grew 8%. Europe fell.", "Sales in the U.S. Grew 8%. | Europe fell.");
    SPLITS("See Note No. 3 for details. It is short.", "See Note No. 3 for details. | It is short.");
    SPLITS("Costs, e.g. Freight, rose. Prices too.", "Costs, e.g. Freight, rose. | Prices too.");
    SPLITS("The margin was 44.1 percent. It improved.", "The margin was 44.1 percent. | It improved.");
    SPLITS("CEO J. Smith joined. Dr. Patel left.", "CEO J. Smith joined. | Dr. Patel left.");
    SPLITS("Due on Dec. 31, 2019. Paid.", "Due on Dec. 31, 2019. | Paid.");
    SPLITS("Blue Harbor Foods Co. Ltd. And Corvid Corp. Merged.", "Blue Harbor Foods Co. Ltd. And Corvid Corp. Merged.");
    SPLITS("It was 3 p.m. Then it closed.", "It was 3 p.m. Then it closed.");
}

static void test_blank_lines(void) {
    SPLITS("Heading without a period\n\nFirst paragraph. Second sentence", "Heading without a period | First paragraph. | Second sentence");
    SPLITS("line one\nline two", "line one\nline two");
    SPLITS("a\n  \t\nb", "a | b");
}

static void test_hostile(void) {
    SPLITS("Caf\xe9 closed. Then \xff opened.", "Caf\xe9 closed. Then \xff opened.");   /* invalid UTF-8: not split, no crash */
    SPLITS("\xE2\x80\x9CQuoted.\xE2\x80\x9D Next one.", "\xE2\x80\x9CQuoted.\xE2\x80\x9D | Next one.");
    /* long input: linear, every sentence found */
    rg_buf b = {0};
    for (int i = 0; i < 20000; i++) rg_buf_printf(&b, "Sentence %d is here. ", i);
    rg_span *s = NULL;
    double t0 = rg_now();
    int n = rg_sentences(b.data, b.len, &s);
    double dt = rg_now() - t0;
    CHECK_INT(n, 20000);
    CHECKF(dt < 2.0, "%.2fs for %zu bytes", dt, b.len);
    if (n == 20000) CHECK(strncmp(b.data + s[19999].start, "Sentence 19999 is here.", s[19999].len) == 0);
    free(s);
    rg_buf_free(&b);
    /* a very long run of periods and abbreviations */
    char dots[5000];
    memset(dots, '.', sizeof dots - 1);
    dots[sizeof dots - 1] = 0;
    s = NULL;
    n = rg_sentences(dots, strlen(dots), &s);
    CHECK_INT(n, 1);
    free(s);
}

int main(void) {
    RUN(test_basic);
    RUN(test_not_ends);
    RUN(test_blank_lines);
    RUN(test_hostile);
    TESTS_DONE();
}
