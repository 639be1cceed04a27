/* test_neon_ops.c -- what tests/test_backend_ops.c (every backend against
 * the scalar reference, op by op) does not reach in the NEON backend:
 *
 *   f32 path  neon_rows_f32act for every stored type (it serves attention
 *             and embeddings for block types, and ops->matmul for the rest)
 *             within 1e-5 of S = sum_c |w_rc x_c| (float64 reference from
 *             the exact dequantized values);
 *   q8 path   ops->matmul for every type with a q8 kernel (neon_q8_type) within 5e-3 S, with column
 *             counts past the 2048-column activation chunk;
 *   dotprod   where the CPU has the dot-product extension, the vdotq_s32
 *             kernels and the plain ARMv8.0 kernels give the same bits
 *             (under qemu, tests/neon.cmake reruns this test on a CPU
 *             without it: the ARMv8.0 kernels alone, chosen at run time);
 *   threads   1 and 3 threads give the same bits;
 *   batch     n tokens at once give the bits of n single-token calls
 *             (matmul, every type; moe_experts).
 * Weights: rows 1, 7, 33; plain types 203 and 1027 columns (FP8 with
 * 128x128 and 5x20 scale blocks); block types 3 blocks, 1024, and 2080 or
 * 2304 columns, built from the real blocks of ../shared/golden-gguf
 * (dequant_vectors); n = 1, 3, 17 tokens. Usage: test_neon_ops SHARED_DIR */
#include <ctype.h>
#include <math.h>
#include <stdint.h>

#include "backend.h"
#include "golden_util.h"
#include "neon/neon.h"
#include "quants/quants.h"
#include "wtype.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd32(void) {
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float unif(float lo, float hi) { return lo + (hi - lo) * (float)(rnd32() >> 8) * (1.0f / 16777216.0f); }

static int is_block(int t) { return t >= DSV3_W_Q8_0 && t < DSV3_W_COUNT; }

/* golden-gguf blocks per type */
static uint8_t *blob[DSV3_W_COUNT];
static int64_t blob_blocks[DSV3_W_COUNT];

static void load_blobs(const char *shared) {
    char p[1200], dir[1100];
    snprintf(dir, sizeof dir, "%s/golden-gguf", shared);
    snprintf(p, sizeof p, "%s/manifest.json", dir);
    json_doc *doc = load_json(p);
    const json_value *dv = json_get(json_root(doc), "dequant_vectors");
    for (size_t k = 0; dv && k < dv->n; k++) {
        char low[32];
        size_t i = 0;
        for (; dv->keys[k][i] && i + 1 < sizeof low; i++) low[i] = (char)tolower((unsigned char)dv->keys[k][i]);
        low[i] = 0;
        for (int t = DSV3_W_Q8_0; t < DSV3_W_COUNT; t++) {
            if (strcmp(dsv3_wtype_name(t), low)) continue;
            snprintf(p, sizeof p, "%s/%s", dir, json_get(json_get(&dv->items[k], "blocks"), "file")->str);
            size_t n;
            blob[t] = slurp(p, &n);
            blob_blocks[t] = (int64_t)(n / dsv3_wtype_block_bytes(t));
        }
    }
    json_free(doc);
    for (int t = DSV3_W_Q8_0; t < DSV3_W_COUNT; t++)
        if (!blob[t] || blob_blocks[t] < 1) { fprintf(stderr, "FATAL: no golden-gguf blocks for %s\n", dsv3_wtype_name(t)); exit(2); }
}

typedef struct tweight {
    dsv3_weight w;
    uint8_t *data;
    float *scale;
} tweight;

static tweight make_weight(int type, int64_t rows, int64_t cols, int block_r, int block_c) {
    tweight tw;
    memset(&tw, 0, sizeof tw);
    const size_t rb = dsv3_wtype_row_bytes(type, cols);
    tw.data = malloc(rb * (size_t)rows);
    tw.w.type = type;
    tw.w.rows = rows;
    tw.w.cols = cols;
    tw.w.data = tw.data;
    tw.w.row_stride = rb;
    if (is_block(type)) { /* the golden blocks, cyclically from a random start */
        const size_t bb = dsv3_wtype_block_bytes(type), nb = rb / bb * (size_t)rows;
        int64_t b0 = (int64_t)(rnd32() % (uint32_t)blob_blocks[type]);
        for (size_t i = 0; i < nb; i++) memcpy(tw.data + i * bb, blob[type] + (size_t)((b0 + (int64_t)i) % blob_blocks[type]) * bb, bb);
        return tw;
    }
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = tw.data + (size_t)r * rb;
        if (type == DSV3_W_F8_E4M3) {
            for (int64_t c = 0; c < cols; c++) {
                uint8_t b = (uint8_t)rnd32();
                row[c] = (b & 0x7F) == 0x7F ? b ^ 1 : b; /* no NaN */
            }
        } else {
            for (int64_t c = 0; c < cols; c++) tmp[c] = unif(-1.0f, 1.0f);
            dsv3_quantize_row(type, tmp, row, cols);
        }
    }
    free(tmp);
    if (type == DSV3_W_F8_E4M3) {
        tw.w.block_r = block_r;
        tw.w.block_c = block_c;
        tw.w.scale_cols = (cols + block_c - 1) / block_c;
        const int64_t ns = (rows + block_r - 1) / block_r * tw.w.scale_cols;
        tw.scale = malloc(sizeof(float) * (size_t)ns);
        for (int64_t i = 0; i < ns; i++) tw.scale[i] = ldexpf(unif(0.5f, 1.0f), (int)(rnd32() % 9) - 6);
        tw.w.scale = tw.scale;
    }
    return tw;
}

