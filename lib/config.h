/* config.h -- the model hyper-parameters, one struct whichever file format
 * they came from (HF config.json now, GGUF metadata later). */
#ifndef DSV3_CONFIG_H
#define DSV3_CONFIG_H

#include "err.h"

enum dsv3_scoring { DSV3_SCORE_SOFTMAX, DSV3_SCORE_SIGMOID };
enum dsv3_topk_method {
    DSV3_TOPK_GREEDY,               /* plain top-k over all experts         */
    DSV3_TOPK_GROUP_LIMITED_GREEDY, /* groups scored by their max (V2)       */
    DSV3_TOPK_NOAUX_TC              /* groups scored by top-2 sum of biased
                                       scores; bias for selection only (V3)  */
};

typedef struct dsv3_config {
    char architecture[32];  /* model_type: deepseek_v3 / deepseek_v2      */
    int vocab_size;
    int hidden_size;
    int intermediate_size;  /* dense FFN                                   */
    int moe_intermediate_size;
    int n_layers;           /* num_hidden_layers (main model)             */
    int n_heads;
    int q_lora_rank;        /* 0: plain q_proj                              */
    int kv_lora_rank;
    int qk_nope_head_dim;
    int qk_rope_head_dim;
    int v_head_dim;
    int first_k_dense_replace;
    int moe_layer_freq;
    int n_routed_experts;   /* 0: every layer dense                         */
    int n_shared_experts;
    int n_experts_per_tok;
    int n_group;
    int topk_group;
    enum dsv3_topk_method topk_method;
    enum dsv3_scoring scoring;
    int norm_topk_prob;
    float routed_scaling_factor;
    float rms_norm_eps;
    double rope_theta;
    int max_position_embeddings;
    int n_mtp_layers;       /* num_nextn_predict_layers                     */
    int bos_token_id, eos_token_id; /* -1 when absent                      */
    /* YaRN; has_yarn = 0 means plain RoPE */
    int has_yarn;
    double yarn_factor, yarn_beta_fast, yarn_beta_slow;
    double yarn_mscale, yarn_mscale_all_dim;
    int yarn_original_max_pos;
    /* quantization_config: fp8 block size (0 = none) */
    int fp8_block_rows, fp8_block_cols;
} dsv3_config;

/* Parse a config.json text. Every unsupported or ill-typed value is refused
 * with DSV3_ERR_BAD_CONFIG / DSV3_ERR_UNSUPPORTED and a message naming the
 * key. */
int config_parse_hf(const char *text, size_t len, dsv3_config *cfg, dsv3_err *e);

/* Is layer il (main model or MTP, il >= n_layers) a MoE layer? */
int config_layer_is_moe(const dsv3_config *cfg, int il);

#endif
