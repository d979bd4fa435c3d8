/* serve/daemon_http: libmicrohttpd glue. MHD's polling thread reads requests (headers capped
 * by the connection memory limit, bodies by max_body, JSON nesting by MAX_DEPTH), checks the
 * peer's uid, and answers cheap routes itself. Searches, answers and other store reads are
 * suspended and handed to a bounded queue served by the worker threads (each with its own
 * read-only store); a full queue answers 503 with Retry-After at once. A worker may answer
 * with a stream instead (daemon_stream.c): the request then goes back to MHD at once and
 * its events follow as the worker writes them. */
#include "serve/daemon_internal.h"
#include "serve/client.h"
#include "core/util.h"
#include <microhttpd.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 32
#define HEADER_MEMORY (64 * 1024)

/* Per connection: peer credentials (read once) and the watchdog's clock. A connection that
 * spends longer than request_timeout between requests (reading headers or a body, however
 * slowly the bytes trickle in) is shut down by the watchdog: MHD's idle timeout alone
 * restarts with every byte. */
typedef struct conn {
    int fd;
    uid_t uid;
    int cred_ok;
    int busy;              /* a request is being answered: not the client's time */
    double since;          /* start of the client's current phase */
    struct conn *prev, *next;
} conn;

typedef struct req {
    rg_http *h;
    struct MHD_Connection *conn;
    const char *method, *url;
    rg_buf body;
    json_t *json;          /* the parsed body */
    int too_big, refused, answered;
    uid_t uid;
    rg_reply reply;
    int have_reply;
    rg_stream *stream;     /* a streamed reply: the request's reference until it is queued */
    double t_enq;
    struct req *next;
} req;

struct rg_http {
    rg_daemon *d;
    struct MHD_Daemon *mhd;
    int listen_fd;
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    req *qhead, *qtail;
    int qlen, busy, stop;
    pthread_mutex_t cmu;   /* the connection list */
    conn *conns;
    pthread_t watchdog;
    int have_watchdog, wd_stop;
    pthread_cond_t wd_cv;
};

void rg_reply_error(rg_reply *r, int status, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(r->body);
    free(r->sse);
    r->sse = NULL;
    free(r->json);
    r->json = NULL;
    r->status = status;
    r->body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
}

/* Nesting depth of a JSON text, counted outside strings; stops early past the limit. */
static int json_depth_ok(const char *s, size_t n) {
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') { if (++depth > MAX_DEPTH) return 0; }
        else if (c == ']' || c == '}') depth--;
    }
    return 1;
}

/* ---- responses ---- */

typedef struct { char *text; size_t len, pos; } sse_src;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    sse_src *s = cls;
    (void)pos;
    if (s->pos >= s->len) return MHD_CONTENT_READER_END_OF_STREAM;
    /* One event per chunk: up to the next blank line, so a client sees events as they come. */
    const char *start = s->text + s->pos;
    const char *end = strstr(start, "\n\n");
    size_t n = end ? (size_t)(end - start) + 2 : s->len - s->pos;
    if (n > max) n = max;
    memcpy(buf, start, n);
    s->pos += n;
    return (ssize_t)n;
}

static void sse_free(void *cls) {
    sse_src *s = cls;
    free(s->text);
    free(s);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, rg_reply *rp, int close_conn) {
    struct MHD_Response *resp;
    if (rp->sse) {
        sse_src *s = xcalloc(1, sizeof *s);
        s->text = rp->sse;
        s->len = strlen(rp->sse);
        rp->sse = NULL;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, s, sse_free);
        if (!resp) { sse_free(s); return MHD_NO; }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    } else {
        char *text = rp->json ? NULL : rp->body ? json_dumps(rp->body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        rg_buf b = {0};
        rg_buf_puts(&b, rp->json ? rp->json : text ? text : "{}");
        rg_buf_putc(&b, '\n');
        free(text);
        size_t len = b.len;
        char *data = rg_buf_take(&b);
        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!resp) { free(data); return MHD_NO; }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    }
    if (rp->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", rp->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (close_conn) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)(rp->status ? rp->status : 200), resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *code, const char *msg,
                                  int retry_after, int close_conn) {
    rg_reply r = {0};
    rg_reply_error(&r, status, code, "%s", msg);
    r.retry_after = retry_after;
    enum MHD_Result ret = send_reply(c, &r, close_conn);
    json_decref(r.body);
    return ret;
}

/* ---- the worker pool ---- */

/* Opens or refreshes the worker's store while it has nothing else to do, so that requests
 * rarely pay for loading the index. */
