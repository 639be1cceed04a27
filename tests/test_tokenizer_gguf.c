/* test_tokenizer_gguf.c -- the tokenizer read from GGUF metadata
 * (lib/tokenizer_gguf.c) against the same tokenizer read from
 * tokenizer.json.
 *
 * 1. `dsv3 convert` writes ../shared/golden/tiny-v3/bf16 with the real
 *    DeepSeek-V3 tokenizer.json + tokenizer_config.json beside it (a temp
 *    dir of symlinks) to a GGUF; dsv3_tokenizer_load opens that .gguf.
 * 2. Every id: same bytes, same special flag; same BOS/EOS/add_bos, same
 *    chat template text.
 * 3. Every line of golden-encode.jsonl: ids, ids_with_bos, decoded,
 *    decoded_skip_special as in the golden file; added tokens as with
 *    tokenizer.json; every golden-chat.jsonl rendering and its ids.
 * 4. Refusals: a llama.cpp file whose pre-tokenizer is 'default'
 *    (golden-gguf), a converted file without a tokenizer, and small GGUFs
 *    written here with lib/gguf_write (another pre-tokenizer, a merge
 *    without a space, token_type of the wrong length, a BOS id past the
 *    end, a token type out of range), each with its status and a message
 *    naming the key.
 *
 * usage: test_tokenizer_gguf DSV3_BIN SHARED_DIR TMP_DIR */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsv3.h"
#include "gguf.h"
#include "gguf_write.h"
#include "json.h"
#include "tokenizer.h"
#include "tok_util.h"

static int g_pass, g_fail;

