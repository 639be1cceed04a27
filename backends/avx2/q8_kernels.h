/* q8_kernels.h -- the integer-path row kernels of the ggml block types,
 * written once and compiled by each x86 backend with its own flags: avx2
 * (AVX2 + FMA + F16C) and avx512 (adds AVX-512 BW/VL and VNNI). Where the
 * wider set has a shorter form, the helper below picks it at compile time;
 * the arithmetic is the same exact integer sums either way, so both give
 * the same bits. See matmul_quant.c for the activation blocks and the
 * error bound.
 *
 * AVX-512 forms: a qh / hmask bit to a byte value is one masked move
 * (vpmovm-free: the 32 bits are the mask); unsigned quants meet the
 * activations with vpdpbusd, and int16 partial sums meet the sub-block
 * scales with vpdpwssd (multiply, pair-add and accumulate in one). Two
 * kernels also take 512-bit registers (q6k_sums512, q45p_rows8_1): fewer
 * instructions for the same integers and float operations.
 *
 * Per output, whatever the thread count and the number of tokens: Q8_0,
 * Q4_0 and Q5_0 sum the blocks in increasing order, one FMA per block of
 * the block's exact integer dot, and Q4_K two per super-block (its dot
 * and its mins), 8 rows at a time (see "groups of 8 rows"); the other
 * types put one FMA per block (and one for its mins) into 8 float lanes
 * (32-value blocks: two sets of lanes, even and odd blocks), then hsum8.
 * Weights are decoded in registers, and each decoded chunk serves a block
 * of up to TB tokens; each row is read as one sequential stream with a
 * software prefetch AVX2_PF bytes ahead: the hardware streamer alone kept
 * too few lines in flight (Q4_K from DRAM on one core: 12.7 -> 17.7 GB/s). */
#ifndef DSV3_AVX2_Q8_KERNELS_H
#define DSV3_AVX2_Q8_KERNELS_H

#include <stdatomic.h>
#include <string.h>

#include "avx2.h"
#include "quants/quants.h"
#include "quants/quants_impl.h"
#include "simd.h"
#include "wtype.h"

typedef avx2_q8_32 q8_32;
typedef avx2_q8_256 q8_256;

#if defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define Q8K_AVX512 1
#else
#define Q8K_AVX512 0
#endif

#define AVX2_NI static __attribute__((noinline))

/* A compiler barrier between the rows of a decode step (R = 2, see
 * row_b256): without it the compiler loads each activation vector once
 * for both rows and, short of registers, spills and reloads it, where a
 * load folded into vpmaddubsw in each row costs nothing (Q4_K from cache:
 * about 5 % faster with it, gcc and clang). It emits no instruction. */
#if Q8K_AVX512
#define ROW_FENCE() ((void)0) /* 32 vector registers: nothing spills */
#else
#define ROW_FENCE() atomic_signal_fence(memory_order_seq_cst)
#endif

/* ---- helpers (also used by the dequantization in matmul_quant.c) -------- */

AVX2_AI __m128i load128(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }
AVX2_AI __m256i load256(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* 16 bytes of nibbles -> 32 bytes: the low nibbles, then the high ones.
 * The 16 bytes are loaded into both halves (a load, no shuffle), the high
 * half shifted right by 4 within dwords; the mask drops what crossed a
 * byte. Two ALU operations where a shift, two masks and an insert took
 * four. */
AVX2_AI __m256i nibbles32(const uint8_t *p) {
    const __m256i v = _mm256_broadcastsi128_si256(load128(p));
    return _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0F));
}

/* Bytes whose bit `bit` is set in h -> `val`, else 0. */
AVX2_AI __m256i bit_to(__m256i h, int bit, int val) {
    const __m256i m = _mm256_set1_epi8((char)(1 << bit));
#if Q8K_AVX512
    return _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(h, m), _mm256_set1_epi8((char)val));
#else
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, m), m), _mm256_set1_epi8((char)val));
#endif
}

/* Q3_K: the 16 signed 6-bit scales. */
AVX2_AI void k3_scales(const uint8_t *s, int8_t out[16]) {
    const uint32_t a0 = le32(s), a1 = le32(s + 4), a2 = le32(s + 8);
    uint32_t v[4] = {(a0 & 0x0f0f0f0fu) | ((a2 & 0x03030303u) << 4),
                     (a1 & 0x0f0f0f0fu) | (((a2 >> 2) & 0x03030303u) << 4),
                     ((a0 >> 4) & 0x0f0f0f0fu) | (((a2 >> 4) & 0x03030303u) << 4),
                     ((a1 >> 4) & 0x0f0f0f0fu) | (((a2 >> 6) & 0x03030303u) << 4)};
    uint8_t u[16];
    memcpy(u, v, 16);
    for (int i = 0; i < 16; i++) out[i] = (int8_t)(u[i] - 32);
}

AVX2_AI int iq4xs_ls(const uint8_t *x, int g) {
    const unsigned sh = (unsigned)(x[2] | (x[3] << 8));
    return (int)(((x[4 + g / 2] >> (4 * (g % 2))) & 0x0F) | (((sh >> (2 * g)) & 3) << 4)) - 32;
}

AVX2_AI __m128i kvalues128(void) { return _mm_loadu_si128((const __m128i *)(const void *)dsv3_kvalues_iq4nl); }

/* Q5_0 / Q5_1: bit j of qh is the fifth bit of element j. */
AVX2_AI __m256i q5_hbits(const uint8_t *qh) {
    const uint32_t h = le32(qh);
#if Q8K_AVX512
    return _mm256_maskz_mov_epi8((__mmask32)h, _mm256_set1_epi8(16));
#else
    /* byte j of the vector gets byte j/8 of h, then bit j%8 is tested */
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bits), bits), _mm256_set1_epi8(16));
#endif
}

/* Q6_K: the four 32-value chunks of each 128-value half, unsigned 0..63. */
AVX2_AI void q6_chunks(const uint8_t *ql, const uint8_t *qh, __m256i c[4]) {
    const __m256i a = load256(ql), b = load256(ql + 32), h = load256(qh);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    c[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
    c[1] = _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
    c[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(h, m2));
    c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
}

/* ---- 3. integer dots: 32-value blocks ---------------------------------- */

/* Tokens per register block: each decoded weight chunk serves TB tokens.
 * AVX-512's 32 vector registers hold 8 tokens' sums (prefill of K-quants
 * from cache: about 1.2x against 4). AVX2's 16 do not, yet 8 tokens still
 * beat 4 there, spills and all (2-core AMD EPYC, avx2 backend, from
 * cache, 64 tokens: Q4_K 1.10x, Q5_0 1.15x, Q8_0 1.04x, the per-row types
 * 1.01-1.06x; the Q4_K_M bench GGUF's prefill 1.11x). */
#define TB 8
#define AVX2_PF 2048 /* software prefetch distance, bytes (best of 512..4096) */

/* maddubs(|w|, sign(x, w)) summed to 8 int32 lanes: sum w*x exactly. */
AVX2_AI __m256i dot_i8(__m256i w, __m256i x) {
#if Q8K_AVX512
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
#else
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
#endif
}

/* Unsigned quants (0..63) x int8 activations summed to 8 int32 lanes. */
AVX2_AI __m256i dot_u8(__m256i w, __m256i x) {
#if Q8K_AVX512
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
#endif
}

/* acc + the int16 pairs of p times the int16 scales sc, pair-summed. */
AVX2_AI __m256i madd_acc(__m256i acc, __m256i p, __m256i sc) {
#if Q8K_AVX512
    return _mm256_dpwssd_epi32(acc, p, sc);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));
#endif
}

/* AVX2: the vpmaddubsw pairs of n transposed weight dwords w[k] (unsigned)
 * against the token's dwords k of xb, broadcast, summed in int16. The
 * caller bounds n * 2 * max w * 128 below 2^15, so the sums are exact. */
