/* ingest/url: see url.h. One easy handle per fetch (no shared state but curl's global init). */
#include "ingest/url.h"
#include "core/util.h"
#include <curl/curl.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define DEFAULT_TIMEOUT 30L
#define CONNECT_TIMEOUT 10L
#define MAX_REDIRECTS 5L

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;
static void curl_init(void) { curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

typedef struct {
    rg_buf body;
    size_t max;
    int too_big;
    char *etag, *last_modified;
} fetch_state;

int rg_is_url(const char *s) {
    return s && (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    fetch_state *st = ud;
    size_t len = size * n;
    if (st->body.len + len > st->max) { st->too_big = 1; return 0; }   /* aborts the transfer */
    rg_buf_put(&st->body, p, len);
    return len;
}

/* Header value of "Name: value\r\n" when the line is that header, trimmed; else NULL. */
static char *header_value(const char *line, size_t n, const char *name) {
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':') return NULL;
    const char *v = line + k + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t')) e--;
    return xstrndup(v, (size_t)(e - v));
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    fetch_state *st = ud;
    size_t len = size * n;
    char *v;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a redirect): validators of earlier ones do not apply */
        free(st->etag); st->etag = NULL;
        free(st->last_modified); st->last_modified = NULL;
    } else if ((v = header_value(p, len, "ETag"))) {
        free(st->etag); st->etag = v;
    } else if ((v = header_value(p, len, "Last-Modified"))) {
        free(st->last_modified); st->last_modified = v;
    }
    return len;
}

/* Header lines must not carry CR/LF from a stored validator. */
static int header_safe(const char *s) {
    for (; *s; s++) if (*s == '\r' || *s == '\n') return 0;
    return 1;
}

int rg_fetch_url(const char *url, const rg_fetch_opts *opts, rg_fetch_result *r) {
    memset(r, 0, sizeof *r);
    if (!rg_is_url(url)) {
        rg_err("%s: only http:// and https:// URLs can be fetched", url ? url : "(null)");
        return -1;
    }
    pthread_once(&curl_once, curl_init);
    CURL *h = curl_ok ? curl_easy_init() : NULL;
    if (!h) {
        rg_err("%s: cannot start libcurl", url);
        return -1;
    }
    fetch_state st = {{0}, opts && opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES, 0, NULL, NULL};
    long timeout = opts && opts->timeout_s > 0 ? opts->timeout_s : DEFAULT_TIMEOUT;
    struct curl_slist *hdrs = NULL;
    char *line;
    if (opts && opts->etag && *opts->etag && header_safe(opts->etag)) {
        line = xasprintf("If-None-Match: %s", opts->etag);
        hdrs = curl_slist_append(hdrs, line);
        free(line);
    }
    if (opts && opts->last_modified && *opts->last_modified && header_safe(opts->last_modified)) {
        line = xasprintf("If-Modified-Since: %s", opts->last_modified);
        hdrs = curl_slist_append(hdrs, line);
        free(line);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout < CONNECT_TIMEOUT ? timeout : CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)st.max);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ragd/1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (hdrs) curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int ret = -1;
    if (st.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        rg_err("%s: document larger than %zu bytes", url, st.max);
    } else if (rc == CURLE_TOO_MANY_REDIRECTS) {
        rg_err("%s: more than %ld redirects", url, MAX_REDIRECTS);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        rg_err("%s: timed out after %ld s", url, timeout);
    } else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
        rg_err("%s: redirected to a scheme other than http(s)", url);
    } else if (rc != CURLE_OK) {
        rg_err("%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (status != 304 && (status < 200 || status > 299)) {
        rg_err("%s: HTTP status %ld", url, status);
    } else {
        ret = 0;
        r->status = status;
        r->not_modified = status == 304;
        r->len = st.body.len;
        rg_buf_putc(&st.body, 0);   /* NUL-terminate even an empty body */
        r->body = rg_buf_take(&st.body);
        char *ct = NULL, *eff = NULL;
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
        curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
        r->content_type = ct ? xstrdup(ct) : NULL;
        r->final_url = xstrdup(eff ? eff : url);
        r->etag = st.etag;
        r->last_modified = st.last_modified;
        st.etag = st.last_modified = NULL;
    }
    rg_buf_free(&st.body);
    free(st.etag);
    free(st.last_modified);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return ret;
}

void rg_fetch_result_free(rg_fetch_result *r) {
    if (!r) return;
    free(r->body);
    free(r->content_type);
    free(r->etag);
    free(r->last_modified);
    free(r->final_url);
    memset(r, 0, sizeof *r);
}
