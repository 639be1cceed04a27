/* prompt.c -- requests to token ids; see prompt.h.
 *
 * DeepSeek-V3's chat template has no place for tool definitions (its
 * hosted API adds them out of band), so they are described in a system
 * block that the template hoists to the front together with the caller's
 * system messages, in the same markup the model is asked to answer in. */
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "reply_parse.h"

static void tools_block(const srv_request *r, srv_buf *b) {
    srv_buf_puts(b, "## Tools\n\nYou can call the functions below. To call one or more of them, answer with:\n" SRV_CALLS_BEGIN
                    SRV_CALL_BEGIN "function" SRV_TOOL_SEP "FUNCTION_NAME\n```json\n{ARGUMENTS AS JSON}\n```" SRV_CALL_END
                        SRV_CALLS_END "\n");
    if (r->tool_choice == SRV_TOOLS_REQUIRED) srv_buf_puts(b, "You must call at least one function.\n");
    for (size_t i = 0; i < r->n_tools; i++) {
        const srv_tool *t = &r->tools[i];
        srv_buf_printf(b, "\n### %s\n", t->name);
        if (t->description) srv_buf_printf(b, "%s\n", t->description);
        if (t->parameters) srv_buf_printf(b, "Parameters (JSON Schema):\n```json\n%s\n```\n", t->parameters);
    }
}

static int encode(const dsv3_tokenizer *tok, const char *text, size_t len, unsigned flags, srv_prompt *out) {
    size_t cap = len + 8;
    out->ids = malloc(cap * sizeof *out->ids);
    if (!out->ids) return -2;
    int rc = dsv3_tokenize(tok, text, len, flags, out->ids, cap, &out->n);
    if (rc == DSV3_ERR_TOO_SMALL) {
        int32_t *ni = realloc(out->ids, (out->n ? out->n : 1) * sizeof *ni);
        if (!ni) return -2;
        out->ids = ni;
        cap = out->n;
        rc = dsv3_tokenize(tok, text, len, flags, out->ids, cap, &out->n);
    }
    if (rc == DSV3_ERR_NO_MEMORY) return -2;
    return rc ? -1 : 0;
}

static int render_chat(const dsv3_tokenizer *tok, const srv_request *r, srv_prompt *out, char *err, size_t es) {
    int with_tools = r->n_tools && r->tool_choice != SRV_TOOLS_NONE;
    struct dsv3_chat_message *msgs = malloc((r->n_msgs + 1) * sizeof *msgs);
    srv_buf sys = {0}, text = {0};
    int rc = -2;
    if (!msgs) return -2;
    memcpy(msgs, r->msgs, r->n_msgs * sizeof *msgs);
    size_t n = r->n_msgs;
    if (with_tools) {
        tools_block(r, &sys);
        if (sys.oom) goto out;
        msgs[n++] = (struct dsv3_chat_message){"system", sys.p, NULL, 0};
    }
    /* measure, then render into a buffer of that size */
    size_t len = 0;
    int r2 = dsv3_chat_render(tok, msgs, n, 1, NULL, 0, &len);
    if (r2 == DSV3_OK || r2 == DSV3_ERR_TOO_SMALL) {
        text.p = malloc(len + 1);
        if (!text.p) goto out;
        text.cap = len + 1;
        r2 = dsv3_chat_render(tok, msgs, n, 1, text.p, text.cap, &len);
    }
    if (r2) {
        snprintf(err, es, "the messages cannot be rendered: %s", dsv3_status_string(r2));
        rc = -1;
        goto out;
    }
    text.len = len;
    /* tool_choice "required" or a function name: the reply starts inside
     * the call markup, written here as the beginning of the answer */
    if (with_tools && (r->tool_choice == SRV_TOOLS_REQUIRED || r->tool_choice == SRV_TOOLS_NAMED)) {
        srv_buf pre = {0};
        srv_buf_puts(&pre, SRV_CALLS_BEGIN SRV_CALL_BEGIN "function" SRV_TOOL_SEP);
        if (r->tool_choice == SRV_TOOLS_NAMED) srv_buf_printf(&pre, "%s\n```json\n", r->tool_name);
        if (pre.oom) { srv_buf_free(&pre); goto out; }
        srv_buf_put(&text, pre.p, pre.len);
        out->prefill = pre.p;
    }
    if (text.oom) goto out;
    rc = encode(tok, text.p, text.len, 0, out); /* the rendering starts with the BOS text */
    if (rc == -1) snprintf(err, es, "the rendered conversation cannot be tokenized");
    out->parse_tools = with_tools;
    out->parse_think = 1;
out:
    free(msgs);
    srv_buf_free(&sys);
    srv_buf_free(&text);
    return rc;
}

int srv_prompt_build(const dsv3_tokenizer *tok, const srv_request *r, srv_prompt *out, char *err, size_t es) {
    memset(out, 0, sizeof *out);
    int rc;
    if (r->endpoint == SRV_CHAT) {
        rc = render_chat(tok, r, out, err, es);
    } else if (r->prompt_ids) {
        out->ids = malloc(r->n_prompt_ids * sizeof *out->ids);
        if (!out->ids) return -2;
        memcpy(out->ids, r->prompt_ids, r->n_prompt_ids * sizeof *out->ids);
        out->n = r->n_prompt_ids;
        rc = 0;
    } else {
        /* as `dsv3 run -p` encodes its prompt */
        rc = encode(tok, r->prompt, r->prompt_len, dsv3_tokenizer_add_bos(tok) ? DSV3_TOKENIZE_ADD_BOS : 0, out);
        if (rc == -1) snprintf(err, es, "the prompt cannot be tokenized");
    }
    if (!rc && !out->n) {
        snprintf(err, es, "the prompt is empty");
        rc = -1;
    }
    if (rc) srv_prompt_free(out);
    return rc;
}

void srv_prompt_free(srv_prompt *p) {
    free(p->ids);
    free(p->prefill);
    memset(p, 0, sizeof *p);
}
