#version 450
// swiglu.comp -- out[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u, in the
// scalar backend's order; out may alias g or u. exp is dsv3_exp_f32
// (close to 1 ulp, as expf), not GLSL exp() (3 + 2|x| ulp on Vulkan).
#include "common.glsl"
#include "exp_f32.glsl"

layout(push_constant) uniform PC {
    uint64_t g, u, o, count;
} pc;

void main() {
    uint64_t i = uint64_t(dsv3_group_index()) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    float g = F32Buf(pc.g + 4ul * i).v[0], u = F32Buf(pc.u + 4ul * i).v[0];
    precise float r = g / (1.0 + dsv3_exp_f32(-g)) * u;
    F32Buf(pc.o + 4ul * i).v[0] = r;
}
