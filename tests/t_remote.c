/* t_remote: the OpenAI-compatible client against a scripted HTTP server that this test runs
 * on 127.0.0.1 in a thread. The request's "model" field picks the server's behaviour. */
#include "check.h"
#include "core/util.h"
#include "generate/remote.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_fd = -1, port;
static atomic_int n_requests, stop_server;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char last_auth[256], last_body[4096];

static void send_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w; n -= (size_t)w;
    }
}
static void send_str(int fd, const char *s) { send_all(fd, s, strlen(s)); }

static void respond(int fd, int status, const char *extra_hdr, const char *body) {
    char head[512];
    snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n%s\r\n", status, strlen(body), extra_hdr ? extra_hdr : "");
    send_str(fd, head);
    send_str(fd, body);
}

static const char *OK_BODY =
    "{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there\"},"
    "\"finish_reason\":\"stop\"}]}";

static void handle(int fd) {
    char req[8192];
    size_t n = 0;
    char *hend = NULL;
    while (n < sizeof req - 1) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        req[n] = 0;
        if ((hend = strstr(req, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(req, "content-length:");
            size_t want = cl ? (size_t)atol(cl + 15) : 0;
            if (n - (size_t)(hend + 4 - req) >= want) break;
        }
    }
    req[n] = 0;
    atomic_fetch_add(&n_requests, 1);
    pthread_mutex_lock(&mu);
    last_auth[0] = 0;
    char *a = strcasestr(req, "\r\nAuthorization: ");
    if (a) { a += 17; size_t k = strcspn(a, "\r"); snprintf(last_auth, sizeof last_auth, "%.*s", (int)k, a); }
    snprintf(last_body, sizeof last_body, "%s", hend ? hend + 4 : "");
    pthread_mutex_unlock(&mu);
    const char *m = hend ? strstr(hend, "\"model\":\"") : NULL;
    char model[32] = "";
    if (m) { m += 9; size_t k = strcspn(m, "\""); snprintf(model, sizeof model, "%.*s", (int)(k < 31 ? k : 31), m); }
    static int retry_count;
    if (!strcmp(model, "normal")) respond(fd, 200, NULL, OK_BODY);
    else if (!strcmp(model, "retry")) {
        if (retry_count++ % 2 == 0) respond(fd, 429, "Retry-After: 1\r\n", "{\"error\":{\"message\":\"slow down\"}}");
        else respond(fd, 200, NULL, OK_BODY);
    } else if (!strcmp(model, "err500")) respond(fd, 500, NULL, "{\"error\":{\"message\":\"boom\"}}");
    else if (!strcmp(model, "badjson")) respond(fd, 200, NULL, "{\"choices\": [ not json");
    else if (!strcmp(model, "slow")) { usleep(1500 * 1000); respond(fd, 200, NULL, OK_BODY); }
    else if (!strcmp(model, "stream") || !strcmp(model, "badstream")) {
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
        const char *ev[] = {
            ": keep-alive comment\n\n",
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choi",   /* split mid-line */
            "ces\":[{\"delta\":{\"content\":\"lo \\u00e9\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
            "data: [DONE]\n\n"};
        for (int i = 0; i < 6; i++) {
            if (i == 3 && !strcmp(model, "badstream")) { send_str(fd, "data: {oops\n\n"); break; }
            send_str(fd, ev[i]);
            usleep(20 * 1000);
        }
    } else respond(fd, 404, NULL, "{\"error\":{\"message\":\"no such model\"}}");
    close(fd);
}

static void *server(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_server)) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) continue;
        if (atomic_load(&stop_server)) { close(fd); break; }
        handle(fd);
    }
    return NULL;
}

static rg_remote_config cfg_for(const char *model, char *url, size_t cap) {
    snprintf(url, cap, "http://127.0.0.1:%d/v1/", port);
    return (rg_remote_config){.base_url = url, .model = model, .api_key_env = "RAGD_TEST_KEY",
                              .timeout_s = 5, .max_retries = 2, .backoff_s = 0.05};
}

static const rg_remote_msg MSGS[] = {{"system", "be brief"}, {"user", "say \"hi\""}};

static void test_normal(void) {
    char url[128];
    rg_remote_config c = cfg_for("normal", url, sizeof url);
    setenv("RAGD_TEST_KEY", "sekrit-123", 1);
    rg_remote_params p = {.max_tokens = 16, .temperature = 0, .stop = (const char *[]){"\n"}, .nstop = 1};
    char *fr;
    char *s = rg_remote_chat(&c, MSGS, 2, &p, NULL, NULL, &fr);
    CHECKF(s != NULL, "%s", rg_errmsg());
    CHECK_STR(s, "Hello there");
    CHECK_STR(fr, "stop");
    pthread_mutex_lock(&mu);
    CHECKF(strcmp(last_auth, "Bearer sekrit-123") == 0, "%s", last_auth);
    CHECK(strstr(last_body, "\"max_tokens\":16") != NULL);
    CHECK(strstr(last_body, "\"content\":\"say \\\"hi\\\"\"") != NULL);
    CHECK(strstr(last_body, "\"stop\":[\"\\n\"]") != NULL);
    pthread_mutex_unlock(&mu);
    unsetenv("RAGD_TEST_KEY");
    free(s);
    free(fr);
    s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    pthread_mutex_lock(&mu);
    CHECKF(last_auth[0] == 0, "%s", last_auth);        /* no key variable: no header */
    pthread_mutex_unlock(&mu);
    free(s);
}

