/* fuzz_chat.c -- chat messages to render: dsv3_chat_render (and the
 * template underneath, lib/chat_template.c) with fuzzed roles, contents and
 * tool calls, NULLs included, and fuzzed output capacities.
 *
 * Input, read as a byte stream: add_generation_prompt, a message count
 * (0..16), then per message a role (one of the four, another string or
 * NULL), a content (string or NULL) and 0..3 tool calls (type, name,
 * arguments: strings or NULL; sometimes a NULL array). Strings are the
 * next bytes up to a NUL. Checked:
 *  - INVALID_ARG exactly when chat_template.h says (a NULL role; NULL
 *    content in a system, user or tool message; a NULL tool-call array
 *    with a count; a NULL field in a tool call of an assistant turn
 *    without content), and only when some NULL was passed;
 *  - the size query, an exact buffer and every shorter one agree: the same
 *    length, the same bytes, snprintf-style truncation with a NUL;
 *  - the public entry point equals the template with the tokenizer's BOS;
 *  - the rendering tokenizes and decodes back to itself. */
#include "fuzz_util.h"

#include "chat_template.h"
#include "fuzz_tok_common.h"
#include "fuzz_tokenizer_path.h"
#include "tokenizer.h"

static dsv3_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    g_tok = fuzz_load_tokenizer("fuzz_chat");
    return 0;
}

#define MAX_MSGS 16
#define MAX_STR 512

static const char *const roles[] = {"system", "user", "assistant", "tool"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_in in = {data, size, 0};
    struct dsv3_chat_message msgs[MAX_MSGS];
    struct dsv3_tool_call calls[MAX_MSGS][3];
    char *owned[MAX_MSGS * 12];
    size_t n_owned = 0;
    const int agp = fuzz_u8(&in) & 1;
    const size_t n = fuzz_u8(&in) % (MAX_MSGS + 1);
    int any_null = 0, must_fail = 0;
#define STR(dst, can_null)                                                 \
    do {                                                                   \
        if ((can_null) && fuzz_u8(&in) >= 250) {                           \
            (dst) = NULL;                                                  \
            any_null = 1;                                                  \
        } else {                                                           \
            owned[n_owned] = fuzz_cstr(&in, MAX_STR);                      \
            (dst) = owned[n_owned++];                                      \
        }                                                                  \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        struct dsv3_chat_message *m = &msgs[i];
        uint8_t r = fuzz_u8(&in);
        if (r < 240) m->role = roles[r % 4];
        else if (r < 250) STR(m->role, 0);
        else {
            m->role = NULL;
            any_null = must_fail = 1;
        }
        STR(m->content, 1);
        int needs_content = m->role && (!strcmp(m->role, "system") || !strcmp(m->role, "user") || !strcmp(m->role, "tool"));
        if (!m->content && needs_content) must_fail = 1;
        m->n_tool_calls = fuzz_u8(&in) % 4;
        m->tool_calls = calls[i];
        if (m->n_tool_calls && fuzz_u8(&in) >= 250) {
            m->tool_calls = NULL;
            any_null = 1;
            must_fail = 1;
        }
        for (size_t k = 0; k < m->n_tool_calls; k++) {
            STR(calls[i][k].type, 1);
            STR(calls[i][k].name, 1);
            STR(calls[i][k].arguments, 1);
            /* checked where rendered: an assistant turn without content */
            if (m->tool_calls && m->role && !strcmp(m->role, "assistant") && !m->content &&
                (!calls[i][k].type || !calls[i][k].name || !calls[i][k].arguments))
                must_fail = 1;
        }
    }
#undef STR
    size_t need = 0;
    int rc = dsv3_chat_render(g_tok, n ? msgs : NULL, n, agp, NULL, 0, &need);
    FUZZ_ASSERT((rc == DSV3_ERR_INVALID_ARG) == must_fail && (!must_fail || any_null));
    if (!must_fail) {
        FUZZ_ASSERT(rc == DSV3_ERR_TOO_SMALL || (rc == DSV3_OK && need == 0));
        char *text = malloc(need + 1);
        size_t len = 0;
        FUZZ_ASSERT(text && dsv3_chat_render(g_tok, msgs, n, agp, text, need + 1, &len) == DSV3_OK);
        FUZZ_ASSERT(len == need && text[need] == 0);
        /* the template with the tokenizer's BOS text gives the same bytes */
        char *same = malloc(need + 1);
        dsv3_err e;
        err_clear(&e);
        FUZZ_ASSERT(same && chat_render_deepseek_v3(tokenizer_bos_text(g_tok), msgs, n, agp, same, need + 1, &len, &e) ==
                                DSV3_OK);
        FUZZ_ASSERT(len == need && !memcmp(same, text, need + 1));
        /* shorter buffers: TOO_SMALL, the full length, a NUL-terminated prefix */
        size_t caps[3] = {1, need / 2 + 1, need};
        for (int c = 0; c < 3; c++) {
            if (caps[c] > need) continue;
            memset(same, 0x55, need + 1);
            len = 0;
            FUZZ_ASSERT(dsv3_chat_render(g_tok, msgs, n, agp, same, caps[c], &len) == DSV3_ERR_TOO_SMALL);
            FUZZ_ASSERT(len == need && same[caps[c] - 1] == 0 && !memcmp(same, text, caps[c] - 1));
            FUZZ_ASSERT(caps[c] > need - 1 || (unsigned char)same[caps[c]] == 0x55);
        }
        free(same);
        fuzz_tok_roundtrip(g_tok, text, need, 0, 1);
        free(text);
    }
    for (size_t i = 0; i < n_owned; i++) free(owned[i]);
    return 0;
}
