/* vk_op_matmul.c -- y[t][r] = sum_c W[r][c] * x[t][c] on the device for
 * every stored weight type, and the gather/scatter/scale/accumulate form
 * the MoE op uses.
 *
 * One shader per family of types (shaders/matmul_<family>.comp), the type
 * a specialization constant. Weights are read as stored and decoded in the
 * shader; activations stay f32 and accumulation is f32 (fma), so the error
 * against the CPU backends is rounding only. The summation order of an
 * output depends on the shape alone, never on n or on a token's place in
 * the batch (shaders/matmul_core.glsl), so a batch equals token by token
 * bit for bit.
 *
 * The i-quant grids (IQ1-IQ3) go with each dispatch (vk_iq_grid.c).
 *
 * A weight left on the host (w->device == NULL) is multiplied by the CPU
 * helper backend: x is read back, y written after. */
#include <stdint.h>
#include <string.h>

#include "dsv3.h"
#include "vk.h"
#include "vk_matmul.h"
#include "vk_spirv/matmul_float.h"
#include "vk_spirv/matmul_fp8.h"
#include "vk_spirv/matmul_iq1.h"
#include "vk_spirv/matmul_iq2.h"
#include "vk_spirv/matmul_iq3.h"
#include "vk_spirv/matmul_iq4.h"
#include "vk_spirv/matmul_k.h"
#include "vk_spirv/matmul_legacy.h"

/* The shaders name the types by these numbers (shaders/dq_io.glsl). */
_Static_assert(DSV3_W_F32 == 0 && DSV3_W_F8_E4M3 == 3 && DSV3_W_Q8_0 == 4 && DSV3_W_Q5_1 == 8 &&
                   DSV3_W_Q2_K == 9 && DSV3_W_Q6_K == 13 && DSV3_W_IQ4_NL == 14 && DSV3_W_IQ1_S == 16 &&
                   DSV3_W_IQ2_XXS == 18 && DSV3_W_IQ3_S == 22 && DSV3_W_COUNT == 23,
               "enum dsv3_wtype no longer matches the T_* numbers of shaders/dq_io.glsl");
_Static_assert(sizeof(dsv3_vk_mm_pc) == 96, "push constants of shaders/mm_io.glsl");

static void family(int type, const uint32_t **spv, size_t *bytes) {
#define FAM(name)                  \
    do {                           \
        *spv = dsv3_spv_##name;    \
        *bytes = sizeof dsv3_spv_##name; \
    } while (0)
    switch (type) {
    case DSV3_W_F32:
    case DSV3_W_F16:
    case DSV3_W_BF16: FAM(matmul_float); break;
    case DSV3_W_F8_E4M3: FAM(matmul_fp8); break;
    case DSV3_W_Q8_0:
    case DSV3_W_Q4_0:
    case DSV3_W_Q4_1:
    case DSV3_W_Q5_0:
    case DSV3_W_Q5_1: FAM(matmul_legacy); break;
    case DSV3_W_Q2_K:
    case DSV3_W_Q3_K:
    case DSV3_W_Q4_K:
    case DSV3_W_Q5_K:
    case DSV3_W_Q6_K: FAM(matmul_k); break;
    case DSV3_W_IQ4_NL:
    case DSV3_W_IQ4_XS: FAM(matmul_iq4); break;
    case DSV3_W_IQ1_S:
    case DSV3_W_IQ1_M: FAM(matmul_iq1); break;
    case DSV3_W_IQ2_XXS:
    case DSV3_W_IQ2_XS:
    case DSV3_W_IQ2_S: FAM(matmul_iq2); break;
    default: FAM(matmul_iq3); break; /* IQ3_XXS, IQ3_S (type checked by the caller) */
    }
#undef FAM
}

int dsv3_vk_mm_weight(dsv3_vk *vk, const dsv3_weight *w, const char *op, dsv3_vk_mm_pc *pc) {
    const dsv3_vk_weight *d = w ? (const dsv3_vk_weight *)w->device : NULL;
    if (!d) {
        dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "%s: no weight on the device", op);
        return -1;
    }
    if (w->type < 0 || w->type >= DSV3_W_COUNT) {
        dsv3_vk_fail(vk, DSV3_ERR_UNSUPPORTED, "%s: unknown weight type %d", op, w->type);
        return -1;
    }
    const char *tn = dsv3_wtype_name(w->type);
    size_t row_bytes = dsv3_wtype_row_bytes(w->type, w->cols);
    /* 32-bit shader indices: rows, columns and a row's bytes must fit. */
    if (w->rows <= 0 || w->cols <= 0 || w->rows > UINT32_MAX || w->cols > UINT32_MAX / 4 || row_bytes == 0 ||
        w->row_stride < row_bytes || w->row_stride > UINT32_MAX) {
        dsv3_vk_fail(vk, DSV3_ERR_BAD_SHAPE, "%s: %s weight [%lld][%lld] with row stride %zu is not supported",
                     op, tn, (long long)w->rows, (long long)w->cols, w->row_stride);
        return -1;
    }
    /* Block fields are read as 16-bit words (shaders/dq_io.glsl). */
    if (w->type != DSV3_W_F8_E4M3 && ((d->addr | w->row_stride) & 1u)) {
        dsv3_vk_fail(vk, DSV3_ERR_UNSUPPORTED, "%s: %s weight rows at odd addresses", op, tn);
        return -1;
    }
    if (w->type == DSV3_W_F32 && ((d->addr | w->row_stride) & 3u)) {
        dsv3_vk_fail(vk, DSV3_ERR_UNSUPPORTED, "%s: f32 weight rows not 4-byte aligned", op);
        return -1;
    }
    memset(pc, 0, sizeof *pc);
    pc->w = d->addr;
    pc->rows = (uint32_t)w->rows;
    pc->cols = (uint32_t)w->cols;
    pc->row_stride = (uint32_t)w->row_stride;
    if (w->type == DSV3_W_F8_E4M3) {
        if (!d->scale_addr || w->block_r <= 0 || w->block_c <= 0 || w->scale_cols <= 0 ||
            w->scale_cols > UINT32_MAX || w->scale_cols < (w->cols + w->block_c - 1) / w->block_c) {
            dsv3_vk_fail(vk, DSV3_ERR_BAD_SHAPE,
                         "%s: fp8 weight [%lld][%lld] without valid block scales (block %dx%d, %lld scale columns)",
                         op, (long long)w->rows, (long long)w->cols, w->block_r, w->block_c, (long long)w->scale_cols);
            return -1;
        }
        pc->wscale = d->scale_addr;
        pc->block_r = (uint32_t)w->block_r;
        pc->block_c = (uint32_t)w->block_c;
        pc->scale_cols = (uint32_t)w->scale_cols;
    }
    if (w->type >= DSV3_W_IQ1_S && w->type <= DSV3_W_IQ3_S) {
        pc->wscale = dsv3_vk_iq_grid(vk, w->type);
        if (!pc->wscale) return -1; /* the runtime set the error */
    }
    return 0;
}

