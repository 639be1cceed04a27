/* fuzz_session.c -- the session and sampler API driven by a byte stream, on
 * the micro model of fuzz_model.h (loaded once, scalar backend, 1 thread).
 *
 * Each input creates a session with fuzzed params (n_ctx, kv_type, mtp,
 * record_routing), then runs up to 64 operations chosen by its bytes:
 * step (arbitrary ids, counts, flags, with or without logits), rewind,
 * reset, mtp_step, get_routing, sampler create/sample/accept/reset/save/
 * load with fuzzed params, dsv3_generate (plain and MTP), session
 * save/load (of its own states, of mutated ones and of raw bytes) and
 * fork. Checked beyond ASan/UBSan:
 *  - a failed call returns a documented status, leaves a message and
 *    changes neither position nor MTP position;
 *  - a successful step moves the position by n and gives finite logits;
 *  - the same token at the same position after the same prefix gives the
 *    same logits bit for bit, however the calls were batched or rewound;
 *  - a sampled token is inside the vocabulary;
 *  - a saved session state loads back (position, MTP position and, by the
 *    check above, logits as saved); a corrupted or foreign one gives
 *    BAD_STATE and changes nothing; a fork steps to the same logits as its
 *    source;
 *  - a sampler loaded with a saved state draws what it drew after the save;
 *  - dsv3_generate with MTP drafting yields exactly the tokens of plain
 *    decoding from the same session and sampler state. */
#include "fuzz_util.h"

#include <math.h>

#include "dsv3.h"
#include "fuzz_model.h"
#include "hash64.h"

#define MAX_CTX MICRO_MAXPOS
#define V MICRO_V

static dsv3_model *g_model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = micro_model_dir(1);
    struct dsv3_model_params mp;
    FUZZ_ASSERT(dsv3_model_params_init(&mp, sizeof mp) == DSV3_OK);
    mp.backend = "scalar";
    mp.n_threads = 1;
    char err[512];
    int rc = dsv3_model_load(dir, &mp, &g_model, err, sizeof err);
    micro_remove(dir);
    if (rc) {
        fprintf(stderr, "fuzz_session: cannot load the micro model: %s\n", err);
        abort();
    }
    return 0;
}

/* What the harness remembers per position: the token stepped there and,
 * when known, the logits it produced (valid only while the prefix up to
 * it is unchanged). */
static int32_t hist_tok[MAX_CTX];
static int hist_has[MAX_CTX];
static float hist_logits[MAX_CTX][V];

static void forget_from(int p) {
    for (int k = p; k < MAX_CTX; k++) {
        hist_tok[k] = -1;
        hist_has[k] = 0;
    }
}

static int32_t pick_token(fuzz_in *in) {
    uint8_t k = fuzz_u8(in);
    if (k < 240) return (int32_t)(k % V);
    return (int32_t)fuzz_u32(in); /* anything, usually out of range */
}

static int32_t pick_count(fuzz_in *in) {
    uint8_t k = fuzz_u8(in);
    if (k < 248) return (int32_t)(k % 9);
    return (int32_t)fuzz_u32(in);
}

static void check_failure(dsv3_session *s, int rc, int32_t pos, int32_t mpos) {
    FUZZ_ASSERT(rc == DSV3_ERR_INVALID_ARG || rc == DSV3_ERR_BAD_TOKEN || rc == DSV3_ERR_CONTEXT_FULL ||
                rc == DSV3_ERR_BAD_POSITION || rc == DSV3_ERR_NO_MTP || rc == DSV3_ERR_STATE);
    FUZZ_ASSERT(dsv3_session_last_error(s)[0]);
    FUZZ_ASSERT(dsv3_session_position(s) == pos && dsv3_session_mtp_position(s) == mpos);
}

