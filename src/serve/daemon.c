/* serve/daemon: startup, the workers' stores, signals (SIGTERM/SIGINT stop, SIGHUP reloads the
 * encoder and the generator), systemd readiness, and the orderly shutdown: stop accepting,
 * finish in-flight requests within the grace period, cancel the index job (committed
 * documents stay), remove the socket. Each worker keeps one SQLite connection open (WAL: it
 * sees every commit without reopening; the database is memory-mapped); the FAISS index is
 * one copy for all of them, loaded by one thread when the writer saved new vectors and
 * swapped in by reference count, so searches never wait for a load and never see half an
 * index. */
#include "serve/daemon_internal.h"
#include "serve/client.h"
#include "core/util.h"
#include "index/vectors.h"
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

/* How often the loader looks at vectors.gen, and the least time between two loads (an index
 * job saves its vectors every couple of hundred documents: dense results may lag that much). */
#define VEC_POLL 0.5
#define VEC_MIN_INTERVAL 3.0
/* Reader connections memory-map the database (no copy or system call per page read). */
#define READER_MMAP ((int64_t)1 << 30)
#define READER_CACHE_KIB 8192

static int file_id(const char *dir, const char *name, uint64_t *ino, uint64_t *mt) {
    char *p = xasprintf("%s/%s", dir, name);
    struct stat st;
    int have = stat(p, &st) == 0;
    free(p);
    *ino = have ? (uint64_t)st.st_ino : 0;
    *mt = have ? (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec : 0;
    return have;
}

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

/* ---- the generator ---- */

rg_gen_ref *rg_daemon_generator(rg_daemon *d) {
    pthread_mutex_lock(&d->gen_mu);
    rg_gen_ref *r = d->gen;
    if (r) atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&d->gen_mu);
    return r;
}

void rg_gen_release(rg_gen_ref *r) {
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        rg_generator_free(r->g);
        free(r->key);
        free(r);
    }
}

rg_rr_ref *rg_daemon_reranker(rg_daemon *d) {
    pthread_mutex_lock(&d->gen_mu);
    rg_rr_ref *r = d->rr;
    if (r) atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&d->gen_mu);
    return r;
}

void rg_rr_release(rg_rr_ref *r) {
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        rg_reranker_close(r->r);
        free(r->spec);
        free(r);
    }
}

/* The reranker of spec (NULL or "": none) into *out; -1 with rg_err set when it fails to load. */
static int rr_open(const char *spec, rg_rr_ref **out) {
    *out = NULL;
    if (!spec || !*spec) return 0;
    rg_reranker *r = rg_reranker_open(spec, 0);
    if (!r) return -1;
    rg_rr_ref *ref = xcalloc(1, sizeof *ref);
    ref->r = r;
    ref->spec = xstrdup(spec);
    atomic_init(&ref->refs, 1);
    *out = ref;
    return 0;
}

/* What identifies a generator's configuration (a reload with the same one keeps the model). */
static char *gen_key(const char *spec, const char *url, const char *model, const char *keyenv) {
    return xasprintf("%s\n%s\n%s\n%s", spec, url ? url : "", model ? model : "", keyenv ? keyenv : "");
}

/* Opens the generator for spec (NULL or "": none, *out = NULL). -1 with rg_err. */
static int gen_open(const char *spec, const char *url, const char *model, const char *keyenv, rg_gen_ref **out) {
    *out = NULL;
    if (!spec || !*spec) return 0;
    rg_generator_config gc = {.spec = spec, .remote_url = url, .remote_model = model, .remote_api_key_env = keyenv};
    rg_generator *g = rg_generator_open(&gc);
    if (!g) return -1;
    rg_gen_ref *r = xcalloc(1, sizeof *r);
    r->g = g;
    r->key = gen_key(spec, url, model, keyenv);
    atomic_init(&r->refs, 1);
    *out = r;
    return 0;
}

/* SIGHUP: the generator the configuration names now ($RAGD_GENERATOR first, as for the CLI;
 * then the config file; a daemon started without a config file keeps its own setting). The
 * model is loaded again only when that changed; requests using the old one finish with it. */
