/* vk_runtime_weights.c -- weights: upload_weight() only records them;
 * load_done() asks the placement policy (vk_place.c) which go to the
 * device and copies those there, as stored (the file's block layout), in
 * big bump-allocated blocks, through bounded staging chunks (never a full
 * host copy of the model). load_done() may be called again after more
 * weights were recorded: it places the new ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"
#include "vk_place.h"

#define WALIGN 256u
#define WBLOCK_BYTES ((uint64_t)1 << 30)
#define N_ROLES 9

static const char *const role_names[N_ROLES] = {"other", "embedding", "norms", "attention", "routers",
                                                "shared experts", "dense FFN", "output head", "routed experts"};

int dsv3_vk_weights_record(dsv3_vk *vk, dsv3_weight *w, dsv3_err *e) {
    if (vk->n_weights == vk->cap_weights) {
        int cap = vk->cap_weights ? 2 * vk->cap_weights : 1024;
        dsv3_weight **nw = realloc(vk->weights, (size_t)cap * sizeof *nw);
        if (!nw) return err_set(e, DSV3_ERR_NO_MEMORY, "vulkan: out of memory recording weights");
        vk->weights = nw;
        vk->cap_weights = cap;
    }
    w->device = NULL;
    vk->weights[vk->n_weights++] = w;
    return DSV3_OK;
}

/* Stored bytes of a weight's rows (the last row only to its end). */
static uint64_t data_bytes(const dsv3_weight *w) {
    if (w->rows <= 0 || w->cols <= 0) return 0;
    return (uint64_t)(w->rows - 1) * w->row_stride + dsv3_wtype_row_bytes(w->type, w->cols);
}

static uint64_t scale_bytes(const dsv3_weight *w) {
    if (w->type != DSV3_W_F8_E4M3 || !w->scale || w->block_r <= 0) return 0;
    return (uint64_t)((w->rows + w->block_r - 1) / w->block_r) * (uint64_t)w->scale_cols * sizeof(float);
}

static uint64_t walign(uint64_t b) { return (b + WALIGN - 1) / WALIGN * WALIGN; }

/* Room for `bytes` in the weight blocks: the address and the buffer. A
 * new block holds what is still to come (`left`), up to WBLOCK_BYTES, so
 * a small model does not take a whole block. */
static int wtake(dsv3_vk *vk, uint64_t bytes, uint64_t left, dsv3_vk_buf **buf, uint64_t *off, dsv3_err *e) {
    uint64_t size = walign(bytes);
    dsv3_vk_buf *cur = vk->n_wblocks ? &vk->wblocks[vk->n_wblocks - 1] : NULL;
    if (!cur || cur->size - vk->wblock_used < size) {
        if (vk->n_wblocks == vk->cap_wblocks) {
            int cap = vk->cap_wblocks ? 2 * vk->cap_wblocks : 16;
            dsv3_vk_buf *nb = realloc(vk->wblocks, (size_t)cap * sizeof *nb);
            if (!nb) return err_set(e, DSV3_ERR_NO_MEMORY, "vulkan: out of memory");
            vk->wblocks = nb;
            vk->cap_wblocks = cap;
        }
        uint64_t want = left < WBLOCK_BYTES ? left : WBLOCK_BYTES;
        int rc = dsv3_vk_buf_create(vk, size > want ? size : want, 0, &vk->wblocks[vk->n_wblocks], e);
        if (rc) return rc;
        vk->n_wblocks++;
        vk->wblock_used = 0;
        cur = &vk->wblocks[vk->n_wblocks - 1];
    }
    *buf = cur;
    *off = vk->wblock_used;
    vk->wblock_used += size;
    return DSV3_OK;
}

/* Copy host bytes to (buf, off): directly into mapped memory, else
 * through the staging buffer, submitting whenever it is full. */
static int put(dsv3_vk *vk, dsv3_vk_buf *buf, uint64_t off, const void *src, uint64_t bytes, dsv3_err *e) {
    if (buf->map) {
        memcpy((char *)buf->map + off, src, bytes);
        return DSV3_OK;
    }
    if (!vk->staging.buf) {
        int rc = dsv3_vk_buf_create(vk, (uint64_t)64 << 20, 1, &vk->staging, e);
        if (rc) return rc;
    }
    for (uint64_t done = 0; done < bytes;) {
        if (vk->staged >= vk->staging.size) {
            if (dsv3_vk_submit(vk, 0)) return dsv3_vk_take_status(vk, e);
            vk->staged = 0;
        }
        uint64_t c = bytes - done;
        if (c > vk->staging.size - vk->staged) c = vk->staging.size - vk->staged;
        memcpy((char *)vk->staging.map + vk->staged, (const char *)src + done, c);
        if (dsv3_vk_begin(vk)) return dsv3_vk_take_status(vk, e);
        VkBufferCopy region = {.srcOffset = vk->staged, .dstOffset = off + done, .size = c};
        vk->fn->vkCmdCopyBuffer(vk->cmd, vk->staging.buf, buf->buf, 1, &region);
        vk->pending++;
        vk->staged += (c + 15) / 16 * 16; /* may pass the end: then the next copy submits first */
        done += c;
    }
    return DSV3_OK;
}

