/* test_vk_runtime.c -- the Vulkan backend's runtime on whatever device the
 * machine has (lavapipe in CI): memory (alloc zeroed, host round trips,
 * device copies, pointer arithmetic into allocations, big dedicated
 * blocks, many small allocations in few blocks), one op end to end (add),
 * weights through upload_weight + load_done, the sticky error, and ops
 * from two threads at once. Exits 77 (skipped) when Vulkan is not
 * available, saying why.
 *
 *   test_vk_runtime                    the checks above
 *   test_vk_runtime --expect-unavailable
 *       run with the driver hidden (VK_ICD_FILENAMES=/nonexistent): the
 *       backend must report itself unavailable with a reason, refuse
 *       init by name with DSV3_ERR_BACKEND, and "auto" must pick a CPU
 *       backend.
 *   test_vk_runtime --model DIR
 *       a failure inside a step (injected as an op would report it) fails
 *       dsv3_session_step with that status and message, keeps the
 *       position, and the next step runs normally. And host syncs per
 *       step with every weight on the device: a decode step waits once
 *       (its logits, and the routing record read with them), a prompt
 *       step once per MoE layer (the routing picks) plus its logits; the
 *       same steps routed on the host (route op hidden) pick the same
 *       experts. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "dsv3.h"
#include "model.h"
#include "vulkan/vk.h"

void dsv3_vk_test_staging(int on); /* vk_internal.h: tests only */
uint64_t dsv3_vk_test_syncs(const dsv3_vk *vk);

extern const dsv3_backend_ops dsv3_backend_vulkan;
static const dsv3_backend_ops *V = &dsv3_backend_vulkan;
static int failures;

#define CHECK(cond, ...)                                                                                        \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            failures++;                                                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            printf(__VA_ARGS__);                                                                               \
            printf("\n");                                                                                      \
        }                                                                                                      \
    } while (0)

static int expect_unavailable(void) {
    char why[1024];
    V->describe(why, sizeof why);
    printf("describe: %s\n", why);
    CHECK(!V->available(), "available() with the driver hidden");
    CHECK(!V->auto_ok(), "auto_ok() with the driver hidden");
    CHECK(!strncmp(why, "unavailable: ", 13), "describe() should start with 'unavailable: '");
    dsv3_err e = {0};
    CHECK(dsv3_backend_find("vulkan", &e) == NULL && e.status == DSV3_ERR_BACKEND, "find(vulkan) must fail");
    printf("find(vulkan): %s\n", e.msg);
    CHECK(strstr(e.msg, "unavailable") != NULL, "the message should carry describe()'s reason");
    dsv3_backend *be = NULL;
    dsv3_backend_params p = {.n_threads = 1};
    e.status = 0;
    CHECK(V->init(&p, &be, &e) == DSV3_ERR_BACKEND && !be, "init must fail with DSV3_ERR_BACKEND");
    const dsv3_backend_ops *a = dsv3_backend_find("auto", &e);
    CHECK(a && a != V, "auto must pick a CPU backend");
    if (a) printf("auto picks: %s\n", a->name);
    return failures ? 1 : 0;
}

static float *host_floats(size_t n, float base) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = base + (float)(i % 1000) * 0.25f;
    return x;
}

