/* avx512.c -- the avx512 backend: availability and op table.
 *
 * Compiled for baseline x86-64: available() must run, and say no, on a
 * CPU without AVX-512. Everything but the integer-path kernels is the avx2
 * backend's (see avx512.h). */
#if defined(DSV3_HAVE_AVX512) && defined(DSV3_HAVE_AVX2) /* set by CMake */
#include <cpuid.h>

#include "avx512.h"
#include "cpu/kv.h"
#include "dsv3.h"

/* avx2's requirements, AVX-512 F/DQ/BW/VL and VNNI, and an OS that saves
 * the opmask and ZMM state (XCR0 bits 5-7 besides SSE and AVX). */
static int avx512_available(void) {
    if (!avx2_cpu_ok()) return 0;
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31, vnni = 1u << 11;
    if ((b & (f | dq | bw | vl)) != (f | dq | bw | vl) || !(c & vnni)) return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    return (xlo & 0xE6u) == 0xE6u;
}

static int avx512_init(const dsv3_backend_params *p, dsv3_backend **out, dsv3_err *e) {
    const int rc = avx2_init(p, out, e);
    if (rc == DSV3_OK) {
        avx2_set_q8_kernel(*out, avx512_rows_q8);
        avx2_set_fp8_kernel(*out, avx512_rows_fp8s);
    }
    return rc;
}

const dsv3_backend_ops dsv3_backend_avx512 = {
    .version = DSV3_BACKEND_V5,
    .name = "avx512",
    .available = avx512_available,
    .priority = 20,
    .init = avx512_init,
    AVX2_SHARED_OPS,
};

#else
typedef int dsv3_avx512_unused; /* ISO C: no empty translation unit */
#endif
