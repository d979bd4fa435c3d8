/* serve/daemon_internal: what the daemon's files share (not a public interface).
 *   daemon_socket.c   the listening socket (bind, modes, stale sockets, systemd), sd_notify, peer creds
 *   daemon_jobs.c     the index job queue: one writer thread, jobs by id
 *   daemon_http.c     libmicrohttpd glue: requests, limits, worker pool, responses, routing
 *   daemon_handlers.c the endpoints' work, run on the worker threads
 *   daemon_stream.c   responses streamed while a worker produces them (SSE)
 *   daemon.c          startup, signals, reload, shutdown */
#ifndef RAGD_SERVE_DAEMON_INTERNAL_H
#define RAGD_SERVE_DAEMON_INTERNAL_H
#include "serve/daemon.h"
#include "index/store.h"
#include "embed/encoder.h"
#include "embed/rerank.h"
#include "serve/ask_llm.h"
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* ---- socket ---- */
/* The listening socket: systemd's (LISTEN_FDS) when given, else path bound here with the
 * configured mode. *owned is 1 when the daemon created the path (and removes it on exit). */
int rg_dsock_listen(const char *path, const char *group, int *owned);
/* Sends a state line ("READY=1", "STOPPING=1", "RELOADING=1") to $NOTIFY_SOCKET, if set. */
void rg_dsock_notify(const char *state);
/* The peer's credentials on a connected Unix socket. */
int rg_dsock_peer(int fd, uid_t *uid, gid_t *gid, pid_t *pid);
/* Makes path's parent directory safe: created 0700 when missing; refused when it is
 * group/world-writable or owned by another (non-root) user. */
int rg_dsock_check_dir(const char *path);

/* ---- jobs ---- */
typedef enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED } job_state;
typedef enum { JOB_INDEX, JOB_REMOVE } job_kind;
typedef struct rg_jobs rg_jobs;
typedef struct rg_daemon rg_daemon;

rg_jobs *rg_jobs_start(rg_daemon *d);
/* Queues an index job over (already checked, absolute) paths; returns its id. */
int64_t rg_jobs_submit_index(rg_jobs *j, char **paths, int npaths, char **exclude, int nexclude, int prune);
/* Queues a document removal; returns its id. */
int64_t rg_jobs_submit_remove(rg_jobs *j, const char *doc_id);
/* The job as JSON, or NULL when unknown. */
json_t *rg_jobs_get(rg_jobs *j, int64_t id);
/* Waits until the job finished or timeout seconds passed; returns its state. */
job_state rg_jobs_wait(rg_jobs *j, int64_t id, double timeout);
int rg_jobs_active(rg_jobs *j);        /* 1 while a job runs */
json_t *rg_jobs_summary(rg_jobs *j);   /* {"queued","running","finished"} counts */
/* Cancels the running job (it stops after its current source) and the queued ones; refuses
 * new jobs. Does not wait. */
void rg_jobs_cancel(rg_jobs *j);
/* Cancels, waits for the job thread, frees everything. */
void rg_jobs_stop(rg_jobs *j);

/* ---- the daemon ---- */
/* A counted reference to an encoder, so that a reload never waits for requests or jobs. */
typedef struct { rg_encoder *e; atomic_int refs; } rg_enc_ref;

/* One FAISS copy shared by every worker's store, counted so that a swap never waits for
 * the searches still using the old one. */
struct rg_vectors;
typedef struct { struct rg_vectors *v; atomic_int refs; } rg_vec_ref;

/* A worker's read-only store: its SQLite connection stays open across the writer's commits
 * (WAL: each query sees the last commit); it is reopened only when the encoder was reloaded
 * or the database file was replaced. Its FAISS index is the daemon's shared copy, lent. */
typedef struct {
    rg_store *s;
    struct rg_vectors *own;   /* the store's own (empty) index while the shared one is lent */
    rg_vec_ref *vref;         /* the shared copy this worker holds (lent when dims agree) */
    uint64_t db_ino;
    unsigned epoch;
    double checked_at;        /* last stat of the database file */
} rg_worker_store;

/* A counted reference to the generator (the language model), swapped by a reload. */
typedef struct { rg_generator *g; atomic_int refs; char *key; } rg_gen_ref;
/* Likewise for /v1/search's cross-encoder; spec is the model path it was opened from. */
typedef struct { rg_reranker *r; atomic_int refs; char *spec; } rg_rr_ref;

