/* fake_http: a scripted HTTP/1.1 server on 127.0.0.1 for testing the libcurl clients (URL
 * fetch, OpenAI-compatible remote model, the daemon's remote generator). fh_start() listens
 * on a free loopback port and serves one connection at a time in a thread: it reads the
 * request (headers and the body its Content-Length gives), counts and keeps it (the last one,
 * for assertions: fh_last), then calls the test's handler, which answers with fh_reply / fh_head
 * + fh_send (statuses, extra headers, bodies with or without Content-Length, SSE streams) and
 * may pause with fh_sleep (cut short by fh_stop). Every response closes its connection. */
#ifndef RAGD_TEST_FAKE_HTTP_H
#define RAGD_TEST_FAKE_HTTP_H
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define FH_MAX_REQUEST (1 << 20)   /* a larger request is dropped unanswered */
#define FH_MAX_HEADERS 64

/* One parsed request; owns its text. Header names and values point into it. */
typedef struct {
    char method[16], path[1024];
    int nheaders;
    const char *hname[FH_MAX_HEADERS], *hvalue[FH_MAX_HEADERS];
    const char *body;   /* NUL-terminated */
    size_t body_len;
    char *raw_;
} fh_request;

typedef struct fh_server fh_server;
/* Answers one request on fd (the server closes it afterwards). Runs on the server's thread. */
typedef void (*fh_handler)(fh_server *s, const fh_request *req, int fd, void *ud);

struct fh_server {
    int fd, port;
    pthread_t thread;
    atomic_int stopping, requests;
    pthread_mutex_t mu;
    char *last_raw;   /* the last request as received, under mu */
    size_t last_len;
    fh_handler handler;
    void *ud;
};

/* ---- requests ---- */

static inline void fh_request_free(fh_request *r) { free(r->raw_); memset(r, 0, sizeof *r); }

/* Parses raw[0..len) (a whole request) into r, which takes a copy. 0, or -1 when malformed. */
static inline int fh_parse(const char *raw, size_t len, fh_request *r) {
    memset(r, 0, sizeof *r);
    r->raw_ = malloc(len + 1);
    if (!r->raw_) return -1;
    memcpy(r->raw_, raw, len);
    r->raw_[len] = 0;
    char *hend = strstr(r->raw_, "\r\n\r\n");
    if (!hend) { fh_request_free(r); return -1; }
    r->body = hend + 4;
    r->body_len = len - (size_t)(hend + 4 - r->raw_);
    *hend = 0;
    char *line = r->raw_, *eol = strstr(line, "\r\n");
    if (eol) *eol = 0;
    char fmt[32];
    snprintf(fmt, sizeof fmt, "%%%zus %%%zus", sizeof r->method - 1, sizeof r->path - 1);
    if (sscanf(line, fmt, r->method, r->path) != 2) { fh_request_free(r); return -1; }
    for (line = eol ? eol + 2 : NULL; line && *line && r->nheaders < FH_MAX_HEADERS;) {
        eol = strstr(line, "\r\n");
        if (eol) *eol = 0;
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            r->hname[r->nheaders] = line;
            r->hvalue[r->nheaders++] = v;
        }
        line = eol ? eol + 2 : NULL;
    }
    return 0;
}

/* The value of header name (any case), or NULL. */
static inline const char *fh_header(const fh_request *r, const char *name) {
    for (int i = 0; i < r->nheaders; i++) if (strcasecmp(r->hname[i], name) == 0) return r->hvalue[i];
    return NULL;
}

/* The string member key of the JSON object in the body, copied into out ("" when absent). */
static inline const char *fh_body_str(const fh_request *r, const char *key, char *out, size_t cap) {
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    const char *v = json_string_value(json_object_get(j, key));
    snprintf(out, cap, "%s", v ? v : "");
    json_decref(j);
    return out;
}

/* Whether the body's JSON object has key: true. */
static inline int fh_body_true(const fh_request *r, const char *key) {
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    int t = json_is_true(json_object_get(j, key));
    json_decref(j);
    return t;
}

/* How many whole requests the server has read. */
static inline int fh_count(fh_server *s) { return atomic_load(&s->requests); }

/* A copy of the last request (free with fh_request_free). 0, or -1 when none came yet. */
static inline int fh_last(fh_server *s, fh_request *out) {
    pthread_mutex_lock(&s->mu);
    int rc = s->last_raw ? fh_parse(s->last_raw, s->last_len, out) : -1;
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}

/* ---- responses ---- */

/* Writes all of p; -1 when the peer is gone (the client hung up). */
static inline int fh_send(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}
static inline int fh_send_str(int fd, const char *s) { return fh_send(fd, s, strlen(s)); }

static inline const char *fh_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    default: return "Status";
    }
}

/* The status line and headers. headers: extra lines, each ending "\r\n" (may be NULL).
 * content_length < 0: none sent, the body ends when the connection closes. */
static inline int fh_head(int fd, int status, const char *headers, long long content_length) {
    char head[2048], cl[64] = "";
    if (content_length >= 0) snprintf(cl, sizeof cl, "Content-Length: %lld\r\n", content_length);
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nConnection: close\r\n%s%s\r\n", status, fh_reason(status), cl,
                     headers ? headers : "");
    if (n < 0 || (size_t)n >= sizeof head) return -1;
    return fh_send(fd, head, (size_t)n);
}

