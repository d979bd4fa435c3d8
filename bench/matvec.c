/* bench/matvec: throughput of the single-token matrix-vector kernels (int8 activations,
 * nn/quant_k.h) in GB/s of weight bytes read, for Q8_0, Q4_0, Q4_K and Q6_K rows of the
 * decoder's widths (896 and 4864), and Q5_0 at 896 (most of Qwen2.5-0.5B's Q4_K_M file). Two
 * sizes: a matrix that stays in L2 (what the arithmetic alone can do) and one far past the
 * caches (what memory allows), on 1 and N threads (rows split as the decoder splits them).
 * Each measurement alternates the one-row-at-a-time dot (rg_dot_q8_for per row) with the
 * 4-row matvec (rg_matvec_q8_for) and keeps the best of --reps passes, so the ratio of the
 * two holds even on a busy machine (one thread is timed in thread CPU time).
 * Q4_0 rows are also timed repacked with 8 rows interleaved (nn/q4_0x8.h, the decoder's
 * layout for them), in the same alternation: a third column and its ratio to the matvec.
 * --small-pages: 4 KB pages, as the decoder's mapped model file gets (default: huge pages).
 * usage: matvec [--threads N] [--reps N] [--mb MB] [--small-pages]
 * (build with -DMATVEC_DOT_ONLY against a tree that has no rg_matvec_q8_for) */
#include "core/util.h"
#include "nn/pool.h"
#include "nn/q4_0x8.h"
#include "nn/quant_k.h"
#include "nn/tensor.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <math.h>
#include <time.h>

typedef struct {
    int type, matvec;
    const char *w;
    size_t rb;
    int64_t N, K;
    const int8_t *q;
    const float *d, *s;
    float *y;
} job;

static void run_rows(void *arg, int ti, int nt) {
    job *j = arg;
    int gr = j->matvec == 2 ? 8 : 4;   /* x8: whole octs per thread */
    int64_t g = (j->N + gr - 1) / gr, r0 = g * ti / nt * gr, r1 = g * (ti + 1) / nt * gr;
    if (r1 > j->N) r1 = j->N;
    if (r0 >= r1) return;
    if (j->matvec == 2) {
        rg_q4x8_matvec(j->w, j->rb, r0, r1, j->q, j->d, j->K, j->y + r0);
        return;
    }
#ifndef MATVEC_DOT_ONLY
    if (j->matvec) {
        rg_matvec_q8_for(j->type)(j->w + (size_t)r0 * j->rb, j->rb, r1 - r0, j->q, j->d, j->s, j->K, j->y + r0);
        return;
    }
#endif
    rg_dot_q8_fn dot = rg_dot_q8_for(j->type);
    for (int64_t r = r0; r < r1; r++) j->y[r] = dot(j->w + (size_t)r * j->rb, j->q, j->d, j->s, j->K);
}

/* One thread: its CPU time, which time slices given to other programs on a shared machine do
 * not inflate. Several: wall time. */
static double now(int nt) {
    if (nt > 1) return rg_now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t rng = 12345;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)(rng >> 8) / 8388608.0f - 1.0f; }

