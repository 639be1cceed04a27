/* session_fork.c -- dsv3_session_fork: a new session whose caches start as
 * a copy of another's, up to its position. Copying (rather than sharing
 * rows copy-on-write) keeps every session independent and lock-free, as
 * the thread rules of dsv3.h promise; the copy moves position *
 * kv_bytes_per_token bytes, far less than stepping the prefix again. */
#include <string.h>

#include "abi.h"
#include "session.h"

static int32_t public_kv_type(int wtype) {
    return wtype == DSV3_W_F16 ? DSV3_KV_F16 : wtype == DSV3_W_Q8_0 ? DSV3_KV_Q8_0 : DSV3_KV_F32;
}

static int fail(dsv3_err *e, char *err, size_t err_size, int status) {
    err_copy_out(e, err, err_size);
    return status;
}

static void copy_caches(dsv3_session *d, const dsv3_session *s) {
    const dsv3_model *m = s->m;
    const int nl = m->cfg.n_layers;
    const size_t pe_row = sizeof(float) * (size_t)m->cfg.qk_rope_head_dim;
    for (int il = 0; il < s->n_cache_layers; il++) {
        size_t rows = (size_t)(il < nl ? s->pos : s->mtp_pos);
        m->ops->copy(m->be, d->kv[il], s->kv[il], rows * s->kv_row_bytes);
        m->ops->copy(m->be, d->pe[il], s->pe[il], rows * pe_row);
    }
    int mtp_pos = s->mtp_pos;
    if (d->hidden && s->hidden) {
        /* MTP reads hidden rows from mtp_pos on (earlier ones are spent) */
        const size_t row = sizeof(float) * (size_t)m->cfg.hidden_size;
        m->ops->copy(m->be, (char *)d->hidden + (size_t)mtp_pos * row, (const char *)s->hidden + (size_t)mtp_pos * row,
                     (size_t)(s->pos - mtp_pos) * row);
    }
    if (d->rec_ids) {
        size_t n = (size_t)s->pos * (size_t)s->n_moe * (size_t)m->cfg.n_experts_per_tok;
        if (s->rec_ids) {
            memcpy(d->rec_ids, s->rec_ids, n * sizeof *d->rec_ids);
            memcpy(d->rec_w, s->rec_w, n * sizeof *d->rec_w);
        } else { /* src kept no record: id -1, weight 0, as after a load */
            for (size_t i = 0; i < n; i++) {
                d->rec_ids[i] = -1;
                d->rec_w[i] = 0.0f;
            }
        }
    }
    d->pos = s->pos;
    d->mtp_pos = mtp_pos;
}

int dsv3_session_fork(const dsv3_session *src, const struct dsv3_session_params *params, dsv3_session **out,
                      char *err, size_t err_size) {
    dsv3_err e;
    err_clear(&e);
    if (err && err_size) err[0] = 0;
    if (out) *out = NULL;
    if (!src || !out)
        return fail(&e, err, err_size,
                    err_set(&e, DSV3_ERR_INVALID_ARG, "dsv3_session_fork: %s is NULL", src ? "out" : "src"));
    struct dsv3_session_params p;
    dsv3_session_params_init(&p, sizeof p);
    p.n_ctx = src->n_ctx;
    p.kv_type = public_kv_type(src->kv_type);
    p.record_routing = src->rec_ids != NULL;
    p.mtp = src->hidden != NULL || !src->m->cfg.n_mtp_layers;
    if (params) { /* as given (extensible-struct rule), n_ctx 0 meaning src's */
        if (dsv3_struct_in(&p, sizeof p, params, "dsv3_session_params", &e)) return fail(&e, err, err_size, e.status);
        if (p.n_ctx == 0) p.n_ctx = src->n_ctx;
        if (p.kv_type != public_kv_type(src->kv_type))
            return fail(&e, err, err_size,
                        err_set(&e, DSV3_ERR_INVALID_ARG, "dsv3_session_fork: kv_type %d differs from the source's %d",
                                (int)p.kv_type, (int)public_kv_type(src->kv_type)));
    }
    if (p.n_ctx < src->pos)
        return fail(&e, err, err_size,
                    err_set(&e, DSV3_ERR_INVALID_ARG, "dsv3_session_fork: n_ctx %d cannot hold the source's %d positions",
                            p.n_ctx, src->pos));
    dsv3_session *d = NULL;
    int rc = dsv3_session_create(src->m, &p, &d, err, err_size);
    if (rc) return rc;
    copy_caches(d, src);
    *out = d;
    return DSV3_OK;
}
