/* generate/rs_answer: freeing an answer and writing it as the `ragd ask --json` object. */
#include "generate/reasoner.h"
#include "core/util.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void rg_answer_free(rg_answer *a) {
    if (!a) return;
    for (int i = 0; i < a->nanswers; i++) free(a->answers[i]);
    free(a->answers);
    for (int i = 0; i < a->ncites; i++) free(a->cites[i].doc_id);
    free(a->cites);
    free(a->derivation);
    free(a->program);
    free(a);
}

/* A JSON string from text that may hold invalid UTF-8 (taken from documents): repaired. */
static json_t *jstr(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    if (rg_utf8_valid(s, n)) return json_stringn(s, n);
    size_t m = 0;
    int rep = 0;
    char *fixed = rg_utf8_repair(s, n, &m, &rep);
    json_t *j = json_stringn(fixed ? fixed : "", fixed ? m : 0);
    free(fixed);
    return j ? j : json_string("");
}

char *rg_answer_json(const char *question, const rg_answer *a) {
    if (!a) { rg_err("no answer to write"); return NULL; }
    json_t *o = json_object();
    json_object_set_new(o, "question", jstr(question));
    if (!strcmp(a->type, "multi-span")) {
        json_t *l = json_array();
        for (int i = 0; i < a->nanswers; i++) json_array_append_new(l, jstr(a->answers[i]));
        json_object_set_new(o, "answer", l);
    } else {
        json_object_set_new(o, "answer", jstr(a->nanswers > 0 ? a->answers[0] : ""));
    }
    json_object_set_new(o, "scale", jstr(a->scale));
    json_object_set_new(o, "type", jstr(a->type));
    json_object_set_new(o, "derivation", jstr(a->derivation));
    json_t *cs = json_array();
    for (int i = 0; i < a->ncites; i++) {
        json_t *c = json_object();
        json_object_set_new(c, "doc_id", jstr(a->cites[i].doc_id));
        json_object_set_new(c, "chunk_id", json_integer(a->cites[i].chunk_id));
        if (a->cites[i].row >= 0) {
            json_t *cell = json_array();
            json_array_append_new(cell, json_integer(a->cites[i].row));
            json_array_append_new(cell, json_integer(a->cites[i].col));
            json_object_set_new(c, "cell", cell);
        }
        json_array_append_new(cs, c);
    }
    json_object_set_new(o, "citations", cs);
    json_object_set_new(o, "confidence", json_real(a->confidence));
    json_object_set_new(o, "program", jstr(a->program));
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s) { rg_err("could not write the answer as JSON"); return NULL; }
    char *r = xstrdup(s);
    free(s);
    return r;
}
