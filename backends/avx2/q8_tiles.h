/* q8_tiles.h -- the prefill form of the integer-path row kernels (part of
 * q8_kernels.h, included by it after the helpers and the one-token
 * kernels; compiled by each x86 backend with its own flags).
 *
 * A prefill matmul is compute-bound: what counts is the work per weight
 * block and token. The one-token kernels meet at most 4 tokens per decoded
 * weight chunk, compute every (weight block, token) scale product as a
 * scalar and broadcast it, and, row after row, read every token's
 * activations again from L2. Here:
 *   - one decoded weight chunk meets up to 8 tokens (TT);
 *   - the activation scales of those tokens (and, for the offset types,
 *     their block sums) are copied once per row chunk into a table
 *     [block][TT] (on the stack, at most Q8T_TABLE floats; wider rows keep
 *     the one-token kernels), so one vector multiply gives the 8 scale
 *     products of a weight block;
 *   - rows are taken in chunks that stay in L2 (Q8T_L2 bytes), and each
 *     chunk meets every group of 8 tokens in turn, so the group's
 *     activations stay in L1 while the chunk's rows stream past them.
 *
 * Bits: each output keeps the arithmetic of the one-token kernels exactly.
 * The integer sums per block (or super-block) are exact whatever the order
 * in which their terms are added, and the float operations are the same
 * ones in the same order: 32-value blocks in two FMA chains, even and odd
 * blocks, run here as two passes over the row (the even sums wait in
 * memory), then hsum8(even + odd) + the offset sum (0 for Q8_0, IQ4_NL);
 * super-blocks one FMA (and one for the mins) per super-block in order. So
 * a matmul of n tokens still gives the bits of n one-token matmuls. */
#ifndef DSV3_AVX2_Q8_TILES_H
#define DSV3_AVX2_Q8_TILES_H

#define TT 8                 /* tokens per tile                               */
#define Q8T_L2 (192 * 1024)  /* bytes of weight rows per chunk (L2 resident)   */
#define Q8T_TABLE 6144       /* floats of the scale table on the stack: 24 KiB */

/* tab[b * TT + t] = the scale d of token t's activation block b (0 past nt);
 * with sums (32-value blocks of the offset types), tab[(nb + b) * TT + t] =
 * that block's d * sum q. */
AVX2_AI void q8t_scales(const void *const *xq, int nt, int64_t nb, int big, int sums, float *tab) {
    for (int64_t b = 0; b < nb; b++)
        for (int t = 0; t < TT; t++) {
            tab[b * TT + t] = t >= nt ? 0.0f : big ? ((const q8_256 *)xq[t])[b].d : ((const q8_32 *)xq[t])[b].d;
            if (sums) tab[(nb + b) * TT + t] = t >= nt ? 0.0f : ((const q8_32 *)xq[t])[b].s;
        }
}

/* ---- 32-value blocks --------------------------------------------------- */

/* Blocks b = parity, parity + 2, ... of one row against NT tokens:
 * acc[t] = the FMA chain of those blocks (as ae / ao of row_b32). The even
 * pass also sums the offset terms of the offset types (Q4_0, Q4_1, Q5_0,
 * Q5_1) as row_b32 does, a pair of blocks per step: mins[t]. */