static void logf_(const rg_daemon *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reload_generator(rg_daemon *d) {
    const char *env = getenv("RAGD_GENERATOR");
    const char *cp = d->cfg.config_path;
    char *spec = env ? xstrdup(env) : cp ? rg_config_value(cp, "generator") : (d->cfg.generator_spec ? xstrdup(d->cfg.generator_spec) : NULL);
    char *url = cp ? rg_config_value(cp, "remote_url") : NULL, *model = cp ? rg_config_value(cp, "remote_model") : NULL,
         *keyenv = cp ? rg_config_value(cp, "remote_api_key_env") : NULL;
    const char *u = cp ? url : d->cfg.remote_url, *m = cp ? model : d->cfg.remote_model, *k = cp ? keyenv : d->cfg.remote_api_key_env;
    char *key = spec && *spec ? gen_key(spec, u, m, k) : NULL;
    pthread_mutex_lock(&d->gen_mu);
    int same = (!key && !d->gen) || (key && d->gen && strcmp(key, d->gen->key) == 0);
    pthread_mutex_unlock(&d->gen_mu);
    if (!same) {
        rg_gen_ref *nr = NULL;
        if (gen_open(spec, u, m, k, &nr) != 0) {
            logf_(d, "reload: generator %s: %s (keeping the current one)", spec, rg_errmsg());
        } else {
            pthread_mutex_lock(&d->gen_mu);
            rg_gen_ref *old = d->gen;
            d->gen = nr;
            pthread_mutex_unlock(&d->gen_mu);
            rg_gen_release(old);   /* freed when the last answer using it is done */
            logf_(d, "reloaded: generator %s", nr ? spec : "none (the reasoner alone)");
        }
    }
    free(key); free(spec); free(url); free(model); free(keyenv);
}

/* SIGHUP: the reranker as $RAGD_RERANKER or the config's "reranker" now say (else the one the
 * daemon started with), loaded again only when it changed. */
static void reload_reranker(rg_daemon *d) {
    const char *env = getenv("RAGD_RERANKER");
    char *spec = env ? xstrdup(env) : d->cfg.config_path ? rg_config_value(d->cfg.config_path, "reranker")
                                                        : (d->cfg.reranker_spec ? xstrdup(d->cfg.reranker_spec) : NULL);
    if (spec && !*spec) { free(spec); spec = NULL; }
    pthread_mutex_lock(&d->gen_mu);
    int same = (!spec && !d->rr) || (spec && d->rr && strcmp(spec, d->rr->spec) == 0);
    pthread_mutex_unlock(&d->gen_mu);
    if (!same) {
        rg_rr_ref *nr = NULL;
        if (rr_open(spec, &nr) != 0) {
            logf_(d, "reload: reranker %s: %s (keeping the current one)", spec, rg_errmsg());
        } else {
            pthread_mutex_lock(&d->gen_mu);
            rg_rr_ref *old = d->rr;
            d->rr = nr;
            pthread_mutex_unlock(&d->gen_mu);
            rg_rr_release(old);   /* freed when the last search using it is done */
            logf_(d, "reloaded: reranker %s", nr ? spec : "none");
        }
    }
    free(spec);
}

static void vec_release(rg_vec_ref *r) {
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        rg_vectors_free(r->v);
        free(r);
    }
}

/* The current shared copy with a reference taken (NULL when none). */
static rg_vec_ref *vec_acquire(rg_daemon *d) {
    pthread_mutex_lock(&d->vec_mu);
    rg_vec_ref *r = atomic_load(&d->vec);
    if (r) atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&d->vec_mu);
    return r;
}

