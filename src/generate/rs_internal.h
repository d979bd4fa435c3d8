/* generate/rs_internal: shared pieces of the reasoner (not a public API).
 * rs_text.c      words, stems, stop words, years in text, scale phrases
 * rs_table.c     a table's layout: header rows, row labels and sections, column headers, years,
 *                the scale (stated, or inferred from figures the text quotes)
 * rs_question.c  what the question asks (operation, years, comparison, threshold)
 * rs_span.c      answers from paragraph text
 * reasoner.c     matching lines and periods, writing and running programs (dsl.c, decimal.c),
 *                choosing between table and text, the answer object (rs_answer.c: free, JSON) */
#ifndef RAGD_GENERATE_RS_INTERNAL_H
#define RAGD_GENERATE_RS_INTERNAL_H
#include "generate/reasoner.h"
#include "generate/decimal.h"

#define RS_MAXW 256

/* A word of text: lower-cased surface form and its stem. */
typedef struct { char w[48]; char stem[48]; int year; int start, end; } rs_word;
typedef struct { rs_word *v; int n; } rs_words;

void rs_tokenize(const char *text, rs_words *out, int max);
void rs_words_free(rs_words *w);
int rs_stopword(const char *stem);            /* question filler: what, the, company ... */
int rs_year_of(const char *word);             /* 2019, fy19, fy2019 -> year; else 0 */
/* Scale named by a phrase in text ("in thousands", "$'000", "€m"); "" when none. */
void rs_scale_in_text(const char *text, char scale[12], int header_cell);

/* Table layout */
typedef struct {
    const rg_table *t;
    int hr;                 /* header rows */
    int hc;                 /* label columns (0 or 1+) */
    char **rowlab;          /* per row: label text */
    int *section;           /* per row: index of its section row, -1 none */
    int *is_section;        /* row has a label and no values */
    char **colhead;         /* per column: header text */
    int *col_year, *row_year;
    rs_words *rw, *cw;      /* words of row labels (with section) and column headers */
    rg_dec *val; unsigned char *isnum, *ispct;
    int years_on_cols, years_on_rows;
    char scale[12];
} rs_table;

int rs_table_build(rs_table *tb, const rg_table *t, const char *context_text);
void rs_table_free(rs_table *tb);
static inline int rs_cell_ok(const rs_table *tb, int r, int c) {
    return r >= 0 && c >= 0 && r < tb->t->nrows && c < tb->t->ncols && tb->isnum[r * tb->t->ncols + c];
}
const char *rs_cell_raw(const rs_table *tb, int r, int c);

/* Question analysis */
typedef enum {
    Q_LOOKUP, Q_CHANGE, Q_PCT_CHANGE, Q_AVG, Q_SUM, Q_RATIO, Q_PROPORTION, Q_COUNT,
    Q_WHICH_YEAR, Q_YEARS_LIST, Q_ITEMS, Q_TEXT, Q_WHICH_ENT
} rs_op;
typedef struct {
    rs_op op;
    int years[8], nyears;        /* in order of mention */
    int cmp;                     /* +1 higher/more/exceed, -1 lower/less, 0 none */
    int has_threshold; rg_dec threshold; char thr_scale[12];
    int respective;              /* "respectively", "respective" */
    int year_range;              /* "2017-2019", "2019 to 2017" */
    int diff_word;               /* "difference" without change/increase/decrease */
    int count_lines;             /* "how many segments/quarters/..." (not years) */
    int yesno;                   /* "Did/Is/Were ...?": the settling sentence is the answer */
    int sum_by_total;            /* Q_SUM only because "total" and several years */
    int wants_pct;               /* "percentage", "%" in the question */
    int absolute;                /* "absolute change": of percentages, in percentage points */
    int avg_then_change;         /* "change in the average X": averages first, then their change;
                                  * 2: "average" twice, the averages of two things */
    int starts_how, starts_why, how_much;
    int tables_lack_year;        /* set by rg_reason: the tables have year periods, none asked */
    rs_words w;                  /* all words */
    unsigned char *content;      /* per word: 1 when it names the thing asked about */
} rs_question;

