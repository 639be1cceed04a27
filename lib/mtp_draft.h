/* mtp_draft.h -- the MTP draft's output head in 8-bit integers.
 *
 * Speculative decoding only needs the MTP's most likely token, and the
 * verify step keeps the output exact whichever token is drafted, so the
 * draft may rank the vocabulary with a cheaper head than the exact logits
 * use. On a small model the MTP head (vocab x hidden) is about half the
 * bytes an MTP row reads; this copy holds each weight row as int8 with one
 * scale per row (half of BF16's bytes, a quarter of F32's) and ranks the
 * tokens with exact integer dot products. */
#ifndef DSV3_MTP_DRAFT_H
#define DSV3_MTP_DRAFT_H

#include <stdint.h>

#include "backend.h"

/* The largest copy made (bytes of int8 weights): above it the copy would
 * cost more memory than a draft saves time (a large model's head is a
 * small share of its MTP row), and the exact head drafts. */
#define DSV3_DRAFT_HEAD_MAX_BYTES ((size_t)16 << 20)

typedef struct dsv3_draft_head {
    int8_t *q;      /* [rows][cols] rounded weights                 */
    float *scale;   /* [rows] weight = q * scale                    */
    int8_t *xq;     /* [cols] the rounded hidden state              */
    float *x;       /* [cols] the hidden state, host copy           */
    int32_t rows, cols;
} dsv3_draft_head;

/* Build the copy of w (F32, F16 or BF16, at most
 * DSV3_DRAFT_HEAD_MAX_BYTES). Returns 1 when made, 0 when w does not
 * qualify or memory ran out (d is then empty: the exact head drafts). */
int dsv3_draft_head_init(dsv3_draft_head *d, const dsv3_weight *w);
void dsv3_draft_head_free(dsv3_draft_head *d);

/* The token whose integer score for d->x is highest (lowest id on ties);
 * 0 when d->x has no finite non-zero value. The scores are ranked by the
 * backend's rank_i8 op (ops may be NULL, or older than DSV3_BACKEND_V5:
 * the reference loop below ranks them; every backend gives its row). */
int32_t dsv3_draft_head_argmax(dsv3_draft_head *d, const dsv3_backend_ops *ops, dsv3_backend *be);

/* The reference ranking (the rank_i8 op's definition in backend.h): the
 * row r of q whose (float)(q[r] . x) * scale[r] is highest, the first on
 * ties, 0 when none is above -infinity. */
int32_t dsv3_draft_rank_ref(const int8_t *q, const float *scale, int32_t rows, int32_t cols, const int8_t *x);

/* The index of the largest of v[0..n) (lowest on ties; NaN never wins):
 * the draft from exact logits. */
int32_t dsv3_draft_argmax_f32(const float *v, int32_t n);

#endif