static void memory_checks(dsv3_backend *be) {
    dsv3_err e = {0};
    const size_t n = 1003;
    float *y = V->alloc(be, n * 4), *x = V->alloc(be, n * 4);
    float *h = host_floats(n, 1.0f), *g = host_floats(n, -3.0f), *back = malloc(n * 4);
    CHECK(y && x, "alloc");
    memset(back, 0x55, n * 4);
    V->to_host(be, back, y, n * 4);
    int zero = 1;
    for (size_t i = 0; i < n; i++) zero &= back[i] == 0.0f;
    CHECK(zero, "alloc() memory must read back as zeros");
    V->from_host(be, y, h, n * 4);
    V->from_host(be, x, g, n * 4);
    V->add(be, y, x, n);
    V->to_host(be, back, y, n * 4);
    int same = 1;
    for (size_t i = 0; i < n; i++) same &= back[i] == h[i] + g[i];
    CHECK(same, "add: y + x must be exact");
    /* A slice through pointer arithmetic, as lib/ does with cache rows. */
    V->add(be, y + 10, x + 20, 5);
    V->to_host(be, back, y, n * 4);
    same = 1;
    for (size_t i = 0; i < n; i++) {
        float want = h[i] + g[i] + (i >= 10 && i < 15 ? g[i + 10] : 0.0f);
        same &= back[i] == want;
    }
    CHECK(same, "add on slices (y + 10, x + 20)");
    /* Work submitted without waiting, then more recorded behind it. */
    V->add(be, y, x, n);
    CHECK(dsv3_vk_submit_nowait((dsv3_vk *)be) == 0, "submit_nowait");
    V->add(be, y, x, n);
    CHECK(dsv3_vk_submit_nowait((dsv3_vk *)be) == 0, "submit_nowait");
    V->add(be, y, x, n);
    V->to_host(be, back, y, n * 4);
    same = 1;
    for (size_t i = 0; i < n; i++) {
        float want = h[i] + g[i] + (i >= 10 && i < 15 ? g[i + 10] : 0.0f);
        same &= back[i] == ((want + g[i]) + g[i]) + g[i];
    }
    CHECK(same, "adds across two submissions without a wait");
    V->from_host(be, y, h, n * 4); /* back to the state checked above */
    V->add(be, y, x, n);
    V->add(be, y + 10, x + 20, 5);
    /* device copy, partial host reads and writes */
    V->copy(be, x, y, n * 4);
    V->to_host(be, back, x + 7, 4 * 4);
    CHECK(back[0] == h[7] + g[7] && back[3] == h[10] + g[10] + g[20], "copy + partial to_host");
    V->from_host(be, x + 100, h, 8);
    V->to_host(be, back, x + 99, 16);
    CHECK(back[1] == h[0] && back[2] == h[1] && back[3] == h[102] + g[102], "partial from_host");
    CHECK(dsv3_vk_addr((dsv3_vk *)be, x + 5) == dsv3_vk_addr((dsv3_vk *)be, x) + 20, "dsv3_vk_addr arithmetic");
    CHECK(V->status(be, &e) == DSV3_OK, "no error so far: %s", e.msg);

    /* A big allocation gets its own block; round trip through it. */
    size_t big = (size_t)40 << 20;
    unsigned char *bd = V->alloc(be, big), *bh = malloc(big), *bb = malloc(big);
    CHECK(bd != NULL, "alloc 40 MiB");
    for (size_t i = 0; i < big; i++) bh[i] = (unsigned char)(i * 7 + (i >> 12));
    V->from_host(be, bd, bh, big);
    V->to_host(be, bb, bd, big);
    CHECK(!memcmp(bh, bb, big), "40 MiB round trip");
    V->release(be, bd);
    free(bh);
    free(bb);

    /* Many small allocations share blocks; each one is zeroed and apart. */
    enum { MANY = 3000 };
    float **ps = malloc(MANY * sizeof *ps);
    for (int i = 0; i < MANY; i++) {
        ps[i] = V->alloc(be, 1000);
        if (!ps[i]) {
            CHECK(0, "small alloc %d", i);
            break;
        }
        float v = (float)i;
        V->from_host(be, ps[i], &v, 4);
    }
    int ok = 1;
    for (int i = 0; i < MANY; i += 97) {
        float v[250];
        V->to_host(be, v, ps[i], sizeof v);
        ok &= v[0] == (float)i && v[249] == 0.0f;
    }
    CHECK(ok, "3000 small allocations keep their contents");
    for (int i = 0; i < MANY; i++) V->release(be, ps[i]);
    free(ps);

    /* A pointer the backend did not hand out: a sticky error, reported
     * once by status(), with ops skipped meanwhile. */
    float host[4] = {0};
    float *z = V->alloc(be, (size_t)48 << 20); /* a block of its own */
    V->add(be, z, x, n);                       /* recorded, not yet run */
    V->add(be, host, x, 4);
    V->add(be, y, x, n); /* skipped */
    V->release(be, z);   /* its block goes while the recorded add uses it */
    int st = V->status(be, &e);
    CHECK(st == DSV3_ERR_BACKEND && !strncmp(e.msg, "vulkan: ", 8), "bad pointer: status %d '%s'", st, e.msg);
    printf("sticky error: %s\n", e.msg);
    CHECK(V->status(be, &e) == DSV3_OK, "status() clears the error");
    V->to_host(be, back, y, n * 4);
    same = 1;
    for (size_t i = 0; i < 3; i++) same &= back[i] == h[i] + g[i];
    CHECK(same, "the op after the failure was skipped");
    V->release(be, x);
    V->release(be, y);
    free(h);
    free(g);
    free(back);
}