/* A whole response with Content-Length. */
static inline int fh_reply(int fd, int status, const char *headers, const char *body, size_t len) {
    if (fh_head(fd, status, headers, (long long)len) != 0) return -1;
    return fh_send(fd, body, len);
}
static inline int fh_reply_json(int fd, int status, const char *json) {
    return fh_reply(fd, status, "Content-Type: application/json\r\n", json, strlen(json));
}

/* Server-sent events: the head of a 200 text/event-stream that ends at close. */
static inline int fh_sse_start(int fd) { return fh_head(fd, 200, "Content-Type: text/event-stream\r\n", -1); }

/* Sleeps ms milliseconds in short steps; -1 at once when the server is stopping. */
static inline int fh_sleep(fh_server *s, int ms) {
    for (; ms > 0; ms -= 20) {
        if (atomic_load(&s->stopping)) return -1;
        usleep((useconds_t)(ms < 20 ? ms : 20) * 1000);
    }
    return atomic_load(&s->stopping) ? -1 : 0;
}

/* ---- OpenAI-compatible chat replies ---- */

/* A chat.completion whose message is content, finish_reason "stop". */
static inline int fh_chat_reply(int fd, const char *content) {
    json_t *j = json_pack("{s:s, s:[{s:i, s:{s:s, s:s}, s:s}]}", "id", "x", "choices", "index", 0, "message", "role",
                          "assistant", "content", content, "finish_reason", "stop");
    char *text = json_dumps(j, JSON_COMPACT);
    int rc = text ? fh_reply_json(fd, 200, text) : -1;
    free(text);
    json_decref(j);
    return rc;
}

/* One streamed chunk "data: {...delta content...}\n\n". */
static inline int fh_chat_delta(int fd, const char *content) {
    json_t *j = json_pack("{s:s, s:[{s:i, s:{s:s}}]}", "id", "x", "choices", "index", 0, "delta", "content", content);
    char *text = json_dumps(j, JSON_COMPACT), *ev;
    int rc = -1;
    if (text && asprintf(&ev, "data: %s\n\n", text) > 0) {   /* (ev is undefined on failure) */
        rc = fh_send_str(fd, ev);
        free(ev);
    }
    free(text);
    json_decref(j);
    return rc;
}

/* ---- the server ---- */

/* Reads one request (headers, then Content-Length bytes of body) into a malloc'd buffer. */
static inline char *fh_read_request(int fd, size_t *len) {
    size_t cap = 16384, n = 0, want = 0;
    char *buf = malloc(cap + 1), *hend = NULL;
    while (buf) {
        if (hend && n - (size_t)(hend + 4 - buf) >= want) { *len = n; return buf; }
        if (n == cap) {
            if (cap >= FH_MAX_REQUEST) break;
            size_t off = hend ? (size_t)(hend - buf) : 0;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) break;
            buf = nb;
            cap *= 2;
            if (hend) hend = buf + off;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
        if (!hend && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
            *hend = 0;
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = cl ? (size_t)strtoull(cl + 17, NULL, 10) : 0;
            *hend = '\r';
            if (want > FH_MAX_REQUEST) break;
        }
    }
    free(buf);
    return NULL;
}

static inline void *fh_main(void *arg) {
    fh_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) continue;
        struct timeval tv = {2, 0};   /* a client that stalls mid-request is dropped */
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        size_t len;
        char *raw = fh_read_request(c, &len);
        fh_request req;
        if (raw && fh_parse(raw, len, &req) == 0) {
            pthread_mutex_lock(&s->mu);
            free(s->last_raw);
            s->last_raw = raw;
            s->last_len = len;
            raw = NULL;
            pthread_mutex_unlock(&s->mu);
            atomic_fetch_add(&s->requests, 1);
            s->handler(s, &req, c, s->ud);
            fh_request_free(&req);
        }
        free(raw);
        close(c);
    }
    return NULL;
}

/* Listens on 127.0.0.1 (a free port: s->port) and serves in a thread. 0, or -1. */
static inline int fh_start(fh_server *s, fh_handler handler, void *ud) {
    memset(s, 0, sizeof *s);
    s->handler = handler;
    s->ud = ud;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &al) != 0) {
        if (s->fd >= 0) close(s->fd);
        s->fd = -1;
        return -1;
    }
    s->port = ntohs(a.sin_port);
    pthread_mutex_init(&s->mu, NULL);
    if (pthread_create(&s->thread, NULL, fh_main, s) != 0) {
        close(s->fd);
        s->fd = -1;
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    return 0;
}

/* Stops serving (a handler in fh_sleep returns at once), joins the thread, frees all. */
static inline void fh_stop(fh_server *s) {
    if (s->fd < 0) return;
    atomic_store(&s->stopping, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    s->fd = -1;
    free(s->last_raw);
    s->last_raw = NULL;
    pthread_mutex_destroy(&s->mu);
}

/* "http://127.0.0.1:PORT" + path, in buf. */
static inline const char *fh_url(const fh_server *s, const char *path, char *buf, size_t cap) {
    snprintf(buf, cap, "http://127.0.0.1:%d%s", s->port, path ? path : "");
    return buf;
}

/* A loopback port that nothing listens on (bound for a moment, then released). 0 on failure. */
static inline int fh_dead_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}
#endif
