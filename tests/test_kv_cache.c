/* test_kv_cache.c -- the quantized latent KV cache (dsv3_session_params.kv_type),
 * on every compiled-in backend the CPU can run:
 *
 *   1. golden: the seq100 logits cases of ../shared/golden (tiny-v3 f32,
 *      bf16, fp8; tiny-v2lite bf16) with an F16 cache. A position whose
 *      routed expert set (any MoE layer) differs from the golden one must be
 *      in fragile_positions_bf16; at the other positions the logits are
 *      within TOL_F16 = 2e-2 max abs of the golden values, and the argmax is
 *      the golden one wherever top1 - top2 > 0.05.
 *      Measured (scalar and avx2 alike): 5.5e-3 (tiny-v3/bf16), 5.1e-3 (fp8),
 *      4.0e-3 (v2lite) with every routing decision as in the golden run;
 *      tiny-v3/f32 flips one decision at position 21 (routing margin 3e-4,
 *      listed as fragile), whose logits then move by 2.9, and stays within
 *      5.2e-3 elsewhere. Why 2e-2: an F16 latent carries a relative rounding
 *      error of at most 2^-11 per value, which reaches the logits (magnitude
 *      ~14) as the ~5e-3 above; 2e-2 leaves a factor ~4 for other orders of
 *      summation (SIMD backends) and is still 100 x below the O(1) change of
 *      a flipped routing decision or a wrong cache row (a stale row, a scale
 *      applied to the wrong block). The gap 0.05 is 2.5 x TOL_F16: there the
 *      argmax cannot change within the tolerance.
 *   2. a synthetic checkpoint (`dsv3 synth --shape tiny`, kv_lora_rank 64,
 *      written here into TMP_DIR by the CLI's own code) with Q8_0 and F16
 *      caches against the F32 cache of the same backend: bounded logit
 *      differences, routing differences and argmax changes (synth_bound).
 *   3. dsv3_session_kv_bytes_per_token for each type, and the model info's
 *      kv_bytes_per_token (the f32 cache).
 *   4. token by token == one prefill (crossing the 64-token micro-batch), bit
 *      for bit, for each cache type; a rewind and re-step gives the same bits
 *      again; MTP batch == MTP row by row.
 *   5. 1 thread == 2 threads, bit for bit, for each cache type.
 *   6. refused: kv_type -1, 3, 1000 and Q8_0 with kv_lora_rank 133 (golden)
 *      give DSV3_ERR_INVALID_ARG and a message naming kv_type / kv_lora_rank;
 *      a caller whose struct ends before kv_type gets the f32 cache.
 *
 * Usage: test_kv_cache SHARED_DIR TMP_DIR */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "backend.h"
#include "cli.h" /* cmd_synth */
#include "dsv3.h"
#include "golden_util.h"

static const char *shared = "../shared";
static char synth_dir[1024];

static const double TOL_F16 = 2e-2;

static const char *kv_name(int t) { return t == DSV3_KV_F16 ? "f16" : t == DSV3_KV_Q8_0 ? "q8_0" : "f32"; }

static double max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i;
    return b;
}

static double gap12(const float *v, int n) {
    int b = argmax(v, n);
    double second = -INFINITY;
    for (int i = 0; i < n; i++) if (i != b && v[i] > second) second = v[i];
    return v[b] - second;
}

static dsv3_model *load(const char *path, const char *backend, int threads) {
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = backend;
    mp.n_threads = threads;
    dsv3_model *m = NULL;
    char err[512];
    if (dsv3_model_load(path, &mp, &m, err, sizeof err)) { fprintf(stderr, "FATAL: load %s: %s\n", path, err); exit(2); }
    return m;
}

static dsv3_session *session(dsv3_model *m, int kv_type, int n_ctx, int record) {
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = n_ctx;
    sp.kv_type = kv_type;
    sp.record_routing = record;
    dsv3_session *s = NULL;
    char err[512];
    if (dsv3_session_create(m, &sp, &s, err, sizeof err)) { fprintf(stderr, "FATAL: session (%s): %s\n", kv_name(kv_type), err); exit(2); }
    return s;
}

static int vocab(const dsv3_model *m) {
    struct dsv3_model_info i = {.struct_size = sizeof i};
    dsv3_model_get_info(m, &i);
    return i.vocab_size;
}

