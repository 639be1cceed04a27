/* fuzz_model.h -- a micro DeepSeek-V3 checkpoint written by the harnesses
 * themselves (config.json + model.safetensors, F32, deterministic values):
 * 2 layers (one dense, one MoE with a shared expert, noaux_tc routing),
 * one MTP layer, YaRN, vocab 64, hidden 32. A step costs microseconds, so
 * the session and config harnesses reach millions of executions where the
 * demo model would give hundreds. Include after fuzz_util.h. */
#ifndef DSV3_FUZZ_MODEL_H
#define DSV3_FUZZ_MODEL_H

#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>

#define MICRO_V 64
#define MICRO_H 32
#define MICRO_I 48   /* dense FFN */
#define MICRO_MI 16  /* expert FFN */
#define MICRO_L 2
#define MICRO_NH 2
#define MICRO_QL 16
#define MICRO_KVL 32 /* a multiple of 32: every kv_type works */
#define MICRO_DN 8
#define MICRO_DR 4
#define MICRO_DV 8
#define MICRO_E 4
#define MICRO_MAXPOS 256

static const char micro_config_json[] =
    "{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"model_type\": \"deepseek_v3\",\n"
    " \"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 48, \"moe_intermediate_size\": 16,\n"
    " \"num_hidden_layers\": 2, \"num_nextn_predict_layers\": 1, \"num_attention_heads\": 2,\n"
    " \"num_key_value_heads\": 2, \"n_shared_experts\": 1, \"n_routed_experts\": 4,\n"
    " \"routed_scaling_factor\": 2.5, \"kv_lora_rank\": 32, \"q_lora_rank\": 16, \"qk_rope_head_dim\": 4,\n"
    " \"v_head_dim\": 8, \"qk_nope_head_dim\": 8, \"topk_method\": \"noaux_tc\", \"n_group\": 2,\n"
    " \"topk_group\": 1, \"num_experts_per_tok\": 2, \"moe_layer_freq\": 1, \"first_k_dense_replace\": 1,\n"
    " \"norm_topk_prob\": true, \"scoring_func\": \"sigmoid\", \"hidden_act\": \"silu\",\n"
    " \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-06, \"rope_theta\": 10000,\n"
    " \"rope_scaling\": {\"beta_fast\": 32, \"beta_slow\": 1, \"factor\": 4, \"mscale\": 1.0,\n"
    "   \"mscale_all_dim\": 1.0, \"original_max_position_embeddings\": 64, \"type\": \"yarn\"},\n"
    " \"tie_word_embeddings\": false, \"bos_token_id\": 0, \"eos_token_id\": 1, \"torch_dtype\": \"float32\"}\n";

typedef struct micro_tensor {
    char name[96];
    int rows, cols; /* rows 0: a vector of cols */
} micro_tensor;

typedef struct micro_list {
    micro_tensor t[160];
    int n;
} micro_list;

