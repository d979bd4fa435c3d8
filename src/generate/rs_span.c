/* generate/rs_span: answers taken from paragraph text. Sentences are scored against the
 * question's content words (weighted by how rare each word is in the evidence); from the best
 * sentence the shortest part that answers is cut: an amount for "how much" questions, the
 * clause after "due to"/"because" for why-questions, what follows "is"/"consists of"/"includes"
 * after the asked-about words for definitions (up to a new clause: "; ", ", while"), a name or
 * place for who/where, a date or year for "when did", else the sentence itself. A question
 * about a year is answered only by a sentence naming that year (or none, when the tables do not
 * show the year missing). */
#include "generate/rs_internal.h"
#include "core/util.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int para; size_t start, end; } sent;

/* Sentence ends: ". ", "? ", "! " before an upper-case letter, digit or quote, not after a
 * one- or two-letter abbreviation such as "U.S." or "No.". */
static int split_sents(const char *t, int para, sent **out, int *n, int *cap) {
    size_t len = strlen(t);
    size_t st = 0;
    while (st < len && isspace((unsigned char)t[st])) st++;
    for (size_t i = st; i < len; i++) {
        int end = 0;
        if ((t[i] == '.' || t[i] == '?' || t[i] == '!' || t[i] == ';') && (i + 1 == len || isspace((unsigned char)t[i + 1]))) {
            size_t j = i + 1;
            while (j < len && isspace((unsigned char)t[j])) j++;
            if (j >= len) end = 1;
            else if (t[i] == ';') end = 0;
            else if (isupper((unsigned char)t[j]) || isdigit((unsigned char)t[j]) || t[j] == '"' || (unsigned char)t[j] >= 0x80) {
                size_t k = i;
                while (k > st && isalpha((unsigned char)t[k - 1])) k--;
                size_t wl = i - k;
                int abbrev = (wl <= 2 && wl > 0 && isupper((unsigned char)t[k])) || (k > st && t[k - 1] == '.');
                if (!abbrev || wl == 0) end = 1;
            }
        }
        if (end || i + 1 == len) {
            size_t e = i + 1;
            if (e > st) {
                if (*n == *cap) { *cap = *cap ? *cap * 2 : 64; *out = xrealloc(*out, (size_t)*cap * sizeof **out); }
                (*out)[(*n)++] = (sent){para, st, e};
            }
            st = e;
            while (st < len && isspace((unsigned char)t[st])) st++;
            i = st ? st - 1 : 0;
            if (*n > 4000) return 0;
        }
    }
    return 0;
}

static char *trim_dup(const char *s, size_t a, size_t b) {
    while (a < b && (isspace((unsigned char)s[a]) || s[a] == ',' || s[a] == ':')) a++;
    /* a footnote marker "(1) " or "1 " opening the sentence */
    if (a + 3 < b && s[a] == '(' && isalnum((unsigned char)s[a + 1]) && s[a + 2] == ')') a += 3;
    while (a < b && isspace((unsigned char)s[a])) a++;
    while (b > a && (isspace((unsigned char)s[b - 1]) || s[b - 1] == '.' || s[b - 1] == ',' || s[b - 1] == ';')) b--;
    return xstrndup(s + a, b - a);
}

static size_t find_ci(const char *s, size_t a, size_t b, const char *pat) {
    size_t pl = strlen(pat);
    for (size_t i = a; i + pl <= b; i++)
        if (!strncasecmp(s + i, pat, pl) && (i == 0 || !isalnum((unsigned char)s[i - 1]))) return i;
    return (size_t)-1;
}

/* An amount in s[a,b): "$25.7 million", "12.5%", "1,234 shares". Picks the one nearest `near`. */
/* Length of a currency code glued before position i ("US$", "INR19", "RMB77"), else 0. */
static size_t code_before(const char *s, size_t a, size_t i) {
    size_t k = i;
    while (k > a && isupper((unsigned char)s[k - 1]) && i - k < 3) k--;
    if (i - k < 1 || (k > a && isalnum((unsigned char)s[k - 1]))) return 0;
    if (s[i] != '$' && i - k < 2) return 0;
    return i - k;
}

