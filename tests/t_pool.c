/* t_pool: the thread pool's handoff. Every job runs on every thread exactly once and its
 * writes are visible to the caller when rg_pool_run returns, whether the workers were
 * spinning (jobs back to back) or asleep (gaps longer than the spin), with runs from two
 * threads at once serialised, and a pool freed while its workers sleep. */
#include "check.h"
#include "nn/pool.h"
#include <pthread.h>
#include <unistd.h>

typedef struct { int slot[8]; long sum[8]; int round; } job;

static void work(void *arg, int i, int n) {
    job *j = arg;
    if (i < 0 || i >= 8 || n > 8) return;
    j->slot[i]++;                       /* plain writes: the pool must order them */
    j->sum[i] += (long)j->round * (i + 1);
}

static int run_rounds(rg_pool *p, int rounds, int sleep_every) {
    int n = rg_pool_size(p), bad = 0;
    job j;
    memset(&j, 0, sizeof j);
    for (int r = 1; r <= rounds; r++) {
        j.round = r;
        rg_pool_run(p, work, &j);
        for (int i = 0; i < n; i++) {
            if (j.slot[i] != r) bad++;
            if (j.sum[i] != (long)r * (r + 1) / 2 * (i + 1)) bad++;
        }
        if (sleep_every && r % sleep_every == 0) usleep(300);   /* past the spin: workers sleep */
    }
    return bad;
}

static void test_back_to_back(void) {
    for (int nt = 1; nt <= 3; nt++) {
        rg_pool *p = rg_pool_new(nt);
        CHECK_INT(rg_pool_size(p), nt);
        CHECK_INT(run_rounds(p, 5000, 0), 0);
        rg_pool_free(p);
    }
}

static void test_sleeping_workers(void) {
    rg_pool *p = rg_pool_new(3);
    CHECK_INT(run_rounds(p, 300, 1), 0);
    CHECK_INT(run_rounds(p, 2000, 7), 0);
    usleep(2000);                       /* workers asleep when the pool is freed */
    rg_pool_free(p);
}

typedef struct { rg_pool *p; int bad; } caller;
static void *call_many(void *arg) {
    caller *c = arg;
    c->bad = run_rounds(c->p, 2000, 100);
    return NULL;
}
static void test_two_callers(void) {
    rg_pool *p = rg_pool_new(2);
    caller a = {p, 0}, b = {p, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, call_many, &a) == 0);
    call_many(&b);
    pthread_join(th, NULL);
    CHECK_INT(a.bad, 0);
    CHECK_INT(b.bad, 0);
    rg_pool_free(p);
}

static void test_null_pool(void) {
    job j;
    memset(&j, 0, sizeof j);
    j.round = 5;
    rg_pool_run(NULL, work, &j);
    CHECK_INT(j.slot[0], 1);
    CHECK_INT(j.sum[0], 5);
    CHECK_INT(rg_pool_size(NULL), 1);
    CHECK(rg_pool_scratch(NULL, 0, 16) == NULL);
}

int main(void) {
    RUN(test_back_to_back);
    RUN(test_sleeping_workers);
    RUN(test_two_callers);
    RUN(test_null_pool);
    TESTS_DONE();
}
