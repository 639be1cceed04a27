/* model_gguf.c -- bind a llama.cpp GGUF file of architecture `deepseek2`
 * (DeepSeek-V2/V2-Lite/V3/R1, Kimi-K2, Moonlight) to the model's layer
 * table. The contract is ../shared/docs/gguf-deepseek2.md: metadata keys
 * `deepseek2.*`, tensors `blk.N.*` in ggml shape order (ne[0] is the
 * contiguous dimension, i.e. our `cols`). Every weight is a view of the
 * mapped file in its stored ggml type; stacked experts {H, Fe, E} become one
 * view per expert, so layer_weights.experts[e] works as for HF checkpoints. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "model.h"

/* Limits that keep every derived size far from integer overflow (as
 * config_hf.c). */
#define MAX_DIM (1 << 24)

#define TRY(x) do { int rc_ = (x); if (rc_) return rc_; } while (0)

/* ---- metadata ----------------------------------------------------------- */

typedef struct meta {
    const gguf_file *f;
    dsv3_err *e;
} meta;

static const char *key_of(char *buf, size_t n, const char *k) {
    snprintf(buf, n, "deepseek2.%s", k);
    return buf;
}

/* An integer key `deepseek2.<k>` (full key when k contains "general." or
 * "tokenizer."): absent -> def, or an error when required. */
static int get_int(meta *g, const char *k, int required, int def, int lo, int hi, int *out) {
    char key[128];
    if (strncmp(k, "tokenizer.", 10) && strncmp(k, "general.", 8)) k = key_of(key, sizeof key, k);
    int64_t v;
    int rc = gguf_get_int(g->f, k, &v, g->e);
    if (rc == DSV3_ERR_NOT_FOUND) {
        if (required) return err_set(g->e, DSV3_ERR_BAD_CONFIG, "GGUF key '%s' is missing", k);
        *out = def;
        return DSV3_OK;
    }
    if (rc) return rc;
    if (v < lo || v > hi)
        return err_set(g->e, DSV3_ERR_UNSUPPORTED, "GGUF key '%s' = %lld is outside the supported range [%d, %d]", k,
                       (long long)v, lo, hi);
    *out = (int)v;
    return DSV3_OK;
}

static int get_num(meta *g, const char *k, int required, double def, double lo, double hi, double *out) {
    char key[128];
    k = key_of(key, sizeof key, k);
    int rc = gguf_get_float(g->f, k, out, g->e);
    if (rc == DSV3_ERR_NOT_FOUND) {
        if (required) return err_set(g->e, DSV3_ERR_BAD_CONFIG, "GGUF key '%s' is missing", k);
        *out = def;
        return DSV3_OK;
    }
    if (rc) return rc;
    if (!(*out >= lo && *out <= hi))
        return err_set(g->e, DSV3_ERR_UNSUPPORTED, "GGUF key '%s' = %g is outside the supported range [%g, %g]", k, *out,
                       lo, hi);
    return DSV3_OK;
}

static int present(meta *g, const char *k) {
    char key[128];
    return gguf_find_kv(g->f, key_of(key, sizeof key, k)) != NULL;
}

