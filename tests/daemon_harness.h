/* daemon_harness: helpers shared by t_daemon, t_daemon_load and t_daemon_stream: start/stop `ragd serve`
 * processes (killed on any exit), HTTP over the Unix socket with libcurl, raw socket
 * exchanges, generated documents, index jobs, and a test's folder (dtest_prepare: its paths;
 * dtest_seed: an index made without the daemon; dtest_start: the daemon on them). Included by
 * exactly one test per binary. */
#ifndef RAGD_TEST_DAEMON_HARNESS_H
#define RAGD_TEST_DAEMON_HARNESS_H
#include "check.h"
#include "core/util.h"
#include "serve/client.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static char ragd_bin[4096];
static char *tmp;
static pid_t live_pids[16];

static inline void remember(pid_t p) {
    for (int i = 0; i < 16; i++) if (!live_pids[i]) { live_pids[i] = p; return; }
}
static inline void forget(pid_t p) {
    for (int i = 0; i < 16; i++) if (live_pids[i] == p) live_pids[i] = 0;
}
static inline void kill_all(void) {
    for (int i = 0; i < 16; i++)
        if (live_pids[i] > 0) { kill(live_pids[i], SIGKILL); waitpid(live_pids[i], NULL, 0); live_pids[i] = 0; }
}
static inline void on_fatal(int sig) { kill_all(); signal(sig, SIG_DFL); raise(sig); }

/* ---- HTTP helpers ---- */

typedef struct { long status; char *body; size_t len; char *ctype; } resp;
static inline size_t on_body(char *p, size_t s, size_t n, void *ctx) {
    rg_buf *b = ctx;
    rg_buf_put(b, p, s * n);
    return s * n;
}
static inline void resp_free(resp *r) { free(r->body); free(r->ctype); memset(r, 0, sizeof *r); }

/* One request; curl may be a kept-alive handle (or NULL for a fresh one). 0 on transport success. */
static inline int http(CURL *curl, const char *sock, const char *method, const char *path, const char *body, resp *out) {
    memset(out, 0, sizeof *out);
    CURL *c = curl ? curl : curl_easy_init();
    char url[2048];
    snprintf(url, sizeof url, "http://localhost%s", path);
    rg_buf b = {0};
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        out->ctype = ct ? strdup(ct) : NULL;
    }
    out->len = b.len;
    out->body = rg_buf_take(&b);
    if (!curl) curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

/* Request and parse: the JSON reply (or NULL), *status set. */
static inline json_t *jreq(const char *sock, const char *method, const char *path, const char *body, long *status) {
    resp r;
    *status = 0;
    if (http(NULL, sock, method, path, body, &r) != 0) { resp_free(&r); return NULL; }
    *status = r.status;
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    resp_free(&r);
    return j;
}

static inline const char *err_code(json_t *j) {
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

/* Sends raw bytes on a fresh connection and reads until close or timeout. Returns bytes read. */
static inline int raw_exchange(const char *sock, const char *data, size_t len, char *out, size_t cap, double timeout) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    size_t n = 0;
    double end = rg_now() + timeout;
    while (n + 1 < cap && rg_now() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
    }
    out[n] = 0;
    close(fd);
    return (int)n;
}

/* ---- daemon processes ---- */

typedef struct { pid_t pid; char sock[1024]; char log[1024]; } daemon_t;

static inline int socket_answers(const char *sock) {
    long st;
    json_t *j = jreq(sock, "GET", "/v1/health", NULL, &st);
    int ok = j && st == 200;
    json_decref(j);
    return ok;
}

/* Any HTTP answer (a refused peer gets 403): the daemon is up. */
static inline int socket_up(const char *sock) {
    resp r;
    int up = http(NULL, sock, "GET", "/v1/health", NULL, &r) == 0 && r.status > 0;
    resp_free(&r);
    return up;
}

