/* vk_matmul.h -- what vk_op_matmul.c, vk_op_embed.c and vk_iq_grid.c
 * share: the push constants of the matmul shaders (shaders/mm_io.glsl),
 * the dispatch of the shader of a weight's type, the i-quant grids. */
#ifndef DSV3_VK_MATMUL_H
#define DSV3_VK_MATMUL_H

#include <stdint.h>

#include "vk.h"

#define DSV3_VK_MM_ACCUMULATE 1u
#define DSV3_VK_MM_EMBED 2u
#define DSV3_VK_MM_WSLOT 4u /* pc.w holds the address of a {w, wscale} pair (mm_io.glsl) */

/* = the push_constant block of shaders/mm_io.glsl, field for field. */
typedef struct dsv3_vk_mm_pc {
    uint64_t w, wscale, x, y, xrows, yrows, tscale;
    uint32_t rows, cols, row_stride, ldx, ldy, n, flags, block_r, block_c, scale_cols;
} dsv3_vk_mm_pc;

/* Check that w (on the device) is one the shaders can read, and fill the
 * weight fields of pc (w, rows, cols, row_stride; wscale and the blocks
 * for FP8, wscale = the grid for IQ1-IQ3).
 * `op` names the caller in the message. 0, or nonzero with the sticky
 * error set. */
int dsv3_vk_mm_weight(dsv3_vk *vk, const dsv3_weight *w, const char *op, dsv3_vk_mm_pc *pc);

/* Device address of the packed grid of i-quant type `type` (IQ1_S ..
 * IQ3_S; shaders/dq_io.glsl says the packing), uploaded for this dispatch
 * (valid until the next flush); 0 for other types or on failure
 * (vk_iq_grid.c). */
uint64_t dsv3_vk_iq_grid(dsv3_vk *vk, int type);

/* Record the dispatch of w's type's shader with pc over `groups`
 * workgroups. */
void dsv3_vk_mm_dispatch(dsv3_vk *vk, int type, const dsv3_vk_mm_pc *pc, uint64_t groups);

/* Workgroup size of the matmul shaders (WG in shaders/matmul_core.glsl),
 * rows per workgroup (MM_ROWS) and columns per thread unit (UNIT). */
#define DSV3_VK_MM_WG 64u
#define DSV3_VK_MM_ROWS 2u
#define DSV3_VK_MM_UNIT 32u

#endif
