/* pool.c -- see pool.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pool.h"

#define SPIN_ITERS 20000

struct dsv3_pool {
    int n;                    /* threads including the caller            */
    pthread_t *threads;
    pthread_mutex_t busy;     /* held by the op using the pool           */
    pthread_mutex_t lock;     /* guards the sleep/wake handshake         */
    pthread_cond_t wake, done;
    atomic_uint generation;   /* bumped once per op                      */
    atomic_int pending;       /* workers still running the current op    */
    atomic_int quit;
    int sleepers;
    dsv3_pool_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    dsv3_pool *p;
    int ith;
} worker_arg;

static void *worker(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    dsv3_pool *p = a.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen && spins < SPIN_ITERS) spins++;
        if (g == seen) {
            pthread_mutex_lock(&p->lock);
            p->sleepers++;
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) pthread_cond_wait(&p->wake, &p->lock);
            p->sleepers--;
            pthread_mutex_unlock(&p->lock);
        }
        seen = g;
        if (atomic_load(&p->quit)) return NULL;
        p->fn(p->ctx, a.ith, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

static void start_op(dsv3_pool *p) {
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (p->sleepers) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

dsv3_pool *dsv3_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    dsv3_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->busy, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n_threads == 1) return p;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) { dsv3_pool_free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a || pthread_create(&p->threads[i], NULL, worker, (a->p = p, a->ith = i, a)) != 0) {
            free(a);
            p->n = i; /* only the threads that exist are joined */
            dsv3_pool_free(p);
            return NULL;
        }
    }
    return p;
}

void dsv3_pool_free(dsv3_pool *p) {
    if (!p) return;
    if (p->threads) {
        atomic_store(&p->quit, 1);
        start_op(p);
        for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
        free(p->threads);
    }
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->busy);
    free(p);
}

int dsv3_pool_size(const dsv3_pool *p) { return p ? p->n : 1; }

void dsv3_pool_run(dsv3_pool *p, dsv3_pool_fn fn, void *ctx) {
    if (!p || p->n == 1 || pthread_mutex_trylock(&p->busy) != 0) {
        fn(ctx, 0, 1); /* no pool, or another session is using it */
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_release);
    start_op(p);
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < SPIN_ITERS) spins++;
    if (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->lock);
        while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->busy);
}