static int parse_rope(meta *g, dsv3_config *c) {
    char key[128];
    gguf_str type = {NULL, 0};
    int rc = gguf_get_str(g->f, key_of(key, sizeof key, "rope.scaling.type"), &type, g->e);
    if (rc && rc != DSV3_ERR_NOT_FOUND) return rc;
    c->has_yarn = 0;
    if (rc == DSV3_ERR_NOT_FOUND || gguf_str_eq(type, "none")) return DSV3_OK;
    if (!gguf_str_eq(type, "yarn"))
        return err_set(g->e, DSV3_ERR_UNSUPPORTED, "GGUF key '%s' is '%.*s'; only 'yarn' (or 'none') is supported", key,
                       (int)(type.n < 64 ? type.n : 64), type.p);
    c->has_yarn = 1;
    TRY(get_num(g, "rope.scaling.factor", 0, 1.0, 0.0, 1e6, &c->yarn_factor));
    if (c->yarn_factor == 0.0) c->yarn_factor = 1.0; /* llama.cpp: 0 means unscaled */
    if (c->yarn_factor < 1.0)
        return err_set(g->e, DSV3_ERR_UNSUPPORTED, "GGUF key 'deepseek2.rope.scaling.factor' = %g is below 1",
                       c->yarn_factor);
    TRY(get_int(g, "rope.scaling.original_context_length", 0, c->max_position_embeddings, 1, 1 << 30,
                &c->yarn_original_max_pos));
    /* The converter writes 0.1 * mscale_all_dim; llama.cpp assumes
     * mscale == mscale_all_dim (the cos/sin factor is then 1). Round to
     * float precision: 0.1f / 0.1 is 1.0000000149. */
    double lm;
    TRY(get_num(g, "rope.scaling.yarn_log_multiplier", 0, 0.0, 0.0, 1e5, &lm));
    c->yarn_mscale_all_dim = (double)(float)(lm / 0.1);
    c->yarn_mscale = c->yarn_mscale_all_dim;
    /* Written by the converter, never read by llama.cpp (always 32 / 1). */
    c->yarn_beta_fast = 32;
    c->yarn_beta_slow = 1;
    return DSV3_OK;
}

static int parse_moe(meta *g, dsv3_config *c) {
    const gguf_file *f = g->f;
    TRY(get_int(g, "expert_feed_forward_length", 1, 0, 1, 1 << 20, &c->moe_intermediate_size));
    TRY(get_int(g, "expert_shared_count", 0, 0, 0, 64, &c->n_shared_experts));
    TRY(get_int(g, "expert_used_count", 1, 0, 1, c->n_routed_experts, &c->n_experts_per_tok));
    TRY(get_int(g, "expert_group_count", 0, 1, 0, c->n_routed_experts, &c->n_group));
    if (c->n_group == 0) c->n_group = 1;
    TRY(get_int(g, "expert_group_used_count", 0, c->n_group, 0, c->n_group, &c->topk_group));
    if (c->topk_group == 0) c->topk_group = c->n_group;
    if (c->n_routed_experts % c->n_group)
        return err_set(g->e, DSV3_ERR_UNSUPPORTED,
                       "GGUF: deepseek2.expert_count = %d is not divisible by deepseek2.expert_group_count = %d",
                       c->n_routed_experts, c->n_group);
    char key[128];
    int norm = 0;
    int rc = gguf_get_bool(f, key_of(key, sizeof key, "expert_weights_norm"), &norm, g->e);
    if (rc && rc != DSV3_ERR_NOT_FOUND) return rc;
    c->norm_topk_prob = norm;
    double scale;
    TRY(get_num(g, "expert_weights_scale", 0, 1.0, 0.0, 1e6, &scale));
    c->routed_scaling_factor = scale == 0.0 ? 1.0f : (float)scale; /* llama.cpp: 0 = not applied */
    int gating;
    TRY(get_int(g, "expert_gating_func", 0, 1, 0, 1000, &gating));
    if (gating == 0 || gating == 1) c->scoring = DSV3_SCORE_SOFTMAX; /* absent: V2 */
    else if (gating == 2) c->scoring = DSV3_SCORE_SIGMOID;
    else
        return err_set(g->e, DSV3_ERR_UNSUPPORTED,
                       "GGUF key 'deepseek2.expert_gating_func' = %d is not supported (1 softmax, 2 sigmoid)", gating);
    /* The selection bias of the first MoE layer decides V3's noaux_tc. */
    int first_moe = c->first_k_dense_replace < c->n_layers ? c->first_k_dense_replace : c->n_layers;
    char name[64];
    snprintf(name, sizeof name, "blk.%d.exp_probs_b.bias", first_moe);
    int has_bias = gguf_find_tensor(f, name) != NULL;
    if (c->scoring == DSV3_SCORE_SIGMOID && (has_bias || c->n_group > 1)) c->topk_method = DSV3_TOPK_NOAUX_TC;
    else if (c->n_group > 1) c->topk_method = DSV3_TOPK_GROUP_LIMITED_GREEDY;
    else c->topk_method = DSV3_TOPK_GREEDY;
    int per_group = c->n_routed_experts / c->n_group;
    if (c->topk_method == DSV3_TOPK_NOAUX_TC && c->n_group > 1 && per_group < 2)
        return err_set(g->e, DSV3_ERR_UNSUPPORTED,
                       "GGUF: deepseek2.expert_group_count = %d leaves fewer than 2 experts per group", c->n_group);
    if (c->topk_method != DSV3_TOPK_GREEDY && c->topk_group * per_group < c->n_experts_per_tok)
        return err_set(g->e, DSV3_ERR_BAD_CONFIG,
                       "GGUF: %d expert groups of %d experts cannot hold deepseek2.expert_used_count = %d",
                       c->topk_group, per_group, c->n_experts_per_tok);
    return DSV3_OK;
}

