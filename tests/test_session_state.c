/* test_session_state.c -- dsv3_session_save / _load (buffer and file) and
 * dsv3_session_fork on the committed demo model (examples/models/
 * austen-v3-tiny: 4 layers + 1 MTP layer, kv_lora_rank 64), scalar
 * backend:
 *
 *   1. for each kv_type (F32, F16, Q8_0): a session stepped over a prompt
 *      with its MTP cache one row behind (and, in a second round, further
 *      behind) is saved; the saved session, a session loaded from the
 *      buffer, one loaded from a file and a fork then step the same next
 *      token and MTP row: all logits are bit-identical (memcmp; no
 *      tolerance: the caches are copied, not recomputed).
 *   2. the size query: buf NULL gives DSV3_ERR_TOO_SMALL and the size; the
 *      size is 104 + pos * kv_bytes_per_token + mtp_pos * (MTP layer row)
 *      + (pos - mtp_pos) * hidden * 4.
 *   3. refused, each with DSV3_ERR_BAD_STATE, a message naming the reason,
 *      and the session unchanged (same position, and its next step gives
 *      the same bits as a twin that never saw the state): another kv_type,
 *      n_ctx too small, one flipped payload byte (checksum), a truncated
 *      state, a bad magic, another version, another model (config.json
 *      with a different rope_theta, copied into TMP_DIR), a state without
 *      MTP hidden states into an mtp=1 session; a file that is not there
 *      gives DSV3_ERR_NOT_FOUND.
 *   4. routing records travel with the state; a fork with params (larger
 *      n_ctx) works, one with another kv_type or too small an n_ctx is
 *      refused with DSV3_ERR_INVALID_ARG.
 *   5. dsv3_sampler_save / _load: the loaded sampler draws the original's
 *      next 50 tokens (penalty window wrapped); corrupt, truncated and
 *      other-vocabulary states give DSV3_ERR_BAD_STATE.
 *
 * Usage: test_session_state DEMO_MODEL_DIR TMP_DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsv3.h"

static int failures;
#define CHECK(c, ...)                                      \
    do {                                                   \
        if (!(c)) {                                        \
            failures++;                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fputc('\n', stderr);                           \
        }                                                  \
    } while (0)

static const char *kv_names[] = {"f32", "f16", "q8_0"};
static int32_t V;
static const int32_t prompt[] = {0, 17, 291, 2048, 5, 77, 1000, 3, 600, 42, 3999, 12};
#define NP ((int32_t)(sizeof prompt / sizeof prompt[0]))
static const int32_t next_tok = 123;

static dsv3_session *new_session(dsv3_model *m, int32_t kv, int32_t n_ctx, int mtp, int routing) {
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.kv_type = kv;
    sp.n_ctx = n_ctx;
    sp.mtp = mtp;
    sp.record_routing = routing;
    dsv3_session *s = NULL;
    char err[512];
    int rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    if (rc) {
        fprintf(stderr, "session_create: %s\n", err);
        exit(1);
    }
    return s;
}

/* Step prompt[0..n) and bring the MTP cache to mtp_pos (next tokens are the
 * prompt's own). */
static void prefill(dsv3_session *s, int32_t n, int32_t mtp_pos) {
    CHECK(dsv3_session_step(s, prompt, n, NULL, 0) == DSV3_OK, "prefill: %s", dsv3_session_last_error(s));
    if (mtp_pos) CHECK(dsv3_session_mtp_step(s, prompt + 1, mtp_pos, NULL, 0) == DSV3_OK, "prefill mtp: %s",
                       dsv3_session_last_error(s));
}

/* The next token's main logits and, when the session has MTP state, the
 * MTP rows up to the main position (last row's logits). */
typedef struct outputs {
    float *main, *mtp;
    int has_mtp;
} outputs;

