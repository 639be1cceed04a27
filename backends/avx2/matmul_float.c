/* matmul_float.c -- weight rows of every stored type against f32
 * activations: F32, F16 (F16C), BF16 (shifts), FP8 e4m3 with 2-D block
 * scales, and the ggml block types dequantized exactly into a stack tile.
 *
 * One output y[t][r] always gets the same arithmetic: 8 lane sums over the
 * groups of 8 columns in increasing order, one FMA per group, a
 * zero-padded group for a partial last 8, then hsum8. FP8 rows do this per
 * scale block (block_c columns) with two sets of lane sums, one over the
 * block's even groups and one over its odd groups, added lane by lane at
 * the block's end (the avx512 backend's 16-lane registers hold the pair:
 * backends/avx512/matmul_fp8.c), and add each block's lanes times the
 * block scale into the total with one FMA. Nothing depends on how rows and
 * tokens are blocked, how columns are tiled, or on the thread count.
 *
 * Blocking. Decode (up to 6 tokens, 3 per kernel call) streams weights straight from memory,
 * four rows at a time for independent FMA chains, taken from
 * equal parts of the thread's rows: streams far apart cost little, while
 * interleaving adjacent rows (which lie a page apart) cost up to half the
 * bandwidth on the development machine. Prefill converts a tile of RT rows
 * x 512 columns to f32 once and runs a 4 rows x 3 tokens microkernel on it
 * (12 accumulators, 7 loads per 12 FMAs): each weight vector serves 3
 * tokens and each activation vector 4 rows. */
/* Only with the flags that CMake gives this directory (-mavx2 -mfma -mf16c);
 * without them the file is empty and the backend is not registered. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <string.h>

#include "avx2.h"
#include "quants/quants.h"
#include "simd.h"
#include "wtype.h"

#define RMAX AVX2_FK_ROWS      /* rows per microkernel (4)                    */
#define TMAX AVX2_FK_TOKENS    /* tokens per microkernel (3)                  */
#define KC 512                /* columns per tile (a multiple of 256)        */
#define AW AVX2_FK_LANES       /* floats of lane sums per output (8)          */
/* lane sums of one row tile, RT * n * AW: 4096 floats, or RMAX rows of a
 * full micro-batch where that is more (the tile never has fewer rows) */
#define ACC_FLOATS (RMAX * DSV3_MAX_UBATCH * AW > 4096 ? RMAX * DSV3_MAX_UBATCH * AW : 4096)
#define RT_MAX 16             /* rows per prefill tile                       */
#define TILE_FLOATS 4096      /* converted weights of one row tile           */
#define AXPY_R 4              /* rows per step of W^T a                      */
#define DIRECT_MAX 6          /* most tokens that skip the prefill tiles      */
#define DIRECT_PF 2048        /* software prefetch distance of rows_direct, bytes */
_Static_assert(AVX2_FP8S_TOKENS <= DIRECT_MAX, "avx2_rows_fp8s is a rows_direct path");

/* K_FP8S: FP8 rows read as f32 bits (load_fp8x8_f32bits) against token
 * rows that avx2_fp8_prescale multiplied by 2^112; decode only. */
enum { K_F32, K_F16, K_BF16, K_FP8, K_BLOCK, K_FP8S };

static int kind_of(int type) {
    switch (type) {
    case DSV3_W_F32: return K_F32;
    case DSV3_W_F16: return K_F16;
    case DSV3_W_BF16: return K_BF16;
    case DSV3_W_F8_E4M3: return K_FP8;
    default: return K_BLOCK;
    }
}

static size_t esize(int kind) { return kind == K_F32 ? 4 : kind == K_FP8 || kind == K_FP8S ? 1 : 2; }

/* One element as the vector loads decode it (FP8: value / 256). */
static float elem(int kind, const uint8_t *p, long c) {
    switch (kind) {
    case K_F32: { float f; memcpy(&f, p + 4 * c, 4); return f; }
    case K_F16: return dsv3_f16_to_f32((uint16_t)(p[2 * c] | (p[2 * c + 1] << 8)));
    case K_BF16: return dsv3_bf16_to_f32((uint16_t)(p[2 * c] | (p[2 * c + 1] << 8)));
    case K_FP8S: return fp8_f32bits(p[c]);
    default: return fp8_value(p[c]);
    }
}