/* Starts `ragd --index IDX GLOBAL... serve --socket SOCK ARGS...` with its stderr in
 * dir/serve.log (global: options before the command, e.g. --config; may be NULL). Waits (up
 * to 15 s) until it answers, or returns with pid -1 when it exited. */
static inline daemon_t start_daemon_g(const char *dir, const char *idx, const char *sock, const char *const *global,
                                      const char *const *args) {
    daemon_t d = {0};
    snprintf(d.sock, sizeof d.sock, "%s", sock);
    snprintf(d.log, sizeof d.log, "%s/serve.log", dir);
    const char *argv[48];
    int n = 0;
    argv[n++] = ragd_bin; argv[n++] = "--index"; argv[n++] = idx;
    for (int i = 0; global && global[i] && n < 8; i++) argv[n++] = global[i];
    argv[n++] = "serve";
    argv[n++] = "--socket"; argv[n++] = sock;
    for (int i = 0; args && args[i] && n < 46; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t p = fork();
    if (p == 0) {
        int fd = open(d.log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) { dup2(fd, 2); close(fd); }
        execv(ragd_bin, (char **)argv);
        _exit(127);
    }
    d.pid = p;
    remember(p);
    for (int i = 0; i < 300; i++) {
        int st;
        if (waitpid(p, &st, WNOHANG) == p) { forget(p); d.pid = -1; return d; }
        if (socket_up(sock)) return d;
        usleep(50000);
    }
    return d;
}

static inline daemon_t start_daemon(const char *dir, const char *idx, const char *sock, const char *const *args) {
    return start_daemon_g(dir, idx, sock, NULL, args);
}

/* Waits for the daemon to exit (up to timeout seconds); its exit status, or -1. */
static inline int wait_exit(daemon_t *d, double timeout) {
    double end = rg_now() + timeout;
    while (rg_now() < end) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            forget(d->pid);
            d->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(20000);
    }
    return -1;
}

static inline int stop_daemon(daemon_t *d) {
    /* (on a failure the log tells why: see daemon_t.log) */
    if (d->pid <= 0) return -1;
    kill(d->pid, SIGTERM);
    /* a release daemon exits within tens of ms; 60 s leaves room for a TSan build on two busy
     * cores (one such run took over 20), and a hung daemon still fails the test */
    int rc = wait_exit(d, 60);
    if (rc < 0) { kill(d->pid, SIGKILL); waitpid(d->pid, NULL, 0); forget(d->pid); d->pid = 0; }
    return rc;
}

