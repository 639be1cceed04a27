/* moe.c -- the routed experts of n tokens.
 *
 * As in the scalar backend, tokens are grouped per expert (each chosen
 * expert's weights are streamed once per batch) and experts are visited in
 * increasing id, so every token's sum has the same order whatever the batch.
 * Per expert, two threaded passes:
 *   1. gate and up rows [b, e) of each thread, then SwiGLU on [b, e) of
 *      every token (no barrier needed between the two);
 *   2. the down projection, rows split over the threads.
 * With integer-path weights the tokens' inputs are rounded to 8-bit blocks
 * once per call, the SwiGLU output once per expert. */
/* Only with the flags that CMake gives this directory (-mavx2 -mfma -mf16c);
 * without them the file is empty and the backend is not registered. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <string.h>

#include "avx2.h"
#include "simd.h"

typedef struct up_job {
    avx2_mm gate, up;
    int64_t inter;
} up_job;

static void up_part(void *ctx, int ith, int nth) {
    const up_job *j = ctx;
    long b, e;
    dsv3_split8((long)j->inter, ith, nth, &b, &e);
    if (b >= e) return;
    avx2_mm_rows(&j->gate, b, e);
    avx2_mm_rows(&j->up, b, e);
    for (int t = 0; t < j->gate.n; t++) {
        float *g = j->gate.y + (size_t)t * j->gate.ldy + b;
        avx2_swiglu(NULL, g, j->up.y + (size_t)t * j->up.ldy + b, g, (size_t)(e - b));
    }
}

/* Quantized rows for the integer path of `type`: reuses *buf when it already
 * holds this format, else rounds the n rows of x (stride cols) again. */
typedef struct qrows {
    uint8_t *buf;
    size_t cap, row_bytes;
    const float *src;
} qrows;

static const void *const *rows_q(dsv3_backend *be, qrows *q, int type, const float *x, int64_t cols, int n,
                                 const int *tok, int m, const void **ptrs) {
    const size_t rb = avx2_q8_row_bytes(type, cols);
    if (!rb) return NULL;
    if (q->row_bytes != rb || q->src != x) {
        if (!q->buf || q->cap < rb * (size_t)n) {
            avx2_scratch_put(be, q->buf);
            q->buf = avx2_scratch_get(be, rb * (size_t)n);
            q->cap = q->buf ? rb * (size_t)n : 0;
            if (!q->buf) { q->row_bytes = 0; q->src = NULL; return NULL; }
        }
        for (int t = 0; t < n; t++) avx2_q8_quantize(type, x + (size_t)t * (size_t)cols, cols, q->buf + (size_t)t * rb);
        q->row_bytes = rb;
        q->src = x;
    }
    for (int i = 0; i < m; i++) ptrs[i] = q->buf + (size_t)(tok ? tok[i] : i) * rb;
    return ptrs;
}

/* o += w * y over h values (one FMA each, in order). */
static void add_scaled(float *o, const float *y, float w, size_t h) {
    const __m256 wv = _mm256_set1_ps(w);
    size_t c = 0;
    for (; c + 8 <= h; c += 8) _mm256_storeu_ps(o + c, _mm256_fmadd_ps(_mm256_loadu_ps(y + c), wv, _mm256_loadu_ps(o + c)));
    for (; c < h; c++) o[c] += w * y[c];
}

/* A few tokens (decode, and the steps that verify speculative drafts):
 * two pool runs for the whole layer instead of two per expert. The
 * (expert, token) pairs are sorted by expert id, then token. Run 1: the
 * gate and up rows of every chosen expert against its tokens, all
 * concatenated and split over the threads; then, on the caller, SwiGLU
 * and the rounding of every pair's activation; run 2: every down
 * projection. Each output gets the arithmetic of the per-expert passes
 * below (same kernels on the same token groups, same rounding, each
 * token's experts summed in increasing id), so these calls and the
 * batched ones agree bit for bit; what goes is the barriers and wake-ups
 * of two passes per expert, which cost a 2-token step more than its
 * arithmetic on a small model. Buffers: pairs * (2 * inter + hidden)
 * floats, in the op's scratch when it is large enough (one token), else
 * a reused backend buffer. Returns 0 (nothing done) when it does not
 * apply: too many pairs, experts of mixed types, no buffer. */
#define FEW_PAIRS 64

