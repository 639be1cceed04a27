/* test_chat.c -- the DeepSeek-V3 chat template (lib/chat_template.c).
 *
 * Renders every case of tokenizer/deepseek-v3/golden-chat.jsonl with
 * chat_render_deepseek_v3 and compares the bytes with its "text"; then the
 * same through dsv3_chat_render with the real tokenizer (BOS text from
 * tokenizer_config.json), tokenizing the result to the case's "ids". Then
 * capacity handling, invalid arguments and the template's edge cases
 * (unknown roles, an assistant turn with NULL content and no tool calls,
 * state that is never reset, tool outputs at the end).
 * Usage: test_chat SHARED_DIR */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"
#include "golden_util.h"

#define BOS "<｜begin▁of▁sentence｜>"

/* Renders into a heap buffer of exactly the needed size (ASan catches any
 * write past it). Returns the status; *text is malloc'ed on DSV3_OK. */
static int render(const char *bos, const struct dsv3_chat_message *m, size_t n, int agp, char **text,
                  size_t *len) {
    size_t need = 0;
    *text = NULL;
    int rc = chat_render_deepseek_v3(bos, m, n, agp, NULL, 0, &need, NULL);
    if (rc != DSV3_ERR_TOO_SMALL) return rc;
    char *buf = malloc(need + 1);
    if (!buf) return DSV3_ERR_NO_MEMORY;
    dsv3_err e;
    err_clear(&e);
    rc = chat_render_deepseek_v3(bos, m, n, agp, buf, need + 1, len, &e);
    if (rc) {
        free(buf);
        return rc;
    }
    *text = buf;
    return rc;
}

static const char *str_or_null(const json_value *v) { return v && v->type == JSON_STRING ? v->str : NULL; }

/* ---- golden cases ------------------------------------------------------- */
/* The public entry point with the real tokenizer: the BOS text comes from
 * tokenizer_config.json, and the rendering tokenizes (without adding a BOS)
 * to the case's ids. */
static int n_api_exact, n_ids_exact;

static void check_api(const dsv3_tokenizer *tok, int case_no, const struct dsv3_chat_message *m, size_t nm, int agp,
                      const json_value *want, const json_value *want_ids) {
    size_t need = 0;
    int rc = dsv3_chat_render(tok, m, nm, agp, NULL, 0, &need);
    CHECK(rc == DSV3_ERR_TOO_SMALL, "case %d: dsv3_chat_render size query: rc %d", case_no, rc);
    char *text = malloc(need + 1);
    size_t len = 0;
    rc = dsv3_chat_render(tok, m, nm, agp, text, need + 1, &len);
    int exact = rc == DSV3_OK && want && len == want->len && !memcmp(text, want->str, len);
    CHECK(exact, "case %d: dsv3_chat_render differs (rc %d)", case_no, rc);
    n_api_exact += exact;
    if (rc == DSV3_OK) {
        int n_want = 0;
        int32_t *ids_want = json_ints(want_ids, &n_want);
        size_t cap = len + 16, n_ids = 0;
        int32_t *ids = malloc(sizeof(int32_t) * cap);
        rc = dsv3_tokenize(tok, text, len, 0, ids, cap, &n_ids);
        int same = rc == DSV3_OK && n_ids == (size_t)n_want && !memcmp(ids, ids_want, sizeof(int32_t) * n_ids);
        CHECK(same, "case %d: ids of the rendering differ (rc %d, %zu ids, want %d)", case_no, rc, n_ids, n_want);
        n_ids_exact += same;
        free(ids);
        free(ids_want);
    }
    free(text);
}

