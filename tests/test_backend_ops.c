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
 *   mla_attention  both weight forms, 7 types, 5e-5 of max|out|;
 *   kv cache  (every backend, scalar included) store_kv gives the bytes of
 *            dsv3_quantize_row; mla_attention over an F16/Q8_0 latent cache
 *            gives the bits of the same backend over an f32 cache holding
 *            the dequantized rows (1 and 3 threads);
 *   moe_experts    f32 paths 1e-5 of max|out|; block types 5e-2 of max|out|
 *            (two 8-bit-activation matmuls in series; random signs make
 *            |out| small next to the sum of |terms|).
 *   threads  1 thread and 3 threads give the same bits (memcmp), every op.
 *   batch    for the CPU backends, a matmul of n tokens gives the bits of n
 *            matmuls of one token.
 * Prints the largest error seen per type and op. Usage: test_backend_ops */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "quants/quants.h"
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

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { fprintf(stderr, "FATAL: out of memory\n"); exit(2); }
    return p;
}

/* ---- backends ------------------------------------------------------------ */

typedef struct inst {
    const dsv3_backend_ops *ops;
    dsv3_backend *be;
    int threads;
} inst;

static inst open_inst(const dsv3_backend_ops *ops, int threads) {
    dsv3_backend_params p = {threads};
    dsv3_err e = {0, ""};
    inst in = {ops, NULL, threads};
    if (ops->init(&p, &in.be, &e) != 0) { fprintf(stderr, "FATAL: init %s: %s\n", ops->name, e.msg); exit(2); }
    return in;
}

/* ---- weights ------------------------------------------------------------- */

