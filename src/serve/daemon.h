/* serve/daemon: `ragd serve`, the HTTP/1.1 + JSON daemon on a Unix domain socket.
 * rg_daemon_run() binds (or takes from systemd) the socket, serves the endpoints of the
 * interface spec on a worker pool (each worker owns a read-only store), runs index jobs one
 * at a time on a job thread, and returns when SIGTERM/SIGINT arrive (SIGHUP reloads). */
#ifndef RAGD_SERVE_DAEMON_H
#define RAGD_SERVE_DAEMON_H
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    const char *index_dir;
    const char *encoder_spec;
    const char *config_path;     /* re-read on SIGHUP (encoder, generator), may be NULL */
    /* The language model for /v1/ask (as `ragd ask`): a .gguf file or "remote" with the
     * remote_* settings; NULL: the reasoner alone. Loaded once; reloaded on SIGHUP when the
     * configuration names another. */
    const char *generator_spec;
    const char *remote_url, *remote_model, *remote_api_key_env;
    /* A cross-encoder for /v1/search (config "reranker", $RAGD_RERANKER): loaded once at
     * start (SIGHUP does not reload it); NULL: no reranking. */
    const char *reranker_spec;
    const char *socket_path;     /* NULL: rg_daemon_default_socket() */
    const char *socket_group;    /* group name: socket mode 0660 and chgrp; NULL: 0600 */
    uid_t allow_uids[32]; int nallow;
    int no_default_allow;        /* do not add the daemon's own uid and root */
    char *allow_roots[32]; int nroots;   /* /v1/index reads only below these (realpath'd) */
    int workers;                 /* request worker threads (default 4) */
    int io_threads;              /* MHD polling threads (default 1) */
    int max_queue;               /* queued requests before 503 (default 64) */
    int max_conns;               /* open connections (default 256) */
    int conn_timeout;            /* seconds a connection may be idle (default 10) */
    size_t max_body;             /* request body cap (default 1 MiB) */
    double deadline;             /* per-request seconds, queue wait included (default 30) */
    double request_timeout;      /* seconds a client may take to send a request (default 30) */
    double grace;                /* seconds to finish in-flight work on SIGTERM (default 10) */
    int quiet;                   /* no log lines on stderr */
} rg_daemon_config;

void rg_daemon_config_default(rg_daemon_config *c);
/* $RAGD_SOCKET, else $XDG_RUNTIME_DIR/ragd.sock, else INDEX_DIR/ragd.sock (malloc'd). */
char *rg_daemon_default_socket(const char *index_dir);
/* Serves until a stop signal. Returns 0 after a clean stop, -1 with rg_err when it could
 * not start (socket in use, unsafe directory, bad configuration). */
int rg_daemon_run(const rg_daemon_config *c);
#endif