AVX2_AI __m256i u8_pairs16(const __m256i *w, const uint8_t *xb, int n) {
    __m256i p = _mm256_maddubs_epi16(w[0], _mm256_set1_epi32((int)le32(xb)));
    for (int k = 1; k < n; k++) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w[k], _mm256_set1_epi32((int)le32(xb + 4 * k))));
    return p;
}

/* Q4_1, Q5_1: unsigned quants q and a stored offset m per block, value =
 * d * q + m, so that q meets x with vpmaddubsw directly (no sign trick)
 * and m meets the block's d_x * sum q_x. IQ4_NL stays signed. (Q8_0, Q4_0
 * and Q5_0 go by groups of 8 rows, below; b32_weights serves them too.) */
AVX2_AI int b32_has_min(int type) { return type == DSV3_W_Q4_1 || type == DSV3_W_Q5_1; }

AVX2_AI float b32_min(const uint8_t *blk) { return f16_at(blk + 2); }


/* The 32 quants of a block: signed (Q8_0, IQ4_NL) or unsigned 0..31. */
AVX2_AI __m256i b32_weights(int type, const uint8_t *blk) {
    switch (type) {
    case DSV3_W_Q8_0: return load256(blk + 2);
    case DSV3_W_Q4_1: return nibbles32(blk + 4);
    case DSV3_W_Q5_0: return _mm256_or_si256(nibbles32(blk + 6), q5_hbits(blk + 2));
    case DSV3_W_Q5_1: return _mm256_or_si256(nibbles32(blk + 8), q5_hbits(blk + 4));
    case DSV3_W_IQ4_NL: return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(kvalues128()), nibbles32(blk + 2));
    default: return nibbles32(blk + 2); /* Q4_0 */
    }
}

/* sum w*x of one block in 8 int32 lanes. */
AVX2_AI __m256i b32_dot(int type, __m256i w, const q8_32 *x) {
    const __m256i xv = load256((const uint8_t *)x->q);
    return b32_has_min(type) ? dot_u8(w, xv) : dot_i8(w, xv);
}

/* d_w * d_x per lane, from d_w per lane and d_x in memory: the broadcast
 * is a load (AVX-512: folded into the multiply), where a scalar product
 * broadcast from a register took a shuffle slot per block and token. The
 * same product as the scalar one, so the same bits. */
AVX2_AI __m256 scale_bcast(__m256 dw, const float *dx) { return _mm256_mul_ps(dw, _mm256_broadcast_ss(dx)); }

/* Per output: blocks alternate between two lane accumulators (even and odd
 * block index: two FMA chains), then hsum8(even + odd); the offset types
 * add m * (d_x * sum q_x) of every block, in order, into one float. Rows
 * rw[0..R) (R = 1 or 2, as row_b256) against tokens [0, nt) (R and nt
 * constants in each instance). */
AVX2_AI void row_b32(int type, const uint8_t *const *rw, int R, int64_t nb, const void *const *xq, int nt,
                     float *const *y, size_t ldy) {
    const size_t bb = dsv3_b32_bytes(type);
    const int has_min = b32_has_min(type);
    __m256 ae[2][TB], ao[2][TB];
    float mins[2][TB];
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < TB; t++) {
            ae[i][t] = ao[i][t] = _mm256_setzero_ps();
            mins[i][t] = 0.0f;
        }
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2)
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = rw[i] + (size_t)b * bb;
            _mm_prefetch((const char *)blk + AVX2_PF, _MM_HINT_T0);
            if (2 * bb > 64) _mm_prefetch((const char *)blk + AVX2_PF + 64, _MM_HINT_T0);
            const __m256i w0 = b32_weights(type, blk), w1 = b32_weights(type, blk + bb);
            const float d0 = f16_at(blk), d1 = f16_at(blk + bb);
            const float m0 = has_min ? b32_min(blk) : 0.0f, m1 = has_min ? b32_min(blk + bb) : 0.0f;
            const __m256 vd0 = _mm256_set1_ps(d0), vd1 = _mm256_set1_ps(d1);
            for (int t = 0; t < nt; t++) {
                const q8_32 *x = (const q8_32 *)xq[t] + b;
                ae[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(b32_dot(type, w0, x)), scale_bcast(vd0, &x[0].d), ae[i][t]);
                ao[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(b32_dot(type, w1, x + 1)), scale_bcast(vd1, &x[1].d), ao[i][t]);
                if (has_min) mins[i][t] += m0 * x[0].s + m1 * x[1].s;
            }
        }
    if (b < nb)
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = rw[i] + (size_t)b * bb;
            const __m256i w0 = b32_weights(type, blk);
            const float d0 = f16_at(blk), m0 = has_min ? b32_min(blk) : 0.0f;
            for (int t = 0; t < nt; t++) {
                const q8_32 *x = (const q8_32 *)xq[t] + b;
                ae[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(b32_dot(type, w0, x)), _mm256_set1_ps(d0 * x->d), ae[i][t]);
                if (has_min) mins[i][t] += m0 * x->s;
            }
        }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < nt; t++) y[i][(size_t)t * ldy] = hsum8(_mm256_add_ps(ae[i][t], ao[i][t])) + mins[i][t];
}

/* CALL(A, N) for N = nt (1..TB), N a constant in each instance: the
 * kernels' loops over tokens unroll (and on AVX-512 their sums stay in
 * registers). */
#define TB_SWITCH(nt, CALL, A)                                                                                         \
    switch (nt) {                                                                                                      \
    case 1: CALL(A, 1); break;                                                                                         \
    case 2: CALL(A, 2); break;                                                                                         \
    case 3: CALL(A, 3); break;                                                                                         \
    case 4: CALL(A, 4); break;                                                                                         \
    case 5: CALL(A, 5); break;                                                                                         \
    case 6: CALL(A, 6); break;                                                                                         \
    case 7: CALL(A, 7); break;                                                                                         \
    default: CALL(A, 8); break;                                                                                        \
    }

#define ROW1_CALL(ROW_FN, N) ROW_FN(type, rw, 1, nb, x, N, yt, ldy)

/* Row pairs for decode, rows one at a time for prefill (as rows_b256). */
#define ROWS_PAIRED(ROW_FN, BLOCK)                                                                                     \
    const int64_t nb = w->cols / (BLOCK);                                                                              \
    const uint8_t *base = (const uint8_t *)w->data;                                                                    \
    if (n == 1) {                                                                                                      \
        const int64_t half = (r1 - r0 + 1) / 2;                                                                        \
        for (int64_t i = 0; i < half; i++) {                                                                           \
            const int64_t ra = r0 + i, rb = r0 + half + i;                                                             \
            const uint8_t *rw[2] = {base + (size_t)ra * w->row_stride, base + (size_t)rb * w->row_stride};             \
            float *yy[2] = {y + (size_t)(ra - r0), y + (size_t)(rb - r0)};                                             \
            if (rb < r1) ROW_FN(type, rw, 2, nb, xq, 1, yy, ldy);                                                      \
            else ROW_FN(type, rw, 1, nb, xq, 1, yy, ldy);                                                              \
        }                                                                                                              \
        return;                                                                                                        \
    }                                                                                                                  \
    for (int64_t r = r0; r < r1; r++) {                                                                                \
        const uint8_t *rw[1] = {base + (size_t)r * w->row_stride};                                                     \
        for (int t0 = 0; t0 < n; t0 += TB) {                                                                           \
            const void *const *x = xq + t0;                                                                            \
            float *yt[1] = {y + (size_t)(r - r0) + (size_t)t0 * ldy};                                                  \
            TB_SWITCH(n - t0 < TB ? n - t0 : TB, ROW1_CALL, ROW_FN)                                                    \
        }                                                                                                              \
    }

AVX2_AI void rows_b32(int type, const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                      size_t ldy) {
    ROWS_PAIRED(row_b32, 32)
}

/* ---- 3b. Q8_0, Q4_0, Q5_0: integer dots by groups of 8 rows ------------- */

