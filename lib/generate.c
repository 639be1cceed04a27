/* generate.c -- the generation loop: prompt, then sample / step / stream
 * until EOS, a stop string, max_tokens, the callback or a full context.
 *
 * Every generated token is stepped into the session, EOS included, so the
 * session always holds prompt + generated tokens: the next chat turn
 * (rendered with the assistant's end-of-sentence) continues from there.
 * The MTP-speculative loop is in generate_mtp.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi.h"
#include "generate.h"

static struct dsv3_generate_params generate_params_defaults(void) {
    struct dsv3_generate_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.max_tokens = 256;
    p.stop_at_eos = 1;
    return p;
}

int dsv3_generate_params_init(struct dsv3_generate_params *p, size_t size) {
    struct dsv3_generate_params d = generate_params_defaults();
    return dsv3_struct_init(p, size, &d, sizeof d);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int held_append(dsv3_gen *g, const char *p, size_t n) {
    if (g->held_len + n + 1 > g->held_cap) {
        size_t nc = (g->held_len + n + 1) * 2;
        char *nb = realloc(g->held, nc);
        if (!nb) return 0;
        g->held = nb;
        g->held_cap = nc;
    }
    memcpy(g->held + g->held_len, p, n);
    g->held_len += n;
    g->held[g->held_len] = 0;
    return 1;
}

/* Where the first stop string starts in the held text, or -1. */
static long find_stop(const dsv3_gen *g) {
    const struct dsv3_generate_params *p = g->p;
    long best = -1;
    for (size_t i = 0; i < p->n_stop_strings; i++) {
        const char *s = p->stop_strings[i];
        size_t n = s ? strlen(s) : 0;
        if (!n || n > g->held_len) continue;
        for (size_t at = 0; at + n <= g->held_len; at++)
            if (!memcmp(g->held + at, s, n)) {
                if (best < 0 || (long)at < best) best = (long)at;
                break;
            }
    }
    return best;
}

/* Bytes at the end of the held text that are a proper prefix of some stop
 * string. */
static size_t partial_stop(const dsv3_gen *g) {
    const struct dsv3_generate_params *p = g->p;
    size_t keep = 0;
    for (size_t i = 0; i < p->n_stop_strings; i++) {
        const char *s = p->stop_strings[i];
        size_t n = s ? strlen(s) : 0;
        for (size_t k = n ? n - 1 : 0; k > keep; k--)
            if (k <= g->held_len && !memcmp(g->held + g->held_len - k, s, k)) { keep = k; break; }
    }
    return keep;
}

int dsv3_gen_room(dsv3_gen *g, int32_t pos) {
    if (g->r->n_generated >= g->p->max_tokens) g->r->stop_reason = DSV3_STOP_MAX_TOKENS;
    else if (pos >= g->s->n_ctx) g->r->stop_reason = DSV3_STOP_CONTEXT_FULL;
    return g->r->stop_reason == DSV3_STOP_NONE;
}

int dsv3_gen_sample(dsv3_gen *g, const float *logits, int32_t *t) {
    int rc = dsv3_sampler_sample(g->sampler, logits, t);
    if (rc) return err_set(&g->s->err, rc, "dsv3_generate: the sampler failed (all logits -inf or NaN?)");
    dsv3_sampler_accept(g->sampler, *t);
    g->r->n_generated++;
    return DSV3_OK;
}

int dsv3_gen_deliver(dsv3_gen *g, int32_t t) {
    const struct dsv3_generate_params *p = g->p;
    if (p->stop_at_eos && t == g->eos) {
        g->r->stop_reason = DSV3_STOP_EOS;
        return DSV3_OK;
    }
    char piece[1024];
    size_t n = 0;
    if (!g->st || dsv3_detok_stream_push(g->st, t, piece, sizeof piece, &n) != DSV3_OK) n = 0; /* ids past the tokenizer: no text */
    if (!held_append(g, piece, n)) return err_set(&g->s->err, DSV3_ERR_NO_MEMORY, "out of memory");
    long at = find_stop(g);
    size_t emit = at >= 0 ? (size_t)at : g->held_len - partial_stop(g);
    int cb = 0;
    if (p->on_token) {
        char save = g->held[emit];
        g->held[emit] = 0;
        cb = p->on_token(p->user, t, g->held, emit);
        g->held[emit] = save;
    }
    memmove(g->held, g->held + emit, g->held_len - emit + 1);
    g->held_len -= emit;
    if (at >= 0) g->r->stop_reason = DSV3_STOP_STRING;
    else if (cb > 0) g->r->stop_reason = DSV3_STOP_CALLBACK;
    else if (cb < 0) return err_set(&g->s->err, DSV3_ERR_CANCELLED, "dsv3_generate: cancelled by the callback");
    return DSV3_OK;
}

