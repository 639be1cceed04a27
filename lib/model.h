/* model.h -- a loaded model: config, backend and typed weight views. */
#ifndef DSV3_MODEL_H
#define DSV3_MODEL_H

#include "backend.h"
#include "config.h"
#include "dsv3.h"
#include "safetensors.h"

typedef struct ffn_weights {
    dsv3_weight gate, up, down;
} ffn_weights;

typedef struct layer_weights {
    dsv3_weight attn_norm, ffn_norm;
    /* MLA */
    dsv3_weight q_a, q_a_norm, q_b; /* with q LoRA                       */
    dsv3_weight q;                  /* without (V2-Lite)                 */
    dsv3_weight kv_a, kv_a_norm, kv_b, o;
    /* FFN: dense, or MoE = router + routed experts + shared experts */
    int is_moe;
    ffn_weights dense;
    dsv3_weight router;             /* [n_experts][hidden]              */
    dsv3_weight router_bias;        /* e_score_correction_bias, or type -1 */
    ffn_weights *experts;           /* [n_experts]                       */
    int has_shared;
    ffn_weights shared;
    /* MTP-only: the module that feeds this layer and its output head */
    dsv3_weight enorm, hnorm, eh_proj, head_norm, head, embed;
} layer_weights;

struct dsv3_model {
    dsv3_config cfg;
    const dsv3_backend_ops *ops;
    dsv3_backend *be;
    st_set *st;
    dsv3_weight embed, out_norm, lm_head;
    layer_weights *layers;          /* n_layers main + n_mtp_layers      */
    int n_threads;
    uint64_t n_params;
    char weight_dtype[16];
    void **aligned_copies;          /* tensors copied only for alignment */
    int n_aligned_copies;
    dsv3_err err;
};

/* YaRN / RoPE tables derived once from the config. */
void rope_inv_freq(const dsv3_config *c, double *inv_freq /* [dr/2] */);
/* cos/sin multiplier (mscale ratio) and the attention softmax scale. */
double rope_mscale(const dsv3_config *c);
double attn_softmax_scale(const dsv3_config *c);

#endif