static outputs run_next(dsv3_session *s, int with_mtp) {
    outputs o = {calloc((size_t)V, sizeof(float)), calloc((size_t)V, sizeof(float)), 0};
    CHECK(dsv3_session_step(s, &next_tok, 1, o.main, 0) == DSV3_OK, "step: %s", dsv3_session_last_error(s));
    if (with_mtp) {
        int32_t mp = dsv3_session_mtp_position(s), p = dsv3_session_position(s), n = p - mp;
        int32_t nt[64];
        for (int32_t i = 0; i < n; i++) nt[i] = mp + i + 1 < NP ? prompt[mp + i + 1] : next_tok;
        nt[n - 1] = 7; /* the caller's guess for the newest position */
        CHECK(dsv3_session_mtp_step(s, nt, n, o.mtp, 0) == DSV3_OK, "mtp_step: %s", dsv3_session_last_error(s));
        o.has_mtp = 1;
    }
    return o;
}

static int same(const outputs *a, const outputs *b) {
    if (memcmp(a->main, b->main, sizeof(float) * (size_t)V)) return 0;
    return a->has_mtp == b->has_mtp && (!a->has_mtp || !memcmp(a->mtp, b->mtp, sizeof(float) * (size_t)V));
}

static void free_out(outputs *o) {
    free(o->main);
    free(o->mtp);
}

/* 1, 2 and the fork part of 4 for one kv_type and MTP lag. */
static void round_trip(dsv3_model *m, int32_t kv, int32_t mtp_pos, const char *tmp) {
    dsv3_session *a = new_session(m, kv, 64, 1, 0);
    prefill(a, NP, mtp_pos);
    size_t need = 0;
    CHECK(dsv3_session_save(a, NULL, 0, &need) == DSV3_ERR_TOO_SMALL && need > 0, "size query");
    struct dsv3_model_info info;
    info.struct_size = sizeof info;
    dsv3_model_get_info(m, &info);
    uint64_t kvb = dsv3_session_kv_bytes_per_token(a), mtp_row = kvb / (uint64_t)info.n_layers;
    uint64_t expect = 104 + (uint64_t)NP * kvb + (uint64_t)mtp_pos * mtp_row + (uint64_t)(NP - mtp_pos) * info.hidden_size * 4;
    CHECK(need == expect, "%s: state of %zu bytes, formula %llu", kv_names[kv], need, (unsigned long long)expect);
    unsigned char *buf = malloc(need);
    size_t got = 0;
    CHECK(dsv3_session_save(a, buf, need - 1, &got) == DSV3_ERR_TOO_SMALL && got == need, "capacity - 1");
    CHECK(dsv3_session_save(a, buf, need, &got) == DSV3_OK && got == need, "save: %s", dsv3_session_last_error(a));
    char path[1024];
    snprintf(path, sizeof path, "%s/state-%s-%d.bin", tmp, kv_names[kv], (int)mtp_pos);
    CHECK(dsv3_session_save_file(a, path) == DSV3_OK, "save_file: %s", dsv3_session_last_error(a));
    dsv3_session *f = NULL;
    char err[512];
    CHECK(dsv3_session_fork(a, NULL, &f, err, sizeof err) == DSV3_OK && f, "fork: %s", err);
    struct dsv3_session_params fp;
    dsv3_session_params_init(&fp, sizeof fp);
    fp.kv_type = kv;
    fp.n_ctx = 128;
    dsv3_session *f2 = NULL;
    CHECK(dsv3_session_fork(a, &fp, &f2, err, sizeof err) == DSV3_OK && f2 && dsv3_session_n_ctx(f2) == 128,
          "fork with params: %s", err);
    /* refused forks */
    dsv3_session *bad = NULL;
    fp.kv_type = (kv + 1) % 3;
    CHECK(dsv3_session_fork(a, &fp, &bad, err, sizeof err) == DSV3_ERR_INVALID_ARG && !bad && strstr(err, "kv_type"),
          "fork kv_type: %s", err);
    fp.kv_type = kv;
    fp.n_ctx = NP - 1;
    CHECK(dsv3_session_fork(a, &fp, &bad, err, sizeof err) == DSV3_ERR_INVALID_ARG && !bad && strstr(err, "n_ctx"),
          "fork n_ctx: %s", err);

    dsv3_session *b = new_session(m, kv, 64, 1, 0);
    prefill(b, 3, 0); /* loading replaces whatever b held */
    CHECK(dsv3_session_load(b, buf, need) == DSV3_OK, "load: %s", dsv3_session_last_error(b));
    CHECK(dsv3_session_position(b) == NP && dsv3_session_mtp_position(b) == mtp_pos, "positions after load");
    dsv3_session *c = new_session(m, kv, 32, 1, 0); /* a smaller n_ctx that holds the state */
    CHECK(dsv3_session_load_file(c, path) == DSV3_OK, "load_file: %s", dsv3_session_last_error(c));

    outputs oa = run_next(a, 1), ob = run_next(b, 1), oc = run_next(c, 1), of = run_next(f, 1), of2 = run_next(f2, 1);
    CHECK(same(&oa, &ob), "%s mtp_pos %d: logits after load differ", kv_names[kv], (int)mtp_pos);
    CHECK(same(&oa, &oc), "%s mtp_pos %d: logits after load_file differ", kv_names[kv], (int)mtp_pos);
    CHECK(same(&oa, &of), "%s mtp_pos %d: logits of the fork differ", kv_names[kv], (int)mtp_pos);
    CHECK(same(&oa, &of2), "%s mtp_pos %d: logits of the fork with n_ctx 128 differ", kv_names[kv], (int)mtp_pos);
    printf("%s, MTP %d behind: state %zu bytes (%llu per position), save/load/load_file/fork: logits %s\n",
           kv_names[kv], (int)(NP - mtp_pos), need, (unsigned long long)(kvb + mtp_row),
           same(&oa, &ob) && same(&oa, &oc) && same(&oa, &of) ? "bit-identical" : "DIFFER");
    free_out(&oa);
    free_out(&ob);
    free_out(&oc);
    free_out(&of);
    free_out(&of2);
    /* a state loaded twice into one session, after it moved on */
    CHECK(dsv3_session_load(a, buf, need) == DSV3_OK && dsv3_session_position(a) == NP, "reload");
    free(buf);
    dsv3_session_free(a);
    dsv3_session_free(b);
    dsv3_session_free(c);
    dsv3_session_free(f);
    dsv3_session_free(f2);
}