/* ---- 1. golden cases with an F16 cache ------------------------------------ */

static int in_list(const json_value *a, int v) {
    for (size_t i = 0; a && i < a->n; i++) if ((int)a->items[i].i == v) return 1;
    return 0;
}

static void golden_f16(const json_value *c, const char *backend) {
    const char *id = json_get(c, "id")->str;
    const json_value *outs = json_get(c, "outputs");
    char p[1024];
    snprintf(p, sizeof p, "%s/golden/%s", shared, json_get(c, "checkpoint")->str);
    dsv3_model *m = load(p, backend, 2);
    const int V = vocab(m);
    int T;
    int32_t *tok = json_ints(json_get(c, "tokens"), &T);
    snprintf(p, sizeof p, "%s/golden/%s", shared, json_get(json_get(outs, "logits"), "file")->str);
    size_t n;
    float *want = slurp(p, &n);
    CHECK(n == sizeof(float) * (size_t)T * V, "%s: golden logits size", id);
    float *got = malloc(sizeof(float) * (size_t)T * V);
    dsv3_session *s = session(m, DSV3_KV_F16, 128, 1);
    CHECK(dsv3_session_step(s, tok, T, got, DSV3_STEP_LOGITS_ALL) == 0, "%s: step: %s", id, dsv3_session_last_error(s));

    /* routing: a position whose expert set (per MoE layer) differs from the
     * golden one must be fragile; its logits then move by O(1) */
    const json_value *ri = json_get(outs, "routing_topk_ids"), *fragile = json_get(c, "fragile_positions_bf16");
    const int nl = (int)json_at(json_get(ri, "shape"), 0)->i, k = (int)json_at(json_get(ri, "shape"), 2)->i;
    snprintf(p, sizeof p, "%s/golden/%s", shared, json_get(ri, "file")->str);
    int32_t *rid = slurp(p, NULL), *gid = malloc(sizeof(int32_t) * (size_t)(nl * k));
    float *gw = malloc(sizeof(float) * (size_t)(nl * k));
    char *flipped = calloc((size_t)T, 1);
    int flips = 0, flips_fragile = 0;
    char where[256] = "";
    for (int t = 0; t < T; t++) {
        int32_t n_moe = 0;
        CHECK(dsv3_session_get_routing(s, t, gid, gw, &n_moe) == 0 && n_moe == nl, "%s: routing query", id);
        int diff = 0; /* as sets: selected experts of equal scores may swap places */
        for (int l = 0; l < nl; l++)
            for (int j = 0; j < k; j++) {
                int found = 0;
                for (int j2 = 0; j2 < k; j2++) found |= gid[l * k + j] == rid[((size_t)l * T + t) * k + j2];
                diff |= !found;
            }
        if (!diff) continue;
        flipped[t] = 1;
        flips++;
        if (in_list(fragile, t)) flips_fragile++;
        size_t w = strlen(where);
        if (w + 8 < sizeof where) snprintf(where + w, sizeof where - w, " %d%s", t, in_list(fragile, t) ? "f" : "");
    }
    CHECK(flips == flips_fragile, "%s [%s]: routing differs at non-fragile positions:%s", id, backend, where);

    /* logits at the positions routed as in the golden run; argmax where the
     * golden gap is clear */
    const json_value *gaps = json_get(c, "top1_minus_top2"), *am = json_get(c, "argmax");
    double e = 0, e_all = 0;
    int clear = 0, same = 0;
    for (int t = 0; t < T; t++) {
        const double d = max_abs(got + (size_t)t * V, want + (size_t)t * V, V);
        if (!flipped[t] && !(d <= e)) e = d;
        if (!(d <= e_all)) e_all = d;
        const int a = argmax(got + (size_t)t * V, V), g = (int)json_at(am, (size_t)t)->i;
        if (json_at(gaps, (size_t)t)->num > 0.05) {
            clear++;
            same += a == g;
            CHECK(a == g || flipped[t], "%s [%s]: argmax at %d is %d, golden %d (gap %.3f)", id, backend, t, a, g,
                  json_at(gaps, (size_t)t)->num);
        }
    }
    CHECK(e <= TOL_F16, "%s [%s, f16 cache]: max abs logit error %.3g > %.3g", id, backend, e, TOL_F16);
    printf("  %-24s %-6s f16 cache: max|err| %.2e (%s), argmax %d/%d (gap > 0.05), routing differs at %d position%s%s%s\n",
           id, backend, e, flips ? "routed as golden" : "all positions", same, clear, flips, flips == 1 ? "" : "s",
           flips ? " (f = fragile):" : "", where);
    if (flips) printf("  %-24s %-6s   with the flipped position%s: max|err| %.2e\n", "", backend, flips == 1 ? "" : "s", e_all);
    free(flipped);
    dsv3_session_free(s);
    dsv3_model_free(m);
    free(tok); free(want); free(got); free(rid); free(gid); free(gw);
}

