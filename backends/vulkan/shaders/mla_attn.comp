#version 450
// mla_attn.comp -- multi-head latent attention in the absorbed form (the
// math of backends/scalar/attention.c), one workgroup per (token, head):
//   1. q_lat = W_kb^T q_nope (kvl values, shared memory);
//   2. over positions 0 .. pos0 + t in chunks of W (the workgroup size):
//      score = (q_lat . c_p + q_pe . k_pe_p) * scale, a subgroup per
//      position, then an online softmax (running max, rescaled sums)
//      accumulates o_lat = sum_p w_p c_p, each invocation owning columns
//      l, l + W, ...;
//   3. out = W_vb o_lat / sum_p w_p.
// f32 throughout, every sum in a fixed order that does not depend on the
// number of tokens (batch == token by token, bit for bit). The cache type
// is specialization constant 1 (F32 0, F16 1, Q8_0 4); a row is decoded
// exactly and then used as f32, and no contraction is allowed (`precise`),
// so an F16/Q8_0 cache gives the bits of an f32 cache holding its values.
// The weights' family is WFAM (mla_weight.glsl), one compiled variant each;
// variants with WK_FAM read a wk_b of that family (legacy or IQ4) beside wv_b of WFAM.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "half.glsl"
#include "mla_weight.glsl"

layout(constant_id = 1) const uint KV_TYPE = 0u;

#define MAX_KVL 1024u // checked by vk_op_attention.c (kvl <= MAX_KVL, kvl <= 8 W)
#define MAX_DR 256u
#define MAX_DN 512u
#define MAXC 8u       // latent columns per invocation

layout(push_constant) uniform PC {
    uint64_t q, kv, pe, o;
    uint64_t wk, wks, wv, wvs;
    uint wk_stride, wv_stride;
    uint types;       // wk type | wv type << 8 | form << 16 (1: wk_b/wv_b, 0: wkv_b)
    uint nh, dn, dr, dv, kvl;
    uint pos0, n_items, kv_row_bytes;
    float scale;
    uint wk_blk, wv_blk, wk_scols, wv_scols;
} pc;

shared float lat[MAX_KVL];  // q_lat, then o_lat
shared float qpe[MAX_DR];
shared float qn[MAX_DN];    // q_nope
shared float sc[gl_WorkGroupSize.x];
shared float wt[gl_WorkGroupSize.x];

// Latent cache element c of position p, decoded exactly.
float kv_at(uint p, uint c) {
    if (KV_TYPE == 0u) return F32Buf(pc.kv + 4ul * (uint64_t(p) * pc.kvl + c)).v[0];
    uint64_t row = pc.kv + uint64_t(p) * pc.kv_row_bytes;
    if (KV_TYPE == 1u) return half_bits_to_float(uint(U16Buf(row + 2ul * c).v[0]));
    uint64_t blk = row + 34ul * (c / 32u);
    uint j = c % 32u;
    uint w = uint(U16Buf(blk + 2ul + 2ul * (j / 2u)).v[0]);
    int q = int(((w >> (8u * (j & 1u))) & 0xffu) << 24) >> 24;
    precise float v = float(q) * half_bits_to_float(uint(U16Buf(blk).v[0]));
    return v;
}

// sum_i W[r][i] * v[i], i < n, v = q_nope (key) or the latent (value),
// both in shared memory; block types 32 decoded values at a time.
float row_dot(WeightRef w, uint r, uint n, bool key) {
    precise float s = 0.0;
#if WFAM == 0
    for (uint i = 0u; i < n; i++) s += w_elem(w, r, i) * (key ? qn[i] : lat[i]);
#else
    for (uint u = 0u; u < n / 32u; u++) {
        float v[32];
        if (key) wk_unit(w, r, u, v);
        else w_unit(w, r, u, v);
        for (uint j = 0u; j < 32u; j++) s += v[j] * (key ? qn[32u * u + j] : lat[32u * u + j]);
    }
#endif
    return s;
}

// q_lat[c] = sum_i W[r0 + i][c] * q_nope[i] (the key part used
// transposed): plain types one column per invocation; block types one
// 32-column unit per invocation, so each unit of a row is decoded once.
void key_columns(WeightRef w, uint r0, uint l, uint W) {
#if WFAM == 0
    for (uint c = l; c < pc.kvl; c += W) {
        precise float s = 0.0;
        for (uint i = 0u; i < pc.dn; i++) s += w_elem(w, r0 + i, c) * qn[i];
        lat[c] = s;
    }
#else
    for (uint u = l; u < pc.kvl / 32u; u += W) {
        precise float acc[32];
        for (uint j = 0u; j < 32u; j++) acc[j] = 0.0;
        for (uint i = 0u; i < pc.dn; i++) {
            float v[32];
            w_unit(w, r0 + i, u, v);
            for (uint j = 0u; j < 32u; j++) acc[j] += v[j] * qn[i];
        }
        for (uint j = 0u; j < 32u; j++) lat[32u * u + j] = acc[j];
    }
#endif
}

