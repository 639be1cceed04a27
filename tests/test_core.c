/* test_core.c -- the core suite: the model math end to end without ../shared.
 *
 * The expected outputs in tests/fixtures come from the project's float64
 * reference (tests/reference/dsv3_ref.py), run on small checkpoints that
 * `dsv3 synth` writes and `dsv3 convert` turns into GGUF (F16, Q8_0 with the
 * MTP block, Q4_0, Q4_K, Q5_K, Q6_K, with their fallback types Q5_0, Q5_1,
 * Q8_0), plus one committed V2-Lite-style checkpoint (plain q_proj, softmax
 * greedy routing without renormalisation, two shared experts, YaRN mscale
 * 0.707). tests/fixtures/core.json lists them with the recipe that rebuilds
 * each one and the FNV-1a hash of the bytes the fixtures were computed from.
 *
 *   test_core --generate FIXTURES WORK DSV3_BIN   rebuild the checkpoints in WORK
 *   test_core FIXTURES WORK BACKEND [THREADS]     check them on BACKEND
 *
 * Per checkpoint: logits of a 12-token prefill at every position, the same
 * token by token and after a rewind; the routed expert ids (exact) and gate
 * weights of every MoE layer; an 8-token greedy continuation (exact ids);
 * MTP logits where the checkpoint has an MTP block.
 *
 * Tolerances. Where the backend computes with f32 activations (every
 * backend on float weights; scalar on every type) the logits (std 1, at
 * most 3.8 in magnitude) must be within TOL_F32 = 2e-5 of the reference:
 * float32 accumulation over rows of at most 512 measures 6e-6 at worst on
 * scalar and 2e-6 on avx2. Gate weights within 5e-6 (measured 1.1e-6), and
 * every routing decision and greedy token exact: the token list was chosen
 * so that no routing decision is within 8.8e-4 of a tie and every greedy
 * step leads by 2.6e-3 (core.json: min_routing_margin, min_greedy_gap).
 * The SIMD backends round activations to 8-bit blocks for the ggml block
 * types ("activations_simd": "q8", as llama.cpp does), which moves logits
 * by several 1e-2 and may flip a near-tie routing decision; there the
 * median over positions of the per-position max-abs error must be <=
 * TOL_Q8_MED = 0.15 (avx2 measures 0.055 to 0.091) and the argmax equal
 * wherever the reference leads by >= 0.5; routing and greedy tokens are
 * reported, not judged. A flipped routing decision puts another state in
 * the latent cache, so the positions after it follow another path and the
 * list's error depends on where a flip falls (30 random lists through the
 * Q8_0 checkpoint on avx512: median MTP error 0.085, above 0.15 for 1 of
 * 30, for two different summation orders alike). So for these checkpoints
 * the prefill and MTP errors are judged as the median over the token list
 * and the fixture's q8_lists (4 more lists) of each list's median; the
 * bound stays TOL_Q8_MED. Performance is not measured here.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsv3.h"
#include "golden_util.h"
#include "json.h"

static const double TOL_F32 = 2e-5;
static const double TOL_W = 5e-6;
static const double TOL_Q8_MED = 0.15;
static const double DECISIVE_GAP = 0.5;

static void fatal(const char *what, const char *path) {
    printf("FATAL: %s %s\n", what, path);
    exit(1);
}

static void *slurp_n(const char *dir, const char *rel, size_t bytes) {
    char p[2048];
    size_t n;
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    void *d = slurp(p, &n);
    if (n != bytes) fatal("unexpected size of", p);
    return d;
}

/* FNV-1a 64 of a file: the checkpoint must be the one the fixtures were
 * computed from (synth or convert changing their output would otherwise
 * show up as a math failure). */
static uint64_t fnv1a_file(const char *path) {
    size_t n;
    unsigned char *d = slurp(path, &n);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 0x100000001b3ull;
    free(d);
    return h;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

/* top1 - top2 of a row */
static double lead(const float *v, int n) {
    int b = argmax(v, n);
    double s = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != b && v[i] > s) s = v[i];
    return v[b] - s;
}