/* Q8_0, Q4_0 and Q5_0 by groups of 8 rows. Output (row r, token t) = the
 * sum over blocks b, in increasing order, of fma(isum, d_w[r][b] *
 * d_x[t][b], acc): one float accumulator, isum the exact integer dot of
 * the block (Q4_0 / Q5_0: with the offset 8 / 16 taken out in integers).
 * Eight rows are one vector, lane i row i: the block's quants are
 * transposed so that dword j of every row shares a vector, and token t's
 * dword j, broadcast, meets all eight rows in one dot. The transposition
 * is paid once per block of the group and shared by every token of the
 * register block; the scale multiply, conversion and FMA are paid once per
 * eight rows. Against the per-row form (8 lanes of partial sums, two FMA
 * chains, a horizontal sum, and for the offset types a scalar product per
 * block and token) that is 2.2x (Q8_0) to 3x fewer multiply-pipe
 * operations per value in prefill. Decode takes the same sums, so a batch
 * gives the bits of its tokens one at a time, and avx2 and avx512 the same
 * bits (exact integers, the same float operations). */

/* The prefetch distance of a group's rows, whose blocks are bstep bytes
 * apart: AVX2_PF within each of 8 streams, or, in the packed layout (one
 * stream: the 8 rows' blocks side by side, bstep = 8 blocks), AVX2_PF_PACKED
 * (the Q8_0 kernel from DRAM, one token, one core: 4 KiB 30.6 GB/s, 8 KiB
 * 37.3, 16 KiB 37.3-39.5, 32 KiB 39.7; the stored layout 29-30). */
#ifndef AVX2_PF_PACKED
#define AVX2_PF_PACKED 16384
#endif
AVX2_AI size_t q8g_prefetch(int type, size_t bstep) {
    return bstep == dsv3_wtype_block_bytes(type) ? AVX2_PF : AVX2_PF_PACKED;
}

/* Dwords at offset off of eight rows (lane i: row i); gofs[i] = rw[i] -
 * rw[0] (one gather, where eight inserts cost twice as many operations),
 * or all -1 when a byte offset does not fit 31 bits: then eight loads. */
AVX2_AI __m256i q8g_dwords(const uint8_t *const *rw, __m256i gofs, size_t off) {
    if (_mm256_testz_si256(gofs, _mm256_set1_epi32((int)0x80000000)) == 0) {
        uint32_t h[8];
        for (int i = 0; i < 8; i++) memcpy(&h[i], rw[i] + off, 4);
        return _mm256_loadu_si256((const __m256i *)(const void *)h);
    }
    return _mm256_i32gather_epi32((const int *)(const void *)(rw[0] + off), gofs, 1);
}

/* The f16 scales at offset off of eight rows, as floats. */
AVX2_AI __m256 q8g_scales(const uint8_t *const *rw, __m256i gofs, size_t off) {
    const __m256i lo = _mm256_and_si256(q8g_dwords(rw, gofs, off), _mm256_set1_epi32(0xFFFF));
    const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, lo), 0x08);
    return _mm256_cvtph_ps(_mm256_castsi256_si128(p));
}

/* The same from eight scalar loads packed in general registers: the
 * integer units are idle in prefill, where the gather took about 14 % of a
 * Q8_0 block's time (in decode the gather is the cheaper). */
AVX2_AI __m256 q8g_scales_gpr(const uint8_t *const *rw, size_t off) {
    uint64_t h[2] = {0, 0};
    for (int i = 0; i < 8; i++) h[i / 4] |= (uint64_t)(rw[i][off] | rw[i][off + 1] << 8) << (16 * (i % 4));
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)h[1], (long long)h[0]));
}

/* Dwords 4h..4h+3 of the quants at offset off of eight rows, transposed:
 * t[k] lane i = dword 4h+k of row i. */
AVX2_AI void q8g_transpose(const uint8_t *const *rw, size_t off, __m256i t[4]) {
    __m256i v[4];
    for (int i = 0; i < 4; i++)
        v[i] = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(rw[i] + off)), load128(rw[i + 4] + off), 1);
    const __m256i a0 = _mm256_unpacklo_epi32(v[0], v[1]), a1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i a2 = _mm256_unpacklo_epi32(v[2], v[3]), a3 = _mm256_unpackhi_epi32(v[2], v[3]);
    t[0] = _mm256_unpacklo_epi64(a0, a2);
    t[1] = _mm256_unpackhi_epi64(a0, a2);
    t[2] = _mm256_unpacklo_epi64(a1, a3);
    t[3] = _mm256_unpackhi_epi64(a1, a3);
}

/* Q5_0: the fifth bits of value dword j (values 4j..4j+3) of eight rows,
 * from their qh words in lanes, as bytes 0 or 16. */
AVX2_AI __m256i q5g_hbits(__m256i qh, int j) {
    const __m256i b = _mm256_srli_epi32(qh, 4 * j);
    const __m256i sp = _mm256_shuffle_epi8(b, _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12, 0, 0, 0, 0,
                                                               4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12));
    const __m256i pat = _mm256_set1_epi32(0x08040201);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(sp, pat), pat), _mm256_set1_epi8(0x10));
}

/* AVX2: acc + the dot of |w| (unsigned) with x signed as w, per dword
 * lane (vpmaddubsw's pairs of |w| * |x| <= 2 * 127 * 127 stay exact). */
AVX2_AI __m256i q8g_dot(__m256i acc, __m256i aw, __m256i w, __m256i x) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1)));
}

/* acc + the dot of unsigned w with signed x, per dword lane (AVX2: pairs
 * of w * x <= 2 * 255 * 127 would not stay exact; here w <= 31 or the
 * AVX-512 form, which has no pairs). */
AVX2_AI __m256i q8g_dot_u(__m256i acc, __m256i w, __m256i x) {
#if Q8K_AVX512
    return _mm256_dpbusd_epi32(acc, w, x);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
#endif
}

/* Lane i to y[yo[i]], for the lanes that stand for a row (yo[i] >= 0). */
AVX2_AI void q8g_store(__m256 v, const int64_t *yo, float *y) {
    float tmp[8];
    _mm256_storeu_ps(tmp, v);
    for (int i = 0; i < 8; i++)
        if (yo[i] >= 0) y[yo[i]] = tmp[i];
}

/* Where a block's integer sum starts: the activation block's c (-128, -8
 * or -16 times sum q: the excess of w + 128 on AVX-512, the offset of
 * Q4_0 / Q5_0), or 0 for AVX2's signed Q8_0 dots. */
AVX2_AI __m256i q8g_start(int type, const q8_32 *x) {
    return type == DSV3_W_Q8_0 && !Q8K_AVX512 ? _mm256_setzero_si256() : _mm256_set1_epi32(x->c);
}

/* Lane i = the sum of the 8 lanes of v[i]: three rounds of pairwise
 * sums, transposing as they go. */
AVX2_AI __m256i q8g_reduce8(const __m256i v[8]) {
    const __m256i a01 = _mm256_hadd_epi32(v[0], v[1]), a23 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i a45 = _mm256_hadd_epi32(v[4], v[5]), a67 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i b0 = _mm256_hadd_epi32(a01, a23), b1 = _mm256_hadd_epi32(a45, a67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(b0, b1, 0x20), _mm256_permute2x128_si256(b0, b1, 0x31));
}

#if Q8K_AVX512
/* Q4_0 / Q5_0, one token, AVX-512: blocks b and b + 1 of a row in one
 * register by masked loads (no byte past the blocks is read: a row may end
 * a mapped file), spread by 16-bit permutes into [b | b + 1] with values in
 * order: the nibbles (the 16 bytes twice per block, shifted by 0 and 4),
 * the fifth bits (each qh byte spread over 8 byte lanes and tested against
 * its bit), and the two f16 scales of eight rows merged into one vector. The pieces of eight rows' dots are then
 * summed by a tree that ends with block b's eight rows in the low half and
 * block b + 1's in the high one. The same exact integer sums as
 * q8g_rows8_1 and the same two FMAs in the same order, so the same bits.
 * The ymm form below (a gather for the scales, a masked move for the fifth
 * bits, one block at a time) is compute-bound on one core (2-core AMD EPYC,
 * Zen 4): from L2, Q5_0 25 -> 34 GB/s and Q4_0 24 -> 40; from DRAM (1.5 GB
 * of 2,048 x 1,408 experts) Q5_0 22 -> 29 and Q4_0 23 -> 33. Two masked
 * loads where block b + 1 is bstep on (the packed layout). Returns the
 * blocks done (nb rounded down to even); acc gets their FMAs. */
