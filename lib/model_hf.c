/* model_hf.c -- bind a Hugging Face checkpoint directory (config.json +
 * safetensors) to the model's layer table: every weight is a typed view of
 * the mapped file, checked for name, dtype and shape. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapfile.h"
#include "model.h"

/* Weight kinds decide which stored types and shapes are acceptable. */
enum { W_MATRIX, W_VECTOR, W_BIAS };

typedef struct binder {
    dsv3_model *m;
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

static int st_to_wtype(int dt) {
    switch (dt) {
    case ST_F32: return DSV3_W_F32;
    case ST_F16: return DSV3_W_F16;
    case ST_BF16: return DSV3_W_BF16;
    case ST_F8_E4M3: return DSV3_W_F8_E4M3;
    default: return -1;
    }
}

static int bind(binder *b, dsv3_weight *w, const char *name, int64_t rows, int64_t cols, int kind) {
    dsv3_model *m = b->m;
    const st_tensor *t = st_find(m->st, name);
    memset(w, 0, sizeof *w);
    if (!t) return err_set(b->e, DSV3_ERR_MISSING_TENSOR, "tensor '%s' is missing from the checkpoint", name);
    int wt = st_to_wtype(t->dtype);
    if (wt < 0 || (kind != W_MATRIX && wt == DSV3_W_F8_E4M3))
        return err_set(b->e, DSV3_ERR_BAD_DTYPE, "tensor '%s' has dtype %s, which dsv3 cannot use here", name,
                       st_dtype_name(t->dtype));
    int ok = kind == W_MATRIX ? t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols
                              : t->n_dims == 1 && t->shape[0] == cols;
    if (!ok) {
        char got[96] = "[";
        for (int d = 0; d < t->n_dims; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        strncat(got, "]", sizeof got - strlen(got) - 1);
        if (kind == W_MATRIX)
            return err_set(b->e, DSV3_ERR_BAD_SHAPE, "tensor '%s' has shape %s, expected [%lld, %lld]", name, got,
                           (long long)rows, (long long)cols);
        return err_set(b->e, DSV3_ERR_BAD_SHAPE, "tensor '%s' has shape %s, expected [%lld]", name, got, (long long)cols);
    }
    w->role = kind == W_MATRIX ? b->role : DSV3_ROLE_NORM;
    w->layer = b->layer;
    w->type = wt;
    w->rows = kind == W_MATRIX ? rows : 1;
    w->cols = cols;
    w->row_stride = (size_t)cols * dsv3_wtype_size(wt);
    w->data = model_aligned(m, t->data, t->nbytes, dsv3_wtype_size(wt));
    if (!w->data) return err_set(b->e, DSV3_ERR_NO_MEMORY, "out of memory aligning '%s'", name);
    if (wt == DSV3_W_F8_E4M3) {
        char sname[512];
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        const st_tensor *s = st_find(m->st, sname);
        int br = m->cfg.fp8_block_rows ? m->cfg.fp8_block_rows : 128;
        int bc = m->cfg.fp8_block_cols ? m->cfg.fp8_block_cols : 128;
        int64_t sr = (rows + br - 1) / br, sc = (cols + bc - 1) / bc;
        if (!s) return err_set(b->e, DSV3_ERR_MISSING_TENSOR, "FP8 tensor '%s' has no scale tensor '%s'", name, sname);
        if (s->dtype != ST_F32)
            return err_set(b->e, DSV3_ERR_BAD_DTYPE, "scale tensor '%s' has dtype %s, expected F32", sname, st_dtype_name(s->dtype));
        if (s->n_dims != 2 || s->shape[0] != sr || s->shape[1] != sc)
            return err_set(b->e, DSV3_ERR_BAD_SHAPE, "scale tensor '%s' must have shape [%lld, %lld] for %dx%d blocks", sname,
                           (long long)sr, (long long)sc, br, bc);
        w->scale = model_aligned(m, s->data, s->nbytes, 4);
        if (!w->scale) return err_set(b->e, DSV3_ERR_NO_MEMORY, "out of memory aligning '%s'", sname);
        w->scale_cols = sc;
        w->block_r = br;
        w->block_c = bc;
    }
    return model_add_weight(m, w, b->e);
}

#define TRY(x) do { int rc_ = (x); if (rc_) return rc_; } while (0)

static int bindf(binder *b, dsv3_weight *w, int64_t rows, int64_t cols, int kind, const char *fmt, ...)
    DSV3_PRINTF(6, 7);
static int bindf(binder *b, dsv3_weight *w, int64_t rows, int64_t cols, int kind, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return bind(b, w, name, rows, cols, kind);
}

static int bind_ffn(binder *b, ffn_weights *f, int64_t inter, const char *prefix) {
    const int64_t H = b->m->cfg.hidden_size;
    TRY(bindf(b, &f->gate, inter, H, W_MATRIX, "%s.gate_proj.weight", prefix));
    TRY(bindf(b, &f->up, inter, H, W_MATRIX, "%s.up_proj.weight", prefix));
    TRY(bindf(b, &f->down, H, inter, W_MATRIX, "%s.down_proj.weight", prefix));
    return DSV3_OK;
}

static int bind_layer(binder *b, int il) {
    dsv3_model *m = b->m;
    const dsv3_config *c = &m->cfg;
    layer_weights *L = &m->layers[il];
    const int64_t H = c->hidden_size, nh = c->n_heads, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim,
                  dv = c->v_head_dim, kvl = c->kv_lora_rank, ql = c->q_lora_rank;
    char p[128];
    snprintf(p, sizeof p, "model.layers.%d", il);
    tag(b, DSV3_ROLE_ATTN, il);
    TRY(bindf(b, &L->attn_norm, 1, H, W_VECTOR, "%s.input_layernorm.weight", p));
    TRY(bindf(b, &L->ffn_norm, 1, H, W_VECTOR, "%s.post_attention_layernorm.weight", p));
    if (ql > 0) {
        TRY(bindf(b, &L->q_a, ql, H, W_MATRIX, "%s.self_attn.q_a_proj.weight", p));
        TRY(bindf(b, &L->q_a_norm, 1, ql, W_VECTOR, "%s.self_attn.q_a_layernorm.weight", p));
        TRY(bindf(b, &L->q_b, nh * (dn + dr), ql, W_MATRIX, "%s.self_attn.q_b_proj.weight", p));
    } else {
        TRY(bindf(b, &L->q, nh * (dn + dr), H, W_MATRIX, "%s.self_attn.q_proj.weight", p));
    }
    TRY(bindf(b, &L->kv_a, kvl + dr, H, W_MATRIX, "%s.self_attn.kv_a_proj_with_mqa.weight", p));
    TRY(bindf(b, &L->kv_a_norm, 1, kvl, W_VECTOR, "%s.self_attn.kv_a_layernorm.weight", p));
    TRY(bindf(b, &L->kv_b, nh * (dn + dv), kvl, W_MATRIX, "%s.self_attn.kv_b_proj.weight", p));
    TRY(bindf(b, &L->o, H, nh * dv, W_MATRIX, "%s.self_attn.o_proj.weight", p));
    L->is_moe = config_layer_is_moe(c, il);
    L->router_bias.type = -1;
    if (!L->is_moe) {
        char q[160];
        snprintf(q, sizeof q, "%s.mlp", p);
        tag(b, DSV3_ROLE_DENSE, il);
        return bind_ffn(b, &L->dense, c->intermediate_size, q);
    }
    const int E = c->n_routed_experts;
    tag(b, DSV3_ROLE_ROUTER, il);
    TRY(bindf(b, &L->router, E, H, W_MATRIX, "%s.mlp.gate.weight", p));
    if (c->topk_method == DSV3_TOPK_NOAUX_TC) {
        TRY(bindf(b, &L->router_bias, 1, E, W_BIAS, "%s.mlp.gate.e_score_correction_bias", p));
        if (L->router_bias.type != DSV3_W_F32)
            return err_set(b->e, DSV3_ERR_BAD_DTYPE, "tensor '%s.mlp.gate.e_score_correction_bias' must be F32", p);
    }
    if (L->router.type == DSV3_W_F8_E4M3)
        return err_set(b->e, DSV3_ERR_BAD_DTYPE, "tensor '%s.mlp.gate.weight' is FP8; the router must be F32/BF16/F16", p);
    L->experts = calloc((size_t)E, sizeof *L->experts);
    if (!L->experts) return err_set(b->e, DSV3_ERR_NO_MEMORY, "out of memory");
    tag(b, DSV3_ROLE_EXPERT, il);
    for (int x = 0; x < E; x++) {
        char q[160];
        snprintf(q, sizeof q, "%s.mlp.experts.%d", p, x);
        TRY(bind_ffn(b, &L->experts[x], c->moe_intermediate_size, q));
    }
    if (c->n_shared_experts > 0) {
        char q[160];
        snprintf(q, sizeof q, "%s.mlp.shared_experts", p);
        L->has_shared = 1;
        tag(b, DSV3_ROLE_SHARED, il);
        TRY(bind_ffn(b, &L->shared, (int64_t)c->moe_intermediate_size * c->n_shared_experts, q));
    }
    return DSV3_OK;
}

/* MTP layer il = n_layers + j: a decoder layer plus its input projection
 * and output head. The release duplicates the embedding and head inside the
 * layer; checkpoints without the copies share the main model's. */
static int bind_mtp(binder *b, int il) {
    dsv3_model *m = b->m;
    layer_weights *L = &m->layers[il];
    const int64_t H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    TRY(bind_layer(b, il));
    tag(b, DSV3_ROLE_DENSE, il);
    TRY(bindf(b, &L->enorm, 1, H, W_VECTOR, "model.layers.%d.enorm.weight", il));
    TRY(bindf(b, &L->hnorm, 1, H, W_VECTOR, "model.layers.%d.hnorm.weight", il));
    TRY(bindf(b, &L->eh_proj, H, 2 * H, W_MATRIX, "model.layers.%d.eh_proj.weight", il));
    TRY(bindf(b, &L->head_norm, 1, H, W_VECTOR, "model.layers.%d.shared_head.norm.weight", il));
    char name[160];
    snprintf(name, sizeof name, "model.layers.%d.shared_head.head.weight", il);
    tag(b, DSV3_ROLE_HEAD, il);
    if (st_find(m->st, name)) TRY(bind(b, &L->head, name, V, H, W_MATRIX));
    else L->head = m->lm_head;
    snprintf(name, sizeof name, "model.layers.%d.embed_tokens.weight", il);
    tag(b, DSV3_ROLE_EMBED, il);
    if (st_find(m->st, name)) TRY(bind(b, &L->embed, name, V, H, W_MATRIX));
    else L->embed = m->embed;
    if (L->embed.type == DSV3_W_F8_E4M3)
        return err_set(b->e, DSV3_ERR_BAD_DTYPE, "tensor '%s' is FP8; embeddings must be F32/BF16/F16", name);
    return DSV3_OK;
}

static int bind_all(dsv3_model *m, dsv3_err *e) {
    binder b = {m, e, DSV3_ROLE_EMBED, -1};
    const dsv3_config *c = &m->cfg;
    const int64_t H = c->hidden_size, V = c->vocab_size;
    TRY(bind(&b, &m->embed, "model.embed_tokens.weight", V, H, W_MATRIX));
    TRY(bind(&b, &m->out_norm, "model.norm.weight", 1, H, W_VECTOR));
    tag(&b, DSV3_ROLE_HEAD, -1);
    TRY(bind(&b, &m->lm_head, "lm_head.weight", V, H, W_MATRIX));
    if (m->embed.type == DSV3_W_F8_E4M3)
        return err_set(e, DSV3_ERR_BAD_DTYPE, "tensor 'model.embed_tokens.weight' is FP8; embeddings must be F32/BF16/F16");
    m->layers = calloc((size_t)(c->n_layers + c->n_mtp_layers), sizeof *m->layers);
    if (!m->layers) return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    for (int il = 0; il < c->n_layers; il++) TRY(bind_layer(&b, il));
    for (int j = 0; j < c->n_mtp_layers; j++) TRY(bind_mtp(&b, c->n_layers + j));
    model_set_weight_dtype(m);
    return DSV3_OK;
}


int model_load_hf(dsv3_model *m, const char *path, int use_mmap, dsv3_err *e) {
    char cpath[4096];
    if (snprintf(cpath, sizeof cpath, "%s/config.json", path) >= (int)sizeof cpath)
        return err_set(e, DSV3_ERR_INVALID_ARG, "path too long");
    char *text = NULL;
    size_t len = 0;
    int rc = read_small_file(cpath, 16u << 20, &text, &len, e);
    if (rc == DSV3_ERR_NOT_FOUND) return err_set(e, DSV3_ERR_BAD_CONFIG, "%s: config.json is missing", path);
    if (rc) return rc;
    if (len == 0) {
        free(text);
        return err_set(e, DSV3_ERR_BAD_CONFIG, "%s: config.json is empty", path);
    }
    rc = config_parse_hf(text, len, &m->cfg, e);
    free(text);
    if (rc) return rc;
    rc = st_open_dir(path, use_mmap, &m->st, e);
    if (rc) return rc;
    return bind_all(m, e);
}