static double max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The median over positions of the per-position max-abs error. */
static double pos_median(const float *got, const float *want, int T, int V) {
    double pos[64];
    for (int t = 0; t < T && t < 64; t++) pos[t] = max_abs(got + (size_t)t * V, want + (size_t)t * V, (size_t)V);
    return median(pos, T < 64 ? T : 64);
}

/* Judges T rows of logits against the reference: max-abs for f32
 * activations, median per-position error and decisive argmaxes for q8,
 * the error then combined with the other lists' (xs[0..nx), see the
 * header) by their median. */
static int judge(const char *what, const char *id, const float *got, const float *want, int T, int V, int q8,
                 double *err_out, const double *xs, int nx) {
    double pos[64], worst = 0;
    int bad_argmax = 0;
    if (T > 64) T = 64;
    for (int t = 0; t < T; t++) {
        pos[t] = max_abs(got + (size_t)t * V, want + (size_t)t * V, (size_t)V);
        if (!(pos[t] <= worst)) worst = pos[t];
        if (lead(want + (size_t)t * V, V) >= DECISIVE_GAP && argmax(got + (size_t)t * V, V) != argmax(want + (size_t)t * V, V))
            bad_argmax++;
    }
    if (!q8) {
        *err_out = worst;
        CHECK(worst <= TOL_F32, "%s: %s max abs error %.3g > %.3g", id, what, worst, TOL_F32);
        return worst <= TOL_F32;
    }
    double med = median(pos, T), all[16];
    int na = 1;
    all[0] = med;
    for (int i = 0; i < nx && na < 16; i++) all[na++] = xs[i];
    const double m = median(all, na);
    *err_out = m;
    CHECK(m <= TOL_Q8_MED, "%s: %s median per-position max abs error %.3g (this token list %.3g, median of %d lists) > %.3g",
          id, what, m, med, na, TOL_Q8_MED);
    CHECK(bad_argmax == 0, "%s: %s argmax differs at %d decisive positions", id, what, bad_argmax);
    return m <= TOL_Q8_MED && !bad_argmax;
}

static const char *g_fix, *g_work, *g_backend = "scalar";
static int g_threads = 1;

static dsv3_session *open_session(dsv3_model *m, int record) {
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 64;
    sp.record_routing = record;
    dsv3_session *s = NULL;
    char err[512];
    if (dsv3_session_create(m, &sp, &s, err, sizeof err)) fatal("session:", err);
    return s;
}

/* From a reset session: tok[t] through the main model, then nxt[t] through
 * the MTP layer, one token at a time; out[t] = the MTP logits. */
static void mtp_token_by_token(dsv3_session *s, const int32_t *tok, const int32_t *nxt, int T, int V, float *out,
                               const char *id) {
    float *row = malloc(sizeof(float) * (size_t)V);
    for (int t = 0; t < T; t++) {
        CHECK(dsv3_session_step(s, tok + t, 1, row, 0) == 0, "%s: main %d", id, t);
        CHECK(dsv3_session_mtp_step(s, nxt + t, 1, out + (size_t)t * V, 0) == 0, "%s: mtp %d", id, t);
    }
    free(row);
}

/* One of the fixture's q8_lists (x: its tokens; cx: this checkpoint's
 * reference outputs for it): the median per-position error of the prefill
 * logits, and of the MTP logits in one batch and token by token (-1 when
 * the checkpoint has no MTP layer). */
