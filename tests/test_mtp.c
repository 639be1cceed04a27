/* test_mtp.c -- dsv3_generate with MTP drafts (self-speculative decoding)
 * gives plain decoding's results exactly: for greedy and seeded sampling
 * (several seeds, temperatures, top-k / top-p / min-p, repetition and
 * frequency penalties), draft depths 1-3, stop strings, EOS, max_tokens,
 * a context that fills mid-draft, a callback stop, an f16 KV cache and a
 * second chat turn, every run is compared with plain decoding on:
 *   - the token ids and the text handed to the callback, the stop reason,
 *     n_generated and the session position (equal);
 *   - the main cache: logits of one more step (bit for bit);
 *   - the MTP cache: it ends one behind the main cache, and one more MTP
 *     row gives the logits (bit for bit) of the plain session's MTP cache
 *     caught up over the same tokens;
 *   - the sampler: its next draws from the same logits (equal).
 * Tolerance: none, every comparison is exact. Also: MTP modes on a model
 * without MTP, a session without MTP state or with a gap, bad parameters.
 *
 * Usage: test_mtp demo MODEL_DIR       (the demo model, every backend)
 *        test_mtp golden SHARED_DIR    (../shared's golden checkpoints) */
#include <stdint.h>

#include "dsv3.h"
#include "golden_util.h"

#define MAXTOK 512

typedef struct capture {
    int32_t ids[MAXTOK];
    int n;
    char text[32768];
    size_t len;
    int stop_after; /* callback returns 1 after this many tokens (0: never) */
} capture;

static int on_token(void *user, int32_t token, const char *piece, size_t len) {
    capture *c = user;
    if (token >= 0 && c->n < MAXTOK) c->ids[c->n++] = token;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, piece, len);
        c->len += len;
        c->text[c->len] = 0;
    }
    return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

/* One generation setup, run plainly and with MTP. */
typedef struct job {
    const char *name;
    dsv3_model *m;
    const dsv3_tokenizer *tok;      /* may be NULL */
    struct dsv3_sampler_params sp;
    const int32_t *prompt;
    int n_prompt;
    const int32_t *prompt2;         /* a second turn, or NULL */
    int n_prompt2;
    int32_t max_tokens;
    int stop_at_eos;
    const char *const *stops;
    size_t n_stops;
    int stop_after;
    int32_t n_ctx;
    int32_t kv_type;
    int32_t depth;
} job;

typedef struct outcome {
    capture cap;
    int rc;
    struct dsv3_generate_result r[2];
    int32_t seq[4096]; /* every token in the session, for the MTP catch-up */
    int n_seq;
    int32_t pos, mtp_pos;
    float *main_after, *mtp_after;
    int32_t draws[3];
} outcome;

static int32_t V_of(dsv3_model *m) {
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m, &info);
    return info.vocab_size;
}

static int32_t eos_of(const job *j, dsv3_model *m) {
    (void)m;
    return j->tok ? dsv3_tokenizer_eos(j->tok) : 1; /* both checkpoints' config.json: eos_token_id 1 */
}