static int find_amount(const char *s, size_t a, size_t b, size_t near, size_t *ra, size_t *rb) {
    long best = -1;
    size_t ba = 0, bb = 0;
    for (size_t i = a; i < b; i++) {
        int cur = (s[i] == '$') || ((unsigned char)s[i] == 0xE2 && i + 2 < b && (unsigned char)s[i + 1] == 0x82) ||
                  ((unsigned char)s[i] == 0xC2 && i + 1 < b && ((unsigned char)s[i + 1] == 0xA3));
        if (!cur && !isdigit((unsigned char)s[i])) continue;
        size_t code = code_before(s, a, i);
        if (code && isdigit((unsigned char)s[i])) cur = 1;
        if (!code && i > a && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.' || s[i - 1] == ',')) continue;
        size_t j = i;
        if (s[j] == '$') j++;
        else if ((unsigned char)s[j] == 0xE2) j += 3;
        else if ((unsigned char)s[j] == 0xC2) j += 2;
        while (j < b && s[j] == ' ') j++;
        size_t ds = j;
        while (j < b && (isdigit((unsigned char)s[j]) || ((s[j] == ',' || s[j] == '.') && j + 1 < b && isdigit((unsigned char)s[j + 1])))) j++;
        if (j == ds) continue;
        /* a bare year is not an amount */
        if (!cur && j - ds == 4 && (s[ds] == '1' || s[ds] == '2') && !(j < b && s[j] == '%')) {
            size_t k = j;
            while (k < b && s[k] == ' ') k++;
            if (!(k < b && (!strncasecmp(s + k, "million", 7) || !strncasecmp(s + k, "billion", 7)))) { i = j; continue; }
        }
        size_t e = j;
        if (e < b && s[e] == '%') e++;
        else {
            size_t k = e;
            while (k < b && s[k] == ' ') k++;
            static const char *sc[] = {"million", "billion", "thousand", "percent", "years", "year", "months",
                "days", "shares", "m ", "bn ", "m.", "bn.", "m,", "p ", "p.", NULL};
            for (int q = 0; sc[q]; q++) {
                size_t L = strlen(sc[q]);
                int glued = sc[q][L - 1] == ' ' || sc[q][L - 1] == '.' || sc[q][L - 1] == ',';
                if (glued && k != e) continue;            /* "£59.1m": the letter sits on the number */
                if (!strncasecmp(s + k, sc[q], L) && (glued || k + L >= b || !isalpha((unsigned char)s[k + L]))) {
                    e = k + (glued ? L - 1 : L);
                    break;
                }
            }
            if (e == j && k + 1 >= b && (s[k] == 'm' || s[k] == 'p')) e = k + 1;
        }
        /* a day of a month or a bare small count is rarely the amount asked for */
        int unit = cur || e > j;
        int dateish = 0;
        {
            static const char *months[] = {"january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december", NULL};
            size_t k = i;
            while (k > a && s[k - 1] == ' ') k--;
            for (int m = 0; months[m]; m++) {
                size_t L = strlen(months[m]);
                if (k >= a + L && !strncasecmp(s + k - L, months[m], L)) dateish = 1;
                if (!strncasecmp(s + j + (s[j] == ' '), months[m], L)) dateish = 1;
            }
            if (j < b && s[j] == ',' && j + 6 <= b && isdigit((unsigned char)s[j + 2]) && (s[j + 2] == '1' || s[j + 2] == '2')) dateish = 1;
        }
        if (dateish && !cur) { i = j; continue; }
        /* units written out after the number: "29 per cent", "150,000 square feet" */
        {
            size_t k = e;
            while (k < b && s[k] == ' ') k++;
            if (!strncasecmp(s + k, "per cent", 8)) { e = k + 8; unit = 1; }
            else if (!strncasecmp(s + k, "square feet", 11)) { e = k + 11; unit = 1; }
        }
        size_t st = i - code;
        long d = (long)(i > near ? i - near : near - i) + (unit ? 0 : 100000);
        if (best < 0 || d < best) { best = d; ba = st; bb = e; }
        i = j;
    }
    if (best < 0) return 0;
    *ra = ba; *rb = bb;
    return 1;
}

/* No invented answers: a question about a year is answered only by a sentence that names that
 * year, or names no year at all while the tables do not show the year missing. */
static int years_fit(const rs_question *q, const rs_words *sw, const char *t) {
    if (!q->nyears) return 1;
    int any = 0;
    for (int k = 0; k < sw->n; k++) {
        if (!sw->v[k].year) continue;
        /* "US$261,518 (2018: US$283,752)": a comparative in brackets; the sentence is about the
         * period the text is written for */
        for (int i = 0; i < q->nyears; i++) if (sw->v[k].year == q->years[i]) return 1;
        int st = sw->v[k].start, en = sw->v[k].end;
        if (st > 0 && t[st - 1] == '(' && t[en] == ':') continue;
        any = 1;
    }
    return !any && !q->tables_lack_year;
}

/* ---- the constituent that answers a wh-word ---- */

static int is_cap_word(const char *t, const rs_word *w) {
    unsigned char c = (unsigned char)t[w->start];
    if (!isupper(c)) return 0;
    /* an acronym ("AGM", "U.S") names no person or place */
    int low = 0;
    for (int i = w->start; i < w->end; i++) if (islower((unsigned char)t[i])) low = 1;
    return low || w->end - w->start == 1;
}

static int fn_word(const char *const *fn, const char *w) {
    for (int i = 0; fn[i]; i++) if (!strcmp(w, fn[i])) return 1;
    return 0;
}

static int in_question(const rs_question *q, const rs_word *w) {
    for (int i = 0; i < q->w.n; i++) if (!strcmp(q->w.v[i].stem, w->stem)) return 1;
    return 0;
}

/* "Who ...?" / "Where ...?": the proper-noun phrase (capitalised words, joined by "of", "and",
 * "&", initials, and for places by ", ") nearest to the question's words in the sentence, that
 * the question does not itself name. Sentence-initial function words ("The", "Our") are not
 * names. `place` asks for a phrase right after "in"/"at". Returns a malloc'd span or NULL. */
static char *proper_noun_span(const rs_question *q, const char *t, const rs_words *sw, int place) {
    static const char *fn[] = {"the", "our", "we", "in", "on", "at", "a", "an", "this", "these", "its", "it",
        "as", "for", "during", "since", "after", "before", "by", "if", "when", "while", "and", "but", "of", NULL};
    long best = -1;
    int bs = -1, be = -1;
    for (int k = 0; k < sw->n; k++) {
        if (!is_cap_word(t, &sw->v[k]) || sw->v[k].year) continue;
        if (fn_word(fn, sw->v[k].w)) continue;
        /* "U.S": a letter glued to a dot is an abbreviation, not the start of a name */
        if (sw->v[k].start > 0 && t[sw->v[k].start - 1] == '.') continue;
        /* extend the run */
        int e = k, nw = 1;
        while (e + 1 < sw->n) {
            int n1 = e + 1;
            const char *gap = t + sw->v[e].end;
            int glen = sw->v[n1].start - sw->v[e].end;
            int ok_gap = glen == 1 && gap[0] == ' ';
            ok_gap |= glen == 2 && gap[0] == '.' && gap[1] == ' ';           /* "R. Kaiser" */
            ok_gap |= place && glen == 2 && gap[0] == ',' && gap[1] == ' ';  /* "San Diego, California" */
            if (!ok_gap) break;
            if (is_cap_word(t, &sw->v[n1]) && !sw->v[n1].year && !fn_word(fn, sw->v[n1].w)) { e = n1; nw++; continue; }
            /* "Board of Directors", "Ernst & Young" */
            if ((!strcmp(sw->v[n1].w, "of") || !strcmp(sw->v[n1].w, "and")) && n1 + 1 < sw->n &&
                sw->v[n1 + 1].start == sw->v[n1].end + 1 && is_cap_word(t, &sw->v[n1 + 1])) { e = n1 + 1; nw++; continue; }
            break;
        }
        /* a run ends on a word, not an initial */
        while (e > k && sw->v[e].end - sw->v[e].start == 1) { e--; nw--; }
        if (sw->v[e].end - sw->v[e].start == 1) continue;
        int named = 1;
        for (int i = k; i <= e; i++) if (is_cap_word(t, &sw->v[i]) && !in_question(q, &sw->v[i])) named = 0;
        if (named) { k = e; continue; }
        if (place) {
            int prep = k > 0 && (!strcmp(sw->v[k - 1].w, "in") || !strcmp(sw->v[k - 1].w, "at"));
            if (!prep) { k = e; continue; }
        }
        /* distance in words to the nearest question word in the sentence */
        long d = 100000;
        for (int j = 0; j < sw->n; j++) {
            if (j >= k && j <= e) continue;
            int m = 0;
            for (int i = 0; i < q->w.n && !m; i++) if (q->content[i] && !strcmp(q->w.v[i].stem, sw->v[j].stem)) m = 1;
            if (!m) continue;
            long dj = j < k ? k - j : j - e;
            if (dj < d) d = dj;
        }
        /* a person's name is usually two or more words */
        if (nw == 1) d += 2;
        if (best < 0 || d < best) { best = d; bs = k; be = e; }
        k = e;
    }
    if (bs < 0) return NULL;
    return xstrndup(t + sw->v[bs].start, (size_t)(sw->v[be].end - sw->v[bs].start));
}

int rs_text_answer(const rs_question *q, const char *question, const rg_evidence *ev, rs_span_ans *out) {
    memset(out, 0, sizeof *out);
    if (!ev || ev->nparas <= 0) return 0;
    sent *ss = NULL;
    int ns = 0, cap = 0;
    for (int p = 0; p < ev->nparas && p < 512 && ns < 4000; p++)   /* bounded work on any input */
        if (ev->paras[p].text) split_sents(ev->paras[p].text, p, &ss, &ns, &cap);
    if (!ns) { free(ss); return 0; }
    /* document frequency of question words across sentences */
    int nq = q->w.n;
    double *idf = xcalloc((size_t)nq + 1, sizeof *idf);
    rs_words *sw = xcalloc((size_t)ns, sizeof *sw);
    for (int s = 0; s < ns; s++) {
        char *txt = xstrndup(ev->paras[ss[s].para].text + ss[s].start, ss[s].end - ss[s].start);
        rs_tokenize(txt, &sw[s], 2048);
        free(txt);
    }
    for (int i = 0; i < nq; i++) {
        if (!q->content[i] && !q->w.v[i].year) continue;
        int df = 0;
        for (int s = 0; s < ns; s++)
            for (int k = 0; k < sw[s].n; k++) if (!strcmp(sw[s].v[k].stem, q->w.v[i].stem)) { df++; break; }
        idf[i] = df ? log(1.0 + (double)ns / df) : 0;
    }
    int best = -1;
    double bestsc = 0, total = 0;
    for (int i = 0; i < nq; i++) total += idf[i];
    for (int s = 0; s < ns; s++) {
        if (!years_fit(q, &sw[s], ev->paras[ss[s].para].text + ss[s].start)) continue;
        double sc = 0;
        for (int i = 0; i < nq; i++) {
            if (idf[i] == 0) continue;
            for (int k = 0; k < sw[s].n; k++) if (!strcmp(sw[s].v[k].stem, q->w.v[i].stem)) { sc += idf[i]; break; }
        }
        /* consecutive question words in the sentence (phrases) count extra */
        for (int i = 0; i + 1 < nq; i++) {
            if (!q->content[i] || !q->content[i + 1]) continue;
            for (int k = 0; k + 1 < sw[s].n; k++)
                if (!strcmp(sw[s].v[k].stem, q->w.v[i].stem) && !strcmp(sw[s].v[k + 1].stem, q->w.v[i + 1].stem)) { sc += 0.5 * idf[i + 1]; break; }
        }
        /* a heading ("OTHER OPERATING EXPENSE") is not an answer */
        if (sw[s].n < 5) sc *= 0.5;
        /* a sentence that introduces a table or list does not answer */
        {
            const char *t = ev->paras[ss[s].para].text + ss[s].start;
            size_t L = ss[s].end - ss[s].start;
            char *low = xstrndup(t, L);
            for (char *x = low; *x; x++) *x = (char)tolower((unsigned char)*x);
            if (strstr(low, "following table") || strstr(low, "table below") || strstr(low, "as follows") ||
                strstr(low, "table sets forth") || strstr(low, "table summarizes") || strstr(low, "table presents") ||
                strstr(low, "table shows") || (L > 0 && t[L - 1] == ':'))
                sc *= 0.5;
            free(low);
        }
        if (sc > bestsc) { bestsc = sc; best = s; }
    }
    int found = 0;
    /* "What does the table show?": the sentence that introduces the table, after its verb */
    int about_table = 0;
    {
        char *low = xstrdup(question);
        for (char *x = low; *x; x++) *x = (char)tolower((unsigned char)*x);
        about_table = strstr(low, "table") && (strstr(low, "show") || strstr(low, "represent") || strstr(low, "present") ||
                      strstr(low, "summar") || strstr(low, "illustrat") || strstr(low, "provide") || strstr(low, "information")) &&
                      !strstr(low, "year");
        free(low);
    }
    if (about_table) {
        static const char *verbs[] = {" shows ", " show ", " presents ", " summarizes ", " summarises ", " represents ",
            " provides ", " includes ", " reflects ", " details ", " illustrates ", " outlines ", " sets out ",
            " sets forth ", " displays ", " lists ", " contains ", NULL};
        for (int s2 = 0; s2 < ns && !found; s2++) {
            const char *t = ev->paras[ss[s2].para].text;
            size_t a = ss[s2].start, b = ss[s2].end;
            if (find_ci(t, a, b, "table") == (size_t)-1) continue;
            for (int v = 0; verbs[v]; v++) {
                size_t h = find_ci(t, a, b, verbs[v] + 1);
                if (h == (size_t)-1) continue;
                size_t from = h + strlen(verbs[v]) - 1;
                if (!strcmp(verbs[v], " sets forth ")) from = h;
                out->spans = xcalloc(1, sizeof *out->spans);
                out->spans[0] = trim_dup(t, from, b);
                out->n = 1;
                out->para = ss[s2].para;
                out->score = 0.5;
                out->recall = 1;
                found = 1;
                break;
            }
        }
        /* no sentence names the table: the one that introduces it ("The carrying value of goodwill
         * by segment was as follows:"), its subject without the article or an opening date */
        static const char *intro[] = {" were as follows", " was as follows", " are as follows", " is as follows",
            " is shown below", " are shown below", " is presented below", " are presented below", " consisted of the following",
            " consist of the following", " consists of the following", " are summarized below", " is summarized below", NULL};
        for (int s2 = 0; s2 < ns && !found; s2++) {
            const char *t = ev->paras[ss[s2].para].text;
            size_t a = ss[s2].start, b = ss[s2].end, cut = (size_t)-1;
            for (int v = 0; intro[v] && cut == (size_t)-1; v++) cut = find_ci(t, a, b, intro[v] + 1);
            if (cut == (size_t)-1 || cut <= a + 1) continue;
            if (cut > a) cut--;   /* the space before the verb */
            size_t from = a;
            while (from < cut && isspace((unsigned char)t[from])) from++;
            if (!strncasecmp(t + from, "as of ", 6) || !strncasecmp(t + from, "at ", 3)) {
                /* the comma after the date's year: "As of December 31, 2019, ..." */
                size_t cm = from;
                while (cm < cut && !(t[cm] == ',' && cm >= from + 4 && isdigit((unsigned char)t[cm - 1]) &&
                                     isdigit((unsigned char)t[cm - 4]))) cm++;
                if (cm < cut) from = cm + 1;
            }
            while (from < cut && isspace((unsigned char)t[from])) from++;
            if (!strncmp(t + from, "The ", 4)) from += 4;
            else if (!strncmp(t + from, "A ", 2)) from += 2;
            else if (!strncmp(t + from, "An ", 3)) from += 3;
            if (cut <= from + 3) continue;
            out->spans = xcalloc(1, sizeof *out->spans);
            out->spans[0] = trim_dup(t, from, cut);
            out->n = 1;
            out->para = ss[s2].para;
            out->score = 0.5;
            out->recall = 1;
            found = 1;
        }
        if (found) best = -1;
    }
    if (best >= 0 && total > 0) {
        const char *t = ev->paras[ss[best].para].text;
        size_t a = ss[best].start, b = ss[best].end;
        /* the end of the last question content word found in the sentence */
        size_t after = a;
        for (int k = 0; k < sw[best].n; k++)
            for (int i = 0; i < nq; i++)
                if (q->content[i] && !strcmp(sw[best].v[k].stem, q->w.v[i].stem)) { after = a + (size_t)sw[best].v[k].end; break; }
        char *span = q->yesno ? trim_dup(t, a, b) : NULL;
        int numeric_q = q->how_much || q->op == Q_LOOKUP || q->op == Q_CHANGE || q->op == Q_SUM || q->op == Q_AVG ||
                        (q->op == Q_PROPORTION && q->wants_pct);
        if (q->starts_why || strstr(question, "caused") || strstr(question, "reason") || strstr(question, "Why")) {
            static const char *because[] = {"primarily due to ", "mainly due to ", "due to ", "because of ", "because ",
                "as a result of ", "driven by ", "attributable to ", "resulting from ", "reflecting ", "primarily from ", NULL};
            for (int i = 0; because[i] && !span; i++) {
                size_t h = find_ci(t, a, b, because[i]);
                if (h != (size_t)-1) span = trim_dup(t, h, b);
            }
        }
        int wh_who = q->w.n && (!strcmp(q->w.v[0].w, "who") || !strcmp(q->w.v[0].w, "whom") ||
                                (q->w.n > 1 && !strcmp(q->w.v[0].w, "which") && !strcmp(q->w.v[1].w, "person")));
        int wh_where = q->w.n && !strcmp(q->w.v[0].w, "where");
        if (!span && (wh_who || wh_where)) {
            char *txt = xstrndup(t + a, b - a);
            span = proper_noun_span(q, txt, &sw[best], wh_where);
            free(txt);
        }
        int when_event = !strncasecmp(question, "when did", 8) || !strncasecmp(question, "when was", 8) ||
                         !strncasecmp(question, "when were", 9) || !strncasecmp(question, "when will", 9) ||
                         !strncasecmp(question, "when has", 8) || !strncasecmp(question, "when have", 9) ||
                         !strncasecmp(question, "when had", 8);
        if (!span && when_event) {
            static const char *months[] = {"January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December", NULL};
            for (size_t i = a; i < b && !span; i++)
                for (int m = 0; months[m] && !span; m++) {
                    size_t L = strlen(months[m]);
                    if (i + L > b || strncmp(t + i, months[m], L) || (i > a && isalpha((unsigned char)t[i - 1]))) continue;
                    size_t j = i + L;
                    while (j < b && (isdigit((unsigned char)t[j]) || t[j] == ' ' || t[j] == ',')) j++;
                    while (j > i + L && (t[j - 1] == ' ' || t[j - 1] == ',')) j--;
                    /* "27 May 2019": the day written before the month */
                    size_t i0 = i;
                    if (i0 >= a + 2 && t[i0 - 1] == ' ' && isdigit((unsigned char)t[i0 - 2])) {
                        size_t d0 = i0 - 2;
                        while (d0 > a && isdigit((unsigned char)t[d0 - 1])) d0--;
                        if (i0 - 1 - d0 <= 2 && (d0 == a || !isalnum((unsigned char)t[d0 - 1]))) i0 = d0;
                    }
                    if (j > i + L + 2) span = trim_dup(t, i0, j);
                }
            /* no date: the year the sentence names */
            for (int k = 0; k < sw[best].n && !span; k++)
                if (sw[best].v[k].year && isdigit((unsigned char)t[a + (size_t)sw[best].v[k].start]))
                    span = trim_dup(t, a + (size_t)sw[best].v[k].start, a + (size_t)sw[best].v[k].end);
        }
        if (!span && numeric_q) {
            size_t ra, rb;
            if (find_amount(t, a, b, after, &ra, &rb)) {
                span = trim_dup(t, ra, rb);
                out->numeric = 1;
                /* "268,000 and 108,000 shares for 2019 and 2018": the amount of the year asked */
                if (q->nyears == 1) {
                    size_t pos[8][2];
                    int na = 0;
                    size_t from = a, x0, x1;
                    while (na < 8 && find_amount(t, from, b, from, &x0, &x1)) { pos[na][0] = x0; pos[na][1] = x1; na++; from = x1; }
                    int sy[8], nsy = 0;
                    for (int k = 0; k < sw[best].n && nsy < 8; k++) if (sw[best].v[k].year) sy[nsy++] = sw[best].v[k].year;
                    if (na >= 2 && nsy == na)
                        for (int k = 0; k < na; k++)
                            if (sy[k] == q->years[0]) { free(span); span = trim_dup(t, pos[k][0], pos[k][1]); break; }
                }
                /* several values asked for ("in 2019 and 2018 respectively"): the amounts in order */
                int want = q->nyears >= 2 ? q->nyears : (q->respective ? 2 : 1);
                if (q->year_range && q->nyears == 2) {
                    int span_y = q->years[0] > q->years[1] ? q->years[0] - q->years[1] : q->years[1] - q->years[0];
                    want = span_y + 1 > 8 ? 8 : span_y + 1;
                }
                if (want >= 2) {
                    char *list[8];
                    int nl = 0;
                    /* all amounts of the sentence, and the years it lists: when they pair up, the
                     * amounts of the years asked, in the question's order */
                    char *all[8];
                    int na = 0;
                    size_t from = a;
                    while (na < 8 && find_amount(t, from, b, from, &ra, &rb)) { all[na++] = trim_dup(t, ra, rb); from = rb; }
                    int sy[8], nsy = 0;
                    for (int k = 0; k < sw[best].n && nsy < 8; k++) if (sw[best].v[k].year) sy[nsy++] = sw[best].v[k].year;
                    if (nsy == na && na > want && q->nyears >= 2) {
                        for (int yi = 0; yi < q->nyears && nl < 8; yi++)
                            for (int k = 0; k < na; k++) if (sy[k] == q->years[yi]) { list[nl++] = xstrdup(all[k]); break; }
                        if (nl != q->nyears) { for (int k = 0; k < nl; k++) free(list[k]); nl = 0; }
                    }
                    if (!nl) for (int k = 0; k < na && nl < want; k++) list[nl++] = xstrdup(all[k]);
                    for (int k = 0; k < na; k++) free(all[k]);
                    if (nl >= 2) {
                        free(span);
                        span = NULL;
                        out->spans = xcalloc((size_t)nl, sizeof *out->spans);
                        for (int i = 0; i < nl; i++) out->spans[i] = list[i];
                        out->n = nl;
                    } else
                        for (int i = 0; i < nl; i++) free(list[i]);
                }
            }
        }
        if (!span && !out->n && (!numeric_q || !q->nyears)) {
            /* what follows the asked-about words, past a linking verb: "X are comprised of Y" -> Y */
            static const char *links[] = {"is", "are", "was", "were", "has", "have", "had", "been", "be", "being",
                "comprised", "comprises", "comprise", "composed", "consists", "consist", "consisted", "of",
                "includes", "include", "included", "including", "represents", "represent", "represented",
                "refers", "refer", "means", "defined", "as", "primarily", "mainly", "principally", "largely",
                "calculated", "determined", "measured", "computed", "based", "on", "related", "relate", "relates",
                "to", "by", "amortised", "amortized", "recognized", "recognised", "recorded", "used", "for", "reflect", "reflects", NULL};
            /* last question word matched in the first run of matches */
            int lastk = -1, firstk = -1;
            /* the run ends once every question word the sentence holds has been met: the
             * answer may repeat them ("paid on cost-plus ... paid our costs plus a profit") */
            unsigned char *met = xcalloc((size_t)nq + 1, 1);
            int need = 0, got = 0;
            for (int i = 0; i < nq; i++) {
                if (!q->content[i]) continue;
                int dup = 0;
                for (int j = 0; j < i; j++) if (q->content[j] && !strcmp(q->w.v[j].stem, q->w.v[i].stem)) dup = 1;
                if (dup) continue;
                for (int k = 0; k < sw[best].n; k++) if (!strcmp(sw[best].v[k].stem, q->w.v[i].stem)) { need++; break; }
            }
            for (int k = 0; k < sw[best].n; k++) {
                if (need && got >= need) break;
                int m = 0;
                for (int i = 0; i < nq && !m; i++)
                    if (q->content[i] && !strcmp(sw[best].v[k].stem, q->w.v[i].stem)) {
                        m = 1;
                        int first = 1;
                        for (int j = 0; j < i; j++) if (q->content[j] && !strcmp(q->w.v[j].stem, q->w.v[i].stem)) first = 0;
                        if (first && !met[i]) { met[i] = 1; got++; }
                    }
                if (m) { if (firstk < 0) firstk = k; lastk = k; }
                else if (lastk >= 0 && k - lastk > 6) break;
                else if (lastk >= 0) {
                    /* the subject ends at its verb */
                    static const char *verbs[] = {"is", "are", "was", "were", "has", "have", "had", "comprised",
                        "comprises", "consists", "consist", "includes", "include", "represents", "represent",
                        "refers", "means", "reflect", "reflects", NULL};
                    int vb = 0;
                    for (int i = 0; verbs[i]; i++) if (!strcmp(sw[best].v[k].w, verbs[i])) vb = 1;
                    if (vb) {
                        /* ... unless the question's own verb follows: "are disclosed within" */
                        int ahead = 0;
                        for (int k2 = k + 1; k2 < sw[best].n && k2 <= k + 2 && !ahead; k2++)
                            for (int i = 0; i < nq && !ahead; i++)
                                if (q->content[i] && !strcmp(sw[best].v[k2].stem, q->w.v[i].stem)) ahead = 1;
                        if (!ahead) break;
                    }
                }
            }
            free(met);
            /* the question's last word ("related to?", "classified as?") belongs to the link */
            const char *qlast = q->w.n ? q->w.v[q->w.n - 1].w : "";
            if (lastk >= 0 && lastk + 1 < sw[best].n) {
                int k = lastk + 1, skipped = 0;
                /* a few words may sit between the subject and its verb: "... within the Group were" */
                for (int look = k; look < sw[best].n && look <= lastk + 3; look++) {
                    int lk = 0;
                    for (int i = 0; links[i]; i++) if (!strcmp(sw[best].v[look].w, links[i])) lk = 1;
                    if (lk && strcmp(sw[best].v[look].w, "to")) { k = look; break; }
                }
                while (k < sw[best].n) {
                    int lk = 0;
                    for (int i = 0; links[i]; i++) if (!strcmp(sw[best].v[k].w, links[i])) lk = 1;
                    if (!lk) break;
                    /* keep "to" when it opens a purpose ("to reduce"), unless the question ends in it */
                    if (!strcmp(sw[best].v[k].w, "to") && skipped == 0 && strcmp(qlast, "to")) break;
                    /* "How is X calculated?" - "by adding ...": the means keeps its "by"; "How is X
                     * defined?" - "as ...": the definition keeps its "as" */
                    if (q->starts_how && !strcmp(sw[best].v[k].w, "by") && strcmp(qlast, "by")) break;
                    if (!strcmp(sw[best].v[k].w, "as") && strcmp(qlast, "as") &&
                        (strstr(question, "define") || strstr(question, "Define"))) break;
                    k++; skipped++;
                }
                if ((skipped || firstk <= 2) && k < sw[best].n && sw[best].n - k >= 2) {
                    /* the answer ends where a new clause about something else begins */
                    size_t from = a + (size_t)sw[best].v[k].start, to = b;
                    static const char *cuts[] = {"; ", ", while ", ", whereas ", NULL};
                    for (int ci = 0; cuts[ci]; ci++) {
                        size_t L = strlen(cuts[ci]);
                        for (size_t h = from + 10; h + L <= to; h++)
                            if (!strncasecmp(t + h, cuts[ci], L)) { to = h; break; }
                    }
                    span = trim_dup(t, from, to);
                }
            }
        }
        if (!span) {
            static const char *defs[] = {" consists primarily of ", " consist primarily of ", " consists of ", " consist of ",
                " comprises ", " comprise ", " includes ", " include ", " represents ", " represent ", " refers to ",
                " relates to ", " related to ", " means ", " is defined as ", " are ", " is ", " was ", " were ", NULL};
            for (int i = 0; defs[i] && !span; i++) {
                size_t h = find_ci(t, after > a + 1 ? after - 1 : a, b, defs[i]);
                if (h != (size_t)-1 && h < after + 40) span = trim_dup(t, h + strlen(defs[i]), b);
            }
        }
        if (!span && !out->n) span = trim_dup(t, a, b);
        if (!out->n) {
            out->spans = xcalloc(1, sizeof *out->spans);
            out->spans[0] = span;
            out->n = 1;
        }
        out->para = ss[best].para;
        out->score = bestsc / total;
        int nc = 0, hit = 0;
        for (int i = 0; i < nq; i++) {
            if (!q->content[i]) continue;
            nc++;
            for (int k = 0; k < sw[best].n; k++) if (!strcmp(sw[best].v[k].stem, q->w.v[i].stem)) { hit++; break; }
        }
        out->recall = nc ? (double)hit / nc : 0;
        found = 1;
    }
    for (int s = 0; s < ns; s++) rs_words_free(&sw[s]);
    free(sw); free(idf); free(ss);
    return found;
}

void rs_span_ans_free(rs_span_ans *a) {
    for (int i = 0; i < a->n; i++) free(a->spans[i]);
    free(a->spans);
    memset(a, 0, sizeof *a);
}
