/* request.c -- OpenAI request bodies to srv_request; see request.h. Every
 * rejection names the parameter and says what was expected. */
#include "request.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonw.h"

typedef struct ctx {
    char *err;
    size_t err_size;
    char *param;
    size_t param_size;
    int oom;
    /* malloc'd strings the request owns (joined content parts) */
    char **owned;
    size_t n_owned, cap_owned;
} ctx;

/* Owned strings hang off the request through this block, freed with it. */
typedef struct owned_block {
    char **p;
    size_t n;
} owned_block;

static int fail(ctx *c, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ctx *c, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (c->err_size) vsnprintf(c->err, c->err_size, fmt, ap);
    va_end(ap);
    if (c->param_size) snprintf(c->param, c->param_size, "%s", param ? param : "");
    return -1;
}

static int oom(ctx *c) {
    c->oom = 1;
    fail(c, "", "out of memory");
    return -2;
}

static void *own(ctx *c, char *s) {
    if (!s) return NULL;
    if (c->n_owned == c->cap_owned) {
        size_t nc = c->cap_owned ? c->cap_owned * 2 : 8;
        char **np = realloc(c->owned, nc * sizeof *np);
        if (!np) { free(s); return NULL; }
        c->owned = np;
        c->cap_owned = nc;
    }
    c->owned[c->n_owned++] = s;
    return s;
}

static int is_null(const json_value *v) { return !v || v->type == JSON_NULL; }

/* ---- typed getters: 0 ok (or absent: *present = 0), -1 wrong type/range */

static int get_bool(ctx *c, const json_value *o, const char *key, int *out, int *present) {
    const json_value *v = json_get(o, key);
    if (present) *present = !is_null(v);
    if (is_null(v)) return 0;
    if (v->type != JSON_BOOL) return fail(c, key, "'%s' must be a boolean, not %s", key, json_type_name(v->type));
    *out = v->boolean;
    return 0;
}

static int get_num(ctx *c, const json_value *o, const char *key, double lo, double hi, double *out, int *present) {
    const json_value *v = json_get(o, key);
    if (present) *present = !is_null(v);
    if (is_null(v)) return 0;
    if (v->type != JSON_NUMBER) return fail(c, key, "'%s' must be a number, not %s", key, json_type_name(v->type));
    if (!(v->num >= lo && v->num <= hi)) return fail(c, key, "'%s' = %g is outside [%g, %g]", key, v->num, lo, hi);
    *out = v->num;
    return 0;
}

static int get_int(ctx *c, const json_value *o, const char *key, int64_t lo, int64_t hi, int64_t *out, int *present) {
    const json_value *v = json_get(o, key);
    if (present) *present = !is_null(v);
    if (is_null(v)) return 0;
    if (v->type != JSON_NUMBER || !v->is_int)
        return fail(c, key, "'%s' must be an integer, not %s", key, v->type == JSON_NUMBER ? "a fraction" : json_type_name(v->type));
    if (v->i < lo || v->i > hi)
        return fail(c, key, "'%s' = %lld is outside [%lld, %lld]", key, (long long)v->i, (long long)lo, (long long)hi);
    *out = v->i;
    return 0;
}

/* A string without NUL bytes (the chat template takes C strings). */
static int check_str(ctx *c, const json_value *v, const char *param) {
    if (v->type != JSON_STRING) return fail(c, param, "'%s' must be a string, not %s", param, json_type_name(v->type));
    if (strlen(v->str) != v->len) return fail(c, param, "'%s' contains a NUL character", param);
    return 0;
}

static int get_str(ctx *c, const json_value *o, const char *key, const char **out) {
    const json_value *v = json_get(o, key);
    if (is_null(v)) return 0;
    if (check_str(c, v, key)) return -1;
    *out = v->str;
    return 0;
}

/* ---- JSON value back to text (tool schemas go into the prompt) ---------- */

