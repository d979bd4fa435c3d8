/* generate/remote: OpenAI-compatible chat-completions client. See remote.h. */
#include "generate/remote.h"
#include "core/util.h"
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_BODY ((size_t)16 << 20)
#define MAX_LINE ((size_t)1 << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct {
    CURL *curl;
    int stream;
    rg_buf body;          /* whole body (non-stream, or any error answer) */
    rg_buf line;          /* partial SSE line */
    rg_buf text;          /* streamed text so far */
    char *finish;
    double retry_after;   /* seconds from Retry-After, -1 none */
    int done, bad, stopped, too_big, delivered;
    char bad_why[160];
    rg_remote_cb cb;
    void *ud;
} req;

static long http_status(req *r) {
    long code = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    req *r = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        char tmp[64];
        size_t k = len - 12 < sizeof tmp - 1 ? len - 12 : sizeof tmp - 1;
        memcpy(tmp, p + 12, k);
        tmp[k] = 0;
        char *end;
        double v = strtod(tmp, &end);
        if (end != tmp && isfinite(v) && v >= 0) r->retry_after = v;   /* HTTP-date form ignored */
    }
    return len;
}

/* One SSE line of a 200 streamed answer. */
static void sse_line(req *r, const char *s, size_t n) {
    if (n && s[n - 1] == '\r') n--;
    if (n < 5 || strncmp(s, "data:", 5) != 0) return;       /* comments, event:, blank lines */
    s += 5; n -= 5;
    while (n && *s == ' ') { s++; n--; }
    if (n == 6 && memcmp(s, "[DONE]", 6) == 0) { r->done = 1; return; }
    json_error_t e;
    json_t *j = json_loadb(s, n, 0, &e);
    if (!j) { r->bad = 1; snprintf(r->bad_why, sizeof r->bad_why, "malformed JSON in stream event: %.100s", e.text); return; }
    json_t *err = json_object_get(j, "error");
    if (err) {
        r->bad = 1;
        const char *m = json_string_value(json_object_get(err, "message"));
        snprintf(r->bad_why, sizeof r->bad_why, "server error in stream: %.120s", m ? m : "(no message)");
        json_decref(j);
        return;
    }
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    const char *fr = json_string_value(json_object_get(ch, "finish_reason"));
    if (fr) { free(r->finish); r->finish = xstrdup(fr); }
    json_t *c = json_object_get(json_object_get(ch, "delta"), "content");
    if (json_is_string(c) && json_string_length(c)) {
        const char *piece = json_string_value(c);
        size_t pl = json_string_length(c);
        if (r->text.len + pl > MAX_BODY) { r->too_big = 1; json_decref(j); return; }
        rg_buf_put(&r->text, piece, pl);
        r->delivered = 1;
        if (r->cb && r->cb(piece, pl, r->ud)) r->stopped = 1;
    }
    json_decref(j);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    req *r = ud;
    size_t len = size * n;
    if (!(r->stream && http_status(r) == 200)) {
        if (r->body.len + len > MAX_BODY) { r->too_big = 1; return 0; }
        rg_buf_put(&r->body, p, len);
        return len;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n') {
            if (r->line.len >= MAX_LINE) { r->too_big = 1; return 0; }
            rg_buf_putc(&r->line, p[i]);
            continue;
        }
        sse_line(r, r->line.data ? r->line.data : "", r->line.len);
        r->line.len = 0;
        if (r->bad || r->stopped || r->too_big) return 0;     /* aborts the transfer */
    }
    return len;
}

static char *build_body(const rg_remote_config *cfg, const rg_remote_msg *msgs, int n, const rg_remote_params *p) {
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(cfg->model ? cfg->model : ""));
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string(msgs[i].role ? msgs[i].role : "user"));
        json_object_set_new(m, "content", json_string(msgs[i].content ? msgs[i].content : ""));
        json_array_append_new(arr, m);
    }
    json_object_set_new(o, "messages", arr);
    if (p && p->max_tokens > 0) json_object_set_new(o, "max_tokens", json_integer(p->max_tokens));
    if (p && p->temperature >= 0) json_object_set_new(o, "temperature", json_real(p->temperature));
    if (p && p->nstop > 0) {
        json_t *st = json_array();
        for (int i = 0; i < p->nstop; i++) if (p->stop[i]) json_array_append_new(st, json_string(p->stop[i]));
        json_object_set_new(o, "stop", st);
    }
    if (p && p->stream) json_object_set_new(o, "stream", json_true());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* The message of an error answer {"error": {"message": ...}} or its first bytes. */
static void error_detail(const rg_buf *b, char *out, size_t cap) {
    out[0] = 0;
    if (!b->len) return;
    json_t *j = json_loadb(b->data, b->len, 0, NULL);
    const char *m = j ? json_string_value(json_object_get(json_object_get(j, "error"), "message")) : NULL;
    if (!m && j) m = json_string_value(json_object_get(j, "error"));
    if (m) snprintf(out, cap, ": %.200s", m);
    else {
        size_t k = b->len < 120 ? b->len : 120;
        char tmp[128];
        size_t w = 0;
        for (size_t i = 0; i < k; i++) tmp[w++] = (b->data[i] >= 32 && b->data[i] < 127) ? b->data[i] : ' ';
        tmp[w] = 0;
        snprintf(out, cap, ": %s", tmp);
    }
    json_decref(j);
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {}
}

