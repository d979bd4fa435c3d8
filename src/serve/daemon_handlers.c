/* serve/daemon_handlers: the endpoints (interface spec, "The daemon"). Each request's
 * fields are checked here: types, sizes (k <= 100, questions <= 4 KiB), allowed roots. */
#include "serve/daemon_internal.h"
#include "serve/ask.h"
#include "serve/cli.h"
#include "core/util.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_K 100
#define MAX_QUESTION 4096
#define MAX_EMBED_INPUTS 256
#define MAX_EMBED_TEXT (64 * 1024)
#define MAX_INDEX_PATHS 1000

typedef enum {
    R_HEALTH, R_STATUS, R_SEARCH, R_ASK, R_INDEX, R_JOB, R_DOCS, R_DOC_DELETE, R_EMBED, R_CHAT, R_NONE
} route;

typedef struct { const char *method, *path; int prefix, heavy; route r; } route_def;

static const route_def routes[] = {
    {"GET", "/v1/health", 0, 0, R_HEALTH},
    {"GET", "/v1/status", 0, 1, R_STATUS},
    {"POST", "/v1/search", 0, 1, R_SEARCH},
    {"POST", "/v1/ask", 0, 1, R_ASK},
    {"POST", "/v1/index", 0, 0, R_INDEX},
    {"GET", "/v1/jobs/", 1, 0, R_JOB},
    {"GET", "/v1/documents", 0, 1, R_DOCS},
    {"DELETE", "/v1/documents/", 1, 1, R_DOC_DELETE},
    {"POST", "/v1/embeddings", 0, 1, R_EMBED},
    {"POST", "/v1/chat/completions", 0, 1, R_CHAT},
};

static int path_matches(const route_def *rd, const char *path) {
    size_t n = strlen(rd->path);
    if (rd->prefix) return strncmp(path, rd->path, n) == 0 && path[n];
    return strcmp(path, rd->path) == 0;
}

static route find_route(const char *method, const char *path, int *heavy, int *path_known) {
    *path_known = 0;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (!path_matches(&routes[i], path)) continue;
        *path_known = 1;
        if (strcmp(method, routes[i].method) == 0) { *heavy = routes[i].heavy; return routes[i].r; }
    }
    return R_NONE;
}

int rg_route_kind(const char *method, const char *path, rg_reply *r) {
    int heavy = 0, known = 0;
    if (find_route(method, path, &heavy, &known) != R_NONE) return heavy;
    if (known) rg_reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s", method, path);
    else rg_reply_error(r, 404, "not_found", "no such endpoint: %s %s", method, path);
    return -1;
}

/* ---- request field helpers: each sets the reply and returns -1 on a bad field ---- */

static int get_string(const json_t *b, const char *key, size_t max, int required, const char **out, rg_reply *r) {
    json_t *v = json_object_get(b, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) { rg_reply_error(r, 400, "bad_request", "\"%s\" is required", key); return -1; }
        return 0;
    }
    if (!json_is_string(v)) { rg_reply_error(r, 400, "bad_request", "\"%s\" must be a string", key); return -1; }
    size_t n = json_string_length(v);
    if (n > max) { rg_reply_error(r, 400, "too_large", "\"%s\" is longer than %zu bytes", key, max); return -1; }
    if (strlen(json_string_value(v)) != n) { rg_reply_error(r, 400, "bad_request", "\"%s\" contains a NUL", key); return -1; }
    if (required && n == 0) { rg_reply_error(r, 400, "bad_request", "\"%s\" is empty", key); return -1; }
    *out = json_string_value(v);
    return 0;
}

static int get_k(const json_t *b, int def, int *k, rg_reply *r) {
    json_t *v = json_object_get(b, "k");
    *k = def;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MAX_K) {
        rg_reply_error(r, 400, "bad_request", "\"k\" must be an integer 1..%d", MAX_K);
        return -1;
    }
    *k = (int)json_integer_value(v);
    return 0;
}

