/* cmd_text.c -- text subcommands: tokenize, detokenize, chat-template,
 * run (stream a completion) and chat (interactive). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dsv3.h"
#include "chat_save.h"
#include "fs_hint.h"
#include "options.h"
#include "progress.h"
#include "json.h" /* the library's own parser, for --messages files */

typedef struct topts {
    const char *model, *tokenizer, *text, *text_file, *ids, *messages, *prompt, *prompt_file, *backend, *system;
    int bos, add_gen, n_predict, threads, ctx, print_ids;
    int mtp, mtp_depth; /* --mtp, --mtp-depth K (0: the library's 1) */
    struct dsv3_sampler_params sp;
    int kv_type; /* DSV3_KV_* (--kv-type f32|f16|q8_0, in this order) */
    int placement; /* --placement, an index into CLI_PLACEMENTS */
    int repack;
    uint64_t gpu_budget;
} topts;

/* What each text command says about itself in --help. */
static const struct tcmd {
    const char *name, *usage, *about, *example;
} TCMDS[] = {
    {"tokenize", "[-m PATH | --tokenizer PATH] (--text STR | --text-file FILE) [--bos]",
     "Print the token ids of a text as a JSON array. Without -m or --tokenizer: the demo model's tokenizer.",
     "  dsv3 tokenize --text 'It is a truth universally acknowledged'"},
    {"detokenize", "[-m PATH | --tokenizer PATH] --ids 1,2,3", "Print the text of a list of token ids.",
     "  dsv3 detokenize --ids 1029,318,257"},
    {"chat-template", "[-m PATH | --tokenizer PATH] --messages FILE.json [--add-generation-prompt]",
     "Render a conversation ([{\"role\": ..., \"content\": ...}, ...]) with the model's chat template.",
     "  dsv3 chat-template --tokenizer DIR --messages msgs.json --add-generation-prompt"},
    {"run", "[-m PATH] (-p PROMPT | -f FILE | --tokens 1,2,3) [-n N] [sampling options] [-c CTX] [-t N]",
     "Continue a prompt: the prompt is echoed on stdout, then the generated text is streamed after it;\n"
     "a statistics line goes to stderr. Without -m: the demo model.",
     "  dsv3 run -p 'It is a truth universally acknowledged' -n 64\n  dsv3 run -f prompt.txt --temp 0"},
    {"chat", "[-m PATH] [--system TEXT] [-n N] [sampling options] [-c CTX] [-t N]",
     "Talk with a chat model: one message per line on stdin; /reset starts over, /quit (or end of\n"
     "input) leaves. When the context fills, the system prompt and the most recent turns are kept\n"
     "and the conversation goes on (a note says so on stderr). Without -m: the demo model.",
     "  dsv3 chat -m model.gguf --system 'You are terse.'\n  printf 'Hello\\n' | dsv3 chat -m model.gguf -n 32"},
};

/* 0: parsed; otherwise the exit status (0 after --help, 2 on a usage
 * error). Each command's table lists only the options it takes. */
