/* mm_io.glsl -- the matmul/embed shaders' push constants and the weight
 * type they were specialized for. */
#ifndef DSV3_MM_IO_GLSL
#define DSV3_MM_IO_GLSL

#include "dq_io.glsl"

/* Specialization constant 1: the stored weight type (T_*). */
layout(constant_id = 1) const uint TYPE = 0;

/* Push constants: struct dsv3_vk_mm_pc in vk_matmul.h (96 bytes). */
layout(push_constant) uniform PC {
    uint64_t w;      /* element [0][0] of the weight                     */
    uint64_t wscale; /* FP8: block scales (f32); IQ1-3: the packed grid  */
    uint64_t x;      /* activations (f32); embed: the int32 token ids    */
    uint64_t y;      /* output (f32)                                     */
    uint64_t xrows;  /* int32 row of x per token, 0 = token index        */
    uint64_t yrows;  /* int32 row of y per token, 0 = token index        */
    uint64_t tscale; /* f32 factor per token, 0 = none                   */
    uint rows, cols, row_stride, ldx, ldy, n;
    uint flags;      /* MM_ACCUMULATE, MM_EMBED                          */
    uint block_r, block_c, scale_cols;
} pc;
#define MM_ACCUMULATE 1u
#define MM_EMBED 2u
#define MM_WSLOT 4u

/* The weight read: pc.w (and pc.wscale, FP8's block scales), or with
 * MM_WSLOT the {weight, scales} address pair stored at pc.w, written on
 * the device (the MoE op's experts, picked by the route op, need no host
 * read). mm_weight_init() sets them first thing in main(). */
layout(buffer_reference, std430, buffer_reference_align = 8) buffer BufU64 { uint64_t v[]; };
uint64_t mm_w, mm_wscale;

void mm_weight_init(void) {
    mm_w = pc.w;
    mm_wscale = pc.wscale;
    if ((pc.flags & MM_WSLOT) != 0u) {
        BufU64 slot = BufU64(pc.w);
        mm_w = slot.v[0];
        mm_wscale = slot.v[1];
    }
}

#endif
