/* serve/daemon: startup, per-worker stores, signals (SIGTERM/SIGINT stop, SIGHUP reloads the
 * encoder and reopens every worker's store), systemd readiness, and the orderly shutdown:
 * stop accepting, finish in-flight requests within the grace period, cancel the index job
 * (committed documents stay), remove the socket. */
#include "serve/daemon_internal.h"
#include "serve/client.h"
#include "core/util.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


void rg_daemon_config_default(rg_daemon_config *c) {
    memset(c, 0, sizeof *c);
    c->workers = 4;
    c->io_threads = 1;
    c->max_queue = 64;
    c->max_conns = 256;
    c->conn_timeout = 10;
    c->max_body = 1 << 20;
    c->deadline = 30;
    c->request_timeout = 30;
    c->grace = 10;
}

char *rg_daemon_default_socket(const char *index_dir) {
    const char *env = getenv("RAGD_SOCKET");
    if (env && *env) return xstrdup(env);
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/') return xasprintf("%s/ragd.sock", xdg);
    return xasprintf("%s/ragd.sock", index_dir);
}

static char *gen_path_of(const rg_daemon *d) { return xasprintf("%s/vectors.gen", d->cfg.index_dir); }

rg_enc_ref *rg_daemon_encoder(rg_daemon *d) {
    pthread_mutex_lock(&d->enc_mu);
    rg_enc_ref *r = d->enc;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&d->enc_mu);
    return r;
}

void rg_enc_release(rg_enc_ref *r) {
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        rg_encoder_free(r->e);
        free(r);
    }
}

static rg_enc_ref *enc_ref_new(rg_encoder *e) {
    rg_enc_ref *r = xcalloc(1, sizeof *r);
    r->e = e;
    atomic_init(&r->refs, 1);
    return r;
}

