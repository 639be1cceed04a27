/*
 * dsv3.h -- the public C API of dsv3, a runtime for DeepSeek-V3-architecture
 * language models (DeepSeek-V3/R1, DeepSeek-V2/V2-Lite, Kimi-K2, Moonlight).
 *
 * ABI rules (stable within a major version):
 *   - Handles are opaque; the library owns their memory. Every *_free accepts
 *     NULL.
 *   - No function takes or returns a struct by value.
 *   - Parameter and result structs begin with `size_t struct_size`, the
 *     size of the struct as the caller's header declares it. Fill a
 *     parameter struct with the matching init function, then change what you
 *     need:
 *         struct dsv3_model_params mp;
 *         dsv3_model_params_init(&mp, sizeof mp);
 *     Structs only grow, by appending fields. The library follows the
 *     extensible-struct rule of Linux's openat2/clone3: a struct smaller
 *     than the library's (a program built against an older header) is
 *     fine, the fields it lacks take their defaults; a larger one (built
 *     against a newer header) is accepted only when every byte the library
 *     does not know is zero, else DSV3_ERR_INVALID_ARG with a message
 *     naming the byte offset. Result structs (dsv3_model_info,
 *     dsv3_generate_result) are written up to the smaller of the two sizes
 *     and the caller's bytes past the library's struct are zeroed.
 *   - Every fallible call returns an `enum dsv3_status`. DSV3_OK is 0.
 *     dsv3_status_string() names a status; each handle keeps a detailed
 *     message for its last failure (dsv3_model_last_error,
 *     dsv3_session_last_error); a failed load writes its message into a
 *     caller-supplied buffer. There is no global mutable state.
 *   - The library never aborts, exits or prints.
 *
 * Threads:
 *   - A dsv3_model is immutable after dsv3_model_load returns. Any number of
 *     sessions, on any threads, may share one model concurrently.
 *     dsv3_model_free must not race with any other use of the model or its
 *     sessions (free the sessions first).
 *   - A dsv3_session is used by one thread at a time (calls on one session
 *     must be serialized by the caller); different sessions are independent.
 *   - dsv3_version, dsv3_status_string and dsv3_*_params_init are pure
 *     and may be called from any thread at any time.
 */
#ifndef DSV3_H
#define DSV3_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macro ------------------------------------------------------ */
#if defined(DSV3_STATIC)
#  define DSV3_API
#elif defined(_WIN32)
#  if defined(DSV3_BUILDING)
#    define DSV3_API __declspec(dllexport)
#  else
#    define DSV3_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define DSV3_API __attribute__((visibility("default")))
#else
#  define DSV3_API
#endif

/* ---- version ----------------------------------------------------------- */
#define DSV3_VERSION_MAJOR 0
#define DSV3_VERSION_MINOR 3
#define DSV3_VERSION_PATCH 0
#define DSV3_VERSION_NUMBER \
    (DSV3_VERSION_MAJOR * 10000 + DSV3_VERSION_MINOR * 100 + DSV3_VERSION_PATCH)
#define DSV3_VERSION_STRING "0.3.0"

/* The version of the library actually linked, as MAJOR*10000+MINOR*100+PATCH.
 * Compare with DSV3_VERSION_NUMBER to detect a header/library mismatch. */
DSV3_API unsigned dsv3_version(void);
/* The same as a static string, e.g. "0.1.0". Never NULL, never freed. */
DSV3_API const char *dsv3_version_string(void);

/* ---- status codes ------------------------------------------------------ */
/* Values are fixed forever; new codes are only appended. */
enum dsv3_status {
    DSV3_OK = 0,
    DSV3_ERR_INVALID_ARG = 1,    /* NULL handle, bad size, bad parameter   */
    DSV3_ERR_NOT_FOUND = 2,      /* a file or directory does not exist    */
    DSV3_ERR_IO = 3,             /* open/read/mmap failed                 */
    DSV3_ERR_NO_MEMORY = 4,      /* allocation failed                     */
    DSV3_ERR_BAD_CONFIG = 5,     /* config.json missing, invalid or wrong  */
    DSV3_ERR_UNSUPPORTED = 6,    /* a valid value dsv3 does not implement */
    DSV3_ERR_BAD_FILE = 7,       /* malformed/truncated weight file       */
    DSV3_ERR_BAD_DTYPE = 8,      /* unknown or unexpected tensor dtype    */
    DSV3_ERR_MISSING_TENSOR = 9, /* a tensor the model needs is absent    */
    DSV3_ERR_BAD_SHAPE = 10,     /* a tensor has the wrong shape          */
    DSV3_ERR_BAD_TOKEN = 11,     /* token id < 0 or >= vocab              */
    DSV3_ERR_CONTEXT_FULL = 12,  /* step would pass the context length    */
    DSV3_ERR_BAD_POSITION = 13,  /* rewind target outside [0, position]   */
    DSV3_ERR_BACKEND = 14,       /* backend unknown, unavailable, failed  */
    DSV3_ERR_NO_MTP = 15,        /* model has no MTP layer                */
    DSV3_ERR_STATE = 16,         /* call not valid in the current state   */
    DSV3_ERR_TOO_SMALL = 17,     /* output buffer too small; the needed
                                    size is reported                      */
    DSV3_ERR_CANCELLED = 18,     /* a callback asked to cancel            */
    DSV3_ERR_BAD_STATE = 19      /* a saved session state is corrupt,
                                    truncated, or of another model,
                                    kv_type or context (added in 0.2)     */
};

