/* t_daemon_stream: POST /v1/ask with a generator through the daemon, over a real socket.
 * With the tiny local model (tests/models/tiny-qwen2-f32.gguf): the same answer as without
 * streaming, the model's tokens as separate "token" events before "answer", their
 * concatenation the answer's model output. With a scripted OpenAI-compatible server that
 * sends its pieces slowly (this test runs it on 127.0.0.1): each token reaches the client as
 * the server sends it (a real stream, not one write at the end); a client that hangs up
 * mid-stream stops the model's request and leaves the daemon answering; the per-request
 * deadline cuts a slow model off and the reasoner's answer stands. */
#include "daemon_harness.h"
#include "fake_http.h"

/* ---- a scripted chat-completions server: srv_pieces pieces, one every srv_delay_ms ---- */

static fh_server srv;
static atomic_int srv_pieces = 4, srv_delay_ms = 150, srv_sent, srv_cut;
static const char *const piece_text[] = {"[P1]", " Northwind", " sold", " small", " boats"};

static void serve_one(fh_server *s, const fh_request *req, int fd, void *ud) {
    (void)ud;
    int np = atomic_load(&srv_pieces);
    if (!fh_body_true(req, "stream")) {   /* one JSON answer */
        char text[256] = "";
        for (int i = 0; i < np && i < 5; i++) strcat(text, piece_text[i]);
        fh_chat_reply(fd, text);
        return;
    }
    if (fh_sse_start(fd) != 0) return;
    for (int i = 0; i < np; i++) {
        if (fh_chat_delta(fd, i < 5 ? piece_text[i] : " again") != 0) { atomic_store(&srv_cut, 1); return; }
        atomic_fetch_add(&srv_sent, 1);
        fh_sleep(s, atomic_load(&srv_delay_ms));
    }
    fh_send_str(fd, "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
}

/* ---- an SSE client on the Unix socket that notes when each event arrived ---- */

typedef struct { char name[32]; json_t *data; double t; } sse_ev;
typedef struct { sse_ev ev[256]; int n; long status; int chunked; } sse_reply;

static void sse_free(sse_reply *r) {
    for (int i = 0; i < r->n; i++) json_decref(r->ev[i].data);
    r->n = 0;
}

/* Events complete in text: moved into r, stamped now. */
static void take_events(rg_buf *text, sse_reply *r) {
    char *end;
    while (text->len && (end = strstr(text->data, "\n\n")) != NULL) {
        *end = 0;
        if (r->n < 256) {
            sse_ev *e = &r->ev[r->n];
            memset(e, 0, sizeof *e);
            e->t = rg_now();
            for (char *line = text->data; line && *line;) {
                char *nl = strchr(line, '\n');
                if (nl) *nl = 0;
                if (strncmp(line, "event: ", 7) == 0) snprintf(e->name, sizeof e->name, "%s", line + 7);
                else if (strncmp(line, "data: ", 6) == 0) e->data = json_loads(line + 6, 0, NULL);
                line = nl ? nl + 1 : NULL;
            }
            r->n++;
        }
        size_t used = (size_t)(end + 2 - text->data);
        memmove(text->data, text->data + used, text->len - used + 1);
        text->len -= used;
    }
}

/* POSTs body to /v1/ask and reads the chunked event stream until it ends (or, with
 * hang_up_after > 0, until that many events came: then the client closes the socket).
 * Returns 0 when the response ended properly (or was cut as asked). */
static int sse_ask(const char *sock, const char *body, int hang_up_after, double timeout, sse_reply *r) {
    memset(r, 0, sizeof *r);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    char head[512];
    snprintf(head, sizeof head, "POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(body));
    if (fh_send_str(fd, head) != 0 || fh_send_str(fd, body) != 0) { close(fd); return -1; }
    rg_buf in = {0}, text = {0};
    int headers = 0, ended = 0, rc = -1;
    double end = rg_now() + timeout;
    while (!ended && rg_now() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got <= 0) break;
        rg_buf_put(&in, buf, (size_t)got);
        if (!headers) {
            char *h = in.data ? strstr(in.data, "\r\n\r\n") : NULL;
            if (!h) continue;
            r->status = strtol(in.data + 9, NULL, 10);
            *h = 0;
            r->chunked = strcasestr(in.data, "Transfer-Encoding: chunked") != NULL;
            size_t used = (size_t)(h + 4 - in.data);
            memmove(in.data, in.data + used, in.len - used);
            in.len -= used;
            headers = 1;
            if (!r->chunked) break;
        }
        /* whole chunks: "SIZE\r\nDATA\r\n" */
        for (;;) {
            if (!in.len) break;
            rg_buf_putc(&in, 0);   /* a terminator for the scan, not part of the data */
            in.len--;
            char *crlf = strstr(in.data, "\r\n");
            if (!crlf) break;
            size_t sz = (size_t)strtoul(in.data, NULL, 16), hl = (size_t)(crlf + 2 - in.data);
            if (in.len < hl + sz + 2) break;
            if (sz == 0) { ended = 1; rc = 0; break; }
            rg_buf_put(&text, in.data + hl, sz);
            memmove(in.data, in.data + hl + sz + 2, in.len - hl - sz - 2);
            in.len -= hl + sz + 2;
            take_events(&text, r);
            if (hang_up_after > 0 && r->n >= hang_up_after) { ended = 1; rc = 0; break; }
        }
    }
    close(fd);
    rg_buf_free(&in);
    rg_buf_free(&text);
    return rc;
}

/* The concatenated "token" texts; -1 when a token came after "answer" or an event is bad. */
static int tokens_of(const sse_reply *r, rg_buf *out, int *answer_at) {
    *answer_at = -1;
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->ev[i].name, "answer") == 0 && *answer_at < 0) *answer_at = i;
        if (strcmp(r->ev[i].name, "token") != 0) continue;
        const char *t = json_string_value(json_object_get(r->ev[i].data, "text"));
        if (!t || *answer_at >= 0) return -1;
        rg_buf_puts(out, t);
    }
    return 0;
}

