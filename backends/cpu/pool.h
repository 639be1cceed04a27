/* pool.h -- a persistent thread pool for the CPU backends.
 *
 * Threads are created once (with the backend) and reused by every op: a
 * parallel op costs a wake-up, not a thread creation. Workers spin on a
 * generation counter for up to half a millisecond (an op usually follows
 * another within microseconds; after 30 us they yield the CPU at each
 * check), then sleep on a condition variable.
 *
 * Sessions on different threads may share one pool: an op that finds the
 * pool busy runs on its caller's thread alone. Work is split by the op so
 * that each output element is computed by exactly one thread in the same
 * way as with one thread, so results do not depend on the thread count. */
#ifndef DSV3_POOL_H
#define DSV3_POOL_H

typedef struct dsv3_pool dsv3_pool;

/* fn(ctx, ith, nth): do part ith of nth. */
typedef void (*dsv3_pool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 counts the caller; n_threads - 1 workers are started.
 * Returns NULL when memory or threads cannot be had. */
dsv3_pool *dsv3_pool_create(int n_threads);
void dsv3_pool_free(dsv3_pool *p);
int dsv3_pool_size(const dsv3_pool *p);
/* Run fn on every thread (the caller is thread 0) and wait for all. p may
 * be NULL (runs fn(ctx, 0, 1)). */
void dsv3_pool_run(dsv3_pool *p, dsv3_pool_fn fn, void *ctx);

/* [begin, end) of n items for part ith of nth, in contiguous chunks. */
static inline void dsv3_split(long n, int ith, int nth, long *begin, long *end) {
    long per = n / nth, extra = n % nth;
    *begin = ith * per + (ith < extra ? ith : extra);
    *end = *begin + per + (ith < extra ? 1 : 0);
}

#endif