/* A matrix of about bytes: 64 quantised random rows repeated (realistic scales, cheap to make). */
static int small_pages;
static char *make(int type, int64_t K, size_t bytes, size_t *rb, int64_t *N) {
    *rb = rg_type_row_bytes(type, K);
    *N = (int64_t)(bytes / *rb) / 64 * 64;
    if (*N < 64) *N = 64;
    size_t sz = (*rb * (size_t)*N + (2 << 20) - 1) / (2 << 20) * (2 << 20);
    char *w = aligned_alloc(2 << 20, sz);
    if (!w) { fprintf(stderr, "matvec: out of memory\n"); exit(1); }
    madvise(w, sz, small_pages ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int64_t r = 0; r < 64; r++) {
        for (int64_t i = 0; i < K; i++) row[i] = frand();
        char *dst = w + (size_t)r * *rb;
        if (type == RG_TYPE_Q8_0) rg_quantize_q8_0(row, (rg_block_q8_0 *)dst, K);
        else if (type == RG_TYPE_Q4_0) rg_quantize_q4_0(row, dst, K);
        else if (type == RG_TYPE_Q5_0) rg_quantize_q5_0(row, dst, K);
        else if (type == RG_TYPE_Q4_K) rg_quantize_q4_K(row, dst, K);
        else rg_quantize_q6_K(row, dst, K);
    }
    for (int64_t r = 64; r < *N; r++) memcpy(w + (size_t)r * *rb, w + (size_t)(r % 64) * *rb, *rb);
    free(row);
    return w;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 9;
    long big_mb = 192;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc) big_mb = atol(argv[++i]);
        else if (!strcmp(argv[i], "--small-pages")) small_pages = 1;
        else { fprintf(stderr, "usage: %s [--threads N] [--reps N] [--mb MB] [--small-pages]\n", argv[0]); return 2; }
    }
    if (threads < 1 || threads > 64 || reps < 1 || reps > 1000 || big_mb < 1 || big_mb > 16384) {
        fprintf(stderr, "matvec: --threads 1..64, --reps 1..1000, --mb 1..16384\n");
        return 2;
    }
    rg_quant_k_init();
    struct { int type; const char *name; int64_t K; } T[] = {
        {RG_TYPE_Q8_0, "q8_0", 896}, {RG_TYPE_Q4_0, "q4_0", 896}, {RG_TYPE_Q4_K, "q4_K", 4864},
        {RG_TYPE_Q6_K, "q6_K", 4864}, {RG_TYPE_Q8_0, "q8_0", 4864}, {RG_TYPE_Q4_0, "q4_0", 4864},
        {RG_TYPE_Q5_0, "q5_0", 896}};
    size_t sizes[2] = {256 << 10, (size_t)big_mb << 20};
    printf("GB/s of weights, best of %d (rg_dot_q8_for per row | rg_matvec_q8_for | ratio)\n", reps);
    for (int nt = 1; nt <= threads; nt = nt < threads ? threads : nt + 1) {
        rg_pool *pool = nt > 1 ? rg_pool_new(nt) : NULL;
        for (size_t ti = 0; ti < sizeof T / sizeof T[0]; ti++)
            for (int si = 0; si < 2; si++) {
                size_t rb;
                int64_t N, K = T[ti].K;
                char *w = make(T[ti].type, K, sizes[si], &rb, &N);
                int8_t *q = malloc((size_t)K);
                float *d = malloc(sizeof(float) * (size_t)(K / 32)), *s = malloc(sizeof(float) * (size_t)(K / 32));
                float *x = malloc(sizeof(float) * (size_t)K), *y0 = malloc(sizeof(float) * (size_t)N), *y1 = malloc(sizeof(float) * (size_t)N);
                float *y2 = malloc(sizeof(float) * (size_t)N);
                int x8 = T[ti].type == RG_TYPE_Q4_0;
                char *w8 = NULL;
                if (x8) {                      /* the same rows, repacked */
                    size_t sz = (rb * (size_t)N + (2 << 20) - 1) / (2 << 20) * (2 << 20);
                    w8 = aligned_alloc(2 << 20, sz);
                    if (!w8) { fprintf(stderr, "matvec: out of memory\n"); return 1; }
                    madvise(w8, sz, small_pages ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
                    memcpy(w8, w, rb * (size_t)N);
                }
                if (w8 && rg_q4x8_repack(w8, rb, N, K) < 0) { fprintf(stderr, "matvec: %s\n", rg_errmsg()); return 1; }
                for (int64_t i = 0; i < K; i++) x[i] = frand();
                rg_quantize_act(x, K, q, d, s);
                double best[3] = {0, 0, 0};
                int passes = si == 0 ? reps * 50 : reps;       /* small ones: time many in a row */
                for (int r = 0; r < reps; r++)
                    for (int mv = 0; mv < 3; mv++) {
#ifdef MATVEC_DOT_ONLY
                        if (mv == 1) continue;
#endif
                        if (mv == 2 && !x8) continue;
                        job j = {T[ti].type, mv, mv == 2 ? w8 : w, rb, N, K, q, d, s, mv == 2 ? y2 : mv ? y1 : y0};
                        int inner = passes / reps;
                        double t0 = now(nt);
                        for (int k = 0; k < inner; k++) rg_pool_run(pool, run_rows, &j);
                        double gbs = (double)rb * (double)N * inner / (now(nt) - t0) / 1e9;
                        if (gbs > best[mv]) best[mv] = gbs;
                    }
                int64_t diff = 0;
#ifndef MATVEC_DOT_ONLY
                for (int64_t r = 0; r < N; r++) diff += y0[r] != y1[r];
#endif
                printf("threads %d  %-4s K %-5lld %9s  %6.2f | %6.2f | %.2f%s", nt, T[ti].name, (long long)K,
                       si == 0 ? "L2 256KB" : "memory", best[0], best[1], best[0] > 0 ? best[1] / best[0] : 0,
                       diff ? "  (results differ!)" : "");
                if (x8) {
                    double rel = 0;        /* x8 sums in another order: its largest relative difference */
                    for (int64_t r = 0; r < N; r++) {
                        double e = fabs(y2[r] - y0[r]) / (fabs(y0[r]) + 1e-3);
                        if (e > rel) rel = e;
                    }
                    printf("   x8 %6.2f | %.2f x matvec (max rel. diff %.1e)", best[2], best[1] > 0 ? best[2] / best[1] : 0, rel);
                }
                printf("\n");
                fflush(stdout);
                free(w); free(w8); free(q); free(d); free(s); free(x); free(y0); free(y1); free(y2);
            }
        rg_pool_free(pool);
    }
    return 0;
}
