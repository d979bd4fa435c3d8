/* bench/serve: the daemon's search throughput and latency.
 * Builds an index of N chunks (default 100,000; 10 chunks per document, hash encoder) in a
 * temporary directory with the store API, runs the daemon in this process on a Unix socket,
 * and measures BM25 searches per second with p50/p99 latency at 1, 8 and 32 concurrent
 * clients (each on its own kept-alive connection, raw HTTP), first alone, then while an index
 * job adds documents. "daemon CPU" is the CPU time of the daemon's threads (HTTP, workers,
 * vector loader; not the index job's writer) per search: what a search costs whatever else
 * runs on the machine. Usage: serve [--chunks N] [--seconds S] [--mode bm25|hybrid] [--keep DIR] */
#include "serve/daemon.h"
#include "index/store.h"
#include "embed/encoder.h"
#include "core/util.h"
#include "retrieve/search.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

/* A Zipf-distributed vocabulary of pronounceable pseudo-words, so that posting lists have
 * realistic lengths (a handful of words in most chunks, most words in few). */
#define NWORDS 50000
static char *words[NWORDS];
static double zipf_cdf[NWORDS];

static void make_vocab(void) {
    static const char *syl[] = {"ba", "ko", "ri", "mu", "te", "la", "ni", "so", "pe", "du", "ga", "vi", "zo", "fe",
                                "hu", "ja", "ly", "qo", "wi", "xe"};
    double sum = 0;
    for (int i = 0; i < NWORDS; i++) {
        char w[32] = "";
        int x = i;
        do { strcat(w, syl[x % 20]); x /= 20; } while (x);
        strcat(w, syl[(i * 7) % 20]);
        words[i] = xstrdup(w);
        sum += 1.0 / (i + 1);
        zipf_cdf[i] = sum;
    }
    for (int i = 0; i < NWORDS; i++) zipf_cdf[i] /= sum;
}

static unsigned rnd(unsigned *s) { *s = *s * 1103515245u + 12345u; return (*s >> 8) & 0xffffff; }

static int zipf(unsigned *s) {
    double u = (rnd(s) + 0.5) / 16777216.0;
    int lo = 0, hi = NWORDS - 1;
    while (lo < hi) { int mid = (lo + hi) / 2; if (zipf_cdf[mid] < u) lo = mid + 1; else hi = mid; }
    return lo;
}

/* A query word: Zipf-distributed but past the 100 most frequent (the "stopwords"). */
static const char *query_word(unsigned *s) {
    int w;
    do w = zipf(s); while (w < 100);
    return words[w];
}

static char *make_text(unsigned *seed, int nwords) {
    rg_buf b = {0};
    for (int i = 0; i < nwords; i++) {
        if (i) rg_buf_putc(&b, ' ');
        if (rnd(seed) % 10 == 0) rg_buf_printf(&b, "%u.%u", rnd(seed) % 1000, rnd(seed) % 10);
        else rg_buf_puts(&b, words[zipf(seed)]);
    }
    return rg_buf_take(&b);
}

static int build_index(const char *dir, long nchunks) {
    rg_encoder *e = rg_encoder_open("hash", dir);
    rg_store_opts o = {.encoder = e->name, .dim = e->dim, .writable = 1, .create = 1};
    rg_store *s = rg_store_open(dir, &o);
    if (!s) { fprintf(stderr, "bench: %s\n", rg_errmsg()); rg_encoder_free(e); return -1; }
    unsigned seed = 7;
    const int per = 10;
    float *vecs = xmalloc((size_t)per * (size_t)e->dim * sizeof *vecs);
    double t0 = rg_now();
    for (long d = 0; d * per < nchunks; d++) {
        char id[64];
        snprintf(id, sizeof id, "bench/doc%06ld.txt", d);
        rg_doc *doc = rg_doc_new(id, id, "text");
        rg_chunk ch[10];
        const char *texts[10];
        for (int c = 0; c < per; c++) {
            ch[c] = (rg_chunk){.kind = RG_CHUNK_TEXT, .text = make_text(&seed, 40), .section = xstrdup("Bench"),
                               .parent = -1, .table_index = -1, .ntokens = 40, .offset = -1};
            texts[c] = ch[c].text;
        }
        if (rg_encoder_embed(e, texts, per, 0, vecs) != 0 ||
            rg_store_put_doc(s, doc, &(rg_source_stamp){"0", 100, 0, NULL, NULL}, ch, per, vecs) != 0) {
            fprintf(stderr, "bench: %s\n", rg_errmsg());
            return -1;
        }
        for (int c = 0; c < per; c++) { free(ch[c].text); free(ch[c].section); }
        rg_doc_free(doc);
        if (d % 1000 == 999) fprintf(stderr, "\rbuilding: %ld chunks", (d + 1) * per);
    }
    int rc = rg_store_flush(s);
    rg_store_close(s);
    rg_encoder_free(e);
    free(vecs);
    fprintf(stderr, "\rbuilt %ld chunks in %.1fs\n", nchunks, rg_now() - t0);
    return rc;
}

