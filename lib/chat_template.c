/* chat_template.c -- DeepSeek-V3's chat_template rendered natively.
 *
 * This is a hand translation of the Jinja template shipped in DeepSeek-V3's
 * tokenizer_config.json, with its quirks kept so that the output is
 * byte-identical to what a Jinja engine produces:
 *   - every system message, wherever it appears, is hoisted to the front
 *     (right after the BOS text) and they are joined with "\n\n";
 *   - nothing separates turns; an assistant turn with content ends with
 *     "<｜end▁of▁sentence｜>";
 *   - ns.is_first is never reset: only the very first tool call of the whole
 *     conversation opens with "<｜Assistant｜><｜tool▁calls▁begin｜>"; every
 *     later call starts with "\n<｜tool▁call▁begin｜>" and is followed by
 *     "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>" (so a single call gets no
 *     end marker at all);
 *   - ns.is_output_first is never reset either: only the first tool message
 *     opens with "<｜tool▁outputs▁begin｜>";
 *   - an assistant message with content that follows tool outputs opens with
 *     "<｜tool▁outputs▁end｜>" instead of "<｜Assistant｜>";
 *   - if the conversation ends on tool outputs, "<｜tool▁outputs▁end｜>" is
 *     appended and add_generation_prompt adds nothing;
 *   - roles other than system/user/assistant/tool render nothing and change
 *     no state; an assistant message with NULL content and no tool calls
 *     renders nothing but, like any assistant tool-call turn, clears is_tool.
 * The end-of-sentence text is written literally by the template (it is not
 * eos_token); only the BOS text is a parameter. */
#include "chat_template.h"

#include <string.h>

#define T_USER "<\xEF\xBD\x9CUser\xEF\xBD\x9C>"
#define T_ASSISTANT "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>"
#define T_EOS "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"
#define T_CALLS_BEGIN "<\xEF\xBD\x9Ctool\xE2\x96\x81" "calls\xE2\x96\x81" "begin\xEF\xBD\x9C>"
#define T_CALLS_END "<\xEF\xBD\x9Ctool\xE2\x96\x81" "calls\xE2\x96\x81" "end\xEF\xBD\x9C>"
#define T_CALL_BEGIN "<\xEF\xBD\x9Ctool\xE2\x96\x81" "call\xE2\x96\x81" "begin\xEF\xBD\x9C>"
#define T_CALL_END "<\xEF\xBD\x9Ctool\xE2\x96\x81" "call\xE2\x96\x81" "end\xEF\xBD\x9C>"
#define T_SEP "<\xEF\xBD\x9Ctool\xE2\x96\x81sep\xEF\xBD\x9C>"
#define T_OUTPUTS_BEGIN "<\xEF\xBD\x9Ctool\xE2\x96\x81outputs\xE2\x96\x81" "begin\xEF\xBD\x9C>"
#define T_OUTPUTS_END "<\xEF\xBD\x9Ctool\xE2\x96\x81outputs\xE2\x96\x81" "end\xEF\xBD\x9C>"
#define T_OUTPUT_BEGIN "<\xEF\xBD\x9Ctool\xE2\x96\x81output\xE2\x96\x81" "begin\xEF\xBD\x9C>"
#define T_OUTPUT_END "<\xEF\xBD\x9Ctool\xE2\x96\x81output\xE2\x96\x81" "end\xEF\xBD\x9C>"

/* Output sink: copies what fits, counts everything. */
typedef struct sink {
    char *out;
    size_t cap;
    size_t len;
} sink;

static void put(sink *s, const char *p, size_t n) {
    if (s->len < s->cap) {
        size_t room = s->cap - s->len;
        memcpy(s->out + s->len, p, n < room ? n : room);
    }
    s->len += n;
}

static void puts_(sink *s, const char *p) { put(s, p, strlen(p)); }

enum role { ROLE_OTHER, ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL };

static enum role role_of(const char *r) {
    if (!strcmp(r, "system")) return ROLE_SYSTEM;
    if (!strcmp(r, "user")) return ROLE_USER;
    if (!strcmp(r, "assistant")) return ROLE_ASSISTANT;
    if (!strcmp(r, "tool")) return ROLE_TOOL;
    return ROLE_OTHER;
}

