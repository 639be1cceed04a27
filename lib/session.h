/* session.h -- a session: the latent KV cache of every layer, positions,
 * and the scratch buffers the forward pass writes into. */
#ifndef DSV3_SESSION_H
#define DSV3_SESSION_H

#include "model.h"
#include "mtp_draft.h"

/* Activation buffers (backend memory), sized for DSV3_MAX_UBATCH tokens. */
typedef struct fwd_bufs {
    float *x;        /* [ub][H] residual stream               */
    float *xn;       /* [ub][H] normalized input of a block   */
    float *tmp;      /* [ub][H] block output before residual  */
    float *qa;       /* [ub][ql] q LoRA latent                */
    float *q;        /* [ub][nh*(dn+dr)]                      */
    float *kva;      /* [ub][kvl+dr]                          */
    float *attn;     /* [ub][nh*dv]                           */
    float *g, *u;    /* [ub][max(inter, S*moe_inter)]         */
    float *moe;      /* [ub][H] routed-experts output         */
    float *router;   /* [ub][E] router logits                 */
    float *picks;    /* [2][ub][k] route op: n*k ids (int32), then n*k weights */
    float *rec_stage; /* [n_moe][2][ub][k] picks kept for the routing record, or NULL */
    float *cat;      /* [ub][2H] MTP input (embedding, hidden) */
    float *logits;   /* [ub][V]                               */
    float *mla_scratch, *moe_scratch;
} fwd_bufs;

struct dsv3_session {
    const dsv3_model *m;
    int n_ctx;
    int pos;            /* main cache length                        */
    int mtp_pos;        /* MTP cache length (<= pos)                */
    int n_cache_layers; /* main layers + MTP layers                 */
    unsigned char **kv; /* per layer: n_ctx latent rows of kv_row_bytes */
    float **pe;         /* per layer: [n_ctx][dr] rope keys, f32    */
    int kv_type;        /* latent storage: DSV3_W_F32, _F16, _Q8_0  */
    size_t kv_row_bytes; /* dsv3_kv_row_bytes(kv_type, kvl)         */
    float *hidden;      /* [n_ctx][H] final-norm hidden for MTP, or NULL */
    fwd_bufs b;
    /* host-side routing work */
    float *router_host; /* [ub][E]                                  */
    int32_t *ids;       /* [ub][k]                                  */
    float *wts;         /* [ub][k]                                  */
    float *route_work;  /* [5E]                                     */
    int32_t *picks;     /* [2][ub][k] the route op's picks, read back */
    /* RoPE tables for the micro-batch being run */
    double *inv_freq;   /* [dr/2]                                   */
    float *cos_t, *sin_t; /* [ub][dr/2]                            */
    float mscale, attn_scale;
    /* routing record (record_routing) */
    int n_moe;          /* MoE layers in the main model             */
    int *moe_row;       /* layer -> row in the record, or -1        */
    int32_t *rec_ids;   /* [n_ctx][n_moe][k]                        */
    float *rec_w;
    dsv3_err err;
    /* speculative decoding's draft head, made at its first use */
    dsv3_draft_head draft;
    int draft_tried;    /* 1 once made or found not to qualify      */
};

/* Run n (<= DSV3_MAX_UBATCH) tokens at s->pos through the main model;
 * logits (host) gets rows for tokens [first_logit, n) when non-NULL. Saves
 * hidden states for MTP. Cannot fail: inputs were validated. */
void forward_main(dsv3_session *s, const int32_t *ids, int n, float *logits, int first_logit);

/* Run n MTP rows at s->mtp_pos with the given next tokens. */
void forward_mtp(dsv3_session *s, const int32_t *next_ids, int n, float *logits, int first_logit);

/* One MTP row at s->mtp_pos for next_id (validated) whose output is only a
 * draft: the most likely token by the int8 head s->draft (made). Writes
 * the row's cache entry as forward_mtp does; does not move mtp_pos. */
int32_t dsv3_forward_mtp_draft(dsv3_session *s, int32_t next_id);

/* Make the session's int8 draft head if it can have one (the backend
 * shares the host's memory, the head qualifies) and it was not tried yet.
 * Out of memory only means drafting with the exact head. */
void dsv3_session_mtp_draft_prepare(dsv3_session *s);

/* dsv3_session_mtp_step for speculative decoding: rows for next[0..n),
 * all but the last cache-only; the last one's draft goes to *draft, by the
 * int8 draft head when the session has one (prepared as above, at the
 * latest here), else by the exact head's logits into `logits` (vocab
 * floats). Same checks and errors. */
int dsv3_session_mtp_draft(dsv3_session *s, const int32_t *next, int32_t n, float *logits, int32_t *draft);

#endif