static int get_bool(const json_t *b, const char *key, int *out, rg_reply *r) {
    json_t *v = json_object_get(b, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) { rg_reply_error(r, 400, "bad_request", "\"%s\" must be true or false", key); return -1; }
    *out = json_is_true(v);
    return 0;
}

/* "doc" and "filter" as `ragd search --filter`: {"doc", "source" (glob), "kind": "text"|"table",
 * "from", "to" (ISO-8601 prefixes), "date_key", and any other key: metadata equality}.
 * Strings point into b. */
static int get_filter(const json_t *b, rg_search_filter *f, rg_reply *r) {
    memset(f, 0, sizeof *f);
    f->kind = -1;
    if (get_string(b, "doc", 1024, 0, &f->doc_id, r) != 0) return -1;
    json_t *fo = json_object_get(b, "filter");
    if (!fo || json_is_null(fo)) return 0;
    if (!json_is_object(fo)) { rg_reply_error(r, 400, "bad_request", "\"filter\" must be an object"); return -1; }
    const char *key;
    json_t *v;
    json_object_foreach(fo, key, v) {
        const char *sv;
        if (get_string(fo, key, 1024, 0, &sv, r) != 0) return -1;
        if (!sv) continue;
        if (strcmp(key, "doc") == 0) f->doc_id = sv;
        else if (strcmp(key, "source") == 0) f->source_glob = sv;
        else if (strcmp(key, "from") == 0) f->date_from = sv;
        else if (strcmp(key, "to") == 0) f->date_to = sv;
        else if (strcmp(key, "date_key") == 0) f->date_key = sv;
        else if (strcmp(key, "kind") == 0) {
            if (strcmp(sv, "text") == 0) f->kind = RG_CHUNK_TEXT;
            else if (strcmp(sv, "table") == 0) f->kind = RG_CHUNK_TABLE;
            else { rg_reply_error(r, 400, "bad_request", "filter kind must be \"text\" or \"table\""); return -1; }
        } else {
            if (f->nmeta >= RG_FILTER_MAX_META || strlen(key) > 256) {
                rg_reply_error(r, 400, "bad_request", "at most %d metadata filters (keys up to 256 bytes)", RG_FILTER_MAX_META);
                return -1;
            }
            f->meta_key[f->nmeta] = key;
            f->meta_value[f->nmeta] = sv;
            f->nmeta++;
        }
    }
    return 0;
}

static int need_object(const rg_request *q, rg_reply *r) {
    if (!json_is_object(q->body)) { rg_reply_error(r, 400, "bad_request", "the body must be a JSON object"); return -1; }
    return 0;
}

static rg_store *need_store(rg_daemon *d, rg_worker_store *ws, rg_encoder *enc, rg_reply *r) {
    rg_store *s = rg_daemon_store(d, ws, enc);
    if (!s) rg_reply_error(r, 404, "no_index", "%s", rg_errmsg());
    return s;
}

static void ok(rg_reply *r, json_t *body) {
    r->status = 200;
    json_decref(r->body);
    r->body = body;
}

static char *sse_event(rg_buf *b, const char *event, json_t *data) {
    char *s = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (event) rg_buf_printf(b, "event: %s\n", event);
    rg_buf_printf(b, "data: %s\n\n", s ? s : "{}");
    free(s);
    return NULL;
}

/* ---- JSON as text (the search reply) ---- */

/* A JSON string: UTF-8 kept as it is (invalid sequences become U+FFFD), quotes, backslashes
 * and control characters escaped. */
static void jw_str(rg_buf *b, const char *s) {
    size_t n = strlen(s);
    char *fixed = NULL;
    if (!rg_utf8_valid(s, n)) s = fixed = rg_utf8_repair(s, n, &n, NULL);
    rg_buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        rg_buf_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': rg_buf_puts(b, "\\\""); break;
        case '\\': rg_buf_puts(b, "\\\\"); break;
        case '\n': rg_buf_puts(b, "\\n"); break;
        case '\r': rg_buf_puts(b, "\\r"); break;
        case '\t': rg_buf_puts(b, "\\t"); break;
        default: rg_buf_printf(b, "\\u%04x", c); break;
        }
    }
    rg_buf_put(b, s + run, n - run);
    rg_buf_putc(b, '"');
    free(fixed);
}