static void op_step(fuzz_in *in, dsv3_session *s, float *last, int *have_last) {
    int32_t n = pick_count(in);
    int32_t nt = n > 0 && n <= 16 ? n : 4; /* the array actually passed */
    int32_t toks[16];
    for (int i = 0; i < nt; i++) toks[i] = pick_token(in);
    uint8_t how = fuzz_u8(in);
    unsigned flags = how & 1 ? DSV3_STEP_LOGITS_ALL : 0;
    if (how == 0xFF) flags = fuzz_u32(in);
    const int with_logits = (how & 6) != 0;
    const int32_t *arr = how == 0xFE ? NULL : toks;
    static float logits[16 * V];
    const int32_t pos = dsv3_session_position(s), mpos = dsv3_session_mtp_position(s);
    int rc = dsv3_session_step(s, arr, n, with_logits ? logits : NULL, flags);
    if (rc) {
        check_failure(s, rc, pos, mpos);
        return;
    }
    FUZZ_ASSERT(n >= 1 && n <= nt && arr && flags <= DSV3_STEP_LOGITS_ALL);
    FUZZ_ASSERT(dsv3_session_position(s) == pos + n && dsv3_session_mtp_position(s) == mpos);
    for (int i = 0; i < n; i++) {
        const int p = pos + i;
        FUZZ_ASSERT(p < MAX_CTX);
        if (hist_tok[p] != toks[i]) forget_from(p);
        hist_tok[p] = toks[i];
        const float *row = NULL;
        if (with_logits && (flags & DSV3_STEP_LOGITS_ALL)) row = logits + (size_t)i * V;
        else if (with_logits && i == n - 1) row = logits;
        if (!row) continue;
        for (int v = 0; v < V; v++) FUZZ_ASSERT(isfinite(row[v]));
        if (hist_has[p]) FUZZ_ASSERT(memcmp(hist_logits[p], row, sizeof hist_logits[p]) == 0);
        memcpy(hist_logits[p], row, sizeof hist_logits[p]);
        hist_has[p] = 1;
    }
    if (with_logits) {
        memcpy(last, flags & DSV3_STEP_LOGITS_ALL ? logits + (size_t)(n - 1) * V : logits, V * sizeof *last);
        *have_last = 1;
    }
}

static void op_rewind(fuzz_in *in, dsv3_session *s) {
    const int32_t pos = dsv3_session_position(s), mpos = dsv3_session_mtp_position(s);
    uint8_t k = fuzz_u8(in);
    int32_t to = k < 200 ? (int32_t)(k % (pos + 2)) : (int32_t)fuzz_u32(in);
    int rc = k == 0xFF ? dsv3_session_reset(s) : dsv3_session_rewind(s, to);
    if (k == 0xFF) to = 0;
    if (rc) {
        check_failure(s, rc, pos, mpos);
        FUZZ_ASSERT(rc == DSV3_ERR_BAD_POSITION && (to < 0 || to > pos));
        return;
    }
    FUZZ_ASSERT(to >= 0 && to <= pos && dsv3_session_position(s) == to);
    FUZZ_ASSERT(dsv3_session_mtp_position(s) == (mpos < to ? mpos : to));
}

static void op_mtp(fuzz_in *in, dsv3_session *s) {
    int32_t n = pick_count(in);
    int32_t nt = n > 0 && n <= 16 ? n : 4;
    int32_t toks[16];
    for (int i = 0; i < nt; i++) toks[i] = pick_token(in);
    uint8_t how = fuzz_u8(in);
    unsigned flags = how & 1 ? DSV3_STEP_LOGITS_ALL : 0;
    static float logits[16 * V];
    const int32_t pos = dsv3_session_position(s), mpos = dsv3_session_mtp_position(s);
    int rc = dsv3_session_mtp_step(s, toks, n, how & 2 ? logits : NULL, flags);
    if (rc) {
        check_failure(s, rc, pos, mpos);
        return;
    }
    FUZZ_ASSERT(n >= 1 && mpos + n <= pos);
    FUZZ_ASSERT(dsv3_session_position(s) == pos && dsv3_session_mtp_position(s) == mpos + n);
    if (how & 2)
        for (int i = 0; i < (flags ? n : 1) * V; i++) FUZZ_ASSERT(isfinite(logits[i]));
}

