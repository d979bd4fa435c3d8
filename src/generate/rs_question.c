/* generate/rs_question: what a question asks, from general wording patterns (no rules for
 * particular questions): the operation, the years in order of mention, a comparison
 * direction, a numeric threshold, and which words name the thing asked about. */
#include "generate/rs_internal.h"
#include "core/util.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int has(const char *low, const char *p) { return strstr(low, p) != NULL; }

static int first_pos(const char *low, const char *const *ps) {
    int best = -1;
    for (int i = 0; ps[i]; i++) {
        const char *h = strstr(low, ps[i]);
        if (h && (best < 0 || h - low < best)) best = (int)(h - low);
    }
    return best;
}

static int has_any(const char *low, const char *const *ps) {
    for (int i = 0; ps[i]; i++) if (strstr(low, ps[i])) return 1;
    return 0;
}

void rs_question_parse(rs_question *q, const char *text) {
    memset(q, 0, sizeof *q);
    size_t n = strlen(text);
    if (n > 4096) n = 4096;
    char *low = xmalloc(n + 3);
    low[0] = ' ';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        low[i + 1] = (char)tolower(c);
    }
    low[n + 1] = ' '; low[n + 2] = 0;
    /* hyphens as spaces ("weighted-average", "year-over-year"), then collapse runs of spaces
     * so patterns with single spaces match */
    for (char *x = low; *x; x++) if (*x == '-') *x = ' ';
    {
        size_t j = 0;
        for (size_t i = 0; low[i]; i++) if (!(low[i] == ' ' && j && low[j - 1] == ' ')) low[j++] = low[i];
        low[j] = 0;
    }
    /* for the words, a comma between names counts as "and" ("A, B and C"), so lists split into
     * the things they name; a comma next to a number or year stays punctuation */
    rg_buf tb = {0};
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ',' && i > 0 && isalpha((unsigned char)text[i - 1]) && i + 2 < n && text[i + 1] == ' ' &&
            isalpha((unsigned char)text[i + 2])) {
            rg_buf_puts(&tb, " and");
            continue;
        }
        rg_buf_putc(&tb, text[i]);
    }
    char *tok_text = rg_buf_take(&tb);
    rs_tokenize(tok_text, &q->w, RS_MAXW);
    q->content = xcalloc((size_t)q->w.n + 1, 1);
    for (int i = 0; i < q->w.n && q->nyears < 8; i++) {
        int y = q->w.v[i].year;
        if (!y) continue;
        int dup = 0;
        for (int k = 0; k < q->nyears; k++) if (q->years[k] == y) dup = 1;
        if (!dup) q->years[q->nyears++] = y;
    }

    q->starts_how = !strncmp(low, " how ", 5) && !has(low, " how much") && !has(low, " how many");
    q->starts_why = !strncmp(low, " why ", 5);
    q->how_much = has(low, " how much ");
    q->respective = has(low, "respective");
    q->wants_pct = has(low, "percent") || has(low, "%");

    static const char *up[] = {" higher", " larger", " greater", " more ", " highest", " largest", " most ",
        " maximum", " exceed", " above ", " over ", " bigger", " biggest", " better", " best ", NULL};
    static const char *down[] = {" lower", " smaller", " less ", " least ", " lowest", " minimum", " below ",
        " under ", " fewer", " smallest", " worse", " worst", NULL};
    if (has_any(low, up)) q->cmp = 1;
    else if (has_any(low, down)) q->cmp = -1;

    /* a threshold: a number that is not a year ("exceed $50 million", "lower than $2.00") */
    for (int i = 0; i < q->w.n; i++) {
        rs_word *w = &q->w.v[i];
        if (!isdigit((unsigned char)w->w[0]) || w->year) continue;
        rg_dec v;
        int fl;
        if (!rg_dec_parse(w->w, &v, &fl, NULL)) continue;
        /* "from 2017 to 2019, how many of the 3 years" - small counts next to year words are not thresholds */
        if (i + 1 < q->w.n && (!strcmp(q->w.v[i + 1].stem, "year") || !strcmp(q->w.v[i + 1].stem, "quarter"))) continue;
        /* a threshold follows a comparison ("more than 50", "exceed 1.5"); a number inside a name
         * ("Scope 1 emissions", "a member aged 65") is not one */
        int cmpword = 0;
        for (int k = i - 1; k >= 0 && k >= i - 3 && !cmpword; k--) {
            static const char *cw[] = {"than", "exceed", "exceeds", "exceeded", "exceeding", "above", "over", "below",
                "under", "least", "most", "beyond", "surpass", "surpassed", "reach", "reached", "to", NULL};
            for (int j = 0; cw[j]; j++) if (!strcmp(q->w.v[k].w, cw[j])) cmpword = 1;
        }
        if (!cmpword) continue;
        /* "less than -3,000": the sign the words lost */
        size_t st = (size_t)w->start;
        if (st >= 1 && st < strlen(tok_text) && tok_text[st - 1] == '-' && (st == 1 || tok_text[st - 2] == ' ' || tok_text[st - 2] == '$'))
            v = rg_dec_neg(v);
        q->has_threshold = 1;
        q->threshold = v;
        if (i + 1 < q->w.n) {
            const char *nx = q->w.v[i + 1].w;
            if (!strncmp(nx, "million", 7) || !strcmp(nx, "m")) snprintf(q->thr_scale, sizeof q->thr_scale, "million");
            else if (!strncmp(nx, "billion", 7) || !strcmp(nx, "bn")) snprintf(q->thr_scale, sizeof q->thr_scale, "billion");
            else if (!strncmp(nx, "thousand", 8) || !strcmp(nx, "k")) snprintf(q->thr_scale, sizeof q->thr_scale, "thousand");
        }
        break;
    }

    /* "negative" / "positive": a threshold of zero */
    if (!q->has_threshold && (has(low, " negative") || has(low, " positive"))) {
        q->has_threshold = 1;
        q->threshold = rg_dec_int(0);
        q->cmp = has(low, " negative") ? -1 : 1;
    }
    /* "2019 to 2017", "2017-2019", "2017 through 2019": a range of years */
    for (int i = 0; i + 2 < q->w.n; i++) {
        if (!q->w.v[i].year || !q->w.v[i + 2].year) continue;
        const char *m = q->w.v[i + 1].w;
        if (!strcmp(m, "to") || !strcmp(m, "through") || !strcmp(m, "till") || !strcmp(m, "until")) q->year_range = 1;
    }
    for (int i = 0; i + 1 < q->w.n; i++) {
        if (!q->w.v[i].year || !q->w.v[i + 1].year) continue;
        /* adjacent tokens separated by a dash in the text */
        int a = q->w.v[i].end, b = q->w.v[i + 1].start;
        int dash = 0;
        for (int k = a; k < b && k < (int)strlen(tok_text); k++) if (tok_text[k] == '-' || (unsigned char)tok_text[k] == 0xE2) dash = 1;
        if (dash) q->year_range = 1;
    }
    static const char *pctchg[] = {"percentage change", "percent change", "% change", "percentage increase",
        "percentage decrease", "% increase", "% decrease", "growth rate", "rate of change", "percentage growth",
        "percent increase", "percent decrease", "percentage of change", "percentage difference",
        "% difference", "rate of increase", "rate of decrease", "percentage rise", "percentage decline",
        "change in percentage", "percentage point change", NULL};
    static const char *chg[] = {" change", "difference", " increase", " decrease", " how much more",
        " how much less", " how much higher", " how much lower", " growth", " grew", " decline", " fell ",
        " rose ", " reduction", " variance", " movement", " differ", NULL};
    static const char *prop[] = {" proportion", "percentage constitution", " constitute", " account for", " accounted for", " make up", "percentage of", "as a percentage", "what percent", "% of ",
        " portion", "percent of", "share of", NULL};
    static const char *which[] = {"which year", "what year", "which fiscal year", "which period", "which of the years",
        "which quarter", "which financial year", "which years", "what years", "which fiscal years", "which fy", "what fy", NULL};
    static const char *items[] = {"consist of", "consists of", "comprise", "components", "financial items",
        "what items", "which items", "what are the items", "categories", "what are the types", "types of",
        "breakdown", "made up of", "composed of", NULL};

    /* "average" not inside "weighted average ..." unless asked as "average weighted" */
    int avgpos = -1;
    for (const char *h = strstr(low, "average"); h; h = strstr(h + 1, "average")) {
        if (h - low >= 9 && !strncmp(h - 9, "weighted ", 9)) continue;
        avgpos = (int)(h - low);
        break;
    }
    if (avgpos < 0 && has(low, " mean ")) avgpos = (int)(strstr(low, " mean ") - low);
    /* among the arithmetic words the first one mentioned decides: "change in the average X"
     * is a change, "average change" an average */
    struct { rs_op op; int pos; } cand[5] = {
        {Q_PCT_CHANGE, first_pos(low, pctchg)}, {Q_AVG, avgpos}, {Q_RATIO, first_pos(low, (const char *const[]){" ratio", NULL})},
        {Q_PROPORTION, first_pos(low, prop)}, {Q_CHANGE, first_pos(low, chg)}};
    if (has(low, " caused") || has(low, " reason") || has(low, " why ") || q->starts_how) cand[4].pos = -1;
    if (has(low, "change in percentage") || has(low, "percentage point change")) cand[0].pos = -1;
    /* "percentage change" also contains "change": the longer phrase starts first and wins */
    rs_op arith = Q_LOOKUP;
    int bestpos = 1 << 30;
    for (int i = 0; i < 5; i++) if (cand[i].pos >= 0 && cand[i].pos < bestpos) { bestpos = cand[i].pos; arith = cand[i].op; }
    /* "change in the average X", "difference between average A and average B": a program of two
     * averages and their difference (the line may itself be named "Average ...", checked later) */
    q->avg_then_change = arith == Q_CHANGE && avgpos > bestpos;
    if (q->avg_then_change && strstr(low + avgpos + 1, "average")) q->avg_then_change = 2;   /* of two things */
    q->absolute = has(low, "absolute");
    /* "how many years/items/..." counts; "how many shares were granted" asks for a value */
    int howmany = 0;
    if (has(low, "how many") && !has(low, "how many percent")) {
        static const char *countable[] = {"year", "quarter", "month", "component", "item", "type", "categor",
            "segment", "countr", "region", "kind", "source", "element", "factor", "assumption", "line", "period",
            "group", "class", "market", "product", "major", "member", "director", "officer", "executive",
            "subsidiar", "customer", "business", "geograph", "plan", "scheme", "instrument", "asset", "liabilit",
            "expense", "cost", "revenue", "financial", "unit", "division", NULL};
        const char *h = strstr(low, "how many") + 8;
        char next[64] = "";
        int nw = 0;
        /* the words after "how many" */
        for (const char *p = h; *p && nw < 4; ) {
            while (*p == ' ') p++;
            const char *st = p;
            while (*p && *p != ' ') p++;
            size_t L = (size_t)(p - st);
            if (!L) break;
            if (strlen(next) + L + 2 < sizeof next) { strncat(next, st, L); strcat(next, " "); }
            nw++;
        }
        for (int i = 0; countable[i]; i++) if (strstr(next, countable[i])) howmany = 1;
        /* counting things other than years: lines of the table */
        q->count_lines = howmany && !strstr(next, "year") && !strstr(next, "quarter") && !strstr(next, "month") &&
                         !strstr(next, "period") && !strstr(next, "half");
        if (has(low, "shares") && !strstr(next, "year")) howmany = 0;
    }
    if (howmany && arith != Q_PCT_CHANGE && arith != Q_AVG && arith != Q_CHANGE) q->op = Q_COUNT;
    else if (howmany) q->op = arith;
    else if (has_any(low, which) && (q->cmp || q->has_threshold || arith == Q_LOOKUP)) q->op = q->cmp || q->has_threshold ? Q_WHICH_YEAR : Q_YEARS_LIST;
    else if (has_any(low, which) && !q->cmp && !q->has_threshold &&
             (has(low, " table") || has(low, "presented") || has(low, "provided") || has(low, "calculated") || has(low, "recorded")))
        q->op = Q_YEARS_LIST;
    else if (arith != Q_LOOKUP) q->op = arith;
    else if (has(low, " sum ") || has(low, "combined") || has(low, "in total") || has(low, "altogether") ||
             has(low, "aggregate")) q->op = Q_SUM;
    else if ((has(low, "total") && q->nyears >= 2 && !q->respective) ||
             (has(low, "total") && !q->respective && (has(low, " both years") || has(low, " all years") ||
                                                      has(low, " all three years") || has(low, " all 3 years"))) ||
             (has(low, " total ") && (has(low, " across ") || has(low, " all ")))) {
        q->op = Q_SUM;
        /* may be the name of a total line ("Total X in 2019 and 2018"), decided against the table;
         * "both", "between", "across", a range make it a sum for sure */
        q->sum_by_total = !(has(low, " both ") || has(low, " between ") || has(low, " across ") || has(low, " all ") ||
                            has(low, " from ") || q->year_range);
    }
    else if ((has(low, "what are the years") || has(low, "years included") || has(low, "years are") ||
              has(low, "years does") || has(low, "years do ")) && !q->cmp && !q->has_threshold)
        q->op = Q_YEARS_LIST;
    else if (has_any(low, items)) q->op = Q_ITEMS;
    else if (q->starts_why || q->starts_how || has(low, "what caused") || has(low, " reason") || has(low, "what led") ||
             has(low, "what does") || has(low, "what do ") || has(low, "what is the purpose") || has(low, " describe") ||
             has(low, "what happened") || has(low, " who ") || has(low, "what type") || has(low, " when ") ||
             has(low, " where "))
        q->op = Q_TEXT;
    else q->op = Q_LOOKUP;
    if (has(low, "how many percent")) q->wants_pct = 1;
    /* "difference between A and B" (no direction named) is reported as a positive gap */
    q->diff_word = has(low, "difference") && !has(low, " change") && !has(low, "increase") && !has(low, "decrease");
    /* explanations: the reason or the content of something, whatever else the wording holds */
    static const char *why[] = {" led to", "what led", " driven by", "due to?", "attributable to?", "what caused",
        " reason", " why ", "what factors", "what are the factors", "primarily relate", "mainly relate",
        "what could", "what is included in", "what are included in", "what is excluded", "what does the table",
        "what do the table", "table show", "table represent", "table illustrate", "table present", "table summari",
        "information does the table", "definition", NULL};
    if (has_any(low, why) && !(has(low, "table") && has(low, "year"))) q->op = Q_TEXT;
    /* yes/no questions are answered by the sentence that settles them */
    static const char *yesno[] = {" did ", " does ", " do ", " is ", " are ", " was ", " were ", " has ", " have ", " can ", NULL};
    for (int i = 0; yesno[i]; i++) if (!strncmp(low, yesno[i], strlen(yesno[i]))) { q->op = Q_TEXT; q->yesno = 1; }
    /* "What is X?" / "What are X?" with no year or figure words: a definition */
    {
        int yrs = q->nyears, figures = has(low, " amount") || has(low, " value") || has(low, " balance") ||
                                       has(low, " total") || has(low, " number") || has(low, " rate") || has(low, " price");
        if (!yrs && !figures && q->op == Q_LOOKUP && (!strncmp(low, " what is ", 9) || !strncmp(low, " what are ", 10)) &&
            q->w.n <= 7)
            q->op = Q_TEXT;
    }
    /* "which segment/item ... the largest": a comparison across lines, answered by a label */
    if ((q->op == Q_LOOKUP || q->op == Q_WHICH_YEAR || q->op == Q_YEARS_LIST || q->op == Q_TEXT) &&
        (has(low, "which ") || has(low, "what is the name")) && !has_any(low, which) && q->cmp)
        q->op = Q_WHICH_ENT;
    static const char *kinds[] = {" component", " item", " segment", " category", " region", " country",
        " product", " business", " geograph", " currency", " customer", " market", " division", " type", NULL};
    static const char *super[] = {" most ", " highest", " largest", " lowest", " least ", " smallest", " biggest", NULL};
    if ((q->op == Q_LOOKUP || q->op == Q_TEXT) && has_any(low, kinds) && has_any(low, super) && !has_any(low, which))
        q->op = Q_WHICH_ENT;
    /* "sum of" with an average or change elsewhere is still a sum */
    if ((q->op == Q_LOOKUP || q->op == Q_PROPORTION) && has(low, " sum of")) q->op = Q_SUM;

    /* content words */
    for (int i = 0; i < q->w.n; i++) {
        rs_word *w = &q->w.v[i];
        if (w->year || rs_stopword(w->stem) || rs_stopword(w->w)) continue;
        if (isdigit((unsigned char)w->w[0])) continue;
        q->content[i] = 1;
    }
    free(tok_text);
    free(low);
}

void rs_question_free(rs_question *q) {
    rs_words_free(&q->w);
    free(q->content);
    q->content = NULL;
}
