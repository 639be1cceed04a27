/* fuzz_server_request.c -- libFuzzer harness for dsv3-server's request
 * checking (examples/server/request.c) and its streaming reply parser
 * (examples/server/reply_parse.c), neither of which touches HTTP.
 *
 * Input: a flag byte, then the body. Flag bit 0: the completions endpoint
 * instead of chat; bit 1: the test hook allowed; bit 2: the reply parser
 * instead (bit 3: parse tool calls, bit 4: parse <think>), fed the body in
 * pieces whose sizes come from bits 5-7.
 *
 * Checks: a refused request has a message; an accepted one keeps the
 * promises request.h makes (a chat has messages with a role and C-string
 * content, at most 4 stop strings, logit_bias ids inside the vocabulary, a
 * named tool_choice naming a tool, a completion a prompt); the reply parser
 * with nothing to parse gives back exactly its input as content, and with
 * parsing on never emits a tool call's arguments before its start. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply_parse.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                           \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);          \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#define N_VOCAB 4096

typedef struct sink {
    srv_buf text;
    int starts, args_before_start;
} sink;

static int on_event(void *user, int ev, int index, const char *text, size_t len) {
    sink *s = user;
    if (ev == SRV_EV_TOOL_START) {
        CHECK(index == s->starts);
        s->starts++;
    } else if (ev == SRV_EV_TOOL_ARGS) {
        if (index >= s->starts) s->args_before_start = 1;
    } else if (ev == SRV_EV_CONTENT) {
        srv_buf_put(&s->text, text, len);
    }
    return 0;
}

static void fuzz_reply(uint8_t flag, const uint8_t *p, size_t n) {
    int tools = flag >> 3 & 1, think = flag >> 4 & 1;
    size_t piece = (size_t)(flag >> 5) + 1;
    srv_reply_parser rp;
    sink s = {{0}, 0, 0};
    srv_reply_init(&rp, tools, think, on_event, &s);
    for (size_t at = 0; at < n; at += piece) CHECK(srv_reply_feed(&rp, (const char *)p + at, at + piece <= n ? piece : n - at) == 0);
    CHECK(srv_reply_finish(&rp) == 0);
    if (!tools && !think) CHECK(s.text.len == n && (!n || !memcmp(s.text.p, p, n)));
    CHECK(!s.args_before_start || tools);
    srv_reply_free(&rp);
    srv_buf_free(&s.text);
}

static void fuzz_request(uint8_t flag, const uint8_t *p, size_t n) {
    int endpoint = flag & 1 ? SRV_COMPLETION : SRV_CHAT;
    srv_limits lim = {N_VOCAB, flag >> 1 & 1};
    srv_request r;
    char err[512], param[96];
    int rc = srv_request_parse((const char *)p, n, endpoint, &lim, &r, err, sizeof err, param, sizeof param);
    CHECK(rc == 0 || rc == -1 || rc == -2);
    if (rc) {
        CHECK(err[0] != 0);
        srv_request_free(&r);
        return;
    }
    CHECK(r.endpoint == endpoint && r.n_stop <= 4);
    for (size_t i = 0; i < r.n_stop; i++) CHECK(r.stop[i] && r.stop[i][0]);
    for (size_t i = 0; i < r.n_bias; i++) CHECK(r.bias_ids[i] >= 0 && r.bias_ids[i] < N_VOCAB);
    CHECK(r.max_tokens == -1 || r.max_tokens >= 1);
    if (r.test_reply) CHECK(lim.allow_test_reply);
    if (endpoint == SRV_CHAT) {
        CHECK(r.n_msgs >= 1 && r.msgs);
        for (size_t i = 0; i < r.n_msgs; i++) {
            const struct dsv3_chat_message *m = &r.msgs[i];
            CHECK(m->role);
            CHECK(!strcmp(m->role, "system") || !strcmp(m->role, "user") || !strcmp(m->role, "assistant") ||
                  !strcmp(m->role, "tool"));
            if (m->content) (void)strlen(m->content);
            else CHECK(!strcmp(m->role, "assistant") && m->n_tool_calls > 0);
            for (size_t k = 0; k < m->n_tool_calls; k++)
                CHECK(m->tool_calls[k].name && m->tool_calls[k].arguments && m->tool_calls[k].type);
        }
        if (r.tool_choice == SRV_TOOLS_NAMED) {
            int found = 0;
            for (size_t i = 0; i < r.n_tools; i++) found |= !strcmp(r.tools[i].name, r.tool_name);
            CHECK(found);
        }
    } else {
        CHECK(r.prompt || r.n_prompt_ids > 0);
        for (size_t i = 0; i < r.n_prompt_ids; i++) CHECK(r.prompt_ids[i] >= 0 && r.prompt_ids[i] < N_VOCAB);
    }
    srv_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    uint8_t flag = data[0];
    if (flag & 4) fuzz_reply(flag, data + 1, size - 1);
    else fuzz_request(flag, data + 1, size - 1);
    return 0;
}
