/* pool.h -- a persistent thread pool for the CPU backends.
 *
 * Threads are created once (with the backend) and reused by every op: a
 * parallel op costs a wake-up, not a thread creation. An op of a pool of
 * n threads is n parts; the caller and the workers claim parts until none
 * is left, so a worker that another process keeps off its core is not
 * waited for: the caller computes its part (with every core shared, the
 * op runs at about the speed of one thread instead of stalling). Waiting
 * threads spin while spinning pays, then sleep (pool.c says when).
 *
 * Sessions on different threads may share one pool: an op that finds the
 * pool busy runs on its caller's thread alone. Work is split by the op so
 * that each output element is computed by exactly one part in the same
 * way as with one thread, and a part's result does not depend on which
 * thread runs it, so results do not depend on the thread count. */
#ifndef DSV3_POOL_H
#define DSV3_POOL_H

typedef struct dsv3_pool dsv3_pool;

/* fn(ctx, ith, nth): do part ith of nth. Any thread of the pool may run
 * any part, one thread per part; per-part scratch is indexed by ith. */
typedef void (*dsv3_pool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 counts the caller; n_threads - 1 workers are started.
 * Returns NULL when memory or threads cannot be had. */
dsv3_pool *dsv3_pool_create(int n_threads);
void dsv3_pool_free(dsv3_pool *p);
int dsv3_pool_size(const dsv3_pool *p);
/* Run fn(ctx, i, n) for every part i of n = dsv3_pool_size(p), spread over
 * the caller and the awake workers, and return when all are done. p may be
 * NULL (runs fn(ctx, 0, 1)). */
void dsv3_pool_run(dsv3_pool *p, dsv3_pool_fn fn, void *ctx);

/* [begin, end) of n items for part ith of nth, in contiguous chunks. */
static inline void dsv3_split(long n, int ith, int nth, long *begin, long *end) {
    long per = n / nth, extra = n % nth;
    *begin = ith * per + (ith < extra ? ith : extra);
    *end = *begin + per + (ith < extra ? 1 : 0);
}

/* The same in whole groups of 8 when n is a multiple of 8, so that no
 * thread's range cuts a group of 8 rows (the packed weights of the x86
 * integer kernels are read by whole groups). */
static inline void dsv3_split8(long n, int ith, int nth, long *begin, long *end) {
    if (n % 8) {
        dsv3_split(n, ith, nth, begin, end);
        return;
    }
    dsv3_split(n / 8, ith, nth, begin, end);
    *begin *= 8;
    *end *= 8;
}

#endif
