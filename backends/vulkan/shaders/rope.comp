#version 450
// rope.comp -- rotate adjacent pairs (x[2i], x[2i+1]) of dr channels at
// x + t*ld + h*head_stride + offset by (cos, sin)[t][i]: one pair per
// invocation, the scalar backend's arithmetic (no fused multiply-add).
#include "common.glsl"

layout(push_constant) uniform PC {
    uint64_t x, cs, sn;
    uint n, ld, n_heads, head_stride, offset, half_dr;
} pc;

void main() {
    uint64_t k = uint64_t(dsv3_group_index()) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    uint64_t per_tok = uint64_t(pc.n_heads) * pc.half_dr;
    if (k >= per_tok * pc.n) return;
    uint t = uint(k / per_tok), r = uint(k % per_tok);
    uint h = r / pc.half_dr, i = r % pc.half_dr;
    uint64_t at = pc.x + 4ul * (uint64_t(t) * pc.ld + uint64_t(h) * pc.head_stride + pc.offset + 2u * i);
    F32Buf v = F32Buf(at);
    float c = F32Buf(pc.cs + 4ul * (uint64_t(t) * pc.half_dr + i)).v[0];
    float s = F32Buf(pc.sn + 4ul * (uint64_t(t) * pc.half_dr + i)).v[0];
    float a = v.v[0], b = v.v[1];
    precise float ra = a * c - b * s;
    precise float rb = a * s + b * c;
    v.v[0] = ra;
    v.v[1] = rb;
}
