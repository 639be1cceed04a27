/* generate_mtp.c -- self-speculative decoding with the model's MTP module.
 *
 * The main cache holds positions [0, P) and the logits for position P are
 * at hand; the MTP cache holds [0, mtp_pos), and `pend` keeps the tokens of
 * positions (mtp_pos, P) that the MTP has not consumed yet (the prompt's
 * are consumed before decoding, as prompt work: dsv3_gen_mtp_prompt, so
 * pend starts empty). One round:
 *
 *   t0 = sample(logits)                     exactly plain decoding's draw
 *   MTP over rows [mtp_pos, P) with next tokens pend + t0
 *                                           its last row drafts d1 for P+1
 *                                           (by the int8 draft head on a
 *                                           CPU backend: mtp_draft.h)
 *   d2..dk: the MTP layer again, its own normalized output standing in for
 *           the main hidden state of the previous position (chaining)
 *   main step over [t0, d1..dk], logits of every row   (one batched step)
 *   for j = 1..k: s = sample(row j-1); s == dj: keep dj, go on; else s is
 *           the next round's t0 (already drawn), stop comparing
 *   rewind both caches to the last kept token
 *
 * The sampler sees exactly the calls plain decoding makes, in the same
 * order (a draw for each decoded token from the logits of the same
 * prefix), so no sampler state ever needs to be saved or restored: a
 * mismatching draw is not thrown away, it is the next token. The batched
 * step's logits equal single-token steps' bit for bit (every backend
 * computes each row of a batch as it computes a single row), so the tokens
 * are plain decoding's. The chained rows' MTP cache entries are
 * approximations and are always rewound; the MTP re-runs kept positions
 * with the main model's real hidden states in the next round.
 *
 * Nothing here allocates per round: the buffers are made once per call. */
#include <stdlib.h>

#include "generate.h"

int dsv3_gen_mtp_depth(dsv3_session *s, const struct dsv3_generate_params *p, int32_t *depth) {
    *depth = 0;
    if (p->mtp == DSV3_MTP_OFF) return DSV3_OK;
    int code = DSV3_OK;
    const char *why = NULL;
    if (!s->m->cfg.n_mtp_layers) {
        code = DSV3_ERR_NO_MTP;
        why = "the model has no MTP layer";
    } else if (!s->hidden) {
        code = DSV3_ERR_STATE;
        why = "the session was created with mtp = 0";
    } else if (s->pos > 0 && s->mtp_pos < s->pos - 1) {
        /* The session does not record token ids, so positions the MTP
         * never saw before this prompt cannot be caught up. */
        code = DSV3_ERR_STATE;
        why = "the MTP cache does not reach the position before the prompt (the session was stepped outside MTP decoding)";
    }
    if (why) return p->mtp == DSV3_MTP_REQUIRED ? err_set(&s->err, code, "dsv3_generate: MTP decoding required, but %s", why) : DSV3_OK;
    *depth = p->mtp_depth ? p->mtp_depth : 1;
    return DSV3_OK;
}

/* As dsv3_session_rewind, leaving the session's error message alone. */
static void cut(dsv3_session *s, int32_t pos) {
    if (s->pos > pos) s->pos = pos;
    if (s->mtp_pos > pos) s->mtp_pos = pos;
}

/* One chained MTP row at mtp_pos: the previous draft row's normalized
 * output (row 0 of the activation buffer, still in backend memory) stands
 * in for the main model's hidden state there; returns its draft. The
 * draft is the MTP's most likely token (lowest id on ties), by the int8
 * draft head when the session has one (dsv3_session_mtp_draft made it):
 * which token is drafted only affects how often it is accepted.
 * Validated by the caller: mtp_pos < n_ctx, tok in range. */
static int32_t chain_row(dsv3_session *s, int32_t tok, float *logits) {
    const dsv3_model *m = s->m;
    const size_t H = (size_t)m->cfg.hidden_size;
    int32_t d;
    m->ops->copy(m->be, s->hidden + (size_t)s->mtp_pos * H, s->b.xn, sizeof(float) * H);
    if (s->draft.q) {
        d = dsv3_forward_mtp_draft(s, tok);
    } else {
        forward_mtp(s, &tok, 1, logits, 0);
        d = dsv3_draft_argmax_f32(logits, m->cfg.vocab_size);
    }
    s->mtp_pos++;
    return d;
}