int gguf_model_config(const gguf_file *f, dsv3_config *c, dsv3_err *e) {
    meta g = {f, e};
    memset(c, 0, sizeof *c);
    gguf_str arch;
    int rc = gguf_get_str(f, "general.architecture", &arch, e);
    if (rc == DSV3_ERR_NOT_FOUND) return err_set(e, DSV3_ERR_BAD_CONFIG, "GGUF key 'general.architecture' is missing");
    if (rc) return rc;
    if (!gguf_str_eq(arch, "deepseek2"))
        return err_set(e, DSV3_ERR_UNSUPPORTED,
                       "general.architecture is '%.*s'; dsv3 runs only 'deepseek2' (DeepSeek-V2/V3/R1, Kimi-K2, Moonlight)",
                       (int)(arch.n < 64 ? arch.n : 64), arch.p);
    snprintf(c->architecture, sizeof c->architecture, "deepseek2");

    int blocks, nextn;
    TRY(get_int(&g, "block_count", 1, 0, 1, 1024 + 16, &blocks));
    TRY(get_int(&g, "nextn_predict_layers", 0, 0, 0, 16, &nextn));
    if (nextn >= blocks)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "GGUF: deepseek2.nextn_predict_layers = %d leaves no main layer of the %d blocks",
                       nextn, blocks);
    c->n_layers = blocks - nextn;
    c->n_mtp_layers = nextn;
    TRY(get_int(&g, "context_length", 1, 0, 1, 1 << 30, &c->max_position_embeddings));
    TRY(get_int(&g, "embedding_length", 1, 0, 1, 1 << 16, &c->hidden_size));
    TRY(get_int(&g, "attention.head_count", 1, 0, 1, 4096, &c->n_heads));
    TRY(get_int(&g, "attention.q_lora_rank", 0, 0, 0, 1 << 16, &c->q_lora_rank));
    TRY(get_int(&g, "attention.kv_lora_rank", 1, 0, 1, 1 << 16, &c->kv_lora_rank));
    TRY(get_int(&g, "rope.dimension_count", 1, 0, 2, 4096, &c->qk_rope_head_dim));
    if (c->qk_rope_head_dim % 2)
        return err_set(e, DSV3_ERR_UNSUPPORTED, "GGUF: deepseek2.rope.dimension_count = %d must be even", c->qk_rope_head_dim);
    /* Head sizes: key_length_mla = dn + dr and value_length_mla = dv; files
     * from before the MLA split give them as key_length / value_length. */
    int kl, vl;
    const char *kname = "attention.key_length_mla", *vname = "attention.value_length_mla";
    if (present(&g, kname) != present(&g, vname))
        return err_set(e, DSV3_ERR_BAD_CONFIG, "GGUF: deepseek2.%s is present without deepseek2.%s",
                       present(&g, kname) ? kname : vname, present(&g, kname) ? vname : kname);
    if (!present(&g, kname)) {
        kname = "attention.key_length";
        vname = "attention.value_length";
    }
    int def_head = c->hidden_size / c->n_heads; /* llama.cpp's default */
    TRY(get_int(&g, kname, 0, def_head, 1, 8192, &kl));
    TRY(get_int(&g, vname, 0, def_head, 1, 4096, &vl));
    c->qk_nope_head_dim = kl - c->qk_rope_head_dim;
    c->v_head_dim = vl;
    if (c->qk_nope_head_dim < 1 || c->qk_nope_head_dim > 4096)
        return err_set(e, DSV3_ERR_BAD_CONFIG,
                       "GGUF: deepseek2.%s = %d leaves %d nope dims after deepseek2.rope.dimension_count = %d", kname, kl,
                       c->qk_nope_head_dim, c->qk_rope_head_dim);
    double eps;
    TRY(get_num(&g, "attention.layer_norm_rms_epsilon", 1, 0, 0, 1, &eps));
    c->rms_norm_eps = (float)eps;
    TRY(get_num(&g, "rope.freq_base", 0, 10000, 1, 1e12, &c->rope_theta));
    TRY(parse_rope(&g, c));
    TRY(get_int(&g, "leading_dense_block_count", 0, 0, 0, c->n_layers, &c->first_k_dense_replace));
    c->moe_layer_freq = 1;
    TRY(get_int(&g, "expert_count", 0, 0, 0, 1 << 14, &c->n_routed_experts));
    TRY(get_int(&g, "feed_forward_length", c->n_routed_experts == 0 || c->first_k_dense_replace > 0, 0, 0, 1 << 20,
                &c->intermediate_size));
    if ((c->n_routed_experts == 0 || c->first_k_dense_replace > 0) && c->intermediate_size < 1)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "GGUF: deepseek2.feed_forward_length = 0 but the model has dense layers");
    if (c->n_routed_experts > 0) TRY(parse_moe(&g, c));
    else if (c->n_mtp_layers)
        return err_set(e, DSV3_ERR_UNSUPPORTED, "GGUF: deepseek2.nextn_predict_layers needs a MoE model (expert_count > 0)");
    /* BOS / EOS: informative, so an odd value (some files write -1 as
     * u32) means "none" rather than a refused file. */
    const char *tk[2] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
    int *tv[2] = {&c->bos_token_id, &c->eos_token_id};
    for (int i = 0; i < 2; i++) {
        int64_t v;
        *tv[i] = -1;
        if (gguf_get_int(f, tk[i], &v, NULL) == DSV3_OK && v >= 0 && v < MAX_DIM) *tv[i] = (int)v;
    }

    /* The vocabulary size is token_embd's {H, V}. */
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te) return err_set(e, DSV3_ERR_MISSING_TENSOR, "tensor 'token_embd.weight' is missing from the GGUF file");
    if (te->ne[0] != c->hidden_size || te->ne[2] != 1 || te->ne[3] != 1 || te->ne[1] < 1 || te->ne[1] > MAX_DIM)
        return err_set(e, DSV3_ERR_BAD_SHAPE,
                       "tensor 'token_embd.weight' has shape {%lld, %lld, %lld, %lld}, expected {%d, vocab} (ggml order)",
                       (long long)te->ne[0], (long long)te->ne[1], (long long)te->ne[2], (long long)te->ne[3],
                       c->hidden_size);
    c->vocab_size = (int)te->ne[1];
    if (c->bos_token_id >= c->vocab_size) c->bos_token_id = -1;
    if (c->eos_token_id >= c->vocab_size) c->eos_token_id = -1;
    return DSV3_OK;
}

