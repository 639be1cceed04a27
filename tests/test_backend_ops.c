/* test_backend_ops.c -- every compiled-in, available backend against the
 * scalar reference, op by op, on random inputs (ggml's test-backend-ops
 * idea). For each backend other than scalar:
 *
 *   matmul   every stored type (F32, F16, BF16, FP8 with partial edge
 *            blocks and a block width that is not a multiple of 8, every
 *            ggml block type as random valid blocks: random bytes with the
 *            f16 scale fields overwritten by +-2^U(-10,-3)), rows 1/7/33/100,
 *            columns several block multiples (plain types also 203, 1027),
 *            n = 1, 3, 17, 64 tokens. Error per output, relative to
 *            S = sum_c |w_rc x_c| (float64, from the exact dequantized
 *            weights):  f32-activation paths 1e-5 S;  block types through
 *            ops->matmul 5e-3 S (a backend may round activations to 8 bits,
 *            as ggml's vec_dot does). The avx2 backend's f32-activation path
 *            for block types (avx2_matmul_act) is held to 1e-5 S as well.
 *   rmsnorm  (F32/BF16/F16 gains, odd dims, strided, in place) 1e-5 relative;
 *   rope     2e-6 absolute on values of a few units;
 *   swiglu   1e-6 relative (the backend's exp vs expf), also in place;
 *   add      exact;  embed  exact values, every type;
 *   mla_attention  both weight forms, 7 types, against a float64 reference
 *            of the absorbed form (exact dequantized weights; scores,
 *            softmax, output in double), 1.5e-4 of max|out| for every f32
 *            path, the scalar backend included (it reaches 9.3e-5: the
 *            sharp softmax of these random scores amplifies f32 rounding;
 *            see MLA_TOL64);
 *   kv cache  (every backend, scalar included) store_kv gives the bytes of
 *            dsv3_quantize_row; mla_attention over an F16/Q8_0 latent cache
 *            gives the bits of the same backend over an f32 cache holding
 *            the dequantized rows (1 and 3 threads);
 *   moe_experts    f32 paths 1e-5 of max|out|; block types 5e-2 of max|out|
 *            (two 8-bit-activation matmuls in series; random signs make
 *            |out| small next to the sum of |terms|). A device backend's
 *            one-token case again with the picks in its memory only (V4
 *            dev_ids, as after the route op): the bits of host picks.
 *   route    expert selection (V4) against lib/route.c's route_token, for
 *            every backend, scalar included: DeepSeek-V3 rules (sigmoid,
 *            bias, 8 groups top 4, E 64 and 256), Kimi-K2's (E 384, no
 *            groups), V2-Lite's (softmax, greedy, E 64) and V2's (softmax,
 *            group-limited), k 6/8, several n, random logits and exact
 *            ties (scores and bias from small sets of values that every
 *            exp gives exactly: the lower id wins).
 *            Ids equal; weights the host's bits on the CPU backends, within
 *            1e-6 relative on a device (its exp against expf); a batch
 *            gives every token the bits it gets alone.
 *   rank_i8  (V5, every backend, scalar included) the row lib/mtp_draft.c's
 *            reference loop picks, for widths below, at and past the
 *            vector steps, negative scales and exact ties (equal rows: the
 *            first wins);
 *   threads  1 thread and 3 threads give the same bits (memcmp), every op
 *            (a device backend: a second run on the same instance).
 *   batch    a matmul of n tokens gives the bits of n matmuls of one token,
 *            and moe_experts of n tokens the bits of each token alone (every
 *            backend but neon).
 *
 * Device backends (ops->load_done set: vulkan) keep weights and activations
 * in their own memory. The test meets every backend as lib/ does: each
 * weight goes through upload_weight (+ load_done), every activation, cache
 * and scratch buffer comes from alloc + from_host, results come back with
 * to_host, and ops->status is checked after every op (for the CPU backends
 * these calls are plain memory, so their bits are those of host pointers).
 * The vulkan backend keeps activations f32 for every weight type, so it is
 * held to the f32-activation bounds everywhere: matmul 1e-5 S for every
 * type, mla_attention MLA_TOL64 for every form, moe_experts 1e-5 of
 * max|out| for every type. Shapes are fewer and smaller there (lavapipe,
 * the CI's device, runs shaders on the CPU). It also runs in hybrid
 * placement ("experts-on-cpu"): routed experts stay on the host (w->device
 * NULL) and moe_experts gives the bits of the CPU backend it delegates to.
 *
 * Prints the largest error seen per type and op.
 * Usage: test_backend_ops            every available backend whose memory
 *                                    is the host's, against scalar
 *        test_backend_ops NAME...    only these (a device backend must be
 *                                    named: test_backend_ops vulkan); exit
 *                                    77 (skipped) when one is not compiled
 *                                    in or cannot run here, with the reason
 *                                    (a failure when the environment's
 *                                    DSV3_REQUIRE_BACKEND names it) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "backend.h"
#include "config.h"
#include "dsv3.h"
#include "mtp_draft.h"
#include "quants/quants.h"
#include "route.h"
#include "wtype.h"
#ifdef DSV3_TEST_AVX2
#include "avx2/avx2.h"
#endif

static int g_pass, g_fail;

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (cond) g_pass++;                                 \
        else {                                              \
            g_fail++;                                       \
            if (g_fail <= 50) {                             \
                printf("FAIL %s:%d: ", __FILE__, __LINE__); \
                printf(__VA_ARGS__);                        \
                printf("\n");                               \
            }                                               \
        }                                                   \
    } while (0)

/* ---- random numbers ------------------------------------------------------ */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void) {
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float unif(float lo, float hi) { return lo + (hi - lo) * (float)(rnd32() >> 8) * (1.0f / 16777216.0f); }
static void fill(float *p, size_t n, float lo, float hi) { for (size_t i = 0; i < n; i++) p[i] = unif(lo, hi); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "FATAL: out of memory\n"); exit(2); }
    return p;
}

/* ---- backends ------------------------------------------------------------ */

/* Which of a weight's per-backend views an instance uses. */
enum { SLOT_REF, SLOT_B1, SLOT_B3, SLOT_HYBRID, SLOT_CPU, N_SLOTS };

typedef struct inst {
    const dsv3_backend_ops *ops;
    dsv3_backend *be;
    int threads;
    int slot;    /* SLOT_*                                                  */
    int f32_act; /* keeps activations f32 for every weight type (vulkan)    */
} inst;

/* A backend with its own memory places weights in load_done (V3). */
static int is_device(const dsv3_backend_ops *ops) { return ops->version >= DSV3_BACKEND_V3 && ops->load_done; }

static inst open_inst_repack(const dsv3_backend_ops *ops, int threads, int slot, const char *placement, int repack) {
    dsv3_backend_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = threads;
    p.placement = placement;
    p.repack = repack;
    dsv3_err e = {0, ""};
    inst in = {ops, NULL, threads, slot, is_device(ops)};
    if (ops->init(&p, &in.be, &e) != 0) { fprintf(stderr, "FATAL: init %s: %s\n", ops->name, e.msg); exit(2); }
    return in;
}

static inst open_inst(const dsv3_backend_ops *ops, int threads, int slot, const char *placement) {
    return open_inst_repack(ops, threads, slot, placement, 0);
}

/* ---- the backend's memory: every buffer an op sees comes from alloc ------ */

/* A zeroed buffer of the backend's, holding `host` when given. */
static void *dbuf(inst *in, const void *host, size_t bytes) {
    void *d = in->ops->alloc(in->be, bytes);
    if (!d) { fprintf(stderr, "FATAL: %s: alloc of %zu bytes failed\n", in->ops->name, bytes); exit(2); }
    if (host && bytes) in->ops->from_host(in->be, d, host, bytes);
    return d;
}

static void dback(inst *in, void *host, const void *d, size_t bytes) {
    if (bytes) in->ops->to_host(in->be, host, d, bytes);
}

static void dfree(inst *in, void *d) { in->ops->release(in->be, d); }

/* Ops return void; a device backend keeps the first failure for status(). */
static void op_done(inst *in, const char *op) {
    if (in->ops->version < DSV3_BACKEND_V3 || !in->ops->status) return;
    dsv3_err e = {0, ""};
    int rc = in->ops->status(in->be, &e);
    CHECK(rc == DSV3_OK, "%s %s: status %d: %s", in->ops->name, op, rc, e.msg);
}

/* ---- weights ------------------------------------------------------------- */

typedef struct tweight {
    dsv3_weight w;             /* the host view: the reference's values     */
    uint8_t *data;
    float *scale;
    dsv3_weight view[N_SLOTS]; /* as given to each instance (device copies)  */
    int given[N_SLOTS];
} tweight;

/* Give a weight struct (a copy the caller keeps at a fixed address) to the
 * backend as the loaders do: upload_weight, then load_done places it. */
static void give_weight(inst *in, dsv3_weight *w) {
    dsv3_err e = {0, ""};
    int rc = in->ops->upload_weight(in->be, w, &e);
    if (rc == DSV3_OK && is_device(in->ops)) rc = in->ops->load_done(in->be, &e);
    if (rc != DSV3_OK) {
        fprintf(stderr, "FATAL: %s: upload of a %s [%lld x %lld] weight: %s\n", in->ops->name, dsv3_wtype_name(w->type),
                (long long)w->rows, (long long)w->cols, e.msg);
        exit(2);
    }
}

/* The weight as instance `in` sees it (given to it on first use). */
static const dsv3_weight *wv(inst *in, tweight *tw) {
    if (!tw->given[in->slot]) {
        tw->view[in->slot] = tw->w;
        give_weight(in, &tw->view[in->slot]);
        tw->given[in->slot] = 1;
    }
    return &tw->view[in->slot];
}

/* Byte offsets of a block type's f16 scale fields (-1 ends the list). */
static const int *f16_fields(int type) {
    static const int d0[] = {0, -1}, dm0[] = {0, 2, -1}, q2k[] = {80, 82, -1}, q3k[] = {108, -1}, q6k[] = {208, -1},
                     none[] = {-1};
    switch (type) {
    case DSV3_W_Q4_1: case DSV3_W_Q5_1: case DSV3_W_Q4_K: case DSV3_W_Q5_K: return dm0;
    case DSV3_W_Q2_K: return q2k;
    case DSV3_W_Q3_K: return q3k;
    case DSV3_W_Q6_K: return q6k;
    case DSV3_W_IQ1_M: return none; /* spread over the scale words, below */
    default: return d0;
    }
}

static uint16_t small_f16(void) {
    float v = ldexpf(1.0f, -10) * powf(2.0f, unif(0.0f, 7.0f)) * (rnd32() & 1 ? -1.0f : 1.0f);
    uint16_t h;
    dsv3_quantize_row(DSV3_W_F16, &v, &h, 1);
    return h;
}

static int is_block(int t) { return t >= DSV3_W_Q8_0 && t < DSV3_W_COUNT; }

