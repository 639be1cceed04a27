/* vk_op_attention.c -- MLA attention (absorbed form) on the device: one
 * dispatch of shaders/mla_attn.comp, a workgroup per (token, head).
 *
 * The shader is compiled once per family of the up-projections' stored
 * type (shaders/mla_weight.glsl), so wk_b and wv_b share a family, or wk_b
 * is of a 32-value block family, as GGUF stores attn_k_b when dn is no
 * multiple of 256: legacy (Q4_0 .. Q8_0) beside a k-quant or IQ1-IQ4 wv_b
 * (the *_kleg variants), or IQ4_NL beside an IQ1-IQ3 wv_b (the *_kiq4
 * variants, the i-quant mixes). Running such a pair on the CPU helper
 * instead would put it on the helper's 8-bit-activation path, while this
 * backend keeps activations f32 everywhere.
 * It needs kvl <= MLA_MAX_KVL,
 * dn <= MLA_MAX_DN, dr <= MLA_MAX_DR. Anything else -- other mixed families, a
 * weight left on the host, larger shapes -- runs on the CPU helper
 * backend: the query, the cache rows 0 .. pos0+n_tok-1 and the rope keys
 * are read back, the CPU op runs, the result is written. */
#include <string.h>

#include "dsv3.h"
#include "vk.h"
#include "vk_matmul.h"
#include "vk_spirv/mla_attn.h"
#include "vk_spirv/mla_attn_iq1.h"
#include "vk_spirv/mla_attn_iq1_kiq4.h"
#include "vk_spirv/mla_attn_iq1_kleg.h"
#include "vk_spirv/mla_attn_iq2.h"
#include "vk_spirv/mla_attn_iq2_kiq4.h"
#include "vk_spirv/mla_attn_iq2_kleg.h"
#include "vk_spirv/mla_attn_iq3.h"
#include "vk_spirv/mla_attn_iq3_kiq4.h"
#include "vk_spirv/mla_attn_iq3_kleg.h"
#include "vk_spirv/mla_attn_iq4.h"
#include "vk_spirv/mla_attn_iq4_kleg.h"
#include "vk_spirv/mla_attn_k.h"
#include "vk_spirv/mla_attn_k_kleg.h"
#include "vk_spirv/mla_attn_legacy.h"

#define MLA_WG 128u     /* a power of two; also the positions per chunk */
#define MLA_MAX_KVL 1024 /* the shader's shared q_lat / o_lat, 8 columns per invocation */
#define MLA_MAX_DR 256
#define MLA_MAX_DN 512

/* The shader variant of a stored type's family (WFAM of mla_weight.glsl):
 * 0 plain, 1 legacy, 2 k-quants, 3 IQ4, 4 IQ1, 5 IQ2, 6 IQ3; -1 none. */
static int family(int type) {
    if (type >= DSV3_W_F32 && type <= DSV3_W_F8_E4M3) return 0;
    if (type >= DSV3_W_Q8_0 && type <= DSV3_W_Q5_1) return 1;
    if (type >= DSV3_W_Q2_K && type <= DSV3_W_Q6_K) return 2;
    if (type == DSV3_W_IQ4_NL || type == DSV3_W_IQ4_XS) return 3;
    if (type == DSV3_W_IQ1_S || type == DSV3_W_IQ1_M) return 4;
    if (type >= DSV3_W_IQ2_XXS && type <= DSV3_W_IQ2_S) return 5;
    if (type == DSV3_W_IQ3_XXS || type == DSV3_W_IQ3_S) return 6;
    return -1;
}

static int weight_ok(const dsv3_weight *w) {
    return w && w->device && family(w->type) >= 0 && w->row_stride <= 0xffffffffu &&
           (w->type != DSV3_W_F8_E4M3 || (w->block_r > 0 && w->block_r <= 0xffff && w->block_c > 0 &&
                                         w->block_c <= 0xffff && w->scale_cols <= 0xffffffff));
}

/* 1 when wk_b's family differs from wv_b's and a variant reads the pair:
 * a legacy wk_b beside a k-quant or IQ1-IQ4 wv_b (*_kleg), an IQ4 wk_b
 * beside an IQ1-IQ3 wv_b (*_kiq4). */
static int key_other(const dsv3_weight *wk, const dsv3_weight *wv) {
    const int fk = family(wk->type), fv = family(wv->type);
    return (fk == 1 && fv >= 2) || (fk == 3 && fv >= 4);
}