static void micro_add(micro_list *l, int rows, int cols, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void micro_add(micro_list *l, int rows, int cols, const char *fmt, ...) {
    FUZZ_ASSERT(l->n < (int)(sizeof l->t / sizeof l->t[0]));
    micro_tensor *t = &l->t[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->rows = rows;
    t->cols = cols;
}

static void micro_ffn(micro_list *l, int inter, const char *p) {
    micro_add(l, inter, MICRO_H, "%s.gate_proj.weight", p);
    micro_add(l, inter, MICRO_H, "%s.up_proj.weight", p);
    micro_add(l, MICRO_H, inter, "%s.down_proj.weight", p);
}

/* The tensors model_hf.c binds for the micro config, in its order. */
static void micro_tensors(micro_list *l) {
    l->n = 0;
    micro_add(l, MICRO_V, MICRO_H, "model.embed_tokens.weight");
    micro_add(l, 0, MICRO_H, "model.norm.weight");
    micro_add(l, MICRO_V, MICRO_H, "lm_head.weight");
    for (int il = 0; il < MICRO_L + 1; il++) {
        char p[64], q[96];
        snprintf(p, sizeof p, "model.layers.%d", il);
        micro_add(l, 0, MICRO_H, "%s.input_layernorm.weight", p);
        micro_add(l, 0, MICRO_H, "%s.post_attention_layernorm.weight", p);
        micro_add(l, MICRO_QL, MICRO_H, "%s.self_attn.q_a_proj.weight", p);
        micro_add(l, 0, MICRO_QL, "%s.self_attn.q_a_layernorm.weight", p);
        micro_add(l, MICRO_NH * (MICRO_DN + MICRO_DR), MICRO_QL, "%s.self_attn.q_b_proj.weight", p);
        micro_add(l, MICRO_KVL + MICRO_DR, MICRO_H, "%s.self_attn.kv_a_proj_with_mqa.weight", p);
        micro_add(l, 0, MICRO_KVL, "%s.self_attn.kv_a_layernorm.weight", p);
        micro_add(l, MICRO_NH * (MICRO_DN + MICRO_DV), MICRO_KVL, "%s.self_attn.kv_b_proj.weight", p);
        micro_add(l, MICRO_H, MICRO_NH * MICRO_DV, "%s.self_attn.o_proj.weight", p);
        if (il == 0) {
            snprintf(q, sizeof q, "%s.mlp", p);
            micro_ffn(l, MICRO_I, q);
        } else {
            micro_add(l, MICRO_E, MICRO_H, "%s.mlp.gate.weight", p);
            micro_add(l, 0, MICRO_E, "%s.mlp.gate.e_score_correction_bias", p);
            for (int x = 0; x < MICRO_E; x++) {
                snprintf(q, sizeof q, "%s.mlp.experts.%d", p, x);
                micro_ffn(l, MICRO_MI, q);
            }
            snprintf(q, sizeof q, "%s.mlp.shared_experts", p);
            micro_ffn(l, MICRO_MI, q);
        }
        if (il == MICRO_L) { /* the MTP layer's extras; head and embedding shared */
            micro_add(l, 0, MICRO_H, "%s.enorm.weight", p);
            micro_add(l, 0, MICRO_H, "%s.hnorm.weight", p);
            micro_add(l, MICRO_H, 2 * MICRO_H, "%s.eh_proj.weight", p);
            micro_add(l, 0, MICRO_H, "%s.shared_head.norm.weight", p);
        }
    }
}

/* The micro checkpoint as safetensors bytes (malloc'ed, *size set).
 * Norm weights are near 1, matrices small and scaled by 1/sqrt(cols), so
 * activations stay finite whatever tokens are stepped. */
static unsigned char *micro_safetensors(size_t *size) {
    micro_list l;
    micro_tensor *t = l.t;
    micro_tensors(&l);
    size_t hcap = 32768, hl = 0, off = 0;
    char *h = malloc(hcap);
    FUZZ_ASSERT(h);
    hl += (size_t)snprintf(h + hl, hcap - hl, "{");
    for (int i = 0; i < l.n; i++) {
        size_t nb = (size_t)(t[i].rows ? t[i].rows : 1) * (size_t)t[i].cols * 4;
        if (t[i].rows)
            hl += (size_t)snprintf(h + hl, hcap - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", t[i].name, t[i].rows, t[i].cols, off, off + nb);
        else
            hl += (size_t)snprintf(h + hl, hcap - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", t[i].name, t[i].cols, off, off + nb);
        FUZZ_ASSERT(hl < hcap);
        off += nb;
    }
    hl += (size_t)snprintf(h + hl, hcap - hl, "}");
    while (hl % 8) h[hl++] = ' '; /* data 8-aligned, as writers do */
    unsigned char *buf = malloc(8 + hl + off);
    FUZZ_ASSERT(buf);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)hl >> (8 * b));
    memcpy(buf + 8, h, hl);
    free(h);
    float *d = (float *)(buf + 8 + hl);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < l.n; i++) {
        size_t n = (size_t)(t[i].rows ? t[i].rows : 1) * (size_t)t[i].cols;
        for (size_t k = 0; k < n; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            float u = (float)((x >> 40) & 0xFFFF) / 65536.0f - 0.5f; /* [-0.5, 0.5) */
            if (!t[i].rows) d[k] = strstr(t[i].name, "bias") ? 0.1f * u : 1.0f + 0.2f * u;
            else d[k] = 2.0f * u / sqrtf((float)t[i].cols);
        }
        d += n;
    }
    *size = 8 + hl + off;
    return buf;
}

static void micro_write(const char *dir, const char *name, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    FUZZ_ASSERT(f && fwrite(p, 1, n, f) == n && fclose(f) == 0);
}

/* A fresh directory holding the micro checkpoint; returns its path
 * (static storage). config.json is written only when with_config. */
static const char *micro_model_dir(int with_config) {
    static char dir[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/dsv3-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_ASSERT(mkdtemp(dir));
    size_t n;
    unsigned char *st = micro_safetensors(&n);
    micro_write(dir, "model.safetensors", st, n);
    free(st);
    if (with_config) micro_write(dir, "config.json", micro_config_json, strlen(micro_config_json));
    return dir;
}

/* Remove what micro_model_dir wrote (at exit, or once the model is
 * loaded: a mapping outlives its file's name). */
static void micro_remove(const char *dir) {
    static const char *const names[] = {"config.json", "model.safetensors"};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif
