/* test_vk_attention.c -- the Vulkan backend's KV cache write and MLA
 * attention against the CPU, for every case test_backend_ops does not
 * reach:
 *
 *   store_kv       F16 and Q8_0 rows hold exactly the bytes of
 *                  dsv3_quantize_row, also for NaN, +-inf, values beyond
 *                  the f16 range, f32 subnormals and a block of them;
 *   mla_attention  every stored weight type (the 23 of enum dsv3_wtype:
 *                  one shader variant per family) in both forms (kv_b;
 *                  k_b + v_b) against the scalar backend, 5e-5 of max|out|
 *                  (f32 sums in another order); over two chunks of
 *                  positions (pos0 140, the shader's chunk is 128);
 *                  F16/Q8_0 caches give the bits of an f32 cache holding
 *                  the dequantized rows; a batch of 3 tokens gives the bits
 *                  of the tokens one by one; weights left on the host run
 *                  on the CPU helper; a Q8_0 k_b beside a v_b of every
 *                  256-block family, and an IQ4_NL k_b beside IQ1-IQ3 (as
 *                  GGUF files store attn_k_b / attn_v_b) run on the
 *                  device: within 5e-6 of max|out| (f32 throughout, so
 *                  only the summation order differs: 2.3e-6 at most on
 *                  lavapipe), which the CPU helper's 8-bit activations
 *                  would miss (0.85e-5 .. 4.9e-5 on these inputs).
 *
 * Shapes are small (lavapipe runs shaders on the CPU). Exits 77 (skipped)
 * when the Vulkan backend cannot run here, unless DSV3_REQUIRE_BACKEND is
 * "vulkan". I-quant weights are random valid blocks (random bytes, the f16
 * scale set to a small power of two), the others quantized random values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/kv.h"
#include "dsv3.h"
#include "quants/quants.h"

extern const dsv3_backend_ops dsv3_backend_vulkan;
static const dsv3_backend_ops *V = &dsv3_backend_vulkan, *S = &dsv3_backend_scalar;
static dsv3_backend *vb, *sb;
static int failures;

#define CHECK(c, ...)                                                                                          \
    do {                                                                                                       \
        if (!(c)) {                                                                                            \
            printf("FAIL: " __VA_ARGS__);                                                                      \
            printf("\n");                                                                                      \
            failures++;                                                                                        \
        }                                                                                                      \
    } while (0)

static void *xmalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        printf("out of memory\n");
        exit(1);
    }
    return p;
}

static float frand(void) { return (float)rand() / (float)RAND_MAX * 2.0f - 1.0f; }

static void status_ok(const char *what) {
    dsv3_err e = {0};
    int rc = V->status(vb, &e);
    CHECK(rc == DSV3_OK, "%s: status %d: %s", what, rc, e.msg);
}

/* Device copy of host data (NULL: zeroed). */
static void *dev(const void *h, size_t bytes) {
    void *d = V->alloc(vb, bytes);
    if (!d) {
        printf("vulkan alloc of %zu bytes failed\n", bytes);
        exit(1);
    }
    if (h) V->from_host(vb, d, h, bytes);
    return d;
}

/* ---- store_kv ---------------------------------------------------------- */

static void test_store_kv(int type, int kvl, int n) {
    const int ldx = kvl + 7;
    float *x = xmalloc(sizeof(float) * (size_t)(n * ldx));
    for (int i = 0; i < n * ldx; i++) {
        x[i] = frand() * ldexpf(1.0f, rand() % 60 - 40);
        if (i % 97 == 3) x[i] = 0.0f;
        if (i % 131 == 5) x[i] = i % 2 ? INFINITY : -INFINITY;
        if (i % 157 == 9) x[i] = NAN;
        if (i % 173 == 1) x[i] = 1e-40f;  /* an f32 subnormal */
        if (i % 191 == 2) x[i] = 70000.0f; /* past the f16 range */
    }
    for (int i = 0; i < 32; i++) x[64 + i] = -1e-39f * (float)(i + 1); /* a block of subnormals */
    const size_t rb = dsv3_kv_row_bytes(type, kvl);
    unsigned char *ref = xmalloc(rb * (size_t)n), *got = xmalloc(rb * (size_t)n);
    dsv3_cpu_store_kv(NULL, type, x, ldx, ref, rb, n, kvl);
    float *dx = dev(x, sizeof(float) * (size_t)(n * ldx));
    void *dd = dev(NULL, rb * (size_t)n);
    V->store_kv(vb, type, dx, ldx, dd, rb, n, kvl);
    V->to_host(vb, got, dd, rb * (size_t)n);
    status_ok("store_kv");
    size_t bad = 0;
    for (size_t i = 0; i < rb * (size_t)n; i++) bad += ref[i] != got[i];
    CHECK(bad == 0, "store_kv %s kvl %d: %zu bytes differ from dsv3_quantize_row", dsv3_wtype_name(type), kvl, bad);
    V->release(vb, dx);
    V->release(vb, dd);
    free(x);
    free(ref);
    free(got);
}