static void row_values(const dsv3_weight *w, int64_t r, float *dst) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * w->row_stride;
    if (w->type == DSV3_W_F8_E4M3) {
        for (int64_t c = 0; c < w->cols; c++)
            dst[c] = dsv3_fp8e4m3_to_f32(row[c]) * w->scale[(r / w->block_r) * w->scale_cols + c / w->block_c];
        return;
    }
    dsv3_dequantize_row(w->type, row, dst, w->cols);
}

static double worst[DSV3_W_COUNT][2]; /* [type][0: f32 path, 1: q8 path] */
static dsv3_backend *b1, *b3;
static const dsv3_backend_ops *ops;
static int have_dot;

static void test_matmul_case(int type, int64_t rows, int64_t cols, int n, int br, int bc) {
    tweight tw = make_weight(type, rows, cols, br, bc);
    const dsv3_weight *w = &tw.w;
    const size_t ny = (size_t)n * (size_t)rows;
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)cols), *wr = malloc(sizeof(float) * (size_t)cols);
    for (int64_t i = 0; i < n * cols; i++) x[i] = unif(-1.0f, 1.0f);
    double *ref = malloc(sizeof(double) * ny), *sabs = malloc(sizeof(double) * ny);
    for (int64_t r = 0; r < rows; r++) {
        row_values(w, r, wr);
        for (int t = 0; t < n; t++) {
            double s = 0, a = 0;
            for (int64_t c = 0; c < cols; c++) {
                s += (double)wr[c] * x[t * cols + c];
                a += fabs((double)wr[c] * x[t * cols + c]);
            }
            ref[t * rows + r] = s;
            sabs[t * rows + r] = a;
        }
    }
    float *y1 = malloc(sizeof(float) * ny), *y3 = malloc(sizeof(float) * ny), *yb = malloc(sizeof(float) * ny);
    const char *tn = dsv3_wtype_name(type);
    for (int path = 0; path < 2; path++) {
        if (path == 1 && !neon_q8_type(type)) break;
        if (path == 0) neon_rows_f32act(w, x, (size_t)cols, y1, (size_t)rows, n, 0, rows);
        else ops->matmul(b1, w, x, y1, n);
        double e = 0;
        for (size_t i = 0; i < ny; i++) {
            double d = fabs(y1[i] - ref[i]) / (sabs[i] > 0 ? sabs[i] : 1e-30);
            if (!(d <= e)) e = d;
        }
        if (e > worst[type][path]) worst[type][path] = e;
        const double tol = path ? 5e-3 : 1e-5;
        CHECK(e <= tol, "%s %s path rows %lld cols %lld n %d: error %.3g S > %.3g S", tn, path ? "q8" : "f32",
              (long long)rows, (long long)cols, n, e, tol);
    }
    /* threads, batch, and (q8 types) dotprod vs ARMv8.0 kernels, through ops->matmul */
    ops->matmul(b1, w, x, y1, n);
    ops->matmul(b3, w, x, y3, n);
    CHECK(!memcmp(y1, y3, sizeof(float) * ny), "%s rows %lld cols %lld n %d: 3 threads differ from 1", tn,
          (long long)rows, (long long)cols, n);
    if (n > 1) {
        int same = 1;
        for (int t = 0; t < n; t++) {
            ops->matmul(b1, w, x + t * cols, yb, 1);
            same &= !memcmp(yb, y1 + t * rows, sizeof(float) * (size_t)rows);
        }
        CHECK(same, "%s rows %lld cols %lld: %d tokens at once differ from one at a time", tn, (long long)rows,
              (long long)cols, n);
    }
    if (have_dot && neon_q8_type(type)) {
        neon_set_dotprod(b1, 0);
        ops->matmul(b1, w, x, yb, n);
        neon_set_dotprod(b1, 1);
        CHECK(!memcmp(y1, yb, sizeof(float) * ny), "%s rows %lld cols %lld n %d: dotprod and ARMv8.0 kernels differ",
              tn, (long long)rows, (long long)cols, n);
    }
    free(x); free(wr); free(ref); free(sabs); free(y1); free(y3); free(yb);
    free(tw.data); free(tw.scale);
}

