/* test_golden.c -- every case of ../shared/golden against the library:
 *   logits: one prefill step, token by token, and after a rewind and re-step;
 *           routing (expert ids exact, gate weights) through the API;
 *   greedy: the stored continuation token for token, and its step logits;
 *   mtp:    MTP logits for every row.
 * Tolerance: the README's f32_compute.max_abs (2e-3) for logits; gate
 * weights 1e-4.
 * Usage: test_golden [SHARED_DIR] [BACKEND] [THREADS] [options]
 *   --placement P   the model's placement ("gpu", "experts-on-cpu"; a
 *                   device backend such as vulkan)
 *   --only ID       only this case, or every case of this checkpoint
 *                   (repeatable; the default is every case)
 *   --compare B     also load each checkpoint on backend B and hold the
 *                   prefill logits of every logits case to the same 2e-3
 *                   of B's (e.g. vulkan in hybrid placement vs the CPU)
 * A backend that cannot run here (avx512 on an AVX2 CPU, vulkan without a
 * loader or device) is skipped with exit 77 and the reason. */
#include <math.h>
#include <stdint.h>

#include "dsv3.h"
#include "golden_util.h"

static const char *shared = "../shared";
static const char *backend = "scalar";
static int n_threads = 1;
static const char *placement = NULL;
static const char *compare = NULL;
static const char *only[64];
static int n_only;

/* Is a case (or, with case_id NULL, any case of checkpoint ck) selected? */
static int selected(const char *ck, const char *case_id) {
    if (!n_only) return 1;
    for (int i = 0; i < n_only; i++) {
        if (!strcmp(only[i], ck)) return 1;
        if (case_id ? !strcmp(only[i], case_id) : !strncmp(only[i], ck, strlen(ck)) && only[i][strlen(ck)] == '/')
            return 1;
    }
    return 0;
}

static float *read_f32(const char *rel, size_t expect) {
    char p[1024];
    size_t n;
    snprintf(p, sizeof p, "%s/golden/%s", shared, rel);
    float *d = slurp(p, &n);
    if (n != expect * 4) { fprintf(stderr, "FATAL: %s has %zu bytes, expected %zu\n", p, n, expect * 4); exit(2); }
    return d;
}

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

static dsv3_model *open_model_on(const char *ckpt, const char *be, const char *place) {
    char p[1024], err[512];
    snprintf(p, sizeof p, "%s/golden/%s", shared, ckpt);
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = be;
    mp.n_threads = n_threads;
    mp.placement = place;
    dsv3_model *m = NULL;
    if (dsv3_model_load(p, &mp, &m, err, sizeof err)) { fprintf(stderr, "FATAL: load %s: %s\n", p, err); exit(2); }
    return m;
}

static dsv3_model *open_model(const char *ckpt) { return open_model_on(ckpt, backend, placement); }

static dsv3_session *open_session(dsv3_model *m, int record) {
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 256;
    sp.record_routing = record;
    dsv3_session *s = NULL;
    char err[512];
    if (dsv3_session_create(m, &sp, &s, err, sizeof err)) { fprintf(stderr, "FATAL: session: %s\n", err); exit(2); }
    return s;
}

static const double TOL = 2e-3;  /* README tolerance.f32_compute.max_abs */
static const double TOL_W = 1e-4; /* gate weights (values ~0.1..2.5) */

