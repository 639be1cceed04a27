/* vk_runtime_memory.c -- device memory for lib/'s buffers (activations,
 * KV caches): big blocks, each one VkBuffer with a device address, carved
 * into allocations. lib/ gets host addresses inside a PROT_NONE
 * reservation per block (never touched: it only does pointer arithmetic
 * on them), and dsv3_vk_addr() maps any such address back to the block.
 * Few blocks, so few Vulkan allocations (maxMemoryAllocationCount may be
 * as low as 4096). Also the staging buffer and the upload ring. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vk_internal.h"

#define ALIGN 256u                       /* every allocation's start and size */
#define BLOCK_BYTES ((uint64_t)64 << 20) /* shared blocks; bigger requests get their own */
#define STAGING_BYTES ((uint64_t)64 << 20)
#define RING_BYTES ((uint64_t)4 << 20)

static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int pick_type(const dsv3_vk *vk, uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags want) {
    int fallback = -1;
    for (uint32_t i = 0; i < vk->memprops.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = vk->memprops.memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & need) != need) continue;
        if ((f & want) == want) return (int)i;
        if (fallback < 0) fallback = (int)i;
    }
    return fallback;
}

int dsv3_vk_buf_create(dsv3_vk *vk, uint64_t size, int host_visible, dsv3_vk_buf *b, dsv3_err *e) {
    const dsv3_vk_fns *fn = vk->fn;
    memset(b, 0, sizeof *b);
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = size,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = fn->vkCreateBuffer(vk->dev, &bci, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        b->buf = VK_NULL_HANDLE;
        return err_set(e, DSV3_ERR_NO_MEMORY, "vulkan: cannot create a buffer of %llu bytes (VkResult %d)",
                       (unsigned long long)size, (int)r);
    }
    VkMemoryRequirements req;
    fn->vkGetBufferMemoryRequirements(vk->dev, b->buf, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int type = host_visible ? pick_type(vk, req.memoryTypeBits, hv, VK_MEMORY_PROPERTY_HOST_CACHED_BIT)
                            : pick_type(vk, req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) {
        dsv3_vk_buf_destroy(vk, b);
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: no suitable memory type for a %s buffer",
                       host_visible ? "host-visible" : "device");
    }
    VkMemoryAllocateFlagsInfo flags = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                       .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .pNext = &flags,
                                .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)type};
    r = fn->vkAllocateMemory(vk->dev, &mai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        b->mem = VK_NULL_HANDLE;
        dsv3_vk_buf_destroy(vk, b);
        return err_set(e, DSV3_ERR_NO_MEMORY, "vulkan: cannot allocate %llu bytes of %s memory (VkResult %d)",
                       (unsigned long long)size, host_visible ? "host-visible" : "device", (int)r);
    }
    r = fn->vkBindBufferMemory(vk->dev, b->buf, b->mem, 0);
    if (r != VK_SUCCESS) {
        dsv3_vk_buf_destroy(vk, b);
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: vkBindBufferMemory failed (VkResult %d)", (int)r);
    }
    VkBufferDeviceAddressInfo ai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO, .buffer = b->buf};
    b->addr = fn->vkGetBufferDeviceAddress(vk->dev, &ai);
    b->size = size;
    /* Memory the host can see is used directly: no staging round trips. */
    if ((vk->memprops.memoryTypes[type].propertyFlags & hv) == hv && (host_visible || !vk->no_map)) {
        r = fn->vkMapMemory(vk->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
        if (r != VK_SUCCESS) b->map = NULL;
    }
    if (host_visible && !b->map) {
        dsv3_vk_buf_destroy(vk, b);
        return err_set(e, DSV3_ERR_BACKEND, "vulkan: cannot map host-visible memory (VkResult %d)", (int)r);
    }
    return DSV3_OK;
}