/* mtp: 0 plain, else the depth. The outcome's buffers are malloc'ed. */
static void run(const job *j, int32_t mtp, outcome *o) {
    char err[512];
    const int32_t V = V_of(j->m);
    memset(o, 0, sizeof *o);
    o->cap.stop_after = j->stop_after;
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = j->n_ctx;
    sp.kv_type = j->kv_type;
    dsv3_session *s = NULL;
    if (dsv3_session_create(j->m, &sp, &s, err, sizeof err)) { fprintf(stderr, "FATAL: %s\n", err); exit(2); }
    dsv3_sampler *smp = NULL;
    if (dsv3_sampler_create(&j->sp, V, &smp)) { fprintf(stderr, "FATAL: sampler\n"); exit(2); }
    struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = j->max_tokens;
    gp.stop_at_eos = j->stop_at_eos;
    gp.stop_strings = j->stops;
    gp.n_stop_strings = j->n_stops;
    gp.on_token = on_token;
    gp.user = &o->cap;
    gp.mtp = mtp ? DSV3_MTP_REQUIRED : DSV3_MTP_OFF;
    gp.mtp_depth = mtp;
    for (int turn = 0; turn < (j->prompt2 ? 2 : 1); turn++) {
        const int32_t *pr = turn ? j->prompt2 : j->prompt;
        int n = turn ? j->n_prompt2 : j->n_prompt;
        int first = o->cap.n;
        o->r[turn].struct_size = sizeof o->r[turn];
        o->rc = dsv3_generate(s, j->tok, smp, pr, (size_t)n, &gp, &o->r[turn]);
        if (o->rc) break;
        memcpy(o->seq + o->n_seq, pr, sizeof(int32_t) * (size_t)n);
        o->n_seq += n;
        memcpy(o->seq + o->n_seq, o->cap.ids + first, sizeof(int32_t) * (size_t)(o->cap.n - first));
        o->n_seq += o->cap.n - first;
        if (o->r[turn].stop_reason == DSV3_STOP_EOS) o->seq[o->n_seq++] = eos_of(j, j->m);
    }
    o->pos = dsv3_session_position(s);
    o->mtp_pos = dsv3_session_mtp_position(s);
    /* One more MTP row and one more main step after everything. */
    const int32_t x = 5;
    o->main_after = calloc((size_t)V, sizeof(float));
    o->mtp_after = calloc((size_t)V, sizeof(float));
    if (o->pos < j->n_ctx && o->pos == o->n_seq) {
        if (!mtp && o->pos > 1) dsv3_session_mtp_step(s, o->seq + 1, o->pos - 1, NULL, 0); /* catch up */
        int rc = dsv3_session_mtp_step(s, &x, 1, o->mtp_after, 0);
        if (rc) printf("  (mtp_step after the run: %s)\n", dsv3_session_last_error(s));
        rc = dsv3_session_step(s, &x, 1, o->main_after, 0);
        if (rc) printf("  (step after the run: %s)\n", dsv3_session_last_error(s));
        for (int i = 0; i < 3; i++) {
            dsv3_sampler_sample(smp, o->main_after, &o->draws[i]);
            dsv3_sampler_accept(smp, o->draws[i]);
        }
    }
    dsv3_sampler_free(smp);
    dsv3_session_free(s);
}

static void release(outcome *o) {
    free(o->main_after);
    free(o->mtp_after);
}

typedef struct totals {
    long drafted, accepted, generated, steps;
} totals;