static void weight_checks(dsv3_backend *be) {
    dsv3_err e = {0};
    float data[3][6];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 6; c++) data[r][c] = (float)(r * 10 + c);
    /* a 3x5 view with a 6-float row stride, as files may store views */
    dsv3_weight w = {.type = DSV3_W_F32, .rows = 3, .cols = 5, .data = data, .row_stride = 24,
                     .role = DSV3_ROLE_ATTN, .layer = 0};
    dsv3_weight emb = w;
    emb.role = DSV3_ROLE_EMBED;
    CHECK(V->upload_weight(be, &w, &e) == DSV3_OK, "upload_weight: %s", e.msg);
    CHECK(V->upload_weight(be, &emb, &e) == DSV3_OK, "upload_weight: %s", e.msg);
    CHECK(V->load_done(be, &e) == DSV3_OK, "load_done: %s", e.msg);
    const dsv3_vk_weight *d = w.device;
    CHECK(d && d->addr && d->bytes == 2 * 24 + 20, "attention weight on the device (%llu bytes)",
          d ? (unsigned long long)d->bytes : 0ULL);
    CHECK(emb.device == NULL, "the embedding table stays on the host");
    /* load_done again with nothing new, then with one more weight */
    CHECK(V->load_done(be, &e) == DSV3_OK, "load_done again: %s", e.msg);
    dsv3_weight w2 = w;
    w2.role = DSV3_ROLE_HEAD;
    CHECK(V->upload_weight(be, &w2, &e) == DSV3_OK && V->load_done(be, &e) == DSV3_OK, "second batch: %s", e.msg);
    CHECK(w2.device && w.device == d, "second batch placed, first unchanged");
    /* The uploaded bytes, read through matmul with unit vectors:
     * y[r] = W[r][j], exact in f32 (rows at their stride). */
    float *x = V->alloc(be, 5 * 4), *y = V->alloc(be, 3 * 4);
    int same = 1;
    for (int j = 0; j < 5; j++) {
        float xh[5] = {0}, yh[3];
        xh[j] = 1.0f;
        V->from_host(be, x, xh, sizeof xh);
        V->matmul(be, &w, x, y, 1);
        V->to_host(be, yh, y, sizeof yh);
        for (int r = 0; r < 3; r++) same &= yh[r] == data[r][j];
    }
    CHECK(same, "weight bytes on the device (matmul with unit vectors)");
    CHECK(V->status(be, &e) == DSV3_OK, "matmul: %s", e.msg);
    V->release(be, x);
    V->release(be, y);
    char text[512];
    int len = V->placement(be, text, sizeof text);
    printf("placement:\n%s\n", text);
    CHECK(len > 0 && strstr(text, "attention") && strstr(text, "embedding"), "placement text");
}

typedef struct {
    dsv3_backend *be;
    int seed, ok;
} worker_arg;

static void *worker(void *p) {
    worker_arg *a = p;
    const size_t n = 4096;
    float *h = host_floats(n, (float)a->seed), *back = malloc(n * 4);
    a->ok = 1;
    for (int it = 0; it < 20; it++) {
        float *y = V->alloc(a->be, n * 4), *x = V->alloc(a->be, n * 4);
        if (!y || !x) {
            a->ok = 0;
            break;
        }
        V->from_host(a->be, y, h, n * 4);
        V->from_host(a->be, x, h, n * 4);
        V->add(a->be, y, x, n);
        V->add(a->be, y, x, n);
        V->to_host(a->be, back, y, n * 4);
        for (size_t i = 0; i < n; i++) a->ok &= back[i] == 3.0f * h[i];
        V->release(a->be, x);
        V->release(a->be, y);
    }
    free(h);
    free(back);
    return NULL;
}

