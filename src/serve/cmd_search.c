/* serve/cmd_search: `ragd search`. */
#include "serve/cli.h"
#include "serve/client.h"
#include "core/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_search_filter(const char *f, rg_search_filter *flt) {
    const char *eq = strchr(f, '=');
    if (!eq || eq == f) { rg_err("filter \"%s\" is not KEY=VALUE", f); return -1; }
    size_t kl = (size_t)(eq - f);
    const char *v = eq + 1;
#define KEY_IS(s) (kl == strlen(s) && strncmp(f, s, kl) == 0)
    if (KEY_IS("doc")) flt->doc_id = v;
    else if (KEY_IS("source")) flt->source_glob = v;
    else if (KEY_IS("kind")) {
        if (strcmp(v, "text") == 0) flt->kind = RG_CHUNK_TEXT;
        else if (strcmp(v, "table") == 0) flt->kind = RG_CHUNK_TABLE;
        else { rg_err("filter kind must be text or table, not \"%s\"", v); return -1; }
    } else if (KEY_IS("from")) flt->date_from = v;
    else if (KEY_IS("to")) flt->date_to = v;
    else if (KEY_IS("date_key")) flt->date_key = v;
    else {
        if (flt->nmeta >= RG_FILTER_MAX_META) { rg_err("at most %d metadata filters", RG_FILTER_MAX_META); return -1; }
        /* the key is the text before '=': keep it in a copy that lives as long as the process */
        flt->meta_key[flt->nmeta] = xstrndup(f, kl);
        flt->meta_value[flt->nmeta] = v;
        flt->nmeta++;
    }
#undef KEY_IS
    return 0;
}

static const char *help_text =
    "usage: ragd search [-k N] [--doc ID] [--filter KEY=VALUE]... [--mode hybrid|bm25|dense]\n"
    "                   [--fusion rrf|weighted] [--candidates N] [--rerank MODEL.gguf | --no-rerank]\n"
    "                   [--rerank-top N] [--json] QUERY\n"
    "Retrieval only. Filters (all must hold; applied inside each search):\n"
    "  doc=ID  source=GLOB  kind=text|table\n"
    "  from=DATE  to=DATE   inclusive ISO-8601 prefixes (2024, 2024-03, 2024-03-01) of the indexing\n"
    "                       time, or of metadata key date_key=KEY when given\n"
    "  KEY=VALUE            any other key: the document's metadata KEY equals VALUE\n"
    "--fusion: weighted (default: min-max normalised scores, BM25 0.7 + dense 0.3) or rrf\n"
    "  (reciprocal rank fusion). --candidates N: taken from each side before fusion (default 50).\n"
    "--rerank MODEL.gguf: re-score the top fused candidates with a cross-encoder and order by its\n"
    "  score (default: config key reranker, else $RAGD_RERANKER; none: off). --rerank-top N: how\n"
    "  many candidates it scores (default 20, at least k). --no-rerank: off even when configured.\n";

static json_t *results_json(const char *query, const rg_search_opts *o, const rg_results *r, double total) {
    int reranked = o->reranker && r->reranked > 0;
    json_t *res = json_array();
    for (int i = 0; i < r->n; i++) {
        const rg_result *h = &r->v[i];
        json_t *o2 = json_pack("{s:I, s:s, s:s, s:s, s:f, s:s, s:s}", "chunk_id", (json_int_t)h->chunk_id,
                               "doc_id", h->doc_id, "source", h->source, "kind", h->kind ? "table" : "text",
                               "score", h->score, "text", h->text, "section", h->section ? h->section : "");
        if (h->table) json_object_set_new(o2, "table", cli_table_json(h->table, 0));
        if (reranked) json_object_set_new(o2, "fused_score", json_real(h->fused_score));
        json_array_append_new(res, o2);
    }
    json_t *tm = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "embed_ms", r->t_embed * 1e3, "bm25_ms", r->t_bm25 * 1e3,
                           "dense_ms", r->t_dense * 1e3, "fuse_ms", r->t_fuse * 1e3, "fetch_ms", r->t_fetch * 1e3,
                           "total_ms", total * 1e3);
    json_object_set_new(tm, "embed_cached", json_boolean(r->embed_cached));
    json_object_set_new(tm, "rerank_ms", json_real(r->t_rerank * 1e3));
    json_t *rr = o->reranker ? json_pack("{s:s, s:i, s:i}", "model", rg_reranker_name(o->reranker), "top", o->rerank_top,
                                         "scored", r->reranked)
                             : json_null();
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "query", query, "mode", rg_search_mode_name(o->mode),
                     "fusion", rg_fusion_name(o->fusion), "reranker", rr, "results", res, "timings", tm);
}

static void print_human(json_t *out) {
    json_t *res = json_object_get(out, "results");
    if (!json_array_size(res)) printf("no results\n");
    const char *rr = json_string_value(json_object_get(json_object_get(out, "reranker"), "model"));
    if (rr && json_array_size(res)) printf("(reranked by %s)\n", rr);
    size_t i; json_t *h;
    json_array_foreach(res, i, h) {
        const char *sec = json_string_value(json_object_get(h, "section"));
        const char *t = json_string_value(json_object_get(h, "text"));
        size_t n = t ? strlen(t) : 0;
        printf("%zu. %s  [chunk %lld, %s, score %.4f]%s%s\n", i + 1, json_string_value(json_object_get(h, "doc_id")),
               (long long)json_integer_value(json_object_get(h, "chunk_id")), json_string_value(json_object_get(h, "kind")),
               json_number_value(json_object_get(h, "score")), sec && *sec ? "  " : "", sec ? sec : "");
        printf("   %.*s%s\n", (int)(n > 300 ? 300 : n), t ? t : "", n > 300 ? "..." : "");
    }
}

