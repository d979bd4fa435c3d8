/* serve/cli: what every command gets from the global options, and the command entry points.
 * Each command parses its own options, prints --help, writes JSON with --json, and returns
 * its exit status: 0 success, 1 failure (one line on stderr naming the input), 2 bad usage. */
#ifndef RAGD_SERVE_CLI_H
#define RAGD_SERVE_CLI_H
#include <jansson.h>
#include "index/store.h"
#include "embed/encoder.h"
#include "retrieve/search.h"

typedef struct {
    const char *index_dir;     /* --index, $RAGD_INDEX, ./.ragd */
    const char *config_path;   /* --config */
    const char *encoder_spec;  /* config "encoder", $RAGD_ENCODER, "default" */
    int json;                  /* --json given before the command */
    int index_explicit;        /* --index or $RAGD_INDEX was given */
    const char *generator_spec; /* config "generator", $RAGD_GENERATOR: a .gguf path, "remote", NULL: none */
    const char *remote_url, *remote_model, *remote_api_key_env;   /* config remote_* (for "remote") */
} rg_cli;

/* Opens the index (and, when want_encoder, the configured encoder). Prints the error. */
int cli_open(const rg_cli *cli, int writable, int want_encoder, rg_store **s, rg_encoder **e);
/* The configured reranker model path: $RAGD_RERANKER (set but empty: none), else the config
 * key "reranker"; NULL when none (reranking off). Caller frees. */
char *cli_reranker_spec(const rg_cli *cli);
/* Prints a JSON value to stdout (compact, one line) and frees it. */
void cli_print_json(json_t *v);
json_t *cli_table_json(const rg_table *t, int with_cells);
/* Calls fn for each "key = value" line of a config file ('#' starts a comment). -1 with
 * rg_err when the file cannot be read. */
int cli_config_each(const char *path, void (*fn)(const char *key, const char *value, int lineno, void *ctx), void *ctx);
/* The `ragd status --json` object (also GET /v1/status); NULL with rg_err on failure. */
/* generator: the configured generator's spec, or NULL for the reasoner alone. */
json_t *cli_status_json(rg_store *s, const char *index, const char *daemon_state, const char *generator);
/* Common option handling: returns 1 when argv[i] was --json or --help (sets the flags). */
int cli_common_flag(const char *arg, int *json, int *help);
/* Adds one --filter KEY=VALUE to flt (serve/cmd_search.c): doc, source, kind, from, to,
 * date_key, else a metadata key (its name is copied; f must outlive flt). -1 + rg_err. */
int cli_search_filter(const char *f, rg_search_filter *flt);

int cmd_index(rg_cli *cli, int argc, char **argv);
int cmd_rm(rg_cli *cli, int argc, char **argv);
int cmd_list(rg_cli *cli, int argc, char **argv);
int cmd_show(rg_cli *cli, int argc, char **argv);
int cmd_search(rg_cli *cli, int argc, char **argv);
int cmd_status(rg_cli *cli, int argc, char **argv);
int cmd_embed(rg_cli *cli, int argc, char **argv);
int cmd_ask(rg_cli *cli, int argc, char **argv);
int cmd_eval(rg_cli *cli, int argc, char **argv);
int cmd_generate(rg_cli *cli, int argc, char **argv);
int cmd_model(rg_cli *cli, int argc, char **argv);
int cmd_serve(rg_cli *cli, int argc, char **argv);
#endif
