/* test_mtp_draft.c -- the int8 draft head of speculative decoding
 * (lib/mtp_draft.c), on synthetic weights:
 *   - the rounding: every weight is within half a step (scale / 2) of
 *     q * scale, and each row's largest |q| is 127;
 *   - the ranking: dsv3_draft_head_argmax returns exactly the row with the
 *     highest q . xq * scale of a plain integer loop written here (the
 *     first on ties), for row counts and widths that are and are not
 *     multiples of the vector steps, through lib/'s reference loop (no
 *     backend) and through the rank_i8 op of every available CPU backend
 *     (avx2's kernel where the CPU has it);
 *   - the draft is close to the exact head's choice: its exact score is at
 *     most the sum of the two rows' rounding-error bounds below the exact
 *     maximum (|w.x - q.xq*sw*sx| <= sx/2 |w|_1 + sw/2 |xq*sx|_1);
 *   - weights it does not take (Q8_0, above DSV3_DRAFT_HEAD_MAX_BYTES) are
 *     refused, and a zero or NaN hidden state gives token 0.
 * Exact comparisons except the stated bound. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp_draft.h"

/* The CPU backends available here (rank_i8 takes host arrays), and NULL:
 * the reference loop. */
#define MAX_BE 8
static const dsv3_backend_ops *be_ops[MAX_BE];
static dsv3_backend *be_inst[MAX_BE];
static int n_be;

static void open_backends(void) {
    be_ops[n_be++] = NULL;
    for (int i = 0; i < dsv3_backend_count() && n_be < MAX_BE; i++) {
        const dsv3_backend_ops *o = dsv3_backend_at(i);
        if (!o->available() || (o->version >= DSV3_BACKEND_V3 && o->load_done)) continue; /* a device */
        dsv3_backend_params p;
        memset(&p, 0, sizeof p);
        p.n_threads = 1;
        dsv3_err e = {0, ""};
        dsv3_backend *b = NULL;
        if (o->init(&p, &b, &e) != 0) continue;
        be_ops[n_be] = o;
        be_inst[n_be++] = b;
    }
}

static int failures;
#define CHECK(c, ...)                           \
    do {                                        \
        if (!(c)) {                             \
            failures++;                         \
            fprintf(stderr, "FAIL: " __VA_ARGS__); \
            fputc('\n', stderr);                \
        }                                       \
    } while (0)

