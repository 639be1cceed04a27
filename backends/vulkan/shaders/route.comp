#version 450
// route.comp -- expert selection (the route op), one workgroup per token,
// by the rules of lib/route.c's route_token, so that the ids are the
// host's and the weights within rounding of its expf:
//   scores: sigmoid, or softmax (max, exp, a sum in increasing expert
//           order by one invocation, as the host adds them);
//   selection scores: scores + correction bias (selection only);
//   group limits: invocation g scores group g as the host does (its best,
//           or with NOAUX_TC the sum of its two best), invocation 0 keeps
//           the topk_group best groups; the other groups' experts are out;
//   top-k: k rounds of an argmax over the free experts, ties to the lower
//           id: each invocation takes experts l, l + W, ... and a shared
//           tree keeps the larger value, the lower id on equal values, so
//           the pick is the host's whatever W is;
//   weights: invocation 0 sums the picked scores in pick order, normalizes
//           and scales exactly as the host.
// exp is dsv3_exp_f32 (close to 1 ulp of expf); `precise` keeps every
// device from contracting into fma.
#include "common.glsl"
#include "exp_f32.glsl"

#define MAXE 1024 // experts (vk_op_route.c checks, and routes larger models on the host)
#define MAXG 64   // groups
#define MAXK 64   // picks

layout(push_constant) uniform PC {
    uint64_t logits, bias, ids, weights; // bias 0: none
    uint n, E, k, sigmoid, grouped, n_group, topk_group, noaux, norm;
    float scale;
} pc;

shared float score[MAXE], sel[MAXE];
shared uint taken[MAXE];
shared float red_v[gl_WorkGroupSize.x];
shared int red_i[gl_WorkGroupSize.x];
shared float gscore[MAXG];
shared uint gtaken[MAXG];
shared int pick[MAXK];
shared float total;

// Does candidate (v, i) beat (bv, bi)? bi < 0: no candidate yet.
bool beats(float v, int i, float bv, int bi) { return i >= 0 && (bi < 0 || v > bv || (v == bv && i < bi)); }

// The max of a per-invocation value over the workgroup (tree in red_v).
float wg_max(float v) {
    uint l = gl_LocalInvocationID.x;
    red_v[l] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1) {
        if (l < s && red_v[l + s] > red_v[l]) red_v[l] = red_v[l + s];
        barrier();
    }
    float m = red_v[0];
    barrier();
    return m;
}

void main() {
    uint t = dsv3_group_index();
    if (t >= pc.n) return;
    uint l = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x, E = pc.E;
    F32Buf x = F32Buf(pc.logits + 4ul * uint64_t(t) * uint64_t(E));

    if (pc.sigmoid != 0u) {
        for (uint i = l; i < E; i += W) {
            precise float s = 1.0 / (1.0 + dsv3_exp_f32(-x.v[i]));
            score[i] = s;
        }
    } else {
        float m = uintBitsToFloat(0xff800000u); // -inf
        for (uint i = l; i < E; i += W) m = max(m, x.v[i]);
        m = wg_max(m);
        for (uint i = l; i < E; i += W) {
            precise float d = x.v[i] - m;
            score[i] = dsv3_exp_f32(d);
        }
        barrier();
        if (l == 0u) {
            precise float s = 0.0;
            for (uint i = 0u; i < E; i++) s += score[i];
            total = s;
        }
        barrier();
        for (uint i = l; i < E; i += W) {
            precise float q = score[i] / total;
            score[i] = q;
        }
    }
    for (uint i = l; i < E; i += W) {
        precise float s = pc.bias != 0ul ? score[i] + F32Buf(pc.bias).v[i] : score[i];
        sel[i] = s;
        taken[i] = 0u;
    }
    barrier();

    if (pc.grouped != 0u) {
        uint G = pc.n_group, per = E / G;
        if (l < G) {
            float a = uintBitsToFloat(0xff800000u), b = a;
            for (uint i = 0u; i < per; i++) {
                float s = sel[l * per + i];
                if (s > a) {
                    b = a;
                    a = s;
                } else if (s > b) {
                    b = s;
                }
            }
            precise float g = pc.noaux != 0u ? a + b : a;
            gscore[l] = g;
            gtaken[l] = 0u;
        }
        barrier();
        if (l == 0u)
            for (uint j = 0u; j < pc.topk_group; j++) {
                int best = -1;
                for (uint g = 0u; g < G; g++)
                    if (gtaken[g] == 0u && (best < 0 || gscore[g] > gscore[best])) best = int(g);
                if (best >= 0) gtaken[best] = 1u;
            }
        barrier();
        for (uint i = l; i < E; i += W) taken[i] = gtaken[i / per] != 0u ? 0u : 1u;
        barrier();
    }

    for (uint j = 0u; j < pc.k; j++) {
        float bv = 0.0;
        int bi = -1;
        for (uint i = l; i < E; i += W)
            if (taken[i] == 0u && beats(sel[i], int(i), bv, bi)) {
                bv = sel[i];
                bi = int(i);
            }
        red_v[l] = bv;
        red_i[l] = bi;
        barrier();
        for (uint s = W / 2u; s > 0u; s >>= 1) {
            if (l < s && beats(red_v[l + s], red_i[l + s], red_v[l], red_i[l])) {
                red_v[l] = red_v[l + s];
                red_i[l] = red_i[l + s];
            }
            barrier();
        }
        if (l == 0u) {
            int b = red_i[0] < 0 ? 0 : red_i[0]; // none free: the op's shape checks rule it out
            pick[j] = b;
            taken[b] = 1u;
        }
        barrier();
    }

    if (l == 0u) {
        U32Buf ids = U32Buf(pc.ids + 4ul * uint64_t(t) * uint64_t(pc.k));
        F32Buf w = F32Buf(pc.weights + 4ul * uint64_t(t) * uint64_t(pc.k));
        precise float sum = 0.0;
        for (uint j = 0u; j < pc.k; j++) sum += score[pick[j]];
        for (uint j = 0u; j < pc.k; j++) {
            precise float v = score[pick[j]];
            if (pc.norm != 0u && pc.k > 1u) v = v / (sum + 1e-20);
            v = v * pc.scale;
            ids.v[j] = uint(pick[j]);
            w.v[j] = v;
        }
    }
}