/* A refused load must leave s as it was: same position and the same next
 * logits as its untouched twin. */
static void expect_refused(dsv3_model *m, dsv3_model *twin_model, int32_t kv, int32_t n_ctx, int mtp, const void *st,
                           size_t n, const char *what, const char *word) {
    dsv3_session *s = new_session(m, kv, n_ctx, mtp, 0), *t = new_session(twin_model, kv, n_ctx, mtp, 0);
    prefill(s, 5, 0);
    prefill(t, 5, 0);
    int rc = dsv3_session_load(s, st, n);
    const char *msg = dsv3_session_last_error(s);
    CHECK(rc == DSV3_ERR_BAD_STATE, "%s: status %d (%s), want DSV3_ERR_BAD_STATE", what, rc, msg);
    CHECK(strstr(msg, word) != NULL, "%s: message '%s' lacks '%s'", what, msg, word);
    printf("refused (%s): %s\n", what, msg);
    CHECK(dsv3_session_position(s) == 5 && dsv3_session_mtp_position(s) == 0, "%s: position changed", what);
    outputs os = run_next(s, 0), ot = run_next(t, 0);
    CHECK(same(&os, &ot), "%s: the session changed", what);
    free_out(&os);
    free_out(&ot);
    dsv3_session_free(s);
    dsv3_session_free(t);
}

static unsigned char *save_of(dsv3_session *s, size_t *n) {
    dsv3_session_save(s, NULL, 0, n);
    unsigned char *b = malloc(*n);
    CHECK(dsv3_session_save(s, b, *n, n) == DSV3_OK, "save: %s", dsv3_session_last_error(s));
    return b;
}