AVX2_AI __m256 load_w8(int kind, const uint8_t *p, long c) {
    switch (kind) {
    case K_F32: return load_f32x8(p + 4 * c);
    case K_F16: return load_f16x8(p + 2 * c);
    case K_BF16: return load_bf16x8(p + 2 * c);
    case K_FP8S: return load_fp8x8_f32bits(p + c);
    default: return load_fp8x8(p + c);
    }
}

/* ---- microkernel ------------------------------------------------------ */

typedef avx2_kern_args kern_args; /* avx2.h */

/* The groups of 8 columns at c0, c0 + step, ... below s1 into the lane
 * sums a, one FMA each; a last group cut by s1 is zero-padded. */
AVX2_AI void groups(int kind, int pf, int R, int T, const kern_args *ka, __m256 a[RMAX][TMAX], long c0, long s1,
                    long step) {
    long c = c0;
    for (; c + 8 <= s1; c += step) {
        __m256 xv[TMAX];
        for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_ps(ka->x[t] + c);
        for (int r = 0; r < R; r++) {
            if (pf) _mm_prefetch((const char *)ka->w[r] + (size_t)c * esize(kind) + DIRECT_PF, _MM_HINT_T0);
            const __m256 wv = load_w8(kind, ka->w[r], c);
            for (int t = 0; t < T; t++) a[r][t] = _mm256_fmadd_ps(wv, xv[t], a[r][t]);
        }
    }
    if (c < s1) { /* the partial last group, zero-padded */
        _Alignas(32) float wp[8], xp[TMAX][8];
        const long m = s1 - c;
        for (int t = 0; t < T; t++) {
            memset(xp[t], 0, sizeof xp[t]);
            memcpy(xp[t], ka->x[t] + c, (size_t)m * sizeof(float));
        }
        for (int r = 0; r < R; r++) {
            memset(wp, 0, sizeof wp);
            for (long i = 0; i < m; i++) wp[i] = elem(kind, ka->w[r], c + i);
            const __m256 wv = _mm256_load_ps(wp);
            for (int t = 0; t < T; t++) a[r][t] = _mm256_fmadd_ps(wv, _mm256_load_ps(xp[t]), a[r][t]);
        }
    }
}

/* pf: prefetch each row DIRECT_PF bytes ahead (rows_direct, whose weights
 * stream from memory: the hardware prefetcher alone left the misses of
 * the four rows partly waited for; BF16 and FP8 rows of 7168 columns from
 * DRAM on one core, 2-core AMD EPYC: about 1.1x with it at 1 KiB; 2 KiB
 * gave BF16 decode another 1.2-1.25x on one thread). scaled = 0:
 * continue the lane sums kept in acc, or start them at zero
 * with ka->fresh (len is the whole row, or a multiple of 8 columns but the
 * last, as tiles are); either way acc gets the sums. scaled = 1 (FP8):
 * per scale block, fresh sums over its even and its odd groups, then
 * acc += (even + odd) * 256 * scale. */
AVX2_AI void kern(int kind, int scaled, int pf, int R, int T, const kern_args *ka) {
    __m256 a[RMAX][TMAX];
    const long len = ka->len, seg = scaled ? ka->seg : len;
    long si = 0;
    for (long s0 = 0; s0 < len; s0 += seg, si++) {
        const long s1 = len - s0 < seg ? len : s0 + seg;
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++)
                a[r][t] = scaled || ka->fresh ? _mm256_setzero_ps() : _mm256_load_ps(ka->acc[r] + t * AW);
        if (!scaled) {
            groups(kind, pf, R, T, ka, a, s0, s1, 8);
        } else { /* the even groups of the block, then the odd ones */
            __m256 ev[RMAX][TMAX];
            groups(kind, pf, R, T, ka, a, s0, s1, 16);
            for (int r = 0; r < R; r++)
                for (int t = 0; t < T; t++) {
                    ev[r][t] = a[r][t];
                    a[r][t] = _mm256_setzero_ps();
                }
            groups(kind, pf, R, T, ka, a, s0 + 8, s1, 16);
            for (int r = 0; r < R; r++)
                for (int t = 0; t < T; t++) a[r][t] = _mm256_add_ps(ev[r][t], a[r][t]);
        }
        for (int r = 0; r < R; r++)
            for (int t = 0; t < T; t++) {
                float *p = ka->acc[r] + t * AW;
                if (scaled) _mm256_store_ps(p, _mm256_fmadd_ps(a[r][t], _mm256_set1_ps(ka->sc[r][si] * 256.0f), _mm256_load_ps(p)));
                else _mm256_store_ps(p, a[r][t]);
            }
    }
}