/* Plain vs MTP for one job; returns the MTP run's acceptance counts. */
static void compare(const job *j, totals *t) {
    const int32_t V = V_of(j->m);
    outcome *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    run(j, 0, a);
    run(j, j->depth, b);
    int same_ids = a->cap.n == b->cap.n && !memcmp(a->cap.ids, b->cap.ids, sizeof(int32_t) * (size_t)a->cap.n);
    CHECK(a->rc == 0 && b->rc == 0, "%s: rc plain %d, mtp %d", j->name, a->rc, b->rc);
    CHECK(same_ids, "%s (depth %d): tokens differ (plain %d, mtp %d)", j->name, j->depth, a->cap.n, b->cap.n);
    CHECK(a->cap.len == b->cap.len && !memcmp(a->cap.text, b->cap.text, a->cap.len), "%s: text differs", j->name);
    for (int turn = 0; turn < (j->prompt2 ? 2 : 1); turn++) {
        const struct dsv3_generate_result *ra = &a->r[turn], *rb = &b->r[turn];
        CHECK(ra->stop_reason == rb->stop_reason && ra->n_generated == rb->n_generated,
              "%s turn %d: stop %d/%d, n_generated %d/%d", j->name, turn, ra->stop_reason, rb->stop_reason, ra->n_generated,
              rb->n_generated);
        CHECK(ra->mtp_depth == 0 && ra->n_drafted == 0 && ra->n_main_steps == ra->n_generated, "%s: plain run's MTP fields",
              j->name);
        CHECK(rb->mtp_depth == j->depth && rb->n_accepted <= rb->n_drafted && rb->n_main_steps <= rb->n_generated &&
                  rb->n_main_steps + rb->n_accepted == rb->n_generated,
              "%s: MTP fields: depth %d drafted %d accepted %d steps %d generated %d", j->name, rb->mtp_depth, rb->n_drafted,
              rb->n_accepted, rb->n_main_steps, rb->n_generated);
        t->drafted += rb->n_drafted;
        t->accepted += rb->n_accepted;
        t->generated += rb->n_generated;
        t->steps += rb->n_main_steps;
    }
    CHECK(a->pos == b->pos, "%s: position plain %d, mtp %d", j->name, a->pos, b->pos);
    CHECK(b->mtp_pos == b->pos - 1 || b->pos == 0, "%s: MTP cache at %d, main at %d", j->name, b->mtp_pos, b->pos);
    if (a->pos < j->n_ctx && a->pos == a->n_seq) {
        CHECK(!memcmp(a->main_after, b->main_after, sizeof(float) * (size_t)V), "%s: main cache differs (logits of one more step)",
              j->name);
        CHECK(!memcmp(a->mtp_after, b->mtp_after, sizeof(float) * (size_t)V), "%s: MTP cache differs (logits of one more row)",
              j->name);
        CHECK(!memcmp(a->draws, b->draws, sizeof a->draws), "%s: sampler state differs after the run", j->name);
    }
    release(a);
    release(b);
    free(a);
    free(b);
}

static struct dsv3_sampler_params greedy(void) {
    struct dsv3_sampler_params sp;
    dsv3_sampler_params_init(&sp, sizeof sp);
    sp.temperature = 0;
    return sp;
}

static struct dsv3_sampler_params sampled(float temp, int32_t top_k, float top_p, float min_p, float rep, uint64_t seed) {
    struct dsv3_sampler_params sp;
    dsv3_sampler_params_init(&sp, sizeof sp);
    sp.temperature = temp;
    sp.top_k = top_k;
    sp.top_p = top_p;
    sp.min_p = min_p;
    sp.repeat_penalty = rep;
    sp.seed = seed;
    return sp;
}

/* The plain continuation's text, and a stop string that straddles its
 * tokens `at` and `at + 1`. */
static int stop_string_of(const job *base, int at, char *stop, size_t cap) {
    outcome *o = malloc(sizeof *o);
    run(base, 0, o);
    int ok = 0;
    if (o->cap.n > at + 1 && base->tok) {
        size_t l1 = 0, l2 = 0;
        dsv3_detokenize(base->tok, o->cap.ids, (size_t)at + 1, 0, NULL, 0, &l1);
        dsv3_detokenize(base->tok, o->cap.ids, (size_t)at + 2, 0, NULL, 0, &l2);
        if (l2 > l1 && l1 >= 1 && l2 - l1 + 2 < cap && o->cap.len >= l2) {
            memcpy(stop, o->cap.text + l1 - 1, l2 - l1 + 1);
            stop[l2 - l1 + 1] = 0;
            ok = 1;
        }
    }
    release(o);
    free(o);
    return ok;
}

