/* config_hf.c -- read a Hugging Face DeepSeek-V2/V3 config.json. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "dsv3.h"
#include "json.h"

/* Limits that keep every derived size far from integer overflow. */
#define MAX_DIM (1 << 24)

static int get_int(const json_value *root, const char *key, int required, int def, int lo,
                   int hi, int *out, dsv3_err *e) {
    const json_value *v = json_get(root, key);
    if (!v || (v->type == JSON_NULL && !required)) {
        if (required) return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: missing required key '%s'", key);
        *out = def;
        return DSV3_OK;
    }
    if (v->type != JSON_NUMBER || !v->is_int)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: key '%s' must be an integer, got %s", key,
                       v->type == JSON_NUMBER ? "a non-integer number" : json_type_name(v->type));
    if (v->i < lo || v->i > hi)
        return err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: key '%s' = %lld is outside the supported range [%d, %d]",
                       key, (long long)v->i, lo, hi);
    *out = (int)v->i;
    return DSV3_OK;
}

static int get_num(const json_value *obj, const char *where, const char *key, int required, double def,
                   double lo, double hi, double *out, dsv3_err *e) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL) {
        if (required) return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: missing required key '%s%s'", where, key);
        *out = def;
        return DSV3_OK;
    }
    if (v->type != JSON_NUMBER)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: key '%s%s' must be a number, got %s", where, key,
                       json_type_name(v->type));
    if (!(v->num >= lo && v->num <= hi))
        return err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: key '%s%s' = %g is outside the supported range [%g, %g]",
                       where, key, v->num, lo, hi);
    *out = v->num;
    return DSV3_OK;
}

static int get_bool(const json_value *root, const char *key, int def, int *out, dsv3_err *e) {
    const json_value *v = json_get(root, key);
    if (!v || v->type == JSON_NULL) { *out = def; return DSV3_OK; }
    if (v->type != JSON_BOOL)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: key '%s' must be true or false, got %s", key,
                       json_type_name(v->type));
    *out = v->boolean;
    return DSV3_OK;
}

/* A string key; *out stays NULL when absent or null. */
static int get_str(const json_value *obj, const char *where, const char *key, const char **out, dsv3_err *e) {
    const json_value *v = json_get(obj, key);
    *out = NULL;
    if (!v || v->type == JSON_NULL) return DSV3_OK;
    if (v->type != JSON_STRING)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: key '%s%s' must be a string, got %s", where, key,
                       json_type_name(v->type));
    *out = v->str;
    return DSV3_OK;
}

#define TRY(x) do { int rc_ = (x); if (rc_) return rc_; } while (0)

static int parse_rope_scaling(const json_value *root, dsv3_config *c, dsv3_err *e) {
    const json_value *rs = json_get(root, "rope_scaling");
    c->has_yarn = 0;
    if (!rs || rs->type == JSON_NULL) return DSV3_OK;
    if (rs->type != JSON_OBJECT)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: key 'rope_scaling' must be an object or null, got %s",
                       json_type_name(rs->type));
    const char *type = NULL;
    TRY(get_str(rs, "rope_scaling.", "type", &type, e));
    if (!type) TRY(get_str(rs, "rope_scaling.", "rope_type", &type, e));
    if (!type) return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: key 'rope_scaling.type' is missing");
    if (strcmp(type, "yarn") != 0)
        return err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: rope_scaling.type '%s' is not supported (only 'yarn')", type);
    c->has_yarn = 1;
    TRY(get_num(rs, "rope_scaling.", "factor", 1, 1, 1.0, 1e6, &c->yarn_factor, e));
    TRY(get_num(rs, "rope_scaling.", "beta_fast", 0, 32, 1e-6, 1e6, &c->yarn_beta_fast, e));
    TRY(get_num(rs, "rope_scaling.", "beta_slow", 0, 1, 1e-6, 1e6, &c->yarn_beta_slow, e));
    TRY(get_num(rs, "rope_scaling.", "mscale", 0, 1, 0, 1e6, &c->yarn_mscale, e));
    TRY(get_num(rs, "rope_scaling.", "mscale_all_dim", 0, 0, 0, 1e6, &c->yarn_mscale_all_dim, e));
    double orig;
    TRY(get_num(rs, "rope_scaling.", "original_max_position_embeddings", 1, 4096, 1, 1e9, &orig, e));
    if (orig != floor(orig))
        return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: key 'rope_scaling.original_max_position_embeddings' must be an integer");
    c->yarn_original_max_pos = (int)orig;
    return DSV3_OK;
}