/* The reasoner finds no answer (no 2012 in the document): the model is asked. */
static const char *QUESTION = "What did Northwind sell in 2012?";

static void index_tiny(const char *sock, const char *docs) {
    long s;
    json_int_t id = submit_index(sock, docs, &s);
    CHECK_INT(s, 202);
    json_t *j = wait_job(sock, id, 60);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "done");
    json_decref(j);
}

static void make_tiny_docs(const char *dir) {
    char p[900];
    snprintf(p, sizeof p, "%s/a.txt", dir);
    rg_mkdir_p(dir, 0755);
    test_write_file(p, "Northwind sold small boats in Oslo.\n");
}

/* ---- the local model ---- */

static void test_stream_local(void) {
    char model[4096];
    if (!realpath("tests/models/tiny-qwen2-f32.gguf", model)) {   /* tests run from the repository root */
        printf("skip test_stream_local: tests/models/tiny-qwen2-f32.gguf missing\n");
        return;
    }
    dtest t;
    if (dtest_prepare(&t, "l", "ragd.sock") != 0) return;
    const char *sock = t.sock, *docs = t.docs;
    make_tiny_docs(docs);
    setenv("RAGD_GENERATOR", model, 1);
    const char *args[] = {"--allow-root", docs, "--quiet", NULL};
    daemon_t d = dtest_start(&t, args);
    unsetenv("RAGD_GENERATOR");
    if (d.pid <= 0) return;
    index_tiny(sock, docs);

    char body[512];
    snprintf(body, sizeof body, "{\"question\": \"%s\", \"doc\": \"a.txt\"}", QUESTION);
    long s;
    json_t *plain = jreq(sock, "POST", "/v1/ask", body, &s);
    CHECK_INT(s, 200);
    json_t *gen = json_object_get(plain, "generator");
    CHECKF(json_is_true(json_object_get(gen, "used")), "the model was not asked: %s",
           json_string_value(json_object_get(gen, "reason")) ?: "?");
    const char *out = json_string_value(json_object_get(gen, "output"));
    CHECK(out != NULL && *out);

    snprintf(body, sizeof body, "{\"question\": \"%s\", \"doc\": \"a.txt\", \"stream\": true}", QUESTION);
    sse_reply r;
    CHECK(sse_ask(sock, body, 0, 60, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(r.chunked);
    rg_buf toks = {0};
    int answer_at;
    CHECK(tokens_of(&r, &toks, &answer_at) == 0);
    int ntok = 0;
    for (int i = 0; i < r.n; i++) ntok += strcmp(r.ev[i].name, "token") == 0;
    CHECKF(ntok >= 2, "%d token events", ntok);
    CHECK(answer_at > 0 && answer_at == r.n - 2);
    CHECK(r.n >= 2 && strcmp(r.ev[r.n - 1].name, "done") == 0);
    json_t *a = answer_at >= 0 ? r.ev[answer_at].data : NULL;
    const char *sout = json_string_value(json_object_get(json_object_get(a, "generator"), "output"));
    CHECK_STR(toks.data ? toks.data : "", sout ? sout : "(none)");
    /* greedy decoding: the streamed answer is the plain one */
    CHECK_STR(sout ? sout : "", out ? out : "");
    CHECK_STR(json_string_value(json_object_get(a, "answered_by")), json_string_value(json_object_get(plain, "answered_by")));
    rg_buf_free(&toks);
    sse_free(&r);
    json_decref(plain);
    CHECK_INT(stop_daemon(&d), 0);
}

/* ---- a slow remote model ---- */

static daemon_t start_remote_daemon(const dtest *t, const char *deadline) {
    char conf[800], text[300];
    snprintf(conf, sizeof conf, "%s/ragd.conf", t->dir);
    snprintf(text, sizeof text, "generator = remote\nremote_url = http://127.0.0.1:%d/v1\nremote_model = m\n", srv.port);
    test_write_file(conf, text);
    const char *global[] = {"--config", conf, NULL};
    const char *args[] = {"--allow-root", t->docs, "--quiet", "--deadline", deadline, NULL};
    daemon_t d = start_daemon_g(t->dir, t->idx, t->sock, global, args);
    CHECKF(d.pid > 0, "daemon did not start (see %.200s)", d.log);
    return d;
}

static void test_stream_remote(void) {
    dtest t;
    if (dtest_prepare(&t, "r", "ragd.sock") != 0) return;
    const char *sock = t.sock, *docs = t.docs;
    make_tiny_docs(docs);
    daemon_t d = start_remote_daemon(&t, "30");
    if (d.pid <= 0) return;
    index_tiny(sock, docs);
    char body[512];
    snprintf(body, sizeof body, "{\"question\": \"%s\", \"doc\": \"a.txt\", \"stream\": true}", QUESTION);

    /* 5 pieces, 250 ms apart: each token reaches the client when the server sends it. */
    atomic_store(&srv_pieces, 5);
    atomic_store(&srv_delay_ms, 250);
    sse_reply r;
    CHECK(sse_ask(sock, body, 0, 30, &r) == 0);
    CHECK_INT(r.status, 200);
    rg_buf toks = {0};
    int answer_at;
    CHECK(tokens_of(&r, &toks, &answer_at) == 0);
    CHECK_STR(toks.data ? toks.data : "", "[P1] Northwind sold small boats");
    CHECK(answer_at == 5);
    if (answer_at == 5) {
        /* a real stream: the first token came about a second before the answer, and the
         * tokens one by one (a buffered reply would bring them all at once) */
        CHECKF(r.ev[5].t - r.ev[0].t > 0.6, "first token %.3fs before the answer", r.ev[5].t - r.ev[0].t);
        int spaced = 0;
        for (int i = 1; i < 5; i++) spaced += r.ev[i].t - r.ev[i - 1].t > 0.1;
        CHECKF(spaced >= 3, "only %d of 4 token gaps were a tenth of a second or more", spaced);
        json_t *a = r.ev[5].data;
        CHECK_STR(json_string_value(json_object_get(a, "answered_by")), "generator");
        CHECK_STR(json_string_value(json_object_get(json_object_get(a, "generator"), "output")), toks.data ? toks.data : "");
    }
    rg_buf_free(&toks);
    sse_free(&r);

    /* A client that hangs up after the first token: the model's request is dropped (the
     * server cannot send all 40 pieces), and the daemon goes on answering. */
    atomic_store(&srv_pieces, 40);
    atomic_store(&srv_delay_ms, 100);
    atomic_store(&srv_sent, 0);
    atomic_store(&srv_cut, 0);
    double t0 = rg_now();
    CHECK(sse_ask(sock, body, 1, 30, &r) == 0);
    CHECK(r.n == 1 && strcmp(r.ev[0].name, "token") == 0);
    sse_free(&r);
    for (int i = 0; i < 100 && !atomic_load(&srv_cut); i++) usleep(50000);
    CHECKF(atomic_load(&srv_cut), "the server sent all %d pieces: the model went on after the client left", atomic_load(&srv_sent));
    CHECKF(atomic_load(&srv_sent) < 30, "%d pieces sent", atomic_load(&srv_sent));
    CHECKF(rg_now() - t0 < 3.5, "stopping took %.1fs", rg_now() - t0);
    long s;
    json_t *j = jreq(sock, "GET", "/v1/health", NULL, &s);
    CHECK_INT(s, 200);
    json_decref(j);
    atomic_store(&srv_pieces, 5);
    atomic_store(&srv_delay_ms, 10);
    snprintf(body, sizeof body, "{\"question\": \"%s\", \"doc\": \"a.txt\"}", QUESTION);
    j = jreq(sock, "POST", "/v1/ask", body, &s);
    CHECK_INT(s, 200);
    CHECK_STR(json_string_value(json_object_get(j, "answered_by")), "generator");
    json_decref(j);
    CHECK_INT(stop_daemon(&d), 0);

    /* The per-request deadline (1 s) stops a model that would take 4 s: the reasoner answers. */
    d = start_remote_daemon(&t, "1");
    if (d.pid <= 0) return;
    atomic_store(&srv_pieces, 40);
    atomic_store(&srv_delay_ms, 100);
    snprintf(body, sizeof body, "{\"question\": \"%s\", \"doc\": \"a.txt\", \"stream\": true}", QUESTION);
    t0 = rg_now();
    CHECK(sse_ask(sock, body, 0, 30, &r) == 0);
    double took = rg_now() - t0;
    CHECKF(took < 3.0, "the answer took %.1fs with a 1 s deadline", took);
    CHECK(tokens_of(&r, &toks, &answer_at) == 0 && answer_at > 0);
    json_t *a = answer_at > 0 ? r.ev[answer_at].data : NULL;
    CHECK_STR(json_string_value(json_object_get(a, "answered_by")), "reasoner");
    const char *why = json_string_value(json_object_get(json_object_get(a, "generator"), "rejected"));
    CHECKF(why && strstr(why, "deadline"), "rejected: %s", why ? why : "(none)");
    rg_buf_free(&toks);
    sse_free(&r);
    CHECK_INT(stop_daemon(&d), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    if (harness_init(argv[0]) != 0) { printf("skip t_daemon_stream: no ragd binary or temp dir\n"); return 0; }
    unsetenv("RAGD_GENERATOR");
    int have_srv = fh_start(&srv, serve_one, NULL) == 0;
    RUN(test_stream_local);
    if (have_srv) {
        printf("# remote model at 127.0.0.1:%d\n", srv.port);
        RUN(test_stream_remote);
        fh_stop(&srv);
    } else printf("skip test_stream_remote: no loopback TCP\n");
    harness_done();
    TESTS_DONE();
}