static tweight make_weight(int type, int64_t rows, int64_t cols, int block_r, int block_c) {
    tweight tw;
    memset(&tw, 0, sizeof tw);
    const size_t rb = dsv3_wtype_row_bytes(type, cols);
    tw.data = xmalloc(rb * (size_t)rows + 64);
    tw.w.type = type;
    tw.w.rows = rows;
    tw.w.cols = cols;
    tw.w.data = tw.data;
    tw.w.row_stride = rb;
    float *tmp = xmalloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = tw.data + (size_t)r * rb;
        switch (type) {
        case DSV3_W_F32: case DSV3_W_F16: case DSV3_W_BF16:
            fill(tmp, (size_t)cols, -1.0f, 1.0f);
            dsv3_quantize_row(type, tmp, row, cols);
            break;
        case DSV3_W_F8_E4M3:
            for (int64_t c = 0; c < cols; c++) {
                uint8_t b = (uint8_t)rnd32();
                if ((b & 0x7F) == 0x7F) b ^= 1; /* no NaN */
                row[c] = b;
            }
            break;
        default: {
            const size_t bb = dsv3_wtype_block_bytes(type);
            for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rnd32();
            for (size_t b = 0; b < rb / bb; b++) {
                uint8_t *blk = row + b * bb;
                for (const int *f = f16_fields(type); *f >= 0; f++) {
                    uint16_t h = small_f16();
                    blk[*f] = (uint8_t)h;
                    blk[*f + 1] = (uint8_t)(h >> 8);
                }
                if (type == DSV3_W_IQ1_M) {
                    uint16_t h = small_f16();
                    for (int k = 0; k < 4; k++) blk[48 + 2 * k + 1] = (uint8_t)((blk[48 + 2 * k + 1] & 0x0F) | (((h >> (4 * k)) & 0xF) << 4));
                }
            }
        }
        }
    }
    free(tmp);
    if (type == DSV3_W_F8_E4M3) {
        tw.w.block_r = block_r;
        tw.w.block_c = block_c;
        tw.w.scale_cols = (cols + block_c - 1) / block_c;
        const int64_t srows = (rows + block_r - 1) / block_r;
        tw.scale = xmalloc(sizeof(float) * (size_t)(srows * tw.w.scale_cols));
        for (int64_t i = 0; i < srows * tw.w.scale_cols; i++) tw.scale[i] = ldexpf(unif(0.5f, 1.0f), (int)(rnd32() % 9) - 6);
        tw.w.scale = tw.scale;
    }
    return tw;
}

static void free_weight(tweight *tw) { free(tw->data); free(tw->scale); }

/* Exact weight values of row r (float64 reference side). */
static void row_values(const dsv3_weight *w, int64_t r, float *dst) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
    if (w->type == DSV3_W_F8_E4M3) {
        for (int64_t c = 0; c < w->cols; c++)
            dst[c] = dsv3_fp8e4m3_to_f32(row[c]) * w->scale[(r / w->block_r) * w->scale_cols + c / w->block_c];
        return;
    }
    dsv3_dequantize_row(w->type, row, dst, w->cols);
}

/* ---- ops through the backend's memory --------------------------------- */
/* Each wrapper copies the host inputs into buffers from alloc, runs the op
 * and reads the outputs back; an output buffer starts as the host array (so
 * what an op must leave alone, a stride's gap, is compared too), and an
 * output that aliases an input (in place) shares its buffer. */

static void op_matmul(inst *in, const dsv3_weight *w, const float *x, float *y, int n) {
    const size_t xb = sizeof(float) * (size_t)n * (size_t)w->cols, yb = sizeof(float) * (size_t)n * (size_t)w->rows;
    void *dx = dbuf(in, x, xb), *dy = dbuf(in, NULL, yb);
    in->ops->matmul(in->be, w, dx, dy, n);
    dback(in, y, dy, yb);
    dfree(in, dx); dfree(in, dy);
    op_done(in, "matmul");
}

static void op_rmsnorm(inst *in, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n, int dim,
                       float eps) {
    const size_t xb = sizeof(float) * (size_t)n * (size_t)ldx, yb = sizeof(float) * (size_t)n * (size_t)ldy;
    void *dx = dbuf(in, x, xb), *dy = y == x ? dx : dbuf(in, y, yb);
    in->ops->rmsnorm(in->be, dx, ldx, g, dy, ldy, n, dim, eps);
    dback(in, y, dy, yb);
    if (dy != dx) dfree(in, dy);
    dfree(in, dx);
    op_done(in, "rmsnorm");
}

static void op_rope(inst *in, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
                    const float *cos_t, const float *sin_t) {
    const size_t xb = sizeof(float) * (size_t)n * (size_t)ld;
    void *dx = dbuf(in, x, xb);
    in->ops->rope(in->be, dx, n, ld, n_heads, head_stride, offset, dr, cos_t, sin_t); /* cos/sin: host */
    dback(in, x, dx, xb);
    dfree(in, dx);
    op_done(in, "rope");
}

static void op_swiglu(inst *in, const float *g, const float *u, float *out, size_t count) {
    const size_t b = sizeof(float) * count;
    void *dg = dbuf(in, g, b), *du = dbuf(in, u, b), *dout = out == g ? dg : dbuf(in, out, b);
    in->ops->swiglu(in->be, dg, du, dout, count);
    dback(in, out, dout, b);
    if (dout != dg) dfree(in, dout);
    dfree(in, dg); dfree(in, du);
    op_done(in, "swiglu");
}

static void op_add(inst *in, float *y, const float *x, size_t count) {
    const size_t b = sizeof(float) * count;
    void *dy = dbuf(in, y, b), *dx = dbuf(in, x, b);
    in->ops->add(in->be, dy, dx, count);
    dback(in, y, dy, b);
    dfree(in, dy); dfree(in, dx);
    op_done(in, "add");
}

static void op_embed(inst *in, const dsv3_weight *table, const int32_t *ids, int n, float *y) {
    const size_t yb = sizeof(float) * (size_t)n * (size_t)table->cols;
    void *dy = dbuf(in, NULL, yb);
    in->ops->embed(in->be, table, ids, n, dy); /* ids: host */
    dback(in, y, dy, yb);
    dfree(in, dy);
    op_done(in, "embed");
}

static void op_store_kv(inst *in, int kv_type, const float *x, int ldx, void *dst, size_t row_bytes, int n, int kvl) {
    const size_t xb = sizeof(float) * ((size_t)(n - 1) * (size_t)ldx + (size_t)kvl), db = row_bytes * (size_t)n;
    void *dx = dbuf(in, x, xb), *dd = dbuf(in, dst, db);
    in->ops->store_kv(in->be, kv_type, dx, ldx, dd, row_bytes, n, kvl);
    dback(in, dst, dd, db);
    dfree(in, dx); dfree(in, dd);
    op_done(in, "store_kv");
}

/* a's weights must be in's views; its arrays are host arrays. */
static void op_mla(inst *in, const dsv3_mla_args *a) {
    const int n_ctx = a->pos0 + a->n_tok;
    const size_t qb = sizeof(float) * (size_t)a->n_tok * (size_t)a->n_heads * (size_t)(a->dn + a->dr);
    const size_t kb = a->kv_type == DSV3_W_F32 ? sizeof(float) * (size_t)n_ctx * (size_t)a->kvl
                                               : a->kv_row_bytes * (size_t)n_ctx;
    const size_t pb = sizeof(float) * (size_t)n_ctx * (size_t)a->dr;
    const size_t ob = sizeof(float) * (size_t)a->n_tok * (size_t)a->n_heads * (size_t)a->dv;
    const size_t sb = sizeof(float) * (size_t)in->threads * dsv3_mla_scratch_floats(n_ctx, a->kvl);
    dsv3_mla_args d = *a;
    d.q = dbuf(in, a->q, qb);
    d.kv = dbuf(in, a->kv, kb);
    d.pe = dbuf(in, a->pe, pb);
    d.out = dbuf(in, NULL, ob);
    d.scratch = dbuf(in, NULL, sb);
    in->ops->mla_attention(in->be, &d);
    dback(in, a->out, d.out, ob);
    dfree(in, (void *)(uintptr_t)d.q); dfree(in, (void *)(uintptr_t)d.kv); dfree(in, (void *)(uintptr_t)d.pe);
    dfree(in, d.out); dfree(in, d.scratch);
    op_done(in, "mla_attention");
}

/* A CPU backend computes each token of a batch as it computes that token
 * alone at its position (a batched verify step then gives plain decoding's
 * bits): 1 when every row of batch_out equals a one-token call's, exactly. */
static int mla_rows_as_single(inst *in, const dsv3_mla_args *a, const float *batch_out) {
    const size_t qrow = (size_t)a->n_heads * (size_t)(a->dn + a->dr), orow = (size_t)a->n_heads * (size_t)a->dv;
    float *one = xmalloc(sizeof(float) * orow);
    int same = 1;
    for (int t = 0; t < a->n_tok; t++) {
        dsv3_mla_args d = *a;
        d.n_tok = 1;
        d.pos0 = a->pos0 + t;
        d.q = a->q + (size_t)t * qrow;
        d.out = one;
        op_mla(in, &d);
        same &= !memcmp(one, batch_out + (size_t)t * orow, sizeof(float) * orow);
    }
    free(one);
    return same;
}

/* a's expert views must be in's; ids and weights stay host arrays. */
static void op_moe(inst *in, const dsv3_moe_args *a) {
    const size_t xb = sizeof(float) * (size_t)a->n_tok * (size_t)a->hidden;
    const size_t sb = sizeof(float) * dsv3_moe_scratch_floats(a->n_tok > a->k ? a->n_tok : a->k, a->hidden, a->inter);
    dsv3_moe_args d = *a;
    d.x = dbuf(in, a->x, xb);
    d.out = dbuf(in, NULL, xb);
    d.scratch = dbuf(in, NULL, sb);
    in->ops->moe_experts(in->be, &d);
    dback(in, a->out, d.out, xb);
    dfree(in, (void *)(uintptr_t)d.x); dfree(in, d.out); dfree(in, d.scratch);
    op_done(in, "moe_experts");
}

/* The same with the picks in the backend's memory only (V4: dev_ids and
 * dev_weights, host ids NULL), as lib/ passes them to a backend whose
 * moe_prepare says it needs no host picks; returns that answer (1: the
 * backend wants host picks, nothing was run). */
static int op_moe_dev(inst *in, const dsv3_moe_args *a) {
    const size_t xb = sizeof(float) * (size_t)a->n_tok * (size_t)a->hidden, nk = (size_t)a->n_tok * (size_t)a->k;
    const size_t sb = sizeof(float) * dsv3_moe_scratch_floats(a->n_tok > a->k ? a->n_tok : a->k, a->hidden, a->inter);
    dsv3_moe_args d = *a;
    d.x = dbuf(in, a->x, xb);
    d.out = dbuf(in, NULL, xb);
    d.scratch = dbuf(in, NULL, sb);
    d.dev_ids = dbuf(in, a->ids, sizeof(int32_t) * nk);
    d.dev_weights = dbuf(in, a->weights, sizeof(float) * nk);
    const int host = in->ops->moe_prepare(in->be, &d);
    if (!host) {
        d.ids = NULL;
        d.weights = NULL;
        in->ops->moe_experts(in->be, &d);
        dback(in, a->out, d.out, xb);
    }
    dfree(in, (void *)(uintptr_t)d.x); dfree(in, d.out); dfree(in, d.scratch);
    dfree(in, (void *)(uintptr_t)d.dev_ids); dfree(in, (void *)(uintptr_t)d.dev_weights);
    op_done(in, "moe_experts (device picks)");
    return host;
}

