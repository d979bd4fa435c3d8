/* generate/reasoner: rg_reason (see reasoner.h). The question is analysed (rs_question.c), each
 * table laid out (rs_table.c); the rows (or, for tables with years down the side, the columns)
 * that the question names are found by word overlap, the periods by their years; a DSL program
 * is written for the operation and run exactly (dsl.c); spans come from cells or, when the
 * tables do not answer, from paragraph text (rs_span.c). */
#include "generate/reasoner.h"
#include "generate/rs_internal.h"
#include "generate/dsl.h"
#include "core/util.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXCELLS 64
#ifndef TEXT_MARGIN
#define TEXT_MARGIN 0.15
#endif

/* ---- the answer under construction ---- */

static rg_answer *answer_new(void) {
    rg_answer *a = xcalloc(1, sizeof *a);
    snprintf(a->type, sizeof a->type, "none");
    a->derivation = xstrdup("");
    a->program = xstrdup("");
    return a;
}

static void answer_clear(rg_answer *a) {
    for (int i = 0; i < a->nanswers; i++) free(a->answers[i]);
    free(a->answers);
    for (int i = 0; i < a->ncites; i++) free(a->cites[i].doc_id);
    free(a->cites);
    free(a->derivation); free(a->program);
    memset(a, 0, sizeof *a);
    snprintf(a->type, sizeof a->type, "none");
    a->derivation = xstrdup("");
    a->program = xstrdup("");
}

static void add_answer(rg_answer *a, const char *s) {
    a->answers = xrealloc(a->answers, (size_t)(a->nanswers + 1) * sizeof *a->answers);
    a->answers[a->nanswers++] = xstrdup(s);
}

/* Ends a count program "count(r1c2, ...)" of k cells: the answer is k. */
static void count_answer(rg_answer *a, rg_buf *pb, int k) {
    rg_buf_putc(pb, ')');
    char b[16];
    snprintf(b, sizeof b, "%d", k);
    add_answer(a, b);
    snprintf(a->type, sizeof a->type, "count");
    free(a->program);
    a->program = rg_buf_take(pb);
}

static void add_cite(rg_answer *a, const char *doc, long long chunk, int r, int c) {
    for (int i = 0; i < a->ncites; i++)
        if (a->cites[i].row == r && a->cites[i].col == c && a->cites[i].chunk_id == chunk) return;
    a->cites = xrealloc(a->cites, (size_t)(a->ncites + 1) * sizeof *a->cites);
    a->cites[a->ncites++] = (rg_citation){xstrdup(doc ? doc : ""), chunk, r, c};
}

/* ---- answers from a table ---- */

/* w in s as a word of its own, or the start of one ("ratio" in "ratios", not in "operations") */
static int has_word(const char *s, const char *w) {
    for (const char *h = strstr(s, w); h; h = strstr(h + 1, w))
        if (h == s || !isalpha((unsigned char)h[-1])) return 1;
    return 0;
}

