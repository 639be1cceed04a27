/* cmd_text.c -- text subcommands: tokenize, detokenize, chat-template,
 * run (stream a completion) and chat (interactive). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dsv3.h"
#include "json.h" /* the library's own parser, for --messages files */

typedef struct topts {
    const char *model, *tokenizer, *text, *text_file, *ids, *messages, *prompt, *backend;
    int bos, add_gen, n_predict, threads, ctx, print_ids;
    struct dsv3_sampler_params sp;
    int kv_type; /* DSV3_KV_* (--kv-type f32|f16|q8_0) */
} topts;

static int parse(int argc, char **argv, topts *o, const char *cmd) {
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->n_predict = 128;
    dsv3_sampler_params_init(&o->sp, sizeof o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bos")) { o->bos = 1; continue; }
        if (!strcmp(a, "--add-generation-prompt")) { o->add_gen = 1; continue; }
        if (!strcmp(a, "--print-ids")) { o->print_ids = 1; continue; }
        if (!v) { fprintf(stderr, "dsv3 %s: option %s needs a value (or is unknown)\n", cmd, a); return 0; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(a, "--text")) o->text = v;
        else if (!strcmp(a, "--text-file")) o->text_file = v;
        else if (!strcmp(a, "--ids") || !strcmp(a, "--tokens")) o->ids = v;
        else if (!strcmp(a, "--messages")) o->messages = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--backend")) o->backend = v;
        else if (!strcmp(a, "-n")) o->n_predict = atoi(v);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) o->ctx = atoi(v);
        else if (!strcmp(a, "--temp")) o->sp.temperature = (float)atof(v);
        else if (!strcmp(a, "--top-k")) o->sp.top_k = atoi(v);
        else if (!strcmp(a, "--top-p")) o->sp.top_p = (float)atof(v);
        else if (!strcmp(a, "--min-p")) o->sp.min_p = (float)atof(v);
        else if (!strcmp(a, "--repeat-penalty")) o->sp.repeat_penalty = (float)atof(v);
        else if (!strcmp(a, "--seed")) o->sp.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--kv-type")) {
            o->kv_type = !strcmp(v, "f32") ? DSV3_KV_F32 : !strcmp(v, "f16") ? DSV3_KV_F16 : !strcmp(v, "q8_0") ? DSV3_KV_Q8_0 : -1;
            if (o->kv_type < 0) { fprintf(stderr, "dsv3 %s: --kv-type must be f32, f16 or q8_0\n", cmd); return 0; }
        } else { fprintf(stderr, "dsv3 %s: unknown option %s\n", cmd, a); return 0; }
        i++;
    }
    /* Without -m or --tokenizer, the demo model that ships with dsv3. */
    if (!o->model && !o->tokenizer) o->model = cli_default_model();
    return 1;
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
    if (!parse(argc, argv, &o, "tokenize")) return 2;
    if (!o.text == !o.text_file) { fprintf(stderr, "dsv3 tokenize: give exactly one of --text or --text-file\n"); return 2; }
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
    if (!parse(argc, argv, &o, "detokenize")) return 2;
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
    if (!parse(argc, argv, &o, "chat-template")) return 2;
    if (!o.messages) { fprintf(stderr, "dsv3 chat-template: --messages FILE.json is required\n"); return 2; }
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
} printer;

static int print_piece(void *user, int32_t token, const char *piece, size_t len) {
    printer *p = user;
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
} runner;

static void runner_free(runner *r) {
    dsv3_sampler_free(r->sampler);
    dsv3_session_free(r->s);
    dsv3_tokenizer_free(r->tok);
    dsv3_model_free(r->model);
}