static void op_routing(fuzz_in *in, dsv3_session *s) {
    int32_t nm = -1;
    FUZZ_ASSERT(dsv3_session_get_routing(s, 0, NULL, NULL, &nm) == DSV3_OK && nm == 1);
    uint8_t k = fuzz_u8(in);
    int32_t p = k < 200 ? (int32_t)(k % (dsv3_session_position(s) + 1)) : (int32_t)fuzz_u32(in);
    int32_t ids[2];
    float w[2];
    int rc = dsv3_session_get_routing(s, p, ids, w, NULL);
    if (rc) {
        FUZZ_ASSERT((rc == DSV3_ERR_STATE || rc == DSV3_ERR_BAD_POSITION) && dsv3_session_last_error(s)[0]);
        return;
    }
    FUZZ_ASSERT(p >= 0 && p < dsv3_session_position(s));
    for (int i = 0; i < 2; i++) FUZZ_ASSERT(ids[i] >= 0 && ids[i] < MICRO_E && isfinite(w[i]));
}

static int make_sampler(fuzz_in *in, dsv3_sampler **out) {
    struct dsv3_sampler_params sp;
    FUZZ_ASSERT(dsv3_sampler_params_init(&sp, sizeof sp) == DSV3_OK);
    uint8_t which = fuzz_u8(in);
    if (which & 1) sp.temperature = fuzz_float(in);
    if (which & 2) sp.top_k = (int32_t)(fuzz_u8(in) < 240 ? fuzz_u8(in) % 80 : fuzz_u32(in));
    if (which & 4) sp.top_p = fuzz_float(in);
    if (which & 8) sp.min_p = fuzz_float(in);
    if (which & 16) {
        sp.repeat_penalty = fuzz_float(in);
        sp.frequency_penalty = fuzz_float(in);
        sp.presence_penalty = fuzz_float(in);
    }
    if (which & 32) sp.penalty_last_n = (int32_t)(fuzz_u8(in) < 250 ? fuzz_u8(in) : (fuzz_u32(in) & 0xFFFFF));
    if (which & 64) sp.seed = (uint64_t)fuzz_u32(in) << 32 | fuzz_u32(in);
    int32_t bias_ids[4];
    float bias_v[4];
    if (which & 128) {
        sp.n_bias = fuzz_u8(in) % 5;
        for (size_t i = 0; i < sp.n_bias; i++) {
            bias_ids[i] = pick_token(in);
            bias_v[i] = fuzz_u8(in) & 1 ? -INFINITY : fuzz_float(in);
        }
        sp.bias_ids = bias_ids;
        sp.bias_values = bias_v;
    }
    int32_t nv = fuzz_u8(in) < 250 ? V : (int32_t)fuzz_u32(in) % 100000 - 10;
    int rc = dsv3_sampler_create(&sp, nv, out);
    if (rc) {
        FUZZ_ASSERT(rc == DSV3_ERR_INVALID_ARG && !*out);
        return rc;
    }
    /* Only the micro vocabulary is sampled from below. */
    if (nv != V) {
        dsv3_sampler_free(*out);
        *out = NULL;
        return DSV3_ERR_INVALID_ARG;
    }
    return DSV3_OK;
}

static void op_sample(fuzz_in *in, dsv3_sampler **smp, const float *last, int have_last) {
    uint8_t k = fuzz_u8(in);
    if (!*smp || k % 8 == 0) {
        dsv3_sampler_free(*smp);
        *smp = NULL;
        if (make_sampler(in, smp)) return;
    }
    if (k % 8 == 1) {
        dsv3_sampler_reset(*smp);
        return;
    }
    float logits[V];
    if (have_last && k < 128) memcpy(logits, last, sizeof logits);
    else
        for (int i = 0; i < V; i++) logits[i] = fuzz_float(in);
    int32_t tok = -1;
    int rc = dsv3_sampler_sample(*smp, logits, &tok);
    if (rc) {
        FUZZ_ASSERT(rc == DSV3_ERR_INVALID_ARG);
        return;
    }
    FUZZ_ASSERT(tok >= 0 && tok < V);
    const int32_t acc = k & 4 ? tok : pick_token(in);
    rc = dsv3_sampler_accept(*smp, acc);
    FUZZ_ASSERT(rc == DSV3_OK || (rc == DSV3_ERR_BAD_TOKEN && (acc < 0 || acc >= V)));
}