typedef avx2_kern_fn kern_fn;

/* The variants: (weight kind, merge) x R x T, instantiated with constants. */
#define KFN(NAME, KIND, SC, PF, R, T) \
    static void NAME##_##R##_##T(const kern_args *a) { kern(KIND, SC, PF, R, T, a); }
#define KFN_R(NAME, KIND, SC, PF, R) KFN(NAME, KIND, SC, PF, R, 1) KFN(NAME, KIND, SC, PF, R, 2) KFN(NAME, KIND, SC, PF, R, 3)
#define KFN_ALL(NAME, KIND, SC, PF) \
    KFN_R(NAME, KIND, SC, PF, 1) KFN_R(NAME, KIND, SC, PF, 2) KFN_R(NAME, KIND, SC, PF, 3) KFN_R(NAME, KIND, SC, PF, 4)
KFN_ALL(k_f32, K_F32, 0, 0)
KFN_ALL(k_f32s, K_F32, 1, 0)
KFN_ALL(k_f16, K_F16, 0, 0)
KFN_ALL(k_bf16, K_BF16, 0, 0)
KFN_ALL(k_fp8, K_FP8, 1, 0)
/* rows_direct's: the same arithmetic, with prefetch */
KFN_ALL(kd_f32, K_F32, 0, 1)
KFN_ALL(kd_f16, K_F16, 0, 1)
KFN_ALL(kd_bf16, K_BF16, 0, 1)
KFN_ALL(kd_fp8, K_FP8, 1, 1)
KFN_ALL(kd_fp8s, K_FP8S, 1, 1)

#define KROW(NAME, R) {NAME##_##R##_1, NAME##_##R##_2, NAME##_##R##_3}
#define KTAB(NAME) {KROW(NAME, 1), KROW(NAME, 2), KROW(NAME, 3), KROW(NAME, 4)}
enum { KT_F32, KT_F32S, KT_F16, KT_BF16, KT_FP8, KT_FP8S };
static const kern_fn ktab[5][RMAX][TMAX] = {KTAB(k_f32), KTAB(k_f32s), KTAB(k_f16), KTAB(k_bf16), KTAB(k_fp8)};
/* indexed by KT_F32, KT_F32S (unused), KT_F16, KT_BF16, KT_FP8, KT_FP8S */
static const kern_fn ktab_direct[6][RMAX][TMAX] = {KTAB(kd_f32), KTAB(kd_f32), KTAB(kd_f16), KTAB(kd_bf16),
                                                   KTAB(kd_fp8),  KTAB(kd_fp8s)};

/* ---- conversion of a row piece to f32 (tiles, embeddings) -------------- */

/* dst[0..len) = row elements [c0, c0+len) as the kernels see them (FP8:
 * value / 256); block types: c0 and len whole blocks, exact values. */
static void convert(const dsv3_weight *w, int kind, const uint8_t *row, long c0, long len, float *dst) {
    if (kind == K_BLOCK) {
        const int bs = dsv3_wtype_block(w->type);
        avx2_dequant(w->type, row + (size_t)(c0 / bs) * dsv3_wtype_block_bytes(w->type), dst, len / bs);
        return;
    }
    const uint8_t *p = row + (size_t)c0 * esize(kind);
    long c = 0;
    for (; c + 8 <= len; c += 8) _mm256_storeu_ps(dst + c, load_w8(kind, p, c));
    for (; c < len; c++) dst[c] = elem(kind, p, c);
}

/* ---- rows x tokens ------------------------------------------------------ */

static const uint8_t *row_ptr(const dsv3_weight *w, int64_t r) {
    return (const uint8_t *)w->data + (size_t)r * w->row_stride;
}

static float fp8_scale(const dsv3_weight *w, int64_t r, long c0) {
    return w->scale[(r / w->block_r) * w->scale_cols + c0 / w->block_c] * 256.0f;
}

/* Decode: rows [r0, r1) straight from memory, g = 4 at a time, one from
 * each of 4 equal parts of the range (far-apart streams). Four FMA chains
 * (eight for two tokens): when the weights are in cache (a small model)
 * one output's chain of cols/8 dependent FMAs is the bottleneck, and with
 * two chains the demo model's decode step took about 1.2x as long. */
