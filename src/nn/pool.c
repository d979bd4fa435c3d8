/* Thread pool: a job is published by bumping a generation number; workers spin briefly
 * (SPIN_S) on it before sleeping on a condition variable, and the caller spins on the count
 * of workers still running before sleeping on another. Generation runs about 120 jobs per
 * token back to back, so the common case takes no lock at all: fn/ctx are written before the
 * release increment of gen that workers acquire, and each worker's decrement of pending
 * (release) is acquired by the caller. Locks and condition variables are only for sleepers,
 * who announce themselves (sleepers, caller_sleeping) before re-checking: each side writes
 * its flag and then reads the other's (both sequentially consistent), so a wake-up cannot be
 * lost. An empty dispatch on 2 threads (quiet machine) took 0.08-0.2 us, against 0.2-0.4 us
 * with the mutex round trips of every job before: little next to a token's ~25 ms, but it is
 * paid ~120 times per token. */
#include "nn/pool.h"
#include "core/util.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct rg_pool {
    int n;
    pthread_t *th;
    pthread_mutex_t run_lock;          /* one rg_pool_run at a time */
    pthread_mutex_t mu;                /* only for sleeping and waking */
    pthread_cond_t go, done;
    unsigned long gen, pending;
    int sleepers, caller_sleeping, quit;
    rg_pool_fn fn;
    void *ctx;
    void **scratch;                    /* per thread, grow-only */
    size_t *scratch_n;
};

typedef struct { rg_pool *p; int i; } warg;

#define SPIN_S 50e-6

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spins while (*v == x) == eq, up to SPIN_S seconds; 1 when the condition ended. */
static int spin_while(const unsigned long *v, unsigned long x, int eq, const int *quit) {
    double t0 = 0;
    for (int i = 0; (__atomic_load_n(v, __ATOMIC_ACQUIRE) == x) == eq; i++) {
        if (quit && __atomic_load_n(quit, __ATOMIC_ACQUIRE)) return 1;
        cpu_relax();
        if ((i & 63) == 63) {
            double t = rg_now();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_S) return 0;
        }
    }
    return 1;
}

static void *worker(void *arg) {
    warg a = *(warg *)arg;
    free(arg);
    rg_pool *p = a.p;
    unsigned long seen = 0;
    for (;;) {
        if (!spin_while(&p->gen, seen, 1, &p->quit)) {
            pthread_mutex_lock(&p->mu);
            __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&p->gen, __ATOMIC_SEQ_CST) == seen && !__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE))
                pthread_cond_wait(&p->go, &p->mu);
            __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&p->mu);
        }
        if (__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) return NULL;
        seen = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
        p->fn(p->ctx, a.i, p->n);
        if (__atomic_sub_fetch(&p->pending, 1, __ATOMIC_SEQ_CST) == 0 &&
            __atomic_load_n(&p->caller_sleeping, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

rg_pool *rg_pool_new(int nthreads) {
    if (nthreads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = c > 0 ? (int)c : 1;
    }
    if (nthreads > 64) nthreads = 64;
    rg_pool *p = xcalloc(1, sizeof *p);
    p->n = nthreads;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->th = xcalloc((size_t)nthreads, sizeof *p->th);
    p->scratch = xcalloc((size_t)nthreads, sizeof *p->scratch);
    p->scratch_n = xcalloc((size_t)nthreads, sizeof *p->scratch_n);
    for (int i = 1; i < nthreads; i++) {
        warg *a = xmalloc(sizeof *a);
        a->p = p;
        a->i = i;
        if (pthread_create(&p->th[i], NULL, worker, a)) {   /* fewer threads, still correct */
            free(a);
            p->n = i;
            break;
        }
    }
    return p;
}

int rg_pool_size(const rg_pool *p) { return p ? p->n : 1; }

void rg_pool_run(rg_pool *p, rg_pool_fn fn, void *ctx) {
    if (!p || p->n <= 1) { fn(ctx, 0, 1); return; }
    pthread_mutex_lock(&p->run_lock);
    p->fn = fn;
    p->ctx = ctx;
    __atomic_store_n(&p->pending, (unsigned long)(p->n - 1), __ATOMIC_RELAXED);
    __atomic_add_fetch(&p->gen, 1, __ATOMIC_SEQ_CST);      /* publishes fn, ctx, pending */
    if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    if (!spin_while(&p->pending, 0, 0, NULL)) {
        pthread_mutex_lock(&p->mu);
        __atomic_store_n(&p->caller_sleeping, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&p->pending, __ATOMIC_SEQ_CST) > 0) pthread_cond_wait(&p->done, &p->mu);
        __atomic_store_n(&p->caller_sleeping, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->run_lock);
}

void rg_pool_free(rg_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->quit, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->run_lock);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    for (int i = 0; i < p->n; i++) free(p->scratch[i]);
    free(p->scratch);
    free(p->scratch_n);
    free(p->th);
    free(p);
}

void *rg_pool_scratch(rg_pool *p, int i, size_t n) {
    if (!p || i < 0 || i >= p->n) return NULL;
    if (p->scratch_n[i] < n) {
        free(p->scratch[i]);
        size_t sz = (n + 63) & ~(size_t)63;
        p->scratch[i] = aligned_alloc(64, sz);
        if (!p->scratch[i]) { fprintf(stderr, "out of memory\n"); abort(); }
        p->scratch_n[i] = sz;
    }
    return p->scratch[i];
}