static int moe_few(dsv3_backend *be, const dsv3_moe_args *a) {
    const size_t H = (size_t)a->hidden, I = (size_t)a->inter;
    const int n = a->n_tok, K = a->k;
    if (n < 1 || K < 1 || n * K > FEW_PAIRS) return 0;
    int pe[FEW_PAIRS], pt[FEW_PAIRS];
    float pw[FEW_PAIRS];
    int np = 0;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < K; j++) {
            const int e = a->ids[t * K + j];
            int dup = e < 0 || e >= a->n_experts; /* as the batched path: ids in range, */
            for (int i = 0; i < np; i++) dup |= pe[i] == e && pt[i] == t;
            if (dup) continue; /* and a token picks an expert at most once */
            int i = np++; /* insertion by expert; tokens come in order */
            for (; i > 0 && pe[i - 1] > e; i--) {
                pe[i] = pe[i - 1];
                pt[i] = pt[i - 1];
                pw[i] = pw[i - 1];
            }
            pe[i] = e;
            pt[i] = t;
            pw[i] = a->weights[t * K + j];
        }
    if (!np) return 0;
    /* the groups of pairs that share an expert, and one type per role */
    int gs[FEW_PAIRS + 1], ng = 0;
    const dsv3_weight *g0 = dsv3_moe_expert(a->gate, a->expert_stride, pe[0]);
    const dsv3_weight *u0 = dsv3_moe_expert(a->up, a->expert_stride, pe[0]);
    const dsv3_weight *d0 = dsv3_moe_expert(a->down, a->expert_stride, pe[0]);
    for (int i = 0; i < np; i++) {
        if (i && pe[i] == pe[i - 1]) continue;
        gs[ng++] = i;
        if (dsv3_moe_expert(a->gate, a->expert_stride, pe[i])->type != g0->type ||
            dsv3_moe_expert(a->up, a->expert_stride, pe[i])->type != u0->type ||
            dsv3_moe_expert(a->down, a->expert_stride, pe[i])->type != d0->type)
            return 0;
    }
    gs[ng] = np;
    const size_t need = (size_t)np * (2 * I + H);
    float *own = NULL, *g = a->scratch;
    if (need > dsv3_moe_scratch_floats(n > K ? n : K, H, I)) {
        own = avx2_scratch_get(be, need * sizeof(float));
        if (!own) return 0;
        g = own;
    }
    float *u = g + (size_t)np * I, *y = u + (size_t)np * I;
    /* FP8 experts (an HF checkpoint): the tokens' rows and then the SwiGLU
     * rows times 2^112 for avx2_rows_fp8s, where a group has few enough
     * tokens for the direct kernels; the other groups (and any row too
     * large to scale) keep the f32 rows. */
    const int f8g = g0->type == DSV3_W_F8_E4M3 && u0->type == DSV3_W_F8_E4M3, f8d = d0->type == DSV3_W_F8_E4M3;
    float *xs = f8g ? avx2_scratch_get(be, sizeof(float) * H * (size_t)n) : NULL;
    float *gs8 = f8d ? avx2_scratch_get(be, sizeof(float) * I * (size_t)np) : NULL;
    const float *xsr[FEW_PAIRS], *gsr[FEW_PAIRS];
    const int xs_ok = xs && avx2_fp8_prescale(a->x, (int64_t)H, n, xs);
    const avx2_rows_q8_fn q8 = avx2_q8_kernel(be);
    qrows qx = {0}, qu = {0}, qg = {0};
    avx2_mm parts[2 * FEW_PAIRS];
    const float *xr[FEW_PAIRS], *gr[FEW_PAIRS];
    const void *xq[FEW_PAIRS], *uq[FEW_PAIRS], *gq[FEW_PAIRS];
    for (int i = 0; i < np; i++) {
        xr[i] = a->x + (size_t)pt[i] * H;
        gr[i] = g + (size_t)i * I;
        if (xs) xsr[i] = xs + (size_t)pt[i] * H;
        if (gs8) gsr[i] = gs8 + (size_t)i * I;
    }
    for (int e = 0; e < ng; e++) {
        const int s0 = gs[e], m = gs[e + 1] - s0;
        const dsv3_weight *wg = dsv3_moe_expert(a->gate, a->expert_stride, pe[s0]);
        const dsv3_weight *wu = dsv3_moe_expert(a->up, a->expert_stride, pe[s0]);
        avx2_mm pg = {wg, xr + s0, NULL, m, g + (size_t)s0 * I, I, q8, NULL}, pu = {wu, xr + s0, NULL, m, u + (size_t)s0 * I, I, q8, NULL};
        /* every token row is rounded once per format; each group points
         * at its tokens' rows */
        pg.xq = rows_q(be, &qx, wg->type, a->x, (int64_t)H, n, pt + s0, m, xq + s0);
        pu.xq = wu->type == wg->type ? pg.xq : rows_q(be, &qu, wu->type, a->x, (int64_t)H, n, pt + s0, m, uq + s0);
        if (pg.xq) pg.x = NULL;
        if (pu.xq) pu.x = NULL;
        if (xs_ok && m <= AVX2_FP8S_TOKENS) {
            pg.x = pu.x = xsr + s0;
            pg.fp8s = pu.fp8s = avx2_fp8_kernel(be);
        }
        parts[2 * e] = pg;
        parts[2 * e + 1] = pu;
    }
    avx2_mm_run(be, parts, 2 * ng);
    avx2_swiglu(NULL, g, u, g, (size_t)np * I); /* elementwise: any split gives the same bits */
    /* every pair's activation row, rounded for the down type */
    const void *const *dq = rows_q(be, &qg, d0->type, g, (int64_t)I, np, NULL, np, gq);
    const int gs_ok = gs8 && avx2_fp8_prescale(g, (int64_t)I, np, gs8);
    for (int e = 0; e < ng; e++) {
        const int s0 = gs[e], m = gs[e + 1] - s0;
        const dsv3_weight *wd = dsv3_moe_expert(a->down, a->expert_stride, pe[s0]);
        avx2_mm pd = {wd, gr + s0, NULL, m, y + (size_t)s0 * H, H, q8, NULL};
        if (dq) {
            pd.xq = dq + s0;
            pd.x = NULL;
        }
        if (gs_ok && m <= AVX2_FP8S_TOKENS) {
            pd.x = gsr + s0;
            pd.fp8s = avx2_fp8_kernel(be);
        }
        parts[e] = pd;
    }
    avx2_mm_run(be, parts, ng);
    memset(a->out, 0, (size_t)n * H * sizeof(float));
    for (int i = 0; i < np; i++) add_scaled(a->out + (size_t)pt[i] * H, y + (size_t)i * H, pw[i], H);
    avx2_scratch_put(be, qx.buf);
    avx2_scratch_put(be, qu.buf);
    avx2_scratch_put(be, qg.buf);
    avx2_scratch_put(be, own);
    avx2_scratch_put(be, xs);
    avx2_scratch_put(be, gs8);
    return 1;
}

