/* matmul.c -- the matmul op: rows of the weight split over the thread pool,
 * each row computed for every token by the path its stored type takes
 * (matmul_float.c, matmul_quant.c). */
#include "neon.h"

void neon_rows(const dsv3_weight *w, const float *x, size_t ldx, float *y, size_t ldy, int n, int64_t r0,
               int64_t r1, int dotprod) {
    if (r0 >= r1 || n <= 0) return;
    if (neon_q8_type(w->type)) neon_rows_q8(w, x, ldx, y, ldy, n, r0, r1, dotprod);
    else neon_rows_f32act(w, x, ldx, y, ldy, n, r0, r1);
}

typedef struct matmul_job {
    const dsv3_weight *w;
    const float *x;
    float *y;
    int n, dotprod;
} matmul_job;

/* Each thread owns a contiguous slice of the rows for every token, so it
 * streams a disjoint part of the weight. */
static void matmul_part(void *ctx, int ith, int nth) {
    const matmul_job *j = ctx;
    long r0, r1;
    dsv3_split((long)j->w->rows, ith, nth, &r0, &r1);
    neon_rows(j->w, j->x, (size_t)j->w->cols, j->y + r0, (size_t)j->w->rows, j->n, r0, r1, j->dotprod);
}

void neon_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n) {
    matmul_job j = {w, x, y, n, neon_dotprod(be)};
    dsv3_pool_run(neon_pool(be), matmul_part, &j);
}
