/* serve/cmd_index: `ragd index` and `ragd rm`. */
#include "serve/cli.h"
#include "serve/index_job.h"
#include "serve/client.h"
#include "core/util.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *index_help =
    "usage: ragd index [--prune] [--exclude GLOB]... [--max-file-size BYTES] [--chunk-tokens N]\n"
    "                  [--quiet] [--json] PATH|URL...\n"
    "Adds or updates documents from files, folders (recursively; hidden files skipped) and\n"
    "http(s) URLs. Unchanged sources are skipped. --prune removes documents whose file is gone.\n";

int cmd_index(rg_cli *cli, int argc, char **argv) {
    rg_index_opts o;
    rg_index_opts_default(&o);
    int json = cli->json, help = 0, quiet = 0;
    char **paths = xcalloc((size_t)argc + 1, sizeof *paths);
    char **excl = xcalloc((size_t)argc + 1, sizeof *excl);
    int np = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_common_flag(a, &json, &help)) continue;
        if (strcmp(a, "--prune") == 0) o.prune = 1;
        else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) quiet = 1;
        else if (strcmp(a, "--exclude") == 0 && i + 1 < argc) excl[o.nexclude++] = argv[++i];
        else if (strcmp(a, "--max-file-size") == 0 && i + 1 < argc) {
            char *end; long long v = strtoll(argv[++i], &end, 10);
            if (*end || v <= 0) { fprintf(stderr, "ragd index: bad --max-file-size %s\n", argv[i]); goto out_usage; }
            o.max_file_size = v;
        } else if (strcmp(a, "--chunk-tokens") == 0 && i + 1 < argc) {
            o.max_tokens = atoi(argv[++i]);
            if (o.max_tokens < 16 || o.max_tokens > 8192) { fprintf(stderr, "ragd index: --chunk-tokens must be 16..8192\n"); goto out_usage; }
        } else if (a[0] == '-' && a[1]) { fprintf(stderr, "ragd index: unknown option %s\n", a); goto out_usage; }
        else paths[np++] = argv[i];
    }
    if (help) { fputs(index_help, stdout); rc = 0; goto out; }
    if (!np) { fputs(index_help, stderr); goto out_usage; }
    o.exclude = excl;
    o.progress = !quiet && !json && isatty(2);
    if (o.max_tokens == 0 && o.max_file_size == (64LL << 20)) {
        /* A daemon serving this index runs the job (its paths must be under its --allow-root). */
        json_t *jp = json_array(), *je = json_array();
        for (int i = 0; i < np; i++) json_array_append_new(jp, json_string(paths[i]));
        for (int i = 0; i < o.nexclude; i++) json_array_append_new(je, json_string(excl[i]));
        json_t *body = json_pack("{s:o, s:o, s:b}", "paths", jp, "exclude", je, "prune", o.prune);
        json_t *job = NULL;
        int d = rg_client_try(cli, "POST", "/v1/index", body, &job);
        json_decref(body);
        if (d != 0) {
            json_t *res = d > 0 ? json_object_get(job, "result") : NULL;
            const char *state = d > 0 ? json_string_value(json_object_get(job, "state")) : NULL;
            if (d < 0) fprintf(stderr, "ragd index: daemon: %s\n", rg_errmsg());
            else if (json_object_get(job, "error"))
                fprintf(stderr, "ragd index: daemon: %s\n", json_string_value(json_object_get(json_object_get(job, "error"), "message")));
            else if (json) cli_print_json(json_incref(res ? res : job));
            else if (res)
                fprintf(stderr, "indexed %lld, unchanged %lld, failed %lld, removed %lld (by the daemon, job %s)\n",
                        (long long)json_integer_value(json_object_get(res, "indexed")),
                        (long long)json_integer_value(json_object_get(res, "unchanged")),
                        (long long)json_integer_value(json_object_get(res, "failed")),
                        (long long)json_integer_value(json_object_get(res, "removed")), state ? state : "?");
            rc = (d > 0 && state && strcmp(state, "done") == 0) ? 0 : 1;
            json_decref(job);
            goto out;
        }
    }
    rg_store *s;
    rg_encoder *e;
    if (cli_open(cli, 1, 1, &s, &e) != 0) goto out;
    rg_index_report r = {0};
    int jr = rg_index_run(s, e, paths, np, &o, &r);
    if (jr != 0) fprintf(stderr, "ragd index: %s\n", rg_errmsg());
    for (int i = 0; i < r.nfailures && !quiet; i++)
        fprintf(stderr, "ragd index: skipped %s: %s\n", r.failures[i].source, r.failures[i].why);
    if (json) {
        json_t *fails = json_array();
        for (int i = 0; i < r.nfailures; i++)
            json_array_append_new(fails, json_pack("{s:s, s:s}", "source", r.failures[i].source, "error", r.failures[i].why));
        cli_print_json(json_pack("{s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:f, s:o}", "sources", r.sources,
                                 "indexed", r.indexed, "unchanged", r.unchanged, "failed", r.failed,
                                 "removed", r.removed, "chunks", (json_int_t)r.chunks, "bytes", (json_int_t)r.bytes,
                                 "seconds", r.seconds, "failures", fails));
    } else if (!quiet || r.indexed || r.removed) {
        if (!r.indexed && !r.removed && !r.failed && r.unchanged)
            fprintf(stderr, "nothing changed: %d sources unchanged\n", r.unchanged);
        else
            fprintf(stderr, "indexed %d, unchanged %d, failed %d, removed %d: %lld chunks, %.1f MB in %.2fs\n",
                    r.indexed, r.unchanged, r.failed, r.removed, (long long)r.chunks, r.bytes / 1e6, r.seconds);
    }
    /* Success when the store is sound and something was indexed or nothing needed to be. */
    rc = (jr == 0 && (r.indexed > 0 || r.failed == 0)) ? 0 : 1;
    rg_index_report_free(&r);
    rg_store_close(s);
    rg_encoder_free(e);
    goto out;
out_usage:
    rc = 2;
out:
    free(paths);
    free(excl);
    return rc;
}

int cmd_rm(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0, n = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_common_flag(argv[i], &json, &help)) continue;
        if (argv[i][0] == '-') { fprintf(stderr, "ragd rm: unknown option %s\n", argv[i]); return 2; }
        n++;
    }
    if (help) { puts("usage: ragd rm [--json] DOC...\nRemoves documents by id or by source path."); return 0; }
    if (!n) { fprintf(stderr, "usage: ragd rm DOC...\n"); return 2; }
    rg_store *s;
    if (cli_open(cli, 1, 0, &s, NULL) != 0) return 1;
    int rc = 0;
    json_t *removed = json_array(), *missing = json_array();
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        int r = rg_store_remove_doc(s, argv[i]);
        if (r < 0) { fprintf(stderr, "ragd rm: %s: %s\n", argv[i], rg_errmsg()); rc = 1; }
        else if (r == 0) { fprintf(stderr, "ragd rm: %s: no such document\n", argv[i]); json_array_append_new(missing, json_string(argv[i])); rc = 1; }
        else json_array_append_new(removed, json_string(argv[i]));
    }
    if (rg_store_flush(s) != 0) { fprintf(stderr, "ragd rm: %s\n", rg_errmsg()); rc = 1; }
    if (json) cli_print_json(json_pack("{s:o, s:o}", "removed", removed, "missing", missing));
    else { json_decref(removed); json_decref(missing); }
    rg_store_close(s);
    return rc;
}
