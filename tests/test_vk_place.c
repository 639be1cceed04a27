/* test_vk_place.c -- the Vulkan backend's placement policies
 * (backends/vulkan/vk_place.c), which need no device: budgets, the three
 * policies on a synthetic model, the refusals and their numbers, and that
 * a layer's routed experts are never split. With model paths as
 * arguments it also checks the loaders' role and layer tags on every
 * weight of each model (loaded on the scalar backend).
 * Usage: test_vk_place [MODEL...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "vulkan/vk_place.h"

static int fails;
#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            fails++;                                                              \
        }                                                                         \
    } while (0)

#define MIB (1024ull * 1024ull)
#define GIB (1024ull * MIB)

/* ---- synthetic weights ------------------------------------------------- */

#define MAXW 128
static dsv3_weight pool[MAXW];
static dsv3_weight *ws[MAXW];
static int nw;

/* An f32 weight of `bytes` bytes (one row). */
static int add(int role, int layer, uint64_t bytes) {
    dsv3_weight *w = &pool[nw];
    memset(w, 0, sizeof *w);
    w->type = DSV3_W_F32;
    w->rows = 1;
    w->cols = (int64_t)(bytes / 4);
    w->row_stride = (size_t)bytes;
    w->role = role;
    w->layer = layer;
    ws[nw] = w;
    return nw++;
}

/* embed 1000, out norm 1, head 400; layer 0 dense: norms 2, attn 100,
 * dense 300; MoE layers 1, 2 and MTP layer 3: norms 2, attn 100, router 10,
 * shared 50, 4 experts x 3 matrices (layer 1: 20 each, layer 2: 10 each,
 * layer 3: 20 each); layer 3 also eh_proj 30 (DENSE). Units: bytes. */
static void build(void) {
    nw = 0;
    add(DSV3_ROLE_EMBED, -1, 1000);
    add(DSV3_ROLE_NORM, -1, 1);
    add(DSV3_ROLE_HEAD, -1, 400);
    add(DSV3_ROLE_NORM, 0, 2);
    add(DSV3_ROLE_ATTN, 0, 100);
    add(DSV3_ROLE_DENSE, 0, 300);
    for (int l = 1; l <= 3; l++) {
        add(DSV3_ROLE_NORM, l, 2);
        add(DSV3_ROLE_ATTN, l, 100);
        add(DSV3_ROLE_ROUTER, l, 10);
        for (int x = 0; x < 12; x++) add(DSV3_ROLE_EXPERT, l, l == 2 ? 10 : 20);
        add(DSV3_ROLE_SHARED, l, 50);
    }
    add(DSV3_ROLE_DENSE, 3, 30);
}

/* Bytes placed on the device, in total and for one role (-1: all). */
static uint64_t on_dev(const char *on, int role, int layer) {
    uint64_t b = 0;
    for (int i = 0; i < nw; i++)
        if (on[i] && (role < 0 || ws[i]->role == role) && (layer < -1 || ws[i]->layer == layer))
            b += dsv3_vk_weight_bytes(ws[i]);
    return b;
}

/* Every layer's experts are all on the device or all on the host. */
static int experts_whole(const char *on) {
    for (int l = 0; l < 8; l++) {
        int seen = -1;
        for (int i = 0; i < nw; i++)
            if (ws[i]->role == DSV3_ROLE_EXPERT && ws[i]->layer == l) {
                if (seen >= 0 && seen != on[i]) return 0;
                seen = on[i];
            }
    }
    return 1;
}

static int place(const char *policy, uint64_t budget, uint64_t kv, char *on, dsv3_err *e) {
    dsv3_backend_params p = {1, 0, policy, budget, kv, 0};
    memset(on, 7, MAXW);
    err_clear(e);
    return dsv3_vk_place(ws, nw, 64 * GIB, &p, on, e);
}