/* A JSON number that reads back as a real (always a '.' or an exponent); 0.0 when not finite. */
static void jw_real(rg_buf *b, double v) {
    char num[40];
    if (!isfinite(v)) v = 0;
    int n = snprintf(num, sizeof num, "%.17g", v);
    if (n > 0 && !strpbrk(num, ".eE")) snprintf(num + n, sizeof num - (size_t)n, ".0");
    rg_buf_puts(b, num);
}

/* ---- endpoints ---- */

static void h_health(rg_daemon *d, rg_reply *r) {
    ok(r, json_pack("{s:s, s:s, s:s, s:i, s:f}", "status", "ok", "index", d->index_real, "socket", d->socket_path,
                    "pid", (int)getpid(), "uptime_s", rg_now() - d->started));
}

static void h_status(rg_daemon *d, rg_worker_store *ws, const rg_request *q, rg_reply *r) {
    rg_store *s = need_store(d, ws, q->enc, r);
    if (!s) return;
    /* the generator's spec is the first line of its configuration key */
    rg_gen_ref *gr = rg_daemon_generator(d);
    char *spec = gr ? xstrndup(gr->key, strcspn(gr->key, "\n")) : NULL;
    rg_gen_release(gr);
    json_t *o = cli_status_json(s, d->index_real, "running", spec);
    free(spec);
    if (!o) { rg_reply_error(r, 500, "store", "%s", rg_errmsg()); return; }
    json_object_set_new(o, "daemon_info", json_pack("{s:s, s:i, s:f, s:I, s:I, s:o}", "socket", d->socket_path,
                                                    "pid", (int)getpid(), "uptime_s", rg_now() - d->started,
                                                    "requests", (json_int_t)atomic_load(&d->served),
                                                    "rejected", (json_int_t)atomic_load(&d->rejected),
                                                    "jobs", rg_jobs_summary(d->jobs)));
    ok(r, o);
}