static void q8_list_errors(dsv3_model *m, const json_value *x, const json_value *cx, int V, double *e_pre,
                           double *e_mtp, double *e_mtpi) {
    int T, Tm = 0;
    int32_t *tok = json_ints(x, &T);
    float *want = slurp_n(g_fix, json_get(cx, "logits")->str, sizeof(float) * (size_t)T * V);
    float *got = malloc(sizeof(float) * (size_t)T * V);
    dsv3_session *s = open_session(m, 0);
    CHECK(dsv3_session_step(s, tok, T, got, DSV3_STEP_LOGITS_ALL) == 0, "q8 list: step: %s", dsv3_session_last_error(s));
    *e_pre = pos_median(got, want, T, V);
    *e_mtp = *e_mtpi = -1;
    const json_value *mtp = json_get(cx, "mtp");
    if (mtp) {
        int32_t *nxt = json_ints(json_get(mtp, "input_ids"), &Tm);
        float *mw = slurp_n(g_fix, json_get(mtp, "logits")->str, sizeof(float) * (size_t)T * V);
        CHECK(Tm == T, "q8 list: %d MTP inputs for %d tokens", Tm, T);
        CHECK(dsv3_session_mtp_step(s, nxt, T, got, DSV3_STEP_LOGITS_ALL) == 0, "q8 list: mtp step: %s",
              dsv3_session_last_error(s));
        *e_mtp = pos_median(got, mw, T, V);
        CHECK(dsv3_session_reset(s) == 0, "q8 list: reset");
        mtp_token_by_token(s, tok, nxt, T, V, got, "q8 list");
        *e_mtpi = pos_median(got, mw, T, V);
        free(nxt); free(mw);
    }
    dsv3_session_free(s);
    free(tok); free(want); free(got);
}

