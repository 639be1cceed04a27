/* pool.c -- see pool.h. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "pool.h"

/* How long a thread spins before it sleeps, waiting for the next op (a
 * worker) or for the others to finish (the caller). Longer than the gap
 * between two ops of one decoded token, so that no thread sleeps
 * mid-token: a futex wake-up costs tens of microseconds in a virtual
 * machine, and with 20,000 bare iterations (about 10 us) as before, a
 * V2-Lite-shaped Q4_K model decoded at 85 tokens/s with 2 threads instead
 * of 100. Short enough that an idle pool soon sleeps. After the first
 * SPIN_HOT_NS the spinning thread yields the CPU at each check, so that an
 * oversubscribed machine (more threads than cores, parallel tests) gives
 * the time to threads with work instead of to spinners. */
#define SPIN_NS 500000
#define SPIN_HOT_NS 30000

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* One step of a spin that began at t0 (step i): 0 when the budget is
 * spent. */
static int spin_step(uint64_t t0, unsigned i, int *cold) {
    if (*cold) {
        sched_yield();
        return now_ns() - t0 <= SPIN_NS;
    }
    if (!(i & 63)) {
        const uint64_t dt = now_ns() - t0;
        if (dt > SPIN_NS) return 0;
        if (dt > SPIN_HOT_NS) *cold = 1;
    }
    cpu_relax();
    return 1;
}

/* Spin while *v == val, at most SPIN_NS; returns the last value read. */
static unsigned spin_while_eq(atomic_uint *v, unsigned val) {
    const uint64_t t0 = now_ns();
    int cold = 0;
    unsigned g;
    for (unsigned i = 1; (g = atomic_load_explicit(v, memory_order_acquire)) == val; i++)
        if (!spin_step(t0, i, &cold)) break;
    return g;
}

/* Spin while *v > 0, at most SPIN_NS. */
static void spin_while_pos(atomic_int *v) {
    const uint64_t t0 = now_ns();
    int cold = 0;
    for (unsigned i = 1; atomic_load_explicit(v, memory_order_acquire) > 0; i++)
        if (!spin_step(t0, i, &cold)) break;
}

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
        unsigned g = spin_while_eq(&p->generation, seen);
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
    spin_while_pos(&p->pending);
    if (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->lock);
        while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->busy);
}