/* Plain decoding: one main step per token. */
static int decode_plain(dsv3_gen *g, float *logits) {
    while (g->r->stop_reason == DSV3_STOP_NONE && dsv3_gen_room(g, g->s->pos)) {
        int32_t t;
        int rc = dsv3_gen_sample(g, logits, &t);
        if (rc) return rc;
        rc = dsv3_session_step(g->s, &t, 1, logits, 0);
        if (rc) return rc;
        g->r->n_main_steps++;
        rc = dsv3_gen_deliver(g, t);
        if (rc) return rc;
    }
    return DSV3_OK;
}

int dsv3_generate(dsv3_session *s, const dsv3_tokenizer *tok, dsv3_sampler *sampler, const int32_t *prompt,
                  size_t n_prompt, const struct dsv3_generate_params *up, struct dsv3_generate_result *res) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    err_clear(&s->err);
    if (!sampler || (!prompt && n_prompt))
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_generate: a sampler and a prompt are required");
    struct dsv3_generate_params p = generate_params_defaults();
    if (up && dsv3_struct_in(&p, sizeof p, up, "dsv3_generate_params", &s->err)) return s->err.status;
    if (res && (res->struct_size < sizeof(size_t) || res->struct_size > DSV3_STRUCT_SIZE_MAX))
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_generate_result.struct_size = %zu is not valid", res->struct_size);
    if (p.max_tokens < 0 || (p.n_stop_strings && !p.stop_strings))
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_generate: max_tokens < 0 or stop_strings is NULL");
    if (p.mtp < DSV3_MTP_OFF || p.mtp > DSV3_MTP_REQUIRED || p.mtp_depth < 0 || p.mtp_depth > DSV3_MTP_MAX_DEPTH)
        return err_set(&s->err, DSV3_ERR_INVALID_ARG,
                       "dsv3_generate: mtp = %d (DSV3_MTP_OFF 0, _AUTO 1, _REQUIRED 2) or mtp_depth = %d (0 .. %d) is not valid",
                       (int)p.mtp, (int)p.mtp_depth, DSV3_MTP_MAX_DEPTH);
    if (n_prompt == 0) /* the session keeps no logits to continue from */
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_generate: the prompt needs at least one token");
    struct dsv3_generate_result r;
    memset(&r, 0, sizeof r);
    const int V = s->m->cfg.vocab_size;
    /* Without a tokenizer: ids only (empty pieces), EOS from config.json. */
    const int32_t eos = tok ? dsv3_tokenizer_eos(tok) : s->m->cfg.eos_token_id;
    float *logits = malloc(sizeof(float) * (size_t)V);
    dsv3_gen g = {.s = s, .sampler = sampler, .p = &p, .r = &r, .eos = eos};
    int rc = !logits ? DSV3_ERR_NO_MEMORY : tok ? dsv3_detok_stream_create(tok, 0, &g.st) : DSV3_OK;
    if (rc) { free(logits); return err_set(&s->err, rc, "dsv3_generate: out of memory"); }
    int32_t depth = 0;

    double t0 = now_s();
    if (n_prompt > (size_t)(s->n_ctx - s->pos)) {
        rc = err_set(&s->err, DSV3_ERR_CONTEXT_FULL, "dsv3_generate: a prompt of %zu tokens at position %d exceeds the context of %d",
                     n_prompt, s->pos, s->n_ctx);
        goto out;
    }
    rc = dsv3_gen_mtp_depth(s, &p, &depth);
    if (rc) goto out;
    rc = dsv3_session_step(s, prompt, (int32_t)n_prompt, logits, 0);
    if (!rc && depth) rc = dsv3_gen_mtp_prompt(&g, prompt, n_prompt);
    if (rc) goto out;
    double t1 = now_s();
    r.n_prompt_tokens = (int32_t)n_prompt;
    r.prompt_seconds = t1 - t0;
    r.mtp_depth = depth;
    rc = depth ? dsv3_gen_decode_mtp(&g, depth, logits) : decode_plain(&g, logits);
    if (rc) goto out;
    /* Text held back for a stop string that never came, and an incomplete
     * character at the very end, are delivered with token -1. */
    if (r.stop_reason != DSV3_STOP_STRING && p.on_token) {
        char piece[1024];
        size_t n = 0;
        if (g.st && dsv3_detok_stream_flush(g.st, piece, sizeof piece, &n) == DSV3_OK && n) held_append(&g, piece, n);
        if (g.held_len) p.on_token(p.user, -1, g.held, g.held_len);
    }
    r.generate_seconds = now_s() - t1;
    r.prompt_tokens_per_s = r.prompt_seconds > 0 ? r.n_prompt_tokens / r.prompt_seconds : 0;
    r.generate_tokens_per_s = r.generate_seconds > 0 ? r.n_generated / r.generate_seconds : 0;
out:
    if (res) dsv3_struct_out(res, &r, sizeof r, "dsv3_generate_result", NULL); /* size checked on entry */
    dsv3_detok_stream_free(g.st);
    free(g.held);
    free(logits);
    return rc;
}
