/* backend.h -- the private interface between the model math (lib/) and the
 * compute backends (backends/<name>/). lib/ never touches a weight or an
 * activation buffer directly except through these calls, so a backend may
 * keep weights and activations in its own memory (a GPU's): pointers handed
 * out by alloc() are backend addresses that lib/ only passes back to ops
 * and reads with to_host().
 *
 * Versioning: `version` only grows. New ops are appended at the end of
 * struct dsv3_backend_ops; lib/ checks ops->version before calling an op
 * newer than DSV3_BACKEND_V1 (SQLite's iVersion pattern). Fields are only
 * appended to the argument structs too, with zero meaning the old
 * behaviour, so a backend written for V1 keeps working: lib/ hands it only
 * what V1 defined (an f32 KV cache).
 *
 * Threading: one backend instance belongs to one model. Ops may be called
 * concurrently from different sessions' threads; an op must therefore use
 * only the buffers it is given (scratch comes from the caller's session). */
#ifndef DSV3_BACKEND_H
#define DSV3_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DSV3_BACKEND_V1 1
#define DSV3_BACKEND_V2 2 /* store_kv; mla_attention reads kv_type caches */
#define DSV3_BACKEND_V3 3 /* describe, auto_ok, load_done, status, placement;
                             weight roles; device, placement, budget params */
#define DSV3_BACKEND_V4 4 /* route (router top-k in backend memory), moe_prepare */
#define DSV3_BACKEND_V5 5 /* rank_i8 (the MTP draft head's ranking) */

/* lib/ never passes more tokens than this to one op (longer steps are cut
 * into micro-batches), so backends may size stack arrays by it. */
#define DSV3_MAX_UBATCH 256

/* Stored weight types. Values are internal (not ABI). The block types are
 * bit-exact with ggml's layouts (GGUF files are read as they are). */
enum dsv3_wtype {
    DSV3_W_F32 = 0,
    DSV3_W_F16,
    DSV3_W_BF16,
    DSV3_W_F8_E4M3, /* e4m3fn with an f32 scale per block_r x block_c block */
    /* ggml block types: QK elements per block, fixed bytes per block */
    DSV3_W_Q8_0,
    DSV3_W_Q4_0,
    DSV3_W_Q4_1,
    DSV3_W_Q5_0,
    DSV3_W_Q5_1,
    DSV3_W_Q2_K,
    DSV3_W_Q3_K,
    DSV3_W_Q4_K,
    DSV3_W_Q5_K,
    DSV3_W_Q6_K,
    DSV3_W_IQ4_NL,
    DSV3_W_IQ4_XS,
    DSV3_W_IQ1_S,
    DSV3_W_IQ1_M,
    DSV3_W_IQ2_XXS,
    DSV3_W_IQ2_XS,
    DSV3_W_IQ2_S,
    DSV3_W_IQ3_XXS,
    DSV3_W_IQ3_S,
    DSV3_W_COUNT
};

const char *dsv3_wtype_name(int t);
/* Elements per block (1 for plain types) and bytes per block. */
int dsv3_wtype_block(int t);
size_t dsv3_wtype_block_bytes(int t);
/* Bytes of a row of n elements (n a multiple of the block), 0 if invalid. */
size_t dsv3_wtype_row_bytes(int t, int64_t n);
/* Bytes per element of a plain (non-block) type. */
size_t dsv3_wtype_size(int t);

/* A typed, read-only view of one weight matrix [rows][cols], row-major,
 * exactly as stored in the file (nothing is converted at load time).
 * Vectors (norm weights) have rows = 1. */
typedef struct dsv3_weight {
    int type;                 /* enum dsv3_wtype                          */
    int64_t rows, cols;
    const void *data;         /* host address of element [0][0]            */
    size_t row_stride;        /* bytes between rows                        */
    /* DSV3_W_F8_E4M3: w[r][c] = fp8(q[r][c]) * scale[(r/block_r) * scale_cols + c/block_c] */
    const float *scale;
    int64_t scale_cols;
    int block_r, block_c;
    void *device;             /* backend-owned copy, if any (upload_weight) */
    /* What the weight is for, so that a backend with its own memory can
     * place it (DSV3_BACKEND_V3; set by the loaders before upload). */
    int role;                 /* enum dsv3_wrole                           */
    int layer;                /* decoder layer, -1 for embed/head/out norm */
    /* The x86 backends' packed copy (backends/avx2/pack.c), or NULL: the
     * same blocks, 8 rows side by side. data keeps the stored layout for
     * every other reader. */
    const void *packed;
} dsv3_weight;

/* Weight roles, in the order a device budget is filled after the KV
 * cache: attention (with its norms), shared experts, dense FFN layers,
 * the output head, then routed experts a whole layer at a time from the
 * top. The embedding table is read a row per token and stays on the host. */
