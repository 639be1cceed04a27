/* test_thread_count.c -- results must not depend on the thread count:
 * every op splits work so that each output is computed by one thread in
 * the same order as with one thread, so logits are compared bit for bit
 * (memcmp) for 1, 2 and 3 threads on every golden checkpoint, as one
 * prefill and token by token. Usage: test_thread_count [SHARED] [BACKEND] */
#include <stdint.h>

#include "dsv3.h"
#include "golden_util.h"

static float *run(const char *dir, const char *backend, int threads, const int32_t *tok, int T, int V, int by_token) {
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = backend;
    mp.n_threads = threads;
    dsv3_model *m = NULL;
    char err[512];
    if (dsv3_model_load(dir, &mp, &m, err, sizeof err)) { fprintf(stderr, "FATAL: %s\n", err); exit(2); }
    dsv3_session *s = NULL;
    if (dsv3_session_create(m, NULL, &s, err, sizeof err)) { fprintf(stderr, "FATAL: %s\n", err); exit(2); }
    float *out = malloc(sizeof(float) * (size_t)T * V);
    if (by_token)
        for (int t = 0; t < T; t++) dsv3_session_step(s, tok + t, 1, out + (size_t)t * V, 0);
    else
        dsv3_session_step(s, tok, T, out, DSV3_STEP_LOGITS_ALL);
    dsv3_session_free(s);
    dsv3_model_free(m);
    return out;
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    const char *backend = argc > 2 ? argv[2] : "auto";
    skip_if_backend_unavailable(backend);
    const char *ckpts[] = {"tiny-v3/f32", "tiny-v3/bf16", "tiny-v3/fp8", "tiny-v2lite/bf16"};
    char p[1024];
    snprintf(p, sizeof p, "%s/golden/manifest.json", shared);
    json_doc *man = load_json(p);
    const json_value *cases = json_get(json_root(man), "cases");
    for (int c = 0; c < 4; c++) {
        char id[128];
        snprintf(id, sizeof id, "%s/seq100", ckpts[c]);
        const json_value *cs = NULL;
        for (size_t i = 0; i < cases->n; i++)
            if (!strcmp(json_get(&cases->items[i], "id")->str, id)) cs = &cases->items[i];
        CHECK(cs != NULL, "case %s missing", id);
        if (!cs) continue;
        int T;
        int32_t *tok = json_ints(json_get(cs, "tokens"), &T);
        int V = (int)json_at(json_get(json_get(json_get(cs, "outputs"), "logits"), "shape"), 1)->i;
        snprintf(p, sizeof p, "%s/golden/%s", shared, ckpts[c]);
        for (int by_token = 0; by_token < 2; by_token++) {
            float *ref = run(p, backend, 1, tok, T, V, by_token);
            for (int th = 2; th <= 3; th++) {
                float *got = run(p, backend, th, tok, T, V, by_token);
                CHECK(!memcmp(ref, got, sizeof(float) * (size_t)T * V), "%s %s: %d threads differ from 1 thread", ckpts[c],
                      by_token ? "token by token" : "prefill", th);
                free(got);
            }
            free(ref);
        }
        printf("  %-18s 1 == 2 == 3 threads, bit for bit (prefill and token by token)\n", ckpts[c]);
        free(tok);
    }
    json_free(man);
    return finish();
}
