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
    int kv_split;                   /* 1: k_b/v_b below instead of kv_b  */
    dsv3_weight k_b, v_b;           /* [nh*kvl][dn], [nh*dv][kvl]        */
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
    int type_counts[DSV3_W_COUNT];  /* matrices per stored type           */
    void *source;                   /* format loader's state (GGUF file)  */
    void (*free_source)(void *);
    uint64_t source_bytes;          /* bytes the format loader mapped     */
    void **aligned_copies;          /* tensors copied only for alignment */
    int n_aligned_copies;
    dsv3_err err;
    /* model_files.c: what a saved session state must match */
    uint64_t fp_config;             /* hash of every config value          */
    uint64_t fp_weights;            /* hash of the files' sizes + headers  */
    /* Device placement (model.c, model_place.c). The backend is
     * initialized at the first weight, once the config is known, because
     * its KV reserve depends on the model's dimensions. */
    dsv3_backend_params bp;         /* what init gets (placement copied)  */
    char placement[16];             /* "auto", "gpu", "experts-on-cpu"     */
    int32_t kv_reserve_ctx;
    int has_device;                 /* a backend with its own memory        */
    dsv3_weight **weights;          /* every weight bound, in bind order  */
    int n_weights, cap_weights;
    uint64_t device_bytes, host_bytes;
};

/* Shared by the format loaders (model.c). */
/* data itself if aligned for its type, else a private aligned copy (freed
 * with the model; safetensors does not promise alignment). NULL: no memory. */
const void *model_aligned(dsv3_model *m, const void *data, size_t nbytes, size_t align);
/* Count a bound weight and hand it to the backend. */
int model_add_weight(dsv3_model *m, dsv3_weight *w, dsv3_err *e);
/* Name the type most matrices are stored in (info.weight_dtype). */
void model_set_weight_dtype(dsv3_model *m);
uint64_t model_kv_bytes_per_token(const dsv3_model *m);
/* Stored bytes of a weight, FP8 block scales included (0 if unbound). */
uint64_t dsv3_model_weight_bytes(const dsv3_weight *w);

/* model_place.c: after the loader bound every weight, let a device
 * backend place and upload them (ops->load_done), re-copy the views that
 * alias a placed weight, and count the bytes on the device and host. */
int dsv3_model_place(dsv3_model *m, dsv3_err *e);

/* model_files.c. DSV3_OK while every mapped weight file has the size,
 * mtime and inode it had at load (one fstat a file; files read into
 * memory are not watched), else DSV3_ERR_IO naming the file. */
int dsv3_model_files_check(const dsv3_model *m, dsv3_err *e);
/* Fill fp_config and fp_weights (once, at the end of a load). */
void dsv3_model_fingerprint_init(dsv3_model *m);

/* Format loaders: fill cfg and every weight of an allocated model whose
 * backend is initialized. use_mmap is a DSV3_MAPFILE_* mode (mapfile.h). */
int model_load_hf(dsv3_model *m, const char *path, int use_mmap, dsv3_err *e);
/* A llama.cpp GGUF file of architecture deepseek2 (model_gguf.c); split
 * models are opened from any of their parts. */
int model_load_gguf(dsv3_model *m, const char *path, int use_mmap, dsv3_err *e);

/* YaRN / RoPE tables derived once from the config. */
void rope_inv_freq(const dsv3_config *c, double *inv_freq /* [dr/2] */);
/* cos/sin multiplier (mscale ratio) and the attention softmax scale. */
double rope_mscale(const dsv3_config *c);
double attn_softmax_scale(const dsv3_config *c);

#endif
