#version 450
// rmsnorm.comp -- y[t] = x[t] / rms(x[t]) * g, one workgroup per row t.
//
// The sum of squares is f32 in a fixed order whatever the number of rows:
// invocation l adds elements l, l + W, l + 2W, ... (W the workgroup size,
// a power of two), then a shared-memory tree halves the W partial sums.
// Each invocation reads and writes only its own elements, so y may be x.
#include "common.glsl"
#include "half.glsl"

layout(push_constant) uniform PC {
    uint64_t x, y, g;
    uint ldx, ldy, n, dim;
    float eps;
    uint gtype; // 0 f32, 1 f16, 2 bf16 (enum dsv3_wtype)
} pc;

shared float partial[gl_WorkGroupSize.x];

float gain(uint i) {
    if (pc.gtype == 0u) return F32Buf(pc.g + 4ul * i).v[0];
    uint h = uint(U16Buf(pc.g + 2ul * i).v[0]);
    return pc.gtype == 1u ? half_bits_to_float(h) : uintBitsToFloat(h << 16);
}

void main() {
    uint t = dsv3_group_index();
    if (t >= pc.n) return;
    uint l = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x;
    uint64_t xr = pc.x + 4ul * uint64_t(t) * pc.ldx, yr = pc.y + 4ul * uint64_t(t) * pc.ldy;
    precise float ss = 0.0;
    for (uint i = l; i < pc.dim; i += W) {
        float v = F32Buf(xr + 4ul * i).v[0];
        ss += v * v;
    }
    partial[l] = ss;
    barrier();
    for (uint s = W / 2u; s > 0u; s >>= 1) {
        if (l < s) partial[l] = partial[l] + partial[l + s];
        barrier();
    }
    precise float inv = 1.0 / sqrt(partial[0] / float(pc.dim) + pc.eps);
    for (uint i = l; i < pc.dim; i += W) {
        precise float v = F32Buf(xr + 4ul * i).v[0] * inv * gain(i);
        F32Buf(yr + 4ul * i).v[0] = v;
    }
}