static void case_logits(const json_value *c, dsv3_model *m, int V, dsv3_model *cmp) {
    const char *id = json_get(c, "id")->str;
    const json_value *outs = json_get(c, "outputs");
    int T;
    int32_t *tok = json_ints(json_get(c, "tokens"), &T);
    float *want = read_f32(json_get(json_get(outs, "logits"), "file")->str, (size_t)T * V);
    float *got = malloc(sizeof(float) * (size_t)T * V);
    dsv3_session *s = open_session(m, 1);

    /* 1. one prefill step */
    CHECK(dsv3_session_step(s, tok, T, got, DSV3_STEP_LOGITS_ALL) == 0, "%s: step: %s", id, dsv3_session_last_error(s));
    double e1 = max_abs(got, want, (size_t)T * V);
    CHECK(e1 <= TOL, "%s: prefill max abs error %.3g > %.3g", id, e1, TOL);

    /* routing through the API */
    const json_value *ri = json_get(outs, "routing_topk_ids");
    int nl = (int)json_at(json_get(ri, "shape"), 0)->i, k = (int)json_at(json_get(ri, "shape"), 2)->i;
    char p[1024];
    snprintf(p, sizeof p, "%s/golden/%s", shared, json_get(ri, "file")->str);
    int32_t *rid = slurp(p, NULL);
    float *rw = read_f32(json_get(json_get(outs, "routing_topk_weights"), "file")->str, (size_t)nl * T * k);
    int32_t n_moe = 0, *gid = malloc(sizeof(int32_t) * nl * k);
    float *gw = malloc(sizeof(float) * nl * k);
    int id_mismatch = 0;
    double werr = 0;
    for (int t = 0; t < T; t++) {
        CHECK(dsv3_session_get_routing(s, t, gid, gw, &n_moe) == 0 && n_moe == nl, "%s: routing query", id);
        for (int l = 0; l < nl; l++)
            for (int j = 0; j < k; j++) {
                size_t w = ((size_t)l * T + t) * k + j;
                if (gid[l * k + j] != rid[w]) id_mismatch++;
                double d = fabs(gw[l * k + j] - rw[w]);
                if (d > werr) werr = d;
            }
    }
    CHECK(id_mismatch == 0, "%s: %d routed expert ids differ", id, id_mismatch);
    CHECK(werr <= TOL_W, "%s: gate weight error %.3g", id, werr);

    /* 2. token by token, 3. rewind to the middle and re-step */
    CHECK(dsv3_session_reset(s) == 0, "%s: reset", id);
    double e2 = 0;
    for (int t = 0; t < T; t++) {
        CHECK(dsv3_session_step(s, tok + t, 1, got, 0) == 0, "%s: step %d", id, t);
        double d = max_abs(got, want + (size_t)t * V, V);
        if (d > e2) e2 = d;
    }
    CHECK(e2 <= TOL, "%s: token-by-token max abs error %.3g", id, e2);
    int half = T / 2;
    CHECK(dsv3_session_rewind(s, half) == 0 && dsv3_session_position(s) == half, "%s: rewind", id);
    CHECK(dsv3_session_step(s, tok + half, T - half, got, DSV3_STEP_LOGITS_ALL) == 0, "%s: re-step", id);
    double e3 = max_abs(got, want + (size_t)half * V, (size_t)(T - half) * V);
    CHECK(e3 <= TOL, "%s: after rewind max abs error %.3g", id, e3);
    if (cmp) {
        /* the same prefill on the comparison backend */
        float *other = malloc(sizeof(float) * (size_t)T * V);
        dsv3_session *s2 = open_session(cmp, 0);
        CHECK(dsv3_session_reset(s) == 0 && dsv3_session_step(s, tok, T, got, DSV3_STEP_LOGITS_ALL) == 0 &&
                  dsv3_session_step(s2, tok, T, other, DSV3_STEP_LOGITS_ALL) == 0,
              "%s: step for the comparison", id);
        double ec = max_abs(got, other, (size_t)T * V);
        CHECK(ec <= TOL, "%s: max abs difference %.3g from backend %s > %.3g", id, ec, compare, TOL);
        printf("  %-24s vs %s: max|diff| %.2e\n", id, compare, ec);
        dsv3_session_free(s2);
        free(other);
    }
    printf("  %-24s T=%3d  max|err| prefill %.2e  token-by-token %.2e  rewind %.2e  routing %d/%d ids equal, weight err %.1e\n",
           id, T, e1, e2, e3, nl * T * k - id_mismatch, nl * T * k, werr);
    dsv3_session_free(s);
    free(tok); free(want); free(got); free(rid); free(rw); free(gid); free(gw);
}

static void case_greedy(const json_value *c, dsv3_model *m, int V) {
    const char *id = json_get(c, "id")->str;
    int P, G;
    int32_t *prompt = json_ints(json_get(c, "prompt"), &P);
    int32_t *gen = json_ints(json_get(json_get(c, "outputs"), "generated"), &G);
    if (!G) { free(gen); gen = json_ints(json_get(c, "generated"), &G); }
    float *want = read_f32(json_get(json_get(json_get(c, "outputs"), "step_logits"), "file")->str, (size_t)G * V);
    float *got = malloc(sizeof(float) * V);
    dsv3_session *s = open_session(m, 0);
    CHECK(dsv3_session_step(s, prompt, P, got, 0) == 0, "%s: prompt", id);
    int same = 0;
    double err = 0;
    for (int i = 0; i < G; i++) {
        double d = max_abs(got, want + (size_t)i * V, V);
        if (d > err) err = d;
        int32_t next = argmax(got, V);
        same += next == gen[i];
        CHECK(next == gen[i], "%s: step %d generated %d, expected %d", id, i, next, gen[i]);
        CHECK(dsv3_session_step(s, &next, 1, got, 0) == 0, "%s: decode", id);
    }
    CHECK(err <= TOL, "%s: step logits max abs error %.3g", id, err);
    printf("  %-24s %d/%d greedy tokens equal, step logits max|err| %.2e\n", id, same, G, err);
    dsv3_session_free(s);
    free(prompt); free(gen); free(want); free(got);
}

