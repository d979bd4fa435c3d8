/* generate/remote: a client for OpenAI-compatible chat-completions servers (libcurl).
 * POSTs {model, messages, max_tokens, temperature, stop, stream} to BASE_URL/chat/completions.
 * The API key is read from the environment variable the config names and is never logged.
 * Retries 429 and 5xx answers and failed connections with exponential backoff, honouring
 * Retry-After; streams server-sent events ("data: {...}" lines ending in "data: [DONE]")
 * through a token callback. Errors name the URL and say what went wrong. */
#ifndef RAGD_GENERATE_REMOTE_H
#define RAGD_GENERATE_REMOTE_H
#include <stddef.h>

typedef struct {
    const char *base_url;        /* e.g. "http://127.0.0.1:8080/v1" (no trailing /chat/...) */
    const char *model;
    const char *api_key_env;     /* name of the variable holding the key; NULL or unset: none */
    double timeout_s;            /* whole request, per attempt (0: 120 s) */
    double connect_timeout_s;    /* 0: 10 s */
    int max_retries;             /* extra attempts after the first (negative: 0) */
    double backoff_s;            /* first retry delay, doubled each time (0: 0.5 s) */
    double max_backoff_s;        /* cap on any delay, Retry-After included (0: 30 s) */
} rg_remote_config;

typedef struct { const char *role, *content; } rg_remote_msg;

typedef struct {
    int max_tokens;              /* 0: not sent */
    double temperature;          /* negative: not sent */
    const char *const *stop;     /* stop strings, nstop of them */
    int nstop;
    int stream;                  /* use server-sent events */
} rg_remote_params;

/* Called with each streamed piece of text; return non-zero to stop the request. */
typedef int (*rg_remote_cb)(const char *piece, size_t len, void *ud);

/* Sends one chat request. Returns the answer text (malloc'd; with stream, the concatenation
 * of the pieces) or NULL with rg_err set. finish_reason (may be NULL) receives a copy of the
 * server's finish_reason ("stop", "length", ...) or NULL; caller frees it. */
char *rg_remote_chat(const rg_remote_config *cfg, const rg_remote_msg *msgs, int nmsgs,
                     const rg_remote_params *p, rg_remote_cb cb, void *ud, char **finish_reason);
#endif