void dsv3_vk_mm_dispatch(dsv3_vk *vk, int type, const dsv3_vk_mm_pc *pc, uint64_t groups) {
    const uint32_t *spv;
    size_t bytes;
    if (groups == 0) return;
    if (groups > UINT32_MAX) {
        dsv3_vk_fail(vk, DSV3_ERR_BAD_SHAPE, "matmul: %llu workgroups", (unsigned long long)groups);
        return;
    }
    family(type, &spv, &bytes);
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, spv, bytes, DSV3_VK_MM_WG, (uint32_t)type);
    if (!p) return; /* the runtime set the error */
    dsv3_vk_dispatch(vk, p, pc, sizeof *pc, (uint32_t)groups, 1, 1);
}

void dsv3_vk_matmul_ex(dsv3_vk *vk, const dsv3_weight *w, uint64_t x, int ldx, uint64_t x_rows, uint64_t y, int ldy,
                       uint64_t y_rows, uint64_t scale, int accumulate, int n) {
    if (dsv3_vk_failed(vk) || n <= 0) return;
    dsv3_vk_mm_pc pc;
    if (dsv3_vk_mm_weight(vk, w, "matmul", &pc)) return;
    if (!x || !y || ldx < w->cols || ldy < w->rows) {
        dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "matmul: bad activations (ldx %d, ldy %d for [%lld][%lld])", ldx,
                     ldy, (long long)w->rows, (long long)w->cols);
        return;
    }
    pc.x = x;
    pc.y = y;
    pc.xrows = x_rows;
    pc.yrows = y_rows;
    pc.tscale = scale;
    pc.ldx = (uint32_t)ldx;
    pc.ldy = (uint32_t)ldy;
    pc.n = (uint32_t)n;
    pc.flags = accumulate ? DSV3_VK_MM_ACCUMULATE : 0u;
    dsv3_vk_mm_dispatch(vk, w->type, &pc, (pc.rows + DSV3_VK_MM_ROWS - 1) / DSV3_VK_MM_ROWS);
}

/* A weight on the host: the CPU helper multiplies; x comes back, y goes
 * out (the only host round trip of the op). */
static void matmul_host(dsv3_vk *vk, const dsv3_weight *w, const float *x, float *y, int n) {
    size_t xb = (size_t)n * (size_t)w->cols * sizeof(float), yb = (size_t)n * (size_t)w->rows * sizeof(float);
    float *xs = dsv3_vk_host_scratch(vk, 0, xb), *ys = dsv3_vk_host_scratch(vk, 1, yb);
    if (!xs || !ys) {
        dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "matmul: out of host memory for a CPU weight");
        return;
    }
    dsv3_vk_to_host(vk, xs, x, xb);
    if (dsv3_vk_failed(vk)) return;
    dsv3_vk_cpu_ops(vk)->matmul(dsv3_vk_cpu(vk), w, xs, ys, n);
    dsv3_vk_from_host(vk, y, ys, yb);
}

void dsv3_vk_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n) {
    dsv3_vk *vk = (dsv3_vk *)(void *)be;
    if (dsv3_vk_failed(vk) || n <= 0) return;
    if (!w || w->rows <= 0 || w->cols <= 0 || w->rows > INT32_MAX || w->cols > INT32_MAX) {
        dsv3_vk_fail(vk, DSV3_ERR_INVALID_ARG, "matmul: bad weight");
        return;
    }
    if (!w->device) {
        matmul_host(vk, w, x, y, n);
        return;
    }
    uint64_t xa = dsv3_vk_addr(vk, x), ya = dsv3_vk_addr(vk, y);
    if (!xa || !ya) return; /* dsv3_vk_addr set the error */
    dsv3_vk_matmul_ex(vk, w, xa, (int)w->cols, 0, ya, (int)w->rows, 0, 0, 0, n);
}