char *rg_remote_chat(const rg_remote_config *cfg, const rg_remote_msg *msgs, int nmsgs,
                     const rg_remote_params *p, rg_remote_cb cb, void *ud, char **finish_reason) {
    if (finish_reason) *finish_reason = NULL;
    if (!cfg || !cfg->base_url || !*cfg->base_url || nmsgs < 0 || (nmsgs && !msgs)) {
        rg_err("remote generator: no base URL configured");
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    size_t bl = strlen(cfg->base_url);
    while (bl && cfg->base_url[bl - 1] == '/') bl--;
    char *url = xasprintf("%.*s/chat/completions", (int)bl, cfg->base_url);
    char *body = build_body(cfg, msgs, nmsgs, p);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    const char *key = cfg->api_key_env ? getenv(cfg->api_key_env) : NULL;
    if (key && *key) {
        char *h = xasprintf("Authorization: Bearer %s", key);
        hdr = curl_slist_append(hdr, h);
        memset(h, 0, strlen(h));       /* the key does not linger in our heap */
        free(h);
    }
    double timeout = cfg->timeout_s > 0 ? cfg->timeout_s : 120;
    double ctimeout = cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 10;
    double backoff = cfg->backoff_s > 0 ? cfg->backoff_s : 0.5;
    double maxb = cfg->max_backoff_s > 0 ? cfg->max_backoff_s : 30;
    int retries = cfg->max_retries > 0 ? cfg->max_retries : 0;
    int stream = p && p->stream;
    char *result = NULL;
    for (int attempt = 0;; attempt++) {
        req r = {.stream = stream, .retry_after = -1, .cb = cb, .ud = ud};
        r.curl = curl_easy_init();
        if (!r.curl) { rg_err("remote %s: could not start libcurl", url); break; }
        curl_easy_setopt(r.curl, CURLOPT_URL, url);
        curl_easy_setopt(r.curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(r.curl, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(r.curl, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
        curl_easy_setopt(r.curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(ctimeout * 1000));
        curl_easy_setopt(r.curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(r.curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(r.curl, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(r.curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(r.curl, CURLOPT_HEADERDATA, &r);
        curl_easy_setopt(r.curl, CURLOPT_PROTOCOLS_STR, "http,https");
        CURLcode rc = curl_easy_perform(r.curl);
        long status = http_status(&r);
        int retry = 0;
        char detail[256] = "";
        if (rc == CURLE_OK && status == 200 && !stream) {
            json_error_t e;
            json_t *j = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &e);
            json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
            json_t *c = json_object_get(json_object_get(ch, "message"), "content");
            if (!j) rg_err("remote %s: malformed JSON answer (%s)", url, e.text);
            else if (!json_is_string(c)) rg_err("remote %s: answer has no choices[0].message.content", url);
            else {
                result = xstrndup(json_string_value(c), json_string_length(c));
                const char *fr = json_string_value(json_object_get(ch, "finish_reason"));
                if (finish_reason && fr) *finish_reason = xstrdup(fr);
                if (cb && json_string_length(c)) cb(result, json_string_length(c), ud);
            }
            json_decref(j);
        } else if (status == 200 && stream && (rc == CURLE_OK || r.stopped)) {
            if (r.line.len && !r.bad) sse_line(&r, r.line.data, r.line.len);   /* last line without \n */
            if (r.bad) rg_err("remote %s: %s", url, r.bad_why);
            else if (!r.done && !r.stopped && !r.finish) rg_err("remote %s: stream ended without [DONE]", url);
            else {
                result = r.text.data ? rg_buf_take(&r.text) : xstrdup("");
                if (finish_reason && r.finish) { *finish_reason = r.finish; r.finish = NULL; }
            }
        } else if (r.bad) {
            rg_err("remote %s: %s", url, r.bad_why);
        } else if (r.too_big) {
            rg_err("remote %s: answer larger than %zu bytes", url, MAX_BODY);
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            rg_err("remote %s: timed out after %.1f s", url, timeout);
        } else if (rc != CURLE_OK) {
            rg_err("remote %s: %s", url, curl_easy_strerror(rc));
            retry = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_GOT_NOTHING ||
                    rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR;
        } else {
            error_detail(&r.body, detail, sizeof detail);
            retry = status == 429 || status >= 500;
            rg_err("remote %s: HTTP %ld%s", url, status, detail);
        }
        if (retry && attempt >= retries && rc == CURLE_OK)
            rg_err("remote %s: HTTP %ld%s (gave up after %d attempts)", url, status, detail, attempt + 1);
        double wait = r.retry_after >= 0 ? r.retry_after : backoff * pow(2, attempt);
        if (wait > maxb) wait = maxb;
        curl_easy_cleanup(r.curl);
        rg_buf_free(&r.body);
        rg_buf_free(&r.line);
        rg_buf_free(&r.text);
        free(r.finish);
        if (result || !retry || attempt >= retries || r.delivered) break;
        sleep_s(wait);
    }
    curl_slist_free_all(hdr);   /* holds the key: libcurl frees it, we drop the pointer */
    free(body);
    free(url);
    return result;
}