/* The MTP-specific checks that are not comparisons: modes and errors. */
static void check_modes(dsv3_model *m, const int32_t *prompt, int n_prompt, int has_mtp) {
    char err[512];
    const int32_t V = V_of(m);
    struct dsv3_sampler_params sp = greedy();
    dsv3_sampler *smp = NULL;
    dsv3_sampler_create(&sp, V, &smp);
    dsv3_session *s = NULL;
    dsv3_session_create(m, NULL, &s, err, sizeof err);
    struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
    CHECK(gp.mtp == DSV3_MTP_OFF && gp.mtp_depth == 0, "generate params: MTP off by default");
    gp.max_tokens = 4;
    struct dsv3_generate_result r = {.struct_size = sizeof r};
    gp.mtp = 3;
    CHECK(dsv3_generate(s, NULL, smp, prompt, (size_t)n_prompt, &gp, &r) == DSV3_ERR_INVALID_ARG && dsv3_session_position(s) == 0,
          "mtp = 3 refused");
    gp.mtp = DSV3_MTP_AUTO;
    gp.mtp_depth = DSV3_MTP_MAX_DEPTH + 1;
    CHECK(dsv3_generate(s, NULL, smp, prompt, (size_t)n_prompt, &gp, &r) == DSV3_ERR_INVALID_ARG, "mtp_depth 9 refused");
    gp.mtp_depth = -1;
    CHECK(dsv3_generate(s, NULL, smp, prompt, (size_t)n_prompt, &gp, &r) == DSV3_ERR_INVALID_ARG, "mtp_depth -1 refused");
    gp.mtp_depth = DSV3_MTP_MAX_DEPTH;
    int rc = dsv3_generate(s, NULL, smp, prompt, (size_t)n_prompt, &gp, &r);
    CHECK(rc == 0 && r.mtp_depth == (has_mtp ? DSV3_MTP_MAX_DEPTH : 0) && (has_mtp || r.n_drafted == 0),
          "AUTO: rc %d, depth used %d (model %s MTP)", rc, r.mtp_depth, has_mtp ? "with" : "without");
    gp.mtp = DSV3_MTP_REQUIRED;
    gp.mtp_depth = 0;
    dsv3_session_reset(s);
    rc = dsv3_generate(s, NULL, smp, prompt, (size_t)n_prompt, &gp, &r);
    CHECK(has_mtp ? rc == 0 && r.mtp_depth == 1 : rc == DSV3_ERR_NO_MTP && dsv3_session_position(s) == 0,
          "REQUIRED: rc %d (%s)", rc, dsv3_session_last_error(s));
    if (has_mtp) {
        /* The session stepped outside MTP decoding: the MTP cache has a gap. */
        dsv3_session_reset(s);
        dsv3_session_step(s, prompt, n_prompt, NULL, 0);
        rc = dsv3_generate(s, NULL, smp, prompt, 1, &gp, &r);
        CHECK(rc == DSV3_ERR_STATE && dsv3_session_position(s) == n_prompt, "REQUIRED after a gap: rc %d", rc);
        gp.mtp = DSV3_MTP_AUTO;
        rc = dsv3_generate(s, NULL, smp, prompt, 1, &gp, &r);
        CHECK(rc == 0 && r.mtp_depth == 0 && r.n_drafted == 0 && r.n_generated == 4, "AUTO after a gap: plain decoding");
        /* A session created without MTP state. */
        struct dsv3_session_params ssp;
        dsv3_session_params_init(&ssp, sizeof ssp);
        ssp.mtp = 0;
        dsv3_session *s0 = NULL;
        dsv3_session_create(m, &ssp, &s0, err, sizeof err);
        rc = dsv3_generate(s0, NULL, smp, prompt, (size_t)n_prompt, &gp, &r);
        CHECK(rc == 0 && r.mtp_depth == 0, "AUTO on a session with mtp = 0: plain");
        gp.mtp = DSV3_MTP_REQUIRED;
        rc = dsv3_generate(s0, NULL, smp, prompt, (size_t)n_prompt, &gp, &r);
        CHECK(rc == DSV3_ERR_STATE, "REQUIRED on a session with mtp = 0: rc %d", rc);
        dsv3_session_free(s0);
    }
    dsv3_session_free(s);
    dsv3_sampler_free(smp);
}

/* Every comparison of the header, on one model and prompt. */
/* level 2: all of it; 1: fewer sampler settings; 0: greedy and one seeded
 * setting at depths 1 and 3, a stop string, max_tokens and a full context
 * (for the other backends and thread counts, whose batched steps must also
 * equal their single-token steps). */
