/* serve/cmd_serve: `ragd serve`: options into an rg_daemon_config, then rg_daemon_run. */
#include "serve/cli.h"
#include "serve/client.h"
#include "serve/daemon.h"
#include "core/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help_text =
    "usage: ragd serve [--socket PATH] [--socket-group NAME] [--allow-uid UID]... [--no-default-allow]\n"
    "                  [--allow-root DIR]... [--workers N] [--io-threads N] [--max-queue N]\n"
    "                  [--max-conns N] [--timeout SECONDS] [--request-timeout SECONDS]\n"
    "                  [--deadline SECONDS] [--grace SECONDS]\n"
    "                  [--max-body BYTES] [--quiet]\n"
    "Runs the daemon: HTTP/1.1 + JSON on a Unix socket (default $XDG_RUNTIME_DIR/ragd.sock, else\n"
    "INDEX/ragd.sock; config key \"socket\"; $RAGD_SOCKET). The socket is mode 0600 (0660 with\n"
    "--socket-group). Peers are checked by uid: the daemon's own and root, plus --allow-uid.\n"
    "POST /v1/index reads only below --allow-root directories (none by default).\n"
    "With a generator configured (config \"generator\", $RAGD_GENERATOR) /v1/ask answers as `ragd ask`\n"
    "does, and \"stream\": true sends the model's tokens as they come. SIGTERM/SIGINT stop cleanly,\n"
    "SIGHUP reloads the encoder and the generator. systemd socket activation and\n"
    "sd_notify readiness are supported (see contrib/systemd/).\n"
    "With a reranker configured (config \"reranker\", $RAGD_RERANKER) /v1/search reorders its top\n"
    "candidates with it (loaded once; not reloaded by SIGHUP).\n";

static int num_opt(const char *name, const char *v, double lo, double hi, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (*end || x < lo || x > hi) { fprintf(stderr, "ragd serve: %s must be %g..%g\n", name, lo, hi); return -1; }
    *out = x;
    return 0;
}

int cmd_serve(rg_cli *cli, int argc, char **argv) {
    rg_daemon_config c;
    rg_daemon_config_default(&c);
    c.index_dir = cli->index_dir;
    c.encoder_spec = cli->encoder_spec;
    c.config_path = cli->config_path;
    c.generator_spec = cli->generator_spec;   /* config "generator" / $RAGD_GENERATOR, as for `ragd ask` */
    c.remote_url = cli->remote_url;
    c.remote_model = cli->remote_model;
    c.remote_api_key_env = cli->remote_api_key_env;
    int json = 0, help = 0;
    char *cfg_socket = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (cli_common_flag(a, &json, &help)) continue;
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) { c.quiet = 1; continue; }
        if (strcmp(a, "--no-default-allow") == 0) { c.no_default_allow = 1; continue; }
        if (!v) { fprintf(stderr, "ragd serve: unknown option %s\n%s", a, help_text); return 2; }
        i++;
        if (strcmp(a, "--socket") == 0) c.socket_path = v;
        else if (strcmp(a, "--socket-group") == 0) c.socket_group = v;
        else if (strcmp(a, "--allow-uid") == 0) {
            if (num_opt(a, v, 0, 4294967294.0, &x)) return 2;
            if (c.nallow >= 30) { fprintf(stderr, "ragd serve: at most 30 --allow-uid\n"); return 2; }
            c.allow_uids[c.nallow++] = (uid_t)x;
        } else if (strcmp(a, "--allow-root") == 0) {
            if (c.nroots >= 32) { fprintf(stderr, "ragd serve: at most 32 --allow-root\n"); return 2; }
            c.allow_roots[c.nroots++] = (char *)v;
        } else if (strcmp(a, "--workers") == 0) { if (num_opt(a, v, 1, 256, &x)) return 2; c.workers = (int)x; }
        else if (strcmp(a, "--io-threads") == 0) { if (num_opt(a, v, 1, 64, &x)) return 2; c.io_threads = (int)x; }
        else if (strcmp(a, "--max-queue") == 0) { if (num_opt(a, v, 1, 100000, &x)) return 2; c.max_queue = (int)x; }
        else if (strcmp(a, "--max-conns") == 0) { if (num_opt(a, v, 1, 100000, &x)) return 2; c.max_conns = (int)x; }
        else if (strcmp(a, "--timeout") == 0) { if (num_opt(a, v, 1, 3600, &x)) return 2; c.conn_timeout = (int)x; }
        else if (strcmp(a, "--request-timeout") == 0) { if (num_opt(a, v, 0.5, 3600, &x)) return 2; c.request_timeout = x; }
        else if (strcmp(a, "--deadline") == 0) { if (num_opt(a, v, 0.01, 3600, &x)) return 2; c.deadline = x; }
        else if (strcmp(a, "--grace") == 0) { if (num_opt(a, v, 0, 3600, &x)) return 2; c.grace = x; }
        else if (strcmp(a, "--max-body") == 0) { if (num_opt(a, v, 1024, 1 << 30, &x)) return 2; c.max_body = (size_t)x; }
        else { fprintf(stderr, "ragd serve: unknown option %s\n%s", a, help_text); return 2; }
    }
    if (help) { fputs(help_text, stdout); return 0; }
    if (!c.socket_path) {
        cfg_socket = rg_config_value(cli->config_path, "socket");
        if (cfg_socket && *cfg_socket) c.socket_path = cfg_socket;
    }
    char *reranker = cli_reranker_spec(cli);   /* config "reranker" / $RAGD_RERANKER, as for `ragd search` */
    c.reranker_spec = reranker;
    int rc = rg_daemon_run(&c);
    if (rc != 0) fprintf(stderr, "ragd serve: %s\n", rg_errmsg());
    free(reranker);
    free(cfg_socket);
    return rc == 0 ? 0 : 1;
}
