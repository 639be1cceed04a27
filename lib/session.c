/* session.c -- sessions: allocation, validation and the step/rewind API.
 * Every check happens before the cache is touched, so a failed call leaves
 * the session exactly as it was. */
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "session.h"

static struct dsv3_session_params session_params_defaults(void) {
    struct dsv3_session_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.n_ctx = 0;
    p.record_routing = 0;
    p.mtp = 1;
    p.kv_type = DSV3_KV_F32;
    return p;
}

int dsv3_session_params_init(struct dsv3_session_params *p, size_t size) {
    struct dsv3_session_params d = session_params_defaults();
    return dsv3_struct_init(p, size, &d, sizeof d);
}

static void release(const dsv3_model *m, void *p) {
    if (p) m->ops->release(m->be, p);
}

void dsv3_session_free(dsv3_session *s) {
    if (!s) return;
    const dsv3_model *m = s->m;
    for (int i = 0; i < s->n_cache_layers; i++) {
        if (s->kv) release(m, s->kv[i]);
        if (s->pe) release(m, s->pe[i]);
    }
    free(s->kv);
    free(s->pe);
    release(m, s->hidden);
    fwd_bufs *b = &s->b;
    float *bufs[] = {b->x, b->xn, b->tmp, b->qa, b->q, b->kva, b->attn, b->g, b->u, b->moe,
                     b->router, b->picks, b->cat, b->logits, b->mla_scratch, b->moe_scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) release(m, bufs[i]);
    release(m, b->rec_stage);
    free(s->router_host);
    free(s->ids);
    free(s->wts);
    free(s->route_work);
    free(s->picks);
    free(s->inv_freq);
    free(s->cos_t);
    free(s->sin_t);
    free(s->moe_row);
    free(s->rec_ids);
    free(s->rec_w);
    dsv3_draft_head_free(&s->draft);
    free(s);
}

/* The stored type of a public DSV3_KV_* value (checked before). */
static int kv_wtype(int32_t kv_type) {
    return kv_type == DSV3_KV_F16 ? DSV3_W_F16 : kv_type == DSV3_KV_Q8_0 ? DSV3_W_Q8_0 : DSV3_W_F32;
}

static int check_kv_type(const dsv3_model *m, int32_t kv_type, dsv3_err *e) {
    const int kvl = m->cfg.kv_lora_rank;
    if (kv_type != DSV3_KV_F32 && kv_type != DSV3_KV_F16 && kv_type != DSV3_KV_Q8_0)
        return err_set(e, DSV3_ERR_INVALID_ARG,
                       "kv_type = %d is not a KV cache type (DSV3_KV_F32 0, DSV3_KV_F16 1, DSV3_KV_Q8_0 2)", (int)kv_type);
    if (kv_type == DSV3_KV_Q8_0 && kvl % 32 != 0)
        return err_set(e, DSV3_ERR_INVALID_ARG,
                       "kv_type DSV3_KV_Q8_0 stores the latent in blocks of 32: kv_lora_rank = %d is not a multiple of 32 "
                       "(use DSV3_KV_F16 or DSV3_KV_F32)", kvl);
    if (kv_type != DSV3_KV_F32 && (m->ops->version < DSV3_BACKEND_V2 || !m->ops->store_kv))
        return err_set(e, DSV3_ERR_INVALID_ARG, "kv_type = %d: backend '%s' supports only the f32 KV cache (DSV3_KV_F32)",
                       (int)kv_type, m->ops->name);
    return DSV3_OK;
}