/* ---- weights -------------------------------------------------------------- */

enum { W_MATRIX, W_VECTOR };

typedef struct binder {
    dsv3_model *m;
    const gguf_file *f;
    dsv3_err *e;
    int role, layer; /* what the next matrices are for (tag()): a device
                        backend places weights by role and layer */
} binder;

/* Matrices bound from here on have this role and decoder layer (-1 for
 * the embedding, output norm and head); vectors are always norms. */
static void tag(binder *b, int role, int layer) {
    b->role = role;
    b->layer = layer;
}

static int ggml_to_wtype(int t) {
    switch (t) {
    case GGML_T_F32: return DSV3_W_F32;
    case GGML_T_F16: return DSV3_W_F16;
    case GGML_T_BF16: return DSV3_W_BF16;
    case GGML_T_Q8_0: return DSV3_W_Q8_0;
    case GGML_T_Q4_0: return DSV3_W_Q4_0;
    case GGML_T_Q4_1: return DSV3_W_Q4_1;
    case GGML_T_Q5_0: return DSV3_W_Q5_0;
    case GGML_T_Q5_1: return DSV3_W_Q5_1;
    case GGML_T_Q2_K: return DSV3_W_Q2_K;
    case GGML_T_Q3_K: return DSV3_W_Q3_K;
    case GGML_T_Q4_K: return DSV3_W_Q4_K;
    case GGML_T_Q5_K: return DSV3_W_Q5_K;
    case GGML_T_Q6_K: return DSV3_W_Q6_K;
    case GGML_T_IQ4_NL: return DSV3_W_IQ4_NL;
    case GGML_T_IQ4_XS: return DSV3_W_IQ4_XS;
    case GGML_T_IQ1_S: return DSV3_W_IQ1_S;
    case GGML_T_IQ1_M: return DSV3_W_IQ1_M;
    case GGML_T_IQ2_XXS: return DSV3_W_IQ2_XXS;
    case GGML_T_IQ2_XS: return DSV3_W_IQ2_XS;
    case GGML_T_IQ2_S: return DSV3_W_IQ2_S;
    case GGML_T_IQ3_XXS: return DSV3_W_IQ3_XXS;
    case GGML_T_IQ3_S: return DSV3_W_IQ3_S;
    default: return -1; /* Q8_1, Q8_K, integer types, F64, TQ*, MXFP4 */
    }
}