enum dsv3_wrole {
    DSV3_ROLE_OTHER = 0,
    DSV3_ROLE_EMBED,    /* token embedding (also the MTP layer's)        */
    DSV3_ROLE_NORM,     /* RMSNorm gains, router bias                    */
    DSV3_ROLE_ATTN,     /* q/kv projections, kv_b / k_b / v_b, o_proj     */
    DSV3_ROLE_ROUTER,   /* the MoE gate                                  */
    DSV3_ROLE_SHARED,   /* shared experts                                */
    DSV3_ROLE_DENSE,    /* dense FFN layers, MTP eh_proj                 */
    DSV3_ROLE_HEAD,     /* lm_head (and the MTP head)                    */
    DSV3_ROLE_EXPERT    /* routed experts                                */
};

/* Everything MLA attention needs for n new tokens in the absorbed form.
 * The new tokens' latent and rope-key rows are already in the caches. */
typedef struct dsv3_mla_args {
    int n_tok;          /* new tokens, at positions pos0 .. pos0+n_tok-1   */
    int pos0;
    int n_heads, dn, dr, dv, kvl;
    const float *q;     /* [n_tok][n_heads][dn+dr], rope applied           */
    const float *kv;    /* latent cache [pos][kvl] (normalized); with a
                           kv_type other than DSV3_W_F32, the start of
                           kv_row_bytes-byte rows of that type            */
    const float *pe;    /* rope key cache [pos][dr]                        */
    /* The key/value up-projections, in one of two stored forms:
     *  - wkv_b [n_heads*(dn+dv)][kvl] (HF kv_b_proj, GGUF legacy attn_kv_b):
     *    per head dn key rows then dv value rows; the key part is used
     *    transposed;
     *  - wk_b [n_heads*kvl][dn] and wv_b [n_heads*dv][kvl] (GGUF attn_k_b /
     *    attn_v_b): the key part already transposed. Used when wk_b != NULL. */
    const dsv3_weight *wkv_b;
    const dsv3_weight *wk_b, *wv_b;
    float scale;        /* softmax scale                                   */
    float *out;         /* [n_tok][n_heads][dv]                            */
    float *scratch;     /* >= n_threads * dsv3_mla_scratch_floats(n_ctx, kvl),
                           n_threads as given to the backend's init       */
    /* DSV3_BACKEND_V2: the latent cache's storage, DSV3_W_F32 (0, the V1
     * layout), DSV3_W_F16 or DSV3_W_Q8_0 (kvl % 32 == 0), and its row size
     * dsv3_kv_row_bytes(kv_type, kvl) (ignored for F32). The rope key cache
     * pe is always f32. lib/ passes a type other than F32 only to V2
     * backends. */
    int kv_type;
    size_t kv_row_bytes;
} dsv3_mla_args;

/* Per-thread attention scratch: the query and the attended value in latent
 * space (2 kvl), one decoded cache row (kvl; backends that read a
 * non-f32 cache through a row buffer), and the scores of n_pos positions. */
#define dsv3_mla_scratch_floats(n_pos, kvl) ((size_t)(n_pos) + 3 * (size_t)(kvl))

/* Bytes of one latent cache row of kvl values stored as kv_type
 * (DSV3_W_F32, DSV3_W_F16, DSV3_W_Q8_0); 0 if the type cannot hold it. */
static inline size_t dsv3_kv_row_bytes(int kv_type, int64_t kvl) {
    if (kv_type == DSV3_W_F32) return (size_t)kvl * 4;
    if (kv_type == DSV3_W_F16) return (size_t)kvl * 2;
    if (kv_type == DSV3_W_Q8_0 && kvl % 32 == 0) return (size_t)kvl / 32 * 34;
    return 0;
}

/* Host address of latent cache row p (in whatever type it is stored). */
static inline const void *dsv3_mla_kv_row(const dsv3_mla_args *a, int p) {
    if (a->kv_type == DSV3_W_F32) return a->kv + (size_t)p * (size_t)a->kvl;
    return (const char *)(const void *)a->kv + (size_t)p * a->kv_row_bytes;
}

/* Routed experts for n tokens: out[t] = sum_j weights[t][j] * E_ids[t][j](x[t]),
 * E(x) = down(silu(gate x) * up x). Experts are visited in increasing id so
 * a token's sum has the same order whatever the batch. */
