/* desktop.c -- how a desktop application embeds dsv3: the model is loaded
 * and prefetched on a worker thread while the UI thread draws a progress
 * bar; generation runs on a worker thread too, streaming text to the UI,
 * and the UI thread can cancel either at any moment. The "UI" here is the
 * terminal: progress and status on stderr, the text on stdout, and a line
 * on stdin (Enter) cancels. --cancel-after-tokens N makes the UI cancel by
 * itself once it has shown N tokens (for scripted runs).
 *
 *   dsv3-desktop [-m MODEL] [-p PROMPT] [-n N] [--temp T] [--seed S]
 *                [--cancel-after-tokens N]
 *
 * Only the public API (dsv3.h) is used; link against libdsv3. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsv3.h"

#ifndef DSV3_DEFAULT_MODEL_DIR
#define DSV3_DEFAULT_MODEL_DIR "examples/models/austen-v3-tiny"
#endif

/* What the worker threads share with the UI thread. The worker writes,
 * the UI reads: progress as atomics, text under a mutex. */
typedef struct app {
    const char *model_path, *prompt;
    int max_tokens;
    float temperature;
    uint64_t seed;

    atomic_int cancel;             /* set by the UI; polled by callbacks     */
    atomic_int phase;              /* enum phase                             */
    atomic_uint_fast64_t done, total;

    dsv3_model *model;             /* owned by the loader until PHASE_READY  */
    char load_err[512];
    int load_status;

    pthread_mutex_t lock;
    char *text;                    /* generated so far                       */
    size_t text_len, text_cap;
    int n_tokens;
    int gen_status;
    struct dsv3_generate_result result;
    char gen_err[512];
} app;

enum phase { PHASE_LOADING, PHASE_PREFETCHING, PHASE_READY, PHASE_LOAD_FAILED, PHASE_GENERATING, PHASE_DONE };

static int on_progress(void *user, uint64_t done, uint64_t total) {
    app *a = user;
    atomic_store(&a->total, total);
    atomic_store(&a->done, done);
    return atomic_load(&a->cancel) ? 1 : 0;
}

static void *loader(void *user) {
    app *a = user;
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    a->load_status = dsv3_model_load(a->model_path, &mp, &a->model, a->load_err, sizeof a->load_err);
    if (a->load_status == DSV3_OK) {
        atomic_store(&a->phase, PHASE_PREFETCHING);
        /* Without this the load returns at once and the first token pays
         * for reading the whole model, with nothing to show meanwhile. */
        a->load_status = dsv3_model_prefetch(a->model, on_progress, a);
        if (a->load_status != DSV3_OK) {
            snprintf(a->load_err, sizeof a->load_err, "%s", a->load_status == DSV3_ERR_CANCELLED ?
                     "loading cancelled" : "prefetch failed");
            dsv3_model_free(a->model);
            a->model = NULL;
        }
    }
    atomic_store(&a->phase, a->load_status == DSV3_OK ? PHASE_READY : PHASE_LOAD_FAILED);
    return NULL;
}

static int on_token(void *user, int32_t token, const char *piece, size_t len) {
    (void)token;
    app *a = user;
    pthread_mutex_lock(&a->lock);
    if (a->text_len + len + 1 > a->text_cap) {
        size_t cap = (a->text_len + len + 1) * 2;
        char *t = realloc(a->text, cap);
        if (!t) { pthread_mutex_unlock(&a->lock); return -1; }
        a->text = t;
        a->text_cap = cap;
    }
    memcpy(a->text + a->text_len, piece, len);
    a->text_len += len;
    a->text[a->text_len] = 0;
    a->n_tokens++;
    pthread_mutex_unlock(&a->lock);
    return atomic_load(&a->cancel) ? -1 : 0;
}

static void *generator(void *user) {
    app *a = user;
    dsv3_tokenizer *tok = NULL;
    dsv3_session *s = NULL;
    dsv3_sampler *smp = NULL;
    int32_t *ids = NULL;
    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    int rc = dsv3_model_get_info(a->model, &info);
    if (!rc) rc = dsv3_tokenizer_load(a->model_path, &tok, a->gen_err, sizeof a->gen_err);
    if (!rc) rc = dsv3_session_create(a->model, NULL, &s, a->gen_err, sizeof a->gen_err);
    struct dsv3_sampler_params sp;
    dsv3_sampler_params_init(&sp, sizeof sp);
    sp.temperature = a->temperature;
    sp.seed = a->seed;
    if (!rc) rc = dsv3_sampler_create(&sp, info.vocab_size, &smp);
    size_t n = 0, cap = strlen(a->prompt) + 2;
    if (!rc) rc = (ids = malloc(sizeof *ids * cap)) ? DSV3_OK : DSV3_ERR_NO_MEMORY;
    if (!rc)
        rc = dsv3_tokenize(tok, a->prompt, strlen(a->prompt),
                           dsv3_tokenizer_add_bos(tok) ? DSV3_TOKENIZE_ADD_BOS : 0, ids, cap, &n);
    if (!rc) {
        struct dsv3_generate_params gp;
        dsv3_generate_params_init(&gp, sizeof gp);
        gp.max_tokens = a->max_tokens;
        gp.on_token = on_token;
        gp.user = a;
        a->result.struct_size = sizeof a->result;
        rc = dsv3_generate(s, tok, smp, ids, n, &gp, &a->result);
        if (rc && rc != DSV3_ERR_CANCELLED)
            snprintf(a->gen_err, sizeof a->gen_err, "%s", dsv3_session_last_error(s));
    }
    a->gen_status = rc;
    free(ids);
    dsv3_sampler_free(smp);
    dsv3_session_free(s);
    dsv3_tokenizer_free(tok);
    atomic_store(&a->phase, PHASE_DONE);
    return NULL;
}