static void test_basics(void) {
    int pol = -1;
    dsv3_err e;
    err_clear(&e);
    CHECK(dsv3_vk_place_policy(NULL, &pol, &e) == DSV3_OK && pol == DSV3_VK_PLACE_AUTO);
    CHECK(dsv3_vk_place_policy("auto", &pol, &e) == DSV3_OK && pol == DSV3_VK_PLACE_AUTO);
    CHECK(dsv3_vk_place_policy("gpu", &pol, &e) == DSV3_OK && pol == DSV3_VK_PLACE_GPU);
    CHECK(dsv3_vk_place_policy("experts-on-cpu", &pol, &e) == DSV3_OK && pol == DSV3_VK_PLACE_EXPERTS_ON_CPU);
    CHECK(dsv3_vk_place_policy("GPU", &pol, &e) == DSV3_ERR_INVALID_ARG && strstr(e.msg, "'GPU'"));

    /* stored bytes, plus FP8 block scales: 300 rows of 200 e4m3 in 128x128 blocks -> 3x2 scales */
    dsv3_weight w;
    memset(&w, 0, sizeof w);
    w.type = DSV3_W_F8_E4M3;
    w.rows = 300;
    w.cols = 200;
    w.row_stride = 200;
    w.block_r = w.block_c = 128;
    w.scale_cols = 2;
    CHECK(dsv3_vk_weight_bytes(&w) == 300 * 200 + 3 * 2 * 4);
    w.type = DSV3_W_Q8_0;
    w.row_stride = 200 / 32 * 34;
    CHECK(dsv3_vk_weight_bytes(&w) == 300ull * (200 / 32 * 34));

    /* budgets: explicit (capped at the heap), or the heap less a headroom
     * of heap/16 within [64 MiB, 1 GiB]; then less the KV reserve */
    dsv3_backend_params p = {1, 0, NULL, 0, 0, 0};
    CHECK(dsv3_vk_place_budget(8 * GIB, &p) == 8 * GIB - 512 * MIB);
    CHECK(dsv3_vk_place_budget(64 * GIB, &p) == 63 * GIB);
    CHECK(dsv3_vk_place_budget(512 * MIB, &p) == 448 * MIB);
    CHECK(dsv3_vk_place_budget(32 * MIB, &p) == 0);
    p.kv_reserve = GIB;
    CHECK(dsv3_vk_place_budget(64 * GIB, &p) == 62 * GIB);
    p.budget = 4 * GIB;
    CHECK(dsv3_vk_place_budget(64 * GIB, &p) == 3 * GIB);
    CHECK(dsv3_vk_place_budget(2 * GIB, &p) == GIB);
    p.kv_reserve = 5 * GIB;
    CHECK(dsv3_vk_place_budget(64 * GIB, &p) == 0);
    CHECK(dsv3_vk_place_budget(0, NULL) == 0);

    /* nothing to place, bad arguments */
    char on[1];
    CHECK(dsv3_vk_place(NULL, 0, GIB, NULL, NULL, &e) == DSV3_OK);
    CHECK(dsv3_vk_place(NULL, 1, GIB, NULL, on, &e) == DSV3_ERR_INVALID_ARG);
}

static void test_fixed(void) {
    char on[MAXW];
    dsv3_err e;
    build();
    uint64_t all = 0;
    for (int i = 0; i < nw; i++) all += dsv3_vk_weight_bytes(ws[i]);
    const uint64_t embed = 1000, experts = 12 * (20 + 10 + 20);

    /* gpu: everything but the embedding, with exactly enough budget */
    CHECK(place("gpu", all - embed + 100, 100, on, &e) == DSV3_OK);
    CHECK(on_dev(on, -1, -2) == all - embed && on_dev(on, DSV3_ROLE_EMBED, -2) == 0);
    for (int i = 0; i < nw; i++) CHECK(on[i] == (ws[i]->role != DSV3_ROLE_EMBED));
    /* one byte short: refused, with the numbers, nothing placed */
    CHECK(place("gpu", all - embed + 99, 100, on, &e) == DSV3_ERR_NO_MEMORY);
    CHECK(on_dev(on, -1, -2) == 0);
    char want[160];
    snprintf(want, sizeof want, "needs %llu bytes", (unsigned long long)(all - embed));
    CHECK(strstr(e.msg, "'gpu'") && strstr(e.msg, want));
    snprintf(want, sizeof want, "but %llu bytes", (unsigned long long)(all - embed - 1));
    CHECK(strstr(e.msg, want) != NULL);
    CHECK(strstr(e.msg, "less 100 kept for the KV cache") != NULL);

    /* experts-on-cpu: the routed experts and the embedding on the host */
    CHECK(place("experts-on-cpu", all - embed - experts, 0, on, &e) == DSV3_OK);
    for (int i = 0; i < nw; i++) CHECK(on[i] == (ws[i]->role != DSV3_ROLE_EMBED && ws[i]->role != DSV3_ROLE_EXPERT));
    CHECK(place("experts-on-cpu", all - embed - experts - 1, 0, on, &e) == DSV3_ERR_NO_MEMORY);
    CHECK(strstr(e.msg, "'experts-on-cpu'") != NULL);
    CHECK(place("cpu", GIB, 0, on, &e) == DSV3_ERR_INVALID_ARG);
}

