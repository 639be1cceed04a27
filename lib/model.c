/* model.c -- dsv3_model_load: parameters, backend choice, dispatch to the
 * format loader (model_hf.c for checkpoint directories), info and free.
 * Nothing is converted at load; time does not grow with weight bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "abi.h"
#include "mapfile.h"
#include "model.h"

static struct dsv3_model_params model_params_defaults(void) {
    struct dsv3_model_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.backend = "auto";
    p.n_threads = 0;
    p.use_mmap = 1;
    p.mmap_mode = DSV3_MMAP_LAZY;
    p.placement = "auto";
    p.gpu_budget = 0;
    p.kv_reserve_ctx = 4096; /* the default session's context */
    return p;
}

int dsv3_model_params_init(struct dsv3_model_params *p, size_t size) {
    struct dsv3_model_params d = model_params_defaults();
    return dsv3_struct_init(p, size, &d, sizeof d);
}

const void *model_aligned(dsv3_model *m, const void *data, size_t nbytes, size_t align) {
    if (((uintptr_t)data & (align - 1)) == 0) return data;
    void **na = realloc(m->aligned_copies, (size_t)(m->n_aligned_copies + 1) * sizeof *na);
    if (!na) return NULL;
    m->aligned_copies = na;
    void *p = malloc(nbytes ? nbytes : 1);
    if (!p) return NULL;
    memcpy(p, data, nbytes);
    m->aligned_copies[m->n_aligned_copies++] = p;
    return p;
}

/* The bytes of KV cache to keep free on the device: kv_reserve_ctx
 * positions of the f32 cache (the largest kv_type) of every layer, the MTP
 * layers' included, as a session with the default n_ctx would hold. */
static uint64_t kv_reserve_bytes(const dsv3_model *m) {
    const dsv3_config *c = &m->cfg;
    int64_t ctx = m->kv_reserve_ctx;
    if (c->max_position_embeddings > 0 && ctx > c->max_position_embeddings) ctx = c->max_position_embeddings;
    return (uint64_t)ctx * (uint64_t)(c->n_layers + c->n_mtp_layers) *
           (uint64_t)(c->kv_lora_rank + c->qk_rope_head_dim) * sizeof(float);
}

/* Initialize the backend. Called at the first weight: the config has been
 * parsed by then, and the KV reserve depends on it. */
static int backend_init(dsv3_model *m, dsv3_err *e) {
    m->bp.n_threads = m->n_threads;
    m->bp.placement = m->placement;
    m->bp.kv_reserve = m->has_device ? kv_reserve_bytes(m) : 0;
    return m->ops->init(&m->bp, &m->be, e);
}

int model_add_weight(dsv3_model *m, dsv3_weight *w, dsv3_err *e) {
    if (!m->be) {
        int rc = backend_init(m, e);
        if (rc) return rc;
    }
    if (m->n_weights == m->cap_weights) { /* kept for placement and its byte counts */
        int cap = m->cap_weights ? 2 * m->cap_weights : 1024;
        dsv3_weight **nw = realloc(m->weights, (size_t)cap * sizeof *nw);
        if (!nw) return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory (list of %d weights)", cap);
        m->weights = nw;
        m->cap_weights = cap;
    }
    m->weights[m->n_weights++] = w;
    m->n_params += (uint64_t)w->rows * (uint64_t)w->cols;
    if (w->type >= 0 && w->type < DSV3_W_COUNT && w->rows > 1) m->type_counts[w->type]++;
    return m->ops->upload_weight(m->be, w, e);
}

void model_set_weight_dtype(dsv3_model *m) {
    int best = DSV3_W_F32;
    for (int t = 0; t < DSV3_W_COUNT; t++)
        if (m->type_counts[t] > m->type_counts[best]) best = t;
    snprintf(m->weight_dtype, sizeof m->weight_dtype, "%s", dsv3_wtype_name(best));
}

void dsv3_model_free(dsv3_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int il = 0; il < m->cfg.n_layers + m->cfg.n_mtp_layers; il++) free(m->layers[il].experts);
        free(m->layers);
    }
    if (m->be) m->ops->free(m->be);
    st_close(m->st);
    if (m->free_source) m->free_source(m->source);
    for (int i = 0; i < m->n_aligned_copies; i++) free(m->aligned_copies[i]);
    free(m->aligned_copies);
    free(m->weights);
    free(m);
}