void main() {
    uint item = dsv3_group_index();
    if (item >= pc.n_items) return;
    uint l = gl_LocalInvocationID.x, W = gl_WorkGroupSize.x;
    uint t = item / pc.nh, h = item % pc.nh;
    uint n_pos = pc.pos0 + t + 1u;
    uint form = (pc.types >> 16) & 0xffu, hd = pc.dn + pc.dv;
    WeightRef wk = WeightRef(pc.wk, pc.wks, pc.wk_stride, pc.types & 0xffu, pc.wk_blk, pc.wk_scols);
    WeightRef wv = WeightRef(pc.wv, pc.wvs, pc.wv_stride, (pc.types >> 8) & 0xffu, pc.wv_blk, pc.wv_scols);
    uint64_t qrow = pc.q + 4ul * uint64_t(item) * (pc.dn + pc.dr);

    // 1. the query in latent space, and its rope part
    for (uint i = l; i < pc.dn; i += W) qn[i] = F32Buf(qrow + 4ul * i).v[0];
    for (uint i = l; i < pc.dr; i += W) qpe[i] = F32Buf(qrow + 4ul * (pc.dn + i)).v[0];
    barrier();
    if (form == 1u) {
        for (uint c = l; c < pc.kvl; c += W) lat[c] = row_dot(wk, h * pc.kvl + c, pc.dn, true);
    } else {
        key_columns(wk, h * hd, l, W);
    }
    barrier();

    // 2. scores and the online softmax over chunks of W positions
    precise float acc[MAXC];
    for (uint k = 0u; k < MAXC; k++) acc[k] = 0.0;
    precise float total = 0.0;
    float run_max = 0.0;
    for (uint p0 = 0u; p0 < n_pos; p0 += W) {
        uint cnt = min(W, n_pos - p0);
        // One subgroup per position: its lanes split the columns (adjacent
        // lanes read adjacent values) and subgroupAdd sums them, in an
        // order fixed for the device whatever the token count.
        for (uint k = gl_SubgroupID; k < cnt; k += gl_NumSubgroups) {
            uint p = p0 + k;
            precise float s = 0.0, r = 0.0;
            for (uint c = gl_SubgroupInvocationID; c < pc.kvl; c += gl_SubgroupSize) s += lat[c] * kv_at(p, c);
            F32Buf pr = F32Buf(pc.pe + 4ul * uint64_t(p) * pc.dr);
            for (uint i = gl_SubgroupInvocationID; i < pc.dr; i += gl_SubgroupSize) r += qpe[i] * pr.v[i];
            precise float v = (subgroupAdd(s) + subgroupAdd(r)) * pc.scale;
            if (subgroupElect()) sc[k] = v;
        }
        barrier();
        float cmax = sc[0];
        for (uint k = 1u; k < cnt; k++) cmax = max(cmax, sc[k]);
        float new_max = p0 == 0u ? cmax : max(run_max, cmax);
        float alpha = p0 == 0u ? 0.0 : exp(run_max - new_max);
        if (l < cnt) wt[l] = exp(sc[l] - new_max);
        barrier();
        precise float csum = 0.0;
        for (uint k = 0u; k < cnt; k++) csum += wt[k];
        total = total * alpha + csum;
        for (uint k = 0u; k < MAXC; k++) {
            uint c = l + k * W;
            if (c >= pc.kvl) break;
            precise float a = acc[k] * alpha;
            for (uint j = 0u; j < cnt; j++) a += wt[j] * kv_at(p0 + j, c);
            acc[k] = a;
        }
        run_max = new_max;
        barrier();
    }
    for (uint k = 0u; k < MAXC; k++) {
        uint c = l + k * W;
        if (c >= pc.kvl) break;
        lat[c] = acc[k] / total;
    }
    barrier();

    // 3. the value up-projection
    uint64_t orow = pc.o + 4ul * uint64_t(item) * pc.dv;
    for (uint j = l; j < pc.dv; j += W) {
        uint r = form == 1u ? h * pc.dv + j : h * hd + pc.dn + j;
        float s = row_dot(wv, r, pc.kvl, false);
        F32Buf(orow + 4ul * j).v[0] = s;
    }
}