static void rows_direct(const dsv3_weight *w, int kind, int64_t r0, int64_t r1, const float *const *x, int n, float *y,
                        size_t ldy, const kern_fn tab[RMAX][TMAX]) {
    const long cols = (long)w->cols;
    const int scaled = kind == K_FP8 || kind == K_FP8S;
    const long bc = scaled && w->block_c > 0 ? (long)w->block_c : cols;
    const int kt = kind == K_F32    ? KT_F32
                   : kind == K_F16  ? KT_F16
                   : kind == K_BF16 ? KT_BF16
                   : kind == K_FP8  ? KT_FP8
                                    : KT_FP8S;
    const int g = 4;
    const int64_t part = (r1 - r0 + g - 1) / g;
    _Alignas(32) float acc[RMAX][TMAX * AW];
    /* What stays the same for every group of rows is set once: with rows
     * of a few hundred columns (small models, MLA's low-rank projections)
     * the per-group setup costs as much as the dot products. */
    kern_args ka;
    const int chunked = n > TMAX; /* tokens in chunks of TMAX per row group */
    if (!chunked)
        for (int t = 0; t < n; t++) ka.x[t] = x[t];
    ka.len = cols;
    ka.seg = bc;
    ka.fresh = 1; /* FP8 adds each block's sums into acc: zeroed below */
    for (int64_t i = 0; i < part; i++) {
        int64_t rr[RMAX];
        int nr = 0;
        for (int j = 0; j < g; j++)
            if (r0 + j * part + i < r1) rr[nr++] = r0 + j * part + i;
        for (int j = 0; j < nr; j++) {
            ka.w[j] = row_ptr(w, rr[j]);
            ka.acc[j] = acc[j];
            ka.sc[j] = scaled ? w->scale + (rr[j] / w->block_r) * w->scale_cols : NULL;
        }
        /* a second chunk finds the group's rows still in L1 */
        for (int t0 = 0; t0 < n; t0 += TMAX) {
            const int nt = n - t0 < TMAX ? n - t0 : TMAX;
            if (chunked)
                for (int t = 0; t < nt; t++) ka.x[t] = x[t0 + t];
            if (scaled)
                for (int j = 0; j < nr; j++) memset(acc[j], 0, sizeof acc[j]);
            (tab ? tab : ktab_direct[kt])[nr - 1][nt - 1](&ka);
            for (int j = 0; j < nr; j++)
                for (int t = 0; t < nt; t++)
                    y[(size_t)(t0 + t) * ldy + (size_t)(rr[j] - r0)] = hsum8(_mm256_load_ps(acc[j] + t * AW));
        }
    }
}