AVX2_AI int64_t q45p_rows8_1(int type, const uint8_t *const *rw, int64_t nb, size_t bstep, const q8_32 *x,
                             __m256 *acc) {
    const int q5 = type == DSV3_W_Q5_0;
    const size_t bb = dsv3_b32_bytes(type), pf = q8g_prefetch(type, bstep);
    const int adjacent = bstep == bb; /* a constant in each instance */
    const __mmask64 lm = ((__mmask64)1 << bb) - 1, lm2 = ((__mmask64)1 << 2 * bb) - 1;
    /* 16-bit words of the pair: d at 0 and d1 = bb / 2, qh (Q5_0) at 1-2
     * and d1 + 1..2, the quants 8 words from s0 and d1 + s0 */
    const int d1 = (int)bb / 2, s0 = q5 ? 3 : 1, s1 = d1 + s0;
    const __m512i qi = _mm512_add_epi16(
        _mm512_setr_epi64(0x0003000200010000, 0x0007000600050004, 0x0003000200010000, 0x0007000600050004,
                          0x0003000200010000, 0x0007000600050004, 0x0003000200010000, 0x0007000600050004),
        _mm512_inserti64x4(_mm512_set1_epi16((short)s0), _mm256_set1_epi16((short)s1), 1));
    const __m512i hi = _mm512_setr_epi64(1, 0, 2, 0, d1 + 1, 0, d1 + 2, 0);
    const __m512i spread = _mm512_set4_epi64(0x0101010101010101LL, 0, 0x0101010101010101LL, 0);
    const __m512i bits = _mm512_set1_epi64(0x8040201008040201LL);
    const __m512i sh = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    const __m512i di = _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_setzero_si256(), _mm_set1_epi16((short)d1), 1));
    const __m512i out = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const size_t off = (size_t)b * bstep;
        for (int i = 0; i < 8; i++) {
            _mm_prefetch((const char *)rw[i] + off + pf, _MM_HINT_T0);
            if (!adjacent) _mm_prefetch((const char *)rw[i] + off + bstep + pf, _MM_HINT_T0);
        }
        const __m512i xv = _mm512_inserti64x4(_mm512_castsi256_si512(load256((const uint8_t *)x[b].q)),
                                              load256((const uint8_t *)x[b + 1].q), 1);
        __m512i f[4], dd = _mm512_setzero_si512();
        for (int i = 0; i < 8; i += 2) {
            __m512i v[2];
            for (int k = 0; k < 2; k++) {
                /* block b + 1 to byte bb: adjacent (stored layout: one load) or bstep on */
                const uint8_t *p0 = rw[i + k] + off;
                const __m512i z = adjacent ? _mm512_maskz_loadu_epi8(lm2, p0)
                                           : _mm512_mask_loadu_epi8(_mm512_maskz_loadu_epi8(lm, p0), lm << bb, p0 + bstep - bb);
                __m512i w = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutexvar_epi16(qi, z), sh), _mm512_set1_epi8(0x0F));
                if (q5) {
                    const __m512i h = _mm512_shuffle_epi8(_mm512_permutexvar_epi16(hi, z), spread);
                    w = _mm512_mask_add_epi8(w, _mm512_test_epi8_mask(h, bits), w, _mm512_set1_epi8(0x10));
                }
                v[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, xv);
                dd = _mm512_mask_permutexvar_epi16(dd, (__mmask32)(0x101u << (i + k)), di, z);
            }
            /* [row i: b, b+1 | row i+1: b, b+1], four dwords each */
            f[i / 2] = _mm512_add_epi32(_mm512_shuffle_i64x2(v[0], v[1], 0x88), _mm512_shuffle_i64x2(v[0], v[1], 0xDD));
        }
        const __m512i g0 = _mm512_add_epi32(_mm512_unpacklo_epi32(f[0], f[1]), _mm512_unpackhi_epi32(f[0], f[1]));
        const __m512i g1 = _mm512_add_epi32(_mm512_unpacklo_epi32(f[2], f[3]), _mm512_unpackhi_epi32(f[2], f[3]));
        /* 128-bit lane 2s + j, dword p: row 2p + s, block b + j */
        const __m512i h = _mm512_add_epi32(_mm512_unpacklo_epi64(g0, g1), _mm512_unpackhi_epi64(g0, g1));
        const __m512i c = _mm512_inserti64x4(_mm512_set1_epi32(x[b].c), _mm256_set1_epi32(x[b + 1].c), 1);
        const __m512 si = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_permutexvar_epi32(out, h), c));
        const __m512 dx = _mm512_insertf32x8(_mm512_set1_ps(x[b].d), _mm256_set1_ps(x[b + 1].d), 1);
        const __m512 sc = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(dd)), dx);
        *acc = _mm256_fmadd_ps(_mm512_castps512_ps256(si), _mm512_castps512_ps256(sc), *acc);
        *acc = _mm256_fmadd_ps(_mm512_extractf32x8_ps(si, 1), _mm512_extractf32x8_ps(sc, 1), *acc);
    }
    return b;
}
#endif

/* One token (decode): no transposition to share, so each row's dot is
 * taken in 8 lanes as in the per-row form and the eight rows' lanes are
 * then summed by q8g_reduce8. The integers are exact either way, so this
 * gives the bits of q8g_rows8 with fewer operations when nothing shares
 * the transposition. */
AVX2_AI void q8g_rows8_1(int type, const uint8_t *const *rw, __m256i gofs, const int64_t *yo, int64_t nb,
                         size_t bstep, const void *const *xq, float *y) {
    const size_t pf = q8g_prefetch(type, bstep);
    __m256 acc = _mm256_setzero_ps();
    int64_t b = 0;
#if Q8K_AVX512
    if (type != DSV3_W_Q8_0) {
        const size_t bb = dsv3_b32_bytes(type);
        /* bstep == bb a constant in the first instance (one load a pair) */
        b = bstep == bb ? q45p_rows8_1(type, rw, nb, bb, (const q8_32 *)xq[0], &acc)
                        : q45p_rows8_1(type, rw, nb, bstep, (const q8_32 *)xq[0], &acc);
    }
#endif
    for (; b < nb; b++) {
        const size_t off = (size_t)b * bstep;
        for (int i = 0; i < 8; i++) _mm_prefetch((const char *)rw[i] + off + pf, _MM_HINT_T0);
        const q8_32 *x = (const q8_32 *)xq[0] + b;
        const __m256i xv = load256((const uint8_t *)x->q);
        __m256i v[8];
        for (int i = 0; i < 8; i++) {
            if (type == DSV3_W_Q8_0) {
                const __m256i w = load256(rw[i] + off + 2);
                v[i] = Q8K_AVX512 ? q8g_dot_u(_mm256_setzero_si256(), _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80)), xv)
                                  : q8g_dot(_mm256_setzero_si256(), _mm256_abs_epi8(w), w, xv);
            } else {
                v[i] = q8g_dot_u(_mm256_setzero_si256(), b32_weights(type, rw[i] + off), xv);
            }
        }
        const __m256i si = _mm256_add_epi32(q8g_reduce8(v), q8g_start(type, x));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si), scale_bcast(q8g_scales(rw, gofs, off), &x->d), acc);
    }
    q8g_store(acc, yo, y);
}

/* Eight rows rw[0..8) of `type` against tokens [0, nt) (type and nt
 * constants in each instance): lane i to y[t * ldy + yo[i]] (yo[i] < 0: a
 * lane that repeats another row, not stored). One token goes to
 * q8g_rows8_1. */
