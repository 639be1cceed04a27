/* gguf_names.h -- how the tensors of a Hugging Face DeepSeek-V2/V3
 * checkpoint map to llama.cpp's `deepseek2` GGUF tensors
 * (../shared/docs/gguf-deepseek2.md), as a table the converter walks.
 *
 * Per layer N the HF name is "model.layers.N." + hf, the GGUF name
 * "blk.N." + gguf. A role applies to a layer when its `when` holds; the
 * kind says how the data moves:
 *   GN_MATRIX   HF [rows][cols] -> ggml {cols, rows}, stored in the file type
 *   GN_VECTOR   HF [n] -> {n}, always F32 (norms, exp_probs_b)
 *   GN_ROUTER   a matrix that stays F32 (ffn_gate_inp)
 *   GN_KV_B     kv_b_proj [nh*(dn+dv)][kvl] -> attn_k_b {dn, kvl, nh}
 *               (per head the transpose of its dn key rows) and attn_v_b
 *               {kvl, dv, nh} (per head its dv value rows)
 *   GN_EXPERTS  hf has a "%d" for the expert: E matrices [Fe][H] (or
 *               [H][Fe]) stacked on a new outer axis -> {cols, rows, E}
 * The global tensors use the full names below (layer -1). */
#ifndef DSV3_GGUF_NAMES_H
#define DSV3_GGUF_NAMES_H

#include <stddef.h>

enum gguf_name_kind { GN_MATRIX, GN_VECTOR, GN_ROUTER, GN_KV_B, GN_EXPERTS };

enum gguf_name_when {
    GN_ALWAYS,       /* every layer (main and MTP)                           */
    GN_Q_LORA,       /* q_lora_rank > 0                                      */
    GN_NO_Q_LORA,    /* q_lora_rank == 0 (V2-Lite): plain q_proj             */
    GN_DENSE,        /* a dense-FFN layer (N < first_k_dense_replace)        */
    GN_MOE,          /* a MoE layer                                          */
    GN_MOE_OPTIONAL, /* a MoE layer, when the checkpoint has it (V3's bias)  */
    GN_SHARED,       /* a MoE layer with n_shared_experts > 0                */
    GN_MTP,          /* an MTP layer (N >= num_hidden_layers)               */
    GN_MTP_OPTIONAL  /* an MTP layer, when the checkpoint has it            */
};

/* Symbolic dimensions, resolved from the config by the converter. */
enum gguf_name_dim {
    GD_1,   /* 1 (the rows of a vector)                                      */
    GD_H,   /* hidden_size                                                   */
    GD_2H,  /* 2 * hidden_size (eh_proj input)                               */
    GD_V,   /* vocab_size                                                    */
    GD_QL,  /* q_lora_rank                                                   */
    GD_Q,   /* nh * (qk_nope + qk_rope)                                      */
    GD_KVA, /* kv_lora_rank + qk_rope                                        */
    GD_KVL, /* kv_lora_rank                                                  */
    GD_KVB, /* nh * (qk_nope + v_head)                                       */
    GD_O,   /* nh * v_head                                                   */
    GD_F,   /* intermediate_size                                             */
    GD_FE,  /* moe_intermediate_size                                         */
    GD_FS,  /* moe_intermediate_size * n_shared_experts                      */
    GD_E    /* n_routed_experts                                              */
};

typedef struct gguf_name_role {
    const char *hf;    /* after "model.layers.N." (or the full global name) */
    const char *gguf;  /* after "blk.N." (or the full global name); for
                          GN_KV_B the k_b name, gguf2 the v_b name          */
    const char *gguf2;
    int kind;          /* enum gguf_name_kind                                */
    int when;          /* enum gguf_name_when                                */
    int rows, cols;    /* the HF shape [rows][cols] (vectors: GD_1, n)      */
} gguf_name_role;

/* token_embd, output_norm, output (in that order). */
const gguf_name_role *gguf_names_global(size_t *n);
/* The per-layer roles, in the order the converter writes them. */
const gguf_name_role *gguf_names_layer(size_t *n);

/* Tensors a checkpoint may hold that have no GGUF counterpart and carry no
 * weights the model needs (e.g. rotary_emb.inv_freq): 1 if name is one. */
int gguf_names_ignorable(const char *hf_name);

#endif
