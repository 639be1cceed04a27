/* cmd_perplexity.c -- `dsv3 perplexity -m PATH -f FILE [--ctx N]`: the
 * text is tokenized once and cut into windows of N tokens; each window
 * starts a fresh session with BOS and every text token in it is scored, so
 * the first tokens of a window see little context (as in llama.cpp's
 * default). Prints perplexity = exp(mean negative log-likelihood). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "options.h"
#include "progress.h"
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
    int ctx = 512, threads = 0, placement = 0;
    uint64_t gpu_budget = 0;
    const cli_opt opts[] = {
        OPT_STR("--model", "-m", &model, "PATH", "model directory or .gguf file"),
        OPT_STR("--file", "-f", &file, "FILE", "the text to score (required)"),
        OPT_INT("--ctx", "-c", &ctx, 2, 1 << 24, "N", "tokens per window (BOS included)"),
        OPT_INT("--threads", "-t", &threads, 0, 1024, "N", "worker threads, 0 = all cores"),
        OPT_STR("--backend", NULL, &backend, "NAME", "compute backend (dsv3 backends lists them)"),
        OPT_CHOICE("--placement", NULL, &placement, CLI_PLACEMENTS, "which weights a GPU backend holds"),
        OPT_BYTES("--gpu-budget", NULL, &gpu_budget, "BYTES", "GPU memory for weights and KV (K/M/G), 0 = the device's"),
    };
    const cli_cmd cmd = {"perplexity", "[-m PATH] -f FILE [--ctx N] [-t N] [--backend NAME]",
                         "Perplexity (exp of the mean negative log-likelihood) of a text: the text is cut into\n"
                         "windows of N tokens, each starting with BOS in a fresh context. Needs at least one\n"
                         "scored token. Without -m: the demo model.",
                         "  dsv3 perplexity -f examples/models/austen-v3-tiny/heldout.txt --ctx 256", opts,
                         (int)(sizeof opts / sizeof opts[0])};
    int pr = cli_parse(&cmd, argc, argv);
    if (pr) return pr == 1 ? 0 : 2;
    model = model ? model : cli_default_model();
    if (!model) return cli_usage_error(&cmd, "-m PATH is required (no demo model found)");
    if (!file) return cli_usage_error(&cmd, "-f FILE is required");
    size_t len;
    char *text = read_file(file, &len);
    if (!text) { fprintf(stderr, "dsv3 perplexity: cannot read %s: %s\n", file, strerror(errno)); return 1; }
    char err[512];
    dsv3_tokenizer *tok = NULL;
    int rc = dsv3_tokenizer_load(model, &tok, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 perplexity: %s\n", err); free(text); return 1; }
    size_t n = 0;
    dsv3_tokenize(tok, text, len, 0, NULL, 0, &n);
    int32_t *ids = malloc(sizeof *ids * (n ? n : 1));
    rc = ids ? dsv3_tokenize(tok, text, len, 0, ids, n, &n) : DSV3_ERR_NO_MEMORY;
    free(text);
    /* Scoring needs a token to predict: with BOS first, one text token
     * will do; without a BOS, two. */
    const size_t need = dsv3_tokenizer_bos(tok) >= 0 ? 1 : 2;
    if (!rc && n < need) {
        fprintf(stderr, "dsv3 perplexity: %s has %zu token%s; scoring needs at least %zu\n", file, n,
                n == 1 ? "" : "s", need);
        free(ids);
        dsv3_tokenizer_free(tok);
        return 1;
    }
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = backend;
    mp.n_threads = threads;
    mp.placement = cli_placement_name(placement);
    mp.gpu_budget = gpu_budget;
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
    cli_progress prog;
    cli_progress_start(&prog, "dsv3 perplexity", "tokens", n);
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
        if (!rc) {
            char ppl[48];
            snprintf(ppl, sizeof ppl, "ppl %.4f", exp(sum / (double)(scored ? scored : 1)));
            cli_progress_update(&prog, at + k, ppl);
        }
    }
    double dt = now_s() - t0;
    cli_progress_end(&prog);
    if (rc) fprintf(stderr, "dsv3 perplexity: %s\n", s ? dsv3_session_last_error(s) : err);
    else {
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