AVX2_AI void q8g_rows8(int type, const uint8_t *const *rw, __m256i gofs, const int64_t *yo, int64_t nb,
                       size_t bstep, const void *const *xq, int nt, float *y, size_t ldy) {
    if (nt == 1) {
        q8g_rows8_1(type, rw, gofs, yo, nb, bstep, xq, y);
        return;
    }
    const size_t pf = q8g_prefetch(type, bstep);
    __m256 acc[TB];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * bstep;
        for (int i = 0; i < 8; i++) _mm_prefetch((const char *)rw[i] + off + pf, _MM_HINT_T0);
        __m256i s[TB];
        for (int t = 0; t < nt; t++) s[t] = q8g_start(type, (const q8_32 *)xq[t] + b);
        if (type == DSV3_W_Q8_0) {
            for (int h = 0; h < 2; h++) {
                __m256i w[4], aw[4];
                q8g_transpose(rw, off + 2 + 16 * (size_t)h, w);
                /* AVX-512: w + 128 (unsigned) meets q with one vpdpbusd
                 * per dword, no per-token sign operation */
                for (int k = 0; k < 4; k++)
                    aw[k] = Q8K_AVX512 ? _mm256_xor_si256(w[k], _mm256_set1_epi8((char)0x80)) : _mm256_abs_epi8(w[k]);
                for (int t = 0; t < nt; t++) {
                    const uint8_t *xb = (const uint8_t *)((const q8_32 *)xq[t] + b)->q + 16 * h;
                    for (int k = 0; k < 4; k++) {
                        const __m256i xv = _mm256_set1_epi32((int)le32(xb + 4 * k));
                        s[t] = Q8K_AVX512 ? q8g_dot_u(s[t], aw[k], xv) : q8g_dot(s[t], aw[k], w[k], xv);
                    }
                }
            }
        } else {
            /* Q4_0 / Q5_0: 16 bytes of nibbles, value dword k the low
             * nibbles of dword k, value dword 4 + k the high ones */
            __m256i raw[4];
            q8g_transpose(rw, off + (type == DSV3_W_Q5_0 ? 6 : 2), raw);
            const __m256i qh = type == DSV3_W_Q5_0 ? q8g_dwords(rw, gofs, off + 2) : _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                __m256i w[4];
                for (int k = 0; k < 4; k++) {
                    w[k] = _mm256_and_si256(h ? _mm256_srli_epi16(raw[k], 4) : raw[k], _mm256_set1_epi8(0x0F));
                    if (type == DSV3_W_Q5_0) w[k] = _mm256_or_si256(w[k], q5g_hbits(qh, 4 * h + k));
                }
                for (int t = 0; t < nt; t++) {
                    const uint8_t *xb = (const uint8_t *)((const q8_32 *)xq[t] + b)->q + 16 * h;
#if Q8K_AVX512
                    for (int k = 0; k < 4; k++) s[t] = q8g_dot_u(s[t], w[k], _mm256_set1_epi32((int)le32(xb + 4 * k)));
#else
                    /* AVX2: the four dwords' vpmaddubsw pairs summed in int16 (w <= 31,
                     * |x| <= 127: 4 * 2 * 31 * 127 < 2^15, exact), then one vpmaddwd:
                     * 5 multiply-pipe operations where q8g_dot_u spends 8 (from cache,
                     * 2-core AMD EPYC: Q4_0 1.38x, Q5_0 1.21x) */
                    s[t] = madd_acc(s[t], u8_pairs16(w, xb, 4), _mm256_set1_epi16(1));
#endif
                }
            }
        }
        const __m256 dw = q8g_scales_gpr(rw, off);
        for (int t = 0; t < nt; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), scale_bcast(dw, &((const q8_32 *)xq[t] + b)->d), acc[t]);
    }
    for (int t = 0; t < nt; t++) q8g_store(acc[t], yo, y + (size_t)t * ldy);
}

/* ---- 4. integer dots: 256-value super-blocks ----------------------------- */

/* A super-block is value i = d * s16[i/16] * q[i] - dm * m16[i/16] per unit
 * of activation, q unsigned (IQ4_XS: signed). Chunk k (values 32k..32k+31)
 * is decoded in registers when it is used, for a block of up to TB tokens;
 * the sums of q*x per 16 values, times s16, stay exact in int32. */

/* Q3_K's 16 signed 6-bit scales (bytes 96..107 of the block) as int8, in
 * vector lanes: the k3_scales arithmetic, four dwords at once. */
AVX2_AI __m128i k3_scales_v(const uint8_t *s) {
    const int a0 = (int)le32(s), a1 = (int)le32(s + 4), a2 = (int)le32(s + 8);
    const __m128i lo = _mm_and_si128(_mm_srlv_epi32(_mm_setr_epi32(a0, a1, a0, a1), _mm_setr_epi32(0, 0, 4, 4)),
                                     _mm_set1_epi8(0x0F));
    const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32(a2), _mm_setr_epi32(0, 2, 4, 6)), _mm_set1_epi8(0x03));
    return _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi32(hi, 4)), _mm_set1_epi8(32));
}

/* Q4_K / Q5_K: the k4_scales arithmetic in dword lanes, scales in bytes
 * 0..7 and mins in bytes 8..15. Reads 16 bytes from s (the 12 scale
 * bytes, then 4 bytes of quants of the same block). */
AVX2_AI __m128i k4_scales_v(const uint8_t *s) {
    const __m128i v = load128(s);                            /* w0 w1 w2 .  */
    const __m128i a = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)); /* w0 w2 w1 w2 */
    const __m128i lo = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)),
                                     _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    const __m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)); /* .  w0 .  w1 */
    const __m128i hi = _mm_and_si128(_mm_srli_epi32(b, 6), _mm_setr_epi32(0, 0x03030303, 0, 0x03030303));
    return _mm_or_si128(lo, _mm_slli_epi32(hi, 4));
}

/* IQ4_XS's 8 scales (iq4xs_ls, g = 0..7) as int16 lanes. */
AVX2_AI __m128i iq4xs_scales_v(const uint8_t *x) {
    const __m128i l = _mm_cvtsi32_si128((int)le32(x + 4));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(l, m4), _mm_and_si128(_mm_srli_epi16(l, 4), m4));
    const int sh = x[2] | (x[3] << 8);
    const __m256i h = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(sh), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                       _mm256_set1_epi32(3));
    const __m128i h16 = _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    return _mm_sub_epi16(_mm_or_si128(_mm_cvtepu8_epi16(nib), _mm_slli_epi16(h16, 4)), _mm_set1_epi16(32));
}

typedef struct sb_scales {
    __m256i s16, m16; /* per-16 scales and min multipliers */
    float d, dm;
} sb_scales;

AVX2_AI sb_scales sb_header(int type, const uint8_t *x) {
    sb_scales h;
    switch (type) {
    case DSV3_W_Q2_K: {
        const __m128i sv = load128(x);
        h.s16 = _mm256_cvtepu8_epi16(_mm_and_si128(sv, _mm_set1_epi8(0x0F)));
        h.m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sv, 4), _mm_set1_epi8(0x0F)));
        h.d = f16_at(x + 80);
        h.dm = f16_at(x + 82);
        break;
    }
    case DSV3_W_Q3_K: {
        h.s16 = _mm256_cvtepi8_epi16(k3_scales_v(x + 96));
        h.m16 = _mm256_slli_epi16(h.s16, 2); /* offset 4 */
        h.d = h.dm = f16_at(x + 108);
        break;
    }
    case DSV3_W_Q4_K:
    case DSV3_W_Q5_K: {
        const __m128i r = k4_scales_v(x + 4);
        h.s16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(r, r));
        h.m16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(r, r));
        h.d = f16_at(x);
        h.dm = f16_at(x + 2);
        break;
    }
    case DSV3_W_Q6_K:
        h.s16 = _mm256_cvtepi8_epi16(load128(x + 192));
        h.m16 = _mm256_slli_epi16(h.s16, 5); /* offset 32 */
        h.d = h.dm = f16_at(x + 208);
        break;
    default: { /* IQ4_XS */
        const __m128i s = iq4xs_scales_v(x);
        h.s16 = _mm256_set_m128i(_mm_unpackhi_epi16(s, s), _mm_unpacklo_epi16(s, s));
        h.m16 = _mm256_setzero_si256();
        h.d = f16_at(x);
        h.dm = 0.0f;
        break;
    }
    }
    return h;
}