/* ---- error bookkeeping ------------------------------------------------- */

static double worst_mm[DSV3_W_COUNT][2]; /* [type][0: ops->matmul, 1: f32 path] */

/* ---- matmul -------------------------------------------------------------- */

static int uses_q8(int type) { return is_block(type); } /* what ops->matmul may do */

static void test_matmul_case(inst *ref, inst *b1, inst *b3, int type, int64_t rows, int64_t cols, int n, int block_r,
                             int block_c) {
    tweight tw = make_weight(type, rows, cols, block_r, block_c);
    const dsv3_weight *w = &tw.w;
    float *x = xmalloc(sizeof(float) * (size_t)(n * cols));
    fill(x, (size_t)(n * cols), -1.0f, 1.0f);
    float *ys = xmalloc(sizeof(float) * (size_t)(n * rows)), *y1 = xmalloc(sizeof(float) * (size_t)(n * rows)),
          *y3 = xmalloc(sizeof(float) * (size_t)(n * rows));
    double *sabs = xmalloc(sizeof(double) * (size_t)(n * rows));
    float *wr = xmalloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        row_values(w, r, wr);
        for (int t = 0; t < n; t++) {
            double s = 0;
            for (int64_t c = 0; c < cols; c++) s += fabs((double)wr[c] * x[t * cols + c]);
            sabs[t * rows + r] = s;
        }
    }
    op_matmul(ref, wv(ref, &tw), x, ys, n);
    const char *name = b1->ops->name;
    for (int pass = 0; pass < 2; pass++) {
        double tol = pass == 0 && uses_q8(type) && !b1->f32_act ? 5e-3 : 1e-5;
        if (pass == 0) {
            op_matmul(b1, wv(b1, &tw), x, y1, n);
            /* a device backend's "3 threads" is a rerun: at 17 tokens only */
            if (b3->be != b1->be || n == 17) op_matmul(b3, wv(b3, &tw), x, y3, n);
            else memcpy(y3, y1, sizeof(float) * (size_t)(n * rows));
        } else {
#ifdef DSV3_TEST_AVX2
            if ((strcmp(name, "avx2") && strcmp(name, "avx512")) || !is_block(type)) break;
            avx2_matmul_act(b1->be, w, x, y1, n, AVX2_ACT_F32);
            avx2_matmul_act(b3->be, w, x, y3, n, AVX2_ACT_F32);
#else
            break;
#endif
        }
        double worst = 0;
        for (int64_t i = 0; i < n * rows; i++) {
            double e = fabs((double)y1[i] - ys[i]) / (sabs[i] > 0 ? sabs[i] : 1e-30);
            if (!(e <= worst)) worst = e;
        }
        if (worst > worst_mm[type][pass]) worst_mm[type][pass] = worst;
        CHECK(worst <= tol, "%s matmul %s%s rows %lld cols %lld n %d: error %.3g S > %.3g S", name, dsv3_wtype_name(type),
              pass ? " (f32 path)" : "", (long long)rows, (long long)cols, n, worst, tol);
        CHECK(!memcmp(y1, y3, sizeof(float) * (size_t)(n * rows)), "%s matmul %s%s rows %lld cols %lld n %d: 3 threads differ from 1",
              name, dsv3_wtype_name(type), pass ? " (f32 path)" : "", (long long)rows, (long long)cols, n);
    }
    /* batch == token by token */
    if (n > 1 && rows == 33 && strcmp(name, "neon") && (!b1->f32_act || n <= 17)) {
        op_matmul(b1, wv(b1, &tw), x, y1, n);
        int same = 1;
        for (int t = 0; t < n; t++) {
            op_matmul(b1, wv(b1, &tw), x + t * cols, y3, 1);
            same &= !memcmp(y3, y1 + t * rows, sizeof(float) * (size_t)rows);
        }
        CHECK(same, "%s matmul %s cols %lld: %d tokens at once differ from one at a time", name, dsv3_wtype_name(type),
              (long long)cols, n);
    }
    free(x); free(ys); free(y1); free(y3); free(sabs); free(wr);
    free_weight(&tw);
}

static void test_matmul(inst *ref, inst *b1, inst *b3) {
    static const int64_t rows_list[] = {1, 7, 33, 100};
    /* 5: avx2's chunked decode path; DSV3_MAX_UBATCH: a full micro-batch
     * (the stack buffers a backend sizes by it), once per type */
    static const int n_list[] = {1, 3, 5, 17, 64, DSV3_MAX_UBATCH};
    /* A device backend (lavapipe in CI: a CPU running the shaders) gets the
     * same kinds of shapes, fewer and smaller: rows 1/7/33, the shorter
     * column counts, 64 tokens once per type. */
    const int dev = b1->f32_act, n_rows = dev ? 3 : 4;
    for (int type = 0; type < DSV3_W_COUNT; type++) {
        const int bs = dsv3_wtype_block(type);
        int64_t cols_list[4];
        int nc = 0;
        if (bs == 1 && dev) { cols_list[0] = 203; cols_list[1] = 8; cols_list[2] = 256; nc = 3; }
        else if (bs == 1) { cols_list[0] = 203; cols_list[1] = 1027; cols_list[2] = 256; cols_list[3] = 8; nc = 4; }
        else if (bs == 32) { cols_list[0] = 32; cols_list[1] = 96; cols_list[2] = 288; nc = dev ? 2 : 3; }
        else { cols_list[0] = 256; cols_list[1] = 512; cols_list[2] = 1280; nc = dev ? 2 : 3; }
        const double t0 = now_s();
        for (int ir = 0; ir < n_rows; ir++)
            for (int ic = 0; ic < nc; ic++)
                for (int in = 0; in < 6; in++) {
                    if (dev && (n_list[in] == 5 || (n_list[in] == 64 && (ir != 1 || ic != 0)))) continue;
                    if (in == 5 && (dev || ir != 1 || ic != 0)) continue;
                    /* FP8: the real 128x128 blocks (partial at the edges), and a
                     * block width that is not a multiple of 8 */
                    const int br = type == DSV3_W_F8_E4M3 && (ic & 1) ? 5 : 128;
                    const int bc = type == DSV3_W_F8_E4M3 && (ic & 1) ? 20 : 128;
                    test_matmul_case(ref, b1, b3, type, rows_list[ir], cols_list[ic], n_list[in], br, bc);
                }
        if (b1->f32_act) printf("    matmul %s: %.1f s\n", dsv3_wtype_name(type), now_s() - t0); /* a slow device */
    }
    printf("  matmul: max |error| / sum|w*x| per type (ops->matmul, and the avx2 f32-activation path)\n");
    for (int type = 0; type < DSV3_W_COUNT; type++) {
        printf("    %-9s %.2e", dsv3_wtype_name(type), worst_mm[type][0]);
        if (worst_mm[type][1] > 0) printf("   f32 path %.2e", worst_mm[type][1]);
        printf("\n");
    }
}

/* ---- rmsnorm, rope, swiglu, add, embed ------------------------------------ */

static double rel_err(const float *a, const float *b, size_t n, double floor) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + floor);
        if (!(e <= m)) m = e;
    }
    return m;
}