static int runner_open(runner *r, const topts *o, const char *cmd) {
    memset(r, 0, sizeof *r);
    if (!o->model) { fprintf(stderr, "dsv3 %s: -m PATH is required (no demo model found)\n", cmd); return 0; }
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = o->backend;
    mp.n_threads = o->threads;
    char err[512];
    int rc = dsv3_model_load(o->model, &mp, &r->model, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 %s: %s (%s)\n", cmd, err, dsv3_status_string(rc)); return 0; }
    r->info.struct_size = sizeof r->info;
    dsv3_model_get_info(r->model, &r->info);
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = o->ctx;
    sp.mtp = 0;
    sp.kv_type = o->kv_type;
    rc = dsv3_session_create(r->model, &sp, &r->s, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 %s: %s\n", cmd, err); return 0; }
    r->tok = load_tok(o, cmd, 1);
    if (o->tokenizer && !r->tok) return 0;
    rc = dsv3_sampler_create(&o->sp, r->info.vocab_size, &r->sampler);
    if (rc) { fprintf(stderr, "dsv3 %s: bad sampling options (%s)\n", cmd, dsv3_status_string(rc)); return 0; }
    return 1;
}

static void stats(const struct dsv3_generate_result *g) {
    static const char *why[] = {"none", "eos", "stop string", "max tokens", "callback", "context full"};
    fprintf(stderr, "\n[prompt %d tokens, %.1f tok/s | generated %d tokens, %.2f tok/s | stop: %s]\n", g->n_prompt_tokens,
            g->prompt_tokens_per_s, g->n_generated, g->generate_tokens_per_s,
            g->stop_reason >= 0 && g->stop_reason <= 5 ? why[g->stop_reason] : "?");
}

int cmd_run(int argc, char **argv) {
    topts o;
    if (!parse(argc, argv, &o, "run")) return 2;
    if (!o.prompt == !o.ids) { fprintf(stderr, "dsv3 run: give -p PROMPT or --tokens 1,2,3\n"); return 2; }
    runner r;
    if (!runner_open(&r, &o, "run")) { runner_free(&r); return 1; }
    int32_t *prompt = NULL;
    size_t n = 0;
    if (o.ids) {
        int ni;
        prompt = parse_tokens(o.ids, &ni);
        n = prompt ? (size_t)ni : 0;
    } else if (r.tok) {
        prompt = encode(r.tok, o.prompt, strlen(o.prompt), dsv3_tokenizer_add_bos(r.tok) ? DSV3_TOKENIZE_ADD_BOS : 0, &n);
    } else {
        fprintf(stderr, "dsv3 run: %s has no tokenizer.json; give --tokens or --tokenizer\n", o.model);
    }
    int rc = 1;
    if (prompt) {
        printer pr = {!r.tok || o.print_ids, NULL, 0, 0, NULL, 0, 0};
        struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
        gp.max_tokens = o.n_predict;
        gp.on_token = print_piece;
        gp.user = &pr;
        struct dsv3_generate_result g = {.struct_size = sizeof g};
        if (pr.ids_only) {
            printf("in:  ");
            for (size_t i = 0; i < n; i++) printf("%d ", prompt[i]);
            printf("\nout: ");
        }
        if (!pr.ids_only && o.prompt) { fputs(o.prompt, stdout); fflush(stdout); } /* the continuation follows it */
        rc = dsv3_generate(r.s, r.tok, r.sampler, prompt, n, &gp, &g);
        printf("\n");
        stats(&g);
        if (rc) fprintf(stderr, "dsv3 run: %s (%s)\n", dsv3_session_last_error(r.s), dsv3_status_string(rc));
        rc = rc ? 1 : 0;
        free(pr.reply);
        free(pr.ids);
    } else if (o.ids) {
        fprintf(stderr, "dsv3 run: --tokens must be a comma-separated list of integers\n");
        rc = 2;
    }
    free(prompt);
    runner_free(&r);
    return rc;
}

/* Interactive chat: the whole conversation is re-rendered each turn; the
 * session rewinds to the longest prefix it already holds and steps only the
 * rest, so a turn costs only its new tokens. */
int cmd_chat(int argc, char **argv) {
    topts o;
    if (!parse(argc, argv, &o, "chat")) return 2;
    runner r;
    if (!runner_open(&r, &o, "chat")) { runner_free(&r); return 1; }
    if (!r.tok) { fprintf(stderr, "dsv3 chat: the model needs a tokenizer (tokenizer.json or --tokenizer)\n"); runner_free(&r); return 1; }
    convo c = {0};
    int32_t *held = NULL; /* tokens in the session */
    size_t n_held = 0;
    char line[65536];
    int rc = 0;
    fprintf(stderr, "dsv3 chat: /reset starts over, /quit or end of input leaves\n");
    for (;;) {
        fprintf(stderr, "> ");
        if (!fgets(line, sizeof line, stdin)) break;
        size_t L = strlen(line);
        while (L && (line[L - 1] == '\n' || line[L - 1] == '\r')) line[--L] = 0;
        if (!strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) { convo_free(&c); dsv3_session_reset(r.s); n_held = 0; continue; }
        if (!L) continue;
        convo_add(&c, "user", line);
        size_t len, n;
        char *text = render(r.tok, &c, 1, &len);
        int32_t *ids = text ? encode(r.tok, text, len, 0, &n) : NULL;
        free(text);
        if (!ids) { fprintf(stderr, "dsv3 chat: cannot render the conversation\n"); rc = 1; break; }
        size_t common = 0;
        while (common < n_held && common < n - 1 && held[common] == ids[common]) common++;
        dsv3_session_rewind(r.s, (int32_t)common);
        printer pr = {0, NULL, 0, 0, NULL, 0, 0};
        struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
        gp.max_tokens = o.n_predict;
        gp.on_token = print_piece;
        gp.user = &pr;
        struct dsv3_generate_result g = {.struct_size = sizeof g};
        int grc = dsv3_generate(r.s, r.tok, r.sampler, ids + common, n - common, &gp, &g);
        printf("\n");
        stats(&g);
        /* The session now holds the prompt ids and the generated ids: the
         * next turn reuses the longest prefix of them it shares. */
        size_t total = grc ? 0 : n + pr.n_ids;
        int32_t *nh = total ? realloc(held, sizeof *nh * total) : NULL;
        if (nh) {
            held = nh;
            memcpy(held, ids, sizeof *held * n);
            if (pr.n_ids) memcpy(held + n, pr.ids, sizeof *held * pr.n_ids);
            n_held = total;
        } else {
            n_held = 0;
        }
        free(ids);
        free(pr.ids);
        if (grc) {
            fprintf(stderr, "dsv3 chat: %s\n", dsv3_session_last_error(r.s));
            free(pr.reply);
            if (grc == DSV3_ERR_CONTEXT_FULL) {
                fprintf(stderr, "context full: /reset to start over\n");
                c.n--; /* drop the turn that did not fit */
                free((char *)c.m[c.n].role);
                free((char *)c.m[c.n].content);
                continue;
            }
            rc = 1;
            break;
        }
        convo_add(&c, "assistant", pr.reply ? pr.reply : "");
        free(pr.reply);
    }
    free(held);
    convo_free(&c);
    runner_free(&r);
    return rc;
}