static void test_moe_batch(int type) {
    const int E = 5, k = 2, H = 512, I = dsv3_wtype_block(type) == 256 ? 256 : 96, n = 7;
    struct { dsv3_weight gate, up, down; } ex[5];
    tweight tws[15];
    for (int e = 0; e < E; e++) {
        tws[3 * e] = make_weight(type, I, H, 128, 128);
        tws[3 * e + 1] = make_weight(type, I, H, 128, 128);
        tws[3 * e + 2] = make_weight(type, H, I, 128, 128);
        ex[e].gate = tws[3 * e].w;
        ex[e].up = tws[3 * e + 1].w;
        ex[e].down = tws[3 * e + 2].w;
    }
    float *x = malloc(sizeof(float) * n * H), wts[7 * 2], *o1 = malloc(sizeof(float) * n * H),
          *o3 = malloc(sizeof(float) * n * H), *ot = malloc(sizeof(float) * H);
    int32_t ids[7 * 2];
    for (int i = 0; i < n * H; i++) x[i] = unif(-1.0f, 1.0f);
    for (int t = 0; t < n; t++) {
        ids[t * k] = (int)(rnd32() % E);
        ids[t * k + 1] = (ids[t * k] + 1 + (int)(rnd32() % (E - 1))) % E;
        wts[t * k] = unif(0.1f, 2.5f);
        wts[t * k + 1] = unif(0.1f, 2.5f);
    }
    float *scr = malloc(sizeof(float) * dsv3_moe_scratch_floats(n, H, I));
    dsv3_moe_args a = {n, k, H, I, x, ids, wts, E, &ex[0].gate, &ex[0].up, &ex[0].down, sizeof ex[0], o1, scr, NULL, NULL};
    ops->moe_experts(b1, &a);
    a.out = o3;
    ops->moe_experts(b3, &a);
    CHECK(!memcmp(o1, o3, sizeof(float) * n * H), "moe %s: 3 threads differ from 1", dsv3_wtype_name(type));
    int same = 1;
    for (int t = 0; t < n; t++) {
        dsv3_moe_args b = a;
        b.n_tok = 1;
        b.x = x + t * H;
        b.ids = ids + t * k;
        b.weights = wts + t * k;
        b.out = ot;
        ops->moe_experts(b1, &b);
        same &= !memcmp(ot, o1 + t * H, sizeof(float) * H);
    }
    CHECK(same, "moe %s: batch differs from token by token", dsv3_wtype_name(type));
    free(x); free(o1); free(o3); free(ot); free(scr);
    for (int i = 0; i < 3 * E; i++) free(tws[i].data);
}

int main(int argc, char **argv) {
    (void)json_ints;
    load_blobs(argc > 1 ? argv[1] : "../shared");
    dsv3_err err = {0, ""};
    ops = dsv3_backend_find("neon", &err);
    CHECK(ops != NULL, "neon backend: %s", err.msg);
    if (!ops) return finish();
    CHECK(dsv3_backend_find("auto", &err) == ops, "auto picks neon");
    dsv3_backend_params p1 = {.n_threads = 1}, p3 = {.n_threads = 3};
    if (ops->init(&p1, &b1, &err) || ops->init(&p3, &b3, &err)) { fprintf(stderr, "FATAL: init: %s\n", err.msg); return 2; }
    have_dot = neon_cpu_dotprod();
    CHECK(neon_dotprod(b1) == have_dot, "the dot-product kernels are chosen iff the CPU has them");
    printf("neon backend; CPU %s the dot-product extension\n", have_dot ? "has" : "lacks");

    static const int64_t rows_list[] = {1, 7, 33};
    static const int n_list[] = {1, 3, 17};
    for (int type = 0; type < DSV3_W_COUNT; type++) {
        const int bs = dsv3_wtype_block(type);
        const int64_t cols_list[3] = {bs == 1 ? 203 : 3 * bs, bs == 1 ? 1027 : 1024, bs == 1 ? 1027 : bs == 32 ? 2080 : 2304};
        for (int ir = 0; ir < 3; ir++)
            for (int ic = 0; ic < (bs == 1 ? 2 : 3); ic++)
                for (int in = 0; in < 3; in++) {
                    const int fine = type == DSV3_W_F8_E4M3 && ic == 1;
                    test_matmul_case(type, rows_list[ir], cols_list[ic], n_list[in], fine ? 5 : 128, fine ? 20 : 128);
                }
    }
    printf("max |error| / sum|w*x| per type (f32-activation path; q8 path of ops->matmul)\n");
    for (int type = 0; type < DSV3_W_COUNT; type++) {
        printf("  %-9s f32 %.2e", dsv3_wtype_name(type), worst[type][0]);
        if (neon_q8_type(type)) printf("   q8 %.2e", worst[type][1]);
        printf("\n");
    }
    static const int moe_types[] = {DSV3_W_BF16, DSV3_W_Q4_0, DSV3_W_Q4_K, DSV3_W_Q6_K, DSV3_W_IQ4_XS};
    for (int i = 0; i < 5; i++) test_moe_batch(moe_types[i]);
    ops->free(b1);
    ops->free(b3);
    for (int t = 0; t < DSV3_W_COUNT; t++) free(blob[t]);
    return finish();
}