static void fmt_shape(char *buf, size_t n, const int64_t *ne, int nd) {
    size_t at = (size_t)snprintf(buf, n, "{");
    for (int d = 0; d < nd && at < n; d++) at += (size_t)snprintf(buf + at, n - at, "%s%lld", d ? ", " : "", (long long)ne[d]);
    if (at < n) snprintf(buf + at, n - at, "}");
}

/* Find `name`, check its type for `kind` and its shape against want[nd]
 * (ggml order, trailing 1s ignored); *data receives its aligned bytes. */
static int find(binder *b, const char *name, const int64_t *want, int nd, int kind, int *wt, const unsigned char **data) {
    const gguf_tensor *t = gguf_find_tensor(b->f, name);
    if (!t) return err_set(b->e, DSV3_ERR_MISSING_TENSOR, "tensor '%s' is missing from the GGUF file", name);
    *wt = ggml_to_wtype(t->type);
    if (*wt < 0)
        return err_set(b->e, DSV3_ERR_BAD_DTYPE, "tensor '%s' has ggml type %s, which dsv3 does not support", name,
                       gguf_ggml_type_name(t->type));
    if (kind == W_VECTOR && *wt != DSV3_W_F32 && *wt != DSV3_W_F16 && *wt != DSV3_W_BF16)
        return err_set(b->e, DSV3_ERR_BAD_DTYPE, "tensor '%s' has ggml type %s; norm vectors must be F32, F16 or BF16", name,
                       gguf_ggml_type_name(t->type));
    int ok = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        if (t->ne[d] != (d < nd ? want[d] : 1)) ok = 0;
    if (!ok) {
        char got[128], exp[128];
        fmt_shape(got, sizeof got, t->ne, t->n_dims);
        fmt_shape(exp, sizeof exp, want, nd);
        return err_set(b->e, DSV3_ERR_BAD_SHAPE, "tensor '%s' has shape %s, expected %s (ggml order)", name, got, exp);
    }
    size_t align = dsv3_wtype_block(*wt) == 1 ? dsv3_wtype_size(*wt) : 4;
    *data = model_aligned(b->m, t->data, (size_t)t->nbytes, align);
    if (!*data) return err_set(b->e, DSV3_ERR_NO_MEMORY, "out of memory aligning '%s'", name);
    return DSV3_OK;
}

static int view(binder *b, dsv3_weight *w, int wt, const unsigned char *data, int64_t rows, int64_t cols, int role) {
    memset(w, 0, sizeof *w);
    w->role = role;
    w->layer = b->layer;
    w->type = wt;
    w->rows = rows;
    w->cols = cols;
    w->row_stride = dsv3_wtype_row_bytes(wt, cols);
    w->data = data;
    return model_add_weight(b->m, w, b->e);
}

/* A matrix [rows][cols] stored as ggml {cols, rows}, or a vector {cols}. */
static int bind(binder *b, dsv3_weight *w, const char *name, int64_t rows, int64_t cols, int kind) {
    int64_t want[2] = {cols, rows};
    int wt;
    const unsigned char *data;
    memset(w, 0, sizeof *w);
    TRY(find(b, name, want, kind == W_MATRIX ? 2 : 1, kind, &wt, &data));
    return view(b, w, wt, data, kind == W_MATRIX ? rows : 1, cols, kind == W_MATRIX ? b->role : DSV3_ROLE_NORM);
}