static int on_token(void *user, int32_t token, const char *piece, size_t len) {
    fuzz_in *in = user;
    FUZZ_ASSERT(token >= 0 && token < V && piece && len == 0);
    uint8_t k = fuzz_u8(in);
    return k < 200 ? 0 : k < 250 ? 1 : -1;
}

static void op_generate(fuzz_in *in, dsv3_session *s, dsv3_sampler *smp) {
    if (!smp) return;
    int32_t prompt[8];
    size_t np = fuzz_u8(in) % 9;
    for (size_t i = 0; i < np; i++) prompt[i] = pick_token(in);
    struct dsv3_generate_params gp;
    FUZZ_ASSERT(dsv3_generate_params_init(&gp, sizeof gp) == DSV3_OK);
    gp.max_tokens = (int32_t)(fuzz_u8(in) % 6) - 1;
    gp.stop_at_eos = fuzz_u8(in) & 1;
    gp.on_token = fuzz_u8(in) & 1 ? on_token : NULL;
    gp.user = in;
    struct dsv3_generate_result res;
    res.struct_size = sizeof res;
    const int32_t pos = dsv3_session_position(s);
    int rc = dsv3_generate(s, NULL, smp, prompt, np, &gp, &res);
    /* Generated tokens are unknown to the harness: forget past the start. */
    forget_from(pos);
    if (rc) {
        FUZZ_ASSERT(rc == DSV3_ERR_INVALID_ARG || rc == DSV3_ERR_BAD_TOKEN || rc == DSV3_ERR_CONTEXT_FULL ||
                    rc == DSV3_ERR_CANCELLED);
        return;
    }
    FUZZ_ASSERT(res.n_generated >= 0 && dsv3_session_position(s) <= dsv3_session_n_ctx(s));
}


/* ---- session state: save / load / fork ---------------------------------- */

static unsigned char *g_saved;     /* the last state saved, with what the */
static size_t g_saved_n;           /* harness knew at that point          */
static int32_t g_saved_pos, g_saved_mpos;
static int32_t saved_tok[MAX_CTX];
static int saved_has[MAX_CTX];
static float saved_logits[MAX_CTX][V];

static void op_save(dsv3_session *s) {
    size_t n = 0;
    int rc = dsv3_session_save(s, NULL, 0, &n);
    FUZZ_ASSERT(rc == DSV3_ERR_TOO_SMALL && n > 0);
    unsigned char *buf = malloc(n);
    size_t n2 = 0;
    FUZZ_ASSERT(buf && dsv3_session_save(s, buf, n, &n2) == DSV3_OK && n2 == n);
    if (n > 1) FUZZ_ASSERT(dsv3_session_save(s, buf, n - 1, &n2) == DSV3_ERR_TOO_SMALL && n2 == n);
    free(g_saved);
    g_saved = buf;
    g_saved_n = n;
    g_saved_pos = dsv3_session_position(s);
    g_saved_mpos = dsv3_session_mtp_position(s);
    memcpy(saved_tok, hist_tok, sizeof saved_tok);
    memcpy(saved_has, hist_has, sizeof saved_has);
    memcpy(saved_logits, hist_logits, sizeof saved_logits);
}