void dsv3_vk_buf_destroy(dsv3_vk *vk, dsv3_vk_buf *b) {
    if (b->map) vk->fn->vkUnmapMemory(vk->dev, b->mem);
    if (b->buf) vk->fn->vkDestroyBuffer(vk->dev, b->buf, NULL);
    if (b->mem) vk->fn->vkFreeMemory(vk->dev, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

/* ---- blocks and allocations -------------------------------------------- */

static void block_destroy(dsv3_vk *vk, dsv3_vk_block *bl) {
    if (bl->host) munmap(bl->host, bl->b.size);
    dsv3_vk_buf_destroy(vk, &bl->b);
    free(bl->spans);
    free(bl);
}

static dsv3_vk_block *block_create(dsv3_vk *vk, uint64_t size) {
    if (vk->n_blocks == vk->cap_blocks) {
        int cap = vk->cap_blocks ? 2 * vk->cap_blocks : 16;
        dsv3_vk_block **nb = realloc(vk->blocks, (size_t)cap * sizeof *nb);
        if (!nb) return NULL;
        vk->blocks = nb;
        vk->cap_blocks = cap;
    }
    dsv3_vk_block *bl = calloc(1, sizeof *bl);
    if (!bl) return NULL;
    if (dsv3_vk_buf_create(vk, size, 0, &bl->b, NULL)) {
        free(bl);
        return NULL;
    }
    void *h = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (h == MAP_FAILED) {
        block_destroy(vk, bl);
        return NULL;
    }
    bl->host = h;
    int i = vk->n_blocks;
    while (i > 0 && vk->blocks[i - 1]->host > bl->host) {
        vk->blocks[i] = vk->blocks[i - 1];
        i--;
    }
    vk->blocks[i] = bl;
    vk->n_blocks++;
    return bl;
}

/* First fit inside a block; returns the offset or UINT64_MAX. */
static uint64_t block_take(dsv3_vk_block *bl, uint64_t size) {
    uint64_t at = 0;
    int k = 0;
    for (; k < bl->n_spans; k++) {
        if (bl->spans[k].off - at >= size) break;
        at = bl->spans[k].off + bl->spans[k].size;
    }
    if (k == bl->n_spans && bl->b.size - at < size) return UINT64_MAX;
    if (bl->n_spans == bl->cap_spans) {
        int cap = bl->cap_spans ? 2 * bl->cap_spans : 8;
        dsv3_vk_span *ns = realloc(bl->spans, (size_t)cap * sizeof *ns);
        if (!ns) return UINT64_MAX;
        bl->spans = ns;
        bl->cap_spans = cap;
    }
    memmove(bl->spans + k + 1, bl->spans + k, (size_t)(bl->n_spans - k) * sizeof *bl->spans);
    bl->spans[k].off = at;
    bl->spans[k].size = size;
    bl->n_spans++;
    return at;
}

/* The block holding host address p (its end included, for pointers one
 * past an allocation), or NULL. */
static dsv3_vk_block *find_block(const dsv3_vk *vk, const void *p, uint64_t *off) {
    const char *c = p;
    int lo = 0, hi = vk->n_blocks - 1, found = -1;
    while (lo <= hi) { /* last block starting at or before p */
        int mid = (lo + hi) / 2;
        if (vk->blocks[mid]->host <= c) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (found < 0) return NULL;
    dsv3_vk_block *bl = vk->blocks[found];
    if ((uint64_t)(c - bl->host) > bl->b.size) return NULL;
    *off = (uint64_t)(c - bl->host);
    return bl;
}

/* The live allocation of bl containing offset off (end included). */
static int find_span(const dsv3_vk_block *bl, uint64_t off) {
    int lo = 0, hi = bl->n_spans - 1, found = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (bl->spans[mid].off <= off) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (found < 0 || off > bl->spans[found].off + bl->spans[found].size) return -1;
    return found;
}

/* Resolve [p, p + bytes) to a block and offset; sticky error if it is
 * not inside one live allocation. */
static dsv3_vk_block *resolve(dsv3_vk *vk, const void *p, size_t bytes, uint64_t *off, const char *what) {
    dsv3_vk_block *bl = find_block(vk, p, off);
    int s = bl ? find_span(bl, *off) : -1;
    if (s < 0 || *off + bytes > bl->spans[s].off + bl->spans[s].size) {
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "%s: %p (+%zu bytes) is not inside memory from alloc()", what, p, bytes);
        return NULL;
    }
    return bl;
}

dsv3_vk_block *dsv3_vk_resolve(dsv3_vk *vk, const void *p, size_t bytes, uint64_t *off, const char *what) {
    return resolve(vk, p, bytes, off, what);
}

uint64_t dsv3_vk_addr(dsv3_vk *vk, const void *p) {
    uint64_t off;
    dsv3_vk_block *bl = resolve(vk, p, 0, &off, "device address");
    return bl ? bl->b.addr + off : 0;
}

void *dsv3_vk_alloc(dsv3_vk *vk, size_t bytes) {
    uint64_t size = round_up(bytes ? bytes : 1, ALIGN);
    dsv3_vk_block *bl = NULL;
    uint64_t off = UINT64_MAX;
    if (size <= BLOCK_BYTES / 2)
        for (int i = 0; i < vk->n_blocks && off == UINT64_MAX; i++)
            if (vk->blocks[i]->b.size == BLOCK_BYTES) {
                bl = vk->blocks[i];
                off = block_take(bl, size);
            }
    if (off == UINT64_MAX) {
        bl = block_create(vk, size <= BLOCK_BYTES / 2 ? BLOCK_BYTES : size);
        if (!bl) return NULL;
        off = block_take(bl, size);
        if (off == UINT64_MAX) return NULL;
    }
    void *p = bl->host + off;
    dsv3_vk_fill(vk, p, (size_t)size, 0);
    return p;
}

void dsv3_vk_release(dsv3_vk *vk, void *p) {
    if (!p) return;
    uint64_t off;
    dsv3_vk_block *bl = find_block(vk, p, &off);
    int s = bl ? find_span(bl, off) : -1;
    if (s < 0 || bl->spans[s].off != off) {
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "release: %p was not returned by alloc()", p);
        return;
    }
    memmove(bl->spans + s, bl->spans + s + 1, (size_t)(bl->n_spans - s - 1) * sizeof *bl->spans);
    bl->n_spans--;
    if (bl->n_spans) return;
    /* An empty block goes back to the driver once no recorded command can
     * still use it. */
    dsv3_vk_submit(vk, 0);
    int i = 0;
    while (vk->blocks[i] != bl) i++;
    memmove(vk->blocks + i, vk->blocks + i + 1, (size_t)(vk->n_blocks - i - 1) * sizeof *vk->blocks);
    vk->n_blocks--;
    block_destroy(vk, bl);
}

void dsv3_vk_fill(dsv3_vk *vk, void *dst, size_t bytes, uint32_t value) {
    uint64_t off;
    if (vk->err_status || !bytes) return;
    dsv3_vk_block *bl = resolve(vk, dst, bytes, &off, "fill");
    if (!bl) return;
    if ((off | bytes) & 3) {
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "fill: offset %llu and size %zu must be multiples of 4",
                     (unsigned long long)off, bytes);
        return;
    }
    if (dsv3_vk_begin(vk)) return;
    vk->fn->vkCmdFillBuffer(vk->cmd, bl->b.buf, off, bytes, value);
    dsv3_vk_barrier(vk);
}