/* ---- 2. synthetic checkpoint: Q8_0 / F16 vs F32 ---------------------------- */

static int32_t *synth_tokens(int T, int V) {
    int32_t *t = malloc(sizeof(int32_t) * (size_t)T);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < T; i++) { x = x * 6364136223846793005ull + 1442695040888963407ull; t[i] = (int32_t)((x >> 33) % (uint64_t)V); }
    return t;
}

/* 1 where the expert sets of two routing records differ (any MoE layer). */
static int routing_differs(dsv3_session *a, dsv3_session *b, int t, int n_moe, int k) {
    int32_t ia[256], ib[256];
    if (n_moe * k > 256) return 1;
    CHECK(dsv3_session_get_routing(a, t, ia, NULL, NULL) == 0 && dsv3_session_get_routing(b, t, ib, NULL, NULL) == 0,
          "routing query");
    for (int l = 0; l < n_moe; l++)
        for (int j = 0; j < k; j++) {
            int found = 0;
            for (int j2 = 0; j2 < k; j2++) found |= ia[l * k + j] == ib[l * k + j2];
            if (!found) return 1;
        }
    return 0;
}

/* Bounds for the synthetic model (random weights, logits up to ~4.5, 16
 * experts with random router rows: many near-tie routing decisions).
 *   clean: positions before the first routing difference from the f32 run
 *          (nothing but the cache rounding has acted on them);
 *   alike: every position routed as in the f32 run (a flipped position's
 *          cache rows, O(1) different in the layers after the flip, also
 *          move later positions' attention);
 *   flips: the share of positions whose routing differs.
 * Q8_0 rounds each latent by up to max|block|/254 (a ~0.6 % rms relative
 * error for normal-ish values, ~25 x that of F16). Measured (scalar, avx2,
 * neon alike): F16 clean = alike 2.0e-3, no flips; Q8_0 clean 3.6e-2,
 * alike 2.1e-1, 7 of 120 positions flipped (there the logits move by up to
 * 1.9); the f32 argmax at 120/120 (F16) and 115/120 (Q8_0) positions.
 * The bounds leave a factor 2.5 .. 5 over these. */
typedef struct synth_bound {
    double clean, alike, flips, argmax; /* argmax: least share of positions with the f32 argmax */
} synth_bound;
static const synth_bound BOUND_F16 = {1e-2, 2e-2, 0.05, 0.98}, BOUND_Q8 = {1e-1, 5e-1, 0.15, 0.9};

