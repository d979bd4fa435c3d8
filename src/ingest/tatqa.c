/* ingest/tatqa: TAT-QA-shaped JSON (a list of {table: {uid, table: [[...]]}, paragraphs:
 * [{text, order}], questions}) into one document per object: the table first, then the
 * paragraphs in their order. Questions are not indexed. */
#include "ingest/formats.h"
#include "core/numparse.h"
#include "core/util.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define TATQA_MAX_ROWS 100000
#define TATQA_MAX_COLS 1000

/* Is lit inside p[0..n)? (a plain loop: the window is small) */
static int contains(const char *p, size_t n, const char *lit) {
    size_t m = strlen(lit);
    for (size_t i = 0; i + m <= n; i++)
        if (p[i] == lit[0] && memcmp(p + i, lit, m) == 0) return 1;
    return 0;
}

int rg_is_tatqa(const char *text, size_t len) {
    if (!text) return 0;
    size_t i = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) i = 3;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) i++;
    if (i >= len || text[i] != '[') return 0;
    /* the keys of the first object appear early; a bounded window keeps it cheap */
    size_t win = len - i < 65536 ? len - i : 65536;
    const char *p = text + i;
    return contains(p, win, "\"table\"") && contains(p, win, "\"uid\"") && contains(p, win, "\"paragraphs\"");
}

/* Cell text for a JSON value: strings as they are, numbers printed, anything else empty. */
static char *cell_text(json_t *v) {
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_integer(v)) return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v)) return xasprintf("%.15g", json_real_value(v));
    return xstrdup("");
}

static rg_table *read_table(json_t *rows, const char *source, const char *uid) {
    size_t R = json_array_size(rows), C = 0;
    if (R > TATQA_MAX_ROWS) {
        rg_err("%s: table %s has %zu rows (limit %d)", source, uid, R, TATQA_MAX_ROWS);
        return NULL;
    }
    for (size_t r = 0; r < R; r++) {
        json_t *row = json_array_get(rows, r);
        if (!json_is_array(row)) {
            rg_err("%s: table %s row %zu is not a list", source, uid, r + 1);
            return NULL;
        }
        if (json_array_size(row) > C) C = json_array_size(row);
    }
    if (C > TATQA_MAX_COLS) {
        rg_err("%s: table %s has %zu columns (limit %d)", source, uid, C, TATQA_MAX_COLS);
        return NULL;
    }
    rg_table *t = rg_table_new((int)R, (int)C);
    for (size_t r = 0; r < R; r++) {
        json_t *row = json_array_get(rows, r);
        for (size_t c = 0; c < C; c++) {
            char *s = cell_text(json_array_get(row, c));   /* NULL past a short row: "" */
            rg_table_set(t, (int)r, (int)c, s);
            free(s);
        }
    }
    return t;
}

typedef struct { long order; size_t idx; const char *text; } para_ref;
static int cmp_para(const void *a, const void *b) {
    const para_ref *x = a, *y = b;
    if (x->order != y->order) return x->order < y->order ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static rg_doc *read_context(json_t *obj, const char *source, size_t index) {
    json_t *table = json_object_get(obj, "table");
    const char *uid = json_string_value(json_object_get(table, "uid"));
    json_t *rows = json_object_get(table, "table");
    if (!uid || !*uid || !json_is_array(rows)) {
        rg_err("%s: item %zu has no table.uid or table.table", source, index + 1);
        return NULL;
    }
    rg_table *t = read_table(rows, source, uid);
    if (!t) return NULL;
    json_t *paras = json_object_get(obj, "paragraphs");
    size_t np = json_array_size(paras);
    para_ref *refs = xcalloc(np + 1, sizeof *refs);
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        json_t *p = json_array_get(paras, i);
        const char *text = json_string_value(json_object_get(p, "text"));
        if (!text) continue;
        json_t *ord = json_object_get(p, "order");
        refs[k].order = json_is_integer(ord) ? (long)json_integer_value(ord) : (long)i;
        refs[k].idx = i;
        refs[k].text = text;
        k++;
    }
    qsort(refs, k, sizeof *refs, cmp_para);
    /* The scale is stated in the table or in a paragraph, usually the one next to it. */
    rg_table_analyse(t, NULL);
    for (size_t i = k; i-- > 0 && !t->scale[0];) {
        char sc[12];
        if (rg_scale_from_text(refs[i].text, sc)) memcpy(t->scale, sc, sizeof sc);
    }
    rg_doc *d = rg_doc_new(uid, source, "tatqa");
    rg_doc_add_table(d, t, "");
    for (size_t i = 0; i < k; i++) rg_doc_add_text(d, RG_BLOCK_PARA, 0, refs[i].text, "");
    free(refs);
    return d;
}

int rg_parse_tatqa(const char *source, const char *text, size_t len, rg_doc ***docs, int *ndocs) {
    *docs = NULL;
    *ndocs = 0;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        rg_err("%s: invalid JSON at line %d: %s", source, jerr.line, jerr.text);
        return -1;
    }
    if (!json_is_array(root)) {
        json_decref(root);
        rg_err("%s: not a TAT-QA file (expected a list of contexts)", source);
        return -1;
    }
    size_t n = json_array_size(root);
    rg_doc **out = xcalloc(n + 1, sizeof *out);
    int cnt = 0;
    char first_err[512] = "";
    for (size_t i = 0; i < n; i++) {
        rg_doc *d = read_context(json_array_get(root, i), source, i);
        if (d) out[cnt++] = d;
        else if (!first_err[0]) snprintf(first_err, sizeof first_err, "%s", rg_errmsg());
    }
    json_decref(root);
    if (!cnt) {
        free(out);
        if (first_err[0]) rg_err("%s", first_err);
        else rg_err("%s: TAT-QA file has no contexts", source);
        return -1;
    }
    *docs = out;
    *ndocs = cnt;
    return 0;
}