void dsv3_vk_copy(dsv3_vk *vk, const void *dst, const void *src, size_t bytes) {
    uint64_t od, os;
    if (vk->err_status || !bytes) return;
    dsv3_vk_block *bd = resolve(vk, dst, bytes, &od, "copy");
    dsv3_vk_block *bs = bd ? resolve(vk, src, bytes, &os, "copy") : NULL;
    if (!bs) return;
    if (bd == bs && od < os + bytes && os < od + bytes) {
        if (od == os) return;
        dsv3_vk_fail(vk, DSV3_ERR_BACKEND, "copy: overlapping ranges");
        return;
    }
    if (dsv3_vk_begin(vk)) return;
    VkBufferCopy region = {.srcOffset = os, .dstOffset = od, .size = bytes};
    vk->fn->vkCmdCopyBuffer(vk->cmd, bs->b.buf, bd->b.buf, 1, &region);
    dsv3_vk_barrier(vk);
}

static int staging(dsv3_vk *vk) {
    if (vk->staging.buf) return 0;
    dsv3_err e;
    if (dsv3_vk_buf_create(vk, STAGING_BYTES, 1, &vk->staging, &e)) {
        dsv3_vk_fail(vk, e.status, "%s", e.msg + (strncmp(e.msg, "vulkan: ", 8) ? 0 : 8));
        return 1;
    }
    return 0;
}

/* Copies between a host array and memory from alloc(): directly when the
 * block is mapped, else through the staging buffer a chunk at a time.
 * Recorded work is finished first (it may write what is read, or read
 * what is overwritten). */
static void transfer(dsv3_vk *vk, void *host, const void *devp, size_t bytes, int to_host, int reset_ring) {
    uint64_t off;
    if (!bytes || vk->err_status) return;
    dsv3_vk_block *bl = resolve(vk, devp, bytes, &off, to_host ? "to_host" : "from_host");
    if (!bl || dsv3_vk_submit(vk, reset_ring)) return;
    if (bl->b.map) {
        char *m = (char *)bl->b.map + off;
        if (to_host)
            memcpy(host, m, bytes);
        else
            memcpy(m, host, bytes);
        return;
    }
    if (staging(vk)) return;
    for (size_t done = 0; done < bytes;) {
        size_t c = bytes - done < STAGING_BYTES ? bytes - done : (size_t)STAGING_BYTES;
        if (!to_host) memcpy(vk->staging.map, (const char *)host + done, c);
        if (dsv3_vk_begin(vk)) return;
        VkBufferCopy region = {.srcOffset = to_host ? off + done : 0, .dstOffset = to_host ? 0 : off + done, .size = c};
        if (to_host)
            vk->fn->vkCmdCopyBuffer(vk->cmd, bl->b.buf, vk->staging.buf, 1, &region);
        else
            vk->fn->vkCmdCopyBuffer(vk->cmd, vk->staging.buf, bl->b.buf, 1, &region);
        dsv3_vk_barrier(vk);
        if (dsv3_vk_submit(vk, 0)) return;
        if (to_host) memcpy((char *)host + done, vk->staging.map, c);
        done += c;
    }
}