struct rg_daemon {
    rg_daemon_config cfg;
    char *socket_path;
    char *index_real;             /* realpath of the index dir once it exists */
    pthread_mutex_t enc_mu;       /* guards the swap of enc (reload) */
    rg_enc_ref *enc;              /* the current encoder; requests and jobs hold a reference */
    pthread_mutex_t gen_mu;       /* guards the swap of gen (reload) */
    rg_gen_ref *gen;              /* the configured generator, or NULL: the reasoner alone */
    rg_rr_ref *rr;                /* /v1/search's cross-encoder, or NULL (guarded by gen_mu) */
    atomic_uint epoch;            /* bumped by reload: workers reopen their stores */
    pthread_mutex_t vec_mu;       /* guards vec and the loader's bookkeeping below */
    rg_vec_ref *_Atomic vec;      /* the current shared FAISS copy, NULL before the first load */
    pthread_mutex_t vec_load_mu;  /* one load at a time */
    uint64_t vec_ino, vec_mt;     /* vectors.gen identity of the loaded copy */
    int vec_have;
    unsigned vec_epoch;
    double vec_loaded_at;
    pthread_t vec_thread;
    int have_vec_thread;
    pthread_cond_t vec_cv;
    int vec_stop;
    rg_jobs *jobs;
    double started;
    atomic_int draining;          /* stop signal received */
    atomic_long served, rejected;
};

/* The worker's read-only store, opened (or reopened after a reload) as needed, with the
 * current shared FAISS copy lent to it. NULL with rg_err set when there is no index yet. */
rg_store *rg_daemon_store(rg_daemon *d, rg_worker_store *ws, rg_encoder *e);
/* Reloads the shared FAISS copy now when the index's vectors changed since the last load
 * (or always when force). full: reconciled with SQLite (what the file lacks is added);
 * else the file as the writer last saved it. Safe from any thread. */
void rg_daemon_vectors_refresh(rg_daemon *d, int force, int full);
rg_enc_ref *rg_daemon_encoder(rg_daemon *d);   /* takes a reference */
rg_gen_ref *rg_daemon_generator(rg_daemon *d); /* takes a reference; NULL when none */
void rg_gen_release(rg_gen_ref *r);
rg_rr_ref *rg_daemon_reranker(rg_daemon *d);   /* takes a reference; NULL when none */
void rg_rr_release(rg_rr_ref *r);
void rg_enc_release(rg_enc_ref *r);
void rg_worker_store_close(rg_worker_store *ws);
/* Reopens the encoder (config "encoder" or the configured spec) and makes every worker reopen
 * its store: on SIGHUP, and after an index job (a corpus-fitted encoder may have been refit). */
void rg_daemon_reload(rg_daemon *d, int from_signal);

/* ---- HTTP ---- */
/* A response streamed while a worker produces it (daemon_stream.c). The worker side: */
typedef struct rg_stream rg_stream;
int rg_stream_event(rg_stream *s, const char *event, json_t *data);   /* -1 once the client is gone */
int rg_stream_text(rg_stream *s, const char *text);                   /* raw text (a "data: [DONE]" line) */
int rg_stream_gone(rg_stream *s);
void rg_stream_end(rg_stream *s);     /* the last call: the response ends, the worker's reference goes */
/* The HTTP side: a stream for connection c (two references: the worker's, and the request's
 * until its response is queued); the response that reads it takes the request's reference. */
struct MHD_Connection;
struct MHD_Response;
rg_stream *rg_stream_new(struct MHD_Connection *c);
struct MHD_Response *rg_stream_response(rg_stream *s);
void rg_stream_abandon(rg_stream *s);   /* the request's reference, when no response was made */

/* What a handler produces: a status and a JSON body, or an SSE stream text. */
typedef struct {
    int status;
    json_t *body;          /* owned */
    char *sse;             /* owned; when set, sent as text/event-stream (chunked) */
    char *json;            /* owned; when set (and sse is not), the JSON body as text, sent as it is */
    int retry_after;       /* seconds, for 503 */
} rg_reply;

void rg_reply_error(rg_reply *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct {
    const char *method, *path;     /* path without the query string, URL-decoded by MHD */
    json_t *body;                  /* parsed JSON body (POST), or NULL */
    uid_t uid;
    rg_encoder *enc;               /* set by rg_handle for the request's duration */
    rg_generator *gen;             /* likewise; NULL when none is configured */
    double deadline;               /* rg_now() seconds by which the request must be answered */
    /* Starts a 200 text/event-stream response at once (worker routes only; NULL elsewhere or
     * when it cannot). After it, the handler writes only to the stream, never to its reply. */
    rg_stream *(*stream_start)(void *ctx);
    void *stream_ctx;
} rg_request;

/* Routes a request: 1 when the route runs on a worker (heavy), 0 when inline is fine,
 * -1 when unknown (reply filled). */
int rg_route_kind(const char *method, const char *path, rg_reply *r);
void rg_handle(rg_daemon *d, rg_worker_store *ws, const rg_request *q, rg_reply *r);

typedef struct rg_http rg_http;
rg_http *rg_http_start(rg_daemon *d, int listen_fd);
/* Stops accepting (the listening socket is closed), lets queued requests finish within
 * grace seconds, then stops the workers and MHD. */
void rg_http_stop(rg_http *h, double grace);
int rg_http_busy(rg_http *h);
#endif
