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
#include <sys/mman.h>

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

typedef struct packed_buf {
    void *p;
    size_t bytes;
} packed_buf;

struct dsv3_backend {
    dsv3_pool *pool;
    pthread_mutex_t lock;
    scratch_slot slot[N_SLOTS];
    avx2_rows_q8_fn q8; /* integer-path kernels (avx2_rows_q8 unless replaced) */
    avx2_rows_f32_fn fp8; /* FP8 decode kernels (avx2_rows_fp8s unless replaced) */
    int repack;         /* dsv3_backend_params.repack */
    packed_buf *packed; /* the packed copies made by upload_weight (bytes 0:
                           from the heap, else mapped; see packed_alloc) */
    size_t n_packed, cap_packed;
};

dsv3_pool *avx2_pool(dsv3_backend *be) { return be ? be->pool : NULL; }

avx2_rows_q8_fn avx2_q8_kernel(dsv3_backend *be) { return be && be->q8 ? be->q8 : avx2_rows_q8; }

void avx2_set_q8_kernel(dsv3_backend *be, avx2_rows_q8_fn fn) {
    if (be) be->q8 = fn;
}

avx2_rows_f32_fn avx2_fp8_kernel(dsv3_backend *be) { return be && be->fp8 ? be->fp8 : avx2_rows_fp8s; }

void avx2_set_fp8_kernel(dsv3_backend *be, avx2_rows_f32_fn fn) {
    if (be) be->fp8 = fn;
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
    be->repack = p ? p->repack : 0;
    *out = be;
    return DSV3_OK;
}

void avx2_free(dsv3_backend *be) {
    if (!be) return;
    dsv3_pool_free(be->pool);
    for (int i = 0; i < N_SLOTS; i++) free(be->slot[i].p);
    for (size_t i = 0; i < be->n_packed; i++) {
        if (be->packed[i].bytes) munmap(be->packed[i].p, be->packed[i].bytes);
        else free(be->packed[i].p);
    }
    free(be->packed);
    pthread_mutex_destroy(&be->lock);
    free(be);
}

/* A packed copy's memory. From 8 MiB: its own mapping, in 2 MiB huge
 * pages where the kernel gives them (transparent huge pages in "madvise"
 * mode, Debian's default): fewer TLB misses on a stream of gigabytes (a
 * read test from DRAM, one core: 36.4 against 34.4 GB/s); *bytes is
 * rounded up to whole huge pages. Smaller: the heap (*bytes = 0). */
static void *packed_alloc(size_t *bytes) {
    const size_t huge = (size_t)2 << 20;
    if (*bytes < 4 * huge) {
        void *p = alloc64(*bytes);
        *bytes = 0;
        return p;
    }
    *bytes = (*bytes + huge - 1) / huge * huge;
    void *p = mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, *bytes, MADV_HUGEPAGE); /* a hint: without it, small pages */
#endif
    return p;
}

typedef struct pack_job {
    const dsv3_weight *w;
    void *dst;
} pack_job;

static void pack_part(void *ctx, int ith, int nth) {
    const pack_job *j = ctx;
    long b, e;
    dsv3_split8((long)j->w->rows, ith, nth, &b, &e);
    if (b < e) avx2_pack_rows8(j->w, j->dst, b, e);
}

/* The CPU computes straight from the mapped file; with repack, the
 * integer kernels read a packed copy of the weights that have one (pack.c),
 * made by the pool's threads, and every other reader keeps w->data. The
 * embedding table is read a row at a time: never packed. */
int avx2_upload_weight(dsv3_backend *be, dsv3_weight *w, dsv3_err *e) {
    w->device = NULL;
    w->packed = NULL;
    if (!be || !be->repack || w->role == DSV3_ROLE_EMBED || !avx2_pack_rows8_ok(w)) return DSV3_OK;
    if (be->n_packed == be->cap_packed) {
        const size_t cap = be->cap_packed ? 2 * be->cap_packed : 256;
        packed_buf *np = realloc(be->packed, cap * sizeof *np);
        if (!np) return err_set(e, DSV3_ERR_NO_MEMORY, "repack: out of memory (a list of %zu copies)", cap);
        be->packed = np;
        be->cap_packed = cap;
    }
    const size_t need = avx2_pack_rows8_bytes(w);
    size_t bytes = need;
    void *p = packed_alloc(&bytes);
    if (!p)
        return err_set(e, DSV3_ERR_NO_MEMORY,
                       "repack: out of memory for the packed copy of a %s matrix of %lld x %lld (%zu bytes); "
                       "load with repack = 0 to use the weights in place",
                       dsv3_wtype_name(w->type), (long long)w->rows, (long long)w->cols, need);
    pack_job j = {w, p};
    dsv3_pool_run(be->pool, pack_part, &j);
    be->packed[be->n_packed++] = (packed_buf){p, bytes};
    w->packed = p;
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