static void check_model(const char *label, dsv3_model *m, const dsv3_tokenizer *tok, const int32_t *prompt, int n_prompt,
                        int32_t n_gen, int level) {
    totals t = {0};
    char name[256];
    job base = {.m = m, .tok = tok, .prompt = prompt, .n_prompt = n_prompt, .max_tokens = n_gen, .stop_at_eos = 1,
                .n_ctx = 1024, .kv_type = DSV3_KV_F32, .depth = 1};
    struct {
        const char *what;
        struct dsv3_sampler_params sp;
    } samplers[] = {
        {"greedy", greedy()},
        {"T0.8 k40 p0.95 seed1", sampled(0.8f, 40, 0.95f, 0.05f, 1.0f, 1)},
        {"T0.8 k40 p0.95 seed2", sampled(0.8f, 40, 0.95f, 0.05f, 1.0f, 2)},
        {"T1.5 full seed7", sampled(1.5f, 0, 1.0f, 0.0f, 1.0f, 7)},
        {"T0.6 p0.8 rep1.1 seed11", sampled(0.6f, 0, 0.8f, 0.0f, 1.1f, 11)},
        {"greedy rep1.3 freq0.2", greedy()},
        {"T0.3 k5 seed3", sampled(0.3f, 5, 1.0f, 0.0f, 1.0f, 3)},
    };
    samplers[5].sp.repeat_penalty = 1.3f;
    samplers[5].sp.frequency_penalty = 0.2f;
    const int n_samplers = level == 2 ? (int)(sizeof samplers / sizeof samplers[0]) : level + 2;
    for (int si = 0; si < n_samplers; si++)
        for (int32_t d = 1; d <= 3; d += level ? 1 : 2) {
            job j = base;
            j.sp = samplers[si].sp;
            j.depth = d;
            snprintf(name, sizeof name, "%s %s depth %d", label, samplers[si].what, d);
            j.name = name;
            compare(&j, &t);
        }
    printf("  %-12s %d sampler settings x depths: %ld tokens, %ld drafted, %ld accepted (%.1f %%), %.2f tokens per main step\n",
           label, n_samplers, t.generated, t.drafted, t.accepted, t.drafted ? 100.0 * t.accepted / t.drafted : 0.0,
           t.steps ? (double)t.generated / t.steps : 0.0);

    /* Stop strings, straddling tokens (greedy and sampled). */
    for (int si = 0; si < (level ? 2 : 1) && tok; si++) {
        char stop[64];
        job j = base;
        j.sp = samplers[si].sp;
        if (!stop_string_of(&j, 6, stop, sizeof stop)) continue;
        const char *stops[] = {"never appears \x01", stop};
        j.stops = stops;
        j.n_stops = 2;
        for (int32_t d = 1; d <= 2; d += 2 - level / 2) {
            j.depth = d;
            snprintf(name, sizeof name, "%s stop string (%s) depth %d", label, samplers[si].what, d);
            j.name = name;
            compare(&j, &t);
        }
    }
    /* EOS: find a logit bias on EOS (greedy, then sampled with a few
     * seeds) that makes plain decoding end with it mid-run, then compare. */
    if (level) {
        static int32_t eos;
        static float bias;
        eos = tok ? dsv3_tokenizer_eos(tok) : 1;
        int found = 0;
        for (int tries = 0; tries < 24 && !found; tries++) {
            job j = base;
            j.sp = tries < 12 ? greedy() : sampled(1.0f, 0, 1.0f, 0.0f, 1.0f, (uint64_t)(tries % 4 + 1));
            bias = tries < 12 ? 2.0f * (float)(tries + 1) : (float)(tries / 4 - 2);
            j.sp.bias_ids = &eos;
            j.sp.bias_values = &bias;
            j.sp.n_bias = 1;
            outcome *o = malloc(sizeof *o);
            run(&j, 0, o);
            found = o->r[0].stop_reason == DSV3_STOP_EOS && o->r[0].n_generated >= 3 && o->r[0].n_generated < n_gen - 2;
            release(o);
            free(o);
            if (!found) continue;
            for (int32_t d = 1; d <= 3; d++) {
                j.depth = d;
                snprintf(name, sizeof name, "%s EOS (%s, bias %.1f) depth %d", label, tries < 12 ? "greedy" : "sampled",
                         (double)bias, d);
                j.name = name;
                compare(&j, &t);
            }
            j.stop_at_eos = 0; /* EOS decoded on as an ordinary token */
            j.name = "EOS not stopping";
            compare(&j, &t);
        }
        CHECK(found, "%s: no logit bias made decoding end with EOS mid-run", label);
    }
    /* max_tokens and a context that fills during a draft. */
    for (int32_t d = level ? 1 : 3; d <= 3; d += 2)
        for (int32_t extra = 1; extra <= 5; extra += level ? 1 : 2) {
            job j = base;
            j.sp = samplers[1].sp;
            j.depth = d;
            j.max_tokens = extra;
            snprintf(name, sizeof name, "%s max_tokens %d depth %d", label, extra, d);
            j.name = name;
            compare(&j, &t);
            j.max_tokens = n_gen;
            j.n_ctx = n_prompt + extra;
            snprintf(name, sizeof name, "%s n_ctx prompt+%d depth %d", label, extra, d);
            compare(&j, &t);
        }
    /* A callback stop, an f16 KV cache, a second chat turn (which drafts
     * from its first token on: the MTP cache was left one behind). */
    if (level) {
        job j = base;
        j.sp = samplers[2].sp;
        j.depth = 2;
        j.stop_after = 7;
        j.name = "callback stop";
        compare(&j, &t);
        j.stop_after = 0;
        j.kv_type = DSV3_KV_F16;
        j.name = "f16 KV cache";
        compare(&j, &t);
        j.kv_type = DSV3_KV_F32;
        j.prompt2 = prompt + 1;
        j.n_prompt2 = n_prompt - 1;
        j.name = "two turns";
        compare(&j, &t);
        j.sp = greedy();
        j.depth = 1;
        outcome *o = malloc(sizeof *o);
        run(&j, 1, o);
        CHECK(o->r[1].n_drafted > 0, "second turn drafted nothing");
        release(o);
        free(o);
    }
}

