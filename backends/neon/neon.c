/* neon.c -- the AArch64 NEON backend: availability, lifetime, host memory,
 * op table. Chosen by "auto" over the scalar backend (priority 10). The
 * dot-product kernels (matmul_quant_dot.c, compiled for ARMv8.2-A+dotprod)
 * are used only when the CPU reports the extension at run time, so the
 * library still runs on plain ARMv8.0. */
#include <stdlib.h>
#include <string.h>

#include "cpu/kv.h"
#include "dsv3.h"
#include "neon.h"

#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

struct dsv3_backend {
    dsv3_pool *pool;
    int dotprod;
};

dsv3_pool *neon_pool(dsv3_backend *be) { return be ? be->pool : NULL; }

int neon_dotprod(const dsv3_backend *be) { return be ? be->dotprod : 0; }

static int little_endian(void) {
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
    return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
#else
    return 1;
#endif
}

static int neon_available(void) {
    if (!little_endian()) return 0; /* the kernels load little-endian fields as vectors */
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#else
    return 1; /* Advanced SIMD is mandatory in the AArch64 ABIs */
#endif
}

int neon_cpu_dotprod(void) {
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    return 1; /* every Apple arm64 CPU has FEAT_DotProd */
#else
    return 0;
#endif
}

int neon_set_dotprod(dsv3_backend *be, int on) {
    if (!be) return 0;
    be->dotprod = on && neon_cpu_dotprod();
    return be->dotprod;
}

static int neon_init(const dsv3_backend_params *p, dsv3_backend **out, dsv3_err *e) {
    dsv3_backend *be = calloc(1, sizeof *be);
    if (!be) return err_set(e, DSV3_ERR_NO_MEMORY, "neon backend: out of memory");
    be->pool = dsv3_pool_create(p && p->n_threads > 0 ? p->n_threads : 1);
    if (!be->pool) {
        free(be);
        return err_set(e, DSV3_ERR_BACKEND, "neon backend: cannot start %d threads", p ? p->n_threads : 1);
    }
    be->dotprod = neon_cpu_dotprod();
    *out = be;
    return DSV3_OK;
}

static void neon_free(dsv3_backend *be) {
    if (!be) return;
    dsv3_pool_free(be->pool);
    free(be);
}

/* The CPU computes straight from the mapped file: nothing to upload. */
static int neon_upload_weight(dsv3_backend *be, dsv3_weight *w, dsv3_err *e) {
    (void)be; (void)e;
    w->device = NULL;
    return DSV3_OK;
}

static void *neon_alloc(dsv3_backend *be, size_t bytes) {
    (void)be;
    return calloc(1, bytes ? bytes : 1);
}

static void neon_release(dsv3_backend *be, void *p) { (void)be; free(p); }

static void neon_memcpy(dsv3_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

const dsv3_backend_ops dsv3_backend_neon = {
    .version = DSV3_BACKEND_V5,
    .name = "neon",
    .available = neon_available,
    .priority = 10,
    .init = neon_init,
    .free = neon_free,
    .upload_weight = neon_upload_weight,
    .alloc = neon_alloc,
    .release = neon_release,
    .to_host = neon_memcpy,
    .from_host = neon_memcpy,
    .copy = neon_memcpy,
    .matmul = neon_matmul,
    .rmsnorm = neon_rmsnorm,
    .embed = neon_embed,
    .rope = neon_rope,
    .mla_attention = neon_mla_attention,
    .swiglu = neon_swiglu,
    .add = neon_add,
    .moe_experts = neon_moe_experts,
    .store_kv = dsv3_cpu_store_kv,
    .route = dsv3_cpu_route,
    .rank_i8 = dsv3_cpu_rank_i8,
};