/* A short, static, English name of a status ("invalid argument", ...).
 * Unknown values give "unknown status". Never NULL. */
DSV3_API const char *dsv3_status_string(int status);

/* ---- model ------------------------------------------------------------- */
typedef struct dsv3_model dsv3_model;

struct dsv3_model_params {
    size_t struct_size;   /* = sizeof(struct dsv3_model_params)          */
    const char *backend;  /* "auto" (default), "scalar", ...; not kept.
                             "vulkan:N" picks device N of "vulkan" (0 =
                             "vulkan"); "auto" picks "vulkan" only for a
                             GPU, never a CPU-emulated device            */
    int n_threads;        /* 0 = one per online CPU; results are the same
                             bit for bit for any thread count            */
    int use_mmap;         /* 1 (default): map weights; 0: read into RAM   */
    /* appended in 0.2: */
    int32_t mmap_mode;    /* with use_mmap: DSV3_MMAP_LAZY (default),
                             DSV3_MMAP_POPULATE or DSV3_MMAP_LOCK         */
    int32_t reserved0;    /* never read: fills the tail padding           */
    /* appended in 0.3: where the weights go on a backend with its own
     * device memory (Vulkan); CPU backends ignore these three. */
    const char *placement; /* "auto" (default, NULL), "gpu" or
                              "experts-on-cpu" (see below); not kept     */
    uint64_t gpu_budget;   /* device bytes the model may use for weights
                              and KV caches; 0 (default) = the device's
                              memory less the backend's headroom         */
    int32_t kv_reserve_ctx; /* positions of KV cache to keep room for on
                              the device (default 4096; at most the
                              model's max_context are counted; 0 = none) */
    int32_t reserved1;    /* never read: fills the tail padding           */
    int32_t repack;       /* 1: the x86 CPU backends keep a packed copy of
                             the Q8_0, Q4_0 and Q5_0 matrices (see below);
                             0 (default): every weight is used in place  */
    int32_t reserved2;    /* never read: fills the tail padding           */
};

/* Packed weights (repack = 1, added in 0.3; backends avx2 and avx512).
 * At load, every Q8_0, Q4_0 and Q5_0 matrix whose rows are a multiple of 8
 * (the token embedding table excepted) is copied into process memory with
 * eight rows side by side, block by block, which the integer kernels read
 * as one stream instead of eight: decode and prefill of those types are
 * faster (the bits are the same). The cost is process memory equal to
 * those matrices (dsv3_model_info.repacked_bytes), on top of the mapping,
 * whose pages the kernels then no longer read (the kernel may evict them),
 * and a load that reads them all. A copy that cannot be allocated fails
 * the load with DSV3_ERR_NO_MEMORY. With "vulkan", the weights a placement
 * leaves in host memory are packed for the CPU backend that runs them;
 * scalar and neon ignore it. Q4_K and other types are not packed: they
 * gained nothing from it. */

/* Mapped weights (use_mmap = 1).
 *   DSV3_MMAP_LAZY      pages are read from the file when a step first
 *                       touches them; they may be evicted and re-read.
 *   DSV3_MMAP_POPULATE  every page is read at load (MAP_POPULATE): load
 *                       takes as long as reading the files; the first
 *                       tokens do not wait for the disk.
 *   DSV3_MMAP_LOCK      as POPULATE, and the pages are locked in RAM
 *                       (mlock): never evicted, never re-read. Costs RAM
 *                       equal to the weight files, locked; needs
 *                       RLIMIT_MEMLOCK ('ulimit -l') of at least that
 *                       size or CAP_IPC_LOCK, else the load fails with
 *                       DSV3_ERR_NO_MEMORY and a message saying so.
 * Weight files that change after load: the library keeps the files open
 * and, before every step that reads weights (dsv3_session_step,
 * dsv3_session_mtp_step, dsv3_generate), compares each file's size,
 * modification time and inode with those at load (one fstat a file). A
 * difference fails the call with DSV3_ERR_IO, "model file <path> changed
 * on disk after load", and leaves the session unchanged and usable
 * (rewind, save, ...); steps keep failing until the model is loaded again.
 * (A writer that keeps the size and sets the modification time back
 * afterwards goes unnoticed; so does a change on a filesystem that does
 * not report it, e.g. some network ones. A 'touch' counts as a change.)
 * A file replaced by rename (a new file moved over the old name, as
 * package managers and downloaders do) is not a change: the mapping keeps
 * the old file's data alive and intact, so steps go on with the weights
 * that were loaded. That is the safe way to update a model in place.
 * The remaining window: a file truncated or rewritten in place WHILE a
 * step runs is seen only by the next step's check; if it was truncated,
 * the running step's next read of a page past the new end raises SIGBUS
 * in the process (the library installs no signal handlers), and a rewrite
 * can feed that step new bytes. No mmap_mode closes this window: Linux
 * removes pages past the new end even when they are populated or locked.
 * Only use_mmap = 0 does (the weights are copied into the process's own
 * memory at load, costing RAM equal to the files; such a model never sees
 * later changes to the files and needs no checks). Prefer it for weights
 * on network or removable filesystems, or that another program may write. */
#define DSV3_MMAP_LAZY 0
#define DSV3_MMAP_POPULATE 1
#define DSV3_MMAP_LOCK 2

