/* scalar.c -- the scalar backend: lifetime, host memory, op table. */
#include <stdlib.h>
#include <string.h>

#include "cpu/kv.h"
#include "dsv3.h"
#include "scalar.h"

struct dsv3_backend {
    dsv3_pool *pool;
};

dsv3_pool *scalar_pool(dsv3_backend *be) { return be ? be->pool : NULL; }

static int scalar_available(void) { return 1; }

static int scalar_init(const dsv3_backend_params *p, dsv3_backend **out, dsv3_err *e) {
    dsv3_backend *be = calloc(1, sizeof *be);
    if (!be) return err_set(e, DSV3_ERR_NO_MEMORY, "scalar backend: out of memory");
    be->pool = dsv3_pool_create(p && p->n_threads > 0 ? p->n_threads : 1);
    if (!be->pool) {
        free(be);
        return err_set(e, DSV3_ERR_BACKEND, "scalar backend: cannot start %d threads", p ? p->n_threads : 1);
    }
    *out = be;
    return DSV3_OK;
}

static void scalar_free(dsv3_backend *be) {
    if (!be) return;
    dsv3_pool_free(be->pool);
    free(be);
}

/* The CPU computes straight from the mapped file: nothing to upload. */
static int scalar_upload_weight(dsv3_backend *be, dsv3_weight *w, dsv3_err *e) {
    (void)be; (void)e;
    w->device = NULL;
    return DSV3_OK;
}

static void *scalar_alloc(dsv3_backend *be, size_t bytes) {
    (void)be;
    return calloc(1, bytes ? bytes : 1);
}

static void scalar_release(dsv3_backend *be, void *p) { (void)be; free(p); }

static void scalar_memcpy(dsv3_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

const dsv3_backend_ops dsv3_backend_scalar = {
    .version = DSV3_BACKEND_V5,
    .name = "scalar",
    .available = scalar_available,
    .priority = 0,
    .init = scalar_init,
    .free = scalar_free,
    .upload_weight = scalar_upload_weight,
    .alloc = scalar_alloc,
    .release = scalar_release,
    .to_host = scalar_memcpy,
    .from_host = scalar_memcpy,
    .copy = scalar_memcpy,
    .matmul = scalar_matmul,
    .rmsnorm = scalar_rmsnorm,
    .embed = scalar_embed,
    .rope = scalar_rope,
    .mla_attention = scalar_mla_attention,
    .swiglu = scalar_swiglu,
    .add = scalar_add,
    .moe_experts = scalar_moe_experts,
    .store_kv = dsv3_cpu_store_kv,
    .route = dsv3_cpu_route,
    .rank_i8 = dsv3_cpu_rank_i8,
};