/* ---- a minimal HTTP/1.1 client on one kept-alive connection ---- */

static int dial(const char *sock) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    return fd;
}

/* Sends one POST and reads the whole response; returns the status or -1. */
static int post(int fd, const char *path, const char *body, char *buf, size_t cap) {
    char req[1024];
    int n = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", path, strlen(body), body);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) return -1;
    size_t got = 0;
    char *hend = NULL;
    while (!hend) {
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0) return -1;
        got += (size_t)r;
        buf[got] = 0;
        hend = strstr(buf, "\r\n\r\n");
        if (got + 1 >= cap) return -1;
    }
    int status = atoi(buf + 9);
    char *cl = strcasestr(buf, "Content-Length:");
    if (!cl || cl > hend) return -1;
    size_t want = (size_t)strtoul(cl + 15, NULL, 10), have = got - (size_t)(hend + 4 - buf);
    while (have < want) {
        char tmp[65536];
        size_t k = want - have < sizeof tmp ? want - have : sizeof tmp;
        ssize_t r = recv(fd, tmp, k, 0);
        if (r <= 0) return -1;
        have += (size_t)r;
    }
    return status;
}

typedef struct {
    const char *sock, *mode;
    double until;
    double *lat; long nlat, cap;
    long errors;
    unsigned seed;
} client_arg;

static void *client(void *p) {
    client_arg *a = p;
    int fd = dial(a->sock);
    char *buf = xmalloc(1 << 20);
    while (fd >= 0 && rg_now() < a->until) {
        char body[256];
        const char *w1 = query_word(&a->seed), *w2 = query_word(&a->seed);
        snprintf(body, sizeof body, "{\"query\": \"%s %s\", \"k\": 10, \"mode\": \"%s\"}", w1, w2, a->mode);
        if (getenv("BENCH_BODY")) snprintf(body, sizeof body, "%s", getenv("BENCH_BODY"));
        double t0 = rg_now();
        int st = post(fd, getenv("BENCH_PATH") ? getenv("BENCH_PATH") : "/v1/search", body, buf, 1 << 20);
        double dt = rg_now() - t0;
        if (st != 200) {
            a->errors++;
            close(fd);
            fd = dial(a->sock);
            continue;
        }
        if (a->nlat == a->cap) { a->cap = a->cap ? a->cap * 2 : 4096; a->lat = xrealloc(a->lat, (size_t)a->cap * sizeof *a->lat); }
        a->lat[a->nlat++] = dt;
    }
    if (fd >= 0) close(fd);
    free(buf);
    return NULL;
}

/* CPU seconds used so far by this process's threads whose name starts with prefix (the
 * daemon names its threads "rg-..."); skip: a name not to count (the index job's writer). */
static double threads_cpu(const char *prefix, const char *skip) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return 0;
    double sum = 0;
    long hz = sysconf(_SC_CLK_TCK);
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
        if (!lp || !rp) continue;
        *rp = 0;
        const char *comm = lp + 1;
        if (strncmp(comm, prefix, strlen(prefix)) != 0 || (skip && strcmp(comm, skip) == 0)) continue;
        /* after ") ": state, then fields 4.. ; utime and stime are fields 14 and 15 */
        unsigned long ut = 0, st = 0;
        char *p = rp + 2;
        for (int field = 3; field < 14 && p; field++) { p = strchr(p, ' '); if (p) p++; }
        if (p && sscanf(p, "%lu %lu", &ut, &st) == 2) sum += (double)(ut + st) / (double)hz;
    }
    closedir(dir);
    return sum;
}

