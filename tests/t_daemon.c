/* t_daemon: `ragd serve` over a real Unix socket. Starts the ragd binary ($RAGD, else
 * ../ragd next to this test binary) in temporary directories and talks HTTP to it: every
 * endpoint, limits and malformed requests, peer refusal, socket modes and stale sockets,
 * systemd activation and readiness, SIGHUP. (Concurrency and crashes: t_daemon_load.) */
#include "daemon_harness.h"


static void test_endpoints(void) {
    dtest t;
    if (dtest_prepare(&t, "e", "run/ragd.sock") != 0) return;
    const char *idx = t.idx, *sock = t.sock, *docs = t.docs;
    make_docs(t.dir, "docs", 20);
    const char *args[] = {"--allow-root", docs, "--quiet", NULL};
    daemon_t d = dtest_start(&t, args);
    if (d.pid <= 0) return;
    struct stat st;
    CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
    CHECKF((st.st_mode & 0777) == 0600, "socket mode %o", (unsigned)(st.st_mode & 0777));
    char rundir[300];
    snprintf(rundir, sizeof rundir, "%s/run", t.dir);
    CHECK(stat(rundir, &st) == 0 && (st.st_mode & 0777) == 0700);

    long s;
    json_t *j = jreq(sock, "GET", "/v1/health", NULL, &s);
    CHECK_INT(s, 200);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    /* No index yet: reads say so. */
    j = jreq(sock, "GET", "/v1/documents", NULL, &s);
    CHECK_INT(s, 404);
    CHECK_STR(err_code(j), "no_index");
    json_decref(j);

    json_int_t id = submit_index(sock, docs, &s);
    CHECK_INT(s, 202);
    CHECK(id > 0);
    j = wait_job(sock, id, 30);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "done");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "result"), "indexed")), 20);
    CHECK_INT(json_integer_value(json_object_get(j, "done")), 20);
    json_decref(j);

    j = jreq(sock, "GET", "/v1/documents", NULL, &s);
    CHECK_INT(s, 200);
    CHECK_INT(json_array_size(json_object_get(j, "documents")), 20);
    json_decref(j);
    j = jreq(sock, "GET", "/v1/status", NULL, &s);
    CHECK_INT(s, 200);
    CHECK_INT(json_integer_value(json_object_get(j, "documents")), 20);
    CHECK_STR(json_string_value(json_object_get(j, "daemon")), "running");
    json_decref(j);

    j = jreq(sock, "POST", "/v1/search", "{\"query\": \"dividend segment\", \"k\": 3, \"mode\": \"bm25\"}", &s);
    CHECK_INT(s, 200);
    json_t *res = json_object_get(j, "results");
    CHECK(json_array_size(res) >= 1 && json_array_size(res) <= 3);
    CHECK(strstr(json_string_value(json_object_get(json_array_get(res, 0), "text")) ?: "", "dividend") != NULL);
    json_decref(j);
    j = jreq(sock, "POST", "/v1/search", "{\"query\": \"pension\", \"filter\": {\"doc\": \"docs-sub/doc0004.txt\"}}", &s);
    CHECK_INT(s, 200);
    res = json_object_get(j, "results");
    CHECK_INT(json_array_size(res), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(res, 0), "doc_id")), "docs-sub/doc0004.txt");
    json_decref(j);

    j = jreq(sock, "POST", "/v1/search", "{\"query\": \"segment grew\", \"filter\": {\"source\": \"*/doc0007.txt\", \"kind\": \"text\"}}", &s);
    CHECK_INT(s, 200);
    res = json_object_get(j, "results");
    CHECK_INT(json_array_size(res), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(res, 0), "doc_id")), "docs-sub/doc0007.txt");
    json_decref(j);
    j = jreq(sock, "POST", "/v1/ask", "{\"question\": \"How much did revenue grow?\"}", &s);
    CHECK_INT(s, 200);
    CHECK_STR(json_string_value(json_object_get(j, "question")), "How much did revenue grow?");
    CHECK(json_object_get(j, "type") != NULL && json_is_array(json_object_get(j, "citations")));
    json_decref(j);
    resp r;
    CHECK(http(NULL, sock, "POST", "/v1/ask", "{\"question\": \"revenue growth\", \"stream\": true}", &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(r.ctype && strncmp(r.ctype, "text/event-stream", 17) == 0);
    CHECK(r.body && strstr(r.body, "event: answer\ndata: {") && strstr(r.body, "event: done\n"));
    resp_free(&r);

    j = jreq(sock, "POST", "/v1/embeddings", "{\"input\": [\"revenue grew\", \"pension costs\"], \"model\": \"x\"}", &s);
    CHECK_INT(s, 200);
    CHECK_STR(json_string_value(json_object_get(j, "object")), "list");
    json_t *data = json_object_get(j, "data");
    CHECK_INT(json_array_size(data), 2);
    json_t *emb = json_object_get(json_array_get(data, 1), "embedding");
    double norm = 0;
    for (size_t i = 0; i < json_array_size(emb); i++) norm += pow(json_real_value(json_array_get(emb, i)), 2);
    CHECK(json_array_size(emb) > 0);
    CHECK_NEAR(norm, 1.0, 1e-3);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(data, 1), "index")), 1);
    json_decref(j);
    j = jreq(sock, "POST", "/v1/embeddings", "{\"input\": \"one\"}", &s);
    CHECK_INT(s, 200);
    CHECK_INT(json_array_size(json_object_get(j, "data")), 1);
    json_decref(j);

    const char *chat = "{\"model\": \"ragd\", \"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
                       "{\"role\": \"user\", \"content\": \"What were leases costs?\"}]}";
    j = jreq(sock, "POST", "/v1/chat/completions", chat, &s);
    CHECK_INT(s, 200);
    CHECK_STR(json_string_value(json_object_get(j, "object")), "chat.completion");
    json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    CHECK_STR(json_string_value(json_object_get(msg, "role")), "assistant");
    CHECK(json_string_length(json_object_get(msg, "content")) > 0);
    json_decref(j);
    char chat_stream[600];
    snprintf(chat_stream, sizeof chat_stream, "%.*s, \"stream\": true}", (int)strlen(chat) - 1, chat);
    CHECK(http(NULL, sock, "POST", "/v1/chat/completions", chat_stream, &r) == 0);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strstr(r.body, "\"chat.completion.chunk\"") && strstr(r.body, "data: [DONE]\n\n"));
    resp_free(&r);

    /* DELETE with an id containing '/', URL-encoded. */
    j = jreq(sock, "DELETE", "/v1/documents/docs-sub%2Fdoc0003.txt", NULL, &s);
    CHECK_INT(s, 200);
    CHECK_STR(json_string_value(json_object_get(j, "removed")), "docs-sub/doc0003.txt");
    json_decref(j);
    j = jreq(sock, "DELETE", "/v1/documents/docs-sub/doc0003.txt", NULL, &s);
    CHECK_INT(s, 404);
    json_decref(j);
    j = jreq(sock, "GET", "/v1/documents", NULL, &s);
    CHECK_INT(json_array_size(json_object_get(j, "documents")), 19);
    json_decref(j);

    /* Index requests outside the allowed root, escapes, relative paths. */
    submit_index(sock, "/etc/shadow", &s);
    CHECK_INT(s, 403);
    char esc[800];
    snprintf(esc, sizeof esc, "%s/../idx", docs);
    submit_index(sock, esc, &s);
    CHECK_INT(s, 403);
    submit_index(sock, "docs", &s);
    CHECK_INT(s, 400);
    j = jreq(sock, "GET", "/v1/jobs/999", NULL, &s);
    CHECK_INT(s, 404);
    json_decref(j);

    /* The client library: this daemon answers for this index, not for another one. */
    rg_cli cli = {.index_dir = idx};
    setenv("RAGD_SOCKET", sock, 1);
    json_t *rep = NULL;
    json_t *qb = json_pack("{s:s}", "query", "taxes");
    { long long rc_ = rg_client_try(&cli, "POST", "/v1/search", qb, &rep); CHECK_INT(rc_, 1); }
    json_decref(qb);
    CHECK(json_array_size(json_object_get(rep, "results")) > 0);
    json_decref(rep);
    rg_cli other = {.index_dir = docs};
    { long long rc_ = rg_client_try(&other, "GET", "/v1/health", NULL, &rep); CHECK_INT(rc_, 0); }
    unsetenv("RAGD_SOCKET");

    { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
    CHECK(access(sock, F_OK) != 0);   /* socket removed */
    setenv("RAGD_SOCKET", sock, 1);
    { long long rc_ = rg_client_try(&cli, "GET", "/v1/health", NULL, &rep); CHECK_INT(rc_, 0); }   /* nobody serving */
    unsetenv("RAGD_SOCKET");
}