static int parse_quant(const json_value *root, dsv3_config *c, dsv3_err *e) {
    const json_value *q = json_get(root, "quantization_config");
    c->fp8_block_rows = c->fp8_block_cols = 0;
    if (!q || q->type == JSON_NULL) return DSV3_OK;
    if (q->type != JSON_OBJECT)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: key 'quantization_config' must be an object");
    const char *method = NULL, *fmt = NULL, *act = NULL;
    TRY(get_str(q, "quantization_config.", "quant_method", &method, e));
    TRY(get_str(q, "quantization_config.", "fmt", &fmt, e));
    TRY(get_str(q, "quantization_config.", "activation_scheme", &act, e));
    if (!method || strcmp(method, "fp8") != 0)
        return err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: quantization_config.quant_method '%s' is not supported (only 'fp8')",
                       method ? method : "(missing)");
    if (fmt && strcmp(fmt, "e4m3") != 0)
        return err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: quantization_config.fmt '%s' is not supported (only 'e4m3')", fmt);
    const json_value *bs = json_get(q, "weight_block_size");
    if (!bs || bs->type != JSON_ARRAY || bs->n != 2 || bs->items[0].type != JSON_NUMBER || !bs->items[0].is_int ||
        bs->items[1].type != JSON_NUMBER || !bs->items[1].is_int || bs->items[0].i < 1 || bs->items[0].i > 65536 ||
        bs->items[1].i < 1 || bs->items[1].i > 65536)
        return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: quantization_config.weight_block_size must be two positive integers");
    c->fp8_block_rows = (int)bs->items[0].i;
    c->fp8_block_cols = (int)bs->items[1].i;
    return DSV3_OK;
}

