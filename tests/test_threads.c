/* test_threads.c -- many sessions on one model, concurrently.
 *
 * One model (tiny-v3/bf16) is loaded once. A single-threaded reference run
 * steps the 33 tokens of case tiny-v3/bf16/seq033 token by token (logits of
 * every step) and as one prefill (DSV3_STEP_LOGITS_ALL) in fresh sessions.
 * Then N_THREADS threads, released together by a barrier, each create their
 * own session on the shared model and repeat both runs (half of them prefill
 * first, so different phases overlap); every thread's logits must equal the
 * reference bit for bit (memcmp). The reference prefill is also checked
 * against the golden logits, so the comparison is not between two wrong
 * answers. Meant to run under ThreadSanitizer as well.
 *
 * Usage: test_threads [SHARED_DIR] [BACKEND]   (defaults ../shared, auto) */
#include <pthread.h>
#include <math.h>
#include <stdint.h>

#include "dsv3.h"
#include "golden_util.h"

#define N_THREADS 4
#define CASE_ID "tiny-v3/bf16/seq033"

static dsv3_model *g_model;
static const int32_t *g_tok;
static int g_T, g_V;
static pthread_barrier_t g_barrier;

typedef struct {
    int index;
    float *step;    /* [T][V] token by token */
    float *prefill; /* [T][V] one step, all logits */
    int failed;
    char msg[512];
} worker;

/* Token by token into out[T][V], then a reset and one prefill into
 * all[T][V] (or the other way round). Returns 0, or nonzero with msg. */
static int run_sequence(dsv3_session *s, float *out, float *all, int prefill_first, char *msg, size_t msg_size) {
    for (int pass = 0; pass < 2; pass++) {
        int rc;
        if (dsv3_session_reset(s) != DSV3_OK) {
            snprintf(msg, msg_size, "reset: %s", dsv3_session_last_error(s));
            return 1;
        }
        if ((pass == 0) == (prefill_first != 0)) {
            rc = dsv3_session_step(s, g_tok, g_T, all, DSV3_STEP_LOGITS_ALL);
            if (rc) {
                snprintf(msg, msg_size, "prefill: %s: %s", dsv3_status_string(rc), dsv3_session_last_error(s));
                return 1;
            }
        } else {
            for (int t = 0; t < g_T; t++) {
                rc = dsv3_session_step(s, &g_tok[t], 1, out + (size_t)t * g_V, 0);
                if (rc) {
                    snprintf(msg, msg_size, "step %d: %s: %s", t, dsv3_status_string(rc), dsv3_session_last_error(s));
                    return 1;
                }
            }
        }
        if (dsv3_session_position(s) != g_T) {
            snprintf(msg, msg_size, "position %d after %d tokens", dsv3_session_position(s), g_T);
            return 1;
        }
    }
    return 0;
}

static dsv3_session *new_session(char *msg, size_t msg_size) {
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 64;
    dsv3_session *s = NULL;
    if (dsv3_session_create(g_model, &sp, &s, msg, msg_size) != DSV3_OK) return NULL;
    return s;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    int rc = pthread_barrier_wait(&g_barrier);
    if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
        snprintf(w->msg, sizeof w->msg, "barrier: %d", rc);
        w->failed = 1;
        return NULL;
    }
    /* Read-only model calls, concurrently with other threads' steps. */
    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (dsv3_model_get_info(g_model, &info) != DSV3_OK || info.vocab_size != g_V) {
        snprintf(w->msg, sizeof w->msg, "dsv3_model_get_info: %s", dsv3_model_last_error(g_model));
        w->failed = 1;
        return NULL;
    }
    dsv3_session *s = new_session(w->msg, sizeof w->msg);
    if (!s) {
        w->failed = 1;
        return NULL;
    }
    w->failed = run_sequence(s, w->step, w->prefill, w->index & 1, w->msg, sizeof w->msg);
    dsv3_session_free(s);
    return NULL;
}

