/* dequant_float.glsl -- F32, F16, BF16 rows: 32 elements from column
 * 32u (the last unit of a row may be partial: columns past the end are
 * left 0 and never read). */
#include "mm_io.glsl"

void dq_unit(uint64_t row, uint r, uint u, out float v[32]) {
    uint c0 = u * 32u;
    for (uint j = 0u; j < 32u; j++) {
        uint c = c0 + j;
        v[j] = 0.0;
        if (c >= pc.cols) continue;
        if (TYPE == T_F32) v[j] = BufF32(row).v[c];
        else if (TYPE == T_F16) v[j] = dq_f16(uint(BufU16(row).v[c]));
        else v[j] = uintBitsToFloat(uint(BufU16(row).v[c]) << 16);
    }
}