/* ---- mla_attention ----------------------------------------------------- */

static void make_weight(dsv3_weight *w, int type, int rows, int cols, int on_device) {
    memset(w, 0, sizeof *w);
    w->type = type;
    w->rows = rows;
    w->cols = cols;
    w->role = DSV3_ROLE_ATTN;
    if (type == DSV3_W_F8_E4M3) { /* 5 x 7 scale blocks: partial edge blocks */
        uint8_t *d = xmalloc((size_t)rows * (size_t)cols);
        for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) {
            uint8_t v = (uint8_t)(rand() & 255);
            d[i] = (v & 0x7f) == 0x7f ? 0x3c : v; /* no NaN */
        }
        w->row_stride = (size_t)cols;
        w->block_r = 5;
        w->block_c = 7;
        w->scale_cols = (cols + 6) / 7;
        const int ns = (rows + 4) / 5 * (int)w->scale_cols;
        float *s = xmalloc(sizeof(float) * (size_t)ns);
        for (int i = 0; i < ns; i++) s[i] = 0.01f * (1.0f + frand());
        w->scale = s;
        w->data = d;
    } else {
        const size_t rb = dsv3_wtype_row_bytes(type, cols), bb = dsv3_wtype_block_bytes(type);
        w->row_stride = rb + 16; /* padded rows */
        uint8_t *d = xmalloc((size_t)rows * w->row_stride);
        float *f = xmalloc(sizeof(float) * (size_t)cols);
        for (int r = 0; r < rows; r++) {
            uint8_t *row = d + (size_t)r * w->row_stride;
            if (dsv3_quantize_supported(type)) {
                for (int c = 0; c < cols; c++) f[c] = 0.3f * frand();
                dsv3_quantize_row(type, f, row, cols);
                continue;
            }
            for (size_t b = 0; b < rb / bb; b++) {
                uint8_t *blk = row + b * bb;
                for (size_t i = 0; i < bb; i++) blk[i] = (uint8_t)(rand() & 255);
                if (type == DSV3_W_IQ1_M) { /* d is spread over the top nibbles of the 4 scale words */
                    for (int k = 0; k < 4; k++)
                        blk[49 + 2 * k] = (uint8_t)((blk[49 + 2 * k] & 0x0f) | ((k == 3 ? 0x1 : k == 2 ? 0xc : 0) << 4));
                } else { /* the f16 d leads every other i-quant block: 2^-7 .. 2^-5 */
                    blk[0] = 0x00;
                    blk[1] = (uint8_t)(0x20 | (rand() & 3));
                }
            }
        }
        free(f);
        w->data = d;
    }
    if (on_device) {
        dsv3_err e = {0};
        int rc = V->upload_weight(vb, w, &e);
        if (rc == DSV3_OK) rc = V->load_done(vb, &e);
        CHECK(rc == DSV3_OK && w->device, "upload of a %s weight: %s", dsv3_wtype_name(type), e.msg);
    }
}

static void free_weight(dsv3_weight *w) {
    free((void *)w->data);
    free((void *)w->scale);
}

/* One attention call on a backend: host buffers for scalar, device copies
 * for vulkan. */
static void run_mla(int on_vulkan, const dsv3_mla_args *a, const float *q, const void *kv, size_t kv_bytes,
                    const float *pe, float *out) {
    const int n_pos = a->pos0 + a->n_tok;
    const size_t qn = (size_t)a->n_tok * (size_t)a->n_heads * (size_t)(a->dn + a->dr),
                 on = (size_t)a->n_tok * (size_t)a->n_heads * (size_t)a->dv,
                 sbytes = sizeof(float) * 4 * dsv3_mla_scratch_floats(n_pos, a->kvl);
    dsv3_mla_args d = *a;
    if (!on_vulkan) {
        d.q = q;
        d.kv = kv;
        d.pe = pe;
        d.out = out;
        d.scratch = xmalloc(sbytes);
        S->mla_attention(sb, &d);
        free(d.scratch);
        return;
    }
    float *dq = dev(q, sizeof(float) * qn), *dkv = dev(kv, kv_bytes),
          *dpe = dev(pe, sizeof(float) * (size_t)n_pos * (size_t)a->dr), *dout = dev(NULL, sizeof(float) * on),
          *ds = dev(NULL, sbytes);
    d.q = dq;
    d.kv = dkv;
    d.pe = dpe;
    d.out = dout;
    d.scratch = ds;
    V->mla_attention(vb, &d);
    V->to_host(vb, out, dout, sizeof(float) * on);
    status_ok("mla_attention");
    V->release(vb, dq);
    V->release(vb, dkv);
    V->release(vb, dpe);
    V->release(vb, dout);
    V->release(vb, ds);
}