static void h_search(rg_daemon *d, rg_worker_store *ws, const rg_request *q, rg_reply *r) {
    if (need_object(q, r)) return;
    rg_search_opts o;
    rg_search_opts_default(&o);
    const char *query, *mode;
    int rerank = 1;   /* "rerank": false skips the daemon's reranker for this request */
    if (get_string(q->body, "query", MAX_QUESTION, 1, &query, r) || get_k(q->body, o.k, &o.k, r) ||
        get_string(q->body, "mode", 16, 0, &mode, r) || get_filter(q->body, &o.filter, r) ||
        (json_object_get(q->body, "rerank") && get_bool(q->body, "rerank", &rerank, r)))
        return;
    if (mode && rg_search_mode_parse(mode, &o.mode) != 0) { rg_reply_error(r, 400, "bad_request", "%s", rg_errmsg()); return; }
    rg_store *s = need_store(d, ws, q->enc, r);
    if (!s) return;
    rg_rr_ref *rr = rerank ? rg_daemon_reranker(d) : NULL;   /* held until the reply is written */
    o.reranker = rr ? rr->r : NULL;
    rg_results res;
    double t0 = rg_now();
    if (rg_search(s, o.mode == RG_MODE_BM25 ? NULL : q->enc, query, &o, &res) != 0) {
        rg_rr_release(rr);
        rg_reply_error(r, 500, "search", "%s", rg_errmsg());
        return;
    }
    double total = rg_now() - t0;
    /* The reply is written as text: building it as jansson objects cost more CPU than the
     * per-hit fetch (the busiest endpoint; each field escaped here, see jw_str). */
    rg_buf b = {0};
    rg_buf_puts(&b, "{\"query\":");
    jw_str(&b, query);
    rg_buf_puts(&b, ",\"mode\":");
    jw_str(&b, rg_search_mode_name(o.mode));
    rg_buf_puts(&b, ",\"results\":[");
    for (int i = 0; i < res.n; i++) {
        rg_result *h = &res.v[i];
        rg_buf_printf(&b, "%s{\"chunk_id\":%lld,\"doc_id\":", i ? "," : "", (long long)h->chunk_id);
        jw_str(&b, h->doc_id ? h->doc_id : "");
        rg_buf_puts(&b, ",\"source\":");
        jw_str(&b, h->source ? h->source : "");
        rg_buf_printf(&b, ",\"kind\":\"%s\",\"score\":", h->kind ? "table" : "text");
        jw_real(&b, h->score);
        if (res.reranked > 0) { rg_buf_puts(&b, ",\"fused_score\":"); jw_real(&b, h->fused_score); }
        rg_buf_puts(&b, ",\"text\":");
        jw_str(&b, h->text ? h->text : "");
        rg_buf_puts(&b, ",\"section\":");
        jw_str(&b, h->section ? h->section : "");
        if (h->table) {
            json_t *t = cli_table_json(h->table, 0);
            char *tj = t ? json_dumps(t, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
            if (tj) { rg_buf_puts(&b, ",\"table\":"); rg_buf_puts(&b, tj); }
            free(tj);
            json_decref(t);
        }
        rg_buf_putc(&b, '}');
    }
    rg_buf_puts(&b, "],\"reranker\":");
    if (o.reranker) {
        rg_buf_puts(&b, "{\"model\":");
        jw_str(&b, rg_reranker_name(o.reranker));
        rg_buf_printf(&b, ",\"top\":%d,\"scored\":%d}", o.rerank_top, res.reranked);
    } else {
        rg_buf_puts(&b, "null");
    }
    rg_rr_release(rr);
    const double tms[7] = {res.t_embed, res.t_bm25, res.t_dense, res.t_fuse, res.t_fetch, res.t_rerank, total};
    static const char *const tnames[7] = {"embed_ms", "bm25_ms", "dense_ms", "fuse_ms", "fetch_ms", "rerank_ms", "total_ms"};
    rg_buf_puts(&b, ",\"timings\":{");
    for (int i = 0; i < 7; i++) {
        rg_buf_printf(&b, "%s\"%s\":", i ? "," : "", tnames[i]);
        jw_real(&b, tms[i] * 1e3);
    }
    rg_buf_puts(&b, "}}");
    rg_results_free(&res);
    r->status = 200;
    json_decref(r->body);
    r->body = NULL;
    free(r->json);
    r->json = rg_buf_take(&b);
}

static json_t *ask(rg_encoder *enc, rg_store *s, const char *question, const rg_ask_opts *o, rg_reply *r) {
    json_t *a = rg_ask(s, enc, question, o);
    if (!a) rg_reply_error(r, 500, "ask", "%s", rg_errmsg());
    return a;
}

/* Streaming: each piece of the model's output as a "token" event. A piece may end inside a
 * UTF-8 character (tokens are bytes): that tail waits for the next piece. */
typedef struct { rg_stream *st; char held[8]; size_t nheld; } token_ctx;

/* Bytes at the end of p[0..n) that begin an unfinished UTF-8 character. */
static size_t utf8_tail(const char *p, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)p[n - k];
        if ((c & 0xC0) == 0x80) continue;            /* a continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

static int token_send(token_ctx *tc, const char *text, size_t n) {
    if (!n) return 0;
    json_t *t = json_stringn(text, n);
    if (!t) return 0;   /* not UTF-8 even when whole: the answer's output says so */
    json_t *ev = json_pack("{s:o}", "text", t);
    int rc = rg_stream_event(tc->st, "token", ev);
    json_decref(ev);
    return rc;
}

static int on_token(const char *piece, size_t len, void *ud) {
    token_ctx *tc = ud;
    rg_buf b = {0};
    rg_buf_put(&b, tc->held, tc->nheld);
    rg_buf_put(&b, piece, len);
    size_t tail = utf8_tail(b.data, b.len);
    tc->nheld = tail;
    memcpy(tc->held, b.data + b.len - tail, tail);
    int rc = token_send(tc, b.data, b.len - tail);
    rg_buf_free(&b);
    return rc != 0 || rg_stream_gone(tc->st);   /* the client left: stop the model */
}