int cmd_search(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0;
    rg_search_opts o;
    rg_search_opts_default(&o);
    rg_buf q = {0};
    json_t *jfilter = json_object();   /* the filters as the daemon takes them */
    const char *rerank_path = NULL;
    int no_rerank = 0;
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
        } else if (strcmp(a, "--fusion") == 0 && i + 1 < argc) {
            if (rg_fusion_parse(argv[++i], &o.fusion) != 0) { fprintf(stderr, "ragd search: %s\n", rg_errmsg()); rg_buf_free(&q); return 2; }
        } else if (strcmp(a, "--candidates") == 0 && i + 1 < argc) {
            char *end; long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000) { fprintf(stderr, "ragd search: --candidates must be 1..1000\n"); rg_buf_free(&q); return 2; }
            o.candidates = (int)v;
        } else if (strcmp(a, "--rerank") == 0 && i + 1 < argc) rerank_path = argv[++i];
        else if (strcmp(a, "--no-rerank") == 0) no_rerank = 1;
        else if (strcmp(a, "--rerank-top") == 0 && i + 1 < argc) {
            char *end; long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000) { fprintf(stderr, "ragd search: --rerank-top must be 1..1000\n"); rg_buf_free(&q); json_decref(jfilter); return 2; }
            o.rerank_top = (int)v;
        } else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
            if (cli_search_filter(argv[++i], &o.filter) != 0) { fprintf(stderr, "ragd search: %s\n", rg_errmsg()); rg_buf_free(&q); json_decref(jfilter); return 2; }
            const char *eq = strchr(argv[i], '=');
            if (eq) { char *k = xstrndup(argv[i], (size_t)(eq - argv[i])); json_object_set_new(jfilter, k, json_string(eq + 1)); free(k); }
        } else if (a[0] == '-' && a[1] && !q.len) { fprintf(stderr, "ragd search: unknown option %s\n", a); rg_buf_free(&q); return 2; }
        else { if (q.len) rg_buf_putc(&q, ' '); rg_buf_puts(&q, a); }
    }
    if (help) { fputs(help_text, stdout); rg_buf_free(&q); return 0; }
    if (!q.len) { fputs(help_text, stderr); rg_buf_free(&q); return 2; }
    json_t *out = NULL;
    int rc = 0;
    /* The reranker: --rerank, else the configured one; opened before anything else so a bad
     * path fails at once, naming the file. */
    char *rspec = no_rerank ? NULL : rerank_path ? xstrdup(rerank_path) : cli_reranker_spec(cli);
    if (rspec) {
        o.reranker = rg_reranker_open(rspec, 0);
        if (!o.reranker) {
            if (strstr(rg_errmsg(), rspec)) fprintf(stderr, "ragd search: reranker: %s\n", rg_errmsg());
            else fprintf(stderr, "ragd search: reranker %s: %s\n", rspec, rg_errmsg());
            free(rspec); json_decref(jfilter); rg_buf_free(&q);
            for (int m = 0; m < o.filter.nmeta; m++) free((char *)o.filter.meta_key[m]);
            return 1;
        }
        free(rspec);
    }
    /* A daemon serving this index answers for us (k up to its limit of 100) when no reranker is
     * wanted here: the daemon's own reranker (whatever it is) is then turned off for this
     * request, so the answer is what the direct search would give. */
    rg_search_opts def;
    rg_search_opts_default(&def);
    if (o.k <= 100 && o.fusion == def.fusion && o.candidates == def.candidates && !o.reranker) {
        json_t *body = json_pack("{s:s, s:i, s:s, s:O}", "query", q.data, "k", o.k, "mode", rg_search_mode_name(o.mode),
                                 "filter", jfilter);
        if (o.filter.doc_id) json_object_set_new(body, "doc", json_string(o.filter.doc_id));
        json_object_set_new(body, "rerank", json_false());
        int d = rg_client_try(cli, "POST", "/v1/search", body, &out);
        json_decref(body);
        if (d < 0) { fprintf(stderr, "ragd search: daemon: %s\n", rg_errmsg()); rc = 1; }
        else if (d == 1 && json_object_get(out, "error")) {
            fprintf(stderr, "ragd search: daemon: %s\n", json_string_value(json_object_get(json_object_get(out, "error"), "message")));
            rc = 1;
        }
    }
    if (!out && rc == 0) {
        rg_store *s;
        rg_encoder *e = NULL;
        if (cli_open(cli, 0, o.mode != RG_MODE_BM25, &s, &e) != 0) rc = 1;
        else {
            rg_results r;
            double t0 = rg_now();
            if (rg_search(s, e, q.data, &o, &r) != 0) { fprintf(stderr, "ragd search: %s\n", rg_errmsg()); rc = 1; }
            else {
                out = results_json(q.data, &o, &r, rg_now() - t0);
                rg_results_free(&r);
            }
            rg_store_close(s);
            rg_encoder_free(e);
        }
    }
    if (out && rc == 0) {
        if (json) { cli_print_json(out); out = NULL; }
        else print_human(out);
    }
    json_decref(out);
    json_decref(jfilter);
    rg_buf_free(&q);
    if (o.reranker) rg_reranker_close(o.reranker);
    for (int m = 0; m < o.filter.nmeta; m++) free((char *)o.filter.meta_key[m]);
    return rc;
}
