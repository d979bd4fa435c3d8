/* t_remote: the OpenAI-compatible client against a scripted HTTP server that this test runs
 * on 127.0.0.1 in a thread. The request's "model" field picks the server's behaviour. */
#include "check.h"
#include "core/util.h"
#include "generate/remote.h"
#include "fake_http.h"

static fh_server srv;

static const char *OK_TEXT = "Hello there";

/* The request's "model" picks the reply; "retry" alternates 429 (Retry-After: 1) and 200. */
static void handle(fh_server *s, const fh_request *req, int fd, void *ud) {
    (void)ud;
    char model[32];
    fh_body_str(req, "model", model, sizeof model);
    static int retry_count;
    if (!strcmp(model, "normal")) fh_chat_reply(fd, OK_TEXT);
    else if (!strcmp(model, "retry")) {
        if (retry_count++ % 2 == 0) {
            const char *b = "{\"error\":{\"message\":\"slow down\"}}";
            fh_reply(fd, 429, "Content-Type: application/json\r\nRetry-After: 1\r\n", b, strlen(b));
        } else fh_chat_reply(fd, OK_TEXT);
    } else if (!strcmp(model, "err500")) fh_reply_json(fd, 500, "{\"error\":{\"message\":\"boom\"}}");
    else if (!strcmp(model, "badjson")) fh_reply_json(fd, 200, "{\"choices\": [ not json");
    else if (!strcmp(model, "slow")) { fh_sleep(s, 1500); fh_chat_reply(fd, OK_TEXT); }
    else if (!strcmp(model, "stream") || !strcmp(model, "badstream")) {
        fh_sse_start(fd);
        const char *ev[] = {
            ": keep-alive comment\n\n",
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choi",   /* split mid-line */
            "ces\":[{\"delta\":{\"content\":\"lo \\u00e9\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
            "data: [DONE]\n\n"};
        for (int i = 0; i < 6; i++) {
            if (i == 3 && !strcmp(model, "badstream")) { fh_send_str(fd, "data: {oops\n\n"); break; }
            fh_send_str(fd, ev[i]);
            fh_sleep(s, 20);
        }
    } else fh_reply_json(fd, 404, "{\"error\":{\"message\":\"no such model\"}}");
}

/* The last request's Authorization header ("" when none) and body, for assertions. */
static fh_request last;
static const char *last_auth(void) { const char *a = fh_header(&last, "Authorization"); return a ? a : ""; }
static const char *last_body(void) { return last.body ? last.body : ""; }
static void take_last(void) { fh_request_free(&last); fh_last(&srv, &last); }

static rg_remote_config cfg_for(const char *model, char *url, size_t cap) {
    fh_url(&srv, "/v1/", url, cap);
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
    take_last();
    CHECKF(strcmp(last_auth(), "Bearer sekrit-123") == 0, "%s", last_auth());
    CHECK(strstr(last_body(), "\"max_tokens\":16") != NULL);
    CHECK(strstr(last_body(), "\"content\":\"say \\\"hi\\\"\"") != NULL);
    CHECK(strstr(last_body(), "\"stop\":[\"\\n\"]") != NULL);
    unsetenv("RAGD_TEST_KEY");
    free(s);
    free(fr);
    s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    take_last();
    CHECKF(last_auth()[0] == 0, "%s", last_auth());        /* no key variable: no header */
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
    take_last();
    CHECK(strstr(last_body(), "\"stream\":true") != NULL);
    CHECK(strstr(last_body(), "temperature") == NULL);
    free(s);
    free(fr);
}

static void test_retry_after(void) {
    char url[128];
    rg_remote_config c = cfg_for("retry", url, sizeof url);
    int before = fh_count(&srv);
    double t0 = rg_now();
    char *s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    double dt = rg_now() - t0;
    CHECKF(s != NULL, "%s", rg_errmsg());
    CHECK_STR(s, "Hello there");
    CHECK_INT(fh_count(&srv) - before, 2);
    CHECKF(dt >= 0.9, "waited %.2f s, Retry-After said 1", dt);
    free(s);
}

static void test_500_exhausted(void) {
    char url[128];
    rg_remote_config c = cfg_for("err500", url, sizeof url);
    int before = fh_count(&srv);
    char *s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    CHECK(s == NULL);
    CHECK_INT(fh_count(&srv) - before, 3);
    CHECKF(strstr(rg_errmsg(), "500") && strstr(rg_errmsg(), "boom") && strstr(rg_errmsg(), "3 attempts"),
           "%s", rg_errmsg());
    c.model = "nothere";               /* 404: no retry */
    before = fh_count(&srv);
    s = rg_remote_chat(&c, MSGS, 2, NULL, NULL, NULL, NULL);
    CHECK(s == NULL);
    CHECK_INT(fh_count(&srv) - before, 1);
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
    if (fh_start(&srv, handle, NULL) != 0) {
        printf("not ok server: cannot listen on 127.0.0.1\n");
        return 1;
    }
    RUN(test_normal);
    RUN(test_stream);
    RUN(test_retry_after);
    RUN(test_500_exhausted);
    RUN(test_timeout);
    RUN(test_malformed);
    fh_stop(&srv);
    fh_request_free(&last);
    TESTS_DONE();
}
