/* vk_place.h -- which weights the Vulkan backend keeps in device memory.
 * Pure functions of the weights' roles, layers and sizes and of the
 * backend parameters: no Vulkan types, so they build and are tested on any
 * machine. The runtime calls dsv3_vk_place() from load_done() and uploads
 * the weights it marks; the others keep w->device == NULL and their ops
 * run on the CPU helper backend. */
#ifndef DSV3_VK_PLACE_H
#define DSV3_VK_PLACE_H

#include <stdint.h>

#include "backend.h"
#include "err.h"

enum dsv3_vk_policy {
    DSV3_VK_PLACE_AUTO = 0,       /* fill the budget in priority order    */
    DSV3_VK_PLACE_GPU,            /* everything but the embedding table    */
    DSV3_VK_PLACE_EXPERTS_ON_CPU  /* routed experts on the host, rest device */
};

/* Parse a placement name ("auto" or NULL, "gpu", "experts-on-cpu").
 * DSV3_ERR_INVALID_ARG naming the value when it is none of these. */
int dsv3_vk_place_policy(const char *name, int *policy, dsv3_err *e);

/* Device bytes a weight occupies: its rows as stored, plus an FP8
 * weight's f32 block scales. */
uint64_t dsv3_vk_weight_bytes(const dsv3_weight *w);

/* Bytes left for weights: p->budget (at most heap_bytes) or, when 0, the
 * device-local heap less a headroom for activations and the driver; then
 * less p->kv_reserve. 0 when the reserve takes it all. */
uint64_t dsv3_vk_place_budget(uint64_t heap_bytes, const dsv3_backend_params *p);

/* Decide placement of the n weights ws (as handed to upload_weight):
 * on_device[i] = 1 for those that go to the device, 0 for the host.
 *  - "gpu": all but DSV3_ROLE_EMBED; refused when they do not fit;
 *  - "experts-on-cpu": all but the embedding and the routed experts;
 *    refused when they do not fit;
 *  - "auto": norms, routers and attention, then shared experts, dense
 *    layers (and the MTP input projection), the output head, then whole
 *    layers of routed experts in increasing layer index, as long as each
 *    fits; the rest stays on the host. Never refused.
 * A layer's routed experts are never split between device and host.
 * DSV3_OK, DSV3_ERR_INVALID_ARG (unknown policy), or DSV3_ERR_NO_MEMORY
 * with the needed and available bytes in the message. */
int dsv3_vk_place(dsv3_weight *const *ws, int n, uint64_t heap_bytes, const dsv3_backend_params *p, char *on_device,
                  dsv3_err *e);

#endif
