/* cmd_bench.c -- `dsv3 bench`: prefill and decode speed, the bytes of
 * weights one decoded token streams, this machine's measured read
 * bandwidth, and decode as a percentage of that roofline. For a depth- or
 * expert-cut synthetic checkpoint (written by `dsv3 synth`) it also
 * predicts the full model's decode speed. A benchmark, not a test. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "dsv3.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- read bandwidth: every thread sums its slice of a large buffer ---- */
typedef struct bw_job {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} bw_job;

static void *bw_sum(void *arg) {
    bw_job *j = arg;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= j->n; i += 4) { a += j->p[i]; b += j->p[i + 1]; c += j->p[i + 2]; d += j->p[i + 3]; }
    j->sum = a + b + c + d;
    return NULL;
}

/* GB/s (1e9 bytes) reading a 1 GiB buffer with n threads, best of 5. */
static double measure_bandwidth(int n_threads) {
    const size_t bytes = (size_t)1 << 30, words = bytes / 8;
    uint64_t *buf = malloc(bytes);
    if (!buf) return 0;
    for (size_t i = 0; i < words; i++) buf[i] = i * 0x9E3779B97F4A7C15ull; /* touch every page */
    double best = 0;
    pthread_t th[64];
    bw_job jobs[64];
    if (n_threads > 64) n_threads = 64;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        for (int i = 0; i < n_threads; i++) {
            jobs[i].p = buf + words / n_threads * i;
            jobs[i].n = words / n_threads;
            pthread_create(&th[i], NULL, bw_sum, &jobs[i]);
        }
        uint64_t total = 0;
        for (int i = 0; i < n_threads; i++) { pthread_join(th[i], NULL); total += jobs[i].sum; }
        double gbs = bytes / (now_s() - t0) / 1e9;
        if (gbs > best && total != 1) best = gbs; /* total keeps the sum alive */
    }
    free(buf);
    return best;
}

