#version 450
// moe_slots.comp -- the routed experts of one token whose picks are in
// device memory (the route op's output), made ready for the matmul shaders
// without a host read: the k picks sorted by increasing expert id (the
// order in which the gathered MoE path sums a token's experts), and for
// each the {weight, scales} address pairs of its gate, up and down (from
// the layer's expert table) and its gate weight. One invocation: k <= 64.
#include "common.glsl"

layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };

layout(push_constant) uniform PC {
    uint64_t ids, weights; // [k] int32, [k] f32: the picks
    uint64_t table;        // [E][6]: gate w, gate scales, up w, up scales, down w, down scales
    uint64_t slots;        // [k][6] out: the table rows of the sorted picks
    uint64_t wsorted;      // [k] f32 out: their gate weights
    uint k, E;
} pc;

void main() {
    if (gl_LocalInvocationID.x != 0u || dsv3_group_index() != 0u) return;
    int id[64];
    float w[64];
    uint k = min(pc.k, 64u);
    for (uint j = 0u; j < k; j++) {
        int e = int(U32Buf(pc.ids).v[j]);
        float v = F32Buf(pc.weights).v[j];
        uint i = j; // insertion sort, increasing id (picks are distinct)
        while (i > 0u && id[i - 1u] > e) {
            id[i] = id[i - 1u];
            w[i] = w[i - 1u];
            i--;
        }
        id[i] = e;
        w[i] = v;
    }
    U64Buf table = U64Buf(pc.table), slots = U64Buf(pc.slots);
    for (uint j = 0u; j < k; j++) {
        uint e = uint(clamp(id[j], 0, int(pc.E) - 1)); // the route op writes ids in range
        for (uint q = 0u; q < 6u; q++) slots.v[6u * j + q] = table.v[6u * e + q];
        F32Buf(pc.wsorted).v[j] = w[j];
    }
}
