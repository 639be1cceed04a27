/* cmd_perplexity.c -- `dsv3 perplexity -m PATH -f FILE [--ctx N]`: the
 * text is tokenized once and cut into windows of N tokens; each window
 * starts a fresh session with BOS and every text token in it is scored, so
 * the first tokens of a window see little context (as in llama.cpp's
 * default). Prints perplexity = exp(mean negative log-likelihood). */
#include <math.h>
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

/* -log softmax(logits)[target], in double */
static double nll(const float *logits, int V, int target) {
    double mx = logits[0];
    for (int v = 1; v < V; v++) if (logits[v] > mx) mx = logits[v];
    double z = 0;
    for (int v = 0; v < V; v++) z += exp((double)logits[v] - mx);
    return log(z) + mx - logits[target];
}

int cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *backend = "auto";
    int ctx = 512, threads = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "dsv3 perplexity: option %s needs a value (or is unknown)\n", a); return 2; }
        if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "-f")) file = v;
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) ctx = atoi(v);
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "--backend")) backend = v;
        else { fprintf(stderr, "dsv3 perplexity: unknown option %s\n", a); return 2; }
    }
    model = model ? model : cli_default_model();
    if (!model || !file || ctx < 2) {
        fprintf(stderr, "usage: dsv3 perplexity -m PATH -f FILE [--ctx N] [-t N] [--backend NAME]\n");
        return 2;
    }
    size_t len;
    char *text = read_file(file, &len);
    if (!text) { fprintf(stderr, "dsv3 perplexity: cannot read %s\n", file); return 1; }
    char err[512];
    dsv3_tokenizer *tok = NULL;
    int rc = dsv3_tokenizer_load(model, &tok, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 perplexity: %s\n", err); free(text); return 1; }
    size_t n = 0;
    dsv3_tokenize(tok, text, len, 0, NULL, 0, &n);
    int32_t *ids = malloc(sizeof *ids * (n ? n : 1));
    rc = ids ? dsv3_tokenize(tok, text, len, 0, ids, n, &n) : DSV3_ERR_NO_MEMORY;
    free(text);
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = backend;
    mp.n_threads = threads;
    dsv3_model *m = NULL;
    if (!rc) rc = dsv3_model_load(model, &mp, &m, err, sizeof err);
    if (rc) {
        fprintf(stderr, "dsv3 perplexity: %s\n", err[0] ? err : dsv3_status_string(rc));
        free(ids);
        dsv3_tokenizer_free(tok);
        return 1;
    }
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m, &info);
    const int V = info.vocab_size, bos = dsv3_tokenizer_bos(tok);
    const int has_bos = bos >= 0;
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = ctx;
    sp.mtp = 0;
    dsv3_session *s = NULL;
    rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    int32_t *win = malloc(sizeof *win * (size_t)ctx);
    float *logits = malloc(sizeof(float) * (size_t)ctx * V);
    double sum = 0, t0 = now_s();
    long scored = 0;
    const size_t per = (size_t)ctx - (size_t)has_bos; /* text tokens per window */
    for (size_t at = 0; !rc && win && logits && at < n; at += per) {
        size_t k = n - at < per ? n - at : per, w = 0;
        if (has_bos) win[w++] = bos;
        memcpy(win + w, ids + at, sizeof *win * k);
        w += k;
        dsv3_session_reset(s);
        rc = dsv3_session_step(s, win, (int32_t)w, logits, DSV3_STEP_LOGITS_ALL);
        /* logits row j predicts token j+1 */
        for (size_t j = 0; !rc && j + 1 < w; j++) { sum += nll(logits + j * (size_t)V, V, win[j + 1]); scored++; }
        if (!rc) fprintf(stderr, "\r[%zu/%zu tokens] ppl %.4f", at + k, n, exp(sum / (scored ? scored : 1)));
    }
    double dt = now_s() - t0;
    if (rc) fprintf(stderr, "\ndsv3 perplexity: %s\n", s ? dsv3_session_last_error(s) : err);
    else {
        fprintf(stderr, "\n");
        printf("perplexity %.4f over %ld tokens (windows of %d), %.1f tokens/s\n", exp(sum / (double)scored), scored, ctx,
               (double)n / dt);
    }
    free(win);
    free(logits);
    free(ids);
    dsv3_session_free(s);
    dsv3_model_free(m);
    dsv3_tokenizer_free(tok);
    return rc ? 1 : 0;
}