static void op_load(fuzz_in *in, dsv3_session *s) {
    const int32_t pos = dsv3_session_position(s), mpos = dsv3_session_mtp_position(s);
    uint8_t k = fuzz_u8(in);
    int rc;
    if (g_saved && k < 128) { /* the state as saved: it loads */
        rc = dsv3_session_load(s, g_saved, g_saved_n);
        FUZZ_ASSERT(rc == DSV3_OK);
        FUZZ_ASSERT(dsv3_session_position(s) == g_saved_pos && dsv3_session_mtp_position(s) == g_saved_mpos);
        memcpy(hist_tok, saved_tok, sizeof hist_tok);
        memcpy(hist_has, saved_has, sizeof hist_has);
        memcpy(hist_logits, saved_logits, sizeof hist_logits);
        return;
    }
    size_t n;
    unsigned char *buf;
    if (g_saved && k < 224) { /* a corrupted copy: flipped bytes or cut short */
        n = g_saved_n;
        buf = malloc(n);
        FUZZ_ASSERT(buf);
        memcpy(buf, g_saved, n);
        uint8_t how = fuzz_u8(in);
        if (how & 1) {
            n = fuzz_u32(in) % n;
        } else {
            /* mostly in the 96-byte header, where the fields are */
            size_t at = (how & 4 ? fuzz_u8(in) % 96 : fuzz_u32(in)) % n;
            uint8_t x = fuzz_u8(in);
            buf[at] ^= x ? x : 1;
            if (how & 2 && n > 8) {
                /* Sealed again with the format's checksum (dsv3.h: a
                 * 64-bit hash of all before it, little-endian; the seed is
                 * session_state.c's), so that the checks behind the
                 * checksum see hostile fields too. Such a state may load:
                 * its cache is then garbage, so the session restarts. */
                uint64_t sum = dsv3_hash64_of(buf, n - 8, 0x64737633ull);
                for (int i = 0; i < 8; i++) buf[n - 8 + i] = (unsigned char)(sum >> (8 * i));
                rc = dsv3_session_load(s, buf, n);
                free(buf);
                if (rc == DSV3_OK) {
                    FUZZ_ASSERT(dsv3_session_position(s) >= 0 && dsv3_session_position(s) <= dsv3_session_n_ctx(s));
                    FUZZ_ASSERT(dsv3_session_mtp_position(s) >= 0 &&
                                dsv3_session_mtp_position(s) <= dsv3_session_position(s));
                    FUZZ_ASSERT(dsv3_session_reset(s) == DSV3_OK);
                    forget_from(0);
                    return;
                }
                FUZZ_ASSERT(rc == DSV3_ERR_BAD_STATE && dsv3_session_last_error(s)[0]);
                FUZZ_ASSERT(dsv3_session_position(s) == pos && dsv3_session_mtp_position(s) == mpos);
                return;
            }
        }
    } else { /* raw bytes from the input */
        n = fuzz_u8(in);
        buf = malloc(n ? n : 1);
        FUZZ_ASSERT(buf);
        for (size_t i = 0; i < n; i++) buf[i] = fuzz_u8(in);
    }
    rc = dsv3_session_load(s, n ? buf : NULL, n);
    free(buf);
    FUZZ_ASSERT(rc == DSV3_ERR_BAD_STATE || rc == DSV3_ERR_INVALID_ARG);
    FUZZ_ASSERT(dsv3_session_last_error(s)[0]);
    FUZZ_ASSERT(dsv3_session_position(s) == pos && dsv3_session_mtp_position(s) == mpos);
}

static void op_fork(fuzz_in *in, dsv3_session *s, const struct dsv3_session_params *orig) {
    struct dsv3_session_params sp = *orig;
    uint8_t k = fuzz_u8(in);
    if (k & 1) sp.n_ctx = (int32_t)(fuzz_u8(in) < 250 ? fuzz_u8(in) : fuzz_u32(in));
    if (k & 2) sp.kv_type = (int32_t)(fuzz_u8(in) % 5) - 1;
    dsv3_session *f = NULL;
    char err[256];
    int rc = dsv3_session_fork(s, k & 4 ? NULL : &sp, &f, err, sizeof err);
    if (rc) {
        FUZZ_ASSERT(rc == DSV3_ERR_INVALID_ARG && !f && err[0] && !(k & 4));
        return;
    }
    const int32_t pos = dsv3_session_position(s);
    FUZZ_ASSERT(dsv3_session_position(f) == pos && dsv3_session_mtp_position(f) == dsv3_session_mtp_position(s));
    if (pos < dsv3_session_n_ctx(s) && pos < dsv3_session_n_ctx(f)) {
        /* the same token on both: the same logits, bit for bit */
        int32_t t = (int32_t)(fuzz_u8(in) % V);
        float a[V], b[V];
        FUZZ_ASSERT(dsv3_session_step(f, &t, 1, b, 0) == DSV3_OK);
        FUZZ_ASSERT(dsv3_session_step(s, &t, 1, a, 0) == DSV3_OK);
        FUZZ_ASSERT(memcmp(a, b, sizeof a) == 0);
        FUZZ_ASSERT(dsv3_session_rewind(s, pos) == DSV3_OK);
    }
    dsv3_session_free(f);
}

