/* vk_backend.c -- the "vulkan" backend's op table. Every entry takes the
 * backend's lock for the op's duration: sessions' threads may call ops
 * concurrently, and they all record into one command buffer. After a
 * failure (the sticky error) ops are skipped until lib/ reads it through
 * status(). */
#include "vk_internal.h"

#define LOCK(be) pthread_mutex_lock(&((dsv3_vk *)(be))->lock)
#define UNLOCK(be) pthread_mutex_unlock(&((dsv3_vk *)(be))->lock)
/* Run an op unless a failure is pending. */
#define OP(be, call)                                                                                            \
    do {                                                                                                       \
        LOCK(be);                                                                                              \
        if (!((dsv3_vk *)(be))->err_status) call;                                                              \
        UNLOCK(be);                                                                                            \
    } while (0)

static int vt_upload_weight(dsv3_backend *be, dsv3_weight *w, dsv3_err *e) {
    LOCK(be);
    int rc = dsv3_vk_weights_record((dsv3_vk *)be, w, e);
    UNLOCK(be);
    return rc;
}

static int vt_load_done(dsv3_backend *be, dsv3_err *e) {
    LOCK(be);
    int rc = dsv3_vk_weights_load((dsv3_vk *)be, e);
    UNLOCK(be);
    return rc;
}

static void *vt_alloc(dsv3_backend *be, size_t bytes) {
    LOCK(be);
    void *p = dsv3_vk_alloc((dsv3_vk *)be, bytes);
    UNLOCK(be);
    return p;
}

static void vt_release(dsv3_backend *be, void *p) {
    LOCK(be);
    dsv3_vk_release((dsv3_vk *)be, p);
    UNLOCK(be);
}

static void vt_to_host(dsv3_backend *be, void *dst, const void *src, size_t bytes) {
    OP(be, dsv3_vk_to_host_vt((dsv3_vk *)be, dst, src, bytes));
}

static void vt_from_host(dsv3_backend *be, void *dst, const void *src, size_t bytes) {
    OP(be, dsv3_vk_from_host_vt((dsv3_vk *)be, dst, src, bytes));
}

static void vt_copy(dsv3_backend *be, void *dst, const void *src, size_t bytes) {
    OP(be, dsv3_vk_copy((dsv3_vk *)be, dst, src, bytes));
}

static void vt_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n) {
    OP(be, dsv3_vk_matmul(be, w, x, y, n));
}

static void vt_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n,
                       int dim, float eps) {
    OP(be, dsv3_vk_rmsnorm(be, x, ldx, g, y, ldy, n, dim, eps));
}

static void vt_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y) {
    OP(be, dsv3_vk_embed(be, table, ids, n, y));
}

static void vt_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
                    const float *cos_t, const float *sin_t) {
    OP(be, dsv3_vk_rope(be, x, n, ld, n_heads, head_stride, offset, dr, cos_t, sin_t));
}

static void vt_mla_attention(dsv3_backend *be, const dsv3_mla_args *a) { OP(be, dsv3_vk_mla_attention(be, a)); }

static void vt_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count) {
    OP(be, dsv3_vk_swiglu(be, g, u, out, count));
}

static void vt_add(dsv3_backend *be, float *y, const float *x, size_t count) { OP(be, dsv3_vk_add(be, y, x, count)); }

static void vt_moe_experts(dsv3_backend *be, const dsv3_moe_args *a) { OP(be, dsv3_vk_moe_experts(be, a)); }

static void vt_store_kv(dsv3_backend *be, int kv_type, const float *x, int ldx, void *dst, size_t row_bytes, int n,
                        int kvl) {
    OP(be, dsv3_vk_store_kv(be, kv_type, x, ldx, dst, row_bytes, n, kvl));
}

static void vt_route(dsv3_backend *be, const dsv3_route_args *a) { OP(be, dsv3_vk_route(be, a)); }

static int vt_moe_prepare(dsv3_backend *be, const dsv3_moe_args *a) {
    LOCK(be);
    int host = dsv3_vk_moe_prepare(be, a);
    UNLOCK(be);
    return host;
}

static int vt_status(dsv3_backend *be, dsv3_err *e) {
    LOCK(be);
    int rc = dsv3_vk_take_status((dsv3_vk *)be, e);
    UNLOCK(be);
    return rc;
}

static int vt_placement(dsv3_backend *be, char *buf, size_t size) {
    LOCK(be);
    int n = dsv3_vk_weights_placement((dsv3_vk *)be, buf, size);
    UNLOCK(be);
    return n;
}

static const char *vt_device_name(dsv3_backend *be) { return ((dsv3_vk *)be)->info->name; }

const dsv3_backend_ops dsv3_backend_vulkan = {
    .version = DSV3_BACKEND_V5,
    .name = "vulkan",
    .available = dsv3_vk_available,
    .priority = 100, /* above every CPU backend, but "auto" asks auto_ok() */
    .init = dsv3_vk_init,
    .free = dsv3_vk_free,
    .upload_weight = vt_upload_weight,
    .alloc = vt_alloc,
    .release = vt_release,
    .to_host = vt_to_host,
    .from_host = vt_from_host,
    .copy = vt_copy,
    .matmul = vt_matmul,
    .rmsnorm = vt_rmsnorm,
    .embed = vt_embed,
    .rope = vt_rope,
    .mla_attention = vt_mla_attention,
    .swiglu = vt_swiglu,
    .add = vt_add,
    .moe_experts = vt_moe_experts,
    .store_kv = vt_store_kv,
    .describe = dsv3_vk_describe,
    .auto_ok = dsv3_vk_auto_ok,
    .load_done = vt_load_done,
    .status = vt_status,
    .placement = vt_placement,
    .device_name = vt_device_name,
    .route = vt_route,
    .moe_prepare = vt_moe_prepare,
    .rank_i8 = dsv3_cpu_rank_i8, /* the draft head is in host memory */
};