void avx2_moe_experts(dsv3_backend *be, const dsv3_moe_args *a) {
    if (moe_few(be, a)) return;
    const size_t H = (size_t)a->hidden, I = (size_t)a->inter, n = (size_t)a->n_tok;
    float *g = a->scratch + n * H; /* [n][I] (the scalar layout; its gather area is unused) */
    float *u = g + n * I;          /* [n][I] */
    float *y = u + n * I;          /* [n][H] */
    memset(a->out, 0, n * H * sizeof(float));
    qrows qx = {0}, qg = {0};
    const avx2_rows_q8_fn q8 = avx2_q8_kernel(be);
    int tok[DSV3_MAX_UBATCH];
    float wt[DSV3_MAX_UBATCH];
    const float *xr[DSV3_MAX_UBATCH], *gr[DSV3_MAX_UBATCH];
    const void *xq[DSV3_MAX_UBATCH], *gq[DSV3_MAX_UBATCH], *uq[DSV3_MAX_UBATCH];
    for (int e = 0; e < a->n_experts; e++) {
        int m = 0;
        for (int t = 0; t < a->n_tok && m < DSV3_MAX_UBATCH; t++)
            for (int j = 0; j < a->k; j++)
                if (a->ids[t * a->k + j] == e) {
                    wt[m] = a->weights[t * a->k + j];
                    tok[m++] = t;
                    break; /* a token picks an expert at most once */
                }
        if (!m) continue;
        const dsv3_weight *wg = dsv3_moe_expert(a->gate, a->expert_stride, e);
        const dsv3_weight *wu = dsv3_moe_expert(a->up, a->expert_stride, e);
        const dsv3_weight *wd = dsv3_moe_expert(a->down, a->expert_stride, e);
        for (int i = 0; i < m; i++) xr[i] = a->x + (size_t)tok[i] * H;

        up_job uj = {{wg, xr, NULL, m, g, I, q8, NULL}, {wu, xr, NULL, m, u, I, q8, NULL}, (int64_t)I};
        uj.gate.xq = rows_q(be, &qx, wg->type, a->x, (int64_t)H, a->n_tok, tok, m, xq);
        if (uj.gate.xq) uj.gate.x = NULL;
        if (wu->type == wg->type && uj.gate.xq) {
            for (int i = 0; i < m; i++) uq[i] = xq[i];
            uj.up.xq = uq;
        } else {
            /* a second format (rare): round again into the second buffer */
            uj.up.xq = rows_q(be, &qg, wu->type, a->x, (int64_t)H, a->n_tok, tok, m, uq);
        }
        if (uj.up.xq) uj.up.x = NULL;
        const double macs = 2.0 * (double)I * (double)H * m;
        if (macs < 32768.0) up_part(&uj, 0, 1);
        else dsv3_pool_run(avx2_pool(be), up_part, &uj);

        for (int i = 0; i < m; i++) gr[i] = g + (size_t)i * I;
        avx2_mm down = {wd, gr, NULL, m, y, H, q8, NULL};
        qg.src = NULL; /* g changed */
        down.xq = rows_q(be, &qg, wd->type, g, (int64_t)I, m, NULL, m, gq);
        if (down.xq) down.x = NULL;
        avx2_mm_run(be, &down, 1);

        for (int i = 0; i < m; i++) add_scaled(a->out + (size_t)tok[i] * H, y + (size_t)i * H, wt[i], H);
    }
    avx2_scratch_put(be, qx.buf);
    avx2_scratch_put(be, qg.buf);
}

#else
typedef int dsv3_avx2_moe_unused; /* ISO C: no empty translation unit */
#endif