static void check_checkpoint(const json_value *man, const json_value *c) {
    const char *id = json_get(c, "id")->str, *path = json_get(c, "path")->str;
    int committed = json_get(c, "committed")->boolean;
    int q8 = strcmp(g_backend, "scalar") != 0 && !strcmp(json_get(c, "activations_simd")->str, "q8");
    char dir[2048], p[2300];
    snprintf(dir, sizeof dir, "%s/%s", committed ? g_fix : g_work, path);

    /* The bytes must be those the reference saw. */
    const json_value *hs = json_get(c, "hashes");
    int is_file = strlen(path) > 5 && !strcmp(path + strlen(path) - 5, ".gguf");
    for (size_t i = 0; i < hs->n; i++) {
        if (is_file) snprintf(p, sizeof p, "%s", dir);
        else snprintf(p, sizeof p, "%s/%s", dir, hs->keys[i]);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a_file(p));
        CHECK(!strcmp(hex, hs->items[i].str),
              "%s: %s is not the file the fixtures were computed from (hash %s, expected %s): if `dsv3 synth` or "
              "`dsv3 convert` changed on purpose, regenerate with tests/reference/make_fixtures.py",
              id, p, hex, hs->items[i].str);
        if (strcmp(hex, hs->items[i].str) != 0) return;
    }

    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = g_backend;
    mp.n_threads = g_threads;
    dsv3_model *m = NULL;
    char err[512];
    int rc = dsv3_model_load(dir, &mp, &m, err, sizeof err);
    CHECK(rc == 0, "%s: load %s: %s", id, dir, err);
    if (rc) return;
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m, &info);
    int V = info.vocab_size, T;
    CHECK(V == (int)json_get(c, "vocab")->i, "%s: vocab %d", id, V);
    int32_t *tok = json_ints(json_get(man, "tokens"), &T);
    if (T < 2 || T > 64) fatal("core.json: need 2..64 tokens in", g_fix);
    float *want = slurp_n(g_fix, json_get(c, "logits")->str, sizeof(float) * (size_t)T * V);
    float *got = malloc(sizeof(float) * (size_t)T * V);
    double e1 = 0, e2 = 0, e3 = 0, werr = 0;

    /* 0. q8: the other token lists' errors (see the header) */
    double xpre[8], xmtp[8], xmtpi[8];
    int nx = 0, nxm = 0;
    const json_value *xl = json_get(man, "q8_lists"), *cx = json_get(c, "q8_lists");
    if (q8 && xl && cx) {
        CHECK(cx->n == xl->n, "%s: %zu q8_lists outputs for %zu lists", id, cx->n, xl->n);
        for (size_t i = 0; i < cx->n && i < xl->n && nx < 8; i++, nx++) {
            q8_list_errors(m, json_at(xl, i), json_at(cx, i), V, &xpre[nx], &xmtp[nx], &xmtpi[nx]);
            if (xmtp[nx] >= 0) nxm++;
        }
    }

    /* 1. one prefill step, with routing */
    dsv3_session *s = open_session(m, 1);
    CHECK(dsv3_session_step(s, tok, T, got, DSV3_STEP_LOGITS_ALL) == 0, "%s: step: %s", id, dsv3_session_last_error(s));
    judge("prefill", id, got, want, T, V, q8, &e1, xpre, nx);
    const json_value *ro = json_get(c, "routing"), *rs = json_get(ro, "shape");
    int nl = (int)json_at(rs, 0)->i, k = (int)json_at(rs, 2)->i, same = 0, total = nl * T * k;
    int32_t *rid = slurp_n(g_fix, json_get(ro, "ids")->str, sizeof(int32_t) * (size_t)total);
    float *rw = slurp_n(g_fix, json_get(ro, "weights")->str, sizeof(float) * (size_t)total);
    int32_t *gid = malloc(sizeof(int32_t) * (size_t)(nl * k + 1)), n_moe = 0;
    float *gw = malloc(sizeof(float) * (size_t)(nl * k + 1));
    for (int t = 0; t < T; t++) {
        CHECK(dsv3_session_get_routing(s, t, gid, gw, &n_moe) == 0 && n_moe == nl, "%s: routing query", id);
        for (int l = 0; l < nl && n_moe == nl; l++)
            for (int j = 0; j < k; j++) {
                size_t w = ((size_t)l * T + t) * k + j;
                same += gid[l * k + j] == rid[w];
                if (gid[l * k + j] == rid[w] && fabs(gw[l * k + j] - rw[w]) > werr) werr = fabs(gw[l * k + j] - rw[w]);
            }
    }
    if (!q8) {
        CHECK(same == total, "%s: %d of %d routed expert ids differ", id, total - same, total);
        CHECK(werr <= TOL_W, "%s: gate weight error %.3g > %.3g", id, werr, TOL_W);
    }

    /* 2. token by token, 3. rewind to the middle and step the rest again */
    CHECK(dsv3_session_reset(s) == 0, "%s: reset", id);
    for (int t = 0; t < T; t++)
        CHECK(dsv3_session_step(s, tok + t, 1, got + (size_t)t * V, 0) == 0, "%s: step %d", id, t);
    judge("token-by-token", id, got, want, T, V, q8, &e2, NULL, 0);
    int half = T / 2;
    CHECK(dsv3_session_rewind(s, half) == 0 && dsv3_session_position(s) == half, "%s: rewind", id);
    CHECK(dsv3_session_step(s, tok + half, T - half, got, DSV3_STEP_LOGITS_ALL) == 0, "%s: re-step", id);
    judge("after rewind", id, got, want + (size_t)half * V, T - half, V, q8, &e3, NULL, 0);
    dsv3_session_free(s);

    /* 4. greedy continuation (exact ids where activations are f32) */
    int P, G, gsame = 0;
    int32_t *prompt = json_ints(json_get(man, "greedy_prompt"), &P);
    int32_t *gen = json_ints(json_get(c, "greedy"), &G);
    s = open_session(m, 0);
    CHECK(dsv3_session_step(s, prompt, P, got, 0) == 0, "%s: greedy prompt", id);
    for (int i = 0; i < G; i++) {
        int32_t next = argmax(got, V);
        gsame += next == gen[i];
        if (!q8) CHECK(next == gen[i], "%s: greedy step %d gave %d, expected %d", id, i, next, gen[i]);
        CHECK(dsv3_session_step(s, &next, 1, got, 0) == 0, "%s: greedy decode", id);
    }
    dsv3_session_free(s);
    printf("  %-12s max|err| prefill %.2e  token-by-token %.2e  rewind %.2e%s  routing %d/%d  weights %.1e  "
           "greedy %d/%d\n",
           id, e1, e2, e3, q8 ? " (median of the token lists' medians, q8 activations)" : "", same, total, werr, gsame, G);

    /* 5. MTP */
    const json_value *mtp = json_get(c, "mtp");
    if (mtp) {
        int Tm;
        int32_t *nxt = json_ints(json_get(mtp, "input_ids"), &Tm);
        float *mw = slurp_n(g_fix, json_get(mtp, "logits")->str, sizeof(float) * (size_t)T * V);
        double em = 0, emi = 0;
        s = open_session(m, 0);
        CHECK(dsv3_session_step(s, tok, T, got, 0) == 0, "%s: main step", id);
        CHECK(argmax(got, V) == nxt[T - 1], "%s: main argmax %d, expected %d", id, argmax(got, V), nxt[T - 1]);
        CHECK(dsv3_session_mtp_step(s, nxt, T, got, DSV3_STEP_LOGITS_ALL) == 0, "%s: mtp step: %s", id,
              dsv3_session_last_error(s));
        judge("MTP", id, got, mw, T, V, q8, &em, xmtp, nxm);
        dsv3_session_free(s);
        s = open_session(m, 0);
        mtp_token_by_token(s, tok, nxt, T, V, got, id);
        judge("incremental MTP", id, got, mw, T, V, q8, &emi, xmtpi, nxm);
        printf("  %-12s MTP max|err| batch %.2e  incremental %.2e\n", "", em, emi);
        dsv3_session_free(s);
        free(nxt); free(mw);
    }
    free(tok); free(want); free(got); free(rid); free(rw); free(gid); free(gw); free(prompt); free(gen);
    dsv3_model_free(m);
}