rg_store *rg_daemon_store(rg_daemon *d, rg_worker_store *ws, rg_encoder *e, double min_interval) {
    char *gp = gen_path_of(d);
    struct stat st;
    int have = stat(gp, &st) == 0;
    free(gp);
    uint64_t ino = have ? (uint64_t)st.st_ino : 0;
    uint64_t mt = have ? (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec : 0;
    unsigned ep = atomic_load(&d->epoch);
    double now = rg_now();
    if (ws->s && (ep != ws->epoch || ((have != ws->have_gen || ino != ws->ino || mt != ws->mtime_ns) &&
                                      now - ws->opened_at >= min_interval))) {
        rg_store_close(ws->s);
        ws->s = NULL;
    }
    if (!ws->s) {
        rg_store_opts o = {.encoder = e ? e->name : NULL, .dim = e ? e->dim : 0, .writable = 0, .create = 0};
        ws->s = rg_store_open(d->cfg.index_dir, &o);
        ws->have_gen = have;
        ws->ino = ino;
        ws->mtime_ns = mt;
        ws->epoch = ep;
        ws->opened_at = now;
    }
    return ws->s;
}

void rg_worker_store_close(rg_worker_store *ws) {
    rg_store_close(ws->s);
    ws->s = NULL;
}

static void logf_(const rg_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const rg_daemon *d, const char *fmt, ...) {
    if (d->cfg.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ragd serve: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void rg_daemon_reload(rg_daemon *d, int from_signal) {
    if (from_signal) rg_dsock_notify("RELOADING=1");
    char *spec = rg_config_value(d->cfg.config_path, "encoder");
    const char *use = spec ? spec : d->cfg.encoder_spec;
    rg_encoder *e = rg_encoder_open(use, d->cfg.index_dir);
    if (!e) {
        logf_(d, "reload: encoder %s: %s (keeping the current one)", use ? use : "default", rg_errmsg());
    } else {
        {
            rg_enc_ref *nr = enc_ref_new(e);
            pthread_mutex_lock(&d->enc_mu);
            rg_enc_ref *old = d->enc;
            d->enc = nr;
            atomic_fetch_add(&d->epoch, 1);
            pthread_mutex_unlock(&d->enc_mu);
            rg_enc_release(old);   /* freed when the last request using it is done */
            if (from_signal) logf_(d, "reloaded: encoder %s; stores reopen on their next request", e->name);
        }
    }
    free(spec);
    if (from_signal) rg_dsock_notify("READY=1");
}

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) { /* the pipe is full: a stop is already pending */ }
    errno = saved;
}

int rg_daemon_run(const rg_daemon_config *c) {
    /* SQLite's memory statistics take one process-wide mutex on every allocation, which
     * serialises the workers' searches; the daemon does not need them. (Only possible
     * before SQLite's first use in the process; otherwise this is a harmless no-op.) */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    rg_daemon *d = xcalloc(1, sizeof *d);
    d->cfg = *c;
    int rc = -1, owned = 0, fd = -1;
    rg_http *h = NULL;
    char *roots[32] = {0};
    if (!d->cfg.no_default_allow) {
        uid_t defaults[2] = {geteuid(), 0};
        for (int i = 0; i < 2 && d->cfg.nallow < 32; i++) d->cfg.allow_uids[d->cfg.nallow++] = defaults[i];
    }
    if (d->cfg.nallow == 0) { rg_err("no uid may use this daemon: give --allow-uid"); goto out; }
    for (int i = 0; i < d->cfg.nroots; i++) {
        roots[i] = realpath(c->allow_roots[i], NULL);
        if (!roots[i]) { rg_err("--allow-root %s: %s", c->allow_roots[i], strerror(errno)); goto out; }
        d->cfg.allow_roots[i] = roots[i];
    }
    if (d->cfg.workers < 1 || d->cfg.workers > 256) d->cfg.workers = 4;
    d->socket_path = c->socket_path ? xstrdup(c->socket_path) : rg_daemon_default_socket(c->index_dir);
    d->index_real = rg_index_identity(c->index_dir);
    rg_encoder *e0 = rg_encoder_open(c->encoder_spec, c->index_dir);
    if (!e0) goto out;
    d->enc = enc_ref_new(e0);
    pthread_mutex_init(&d->enc_mu, NULL);
    d->started = rg_now();

    /* Stop and reload signals are turned into bytes on a pipe that this thread reads: a
     * handler works whichever thread the kernel picks (libraries such as OpenBLAS start
     * threads of their own before we could block anything in them). A client that goes
     * away must not kill us with SIGPIPE. */
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) { rg_err("pipe: %s", strerror(errno)); goto out; }
    struct sigaction sa, old_term, old_int, old_hup;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGHUP, &sa, &old_hup);
    signal(SIGPIPE, SIG_IGN);

    fd = rg_dsock_listen(d->socket_path, c->socket_group, &owned);
    if (fd < 0) goto out_sig;
    d->jobs = rg_jobs_start(d);
    if (!d->jobs) goto out_sig;
    h = rg_http_start(d, fd);
    if (!h) goto out_sig;
    fd = -1;   /* MHD owns it now */
    logf_(d, "listening on %s (index %s, encoder %s, %d workers)", d->socket_path, d->index_real, d->enc->e->name,
          d->cfg.workers);
    rg_dsock_notify("READY=1");

    for (;;) {
        struct pollfd pf = {sig_pipe[0], POLLIN, 0};
        if (poll(&pf, 1, -1) < 0 && errno != EINTR) break;
        unsigned char sig = 0;
        if (read(sig_pipe[0], &sig, 1) != 1) continue;
        if (sig == SIGHUP) { rg_daemon_reload(d, 1); continue; }
        logf_(d, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    rg_dsock_notify("STOPPING=1");
    atomic_store(&d->draining, 1);
    rg_jobs_cancel(d->jobs);
    rg_http_stop(h, d->cfg.grace);
    h = NULL;
    rc = 0;
out_sig:
    if (h) rg_http_stop(h, 0);
    rg_jobs_stop(d->jobs);
    if (fd >= 0) close(fd);
    if (owned) unlink(d->socket_path);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    pthread_mutex_destroy(&d->enc_mu);
out:
    rg_enc_release(d->enc);
    for (int i = 0; i < 32; i++) free(roots[i]);
    free(d->socket_path);
    free(d->index_real);
    free(d);
    return rc;
}
