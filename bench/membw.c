/* bench/membw: the read bandwidth this machine really gives, the ceiling of token generation
 * (which streams every weight once per token). Sums a large array (default 1 GiB, far past
 * any cache) with AVX2 loads on 1..N threads, each thread reading its own contiguous half,
 * in three forms: plain loads, plain loads plus software prefetch PF bytes ahead, and
 * non-temporal loads (prefetchnta + vmovntdqa). Also a cache-resident pass (--mb small) to
 * show what the core can consume when memory is not the limit. Best and median of --reps
 * passes, in GB/s (1e9 bytes).
 * --small-pages: 4 KB pages, as a mapped model file gets (default: transparent huge pages).
 * usage: membw [--mb MB] [--threads N] [--reps N] [--pf BYTES] [--small-pages] */
#include "core/util.h"
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define AVX2 __attribute__((target("avx2")))

enum { PLAIN, PREFETCH, NONTEMPORAL, NMODES };
static const char *mode_name[NMODES] = {"plain", "prefetch", "non-temporal"};

typedef struct {
    const char *p;
    size_t n;                  /* bytes, a multiple of 128 */
    int mode, pf;
    long long sum;             /* keeps the loads alive */
    pthread_barrier_t *start;
    double t0, t1;
} job;

/* 4 accumulators of 32 bytes: 128 bytes (two cache lines) per iteration */
AVX2 static long long sum_plain(const char *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    __m256i a = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    long long o[4];
    _mm256_storeu_si256((__m256i *)o, a);
    return o[0] + o[1] + o[2] + o[3];
}
AVX2 static long long sum_prefetch(const char *p, size_t n, int pf) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        _mm_prefetch(p + i + pf, _MM_HINT_T0);          /* past the end is harmless: a hint */
        _mm_prefetch(p + i + pf + 64, _MM_HINT_T0);
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    __m256i a = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    long long o[4];
    _mm256_storeu_si256((__m256i *)o, a);
    return o[0] + o[1] + o[2] + o[3];
}
/* vmovntdqa only bypasses the cache on write-combining memory; on ordinary memory the hint
 * that matters is prefetchnta (fill without polluting the outer caches) */
AVX2 static long long sum_nt(const char *p, size_t n, int pf) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        _mm_prefetch(p + i + pf, _MM_HINT_NTA);
        _mm_prefetch(p + i + pf + 64, _MM_HINT_NTA);
        a0 = _mm256_add_epi64(a0, _mm256_stream_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_stream_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_stream_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_stream_load_si256((const __m256i *)(p + i + 96)));
    }
    __m256i a = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    long long o[4];
    _mm256_storeu_si256((__m256i *)o, a);
    return o[0] + o[1] + o[2] + o[3];
}

static void *run(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->t0 = rg_now();
    switch (j->mode) {
    case PLAIN: j->sum = sum_plain(j->p, j->n); break;
    case PREFETCH: j->sum = sum_prefetch(j->p, j->n, j->pf); break;
    default: j->sum = sum_nt(j->p, j->n, j->pf); break;
    }
    j->t1 = rg_now();
    return NULL;
}

/* One pass of nt threads over bytes [0, n): GB/s from the first start to the last end. */
static double pass(const char *buf, size_t n, int nt, int mode, int pf) {
    pthread_t th[64];
    job jb[64];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nt);
    size_t share = n / (size_t)nt / 128 * 128;
    for (int i = 0; i < nt; i++) {
        jb[i] = (job){buf + (size_t)i * share, share, mode, pf, 0, &bar, 0, 0};
        if (i && pthread_create(&th[i], NULL, run, &jb[i])) { fprintf(stderr, "membw: thread\n"); exit(1); }
    }
    run(&jb[0]);
    for (int i = 1; i < nt; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    double t0 = jb[0].t0, t1 = jb[0].t1;
    long long s = 0;
    for (int i = 0; i < nt; i++) {
        if (jb[i].t0 < t0) t0 = jb[i].t0;
        if (jb[i].t1 > t1) t1 = jb[i].t1;
        s += jb[i].sum;
    }
    if (s == 42) printf(" ");       /* the sums are used */
    return (double)share * nt / (t1 - t0) / 1e9;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    long mb = 1024;
    int maxt = 2, reps = 7, pf = 1024, small = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) maxt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pf") && i + 1 < argc) pf = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--small-pages")) small = 1;
        else { fprintf(stderr, "usage: %s [--mb MB] [--threads N] [--reps N] [--pf BYTES] [--small-pages]\n", argv[0]); return 2; }
    }
    if (mb < 1 || mb > 65536 || maxt < 1 || maxt > 64 || reps < 1 || reps > 1000 || pf < 0 || pf > (1 << 20)) {
        fprintf(stderr, "membw: --mb 1..65536, --threads 1..64, --reps 1..1000, --pf 0..1048576\n");
        return 2;
    }
    size_t n = (size_t)mb << 20;
    char *buf = aligned_alloc(2 << 20, n);
    if (!buf) { fprintf(stderr, "membw: cannot allocate %ld MB\n", mb); return 1; }
    madvise(buf, n, small ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
    for (size_t i = 0; i < n; i++) buf[i] = (char)(i * 7);
    printf("array %ld MB (%s pages), prefetch distance %d bytes, best / median of %d passes (GB/s)\n", mb,
           small ? "4 KB" : "huge", pf, reps);
    double *r = malloc(sizeof(double) * (size_t)reps);
    for (int nt = 1; nt <= maxt; nt++)
        for (int mode = 0; mode < NMODES; mode++) {
            for (int k = 0; k < reps; k++) r[k] = pass(buf, n, nt, mode, pf);
            qsort(r, (size_t)reps, sizeof(double), cmpd);
            printf("threads %d  %-13s %6.2f / %6.2f\n", nt, mode_name[mode], r[reps - 1], r[reps / 2]);
            fflush(stdout);
        }
    free(r);
    free(buf);
    return 0;
}