int dsv3_gen_mtp_prompt(dsv3_gen *g, const int32_t *prompt, size_t n_prompt) {
    dsv3_session *s = g->s;
    const int32_t start = s->pos - (int32_t)n_prompt;
    /* A row the caller ran past the prompt's start used a token of its own
     * choosing: run it again with the prompt's first token. */
    if (start > 0 && s->mtp_pos > start - 1) s->mtp_pos = start - 1;
    /* rows mtp_pos .. pos - 2 consume the prompt's tokens mtp_pos + 1 ..
     * pos - 1 (dsv3_gen_mtp_depth made sure that mtp_pos >= start - 1) */
    const int32_t n = s->pos - 1 - s->mtp_pos;
    /* the draft head's copy too is made here, as prompt work */
    dsv3_session_mtp_draft_prepare(s);
    return n > 0 ? dsv3_session_mtp_step(s, prompt + (s->mtp_pos + 1 - start), n, NULL, 0) : DSV3_OK;
}

int dsv3_gen_decode_mtp(dsv3_gen *g, int32_t depth, float *logits) {
    dsv3_session *s = g->s;
    struct dsv3_generate_result *r = g->r;
    const struct dsv3_generate_params *p = g->p;
    const int32_t V = s->m->cfg.vocab_size;
    /* pending MTP rows: at most the kept drafts and t0 of one round */
    const size_t cap = (size_t)depth + 2;
    float *vlog = malloc(sizeof(float) * (size_t)V * (size_t)(depth + 1));
    float *mlog = malloc(sizeof(float) * (size_t)V);
    int32_t *pend = malloc(sizeof(int32_t) * cap);
    int32_t *batch = malloc(sizeof(int32_t) * (size_t)(depth + 1));
    int32_t keep = s->pos; /* positions delivered or prompt */
    int rc = DSV3_OK;
    if (!vlog || !mlog || !pend || !batch) {
        rc = err_set(&s->err, DSV3_ERR_NO_MEMORY, "dsv3_generate: out of memory");
        goto out;
    }
    int32_t np = 0; /* dsv3_gen_mtp_prompt left the MTP one behind */

    const float *next = logits; /* logits for position s->pos */
    int32_t t0 = 0;
    int have_t0 = 0;
    while (r->stop_reason == DSV3_STOP_NONE) {
        if (!have_t0) {
            if (!dsv3_gen_room(g, s->pos)) break;
            rc = dsv3_gen_sample(g, next, &t0);
            if (rc) goto out;
        }
        have_t0 = 0;
        const int32_t P = s->pos;
        /* Drafts that could be kept: within the context and max_tokens,
         * none after an EOS that ends generation. */
        int32_t k = depth;
        if (k > s->n_ctx - P - 1) k = s->n_ctx - P - 1;
        if (k > p->max_tokens - r->n_generated) k = p->max_tokens - r->n_generated;
        if (p->stop_at_eos && t0 == g->eos) k = 0;
        pend[np++] = t0;
        /* The MTP consumes every pending position (a head only on the
         * last row, and not at all without a draft to make). */
        rc = k ? dsv3_session_mtp_draft(s, pend, np, mlog, &batch[1]) : dsv3_session_mtp_step(s, pend, np, NULL, 0);
        if (rc) goto out;
        batch[0] = t0;
        if (k) {
            for (int32_t j = 2; j <= k; j++) batch[j] = chain_row(s, batch[j - 1], mlog);
            s->mtp_pos = P; /* chained rows are approximations: dropped */
            r->n_drafted += k;
        }
        np = 0;
        rc = dsv3_session_step(s, batch, k + 1, k ? vlog : logits, k ? DSV3_STEP_LOGITS_ALL : 0);
        if (rc) goto out;
        r->n_main_steps++;
        keep = P + 1;
        rc = dsv3_gen_deliver(g, t0);
        if (rc || r->stop_reason != DSV3_STOP_NONE) break;
        int32_t j = 1;
        for (; j <= k; j++) {
            if (!dsv3_gen_room(g, P + j)) break;
            int32_t t;
            rc = dsv3_gen_sample(g, vlog + (size_t)(j - 1) * V, &t);
            if (rc) goto out;
            if (t != batch[j]) { /* plain decoding's token at P + j */
                t0 = t;
                have_t0 = 1;
                break;
            }
            r->n_accepted++;
            pend[np++] = t;
            keep = P + j + 1;
            rc = dsv3_gen_deliver(g, t);
            if (rc || r->stop_reason != DSV3_STOP_NONE) break;
        }
        if (rc || r->stop_reason != DSV3_STOP_NONE) break;
        cut(s, keep);
        next = k ? vlog + (size_t)k * V : logits; /* read only when all k were kept */
    }
    cut(s, keep);
    /* Leave the MTP cache one behind the main cache, so that the next call
     * (a chat's next turn) drafts from its first token. */
    if (!rc && np) rc = dsv3_session_mtp_step(s, pend, np, NULL, 0);
out:
    if (rc) cut(s, keep);
    free(vlog);
    free(mlog);
    free(pend);
    free(batch);
    return rc;
}
