/* serve/cmd_search: `ragd search`. */
#include "serve/cli.h"
#include "core/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help_text =
    "usage: ragd search [-k N] [--doc ID] [--filter KEY=VALUE]... [--mode hybrid|bm25|dense] [--json] QUERY\n"
    "Retrieval only. Filters: doc=ID, source=GLOB, kind=text|table.\n";

int cmd_search(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0;
    rg_search_opts o;
    rg_search_opts_default(&o);
    rg_buf q = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_common_flag(a, &json, &help)) continue;
        if ((strcmp(a, "-k") == 0 || strcmp(a, "--k") == 0) && i + 1 < argc) {
            char *end; long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000) { fprintf(stderr, "ragd search: -k must be 1..1000\n"); rg_buf_free(&q); return 2; }
            o.k = (int)v;
        } else if (strcmp(a, "--doc") == 0 && i + 1 < argc) o.filter.doc_id = argv[++i];
        else if (strcmp(a, "--mode") == 0 && i + 1 < argc) {
            if (rg_search_mode_parse(argv[++i], &o.mode) != 0) { fprintf(stderr, "ragd search: %s\n", rg_errmsg()); rg_buf_free(&q); return 2; }
        } else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
            const char *f = argv[++i];
            if (strncmp(f, "doc=", 4) == 0) o.filter.doc_id = f + 4;
            else if (strncmp(f, "source=", 7) == 0) o.filter.source_glob = f + 7;
            else if (strcmp(f, "kind=text") == 0) o.filter.kind = 0;
            else if (strcmp(f, "kind=table") == 0) o.filter.kind = 1;
            else { fprintf(stderr, "ragd search: unsupported filter %s (doc=, source=, kind=)\n", f); rg_buf_free(&q); return 2; }
        } else if (a[0] == '-' && a[1] && !q.len) { fprintf(stderr, "ragd search: unknown option %s\n", a); rg_buf_free(&q); return 2; }
        else { if (q.len) rg_buf_putc(&q, ' '); rg_buf_puts(&q, a); }
    }
    if (help) { fputs(help_text, stdout); rg_buf_free(&q); return 0; }
    if (!q.len) { fputs(help_text, stderr); rg_buf_free(&q); return 2; }
    rg_store *s;
    rg_encoder *e = NULL;
    if (cli_open(cli, 0, o.mode != RG_MODE_BM25, &s, &e) != 0) { rg_buf_free(&q); return 1; }
    rg_results r;
    double t0 = rg_now();
    int rc = rg_search(s, e, q.data, &o, &r);
    double total = rg_now() - t0;
    if (rc != 0) {
        fprintf(stderr, "ragd search: %s\n", rg_errmsg());
    } else if (json) {
        json_t *res = json_array();
        for (int i = 0; i < r.n; i++) {
            rg_result *h = &r.v[i];
            json_t *o2 = json_pack("{s:I, s:s, s:s, s:s, s:f, s:s, s:s}", "chunk_id", (json_int_t)h->chunk_id,
                                   "doc_id", h->doc_id, "source", h->source, "kind", h->kind ? "table" : "text",
                                   "score", h->score, "text", h->text, "section", h->section ? h->section : "");
            if (h->table) json_object_set_new(o2, "table", cli_table_json(h->table, 0));
            json_array_append_new(res, o2);
        }
        json_t *tm = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "embed_ms", r.t_embed * 1e3, "bm25_ms", r.t_bm25 * 1e3,
                               "dense_ms", r.t_dense * 1e3, "fuse_ms", r.t_fuse * 1e3, "fetch_ms", r.t_fetch * 1e3,
                               "total_ms", total * 1e3);
        cli_print_json(json_pack("{s:s, s:s, s:o, s:o}", "query", q.data, "mode", rg_search_mode_name(o.mode),
                                 "results", res, "timings", tm));
    } else {
        if (!r.n) printf("no results\n");
        for (int i = 0; i < r.n; i++) {
            rg_result *h = &r.v[i];
            printf("%d. %s  [chunk %lld, %s, score %.4f]%s%s\n", i + 1, h->doc_id, (long long)h->chunk_id,
                   h->kind ? "table" : "text", h->score, h->section && *h->section ? "  " : "", h->section ? h->section : "");
            char *t = h->text;
            size_t n = strlen(t);
            printf("   %.*s%s\n", (int)(n > 300 ? 300 : n), t, n > 300 ? "..." : "");
        }
    }
    if (rc == 0) rg_results_free(&r);
    rg_store_close(s);
    rg_encoder_free(e);
    rg_buf_free(&q);
    return rc == 0 ? 0 : 1;
}