void dsv3_vk_to_host(dsv3_vk *vk, void *dst, const void *src, size_t bytes) { transfer(vk, dst, src, bytes, 1, 0); }
void dsv3_vk_from_host(dsv3_vk *vk, void *dst, const void *src, size_t bytes) {
    transfer(vk, (void *)(uintptr_t)src, dst, bytes, 0, 0);
}
void dsv3_vk_to_host_vt(dsv3_vk *vk, void *dst, const void *src, size_t bytes) { transfer(vk, dst, src, bytes, 1, 1); }
void dsv3_vk_from_host_vt(dsv3_vk *vk, void *dst, const void *src, size_t bytes) {
    transfer(vk, (void *)(uintptr_t)src, dst, bytes, 0, 1);
}

/* ---- the upload ring --------------------------------------------------- */

uint64_t dsv3_vk_upload(dsv3_vk *vk, const void *data, size_t bytes) {
    if (vk->err_status) return 0;
    uint64_t need = round_up(bytes ? bytes : 1, 64);
    dsv3_vk_buf *cur = vk->n_ring ? &vk->ring[vk->n_ring - 1] : NULL;
    if (!cur || cur->size - vk->ring_used < need) {
        /* A new, bigger chunk; the old ones stay alive until the next
         * flush, since recorded commands may still read them. */
        uint64_t size = cur ? 2 * cur->size : RING_BYTES;
        while (size < need) size *= 2;
        if (vk->n_ring == vk->cap_ring) {
            int cap = vk->cap_ring ? 2 * vk->cap_ring : 4;
            dsv3_vk_buf *nr = realloc(vk->ring, (size_t)cap * sizeof *nr);
            if (!nr) {
                dsv3_vk_fail(vk, DSV3_ERR_NO_MEMORY, "out of host memory (upload ring)");
                return 0;
            }
            vk->ring = nr;
            vk->cap_ring = cap;
        }
        dsv3_err e;
        if (dsv3_vk_buf_create(vk, size, 1, &vk->ring[vk->n_ring], &e)) {
            dsv3_vk_fail(vk, e.status, "upload ring: %s", e.msg);
            return 0;
        }
        vk->n_ring++;
        vk->ring_used = 0;
        cur = &vk->ring[vk->n_ring - 1];
    }
    if (bytes) memcpy((char *)cur->map + vk->ring_used, data, bytes);
    uint64_t a = cur->addr + vk->ring_used;
    vk->ring_used += need;
    return a;
}

void dsv3_vk_ring_reset(dsv3_vk *vk) {
    if (vk->n_ring > 1) {
        for (int i = 0; i < vk->n_ring - 1; i++) dsv3_vk_buf_destroy(vk, &vk->ring[i]);
        vk->ring[0] = vk->ring[vk->n_ring - 1];
        vk->n_ring = 1;
    }
    vk->ring_used = 0;
}

void dsv3_vk_ring_free(dsv3_vk *vk) {
    for (int i = 0; i < vk->n_ring; i++) dsv3_vk_buf_destroy(vk, &vk->ring[i]);
    free(vk->ring);
    vk->ring = NULL;
    vk->n_ring = vk->cap_ring = 0;
}

void dsv3_vk_memory_free_all(dsv3_vk *vk) {
    for (int i = 0; i < vk->n_blocks; i++) block_destroy(vk, vk->blocks[i]);
    free(vk->blocks);
    vk->blocks = NULL;
    vk->n_blocks = 0;
    for (int i = 0; i < vk->n_wblocks; i++) dsv3_vk_buf_destroy(vk, &vk->wblocks[i]);
    free(vk->wblocks);
    vk->wblocks = NULL;
    vk->n_wblocks = 0;
    dsv3_vk_buf_destroy(vk, &vk->staging);
    dsv3_vk_ahead_free(vk);
    dsv3_vk_ring_free(vk);
}
