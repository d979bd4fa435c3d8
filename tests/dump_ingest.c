/* tests/dump_ingest: prints everything ingestion makes of the files under the given folders
 * (or files): every document's fields, blocks, table cells (raw, type, value, unit), its
 * chunks with all their fields, and each table linearised. Two builds' dumps of the same
 * files are compared with cmp to show a change to the parsers or the chunker kept the output
 * byte for byte. Not a test of its own (no t_ prefix); built by hand:
 *   make BUILD=B MODULES="core ingest" B/libragd.a
 *   cc -std=c17 -D_GNU_SOURCE -Isrc -O2 tests/dump_ingest.c B/libragd.a $(pkg-config --libs ...)
 * usage: dump_ingest PATH... > dump.txt */
#include "core/util.h"
#include "core/approx_tokens.h"
#include "core/table_text.h"
#include "ingest/chunk.h"
#include "ingest/parse.h"
#include "ingest/walk.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A string with its length first, so any bytes (newlines included) compare exactly. */
static void str(const char *tag, const char *s) {
    if (!s) { printf("%s NULL\n", tag); return; }
    printf("%s %zu:%s\n", tag, strlen(s), s);
}

static void dump_table(const rg_table *t) {
    printf("table %d x %d hr %d hc %d scale %s\n", t->nrows, t->ncols, t->header_rows, t->header_cols, t->scale);
    str("caption", t->caption);
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const rg_cell *cell = &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            printf("cell %d %d type %d value %.17g unit %s ", r, c, (int)cell->type, cell->value, cell->unit);
            str("raw", cell->raw);
        }
    char *lin = rg_table_linearize(t, t->caption, 0, t->nrows);
    str("linear", lin);
    free(lin);
}

static void dump_doc(const rg_doc *d) {
    str("doc", d->id);
    str("source", d->source);
    str("kind", d->kind);
    str("title", d->title);
    str("meta", d->meta_json);
    for (int i = 0; i < d->nblocks; i++) {
        const rg_block *b = &d->blocks[i];
        printf("block %d kind %d level %d page %d offset %lld\n", i, (int)b->kind, b->level, b->page, (long long)b->offset);
        str("section", b->section);
        str("text", b->text);
        if (b->table) dump_table(b->table);
    }
    rg_chunk *c = NULL;
    int n = 0;
    if (rg_chunk_doc(d, NULL, &c, &n) != 0) { printf("chunk error %s\n", rg_errmsg()); return; }
    for (int i = 0; i < n; i++) {
        printf("chunk %d kind %d parent %d table %d rows %d %d tokens %d page %d offset %lld ctx %d\n", i, (int)c[i].kind,
               c[i].parent, c[i].table_index, c[i].row_start, c[i].row_end, c[i].ntokens, c[i].page,
               (long long)c[i].offset, c[i].context_only);
        str("section", c[i].section);
        str("text", c[i].text);
    }
    rg_chunks_free(c, n);
}

static void dump_file(const char *path, const char *rel) {
    size_t len;
    char *data = rg_read_file(path, (size_t)256 << 20, &len);
    if (!data) { printf("file %s unreadable\n", rel); return; }
    rg_doc **docs = NULL;
    int nd = 0;
    printf("file %s\n", rel);
    if (rg_parse_buffer(path, rel, data, len, NULL, &docs, &nd) != 0) {
        printf("parse error %s\n", rg_errmsg());
    } else {
        for (int k = 0; k < nd; k++) { dump_doc(docs[k]); rg_doc_free(docs[k]); }
        free(docs);
    }
    free(data);
}

int main(int argc, char **argv) {
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) { fprintf(stderr, "%s: not found\n", argv[a]); return 1; }
        if (!S_ISDIR(st.st_mode)) { dump_file(argv[a], argv[a]); continue; }
        rg_walk_opts wo = {0};
        rg_walk_entry *files = NULL;
        int n = 0;
        if (rg_walk(argv[a], &wo, &files, &n) != 0) { fprintf(stderr, "%s\n", rg_errmsg()); return 1; }
        for (int i = 0; i < n; i++) dump_file(files[i].path, files[i].rel);
        rg_walk_free(files, n);
    }
    return 0;
}
