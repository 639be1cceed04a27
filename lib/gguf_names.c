/* gguf_names.c -- the HF -> GGUF tensor table of gguf_names.h. The names
 * are those of llama.cpp's tensor map for LLM_ARCH_DEEPSEEK2 (read from
 * ../shared/docs/gguf-deepseek2.md). */
#include <string.h>

#include "gguf_names.h"

static const gguf_name_role GLOBAL[] = {
    {"model.embed_tokens.weight", "token_embd.weight", NULL, GN_MATRIX, GN_ALWAYS, GD_V, GD_H},
    {"model.norm.weight", "output_norm.weight", NULL, GN_VECTOR, GN_ALWAYS, GD_1, GD_H},
    {"lm_head.weight", "output.weight", NULL, GN_MATRIX, GN_ALWAYS, GD_V, GD_H},
};

static const gguf_name_role LAYER[] = {
    {"input_layernorm.weight", "attn_norm.weight", NULL, GN_VECTOR, GN_ALWAYS, GD_1, GD_H},
    {"self_attn.q_a_proj.weight", "attn_q_a.weight", NULL, GN_MATRIX, GN_Q_LORA, GD_QL, GD_H},
    {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight", NULL, GN_VECTOR, GN_Q_LORA, GD_1, GD_QL},
    {"self_attn.q_b_proj.weight", "attn_q_b.weight", NULL, GN_MATRIX, GN_Q_LORA, GD_Q, GD_QL},
    {"self_attn.q_proj.weight", "attn_q.weight", NULL, GN_MATRIX, GN_NO_Q_LORA, GD_Q, GD_H},
    {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight", NULL, GN_MATRIX, GN_ALWAYS, GD_KVA, GD_H},
    {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight", NULL, GN_VECTOR, GN_ALWAYS, GD_1, GD_KVL},
    {"self_attn.kv_b_proj.weight", "attn_k_b.weight", "attn_v_b.weight", GN_KV_B, GN_ALWAYS, GD_KVB, GD_KVL},
    {"self_attn.o_proj.weight", "attn_output.weight", NULL, GN_MATRIX, GN_ALWAYS, GD_H, GD_O},
    {"post_attention_layernorm.weight", "ffn_norm.weight", NULL, GN_VECTOR, GN_ALWAYS, GD_1, GD_H},
    {"mlp.gate_proj.weight", "ffn_gate.weight", NULL, GN_MATRIX, GN_DENSE, GD_F, GD_H},
    {"mlp.up_proj.weight", "ffn_up.weight", NULL, GN_MATRIX, GN_DENSE, GD_F, GD_H},
    {"mlp.down_proj.weight", "ffn_down.weight", NULL, GN_MATRIX, GN_DENSE, GD_H, GD_F},
    {"mlp.gate.weight", "ffn_gate_inp.weight", NULL, GN_ROUTER, GN_MOE, GD_E, GD_H},
    {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias", NULL, GN_VECTOR, GN_MOE_OPTIONAL, GD_1, GD_E},
    {"mlp.experts.%d.gate_proj.weight", "ffn_gate_exps.weight", NULL, GN_EXPERTS, GN_MOE, GD_FE, GD_H},
    {"mlp.experts.%d.up_proj.weight", "ffn_up_exps.weight", NULL, GN_EXPERTS, GN_MOE, GD_FE, GD_H},
    {"mlp.experts.%d.down_proj.weight", "ffn_down_exps.weight", NULL, GN_EXPERTS, GN_MOE, GD_H, GD_FE},
    {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight", NULL, GN_MATRIX, GN_SHARED, GD_FS, GD_H},
    {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight", NULL, GN_MATRIX, GN_SHARED, GD_FS, GD_H},
    {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight", NULL, GN_MATRIX, GN_SHARED, GD_H, GD_FS},
    /* MTP module: input projection and norms, own embedding and head */
    {"eh_proj.weight", "nextn.eh_proj.weight", NULL, GN_MATRIX, GN_MTP, GD_H, GD_2H},
    {"enorm.weight", "nextn.enorm.weight", NULL, GN_VECTOR, GN_MTP, GD_1, GD_H},
    {"hnorm.weight", "nextn.hnorm.weight", NULL, GN_VECTOR, GN_MTP, GD_1, GD_H},
    {"embed_tokens.weight", "nextn.embed_tokens.weight", NULL, GN_MATRIX, GN_MTP_OPTIONAL, GD_V, GD_H},
    {"shared_head.head.weight", "nextn.shared_head_head.weight", NULL, GN_MATRIX, GN_MTP_OPTIONAL, GD_V, GD_H},
    {"shared_head.norm.weight", "nextn.shared_head_norm.weight", NULL, GN_VECTOR, GN_MTP, GD_1, GD_H},
};

const gguf_name_role *gguf_names_global(size_t *n) {
    *n = sizeof GLOBAL / sizeof GLOBAL[0];
    return GLOBAL;
}

const gguf_name_role *gguf_names_layer(size_t *n) {
    *n = sizeof LAYER / sizeof LAYER[0];
    return LAYER;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !memcmp(s + a - b, suffix, b);
}

int gguf_names_ignorable(const char *name) {
    /* RoPE frequencies some exports keep: recomputed from the config. */
    return ends_with(name, ".rotary_emb.inv_freq");
}
