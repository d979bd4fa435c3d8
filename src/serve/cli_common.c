/* serve/cli_common: helpers shared by the commands (see cli.h). */
#include "serve/cli.h"
#include "core/util.h"
#include "serve/client.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_open(const rg_cli *cli, int writable, int want_encoder, rg_store **s, rg_encoder **e) {
    *s = NULL;
    if (e) *e = NULL;
    rg_encoder *enc = NULL;
    if (want_encoder) {
        /* With no encoder configured, an existing index reopens the encoder it was built with. */
        const char *spec = cli->encoder_spec;
        char menc[160], mspec[1024];
        int mdim;
        if (strcmp(spec, "default") == 0 &&
            rg_store_manifest_peek(cli->index_dir, menc, sizeof menc, mspec, sizeof mspec, &mdim) == 1)
            spec = mspec[0] ? mspec : menc;   /* built-in encoders reopen by name ("hash-256", "lsa-256") */
        enc = rg_encoder_open(spec, cli->index_dir);
        if (!enc) { fprintf(stderr, "ragd: encoder: %s\n", rg_errmsg()); return -1; }
    }
    rg_store_opts o = {.encoder = enc ? enc->name : NULL, .dim = enc ? enc->dim : 0, .writable = writable, .create = writable};
    char abs_spec[4096];
    if (enc) {
        /* A model path is kept absolute so the index reopens it from anywhere. */
        const char *sp = cli->encoder_spec;
        if (strcmp(sp, "default") == 0) sp = "";
        if (sp[0] && sp[0] != '/' && realpath(sp, abs_spec)) sp = abs_spec;
        o.encoder_spec = sp[0] ? sp : NULL;
    }
    *s = rg_store_open(cli->index_dir, &o);
    if (!*s) {
        fprintf(stderr, "ragd: %s\n", rg_errmsg());
        rg_encoder_free(enc);
        return -1;
    }
    const char *rep = rg_store_repairs(*s);
    if (rep[0]) fprintf(stderr, "ragd: %s: %s\n", cli->index_dir, rep);
    if (e) *e = enc; else rg_encoder_free(enc);
    return 0;
}

char *cli_reranker_spec(const rg_cli *cli) {
    const char *env = getenv("RAGD_RERANKER");
    if (env) return *env ? xstrdup(env) : NULL;
    char *v = rg_config_value(cli->config_path, "reranker");
    if (v && !*v) { free(v); v = NULL; }
    return v;
}

void cli_print_json(json_t *v) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) { fputs(s, stdout); fputc('\n', stdout); free(s); }
    json_decref(v);
}

static const char *cell_type_name(rg_cell_type t) {
    switch (t) {
    case RG_CELL_EMPTY: return "empty";
    case RG_CELL_TEXT: return "text";
    case RG_CELL_NUMBER: return "number";
    case RG_CELL_PERCENT: return "percent";
    case RG_CELL_YEAR: return "year";
    }
    return "text";
}

json_t *cli_table_json(const rg_table *t, int with_cells) {
    json_t *rows = json_array();
    for (int r = 0; r < t->nrows; r++) {
        json_t *row = json_array();
        for (int c = 0; c < t->ncols; c++) {
            const rg_cell *cell = &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            json_array_append_new(row, json_string(cell->raw ? cell->raw : ""));
        }
        json_array_append_new(rows, row);
    }
    json_t *o = json_pack("{s:o, s:s, s:i, s:i}", "rows", rows, "scale", t->scale,
                          "header_rows", t->header_rows, "header_cols", t->header_cols);
    if (t->caption) json_object_set_new(o, "caption", json_string(t->caption));
    if (with_cells) {
        json_t *cells = json_array();
        for (int r = 0; r < t->nrows; r++)
            for (int c = 0; c < t->ncols; c++) {
                const rg_cell *cell = &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
                json_t *jc = json_pack("{s:i, s:i, s:s, s:s}", "row", r, "col", c,
                                       "raw", cell->raw ? cell->raw : "", "type", cell_type_name(cell->type));
                if (cell->type != RG_CELL_EMPTY && cell->type != RG_CELL_TEXT)
                    json_object_set_new(jc, "value", json_real(cell->value));
                if (cell->unit[0]) json_object_set_new(jc, "unit", json_string(cell->unit));
                json_array_append_new(cells, jc);
            }
        json_object_set_new(o, "cells", cells);
    }
    return o;
}

int cli_common_flag(const char *arg, int *json, int *help) {
    if (strcmp(arg, "--json") == 0) { *json = 1; return 1; }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) { *help = 1; return 1; }
    return 0;
}

int cli_config_each(const char *path, void (*fn)(const char *key, const char *value, int lineno, void *ctx), void *ctx) {
    size_t len;
    char *text = rg_read_file(path, 1 << 20, &len);
    if (!text) return -1;
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        char *k = line, *v = eq + 1;
        while (*k == ' ' || *k == '\t') k++;
        for (char *e = k + strlen(k); e > k && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); ) *--e = 0;
        while (*v == ' ' || *v == '\t') v++;
        for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); ) *--e = 0;
        fn(k, v, lineno, ctx);
    }
    free(text);
    return 0;
}

json_t *cli_status_json(rg_store *s, const char *index, const char *daemon_state, const char *generator) {
    rg_store_stats st;
    if (rg_store_stats_get(s, &st) != 0) return NULL;
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:s, s:i, s:s, s:s, s:s, s:{s:I, s:I}}",
                     "index", index, "documents", (json_int_t)st.documents, "chunks", (json_int_t)st.chunks,
                     "tables", (json_int_t)st.tables, "cells", (json_int_t)st.cells,
                     "vectors", (json_int_t)st.vectors, "faiss_vectors", (json_int_t)st.faiss_vectors,
                     "db_bytes", (json_int_t)st.db_bytes, "faiss_bytes", (json_int_t)st.faiss_bytes,
                     "schema_version", st.schema_version, "encoder", rg_store_encoder(s), "dim", rg_store_dim(s),
                     "generator", generator && *generator ? generator : "reasoner", "daemon", daemon_state, "repaired", rg_store_repairs(s),
                     "bm25", "segments", (json_int_t)st.bm25_segments, "removed_pending", (json_int_t)st.bm25_removed);
}