static void synth_vs_f32(const char *backend) {
    dsv3_model *m = load(synth_dir, backend, 2);
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m, &info);
    const int V = info.vocab_size, T = 120, k = info.n_experts_per_token;
    int32_t *tok = synth_tokens(T, V);
    float *ref = malloc(sizeof(float) * (size_t)T * V), *got = malloc(sizeof(float) * (size_t)T * V);
    dsv3_session *s0 = session(m, DSV3_KV_F32, 128, 1);
    CHECK(dsv3_session_step(s0, tok, T, ref, DSV3_STEP_LOGITS_ALL) == 0, "synth f32 step");
    int32_t n_moe = 0;
    dsv3_session_get_routing(s0, 0, NULL, NULL, &n_moe);
    for (int kt = DSV3_KV_F16; kt <= DSV3_KV_Q8_0; kt++) {
        const synth_bound B = kt == DSV3_KV_Q8_0 ? BOUND_Q8 : BOUND_F16;
        dsv3_session *s = session(m, kt, 128, 1);
        CHECK(dsv3_session_step(s, tok, T, got, DSV3_STEP_LOGITS_ALL) == 0, "synth %s step", kv_name(kt));
        double e_clean = 0, e_alike = 0, e_all = 0;
        int flips = 0, clean = 0, clear = 0, same = 0, same_all = 0;
        for (int t = 0; t < T; t++) {
            const int flip = routing_differs(s0, s, t, n_moe, k);
            const double d = max_abs(got + (size_t)t * V, ref + (size_t)t * V, V);
            flips += flip;
            if (!flips) { clean++; e_clean = fmax(e_clean, d); }
            if (!flip) e_alike = fmax(e_alike, d);
            e_all = fmax(e_all, d);
            if (d != d) e_alike = e_clean = INFINITY; /* NaN */
            const int a = argmax(got + (size_t)t * V, V), r = argmax(ref + (size_t)t * V, V);
            same_all += a == r;
            if (!flip && gap12(ref + (size_t)t * V, V) > 2 * B.alike) {
                clear++;
                same += a == r;
                CHECK(a == r, "synth [%s] %s: argmax at %d is %d, f32 cache %d", backend, kv_name(kt), t, a, r);
            }
        }
        CHECK(e_clean <= B.clean, "synth [%s] %s cache vs f32: max abs %.3g before the first routing difference > %.3g",
              backend, kv_name(kt), e_clean, B.clean);
        CHECK(e_alike <= B.alike, "synth [%s] %s cache vs f32: max abs %.3g where routed alike > %.3g", backend,
              kv_name(kt), e_alike, B.alike);
        CHECK(flips <= B.flips * T, "synth [%s] %s cache: routing differs at %d of %d positions", backend, kv_name(kt),
              flips, T);
        CHECK(same_all >= B.argmax * T, "synth [%s] %s cache: the f32 argmax at only %d of %d positions", backend,
              kv_name(kt), same_all, T);
        CHECK(clean >= 5, "synth [%s] %s cache: routing differs from position %d on", backend, kv_name(kt), clean);
        printf("  synth tiny (kvl 64) %-6s %-4s cache vs f32: max|diff| %.2e first %d positions, %.2e where routed alike, "
               "%.2e all; routing differs at %d/%d; argmax %d/%d (routed alike, gap > %.2f), %d/%d all\n",
               backend, kv_name(kt), e_clean, clean, e_alike, e_all, flips, T, same, clear, 2 * B.alike, same_all, T);
        dsv3_session_free(s);
    }
    dsv3_session_free(s0);
    dsv3_model_free(m);
    free(tok); free(ref); free(got);
}

/* ---- 3. bytes per token ----------------------------------------------------- */

static void bytes_per_token(const char *path, int q8_ok) {
    dsv3_model *m = load(path, "scalar", 1);
    struct dsv3_model_info i = {.struct_size = sizeof i};
    dsv3_model_get_info(m, &i);
    const uint64_t L = (uint64_t)i.n_layers, kvl = (uint64_t)i.kv_lora_rank, dr = (uint64_t)i.qk_rope_head_dim;
    const uint64_t want[3] = {(kvl * 4 + dr * 4) * L, (kvl * 2 + dr * 4) * L, (kvl / 32 * 34 + dr * 4) * L};
    for (int kt = 0; kt < (q8_ok ? 3 : 2); kt++) {
        dsv3_session *s = session(m, kt, 8, 0);
        const uint64_t got = dsv3_session_kv_bytes_per_token(s);
        CHECK(got == want[kt], "%s: %s kv bytes/token %llu, expected %llu", path, kv_name(kt), (unsigned long long)got,
              (unsigned long long)want[kt]);
        if (kt == DSV3_KV_F32)
            CHECK(i.kv_bytes_per_token == got, "%s: model info kv_bytes_per_token %llu != f32 session %llu", path,
                  (unsigned long long)i.kv_bytes_per_token, (unsigned long long)got);
        printf("  kv bytes/token %-4s %6llu  (kvl %d, rope %d, %d layers)\n", kv_name(kt), (unsigned long long)got,
               i.kv_lora_rank, i.qk_rope_head_dim, i.n_layers);
        dsv3_session_free(s);
    }
    dsv3_model_free(m);
}

/* ---- 4. batch independence, 5. threads --------------------------------------- */