static uint64_t rng = 88172645463325252ull;
static double uniform(void) { /* xorshift64, [0, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static uint16_t to_bf16(float f) { /* truncation: any value is fine here */
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* One head of rows x cols, stored as F32 or BF16; exact values in wf. */
static void check_shape(int type, int rows, int cols) {
    const size_t n = (size_t)rows * (size_t)cols;
    float *wf = malloc(sizeof(float) * n);
    void *data = malloc(type == DSV3_W_F32 ? 4 * n : 2 * n);
    float *x = malloc(sizeof(float) * (size_t)cols);
    if (!wf || !data || !x) { CHECK(0, "out of memory"); return; }
    for (size_t i = 0; i < n; i++) {
        float v = (float)(uniform() * 2 - 1) * (float)(1 + (i / (size_t)cols) % 5);
        if (type == DSV3_W_BF16) {
            ((uint16_t *)data)[i] = to_bf16(v);
            v = from_bf16(((uint16_t *)data)[i]);
        } else {
            ((float *)data)[i] = v;
        }
        wf[i] = v;
    }
    dsv3_weight w;
    memset(&w, 0, sizeof w);
    w.type = type;
    w.rows = rows;
    w.cols = cols;
    w.data = data;
    w.row_stride = (type == DSV3_W_F32 ? 4 : 2) * (size_t)cols;
    dsv3_draft_head d;
    CHECK(dsv3_draft_head_init(&d, &w) == 1, "type %d %dx%d: not made", type, rows, cols);
    if (!d.q) goto done;
    for (int r = 0; r < rows; r++) {
        int mx = 0;
        for (int c = 0; c < cols; c++) {
            const size_t i = (size_t)r * (size_t)cols + (size_t)c;
            const int q = d.q[i] < 0 ? -d.q[i] : d.q[i];
            if (q > mx) mx = q;
            CHECK(fabsf(wf[i] - (float)d.q[i] * d.scale[r]) <= d.scale[r] * 0.5f * (1 + 1e-5f),
                  "row %d col %d: %g rounds to %d * %g", r, c, (double)wf[i], d.q[i], (double)d.scale[r]);
        }
        CHECK(mx == 127, "row %d: largest |q| %d, not 127", r, mx);
    }
    for (int trial = 0; trial < 20; trial++) {
        for (int c = 0; c < cols; c++) x[c] = (float)(uniform() * 2 - 1);
        memcpy(d.x, x, sizeof(float) * (size_t)cols);
        const int32_t got = dsv3_draft_head_argmax(&d, NULL, NULL);
        /* the same integers, the same order of rows */
        float sx = 0;
        for (int c = 0; c < cols; c++) sx = fabsf(x[c]) > sx ? fabsf(x[c]) : sx;
        sx /= 127.0f;
        int32_t want = 0;
        float best = -INFINITY;
        double exact_max = -INFINITY, exact_got = 0, bound_max = 0, bound_got = 0, xq1 = 0;
        for (int c = 0; c < cols; c++) xq1 += fabs((double)d.xq[c] * sx);
        for (int r = 0; r < rows; r++) {
            int32_t acc = 0;
            double e = 0, w1 = 0;
            for (int c = 0; c < cols; c++) {
                const size_t i = (size_t)r * (size_t)cols + (size_t)c;
                acc += (int32_t)d.q[i] * (int32_t)d.xq[c];
                e += (double)wf[i] * x[c];
                w1 += fabs(wf[i]);
            }
            const float v = (float)acc * d.scale[r];
            if (v > best) { best = v; want = r; }
            const double bound = sx / 2 * w1 + d.scale[r] / 2 * xq1;
            if (e > exact_max) { exact_max = e; bound_max = bound; }
            if (r == got) { exact_got = e; bound_got = bound; }
        }
        CHECK(got == want, "type %d %dx%d trial %d: argmax %d, the integer scores' is %d", type, rows, cols, trial,
              (int)got, (int)want);
        for (int b = 1; b < n_be; b++) {
            const int32_t gb = dsv3_draft_head_argmax(&d, be_ops[b], be_inst[b]);
            CHECK(gb == want, "%s: type %d %dx%d trial %d: argmax %d, the integer scores' is %d", be_ops[b]->name, type,
                  rows, cols, trial, (int)gb, (int)want);
        }
        CHECK(exact_got >= exact_max - bound_max - bound_got - 1e-4 * fabs(exact_max),
              "type %d %dx%d trial %d: draft's exact score %g, best %g, bounds %g + %g", type, rows, cols, trial,
              exact_got, exact_max, bound_max, bound_got);
    }
    /* no usable value: token 0 */
    for (int b = 0; b < n_be; b++) {
        for (int c = 0; c < cols; c++) d.x[c] = 0;
        CHECK(dsv3_draft_head_argmax(&d, be_ops[b], be_inst[b]) == 0, "zero hidden state: not token 0");
        for (int c = 0; c < cols; c++) d.x[c] = NAN;
        CHECK(dsv3_draft_head_argmax(&d, be_ops[b], be_inst[b]) == 0, "NaN hidden state: not token 0");
    }
    dsv3_draft_head_free(&d);
done:
    free(wf);
    free(data);
    free(x);
}

int main(void) {
    open_backends();
    check_shape(DSV3_W_BF16, 4096, 192); /* the demo model's MTP head */
    check_shape(DSV3_W_F32, 1027, 200);  /* rows and a tail past the steps */
    check_shape(DSV3_W_BF16, 3, 31);     /* fewer rows than a step */
    check_shape(DSV3_W_F32, 130, 64);

    dsv3_weight w;
    memset(&w, 0, sizeof w);
    dsv3_draft_head d;
    static const unsigned char blocks[34 * 8];
    w.type = DSV3_W_Q8_0;
    w.rows = 8;
    w.cols = 32;
    w.data = blocks;
    w.row_stride = 34;
    CHECK(dsv3_draft_head_init(&d, &w) == 0 && !d.q, "a Q8_0 head was taken");
    w.type = DSV3_W_BF16;
    w.rows = 1 << 20;
    w.cols = 4096; /* 4 GiB of int8: refused before anything is read */
    CHECK(dsv3_draft_head_init(&d, &w) == 0 && !d.q, "a head above DSV3_DRAFT_HEAD_MAX_BYTES was taken");
    for (int b = 1; b < n_be; b++) be_ops[b]->free(be_inst[b]);
    if (failures) fprintf(stderr, "%d failures\n", failures);
    else {
        printf("mtp_draft: ok (reference loop");
        for (int b = 1; b < n_be; b++) printf(", %s", be_ops[b]->name);
        printf(")\n");
    }
    return failures ? 1 : 0;
}