int dsv3_vk_weights_load(dsv3_vk *vk, dsv3_err *e) {
    int first = vk->n_placed, n = vk->n_weights - first;
    if (n <= 0) return DSV3_OK;
    char *on = calloc((size_t)n, 1);
    dsv3_vk_weight *wd = calloc((size_t)n, sizeof *wd);
    if (!on || !wd) {
        free(on);
        free(wd);
        return err_set(e, DSV3_ERR_NO_MEMORY, "vulkan: out of memory placing weights");
    }
    /* A later batch (load_done called again) gets what the earlier ones
     * left of the heap and of the budget. */
    uint64_t placed = 0, heap = vk->info->device_local_bytes;
    for (int r = 0; r < N_ROLES; r++) placed += vk->role_dev[r];
    dsv3_backend_params bp = vk->params;
    heap = heap > placed ? heap - placed : 0;
    if (bp.budget) bp.budget = bp.budget > placed ? bp.budget - placed : 1;
    int rc = dsv3_vk_place(vk->weights + first, n, heap, &bp, on, e);
    vk->staged = 0;
    /* The barrier before the first op reads them is the next dispatch's
     * dependency on these copies: record one after the last copy. */
    uint64_t left = 0; /* device bytes still to place */
    for (int i = 0; !rc && i < n; i++)
        if (on[i] && vk->weights[first + i]->data)
            left += walign(data_bytes(vk->weights[first + i])) + walign(scale_bytes(vk->weights[first + i]));
    for (int i = 0; !rc && i < n; i++) {
        dsv3_weight *w = vk->weights[first + i];
        uint64_t db = data_bytes(w), sb = scale_bytes(w);
        int role = w->role >= 0 && w->role < N_ROLES ? w->role : 0;
        if (!on[i] || !db || !w->data) {
            vk->role_host[role] += db + sb;
            /* a weight left on the host is the CPU helper's to run: with
             * repack it may keep a packed copy (the x86 backends) */
            if (w->data && vk->params.repack) rc = vk->cpu_ops->upload_weight(vk->cpu, w, e);
            continue;
        }
        dsv3_vk_buf *buf;
        uint64_t off;
        rc = wtake(vk, db, left, &buf, &off, e);
        left -= walign(db) + walign(sb);
        if (!rc) rc = put(vk, buf, off, w->data, db, e);
        wd[i].addr = buf->addr + off;
        wd[i].bytes = db;
        if (!rc && sb) {
            rc = wtake(vk, sb, left + walign(sb), &buf, &off, e);
            if (!rc) rc = put(vk, buf, off, w->scale, sb, e);
            wd[i].scale_addr = buf->addr + off;
        }
        vk->role_dev[role] += db + sb;
    }
    if (!rc && vk->recording) dsv3_vk_barrier(vk);
    if (!rc && dsv3_vk_submit(vk, 0)) rc = dsv3_vk_take_status(vk, e);
    free(on);
    if (rc) {
        free(wd);
        return rc;
    }
    for (int i = 0; i < n; i++)
        if (wd[i].addr) vk->weights[first + i]->device = &wd[i];
    /* Each load_done's batch keeps its own array (weights point into it). */
    dsv3_vk_weight **nl = realloc(vk->wdev_lists, (size_t)(vk->n_wdev_lists + 1) * sizeof *nl);
    if (!nl) {
        for (int i = 0; i < n; i++) vk->weights[first + i]->device = NULL;
        free(wd);
        return err_set(e, DSV3_ERR_NO_MEMORY, "vulkan: out of memory placing weights");
    }
    vk->wdev_lists = nl;
    vk->wdev_lists[vk->n_wdev_lists++] = wd;
    vk->n_placed = vk->n_weights;
    return DSV3_OK;
}

void dsv3_vk_weights_free(dsv3_vk *vk) {
    for (int i = 0; i < vk->n_wdev_lists; i++) free(vk->wdev_lists[i]);
    free(vk->wdev_lists);
    free(vk->weights);
    vk->wdev_lists = NULL;
    vk->weights = NULL;
    vk->n_wdev_lists = vk->n_weights = vk->n_placed = 0;
}

static void gib(char *b, size_t n, uint64_t bytes) {
    if (bytes >= ((uint64_t)1 << 30))
        snprintf(b, n, "%.2f GiB", (double)bytes / (1024.0 * 1024 * 1024));
    else if (bytes >= ((uint64_t)1 << 20))
        snprintf(b, n, "%.1f MiB", (double)bytes / (1024.0 * 1024));
    else
        snprintf(b, n, "%.1f KiB", (double)bytes / 1024.0);
}

int dsv3_vk_weights_placement(dsv3_vk *vk, char *buf, size_t size) {
    char tmp[2048], a[32];
    uint64_t dev = 0, host = 0;
    for (int r = 0; r < N_ROLES; r++) {
        dev += vk->role_dev[r];
        host += vk->role_host[r];
    }
    size_t len = 0;
    gib(a, sizeof a, dev);
    len += (size_t)snprintf(tmp + len, sizeof tmp - len, "device: %s (vulkan:%d), placement %s\non device: %s",
                            vk->info->name, vk->params.device, vk->placement_policy, a);
    for (int r = 0; r < N_ROLES && len < sizeof tmp; r++)
        if (vk->role_dev[r]) {
            gib(a, sizeof a, vk->role_dev[r]);
            len += (size_t)snprintf(tmp + len, sizeof tmp - len, ", %s %s", role_names[r], a);
        }
    if (len < sizeof tmp) {
        gib(a, sizeof a, host);
        len += (size_t)snprintf(tmp + len, sizeof tmp - len, "\non host: %s", a);
    }
    for (int r = 0; r < N_ROLES && len < sizeof tmp; r++)
        if (vk->role_host[r]) {
            gib(a, sizeof a, vk->role_host[r]);
            len += (size_t)snprintf(tmp + len, sizeof tmp - len, ", %s %s", role_names[r], a);
        }
    if (len >= sizeof tmp) len = sizeof tmp - 1;
    if (buf && size) {
        size_t c = len < size - 1 ? len : size - 1;
        memcpy(buf, tmp, c);
        buf[c] = 0;
    }
    return (int)len;
}