void rg_daemon_vectors_refresh(rg_daemon *d, int force, int full) {
    pthread_mutex_lock(&d->vec_load_mu);
    uint64_t ino, mt;
    int have = file_id(d->cfg.index_dir, "vectors.gen", &ino, &mt);
    unsigned ep = atomic_load(&d->epoch);
    pthread_mutex_lock(&d->vec_mu);
    int changed = force || have != d->vec_have || ino != d->vec_ino || mt != d->vec_mt || ep != d->vec_epoch ||
                  !atomic_load(&d->vec);
    pthread_mutex_unlock(&d->vec_mu);
    if (!changed) { pthread_mutex_unlock(&d->vec_load_mu); return; }
    rg_enc_ref *er = rg_daemon_encoder(d);
    rg_vectors *v = NULL;
    if (full) {
        /* A whole read-only open: the FAISS file reconciled with SQLite. Its index is kept. */
        rg_store_opts o = {.encoder = er->e->name, .dim = er->e->dim};
        rg_store *s = rg_store_open(d->cfg.index_dir, &o);
        if (s) { v = rg_store_swap_vectors(s, NULL); rg_store_close(s); }
    } else {
        char *p = xasprintf("%s/vectors.faiss", d->cfg.index_dir);
        v = rg_vectors_load(p, er->e->dim);
        free(p);
    }
    if (v && rg_vectors_dim(v) != er->e->dim) { rg_vectors_free(v); v = NULL; }
    rg_enc_release(er);
    rg_vec_ref *nr = NULL;
    if (v) {
        nr = xcalloc(1, sizeof *nr);
        nr->v = v;
        atomic_init(&nr->refs, 1);
    }
    pthread_mutex_lock(&d->vec_mu);
    rg_vec_ref *old = NULL;
    if (nr || ep != d->vec_epoch) {   /* a failed load keeps the copy that matches the encoder */
        old = atomic_load(&d->vec);
        atomic_store(&d->vec, nr);
    }
    d->vec_have = have;
    d->vec_ino = ino;
    d->vec_mt = mt;
    d->vec_epoch = ep;
    d->vec_loaded_at = rg_now();
    pthread_mutex_unlock(&d->vec_mu);
    vec_release(old);   /* freed when the last search using it is done */
    pthread_mutex_unlock(&d->vec_load_mu);
}

/* The loader: notices new vectors (the writer saved them) and loads one copy for everyone,
 * at most every VEC_MIN_INTERVAL. While this daemon's own job writes, the saved file is
 * taken as it is; otherwise it is reconciled with SQLite (another writer, or a crash, may
 * have left it behind). */
static void *vec_thread_main(void *arg) {
    rg_daemon *d = arg;
    pthread_setname_np(pthread_self(), "rg-vectors");
    pthread_mutex_lock(&d->vec_mu);
    while (!d->vec_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(VEC_POLL * 1e9);
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&d->vec_cv, &d->vec_mu, &ts);
        if (d->vec_stop) break;
        double since = rg_now() - d->vec_loaded_at;
        pthread_mutex_unlock(&d->vec_mu);
        if (since >= VEC_MIN_INTERVAL) rg_daemon_vectors_refresh(d, 0, !rg_jobs_active(d->jobs));
        pthread_mutex_lock(&d->vec_mu);
    }
    pthread_mutex_unlock(&d->vec_mu);
    return NULL;
}

static void ws_close_store(rg_worker_store *ws) {
    if (ws->s && ws->own) rg_store_swap_vectors(ws->s, ws->own);   /* the store frees its own */
    ws->own = NULL;
    rg_store_close(ws->s);
    ws->s = NULL;
}