/* Runs dsv3 with the recipe's arguments in the work directory. */
static int run_recipe(const char *bin, const json_value *recipe) {
    char **argv = calloc(recipe->n + 2, sizeof *argv);
    argv[0] = (char *)bin;
    for (size_t i = 0; i < recipe->n; i++) argv[i + 1] = (char *)recipe->items[i].str;
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(g_work) != 0) _exit(126);
        /* synth and convert report progress; the test log keeps only failures */
        if (!freopen("/dev/null", "w", stdout)) _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) st = -1;
    free(argv);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
    int gen = argc > 1 && !strcmp(argv[1], "--generate");
    if (argc < 4 + gen) {
        fprintf(stderr, "usage: test_core --generate FIXTURES WORK DSV3_BIN | test_core FIXTURES WORK BACKEND [THREADS]\n");
        return 2;
    }
    g_fix = argv[1 + gen];
    g_work = argv[2 + gen];
    char p[2048];
    snprintf(p, sizeof p, "%s/core.json", g_fix);
    json_doc *doc = load_json(p);
    const json_value *man = json_root(doc), *cks = json_get(man, "checkpoints");

    if (gen) {
        int bad = 0;
        if (mkdir(g_work, 0755) != 0 && errno != EEXIST) fatal("cannot create", g_work);
        for (size_t i = 0; i < cks->n; i++) {
            const json_value *r = json_get(&cks->items[i], "recipe");
            if (!r || r->type != JSON_ARRAY) continue;
            int rc = run_recipe(argv[4], r);
            CHECK(rc == 0, "%s: dsv3 %s exited with %d", json_get(&cks->items[i], "id")->str, r->items[0].str, rc);
            bad += rc != 0;
        }
        printf("%d checkpoints written to %s (%d failed)\n", (int)cks->n, g_work, bad);
        json_free(doc);
        return bad ? 1 : 0;
    }

    g_backend = argv[3];
    if (argc > 4) g_threads = atoi(argv[4]);
    skip_if_backend_unavailable(g_backend);
    printf("core fixtures on backend '%s', %d thread(s)\n", g_backend, g_threads);
    for (size_t i = 0; i < cks->n; i++) check_checkpoint(man, &cks->items[i]);
    json_free(doc);
    return finish();
}