/* Rows [r0, r1) x tokens [0, n), n <= DSV3_MAX_UBATCH. */
static void rows_tokens(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *x, int n, float *y,
                        size_t ldy) {
    const int kind = kind_of(w->type);
    const long cols = (long)w->cols;
    const int scaled = kind == K_FP8;
    const long bc = scaled && w->block_c > 0 ? (long)w->block_c : cols;
    /* Prefill: f32 tiles of 512 columns (FP8: whole scale blocks), F32
     * weights used in place. Block types always go through a tile (exact
     * dequantization); other types decode straight from memory. */
    const long tseg = !scaled ? KC : bc <= KC ? bc * (KC / bc) : bc;
    const long tstride = (tseg + 7) & ~7L;
    const int many = n > TMAX;
    const int tile = kind == K_BLOCK || (many && kind != K_F32 && tstride * RMAX <= TILE_FLOATS);
    /* A few tokens (up to DIRECT_MAX: the steps that verify speculative
     * drafts) also go straight from memory, TMAX at a time per row group:
     * converting a tile costs more than decoding each weight vector again
     * for a second chunk (4 tokens took 2-3x as long as 3 through tiles). */
    if (kind != K_BLOCK && n <= DIRECT_MAX) {
        rows_direct(w, kind, r0, r1, x, n, y, ldy, NULL);
        return;
    }
    int RT = ACC_FLOATS / AW / n;
    if (RT > RT_MAX) RT = RT_MAX;
    if (tile && RT * tstride > TILE_FLOATS) RT = (int)(TILE_FLOATS / tstride);
    RT &= ~(RMAX - 1);
    if (RT < RMAX) RT = RMAX;
    const long seg = tile ? tseg : kind == K_F32 ? KC : cols; /* columns per kernel call */
    int kt;
    if (tile) kt = scaled ? KT_F32S : KT_F32;
    else kt = kind == K_F32 ? KT_F32 : kind == K_F16 ? KT_F16 : kind == K_BF16 ? KT_BF16 : KT_FP8;

    _Alignas(32) float acc[ACC_FLOATS];
    _Alignas(32) float tbuf[TILE_FLOATS];
    const size_t acc_ld = (size_t)n * AW;
    const int tmax = n < TMAX ? n : TMAX;

    for (int64_t rt0 = r0; rt0 < r1; rt0 += RT) {
        const int nr = (int)(r1 - rt0 < RT ? r1 - rt0 : RT);
        memset(acc, 0, sizeof(float) * acc_ld * (size_t)nr);
        const float *srow[RT_MAX];
        if (scaled)
            for (int i = 0; i < nr; i++) srow[i] = w->scale + ((rt0 + i) / w->block_r) * w->scale_cols;
        for (long c0 = 0; c0 < cols; c0 += seg) {
            const long len = cols - c0 < seg ? cols - c0 : seg;
            if (tile)
                for (int i = 0; i < nr; i++) convert(w, kind, row_ptr(w, rt0 + i), c0, len, tbuf + i * tstride);
            for (int t0 = 0; t0 < n; t0 += tmax) {
                const int nt = n - t0 < tmax ? n - t0 : tmax;
                for (int i0 = 0; i0 < nr; i0 += RMAX) {
                    const int nri = nr - i0 < RMAX ? nr - i0 : RMAX;
                    kern_args ka;
                    for (int i = 0; i < nri; i++) {
                        ka.w[i] = tile ? (const uint8_t *)(const void *)(tbuf + (i0 + i) * tstride)
                                       : row_ptr(w, rt0 + i0 + i) + (size_t)c0 * esize(kind);
                        ka.sc[i] = scaled ? srow[i0 + i] + c0 / bc : NULL;
                        ka.acc[i] = acc + (size_t)(i0 + i) * acc_ld + (size_t)t0 * AW;
                    }
                    for (int t = 0; t < nt; t++) ka.x[t] = x[t0 + t] + c0;
                    ka.len = len;
                    ka.seg = bc;
                    ka.fresh = 0; /* tiles continue the sums over column segments */
                    ktab[kt][nri - 1][nt - 1](&ka);
                }
            }
        }
        for (int i = 0; i < nr; i++)
            for (int t = 0; t < n; t++) y[(size_t)t * ldy + (size_t)(rt0 + i - r0)] = hsum8(_mm256_load_ps(acc + i * acc_ld + t * AW));
    }
}

void avx2_rows_f32(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *x, int n, float *y,
                   size_t ldy) {
    for (int t0 = 0; t0 < n; t0 += DSV3_MAX_UBATCH) {
        const int nt = n - t0 < DSV3_MAX_UBATCH ? n - t0 : DSV3_MAX_UBATCH;
        rows_tokens(w, r0, r1, x + t0, nt, y + (size_t)t0 * ldy, ldy);
    }
}

/* ---- FP8 decode against pre-scaled tokens -------------------------------- */

