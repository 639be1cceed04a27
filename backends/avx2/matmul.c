/* matmul.c -- the threaded matmul op: path choice, activation rounding for
 * the integer path, and the split of rows over the pool.
 *
 * Every thread owns one contiguous range of output rows (of all parts of
 * a job, concatenated) for every token, so it streams a disjoint slice of
 * the weights, and each output is computed by one thread with the same
 * arithmetic whatever the thread count. */
/* Only with the flags that CMake gives this directory (-mavx2 -mfma -mf16c);
 * without them the file is empty and the backend is not registered. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <string.h>

#include "avx2.h"

/* Below this many multiply-adds a job runs on the calling thread: waking
 * the pool would cost more than it saves. */
#define MIN_PARALLEL_MACS 32768

void avx2_mm_rows(const avx2_mm *m, int64_t r0, int64_t r1) {
    if (r0 >= r1 || m->n <= 0) return;
    if (m->xq) (m->q8 ? m->q8 : avx2_rows_q8)(m->w, r0, r1, m->xq, m->n, m->y + r0, m->ldy);
    else if (m->fp8s) m->fp8s(m->w, r0, r1, m->x, m->n, m->y + r0, m->ldy);
    else avx2_rows_f32(m->w, r0, r1, m->x, m->n, m->y + r0, m->ldy);
}

typedef struct mm_job {
    const avx2_mm *parts;
    int n_parts;
    int64_t total;
} mm_job;

static void mm_part(void *ctx, int ith, int nth) {
    const mm_job *j = ctx;
    long b, e;
    dsv3_split8((long)j->total, ith, nth, &b, &e);
    int64_t base = 0;
    for (int i = 0; i < j->n_parts; i++) {
        const int64_t rows = j->parts[i].w->rows;
        int64_t lo = b > base ? b - base : 0, hi = e - base < rows ? e - base : rows;
        if (lo < hi) avx2_mm_rows(&j->parts[i], lo, hi);
        base += rows;
    }
}

void avx2_mm_run(dsv3_backend *be, const avx2_mm *parts, int n_parts) {
    mm_job j = {parts, n_parts, 0};
    double macs = 0;
    for (int i = 0; i < n_parts; i++) {
        j.total += parts[i].w->rows;
        macs += (double)parts[i].w->rows * (double)parts[i].w->cols * parts[i].n;
    }
    if (macs < MIN_PARALLEL_MACS) mm_part(&j, 0, 1);
    else dsv3_pool_run(avx2_pool(be), mm_part, &j);
}

/* ---- activation rounding, split over token rows ------------------------- */

typedef struct q_job {
    int type;
    const float *x;
    int64_t cols;
    int n;
    uint8_t *dst;
    size_t row_bytes;
} q_job;

static void q_part(void *ctx, int ith, int nth) {
    const q_job *j = ctx;
    long b, e;
    dsv3_split(j->n, ith, nth, &b, &e);
    for (long t = b; t < e; t++)
        avx2_q8_quantize(j->type, j->x + (size_t)t * (size_t)j->cols, j->cols, j->dst + (size_t)t * j->row_bytes);
}

void avx2_matmul_act(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n, int act) {
    if (n <= 0 || w->rows <= 0) return;
    const float *xr[DSV3_MAX_UBATCH];
    const void *xq[DSV3_MAX_UBATCH];
    const size_t qb = act == AVX2_ACT_AUTO ? avx2_q8_row_bytes(w->type, w->cols) : 0;
    for (int t0 = 0; t0 < n; t0 += DSV3_MAX_UBATCH) {
        const int nt = n - t0 < DSV3_MAX_UBATCH ? n - t0 : DSV3_MAX_UBATCH;
        const float *xt = x + (size_t)t0 * (size_t)w->cols;
        avx2_mm m = {w, xr, NULL, nt, y + (size_t)t0 * (size_t)w->rows, (size_t)w->rows, avx2_q8_kernel(be), NULL};
        uint8_t *buf = qb ? avx2_scratch_get(be, qb * (size_t)nt) : NULL;
        /* FP8 decode: the tokens times 2^112, once for every thread */
        float *xs = w->type == DSV3_W_F8_E4M3 && nt <= AVX2_FP8S_TOKENS
                        ? avx2_scratch_get(be, sizeof(float) * (size_t)w->cols * (size_t)nt)
                        : NULL;
        if (xs && avx2_fp8_prescale(xt, w->cols, nt, xs)) {
            for (int t = 0; t < nt; t++) xr[t] = xs + (size_t)t * (size_t)w->cols;
            m.fp8s = avx2_fp8_kernel(be);
        } else if (buf) {
            q_job qj = {w->type, xt, w->cols, nt, buf, qb};
            if ((double)nt * (double)w->cols < 65536.0) q_part(&qj, 0, 1);
            else dsv3_pool_run(avx2_pool(be), q_part, &qj);
            for (int t = 0; t < nt; t++) xq[t] = buf + (size_t)t * qb;
            m.xq = xq;
            m.x = NULL;
        } else {
            for (int t = 0; t < nt; t++) xr[t] = xt + (size_t)t * (size_t)w->cols;
        }
        avx2_mm_run(be, &m, 1);
        avx2_scratch_put(be, buf);
        avx2_scratch_put(be, xs);
    }
}

void avx2_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n) {
    avx2_matmul_act(be, w, x, y, n, AVX2_ACT_AUTO);
}

#else
typedef int dsv3_avx2_matmul_unused; /* ISO C: no empty translation unit */
#endif