static void write_value(srv_buf *b, const json_value *v) {
    switch (v->type) {
    case JSON_NULL: srv_buf_puts(b, "null"); break;
    case JSON_BOOL: srv_buf_puts(b, v->boolean ? "true" : "false"); break;
    case JSON_NUMBER:
        if (v->is_int) srv_buf_printf(b, "%lld", (long long)v->i);
        else if (isfinite(v->num)) srv_buf_printf(b, "%.17g", v->num);
        else srv_buf_puts(b, "null");
        break;
    case JSON_STRING: srv_json_str(b, v->str, v->len); break;
    case JSON_ARRAY:
        srv_buf_puts(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) srv_buf_puts(b, ", ");
            write_value(b, &v->items[i]);
        }
        srv_buf_puts(b, "]");
        break;
    case JSON_OBJECT:
        srv_buf_puts(b, "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) srv_buf_puts(b, ", ");
            srv_json_str(b, v->keys[i], v->key_lens[i]);
            srv_buf_puts(b, ": ");
            write_value(b, &v->items[i]);
        }
        srv_buf_puts(b, "}");
        break;
    }
}

/* ---- fields allowed per endpoint ----------------------------------------- */

static const char *const common_keys[] = {
    "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "seed", "presence_penalty",
    "frequency_penalty", "logit_bias", "stop", "n", "logprobs", "user", "top_k", "min_p", "repeat_penalty", NULL};
static const char *const chat_keys[] = {
    "messages", "max_completion_tokens", "tools", "tool_choice", "parallel_tool_calls", "response_format",
    "top_logprobs", "store", "metadata", "service_tier", "modalities", "reasoning_effort", "prediction", "audio",
    "functions", "function_call", "web_search_options", NULL};
static const char *const completion_keys[] = {"prompt", "echo", "best_of", "suffix", NULL};

static int in_list(const char *const *l, const char *k) {
    for (; *l; l++)
        if (!strcmp(*l, k)) return 1;
    return 0;
}

/* ---- the parts ------------------------------------------------------------ */

static int parse_stop(ctx *c, const json_value *root, srv_request *r) {
    const json_value *v = json_get(root, "stop");
    if (is_null(v)) return 0;
    if (v->type == JSON_STRING) {
        if (check_str(c, v, "stop")) return -1;
        if (v->len) r->stop[r->n_stop++] = v->str;
        return 0;
    }
    if (v->type != JSON_ARRAY) return fail(c, "stop", "'stop' must be a string or an array of strings");
    if (v->n > 4) return fail(c, "stop", "'stop' has %zu strings; at most 4 are allowed", v->n);
    for (size_t i = 0; i < v->n; i++) {
        if (check_str(c, &v->items[i], "stop")) return -1;
        if (v->items[i].len) r->stop[r->n_stop++] = v->items[i].str;
    }
    return 0;
}

static int parse_bias(ctx *c, const json_value *root, const srv_limits *lim, srv_request *r) {
    const json_value *v = json_get(root, "logit_bias");
    if (is_null(v)) return 0;
    if (v->type != JSON_OBJECT) return fail(c, "logit_bias", "'logit_bias' must be an object of token id: bias");
    if (!v->n) return 0;
    r->bias_ids = malloc(v->n * sizeof *r->bias_ids);
    r->bias_values = malloc(v->n * sizeof *r->bias_values);
    if (!r->bias_ids || !r->bias_values) return oom(c);
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i];
        char *end;
        long id = strtol(k, &end, 10);
        if (!*k || *end || k[0] == '-' || k[0] == '+' || id < 0 || id >= lim->n_vocab || v->key_lens[i] > 10)
            return fail(c, "logit_bias", "'logit_bias' key \"%.40s\" is not a token id in [0, %d)", k, (int)lim->n_vocab);
        const json_value *b = &v->items[i];
        if (b->type != JSON_NUMBER || !(b->num >= -100 && b->num <= 100))
            return fail(c, "logit_bias", "'logit_bias' value for token %ld must be a number in [-100, 100]", id);
        r->bias_ids[r->n_bias] = (int32_t)id;
        /* -100 is OpenAI's "ban this token" */
        r->bias_values[r->n_bias++] = b->num <= -100 ? -INFINITY : (float)b->num;
    }
    return 0;
}

