/* output.c -- chunks and bodies in OpenAI's format; see output.h. */
#include "output.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FINGERPRINT "dsv3-" DSV3_VERSION_STRING

/* ---- ids ------------------------------------------------------------------ */

static atomic_ullong id_counter;

static uint64_t mix(uint64_t z) { /* splitmix64's finalizer */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t srv_random_u64(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t c = atomic_fetch_add(&id_counter, 1);
    return mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 48) ^ mix(c + 0x9e3779b97f4a7c15ULL));
}

void srv_random_id(char *out, size_t size, const char *prefix) {
    uint64_t a = srv_random_u64(), b = srv_random_u64();
    snprintf(out, size, "%s%016llx%08llx", prefix, (unsigned long long)a, (unsigned long long)(b & 0xffffffffu));
}

void srv_error_json(srv_buf *b, const char *message, const char *type, const char *param, const char *code) {
    srv_buf_puts(b, "{\"error\":{\"message\":");
    srv_json_cstr(b, message);
    srv_buf_puts(b, ",\"type\":");
    srv_json_cstr(b, type);
    srv_buf_puts(b, ",\"param\":");
    srv_json_cstr(b, param && *param ? param : NULL);
    srv_buf_puts(b, ",\"code\":");
    srv_json_cstr(b, code);
    srv_buf_puts(b, "}}");
}

/* ---- streaming chunks ------------------------------------------------------ */

static void chunk_head(const srv_job *j, srv_buf *b) {
    int chat = j->req.endpoint == SRV_CHAT;
    srv_buf_puts(b, "data: {\"id\":");
    srv_json_cstr(b, j->id);
    srv_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", chat ? "chat.completion.chunk" : "text_completion",
                   j->created);
    srv_json_cstr(b, j->model_id);
    srv_buf_puts(b, ",\"system_fingerprint\":\"" FINGERPRINT "\",\"choices\":[{\"index\":0,");
}

static void chunk_tail(srv_buf *b, const char *finish) {
    srv_buf_puts(b, ",\"logprobs\":null,\"finish_reason\":");
    srv_json_cstr(b, finish);
    srv_buf_puts(b, "}]}\n\n");
}

static int send_buf(srv_job *j, srv_buf *b) {
    int ok = !b->oom;
    if (ok) srv_job_push(j, b->p, b->len);
    srv_buf_free(b);
    return ok ? 0 : -1;
}

/* A chat chunk whose delta is the JSON object text `delta`, or a
 * completion chunk carrying text. */
static int send_delta(srv_job *j, const char *delta_json) {
    srv_buf b = {0};
    chunk_head(j, &b);
    srv_buf_puts(&b, "\"delta\":");
    srv_buf_puts(&b, delta_json);
    chunk_tail(&b, NULL);
    return send_buf(j, &b);
}

/* ---- parser events ----------------------------------------------------------- */