/* The MTP cache, by direct steps: rows whose logits are not asked for
 * (they only write their cache entry) leave the cache as rows run in full
 * do, so the logits that follow are the same bits; and a rewind to c drops
 * the MTP row at c - 1, which consumed the forgotten token at c. */
static void check_mtp_cache(dsv3_model *m, const int32_t *prompt, int n) {
    const int32_t V = V_of(m);
    float *all = malloc(sizeof(float) * (size_t)V * (size_t)n), *last = malloc(sizeof(float) * (size_t)V);
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 64;
    dsv3_session *a = NULL, *b = NULL;
    CHECK(dsv3_session_create(m, &sp, &a, NULL, 0) == 0 && dsv3_session_create(m, &sp, &b, NULL, 0) == 0, "sessions");
    int32_t next[64];
    for (int i = 0; i + 1 < n; i++) next[i] = prompt[i + 1];
    next[n - 1] = 7; /* a chosen token for position n */
    /* a: every row in full; b: only the last row's head */
    CHECK(dsv3_session_step(a, prompt, n, last, 0) == 0 && dsv3_session_step(b, prompt, n, last, 0) == 0, "prompt");
    CHECK(dsv3_session_mtp_step(a, next, n - 1, all, DSV3_STEP_LOGITS_ALL) == 0, "mtp all rows");
    CHECK(dsv3_session_mtp_step(b, next, n - 1, last, 0) == 0, "mtp last row");
    CHECK(!memcmp(last, all + (size_t)(n - 2) * V, sizeof(float) * (size_t)V), "MTP logits after cache-only rows differ");
    /* two more positions; b runs the first row without logits at all */
    const int32_t x[2] = {11, 13};
    CHECK(dsv3_session_step(a, x, 2, NULL, 0) == 0 && dsv3_session_step(b, x, 2, NULL, 0) == 0, "two more tokens");
    int32_t nx[3] = {next[n - 1], x[0], x[1]};
    CHECK(dsv3_session_mtp_step(a, nx, 3, all, DSV3_STEP_LOGITS_ALL) == 0, "mtp 3 rows");
    CHECK(dsv3_session_mtp_step(b, nx, 2, NULL, 0) == 0 && dsv3_session_mtp_step(b, nx + 2, 1, last, 0) == 0, "mtp 2 + 1 rows");
    CHECK(!memcmp(last, all + 2 * (size_t)V, sizeof(float) * (size_t)V), "MTP logits after a row without logits differ");
    /* rewind a to c: the MTP keeps rows [0, c), the last of which consumed
     * the token at c; a different token at c needs a rewind to c - 1 (and
     * the token at c - 1 again) */
    const int c = n - 2;
    CHECK(dsv3_session_rewind(a, c) == 0 && dsv3_session_mtp_position(a) == c, "rewind to %d: MTP position %d", c,
          dsv3_session_mtp_position(a));
    CHECK(dsv3_session_rewind(a, c - 1) == 0 && dsv3_session_mtp_position(a) == c - 1, "rewind to %d", c - 1);
    const int32_t w[2] = {17, 19}; /* the new token at c, a chosen one for c + 1 */
    const int32_t again[2] = {prompt[c - 1], w[0]};
    CHECK(dsv3_session_step(a, again, 2, NULL, 0) == 0 && dsv3_session_mtp_step(a, w, 2, last, 0) == 0, "after rewind");
    /* b: a fresh session fed the same tokens */
    CHECK(dsv3_session_reset(b) == 0 && dsv3_session_mtp_position(b) == 0, "reset");
    int32_t fed[64];
    memcpy(fed, prompt, sizeof(int32_t) * (size_t)c);
    fed[c] = w[0];
    CHECK(dsv3_session_step(b, fed, c + 1, NULL, 0) == 0, "fresh prompt");
    for (int i = 0; i < c; i++) next[i] = fed[i + 1];
    next[c] = w[1];
    CHECK(dsv3_session_mtp_step(b, next, c + 1, all, 0) == 0, "fresh mtp");
    CHECK(!memcmp(last, all, sizeof(float) * (size_t)V), "MTP logits after a rewind differ from a fresh session's");
    printf("MTP cache: cache-only rows and rewinds give the same logits bit for bit\n");
    dsv3_session_free(a);
    dsv3_session_free(b);
    free(all);
    free(last);
}

