/* Tests for ingest/url against a small HTTP server this test runs on 127.0.0.1 (no network):
 * content type, ETag / Last-Modified and 304 on re-fetch, redirects (limit, no file://),
 * size cap with and without Content-Length, timeouts, HTTP errors, refused schemes. */
#include "check.h"
#include "ingest/url.h"
#include "ingest/parse.h"
#include "core/util.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int srv_fd = -1, port;
static atomic_int stopping;
static pthread_t srv_thread;

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

static void respond(int fd, const char *status, const char *headers, const char *body, size_t blen) {
    char head[1024];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n", status, blen, headers);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, blen);
}

static const char *HTML = "<html><head><title>Northwind IR</title></head><body><h1>Revenue</h1>"
                          "<p>Revenue was $1,452.4 million in 2019.</p></body></html>";

static void handle(int fd) {
    char req[8192];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t k = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    req[n] = 0;
    char path[256] = "";
    if (sscanf(req, "GET %255s", path) != 1) return;
    if (strcmp(path, "/report.html") == 0) {
        if (strstr(req, "If-None-Match: \"v1\"")) respond(fd, "304 Not Modified", "ETag: \"v1\"\r\n", "", 0);
        else respond(fd, "200 OK", "Content-Type: text/html; charset=utf-8\r\nETag: \"v1\"\r\n"
                                   "Last-Modified: Wed, 21 Oct 2020 07:28:00 GMT\r\n", HTML, strlen(HTML));
    } else if (strcmp(path, "/data") == 0) {
        if (strstr(req, "If-Modified-Since: Thu, 01 Oct 2020 00:00:00 GMT"))
            respond(fd, "304 Not Modified", "", "", 0);
        else respond(fd, "200 OK", "Content-Type: text/csv\r\nLast-Modified: Thu, 01 Oct 2020 00:00:00 GMT\r\n",
                     "Region,2019\nEurope,486.1\nAsia Pacific,263.8\n", 41);
    } else if (strncmp(path, "/r/", 3) == 0) {
        int k = atoi(path + 3);
        if (k <= 0) respond(fd, "200 OK", "Content-Type: text/plain\r\n", "arrived", 7);
        else {
            char loc[64];
            snprintf(loc, sizeof loc, "Location: /r/%d\r\n", k - 1);
            respond(fd, "302 Found", loc, "", 0);
        }
    } else if (strcmp(path, "/tofile") == 0) {
        respond(fd, "302 Found", "Location: file:///etc/passwd\r\n", "", 0);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bignolen") == 0) {
        size_t blen = 3 << 20;
        char *big = malloc(blen);
        memset(big, 'a', blen);
        if (path[4] == 0) respond(fd, "200 OK", "Content-Type: text/plain\r\n", big, blen);
        else {
            const char *h = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n";
            send_all(fd, h, strlen(h));
            send_all(fd, big, blen);
        }
        free(big);
    } else if (strcmp(path, "/slow") == 0) {
        for (int i = 0; i < 60 && !atomic_load(&stopping); i++) usleep(100000);   /* 6 s */
        respond(fd, "200 OK", "", "late", 4);
    } else {
        respond(fd, "404 Not Found", "Content-Type: text/plain\r\n", "no", 2);
    }
}

static void *serve(void *arg) {
    (void)arg;
    while (!atomic_load(&stopping)) {
        int c = accept(srv_fd, NULL, NULL);
        if (c < 0) break;
        struct timeval tv = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        handle(c);
        close(c);
    }
    return NULL;
}

static int start_server(void) {
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (srv_fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    if (bind(srv_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(srv_fd, 16) < 0 ||
        getsockname(srv_fd, (struct sockaddr *)&a, &al) < 0) return -1;
    port = ntohs(a.sin_port);
    return pthread_create(&srv_thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static void stop_server(void) {
    atomic_store(&stopping, 1);
    shutdown(srv_fd, SHUT_RDWR);
    pthread_join(srv_thread, NULL);
    close(srv_fd);
}

static char *u(const char *path) {
    static char buf[128];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", port, path);
    return buf;
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
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    close(fd);
    CHECK_INT(rg_fetch_url(url, NULL, &r), -1);
    CHECKF(strstr(rg_errmsg(), url) != NULL, "%s", rg_errmsg());
}

int main(void) {
    if (start_server() < 0) {
        SKIP(test_fetch_and_validators, "cannot listen on 127.0.0.1");
        TESTS_DONE();
    }
    RUN(test_fetch_and_validators);
    RUN(test_redirects);
    RUN(test_limits_and_errors);
    stop_server();
    TESTS_DONE();
}
