/* main.c -- dsv3-server: options, model and tokenizer, the slots, the HTTP
 * daemon, and a clean stop on SIGINT/SIGTERM. */
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

static void usage(void) {
    fprintf(stderr,
            "usage: dsv3-server [-m PATH] [--host 127.0.0.1] [--port 8080] [--parallel N] [-c CTX]\n"
            "                   [--api-key KEY] [--mtp] [--mtp-depth N] [--backend NAME] [-t N] [--alias NAME]\n"
            "                   [--queue N] [--max-tokens N] [--max-body BYTES] [--timeout SECONDS]\n"
            "                   [--quiet] [--test-hooks]\n"
            "  -m PATH          checkpoint directory or GGUF file (default: the demo model)\n"
            "  --parallel N     generation slots, one session each (default 1)\n"
            "  -c CTX           context length of each slot (default: min(4096, the model's))\n"
            "  --api-key KEY    require \"Authorization: Bearer KEY\" (or set DSV3_API_KEY)\n"
            "  --mtp            speculative decoding with the model's MTP module (same tokens, sooner)\n"
            "  --mtp-depth N    draft tokens per step with --mtp (default 1)\n"
            "  --repack         pack Q8_0/Q4_0/Q5_0 weights for the x86 CPU kernels (faster; costs RAM equal to them)\n"
            "  --queue N        requests that may wait for a slot; more get 429 (default 16)\n"
            "  --max-tokens N   cap on a reply's tokens (default 2048)\n"
            "  --max-body BYTES largest request body (default 1048576)\n"
            "  --timeout S      idle seconds before a connection is closed (default 60)\n"
            "  --test-hooks     accept \"dsv3_test_reply\" in requests (tests only)\n");
}

static int parse_int(const char *v, long lo, long hi, long *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int parse_args(int argc, char **argv, srv_options *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->parallel = 1;
    o->queue = 16;
    o->timeout_s = 60;
    o->max_tokens = 2048;
    o->max_body = 1 << 20;
    o->backend = "auto";
    o->api_key = getenv("DSV3_API_KEY");
    if (o->api_key && !*o->api_key) o->api_key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); exit(0); }
        if (!strcmp(a, "--mtp")) { o->mtp = 1; continue; }
        if (!strcmp(a, "--test-hooks")) { o->test_hooks = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (!strcmp(a, "--repack")) { o->repack = 1; continue; }
        if (!v) { fprintf(stderr, "dsv3-server: option %s needs a value (or is unknown)\n", a); return 0; }
        i++;
#define INT_OPT(lo, hi, dst)                                                                           \
    do {                                                                                               \
        if (!parse_int(v, lo, hi, &x)) {                                                               \
            fprintf(stderr, "dsv3-server: %s must be an integer in [%ld, %ld]\n", a, (long)(lo), (long)(hi)); \
            return 0;                                                                                  \
        }                                                                                              \
        dst = x;                                                                                       \
    } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model_path = v;
        else if (!strcmp(a, "--host")) o->host = v;
        else if (!strcmp(a, "--api-key")) o->api_key = v;
        else if (!strcmp(a, "--backend")) o->backend = v;
        else if (!strcmp(a, "--alias")) o->alias = v;
        else if (!strcmp(a, "--port")) INT_OPT(0, 65535, o->port);
        else if (!strcmp(a, "--parallel") || !strcmp(a, "-np")) INT_OPT(1, 256, o->parallel);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) INT_OPT(0, 1L << 24, o->n_ctx);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT_OPT(0, 1024, o->threads);
        else if (!strcmp(a, "--queue")) INT_OPT(0, 100000, o->queue);
        else if (!strcmp(a, "--max-tokens")) INT_OPT(1, 1L << 24, o->max_tokens);
        else if (!strcmp(a, "--max-body")) INT_OPT(1024, 1L << 30, o->max_body);
        else if (!strcmp(a, "--timeout")) INT_OPT(1, 86400, o->timeout_s);
        else if (!strcmp(a, "--mtp-depth")) { INT_OPT(1, DSV3_MTP_MAX_DEPTH, o->mtp_depth); o->mtp = 1; }
        else { fprintf(stderr, "dsv3-server: unknown option %s\n", a); usage(); return 0; }
#undef INT_OPT
    }
#ifdef DSV3_DEFAULT_MODEL_DIR
    if (!o->model_path) o->model_path = DSV3_DEFAULT_MODEL_DIR;
#endif
    if (!o->model_path) { fprintf(stderr, "dsv3-server: -m PATH is required\n"); return 0; }
    return 1;
}

int main(int argc, char **argv) {
    srv_ctx c;
    memset(&c, 0, sizeof c);
    if (!parse_args(argc, argv, &c.o)) return 2;
    /* the signals are taken synchronously below; every thread inherits the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = c.o.backend;
    mp.n_threads = c.o.threads;
    mp.repack = c.o.repack;
    int rc = dsv3_model_load(c.o.model_path, &mp, &c.model, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3-server: %s (%s)\n", err, dsv3_status_string(rc)); return 1; }
    c.info.struct_size = sizeof c.info;
    dsv3_model_get_info(c.model, &c.info);
    rc = dsv3_tokenizer_load(c.o.model_path, &c.tok, err, sizeof err);
    if (rc) {
        fprintf(stderr, "dsv3-server: the model needs a tokenizer: %s (%s)\n", err, dsv3_status_string(rc));
        dsv3_model_free(c.model);
        return 1;
    }
    if (c.o.mtp && c.info.n_mtp_layers == 0) fprintf(stderr, "dsv3-server: --mtp: the model has no MTP layer; ignored\n");
    {
        char *p = strdup(c.o.model_path);
        size_t L = p ? strlen(p) : 0;
        while (L > 1 && p[L - 1] == '/') p[--L] = 0;
        snprintf(c.model_id, sizeof c.model_id, "%s", c.o.alias ? c.o.alias : p ? basename(p) : "model");
        free(p);
    }
    srv_pool_params pp = {c.model, c.tok, c.o.parallel, c.o.n_ctx, c.o.queue, c.o.max_tokens,
                          c.o.mtp && c.info.n_mtp_layers > 0, c.o.mtp_depth, c.o.quiet};
    c.pool = srv_pool_create(&pp, err, sizeof err);
    if (!c.pool) {
        fprintf(stderr, "dsv3-server: %s\n", err);
        dsv3_tokenizer_free(c.tok);
        dsv3_model_free(c.model);
        return 1;
    }
    c.started = (long long)time(NULL);
    int port = 0;
    void *d = srv_http_start(&c, &port);
    if (!d) {
        srv_pool_free(c.pool);
        dsv3_tokenizer_free(c.tok);
        dsv3_model_free(c.model);
        return 1;
    }
    fprintf(stderr, "dsv3-server: model %s (%s, %s backend), %d slot%s of %d tokens%s\n", c.model_id, c.info.architecture,
            c.info.backend, c.o.parallel, c.o.parallel == 1 ? "" : "s", (int)srv_pool_n_ctx(c.pool),
            c.o.api_key ? ", API key required" : "");
    fprintf(stderr, "dsv3-server: listening on http://%s:%d/\n", c.o.host, port);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "dsv3-server: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv_pool_shutdown(c.pool); /* running jobs are cancelled, queued ones answered */
    srv_http_stop(d);          /* the connections finish with what their jobs hold */
    srv_pool_free(c.pool);
    dsv3_tokenizer_free(c.tok);
    dsv3_model_free(c.model);
    return 0;
}