AVX2_AI void q8t_b32_pass(int type, const uint8_t *row, int64_t nb, int parity, const void *const *xq, int NT,
                          const float *tab, __m256 *acc, float *mins) {
    const size_t bb = dsv3_b32_bytes(type);
    const int has_min = parity == 0 && b32_has_min(type);
    __m256 a[TT];
    __m256 mn = _mm256_setzero_ps(); /* lane t: token t's offset sum */
    for (int t = 0; t < TT; t++) a[t] = _mm256_setzero_ps();
    for (int64_t b = parity; b < nb; b += 2) {
        const uint8_t *blk = row + (size_t)b * bb;
        _mm_prefetch((const char *)blk + AVX2_PF, _MM_HINT_T0);
        const __m256i w = b32_weights(type, blk);
        const float d = f16_at(blk);
        _Alignas(32) float sc[TT];
        _mm256_store_ps(sc, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_load_ps(tab + b * TT)));
        for (int t = 0; t < NT; t++) {
            const q8_32 *x = (const q8_32 *)xq[t] + b;
            a[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(b32_dot(type, w, x)), _mm256_broadcast_ss(sc + t), a[t]);
        }
        if (has_min) {
            /* row_b32's mins += m0 * s0 + m1 * s1 (or m0 * s0 for a last
             * odd block), for the 8 tokens in lanes: multiplies and adds,
             * never fused, as the scalar expression */
            const float *st = tab + (nb + b) * TT;
            __m256 p = _mm256_mul_ps(_mm256_set1_ps(b32_min(type, blk, d)), _mm256_load_ps(st));
            if (b + 1 < nb)
                p = _mm256_add_ps(p, _mm256_mul_ps(_mm256_set1_ps(b32_min(type, blk + bb, f16_at(blk + bb))),
                                                   _mm256_load_ps(st + TT)));
            mn = _mm256_add_ps(mn, p);
        }
    }
    for (int t = 0; t < NT; t++) acc[t] = a[t];
    if (mins) _mm256_storeu_ps(mins, mn);
}

AVX2_AI void q8t_b32_rows(int type, const uint8_t *base, size_t stride, int64_t r0, int64_t r1, int64_t nb,
                          const void *const *xq, int NT, const float *tab, float *y, size_t ldy) {
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = base + (size_t)r * stride;
        __m256 ae[TT], ao[TT];
        float mins[TT];
        q8t_b32_pass(type, row, nb, 0, xq, NT, tab, ae, mins);
        q8t_b32_pass(type, row, nb, 1, xq, NT, tab, ao, NULL);
        for (int t = 0; t < NT; t++) y[(size_t)(r - r0) + (size_t)t * ldy] = hsum8(_mm256_add_ps(ae[t], ao[t])) + mins[t];
    }
}

/* ---- 256-value super-blocks ------------------------------------------- */

/* Keeps v in a register as it is: without it the compiler reassociates the
 * exact int32 sums of a super-block into a tree whose partial sums spill. */
#define Q8T_KEEP(v) __asm__("" : "+x"(v))

/* Chunks k0..k0+3 of a super-block (decoded once, in registers) against NT
 * tokens: s[t] += sum s16 * q * x (sb_step's sums; one int32 chain per
 * token, exact in any order). */
AVX2_AI void q8t_b256_quad(int type, const uint8_t *blk, __m256i s16, int k0, const void *const *xq, int64_t b,
                           int NT, __m256i *s) {
    const int is_signed = type == DSV3_W_IQ4_XS;
    __m256i wq[4], aw[4];
    _Alignas(32) __m256i sc[4];
    for (int j = 0; j < 4; j++) {
        wq[j] = sb_chunk(type, blk, k0 + j);
        aw[j] = is_signed ? _mm256_abs_epi8(wq[j]) : wq[j];
        sc[j] = sb_scale_vec(s16, k0 + j);
    }
    for (int t = 0; t < NT; t++) {
        const uint8_t *xt = (const uint8_t *)((const q8_256 *)xq[t] + b)->q + 32 * k0;
        __m256i st = s[t];
        for (int j = 0; j < 4; j++) {
            const __m256i xv = load256(xt + 32 * j);
            st = madd_acc(st, _mm256_maddubs_epi16(aw[j], is_signed ? _mm256_sign_epi8(xv, wq[j]) : xv), sc[j]);
            Q8T_KEEP(st);
        }
        s[t] = st;
    }
}