/* Bytes of one super-block (a constant once inlined). */
AVX2_AI size_t sb_bytes(int type) {
    switch (type) {
    case DSV3_W_Q2_K: return 84;
    case DSV3_W_Q3_K: return 110;
    case DSV3_W_Q4_K: return 144;
    case DSV3_W_Q5_K: return 176;
    case DSV3_W_Q6_K: return 210;
    default: return 136; /* IQ4_XS */
    }
}

/* The quants of chunk k (0..7) of super-block x. */
AVX2_AI __m256i sb_chunk(int type, const uint8_t *x, int k) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const int h = k / 4, j = k % 4;
    switch (type) {
    case DSV3_W_Q2_K: return _mm256_and_si256(_mm256_srli_epi16(load256(x + 16 + 32 * h), 2 * j), m2);
    case DSV3_W_Q3_K:
        return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(load256(x + 32 + 32 * h), 2 * j), m2),
                               bit_to(load256(x), 4 * h + j, 4));
    case DSV3_W_Q4_K: {
        const __m256i q = load256(x + 16 + 32 * (k / 2));
        return _mm256_and_si256(k & 1 ? _mm256_srli_epi16(q, 4) : q, m4);
    }
    case DSV3_W_Q5_K: {
        const __m256i q = load256(x + 48 + 32 * (k / 2));
        return _mm256_or_si256(_mm256_and_si256(k & 1 ? _mm256_srli_epi16(q, 4) : q, m4), bit_to(load256(x + 16), k, 16));
    }
    case DSV3_W_Q6_K: {
        const __m256i a = load256(x + 64 * h), b = load256(x + 64 * h + 32), hb = load256(x + 128 + 32 * h);
        const __m256i m3 = _mm256_set1_epi8(0x30);
        switch (j) {
        case 0: return _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m3));
        case 1: return _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m3));
        case 2: return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(hb, m3));
        default: return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m3));
        }
    }
    default: /* IQ4_XS */
        return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(kvalues128()), nibbles32(x + 8 + 16 * k));
    }
}

/* Chunk k's scale vector: s16[2k] in the low 8 int16 lanes, s16[2k+1] high. */
AVX2_AI __m256i sb_scale_vec(__m256i s16, int k) {
    const __m256i half = _mm256_broadcastsi128_si256(k < 4 ? _mm256_castsi256_si128(s16) : _mm256_extracti128_si256(s16, 1));
    const int b = 4 * (k % 4);
    const __m256i m = _mm256_setr_epi8((char)b, (char)(b + 1), (char)b, (char)(b + 1), (char)b, (char)(b + 1), (char)b,
                                       (char)(b + 1), (char)b, (char)(b + 1), (char)b, (char)(b + 1), (char)b, (char)(b + 1),
                                       (char)b, (char)(b + 1), (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3),
                                       (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3),
                                       (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3), (char)(b + 2), (char)(b + 3));
    return _mm256_shuffle_epi8(half, m);
}

/* Chunk k of super-block b against up to TB tokens: s[t] += sum s16 * q * x. */
AVX2_AI void sb_step(int type, const uint8_t *blk, const sb_scales *h, int k, const void *const *xq, int64_t b, int nt,
                     __m256i *s) {
    const int is_signed = type == DSV3_W_IQ4_XS;
    const __m256i wq = sb_chunk(type, blk, k), sc = sb_scale_vec(h->s16, k);
    const __m256i aw = is_signed ? _mm256_abs_epi8(wq) : wq;
    for (int t = 0; t < nt; t++) {
        const __m256i xv = load256((const uint8_t *)((const q8_256 *)xq[t] + b)->q + 32 * k);
        const __m256i p = _mm256_maddubs_epi16(aw, is_signed ? _mm256_sign_epi8(xv, wq) : xv);
        s[t] = madd_acc(s[t], p, sc);
    }
}

#if Q8K_AVX512
/* Q6_K's eight chunks against up to TB tokens in 512-bit registers, two
 * chunks a register: the 64 ql bytes of half super-block h hold chunks
 * 4h and 4h+1 in their low nibbles and 4h+2, 4h+3 in their high ones,
 * the 32 qh bytes (in both halves) their high bits at shifts (4, 2) and
 * (0, -2), and the tokens' chunks lie in the same order. Dword lanes i and
 * 8 + i hold values 4i..4i+3 of the register's two chunks, so the two
 * halves added are sb_step's 8 lanes: the same exact integers, about half
 * the instructions. Weights from L2 on one core (2-core AMD EPYC, Zen 4):
 * one token 48 -> 69 GB/s, 8 tokens 1.44x, 64 tokens 1.17x; one token from
 * DRAM stays at the bandwidth. s[t] gets the sum over all eight chunks. */
AVX2_AI void q6k_sums512(const uint8_t *blk, __m256i s16, const void *const *xq, int64_t b, int nt, __m256i *s) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    /* int16 lane l of the scales of chunks (c, c + 1): s16[2c + l / 8] */
    const __m512i l8 = _mm512_srli_epi16(
        _mm512_setr_epi64(0x0003000200010000, 0x0007000600050004, 0x000B000A00090008, 0x000F000E000D000C,
                          0x0013001200110010, 0x0017001600150014, 0x001B001A00190018, 0x001F001E001D001C),
        3);
    const __m512i sc = _mm512_castsi256_si512(s16);
    __m512i a[TB];
    for (int t = 0; t < nt; t++) a[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512(blk + 64 * h);
        const __m512i hb = _mm512_broadcast_i64x4(load256(blk + 128 + 32 * h));
        const __m512i w0 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(hb, shl), m3));
        const __m512i w1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                           _mm512_and_si512(_mm512_srlv_epi16(hb, shr), m3));
        const __m512i c0 = _mm512_permutexvar_epi16(_mm512_add_epi16(l8, _mm512_set1_epi16((short)(8 * h))), sc);
        const __m512i c1 = _mm512_permutexvar_epi16(_mm512_add_epi16(l8, _mm512_set1_epi16((short)(8 * h + 4))), sc);
        for (int t = 0; t < nt; t++) {
            const int8_t *xb = ((const q8_256 *)xq[t] + b)->q + 128 * h;
            a[t] = _mm512_dpwssd_epi32(a[t], _mm512_maddubs_epi16(w0, _mm512_loadu_si512(xb)), c0);
            a[t] = _mm512_dpwssd_epi32(a[t], _mm512_maddubs_epi16(w1, _mm512_loadu_si512(xb + 64)), c1);
        }
    }
    for (int t = 0; t < nt; t++) s[t] = _mm256_add_epi32(_mm512_castsi512_si256(a[t]), _mm512_extracti64x4_epi64(a[t], 1));
}
#endif

/* The 8 chunks of super-block b, even ones into s and odd ones into s1
 * (written out: k must be a constant in each). */
AVX2_AI void sb_steps8(int type, const uint8_t *blk, const sb_scales *h, const void *const *xq, int64_t b, int nt,
                       __m256i *s, __m256i *s1) {
    sb_step(type, blk, h, 0, xq, b, nt, s);
    sb_step(type, blk, h, 1, xq, b, nt, s1);
    sb_step(type, blk, h, 2, xq, b, nt, s);
    sb_step(type, blk, h, 3, xq, b, nt, s1);
    sb_step(type, blk, h, 4, xq, b, nt, s);
    sb_step(type, blk, h, 5, xq, b, nt, s1);
    sb_step(type, blk, h, 6, xq, b, nt, s);
    sb_step(type, blk, h, 7, xq, b, nt, s1);
}

/* Rows rw[0..R) (R = 1 or 2) against tokens [0, nt) (R and nt constants in
 * each instance): y[i][t * ldy]. Two rows from far-apart parts of a
 * thread's range give decode (nt = 1) two independent streams and chains;
 * each output's arithmetic is that of R = 1. */