static inline int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int run_cmd(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* n small text documents in dir/name/sub/docNNNN.txt (ids contain '/'). */
static inline void make_docs(const char *dir, const char *name, int n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s-sub", dir, name, name);
    rg_mkdir_p(path, 0755);
    static const char *topics[] = {"revenue", "margin", "inventory", "dividend", "pension", "goodwill", "leases", "taxes"};
    for (int i = 0; i < n; i++) {
        char f[1100], text[600];
        snprintf(f, sizeof f, "%s/doc%04d.txt", path, i);
        snprintf(text, sizeof text, "Report %d on %s.\n\nThe %s for segment %d grew by %d percent in %d, "
                 "while %s costs stayed flat at %d.%d million.\n", i, topics[i % 8], topics[i % 8], i, i % 37,
                 2000 + i % 20, topics[(i + 3) % 8], i % 97, i % 10);
        test_write_file(f, text);
    }
}

/* Polls a job until it leaves queued/running; the job object. A 503 (the queue was full, or
 * the poll waited past the deadline behind a busy worker) is asked again, as its Retry-After says. */
static inline json_t *wait_job(const char *sock, json_int_t id, double timeout) {
    char path[64];
    snprintf(path, sizeof path, "/v1/jobs/%lld", (long long)id);
    double end = rg_now() + timeout;
    json_t *j = NULL;
    while (rg_now() < end) {
        long st;
        json_decref(j);
        j = jreq(sock, "GET", path, NULL, &st);
        const char *s = json_string_value(json_object_get(j, "state"));
        if (st != 503 && (!s || (strcmp(s, "queued") && strcmp(s, "running")))) return j;
        usleep(50000);
    }
    return j;
}

static inline json_int_t submit_index(const char *sock, const char *path, long *status) {
    char body[1200];
    snprintf(body, sizeof body, "{\"paths\": [\"%s\"]}", path);
    json_t *j = jreq(sock, "POST", "/v1/index", body, status);
    json_int_t id = json_integer_value(json_object_get(j, "job"));
    json_decref(j);
    return id;
}

/* ---- one test's folder ---- */

/* tmp/NAME and the paths a daemon test uses in it: NAME/idx, NAME/docs, the socket. */
typedef struct { char dir[256], idx[300], docs[300], sock[108]; } dtest;

/* Makes tmp/NAME (0700) and fills t; the socket is NAME/sock_name ("ragd.sock",
 * "run/ragd.sock", ...). A path too long is CHECKed; 0, or -1. */
static inline int dtest_prepare(dtest *t, const char *name, const char *sock_name) {
    memset(t, 0, sizeof *t);
    int n = snprintf(t->dir, sizeof t->dir, "%s/%s", tmp, name);
    int ok = n > 0 && (size_t)n < sizeof t->dir;
    ok = ok && (size_t)snprintf(t->idx, sizeof t->idx, "%s/idx", t->dir) < sizeof t->idx;
    ok = ok && (size_t)snprintf(t->docs, sizeof t->docs, "%s/docs", t->dir) < sizeof t->docs;
    ok = ok && (size_t)snprintf(t->sock, sizeof t->sock, "%s/%s", t->dir, sock_name) < sizeof t->sock;
    CHECKF(ok, "test paths under %s/%s too long", tmp, name);
    if (!ok) return -1;
    rg_mkdir_p(t->dir, 0700);
    return 0;
}

/* n generated documents in NAME/folder (make_docs), indexed into t->idx without a daemon.
 * A failure is CHECKed; 0, or -1. */
static inline int dtest_seed(const dtest *t, const char *folder, int n) {
    make_docs(t->dir, folder, n);
    int rc = run_cmd("RAGD_NO_DAEMON=1 '%s' --index '%s' index --quiet '%s/%s' 2>/dev/null", ragd_bin, t->idx, t->dir, folder);
    CHECKF(rc == 0, "seeding %s/%s: ragd index exited %d", t->dir, folder, rc);
    return rc == 0 ? 0 : -1;
}

/* start_daemon on t's paths; CHECKs that it started (naming its log when not). */
static inline daemon_t dtest_start(const dtest *t, const char *const *args) {
    daemon_t d = start_daemon(t->dir, t->idx, t->sock, args);
    CHECKF(d.pid > 0, "daemon did not start (see %.200s)", d.log);
    return d;
}


/* Finds the ragd binary, installs the kill-on-exit handlers, makes a temp dir. 0, or 1 when
 * the binary is missing (the caller prints a skip line). */
static inline int harness_init(const char *argv0) {
    const char *env = getenv("RAGD");
    if (env && *env) snprintf(ragd_bin, sizeof ragd_bin, "%s", env);
    else {
        snprintf(ragd_bin, sizeof ragd_bin, "%s", argv0);
        char *slash = strrchr(ragd_bin, '/');
        if (slash) snprintf(slash, sizeof ragd_bin - (size_t)(slash - ragd_bin), "/../ragd");
    }
    if (access(ragd_bin, X_OK) != 0) return 1;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_fatal);
    signal(SIGTERM, on_fatal);
    signal(SIGSEGV, on_fatal);
    signal(SIGABRT, on_fatal);
    atexit(kill_all);
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("RAGD_SOCKET");
    unsetenv("NOTIFY_SOCKET");
    setenv("RAGD_ENCODER", "hash", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tmp = test_tmpdir();
    return tmp ? 0 : 1;
}

static inline void harness_done(void) {
    kill_all();
    test_rm_rf(tmp);
    free(tmp);
    curl_global_cleanup();
}
#endif
