/* matmul_core.glsl -- y[t][r] = sum_c W[r][c] * x[t][c] for one weight
 * type, and the embedding gather, around the dq_unit() of the including
 * shader (which decodes 32 consecutive elements of a row).
 *
 * Work split, chosen so that every output has the same summation order for
 * any token count n (a batch equals token-by-token, bit for bit):
 *  - a workgroup of WG threads owns MM_ROWS rows; thread i takes the units
 *    (32 columns) i, i + WG, i + 2 WG, ... of each row, in that order, and
 *    accumulates with fma in column order;
 *  - the WG partial sums go through a fixed shared-memory tree;
 *  - tokens are taken MM_TILE at a time inside the workgroup: each weight
 *    unit is decoded once per tile and used for all its tokens, so the
 *    order above never depends on where a token sits in the batch.
 * Activations stay f32: nothing is quantized on the activation side.
 *
 * Embed mode (MM_EMBED): y[t][c] = W[ids[t]][c] with ids at pc.x, one
 * unit per thread. */
#ifndef DSV3_MATMUL_CORE_GLSL
#define DSV3_MATMUL_CORE_GLSL

#define WG 64u
#define MM_ROWS 2u
#define MM_TILE 8u
#define UNIT 32u

layout(local_size_x_id = 0) in; /* the op always passes WG */

shared float red[MM_ROWS * MM_TILE][WG];

uint group_index(void) { return gl_WorkGroupID.x + gl_NumWorkGroups.x * gl_WorkGroupID.y; }

uint64_t row_addr(uint r) { return mm_w + uint64_t(r) * uint64_t(pc.row_stride); }

void embed_main(void) {
    uint units = (pc.cols + UNIT - 1u) / UNIT;
    uint idx = group_index() * WG + gl_LocalInvocationID.x;
    if (idx >= units * pc.n) return;
    uint t = idx / units, u = idx % units;
    uint r = uint(BufI32(pc.x).v[t]);
    float v[UNIT];
    dq_unit(row_addr(r), r, u, v);
    uint c0 = u * UNIT, nj = min(UNIT, pc.cols - c0);
    BufF32 y = BufF32(pc.y);
    for (uint j = 0u; j < nj; j++) y.v[t * pc.ldy + c0 + j] = v[j];
}

void matmul_main(void) {
    uint g = group_index();
    uint r0 = g * MM_ROWS;
    if (r0 >= pc.rows) return; /* whole workgroup: uniform */
    uint tid = gl_LocalInvocationID.x;
    uint units = (pc.cols + UNIT - 1u) / UNIT;
    BufF32 x = BufF32(pc.x);
    for (uint t0 = 0u; t0 < pc.n; t0 += MM_TILE) {
        uint nt = min(MM_TILE, pc.n - t0);
        uint xoff[MM_TILE];
        for (uint tt = 0u; tt < MM_TILE; tt++) {
            uint t = t0 + tt;
            uint xr = t;
            if (tt < nt && pc.xrows != 0ul) xr = uint(BufI32(pc.xrows).v[t]);
            xoff[tt] = xr * pc.ldx;
        }
        float acc[MM_ROWS][MM_TILE];
        for (uint k = 0u; k < MM_ROWS; k++)
            for (uint tt = 0u; tt < MM_TILE; tt++) acc[k][tt] = 0.0;
        for (uint k = 0u; k < MM_ROWS; k++) {
            uint r = r0 + k;
            if (r >= pc.rows) break;
            uint64_t ra = row_addr(r);
            for (uint u = tid; u < units; u += WG) {
                float v[UNIT];
                dq_unit(ra, r, u, v);
                uint c0 = u * UNIT, nj = min(UNIT, pc.cols - c0);
                for (uint tt = 0u; tt < MM_TILE; tt++) {
                    if (tt >= nt) break;
                    float a = acc[k][tt];
                    uint xo = xoff[tt] + c0;
                    if (nj == UNIT) /* constant bound: v stays in registers */
                        for (uint j = 0u; j < UNIT; j++) a = fma(v[j], x.v[xo + j], a);
                    else
                        for (uint j = 0u; j < nj; j++) a = fma(v[j], x.v[xo + j], a);
                    acc[k][tt] = a;
                }
            }
        }
        for (uint k = 0u; k < MM_ROWS; k++)
            for (uint tt = 0u; tt < MM_TILE; tt++) red[k * MM_TILE + tt][tid] = acc[k][tt];
        barrier();
        for (uint s = WG / 2u; s > 0u; s >>= 1) {
            if (tid < s)
                for (uint k = 0u; k < MM_ROWS * MM_TILE; k++)
                    if (k % MM_TILE < nt) red[k][tid] += red[k][tid + s];
            barrier();
        }
        if (tid < MM_ROWS * MM_TILE) {
            uint k = tid / MM_TILE, tt = tid % MM_TILE, r = r0 + k, t = t0 + tt;
            if (r < pc.rows && tt < nt) {
                float s = red[tid][0];
                if (pc.tscale != 0ul) s *= BufF32(pc.tscale).v[t];
                uint yr = pc.yrows != 0ul ? uint(BufI32(pc.yrows).v[t]) : t;
                BufF32 y = BufF32(pc.y);
                uint yi = yr * pc.ldy + r;
                if ((pc.flags & MM_ACCUMULATE) != 0u) s = y.v[yi] + s;
                y.v[yi] = s;
            }
        }
        barrier(); /* red is rewritten by the next tile */
    }
}

void main() {
    mm_weight_init();
    if ((pc.flags & MM_EMBED) != 0u) embed_main();
    else matmul_main();
}

#endif