static void h_ask(rg_daemon *d, rg_worker_store *ws, const rg_request *q, rg_reply *r) {
    if (need_object(q, r)) return;
    rg_ask_opts o;
    rg_ask_opts_default(&o);
    const char *question;
    int stream;
    if (get_string(q->body, "question", MAX_QUESTION, 1, &question, r) || get_k(q->body, o.k, &o.k, r) ||
        get_filter(q->body, &o.filter, r) || get_bool(q->body, "stream", &stream, r))
        return;
    o.doc_id = o.filter.doc_id;
    o.generator = q->gen;
    o.deadline = q->deadline;
    rg_store *s = need_store(d, ws, q->enc, r);
    if (!s) return;
    rg_stream *st = stream && q->stream_start ? q->stream_start(q->stream_ctx) : NULL;
    if (st) {
        /* A real stream: the headers now, the model's tokens as it writes them, then the
         * answer and "done". Errors from here on can only be events. */
        token_ctx tc = {st, {0}, 0};
        o.on_token = on_token;
        o.on_token_ud = &tc;
        json_t *a = rg_ask(s, q->enc, question, &o);
        token_send(&tc, tc.held, tc.nheld);
        if (a) rg_stream_event(st, "answer", a);
        else {
            json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", "ask", "message", rg_errmsg());
            rg_stream_event(st, "error", e);
            json_decref(e);
        }
        json_t *done = json_pack("{s:s}", "status", a ? "done" : "failed");
        rg_stream_event(st, "done", done);
        json_decref(done);
        json_decref(a);
        rg_stream_end(st);
        return;
    }
    json_t *a = ask(q->enc, s, question, &o, r);
    if (!a) return;
    if (!stream) { ok(r, a); return; }
    /* No stream to write to (not on a worker): the events at once, at the end. */
    rg_buf b = {0};
    sse_event(&b, "answer", a);
    json_t *done = json_pack("{s:s}", "status", "done");
    sse_event(&b, "done", done);
    json_decref(done);
    json_decref(a);
    r->status = 200;
    r->sse = rg_buf_take(&b);
}

/* The OpenAI chat shape: the last user message is the question. */
static void h_chat(rg_daemon *d, rg_worker_store *ws, const rg_request *q, rg_reply *r) {
    if (need_object(q, r)) return;
    json_t *msgs = json_object_get(q->body, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0 || json_array_size(msgs) > 256) {
        rg_reply_error(r, 400, "bad_request", "\"messages\" must be a non-empty array (at most 256)");
        return;
    }
    const char *question = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        if (!role || strcmp(role, "user") != 0) continue;
        if (json_is_string(content)) question = json_string_value(content);
        else if (json_is_array(content)) {   /* [{"type":"text","text":...}] */
            size_t j;
            json_t *part;
            json_array_foreach(content, j, part) {
                const char *t = json_string_value(json_object_get(part, "text"));
                if (t) question = t;
            }
        }
    }
    if (!question || !*question) { rg_reply_error(r, 400, "bad_request", "no user message with text content"); return; }
    if (strlen(question) > MAX_QUESTION) { rg_reply_error(r, 400, "too_large", "the question is longer than %d bytes", MAX_QUESTION); return; }
    int stream;
    if (get_bool(q->body, "stream", &stream, r)) return;
    const char *model = json_string_value(json_object_get(q->body, "model"));
    rg_store *s = need_store(d, ws, q->enc, r);
    if (!s) return;
    rg_ask_opts o;
    rg_ask_opts_default(&o);
    o.generator = q->gen;
    o.deadline = q->deadline;
    json_t *a = ask(q->enc, s, question, &o, r);
    if (!a) return;
    rg_buf text = {0};
    json_t *ans = json_object_get(a, "answer");
    const char *type = json_string_value(json_object_get(a, "type"));
    if (type && strcmp(type, "none") == 0)
        rg_buf_puts(&text, "I could not find an answer to this in the indexed documents.");
    else if (json_is_array(ans)) {
        json_t *x;
        json_array_foreach(ans, i, x) {
            if (i) rg_buf_puts(&text, ", ");
            rg_buf_puts(&text, json_string_value(x) ? json_string_value(x) : "");
        }
    } else rg_buf_puts(&text, json_string_value(ans) ? json_string_value(ans) : "");
    const char *scale = json_string_value(json_object_get(a, "scale"));
    if (scale && *scale && !(type && strcmp(type, "none") == 0)) rg_buf_printf(&text, " %s", scale);
    char *content = rg_buf_take(&text);
    char id[48];
    static atomic_long counter;
    snprintf(id, sizeof id, "chatcmpl-ragd-%ld", atomic_fetch_add(&counter, 1) + 1);
    json_int_t created = (json_int_t)time(NULL);
    const char *mname = model ? model : "ragd";
    if (!stream) {
        ok(r, json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:s}], s:{s:i, s:i, s:i}, s:o}",
                        "id", id, "object", "chat.completion", "created", created, "model", mname,
                        "choices", "index", 0, "message", "role", "assistant", "content", content, "finish_reason", "stop",
                        "usage", "prompt_tokens", 0, "completion_tokens", 0, "total_tokens", 0, "ragd", a));
    } else {
        rg_buf b = {0};
        json_t *c1 = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:n}]}", "id", id,
                               "object", "chat.completion.chunk", "created", created, "model", mname,
                               "choices", "index", 0, "delta", "role", "assistant", "content", content, "finish_reason");
        json_t *c2 = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{}, s:s}]}", "id", id,
                               "object", "chat.completion.chunk", "created", created, "model", mname,
                               "choices", "index", 0, "delta", "finish_reason", "stop");
        sse_event(&b, NULL, c1);
        sse_event(&b, NULL, c2);
        rg_buf_puts(&b, "data: [DONE]\n\n");
        json_decref(c1);
        json_decref(c2);
        json_decref(a);
        r->status = 200;
        r->sse = rg_buf_take(&b);
    }
    free(content);
}