static void test_golden(const char *shared, const dsv3_tokenizer *tok) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3/golden-chat.jsonl", shared);
    size_t flen;
    char *file = slurp(path, &flen);
    int n_cases = 0, n_exact = 0;
    char *line = file;
    while (line < file + flen) {
        char *nl = memchr(line, '\n', (size_t)(file + flen - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(file + flen - line);
        char *next = nl ? nl + 1 : file + flen;
        if (ll == 0) {
            line = next;
            continue;
        }
        json_doc *doc = NULL;
        char err[256];
        if (json_parse(line, ll, &doc, err, sizeof err)) {
            CHECK(0, "case %d: cannot parse: %s", n_cases, err);
            line = next;
            n_cases++;
            continue;
        }
        const json_value *root = json_root(doc);
        const json_value *msgs = json_get(root, "messages");
        const json_value *agp = json_get(root, "add_generation_prompt");
        const json_value *want = json_get(root, "text");
        CHECK(msgs && msgs->type == JSON_ARRAY && agp && agp->type == JSON_BOOL && want && want->type == JSON_STRING,
              "case %d: unexpected shape", n_cases);
        size_t nm = msgs ? msgs->n : 0;
        struct dsv3_chat_message *m = calloc(nm + 1, sizeof *m);
        size_t n_calls = 0;
        for (size_t i = 0; i < nm; i++) {
            const json_value *tc = json_get(&msgs->items[i], "tool_calls");
            if (tc && tc->type == JSON_ARRAY) n_calls += tc->n;
        }
        struct dsv3_tool_call *calls = calloc(n_calls + 1, sizeof *calls);
        size_t k = 0;
        for (size_t i = 0; i < nm; i++) {
            const json_value *mv = &msgs->items[i];
            m[i].role = str_or_null(json_get(mv, "role"));
            m[i].content = str_or_null(json_get(mv, "content"));
            const json_value *tc = json_get(mv, "tool_calls");
            if (tc && tc->type == JSON_ARRAY) {
                m[i].tool_calls = calls + k;
                m[i].n_tool_calls = tc->n;
                for (size_t j = 0; j < tc->n; j++, k++) {
                    const json_value *fn = json_get(&tc->items[j], "function");
                    calls[k].type = str_or_null(json_get(&tc->items[j], "type"));
                    calls[k].name = str_or_null(json_get(fn, "name"));
                    calls[k].arguments = str_or_null(json_get(fn, "arguments"));
                }
            }
        }
        /* ids: the lead's token-id comparison will use them; here only the
         * BOS id is checked (the template writes the BOS text itself). */
        int n_ids = 0;
        int32_t *ids = json_ints(json_get(root, "ids"), &n_ids);
        CHECK(n_ids > 0 && ids[0] == 0, "case %d: ids should start with BOS id 0", n_cases);
        free(ids);
        char *text = NULL;
        size_t len = 0;
        int rc = render(BOS, m, nm, agp ? agp->boolean : 0, &text, &len);
        int exact = rc == DSV3_OK && want && len == want->len && memcmp(text, want->str, len) == 0 && text[len] == 0;
        CHECK(exact, "case %d: rendering differs (rc %d)\n  got:  %s\n  want: %s", n_cases, rc, text ? text : "(none)",
              want ? want->str : "(none)");
        n_exact += exact;
        if (tok) check_api(tok, n_cases, m, nm, agp ? agp->boolean : 0, want, json_get(root, "ids"));
        free(text);
        free(calls);
        free(m);
        json_free(doc);
        n_cases++;
        line = next;
    }
    free(file);
    CHECK(n_cases == 16, "expected 16 golden cases, found %d", n_cases);
    printf("chat text %d/%d\n", n_exact, n_cases);
    if (tok) {
        printf("chat api text %d/%d\n", n_api_exact, n_cases);
        printf("chat ids %d/%d\n", n_ids_exact, n_cases);
    }
}

/* ---- edge cases ----------------------------------------------------------- */
static void expect(const char *what, const char *bos, const struct dsv3_chat_message *m, size_t n, int agp,
                   const char *want) {
    char *text = NULL;
    size_t len = 0;
    int rc = render(bos, m, n, agp, &text, &len);
    CHECK(rc == DSV3_OK && len == strlen(want) && !strcmp(text, want), "%s: rc %d\n  got:  %s\n  want: %s", what, rc,
          text ? text : "(none)", want);
    free(text);
}

static void test_edges(void) {
    const struct dsv3_tool_call call_a = {"function", "f", "{\"a\":1}"};
    const struct dsv3_tool_call call_b = {"function", "g", "{}"};
    const struct dsv3_tool_call two[2] = {call_a, call_b};

    /* Roles other than system/user/assistant/tool render nothing and keep
     * the state (here: is_tool stays set across the unknown message). */
    {
        struct dsv3_chat_message m[] = {
            {"user", "q", NULL, 0},          {"developer", "ignored", NULL, 0}, {"User", "ignored", NULL, 0},
            {"assistant", NULL, &call_a, 1}, {"tool", "r", NULL, 0},            {"ipython", "ignored", NULL, 0},
        };
        expect("unknown roles", BOS, m, 6, 1,
               BOS "<｜User｜>q<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n"
                   "{\"a\":1}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r<｜tool▁output▁end｜>"
                   "<｜tool▁outputs▁end｜>");
        /* unknown role with NULL content is fine too */
        struct dsv3_chat_message m2[] = {{"other", NULL, NULL, 0}, {"user", "x", NULL, 0}};
        expect("unknown role, NULL content", BOS, m2, 2, 0, BOS "<｜User｜>x");
    }
    /* An assistant turn with NULL content and no tool calls renders nothing
     * but clears is_tool: no <｜tool▁outputs▁end｜>, generation prompt given. */
    {
        struct dsv3_chat_message m[] = {
            {"user", "q", NULL, 0},
            {"assistant", NULL, &call_a, 1},
            {"tool", "r", NULL, 0},
            {"assistant", NULL, NULL, 0},
        };
        expect("assistant NULL, 0 calls", BOS, m, 4, 1,
               BOS "<｜User｜>q<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n"
                   "{\"a\":1}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r<｜tool▁output▁end｜>"
                   "<｜Assistant｜>");
        struct dsv3_chat_message only[] = {{"assistant", NULL, NULL, 0}};
        expect("lone assistant NULL", BOS, only, 1, 0, BOS);
    }
    /* is_first / is_output_first are never reset: the second tool-call turn
     * has no <｜Assistant｜><｜tool▁calls▁begin｜>, each later call gets the
     * end marker; the second round of outputs has no outputs-begin. The
     * assistant answer after outputs opens with <｜tool▁outputs▁end｜>. */
    {
        struct dsv3_chat_message m[] = {
            {"user", "q", NULL, 0},     {"assistant", NULL, &call_a, 1}, {"tool", "r1", NULL, 0},
            {"assistant", "a1", NULL, 0}, {"user", "q2", NULL, 0},       {"assistant", NULL, two, 2},
            {"tool", "r2", NULL, 0},    {"tool", "r3", NULL, 0},         {"assistant", "a2", NULL, 0},
        };
        expect("never reset", BOS, m, 9, 1,
               BOS "<｜User｜>q<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n"
                   "{\"a\":1}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r1<｜tool▁output▁end｜>"
                   "<｜tool▁outputs▁end｜>a1<｜end▁of▁sentence｜><｜User｜>q2"
                   "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\":1}\n```<｜tool▁call▁end｜>"
                   "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
                   "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```json\n{}\n```<｜tool▁call▁end｜>"
                   "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
                   "\n<｜tool▁output▁begin｜>r2<｜tool▁output▁end｜>\n<｜tool▁output▁begin｜>r3<｜tool▁output▁end｜>"
                   "<｜tool▁outputs▁end｜>a2<｜end▁of▁sentence｜><｜Assistant｜>");
    }
    /* An assistant message with content ignores its tool calls; a user turn
     * after tool outputs clears is_tool without an outputs-end marker. */
    {
        struct dsv3_chat_message m[] = {
            {"assistant", "text", two, 2}, {"tool", "r", NULL, 0}, {"user", "u", NULL, 0},
            {"system", "late system", NULL, 0},
        };
        expect("content wins, user after tool", BOS, m, 4, 1,
               BOS "late system<｜Assistant｜>text<｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r"
                   "<｜tool▁output▁end｜><｜User｜>u<｜Assistant｜>");
    }
    /* System messages: empty ones still join with "\n\n"; hoisted from the
     * end. A NULL BOS text renders as nothing. */
    {
        struct dsv3_chat_message m[] = {
            {"system", "", NULL, 0}, {"user", "u", NULL, 0}, {"system", "b", NULL, 0}, {"system", "", NULL, 0},
        };
        expect("systems", BOS, m, 4, 0, BOS "\n\nb\n\n<｜User｜>u");
        expect("NULL bos", NULL, m, 4, 0, "\n\nb\n\n<｜User｜>u");
        expect("empty, no prompt", BOS, NULL, 0, 0, BOS);
    }
}

/* ---- capacity and invalid arguments ---------------------------------------- */
static void test_capacity(void) {
    struct dsv3_chat_message m[] = {{"user", "Hello!", NULL, 0}};
    const char *want = BOS "<｜User｜>Hello!<｜Assistant｜>";
    size_t wl = strlen(want);
    char buf[256];
    size_t len = 12345;
    int rc = chat_render_deepseek_v3(BOS, m, 1, 1, NULL, 0, &len, NULL);
    CHECK(rc == DSV3_ERR_TOO_SMALL && len == wl, "size query: rc %d len %zu want %zu", rc, len, wl);
    memset(buf, 'x', sizeof buf);
    dsv3_err e;
    err_clear(&e);
    rc = chat_render_deepseek_v3(BOS, m, 1, 1, buf, wl, &len, &e);
    CHECK(rc == DSV3_ERR_TOO_SMALL && len == wl && e.status == DSV3_ERR_TOO_SMALL && e.msg[0],
          "capacity == len: rc %d len %zu", rc, len);
    CHECK(buf[wl - 1] == 0 && memcmp(buf, want, wl - 1) == 0 && buf[wl] == 'x', "truncated output is a NUL-terminated prefix");
    memset(buf, 'x', sizeof buf);
    rc = chat_render_deepseek_v3(BOS, m, 1, 1, buf, 1, &len, NULL);
    CHECK(rc == DSV3_ERR_TOO_SMALL && buf[0] == 0 && buf[1] == 'x', "capacity 1: rc %d", rc);
    memset(buf, 'x', sizeof buf);
    rc = chat_render_deepseek_v3(BOS, m, 1, 1, buf, wl + 1, &len, NULL);
    CHECK(rc == DSV3_OK && len == wl && !strcmp(buf, want) && buf[wl + 1] == 'x', "capacity == len + 1: rc %d", rc);
    rc = chat_render_deepseek_v3(BOS, m, 1, 1, buf, sizeof buf, NULL, NULL);
    CHECK(rc == DSV3_OK && !strcmp(buf, want), "len may be NULL: rc %d", rc);
}

static void expect_invalid(const char *what, const struct dsv3_chat_message *m, size_t n) {
    char buf[512];
    size_t len = 777;
    dsv3_err e;
    err_clear(&e);
    memset(buf, 'x', sizeof buf);
    int rc = chat_render_deepseek_v3(BOS, m, n, 1, buf, sizeof buf, &len, &e);
    CHECK(rc == DSV3_ERR_INVALID_ARG && e.status == DSV3_ERR_INVALID_ARG && e.msg[0] && buf[0] == 'x',
          "%s: rc %d msg '%s'", what, rc, e.msg);
}

static void test_invalid(void) {
    const struct dsv3_tool_call bad_calls[3] = {
        {NULL, "f", "{}"}, {"function", NULL, "{}"}, {"function", "f", NULL}};
    struct dsv3_chat_message m[2];
    expect_invalid("NULL msgs, n > 0", NULL, 2);
    m[0] = (struct dsv3_chat_message){NULL, "x", NULL, 0};
    expect_invalid("NULL role", m, 1);
    m[0] = (struct dsv3_chat_message){"user", NULL, NULL, 0};
    expect_invalid("user NULL content", m, 1);
    m[0] = (struct dsv3_chat_message){"system", NULL, NULL, 0};
    expect_invalid("system NULL content", m, 1);
    m[0] = (struct dsv3_chat_message){"tool", NULL, NULL, 0};
    expect_invalid("tool NULL content", m, 1);
    m[0] = (struct dsv3_chat_message){"assistant", NULL, NULL, 1};
    expect_invalid("tool_calls NULL, n 1", m, 1);
    for (int i = 0; i < 3; i++) {
        m[0] = (struct dsv3_chat_message){"user", "u", NULL, 0};
        m[1] = (struct dsv3_chat_message){"assistant", NULL, &bad_calls[i], 1};
        expect_invalid("tool call field NULL", m, 2);
    }
    /* the same calls are not rendered (so not checked) when content is set */
    m[1] = (struct dsv3_chat_message){"assistant", "ok", bad_calls, 3};
    char buf[512];
    int rc = chat_render_deepseek_v3(BOS, m, 2, 0, buf, sizeof buf, NULL, NULL);
    CHECK(rc == DSV3_OK, "unrendered tool calls are not validated: rc %d", rc);
    size_t len;
    rc = chat_render_deepseek_v3(BOS, m, 2, 0, NULL, 5, &len, NULL);
    CHECK(rc == DSV3_ERR_INVALID_ARG, "NULL text with capacity: rc %d", rc);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SHARED_DIR\n", argv[0]);
        return 2;
    }
    /* The BOS text used here is the one tokenizer_config.json declares. */
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3/tokenizer_config.json", argv[1]);
    json_doc *cfg = load_json(path);
    const json_value *bos = json_get(json_get(json_root(cfg), "bos_token"), "content");
    CHECK(bos && bos->type == JSON_STRING && !strcmp(bos->str, BOS), "tokenizer_config.json bos_token is not %s", BOS);
    json_free(cfg);
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3", argv[1]);
    dsv3_tokenizer *tok = NULL;
    char err[512];
    int rc = dsv3_tokenizer_load(path, &tok, err, sizeof err);
    CHECK(rc == DSV3_OK && tok, "tokenizer load %s: rc %d: %s", path, rc, err);
    test_golden(argv[1], tok);
    {
        struct dsv3_chat_message m[] = {{"user", "x", NULL, 0}};
        size_t len = 0;
        char buf[8];
        CHECK(dsv3_chat_render(NULL, m, 1, 1, buf, sizeof buf, &len) == DSV3_ERR_INVALID_ARG, "NULL tokenizer");
        if (tok) {
            rc = dsv3_chat_render(tok, m, 1, 1, buf, sizeof buf, &len);
            CHECK(rc == DSV3_ERR_TOO_SMALL && len == strlen(BOS "<｜User｜>x<｜Assistant｜>") && buf[7] == 0,
                  "dsv3_chat_render: too small: rc %d len %zu", rc, len);
            CHECK(dsv3_chat_render(tok, NULL, 1, 1, buf, sizeof buf, &len) == DSV3_ERR_INVALID_ARG, "NULL msgs");
        }
    }
    dsv3_tokenizer_free(tok);
    test_edges();
    test_capacity();
    test_invalid();
    return finish();
}
