/* test_vk_hybrid.c -- hybrid placement on the Vulkan backend (routed
 * experts on the CPU, everything else on the device) on the demo model:
 *
 *   - an MoE layer's input comes back with its routing read-back (the
 *     backend's read-ahead is used at least once per MoE layer and step)
 *     and the shared expert runs on the device while the CPU computes;
 *   - the logits are the same bits as without that overlap (the input
 *     read back at a sync of its own, the device idle meanwhile), for a
 *     5-token prompt and two single-token steps;
 *   - a device failure while the CPU computes fails the step with its
 *     message, keeps the position, hangs nothing, and the steps after it
 *     give the logits of a session that never failed;
 *   - the same with device memory the host cannot map (staging copies, as
 *     on a discrete GPU): the read-ahead used, the same bits.
 *
 *   test_vk_hybrid MODEL_DIR
 *
 * Exits 77 (skipped) when the Vulkan backend cannot run here, unless
 * DSV3_REQUIRE_BACKEND is "vulkan". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "dsv3.h"
#include "model.h"
#include "vulkan/vk.h"

/* vk_internal.h, tests only */
void dsv3_vk_test_staging(int on);
void dsv3_vk_test_overlap(int mode);
uint64_t dsv3_vk_test_ahead_taken(const dsv3_vk *vk);

extern const dsv3_backend_ops dsv3_backend_vulkan;

static int failures;

#define CHECK(c, ...)                                                                                          \
    do {                                                                                                       \
        if (!(c)) {                                                                                            \
            printf("FAIL: " __VA_ARGS__);                                                                      \
            printf("\n");                                                                                      \
            failures++;                                                                                        \
        }                                                                                                      \
    } while (0)

#define N_PROMPT 5
#define N_MOE 3 /* the demo model: 4 layers, the first dense */

static const int32_t toks[N_PROMPT + 2] = {17, 402, 9, 1234, 77, 5, 600};

static dsv3_session *new_session(dsv3_model *m) {
    char err[512];
    dsv3_session *s = NULL;
    if (dsv3_session_create(m, NULL, &s, err, sizeof err)) {
        printf("FAIL session: %s\n", err);
        exit(1);
    }
    return s;
}

/* The prompt, then the two single tokens: the three steps' last logits
 * into out[3][V]; returns the read-aheads used. */
static uint64_t run(dsv3_model *m, int mode, float *out, int V) {
    dsv3_vk *vk = (dsv3_vk *)m->be;
    dsv3_vk_test_overlap(mode);
    const uint64_t before = dsv3_vk_test_ahead_taken(vk);
    dsv3_session *s = new_session(m);
    CHECK(dsv3_session_step(s, toks, N_PROMPT, out, 0) == DSV3_OK, "mode %d prompt: %s", mode,
          dsv3_session_last_error(s));
    for (int i = 0; i < 2; i++)
        CHECK(dsv3_session_step(s, toks + N_PROMPT + i, 1, out + (size_t)(i + 1) * V, 0) == DSV3_OK,
              "mode %d step %d: %s", mode, i, dsv3_session_last_error(s));
    dsv3_session_free(s);
    return dsv3_vk_test_ahead_taken(vk) - before;
}

static dsv3_model *load(const char *dir) {
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "vulkan";
    mp.placement = "experts-on-cpu";
    mp.n_threads = 2;
    dsv3_model *m = NULL;
    char err[512];
    if (dsv3_model_load(dir, &mp, &m, err, sizeof err)) {
        printf("FAIL load %s: %s\n", dir, err);
        exit(1);
    }
    return m;
}

int main(int argc, char **argv) {
    const char *req = getenv("DSV3_REQUIRE_BACKEND");
    if (argc < 2) {
        printf("usage: test_vk_hybrid MODEL_DIR\n");
        return 2;
    }
    if (!dsv3_backend_vulkan.available()) {
        char why[1024];
        dsv3_backend_vulkan.describe(why, sizeof why);
        printf("SKIP: the Vulkan backend cannot run here: %s\n", why);
        return req && !strcmp(req, "vulkan") ? 1 : 77;
    }
    dsv3_model *m = load(argv[1]);
    const int V = m->cfg.vocab_size;
    float *ref = calloc((size_t)3 * V, sizeof(float)), *got = calloc((size_t)3 * V, sizeof(float));
    if (!ref || !got) return 1;

    /* 1. overlap vs none: the same bits */
    const uint64_t taken = run(m, 0, got, V);
    printf("overlap: %llu read-aheads used in 3 steps of %d MoE layers\n", (unsigned long long)taken, N_MOE);
    CHECK(taken >= 3 * N_MOE, "the MoE layers' inputs came back with the routing (%llu read-aheads used)",
          (unsigned long long)taken);
    const uint64_t none = run(m, 1, ref, V);
    CHECK(none == 0, "no read-ahead when disabled (%llu used)", (unsigned long long)none);
    CHECK(!memcmp(ref, got, sizeof(float) * 3 * (size_t)V), "the overlap changes the logits' bits");

    /* 2. a device failure during the overlap */
    dsv3_vk_test_overlap(0);
    dsv3_session *s = new_session(m);
    CHECK(dsv3_session_step(s, toks, N_PROMPT, NULL, 0) == DSV3_OK, "prompt: %s", dsv3_session_last_error(s));
    dsv3_vk_test_overlap(2);
    int rc = dsv3_session_step(s, toks + N_PROMPT, 1, got, 0);
    printf("failed step: %d %s\n", rc, dsv3_session_last_error(s));
    CHECK(rc == DSV3_ERR_BACKEND && strstr(dsv3_session_last_error(s), "device failure while the CPU computed"),
          "the failure fails the step with its message");
    CHECK(dsv3_session_position(s) == N_PROMPT, "position kept at %d (got %d)", N_PROMPT,
          (int)dsv3_session_position(s));
    dsv3_vk_test_overlap(0);
    for (int i = 0; i < 2; i++) {
        CHECK(dsv3_session_step(s, toks + N_PROMPT + i, 1, got + (size_t)(i + 1) * V, 0) == DSV3_OK,
              "step %d after the failure: %s", i, dsv3_session_last_error(s));
        CHECK(!memcmp(ref + (size_t)(i + 1) * V, got + (size_t)(i + 1) * V, sizeof(float) * (size_t)V),
              "step %d after the failure: logits differ from a session that never failed", i);
    }
    dsv3_session_free(s);
    dsv3_model_free(m);

    /* 3. through staging copies */
    dsv3_vk_test_staging(1);
    m = load(argv[1]);
    const uint64_t staged = run(m, 0, got, V);
    printf("staging copies: %llu read-aheads used\n", (unsigned long long)staged);
    CHECK(staged >= 3 * N_MOE, "read-ahead through staging copies (%llu used)", (unsigned long long)staged);
    CHECK(!memcmp(ref, got, sizeof(float) * 3 * (size_t)V), "staging copies change the logits' bits");
    dsv3_model_free(m);
    dsv3_vk_test_staging(0);
    free(ref);
    free(got);
    printf("%s\n", failures ? "FAILED" : "OK");
    return failures ? 1 : 0;
}