typedef struct { char buf[128]; int calls; } collect;
static int on_piece(const char *p, size_t n, void *ud) {
    collect *c = ud;
    size_t l = strlen(c->buf);
    if (l + n < sizeof c->buf) { memcpy(c->buf + l, p, n); c->buf[l + n] = 0; }
    c->calls++;
    return 0;
}

static void test_stream(void) {
    char url[128];
    rg_remote_config c = cfg_for("stream", url, sizeof url);
    rg_remote_params p = {.stream = 1, .temperature = -1};
    collect col = {0};
    char *fr;
    char *s = rg_remote_chat(&c, MSGS, 2, &p, on_piece, &col, &fr);
    CHECKF(s != NULL, "%s", rg_errmsg());
    CHECK_STR(s, "Hello \xc3\xa9");
    CHECK_STR(col.buf, "Hello \xc3\xa9");
    CHECK_INT(col.calls, 2);
    CHECK_STR(fr, "length");
    pthread_mutex_lock(&mu);
    CHECK(strstr(last_body, "\"stream\":true") != NULL);
    CHECK(strstr(last_body, "temperature") == NULL);
    pthread_mutex_unlock(&mu);
    free(s);
    free(fr);
}

static void test_retry_after(void) {
    char url[128];
    rg_remote_config c = cfg_for("retry", url, sizeof url);
    int before = atomic_load(&n_requests);
    double t0 = rg_now();
    char *s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    double dt = rg_now() - t0;
    CHECKF(s != NULL, "%s", rg_errmsg());
    CHECK_STR(s, "Hello there");
    CHECK_INT(atomic_load(&n_requests) - before, 2);
    CHECKF(dt >= 0.9, "waited %.2f s, Retry-After said 1", dt);
    free(s);
}

static void test_500_exhausted(void) {
    char url[128];
    rg_remote_config c = cfg_for("err500", url, sizeof url);
    int before = atomic_load(&n_requests);
    char *s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    CHECK(s == NULL);
    CHECK_INT(atomic_load(&n_requests) - before, 3);
    CHECKF(strstr(rg_errmsg(), "500") && strstr(rg_errmsg(), "boom") && strstr(rg_errmsg(), "3 attempts"),
           "%s", rg_errmsg());
    c.model = "nothere";               /* 404: no retry */
    before = atomic_load(&n_requests);
    s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    CHECK(s == NULL);
    CHECK_INT(atomic_load(&n_requests) - before, 1);
    CHECK(strstr(rg_errmsg(), "404") != NULL);
}

static void test_timeout(void) {
    char url[128];
    rg_remote_config c = cfg_for("slow", url, sizeof url);
    c.timeout_s = 0.4;
    double t0 = rg_now();
    char *s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    CHECK(s == NULL);
    CHECK(rg_now() - t0 < 1.4);
    CHECKF(strstr(rg_errmsg(), "timed out") != NULL, "%s", rg_errmsg());
    usleep(1300 * 1000);               /* let the server finish the slow answer */
}

static void test_malformed(void) {
    char url[128];
    rg_remote_config c = cfg_for("badjson", url, sizeof url);
    char *s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    CHECK(s == NULL);
    CHECKF(strstr(rg_errmsg(), "malformed JSON") != NULL, "%s", rg_errmsg());
    c.model = "badstream";
    rg_remote_params p = {.stream = 1};
    collect col = {0};
    s = rg_remote_chat(&c, MSGS, 2, &p, on_piece, &col, NULL);
    CHECK(s == NULL);
    CHECKF(strstr(rg_errmsg(), "malformed JSON") != NULL, "%s", rg_errmsg());
    CHECK_STR(col.buf, "Hel");
    c.base_url = "http://127.0.0.1:1/v1";   /* nothing listens: connection refused, retried */
    c.max_retries = 1;
    s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    CHECK(s == NULL);
    CHECK(strstr(rg_errmsg(), "127.0.0.1:1") != NULL);
    rg_remote_config empty = {0};
    CHECK(rg_remote_chat(&empty, MSGS, 2, NULL, NULL, NULL, NULL) == NULL);
}

int main(void) {
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(listen_fd, 16) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&a, &al) != 0) {
        printf("not ok server: cannot listen on 127.0.0.1\n");
        return 1;
    }
    port = ntohs(a.sin_port);
    pthread_t th;
    pthread_create(&th, NULL, server, NULL);
    RUN(test_normal);
    RUN(test_stream);
    RUN(test_retry_after);
    RUN(test_500_exhausted);
    RUN(test_timeout);
    RUN(test_malformed);
    atomic_store(&stop_server, 1);
    int w = socket(AF_INET, SOCK_STREAM, 0);   /* wake accept() */
    a.sin_port = htons((uint16_t)port);
    if (connect(w, (struct sockaddr *)&a, sizeof a) != 0) fprintf(stderr, "wake failed\n");
    close(w);
    pthread_join(th, NULL);
    close(listen_fd);
    TESTS_DONE();
}
