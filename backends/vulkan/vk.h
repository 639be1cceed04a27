/* vk.h -- the Vulkan backend's private interface between its runtime
 * (loader, device, memory, command recording: vk_runtime*.c) and its ops
 * (vk_op_*.c, each with its shaders beside it in shaders/).
 *
 * Addresses. lib/ does pointer arithmetic on what alloc() returns (a
 * cache row, a column slice of an activation), so device memory is handed
 * out as addresses in a range of host address space reserved with
 * PROT_NONE (never touched, costs no memory): an address inside an
 * allocation maps to (buffer, offset). Shaders get device addresses
 * (VK_KHR_buffer_device_address, core in 1.2) in push constants, so an op
 * turns any lib/ pointer into a 64-bit device address with
 * dsv3_vk_addr() and needs no descriptor sets.
 *
 * Ordering. Ops record dispatches into the current command buffer; a
 * memory barrier follows every dispatch and copy. Nothing is submitted
 * until a host read or write needs it (to_host, from_host, a CPU fallback)
 * or the recorded work grows past a bound; dsv3_vk_flush() submits and
 * waits. The router's top-k runs on the device (route) and a one-token
 * step's experts read its picks there (vk_op_moe_dev.c), so a decode
 * step with every layer on the device waits once, for its logits; a
 * layer whose experts are on the host reads its picks back (one wait).
 *
 * Host inputs. Ops that take small host arrays (rope's cos/sin, MoE ids
 * and weights) copy them into the upload ring with dsv3_vk_upload(),
 * which returns a device address valid until the next flush.
 *
 * Errors. Ops return void in the vtable. A failure (device lost, out of
 * device memory) is kept as the backend's sticky error: later ops are
 * skipped, and lib/ reads it through ops->status after a step.
 *
 * Weights. upload_weight() only records; the backend's load_done() decides
 * placement (policy + budget) and uploads what goes to the device in
 * bounded staging chunks. A weight on the device has w->device pointing to
 * a dsv3_vk_weight; one left on the host has w->device == NULL, and an op
 * given such a weight runs on the backend's CPU helper backend
 * (dsv3_vk_cpu), reading its activations back and writing its result. */
#ifndef DSV3_VK_H
#define DSV3_VK_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef struct dsv3_vk dsv3_vk;       /* = struct dsv3_backend of "vulkan" */
typedef struct dsv3_vk_pipeline dsv3_vk_pipeline;

/* A weight placed on the device: the stored bytes unchanged (rows at
 * row_stride, as in the file), and for FP8 the f32 block scales. */
typedef struct dsv3_vk_weight {
    uint64_t addr;       /* device address of element [0][0]           */
    uint64_t scale_addr; /* DSV3_W_F8_E4M3: device address of the scales */
    uint64_t bytes;
} dsv3_vk_weight;

/* ---- runtime (vk_runtime*.c) ------------------------------------------- */

/* Device address of a lib/ pointer into memory from alloc(); 0 (and the
 * sticky error set) when p is not inside a live allocation. */
uint64_t dsv3_vk_addr(dsv3_vk *vk, const void *p);

/* Copy `bytes` of host data into the upload ring; returns its device
 * address (16-byte aligned), valid until the next dsv3_vk_flush(). */
uint64_t dsv3_vk_upload(dsv3_vk *vk, const void *data, size_t bytes);

/* A compute pipeline from embedded SPIR-V, created once (on first use) and
 * cached by `spirv` pointer. Specialization constant 0 is the workgroup's
 * x size (local_size_x_id = 0), `spec1` is constant 1 (0 if unused). */
dsv3_vk_pipeline *dsv3_vk_pipeline_get(dsv3_vk *vk, const uint32_t *spirv, size_t spirv_bytes, uint32_t local_x,
                                       uint32_t spec1);

/* Record one dispatch of pipeline p with push constants pc (<= 128 bytes),
 * followed by a compute-to-compute memory barrier. Groups beyond the
 * device's limit in x are folded into y by the runtime (shaders compute
 * their group index as gl_WorkGroupID.x + gl_NumWorkGroups.x *
 * gl_WorkGroupID.y and return past the end: see shaders/common.glsl). */
void dsv3_vk_dispatch(dsv3_vk *vk, dsv3_vk_pipeline *p, const void *pc, size_t pc_bytes, uint32_t groups_x,
                      uint32_t groups_y, uint32_t groups_z);

/* Record a device-to-device copy (plus barrier). */
void dsv3_vk_copy(dsv3_vk *vk, const void *dst, const void *src, size_t bytes);

/* Device memory for ops' own scratch (the vtable's alloc/release without
 * its lock; alloc's memory is zeroed): lib/-style addresses. */
void *dsv3_vk_alloc(dsv3_vk *vk, size_t bytes);
void dsv3_vk_release(dsv3_vk *vk, void *p);
/* Record a fill of `bytes` (a multiple of 4) at dst with the 32-bit
 * `value` (plus barrier): zeroing without a shader. */
void dsv3_vk_fill(dsv3_vk *vk, void *dst, size_t bytes, uint32_t value);
/* Host <-> device copies of alloc()ed memory (flush first, then copy). */
void dsv3_vk_to_host(dsv3_vk *vk, void *dst, const void *src, size_t bytes);
void dsv3_vk_from_host(dsv3_vk *vk, void *dst, const void *src, size_t bytes);