static void h_embed(rg_daemon *d, const rg_request *q, rg_reply *r) {
    if (need_object(q, r)) return;
    json_t *in = json_object_get(q->body, "input");
    const char **texts = NULL;
    size_t n = 0;
    if (json_is_string(in)) {
        texts = xmalloc(sizeof *texts);
        texts[n++] = json_string_value(in);
    } else if (json_is_array(in) && json_array_size(in) > 0 && json_array_size(in) <= MAX_EMBED_INPUTS) {
        texts = xmalloc(json_array_size(in) * sizeof *texts);
        size_t i;
        json_t *v;
        json_array_foreach(in, i, v) {
            if (!json_is_string(v)) { free(texts); rg_reply_error(r, 400, "bad_request", "\"input\" items must be strings"); return; }
            texts[n++] = json_string_value(v);
        }
    } else {
        rg_reply_error(r, 400, "bad_request", "\"input\" must be a string or an array of 1..%d strings", MAX_EMBED_INPUTS);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (strlen(texts[i]) > MAX_EMBED_TEXT) {
            free(texts);
            rg_reply_error(r, 400, "too_large", "input %zu is longer than %d bytes", i, MAX_EMBED_TEXT);
            return;
        }
    rg_encoder *e = q->enc;
    if (!e) { free(texts); rg_reply_error(r, 503, "no_encoder", "no encoder is configured"); return; }
    float *vec = xmalloc(n * (size_t)e->dim * sizeof *vec);
    if (rg_encoder_embed(e, texts, (int)n, 0, vec) != 0) {
        rg_reply_error(r, 500, "embed", "%s", rg_errmsg());
        free(vec); free(texts);
        return;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *emb = json_array();
        for (int j = 0; j < e->dim; j++) json_array_append_new(emb, json_real(vec[i * (size_t)e->dim + (size_t)j]));
        json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", (int)i, "embedding", emb));
    }
    free(vec);
    free(texts);
    ok(r, json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data, "model", e->name,
                    "usage", "prompt_tokens", 0, "total_tokens", 0));
}