static void case_mtp(const json_value *c, dsv3_model *m, int V) {
    const char *id = json_get(c, "id")->str;
    int T, Tm;
    int32_t *tok = json_ints(json_get(c, "tokens"), &T);
    int32_t *nxt = json_ints(json_get(c, "mtp_input_ids"), &Tm);
    float *want = read_f32(json_get(json_get(json_get(c, "outputs"), "mtp_logits"), "file")->str, (size_t)T * V);
    float *main_l = malloc(sizeof(float) * V);
    float *got = malloc(sizeof(float) * (size_t)T * V);
    dsv3_session *s = open_session(m, 0);
    CHECK(dsv3_session_step(s, tok, T, main_l, 0) == 0, "%s: main step", id);
    CHECK(argmax(main_l, V) == nxt[T - 1], "%s: main argmax %d != last mtp input %d", id, argmax(main_l, V), nxt[T - 1]);
    CHECK(dsv3_session_mtp_step(s, nxt, T, got, DSV3_STEP_LOGITS_ALL) == 0, "%s: mtp step: %s", id, dsv3_session_last_error(s));
    double e1 = max_abs(got, want, (size_t)T * V);
    CHECK(e1 <= TOL, "%s: MTP max abs error %.3g", id, e1);
    /* incremental: rewind the MTP cache through the main rewind, one row at a time */
    CHECK(dsv3_session_rewind(s, T) == 0, "%s: rewind", id);
    dsv3_session_free(s);
    s = open_session(m, 0);
    double e2 = 0;
    for (int t = 0; t < T; t++) {
        CHECK(dsv3_session_step(s, tok + t, 1, main_l, 0) == 0, "%s: main", id);
        CHECK(dsv3_session_mtp_step(s, nxt + t, 1, got, 0) == 0, "%s: mtp %d", id, t);
        double d = max_abs(got, want + (size_t)t * V, V);
        if (d > e2) e2 = d;
    }
    CHECK(e2 <= TOL, "%s: incremental MTP max abs error %.3g", id, e2);
    printf("  %-24s T=%3d  MTP max|err| batch %.2e  incremental %.2e\n", id, T, e1, e2);
    dsv3_session_free(s);
    free(tok); free(nxt); free(want); free(main_l); free(got);
}

int main(int argc, char **argv) {
    if (argc > 1) shared = argv[1];
    if (argc > 2) backend = argv[2];
    if (argc > 3) n_threads = atoi(argv[3]);
    for (int a = 4; a < argc; a++) {
        if (a + 1 < argc && !strcmp(argv[a], "--placement")) placement = argv[++a];
        else if (a + 1 < argc && !strcmp(argv[a], "--compare")) compare = argv[++a];
        else if (a + 1 < argc && !strcmp(argv[a], "--only") && n_only < 64) only[n_only++] = argv[++a];
        else { fprintf(stderr, "FATAL: unknown argument '%s'\n", argv[a]); return 2; }
    }
    skip_if_backend_unavailable(backend);
    if (compare) skip_if_backend_unavailable(compare);
    char p[1024];
    snprintf(p, sizeof p, "%s/golden/manifest.json", shared);
    json_doc *man = load_json(p);
    const json_value *cases = json_get(json_root(man), "cases"), *ckpts = json_get(json_root(man), "checkpoints");
    printf("golden cases on backend '%s'%s%s, %d thread(s)\n", backend, placement ? ", placement " : "",
           placement ? placement : "", n_threads);
    for (size_t ci = 0; ci < ckpts->n; ci++) {
        const char *ck = ckpts->keys[ci];
        if (!selected(ck, NULL)) continue;
        dsv3_model *m = open_model(json_get(&ckpts->items[ci], "path")->str);
        dsv3_model *cmp = compare ? open_model_on(json_get(&ckpts->items[ci], "path")->str, compare, NULL) : NULL;
        struct dsv3_model_info info = {.struct_size = sizeof info};
        dsv3_model_get_info(m, &info);
        int V = info.vocab_size;
        /* KV cache: latent + rope key per layer, f32 */
        dsv3_session *s = open_session(m, 0);
        uint64_t want_kv = (uint64_t)(info.kv_lora_rank + info.qk_rope_head_dim) * info.n_layers * sizeof(float);
        CHECK(dsv3_session_kv_bytes_per_token(s) == want_kv && info.kv_bytes_per_token == want_kv,
              "%s: KV bytes per token %llu, expected %llu", ck, (unsigned long long)dsv3_session_kv_bytes_per_token(s),
              (unsigned long long)want_kv);
        printf("%s: %s, %s weights, KV %llu bytes/token\n", ck, info.architecture, info.weight_dtype,
               (unsigned long long)want_kv);
        dsv3_session_free(s);
        for (size_t i = 0; i < cases->n; i++) {
            const json_value *c = &cases->items[i];
            if (strcmp(json_get(c, "checkpoint")->str, ck) != 0) continue;
            if (!selected(ck, json_get(c, "id")->str)) continue;
            const char *kind = json_get(c, "kind")->str;
            if (!strcmp(kind, "logits")) case_logits(c, m, V, cmp);
            else if (!strcmp(kind, "greedy")) case_greedy(c, m, V);
            else if (!strcmp(kind, "mtp")) case_mtp(c, m, V);
            else CHECK(0, "unknown case kind %s", kind);
        }
        dsv3_model_free(m);
        dsv3_model_free(cmp);
    }
    json_free(man);
    return finish();
}
