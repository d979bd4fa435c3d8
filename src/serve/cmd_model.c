/* serve/cmd_model: `ragd model pull REPO [FILE]`, `ragd model list`, `ragd model rm NAME`
 * over the model directory (embed/models.h). */
#include "serve/cli.h"
#include "embed/models.h"
#include "core/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *model_help =
    "usage: ragd model pull [--json] REPO [FILE]   download a GGUF file from a Hugging Face repository\n"
    "       ragd model list [--json]               the models in the model directory\n"
    "       ragd model rm [--json] NAME...          remove models (and unfinished downloads)\n"
    "Model directory: $RAGD_MODELS, else ~/.local/share/ragd/models. Hub: $RAGD_HF_ENDPOINT, else\n"
    "https://huggingface.co; $HF_TOKEN is sent for gated or private repositories. Without FILE, pull\n"
    "takes the repository's only .gguf file, else its only Q8_0 or F16 one. An interrupted pull resumes\n"
    "when run again; a file is kept only when its sha256 matches the hub's.\n";

static int model_pull(int json, char **args, int nargs, const char *dir) {
    if (nargs < 1 || nargs > 2) { fputs(model_help, stderr); return 2; }
    rg_pull_opts o = {0};
    o.progress = !json && isatty(2);
    rg_pull_result r;
    if (rg_model_pull(args[0], nargs > 1 ? args[1] : NULL, dir, &o, &r) != 0) {
        fprintf(stderr, "ragd model pull: %s\n", rg_errmsg());
        return 1;
    }
    if (json) {
        cli_print_json(json_pack("{s:s, s:s, s:s, s:I, s:s, s:b, s:b, s:b}", "repo", args[0], "file", r.file,
                                 "path", r.path, "size", (json_int_t)r.size, "sha256", r.sha256,
                                 "verified", r.verified, "resumed", r.resumed, "already_present", r.already));
    } else {
        printf("%s\n", r.path);
        fprintf(stderr, "%s %s (%.1f MB, sha256 %s)\n", r.already ? "already have" : "saved", r.path, r.size / 1e6,
                r.verified ? "verified" : "not published by the hub, not verified");
    }
    rg_pull_result_free(&r);
    return 0;
}

static int model_list(int json, const char *dir) {
    rg_model_info *m;
    int n;
    if (rg_models_list(dir, &m, &n) != 0) { fprintf(stderr, "ragd model list: %s\n", rg_errmsg()); return 1; }
    if (json) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            char *p = xasprintf("%s/%s%s", dir, m[i].name, m[i].partial ? ".part" : "");
            json_t *o = json_pack("{s:s, s:s, s:I, s:b}", "name", m[i].name, "path", p, "size", (json_int_t)m[i].size,
                                  "partial", m[i].partial);
            if (m[i].arch[0]) json_object_set_new(o, "arch", json_string(m[i].arch));
            json_array_append_new(arr, o);
            free(p);
        }
        cli_print_json(json_pack("{s:s, s:o}", "dir", dir, "models", arr));
    } else if (!n) {
        fprintf(stderr, "no models in %s (ragd model pull REPO [FILE])\n", dir);
    } else {
        for (int i = 0; i < n; i++)
            printf("%-48s %10.1f MB  %s%s\n", m[i].name, m[i].size / 1e6, m[i].arch[0] ? m[i].arch : "-",
                   m[i].partial ? "  (unfinished download)" : "");
    }
    rg_models_free(m, n);
    return 0;
}

static int model_rm(int json, char **args, int nargs, const char *dir) {
    if (nargs < 1) { fputs(model_help, stderr); return 2; }
    int rc = 0;
    json_t *removed = json_array(), *missing = json_array();
    for (int i = 0; i < nargs; i++) {
        int r = rg_models_rm(dir, args[i]);
        if (r < 0) { fprintf(stderr, "ragd model rm: %s\n", rg_errmsg()); rc = 1; }
        else if (r == 0) { fprintf(stderr, "ragd model rm: %s: no such model in %s\n", args[i], dir); json_array_append_new(missing, json_string(args[i])); rc = 1; }
        else json_array_append_new(removed, json_string(args[i]));
    }
    if (json) cli_print_json(json_pack("{s:o, s:o}", "removed", removed, "missing", missing));
    else { json_decref(removed); json_decref(missing); }
    return rc;
}

int cmd_model(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0, nargs = 0;
    char **args = xcalloc((size_t)argc + 1, sizeof *args);
    for (int i = 1; i < argc; i++) {
        if (cli_common_flag(argv[i], &json, &help)) continue;
        if (argv[i][0] == '-' && argv[i][1]) { fprintf(stderr, "ragd model: unknown option %s\n", argv[i]); free(args); return 2; }
        args[nargs++] = argv[i];
    }
    if (help || !nargs) {
        fputs(model_help, help ? stdout : stderr);
        free(args);
        return help ? 0 : 2;
    }
    char *dir = rg_models_dir();
    int rc;
    if (strcmp(args[0], "pull") == 0) rc = model_pull(json, args + 1, nargs - 1, dir);
    else if (strcmp(args[0], "list") == 0 || strcmp(args[0], "ls") == 0) rc = nargs == 1 ? model_list(json, dir) : 2;
    else if (strcmp(args[0], "rm") == 0) rc = model_rm(json, args + 1, nargs - 1, dir);
    else { fprintf(stderr, "ragd model: unknown subcommand %s (pull, list, rm)\n", args[0]); rc = 2; }
    if (rc == 2 && strcmp(args[0], "list") == 0) fputs(model_help, stderr);
    free(dir);
    free(args);
    return rc;
}
