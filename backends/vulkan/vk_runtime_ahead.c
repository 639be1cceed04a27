/* vk_runtime_ahead.c -- read-ahead: a copy of device memory recorded now,
 * so that the data reaches the host at a sync that happens anyway (an MoE
 * layer's routing read-back) instead of at a sync of its own, which would
 * also wait for all the device work recorded in between.
 *
 * The copy goes by vkCmdCopyBuffer into a host-visible buffer kept for
 * this, the same on every device, mapped or not. It is the host's once a
 * waiting submit recorded after it has completed (vk->waits moved past
 * ahead_at). One request at a time: a new one replaces the last, taking
 * it ends it, and a failure that drops recorded work drops it. */
#include <string.h>

#include "vk_internal.h"

#define AHEAD_MIN ((uint64_t)64 << 10)

static int test_mode; /* dsv3_vk_test_overlap */

void dsv3_vk_test_overlap(int mode) { test_mode = mode; }
int dsv3_vk_overlap_test_mode(void) { return test_mode; }
uint64_t dsv3_vk_test_ahead_taken(const dsv3_vk *vk) { return vk->ahead_taken; }

void dsv3_vk_read_ahead(dsv3_vk *vk, const void *src, size_t bytes) {
    vk->ahead_src = NULL;
    if (vk->err_status || !bytes) return;
    uint64_t off;
    dsv3_vk_block *bl = dsv3_vk_resolve(vk, src, bytes, &off, "read-ahead");
    if (!bl) return;
    if (vk->ahead.size < bytes) {
        /* Copies recorded or in flight may still target the old buffer:
         * finish them first (once per growth, so rarely). */
        if (dsv3_vk_submit(vk, 0)) return;
        dsv3_vk_buf_destroy(vk, &vk->ahead);
        uint64_t size = AHEAD_MIN;
        while (size < bytes) size *= 2;
        dsv3_err e;
        if (dsv3_vk_buf_create(vk, size, 1, &vk->ahead, &e)) {
            dsv3_vk_fail(vk, e.status, "read-ahead: %s", e.msg + (strncmp(e.msg, "vulkan: ", 8) ? 0 : 8));
            return;
        }
    }
    if (dsv3_vk_begin(vk)) return;
    VkBufferCopy region = {.srcOffset = off, .dstOffset = 0, .size = bytes};
    vk->fn->vkCmdCopyBuffer(vk->cmd, bl->b.buf, vk->ahead.buf, 1, &region);
    dsv3_vk_barrier(vk);
    vk->ahead_src = src;
    vk->ahead_bytes = bytes;
    vk->ahead_at = vk->waits;
}

const void *dsv3_vk_ahead(dsv3_vk *vk, const void *src, size_t bytes) {
    if (vk->err_status || !vk->ahead_src || vk->ahead_src != src || vk->ahead_bytes != bytes ||
        vk->waits == vk->ahead_at)
        return NULL;
    /* Once: the same address may hold other data later (a session freed,
     * another allocated in its place). */
    vk->ahead_src = NULL;
    vk->ahead_taken++;
    return vk->ahead.map;
}

void dsv3_vk_ahead_drop(dsv3_vk *vk) { vk->ahead_src = NULL; }

void dsv3_vk_ahead_free(dsv3_vk *vk) {
    dsv3_vk_buf_destroy(vk, &vk->ahead);
    vk->ahead_src = NULL;
}