static void h_docs(rg_daemon *d, rg_worker_store *ws, const rg_request *q, rg_reply *r) {
    rg_store *s = need_store(d, ws, q->enc, r);
    if (!s) return;
    rg_doc_info *docs;
    int n;
    if (rg_store_list_docs(s, &docs, &n) != 0) { rg_reply_error(r, 500, "store", "%s", rg_errmsg()); return; }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        char ts[32];
        time_t t = (time_t)docs[i].indexed_at;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "id", docs[i].doc_id, "source", docs[i].source ? docs[i].source : "",
                              "kind", docs[i].kind ? docs[i].kind : "", "chunks", (json_int_t)docs[i].nchunks,
                              "bytes", (json_int_t)docs[i].size, "indexed_at", ts);
        if (docs[i].title) json_object_set_new(o, "title", json_string(docs[i].title));
        json_array_append_new(arr, o);
        rg_doc_info_free(&docs[i]);
    }
    free(docs);
    ok(r, json_pack("{s:o}", "documents", arr));
}

static void h_doc_delete(rg_daemon *d, const rg_request *q, rg_reply *r) {
    const char *id = q->path + strlen("/v1/documents/");
    if (strlen(id) > 4096) { rg_reply_error(r, 400, "too_large", "document id too long"); return; }
    int64_t job = rg_jobs_submit_remove(d->jobs, id);
    if (job < 0) { rg_reply_error(r, 503, "busy", "too many jobs queued"); r->retry_after = 5; return; }
    double wait = d->cfg.deadline < 10 ? d->cfg.deadline : 10;
    job_state st = rg_jobs_wait(d->jobs, job, wait);
    json_t *j = rg_jobs_get(d->jobs, job);
    if (st == JOB_DONE && json_is_true(json_object_get(j, "removed"))) ok(r, json_pack("{s:s, s:I}", "removed", id, "job", (json_int_t)job));
    else if (st == JOB_DONE) rg_reply_error(r, 404, "not_found", "no such document: %.1000s", id);
    else if (st == JOB_QUEUED || st == JOB_RUNNING) {
        r->status = 202;   /* the writer is busy with an index job: the removal is queued */
        json_decref(r->body);
        r->body = json_pack("{s:I, s:s}", "job", (json_int_t)job, "state", "queued");
    } else {
        const char *err = json_string_value(json_object_get(j, "error"));
        rg_reply_error(r, 500, "remove", "%s", err ? err : "removal failed");
    }
    json_decref(j);
}

/* 1 when real is below (or equal to) one of the allowed roots. */
static int under_root(const rg_daemon *d, const char *real) {
    for (int i = 0; i < d->cfg.nroots; i++) {
        const char *root = d->cfg.allow_roots[i];
        size_t n = strlen(root);
        if (n == 1 && root[0] == '/') return 1;
        if (strncmp(real, root, n) == 0 && (real[n] == 0 || real[n] == '/')) return 1;
    }
    return 0;
}

static int string_list(const json_t *b, const char *key, size_t max, json_t **out, rg_reply *r) {
    json_t *v = json_object_get(b, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v) || json_array_size(v) > max) {
        rg_reply_error(r, 400, "bad_request", "\"%s\" must be an array of at most %zu strings", key, max);
        return -1;
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
        if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) >= PATH_MAX ||
            strlen(json_string_value(x)) != json_string_length(x)) {
            rg_reply_error(r, 400, "bad_request", "\"%s\" items must be non-empty strings", key);
            return -1;
        }
    *out = v;
    return 0;
}