static int device_ok(const dsv3_mla_args *a) {
    const dsv3_weight *wk = a->wk_b ? a->wk_b : a->wkv_b, *wv = a->wk_b ? a->wv_b : a->wkv_b;
    return weight_ok(wk) && weight_ok(wv) && (family(wk->type) == family(wv->type) || key_other(wk, wv)) &&
           a->kvl <= MLA_MAX_KVL &&
           a->dn <= MLA_MAX_DN && a->dr <= MLA_MAX_DR &&
           (a->kv_type == DSV3_W_F32 || a->kv_type == DSV3_W_F16 || a->kv_type == DSV3_W_Q8_0) &&
           (uint64_t)a->n_tok * (uint64_t)a->n_heads <= 0xffffffffu;
}

/* The CPU helper's per-thread scratch is sized by its thread count. */
static size_t cpu_scratch_floats(dsv3_vk *vk, const dsv3_mla_args *a) {
    return (size_t)dsv3_vk_cpu_threads(vk) * dsv3_mla_scratch_floats(a->pos0 + a->n_tok, a->kvl);
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static void mla_on_cpu(dsv3_vk *vk, const dsv3_mla_args *a) {
    const size_t n_pos = (size_t)a->pos0 + (size_t)a->n_tok, items = (size_t)a->n_tok * (size_t)a->n_heads;
    const size_t row = a->kv_type == DSV3_W_F32 ? sizeof(float) * (size_t)a->kvl : a->kv_row_bytes;
    const size_t qb = round16(sizeof(float) * items * (size_t)(a->dn + a->dr)), kb = round16(n_pos * row),
                 pb = round16(sizeof(float) * n_pos * (size_t)a->dr), ob = round16(sizeof(float) * items * (size_t)a->dv),
                 sb = sizeof(float) * cpu_scratch_floats(vk, a);
    char *h = dsv3_vk_host_scratch(vk, 0, qb + kb + pb + ob + sb);
    if (!h) {
        dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "vulkan mla_attention: no host memory for the CPU fallback");
        return;
    }
    dsv3_mla_args c = *a;
    c.q = (const float *)(void *)h;
    c.kv = (const float *)(void *)(h + qb);
    c.pe = (const float *)(void *)(h + qb + kb);
    c.out = (float *)(void *)(h + qb + kb + pb);
    c.scratch = (float *)(void *)(h + qb + kb + pb + ob);
    dsv3_vk_to_host(vk, (void *)c.q, a->q, sizeof(float) * items * (size_t)(a->dn + a->dr));
    dsv3_vk_to_host(vk, (void *)c.kv, a->kv, n_pos * row);
    dsv3_vk_to_host(vk, (void *)c.pe, a->pe, sizeof(float) * n_pos * (size_t)a->dr);
    if (dsv3_vk_failed(vk)) return;
    dsv3_vk_cpu_ops(vk)->mla_attention(dsv3_vk_cpu(vk), &c);
    dsv3_vk_from_host(vk, a->out, c.out, sizeof(float) * items * (size_t)a->dv);
}

/* A weight's push constants; aux = the FP8 scales or the IQ1-IQ3 grid
 * (uploaded for this dispatch). */
static void weight_pc(dsv3_vk *vk, const dsv3_weight *w, uint64_t *addr, uint64_t *aux, uint32_t *stride,
                      uint32_t *blk, uint32_t *scols) {
    const dsv3_vk_weight *d = w->device;
    const int f = family(w->type);
    *addr = d->addr;
    *aux = f >= 4 ? dsv3_vk_iq_grid(vk, w->type) : d->scale_addr;
    *stride = (uint32_t)w->row_stride;
    *blk = w->type == DSV3_W_F8_E4M3 ? (uint32_t)w->block_r | (uint32_t)w->block_c << 16 : 0;
    *scols = w->type == DSV3_W_F8_E4M3 ? (uint32_t)w->scale_cols : 0;
}

