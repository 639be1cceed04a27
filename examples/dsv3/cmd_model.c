/* cmd_model.c -- subcommands that load a model: info, logits, mtp-logits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "options.h"
#include "dsv3.h"

typedef struct opts {
    const char *model, *backend, *out, *tokens;
    int threads, all, no_mmap, placement, repack;
    uint64_t gpu_budget;
} opts;

/* 0: parsed; otherwise the exit status (0 after --help, 2 on a usage error). */
static int parse(int argc, char **argv, opts *o, const char *cmd) {
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    const int is_info = !strcmp(cmd, "info"), mtp = !strcmp(cmd, "mtp-logits");
    const cli_opt all[] = {
        OPT_STR("--model", "-m", &o->model, "PATH", "model directory or .gguf file"),
        OPT_STR("--backend", NULL, &o->backend, "NAME", "compute backend (dsv3 backends lists them)"),
        OPT_INT("--threads", "-t", &o->threads, 0, 1024, "N", "worker threads, 0 = all cores"),
        OPT_FLAG("--no-mmap", NULL, &o->no_mmap, "read the weights into memory instead of mapping them"),
        OPT_CHOICE("--placement", NULL, &o->placement, CLI_PLACEMENTS, "which weights a GPU backend holds"),
        OPT_BYTES("--gpu-budget", NULL, &o->gpu_budget, "BYTES", "GPU memory for weights and KV (K/M/G), 0 = the device's"),
        OPT_FLAG("--repack", NULL, &o->repack, CLI_REPACK_HELP),
        /* logits and mtp-logits only */
        OPT_STR("--tokens", NULL, &o->tokens, "1,2,3", "input token ids (required)"),
        OPT_STR("--out", "-o", &o->out, "FILE", "where the float32 logits go (required)"),
        OPT_FLAG("--all", NULL, &o->all, "every position's logits, not only the last"),
    };
    const int n = is_info ? 7 : 10; /* mtp-logits writes every row anyway: --all is accepted, changes nothing */
    cli_cmd c = {cmd, "[-m PATH] [--backend NAME] [--placement P] [--gpu-budget BYTES] [--repack] [-t N] [--no-mmap]",
                 "Load a model and print its architecture, sizes and load time. Without -m: the demo model.",
                 "  dsv3 info\n  dsv3 info -m model.gguf\n  dsv3 info -m model.gguf --backend vulkan --placement experts-on-cpu",
                 all, n};
    if (!is_info) {
        c.usage = mtp ? "[-m PATH] --tokens 1,2,3 --out FILE [--backend NAME] [-t N]"
                      : "[-m PATH] --tokens 1,2,3 --out FILE [--all] [--backend NAME] [-t N]";
        c.about = mtp ? "Run the tokens through the model, then its multi-token-prediction layer; write the MTP\n"
                        "layer's logits (one float32 row of vocab_size per token) to FILE."
                      : "Run the tokens through the model and write the logits (float32, vocab_size per row;\n"
                        "the last row, or every row with --all) to FILE.";
        c.example = mtp ? "  dsv3 mtp-logits -m ckpt --tokens 1,2,3 --out mtp.bin" : "  dsv3 logits --tokens 1,2,3 --all --out logits.bin";
    }
    int pr = cli_parse(&c, argc, argv);
    if (pr) return pr == 1 ? -1 : 2;
    if (!o->model) o->model = cli_default_model(); /* the demo model that ships with dsv3 */
    if (!o->model) return cli_usage_error(&c, "-m PATH is required (no demo model found)");
    if (!is_info && (!o->tokens || !o->out)) return cli_usage_error(&c, "--tokens and --out are required");
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double g_load_ms;

static dsv3_model *load(const opts *o, const char *cmd) {
    struct dsv3_model_params p;
    dsv3_model_params_init(&p, sizeof p);
    double t0 = now_ms();
    p.backend = o->backend;
    p.n_threads = o->threads;
    p.use_mmap = !o->no_mmap;
    p.placement = cli_placement_name(o->placement);
    p.gpu_budget = o->gpu_budget;
    p.repack = o->repack;
    char err[512];
    dsv3_model *m = NULL;
    int rc = dsv3_model_load(o->model, &p, &m, err, sizeof err);
    if (rc) fprintf(stderr, "dsv3 %s: %s (%s)\n", cmd, err, dsv3_status_string(rc));
    g_load_ms = now_ms() - t0;
    return m;
}

/* A text of several lines, the first after the label, the rest under it. */
static void print_lines(const char *label, const char *text) {
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, "\n");
        printf("%-17s %.*s\n", label, (int)l, p);
        label = "";
        p += l + (p[l] == '\n');
    }
}