static void test_elementwise(inst *ref, inst *b1, inst *b3) {
    const char *name = b1->ops->name;
    double w_norm = 0, w_rope = 0, w_swiglu = 0;
    /* rmsnorm: gains F32/BF16/F16, odd dims, strided rows, in place */
    static const int dims[] = {1, 7, 203, 1027, 4096};
    static const int gtypes[] = {DSV3_W_F32, DSV3_W_BF16, DSV3_W_F16};
    for (int id = 0; id < 5; id++)
        for (int ig = 0; ig < 3; ig++)
            for (int n = 1; n <= 3; n += 2) {
                const int dim = dims[id], ldx = dim + 5, ldy = dim + 3;
                tweight g = make_weight(gtypes[ig], 1, dim, 1, 1);
                float *x = xmalloc(sizeof(float) * (size_t)(n * ldx)), *ys = xmalloc(sizeof(float) * (size_t)(n * ldy));
                float *y1 = xmalloc(sizeof(float) * (size_t)(n * ldy)), *y3 = xmalloc(sizeof(float) * (size_t)(n * ldy));
                fill(x, (size_t)(n * ldx), -2.0f, 2.0f);
                memset(ys, 0, sizeof(float) * (size_t)(n * ldy));
                memset(y1, 0, sizeof(float) * (size_t)(n * ldy));
                memset(y3, 0, sizeof(float) * (size_t)(n * ldy));
                op_rmsnorm(ref, x, ldx, wv(ref, &g), ys, ldy, n, dim, 1e-6f);
                op_rmsnorm(b1, x, ldx, wv(b1, &g), y1, ldy, n, dim, 1e-6f);
                op_rmsnorm(b3, x, ldx, wv(b3, &g), y3, ldy, n, dim, 1e-6f);
                double e = rel_err(y1, ys, (size_t)(n * ldy), 1e-6);
                if (e > w_norm) w_norm = e;
                CHECK(e <= 1e-5, "%s rmsnorm dim %d gain %s: rel error %.3g > 1e-5", name, dim, dsv3_wtype_name(gtypes[ig]), e);
                CHECK(!memcmp(y1, y3, sizeof(float) * (size_t)(n * ldy)), "%s rmsnorm: threads differ", name);
                /* in place, rows of dim (ld = dim) */
                float *xi = xmalloc(sizeof(float) * (size_t)(n * dim));
                for (int t = 0; t < n; t++) memcpy(xi + t * dim, x + t * ldx, sizeof(float) * (size_t)dim);
                op_rmsnorm(b1, xi, dim, wv(b1, &g), xi, dim, n, dim, 1e-6f);
                int same = 1;
                for (int t = 0; t < n; t++) same &= !memcmp(xi + t * dim, y1 + t * ldy, sizeof(float) * (size_t)dim);
                CHECK(same, "%s rmsnorm dim %d: in place differs", name, dim);
                free(xi); free(x); free(ys); free(y1); free(y3);
                free_weight(&g);
            }
    /* rope */
    static const int drs[] = {2, 6, 64, 18};
    for (int id = 0; id < 4; id++)
        for (int nh = 1; nh <= 3; nh += 2)
            for (int n = 1; n <= 5; n += 4) {
                const int dr = drs[id], half = dr / 2, hs = dr + 11, off = 7, ld = nh * hs + 3;
                float *cs = xmalloc(sizeof(float) * (size_t)(n * half)), *sn = xmalloc(sizeof(float) * (size_t)(n * half));
                for (int i = 0; i < n * half; i++) {
                    float ang = unif(-100.0f, 100.0f), ms = unif(0.8f, 1.3f);
                    cs[i] = cosf(ang) * ms;
                    sn[i] = sinf(ang) * ms;
                }
                float *xs = xmalloc(sizeof(float) * (size_t)(n * ld)), *x1 = xmalloc(sizeof(float) * (size_t)(n * ld)),
                      *x3 = xmalloc(sizeof(float) * (size_t)(n * ld));
                fill(xs, (size_t)(n * ld), -3.0f, 3.0f);
                memcpy(x1, xs, sizeof(float) * (size_t)(n * ld));
                memcpy(x3, xs, sizeof(float) * (size_t)(n * ld));
                op_rope(ref, xs, n, ld, nh, hs, off, dr, cs, sn);
                op_rope(b1, x1, n, ld, nh, hs, off, dr, cs, sn);
                op_rope(b3, x3, n, ld, nh, hs, off, dr, cs, sn);
                double e = 0;
                for (int i = 0; i < n * ld; i++) e = fmax(e, fabs((double)x1[i] - xs[i]));
                if (e > w_rope) w_rope = e;
                CHECK(e <= 2e-6, "%s rope dr %d heads %d: abs error %.3g > 2e-6 (values ~4)", name, dr, nh, e);
                CHECK(!memcmp(x1, x3, sizeof(float) * (size_t)(n * ld)), "%s rope: threads differ", name);
                free(cs); free(sn); free(xs); free(x1); free(x3);
            }
    /* swiglu, add */
    static const size_t counts[] = {1, 7, 8, 1000, 1027};
    for (int ic = 0; ic < 5; ic++) {
        const size_t n = counts[ic];
        float *g = xmalloc(sizeof(float) * n), *u = xmalloc(sizeof(float) * n), *os = xmalloc(sizeof(float) * n),
              *o1 = xmalloc(sizeof(float) * n), *o3 = xmalloc(sizeof(float) * n);
        fill(g, n, -30.0f, 30.0f);
        fill(u, n, -2.0f, 2.0f);
        static const float special[] = {0.0f, -0.0f, 100.0f, -100.0f, 88.0f, -88.0f, -87.5f, 87.5f, 1e-30f, -89.0f, 5e-4f};
        if (n >= 1000)
            for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) g[i * 37] = special[i];
        op_swiglu(ref, g, u, os, n);
        op_swiglu(b1, g, u, o1, n);
        op_swiglu(b3, g, u, o3, n);
        double e = rel_err(o1, os, n, 1e-37);
        if (e > w_swiglu) w_swiglu = e;
        CHECK(e <= 1e-6, "%s swiglu count %zu: rel error %.3g > 1e-6", name, n, e);
        CHECK(!memcmp(o1, o3, sizeof(float) * n), "%s swiglu: threads differ", name);
        /* in place on g, like forward.c */
        memcpy(o3, g, sizeof(float) * n);
        op_swiglu(b1, o3, u, o3, n);
        CHECK(!memcmp(o1, o3, sizeof(float) * n), "%s swiglu: in place differs", name);
        /* add: exact */
        memcpy(os, u, sizeof(float) * n);
        memcpy(o1, u, sizeof(float) * n);
        op_add(ref, os, g, n);
        op_add(b1, o1, g, n);
        CHECK(!memcmp(os, o1, sizeof(float) * n), "%s add count %zu: not exact", name, n);
        free(g); free(u); free(os); free(o1); free(o3);
    }
    /* embed: every type, exact values */
    for (int type = 0; type < DSV3_W_COUNT; type++) {
        const int bs = dsv3_wtype_block(type);
        const int64_t cols = bs == 1 ? 203 : bs == 32 ? 96 : 512, rows = 9;
        tweight tw = make_weight(type, rows, cols, 4, 40);
        int32_t ids[5] = {3, 0, 8, 3, 5};
        float *ys = xmalloc(sizeof(float) * (size_t)(5 * cols)), *y1 = xmalloc(sizeof(float) * (size_t)(5 * cols));
        op_embed(ref, wv(ref, &tw), ids, 5, ys);
        op_embed(b1, wv(b1, &tw), ids, 5, y1);
        int same = 1;
        for (int64_t i = 0; i < 5 * cols; i++) same &= ys[i] == y1[i];
        CHECK(same, "%s embed %s: values differ", name, dsv3_wtype_name(type));
        if (b1->f32_act) {
            /* the table as the loaders tag it (a device backend keeps it on
             * the host and reads a row per token) */
            tweight th = tw;
            memset(th.given, 0, sizeof th.given);
            th.w.role = DSV3_ROLE_EMBED;
            th.w.layer = -1;
            op_embed(b1, wv(b1, &th), ids, 5, y1);
            same = 1;
            for (int64_t i = 0; i < 5 * cols; i++) same &= ys[i] == y1[i];
            CHECK(same, "%s embed %s (embedding role): values differ", name, dsv3_wtype_name(type));
        }
        free(ys); free(y1);
        free_weight(&tw);
    }
    printf("  rmsnorm rel %.2e, rope abs %.2e, swiglu rel %.2e, add exact, embed exact (all types)\n", w_norm, w_rope,
           w_swiglu);
}

/* ---- mla_attention ----------------------------------------------------- */

/* Point a's up-projections at instance in's views of the weights. */
static void mla_weights(inst *in, dsv3_mla_args *a, int split, tweight *wkvb, tweight *wkb, tweight *wvb) {
    a->wkv_b = split ? NULL : wv(in, wkvb);
    a->wk_b = split ? wv(in, wkb) : NULL;
    a->wv_b = split ? wv(in, wvb) : NULL;
}

/* mla_attention's bound against the float64 reference, for every f32 path,
 * the scalar backend included: the random scores of these inputs are large
 * (|q_lat . c| of hundreds to thousands with the block types' wide weight
 * scales), so the softmax is sharp and turns the f32 rounding of a score into
 * output error; the scalar backend's sequential sums reach 9.3e-5 of
 * max|out| (q6_k kv_b, 5 tokens at position 9), a tree-summing backend
 * less. Comparing two f32 backends to each other would add both errors. */
#define MLA_TOL64 1.5e-4

/* Float64 absorbed MLA of a's inputs (host weights, f32 cache), from the
 * exact dequantized weight values: scores, softmax and output in double.
 * The judge of which side of a backend-vs-scalar gap is off: the random
 * scores here make the softmax sharp, which amplifies any f32 rounding. */
static void mla_ref64(const dsv3_mla_args *a, double *out) {
    const int qd = a->dn + a->dr, hd = a->dn + a->dv;
    const int n_ctx = a->pos0 + a->n_tok;
    const dsv3_weight *wk = a->wk_b ? a->wk_b : a->wkv_b, *wvw = a->wk_b ? a->wv_b : a->wkv_b;
    float *row = xmalloc(sizeof(float) * (size_t)(a->kvl > a->dn ? a->kvl : a->dn));
    double *ql = xmalloc(sizeof(double) * (size_t)a->kvl), *ol = xmalloc(sizeof(double) * (size_t)a->kvl);
    double *sc = xmalloc(sizeof(double) * (size_t)n_ctx);
    for (int t = 0; t < a->n_tok; t++)
        for (int h = 0; h < a->n_heads; h++) {
            const float *q = a->q + ((size_t)t * a->n_heads + h) * qd;
            const int n_pos = a->pos0 + t + 1;
            for (int c = 0; c < a->kvl; c++) ql[c] = 0;
            if (a->wk_b) {
                for (int c = 0; c < a->kvl; c++) {
                    row_values(wk, (int64_t)h * a->kvl + c, row);
                    for (int i = 0; i < a->dn; i++) ql[c] += (double)row[i] * q[i];
                }
            } else {
                for (int i = 0; i < a->dn; i++) {
                    row_values(wk, (int64_t)h * hd + i, row);
                    for (int c = 0; c < a->kvl; c++) ql[c] += (double)row[c] * q[i];
                }
            }
            double mx = -INFINITY, sum = 0;
            for (int p = 0; p < n_pos; p++) {
                const float *c = a->kv + (size_t)p * a->kvl, *k = a->pe + (size_t)p * a->dr;
                double s = 0;
                for (int i = 0; i < a->kvl; i++) s += ql[i] * c[i];
                for (int i = 0; i < a->dr; i++) s += (double)q[a->dn + i] * k[i];
                sc[p] = s * a->scale;
                mx = fmax(mx, sc[p]);
            }
            for (int p = 0; p < n_pos; p++) { sc[p] = exp(sc[p] - mx); sum += sc[p]; }
            for (int c = 0; c < a->kvl; c++) ol[c] = 0;
            for (int p = 0; p < n_pos; p++)
                for (int c = 0; c < a->kvl; c++) ol[c] += sc[p] / sum * a->kv[(size_t)p * a->kvl + c];
            for (int j = 0; j < a->dv; j++) {
                row_values(wvw, a->wk_b ? (int64_t)h * a->dv + j : (int64_t)h * hd + a->dn + j, row);
                double o = 0;
                for (int c = 0; c < a->kvl; c++) o += (double)row[c] * ol[c];
                out[((size_t)t * a->n_heads + h) * a->dv + j] = o;
            }
        }
    free(row); free(ql); free(ol); free(sc);
}