static int bindf(binder *b, dsv3_weight *w, int64_t rows, int64_t cols, int kind, const char *fmt, ...) DSV3_PRINTF(6, 7);
static int bindf(binder *b, dsv3_weight *w, int64_t rows, int64_t cols, int kind, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return bind(b, w, name, rows, cols, kind);
}

/* A 3-D tensor {cols, rows, n}: n matrices [rows][cols] back to back. */
static int bind3(binder *b, dsv3_weight *ws, size_t w_stride, const char *name, int64_t rows, int64_t cols, int64_t n) {
    int64_t want[3] = {cols, rows, n};
    int wt;
    const unsigned char *data;
    TRY(find(b, name, want, 3, W_MATRIX, &wt, &data));
    const size_t per = (size_t)rows * dsv3_wtype_row_bytes(wt, cols);
    for (int64_t i = 0; i < n; i++) {
        dsv3_weight *w = (dsv3_weight *)(void *)((char *)ws + (size_t)i * w_stride);
        TRY(view(b, w, wt, data + (size_t)i * per, rows, cols, b->role));
    }
    return DSV3_OK;
}

static int has(binder *b, const char *name) { return gguf_find_tensor(b->f, name) != NULL; }

/* Routed experts: ffn_{gate,up,down}_exps stacked on the outer axis, or a
 * fused ffn_gate_up_exps {H, 2*Fe, E} whose expert e holds Fe gate rows
 * followed by Fe up rows. */
static int bind_experts(binder *b, layer_weights *L, int il) {
    const dsv3_config *c = &b->m->cfg;
    const int64_t H = c->hidden_size, Fe = c->moe_intermediate_size, E = c->n_routed_experts;
    char name[128];
    L->experts = calloc((size_t)E, sizeof *L->experts);
    if (!L->experts) return err_set(b->e, DSV3_ERR_NO_MEMORY, "out of memory");
    snprintf(name, sizeof name, "blk.%d.ffn_gate_up_exps.weight", il);
    if (has(b, name)) {
        int64_t want[3] = {H, 2 * Fe, E};
        int wt;
        const unsigned char *data;
        TRY(find(b, name, want, 3, W_MATRIX, &wt, &data));
        const size_t half = (size_t)Fe * dsv3_wtype_row_bytes(wt, H);
        for (int64_t x = 0; x < E; x++) {
            TRY(view(b, &L->experts[x].gate, wt, data + (size_t)x * 2 * half, Fe, H, b->role));
            TRY(view(b, &L->experts[x].up, wt, data + (size_t)x * 2 * half + half, Fe, H, b->role));
        }
    } else {
        snprintf(name, sizeof name, "blk.%d.ffn_gate_exps.weight", il);
        TRY(bind3(b, &L->experts[0].gate, sizeof(ffn_weights), name, Fe, H, E));
        snprintf(name, sizeof name, "blk.%d.ffn_up_exps.weight", il);
        TRY(bind3(b, &L->experts[0].up, sizeof(ffn_weights), name, Fe, H, E));
    }
    snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", il);
    return bind3(b, &L->experts[0].down, sizeof(ffn_weights), name, H, Fe, E);
}

static int bind_ffn(binder *b, ffn_weights *f, int64_t inter, int il, const char *suffix) {
    const int64_t H = b->m->cfg.hidden_size;
    TRY(bindf(b, &f->gate, inter, H, W_MATRIX, "blk.%d.ffn_gate%s.weight", il, suffix));
    TRY(bindf(b, &f->up, inter, H, W_MATRIX, "blk.%d.ffn_up%s.weight", il, suffix));
    TRY(bindf(b, &f->down, H, inter, W_MATRIX, "blk.%d.ffn_down%s.weight", il, suffix));
    return DSV3_OK;
}