void dsv3_vk_mla_attention(dsv3_backend *be, const dsv3_mla_args *a) {
    dsv3_vk *vk = (dsv3_vk *)be;
    if (a->n_tok <= 0 || a->n_heads <= 0 || dsv3_vk_failed(vk)) return;
    if (!device_ok(a)) {
        mla_on_cpu(vk, a);
        return;
    }
    const dsv3_weight *wk = a->wk_b ? a->wk_b : a->wkv_b, *wv = a->wk_b ? a->wv_b : a->wkv_b;
    struct {
        uint64_t q, kv, pe, o;
        uint64_t wk, wks, wv, wvs;
        uint32_t wk_stride, wv_stride, types;
        uint32_t nh, dn, dr, dv, kvl;
        uint32_t pos0, n_items, kv_row_bytes;
        float scale;
        uint32_t wk_blk, wv_blk, wk_scols, wv_scols;
    } pc;
    _Static_assert(sizeof pc <= 128, "push constants are at most 128 bytes");
    memset(&pc, 0, sizeof pc);
    pc.q = dsv3_vk_addr(vk, a->q);
    pc.kv = dsv3_vk_addr(vk, a->kv);
    pc.pe = dsv3_vk_addr(vk, a->pe);
    pc.o = dsv3_vk_addr(vk, a->out);
    weight_pc(vk, wk, &pc.wk, &pc.wks, &pc.wk_stride, &pc.wk_blk, &pc.wk_scols);
    weight_pc(vk, wv, &pc.wv, &pc.wvs, &pc.wv_stride, &pc.wv_blk, &pc.wv_scols);
    pc.types = (uint32_t)wk->type | (uint32_t)wv->type << 8 | (a->wk_b ? 1u : 0u) << 16;
    pc.nh = (uint32_t)a->n_heads;
    pc.dn = (uint32_t)a->dn;
    pc.dr = (uint32_t)a->dr;
    pc.dv = (uint32_t)a->dv;
    pc.kvl = (uint32_t)a->kvl;
    pc.pos0 = (uint32_t)a->pos0;
    pc.n_items = (uint32_t)((size_t)a->n_tok * (size_t)a->n_heads);
    pc.kv_row_bytes = (uint32_t)(a->kv_type == DSV3_W_F32 ? sizeof(float) * (size_t)a->kvl : a->kv_row_bytes);
    pc.scale = a->scale;
    if (!pc.q || !pc.kv || !pc.pe || !pc.o || (family(wk->type) >= 4 && !pc.wks) || (family(wv->type) >= 4 && !pc.wvs))
        return;
    static const struct {
        const uint32_t *spv;
        size_t bytes;
    } variant[7] = {
        {dsv3_spv_mla_attn, sizeof dsv3_spv_mla_attn},         {dsv3_spv_mla_attn_legacy, sizeof dsv3_spv_mla_attn_legacy},
        {dsv3_spv_mla_attn_k, sizeof dsv3_spv_mla_attn_k},     {dsv3_spv_mla_attn_iq4, sizeof dsv3_spv_mla_attn_iq4},
        {dsv3_spv_mla_attn_iq1, sizeof dsv3_spv_mla_attn_iq1}, {dsv3_spv_mla_attn_iq2, sizeof dsv3_spv_mla_attn_iq2},
        {dsv3_spv_mla_attn_iq3, sizeof dsv3_spv_mla_attn_iq3},
    };
    /* key_other: the variant of wv_b's family reading a legacy wk_b
     * (families 2..6), or an IQ4 one (4..6) */
    static const struct {
        const uint32_t *spv;
        size_t bytes;
    } kleg[7] = {
        {NULL, 0},
        {NULL, 0},
        {dsv3_spv_mla_attn_k_kleg, sizeof dsv3_spv_mla_attn_k_kleg},
        {dsv3_spv_mla_attn_iq4_kleg, sizeof dsv3_spv_mla_attn_iq4_kleg},
        {dsv3_spv_mla_attn_iq1_kleg, sizeof dsv3_spv_mla_attn_iq1_kleg},
        {dsv3_spv_mla_attn_iq2_kleg, sizeof dsv3_spv_mla_attn_iq2_kleg},
        {dsv3_spv_mla_attn_iq3_kleg, sizeof dsv3_spv_mla_attn_iq3_kleg},
    }, kiq4[7] = {
        {NULL, 0},
        {NULL, 0},
        {NULL, 0},
        {NULL, 0},
        {dsv3_spv_mla_attn_iq1_kiq4, sizeof dsv3_spv_mla_attn_iq1_kiq4},
        {dsv3_spv_mla_attn_iq2_kiq4, sizeof dsv3_spv_mla_attn_iq2_kiq4},
        {dsv3_spv_mla_attn_iq3_kiq4, sizeof dsv3_spv_mla_attn_iq3_kiq4},
    };
    const int f = family(wv->type);
    const uint32_t *spv = variant[f].spv;
    size_t bytes = variant[f].bytes;
    if (family(wk->type) != f) {
        const int legacy = family(wk->type) == 1;
        spv = legacy ? kleg[f].spv : kiq4[f].spv;
        bytes = legacy ? kleg[f].bytes : kiq4[f].bytes;
    }
    dsv3_vk_pipeline *p = dsv3_vk_pipeline_get(vk, spv, bytes, MLA_WG, (uint32_t)a->kv_type);
    if (p) dsv3_vk_dispatch(vk, p, &pc, sizeof pc, pc.n_items, 1, 1);
}