static double max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    const char *backend = argc > 2 ? argv[2] : "auto";
    char path[1024], err[512];

    snprintf(path, sizeof path, "%s/golden/manifest.json", shared);
    json_doc *man = load_json(path);
    const json_value *cases = json_get(json_root(man), "cases"), *c = NULL;
    for (size_t i = 0; cases && i < cases->n; i++) {
        const json_value *id = json_get(&cases->items[i], "id");
        if (id && id->type == JSON_STRING && strcmp(id->str, CASE_ID) == 0) c = &cases->items[i];
    }
    if (!c) {
        fprintf(stderr, "FATAL: case %s not in %s\n", CASE_ID, path);
        return 2;
    }
    int32_t *tok = json_ints(json_get(c, "tokens"), &g_T);
    g_tok = tok;
    if (g_T < 2) {
        fprintf(stderr, "FATAL: case %s has %d tokens\n", CASE_ID, g_T);
        return 2;
    }

    snprintf(path, sizeof path, "%s/golden/%s", shared, json_get(c, "checkpoint")->str);
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = backend;
    if (dsv3_model_load(path, &mp, &g_model, err, sizeof err) != DSV3_OK) {
        fprintf(stderr, "FATAL: load %s: %s\n", path, err);
        return 2;
    }
    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (dsv3_model_get_info(g_model, &info) != DSV3_OK) {
        fprintf(stderr, "FATAL: get_info: %s\n", dsv3_model_last_error(g_model));
        return 2;
    }
    g_V = info.vocab_size;
    const size_t n = (size_t)g_T * (size_t)g_V;
    printf("%s: %d tokens, vocab %d, backend %s, %d threads\n", CASE_ID, g_T, g_V, info.backend, N_THREADS);

    /* Single-threaded reference. */
    float *ref_step = malloc(sizeof(float) * n), *ref_prefill = malloc(sizeof(float) * n);
    if (!ref_step || !ref_prefill) return 2;
    dsv3_session *s = new_session(err, sizeof err);
    if (!s) {
        fprintf(stderr, "FATAL: session: %s\n", err);
        return 2;
    }
    if (run_sequence(s, ref_step, ref_prefill, 0, err, sizeof err)) {
        fprintf(stderr, "FATAL: reference run: %s\n", err);
        return 2;
    }
    dsv3_session_free(s);

    /* The reference is right: golden logits within the README tolerance. */
    const json_value *lf = json_get(json_get(json_get(c, "outputs"), "logits"), "file");
    snprintf(path, sizeof path, "%s/golden/%s", shared, lf ? lf->str : "");
    size_t golden_len;
    float *golden = slurp(path, &golden_len);
    CHECK(golden_len == n * sizeof(float), "%s has %zu bytes, expected %zu", path, golden_len, n * sizeof(float));
    if (golden_len == n * sizeof(float)) {
        double e = max_abs(ref_prefill, golden, n);
        CHECK(e <= 2e-3, "reference prefill vs golden: max abs error %.3g > 2e-3", e);
        e = max_abs(ref_step, golden, n);
        CHECK(e <= 2e-3, "reference token-by-token vs golden: max abs error %.3g > 2e-3", e);
    }
    free(golden);

    /* N_THREADS sessions on the shared model. */
    worker w[N_THREADS];
    pthread_t th[N_THREADS];
    int started = 0;
    if (pthread_barrier_init(&g_barrier, NULL, N_THREADS) != 0) {
        fprintf(stderr, "FATAL: pthread_barrier_init\n");
        return 2;
    }
    for (int i = 0; i < N_THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].index = i;
        w[i].step = malloc(sizeof(float) * n);
        w[i].prefill = malloc(sizeof(float) * n);
        if (!w[i].step || !w[i].prefill) return 2;
        /* a pattern the run must overwrite completely */
        memset(w[i].step, 0xff, sizeof(float) * n);
        memset(w[i].prefill, 0xff, sizeof(float) * n);
    }
    for (int i = 0; i < N_THREADS; i++) {
        if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "FATAL: pthread_create %d\n", i);
            return 2; /* the barrier would never open: exit, not hang */
        }
        started++;
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&g_barrier);

    for (int i = 0; i < N_THREADS; i++) {
        CHECK(!w[i].failed, "thread %d: %s", i, w[i].msg);
        if (w[i].failed) continue;
        CHECK(memcmp(w[i].step, ref_step, sizeof(float) * n) == 0,
              "thread %d: token-by-token logits differ from the single-threaded run (max abs %.3g)", i,
              max_abs(w[i].step, ref_step, n));
        CHECK(memcmp(w[i].prefill, ref_prefill, sizeof(float) * n) == 0,
              "thread %d: prefill logits differ from the single-threaded run (max abs %.3g)", i,
              max_abs(w[i].prefill, ref_prefill, n));
    }

    for (int i = 0; i < N_THREADS; i++) {
        free(w[i].step);
        free(w[i].prefill);
    }
    free(ref_step);
    free(ref_prefill);
    free(tok);
    dsv3_model_free(g_model);
    json_free(man);
    return finish();
}