static void batch_and_threads(const char *path, const char *label, const char *backend, int kt) {
    dsv3_model *m1 = load(path, backend, 1), *m2 = load(path, backend, 2);
    const int V = vocab(m1), T = 80;
    int32_t *tok = synth_tokens(T, V);
    float *a = malloc(sizeof(float) * (size_t)T * V), *b = malloc(sizeof(float) * (size_t)T * V);
    dsv3_session *s = session(m1, kt, 96, 0);
    /* one prefill (micro-batches of 64 + 16) */
    CHECK(dsv3_session_step(s, tok, T, a, DSV3_STEP_LOGITS_ALL) == 0, "%s prefill", label);
    /* token by token */
    CHECK(dsv3_session_reset(s) == 0, "reset");
    for (int t = 0; t < T; t++) CHECK(dsv3_session_step(s, tok + t, 1, b + (size_t)t * V, 0) == 0, "%s step %d", label, t);
    const int tbt = !memcmp(a, b, sizeof(float) * (size_t)T * V);
    CHECK(tbt, "%s [%s] %s cache: token by token differs from prefill (max %.3g)", label, backend, kv_name(kt),
          max_abs(a, b, (size_t)T * V));
    /* rewind into the middle of the first micro-batch, re-step the rest */
    CHECK(dsv3_session_rewind(s, 37) == 0, "rewind");
    CHECK(dsv3_session_step(s, tok + 37, T - 37, b, DSV3_STEP_LOGITS_ALL) == 0, "re-step");
    const int rw = !memcmp(a + (size_t)37 * V, b, sizeof(float) * (size_t)(T - 37) * V);
    CHECK(rw, "%s [%s] %s cache: rewind + re-step differs", label, backend, kv_name(kt));
    /* MTP: batch vs row by row (the MTP layer has its own cache of this type) */
    int mtp_same = -1;
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m1, &info);
    if (info.n_mtp_layers) {
        const int n = 40;
        CHECK(dsv3_session_rewind(s, n) == 0, "rewind");
        CHECK(dsv3_session_mtp_step(s, tok + 1, n, a, DSV3_STEP_LOGITS_ALL) == 0, "mtp batch: %s", dsv3_session_last_error(s));
        CHECK(dsv3_session_rewind(s, 0) == 0, "rewind");
        for (int t = 0; t < n; t++) {
            CHECK(dsv3_session_step(s, tok + t, 1, NULL, 0) == 0, "main step");
            CHECK(dsv3_session_mtp_step(s, tok + t + 1, 1, b + (size_t)t * V, 0) == 0, "mtp row");
        }
        mtp_same = !memcmp(a, b, sizeof(float) * (size_t)n * V);
        CHECK(mtp_same, "%s [%s] %s cache: MTP row by row differs from batch", label, backend, kv_name(kt));
    }
    dsv3_session_free(s);
    /* threads: one prefill each */
    s = session(m1, kt, 96, 0);
    CHECK(dsv3_session_step(s, tok, T, a, DSV3_STEP_LOGITS_ALL) == 0, "1 thread");
    dsv3_session_free(s);
    s = session(m2, kt, 96, 0);
    CHECK(dsv3_session_step(s, tok, T, b, DSV3_STEP_LOGITS_ALL) == 0, "2 threads");
    dsv3_session_free(s);
    const int th = !memcmp(a, b, sizeof(float) * (size_t)T * V);
    CHECK(th, "%s [%s] %s cache: 2 threads differ from 1 (max %.3g)", label, backend, kv_name(kt), max_abs(a, b, (size_t)T * V));
    printf("  %-16s %-6s %-4s cache: token-by-token == prefill %s, rewind %s, MTP rows == batch %s, 1 == 2 threads %s\n",
           label, backend, kv_name(kt), tbt ? "yes" : "NO", rw ? "yes" : "NO",
           mtp_same < 0 ? "n/a" : mtp_same ? "yes" : "NO", th ? "yes" : "NO");
    dsv3_model_free(m1);
    dsv3_model_free(m2);
    free(tok); free(a); free(b);
}

/* ---- 6. refused values ------------------------------------------------------- */