static void thread_checks(dsv3_backend *be) {
    pthread_t t[2];
    worker_arg a[2] = {{be, 1, 0}, {be, 7, 0}};
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, &a[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    CHECK(a[0].ok && a[1].ok, "two threads' ops on one backend");
}

/* One run of a prompt step (3 tokens) and 3 decode steps with the routing
 * record on: the host syncs of each, the last logits and the record. */
typedef struct sync_run {
    uint64_t prompt, decode[3];
    float *logits;
    int32_t *ids;
    float *w;
} sync_run;

static void sync_run_steps(dsv3_model *m, sync_run *r) {
    const dsv3_vk *vk = (const dsv3_vk *)m->be;
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.record_routing = 1;
    dsv3_session *s = NULL;
    char err[512];
    if (dsv3_session_create(m, &sp, &s, err, sizeof err)) {
        CHECK(0, "session: %s", err);
        return;
    }
    const int32_t toks[6] = {1, 2, 3, 4, 5, 6};
    uint64_t a = dsv3_vk_test_syncs(vk);
    CHECK(dsv3_session_step(s, toks, 3, r->logits, 0) == DSV3_OK, "prompt step: %s", dsv3_session_last_error(s));
    r->prompt = dsv3_vk_test_syncs(vk) - a;
    for (int i = 0; i < 3; i++) {
        a = dsv3_vk_test_syncs(vk);
        CHECK(dsv3_session_step(s, toks + 3 + i, 1, r->logits, 0) == DSV3_OK, "decode step: %s",
              dsv3_session_last_error(s));
        r->decode[i] = dsv3_vk_test_syncs(vk) - a;
    }
    const int nk = m->cfg.n_experts_per_tok * m->cfg.n_layers; /* >= MoE layers x k */
    for (int p = 0; p < 6; p++)
        CHECK(dsv3_session_get_routing(s, p, r->ids + p * nk, r->w + p * nk, NULL) == DSV3_OK, "routing record at %d",
              p);
    dsv3_session_free(s);
}

/* Host syncs with every weight on the device (placement "gpu"): a decode
 * step waits once (its logits, the routing record read with them), a
 * prompt step once per MoE layer (the picks) and once for its logits (and,
 * the session's first, once more for its zeroed buffers).
 * The same steps with the route op and moe_prepare hidden (lib/'s path for
 * a backend without them: the router's scores read back, host top-k) give
 * the syncs before the op existed, the same expert ids at every position
 * and logits within rounding (the device's exp against expf). */
static void sync_checks(const char *dir) {
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "vulkan";
    mp.placement = "gpu";
    mp.n_threads = 1;
    dsv3_model *m = NULL;
    char err[512];
    if (dsv3_model_load(dir, &mp, &m, err, sizeof err)) {
        CHECK(0, "load %s (gpu): %s", dir, err);
        return;
    }
    const int nv = m->cfg.vocab_size, nk = m->cfg.n_experts_per_tok * m->cfg.n_layers;
    int n_moe = 0;
    for (int il = 0; il < m->cfg.n_layers; il++) n_moe += m->layers[il].is_moe;
    sync_run r[2];
    for (int i = 0; i < 2; i++) {
        r[i].logits = calloc((size_t)nv, sizeof(float));
        r[i].ids = calloc((size_t)(6 * nk), sizeof(int32_t));
        r[i].w = calloc((size_t)(6 * nk), sizeof(float));
        if (!r[i].logits || !r[i].ids || !r[i].w) {
            CHECK(0, "out of memory");
            return;
        }
    }
    const dsv3_backend_ops *ops = m->ops;
    dsv3_backend_ops host_routing = *ops;
    host_routing.route = NULL;
    host_routing.moe_prepare = NULL;
    m->ops = &host_routing;
    sync_run_steps(m, &r[0]);
    m->ops = ops;
    sync_run_steps(m, &r[1]);
    printf("host syncs (placement gpu, %d MoE layers): host routing: prompt step %llu, decode steps %llu %llu %llu; "
           "route op: prompt step %llu, decode steps %llu %llu %llu\n",
           n_moe, (unsigned long long)r[0].prompt, (unsigned long long)r[0].decode[0],
           (unsigned long long)r[0].decode[1], (unsigned long long)r[0].decode[2], (unsigned long long)r[1].prompt,
           (unsigned long long)r[1].decode[0], (unsigned long long)r[1].decode[1], (unsigned long long)r[1].decode[2]);
    /* a session's first step also waits for its buffers' zeroing */
    CHECK(r[0].prompt == r[1].prompt && r[1].prompt >= (uint64_t)n_moe + 1 && r[1].prompt <= (uint64_t)n_moe + 2,
          "prompt step: %d (+1) syncs expected", n_moe + 1);
    for (int i = 0; i < 3; i++) {
        CHECK(r[0].decode[i] == (uint64_t)n_moe + 1, "host routing decode step: %d syncs expected", n_moe + 1);
        CHECK(r[1].decode[i] == 1, "route op decode step: 1 sync expected");
    }
    CHECK(!memcmp(r[0].ids, r[1].ids, sizeof(int32_t) * (size_t)(6 * nk)), "expert ids differ from host routing");
    double dw = 0, dl = 0, ml = 0;
    for (int i = 0; i < 6 * nk; i++) dw = fmax(dw, fabs((double)r[0].w[i] - r[1].w[i]) / fmax(fabs((double)r[0].w[i]), 1e-30));
    for (int i = 0; i < nv; i++) {
        dl = fmax(dl, fabs((double)r[0].logits[i] - r[1].logits[i]));
        ml = fmax(ml, fabs((double)r[0].logits[i]));
    }
    printf("route op vs host routing: ids equal at 6 positions, gate weights %.2e relative, last logits %.2e of "
           "max|logit| %.2f\n", dw, dl, ml);
    CHECK(dw <= 1e-6, "gate weights %.3g relative from host routing", dw);
    CHECK(dl <= 1e-4 * ml, "logits %.3g from host routing", dl);
    for (int i = 0; i < 2; i++) {
        free(r[i].logits);
        free(r[i].ids);
        free(r[i].w);
    }
    dsv3_model_free(m);
}

/* A step during which an op fails. */
static int session_checks(const char *dir) {
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "vulkan";
    mp.n_threads = 1;
    dsv3_model *m = NULL;
    char err[512];
    if (dsv3_model_load(dir, &mp, &m, err, sizeof err)) {
        printf("FAIL load %s: %s\n", dir, err);
        return 1;
    }
    dsv3_session *s = NULL;
    if (dsv3_session_create(m, NULL, &s, err, sizeof err)) {
        printf("FAIL session: %s\n", err);
        dsv3_model_free(m);
        return 1;
    }
    const int32_t toks[2] = {1, 2};
    CHECK(dsv3_session_step(s, toks, 1, NULL, 0) == DSV3_OK, "first step: %s", dsv3_session_last_error(s));
    dsv3_vk_fail((dsv3_vk *)m->be, DSV3_ERR_NO_MEMORY, "injected failure");
    int rc = dsv3_session_step(s, toks + 1, 1, NULL, 0);
    printf("failed step: %d %s\n", rc, dsv3_session_last_error(s));
    CHECK(rc == DSV3_ERR_NO_MEMORY && strstr(dsv3_session_last_error(s), "vulkan: injected failure"),
          "the op's failure fails the step");
    CHECK(dsv3_session_position(s) == 1, "position kept at 1 (got %d)", (int)dsv3_session_position(s));
    CHECK(dsv3_session_step(s, toks + 1, 1, NULL, 0) == DSV3_OK && dsv3_session_position(s) == 2,
          "the next step runs: %s", dsv3_session_last_error(s));
    dsv3_session_free(s);
    dsv3_model_free(m);
    sync_checks(dir);
    printf("%s\n", failures ? "FAILED" : "OK");
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--expect-unavailable")) return expect_unavailable();
    char why[2048];
    V->describe(why, sizeof why);
    printf("vulkan: %s\n", why);
    if (!V->available()) {
        printf("SKIP: the Vulkan backend is unavailable here\n");
        return 77;
    }
    if (argc > 2 && !strcmp(argv[1], "--model")) return session_checks(argv[2]);
    dsv3_err e = {0};
    CHECK(dsv3_backend_find("vulkan", &e) == V, "find vulkan");
    const dsv3_backend_ops *a = dsv3_backend_find("auto", &e);
    CHECK(a && (a != V || V->auto_ok()), "auto picks vulkan only when auto_ok()");

    dsv3_backend *be = NULL;
    dsv3_backend_params p = {.n_threads = 2, .device = 99};
    CHECK(V->init(&p, &be, &e) == DSV3_ERR_BACKEND && !be, "device 99 refused");
    printf("vulkan:99: %s\n", e.msg);
    p.device = 0;
    if (V->init(&p, &be, &e) != DSV3_OK) {
        printf("FAIL init: %s\n", e.msg);
        return 1;
    }
    memory_checks(be);
    weight_checks(be);
    thread_checks(be);
    CHECK(V->status(be, &e) == DSV3_OK, "no error at the end: %s", e.msg);
    V->free(be);
    /* Again through the staging buffer, as on a GPU whose memory the host
     * cannot map. */
    dsv3_vk_test_staging(1);
    be = NULL;
    if (V->init(&p, &be, &e) != DSV3_OK) {
        printf("FAIL init (staging): %s\n", e.msg);
        return 1;
    }
    printf("-- again with staging copies\n");
    memory_checks(be);
    weight_checks(be);
    CHECK(V->status(be, &e) == DSV3_OK, "no error at the end: %s", e.msg);
    V->free(be);
    printf("%s\n", failures ? "FAILED" : "OK");
    return failures ? 1 : 0;
}