rg_store *rg_daemon_store(rg_daemon *d, rg_worker_store *ws, rg_encoder *e) {
    unsigned ep = atomic_load(&d->epoch);
    double now = rg_now();
    if (ws->s && ep != ws->epoch) ws_close_store(ws);
    if (ws->s && now - ws->checked_at >= 1.0) {   /* the database replaced (a new index in its place)? */
        uint64_t ino, mt;
        if (file_id(d->cfg.index_dir, "ragd.db", &ino, &mt) && ino != ws->db_ino) ws_close_store(ws);
        ws->checked_at = now;
    }
    if (!ws->s) {
        rg_store_opts o = {.encoder = e ? e->name : NULL, .dim = e ? e->dim : 0, .no_vectors = 1};
        uint64_t ino, mt;
        file_id(d->cfg.index_dir, "ragd.db", &ino, &mt);
        ws->s = rg_store_open(d->cfg.index_dir, &o);
        if (!ws->s) return NULL;
        rg_store_tune_reads(ws->s, READER_MMAP, READER_CACHE_KIB);
        ws->db_ino = ino;
        ws->epoch = ep;
        ws->checked_at = now;
        vec_release(ws->vref);   /* lend afresh below */
        ws->vref = NULL;
        if (!atomic_load(&d->vec)) rg_daemon_vectors_refresh(d, 0, 1);   /* the index appeared */
    }
    /* The shared FAISS copy: a pointer comparison unless it was swapped. */
    if (atomic_load(&d->vec) != ws->vref || !ws->vref) {
        rg_vec_ref *cur = vec_acquire(d);
        if (cur != ws->vref) {
            if (cur && rg_vectors_dim(cur->v) == rg_store_dim(ws->s)) {
                rg_vectors *prev = rg_store_swap_vectors(ws->s, cur->v);
                if (!ws->own) ws->own = prev;
            } else if (ws->own) {
                rg_store_swap_vectors(ws->s, ws->own);
                ws->own = NULL;
            }
            vec_release(ws->vref);
            ws->vref = cur;
        } else vec_release(cur);
    }
    return ws->s;
}

void rg_worker_store_close(rg_worker_store *ws) {
    ws_close_store(ws);
    vec_release(ws->vref);
    ws->vref = NULL;
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
            rg_daemon_vectors_refresh(d, 1, 1);   /* the new encoder's dimension; picked up with the epoch */
            if (from_signal) logf_(d, "reloaded: encoder %s; stores reopen on their next request", e->name);
        }
    }
    free(spec);
    if (from_signal) reload_generator(d);
    if (from_signal) reload_reranker(d);
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
    pthread_mutex_init(&d->gen_mu, NULL);
    if (gen_open(c->generator_spec, c->remote_url, c->remote_model, c->remote_api_key_env, &d->gen) != 0) {
        rg_err("generator %s: %s", c->generator_spec, rg_errmsg());
        goto out;
    }
    if (rr_open(c->reranker_spec, &d->rr) != 0) goto out;
    pthread_mutex_init(&d->vec_mu, NULL);
    pthread_mutex_init(&d->vec_load_mu, NULL);
    pthread_cond_init(&d->vec_cv, NULL);
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
    rg_daemon_vectors_refresh(d, 1, 1);   /* one FAISS copy for all workers, before the first request */
    if (pthread_create(&d->vec_thread, NULL, vec_thread_main, d) == 0) d->have_vec_thread = 1;
    h = rg_http_start(d, fd);
    if (!h) goto out_sig;
    fd = -1;   /* MHD owns it now */
    logf_(d, "listening on %s (index %s, encoder %s, generator %s, %d workers)", d->socket_path, d->index_real,
          d->enc->e->name, d->gen ? c->generator_spec : "none", d->cfg.workers);
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
    if (d->have_vec_thread) {
        pthread_mutex_lock(&d->vec_mu);
        d->vec_stop = 1;
        pthread_cond_broadcast(&d->vec_cv);
        pthread_mutex_unlock(&d->vec_mu);
        pthread_join(d->vec_thread, NULL);
    }
    rg_jobs_stop(d->jobs);
    if (fd >= 0) close(fd);
    if (owned) unlink(d->socket_path);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    pthread_mutex_destroy(&d->enc_mu);
    pthread_mutex_destroy(&d->gen_mu);
    vec_release(atomic_load(&d->vec));
    pthread_mutex_destroy(&d->vec_mu);
    pthread_mutex_destroy(&d->vec_load_mu);
    pthread_cond_destroy(&d->vec_cv);
out:
    rg_rr_release(d->rr);
    rg_gen_release(d->gen);
    rg_enc_release(d->enc);
    for (int i = 0; i < 32; i++) free(roots[i]);
    free(d->socket_path);
    free(d->index_real);
    free(d);
    return rc;
}