AVX2_AI void row_b256(int type, const uint8_t *const *rw, int R, int64_t nb, const void *const *xq, int nt,
                      float *const *y, size_t ldy) {
    const size_t bb = sb_bytes(type);
    const int has_min = type != DSV3_W_IQ4_XS;
    __m256 acc[2][TB];
    for (int i = 0; i < 2; i++)
        for (int t = 0; t < TB; t++) acc[i][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = rw[i] + (size_t)b * bb;
            for (size_t o = 0; o < bb; o += 64) _mm_prefetch((const char *)blk + AVX2_PF + o, _MM_HINT_T0);
            const sb_scales h = sb_header(type, blk);
            /* even and odd chunks in two int32 sums: two short dependency
             * chains (vpdpwssd's latency would otherwise serialize a row) */
            __m256i s[TB], s1[TB];
            for (int t = 0; t < TB; t++) s[t] = s1[t] = _mm256_setzero_si256();
#if Q8K_AVX512
            if (type == DSV3_W_Q6_K) q6k_sums512(blk, h.s16, xq, b, nt, s);
            else
#endif
                sb_steps8(type, blk, &h, xq, b, nt, s, s1);
            for (int t = 0; t < nt; t++) s[t] = _mm256_add_epi32(s[t], s1[t]);
            const __m256 vd = _mm256_set1_ps(h.d), vdm = _mm256_set1_ps(h.dm);
            for (int t = 0; t < nt; t++) {
                const q8_256 *xb = (const q8_256 *)xq[t] + b;
                acc[i][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), scale_bcast(vd, &xb->d), acc[i][t]);
                if (has_min) {
                    const __m256i m = _mm256_madd_epi16(h.m16, load256((const uint8_t *)xb->bsum));
                    acc[i][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), scale_bcast(vdm, &xb->d), acc[i][t]);
                }
            }
            ROW_FENCE();
        }
    }
    for (int i = 0; i < R; i++)
        for (int t = 0; t < nt; t++) y[i][(size_t)t * ldy] = hsum8(acc[i][t]);
}

AVX2_AI void rows_b256(int type, const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                       size_t ldy) {
    ROWS_PAIRED(row_b256, 256)
}

/* ---- 4b. Q4_K by groups of 8 rows -------------------------------------- */

/* Q4_K as Q8_0 goes in section 3b: eight rows are one vector, lane i row
 * i, and the nibbles of each 32-value chunk are transposed so that dword
 * k of every row shares a vector; token t's dword k, broadcast, meets all
 * eight rows in one vpmaddubsw. Output (row r, token t) = the sum over
 * super-blocks, in increasing order, of
 *     acc = fma(S, d * d_x, acc);  acc = fnma(M, dmin * d_x, acc)
 * with S = sum_j sc_j * (q . x)_j and M = sum_j m_j * (sum x)_j, the
 * exact integers of the super-block (|S| < 2^25). Per chunk and token the
 * eight dwords' vpmaddubsw pairs are summed in int16 (8 * 2 * 15 * 128 <
 * 2^15: exact) and one vpmaddwd (VNNI: vpdpwssd) against (sc_j, sc_j)
 * both finishes the dot and applies the scale; the 6-bit scales and mins
 * are unpacked once per super-block for the eight rows together, in dword
 * lanes. AVX-512 sums a chunk's dwords with vpdpbusd instead and
 * applies the scale with vpmulld: the same integers. Per 32 values and
 * token that is 8 + 1 + 1 multiply-pipe operations for eight rows, where
 * the per-row form spends 2 for each row. Decode (one token) goes the same
 * way: the transposition is not shared there, yet a row costs fewer
 * operations than in the per-row form, and the 8 streams read faster
 * (AVX-512, 1 thread, from memory: 1.18x). Every token count takes the
 * same integers and float operations, so a batch gives the bits of its
 * tokens one at a time. */

/* d and dmin of eight rows from their first header dwords (lane i: row i). */
AVX2_AI void k4g_dd(__m256i h, __m256 *d, __m256 *dm) {
    const __m256i lo = _mm256_and_si256(h, _mm256_set1_epi32(0xFFFF)), hi = _mm256_srli_epi32(h, 16);
    /* packus: lo0-3 hi0-3 | lo4-7 hi4-7; the permute puts lo0-7 low, hi0-7 high */
    const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    *d = _mm256_cvtph_ps(_mm256_castsi256_si128(p));
    *dm = _mm256_cvtph_ps(_mm256_extracti128_si256(p, 1));
}

/* The 6-bit scale and min of chunk j from the transposed scale words
 * (w0, w1, w2: bytes 4..15 of the super-block). Mins as (v, v) int16
 * pairs (vpmaddwd against a bsum dword: two 16-value sums); scales the
 * same for AVX2 and as plain dwords for AVX-512 (vpmulld). */
AVX2_AI __m256i k4g_pair(__m256i v) { return _mm256_or_si256(v, _mm256_slli_epi32(v, 16)); }
AVX2_AI __m256i k4g_sc(__m256i v) { return Q8K_AVX512 ? v : k4g_pair(v); }

AVX2_AI void k4g_scales(__m256i w0, __m256i w1, __m256i w2, __m256i sc[8], __m256i mn[8]) {
    const __m256i m6 = _mm256_set1_epi32(63), m4 = _mm256_set1_epi32(15), m2 = _mm256_set1_epi32(3);
    for (int j = 0; j < 4; j++) {
        sc[j] = k4g_sc(_mm256_and_si256(_mm256_srli_epi32(w0, 8 * j), m6));
        mn[j] = k4g_pair(_mm256_and_si256(_mm256_srli_epi32(w1, 8 * j), m6));
        const __m256i s4 = _mm256_and_si256(_mm256_srli_epi32(w2, 8 * j), m4);
        const __m256i n4 = _mm256_and_si256(_mm256_srli_epi32(w2, 8 * j + 4), m4);
        const __m256i s2 = _mm256_and_si256(_mm256_srli_epi32(w0, 8 * j + 6), m2);
        const __m256i n2 = _mm256_and_si256(_mm256_srli_epi32(w1, 8 * j + 6), m2);
        sc[4 + j] = k4g_sc(_mm256_or_si256(s4, _mm256_slli_epi32(s2, 4)));
        mn[4 + j] = k4g_pair(_mm256_or_si256(n4, _mm256_slli_epi32(n2, 4)));
    }
}

/* Eight rows rw[0..8) of Q4_K against tokens [0, nt) (nt a constant in
 * each instance), as q8g_rows8, one token included. */