static size_t max3(size_t a, size_t b, size_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

static int create(const dsv3_model *m, const struct dsv3_session_params *p, dsv3_session *s, dsv3_err *e) {
    const dsv3_config *c = &m->cfg;
    const size_t ub = DSV3_MAX_UBATCH, H = c->hidden_size, E = c->n_routed_experts, k = c->n_experts_per_tok;
    const size_t kvl = c->kv_lora_rank, dr = c->qk_rope_head_dim, nh = c->n_heads;
    const size_t ffn = max3((size_t)c->intermediate_size, (size_t)c->moe_intermediate_size * (c->n_shared_experts ? c->n_shared_experts : 1), 1);
    s->n_cache_layers = c->n_layers + c->n_mtp_layers;
    s->kv = calloc((size_t)s->n_cache_layers, sizeof *s->kv);
    s->pe = calloc((size_t)s->n_cache_layers, sizeof *s->pe);
    if (!s->kv || !s->pe) return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < s->n_cache_layers; i++) {
        s->kv[i] = m->ops->alloc(m->be, s->kv_row_bytes * (size_t)s->n_ctx);
        s->pe[i] = m->ops->alloc(m->be, sizeof(float) * (size_t)s->n_ctx * dr);
        if (!s->kv[i] || !s->pe[i])
            return err_set(e, DSV3_ERR_NO_MEMORY, "cannot allocate the KV cache for %d positions", s->n_ctx);
    }
    if (c->n_mtp_layers && p->mtp) {
        s->hidden = m->ops->alloc(m->be, sizeof(float) * (size_t)s->n_ctx * H);
        if (!s->hidden) return err_set(e, DSV3_ERR_NO_MEMORY, "cannot allocate MTP hidden states");
    }
    const struct { float **p; size_t n; } want[] = {
        {&s->b.x, ub * H}, {&s->b.xn, ub * H}, {&s->b.tmp, ub * H},
        {&s->b.qa, ub * (size_t)(c->q_lora_rank ? c->q_lora_rank : 1)},
        {&s->b.q, ub * nh * (size_t)(c->qk_nope_head_dim + dr)}, {&s->b.kva, ub * (kvl + dr)},
        {&s->b.attn, ub * nh * (size_t)c->v_head_dim}, {&s->b.g, ub * ffn}, {&s->b.u, ub * ffn},
        {&s->b.moe, ub * H}, {&s->b.router, ub * (E ? E : 1)}, {&s->b.picks, 2 * ub * (k ? k : 1)},
        {&s->b.cat, ub * 2 * H},
        {&s->b.logits, ub * (size_t)c->vocab_size},
        {&s->b.mla_scratch, dsv3_mla_scratch_floats(s->n_ctx, kvl) * (size_t)m->n_threads},
        {&s->b.moe_scratch, E ? dsv3_moe_scratch_floats(ub > k ? ub : k, H, (size_t)c->moe_intermediate_size) : 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        *want[i].p = m->ops->alloc(m->be, sizeof(float) * want[i].n);
        if (!*want[i].p) return err_set(e, DSV3_ERR_NO_MEMORY, "cannot allocate session buffers");
    }
    s->router_host = malloc(sizeof(float) * ub * (E ? E : 1));
    s->ids = malloc(sizeof(int32_t) * ub * (k ? k : 1));
    s->wts = malloc(sizeof(float) * ub * (k ? k : 1));
    s->route_work = malloc(sizeof(float) * 5 * (E ? E : 1));
    s->picks = malloc(sizeof(int32_t) * 2 * ub * (k ? k : 1));
    s->inv_freq = malloc(sizeof(double) * dr / 2);
    s->cos_t = malloc(sizeof(float) * ub * dr / 2);
    s->sin_t = malloc(sizeof(float) * ub * dr / 2);
    s->moe_row = malloc(sizeof(int) * (size_t)s->n_cache_layers);
    if (!s->router_host || !s->ids || !s->wts || !s->route_work || !s->picks || !s->inv_freq || !s->cos_t || !s->sin_t || !s->moe_row)
        return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    rope_inv_freq(c, s->inv_freq);
    s->mscale = (float)rope_mscale(c);
    s->attn_scale = (float)attn_softmax_scale(c);
    for (int il = 0; il < s->n_cache_layers; il++)
        s->moe_row[il] = il < c->n_layers && m->layers[il].is_moe ? s->n_moe++ : -1;
    if (p->record_routing && s->n_moe) {
        size_t n = (size_t)s->n_ctx * s->n_moe * k;
        s->rec_ids = calloc(n, sizeof *s->rec_ids);
        s->rec_w = calloc(n, sizeof *s->rec_w);
        if (!s->rec_ids || !s->rec_w) return err_set(e, DSV3_ERR_NO_MEMORY, "cannot allocate the routing record");
        /* Staging only where the picks can stay in backend memory (a
         * backend with moe_prepare); elsewhere they come to the host anyway
         * and are recorded as they arrive. */
        if (m->ops->version >= DSV3_BACKEND_V4 && m->ops->moe_prepare) {
            s->b.rec_stage = m->ops->alloc(m->be, sizeof(float) * 2 * ub * k * (size_t)s->n_moe);
            if (!s->b.rec_stage)
                return err_set(e, DSV3_ERR_NO_MEMORY, "cannot allocate the routing record's staging");
        }
    }
    return DSV3_OK;
}

int dsv3_session_create(const dsv3_model *m, const struct dsv3_session_params *up, dsv3_session **out, char *err,
                        size_t err_size) {
    dsv3_err e;
    err_clear(&e);
    if (err && err_size) err[0] = 0;
    if (out) *out = NULL;
    if (!m || !out) {
        err_set(&e, DSV3_ERR_INVALID_ARG, "dsv3_session_create: %s is NULL", m ? "out" : "model");
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    struct dsv3_session_params p = session_params_defaults();
    if (up && dsv3_struct_in(&p, sizeof p, up, "dsv3_session_params", &e)) {
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    int max = m->cfg.max_position_embeddings;
    if (p.n_ctx == 0) p.n_ctx = max < 4096 ? max : 4096;
    if (p.n_ctx < 1 || p.n_ctx > max) {
        err_set(&e, DSV3_ERR_INVALID_ARG, "n_ctx = %d is outside [1, %d] (max_position_embeddings)", p.n_ctx, max);
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    if (check_kv_type(m, p.kv_type, &e)) {
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    dsv3_session *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(&e, DSV3_ERR_NO_MEMORY, "out of memory");
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    s->m = m;
    s->n_ctx = p.n_ctx;
    s->kv_type = kv_wtype(p.kv_type);
    s->kv_row_bytes = dsv3_kv_row_bytes(s->kv_type, m->cfg.kv_lora_rank);
    int rc = create(m, &p, s, &e);
    if (rc) {
        err_copy_out(&e, err, err_size);
        dsv3_session_free(s);
        return rc;
    }
    *out = s;
    return DSV3_OK;
}

static int check_tokens(dsv3_session *s, const int32_t *t, int32_t n, const char *what) {
    for (int32_t i = 0; i < n; i++)
        if (t[i] < 0 || t[i] >= s->m->cfg.vocab_size)
            return err_set(&s->err, DSV3_ERR_BAD_TOKEN, "%s: token %d at index %d is outside the vocabulary [0, %d)", what,
                           t[i], i, s->m->cfg.vocab_size);
    return DSV3_OK;
}

/* Run n validated tokens in micro-batches of at most DSV3_MAX_UBATCH,
 * advancing *pos after each; logits get every row (LOGITS_ALL) or only the
 * last token's. */
static void run_chunks(dsv3_session *s, const int32_t *ids, int32_t n, float *logits, unsigned flags,
                       void (*fwd)(dsv3_session *, const int32_t *, int, float *, int), int *pos) {
    const int all = (flags & DSV3_STEP_LOGITS_ALL) != 0, V = s->m->cfg.vocab_size;
    for (int32_t done = 0; done < n;) {
        int chunk = n - done > DSV3_MAX_UBATCH ? DSV3_MAX_UBATCH : n - done;
        float *out = NULL;
        int first = chunk; /* first row whose logits are wanted */
        if (logits && all) { out = logits + (size_t)done * V; first = 0; }
        else if (logits && done + chunk == n) { out = logits; first = chunk - 1; }
        fwd(s, ids + done, chunk, out, first);
        *pos += chunk;
        done += chunk;
    }
}

/* Ops return nothing, so a device backend keeps a failure during the step
 * (out of device memory, a lost device) and reports it here. The position
 * goes back to where the step began, as after any failed step (rows
 * written past it are overwritten later). */
static int backend_status(dsv3_session *s, int *pos, int pos0) {
    const dsv3_backend_ops *ops = s->m->ops;
    if (ops->version < DSV3_BACKEND_V3 || !ops->status) return DSV3_OK;
    int rc = ops->status(s->m->be, &s->err);
    if (rc) *pos = pos0;
    return rc;
}

int dsv3_session_step(dsv3_session *s, const int32_t *tokens, int32_t n, float *logits, unsigned flags) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    err_clear(&s->err);
    if (n < 1 || !tokens)
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_session_step: need n_tokens >= 1 and a token array (n_tokens = %d)", n);
    if (flags & ~DSV3_STEP_LOGITS_ALL)
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_session_step: unknown flags 0x%x", flags);
    if (n > s->n_ctx - s->pos)
        return err_set(&s->err, DSV3_ERR_CONTEXT_FULL, "dsv3_session_step: %d tokens at position %d exceed the context of %d",
                       n, s->pos, s->n_ctx);
    int rc = check_tokens(s, tokens, n, "dsv3_session_step");
    if (!rc) rc = dsv3_model_files_check(s->m, &s->err); /* mapped weights still as loaded */
    if (rc) return rc;
    /* The MTP cache can only trail the main cache; stepping never moves it. */
    int pos0 = s->pos;
    run_chunks(s, tokens, n, logits, flags, forward_main, &s->pos);
    return backend_status(s, &s->pos, pos0);
}

/* The checks of an MTP step (see dsv3_session_mtp_step). */
static int mtp_check(dsv3_session *s, const int32_t *next, int32_t n, unsigned flags) {
    if (!s->m->cfg.n_mtp_layers) return err_set(&s->err, DSV3_ERR_NO_MTP, "this model has no MTP layer");
    if (!s->hidden) return err_set(&s->err, DSV3_ERR_STATE, "the session was created with mtp = 0");
    if (n < 1 || !next)
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_session_mtp_step: need n >= 1 and a token array (n = %d)", n);
    if (flags & ~DSV3_STEP_LOGITS_ALL)
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_session_mtp_step: unknown flags 0x%x", flags);
    if (n > s->pos - s->mtp_pos)
        return err_set(&s->err, DSV3_ERR_STATE,
                       "dsv3_session_mtp_step: %d rows from MTP position %d pass the main position %d; step the main model first",
                       n, s->mtp_pos, s->pos);
    int rc = check_tokens(s, next, n, "dsv3_session_mtp_step");
    if (!rc) rc = dsv3_model_files_check(s->m, &s->err);
    return rc;
}

int dsv3_session_mtp_step(dsv3_session *s, const int32_t *next, int32_t n, float *logits, unsigned flags) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    err_clear(&s->err);
    int rc = mtp_check(s, next, n, flags);
    if (rc) return rc;
    int pos0 = s->mtp_pos;
    run_chunks(s, next, n, logits, flags, forward_mtp, &s->mtp_pos);
    return backend_status(s, &s->mtp_pos, pos0);
}

void dsv3_session_mtp_draft_prepare(dsv3_session *s) {
    /* The int8 copy of the MTP head only where the activations are host
     * memory (a device backend would pay a read-back per draft), made once
     * per session: the memory goes with the session that drafts. */
    if (s->draft_tried || !s->m->cfg.n_mtp_layers) return;
    s->draft_tried = 1;
    if (!s->m->has_device) dsv3_draft_head_init(&s->draft, &s->m->layers[s->m->cfg.n_layers].head);
}

int dsv3_session_mtp_draft(dsv3_session *s, const int32_t *next, int32_t n, float *logits, int32_t *draft) {
    err_clear(&s->err);
    int rc = mtp_check(s, next, n, 0);
    if (rc) return rc;
    dsv3_session_mtp_draft_prepare(s);
    int pos0 = s->mtp_pos;
    if (!s->draft.q) {
        run_chunks(s, next, n, logits, 0, forward_mtp, &s->mtp_pos);
        *draft = dsv3_draft_argmax_f32(logits, s->m->cfg.vocab_size);
    } else {
        if (n > 1) run_chunks(s, next, n - 1, NULL, 0, forward_mtp, &s->mtp_pos);
        *draft = dsv3_forward_mtp_draft(s, next[n - 1]);
        s->mtp_pos++;
    }
    return backend_status(s, &s->mtp_pos, pos0);
}

int32_t dsv3_session_position(const dsv3_session *s) { return s ? s->pos : 0; }
int32_t dsv3_session_mtp_position(const dsv3_session *s) { return s ? s->mtp_pos : 0; }
int32_t dsv3_session_n_ctx(const dsv3_session *s) { return s ? s->n_ctx : 0; }

int dsv3_session_rewind(dsv3_session *s, int32_t position) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    err_clear(&s->err);
    if (position < 0 || position > s->pos)
        return err_set(&s->err, DSV3_ERR_BAD_POSITION, "dsv3_session_rewind: position %d is outside [0, %d]", position, s->pos);
    /* Cache rows past the new position are simply overwritten later. */
    s->pos = position;
    if (s->mtp_pos > position) s->mtp_pos = position;
    return DSV3_OK;
}

int dsv3_session_reset(dsv3_session *s) { return dsv3_session_rewind(s, 0); }

uint64_t dsv3_session_kv_bytes_per_token(const dsv3_session *s) {
    if (!s) return 0;
    const dsv3_config *c = &s->m->cfg;
    return ((uint64_t)s->kv_row_bytes + (uint64_t)c->qk_rope_head_dim * sizeof(float)) * (uint64_t)c->n_layers;
}

int dsv3_session_get_routing(const dsv3_session *s, int32_t position, int32_t *ids, float *weights, int32_t *n_moe) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    dsv3_err *e = (dsv3_err *)&s->err; /* a session belongs to one thread */
    if (n_moe) *n_moe = s->n_moe;
    if (!ids && !weights) return DSV3_OK;
    if (!s->rec_ids) return err_set(e, DSV3_ERR_STATE, "routing was not recorded (set record_routing in the session params)");
    if (position < 0 || position >= s->pos)
        return err_set(e, DSV3_ERR_BAD_POSITION, "dsv3_session_get_routing: position %d is outside [0, %d)", position, s->pos);
    size_t k = (size_t)s->m->cfg.n_experts_per_tok, at = (size_t)position * s->n_moe * k, n = (size_t)s->n_moe * k;
    if (ids) memcpy(ids, s->rec_ids + at, n * sizeof *ids);
    if (weights) memcpy(weights, s->rec_w + at, n * sizeof *weights);
    return DSV3_OK;
}

const char *dsv3_session_last_error(const dsv3_session *s) { return s ? s->err.msg : "session is NULL"; }