/* Placement (added in 0.3), for a backend with its own device memory
 * ("vulkan", "vulkan:N" for device N; dsv3_backend_describe lists the
 * devices). The weights the device holds are copied there at load; the
 * rest stay in host memory (mapped as above) and their products run on
 * the best CPU backend. The results do not depend on the placement beyond
 * the backends' own rounding.
 *   "gpu"             every weight on the device except the token
 *                     embedding table (read one row per token).
 *   "experts-on-cpu"  the routed experts stay on the host; attention,
 *                     norms, router, shared experts, dense layers and the
 *                     output head go to the device. Suits a device that
 *                     cannot hold the experts of a large MoE model.
 *   "auto"            fill the budget in order: norms, router and
 *                     attention; shared experts; dense layers; the output
 *                     head; then the routed experts one whole layer at a
 *                     time in layer order; what does not fit stays on the
 *                     host.
 * The budget is gpu_budget (0: the device's memory less a headroom) less
 * the KV reserve: kv_reserve_ctx positions of an f32 cache of every layer,
 * MTP included, i.e. kv_reserve_ctx x (n_layers + n_mtp_layers) x
 * (kv_lora_rank + qk_rope_head_dim) x 4 bytes (DeepSeek-V3, 4096: 2.3 GB).
 * With "gpu" or "experts-on-cpu", weights that do not fit fail the load
 * with DSV3_ERR_NO_MEMORY and a message giving the bytes needed and
 * available. An unknown placement is DSV3_ERR_INVALID_ARG naming it. CPU
 * backends accept and ignore all three fields (the weights stay where they
 * are mapped). dsv3_model_placement() and dsv3_model_info's device fields
 * report where the weights went. */

/* Fill *p (size = sizeof *p as the caller's header has it) with the
 * defaults: backend "auto", n_threads 0, use_mmap 1, mmap_mode
 * DSV3_MMAP_LAZY, placement "auto", gpu_budget 0, kv_reserve_ctx 4096,
 * repack 0.
 * DSV3_ERR_INVALID_ARG
 * for p NULL or a size smaller than a size_t. */
DSV3_API int dsv3_model_params_init(struct dsv3_model_params *p, size_t size);

/* Load a model.
 *   path: a Hugging Face checkpoint directory (config.json plus
 *         model.safetensors or model.safetensors.index.json with shards),
 *         or a llama.cpp GGUF file of architecture deepseek2 (any part
 *         of a split "-0000K-of-0000N.gguf" set opens all parts).
 *   params: may be NULL for defaults.
 *   out: receives the model on success, NULL on failure.
 *   err, err_size: optional buffer (may be NULL/0) that receives a
 *         NUL-terminated message naming the problem on failure.
 * Weights are memory-mapped and used in their stored type; the returned
 * model holds the mappings until dsv3_model_free. Thread-safe: loads of
 * different models may run concurrently. */
DSV3_API int dsv3_model_load(const char *path,
                             const struct dsv3_model_params *params,
                             dsv3_model **out, char *err, size_t err_size);

/* Release a model and its mappings. All its sessions must be freed first.
 * NULL is a no-op. */
DSV3_API void dsv3_model_free(dsv3_model *model);

struct dsv3_model_info {
    size_t struct_size;           /* set by caller: sizeof(struct ...)   */
    char architecture[32];        /* "deepseek_v3", "deepseek_v2", ...   */
    char backend[32];             /* backend in use, e.g. "scalar"        */
    char weight_dtype[16];        /* dominant stored type: "bf16", "fp8"  */
    int32_t vocab_size;
    int32_t n_layers;             /* main decoder layers (without MTP)   */
    int32_t n_dense_layers;       /* first_k_dense_replace               */
    int32_t hidden_size;
    int32_t n_heads;
    int32_t q_lora_rank;          /* 0 = plain q_proj                     */
    int32_t kv_lora_rank;
    int32_t qk_nope_head_dim;
    int32_t qk_rope_head_dim;
    int32_t v_head_dim;
    int32_t n_routed_experts;
    int32_t n_shared_experts;
    int32_t n_experts_per_token;
    int32_t max_context;          /* max_position_embeddings             */
    int32_t n_mtp_layers;         /* num_nextn_predict_layers loaded     */
    int32_t n_threads;
    uint64_t n_params;            /* parameters of all loaded tensors    */
    uint64_t bytes_mapped;        /* bytes of weight files mapped        */
    uint64_t kv_bytes_per_token;  /* latent KV cache bytes per position,
                                     all main layers, of the default f32
                                     cache (DSV3_KV_F32)                 */
    /* appended in 0.1: */
    uint64_t decode_bytes_per_token; /* weight bytes one decoded token reads
                                     (main model: attention, dense FFN,
                                     router, shared + k routed experts,
                                     norms, output head, one embedding row) */
    uint64_t decode_bytes_head;        /* of which: embedding row, final
                                          norm, output head               */
    uint64_t decode_bytes_dense_layer; /* one dense layer (mean)          */
    uint64_t decode_bytes_moe_layer;   /* one MoE layer (mean)            */
    int32_t n_moe_layers;
    int32_t n_group, topk_group;
    /* appended in 0.3: */
    int32_t reserved0;            /* 0: fills what was the tail padding   */
    char device[64];              /* the device in use, e.g. the GPU's
                                     name; "cpu" for CPU backends        */
    uint64_t device_bytes;        /* weight bytes copied to the device   */
    uint64_t host_weight_bytes;   /* weight bytes used from host memory
                                     (all of them on a CPU backend)      */
    uint64_t repacked_bytes;      /* process memory of the packed copies
                                     (dsv3_model_params.repack)          */
};