typedef struct tweight {
    dsv3_weight w;
    uint8_t *data;
    float *scale;
} tweight;

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
    ref->ops->matmul(ref->be, w, x, ys, n);
    const char *name = b1->ops->name;
    for (int pass = 0; pass < 2; pass++) {
        double tol = pass == 0 && uses_q8(type) ? 5e-3 : 1e-5;
        if (pass == 0) {
            b1->ops->matmul(b1->be, w, x, y1, n);
            b3->ops->matmul(b3->be, w, x, y3, n);
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
    if (n > 1 && rows == 33 && strcmp(name, "neon")) {
        b1->ops->matmul(b1->be, w, x, y1, n);
        int same = 1;
        for (int t = 0; t < n; t++) {
            b1->ops->matmul(b1->be, w, x + t * cols, y3, 1);
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
    static const int n_list[] = {1, 3, 17, 64};
    for (int type = 0; type < DSV3_W_COUNT; type++) {
        const int bs = dsv3_wtype_block(type);
        int64_t cols_list[4];
        int nc = 0;
        if (bs == 1) { cols_list[0] = 203; cols_list[1] = 1027; cols_list[2] = 256; cols_list[3] = 8; nc = 4; }
        else if (bs == 32) { cols_list[0] = 32; cols_list[1] = 96; cols_list[2] = 288; nc = 3; }
        else { cols_list[0] = 256; cols_list[1] = 512; cols_list[2] = 1280; nc = 3; }
        for (int ir = 0; ir < 4; ir++)
            for (int ic = 0; ic < nc; ic++)
                for (int in = 0; in < 4; in++) {
                    /* FP8: the real 128x128 blocks (partial at the edges), and a
                     * block width that is not a multiple of 8 */
                    const int br = type == DSV3_W_F8_E4M3 && (ic & 1) ? 5 : 128;
                    const int bc = type == DSV3_W_F8_E4M3 && (ic & 1) ? 20 : 128;
                    test_matmul_case(ref, b1, b3, type, rows_list[ir], cols_list[ic], n_list[in], br, bc);
                }
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
                ref->ops->rmsnorm(ref->be, x, ldx, &g.w, ys, ldy, n, dim, 1e-6f);
                b1->ops->rmsnorm(b1->be, x, ldx, &g.w, y1, ldy, n, dim, 1e-6f);
                b3->ops->rmsnorm(b3->be, x, ldx, &g.w, y3, ldy, n, dim, 1e-6f);
                double e = rel_err(y1, ys, (size_t)(n * ldy), 1e-6);
                if (e > w_norm) w_norm = e;
                CHECK(e <= 1e-5, "%s rmsnorm dim %d gain %s: rel error %.3g > 1e-5", name, dim, dsv3_wtype_name(gtypes[ig]), e);
                CHECK(!memcmp(y1, y3, sizeof(float) * (size_t)(n * ldy)), "%s rmsnorm: threads differ", name);
                /* in place, rows of dim (ld = dim) */
                float *xi = xmalloc(sizeof(float) * (size_t)(n * dim));
                for (int t = 0; t < n; t++) memcpy(xi + t * dim, x + t * ldx, sizeof(float) * (size_t)dim);
                b1->ops->rmsnorm(b1->be, xi, dim, &g.w, xi, dim, n, dim, 1e-6f);
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
                ref->ops->rope(ref->be, xs, n, ld, nh, hs, off, dr, cs, sn);
                b1->ops->rope(b1->be, x1, n, ld, nh, hs, off, dr, cs, sn);
                b3->ops->rope(b3->be, x3, n, ld, nh, hs, off, dr, cs, sn);
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
        ref->ops->swiglu(ref->be, g, u, os, n);
        b1->ops->swiglu(b1->be, g, u, o1, n);
        b3->ops->swiglu(b3->be, g, u, o3, n);
        double e = rel_err(o1, os, n, 1e-37);
        if (e > w_swiglu) w_swiglu = e;
        CHECK(e <= 1e-6, "%s swiglu count %zu: rel error %.3g > 1e-6", name, n, e);
        CHECK(!memcmp(o1, o3, sizeof(float) * n), "%s swiglu: threads differ", name);
        /* in place on g, like forward.c */
        memcpy(o3, g, sizeof(float) * n);
        b1->ops->swiglu(b1->be, o3, u, o3, n);
        CHECK(!memcmp(o1, o3, sizeof(float) * n), "%s swiglu: in place differs", name);
        /* add: exact */
        memcpy(os, u, sizeof(float) * n);
        memcpy(o1, u, sizeof(float) * n);
        ref->ops->add(ref->be, os, g, n);
        b1->ops->add(b1->be, o1, g, n);
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
        ref->ops->embed(ref->be, &tw.w, ids, 5, ys);
        b1->ops->embed(b1->be, &tw.w, ids, 5, y1);
        int same = 1;
        for (int64_t i = 0; i < 5 * cols; i++) same &= ys[i] == y1[i];
        CHECK(same, "%s embed %s: values differ", name, dsv3_wtype_name(type));
        free(ys); free(y1);
        free_weight(&tw);
    }
    printf("  rmsnorm rel %.2e, rope abs %.2e, swiglu rel %.2e, add exact, embed exact (all types)\n", w_norm, w_rope,
           w_swiglu);
}

/* ---- mla_attention ----------------------------------------------------- */

static void test_mla(inst *ref, inst *b1, inst *b3) {
    const char *name = b1->ops->name;
    static const int types[] = {DSV3_W_F32, DSV3_W_BF16, DSV3_W_F16, DSV3_W_F8_E4M3, DSV3_W_Q8_0, DSV3_W_Q4_K, DSV3_W_Q6_K};
    double worst = 0, worst_q8 = 0;
    for (int it = 0; it < 7; it++)
        for (int split = 0; split < 2; split++)
            for (int cfg = 0; cfg < 4; cfg++) {
                const int type = types[it];
                const int q = is_block(type);
                /* block types need block-multiple rows: dn 32 (wk_b), kvl 256 */
                const int nh = 3, dn = q ? 32 : 16, dr = 8, dv = q ? 16 : 24, kvl = q ? 256 : 40;
                const int n_tok = cfg & 1 ? 5 : 1, pos0 = cfg & 2 ? 9 : 0, n_ctx = pos0 + n_tok;
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
                float *scr = xmalloc(sizeof(float) * 3 * dsv3_mla_scratch_floats(n_ctx, kvl));
                dsv3_mla_args a = {n_tok, pos0, nh, dn, dr, dv, kvl, qv, kv, pe,
                                   split ? NULL : &wkvb.w, split ? &wkb.w : NULL, split ? &wvb.w : NULL,
                                   0.3f, os, scr, DSV3_W_F32, 0};
                ref->ops->mla_attention(ref->be, &a);
                a.out = o1;
                b1->ops->mla_attention(b1->be, &a);
                a.out = o3;
                b3->ops->mla_attention(b3->be, &a);
                double mx = 0, e = 0;
                for (size_t i = 0; i < on; i++) mx = fmax(mx, fabs(os[i]));
                for (size_t i = 0; i < on; i++) e = fmax(e, fabs((double)o1[i] - os[i]));
                e /= mx > 0 ? mx : 1;
                /* separate k_b / v_b of a block type may take an integer
                 * path (query and attended latent rounded to two 8-bit
                 * blocks: about 16 bits; the sharp softmax of these random
                 * scores amplifies it ~10x); everything else is f32
                 * arithmetic in another order */
                const double tol = split && q ? 1e-3 : 5e-5;
                double *wp = split && q ? &worst_q8 : &worst;
                if (e > *wp) *wp = e;
                CHECK(e <= tol, "%s mla %s %s n_tok %d pos0 %d: error %.3g max|out| > %g", name, dsv3_wtype_name(type),
                      split ? "k_b/v_b" : "kv_b", n_tok, pos0, e, tol);
                CHECK(!memcmp(o1, o3, sizeof(float) * on), "%s mla %s: 3 threads differ from 1", name, dsv3_wtype_name(type));
                free(qv); free(kv); free(pe); free(os); free(o1); free(o3); free(scr);
                if (split) { free_weight(&wkb); free_weight(&wvb); } else free_weight(&wkvb);
            }
    printf("  mla_attention: max error %.2e of max|out| (f32, bf16, f16, fp8, q8_0, q4_k, q6_k; both forms), "
           "%.2e for block-type k_b/v_b\n", worst, worst_q8);
}

/* ---- quantized latent cache ------------------------------------------------ */

static void test_mla_kv(inst *b1, inst *b3) {
    const char *name = b1->ops->name;
    int n_cases = 0;
    for (int ti = 0; ti < 2; ti++)
        for (int split = 0; split < 2; split++)
            for (int cfg = 0; cfg < 4; cfg++) {
                const int type = ti ? DSV3_W_Q8_0 : DSV3_W_F16;
                /* F16: 45 latent values (vector tails); Q8_0: two blocks */
                const int nh = 3, dn = 16, dr = 8, dv = 24, kvl = ti ? 64 : 45;
                const int n_tok = cfg & 1 ? 5 : 1, pos0 = cfg & 2 ? 10 : 0, n_ctx = pos0 + n_tok;
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
                b1->ops->store_kv(b1->be, type, lat, kvl + 3, kvq, rb, n_ctx, kvl);
                for (int p = 0; p < n_ctx; p++) {
                    dsv3_quantize_row(type, lat + (size_t)p * (kvl + 3), want + (size_t)p * rb, kvl);
                    dsv3_dequantize_row(type, want + (size_t)p * rb, kvf + (size_t)p * kvl, kvl);
                }
                CHECK(!memcmp(kvq, want, rb * (size_t)n_ctx), "%s store_kv %s: bytes differ from dsv3_quantize_row", name,
                      dsv3_wtype_name(type));
                memset(kvq, 0xA5, rb * (size_t)n_ctx);
                for (int p = 0; p < n_ctx; p++)
                    b1->ops->store_kv(b1->be, type, lat + (size_t)p * (kvl + 3), kvl + 3, kvq + (size_t)p * rb, rb, 1, kvl);
                CHECK(!memcmp(kvq, want, rb * (size_t)n_ctx), "%s store_kv %s: row by row differs", name, dsv3_wtype_name(type));
                const size_t on = (size_t)(n_tok * nh * dv);
                float *of = xmalloc(sizeof(float) * on), *o1 = xmalloc(sizeof(float) * on), *o3 = xmalloc(sizeof(float) * on);
                float *scr = xmalloc(sizeof(float) * 3 * dsv3_mla_scratch_floats(n_ctx, kvl));
                dsv3_mla_args a = {n_tok, pos0, nh, dn, dr, dv, kvl, qv, kvf, pe,
                                   split ? NULL : &wkvb.w, split ? &wkb.w : NULL, split ? &wvb.w : NULL,
                                   0.3f, of, scr, DSV3_W_F32, 0};
                b1->ops->mla_attention(b1->be, &a);
                a.kv = (const float *)(const void *)kvq;
                a.kv_type = type;
                a.kv_row_bytes = rb;
                a.out = o1;
                b1->ops->mla_attention(b1->be, &a);
                a.out = o3;
                b3->ops->mla_attention(b3->be, &a);
                CHECK(!memcmp(of, o1, sizeof(float) * on), "%s mla %s cache %s n_tok %d pos0 %d: differs from the f32 cache of its values",
                      name, dsv3_wtype_name(type), split ? "k_b/v_b" : "kv_b", n_tok, pos0);
                CHECK(!memcmp(o1, o3, sizeof(float) * on), "%s mla %s cache: 3 threads differ from 1", name, dsv3_wtype_name(type));
                n_cases++;
                free(qv); free(lat); free(kvf); free(pe); free(kvq); free(want); free(of); free(o1); free(o3); free(scr);
                if (split) { free_weight(&wkb); free_weight(&wvb); } else free_weight(&wkvb);
            }
    printf("  kv cache (%s): store_kv and mla_attention over F16/Q8_0 latents, %d cases\n", name, n_cases);
}

/* ---- moe_experts --------------------------------------------------------- */

static void test_moe(inst *ref, inst *b1, inst *b3) {
    const char *name = b1->ops->name;
    static const int types[] = {DSV3_W_F32, DSV3_W_BF16, DSV3_W_F8_E4M3, DSV3_W_Q8_0, DSV3_W_Q4_K, DSV3_W_Q6_K, DSV3_W_IQ2_XS};
    static const int toks[] = {1, 7, 64};
    for (int it = 0; it < 7; it++) {
        const int type = types[it];
        const int E = 6, k = 3, H = 256, I = dsv3_wtype_block(type) == 256 ? 256 : 96;
        tweight gate[6], up[6], down[6];
        struct { dsv3_weight gate, up, down; } ex[6];
        for (int e = 0; e < E; e++) {
            gate[e] = make_weight(type, I, H, 128, 128);
            up[e] = make_weight(type, I, H, 128, 128);
            down[e] = make_weight(type, H, I, 128, 128);
            ex[e].gate = gate[e].w;
            ex[e].up = up[e].w;
            ex[e].down = down[e].w;
        }
        double worst = 0;
        for (int in = 0; in < 3; in++) {
            const int n = toks[in];
            float *x = xmalloc(sizeof(float) * (size_t)(n * H));
            fill(x, (size_t)(n * H), -1.0f, 1.0f);
            int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(n * k));
            float *wts = xmalloc(sizeof(float) * (size_t)(n * k));
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
            float *os = xmalloc(sizeof(float) * (size_t)(n * H)), *o1 = xmalloc(sizeof(float) * (size_t)(n * H)),
                  *o3 = xmalloc(sizeof(float) * (size_t)(n * H));
            float *scr = xmalloc(sizeof(float) * dsv3_moe_scratch_floats(n > k ? n : k, H, I));
            dsv3_moe_args a = {n, k, H, I, x, ids, wts, E, &ex[0].gate, &ex[0].up, &ex[0].down, sizeof ex[0], os, scr};
            ref->ops->moe_experts(ref->be, &a);
            a.out = o1;
            b1->ops->moe_experts(b1->be, &a);
            a.out = o3;
            b3->ops->moe_experts(b3->be, &a);
            double mx = 0, e = 0;
            for (int i = 0; i < n * H; i++) mx = fmax(mx, fabs(os[i]));
            for (int i = 0; i < n * H; i++) e = fmax(e, fabs((double)o1[i] - os[i]));
            e /= mx > 0 ? mx : 1;
            if (e > worst) worst = e;
            /* block types: two matmuls with 8-bit activations in series */
            const double tol = is_block(type) ? 5e-2 : 1e-5;
            CHECK(e <= tol, "%s moe %s n %d: error %.3g max|out| > %.3g", name, dsv3_wtype_name(type), n, e, tol);
            CHECK(!memcmp(o1, o3, sizeof(float) * (size_t)(n * H)), "%s moe %s n %d: 3 threads differ from 1", name,
                  dsv3_wtype_name(type), n);
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
                    b1->ops->moe_experts(b1->be, &b);
                    same &= !memcmp(o3, o1 + t * H, sizeof(float) * (size_t)H);
                }
                CHECK(same, "%s moe %s n %d: batch differs from token by token", name, dsv3_wtype_name(type), n);
            }
            free(x); free(ids); free(wts); free(os); free(o1); free(o3); free(scr);
        }
        printf("  moe_experts %-8s max error %.2e of max|out|\n", dsv3_wtype_name(type), worst);
        for (int e = 0; e < E; e++) { free_weight(&gate[e]); free_weight(&up[e]); free_weight(&down[e]); }
    }
}