void rs_question_parse(rs_question *q, const char *text);
void rs_question_free(rs_question *q);

/* Text spans */
typedef struct { char **spans; int n; double score, recall; int para; char scale[12]; int numeric; } rs_span_ans;
int rs_text_answer(const rs_question *q, const char *question, const rg_evidence *ev, rs_span_ans *out);
void rs_span_ans_free(rs_span_ans *a);

/* Tables seen as entity lines (rows, or columns when years run down the side) and periods. */
typedef struct {
    rs_table tb;
    int tr;             /* transposed: entities are columns, periods are rows */
    const char *doc;
    long long chunk;
} tview;

static inline int nlines(const tview *v) { return v->tr ? v->tb.t->ncols : v->tb.t->nrows; }
static inline int nper(const tview *v) { return v->tr ? v->tb.t->nrows : v->tb.t->ncols; }
static inline void rc_of(const tview *v, int line, int per, int *r, int *c) {
    if (v->tr) { *r = per; *c = line; } else { *r = line; *c = per; }
}
static inline int cell_num(const tview *v, int line, int per) {
    int r, c;
    rc_of(v, line, per, &r, &c);
    return rs_cell_ok(&v->tb, r, c);
}
static inline int per_year(const tview *v, int per) { return v->tr ? v->tb.row_year[per] : v->tb.col_year[per]; }
static inline int line_ok(const tview *v, int line) {
    if (v->tr) return line >= v->tb.hc;
    return line >= v->tb.hr && !v->tb.is_section[line];
}
static inline int per_ok(const tview *v, int per) { return v->tr ? per >= v->tb.hr : per >= v->tb.hc; }
static inline const rs_words *line_words(const tview *v, int line) { return v->tr ? &v->tb.cw[line] : &v->tb.rw[line]; }
static inline const rs_words *line_section(const tview *v, int line) {
    if (v->tr || v->tb.section[line] < 0) return NULL;
    return &v->tb.rw[v->tb.section[line]];
}
static inline const char *line_label(const tview *v, int line) { return v->tr ? v->tb.colhead[line] : v->tb.rowlab[line]; }

/* rs_match.c: finding the lines and periods a question names */
double rs_word_weight(const char *stem);
int rs_stems_meet(const char *a, const char *b);
int rs_label_word(const rs_word *w);
int rs_q_word_counts(const rs_question *q, int i);
double rs_match_label(const rs_question *q, int qa, int qb, const rs_words *lab, const rs_words *sec);
int rs_line_has_value(const tview *v, int line);
double rs_line_score(const tview *v, const rs_question *q, int line, int qa, int qb);
int rs_best_line(const tview *v, const rs_question *q, int qa, int qb, int exclude, double *score);
int rs_per_for_year(const tview *v, const rs_question *q, int line, int y);
int rs_value_pers(const tview *v, int line, int *out, int max);
int rs_default_per(const tview *v, const rs_question *q, int line);
int rs_words_in_question(const rs_question *q, const rs_words *lab);
int rs_split_points(const rs_question *q, int *out, int max);
int rs_label_spans(const rs_words *lab, const rs_question *q, int i);
int rs_entity_lines(const tview *v, const rs_question *q, int single, double s1, int *ls, int max, double *score);
int rs_entity_pers(const tview *v, const rs_question *q, int line, int *ps, int max);
long rs_per_rank(const tview *v, int p);
int rs_is_total_label(const char *s);
int rs_member_lines(const tview *v, int l, int *out, int max);
int rs_named_pers(const tview *v, const rs_question *q, int line, int range, int *pers, int max);
double rs_line_recall(const tview *v, const rs_question *q, int l);
void rs_set_df(const tview *v);
void rs_clear_df(void);
#endif
