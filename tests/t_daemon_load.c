/* t_daemon_load: the daemon under load and crashes: 16 clients (500 requests each, 100
 * under sanitizers, $RAGD_DAEMON_LOAD to change) while a 1,000-document index job runs:
 * no failed request, every answer consistent; kill -9 during an index job: the index
 * checks clean and the job runs again; SIGTERM during a job: clean exit. */
#include "daemon_harness.h"

/* ---- load: 16 clients while a 1,000-document job runs ---- */

typedef struct {
    const char *sock;
    int n, id;
    atomic_int *failures;
    char why[256];
} load_arg;

static void *load_client(void *arg) {
    load_arg *a = arg;
    CURL *c = curl_easy_init();
    static const char *queries[] = {"revenue segment", "pension costs", "dividend", "inventory grew", "goodwill", "taxes flat"};
    json_int_t last_docs = -1;
    for (int i = 0; i < a->n; i++) {
        resp r;
        int kind = (i + a->id) % 8;
        char body[256];
        int bad = 0;
        if (kind < 6) {
            snprintf(body, sizeof body, "{\"query\": \"%s\", \"k\": 5%s}", queries[(i + a->id) % 6],
                     kind == 5 ? ", \"mode\": \"hybrid\"" : ", \"mode\": \"bm25\"");
            if (http(c, a->sock, "POST", "/v1/search", body, &r) != 0 || r.status != 200) bad = 1;
            else {
                json_t *j = json_loadb(r.body, r.len, 0, NULL);
                json_t *res = json_object_get(j, "results");
                if (!json_is_array(res) || json_array_size(res) > 5) bad = 2;
                double prev = 1e300;
                size_t k;
                json_t *h;
                json_array_foreach(res, k, h) {
                    double sc = json_real_value(json_object_get(h, "score"));
                    const char *doc = json_string_value(json_object_get(h, "doc_id"));
                    const char *text = json_string_value(json_object_get(h, "text"));
                    if (sc > prev + 1e-12 || !doc || !text || !*text) bad = 3;
                    prev = sc;
                }
                json_decref(j);
            }
        } else if (kind == 6) {
            if (http(c, a->sock, "GET", "/v1/status", NULL, &r) != 0 || r.status != 200) bad = 1;
            else {
                json_t *j = json_loadb(r.body, r.len, 0, NULL);
                json_int_t docs = json_integer_value(json_object_get(j, "documents"));
                /* The job only adds documents: what a client sees never goes backwards. */
                if (!j || docs < last_docs) bad = 4;
                last_docs = docs;
                json_decref(j);
            }
        } else {
            if (http(c, a->sock, "POST", "/v1/ask", "{\"question\": \"How much did dividend grow?\"}", &r) != 0 || r.status != 200) bad = 1;
            else {
                json_t *j = json_loadb(r.body, r.len, 0, NULL);
                if (!json_object_get(j, "type")) bad = 5;
                json_decref(j);
            }
        }
        if (bad) {
            if (atomic_fetch_add(a->failures, 1) == 0)
                snprintf(a->why, sizeof a->why, "client %d request %d: kind %d failure %d status %ld: %.100s", a->id, i, kind,
                         bad, r.status, r.body ? r.body : "");
        }
        resp_free(&r);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void test_load_during_index(void) {
    dtest t;
    if (dtest_prepare(&t, "l", "ragd.sock") != 0) return;
    const char *idx = t.idx, *sock = t.sock;
    make_docs(t.dir, "docs", 1000);
    if (dtest_seed(&t, "seed", 50) != 0) return;
    const char *args[] = {"--allow-root", t.dir, "--quiet", "--max-queue", "256", NULL};
    daemon_t d = dtest_start(&t, args);
    if (d.pid <= 0) return;
    long s;
    json_int_t job = submit_index(sock, t.docs, &s);
    CHECK_INT(s, 202);
    int per = SANITIZED ? 100 : 500;
    const char *env = getenv("RAGD_DAEMON_LOAD");
    if (env && atoi(env) > 0) per = atoi(env);
    atomic_int failures = 0;
    load_arg args16[16];
    pthread_t th[16];
    double t0 = rg_now();
    for (int i = 0; i < 16; i++) {
        args16[i] = (load_arg){sock, per, i, &failures, ""};
        pthread_create(&th[i], NULL, load_client, &args16[i]);
    }
    /* The job must overlap the load: sample its state while the clients run. */
    int saw_running = 0;
    char jp[64];
    snprintf(jp, sizeof jp, "/v1/jobs/%lld", (long long)job);
    for (int i = 0; i < 20; i++) {
        json_t *j = jreq(sock, "GET", jp, NULL, &s);
        const char *st = json_string_value(json_object_get(j, "state"));
        if (st && strcmp(st, "running") == 0) saw_running = 1;
        json_decref(j);
        if (saw_running) break;
        usleep(20000);
    }
    for (int i = 0; i < 16; i++) pthread_join(th[i], NULL);
    double dt = rg_now() - t0;
    int nf = atomic_load(&failures);
    const char *why = "";
    for (int i = 0; i < 16; i++) if (args16[i].why[0]) why = args16[i].why;
    CHECKF(nf == 0, "%d failed requests; first: %s", nf, why);
    CHECK(saw_running);
    printf("# load: 16 clients x %d requests in %.1fs (%.0f req/s) during a 1,000-document index job\n", per, dt, 16 * per / dt);
    json_t *j = wait_job(sock, job, 120);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "done");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "result"), "indexed")), 1000);
    json_decref(j);
    j = jreq(sock, "GET", "/v1/status", NULL, &s);
    CHECK_INT(json_integer_value(json_object_get(j, "documents")), 1050);
    json_decref(j);
    { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
    { long long rc_ = run_cmd("RAGD_NO_DAEMON=1 '%s' --index '%s' status --check >/dev/null 2>&1", ragd_bin, idx); CHECK_INT(rc_, 0); }
}

