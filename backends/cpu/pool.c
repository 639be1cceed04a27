/* pool.c -- see pool.h.
 *
 * One op is n parts, fn(ctx, i, n) for i in [0, n). The parts are not tied
 * to threads: the caller and every awake worker claim the next unclaimed
 * part from one atomic word until none is left, and the caller then waits
 * only for parts already being computed. A worker that is descheduled
 * (another process has its core) therefore never holds up an op it has not
 * started: it wakes, finds nothing left, and waits for the next one. A part
 * computes the same thing whichever thread runs it, so results are those
 * of fn(ctx, i, n) run in turn on one thread, as before. */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* DSV3_POOL_NO_FUTEX builds the portable path on Linux too (to test it). */
#if defined(__linux__) && !defined(DSV3_POOL_NO_FUTEX)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define POOL_FUTEX 1 /* sleep on the atomic words themselves */
#else
#define POOL_FUTEX 0 /* a mutex and condition variables instead */
#endif

#include "pool.h"

/* How long a thread may spin before it sleeps, waiting for the next op (a
 * worker) or for the others to finish (the caller). Longer than the gap
 * between two ops of one decoded token, so that on a quiet machine no
 * thread sleeps mid-token: a wake-up costs tens of microseconds in a
 * virtual machine, and with about 10 us of spinning a V2-Lite-shaped Q4_K
 * model decoded at 85 tokens/s with 2 threads instead of 100. Short enough
 * that an idle pool soon sleeps. After the first SPIN_HOT_NS the spinning
 * thread yields the CPU at each check. */
#define SPIN_NS 500000
#define SPIN_HOT_NS 30000
/* Spinning pays only while the thread has its core. On a shared core
 * (another process busy, a desktop machine) a spinner takes the time that
 * the thread with work needs: on a loaded 2-core machine with one more busy
 * process, a 2-thread decode of the demo model ran at 0.2-1.0x the speed
 * of one thread with these spins and at 0.5-0.85x with no spinning at all
 * (runs alternated). So each thread keeps its own budget: a check
 * that finds the clock jumped by more than GAP_NS (the thread was not
 * running) ends the spin and halves the budget, as does a worker's wake-up
 * that finds every part taken (it came too late to help) and a caller's
 * sleep longer than SPIN_HOT_NS (a worker holding a part was off its core);
 * a spin that pays, or a short sleep, grows the budget back by a quarter (plus SPIN_MIN_NS, to leave
 * zero), so a quiet machine is back at SPIN_NS within about 30 ops. */
#define GAP_NS 50000
#define SPIN_MIN_NS 1000

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

static uint64_t budget_grow(uint64_t b) {
    b += b / 4 + SPIN_MIN_NS;
    return b < SPIN_NS ? b : SPIN_NS;
}

/* Spin while *v == val, or, with until_zero, while *v != 0, for at most
 * *budget ns; returns the last value read. Halves *budget when the thread
 * is found descheduled. */
static unsigned spin_wait(atomic_uint *v, unsigned val, int until_zero, uint64_t *budget) {
    const uint64_t limit = *budget;
    unsigned g = atomic_load_explicit(v, memory_order_acquire);
    if (!limit) return g;
    const uint64_t t0 = now_ns();
    uint64_t last = t0;
    int cold = 0;
    for (unsigned i = 1; until_zero ? g != 0 : g == val; i++) {
        if (cold || !(i & 63)) {
            const uint64_t t = now_ns();
            if (t - last > GAP_NS) { /* descheduled: the core is shared */
                *budget = limit / 2;
                break;
            }
            if (t - t0 > limit) break;
            last = t;
            if (t - t0 > SPIN_HOT_NS) cold = 1;
        }
        if (cold) sched_yield();
        else cpu_relax();
        g = atomic_load_explicit(v, memory_order_acquire);
    }
    return g;
}

struct dsv3_pool {
    int n;                    /* threads including the caller; parts per op  */
    pthread_t *threads;
    pthread_mutex_t busy;     /* held by the op using the pool               */
    unsigned op;              /* ops started (the caller's, under busy)      */
    uint64_t budget;          /* the caller's spin budget (under busy)       */
    /* (op << 32) | next part to claim. The op number makes a claim of a
     * part of a finished op fail instead of taking a part of the next. */
    _Atomic uint64_t work;
    atomic_uint generation;   /* = op once published; workers sleep on it    */
    atomic_uint left;         /* parts of the current op not yet finished    */
    atomic_int quit;
    atomic_int idle_sleepers; /* workers asleep on generation                */
    atomic_int done_sleeper;  /* the caller asleep on left                   */
#if !POOL_FUTEX
    pthread_mutex_t lock;     /* guards the sleep/wake handshake             */
    pthread_cond_t wake, done;
#endif
    dsv3_pool_fn fn;          /* the current op, read after a claim          */
    void *ctx;
};