static void test_mla(inst *ref, inst *b1, inst *b3) {
    const char *name = b1->ops->name;
    static const int types[] = {DSV3_W_F32, DSV3_W_BF16, DSV3_W_F16, DSV3_W_F8_E4M3, DSV3_W_Q8_0, DSV3_W_Q4_K, DSV3_W_Q6_K};
    double worst = 0, worst_q8 = 0, worst_scalar = 0;
    for (int it = 0; it < 7; it++)
        for (int split = 0; split < 2; split++)
            for (int cfg = 0; cfg < 6; cfg++) {
                const int type = types[it];
                const int q = is_block(type);
                /* block types need block-multiple rows: dn 32 (wk_b), kvl 256 */
                const int nh = 3, dn = q ? 32 : 16, dr = 8, dv = q ? 16 : 24, kvl = q ? 256 : 40;
                /* position 300: a cache longer than the avx2 backend's
                 * chunk of positions (128), three heads: groups of queries
                 * that span heads and see different numbers of positions */
                const int n_tok = cfg & 1 ? 5 : 1, pos0 = cfg >= 4 ? 300 : cfg & 2 ? 9 : 0, n_ctx = pos0 + n_tok;
                const int kt = split && dsv3_wtype_block(type) == 256 ? DSV3_W_Q8_0 : type; /* wk_b: dn columns */
                tweight wkvb = {0}, wkb = {0}, wvb = {0};
                if (split) {
                    wkb = make_weight(kt, (int64_t)nh * kvl, dn, 128, 128);
                    wvb = make_weight(type, (int64_t)nh * dv, kvl, 128, 128);
                } else {
                    wkvb = make_weight(type, (int64_t)nh * (dn + dv), kvl, 128, 128);
                }
                float *qv = xmalloc(sizeof(float) * (size_t)(n_tok * nh * (dn + dr)));
                float *kv = xmalloc(sizeof(float) * (size_t)(n_ctx * kvl)), *pe = xmalloc(sizeof(float) * (size_t)(n_ctx * dr));
                fill(qv, (size_t)(n_tok * nh * (dn + dr)), -1.0f, 1.0f);
                fill(kv, (size_t)(n_ctx * kvl), -1.0f, 1.0f);
                fill(pe, (size_t)(n_ctx * dr), -1.0f, 1.0f);
                const size_t on = (size_t)(n_tok * nh * dv);
                float *os = xmalloc(sizeof(float) * on), *o1 = xmalloc(sizeof(float) * on), *o3 = xmalloc(sizeof(float) * on);
                dsv3_mla_args a = {n_tok, pos0, nh, dn, dr, dv, kvl, qv, kv, pe, NULL, NULL, NULL,
                                   0.3f, os, NULL, DSV3_W_F32, 0};
                mla_weights(ref, &a, split, &wkvb, &wkb, &wvb);
                op_mla(ref, &a);
                a.out = o1;
                mla_weights(b1, &a, split, &wkvb, &wkb, &wvb);
                op_mla(b1, &a);
                a.out = o3;
                mla_weights(b3, &a, split, &wkvb, &wkb, &wvb);
                op_mla(b3, &a);
                /* every backend, scalar included, against the float64
                 * reference (see MLA_TOL64) */
                double *o64 = xmalloc(sizeof(double) * on), mx = 0, es = 0, e = 0;
                mla_weights(ref, &a, split, &wkvb, &wkb, &wvb);
                mla_ref64(&a, o64);
                for (size_t i = 0; i < on; i++) mx = fmax(mx, fabs(o64[i]));
                for (size_t i = 0; i < on; i++) {
                    es = fmax(es, fabs(os[i] - o64[i]));
                    e = fmax(e, fabs(o1[i] - o64[i]));
                }
                free(o64);
                es /= mx > 0 ? mx : 1;
                e /= mx > 0 ? mx : 1;
                if (es > worst_scalar) worst_scalar = es;
                CHECK(es <= MLA_TOL64, "scalar mla %s %s n_tok %d pos0 %d: error %.3g max|out| > %g", dsv3_wtype_name(type),
                      split ? "k_b/v_b" : "kv_b", n_tok, pos0, es, MLA_TOL64);
                /* separate k_b / v_b of a block type may take an integer
                 * path (query and attended latent rounded to two 8-bit
                 * blocks: about 16 bits; the sharp softmax of these random
                 * scores amplifies it ~10x); everything else is f32
                 * arithmetic */
                const int q8 = split && q && !b1->f32_act;
                const double tol = q8 ? 1e-3 : MLA_TOL64;
                double *wp = q8 ? &worst_q8 : &worst;
                if (e > *wp) *wp = e;
                CHECK(e <= tol, "%s mla %s %s n_tok %d pos0 %d: error %.3g max|out| > %g", name, dsv3_wtype_name(type),
                      split ? "k_b/v_b" : "kv_b", n_tok, pos0, e, tol);
                CHECK(!memcmp(o1, o3, sizeof(float) * on), "%s mla %s: 3 threads differ from 1", name, dsv3_wtype_name(type));
                mla_weights(b1, &a, split, &wkvb, &wkb, &wvb);
                if (n_tok > 1 && !is_device(b1->ops))
                    CHECK(mla_rows_as_single(b1, &a, o1), "%s mla %s %s pos0 %d: a batch row differs from the token alone", name,
                          dsv3_wtype_name(type), split ? "k_b/v_b" : "kv_b", pos0);
                free(qv); free(kv); free(pe); free(os); free(o1); free(o3);
                if (split) { free_weight(&wkb); free_weight(&wvb); } else free_weight(&wkvb);
            }
    printf("  mla_attention vs float64: max error %.2e of max|out| (f32, bf16, f16, fp8, q8_0, q4_k, q6_k; both forms), "
           "%.2e for block-type k_b/v_b, scalar %.2e\n", worst, worst_q8, worst_scalar);
}

/* ---- quantized latent cache ------------------------------------------------ */

static void test_mla_kv(inst *b1, inst *b3) {
    const char *name = b1->ops->name;
    int n_cases = 0;
    for (int ti = 0; ti < 2; ti++)
        for (int split = 0; split < 2; split++)
            for (int cfg = 0; cfg < 6; cfg++) {
                const int type = ti ? DSV3_W_Q8_0 : DSV3_W_F16;
                /* F16: 45 latent values (vector tails); Q8_0: two blocks */
                const int nh = 3, dn = 16, dr = 8, dv = 24, kvl = ti ? 64 : 45;
                const int n_tok = cfg & 1 ? 5 : 1, pos0 = cfg >= 4 ? 300 : cfg & 2 ? 10 : 0, n_ctx = pos0 + n_tok;
                const size_t rb = dsv3_kv_row_bytes(type, kvl);
                tweight wkvb = {0}, wkb = {0}, wvb = {0};
                if (split) {
                    wkb = make_weight(DSV3_W_BF16, (int64_t)nh * kvl, dn, 1, 1);
                    wvb = make_weight(DSV3_W_BF16, (int64_t)nh * dv, kvl, 1, 1);
                } else {
                    wkvb = make_weight(DSV3_W_F32, (int64_t)nh * (dn + dv), kvl, 1, 1);
                }
                float *qv = xmalloc(sizeof(float) * (size_t)(n_tok * nh * (dn + dr)));
                float *lat = xmalloc(sizeof(float) * (size_t)(n_ctx * (kvl + 3))); /* rows kvl + 3 apart */
                float *kvf = xmalloc(sizeof(float) * (size_t)(n_ctx * kvl)), *pe = xmalloc(sizeof(float) * (size_t)(n_ctx * dr));
                uint8_t *kvq = xmalloc(rb * (size_t)n_ctx), *want = xmalloc(rb * (size_t)n_ctx);
                fill(qv, (size_t)(n_tok * nh * (dn + dr)), -1.0f, 1.0f);
                fill(lat, (size_t)(n_ctx * (kvl + 3)), -3.0f, 3.0f);
                fill(pe, (size_t)(n_ctx * dr), -1.0f, 1.0f);
                /* the cache write, in one call and in calls of one row */
                op_store_kv(b1, type, lat, kvl + 3, kvq, rb, n_ctx, kvl);
                for (int p = 0; p < n_ctx; p++) {
                    dsv3_quantize_row(type, lat + (size_t)p * (kvl + 3), want + (size_t)p * rb, kvl);
                    dsv3_dequantize_row(type, want + (size_t)p * rb, kvf + (size_t)p * kvl, kvl);
                }
                CHECK(!memcmp(kvq, want, rb * (size_t)n_ctx), "%s store_kv %s: bytes differ from dsv3_quantize_row", name,
                      dsv3_wtype_name(type));
                memset(kvq, 0xA5, rb * (size_t)n_ctx);
                for (int p = 0; p < n_ctx; p++)
                    op_store_kv(b1, type, lat + (size_t)p * (kvl + 3), kvl + 3, kvq + (size_t)p * rb, rb, 1, kvl);
                CHECK(!memcmp(kvq, want, rb * (size_t)n_ctx), "%s store_kv %s: row by row differs", name, dsv3_wtype_name(type));
                const size_t on = (size_t)(n_tok * nh * dv);
                float *of = xmalloc(sizeof(float) * on), *o1 = xmalloc(sizeof(float) * on), *o3 = xmalloc(sizeof(float) * on);
                dsv3_mla_args a = {n_tok, pos0, nh, dn, dr, dv, kvl, qv, kvf, pe, NULL, NULL, NULL,
                                   0.3f, of, NULL, DSV3_W_F32, 0};
                mla_weights(b1, &a, split, &wkvb, &wkb, &wvb);
                op_mla(b1, &a);
                a.kv = (const float *)(const void *)kvq;
                a.kv_type = type;
                a.kv_row_bytes = rb;
                a.out = o1;
                op_mla(b1, &a);
                a.out = o3;
                mla_weights(b3, &a, split, &wkvb, &wkb, &wvb);
                op_mla(b3, &a);
                CHECK(!memcmp(of, o1, sizeof(float) * on), "%s mla %s cache %s n_tok %d pos0 %d: differs from the f32 cache of its values",
                      name, dsv3_wtype_name(type), split ? "k_b/v_b" : "kv_b", n_tok, pos0);
                CHECK(!memcmp(o1, o3, sizeof(float) * on), "%s mla %s cache: 3 threads differ from 1", name, dsv3_wtype_name(type));
                a.out = o1;
                mla_weights(b1, &a, split, &wkvb, &wkb, &wvb);
                if (n_tok > 1 && !is_device(b1->ops))
                    CHECK(mla_rows_as_single(b1, &a, o1), "%s mla %s cache pos0 %d: a batch row differs from the token alone", name,
                          dsv3_wtype_name(type), pos0);
                n_cases++;
                free(qv); free(lat); free(kvf); free(pe); free(kvq); free(want); free(of); free(o1); free(o3);
                if (split) { free_weight(&wkb); free_weight(&wvb); } else free_weight(&wkvb);
            }
    printf("  kv cache (%s): store_kv and mla_attention over F16/Q8_0 latents, %d cases\n", name, n_cases);
}

/* ---- moe_experts --------------------------------------------------------- */

/* E routed experts of one type (tagged as the loaders tag them), with each
 * instance's views laid out at a fixed stride as lib/ lays them out. */
#define MAX_E 6
typedef struct expert3 {
    dsv3_weight gate, up, down;
} expert3;

typedef struct experts {
    int E, type, H, I;
    tweight gate[MAX_E], up[MAX_E], down[MAX_E];
    expert3 ex[N_SLOTS][MAX_E];
    int given[N_SLOTS];
} experts;

static void make_experts(experts *xs, int type, int E, int H, int I) {
    memset(xs, 0, sizeof *xs);
    xs->E = E; xs->type = type; xs->H = H; xs->I = I;
    for (int e = 0; e < E; e++) {
        xs->gate[e] = make_weight(type, I, H, 128, 128);
        xs->up[e] = make_weight(type, I, H, 128, 128);
        xs->down[e] = make_weight(type, H, I, 128, 128);
        xs->gate[e].w.role = xs->up[e].w.role = xs->down[e].w.role = DSV3_ROLE_EXPERT;
    }
}

static const expert3 *experts_for(inst *in, experts *xs) {
    expert3 *ex = xs->ex[in->slot];
    if (!xs->given[in->slot]) {
        for (int e = 0; e < xs->E; e++) {
            ex[e].gate = xs->gate[e].w;
            ex[e].up = xs->up[e].w;
            ex[e].down = xs->down[e].w;
            give_weight(in, &ex[e].gate);
            give_weight(in, &ex[e].up);
            give_weight(in, &ex[e].down);
        }
        xs->given[in->slot] = 1;
    }
    return ex;
}

static void free_experts(experts *xs) {
    for (int e = 0; e < xs->E; e++) { free_weight(&xs->gate[e]); free_weight(&xs->up[e]); free_weight(&xs->down[e]); }
}

/* k distinct experts per token and their gate weights. */
static void random_routing(int n, int k, int E, int32_t *ids, float *wts) {
    for (int t = 0; t < n; t++)
        for (int j = 0; j < k; j++) {
            int e;
            int dup;
            do {
                e = (int)(rnd32() % E);
                dup = 0;
                for (int i = 0; i < j; i++) dup |= ids[t * k + i] == e;
            } while (dup);
            ids[t * k + j] = e;
            wts[t * k + j] = unif(0.1f, 2.5f);
        }
}