/* kill -9 during an index job: the index stays sound and the job can be run again. */
static void test_kill9_during_job(void) {
    dtest t;
    if (dtest_prepare(&t, "k", "ragd.sock") != 0) return;
    const char *dir = t.dir, *idx = t.idx, *sock = t.sock, *docs = t.docs;
    /* The writer commits in batches (RG_BATCH_DOCS sources, index/store.h): the kill comes
     * once the first batch is in, so the re-run finds those unchanged. */
#ifdef RG_BATCH_DOCS
    const int ndocs = 3 * RG_BATCH_DOCS + 132, kill_at = RG_BATCH_DOCS + 44;
#else
    const int ndocs = 600, kill_at = 100;
#endif
    make_docs(dir, "docs", ndocs);
    const char *args[] = {"--allow-root", dir, "--quiet", NULL};
    daemon_t d = dtest_start(&t, args);
    if (d.pid <= 0) return;
    long s;
    json_int_t job = submit_index(sock, docs, &s);
    CHECK_INT(s, 202);
    char jp[64];
    snprintf(jp, sizeof jp, "/v1/jobs/%lld", (long long)job);
    json_int_t done = 0;
    for (int i = 0; i < 3000 && done < kill_at; i++) {
        json_t *j = jreq(sock, "GET", jp, NULL, &s);
        done = json_integer_value(json_object_get(j, "done"));
        json_decref(j);
        usleep(10000);
    }
    CHECKF(done >= kill_at && done < ndocs, "job progress %lld when killed", (long long)done);
    kill(d.pid, SIGKILL);
    waitpid(d.pid, NULL, 0);
    forget(d.pid);
    { long long rc_ = run_cmd("RAGD_NO_DAEMON=1 '%s' --index '%s' status --check >/dev/null 2>&1", ragd_bin, idx); CHECK_INT(rc_, 0); }
    d = dtest_start(&t, args);
    if (d.pid <= 0) return;
    job = submit_index(sock, docs, &s);
    json_t *j = wait_job(sock, job, 120);
    json_t *res = json_object_get(j, "result");
    CHECK_STR(json_string_value(json_object_get(j, "state")), "done");
    CHECK_INT(json_integer_value(json_object_get(res, "indexed")) + json_integer_value(json_object_get(res, "unchanged")), ndocs);
    CHECK(json_integer_value(json_object_get(res, "unchanged")) > 0);
    json_decref(j);
    /* SIGTERM during a job: exits 0 in time, cancels the job, removes the socket. */
    char more[700];
    snprintf(more, sizeof more, "%s/more", dir);
    make_docs(dir, "more", 300);
    job = submit_index(sock, more, &s);
    usleep(300000);
    { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
    CHECK(access(sock, F_OK) != 0);
    { long long rc_ = run_cmd("RAGD_NO_DAEMON=1 '%s' --index '%s' status --check >/dev/null 2>&1", ragd_bin, idx); CHECK_INT(rc_, 0); }
}

/* A full request queue answers 503 with Retry-After at once. One worker, a queue of one:
 * the worker is held by a DELETE that waits (up to the 2 s deadline) behind a running index
 * job for the writer, one search waits in the queue, the next is refused. */
typedef struct { const char *sock, *method, *path, *body; long status; } async_req;
static void *async_main(void *p) {
    async_req *a = p;
    json_t *j = jreq(a->sock, a->method, a->path, a->body, &a->status);
    json_decref(j);
    return NULL;
}

static void test_queue_full(void) {
    dtest t;
    if (dtest_prepare(&t, "q", "ragd.sock") != 0) return;
    const char *sock = t.sock;
    make_docs(t.dir, "docs", 8000);   /* enough that the job (batched: ~3,000 docs/s) still holds the writer 2 s later */
    if (dtest_seed(&t, "seed", 5) != 0) return;
    const char *args[] = {"--allow-root", t.dir, "--workers", "1", "--max-queue", "1", "--deadline", "2", "--quiet", NULL};
    daemon_t d = dtest_start(&t, args);
    if (d.pid <= 0) return;
    long s;
    json_int_t job = submit_index(sock, t.docs, &s);
    CHECK_INT(s, 202);
    usleep(100000);
    async_req del = {sock, "DELETE", "/v1/documents/seed-sub%2Fdoc0001.txt", NULL, 0};
    async_req a = {sock, "POST", "/v1/search", "{\"query\": \"revenue\"}", 0};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, async_main, &del);
    usleep(300000);
    pthread_create(&t2, NULL, async_main, &a);
    usleep(300000);
    const char *req = "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{\"query\": \"taxes\"}";
    char out[4096];
    double t0 = rg_now();
    int n = raw_exchange(sock, req, strlen(req), out, sizeof out, 5);
    double dt = rg_now() - t0;
    CHECKF(n > 0 && strstr(out, "HTTP/1.1 503") && strstr(out, "Retry-After: 1") && strstr(out, "\"busy\""),
           "third request got: %.200s", n > 0 ? out : "(nothing)");
    CHECKF(dt < 1.0, "the refusal took %.2fs", dt);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECKF(del.status == 202 || del.status == 200, "DELETE behind the job: %ld", del.status);
    CHECKF(a.status == 200 || a.status == 503, "queued search: %ld", a.status);
    json_t *j = wait_job(sock, job, 120);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "done");
    json_decref(j);
    { long long rc_ = stop_daemon(&d); CHECK_INT(rc_, 0); }
}

int main(int argc, char **argv) {
    (void)argc;
    if (harness_init(argv[0])) { printf("skip t_daemon_load: no ragd binary at %s (set RAGD)\n", ragd_bin); return 0; }
    RUN(test_load_during_index);
    RUN(test_kill9_during_job);
    RUN(test_queue_full);
    harness_done();
    TESTS_DONE();
}
