/* nn/pool: a small pthread pool for data-parallel kernels. rg_pool_run(p, fn, ctx) calls
 * fn(ctx, i, n) for i = 0..n-1 on n threads (the caller is thread 0) and returns when all are
 * done. Runs from different threads on one pool are serialised by a lock. A NULL pool, or
 * one of one thread, runs fn(ctx, 0, 1) inline. */
#ifndef RAGD_NN_POOL_H
#define RAGD_NN_POOL_H
#include <stddef.h>

typedef struct rg_pool rg_pool;
typedef void (*rg_pool_fn)(void *ctx, int i, int n);

/* nthreads <= 0: the number of online CPUs (at most 64). */
rg_pool *rg_pool_new(int nthreads);
void rg_pool_free(rg_pool *p);
int rg_pool_size(const rg_pool *p);
void rg_pool_run(rg_pool *p, rg_pool_fn fn, void *ctx);
/* Scratch memory for thread i of a running job: at least n bytes, 64-byte aligned, kept and
 * grown across jobs (so kernels do not fault in fresh pages on every call) and freed with the
 * pool. Only valid inside fn during rg_pool_run; NULL when p is NULL. */
void *rg_pool_scratch(rg_pool *p, int i, size_t n);
#endif