static int bind_layer(binder *b, int il) {
    dsv3_model *m = b->m;
    const dsv3_config *c = &m->cfg;
    layer_weights *L = &m->layers[il];
    const int64_t H = c->hidden_size, nh = c->n_heads, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim,
                  dv = c->v_head_dim, kvl = c->kv_lora_rank, ql = c->q_lora_rank;
    char name[128];
    tag(b, DSV3_ROLE_ATTN, il);
    TRY(bindf(b, &L->attn_norm, 1, H, W_VECTOR, "blk.%d.attn_norm.weight", il));
    TRY(bindf(b, &L->ffn_norm, 1, H, W_VECTOR, "blk.%d.ffn_norm.weight", il));
    if (ql > 0) {
        TRY(bindf(b, &L->q_a, ql, H, W_MATRIX, "blk.%d.attn_q_a.weight", il));
        TRY(bindf(b, &L->q_a_norm, 1, ql, W_VECTOR, "blk.%d.attn_q_a_norm.weight", il));
        TRY(bindf(b, &L->q_b, nh * (dn + dr), ql, W_MATRIX, "blk.%d.attn_q_b.weight", il));
    } else {
        TRY(bindf(b, &L->q, nh * (dn + dr), H, W_MATRIX, "blk.%d.attn_q.weight", il));
    }
    TRY(bindf(b, &L->kv_a, kvl + dr, H, W_MATRIX, "blk.%d.attn_kv_a_mqa.weight", il));
    TRY(bindf(b, &L->kv_a_norm, 1, kvl, W_VECTOR, "blk.%d.attn_kv_a_norm.weight", il));
    /* MLA split (k_b transposed per head, v_b), or the legacy kv_b. */
    snprintf(name, sizeof name, "blk.%d.attn_k_b.weight", il);
    char legacy[128];
    snprintf(legacy, sizeof legacy, "blk.%d.attn_kv_b.weight", il);
    if (has(b, name) || !has(b, legacy)) {
        if (!has(b, name))
            return err_set(b->e, DSV3_ERR_MISSING_TENSOR,
                           "tensor '%s' is missing from the GGUF file (and there is no legacy '%s' either)", name, legacy);
        L->kv_split = 1;
        int64_t wk[3] = {dn, kvl, nh}, wv[3] = {kvl, dv, nh};
        int wt;
        const unsigned char *data;
        TRY(find(b, name, wk, 3, W_MATRIX, &wt, &data));
        TRY(view(b, &L->k_b, wt, data, nh * kvl, dn, b->role));
        snprintf(name, sizeof name, "blk.%d.attn_v_b.weight", il);
        TRY(find(b, name, wv, 3, W_MATRIX, &wt, &data));
        TRY(view(b, &L->v_b, wt, data, nh * dv, kvl, b->role));
    } else {
        L->kv_split = 0;
        TRY(bind(b, &L->kv_b, legacy, nh * (dn + dv), kvl, W_MATRIX));
    }
    TRY(bindf(b, &L->o, H, nh * dv, W_MATRIX, "blk.%d.attn_output.weight", il));
    L->is_moe = config_layer_is_moe(c, il);
    L->router_bias.type = -1;
    if (!L->is_moe) {
        tag(b, DSV3_ROLE_DENSE, il);
        return bind_ffn(b, &L->dense, c->intermediate_size, il, "");
    }
    const int64_t E = c->n_routed_experts;
    tag(b, DSV3_ROLE_ROUTER, il);
    TRY(bindf(b, &L->router, E, H, W_MATRIX, "blk.%d.ffn_gate_inp.weight", il));
    /* The selection bias: in every MoE layer when the first has it. */
    int first_moe = c->first_k_dense_replace < c->n_layers ? c->first_k_dense_replace : c->n_layers;
    char first[64];
    snprintf(first, sizeof first, "blk.%d.exp_probs_b.bias", first_moe);
    snprintf(name, sizeof name, "blk.%d.exp_probs_b.bias", il);
    if (has(b, first) || has(b, name)) {
        TRY(bind(b, &L->router_bias, name, 1, E, W_VECTOR));
        if (L->router_bias.type != DSV3_W_F32)
            return err_set(b->e, DSV3_ERR_BAD_DTYPE, "tensor '%s' is stored as %s; the router bias must be F32", name,
                           gguf_ggml_type_name(gguf_find_tensor(b->f, name)->type));
    }
    tag(b, DSV3_ROLE_EXPERT, il);
    TRY(bind_experts(b, L, il));
    if (c->n_shared_experts > 0) {
        L->has_shared = 1;
        tag(b, DSV3_ROLE_SHARED, il);
        TRY(bind_ffn(b, &L->shared, (int64_t)c->moe_intermediate_size * c->n_shared_experts, il, "_shexp"));
    }
    return DSV3_OK;
}

