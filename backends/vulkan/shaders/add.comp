#version 450
// add.comp -- y[i] += x[i], one element per invocation.
#include "common.glsl"

layout(push_constant) uniform PC {
    uint64_t y, x, count;
} pc;

void main() {
    uint64_t i = uint64_t(dsv3_group_index()) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    F32Buf y = F32Buf(pc.y + 4ul * i);
    y.v[0] = y.v[0] + F32Buf(pc.x + 4ul * i).v[0];
}