static dsv3_moe_args moe_args(inst *in, experts *xs, int n, int k, const float *x, const int32_t *ids, const float *wts,
                              float *out) {
    const expert3 *ex = experts_for(in, xs);
    dsv3_moe_args a = {n, k, xs->H, xs->I, x, ids, wts, xs->E, &ex[0].gate, &ex[0].up, &ex[0].down, sizeof ex[0], out, NULL, NULL, NULL};
    return a;
}

static void test_moe(inst *ref, inst *b1, inst *b3) {
    const char *name = b1->ops->name;
    static const int types[] = {DSV3_W_F32, DSV3_W_BF16, DSV3_W_F8_E4M3, DSV3_W_Q8_0, DSV3_W_Q4_K, DSV3_W_Q6_K, DSV3_W_IQ2_XS};
    static const int toks[] = {1, 7, 64, DSV3_MAX_UBATCH};
    /* A device backend (lavapipe in CI runs the shaders on the CPU): 1 and 7
     * tokens, and experts as small as the type allows. */
    const int dev = b1->f32_act, n_toks = dev ? 2 : 4;
    static experts xs;
    for (int it = 0; it < 7; it++) {
        const int type = types[it];
        const int big = dsv3_wtype_block(type) == 256;
        const int E = 6, k = 3, H = big || !dev ? 256 : 64, I = big ? 256 : dev ? 32 : 96;
        make_experts(&xs, type, E, H, I);
        double worst = 0;
        for (int in = 0; in < n_toks; in++) {
            const int n = toks[in];
            float *x = xmalloc(sizeof(float) * (size_t)(n * H));
            fill(x, (size_t)(n * H), -1.0f, 1.0f);
            int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(n * k));
            float *wts = xmalloc(sizeof(float) * (size_t)(n * k));
            random_routing(n, k, E, ids, wts);
            float *os = xmalloc(sizeof(float) * (size_t)(n * H)), *o1 = xmalloc(sizeof(float) * (size_t)(n * H)),
                  *o3 = xmalloc(sizeof(float) * (size_t)(n * H));
            dsv3_moe_args a = moe_args(ref, &xs, n, k, x, ids, wts, os);
            op_moe(ref, &a);
            a = moe_args(b1, &xs, n, k, x, ids, wts, o1);
            op_moe(b1, &a);
            dsv3_moe_args a3 = moe_args(b3, &xs, n, k, x, ids, wts, o3);
            if (b3->be != b1->be || n > 1) op_moe(b3, &a3); /* a device's rerun: once */
            else memcpy(o3, o1, sizeof(float) * (size_t)(n * H));
            double mx = 0, e = 0;
            for (int i = 0; i < n * H; i++) mx = fmax(mx, fabs(os[i]));
            for (int i = 0; i < n * H; i++) e = fmax(e, fabs((double)o1[i] - os[i]));
            e /= mx > 0 ? mx : 1;
            if (e > worst) worst = e;
            /* block types: two matmuls with 8-bit activations in series */
            const double tol = is_block(type) && !b1->f32_act ? 5e-2 : 1e-5;
            CHECK(e <= tol, "%s moe %s n %d: error %.3g max|out| > %.3g", name, dsv3_wtype_name(type), n, e, tol);
            CHECK(!memcmp(o1, o3, sizeof(float) * (size_t)(n * H)), "%s moe %s n %d: 3 threads differ from 1", name,
                  dsv3_wtype_name(type), n);
            if (dev && n == 1 && b1->ops->version >= DSV3_BACKEND_V4 && b1->ops->moe_prepare) {
                /* decode with the picks left on the device: the bits of host picks */
                const int host = op_moe_dev(b1, &a3);
                CHECK(!host, "%s moe %s n 1: the picks must come to the host", name, dsv3_wtype_name(type));
                if (!host)
                    CHECK(!memcmp(o1, o3, sizeof(float) * (size_t)H), "%s moe %s n 1: device picks differ from host picks",
                          name, dsv3_wtype_name(type));
            }
            if (n > 1 && strcmp(name, "neon")) {
                /* the batch gives every token the bits it gets alone */
                int same = 1;
                for (int t = 0; t < n; t++) {
                    dsv3_moe_args b = a;
                    b.n_tok = 1;
                    b.x = x + t * H;
                    b.ids = ids + t * k;
                    b.weights = wts + t * k;
                    b.out = o3;
                    op_moe(b1, &b);
                    same &= !memcmp(o3, o1 + t * H, sizeof(float) * (size_t)H);
                }
                CHECK(same, "%s moe %s n %d: batch differs from token by token", name, dsv3_wtype_name(type), n);
            }
            free(x); free(ids); free(wts); free(os); free(o1); free(o3);
        }
        printf("  moe_experts %-8s max error %.2e of max|out| (hidden %d, inter %d)\n", dsv3_wtype_name(type), worst, H, I);
        free_experts(&xs);
    }
}

/* ---- route (V4) ----------------------------------------------------------- */

typedef struct route_case {
    const char *what;
    int E, k, scoring, method, n_group, topk_group, norm, bias;
    float scale;
} route_case;

static const route_case route_cases[] = {
    {"V3 E 256", 256, 8, DSV3_SCORE_SIGMOID, DSV3_TOPK_NOAUX_TC, 8, 4, 1, 1, 2.5f},
    {"V3 E 64", 64, 6, DSV3_SCORE_SIGMOID, DSV3_TOPK_NOAUX_TC, 8, 4, 1, 1, 2.5f},
    {"K2 E 384", 384, 8, DSV3_SCORE_SIGMOID, DSV3_TOPK_NOAUX_TC, 1, 1, 1, 1, 2.827f},
    {"V2-Lite E 64", 64, 6, DSV3_SCORE_SOFTMAX, DSV3_TOPK_GREEDY, 1, 1, 0, 0, 1.0f},
    {"V2 E 160", 160, 6, DSV3_SCORE_SOFTMAX, DSV3_TOPK_GROUP_LIMITED_GREEDY, 8, 3, 0, 0, 16.0f},
};

/* The host routine's picks for n tokens. */
static void route_ref(const route_case *rc, const float *logits, const float *bias, int n, int32_t *ids, float *w) {
    dsv3_config c;
    memset(&c, 0, sizeof c);
    c.n_routed_experts = rc->E;
    c.n_experts_per_tok = rc->k;
    c.scoring = (enum dsv3_scoring)rc->scoring;
    c.topk_method = (enum dsv3_topk_method)rc->method;
    c.n_group = rc->n_group;
    c.topk_group = rc->topk_group;
    c.norm_topk_prob = rc->norm;
    c.routed_scaling_factor = rc->scale;
    float *work = xmalloc(sizeof(float) * 5 * (size_t)rc->E);
    for (int t = 0; t < n; t++) route_token(&c, logits + (size_t)t * rc->E, bias, ids + t * rc->k, w + t * rc->k, work);
    free(work);
}

/* The backend's picks: logits in its memory, ids and weights read back. */
static void op_route(inst *in, const route_case *rc, const float *logits, const dsv3_weight *bias, int n, int32_t *ids,
                     float *w) {
    const size_t lb = sizeof(float) * (size_t)n * (size_t)rc->E, nk = (size_t)n * (size_t)rc->k;
    float *work = xmalloc(sizeof(float) * 5 * (size_t)rc->E);
    dsv3_route_args a = {
        .n_tok = n, .n_experts = rc->E, .k = rc->k, .scoring = rc->scoring, .topk_method = rc->method,
        .n_group = rc->n_group, .topk_group = rc->topk_group, .norm_topk_prob = rc->norm,
        .routed_scaling_factor = rc->scale, .logits = dbuf(in, logits, lb), .bias = bias,
        .ids = dbuf(in, NULL, sizeof(int32_t) * nk), .weights = dbuf(in, NULL, sizeof(float) * nk), .work = work,
    };
    in->ops->route(in->be, &a);
    dback(in, ids, a.ids, sizeof(int32_t) * nk);
    dback(in, w, a.weights, sizeof(float) * nk);
    dfree(in, (void *)(uintptr_t)a.logits); dfree(in, a.ids); dfree(in, a.weights);
    free(work);
    op_done(in, "route");
}

static void test_route(inst *b1) {
    const char *name = b1->ops->name;
    if (b1->ops->version < DSV3_BACKEND_V4 || !b1->ops->route) {
        CHECK(0, "%s: no route op", name);
        return;
    }
    const int dev = is_device(b1->ops);
    static const int toks[] = {1, 3, 17, 64};
    const int n_toks = dev ? 2 : 4;
    for (size_t ci = 0; ci < sizeof route_cases / sizeof route_cases[0]; ci++) {
        const route_case *rc = &route_cases[ci];
        const int E = rc->E, k = rc->k;
        double worst = 0;
        int n_cases = 0;
        for (int ties = 0; ties < 2; ties++)
            for (int in = 0; in < n_toks; in++) {
                const int n = dev && in == 1 ? 5 : toks[in];
                /* ties: logits and bias from small sets whose scores every
                 * exp gives exactly (sigmoid 0.5 and 1; softmax: equal
                 * logits, equal scores), so selection scores and group
                 * sums tie exactly, on the host and on a device alike */
                float *lg = xmalloc(sizeof(float) * (size_t)(n * E));
                for (int i = 0; i < n * E; i++)
                    lg[i] = !ties ? unif(-4.0f, 4.0f)
                            : rc->scoring == DSV3_SCORE_SIGMOID ? 20.0f * (float)(rnd32() % 2)
                                                                : 0.5f * (float)(rnd32() % 3);
                tweight bw = make_weight(DSV3_W_F32, 1, E, 1, 1);
                float *bv = (float *)(void *)bw.data;
                for (int i = 0; i < E; i++) bv[i] = ties ? 0.125f * (float)(rnd32() % 5) : unif(-0.5f, 0.5f);
                bw.w.role = DSV3_ROLE_NORM;
                bw.w.layer = 0;
                const float *hbias = rc->bias ? bv : NULL;
                int32_t *ri = xmalloc(sizeof(int32_t) * (size_t)(n * k)), *bi = xmalloc(sizeof(int32_t) * (size_t)(n * k));
                float *rw = xmalloc(sizeof(float) * (size_t)(n * k)), *bwt = xmalloc(sizeof(float) * (size_t)(n * k));
                route_ref(rc, lg, hbias, n, ri, rw);
                const dsv3_weight *dbias = rc->bias ? wv(b1, &bw) : NULL;
                dsv3_weight host_bias;
                if (dbias && dev && in == 0) { /* a bias left on the host */
                    host_bias = bw.w;
                    host_bias.device = NULL;
                    dbias = &host_bias;
                }
                op_route(b1, rc, lg, dbias, n, bi, bwt);
                CHECK(!memcmp(ri, bi, sizeof(int32_t) * (size_t)(n * k)), "%s route %s%s n %d: ids differ from the host's",
                      name, rc->what, ties ? " (ties)" : "", n);
                double e = 0;
                for (int i = 0; i < n * k; i++) e = fmax(e, fabs((double)bwt[i] - rw[i]) / fabs((double)rw[i]));
                if (e > worst) worst = e;
                if (dev) CHECK(e <= 1e-6, "%s route %s n %d: weight error %.3g relative > 1e-6", name, rc->what, n, e);
                else CHECK(!memcmp(rw, bwt, sizeof(float) * (size_t)(n * k)), "%s route %s n %d: weights differ from the host's bits", name, rc->what, n);
                if (n > 1) { /* each token alone gives the batch's bits */
                    int same = 1;
                    for (int t = 0; t < n; t++) {
                        int32_t oi[64];
                        float ow[64];
                        op_route(b1, rc, lg + (size_t)t * E, dbias, 1, oi, ow);
                        same &= !memcmp(oi, bi + t * k, sizeof(int32_t) * (size_t)k) &&
                                !memcmp(ow, bwt + t * k, sizeof(float) * (size_t)k);
                    }
                    CHECK(same, "%s route %s n %d: batch differs from token by token", name, rc->what, n);
                }
                n_cases++;
                free(lg); free(ri); free(bi); free(rw); free(bwt);
                free_weight(&bw);
            }
        printf("  route %-13s k %d: ids equal, weights max error %.2e relative (%d cases)\n", rc->what, k, worst, n_cases);
    }
}