/* --kv-type: "f32" | "f16" | "q8_0" -> DSV3_KV_*, -1 if unknown. */
static int kv_type_arg(const char *s) {
    return !strcmp(s, "f32") ? DSV3_KV_F32 : !strcmp(s, "f16") ? DSV3_KV_F16 : !strcmp(s, "q8_0") ? DSV3_KV_Q8_0 : -1;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *backend = "auto", *kv_name = "f32";
    int n_prompt = 512, n_gen = 128, threads = 0, as_json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) { as_json = 1; continue; }
        if (!v) { fprintf(stderr, "dsv3 bench: option %s needs a value (or is unknown)\n", a); return 2; }
        if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "-p")) n_prompt = atoi(v);
        else if (!strcmp(a, "-n")) n_gen = atoi(v);
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "--backend")) backend = v;
        else if (!strcmp(a, "--kv-type")) kv_name = v;
        else { fprintf(stderr, "dsv3 bench: unknown option %s\n", a); return 2; }
        i++;
    }
    if (!model || n_prompt < 1 || n_gen < 1 || kv_type_arg(kv_name) < 0) {
        fprintf(stderr, "usage: dsv3 bench -m PATH [-p 512] [-n 128] [-t N] [--backend NAME] [--kv-type f32|f16|q8_0] [--json]\n");
        return 2;
    }
    struct dsv3_model_params mp = dsv3_model_params_default();
    mp.backend = backend;
    mp.n_threads = threads;
    char err[512];
    dsv3_model *m = NULL;
    int rc = dsv3_model_load(model, &mp, &m, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 bench: %s\n", err); return 1; }
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m, &info);
    struct dsv3_session_params sp = dsv3_session_params_default();
    sp.n_ctx = n_prompt + n_gen + 1;
    if (sp.n_ctx > info.max_context) sp.n_ctx = info.max_context;
    sp.mtp = 0;
    sp.kv_type = kv_type_arg(kv_name);
    dsv3_session *s = NULL;
    rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 bench: %s\n", err); dsv3_model_free(m); return 1; }
    int32_t *tok = malloc(sizeof *tok * (size_t)n_prompt);
    float *logits = malloc(sizeof(float) * (size_t)info.vocab_size);
    uint64_t x = 12345;
    for (int i = 0; i < n_prompt; i++) { x = x * 6364136223846793005ull + 1442695040888963407ull; tok[i] = (int32_t)((x >> 33) % (uint64_t)info.vocab_size); }

    /* warm the page cache and the caches with one token */
    dsv3_session_step(s, tok, 1, logits, 0);
    dsv3_session_reset(s);
    double t0 = now_s();
    rc = dsv3_session_step(s, tok, n_prompt, logits, 0);
    double t_prefill = now_s() - t0;
    t0 = now_s();
    for (int i = 0; !rc && i < n_gen; i++) {
        int32_t best = 0;
        for (int v = 1; v < info.vocab_size; v++) if (logits[v] > logits[best]) best = v;
        rc = dsv3_session_step(s, &best, 1, logits, 0);
    }
    double t_decode = now_s() - t0;
    if (rc) { fprintf(stderr, "dsv3 bench: %s\n", dsv3_session_last_error(s)); }
    double bw = measure_bandwidth(info.n_threads);
    double pf = n_prompt / t_prefill, dc = n_gen / t_decode;
    double bpt = (double)info.decode_bytes_per_token;
    double pct = bw > 0 ? 100.0 * dc * bpt / (bw * 1e9) : 0;

    /* Prediction for the full-size model: per-token time scales with the
     * bytes it streams, at the effective bandwidth measured here. */
    synth_origin f = cli_synth_origin(model);
    double full_bpt = 0, full_dc = 0;
    if (f.found) {
        full_bpt = (double)info.decode_bytes_head + (double)f.dense * (double)info.decode_bytes_dense_layer +
                   (double)(f.layers - f.dense) * (double)info.decode_bytes_moe_layer;
        full_dc = full_bpt > 0 ? dc * bpt / full_bpt : 0;
    }
    if (as_json) {
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"weights\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, "
               "\"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, \"bytes_per_token\": %.0f, "
               "\"bandwidth_gb_s\": %.2f, \"roofline_pct\": %.1f, \"kv_type\": \"%s\", \"kv_bytes_per_token\": %llu",
               model, info.backend, info.n_threads, info.weight_dtype, n_prompt, n_gen, pf, dc, bpt, bw, pct, kv_name,
               (unsigned long long)dsv3_session_kv_bytes_per_token(s));
        if (f.found) printf(", \"full_model_bytes_per_token\": %.0f, \"full_model_decode_tokens_per_s\": %.4f", full_bpt, full_dc);
        printf("}\n");
    } else {
        printf("model           %s (%s, %s weights)\n", model, info.architecture, info.weight_dtype);
        printf("backend         %s, %d thread%s\n", info.backend, info.n_threads, info.n_threads == 1 ? "" : "s");
        printf("kv cache        %s, %llu bytes/token\n", kv_name, (unsigned long long)dsv3_session_kv_bytes_per_token(s));
        printf("prefill         %d tokens: %.2f tokens/s\n", n_prompt, pf);
        printf("decode          %d tokens: %.2f tokens/s\n", n_gen, dc);
        printf("bytes/token     %.1f MiB of weights streamed per decoded token\n", bpt / 1048576.0);
        printf("bandwidth       %.2f GB/s measured read bandwidth (%d threads)\n", bw, info.n_threads);
        printf("roofline        decode at %.1f %% of bandwidth / bytes-per-token (%.2f tokens/s)\n", pct,
               bw * 1e9 / bpt);
        if (f.found)
            printf("full model      %d layers, %d experts: %.1f GiB/token -> predicted decode %.4f tokens/s\n", f.layers,
                   f.experts, full_bpt / 1073741824.0, full_dc);
    }
    free(tok);
    free(logits);
    dsv3_session_free(s);
    dsv3_model_free(m);
    return rc ? 1 : 0;
}
