/* generate/rs_match: which lines (rows, or columns of a transposed table) and which periods a
 * question names. Words are compared by stem with a few report synonyms; a word found on many
 * lines counts less; a label wholly inside the question counts more; parts of a question split
 * at "and", "to", "than", "compared", "as a percentage of" name several things. */
#include "generate/rs_internal.h"
#include "core/util.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a split into several things must name each at least this well relative to one line */
#define MULTI_RATIO 0.6

/* ---- matching question words to labels ---- */

/* How many line labels of the current table hold each word: a word on every line ("sales")
 * tells lines apart less than a rare one. Set per table by table_answer (thread-local, so
 * concurrent questions do not meet). */
typedef struct { char stem[48]; int df; } dfent;
static _Thread_local dfent *cur_df;      /* open-addressing hash table, cur_cap slots */
static _Thread_local int cur_cap;

static unsigned hash_str(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot of stem (its own, or the empty one where it would go). */
static dfent *df_slot(const char *stem) {
    unsigned i = hash_str(stem) & (unsigned)(cur_cap - 1);
    while (cur_df[i].stem[0] && strcmp(cur_df[i].stem, stem)) i = (i + 1) & (unsigned)(cur_cap - 1);
    return &cur_df[i];
}

double rs_word_weight(const char *stem) {
    double w = (!strcmp(stem, "total") || !strcmp(stem, "net")) ? 0.5 : 1.0;
    if (cur_df && stem[0]) {
        dfent *e = df_slot(stem);
        if (e->stem[0] && e->df > 1) w /= 1.0 + 0.5 * log((double)e->df);
    }
    return w;
}

int rs_stems_meet(const char *a, const char *b) {
    if (!strcmp(a, b)) return 1;
    size_t la = strlen(a), lb = strlen(b);
    /* "amortiz" vs "amortization": a long common start */
    size_t m = la < lb ? la : lb;
    if (m >= 6 && !strncmp(a, b, m)) return 1;
    static const char *syn[][2] = {{"revenu", "sale"}, {"cost", "expens"}, {"earn", "incom"},
        {"profit", "incom"}, {"employe", "staff"}, {"headcount", "employe"}, {NULL, NULL}};
    for (int i = 0; syn[i][0]; i++)
        if ((!strcmp(a, syn[i][0]) && !strcmp(b, syn[i][1])) || (!strcmp(a, syn[i][1]) && !strcmp(b, syn[i][0]))) return 1;
    return 0;
}

/* Is word w a label word that counts for matching? */
int rs_label_word(const rs_word *w) {
    if (w->year || isdigit((unsigned char)w->w[0])) return 0;
    if (!strcmp(w->stem, "total") || !strcmp(w->stem, "net") || !strcmp(w->stem, "other")) return 1;
    return !rs_stopword(w->stem) && !rs_stopword(w->w);
}

int rs_q_word_counts(const rs_question *q, int i) {
    const rs_word *w = &q->w.v[i];
    if (q->content[i]) return 1;
    return !strcmp(w->stem, "total") || !strcmp(w->stem, "net") || !strcmp(w->stem, "other");
}

/* F1 of the overlap between question words [qa, qb) and a label's words (section words count half). */
double rs_match_label(const rs_question *q, int qa, int qb, const rs_words *lab, const rs_words *sec) {
    double lw = 0, lm = 0, qw = 0, qm = 0;
    for (int i = 0; i < lab->n; i++) {
        if (!rs_label_word(&lab->v[i])) continue;
        double w = rs_word_weight(lab->v[i].stem);
        lw += w;
        for (int k = qa; k < qb; k++)
            if (rs_q_word_counts(q, k) && rs_stems_meet(lab->v[i].stem, q->w.v[k].stem)) { lm += w; break; }
    }
    for (int k = qa; k < qb; k++) {
        if (!rs_q_word_counts(q, k)) continue;
        double w = rs_word_weight(q->w.v[k].stem);
        qw += w;
        int hit = 0;
        for (int i = 0; i < lab->n && !hit; i++)
            if (rs_label_word(&lab->v[i]) && rs_stems_meet(lab->v[i].stem, q->w.v[k].stem)) hit = 1;
        if (!hit && sec)
            for (int i = 0; i < sec->n && !hit; i++)
                if (rs_label_word(&sec->v[i]) && rs_stems_meet(sec->v[i].stem, q->w.v[k].stem)) hit = 2;
        if (hit == 1) qm += w;
        else if (hit == 2) qm += 0.5 * w;
    }
    if (lw == 0 || qw == 0 || lm == 0) return 0;
    double P = lm / lw, R = qm / qw;
    double f = 2 * P * R / (P + R);
    /* the whole label, word for word, inside the question */
    int labn = 0;
    for (int i = 0; i < lab->n; i++) if (rs_label_word(&lab->v[i])) labn++;
    if (labn >= 1 && lm == lw) {
        for (int k = qa; k < qb; k++) {
            int i = 0, kk = k, ok = 1;
            for (; i < lab->n; i++) {
                if (!rs_label_word(&lab->v[i])) continue;
                while (kk < qb && !rs_q_word_counts(q, kk)) kk++;
                if (kk >= qb || !rs_stems_meet(lab->v[i].stem, q->w.v[kk].stem)) { ok = 0; break; }
                kk++;
            }
            if (ok) { f += 0.15; break; }
        }
    }
    return f;
}

/* ---- a table seen as entity lines (rows, or columns when years run down the side) ---- */

int rs_line_has_value(const tview *v, int line) {
    for (int p = 0; p < nper(v); p++) if (per_ok(v, p) && cell_num(v, line, p)) return 1;
    return 0;
}

double rs_line_score(const tview *v, const rs_question *q, int line, int qa, int qb) {
    return rs_match_label(q, qa, qb, line_words(v, line), line_section(v, line));
}

int rs_best_line(const tview *v, const rs_question *q, int qa, int qb, int exclude, double *score) {
    int best = -1;
    double bs = 0;
    for (int l = 0; l < nlines(v); l++) {
        if (l == exclude || !line_ok(v, l) || !rs_line_has_value(v, l)) continue;
        double s = rs_line_score(v, q, l, qa, qb);
        if (s > bs + 1e-9) { bs = s; best = l; }
    }
    *score = bs;
    return best;
}

/* Period positions whose header names year y; among several, the one whose header words
 * best meet the question (e.g. "%" vs "$" columns). */
int rs_per_for_year(const tview *v, const rs_question *q, int line, int y) {
    int best = -1;
    double bs = -1;
    for (int p = 0; p < nper(v); p++) {
        if (!per_ok(v, p) || per_year(v, p) != y || !cell_num(v, line, p)) continue;
        double s = 0;
        if (!v->tr) s = rs_match_label(q, 0, q->w.n, &v->tb.cw[p], NULL);
        int r, c;
        rc_of(v, line, p, &r, &c);
        int pct = v->tb.ispct[r * v->tb.t->ncols + c] || (!v->tr && (strchr(v->tb.colhead[p], '%') || strstr(v->tb.colhead[p], "ercent")));
        if (pct && !q->wants_pct) s -= 0.3;
        if (pct && q->wants_pct && q->op != Q_PCT_CHANGE && q->op != Q_PROPORTION) s += 0.3;
        if (s > bs + 1e-9) { bs = s; best = p; }
    }
    return best;
}

/* The value periods of a line: year periods when there are any, else all numeric periods. */
int rs_value_pers(const tview *v, int line, int *out, int max) {
    int n = 0, anyyear = 0;
    for (int p = 0; p < nper(v); p++) if (per_ok(v, p) && per_year(v, p) && cell_num(v, line, p)) anyyear = 1;
    for (int p = 0; p < nper(v) && n < max; p++) {
        if (!per_ok(v, p) || !cell_num(v, line, p)) continue;
        if (anyyear && !per_year(v, p)) continue;
        /* the same year twice (e.g. "$" and "%" columns): keep the first */
        int dup = 0;
        for (int k = 0; k < n; k++) if (anyyear && per_year(v, out[k]) == per_year(v, p)) dup = 1;
        if (!dup) out[n++] = p;
    }
    return n;
}

/* Without years in the question: the period whose header best meets the question, else the first. */
/* All of a label's words, in order, as a run of the question's words. */
int rs_words_in_question(const rs_question *q, const rs_words *lab) {
    if (lab->n < 1) return 0;
    for (int i = 0; i + lab->n <= q->w.n; i++) {
        int k = 0;
        while (k < lab->n && !strcmp(q->w.v[i + k].w, lab->v[k].w)) k++;
        if (k == lab->n) return 1;
    }
    return 0;
}

int rs_default_per(const tview *v, const rs_question *q, int line) {
    int ps[64];
    int n = rs_value_pers(v, line, ps, 64);
    if (!n) return -1;
    int best = ps[0];
    double bs = 0;
    if (!v->tr)
        for (int p = v->tb.hc; p < nper(v); p++) {
            if (!cell_num(v, line, p)) continue;
            double s = rs_match_label(q, 0, q->w.n, &v->tb.cw[p], NULL);
            /* the whole header quoted in the question ("more than 5 years"), filler words too */
            if (v->tb.cw[p].n >= 2 && rs_words_in_question(q, &v->tb.cw[p])) s += 1;
            if (s > bs + 1e-9) { bs = s; best = p; }
        }
    return best;
}

/* Where another named thing starts: "and", "to", "than", "versus", "against", "over",
 * "compared" not between years, with content words on both sides. */
int rs_split_points(const rs_question *q, int *out, int max) {
    int n = 0;
    for (int i = 1; i + 1 < q->w.n && n < max; i++) {
        const char *s = q->w.v[i].w, *nx = q->w.v[i + 1].w;
        int whole = (!strcmp(s, "as") && (!strcmp(nx, "a") || !strcmp(nx, "percentage") || !strcmp(nx, "proportion"))) ||
                    !strcmp(s, "among") || !strcmp(s, "within") ||
                    ((!strcmp(s, "of") || !strcmp(s, "in")) && (!strcmp(nx, "total") || (!strcmp(nx, "the") && i + 2 < q->w.n && !strcmp(q->w.v[i + 2].w, "total"))));
        if (strcmp(s, "and") && strcmp(s, "to") && strcmp(s, "than") && strcmp(s, "versus") && strcmp(s, "vs") &&
            strcmp(s, "against") && strcmp(s, "over") && strcmp(s, "compared") && !whole)
            continue;
        if (q->w.v[i - 1].year || q->w.v[i + 1].year) continue;
        int before = 0, after = 0;
        for (int k = 0; k < i; k++) before += q->content[k];
        for (int k = i + 1; k < q->w.n; k++) after += q->content[k];
        if (before && after) out[n++] = i;
    }
    return n;
}

/* Does a label contain the question's words around position i ("cash and cash")? Then the
 * "and" there belongs to one name, not between two. */
int rs_label_spans(const rs_words *lab, const rs_question *q, int i) {
    for (int k = 1; k + 1 < lab->n; k++)
        if (!strcmp(lab->v[k].stem, q->w.v[i].stem) && rs_stems_meet(lab->v[k - 1].stem, q->w.v[i - 1].stem) &&
            rs_stems_meet(lab->v[k + 1].stem, q->w.v[i + 1].stem))
            return 1;
    return 0;
}

/* Several different lines named by parts of the question, in order of mention. Returns their
 * number (0 when the question names one thing) and the weakest part's score. */
int rs_entity_lines(const tview *v, const rs_question *q, int single, double s1, int *ls, int max, double *score) {
    int sp[16], ns = rs_split_points(q, sp, 16);
    int keep[16], nk = 0;
    for (int i = 0; i < ns; i++)
        if (single < 0 || !rs_label_spans(line_words(v, single), q, sp[i])) keep[nk++] = sp[i];
    *score = 0;
    if (!nk) return 0;
    /* every split at once: segments between the split words */
    int n = 0;
    double mn = 1e9;
    int lo = 0;
    for (int i = 0; i <= nk && n < max; i++) {
        int hi = i < nk ? keep[i] : q->w.n;
        double sc;
        int l = -1;
        /* best line for [lo, hi) not already taken */
        double bs = 0;
        for (int c = 0; c < nlines(v); c++) {
            if (!line_ok(v, c) || !rs_line_has_value(v, c)) continue;
            int taken = 0;
            for (int k = 0; k < n; k++) if (ls[k] == c) taken = 1;
            if (taken) continue;
            double x = rs_line_score(v, q, c, lo, hi);
            if (x > bs + 1e-9) { bs = x; l = c; }
        }
        sc = bs;
        if (l < 0 || sc < 0.4) { n = 0; break; }
        ls[n++] = l;
        if (sc < mn) mn = sc;
        lo = hi + 1;
    }
    if (n < 2) return 0;
    /* one line that names everything beats a split into parts that name less */
    if (mn < 0.5 || mn < s1 * MULTI_RATIO) return 0;
    *score = mn;
    return n;
}

/* Two or more periods (columns, or rows of a transposed table) named by parts of the question
 * through their headers: "between the domestic and international rates", "quarters ended
 * January 26 and April 27". Returns their number, in order of mention, or 0. */
int rs_entity_pers(const tview *v, const rs_question *q, int line, int *ps, int max) {
    int sp[16], ns = rs_split_points(q, sp, 16);
    if (!ns || line < 0) return 0;
    int n = 0, lo = 0;
    for (int i = 0; i <= ns && n < max; i++) {
        int hi = i < ns ? sp[i] : q->w.n;
        int bp = -1;
        double bs = 0;
        for (int p = 0; p < nper(v); p++) {
            if (!per_ok(v, p) || !cell_num(v, line, p)) continue;
            int taken = 0;
            for (int k = 0; k < n; k++) if (ps[k] == p) taken = 1;
            if (taken) continue;
            const rs_words *pw = v->tr ? &v->tb.rw[p] : &v->tb.cw[p];
            double x = rs_match_label(q, lo, hi, pw, NULL);
            /* a year in this part of the question that the header names */
            for (int k = lo; k < hi; k++) if (q->w.v[k].year && q->w.v[k].year == per_year(v, p)) x += 0.2;
            if (x > bs + 1e-9) { bs = x; bp = p; }
        }
        if (bp < 0 || bs < 0.45) return 0;
        ps[n++] = bp;
        lo = hi + 1;
    }
    return n >= 2 ? n : 0;
}

/* Where a period header falls in time: months and days, or quarters, within its year; -1 when
 * the header names neither (then the order in the question decides). */
long rs_per_rank(const tview *v, int p) {
    const rs_words *pw = v->tr ? &v->tb.rw[p] : &v->tb.cw[p];
    static const char *months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
    static const char *quarters[] = {"first", "second", "third", "fourth"};
    int month = 0, day = 0, quarter = 0, year = per_year(v, p);
    for (int i = 0; i < pw->n; i++) {
        const char *w = pw->v[i].w;
        for (int m = 0; m < 12; m++) if (!strncmp(w, months[m], 3) && !month) month = m + 1;
        for (int k = 0; k < 4; k++) if (!strcmp(w, quarters[k])) quarter = k + 1;
        if (w[0] == 'q' && w[1] >= '1' && w[1] <= '4' && (!w[2] || isdigit((unsigned char)w[2]))) quarter = w[1] - '0';
        if (isdigit((unsigned char)w[0]) && strlen(w) <= 2 && month && !day) day = atoi(w);
    }
    if (!month && !quarter) return -1;
    return (long)year * 10000 + (month ? month * 100 + day : quarter * 300);
}

int rs_is_total_label(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    return !strncasecmp(s, "total", 5);
}

/* The lines that make up line l: the rows under a section row, or the rows above a total row. */
int rs_member_lines(const tview *v, int l, int *out, int max) {
    int n = 0;
    if (v->tr) return 0;
    const rs_table *tb = &v->tb;
    int R = tb->t->nrows;
    if (tb->is_section[l]) {
        for (int r = l + 1; r < R && n < max; r++) {
            if (tb->is_section[r]) break;
            if (tb->section[r] != l) break;
            if (rs_is_total_label(tb->rowlab[r])) break;
            if (tb->rowlab[r][0]) out[n++] = r;
        }
        return n;
    }
    /* rows above, back to a section row, header or another total */
    int start = l - 1;
    while (start >= tb->hr && !tb->is_section[start] && !rs_is_total_label(tb->rowlab[start])) start--;
    for (int r = start + 1; r < l && n < max; r++) if (tb->rowlab[r][0]) out[n++] = r;
    return n;
}

/* Years the question names, widened to every year in between for a range ("2017-2019",
 * "from 2017 to 2019") when the operation spans periods. */
int rs_named_pers(const tview *v, const rs_question *q, int line, int range, int *pers, int max) {
    int np = 0;
    for (int i = 0; i < q->nyears && np < max; i++) {
        int p = rs_per_for_year(v, q, line, q->years[i]);
        if (p >= 0) pers[np++] = p;
    }
    if ((range || q->year_range) && q->nyears == 2 && np == 2) {
        int lo = q->years[0] < q->years[1] ? q->years[0] : q->years[1];
        int hi = q->years[0] < q->years[1] ? q->years[1] : q->years[0];
        int all[64], n = rs_value_pers(v, line, all, 64);
        np = 0;
        for (int i = 0; i < n && np < max; i++)
            if (per_year(v, all[i]) >= lo && per_year(v, all[i]) <= hi) pers[np++] = all[i];
    }
    return np;
}

/* Share of the question's content words found in a line's label, its section or the headers. */
double rs_line_recall(const tview *v, const rs_question *q, int l) {
    int n = 0, hit = 0;
    const rs_words *lw = line_words(v, l), *sw = line_section(v, l);
    for (int k = 0; k < q->w.n; k++) {
        if (!q->content[k]) continue;
        n++;
        int h = 0;
        for (int i = 0; i < lw->n && !h; i++) if (rs_stems_meet(lw->v[i].stem, q->w.v[k].stem)) h = 1;
        for (int i = 0; sw && i < sw->n && !h; i++) if (rs_stems_meet(sw->v[i].stem, q->w.v[k].stem)) h = 1;
        for (int p = 0; p < nper(v) && !h; p++) {
            const rs_words *pw = v->tr ? &v->tb.rw[p] : &v->tb.cw[p];
            for (int i = 0; i < pw->n && !h; i++) if (rs_stems_meet(pw->v[i].stem, q->w.v[k].stem)) h = 1;
        }
        hit += h;
    }
    return n ? (double)hit / n : 0;
}

void rs_set_df(const tview *v) {
    rs_clear_df();
    long words = 0;
    for (int l = 0; l < nlines(v); l++) if (line_ok(v, l)) words += line_words(v, l)->n;
    cur_cap = 64;
    while (cur_cap < 2 * words + 2 && cur_cap < (1 << 16)) cur_cap *= 2;   /* at most 64k slots (3 MiB) */
    cur_df = xcalloc((size_t)cur_cap, sizeof *cur_df);
    long used = 0;
    for (int l = 0; l < nlines(v); l++) {
        if (!line_ok(v, l)) continue;
        const rs_words *w = line_words(v, l);
        for (int i = 0; i < w->n; i++) {
            int seen = 0;
            for (int k = 0; k < i && !seen; k++) if (!strcmp(w->v[k].stem, w->v[i].stem)) seen = 1;
            if (seen || !w->v[i].stem[0]) continue;
            dfent *e = df_slot(w->v[i].stem);
            if (e->stem[0]) { e->df++; continue; }
            if (2 * (used + 1) > cur_cap) continue;   /* table full: leave the word unweighted */
            snprintf(e->stem, sizeof e->stem, "%s", w->v[i].stem);
            e->df = 1;
            used++;
        }
    }
}

void rs_clear_df(void) { free(cur_df); cur_df = NULL; cur_cap = 0; }