static dsv3_model *load(const char *path, const char *backend, int threads) {
    char err[512];
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = backend;
    mp.n_threads = threads;
    dsv3_model *m = NULL;
    if (dsv3_model_load(path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "FATAL: %s: %s\n", path, err);
        exit(2);
    }
    return m;
}

static int demo(const char *dir) {
    char err[512];
    dsv3_tokenizer *tok = NULL;
    if (dsv3_tokenizer_load(dir, &tok, err, sizeof err)) { fprintf(stderr, "FATAL: %s\n", err); return 2; }
    const char *text = "It is a truth universally acknowledged";
    int32_t prompt[64];
    size_t n = 0;
    dsv3_tokenize(tok, text, strlen(text), DSV3_TOKENIZE_ADD_BOS, prompt, 64, &n);
    /* Everything on the backend "auto" picks; the core comparisons on
     * every other backend this CPU runs and with two threads. */
    dsv3_model *m = load(dir, "auto", 1);
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m, &info);
    char best[32];
    snprintf(best, sizeof best, "%s", info.backend);
    printf("backend %s (auto)\n", best);
    check_model("demo", m, tok, prompt, (int)n, 40, 2);
    check_modes(m, prompt, (int)n, 1);
    check_mtp_cache(m, prompt, (int)n);
    dsv3_model_free(m);
    m = load(dir, best, 2);
    check_model("demo 2thr", m, tok, prompt, (int)n, 40, 0);
    dsv3_model_free(m);
    for (int i = 0;; i++) {
        int avail = 0;
        const char *be = dsv3_backend_name(i, &avail);
        if (!be) break;
        if (!strcmp(be, best)) continue;
        if (!strncmp(be, "vulkan", 6)) {
            /* a device backend: on CI a CPU-emulated device (lavapipe),
             * minutes per demo-model run; its ops are checked op by op and
             * on the golden models by the vulkan suites */
            printf("backend %s: a device backend, not run here (see the vulkan tests)\n", be);
            continue;
        }
        if (!avail) {
            printf("backend %s: not available on this CPU, not tested\n", be);
            continue;
        }
        printf("backend %s\n", be);
        m = load(dir, be, 1);
        check_model("demo", m, tok, prompt, (int)n, 32, 0);
        dsv3_model_free(m);
    }
    dsv3_tokenizer_free(tok);
    return finish();
}