static int parse_sampling(ctx *c, const json_value *root, const srv_limits *lim, srv_request *r) {
    int pres = 0;
    double d = 0;
    int64_t i = 0;
    /* OpenAI's defaults: temperature 1, top_p 1, nothing else. */
    r->sp.temperature = 1.0f;
    r->sp.top_p = 1.0f;
    r->sp.top_k = 0;
    r->sp.min_p = 0.0f;
    if (get_num(c, root, "temperature", 0, 2, &d, &pres)) return -1;
    if (pres) r->sp.temperature = (float)d;
    if (get_num(c, root, "top_p", 0, 1, &d, &pres)) return -1;
    if (pres) r->sp.top_p = (float)d;
    if (get_num(c, root, "presence_penalty", -2, 2, &d, &pres)) return -1;
    if (pres) r->sp.presence_penalty = (float)d;
    if (get_num(c, root, "frequency_penalty", -2, 2, &d, &pres)) return -1;
    if (pres) r->sp.frequency_penalty = (float)d;
    if (get_int(c, root, "top_k", 0, 1 << 30, &i, &pres)) return -1;
    if (pres) r->sp.top_k = (int32_t)i;
    if (get_num(c, root, "min_p", 0, 1, &d, &pres)) return -1;
    if (pres) r->sp.min_p = (float)d;
    if (get_num(c, root, "repeat_penalty", 0.01, 100, &d, &pres)) return -1;
    if (pres) r->sp.repeat_penalty = (float)d;
    if (get_int(c, root, "seed", INT64_MIN, INT64_MAX, &i, &pres)) return -1;
    if (pres) r->sp.seed = (uint64_t)i;
    r->has_seed = pres;
    return parse_bias(c, root, lim, r);
}

/* Text content: a string, or an array of {"type": "text", "text": ...}
 * parts joined with newlines. NULL *out for null. */
static int parse_content(ctx *c, const json_value *v, const char *param, const char **out) {
    *out = NULL;
    if (is_null(v)) return 0;
    if (v->type == JSON_STRING) {
        if (check_str(c, v, param)) return -1;
        *out = v->str;
        return 0;
    }
    if (v->type != JSON_ARRAY) return fail(c, param, "'%s' must be a string, an array of text parts or null", param);
    srv_buf b = {0};
    for (size_t i = 0; i < v->n; i++) {
        const json_value *p = &v->items[i], *t = json_get(p, "type"), *tx = json_get(p, "text");
        if (p->type != JSON_OBJECT || !t || t->type != JSON_STRING) {
            srv_buf_free(&b);
            return fail(c, param, "'%s[%zu]' must be an object with a string 'type'", param, i);
        }
        if (strcmp(t->str, "text")) {
            srv_buf_free(&b);
            return fail(c, param, "'%s[%zu]': content parts of type \"%.40s\" are not supported (text only)", param, i, t->str);
        }
        if (!tx || check_str(c, tx, param)) {
            srv_buf_free(&b);
            if (!tx) return fail(c, param, "'%s[%zu]' has no 'text'", param, i);
            return -1;
        }
        if (i) srv_buf_puts(&b, "\n");
        srv_buf_put(&b, tx->str, tx->len);
    }
    if (!b.p) srv_buf_puts(&b, "");
    if (b.oom || !own(c, b.p)) { srv_buf_free(&b); return oom(c); }
    *out = b.p;
    return 0;
}