/* kv_b form: rows of kvl columns; k_b form: key rows of dn columns (k_b
 * of ktype, v_b of type). Block types need columns of whole blocks, so dn
 * and kvl follow the block. */
static void test_mla_pair(int ktype, int type, int split, int kv_type, int on_device) {
    const int bs = dsv3_wtype_block(type), kbs = dsv3_wtype_block(ktype);
    dsv3_mla_args a;
    memset(&a, 0, sizeof a);
    a.n_tok = 3;
    a.pos0 = 140;
    a.n_heads = 3;
    a.dn = split && kbs > 16 ? kbs : 16;
    a.dr = 8;
    a.dv = 12;
    a.kvl = bs > 64 ? bs : 64;
    a.scale = 0.15f;
    a.kv_type = kv_type;
    a.kv_row_bytes = dsv3_kv_row_bytes(kv_type, a.kvl);
    const int n_pos = a.pos0 + a.n_tok;
    dsv3_weight wkv, wk, wv;
    if (split) {
        make_weight(&wk, ktype, a.n_heads * a.kvl, a.dn, on_device);
        make_weight(&wv, type, a.n_heads * a.dv, a.kvl, on_device);
        a.wk_b = &wk;
        a.wv_b = &wv;
    } else {
        make_weight(&wkv, type, a.n_heads * (a.dn + a.dv), a.kvl, on_device);
        a.wkv_b = &wkv;
    }
    const size_t qn = (size_t)a.n_tok * (size_t)a.n_heads * (size_t)(a.dn + a.dr),
                 on = (size_t)a.n_tok * (size_t)a.n_heads * (size_t)a.dv;
    const size_t rb = kv_type == DSV3_W_F32 ? sizeof(float) * (size_t)a.kvl : a.kv_row_bytes;
    float *q = xmalloc(sizeof(float) * qn), *pe = xmalloc(sizeof(float) * (size_t)(n_pos * a.dr)),
          *lat = xmalloc(sizeof(float) * (size_t)(n_pos * a.kvl)), *deq = xmalloc(sizeof(float) * (size_t)(n_pos * a.kvl));
    unsigned char *kv = xmalloc(rb * (size_t)n_pos);
    for (size_t i = 0; i < qn; i++) q[i] = frand();
    for (int i = 0; i < n_pos * a.dr; i++) pe[i] = frand();
    for (int i = 0; i < n_pos * a.kvl; i++) lat[i] = frand();
    for (int p = 0; p < n_pos; p++) {
        dsv3_quantize_row(kv_type, lat + (size_t)p * (size_t)a.kvl, kv + (size_t)p * rb, a.kvl);
        dsv3_dequantize_row(kv_type, kv + (size_t)p * rb, deq + (size_t)p * (size_t)a.kvl, a.kvl);
    }
    float *ref = xmalloc(sizeof(float) * on), *got = xmalloc(sizeof(float) * on), *alt = xmalloc(sizeof(float) * on);
    run_mla(0, &a, q, kv, rb * (size_t)n_pos, pe, ref);
    run_mla(1, &a, q, kv, rb * (size_t)n_pos, pe, got);
    double err = 0.0, amax = 0.0;
    for (size_t i = 0; i < on; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= err)) err = d; /* NaN propagates */
        if (fabs(ref[i]) > amax) amax = fabs(ref[i]);
    }
    char form[40];
    snprintf(form, sizeof form, "%s", split ? "k_b/v_b" : "kv_b");
    if (split && ktype != type) snprintf(form, sizeof form, "k_b %s/v_b", dsv3_wtype_name(ktype));
    const double tol = split && ktype != type ? 5e-6 : 5e-5;
    CHECK(err <= tol * amax, "mla %s %s cache %s: error %.3g > %g of max|out| %.3g", dsv3_wtype_name(type), form,
          dsv3_wtype_name(kv_type), err, tol, amax);
    if (kv_type != DSV3_W_F32) {
        dsv3_mla_args f = a;
        f.kv_type = DSV3_W_F32;
        f.kv_row_bytes = 0;
        run_mla(1, &f, q, deq, sizeof(float) * (size_t)(n_pos * a.kvl), pe, alt);
        CHECK(!memcmp(got, alt, sizeof(float) * on), "mla %s %s: the %s cache differs from f32 of its values",
              dsv3_wtype_name(type), form, dsv3_wtype_name(kv_type));
    }
    const size_t qs = (size_t)a.n_heads * (size_t)(a.dn + a.dr), os = (size_t)a.n_heads * (size_t)a.dv;
    for (int t = 0; t < a.n_tok; t++) {
        dsv3_mla_args one = a;
        one.n_tok = 1;
        one.pos0 = a.pos0 + t;
        run_mla(1, &one, q + (size_t)t * qs, kv, rb * (size_t)n_pos, pe, alt + (size_t)t * os);
    }
    CHECK(!memcmp(got, alt, sizeof(float) * on), "mla %s %s cache %s: a batch differs from token by token",
          dsv3_wtype_name(type), form, dsv3_wtype_name(kv_type));
    printf("mla %-8s %-13s cache %-5s weights on %s: error %.2e of max|out|\n", dsv3_wtype_name(type), form,
           dsv3_wtype_name(kv_type), on_device ? "device" : "host", err / amax);
    if (split) {
        free_weight(&wk);
        free_weight(&wv);
    } else {
        free_weight(&wkv);
    }
    free(q);
    free(pe);
    free(lat);
    free(deq);
    free(kv);
    free(ref);
    free(got);
    free(alt);
}

