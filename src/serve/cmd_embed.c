/* serve/cmd_embed: `ragd embed`: vectors as the index would compute them. */
#include "serve/cli.h"
#include "core/util.h"
#include <stdio.h>
#include <string.h>

int cmd_embed(rg_cli *cli, int argc, char **argv) {
    int json = cli->json, help = 0, query = 0, n = 0;
    const char *model = cli->encoder_spec;
    const char **texts = xcalloc((size_t)argc + 1, sizeof *texts);
    for (int i = 1; i < argc; i++) {
        if (cli_common_flag(argv[i], &json, &help)) continue;
        if (strcmp(argv[i], "--query") == 0) query = 1;
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) { fprintf(stderr, "ragd embed: unknown option %s\n", argv[i]); free(texts); return 2; }
        else texts[n++] = argv[i];
    }
    if (help) {
        puts("usage: ragd embed [--model PATH|hash|default] [--query] [--json] TEXT...\n"
             "Prints the embedding of each text, as the index would compute it (--query applies the\n"
             "model's query prefix). --json prints {\"model\", \"dim\", \"embeddings\": [[...], ...]}.");
        free(texts);
        return 0;
    }
    if (!n) { fprintf(stderr, "usage: ragd embed [--model PATH] TEXT...\n"); free(texts); return 2; }
    rg_encoder *e = rg_encoder_open(model, cli->index_dir);
    if (!e) { fprintf(stderr, "ragd embed: %s\n", rg_errmsg()); free(texts); return 1; }
    float *v = xmalloc((size_t)n * (size_t)e->dim * sizeof *v);
    int rc = rg_encoder_embed(e, texts, n, query, v);
    if (rc != 0) fprintf(stderr, "ragd embed: %s\n", rg_errmsg());
    else if (json) {
        json_t *arr = json_array();
        for (int t = 0; t < n; t++) {
            json_t *row = json_array();
            for (int i = 0; i < e->dim; i++) json_array_append_new(row, json_real(v[(size_t)t * (size_t)e->dim + (size_t)i]));
            json_array_append_new(arr, row);
        }
        cli_print_json(json_pack("{s:s, s:i, s:o}", "model", e->name, "dim", e->dim, "embeddings", arr));
    } else {
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < e->dim; i++) printf("%s%.6f", i ? " " : "", v[(size_t)t * (size_t)e->dim + (size_t)i]);
            printf("\n");
        }
    }
    free(v);
    free(texts);
    rg_encoder_free(e);
    return rc ? 1 : 0;
}