int cmd_info(int argc, char **argv) {
    opts o;
    int pr = parse(argc, argv, &o, "info");
    if (pr) return pr < 0 ? 0 : pr;
    dsv3_model *m = load(&o, "info");
    if (!m) return 1;
    struct dsv3_model_info i;
    i.struct_size = sizeof i;
    dsv3_model_get_info(m, &i);
    printf("model             %s\n", o.model);
    printf("architecture      %s\n", i.architecture);
    printf("backend           %s (%d thread%s)\n", i.backend, i.n_threads, i.n_threads == 1 ? "" : "s");
    if (!strcmp(i.device, "cpu"))
        printf("device            cpu (%.1f MiB of weights in host memory)\n", i.host_weight_bytes / 1048576.0);
    else
        printf("device            %s (%.1f MiB of weights on it, %.1f MiB in host memory)\n", i.device,
               i.device_bytes / 1048576.0, i.host_weight_bytes / 1048576.0);
    if (i.repacked_bytes)
        printf("repacked          %.1f MiB of packed weights in process memory (--repack)\n", i.repacked_bytes / 1048576.0);
    char place[4096];
    if (dsv3_model_placement(m, place, sizeof place) == DSV3_OK) print_lines("placement", place);
    printf("weights           %s, %.3f B parameters, %.1f MiB mapped\n", i.weight_dtype, i.n_params / 1e9,
           i.bytes_mapped / 1048576.0);
    printf("vocab             %d\n", i.vocab_size);
    printf("layers            %d (%d dense, %d MoE) + %d MTP\n", i.n_layers, i.n_dense_layers,
           i.n_layers - i.n_dense_layers, i.n_mtp_layers);
    printf("hidden            %d\n", i.hidden_size);
    printf("attention         MLA, %d heads, q_lora %d, kv_lora %d, nope/rope/v %d/%d/%d\n", i.n_heads, i.q_lora_rank,
           i.kv_lora_rank, i.qk_nope_head_dim, i.qk_rope_head_dim, i.v_head_dim);
    printf("experts           %d routed (%d per token) + %d shared\n", i.n_routed_experts, i.n_experts_per_token,
           i.n_shared_experts);
    printf("max context       %d\n", i.max_context);
    printf("KV cache          %llu bytes/token\n", (unsigned long long)i.kv_bytes_per_token);
    printf("load time         %.1f ms\n", g_load_ms);
    dsv3_model_free(m);
    return 0;
}

static int write_out(const char *path, const float *v, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof *v, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "dsv3: cannot write %s: %s\n", path, strerror(errno));
        return 0;
    }
    return 1;
}

static int run_logits(int argc, char **argv, int mtp) {
    const char *cmd = mtp ? "mtp-logits" : "logits";
    opts o;
    int pr = parse(argc, argv, &o, cmd);
    if (pr) return pr < 0 ? 0 : pr;
    int n;
    int32_t *tok = parse_tokens(o.tokens, &n);
    if (!tok) { fprintf(stderr, "dsv3 %s: --tokens must be a comma-separated list of integers\n", cmd); return 2; }
    dsv3_model *m = load(&o, cmd);
    if (!m) { free(tok); return 1; }
    struct dsv3_model_info i;
    i.struct_size = sizeof i;
    dsv3_model_get_info(m, &i);
    const size_t V = (size_t)i.vocab_size;
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = n < i.max_context ? n : i.max_context;
    dsv3_session *s = NULL;
    char err[512];
    int rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    float *logits = rc ? NULL : malloc(sizeof(float) * V * (size_t)n);
    if (rc || !logits) {
        fprintf(stderr, "dsv3 %s: %s\n", cmd, rc ? err : "out of memory");
        free(tok);
        dsv3_model_free(m);
        return 1;
    }
    int ok = 0;
    rc = dsv3_session_step(s, tok, n, logits, (o.all || mtp) ? DSV3_STEP_LOGITS_ALL : 0);
    if (!rc && mtp) {
        /* MTP row i pairs the hidden state at i with token i+1; the last row
         * uses the main model's argmax as the next token. */
        const float *last = logits + (size_t)(n - 1) * V;
        int32_t best = 0;
        for (size_t v = 1; v < V; v++) if (last[v] > last[best]) best = (int32_t)v;
        /* the main model's greedy choice at every position, kept to score
         * the drafts: MTP row i drafts token i+2, which the main model picks
         * as the argmax of its row i+1 */
        int32_t *greedy = malloc(sizeof *greedy * (size_t)n);
        for (int r = 0; greedy && r < n; r++) {
            const float *row = logits + (size_t)r * V;
            int32_t b = 0;
            for (size_t v = 1; v < V; v++) if (row[v] > row[b]) b = (int32_t)v;
            greedy[r] = b;
        }
        memmove(tok, tok + 1, sizeof *tok * (size_t)(n - 1));
        tok[n - 1] = best;
        rc = dsv3_session_mtp_step(s, tok, n, logits, DSV3_STEP_LOGITS_ALL);
        if (!rc && greedy && n > 1) {
            int agree = 0;
            for (int r = 0; r + 1 < n; r++) {
                const float *row = logits + (size_t)r * V;
                int32_t b = 0;
                for (size_t v = 1; v < V; v++) if (row[v] > row[b]) b = (int32_t)v;
                agree += b == greedy[r + 1];
            }
            fprintf(stderr, "MTP draft = main model's greedy next-next token at %d of %d positions (%.1f %%)\n", agree,
                    n - 1, 100.0 * agree / (n - 1));
        }
        free(greedy);
    }
    if (rc) fprintf(stderr, "dsv3 %s: %s (%s)\n", cmd, dsv3_session_last_error(s), dsv3_status_string(rc));
    else ok = write_out(o.out, logits, V * (size_t)((o.all || mtp) ? n : 1));
    free(logits);
    free(tok);
    dsv3_session_free(s);
    dsv3_model_free(m);
    return ok ? 0 : 1;
}

int cmd_logits(int argc, char **argv) { return run_logits(argc, argv, 0); }
int cmd_mtp_logits(int argc, char **argv) { return run_logits(argc, argv, 1); }
