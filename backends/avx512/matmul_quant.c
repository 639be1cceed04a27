/* matmul_quant.c -- the avx512 integer-path row kernels: avx2's
 * q8_kernels.h compiled with AVX-512 BW/VL and VNNI, where its helpers take
 * their shorter forms (masked moves for the fifth / high bits of Q5_0,
 * Q5_1, Q5_K and Q3_K, vpdpbusd and vpdpwssd for the dot products). Same
 * integer sums and the same f32 operations in the same order as avx2, so
 * the two backends give the same bits. */
/* Only with the flags that CMake gives this directory; without them the
 * file is empty and the backend is not registered. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && \
    defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "avx2/q8_kernels.h"
#include "avx512.h"

void avx512_rows_q8(const dsv3_weight *w, int64_t r0, int64_t r1, const void *const *xq, int n, float *y,
                    size_t ldy) {
    q8_rows(w, r0, r1, xq, n, y, ldy);
}

#else
typedef int dsv3_avx512_matmul_quant_unused; /* ISO C: no empty translation unit */
#endif