static int copy_file(const char *from, const char *to, const char *replace, const char *with) {
    FILE *f = fopen(from, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[got] = 0;
    FILE *o = fopen(to, "wb");
    if (!o) return -1;
    char *at = replace ? strstr(b, replace) : NULL;
    if (at) {
        fwrite(b, 1, (size_t)(at - b), o);
        fputs(with, o);
        fputs(at + strlen(replace), o);
    } else {
        fwrite(b, 1, got, o);
    }
    free(b);
    return fclose(o) == 0 && (!replace || at) ? 0 : -1;
}

static void refusals(dsv3_model *m, const char *demo, const char *tmp) {
    dsv3_session *a = new_session(m, DSV3_KV_F32, 64, 1, 0);
    prefill(a, NP, NP - 1);
    size_t n = 0;
    unsigned char *st = save_of(a, &n), *bad = malloc(n);

    expect_refused(m, m, DSV3_KV_F16, 64, 1, st, n, "another kv_type", "kv_type");
    expect_refused(m, m, DSV3_KV_F32, NP - 1, 1, st, n, "n_ctx too small", "n_ctx");
    memcpy(bad, st, n);
    bad[n / 2] ^= 0x10;
    expect_refused(m, m, DSV3_KV_F32, 64, 1, bad, n, "a flipped byte", "checksum");
    expect_refused(m, m, DSV3_KV_F32, 64, 1, st, n - 1, "truncated by one byte", "truncated");
    expect_refused(m, m, DSV3_KV_F32, 64, 1, st, 50, "truncated to 50 bytes", "truncated");
    memcpy(bad, st, n);
    bad[0] = 'X';
    expect_refused(m, m, DSV3_KV_F32, 64, 1, bad, n, "bad magic", "not a dsv3 session state");
    memcpy(bad, st, n);
    bad[8] = 2;
    expect_refused(m, m, DSV3_KV_F32, 64, 1, bad, n, "version 2", "version");

    /* another model: the same weights under a config with another rope_theta */
    char dir[1024], from[1200], to[1200];
    snprintf(dir, sizeof dir, "%s/other-model", tmp);
    mkdir(dir, 0755);
    snprintf(from, sizeof from, "%s/config.json", demo);
    snprintf(to, sizeof to, "%s/config.json", dir);
    CHECK(copy_file(from, to, "\"rope_theta\": 10000", "\"rope_theta\": 10001") == 0, "write %s", to);
    snprintf(from, sizeof from, "%s/model.safetensors", demo);
    snprintf(to, sizeof to, "%s/model.safetensors", dir);
    CHECK(copy_file(from, to, NULL, NULL) == 0, "copy %s", to);
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "scalar";
    mp.n_threads = 1;
    dsv3_model *other = NULL;
    char err[512];
    CHECK(dsv3_model_load(dir, &mp, &other, err, sizeof err) == DSV3_OK, "load %s: %s", dir, err);
    if (other) expect_refused(other, other, DSV3_KV_F32, 64, 1, st, n, "another model", "another model");

    /* no MTP hidden states (saved with mtp = 0) into an mtp = 1 session;
     * the same state loads into an mtp = 0 session */
    dsv3_session *z = new_session(m, DSV3_KV_F32, 64, 0, 0);
    prefill(z, NP, 0);
    size_t zn = 0;
    unsigned char *zs = save_of(z, &zn);
    expect_refused(m, m, DSV3_KV_F32, 64, 1, zs, zn, "no MTP hidden states", "mtp = 0");
    dsv3_session *z2 = new_session(m, DSV3_KV_F32, 64, 0, 0);
    CHECK(dsv3_session_load(z2, zs, zn) == DSV3_OK, "mtp=0 state into mtp=0: %s", dsv3_session_last_error(z2));
    outputs o1 = run_next(z, 0), o2 = run_next(z2, 0);
    CHECK(same(&o1, &o2), "mtp=0 round trip differs");
    free_out(&o1);
    free_out(&o2);
    /* an mtp = 1 state into an mtp = 0 session: the main cache is restored */
    dsv3_session *z3 = new_session(m, DSV3_KV_F32, 64, 0, 0), *ref = new_session(m, DSV3_KV_F32, 64, 0, 0);
    prefill(ref, NP, 0);
    CHECK(dsv3_session_load(z3, st, n) == DSV3_OK, "mtp=1 state into mtp=0: %s", dsv3_session_last_error(z3));
    o1 = run_next(z3, 0);
    o2 = run_next(ref, 0);
    CHECK(same(&o1, &o2), "mtp=1 state in an mtp=0 session: main logits differ");
    free_out(&o1);
    free_out(&o2);

    /* files */
    char path[1200];
    snprintf(path, sizeof path, "%s/no-such-dir/state.bin", tmp);
    CHECK(dsv3_session_load_file(a, path) == DSV3_ERR_NOT_FOUND, "load_file missing: %s", dsv3_session_last_error(a));
    CHECK(dsv3_session_save_file(a, path) == DSV3_ERR_NOT_FOUND, "save_file into a missing dir: %s",
          dsv3_session_last_error(a));
    snprintf(path, sizeof path, "%s/corrupt.bin", tmp);
    FILE *f = fopen(path, "wb");
    fwrite(bad, 1, n, f);
    fclose(f);
    CHECK(dsv3_session_load_file(a, path) == DSV3_ERR_BAD_STATE && strstr(dsv3_session_last_error(a), path),
          "load_file corrupt: %s", dsv3_session_last_error(a));
    CHECK(dsv3_session_position(a) == NP, "a failed load_file moved the session");
    CHECK(dsv3_session_save(NULL, NULL, 0, &n) == DSV3_ERR_INVALID_ARG && dsv3_session_load(a, NULL, 5) == DSV3_ERR_INVALID_ARG &&
              dsv3_session_save(a, NULL, 0, NULL) == DSV3_ERR_INVALID_ARG,
          "NULL arguments");
    free(zs);
    free(st);
    free(bad);
    dsv3_session_free(a);
    dsv3_session_free(z);
    dsv3_session_free(z2);
    dsv3_session_free(z3);
    dsv3_session_free(ref);
    dsv3_model_free(other);
    /* the copy of the weights is 15 MB: not left in the build tree */
    snprintf(to, sizeof to, "%s/model.safetensors", dir);
    unlink(to);
    snprintf(to, sizeof to, "%s/config.json", dir);
    unlink(to);
    rmdir(dir);
}

static void routing(dsv3_model *m) {
    dsv3_session *a = new_session(m, DSV3_KV_F32, 64, 1, 1);
    prefill(a, NP, 0);
    size_t n = 0;
    unsigned char *st = save_of(a, &n);
    dsv3_session *b = new_session(m, DSV3_KV_F32, 64, 1, 1), *f = NULL;
    CHECK(dsv3_session_load(b, st, n) == DSV3_OK, "load with routing: %s", dsv3_session_last_error(b));
    CHECK(dsv3_session_fork(a, NULL, &f, NULL, 0) == DSV3_OK, "fork with routing");
    int32_t nm = 0;
    dsv3_session_get_routing(a, 0, NULL, NULL, &nm);
    struct dsv3_model_info info;
    info.struct_size = sizeof info;
    dsv3_model_get_info(m, &info);
    size_t cnt = (size_t)nm * (size_t)info.n_experts_per_token;
    int32_t *ia = malloc(cnt * 4), *ib = malloc(cnt * 4), *ic = malloc(cnt * 4);
    float *wa = malloc(cnt * 4), *wb = malloc(cnt * 4), *wc = malloc(cnt * 4);
    int ok = 1;
    for (int32_t p = 0; p < NP; p++) {
        dsv3_session_get_routing(a, p, ia, wa, NULL);
        CHECK(dsv3_session_get_routing(b, p, ib, wb, NULL) == DSV3_OK, "get_routing after load");
        CHECK(dsv3_session_get_routing(f, p, ic, wc, NULL) == DSV3_OK, "get_routing after fork");
        ok &= !memcmp(ia, ib, cnt * 4) && !memcmp(wa, wb, cnt * 4) && !memcmp(ia, ic, cnt * 4) && !memcmp(wa, wc, cnt * 4);
    }
    CHECK(ok, "routing records differ after load / fork");
    free(ia), free(ib), free(ic), free(wa), free(wb), free(wc), free(st);
    dsv3_session_free(a);
    dsv3_session_free(b);
    dsv3_session_free(f);
}

/* 5. the sampler's state: a copy loaded from the saved state draws the same
 * tokens (with penalties, so the window matters too) */
static void sampler_state(void) {
    const int32_t n_vocab = 500;
    float *logits = malloc(sizeof(float) * n_vocab);
    for (int32_t i = 0; i < n_vocab; i++) logits[i] = (float)((i * 37) % 101) / 25.0f;
    struct dsv3_sampler_params p;
    dsv3_sampler_params_init(&p, sizeof p);
    p.seed = 5;
    p.top_k = 0;
    p.min_p = 0;
    p.repeat_penalty = 1.5f;
    p.presence_penalty = 0.5f;
    p.penalty_last_n = 8;
    dsv3_sampler *a = NULL, *b = NULL, *c = NULL;
    dsv3_sampler_create(&p, n_vocab, &a);
    dsv3_sampler_create(&p, n_vocab, &b);
    dsv3_sampler_create(&p, n_vocab + 1, &c);
    int32_t t;
    for (int i = 0; i < 20; i++) { /* past the window: the ring has wrapped */
        dsv3_sampler_sample(a, logits, &t);
        dsv3_sampler_accept(a, t);
    }
    size_t n = 0;
    CHECK(dsv3_sampler_save(a, NULL, 0, &n) == DSV3_ERR_TOO_SMALL && n == 64 + 4 * 8, "sampler size %zu", n);
    unsigned char *st = malloc(n);
    CHECK(dsv3_sampler_save(a, st, n, &n) == DSV3_OK, "sampler save");
    CHECK(dsv3_sampler_load(c, st, n) == DSV3_ERR_BAD_STATE, "sampler state into another vocabulary");
    st[60] ^= 1;
    CHECK(dsv3_sampler_load(b, st, n) == DSV3_ERR_BAD_STATE, "corrupt sampler state");
    st[60] ^= 1;
    CHECK(dsv3_sampler_load(b, st, n - 1) == DSV3_ERR_BAD_STATE, "truncated sampler state");
    CHECK(dsv3_sampler_load(b, st, n) == DSV3_OK, "sampler load");
    int same_draws = 1;
    for (int i = 0; i < 50; i++) {
        int32_t ta, tb;
        dsv3_sampler_sample(a, logits, &ta);
        dsv3_sampler_sample(b, logits, &tb);
        dsv3_sampler_accept(a, ta);
        dsv3_sampler_accept(b, tb);
        same_draws &= ta == tb;
    }
    CHECK(same_draws, "a sampler loaded from a state draws other tokens");
    printf("sampler state: %zu bytes; 50 draws after load equal the original's: %s\n", n, same_draws ? "yes" : "NO");
    free(st);
    free(logits);
    dsv3_sampler_free(a);
    dsv3_sampler_free(b);
    dsv3_sampler_free(c);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DEMO_MODEL_DIR TMP_DIR\n", argv[0]);
        return 2;
    }
    const char *demo = argv[1], *tmp = argv[2];
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s\n", tmp);
        return 1;
    }
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "scalar";
    mp.n_threads = 1;
    dsv3_model *m = NULL;
    char err[512];
    if (dsv3_model_load(demo, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "load %s: %s\n", demo, err);
        return 1;
    }
    struct dsv3_model_info info;
    info.struct_size = sizeof info;
    dsv3_model_get_info(m, &info);
    V = info.vocab_size;
    for (int32_t kv = 0; kv < 3; kv++) {
        round_trip(m, kv, NP - 1, tmp); /* MTP one behind: as generation leaves it */
        round_trip(m, kv, 4, tmp);      /* MTP further behind */
        round_trip(m, kv, 0, tmp);      /* no MTP rows yet */
    }
    refusals(m, demo, tmp);
    routing(m);
    sampler_state();
    /* V3's full dimensions: 61 layers, kv_lora_rank 512, rope 64, 1 MTP layer */
    const uint64_t row[3] = {512 * 4, 512 * 2, 512 / 32 * 34};
    for (int kv = 0; kv < 3; kv++)
        printf("DeepSeek-V3 state per position, %s: %llu bytes (61 layers) + %llu (MTP layer)\n", kv_names[kv],
               (unsigned long long)(61 * (row[kv] + 64 * 4)), (unsigned long long)(row[kv] + 64 * 4));
    dsv3_model_free(m);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