/* One thread per online CPU: decode is bound by memory bandwidth, which
 * every core adds to. */
static int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/* 1 if the file starts with the GGUF magic, 0 if not, -1 (e set) if it
 * cannot be read. */
static int is_gguf(const char *path, dsv3_err *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        err_set(e, dsv3_errno_status(err), "%s: cannot open: %s", path, strerror(err));
        return -1;
    }
    unsigned char magic[4];
    size_t got = 0;
    while (got < sizeof magic) {
        ssize_t r = read(fd, magic + got, sizeof magic - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            err_set(e, DSV3_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    return got == sizeof magic && memcmp(magic, "GGUF", 4) == 0;
}

/* Resolve params.backend: a backend name, or "NAME:N" for device N of a
 * backend with its own devices (e.g. "vulkan:1"). */
static int find_backend(dsv3_model *m, const char *name, dsv3_err *e) {
    const char *colon = strrchr(name, ':');
    char base[64];
    long dev = 0;
    if (colon) {
        const char *d = colon + 1;
        char *end;
        errno = 0;
        dev = strtol(d, &end, 10);
        if (*d < '0' || *d > '9' || *end || errno || dev > 1023)
            return err_set(e, DSV3_ERR_BACKEND, "backend '%s': the device after ':' must be a number 0..1023", name);
        if ((size_t)(colon - name) >= sizeof base || colon == name || !strncmp(name, "auto:", 5))
            return err_set(e, DSV3_ERR_BACKEND, "backend '%s': give a backend name before ':N' (e.g. vulkan:%ld)",
                           name, dev);
        memcpy(base, name, (size_t)(colon - name));
        base[colon - name] = 0;
        name = base;
    }
    m->ops = dsv3_backend_find(name, e);
    if (!m->ops) return DSV3_ERR_BACKEND;
    m->has_device = m->ops->version >= DSV3_BACKEND_V3 && m->ops->load_done;
    if (colon && !m->has_device)
        return err_set(e, DSV3_ERR_BACKEND, "backend '%s' runs on the CPU and has no devices to pick with ':%ld'", name,
                       dev);
    m->bp.device = (int)dev;
    return DSV3_OK;
}

static int load(const char *path, const struct dsv3_model_params *up, dsv3_model *m, dsv3_err *e) {
    struct dsv3_model_params p = model_params_defaults();
    if (up && dsv3_struct_in(&p, sizeof p, up, "dsv3_model_params", e)) return e->status;
    if (!p.backend) p.backend = "auto";
    if (p.n_threads < 0 || p.n_threads > 1024)
        return err_set(e, DSV3_ERR_INVALID_ARG, "n_threads = %d is out of range [0, 1024]", p.n_threads);
    if (p.mmap_mode < DSV3_MMAP_LAZY || p.mmap_mode > DSV3_MMAP_LOCK)
        return err_set(e, DSV3_ERR_INVALID_ARG,
                       "mmap_mode = %d is not one of DSV3_MMAP_LAZY 0, DSV3_MMAP_POPULATE 1, DSV3_MMAP_LOCK 2",
                       (int)p.mmap_mode);
    const char *pl = p.placement ? p.placement : "auto";
    if (strcmp(pl, "auto") && strcmp(pl, "gpu") && strcmp(pl, "experts-on-cpu"))
        return err_set(e, DSV3_ERR_INVALID_ARG, "placement '%.64s' is not one of auto, gpu, experts-on-cpu", pl);
    snprintf(m->placement, sizeof m->placement, "%s", pl);
    if (p.kv_reserve_ctx < 0)
        return err_set(e, DSV3_ERR_INVALID_ARG, "kv_reserve_ctx = %d is negative", (int)p.kv_reserve_ctx);
    m->kv_reserve_ctx = p.kv_reserve_ctx;
    if (p.repack != 0 && p.repack != 1)
        return err_set(e, DSV3_ERR_INVALID_ARG, "repack = %d is not 0 or 1", (int)p.repack);
    m->bp.repack = p.repack;
    m->bp.budget = p.gpu_budget;
    /* How mapfile_open gets the bytes: DSV3_MAPFILE_* follow DSV3_MMAP_* */
    const int map_mode = p.use_mmap ? DSV3_MAPFILE_LAZY + p.mmap_mode : DSV3_MAPFILE_READ;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int err = errno;
        return err_set(e, dsv3_errno_status(err), "%s: %s", path, strerror(err));
    }
    /* The backend is chosen first (a bad name fails before any file is
     * read) and initialized at the first weight (model_add_weight). */
    int rc = find_backend(m, p.backend, e);
    if (rc) return rc;
    m->n_threads = p.n_threads ? p.n_threads : default_threads();
    if (S_ISDIR(sb.st_mode)) {
        rc = model_load_hf(m, path, map_mode, e);
    } else {
        rc = is_gguf(path, e);
        if (rc < 0) return e->status;
        if (!rc) return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: not a checkpoint directory and not a GGUF file", path);
        rc = model_load_gguf(m, path, map_mode, e);
    }
    if (!rc && !m->be) rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: the model has no weights", path);
    if (!rc) rc = dsv3_model_place(m, e);
    if (!rc) dsv3_model_fingerprint_init(m);
    return rc;
}

int dsv3_model_load(const char *path, const struct dsv3_model_params *params, dsv3_model **out, char *err,
                    size_t err_size) {
    dsv3_err e;
    err_clear(&e);
    if (err && err_size) err[0] = 0;
    if (!out) {
        err_set(&e, DSV3_ERR_INVALID_ARG, "dsv3_model_load: out is NULL");
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    *out = NULL;
    if (!path || !*path) {
        err_set(&e, DSV3_ERR_INVALID_ARG, "dsv3_model_load: path is NULL or empty");
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    dsv3_model *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(&e, DSV3_ERR_NO_MEMORY, "out of memory");
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    int rc = load(path, params, m, &e);
    if (rc) {
        if (!e.msg[0]) err_set(&e, rc, "%s", dsv3_status_string(rc));
        err_copy_out(&e, err, err_size);
        dsv3_model_free(m);
        return rc;
    }
    *out = m;
    return DSV3_OK;
}

uint64_t model_kv_bytes_per_token(const dsv3_model *m) {
    return (uint64_t)(m->cfg.kv_lora_rank + m->cfg.qk_rope_head_dim) * (uint64_t)m->cfg.n_layers * sizeof(float);
}

uint64_t dsv3_model_weight_bytes(const dsv3_weight *w) {
    if (!w->data) return 0;
    if (w->type == DSV3_W_F8_E4M3) /* plus its block scales */
        return (uint64_t)w->rows * w->row_stride +
               (uint64_t)((w->rows + w->block_r - 1) / w->block_r) * (uint64_t)w->scale_cols * 4;
    return (uint64_t)w->rows * w->row_stride;
}

static uint64_t wbytes(const dsv3_weight *w) { return dsv3_model_weight_bytes(w); }

static uint64_t ffn_bytes(const ffn_weights *f) { return wbytes(&f->gate) + wbytes(&f->up) + wbytes(&f->down); }

/* Weight bytes streamed per decoded token: the memory-bandwidth roofline
 * of decode is bandwidth / this. Routed experts count k average experts. */
typedef struct decode_bytes {
    uint64_t head, dense, moe; /* head; sums over dense and MoE layers */
    int n_dense, n_moe;
} decode_bytes;

static decode_bytes model_decode_bytes(const dsv3_model *m) {
    const dsv3_config *c = &m->cfg;
    decode_bytes d = {m->embed.row_stride + wbytes(&m->out_norm) + wbytes(&m->lm_head), 0, 0, 0, 0};
    for (int il = 0; il < c->n_layers; il++) {
        const layer_weights *L = &m->layers[il];
        const dsv3_weight *att[] = {&L->attn_norm, &L->ffn_norm, &L->q_a, &L->q_a_norm, &L->q_b, &L->q,
                                    &L->kv_a, &L->kv_a_norm, &L->kv_b, &L->k_b, &L->v_b, &L->o};
        uint64_t b = 0;
        for (size_t k = 0; k < sizeof att / sizeof att[0]; k++) b += wbytes(att[k]);
        if (!L->is_moe) {
            d.dense += b + ffn_bytes(&L->dense);
            d.n_dense++;
            continue;
        }
        b += wbytes(&L->router) + (L->has_shared ? ffn_bytes(&L->shared) : 0);
        uint64_t all = 0;
        for (int e = 0; e < c->n_routed_experts; e++) all += ffn_bytes(&L->experts[e]);
        d.moe += b + all / (uint64_t)c->n_routed_experts * (uint64_t)c->n_experts_per_tok;
        d.n_moe++;
    }
    return d;
}

int dsv3_model_get_info(const dsv3_model *m, struct dsv3_model_info *info) {
    if (!m || !info) return DSV3_ERR_INVALID_ARG;
    /* No message is recorded: the model is shared and immutable. */
    if (info->struct_size < sizeof(size_t) || info->struct_size > DSV3_STRUCT_SIZE_MAX) return DSV3_ERR_INVALID_ARG;
    struct dsv3_model_info i;
    memset(&i, 0, sizeof i);
    i.struct_size = sizeof i;
    const dsv3_config *c = &m->cfg;
    snprintf(i.architecture, sizeof i.architecture, "%s", c->architecture);
    snprintf(i.backend, sizeof i.backend, "%s", m->ops->name);
    snprintf(i.weight_dtype, sizeof i.weight_dtype, "%s", m->weight_dtype);
    i.vocab_size = c->vocab_size;
    i.n_layers = c->n_layers;
    i.n_dense_layers = c->n_routed_experts ? c->first_k_dense_replace : c->n_layers;
    i.hidden_size = c->hidden_size;
    i.n_heads = c->n_heads;
    i.q_lora_rank = c->q_lora_rank;
    i.kv_lora_rank = c->kv_lora_rank;
    i.qk_nope_head_dim = c->qk_nope_head_dim;
    i.qk_rope_head_dim = c->qk_rope_head_dim;
    i.v_head_dim = c->v_head_dim;
    i.n_routed_experts = c->n_routed_experts;
    i.n_shared_experts = c->n_shared_experts;
    i.n_experts_per_token = c->n_experts_per_tok;
    i.max_context = c->max_position_embeddings;
    i.n_mtp_layers = c->n_mtp_layers;
    i.n_threads = m->n_threads;
    i.n_params = m->n_params;
    i.bytes_mapped = st_bytes_mapped(m->st) + m->source_bytes;
    i.kv_bytes_per_token = model_kv_bytes_per_token(m);
    decode_bytes db = model_decode_bytes(m);
    i.decode_bytes_per_token = db.head + db.dense + db.moe;
    i.decode_bytes_head = db.head;
    i.decode_bytes_dense_layer = db.n_dense ? db.dense / (uint64_t)db.n_dense : 0;
    i.decode_bytes_moe_layer = db.n_moe ? db.moe / (uint64_t)db.n_moe : 0;
    i.n_moe_layers = db.n_moe;
    i.n_group = c->n_group;
    i.topk_group = c->topk_group;
    const char *dev = "cpu";
    if (m->has_device) dev = m->ops->device_name ? m->ops->device_name(m->be) : m->ops->name;
    snprintf(i.device, sizeof i.device, "%s", dev ? dev : m->ops->name);
    i.device_bytes = m->device_bytes;
    i.host_weight_bytes = m->host_bytes;
    /* packed copies are made at upload (CPU backends) or, for the host
     * weights of a device placement, when the placement is done */
    for (int k = 0; k < m->n_weights; k++) {
        const dsv3_weight *w = m->weights[k];
        if (w->packed) i.repacked_bytes += (uint64_t)w->rows * dsv3_wtype_row_bytes(w->type, w->cols);
    }
    return dsv3_struct_out(info, &i, sizeof i, "dsv3_model_info", NULL);
}

const char *dsv3_model_last_error(const dsv3_model *m) { return m ? m->err.msg : "model is NULL"; }
