/* test_grown_structs.c -- the extensible-struct rule, seen from a program
 * built against a NEWER header than the library: each parameter and result
 * struct is embedded in a bigger one (the current struct, then EXTRA bytes)
 * whose size goes into struct_size.
 *   - input structs (model, session, sampler, generate params): accepted
 *     when the extra bytes are zero; refused with DSV3_ERR_INVALID_ARG and a
 *     message naming the byte offset (model, session, generate: the sampler
 *     has no message channel, its status is checked) when one is not; a
 *     refused call leaves nothing behind (no handle, session unchanged);
 *   - output structs (model info, generate result): the library writes
 *     what it knows and zeroes the caller's bytes past it;
 *   - a SMALLER struct (a program built against an older header): the
 *     fields past its struct_size take their defaults (inputs) or are not
 *     written (outputs);
 *   - a struct_size below sizeof(size_t) or absurdly large is refused.
 * Links libdsv3.so, the public API only. usage: test_grown_structs MODEL_DIR */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"

/* A multiple of 8, so the grown struct has no tail padding: its extra
 * bytes start right at sizeof(the current struct). */
#define EXTRA 24

static int fails;
#define CHECK(cond, ...)                                                                                           \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            fails++;                                                                                               \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                            \
            printf(__VA_ARGS__);                                                                                   \
            printf("\n");                                                                                          \
        }                                                                                                          \
    } while (0)

