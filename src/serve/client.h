/* serve/client: the CLI's side of the daemon. When a daemon serves the configured socket (and
 * the same index), `ragd search`, `ragd ask` and `ragd index` send their request to it over
 * HTTP on the Unix socket (libcurl) instead of opening the index themselves. */
#ifndef RAGD_SERVE_CLIENT_H
#define RAGD_SERVE_CLIENT_H
#include <jansson.h>
#include "serve/cli.h"

/* The index directory as the daemon and clients compare it: its realpath, or the absolute
 * path when it does not exist yet (malloc'd). */
char *rg_index_identity(const char *index_dir);
/* A "key = value" from the config file (malloc'd), or NULL. */
char *rg_config_value(const char *config_path, const char *key);
/* The socket for this configuration: $RAGD_SOCKET, config "socket", else the default
 * ($XDG_RUNTIME_DIR/ragd.sock, else INDEX/ragd.sock) (malloc'd). */
char *rg_client_socket(const rg_cli *cli);

/* Sends METHOD PATH with a JSON body (may be NULL; not consumed) to the daemon.
 * Returns 1 when a daemon answered: *reply is its JSON (an {"error":{...}} object for a
 * 4xx/5xx answer); 0 when no daemon serves this index (nothing listening, or one serving
 * another index): the caller works on the index directly; -1 on a transport error (rg_err).
 * POST /v1/index is special: relative "paths" are made absolute, the job is followed until
 * it ends, and *reply is the finished job ({"state", "result": {as ragd index --json}});
 * a daemon that refuses the paths (403: outside its --allow-root) gives 0. */
int rg_client_try(const rg_cli *cli, const char *method, const char *path, json_t *body, json_t **reply);
/* The lower level: one request on a given socket; *status is the HTTP status. */
int rg_client_call(const char *socket_path, const char *index_id, const char *method, const char *path,
                   json_t *body, double timeout, long *status, json_t **reply);
#endif