static int golden(const char *shared) {
    char p[1024];
    snprintf(p, sizeof p, "%s/golden/manifest.json", shared);
    json_doc *man = load_json(p);
    const json_value *cases = json_get(json_root(man), "cases");
    int checked = 0;
    for (size_t i = 0; i < cases->n; i++) {
        const json_value *c = &cases->items[i];
        if (strcmp(json_get(c, "kind")->str, "greedy") != 0) continue;
        const char *id = json_get(c, "id")->str;
        int P, G;
        int32_t *prompt = json_ints(json_get(c, "prompt"), &P);
        int32_t *want = json_ints(json_get(c, "generated"), &G);
        snprintf(p, sizeof p, "%s/golden/%s", shared, json_get(c, "checkpoint")->str);
        dsv3_model *m = load(p, "scalar", 1);
        struct dsv3_model_info info = {.struct_size = sizeof info};
        dsv3_model_get_info(m, &info);
        printf("%s (%d MTP layers)\n", id, info.n_mtp_layers);
        if (info.n_mtp_layers) {
            /* greedy with MTP reproduces the stored continuation */
            job j = {.m = m, .sp = greedy(), .prompt = prompt, .n_prompt = P, .max_tokens = G, .n_ctx = 256, .depth = 1};
            outcome *o = malloc(sizeof *o);
            for (int32_t d = 1; d <= 3; d++) {
                j.depth = d;
                run(&j, d, o);
                CHECK(o->rc == 0 && o->cap.n == G && !memcmp(o->cap.ids, want, sizeof(int32_t) * (size_t)G),
                      "%s: greedy continuation with MTP depth %d differs", id, d);
                printf("  greedy with MTP depth %d: %s the stored continuation; %d/%d drafts accepted\n", d,
                       o->cap.n == G && !memcmp(o->cap.ids, want, sizeof(int32_t) * (size_t)G) ? "equals" : "DIFFERS FROM",
                       o->r[0].n_accepted, o->r[0].n_drafted);
                release(o);
            }
            free(o);
            if (!checked++) check_model(id, m, NULL, prompt, P, 24, 1);
        } else {
            check_modes(m, prompt, P, 0);
            printf("  no MTP layer: AUTO decodes plainly, REQUIRED gives DSV3_ERR_NO_MTP\n");
        }
        dsv3_model_free(m);
        free(prompt);
        free(want);
    }
    json_free(man);
    return finish();
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "demo") && strcmp(argv[1], "golden"))) {
        fprintf(stderr, "usage: test_mtp demo MODEL_DIR | test_mtp golden SHARED_DIR\n");
        return 2;
    }
    return !strcmp(argv[1], "demo") ? demo(argv[2]) : golden(argv[2]);
}