/* Fill *info (whose struct_size the caller sets: sizeof *info). Thread-safe. */
DSV3_API int dsv3_model_get_info(const dsv3_model *model,
                                 struct dsv3_model_info *info);

/* Where the model's weights went (added in 0.3), as a few lines of text:
 * the backend and device, and the bytes of each kind of weight on the
 * device and on the host. For a CPU backend, one line saying that every
 * weight is in host memory. buf receives the NUL-terminated text;
 * DSV3_ERR_TOO_SMALL when it did not fit (buf then holds its first
 * size - 1 bytes; call again with a larger buffer: the text is a few
 * hundred bytes a device), DSV3_ERR_INVALID_ARG for a NULL model or buf
 * or a size of 0. Thread-safe. */
DSV3_API int dsv3_model_placement(const dsv3_model *model, char *buf, size_t size);

/* Message of the last failure recorded on this model handle; "" if none.
 * Never NULL. A loaded model is immutable, so nothing after load records
 * here (dsv3_model_get_info fails only on a bad struct_size); load failures
 * report through dsv3_model_load's buffer, session failures through
 * dsv3_session_last_error. */
DSV3_API const char *dsv3_model_last_error(const dsv3_model *model);

/* Read the model's weights into memory now (added in 0.2). Mapped weights
 * are otherwise read by page faults during the first tokens, which for a
 * large model on a slow disk can take minutes with nothing to show. This
 * asks the kernel to read ahead (madvise WILLNEED) and touches every page
 * of the weights the model uses, in the order a forward pass reads them,
 * chunk by chunk.
 *   progress: may be NULL; called after each chunk (a few MiB) and once at
 *             the end with done == total (bytes). Return 0 to go on,
 *             nonzero to stop: then DSV3_ERR_CANCELLED (the model is
 *             unaffected and stays usable).
 * DSV3_ERR_IO when a weight file changed on disk since load (see above):
 * nothing is read then. DSV3_ERR_INVALID_ARG for a NULL model.
 * Only reads: thread-safe, may run while sessions use the model (e.g. on a
 * loader thread while the UI stays responsive). Not needed for
 * correctness; whether pages stay resident is up to the OS. */
DSV3_API int dsv3_model_prefetch(const dsv3_model *model,
                                 int (*progress)(void *user, uint64_t done, uint64_t total), void *user);

/* ---- session ----------------------------------------------------------- */
typedef struct dsv3_session dsv3_session;

struct dsv3_session_params {
    size_t struct_size;     /* = sizeof(struct dsv3_session_params)       */
    int32_t n_ctx;          /* context length; 0 = min(4096, max_context) */
    int record_routing;     /* 1: keep the routed experts of every position
                               (dsv3_session_get_routing); default 0      */
    int mtp;                /* 1 (default): keep final hidden states so
                               dsv3_session_mtp_step can run (only when
                               the model has MTP layers); 0: save memory  */
    /* appended in 0.1: */
    int32_t reserved0;      /* never read: it fills what was the struct's
                               tail padding, which the struct_size of
                               programs built before kv_type covers       */
    int32_t kv_type;        /* storage of the cached kv latent, one of
                               DSV3_KV_*; default DSV3_KV_F32             */
};

/* KV cache types (dsv3_session_params.kv_type). The cache keeps, per
 * position and layer, the normalized kv latent (kv_lora_rank values) and
 * the roped shared key (qk_rope_head_dim values, always f32). kv_type sets
 * the latent's storage; bytes per position = n_layers * (latent + 4 * rope):
 *   DSV3_KV_F32   4 bytes a value (exact; the default)
 *   DSV3_KV_F16   2 bytes a value (IEEE half, round to nearest even)
 *   DSV3_KV_Q8_0  34 bytes per 32 values (ggml's Q8_0 block: 32 int8 and
 *                 an f16 scale); needs kv_lora_rank % 32 == 0
 * E.g. DeepSeek-V3 (61 layers, rank 512, rope 64): 140544, 78080 and 48800
 * bytes per position. dsv3_session_kv_bytes_per_token reports the
 * session's value. A value the model or backend cannot use makes
 * dsv3_session_create fail with DSV3_ERR_INVALID_ARG. */
#define DSV3_KV_F32 0
#define DSV3_KV_F16 1
#define DSV3_KV_Q8_0 2

/* Defaults: n_ctx 0, record_routing 0, mtp 1, kv_type DSV3_KV_F32. */
DSV3_API int dsv3_session_params_init(struct dsv3_session_params *p, size_t size);

/* Create a session (a KV cache and scratch buffers) on a model.
 * params may be NULL. On failure *out is NULL and err (optional) receives
 * the message. Thread-safe with respect to the model. */
DSV3_API int dsv3_session_create(const dsv3_model *model,
                                 const struct dsv3_session_params *params,
                                 dsv3_session **out, char *err,
                                 size_t err_size);

/* NULL is a no-op. */
DSV3_API void dsv3_session_free(dsv3_session *session);