static void test_bad_requests(void) {
    dtest t;
    if (dtest_prepare(&t, "b", "ragd.sock") != 0 || dtest_seed(&t, "docs", 3) != 0) return;
    const char *sock = t.sock;
    const char *args[] = {"--timeout", "2", "--request-timeout", "3", "--quiet", NULL};
    daemon_t d = dtest_start(&t, args);
    if (d.pid <= 0) return;
    long s;
    json_t *j;
    struct { const char *method, *path, *body; long status; const char *code; } cases[] = {
        {"POST", "/v1/search", "{\"query\": ", 400, "bad_json"},
        {"POST", "/v1/search", "[1, 2]", 400, "bad_request"},
        {"POST", "/v1/search", "{\"query\": \"x\", \"k\": 1000}", 400, "bad_request"},
        {"POST", "/v1/search", "{\"query\": \"x\", \"k\": \"3\"}", 400, "bad_request"},
        {"POST", "/v1/search", "{\"query\": \"x\", \"mode\": \"magic\"}", 400, "bad_request"},
        {"POST", "/v1/search", "{\"query\": \"x\", \"filter\": {\"kind\": \"image\"}}", 400, "bad_request"},
        {"POST", "/v1/search", "{\"query\": \"x\", \"filter\": {\"color\": 3}}", 400, "bad_request"},
        {"POST", "/v1/search", "{\"k\": 3}", 400, "bad_request"},
        {"POST", "/v1/ask", "{\"question\": 42}", 400, "bad_request"},
        {"POST", "/v1/embeddings", "{\"input\": []}", 400, "bad_request"},
        {"POST", "/v1/chat/completions", "{\"messages\": [{\"role\": \"system\", \"content\": \"x\"}]}", 400, "bad_request"},
        {"GET", "/v1/search", NULL, 405, "method_not_allowed"},
        {"DELETE", "/v1/health", NULL, 405, "method_not_allowed"},
        {"GET", "/v2/health", NULL, 404, "not_found"},
        {"GET", "/v1/jobs/abc", NULL, 400, "bad_request"},
        {"POST", "/v1/index", "{\"paths\": [\"/tmp\"]}", 403, "forbidden"},   /* no --allow-root */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        j = jreq(sock, cases[i].method, cases[i].path, cases[i].body, &s);
        CHECKF(s == cases[i].status, "case %zu (%s %s): status %ld", i, cases[i].method, cases[i].path, s);
        CHECKF(err_code(j) && strcmp(err_code(j), cases[i].code) == 0, "case %zu: code %s", i, err_code(j) ?: "(none)");
        json_decref(j);
    }
    /* A question over 4 KiB; JSON nested 100 deep; a body over 1 MiB. */
    rg_buf b = {0};
    rg_buf_puts(&b, "{\"question\": \"");
    for (int i = 0; i < 5000; i++) rg_buf_putc(&b, 'a');
    rg_buf_puts(&b, "\"}");
    j = jreq(sock, "POST", "/v1/ask", b.data, &s);
    CHECK_INT(s, 400);
    CHECK_STR(err_code(j), "too_large");
    json_decref(j);
    rg_buf_free(&b);
    for (int i = 0; i < 100; i++) rg_buf_putc(&b, '[');
    for (int i = 0; i < 100; i++) rg_buf_putc(&b, ']');
    j = jreq(sock, "POST", "/v1/search", b.data, &s);
    CHECK_INT(s, 400);
    json_decref(j);
    rg_buf_free(&b);
    char *big = xmalloc(2 << 20);
    memset(big, ' ', 2 << 20);
    big[(2 << 20) - 1] = 0;
    big[0] = '{';
    j = jreq(sock, "POST", "/v1/search", big, &s);
    CHECK_INT(s, 413);
    json_decref(j);
    free(big);
    /* Huge headers: refused (431/413/400) or the connection closed, never a crash. */
    rg_buf_puts(&b, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 200000; i++) rg_buf_putc(&b, 'h');
    rg_buf_puts(&b, "\r\nConnection: close\r\n\r\n");
    char out[4096];
    int n = raw_exchange(sock, b.data, b.len, out, sizeof out, 5);
    CHECKF(n <= 0 || strstr(out, " 200 ") == NULL, "huge header answered: %.80s", out);
    rg_buf_free(&b);
    /* Garbage instead of HTTP. */
    n = raw_exchange(sock, "\x01\x02garbage\r\n\r\n", 13, out, sizeof out, 5);
    CHECK(n <= 0 || strstr(out, " 200 ") == NULL);
    /* A client trickling one byte every half second never finishes its headers: MHD's idle
     * timeout (2 s) restarts with each byte, the request timeout (3 s) cuts it off. */
    {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
        CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
        const char *req = "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        double t0 = rg_now();
        int closed = 0;
        for (size_t i = 0; i < strlen(req) && !closed && rg_now() - t0 < 10; i++) {
            if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) { closed = 1; break; }
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 500) > 0) { char c; if (recv(fd, &c, 1, 0) <= 0) closed = 1; }
        }
        double dt = rg_now() - t0;
        CHECKF(closed, "slow client still connected after %.1fs", dt);
        CHECKF(dt > 2.5 && dt < 6, "slow client cut off after %.1fs (request timeout 3s)", dt);
        close(fd);
    }
    /* Still healthy after all that. */
    CHECK(socket_answers(sock));
    /* SIGHUP reloads and keeps serving. */
    kill(d.pid, SIGHUP);
    usleep(300000);
    CHECK(socket_answers(sock));
    j = jreq(sock, "POST", "/v1/search", "{\"query\": \"revenue\"}", &s);
    CHECK_INT(s, 200);
    json_decref(j);
    { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
}