/* avx512 is avx2's drivers with wider kernels that keep every operation:
 * matmul and routed experts give the same bits on both. */
static void test_avx512_same_as_avx2(void) {
    dsv3_err err = {0, ""};
    const dsv3_backend_ops *o2 = dsv3_backend_find("avx2", &err), *o5 = dsv3_backend_find("avx512", &err);
    if (!o2 || !o5) return; /* not compiled in, or this CPU cannot run one */
    inst a = open_inst(o2, 2), b = open_inst(o5, 2);
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
            o2->matmul(a.be, &tw.w, x, y2, n);
            o5->matmul(b.be, &tw.w, x, y5, n);
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

int main(void) {
    dsv3_err err = {0, ""};
    const dsv3_backend_ops *scalar = dsv3_backend_find("scalar", &err);
    if (!scalar) { fprintf(stderr, "FATAL: no scalar backend\n"); return 2; }
    inst ref = open_inst(scalar, 1);
    int tested = 0;
    for (int i = 0; i < dsv3_backend_count(); i++) {
        const dsv3_backend_ops *ops = dsv3_backend_at(i);
        if (!strcmp(ops->name, "scalar")) continue;
        if (!ops->available()) {
            printf("backend %s: compiled in, not available on this CPU (skipped)\n", ops->name);
            continue;
        }
        printf("backend %s vs scalar\n", ops->name);
        rng = 0x9E3779B97F4A7C15ull; /* every backend meets the same inputs */
        inst b1 = open_inst(ops, 1), b3 = open_inst(ops, 3);
        test_matmul(&ref, &b1, &b3);
        test_elementwise(&ref, &b1, &b3);
        test_mla(&ref, &b1, &b3);
        test_mla_kv(&b1, &b3);
        test_moe(&ref, &b1, &b3);
        ops->free(b1.be);
        ops->free(b3.be);
        tested++;
    }
    /* the scalar backend itself: threads and batch properties */
    {
        inst s3 = open_inst(scalar, 3);
        tweight tw = make_weight(DSV3_W_BF16, 33, 203, 1, 1);
        float x[17 * 203], y1[17 * 33], y3[17 * 33];
        fill(x, 17 * 203, -1.0f, 1.0f);
        scalar->matmul(ref.be, &tw.w, x, y1, 17);
        scalar->matmul(s3.be, &tw.w, x, y3, 17);
        CHECK(!memcmp(y1, y3, sizeof y1), "scalar matmul: 3 threads differ from 1");
        free_weight(&tw);
        test_mla_kv(&ref, &s3);
        scalar->free(s3.be);
    }
    test_avx512_same_as_avx2();
    if (!tested) printf("no backend besides scalar is available here\n");
    scalar->free(ref.be);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