/* Flags for dsv3_session_step. */
#define DSV3_STEP_LOGITS_ALL 1u  /* write logits of every token, not just the last */

/* Append n_tokens tokens at the current position and run the model on them.
 *   logits: NULL (skip the output head), or room for vocab_size floats
 *           (n_tokens * vocab_size with DSV3_STEP_LOGITS_ALL), row-major.
 * On any error the session is unchanged (position and cache as before the
 * call) and remains usable. Errors: DSV3_ERR_BAD_TOKEN (an id out of range),
 * DSV3_ERR_CONTEXT_FULL (position + n_tokens > n_ctx), DSV3_ERR_INVALID_ARG;
 * on a device backend, DSV3_ERR_BACKEND or DSV3_ERR_NO_MEMORY when the
 * device failed during the step (the message says how). */
DSV3_API int dsv3_session_step(dsv3_session *session, const int32_t *tokens,
                               int32_t n_tokens, float *logits,
                               unsigned flags);

/* Number of positions in the cache (tokens stepped so far). */
DSV3_API int32_t dsv3_session_position(const dsv3_session *session);

/* Context length of the session. */
DSV3_API int32_t dsv3_session_n_ctx(const dsv3_session *session);

/* Truncate the cache to `position` tokens (0 <= position <= current).
 * The next step continues from there. DSV3_ERR_BAD_POSITION otherwise. */
DSV3_API int dsv3_session_rewind(dsv3_session *session, int32_t position);

/* Same as rewind to 0. */
DSV3_API int dsv3_session_reset(dsv3_session *session);

/* Bytes of the latent KV cache per position (all main layers), for the
 * session's kv_type: n_layers * (kv_lora_rank * e + 4 * qk_rope_head_dim),
 * e = 4 (F32), 2 (F16), 34/32 (Q8_0). */
DSV3_API uint64_t dsv3_session_kv_bytes_per_token(const dsv3_session *session);

/* Experts chosen at a position, when the session was created with
 * record_routing. ids and weights receive [n_moe_layers][k] values: the
 * selected experts of each MoE layer in descending selection score, and
 * their final gate weights (including routed_scaling_factor). *n_moe_layers
 * (optional) receives the number of MoE layers. Pass NULL arrays to query
 * only the count. */
DSV3_API int dsv3_session_get_routing(const dsv3_session *session,
                                      int32_t position, int32_t *ids,
                                      float *weights, int32_t *n_moe_layers);

/* ---- MTP (multi-token prediction) --------------------------------------
 * The MTP module predicts the token after next. It consumes the main
 * model's final hidden state at position p together with the token at p+1
 * and has its own KV cache, which therefore trails the main cache by one.
 *
 * dsv3_session_mtp_step runs the MTP layer for positions
 * [mtp_position, mtp_position + n) where mtp_position is
 * dsv3_session_mtp_position() and mtp_position + n <= dsv3_session_position.
 * next_tokens[i] is the token at position mtp_position + i + 1 (for the
 * newest position, a token the caller has chosen, e.g. the main argmax).
 * logits receives the MTP's logits for position mtp_position + i + 2:
 * n rows of vocab_size with DSV3_STEP_LOGITS_ALL, else only the last.
 * A rewind of the main cache to position c truncates the MTP cache to at
 * most c rows too; the row at c - 1, if kept, consumed the token for c the
 * caller gave then. To step a different token at c, rewind to c - 1 (and
 * step the token at c - 1 again): dsv3_generate does so itself.
 * DSV3_ERR_NO_MTP if the model has no MTP layer. */
DSV3_API int dsv3_session_mtp_step(dsv3_session *session,
                                   const int32_t *next_tokens, int32_t n,
                                   float *logits, unsigned flags);
DSV3_API int32_t dsv3_session_mtp_position(const dsv3_session *session);

/* Message of the last failure on this session; "" if none. Valid until the
 * next call on the session. Never NULL. */
DSV3_API const char *dsv3_session_last_error(const dsv3_session *session);

/* ---- session state: save, load, fork (added in 0.2) -----------------------
 * A saved state holds what the session's next steps depend on: the
 * position and MTP position, every layer's latent and rope-key cache rows
 * up to the position (the MTP layer's up to the MTP position), the final
 * hidden states the MTP layer has not consumed yet, and the routing record
 * when the session keeps one. Restored into a session of the same model
 * and kv_type, every later step gives bit-identical logits to the session
 * that was saved. (The sampler's state is separate: dsv3_sampler_save.)
 *
 * Format (version 1): a 96-byte little-endian header (magic "DSV3SES",
 * version, byte order, the model's fingerprint: a hash of its
 * configuration and one of its weight files' sizes and headers -- not of
 * the weights --, kv_type, dimensions, positions, the payload's size),
 * the payload (cache rows in the session's own storage, host byte order),
 * then a 64-bit checksum of everything before it. A state is portable
 * between machines of the same byte order and between copies of the same
 * model files. Size = 104 + position * dsv3_session_kv_bytes_per_token
 * + mtp_position * (MTP layer row) + (position - mtp_position) *
 * hidden_size * 4 + (routing record: position * n_moe_layers * k * 8).
 *
 * Errors of load (the session is then unchanged): DSV3_ERR_BAD_STATE for a
 * state that is truncated, corrupt (checksum), not a state, of a newer
 * version, of another byte order, of another model (configuration or
 * weight files differ), of another kv_type, or that needs a larger n_ctx
 * than the session has, or carries no MTP hidden states that a session
 * with mtp = 1 would need; the message names which. */