static void test_socket_safety(void) {
    dtest t;
    if (dtest_prepare(&t, "s", "run/ragd.sock") != 0 || dtest_seed(&t, "docs", 2) != 0) return;
    const char *dir = t.dir, *idx = t.idx, *sock = t.sock;
    char log[800];
    const char *q[] = {"--quiet", NULL};
    daemon_t d = dtest_start(&t, q);
    /* A second daemon does not steal a live socket. */
    snprintf(log, sizeof log, "%s/second.log", dir);
    { long long rc_ = run_cmd("'%s' --index '%s' serve --socket '%s' 2>'%s'", ragd_bin, idx, sock, log); CHECK_INT(rc_, 1); }
    char *msg = rg_read_file(log, 4096, NULL);
    CHECK(msg && strstr(msg, "another ragd is serving on"));
    free(msg);
    CHECK(socket_answers(sock));
    /* kill -9 leaves a stale socket: the next daemon replaces it. */
    kill(d.pid, SIGKILL);
    waitpid(d.pid, NULL, 0);
    forget(d.pid);
    CHECK(access(sock, F_OK) == 0);
    d = dtest_start(&t, q);
    CHECK(socket_answers(sock));
    { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
    /* A group/world-writable socket directory is refused. */
    char wdir[700], wsock[800];
    snprintf(wdir, sizeof wdir, "%s/open", dir);
    mkdir(wdir, 0777);
    chmod(wdir, 0777);
    snprintf(wsock, sizeof wsock, "%s/ragd.sock", wdir);
    { long long rc_ = run_cmd("'%s' --index '%s' serve --socket '%s' 2>'%s'", ragd_bin, idx, wsock, log); CHECK_INT(rc_, 1); }
    msg = rg_read_file(log, 4096, NULL);
    CHECK(msg && strstr(msg, "writable by group or others"));
    free(msg);
    /* A peer not on the allow list is refused. */
    const char *deny[] = {"--no-default-allow", "--allow-uid", "12345", "--quiet", NULL};
    d = dtest_start(&t, deny);   /* start_daemon's health probe is refused: it waits, then returns */
    long s;
    json_t *j = jreq(sock, "GET", "/v1/health", NULL, &s);
    CHECK_INT(s, 403);
    CHECK_STR(err_code(j), "forbidden");
    json_decref(j);
    { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
    /* Another uid through a group socket: nobody/nogroup with 0660, refused then allowed. */
    if (getuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0 && access("/usr/bin/curl", X_OK) == 0) {
        char gsock[800];
        snprintf(gsock, sizeof gsock, "%s/grp/ragd.sock", dir);
        char gdir[800];
        snprintf(gdir, sizeof gdir, "%s/grp", dir);
        mkdir(gdir, 0750);
        chown(gdir, 0, 65534);
        chmod(tmp, 0711);
        chmod(dir, 0711);
        const char *grp[] = {"--socket-group", "nogroup", "--quiet", NULL};
        d = start_daemon(dir, idx, gsock, grp);
        CHECK(d.pid > 0);
        struct stat st;
        CHECK(stat(gsock, &st) == 0 && (st.st_mode & 0777) == 0660 && st.st_gid == 65534);
        char cmd[2000];
        snprintf(cmd, sizeof cmd, "setpriv --reuid=65534 --regid=65534 --clear-groups curl -s -o /dev/null -w '%%{http_code}' "
                 "--unix-socket '%s' http://x/v1/health > '%s/code.txt' 2>/dev/null", gsock, dir);
        run_cmd("%s", cmd);
        char cf[800];
        snprintf(cf, sizeof cf, "%s/code.txt", dir);
        char *code = rg_read_file(cf, 64, NULL);
        CHECKF(code && strcmp(code, "403") == 0, "nobody got %s", code ? code : "(nothing)");
        free(code);
        { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
        const char *grp2[] = {"--socket-group", "nogroup", "--allow-uid", "65534", "--quiet", NULL};
        d = start_daemon(dir, idx, gsock, grp2);
        run_cmd("%s", cmd);
        code = rg_read_file(cf, 64, NULL);
        CHECKF(code && strcmp(code, "200") == 0, "allowed nobody got %s", code ? code : "(nothing)");
        free(code);
        { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
        chmod(dir, 0700);
        chmod(tmp, 0700);
    } else {
        printf("# other-uid check skipped (needs root and setpriv)\n");
    }
}

/* systemd: the socket passed as fd 3 with LISTEN_FDS/LISTEN_PID, READY=1 on NOTIFY_SOCKET. */
static void test_systemd(void) {
    dtest t;
    if (dtest_prepare(&t, "sd", "activated.sock") != 0 || dtest_seed(&t, "docs", 2) != 0) return;
    const char *dir = t.dir, *idx = t.idx, *sock = t.sock;
    char nsock[108];
    CHECK((size_t)snprintf(nsock, sizeof nsock, "%s/notify.sock", dir) < sizeof nsock);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 16) == 0);
    int nfd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un na = {.sun_family = AF_UNIX};
    snprintf(na.sun_path, sizeof na.sun_path, "%s", nsock);
    CHECK(bind(nfd, (struct sockaddr *)&na, sizeof na) == 0);
    char logp[800];
    snprintf(logp, sizeof logp, "%s/serve.log", dir);
    pid_t p = fork();
    if (p == 0) {
        dup2(lfd, 3);
        char pid[32];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("LISTEN_PID", pid, 1);
        setenv("LISTEN_FDS", "1", 1);
        setenv("NOTIFY_SOCKET", nsock, 1);
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) { dup2(fd, 2); close(fd); }
        execl(ragd_bin, ragd_bin, "--index", idx, "serve", "--socket", "/nonexistent/unused.sock", "--quiet", (char *)NULL);
        _exit(127);
    }
    remember(p);
    close(lfd);
    char buf[256] = "";
    struct pollfd pf = {nfd, POLLIN, 0};
    int got = poll(&pf, 1, 15000) > 0 ? (int)recv(nfd, buf, sizeof buf - 1, 0) : -1;
    if (got > 0) buf[got] = 0;
    CHECKF(got > 0 && strstr(buf, "READY=1"), "notify: %s", got > 0 ? buf : "nothing");
    CHECK(socket_answers(sock));
    daemon_t d = {.pid = p};
    { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
    buf[0] = 0;
    got = poll(&pf, 1, 1000) > 0 ? (int)recv(nfd, buf, sizeof buf - 1, 0) : -1;
    CHECK(got > 0 && strstr(buf, "STOPPING=1"));
    close(nfd);
}

/* The search reply is written as text (daemon_handlers.c): quotes, backslashes, control
 * characters and non-ASCII text come back exactly, and the scores read back as reals. */
static void test_search_json(void) {
    dtest t;
    if (dtest_prepare(&t, "j", "ragd.sock") != 0) return;
    const char *sock = t.sock, *docs = t.docs;
    char f[800];
    rg_mkdir_p(docs, 0700);
    snprintf(f, sizeof f, "%s/odd \"name\".txt", docs);
    const char *text = "Zebrafish \"quoted\" back\\slash caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x9f end";
    test_write_file(f, text);
    const char *args[] = {"--allow-root", docs, "--quiet", NULL};
    daemon_t d = dtest_start(&t, args);
    if (d.pid <= 0) return;
    long s;
    json_int_t id = submit_index(sock, docs, &s);
    json_t *j = wait_job(sock, id, 30);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "done");
    json_decref(j);
    resp r;
    CHECK(http(NULL, sock, "POST", "/v1/search", "{\"query\": \"zebrafish \\\"quoted\\\"\", \"mode\": \"bm25\"}", &r) == 0);
    CHECK_INT(r.status, 200);
    json_error_t e;
    j = json_loadb(r.body, r.len, JSON_REJECT_DUPLICATES, &e);
    CHECKF(j != NULL, "reply is not JSON: %s", e.text);
    CHECK_STR(json_string_value(json_object_get(j, "query")), "zebrafish \"quoted\"");
    json_t *h = json_array_get(json_object_get(j, "results"), 0);
    const char *got = json_string_value(json_object_get(h, "text"));
    CHECKF(got && strstr(got, text), "text: %s", got ? got : "(none)");
    CHECK_STR(json_string_value(json_object_get(h, "doc_id")), "odd \"name\".txt");
    CHECK(json_is_real(json_object_get(h, "score")) && json_real_value(json_object_get(h, "score")) > 0);
    CHECK(json_is_real(json_object_get(json_object_get(j, "timings"), "total_ms")));
    json_decref(j);
    resp_free(&r);
    CHECK_INT(stop_daemon(&d), 0);
}

int main(int argc, char **argv) {
    (void)argc;
    if (harness_init(argv[0])) { printf("skip t_daemon: no ragd binary at %s (set RAGD)\n", ragd_bin); return 0; }
    RUN(test_endpoints);
    RUN(test_bad_requests);
    RUN(test_socket_safety);
    RUN(test_systemd);
    RUN(test_search_json);
    harness_done();
    TESTS_DONE();
}