/* ---- hybrid placement ----------------------------------------------------- */

/* The CPU backend a device backend hands host-resident weights to: the
 * available one "auto" would pick on the CPU alone. */
static const dsv3_backend_ops *best_cpu(void) {
    const dsv3_backend_ops *best = NULL;
    for (int i = 0; i < dsv3_backend_count(); i++) {
        const dsv3_backend_ops *o = dsv3_backend_at(i);
        if (!is_device(o) && o->available() && (!best || o->priority > best->priority)) best = o;
    }
    return best;
}

/* Placement "experts-on-cpu": routed experts stay on the host (w->device
 * NULL) and moe_experts gives the bits of the CPU backend on the same
 * inputs (CPU backends give the same bits for any thread count); an
 * attention weight still goes to the device. */
static void test_hybrid(const dsv3_backend_ops *ops) {
    const dsv3_backend_ops *cpu = best_cpu();
    inst hy = open_inst(ops, 2, SLOT_HYBRID, "experts-on-cpu"), c = open_inst(cpu, 2, SLOT_CPU, NULL);
    static const int types[] = {DSV3_W_F32, DSV3_W_BF16, DSV3_W_Q4_K, DSV3_W_IQ2_XS};
    static experts xs;
    int n_same = 0;
    for (int it = 0; it < 4; it++) {
        const int type = types[it], E = 6, k = 3, H = 256, I = dsv3_wtype_block(type) == 256 ? 256 : 96;
        make_experts(&xs, type, E, H, I);
        const expert3 *ex = experts_for(&hy, &xs);
        int on_host = 1;
        for (int e = 0; e < E; e++) on_host &= !ex[e].gate.device && !ex[e].up.device && !ex[e].down.device;
        CHECK(on_host, "%s experts-on-cpu %s: a routed expert was placed on the device", ops->name, dsv3_wtype_name(type));
        for (int n = 1; n <= 7; n += 6) {
            float *x = xmalloc(sizeof(float) * (size_t)(n * H)), *oc = xmalloc(sizeof(float) * (size_t)(n * H)),
                  *oh = xmalloc(sizeof(float) * (size_t)(n * H));
            int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(n * k));
            float *wts = xmalloc(sizeof(float) * (size_t)(n * k));
            fill(x, (size_t)(n * H), -1.0f, 1.0f);
            random_routing(n, k, E, ids, wts);
            dsv3_moe_args a = moe_args(&c, &xs, n, k, x, ids, wts, oc);
            op_moe(&c, &a);
            a = moe_args(&hy, &xs, n, k, x, ids, wts, oh);
            op_moe(&hy, &a);
            const int same = !memcmp(oc, oh, sizeof(float) * (size_t)(n * H));
            CHECK(same, "%s experts-on-cpu moe %s n %d: differs from %s", ops->name, dsv3_wtype_name(type), n, cpu->name);
            n_same += same;
            free(x); free(oc); free(oh); free(ids); free(wts);
        }
        free_experts(&xs);
    }
    tweight at = make_weight(DSV3_W_BF16, 7, 203, 1, 1);
    at.w.role = DSV3_ROLE_ATTN;
    at.w.layer = 0;
    CHECK(wv(&hy, &at)->device != NULL, "%s experts-on-cpu: an attention weight stayed on the host", ops->name);
    free_weight(&at);
    printf("  hybrid (experts-on-cpu): routed experts on the host, moe_experts == %s bit for bit in %d cases\n",
           cpu->name, n_same);
    ops->free(hy.be);
    cpu->free(c.be);
}

/* avx512 is avx2's drivers with wider kernels that keep every operation:
 * matmul and routed experts give the same bits on both. */
static void test_avx512_same_as_avx2(void) {
    dsv3_err err = {0, ""};
    const dsv3_backend_ops *o2 = dsv3_backend_find("avx2", &err), *o5 = dsv3_backend_find("avx512", &err);
    if (!o2 || !o5) return; /* not compiled in, or this CPU cannot run one */
    inst a = open_inst(o2, 2, SLOT_B1, NULL), b = open_inst(o5, 2, SLOT_B3, NULL);
    static const int types[] = {DSV3_W_F32, DSV3_W_BF16, DSV3_W_F8_E4M3, DSV3_W_Q8_0, DSV3_W_Q4_0, DSV3_W_Q5_0,
                                DSV3_W_Q5_1, DSV3_W_Q2_K, DSV3_W_Q3_K, DSV3_W_Q4_K, DSV3_W_Q5_K, DSV3_W_Q6_K,
                                DSV3_W_IQ4_NL, DSV3_W_IQ4_XS};
    int n_same = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (int n = 1; n <= 5; n += 4) {
            const int type = types[ti];
            const int64_t rows = 37, cols = 512;
            tweight tw = make_weight(type, rows, cols, 128, 128);
            float *x = xmalloc(sizeof(float) * (size_t)(n * cols));
            float *y2 = xmalloc(sizeof(float) * (size_t)(n * rows)), *y5 = xmalloc(sizeof(float) * (size_t)(n * rows));
            fill(x, (size_t)(n * cols), -1.0f, 1.0f);
            op_matmul(&a, wv(&a, &tw), x, y2, n);
            op_matmul(&b, wv(&b, &tw), x, y5, n);
            const int same = !memcmp(y2, y5, sizeof(float) * (size_t)(n * rows));
            CHECK(same, "avx512 matmul %s n %d: bits differ from avx2", dsv3_wtype_name(type), n);
            n_same += same;
            free(x); free(y2); free(y5);
            free_weight(&tw);
        }
    printf("avx512 == avx2 bit for bit: matmul, %d cases\n", n_same);
    o2->free(a.be);
    o5->free(b.be);
}

/* repack (dsv3_backend_params.repack) on the x86 backends: the packed
 * copies give the bits of the weights in place, for matmul (1, 3, 9 and 17
 * tokens, a whole matrix and row ranges that a thread split cuts, 1 and 3
 * threads) and moe_experts; Q8_0, Q4_0 and Q5_0 get a copy, other types
 * and row counts that are not a multiple of 8 none. */
static void test_repack(const char *name) {
    dsv3_err err = {0, ""};
    const dsv3_backend_ops *ops = dsv3_backend_find(name, &err);
    if (!ops) return; /* not compiled in, or this CPU cannot run it */
    inst a = open_inst(ops, 1, SLOT_B1, NULL), b = open_inst_repack(ops, 3, SLOT_B3, NULL, 1);
    static const int types[] = {DSV3_W_Q8_0, DSV3_W_Q4_0, DSV3_W_Q5_0, DSV3_W_Q4_K, DSV3_W_Q6_K};
    static const int64_t shapes[][2] = {{8, 256}, {200, 512}, {48, 1024}, {37, 256}};
    static const int toks[] = {1, 3, 9, 17};
    int n_same = 0, n_packed = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int type = types[ti];
            const int64_t rows = shapes[si][0], cols = shapes[si][1];
            tweight tw = make_weight(type, rows, cols, 128, 128);
            const dsv3_weight *wa = wv(&a, &tw), *wb = wv(&b, &tw);
            const int packs = (type == DSV3_W_Q8_0 || type == DSV3_W_Q4_0 || type == DSV3_W_Q5_0) && rows % 8 == 0;
            CHECK(!wa->packed && !!wb->packed == packs, "%s repack %s %lld x %lld: packed %d, expected %d", name,
                  dsv3_wtype_name(type), (long long)rows, (long long)cols, wb->packed != NULL, packs);
            n_packed += wb->packed != NULL;
            for (size_t ni = 0; ni < sizeof toks / sizeof toks[0]; ni++) {
                const int n = toks[ni];
                float *x = xmalloc(sizeof(float) * (size_t)(n * cols));
                float *ya = xmalloc(sizeof(float) * (size_t)(n * rows)), *yb = xmalloc(sizeof(float) * (size_t)(n * rows));
                fill(x, (size_t)(n * cols), -1.0f, 1.0f);
                op_matmul(&a, wa, x, ya, n);
                op_matmul(&b, wb, x, yb, n);
                const int same = !memcmp(ya, yb, sizeof(float) * (size_t)(n * rows));
                CHECK(same, "%s repack matmul %s %lld x %lld n %d: bits differ from the weights in place", name,
                      dsv3_wtype_name(type), (long long)rows, (long long)cols, n);
                n_same += same;
                free(x); free(ya); free(yb);
            }
            free_weight(&tw);
        }
    static experts xs;
    for (int ti = 0; ti < 3; ti++) {
        const int type = types[ti], E = 6, k = 3, H = 256, I = 96;
        make_experts(&xs, type, E, H, I);
        for (int n = 1; n <= 9; n += 8) {
            float *x = xmalloc(sizeof(float) * (size_t)(n * H));
            fill(x, (size_t)(n * H), -1.0f, 1.0f);
            int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(n * k));
            float *wts = xmalloc(sizeof(float) * (size_t)(n * k));
            random_routing(n, k, E, ids, wts);
            float *oa = xmalloc(sizeof(float) * (size_t)(n * H)), *ob = xmalloc(sizeof(float) * (size_t)(n * H));
            dsv3_moe_args ma = moe_args(&a, &xs, n, k, x, ids, wts, oa);
            op_moe(&a, &ma);
            dsv3_moe_args mb = moe_args(&b, &xs, n, k, x, ids, wts, ob);
            CHECK(mb.gate->packed && mb.down->packed, "%s repack moe %s: no packed copy", name, dsv3_wtype_name(type));
            op_moe(&b, &mb);
            const int same = !memcmp(oa, ob, sizeof(float) * (size_t)(n * H));
            CHECK(same, "%s repack moe %s n %d: bits differ from the weights in place", name, dsv3_wtype_name(type), n);
            n_same += same;
            free(x); free(ids); free(wts); free(oa); free(ob);
        }
        free_experts(&xs);
    }
    printf("%s repack == in place bit for bit: %d cases, %d packed weights\n", name, n_same, n_packed);
    ops->free(a.be);
    ops->free(b.be);
}