AVX2_AI void q8t_b256_rows(int type, const uint8_t *base, size_t stride, int64_t r0, int64_t r1, int64_t nb,
                           const void *const *xq, int NT, const float *tab, float *y, size_t ldy) {
    const size_t bb = sb_bytes(type);
    const int has_min = type != DSV3_W_IQ4_XS;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = base + (size_t)r * stride;
        __m256 acc[TT];
        for (int t = 0; t < TT; t++) acc[t] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + (size_t)b * bb;
            for (size_t o = 0; o < bb; o += 64) _mm_prefetch((const char *)blk + AVX2_PF + o, _MM_HINT_T0);
            const sb_scales h = sb_header(type, blk);
            __m256i s[TT];
            for (int t = 0; t < TT; t++) s[t] = _mm256_setzero_si256();
            /* k0 a constant in each (shifts, shuffles) */
            q8t_b256_quad(type, blk, h.s16, 0, xq, b, NT, s);
            q8t_b256_quad(type, blk, h.s16, 4, xq, b, NT, s);
            const __m256 dx = _mm256_load_ps(tab + b * TT);
            _Alignas(32) float sd[TT], sm[TT];
            _mm256_store_ps(sd, _mm256_mul_ps(_mm256_set1_ps(h.d), dx));
            _mm256_store_ps(sm, _mm256_mul_ps(_mm256_set1_ps(h.dm), dx));
            for (int t = 0; t < NT; t++) {
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_broadcast_ss(sd + t), acc[t]);
                if (has_min) {
                    const q8_256 *xb = (const q8_256 *)xq[t] + b;
                    const __m256i m = _mm256_madd_epi16(h.m16, load256((const uint8_t *)xb->bsum));
                    acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), _mm256_broadcast_ss(sm + t), acc[t]);
                }
            }
        }
        for (int t = 0; t < NT; t++) y[(size_t)(r - r0) + (size_t)t * ldy] = hsum8(acc[t]);
    }
}

/* ---- driver ----------------------------------------------------------- */

#define Q8T_CASES(FN)                                                                                                  \
    switch (nt) {                                                                                                      \
    case 1: FN(type, base, w->row_stride, rr, re, nb, x, 1, tab, yt, ldy); break;                                    \
    case 2: FN(type, base, w->row_stride, rr, re, nb, x, 2, tab, yt, ldy); break;                                    \
    case 3: FN(type, base, w->row_stride, rr, re, nb, x, 3, tab, yt, ldy); break;                                    \
    case 4: FN(type, base, w->row_stride, rr, re, nb, x, 4, tab, yt, ldy); break;                                    \
    case 5: FN(type, base, w->row_stride, rr, re, nb, x, 5, tab, yt, ldy); break;                                    \
    case 6: FN(type, base, w->row_stride, rr, re, nb, x, 6, tab, yt, ldy); break;                                    \
    case 7: FN(type, base, w->row_stride, rr, re, nb, x, 7, tab, yt, ldy); break;                                    \
    default: FN(type, base, w->row_stride, rr, re, nb, x, 8, tab, yt, ldy); break;                                   \
    }

/* Rows [r0, r1) of w against n tokens with the tiles, y[t * ldy + (r - r0)];
 * returns 0 (nothing done) for a type or width without a tile form. */
AVX2_AI int q8t_rows(int type, const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                     size_t ldy) {
    const int big = type == DSV3_W_Q2_K || type == DSV3_W_Q3_K || type == DSV3_W_Q4_K || type == DSV3_W_Q5_K ||
                    type == DSV3_W_Q6_K || type == DSV3_W_IQ4_XS;
    if (!big && type != DSV3_W_Q8_0 && type != DSV3_W_Q4_0 && type != DSV3_W_Q4_1 && type != DSV3_W_Q5_0 &&
        type != DSV3_W_Q5_1 && type != DSV3_W_IQ4_NL)
        return 0;
    const int64_t nb = w->cols / (big ? 256 : 32);
    const int sums = !big && b32_has_min(type);
    if (nb * TT * (sums ? 2 : 1) > Q8T_TABLE) return 0;
    _Alignas(32) float tab[Q8T_TABLE];
    const uint8_t *base = (const uint8_t *)w->data;
    int64_t rc = (int64_t)(Q8T_L2 / (w->row_stride ? w->row_stride : 1));
    if (rc < 1) rc = 1;
    for (int64_t rr = r0; rr < r1; rr += rc) {
        const int64_t re = r1 - rr < rc ? r1 : rr + rc;
        for (int t0 = 0; t0 < n; t0 += TT) {
            const int nt = n - t0 < TT ? n - t0 : TT;
            const void *const *x = xq + t0;
            float *yt = y + (size_t)(rr - r0) + (size_t)t0 * ldy;
            q8t_scales(x, nt, nb, big, sums, tab);
            if (big) Q8T_CASES(q8t_b256_rows)
            else Q8T_CASES(q8t_b32_rows)
        }
    }
    return 1;
}

#endif