static void refused(void) {
    char p[1024], err[512];
    snprintf(p, sizeof p, "%s/golden/tiny-v3/bf16", shared);
    dsv3_model *m = load(p, "scalar", 1);
    static const int32_t bad[] = {-1, 3, 1000};
    for (int i = 0; i < 3; i++) {
        struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
        sp.n_ctx = 8;
        sp.kv_type = bad[i];
        dsv3_session *s = NULL;
        err[0] = 0;
        int rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
        CHECK(rc == DSV3_ERR_INVALID_ARG && !s && strstr(err, "kv_type"), "kv_type %d: rc %d, message '%s'", bad[i], rc, err);
    }
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 8;
    sp.kv_type = DSV3_KV_Q8_0;
    dsv3_session *s = NULL;
    err[0] = 0;
    int rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    CHECK(rc == DSV3_ERR_INVALID_ARG && !s && strstr(err, "kv_lora_rank") && strstr(err, "133"),
          "Q8_0 with kv_lora_rank 133: rc %d, message '%s'", rc, err);
    printf("  refused: kv_type -1/3/1000, Q8_0 with kv_lora_rank 133: \"%s\"\n", err);
    /* a program built before kv_type existed: its struct_size (sizeof with
     * the tail padding, where reserved0 now is) ends before kv_type */
    struct dsv3_session_params old;
    dsv3_session_params_init(&old, sizeof old);
    old.struct_size = offsetof(struct dsv3_session_params, kv_type);
    old.n_ctx = 8;
    old.reserved0 = 0x7fffffff; /* garbage padding: never read */
    old.kv_type = 77;           /* beyond struct_size: never read */
    rc = dsv3_session_create(m, &old, &s, err, sizeof err);
    struct dsv3_model_info i = {.struct_size = sizeof i};
    dsv3_model_get_info(m, &i);
    CHECK(rc == DSV3_OK && s && dsv3_session_kv_bytes_per_token(s) == i.kv_bytes_per_token,
          "old struct_size: rc %d (%s)", rc, err);
    dsv3_session_free(s);
    dsv3_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: test_kv_cache SHARED_DIR TMP_DIR\n"); return 2; }
    shared = argv[1];
    mkdir(argv[2], 0755);
    snprintf(synth_dir, sizeof synth_dir, "%s/synth-tiny", argv[2]);
    char *sargv[] = {"synth", "--shape", "tiny", "--dtype", "bf16", "-o", synth_dir};
    if (cmd_synth(7, sargv) != 0) { fprintf(stderr, "FATAL: cannot write the synthetic checkpoint %s\n", synth_dir); return 2; }

    const char *backends[8];
    int nb = 0;
    /* The CPU backends. A device backend (vulkan; on CI a CPU-emulated
     * device, minutes per model) has its own suites: its store_kv bytes
     * and F16/Q8_0-cache attention are checked by backend_ops_vulkan. */
    for (int i = 0; i < dsv3_backend_count() && nb < 8; i++) {
        const dsv3_backend_ops *o = dsv3_backend_at(i);
        if (o->version >= DSV3_BACKEND_V3 && o->load_done) continue;
        if (o->available()) backends[nb++] = o->name;
    }

    char p[1024];
    snprintf(p, sizeof p, "%s/golden/manifest.json", shared);
    json_doc *man = load_json(p);
    const json_value *cases = json_get(json_root(man), "cases");

    printf("1. golden seq100 cases, f16 cache (max abs <= %.0e, argmax where gap > 0.05)\n", TOL_F16);
    for (int b = 0; b < nb; b++)
        for (size_t i = 0; i < cases->n; i++) {
            const json_value *c = &cases->items[i];
            const json_value *toks = json_get(c, "tokens");
            if (!strcmp(json_get(c, "kind")->str, "logits") && toks && toks->n == 100) golden_f16(c, backends[b]);
        }
    printf("2. synthetic checkpoint, q8_0 / f16 cache vs f32\n");
    for (int b = 0; b < nb; b++) synth_vs_f32(backends[b]);
    printf("3. bytes per token\n");
    bytes_per_token(synth_dir, 1);
    snprintf(p, sizeof p, "%s/golden/tiny-v3/bf16", shared);
    bytes_per_token(p, 0);
    printf("4./5. batch independence and thread count, bit for bit\n");
    snprintf(p, sizeof p, "%s/golden/tiny-v2lite/bf16", shared);
    for (int b = 0; b < nb; b++)
        for (int kt = 0; kt < 3; kt++) {
            batch_and_threads(synth_dir, "synth tiny", backends[b], kt);
            if (kt != DSV3_KV_Q8_0) batch_and_threads(p, "tiny-v2lite/bf16", backends[b], kt);
        }
    printf("6. refused values\n");
    refused();
    json_free(man);
    return finish();
}