/* A sampler's state round trip: draws after a load repeat the draws after
 * the save; a corrupted state is refused and changes nothing. */
static void op_sampler_state(fuzz_in *in, dsv3_sampler *smp, const float *last, int have_last) {
    if (!smp) return;
    size_t n = 0;
    FUZZ_ASSERT(dsv3_sampler_save(smp, NULL, 0, &n) == DSV3_ERR_TOO_SMALL && n > 0);
    unsigned char *buf = malloc(n);
    FUZZ_ASSERT(buf && dsv3_sampler_save(smp, buf, n, &n) == DSV3_OK);
    float logits[V];
    if (have_last) memcpy(logits, last, sizeof logits);
    else
        for (int i = 0; i < V; i++) logits[i] = (float)(i % 7);
    int32_t a[3], b[3];
    int ra[3], rb[3];
    for (int i = 0; i < 3; i++) {
        ra[i] = dsv3_sampler_sample(smp, logits, &a[i]);
        if (ra[i] == DSV3_OK) dsv3_sampler_accept(smp, a[i]);
    }
    uint8_t k = fuzz_u8(in);
    if (k & 1) { /* a corrupted copy first: refused, no change */
        unsigned char *bad = malloc(n);
        FUZZ_ASSERT(bad);
        memcpy(bad, buf, n);
        size_t at = fuzz_u32(in) % n;
        bad[at] ^= 0x5A;
        int rc = dsv3_sampler_load(smp, bad, k & 2 ? n : at);
        free(bad);
        FUZZ_ASSERT(rc == DSV3_ERR_BAD_STATE);
    }
    FUZZ_ASSERT(dsv3_sampler_load(smp, buf, n) == DSV3_OK);
    for (int i = 0; i < 3; i++) {
        rb[i] = dsv3_sampler_sample(smp, logits, &b[i]);
        if (rb[i] == DSV3_OK) dsv3_sampler_accept(smp, b[i]);
        FUZZ_ASSERT(ra[i] == rb[i] && (ra[i] != DSV3_OK || a[i] == b[i]));
    }
    free(buf);
}

/* Tokens a generation delivered, for comparing plain and MTP decoding. */
typedef struct gen_rec {
    int32_t t[64];
    int n;
    int stop_after; /* the callback stops after this many tokens (0: never) */
} gen_rec;

static int record_token(void *user, int32_t token, const char *piece, size_t len) {
    gen_rec *r = user;
    FUZZ_ASSERT(token >= 0 && token < V && piece && len == 0);
    if (r->n < 64) r->t[r->n] = token;
    r->n++;
    return r->stop_after && r->n >= r->stop_after;
}

/* Plain decoding, then the same from the same session position and sampler
 * state with MTP drafting: the same tokens, stop reason and position. */