/* Sleep until *w != val. *sleepers counts the threads that may be asleep
 * on w: it is raised before *w is read, and a waker reads it after its
 * store to *w (both sequentially consistent), so either the sleeper sees
 * the new value or the waker sees the sleeper. */
static void sleep_while_eq(dsv3_pool *p, atomic_uint *w, unsigned val, atomic_int *sleepers) {
    atomic_fetch_add(sleepers, 1);
#if POOL_FUTEX
    (void)p;
    /* the kernel compares *w with val and queues the thread atomically */
    while (atomic_load(w) == val) syscall(SYS_futex, (void *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    pthread_cond_t *c = w == &p->left ? &p->done : &p->wake;
    pthread_mutex_lock(&p->lock);
    while (atomic_load(w) == val) pthread_cond_wait(c, &p->lock);
    pthread_mutex_unlock(&p->lock);
#endif
    atomic_fetch_sub(sleepers, 1);
}

/* Wake every thread asleep on w, after a store to *w. */
static void wake_all(dsv3_pool *p, atomic_uint *w, atomic_int *sleepers) {
    if (atomic_load(sleepers) == 0) return;
#if POOL_FUTEX
    (void)p;
    syscall(SYS_futex, (void *)w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(w == &p->left ? &p->done : &p->wake);
    pthread_mutex_unlock(&p->lock);
#endif
}

/* Claim and run parts of the current op until none is left; returns how
 * many this thread ran. A claim (a successful compare-and-swap of work)
 * keeps the op from finishing, so fn and ctx read after it are that op's. */
static int run_parts(dsv3_pool *p) {
    int ran = 0;
    uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
    while ((uint32_t)w < (uint32_t)p->n) {
        if (!atomic_compare_exchange_weak_explicit(&p->work, &w, w + 1, memory_order_acquire, memory_order_acquire))
            continue; /* w holds the value now there */
        p->fn(p->ctx, (int)(uint32_t)w, p->n);
        ran++;
        if (atomic_fetch_sub(&p->left, 1) == 1) wake_all(p, &p->left, &p->done_sleeper);
        w = atomic_load_explicit(&p->work, memory_order_acquire);
    }
    return ran;
}

static void *worker(void *arg) {
    dsv3_pool *p = arg;
    unsigned seen = 0;
    uint64_t budget = SPIN_NS;
    for (;;) {
        const uint64_t before = budget;
        unsigned g = spin_wait(&p->generation, seen, 0, &budget);
        if (g == seen) { /* an idle gap longer than the budget is no sign of contention */
            sleep_while_eq(p, &p->generation, seen, &p->idle_sleepers);
            g = atomic_load(&p->generation);
        }
        seen = g;
        if (atomic_load(&p->quit)) return NULL;
        if (!run_parts(p)) budget /= 2; /* too late to help: spinning did not pay */
        else if (budget == before) budget = budget_grow(budget);
    }
}

/* Make op p->op visible to the workers and wake the sleeping ones. */
static void publish(dsv3_pool *p) {
    atomic_store(&p->generation, p->op);
    wake_all(p, &p->generation, &p->idle_sleepers);
}

dsv3_pool *dsv3_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    dsv3_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    p->budget = SPIN_NS;
    pthread_mutex_init(&p->busy, NULL);
#if !POOL_FUTEX
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
#endif
    /* no part to claim until the first op */
    atomic_store(&p->work, (uint64_t)(uint32_t)n_threads);
    if (n_threads == 1) return p;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) { dsv3_pool_free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
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
        p->op++;
        publish(p);
        for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
        free(p->threads);
    }
#if !POOL_FUTEX
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
#endif
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
    p->op++;
    atomic_store_explicit(&p->left, (unsigned)p->n, memory_order_relaxed);
    /* release: a claim that reads this sees fn, ctx and left */
    atomic_store_explicit(&p->work, (uint64_t)p->op << 32, memory_order_release);
    publish(p);
    run_parts(p);
    /* every part is claimed; wait for those still being computed */
    const uint64_t before = p->budget;
    const uint64_t t0 = now_ns();
    unsigned v = spin_wait(&p->left, 0, 1, &p->budget);
    if (!v) {
        if (p->budget == before) p->budget = budget_grow(before);
        pthread_mutex_unlock(&p->busy);
        return;
    }
    /* left only falls, and its last fall wakes the caller */
    for (; v; v = atomic_load(&p->left)) sleep_while_eq(p, &p->left, v, &p->done_sleeper);
    if (p->budget == before) /* a short wait: spinning would have paid */
        p->budget = now_ns() - t0 <= SPIN_HOT_NS ? budget_grow(before) : before / 2;
    pthread_mutex_unlock(&p->busy);
}