static int all_bytes(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

/* The message names the struct and the offset of the first set byte. */
static void check_msg(const char *msg, const char *name, size_t offset) {
    char want[64];
    snprintf(want, sizeof want, "byte %zu ", offset);
    CHECK(msg && strstr(msg, name) && strstr(msg, want), "message \"%s\" should name %s and \"%s\"", msg ? msg : "(null)",
          name, want);
}

struct grown_model_params { struct dsv3_model_params p; unsigned char extra[EXTRA]; };
struct grown_session_params { struct dsv3_session_params p; unsigned char extra[EXTRA]; };
struct grown_sampler_params { struct dsv3_sampler_params p; unsigned char extra[EXTRA]; };
struct grown_generate_params { struct dsv3_generate_params p; unsigned char extra[EXTRA]; };
struct grown_model_info { struct dsv3_model_info i; unsigned char extra[EXTRA]; };
struct grown_generate_result { struct dsv3_generate_result r; unsigned char extra[EXTRA]; };

static dsv3_model *test_model_params(const char *dir) {
    char err[512];
    struct grown_model_params g;
    memset(&g, 0x5a, sizeof g);
    CHECK(dsv3_model_params_init(&g.p, sizeof g) == DSV3_OK, "model_params_init with a grown size");
    CHECK(g.p.struct_size == sizeof g, "init keeps the caller's size");
    CHECK(all_bytes(g.extra, EXTRA, 0), "init zeroes the bytes it does not know");
    CHECK(g.p.use_mmap == 1 && g.p.n_threads == 0 && g.p.backend && !strcmp(g.p.backend, "auto"), "model defaults");
    CHECK(dsv3_model_params_init(&g.p, sizeof(size_t) - 1) == DSV3_ERR_INVALID_ARG, "init: size < sizeof(size_t)");
    CHECK(dsv3_model_params_init(NULL, sizeof g) == DSV3_ERR_INVALID_ARG, "init: NULL");
    dsv3_model_params_init(&g.p, sizeof g);
    g.p.n_threads = 1;

    dsv3_model *m = (dsv3_model *)&g; /* must become NULL */
    g.extra[5] = 1;
    int st = dsv3_model_load(dir, &g.p, &m, err, sizeof err);
    CHECK(st == DSV3_ERR_INVALID_ARG && !m, "model_load with a set unknown byte: %s", dsv3_status_string(st));
    check_msg(err, "dsv3_model_params", sizeof g.p + 5);

    g.extra[5] = 0;
    g.p.struct_size = (size_t)1 << 30;
    st = dsv3_model_load(dir, &g.p, &m, err, sizeof err);
    CHECK(st == DSV3_ERR_INVALID_ARG && !m && strstr(err, "struct_size"), "absurd struct_size: %s / %s",
          dsv3_status_string(st), err);

    /* An older program's struct: use_mmap not covered, so its default. */
    g.p.struct_size = offsetof(struct dsv3_model_params, use_mmap);
    g.p.use_mmap = 12345;
    st = dsv3_model_load(dir, &g.p, &m, err, sizeof err);
    CHECK(st == DSV3_OK && m, "model_load with a smaller struct: %s (%s)", dsv3_status_string(st), err);
    dsv3_model_free(m);
    m = NULL;

    /* A 0.2 program's struct ends before placement: the 0.3 fields take
     * their defaults, whatever the bytes past it hold. */
    g.p.struct_size = offsetof(struct dsv3_model_params, placement);
    g.p.use_mmap = 1;
    g.p.placement = "no-such-placement";
    g.p.kv_reserve_ctx = -5;
    st = dsv3_model_load(dir, &g.p, &m, err, sizeof err);
    CHECK(st == DSV3_OK && m, "model_load with a 0.2 struct: %s (%s)", dsv3_status_string(st), err);
    dsv3_model_free(m);
    m = NULL;
    g.p.struct_size = sizeof g;
    st = dsv3_model_load(dir, &g.p, &m, err, sizeof err);
    CHECK(st == DSV3_ERR_INVALID_ARG && !m && strstr(err, "no-such-placement"), "placement read when covered: %s (%s)",
          dsv3_status_string(st), err);
    g.p.placement = NULL; /* = "auto" */
    g.p.kv_reserve_ctx = 4096;

    g.p.struct_size = sizeof g;
    g.p.use_mmap = 1;
    st = dsv3_model_load(dir, &g.p, &m, err, sizeof err);
    CHECK(st == DSV3_OK && m, "model_load with a grown, zero-tailed struct: %s (%s)", dsv3_status_string(st), err);
    return m;
}

static void test_model_info(const dsv3_model *m) {
    struct dsv3_model_info ref;
    memset(&ref, 0, sizeof ref);
    ref.struct_size = sizeof ref;
    CHECK(dsv3_model_get_info(m, &ref) == DSV3_OK && ref.vocab_size > 0, "get_info");

    struct grown_model_info g;
    memset(&g, 0xa5, sizeof g);
    g.i.struct_size = sizeof g;
    CHECK(dsv3_model_get_info(m, &g.i) == DSV3_OK, "get_info with a grown struct");
    CHECK(g.i.struct_size == sizeof g, "get_info keeps the caller's struct_size");
    CHECK(all_bytes(g.extra, EXTRA, 0), "get_info zeroes the caller's bytes past the library's struct");
    CHECK(!memcmp((const char *)&g.i + sizeof(size_t), (const char *)&ref + sizeof(size_t), sizeof ref - sizeof(size_t)),
          "get_info into a grown struct gives the same fields");

    /* An older program's struct ends before n_layers: nothing past it is written. */
    memset(&g, 0xa5, sizeof g);
    g.i.struct_size = offsetof(struct dsv3_model_info, n_layers);
    CHECK(dsv3_model_get_info(m, &g.i) == DSV3_OK && g.i.vocab_size == ref.vocab_size, "get_info, smaller struct");
    CHECK(all_bytes((const unsigned char *)&g + g.i.struct_size, sizeof g - g.i.struct_size, 0xa5),
          "get_info writes nothing past a smaller struct_size");

    g.i.struct_size = 3;
    CHECK(dsv3_model_get_info(m, &g.i) == DSV3_ERR_INVALID_ARG, "get_info: struct_size 3");
}

static dsv3_session *test_session_params(const dsv3_model *m) {
    char err[512];
    struct grown_session_params g;
    memset(&g, 0x5a, sizeof g);
    CHECK(dsv3_session_params_init(&g.p, sizeof g) == DSV3_OK && all_bytes(g.extra, EXTRA, 0), "session_params_init");
    CHECK(g.p.mtp == 1 && g.p.kv_type == DSV3_KV_F32 && g.p.n_ctx == 0, "session defaults");
    g.p.n_ctx = 64;

    dsv3_session *s = (dsv3_session *)&g;
    g.extra[EXTRA - 1] = 0x80;
    int st = dsv3_session_create(m, &g.p, &s, err, sizeof err);
    CHECK(st == DSV3_ERR_INVALID_ARG && !s, "session_create with a set unknown byte: %s", dsv3_status_string(st));
    check_msg(err, "dsv3_session_params", sizeof g.p + EXTRA - 1);
    g.extra[EXTRA - 1] = 0;

    /* The struct before kv_type (as 0.1's first programs had it): kv_type
     * is not read, so the F32 default holds whatever the field says. */
    g.p.struct_size = offsetof(struct dsv3_session_params, reserved0);
    g.p.kv_type = DSV3_KV_F16;
    st = dsv3_session_create(m, &g.p, &s, err, sizeof err);
    CHECK(st == DSV3_OK && s, "session_create with a smaller struct: %s (%s)", dsv3_status_string(st), err);
    uint64_t small_kv = dsv3_session_kv_bytes_per_token(s);
    dsv3_session_free(s);
    g.p.struct_size = sizeof g;
    st = dsv3_session_create(m, &g.p, &s, err, sizeof err);
    CHECK(st == DSV3_OK && s, "session_create, grown struct, kv F16: %s (%s)", dsv3_status_string(st), err);
    CHECK(s && dsv3_session_kv_bytes_per_token(s) < small_kv, "kv_type read when covered (%llu vs %llu)",
          s ? (unsigned long long)dsv3_session_kv_bytes_per_token(s) : 0ull, (unsigned long long)small_kv);
    return s;
}

static dsv3_sampler *test_sampler_params(int32_t n_vocab) {
    struct grown_sampler_params g;
    memset(&g, 0x5a, sizeof g);
    CHECK(dsv3_sampler_params_init(&g.p, sizeof g) == DSV3_OK && all_bytes(g.extra, EXTRA, 0), "sampler_params_init");
    CHECK(g.p.top_k == 40 && g.p.penalty_last_n == 64, "sampler defaults");
    g.p.temperature = 0.0f;
    dsv3_sampler *smp = (dsv3_sampler *)&g;
    g.extra[0] = 1;
    int st = dsv3_sampler_create(&g.p, n_vocab, &smp);
    CHECK(st == DSV3_ERR_INVALID_ARG && !smp, "sampler_create with a set unknown byte: %s", dsv3_status_string(st));
    g.extra[0] = 0;
    st = dsv3_sampler_create(&g.p, n_vocab, &smp);
    CHECK(st == DSV3_OK && smp, "sampler_create, grown zero-tailed struct: %s", dsv3_status_string(st));
    return smp;
}

static void test_generate(dsv3_session *s, dsv3_sampler *smp, int32_t bos) {
    const int32_t prompt[3] = {bos >= 0 ? bos : 1, 10, 11};
    struct grown_generate_params g;
    memset(&g, 0x5a, sizeof g);
    CHECK(dsv3_generate_params_init(&g.p, sizeof g) == DSV3_OK && all_bytes(g.extra, EXTRA, 0),
          "generate_params_init");
    CHECK(g.p.max_tokens == 256 && g.p.stop_at_eos == 1 && !g.p.on_token, "generate defaults");
    g.p.max_tokens = 4;
    g.p.stop_at_eos = 0;

    struct grown_generate_result r;
    memset(&r, 0xa5, sizeof r);
    r.r.struct_size = sizeof r;
    g.extra[9] = 7;
    int st = dsv3_generate(s, NULL, smp, prompt, 3, &g.p, &r.r);
    CHECK(st == DSV3_ERR_INVALID_ARG, "generate with a set unknown byte: %s", dsv3_status_string(st));
    check_msg(dsv3_session_last_error(s), "dsv3_generate_params", sizeof g.p + 9);
    CHECK(dsv3_session_position(s) == 0, "a refused generate steps nothing (position %d)", (int)dsv3_session_position(s));
    g.extra[9] = 0;

    st = dsv3_generate(s, NULL, smp, prompt, 3, &g.p, &r.r);
    CHECK(st == DSV3_OK, "generate, grown structs: %s (%s)", dsv3_status_string(st), dsv3_session_last_error(s));
    CHECK(r.r.struct_size == sizeof r && r.r.n_prompt_tokens == 3 && r.r.n_generated == 4 &&
              r.r.stop_reason == DSV3_STOP_MAX_TOKENS,
          "generate result: %d prompt, %d generated, stop %d", (int)r.r.n_prompt_tokens, (int)r.r.n_generated,
          r.r.stop_reason);
    CHECK(all_bytes(r.extra, EXTRA, 0), "generate zeroes the result bytes past the library's struct");

    /* An older program's result struct ends before stop_reason. */
    dsv3_session_rewind(s, 0);
    memset(&r, 0xa5, sizeof r);
    r.r.struct_size = offsetof(struct dsv3_generate_result, stop_reason);
    st = dsv3_generate(s, NULL, smp, prompt, 3, &g.p, &r.r);
    CHECK(st == DSV3_OK && r.r.n_generated == 4, "generate, smaller result struct: %s", dsv3_status_string(st));
    CHECK(all_bytes((const unsigned char *)&r + r.r.struct_size, sizeof r - r.r.struct_size, 0xa5),
          "generate writes nothing past a smaller result struct_size");

    r.r.struct_size = 0;
    CHECK(dsv3_generate(s, NULL, smp, prompt, 3, &g.p, &r.r) == DSV3_ERR_INVALID_ARG, "result struct_size 0");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
        return 2;
    }
    dsv3_model *m = test_model_params(argv[1]);
    if (!m) {
        printf("FAIL: no model, stopping\n");
        return 1;
    }
    test_model_info(m);
    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    dsv3_model_get_info(m, &info);
    dsv3_session *s = test_session_params(m);
    dsv3_sampler *smp = test_sampler_params(info.vocab_size);
    if (s && smp) test_generate(s, smp, -1);
    dsv3_sampler_free(smp);
    dsv3_session_free(s);
    dsv3_model_free(m);
    if (fails) {
        printf("test_grown_structs: %d check(s) failed\n", fails);
        return 1;
    }
    printf("test_grown_structs: all checks passed (structs grown by %d bytes)\n", EXTRA);
    return 0;
}