static int parse(int argc, char **argv, topts *o, const char *cmd) {
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->n_predict = 128;
    dsv3_sampler_params_init(&o->sp, sizeof o->sp);
    const int tokenize = !strcmp(cmd, "tokenize"), detok = !strcmp(cmd, "detokenize"),
              tmpl = !strcmp(cmd, "chat-template"), run = !strcmp(cmd, "run"), chat = !strcmp(cmd, "chat");
    cli_opt opts[40];
    int n = 0;
#define ADD(...) (opts[n++] = (cli_opt)__VA_ARGS__)
    ADD(OPT_STR("--model", "-m", &o->model, "PATH", "model directory or .gguf file"));
    if (tokenize || detok || tmpl || run)
        ADD(OPT_STR("--tokenizer", NULL, &o->tokenizer, "PATH", "tokenizer.json's directory (instead of -m's)"));
    if (tokenize) {
        ADD(OPT_STR("--text", NULL, &o->text, "STR", "the text"));
        ADD(OPT_STR("--text-file", NULL, &o->text_file, "FILE", "the text, from a file"));
        ADD(OPT_FLAG("--bos", NULL, &o->bos, "put the BOS token first"));
    }
    if (detok) ADD(OPT_STR("--ids", "--tokens", &o->ids, "1,2,3", "token ids (required)"));
    if (tmpl) {
        ADD(OPT_STR("--messages", NULL, &o->messages, "FILE", "JSON array of messages (required)"));
        ADD(OPT_FLAG("--add-generation-prompt", NULL, &o->add_gen, "end with the assistant's turn opening"));
    }
    if (run) {
        ADD(OPT_STR("--prompt", "-p", &o->prompt, "TEXT", "the prompt"));
        ADD(OPT_STR("--file", "-f", &o->prompt_file, "FILE", "read the prompt from FILE"));
        ADD(OPT_STR("--tokens", NULL, &o->ids, "1,2,3", "the prompt as token ids (ids are printed back)"));
        ADD(OPT_FLAG("--print-ids", NULL, &o->print_ids, "print token ids instead of text"));
    }
    if (chat) ADD(OPT_STR("--system", NULL, &o->system, "TEXT", "system prompt, kept when the context fills"));
    if (run || chat) {
        ADD(OPT_INT("--n-predict", "-n", &o->n_predict, 0, 1000000, "N", "tokens to generate at most (per turn in chat)"));
        ADD(OPT_FLOAT("--temp", NULL, &o->sp.temperature, 0, 100, "T", "temperature, 0 = greedy"));
        ADD(OPT_INT("--top-k", NULL, &o->sp.top_k, 0, 1000000000, "K", "keep the K most likely tokens, 0 = off"));
        ADD(OPT_FLOAT_X("--top-p", NULL, &o->sp.top_p, 0, 1, CLI_LO_OPEN, "P", "nucleus sampling, 1 = off"));
        ADD(OPT_FLOAT_X("--min-p", NULL, &o->sp.min_p, 0, 1, CLI_HI_OPEN, "P", "drop tokens below P x the best's probability, 0 = off"));
        ADD(OPT_FLOAT_X("--repeat-penalty", NULL, &o->sp.repeat_penalty, 0, 100, CLI_LO_OPEN, "R", "penalty on recent tokens, 1 = off"));
        ADD(OPT_U64("--seed", NULL, &o->sp.seed, "S", "random seed (0: the library's fixed default)"));
        ADD(OPT_INT("--ctx", "-c", &o->ctx, 0, 1 << 24, "N", "context length, 0 = min(4096, the model's)"));
        ADD(OPT_INT("--threads", "-t", &o->threads, 0, 1024, "N", "worker threads, 0 = all cores"));
        ADD(OPT_STR("--backend", NULL, &o->backend, "NAME", "compute backend (dsv3 backends lists them)"));
        ADD(OPT_CHOICE("--placement", NULL, &o->placement, CLI_PLACEMENTS, "which weights a GPU backend holds"));
        ADD(OPT_BYTES("--gpu-budget", NULL, &o->gpu_budget, "BYTES", "GPU memory for weights and KV (K/M/G), 0 = the device's"));
        ADD(OPT_FLAG("--repack", NULL, &o->repack, CLI_REPACK_HELP));
        ADD(OPT_CHOICE("--kv-type", NULL, &o->kv_type, "f32|f16|q8_0", "KV cache storage"));
        ADD(OPT_FLAG("--mtp", NULL, &o->mtp, "speculative decoding with the model's MTP module (the same tokens)"));
        ADD(OPT_INT("--mtp-depth", NULL, &o->mtp_depth, 1, DSV3_MTP_MAX_DEPTH, "K", "tokens drafted per main step (implies --mtp)"));
    }
#undef ADD
    const struct tcmd *t = &TCMDS[0];
    for (size_t i = 0; i < sizeof TCMDS / sizeof TCMDS[0]; i++)
        if (!strcmp(TCMDS[i].name, cmd)) t = &TCMDS[i];
    const cli_cmd c = {t->name, t->usage, t->about, t->example, opts, n};
    int pr = cli_parse(&c, argc, argv);
    if (pr) return pr == 1 ? -1 : 2;
    static const int kv[] = {DSV3_KV_F32, DSV3_KV_F16, DSV3_KV_Q8_0};
    o->kv_type = kv[o->kv_type];
    if (run && (!!o->prompt + !!o->prompt_file + !!o->ids) != 1)
        return cli_usage_error(&c, "give one of -p PROMPT, -f FILE or --tokens 1,2,3");
    if (tokenize && !o->text == !o->text_file) return cli_usage_error(&c, "give exactly one of --text or --text-file");
    if (detok && !o->ids) return cli_usage_error(&c, "--ids 1,2,3 is required");
    if (tmpl && !o->messages) return cli_usage_error(&c, "--messages FILE.json is required");
    /* Without -m or --tokenizer, the demo model that ships with dsv3. */
    if (!o->model && !o->tokenizer) o->model = cli_default_model();
    if (!o->model && !o->tokenizer) return cli_usage_error(&c, "-m PATH is required (no demo model found)");
    return 0;
}

/* The tokenizer of -m (a checkpoint directory) or --tokenizer. quiet: a
 * missing tokenizer is not an error (run/chat fall back to ids). */
static dsv3_tokenizer *load_tok(const topts *o, const char *cmd, int quiet) {
    const char *path = o->tokenizer ? o->tokenizer : o->model;
    if (!path) {
        fprintf(stderr, "dsv3 %s: give -m PATH or --tokenizer PATH\n", cmd);
        return NULL;
    }
    if (quiet && !o->tokenizer) {
        /* a checkpoint directory without tokenizer.json: ids only; a GGUF
         * file carries its tokenizer in its metadata */
        char p[4096];
        struct stat st;
        if (stat(path, &st) != 0) return NULL;
        if (S_ISDIR(st.st_mode)) {
            snprintf(p, sizeof p, "%s/tokenizer.json", path);
            if (stat(p, &st) != 0) return NULL;
        } else {
            dsv3_tokenizer *t = NULL;
            return dsv3_tokenizer_load(path, &t, NULL, 0) == DSV3_OK ? t : NULL;
        }
    }
    dsv3_tokenizer *t = NULL;
    char err[512];
    int rc = dsv3_tokenizer_load(path, &t, err, sizeof err);
    if (rc) fprintf(stderr, "dsv3 %s: %s (%s)\n", cmd, err, dsv3_status_string(rc));
    return t;
}