#define CHECK(cond, ...)                                \
    do {                                                \
        if (cond) g_pass++;                             \
        else {                                          \
            g_fail++;                                   \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                        \
            printf("\n");                               \
        }                                               \
    } while (0)

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    for (;;) {
        if (!p) break;
        if (n == cap) {
            char *q = realloc(p, cap *= 2);
            if (!q) { free(p); p = NULL; break; }
            p = q;
        }
        size_t r = fread(p + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    if (!p) return NULL;
    char *q = realloc(p, n + 1);
    if (!q) { free(p); return NULL; }
    q[n] = 0;
    *len = n;
    return q;
}

/* Run argv[0] with argv; returns its exit status (-1 if it did not run). */
static int run(char *const argv[]) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int32_t *json_ids(const json_value *a, size_t *n) {
    *n = a && a->type == JSON_ARRAY ? a->n : 0;
    int32_t *ids = malloc(sizeof *ids * (*n ? *n : 1));
    for (size_t i = 0; ids && i < *n; i++) ids[i] = (int32_t)a->items[i].i;
    return ids;
}

static int ids_equal(const int32_t *ids, size_t n, const json_value *want) {
    if (!ids || !want || want->type != JSON_ARRAY || want->n != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (want->items[i].i != ids[i]) return 0;
    return 1;
}

static int str_equal(const char *s, size_t n, const json_value *want) {
    return s && want && want->type == JSON_STRING && want->len == n && !memcmp(s, want->str, n);
}

static const char *str_or_null(const json_value *v) { return v && v->type == JSON_STRING ? v->str : NULL; }

/* ---- 1. the GGUF ----------------------------------------------------------------- */

static int make_gguf(const char *bin, const char *shared, const char *tmp, const char *out, const char *ck, int with_tok) {
    char dir[2 * PATH_MAX], src[3 * PATH_MAX], dst[3 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", tmp, with_tok ? "ckpt-tok" : "ckpt-notok");
    mkdir(dir, 0755);
    const char *files[4] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < (with_tok ? 4 : 2); i++) {
        if (i < 2) snprintf(src, sizeof src, "%s/golden/%s/%s", shared, ck, files[i]);
        else snprintf(src, sizeof src, "%s/tokenizer/deepseek-v3/%s", shared, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        unlink(dst);
        if (symlink(src, dst) != 0) {
            printf("cannot link %s -> %s: %s\n", dst, src, strerror(errno));
            return 0;
        }
    }
    char *argv[] = {(char *)bin, "convert", "-m", dir, "-o", (char *)out, "--type", "BF16", "--quiet", NULL};
    int rc = run(argv);
    CHECK(rc == 0, "dsv3 convert of %s exited with %d", dir, rc);
    return rc == 0;
}

/* ---- 2. per id ------------------------------------------------------------------------ */

static void compare_vocab(const dsv3_tokenizer *tj, const dsv3_tokenizer *tg) {
    CHECK(dsv3_tokenizer_n_vocab(tj) == dsv3_tokenizer_n_vocab(tg), "n_vocab %d vs %d", dsv3_tokenizer_n_vocab(tj),
          dsv3_tokenizer_n_vocab(tg));
    CHECK(dsv3_tokenizer_bos(tj) == dsv3_tokenizer_bos(tg), "bos %d vs %d", dsv3_tokenizer_bos(tj), dsv3_tokenizer_bos(tg));
    CHECK(dsv3_tokenizer_eos(tj) == dsv3_tokenizer_eos(tg), "eos %d vs %d", dsv3_tokenizer_eos(tj), dsv3_tokenizer_eos(tg));
    CHECK(dsv3_tokenizer_add_bos(tj) == dsv3_tokenizer_add_bos(tg), "add_bos differs");
    const char *a = tokenizer_chat_template(tj), *b = tokenizer_chat_template(tg);
    CHECK(a && b && !strcmp(a, b), "chat template differs (%s)", b ? "text" : "absent from the GGUF");
    const char *ba = tokenizer_bos_text(tj), *bb = tokenizer_bos_text(tg);
    CHECK(ba && bb && !strcmp(ba, bb), "BOS text differs");
    int n = dsv3_tokenizer_n_vocab(tj), same_bytes = 0, same_special = 0;
    for (int32_t id = 0; id < n; id++) {
        const char *x, *y;
        size_t lx, ly;
        int rx = dsv3_token_bytes(tj, id, &x, &lx), ry = dsv3_token_bytes(tg, id, &y, &ly);
        int ok = rx == ry && (rx != DSV3_OK || (lx == ly && !memcmp(x, y, lx)));
        same_bytes += ok;
        if (!ok && same_bytes + 5 > id) printf("  id %d: bytes differ\n", id);
        int sp = dsv3_tokenizer_is_special(tj, id) == dsv3_tokenizer_is_special(tg, id);
        same_special += sp;
        if (!sp) printf("  id %d: special flag differs\n", id);
    }
    CHECK(same_bytes == n, "token bytes: %d/%d ids agree", same_bytes, n);
    CHECK(same_special == n, "special flags: %d/%d ids agree", same_special, n);
    printf("vocab: %d/%d ids with the same bytes, %d/%d with the same special flag\n", same_bytes, n, same_special, n);
}

/* ---- 3. golden cases ---------------------------------------------------------------------- */

static void golden_encode(const char *shared, const dsv3_tokenizer *t) {
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3/golden-encode.jsonl", shared);
    size_t len;
    char *all = slurp(path, &len);
    CHECK(all != NULL, "cannot read %s", path);
    if (!all) return;
    int n_cases = 0, ok_ids = 0, ok_bos = 0, ok_dec = 0, ok_skip = 0;
    for (char *line = all; *line;) {
        char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        char *next = end ? end + 1 : line + ll;
        if (ll == 0) { line = next; continue; }
        json_doc *doc = NULL;
        char err[256];
        if (json_parse(line, ll, &doc, err, sizeof err)) {
            CHECK(0, "golden line %d: %s", n_cases + 1, err);
            break;
        }
        const json_value *r = json_root(doc), *text = json_get(r, "text");
        n_cases++;
        size_t n = 0, nb = 0, dl = 0, sl = 0, gn = 0, gb = 0;
        int32_t *ids = encode(t, text->str, text->len, 0, &n);
        int32_t *idb = encode(t, text->str, text->len, DSV3_TOKENIZE_ADD_BOS, &nb);
        int a = ids_equal(ids, n, json_get(r, "ids")), b = ids_equal(idb, nb, json_get(r, "ids_with_bos"));
        int32_t *gids = json_ids(json_get(r, "ids"), &gn), *gidb = json_ids(json_get(r, "ids_with_bos"), &gb);
        char *dec = decode(t, gids, gn, 0, &dl), *skip = decode(t, gidb, gb, DSV3_DETOKENIZE_SKIP_SPECIAL, &sl);
        int c = str_equal(dec, dl, json_get(r, "decoded")), d = str_equal(skip, sl, json_get(r, "decoded_skip_special"));
        ok_ids += a;
        ok_bos += b;
        ok_dec += c;
        ok_skip += d;
        if (!a || !b || !c || !d)
            printf("  case %d \"%.50s\": ids %d ids_with_bos %d decoded %d skip_special %d\n", n_cases, text->str, a, b, c,
                   d);
        free(ids);
        free(idb);
        free(gids);
        free(gidb);
        free(dec);
        free(skip);
        json_free(doc);
        line = next;
    }
    free(all);
    CHECK(n_cases > 0 && ok_ids == n_cases && ok_bos == n_cases && ok_dec == n_cases && ok_skip == n_cases,
          "golden-encode from GGUF: ids %d, ids_with_bos %d, decoded %d, decoded_skip_special %d of %d", ok_ids, ok_bos,
          ok_dec, ok_skip, n_cases);
    printf("golden-encode from GGUF: ids %d/%d, ids_with_bos %d/%d, decoded %d/%d, decoded_skip_special %d/%d\n", ok_ids,
           n_cases, ok_bos, n_cases, ok_dec, n_cases, ok_skip, n_cases);
}

/* Texts with added tokens (special or not, normalized or not): the GGUF
 * tokenizer must split and decode them as tokenizer.json does. */
static void added_tokens(const dsv3_tokenizer *tj, const dsv3_tokenizer *tg) {
    static const char *texts[] = {
        "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>Hi<\xEF\xBD\x9CUser\xEF\xBD\x9C>x",
        "a<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>b<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
        "<|EOT|> <|EOT|>x<|EOT",
        "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>def f():<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>",
        "<\xEF\xBD\x9Ctool\xE2\x96\x81" "calls\xE2\x96\x81" "begin\xEF\xBD\x9C><\xEF\xBD\x9Ctool\xE2\x96\x81sep\xEF\xBD\x9C>",
        "<\xEF\xBD\x9Cplace\xE2\x96\x81holder\xE2\x96\x81no\xE2\x96\x81" "17\xEF\xBD\x9C> tail",
        "<\xEF\xBD\x9C\xE2\x96\x81pad\xE2\x96\x81\xEF\xBD\x9C><\xEF\xBD\x9CUser",
    };
    int same = 0, n = (int)(sizeof texts / sizeof texts[0]);
    for (int i = 0; i < n; i++) {
        size_t na = 0, nb = 0, la = 0, lb = 0, sa = 0, sb = 0;
        int32_t *a = encode(tj, texts[i], strlen(texts[i]), 0, &na), *b = encode(tg, texts[i], strlen(texts[i]), 0, &nb);
        int ok = a && b && na == nb && !memcmp(a, b, na * sizeof *a);
        char *da = ok ? decode(tj, a, na, 0, &la) : NULL, *db = ok ? decode(tg, b, nb, 0, &lb) : NULL;
        char *ka = ok ? decode(tj, a, na, DSV3_DETOKENIZE_SKIP_SPECIAL, &sa) : NULL;
        char *kb = ok ? decode(tg, b, nb, DSV3_DETOKENIZE_SKIP_SPECIAL, &sb) : NULL;
        ok = ok && da && db && la == lb && !memcmp(da, db, la) && ka && kb && sa == sb && !memcmp(ka, kb, sa);
        CHECK(ok, "added-token text %d differs between tokenizer.json and the GGUF", i);
        same += ok;
        free(a);
        free(b);
        free(da);
        free(db);
        free(ka);
        free(kb);
    }
    printf("added-token texts: %d/%d as with tokenizer.json\n", same, n);
}

static void golden_chat(const char *shared, const dsv3_tokenizer *t) {
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3/golden-chat.jsonl", shared);
    size_t flen;
    char *file = slurp(path, &flen);
    CHECK(file != NULL, "cannot read %s", path);
    if (!file) return;
    int n_cases = 0, n_text = 0, n_ids = 0;
    for (char *line = file; line < file + flen;) {
        char *nl = memchr(line, '\n', (size_t)(file + flen - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(file + flen - line);
        char *next = nl ? nl + 1 : file + flen;
        if (ll == 0) { line = next; continue; }
        json_doc *doc = NULL;
        char err[256];
        if (json_parse(line, ll, &doc, err, sizeof err)) {
            CHECK(0, "chat case %d: %s", n_cases, err);
            break;
        }
        const json_value *root = json_root(doc), *msgs = json_get(root, "messages");
        const json_value *agp = json_get(root, "add_generation_prompt"), *want = json_get(root, "text");
        size_t nm = msgs->n, n_calls = 0;
        for (size_t i = 0; i < nm; i++) {
            const json_value *tc = json_get(&msgs->items[i], "tool_calls");
            if (tc && tc->type == JSON_ARRAY) n_calls += tc->n;
        }
        struct dsv3_chat_message *m = calloc(nm + 1, sizeof *m);
        struct dsv3_tool_call *calls = calloc(n_calls + 1, sizeof *calls);
        size_t k = 0;
        for (size_t i = 0; m && calls && i < nm; i++) {
            const json_value *mv = &msgs->items[i], *tc = json_get(mv, "tool_calls");
            m[i].role = str_or_null(json_get(mv, "role"));
            m[i].content = str_or_null(json_get(mv, "content"));
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
        size_t need = 0, len = 0;
        int rc = dsv3_chat_render(t, m, nm, agp && agp->boolean, NULL, 0, &need);
        char *text = rc == DSV3_ERR_TOO_SMALL ? malloc(need + 1) : NULL;
        if (text) rc = dsv3_chat_render(t, m, nm, agp && agp->boolean, text, need + 1, &len);
        int ok_text = text && rc == DSV3_OK && str_equal(text, len, want);
        n_text += ok_text;
        size_t ni = 0;
        int32_t *ids = ok_text ? encode(t, text, len, 0, &ni) : NULL;
        int ok_ids = ids_equal(ids, ni, json_get(root, "ids"));
        n_ids += ok_ids;
        CHECK(ok_text && ok_ids, "chat case %d: text %d ids %d", n_cases, ok_text, ok_ids);
        free(ids);
        free(text);
        free(m);
        free(calls);
        json_free(doc);
        n_cases++;
        line = next;
    }
    free(file);
    printf("golden-chat from GGUF: text %d/%d, ids %d/%d\n", n_text, n_cases, n_ids, n_cases);
}

/* ---- 4. refusals --------------------------------------------------------------------------- */

static void expect_refusal(const char *path, int want_status, const char *want_in_msg) {
    dsv3_tokenizer *t = NULL;
    char err[512];
    int rc = dsv3_tokenizer_load(path, &t, err, sizeof err);
    CHECK(rc == want_status && t == NULL && strstr(err, want_in_msg) != NULL,
          "%s: status %d (%s) message \"%s\", want %d and \"%s\"", path, rc, dsv3_status_string(rc), err, want_status,
          want_in_msg);
    dsv3_tokenizer_free(t);
}

enum { BAD_NONE, BAD_PRE, BAD_MERGE, BAD_TYPES_LEN, BAD_BOS, BAD_TYPE_VALUE, BAD_NO_MERGES };

/* A tiny GGUF holding only a tokenizer: tokens a, b, ab, <s>, [PAD4]. */
static int write_small(const char *path, int bad) {
    gguf_writer *w = gguf_writer_new();
    if (!w) return 0;
    const char *toks[] = {"a", "b", "ab", "<s>", "[PAD4]"};
    int32_t types[] = {1, 1, 1, 3, bad == BAD_TYPE_VALUE ? 9 : 5};
    const char *merges[] = {bad == BAD_MERGE ? "ab" : "a b"};
    gguf_writer_set_str(w, "general.architecture", "deepseek2", 9);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4);
    const char *pre = bad == BAD_PRE ? "deepseek-llm" : "deepseek-v3";
    gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, strlen(pre));
    gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", toks, NULL, 5);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, bad == BAD_TYPES_LEN ? 4 : 5);
    if (bad != BAD_NO_MERGES) gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", merges, NULL, 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", bad == BAD_BOS ? 5 : 3);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
    float v[8] = {0};
    int64_t ne[1] = {8};
    gguf_writer_add_tensor(w, "x.weight", GGML_T_F32, 1, ne, NULL);
    dsv3_err e;
    err_clear(&e);
    int ok = gguf_writer_begin(w, path, &e) == DSV3_OK && gguf_writer_write(w, v, sizeof v, &e) == DSV3_OK &&
             gguf_writer_finish(w, &e) == DSV3_OK;
    if (!ok) printf("cannot write %s: %s\n", path, e.msg);
    gguf_writer_free(w);
    return ok;
}

static void small_files(const char *tmp) {
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/small.gguf", tmp);
    CHECK(write_small(path, BAD_NONE), "writing %s", path);
    dsv3_tokenizer *t = NULL;
    char err[512];
    int rc = dsv3_tokenizer_load(path, &t, err, sizeof err);
    CHECK(rc == DSV3_OK, "small GGUF tokenizer: %s", err);
    if (t) {
        size_t n = 0;
        int32_t *ids = encode(t, "abab<s>a", 8, DSV3_TOKENIZE_ADD_BOS, &n);
        CHECK(ids && n == 5 && ids[0] == 3 && ids[1] == 2 && ids[2] == 2 && ids[3] == 3 && ids[4] == 0,
              "small GGUF: \"abab<s>a\" should encode to [3, 2, 2, 3, 0]");
        CHECK(dsv3_tokenizer_n_vocab(t) == 4, "small GGUF: the unused [PAD4] should not count (n_vocab %d)",
              dsv3_tokenizer_n_vocab(t));
        CHECK(dsv3_tokenizer_is_special(t, 3) && !dsv3_tokenizer_is_special(t, 2), "small GGUF: special flags");
        free(ids);
        dsv3_tokenizer_free(t);
    }
    static const struct { int bad; int status; const char *msg; } cases[] = {
        {BAD_PRE, DSV3_ERR_UNSUPPORTED, "'deepseek-llm'"},
        {BAD_MERGE, DSV3_ERR_BAD_FILE, "tokenizer.ggml.merges[0]"},
        {BAD_TYPES_LEN, DSV3_ERR_BAD_FILE, "tokenizer.ggml.token_type"},
        {BAD_BOS, DSV3_ERR_BAD_FILE, "tokenizer.ggml.bos_token_id"},
        {BAD_TYPE_VALUE, DSV3_ERR_BAD_FILE, "tokenizer.ggml.token_type[4]"},
        {BAD_NO_MERGES, DSV3_ERR_BAD_FILE, "tokenizer.ggml.merges is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "%s/small-bad%zu.gguf", tmp, i);
        CHECK(write_small(path, cases[i].bad), "writing %s", path);
        expect_refusal(path, cases[i].status, cases[i].msg);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DSV3_BIN SHARED_DIR TMP_DIR\n", argv[0]);
        return 2;
    }
    const char *bin = argv[1], *tmp = argv[3];
    char shared[PATH_MAX];
    if (!realpath(argv[2], shared)) {
        fprintf(stderr, "%s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    mkdir(tmp, 0755);
    char gguf[2 * PATH_MAX], notok[2 * PATH_MAX], json_dir[2 * PATH_MAX];
    snprintf(gguf, sizeof gguf, "%s/tiny-v3-tok.gguf", tmp);
    snprintf(notok, sizeof notok, "%s/tiny-v2lite-notok.gguf", tmp);
    snprintf(json_dir, sizeof json_dir, "%s/tokenizer/deepseek-v3", shared);
    if (!make_gguf(bin, shared, tmp, gguf, "tiny-v3/bf16", 1)) return 1;

    dsv3_tokenizer *tj = NULL, *tg = NULL;
    char err[512];
    int rc = dsv3_tokenizer_load(json_dir, &tj, err, sizeof err);
    CHECK(rc == DSV3_OK, "tokenizer.json: %s", err);
    rc = dsv3_tokenizer_load(gguf, &tg, err, sizeof err);
    CHECK(rc == DSV3_OK, "tokenizer from %s: %s", gguf, err);
    if (tj && tg) {
        compare_vocab(tj, tg);
        golden_encode(shared, tg);
        added_tokens(tj, tg);
        golden_chat(shared, tg);
    }
    dsv3_tokenizer_free(tj);
    dsv3_tokenizer_free(tg);

    /* a llama.cpp file (pre-tokenizer 'default'), a file without a tokenizer */
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/golden-gguf/tiny-q.q8_0.gguf", shared);
    expect_refusal(path, DSV3_ERR_UNSUPPORTED, "'default'");
    if (make_gguf(bin, shared, tmp, notok, "tiny-v2lite/bf16", 0))
        expect_refusal(notok, DSV3_ERR_NOT_FOUND, "tokenizer.ggml.model = none");
    small_files(tmp);

    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
