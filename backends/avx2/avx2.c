/* avx2.c -- the avx2 backend: availability, lifetime, host memory, op table.
 *
 * This file is compiled for baseline x86-64 (no -mavx2): available() must
 * run, and say no, on a CPU without AVX2. The ops live in the other files
 * of this directory, compiled with -mavx2 -mfma -mf16c. */
#if defined(DSV3_HAVE_AVX2) /* set by CMake with the kernel files' flags */
#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "avx2.h"
#include "cpu/kv.h"
#include "dsv3.h"

#define N_SLOTS 8

/* Buffers reused across ops (quantized activations); a slot is taken while
 * an op uses it, so concurrent sessions never share one. */
typedef struct scratch_slot {
    void *p;
    size_t cap;
    int busy;
} scratch_slot;

struct dsv3_backend {
    dsv3_pool *pool;
    pthread_mutex_t lock;
    scratch_slot slot[N_SLOTS];
    avx2_rows_q8_fn q8; /* integer-path kernels (avx2_rows_q8 unless replaced) */
};

dsv3_pool *avx2_pool(dsv3_backend *be) { return be ? be->pool : NULL; }

avx2_rows_q8_fn avx2_q8_kernel(dsv3_backend *be) { return be && be->q8 ? be->q8 : avx2_rows_q8; }

void avx2_set_q8_kernel(dsv3_backend *be, avx2_rows_q8_fn fn) {
    if (be) be->q8 = fn;
}

static void *alloc64(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
    return p;
}

void *avx2_scratch_get(dsv3_backend *be, size_t bytes) {
    if (!be) return alloc64(bytes);
    void *p = NULL;
    pthread_mutex_lock(&be->lock);
    int fit = -1, spare = -1;
    for (int i = 0; i < N_SLOTS; i++) {
        if (be->slot[i].busy) continue;
        if (be->slot[i].p && be->slot[i].cap >= bytes) { fit = i; break; }
        if (spare < 0 || be->slot[i].cap < be->slot[spare].cap) spare = i;
    }
    if (fit < 0 && spare >= 0) { /* grow the smallest free slot */
        free(be->slot[spare].p);
        be->slot[spare].p = alloc64(bytes);
        be->slot[spare].cap = be->slot[spare].p ? bytes : 0;
        if (be->slot[spare].p) fit = spare;
    }
    if (fit >= 0) {
        be->slot[fit].busy = 1;
        p = be->slot[fit].p;
    }
    pthread_mutex_unlock(&be->lock);
    return p ? p : (fit < 0 && spare < 0 ? alloc64(bytes) : NULL); /* all slots busy: a private buffer */
}

void avx2_scratch_put(dsv3_backend *be, void *p) {
    if (!p) return;
    if (!be) { free(p); return; }
    int found = 0;
    pthread_mutex_lock(&be->lock);
    for (int i = 0; i < N_SLOTS; i++)
        if (be->slot[i].p == p) { be->slot[i].busy = 0; found = 1; }
    pthread_mutex_unlock(&be->lock);
    if (!found) free(p);
}

/* AVX2, FMA and F16C instructions, and an OS that saves the YMM registers
 * (OSXSAVE set and XCR0 enabling the SSE and AVX state). */
int avx2_cpu_ok(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned fma = 1u << 12, osxsave = 1u << 27, avx = 1u << 28, f16c = 1u << 29;
    if ((c & (fma | osxsave | avx | f16c)) != (fma | osxsave | avx | f16c)) return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 6u) != 6u) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & (1u << 5))) return 0; /* AVX2 */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int avx2_init(const dsv3_backend_params *p, dsv3_backend **out, dsv3_err *e) {
    dsv3_backend *be = calloc(1, sizeof *be);
    if (!be) return err_set(e, DSV3_ERR_NO_MEMORY, "avx2 backend: out of memory");
    if (pthread_mutex_init(&be->lock, NULL) != 0) {
        free(be);
        return err_set(e, DSV3_ERR_BACKEND, "avx2 backend: cannot create a mutex");
    }
    be->pool = dsv3_pool_create(p && p->n_threads > 0 ? p->n_threads : 1);
    if (!be->pool) {
        pthread_mutex_destroy(&be->lock);
        free(be);
        return err_set(e, DSV3_ERR_BACKEND, "avx2 backend: cannot start %d threads", p ? p->n_threads : 1);
    }
    *out = be;
    return DSV3_OK;
}

void avx2_free(dsv3_backend *be) {
    if (!be) return;
    dsv3_pool_free(be->pool);
    for (int i = 0; i < N_SLOTS; i++) free(be->slot[i].p);
    pthread_mutex_destroy(&be->lock);
    free(be);
}

/* The CPU computes straight from the mapped file: nothing to upload. */
int avx2_upload_weight(dsv3_backend *be, dsv3_weight *w, dsv3_err *e) {
    (void)be; (void)e;
    w->device = NULL;
    return DSV3_OK;
}

void *avx2_alloc(dsv3_backend *be, size_t bytes) {
    (void)be;
    return calloc(1, bytes ? bytes : 1);
}

void avx2_release(dsv3_backend *be, void *p) { (void)be; free(p); }

void avx2_memcpy(dsv3_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

const dsv3_backend_ops dsv3_backend_avx2 = {
    .version = DSV3_BACKEND_V5,
    .name = "avx2",
    .available = avx2_cpu_ok,
    .priority = 10,
    .init = avx2_init,
    AVX2_SHARED_OPS,
};

#else
typedef int dsv3_avx2_unused; /* ISO C: no empty translation unit */
#endif
