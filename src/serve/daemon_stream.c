/* serve/daemon_stream: a response sent while a worker produces it (server-sent events for
 * streamed answers). The worker appends events; MHD's thread reads them through a content
 * reader. When the reader finds nothing to send it suspends the connection, and the next
 * event resumes it: no thread waits or spins for a slow model. Each event leaves as soon
 * as it is written (one chunk per read). When the client goes away MHD frees the response,
 * and the worker sees rg_stream_gone() and stops generating. */
#include "serve/daemon_internal.h"
#include "core/util.h"
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

/* Unsent bytes a client may fall behind by before it counts as gone. */
#define MAX_PENDING (4 << 20)

struct rg_stream {
    pthread_mutex_t mu;
    struct MHD_Connection *conn;
    rg_buf buf;
    size_t pos;          /* sent so far of buf */
    int done;            /* the worker wrote its last event */
    int gone;            /* the response was freed (client gone or request over), or too far behind */
    int suspended;       /* the reader suspended the connection waiting for data */
    int refs;            /* the worker's and the response's (or the request's, until it is queued) */
};

rg_stream *rg_stream_new(struct MHD_Connection *c) {
    rg_stream *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->conn = c;
    s->refs = 2;
    return s;
}

static void unref(rg_stream *s) {
    pthread_mutex_lock(&s->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last) return;
    rg_buf_free(&s->buf);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Called on MHD's thread. */
static ssize_t reader(void *cls, uint64_t off, char *out, size_t max) {
    rg_stream *s = cls;
    (void)off;
    pthread_mutex_lock(&s->mu);
    if (s->pos < s->buf.len) {
        /* up to the end of the next event, so that each event is its own chunk */
        const char *start = s->buf.data + s->pos;
        size_t left = s->buf.len - s->pos;
        const char *end = memmem(start, left, "\n\n", 2);
        size_t n = end ? (size_t)(end - start) + 2 : left;
        if (n > max) n = max;
        memcpy(out, start, n);
        s->pos += n;
        if (s->pos == s->buf.len) s->buf.len = s->pos = 0;   /* all sent: reuse the buffer */
        pthread_mutex_unlock(&s->mu);
        return (ssize_t)n;
    }
    if (s->done) {
        pthread_mutex_unlock(&s->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* Nothing yet: park the connection until the worker writes (see rg_stream_event). */
    s->suspended = 1;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void reader_free(void *cls) {
    rg_stream *s = cls;
    pthread_mutex_lock(&s->mu);
    s->gone = 1;
    s->suspended = 0;
    pthread_mutex_unlock(&s->mu);
    unref(s);
}

struct MHD_Response *rg_stream_response(rg_stream *s) {
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, s, reader_free);
    if (!r) return NULL;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return r;
}

void rg_stream_abandon(rg_stream *s) { reader_free(s); }

/* Appends text (under the lock) and wakes the reader if it is parked. */
static int push(rg_stream *s, const char *text, size_t n, int last) {
    pthread_mutex_lock(&s->mu);
    int ok = !s->gone;
    if (ok && s->buf.len - s->pos + n > MAX_PENDING) { s->gone = 1; ok = 0; }   /* not reading: drop it */
    if (ok && n) rg_buf_put(&s->buf, text, n);
    if (last) s->done = 1;
    int wake = s->suspended && (ok || last);
    if (wake) s->suspended = 0;
    struct MHD_Connection *c = s->conn;
    pthread_mutex_unlock(&s->mu);
    /* Outside the lock (MHD takes its own). c is still valid: a suspended connection is
     * neither read nor freed by MHD, and only the reader suspends it, under the lock, so
     * this is the one resume for that suspension. */
    if (wake) MHD_resume_connection(c);
    return ok ? 0 : -1;
}

int rg_stream_event(rg_stream *s, const char *event, json_t *data) {
    char *js = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);
    rg_buf b = {0};
    if (event) rg_buf_printf(&b, "event: %s\n", event);
    rg_buf_printf(&b, "data: %s\n\n", js ? js : "{}");
    free(js);
    int rc = push(s, b.data, b.len, 0);
    rg_buf_free(&b);
    return rc;
}

int rg_stream_text(rg_stream *s, const char *text) { return push(s, text, strlen(text), 0); }

int rg_stream_gone(rg_stream *s) {
    pthread_mutex_lock(&s->mu);
    int g = s->gone;
    pthread_mutex_unlock(&s->mu);
    return g;
}

void rg_stream_end(rg_stream *s) {
    push(s, "", 0, 1);
    unref(s);
}