/* Submit what is recorded and wait for it. 0 on success; on failure the
 * sticky error is set and returned. Resets the upload ring. */
int dsv3_vk_flush(dsv3_vk *vk);

/* Submit what is recorded without waiting: the device works on it while
 * the host goes on (say, with experts kept on the CPU); the next flush or
 * host copy waits for it. Upload-ring addresses stay valid. 0 or the
 * sticky error. */
int dsv3_vk_submit_nowait(dsv3_vk *vk);

/* Read-ahead: record a copy of `bytes` at src (memory from alloc(),
 * written by what is recorded so far) into a host-visible buffer; it is
 * the host's after the next waiting submit (a flush, a host copy). One at
 * a time: a new request replaces the last. The caller must not write src
 * until it has taken the copy. */
void dsv3_vk_read_ahead(dsv3_vk *vk, const void *src, size_t bytes);
/* The host copy of exactly (src, bytes) from the last read-ahead, once a
 * waiting submit has completed it; NULL otherwise (never requested,
 * replaced, already taken, dropped by a failure, or not yet submitted).
 * Valid until the next read-ahead. */
const void *dsv3_vk_ahead(dsv3_vk *vk, const void *src, size_t bytes);
/* The tests' mode for MoE layers with experts on the host
 * (dsv3_vk_test_overlap in vk_internal.h); 0 outside tests. */
int dsv3_vk_overlap_test_mode(void);

/* Sticky error: set once (the first failure wins), read by ops->status. */
void dsv3_vk_fail(dsv3_vk *vk, int status, const char *fmt, ...);
int dsv3_vk_failed(const dsv3_vk *vk);

/* The CPU backend (avx512 > avx2 > neon > scalar, what "auto" would pick
 * on the CPU) used for weights left on the host, with its own state. */
const dsv3_backend_ops *dsv3_vk_cpu_ops(dsv3_vk *vk);
dsv3_backend *dsv3_vk_cpu(dsv3_vk *vk);
/* The thread count the backend (and its CPU helper) was given at init. */
int dsv3_vk_cpu_threads(const dsv3_vk *vk);

/* Host staging for CPU fallbacks: a host buffer of at least `bytes`
 * (grown on demand, owned by the backend; slot 0..3 are distinct). */
void *dsv3_vk_host_scratch(dsv3_vk *vk, int slot, size_t bytes);

/* Device limits the ops size their work by. */
uint32_t dsv3_vk_subgroup_size(const dsv3_vk *vk);
size_t dsv3_vk_shared_memory(const dsv3_vk *vk);

/* ---- ops (vk_op_*.c), the vtable's entries ------------------------------ */
void dsv3_vk_matmul(dsv3_backend *be, const dsv3_weight *w, const float *x, float *y, int n);
void dsv3_vk_rmsnorm(dsv3_backend *be, const float *x, int ldx, const dsv3_weight *g, float *y, int ldy, int n,
                     int dim, float eps);
void dsv3_vk_embed(dsv3_backend *be, const dsv3_weight *table, const int32_t *ids, int n, float *y);
void dsv3_vk_rope(dsv3_backend *be, float *x, int n, int ld, int n_heads, int head_stride, int offset, int dr,
                  const float *cos_t, const float *sin_t);
void dsv3_vk_mla_attention(dsv3_backend *be, const dsv3_mla_args *a);
void dsv3_vk_swiglu(dsv3_backend *be, const float *g, const float *u, float *out, size_t count);
void dsv3_vk_add(dsv3_backend *be, float *y, const float *x, size_t count);
void dsv3_vk_moe_experts(dsv3_backend *be, const dsv3_moe_args *a);
void dsv3_vk_store_kv(dsv3_backend *be, int kv_type, const float *x, int ldx, void *dst, size_t row_bytes, int n,
                      int kvl);
void dsv3_vk_route(dsv3_backend *be, const dsv3_route_args *a);

/* Routed experts of one token from the route op's picks in device memory
 * (a->dev_ids, a->dev_weights; vk_op_moe_dev.c): the bits of the gathered
 * path without a host read. dsv3_vk_moe_dev_ok: 1 when it applies (one
 * token, every expert of the layer on the device in one type and shape). */
int dsv3_vk_moe_dev_ok(const dsv3_moe_args *a);
void dsv3_vk_moe_dev(dsv3_vk *vk, const dsv3_moe_args *a);
int dsv3_vk_moe_prepare(dsv3_backend *be, const dsv3_moe_args *a);

/* Matmul with a row gather, a row scatter and scaled accumulation, for
 * the MoE op. For t < n, with xr = x_rows ? x_rows[t] : t and
 * yr = y_rows ? y_rows[t] : t (int32 arrays at device addresses):
 *   y[yr*ldy + r] (accumulate ? += : =) (scale ? scale[t] : 1) * sum_c W[r][c] * x[xr*ldx + c]
 * x, y, x_rows, y_rows, scale are device addresses (0 = absent). Each
 * output's summation order is the same for any n (batch == token by
 * token, bit for bit). Implemented in vk_op_matmul.c. */
void dsv3_vk_matmul_ex(dsv3_vk *vk, const dsv3_weight *w, uint64_t x, int ldx, uint64_t x_rows, uint64_t y, int ldy,
                       uint64_t y_rows, uint64_t scale, int accumulate, int n);

#endif