static int32_t *encode(const dsv3_tokenizer *t, const char *text, size_t len, unsigned flags, size_t *n) {
    size_t cap = len + 8;
    int32_t *ids = malloc(sizeof *ids * cap);
    if (!ids) return NULL;
    int rc = dsv3_tokenize(t, text, len, flags, ids, cap, n);
    if (rc == DSV3_ERR_TOO_SMALL) {
        cap = *n;
        int32_t *ni = realloc(ids, sizeof *ids * (cap ? cap : 1));
        if (!ni) { free(ids); return NULL; }
        ids = ni;
        rc = dsv3_tokenize(t, text, len, flags, ids, cap, n);
    }
    if (rc) { free(ids); return NULL; }
    return ids;
}

int cmd_tokenize(int argc, char **argv) {
    topts o;
    int pa = parse(argc, argv, &o, "tokenize");
    if (pa) return pa < 0 ? 0 : pa;
    dsv3_tokenizer *t = load_tok(&o, "tokenize", 0);
    if (!t) return 1;
    size_t len = 0;
    char *text = o.text ? strdup(o.text) : read_file(o.text_file, &len);
    if (!text) { fprintf(stderr, "dsv3 tokenize: cannot read %s\n", o.text_file); dsv3_tokenizer_free(t); return 1; }
    if (o.text) len = strlen(text);
    size_t n;
    int32_t *ids = encode(t, text, len, o.bos ? DSV3_TOKENIZE_ADD_BOS : 0, &n);
    int ok = ids != NULL;
    if (ok) {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("]\n");
    } else {
        fprintf(stderr, "dsv3 tokenize: encoding failed\n");
    }
    free(ids);
    free(text);
    dsv3_tokenizer_free(t);
    return ok ? 0 : 1;
}

int cmd_detokenize(int argc, char **argv) {
    topts o;
    int pa = parse(argc, argv, &o, "detokenize");
    if (pa) return pa < 0 ? 0 : pa;
    int n;
    int32_t *ids = o.ids ? parse_tokens(o.ids, &n) : NULL;
    if (!ids) { fprintf(stderr, "dsv3 detokenize: --ids 1,2,3 is required\n"); return 2; }
    dsv3_tokenizer *t = load_tok(&o, "detokenize", 0);
    if (!t) { free(ids); return 1; }
    size_t len = 0;
    dsv3_detokenize(t, ids, (size_t)n, 0, NULL, 0, &len);
    char *text = malloc(len + 1);
    int rc = text ? dsv3_detokenize(t, ids, (size_t)n, 0, text, len + 1, &len) : DSV3_ERR_NO_MEMORY;
    if (rc) fprintf(stderr, "dsv3 detokenize: %s\n", dsv3_status_string(rc));
    else { fwrite(text, 1, len, stdout); putchar('\n'); }
    free(text);
    free(ids);
    dsv3_tokenizer_free(t);
    return rc ? 1 : 0;
}

/* A conversation being built: messages whose strings we own. */
typedef struct convo {
    struct dsv3_chat_message *m;
    struct dsv3_tool_call *calls; /* all tool calls, referenced by m[] */
    size_t n, cap, n_calls;
} convo;

static void convo_free(convo *c) {
    for (size_t i = 0; i < c->n; i++) { free((char *)c->m[i].role); free((char *)c->m[i].content); }
    for (size_t i = 0; i < c->n_calls; i++) {
        free((char *)c->calls[i].type); free((char *)c->calls[i].name); free((char *)c->calls[i].arguments);
    }
    free(c->m);
    free(c->calls);
    memset(c, 0, sizeof *c);
}

static int convo_add(convo *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        struct dsv3_chat_message *nm = realloc(c->m, nc * sizeof *nm);
        if (!nm) return 0;
        c->m = nm;
        c->cap = nc;
    }
    memset(&c->m[c->n], 0, sizeof c->m[c->n]);
    c->m[c->n].role = strdup(role);
    c->m[c->n].content = content ? strdup(content) : NULL;
    c->n++;
    return 1;
}

static char *jstr(const json_value *v) { return v && v->type == JSON_STRING ? strdup(v->str) : NULL; }