static void test_auto(void) {
    char on[MAXW];
    dsv3_err e;
    build();
    /* tier sizes: 0 = norms+attention+routers 1+2+100+3*(2+100+10) = 439;
     * 1 = shared 150; 2 = dense 300 + eh_proj 30; 3 = head 400;
     * experts: layer 1 240, layer 2 120, layer 3 240 */
    const uint64_t t0 = 439, t1 = 150, t2 = 330, t3 = 400;

    /* everything fits: all but the embedding */
    CHECK(place("auto", GIB, 0, on, &e) == DSV3_OK);
    for (int i = 0; i < nw; i++) CHECK(on[i] == (ws[i]->role != DSV3_ROLE_EMBED));
    /* no budget given: the heap's (64 GiB less 1 GiB headroom) */
    CHECK(place("auto", 0, 0, on, &e) == DSV3_OK && on_dev(on, DSV3_ROLE_EXPERT, -2) == 600);
    /* nothing fits */
    CHECK(place("auto", 1, 1, on, &e) == DSV3_OK && on_dev(on, -1, -2) == 0);
    CHECK(place("auto", 100, 200, on, &e) == DSV3_OK && on_dev(on, -1, -2) == 0);

    /* exactly the non-expert tiers: no experts */
    CHECK(place("auto", t0 + t1 + t2 + t3, 0, on, &e) == DSV3_OK);
    CHECK(on_dev(on, -1, -2) == t0 + t1 + t2 + t3 && on_dev(on, DSV3_ROLE_EXPERT, -2) == 0);
    /* + layer 1's experts: layer 1 (the lowest index) goes first */
    CHECK(place("auto", t0 + t1 + t2 + t3 + 240, 0, on, &e) == DSV3_OK);
    CHECK(on_dev(on, DSV3_ROLE_EXPERT, 1) == 240 && on_dev(on, DSV3_ROLE_EXPERT, -2) == 240);
    /* 239 left for experts: layer 1 (240) is skipped, layer 2 (120) fits, layer 3 does not */
    CHECK(place("auto", t0 + t1 + t2 + t3 + 239, 0, on, &e) == DSV3_OK);
    CHECK(on_dev(on, DSV3_ROLE_EXPERT, 2) == 120 && on_dev(on, DSV3_ROLE_EXPERT, -2) == 120);
    CHECK(experts_whole(on));
    /* the KV reserve comes off first */
    CHECK(place("auto", t0 + t1 + t2 + t3 + 240 + 1000, 1000, on, &e) == DSV3_OK);
    CHECK(on_dev(on, DSV3_ROLE_EXPERT, -2) == 240);
    /* only the first tier (and the head does not fit before the dense layers) */
    CHECK(place("auto", t0, 0, on, &e) == DSV3_OK);
    CHECK(on_dev(on, -1, -2) == t0 && on_dev(on, DSV3_ROLE_SHARED, -2) == 0);
    CHECK(place("auto", t0 + t1 + t2 + t3 - 1, 0, on, &e) == DSV3_OK);
    CHECK(on_dev(on, DSV3_ROLE_HEAD, -2) == 0 && on_dev(on, DSV3_ROLE_DENSE, -2) == t2);
    /* a tier that does not fit whole is filled weight by weight in layer
     * order: shared experts of layers 1 and 2 (50 + 50) but not 3 */
    CHECK(place("auto", t0 + 100, 0, on, &e) == DSV3_OK);
    CHECK(on_dev(on, DSV3_ROLE_SHARED, 1) == 50 && on_dev(on, DSV3_ROLE_SHARED, 2) == 50 &&
          on_dev(on, DSV3_ROLE_SHARED, 3) == 0);
    /* experts are never split, whatever the budget */
    for (uint64_t b = 1; b < 2200; b += 7) {
        CHECK(place("auto", b, 0, on, &e) == DSV3_OK);
        CHECK(experts_whole(on) && on_dev(on, -1, -2) <= b && on_dev(on, DSV3_ROLE_EMBED, -2) == 0);
    }
}

