/* vk_op_elementwise.c -- add, swiglu, rmsnorm and rope on the device.
 *
 * Each is one dispatch over device addresses (push constants only). The
 * arithmetic follows the scalar backend's: no fused multiply-add where it
 * has none (`precise` in the shaders), RMSNorm's sum of squares in a fixed
 * order per row (a workgroup per row), so batch == token by token. */
#include <string.h>

#include "dsv3.h"
#include "quants/quants.h"
#include "vk.h"
#include "vk_spirv/add.h"
#include "vk_spirv/rmsnorm.h"
#include "vk_spirv/rope.h"
#include "vk_spirv/swiglu.h"

#define ELT_WG 256u  /* invocations per group of the one-element shaders */
#define NORM_WG 256u /* a power of two: rmsnorm's reduction tree halves it */
#define ROPE_WG 64u

/* Groups for `count` items at `per_group` each; 0 (and the sticky error)
 * when it passes what one dispatch can address. */
static uint32_t groups_for(dsv3_vk *vk, uint64_t count, uint32_t per_group, const char *op) {
    uint64_t g = (count + per_group - 1) / per_group;
    if (g > 0xffffffffu) {
        dsv3_vk_fail(vk, DSV3_ERR_UNSUPPORTED, "vulkan %s: %llu elements are too many for one dispatch", op,
                     (unsigned long long)count);
        return 0;
    }
    return (uint32_t)g;
}

void dsv3_vk_add(dsv3_backend *be, float *y, const float *x, size_t count) {
    dsv3_vk *vk = (dsv3_vk *)be;
    if (!count || dsv3_vk_failed(vk)) return;
    struct {
        uint64_t y, x, count;
    } pc = {dsv3_vk_addr(vk, y), dsv3_vk_addr(vk, x), count};
    uint32_t g = groups_for(vk, count, ELT_WG, "add");
    if (!pc.y || !pc.x || !g) return;
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, dsv3_spv_add, sizeof dsv3_spv_add, ELT_WG, 0);
    if (p) dsv3_vk_dispatch(vk, p, &pc, sizeof pc, g, 1, 1);
}

void dsv3_vk_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count) {
    dsv3_vk *vk = (dsv3_vk *)be;
    if (!count || dsv3_vk_failed(vk)) return;
    struct {
        uint64_t g, u, o, count;
    } pc = {dsv3_vk_addr(vk, g), dsv3_vk_addr(vk, u), dsv3_vk_addr(vk, out), count};
    uint32_t ng = groups_for(vk, count, ELT_WG, "swiglu");
    if (!pc.g || !pc.u || !pc.o || !ng) return;
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, dsv3_spv_swiglu, sizeof dsv3_spv_swiglu, ELT_WG, 0);
    if (p) dsv3_vk_dispatch(vk, p, &pc, sizeof pc, ng, 1, 1);
}

/* The gains' device address and the type the shader reads them as (F32,
 * F16, BF16). Gains on the device in one of those types are used where
 * they are; others (left on the host, or a block type) are turned into
 * f32 on the host and go through the upload ring: `dim` values, small. */
static uint64_t gains_addr(dsv3_vk *vk, const dsv3_weight *g, int dim, uint32_t *type) {
    const int t = g->type;
    const int plain = t == DSV3_W_F32 || t == DSV3_W_F16 || t == DSV3_W_BF16;
    if (plain && g->device) {
        *type = (uint32_t)t;
        return ((const dsv3_vk_weight *)g->device)->addr;
    }
    if (plain) {
        *type = (uint32_t)t;
        return dsv3_vk_upload(vk, g->data, (size_t)dim * dsv3_wtype_size(t));
    }
    if (!dsv3_quantize_supported(t) || dim % dsv3_wtype_block(t) != 0) {
        dsv3_vk_fail(vk, DSV3_ERR_UNSUPPORTED, "vulkan rmsnorm: gains of type %s are not supported",
                     dsv3_wtype_name(t));
        return 0;
    }
    float *f = dsv3_vk_host_scratch(vk, 3, sizeof(float) * (size_t)dim);
    if (!f) {
        dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "vulkan rmsnorm: no host memory for %d gains", dim);
        return 0;
    }
    dsv3_dequantize_row(t, g->data, f, dim);
    *type = DSV3_W_F32;
    return dsv3_vk_upload(vk, f, sizeof(float) * (size_t)dim);
}

void dsv3_vk_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n,
                     int dim, float eps) {
    dsv3_vk *vk = (dsv3_vk *)be;
    if (n <= 0 || dim <= 0 || dsv3_vk_failed(vk)) return;
    struct {
        uint64_t x, y, g;
        uint32_t ldx, ldy, n, dim;
        float eps;
        uint32_t gtype;
    } pc;
    memset(&pc, 0, sizeof pc);
    pc.x = dsv3_vk_addr(vk, x);
    pc.y = dsv3_vk_addr(vk, y);
    pc.g = gains_addr(vk, g, dim, &pc.gtype);
    pc.ldx = (uint32_t)ldx;
    pc.ldy = (uint32_t)ldy;
    pc.n = (uint32_t)n;
    pc.dim = (uint32_t)dim;
    pc.eps = eps;
    if (!pc.x || !pc.y || !pc.g) return;
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, dsv3_spv_rmsnorm, sizeof dsv3_spv_rmsnorm, NORM_WG, 0);
    if (p) dsv3_vk_dispatch(vk, p, &pc, sizeof pc, (uint32_t)n, 1, 1);
}

void dsv3_vk_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
                  const float *cos_t, const float *sin_t) {
    dsv3_vk *vk = (dsv3_vk *)be;
    const int half = dr / 2;
    if (n <= 0 || n_heads <= 0 || half <= 0 || dsv3_vk_failed(vk)) return;
    const size_t tab = sizeof(float) * (size_t)n * (size_t)half;
    struct {
        uint64_t x, cs, sn;
        uint32_t n, ld, n_heads, head_stride, offset, half_dr;
    } pc = {dsv3_vk_addr(vk, x),      dsv3_vk_upload(vk, cos_t, tab), dsv3_vk_upload(vk, sin_t, tab),
            (uint32_t)n,              (uint32_t)ld,                   (uint32_t)n_heads,
            (uint32_t)head_stride,    (uint32_t)offset,               (uint32_t)half};
    uint32_t g = groups_for(vk, (uint64_t)n * (uint64_t)n_heads * (uint64_t)half, ROPE_WG, "rope");
    if (!pc.x || !pc.cs || !pc.sn || !g) return;
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, dsv3_spv_rope, sizeof dsv3_spv_rope, ROPE_WG, 0);
    if (p) dsv3_vk_dispatch(vk, p, &pc, sizeof pc, g, 1, 1);
}