static void op_generate_mtp(fuzz_in *in, dsv3_session *s, dsv3_sampler *smp) {
    if (!smp) return;
    int32_t prompt[4];
    size_t np = 1 + fuzz_u8(in) % 4;
    for (size_t i = 0; i < np; i++) prompt[i] = (int32_t)(fuzz_u8(in) % V);
    struct dsv3_generate_params gp;
    FUZZ_ASSERT(dsv3_generate_params_init(&gp, sizeof gp) == DSV3_OK);
    gp.max_tokens = fuzz_u8(in) % 24;
    gp.stop_at_eos = fuzz_u8(in) & 1;
    gp.on_token = record_token;
    uint8_t d = fuzz_u8(in);
    const int32_t depth = d % 10 - 1; /* -1 and 9: invalid */
    const int32_t mode = (d >> 4) % 4; /* 3: invalid */
    gen_rec r1 = {{0}, 0, fuzz_u8(in) % 8}, r2 = r1;
    size_t sn = 0;
    FUZZ_ASSERT(dsv3_sampler_save(smp, NULL, 0, &sn) == DSV3_ERR_TOO_SMALL);
    unsigned char *st = malloc(sn);
    FUZZ_ASSERT(st && dsv3_sampler_save(smp, st, sn, &sn) == DSV3_OK);
    const int32_t pos = dsv3_session_position(s);
    struct dsv3_generate_result res1, res2;
    memset(&res1, 0, sizeof res1);
    res1.struct_size = sizeof res1;
    res2 = res1;
    gp.user = &r1;
    int rc1 = dsv3_generate(s, NULL, smp, prompt, np, &gp, &res1);
    const int32_t end1 = dsv3_session_position(s);
    forget_from(pos);
    if (rc1) { /* a prompt past the context, or a sampler left without candidates */
        FUZZ_ASSERT(rc1 == DSV3_ERR_CONTEXT_FULL || rc1 == DSV3_ERR_INVALID_ARG);
        free(st);
        return;
    }
    /* again, from the same place, drafting with the MTP layer */
    FUZZ_ASSERT(dsv3_session_rewind(s, pos) == DSV3_OK && dsv3_sampler_load(smp, st, sn) == DSV3_OK);
    free(st);
    gp.mtp = mode;
    gp.mtp_depth = depth;
    gp.user = &r2;
    int rc2 = dsv3_generate(s, NULL, smp, prompt, np, &gp, &res2);
    forget_from(pos);
    if (mode > DSV3_MTP_REQUIRED || depth < 0 || depth > DSV3_MTP_MAX_DEPTH) {
        FUZZ_ASSERT(rc2 == DSV3_ERR_INVALID_ARG && dsv3_session_position(s) == pos);
        return;
    }
    if (mode == DSV3_MTP_REQUIRED && rc2 == DSV3_ERR_STATE) return; /* a session with mtp = 0 */
    FUZZ_ASSERT(rc2 == DSV3_OK);
    FUZZ_ASSERT(r1.n == r2.n && !memcmp(r1.t, r2.t, sizeof(int32_t) * (size_t)(r1.n < 64 ? r1.n : 64)));
    FUZZ_ASSERT(res1.n_generated == res2.n_generated && res1.stop_reason == res2.stop_reason);
    FUZZ_ASSERT(dsv3_session_position(s) == end1);
    FUZZ_ASSERT(res2.n_accepted <= res2.n_drafted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_in in = {data, size, 0};
    struct dsv3_session_params sp;
    FUZZ_ASSERT(dsv3_session_params_init(&sp, sizeof sp) == DSV3_OK);
    uint8_t k = fuzz_u8(&in);
    sp.n_ctx = k < 250 ? (int32_t)(k % MAX_CTX) : (int32_t)fuzz_u32(&in);
    sp.kv_type = (int32_t)(fuzz_u8(&in) % 5) - 1;
    uint8_t f = fuzz_u8(&in);
    sp.mtp = f & 1;
    sp.record_routing = (f >> 1) & 1;
    dsv3_session *s = NULL;
    char err[256];
    int rc = dsv3_session_create(g_model, &sp, &s, err, sizeof err);
    if (rc) {
        FUZZ_ASSERT(rc == DSV3_ERR_INVALID_ARG && !s && err[0]);
        FUZZ_ASSERT(sp.n_ctx < 0 || sp.n_ctx > MICRO_MAXPOS || sp.kv_type < 0 || sp.kv_type > 2);
        return 0;
    }
    FUZZ_ASSERT(dsv3_session_n_ctx(s) == (sp.n_ctx ? sp.n_ctx : MICRO_MAXPOS));
    forget_from(0);
    dsv3_sampler *smp = NULL;
    float last[V];
    int have_last = 0;
    for (int ops = 0; ops < 64 && fuzz_left(&in); ops++) {
        switch (fuzz_u8(&in) % 13) {
        case 0:
        case 1: op_step(&in, s, last, &have_last); break;
        case 2: op_rewind(&in, s); break;
        case 3: op_mtp(&in, s); break;
        case 4: op_routing(&in, s); break;
        case 5:
        case 6: op_sample(&in, &smp, last, have_last); break;
        case 7: op_generate(&in, s, smp); break;
        case 8: op_save(s); break;
        case 9: op_load(&in, s); break;
        case 10: op_fork(&in, s, &sp); break;
        case 11: op_sampler_state(&in, smp, last, have_last); break;
        case 12: op_generate_mtp(&in, s, smp); break;
        }
    }
    free(g_saved);
    g_saved = NULL;
    dsv3_sampler_free(smp);
    dsv3_session_free(s);
    return 0;
}