/* The UI's event check: a line on stdin asks to cancel. */
static int user_pressed_enter(void) {
    struct pollfd p = {0, POLLIN, 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
        char line[256];
        if (fgets(line, sizeof line, stdin)) return 1;
    }
    return 0;
}

static void frame_wait(void) {
    struct timespec ts = {0, 20 * 1000 * 1000}; /* a 50 Hz UI loop */
    nanosleep(&ts, NULL);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void) {
    fprintf(stderr, "usage: dsv3-desktop [-m MODEL] [-p PROMPT] [-n N] [--temp T] [--seed S] "
                    "[--cancel-after-tokens N]\n");
}

int main(int argc, char **argv) {
    app a;
    memset(&a, 0, sizeof a);
    a.model_path = DSV3_DEFAULT_MODEL_DIR;
    a.prompt = "It is a truth universally acknowledged";
    a.max_tokens = 64;
    a.temperature = 0.8f;
    int cancel_after = -1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "-m") && v) a.model_path = argv[++i];
        else if (!strcmp(argv[i], "-p") && v) a.prompt = argv[++i];
        else if (!strcmp(argv[i], "-n") && v) a.max_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--temp") && v) a.temperature = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && v) a.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--cancel-after-tokens") && v) cancel_after = atoi(argv[++i]);
        else { usage(); return 2; }
    }
    pthread_mutex_init(&a.lock, NULL);
    atomic_init(&a.cancel, 0);
    atomic_init(&a.phase, PHASE_LOADING);
    atomic_init(&a.done, 0);
    atomic_init(&a.total, 0);

    /* 1. load on a worker; the UI keeps drawing and can cancel */
    double t0 = now_s();
    pthread_t th;
    if (pthread_create(&th, NULL, loader, &a)) { fprintf(stderr, "cannot start a thread\n"); return 1; }
    int last_pct = -1;
    while (atomic_load(&a.phase) < PHASE_READY) {
        if (user_pressed_enter()) atomic_store(&a.cancel, 1);
        uint64_t d = atomic_load(&a.done), t = atomic_load(&a.total);
        int pct = t ? (int)(100 * d / t) : 0;
        if (pct != last_pct && atomic_load(&a.phase) == PHASE_PREFETCHING) {
            fprintf(stderr, "\rloading %-40.*s %3d%%", pct * 40 / 100, "########################################", pct);
            last_pct = pct;
        }
        frame_wait();
    }
    pthread_join(th, NULL);
    if (atomic_load(&a.phase) == PHASE_LOAD_FAILED) {
        fprintf(stderr, "\n%s (%s)\n", a.load_err, dsv3_status_string(a.load_status));
        return 1;
    }
    fprintf(stderr, "\rloaded %s: %.1f MB in %.2f s%30s\n", a.model_path, (double)atomic_load(&a.total) / 1e6,
            now_s() - t0, "");

    /* 2. generate on a worker; the UI shows the text as it comes */
    atomic_store(&a.phase, PHASE_GENERATING);
    if (pthread_create(&th, NULL, generator, &a)) { fprintf(stderr, "cannot start a thread\n"); return 1; }
    fputs(a.prompt, stdout);
    size_t shown = 0;
    for (;;) {
        int finished = atomic_load(&a.phase) == PHASE_DONE;
        pthread_mutex_lock(&a.lock);
        if (a.text_len > shown) {
            fwrite(a.text + shown, 1, a.text_len - shown, stdout);
            fflush(stdout);
            shown = a.text_len;
        }
        int n_tokens = a.n_tokens;
        pthread_mutex_unlock(&a.lock);
        if (finished) break;
        if (user_pressed_enter() || (cancel_after >= 0 && n_tokens >= cancel_after)) atomic_store(&a.cancel, 1);
        frame_wait();
    }
    pthread_join(th, NULL);
    printf("\n");
    int rc = 0;
    if (a.gen_status == DSV3_ERR_CANCELLED) {
        fprintf(stderr, "[cancelled after %d tokens]\n", a.n_tokens);
    } else if (a.gen_status) {
        fprintf(stderr, "generation failed: %s (%s)\n", a.gen_err, dsv3_status_string(a.gen_status));
        rc = 1;
    } else {
        fprintf(stderr, "[%d tokens, %.1f tok/s]\n", a.result.n_generated, a.result.generate_tokens_per_s);
    }
    dsv3_model_free(a.model);
    free(a.text);
    pthread_mutex_destroy(&a.lock);
    return rc;
}
