/* Tests for ingest/url against a small HTTP server this test runs on 127.0.0.1 (no network):
 * content type, ETag / Last-Modified and 304 on re-fetch, redirects (limit, no file://),
 * size cap with and without Content-Length, timeouts, HTTP errors, refused schemes. */
#include "check.h"
#include "ingest/url.h"
#include "ingest/parse.h"
#include "core/util.h"
#include "fake_http.h"

static fh_server srv;

static const char *HTML = "<html><head><title>Northwind IR</title></head><body><h1>Revenue</h1>"
                          "<p>Revenue was $1,452.4 million in 2019.</p></body></html>";

static int header_is(const fh_request *r, const char *name, const char *value) {
    const char *v = fh_header(r, name);
    return v && strcmp(v, value) == 0;
}

static void handle(fh_server *s, const fh_request *req, int fd, void *ud) {
    (void)ud;
    if (strcmp(req->method, "GET") != 0) return;
    const char *path = req->path;
    if (strcmp(path, "/report.html") == 0) {
        if (header_is(req, "If-None-Match", "\"v1\"")) fh_reply(fd, 304, "ETag: \"v1\"\r\n", "", 0);
        else fh_reply(fd, 200, "Content-Type: text/html; charset=utf-8\r\nETag: \"v1\"\r\n"
                               "Last-Modified: Wed, 21 Oct 2020 07:28:00 GMT\r\n", HTML, strlen(HTML));
    } else if (strcmp(path, "/data") == 0) {
        if (header_is(req, "If-Modified-Since", "Thu, 01 Oct 2020 00:00:00 GMT")) fh_reply(fd, 304, NULL, "", 0);
        else fh_reply(fd, 200, "Content-Type: text/csv\r\nLast-Modified: Thu, 01 Oct 2020 00:00:00 GMT\r\n",
                      "Region,2019\nEurope,486.1\nAsia Pacific,263.8\n", 41);
    } else if (strncmp(path, "/r/", 3) == 0) {
        int k = atoi(path + 3);
        if (k <= 0) fh_reply(fd, 200, "Content-Type: text/plain\r\n", "arrived", 7);
        else {
            char loc[64];
            snprintf(loc, sizeof loc, "Location: /r/%d\r\n", k - 1);
            fh_reply(fd, 302, loc, "", 0);
        }
    } else if (strcmp(path, "/tofile") == 0) {
        fh_reply(fd, 302, "Location: file:///etc/passwd\r\n", "", 0);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bignolen") == 0) {
        size_t blen = 3 << 20;
        char *big = malloc(blen);
        memset(big, 'a', blen);
        /* with Content-Length, or a body that just ends at close */
        if (fh_head(fd, 200, "Content-Type: text/plain\r\n", path[4] == 0 ? (long long)blen : -1) == 0) fh_send(fd, big, blen);
        free(big);
    } else if (strcmp(path, "/slow") == 0) {
        fh_sleep(s, 6000);   /* 6 s, unless the server is stopping */
        fh_reply(fd, 200, NULL, "late", 4);
    } else {
        fh_reply(fd, 404, "Content-Type: text/plain\r\n", "no", 2);
    }
}

static char *u(const char *path) {
    static char buf[128];
    return (char *)fh_url(&srv, path, buf, sizeof buf);
}

