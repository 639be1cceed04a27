/* kv.h -- the KV cache write shared by the CPU backends (host memory). */
#ifndef DSV3_CPU_KV_H
#define DSV3_CPU_KV_H

#include "backend.h"

/* ops->store_kv for host caches: each row through dsv3_quantize_row
 * (F16: round to nearest even, saturating at +-65504; Q8_0: ggml's
 * reference quantizer, d = max|x| / 127 per 32 values). Every CPU backend
 * uses it, so their caches hold the same bytes for the same latents. */
void dsv3_cpu_store_kv(dsv3_backend *be, int kv_type, const float *x, int ldx, void *dst, size_t row_bytes, int n,
                       int kvl);

#endif