/* ---- the loaders' tags ------------------------------------------------- */

static int n_checked;

static void expect(const dsv3_weight *w, int role, int layer, const char *what, int il) {
    if (!w->data) return; /* not in this model's layout */
    n_checked++;
    if (w->role != role || w->layer != layer) {
        fprintf(stderr, "layer %d %s: role %d layer %d, expected role %d layer %d\n", il, what, w->role, w->layer,
                role, layer);
        fails++;
    }
}

static void expect_ffn(const ffn_weights *f, int role, int il, const char *what) {
    expect(&f->gate, role, il, what, il);
    expect(&f->up, role, il, what, il);
    expect(&f->down, role, il, what, il);
}

static void test_tags(const char *path) {
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "scalar";
    mp.n_threads = 1;
    dsv3_model *m = NULL;
    char err[512];
    if (dsv3_model_load(path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        fails++;
        return;
    }
    const dsv3_config *c = &m->cfg;
    n_checked = 0;
    /* a head tied to the table: the table is tagged as the head */
    int tied = m->lm_head.data == m->embed.data;
    expect(&m->embed, tied ? DSV3_ROLE_HEAD : DSV3_ROLE_EMBED, -1, "embed", -1);
    expect(&m->out_norm, DSV3_ROLE_NORM, -1, "out_norm", -1);
    expect(&m->lm_head, DSV3_ROLE_HEAD, -1, "lm_head", -1);
    for (int il = 0; il < c->n_layers + c->n_mtp_layers; il++) {
        const layer_weights *L = &m->layers[il];
        const dsv3_weight *norms[] = {&L->attn_norm, &L->ffn_norm, &L->q_a_norm, &L->kv_a_norm};
        const dsv3_weight *attn[] = {&L->q_a, &L->q_b, &L->q, &L->kv_a, &L->kv_b, &L->k_b, &L->v_b, &L->o};
        for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) expect(norms[i], DSV3_ROLE_NORM, il, "norm", il);
        for (size_t i = 0; i < sizeof attn / sizeof attn[0]; i++) expect(attn[i], DSV3_ROLE_ATTN, il, "attention", il);
        if (!L->is_moe) {
            expect_ffn(&L->dense, DSV3_ROLE_DENSE, il, "dense");
        } else {
            expect(&L->router, DSV3_ROLE_ROUTER, il, "router", il);
            if (L->router_bias.type == DSV3_W_F32) expect(&L->router_bias, DSV3_ROLE_NORM, il, "router bias", il);
            for (int x = 0; x < c->n_routed_experts; x++) expect_ffn(&L->experts[x], DSV3_ROLE_EXPERT, il, "expert");
            if (L->has_shared) expect_ffn(&L->shared, DSV3_ROLE_SHARED, il, "shared");
        }
        if (il < c->n_layers) continue;
        expect(&L->enorm, DSV3_ROLE_NORM, il, "enorm", il);
        expect(&L->hnorm, DSV3_ROLE_NORM, il, "hnorm", il);
        expect(&L->head_norm, DSV3_ROLE_NORM, il, "head_norm", il);
        expect(&L->eh_proj, DSV3_ROLE_DENSE, il, "eh_proj", il);
        /* the MTP head/embedding: its own (layer il) or a copy of the main one's */
        if (L->head.data == m->lm_head.data) expect(&L->head, m->lm_head.role, -1, "mtp head (shared)", il);
        else expect(&L->head, DSV3_ROLE_HEAD, il, "mtp head", il);
        if (L->embed.data == m->embed.data) expect(&L->embed, m->embed.role, -1, "mtp embed (shared)", il);
        else expect(&L->embed, DSV3_ROLE_EMBED, il, "mtp embed", il);
    }
    printf("%s: %d weights tagged as expected\n", path, n_checked);
    CHECK(n_checked > 10);
    dsv3_model_free(m);
}

int main(int argc, char **argv) {
    test_basics();
    test_fixed();
    test_auto();
    for (int i = 1; i < argc; i++) test_tags(argv[i]);
    if (fails) {
        fprintf(stderr, "%d check(s) failed\n", fails);
        return 1;
    }
    printf("vk_place: all checks passed\n");
    return 0;
}