static void test_fetch_and_validators(void) {
    rg_fetch_result r;
    CHECKF(rg_fetch_url(u("/report.html"), NULL, &r) == 0, "%s", rg_errmsg());
    CHECK_INT(r.status, 200);
    CHECK_INT(r.not_modified, 0);
    CHECK_INT(r.len, strlen(HTML));
    CHECK(r.body && strcmp(r.body, HTML) == 0);
    CHECK_STR(r.content_type, "text/html; charset=utf-8");
    CHECK_STR(r.etag, "\"v1\"");
    CHECK_STR(r.last_modified, "Wed, 21 Oct 2020 07:28:00 GMT");
    /* the body parses as HTML by its content type and content */
    rg_doc **docs = NULL;
    int n = 0;
    CHECK_INT(rg_parse_buffer(u("/report.html"), "ir", r.body, r.len, r.content_type, &docs, &n), 0);
    CHECK(n == 1 && strcmp(docs[0]->kind, "html") == 0 && strcmp(docs[0]->title, "Northwind IR") == 0);
    for (int i = 0; i < n; i++) rg_doc_free(docs[i]);
    free(docs);
    /* re-fetch with the ETag: 304, unchanged */
    rg_fetch_opts o = {0};
    o.etag = r.etag;
    rg_fetch_result r2;
    CHECKF(rg_fetch_url(u("/report.html"), &o, &r2) == 0, "%s", rg_errmsg());
    CHECK_INT(r2.status, 304);
    CHECK_INT(r2.not_modified, 1);
    CHECK_INT(r2.len, 0);
    rg_fetch_result_free(&r2);
    /* a validator with a line break is not sent (no header injection) */
    o.etag = "\"v1\"\r\nX-Evil: 1";
    CHECKF(rg_fetch_url(u("/report.html"), &o, &r2) == 0, "%s", rg_errmsg());
    CHECK_INT(r2.status, 200);
    rg_fetch_result_free(&r2);
    rg_fetch_result_free(&r);
    /* Last-Modified only; content type decides the format of an extension-less URL */
    CHECKF(rg_fetch_url(u("/data"), NULL, &r) == 0, "%s", rg_errmsg());
    CHECK_STR(r.last_modified, "Thu, 01 Oct 2020 00:00:00 GMT");
    CHECK(r.etag == NULL);
    CHECK_STR(rg_detect_format(u("/data"), r.body, r.len, r.content_type), "csv");
    rg_fetch_opts o2 = {0};
    o2.last_modified = r.last_modified;
    CHECKF(rg_fetch_url(u("/data"), &o2, &r2) == 0, "%s", rg_errmsg());
    CHECK_INT(r2.not_modified, 1);
    rg_fetch_result_free(&r2);
    rg_fetch_result_free(&r);
}

static void test_redirects(void) {
    rg_fetch_result r;
    CHECKF(rg_fetch_url(u("/r/5"), NULL, &r) == 0, "%s", rg_errmsg());
    CHECK_STR(r.body, "arrived");
    CHECK_STR(r.final_url, u("/r/0"));
    rg_fetch_result_free(&r);
    CHECK_INT(rg_fetch_url(u("/r/6"), NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "/r/6") && strstr(rg_errmsg(), "redirects"), "%s", rg_errmsg());
    CHECK_INT(rg_fetch_url(u("/tofile"), NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "/tofile") != NULL, "%s", rg_errmsg());
    CHECK(r.body == NULL);
}

static void test_limits_and_errors(void) {
    rg_fetch_result r;
    rg_fetch_opts o = {0};
    o.max_bytes = 1 << 20;
    CHECK_INT(rg_fetch_url(u("/big"), &o, &r), -1);
    CHECKF(strstr(rg_errmsg(), "/big") && strstr(rg_errmsg(), "larger than"), "%s", rg_errmsg());
    CHECK_INT(rg_fetch_url(u("/bignolen"), &o, &r), -1);
    CHECKF(strstr(rg_errmsg(), "/bignolen") && strstr(rg_errmsg(), "larger than"), "%s", rg_errmsg());
    o.max_bytes = 4 << 20;
    CHECKF(rg_fetch_url(u("/big"), &o, &r) == 0 && r.len == (3u << 20), "%s", rg_errmsg());
    rg_fetch_result_free(&r);
    CHECK_INT(rg_fetch_url(u("/missing"), NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), "/missing") && strstr(rg_errmsg(), "404"), "%s", rg_errmsg());
    rg_fetch_opts t = {0};
    t.timeout_s = 1;
    double t0 = rg_now();
    CHECK_INT(rg_fetch_url(u("/slow"), &t, &r), -1);
    CHECK(rg_now() - t0 < 5.0);   /* the server answers after 6 s: we gave up first */
    CHECKF(strstr(rg_errmsg(), "/slow") && strstr(rg_errmsg(), "timed out"), "%s", rg_errmsg());
    /* schemes other than http(s) are refused before any transfer */
    const char *bad[] = {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/", "dict://x", "/etc/passwd", "", NULL};
    for (int i = 0; bad[i]; i++) {
        CHECK_INT(rg_fetch_url(bad[i], NULL, &r), -1);
        CHECKF(strstr(rg_errmsg(), "http"), "%s", rg_errmsg());
    }
    CHECK_INT(rg_fetch_url(NULL, NULL, &r), -1);
    CHECK(rg_is_url("HTTPS://example.org") && !rg_is_url("httpx://a"));
    /* nothing listens on this port */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", fh_dead_port());
    CHECK_INT(rg_fetch_url(url, NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), url) != NULL, "%s", rg_errmsg());
}

int main(void) {
    if (fh_start(&srv, handle, NULL) != 0) {
        SKIP(test_fetch_and_validators, "cannot listen on 127.0.0.1");
        TESTS_DONE();
    }
    RUN(test_fetch_and_validators);
    RUN(test_redirects);
    RUN(test_limits_and_errors);
    fh_stop(&srv);
    TESTS_DONE();
}