int avx2_fp8_prescale(const float *x, int64_t cols, int n, float *dst) {
    const __m256 k = _mm256_set1_ps(0x1p112f), lim = _mm256_set1_ps(0x1p16f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 over = _mm256_setzero_ps();
    int bad = 0;
    for (int t = 0; t < n; t++, x += cols, dst += cols) {
        int64_t c = 0;
        for (; c + 8 <= cols; c += 8) {
            const __m256 v = _mm256_loadu_ps(x + c);
            /* |x| >= 2^16 may pass 2^128 once scaled (NaN compares false) */
            over = _mm256_or_ps(over, _mm256_cmp_ps(_mm256_andnot_ps(sign, v), lim, _CMP_GE_OQ));
            _mm256_storeu_ps(dst + c, _mm256_mul_ps(v, k));
        }
        for (; c < cols; c++) {
            bad |= x[c] >= 0x1p16f || x[c] <= -0x1p16f;
            dst[c] = x[c] * 0x1p112f;
        }
    }
    return !bad && !_mm256_movemask_ps(over);
}

void avx2_rows_fp8s_with(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *xs, int n, float *y,
                         size_t ldy, const kern_fn tab[RMAX][TMAX]) {
    /* The weights' f32 bits are subnormal for small codes: denormals-are-zero
     * (a host's MXCSR choice) would drop them, so it is off while this runs. */
    const unsigned csr = _mm_getcsr();
    if (csr & 0x40u) _mm_setcsr(csr & ~0x40u);
    rows_direct(w, K_FP8S, r0, r1, xs, n, y, ldy, tab);
    if (csr & 0x40u) _mm_setcsr(csr);
}

void avx2_rows_fp8s(const dsv3_weight *w, int64_t r0, int64_t r1, const float *const *xs, int n, float *y,
                    size_t ldy) {
    avx2_rows_fp8s_with(w, r0, r1, xs, n, y, ldy, ktab_direct[KT_FP8S]);
}

/* ---- W^T a --------------------------------------------------------------- */

/* y[c] += sum_i a[i] * W[r0+i][c], i in increasing order for every c. */
void avx2_rows_axpy(const dsv3_weight *w, int64_t r0, int m, const float *a, float *y) {
    const int kind = kind_of(w->type);
    const long cols = (long)w->cols;
    long seg = kind == K_FP8 ? (long)w->block_c : kind == K_BLOCK ? KC : cols;
    if (seg <= 0) seg = cols;
    _Alignas(32) float tbuf[AXPY_R * KC];
    for (int i0 = 0; i0 < m; i0 += AXPY_R) {
        const int nr = m - i0 < AXPY_R ? m - i0 : AXPY_R;
        const float *srow[AXPY_R];
        if (kind == K_FP8)
            for (int i = 0; i < nr; i++) srow[i] = w->scale + ((r0 + i0 + i) / w->block_r) * w->scale_cols;
        long k = 0;
        for (long c0 = 0; c0 < cols; c0 += seg, k++) {
            const long len = cols - c0 < seg ? cols - c0 : seg;
            const uint8_t *wr[AXPY_R];
            __m256 av[AXPY_R];
            int kd = kind;
            for (int i = 0; i < nr; i++) {
                const int64_t r = r0 + i0 + i;
                float coef = a[i0 + i];
                if (kind == K_FP8) coef *= srow[i][k] * 256.0f;
                av[i] = _mm256_set1_ps(coef);
                if (kind == K_BLOCK) {
                    convert(w, kind, row_ptr(w, r), c0, len, tbuf + i * KC);
                    wr[i] = (const uint8_t *)(const void *)(tbuf + i * KC);
                    kd = K_F32;
                } else {
                    wr[i] = row_ptr(w, r) + (size_t)c0 * esize(kind);
                }
            }
            float *yc = y + c0;
            long c = 0;
            for (; c + 8 <= len; c += 8) {
                __m256 yv = _mm256_loadu_ps(yc + c);
                for (int i = 0; i < nr; i++) yv = _mm256_fmadd_ps(load_w8(kd, wr[i], c), av[i], yv);
                _mm256_storeu_ps(yc + c, yv);
            }
            if (c < len) {
                _Alignas(32) float yp[8] = {0}, wp[8];
                const long rem = len - c;
                memcpy(yp, yc + c, (size_t)rem * sizeof(float));
                __m256 yv = _mm256_load_ps(yp);
                for (int i = 0; i < nr; i++) {
                    memset(wp, 0, sizeof wp);
                    for (long j = 0; j < rem; j++) wp[j] = elem(kd, wr[i], c + j);
                    yv = _mm256_fmadd_ps(_mm256_load_ps(wp), av[i], yv);
                }
                _mm256_store_ps(yp, yv);
                memcpy(yc + c, yp, (size_t)rem * sizeof(float));
            }
        }
    }
}

/* ---- one row ------------------------------------------------------------ */

void avx2_row_f32(const dsv3_weight *w, int64_t r, float *dst) {
    const int kind = kind_of(w->type);
    const long cols = (long)w->cols;
    const uint8_t *row = row_ptr(w, r);
    if (kind == K_BLOCK) {
        avx2_dequant(w->type, row, dst, cols / dsv3_wtype_block(w->type));
        return;
    }
    if (kind != K_FP8) {
        convert(w, kind, row, 0, cols, dst);
        return;
    }
    /* FP8: (q / 256) * (s * 256) is q * s exactly, as the scalar backend */
    for (long c0 = 0; c0 < cols; c0 += w->block_c) {
        const long len = cols - c0 < w->block_c ? cols - c0 : w->block_c;
        const float s = fp8_scale(w, r, c0);
        convert(w, kind, row, c0, len, dst + c0);
        const __m256 sv = _mm256_set1_ps(s);
        long c = 0;
        for (; c + 8 <= len; c += 8) _mm256_storeu_ps(dst + c0 + c, _mm256_mul_ps(_mm256_loadu_ps(dst + c0 + c), sv));
        for (; c < len; c++) dst[c0 + c] *= s;
    }
}

#else
typedef int dsv3_avx2_matmul_float_unused; /* ISO C: no empty translation unit */
#endif