/* Save to a caller buffer. *size (required) receives the state's size;
 * with buf NULL or capacity < *size: DSV3_ERR_TOO_SMALL and nothing is
 * written (call with NULL, 0 to ask the size). */
DSV3_API int dsv3_session_save(dsv3_session *session, void *buf, size_t capacity, size_t *size);
/* Restore a state saved by dsv3_session_save (size: its bytes). */
DSV3_API int dsv3_session_load(dsv3_session *session, const void *buf, size_t size);
/* The same through a file. save_file writes a temporary file beside path,
 * (mode 0600: the state holds the conversation) and renames it over path
 * only when complete, so an existing file is never left half-written.
 * load_file reads the file into a temporary buffer of its size, checks it
 * entirely, then restores. Open/write failures give DSV3_ERR_NOT_FOUND,
 * DSV3_ERR_IO or DSV3_ERR_NO_MEMORY with the system's reason. */
DSV3_API int dsv3_session_save_file(dsv3_session *session, const char *path);
DSV3_API int dsv3_session_load_file(dsv3_session *session, const char *path);

/* A new session on src's model starting from a copy of src's caches (main,
 * MTP, hidden states, routing record) up to its position: for branching a
 * chat or sharing a server's system prompt. params NULL: the same n_ctx,
 * kv_type, mtp and record_routing as src. Otherwise params' n_ctx (0 =
 * src's) must hold src's position and kv_type must be src's
 * (DSV3_ERR_INVALID_ARG otherwise). src is only read; both sessions are
 * independent afterwards and step to bit-identical logits. On failure
 * *out is NULL and err (optional) receives the message. */
DSV3_API int dsv3_session_fork(const dsv3_session *src, const struct dsv3_session_params *params,
                               dsv3_session **out, char *err, size_t err_size);

/* ---- tokenizer -----------------------------------------------------------
 * Byte-level BPE exactly as Hugging Face `tokenizers` runs DeepSeek-V3's
 * tokenizer.json: added tokens matched in the raw text first, then the
 * pre-tokenizer splits, byte-to-symbol mapping, merges by rank.
 * A tokenizer is immutable after load: any number of threads may use one
 * concurrently. Input text that is not valid UTF-8 is not rejected: each
 * maximal invalid subsequence is encoded as U+FFFD (as Python's
 * errors="replace" would give), never a crash. */
typedef struct dsv3_tokenizer dsv3_tokenizer;

/* path: a directory holding tokenizer.json (and optionally
 * tokenizer_config.json, which gives BOS/EOS, add_bos_token and the chat
 * template), the path of a tokenizer.json file (tokenizer_config.json is
 * looked for beside it), or a GGUF file (its tokenizer.ggml.* metadata,
 * pre-tokenizer "deepseek-v3"). */
DSV3_API int dsv3_tokenizer_load(const char *path, dsv3_tokenizer **out, char *err, size_t err_size);
DSV3_API void dsv3_tokenizer_free(dsv3_tokenizer *tok);
/* Number of ids (largest id + 1, added tokens included). */
DSV3_API int32_t dsv3_tokenizer_n_vocab(const dsv3_tokenizer *tok);
/* BOS / EOS ids, -1 when the tokenizer has none. */
DSV3_API int32_t dsv3_tokenizer_bos(const dsv3_tokenizer *tok);
DSV3_API int32_t dsv3_tokenizer_eos(const dsv3_tokenizer *tok);
/* 1 if id is a special token (dropped by DSV3_DETOKENIZE_SKIP_SPECIAL). */
DSV3_API int dsv3_tokenizer_is_special(const dsv3_tokenizer *tok, int32_t id);
/* 1 if tokenizer_config.json asks for a BOS at the start of a text. */
DSV3_API int dsv3_tokenizer_add_bos(const dsv3_tokenizer *tok);

#define DSV3_TOKENIZE_ADD_BOS 1u    /* prepend the BOS id                       */
#define DSV3_TOKENIZE_NO_ADDED 2u   /* added-token text (e.g. "<｜User｜>") is
                                       plain text: for untrusted content       */

/* Encode text[0..len). Writes up to `capacity` ids; *n_ids receives the
 * number of ids of the whole encoding. DSV3_ERR_TOO_SMALL when it does not
 * fit (call again with capacity >= *n_ids). Linear time in len. */
DSV3_API int dsv3_tokenize(const dsv3_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t *ids,
                           size_t capacity, size_t *n_ids);

/* The raw bytes of one token (not NUL-terminated, may be part of a UTF-8
 * sequence). *bytes points into the tokenizer, valid until it is freed.
 * DSV3_ERR_BAD_TOKEN for an id without a token. */
DSV3_API int dsv3_token_bytes(const dsv3_tokenizer *tok, int32_t id, const char **bytes, size_t *len);

#define DSV3_DETOKENIZE_SKIP_SPECIAL 1u

/* Decode ids to text. Invalid or truncated UTF-8 in the joined bytes becomes
 * U+FFFD. The text is NUL-terminated when capacity allows; *len (excluding
 * the NUL) is always the full length; DSV3_ERR_TOO_SMALL if capacity <= *len. */
DSV3_API int dsv3_detokenize(const dsv3_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char *text,
                             size_t capacity, size_t *len);