static const char *label_scale(const tview *v, int line, int r, int c) {
    if (v->tb.ispct[r * v->tb.t->ncols + c]) return "percent";
    const char *lab = line_label(v, line);
    const char *sec = (!v->tr && v->tb.section[line] >= 0) ? v->tb.rowlab[v->tb.section[line]] : "";
    char low[512];
    snprintf(low, sizeof low, "%s %s", lab, sec);
    for (char *p = low; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (strstr(low, "%") || strstr(low, "percent")) return "percent";
    /* a unit the line or the cell's own column states: "Number of shares (1,000)", "(Shares in thousands)" */
    {
        char sc[12] = "";
        rs_scale_in_text(lab, sc, 0);
        if (!sc[0] && strstr(low, "(1,000)")) snprintf(sc, sizeof sc, "thousand");
        /* counts of shares under a header "(Shares in thousands)"; not "(in millions, except per share)" */
        if (!sc[0] && !v->tr && strstr(low, "number of") && !strstr(low, " per ") && !strstr(low, "price") &&
            !strcasestr(v->tb.colhead[c], "except"))
            rs_scale_in_text(v->tb.colhead[c], sc, 1);
        if (!strcmp(sc, "thousand")) return "thousand";
        if (!strcmp(sc, "million")) return "million";
        if (!strcmp(sc, "billion")) return "billion";
    }
    if ((strstr(low, " per ") && strstr(low, "share")) || strstr(low, "per unit") || has_word(low, "ratio") || strstr(low, "number of") ||
        has_word(low, "days") ||
        (strstr(low, "price") && (strstr(low, "share") || strstr(low, "stock") || strstr(low, "exercise") || strstr(low, "unit"))) || strstr(low, "per ordinary share") || has_word(low, "eps"))
        return "";
    if (!v->tr) {
        const char *h = v->tb.colhead[c];
        if (strchr(h, '%')) return "percent";
        /* a column of per-share amounts: "Cash dividend per share (NT dollars)" */
        if (strcasestr(h, " per share") && !strcasestr(h, "except")) return "";
        /* a table without a unit whose column opens with a percentage ("Statutory rate 21.0%",
         * then the reconciling items as bare figures): the column is in percent */
        if (!v->tb.scale[0] && !strchr(rs_cell_raw(&v->tb, r, c), '$') && !strstr(low, "year") && !strstr(low, "term") &&
            !strstr(low, "life") && !strstr(low, "value") && !strstr(low, "price") && !strstr(low, "month")) {
            for (int rr = v->tb.hr; rr < v->tb.t->nrows; rr++) {
                if (!rs_cell_ok(&v->tb, rr, c)) continue;
                if (v->tb.ispct[rr * v->tb.t->ncols + c]) return "percent";
                break;
            }
        }
    }
    return v->tb.scale;
}


typedef struct { int r, c; } cref;

/* Runs a program and fills the answer as arithmetic. */
static int emit_program(rg_answer *a, const tview *v, const char *prog, const cref *cells, int ncells,
                        const char *scale, const char *type) {
    rg_dec val;
    char *der = NULL;
    if (rg_dsl_run(prog, v->tb.t, &val, &der) < 0) return 0;
    char buf[80];
    if (rg_dec_format(val, 2, buf, sizeof buf) < 0) { free(der); return 0; }
    answer_clear(a);
    add_answer(a, buf);
    snprintf(a->type, sizeof a->type, "%s", type);
    snprintf(a->scale, sizeof a->scale, "%s", scale);
    free(a->derivation); a->derivation = der;
    free(a->program); a->program = xstrdup(prog);
    for (int i = 0; i < ncells; i++) add_cite(a, v->doc, v->chunk, cells[i].r, cells[i].c);
    return 1;
}

static void emit_cells(rg_answer *a, const tview *v, const cref *cells, int n, const char *scale) {
    answer_clear(a);
    rg_buf prog = {0};
    rg_buf_puts(&prog, "span(");
    for (int i = 0; i < n; i++) {
        add_answer(a, rs_cell_raw(&v->tb, cells[i].r, cells[i].c));
        add_cite(a, v->doc, v->chunk, cells[i].r, cells[i].c);
        rg_buf_printf(&prog, "%sr%dc%d", i ? ", " : "", cells[i].r, cells[i].c);
    }
    rg_buf_putc(&prog, ')');
    free(a->program); a->program = rg_buf_take(&prog);
    snprintf(a->type, sizeof a->type, "%s", n > 1 ? "multi-span" : "span");
    snprintf(a->scale, sizeof a->scale, "%s", scale);
}

static void emit_texts(rg_answer *a, char **texts, int n, const char *type) {
    answer_clear(a);
    for (int i = 0; i < n; i++) add_answer(a, texts[i]);
    snprintf(a->type, sizeof a->type, "%s", type ? type : (n > 1 ? "multi-span" : "span"));
}

static int cmp_holds(rg_dec v, const rs_question *q, rg_dec thr) {
    int c = rg_dec_cmp(v, thr);
    return q->cmp >= 0 ? c > 0 : c < 0;
}

/* Threshold in the table's units. */
static rg_dec threshold_in(const tview *v, const rs_question *q) {
    rg_dec t = q->threshold;
    static const char *sc[] = {"thousand", "million", "billion"};
    int qi = -1, ti = -1;
    for (int i = 0; i < 3; i++) {
        if (!strcmp(q->thr_scale, sc[i])) qi = i;
        if (!strcmp(v->tb.scale, sc[i])) ti = i;
    }
    if (qi >= 0 && ti >= 0 && qi != ti) {
        for (int k = qi; k < ti; k++) t = rg_dec_div(t, rg_dec_int(1000));
        for (int k = ti; k < qi; k++) t = rg_dec_mul(t, rg_dec_int(1000));
    }
    return t;
}

static void year_str(char *buf, size_t cap, const tview *v, int per) {
    snprintf(buf, cap, "%d", per_year(v, per));
}

static int line_is_pct(const tview *v, int line, int per) {
    int r, c;
    rc_of(v, line, per, &r, &c);
    if (rs_cell_ok(&v->tb, r, c) && v->tb.ispct[r * v->tb.t->ncols + c]) return 1;
    return !strcmp(label_scale(v, line, r, c), "percent");
}

static int label_says_average(const tview *v, int line) {
    char low[256];
    snprintf(low, sizeof low, "%s", line_label(v, line));
    for (char *p = low; *p; p++) *p = (char)tolower((unsigned char)*p);
    return strstr(low, "average") || strstr(low, "mean");
}

/* "change between 2018 and 2019 average X": each year's average is of it and the year before
 * (opening and closing balances), so the later average less the earlier one; "difference between
 * (2019) average A and average B": the average of each line over the same periods, A less B. */
static int avg_change(rg_answer *a, const tview *v, const rs_question *q, const int *lines, int nl,
                      const int *pers, int np) {
    cref cells[16];
    int nc = 0, r, c;
    rg_buf pb = {0};
    for (int i = 0; i < nl; i++) if (label_says_average(v, lines[i])) return 0;
    if (nl >= 2) {
        int ps[8], n = 0;
        if (np >= 2) for (int i = 0; i < np && n < 8; i++) ps[n++] = pers[i];
        else if (np == 1) {
            ps[n++] = pers[0];
            int all[64], m = rs_value_pers(v, lines[0], all, 64);
            for (int i = 0; i < m; i++) if (per_year(v, all[i]) && per_year(v, all[i]) == per_year(v, pers[0]) - 1) ps[n++] = all[i];
        } else {
            int all[64], m = rs_value_pers(v, lines[0], all, 64);
            for (int i = 0; i < m && n < 8; i++) ps[n++] = all[i];
        }
        if (n < 2) return 0;
        for (int li = 0; li < 2; li++) {
            rg_buf_puts(&pb, li ? ", table_average(" : "table_average(");
            for (int i = 0; i < n; i++) {
                rc_of(v, lines[li], ps[i], &r, &c);
                if (!rs_cell_ok(&v->tb, r, c)) { rg_buf_free(&pb); return 0; }
                cells[nc++] = (cref){r, c};
                rg_buf_printf(&pb, "%sr%dc%d", i ? ", " : "", r, c);
            }
            rg_buf_putc(&pb, ')');
        }
    } else {
        /* the latest year named (else in the table) and the two before it */
        int hi = 0;
        for (int i = 0; i < q->nyears; i++) if (q->years[i] > hi) hi = q->years[i];
        if (!hi) {
            int all[64], m = rs_value_pers(v, lines[0], all, 64);
            for (int i = 0; i < m; i++) if (per_year(v, all[i]) > hi) hi = per_year(v, all[i]);
        }
        if (!hi) return 0;
        int p[3];
        for (int k = 0; k < 3; k++) {
            p[k] = rs_per_for_year(v, q, lines[0], hi - k);
            if (p[k] < 0) return 0;
            rc_of(v, lines[0], p[k], &r, &c);
            cells[nc++] = (cref){r, c};
        }
        rg_buf_printf(&pb, "table_average(r%dc%d, r%dc%d), table_average(r%dc%d, r%dc%d)",
                      cells[0].r, cells[0].c, cells[1].r, cells[1].c, cells[1].r, cells[1].c, cells[2].r, cells[2].c);
    }
    rg_buf_puts(&pb, ", subtract(#0, #1)");
    char *pg = rg_buf_take(&pb);
    int ok = emit_program(a, v, pg, cells, nc, label_scale(v, lines[0], cells[0].r, cells[0].c), "arithmetic");
    free(pg);
    return ok;
}

/* A line's name as an answer: without a footnote number glued to its last word
 * ("Incentive schemes1" -> "Incentive schemes"); "Level 2", "Tier 1" keep theirs. */
static char *label_text(const char *lab) {
    char *s = xstrdup(lab);
    size_t n = strlen(s), d = n;
    while (d > 0 && isdigit((unsigned char)s[d - 1])) d--;
    if (d < n && n - d <= 2 && d >= 2 && islower((unsigned char)s[d - 1]) && islower((unsigned char)s[d - 2])) s[d] = 0;
    return s;
}

/* A program over a list of cells: "table_sum(r1c2, r3c2)" etc. */
static int emit_list(rg_answer *a, const tview *v, const char *fn, const cref *cells, int n, const char *scale) {
    rg_buf pb = {0};
    rg_buf_printf(&pb, "%s(", fn);
    for (int i = 0; i < n; i++) rg_buf_printf(&pb, "%sr%dc%d", i ? ", " : "", cells[i].r, cells[i].c);
    rg_buf_putc(&pb, ')');
    char *pg = rg_buf_take(&pb);
    int ok = emit_program(a, v, pg, cells, n, scale, "arithmetic");
    free(pg);
    return ok;
}

/* "The total operating profit of both segments in 2019": the lines that share the words the
 * question asks about (those of the best line that the question names), summed in the period
 * asked. Only for "total/combined/sum ... all/both/each <noun>" where the noun is not a period
 * ("both years" sums periods, elsewhere) and the best line is not itself a total. */
static double sum_of_all(const tview *v, const rs_question *q, int l1, double s1, rg_answer *a) {
    int tot = 0, quant = -1;
    for (int i = 0; i < q->w.n; i++) {
        const char *w = q->w.v[i].w;
        if (!strcmp(w, "total") || !strcmp(w, "combined") || !strcmp(w, "sum") || !strcmp(w, "aggregate")) tot = 1;
        if (quant < 0 && (!strcmp(w, "both") || !strcmp(w, "all"))) quant = i;
    }
    if (!tot || quant < 0 || rs_is_total_label(line_label(v, l1))) return 0;
    /* the noun quantified: "both segments", "all of the segments" */
    int ni = quant + 1;
    while (ni < q->w.n && (!strcmp(q->w.v[ni].w, "of") || !strcmp(q->w.v[ni].w, "the") || !strcmp(q->w.v[ni].w, "its") ||
                           !strcmp(q->w.v[ni].w, "our") || !strcmp(q->w.v[ni].w, "their") || !strcmp(q->w.v[ni].w, "these") ||
                           !strcmp(q->w.v[ni].w, "two") || !strcmp(q->w.v[ni].w, "three") || !strcmp(q->w.v[ni].w, "four") ||
                           (isdigit((unsigned char)q->w.v[ni].w[0]) && !q->w.v[ni].year)))
        ni++;
    if (ni >= q->w.n) return 0;
    static const char *periods[] = {"year", "period", "quarter", "month", "half", "fiscal", "fy", "date", NULL};
    for (int i = 0; periods[i]; i++) if (!strncmp(q->w.v[ni].stem, periods[i], strlen(periods[i]))) return 0;
    if (q->w.v[ni].year) return 0;
    /* the words shared: question content words in the best line's label */
    const rs_words *lw = line_words(v, l1);
    char xs[8][48];
    int nx = 0;
    for (int i = 0; i < q->w.n && nx < 8; i++) {
        if (!q->content[i] || i == ni) continue;
        for (int k = 0; k < lw->n; k++)
            if (!strcmp(lw->v[k].stem, q->w.v[i].stem)) { snprintf(xs[nx++], sizeof xs[0], "%s", q->w.v[i].stem); break; }
    }
    if (!nx) return 0;
    int ls[MAXCELLS], nl = 0;
    for (int l = 0; l < nlines(v) && nl < MAXCELLS; l++) {
        if (!line_ok(v, l) || !rs_line_has_value(v, l) || rs_is_total_label(line_label(v, l))) continue;
        const rs_words *w = line_words(v, l);
        int all = 1;
        for (int x = 0; x < nx && all; x++) {
            int f = 0;
            for (int k = 0; k < w->n && !f; k++) if (!strcmp(w->v[k].stem, xs[x])) f = 1;
            all = f;
        }
        if (all) ls[nl++] = l;
    }
    if (nl < 2) return 0;
    cref cells[MAXCELLS];
    int nc = 0;
    for (int i = 0; i < nl; i++) {
        int p = q->nyears ? rs_per_for_year(v, q, ls[i], q->years[0]) : rs_default_per(v, q, ls[i]);
        if (p < 0) return 0;
        int r, c;
        rc_of(v, ls[i], p, &r, &c);
        if (!rs_cell_ok(&v->tb, r, c)) return 0;
        cells[nc++] = (cref){r, c};
    }
    if (!emit_list(a, v, "table_sum", cells, nc, label_scale(v, ls[0], cells[0].r, cells[0].c))) return 0;
    return s1;
}

/* Answers from one table; returns a confidence (0 when it cannot answer). */
static double table_answer_in(const tview *v, const rs_question *q, rg_answer *a, double *recall);
static double table_answer(const tview *v, const rs_question *q, rg_answer *a, double *recall) {
    rs_set_df(v);
    double c = table_answer_in(v, q, a, recall);
    rs_clear_df();
    return c;
}

static double table_answer_in(const tview *v, const rs_question *q, rg_answer *a, double *recall) {
    double s1;
    int l1 = rs_best_line(v, q, 0, q->w.n, -1, &s1);
    *recall = l1 >= 0 ? rs_line_recall(v, q, l1) : 0;
    int ents[8];
    double se = 0;
    int ne = rs_entity_lines(v, q, l1, s1, ents, 8, &se);
    char prog[2048];
    cref cells[MAXCELLS];
    int nc = 0;
    rs_op op = q->op;
    int r, c, r2, c2;

    /* years listed / compared: answers are years */
    if (op == Q_YEARS_LIST) {
        int ps[64], n = 0;
        for (int p = 0; p < nper(v) && n < 64; p++) {
            if (!per_ok(v, p) || !per_year(v, p)) continue;
            int dup = 0;
            for (int k = 0; k < n; k++) if (per_year(v, ps[k]) == per_year(v, p)) dup = 1;
            if (!dup) ps[n++] = p;
        }
        if (!n) return 0;
        char *ys[64];
        for (int i = 0; i < n; i++) { char b[16]; year_str(b, sizeof b, v, ps[i]); ys[i] = xstrdup(b); }
        emit_texts(a, ys, n, n > 1 ? "multi-span" : "span");
        for (int i = 0; i < n; i++) free(ys[i]);
        free(a->program); a->program = xstrdup("span(years)");
        return 0.6;
    }
    /* "How many segments in 2019 were above $50 million?": lines over a threshold in one period */
    /* ... unless the things counted are the periods: "how many quarters did EPS exceed $0.30" */
    int count_pers = 0;
    if (op == Q_COUNT && q->has_threshold && q->count_lines && l1 >= 0) {
        const char *noun = NULL;
        for (int i = 0; i + 2 < q->w.n; i++)
            if (!strcmp(q->w.v[i].w, "how") && !strcmp(q->w.v[i + 1].w, "many")) { noun = q->w.v[i + 2].stem; break; }
        for (int pp = 0; noun && pp < nper(v) && !count_pers; pp++) {
            const rs_words *pw = v->tr ? &v->tb.rw[pp] : &v->tb.cw[pp];
            for (int i = 0; i < pw->n; i++) if (per_ok(v, pp) && rs_stems_meet(pw->v[i].stem, noun)) { count_pers = 1; break; }
        }
        if (count_pers) {
            rg_dec thr = threshold_in(v, q);
            int k = 0;
            rg_buf pb = {0};
            answer_clear(a);
            rg_buf_puts(&pb, "count(");
            for (int pp = 0; pp < nper(v); pp++) {
                if (!per_ok(v, pp) || !cell_num(v, l1, pp)) continue;
                if (q->nyears && per_year(v, pp) && per_year(v, pp) != q->years[0]) continue;
                rc_of(v, l1, pp, &r, &c);
                if (!cmp_holds(v->tb.val[r * v->tb.t->ncols + c], q, thr)) continue;
                rg_buf_printf(&pb, "%sr%dc%d", k ? ", " : "", r, c);
                add_cite(a, v->doc, v->chunk, r, c);
                k++;
            }
            count_answer(a, &pb, k);
            return s1 > 0.3 ? s1 : 0.3;
        }
    }
    if (op == Q_COUNT && q->has_threshold && q->count_lines) {
        int p = -1;
        double bs = -1;
        for (int pp = 0; pp < nper(v); pp++) {
            if (!per_ok(v, pp)) continue;
            if (q->nyears && per_year(v, pp) && per_year(v, pp) != q->years[0]) continue;
            const rs_words *pw = v->tr ? &v->tb.rw[pp] : &v->tb.cw[pp];
            double x = rs_match_label(q, 0, q->w.n, pw, NULL) + (q->nyears && per_year(v, pp) == q->years[0] ? 0.5 : 0);
            int any = 0;
            for (int l = 0; l < nlines(v) && !any; l++) if (line_ok(v, l) && cell_num(v, l, pp)) any = 1;
            if (any && x > bs + 1e-9) { bs = x; p = pp; }
        }
        if (p < 0) return 0;
        /* the lines of the section the question names, else every line but totals */
        int mem[256], n = 0, sec = -1;
        double ss = 0.3;
        for (int l = 0; l < nlines(v) && !v->tr; l++)
            if (v->tb.is_section[l] || rs_is_total_label(line_label(v, l))) {
                double x = rs_line_score(v, q, l, 0, q->w.n);
                if (x > ss) { ss = x; sec = l; }
            }
        if (sec >= 0) n = rs_member_lines(v, sec, mem, 256);
        if (n <= 0) {
            n = 0;
            for (int l = 0; l < nlines(v) && n < 256; l++)
                if (line_ok(v, l) && !rs_is_total_label(line_label(v, l))) mem[n++] = l;
        }
        rg_dec thr = threshold_in(v, q);
        int k = 0;
        rg_buf pb = {0};
        answer_clear(a);
        rg_buf_puts(&pb, "count(");
        for (int i = 0; i < n; i++) {
            rc_of(v, mem[i], p, &r, &c);
            if (!rs_cell_ok(&v->tb, r, c) || !cmp_holds(v->tb.val[r * v->tb.t->ncols + c], q, thr)) continue;
            rg_buf_printf(&pb, "%sr%dc%d", k ? ", " : "", r, c);
            add_cite(a, v->doc, v->chunk, r, c);
            k++;
        }
        count_answer(a, &pb, k);
        return 0.5;
    }
    if (op == Q_ITEMS || (op == Q_COUNT && !q->has_threshold)) {
        /* the line named may be a section row: look at all rows */
        int best = -1;
        double bs = 0;
        for (int l = 0; l < nlines(v); l++) {
            if (v->tr ? l < v->tb.hc : l < v->tb.hr) continue;
            double s = rs_line_score(v, q, l, 0, q->w.n);
            if (s > bs + 1e-9) { bs = s; best = l; }
        }
        int mem[256], n = 0;
        if (best >= 0 && bs > 0.3) n = rs_member_lines(v, best, mem, 256);
        if (n <= 0 && op == Q_ITEMS) {
            /* "What items are listed in the table?": every labelled line with values, totals aside */
            int tab = 0;
            for (int i = 0; i < q->w.n; i++) if (!strcmp(q->w.v[i].w, "table")) tab = 1;
            if (tab && !v->tr)
                for (int l = v->tb.hr; l < nlines(v) && n < 256; l++)
                    if (line_ok(v, l) && rs_line_has_value(v, l) && line_label(v, l)[0] && !rs_is_total_label(line_label(v, l)))
                        mem[n++] = l;
            bs = 0.5;
        }
        if (n <= 0) return 0;
        if (op == Q_COUNT) {
            answer_clear(a);
            char b[16];
            snprintf(b, sizeof b, "%d", n);
            add_answer(a, b);
            snprintf(a->type, sizeof a->type, "count");
            rg_buf pb = {0};
            rg_buf_puts(&pb, "count(");
            for (int i = 0; i < n; i++) { rg_buf_printf(&pb, "%sr%dc0", i ? ", " : "", mem[i]); add_cite(a, v->doc, v->chunk, mem[i], 0); }
            rg_buf_putc(&pb, ')');
            free(a->program); a->program = rg_buf_take(&pb);
            return 0.5 * bs + 0.2;
        }
        char **labs = xcalloc((size_t)n, sizeof *labs);
        for (int i = 0; i < n; i++) labs[i] = label_text(v->tb.rowlab[mem[i]]);
        emit_texts(a, labs, n, n > 1 ? "multi-span" : "span");
        for (int i = 0; i < n; i++) add_cite(a, v->doc, v->chunk, mem[i], 0);
        for (int i = 0; i < n; i++) free(labs[i]);
        free(labs);
        free(a->program); a->program = xstrdup("span(labels)");
        return 0.5 * bs + 0.2;
    }
    if (op == Q_WHICH_ENT) {
        /* the line with the highest/lowest value in the period the question names: by year,
         * else by the header that best meets the question, else the first value period */
        int p = -1;
        double bs = 0;
        for (int pp = 0; pp < nper(v); pp++) {
            if (!per_ok(v, pp)) continue;
            double x = 0;
            if (q->nyears && per_year(v, pp) == q->years[0]) x = 1;
            const rs_words *pw = v->tr ? &v->tb.rw[pp] : &v->tb.cw[pp];
            x += rs_match_label(q, 0, q->w.n, pw, NULL);
            if (x > bs + 1e-9) { bs = x; p = pp; }
        }
        if (p < 0)
            for (int pp = 0; pp < nper(v) && p < 0; pp++)
                for (int l = 0; l < nlines(v); l++) if (per_ok(v, pp) && line_ok(v, l) && cell_num(v, l, pp)) { p = pp; break; }
        if (p < 0) return 0;
        int bl = -1;
        rg_dec bv = {0, 0, 0};
        for (int l = 0; l < nlines(v); l++) {
            if (!line_ok(v, l) || rs_is_total_label(line_label(v, l))) continue;
            rc_of(v, l, p, &r, &c);
            if (!rs_cell_ok(&v->tb, r, c)) continue;
            rg_dec x = v->tb.val[r * v->tb.t->ncols + c];
            if (bl < 0 || (q->cmp >= 0 ? rg_dec_cmp(x, bv) > 0 : rg_dec_cmp(x, bv) < 0)) { bl = l; bv = x; }
        }
        if (bl < 0 || !line_label(v, bl)[0]) return 0;
        char *lab[1] = {label_text(line_label(v, bl))};
        emit_texts(a, lab, 1, "span");
        free(lab[0]);
        rc_of(v, bl, p, &r, &c);
        add_cite(a, v->doc, v->chunk, r, c);
        free(a->program);
        a->program = xasprintf("%s(%s %d)", q->cmp >= 0 ? "table_max" : "table_min", v->tr ? "row" : "column", p);
        return bs > 0 ? 0.5 + 0.3 * (bs > 1 ? 1 : bs) : 0.4;
    }
    if (l1 < 0) return 0;
    if ((op == Q_LOOKUP || op == Q_SUM) && q->nyears <= 1) {
        double c = sum_of_all(v, q, l1, s1, a);
        if (c > 0) return c;
    }
    double conf = s1;
    int multi = ne >= 2 && q->nyears <= 1;    /* several things in one period */
    if (multi) conf = se;

    /* a share of something that is already a percentage is not computed again */
    if (op == Q_PROPORTION) {
        int p0 = q->nyears ? rs_per_for_year(v, q, l1, q->years[0]) : rs_default_per(v, q, l1);
        if (p0 >= 0 && line_is_pct(v, l1, p0)) {
            if (multi && (strstr(q->w.v[0].w, "") && q->wants_pct)) op = Q_SUM;
            else op = Q_LOOKUP;
            int tot = 0;
            for (int i = 0; i < q->w.n; i++) if (!strcmp(q->w.v[i].stem, "total") || !strcmp(q->w.v[i].stem, "sum")) tot = 1;
            op = multi && tot ? Q_SUM : Q_LOOKUP;
        }
    }

    /* "total X in 2018 and 2019" where the table has a line "Total X": the values, not a sum */
    if (op == Q_SUM && q->sum_by_total && !multi && rs_is_total_label(line_label(v, l1))) op = Q_LOOKUP;

    int pers[64];
    int np = rs_named_pers(v, q, l1, op == Q_AVG || op == Q_SUM || op == Q_COUNT || op == Q_WHICH_YEAR, pers, 64);
    if ((op == Q_CHANGE || op == Q_PCT_CHANGE || op == Q_RATIO) && np > 2) {
        /* "from 2017 to 2019" spans three periods; a change is between its two ends */
        int e0 = -1, e1 = -1;
        if (q->nyears == 2)
            for (int i = 0; i < np; i++) {
                if (per_year(v, pers[i]) == q->years[0] && e0 < 0) e0 = pers[i];
                else if (per_year(v, pers[i]) == q->years[1] && e1 < 0) e1 = pers[i];
            }
        if (e0 >= 0 && e1 >= 0) { pers[0] = e0; pers[1] = e1; }
        np = 2;
    }

    /* a change the table itself states: a "% change" / "change" column in the line */
    int ypers[64], nyp = rs_value_pers(v, l1, ypers, 64), twoyears = nyp == 2 && per_year(v, ypers[0]) && per_year(v, ypers[1]);
    for (int i = 0; i < q->nyears && twoyears; i++)
        if (q->years[i] != per_year(v, ypers[0]) && q->years[i] != per_year(v, ypers[1])) twoyears = 0;
    if ((op == Q_PCT_CHANGE || op == Q_CHANGE) && !multi && !v->tr && twoyears) {
        for (int p = v->tb.hc; p < nper(v); p++) {
            const char *h = v->tb.colhead[p];
            char low[256];
            snprintf(low, sizeof low, "%s", h);
            for (char *x = low; *x; x++) *x = (char)tolower((unsigned char)*x);
            int pctcol = strchr(low, '%') != NULL || strstr(low, "percent") != NULL;
            int chgcol = strstr(low, "change") || strstr(low, "increase") || strstr(low, "decrease") || strstr(low, "variance");
            if (!chgcol || (op == Q_PCT_CHANGE) != pctcol) continue;
            /* a change column names no single year, or names the later of the two */
            if (per_year(v, p)) continue;
            rc_of(v, l1, p, &r, &c);
            if (!rs_cell_ok(&v->tb, r, c)) continue;
            if (v->tb.ispct[r * v->tb.t->ncols + c] != (op == Q_PCT_CHANGE)) continue;
            cells[nc++] = (cref){r, c};
            emit_cells(a, v, cells, nc, op == Q_PCT_CHANGE ? "percent" : label_scale(v, l1, r, c));
            return conf;
        }
    }

    switch (op) {
    case Q_WHICH_YEAR:
    case Q_COUNT: {
        int ps[64], n = 0;
        if (np >= 2) { for (int i = 0; i < np; i++) ps[n++] = pers[i]; }
        else n = rs_value_pers(v, l1, ps, 64);
        if (n < 1) return 0;
        if (q->has_threshold || op == Q_COUNT) {
            if (!q->has_threshold) return 0;
            rg_dec thr = threshold_in(v, q);
            char *ys[64];
            int k = 0;
            for (int i = 0; i < n; i++) {
                rc_of(v, l1, ps[i], &r, &c);
                if (cmp_holds(v->tb.val[r * v->tb.t->ncols + c], q, thr)) {
                    char b[16];
                    year_str(b, sizeof b, v, ps[i]);
                    ys[k] = xstrdup(b);
                    cells[k].r = r; cells[k].c = c;
                    k++;
                }
            }
            if (op == Q_COUNT) {
                answer_clear(a);
                char b[16];
                snprintf(b, sizeof b, "%d", k);
                add_answer(a, b);
                snprintf(a->type, sizeof a->type, "count");
                rg_buf pb = {0};
                rg_buf_puts(&pb, "count(");
                for (int i = 0; i < k; i++) { rg_buf_printf(&pb, "%sr%dc%d", i ? ", " : "", cells[i].r, cells[i].c); add_cite(a, v->doc, v->chunk, cells[i].r, cells[i].c); }
                rg_buf_putc(&pb, ')');
                free(a->program); a->program = rg_buf_take(&pb);
            } else {
                if (!k) return 0;
                emit_texts(a, ys, k, k > 1 ? "multi-span" : "span");
                free(a->program); a->program = xstrdup("span(years)");
            }
            for (int i = 0; i < k; i++) free(ys[i]);
            return conf;
        }
        /* the year with the highest (or lowest) value */
        int bi = 0;
        for (int i = 1; i < n; i++) {
            rc_of(v, l1, ps[i], &r, &c);
            rc_of(v, l1, ps[bi], &r2, &c2);
            int cmpv = rg_dec_cmp(v->tb.val[r * v->tb.t->ncols + c], v->tb.val[r2 * v->tb.t->ncols + c2]);
            if ((q->cmp >= 0 && cmpv > 0) || (q->cmp < 0 && cmpv < 0)) bi = i;
        }
        if (!per_year(v, ps[bi])) return 0;
        char b[16];
        year_str(b, sizeof b, v, ps[bi]);
        char *ys[1] = {b};
        emit_texts(a, ys, 1, "span");
        rg_buf pb = {0};
        rg_buf_puts(&pb, q->cmp >= 0 ? "table_max(" : "table_min(");
        for (int i = 0; i < n; i++) {
            rc_of(v, l1, ps[i], &r, &c);
            rg_buf_printf(&pb, "%sr%dc%d", i ? ", " : "", r, c);
            add_cite(a, v->doc, v->chunk, r, c);
        }
        rg_buf_putc(&pb, ')');
        free(a->program); a->program = rg_buf_take(&pb);
        return conf;
    }
    case Q_PROPORTION: {
        /* part(s) over a whole: the whole is a total line the question names, else the last
         * thing named; the parts are the other things named, summed */
        int whole = -1;
        double ws = 0;
        int mentions_total = 0;
        for (int i = 0; i < q->w.n; i++) if (!strcmp(q->w.v[i].stem, "total")) mentions_total = 1;
        int parts[8], npart = 0;
        if (mentions_total)
            for (int l = 0; l < nlines(v); l++)
                if (line_ok(v, l) && rs_line_has_value(v, l) && rs_is_total_label(line_label(v, l))) {
                    double x = rs_line_score(v, q, l, 0, q->w.n);
                    if (whole < 0 || x > ws + 1e-9) { ws = x; whole = l; }
                }
        if (multi) {
            if (whole < 0) whole = ents[ne - 1];
            for (int i = 0; i < ne; i++) if (ents[i] != whole) parts[npart++] = ents[i];
        } else {
            if (whole < 0 || whole == l1) {
                /* the table's last total line */
                whole = -1;
                for (int l = nlines(v) - 1; l >= 0; l--)
                    if (l != l1 && line_ok(v, l) && rs_is_total_label(line_label(v, l)) && rs_line_has_value(v, l)) { whole = l; break; }
            }
            parts[npart++] = l1;
        }
        /* "X due after 5 years as a percentage of the total X": the whole is the line's own
         * "Total" column, not a total line */
        int owncol = -1;
        if (!multi && !v->tr && !np) {
            for (int pp = v->tb.hc; pp < nper(v) && owncol < 0; pp++)
                for (int i = 0; i < v->tb.cw[pp].n; i++)
                    if (!strcmp(v->tb.cw[pp].v[i].stem, "total") && cell_num(v, l1, pp)) { owncol = pp; break; }
            int names = 0;
            const rs_words *lw = line_words(v, l1);
            for (int i = 0; i < q->w.n && !names && owncol >= 0; i++) {
                if (strcmp(q->w.v[i].stem, "total")) continue;
                for (int j = i + 1; j < q->w.n && j <= i + 3 && !names; j++) {
                    if (!q->content[j]) continue;
                    for (int k = 0; k < lw->n; k++) if (!strcmp(lw->v[k].stem, q->w.v[j].stem)) { names = 1; break; }
                }
            }
            if (!names) owncol = -1;
            if (owncol >= 0) whole = l1;
        }
        if (whole < 0 || !npart) return 0;
        int p = np ? rs_per_for_year(v, q, parts[0], q->years[0]) : rs_default_per(v, q, parts[0]);
        /* "due in less than one year as a percentage of the total": the period the question names
         * other than a "Total" column, which the word "total" would otherwise pick */
        if (!np && !v->tr) {
            double bs = 0;
            for (int pp = v->tb.hc; pp < nper(v); pp++) {
                int totcol = 0;
                for (int i = 0; i < v->tb.cw[pp].n; i++) if (!strcmp(v->tb.cw[pp].v[i].stem, "total")) totcol = 1;
                if (totcol || !cell_num(v, parts[0], pp) || !cell_num(v, whole, pp)) continue;
                double x = rs_match_label(q, 0, q->w.n, &v->tb.cw[pp], NULL);
                /* the whole header quoted in the question ("more than 5 years"), filler words too */
                if (v->tb.cw[pp].n >= 2 && rs_words_in_question(q, &v->tb.cw[pp])) x += 1;
                if (x > bs + 1e-9) { bs = x; p = pp; }
            }
        }
        if (p < 0) return 0;
        rg_buf pb = {0};
        for (int i = 0; i < npart; i++) {
            rc_of(v, parts[i], p, &r, &c);
            if (!rs_cell_ok(&v->tb, r, c)) { rg_buf_free(&pb); return 0; }
            cells[nc++] = (cref){r, c};
        }
        rc_of(v, whole, owncol >= 0 ? owncol : p, &r2, &c2);
        if (!rs_cell_ok(&v->tb, r2, c2) || (r2 == cells[0].r && c2 == cells[0].c)) { rg_buf_free(&pb); return 0; }
        cells[nc++] = (cref){r2, c2};
        /* "proportion" without "percent" is a plain fraction */
        int frac = !q->wants_pct;
        if (npart == 1) rg_buf_printf(&pb, "divide(r%dc%d, r%dc%d)%s", cells[0].r, cells[0].c, r2, c2, frac ? "" : ", multiply(#0, const_100)");
        else {
            rg_buf_puts(&pb, "table_sum(");
            for (int i = 0; i < npart; i++) rg_buf_printf(&pb, "%sr%dc%d", i ? ", " : "", cells[i].r, cells[i].c);
            rg_buf_printf(&pb, "), divide(#0, r%dc%d)%s", r2, c2, frac ? "" : ", multiply(#1, const_100)");
        }
        char *pg = rg_buf_take(&pb);
        int ok = emit_program(a, v, pg, cells, nc, frac ? "" : "percent", "arithmetic");
        free(pg);
        return ok ? conf : 0;
    }
    case Q_CHANGE:
    case Q_PCT_CHANGE:
    case Q_RATIO: {
        if (op == Q_CHANGE && q->avg_then_change) {
            int two = ne >= 2 && (multi || q->avg_then_change == 2);
            double c2s = avg_change(a, v, q, two ? ents : &l1, two ? ne : 1, pers, np);
            if (c2s > 0) return conf;
        }
        int newp, oldp, lnew = l1, lold = l1;
        int eps[8], nep = (!multi && np < 2) ? rs_entity_pers(v, q, l1, eps, 8) : 0;
        if (nep >= 2) {
            /* two periods named by their headers: first named minus (or over) second named */
            newp = eps[0]; oldp = eps[1];
        } else if (multi) {
            /* two things in one period: first named minus (or over) second named */
            lnew = ents[0]; lold = ents[1];
            int p = q->nyears ? rs_per_for_year(v, q, lnew, q->years[0]) : rs_default_per(v, q, lnew);
            if (p < 0) return 0;
            newp = oldp = p;
        } else if (np >= 2) {
            if (op == Q_RATIO) { newp = pers[0]; oldp = pers[1]; }
            else {
                /* later year minus earlier year */
                newp = per_year(v, pers[0]) >= per_year(v, pers[1]) ? pers[0] : pers[1];
                oldp = newp == pers[0] ? pers[1] : pers[0];
            }
        } else {
            int ps[64];
            int n = rs_value_pers(v, l1, ps, 64);
            if (n < 2) return 0;
            if (np == 1) {
                /* one year named: it and the year before */
                int y = per_year(v, pers[0]), prev = -1;
                for (int i = 0; i < n; i++) if (per_year(v, ps[i]) == y - 1) prev = ps[i];
                if (prev < 0) return 0;
                newp = pers[0]; oldp = prev;
            } else {
                newp = ps[0]; oldp = ps[1];
                if (per_year(v, newp) && per_year(v, oldp) && per_year(v, newp) < per_year(v, oldp)) { int t = newp; newp = oldp; oldp = t; }
            }
        }
        /* periods named by header: later minus earlier when their place in time is known */
        if (nep >= 2 && op != Q_RATIO) {
            long ra = rs_per_rank(v, newp), rb = rs_per_rank(v, oldp);
            if (ra >= 0 && rb >= 0 && ra < rb) { int t = newp; newp = oldp; oldp = t; }
        }
        rc_of(v, lnew, newp, &r, &c);
        rc_of(v, lold, oldp, &r2, &c2);
        if (!rs_cell_ok(&v->tb, r, c) || !rs_cell_ok(&v->tb, r2, c2)) return 0;
        /* "the difference between A and B" with no direction: the larger less the smaller */
        if (op == Q_CHANGE && q->diff_word && (multi || (nep >= 2 && rs_per_rank(v, newp) < 0)) &&
            rg_dec_cmp(v->tb.val[r * v->tb.t->ncols + c], v->tb.val[r2 * v->tb.t->ncols + c2]) < 0) {
            int t;
            t = r; r = r2; r2 = t;
            t = c; c = c2; c2 = t;
            t = lnew; lnew = lold; lold = t;
        }
        cells[nc++] = (cref){r, c};
        cells[nc++] = (cref){r2, c2};
        const char *sc = label_scale(v, lnew, r, c);
        if (op == Q_CHANGE && q->wants_pct) sc = "percent";
        int ok;
        if (op == Q_CHANGE) {
            snprintf(prog, sizeof prog, "subtract(r%dc%d, r%dc%d)", r, c, r2, c2);
            ok = emit_program(a, v, prog, cells, nc, sc, "arithmetic");
        } else if (op == Q_PCT_CHANGE && q->absolute && line_is_pct(v, lnew, newp) && line_is_pct(v, lold, oldp)) {
            /* the "absolute" percentage change of figures that are percentages already (rates,
             * margins) is their difference in percentage points */
            snprintf(prog, sizeof prog, "subtract(r%dc%d, r%dc%d)", r, c, r2, c2);
            ok = emit_program(a, v, prog, cells, nc, "percent", "arithmetic");
        } else if (op == Q_PCT_CHANGE) {
            snprintf(prog, sizeof prog, "subtract(r%dc%d, r%dc%d), divide(#0, r%dc%d), multiply(#1, const_100)", r, c, r2, c2, r2, c2);
            ok = emit_program(a, v, prog, cells, nc, "percent", "arithmetic");
        } else {
            /* "ratio (in percentage)" is a percentage */
            snprintf(prog, sizeof prog, "divide(r%dc%d, r%dc%d)%s", r, c, r2, c2, q->wants_pct ? ", multiply(#0, const_100)" : "");
            ok = emit_program(a, v, prog, cells, nc, q->wants_pct ? "percent" : "", "arithmetic");
        }
        return ok ? conf : 0;
    }
    case Q_AVG:
    case Q_SUM: {
        int ps[64], n = 0;
        int lines[8] = {l1};
        int nl = 1;
        if (multi) {
            for (int i = 0; i < ne; i++) lines[i] = ents[i];
            nl = ne;
            int p = q->nyears ? rs_per_for_year(v, q, lines[0], q->years[0]) : rs_default_per(v, q, lines[0]);
            if (p < 0) return 0;
            ps[n++] = p;
        } else if (np >= 2) { for (int i = 0; i < np; i++) ps[n++] = pers[i]; }
        else if (np == 1 && op == Q_AVG) {
            /* "2019 average X": the average of the year's opening and closing values */
            int all[64];
            int m = rs_value_pers(v, l1, all, 64);
            int y = per_year(v, pers[0]), prev = -1;
            for (int i = 0; i < m; i++) if (per_year(v, all[i]) == y - 1) prev = all[i];
            ps[n++] = pers[0];
            if (prev >= 0) ps[n++] = prev;
        } else if (np == 1) ps[n++] = pers[0];
        else n = rs_value_pers(v, l1, ps, 64);
        if (n < 1 || n * nl < 2) return 0;
        for (int li = 0; li < nl; li++)
            for (int i = 0; i < n && nc < MAXCELLS; i++) {
                rc_of(v, lines[li], ps[i], &r, &c);
                if (!rs_cell_ok(&v->tb, r, c)) return 0;
                cells[nc++] = (cref){r, c};
            }
        int ok = emit_list(a, v, op == Q_AVG ? "table_average" : "table_sum", cells, nc,
                           label_scale(v, lines[0], cells[0].r, cells[0].c));
        return ok ? conf : 0;
    }
    default: break;
    }
    /* value lookup: one cell, or one per named year / named thing */
    if (multi) {
        for (int i = 0; i < ne; i++) {
            int p = q->nyears ? rs_per_for_year(v, q, ents[i], q->years[0]) : rs_default_per(v, q, ents[i]);
            if (p < 0) return 0;
            rc_of(v, ents[i], p, &r, &c);
            cells[nc++] = (cref){r, c};
        }
        emit_cells(a, v, cells, nc, label_scale(v, ents[0], cells[0].r, cells[0].c));
        return conf;
    }
    int eps[8], nep = (q->respective && np <= 1) ? rs_entity_pers(v, q, l1, eps, 8) : 0;
    if (nep >= 2) {
        /* "the respective X at June 30 and December 31, 2019": one value per period header named */
        for (int i = 0; i < nep; i++) { rc_of(v, l1, eps[i], &r, &c); cells[nc++] = (cref){r, c}; }
    } else if (np >= 1) {
        for (int i = 0; i < np; i++) { rc_of(v, l1, pers[i], &r, &c); cells[nc++] = (cref){r, c}; }
    } else {
        if (q->nyears) return 0;   /* the year asked for is not in this table */
        int p = rs_default_per(v, q, l1);
        if (p < 0) return 0;
        rc_of(v, l1, p, &r, &c); cells[nc++] = (cref){r, c};
    }
    emit_cells(a, v, cells, nc, label_scale(v, l1, cells[0].r, cells[0].c));
    return conf;
}

/* ---- years the evidence covers ---- */

/* Marks in `seen` (parallel to q->years) the question's years that the text names. */
static void years_in_text(const rs_question *q, const char *text, unsigned char *seen) {
    if (!text || !*text) return;
    rs_words w;
    rs_tokenize(text, &w, 8192);
    for (int k = 0; k < w.n; k++)
        if (w.v[k].year)
            for (int i = 0; i < q->nyears; i++) if (w.v[k].year == q->years[i]) seen[i] = 1;
    rs_words_free(&w);
}

/* 1 when every year the question names appears somewhere in the evidence (a table period, a
 * cell or a paragraph; `seen` comes with the table periods marked); a question about a year the evidence never mentions has no answer here. */
static int years_covered(const rs_question *q, const rg_evidence *ev, unsigned char seen[8]) {
    if (!q->nyears) return 1;
    long budget = 200000;   /* cells looked at, bounded on any input */
    for (int ti = 0; ti < ev->ntables && ti < 64; ti++) {
        const rg_table *t = ev->tables[ti].table;
        if (!t) continue;
        for (int r = 0; r < t->nrows && budget > 0; r++)
            for (int c = 0; c < t->ncols && budget > 0; c++, budget--) {
                const char *cell = t->cells[(size_t)r * (size_t)t->ncols + (size_t)c].raw;
                if (cell && strpbrk(cell, "0123456789")) years_in_text(q, cell, seen);
            }
    }
    for (int i = 0; i < ev->nparas && i < 512; i++) years_in_text(q, ev->paras[i].text, seen);
    for (int i = 0; i < q->nyears; i++) if (!seen[i]) return 0;
    return 1;
}

/* ---- the entry point ---- */

rg_answer *rg_reason(const char *question, const rg_evidence *ev) {
    if (!question || !ev) { rg_err("rg_reason: no question or evidence"); return NULL; }
    rg_answer *a = answer_new();
    size_t qlen = strlen(question);
    if (qlen == 0 || qlen > 4096) return a;
    /* named financial ratios, spelled out so the lines they need can be found */
    static const char *ratios[][2] = {
        {"current ratio", "ratio of total current assets to total current liabilities"},
        {"debt-to-equity ratio", "ratio of total debt to total equity"},
        {"debt to equity ratio", "ratio of total debt to total equity"},
        {"debt-to-asset ratio", "ratio of total liabilities to total assets"},
        {"debt to asset ratio", "ratio of total liabilities to total assets"},
        {"quick ratio", "ratio of total current assets less inventories to total current liabilities"},
        {NULL, NULL}};
    char *qtext = xstrdup(question);
    for (int i = 0; ratios[i][0]; i++) {
        int pos = rg_strcasestr_pos(qtext, ratios[i][0]);
        if (pos < 0) continue;
        char *nq = xasprintf("%.*s%s%s", pos, qtext, ratios[i][1], qtext + pos + strlen(ratios[i][0]));
        free(qtext);
        qtext = nq;
        break;
    }
    rs_question q;
    rs_question_parse(&q, qtext);
    free(qtext);

    /* paragraph text for the scale of tables that do not state it */
    rg_buf ctx = {0};
    for (int i = 0; i < ev->nparas && i < 256; i++)
        if (ev->paras[i].text) { rg_buf_puts(&ctx, ev->paras[i].text); rg_buf_putc(&ctx, '\n'); }
    char *context = rg_buf_take(&ctx);

    unsigned char seen[8] = {0};
    rg_answer *best = NULL;
    double bestc = 0, best_recall = 0;
    int table_years = 0, table_has_qyear = 0;
    for (int ti = 0; ti < ev->ntables && ti < 64; ti++) {
        if (!ev->tables[ti].table) continue;
        tview v;
        memset(&v, 0, sizeof v);
        if (rs_table_build(&v.tb, ev->tables[ti].table, context) < 0) continue;
        v.tr = v.tb.years_on_rows;
        v.doc = ev->tables[ti].doc_id;
        v.chunk = ev->tables[ti].chunk_id;
        for (int p = 0; p < nper(&v); p++) {
            if (!per_ok(&v, p) || !per_year(&v, p)) continue;
            table_years = 1;
            for (int i = 0; i < q.nyears; i++) if (per_year(&v, p) == q.years[i]) table_has_qyear = seen[i] = 1;
        }
        rg_answer *cand = answer_new();
        double rec = 0;
        double c = table_answer(&v, &q, cand, &rec);
        if (c > bestc && cand->nanswers > 0) {
            rg_answer_free(best);
            best = cand; bestc = c; best_recall = rec;
        } else rg_answer_free(cand);
        rs_table_free(&v.tb);
    }
    /* text: for explanations, or when a sentence names the thing asked about better than any
     * table line; computations stay with the table when it has an answer */
    if (!years_covered(&q, ev, seen)) {
        rg_answer_free(best);
        free(context);
        rs_question_free(&q);
        return a;
    }
    q.tables_lack_year = q.nyears && table_years && !table_has_qyear;
    int computed = q.op != Q_LOOKUP && q.op != Q_TEXT && (q.op != Q_ITEMS || best);
    rs_span_ans sa;
    memset(&sa, 0, sizeof sa);
    int have_text = rs_text_answer(&q, question, ev, &sa) && sa.n > 0;
    int use_text = 0;
    if (have_text) {
        /* a computation no table could do is not answered by a sentence without a figure */
        if (!best) use_text = sa.score >= 0.3 && (!computed || sa.numeric || q.op == Q_ITEMS || q.op == Q_WHICH_ENT ||
                                                  q.op == Q_WHICH_YEAR || q.op == Q_YEARS_LIST ||
                                                  (sa.recall > 0.99 && !q.nyears));   /* "What is aggregate X?" */
        else if (q.op == Q_TEXT) use_text = 1;
        else if (computed) use_text = 0;
        else if (q.nyears >= 2 || q.respective)   /* several values: a table's job, unless text says so much better */
            use_text = sa.numeric && sa.n >= 2 && sa.recall > best_recall + 0.34;
        /* a figure asked for a year: a text answer without a figure does not answer it */
        else if ((q.nyears || q.how_much) && !sa.numeric) use_text = 0;
        else use_text = sa.recall > best_recall + TEXT_MARGIN;
    }
    /* a sum or average of amounts the text states ("$0.3 million, $0.9 million and $0.6 million") */
    if (!best && have_text && sa.numeric && sa.n >= 2 && (q.op == Q_SUM || q.op == Q_AVG)) {
        rg_dec acc = rg_dec_int(0);
        char sc[12] = "";
        int ok = 1;
        rg_buf der = {0}, prog = {0};
        for (int i = 0; i < sa.n && ok; i++) {
            rg_dec x;
            int fl;
            if (!rg_dec_parse(sa.spans[i], &x, &fl, NULL)) { ok = 0; break; }
            char s2[12] = "";
            if (strstr(sa.spans[i], "million")) snprintf(s2, sizeof s2, "million");
            else if (strstr(sa.spans[i], "billion")) snprintf(s2, sizeof s2, "billion");
            else if (strstr(sa.spans[i], "thousand")) snprintf(s2, sizeof s2, "thousand");
            else if (fl & RG_NUM_PERCENT) snprintf(s2, sizeof s2, "percent");
            if (i && strcmp(s2, sc)) ok = 0;
            snprintf(sc, sizeof sc, "%s", s2);
            acc = rg_dec_add(acc, x);
            char b[80];
            if (rg_dec_format(x, 6, b, sizeof b) < 0) ok = 0;
            rg_buf_printf(&der, "%s%s", i ? " + " : "", b);
            rg_buf_printf(&prog, "%s%s", i ? ", " : "", b);
        }
        if (q.op == Q_AVG) acc = rg_dec_div(acc, rg_dec_int(sa.n));
        char out[80];
        char *ds = rg_buf_take(&der), *ps = rg_buf_take(&prog);
        if (ok && acc.ok && rg_dec_format(acc, 2, out, sizeof out) >= 0) {
            answer_clear(a);
            add_answer(a, out);
            snprintf(a->type, sizeof a->type, "arithmetic");
            snprintf(a->scale, sizeof a->scale, "%s", sc);
            free(a->derivation);
            a->derivation = q.op == Q_AVG ? xasprintf("(%s) / %d", ds, sa.n) : xstrdup(ds);
            free(a->program);
            a->program = xasprintf("%s(%s)", q.op == Q_AVG ? "table_average" : "table_sum", ps);
            const rg_ev_para *p = &ev->paras[sa.para];
            add_cite(a, p->doc_id, p->chunk_id, -1, -1);
            a->confidence = sa.score * 0.6;
            use_text = 0;
            have_text = 0;
        }
        free(ds); free(ps);
    }
    if (use_text) {
        answer_clear(a);
        for (int i = 0; i < sa.n; i++) add_answer(a, sa.spans[i]);
        snprintf(a->type, sizeof a->type, "%s", sa.n > 1 ? "multi-span" : "span");
        const rg_ev_para *p = &ev->paras[sa.para];
        add_cite(a, p->doc_id, p->chunk_id, -1, -1);
        a->confidence = sa.score * 0.8;
        free(a->program); a->program = xstrdup("span(text)");
        rg_answer_free(best);
        best = NULL;
    }
    rs_span_ans_free(&sa);
    if (best) {
        rg_answer_free(a);
        a = best;
        a->confidence = bestc > 1 ? 1 : bestc;
    }
    free(context);
    rs_question_free(&q);
    return a;
}