static int on_event(void *user, int ev, int index, const char *text, size_t len) {
    srv_job *j = user;
    srv_buf d = {0};
    if (ev == SRV_EV_TOOL_START) {
        if (j->n_calls == j->cap_calls) {
            int nc = j->cap_calls ? j->cap_calls * 2 : 4;
            srv_tool_call_out *np = realloc(j->calls, (size_t)nc * sizeof *np);
            if (!np) return -1;
            j->calls = np;
            j->cap_calls = nc;
        }
        srv_tool_call_out *c = &j->calls[j->n_calls++];
        memset(c, 0, sizeof *c);
        srv_random_id(c->id, sizeof c->id, "call_");
        srv_buf_put(&c->name, text, len);
        if (c->name.oom) return -1;
        if (!j->req.stream) return 0;
        srv_buf_printf(&d, "{\"tool_calls\":[{\"index\":%d,\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":", index,
                       c->id);
        srv_json_str(&d, text, len);
        srv_buf_puts(&d, ",\"arguments\":\"\"}}]}");
    } else if (ev == SRV_EV_TOOL_ARGS) {
        if (index >= j->n_calls) return 0; /* arguments without a name: not a call */
        srv_buf_put(&j->calls[index].args, text, len);
        if (j->calls[index].args.oom) return -1;
        if (!j->req.stream) return 0;
        srv_buf_printf(&d, "{\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":", index);
        srv_json_str(&d, text, len);
        srv_buf_puts(&d, "}}]}");
    } else {
        srv_buf *acc = ev == SRV_EV_REASONING ? &j->reasoning : &j->content;
        srv_buf_put(acc, text, len);
        if (acc->oom) return -1;
        if (!j->req.stream) return 0;
        srv_buf_puts(&d, ev == SRV_EV_REASONING ? "{\"reasoning_content\":" : "{\"content\":");
        srv_json_str(&d, text, len);
        srv_buf_puts(&d, "}");
    }
    int rc = d.oom ? -1 : send_delta(j, d.p);
    srv_buf_free(&d);
    return rc;
}

int srv_out_begin(srv_job *j) {
    int chat = j->req.endpoint == SRV_CHAT;
    srv_reply_init(&j->parser, j->prompt.parse_tools, j->prompt.parse_think, on_event, j);
    if (chat && j->req.stream) {
        if (send_delta(j, "{\"role\":\"assistant\",\"content\":\"\"}")) return -1;
        j->sent_role = 1;
    }
    if (chat && j->prompt.prefill) return srv_out_piece(j, j->prompt.prefill, strlen(j->prompt.prefill));
    if (!chat && j->req.echo && j->req.prompt) return srv_out_piece(j, j->req.prompt, j->req.prompt_len);
    return 0;
}

int srv_out_piece(srv_job *j, const char *text, size_t len) {
    if (!len) return 0;
    if (j->req.endpoint == SRV_CHAT) return srv_reply_feed(&j->parser, text, len) ? -1 : 0;
    srv_buf_put(&j->content, text, len);
    if (j->content.oom) return -1;
    if (!j->req.stream) return 0;
    srv_buf b = {0};
    chunk_head(j, &b);
    srv_buf_puts(&b, "\"text\":");
    srv_json_str(&b, text, len);
    chunk_tail(&b, NULL);
    return send_buf(j, &b);
}

static const char *finish_reason(const srv_job *j) {
    if (j->stop_reason == DSV3_STOP_MAX_TOKENS || j->stop_reason == DSV3_STOP_CONTEXT_FULL) return "length";
    if (j->n_calls) return "tool_calls";
    return "stop";
}

static void usage_json(const srv_job *j, srv_buf *b) {
    int32_t np = (int32_t)j->prompt.n;
    srv_buf_printf(b,
                   "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
                   "\"prompt_tokens_details\":{\"cached_tokens\":%d}}",
                   np, j->n_generated, np + j->n_generated, j->n_cached);
}

/* Not OpenAI's: speed figures, as llama.cpp's server reports them. */
static void timings_json(const srv_job *j, srv_buf *b) {
    int32_t np = (int32_t)j->prompt.n - j->n_cached;
    srv_buf_printf(b,
                   "\"timings\":{\"cached_n\":%d,\"prompt_n\":%d,\"prompt_ms\":%.3f,\"prompt_per_second\":%.2f,"
                   "\"predicted_n\":%d,\"predicted_ms\":%.3f,\"predicted_per_second\":%.2f,\"queue_ms\":%.3f,"
                   "\"draft_n\":%d,\"draft_n_accepted\":%d}",
                   j->n_cached, np, j->prompt_seconds * 1e3, j->prompt_seconds > 0 ? np / j->prompt_seconds : 0.0,
                   j->n_generated, j->generate_seconds * 1e3,
                   j->generate_seconds > 0 ? j->n_generated / j->generate_seconds : 0.0, (j->t_start - j->t_submit) * 1e3,
                   j->n_drafted, j->n_accepted);
}

static void body_json(const srv_job *j, srv_buf *b) {
    int chat = j->req.endpoint == SRV_CHAT;
    srv_buf_puts(b, "{\"id\":");
    srv_json_cstr(b, j->id);
    srv_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", chat ? "chat.completion" : "text_completion", j->created);
    srv_json_cstr(b, j->model_id);
    srv_buf_puts(b, ",\"system_fingerprint\":\"" FINGERPRINT "\",\"choices\":[{\"index\":0,");
    if (chat) {
        srv_buf_puts(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        if (j->n_calls && !j->content.len) srv_buf_puts(b, "null");
        else srv_json_str(b, j->content.p ? j->content.p : "", j->content.len);
        if (j->reasoning.len) {
            srv_buf_puts(b, ",\"reasoning_content\":");
            srv_json_str(b, j->reasoning.p, j->reasoning.len);
        }
        if (j->n_calls) {
            srv_buf_puts(b, ",\"tool_calls\":[");
            for (int i = 0; i < j->n_calls; i++) {
                const srv_tool_call_out *c = &j->calls[i];
                srv_buf_printf(b, "%s{\"id\":\"%s\",\"type\":\"function\",\"function\":{\"name\":", i ? "," : "", c->id);
                srv_json_str(b, c->name.p ? c->name.p : "", c->name.len);
                srv_buf_puts(b, ",\"arguments\":");
                srv_json_str(b, c->args.p ? c->args.p : "", c->args.len);
                srv_buf_puts(b, "}}");
            }
            srv_buf_puts(b, "]");
        }
        srv_buf_puts(b, "}");
    } else {
        srv_buf_puts(b, "\"text\":");
        srv_json_str(b, j->content.p ? j->content.p : "", j->content.len);
    }
    srv_buf_puts(b, ",\"logprobs\":null,\"finish_reason\":");
    srv_json_cstr(b, finish_reason(j));
    srv_buf_puts(b, "}],");
    usage_json(j, b);
    srv_buf_puts(b, ",");
    timings_json(j, b);
    srv_buf_puts(b, "}");
}

void srv_out_end(srv_job *j, int status, const char *message) {
    srv_buf b = {0};
    const int cancelled = status == DSV3_ERR_CANCELLED;
    if (!status && j->req.endpoint == SRV_CHAT && srv_reply_finish(&j->parser)) status = DSV3_ERR_NO_MEMORY;
    int http = 200;
    if (status) {
        /* cancelled: the client went away (nobody reads this) or the
         * server is stopping */
        http = cancelled ? 503 : status == DSV3_ERR_CONTEXT_FULL || status == DSV3_ERR_BAD_TOKEN ? 400 : 500;
        char msg[600];
        if (cancelled) snprintf(msg, sizeof msg, "the request was cancelled (the server is stopping)");
        else snprintf(msg, sizeof msg, "generation failed: %s (%s)", message && *message ? message : "-", dsv3_status_string(status));
        if (j->req.stream) srv_buf_puts(&b, "data: ");
        srv_error_json(&b, msg, http == 400 ? "invalid_request_error" : "server_error", NULL, NULL);
        if (j->req.stream) srv_buf_puts(&b, "\n\ndata: [DONE]\n\n");
    } else if (j->req.stream) {
        chunk_head(j, &b);
        srv_buf_puts(&b, j->req.endpoint == SRV_CHAT ? "\"delta\":{}" : "\"text\":\"\"");
        srv_buf_puts(&b, ",\"logprobs\":null,\"finish_reason\":");
        srv_json_cstr(&b, finish_reason(j));
        srv_buf_puts(&b, "}],");
        timings_json(j, &b);
        srv_buf_puts(&b, "}\n\n");
        if (j->req.include_usage) {
            srv_buf_puts(&b, "data: {\"id\":");
            srv_json_cstr(&b, j->id);
            srv_buf_printf(&b, ",\"object\":\"%s\",\"created\":%lld,\"model\":",
                           j->req.endpoint == SRV_CHAT ? "chat.completion.chunk" : "text_completion", j->created);
            srv_json_cstr(&b, j->model_id);
            srv_buf_puts(&b, ",\"system_fingerprint\":\"" FINGERPRINT "\",\"choices\":[],");
            usage_json(j, &b);
            srv_buf_puts(&b, "}\n\n");
        }
        srv_buf_puts(&b, "data: [DONE]\n\n");
    } else {
        body_json(j, &b);
    }
    if (b.oom) {
        srv_buf_free(&b);
        srv_buf_puts(&b, "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        http = 500;
    }
    srv_job_push(j, b.p ? b.p : "", b.len);
    srv_buf_free(&b);
    srv_job_finish(j, http);
}
