/* tests/parse_one.h: helpers for parser tests. */
#ifndef RAGD_TESTS_PARSE_ONE_H
#define RAGD_TESTS_PARSE_ONE_H
#include "ingest/parse.h"
#include <stdlib.h>

/* The one document a buffer parses to; NULL when parsing fails or gives another count. */
static inline rg_doc *parse_one(const char *name, const char *data, size_t len) {
    rg_doc **docs = NULL;
    int n = 0;
    if (rg_parse_buffer(name, name, data, len, NULL, &docs, &n) < 0) return NULL;
    rg_doc *d = n == 1 ? docs[0] : NULL;
    for (int i = d ? 1 : 0; i < n; i++) rg_doc_free(docs[i]);
    free(docs);
    return d;
}

/* A cell that is always there, so a failed shape check cannot crash the test. */
static inline rg_cell *cell(rg_table *t, int r, int c) {
    static rg_cell none = {"(missing)", RG_CELL_EMPTY, -1e300, ""};
    rg_cell *x = t ? rg_table_cell(t, r, c) : NULL;
    return x ? x : &none;
}
#endif