static void test_mla(int type, int split, int kv_type, int on_device) {
    test_mla_pair(type, type, split, kv_type, on_device);
}

int main(void) {
    const char *req = getenv("DSV3_REQUIRE_BACKEND");
    if (!V->available()) {
        char why[1024];
        V->describe(why, sizeof why);
        printf("SKIP: the Vulkan backend cannot run here: %s\n", why);
        return req && !strcmp(req, "vulkan") ? 1 : 77;
    }
    dsv3_err e = {0};
    dsv3_backend_params p = {.n_threads = 2};
    if (V->init(&p, &vb, &e) != DSV3_OK || S->init(&p, &sb, &e) != DSV3_OK) {
        printf("FAIL: init: %s\n", e.msg);
        return 1;
    }
    srand(7);
    test_store_kv(DSV3_W_F16, 96, 5);
    test_store_kv(DSV3_W_Q8_0, 96, 5);
    test_store_kv(DSV3_W_Q8_0, 512, 3);
    for (int type = 0; type < DSV3_W_COUNT; type++)
        for (int split = 0; split < 2; split++) test_mla(type, split, DSV3_W_F32, 1);
    test_mla(DSV3_W_F32, 0, DSV3_W_F16, 1);
    test_mla(DSV3_W_BF16, 0, DSV3_W_Q8_0, 1);
    test_mla(DSV3_W_Q8_0, 1, DSV3_W_Q8_0, 1);
    test_mla(DSV3_W_Q4_K, 1, DSV3_W_F16, 1);
    test_mla(DSV3_W_F16, 0, DSV3_W_Q8_0, 0); /* weights on the host: the CPU helper */
    /* GGUF's attn_k_b of a 32-block type beside attn_v_b of a 256-block
     * family: Q8_0 beside k-quant / IQ1-IQ4, IQ4_NL beside IQ1-IQ3 (the
     * i-quant mixes) */
    static const int v_types[] = {DSV3_W_Q4_K, DSV3_W_IQ4_XS, DSV3_W_IQ1_S, DSV3_W_IQ1_M, DSV3_W_IQ2_XXS,
                                  DSV3_W_IQ2_XS, DSV3_W_IQ2_S, DSV3_W_IQ3_XXS, DSV3_W_IQ3_S};
    for (size_t i = 0; i < sizeof v_types / sizeof v_types[0]; i++) {
        test_mla_pair(DSV3_W_Q8_0, v_types[i], 1, DSV3_W_F32, 1);
        if (i >= 2) test_mla_pair(DSV3_W_IQ4_NL, v_types[i], 1, DSV3_W_F32, 1);
    }
    V->free(vb);
    S->free(sb);
    printf("%s\n", failures ? "FAILED" : "OK");
    return failures ? 1 : 0;
}