typedef struct dsv3_moe_args {
    int n_tok, k, hidden, inter;
    const float *x;             /* [n_tok][hidden]                          */
    const int32_t *ids;         /* [n_tok][k] host memory                   */
    const float *weights;       /* [n_tok][k] host memory                   */
    int n_experts;
    /* Expert e's views are at byte offset e * expert_stride from these:
     * gate/up [inter][hidden], down [hidden][inter]. */
    const dsv3_weight *gate, *up, *down;
    size_t expert_stride;
    float *out;                 /* [n_tok][hidden], overwritten             */
    float *scratch;             /* >= dsv3_moe_scratch_floats(max(n_tok, k), hidden, inter) */
    /* DSV3_BACKEND_V4: the same picks in backend memory (the route op's
     * output), or NULL. A backend whose moe_prepare said it needs no host
     * picks reads these, and ids/weights may then be NULL. */
    const int32_t *dev_ids;     /* [n_tok][k]                               */
    const float *dev_weights;   /* [n_tok][k]                               */
} dsv3_moe_args;

#define dsv3_moe_scratch_floats(n, hidden, inter) \
    ((size_t)(n) * (2 * (size_t)(hidden) + 2 * (size_t)(inter) + 1))

static inline const dsv3_weight *dsv3_moe_expert(const dsv3_weight *first, size_t stride, int e) {
    return (const dsv3_weight *)(const void *)((const char *)first + (size_t)e * stride);
}

/* Expert selection for n tokens from the router's outputs (DSV3_BACKEND_V4),
 * by the rules of lib/route.c's route_token: scores = sigmoid or softmax
 * of the logits; selection scores = scores + bias; with group limits only
 * the topk_group best of n_group groups compete (a group scores its best
 * expert, or with NOAUX_TC the sum of its two best); the k best are picked
 * greedily, ties to the lower id; gate weights are the unbiased scores,
 * normalized if norm_topk_prob (and k > 1), times routed_scaling_factor. */
typedef struct dsv3_route_args {
    int n_tok, n_experts, k;
    int scoring;                /* enum dsv3_scoring (lib/config.h)        */
    int topk_method;            /* enum dsv3_topk_method (lib/config.h)    */
    int n_group, topk_group;
    int norm_topk_prob;
    float routed_scaling_factor;
    const float *logits;        /* [n_tok][n_experts] backend memory       */
    const dsv3_weight *bias;    /* e_score_correction_bias [n_experts] (F32), or NULL */
    int32_t *ids;               /* [n_tok][k] backend memory: in selection order */
    float *weights;             /* [n_tok][k] backend memory               */
    float *work;                /* host, >= 5 * n_experts floats (CPU backends) */
} dsv3_route_args;

typedef struct dsv3_backend dsv3_backend; /* backend-private state */

typedef struct dsv3_backend_params {
    int n_threads;
    /* DSV3_BACKEND_V3 (ignored by CPU backends): */
    int device;            /* device index ("vulkan:N"), 0 = first        */
    const char *placement; /* "auto" (NULL), "gpu", "experts-on-cpu"      */
    uint64_t budget;       /* device bytes for weights + KV; 0 = the device's */
    uint64_t kv_reserve;   /* bytes kept free for sessions' KV caches     */
    /* CPU backends built on avx2 (ignored by the others): 1 = upload_weight
     * keeps a packed copy of the weights it can pack (dsv3_weight.packed) */
    int repack;
} dsv3_backend_params;