static void h_index(rg_daemon *d, const rg_request *q, rg_reply *r) {
    if (need_object(q, r)) return;
    json_t *paths, *urls, *excl;
    int prune;
    if (string_list(q->body, "paths", MAX_INDEX_PATHS, &paths, r) || string_list(q->body, "urls", MAX_INDEX_PATHS, &urls, r) ||
        string_list(q->body, "exclude", 100, &excl, r) || get_bool(q->body, "prune", &prune, r))
        return;
    size_t np = json_array_size(paths), nu = json_array_size(urls), ne = json_array_size(excl);
    if (np + nu == 0) { rg_reply_error(r, 400, "bad_request", "nothing to index: give \"paths\" or \"urls\""); return; }
    char **list = xcalloc(np + nu + 1, sizeof *list);
    char **ex = xcalloc(ne + 1, sizeof *ex);
    int n = 0, bad = 0;
    for (size_t i = 0; i < np && !bad; i++) {
        const char *p = json_string_value(json_array_get(paths, i));
        if (p[0] != '/') { rg_reply_error(r, 400, "bad_request", "paths must be absolute: %.1000s", p); bad = 1; break; }
        if (d->cfg.nroots == 0) {
            rg_reply_error(r, 403, "forbidden", "this daemon indexes no paths (start it with --allow-root DIR)");
            bad = 1;
            break;
        }
        char *real = realpath(p, NULL);
        if (!real) { rg_reply_error(r, 400, "bad_path", "%.1000s: %s", p, strerror(errno)); bad = 1; break; }
        if (!under_root(d, real)) {
            rg_reply_error(r, 403, "forbidden", "%.1000s is outside the allowed roots", p);
            free(real);
            bad = 1;
            break;
        }
        list[n++] = real;
    }
    for (size_t i = 0; i < nu && !bad; i++) {
        const char *u = json_string_value(json_array_get(urls, i));
        if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) {
            rg_reply_error(r, 400, "bad_request", "urls must be http(s): %.1000s", u);
            bad = 1;
            break;
        }
        list[n++] = xstrdup(u);
    }
    for (size_t i = 0; i < ne; i++) ex[i] = (char *)json_string_value(json_array_get(excl, i));
    if (!bad) {
        int64_t id = rg_jobs_submit_index(d->jobs, list, n, ex, (int)ne, prune);
        if (id < 0) { rg_reply_error(r, 503, "busy", "too many jobs queued"); r->retry_after = 5; }
        else {
            r->status = 202;
            json_decref(r->body);
            r->body = json_pack("{s:I, s:s}", "job", (json_int_t)id, "state", "queued");
        }
    }
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
    free(ex);
}

static void h_job(rg_daemon *d, const rg_request *q, rg_reply *r) {
    const char *s = q->path + strlen("/v1/jobs/");
    char *end;
    errno = 0;
    long long id = strtoll(s, &end, 10);
    if (errno || *end || id < 1) { rg_reply_error(r, 400, "bad_request", "job ids are positive integers"); return; }
    json_t *j = rg_jobs_get(d->jobs, id);
    if (!j) { rg_reply_error(r, 404, "not_found", "no job %lld", id); return; }
    ok(r, j);
}

void rg_handle(rg_daemon *d, rg_worker_store *ws, const rg_request *q, rg_reply *r) {
    int heavy = 0, known = 0;
    route rt = find_route(q->method, q->path, &heavy, &known);
    if (heavy && !ws) { rg_reply_error(r, 500, "internal", "route needs a worker"); return; }
    /* A reference to the current encoder for the whole request (a reload swaps it). */
    rg_enc_ref *er = heavy ? rg_daemon_encoder(d) : NULL;
    rg_gen_ref *gr = rt == R_ASK || rt == R_CHAT ? rg_daemon_generator(d) : NULL;
    rg_request req = *q;
    req.enc = er ? er->e : NULL;
    req.gen = gr ? gr->g : NULL;
    q = &req;
    switch (rt) {
    case R_HEALTH: h_health(d, r); break;
    case R_STATUS: h_status(d, ws, q, r); break;
    case R_SEARCH: h_search(d, ws, q, r); break;
    case R_ASK: h_ask(d, ws, q, r); break;
    case R_INDEX: h_index(d, q, r); break;
    case R_JOB: h_job(d, q, r); break;
    case R_DOCS: h_docs(d, ws, q, r); break;
    case R_DOC_DELETE: h_doc_delete(d, q, r); break;
    case R_EMBED: h_embed(d, q, r); break;
    case R_CHAT: h_chat(d, ws, q, r); break;
    case R_NONE: rg_route_kind(q->method, q->path, r); break;
    }
    rg_enc_release(er);
    rg_gen_release(gr);
}
