/* dequant_fp8.glsl -- FP8 E4M3 rows with an f32 scale per
 * block_r x block_c block: w[r][c] = fp8(q[r][c]) * scale[(r / block_r) *
 * scale_cols + c / block_c]. Edge blocks may be partial; 32 elements from
 * column 32u, those past the end of the row left 0 and never read. */
#include "mm_io.glsl"

void dq_unit(uint64_t row, uint r, uint u, out float v[32]) {
    uint c0 = u * 32u;
    BufU8 q = BufU8(row);
    BufF32 sc = BufF32(mm_wscale);
    uint sbase = (r / pc.block_r) * pc.scale_cols;
    for (uint j = 0u; j < 32u; j++) {
        uint c = c0 + j;
        v[j] = 0.0;
        if (c >= pc.cols) continue;
        v[j] = dq_fp8(uint(q.v[c])) * sc.v[sbase + c / pc.block_c];
    }
}