/* Streaming decode for generation: push one id at a time and get only
 * complete UTF-8 characters; bytes of a character split across tokens wait
 * for the next push. flush() emits what is left (U+FFFD for an incomplete
 * character). Each call writes at most 64 + 4 * (token length) bytes, so a
 * 1 KiB buffer always suffices for one push. One stream per thread. */
typedef struct dsv3_detok_stream dsv3_detok_stream;
DSV3_API int dsv3_detok_stream_create(const dsv3_tokenizer *tok, unsigned flags, dsv3_detok_stream **out);
DSV3_API int dsv3_detok_stream_push(dsv3_detok_stream *st, int32_t id, char *text, size_t capacity, size_t *len);
DSV3_API int dsv3_detok_stream_flush(dsv3_detok_stream *st, char *text, size_t capacity, size_t *len);
DSV3_API void dsv3_detok_stream_free(dsv3_detok_stream *st);

/* ---- chat template -------------------------------------------------------
 * The DeepSeek-V3 conversation format (tokenizer_config.json's
 * chat_template), rendered natively. These two structs are frozen: new
 * fields will come as new structs and functions. */
struct dsv3_tool_call {
    const char *type;       /* "function"                                  */
    const char *name;       /* function name                               */
    const char *arguments;  /* JSON text of the arguments                  */
};

struct dsv3_chat_message {
    const char *role;       /* "system", "user", "assistant", "tool"       */
    const char *content;    /* NULL for an assistant turn of tool calls    */
    const struct dsv3_tool_call *tool_calls;
    size_t n_tool_calls;
};

/* Render messages to text (NUL-terminated when it fits; *len is the full
 * length; DSV3_ERR_TOO_SMALL otherwise). The rendering starts with the BOS
 * text, so tokenize it without DSV3_TOKENIZE_ADD_BOS. */
DSV3_API int dsv3_chat_render(const dsv3_tokenizer *tok, const struct dsv3_chat_message *msgs, size_t n_msgs,
                              int add_generation_prompt, char *text, size_t capacity, size_t *len);

/* ---- sampler ---------------------------------------------------------------
 * Turns logits into a token. Order: logit bias, repetition / frequency /
 * presence penalties over the last penalty_last_n accepted tokens, then
 * greedy (temperature <= 0) or temperature, top-k, top-p, min-p and a draw
 * from a seeded xoshiro256** generator. Same seed, same tokens, on every
 * machine. A sampler is used by one thread at a time. */
typedef struct dsv3_sampler dsv3_sampler;

struct dsv3_sampler_params {
    size_t struct_size;
    float temperature;        /* 0.8; <= 0 means greedy                     */
    int32_t top_k;            /* 40; 0 = off                                 */
    float top_p;              /* 0.95; 1 = off                               */
    float min_p;              /* 0.05; 0 = off                               */
    float repeat_penalty;     /* 1.0 = off (>1 discourages repeats)          */
    float frequency_penalty;  /* 0 = off                                     */
    float presence_penalty;   /* 0 = off                                     */
    int32_t penalty_last_n;   /* 64; window of accepted tokens               */
    uint64_t seed;            /* 0 picks a fixed default (reproducible)      */
    const int32_t *bias_ids;  /* logit bias: added to logits[bias_ids[i]]    */
    const float *bias_values; /* (-INFINITY bans a token); copied at create  */
    size_t n_bias;
};

/* Defaults as commented in the struct. */
DSV3_API int dsv3_sampler_params_init(struct dsv3_sampler_params *p, size_t size);
DSV3_API int dsv3_sampler_create(const struct dsv3_sampler_params *params, int32_t n_vocab, dsv3_sampler **out);
DSV3_API void dsv3_sampler_free(dsv3_sampler *s);
/* Pick a token from logits[n_vocab] (not modified). Does not record it:
 * call dsv3_sampler_accept with the token actually used. */
DSV3_API int dsv3_sampler_sample(dsv3_sampler *s, const float *logits, int32_t *token);
/* Record a token for the penalties (prompt tokens may be accepted too). */
DSV3_API int dsv3_sampler_accept(dsv3_sampler *s, int32_t token);
/* Forget accepted tokens and restart the random generator from the seed. */
DSV3_API void dsv3_sampler_reset(dsv3_sampler *s);
/* The sampler's state (added in 0.2): its random generator and penalty
 * window, to go with dsv3_session_save. A sampler created with the same
 * params and loaded with the state draws the same tokens as the one that
 * was saved. Size: 64 + 4 * (tokens in the window) bytes, checksummed.
 * save: *size receives the size; buf NULL or capacity < *size gives
 * DSV3_ERR_TOO_SMALL. load: DSV3_ERR_BAD_STATE (and no change) for a state
 * that is corrupt, truncated or of another vocabulary size; a smaller
 * penalty_last_n keeps the newest tokens of the window. */
DSV3_API int dsv3_sampler_save(const dsv3_sampler *s, void *buf, size_t capacity, size_t *size);
DSV3_API int dsv3_sampler_load(dsv3_sampler *s, const void *buf, size_t size);

/* ---- generation ----------------------------------------------------------- */
/* Called for every generated token with its text piece (complete UTF-8
 * characters only; may be empty while a character is incomplete). Return
 * 0 to go on, 1 to stop (the token is kept), -1 to cancel. */
typedef int (*dsv3_token_callback)(void *user, int32_t token, const char *piece, size_t piece_len);

