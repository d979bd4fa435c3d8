/* generate/tatqa_metric: the official TAT-QA evaluation (Zhu et al. 2021), reimplemented.
 * An answer (one string, or several for multi-span) and its scale are turned into one
 * comparison string: numbers are parsed ("(12.6)" is -12.6, "12%" is 0.12, "$3.0 million" is
 * 3e6), rounded to 2 decimals and multiplied by the scale; other text gets the scale word
 * appended; multi-span answers are sorted and joined. EM compares the normalised strings
 * (lower case, punctuation and articles removed); F1 is DROP's bag-of-tokens F1 with number
 * matching; when either side has several spans they are aligned span by span (the spec).
 * For arithmetic and count questions F1 = EM. A prediction with no scale that is a bare number also counts in its unscaled form. */
#ifndef RAGD_GENERATE_TATQA_METRIC_H
#define RAGD_GENERATE_TATQA_METRIC_H
#include <stdio.h>

typedef struct { double em, f1; } rg_tatqa_score;

/* gold_type: "span", "multi-span", "arithmetic", "count". Strings are UTF-8. An empty
 * prediction (npred == 0 or one empty string) scores 0. */
rg_tatqa_score rg_tatqa_score_answer(const char *gold_type, const char *const *gold, int ngold,
                                     const char *gold_scale, const char *const *pred, int npred,
                                     const char *pred_scale);

/* The pieces, for tests and for `ragd eval`. All returned strings are malloc'd. */
char *rg_tatqa_normalize(const char *text);               /* _normalize_answer */
int rg_tatqa_is_number(const char *text);
int rg_tatqa_to_number(const char *text, double *out);    /* 0 when no number */
char *rg_tatqa_answer_str(const char *const *ans, int n, const char *scale);
/* DROP F1 of two lists of spans, optimally aligned (mean over the longer list, 2 decimals). */
double rg_tatqa_f1_lists(const char *const *pred, int npred, const char *const *gold, int ngold);
/* Python's str() of a float ("-12.6", "13989.0"), for turning JSON gold numbers into strings. */
void rg_tatqa_py_float_str(double v, char *buf, size_t cap);

/* Accumulates scores by answer type x answer source and prints the table `ragd eval` shows. */
typedef struct {
    double em[5][4], f1[5][4];   /* [span, multi-span, arithmetic, count, all][table, text, table-text, all] */
    int n[5][4];
} rg_tatqa_tally;
void rg_tatqa_tally_add(rg_tatqa_tally *t, const char *type, const char *source, rg_tatqa_score s);
void rg_tatqa_tally_print(const rg_tatqa_tally *t, FILE *out);
#endif