/* [{"role":..,"content":..,"tool_calls":[{"type":..,"function":{"name":..,"arguments":..}}]}] */
static int convo_from_json(convo *c, const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) { fprintf(stderr, "dsv3: cannot read %s\n", path); return 0; }
    json_doc *d = NULL;
    char err[256];
    int ok = json_parse(text, len, &d, err, sizeof err) == 0;
    free(text);
    if (!ok) { fprintf(stderr, "dsv3: %s: %s\n", path, err); return 0; }
    const json_value *r = json_root(d);
    if (r->type == JSON_OBJECT) r = json_get(r, "messages");
    if (!r || r->type != JSON_ARRAY) { fprintf(stderr, "dsv3: %s: expected an array of messages\n", path); json_free(d); return 0; }
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++) {
        const json_value *tc = json_get(&r->items[i], "tool_calls");
        if (tc && tc->type == JSON_ARRAY) total += tc->n;
    }
    c->calls = calloc(total ? total : 1, sizeof *c->calls);
    for (size_t i = 0; ok && c->calls && i < r->n; i++) {
        const json_value *m = &r->items[i], *role = json_get(m, "role"), *content = json_get(m, "content");
        if (!role || role->type != JSON_STRING) { fprintf(stderr, "dsv3: %s: message %zu has no role\n", path, i); ok = 0; break; }
        ok = convo_add(c, role->str, content && content->type == JSON_STRING ? content->str : NULL);
        const json_value *tc = json_get(m, "tool_calls");
        if (ok && tc && tc->type == JSON_ARRAY) {
            c->m[c->n - 1].tool_calls = c->calls + c->n_calls;
            c->m[c->n - 1].n_tool_calls = tc->n;
            for (size_t k = 0; k < tc->n; k++) {
                const json_value *f = json_get(&tc->items[k], "function");
                struct dsv3_tool_call *call = &c->calls[c->n_calls++];
                call->type = jstr(json_get(&tc->items[k], "type"));
                call->name = jstr(json_get(f, "name"));
                call->arguments = jstr(json_get(f, "arguments"));
                if (!call->type) call->type = strdup("function");
                if (!call->name) call->name = strdup("");
                if (!call->arguments) call->arguments = strdup("");
            }
        }
    }
    json_free(d);
    return ok && c->calls;
}

static char *render(const dsv3_tokenizer *t, const convo *c, int add_gen, size_t *len) {
    dsv3_chat_render(t, c->m, c->n, add_gen, NULL, 0, len);
    char *text = malloc(*len + 1);
    if (text && dsv3_chat_render(t, c->m, c->n, add_gen, text, *len + 1, len) != DSV3_OK) { free(text); text = NULL; }
    return text;
}

int cmd_chat_template(int argc, char **argv) {
    topts o;
    int pa = parse(argc, argv, &o, "chat-template");
    if (pa) return pa < 0 ? 0 : pa;
    dsv3_tokenizer *t = load_tok(&o, "chat-template", 0);
    if (!t) return 1;
    convo c = {0};
    int ok = convo_from_json(&c, o.messages);
    size_t len = 0;
    char *text = ok ? render(t, &c, o.add_gen, &len) : NULL;
    if (text) fwrite(text, 1, len, stdout);
    else if (ok) fprintf(stderr, "dsv3 chat-template: rendering failed\n");
    free(text);
    convo_free(&c);
    dsv3_tokenizer_free(t);
    return text ? 0 : 1;
}

/* ---- run / chat ---- */

typedef struct printer {
    int ids_only;  /* no tokenizer: print ids */
    char *reply;   /* text so far (chat keeps it for the conversation) */
    size_t len, cap;
    int32_t *ids;  /* generated ids (chat reuses them as cached prefix) */
    size_t n_ids, cap_ids;
    /* run echoes its prompt, but only once the model has produced
     * something: a command that fails prints nothing on stdout */
    const char *echo_text;
    const int32_t *echo_ids;
    size_t n_echo;
    int echoed;
} printer;

static void echo(printer *p) {
    if (p->echoed) return;
    p->echoed = 1;
    if (p->echo_ids) {
        printf("in:  ");
        for (size_t i = 0; i < p->n_echo; i++) printf("%d ", p->echo_ids[i]);
        printf("\nout: ");
    } else if (p->echo_text) {
        fputs(p->echo_text, stdout); /* the continuation follows it */
    }
}

static int print_piece(void *user, int32_t token, const char *piece, size_t len) {
    printer *p = user;
    echo(p);
    if (token >= 0) {
        if (p->n_ids == p->cap_ids) {
            size_t nc = p->cap_ids ? p->cap_ids * 2 : 64;
            int32_t *ni = realloc(p->ids, nc * sizeof *ni);
            if (!ni) return -1;
            p->ids = ni;
            p->cap_ids = nc;
        }
        p->ids[p->n_ids++] = token;
    }
    if (p->ids_only) {
        if (token >= 0) printf("%d ", token);
    } else {
        fwrite(piece, 1, len, stdout);
        if (p->len + len + 1 > p->cap) {
            size_t nc = (p->len + len + 1) * 2;
            char *nb = realloc(p->reply, nc);
            if (!nb) return -1;
            p->reply = nb;
            p->cap = nc;
        }
        memcpy(p->reply + p->len, piece, len);
        p->len += len;
        p->reply[p->len] = 0;
    }
    fflush(stdout);
    return 0;
}