static int cmp_d(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void run_level(const char *sock, const char *mode, int nclients, double seconds, const char *label) {
    client_arg *args = xcalloc((size_t)nclients, sizeof *args);
    pthread_t *th = xcalloc((size_t)nclients, sizeof *th);
    double until = rg_now() + seconds, t0 = rg_now();
    double cpu0 = threads_cpu("rg-", "rg-job");
    for (int i = 0; i < nclients; i++) {
        args[i] = (client_arg){sock, mode, until, NULL, 0, 0, 0, (unsigned)i * 7919u + 1};
        pthread_create(&th[i], NULL, client, &args[i]);
    }
    long n = 0, errs = 0;
    for (int i = 0; i < nclients; i++) { pthread_join(th[i], NULL); n += args[i].nlat; errs += args[i].errors; }
    double dt = rg_now() - t0;
    double cpu = threads_cpu("rg-", "rg-job") - cpu0;
    double *all = xmalloc((size_t)(n + 1) * sizeof *all);
    long k = 0;
    for (int i = 0; i < nclients; i++) { memcpy(all + k, args[i].lat, (size_t)args[i].nlat * sizeof *all); k += args[i].nlat; free(args[i].lat); }
    qsort(all, (size_t)n, sizeof *all, cmp_d);
    double p50 = n ? all[n / 2] : 0, p99 = n ? all[(long)(n * 0.99)] : 0;
    printf("%-22s %-6s clients %2d: %7.0f searches/s  p50 %6.2f ms  p99 %6.2f ms  daemon CPU %5.2f ms/search  (%ld requests, %ld errors)\n",
           label, mode, nclients, n / dt, p50 * 1e3, p99 * 1e3, n ? cpu / (double)n * 1e3 : 0, n, errs);
    fflush(stdout);
    free(all);
    free(args);
    free(th);
}

/* The same searches without HTTP, one thread on its own store: what the store costs. */
static void run_direct(const char *idx, const char *mode, double seconds) {
    rg_store_opts o = {.encoder = NULL};
    rg_store *s = rg_store_open(idx, &o);
    rg_encoder *e = rg_encoder_open("hash", idx);
    if (!s || !e) { fprintf(stderr, "bench: %s\n", rg_errmsg()); rg_store_close(s); rg_encoder_free(e); return; }
    rg_search_opts so;
    rg_search_opts_default(&so);
    so.k = 10;
    rg_search_mode_parse(mode, &so.mode);
    unsigned seed = 12345;
    long n = 0, cap = 0;
    double *lat = NULL, until = rg_now() + seconds, t0 = rg_now();
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    while (rg_now() < until) {
        char q[128];
        snprintf(q, sizeof q, "%s %s", query_word(&seed), query_word(&seed));
        double t = rg_now();
        rg_results r;
        if (rg_search(s, e, q, &so, &r) == 0) rg_results_free(&r);
        if (n == cap) { cap = cap ? cap * 2 : 4096; lat = xrealloc(lat, (size_t)cap * sizeof *lat); }
        lat[n++] = rg_now() - t;
    }
    double dt = rg_now() - t0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
    qsort(lat, (size_t)n, sizeof *lat, cmp_d);
    printf("%-22s %-6s clients  1: %7.0f searches/s  p50 %6.2f ms  p99 %6.2f ms  search CPU %5.2f ms/search  (%ld searches)\n",
           "direct (no HTTP)", mode, n / dt, n ? lat[n / 2] * 1e3 : 0, n ? lat[(long)(n * 0.99)] * 1e3 : 0,
           n ? cpu / (double)n * 1e3 : 0, n);
    free(lat);
    rg_store_close(s);
    rg_encoder_free(e);
}

typedef struct { rg_daemon_config cfg; int rc; } daemon_arg;
static void *daemon_main(void *p) {
    daemon_arg *a = p;
    pthread_setname_np(pthread_self(), "rg-daemon");   /* its HTTP thread inherits the name */
    a->rc = rg_daemon_run(&a->cfg);
    return NULL;
}

/* Submits an index job over dir and returns at once. */
static void submit_job(const char *sock, const char *dir) {
    int fd = dial(sock);
    char body[1200], buf[4096];
    snprintf(body, sizeof body, "{\"paths\": [\"%s\"]}", dir);
    int st = post(fd, "/v1/index", body, buf, sizeof buf);
    if (st != 202) fprintf(stderr, "bench: index job not accepted (%d)\n", st);
    close(fd);
}

int main(int argc, char **argv) {
    long nchunks = 100000;
    double seconds = 5;
    const char *mode = "bm25", *keep = NULL;
    int workers = 4;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--chunks") == 0 && i + 1 < argc) nchunks = atol(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) mode = argv[++i];
        else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) workers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) keep = argv[++i];
        else { fprintf(stderr, "usage: serve [--chunks N] [--seconds S] [--mode bm25|hybrid] [--workers N] [--keep DIR]\n"); return 2; }
    }
    make_vocab();
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);   /* as the daemon does (see daemon.c) */
    char tmpl[] = "/tmp/ragd-bench-XXXXXX";
    char *dir = keep ? (char *)keep : mkdtemp(tmpl);
    if (!dir) { perror("mkdtemp"); return 1; }
    rg_mkdir_p(dir, 0700);
    char *idx = xasprintf("%s/idx", dir), *sock = xasprintf("%s/ragd.sock", dir), *docs = xasprintf("%s/docs", dir);
    struct stat st;
    if (stat(idx, &st) != 0 && build_index(idx, nchunks) != 0) return 1;
    /* Documents for the concurrent index job. */
    rg_mkdir_p(docs, 0700);
    unsigned seed = 99u + (unsigned)getpid();   /* new content each run: the job really writes */
    for (int i = 0; i < 3000; i++) {
        char *p = xasprintf("%s/job%04d.txt", docs, i), *t = make_text(&seed, 200);
        FILE *f = fopen(p, "w");
        if (f) { fputs(t, f); fclose(f); }
        free(p); free(t);
    }
    /* The daemon runs in this process; SIGTERM (sent at the end) stops it. */
    signal(SIGPIPE, SIG_IGN);
    daemon_arg da;
    rg_daemon_config_default(&da.cfg);
    da.cfg.index_dir = idx;
    da.cfg.encoder_spec = "hash";
    da.cfg.socket_path = sock;
    da.cfg.allow_roots[da.cfg.nroots++] = dir;
    da.cfg.workers = workers;
    da.cfg.max_queue = 1024;
    da.cfg.quiet = 1;
    pthread_t dt;
    pthread_create(&dt, NULL, daemon_main, &da);
    for (int i = 0; i < 200; i++) { int fd = dial(sock); if (fd >= 0) { close(fd); break; } usleep(50000); }
    printf("index: %ld chunks, hash encoder; %d workers; %ld cores online\n", nchunks, workers, sysconf(_SC_NPROCESSORS_ONLN));
    int levels[] = {1, 8, 32};
    run_direct(idx, mode, seconds);
    run_level(sock, mode, 1, 1, "warm-up");
    for (int i = 0; i < 3; i++) run_level(sock, mode, levels[i], seconds, "idle index");
    for (int i = 0; i < 3; i++) {
        submit_job(sock, docs);
        run_level(sock, mode, levels[i], seconds, "during index job");
    }
    /* Memory now: anonymous (heap: FAISS copies, caches) apart from file pages (the database
     * mapped by each reader: shared with the page cache, counted once per mapping). */
    FILE *sf = fopen("/proc/self/status", "r");
    char line[256];
    while (sf && fgets(line, sizeof line, sf))
        if (!strncmp(line, "RssAnon:", 8) || !strncmp(line, "RssFile:", 8) || !strncmp(line, "VmHWM:", 6)) {
            line[strcspn(line, "\n")] = 0;
            printf("memory of this process (daemon, clients, the direct store): %s\n", line);
        }
    if (sf) fclose(sf);
        kill(getpid(), SIGTERM);   /* the daemon's handler turns it into its stop */
    pthread_join(dt, NULL);
    if (!keep) {
        char *cmd = xasprintf("rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
        free(cmd);
    }
    free(idx); free(sock); free(docs);
    return da.rc == 0 ? 0 : 1;
}