/* CI sets DSV3_REQUIRE_BACKEND=vulkan where lavapipe must run it: a skip
 * would hide a broken setup. */
/* FP8 decode on the x86 backends: up to 6 tokens meet FP8 rows through
 * the weights' f32 bits against tokens times 2^112 (avx2_rows_fp8s), which
 * must give the bits of the binary16 route that a 17-token matmul takes;
 * so must a token too large to scale (|x| >= 2^16, kept on the binary16
 * route), and a call made while the host has set denormals-are-zero (the
 * weights' small codes are subnormal f32 bits), which must find MXCSR as
 * it left it. Random codes: one in 16 is an e4m3 subnormal. */
static void test_fp8_decode(const char *name) {
    dsv3_err err = {0, ""};
    const dsv3_backend_ops *ops = dsv3_backend_find(name, &err);
    if (!ops) return; /* not compiled in, or this CPU cannot run it */
    inst a = open_inst(ops, 1, SLOT_B1, NULL);
    const int64_t rows = 40, cols = 1000;
    const int n = 17;
    tweight tw = make_weight(DSV3_W_F8_E4M3, rows, cols, 128, 128);
    float *x = xmalloc(sizeof(float) * (size_t)(n * cols));
    float *yb = xmalloc(sizeof(float) * (size_t)(n * rows)), *y = xmalloc(sizeof(float) * (size_t)(3 * rows));
    fill(x, (size_t)(n * cols), -1.0f, 1.0f);
    x[3 * cols + 5] = 70000.0f; /* token 3: too large to scale */
    op_matmul(&a, wv(&a, &tw), x, yb, n);
    int cases = 0;
    for (int t = 0; t < n; t++, cases++) {
        op_matmul(&a, wv(&a, &tw), x + t * cols, y, 1);
        CHECK(!memcmp(y, yb + t * rows, sizeof(float) * (size_t)rows), "%s fp8 decode token %d: bits differ from the tiles",
              name, t);
    }
    for (int t = 0; t + 3 <= n; t += 7, cases++) { /* 3 tokens at once (token 3 among them once) */
        op_matmul(&a, wv(&a, &tw), x + t * cols, y, 3);
        CHECK(!memcmp(y, yb + t * rows, sizeof(float) * (size_t)(3 * rows)), "%s fp8 decode tokens %d..%d: bits differ",
              name, t, t + 2);
    }
#if defined(__x86_64__) || defined(__i386__)
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x40u); /* DAZ, as some hosts (audio, games) set it */
    op_matmul(&a, wv(&a, &tw), x, y, 1);
    const unsigned after = _mm_getcsr();
    _mm_setcsr(csr);
    CHECK(after == (csr | 0x40u), "%s fp8 decode: MXCSR %#x after the call, was %#x", name, after, csr | 0x40u);
    CHECK(!memcmp(y, yb, sizeof(float) * (size_t)rows), "%s fp8 decode with DAZ set: bits differ", name);
    cases++;
#endif
    printf("%s fp8 decode == binary16 route bit for bit: %d cases\n", name, cases);
    free(x); free(yb); free(y);
    free_weight(&tw);
    ops->free(a.be);
}

static int must_run(const char *name) {
    const char *req = getenv("DSV3_REQUIRE_BACKEND");
    return req && !strcmp(req, name);
}

/* Is the backend named `name` compiled in and able to run here? Exits 77
 * (skipped) with the reason when not (1 when it must run). */
static const dsv3_backend_ops *named_or_skip(const char *name) {
    for (int i = 0; i < dsv3_backend_count(); i++) {
        const dsv3_backend_ops *o = dsv3_backend_at(i);
        if (strcmp(o->name, name)) continue;
        if (o->available()) return o;
        char why[1024] = "";
        if (o->version >= DSV3_BACKEND_V3 && o->describe) o->describe(why, sizeof why);
        for (char *c = why; *c; c++)
            if (*c == '\n') *c = ' ';
        printf("%s: backend '%s' is compiled in but cannot run here%s%s\n", must_run(name) ? "FAIL" : "SKIP", name,
               *why ? ": " : "", why);
        exit(must_run(name) ? 1 : 77);
    }
    printf("%s: backend '%s' is not compiled into this build\n", must_run(name) ? "FAIL" : "SKIP", name);
    exit(must_run(name) ? 1 : 77);
}

/* DSV3_TEST_OPS=matmul,elementwise,mla,kv,moe,route,hybrid runs only those groups
 * (a quicker look at a slow device; the inputs then differ from a full run,
 * the random stream being shared). Unset: every group. */
/* ---- rank_i8 ---------------------------------------------------------------- */

static void test_rank_i8(inst *b1) {
    const char *name = b1->ops->name;
    if (b1->ops->version < DSV3_BACKEND_V5 || !b1->ops->rank_i8) {
        CHECK(0, "%s: no rank_i8 op", name);
        return;
    }
    static const int widths[] = {1, 31, 32, 100, 192, 4097};
    static const int heights[] = {1, 3, 4, 257};
    int n_cases = 0;
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
        for (size_t hi = 0; hi < sizeof heights / sizeof heights[0]; hi++)
            for (int ties = 0; ties < 2; ties++) {
                const int cols = widths[wi], rows = heights[hi];
                int8_t *q = xmalloc((size_t)rows * (size_t)cols), *x = xmalloc((size_t)cols);
                float *sc = xmalloc(sizeof(float) * (size_t)rows);
                for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) q[i] = (int8_t)((int)(rnd32() % 255) - 127);
                for (int c = 0; c < cols; c++) x[c] = (int8_t)((int)(rnd32() % 255) - 127);
                for (int r = 0; r < rows; r++) sc[r] = unif(-1.0f, 1.0f);
                if (ties) /* every row a copy of row 0 or 1, equal scales: ties everywhere */
                    for (int r = 2; r < rows; r++) {
                        memcpy(q + (size_t)r * (size_t)cols, q + (size_t)(r % 2) * (size_t)cols, (size_t)cols);
                        sc[r] = sc[r % 2];
                    }
                const int32_t want = dsv3_draft_rank_ref(q, sc, rows, cols, x);
                const int32_t got = b1->ops->rank_i8(b1->be, q, sc, rows, cols, x);
                CHECK(got == want, "%s rank_i8 %dx%d ties %d: row %d, the reference's %d", name, rows, cols, ties, (int)got,
                      (int)want);
                n_cases++;
                free(q); free(x); free(sc);
            }
    printf("  rank_i8: the reference's row, %d cases\n", n_cases);
}

static int group_on(const char *g) {
    const char *f = getenv("DSV3_TEST_OPS");
    if (!f || !*f) return 1;
    const size_t n = strlen(g);
    for (const char *p = f; (p = strstr(p, g)) != NULL; p += n)
        if ((p == f || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
    return 0;
}

static void test_backend(inst *ref, const dsv3_backend_ops *ops) {
    const int dev = is_device(ops);
    printf("backend %s vs scalar%s\n", ops->name, dev ? " (its own memory, f32 activations)" : "");
    rng = 0x9E3779B97F4A7C15ull; /* every backend meets the same inputs */
    /* a device backend: one instance (the "3 threads" runs are second runs) */
    inst b1 = open_inst(ops, 1, SLOT_B1, NULL), b3 = dev ? b1 : open_inst(ops, 3, SLOT_B3, NULL);
    double t[7];
    t[0] = now_s();
    if (group_on("matmul")) test_matmul(ref, &b1, &b3);
    t[1] = now_s();
    if (group_on("elementwise")) test_elementwise(ref, &b1, &b3);
    t[2] = now_s();
    if (group_on("mla")) test_mla(ref, &b1, &b3);
    t[3] = now_s();
    if (group_on("kv")) test_mla_kv(&b1, &b3);
    t[4] = now_s();
    if (group_on("moe")) test_moe(ref, &b1, &b3);
    if (group_on("route")) test_route(&b1);
    if (group_on("rank")) test_rank_i8(&b1);
    t[5] = now_s();
    ops->free(b1.be);
    if (!dev) ops->free(b3.be);
    if (dev && group_on("hybrid")) test_hybrid(ops);
    t[6] = now_s();
    if (dev) /* where a slow device's time goes */
        printf("  %s: matmul %.1f s, elementwise %.1f s, mla %.1f s, kv cache %.1f s, moe+route %.1f s, hybrid %.1f s\n", ops->name,
               t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4], t[6] - t[5]);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress of a slow device shows */
    dsv3_err err = {0, ""};
    const dsv3_backend_ops *scalar = dsv3_backend_find("scalar", &err);
    if (!scalar) { fprintf(stderr, "FATAL: no scalar backend\n"); return 2; }
    if (argc > 1) {
        /* the named backends only (all of them there, else skipped) */
        for (int a = 1; a < argc; a++) named_or_skip(argv[a]);
        inst ref = open_inst(scalar, 1, SLOT_REF, NULL);
        for (int a = 1; a < argc; a++) test_backend(&ref, named_or_skip(argv[a]));
        scalar->free(ref.be);
        printf("%d passed, %d failed\n", g_pass, g_fail);
        return g_fail ? 1 : 0;
    }
    inst ref = open_inst(scalar, 1, SLOT_REF, NULL);
    int tested = 0;
    for (int i = 0; i < dsv3_backend_count(); i++) {
        const dsv3_backend_ops *ops = dsv3_backend_at(i);
        if (!strcmp(ops->name, "scalar")) continue;
        if (is_device(ops)) {
            printf("backend %s: a device backend, tested by name (test_backend_ops %s)\n", ops->name, ops->name);
            continue;
        }
        if (!ops->available()) {
            printf("backend %s: compiled in, not available on this CPU (skipped)\n", ops->name);
            continue;
        }
        test_backend(&ref, ops);
        tested++;
    }
    /* the scalar backend itself: threads and batch properties */
    {
        inst s3 = open_inst(scalar, 3, SLOT_B3, NULL);
        tweight tw = make_weight(DSV3_W_BF16, 33, 203, 1, 1);
        float x[17 * 203], y1[17 * 33], y3[17 * 33];
        fill(x, 17 * 203, -1.0f, 1.0f);
        op_matmul(&ref, wv(&ref, &tw), x, y1, 17);
        op_matmul(&s3, wv(&s3, &tw), x, y3, 17);
        CHECK(!memcmp(y1, y3, sizeof y1), "scalar matmul: 3 threads differ from 1");
        free_weight(&tw);
        test_mla_kv(&ref, &s3);
        printf("backend scalar: route\n");
        test_route(&s3);
        test_rank_i8(&s3);
        scalar->free(s3.be);
    }
    test_avx512_same_as_avx2();
    test_repack("avx2");
    test_repack("avx512");
    test_fp8_decode("avx2");
    test_fp8_decode("avx512");
    if (!tested) printf("no backend besides scalar is available here\n");
    scalar->free(ref.be);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
