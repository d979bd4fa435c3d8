/* ragd: the command-line entry point. Global options, then one command (see cli.h). */
#include "serve/cli.h"
#include "core/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(rg_cli *, int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"index", cmd_index, "add or update documents: files, folders, http(s) URLs"},
    {"rm", cmd_rm, "remove documents by id or source path"},
    {"list", cmd_list, "list documents"},
    {"show", cmd_show, "show one document: metadata, chunks, parsed tables"},
    {"search", cmd_search, "retrieve chunks for a query (hybrid, bm25, dense)"},
    {"ask", cmd_ask, "answer a question from the indexed documents"},
    {"eval", cmd_eval, "evaluate answers on a gold set (TAT-QA)"},
    {"embed", cmd_embed, "print the embedding of each text"},
    {"generate", cmd_generate, "raw completion with the built-in decoder"},
    {"model", cmd_model, "pull, list and remove GGUF models"},
    {"serve", cmd_serve, "run the daemon on a Unix socket"},
    {"status", cmd_status, "index size, documents, chunks, vectors, encoder, daemon"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ragd [--index DIR] [--config FILE] [--json] COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nThe index is DIR, else $RAGD_INDEX, else ./.ragd. `ragd COMMAND --help` for a command's options.\n");
}

/* Config values live until exit (commands keep pointers to them); freed then so leak checks stay quiet. */
static char *config_strings[16];
static int nconfig_strings;
static void free_config_strings(void) { while (nconfig_strings) free(config_strings[--nconfig_strings]); }
static char *config_keep(const char *v) {
    if (nconfig_strings == (int)(sizeof config_strings / sizeof *config_strings)) return xstrdup(v);  /* repeated keys */
    if (!nconfig_strings) atexit(free_config_strings);
    return config_strings[nconfig_strings++] = xstrdup(v);
}

/* A config file: lines "key = value"; '#' starts a comment. Known keys: index, encoder, generator, remote_url,
 * remote_model, remote_api_key_env (socket, reranker: read elsewhere). */
typedef struct { const char *path; rg_cli *cli; } config_ctx;
static void config_key(const char *k, const char *v, int lineno, void *ctx) {
    config_ctx *c = ctx;
    rg_cli *cli = c->cli;
    if (strcmp(k, "index") == 0 && !cli->index_dir) cli->index_dir = config_keep(v);
    else if (strcmp(k, "encoder") == 0) cli->encoder_spec = config_keep(v);
    else if (strcmp(k, "generator") == 0) cli->generator_spec = *v ? config_keep(v) : NULL;
    else if (strcmp(k, "remote_url") == 0) cli->remote_url = config_keep(v);
    else if (strcmp(k, "remote_model") == 0) cli->remote_model = config_keep(v);
    else if (strcmp(k, "remote_api_key_env") == 0) cli->remote_api_key_env = config_keep(v);
    else if (strcmp(k, "socket") && strcmp(k, "reranker"))
        fprintf(stderr, "ragd: config %s:%d: unknown key \"%s\" ignored\n", c->path, lineno, k);
}

static int read_config(const char *path, rg_cli *cli) {
    config_ctx c = {path, cli};
    if (cli_config_each(path, config_key, &c) != 0) { fprintf(stderr, "ragd: config %s\n", rg_errmsg()); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    rg_cli cli = {0};
    int i = 1, help = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--index") == 0 && i + 1 < argc) cli.index_dir = argv[++i];
        else if (strncmp(a, "--index=", 8) == 0) cli.index_dir = a + 8;
        else if (strcmp(a, "--config") == 0 && i + 1 < argc) cli.config_path = argv[++i];
        else if (strncmp(a, "--config=", 9) == 0) cli.config_path = a + 9;
        else if (strcmp(a, "--json") == 0) cli.json = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) help = 1;
        else if (a[0] == '-') { fprintf(stderr, "ragd: unknown option %s\n", a); usage(stderr); return 2; }
        else break;
    }
    if (i >= argc) { usage(help ? stdout : stderr); return help ? 0 : 2; }
    const char *env_enc = getenv("RAGD_ENCODER");
    if (env_enc && *env_enc) cli.encoder_spec = env_enc;
    if (cli.config_path && read_config(cli.config_path, &cli) != 0) return 1;
    const char *env_gen = getenv("RAGD_GENERATOR");
    if (env_gen) cli.generator_spec = *env_gen ? env_gen : NULL;   /* set but empty: none */
    if (!cli.index_dir) cli.index_dir = getenv("RAGD_INDEX");
    cli.index_explicit = cli.index_dir && *cli.index_dir;
    if (!cli.index_explicit) cli.index_dir = ".ragd";
    if (!cli.encoder_spec) cli.encoder_spec = "default";
    for (size_t c = 0; c < sizeof commands / sizeof *commands; c++)
        if (strcmp(argv[i], commands[c].name) == 0) {
            if (help) { char *h[] = {argv[i], "--help", NULL}; return commands[c].fn(&cli, 2, h); }
            return commands[c].fn(&cli, argc - i, argv + i);
        }
    fprintf(stderr, "ragd: unknown command \"%s\"\n", argv[i]);
    usage(stderr);
    return 2;
}
