/* generate/rs_table: the layout of a table as the reasoner needs it. It reads only the raw
 * cell text (typed values from the parser are not trusted for arithmetic): header rows, the
 * row-label columns, section rows ("Assets:" with no values), column headers with spanning
 * header cells carried right, the year each column or row stands for, and the scale. */
#include "generate/rs_internal.h"
#include "core/util.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const char *rs_cell_raw(const rs_table *tb, int r, int c) {
    if (r < 0 || c < 0 || r >= tb->t->nrows || c >= tb->t->ncols) return "";
    const char *s = tb->t->cells[(size_t)r * (size_t)tb->t->ncols + (size_t)c].raw;
    return s ? s : "";
}

static int blank(const char *s) {
    for (; *s; s++) if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

/* A cell that is only a year ("2019", "FY19"): headers, not values. */
static int year_cell(const char *raw) {
    rs_words w;
    rs_tokenize(raw, &w, 8);
    int y = 0, other = 0;
    /* units beside the year do not make it a value: "2019 €m", "2019 $'000", "FY19 US$ million" */
    static const char *units[] = {"m", "bn", "k", "000", "usd", "us", "eur", "gbp", "aud", "cad", "rmb", "hk",
        "million", "millions", "thousand", "thousands", "billion", "restated", "unaudited", "audited", "actual", NULL};
    for (int i = 0; i < w.n; i++) {
        if (w.v[i].year) { y = 1; continue; }
        int u = 0;
        for (int k = 0; units[k]; k++) if (!strcmp(w.v[i].w, units[k])) u = 1;
        if (!u) other = 1;
    }
    rs_words_free(&w);
    return y && !other && !strchr(raw, ',') && !strchr(raw, '$');
}

static int value_cell(const char *raw, rg_dec *v, int *pct) {
    int fl;
    if (!raw || !rg_dec_parse(raw, v, &fl, NULL) || (fl & RG_NUM_EXTRA_TEXT)) return 0;
    *pct = (fl & RG_NUM_PERCENT) != 0;
    return 1;
}

/* When nothing states the table's unit, the text often quotes its figures rounded: "$24.2
 * million of net income" next to a cell 24,193 says the table is in thousands. Each amount in
 * the text that equals a cell at one scale votes for that scale. */
static void infer_scale(rs_table *tb, const char *text) {
    static const char *names[] = {"", "thousand", "million", "billion"};
    int votes[4] = {0, 0, 0, 0};
    size_t n = strlen(text);
    if (n > 200000) n = 200000;
    int R = tb->t->nrows, C = tb->t->ncols;
    if ((long)R * C > 20000) return;   /* bounded work: big tables state their units anyway */
    int amounts = 0;
    for (size_t i = 0; i < n && amounts < 200; i++) {
        if (!isdigit((unsigned char)text[i]) || (i > 0 && (isalnum((unsigned char)text[i - 1]) || text[i - 1] == '.' || text[i - 1] == ','))) continue;
        size_t j = i;
        while (j < n && (isdigit((unsigned char)text[j]) || ((text[j] == '.' || text[j] == ',') && j + 1 < n && isdigit((unsigned char)text[j + 1])))) j++;
        size_t k = j;
        while (k < n && text[k] == ' ') k++;
        int tscale = -1;
        if (!strncasecmp(text + k, "million", 7)) tscale = 2;
        else if (!strncasecmp(text + k, "billion", 7)) tscale = 3;
        else if (!strncasecmp(text + k, "thousand", 8)) tscale = 1;
        if (tscale < 0) { i = j; continue; }
        amounts++;
        char num[64];
        size_t L = j - i < sizeof num - 1 ? j - i : sizeof num - 1;
        memcpy(num, text + i, L);
        num[L] = 0;
        rg_dec x;
        int fl;
        if (!rg_dec_parse(num, &x, &fl, NULL) || x.m == 0) { i = j; continue; }
        int places = x.e;
        for (int r = tb->hr; r < R; r++)
            for (int c = tb->hc; c < C; c++) {
                size_t ix = (size_t)r * C + c;
                if (!tb->isnum[ix] || tb->ispct[ix]) continue;
                rg_dec v = tb->val[ix];
                if (v.m < 0) v.m = -v.m;
                if (v.m < 100) continue;   /* too few digits to tell */
                for (int s = 0; s < 4; s++) {
                    /* v * 1000^s / 1000^tscale, rounded like the text */
                    rg_dec w = v;
                    for (int k2 = 0; k2 < s; k2++) w = rg_dec_mul(w, rg_dec_int(1000));
                    for (int k2 = 0; k2 < tscale; k2++) w = rg_dec_div(w, rg_dec_int(1000));
                    w = rg_dec_round(w, places);
                    if (w.ok && rg_dec_cmp(w, x) == 0) votes[s]++;
                }
            }
        i = j;
    }
    int best = 0;
    for (int s = 1; s < 4; s++) if (votes[s] > votes[best]) best = s;
    if (best > 0 && votes[best] > votes[0]) snprintf(tb->scale, sizeof tb->scale, "%s", names[best]);
}

int rs_table_build(rs_table *tb, const rg_table *t, const char *context_text) {
    memset(tb, 0, sizeof *tb);
    if (!t || t->nrows <= 0 || t->ncols <= 0 || t->nrows > 4096 || t->ncols > 4096 || !t->cells) return -1;
    int R = t->nrows, C = t->ncols;
    tb->t = t;
    size_t N = (size_t)R * (size_t)C;
    tb->val = xcalloc(N, sizeof *tb->val);
    tb->isnum = xcalloc(N, 1);
    tb->ispct = xcalloc(N, 1);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            int pct = 0;
            size_t i = (size_t)r * C + c;
            if (value_cell(rs_cell_raw(tb, r, c), &tb->val[i], &pct)) { tb->isnum[i] = 1; tb->ispct[i] = (unsigned char)pct; }
        }
    /* label columns: leading columns with no numbers below the first row */
    tb->hc = 0;
    for (int c = 0; c < C - 1; c++) {
        int nums = 0, text = 0;
        for (int r = 1; r < R; r++) {
            const char *raw = rs_cell_raw(tb, r, c);
            if (tb->isnum[(size_t)r * C + c] && !year_cell(raw)) nums++;
            else if (!blank(raw)) text++;
        }
        if (nums == 0 && text > 0) tb->hc = c + 1;
        else break;
    }
    if (tb->hc == 0 && C > 1) tb->hc = 1;
    /* header rows: leading rows with no value cell (years do not count as values) */
    tb->hr = 0;
    for (int r = 0; r < R - 1; r++) {
        int values = 0;
        for (int c = tb->hc; c < C; c++) {
            const char *raw = rs_cell_raw(tb, r, c);
            if (tb->isnum[(size_t)r * C + c] && !year_cell(raw)) values++;
        }
        if (values) break;
        /* a row with a label and nothing else is a section, not a header, once headers began */
        int nonblank = 0;
        for (int c = tb->hc; c < C; c++) if (!blank(rs_cell_raw(tb, r, c))) nonblank++;
        if (!nonblank && tb->hr > 0 && !blank(rs_cell_raw(tb, r, 0))) break;
        tb->hr = r + 1;
    }
    /* a row of years near the top is a header even when a stray fragment above it ("31,"
     * from "December 31,") looked like a value */
    for (int r = 0; r < R - 1 && r < 5; r++) {
        int years = 0, values = 0;
        for (int c = tb->hc; c < C; c++) {
            const char *raw = rs_cell_raw(tb, r, c);
            if (year_cell(raw)) years++;
            else if (tb->isnum[(size_t)r * C + c]) values++;
        }
        if (years >= 2 && values == 0 && tb->hr <= r) tb->hr = r + 1;
    }
    if (tb->hr >= R) tb->hr = R - 1;
    /* column headers, carrying a spanning header cell right in all but the last header row */
    tb->colhead = xcalloc((size_t)C, sizeof *tb->colhead);
    tb->col_year = xcalloc((size_t)C, sizeof *tb->col_year);
    tb->cw = xcalloc((size_t)C, sizeof *tb->cw);
    for (int c = 0; c < C; c++) {
        rg_buf b = {0};
        for (int r = 0; r < tb->hr; r++) {
            const char *raw = rs_cell_raw(tb, r, c);
            if (blank(raw) && r < tb->hr - 1 && c > tb->hc) {
                for (int k = c - 1; k >= tb->hc; k--)
                    if (!blank(rs_cell_raw(tb, r, k))) { raw = rs_cell_raw(tb, r, k); break; }
            }
            if (blank(raw)) continue;
            if (b.len) rg_buf_putc(&b, ' ');
            rg_buf_puts(&b, raw);
        }
        tb->colhead[c] = rg_buf_take(&b);
        /* "2 0 1 8" (letter-spaced in the source PDF) is a year */
        for (char *h = tb->colhead[c]; *h; h++) {
            if (isdigit((unsigned char)h[0]) && h[1] == ' ' && isdigit((unsigned char)h[2]) && h[3] == ' ' &&
                isdigit((unsigned char)h[4]) && h[5] == ' ' && isdigit((unsigned char)h[6]) &&
                (h == tb->colhead[c] || !isalnum((unsigned char)h[-1])) && !isalnum((unsigned char)h[7])) {
                h[1] = h[2]; h[2] = h[4]; h[3] = h[6];
                memmove(h + 4, h + 7, strlen(h + 7) + 1);
            }
        }
        rs_tokenize(tb->colhead[c], &tb->cw[c], RS_MAXW);
        /* the year: from the column's own header cell nearest the data that names one; a cell
         * like "2019 vs 2018" or "% change" is not a year column */
        int decided = 0;
        for (int r = tb->hr - 1; r >= 0 && !decided; r--) {
            const char *raw = rs_cell_raw(tb, r, c);
            rs_words w;
            rs_tokenize(raw, &w, 32);
            int ny = 0, y = 0;
            for (int i = 0; i < w.n; i++) if (w.v[i].year) { if (!y) y = w.v[i].year; ny++; }
            rs_words_free(&w);
            if (!ny) continue;
            decided = 1;
            if (ny == 1 && !strchr(raw, '%') && !strstr(raw, "hange")) tb->col_year[c] = y;
        }
        if (!decided) {
            for (int i = 0; i < tb->cw[c].n; i++)
                if (tb->cw[c].v[i].year) { tb->col_year[c] = tb->cw[c].v[i].year; break; }
            int ny = 0;
            for (int i = 0; i < tb->cw[c].n; i++) if (tb->cw[c].v[i].year) ny++;
            /* a year carried from a spanning header ("2019" over "$" and "% of total") still holds */
            if (ny > 1 || strstr(tb->colhead[c], "hange")) tb->col_year[c] = 0;
        }
        if (c < tb->hc) tb->col_year[c] = 0;
    }
    /* row labels and sections */
    tb->rowlab = xcalloc((size_t)R, sizeof *tb->rowlab);
    tb->section = xcalloc((size_t)R, sizeof *tb->section);
    tb->is_section = xcalloc((size_t)R, sizeof *tb->is_section);
    tb->row_year = xcalloc((size_t)R, sizeof *tb->row_year);
    tb->rw = xcalloc((size_t)R, sizeof *tb->rw);
    int cur = -1;
    for (int r = 0; r < R; r++) {
        rg_buf b = {0};
        for (int c = 0; c < tb->hc; c++) {
            const char *raw = rs_cell_raw(tb, r, c);
            if (blank(raw)) continue;
            if (b.len) rg_buf_putc(&b, ' ');
            rg_buf_puts(&b, raw);
        }
        tb->section[r] = -1;
        int vals = 0;
        for (int c = tb->hc; c < C; c++) if (!blank(rs_cell_raw(tb, r, c))) vals++;
        /* an unlabelled row of values closing a section is that section's total; closing the
         * table, the table's total */
        if (r >= tb->hr && !b.len && vals && cur >= 0) {
            rg_buf_puts(&b, "Total ");
            rg_buf_puts(&b, tb->rowlab[cur]);
            while (b.len && (b.data[b.len - 1] == ':' || b.data[b.len - 1] == ' ')) b.data[--b.len] = 0;
        } else if (r >= tb->hr + 2 && r == R - 1 && !b.len && vals && tb->hc > 0) {
            rg_buf_puts(&b, "Total");
        }
        tb->rowlab[r] = rg_buf_take(&b);
        rs_tokenize(tb->rowlab[r], &tb->rw[r], RS_MAXW);
        if (r < tb->hr) continue;
        if (!vals && !blank(tb->rowlab[r])) { tb->is_section[r] = 1; cur = r; continue; }
        tb->section[r] = cur;
        if (!strncasecmp(tb->rowlab[r], "total", 5)) cur = -1;
        for (int i = 0; i < tb->rw[r].n; i++) if (tb->rw[r].v[i].year) { tb->row_year[r] = tb->rw[r].v[i].year; break; }
    }
    int ycols = 0, yrows = 0;
    for (int c = 0; c < C; c++) if (tb->col_year[c]) ycols++;
    for (int r = tb->hr; r < R; r++) if (tb->row_year[r]) yrows++;
    tb->years_on_cols = ycols > 0;
    tb->years_on_rows = !ycols && yrows >= 2;
    /* scale: header cells and labels, the caption, explicit phrases in the surrounding text,
     * figures the text quotes; the parser's t->scale last, since parsers also take it from
     * loose text ("$3.0 million" in a sentence) */
    tb->scale[0] = 0;
    if (t->caption) rs_scale_in_text(t->caption, tb->scale, 0);
    for (int r = 0; r < tb->hr && !tb->scale[0]; r++)
        for (int c = 0; c < C && !tb->scale[0]; c++) rs_scale_in_text(rs_cell_raw(tb, r, c), tb->scale, 1);
    for (int r = tb->hr; r < R && !tb->scale[0]; r++)
        if (tb->is_section[r] || r == tb->hr) rs_scale_in_text(tb->rowlab[r], tb->scale, 0);
    /* a body row without figures that states the unit in any of its cells: "| | (in millions) |" */
    for (int r = tb->hr; r < R && !tb->scale[0]; r++) {
        int vals = 0;
        for (int c = 0; c < C; c++) vals += tb->isnum[r * C + c];
        for (int c = 0; c < C && !vals && !tb->scale[0]; c++) rs_scale_in_text(rs_cell_raw(tb, r, c), tb->scale, 0);
    }
    if (!tb->scale[0] && context_text) rs_scale_in_text(context_text, tb->scale, 0);
    if (!tb->scale[0] && context_text) infer_scale(tb, context_text);
    /* ... and only when the reasoner was not given the text to judge for itself: the parsers
     * also take a scale from any "$3.0 million" in a sentence */
    if (!tb->scale[0] && (!context_text || !*context_text)) snprintf(tb->scale, sizeof tb->scale, "%s", t->scale);
    return 0;
}

void rs_table_free(rs_table *tb) {
    if (!tb->t) return;
    int R = tb->t->nrows, C = tb->t->ncols;
    for (int r = 0; r < R; r++) { free(tb->rowlab[r]); rs_words_free(&tb->rw[r]); }
    for (int c = 0; c < C; c++) { free(tb->colhead[c]); rs_words_free(&tb->cw[c]); }
    free(tb->rowlab); free(tb->section); free(tb->is_section); free(tb->row_year); free(tb->rw);
    free(tb->colhead); free(tb->col_year); free(tb->cw);
    free(tb->val); free(tb->isnum); free(tb->ispct);
    memset(tb, 0, sizeof *tb);
}