static void refresh_store(rg_daemon *d, rg_worker_store *ws) {
    rg_enc_ref *er = rg_daemon_encoder(d);
    rg_daemon_store(d, ws, er->e);
    rg_enc_release(er);
}

/* A handler's stream_start: the request gets a stream and goes back to MHD, which answers
 * it with a response reading that stream (on_request). */
typedef struct { req *r; int started; } stream_hook;

static rg_stream *stream_start(void *ctx) {
    stream_hook *sh = ctx;
    if (sh->started) return NULL;
    req *r = sh->r;
    rg_stream *st = rg_stream_new(r->conn);
    r->stream = st;
    r->have_reply = 1;
    sh->started = 1;
    MHD_resume_connection(r->conn);   /* r belongs to MHD from here */
    return st;
}

static void *worker_main(void *arg) {
    rg_http *h = arg;
    rg_daemon *d = h->d;
    rg_worker_store ws = {0};
    pthread_setname_np(pthread_self(), "rg-worker");
    refresh_store(d, &ws);
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->qhead && !h->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 500000000;
            if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
            if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) == ETIMEDOUT && !h->qhead && !h->stop) {
                pthread_mutex_unlock(&h->mu);
                refresh_store(d, &ws);
                pthread_mutex_lock(&h->mu);
            }
        }
        if (!h->qhead) break;
        req *r = h->qhead;
        h->qhead = r->next;
        if (!h->qhead) h->qtail = NULL;
        h->qlen--;
        h->busy++;
        int stopping = h->stop;
        pthread_mutex_unlock(&h->mu);

        double waited = rg_now() - r->t_enq;
        /* What the handler reads is the worker's own: once a streamed reply has begun, the
         * request (and MHD's copies of its method and URL) may go at any time. */
        json_t *body = r->json;
        r->json = NULL;
        char *method = xstrdup(r->method), *url = xstrdup(r->url);
        rg_reply rep = {0};
        stream_hook sh = {r, 0};
        if (stopping) {
            rg_reply_error(&rep, 503, "shutting_down", "the daemon is stopping");
        } else if (waited > d->cfg.deadline) {
            rg_reply_error(&rep, 503, "deadline", "request waited %.1fs in the queue (deadline %.1fs)", waited, d->cfg.deadline);
            rep.retry_after = 1;
        } else {
            rg_request q = {.method = method, .path = url, .body = body, .uid = r->uid,
                            .deadline = r->t_enq + d->cfg.deadline, .stream_start = stream_start, .stream_ctx = &sh};
            rg_handle(d, &ws, &q, &rep);
        }
        if (!sh.started) {
            r->reply = rep;
            r->have_reply = 1;
            MHD_resume_connection(r->conn);   /* r belongs to MHD again from here */
        } else {
            json_decref(rep.body);
            free(rep.sse);
            free(rep.json);
        }
        json_decref(body);
        free(method);
        free(url);
        atomic_fetch_add(&d->served, 1);

        pthread_mutex_lock(&h->mu);
        h->busy--;
        if (!h->busy && !h->qhead) pthread_cond_broadcast(&h->idle_cv);
    }
    pthread_mutex_unlock(&h->mu);
    rg_worker_store_close(&ws);
    return NULL;
}

/* ---- connections and the watchdog ---- */

static void set_busy(rg_http *h, struct MHD_Connection *c, int busy) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn *cn = ci ? ci->socket_context : NULL;
    if (!cn) return;
    pthread_mutex_lock(&h->cmu);
    cn->busy = busy;
    cn->since = rg_now();
    pthread_mutex_unlock(&h->cmu);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **sctx, enum MHD_ConnectionNotificationCode toe) {
    rg_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn *cn = xcalloc(1, sizeof *cn);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        cn->fd = ci ? ci->connect_fd : -1;
        cn->cred_ok = cn->fd >= 0 && rg_dsock_peer(cn->fd, &cn->uid, NULL, NULL) == 0;
        cn->since = rg_now();
        pthread_mutex_lock(&h->cmu);
        cn->next = h->conns;
        if (h->conns) h->conns->prev = cn;
        h->conns = cn;
        pthread_mutex_unlock(&h->cmu);
        *sctx = cn;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn *cn = *sctx;
        if (!cn) return;
        pthread_mutex_lock(&h->cmu);
        if (cn->prev) cn->prev->next = cn->next; else h->conns = cn->next;
        if (cn->next) cn->next->prev = cn->prev;
        pthread_mutex_unlock(&h->cmu);
        free(cn);
        *sctx = NULL;
    }
}