typedef struct runner {
    dsv3_model *model;
    dsv3_session *s;
    dsv3_tokenizer *tok;
    dsv3_sampler *sampler;
    struct dsv3_model_info info;
    const char *cmd;
    int mtp, mtp_depth; /* drafting is on (the model has an MTP layer) */
} runner;

static void runner_free(runner *r) {
    dsv3_sampler_free(r->sampler);
    dsv3_session_free(r->s);
    dsv3_tokenizer_free(r->tok);
    dsv3_model_free(r->model);
}

static int runner_open(runner *r, const topts *o, const char *cmd) {
    memset(r, 0, sizeof *r);
    r->cmd = cmd;
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = o->backend;
    mp.n_threads = o->threads;
    mp.placement = cli_placement_name(o->placement);
    mp.gpu_budget = o->gpu_budget;
    mp.repack = o->repack;
    char err[512];
    int rc = dsv3_model_load(o->model, &mp, &r->model, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 %s: %s (%s)\n", cmd, err, dsv3_status_string(rc)); return 0; }
    cli_fs_hint(cmd, o->model, stderr);
    r->info.struct_size = sizeof r->info;
    dsv3_model_get_info(r->model, &r->info);
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = o->ctx;
    sp.mtp = o->mtp || o->mtp_depth; /* MTP keeps the hidden states it drafts from */
    if (sp.mtp && !r->info.n_mtp_layers) {
        fprintf(stderr, "dsv3 %s: --mtp: the model has no MTP layer; decoding plainly\n", cmd);
        sp.mtp = 0;
    }
    r->mtp = sp.mtp;
    r->mtp_depth = o->mtp_depth;
    sp.kv_type = o->kv_type;
    rc = dsv3_session_create(r->model, &sp, &r->s, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 %s: %s\n", cmd, err); return 0; }
    r->tok = load_tok(o, cmd, 1);
    if (o->tokenizer && !r->tok) return 0;
    rc = dsv3_sampler_create(&o->sp, r->info.vocab_size, &r->sampler);
    if (rc) { /* the parser checked each field's range; this is what remains */
        fprintf(stderr, "dsv3 %s: the sampler refused the options (%s): --top-k must be below the vocabulary (%d)\n", cmd,
                dsv3_status_string(rc), r->info.vocab_size);
        return 0;
    }
    return 1;
}

typedef struct tstats {
    struct dsv3_generate_result g;
    int32_t n_prompt;
    double prompt_s;
} tstats;

static void stats(const tstats *t) {
    static const char *why[] = {"none", "eos", "stop string", "max tokens", "callback", "context full"};
    const struct dsv3_generate_result *g = &t->g;
    fprintf(stderr, "[prompt %d tokens, %.1f tok/s | generated %d tokens, %.2f tok/s | stop: %s", t->n_prompt,
            t->prompt_s > 0 ? t->n_prompt / t->prompt_s : 0.0, g->n_generated, g->generate_tokens_per_s,
            g->stop_reason >= 0 && g->stop_reason <= 5 ? why[g->stop_reason] : "?");
    if (g->mtp_depth > 0) /* speculative decoding: how much of it paid */
        fprintf(stderr, " | mtp: %d/%d drafts accepted (%.1f %%), %.2f tokens/step", g->n_accepted, g->n_drafted,
                g->n_drafted ? 100.0 * g->n_accepted / g->n_drafted : 0.0,
                g->n_main_steps ? (double)g->n_generated / g->n_main_steps : 0.0);
    fprintf(stderr, "]\n");
}

#define PREFILL_CHUNK 256 /* tokens per step of a long prompt, between progress updates */

/* Step ids[0, n) at the session's position, then generate. A long prompt
 * is stepped in chunks first, so that its progress can be shown; only its
 * last token goes through dsv3_generate (which needs one to start from;
 * prompt tokens never reach the sampler either way). With --mtp each chunk
 * also runs through the MTP layer (its row at a position needs the token
 * after it, which the prompt gives), so that dsv3_generate finds the MTP
 * cache caught up; when the MTP cache does not reach the prompt's start
 * (it then could not be caught up), the whole prompt goes to
 * dsv3_generate, which decodes plainly in that case. */
static int generate(runner *r, const int32_t *ids, size_t n, const struct dsv3_generate_params *gp_in, tstats *t) {
    struct dsv3_generate_params mgp = *gp_in;
    const struct dsv3_generate_params *gp = &mgp;
    mgp.mtp = r->mtp ? DSV3_MTP_AUTO : DSV3_MTP_OFF;
    mgp.mtp_depth = r->mtp_depth;
    const int32_t base = dsv3_session_position(r->s);
    const int mtp_chunks = r->mtp && dsv3_session_mtp_position(r->s) == (base > 0 ? base - 1 : 0);
    memset(t, 0, sizeof *t);
    t->g.struct_size = sizeof t->g;
    t->n_prompt = (int32_t)n;
    const int32_t room = dsv3_session_n_ctx(r->s) - dsv3_session_position(r->s);
    if (n == 0) {
        fprintf(stderr, "dsv3 %s: the prompt is empty\n", r->cmd);
        return DSV3_ERR_INVALID_ARG;
    }
    if (n > (size_t)room) {
        fprintf(stderr, "dsv3 %s: the prompt has %zu tokens but the context has room for %d (-c sets the context length)\n",
                r->cmd, n, room);
        return DSV3_ERR_CONTEXT_FULL;
    }
    int rc = DSV3_OK;
    size_t done = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (n > 2 * PREFILL_CHUNK && (!r->mtp || mtp_chunks)) {
        cli_progress pr;
        char label[64];
        snprintf(label, sizeof label, "dsv3 %s: prompt", r->cmd);
        cli_progress_start(&pr, label, "tokens", n);
        while (!rc && n - done > 1) {
            size_t k = n - 1 - done < PREFILL_CHUNK ? n - 1 - done : PREFILL_CHUNK;
            rc = dsv3_session_step(r->s, ids + done, (int32_t)k, NULL, 0);
            if (!rc) done += k;
            if (!rc && mtp_chunks) { /* MTP rows up to the newest position but one */
                const int32_t mp = dsv3_session_mtp_position(r->s), last = base + (int32_t)done - 1;
                if (last > mp) rc = dsv3_session_mtp_step(r->s, ids + (mp + 1 - base), last - mp, NULL, 0);
            }
            /* the last token goes through dsv3_generate right after */
            cli_progress_update(&pr, n - done == 1 ? n : done, NULL);
        }
        cli_progress_end(&pr);
    }
    if (!rc) rc = dsv3_generate(r->s, r->tok, r->sampler, ids + done, n - done, gp, &t->g);
    clock_gettime(CLOCK_MONOTONIC, &b);
    t->prompt_s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9 - t->g.generate_seconds;
    if (rc) fprintf(stderr, "dsv3 %s: %s (%s)\n", r->cmd, dsv3_session_last_error(r->s), dsv3_status_string(rc));
    return rc;
}

int cmd_run(int argc, char **argv) {
    topts o;
    int pa = parse(argc, argv, &o, "run");
    if (pa) return pa < 0 ? 0 : pa;
    int32_t *prompt = NULL;
    size_t n = 0;
    if (o.ids) { /* checked before any work */
        int ni;
        prompt = parse_tokens(o.ids, &ni);
        if (!prompt) {
            fprintf(stderr, "dsv3 run: --tokens '%s': not a comma-separated list of integers\n"
                            "(dsv3 run --help lists the options)\n", o.ids);
            return 2;
        }
        n = (size_t)ni;
    }
    char *file_text = NULL;
    if (o.prompt_file) {
        size_t flen;
        file_text = read_file(o.prompt_file, &flen);
        if (!file_text) {
            fprintf(stderr, "dsv3 run: cannot read %s: %s\n", o.prompt_file, strerror(errno));
            free(prompt);
            return 1;
        }
        o.prompt = file_text;
    }
    runner r;
    if (!runner_open(&r, &o, "run")) {
        runner_free(&r);
        free(prompt);
        free(file_text);
        return 1;
    }
    if (!o.ids) {
        if (r.tok) {
            prompt = encode(r.tok, o.prompt, strlen(o.prompt), dsv3_tokenizer_add_bos(r.tok) ? DSV3_TOKENIZE_ADD_BOS : 0, &n);
            if (!prompt) fprintf(stderr, "dsv3 run: cannot tokenize the prompt\n");
        } else {
            fprintf(stderr, "dsv3 run: %s has no tokenizer.json; give --tokens or --tokenizer\n", o.model);
        }
    }
    int rc = 1;
    if (prompt) {
        printer pr = {.ids_only = !r.tok || o.print_ids};
        if (pr.ids_only) {
            pr.echo_ids = prompt;
            pr.n_echo = n;
        } else {
            pr.echo_text = o.prompt;
        }
        struct dsv3_generate_params gp;
        dsv3_generate_params_init(&gp, sizeof gp);
        gp.max_tokens = o.n_predict;
        gp.on_token = print_piece;
        gp.user = &pr;
        tstats t;
        rc = generate(&r, prompt, n, &gp, &t);
        if (!rc) {
            echo(&pr); /* when nothing was generated */
            printf("\n");
            fflush(stdout);
            stats(&t);
        }
        rc = rc ? 1 : 0;
        free(pr.reply);
        free(pr.ids);
    }
    free(prompt);
    free(file_text);
    runner_free(&r);
    return rc;
}

/* ---- chat ---- */

/* Remove message i (its strings are ours; chat adds no tool calls). */
static void convo_drop(convo *c, size_t i) {
    free((char *)c->m[i].role);
    free((char *)c->m[i].content);
    memmove(c->m + i, c->m + i + 1, (c->n - i - 1) * sizeof *c->m);
    c->n--;
}

typedef struct chat_state {
    runner *r;
    const topts *o;
    convo c;
    int32_t *held; /* the tokens in the session */
    size_t n_held;
    int quit;
} chat_state;

/* Slash commands: one row each in CHAT_CMDS (name, help line, handler);
 * a handler gets the text after the name (spaces skipped) and returns 0,
 * or 1 on an error (which ends a chat read from a pipe with status 1). */
typedef struct chat_cmd {
    const char *name, *help;
    int (*run)(chat_state *st, const char *arg);
} chat_cmd;

static int chat_reset(chat_state *st, const char *arg) {
    (void)arg;
    while (st->c.n && strcmp(st->c.m[st->c.n - 1].role, "system")) convo_drop(&st->c, st->c.n - 1);
    dsv3_session_reset(st->r->s);
    st->n_held = 0;
    return 0;
}

static int chat_quit(chat_state *st, const char *arg) {
    (void)arg;
    st->quit = 1;
    return 0;
}

/* /save FILE, /load FILE: the conversation and the session's cache
 * (chat_save.c); a loaded chat goes on from where it was saved. */
static int chat_save_cmd(chat_state *st, const char *arg) {
    char err[512];
    if (!*arg) { fprintf(stderr, "dsv3 chat: /save needs a file name\n"); return 1; }
    if (chat_save(arg, st->r->s, st->c.m, st->c.n, st->held, st->n_held, err, sizeof err)) {
        fprintf(stderr, "dsv3 chat: /save %s: %s\n", arg, err);
        return 1;
    }
    fprintf(stderr, "[saved %zu messages, %d positions to %s]\n", st->c.n, (int)dsv3_session_position(st->r->s), arg);
    return 0;
}

static int chat_load_cmd(chat_state *st, const char *arg) {
    char err[512];
    chat_saved cs;
    if (!*arg) { fprintf(stderr, "dsv3 chat: /load needs a file name\n"); return 1; }
    if (chat_load(arg, st->r->s, &cs, err, sizeof err)) {
        fprintf(stderr, "dsv3 chat: /load %s: %s\n", arg, err);
        return 1;
    }
    while (st->c.n) convo_drop(&st->c, st->c.n - 1);
    int ok = 1;
    for (size_t i = 0; i < cs.n && ok; i++) ok = convo_add(&st->c, cs.m[i].role, cs.m[i].content);
    free(st->held);
    st->held = cs.held;
    st->n_held = cs.n_held;
    cs.held = NULL;
    chat_saved_free(&cs);
    fprintf(stderr, "[loaded %zu messages, %d positions from %s]\n", st->c.n, (int)dsv3_session_position(st->r->s), arg);
    return !ok;
}

static int chat_help(chat_state *st, const char *arg);

static const chat_cmd CHAT_CMDS[] = {
    {"/save", "FILE: save the conversation and its cache", chat_save_cmd},
    {"/load", "FILE: go on with a conversation saved by /save", chat_load_cmd},
    {"/reset", "forget the conversation (the system prompt stays)", chat_reset},
    {"/quit", "leave (so does the end of input)", chat_quit},
    {"/help", "list these commands", chat_help},
};

static int chat_help(chat_state *st, const char *arg) {
    (void)st;
    (void)arg;
    for (size_t i = 0; i < sizeof CHAT_CMDS / sizeof CHAT_CMDS[0]; i++)
        fprintf(stderr, "  %-8s %s\n", CHAT_CMDS[i].name, CHAT_CMDS[i].help);
    return 0;
}

/* The conversation's tokens, with the assistant's turn opened. */
static int32_t *chat_tokens(chat_state *st, size_t *n) {
    size_t len;
    char *text = render(st->r->tok, &st->c, 1, &len);
    int32_t *ids = text ? encode(st->r->tok, text, len, 0, n) : NULL;
    free(text);
    return ids;
}

/* Context shift: while the conversation and room for the reply do not fit
 * the context, drop the oldest turn after the system prompt (the n_keep
 * part, which always stays). The session then rewinds to the prefix it
 * still shares (the system prompt) and re-prefills the kept turns: the
 * latent cache cannot be moved in place because its keys carry RoPE of
 * their old positions. Returns the tokens, or NULL (message printed). */
static int32_t *chat_fit(chat_state *st, size_t *n) {
    const size_t n_ctx = (size_t)dsv3_session_n_ctx(st->r->s);
    size_t reserve = (size_t)st->o->n_predict < n_ctx / 2 ? (size_t)st->o->n_predict : n_ctx / 2;
    if (reserve < 1) reserve = 1;
    size_t first = 0, dropped = 0;
    while (first < st->c.n && !strcmp(st->c.m[first].role, "system")) first++;
    for (;;) {
        int32_t *ids = chat_tokens(st, n);
        if (!ids) {
            fprintf(stderr, "dsv3 chat: cannot render the conversation\n");
            return NULL;
        }
        if (*n + reserve <= n_ctx) {
            if (dropped)
                fprintf(stderr, "[context full: kept the system prompt and the last %zu message%s, %zu tokens; re-processing them]\n",
                        st->c.n - first, st->c.n - first == 1 ? "" : "s", *n);
            return ids;
        }
        free(ids);
        if (st->c.n - first <= 1) { /* only the new message left */
            fprintf(stderr, "dsv3 chat: the message needs %zu tokens with the system prompt; the context holds %zu "
                            "with %zu kept for the reply (-c sets the context length)\n", *n, n_ctx, reserve);
            return NULL;
        }
        /* one turn: the user's message and the reply after it */
        convo_drop(&st->c, first);
        dropped++;
        if (st->c.n - first > 1 && strcmp(st->c.m[first].role, "user")) convo_drop(&st->c, first);
    }
}

static int chat_turn(chat_state *st, const char *line) {
    runner *r = st->r;
    if (!convo_add(&st->c, "user", line)) return 1;
    size_t n;
    int32_t *ids = chat_fit(st, &n);
    if (!ids) {
        convo_drop(&st->c, st->c.n - 1); /* the turn that did not fit */
        return 1;
    }
    size_t common = 0;
    while (common < st->n_held && common < n - 1 && st->held[common] == ids[common]) common++;
    dsv3_session_rewind(r->s, (int32_t)common);
    st->n_held = common;
    printer pr = {0};
    struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = st->o->n_predict;
    gp.on_token = print_piece;
    gp.user = &pr;
    tstats t;
    int grc = generate(r, ids + common, n - common, &gp, &t);
    int bad = grc != 0;
    if (!grc) {
        printf("\n");
        fflush(stdout);
        stats(&t);
        if (t.g.stop_reason == DSV3_STOP_CONTEXT_FULL)
            fprintf(stderr, "[the reply filled the context; the next turn drops the oldest turns]\n");
        /* The session now holds the prompt ids and the generated ids: the
         * next turn reuses the longest prefix of them it shares. */
        size_t total = n + pr.n_ids;
        int32_t *nh = realloc(st->held, sizeof *nh * total);
        if (nh) {
            st->held = nh;
            memcpy(st->held, ids, sizeof *ids * n);
            if (pr.n_ids) memcpy(st->held + n, pr.ids, sizeof *pr.ids * pr.n_ids);
            st->n_held = total;
        }
        bad = !nh || !convo_add(&st->c, "assistant", pr.reply ? pr.reply : "");
    } else {
        convo_drop(&st->c, st->c.n - 1);
        dsv3_session_rewind(r->s, (int32_t)common); /* what a failed step left is not in held[] */
    }
    free(ids);
    free(pr.ids);
    free(pr.reply);
    return bad;
}

/* Interactive chat: the whole conversation is re-rendered each turn; the
 * session rewinds to the longest prefix it already holds and steps only the
 * rest, so a turn costs only its new tokens. On a terminal an error leaves
 * the chat going; from a pipe or file it ends it with exit status 1. */
int cmd_chat(int argc, char **argv) {
    topts o;
    int pa = parse(argc, argv, &o, "chat");
    if (pa) return pa < 0 ? 0 : pa;
    runner r;
    if (!runner_open(&r, &o, "chat")) { runner_free(&r); return 1; }
    if (!r.tok) { fprintf(stderr, "dsv3 chat: the model needs a tokenizer (tokenizer.json or --tokenizer)\n"); runner_free(&r); return 1; }
    chat_state st = {.r = &r, .o = &o};
    const int interactive = isatty(0);
    int rc = 0;
    if (o.system && !convo_add(&st.c, "system", o.system)) rc = 1;
    char line[65536];
    fprintf(stderr, "dsv3 chat: /help lists commands, /quit or end of input leaves\n");
    while (!rc && !st.quit) {
        fprintf(stderr, "> ");
        if (!fgets(line, sizeof line, stdin)) break;
        size_t L = strlen(line);
        while (L && (line[L - 1] == '\n' || line[L - 1] == '\r')) line[--L] = 0;
        if (!L) continue;
        int bad;
        const chat_cmd *cc = NULL;
        if (line[0] == '/') {
            for (size_t i = 0; i < sizeof CHAT_CMDS / sizeof CHAT_CMDS[0] && !cc; i++) {
                size_t k = strlen(CHAT_CMDS[i].name);
                if (!strncmp(line, CHAT_CMDS[i].name, k) && (line[k] == 0 || line[k] == ' ')) cc = &CHAT_CMDS[i];
            }
            if (!cc) {
                fprintf(stderr, "dsv3 chat: unknown command %s (/help lists them)\n", line);
                bad = 1;
            } else {
                const char *arg = line + strlen(cc->name);
                while (*arg == ' ') arg++;
                bad = cc->run(&st, arg);
            }
        } else {
            bad = chat_turn(&st, line);
        }
        if (bad && !interactive) rc = 1;
    }
    free(st.held);
    convo_free(&st.c);
    runner_free(&r);
    return rc;
}
