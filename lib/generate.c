/* generate.c -- the generation loop: prompt, then sample / step / stream
 * until EOS, a stop string, max_tokens, the callback or a full context.
 *
 * Every generated token is stepped into the session, EOS included, so the
 * session always holds prompt + generated tokens: the next chat turn
 * (rendered with the assistant's end-of-sentence) continues from there. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi.h"
#include "session.h"

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

/* Text produced but not yet handed to the callback, because its tail could
 * still become a stop string. */
typedef struct held_text {
    char *buf;
    size_t len, cap;
} held_text;

static int held_append(held_text *h, const char *p, size_t n) {
    if (h->len + n + 1 > h->cap) {
        size_t nc = (h->len + n + 1) * 2;
        char *nb = realloc(h->buf, nc);
        if (!nb) return 0;
        h->buf = nb;
        h->cap = nc;
    }
    memcpy(h->buf + h->len, p, n);
    h->len += n;
    h->buf[h->len] = 0;
    return 1;
}

/* Where the first stop string starts in h, or -1. */
static long find_stop(const held_text *h, const struct dsv3_generate_params *p) {
    long best = -1;
    for (size_t i = 0; i < p->n_stop_strings; i++) {
        const char *s = p->stop_strings[i];
        size_t n = s ? strlen(s) : 0;
        if (!n || n > h->len) continue;
        for (size_t at = 0; at + n <= h->len; at++)
            if (!memcmp(h->buf + at, s, n)) {
                if (best < 0 || (long)at < best) best = (long)at;
                break;
            }
    }
    return best;
}

/* Bytes at the end of h that are a proper prefix of some stop string. */
static size_t partial_stop(const held_text *h, const struct dsv3_generate_params *p) {
    size_t keep = 0;
    for (size_t i = 0; i < p->n_stop_strings; i++) {
        const char *s = p->stop_strings[i];
        size_t n = s ? strlen(s) : 0;
        for (size_t k = n ? n - 1 : 0; k > keep; k--)
            if (k <= h->len && !memcmp(h->buf + h->len - k, s, k)) { keep = k; break; }
    }
    return keep;
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
    if (n_prompt == 0) /* the session keeps no logits to continue from */
        return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_generate: the prompt needs at least one token");
    struct dsv3_generate_result r;
    memset(&r, 0, sizeof r);
    const int V = s->m->cfg.vocab_size;
    /* Without a tokenizer: ids only (empty pieces), EOS from config.json. */
    const int32_t eos = tok ? dsv3_tokenizer_eos(tok) : s->m->cfg.eos_token_id;
    float *logits = malloc(sizeof(float) * (size_t)V);
    held_text held = {0};
    dsv3_detok_stream *st = NULL;
    int rc = !logits ? DSV3_ERR_NO_MEMORY : tok ? dsv3_detok_stream_create(tok, 0, &st) : DSV3_OK;
    if (rc) { free(logits); return err_set(&s->err, rc, "dsv3_generate: out of memory"); }

    double t0 = now_s();
    if (n_prompt > (size_t)(s->n_ctx - s->pos)) {
        rc = err_set(&s->err, DSV3_ERR_CONTEXT_FULL, "dsv3_generate: a prompt of %zu tokens at position %d exceeds the context of %d",
                     n_prompt, s->pos, s->n_ctx);
        goto out;
    }
    rc = dsv3_session_step(s, prompt, (int32_t)n_prompt, logits, 0);
    if (rc) goto out;
    double t1 = now_s();
    r.n_prompt_tokens = (int32_t)n_prompt;
    r.prompt_seconds = t1 - t0;
    char piece[1024];
    while (r.stop_reason == DSV3_STOP_NONE) {
        if (r.n_generated >= p.max_tokens) { r.stop_reason = DSV3_STOP_MAX_TOKENS; break; }
        if (s->pos >= s->n_ctx) { r.stop_reason = DSV3_STOP_CONTEXT_FULL; break; }
        int32_t t;
        rc = dsv3_sampler_sample(sampler, logits, &t);
        if (rc) { err_set(&s->err, rc, "dsv3_generate: the sampler failed (all logits -inf or NaN?)"); goto out; }
        dsv3_sampler_accept(sampler, t);
        r.n_generated++;
        rc = dsv3_session_step(s, &t, 1, logits, 0);
        if (rc) goto out;
        if (p.stop_at_eos && t == eos) { r.stop_reason = DSV3_STOP_EOS; break; }
        size_t n = 0;
        if (!st || dsv3_detok_stream_push(st, t, piece, sizeof piece, &n) != DSV3_OK) n = 0; /* ids past the tokenizer: no text */
        if (!held_append(&held, piece, n)) { rc = err_set(&s->err, DSV3_ERR_NO_MEMORY, "out of memory"); goto out; }
        long at = find_stop(&held, &p);
        size_t emit = at >= 0 ? (size_t)at : held.len - partial_stop(&held, &p);
        int cb = 0;
        if (p.on_token) {
            char save = held.buf[emit];
            held.buf[emit] = 0;
            cb = p.on_token(p.user, t, held.buf, emit);
            held.buf[emit] = save;
        }
        memmove(held.buf, held.buf + emit, held.len - emit + 1);
        held.len -= emit;
        if (at >= 0) r.stop_reason = DSV3_STOP_STRING;
        else if (cb > 0) r.stop_reason = DSV3_STOP_CALLBACK;
        else if (cb < 0) {
            rc = err_set(&s->err, DSV3_ERR_CANCELLED, "dsv3_generate: cancelled by the callback");
            goto out;
        }
    }
    /* Text held back for a stop string that never came, and an incomplete
     * character at the very end, are delivered with token -1. */
    if (r.stop_reason != DSV3_STOP_STRING && p.on_token) {
        size_t n = 0;
        if (st && dsv3_detok_stream_flush(st, piece, sizeof piece, &n) == DSV3_OK && n) held_append(&held, piece, n);
        if (held.len) p.on_token(p.user, -1, held.buf, held.len);
    }
    r.generate_seconds = now_s() - t1;
    r.prompt_tokens_per_s = r.prompt_seconds > 0 ? r.n_prompt_tokens / r.prompt_seconds : 0;
    r.generate_tokens_per_s = r.generate_seconds > 0 ? r.n_generated / r.generate_seconds : 0;
out:
    if (res) dsv3_struct_out(res, &r, sizeof r, "dsv3_generate_result", NULL); /* size checked on entry */
    dsv3_detok_stream_free(st);
    free(held.buf);
    free(logits);
    return rc;
}
