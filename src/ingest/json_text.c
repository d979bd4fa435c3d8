/* ingest/json_text: JSON and JSON Lines that are not TAT-QA, read as text. Scalars become
 * "key.path: value" lines gathered into one paragraph per record (array element or JSONL
 * line); arrays of scalars are joined with commas; long strings are paragraphs of their own.
 * A top-level "title" or "name" string becomes the document title. */
#include "ingest/formats.h"
#include "core/util.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32
#define PARA_FLUSH 2000      /* bytes after which a record paragraph is cut */
#define LONG_STRING 300      /* strings longer than this stand alone */

typedef struct { rg_doc *d; rg_buf para; const char *section; } jwalk;

static void flush(jwalk *w) {
    while (w->para.len && w->para.data[w->para.len - 1] == '\n') w->para.data[--w->para.len] = 0;
    if (!w->para.len) return;
    rg_doc_add_text(w->d, RG_BLOCK_PARA, 0, w->para.data, w->section);
    w->para.len = 0;
    w->para.data[0] = 0;
}

static void put_scalar(rg_buf *b, json_t *v) {
    if (json_is_string(v)) rg_buf_puts(b, json_string_value(v));
    else if (json_is_integer(v)) rg_buf_printf(b, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) rg_buf_printf(b, "%.15g", json_real_value(v));
    else if (json_is_true(v)) rg_buf_puts(b, "true");
    else if (json_is_false(v)) rg_buf_puts(b, "false");
    else rg_buf_puts(b, "null");
}

static int all_scalars(json_t *a) {
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (json_is_object(v) || json_is_array(v)) return 0;
    return 1;
}

static void walk(jwalk *w, json_t *v, const char *path, int depth) {
    if (depth > JSON_MAX_DEPTH) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s) { rg_buf_printf(&w->para, "%s%s%s\n", path, *path ? ": " : "", s); free(s); }
        return;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) {
            char *sub = *path ? xasprintf("%s.%s", path, k) : xstrdup(k);
            walk(w, c, sub, depth + 1);
            free(sub);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        if (all_scalars(v)) {
            if (!json_array_size(v)) return;
            if (*path) rg_buf_printf(&w->para, "%s: ", path);
            json_array_foreach(v, i, c) { if (i) rg_buf_puts(&w->para, ", "); put_scalar(&w->para, c); }
            rg_buf_putc(&w->para, '\n');
        } else {
            json_array_foreach(v, i, c) { flush(w); walk(w, c, path, depth + 1); }
            flush(w);
        }
    } else if (json_is_string(v) && strlen(json_string_value(v)) > LONG_STRING) {
        flush(w);
        rg_buf_printf(&w->para, "%s%s%s", path, *path ? ": " : "", json_string_value(v));
        flush(w);
    } else {
        if (*path) rg_buf_printf(&w->para, "%s: ", path);
        put_scalar(&w->para, v);
        rg_buf_putc(&w->para, '\n');
    }
    if (w->para.len > PARA_FLUSH) flush(w);
}

static void take_title(rg_doc *d, json_t *root) {
    if (d->title || !json_is_object(root)) return;
    const char *t = json_string_value(json_object_get(root, "title"));
    if (!t) t = json_string_value(json_object_get(root, "name"));
    if (t && *t && strlen(t) < 200) d->title = xstrdup(t);
}

rg_doc *rg_parse_json_text(const char *doc_id, const char *source, const char *text, size_t len) {
    json_error_t jerr;
    rg_doc *d = rg_doc_new(doc_id, source, "json");
    jwalk w = {d, {0}, ""};
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (root) {
        take_title(d, root);
        walk(&w, root, "", 0);
        flush(&w);
        json_decref(root);
    } else {
        /* JSON Lines: one value per non-blank line */
        const char *p = text, *end = text + len;
        int line = 0, values = 0;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *e = nl ? nl : end;
            line++;
            const char *q = p;
            while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
            if (q < e) {
                json_t *v = json_loadb(q, (size_t)(e - q), JSON_DECODE_ANY, &jerr);
                if (!v) {
                    rg_buf_free(&w.para);
                    rg_doc_free(d);
                    rg_err("%s: invalid JSON at line %d: %s", source, line, jerr.text);
                    return NULL;
                }
                if (!values++) take_title(d, v);
                walk(&w, v, "", 0);
                flush(&w);
                json_decref(v);
            }
            p = nl ? nl + 1 : end;
        }
        if (!values) {
            rg_buf_free(&w.para);
            rg_doc_free(d);
            rg_err("%s: empty JSON document", source);
            return NULL;
        }
    }
    rg_buf_free(&w.para);
    return d;
}