static int validate(const struct dsv3_chat_message *msgs, size_t n, dsv3_err *e) {
    if (n && !msgs) return err_set(e, DSV3_ERR_INVALID_ARG, "chat render: messages is NULL but n_msgs = %zu", n);
    for (size_t i = 0; i < n; i++) {
        const struct dsv3_chat_message *m = &msgs[i];
        if (!m->role) return err_set(e, DSV3_ERR_INVALID_ARG, "chat render: message %zu has a NULL role", i);
        if (m->n_tool_calls && !m->tool_calls)
            return err_set(e, DSV3_ERR_INVALID_ARG, "chat render: message %zu has tool_calls NULL but n_tool_calls = %zu",
                           i, m->n_tool_calls);
        enum role r = role_of(m->role);
        if ((r == ROLE_SYSTEM || r == ROLE_USER || r == ROLE_TOOL) && !m->content)
            return err_set(e, DSV3_ERR_INVALID_ARG, "chat render: message %zu (role \"%s\") has NULL content", i,
                           m->role);
        if (r == ROLE_ASSISTANT && !m->content) {
            for (size_t j = 0; j < m->n_tool_calls; j++) {
                const struct dsv3_tool_call *t = &m->tool_calls[j];
                if (!t->type || !t->name || !t->arguments)
                    return err_set(e, DSV3_ERR_INVALID_ARG,
                                   "chat render: message %zu, tool call %zu: type, name and arguments are required", i,
                                   j);
            }
        }
    }
    return DSV3_OK;
}

static void put_tool_call(sink *s, const struct dsv3_tool_call *t) {
    puts_(s, t->type);
    puts_(s, T_SEP);
    puts_(s, t->name);
    puts_(s, "\n```json\n");
    puts_(s, t->arguments);
    puts_(s, "\n```" T_CALL_END);
}

int chat_render_deepseek_v3(const char *bos_text, const struct dsv3_chat_message *msgs, size_t n,
                            int add_generation_prompt, char *out, size_t cap, size_t *len, dsv3_err *e) {
    if (!out && cap) return err_set(e, DSV3_ERR_INVALID_ARG, "chat render: text is NULL but capacity = %zu", cap);
    int rc = validate(msgs, n, e);
    if (rc) return rc;

    sink s = {out, cap, 0};
    /* {{bos_token}}{{ns.system_prompt}} */
    if (bos_text) puts_(&s, bos_text);
    int first_sp = 1;
    for (size_t i = 0; i < n; i++) {
        if (role_of(msgs[i].role) != ROLE_SYSTEM) continue;
        if (!first_sp) puts_(&s, "\n\n");
        puts_(&s, msgs[i].content);
        first_sp = 0;
    }

    int is_first = 0, is_tool = 0, is_output_first = 1;
    for (size_t i = 0; i < n; i++) {
        const struct dsv3_chat_message *m = &msgs[i];
        switch (role_of(m->role)) {
        case ROLE_USER:
            is_tool = 0;
            puts_(&s, T_USER);
            puts_(&s, m->content);
            break;
        case ROLE_ASSISTANT:
            if (!m->content) {
                is_tool = 0;
                for (size_t j = 0; j < m->n_tool_calls; j++) {
                    if (!is_first) {
                        puts_(&s, T_ASSISTANT T_CALLS_BEGIN T_CALL_BEGIN);
                        put_tool_call(&s, &m->tool_calls[j]);
                        is_first = 1;
                    } else {
                        puts_(&s, "\n" T_CALL_BEGIN);
                        put_tool_call(&s, &m->tool_calls[j]);
                        puts_(&s, T_CALLS_END T_EOS);
                    }
                }
            } else if (is_tool) {
                puts_(&s, T_OUTPUTS_END);
                puts_(&s, m->content);
                puts_(&s, T_EOS);
                is_tool = 0;
            } else {
                puts_(&s, T_ASSISTANT);
                puts_(&s, m->content);
                puts_(&s, T_EOS);
            }
            break;
        case ROLE_TOOL:
            is_tool = 1;
            if (is_output_first) {
                puts_(&s, T_OUTPUTS_BEGIN T_OUTPUT_BEGIN);
                is_output_first = 0;
            } else {
                puts_(&s, "\n" T_OUTPUT_BEGIN);
            }
            puts_(&s, m->content);
            puts_(&s, T_OUTPUT_END);
            break;
        case ROLE_SYSTEM: /* already hoisted */
        case ROLE_OTHER: break;
        }
    }
    if (is_tool) puts_(&s, T_OUTPUTS_END);
    if (add_generation_prompt && !is_tool) puts_(&s, T_ASSISTANT);

    if (len) *len = s.len;
    if (s.len < cap) {
        out[s.len] = 0;
        return DSV3_OK;
    }
    if (cap) out[cap - 1] = 0;
    return err_set(e, DSV3_ERR_TOO_SMALL, "chat render: the text needs %zu bytes plus the NUL, capacity is %zu", s.len,
                   cap);
}
