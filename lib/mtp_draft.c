/* mtp_draft.c -- see mtp_draft.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mtp_draft.h"
#include "quants/quants.h"

/* v[0..n) as int8 with max |v| at 127; returns the scale (0 when there is
 * no finite non-zero value: all zeros then). */
static float round_row(const float *v, int32_t n, int8_t *q) {
    float mx = 0;
    for (int32_t i = 0; i < n; i++) {
        const float a = fabsf(v[i]);
        if (a > mx && a <= 3.4e38f) mx = a; /* NaN and inf are left out */
    }
    const float inv = mx > 0 ? 127.0f / mx : 0;
    for (int32_t i = 0; i < n; i++) {
        float r = v[i] * inv;
        r = r == r ? r : 0; /* NaN */
        r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
        q[i] = (int8_t)(int)(r + (r >= 0 ? 0.5f : -0.5f)); /* nearest, halves away from 0 */
    }
    return mx > 0 ? mx / 127.0f : 0;
}

void dsv3_draft_head_free(dsv3_draft_head *d) {
    free(d->q);
    free(d->scale);
    free(d->xq);
    free(d->x);
    d->q = NULL;
    d->scale = NULL;
    d->xq = NULL;
    d->x = NULL;
    d->rows = d->cols = 0;
}

int dsv3_draft_head_init(dsv3_draft_head *d, const dsv3_weight *w) {
    d->q = NULL;
    d->scale = NULL;
    d->xq = NULL;
    d->x = NULL;
    d->rows = d->cols = 0;
    if (w->type != DSV3_W_F32 && w->type != DSV3_W_F16 && w->type != DSV3_W_BF16) return 0;
    /* int32 sums stay exact below 2^31 / 127^2 = 133000 columns */
    if (w->rows < 1 || w->cols < 1 || w->cols > 65536 || w->rows > INT32_MAX ||
        (uint64_t)w->rows * (uint64_t)w->cols > DSV3_DRAFT_HEAD_MAX_BYTES)
        return 0;
    const size_t R = (size_t)w->rows, C = (size_t)w->cols;
    d->q = malloc(R * C);
    d->scale = malloc(sizeof(float) * R);
    d->xq = malloc(C);
    d->x = malloc(sizeof(float) * C);
    if (!d->q || !d->scale || !d->xq || !d->x) {
        dsv3_draft_head_free(d);
        return 0;
    }
    for (size_t r = 0; r < R; r++) {
        dsv3_dequantize_row(w->type, (const uint8_t *)w->data + r * w->row_stride, d->x, (int64_t)C);
        d->scale[r] = round_row(d->x, (int32_t)C, d->q + r * C);
    }
    d->rows = (int32_t)R;
    d->cols = (int32_t)C;
    return 1;
}

/* Integer dot product of two int8 rows; exact, so any summation order
 * gives the same value (the loop is left for the compiler to vectorize). */
static int32_t dot_i8(const int8_t *a, const int8_t *b, int32_t n) {
    int32_t s = 0;
    for (int32_t i = 0; i < n; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

int32_t dsv3_draft_rank_ref(const int8_t *q, const float *scale, int32_t rows, int32_t cols, const int8_t *x) {
    int32_t best = 0;
    float best_v = -INFINITY;
    for (int32_t r = 0; r < rows; r++) {
        const float v = (float)dot_i8(q + (size_t)r * (size_t)cols, x, cols) * scale[r];
        if (v > best_v) {
            best_v = v;
            best = r;
        }
    }
    return best;
}

int32_t dsv3_draft_head_argmax(dsv3_draft_head *d, const dsv3_backend_ops *ops, dsv3_backend *be) {
    /* The hidden state's scale multiplies every score alike: left out. */
    if (round_row(d->x, d->cols, d->xq) == 0) return 0;
    if (ops && ops->version >= DSV3_BACKEND_V5 && ops->rank_i8)
        return ops->rank_i8(be, d->q, d->scale, d->rows, d->cols, d->xq);
    return dsv3_draft_rank_ref(d->q, d->scale, d->rows, d->cols, d->xq);
}

int32_t dsv3_draft_argmax_f32(const float *v, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}