typedef struct dsv3_backend_ops {
    int version;              /* DSV3_BACKEND_V1 ...                      */
    const char *name;
    /* 1 if this machine can run the backend; higher `priority` wins "auto". */
    int (*available)(void);
    int priority;

    /* lifetime */
    int (*init)(const dsv3_backend_params *p, dsv3_backend **out, dsv3_err *e);
    void (*free)(dsv3_backend *be);

    /* memory. upload_weight gives the backend a chance to copy/repack a
     * weight once at load (CPU backends keep the mapped pointer). */
    int (*upload_weight)(dsv3_backend *be, dsv3_weight *w, dsv3_err *e);
    void *(*alloc)(dsv3_backend *be, size_t bytes); /* zeroed; NULL on failure */
    void (*release)(dsv3_backend *be, void *buf);
    void (*to_host)(dsv3_backend *be, void *dst, const void *src, size_t bytes);
    void (*from_host)(dsv3_backend *be, void *dst, const void *src, size_t bytes);
    void (*copy)(dsv3_backend *be, void *dst, const void *src, size_t bytes);

    /* ops. All activations are f32, rows contiguous unless a stride is given. */
    /* y[t][r] = sum_c W[r][c] * x[t][c], for t < n. */
    void (*matmul)(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n);
    /* y[t] = x[t] / rms(x[t]) * g, rows of `dim` at strides ldx/ldy. */
    void (*rmsnorm)(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy,
                    int n, int dim, float eps);
    /* y[t] = row ids[t] of the embedding table (ids in host memory). */
    void (*embed)(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y);
    /* Rotate adjacent pairs (x[2i], x[2i+1]) of `dr` channels starting at
     * x + t*ld + h*head_stride + offset, for n tokens and n_heads heads.
     * cos/sin: [n][dr/2] host values (already scaled by the YaRN mscale). */
    void (*rope)(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
                 const float *cos_t, const float *sin_t);
    void (*mla_attention)(dsv3_backend *be, const dsv3_mla_args *a);
    /* out[i] = silu(g[i]) * u[i] */
    void (*swiglu)(dsv3_backend *be, const float *g, const float *u, float *out, size_t count);
    /* y[i] += x[i] */
    void (*add)(dsv3_backend *be, float *y, const float *x, size_t count);
    void (*moe_experts)(dsv3_backend *be, const dsv3_moe_args *a);

    /* ---- DSV3_BACKEND_V2 ---- */
    /* Write n latent rows into a cache of kv_type (DSV3_W_F16, DSV3_W_Q8_0;
     * lib/ writes f32 caches itself, as in V1): row t of x (kvl floats at
     * x + t*ldx) becomes the row_bytes bytes at dst + t*row_bytes. A row's
     * bytes depend only on its own values (never on n), so a cache written
     * token by token equals one written in a batch. */
    void (*store_kv)(dsv3_backend *be, int kv_type, const float *x, int ldx, void *dst, size_t row_bytes, int n,
                     int kvl);

    /* ---- DSV3_BACKEND_V3 ---- */
    /* Why the backend is or is not available, and its devices: a few lines
     * of text into buf (always NUL-terminated); returns the full length. */
    int (*describe)(char *buf, size_t size);
    /* 1 if "auto" may pick it (Vulkan: a real GPU, never a CPU device). */
    int (*auto_ok)(void);
    /* Called once after every weight went through upload_weight: place and
     * upload. A model that does not fit is refused here with the numbers. */
    int (*load_done)(dsv3_backend *be, dsv3_err *e);
    /* The sticky error of an op since the last call (ops return void);
     * DSV3_OK when none. lib/ checks it after every step. */
    int (*status)(dsv3_backend *be, dsv3_err *e);
    /* Where the weights went, as text (device name, bytes per role on the
     * device and on the host); returns the full length. */
    int (*placement)(dsv3_backend *be, char *buf, size_t size);
    /* The name of the device in use (dsv3_model_info.device), valid for
     * the backend's life; NULL op: the backend's name is shown. */
    const char *(*device_name)(dsv3_backend *be);

    /* ---- DSV3_BACKEND_V4 ---- */
    /* Expert selection (dsv3_route_args) with inputs and outputs in
     * backend memory, so a device backend needs no host round trip. */
    void (*route)(dsv3_backend *be, const dsv3_route_args *a);
    /* Called for an MoE layer before its routing is read back, with the
     * args moe_experts will get (ids and weights still NULL). A backend
     * that runs this layer's experts on the host may copy x to the host
     * at that read-back's sync rather than at a sync of its own, and then
     * run the device work recorded before moe_experts (lib/ records the
     * shared expert first) while its CPU computes. lib/ writes neither x
     * nor the experts in between. Returns 1 when moe_experts needs ids
     * and weights in host memory for these args, 0 when it reads the
     * route op's picks in backend memory. NULL op: as if it returned 1. */
    int (*moe_prepare)(dsv3_backend *be, const dsv3_moe_args *a);

    /* ---- DSV3_BACKEND_V5 ---- */
    /* The row r of q (rows x cols int8, row-major) whose score
     * (float)(q[r] . x) * scale[r] is highest, scanning r upwards and
     * keeping the first of equal scores (a NaN score never wins; 0 when
     * none is above -infinity). The dot products are exact int32 sums
     * (cols <= 65536), so every backend returns the same row. All arrays
     * are host memory: the speculative draft's int8 copy of the MTP head
     * (lib/mtp_draft.c, whose dsv3_draft_rank_ref is the reference). */
    int32_t (*rank_i8)(dsv3_backend *be, const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                       const int8_t *x);
} dsv3_backend_ops;

/* The host implementation of route for backends whose memory is the
 * host's (backends/cpu/route.c): lib/route.c's route_token per token. */
void dsv3_cpu_route(dsv3_backend *be, const dsv3_route_args *a);

/* rank_i8 for backends without a kernel of their own (backends/cpu/
 * rank_i8.c): lib/'s reference loop, on host arrays. */
int32_t dsv3_cpu_rank_i8(dsv3_backend *be, const int8_t *q, const float *scale, int32_t rows, int32_t cols,
                         const int8_t *x);

/* Registry (backends/registry.c). */
int dsv3_backend_count(void);
const dsv3_backend_ops *dsv3_backend_at(int i);
/* Resolve a name ("auto" picks the available one with the highest
 * priority, among V3 backends only those whose auto_ok() agrees). Returns
 * NULL and sets e when unknown or unavailable (with describe()'s reason
 * for a V3 backend). */
const dsv3_backend_ops *dsv3_backend_find(const char *name, dsv3_err *e);

extern const dsv3_backend_ops dsv3_backend_scalar;

#endif