static void *watchdog_main(void *arg) {
    rg_http *h = arg;
    double limit = h->d->cfg.request_timeout;
    pthread_setname_np(pthread_self(), "rg-watchdog");
    pthread_mutex_lock(&h->cmu);
    while (!h->wd_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&h->wd_cv, &h->cmu, &ts);
        double now = rg_now();
        for (conn *cn = h->conns; cn; cn = cn->next)
            if (!cn->busy && cn->fd >= 0 && now - cn->since > limit) {
                shutdown(cn->fd, SHUT_RDWR);   /* MHD sees the end and cleans up */
                cn->since = now;               /* once is enough */
            }
    }
    pthread_mutex_unlock(&h->cmu);
    return NULL;
}

/* ---- MHD callbacks ---- */

static int uid_allowed(const rg_daemon *d, uid_t uid) {
    for (int i = 0; i < d->cfg.nallow; i++)
        if (d->cfg.allow_uids[i] == uid) return 1;
    return 0;
}

/* The client's index (X-Ragd-Index) is ours: compared again with a fresh realpath, since the
 * index directory may have been created (or a symlink changed) after the daemon started. */
static int same_index(const rg_daemon *d, const char *want) {
    char *now = rg_index_identity(d->cfg.index_dir);
    int same = strcmp(now, want) == 0;
    free(now);
    return same;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upsize, void **ctx) {
    rg_http *h = cls;
    rg_daemon *d = h->d;
    req *r = *ctx;
    (void)version;
    if (!r) {
        r = xcalloc(1, sizeof *r);
        r->h = h;
        r->conn = c;
        r->method = method;
        r->url = url;
        *ctx = r;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        const conn *cn = ci ? ci->socket_context : NULL;
        uid_t uid = cn && cn->cred_ok ? cn->uid : (uid_t)-1;
        if (!cn || !cn->cred_ok || !uid_allowed(d, uid)) {
            r->answered = 1;
            atomic_fetch_add(&d->rejected, 1);
            char msg[96];
            snprintf(msg, sizeof msg, "uid %ld is not allowed to use this daemon", (long)(int)uid);
            return send_error(c, 403, "forbidden", msg, 0, 1);
        }
        r->uid = uid;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || *end || v > d->cfg.max_body) {
                r->answered = 1;
                char msg[96];
                snprintf(msg, sizeof msg, "request body larger than %zu bytes", d->cfg.max_body);
                return send_error(c, 413, "too_large", msg, 0, 1);
            }
        }
        return MHD_YES;
    }
    if (*upsize) {
        if (!r->too_big && !r->answered) {
            if (r->body.len + *upsize > d->cfg.max_body) {
                r->too_big = 1;
                rg_buf_free(&r->body);
            } else rg_buf_put(&r->body, upload, *upsize);
        }
        *upsize = 0;
        return MHD_YES;
    }
    if (r->answered) return MHD_YES;
    if (r->have_reply) {   /* resumed by a worker */
        r->answered = 1;
        if (r->stream) {
            rg_stream *st = r->stream;
            r->stream = NULL;
            struct MHD_Response *resp = rg_stream_response(st);
            if (!resp) { rg_stream_abandon(st); return MHD_NO; }
            enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
            MHD_destroy_response(resp);   /* freed (and the stream released) once sent or dropped */
            return ret;
        }
        return send_reply(c, &r->reply, 0);
    }
    r->answered = 1;
    set_busy(h, c, 1);
    if (r->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body larger than %zu bytes", d->cfg.max_body);
        return send_error(c, 413, "too_large", msg, 0, 1);
    }
    if (atomic_load(&d->draining)) return send_error(c, 503, "shutting_down", "the daemon is stopping", 1, 1);
    const char *want = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Ragd-Index");
    if (want && d->index_real && strcmp(want, d->index_real) != 0 && !same_index(d, want)) {
        char msg[1200];
        snprintf(msg, sizeof msg, "this daemon serves the index %.1000s", d->index_real);
        return send_error(c, 409, "index_mismatch", msg, 0, 0);
    }
    if (r->body.len) {
        json_error_t err;
        if (!json_depth_ok(r->body.data, r->body.len))
            return send_error(c, 400, "bad_json", "JSON nested too deeply", 0, 0);
        r->json = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &err);
        if (!r->json) {
            char msg[300];
            snprintf(msg, sizeof msg, "request body: %s (line %d, column %d)", err.text, err.line, err.column);
            return send_error(c, 400, "bad_json", msg, 0, 0);
        }
    }
    rg_reply rp = {0};
    int kind = rg_route_kind(method, url, &rp);
    if (kind < 0) {
        enum MHD_Result ret = send_reply(c, &rp, 0);
        json_decref(rp.body);
        return ret;
    }
    if (kind == 0) {   /* cheap: answered on this thread, no store needed */
        rg_request q = {.method = method, .path = url, .body = r->json, .uid = r->uid, .deadline = rg_now() + d->cfg.deadline};
        rg_handle(d, NULL, &q, &rp);
        enum MHD_Result ret = send_reply(c, &rp, 0);
        json_decref(rp.body);
        free(rp.sse);
        free(rp.json);
        return ret;
    }
    pthread_mutex_lock(&h->mu);
    if (h->qlen >= d->cfg.max_queue || h->stop) {
        pthread_mutex_unlock(&h->mu);
        atomic_fetch_add(&d->rejected, 1);
        return send_error(c, 503, "busy", "too many requests queued; retry shortly", 1, 0);
    }
    r->answered = 0;
    r->t_enq = rg_now();
    MHD_suspend_connection(c);
    r->next = NULL;
    if (h->qtail) h->qtail->next = r; else h->qhead = r;
    h->qtail = r;
    h->qlen++;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode toe) {
    (void)toe;
    set_busy(cls, c, 0);
    req *r = *ctx;
    if (!r) return;
    if (r->stream) rg_stream_abandon(r->stream);   /* the client went before the stream began */
    rg_buf_free(&r->body);
    json_decref(r->json);
    json_decref(r->reply.body);
    free(r->reply.sse);
    free(r->reply.json);
    free(r);
    *ctx = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    rg_daemon *d = cls;
    if (d->cfg.quiet) return;
    fprintf(stderr, "ragd serve: ");
    vfprintf(stderr, fmt, ap);
}