static int valid_fn_name(const char *s) {
    size_t n = strlen(s);
    if (!n || n > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int parse_tool_calls(ctx *c, const json_value *v, const char *param, struct dsv3_tool_call *out, size_t *n) {
    *n = 0;
    if (is_null(v)) return 0;
    if (v->type != JSON_ARRAY) return fail(c, param, "'%s' must be an array", param);
    for (size_t i = 0; i < v->n; i++) {
        const json_value *tc = &v->items[i], *fn = json_get(tc, "function"), *ty = json_get(tc, "type");
        if (tc->type != JSON_OBJECT || !fn || fn->type != JSON_OBJECT)
            return fail(c, param, "'%s[%zu]' must be an object with a 'function' object", param, i);
        if (ty && (ty->type != JSON_STRING || strcmp(ty->str, "function")))
            return fail(c, param, "'%s[%zu].type' must be \"function\"", param, i);
        const json_value *nm = json_get(fn, "name"), *ar = json_get(fn, "arguments");
        if (!nm || nm->type != JSON_STRING || !valid_fn_name(nm->str))
            return fail(c, param, "'%s[%zu].function.name' must be a function name (letters, digits, _ - ., at most 64)", param, i);
        if (!ar || check_str(c, ar, param)) {
            if (!ar) return fail(c, param, "'%s[%zu].function.arguments' is missing (a JSON string)", param, i);
            return -1;
        }
        out[(*n)++] = (struct dsv3_tool_call){"function", nm->str, ar->str};
    }
    return 0;
}

static int parse_messages(ctx *c, const json_value *root, srv_request *r) {
    const json_value *v = json_get(root, "messages");
    if (is_null(v)) return fail(c, "messages", "'messages' is required");
    if (v->type != JSON_ARRAY) return fail(c, "messages", "'messages' must be an array, not %s", json_type_name(v->type));
    if (!v->n) return fail(c, "messages", "'messages' is empty");
    size_t n_calls = 0;
    for (size_t i = 0; i < v->n; i++) {
        const json_value *tc = json_get(&v->items[i], "tool_calls");
        if (tc && tc->type == JSON_ARRAY) n_calls += tc->n;
    }
    /* an assistant turn with content and tool calls becomes two turns */
    r->msgs = calloc(v->n * 2, sizeof *r->msgs);
    r->calls = calloc(n_calls ? n_calls : 1, sizeof *r->calls);
    if (!r->msgs || !r->calls) return oom(c);
    size_t used_calls = 0;
    char param[64];
    for (size_t i = 0; i < v->n; i++) {
        const json_value *m = &v->items[i];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (m->type != JSON_OBJECT) return fail(c, param, "'%s' must be an object", param);
        for (size_t k = 0; k < m->n; k++) {
            static const char *const mkeys[] = {"role", "content", "name", "tool_calls", "tool_call_id", "refusal",
                                                "reasoning_content", NULL};
            if (!in_list(mkeys, m->keys[k])) {
                snprintf(param, sizeof param, "messages[%zu].%.30s", i, m->keys[k]);
                return fail(c, param, "'%s' is not supported in a message", param);
            }
        }
        const json_value *role = json_get(m, "role");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!role) return fail(c, param, "'%s' is required", param);
        if (role->type != JSON_STRING) return fail(c, param, "'%s' must be a string", param);
        const char *rn = role->str;
        if (!strcmp(rn, "developer")) rn = "system"; /* OpenAI's newer name for it */
        if (strcmp(rn, "system") && strcmp(rn, "user") && strcmp(rn, "assistant") && strcmp(rn, "tool"))
            return fail(c, param, "'%s': unknown role \"%.40s\" (system, developer, user, assistant or tool)", param, role->str);
        const char *content;
        snprintf(param, sizeof param, "messages[%zu].content", i);
        if (parse_content(c, json_get(m, "content"), param, &content)) return c->oom ? -2 : -1;
        size_t nc = 0;
        snprintf(param, sizeof param, "messages[%zu].tool_calls", i);
        const json_value *tcv = json_get(m, "tool_calls");
        if (!is_null(tcv) && strcmp(rn, "assistant")) return fail(c, param, "'%s' is only allowed in assistant messages", param);
        if (parse_tool_calls(c, tcv, param, r->calls + used_calls, &nc)) return -1;
        if (!content && strcmp(rn, "assistant")) {
            snprintf(param, sizeof param, "messages[%zu].content", i);
            return fail(c, param, "'%s' is required for role \"%s\"", param, role->str);
        }
        if (!content && !nc) {
            snprintf(param, sizeof param, "messages[%zu].content", i);
            return fail(c, param, "'%s': an assistant message needs content or tool_calls", param);
        }
        struct dsv3_chat_message *out = &r->msgs[r->n_msgs++];
        out->role = rn;
        out->content = content;
        if (nc) {
            int blank = 1;
            for (const char *p = content; p && *p; p++)
                if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') blank = 0;
            if (!blank) out = &r->msgs[r->n_msgs++]; /* the text first, the calls as their own turn */
            out->role = "assistant";
            out->content = NULL;
            out->tool_calls = r->calls + used_calls;
            out->n_tool_calls = nc;
            used_calls += nc;
        }
    }
    return 0;
}

static int parse_tools(ctx *c, const json_value *root, srv_request *r) {
    const json_value *v = json_get(root, "tools");
    if (!is_null(v)) {
        if (v->type != JSON_ARRAY) return fail(c, "tools", "'tools' must be an array");
        if (v->n > 128) return fail(c, "tools", "'tools' has %zu entries; at most 128 are allowed", v->n);
        r->tools = calloc(v->n ? v->n : 1, sizeof *r->tools);
        if (!r->tools) return oom(c);
        for (size_t i = 0; i < v->n; i++) {
            char param[48];
            snprintf(param, sizeof param, "tools[%zu]", i);
            const json_value *t = &v->items[i], *ty = json_get(t, "type"), *fn = json_get(t, "function");
            if (t->type != JSON_OBJECT || !ty || ty->type != JSON_STRING || strcmp(ty->str, "function"))
                return fail(c, param, "'%s' must be an object with \"type\": \"function\"", param);
            if (!fn || fn->type != JSON_OBJECT) return fail(c, param, "'%s.function' must be an object", param);
            const json_value *nm = json_get(fn, "name"), *ds = json_get(fn, "description"), *pa = json_get(fn, "parameters");
            if (!nm || nm->type != JSON_STRING || !valid_fn_name(nm->str))
                return fail(c, param, "'%s.function.name' must be a function name (letters, digits, _ - ., at most 64)", param);
            for (size_t k = 0; k < i; k++)
                if (!strcmp(r->tools[k].name, nm->str)) return fail(c, param, "'%s': the function name \"%s\" is used twice", param, nm->str);
            srv_tool *o = &r->tools[r->n_tools++];
            o->name = nm->str;
            if (!is_null(ds)) {
                if (check_str(c, ds, "tools.function.description")) return -1;
                o->description = ds->str;
            }
            if (!is_null(pa)) {
                if (pa->type != JSON_OBJECT) return fail(c, param, "'%s.function.parameters' must be a JSON Schema object", param);
                srv_buf b = {0};
                write_value(&b, pa);
                if (b.oom) { srv_buf_free(&b); return oom(c); }
                o->parameters = b.p;
            }
        }
    }
    const json_value *tc = json_get(root, "tool_choice");
    r->tool_choice = r->n_tools ? SRV_TOOLS_AUTO : SRV_TOOLS_NONE;
    if (is_null(tc)) return 0;
    if (tc->type == JSON_STRING) {
        if (!strcmp(tc->str, "none")) r->tool_choice = SRV_TOOLS_NONE;
        else if (!strcmp(tc->str, "auto")) r->tool_choice = r->n_tools ? SRV_TOOLS_AUTO : SRV_TOOLS_NONE;
        else if (!strcmp(tc->str, "required")) r->tool_choice = SRV_TOOLS_REQUIRED;
        else return fail(c, "tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or a function object");
    } else if (tc->type == JSON_OBJECT) {
        const json_value *fn = json_get(tc, "function"), *nm = fn ? json_get(fn, "name") : NULL;
        if (!nm || nm->type != JSON_STRING)
            return fail(c, "tool_choice", "'tool_choice' object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
        size_t k = 0;
        while (k < r->n_tools && strcmp(r->tools[k].name, nm->str)) k++;
        if (k == r->n_tools) return fail(c, "tool_choice", "'tool_choice' names \"%.64s\", which is not in 'tools'", nm->str);
        r->tool_choice = SRV_TOOLS_NAMED;
        r->tool_name = r->tools[k].name;
    } else {
        return fail(c, "tool_choice", "'tool_choice' must be a string or an object");
    }
    if (r->tool_choice == SRV_TOOLS_REQUIRED && !r->n_tools)
        return fail(c, "tool_choice", "'tool_choice' is \"required\" but 'tools' is empty");
    return 0;
}

static int parse_prompt(ctx *c, const json_value *root, const srv_limits *lim, srv_request *r) {
    const json_value *v = json_get(root, "prompt");
    if (is_null(v)) return fail(c, "prompt", "'prompt' is required");
    if (v->type == JSON_ARRAY && v->n == 1 && v->items[0].type == JSON_STRING) v = &v->items[0];
    if (v->type == JSON_STRING) {
        r->prompt = v->str;
        r->prompt_len = v->len;
        return 0;
    }
    if (v->type != JSON_ARRAY || !v->n)
        return fail(c, "prompt", "'prompt' must be a string, an array of one string, or a non-empty array of token ids");
    r->prompt_ids = malloc(v->n * sizeof *r->prompt_ids);
    if (!r->prompt_ids) return oom(c);
    for (size_t i = 0; i < v->n; i++) {
        const json_value *t = &v->items[i];
        if (t->type == JSON_STRING || t->type == JSON_ARRAY)
            return fail(c, "prompt", "'prompt': several prompts in one request are not supported");
        if (t->type != JSON_NUMBER || !t->is_int || t->i < 0 || t->i >= lim->n_vocab)
            return fail(c, "prompt", "'prompt[%zu]' is not a token id in [0, %d)", i, (int)lim->n_vocab);
        r->prompt_ids[r->n_prompt_ids++] = (int32_t)t->i;
    }
    return 0;
}

/* Fields accepted only at their "off" value. */
static int parse_unsupported(ctx *c, const json_value *root, int endpoint) {
    int64_t i = 0;
    int b = 0, pres = 0;
    if (get_int(c, root, "n", 1, 1 << 20, &i, &pres)) return -1;
    if (pres && i != 1) return fail(c, "n", "'n' = %lld: only one choice per request is supported", (long long)i);
    const json_value *lp = json_get(root, "logprobs");
    if (endpoint == SRV_CHAT) {
        if (get_bool(c, root, "logprobs", &b, &pres)) return -1;
        if (pres && b) return fail(c, "logprobs", "'logprobs' is not supported");
        if (!is_null(json_get(root, "top_logprobs"))) return fail(c, "top_logprobs", "'top_logprobs' is not supported");
        const json_value *rf = json_get(root, "response_format");
        if (!is_null(rf)) {
            const json_value *t = json_get(rf, "type");
            if (rf->type != JSON_OBJECT || !t || t->type != JSON_STRING)
                return fail(c, "response_format", "'response_format' must be an object with a string 'type'");
            if (strcmp(t->str, "text"))
                return fail(c, "response_format", "'response_format' type \"%.40s\" is not supported (only \"text\")", t->str);
        }
        const json_value *mo = json_get(root, "modalities");
        if (!is_null(mo)) {
            if (mo->type != JSON_ARRAY) return fail(c, "modalities", "'modalities' must be an array");
            for (size_t k = 0; k < mo->n; k++)
                if (mo->items[k].type != JSON_STRING || strcmp(mo->items[k].str, "text"))
                    return fail(c, "modalities", "'modalities': only \"text\" is supported");
        }
        static const char *const never[] = {"reasoning_effort", "prediction", "audio", "web_search_options", NULL};
        for (const char *const *k = never; *k; k++)
            if (!is_null(json_get(root, *k))) return fail(c, *k, "'%s' is not supported", *k);
        if (!is_null(json_get(root, "functions")) || !is_null(json_get(root, "function_call")))
            return fail(c, is_null(json_get(root, "functions")) ? "function_call" : "functions",
                        "'functions' and 'function_call' are deprecated and not supported: use 'tools' and 'tool_choice'");
        if (get_bool(c, root, "parallel_tool_calls", &b, NULL)) return -1;
        if (get_bool(c, root, "store", &b, NULL)) return -1;
    } else {
        if (!is_null(lp)) return fail(c, "logprobs", "'logprobs' is not supported");
        if (get_int(c, root, "best_of", 1, 1 << 20, &i, &pres)) return -1;
        if (pres && i != 1) return fail(c, "best_of", "'best_of' = %lld: only 1 is supported", (long long)i);
        if (!is_null(json_get(root, "suffix"))) return fail(c, "suffix", "'suffix' (insertion) is not supported");
    }
    return 0;
}

int srv_request_parse(const char *body, size_t len, int endpoint, const srv_limits *lim, srv_request *r, char *err,
                      size_t err_size, char *param, size_t param_size) {
    memset(r, 0, sizeof *r);
    ctx c = {err, err_size, param, param_size, 0, NULL, 0, 0};
    if (err_size) err[0] = 0;
    if (param_size) param[0] = 0;
    r->endpoint = endpoint;
    r->max_tokens = -1;
    dsv3_sampler_params_init(&r->sp, sizeof r->sp);
    json_doc *doc = NULL;
    char jerr[200];
    int rc = json_parse(body, len, &doc, jerr, sizeof jerr);
    if (rc == -2) return oom(&c);
    if (rc) return fail(&c, "", "the request body is not valid JSON: %s", jerr);
    r->doc = doc;
    const json_value *root = json_root(doc);
    rc = -1;
    if (root->type != JSON_OBJECT) {
        fail(&c, "", "the request body must be a JSON object, not %s", json_type_name(root->type));
        goto out;
    }
    for (size_t k = 0; k < root->n; k++) {
        const char *key = root->keys[k];
        int ok = in_list(common_keys, key) || in_list(endpoint == SRV_CHAT ? chat_keys : completion_keys, key) ||
                 (lim->allow_test_reply && !strcmp(key, "dsv3_test_reply"));
        if (!ok) {
            fail(&c, key, "unrecognized request argument supplied: %.64s", key);
            goto out;
        }
    }
    const char *model = NULL, *user = NULL;
    if (get_str(&c, root, "model", &model) || get_str(&c, root, "user", &user)) goto out;
    if (get_bool(&c, root, "stream", &r->stream, NULL)) goto out;
    const json_value *so = json_get(root, "stream_options");
    if (!is_null(so)) {
        if (so->type != JSON_OBJECT) { fail(&c, "stream_options", "'stream_options' must be an object"); goto out; }
        if (get_bool(&c, so, "include_usage", &r->include_usage, NULL)) goto out;
    }
    int64_t mt = 0;
    int pres = 0;
    if (get_int(&c, root, "max_tokens", 1, INT32_MAX, &mt, &pres)) goto out;
    if (pres) r->max_tokens = (int32_t)mt;
    if (endpoint == SRV_CHAT) {
        if (get_int(&c, root, "max_completion_tokens", 1, INT32_MAX, &mt, &pres)) goto out;
        if (pres) r->max_tokens = (int32_t)mt;
    }
    if (parse_unsupported(&c, root, endpoint)) goto out;
    if (parse_sampling(&c, root, lim, r) || parse_stop(&c, root, r)) goto out;
    if (endpoint == SRV_CHAT) {
        if (parse_messages(&c, root, r) || parse_tools(&c, root, r)) goto out;
    } else {
        if (parse_prompt(&c, root, lim, r)) goto out;
        if (get_bool(&c, root, "echo", &r->echo, NULL)) goto out;
    }
    const json_value *tr = json_get(root, "dsv3_test_reply");
    if (!is_null(tr)) {
        if (check_str(&c, tr, "dsv3_test_reply")) goto out;
        r->test_reply = tr->str;
        r->test_reply_len = tr->len;
    }
    rc = 0;
out:
    if (c.oom) rc = -2;
    /* the owned strings travel with the request */
    if (c.n_owned) {
        owned_block *ob = malloc(sizeof *ob);
        if (ob) {
            ob->p = c.owned;
            ob->n = c.n_owned;
            r->owned = ob;
        } else {
            for (size_t i = 0; i < c.n_owned; i++) free(c.owned[i]);
            free(c.owned);
            if (!rc) {
                srv_request_free(r);
                return oom(&c);
            }
        }
    } else {
        free(c.owned);
    }
    return rc;
}

void srv_request_free(srv_request *r) {
    if (!r) return;
    owned_block *ob = r->owned;
    if (ob) {
        for (size_t i = 0; i < ob->n; i++) free(ob->p[i]);
        free(ob->p);
        free(ob);
    }
    for (size_t i = 0; i < r->n_tools; i++) free(r->tools[i].parameters);
    free(r->tools);
    free(r->msgs);
    free(r->calls);
    free(r->bias_ids);
    free(r->bias_values);
    free(r->prompt_ids);
    json_free(r->doc);
    memset(r, 0, sizeof *r);
}