enum dsv3_stop_reason {
    DSV3_STOP_NONE = 0,
    DSV3_STOP_EOS = 1,
    DSV3_STOP_STRING = 2,
    DSV3_STOP_MAX_TOKENS = 3,
    DSV3_STOP_CALLBACK = 4,
    DSV3_STOP_CONTEXT_FULL = 5
};

struct dsv3_generate_params {
    size_t struct_size;
    int32_t max_tokens;              /* 256; generated tokens at most       */
    int stop_at_eos;                 /* 1                                    */
    const char *const *stop_strings; /* generation stops when the text ends
                                        with one; it is not passed on        */
    size_t n_stop_strings;
    dsv3_token_callback on_token;    /* may be NULL                          */
    void *user;
    /* appended in 0.2: self-speculative decoding with the model's MTP
     * module (see dsv3_generate) */
    int32_t mtp;                     /* DSV3_MTP_OFF (default), _AUTO or
                                        _REQUIRED                            */
    int32_t mtp_depth;               /* draft tokens per main step, 1 ..
                                        DSV3_MTP_MAX_DEPTH; 0 = 1            */
};

/* dsv3_generate_params.mtp */
#define DSV3_MTP_OFF 0       /* plain decoding                              */
#define DSV3_MTP_AUTO 1      /* draft with MTP when the model and session
                                allow it, else plain decoding (result:
                                mtp_depth 0, n_drafted 0)                   */
#define DSV3_MTP_REQUIRED 2  /* as AUTO, but DSV3_ERR_NO_MTP (model without
                                an MTP layer) or DSV3_ERR_STATE (session
                                without MTP state) instead of plain decoding */
#define DSV3_MTP_MAX_DEPTH 8

struct dsv3_generate_result {
    size_t struct_size;
    int32_t n_prompt_tokens;
    int32_t n_generated;
    int stop_reason;                 /* enum dsv3_stop_reason                */
    double prompt_seconds, generate_seconds;
    double prompt_tokens_per_s, generate_tokens_per_s;
    /* appended in 0.2 (MTP decoding; all 0 for plain decoding except
     * n_main_steps): */
    int32_t mtp_depth;               /* draft depth used; 0 = plain decoding */
    int32_t n_drafted;               /* draft tokens verified                */
    int32_t n_accepted;              /* of which equal to the decoded token  */
    int32_t n_main_steps;            /* main-model steps after the prompt;
                                        tokens per step = n_generated /
                                        n_main_steps                         */
};

/* Defaults: max_tokens 256, stop_at_eos 1, no stop strings, no callback. */
DSV3_API int dsv3_generate_params_init(struct dsv3_generate_params *p, size_t size);

/* Step the prompt at the session's current position, then sample and step
 * up to max_tokens tokens. The session keeps everything (continue a chat by
 * calling again with the next turn's tokens), EOS included. tok may be NULL:
 * pieces are then empty (token ids only) and EOS comes from config.json.
 * On error the status is returned and the session keeps what was stepped.
 * result may be NULL.
 *
 * MTP (params->mtp): self-speculative decoding. After each decoded token
 * the MTP module drafts the next mtp_depth tokens (depth > 1 chains the
 * MTP layer on its own output), and one batched main-model step verifies
 * the decoded token and the drafts together. A draft is kept only when it
 * equals the token plain decoding picks at its place (the sampler is run
 * on each verified row in plain decoding's order, so greedy, seeded
 * sampling and penalties all give the same draws); the rest of both caches
 * is rewound. The tokens, the callback's pieces, the stop reason, the
 * sampler's state and the main cache afterwards are therefore exactly
 * those of plain decoding with the same seed; only the time differs. The
 * MTP cache ends one position behind the main cache, holding what
 * dsv3_session_mtp_step over the same tokens would have written. It is
 * caught up over the prompt, which needs it to reach the position before
 * the prompt (true for a fresh session or one last advanced by
 * dsv3_generate with MTP); a session stepped otherwise decodes plainly
 * (AUTO) or gives DSV3_ERR_STATE (REQUIRED). Costs per verify step: one
 * MTP pass over the new positions plus mtp_depth - 1 one-row MTP passes,
 * and a main step over 1 + mtp_depth tokens; no allocation per step.
 * The MTP's rows over the prompt count as prompt time. */
DSV3_API int dsv3_generate(dsv3_session *s, const dsv3_tokenizer *tok, dsv3_sampler *sampler,
                           const int32_t *prompt, size_t n_prompt, const struct dsv3_generate_params *params,
                           struct dsv3_generate_result *result);

/* ---- backends ---------------------------------------------------------- */
/* Name of the i-th compiled-in backend, NULL past the end. *available
 * (optional) is set to 1 when this CPU can run it. */
DSV3_API const char *dsv3_backend_name(int index, int *available);

/* What the i-th backend says about this machine (added in 0.3), as a few
 * lines of text: for a device backend, each device with its name, type,
 * driver, memory and any missing feature, or why the backend cannot run
 * (no driver, no device); for a CPU backend, "available" or the CPU
 * feature it lacks. The same return values as dsv3_model_placement;
 * DSV3_ERR_INVALID_ARG also for an index past the end. Thread-safe; the
 * first call may take a moment (a device backend probes its driver once
 * per process). */
DSV3_API int dsv3_backend_describe(int index, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* DSV3_H */