/* MTP block il = n_layers + j: a decoder layer plus nextn.* (input
 * projection, norms, and an optional own embedding and head). */
static int bind_mtp(binder *b, int il) {
    dsv3_model *m = b->m;
    layer_weights *L = &m->layers[il];
    const int64_t H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    char name[128];
    TRY(bind_layer(b, il));
    tag(b, DSV3_ROLE_DENSE, il);
    TRY(bindf(b, &L->enorm, 1, H, W_VECTOR, "blk.%d.nextn.enorm.weight", il));
    TRY(bindf(b, &L->hnorm, 1, H, W_VECTOR, "blk.%d.nextn.hnorm.weight", il));
    TRY(bindf(b, &L->eh_proj, H, 2 * H, W_MATRIX, "blk.%d.nextn.eh_proj.weight", il));
    TRY(bindf(b, &L->head_norm, 1, H, W_VECTOR, "blk.%d.nextn.shared_head_norm.weight", il));
    snprintf(name, sizeof name, "blk.%d.nextn.shared_head_head.weight", il);
    tag(b, DSV3_ROLE_HEAD, il);
    if (has(b, name)) TRY(bind(b, &L->head, name, V, H, W_MATRIX));
    else L->head = m->lm_head;
    snprintf(name, sizeof name, "blk.%d.nextn.embed_tokens.weight", il);
    tag(b, DSV3_ROLE_EMBED, il);
    if (has(b, name)) TRY(bind(b, &L->embed, name, V, H, W_MATRIX));
    else L->embed = m->embed;
    return DSV3_OK;
}

static int bind_all(dsv3_model *m, const gguf_file *f, dsv3_err *e) {
    binder b = {m, f, e, DSV3_ROLE_EMBED, -1};
    const dsv3_config *c = &m->cfg;
    const int64_t H = c->hidden_size, V = c->vocab_size;
    /* A table tied to the head is read whole every token: place it as the head */
    if (!has(&b, "output.weight")) tag(&b, DSV3_ROLE_HEAD, -1);
    TRY(bind(&b, &m->embed, "token_embd.weight", V, H, W_MATRIX));
    TRY(bind(&b, &m->out_norm, "output_norm.weight", 1, H, W_VECTOR));
    tag(&b, DSV3_ROLE_HEAD, -1);
    if (has(&b, "output.weight")) TRY(bind(&b, &m->lm_head, "output.weight", V, H, W_MATRIX));
    else m->lm_head = m->embed; /* tied */
    m->layers = calloc((size_t)(c->n_layers + c->n_mtp_layers), sizeof *m->layers);
    if (!m->layers) return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    for (int il = 0; il < c->n_layers; il++) TRY(bind_layer(&b, il));
    for (int j = 0; j < c->n_mtp_layers; j++) TRY(bind_mtp(&b, c->n_layers + j));
    model_set_weight_dtype(m);
    return DSV3_OK;
}

static void free_gguf(void *p) { gguf_close(p); }

int model_load_gguf(dsv3_model *m, const char *path, int use_mmap, dsv3_err *e) {
    gguf_file *f = NULL;
    int rc = gguf_open(path, use_mmap, &f, e);
    if (rc) return rc;
    m->source = f;
    m->free_source = free_gguf;
    m->source_bytes = gguf_bytes(f);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    rc = gguf_model_config(f, &m->cfg, e);
    if (!rc) rc = bind_all(m, f, e);
    if (rc && e && e->msg[0] && strncmp(e->msg, base, strlen(base)) != 0) {
        /* name the file in metadata and binding messages */
        char msg[DSV3_ERR_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", e->msg);
        err_set(e, rc, "%s: %s", base, msg);
    }
    return rc;
}