rg_http *rg_http_start(rg_daemon *d, int listen_fd) {
    rg_http *h = xcalloc(1, sizeof *h);
    h->d = d;
    h->listen_fd = listen_fd;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    pthread_cond_init(&h->idle_cv, NULL);
    pthread_mutex_init(&h->cmu, NULL);
    pthread_cond_init(&h->wd_cv, NULL);
    h->nworkers = d->cfg.workers;
    h->workers = xcalloc((size_t)h->nworkers, sizeof *h->workers);
    for (int i = 0; i < h->nworkers; i++)
        if (pthread_create(&h->workers[i], NULL, worker_main, h) != 0) {
            rg_err("worker thread: %s", strerror(errno));
            h->nworkers = i;
            rg_http_stop(h, 0);
            return NULL;
        }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem ops[12];
    int n = 0;
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, d};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
    if (d->cfg.io_threads > 1)
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, d->cfg.io_threads, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, d->cfg.max_conns, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, d->cfg.conn_timeout, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, HEADER_MEMORY, NULL};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!h->mhd) {
        rg_err("could not start the HTTP server on the socket");
        rg_http_stop(h, 0);
        return NULL;
    }
    if (pthread_create(&h->watchdog, NULL, watchdog_main, h) == 0) h->have_watchdog = 1;
    return h;
}

int rg_http_busy(rg_http *h) {
    pthread_mutex_lock(&h->mu);
    int n = h->busy + h->qlen;
    pthread_mutex_unlock(&h->mu);
    return n;
}

void rg_http_stop(rg_http *h, double grace) {
    if (!h) return;
    /* Stop accepting: MHD hands the listening socket back; we close it only after
     * MHD_stop_daemon, since MHD's own thread may still be polling it until then. */
    MHD_socket listen_fd = h->mhd ? MHD_quiesce_daemon(h->mhd) : MHD_INVALID_SOCKET;
    /* Let the queue drain within the grace period. */
    double end = rg_now() + grace;
    pthread_mutex_lock(&h->mu);
    while ((h->busy || h->qhead) && rg_now() < end) {
        pthread_mutex_unlock(&h->mu);
        usleep(20000);
        pthread_mutex_lock(&h->mu);
    }
    h->stop = 1;   /* what is still queued is answered 503 by the workers on their way out */
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    for (int i = 0; i < h->nworkers; i++) pthread_join(h->workers[i], NULL);
    pthread_mutex_lock(&h->cmu);
    h->wd_stop = 1;
    pthread_cond_broadcast(&h->wd_cv);
    pthread_mutex_unlock(&h->cmu);
    if (h->have_watchdog) pthread_join(h->watchdog, NULL);
    if (h->mhd) MHD_stop_daemon(h->mhd);
    if (listen_fd != MHD_INVALID_SOCKET) close(listen_fd);
    free(h->workers);
    pthread_cond_destroy(&h->cv);
    pthread_cond_destroy(&h->idle_cv);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->wd_cv);
    pthread_mutex_destroy(&h->cmu);
    free(h);
}