int config_parse_hf(const char *text, size_t len, dsv3_config *c, dsv3_err *e) {
    json_doc *doc = NULL;
    char jerr[256];
    memset(c, 0, sizeof *c);
    int jr = json_parse(text, len, &doc, jerr, sizeof jerr);
    if (jr == -2) return err_set(e, DSV3_ERR_NO_MEMORY, "config.json: out of memory");
    if (jr) return err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: invalid JSON: %s", jerr);
    int rc = DSV3_OK;
    const json_value *root = json_root(doc);
#undef TRY
#define TRY(x) do { rc = (x); if (rc) goto done; } while (0)
    if (root->type != JSON_OBJECT) {
        rc = err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: top level must be an object, got %s", json_type_name(root->type));
        goto done;
    }
    const char *mt = NULL;
    TRY(get_str(root, "", "model_type", &mt, e));
    if (!mt) { rc = err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: missing required key 'model_type'"); goto done; }
    if (strcmp(mt, "deepseek_v3") != 0 && strcmp(mt, "deepseek_v2") != 0 && strcmp(mt, "kimi_k2") != 0) {
        rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: model_type '%s' is not supported (deepseek_v2, deepseek_v3, kimi_k2)", mt);
        goto done;
    }
    snprintf(c->architecture, sizeof c->architecture, "%s", mt);
    const char *act = NULL;
    TRY(get_str(root, "", "hidden_act", &act, e));
    if (act && strcmp(act, "silu") != 0) {
        rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: hidden_act '%s' is not supported (only 'silu')", act);
        goto done;
    }
    int tie = 0;
    TRY(get_bool(root, "tie_word_embeddings", 0, &tie, e));
    if (tie) { rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: tie_word_embeddings = true is not supported"); goto done; }
    TRY(get_int(root, "vocab_size", 1, 0, 1, MAX_DIM, &c->vocab_size, e));
    TRY(get_int(root, "hidden_size", 1, 0, 1, 1 << 16, &c->hidden_size, e));
    TRY(get_int(root, "intermediate_size", 1, 0, 1, 1 << 20, &c->intermediate_size, e));
    TRY(get_int(root, "num_hidden_layers", 1, 0, 1, 1024, &c->n_layers, e));
    TRY(get_int(root, "num_attention_heads", 1, 0, 1, 4096, &c->n_heads, e));
    int nkv = c->n_heads;
    TRY(get_int(root, "num_key_value_heads", 0, c->n_heads, 1, 4096, &nkv, e));
    TRY(get_int(root, "q_lora_rank", 0, 0, 0, 1 << 16, &c->q_lora_rank, e));
    TRY(get_int(root, "kv_lora_rank", 1, 0, 1, 1 << 16, &c->kv_lora_rank, e));
    TRY(get_int(root, "qk_nope_head_dim", 1, 0, 1, 4096, &c->qk_nope_head_dim, e));
    TRY(get_int(root, "qk_rope_head_dim", 1, 0, 2, 4096, &c->qk_rope_head_dim, e));
    if (c->qk_rope_head_dim % 2) {
        rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: qk_rope_head_dim = %d must be even", c->qk_rope_head_dim);
        goto done;
    }
    TRY(get_int(root, "v_head_dim", 1, 0, 1, 4096, &c->v_head_dim, e));
    TRY(get_int(root, "n_routed_experts", 0, 0, 0, 1 << 14, &c->n_routed_experts, e));
    TRY(get_int(root, "first_k_dense_replace", 0, 0, 0, c->n_layers, &c->first_k_dense_replace, e));
    TRY(get_int(root, "moe_layer_freq", 0, 1, 1, 1024, &c->moe_layer_freq, e));
    TRY(get_int(root, "num_nextn_predict_layers", 0, 0, 0, 16, &c->n_mtp_layers, e));
    TRY(get_int(root, "max_position_embeddings", 1, 0, 1, 1 << 30, &c->max_position_embeddings, e));
    TRY(get_int(root, "bos_token_id", 0, -1, -1, MAX_DIM, &c->bos_token_id, e));
    TRY(get_int(root, "eos_token_id", 0, -1, -1, MAX_DIM, &c->eos_token_id, e));
    double eps, scale;
    TRY(get_num(root, "", "rms_norm_eps", 1, 1e-6, 0, 1, &eps, e));
    c->rms_norm_eps = (float)eps;
    TRY(get_num(root, "", "rope_theta", 0, 10000, 1, 1e12, &c->rope_theta, e));
    if (c->n_routed_experts > 0) {
        TRY(get_int(root, "moe_intermediate_size", 1, 0, 1, 1 << 20, &c->moe_intermediate_size, e));
        TRY(get_int(root, "n_shared_experts", 0, 0, 0, 64, &c->n_shared_experts, e));
        TRY(get_int(root, "num_experts_per_tok", 1, 0, 1, c->n_routed_experts, &c->n_experts_per_tok, e));
        TRY(get_int(root, "n_group", 0, 1, 1, c->n_routed_experts, &c->n_group, e));
        TRY(get_int(root, "topk_group", 0, c->n_group, 1, c->n_group, &c->topk_group, e));
        if (c->n_routed_experts % c->n_group) {
            rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: n_routed_experts = %d is not divisible by n_group = %d",
                         c->n_routed_experts, c->n_group);
            goto done;
        }
        TRY(get_bool(root, "norm_topk_prob", 0, &c->norm_topk_prob, e));
        TRY(get_num(root, "", "routed_scaling_factor", 0, 1.0, 0, 1e6, &scale, e));
        c->routed_scaling_factor = (float)scale;
        const char *sf = NULL, *tm = NULL;
        TRY(get_str(root, "", "scoring_func", &sf, e));
        if (!sf || !strcmp(sf, "softmax")) c->scoring = DSV3_SCORE_SOFTMAX;
        else if (!strcmp(sf, "sigmoid")) c->scoring = DSV3_SCORE_SIGMOID;
        else { rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: scoring_func '%s' is not supported (softmax, sigmoid)", sf); goto done; }
        TRY(get_str(root, "", "topk_method", &tm, e));
        if (!tm || !strcmp(tm, "greedy")) c->topk_method = DSV3_TOPK_GREEDY;
        else if (!strcmp(tm, "group_limited_greedy")) c->topk_method = DSV3_TOPK_GROUP_LIMITED_GREEDY;
        else if (!strcmp(tm, "noaux_tc")) c->topk_method = DSV3_TOPK_NOAUX_TC;
        else { rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: topk_method '%s' is not supported (greedy, group_limited_greedy, noaux_tc)", tm); goto done; }
        int per_group = c->n_routed_experts / c->n_group;
        if (c->topk_method == DSV3_TOPK_NOAUX_TC && c->n_group > 1 && per_group < 2) {
            rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: n_group = %d leaves fewer than 2 experts per group, which noaux_tc needs", c->n_group);
            goto done;
        }
        if (c->topk_method != DSV3_TOPK_GREEDY && c->topk_group * per_group < c->n_experts_per_tok) {
            rc = err_set(e, DSV3_ERR_BAD_CONFIG, "config.json: topk_group = %d groups of %d experts cannot hold num_experts_per_tok = %d",
                         c->topk_group, per_group, c->n_experts_per_tok);
            goto done;
        }
    } else if (c->n_mtp_layers) {
        rc = err_set(e, DSV3_ERR_UNSUPPORTED, "config.json: num_nextn_predict_layers needs a MoE model (n_routed_experts > 0)");
        goto done;
    }
    TRY(parse_rope_scaling(root, c, e));
    TRY(parse_quant(root, c, e));
    (void)nkv;
done:
    json_free(doc);
    return rc;
}

int config_layer_is_moe(const dsv3_config *c, int il) {
    if (c->n_routed_experts <= 0) return 0;
    if (il >= c->n_layers) return 1; /* MTP layers are MoE in every release */
    return il >= c->first_k_dense_replace && il % c->moe_layer_freq == 0;
}