AVX2_AI void k4g_rows8(const uint8_t *const *rw, const int64_t *yo, int64_t nb, size_t bstep,
                       const void *const *xq, int nt, float *y, size_t ldy) {
    const size_t pf = q8g_prefetch(DSV3_W_Q4_K, bstep);
    __m256 acc[TB];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * bstep;
        for (int i = 0; i < 8; i++)
            for (size_t o = 0; o < sb_bytes(DSV3_W_Q4_K); o += 64) _mm_prefetch((const char *)rw[i] + off + pf + o, _MM_HINT_T0);
        __m256i hd[4], sc[8], mn[8];
        q8g_transpose(rw, off, hd); /* d | dmin, then the 12 scale bytes */
        k4g_scales(hd[1], hd[2], hd[3], sc, mn);
        __m256i s[TB], m[TB];
        for (int t = 0; t < nt; t++) s[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            /* 32 bytes: chunk 2c in the low nibbles, chunk 2c + 1 in the high */
            __m256i raw[8];
            q8g_transpose(rw, off + 16 + 32 * (size_t)c, raw);
            q8g_transpose(rw, off + 32 + 32 * (size_t)c, raw + 4);
            for (int h = 0; h < 2; h++) {
                const int j = 2 * c + h;
                __m256i w[8];
                for (int k = 0; k < 8; k++)
                    w[k] = _mm256_and_si256(h ? _mm256_srli_epi16(raw[k], 4) : raw[k], _mm256_set1_epi8(0x0F));
                for (int t = 0; t < nt; t++) {
                    const q8_256 *x = (const q8_256 *)xq[t] + b;
                    const uint8_t *xb = (const uint8_t *)x->q + 32 * j;
#if Q8K_AVX512
                    /* two chains: vpdpbusd's latency would serialize eight */
                    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w[0], _mm256_set1_epi32((int)le32(xb)));
                    __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w[1], _mm256_set1_epi32((int)le32(xb + 4)));
                    for (int k = 2; k < 8; k += 2) {
                        p = _mm256_dpbusd_epi32(p, w[k], _mm256_set1_epi32((int)le32(xb + 4 * k)));
                        p1 = _mm256_dpbusd_epi32(p1, w[k + 1], _mm256_set1_epi32((int)le32(xb + 4 * k + 4)));
                    }
                    s[t] = _mm256_add_epi32(s[t], _mm256_mullo_epi32(_mm256_add_epi32(p, p1), sc[j]));
#else
                    s[t] = madd_acc(s[t], u8_pairs16(w, xb, 8), sc[j]);
#endif
                }
            }
        }
        /* the mins after the quants: fewer sums live at once (no spills) */
        for (int t = 0; t < nt; t++) {
            const uint8_t *bs = (const uint8_t *)((const q8_256 *)xq[t] + b)->bsum;
            m[t] = _mm256_madd_epi16(mn[0], _mm256_set1_epi32((int)le32(bs)));
            for (int j = 1; j < 8; j++) m[t] = madd_acc(m[t], mn[j], _mm256_set1_epi32((int)le32(bs + 4 * j)));
        }
        __m256 d, dm;
        k4g_dd(hd[0], &d, &dm);
        for (int t = 0; t < nt; t++) {
            const float *dx = &((const q8_256 *)xq[t] + b)->d;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), scale_bcast(d, dx), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m[t]), scale_bcast(dm, dx), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) q8g_store(acc[t], yo, y + (size_t)t * ldy);
}

/* ---- 5. the walk over a thread's rows by groups of 8 ------------------- */

#define GROUP_CALL(TYPE, N)                                                                                            \
    do {                                                                                                               \
        if ((TYPE) == DSV3_W_Q4_K) k4g_rows8(rw, yo, nb, bstep, x, N, yt, ldy);                                        \
        else q8g_rows8(TYPE, rw, gofs, yo, nb, bstep, x, N, yt, ldy);                                                  \
    } while (0)

/* One group (rw, yo, gofs, bstep) against every token, TB at a time. */
#define GROUP_TOKENS(TYPE)                                                                                             \
    for (int t0 = 0; t0 < n; t0 += TB) {                                                                               \
        const void *const *x = xq + t0;                                                                                \
        float *yt = y + (size_t)t0 * ldy;                                                                              \
        TB_SWITCH(n - t0 < TB ? n - t0 : TB, GROUP_CALL, TYPE)                                                         \
    }

AVX2_AI void rows_grouped(int type, const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                          size_t ldy) {
    const size_t bb = type == DSV3_W_Q4_K ? sb_bytes(DSV3_W_Q4_K) : dsv3_b32_bytes(type);
    const int64_t nb = w->cols / (type == DSV3_W_Q4_K ? 256 : 32);
    if (w->packed && r0 % 8 == 0 && r1 % 8 == 0) {
        /* The packed copy (avx2_pack_rows8): group k = rows 8k..8k+7, its
         * blocks in the order block 0 of rows 8k..8k+7, block 1 of them, ...:
         * one sequential stream; lane i at byte i * bb, the next block of a
         * row 8 blocks further. The same kernels, so the same bits. */
        const size_t bstep = 8 * bb;
        const __m256i gofs = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)bb));
        for (int64_t r = r0; r < r1; r += 8) {
            const uint8_t *g = (const uint8_t *)w->packed + (size_t)r * (size_t)nb * bb, *rw[8];
            int64_t yo[8];
            for (int i = 0; i < 8; i++) {
                rw[i] = g + (size_t)i * bb;
                yo[i] = r + i - r0;
            }
            GROUP_TOKENS(type);
        }
        return;
    }
    const size_t bstep = bb;
    const int64_t q = (r1 - r0 + 7) / 8;
    const uint8_t *base = (const uint8_t *)w->data;
    /* Lane i of group k is row r0 + k + i * q: the range is cut into 8
     * slices and each lane walks its own slice row after row, so a thread
     * reads 8 long sequential streams, each prefetched AVX2_PF ahead, as
     * the per-row form read 2. (Eight adjacent rows instead: 8 streams a
     * row apart, where a prefetch within a row lands on rows already read;
     * Q8_0 experts of 1,408 x 2,048 from DRAM ran at 25 GB/s against 29.) */
    for (int64_t k = 0; k < q; k++) {
        const uint8_t *rw[8];
        int64_t yo[8];
        int32_t go[8];
        for (int i = 0; i < 8; i++) {
            const int64_t r = r0 + k + (int64_t)i * q;
            yo[i] = r < r1 ? r - r0 : -1;
            rw[i] = base + (size_t)(r < r1 ? r : r0 + k) * w->row_stride;
            /* past 31 bits (a matrix over 2 GiB): q8g_dwords loads, not a gather */
            go[i] = rw[i] - rw[0] <= INT32_MAX ? (int32_t)(rw[i] - rw[0]) : -1;
        }
        const __m256i gofs = _mm256_loadu_si256((const __m256i *)(const void *)go);
        GROUP_TOKENS(type);
    }
}

#define ROWS_FN(NAME, FN, TYPE)                                                                                       \
    AVX2_NI void NAME(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,           \
                     size_t ldy) {                                                                                    \
        FN(TYPE, w, r0, r1, xq, n, y, ldy);                                                                           \
    }
ROWS_FN(rows_q8_0_grouped, rows_grouped, DSV3_W_Q8_0)
ROWS_FN(rows_q4_0_grouped, rows_grouped, DSV3_W_Q4_0)
ROWS_FN(rows_q5_0_grouped, rows_grouped, DSV3_W_Q5_0)
ROWS_FN(rows_q4_1, rows_b32, DSV3_W_Q4_1)
ROWS_FN(rows_q5_1, rows_b32, DSV3_W_Q5_1)
ROWS_FN(rows_iq4_nl, rows_b32, DSV3_W_IQ4_NL)
ROWS_FN(rows_q2_k, rows_b256, DSV3_W_Q2_K)
ROWS_FN(rows_q3_k, rows_b256, DSV3_W_Q3_K)
ROWS_FN(rows_q4_k_grouped, rows_grouped, DSV3_W_Q4_K)
ROWS_FN(rows_q5_k, rows_b256, DSV3_W_Q5_K)
ROWS_FN(rows_q6_k, rows_b256, DSV3_W_Q6_K)
ROWS_FN(rows_iq4_xs, rows_b256, DSV3_W_IQ4_XS)

/* Rows [r0, r1) of w against n quantized rows: the body of each backend's
 * avx2_rows_q8_fn. */
AVX2_AI void q8_rows(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                     size_t ldy) {
    for (int t0 = 0; t0 < n; t0 += DSV3_MAX_UBATCH) {
        const int nt = n - t0 < DSV3_MAX_UBATCH ? n - t0 : DSV3_MAX_UBATCH;
        const void *const *x = xq + t0;
        float *yt = y + (size_t)t0 * ldy;
        switch (w->type) {
        case DSV3_W_Q8_0: rows_q8_0_grouped(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q4_0: rows_q4_0_grouped(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q4_1: rows_q4_1(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q5_0: rows_q5_0_grouped(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q5_1: rows_q5_1(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_IQ4_NL: rows_iq4_nl(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q2_K: rows_q2_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q3_K: rows_q3_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q4_K: rows_q4_k_grouped(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q5_K: rows_q5_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_Q6_K: rows_q6_k(w, r0, r1, x, nt, yt, ldy); break;
        case DSV3_W_IQ4_XS: rows_iq4_xs(w, r0, r1, x, nt, yt, ldy); break;
        default: break;
        }
    }
}


#endif
